/* test_api_incidents.c: INC-1..4 against a real server: an incident's life with an append-only
 * timeline, breach clocks of 48 h and 72 h, notices refused for each missing field, sent in
 * phases and late with a reason, read and approved by the tenant; each sent notice emailed
 * through a loopback SMTP relay (tests/smtp_relay.c) to each of the tenant's notice_contacts,
 * complete and wrapped, delivered or retried while the relay refuses; then, on the stopped node
 * with a simulated clock, the deadlines a notice left unsent reaches (due at 36 h, overdue at
 * 49 h) and the report's INC rows turning from pass to warn to fail. */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <cmocka.h>

#include "core/incident.h"
#include "node/config.h"
#include "node/detect.h"
#include "node/incidents.h"
#include "report/report.h"
#include "crypto/crypto.h"
#include "util/json.h"
#include "util/util.h"
#include "harness.h"
#include "smtp_relay.h"

#define HOUR_US (3600LL * 1000000)

static ts_server srv;
static char *op, *sec, *owner_a, *owner_b, *owner_c, *auditor_a;
static char tenant_a[32], tenant_b[32], tenant_c[32];
static char incident[32];      /* the breach of tests 2-4 */
static smtp_relay relay;       /* notices.smtp_url of the group's server */
static char late_incident[32]; /* tenant C's breach, noticed past its deadline */

#define SMTP_FROM "notices@custodia.example"

/* A request whose JSON answer the caller owns (NULL when there is none); *status receives the
 * status, and the body goes to stderr when it is not want. */
static json_t *call(const char *method, const char *path, const char *token, const char *body,
                    long want, long *status)
{
    ts_resp r;
    if (body)
        ts_json_req(&srv, method, path, token, body, &r);
    else
        ts_request(&srv, method, path, token, NULL, NULL, 0, NULL, &r);
    if (r.status != want)
        fprintf(stderr, "%s %s: %ld (want %ld) %s\n", method, path, r.status, want,
                r.body ? r.body : "");
    if (status)
        *status = r.status;
    json_t *o = r.json ? json_incref(r.json) : NULL;
    ts_resp_free(&r);
    return o;
}

static json_t *ok(const char *method, const char *path, const char *token, const char *body,
                  long want)
{
    long st;
    json_t *o = call(method, path, token, body, want, &st);
    assert_int_equal(st, want);
    assert_non_null(o);
    return o;
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t time_of(const json_t *o, const char *k)
{
    int64_t us = 0;
    assert_true(cst_time_parse(str(o, k), &us));
    return us;
}

static json_t *new_incident(const char *title, char id[32])
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"title\":\"%s\",\"severity\":\"high\",\"summary\":\"suspicious reads\"}", title);
    json_t *i = ok("POST", "/v1/sys/incidents", sec, body, 201);
    snprintf(id, 32, "%s", str(i, "id"));
    return i;
}

static long patch(const char *id, const char *body)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s", id);
    return ts_status(&srv, "PATCH", path, sec, body, NULL, 0);
}

/* ---- INC-1 ---- */

