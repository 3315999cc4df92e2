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

#include "node/node.h"

#define CST_DAY_US (86400LL * 1000000LL)

/* A tenant's lifecycle state, the operator event that set its schedule, and its plan. The
 * stored row keeps their names (cst_tenant_row.state, .event, .plan); the state machine works
 * on these. A name that parses to nothing is CST_STATE__COUNT (a state with no access and no
 * transitions), CST_EVENT__COUNT or CST_PLAN__COUNT. */
typedef enum cst_tenant_state {
    CST_STATE_ACTIVE,
    CST_STATE_SUSPENDED,
    CST_STATE_CLOSED,
    CST_STATE_TERMINATED,
    CST_STATE_PENDING_ERASE,
    CST_STATE_ERASED,
    CST_STATE__COUNT
} cst_tenant_state;

typedef enum cst_tenant_event {
    CST_EVENT_NONE, /* "" */
    CST_EVENT_TRIAL_ENDED,
    CST_EVENT_CANCELLED,
    CST_EVENT_PAYMENT_FAILED,
    CST_EVENT_PAYMENT_RECOVERED,
    CST_EVENT_TERMINATED,
    CST_EVENT__COUNT
} cst_tenant_event;

typedef enum cst_tenant_plan {
    CST_PLAN_TRIAL,
    CST_PLAN_FREE,
    CST_PLAN_PAID,
    CST_PLAN__COUNT
} cst_tenant_plan;

/* Names and parsers: name of an out-of-range value is "unknown"; parse of an unknown name is
 * the __COUNT value. */
const char *cst_tenant_state_name(cst_tenant_state s);
cst_tenant_state cst_tenant_state_parse(const char *name);
const char *cst_tenant_event_name(cst_tenant_event e);
cst_tenant_event cst_tenant_event_parse(const char *name);
const char *cst_tenant_plan_name(cst_tenant_plan p);
cst_tenant_plan cst_tenant_plan_parse(const char *name);
/* RET-4: the tenant is being erased or is erased: closed to everyone, whatever the route. */
bool cst_tenant_erasing(const cst_tenant_row *t);

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

/* What a request is, for what a tenant's state permits (RET-2, RET-3): a bit set. */
#define CST_ACCESS_READ 0x1u         /* GET or HEAD */
#define CST_ACCESS_WRITE 0x2u        /* any other method */
#define CST_ACCESS_EXPORT 0x4u       /* the data leaves (GET /v1/export) */
#define CST_ACCESS_SELF 0x8u         /* acts only on the caller (log out, password, sessions) */
#define CST_ACCESS_CLOSED_READ 0x10u /* a read a closed tenant keeps (its settings) */

/* What a tenant's state permits its own principals: a request is allowed when any of its
 * access bits is one its state allows; deny by default (an unknown state allows nothing). */
CST_MUST_USE cst_err cst_lifecycle_permits(const cst_tenant_row *t, unsigned access);

/* The tenant's lifecycle as JSON; detailed adds its certificate and retained billing records
 * (GET /v1/sys/tenants/{id}, GET /v1/tenant; not listings). */
json_t *cst_lifecycle_json(cst_node *n, const cst_tenant_row *t, int64_t now, bool detailed);

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
