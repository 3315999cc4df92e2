/* lifecycle.c: the tenant state machine, its schedule and the sweeper (RET-1..3). */
#include "lifecycle/lifecycle.h"

#include <limits.h>
#include <string.h>
#include <time.h>

#include "node/detect.h"
#include "util/json.h"
#include "util/util.h"

#define BIT(x) (1u << (x))
#define ANY_PLAN (~0u) /* an unknown plan too */

/* ---- the schedule (RET-2, RET-3) ---- */

/* The policy's periods (days), and BY_ERASE_RULE: by the erase rule of the tenant's event or
 * plan (erase_rules). */
typedef enum period {
    NO_DAYS,
    TRIAL_ERASE,
    CANCELLED_ERASE,
    PAYMENT_SUSPEND,
    PAYMENT_CLOSE,
    CLOSED_ERASE,
    TERMINATED_ACCESS,
    TERMINATED_ERASE,
    FREE_INACTIVE,
    BY_ERASE_RULE,
} period;

/* When a step applies, beyond its state. */
typedef enum condition {
    WHEN_ALWAYS,
    WHEN_PAYMENT_FAILED, /* the tenant's event is payment_failed */
    WHEN_FREE_PLAN,
} condition;

/* The dated steps: the first row of the tenant's state whose condition holds. */
static const struct scheduled {
    cst_tenant_state from;
    condition when;
    cst_tenant_state to;
    period after;       /* counted from the tenant's event */
    const char *reason; /* NULL: the erase rule's */
} schedule[] = {
    {CST_STATE_ACTIVE, WHEN_PAYMENT_FAILED, CST_STATE_SUSPENDED, PAYMENT_SUSPEND,
     "payment failed + lifecycle.payment_suspend_days"},
    {CST_STATE_ACTIVE, WHEN_FREE_PLAN, CST_STATE_ERASED, BY_ERASE_RULE, NULL},
    {CST_STATE_SUSPENDED, WHEN_ALWAYS, CST_STATE_CLOSED, PAYMENT_CLOSE,
     "payment failed + lifecycle.payment_close_days"},
    {CST_STATE_TERMINATED, WHEN_ALWAYS, CST_STATE_PENDING_ERASE, TERMINATED_ACCESS,
     "terminated + lifecycle.terminated_access_days"},
    {CST_STATE_CLOSED, WHEN_ALWAYS, CST_STATE_ERASED, BY_ERASE_RULE, NULL},
    {CST_STATE_PENDING_ERASE, WHEN_ALWAYS, CST_STATE_ERASED, BY_ERASE_RULE, NULL},
};

/* When a tenant on its way out is erased: by the event that started it (the second period
 * NO_DAYS when there is one), else (free plan) by inactivity. */
static const struct erase_rule {
    cst_tenant_event event; /* CST_EVENT_NONE: the free plan's inactivity */
    period first, second;
    const char *reason;
} erase_rules[] = {
    {CST_EVENT_TRIAL_ENDED, TRIAL_ERASE, NO_DAYS, "trial ended + lifecycle.trial_erase_days"},
    {CST_EVENT_CANCELLED, CANCELLED_ERASE, NO_DAYS, "cancelled + lifecycle.cancelled_erase_days"},
    {CST_EVENT_PAYMENT_FAILED, PAYMENT_CLOSE, CLOSED_ERASE,
     "payment failed + lifecycle.payment_close_days + lifecycle.closed_erase_days"},
    {CST_EVENT_TERMINATED, TERMINATED_ERASE, NO_DAYS,
     "terminated + lifecycle.terminated_erase_days"},
};

static int64_t days_of(const cst_lifecycle_policy *p, period d)
{
    const int days[] = {
        [NO_DAYS] = 0,
        [TRIAL_ERASE] = p->trial_erase_days,
        [CANCELLED_ERASE] = p->cancelled_erase_days,
        [PAYMENT_SUSPEND] = p->payment_suspend_days,
        [PAYMENT_CLOSE] = p->payment_close_days,
        [CLOSED_ERASE] = p->closed_erase_days,
        [TERMINATED_ACCESS] = p->terminated_access_days,
        [TERMINATED_ERASE] = p->terminated_erase_days,
        [FREE_INACTIVE] = p->free_inactive_days,
        [BY_ERASE_RULE] = 0,
    };
    return (size_t)d < sizeof(days) / sizeof(days[0]) ? (int64_t)days[d] * CST_DAY_US : 0;
}