static void test_inc1_open_to_closed_with_append_only_timeline(void **state)
{
    char id[32], path[160];
    long st;
    /* refused: a missing title, a bad severity, a tenant that is not an id, unknown fields */
    json_decref(call("POST", "/v1/sys/incidents", sec, "{\"severity\":\"high\",\"summary\":\"s\"}",
                     400, &st));
    assert_int_equal(st, 400);
    json_decref(call("POST", "/v1/sys/incidents", sec,
                     "{\"title\":\"t\",\"severity\":\"dire\",\"summary\":\"s\"}", 400, &st));
    assert_int_equal(st, 400);
    json_decref(call("POST", "/v1/sys/incidents", sec,
                     "{\"title\":\"t\",\"severity\":\"low\",\"summary\":\"s\",\"tenants\":[\"x\"]}",
                     400, &st));
    assert_int_equal(st, 400);
    json_decref(call("POST", "/v1/sys/incidents", sec,
                     "{\"title\":\"t\",\"severity\":\"low\",\"summary\":\"s\",\"root\":1}", 400,
                     &st));
    assert_int_equal(st, 400);

    json_t *i = new_incident("phishing", id);
    assert_true(cst_id_valid(id, "in"));
    assert_string_equal(str(i, "status"), "open");
    assert_true(cst_id_valid(str(i, "owner"), "us"));
    assert_non_null(str(i, "created_at"));
    assert_true(json_is_null(json_object_get(i, "closed_at")));
    assert_int_equal(json_array_size(json_object_get(i, "timeline")), 0);
    json_decref(i);

    /* the timeline: appended in order, each with its time and actor */
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s/timeline", id);
    json_decref(ok("POST", path, sec, "{\"entry\":\"credentials reset\"}", 201));
    i = ok("POST", path, sec, "{\"entry\":\"firewall rule added\"}", 201);
    json_t *tl = json_object_get(i, "timeline");
    assert_int_equal(json_array_size(tl), 2);
    assert_string_equal(str(json_array_get(tl, 0), "entry"), "credentials reset");
    assert_string_equal(str(json_array_get(tl, 1), "entry"), "firewall rule added");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(tl, 1), "seq")), 2);
    assert_string_equal(str(json_array_get(tl, 0), "actor"), str(i, "owner"));
    assert_non_null(str(json_array_get(tl, 0), "at"));
    json_decref(i);
    json_decref(call("POST", path, sec, "{\"entry\":\"\"}", 400, &st));
    assert_int_equal(st, 400);
    /* no route changes or deletes an entry */
    const char *const edits[][2] = {{"PUT", ""},   {"DELETE", ""},  {"PATCH", ""},
                                    {"PUT", "/1"}, {"PATCH", "/1"}, {"DELETE", "/1"}};
    for (size_t k = 0; k < sizeof(edits) / sizeof(*edits); k++) {
        char p[160];
        snprintf(p, sizeof(p), "/v1/sys/incidents/%s/timeline%s", id, edits[k][1]);
        st = ts_status(&srv, edits[k][0], p, sec, !strcmp(edits[k][0], "DELETE") ? NULL : "{}",
                       NULL, 0);
        if (st != 404 && st != 405)
            fail_msg("%s %s answered %ld", edits[k][0], p, st);
    }
    /* open -> closed is not a move; contained, resolved, then closed with cause and remedy */
    assert_int_equal(patch(id, "{\"status\":\"closed\"}"), 409);
    assert_int_equal(patch(id, "{\"status\":\"finished\"}"), 400);
    assert_int_equal(patch(id, "{}"), 400);
    assert_int_equal(patch(id, "{\"owner\":\"us_00000000000000000000\"}"), 400);
    assert_int_equal(patch(id, "{\"status\":\"contained\"}"), 200);
    assert_int_equal(patch(id, "{\"status\":\"resolved\"}"), 200);
    assert_int_equal(patch(id, "{\"status\":\"closed\"}"), 400);
    assert_int_equal(patch(id, "{\"status\":\"closed\",\"root_cause\":\"reused password\"}"), 400);
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s", id);
    i = ok("GET", path, sec, NULL, 200);
    assert_string_equal(str(i, "status"), "resolved"); /* the refused closings changed nothing */
    assert_true(json_is_null(json_object_get(i, "root_cause")));
    json_decref(i);
    char body[256];
    snprintf(body, sizeof(body),
             "{\"status\":\"closed\",\"root_cause\":\"reused password\",\"remediation\":\"MFA "
             "for all\",\"data_categories\":[\"contact\"],\"tenants\":[\"%s\"]}",
             tenant_a);
    assert_int_equal(patch(id, body), 200);
    i = ok("GET", path, sec, NULL, 200);
    assert_string_equal(str(i, "status"), "closed");
    assert_string_equal(str(i, "root_cause"), "reused password");
    assert_string_equal(str(i, "remediation"), "MFA for all");
    assert_string_equal(json_string_value(json_array_get(json_object_get(i, "tenants"), 0)),
                        tenant_a);
    assert_true(time_of(i, "closed_at") > 0);
    json_decref(i);
    assert_int_equal(patch(id, "{\"status\":\"open\"}"), 409); /* closed is final */
    /* listed; every timeline entry is an audit entry of the security stream */
    json_t *l = ok("GET", "/v1/sys/incidents", sec, NULL, 200);
    assert_true(json_array_size(json_object_get(l, "incidents")) >= 1);
    json_decref(l);
    assert_int_equal(ts_sh("test $(grep -rao '\"sys.incident.timeline\"' %s/audit/security | "
                           "wc -l) -ge 3",
                           srv.data_dir),
                     0);
    /* tenants and other operators see nothing of it */
    assert_int_equal(ts_status(&srv, "GET", path, owner_a, NULL, NULL, 0), 403);
    assert_int_equal(ts_status(&srv, "GET", path, op, NULL, NULL, 0), 403);
}

/* ---- INC-2 ---- */

static void test_inc2_confirmed_breach_48_and_72_hour_clocks(void **state)
{
    long st;
    /* tenant B chooses 72 h; more than incidents.max_notice_hours (72) or under 24 is refused */
    json_decref(call("PATCH", "/v1/tenant", owner_b, "{\"breach_notice_hours\":96}", 400, &st));
    assert_int_equal(st, 400);
    json_decref(call("PATCH", "/v1/tenant", owner_b, "{\"breach_notice_hours\":12}", 400, &st));
    assert_int_equal(st, 400);
    json_decref(
        call("PATCH", "/v1/tenant", owner_b, "{\"notice_contacts\":[\"not-an-email\"]}", 400, &st));
    assert_int_equal(st, 400);
    json_t *t = ok("PATCH", "/v1/tenant", owner_b, "{\"breach_notice_hours\":72}", 200);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(t, "settings"), "breach_notice_hours")),
        72);
    json_decref(t);
    t = ok("PATCH", "/v1/tenant", owner_a,
           "{\"notice_contacts\":[\"dpo@a.example\",\"security@a.example\"]}", 200);
    json_t *s = json_object_get(t, "settings");
    assert_int_equal(json_integer_value(json_object_get(s, "breach_notice_hours")), 48);
    assert_int_equal(json_array_size(json_object_get(s, "notice_contacts")), 2);
    json_decref(t);

    json_decref(new_incident("exfiltration", incident));
    char path[160], body[512], aware[32];
    int64_t aware_at = cst_now_us() - HOUR_US;
    cst_time_format(aware_at, aware);
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s/confirm-breach", incident);
    /* refused: a future awareness, an unknown tenant, no tenants */
    char future[32];
    cst_time_format(cst_now_us() + 2 * HOUR_US, future);
    snprintf(body, sizeof(body), "{\"aware_at\":\"%s\",\"tenants\":[\"%s\"]}", future, tenant_a);
    json_decref(call("POST", path, sec, body, 400, &st));
    assert_int_equal(st, 400);
    snprintf(body, sizeof(body), "{\"aware_at\":\"%s\",\"tenants\":[\"tn_00000000000000000000\"]}",
             aware);
    json_decref(call("POST", path, sec, body, 400, &st));
    assert_int_equal(st, 400);
    snprintf(body, sizeof(body), "{\"aware_at\":\"%s\",\"tenants\":[]}", aware);
    json_decref(call("POST", path, sec, body, 400, &st));
    assert_int_equal(st, 400);

    snprintf(body, sizeof(body), "{\"aware_at\":\"%s\",\"tenants\":[\"%s\",\"%s\"]}", aware,
             tenant_a, tenant_b);
    json_t *i = ok("POST", path, sec, body, 200);
    json_t *breach = json_object_get(i, "breach");
    assert_true(time_of(breach, "confirmed_at") > 0);
    assert_int_equal(time_of(breach, "aware_at"), aware_at);
    json_t *clocks = json_object_get(breach, "clocks");
    assert_int_equal(json_array_size(clocks), 2);
    /* ordered by deadline: A's 48 h, then B's 72 h */
    json_t *ca = json_array_get(clocks, 0), *cb = json_array_get(clocks, 1);
    assert_string_equal(str(ca, "tenant"), tenant_a);
    assert_int_equal(json_integer_value(json_object_get(ca, "hours")), 48);
    assert_int_equal(time_of(ca, "deadline"), aware_at + 48 * HOUR_US);
    assert_string_equal(str(ca, "status"), "due");
    assert_string_equal(str(cb, "tenant"), tenant_b);
    assert_int_equal(json_integer_value(json_object_get(cb, "hours")), 72);
    assert_int_equal(time_of(cb, "deadline"), aware_at + 72 * HOUR_US);
    assert_true(json_is_null(json_object_get(cb, "notice_id")));
    /* the affected tenants are recorded, and the confirmation is on the timeline */
    assert_int_equal(json_array_size(json_object_get(i, "tenants")), 2);
    assert_int_equal(json_array_size(json_object_get(i, "timeline")), 1);
    json_decref(i);
}

