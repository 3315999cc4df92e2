/* detect.c: the intrusion detection rules (DET-1). */
#include "node/detect.h"

#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/alerts.h"
#include "node/incidents.h"
#include "node/reviews.h"
#include "util/util.h"
#include "util/window.h"

_Static_assert(CST_DETECT_MAX == CST_WINDOW_SLOTS, "a threshold must fit in a window");

#define SECOND_US 1000000LL
#define HOUR_US (3600 * SECOND_US)
#define DAY_US (24 * HOUR_US)
#define REVOKED_MAX_US (30 * DAY_US) /* how long a revoked token without expiry is remembered */
#define WAYS 8

/* A principal's reads per hour, the last CST_DETECT_HOURS of them (a ring by hour number). */
typedef struct baseline {
    uint64_t key; /* keyed hash of the principal; 0: free */
    int64_t first_hour, cur_hour;
    uint32_t hours[CST_DETECT_HOURS];
} baseline;

struct cst_detect {
    cst_window *accounts;   /* brute_force: failures per account */
    cst_window *addresses;  /* password_spraying: accounts failed per address */
    cst_window *refused;    /* disallowed_ip: refusals per address */
    cst_window *bad_tokens; /* revoked_credential: revoked or expired tokens per address */
    cst_window *revoked;    /* token id and hash -> until when it is remembered */
    pthread_mutex_t mu;     /* the baselines and the last verification */
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    baseline *b;
    size_t nsets;
    int64_t verified_at;
};

cst_err cst_detect_new(cst_detect **out)
{
    cst_detect *d = calloc(1, sizeof(*d));
    ENSURE(d, CST_ERR_INTERNAL, "out of memory");
    d->nsets = CST_DETECT_PRINCIPALS / WAYS;
    d->b = calloc(d->nsets * WAYS, sizeof(*d->b));
    cst_err e = d->b ? CST_OK : cst_fail(CST_ERR_INTERNAL, "out of memory");
    cst_window **tables[] = {&d->accounts, &d->addresses, &d->refused, &d->bad_tokens, &d->revoked};
    for (size_t i = 0; e == CST_OK && i < sizeof(tables) / sizeof(tables[0]); i++)
        e = cst_window_new(CST_DETECT_ENTRIES, tables[i]);
    randombytes_buf(d->hash_key, sizeof(d->hash_key));
    pthread_mutex_init(&d->mu, NULL);
    if (e != CST_OK) {
        cst_detect_free(d);
        return e;
    }
    *out = d;
    return CST_OK;
}

void cst_detect_free(cst_detect *d)
{
    if (!d)
        return;
    cst_window_free(d->accounts);
    cst_window_free(d->addresses);
    cst_window_free(d->refused);
    cst_window_free(d->bad_tokens);
    cst_window_free(d->revoked);
    pthread_mutex_destroy(&d->mu);
    free(d->b);
    free(d);
}

/* Raises, logging a failure: detection never fails the request it observes. */
static void raise_alert(cst_node *n, const cst_alert_event *ev, int64_t now)
{
    cst_err e = cst_alert_raise(n, ev, now, NULL);
    if (e != CST_OK) {
        cst_error("alert: could not raise %s: %s", ev->type, cst_err_message(e));
        cst_err_clear();
    }
}

/* A windowed rule: counts the event and raises once the threshold is reached; each further
 * occurrence while it stays reached adds one to the alert (the first raise counts them all). */
static void windowed(cst_node *n, cst_window *w, const cst_detect_rule *rule, const char *key,
                     const char *item, cst_alert_event *ev, int64_t now)
{
    int64_t since = now - (int64_t)rule->window * SECOND_US;
    int c = cst_window_note(w, key, strlen(key), item, item ? strlen(item) : 0, now, since);
    if (c < rule->threshold)
        return;
    ev->severity = rule->severity;
    ev->dedup_key = key;
    ev->count = c == rule->threshold ? c : 1;
    raise_alert(n, ev, now);
}

