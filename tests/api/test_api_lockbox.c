/* test_api_lockbox.c: IAM-8 against a real server: an operator's read of tenant data is refused
 * without a grant and while the request is pending, allowed inside an approved window (records.read
 * only: a write is refused), refused after expiry, revocation and denial; the requester cannot
 * approve (even with a tenant account of the same name); a two-approver tenant needs two
 * distinct people; the tenant's audit view shows each operator request with the grant id and the
 * justification; break-glass opens an incident and a critical alert at once, is visible to the
 * tenant and stays review_pending until another security operator reviews it. */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/lockbox.h"
#include "node/node.h"
#include "report/report.h"
#include "util/util.h"
#include "harness.h"

static ts_server srv;
static char *op, *owner, *admin, *sup, *sup_twin, *sec, *glass, *glass_twin;
static char tenant[32];

static json_t *call(const char *method, const char *path, const char *token, const char *body,
                    long want)
{
    return ts_call(&srv, method, path, token, body, want);
}

static void expect(const char *method, const char *path, const char *token, const char *body,
                   long want)
{
    json_decref(call(method, path, token, body, want));
}

static long get_record(const char *token)
{
    return ts_status(&srv, "GET", "/v1/buckets/b/records/k", token, NULL, NULL, 0);
}

/* sup's request for records.read on bucket b (duration_seconds d): its id into id. */
static void request(long d, char id[32])
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"tenant\":\"%s\",\"reason\":\"customer_support\",\"justification\":\"case 42: "
             "customer cannot read k\",\"ticket\":\"SUP-42\",\"scope\":{\"permissions\":"
             "[\"records.read\"],\"buckets\":[\"b\"]},\"duration_seconds\":%ld}",
             tenant, d);
    json_t *o = call("POST", "/v1/sys/access-requests", sup, body, 201);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "pending");
    assert_non_null(json_string_value(json_object_get(o, "expires_at")));
    snprintf(id, 32, "%s", json_string_value(json_object_get(o, "id")));
    json_decref(o);
}

/* An access request by token for tenant_id with the permissions perms (JSON names, joined) on
 * bucket b, answered want; its id into id (when 201) and its requester into requester (when not
 * NULL). */
static void ask(const char *token, const char *tenant_id, const char *perms, long want, char id[32],
                char requester[32])
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"tenant\":\"%s\",\"reason\":\"customer_support\",\"justification\":\"case "
             "43\",\"scope\":{\"permissions\":[%s],\"buckets\":[\"b\"]},\"duration_seconds\":600}",
             tenant_id, perms);
    json_t *o = call("POST", "/v1/sys/access-requests", token, body, want);
    if (want == 201)
        snprintf(id, 32, "%s", json_string_value(json_object_get(o, "id")));
    if (want == 201 && requester)
        snprintf(requester, 32, "%s", json_string_value(json_object_get(o, "requester")));
    json_decref(o);
}

#define path(out, n, fmt, id) snprintf(out, n, fmt, id)

/* The deliveries queued to the tenant's webhook about access request id with event. */
static int64_t told(const char *id, const char *event)
{
    char sql[400];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM webhook_deliveries WHERE tenant = '%s' AND body LIKE "
             "'%%\"%s\"%%' AND body LIKE '%%%s%%'",
             tenant, event, id);
    return ts_sys_count(&srv, sql);
}

/* The grant's credential (asserts 201 and the expires_at). */
static char *grant_token(const char *id)
{
    char p[128];
    path(p, sizeof(p), "/v1/sys/access-requests/%s/token", id);
    json_t *o = call("POST", p, sup, NULL, 201);
    assert_non_null(json_string_value(json_object_get(o, "expires_at")));
    char *t = strdup(json_string_value(json_object_get(o, "token")));
    json_decref(o);
    return t;
}

