/* test_api_auth.c: the identity needed to use custodia: one-time passwords, sessions, tokens
 * holding at most their creator's rights, revocation on the next request, operators without
 * tenant-data rights. */
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

static int setup(void **state)
{
    ts_init(&srv);
    if (!(owner = ts_start_tenant(&srv, &op, "acme", NULL)))
        return -1;
    ts_bucket(&srv, owner, "b");
    return 0;
}

static int teardown(void **state)
{
    return ts_finish(&srv, 2, op, owner);
}

static long status_of(const char *method, const char *path, const char *token, const char *json)
{
    return ts_status(&srv, method, path, token, json, NULL, 0);
}

static char *make_token(const char *session, const char *json, long want)
{
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/tokens", session, json, &r);
    assert_int_equal(r.status, want);
    char *tok = want == 201 ? strdup(json_string_value(json_object_get(r.json, "token"))) : NULL;
    ts_resp_free(&r);
    return tok;
}

static void test_one_time_password_allows_only_password_change(void **state)
{
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/sys/tenants", op,
                "{\"name\":\"otp-co\",\"owner\":{\"username\":\"bob\"}}", &r);
    assert_int_equal(r.status, 201);
    char pw[64];
    strcpy(pw, json_string_value(json_object_get(json_object_get(r.json, "owner"), "password")));
    ts_resp_free(&r);
    char *tok = ts_login(&srv, "otp-co", "bob", pw);
    assert_non_null(tok);
    ts_request(&srv, "GET", "/v1/buckets", tok, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(ts_err(&r), "password_change_required");
    ts_resp_free(&r);
    /* weak new passwords are refused, each with its own message */
    const char *weak[] = {"short1", "onlylettersinthisone", "12345678901234567",
                          "bob-is-my-name-123", "otp-co-company-123"};
    for (size_t i = 0; i < sizeof(weak) / sizeof(*weak); i++) {
        char body[256];
        snprintf(body, sizeof(body), "{\"current\":\"%s\",\"new\":\"%s\"}", pw, weak[i]);
        assert_int_equal(ts_status(&srv, "POST", "/v1/auth/password", tok, body, NULL, 0), 400);
    }
    /* the wrong current password is refused */
    assert_int_equal(ts_status(&srv, "POST", "/v1/auth/password", tok,
                               "{\"current\":\"not-the-password-1\",\"new\":\"" TS_PASSWORD "\"}",
                               NULL, 0),
                     401);
    char body[256];
    snprintf(body, sizeof(body), "{\"current\":\"%s\",\"new\":\"%s\"}", pw, TS_PASSWORD);
    assert_int_equal(ts_status(&srv, "POST", "/v1/auth/password", tok, body, NULL, 0), 204);
    /* IAM-3: an owner must enrol two-factor before anything else */
    ts_request(&srv, "GET", "/v1/buckets", tok, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(ts_err(&r), "mfa_enrollment_required");
    ts_resp_free(&r);
    ts_enrol(&srv, tok, "otp-co", "bob", TS_PASSWORD);
    assert_int_equal(status_of("GET", "/v1/buckets", tok, NULL), 200);
    /* the one-time password no longer works */
    assert_null(ts_login(&srv, "otp-co", "bob", pw));
    free(tok);
}

static void test_password_change_ends_other_sessions(void **state)
{
    char *w = ts_user_create(&srv, owner, "acme", "pat", "[\"writer\"]", "[\"*\"]", false, NULL);
    char *s1 = ts_login(&srv, "acme", "pat", TS_PASSWORD);
    char *s2 = ts_login(&srv, "acme", "pat", TS_PASSWORD);
    assert_non_null(s1);
    assert_non_null(s2);
    ts_resp r;
    assert_int_equal(ts_status(&srv, "POST", "/v1/auth/password", s1,
                               "{\"current\":\"" TS_PASSWORD
                               "\",\"new\":\"Another-Strong-Phrase-77\"}",
                               NULL, 0),
                     204);
    assert_int_equal(status_of("GET", "/v1/tenant", s1, NULL), 200);
    assert_int_equal(status_of("GET", "/v1/tenant", s2, NULL), 401);
    assert_int_equal(status_of("GET", "/v1/tenant", w, NULL), 401);
    /* IAM-2: the last four passwords cannot come back */
    ts_json_req(&srv, "POST", "/v1/auth/password", s1,
                "{\"current\":\"Another-Strong-Phrase-77\",\"new\":\"" TS_PASSWORD "\"}", &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "last 4 passwords"));
    ts_resp_free(&r);
    free(s1);
    free(s2);
    free(w);
}

