/* lockbox.c: operator access to tenant data only with the tenant's approval (IAM-8). Operators
 * (sys-support, sys-admin) request time-boxed access to a tenant; the tenant's owners and admins
 * approve, deny or revoke it; once approved, the requester obtains one credential bound to the
 * tenant, the scope and the window, which works on the ordinary tenant routes. Break-glass
 * (sys-admin, a fresh TOTP code) opens access at once, an incident and a critical alert, and
 * waits for another security operator's review. The rules are core/lockbox.h's. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/incident.h"
#include "core/lockbox.h"
#include "core/tenant_state.h"
#include "crypto/secrets.h"
#include "node/alerts.h"
#include "node/webhook.h"
#include "util/json.h"
#include "util/util.h"

/* ---- shared ---- */

/* The access request {id} (the route's first parameter), its state ticked to now; a tenant
 * (tenant_id not NULL) sees only its own. */
static cst_err load(cst_node *n, cst_request *req, const char *tenant_id, int64_t now,
                    cst_access_row *a)
{
    const char *id = req->params[0];
    ENSURE(cst_id_valid(id, "ar"), CST_ERR_NOT_FOUND, "no such access request");
    cst_err e = cst_store_access_get(n->store, req->work, id, a);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_NOT_FOUND, "no such access request");
    TRY(e);
    ENSURE(!tenant_id || strcmp(a->tenant_id, tenant_id) == 0, CST_ERR_NOT_FOUND,
           "no such access request");
    cst_lockbox_tick(a, now);
    cst_audit_info(req, "access_request_id", json_string(a->id));
    return CST_OK;
}

/* Tells the tenant (its alert_webhook_url) at once, in the request's unit of work. */
static cst_err tell(cst_node *n, cst_request *req, const cst_access_row *a, const char *event,
                    bool to_node, int64_t now)
{
    return cst_webhook_event(n, req->work, a->tenant_id, to_node, a->id, event, cst_lockbox_json(a),
                             now);
}

static cst_err respond(cst_request *req, int status, const cst_access_row *a)
{
    json_t *o = cst_lockbox_json(a);
    ENSURE(o != NULL, CST_ERR_INTERNAL, "out of memory");
    return cst_resp_json(req, status, o);
}

/* A decision on a: stored (a change to principals: a grant's credential is checked against it
 * from the next request on), the tenant told of event, a answered. */
static cst_err decided(cst_node *n, cst_request *req, const cst_access_row *a, const char *event,
                       int64_t now)
{
    TRY(cst_store_access_put(n->store, req->work, a));
    cst_audit_info(req, "state", json_string(a->state));
    TRY(tell(n, req, a, event, false, now));
    return respond(req, 200, a);
}

struct listing {
    json_t *items;
    int64_t now;
};

static cst_err list_one(const cst_access_row *row, void *p)
{
    struct listing *l = p;
    cst_access_row a = *row;
    cst_lockbox_tick(&a, l->now);
    json_array_append_new(l->items, cst_lockbox_json(&a));
    return CST_OK;
}

static cst_err list(cst_node *n, cst_request *req, const char *tenant_id)
{
    struct listing l = {json_array(), cst_now_us()};
    cst_err e = cst_store_access_list(n->store, req->work, tenant_id, list_one, &l);
    if (e != CST_OK) {
        json_decref(l.items);
        return e;
    }
    return cst_resp_json(req, 200, json_pack("{s:o,s:n}", "access_requests", l.items, "next"));
}

/* The tenant a request names (id or name), which must exist. */
static cst_err tenant_of(cst_node *n, cst_request *req, const json_t *body, cst_tenant_row *t)
{
    const char *name = NULL;
    TRY(cst_json_str(body, "tenant", true, &name));
    cst_err e = cst_id_valid(name, "tn") ? cst_store_tenant_get(n->store, req->work, name, t)
                                         : cst_store_tenant_by_name(n->store, req->work, name, t);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_INVALID, "field \"tenant\" names no tenant");
    TRY(e);
    /* IAM-8: an erased tenant (or one being erased) has no data to open access to */
    ENSURE(!cst_tenant_erasing(t), CST_ERR_CONFLICT, "tenant %s is %s: there is nothing to access",
           t->id, t->state);
    cst_audit_info(req, "tenant", json_string(t->id));
    return CST_OK;
}

