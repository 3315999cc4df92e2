/* test_store_ops.c: the storage operations of the operations group on either driver (issue 20:
 * unit.test_store_ops and unit.test_store_ops_pg): alerts (DET-1), webhook deliveries, incidents,
 * their timeline, clocks and notices (INC-1..4), access reviews (IAM-6), the lockbox (IAM-8);
 * their orders, paging and conflicts. Then two store handles on one database, as two nodes:
 * concurrent appends number a timeline 1..N, a review reminder is claimed once, a notice is
 * decided once, a scope has one open review, access use adds up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>

#include "pg_cluster.h"
#include "store/store.h"
#include "store_fixture.h"
#include "util/util.h"

static char dir[] = "/tmp/cst-store-ops-XXXXXX";
static cst_store *st, *st2; /* two handles on one database: two nodes */

static int setup(void **state)
{
    (void)state;
    return ts_store_pair_open(dir, &st, &st2);
}

static int teardown(void **state)
{
    (void)state;
    return ts_store_pair_close(dir, st, st2);
}

/* Collects the ids a listing hands over, joined by spaces. */
typedef struct ids {
    char s[1024];
    int n;
} ids;

static void ids_add(ids *l, const char *id)
{
    size_t len = strlen(l->s);
    snprintf(l->s + len, sizeof(l->s) - len, "%s%s", l->n++ ? " " : "", id);
}

static cst_err on_alert(const cst_alert_row *a, void *ctx)
{
    ids_add(ctx, a->id);
    return CST_OK;
}

static void alert(const char *id, const char *type, const char *status, const char *tenant,
                  const char *key, int64_t seen)
{
    cst_alert_row a;
    memset(&a, 0, sizeof(a));
    snprintf(a.id, sizeof(a.id), "%s", id);
    snprintf(a.type, sizeof(a.type), "%s", type);
    strcpy(a.severity, "high");
    snprintf(a.status, sizeof(a.status), "%s", status);
    snprintf(a.tenant, sizeof(a.tenant), "%s", tenant);
    snprintf(a.dedup_key, sizeof(a.dedup_key), "%s", key);
    strcpy(a.summary, "s");
    a.first_seen = a.last_seen = seen;
    a.count = 1;
    assert_int_equal(cst_store_alert_put(st, NULL, &a), CST_OK);
}

static const char *alerts(cst_store *s, const char *status, const char *type, const char *tenant,
                          const char *after, int limit)
{
    static ids l;
    memset(&l, 0, sizeof(l));
    cst_alert_filter f = {status, type, tenant, after, limit};
    assert_int_equal(cst_store_alert_list(s, NULL, &f, on_alert, &l), CST_OK);
    return l.s;
}

/* DET-1: alerts list newest first by creation (an update keeps a row's place), page after an
 * id, filter; find gives the newest unresolved of a type and key; prune removes the old
 * resolved alerts and finished deliveries. Written by one node, read by the other. */