static const char *state_of(const char *id, json_t **keep)
{
    char p[128];
    path(p, sizeof(p), "/v1/access-requests/%s", id);
    *keep = call("GET", p, owner, NULL, 200);
    return json_string_value(json_object_get(*keep, "state"));
}

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0) /* the expiry test opens the node in this process */
        return -1;
    ts_init(&srv);
    owner = ts_start_tenant(&srv, &op, "lbx", tenant);
    if (!owner)
        return -1;
    /* first, so that its next two-factor code is ready when the break-glass needs it */
    glass = ts_sys_operator(&srv, op, "glass1", "sys-admin\",\"sys-security");
    sup = ts_sys_operator(&srv, op, "sup1", "sys-support");
    sec = ts_sys_operator(&srv, op, "sec1", "sys-security");
    /* a second operator account of the break-glass user's person (the same name, cased) */
    glass_twin = ts_sys_operator(&srv, op, "GLASS1", "sys-security");
    admin = ts_user_create(&srv, owner, "lbx", "admin1", "[\"admin\"]", NULL, true, NULL);
    /* the requester's namesake in the tenant (the same person, by the rule) */
    sup_twin = ts_user_create(&srv, owner, "lbx", "SUP1", "[\"admin\"]", NULL, true, NULL);
    /* the tenant is told at once: its webhook (never reached here; the queue is checked) */
    expect("PATCH", "/v1/tenant", owner, "{\"alert_webhook_url\":\"http://127.0.0.1:9/lockbox\"}",
           200);
    ts_bucket(&srv, owner, "b");
    ts_bucket(&srv, owner, "c");
    assert_int_equal(ts_put(&srv, owner, "b", "k", "text/plain", "v1", 2), 201);
    assert_int_equal(ts_put(&srv, owner, "c", "k", "text/plain", "v2", 2), 201);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(admin);
    free(sup_twin);
    free(sec);
    free(glass);
    free(glass_twin);
    return ts_finish(&srv, 3, op, owner, sup);
}

static bool audit_has_grant(const char *grant_id, const char *action)
{
    json_t *o = call("GET", "/v1/audit?limit=1000", owner, NULL, 200);
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "entries"), i, e)
    {
        json_t *info = json_object_get(e, "info");
        const char *g = json_string_value(json_object_get(info, "grant_id"));
        const char *why = json_string_value(json_object_get(info, "justification"));
        const char *type = json_string_value(json_object_get(json_object_get(e, "actor"), "type"));
        const char *act = json_string_value(json_object_get(e, "action"));
        if (g && !strcmp(g, grant_id) && act && !strcmp(act, action)) {
            assert_string_equal(type, "operator");
            assert_non_null(why);
            assert_true(strlen(why) > 0);
            found = true;
        }
    }
    json_decref(o);
    return found;
}

/* The IAM-8 row of a report ({controls: [...]}), its status and one evidence value. */
static const char *iam8_row(json_t *rep, const char *evidence, json_t **value)
{
    size_t k, j;
    json_t *row, *ev;
    json_array_foreach(json_object_get(rep, "controls"), k, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "id")), "IAM-8") != 0)
            continue;
        json_array_foreach(json_object_get(row, "evidence"), j, ev)
        {
            if (evidence && !strcmp(json_string_value(json_object_get(ev, "name")), evidence))
                *value = json_object_get(ev, "value");
        }
        return json_string_value(json_object_get(row, "status"));
    }
    return "absent";
}

/* The IAM-8 status of the live report at path, as token. */
static void expect_report(const char *path_, const char *token, const char *status)
{
    json_t *o = call("GET", path_, token, NULL, 200);
    json_t *uses = NULL;
    assert_string_equal(iam8_row(json_object_get(o, "report"), "break_glass_uses", &uses), status);
    assert_true(json_integer_value(uses) >= 1);
    json_decref(o);
}

