/* test_api_isolation.c: ISO-1. Tenant A's credentials reach nothing of tenant B's through any
 * path, parameter or encoding; a ciphertext moved between tenant files fails to decrypt with a
 * clean error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "store_fixture.h"

static ts_server srv;
static char *op, *a, *b;
static char a_id[32], b_id[32];

static int setup(void **state)
{
    ts_init(&srv);
    if (!(a = ts_start_tenant(&srv, &op, "tenant-a", a_id)))
        return -1;
    b = ts_tenant(&srv, op, "tenant-b", b_id);
    ts_bucket(&srv, a, "shared");
    ts_bucket(&srv, b, "shared");
    ts_bucket(&srv, b, "b-only");
    assert_int_equal(ts_put(&srv, a, "shared", "secret", "text/plain", "A-value", 7), 201);
    assert_int_equal(ts_put(&srv, b, "shared", "secret", "text/plain", "B-value", 7), 201);
    assert_int_equal(ts_put(&srv, b, "b-only", "x", "text/plain", "B-only", 6), 201);
    return 0;
}

static int teardown(void **state)
{
    return ts_finish(&srv, 3, op, a, b);
}

static void get_expect(const char *path, const char *token, long status, const char *body)
{
    ts_resp r;
    const char *tricks[] = {"X-Tenant-Id: tenant-b", "X-Forwarded-For: 10.0.0.1", NULL};
    ts_request(&srv, "GET", path, token, NULL, NULL, 0, tricks, &r);
    if (r.status != status)
        fprintf(stderr, "GET %s: %ld %s\n", path, r.status, r.body ? r.body : "");
    assert_int_equal(r.status, status);
    if (body) {
        assert_int_equal(r.len, strlen(body));
        assert_memory_equal(r.body, body, strlen(body));
    }
    if (r.body && token == a)
        assert_null(strstr(r.body, "B-value"));
    ts_resp_free(&r);
}

static void test_iso1_same_names_resolve_to_own_tenant(void **state)
{
    get_expect("/v1/buckets/shared/records/secret", a, 200, "A-value");
    get_expect("/v1/buckets/shared/records/secret", b, 200, "B-value");
    get_expect("/v1/buckets/b-only/records/x", a, 404, NULL);
    get_expect("/v1/buckets/b-only", a, 404, NULL);
    ts_resp r;
    ts_request(&srv, "GET", "/v1/buckets", a, NULL, NULL, 0, NULL, &r);
    assert_int_equal(json_array_size(json_object_get(r.json, "buckets")), 1);
    assert_null(strstr(r.body, "b-only"));
    ts_resp_free(&r);
}

static void test_iso1_paths_and_encodings_never_reach_b(void **state)
{
    char path[512];
    /* each path is prefix + B's tenant id + suffix */
    const char *parts[][2] = {
        {"/v1/tenants/", "/buckets/shared/records/secret"},
        {"/v1/buckets/shared/records/secret?tenant=", ""},
        {"/v1/buckets/shared/records/..%2F..%2Ftenants%2F", ".db"},
        {"/v1/buckets/shared/records/%2E%2E%2F", ""},
        {"/v1/buckets/..%2F", "/records/secret"},
        {"/v1/buckets/", "%2Fshared/records/secret"},
        {"/v1/sys/tenants/", ""},
        {"/v1/buckets/shared/records/", "%00"},
    };
    for (size_t i = 0; i < sizeof(parts) / sizeof(*parts); i++) {
        snprintf(path, sizeof(path), "%s%s%s", parts[i][0], b_id, parts[i][1]);
        ts_resp r;
        ts_request(&srv, "GET", path, a, NULL, NULL, 0, NULL, &r);
        /* refused one way or another, and never B's data */
        if (i == 1)
            assert_int_equal(r.status, 200); /* the query is ignored: A's own record */
        else
            assert_true(r.status == 400 || r.status == 403 || r.status == 404);
        if (r.body)
            assert_null(strstr(r.body, "B-value"));
        ts_resp_free(&r);
    }
}