static void test_det1_alerts_order_paging_find_prune(void **state)
{
    /* created in this order: ids sort otherwise */
    alert("al_3", "login", "open", "tn_a", "k1", 100);
    alert("al_1", "scan", "resolved", "tn_a", "k1", 100);
    alert("al_5", "login", "open", "tn_b", "k2", 100);
    alert("al_2", "login", "resolved", "tn_b", "k1", 100);
    alert("al_4", "scan", "acknowledged", "", "k1", 100);
    alert("al_3", "login", "acknowledged", "tn_a", "k1", 150); /* updated: keeps its place */
    assert_string_equal(alerts(st2, NULL, NULL, NULL, NULL, 10), "al_4 al_2 al_5 al_1 al_3");
    assert_string_equal(alerts(st2, "", "", "", "", 2), "al_4 al_2");
    assert_string_equal(alerts(st2, "", "", "", "al_2", 2), "al_5 al_1");
    assert_string_equal(alerts(st2, "", "", "", "al_1", 2), "al_3");
    assert_string_equal(alerts(st2, "", "", "", "al_9", 2), ""); /* unknown: nothing after */
    assert_string_equal(alerts(st2, "resolved", "", "", "", 10), "al_2 al_1");
    assert_string_equal(alerts(st2, "", "login", "tn_a", "", 10), "al_3");
    assert_string_equal(alerts(st2, "", "scan", "", "al_4", 10), "al_1");

    cst_alert_row a;
    assert_int_equal(cst_store_alert_get(st2, NULL, "al_3", &a), CST_OK);
    assert_string_equal(a.status, "acknowledged");
    assert_int_equal(a.first_seen, 100);
    assert_int_equal(a.last_seen, 150);
    assert_string_equal(a.tenant, "tn_a");
    assert_int_equal(cst_store_alert_get(st2, NULL, "al_0", &a), CST_ERR_NOT_FOUND);
    assert_string_equal(cst_err_message(CST_ERR_NOT_FOUND), "no such alert");
    cst_err_clear();
    /* the newest of login/k1 not resolved: al_2 is newer but resolved */
    assert_int_equal(cst_store_alert_find(st2, NULL, "login", "k1", &a), CST_OK);
    assert_string_equal(a.id, "al_3");
    assert_int_equal(cst_store_alert_find(st2, NULL, "scan", "k1", &a), CST_OK);
    assert_string_equal(a.id, "al_4");
    assert_int_equal(cst_store_alert_find(st2, NULL, "scan", "k2", &a), CST_ERR_NOT_FOUND);
    cst_err_clear();
    int64_t open = 0;
    assert_int_equal(cst_store_alert_count_open(st2, NULL, &open), CST_OK);
    assert_int_equal(open, 3);

    /* prune: resolved alerts last seen before 120 (al_1, al_2), finished deliveries queued
     * before 50 (one of the three below) */
    const char *hooks[][2] = {{"msg_p1", "delivered"}, {"msg_p2", "failed"}, {"msg_p3", "pending"}};
    for (int i = 0; i < 3; i++) {
        cst_webhook_row *d = calloc(1, sizeof(*d));
        assert_non_null(d);
        strcpy(d->id, hooks[i][0]);
        strcpy(d->alert_id, "al_prune");
        strcpy(d->url, "https://x.test/");
        strcpy(d->body, "{}");
        strcpy(d->status, hooks[i][1]);
        d->created_at = i == 1 ? 60 : 10;
        d->next_at = 1LL << 50; /* not due in the queue's test */
        assert_int_equal(cst_store_webhook_put(st, NULL, d), CST_OK);
        free(d);
    }
    int64_t removed = 0;
    assert_int_equal(cst_store_alert_prune(st2, NULL, 120, 50, &removed), CST_OK);
    assert_int_equal(removed, 3);
    assert_string_equal(alerts(st, "", "", "", "", 10), "al_4 al_5 al_3");
    assert_int_equal(cst_store_alert_prune(st2, NULL, 120, 50, NULL), CST_OK);
}

static cst_err on_hook(const cst_webhook_row *d, void *ctx)
{
    char one[64];
    snprintf(one, sizeof(one), "%s@%lld", d->id, (long long)d->next_at);
    ids_add(ctx, one);
    return CST_OK;
}

static void hook(const char *id, const char *url, int64_t next_at, const char *status)
{
    cst_webhook_row *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    snprintf(d->id, sizeof(d->id), "%s", id);
    strcpy(d->alert_id, "al_hooks");
    snprintf(d->url, sizeof(d->url), "%s", url);
    strcpy(d->body, "{\"a\":1}");
    strcpy(d->status, status);
    d->next_at = next_at;
    d->created_at = 1000;
    assert_int_equal(cst_store_webhook_put(st, NULL, d), CST_OK);
    free(d);
}

static const char *due(int64_t now, int limit)
{
    static ids l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(cst_store_webhook_due(st2, NULL, now, limit, on_hook, &l), CST_OK);
    return l.s;
}

/* DET-1: the queue gives pending deliveries due by now, by next_at then queueing order; a
 * deferral moves a receiver's pending deliveries later, never earlier; an update keeps a
 * delivery's place in its alert's listing. */
static void test_det1_webhook_queue_due_defer_list(void **state)
{
    hook("msg_c", "https://u1.test/", 300, "pending");
    hook("msg_a", "https://u2.test/", 100, "pending");
    hook("msg_b", "https://u1.test/", 100, "pending");
    hook("msg_d", "https://u2.test/", 50, "delivered");
    hook("msg_e", "https://u2.test/", 900, "pending");
    assert_string_equal(due(300, 10), "msg_a@100 msg_b@100 msg_c@300");
    assert_string_equal(due(300, 2), "msg_a@100 msg_b@100");
    assert_string_equal(due(99, 10), "");
    assert_int_equal(cst_store_webhook_defer(st2, NULL, "https://u1.test/", 400), CST_OK);
    assert_string_equal(due(300, 10), "msg_a@100");
    assert_int_equal(cst_store_webhook_defer(st2, NULL, "https://u1.test/", 200), CST_OK);
    /* the same next_at: queueing order (msg_c was queued before msg_b) */
    assert_string_equal(due(400, 10), "msg_a@100 msg_c@400 msg_b@400");
    hook("msg_a", "https://u2.test/", 100, "delivered");
    assert_string_equal(due(1000, 10), "msg_c@400 msg_b@400 msg_e@900");
    ids l = {0};
    assert_int_equal(cst_store_webhook_list(st2, NULL, "al_hooks", on_hook, &l), CST_OK);
    assert_string_equal(l.s, "msg_c@400 msg_a@100 msg_b@400 msg_d@50 msg_e@900");
    ids none = {0};
    assert_int_equal(cst_store_webhook_list(st, NULL, "al_none", on_hook, &none), CST_OK);
    assert_int_equal(none.n, 0);
}

