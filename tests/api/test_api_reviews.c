/* test_api_reviews.c: IAM-6 against a real server: the access review lists exactly the live
 * principals the test made (users and API tokens; sessions and revoked ones are not
 * principals), a campaign freezes them, decisions are checked against its snapshot, an
 * attestation that would disable the last owner is refused and changes nothing, an attestation
 * applies every revoke at once (the revoked token's and user's next requests get 401) and is a
 * record signed with the node's key; sys-security reviews the operators the same way. Then, on
 * the stopped node with a simulated clock, a token unused for 91 days is flagged stale, the
 * reminder is queued once a day from 14 days before the due date, and an overdue review raises
 * review_overdue and turns the IAM-6 row of the report red. */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/review.h"
#include "node/detect.h"
#include "node/node.h"
#include "node/reviews.h"
#include "report/report.h"
#include "crypto/crypto.h"
#include "util/json.h"
#include "util/util.h"
#include "harness.h"

#define DAY_US CST_REVIEW_DAY_US

static ts_server srv;
static char *op, *sec, *owner, *writer, *auditor;
static char tenant[32], owner_id[32], writer_id[32], auditor_id[32];
static char tok_used[32], tok_revoked[32], tok_idle[32]; /* ids */
static char *used_secret, *revoked_secret, *idle_secret;
static char review[32]; /* the tenant's attested campaign */
static int64_t attested_at;

static json_t *call(const char *method, const char *path, const char *token, const char *body,
                    long want)
{
    return ts_call(&srv, method, path, token, body, want);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static char *new_token(const char *name, const char *perm, char id[32])
{
    char body[128];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"permissions\":[\"%s\"]}", name, perm);
    json_t *t = call("POST", "/v1/tokens", owner, body, 201);
    snprintf(id, 32, "%s", str(t, "id"));
    char *secret = strdup(str(t, "token"));
    json_decref(t);
    return secret;
}

static json_t *principal(json_t *list, const char *id)
{
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
    {
        if (!strcmp(str(p, "id"), id))
            return p;
    }
    return NULL;
}

static bool flagged(const json_t *p, const char *flag)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(p, "flags"), i, f)
    {
        if (!strcmp(json_string_value(f), flag))
            return true;
    }
    return false;
}

/* ---- the listing ---- */

static void test_iam6_lists_exactly_the_live_principals(void **state)
{
    /* one token is used; sessions (every login above) are their users' use, not principals */
    json_decref(call("GET", "/v1/tenant", used_secret, NULL, 200));
    json_t *o = call("GET", "/v1/access-review", auditor, NULL, 200);
    json_t *list = json_object_get(o, "principals");
    const char *ids[] = {owner_id, writer_id, auditor_id, tok_used, tok_revoked, tok_idle};
    assert_int_equal(json_array_size(list), sizeof(ids) / sizeof(*ids));
    for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++)
        if (!principal(list, ids[i]))
            fail_msg("principal %s is not listed", ids[i]);
    json_t *p = principal(list, owner_id);
    assert_string_equal(str(p, "kind"), "user");
    assert_true(json_is_true(json_object_get(p, "mfa")));
    assert_true(flagged(p, "privileged"));
    assert_false(flagged(p, "no_mfa"));
    p = principal(list, writer_id);
    assert_true(flagged(p, "no_mfa"));
    assert_false(flagged(p, "privileged"));
    assert_string_equal(json_string_value(json_array_get(json_object_get(p, "roles"), 0)),
                        "writer");
    p = principal(list, tok_used);
    assert_string_equal(str(p, "kind"), "token");
    assert_string_equal(str(p, "user_id"), owner_id);
    assert_non_null(str(p, "last_used_at"));
    assert_false(flagged(p, "never_used"));
    assert_false(flagged(p, "stale"));
    assert_true(flagged(principal(list, tok_idle), "never_used"));
    assert_true(flagged(principal(list, tok_revoked), "privileged")); /* users.admin */
    /* never attested: due a quarter after the tenant's creation */
    assert_true(json_is_null(json_object_get(o, "last_attested_at")));
    assert_true(json_is_null(json_object_get(o, "open_review")));
    json_t *t = call("GET", "/v1/tenant", owner, NULL, 200);
    int64_t created = 0, due = 0;
    assert_true(cst_time_parse(str(t, "created_at"), &created));
    assert_true(cst_time_parse(str(o, "due_at"), &due));
    assert_int_equal(due, created + 91 * DAY_US);
    assert_true(
        json_is_null(json_object_get(json_object_get(t, "settings"), "review_no_response")));
    json_decref(t);
    json_decref(o);
    /* an auditor reads but does not review; the setting is checked */
    json_decref(call("POST", "/v1/access-review", auditor, NULL, 403));
    json_decref(call("PATCH", "/v1/tenant", owner, "{\"review_no_response\":\"maybe\"}", 400));
}