/* ---- INC-3 ---- */

static json_t *full_notice(const char *tenant)
{
    return json_pack("{s:s,s:s,s:s,s:[s,s],s:i,s:i,s:s,s:s,s:s,s:s}", "tenant", tenant, "nature",
                     "unauthorised read of customer records", "probable_cause",
                     "an API token leaked in a public repository", "data_categories", "contact",
                     "email", "approx_subjects", 120, "approx_records", 2, "likely_consequences",
                     "phishing of the affected people", "measures_taken",
                     "token revoked, access reviewed", "contact_point", "dpo@custodia.example",
                     "measures_proposed", "secret scanning");
}

static json_t *send_notice(const char *inc, json_t *body, long want)
{
    char path[160];
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s/notices", inc);
    char *text = json_dumps(body, JSON_COMPACT);
    long st;
    json_t *o = call("POST", path, sec, text, want, &st);
    cst_json_free_text(text);
    assert_int_equal(st, want);
    return o;
}

static void test_inc3_notice_refused_without_each_field_then_phases(void **state)
{
    /* tenant A holds two records in one bucket: the notice is pre-filled with them */
    ts_bucket(&srv, owner_a, "people");
    assert_int_equal(ts_put(&srv, owner_a, "people", "p1", "text/plain", "Ann", 3), 201);
    assert_int_equal(ts_put(&srv, owner_a, "people", "p2", "text/plain", "Bob", 3), 201);
    size_t required = 0;
    for (size_t f = 0; f < cst_notice_field_count; f++) {
        if (!cst_notice_fields[f].required)
            continue;
        required++;
        json_t *b = full_notice(tenant_a);
        json_object_del(b, cst_notice_fields[f].name);
        json_t *err = send_notice(incident, b, 400);
        const char *msg = str(json_object_get(err, "error"), "message");
        if (!msg || !strstr(msg, cst_notice_fields[f].name))
            fail_msg("missing %s: %s", cst_notice_fields[f].name, msg ? msg : "(none)");
        json_decref(err);
        json_decref(b);
    }
    assert_int_equal(required, 8);
    /* malformed values are refused too */
    json_t *b = full_notice(tenant_a);
    json_object_set_new(b, "approx_records", json_integer(-1));
    json_decref(send_notice(incident, b, 400));
    json_object_set_new(b, "approx_records", json_integer(2));
    json_object_set_new(b, "data_categories", json_array());
    json_decref(send_notice(incident, b, 400));
    json_decref(b);
    /* a tenant without a clock in this incident */
    b = full_notice(tenant_c);
    json_decref(send_notice(incident, b, 409));
    json_decref(b);

    json_t *n1 = send_notice(incident, b = full_notice(tenant_a), 201);
    json_decref(b);
    assert_true(cst_id_valid(str(n1, "id"), "nt"));
    assert_int_equal(json_integer_value(json_object_get(n1, "version")), 1);
    assert_string_equal(str(n1, "tenant"), tenant_a);
    assert_false(json_is_true(json_object_get(n1, "late")));
    assert_non_null(str(n1, "aware_at"));
    assert_int_equal(json_array_size(json_object_get(n1, "notice_contacts")), 2);
    assert_string_equal(str(json_object_get(n1, "user_notice"), "decision"), "pending");
    json_t *pre = json_object_get(n1, "prefilled");
    json_t *rec = json_object_get(pre, "records");
    assert_int_equal(json_integer_value(json_object_get(rec, "total")), 2);
    assert_string_equal(str(json_array_get(json_object_get(rec, "buckets"), 0), "bucket"),
                        "people");
    assert_true(json_is_true(json_object_get(json_object_get(pre, "encryption"), "encrypted")));
    assert_true(json_is_false(json_object_get(json_object_get(pre, "encryption"), "keys_exposed")));
    json_t *aud = json_object_get(pre, "audit");
    assert_true(json_integer_value(json_object_get(aud, "entries")) >= 3); /* bucket, 2 writes */
    assert_true(json_array_size(json_object_get(aud, "ids")) >= 3);
    /* a second phase: version 2, the first kept */
    b = full_notice(tenant_a);
    json_object_set_new(b, "unauthorized_recipients", json_string("an unknown party"));
    json_t *n2 = send_notice(incident, b, 201);
    json_decref(b);
    assert_int_equal(json_integer_value(json_object_get(n2, "version")), 2);
    char path[160];
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s", incident);
    json_t *i = ok("GET", path, sec, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(i, "notices")), 2);
    json_t *clock = json_array_get(json_object_get(json_object_get(i, "breach"), "clocks"), 0);
    assert_string_equal(str(clock, "status"), "sent");
    assert_string_equal(str(clock, "notice_id"), str(n2, "id"));
    json_decref(i);
    json_decref(n1);
    json_decref(n2);

    /* past the deadline: delay_reason is required, and the notice says it is late */
    char *late = late_incident, body[256];
    json_decref(new_incident("late discovery", late));
    char aware[32];
    cst_time_format(cst_now_us() - 49 * HOUR_US, aware);
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s/confirm-breach", late);
    snprintf(body, sizeof(body), "{\"aware_at\":\"%s\",\"tenants\":[\"%s\"]}", aware, tenant_c);
    i = ok("POST", path, sec, body, 200);
    assert_string_equal(
        str(json_array_get(json_object_get(json_object_get(i, "breach"), "clocks"), 0), "status"),
        "overdue");
    json_decref(i);
    json_t *err = send_notice(late, b = full_notice(tenant_c), 400);
    assert_non_null(strstr(str(json_object_get(err, "error"), "message"), "delay_reason"));
    json_decref(err);
    json_object_set_new(b, "delay_reason", json_string("the provider learnt of it late"));
    json_t *n3 = send_notice(late, b, 201);
    json_decref(b);
    assert_true(json_is_true(json_object_get(n3, "late")));
    assert_string_equal(str(n3, "delay_reason"), "the provider learnt of it late");
    json_decref(n3);
}