static void test_iam4_token_holds_at_most_its_creators_rights(void **state)
{
    /* nothing by default */
    char *none = make_token(owner, "{\"name\":\"empty\"}", 201);
    assert_int_equal(status_of("GET", "/v1/buckets/b/records", none, NULL), 403);
    /* read-only token: reads, cannot write or manage buckets */
    char *ro = make_token(owner, "{\"name\":\"ro\",\"permissions\":[\"records.read\"]}", 201);
    assert_int_equal(status_of("GET", "/v1/buckets/b/records", ro, NULL), 200);
    assert_int_equal(ts_put(&srv, ro, "b", "k", "text/plain", "v", 1), 403);
    assert_int_equal(status_of("POST", "/v1/buckets", ro, "{\"name\":\"c\"}"), 403);
    /* a token cannot mint tokens */
    make_token(ro, "{\"name\":\"child\",\"permissions\":[\"records.read\"]}", 403);
    /* unknown permission names are refused, not dropped */
    make_token(owner, "{\"name\":\"x\",\"permissions\":[\"records.everything\"]}", 400);
    /* expiry in the past refused; malformed refused */
    make_token(owner, "{\"name\":\"x\",\"expires_at\":\"2001-01-01T00:00:00Z\"}", 400);
    make_token(owner, "{\"name\":\"x\",\"expires_at\":\"tomorrow\"}", 400);
    free(none);
    free(ro);
}

static void test_iam4_wider_token_refused_not_trimmed(void **state)
{
    /* an operator (no tenant rights) asking for records.read gets 403, not a trimmed token */
    make_token(op, "{\"name\":\"x\",\"permissions\":[\"records.read\"]}", 403);
    /* a tenant owner asking for operator rights likewise */
    make_token(owner, "{\"name\":\"x\",\"permissions\":[\"sys.tenants\"]}", 403);
}

static void test_iam5_deleted_token_refused_on_next_request(void **state)
{
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/tokens", owner,
                "{\"name\":\"etl\",\"permissions\":[\"records.read\",\"records.write\"]}", &r);
    assert_int_equal(r.status, 201);
    char tok[128], id[64];
    strcpy(tok, json_string_value(json_object_get(r.json, "token")));
    strcpy(id, json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
    assert_int_equal(ts_put(&srv, tok, "b", "etl", "text/plain", "v", 1), 201);
    /* listing shows metadata, never the secret */
    ts_request(&srv, "GET", "/v1/tokens", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, tok + 25));
    assert_non_null(strstr(r.body, id));
    ts_resp_free(&r);
    char path[128];
    snprintf(path, sizeof(path), "/v1/tokens/%s", id);
    assert_int_equal(status_of("DELETE", path, owner, NULL), 204);
    assert_int_equal(ts_put(&srv, tok, "b", "etl", "text/plain", "w", 1), 401);
    assert_int_equal(status_of("DELETE", path, owner, NULL), 404);
}

static void test_logout_ends_session(void **state)
{
    char *s = ts_login(&srv, "acme", "owner", TS_PASSWORD);
    assert_int_equal(status_of("GET", "/v1/tenant", s, NULL), 200);
    assert_int_equal(status_of("POST", "/v1/auth/logout", s, NULL), 204);
    assert_int_equal(status_of("GET", "/v1/tenant", s, NULL), 401);
    free(s);
}