/* IAM-8: no grant, pending, approved window (read only), then revoked. */
static void test_iam8_operator_read_needs_an_approved_grant(void **state)
{
    (void)state;
    assert_int_equal(get_record(sup), 403); /* operators hold no tenant-data right */
    assert_int_equal(get_record(op), 403);
    char bad[512];
    snprintf(bad, sizeof(bad),
             "{\"tenant\":\"%s\",\"reason\":\"customer_support\",\"justification\":\"x\","
             "\"scope\":{\"permissions\":[\"users.admin\"],\"buckets\":\"*\"}}",
             tenant);
    expect("POST", "/v1/sys/access-requests", sup, bad, 400); /* never users.admin */
    char id[32], p[128];
    request(3600, id);
    assert_int_equal(told(id, "access_request.created"), 1);
    path(p, sizeof(p), "/v1/sys/access-requests/%s/token", id);
    expect("POST", p, sup, NULL, 409); /* pending: no credential */
    json_t *keep;
    assert_string_equal(state_of(id, &keep), "pending");
    json_decref(keep);
    /* the requester never approves, even holding a tenant account */
    path(p, sizeof(p), "/v1/access-requests/%s/approve", id);
    expect("POST", p, sup_twin, "{\"comment\":\"me\"}", 403);
    /* an approval shortens, never lengthens */
    expect("POST", p, owner, "{\"comment\":\"ok\",\"duration_seconds\":7200}", 400);
    json_t *o = call("POST", p, owner, "{\"comment\":\"ok\",\"duration_seconds\":1800}", 200);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "approved");
    assert_int_equal(json_integer_value(json_object_get(o, "duration_seconds")), 1800);
    assert_int_equal(json_array_size(json_object_get(o, "approvals")), 1);
    json_decref(o);
    char *g = grant_token(id);
    path(p, sizeof(p), "/v1/sys/access-requests/%s/token", id);
    expect("POST", p, sup, NULL, 409); /* once per grant */
    assert_int_equal(get_record(g), 200);
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/c/records/k", g, NULL, NULL, 0), 403);
    assert_int_equal(ts_put(&srv, g, "b", "k", "text/plain", "x", 1), 403); /* read only */
    assert_int_equal(ts_status(&srv, "GET", "/v1/tokens", g, NULL, NULL, 0), 403);
    assert_int_equal(ts_status(&srv, "GET", "/v1/users", g, NULL, NULL, 0), 403);
    assert_int_equal(ts_status(&srv, "GET", "/v1/sys/tenants", g, NULL, NULL, 0), 403);
    /* the tenant sees the use and each request in its audit view */
    assert_string_equal(state_of(id, &keep), "approved");
    json_t *use = json_object_get(keep, "use");
    assert_true(json_integer_value(json_object_get(use, "requests")) >= 6);
    assert_int_equal(json_integer_value(json_object_get(use, "records_read")), 1);
    json_decref(keep);
    assert_true(audit_has_grant(id, "record.read"));
    assert_true(audit_has_grant(id, "record.write"));
    /* a tenant token list does not show the grant's credential */
    o = call("GET", "/v1/tokens", owner, NULL, 200);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(o, "tokens"), i, t)
        assert_null(strstr(json_string_value(json_object_get(t, "name")), "lockbox"));
    json_decref(o);
    /* revoked: refused at once (the credential cache notwithstanding) */
    assert_int_equal(get_record(g), 200);
    path(p, sizeof(p), "/v1/access-requests/%s/revoke", id);
    expect("POST", p, owner, NULL, 200);
    assert_int_equal(get_record(g), 401);
    assert_int_equal(told(id, "access_request.approved"), 1);
    assert_int_equal(told(id, "access_request.revoked"), 1);
    assert_string_equal(state_of(id, &keep), "revoked");
    json_decref(keep);
    free(g);
}

/* IAM-8: a two-approver tenant needs two distinct people; a denial leaves nothing to use. */
static void test_iam8_two_approvers_and_denial(void **state)
{
    (void)state;
    expect("PATCH", "/v1/tenant", owner, "{\"lockbox_approvals\":3}", 400);
    expect("PATCH", "/v1/tenant", owner, "{\"lockbox_approvals\":2}", 200);
    char id[32], p[128];
    request(3600, id);
    path(p, sizeof(p), "/v1/access-requests/%s/approve", id);
    json_t *o = call("POST", p, owner, "{\"comment\":\"first\"}", 200);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "pending");
    json_decref(o);
    expect("POST", p, owner, "{\"comment\":\"again\"}", 409); /* not a second person */
    path(p, sizeof(p), "/v1/sys/access-requests/%s/token", id);
    expect("POST", p, sup, NULL, 409);
    path(p, sizeof(p), "/v1/access-requests/%s/approve", id);
    o = call("POST", p, admin, "{\"comment\":\"second\"}", 200);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "approved");
    assert_int_equal(json_array_size(json_object_get(o, "approvals")), 2);
    json_decref(o);
    char *g = grant_token(id);
    assert_int_equal(get_record(g), 200);
    path(p, sizeof(p), "/v1/access-requests/%s/revoke", id);
    expect("POST", p, admin, NULL, 200);
    assert_int_equal(get_record(g), 401);
    free(g);
    expect("PATCH", "/v1/tenant", owner, "{\"lockbox_approvals\":1}", 200);
    /* denied: no credential, no approval afterwards */
    request(3600, id);
    path(p, sizeof(p), "/v1/access-requests/%s/deny", id);
    expect("POST", p, owner, "{\"comment\":\"not needed\"}", 200);
    path(p, sizeof(p), "/v1/sys/access-requests/%s/token", id);
    expect("POST", p, sup, NULL, 409);
    path(p, sizeof(p), "/v1/access-requests/%s/approve", id);
    expect("POST", p, owner, "{\"comment\":\"late\"}", 409);
    assert_int_equal(get_record(sup), 403);
}

/* IAM-8: the window ends (and a pending request expires) by the clock: aged on the stopped node
 * as the IAM-2 tests age a lock. */