void cst_detect_login_failed(cst_node *n, const char *account, const char *tenant,
                             const char *principal, const char *ip, int64_t now)
{
    if (!n->cfg.detect_enabled || !n->detect)
        return;
    char summary[512], user[CST_NAME_MAX + 1] = "";
    const char *nl = strchr(account, '\n');
    (void)snprintf(user, sizeof(user), "%s", nl ? nl + 1 : account);
    (void)snprintf(summary, sizeof(summary), "%d or more failed logins for user \"%s\" within %d s",
                   n->cfg.detect_brute_force.threshold, user, n->cfg.detect_brute_force.window);
    cst_alert_event bf = {.type = "brute_force",
                          .tenant = tenant,
                          .principal = principal,
                          .source_ip = ip,
                          .summary = summary};
    windowed(n, n->detect->accounts, &n->cfg.detect_brute_force, account, NULL, &bf, now);
    char spray[512];
    (void)snprintf(
        spray, sizeof(spray), "failed logins from %s against %d or more accounts within %d s", ip,
        n->cfg.detect_password_spraying.threshold, n->cfg.detect_password_spraying.window);
    cst_alert_event ps = {.type = "password_spraying", .source_ip = ip, .summary = spray};
    windowed(n, n->detect->addresses, &n->cfg.detect_password_spraying, ip, account, &ps, now);
}

bool cst_detect_login_blocked(cst_node *n, const char *ip, int64_t now, int *retry_after)
{
    if (!n->cfg.detect_enabled)
        return false;
    cst_alert_row a;
    if (cst_store_alert_find(n->store, NULL, "password_spraying", ip, &a) != CST_OK) {
        cst_err_clear();
        return false;
    }
    int64_t until = a.last_seen + (int64_t)n->cfg.detect_quiet_period * SECOND_US;
    if (until <= now)
        return false;
    *retry_after = (int)((until - now + SECOND_US - 1) / SECOND_US);
    return true;
}

void cst_detect_ip_refused(cst_node *n, const char *tenant, const char *principal, const char *ip,
                           int64_t now)
{
    if (!n->cfg.detect_enabled || !n->detect)
        return;
    char key[160], summary[512];
    (void)snprintf(key, sizeof(key), "%s/%s", tenant && tenant[0] ? tenant : "operators", ip);
    (void)snprintf(summary, sizeof(summary), "requests from %s refused by the %s IP allowlist", ip,
                   tenant && tenant[0] ? "tenant's" : "operators'");
    cst_alert_event ev = {.type = "disallowed_ip",
                          .tenant = tenant,
                          .principal = principal,
                          .source_ip = ip,
                          .summary = summary};
    windowed(n, n->detect->refused, &n->cfg.detect_disallowed_ip, key, NULL, &ev, now);
}

static size_t token_key(const char *id, const uint8_t hash[CST_HASH_LEN], char *out, size_t n)
{
    size_t len = strlen(id);
    if (len + CST_HASH_LEN > n)
        return 0;
    memcpy(out, id, len);
    memcpy(out + len, hash, CST_HASH_LEN);
    return len + CST_HASH_LEN;
}

void cst_detect_token_revoked(cst_node *n, const char *id, const uint8_t hash[CST_HASH_LEN],
                              int64_t expires_at, int64_t now)
{
    if (!n->detect)
        return;
    char key[CST_ID_MAX + CST_HASH_LEN];
    size_t len = token_key(id, hash, key, sizeof(key));
    int64_t until = expires_at > now ? expires_at : now + REVOKED_MAX_US;
    if (len)
        (void)cst_window_note(n->detect->revoked, key, len, NULL, 0, until, now);
}

void cst_detect_token_refused(cst_node *n, const char *id, const uint8_t hash[CST_HASH_LEN],
                              bool expired, const char *tenant, const char *principal,
                              const char *ip, int64_t now)
{
    if (!n->cfg.detect_enabled || !n->detect)
        return;
    char key[CST_ID_MAX + CST_HASH_LEN];
    size_t len = token_key(id, hash, key, sizeof(key));
    bool revoked = len && cst_window_count(n->detect->revoked, key, len, now) > 0;
    if (!revoked && !expired)
        return;
    char summary[512];
    (void)snprintf(summary, sizeof(summary), "%s token %s presented from %s",
                   revoked ? "revoked" : "expired", id, ip);
    cst_alert_event ev = {.type = "revoked_credential",
                          .tenant = tenant,
                          .principal = principal,
                          .source_ip = ip,
                          .summary = summary};
    windowed(n, n->detect->bad_tokens, &n->cfg.detect_revoked_credential, ip, NULL, &ev, now);
}

