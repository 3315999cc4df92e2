/* lifecycle.c: the tenant state machine, its schedule and the sweeper (RET-1..3). */
#include "lifecycle/lifecycle.h"

#include <limits.h>
#include <string.h>
#include <time.h>

#include "util/json.h"
#include "util/util.h"

static bool is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static int64_t days(int d)
{
    return (int64_t)d * CST_DAY_US;
}

/* When a tenant on its way out is to be erased, by the event that started it. 0: never. */
static int64_t erase_date(const cst_tenant_row *t, const cst_lifecycle_policy *p,
                          const char **reason)
{
    if (is(t->event, "trial_ended")) {
        *reason = "trial ended + lifecycle.trial_erase_days";
        return t->event_at + days(p->trial_erase_days);
    }
    if (is(t->event, "cancelled")) {
        *reason = "cancelled + lifecycle.cancelled_erase_days";
        return t->event_at + days(p->cancelled_erase_days);
    }
    if (is(t->event, "payment_failed")) {
        *reason = "payment failed + lifecycle.payment_close_days + lifecycle.closed_erase_days";
        return t->event_at + days(p->payment_close_days) + days(p->closed_erase_days);
    }
    if (is(t->event, "terminated")) {
        *reason = "terminated + lifecycle.terminated_erase_days";
        return t->event_at + days(p->terminated_erase_days);
    }
    if (is(t->plan, "free")) {
        int64_t last = t->last_active_at > t->created_at ? t->last_active_at : t->created_at;
        if (t->event_at > last)
            last = t->event_at;
        *reason = "free plan unused for lifecycle.free_inactive_days";
        return last + days(p->free_inactive_days);
    }
    return 0;
}

void cst_lifecycle_next(const cst_tenant_row *t, const cst_lifecycle_policy *p,
                        cst_lifecycle_step *out)
{
    memset(out, 0, sizeof(*out));
    const char *reason = "";
    if (is(t->state, "active")) {
        if (is(t->event, "payment_failed")) {
            out->state = "suspended";
            out->at = t->event_at + days(p->payment_suspend_days);
            out->reason = "payment failed + lifecycle.payment_suspend_days";
        } else if (is(t->plan, "free")) {
            out->state = "erased";
            out->at = erase_date(t, p, &reason);
            out->reason = reason;
        }
    } else if (is(t->state, "suspended")) {
        out->state = "closed";
        out->at = t->event_at + days(p->payment_close_days);
        out->reason = "payment failed + lifecycle.payment_close_days";
    } else if (is(t->state, "terminated")) {
        out->state = "pending_erase";
        out->at = t->event_at + days(p->terminated_access_days);
        out->reason = "terminated + lifecycle.terminated_access_days";
    } else if (is(t->state, "closed") || is(t->state, "pending_erase")) {
        out->state = "erased";
        out->at = erase_date(t, p, &reason);
        out->reason = reason;
        if (!out->at && is(t->state, "pending_erase")) {
            out->at = t->state_since; /* an erase that was begun and must be finished */
            out->reason = "erase requested";
        }
    }
    if (!out->at)
        out->state = NULL;
}