static cst_err on_incident(const cst_incident_row *i, void *ctx)
{
    ids_add(ctx, i->id);
    return CST_OK;
}

static cst_err on_entry(const cst_timeline_row *t, void *ctx)
{
    char one[64];
    snprintf(one, sizeof(one), "%lld:%.40s", (long long)t->seq, t->entry);
    ids_add(ctx, one);
    return CST_OK;
}

static cst_err on_clock(const cst_clock_row *c, void *ctx)
{
    char one[96];
    snprintf(one, sizeof(one), "%s/%s@%lld", c->incident_id, c->tenant_id, (long long)c->deadline);
    ids_add(ctx, one);
    return CST_OK;
}

static void incident(const char *id, const char *title, int64_t created)
{
    cst_incident_row i;
    memset(&i, 0, sizeof(i));
    snprintf(i.id, sizeof(i.id), "%s", id);
    snprintf(i.title, sizeof(i.title), "%s", title);
    strcpy(i.severity, "high");
    strcpy(i.status, "open");
    strcpy(i.tenants, "[]");
    strcpy(i.data_categories, "[]");
    i.created_at = i.updated_at = created;
    assert_int_equal(cst_store_incident_put(st, NULL, &i), CST_OK);
}

static void entry(cst_store *s, const char *incident_id, const char *text, int64_t want)
{
    cst_timeline_row t;
    memset(&t, 0, sizeof(t));
    snprintf(t.incident_id, sizeof(t.incident_id), "%s", incident_id);
    strcpy(t.actor, "us_1");
    snprintf(t.entry, sizeof(t.entry), "%s", text);
    t.at = 5;
    int64_t seq = 0;
    assert_int_equal(cst_store_timeline_add(s, NULL, &t, &seq), CST_OK);
    assert_int_equal(seq, want);
}

static void put_clock(const char *incident_id, const char *tenant, int64_t deadline)
{
    cst_clock_row c;
    memset(&c, 0, sizeof(c));
    snprintf(c.incident_id, sizeof(c.incident_id), "%s", incident_id);
    snprintf(c.tenant_id, sizeof(c.tenant_id), "%s", tenant);
    c.aware_at = 1;
    c.deadline = deadline;
    c.hours = 72;
    assert_int_equal(cst_store_clock_put(st, NULL, &c), CST_OK);
}

/* INC-1, INC-2: incidents newest first (replaced whole by a put), each timeline numbered from
 * 1 by the store and listed in order, clocks by deadline. */
static void test_inc1_incidents_timeline_clocks(void **state)
{
    incident("in_b", "first", 10);
    incident("in_a", "second", 20);
    incident("in_c", "third", 20);
    incident("in_b", "first, renamed", 10);
    ids l = {0};
    assert_int_equal(cst_store_incident_list(st2, NULL, on_incident, &l), CST_OK);
    assert_string_equal(l.s, "in_a in_c in_b");
    cst_incident_row i;
    assert_int_equal(cst_store_incident_get(st2, NULL, "in_b", &i), CST_OK);
    assert_string_equal(i.title, "first, renamed");
    assert_int_equal(cst_store_incident_get(st2, NULL, "in_x", &i), CST_ERR_NOT_FOUND);
    assert_string_equal(cst_err_message(CST_ERR_NOT_FOUND), "no such resource");
    cst_err_clear();

    entry(st, "in_a", "opened", 1);
    entry(st2, "in_a", "triaged", 2);
    entry(st2, "in_b", "opened", 1);
    entry(st, "in_a", "closed", 3);
    ids t = {0};
    assert_int_equal(cst_store_timeline_list(st2, NULL, "in_a", on_entry, &t), CST_OK);
    assert_string_equal(t.s, "1:opened 2:triaged 3:closed");

    put_clock("in_a", "tn_2", 500);
    put_clock("in_a", "tn_1", 500);
    put_clock("in_b", "tn_1", 300);
    put_clock("in_a", "tn_3", 900);
    put_clock("in_a", "tn_3", 100); /* replaced */
    ids c = {0}, all = {0};
    assert_int_equal(cst_store_clock_list(st2, NULL, "in_a", on_clock, &c), CST_OK);
    assert_string_equal(c.s, "in_a/tn_3@100 in_a/tn_1@500 in_a/tn_2@500");
    assert_int_equal(cst_store_clock_list(st2, NULL, NULL, on_clock, &all), CST_OK);
    assert_string_equal(all.s, "in_a/tn_3@100 in_b/tn_1@300 in_a/tn_1@500 in_a/tn_2@500");
}

