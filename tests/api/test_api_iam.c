/* test_api_iam.c: the identity layer against attacks: lockout (IAM-2), two-factor with replay
 * and recovery-code reuse (IAM-3), role escalation and bucket grants (IAM-4), revocation
 * (IAM-5), IP allowlists with real source addresses and forged X-Forwarded-For (IAM-7),
 * sessions (IAM-9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <liboath/oath.h>
#include <cmocka.h>

#include "harness.h"

static ts_server srv;
static char *op, *owner;

static int setup(void **state)
{
    ts_init(&srv);
    if (!(owner = ts_start_tenant(&srv, &op, "acme", NULL)))
        return -1;
    ts_bucket(&srv, owner, "a");
    ts_bucket(&srv, owner, "b");
    return 0;
}

static int teardown(void **state)
{
    return ts_finish(&srv, 2, op, owner);
}

static long req(const char *method, const char *path, const char *token, const char *json,
                char *code, size_t n)
{
    return ts_status(&srv, method, path, token, json, code, n);
}

static long login_raw(const char *tenant, const char *user, const char *pw, const char *extra,
                      char *code, ts_resp *out)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"tenant\":\"%s\",\"username\":\"%s\",\"password\":\"%s\"%s}",
             tenant, user, pw, extra ? extra : "");
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/auth/login", NULL, body, &r);
    long st = r.status;
    if (code)
        strcpy(code, ts_err(&r));
    if (out)
        *out = r;
    else
        ts_resp_free(&r);
    return st;
}

/* The id of one of acme's users, looked up by username. */
static void user_id_of(const char *username, char id[32])
{
    ts_resp r;
    ts_request(&srv, "GET", "/v1/users", owner, NULL, NULL, 0, NULL, &r);
    size_t i;
    json_t *u;
    id[0] = '\0';
    json_array_foreach(json_object_get(r.json, "users"), i, u)
    {
        if (!strcmp(json_string_value(json_object_get(u, "username")), username))
            strcpy(id, json_string_value(json_object_get(u, "id")));
    }
    ts_resp_free(&r);
    assert_int_not_equal(id[0], '\0');
}

static void test_iam2_lockout_after_six_failures(void **state)
{
    char uid[32], code[64];
    char *w = ts_user_create(&srv, owner, "acme", "locky", "[\"writer\"]", NULL, false, uid);
    for (int i = 0; i < 6; i++)
        assert_int_equal(login_raw("acme", "locky", "wrong-password-123", NULL, code, NULL), 401);
    /* the 7th attempt is refused even with the right password */
    ts_resp r;
    assert_int_equal(login_raw("acme", "locky", TS_PASSWORD, NULL, code, &r), 423);
    assert_string_equal(code, "locked");
    char retry[16];
    assert_true(ts_header(&r, "Retry-After", retry, sizeof(retry)));
    assert_true(atoi(retry) > 1700 && atoi(retry) <= 1800);
    ts_resp_free(&r);
    /* the lock shows to admins */
    char path[64];
    snprintf(path, sizeof(path), "/v1/users/%s", uid);
    ts_request(&srv, "GET", path, owner, NULL, NULL, 0, NULL, &r);
    assert_true(json_is_true(json_object_get(r.json, "locked")));
    ts_resp_free(&r);
    /* once the lock has expired (aged in the store while stopped), the right password works */
    ts_expire_lock(&srv, uid);
    char *t = ts_login(&srv, "acme", "locky", TS_PASSWORD);
    assert_non_null(t);
    /* and a success resets the count: one more failure does not lock */
    assert_int_equal(login_raw("acme", "locky", "wrong-password-123", NULL, code, NULL), 401);
    free(t);
    t = ts_login(&srv, "acme", "locky", TS_PASSWORD);
    assert_non_null(t);
    free(t);
    free(w);
}

