/* test_api_detect.c: DET-1 intrusion detection against a real server: scripted attacks (brute
 * force, password spraying across tenants, a disallowed address, revoked token reuse,
 * exfiltration with a small configured minimum) each raise exactly one alert of the expected
 * type with the expected count; the spraying address gets 429 on login; the alert routes list,
 * filter, acknowledge and resolve, and a tenant sees only its own alerts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "crypto/crypto.h"
#include "node/alerts.h"
#include "node/detect.h"
#include "node/node.h"
#include "store/store.h"
#include "util/util.h"

static ts_server srv;
static char *op, *sec, *owner, *beta;
static char acme_id[32], beta_id[32];

static int setup(void **state)
{
    (void)state;
    ts_init(&srv);
    /* login throttles out of the way of the scripted attacks; exfiltration at 5 records */
    snprintf(srv.extra_config, sizeof(srv.extra_config),
             "[auth]\nlogin_rate_per_ip = 1000\nlogin_rate_per_account = 1000\n"
             "[detect]\nexfiltration_min_records = 5\n");
    if (!(owner = ts_start_tenant(&srv, &op, "acme", acme_id)))
        return -1;
    beta = ts_tenant(&srv, op, "beta", beta_id);
    sec = ts_sys_operator(&srv, op, "watcher", "sys-security");
    ts_bucket(&srv, owner, "b");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return ts_finish(&srv, 4, op, sec, owner, beta);
}

/* Requests from another local address. */
static void from(const char *ip)
{
    snprintf(srv.source_ip, sizeof(srv.source_ip), "%s", ip);
}

static long login_status(const char *tenant, const char *user, const char *pw, char *code, size_t n)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"tenant\":\"%s\",\"username\":\"%s\",\"password\":\"%s\"}",
             tenant, user, pw);
    return ts_status(&srv, "POST", "/v1/auth/login", NULL, body, code, n);
}

/* The alerts of GET path (asserts 200); the caller decrefs. */
static json_t *alerts(const char *path, const char *token)
{
    ts_resp r;
    ts_request(&srv, "GET", path, token, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *a = json_incref(json_object_get(r.json, "alerts"));
    assert_non_null(a);
    ts_resp_free(&r);
    return a;
}

/* The one alert of type (asserts there is exactly one); the caller decrefs. */
static json_t *only_alert(const char *type)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/sys/alerts?type=%s", type);
    json_t *a = alerts(path, sec);
    assert_int_equal(json_array_size(a), 1);
    json_t *one = json_incref(json_array_get(a, 0));
    json_decref(a);
    assert_string_equal(json_string_value(json_object_get(one, "type")), type);
    assert_string_equal(json_string_value(json_object_get(one, "status")), "open");
    return one;
}

static long long count_of(const json_t *a)
{
    return (long long)json_integer_value(json_object_get(a, "count"));
}

static const char *str_of(const json_t *a, const char *k)
{
    const char *s = json_string_value(json_object_get(a, k));
    return s ? s : "(null)";
}

/* DET-1: 7 failed logins against one account (the 6th locks it, the 7th is refused as
 * locked): one brute_force alert counting all 7. */
static void test_det1_brute_force(void **state)
{
    (void)state;
    char uid[64];
    char *victim = ts_user_create(&srv, owner, "acme", "victim", "[\"reader\"]", NULL, false, uid);
    free(victim);
    for (int i = 0; i < 7; i++) {
        long st = login_status("acme", "victim", "wrong-password-guess-123", NULL, 0);
        assert_true(st == 401 || st == 423);
    }
    json_t *a = only_alert("brute_force");
    assert_int_equal(count_of(a), 7);
    assert_string_equal(str_of(a, "severity"), "high");
    assert_string_equal(str_of(a, "tenant"), acme_id);
    assert_string_equal(str_of(a, "principal"), uid);
    assert_string_equal(str_of(a, "source_ip"), "127.0.0.1");
    /* the alert is one entry of the security stream, in the tenant's trail too (LOG-4) */
    char resource[64];
    snprintf(resource, sizeof(resource), "alert/%s", str_of(a, "id"));
    json_decref(a);
    ts_resp r;
    ts_request(&srv, "GET", "/v1/audit?limit=1000", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    int raised = 0;
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(r.json, "entries"), i, e)
    {
        raised += !strcmp(str_of(e, "action"), "alert.raised") &&
                  !strcmp(str_of(e, "resource"), resource);
    }
    ts_resp_free(&r);
    assert_int_equal(raised, 1);
}