/* Runs sql on the store's database with the driver's own client, outside custodia; out gets
 * what it printed. Returns its exit status. */
static int db_shell(const char *sql, char *out, size_t n)
{
    char cmd[1024];
    if (strcmp(ts_store_driver(), "postgresql") == 0)
        snprintf(cmd, sizeof(cmd), "%s/psql '%s' -X -q -c '\\set VERBOSITY verbose' -c \"%s\" 2>&1",
                 TS_PG_BIN, ts_store_dsn(dir), sql);
    else
        snprintf(cmd, sizeof(cmd), "sqlite3 %s/system.db \"%s\" 2>&1", dir, sql);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t len = fread(out, 1, n - 1, f);
    out[len] = '\0';
    return pclose(f);
}

/* INC-1: the timeline is append-only in the database itself: a change or a deletion by any
 * client is refused (on PostgreSQL with SQLSTATE 23001, which the driver reports as
 * CST_ERR_CONFLICT, as SQLite's trigger is a constraint error), and the entries stay. */
static void test_inc1_timeline_refuses_change_in_the_database(void **state)
{
    entry(st, "in_sealed", "opened", 1);
    entry(st2, "in_sealed", "closed", 2);
    const char *sql[][2] = {{"UPDATE ", " SET entry = 'x'"}, {"DELETE FROM ", " WHERE seq = 2"}};
    bool pg = strcmp(ts_store_driver(), "postgresql") == 0;
    for (int i = 0; i < 2; i++) {
        char q[160], out[1024];
        snprintf(q, sizeof(q), "%s%sincident_timeline%s", sql[i][0], pg ? "custodia_system." : "",
                 sql[i][1]);
        assert_int_not_equal(db_shell(q, out, sizeof(out)), 0);
        if (!strstr(out, "the incident timeline is append-only") || (pg && !strstr(out, "23001")))
            fail_msg("%s: %s", q, out);
    }
    ids t = {0};
    assert_int_equal(cst_store_timeline_list(st, NULL, "in_sealed", on_entry, &t), CST_OK);
    assert_string_equal(t.s, "1:opened 2:closed");
}

static cst_err on_notice(const cst_notice_row *nt, void *ctx)
{
    ids_add(ctx, nt->id);
    return CST_OK;
}

static void notice(const char *id, const char *incident_id, const char *tenant, int version,
                   int64_t sent_at, cst_err want)
{
    cst_notice_row *nt = calloc(1, sizeof(*nt));
    assert_non_null(nt);
    snprintf(nt->id, sizeof(nt->id), "%s", id);
    snprintf(nt->incident_id, sizeof(nt->incident_id), "%s", incident_id);
    snprintf(nt->tenant_id, sizeof(nt->tenant_id), "%s", tenant);
    nt->version = version;
    nt->sent_at = sent_at;
    strcpy(nt->document, "{\"v\":1}");
    strcpy(nt->decision, "pending");
    assert_int_equal(cst_store_notice_add(st, NULL, nt), want);
    free(nt);
}

static cst_err decide(cst_store *s, const char *id, const char *by)
{
    cst_notice_row *nt = calloc(1, sizeof(*nt));
    assert_non_null(nt);
    snprintf(nt->id, sizeof(nt->id), "%s", id);
    strcpy(nt->decision, "approved");
    snprintf(nt->decided_by, sizeof(nt->decided_by), "%s", by);
    nt->decided_at = 77;
    strcpy(nt->comment, "ok");
    cst_err e = cst_store_notice_decide(s, NULL, nt);
    free(nt);
    return e;
}

/* INC-3, INC-4: a notice version exists once; notices list newest first, filtered by incident
 * and tenant (NULL: any); a decision is taken once. */