static void test_iam8_refused_after_expiry(void **state)
{
    (void)state;
    char id[32], pending[32], p[128];
    request(600, id);
    request(600, pending);
    path(p, sizeof(p), "/v1/access-requests/%s/approve", id);
    expect("POST", p, owner, "{\"comment\":\"ok\"}", 200);
    char *g = grant_token(id);
    assert_int_equal(get_record(g), 200);
    assert_int_equal(ts_stop(&srv), 0);
    const long long age = 13LL * 3600 * 1000000; /* past the window and past 12 h pending */
    char sql[2][400];
    snprintf(sql[0], sizeof(sql[0]),
             "UPDATE access_requests SET created_at = created_at - %lld, expires_at = expires_at "
             "- %lld, window_from = window_from - %lld, window_until = window_until - %lld WHERE "
             "id IN ('%s', '%s')",
             age, age, age, age, id, pending);
    snprintf(sql[1], sizeof(sql[1]),
             "UPDATE tokens SET expires_at = expires_at - %lld WHERE grant_id = '%s'", age, id);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(ts_sys_sql(&srv, sql[i]), 0);
    /* IAM-8's report row on the simulated clock: a break-glass left unreviewed warns, and
     * fails once it has waited more than a day */
    cst_node n;
    ts_node_open(&srv, &n);
    int64_t t0 = cst_now_us();
    json_t *body = json_loads("{\"justification\":\"night outage\",\"scope\":{\"permissions\":"
                              "[\"records.read\"],\"buckets\":\"*\"}}",
                              0, NULL);
    cst_access_row glass_row;
    assert_int_equal(cst_lockbox_break_glass_new(body, tenant, "us_x", "x", t0, &glass_row),
                     CST_OK);
    json_decref(body);
    assert_int_equal(cst_store_access_put(n.store, NULL, &glass_row), CST_OK);
    cst_report_scope scope = {.generated_by = "cli", .requested_by = "test"};
    const struct {
        int64_t hours;
        const char *status;
    } at[] = {{1, "warn"}, {23, "warn"}, {25, "fail"}};
    for (size_t k = 0; k < sizeof(at) / sizeof(*at); k++) {
        json_t *rep = NULL, *open = NULL;
        assert_int_equal(cst_report_build(&n, &scope, t0 + at[k].hours * 3600 * 1000000LL, &rep),
                         CST_OK);
        assert_string_equal(iam8_row(rep, "grants_open", &open), at[k].status);
        assert_int_equal(json_integer_value(open), at[k].hours < 1 ? 1 : 0);
        json_decref(rep);
    }
    cst_node_close(&n);
    assert_true(ts_start(&srv));
    assert_int_equal(get_record(g), 401);
    json_t *keep;
    assert_string_equal(state_of(id, &keep), "used_up");
    json_decref(keep);
    assert_string_equal(state_of(pending, &keep), "expired");
    json_decref(keep);
    path(p, sizeof(p), "/v1/access-requests/%s/approve", pending);
    expect("POST", p, owner, "{\"comment\":\"too late\"}", 409);
    free(g);
}

static bool has_alert(const char *token, const char *path_, const char *type, const char *sev)
{
    json_t *o = call("GET", path_, token, NULL, 200);
    bool found = false;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(o, "alerts"), i, a) found |=
        !strcmp(json_string_value(json_object_get(a, "type")), type) &&
        !strcmp(json_string_value(json_object_get(a, "severity")), sev);
    json_decref(o);
    return found;
}