static void test_iam3_two_factor_login(void **state)
{
    ts_user *u = ts_user_find(&srv, "acme", "owner");
    assert_non_null(u);
    char code[64], totp[16], extra[128];
    /* password alone is not enough */
    assert_int_equal(login_raw("acme", "owner", TS_PASSWORD, NULL, code, NULL), 401);
    assert_string_equal(code, "mfa_required");
    /* a wrong code */
    assert_int_equal(login_raw("acme", "owner", TS_PASSWORD, ",\"totp\":\"000000\"", code, NULL),
                     401);
    assert_string_equal(code, "unauthenticated");
    /* an expired code (three steps old) */
    long long now = (long long)time(NULL) / 30;
    oath_totp_generate2((const char *)u->secret, 20, (time_t)((now - 3) * 30), 30, 0, 6, 0, totp);
    snprintf(extra, sizeof(extra), ",\"totp\":\"%s\"", totp);
    assert_int_equal(login_raw("acme", "owner", TS_PASSWORD, extra, code, NULL), 401);
    /* a good code works once; the replay is refused */
    assert_true(ts_next_code(u, totp));
    snprintf(extra, sizeof(extra), ",\"totp\":\"%s\"", totp);
    assert_int_equal(login_raw("acme", "owner", TS_PASSWORD, extra, code, NULL), 200);
    assert_int_equal(login_raw("acme", "owner", TS_PASSWORD, extra, code, NULL), 401);
    /* a recovery code works once */
    snprintf(extra, sizeof(extra), ",\"recovery_code\":\"%s\"", u->recovery[9]);
    assert_int_equal(login_raw("acme", "owner", TS_PASSWORD, extra, code, NULL), 200);
    assert_int_equal(login_raw("acme", "owner", TS_PASSWORD, extra, code, NULL), 401);
    /* a wrong password is refused before any code is looked at */
    assert_int_equal(
        login_raw("acme", "owner", "Wrong-password-2026", ",\"totp\":\"123456\"", code, NULL), 401);
    /* the secret is not stored in the clear */
    char b32[64];
    char *enc = NULL;
    size_t enclen;
    oath_base32_encode((const char *)u->secret, 20, &enc, &enclen);
    snprintf(b32, sizeof(b32), "%.*s", 16, enc);
    free(enc);
    assert_int_not_equal(ts_sh("grep -rqa '%s' %s", b32, srv.data_dir), 0);
    /* owners cannot switch two-factor off (refused before the code is checked) */
    assert_int_equal(
        req("DELETE", "/v1/auth/totp", owner, "{\"code\":\"123456\"}", code, sizeof(code)), 403);
}

static void test_iam3_tenant_can_require_mfa_for_all(void **state)
{
    char code[64];
    char *r = ts_user_create(&srv, owner, "acme", "rita", "[\"reader\"]", "[\"*\"]", false, NULL);
    assert_int_equal(req("GET", "/v1/buckets/a/records", r, NULL, code, sizeof(code)), 200);
    assert_int_equal(
        req("PATCH", "/v1/tenant", owner, "{\"mfa_required\":\"all\"}", code, sizeof(code)), 200);
    assert_int_equal(req("GET", "/v1/buckets/a/records", r, NULL, code, sizeof(code)), 403);
    assert_string_equal(code, "mfa_enrollment_required");
    ts_enrol(&srv, r, "acme", "rita", TS_PASSWORD);
    assert_int_equal(req("GET", "/v1/buckets/a/records", r, NULL, code, sizeof(code)), 200);
    assert_int_equal(
        req("PATCH", "/v1/tenant", owner, "{\"mfa_required\":\"none\"}", code, sizeof(code)), 400);
    assert_int_equal(
        req("PATCH", "/v1/tenant", owner, "{\"mfa_required\":\"admins\"}", code, sizeof(code)),
        200);
    free(r);
}