cst_err cst_lifecycle_apply(cst_tenant_row *t, const char *event, const char *plan, int64_t now)
{
    ENSURE(!is(t->state, "erased") && !is(t->state, "pending_erase"), CST_ERR_CONFLICT,
           "the tenant is %s: its lifecycle has ended", t->state);
    if (plan) {
        ENSURE(is(plan, "trial") || is(plan, "free") || is(plan, "paid"), CST_ERR_INVALID,
               "plan must be trial, free or paid");
        ENSURE(is(t->state, "active"), CST_ERR_CONFLICT, "the plan of a %s tenant cannot change",
               t->state);
        ENSURE(!is(t->event, "payment_failed") || is(plan, "paid"), CST_ERR_CONFLICT,
               "a payment has failed: send payment_recovered first");
        if (!is(t->plan, plan) && is(plan, "free"))
            t->last_active_at = now; /* inactivity counts from the change */
        (void)snprintf(t->plan, sizeof(t->plan), "%s", plan);
    }
    if (!event)
        return CST_OK;
    const char *to = NULL;
    if (is(event, "trial_ended")) {
        ENSURE(is(t->plan, "trial"), CST_ERR_CONFLICT,
               "trial_ended applies to a trial; this tenant's plan is %s", t->plan);
        ENSURE(is(t->state, "active"), CST_ERR_CONFLICT, "the tenant is %s, not active", t->state);
        to = "closed";
    } else if (is(event, "cancelled")) {
        ENSURE(!is(t->plan, "trial"), CST_ERR_CONFLICT,
               "a trial ends with trial_ended, not cancelled");
        ENSURE(is(t->state, "active") || is(t->state, "suspended"), CST_ERR_CONFLICT,
               "the tenant is %s: only an active or suspended account can be cancelled", t->state);
        to = "closed";
    } else if (is(event, "payment_failed")) {
        ENSURE(is(t->plan, "paid"), CST_ERR_CONFLICT,
               "payment_failed applies to a paid plan; this tenant's plan is %s", t->plan);
        ENSURE(is(t->state, "active") && !is(t->event, "payment_failed"), CST_ERR_CONFLICT,
               "payment_failed applies to an active tenant in good standing (it is %s%s)", t->state,
               is(t->event, "payment_failed") ? ", payment already failed" : "");
        to = "active";
    } else if (is(event, "payment_recovered")) {
        ENSURE(is(t->event, "payment_failed") &&
                   (is(t->state, "active") || is(t->state, "suspended")),
               CST_ERR_CONFLICT,
               "payment_recovered applies after payment_failed, before the account closes");
        to = "active";
    } else if (is(event, "terminated")) {
        ENSURE(is(t->state, "active") || is(t->state, "suspended") || is(t->state, "closed"),
               CST_ERR_CONFLICT, "the tenant is %s and cannot be terminated", t->state);
        to = "terminated";
    } else {
        return cst_fail(CST_ERR_INVALID, "event must be trial_ended, cancelled, payment_failed, "
                                         "payment_recovered or terminated");
    }
    if (!is(t->state, to))
        t->state_since = now;
    (void)snprintf(t->state, sizeof(t->state), "%s", to);
    (void)snprintf(t->event, sizeof(t->event), "%s", event);
    t->event_at = now;
    return CST_OK;
}

cst_err cst_lifecycle_permits(const cst_tenant_row *t, const char *method, bool is_export,
                              bool is_self, bool is_settings)
{
    bool read = is(method, "GET") || is(method, "HEAD");
    const char *s = t->state;
    if (is(s, "active"))
        return CST_OK;
    if (is(s, "suspended") || is(s, "terminated")) {
        ENSURE(read || is_export || is_self, CST_ERR_FORBIDDEN,
               "the tenant is %s: only reads and export are allowed", s);
        return CST_OK;
    }
    if (is(s, "closed")) {
        ENSURE(is_export || is_self || (read && is_settings), CST_ERR_FORBIDDEN,
               "the tenant is closed: only export is allowed until its data is erased");
        return CST_OK;
    }
    return cst_fail(CST_ERR_FORBIDDEN, "the tenant is %s: it has no access", s);
}

json_t *cst_lifecycle_json(cst_node *n, const cst_tenant_row *t, int64_t now, bool detailed)
{
    cst_lifecycle_step st;
    cst_lifecycle_next(t, &n->cfg.lifecycle, &st);
    json_t *next = json_null();
    if (st.at)
        next = json_pack("{s:s,s:o,s:s,s:b}", "state", st.state, "at", cst_json_time(st.at), "rule",
                         st.reason, "due", st.at <= now);
    json_t *o = json_pack("{s:s,s:o,s:s,s:o,s:o,s:o}", "state", t->state, "state_since",
                          cst_json_time(t->state_since ? t->state_since : t->created_at), "event",
                          t->event, "event_at", cst_json_time(t->event_at), "last_active_at",
                          cst_json_time(t->last_active_at), "next", next);
    if (!detailed)
        return o; /* listings skip the two lookups below */
    char cert[CST_ID_MAX];
    if (cst_store_certificate_of(n->store, t->id, cert) == CST_OK)
        json_object_set_new(o, "certificate_id", json_string(cert));
    cst_err_clear();
    cst_retained_row r;
    if (cst_store_retained_get(n->store, t->id, &r) == CST_OK)
        json_object_set_new(o, "billing_retained",
                            json_pack("{s:I,s:I,s:o}", "buckets", (json_int_t)r.buckets, "records",
                                      (json_int_t)r.records, "until", cst_json_time(r.expires_at)));
    cst_err_clear();
    return o;
}

/* ---- the sweep ---- */