/* ---- a campaign ---- */

static void decide(const char *id, const char *principal_id, const char *decision, long want)
{
    char path[128], body[256];
    snprintf(path, sizeof(path), "/v1/access-review/%s/decisions", id);
    snprintf(body, sizeof(body),
             "{\"decisions\":[{\"principal\":\"%s\",\"decision\":\"%s\",\"comment\":\"q1\"}]}",
             principal_id, decision);
    json_decref(call("POST", path, owner, body, want));
}

static void test_iam6_attestation_applies_revokes_and_is_signed(void **state)
{
    json_t *c = call("POST", "/v1/access-review", owner, NULL, 201);
    snprintf(review, sizeof(review), "%s", str(c, "id"));
    assert_string_equal(str(c, "state"), "open");
    assert_int_equal(strlen(str(c, "snapshot_sha256")), 64);
    /* the hash is over the frozen snapshot's canonical JSON */
    char hex[65];
    assert_int_equal(cst_review_snapshot_hash(json_object_get(c, "principals"), hex), CST_OK);
    assert_string_equal(hex, str(c, "snapshot_sha256"));
    json_decref(c);
    json_decref(call("POST", "/v1/access-review", owner, NULL, 409)); /* one open at a time */
    /* a token made after the snapshot is not in it: it cannot be decided on */
    char late_id[32];
    char *late = new_token("late", "tenant.read", late_id);
    decide(review, late_id, "revoke", 400);
    decide(review, review, "keep", 400);
    decide(review, writer_id, "maybe", 400);
    char path[128];
    decide(review, tok_revoked, "revoke", 200);
    decide(review, writer_id, "revoke", 200);
    decide(review, tok_used, "keep", 200);
    /* the owner left undecided is privileged: revoked by default, which would leave the tenant
     * without an owner: refused, and nothing changed */
    snprintf(path, sizeof(path), "/v1/access-review/%s/attest", review);
    json_decref(call("POST", path, owner, NULL, 409));
    json_decref(call("GET", "/v1/users", revoked_secret, NULL, 200));
    json_decref(call("GET", "/v1/tenant", writer, NULL, 200));
    decide(review, owner_id, "keep", 200);
    /* the auditor and the idle token are left undecided: not privileged, kept */
    json_t *a = call("POST", path, owner, NULL, 200);
    assert_string_equal(str(a, "state"), "attested");
    assert_true(cst_time_parse(str(a, "attested_at"), &attested_at));
    assert_string_equal(str(a, "attested_by"), owner_id);
    /* revoked at once: the credential cache holds nothing that outlives the commit */
    json_decref(call("GET", "/v1/users", revoked_secret, NULL, 401));
    json_decref(call("GET", "/v1/tenant", writer, NULL, 401));
    /* and remembered: presenting the deleted token again raises revoked_credential (DET-1; the
     * token is gone, so the alert is the node's) */
    json_t *alerts = call("GET", "/v1/sys/alerts?limit=100", sec, NULL, 200);
    char *seen = json_dumps(alerts, JSON_COMPACT);
    assert_non_null(strstr(seen, "revoked_credential"));
    cst_json_free_text(seen);
    json_decref(alerts);
    json_decref(call("GET", "/v1/tenant", idle_secret, NULL, 200));
    json_decref(call("GET", "/v1/tenant", late, NULL, 200));
    free(late);

    /* the attestation verifies with the node's public key, and holds every decision */
    json_t *doc = json_object_get(a, "attestation");
    char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
    uint8_t pk[32];
    assert_int_equal(cst_node_public_key(srv.data_dir, pk), CST_OK);
    json_t *body = NULL;
    assert_int_equal(cst_signed_json_verify((const uint8_t *)text, strlen(text), pk, "attestation",
                                            "attestation", &body),
                     CST_OK);
    assert_string_equal(str(body, "review_id"), review);
    assert_string_equal(str(body, "snapshot_sha256"), str(a, "snapshot_sha256"));
    assert_string_equal(str(body, "attested_by"), owner_id);
    json_t *ds = json_object_get(body, "decisions");
    assert_int_equal(json_array_size(ds), 6);
    size_t i;
    json_t *d;
    int revokes = 0, defaulted = 0;
    json_array_foreach(ds, i, d)
    {
        revokes += !strcmp(str(d, "decision"), "revoke");
        defaulted += json_is_true(json_object_get(d, "defaulted"));
        if (!strcmp(str(d, "principal"), auditor_id))
            assert_string_equal(str(d, "decision"), "keep");
    }
    assert_int_equal(revokes, 2);
    assert_int_equal(defaulted, 2);
    json_decref(body);
    /* one changed byte fails it */
    char *at = strstr(text, "\"revoke\"");
    assert_non_null(at);
    at[1] = 'R';
    assert_int_not_equal(cst_signed_json_verify((const uint8_t *)text, strlen(text), pk,
                                                "attestation", "attestation", NULL),
                         CST_OK);
    cst_err_clear();
    cst_json_free_text(text);
    assert_string_equal(str(a, "signature"), str(doc, "signature"));
    json_decref(a);

    /* closed: nothing more changes it; auditors read it */
    json_decref(call("POST", path, owner, NULL, 409));
    decide(review, owner_id, "revoke", 409);
    snprintf(path, sizeof(path), "/v1/access-review/%s", review);
    json_decref(call("GET", path, auditor, NULL, 200));
    /* the listing no longer holds the revoked; the schedule moved */
    json_t *o = call("GET", "/v1/access-review", owner, NULL, 200);
    json_t *list = json_object_get(o, "principals");
    assert_null(principal(list, tok_revoked));
    assert_null(principal(list, writer_id));
    assert_non_null(principal(list, tok_used));
    int64_t last = 0, due = 0;
    assert_true(cst_time_parse(str(o, "last_attested_at"), &last));
    assert_true(cst_time_parse(str(o, "due_at"), &due));
    assert_int_equal(last, attested_at);
    assert_int_equal(due, attested_at + 91 * DAY_US);
    json_decref(o);
    /* audited in the security stream with the snapshot's hash */
    assert_int_equal(ts_sh("grep -rqa '\"review.attest\"' %s/audit/security", srv.data_dir), 0);
}

