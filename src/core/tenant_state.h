/* tenant_state.h: a tenant's lifecycle state, the operator event that set its schedule, its
 * plan, and what each state permits its own principals (RET-2, RET-3). The transitions and
 * the schedule are lifecycle/'s; the states and their access are the domain's, so that
 * authorisation and every layer below lifecycle/ can decide by them. */
#ifndef CST_CORE_TENANT_STATE_H
#define CST_CORE_TENANT_STATE_H

#include <stdbool.h>

#include "store/store.h"
#include "util/err.h"

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

/* What a request is, for what a tenant's state permits (RET-2, RET-3): a bit set. */
#define CST_ACCESS_READ 0x1u         /* GET or HEAD */
#define CST_ACCESS_WRITE 0x2u        /* any other method */
#define CST_ACCESS_EXPORT 0x4u       /* the data leaves (GET /v1/export) */
#define CST_ACCESS_SELF 0x8u         /* acts only on the caller (log out, password, sessions) */
#define CST_ACCESS_CLOSED_READ 0x10u /* a read a closed tenant keeps (its settings) */

/* What a tenant's state permits its own principals: a request is allowed when any of its
 * access bits is one its state allows; deny by default (an unknown state allows nothing). */
CST_MUST_USE cst_err cst_tenant_permits(const cst_tenant_row *t, unsigned access);

#endif