/* IAM-8: break-glass: at once, in plain sight, reviewed by another security operator. */
static void test_iam8_break_glass(void **state)
{
    (void)state;
    char body[640], code[16], p[128];
#define GLASS_FMT                                                                                  \
    "{\"tenant\":\"%s\",\"justification\":\"outage INC-7: restore k\",\"scope\":{\"permissions\":" \
    "[\"records.read\"],\"buckets\":[\"b\"]},\"duration_seconds\":%d,\"totp\":\"%s\"}"
    snprintf(body, sizeof(body), GLASS_FMT, tenant, 3600, "000000");
    expect("POST", "/v1/sys/break-glass", sup, body, 403);   /* sys-admin only */
    expect("POST", "/v1/sys/break-glass", glass, body, 403); /* a wrong code */
    ts_user *u = ts_user_find(&srv, "_sys", "glass1");
    assert_non_null(u);
    double t = ts_now_s();
    assert_true(ts_next_code(u, code));
    assert_true(ts_now_s() - t < 1); /* its code is ready: no wait for the next step */
    snprintf(body, sizeof(body), GLASS_FMT, tenant, 7200, code);
    expect("POST", "/v1/sys/break-glass", glass, body, 400); /* at most 1 h (no code used) */
    snprintf(body, sizeof(body), GLASS_FMT, tenant, 3600, code);
    json_t *o = call("POST", "/v1/sys/break-glass", glass, body, 201);
    assert_true(json_is_true(json_object_get(o, "break_glass")));
    assert_string_equal(json_string_value(json_object_get(o, "state")), "approved");
    assert_string_equal(json_string_value(json_object_get(o, "review_state")), "review_pending");
    char id[32], incident[32];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(o, "id")));
    snprintf(incident, sizeof(incident), "%s",
             json_string_value(json_object_get(o, "incident_id")));
    char *g = strdup(json_string_value(json_object_get(o, "token")));
    json_decref(o);
    /* the same code again is refused (fresh only) */
    expect("POST", "/v1/sys/break-glass", glass, body, 403);
    assert_int_equal(get_record(g), 200);
    assert_int_equal(told(id, "access_request.break_glass"), 1);
    /* an incident and a critical alert at once, visible to the tenant */
    path(p, sizeof(p), "/v1/sys/incidents/%s", incident);
    expect("GET", p, sec, NULL, 200);
    assert_true(has_alert(sec, "/v1/sys/alerts?type=break_glass", "break_glass", "critical"));
    assert_true(has_alert(owner, "/v1/alerts", "break_glass", "critical"));
    json_t *keep;
    assert_string_equal(state_of(id, &keep), "approved");
    assert_true(json_is_true(json_object_get(keep, "break_glass")));
    /* the stored request links its incident (as the tenant reads it, not as it was answered) */
    assert_string_equal(json_string_value(json_object_get(keep, "incident_id")), incident);
    json_decref(keep);
    assert_true(audit_has_grant(id, "record.read"));
    /* reviewed by a security operator other than the one who used it */
    path(p, sizeof(p), "/v1/sys/access-requests/%s/review", id);
    expect("POST", p, glass, "{\"comment\":\"my own\"}", 403);
    expect("POST", p, glass_twin, "{\"comment\":\"my own, second account\"}", 403);
    expect("POST", p, sup, "{\"comment\":\"not security\"}", 403);
    path(p, sizeof(p), "/v1/access-requests/%s", id);
    o = call("GET", p, owner, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(o, "review_state")), "review_pending");
    json_decref(o);
    /* the report: a break-glass awaiting review warns, for the node and the tenant */
    expect_report("/v1/sys/report", op, "warn");
    expect_report("/v1/report", owner, "warn");
    path(p, sizeof(p), "/v1/sys/access-requests/%s/review", id);
    o = call("POST", p, sec, "{\"comment\":\"justified: outage INC-7\"}", 200);
    assert_string_equal(json_string_value(json_object_get(o, "review_state")), "reviewed");
    json_decref(o);
    expect("POST", p, sec, "{\"comment\":\"twice\"}", 409);
    expect_report("/v1/sys/report", op, "pass");
    free(g);
}

/* An access review of the tenant (prefix "") or of the operators (prefix "/sys") by token,
 * opened, decided (revoke the principal revoke_id, keep every other) and attested; meddle (when
 * not NULL) is run on the open review's id first. */
static void review_revoking(const char *prefix, const char *token, const char *revoke_id,
                            void (*meddle)(const char *rv))
{
    char p[128], rv[64];
    snprintf(p, sizeof(p), "/v1%s/access-review", prefix);
    json_t *o = call("POST", p, token, NULL, 201), *pr;
    snprintf(rv, sizeof(rv), "%s", json_string_value(json_object_get(o, "id")));
    if (meddle)
        meddle(rv);
    json_t *decisions = json_array();
    size_t i;
    json_array_foreach(json_object_get(o, "principals"), i, pr)
    {
        const char *pid = json_string_value(json_object_get(pr, "id"));
        bool out = !strcmp(pid, revoke_id);
        json_array_append_new(decisions, json_pack("{s:s,s:s,s:s}", "principal", pid, "decision",
                                                   out ? "revoke" : "keep", "comment",
                                                   out ? "case closed" : "still needed"));
    }
    json_decref(o);
    json_t *body = json_pack("{s:o}", "decisions", decisions);
    char *text = json_dumps(body, 0);
    json_decref(body);
    snprintf(p, sizeof(p), "/v1%s/access-review/%s/decisions", prefix, rv);
    expect("POST", p, token, text, 200);
    free(text);
    snprintf(p, sizeof(p), "/v1%s/access-review/%s/attest", prefix, rv);
    expect("POST", p, token, NULL, 200);
}

/* Attack (IAM-8, IAM-2, IAM-3): a stolen sys-admin session tries every break-glass code: each
 * wrong code counts as a failed login does, and the locked account's break-glass is refused
 * (423) whatever the code, so the fresh second factor cannot be guessed. */