/* The free plan's clock: from its last activity, creation or event, whichever is latest. */
static int64_t free_since(const cst_tenant_row *t)
{
    int64_t last = t->last_active_at > t->created_at ? t->last_active_at : t->created_at;
    return t->event_at > last ? t->event_at : last;
}

/* When a tenant on its way out is to be erased. 0: never. */
static int64_t erase_date(const cst_tenant_row *t, const cst_lifecycle_policy *p,
                          const char **reason)
{
    cst_tenant_event ev = cst_tenant_event_parse(t->event);
    for (size_t i = 0; i < sizeof(erase_rules) / sizeof(erase_rules[0]); i++) {
        const struct erase_rule *r = &erase_rules[i];
        if (r->event == ev) {
            *reason = r->reason;
            return t->event_at + days_of(p, r->first) + days_of(p, r->second);
        }
    }
    if (cst_tenant_plan_parse(t->plan) == CST_PLAN_FREE) {
        *reason = "free plan unused for lifecycle.free_inactive_days";
        return free_since(t) + days_of(p, FREE_INACTIVE);
    }
    return 0;
}

static bool holds(condition c, const cst_tenant_row *t)
{
    switch (c) {
    case WHEN_ALWAYS:
        return true;
    case WHEN_PAYMENT_FAILED:
        return cst_tenant_event_parse(t->event) == CST_EVENT_PAYMENT_FAILED;
    case WHEN_FREE_PLAN:
        return cst_tenant_plan_parse(t->plan) == CST_PLAN_FREE;
    default:
        return false;
    }
}

static int64_t step_at(const struct scheduled *s, const cst_tenant_row *t,
                       const cst_lifecycle_policy *p, const char **reason)
{
    *reason = s->reason;
    if (s->after != BY_ERASE_RULE)
        return t->event_at + days_of(p, s->after);
    int64_t at = erase_date(t, p, reason);
    if (!at && s->from == CST_STATE_PENDING_ERASE) {
        *reason = "erase requested"; /* an erase that was begun and must be finished */
        return t->state_since;
    }
    return at;
}

void cst_lifecycle_next(const cst_tenant_row *t, const cst_lifecycle_policy *p,
                        cst_lifecycle_step *out)
{
    memset(out, 0, sizeof(*out));
    out->state = CST_STATE__COUNT;
    cst_tenant_state from = cst_tenant_state_parse(t->state);
    for (size_t i = 0; i < sizeof(schedule) / sizeof(schedule[0]); i++) {
        const struct scheduled *s = &schedule[i];
        if (s->from != from || !holds(s->when, t))
            continue;
        out->at = step_at(s, t, p, &out->reason);
        if (out->at)
            out->state = s->to;
        else
            out->reason = NULL;
        return;
    }
}

/* ---- operator events (RET-2, RET-3) ---- */

/* The standing of a tenant's payments that an event needs. */
typedef enum standing { ANY_STANDING, GOOD_STANDING, PAYMENT_FAILED } standing;

/* Why an event is refused: before, the plan's or state's name when names is set, ", payment
 * already failed" when note is set and it has, then after. */
typedef struct refusal {
    const char *before;
    bool names;
    bool note;
    const char *after;
} refusal;

/* The transitions an operator event makes: from any of the states in from, for the plans in
 * plans and the standing, to the state to. */
