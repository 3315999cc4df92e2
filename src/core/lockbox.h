/* lockbox.h: the domain rules of operator access to tenant data (IAM-8): access requests, their
 * state machine (one table), scopes, durations, approvals (the requester never approves, one or
 * two distinct approvers, an approval shortens but never lengthens) and break-glass. Pure: time
 * comes in as now (unix microseconds). */
#ifndef CST_CORE_LOCKBOX_H
#define CST_CORE_LOCKBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

#define CST_LOCKBOX_PENDING_US (12 * 3600LL * 1000000) /* SPEC §9: a pending request expires */
#define CST_LOCKBOX_GRANT_MAX_S (8 * 3600)             /* SPEC §9: the longest grant */
#define CST_LOCKBOX_GRANT_DEFAULT_S 3600               /* SPEC §9: when none is asked */
#define CST_LOCKBOX_BREAK_GLASS_MAX_S 3600             /* SPEC §9: the longest break-glass */
#define CST_LOCKBOX_GRANT_MIN_S 60                     /* shorter grants are not useful */
#define CST_LOCKBOX_APPROVALS_MAX 2
#define CST_LOCKBOX_PENDING_MAX 20 /* pending requests a tenant is asked to decide at once */

typedef enum cst_lockbox_state {
    CST_LOCKBOX_PENDING = 0,
    CST_LOCKBOX_APPROVED,
    CST_LOCKBOX_DENIED,
    CST_LOCKBOX_EXPIRED, /* pending for 12 h, or a window that ended without its credential used */
    CST_LOCKBOX_REVOKED,
    CST_LOCKBOX_USED_UP, /* the window ended after its credential was issued */
    CST_LOCKBOX__STATES
} cst_lockbox_state;

typedef enum cst_lockbox_event {
    CST_LOCKBOX_EV_APPROVE = 0, /* the last approval the tenant requires */
    CST_LOCKBOX_EV_DENY,
    CST_LOCKBOX_EV_REVOKE,
    CST_LOCKBOX_EV_EXPIRE,  /* the clock: pending 12 h, or the window ended unused */
    CST_LOCKBOX_EV_USED_UP, /* the clock: the window ended after use */
    CST_LOCKBOX__EVENTS
} cst_lockbox_event;

/* The state named name (CST_LOCKBOX__STATES when none) and the name of a state. */
cst_lockbox_state cst_lockbox_state_parse(const char *name);
const char *cst_lockbox_state_name(cst_lockbox_state s);
/* The transition table: the state event moves from to, or CST_LOCKBOX__STATES when the event is
 * not allowed there. */
cst_lockbox_state cst_lockbox_next(cst_lockbox_state from, cst_lockbox_event ev);
/* Applies ev to a's state by the table; CST_ERR_CONFLICT naming the state when refused. */
CST_MUST_USE cst_err cst_lockbox_apply(cst_access_row *a, cst_lockbox_event ev);

/* The state of a at now: a pending request past its 12 h, or an approved one past its window,
 * has moved on by the clock (expired, or used_up once its credential was issued), whatever the
 * stored state still says. Returns true when it moved (a is updated). */
bool cst_lockbox_tick(cst_access_row *a, int64_t now);
/* IAM-8: does a grant in a open a credential at now: approved and inside its window. */
bool cst_lockbox_open(const cst_access_row *a, int64_t now);

/* IAM-8: what a grant credential's checks and audit entries need of its grant (the credential
 * cache keeps this, not the whole row). */
typedef struct cst_grant {
    char id[CST_ID_MAX];
    char state[16];
    uint32_t perms;
    int64_t window_from, window_until;
    bool break_glass;
    char justification[CST_ACCESS_TEXT];
} cst_grant;
/* The grant view of a (its buckets go to the holder's user row: core/authn.c). */
void cst_lockbox_grant_of(const cst_access_row *a, cst_grant *out);
/* cst_lockbox_open of the grant g. */
bool cst_lockbox_grant_open(const cst_grant *g, int64_t now);