static void test_inc3_notices_versions_and_one_decision(void **state)
{
    notice("nt_1", "in_n", "tn_1", 1, 100, CST_OK);
    notice("nt_2", "in_n", "tn_1", 2, 200, CST_OK);
    notice("nt_3", "in_n", "tn_2", 1, 200, CST_OK);
    notice("nt_4", "in_m", "tn_1", 1, 200, CST_OK);
    notice("nt_5", "in_n", "tn_1", 2, 300, CST_ERR_CONFLICT); /* that version exists */
    cst_err_clear();
    notice("nt_1", "in_n", "tn_9", 1, 300, CST_ERR_CONFLICT); /* that id exists */
    cst_err_clear();
    ids a = {0}, b = {0}, c = {0};
    assert_int_equal(cst_store_notice_list(st2, NULL, NULL, NULL, on_notice, &a), CST_OK);
    assert_string_equal(a.s, "nt_2 nt_3 nt_4 nt_1");
    assert_int_equal(cst_store_notice_list(st2, NULL, "in_n", NULL, on_notice, &b), CST_OK);
    assert_string_equal(b.s, "nt_2 nt_3 nt_1");
    assert_int_equal(cst_store_notice_list(st2, NULL, NULL, "tn_1", on_notice, &c), CST_OK);
    assert_string_equal(c.s, "nt_2 nt_4 nt_1");

    assert_int_equal(decide(st2, "nt_2", "us_a"), CST_OK);
    assert_int_equal(decide(st, "nt_2", "us_b"), CST_ERR_CONFLICT);
    assert_string_equal(cst_err_message(CST_ERR_CONFLICT), "notice nt_2 was decided already");
    cst_err_clear();
    cst_notice_row *got = calloc(1, sizeof(*got));
    assert_non_null(got);
    assert_int_equal(cst_store_notice_get(st, NULL, "nt_2", got), CST_OK);
    assert_string_equal(got->decided_by, "us_a");
    assert_string_equal(got->decision, "approved");
    assert_int_equal(got->version, 2);
    assert_string_equal(got->document, "{\"v\":1}");
    assert_int_equal(cst_store_notice_get(st, NULL, "nt_9", got), CST_ERR_NOT_FOUND);
    cst_err_clear();
    free(got);
}

static cst_err on_review(const cst_review_row *r, void *ctx)
{
    ids_add(ctx, r->id);
    return CST_OK;
}

static cst_err on_decision(const cst_review_decision_row *d, void *ctx)
{
    char one[96];
    snprintf(one, sizeof(one), "%s=%s", d->principal, d->decision);
    ids_add(ctx, one);
    return CST_OK;
}

static cst_err review(cst_store *s, cst_work *w, const char *id, const char *scope, int64_t at)
{
    cst_review_row r;
    memset(&r, 0, sizeof(r));
    snprintf(r.id, sizeof(r.id), "%s", id);
    snprintf(r.scope, sizeof(r.scope), "%s", scope);
    strcpy(r.state, "open");
    r.opened_at = at;
    strcpy(r.opened_by, "us_1");
    strcpy(r.snapshot_sha256, "ab");
    return cst_store_review_add(s, w, &r, "{\"snap\":true}");
}

static void review_decide(cst_store *s, cst_work *w, const char *id, const char *principal,
                          const char *decision)
{
    cst_review_decision_row d;
    memset(&d, 0, sizeof(d));
    snprintf(d.review_id, sizeof(d.review_id), "%s", id);
    snprintf(d.principal, sizeof(d.principal), "%s", principal);
    snprintf(d.decision, sizeof(d.decision), "%s", decision);
    strcpy(d.by, "us_1");
    d.at = 9;
    assert_int_equal(cst_store_review_decide(s, w, &d), CST_OK);
}

/* IAM-6: one open campaign per scope; a refused campaign leaves the request's transaction
 * usable (its other writes commit); attested once; decisions replaced, by principal; a reminder
 * is claimed once per interval. */
