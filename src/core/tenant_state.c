/* tenant_state.c: tenant states, events and plans by name, and what each state permits. */
#include "core/tenant_state.h"

#include <string.h>

/* ---- names ---- */

/* In the order of the enums (lifecycle.h); the stored rows hold these names. */
static const char *const state_names[] = {"active",     "suspended",     "closed",
                                          "terminated", "pending_erase", "erased"};
static const char *const event_names[] = {
    "", "trial_ended", "cancelled", "payment_failed", "payment_recovered", "terminated"};
static const char *const plan_names[] = {"trial", "free", "paid"};
#define NAMES(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(NAMES(state_names) == CST_STATE__COUNT, "a name for every state");
_Static_assert(NAMES(event_names) == CST_EVENT__COUNT, "a name for every event");
_Static_assert(NAMES(plan_names) == CST_PLAN__COUNT, "a name for every plan");

static const char *name_of(const char *const *names, size_t n, size_t i)
{
    return i < n ? names[i] : "unknown";
}

static size_t parse_in(const char *const *names, size_t n, const char *name)
{
    size_t i = 0;
    while (i < n && (!name || strcmp(names[i], name) != 0))
        i++;
    return i;
}

const char *cst_tenant_state_name(cst_tenant_state s)
{
    return name_of(state_names, CST_STATE__COUNT, (size_t)s);
}

cst_tenant_state cst_tenant_state_parse(const char *name)
{
    return (cst_tenant_state)parse_in(state_names, CST_STATE__COUNT, name);
}

bool cst_tenant_erasing(const cst_tenant_row *t)
{
    cst_tenant_state s = cst_tenant_state_parse(t->state);
    return s == CST_STATE_PENDING_ERASE || s == CST_STATE_ERASED;
}

const char *cst_tenant_event_name(cst_tenant_event e)
{
    return name_of(event_names, CST_EVENT__COUNT, (size_t)e);
}

cst_tenant_event cst_tenant_event_parse(const char *name)
{
    return (cst_tenant_event)parse_in(event_names, CST_EVENT__COUNT, name);
}

const char *cst_tenant_plan_name(cst_tenant_plan p)
{
    return name_of(plan_names, CST_PLAN__COUNT, (size_t)p);
}

cst_tenant_plan cst_tenant_plan_parse(const char *name)
{
    return (cst_tenant_plan)parse_in(plan_names, CST_PLAN__COUNT, name);
}

/* ---- access by state (RET-2, RET-3) ---- */

static const struct permit {
    unsigned allows;     /* CST_ACCESS_* */
    const char *refused; /* after "the tenant is <state>: " */
} permits[CST_STATE__COUNT] = {
    [CST_STATE_ACTIVE] = {CST_ACCESS_READ | CST_ACCESS_WRITE | CST_ACCESS_EXPORT | CST_ACCESS_SELF |
                              CST_ACCESS_CLOSED_READ,
                          ""},
    [CST_STATE_SUSPENDED] = {CST_ACCESS_READ | CST_ACCESS_EXPORT | CST_ACCESS_SELF,
                             "only reads and export are allowed"},
    [CST_STATE_TERMINATED] = {CST_ACCESS_READ | CST_ACCESS_EXPORT | CST_ACCESS_SELF,
                              "only reads and export are allowed"},
    [CST_STATE_CLOSED] = {CST_ACCESS_EXPORT | CST_ACCESS_SELF | CST_ACCESS_CLOSED_READ,
                          "only export is allowed until its data is erased"},
    [CST_STATE_PENDING_ERASE] = {0, "it has no access"},
    [CST_STATE_ERASED] = {0, "it has no access"},
};

cst_err cst_tenant_permits(const cst_tenant_row *t, unsigned access)
{
    cst_tenant_state s = cst_tenant_state_parse(t->state);
    const struct permit *p = s < CST_STATE__COUNT ? &permits[s] : NULL;
    ENSURE(p && (p->allows & access) != 0, CST_ERR_FORBIDDEN, "the tenant is %s: %s", t->state,
           p ? p->refused : "it has no access");
    return CST_OK;
}
