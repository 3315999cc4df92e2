/* metrics.c: the registry of the node's Prometheus metrics (DET-2) as one table, the scrape-time
 * gauges read from the store, and readiness. Names follow the Prometheus rules: one custodia_
 * prefix, base units (seconds, bytes), _total on counters. */
#include "node/metrics.h"
#include "node/ship.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "core/tenant_state.h"
#include "util/metrics.h"
#include "util/util.h"

#define ALERT_SCAN_MAX 1000000 /* alerts of one status per scrape (alerts.max_open bounds it) */
#define TENANT_PAGE 500

/* What the store says, read once per scrape before the table is rendered. */
typedef struct gauges {
    int64_t tenants[CST_STATE__COUNT + 1]; /* the last slot: a state name that parses to none */
    int64_t oldest_dek_us;                 /* created_at of the oldest current DEK (0: none) */
    int64_t last_backup_ok, last_backup_failed, last_drill;
    bool drill_ok;
    bool have_deadline;
    int64_t earliest_deadline;
    struct {
        char type[32];
        int64_t n;
    } alerts[32];
    size_t nalert_types;
    json_t *per_tenant_dek; /* with metrics.per_tenant: {tenant id: created_at} */
} gauges;

typedef struct mctx {
    cst_node *n;
    const cst_metrics_routes *routes;
    int64_t now;
    cst_buf *out;
    gauges g;
} mctx;

typedef cst_err (*metric_read)(mctx *c, const char *name);

/* One family: its name, type, help text and the function that writes its samples. */
typedef struct metric_def {
    const char *name;
    const char *type; /* counter | gauge | histogram */
    const char *help;
    metric_read read;
} metric_def;

/* ---- gathering ---- */

typedef struct tenant_walk {
    mctx *c;
    char last[CST_ID_MAX];
    int seen;
} tenant_walk;

static cst_err on_key(const cst_key_row *k, void *p)
{
    int64_t *newest = p;
    if (!strcmp(k->purpose, "dek") && k->created_at > *newest)
        *newest = k->created_at;
    return CST_OK;
}

static cst_err on_tenant(const cst_tenant_row *t, void *p)
{
    tenant_walk *w = p;
    gauges *g = &w->c->g;
    cst_tenant_state s = cst_tenant_state_parse(t->state);
    g->tenants[s <= CST_STATE__COUNT ? s : CST_STATE__COUNT]++;
    (void)snprintf(w->last, sizeof(w->last), "%s", t->id);
    w->seen++;
    if (s == CST_STATE_ERASED)
        return CST_OK;
    /* ENC-4: a tenant's current DEK is its newest version; its age is what rotation bounds */
    int64_t newest = 0;
    if (cst_store_key_list(w->c->n->store, NULL, t->id, on_key, &newest) != CST_OK || !newest) {
        cst_err_clear();
        return CST_OK;
    }
    if (!g->oldest_dek_us || newest < g->oldest_dek_us)
        g->oldest_dek_us = newest;
    if (g->per_tenant_dek)
        json_object_set_new(g->per_tenant_dek, t->id, json_integer(newest));
    return CST_OK;
}

static cst_err on_backup(const cst_backup_row *b, void *p)
{
    gauges *g = p;
    int64_t at = b->finished_at ? b->finished_at : b->created_at;
    if (!strcmp(b->status, "ok") && at > g->last_backup_ok)
        g->last_backup_ok = at;
    else if (!strcmp(b->status, "failed") && at > g->last_backup_failed)
        g->last_backup_failed = at;
    return CST_OK;
}

static cst_err on_drill(const cst_drill_row *d, void *p)
{
    gauges *g = p;
    if (d->started_at > g->last_drill) {
        g->last_drill = d->started_at;
        g->drill_ok = d->ok;
    }
    return CST_OK;
}

static cst_err on_alert(const cst_alert_row *a, void *p)
{
    gauges *g = p;
    size_t i = 0;
    while (i < g->nalert_types && strcmp(g->alerts[i].type, a->type) != 0)
        i++;
    if (i == g->nalert_types) {
        if (i == sizeof(g->alerts) / sizeof(g->alerts[0]))
            return CST_OK; /* alert types are a fixed set far below this */
        (void)snprintf(g->alerts[i].type, sizeof(g->alerts[i].type), "%s", a->type);
        g->nalert_types++;
    }
    g->alerts[i].n++;
    return CST_OK;
}