static void test_iam6_operators_reviewed_by_sys_security(void **state)
{
    json_t *o = call("GET", "/v1/sys/access-review", sec, NULL, 200);
    json_t *list = json_object_get(o, "principals");
    assert_int_equal(json_array_size(list), 2); /* the first operator and sec1 */
    json_t *c = call("POST", "/v1/sys/access-review", sec, NULL, 201);
    char id[32], path[128], body[512] = "{\"decisions\":[";
    snprintf(id, sizeof(id), "%s", str(c, "id"));
    json_decref(c);
    /* another scope's campaign is not found from the tenant, and the reverse */
    snprintf(path, sizeof(path), "/v1/access-review/%s", id);
    json_decref(call("GET", path, owner, NULL, 404));
    snprintf(path, sizeof(path), "/v1/sys/access-review/%s", review);
    json_decref(call("GET", path, sec, NULL, 404));
    /* attack: the review would disable the node's only sys-admin: refused, nothing applied */
    char op_id[32] = "";
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
    {
        if (strcmp(str(p, "name"), "sec1") != 0)
            snprintf(op_id, sizeof(op_id), "%s", str(p, "id")); /* the first operator */
    }
    snprintf(path, sizeof(path), "/v1/sys/access-review/%s/decisions", id);
    snprintf(body, sizeof(body), "{\"decisions\":[{\"principal\":\"%s\",\"decision\":\"revoke\"}]}",
             op_id);
    json_decref(call("POST", path, sec, body, 200));
    snprintf(path, sizeof(path), "/v1/sys/access-review/%s/attest", id);
    json_decref(call("POST", path, sec, NULL, 409));
    json_decref(call("GET", "/v1/sys/tenants", op, NULL, 200));
    snprintf(body, sizeof(body), "{\"decisions\":[");
    /* operators are privileged: without a decision they would be revoked; keep both */
    json_array_foreach(list, i, p)
    {
        assert_true(flagged(p, "privileged") || !strcmp(str(p, "name"), "sec1"));
        size_t n = strlen(body);
        snprintf(body + n, sizeof(body) - n, "%s{\"principal\":\"%s\",\"decision\":\"keep\"}",
                 i ? "," : "", str(p, "id"));
    }
    json_decref(o);
    strcat(body, "]}");
    snprintf(path, sizeof(path), "/v1/sys/access-review/%s/decisions", id);
    json_decref(call("POST", path, sec, body, 200));
    snprintf(path, sizeof(path), "/v1/sys/access-review/%s/attest", id);
    json_t *a = call("POST", path, sec, NULL, 200);
    assert_string_equal(str(a, "state"), "attested");
    assert_non_null(str(a, "signature"));
    json_decref(a);
    o = call("GET", "/v1/sys/access-review", sec, NULL, 200);
    assert_false(json_is_null(json_object_get(o, "last_attested_at")));
    assert_int_equal(json_array_size(json_object_get(o, "principals")), 2);
    json_decref(o);
}