static void test_iam8_operator_has_no_tenant_data_rights(void **state)
{
    assert_int_equal(status_of("GET", "/v1/buckets", op, NULL), 403);
    assert_int_equal(status_of("GET", "/v1/buckets/b/records", op, NULL), 403);
    assert_int_equal(ts_put(&srv, op, "b", "k", "text/plain", "v", 1), 403);
    assert_int_equal(status_of("GET", "/v1/tenant", op, NULL), 403);
    /* and tenant credentials have no operator rights */
    assert_int_equal(status_of("GET", "/v1/sys/tenants", owner, NULL), 403);
    assert_int_equal(status_of("POST", "/v1/sys/tenants", owner,
                               "{\"name\":\"evil\",\"owner\":{\"username\":\"x\"}}"),
                     403);
}

static void test_sys_tenants(void **state)
{
    ts_resp r;
    assert_int_equal(ts_status(&srv, "POST", "/v1/sys/tenants", op,
                               "{\"name\":\"acme\",\"owner\":{\"username\":\"x\"}}", NULL, 0),
                     409);
    /* RES-1: another region is refused */
    ts_json_req(&srv, "POST", "/v1/sys/tenants", op,
                "{\"name\":\"eu-co\",\"region\":\"eu-west\",\"owner\":{\"username\":\"x\"}}", &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(ts_err(&r), "region_mismatch");
    ts_resp_free(&r);
    assert_int_equal(ts_status(&srv, "POST", "/v1/sys/tenants", op,
                               "{\"name\":\"_sys\",\"owner\":{\"username\":\"x\"}}", NULL, 0),
                     400);
    ts_request(&srv, "GET", "/v1/sys/tenants?limit=1", op, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "tenants")), 1);
    assert_true(json_is_string(json_object_get(r.json, "next")));
    const char *id = json_string_value(
        json_object_get(json_array_get(json_object_get(r.json, "tenants"), 0), "id"));
    char path[128];
    snprintf(path, sizeof(path), "/v1/sys/tenants/%s", id);
    ts_resp_free(&r);
    assert_int_equal(status_of("GET", path, op, NULL), 200);
    assert_int_equal(status_of("GET", "/v1/sys/tenants/tn_00000000000000000000", op, NULL), 404);
}

/* IAM-9: a session idle longer than 15 minutes is refused. The test ages the session in
 * the system store while the server is stopped, which is what 16 idle minutes look like. */
static void test_iam9_idle_session_refused(void **state)
{
    char *s = ts_login(&srv, "acme", "owner", TS_PASSWORD);
    char *api = make_token(owner, "{\"name\":\"long\",\"permissions\":[\"records.read\"]}", 201);
    assert_int_equal(status_of("GET", "/v1/tenant", s, NULL), 200);
    assert_int_equal(ts_stop(&srv), 0);
    char id[32] = "tk_";
    memcpy(id + 3, s + 4, 20);
    id[23] = '\0';
    char sql[200];
    snprintf(sql, sizeof(sql),
             "UPDATE tokens SET last_used_at = last_used_at - 960000000, created_at = created_at "
             "- 960000000 WHERE id = '%s'",
             id);
    assert_int_equal(ts_sys_sql(&srv, sql), 0);
    assert_true(ts_start(&srv));
    assert_int_equal(status_of("GET", "/v1/tenant", s, NULL), 401);
    /* API tokens have no idle timeout: still valid */
    assert_int_equal(status_of("GET", "/v1/buckets/b/records", api, NULL), 200);
    free(s);
    free(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_time_password_allows_only_password_change),
        cmocka_unit_test(test_password_change_ends_other_sessions),
        cmocka_unit_test(test_iam4_token_holds_at_most_its_creators_rights),
        cmocka_unit_test(test_iam4_wider_token_refused_not_trimmed),
        cmocka_unit_test(test_iam5_deleted_token_refused_on_next_request),
        cmocka_unit_test(test_logout_ends_session),
        cmocka_unit_test(test_iam8_operator_has_no_tenant_data_rights),
        cmocka_unit_test(test_sys_tenants),
        cmocka_unit_test(test_iam9_idle_session_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