static cst_err on_clock(const cst_clock_row *k, void *p)
{
    gauges *g = p;
    if (k->sent_at) /* notified: its clock stopped */
        return CST_OK;
    if (!g->have_deadline || k->deadline < g->earliest_deadline)
        g->earliest_deadline = k->deadline;
    g->have_deadline = true;
    return CST_OK;
}

/* A read that fails leaves its gauges out of this scrape (logged), not the whole scrape. */
static void gathered(cst_err e, const char *what)
{
    if (e != CST_OK) {
        cst_warn("metrics: cannot read %s: %s", what, cst_err_message(e));
        cst_err_clear();
    }
}

static void gather(mctx *c)
{
    cst_store *st = c->n->store;
    gauges *g = &c->g;
    if (c->n->cfg.metrics_per_tenant)
        g->per_tenant_dek = json_object();
    tenant_walk w = {.c = c};
    cst_err e;
    do { /* in pages, so that no one read holds the store for long */
        w.seen = 0;
        e = cst_store_tenant_list(st, NULL, w.last[0] ? w.last : NULL, TENANT_PAGE, on_tenant, &w);
    } while (e == CST_OK && w.seen == TENANT_PAGE);
    gathered(e, "the tenants");
    gathered(cst_store_backup_list(st, NULL, 50, on_backup, g), "the backups");
    gathered(cst_store_drill_list(st, NULL, 1, on_drill, g), "the drills");
    static const char *const unresolved[] = {"open", "acknowledged"};
    for (size_t i = 0; i < sizeof(unresolved) / sizeof(unresolved[0]); i++) {
        cst_alert_filter f = {.status = unresolved[i],
                              .type = "",
                              .tenant = "",
                              .after = "",
                              .limit = ALERT_SCAN_MAX};
        gathered(cst_store_alert_list(st, NULL, &f, on_alert, g), "the alerts");
    }
    gathered(cst_store_clock_list(st, NULL, NULL, on_clock, g), "the breach clocks");
}

/* ---- the readers ---- */

static double seconds_since(int64_t now, int64_t then_us)
{
    return (double)(now - then_us) / 1e6;
}

static cst_err read_build_info(mctx *c, const char *name)
{
    const char *labels[] = {"version", CUSTODIA_VERSION, "region", c->n->region, NULL};
    return cst_prom_sample(c->out, name, labels, 1);
}

static cst_err read_start_time(mctx *c, const char *name)
{
    return cst_prom_sample(c->out, name, NULL, (double)(c->n->started_at / 1000000));
}