static void test_iam8_attack_break_glass_code_guessing_locks(void **state)
{
    (void)state;
    char body[640];
    snprintf(body, sizeof(body), GLASS_FMT, tenant, 600, "000000");
    long last = 0;
    int tries = 0;
    for (; tries < 12 &&
           (last = ts_status(&srv, "POST", "/v1/sys/break-glass", glass, body, NULL, 0)) == 403;
         tries++)
        ;
    assert_int_equal(last, 423);
    assert_true(tries <= 10); /* auth.lockout_threshold is at most 10 */
    ts_user *u = ts_user_find(&srv, "_sys", "glass1");
    char *again = ts_login(&srv, "_sys", "glass1", u->password);
    assert_null(again); /* the account is locked for logins too */
}

/* IAM-6 with IAM-8: an open grant is a principal of the tenant's access review (kind grant),
 * and revoking it at attestation ends it at once: its credential gets 401, the request reads
 * revoked. Every other principal is kept, so nothing else changes. */
static void test_iam6_review_lists_and_ends_a_grant(void **state)
{
    (void)state;
    char id[32], p[128];
    request(3600, id);
    path(p, sizeof(p), "/v1/access-requests/%s/approve", id);
    expect("POST", p, owner, "{\"comment\":\"ok\"}", 200);
    char *g = grant_token(id);
    assert_int_equal(get_record(g), 200);
    json_t *o = call("GET", "/v1/access-review", owner, NULL, 200), *pr;
    size_t i;
    int found = 0;
    json_array_foreach(json_object_get(o, "principals"), i, pr)
    {
        if (!strcmp(json_string_value(json_object_get(pr, "id")), id)) {
            found++;
            assert_string_equal(json_string_value(json_object_get(pr, "kind")), "grant");
            assert_string_equal(json_string_value(json_object_get(pr, "name")), "sup1");
        }
    }
    json_decref(o);
    assert_int_equal(found, 1);
    review_revoking("", owner, id, NULL);
    assert_int_equal(get_record(g), 401);
    json_t *keep;
    assert_string_equal(state_of(id, &keep), "revoked");
    json_decref(keep);
    assert_int_equal(get_record(owner), 200); /* the kept ones keep working */
    free(g);
}

/* Attack (IAM-8, IAM-4): a grant whose scope names buckets.admin on bucket b administers b
 * alone: the bucket routes of another bucket (read, change, delete), a new bucket and the
 * listing of others are beyond its scope, as are export and import. */
static void test_iam8_attack_bucket_admin_grant_stays_in_its_buckets(void **state)
{
    (void)state;
    char id[32], p[128];
    ask(sup, tenant, "\"records.read\",\"buckets.admin\"", 201, id, NULL);
    path(p, sizeof(p), "/v1/access-requests/%s/approve", id);
    expect("POST", p, owner, "{\"comment\":\"b only\"}", 200);
    char *g = grant_token(id);
    expect("GET", "/v1/buckets/b", g, NULL, 200);
    expect("GET", "/v1/buckets/c", g, NULL, 403);
    expect("PATCH", "/v1/buckets/c", g, "{\"retention_seconds\":86400}", 403);
    expect("DELETE", "/v1/buckets/c", g, NULL, 403);
    expect("POST", "/v1/buckets", g, "{\"name\":\"z\"}", 403);
    json_t *o = call("GET", "/v1/buckets", g, NULL, 200);
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(o, "buckets"), i, b)
        assert_string_equal(json_string_value(json_object_get(b, "name")), "b");
    json_decref(o);
    expect("GET", "/v1/export", g, NULL, 403);
    ts_resp r;
    ts_request(&srv, "POST", "/v1/import", g, "application/x-ndjson", "{}\n", 3, NULL, &r);
    assert_int_equal(r.status, 403);
    ts_resp_free(&r);
    expect("GET", "/v1/buckets/c/records/k", owner, NULL, 200); /* c is untouched */
    path(p, sizeof(p), "/v1/access-requests/%s/revoke", id);
    expect("POST", p, owner, NULL, 200);
    free(g);
}

/* Attack (IAM-8, IAM-6): a grant's credential ends with its operator: once the operators'
 * access review disables the requester, the credential they obtained gets 401 (the cached
 * credential notwithstanding), though the grant's window is still open. */