static void test_iso1_writes_and_deletes_stay_in_own_tenant(void **state)
{
    assert_int_equal(ts_put(&srv, a, "shared", "secret", "text/plain", "A-2", 3), 200);
    get_expect("/v1/buckets/shared/records/secret", b, 200, "B-value");
    ts_resp r;
    assert_int_equal(
        ts_status(&srv, "DELETE", "/v1/buckets/shared/records/secret", a, NULL, NULL, 0), 204);
    get_expect("/v1/buckets/shared/records/secret", b, 200, "B-value");
    assert_int_equal(ts_put(&srv, a, "b-only", "x", "text/plain", "evil", 4), 404);
    get_expect("/v1/buckets/b-only/records/x", b, 200, "B-only");
    /* B's token ids are unknown to A */
    ts_request(&srv, "GET", "/v1/tokens", b, NULL, NULL, 0, NULL, &r);
    const char *bt = json_string_value(
        json_object_get(json_array_get(json_object_get(r.json, "tokens"), 0), "id"));
    char path[128];
    snprintf(path, sizeof(path), "/v1/tokens/%s", bt);
    ts_resp_free(&r);
    assert_int_equal(ts_status(&srv, "DELETE", path, a, NULL, NULL, 0), 404);
    get_expect("/v1/buckets/shared/records/secret", b, 200, "B-value");
    assert_int_equal(ts_put(&srv, a, "shared", "secret", "text/plain", "A-value", 7), 201);
}

/* An attacker with file access copies A's sealed record over B's row: B's read fails
 * authentication (the AAD binds the tenant), answered as a clean 500 integrity_error. */
static void test_iso1_swapped_ciphertext_fails_to_decrypt(void **state)
{
    assert_int_equal(ts_stop(&srv), 0);
    if (strcmp(ts_store_driver(), "postgresql") == 0) {
        /* each tenant's store is the schema t_<tenant id> of the one database */
        char sql[600];
        snprintf(sql, sizeof(sql),
                 "UPDATE t_%s.records SET meta = (SELECT meta FROM t_%s.records WHERE "
                 "bucket='shared'), value = (SELECT value FROM t_%s.records WHERE "
                 "bucket='shared'), version = (SELECT version FROM t_%s.records WHERE "
                 "bucket='shared') WHERE bucket='shared'",
                 b_id, a_id, a_id, a_id);
        assert_int_equal(ts_sys_sql(&srv, sql), 0);
    } else
        assert_int_equal(
            ts_sh("sqlite3 %s/tenants/%s.db \"ATTACH '%s/tenants/%s.db' AS a; "
                  "UPDATE records SET meta = (SELECT meta FROM a.records WHERE bucket='shared'), "
                  "value = (SELECT value FROM a.records WHERE bucket='shared'), "
                  "version = (SELECT version FROM a.records WHERE bucket='shared') "
                  "WHERE bucket='shared';\"",
                  srv.data_dir, b_id, srv.data_dir, a_id),
            0);
    assert_true(ts_start(&srv));
    ts_resp r;
    ts_request(&srv, "GET", "/v1/buckets/shared/records/secret", b, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(ts_err(&r), "integrity_error");
    assert_null(strstr(r.body, "A-value"));
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/buckets/shared/records", b, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(ts_err(&r), "integrity_error");
    ts_resp_free(&r);
    /* the node is unharmed: other data still served */
    get_expect("/v1/buckets/b-only/records/x", b, 200, "B-only");
    get_expect("/v1/buckets/shared/records/secret", a, 200, "A-value");
    get_expect("/v1/sys/health", NULL, 200, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso1_same_names_resolve_to_own_tenant),
        cmocka_unit_test(test_iso1_paths_and_encodings_never_reach_b),
        cmocka_unit_test(test_iso1_writes_and_deletes_stay_in_own_tenant),
        cmocka_unit_test(test_iso1_swapped_ciphertext_fails_to_decrypt),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