/* ---- the simulated clock ---- */

static int64_t reminders(void)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM webhook_deliveries WHERE tenant = '%s' AND body LIKE "
             "'%%access_review.due%%'",
             tenant);
    return ts_sys_count(&srv, sql);
}

static void test_iam6_stale_at_91_days_reminded_then_overdue_turns_report_red(void **state)
{
    /* the tenant's webhook, so that the reminders have somewhere to go */
    json_t *t = call("PATCH", "/v1/tenant", owner,
                     "{\"alert_webhook_url\":\"https://hooks.invalid/custodia\"}", 200);
    json_decref(t);
    assert_int_equal(ts_stop(&srv), 0);
    cst_node n;
    ts_node_open(&srv, &n);
    int64_t now = attested_at;
    /* the token used at the start: stale once unused for 91 days, not a day before */
    json_t *list = NULL;
    assert_int_equal(cst_review_principals(&n, NULL, tenant, now + 89 * DAY_US, &list), CST_OK);
    assert_false(flagged(principal(list, tok_used), "stale"));
    json_decref(list);
    assert_int_equal(cst_review_principals(&n, NULL, tenant, now + 91 * DAY_US, &list), CST_OK);
    assert_true(flagged(principal(list, tok_used), "stale"));
    assert_true(flagged(principal(list, tok_idle), "stale"));
    json_decref(list);

    cst_report_scope scope = {.generated_by = "cli", .requested_by = "test"};
    const struct {
        int64_t day;
        const char *iam6;
        int64_t reminders;
        bool alert;
    } at[] = {
        {10, "pass", 0, false}, {76, "pass", 0, false},
        {77, "warn", 1, false}, {77, "warn", 1, false}, /* once a day */
        {78, "warn", 2, false}, {92, "fail", 3, true},
    };
    for (size_t k = 0; k < sizeof(at) / sizeof(*at); k++) {
        int64_t when = now + at[k].day * DAY_US + (k == 3 ? 3600LL * 1000000 : 0);
        cst_detect_reviews(&n, when);
        cst_node_close(&n);
        if (reminders() != at[k].reminders)
            fail_msg("day %lld: %lld reminders, want %lld", (long long)at[k].day,
                     (long long)reminders(), (long long)at[k].reminders);
        ts_node_open(&srv, &n);
        char key[64];
        snprintf(key, sizeof(key), "review/%s", tenant);
        cst_alert_row alert;
        cst_err found = cst_store_alert_find(n.store, NULL, "review_overdue", key, &alert);
        if (!at[k].alert) {
            assert_int_equal(found, CST_ERR_NOT_FOUND);
            cst_err_clear();
        } else {
            assert_int_equal(found, CST_OK);
            assert_string_equal(alert.tenant, tenant);
        }
        json_t *rep = NULL;
        assert_int_equal(cst_report_build(&n, &scope, when, &rep), CST_OK);
        if (strcmp(ts_report_status(rep, "IAM-6"), at[k].iam6) != 0)
            fail_msg("day %lld: IAM-6 %s, want %s", (long long)at[k].day,
                     ts_report_status(rep, "IAM-6"), at[k].iam6);
        json_t *overdue = ts_report_evidence(rep, "IAM-6", "overdue_reviews");
        char *text = json_dumps(overdue, JSON_COMPACT);
        assert_true((strstr(text, tenant) != NULL) == at[k].alert);
        cst_json_free_text(text);
        assert_non_null(ts_report_evidence(rep, "IAM-6", "last_review"));
        json_decref(rep);
        /* the tenant's own report shows its own row */
        scope.tenant_id = tenant;
        assert_int_equal(cst_report_build(&n, &scope, when, &rep), CST_OK);
        assert_string_equal(ts_report_status(rep, "IAM-6"), at[k].iam6);
        json_decref(rep);
        scope.tenant_id = NULL;
    }
    cst_node_close(&n);
    assert_true(ts_start(&srv));
}