/* ---- exfiltration: reads per principal and hour, against the median of the last 7 days ---- */

static baseline *baseline_of(cst_detect *d, const char *principal, int64_t hour)
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, (const unsigned char *)principal, strlen(principal),
                     d->hash_key);
    h = h ? h : 1;
    baseline *set = &d->b[(h % d->nsets) * WAYS], *victim = &set[0];
    for (int i = 0; i < WAYS; i++) {
        if (set[i].key == h)
            return &set[i];
        if (victim->key != 0 && (set[i].key == 0 || set[i].cur_hour < victim->cur_hour))
            victim = &set[i];
    }
    memset(victim, 0, sizeof(*victim));
    victim->key = h;
    victim->first_hour = victim->cur_hour = hour;
    return victim;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The median of the hours before the current one since first seen (at most 168); 0 if none. */
static int64_t median(const baseline *b)
{
    uint32_t v[CST_DETECT_HOURS];
    size_t k = 0;
    for (int64_t h = b->cur_hour - 1; h >= b->first_hour && h >= b->cur_hour - CST_DETECT_HOURS;
         h--)
        v[k++] = b->hours[h % CST_DETECT_HOURS];
    if (k == 0)
        return 0;
    qsort(v, k, sizeof(v[0]), cmp_u32);
    return k % 2 ? v[k / 2] : ((int64_t)v[k / 2 - 1] + v[k / 2]) / 2;
}

bool cst_detect_baseline_add(cst_detect *d, const char *principal, int64_t records, int64_t now,
                             int factor, int64_t min_records, int64_t *hour, int64_t *med)
{
    int64_t h = now / HOUR_US;
    pthread_mutex_lock(&d->mu);
    baseline *b = baseline_of(d, principal, h);
    if (h > b->cur_hour) {
        /* hours that passed without reads count as zero */
        for (int64_t x = b->cur_hour + 1; x <= h && x <= b->cur_hour + CST_DETECT_HOURS; x++)
            b->hours[x % CST_DETECT_HOURS] = 0;
        b->cur_hour = h;
    }
    if (h == b->cur_hour) {
        uint64_t v = (uint64_t)b->hours[h % CST_DETECT_HOURS] + (uint64_t)records;
        b->hours[h % CST_DETECT_HOURS] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    }
    *hour = b->hours[b->cur_hour % CST_DETECT_HOURS];
    /* the median (a sort of 168 counts) only once the hour reaches the minimum */
    *med = *hour >= min_records ? median(b) : 0;
    pthread_mutex_unlock(&d->mu);
    return *hour >= min_records && *hour > (int64_t)factor * *med;
}

void cst_detect_records_read(cst_node *n, const char *tenant, const char *principal,
                             int64_t records, const char *ip, int64_t now)
{
    if (!n->cfg.detect_enabled || !n->detect || !principal || !principal[0] || records <= 0)
        return;
    int64_t hour, med;
    if (!cst_detect_baseline_add(n->detect, principal, records, now,
                                 n->cfg.detect_exfiltration_factor,
                                 n->cfg.detect_exfiltration_min_records, &hour, &med))
        return;
    char summary[512];
    (void)snprintf(summary, sizeof(summary),
                   "%lld records read in the current hour, over %d x the hourly median of %lld "
                   "(7 days)",
                   (long long)hour, n->cfg.detect_exfiltration_factor, (long long)med);
    /* the first raise counts the hour's records; each later read adds its own */
    bool first = hour - records < n->cfg.detect_exfiltration_min_records ||
                 hour - records <= (int64_t)n->cfg.detect_exfiltration_factor * med;
    cst_alert_event ev = {.type = "exfiltration",
                          .severity = n->cfg.detect_exfiltration_severity,
                          .dedup_key = principal,
                          .tenant = tenant,
                          .principal = principal,
                          .source_ip = ip,
                          .summary = summary,
                          .count = first ? hour : records};
    raise_alert(n, &ev, now);
}