static void test_iam4_role_escalation_refused(void **state)
{
    char code[64], path[96], adm_id[32], w_id[32], owner_id[32];
    char *adm = ts_user_create(&srv, owner, "acme", "adam", "[\"admin\"]", NULL, true, adm_id);
    char *w = ts_user_create(&srv, owner, "acme", "wes", "[\"writer\"]", "[\"a\"]", false, w_id);
    /* duplicate usernames (IAM-1) */
    assert_int_equal(req("POST", "/v1/users", owner,
                         "{\"username\":\"wes\",\"roles\":[\"reader\"]}", code, sizeof(code)),
                     409);
    /* an admin cannot make owners, directly or by promotion */
    assert_int_equal(req("POST", "/v1/users", adm, "{\"username\":\"evil\",\"roles\":[\"owner\"]}",
                         code, sizeof(code)),
                     403);
    snprintf(path, sizeof(path), "/v1/users/%s", w_id);
    assert_int_equal(req("PATCH", path, adm, "{\"roles\":[\"owner\"]}", code, sizeof(code)), 403);
    /* nobody edits their own roles */
    snprintf(path, sizeof(path), "/v1/users/%s", adm_id);
    assert_int_equal(req("PATCH", path, adm, "{\"roles\":[\"owner\"]}", code, sizeof(code)), 403);
    /* a writer cannot manage users at all */
    assert_int_equal(req("GET", "/v1/users", w, NULL, code, sizeof(code)), 403);
    /* an admin cannot touch an owner (no password reset takeover) */
    user_id_of("owner", owner_id);
    snprintf(path, sizeof(path), "/v1/users/%s", owner_id);
    assert_int_equal(req("PATCH", path, adm, "{\"reset_password\":true}", code, sizeof(code)), 403);
    assert_int_equal(req("DELETE", path, adm, NULL, code, sizeof(code)), 403);
    /* the last owner cannot be demoted, disabled or removed, even by a second owner's hand */
    char o2_id[32];
    char *o2 = ts_user_create(&srv, owner, "acme", "olga", "[\"owner\"]", NULL, true, o2_id);
    snprintf(path, sizeof(path), "/v1/users/%s", o2_id);
    assert_int_equal(req("PATCH", path, owner, "{\"roles\":[\"admin\"]}", code, sizeof(code)), 200);
    snprintf(path, sizeof(path), "/v1/users/%s", owner_id);
    assert_int_equal(req("PATCH", path, o2, "{\"disabled\":true}", code, sizeof(code)), 403);
    free(o2);
    /* olga is now an admin; make her owner again and let her try to remove the first owner
     * after demoting herself is impossible: one owner must stay */
    snprintf(path, sizeof(path), "/v1/users/%s", o2_id);
    assert_int_equal(req("DELETE", path, owner, NULL, code, sizeof(code)), 204);
    snprintf(path, sizeof(path), "/v1/users/%s", owner_id);
    assert_int_equal(req("DELETE", path, owner, NULL, code, sizeof(code)), 403); /* self */
    /* demoting the last owner through another owner is a conflict */
    char o3_id[32];
    char *o3 = ts_user_create(&srv, owner, "acme", "omar", "[\"owner\"]", NULL, true, o3_id);
    assert_int_equal(req("PATCH", path, o3, "{\"roles\":[\"admin\"]}", code, sizeof(code)), 200);
    assert_int_equal(req("GET", "/v1/users", owner, NULL, code, sizeof(code)), 200); /* admin */
    snprintf(path, sizeof(path), "/v1/users/%s", o3_id);
    assert_int_equal(req("PATCH", path, owner, "{\"roles\":[\"admin\"]}", code, sizeof(code)),
                     403); /* owner is an admin now */
    assert_int_equal(req("DELETE", path, owner, NULL, code, sizeof(code)), 403);
    snprintf(path, sizeof(path), "/v1/users/%s", owner_id);
    assert_int_equal(req("PATCH", path, o3, "{\"roles\":[\"owner\"]}", code, sizeof(code)), 200);
    snprintf(path, sizeof(path), "/v1/users/%s", o3_id);
    assert_int_equal(req("PATCH", path, owner, "{\"roles\":[\"admin\"]}", code, sizeof(code)), 200);
    snprintf(path, sizeof(path), "/v1/users/%s", owner_id);
    assert_int_equal(req("PATCH", path, o3, "{\"roles\":[\"admin\"]}", code, sizeof(code)), 403);
    free(o3);
    free(adm);
    free(w);
}

static void test_iam4_last_owner_stays(void **state)
{
    char code[64], path[96], owner_id[32], o2_id[32];
    user_id_of("owner", owner_id);
    char *o2 = ts_user_create(&srv, owner, "acme", "otto", "[\"owner\"]", NULL, true, o2_id);
    /* with two owners, one may demote the other; then the remaining one cannot be demoted */
    snprintf(path, sizeof(path), "/v1/users/%s", o2_id);
    assert_int_equal(req("PATCH", path, owner, "{\"roles\":[\"admin\"]}", code, sizeof(code)), 200);
    snprintf(path, sizeof(path), "/v1/users/%s", owner_id);
    assert_int_equal(req("PATCH", path, owner, "{\"disabled\":true}", code, sizeof(code)), 403);
    /* restore otto as owner; he tries to demote, disable and delete the first owner while the
     * first owner is the only other: fine while two exist, refused for the last */
    snprintf(path, sizeof(path), "/v1/users/%s", o2_id);
    assert_int_equal(req("PATCH", path, owner, "{\"roles\":[\"owner\"]}", code, sizeof(code)), 200);
    assert_int_equal(req("DELETE", path, owner, NULL, code, sizeof(code)), 204);
    free(o2);
}