static const struct transition {
    cst_tenant_event event;
    unsigned plans;
    refusal plan_refused;
    unsigned from;
    standing needs;
    refusal state_refused;
    cst_tenant_state to;
} transitions[] = {
    {CST_EVENT_TRIAL_ENDED,
     BIT(CST_PLAN_TRIAL),
     {"trial_ended applies to a trial; this tenant's plan is ", true, false, ""},
     BIT(CST_STATE_ACTIVE),
     ANY_STANDING,
     {"the tenant is ", true, false, ", not active"},
     CST_STATE_CLOSED},
    {CST_EVENT_CANCELLED,
     ~BIT(CST_PLAN_TRIAL),
     {"a trial ends with trial_ended, not cancelled", false, false, ""},
     BIT(CST_STATE_ACTIVE) | BIT(CST_STATE_SUSPENDED),
     ANY_STANDING,
     {"the tenant is ", true, false, ": only an active or suspended account can be cancelled"},
     CST_STATE_CLOSED},
    {CST_EVENT_PAYMENT_FAILED,
     BIT(CST_PLAN_PAID),
     {"payment_failed applies to a paid plan; this tenant's plan is ", true, false, ""},
     BIT(CST_STATE_ACTIVE),
     GOOD_STANDING,
     {"payment_failed applies to an active tenant in good standing (it is ", true, true, ")"},
     CST_STATE_ACTIVE},
    {CST_EVENT_PAYMENT_RECOVERED,
     ANY_PLAN,
     {"", false, false, ""},
     BIT(CST_STATE_ACTIVE) | BIT(CST_STATE_SUSPENDED),
     PAYMENT_FAILED,
     {"payment_recovered applies after payment_failed, before the account closes", false, false,
      ""},
     CST_STATE_ACTIVE},
    {CST_EVENT_TERMINATED,
     ANY_PLAN,
     {"", false, false, ""},
     BIT(CST_STATE_ACTIVE) | BIT(CST_STATE_SUSPENDED) | BIT(CST_STATE_CLOSED),
     ANY_STANDING,
     {"the tenant is ", true, false, " and cannot be terminated"},
     CST_STATE_TERMINATED},
};

static cst_err refuse(const refusal *r, const char *name, bool failed)
{
    return cst_fail(CST_ERR_CONFLICT, "%s%s%s%s", r->before, r->names ? name : "",
                    r->note && failed ? ", payment already failed" : "", r->after);
}

static bool in(unsigned set, unsigned v)
{
    return (set & BIT(v)) != 0; /* v <= __COUNT < 32 */
}

static cst_err change_plan(cst_tenant_row *t, const char *plan, int64_t now)
{
    cst_tenant_plan to = cst_tenant_plan_parse(plan);
    ENSURE(to != CST_PLAN__COUNT, CST_ERR_INVALID, "plan must be trial, free or paid");
    ENSURE(cst_tenant_state_parse(t->state) == CST_STATE_ACTIVE, CST_ERR_CONFLICT,
           "the plan of a %s tenant cannot change", t->state);
    ENSURE(cst_tenant_event_parse(t->event) != CST_EVENT_PAYMENT_FAILED || to == CST_PLAN_PAID,
           CST_ERR_CONFLICT, "a payment has failed: send payment_recovered first");
    if (to == CST_PLAN_FREE && cst_tenant_plan_parse(t->plan) != CST_PLAN_FREE)
        t->last_active_at = now; /* inactivity counts from the change */
    (void)snprintf(t->plan, sizeof(t->plan), "%s", cst_tenant_plan_name(to));
    return CST_OK;
}

static const struct transition *transition_of(cst_tenant_event ev)
{
    for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++)
        if (transitions[i].event == ev)
            return &transitions[i];
    return NULL;
}

cst_err cst_lifecycle_apply(cst_tenant_row *t, const char *event, const char *plan, int64_t now)
{
    cst_tenant_state from = cst_tenant_state_parse(t->state);
    ENSURE(from != CST_STATE_ERASED && from != CST_STATE_PENDING_ERASE, CST_ERR_CONFLICT,
           "the tenant is %s: its lifecycle has ended", t->state);
    if (plan)
        TRY(change_plan(t, plan, now));
    if (!event)
        return CST_OK;
    const struct transition *tr = transition_of(cst_tenant_event_parse(event));
    ENSURE(tr != NULL, CST_ERR_INVALID,
           "event must be trial_ended, cancelled, payment_failed, payment_recovered or "
           "terminated");
    bool failed = cst_tenant_event_parse(t->event) == CST_EVENT_PAYMENT_FAILED;
    if (!in(tr->plans, cst_tenant_plan_parse(t->plan)))
        return refuse(&tr->plan_refused, t->plan, failed);
    bool standing_ok = tr->needs == ANY_STANDING || (tr->needs == PAYMENT_FAILED) == failed;
    if (!in(tr->from, from) || !standing_ok)
        return refuse(&tr->state_refused, t->state, failed);
    if (from != tr->to)
        t->state_since = now;
    (void)snprintf(t->state, sizeof(t->state), "%s", cst_tenant_state_name(tr->to));
    (void)snprintf(t->event, sizeof(t->event), "%s", cst_tenant_event_name(tr->event));
    t->event_at = now;
    return CST_OK;
}