static void test_iam8_attack_grant_ends_with_its_operator(void **state)
{
    (void)state;
    char *sup2 = ts_sys_operator(&srv, op, "sup2", "sys-support");
    char id[32], p[128], user[32];
    ask(sup2, tenant, "\"records.read\"", 201, id, user);
    path(p, sizeof(p), "/v1/access-requests/%s/approve", id);
    expect("POST", p, owner, "{\"comment\":\"ok\"}", 200);
    path(p, sizeof(p), "/v1/sys/access-requests/%s/token", id);
    json_t *o = call("POST", p, sup2, NULL, 201);
    char *g = strdup(json_string_value(json_object_get(o, "token")));
    json_decref(o);
    assert_int_equal(get_record(g), 200);
    review_revoking("/sys", sec, user, NULL);
    assert_int_equal(get_record(g), 401);
    assert_int_equal(get_record(sup2), 401);
    free(g);
    free(sup2);
}

/* The ids of the tenant's pending access requests (at most 64). */
static size_t pending_ids(char ids[][32])
{
    json_t *o = call("GET", "/v1/access-requests", owner, NULL, 200), *a;
    size_t i, n = 0;
    json_array_foreach(json_object_get(o, "access_requests"), i, a)
    {
        if (n < 64 && !strcmp(json_string_value(json_object_get(a, "state")), "pending"))
            snprintf(ids[n++], 32, "%s", json_string_value(json_object_get(a, "id")));
    }
    json_decref(o);
    return n;
}

/* Attack (IAM-8): an operator floods a tenant with requests, for approval by fatigue: the
 * tenant has at most CST_LOCKBOX_PENDING_MAX pending at once; a decision makes room. */
static void test_iam8_attack_request_flood_is_bounded(void **state)
{
    (void)state;
    char id[32], p[128], ids[64][32];
    for (size_t k = pending_ids(ids); k < CST_LOCKBOX_PENDING_MAX; k++)
        request(600, id);
    ask(sup, tenant, "\"records.read\"", 409, id, NULL);
    size_t n = pending_ids(ids);
    assert_int_equal(n, CST_LOCKBOX_PENDING_MAX);
    for (size_t k = 0; k < n; k++) {
        path(p, sizeof(p), "/v1/access-requests/%s/deny", ids[k]);
        expect("POST", p, owner, "{\"comment\":\"flood\"}", 200);
    }
    request(600, id); /* room again */
    path(p, sizeof(p), "/v1/access-requests/%s/deny", id);
    expect("POST", p, owner, "{\"comment\":\"flood\"}", 200);
}

/* Attack (ISO-1): another tenant's owner reaches none of this tenant's access requests (read,
 * approve, deny, revoke: 404, as for an id that does not exist), and this tenant's owner none
 * of the other's access reviews (read, decide, attest: 404); neither list shows the other's. */
static void test_iso1_attack_other_tenant_requests_and_reviews(void **state)
{
    (void)state;
    char other_id[32], id[32], p[160];
    char *other = ts_tenant(&srv, op, "lbx-other", other_id);
    assert_non_null(other);
    request(600, id);
    static const char *const acts[] = {"approve", "deny", "revoke"};
    path(p, sizeof(p), "/v1/access-requests/%s", id);
    expect("GET", p, other, NULL, 404);
    for (size_t k = 0; k < 3; k++) {
        snprintf(p, sizeof(p), "/v1/access-requests/%s/%s", id, acts[k]);
        expect("POST", p, other, k == 2 ? NULL : "{\"comment\":\"not mine\"}", 404);
    }
    json_t *o = call("GET", "/v1/access-requests", other, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(o, "access_requests")), 0);
    json_decref(o);
    o = call("POST", "/v1/access-review", other, NULL, 201);
    char rv[32], pid[32];
    snprintf(rv, sizeof(rv), "%s", json_string_value(json_object_get(o, "id")));
    snprintf(pid, sizeof(pid), "%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(o, "principals"), 0), "id")));
    json_decref(o);
    snprintf(p, sizeof(p), "/v1/access-review/%s", rv);
    expect("GET", p, owner, NULL, 404);
    char body[160];
    snprintf(body, sizeof(body), "{\"decisions\":[{\"principal\":\"%s\",\"decision\":\"revoke\"}]}",
             pid);
    snprintf(p, sizeof(p), "/v1/access-review/%s/decisions", rv);
    expect("POST", p, owner, body, 404);
    snprintf(p, sizeof(p), "/v1/access-review/%s/attest", rv);
    expect("POST", p, owner, NULL, 404);
    /* the other tenant's owner (its one principal) is untouched and still works */
    expect("GET", "/v1/tenant", other, NULL, 200);
    /* erased, the other tenant has nothing to ask access to: no request, no break-glass */
    snprintf(p, sizeof(p), "/v1/sys/tenants/%s/erase", other_id);
    expect("POST", p, op, "{\"requested_by\":\"ticket 9\",\"confirm\":\"lbx-other\"}", 200);
    ask(sup, other_id, "\"records.read\"", 409, id, NULL);
    char req[640];
    snprintf(req, sizeof(req), GLASS_FMT, other_id, 600, "000000");
    expect("POST", "/v1/sys/break-glass", glass, req, 409);
    path(p, sizeof(p), "/v1/access-requests/%s/deny", id);
    expect("POST", p, owner, "{\"comment\":\"done\"}", 200);
    free(other);
}