/* IAM-8: the scope {permissions: [...], buckets: [...] | "*"}: permissions non-empty and within
 * the read rights (tenant.read, records.read, audit.read) plus records.write and buckets.admin
 * when named; never users.admin, tenant.admin (users, tokens, settings) or any operator right.
 * Fills a->perms and a->buckets (JSON text). */
CST_MUST_USE cst_err cst_lockbox_scope_parse(const json_t *scope, cst_access_row *a);
/* The scope as {permissions, buckets} (a new reference). */
json_t *cst_lockbox_scope_json(const cst_access_row *a);

/* A new pending request from the operator's body {tenant, reason, justification, ticket?,
 * scope, duration_seconds?} by requester (the operator's user id and username), tenant_id the
 * resolved tenant: expires 12 h after now. CST_ERR_INVALID naming the field at fault. */
CST_MUST_USE cst_err cst_lockbox_request_new(const json_t *body, const char *tenant_id,
                                             const char *requester_id, const char *requester_name,
                                             int64_t now, cst_access_row *out);
/* A break-glass grant from {tenant, justification, scope, duration_seconds?} (at most 1 h,
 * default 1 h): approved at once, its window open from now, review_pending. */
CST_MUST_USE cst_err cst_lockbox_break_glass_new(const json_t *body, const char *tenant_id,
                                                 const char *requester_id,
                                                 const char *requester_name, int64_t now,
                                                 cst_access_row *out);

/* IAM-8: whether an operator (id, username) and a tenant user (id, username) are the same
 * person: the same principal id, or the same username once normalised (case folded, surrounding
 * spaces dropped, and for an email address a "+tag" of its local part dropped). */
bool cst_lockbox_same_person(const char *op_id, const char *op_name, const char *user_id,
                             const char *user_name);

/* The approver as the rules see them. */
typedef struct cst_lockbox_approver {
    const char *id, *username;
    const char *comment;
    int64_t duration_seconds; /* 0: keep the requested duration */
} cst_lockbox_approver;

/* IAM-8: an approval of a at now by approver, under the tenant's required approvals (1 or 2):
 * refused when a is not pending (CST_ERR_CONFLICT), when the approver is the requester
 * (CST_ERR_FORBIDDEN), has approved already or is the same person as an earlier approver
 * (CST_ERR_CONFLICT), or asks a longer duration than requested (CST_ERR_INVALID). The approval
 * joins a's approvals and may shorten its duration; the last required one approves a and
 * opens its window from now. */
CST_MUST_USE cst_err cst_lockbox_approve(cst_access_row *a, const cst_lockbox_approver *who,
                                         int required, int64_t now);
/* A denial (pending only) or a revocation (approved only) by a tenant user, with comment. */
CST_MUST_USE cst_err cst_lockbox_deny(cst_access_row *a, const char *by, const char *comment,
                                      int64_t now);
CST_MUST_USE cst_err cst_lockbox_revoke(cst_access_row *a, const char *by, int64_t now);
/* IAM-8: the credential of a grant is issued once, while its window is open. */
CST_MUST_USE cst_err cst_lockbox_token_check(const cst_access_row *a, int64_t now);
/* IAM-8: the post-hoc review of a break-glass grant by a sys-security operator (id, username)
 * other than the one who used it, nor the same person by cst_lockbox_same_person (a second
 * account) (CST_ERR_FORBIDDEN), once (CST_ERR_CONFLICT). */
CST_MUST_USE cst_err cst_lockbox_review(cst_access_row *a, const char *reviewer_id,
                                        const char *reviewer_name, const char *comment,
                                        int64_t now);

/* The tenant setting lockbox_approvals (settings JSON text): 1 (absent) or 2. */
int cst_lockbox_approvals_required(const char *settings_json);
/* Checks a settings change's lockbox_approvals (1 or 2). */
CST_MUST_USE cst_err cst_lockbox_settings_check(const json_t *change);

/* The access request as SPEC §11 shows it (a new reference), at now. */
json_t *cst_lockbox_json(const cst_access_row *a);

#endif