/* DET-1: one address fails against 10 distinct accounts in two tenants (existing or not):
 * one password_spraying alert, no brute_force beyond the first test's; from then on the
 * address gets 429 on login (rate_limited, even with the right password), others do not. */
static void test_det1_password_spraying(void **state)
{
    (void)state;
    from("127.0.0.2");
    char user[32], code[64];
    for (int i = 0; i < 12; i++) {
        snprintf(user, sizeof(user), "sprayed%d", i);
        long st = login_status(i % 2 ? "acme" : "beta", user, "Summer2026!Summer2026!", code,
                               sizeof(code));
        /* the 10th raises the alert; from then on the address gets 429 */
        assert_int_equal(st, i < 10 ? 401 : 429);
    }
    json_t *a = only_alert("password_spraying");
    assert_int_equal(count_of(a), 10);
    assert_string_equal(str_of(a, "source_ip"), "127.0.0.2");
    assert_true(json_is_null(json_object_get(a, "tenant")));
    json_decref(a);
    json_decref(only_alert("brute_force"));
    assert_int_equal(login_status("acme", "owner", TS_PASSWORD, code, sizeof(code)), 429);
    assert_string_equal(code, "rate_limited");
    from("");
    char *ok = ts_login(&srv, "acme", "owner", TS_PASSWORD);
    assert_non_null(ok);
    free(ok);
}

/* DET-1: three requests refused by the tenant's IP allowlist: one disallowed_ip alert. */
static void test_det1_disallowed_ip(void **state)
{
    (void)state;
    assert_int_equal(ts_status(&srv, "PATCH", "/v1/tenant", beta,
                               "{\"ip_allowlist\":[\"127.0.0.1/32\"]}", NULL, 0),
                     200);
    from("127.0.0.3");
    char code[64];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ts_status(&srv, "GET", "/v1/tenant", beta, NULL, code, sizeof(code)), 403);
        assert_string_equal(code, "ip_not_allowed");
    }
    from("");
    assert_int_equal(ts_status(&srv, "PATCH", "/v1/tenant", beta, "{\"ip_allowlist\":[]}", NULL, 0),
                     200);
    json_t *a = only_alert("disallowed_ip");
    assert_int_equal(count_of(a), 3);
    assert_string_equal(str_of(a, "tenant"), beta_id);
    assert_string_equal(str_of(a, "source_ip"), "127.0.0.3");
    assert_string_equal(str_of(a, "severity"), "medium");
    json_decref(a);
}

/* DET-1: a deleted API token presented twice and a logged-out session once: one
 * revoked_credential alert counting 3. A token that never existed raises nothing. */
static void test_det1_revoked_token(void **state)
{
    (void)state;
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/tokens", owner,
                "{\"name\":\"ci\",\"permissions\":[\"buckets.admin\"]}", &r);
    assert_int_equal(r.status, 201);
    char *tok = strdup(str_of(r.json, "token"));
    char path[96];
    snprintf(path, sizeof(path), "/v1/tokens/%s", str_of(r.json, "id"));
    ts_resp_free(&r);
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets", tok, NULL, NULL, 0), 200);
    assert_int_equal(ts_status(&srv, "DELETE", path, owner, NULL, NULL, 0), 204);
    from("127.0.0.4");
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets", tok, NULL, NULL, 0), 401);
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets", tok, NULL, NULL, 0), 401);
    free(tok);
    /* a made-up token is not a revoked one */
    assert_int_equal(
        ts_status(&srv, "GET", "/v1/buckets",
                  "cst_tk_00000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL,
                  NULL, 0),
        401);
    char *session = ts_login(&srv, "acme", "owner", TS_PASSWORD);
    assert_non_null(session);
    assert_int_equal(ts_status(&srv, "POST", "/v1/auth/logout", session, NULL, NULL, 0), 204);
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets", session, NULL, NULL, 0), 401);
    free(session);
    from("");
    json_t *a = only_alert("revoked_credential");
    assert_int_equal(count_of(a), 3);
    assert_string_equal(str_of(a, "source_ip"), "127.0.0.4");
    json_decref(a);
}