/* IAM-8: the grant's one credential: a token of the operator bound to the grant's tenant,
 * scope (its permissions) and window (its expiry), stored hashed like any token. */
static cst_err issue(cst_node *n, cst_request *req, cst_access_row *a, int64_t now,
                     char token[CST_TOKEN_LEN + 1])
{
    cst_token_row tok = {
        .session = false, .perms = a->perms, .created_at = now, .expires_at = a->window_until};
    TRY(cst_token_generate(token, tok.id, tok.hash));
    TRY(cst_copy(tok.tenant_id, sizeof(tok.tenant_id), a->tenant_id));
    TRY(cst_copy(tok.user_id, sizeof(tok.user_id), req->who.user.id));
    TRY(cst_copy(tok.grant_id, sizeof(tok.grant_id), a->id));
    TRY(cst_fmt(tok.name, sizeof(tok.name), "lockbox grant %s", a->id));
    TRY(cst_store_token_create(n->store, req->work, &tok));
    TRY(cst_copy(a->token_id, sizeof(a->token_id), tok.id));
    return cst_store_access_put(n->store, req->work, a);
}

/* A decision's JSON body (fields allowed) and its required comment. */
static cst_err decision_body(cst_request *req, const char *const *fields, json_t **body,
                             const char **comment)
{
    TRY(cst_api_body(req, fields, body));
    cst_err e = cst_json_str(*body, "comment", true, comment);
    if (e != CST_OK) {
        json_decref(*body);
        *body = NULL;
    }
    return e;
}

/* ---- operators ---- */

struct pending {
    int64_t now;
    int count;
};

static cst_err count_pending(const cst_access_row *row, void *p)
{
    struct pending *c = p;
    cst_access_row a = *row;
    cst_lockbox_tick(&a, c->now);
    c->count += cst_lockbox_state_parse(a.state) == CST_LOCKBOX_PENDING;
    return CST_OK;
}

/* IAM-8: a tenant is asked to decide at most CST_LOCKBOX_PENDING_MAX requests at once (each
 * also tells its webhook): operators cannot flood its owners into approving by fatigue. */
static cst_err pending_room(cst_node *n, cst_request *req, const char *tenant_id, int64_t now)
{
    struct pending c = {now, 0};
    TRY(cst_store_access_list(n->store, req->work, tenant_id, count_pending, &c));
    ENSURE(c.count < CST_LOCKBOX_PENDING_MAX, CST_ERR_CONFLICT,
           "the tenant has %d pending access requests to decide already (at most %d)", c.count,
           CST_LOCKBOX_PENDING_MAX);
    return CST_OK;
}

cst_err cst_api_sys_access_create(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {
        "tenant", "reason", "justification", "ticket", "scope", "duration_seconds", NULL};
    json_t *body = NULL;
    TRY(cst_api_body(req, fields, &body));
    int64_t now = cst_now_us();
    cst_tenant_row t;
    cst_access_row a;
    cst_err e = tenant_of(n, req, body, &t);
    if (e == CST_OK)
        e = pending_room(n, req, t.id, now);
    if (e == CST_OK)
        e = cst_lockbox_request_new(body, t.id, req->who.user.id, req->who.user.username, now, &a);
    json_decref(body);
    TRY(e);
    TRY(cst_store_access_put(n->store, req->work, &a));
    cst_audit_info(req, "access_request_id", json_string(a.id));
    cst_audit_info(req, "reason", json_string(a.reason));
    TRY(tell(n, req, &a, "access_request.created", false, now));
    return respond(req, 201, &a);
}

cst_err cst_api_sys_access_list(cst_node *n, cst_request *req)
{
    char tenant[CST_ID_MAX];
    bool present;
    TRY(cst_req_query(req, "tenant", tenant, sizeof(tenant), &present));
    ENSURE(!present || cst_id_valid(tenant, "tn"), CST_ERR_INVALID, "tenant must be a tenant id");
    return list(n, req, present ? tenant : NULL);
}

cst_err cst_api_sys_access_get(cst_node *n, cst_request *req)
{
    cst_access_row a;
    TRY(load(n, req, NULL, cst_now_us(), &a));
    return respond(req, 200, &a);
}

