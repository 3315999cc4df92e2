/* review.h: the domain rules of access reviews (IAM-6): which principals a review lists and the
 * flags each gets, a campaign's states, reviewers' decisions, what happens to a principal left
 * without a decision, the snapshot's hash and when the next review is due. Pure: time comes in
 * as now. */
#ifndef CST_CORE_REVIEW_H
#define CST_CORE_REVIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

#define CST_REVIEW_DAY_US (86400LL * 1000000)
#define CST_REVIEW_STALE_DAYS 90  /* reviews.stale_days unless configured */
#define CST_REVIEW_PERIOD_DAYS 91 /* reviews.period_days: a quarter */
#define CST_REVIEW_REMIND_DAYS 14 /* the tenant is reminded from this long before the due date */
#define CST_REVIEW_DECISIONS_MAX 1000 /* decisions in one call */
#define CST_REVIEW_COMMENT_MAX 511

/* What kind of principal: a user account, an API token, an open operator grant (lockbox). */
typedef enum cst_review_kind {
    CST_REVIEW_USER,
    CST_REVIEW_TOKEN,
    CST_REVIEW_GRANT,
    CST_REVIEW__KINDS
} cst_review_kind;

/* A principal as a review sees it (strings borrowed from the caller's rows). */
typedef struct cst_review_subject {
    cst_review_kind kind;
    const char *id, *name;
    const char *user_id; /* a token's user ("" or NULL for others) */
    uint32_t roles;      /* a user's roles; a token's user's */
    uint32_t perms;      /* the permissions it holds now (a token: within its user's roles) */
    const char *grants;  /* JSON array text of bucket grants ("" or NULL: none) */
    int mfa;             /* 1 a confirmed second factor, 0 none, -1 not applicable (tokens) */
    int64_t created_at, last_used_at; /* last_used_at 0: never */
} cst_review_subject;

/* The flags (SPEC §11), as bits in this order: stale (unused stale_days, counted from its
 * creation when never used), no_mfa (a user without a confirmed second factor), never_used,
 * privileged (an owner, admin or sys-admin; a token holding users.admin or sys.operators). */
#define CST_REVIEW_FLAG_STALE 1u
#define CST_REVIEW_FLAG_NO_MFA 2u
#define CST_REVIEW_FLAG_NEVER_USED 4u
#define CST_REVIEW_FLAG_PRIVILEGED 8u
unsigned cst_review_flags(const cst_review_subject *s, int stale_days, int64_t now);
/* The principal as GET /v1/access-review lists it: {id, kind, name, user_id, roles,
 * permissions, grants, mfa, created_at, last_used_at, flags}. */
json_t *cst_review_principal_json(const cst_review_subject *s, unsigned flags);

/* The campaign's states and their one move: open -> attested (attested is final). */
bool cst_review_transition_ok(const char *from, const char *to);

/* The SHA-256 (hex) of the snapshot's canonical JSON (sorted keys, compact): what the
 * attestation signs as the set of principals reviewed. */
CST_MUST_USE cst_err cst_review_snapshot_hash(const json_t *principals, char hex[65]);

/* A decisions body {decisions: [{principal, decision: keep|revoke, comment?}]}: 1 to
 * CST_REVIEW_DECISIONS_MAX entries, each principal an id of the snapshot (principals), a
 * principal at most once, comments up to CST_REVIEW_COMMENT_MAX bytes. CST_ERR_INVALID naming
 * the entry at fault. */
CST_MUST_USE cst_err cst_review_decisions_check(const json_t *body, const json_t *principals);

/* The tenant's review_no_response setting: "keep", "revoke", or NULL (not set: by privilege). */
const char *cst_review_no_response(const char *settings_json);
/* What happens at attestation to a principal of the snapshot (its JSON) that got no decision:
 * the tenant's setting when it has one, else revoke for a privileged principal, keep for others. */
const char *cst_review_default_decision(const json_t *principal, const char *no_response);
/* Checks a settings change's review_no_response: "keep", "revoke" or null (back to the default). */
CST_MUST_USE cst_err cst_review_settings_check(const json_t *change);

/* The next review's due date: period_days after the last attestation, or after since (the
 * tenant's creation) when there was none. */
int64_t cst_review_due_at(int64_t last_attested_at, int64_t since, int period_days);
/* Whether a review due at due_at is to be reminded of at now (from 14 days before it). */
bool cst_review_remind(int64_t due_at, int64_t now);
/* Whether a review due at due_at is overdue at now. */
bool cst_review_overdue(int64_t due_at, int64_t now);

#endif