/* ---- INC-4 ---- */

static void test_inc4_tenant_reads_and_approves(void **state)
{
    json_t *l = ok("GET", "/v1/notices", owner_a, NULL, 200);
    json_t *notices = json_object_get(l, "notices");
    assert_int_equal(json_array_size(notices), 2);
    char id[32], path[160];
    snprintf(id, sizeof(id), "%s", str(json_array_get(notices, 0), "id"));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(notices, 0), "version")), 2);
    json_decref(l);
    /* the auditor reads it but may not decide; another tenant does not see it */
    snprintf(path, sizeof(path), "/v1/notices/%s", id);
    json_t *n = ok("GET", path, auditor_a, NULL, 200);
    assert_string_equal(str(n, "nature"), "unauthorised read of customer records");
    json_decref(n);
    assert_int_equal(ts_status(&srv, "GET", path, owner_b, NULL, NULL, 0), 404);
    l = ok("GET", "/v1/notices", owner_b, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(l, "notices")), 0);
    json_decref(l);
    snprintf(path, sizeof(path), "/v1/notices/%s/approve-user-notice", id);
    assert_int_equal(
        ts_status(&srv, "POST", path, auditor_a, "{\"decision\":\"approve\"}", NULL, 0), 403);
    assert_int_equal(ts_status(&srv, "POST", path, owner_b, "{\"decision\":\"approve\"}", NULL, 0),
                     404);
    assert_int_equal(ts_status(&srv, "POST", path, owner_a, "{\"decision\":\"maybe\"}", NULL, 0),
                     400);
    n = ok("POST", path, owner_a,
           "{\"decision\":\"approve\",\"comment\":\"notify users on Monday\"}", 200);
    json_t *un = json_object_get(n, "user_notice");
    assert_string_equal(str(un, "decision"), "approved");
    assert_true(cst_id_valid(str(un, "by"), "us"));
    assert_string_equal(str(un, "comment"), "notify users on Monday");
    assert_non_null(str(un, "at"));
    json_decref(n);
    /* recorded once */
    assert_int_equal(ts_status(&srv, "POST", path, owner_a, "{\"decision\":\"decline\"}", NULL, 0),
                     409);
    snprintf(path, sizeof(path), "/v1/notices/%s", id);
    n = ok("GET", path, owner_a, NULL, 200);
    assert_string_equal(str(json_object_get(n, "user_notice"), "decision"), "approved");
    json_decref(n);
    /* audited: the decision, and the notices in the tenant's own trail */
    assert_int_equal(ts_sh("grep -rqa notice.user_notice.decide %s/audit/security", srv.data_dir),
                     0);
    l = ok("GET", "/v1/audit?limit=1000", owner_a, NULL, 200);
    char *text = json_dumps(l, JSON_COMPACT);
    assert_non_null(strstr(text, "notice.user_notice.decide"));
    assert_non_null(strstr(text, "sys.notice.send"));
    cst_json_free_text(text);
    json_decref(l);
}

/* ---- INC-3: the notice emailed to the tenant's notice_contacts ---- */

/* Sends notice body b (taken) to tenant A in the breach of tests 2-4; its id into id. */
static void send_notice_a(json_t *b, char id[32])
{
    json_t *n = send_notice(incident, b, 201);
    json_decref(b);
    snprintf(id, 32, "%s", str(n, "id"));
    json_decref(n);
}

/* The email deliveries of a notice (its JSON with deliveries), with the one to address. */
static json_t *email_delivery(const json_t *notice, const char *address)
{
    char url[300];
    snprintf(url, sizeof(url), "mailto:%s", address);
    size_t k;
    json_t *d;
    json_array_foreach(json_object_get(notice, "deliveries"), k, d)
    {
        if (!strcmp(str(d, "destination"), "email") && !strcmp(str(d, "url"), url))
            return d;
    }
    return NULL;
}

static size_t email_deliveries(const json_t *notice)
{
    size_t k, n = 0;
    json_t *d;
    json_array_foreach(json_object_get(notice, "deliveries"), k, d) n +=
        !strcmp(str(d, "destination"), "email");
    return n;
}

/* The notice nt of the incident as GET /v1/sys/incidents/{id} shows it (notices[]). */
static json_t *incident_notice(const char *inc, const char *nt)
{
    char path[160];
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s", inc);
    json_t *i = ok("GET", path, sec, NULL, 200), *found = NULL;
    size_t k;
    json_t *n;
    json_array_foreach(json_object_get(i, "notices"), k, n)
    {
        if (!strcmp(str(n, "id"), nt))
            found = json_incref(n);
    }
    json_decref(i);
    assert_non_null(found);
    return found;
}

