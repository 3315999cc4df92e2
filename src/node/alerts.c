/* alerts.c: raising and de-duplicating alerts (DET-1). */
#include "node/alerts.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "node/webhook.h"
#include "util/json.h"
#include "util/util.h"

const cst_alert_type cst_alert_types[] = {
    {"brute_force", "high", "failed logins against one account"},
    {"password_spraying", "high", "failed logins from one address across many accounts"},
    {"disallowed_ip", "medium", "requests refused by an IP allowlist"},
    {"revoked_credential", "high", "a revoked or expired token presented again"},
    {"exfiltration", "critical", "records read far above the principal's own baseline"},
    {"audit_integrity", "critical", "audit verification found a broken chain or seal"},
    {"backup_failing", "high", "the last backup failed, or none succeeded in two intervals"},
    {"drill_overdue", "medium", "no restore drill passed within detect.drill_max_age"},
    {"breach_deadline", "high", "a breach notice is due within 12 h or overdue"},
    {"break_glass", "critical", "break-glass access to a tenant (IAM-8)"},
    {"review_overdue", "medium", "an access review is overdue"},
    {"key_age", "medium", "a key is older than its rotation period"},
};
const size_t cst_alert_type_count = sizeof(cst_alert_types) / sizeof(cst_alert_types[0]);

static const char *const severities[] = {"low", "medium", "high", "critical"};

const cst_alert_type *cst_alert_type_find(const char *name)
{
    for (size_t i = 0; name && i < cst_alert_type_count; i++)
        if (strcmp(cst_alert_types[i].name, name) == 0)
            return &cst_alert_types[i];
    return NULL;
}

int cst_alert_severity_rank(const char *severity)
{
    for (int i = 0; severity && i < (int)(sizeof(severities) / sizeof(severities[0])); i++)
        if (strcmp(severities[i], severity) == 0)
            return i;
    return -1;
}

bool cst_alert_status_valid(const char *status)
{
    return status && (!strcmp(status, "open") || !strcmp(status, "acknowledged") ||
                      !strcmp(status, "resolved"));
}

static json_t *opt(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

json_t *cst_alert_json(const cst_alert_row *a)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:I,s:s,s:o}", "id", a->id, "type",
                     a->type, "severity", a->severity, "status", a->status, "tenant",
                     opt(a->tenant), "principal", opt(a->principal), "source_ip", opt(a->source_ip),
                     "first_seen", cst_json_time(a->first_seen), "last_seen",
                     cst_json_time(a->last_seen), "count", (json_int_t)a->count, "summary",
                     a->summary, "incident_id", opt(a->incident_id));
}

static cst_err fill_new(cst_alert_row *a, const cst_alert_event *ev, const char *severity,
                        int64_t now)
{
    memset(a, 0, sizeof(*a));
    cst_random_id("al", a->id);
    TRY(cst_copy(a->type, sizeof(a->type), ev->type));
    TRY(cst_copy(a->severity, sizeof(a->severity), severity));
    TRY(cst_copy(a->status, sizeof(a->status), "open"));
    TRY(cst_copy(a->tenant, sizeof(a->tenant), ev->tenant ? ev->tenant : ""));
    TRY(cst_copy(a->principal, sizeof(a->principal), ev->principal ? ev->principal : ""));
    TRY(cst_copy(a->source_ip, sizeof(a->source_ip), ev->source_ip ? ev->source_ip : ""));
    TRY(cst_copy(a->dedup_key, sizeof(a->dedup_key), ev->dedup_key ? ev->dedup_key : ""));
    a->first_seen = now;
    (void)snprintf(a->summary, sizeof(a->summary), "%s", ev->summary ? ev->summary : "");
    return CST_OK;
}

static void audit_alert(cst_node *n, const char *action, const cst_alert_row *a)
{
    char resource[64];
    (void)snprintf(resource, sizeof(resource), "alert/%s", a->id);
    json_t *info = json_pack("{s:s,s:s,s:I,s:s}", "type", a->type, "severity", a->severity, "count",
                             (json_int_t)a->count, "summary", a->summary);
    if (info && a->source_ip[0])
        json_object_set_new(info, "source_ip", json_string(a->source_ip));
    if (info && a->principal[0])
        json_object_set_new(info, "principal", json_string(a->principal));
    cst_node_audit_event(n, action, "success", a->tenant[0] ? a->tenant : NULL, resource, info);
}

#define OVERFLOW_KEY "overflow"

/* A new alert would open: when alerts.max_open are already open, the occurrence goes to its
 * type's overflow alert instead (bounded: one per type). a gets that alert when it is open
 * (a->id set: absorb), else a->id stays "" and *flood (type set) says what to open. */