/* DET-1: a principal with no history reads 6 records in an hour with the minimum at 5: one
 * exfiltration alert, raised at the 5th read and counting all 6 records; an export of the
 * same 6 adds to it. */
static void test_det1_exfiltration(void **state)
{
    (void)state;
    char key[16], path[96];
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(ts_put(&srv, owner, "b", key, "text/plain", "v", 1), 201);
    }
    char path4[96];
    snprintf(path4, sizeof(path4), "/v1/sys/alerts?type=exfiltration");
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof(path), "/v1/buckets/b/records/k%d", i);
        assert_int_equal(ts_status(&srv, "GET", path, owner, NULL, NULL, 0), 200);
        json_t *l = alerts(path4, sec);
        assert_int_equal(json_array_size(l), i >= 4 ? 1 : 0); /* none before the 5th */
        json_decref(l);
    }
    json_t *a = only_alert("exfiltration");
    assert_int_equal(count_of(a), 6);
    assert_string_equal(str_of(a, "tenant"), acme_id);
    assert_string_equal(str_of(a, "severity"), "critical");
    json_decref(a);
    /* an export's records count too, once its stream has ended: 6 more */
    assert_int_equal(ts_status(&srv, "GET", "/v1/export", owner, NULL, NULL, 0), 200);
    long long count = 0;
    for (double end = ts_now_s() + 5; count != 12 && ts_now_s() < end;) {
        a = only_alert("exfiltration");
        count = count_of(a);
        json_decref(a);
    }
    assert_int_equal(count, 12);
}

/* Exactly the five expected alerts, once each; a tenant sees only its own; operators
 * acknowledge, link and resolve; bad changes are refused. */
static void test_det1_alert_routes(void **state)
{
    (void)state;
    json_t *all = alerts("/v1/sys/alerts", sec);
    assert_int_equal(json_array_size(all), 5);
    const char *want[] = {"brute_force", "password_spraying", "disallowed_ip", "revoked_credential",
                          "exfiltration"};
    for (size_t i = 0; i < 5; i++) {
        int seen = 0;
        for (size_t j = 0; j < json_array_size(all); j++)
            seen += strcmp(str_of(json_array_get(all, j), "type"), want[i]) == 0;
        assert_int_equal(seen, 1);
    }
    json_decref(all);
    json_t *mine = alerts("/v1/alerts", beta);
    assert_int_equal(json_array_size(mine), 1);
    assert_string_equal(str_of(json_array_get(mine, 0), "type"), "disallowed_ip");
    json_decref(mine);
    mine = alerts("/v1/alerts", owner);
    for (size_t j = 0; j < json_array_size(mine); j++)
        assert_string_equal(str_of(json_array_get(mine, j), "tenant"), acme_id);
    assert_int_equal(json_array_size(mine), 2); /* brute_force, exfiltration */
    json_decref(mine);
    char code[64];
    assert_int_equal(ts_status(&srv, "GET", "/v1/sys/alerts", owner, NULL, code, sizeof(code)),
                     403);
    assert_int_equal(ts_status(&srv, "GET", "/v1/sys/alerts?status=bogus", sec, NULL, NULL, 0),
                     400);

    json_t *a = only_alert("brute_force");
    char path[96];
    snprintf(path, sizeof(path), "/v1/sys/alerts/%s", str_of(a, "id"));
    json_decref(a);
    assert_int_equal(ts_status(&srv, "PATCH", path, sec, "{\"status\":\"open\"}", NULL, 0), 400);
    assert_int_equal(ts_status(&srv, "PATCH", path, sec, "{\"status\":\"acknowledged\"}", NULL, 0),
                     200);
    assert_int_equal(ts_status(&srv, "PATCH", path, sec,
                               "{\"incident_id\":\"in_0123456789abcdef0123\"}", NULL, 0),
                     200);
    ts_resp r;
    ts_request(&srv, "GET", path, sec, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(str_of(r.json, "status"), "acknowledged");
    assert_string_equal(str_of(r.json, "incident_id"), "in_0123456789abcdef0123");
    ts_resp_free(&r);
    assert_int_equal(ts_status(&srv, "PATCH", path, sec, "{\"status\":\"resolved\"}", NULL, 0),
                     200);
    assert_int_equal(
        ts_status(&srv, "PATCH", path, sec, "{\"status\":\"acknowledged\"}", code, sizeof(code)),
        409);
    json_t *open = alerts("/v1/sys/alerts?status=open", sec);
    assert_int_equal(json_array_size(open), 4);
    json_decref(open);
    assert_int_equal(
        ts_status(&srv, "GET", "/v1/sys/alerts/al_00000000000000000000", sec, NULL, NULL, 0), 404);
}

/* The DET-1 row of the node's report (sys-security may read it); the caller decrefs. */
static json_t *det1_row(void)
{
    ts_resp r;
    ts_request(&srv, "GET", "/v1/sys/report", sec, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *row = NULL, *c;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(r.json, "report"), "controls"), i, c)
    {
        if (!strcmp(str_of(c, "id"), "DET-1"))
            row = json_incref(c);
    }
    ts_resp_free(&r);
    assert_non_null(row);
    return row;
}