typedef bool (*delivery_check)(const json_t *d);

/* Polls GET /v1/sys/incidents/{inc} (at most 20 s) until each email delivery of notice nt to
 * the contacts passes check; returns that notice. */
static json_t *wait_deliveries(const char *inc, const char *nt, const char *const *contacts,
                               delivery_check check)
{
    double until = ts_now_s() + 20;
    for (;;) {
        json_t *n = incident_notice(inc, nt);
        bool all = true;
        for (const char *const *c = contacts; *c && all; c++) {
            json_t *d = email_delivery(n, *c);
            all = d && check(d);
        }
        if (all)
            return n;
        if (ts_now_s() > until) {
            char *text = json_dumps(json_object_get(n, "deliveries"), JSON_COMPACT);
            fail_msg("deliveries of %s: %s", nt, text);
        }
        json_decref(n);
        struct timespec pause = {0, 100 * 1000000};
        nanosleep(&pause, NULL);
    }
}

static int64_t integer(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static bool delivered(const json_t *d)
{
    return !strcmp(str(d, "status"), "delivered");
}

/* Retried: attempted at least twice, each time refused by the relay, still pending. */
static bool refused_twice(const json_t *d)
{
    return integer(d, "attempts") >= 2 && !strcmp(str(d, "status"), "pending") &&
           integer(d, "last_status") == 451;
}

/* The message the relay accepted with Message-ID <msg_id@...>, into *m; false when none. */
static bool relay_find(const char *msg_id, smtp_message *m)
{
    char want[128];
    snprintf(want, sizeof(want), "\r\nMessage-ID: <%s@", msg_id);
    for (int i = 0; smtp_relay_message(&relay, i, m); i++) {
        if (strstr(m->data, want))
            return true;
    }
    return false;
}

/* Header name's value in m (the first; headers end at the first empty line), into out. */
static bool mail_header(const smtp_message *m, const char *name, char *out, size_t n)
{
    size_t len = strlen(name);
    for (const char *p = m->data; *p && strncmp(p, "\r\n", 2) != 0;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if (!strncasecmp(p, name, len) && p[len] == ':' && p[len + 1] == ' ') {
            snprintf(out, n, "%.*s", (int)(eol - p - len - 2), p + len + 2);
            return true;
        }
        p = eol + 2;
    }
    return false;
}

/* The paragraph of field label in the body: its lines (each "  " + text), with the two
 * spaces of each line and the line ends taken out, and with every space taken out when
 * squeeze. */
static void paragraph(const char *body, const char *label, bool squeeze, char *out, size_t n)
{
    char head[128];
    snprintf(head, sizeof(head), "\r\n%s:\r\n", label);
    const char *p = strstr(body, head);
    assert_non_null(p);
    p += strlen(head);
    size_t len = 0;
    while (!strncmp(p, "  ", 2)) {
        const char *eol = strstr(p, "\r\n");
        assert_non_null(eol);
        assert_true(eol - p <= 78); /* wrapped at 76 columns, indented by 2 */
        for (const char *c = p + 2; c < eol; c++)
            if (!(squeeze && *c == ' ') && len + 1 < n)
                out[len++] = *c;
        p = eol + 2;
    }
    out[len] = '\0';
}

static void squeeze_spaces(const char *in, char *out)
{
    for (; *in; in++)
        if (*in != ' ')
            *out++ = *in;
    *out = '\0';
}

/* A 2,000-byte nature without newlines: words, a word of 120 letters, "é" here and there. */
static void long_nature(char out[2001])
{
    static const char *const words[] = {
        "unauthorised", "read",       "of",  "records", "données", "été", "consultées", "par", "un",
        "tiers",        "éééééééééé", "via", "the",     "leaked",  "API", "token",
    };
    size_t len = 0, w = 0;
    while (len < 1800) {
        const char *word = words[w++ % (sizeof(words) / sizeof(*words))];
        len += (size_t)snprintf(out + len, 2001 - len, "%s ", word);
        if (w == 40) { /* a word longer than a line: split within it */
            for (int k = 0; k < 120; k++)
                out[len++] = k % 30 == 29 ? 'e' : (char)('a' + k % 26);
            out[len++] = ' ';
        }
    }
    while (len < 2000)
        out[len++] = 'z';
    out[len] = '\0';
}

static void test_inc3_notice_emailed_once_to_each_contact_complete_and_wrapped(void **state)
{
    static const char *const contacts[] = {"dpo@a.example", "security@a.example", NULL};
    static char nature[2001], got[4096], want[4096];
    long_nature(nature);
    assert_int_equal(strlen(nature), 2000);
    /* the emails of the two notices sent to tenant A before (test 3) are out first */
    char path[160];
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s", incident);
    json_t *i = ok("GET", path, sec, NULL, 200), *earlier;
    size_t k;
    assert_int_equal(json_array_size(json_object_get(i, "notices")), 2);
    json_array_foreach(json_object_get(i, "notices"), k, earlier)
        json_decref(wait_deliveries(incident, str(earlier, "id"), contacts, delivered));
    json_decref(i);
    int before = smtp_relay_accepted(&relay);
    assert_int_equal(before, 4);
    json_t *b = full_notice(tenant_a);
    json_object_set_new(b, "nature", json_string(nature));
    json_t *n = send_notice(incident, b, 201);
    json_decref(b);
    char id[32];
    snprintf(id, sizeof(id), "%s", str(n, "id"));
    /* the 201 answer lists one email delivery per contact, queued */
    assert_int_equal(email_deliveries(n), 2);
    for (const char *const *c = contacts; *c; c++) {
        json_t *d = email_delivery(n, *c);
        assert_non_null(d);
        assert_string_equal(str(d, "status"), "pending");
        assert_true(cst_id_valid(str(d, "id"), "msg"));
    }
    json_decref(n);

    /* delivered, with the relay's 250, in the incident's notices[] and in the tenant's notice */
    n = wait_deliveries(incident, id, contacts, delivered);
    assert_int_equal(email_deliveries(n), 2);
    snprintf(path, sizeof(path), "/v1/notices/%s", id);
    json_t *tn = ok("GET", path, owner_a, NULL, 200);
    assert_int_equal(email_deliveries(tn), 2);
    assert_int_equal(smtp_relay_accepted(&relay), before + 2); /* one email per contact */
    static smtp_message m;
    for (const char *const *c = contacts; *c; c++) {
        json_t *d = email_delivery(n, *c), *td = email_delivery(tn, *c);
        assert_non_null(td);
        assert_string_equal(str(td, "id"), str(d, "id"));
        assert_string_equal(str(td, "status"), "delivered");
        assert_int_equal(integer(td, "last_status"), 250);
        assert_int_equal(integer(d, "last_status"), 250);
        assert_int_equal(integer(d, "attempts"), 1);
        assert_true(json_is_null(json_object_get(d, "last_error")));
        assert_true(time_of(d, "delivered_at") > 0);

        /* the message: envelope, headers */
        assert_true(relay_find(str(d, "id"), &m));
        char rcpt[300], h[300];
        snprintf(rcpt, sizeof(rcpt), "<%s>", *c);
        assert_string_equal(m.mail_from, "<" SMTP_FROM ">");
        assert_int_equal(m.nrcpt, 1);
        assert_string_equal(m.rcpt[0], rcpt);
        assert_true(mail_header(&m, "From", h, sizeof(h)));
        assert_string_equal(h, SMTP_FROM);
        assert_true(mail_header(&m, "To", h, sizeof(h)));
        assert_string_equal(h, *c);
        assert_true(mail_header(&m, "Subject", h, sizeof(h)));
        char subject[200];
        snprintf(subject, sizeof(subject), "Breach notice %s (version 3) for tenant %s", id,
                 tenant_a);
        assert_string_equal(h, subject);
        assert_true(mail_header(&m, "Message-ID", h, sizeof(h)));
        char mid[100];
        snprintf(mid, sizeof(mid), "<%s@custodia>", str(d, "id"));
        assert_string_equal(h, mid);
        /* every line within RFC 5322's 998 octets */
        for (const char *p = m.data; *p;) {
            const char *eol = strstr(p, "\r\n");
            assert_non_null(eol);
            assert_true(eol - p <= 998);
            p = eol + 2;
        }
        /* the body: each content field under its label, and where the notice is read */
        static char body[SMTP_RELAY_DATA];
        smtp_relay_unstuff(strstr(m.data, "\r\n\r\n") + 2, body);
        for (const char *p = body + 2; *p; p = strstr(p, "\r\n") + 2)
            assert_true(strstr(p, "\r\n") - p <= 78); /* the body wrapped at 76 columns */
        paragraph(body, "Probable cause", false, got, sizeof(got));
        assert_string_equal(got, "an API token leaked in a public repository");
        paragraph(body, "Categories of data concerned", false, got, sizeof(got));
        assert_string_equal(got, "contactemail"); /* one line each */
        assert_non_null(
            strstr(body, "\r\nCategories of data concerned:\r\n  contact\r\n  email\r\n"));
        paragraph(body, "Contact point", false, got, sizeof(got));
        assert_string_equal(got, "dpo@custodia.example");
        assert_non_null(strstr(body, "\r\nData subjects concerned (approximately): 120\r\n"));
        assert_non_null(strstr(body, "\r\nRecords concerned (approximately): 2\r\n"));
        snprintf(h, sizeof(h), "GET /v1/notices/%s\r\n", id);
        assert_non_null(strstr(body, h));
        /* the 2,000-byte nature: wrapped into several lines, complete but for the wrapping */
        paragraph(body, "Nature of the breach", true, got, sizeof(got));
        squeeze_spaces(nature, want);
        assert_string_equal(got, want);
        const char *head = "\r\nNature of the breach:\r\n", *np = strstr(body, head);
        assert_non_null(np);
        int lines = 0;
        for (np += strlen(head); !strncmp(np, "  ", 2); np = strstr(np, "\r\n") + 2)
            lines++;
        assert_true(lines >= 2000 / 76);
    }
    json_decref(tn);
    json_decref(n);
}

/* A refused notice queues and sends nothing; nor does a notice to a tenant without
 * notice_contacts. */
static void test_inc3_no_email_for_a_refused_notice_or_a_tenant_without_contacts(void **state)
{
    const char *emails = "SELECT count(*) FROM webhook_deliveries WHERE url LIKE 'mailto:%'";
    int64_t queued = ts_sys_count(&srv, emails);
    assert_true(queued >= 6); /* the notices to tenant A so far, 2 contacts each */
    int envelopes = smtp_relay_envelopes(&relay), accepted = smtp_relay_accepted(&relay);
    /* refused: no probable cause */
    json_t *b = full_notice(tenant_a);
    json_object_del(b, "probable_cause");
    json_decref(send_notice(incident, b, 400));
    json_decref(b);
    /* tenant C has no notice_contacts: its notice is sent, and emailed to no one */
    b = full_notice(tenant_c);
    json_object_set_new(b, "delay_reason", json_string("found in a later review"));
    json_t *n = send_notice(late_incident, b, 201);
    json_decref(b);
    assert_int_equal(json_array_size(json_object_get(n, "notice_contacts")), 0);
    assert_int_equal(email_deliveries(n), 0);
    json_t *i = incident_notice(late_incident, str(n, "id"));
    assert_int_equal(email_deliveries(i), 0);
    json_decref(i);
    json_decref(n);
    assert_int_equal(ts_sys_count(&srv, emails), queued);      /* nothing queued */
    assert_int_equal(smtp_relay_envelopes(&relay), envelopes); /* the relay saw nothing new */
    assert_int_equal(smtp_relay_accepted(&relay), accepted);
}

/* A relay that answers 451: the delivery is retried (alerts.webhook_retry_seconds = 1, then
 * twice as long), pending with the relay's code, and delivered once the relay accepts. */
static void test_inc3_refusing_relay_retried_then_delivered(void **state)
{
    static const char *const contacts[] = {"dpo@a.example", "security@a.example", NULL};
    int accepted = smtp_relay_accepted(&relay), refused = smtp_relay_refused(&relay);
    smtp_relay_refuse(&relay, -1);
    char id[32];
    send_notice_a(full_notice(tenant_a), id);
    json_t *n = wait_deliveries(incident, id, contacts, refused_twice);
    assert_true(smtp_relay_refused(&relay) >= refused + 4);  /* 2 attempts, 2 contacts */
    assert_int_equal(smtp_relay_accepted(&relay), accepted); /* nothing accepted meanwhile */
    smtp_relay_refuse(&relay, 0);
    for (const char *const *c = contacts; *c; c++) {
        json_t *d = email_delivery(n, *c);
        assert_non_null(strstr(str(d, "last_error"), "451"));
        assert_true(json_is_null(json_object_get(d, "delivered_at")));
    }
    json_decref(n);

    n = wait_deliveries(incident, id, contacts, delivered);
    char path[160];
    snprintf(path, sizeof(path), "/v1/notices/%s", id);
    json_t *tn = ok("GET", path, owner_a, NULL, 200);
    for (const char *const *c = contacts; *c; c++) {
        json_t *d = email_delivery(tn, *c);
        assert_non_null(d);
        assert_string_equal(str(d, "status"), "delivered");
        assert_int_equal(integer(d, "last_status"), 250);
        assert_true(integer(d, "attempts") >= 3);
        assert_true(json_is_null(json_object_get(d, "last_error")));
        static smtp_message m;
        assert_true(relay_find(str(d, "id"), &m));
        char rcpt[300];
        snprintf(rcpt, sizeof(rcpt), "<%s>", *c);
        assert_string_equal(m.rcpt[0], rcpt);
    }
    json_decref(tn);
    json_decref(n);
    /* exactly once each: no other email went out since the last test (tenant C's neither) */
    assert_int_equal(smtp_relay_accepted(&relay), accepted + 2);
}

/* A notice of many short lines (within the notice's size) is sent and emailed whole: its mail
 * (each line indented, CRLF) is longer than its JSON, and fits the delivery queue. */
static void test_inc3_notice_of_short_lines_emailed_whole(void **state)
{
    static const char *const contacts[] = {"dpo@a.example", "security@a.example", NULL};
    static const char *const fields[] = {"nature", "probable_cause", "likely_consequences",
                                         "measures_taken", "measures_proposed"};
    static char lines[2001], got[4096];
    for (int k = 0; k < 2000; k++)
        lines[k] = k % 2 ? '\n' : (char)('a' + k / 2 % 26);
    int accepted = smtp_relay_accepted(&relay);
    json_t *b = full_notice(tenant_a);
    for (size_t f = 0; f < sizeof(fields) / sizeof(*fields); f++)
        json_object_set_new(b, fields[f], json_string(lines));
    char id[32];
    send_notice_a(b, id);
    json_t *n = wait_deliveries(incident, id, contacts, delivered);
    assert_int_equal(smtp_relay_accepted(&relay), accepted + 2);
    static smtp_message m;
    static char body[SMTP_RELAY_DATA];
    assert_true(relay_find(str(email_delivery(n, contacts[0]), "id"), &m));
    smtp_relay_unstuff(strstr(m.data, "\r\n\r\n") + 2, body);
    paragraph(body, "Likely consequences", false, got, sizeof(got));
    char want[1001];
    for (int k = 0; k < 1000; k++)
        want[k] = lines[2 * k];
    want[1000] = '\0';
    assert_string_equal(got, want); /* 1,000 lines of one letter, none lost */
    json_decref(n);
}

/* ---- INC-2 by the simulated clock, and the report ---- */

struct seen {
    const char *tenant;
    int calls;
    bool due, overdue;
    int64_t deadline;
};

static cst_err on_deadline(const char *tenant, const char *inc, int64_t deadline, bool due,
                           bool overdue, void *ctx)
{
    struct seen *s = ctx;
    assert_non_null(inc);
    if (strcmp(tenant, s->tenant) != 0)
        return CST_OK;
    s->calls++;
    s->due = due;
    s->overdue = overdue;
    s->deadline = deadline;
    return CST_OK;
}

static void test_inc2_unsent_notice_due_at_36h_overdue_at_49h_report_turns_red(void **state)
{
    /* tenant C's fresh breach, left unsent */
    char id[32], path[160], body[256], aware[32];
    json_decref(new_incident("unsent", id));
    int64_t t0 = cst_now_us() - 1000000;
    cst_time_format(t0, aware);
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s/confirm-breach", id);
    snprintf(body, sizeof(body), "{\"aware_at\":\"%s\",\"tenants\":[\"%s\"]}", aware, tenant_c);
    json_decref(ok("POST", path, sec, body, 200));
    assert_int_equal(ts_stop(&srv), 0);

    /* the timeline is append-only in the store itself (a trigger on either driver) */
    assert_int_not_equal(ts_sys_sql(&srv, "UPDATE incident_timeline SET entry = 'x'"), 0);
    assert_int_not_equal(ts_sys_sql(&srv, "DELETE FROM incident_timeline"), 0);
    assert_true(ts_sys_count(&srv, "SELECT count(*) FROM incident_timeline") >= 5);
    assert_int_equal(ts_sys_count(&srv, "SELECT count(*) FROM incident_timeline WHERE entry = 'x'"),
                     0);

    cst_node n;
    ts_node_open(&srv, &n);
    cst_report_scope scope = {.generated_by = "cli", .requested_by = "test"};
    /* tenant B's 72 h clock (unsent) is due from 60 h: before then only C's counts */
    const struct {
        int64_t hours;
        bool due, overdue;
        const char *inc2;
    } at[] = {
        {1, false, false, "pass"}, {35, false, false, "pass"}, {36, true, false, "warn"},
        {47, true, false, "warn"}, {49, true, true, "fail"},
    };
    for (size_t k = 0; k < sizeof(at) / sizeof(*at); k++) {
        int64_t now = t0 + at[k].hours * HOUR_US + 2000000;
        struct seen s = {.tenant = tenant_c};
        assert_int_equal(cst_incident_deadlines(&n, now, on_deadline, &s), CST_OK);
        assert_int_equal(s.calls, 1); /* the late incident's clock of C was notified */
        assert_int_equal(s.deadline, t0 + 48 * HOUR_US);
        if (s.due != at[k].due || s.overdue != at[k].overdue)
            fail_msg("at %lld h: due %d overdue %d", (long long)at[k].hours, s.due, s.overdue);
        /* the sweep's breach_deadline alert: none before 36 h, high from 36 h, critical at 49 h */
        cst_detect_deadlines(&n, now);
        char key[128];
        snprintf(key, sizeof(key), "%s/%s", id, tenant_c);
        cst_alert_row alert;
        cst_err found = cst_store_alert_find(n.store, NULL, "breach_deadline", key, &alert);
        if (!at[k].due) {
            assert_int_equal(found, CST_ERR_NOT_FOUND);
            cst_err_clear();
        } else {
            assert_int_equal(found, CST_OK);
            assert_string_equal(alert.tenant, tenant_c);
            assert_string_equal(alert.severity, at[k].overdue ? "critical" : "high");
        }
        json_t *rep = NULL;
        assert_int_equal(cst_report_build(&n, &scope, now, &rep), CST_OK);
        if (strcmp(ts_report_status(rep, "INC-2"), at[k].inc2) != 0)
            fail_msg("at %lld h: INC-2 %s, want %s", (long long)at[k].hours,
                     ts_report_status(rep, "INC-2"), at[k].inc2);
        for (const char *const *r = (const char *const[]){"INC-1", "INC-3", "INC-4", NULL}; *r; r++)
            assert_string_equal(ts_report_status(rep, *r), "pass");
        json_t *open = ts_report_evidence(rep, "INC-1", "open_incidents");
        assert_true(json_integer_value(open) >= 2);
        json_t *overdue = ts_report_evidence(rep, "INC-2", "notices_overdue");
        assert_int_equal(json_integer_value(overdue), at[k].overdue ? 1 : 0);
        json_t *due = ts_report_evidence(rep, "INC-2", "notices_due_within_12h");
        assert_int_equal(json_integer_value(due), at[k].due && !at[k].overdue ? 1 : 0);
        if (at[k].overdue) {
            char *text = json_dumps(ts_report_evidence(rep, "INC-2", "overdue"), JSON_COMPACT);
            assert_non_null(strstr(text, tenant_c));
            assert_non_null(strstr(text, id));
            cst_json_free_text(text);
        }
        assert_int_equal(json_integer_value(ts_report_evidence(rep, "INC-4", "approved")), 1);
        json_decref(rep);
    }
    cst_node_close(&n);
    assert_true(ts_start(&srv));
}

static int setup(void **state)
{
    if (sodium_init() < 0) /* the simulated-clock test opens the node in this process */
        return -1;
    if (!smtp_relay_start(&relay, false))
        return -1;
    ts_init(&srv);
    snprintf(srv.extra_config, sizeof(srv.extra_config),
             "[notices]\nsmtp_url = smtp://127.0.0.1:%d\nsmtp_from = " SMTP_FROM
             "\nsmtp_starttls = false\nsmtp_timeout_seconds = 2\n"
             "[alerts]\nwebhook_retry_seconds = 1\n",
             relay.port);
    if (!ts_start(&srv) || !(op = ts_operator(&srv)))
        return -1;
    sec = ts_sys_operator(&srv, op, "sec1", "sys-security");
    owner_a = ts_tenant(&srv, op, "inc-alpha", tenant_a);
    owner_b = ts_tenant(&srv, op, "inc-beta", tenant_b);
    owner_c = ts_tenant(&srv, op, "inc-gamma", tenant_c);
    auditor_a =
        ts_user_create(&srv, owner_a, "inc-alpha", "aud", "[\"auditor\"]", NULL, false, NULL);
    return sec && owner_a && owner_b && owner_c && auditor_a ? 0 : -1;
}

static int teardown(void **state)
{
    int rc = ts_finish(&srv, 6, op, sec, owner_a, owner_b, owner_c, auditor_a);
    smtp_relay_stop(&relay);
    return rc;
}

int main(void)
{
    if (cst_crypto_init() != CST_OK) /* the clock test opens the node in-process */
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inc1_open_to_closed_with_append_only_timeline),
        cmocka_unit_test(test_inc2_confirmed_breach_48_and_72_hour_clocks),
        cmocka_unit_test(test_inc3_notice_refused_without_each_field_then_phases),
        cmocka_unit_test(test_inc4_tenant_reads_and_approves),
        cmocka_unit_test(test_inc3_notice_emailed_once_to_each_contact_complete_and_wrapped),
        cmocka_unit_test(test_inc3_no_email_for_a_refused_notice_or_a_tenant_without_contacts),
        cmocka_unit_test(test_inc3_refusing_relay_retried_then_delivered),
        cmocka_unit_test(test_inc3_notice_of_short_lines_emailed_whole),
        cmocka_unit_test(test_inc2_unsent_notice_due_at_36h_overdue_at_49h_report_turns_red),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