static int setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    ts_init(&srv);
    if (!(owner = ts_start_tenant(&srv, &op, "review-alpha", tenant)))
        return -1;
    sec = ts_sys_operator(&srv, op, "sec1", "sys-security");
    writer = ts_user_create(&srv, owner, "review-alpha", "wri", "[\"writer\"]", "[\"*\"]", false,
                            writer_id);
    auditor = ts_user_create(&srv, owner, "review-alpha", "aud", "[\"auditor\"]", NULL, false,
                             auditor_id);
    ts_id_by_name(&srv, owner, "/v1/users", "users", "owner", owner_id, sizeof(owner_id));
    used_secret = new_token("reader", "tenant.read", tok_used);
    revoked_secret = new_token("provisioner", "users.admin", tok_revoked);
    idle_secret = new_token("idle", "tenant.read", tok_idle);
    return sec && writer && auditor ? 0 : -1;
}

static int teardown(void **state)
{
    return ts_finish(&srv, 8, op, sec, owner, writer, auditor, used_secret, revoked_secret,
                     idle_secret);
}

int main(void)
{
    if (cst_crypto_init() != CST_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam6_lists_exactly_the_live_principals),
        cmocka_unit_test(test_iam6_attestation_applies_revokes_and_is_signed),
        cmocka_unit_test(test_iam6_operators_reviewed_by_sys_security),
        cmocka_unit_test(test_iam6_stale_at_91_days_reminded_then_overdue_turns_report_red),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
