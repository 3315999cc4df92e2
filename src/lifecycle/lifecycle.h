/* lifecycle.h: the life of a tenant's data (RET-1..4): bucket retention, the account state
 * machine and its deletion schedule, cryptographic erase with signed certificates.
 *
 * States: active -> suspended (read and export only) -> closed (export only) -> erased;
 * terminated (read and export for lifecycle.terminated_access_days) -> pending_erase (no
 * access) -> erased. Operator events move a tenant between states; dates move it along its
 * schedule. Every function that decides by time takes `now` (microseconds), so tests drive
 * the schedule with a simulated clock. */
#ifndef CST_LIFECYCLE_H
#define CST_LIFECYCLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/tenant_state.h"
#include "node/node.h"

#define CST_DAY_US (86400LL * 1000000LL)

/* The next scheduled step of a tenant: the state it moves to (CST_STATE_ERASED for the
 * erase) and when. at == 0: nothing is scheduled. */
typedef struct cst_lifecycle_step {
    cst_tenant_state state;
    int64_t at;
    const char *reason; /* e.g. "trial ended + lifecycle.trial_erase_days" (not the date) */
} cst_lifecycle_step;

/* RET-1: the last write time (microseconds) at or before which a record of a bucket with this
 * retention has expired at now. Saturating: a retention too long to represent, or none
 * (retention_seconds <= 0), gives INT64_MIN (nothing expires), never a wrapped-around time. */
int64_t cst_retention_cutoff(int64_t now, int64_t retention_seconds);

void cst_lifecycle_next(const cst_tenant_row *t, const cst_lifecycle_policy *p,
                        cst_lifecycle_step *out);

/* Applies an operator event (trial_ended, cancelled, payment_failed, payment_recovered,
 * terminated) and/or a plan change to t at now. CST_ERR_CONFLICT when the event does not
 * apply in the tenant's state or plan; t is updated in memory only. */
CST_MUST_USE cst_err cst_lifecycle_apply(cst_tenant_row *t, const char *event, const char *plan,
                                         int64_t now);

/* The tenant's lifecycle as JSON; detailed adds its certificate and retained billing records
 * (GET /v1/sys/tenants/{id}, GET /v1/tenant; not listings), read in the request's unit of work
 * w (NULL: outside any). */
json_t *cst_lifecycle_json(cst_node *n, cst_work *w, const cst_tenant_row *t, int64_t now,
                           bool detailed);

/* One sweep at now: removes expired records of every tenant in batches (RET-1), moves every
 * tenant whose date has come to its next state, erasing those due (RET-2..4), and destroys
 * retained billing records past their date. Counts go to *report (may be NULL). */
CST_MUST_USE cst_err cst_lifecycle_sweep(cst_node *n, int64_t now, json_t **report);

/* RET-4: crypto-erases a tenant and returns its signed certificate (a JSON document as text,
 * the caller frees). requested_by/executed_by name the people (or the schedule). */
CST_MUST_USE cst_err cst_lifecycle_erase(cst_node *n, const char *tenant_id,
                                         const char *requested_by, const char *executed_by,
                                         int64_t now, char **certificate);

/* RET-2: destroys the billing records kept after a tenant's erase (their date has come) and
 * issues their own certificate. */
CST_MUST_USE cst_err cst_lifecycle_billing_erase(cst_node *n, const char *tenant_id, int64_t now);

/* Certificates: canonical JSON {"certificate": {...}, "signature": hex, "public_key": hex},
 * the signature by the node's Ed25519 key over the canonical certificate object. Verification
 * accepts only the canonical bytes (an optional final newline), so any changed byte fails. */
CST_MUST_USE cst_err cst_certificate_verify(const uint8_t *doc, size_t len, const uint8_t pk[32],
                                            json_t **certificate);

/* The sweeper thread of a serving node: a sweep every cfg.sweep_interval seconds. */
CST_MUST_USE cst_err cst_lifecycle_start(cst_node *n);
void cst_lifecycle_stop(cst_node *n);

#endif