static const char *const classes[CST_METRICS_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

static void route_names(const mctx *c, size_t slot, const char **method, const char **pattern)
{
    *method = "";
    *pattern = "unmatched";
    if (slot < c->routes->count)
        c->routes->route(slot, method, pattern);
}

static cst_err read_requests(mctx *c, const char *name)
{
    for (size_t slot = 0; slot < CST_METRICS_ROUTES; slot++) {
        if (slot >= c->routes->count && slot != CST_METRICS_UNMATCHED)
            continue;
        const char *method, *pattern;
        route_names(c, slot, &method, &pattern);
        for (int k = 0; k < CST_METRICS_CLASSES; k++) {
            uint64_t v = cst_metrics_requests(slot, k);
            const char *labels[] = {"method", method, "route", pattern, "code", classes[k], NULL};
            if (v)
                TRY(cst_prom_sample(c->out, name, labels, (double)v));
        }
    }
    return CST_OK;
}

static cst_err read_request_seconds(mctx *c, const char *name)
{
    for (size_t slot = 0; slot < CST_METRICS_ROUTES; slot++) {
        if (slot >= c->routes->count && slot != CST_METRICS_UNMATCHED)
            continue;
        cst_hist_snapshot h;
        cst_metrics_hist(CST_HIST_REQUEST_SECONDS, slot, &h);
        if (!h.count)
            continue; /* a route never called has no series yet */
        const char *method, *pattern;
        route_names(c, slot, &method, &pattern);
        const char *labels[] = {"method", method, "route", pattern, NULL};
        TRY(cst_prom_histogram(c->out, name, labels, &h));
    }
    return CST_OK;
}

/* The refusals that count as authentication or authorization failures, by kind. */
static const cst_err auth_kinds[] = {
    CST_ERR_UNAUTHENTICATED,         CST_ERR_MFA_REQUIRED, CST_ERR_FORBIDDEN,
    CST_ERR_IP_NOT_ALLOWED,          CST_ERR_LOCKED,       CST_ERR_PASSWORD_CHANGE_REQUIRED,
    CST_ERR_MFA_ENROLLMENT_REQUIRED,
};

static cst_err read_auth_failures(mctx *c, const char *name)
{
    for (size_t i = 0; i < sizeof(auth_kinds) / sizeof(auth_kinds[0]); i++) {
        const char *labels[] = {"kind", cst_err_code(auth_kinds[i]), NULL};
        TRY(cst_prom_sample(c->out, name, labels, (double)cst_metrics_errors(auth_kinds[i])));
    }
    return CST_OK;
}

static cst_err read_rate_limited(mctx *c, const char *name)
{
    return cst_prom_sample(c->out, name, NULL, (double)cst_metrics_errors(CST_ERR_RATE_LIMITED));
}

static cst_err read_connections(mctx *c, const char *name)
{
    return cst_prom_sample(c->out, name, NULL, (double)cst_metrics_connections());
}

static cst_err read_audit_written(mctx *c, const char *name)
{
    return cst_prom_sample(c->out, name, NULL, (double)cst_metrics_audit_written_total());
}

static cst_err read_fsync(mctx *c, const char *name)
{
    cst_hist_snapshot h;
    cst_metrics_hist(CST_HIST_FSYNC_SECONDS, 0, &h);
    return cst_prom_histogram(c->out, name, NULL, &h);
}

static cst_err read_group(mctx *c, const char *name)
{
    cst_hist_snapshot h;
    cst_metrics_hist(CST_HIST_GROUP_ENTRIES, 0, &h);
    return cst_prom_histogram(c->out, name, NULL, &h);
}

static cst_err read_audit_pending(mctx *c, const char *name)
{
    uint64_t n = c->n->audit ? cst_audit_pending(c->n->audit) : 0;
    return cst_prom_sample(c->out, name, NULL, (double)n);
}

/* Audit shipping: per running sink and stream, the durable entries not yet acknowledged. */
static cst_err read_ship_lag(mctx *c, const char *name)
{
    cst_err e = CST_OK;
    for (int k = 0; e == CST_OK && k < CST_SHIP__SINKS; k++)
        for (int st = 0; e == CST_OK && st < CST_AUDIT__STREAMS; st++) {
            uint64_t lag = 0;
            if (!cst_ship_lag(c->n, (cst_ship_sink)k, (cst_audit_stream)st, &lag))
                continue;
            const char *labels[] = {"sink", cst_ship_sink_names[k], "stream",
                                    cst_audit_stream_names[st], NULL};
            e = cst_prom_sample(c->out, name, labels, (double)lag);
        }
    return e;
}

static cst_err read_verify_failures(mctx *c, const char *name)
{
    return cst_prom_sample(c->out, name, NULL, (double)cst_metrics_audit_verify_failures());
}

static cst_err read_backup_age(mctx *c, const char *name)
{
    if (!c->g.last_backup_ok)
        return CST_OK; /* no successful backup yet: no sample (alert on absent()) */
    return cst_prom_sample(c->out, name, NULL, seconds_since(c->now, c->g.last_backup_ok));
}

static cst_err read_backup_result(mctx *c, const char *name)
{
    const gauges *g = &c->g;
    const char *last = !g->last_backup_ok && !g->last_backup_failed ? "none"
                       : g->last_backup_failed > g->last_backup_ok  ? "failed"
                                                                    : "ok";
    static const char *const results[] = {"ok", "failed", "none"};
    for (size_t i = 0; i < 3; i++) {
        const char *labels[] = {"result", results[i], NULL};
        TRY(cst_prom_sample(c->out, name, labels, strcmp(last, results[i]) == 0));
    }
    return CST_OK;
}

static cst_err read_drill_age(mctx *c, const char *name)
{
    if (!c->g.last_drill)
        return CST_OK;
    return cst_prom_sample(c->out, name, NULL, seconds_since(c->now, c->g.last_drill));
}

static cst_err read_drill_ok(mctx *c, const char *name)
{
    if (!c->g.last_drill)
        return CST_OK;
    return cst_prom_sample(c->out, name, NULL, c->g.drill_ok);
}

static cst_err read_alerts(mctx *c, const char *name)
{
    for (size_t i = 0; i < c->g.nalert_types; i++) {
        const char *labels[] = {"type", c->g.alerts[i].type, NULL};
        TRY(cst_prom_sample(c->out, name, labels, (double)c->g.alerts[i].n));
    }
    return CST_OK;
}

static cst_err read_breach_deadline(mctx *c, const char *name)
{
    if (!c->g.have_deadline)
        return CST_OK; /* no notice due */
    return cst_prom_sample(c->out, name, NULL, (double)(c->g.earliest_deadline - c->now) / 1e6);
}

static cst_err read_tenants(mctx *c, const char *name)
{
    for (int s = 0; s <= CST_STATE__COUNT; s++) {
        const char *labels[] = {"state", cst_tenant_state_name((cst_tenant_state)s), NULL};
        if (s < CST_STATE__COUNT || c->g.tenants[s])
            TRY(cst_prom_sample(c->out, name, labels, (double)c->g.tenants[s]));
    }
    return CST_OK;
}

static cst_err read_kek_age(mctx *c, const char *name)
{
    if (!c->n->kek_since)
        return CST_OK;
    return cst_prom_sample(c->out, name, NULL, seconds_since(c->now, c->n->kek_since));
}

static cst_err read_dek_age(mctx *c, const char *name)
{
    if (!c->g.oldest_dek_us)
        return CST_OK;
    return cst_prom_sample(c->out, name, NULL, seconds_since(c->now, c->g.oldest_dek_us));
}

/* Only with metrics.per_tenant = true: the one family whose label is a tenant id. */
static cst_err read_tenant_dek_age(mctx *c, const char *name)
{
    const char *id;
    json_t *v;
    json_object_foreach(c->g.per_tenant_dek, id, v)
    {
        const char *labels[] = {"tenant", id, NULL};
        TRY(cst_prom_sample(c->out, name, labels, seconds_since(c->now, json_integer_value(v))));
    }
    return CST_OK;
}

/* DET-2: the registry. docs/operations.md lists the same families. */
static const metric_def metrics[] = {
    {"custodia_build_info", "gauge", "The running custodia's version and region (always 1).",
     read_build_info},
    {"custodia_start_time_seconds", "gauge", "When this node started (Unix time).",
     read_start_time},
    {"custodia_http_requests_total", "counter",
     "Requests answered, by route pattern and status class.", read_requests},
    {"custodia_http_request_duration_seconds", "histogram",
     "Time from a request's headers to its answer, by route pattern.", read_request_seconds},
    {"custodia_auth_failures_total", "counter",
     "Requests refused for their credential or its permissions, by kind (the API error code).",
     read_auth_failures},
    {"custodia_rate_limited_requests_total", "counter", "Requests refused with 429 rate_limited.",
     read_rate_limited},
    {"custodia_http_open_connections", "gauge", "Client connections open now.", read_connections},
    {"custodia_audit_entries_written_total", "counter",
     "Audit entries written to the log's segments.", read_audit_written},
    {"custodia_audit_fsync_duration_seconds", "histogram",
     "Time of one fdatasync of an audit segment.", read_fsync},
    {"custodia_audit_group_entries", "histogram",
     "Audit entries made durable together by one flush (group commit).", read_group},
    {"custodia_audit_pending_entries", "gauge",
     "Audit lag: entries numbered but not yet durable (no shipping yet: this is the lag).",
     read_audit_pending},
    {"custodia_audit_ship_lag_entries", "gauge",
     "Audit entries durable in the log but not yet acknowledged by a shipping sink "
     "(audit.syslog_url, audit.ship_command), by sink and stream.",
     read_ship_lag},
    {"custodia_audit_verify_failures_total", "counter",
     "Audit log verifications that found a broken chain, seal or file.", read_verify_failures},
    {"custodia_backup_age_seconds", "gauge",
     "Age of the newest successful backup (absent: none yet).", read_backup_age},
    {"custodia_backup_last_result", "gauge",
     "The last backup's result: 1 for the one that holds (ok, failed or none).",
     read_backup_result},
    {"custodia_backup_drill_age_seconds", "gauge", "Age of the newest restore drill.",
     read_drill_age},
    {"custodia_backup_drill_success", "gauge",
     "Whether the newest restore drill passed (1) or not.", read_drill_ok},
    {"custodia_alerts_open", "gauge", "Alerts not resolved (open or acknowledged), by type.",
     read_alerts},
    {"custodia_breach_deadline_seconds", "gauge",
     "Seconds until the earliest unsent breach notice is due (negative: overdue; absent: none).",
     read_breach_deadline},
    {"custodia_tenants", "gauge", "Tenants by lifecycle state.", read_tenants},
    {"custodia_kek_age_seconds", "gauge", "Age of the master key (KEK) wrapping the tenant keys.",
     read_kek_age},
    {"custodia_dek_oldest_age_seconds", "gauge",
     "Age of the oldest current tenant data key (DEK) among tenants not erased.", read_dek_age},
};

static const metric_def tenant_metrics[] = {
    {"custodia_tenant_dek_age_seconds", "gauge",
     "Age of each tenant's current data key (metrics.per_tenant).", read_tenant_dek_age},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

size_t cst_node_metrics_families(void)
{
    return COUNT(metrics);
}

static cst_err render(mctx *c, const metric_def *defs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        TRY(cst_prom_family(c->out, defs[i].name, defs[i].type, defs[i].help));
        TRY(defs[i].read(c, defs[i].name));
    }
    return CST_OK;
}

cst_err cst_node_metrics_render(cst_node *n, const cst_metrics_routes *routes, int64_t now,
                                cst_buf *out)
{
    mctx c = {.n = n, .routes = routes, .now = now, .out = out};
    gather(&c);
    cst_err e = render(&c, metrics, COUNT(metrics));
    if (e == CST_OK && n->cfg.metrics_per_tenant)
        e = render(&c, tenant_metrics, COUNT(tenant_metrics));
    json_decref(c.g.per_tenant_dek);
    return e;
}

/* ---- readiness ---- */

static cst_err check_store(cst_node *n)
{
    ENSURE(n->store, CST_ERR_UNAVAILABLE, "the system store is not open");
    int64_t open;
    return cst_store_alert_count_open(n->store, NULL, &open);
}

static cst_err check_audit(cst_node *n)
{
    ENSURE(n->audit, CST_ERR_AUDIT_UNAVAILABLE, "the audit log is not open");
    return cst_audit_writable(n->audit);
}

static cst_err check_keys(cst_node *n)
{
    ENSURE(n->kek && n->kek_id[0], CST_ERR_UNAVAILABLE, "the master key is not loaded");
    return cst_node_kek_ready(n); /* issue 20: a rotation this node cannot follow */
}

cst_err cst_node_ready(cst_node *n, json_t **checks)
{
    static const struct {
        const char *name;
        cst_err (*check)(cst_node *n);
    } table[] = {{"store", check_store}, {"audit", check_audit}, {"keys", check_keys}};
    *checks = json_object();
    ENSURE(*checks, CST_ERR_INTERNAL, "out of memory");
    const char *failed = NULL;
    char why[256] = "";
    for (size_t i = 0; i < COUNT(table); i++) {
        cst_err_clear();
        cst_err e = table[i].check(n);
        const char *said = e == CST_OK ? "ok" : cst_err_message(e);
        if (e != CST_OK && !failed) {
            failed = table[i].name;
            (void)snprintf(why, sizeof(why), "%s", said);
        }
        json_object_set_new(*checks, table[i].name, json_string(said));
    }
    cst_err_clear();
    if (failed)
        return cst_fail(CST_ERR_UNAVAILABLE, "not ready: %s: %s", failed, why);
    return CST_OK;
}
