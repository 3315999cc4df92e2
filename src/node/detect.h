/* detect.h: the intrusion detection rules (DET-1), evaluated as events happen (never by
 * re-reading the log): each event updates a bounded in-memory sliding window (util/window.h)
 * and raises an alert (node/alerts.h) when its rule's threshold is reached within its window.
 * Every function takes now (microseconds) so that tests drive the clock; none fails the
 * request it observes (a failure to raise is logged). */
#ifndef CST_DETECT_H
#define CST_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "node/node.h"

#define CST_DETECT_ENTRIES 1024   /* keys each window table tracks */
#define CST_DETECT_PRINCIPALS 512 /* principals whose read baseline is kept */
#define CST_DETECT_HOURS 168      /* the baseline: 7 days of hourly counts */

typedef struct cst_detect cst_detect;
CST_MUST_USE cst_err cst_detect_new(cst_detect **out);
void cst_detect_free(cst_detect *d);

/* brute_force (per account: tenant, newline, username) and password_spraying (per client
 * address, distinct accounts in any tenant). tenant and principal may be NULL. */
void cst_detect_login_failed(cst_node *n, const char *account, const char *tenant,
                             const char *principal, const char *ip, int64_t now);
/* A source address with an open password_spraying alert whose last occurrence is within
 * detect.quiet_period: true, with *retry_after the seconds left (its logins get 429). */
bool cst_detect_login_blocked(cst_node *n, const char *ip, int64_t now, int *retry_after);
/* disallowed_ip: a request refused by the tenant's or the operators' IP allowlist. */
void cst_detect_ip_refused(cst_node *n, const char *tenant, const char *principal, const char *ip,
                           int64_t now);
/* revoked_credential: remembers a revoked token (its id and hash) until it would have
 * expired (expires_at 0: for the longest session or token life the table keeps, 30 days). */
void cst_detect_token_revoked(cst_node *n, const char *id, const uint8_t hash[CST_HASH_LEN],
                              int64_t expires_at, int64_t now);
/* A bearer token was refused: when it is one remembered as revoked, or expired (known is
 * true, with its row's expiry), a revoked_credential occurrence. */
void cst_detect_token_refused(cst_node *n, const char *id, const uint8_t hash[CST_HASH_LEN],
                              bool expired, const char *tenant, const char *principal,
                              const char *ip, int64_t now);
/* exfiltration: principal read records at now. */
void cst_detect_records_read(cst_node *n, const char *tenant, const char *principal,
                             int64_t records, const char *ip, int64_t now);
/* The exfiltration rule on its own (unit tests): adds records at now to principal's hourly
 * counts and says whether the current hour is above factor x the median of the previous
 * (up to) 168 hours since the principal was first seen and at least min_records; *hour the
 * current hour's count, *median the baseline (computed only once *hour reaches min_records,
 * else 0). */
bool cst_detect_baseline_add(cst_detect *d, const char *principal, int64_t records, int64_t now,
                             int factor, int64_t min_records, int64_t *hour, int64_t *median);
/* audit_integrity: a verification (by the daily check, the API or the CLI) found a problem. */
void cst_detect_audit_verified(cst_node *n, const cst_audit_report *r, const char *by, int64_t now);
/* INC-2: raises a breach_deadline alert for every breach notice due within 12 h of now, and a
 * critical one for every notice past its deadline (one alert per incident and tenant; part of
 * cst_detect_sweep, callable alone so that tests drive the clock). */
void cst_detect_deadlines(cst_node *n, int64_t now);
/* IAM-6: reminds every tenant (and the operators) whose access review is due within 14 days
 * of now (webhook, once a day) and raises review_overdue for each one past its due date (one
 * alert per scope; part of cst_detect_sweep, callable alone so that tests drive the clock). */
void cst_detect_reviews(cst_node *n, int64_t now);
/* The evidence rules, on the sweeper's schedule: backup_failing, drill_overdue, and the daily
 * audit verification (once a day at most). */
void cst_detect_sweep(cst_node *n, int64_t now);

#endif