cst_err cst_api_sys_access_token(cst_node *n, cst_request *req)
{
    int64_t now = cst_now_us();
    cst_access_row a;
    TRY(load(n, req, NULL, now, &a));
    ENSURE(strcmp(a.requester, req->who.user.id) == 0, CST_ERR_FORBIDDEN,
           "only the operator who requested the access obtains its credential");
    TRY(cst_lockbox_token_check(&a, now));
    char token[CST_TOKEN_LEN + 1];
    cst_err e = issue(n, req, &a, now, token);
    json_t *o = e == CST_OK ? json_pack("{s:s,s:o}", "token", token, "expires_at",
                                        cst_json_time(a.window_until))
                            : NULL;
    sodium_memzero(token, sizeof(token));
    TRY(e);
    ENSURE(o != NULL, CST_ERR_INTERNAL, "out of memory");
    return cst_resp_json(req, 201, o);
}

cst_err cst_api_sys_access_review(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"comment", NULL};
    int64_t now = cst_now_us();
    cst_access_row a;
    TRY(load(n, req, NULL, now, &a));
    json_t *body = NULL;
    const char *comment = NULL;
    TRY(decision_body(req, fields, &body, &comment));
    cst_err e = cst_lockbox_review(&a, req->who.user.id, req->who.user.username, comment, now);
    json_decref(body);
    TRY(e);
    return decided(n, req, &a, "access_request.reviewed", now);
}

/* ---- break-glass ---- */

/* What the critical alert needs once the break-glass has committed. */
typedef struct glass_alert {
    cst_node *n;
    char tenant[CST_ID_MAX], principal[CST_ID_MAX], incident[CST_ID_MAX], grant[CST_ID_MAX];
    char source_ip[64];
} glass_alert;

/* IAM-8: the critical alert (committed on its own, so after the request's transaction). */
static void glass_alert_raise(void *ctx, bool committed)
{
    glass_alert *g = ctx;
    if (committed) {
        char summary[160];
        (void)snprintf(summary, sizeof(summary), "break-glass access %s to tenant %s", g->grant,
                       g->tenant);
        cst_alert_event ev = {.type = "break_glass",
                              .severity = "critical",
                              .dedup_key = g->grant,
                              .tenant = g->tenant,
                              .principal = g->principal,
                              .source_ip = g->source_ip,
                              .summary = summary};
        cst_alert_row row;
        cst_err e = cst_alert_raise(g->n, &ev, cst_now_us(), &row);
        if (e == CST_OK) {
            memcpy(row.incident_id, g->incident, sizeof(row.incident_id));
            e = cst_store_alert_put(g->n->store, NULL, &row);
        }
        if (e != CST_OK) {
            cst_error("lockbox: the break_glass alert of %s could not be raised", g->grant);
            cst_err_clear();
        }
    }
    free(g);
}

