/* alerts.h: alerts (DET-1): one record per attack or failing safeguard, de-duplicated so that
 * an attack raises one alert whose count grows, each new alert (and each escalation) an entry
 * of the audit log's security stream. The detection rules (node/detect.h), the incidents'
 * breach clocks and the schedules raise them through cst_alert_raise. */
#ifndef CST_ALERTS_H
#define CST_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/node.h"
#include "store/store.h"

/* A kind of alert and its default severity (SPEC §11 names them). */
typedef struct cst_alert_type {
    const char *name;
    const char *severity;
    const char *what; /* one line for docs and summaries */
} cst_alert_type;

extern const cst_alert_type cst_alert_types[];
extern const size_t cst_alert_type_count;
/* The type named name, or NULL. */
const cst_alert_type *cst_alert_type_find(const char *name);
/* 0 low, 1 medium, 2 high, 3 critical; -1 for anything else. */
int cst_alert_severity_rank(const char *severity);
/* true for open, acknowledged, resolved. */
bool cst_alert_status_valid(const char *status);

/* The alert as the API and webhooks show it (a new reference; NULL when out of memory). */
struct json_t *cst_alert_json(const cst_alert_row *a);

/* One occurrence (or several, count) of something alert-worthy. Strings may be NULL. */
typedef struct cst_alert_event {
    const char *type;      /* a name of cst_alert_types */
    const char *severity;  /* NULL: the type's default */
    const char *dedup_key; /* what makes two occurrences one attack (with the type) */
    const char *tenant, *principal, *source_ip;
    const char *summary;
    int64_t count; /* occurrences this event stands for; 0 counts as 1 */
} cst_alert_event;

/* Raises ev at now (microseconds): an alert of the same type and dedup key that is not
 * resolved and whose last occurrence is within detect.quiet_period absorbs it (count added,
 * last_seen moved, severity raised when ev's is higher: an escalation); otherwise a new alert
 * opens. New alerts and escalations are audited (alert.raised, alert.escalated). *out
 * (optional) receives the alert as stored. Committed on its own, outside any unit of work: call
 * it with no transaction of the system store held. */
CST_MUST_USE cst_err cst_alert_raise(cst_node *n, const cst_alert_event *ev, int64_t now,
                                     cst_alert_row *out);

#endif