typedef struct sweep {
    cst_node *n;
    int64_t now;
    int64_t expired, moved, erased, failed;
    json_t *tenants; /* ids */
    json_t *retained;
    char last[CST_ID_MAX]; /* paging: the last tenant listed, erased or not */
    int page;
} sweep;

static cst_err collect_tenant(const cst_tenant_row *t, void *p)
{
    sweep *s = p;
    (void)snprintf(s->last, sizeof(s->last), "%s", t->id);
    s->page++;
    if (!is(t->state, "erased"))
        json_array_append_new(s->tenants, json_string(t->id));
    return CST_OK;
}

struct bucket_list {
    json_t *arr;
};

static cst_err collect_bucket(const cst_bucket_row *b, void *p)
{
    struct bucket_list *l = p;
    if (b->retention_seconds > 0)
        json_array_append_new(l->arr, json_pack("{s:s,s:I}", "name", b->name, "retention",
                                                (json_int_t)b->retention_seconds));
    return CST_OK;
}

/* RET-1: removes a tenant's expired records, bucket by bucket, a batch per transaction. */
int64_t cst_retention_cutoff(int64_t now, int64_t retention_seconds)
{
    int64_t span, cutoff;
    if (retention_seconds <= 0 || __builtin_mul_overflow(retention_seconds, 1000000LL, &span) ||
        __builtin_sub_overflow(now, span, &cutoff))
        return INT64_MIN;
    return cutoff;
}

static cst_err sweep_retention(sweep *s, const char *tenant_id)
{
    bool exists = false;
    TRY(cst_tstore_exists(s->n->store, CST_TSPACE_LIVE, tenant_id, &exists));
    if (!exists)
        return CST_OK; /* never opened, or removed: nothing to sweep, nothing to create */
    cst_tenant_ctx *t;
    cst_err e = cst_node_tenant_acquire_cold(s->n, tenant_id, &t);
    if (e == CST_ERR_NOT_FOUND) {
        cst_err_clear();
        return CST_OK;
    }
    TRY(e);
    struct bucket_list l = {json_array()};
    e = cst_tstore_bucket_list(t->ts, collect_bucket, &l);
    size_t i;
    json_t *b;
    int64_t removed_here = 0;
    json_array_foreach(l.arr, i, b)
    {
        const char *name = json_string_value(json_object_get(b, "name"));
        int64_t cutoff =
            cst_retention_cutoff(s->now, json_integer_value(json_object_get(b, "retention")));
        int64_t removed = s->n->cfg.sweep_batch;
        while (e == CST_OK && removed == s->n->cfg.sweep_batch) {
            e = cst_tstore_sweep(t->ts, name, cutoff, s->n->cfg.sweep_batch, &removed);
            if (e == CST_OK)
                removed_here += removed;
        }
    }
    json_decref(l.arr);
    cst_node_tenant_release(s->n, t);
    s->expired += removed_here;
    if (removed_here > 0)
        cst_node_audit_event(s->n, "record.retention.sweep", e == CST_OK ? "success" : "failure",
                             tenant_id, "/v1/buckets",
                             json_pack("{s:I}", "records_removed", (json_int_t)removed_here));
    return e;
}

/* RET-2, RET-3: moves the tenant along its schedule as far as now allows. */
static cst_err sweep_tenant(sweep *s, const char *tenant_id)
{
    for (int guard = 0; guard < 8; guard++) {
        cst_tenant_row t;
        TRY(cst_store_tenant_get(s->n->store, tenant_id, &t));
        cst_lifecycle_step st;
        cst_lifecycle_next(&t, &s->n->cfg.lifecycle, &st);
        if (!st.at || st.at > s->now)
            return CST_OK;
        char from[16], when[32];
        (void)snprintf(from, sizeof(from), "%s", t.state);
        cst_time_format(st.at, when);
        if (is(st.state, "erased")) {
            if (!is(t.state, "pending_erase")) {
                (void)snprintf(t.state, sizeof(t.state), "pending_erase");
                t.state_since = st.at;
                TRY(cst_store_tenant_lifecycle_set(s->n->store, &t));
            }
            char requested[256];
            (void)snprintf(requested, sizeof(requested), "lifecycle schedule: %s (due %s)",
                           st.reason, when);
            char *cert = NULL;
            cst_err e = cst_lifecycle_erase(s->n, tenant_id, requested,
                                            "custodia lifecycle sweeper", s->now, &cert);
            cst_json_free_text(cert);
            if (e != CST_OK) {
                s->failed++;
                return e;
            }
            s->erased++;
            return CST_OK;
        }
        (void)snprintf(t.state, sizeof(t.state), "%s", st.state);
        t.state_since = st.at;
        TRY(cst_store_tenant_lifecycle_set(s->n->store, &t));
        s->moved++;
        cst_node_audit_event(s->n, "tenant.lifecycle.transition", "success", tenant_id,
                             "/v1/sys/tenants/{id}",
                             json_pack("{s:s,s:s,s:s,s:s}", "from", from, "to", st.state, "due",
                                       when, "rule", st.reason));
    }
    return CST_OK;
}