/* The incident a break-glass opens, with its first timeline entry. */
static cst_err glass_incident(cst_node *n, cst_request *req, const cst_access_row *a, int64_t now,
                              cst_incident_row *i)
{
    json_t *b = json_pack("{s:s,s:s,s:s,s:[s]}", "title", "Break-glass access to a tenant",
                          "severity", "high", "summary", a->justification, "tenants", a->tenant_id);
    ENSURE(b != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_incident_new(b, req->who.user.id, now, i);
    json_decref(b);
    TRY(e);
    TRY(cst_store_incident_put(n->store, req->work, i));
    cst_timeline_row t = {.at = now};
    TRY(cst_copy(t.incident_id, sizeof(t.incident_id), i->id));
    TRY(cst_copy(t.actor, sizeof(t.actor), req->who.user.id));
    TRY(cst_fmt(t.entry, sizeof(t.entry), "break-glass access %s opened to tenant %s for %lld s",
                a->id, a->tenant_id, (long long)a->duration_seconds));
    int64_t seq = 0;
    return cst_store_timeline_add(n->store, req->work, &t, &seq);
}

static cst_err glass_hook(cst_node *n, cst_request *req, const cst_access_row *a)
{
    glass_alert *g = calloc(1, sizeof(*g));
    ENSURE(g != NULL, CST_ERR_INTERNAL, "out of memory");
    g->n = n;
    memcpy(g->tenant, a->tenant_id, sizeof(g->tenant));
    memcpy(g->principal, req->who.user.id, sizeof(g->principal));
    memcpy(g->incident, a->incident_id, sizeof(g->incident));
    memcpy(g->grant, a->id, sizeof(g->grant));
    (void)snprintf(g->source_ip, sizeof(g->source_ip), "%s", req->client_ip);
    return cst_work_on_end(req->work, glass_alert_raise, g);
}

cst_err cst_api_sys_break_glass(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"tenant", "justification",    "scope",
                                         "totp",   "duration_seconds", NULL};
    json_t *body = NULL;
    TRY(cst_api_body(req, fields, &body));
    int64_t now = cst_now_us();
    const char *code = NULL;
    cst_tenant_row t;
    cst_access_row a;
    cst_err e = tenant_of(n, req, body, &t);
    if (e == CST_OK)
        e = cst_lockbox_break_glass_new(body, t.id, req->who.user.id, req->who.user.username, now,
                                        &a);
    if (e == CST_OK)
        e = cst_json_str(body, "totp", true, &code);
    /* a fresh second factor, before anything is written (IAM-3: each code once); a malformed
     * request does not use one up; a wrong code counts towards the lock (IAM-2) */
    if (e == CST_OK && (e = cst_api_step_up(n, req, &req->who.user, code)) != CST_OK &&
        e != CST_ERR_LOCKED)
        e = cst_fail(CST_ERR_FORBIDDEN, "break-glass needs a fresh two-factor code (totp)");
    json_decref(body);
    TRY(e);
    cst_incident_row inc;
    TRY(glass_incident(n, req, &a, now, &inc));
    memcpy(a.incident_id, inc.id, sizeof(a.incident_id));
    char token[CST_TOKEN_LEN + 1];
    e = issue(n, req, &a, now, token);
    if (e == CST_OK)
        e = glass_hook(n, req, &a);
    if (e == CST_OK)
        e = tell(n, req, &a, "access_request.break_glass", true, now);
    json_t *o = e == CST_OK ? cst_lockbox_json(&a) : NULL;
    if (o)
        json_object_set_new(o, "token", json_string(token));
    sodium_memzero(token, sizeof(token));
    TRY(e);
    ENSURE(o != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_audit_info(req, "access_request_id", json_string(a.id));
    cst_audit_info(req, "incident_id", json_string(inc.id));
    return cst_resp_json(req, 201, o);
}

/* ---- the tenant ---- */

cst_err cst_api_access_list(cst_node *n, cst_request *req)
{
    return list(n, req, req->who.tenant.id);
}

cst_err cst_api_access_get(cst_node *n, cst_request *req)
{
    cst_access_row a;
    TRY(load(n, req, req->who.tenant.id, cst_now_us(), &a));
    return respond(req, 200, &a);
}

cst_err cst_api_access_approve(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"duration_seconds", "comment", NULL};
    int64_t now = cst_now_us();
    cst_access_row a;
    TRY(load(n, req, req->who.tenant.id, now, &a));
    json_t *body;
    const char *comment;
    TRY(decision_body(req, fields, &body, &comment));
    int64_t d = 0;
    bool present;
    cst_err e = cst_json_int(body, "duration_seconds", false, &d, &present);
    cst_lockbox_approver who = {req->who.user.id, req->who.user.username, comment, d};
    if (e == CST_OK && present && d == 0)
        e = cst_fail(CST_ERR_INVALID, "field \"duration_seconds\" must be positive");
    if (e == CST_OK)
        e = cst_lockbox_approve(&a, &who, cst_lockbox_approvals_required(req->who.tenant.settings),
                                now);
    json_decref(body);
    TRY(e);
    return decided(n, req, &a, "access_request.approved", now);
}

cst_err cst_api_access_deny(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"comment", NULL};
    int64_t now = cst_now_us();
    cst_access_row a;
    TRY(load(n, req, req->who.tenant.id, now, &a));
    json_t *body;
    const char *comment;
    TRY(decision_body(req, fields, &body, &comment));
    cst_err e = cst_lockbox_deny(&a, req->who.user.id, comment, now);
    json_decref(body);
    TRY(e);
    return decided(n, req, &a, "access_request.denied", now);
}

cst_err cst_api_access_revoke(cst_node *n, cst_request *req)
{
    int64_t now = cst_now_us();
    cst_access_row a;
    TRY(load(n, req, req->who.tenant.id, now, &a));
    /* IAM-8: the grant's row changes, which moves the principals generation: its credential
     * is refused from the very next request, cache or not */
    TRY(cst_lockbox_revoke(&a, req->who.user.id, now));
    return decided(n, req, &a, "access_request.revoked", now);
}