static void test_iam6_reviews_open_once_attest_once_remind(void **state)
{
    assert_int_equal(review(st, NULL, "rv_1", "tn_r", 100), CST_OK);
    cst_txn *t;
    cst_work *w;
    assert_int_equal(cst_txn_begin(&t), CST_OK);
    assert_int_equal(cst_work_begin(t, &w), CST_OK);
    review_decide(st2, w, "rv_1", "us_z", "keep");
    assert_int_equal(review(st2, w, "rv_2", "tn_r", 200), CST_ERR_CONFLICT);
    assert_string_equal(cst_err_message(CST_ERR_CONFLICT),
                        "an access review is open already: attest it before opening another");
    cst_err_clear();
    review_decide(st2, w, "rv_1", "us_y", "revoke");
    review_decide(st2, w, "rv_1", "us_z", "revoke"); /* replaced */
    assert_int_equal(cst_work_end(w, true), CST_OK);
    assert_int_equal(cst_txn_commit(t), CST_OK);
    ids d = {0};
    assert_int_equal(cst_store_review_decisions(st, NULL, "rv_1", on_decision, &d), CST_OK);
    assert_string_equal(d.s, "us_y=revoke us_z=revoke");

    assert_int_equal(cst_store_review_attest(st2, NULL, "rv_1", 300, "us_2", "{\"att\":1}"),
                     CST_OK);
    assert_int_equal(cst_store_review_attest(st, NULL, "rv_1", 301, "us_3", "{}"),
                     CST_ERR_CONFLICT);
    assert_string_equal(cst_err_message(CST_ERR_CONFLICT),
                        "access review rv_1 was attested already");
    cst_err_clear();
    assert_int_equal(review(st2, NULL, "rv_2", "tn_r", 400), CST_OK); /* the scope's next */
    assert_int_equal(review(st2, NULL, "rv_3", "tn_s", 400), CST_OK);
    ids l = {0};
    assert_int_equal(cst_store_review_list(st, NULL, "tn_r", on_review, &l), CST_OK);
    assert_string_equal(l.s, "rv_2 rv_1");

    cst_review_row r;
    cst_buf snap, att;
    cst_buf_init(&snap, 64);
    cst_buf_init(&att, 64);
    assert_int_equal(cst_store_review_get(st, NULL, "rv_1", &r, &snap, &att), CST_OK);
    assert_string_equal(r.state, "attested");
    assert_string_equal(r.attested_by, "us_2");
    assert_int_equal(r.attested_at, 300);
    assert_int_equal(snap.len, strlen("{\"snap\":true}"));
    assert_memory_equal(snap.data, "{\"snap\":true}", snap.len);
    assert_int_equal(att.len, strlen("{\"att\":1}"));
    assert_int_equal(cst_store_review_get(st, NULL, "rv_2", &r, NULL, &att), CST_OK);
    assert_int_equal(att.len, 0); /* not attested yet */
    assert_int_equal(cst_store_review_get(st, NULL, "rv_9", &r, NULL, NULL), CST_ERR_NOT_FOUND);
    assert_string_equal(cst_err_message(CST_ERR_NOT_FOUND), "no such access review");
    cst_err_clear();
    cst_buf_free(&snap);
    cst_buf_free(&att);

    bool claimed = false;
    int64_t day = 86400LL * 1000000;
    assert_int_equal(cst_store_review_remind(st, "tn_r", 10 * day, day, &claimed), CST_OK);
    assert_true(claimed);
    assert_int_equal(cst_store_review_remind(st2, "tn_r", 10 * day, day, &claimed), CST_OK);
    assert_false(claimed);
    assert_int_equal(cst_store_review_remind(st2, "tn_r", 11 * day - 1, day, &claimed), CST_OK);
    assert_false(claimed);
    assert_int_equal(cst_store_review_remind(st2, "tn_r", 11 * day, day, &claimed), CST_OK);
    assert_true(claimed);
}

static cst_err on_access(const cst_access_row *a, void *ctx)
{
    ids_add(ctx, a->id);
    return CST_OK;
}

static void access_put(const char *id, const char *tenant, int64_t created, const char *state)
{
    cst_access_row *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    snprintf(a->id, sizeof(a->id), "%s", id);
    snprintf(a->tenant_id, sizeof(a->tenant_id), "%s", tenant);
    strcpy(a->requester, "us_op");
    strcpy(a->requester_name, "op");
    strcpy(a->reason, "customer_support");
    strcpy(a->buckets, "[\"*\"]");
    strcpy(a->state, state);
    strcpy(a->review_state, "none");
    strcpy(a->approvals, "[]");
    a->perms = 0x80000003u;
    a->break_glass = true;
    a->created_at = created;
    a->window_until = 1LL << 40;
    assert_int_equal(cst_store_access_put(st, NULL, a), CST_OK);
    free(a);
}

/* IAM-8: access requests newest first, by tenant or all (NULL); a put replaces the row; use
 * adds to its counters. */
static void test_iam8_access_requests(void **state)
{
    access_put("ar_2", "tn_x", 100, "pending");
    access_put("ar_1", "tn_x", 100, "pending");
    access_put("ar_3", "tn_y", 200, "pending");
    access_put("ar_2", "tn_x", 100, "approved");
    ids x = {0}, all = {0};
    assert_int_equal(cst_store_access_list(st2, NULL, "tn_x", on_access, &x), CST_OK);
    assert_string_equal(x.s, "ar_1 ar_2");
    assert_int_equal(cst_store_access_list(st2, NULL, NULL, on_access, &all), CST_OK);
    assert_string_equal(all.s, "ar_3 ar_1 ar_2");
    assert_int_equal(cst_store_access_use(st2, NULL, "ar_2", 2, 30), CST_OK);
    assert_int_equal(cst_store_access_use(st, NULL, "ar_2", 1, 5), CST_OK);
    cst_access_row *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    assert_int_equal(cst_store_access_get(st2, NULL, "ar_2", a), CST_OK);
    assert_string_equal(a->state, "approved");
    assert_int_equal(a->use_requests, 3);
    assert_int_equal(a->use_records_read, 35);
    assert_int_equal(a->perms, 0x80000003u);
    assert_true(a->break_glass);
    assert_int_equal(a->window_until, 1LL << 40);
    assert_string_equal(a->buckets, "[\"*\"]");
    assert_int_equal(cst_store_access_get(st2, NULL, "ar_9", a), CST_ERR_NOT_FOUND);
    assert_string_equal(cst_err_message(CST_ERR_NOT_FOUND), "no such access request");
    cst_err_clear();
    free(a);
}

/* ---- two nodes at once: two threads, each with its own store handle ---- */

