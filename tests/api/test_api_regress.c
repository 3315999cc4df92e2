/* test_api_regress.c: the controls a mutation review found untested. Each test fails if the
 * check it names is removed or loosened: the tenant check of /v1/users/{id} (ISO-1), the token
 * scope of non-admins and whole-name bucket grants (IAM-4), an allowlist prefix ending inside
 * a byte (IAM-7), token expiry and session maximum age (IAM-9); and POST routes that take no
 * body accept the empty JSON object many clients send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

static ts_server srv;
static char *op, *owner, *beta;
static char acme_id[40], beta_id[40];

static int setup(void **state)
{
    ts_init(&srv);
    /* no scheduled backups: the test counts the ones it takes */
    snprintf(srv.extra_config, sizeof(srv.extra_config), "[backup]\ninterval = 0\ndir = %s/bk\n",
             srv.root);
    if (ts_sh("mkdir -p %s/bk", srv.root) != 0 ||
        !(owner = ts_start_tenant(&srv, &op, "acme", acme_id)))
        return -1;
    beta = ts_tenant(&srv, op, "beta", beta_id);
    ts_bucket(&srv, owner, "a");
    ts_bucket(&srv, owner, "ab");
    return 0;
}

static int teardown(void **state)
{
    return ts_finish(&srv, 3, op, owner, beta);
}

static long req(const char *method, const char *path, const char *token, const char *json,
                char *code, size_t n)
{
    return ts_status(&srv, method, path, token, json, code, n);
}

/* The id of a user of the tenant the admin token belongs to. */
static void user_id_of(const char *admin, const char *username, char id[40])
{
    ts_id_by_name(&srv, admin, "/v1/users", "users", username, id, 40);
}