static json_t *evidence(const json_t *row, const char *name)
{
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(row, "evidence"), i, e)
    {
        if (!strcmp(str_of(e, "name"), name))
            return json_object_get(e, "value");
    }
    fail_msg("DET-1 has no evidence %s", name);
    return NULL;
}

/* Changes the first character of the first action in the security stream (LOG-2). */
/* DET-1 in the report: pass with the open alerts by type as evidence; an audit verification
 * that finds a changed byte raises one audit_integrity alert and turns the row red until the
 * alert is resolved. */
static void test_det1_audit_integrity_and_report(void **state)
{
    (void)state;
    json_t *row = det1_row();
    assert_string_equal(str_of(row, "status"), "pass");
    json_t *by_type = evidence(row, "open_alerts_by_type");
    assert_int_equal(json_object_size(by_type), 4); /* brute_force is resolved */
    assert_int_equal(json_integer_value(json_object_get(by_type, "exfiltration")), 1);
    assert_null(json_object_get(by_type, "brute_force"));
    json_decref(row);

    /* the first action begins with a lower-case letter; an upper-case X breaks the chain */
    char orig = ts_audit_first_action(&srv);
    ts_audit_poke_first_action(&srv, 'X');
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/sys/audit/verify", sec, "{}", &r);
    assert_int_equal(r.status, 200);
    assert_false(json_is_true(json_object_get(r.json, "ok")));
    ts_resp_free(&r);
    ts_audit_poke_first_action(&srv, orig);
    json_t *a = only_alert("audit_integrity");
    assert_string_equal(str_of(a, "severity"), "critical");
    assert_int_equal(count_of(a), 1);
    char apath[96];
    snprintf(apath, sizeof(apath), "/v1/sys/alerts/%s", str_of(a, "id"));
    json_decref(a);
    row = det1_row();
    assert_string_equal(str_of(row, "status"), "fail");
    json_decref(row);
    assert_int_equal(ts_status(&srv, "PATCH", apath, sec, "{\"status\":\"resolved\"}", NULL, 0),
                     200);
    row = det1_row();
    assert_string_equal(str_of(row, "status"), "pass");
    json_decref(row);
}

typedef struct alert_rows {
    cst_alert_row rows[200];
    size_t n;
} alert_rows;