#define APPENDS 100 /* per node */
#define ROUNDS 20

typedef struct node_run {
    cst_store *s;
    int node;
    pthread_barrier_t *b;
    int64_t seqs[APPENDS];
    cst_err errs[ROUNDS];
    bool claimed[ROUNDS];
    cst_err fail;
    char why[256]; /* the failure's message (a thread's own) */
} node_run;

/* Appends APPENDS entries, each in a request's transaction and unit of work (as the API
 * does). */
static void *append_entries(void *p)
{
    node_run *r = p;
    pthread_barrier_wait(r->b);
    for (int i = 0; i < APPENDS && r->fail == CST_OK; i++) {
        cst_timeline_row t;
        memset(&t, 0, sizeof(t));
        strcpy(t.incident_id, "in_race");
        snprintf(t.actor, sizeof(t.actor), "node%d", r->node);
        snprintf(t.entry, sizeof(t.entry), "node %d entry %d", r->node, i);
        cst_txn *tx = NULL;
        cst_work *w = NULL;
        cst_err e = cst_txn_begin(&tx);
        if (e == CST_OK && (e = cst_work_begin(tx, &w)) == CST_OK) {
            e = cst_store_timeline_add(r->s, w, &t, &r->seqs[i]);
            cst_err end = cst_work_end(w, e == CST_OK);
            if (e == CST_OK)
                e = end;
        }
        if (tx)
            e = e == CST_OK ? cst_txn_commit(tx) : (cst_txn_rollback(tx), e);
        r->fail = e;
    }
    if (r->fail != CST_OK)
        snprintf(r->why, sizeof(r->why), "%s", cst_err_message(r->fail));
    return NULL;
}

static void run_two(node_run r[2], void *(*fn)(void *))
{
    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, 2);
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        r[k].s = k ? st2 : st;
        r[k].node = k;
        r[k].b = &b;
        assert_int_equal(pthread_create(&th[k], NULL, fn, &r[k]), 0);
    }
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    pthread_barrier_destroy(&b);
}

static cst_err on_seq(const cst_timeline_row *t, void *ctx)
{
    int *next = ctx;
    ENSURE(t->seq == *next, CST_ERR_INTEGRITY, "seq %lld listed where %d was due",
           (long long)t->seq, *next);
    (*next)++;
    return CST_OK;
}

/* INC-1 on two nodes: appends at once from both number the timeline 1..2*APPENDS, each seq
 * once, and each node is told the seq its entry got. */
static void test_inc1_two_nodes_number_a_timeline_without_gaps(void **state)
{
    static node_run r[2];
    memset(r, 0, sizeof(r));
    run_two(r, append_entries);
    for (int k = 0; k < 2; k++)
        if (r[k].fail != CST_OK)
            fail_msg("node %d: %s", k, r[k].why);
    int told[2 * APPENDS + 1] = {0};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < APPENDS; i++) {
            assert_in_range(r[k].seqs[i], 1, 2 * APPENDS);
            told[r[k].seqs[i]]++;
            if (i > 0) /* a node's own entries in its order */
                assert_true(r[k].seqs[i] > r[k].seqs[i - 1]);
        }
    for (int s = 1; s <= 2 * APPENDS; s++)
        assert_int_equal(told[s], 1);
    int next = 1; /* listed in order: 1, 2, 3 ... */
    assert_int_equal(cst_store_timeline_list(st2, NULL, "in_race", on_seq, &next), CST_OK);
    assert_int_equal(next, 2 * APPENDS + 1);
}

/* Each round, both nodes claim the same scope's reminder at the same now. */
static void *remind(void *p)
{
    node_run *r = p;
    int64_t day = 86400LL * 1000000;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_barrier_wait(r->b);
        r->errs[i] =
            cst_store_review_remind(r->s, "tn_remind", (100 + i) * day, day, &r->claimed[i]);
    }
    return NULL;
}

/* IAM-6 on two nodes: a reminder sweep running on both at once reminds once a round. */
static void test_iam6_two_nodes_claim_a_reminder_once(void **state)
{
    static node_run r[2];
    memset(r, 0, sizeof(r));
    run_two(r, remind);
    for (int i = 0; i < ROUNDS; i++) {
        assert_int_equal(r[0].errs[i], CST_OK);
        assert_int_equal(r[1].errs[i], CST_OK);
        if (r[0].claimed[i] + r[1].claimed[i] != 1)
            fail_msg("round %d: claimed by %d nodes", i, r[0].claimed[i] + r[1].claimed[i]);
    }
}

