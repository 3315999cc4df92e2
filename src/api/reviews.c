/* reviews.c: access reviews (IAM-6). A tenant's owners and admins (auditors read) review its
 * principals: GET /v1/access-review lists them with their flags and the schedule; a campaign
 * freezes them, takes keep|revoke decisions and is attested, which applies every revoke at once
 * and signs the record with the node's key. sys-security reviews the operators' own accounts
 * the same way under /v1/sys/access-review. The rules are core/review.h's and node/reviews.h's. */
#include <string.h>

#include "api/api.h"
#include "core/review.h"
#include "node/reviews.h"
#include "util/json.h"
#include "util/util.h"

/* The scope a route acts on: the caller's tenant, or the operators for /v1/sys routes. */
static const char *scope_of(const cst_request *req)
{
    return req->who.is_operator ? CST_SYS_TENANT : req->who.tenant.id;
}

cst_err cst_api_review_get(cst_node *n, cst_request *req)
{
    const char *scope = scope_of(req);
    int64_t now = cst_now_us();
    cst_review_schedule s;
    TRY(cst_review_schedule_of(n, req->work, scope, &s));
    json_t *principals = NULL;
    TRY(cst_review_principals(n, req->work, scope, now, &principals));
    return cst_resp_json(req, 200,
                         json_pack("{s:o,s:o,s:o,s:b,s:o}", "principals", principals,
                                   "last_attested_at", cst_json_time(s.last_attested_at), "due_at",
                                   cst_json_time(s.due_at), "overdue",
                                   cst_review_overdue(s.due_at, now), "open_review",
                                   s.open_id[0] ? json_string(s.open_id) : json_null()));
}

static cst_err respond(cst_node *n, cst_request *req, int status, const cst_review_row *r)
{
    json_t *o = NULL;
    TRY(cst_review_json(n, req->work, r, &o));
    return cst_resp_json(req, status, o);
}

cst_err cst_api_review_open(cst_node *n, cst_request *req)
{
    cst_review_row r;
    TRY(cst_review_open(n, req->work, scope_of(req), req->who.user.id, cst_now_us(), &r));
    cst_audit_info(req, "review_id", json_string(r.id));
    cst_audit_info(req, "snapshot_sha256", json_string(r.snapshot_sha256));
    return respond(n, req, 201, &r);
}

static cst_err load(cst_node *n, cst_request *req, cst_review_row *r)
{
    TRY(cst_review_load(n, req->work, scope_of(req), req->params[0], r));
    cst_audit_info(req, "review_id", json_string(r->id));
    return CST_OK;
}

cst_err cst_api_review_read(cst_node *n, cst_request *req)
{
    cst_review_row r;
    TRY(load(n, req, &r));
    return respond(n, req, 200, &r);
}

cst_err cst_api_review_decide(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"decisions", NULL};
    cst_review_row r;
    TRY(load(n, req, &r));
    json_t *body = NULL;
    TRY(cst_api_body(req, fields, &body));
    cst_err e = cst_review_decide(n, req->work, &r, body, req->who.user.id, cst_now_us());
    if (e == CST_OK)
        cst_audit_info(
            req, "decisions",
            json_integer((json_int_t)json_array_size(json_object_get(body, "decisions"))));
    json_decref(body);
    TRY(e);
    return respond(n, req, 200, &r);
}

/* IAM-6: closes the campaign; its revokes and its signed record commit with the request's
 * audit entry, or none of them does. */
cst_err cst_api_review_attest(cst_node *n, cst_request *req)
{
    cst_review_row r;
    TRY(load(n, req, &r));
    int revoked = 0;
    TRY(cst_review_attest(n, req->work, &r, req->who.user.id, cst_now_us(), &revoked));
    cst_audit_info(req, "snapshot_sha256", json_string(r.snapshot_sha256));
    cst_audit_info(req, "revoked", json_integer(revoked));
    return respond(n, req, 200, &r);
}
