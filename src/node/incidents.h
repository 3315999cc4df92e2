/* incidents.h: what the node knows for incidents (INC-2, INC-3): the breach deadlines still
 * open at a given time, and what a notice to a tenant can say from the node's own records. */
#ifndef CST_NODE_INCIDENTS_H
#define CST_NODE_INCIDENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "node/node.h"
#include "store/store.h"

/* Called once per breach clock whose notice is not sent (by deadline): the tenant, the
 * incident, the deadline, whether it is due within 12 h of now (or past it) and whether it is
 * past it. An error stops the pass and is returned. */
typedef cst_err (*cst_incident_deadline_fn)(const char *tenant_id, const char *incident_id,
                                            int64_t deadline, bool due_within_12h, bool overdue,
                                            void *ctx);

/* INC-2: every unsent notice's deadline at now (time comes in, so tests drive the clock); the
 * breach_deadline alerts are raised from here. Reads commit alone (no unit of work). */
CST_MUST_USE cst_err cst_incident_deadlines(cst_node *n, int64_t now, cst_incident_deadline_fn fn,
                                            void *ctx);

/* INC-2 evidence: counts of the node's clocks at now (unsent and due within 12 h, unsent and
 * past the deadline) and the overdue ones as [{incident, tenant, deadline}]. */
typedef struct cst_incident_counts {
    int open_incidents, clocks, sent, due_soon, overdue;
    json_t *overdue_list; /* owned by the caller (json_decref) */
} cst_incident_counts;
CST_MUST_USE cst_err cst_incident_count(cst_node *n, cst_work *w, int64_t now,
                                        cst_incident_counts *out);

/* INC-3: what custodia knows for a notice to tenant_id about incident i at now:
 * {records: {buckets: [{bucket, records}], total}, encryption: {algorithm, dek_version,
 * keys_exposed, ...}, audit: {from, until, entries, ids}} (a new object in *out). The audit
 * window runs from a day before the incident's awareness (or creation) until now. */
CST_MUST_USE cst_err cst_incident_prefill(cst_node *n, cst_work *w, const cst_incident_row *i,
                                          const char *tenant_id, int64_t now, json_t **out);

/* INC-3: a notice just sent (notice: the API's JSON of it, stolen) goes to its tenant, queued in
 * the unit of work w that stores it, so that both happen or neither: to the tenant's
 * alert_webhook_url (event "notice.sent", signed; node/webhook.h) and, when notices.smtp_url
 * is set, as an email to each of its notice_contacts. */
CST_MUST_USE cst_err cst_incident_notice_deliver(cst_node *n, cst_work *w, json_t *notice,
                                                 int64_t now);

#endif