/* Each round, both nodes decide the same notice. */
static void *decide_notices(void *p)
{
    node_run *r = p;
    for (int i = 0; i < ROUNDS; i++) {
        char id[32], by[32];
        snprintf(id, sizeof(id), "nt_race_%d", i);
        snprintf(by, sizeof(by), "us_node%d", r->node);
        pthread_barrier_wait(r->b);
        r->errs[i] = decide(r->s, id, by);
    }
    return NULL;
}

/* INC-4 on two nodes: a notice decided on both at once is decided once; the other is told. */
static void test_inc3_two_nodes_decide_a_notice_once(void **state)
{
    for (int i = 0; i < ROUNDS; i++) {
        char id[32];
        snprintf(id, sizeof(id), "nt_race_%d", i);
        notice(id, "in_race", "tn_1", i + 1, 1000, CST_OK);
    }
    static node_run r[2];
    memset(r, 0, sizeof(r));
    run_two(r, decide_notices);
    cst_err_clear();
    cst_notice_row *nt = calloc(1, sizeof(*nt));
    assert_non_null(nt);
    for (int i = 0; i < ROUNDS; i++) {
        int won = r[0].errs[i] == CST_OK ? 0 : 1;
        assert_int_equal(r[won].errs[i], CST_OK);
        assert_int_equal(r[1 - won].errs[i], CST_ERR_CONFLICT);
        char id[32], by[32];
        snprintf(id, sizeof(id), "nt_race_%d", i);
        snprintf(by, sizeof(by), "us_node%d", won);
        assert_int_equal(cst_store_notice_get(st, NULL, id, nt), CST_OK);
        assert_string_equal(nt->decided_by, by); /* the winner's decision stands */
    }
    free(nt);
}

/* Each round, both nodes open a review of the same scope. */
static void *open_reviews(void *p)
{
    node_run *r = p;
    for (int i = 0; i < ROUNDS; i++) {
        char id[32], scope[32];
        snprintf(id, sizeof(id), "rv_race_%d_%d", i, r->node);
        snprintf(scope, sizeof(scope), "tn_race_%d", i);
        pthread_barrier_wait(r->b);
        r->errs[i] = review(r->s, NULL, id, scope, 5);
    }
    return NULL;
}

/* IAM-6 on two nodes: of two campaigns opened at once for a scope, one is. */
static void test_iam6_two_nodes_open_one_review_per_scope(void **state)
{
    static node_run r[2];
    memset(r, 0, sizeof(r));
    run_two(r, open_reviews);
    cst_err_clear();
    for (int i = 0; i < ROUNDS; i++) {
        int won = r[0].errs[i] == CST_OK ? 0 : 1;
        assert_int_equal(r[won].errs[i], CST_OK);
        assert_int_equal(r[1 - won].errs[i], CST_ERR_CONFLICT);
        char scope[32];
        snprintf(scope, sizeof(scope), "tn_race_%d", i);
        ids l = {0};
        assert_int_equal(cst_store_review_list(st, NULL, scope, on_review, &l), CST_OK);
        assert_int_equal(l.n, 1);
    }
}

static void *use_access(void *p)
{
    node_run *r = p;
    pthread_barrier_wait(r->b);
    for (int i = 0; i < APPENDS && r->fail == CST_OK; i++)
        r->fail = cst_store_access_use(r->s, NULL, "ar_race", 1, 2);
    return NULL;
}

/* IAM-8 on two nodes: a grant's use counted on both at once adds up. */
static void test_iam8_two_nodes_count_access_use(void **state)
{
    access_put("ar_race", "tn_x", 1, "approved");
    static node_run r[2];
    memset(r, 0, sizeof(r));
    run_two(r, use_access);
    assert_int_equal(r[0].fail, CST_OK);
    assert_int_equal(r[1].fail, CST_OK);
    cst_access_row *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    assert_int_equal(cst_store_access_get(st, NULL, "ar_race", a), CST_OK);
    assert_int_equal(a->use_requests, 2 * APPENDS);
    assert_int_equal(a->use_records_read, 4 * APPENDS);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_det1_alerts_order_paging_find_prune),
        cmocka_unit_test(test_det1_webhook_queue_due_defer_list),
        cmocka_unit_test(test_inc1_incidents_timeline_clocks),
        cmocka_unit_test(test_inc1_timeline_refuses_change_in_the_database),
        cmocka_unit_test(test_inc3_notices_versions_and_one_decision),
        cmocka_unit_test(test_iam6_reviews_open_once_attest_once_remind),
        cmocka_unit_test(test_iam8_access_requests),
        cmocka_unit_test(test_inc1_two_nodes_number_a_timeline_without_gaps),
        cmocka_unit_test(test_iam6_two_nodes_claim_a_reminder_once),
        cmocka_unit_test(test_inc3_two_nodes_decide_a_notice_once),
        cmocka_unit_test(test_iam6_two_nodes_open_one_review_per_scope),
        cmocka_unit_test(test_iam8_two_nodes_count_access_use),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