static void test_iam4_bucket_grants(void **state)
{
    char code[64];
    char *w = ts_user_create(&srv, owner, "acme", "gina", "[\"writer\"]", "[\"a\"]", false, NULL);
    char *rd = ts_user_create(&srv, owner, "acme", "rob", "[\"reader\"]", "[\"*\"]", false, NULL);
    assert_int_equal(ts_put(&srv, w, "a", "k", "text/plain", "v", 1), 201);
    assert_int_equal(ts_put(&srv, w, "b", "k", "text/plain", "v", 1), 403);
    assert_int_equal(req("GET", "/v1/buckets/b/records", w, NULL, code, sizeof(code)), 403);
    assert_int_equal(req("GET", "/v1/buckets/a/records/k", rd, NULL, code, sizeof(code)), 200);
    assert_int_equal(ts_put(&srv, rd, "a", "k", "text/plain", "x", 1), 403);
    /* writers do not manage buckets */
    assert_int_equal(req("POST", "/v1/buckets", w, "{\"name\":\"c\"}", code, sizeof(code)), 403);
    /* a token of the writer narrows further, and follows the writer's grants */
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/tokens", w,
                "{\"name\":\"ro\",\"permissions\":[\"records.read\"]}", &r);
    assert_int_equal(r.status, 201);
    char tok[128];
    strcpy(tok, json_string_value(json_object_get(r.json, "token")));
    ts_resp_free(&r);
    assert_int_equal(req("GET", "/v1/buckets/a/records/k", tok, NULL, code, sizeof(code)), 200);
    assert_int_equal(req("GET", "/v1/buckets/b/records", tok, NULL, code, sizeof(code)), 403);
    assert_int_equal(ts_put(&srv, tok, "a", "k", "text/plain", "x", 1), 403);
    /* malformed grants and roles */
    assert_int_equal(req("POST", "/v1/users", owner,
                         "{\"username\":\"x1\",\"roles\":[\"writer\"],\"grants\":[\"Bad Name\"]}",
                         code, sizeof(code)),
                     400);
    assert_int_equal(req("POST", "/v1/users", owner, "{\"username\":\"x2\",\"roles\":[\"root\"]}",
                         code, sizeof(code)),
                     400);
    assert_int_equal(
        req("POST", "/v1/users", owner, "{\"username\":\"x3\",\"roles\":[]}", code, sizeof(code)),
        400);
    free(w);
    free(rd);
}

static void test_iam5_disabled_user_and_reset(void **state)
{
    char code[64], path[96], uid[32];
    char *d = ts_user_create(&srv, owner, "acme", "dora", "[\"reader\"]", "[\"*\"]", false, uid);
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/tokens", d,
                "{\"name\":\"t\",\"permissions\":[\"records.read\"]}", &r);
    char tok[128];
    strcpy(tok, json_string_value(json_object_get(r.json, "token")));
    ts_resp_free(&r);
    assert_int_equal(req("GET", "/v1/buckets/a/records", tok, NULL, code, sizeof(code)), 200);
    snprintf(path, sizeof(path), "/v1/users/%s", uid);
    assert_int_equal(req("PATCH", path, owner, "{\"disabled\":true}", code, sizeof(code)), 200);
    /* the very next request of the session and of the token is refused */
    assert_int_equal(req("GET", "/v1/buckets/a/records", d, NULL, code, sizeof(code)), 401);
    assert_int_equal(req("GET", "/v1/buckets/a/records", tok, NULL, code, sizeof(code)), 401);
    assert_null(ts_login(&srv, "acme", "dora", TS_PASSWORD));
    assert_int_equal(req("PATCH", path, owner, "{\"disabled\":false}", code, sizeof(code)), 200);
    /* an admin reset: a one-time password, old password gone */
    ts_json_req(&srv, "PATCH", path, owner, "{\"reset_password\":true}", &r);
    assert_int_equal(r.status, 200);
    char otp[64];
    strcpy(otp, json_string_value(json_object_get(r.json, "password")));
    ts_resp_free(&r);
    assert_null(ts_login(&srv, "acme", "dora", TS_PASSWORD));
    char *s = ts_login(&srv, "acme", "dora", otp);
    assert_non_null(s);
    assert_int_equal(req("GET", "/v1/buckets/a/records", s, NULL, code, sizeof(code)), 403);
    assert_string_equal(code, "password_change_required");
    free(s);
    free(d);
    /* a lost authenticator: an admin clears two-factor; the user re-enrols where required */
    char *ad = ts_user_create(&srv, owner, "acme", "alma", "[\"admin\"]", NULL, true, uid);
    snprintf(path, sizeof(path), "/v1/users/%s", uid);
    assert_int_equal(req("PATCH", path, ad, "{\"reset_mfa\":true}", code, sizeof(code)), 403);
    assert_int_equal(req("PATCH", path, owner, "{\"reset_mfa\":true}", code, sizeof(code)), 200);
    assert_int_equal(req("GET", "/v1/users", ad, NULL, code, sizeof(code)),
                     401); /* sessions ended */
    ts_user_find(&srv, "acme", "alma")->has_totp = false;
    char *again = ts_login(&srv, "acme", "alma", TS_PASSWORD);
    assert_non_null(again);
    assert_int_equal(req("GET", "/v1/users", again, NULL, code, sizeof(code)), 403);
    assert_string_equal(code, "mfa_enrollment_required");
    free(again);
    free(ad);
}