static cst_err collect_retained(const cst_retained_row *r, void *p)
{
    sweep *s = p;
    if (r->expires_at <= s->now)
        json_array_append_new(s->retained, json_string(r->tenant_id));
    return CST_OK;
}

cst_err cst_lifecycle_sweep(cst_node *n, int64_t now, json_t **report)
{
    sweep s = {.n = n, .now = now, .tenants = json_array(), .retained = json_array()};
    cst_err first = CST_OK;
    do {
        s.page = 0;
        char after[CST_ID_MAX];
        (void)snprintf(after, sizeof(after), "%s", s.last);
        cst_err e = cst_store_tenant_list(n->store, after, 1000, collect_tenant, &s);
        if (e != CST_OK) {
            first = e;
            break;
        }
    } while (s.page == 1000);
    size_t i;
    json_t *id;
    json_array_foreach(s.tenants, i, id)
    {
        const char *tid = json_string_value(id);
        cst_err e = sweep_tenant(&s, tid);
        if (e == CST_OK)
            e = sweep_retention(&s, tid);
        if (e != CST_OK) {
            cst_error("lifecycle sweep: tenant %s: %s", tid, cst_err_message(e));
            if (first == CST_OK)
                first = e;
            cst_err_clear();
        }
    }
    if (cst_store_retained_list(n->store, collect_retained, &s) != CST_OK)
        cst_err_clear();
    json_array_foreach(s.retained, i, id)
    {
        if (cst_lifecycle_billing_erase(n, json_string_value(id), now) != CST_OK) {
            cst_error("lifecycle sweep: billing records of %s: %s", json_string_value(id),
                      cst_err_message(CST_ERR_INTERNAL));
            cst_err_clear();
            s.failed++;
        }
    }
    if (report)
        *report =
            json_pack("{s:I,s:I,s:I,s:I,s:I}", "tenants", (json_int_t)json_array_size(s.tenants),
                      "records_expired", (json_int_t)s.expired, "transitions", (json_int_t)s.moved,
                      "erased", (json_int_t)s.erased, "failed", (json_int_t)s.failed);
    json_decref(s.tenants);
    json_decref(s.retained);
    return first;
}

/* ---- the sweeper thread ---- */

static void *sweep_main(void *arg)
{
    cst_node *n = arg;
    pthread_mutex_lock(&n->sweep_mu);
    while (!n->sweep_stop) {
        pthread_mutex_unlock(&n->sweep_mu);
        cst_err_clear();
        if (cst_lifecycle_sweep(n, cst_now_us(), NULL) != CST_OK)
            cst_err_clear();
        pthread_mutex_lock(&n->sweep_mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += n->cfg.sweep_interval;
        if (!n->sweep_stop)
            pthread_cond_timedwait(&n->sweep_cv, &n->sweep_mu, &ts);
    }
    pthread_mutex_unlock(&n->sweep_mu);
    return NULL;
}

cst_err cst_lifecycle_start(cst_node *n)
{
    n->sweep_stop = false;
    ENSURE(pthread_create(&n->sweep_thread, NULL, sweep_main, n) == 0, CST_ERR_INTERNAL,
           "cannot start the lifecycle sweeper");
    n->sweep_started = true;
    return CST_OK;
}

void cst_lifecycle_stop(cst_node *n)
{
    if (!n->sweep_started)
        return;
    pthread_mutex_lock(&n->sweep_mu);
    n->sweep_stop = true;
    pthread_cond_broadcast(&n->sweep_cv);
    pthread_mutex_unlock(&n->sweep_mu);
    pthread_join(n->sweep_thread, NULL);
    n->sweep_started = false;
}