json_t *cst_lifecycle_json(cst_node *n, cst_work *w, const cst_tenant_row *t, int64_t now,
                           bool detailed)
{
    cst_lifecycle_step st;
    cst_lifecycle_next(t, &n->cfg.lifecycle, &st);
    json_t *next = json_null();
    if (st.at)
        next = json_pack("{s:s,s:o,s:s,s:b}", "state", cst_tenant_state_name(st.state), "at",
                         cst_json_time(st.at), "rule", st.reason, "due", st.at <= now);
    json_t *o = json_pack("{s:s,s:o,s:s,s:o,s:o,s:o}", "state", t->state, "state_since",
                          cst_json_time(t->state_since ? t->state_since : t->created_at), "event",
                          t->event, "event_at", cst_json_time(t->event_at), "last_active_at",
                          cst_json_time(t->last_active_at), "next", next);
    if (!detailed)
        return o; /* listings skip the two lookups below */
    char cert[CST_ID_MAX];
    if (cst_store_certificate_of(n->store, w, t->id, cert) == CST_OK)
        json_object_set_new(o, "certificate_id", json_string(cert));
    cst_err_clear();
    cst_retained_row r;
    if (cst_store_retained_get(n->store, w, t->id, &r) == CST_OK)
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
    if (cst_tenant_state_parse(t->state) != CST_STATE_ERASED)
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
    e = cst_tstore_bucket_list(t->ts, NULL, collect_bucket, &l);
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
        TRY(cst_store_tenant_get(s->n->store, NULL, tenant_id, &t));
        cst_lifecycle_step st;
        cst_lifecycle_next(&t, &s->n->cfg.lifecycle, &st);
        if (!st.at || st.at > s->now)
            return CST_OK;
        char from[16], when[32];
        (void)snprintf(from, sizeof(from), "%s", t.state);
        cst_time_format(st.at, when);
        if (st.state == CST_STATE_ERASED) {
            if (cst_tenant_state_parse(t.state) != CST_STATE_PENDING_ERASE) {
                (void)snprintf(t.state, sizeof(t.state), "pending_erase");
                t.state_since = st.at;
                TRY(cst_store_tenant_lifecycle_set(s->n->store, NULL, &t));
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
        (void)snprintf(t.state, sizeof(t.state), "%s", cst_tenant_state_name(st.state));
        t.state_since = st.at;
        TRY(cst_store_tenant_lifecycle_set(s->n->store, NULL, &t));
        s->moved++;
        cst_node_audit_event(
            s->n, "tenant.lifecycle.transition", "success", tenant_id, "/v1/sys/tenants/{id}",
            json_pack("{s:s,s:s,s:s,s:s}", "from", from, "to", cst_tenant_state_name(st.state),
                      "due", when, "rule", st.reason));
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
        cst_err e = cst_store_tenant_list(n->store, NULL, after, 1000, collect_tenant, &s);
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
    if (cst_store_retained_list(n->store, NULL, collect_retained, &s) != CST_OK)
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
    cst_node_lease_state leader = {0};
    pthread_mutex_lock(&n->sweep_mu);
    while (!n->sweep_stop) {
        pthread_mutex_unlock(&n->sweep_mu);
        cst_err_clear();
        /* one node of a shared store sweeps (issue 20); its lease outlives two missed sweeps */
        if (cst_node_lease(n, "lifecycle.sweep", 3LL * n->cfg.sweep_interval * 1000000, &leader)) {
            if (cst_lifecycle_sweep(n, cst_now_us(), NULL) != CST_OK)
                cst_err_clear();
            cst_detect_sweep(n, cst_now_us()); /* DET-1: backup, drill and audit evidence */
        }
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