static cst_err overflow(cst_node *n, cst_work *w, const cst_alert_event *ev, int64_t now,
                        cst_alert_row *a, cst_alert_event *flood)
{
    memset(flood, 0, sizeof(*flood));
    a->id[0] = '\0';
    int64_t open = 0;
    TRY(cst_store_alert_count_open(n->store, w, &open));
    if (open < n->cfg.alerts_max_open)
        return CST_OK;
    cst_err e = cst_store_alert_find(n->store, w, ev->type, OVERFLOW_KEY, a);
    if (e == CST_OK) {
        a->count += ev->count > 0 ? ev->count : 1;
        a->last_seen = now > a->last_seen ? now : a->last_seen;
        return CST_OK;
    }
    if (e != CST_ERR_NOT_FOUND)
        return e;
    cst_err_clear();
    a->id[0] = '\0';
    *flood = *ev;
    flood->dedup_key = OVERFLOW_KEY;
    flood->principal = flood->source_ip = flood->tenant = NULL;
    flood->summary = "more alerts are open than alerts.max_open: further occurrences of this "
                     "type are counted here until some are resolved";
    return CST_OK;
}

/* One raise: what it found, or opened, and how the alert changed (action NULL: counted only). */
typedef struct raise_op {
    cst_node *n;
    const cst_alert_event *ev;
    const char *severity;
    int64_t now, count, quiet;
    cst_alert_row a;
    const char *action;
} raise_op;

/* Find-then-write under the "alerts" exclusion (cst_store_exclusive), so that two occurrences
 * of one attack never open two alerts, on one node or on several nodes sharing the store. */
static cst_err raise_in(cst_work *w, void *ctx)
{
    raise_op *r = ctx;
    const cst_alert_event *ev = r->ev;
    cst_alert_row *a = &r->a;
    r->action = NULL;
    TRY(cst_store_exclusive(r->n->store, w, "alerts"));
    cst_err e =
        cst_store_alert_find(r->n->store, w, ev->type, ev->dedup_key ? ev->dedup_key : "", a);
    if (e == CST_OK && r->now - a->last_seen <= r->quiet) {
        a->count += r->count;
        a->last_seen = r->now > a->last_seen ? r->now : a->last_seen;
        if (cst_alert_severity_rank(r->severity) > cst_alert_severity_rank(a->severity)) {
            r->action = "alert.escalated";
            (void)snprintf(a->severity, sizeof(a->severity), "%s", r->severity);
            if (ev->summary)
                (void)snprintf(a->summary, sizeof(a->summary), "%s", ev->summary);
        }
    } else if (e == CST_OK || e == CST_ERR_NOT_FOUND) {
        cst_err_clear();
        cst_alert_event flood;
        e = overflow(r->n, w, ev, r->now, a, &flood);
        if (e == CST_OK && !a->id[0]) { /* a new alert; or the type's overflow alert opens */
            r->action = "alert.raised";
            e = fill_new(a, flood.type ? &flood : ev, r->severity, r->now);
            a->count = r->count;
            a->last_seen = r->now;
        }
    }
    return e == CST_OK ? cst_store_alert_put(r->n->store, w, a) : e;
}

cst_err cst_alert_raise(cst_node *n, const cst_alert_event *ev, int64_t now, cst_alert_row *out)
{
    const cst_alert_type *t = cst_alert_type_find(ev->type);
    ENSURE(t, CST_ERR_INVALID, "unknown alert type %s", ev->type ? ev->type : "(none)");
    const char *severity = ev->severity ? ev->severity : t->severity;
    ENSURE(cst_alert_severity_rank(severity) >= 0, CST_ERR_INVALID, "unknown severity %s",
           severity);
    raise_op r = {.n = n,
                  .ev = ev,
                  .severity = severity,
                  .now = now,
                  .count = ev->count > 0 ? ev->count : 1,
                  .quiet = (int64_t)n->cfg.detect_quiet_period * 1000000};
    TRY(cst_txn_run(raise_in, &r));
    const cst_alert_row a = r.a;
    const char *action = r.action;
    if (action) {
        cst_warn("alert: %s %s %s (%s, count %lld)%s%s", action + 6, a.type, a.id, a.severity,
                 (long long)a.count, a.summary[0] ? ": " : "", a.summary);
        audit_alert(n, action, &a);
        /* A webhook that cannot be queued does not undo the alert, which is stored and audited. */
        cst_err we = cst_webhook_enqueue(n, &a, action, now);
        if (we != CST_OK)
            cst_warn("alert %s: webhook delivery not queued: %s", a.id, cst_err_message(we));
    }
    if (out)
        *out = a;
    return CST_OK;
}