static cst_err keep_row(const cst_alert_row *a, void *ctx)
{
    alert_rows *r = ctx;
    if (r->n < sizeof(r->rows) / sizeof(r->rows[0]))
        r->rows[r->n++] = *a;
    return CST_OK;
}

/* The alert table is bounded whatever an attacker does: past alerts.max_open, occurrences that
 * would open new alerts go to one overflow alert of their type, which counts them; resolved
 * alerts go after alerts.retention_days (not before). */
static void test_det1_alert_table_bounded(void **state)
{
    (void)state;
    assert_int_equal(ts_stop(&srv), 0);
    cst_node n;
    ts_node_open(&srv, &n);
    int64_t open0 = 0, open = 0, now = cst_now_us();
    assert_int_equal(cst_store_alert_count_open(n.store, NULL, &open0), CST_OK);
    n.cfg.alerts_max_open = (int)open0 + 20;
    for (int i = 0; i < 50; i++) { /* 50 distinct sources refused by an allowlist */
        char ip[32];
        snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
        cst_alert_event ev = {.type = "disallowed_ip",
                              .dedup_key = ip,
                              .source_ip = ip,
                              .summary = "refused by the allowlist"};
        assert_int_equal(cst_alert_raise(&n, &ev, now + i, NULL), CST_OK);
    }
    assert_int_equal(cst_store_alert_count_open(n.store, NULL, &open), CST_OK);
    assert_int_equal(open, open0 + 21); /* the 20 that fit, and the overflow alert */
    cst_alert_row flood;
    assert_int_equal(cst_store_alert_find(n.store, NULL, "disallowed_ip", "overflow", &flood),
                     CST_OK);
    assert_int_equal(flood.count, 30);
    assert_string_equal(flood.source_ip, "");
    /* another type overflows into its own alert, once */
    cst_alert_event other = {.type = "brute_force", .dedup_key = "acme/someone"};
    assert_int_equal(cst_alert_raise(&n, &other, now + 60, NULL), CST_OK);
    assert_int_equal(
        cst_alert_raise(&n, &(cst_alert_event){.type = "brute_force", .dedup_key = "acme/other"},
                        now + 61, NULL),
        CST_OK);
    assert_int_equal(cst_store_alert_find(n.store, NULL, "brute_force", "overflow", &flood),
                     CST_OK);
    assert_int_equal(flood.count, 2);

    /* everything resolved: kept for alerts.retention_days (365), then deleted by the sweep */
    cst_alert_filter f = {.status = "", .type = "", .tenant = "", .after = "", .limit = 200};
    alert_rows *all = calloc(1, sizeof(*all));
    assert_non_null(all);
    assert_int_equal(cst_store_alert_list(n.store, NULL, &f, keep_row, all), CST_OK);
    for (size_t i = 0; i < all->n; i++) {
        snprintf(all->rows[i].status, sizeof(all->rows[i].status), "resolved");
        assert_int_equal(cst_store_alert_put(n.store, NULL, &all->rows[i]), CST_OK);
    }
    free(all);
    const char *count = "SELECT count(*) FROM alerts WHERE status = 'resolved'";
    long resolved = ts_sys_count(&srv, count);
    assert_true(resolved >= 20 + 2 + (long)open0);
    const int64_t day = 86400LL * 1000000;
    cst_detect_sweep(&n, now + 300 * day);
    assert_int_equal(ts_sys_count(&srv, count), resolved);
    cst_detect_sweep(&n, now + 400 * day);
    assert_int_equal(ts_sys_count(&srv, count), 0);
    cst_node_close(&n);
    assert_true(ts_start(&srv));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_det1_brute_force),
        cmocka_unit_test(test_det1_password_spraying),
        cmocka_unit_test(test_det1_disallowed_ip),
        cmocka_unit_test(test_det1_revoked_token),
        cmocka_unit_test(test_det1_exfiltration),
        cmocka_unit_test(test_det1_alert_routes),
        cmocka_unit_test(test_det1_audit_integrity_and_report),
        cmocka_unit_test(test_det1_alert_table_bounded),
    };
    if (cst_crypto_init() != CST_OK) /* the bounded-table test opens the node in-process */
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