static void test_iam9_sessions_listed_and_revoked(void **state)
{
    char *s1 = ts_user_create(&srv, owner, "acme", "sam", "[\"reader\"]", "[\"*\"]", false, NULL);
    char *s2 = ts_login(&srv, "acme", "sam", TS_PASSWORD);
    ts_resp r;
    ts_request(&srv, "GET", "/v1/auth/sessions", s1, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *list = json_object_get(r.json, "sessions");
    assert_int_equal(json_array_size(list), 2);
    char other[64] = "";
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it)
    {
        if (!json_is_true(json_object_get(it, "current")))
            strcpy(other, json_string_value(json_object_get(it, "id")));
    }
    ts_resp_free(&r);
    char path[96], code[64];
    snprintf(path, sizeof(path), "/v1/auth/sessions/%s", other);
    assert_int_equal(req("DELETE", path, s1, NULL, code, sizeof(code)), 204);
    assert_int_equal(req("GET", "/v1/tenant", s2, NULL, code, sizeof(code)), 401);
    assert_int_equal(req("GET", "/v1/tenant", s1, NULL, code, sizeof(code)), 200);
    /* another user's session id is not found */
    ts_request(&srv, "GET", "/v1/auth/sessions", owner, NULL, NULL, 0, NULL, &r);
    snprintf(path, sizeof(path), "/v1/auth/sessions/%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(r.json, "sessions"), 0), "id")));
    ts_resp_free(&r);
    assert_int_equal(req("DELETE", path, s1, NULL, code, sizeof(code)), 404);
    /* tenant timeouts may only be stricter than the node's */
    assert_int_equal(
        req("PATCH", "/v1/tenant", owner, "{\"session_idle_seconds\":3600}", code, sizeof(code)),
        400);
    assert_int_equal(
        req("PATCH", "/v1/tenant", owner, "{\"session_idle_seconds\":300}", code, sizeof(code)),
        200);
    assert_int_equal(req("PATCH", "/v1/tenant", owner, "{\"colour\":\"red\"}", code, sizeof(code)),
                     400);
    free(s1);
    free(s2);
}

/* Last: it restarts the server with trusted proxies and an operator allowlist. */
static void test_iam7_allowlists_with_real_source_addresses(void **state)
{
    char code[64];
    char *rd = ts_user_create(&srv, owner, "acme", "ivy", "[\"reader\"]", "[\"*\"]", false, NULL);
    /* malformed CIDRs */
    assert_int_equal(req("PATCH", "/v1/tenant", owner, "{\"ip_allowlist\":[\"10.0.0.1/8\"]}", code,
                         sizeof(code)),
                     400);
    assert_int_equal(
        req("PATCH", "/v1/tenant", owner, "{\"ip_allowlist\":[\"nope\"]}", code, sizeof(code)),
        400);
    /* a list that would lock out the admin making the change */
    assert_int_equal(req("PATCH", "/v1/tenant", owner, "{\"ip_allowlist\":[\"10.0.0.0/8\"]}", code,
                         sizeof(code)),
                     409);
    assert_int_equal(req("PATCH", "/v1/tenant", owner,
                         "{\"ip_allowlist\":[\"127.0.0.1/32\",\"2001:db8::/32\"]}", code,
                         sizeof(code)),
                     200);
    assert_int_equal(req("GET", "/v1/buckets/a/records", rd, NULL, code, sizeof(code)), 200);
    /* the same credential from 127.0.0.2 is refused, and so is a login */
    strcpy(srv.source_ip, "127.0.0.2");
    assert_int_equal(req("GET", "/v1/buckets/a/records", rd, NULL, code, sizeof(code)), 403);
    assert_string_equal(code, "ip_not_allowed");
    assert_int_equal(login_raw("acme", "ivy", TS_PASSWORD, NULL, code, NULL), 403);
    assert_string_equal(code, "ip_not_allowed");
    /* a forged X-Forwarded-For from an untrusted peer changes nothing */
    ts_resp r;
    const char *xff[] = {"X-Forwarded-For: 127.0.0.1", NULL};
    ts_request(&srv, "GET", "/v1/buckets/a/records", rd, NULL, NULL, 0, xff, &r);
    assert_int_equal(r.status, 403);
    ts_resp_free(&r);
    /* operators are not bound by the tenant's list */
    assert_int_equal(req("GET", "/v1/sys/tenants", op, NULL, code, sizeof(code)), 200);
    srv.source_ip[0] = '\0';

    /* now 127.0.0.2 is a trusted proxy, and operators may only come from 127.0.0.1 */
    assert_int_equal(ts_stop(&srv), 0);
    snprintf(srv.extra_config, sizeof(srv.extra_config),
             "[http]\ntrusted_proxies = 127.0.0.2\n[auth]\noperator_ip_allowlist = 127.0.0.1/32\n");
    assert_true(ts_start(&srv));
    strcpy(srv.source_ip, "127.0.0.2");
    ts_request(&srv, "GET", "/v1/buckets/a/records", rd, NULL, NULL, 0, xff, &r);
    assert_int_equal(r.status, 200); /* the proxy says the client is 127.0.0.1 */
    ts_resp_free(&r);
    const char *xff_out[] = {"X-Forwarded-For: 127.0.0.1, 192.0.2.10", NULL};
    ts_request(&srv, "GET", "/v1/buckets/a/records", rd, NULL, NULL, 0, xff_out, &r);
    assert_int_equal(r.status, 403); /* the client appended a fake 127.0.0.1: not believed */
    ts_resp_free(&r);
    /* the client sends its own X-Forwarded-For line and the proxy appends a second one: the
     * lines are joined in order, so the proxy's (rightmost) address is the client */
    const char *xff_two[] = {"X-Forwarded-For: 127.0.0.1", "X-Forwarded-For: 192.0.2.10", NULL};
    ts_request(&srv, "GET", "/v1/buckets/a/records", rd, NULL, NULL, 0, xff_two, &r);
    assert_int_equal(r.status, 403);
    ts_resp_free(&r);
    const char *xff_two_ok[] = {"X-Forwarded-For: 192.0.2.10", "X-Forwarded-For: 127.0.0.1", NULL};
    ts_request(&srv, "GET", "/v1/buckets/a/records", rd, NULL, NULL, 0, xff_two_ok, &r);
    assert_int_equal(r.status, 200); /* the proxy's line says 127.0.0.1 */
    ts_resp_free(&r);
    const char *xff_bad[] = {"X-Forwarded-For: not-an-address", NULL};
    ts_request(&srv, "GET", "/v1/buckets/a/records", rd, NULL, NULL, 0, xff_bad, &r);
    assert_int_equal(r.status, 400);
    ts_resp_free(&r);
    assert_int_equal(req("GET", "/v1/sys/tenants", op, NULL, code, sizeof(code)), 403);
    assert_string_equal(code, "ip_not_allowed");
    srv.source_ip[0] = '\0';
    assert_int_equal(req("GET", "/v1/sys/tenants", op, NULL, code, sizeof(code)), 200);
    free(rd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam2_lockout_after_six_failures),
        cmocka_unit_test(test_iam3_two_factor_login),
        cmocka_unit_test(test_iam3_tenant_can_require_mfa_for_all),
        cmocka_unit_test(test_iam4_role_escalation_refused),
        cmocka_unit_test(test_iam4_last_owner_stays),
        cmocka_unit_test(test_iam4_bucket_grants),
        cmocka_unit_test(test_iam5_disabled_user_and_reset),
        cmocka_unit_test(test_iam9_sessions_listed_and_revoked),
        cmocka_unit_test(test_iam7_allowlists_with_real_source_addresses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
