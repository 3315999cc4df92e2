/* reviews.h: access reviews on the node (IAM-6): a scope's live principals (a tenant's users,
 * API tokens and open operator grants, or the node's operators and their tokens), campaigns
 * that freeze them, decisions, the attestation that applies every revoke at once and is signed
 * with the node's key, and the quarterly schedule with its reminders. Time comes in as now. */
#ifndef CST_NODE_REVIEWS_H
#define CST_NODE_REVIEWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "node/node.h"
#include "store/store.h"

/* The live principals of scope (a tenant's id, or CST_SYS_TENANT for the operators) at now,
 * as GET /v1/access-review lists them (core/review.h), in a new array *out: enabled users,
 * unexpired API tokens of enabled users (login sessions are their users' use, not principals
 * of their own), and open operator grants (tenants only). */
CST_MUST_USE cst_err cst_review_principals(cst_node *n, cst_work *w, const char *scope, int64_t now,
                                           json_t **out);

/* Where a scope's reviews stand: the last attestation (0: none), the next due date (a quarter,
 * reviews.period_days, after it or after the scope began: the tenant's creation, the first
 * operator's) and the open campaign ("" none). */
typedef struct cst_review_schedule {
    int64_t last_attested_at, due_at;
    char open_id[CST_ID_MAX];
} cst_review_schedule;
CST_MUST_USE cst_err cst_review_schedule_of(cst_node *n, cst_work *w, const char *scope,
                                            cst_review_schedule *out);

/* Opens a campaign of scope by principal by at now, freezing the snapshot of its principals;
 * CST_ERR_CONFLICT while another is open. */
CST_MUST_USE cst_err cst_review_open(cst_node *n, cst_work *w, const char *scope, const char *by,
                                     int64_t now, cst_review_row *out);
/* The campaign id of scope (CST_ERR_NOT_FOUND for another scope's: as if it were not there). */
CST_MUST_USE cst_err cst_review_load(cst_node *n, cst_work *w, const char *scope, const char *id,
                                     cst_review_row *out);
/* Records the decisions of body ({decisions: [{principal, decision, comment}]}, each principal
 * of the snapshot) by by at now; CST_ERR_CONFLICT once attested. */
CST_MUST_USE cst_err cst_review_decide(cst_node *n, cst_work *w, const cst_review_row *r,
                                       const json_t *body, const char *by, int64_t now);
/* Closes an open campaign at now in the unit of work w: every principal of the snapshot gets
 * its decision (a reviewer's, or the default of the tenant's review_no_response), every revoke
 * is applied (a user disabled and their sessions ended, a token deleted, a grant ended), and
 * the attestation {review_id, scope, snapshot_sha256, decisions, attested_by, attested_at, ...}
 * is signed with the node's key and stored. *revoked receives how many were revoked.
 * CST_ERR_CONFLICT when attested already, or when a revoke would leave the tenant without an
 * enabled owner (the node without an enabled sys-admin). */
CST_MUST_USE cst_err cst_review_attest(cst_node *n, cst_work *w, cst_review_row *r, const char *by,
                                       int64_t now, int *revoked);
/* The campaign as the API shows it (SPEC §11), with its snapshot and, once attested, the
 * signed attestation document (an object; its canonical JSON is what was signed). */
CST_MUST_USE cst_err cst_review_json(cst_node *n, cst_work *w, const cst_review_row *r,
                                     json_t **out);

/* Called once per scope (each tenant that is not erased, then CST_SYS_TENANT) with its due
 * date, whether it is to be reminded of (from 14 days before) and whether it is overdue at now.
 * An error stops the pass and is returned. */
typedef cst_err (*cst_review_due_fn)(const char *scope, int64_t due_at, bool remind, bool overdue,
                                     void *ctx);
CST_MUST_USE cst_err cst_review_each_due(cst_node *n, cst_work *w, int64_t now,
                                         cst_review_due_fn fn, void *ctx);
/* Reminds the scope of its review due at due_at (webhook event "access_review.due": the
 * tenant's webhook, or the node's for the operators' review), at most once a day per scope. */
CST_MUST_USE cst_err cst_review_remind_scope(cst_node *n, const char *scope, int64_t due_at,
                                             int64_t now);

#endif