/* ---- the evidence rules ---- */

void cst_detect_audit_verified(cst_node *n, const cst_audit_report *r, const char *by, int64_t now)
{
    if (r->ok || !n->cfg.detect_enabled)
        return;
    char summary[512];
    (void)snprintf(summary, sizeof(summary), "audit verification (%s): %s at %s seq %llu: %.300s",
                   by, r->reason, r->stream, (unsigned long long)r->seq, r->message);
    cst_alert_event ev = {.type = "audit_integrity", .dedup_key = "audit", .summary = summary};
    raise_alert(n, &ev, now);
}

typedef struct evidence {
    cst_backup_row backup;
    bool have_backup;
    int64_t last_ok_backup;
    cst_drill_row drill;
    bool have_drill;
    int64_t last_ok_drill;
} evidence;

static cst_err on_backup(const cst_backup_row *b, void *ctx)
{
    evidence *v = ctx;
    if (strcmp(b->status, "pruned") == 0)
        return CST_OK;
    if (!v->have_backup)
        v->backup = *b;
    v->have_backup = true;
    if (strcmp(b->status, "ok") == 0 && b->created_at > v->last_ok_backup)
        v->last_ok_backup = b->created_at;
    return CST_OK;
}

static cst_err on_drill(const cst_drill_row *d, void *ctx)
{
    evidence *v = ctx;
    if (!v->have_drill)
        v->drill = *d;
    v->have_drill = true;
    if (d->ok && d->started_at > v->last_ok_drill)
        v->last_ok_drill = d->started_at;
    return CST_OK;
}

static void backup_rules(cst_node *n, const evidence *v, int64_t now)
{
    char summary[512] = "";
    int64_t interval = (int64_t)n->cfg.backup_interval * SECOND_US;
    if (v->have_backup && strcmp(v->backup.status, "failed") == 0)
        (void)snprintf(summary, sizeof(summary), "the last backup (%s) failed: %.300s",
                       v->backup.id, v->backup.error);
    else if (interval > 0 &&
             now - (v->last_ok_backup ? v->last_ok_backup : n->started_at) > 2 * interval)
        (void)snprintf(summary, sizeof(summary),
                       "no successful backup in two backup intervals (%ld s)",
                       n->cfg.backup_interval);
    if (summary[0]) {
        cst_alert_event ev = {.type = "backup_failing", .dedup_key = "backup", .summary = summary};
        raise_alert(n, &ev, now);
    }
    int64_t max_age = (int64_t)n->cfg.detect_drill_max_age * DAY_US;
    summary[0] = '\0';
    if (v->have_drill && !v->drill.ok)
        (void)snprintf(summary, sizeof(summary), "the last restore drill (%s) failed: %.300s",
                       v->drill.id, v->drill.error);
    else if (now - (v->last_ok_drill ? v->last_ok_drill : n->started_at) > max_age)
        (void)snprintf(summary, sizeof(summary), "no restore drill passed in %d days",
                       n->cfg.detect_drill_max_age);
    if (summary[0]) {
        cst_alert_event ev = {.type = "drill_overdue", .dedup_key = "drill", .summary = summary};
        raise_alert(n, &ev, now);
    }
}

static void daily_verify(cst_node *n, int64_t now)
{
    pthread_mutex_lock(&n->detect->mu);
    bool due = now - n->detect->verified_at >= DAY_US;
    if (due)
        n->detect->verified_at = now;
    pthread_mutex_unlock(&n->detect->mu);
    if (!due)
        return;
    char epoch_file[PATH_MAX];
    cst_audit_report r;
    if (cst_fmt(epoch_file, sizeof(epoch_file), "%s/audit/epoch.key", n->cfg.data_dir) != CST_OK ||
        cst_audit_verify(n->cfg.audit_dir, epoch_file, NULL, &n->root_key, true, &r) != CST_OK) {
        cst_error("detect: the daily audit verification could not run");
        cst_err_clear();
        return;
    }
    cst_detect_audit_verified(n, &r, "daily", now);
}

/* INC-2: a breach notice due within 12 h raises breach_deadline (its default severity); one
 * past its deadline escalates it to critical. One alert per incident and tenant. */
