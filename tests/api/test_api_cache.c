/* test_api_cache.c: IAM-5 with the principal cache on (issue 14): a credential that has just
 * been used, so that its rows are cached, is refused on the very next request after it is
 * revoked (DELETE /v1/tokens/{id}, logout), its user disabled or demoted, its tenant's IP
 * allowlist narrowed, or its tenant's lifecycle state changed; and a wrong secret for a cached
 * token id is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

static ts_server srv;
static char *op, *owner;
static char tenant_id[32];

static int setup(void **state)
{
    (void)state;
    ts_init(&srv);
    snprintf(srv.extra_config, sizeof(srv.extra_config), "[auth]\ncache_entries = 10000\n");
    if (!(owner = ts_start_tenant(&srv, &op, "cachy", tenant_id)))
        return -1;
    ts_bucket(&srv, owner, "b");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return ts_finish(&srv, 2, op, owner);
}

static long req(const char *method, const char *path, const char *token, const char *json,
                char *code, size_t n)
{
    return ts_status(&srv, method, path, token, json, code, n);
}

/* The status of the next read of bucket b with token. */
static long read_b(const char *token)
{
    return req("GET", "/v1/buckets/b/records", token, NULL, NULL, 0);
}

/* Uses the credential twice (the first use caches it, the second is answered from the cache). */
static void warm(const char *token)
{
    for (int i = 0; i < 2; i++)
        assert_int_equal(read_b(token), 200);
}

/* PATCH /v1/users/{uid} by the owner (asserts 200). */
static void patch_user(const char *uid, const char *json)
{
    char path[96];
    snprintf(path, sizeof(path), "/v1/users/%s", uid);
    assert_int_equal(req("PATCH", path, owner, json, NULL, 0), 200);
}

/* A new reader of every bucket of the tenant, first login done; its session (malloc'd), its
 * id into uid when not NULL. */
static char *reader(const char *username, char *uid)
{
    return ts_user_create(&srv, owner, "cachy", username, "[\"reader\"]", "[\"*\"]", false, uid);
}

/* An API token of the session's user with the given permissions (JSON array text); its id
 * into id. Returns it (malloc'd). */
static char *api_token(const char *session, const char *perms, char id[64])
{
    char body[256];
    snprintf(body, sizeof(body), "{\"name\":\"c\",\"permissions\":%s}", perms);
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/tokens", session, body, &r);
    assert_int_equal(r.status, 201);
    char *t = strdup(json_string_value(json_object_get(r.json, "token")));
    snprintf(id, 64, "%s", json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
    return t;
}

static void test_iam5_cached_token_revoked(void **state)
{
    (void)state;
    char id[64], path[96], code[64];
    char *s = reader("rita", NULL);
    char *t = api_token(s, "[\"records.read\"]", id);
    warm(t);
    snprintf(path, sizeof(path), "/v1/tokens/%s", id);
    assert_int_equal(req("DELETE", path, s, NULL, code, sizeof(code)), 204);
    assert_int_equal(read_b(t), 401);
    /* logout ends the session it is sent with, cached or not */
    warm(s);
    assert_int_equal(req("POST", "/v1/auth/logout", s, NULL, code, sizeof(code)), 204);
    assert_int_equal(read_b(s), 401);
    free(t);
    free(s);
}

/* The secret is still compared on every request, for a cached id too. */
static void test_iam5_cached_id_wrong_secret(void **state)
{
    (void)state;
    char code[64];
    char *s = reader("walt", NULL);
    warm(s);
    char wrong[256];
    snprintf(wrong, sizeof(wrong), "%s", s);
    size_t n = strlen(wrong);
    wrong[n - 2] = wrong[n - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(req("GET", "/v1/buckets/b/records", wrong, NULL, code, sizeof(code)), 401);
    assert_string_equal(code, "unauthenticated");
    assert_int_equal(read_b(s), 200);
    free(s);
}

static void test_iam5_cached_user_disabled(void **state)
{
    (void)state;
    char uid[32], id[64];
    char *s = reader("dina", uid);
    char *t = api_token(s, "[\"records.read\"]", id);
    warm(s);
    warm(t);
    patch_user(uid, "{\"disabled\":true}");
    assert_int_equal(read_b(s), 401);
    assert_int_equal(read_b(t), 401);
    free(t);
    free(s);
}

/* IAM-4 through the cache: an API token holds at most its creator's current rights. */
static void test_iam5_cached_role_removed(void **state)
{
    (void)state;
    char uid[32], id[64];
    char *s = ts_user_create(&srv, owner, "cachy", "wren", "[\"writer\"]", "[\"*\"]", false, uid);
    char *t = api_token(s, "[\"records.read\",\"records.write\"]", id);
    assert_int_equal(ts_put(&srv, t, "b", "k1", "text/plain", "v", 1), 201);
    assert_int_equal(ts_put(&srv, s, "b", "k2", "text/plain", "v", 1), 201);
    patch_user(uid, "{\"roles\":[\"reader\"]}");
    assert_int_equal(ts_put(&srv, t, "b", "k3", "text/plain", "v", 1), 403);
    assert_int_equal(ts_put(&srv, s, "b", "k4", "text/plain", "v", 1), 403);
    warm(t); /* reading is what it still may do */
    free(t);
    free(s);
}

/* IAM-7 through the cache: the credential was just used from 127.0.0.2; the tenant's new list
 * (which admits only the admin's 127.0.0.1) refuses its very next request. */
static void test_iam5_cached_allowlist_narrowed(void **state)
{
    (void)state;
    char code[64];
    char *s = reader("ivan", NULL);
    strcpy(srv.source_ip, "127.0.0.2");
    warm(s);
    srv.source_ip[0] = '\0';
    assert_int_equal(req("PATCH", "/v1/tenant", owner, "{\"ip_allowlist\":[\"127.0.0.1/32\"]}",
                         code, sizeof(code)),
                     200);
    strcpy(srv.source_ip, "127.0.0.2");
    assert_int_equal(req("GET", "/v1/buckets/b/records", s, NULL, code, sizeof(code)), 403);
    assert_string_equal(code, "ip_not_allowed"); /* the list, not the state or a role */
    srv.source_ip[0] = '\0';
    assert_int_equal(req("PATCH", "/v1/tenant", owner, "{\"ip_allowlist\":[]}", code, sizeof(code)),
                     200);
    strcpy(srv.source_ip, "127.0.0.2");
    warm(s);
    srv.source_ip[0] = '\0';
    free(s);
}

/* RET-3 through the cache: a tenant whose state changes (cancelled: closed, export only) is
 * held to its new state on the very next request. */
static void test_iam5_cached_tenant_state(void **state)
{
    (void)state;
    char tid[32], path[96], code[64];
    char *o = ts_tenant(&srv, op, "closing", tid);
    ts_bucket(&srv, o, "b");
    warm(o);
    snprintf(path, sizeof(path), "/v1/sys/tenants/%s", tid);
    assert_int_equal(req("PATCH", path, op, "{\"event\":\"cancelled\"}", code, sizeof(code)), 200);
    assert_int_equal(read_b(o), 403);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam5_cached_token_revoked),
        cmocka_unit_test(test_iam5_cached_id_wrong_secret),
        cmocka_unit_test(test_iam5_cached_user_disabled),
        cmocka_unit_test(test_iam5_cached_role_removed),
        cmocka_unit_test(test_iam5_cached_allowlist_narrowed),
        cmocka_unit_test(test_iam5_cached_tenant_state),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