/* Rewrites the stored snapshot of review rv (from -> to) on the stopped node, as the IAM-2
 * tests age a lock, and starts it again. */
static void snapshot_replace(const char *rv, const char *from, const char *to)
{
    assert_int_equal(ts_stop(&srv), 0);
    char sql[400];
    snprintf(sql, sizeof(sql),
             "UPDATE reviews SET snapshot = replace(snapshot, '%s', '%s') WHERE id = '%s'", from,
             to, rv);
    assert_int_equal(ts_sys_sql(&srv, sql), 0);
    assert_true(ts_start(&srv));
}

/* Storage tampered with: the snapshot no longer says its owners are privileged (so silence
 * would keep them); the attestation would sign a hash the applied snapshot does not have. */
static void tamper_then_attest(const char *rv)
{
    char p[128];
    snapshot_replace(rv, "privileged", "unprivileged");
    snprintf(p, sizeof(p), "/v1/access-review/%s/attest", rv);
    expect("POST", p, owner, NULL, 500); /* integrity_error: nothing applied, nothing signed */
    snapshot_replace(rv, "unprivileged", "privileged");
}

/* Attack (IAM-6): an attestation signs the snapshot's hash: a snapshot changed since it was
 * frozen (privileged flags dropped, so undecided owners would be kept by default) is refused
 * at attestation; restored, the review attests. */
static void test_iam6_attack_tampered_snapshot_not_attested(void **state)
{
    (void)state;
    review_revoking("", owner, "", tamper_then_attest);
}

/* A new API token of the session token with permission perm (its secret). */
static char *api_token(const char *session, const char *perm)
{
    char body[160];
    snprintf(body, sizeof(body), "{\"name\":\"approver\",\"permissions\":[\"%s\"]}", perm);
    json_t *o = call("POST", "/v1/tokens", session, body, 201);
    char *t = strdup(json_string_value(json_object_get(o, "token")));
    json_decref(o);
    return t;
}

/* Attack (IAM-8): the requester's twin approves through an API token it made (403); in a
 * two-approver tenant, one person's session and API token are one approver (409). */
static void test_iam8_attack_approval_through_tokens(void **state)
{
    (void)state;
    char *twin_tok = api_token(sup_twin, "tenant.admin");
    char *owner_tok = api_token(owner, "tenant.admin");
    expect("PATCH", "/v1/tenant", owner, "{\"lockbox_approvals\":2}", 200);
    char id[32], p[128];
    request(600, id);
    path(p, sizeof(p), "/v1/access-requests/%s/approve", id);
    expect("POST", p, twin_tok, "{\"comment\":\"me, by token\"}", 403);
    expect("POST", p, owner, "{\"comment\":\"first\"}", 200);
    json_t *o = call("POST", p, owner_tok, "{\"comment\":\"first again\"}", 409);
    json_decref(o);
    json_t *keep;
    assert_string_equal(state_of(id, &keep), "pending");
    json_decref(keep);
    path(p, sizeof(p), "/v1/access-requests/%s/deny", id);
    expect("POST", p, owner, "{\"comment\":\"done\"}", 200);
    expect("PATCH", "/v1/tenant", owner, "{\"lockbox_approvals\":1}", 200);
    free(twin_tok);
    free(owner_tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam8_operator_read_needs_an_approved_grant),
        cmocka_unit_test(test_iam8_two_approvers_and_denial),
        cmocka_unit_test(test_iam8_break_glass),
        cmocka_unit_test(test_iam8_attack_break_glass_code_guessing_locks),
        cmocka_unit_test(test_iam6_review_lists_and_ends_a_grant),
        cmocka_unit_test(test_iam8_attack_bucket_admin_grant_stays_in_its_buckets),
        cmocka_unit_test(test_iam8_attack_grant_ends_with_its_operator),
        cmocka_unit_test(test_iam8_attack_request_flood_is_bounded),
        cmocka_unit_test(test_iso1_attack_other_tenant_requests_and_reviews),
        cmocka_unit_test(test_iam6_attack_tampered_snapshot_not_attested),
        cmocka_unit_test(test_iam8_attack_approval_through_tokens),
        cmocka_unit_test(test_iam8_refused_after_expiry),
    };
    return ts_run_group_tests("lockbox", tests, sizeof(tests) / sizeof(tests[0]), setup, teardown);
}