typedef struct {
    cst_node *n;
    int64_t now;
} deadline_pass;

static cst_err on_deadline(const char *tenant_id, const char *incident_id, int64_t deadline,
                           bool due_within_12h, bool overdue, void *ctx)
{
    deadline_pass *p = ctx;
    if (!due_within_12h && !overdue)
        return CST_OK;
    char key[128], at[32], summary[256];
    cst_time_format(deadline, at);
    (void)snprintf(key, sizeof(key), "%s/%s", incident_id, tenant_id);
    (void)snprintf(summary, sizeof(summary), "the breach notice of incident %s to tenant %s %s %s",
                   incident_id, tenant_id, overdue ? "was due" : "is due", at);
    cst_alert_event ev = {.type = "breach_deadline",
                          .severity = overdue ? "critical" : NULL,
                          .dedup_key = key,
                          .tenant = tenant_id,
                          .summary = summary};
    raise_alert(p->n, &ev, p->now);
    return CST_OK;
}

void cst_detect_deadlines(cst_node *n, int64_t now)
{
    deadline_pass p = {.n = n, .now = now};
    if (cst_incident_deadlines(n, now, on_deadline, &p) != CST_OK) {
        cst_error("detect: the breach notice deadlines could not be read");
        cst_err_clear();
    }
}

/* IAM-6: from 14 days before a scope's access review is due it is reminded (once a day), and
 * past the due date a review_overdue alert is raised (one per scope). */
static cst_err on_review_due(const char *scope, int64_t due_at, bool remind, bool overdue,
                             void *ctx)
{
    deadline_pass *p = ctx;
    if (remind && cst_review_remind_scope(p->n, scope, due_at, p->now) != CST_OK) {
        cst_error("detect: the access review reminder of %s could not be queued", scope);
        cst_err_clear();
    }
    if (!overdue)
        return CST_OK;
    bool operators = !strcmp(scope, CST_SYS_TENANT);
    char key[64], at[32], summary[256];
    cst_time_format(due_at, at);
    (void)snprintf(key, sizeof(key), "review/%s", scope);
    (void)snprintf(summary, sizeof(summary), "the access review of %s%s was due %s",
                   operators ? "the node's operators" : "tenant ", operators ? "" : scope, at);
    cst_alert_event ev = {.type = "review_overdue",
                          .dedup_key = key,
                          .tenant = operators ? NULL : scope,
                          .summary = summary};
    raise_alert(p->n, &ev, p->now);
    return CST_OK;
}

void cst_detect_reviews(cst_node *n, int64_t now)
{
    deadline_pass p = {.n = n, .now = now};
    if (cst_review_each_due(n, NULL, now, on_review_due, &p) != CST_OK) {
        cst_error("detect: the access review schedule could not be read");
        cst_err_clear();
    }
}

/* Resolved alerts and finished deliveries past their retention go (alerts.retention_days,
 * alerts.delivery_retention_days): with alerts.max_open, what bounds the tables. */
static void prune(cst_node *n, int64_t now)
{
    int64_t removed = 0;
    const int64_t day = 86400LL * 1000000;
    cst_err e = cst_store_alert_prune(n->store, NULL, now - n->cfg.alerts_retention_days * day,
                                      now - n->cfg.alerts_delivery_retention_days * day, &removed);
    if (e != CST_OK) {
        cst_error("detect: old alerts and deliveries could not be pruned: %s", cst_err_message(e));
        cst_err_clear();
    } else if (removed) {
        cst_info("detect: pruned %lld resolved alerts and finished deliveries", (long long)removed);
    }
}

void cst_detect_sweep(cst_node *n, int64_t now)
{
    if (!n->cfg.detect_enabled || !n->detect)
        return;
    evidence v;
    memset(&v, 0, sizeof(v));
    if (cst_store_backup_list(n->store, NULL, 1000, on_backup, &v) == CST_OK &&
        cst_store_drill_list(n->store, NULL, 1000, on_drill, &v) == CST_OK)
        backup_rules(n, &v, now);
    else
        cst_err_clear();
    cst_detect_deadlines(n, now);
    cst_detect_reviews(n, now);
    daily_verify(n, now);
    prune(n, now);
}