/* Creates an API token; copies its secret and id. */
static void api_token(const char *session, const char *body, char tok[128], char id[40])
{
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/tokens", session, body, &r);
    assert_int_equal(r.status, 201);
    snprintf(tok, 128, "%s", json_string_value(json_object_get(r.json, "token")));
    snprintf(id, 40, "%s", json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
}

/* The token id inside a bearer token: "cst_" || 20 hex || "_" || secret -> "tk_" || 20 hex. */
static void token_id(const char *tok, char id[40])
{
    assert_true(strlen(tok) > 25 && strncmp(tok, "cst_", 4) == 0);
    snprintf(id, 40, "tk_%.20s", tok + 4);
}

/* ISO-1: acme's owner names beta's owner by id: every verb is 404 and nothing changes (without
 * the tenant check, acme's owner could reset beta's owner's password and take the tenant). */
static void test_iso1_owner_cannot_reach_another_tenants_user(void **state)
{
    char beta_owner[40], path[96], code[64];
    user_id_of(beta, "owner", beta_owner);
    snprintf(path, sizeof(path), "/v1/users/%s", beta_owner);
    assert_int_equal(req("GET", path, owner, NULL, code, sizeof(code)), 404);
    assert_string_equal(code, "not_found");
    ts_resp r;
    ts_json_req(&srv, "PATCH", path, owner, "{\"reset_password\":true}", &r);
    assert_int_equal(r.status, 404);
    assert_null(json_object_get(r.json, "password")); /* no one-time password handed out */
    ts_resp_free(&r);
    assert_int_equal(req("PATCH", path, owner, "{\"disabled\":true}", code, sizeof(code)), 404);
    assert_int_equal(req("PATCH", path, owner, "{\"roles\":[\"reader\"]}", code, sizeof(code)),
                     404);
    assert_int_equal(req("DELETE", path, owner, NULL, code, sizeof(code)), 404);
    /* beta's owner is untouched: the session still works, the user is enabled, an owner, and
     * the password is the one it was */
    ts_request(&srv, "GET", path, beta, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_false(json_is_true(json_object_get(r.json, "disabled")));
    assert_non_null(strstr(r.body, "owner"));
    ts_resp_free(&r);
    char *again = ts_login(&srv, "beta", "owner", TS_PASSWORD);
    assert_non_null(again);
    assert_int_equal(req("GET", "/v1/tenant", again, NULL, code, sizeof(code)), 200);
    free(again);
    /* the same verbs on acme's own user do work, so the 404s above are the tenant check */
    char mine[40];
    free(ts_user_create(&srv, owner, "acme", "ursula", "[\"reader\"]", "[\"a\"]", false, mine));
    snprintf(path, sizeof(path), "/v1/users/%s", mine);
    assert_int_equal(req("GET", path, owner, NULL, code, sizeof(code)), 200);
    assert_int_equal(req("DELETE", path, owner, NULL, code, sizeof(code)), 204);
}

/* IAM-4: a writer sees and revokes only its own tokens; owners and admins see the tenant's. */
static void test_iam4_writer_sees_and_revokes_only_own_tokens(void **state)
{
    char w1_id[40], code[64], path[96];
    char *w1 =
        ts_user_create(&srv, owner, "acme", "wanda", "[\"writer\"]", "[\"a\"]", false, w1_id);
    char *w2 = ts_user_create(&srv, owner, "acme", "walt", "[\"writer\"]", "[\"a\"]", false, NULL);
    char w1_tok[128], w1_tid[40], w2_tok[128], w2_tid[40], o_tok[128], o_tid[40];
    api_token(w1, "{\"name\":\"w1\",\"permissions\":[\"records.read\"]}", w1_tok, w1_tid);
    api_token(w2, "{\"name\":\"w2\",\"permissions\":[\"records.read\"]}", w2_tok, w2_tid);
    api_token(owner, "{\"name\":\"own\",\"permissions\":[\"records.read\"]}", o_tok, o_tid);
    /* the writer's list holds its own tokens only */
    ts_resp r;
    ts_request(&srv, "GET", "/v1/tokens", w1, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *list = json_object_get(r.json, "tokens");
    assert_true(json_array_size(list) >= 1);
    bool saw_own = false;
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        assert_string_equal(json_string_value(json_object_get(t, "user_id")), w1_id);
        assert_string_not_equal(id, w2_tid);
        assert_string_not_equal(id, o_tid);
        saw_own |= strcmp(id, w1_tid) == 0;
    }
    assert_true(saw_own);
    ts_resp_free(&r);
    /* nor can it revoke another's: 404, and the token keeps working */
    snprintf(path, sizeof(path), "/v1/tokens/%s", w2_tid);
    assert_int_equal(req("DELETE", path, w1, NULL, code, sizeof(code)), 404);
    snprintf(path, sizeof(path), "/v1/tokens/%s", o_tid);
    assert_int_equal(req("DELETE", path, w1, NULL, code, sizeof(code)), 404);
    assert_int_equal(req("GET", "/v1/buckets/a/records", w2_tok, NULL, code, sizeof(code)), 200);
    assert_int_equal(req("GET", "/v1/buckets/a/records", o_tok, NULL, code, sizeof(code)), 200);
    /* the owner sees the writers' tokens and may revoke them */
    ts_request(&srv, "GET", "/v1/tokens", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, w2_tid));
    assert_non_null(strstr(r.body, w1_tid));
    ts_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tokens/%s", w2_tid);
    assert_int_equal(req("DELETE", path, owner, NULL, code, sizeof(code)), 204);
    assert_int_equal(req("GET", "/v1/buckets/a/records", w2_tok, NULL, code, sizeof(code)), 401);
    /* the writer revokes its own */
    snprintf(path, sizeof(path), "/v1/tokens/%s", w1_tid);
    assert_int_equal(req("DELETE", path, w1, NULL, code, sizeof(code)), 204);
    assert_int_equal(req("GET", "/v1/buckets/a/records", w1_tok, NULL, code, sizeof(code)), 401);
    free(w1);
    free(w2);
}

/* IAM-4: a grant names a whole bucket: "a" does not reach "ab", nor "ab" reach "a". */
static void test_iam4_grant_matches_whole_bucket_name(void **state)
{
    char code[64];
    char *ga = ts_user_create(&srv, owner, "acme", "gail", "[\"writer\"]", "[\"a\"]", false, NULL);
    char *gab =
        ts_user_create(&srv, owner, "acme", "gabe", "[\"writer\"]", "[\"ab\"]", false, NULL);
    assert_int_equal(ts_put(&srv, owner, "ab", "k", "text/plain", "v", 1), 201);
    assert_int_equal(ts_put(&srv, ga, "a", "k", "text/plain", "v", 1), 201);
    assert_int_equal(ts_put(&srv, ga, "ab", "k", "text/plain", "x", 1), 403);
    assert_int_equal(req("GET", "/v1/buckets/ab/records", ga, NULL, code, sizeof(code)), 403);
    assert_string_equal(code, "forbidden");
    assert_int_equal(req("GET", "/v1/buckets/ab/records/k", ga, NULL, code, sizeof(code)), 403);
    assert_int_equal(req("DELETE", "/v1/buckets/ab/records/k", ga, NULL, code, sizeof(code)), 403);
    assert_int_equal(ts_put(&srv, gab, "ab", "k2", "text/plain", "v", 1), 201);
    assert_int_equal(ts_put(&srv, gab, "a", "k2", "text/plain", "v", 1), 403);
    assert_int_equal(req("GET", "/v1/buckets/a/records", gab, NULL, code, sizeof(code)), 403);
    /* nothing changed in ab: its record is the owner's "v" */
    ts_resp r;
    ts_request(&srv, "GET", "/v1/buckets/ab/records/k", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 1);
    assert_memory_equal(r.body, "v", 1);
    ts_resp_free(&r);
    free(ga);
    free(gab);
}

/* IAM-7: an allowlist prefix that ends inside a byte, through the real source addresses:
 * 127.0.0.0/31 holds 127.0.0.1 (its last address) and not 127.0.0.2 (one above), which
 * shares every whole byte of the prefix. */
static void test_iam7_allowlist_prefix_inside_a_byte(void **state)
{
    char code[64];
    char *rd = ts_user_create(&srv, owner, "acme", "ines", "[\"reader\"]", "[\"*\"]", false, NULL);
    assert_int_equal(req("PATCH", "/v1/tenant", owner, "{\"ip_allowlist\":[\"127.0.0.0/31\"]}",
                         code, sizeof(code)),
                     200);
    assert_int_equal(req("GET", "/v1/buckets/a/records", rd, NULL, code, sizeof(code)), 200);
    strcpy(srv.source_ip, "127.0.0.2");
    assert_int_equal(req("GET", "/v1/buckets/a/records", rd, NULL, code, sizeof(code)), 403);
    assert_string_equal(code, "ip_not_allowed");
    /* the owner is bound too: no change of the list from outside it */
    assert_int_equal(req("PATCH", "/v1/tenant", owner, "{\"ip_allowlist\":[]}", code, sizeof(code)),
                     403);
    assert_string_equal(code, "ip_not_allowed");
    srv.source_ip[0] = '\0';
    /* 127.0.0.2/31 holds .2 and .3, not .1 (one below): the admin at .1 is refused the change */
    assert_int_equal(req("PATCH", "/v1/tenant", owner, "{\"ip_allowlist\":[\"127.0.0.2/31\"]}",
                         code, sizeof(code)),
                     409);
    assert_int_equal(req("PATCH", "/v1/tenant", owner, "{\"ip_allowlist\":[]}", code, sizeof(code)),
                     200);
    strcpy(srv.source_ip, "127.0.0.2");
    assert_int_equal(req("GET", "/v1/buckets/a/records", rd, NULL, code, sizeof(code)), 200);
    srv.source_ip[0] = '\0';
    free(rd);
}

static size_t backup_count(void)
{
    ts_resp r;
    ts_request(&srv, "GET", "/v1/sys/backups", op, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    size_t n = json_array_size(json_object_get(r.json, "backups"));
    ts_resp_free(&r);
    return n;
}

/* POST routes without a body accept the "{}" many HTTP clients send, and nothing else. */
static void test_bodyless_post_accepts_empty_object(void **state)
{
    char code[64];
    ts_resp r;
    char *u = ts_user_create(&srv, owner, "acme", "ellen", "[\"reader\"]", "[\"a\"]", false, NULL);
    /* POST /v1/auth/totp: anything but an empty object is refused with a clear message */
    ts_json_req(&srv, "POST", "/v1/auth/totp", u, "{\"a\":1}", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(ts_err(&r), "invalid_request");
    assert_non_null(strstr(r.body, "empty JSON object"));
    ts_resp_free(&r);
    assert_int_equal(ts_status(&srv, "POST", "/v1/auth/totp", u, "[]", NULL, 0), 400);
    ts_json_req(&srv, "POST", "/v1/auth/totp", u, "{}", &r);
    assert_int_equal(r.status, 201);
    assert_non_null(json_object_get(r.json, "secret"));
    ts_resp_free(&r);
    /* another content type, and a body over the small limit */
    ts_request(&srv, "POST", "/v1/auth/totp", u, "text/plain", "{}", 2, NULL, &r);
    assert_int_equal(r.status, 415);
    ts_resp_free(&r);
    char big[200];
    memset(big, ' ', sizeof(big));
    big[0] = '{';
    big[sizeof(big) - 1] = '}';
    ts_request(&srv, "POST", "/v1/auth/totp", u, "application/json", big, sizeof(big), NULL, &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(ts_err(&r), "payload_too_large");
    assert_non_null(strstr(r.body, "takes no body"));
    ts_resp_free(&r);
    /* POST /v1/auth/logout: a refused body changes nothing; "{}" with whitespace logs out */
    assert_int_equal(req("POST", "/v1/auth/logout", u, "{\"all\":true}", code, sizeof(code)), 400);
    assert_int_equal(req("GET", "/v1/tenant", u, NULL, code, sizeof(code)), 200);
    assert_int_equal(req("POST", "/v1/auth/logout", u, " {\n\t} \r\n", code, sizeof(code)), 204);
    assert_int_equal(req("GET", "/v1/tenant", u, NULL, code, sizeof(code)), 401);
    free(u);
    /* no body is still fine */
    u = ts_login(&srv, "acme", "ellen", TS_PASSWORD);
    assert_non_null(u);
    assert_int_equal(req("POST", "/v1/auth/logout", u, NULL, code, sizeof(code)), 204);
    free(u);
    /* POST /v1/sys/backups: "{}" takes a backup, "{"a":1}" does not */
    size_t before = backup_count();
    assert_int_equal(ts_status(&srv, "POST", "/v1/sys/backups", op, "{\"a\":1}", NULL, 0), 400);
    assert_int_equal(backup_count(), before);
    assert_int_equal(ts_status(&srv, "POST", "/v1/sys/backups", op, "{}", NULL, 0), 201);
    assert_int_equal(backup_count(), before + 1);
    assert_int_equal(ts_status(&srv, "POST", "/v1/sys/backups", op, NULL, NULL, 0), 201);
    assert_int_equal(backup_count(), before + 2);
    /* a GET still takes no body at all */
    assert_int_equal(ts_status(&srv, "GET", "/v1/tenant", owner, "{}", NULL, 0), 413);
}

/* IAM-9: an API token past its expires_at, and sessions past the node's absolute maximum or a
 * tenant's shorter session_max_seconds, are refused. Their timestamps are moved back in
 * the system store while the server is stopped; each aged credential keeps a recent last use (and a
 * session its original expires_at), so only the check named fails it. Last: it restarts. */
static void test_iam9_expired_token_and_session_max_age(void **state)
{
    char code[64];
    char *tim = ts_user_create(&srv, owner, "acme", "tim", "[\"reader\"]", "[\"*\"]", false, NULL);
    char *tim2 = ts_login(&srv, "acme", "tim", TS_PASSWORD);
    assert_non_null(tim2);
    char *bob = ts_user_create(&srv, beta, "beta", "bob", "[\"reader\"]", "[\"*\"]", false, NULL);
    char expiring[128], expiring_id[40], lasting[128], lasting_id[40];
    api_token(tim,
              "{\"name\":\"exp\",\"permissions\":[\"records.read\"],"
              "\"expires_at\":\"2099-01-01T00:00:00Z\"}",
              expiring, expiring_id);
    api_token(tim, "{\"name\":\"forever\",\"permissions\":[\"records.read\"]}", lasting,
              lasting_id);
    /* acme shortens its sessions to the smallest allowed maximum, 300 s */
    assert_int_equal(
        req("PATCH", "/v1/tenant", owner, "{\"session_max_seconds\":300}", code, sizeof(code)),
        200);
    char tim_sid[40], tim2_sid[40], bob_sid[40];
    token_id(tim, tim_sid);
    token_id(tim2, tim2_sid);
    token_id(bob, bob_sid);

    assert_int_equal(ts_stop(&srv), 0);
    const long long us = 1000000LL;
    char sql[4][200];
    snprintf(sql[0], sizeof(sql[0]), "UPDATE tokens SET expires_at = %lld WHERE id = '%s'",
             (long long)time(NULL) * us - us, expiring_id);
    snprintf(sql[1], sizeof(sql[1]),
             "UPDATE tokens SET created_at = created_at - %lld WHERE id = '%s'", 301 * us, tim_sid);
    snprintf(sql[2], sizeof(sql[2]),
             "UPDATE tokens SET created_at = created_at - %lld WHERE id = '%s'", 200 * us,
             tim2_sid);
    snprintf(sql[3], sizeof(sql[3]),
             "UPDATE tokens SET created_at = created_at - %lld WHERE id = '%s'",
             (12 * 3600 + 1) * us, bob_sid);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(ts_sys_sql(&srv, sql[i]), 0);
    assert_true(ts_start(&srv));

    /* the expired API token; its sibling without expiry still works */
    ts_resp r;
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/a/records", expiring, NULL, NULL, 0), 401);
    assert_int_equal(req("GET", "/v1/buckets/a/records", lasting, NULL, code, sizeof(code)), 200);
    /* 301 s old under acme's 300 s maximum; 200 s old is still fine */
    ts_request(&srv, "GET", "/v1/tenant", tim, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "maximum age"));
    ts_resp_free(&r);
    assert_int_equal(req("GET", "/v1/tenant", tim2, NULL, code, sizeof(code)), 200);
    /* 12 h + 1 s old under the node's absolute maximum (beta keeps the default) */
    ts_request(&srv, "GET", "/v1/tenant", bob, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "maximum age"));
    ts_resp_free(&r);
    assert_int_equal(req("GET", "/v1/tenant", beta, NULL, code, sizeof(code)), 200);
    free(tim);
    free(tim2);
    free(bob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso1_owner_cannot_reach_another_tenants_user),
        cmocka_unit_test(test_iam4_writer_sees_and_revokes_only_own_tokens),
        cmocka_unit_test(test_iam4_grant_matches_whole_bucket_name),
        cmocka_unit_test(test_iam7_allowlist_prefix_inside_a_byte),
        cmocka_unit_test(test_bodyless_post_accepts_empty_object),
        cmocka_unit_test(test_iam9_expired_token_and_session_max_age),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
