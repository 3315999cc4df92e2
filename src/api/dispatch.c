/* dispatch.c: from request headers to a handler: route, limits, content type, authentication
 * and authorization, all decided before any body byte is read. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/authn.h"
#include "core/authz.h"
#include "http/router.h"
#include "core/tenant_state.h"
#include "store/store.h"
#include "util/combine.h"
#include "util/util.h"

#include <jansson.h>

/* A POST route that takes no body still accepts the empty JSON object many HTTP clients send
 * ("{}", with JSON whitespace around it): at most this many bytes, checked by empty_body. */
#define EMPTY_OBJECT_MAX 64

static size_t body_limit(const cst_node *n, const cst_route *r)
{
    switch (r->body) {
    case CST_BODY_JSON:
        return n->cfg.max_json_bytes;
    case CST_BODY_RECORD:
        return n->cfg.max_record_bytes;
    case CST_BODY_BATCH:
        return n->cfg.max_batch_bytes;
    case CST_BODY_IMPORT:
        return n->cfg.max_import_bytes;
    case CST_BODY_NONE:
        return strcmp(r->method, "POST") == 0 ? EMPTY_OBJECT_MAX : 0;
    default:
        return 0;
    }
}

static bool json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A route without a body: nothing, or an empty JSON object and nothing else. */
static cst_err empty_body(const cst_request *req)
{
    if (req->route->body != CST_BODY_NONE || req->body.len == 0)
        return CST_OK;
    const char *p = (const char *)req->body.data, *end = p + req->body.len;
    while (p < end && json_space(*p))
        p++;
    bool ok = p < end && *p++ == '{';
    while (ok && p < end && json_space(*p))
        p++;
    ok = ok && p < end && *p++ == '}';
    while (ok && p < end && json_space(*p))
        p++;
    ENSURE(ok && p == end, CST_ERR_INVALID,
           "this route takes no body: send none, or an empty JSON object {}");
    return CST_OK;
}

static cst_err check_length(cst_request *req)
{
    const char *cl = cst_req_header(req, "Content-Length");
    if (!cl)
        return CST_OK;
    char *end = NULL;
    unsigned long long v = strtoull(cl, &end, 10);
    ENSURE(end != cl && *end == '\0' && cl[0] != '-', CST_ERR_INVALID, "malformed Content-Length");
    if (v > req->body_limit && req->route->body == CST_BODY_NONE)
        return cst_fail(CST_ERR_TOO_LARGE, "this route takes no body%s",
                        req->body_limit ? ": send none, or an empty JSON object {}" : "");
    ENSURE(v <= req->body_limit, CST_ERR_TOO_LARGE,
           "the request body has %llu bytes; this route accepts at most %zu", v, req->body_limit);
    return CST_OK;
}

static bool has_body(cst_request *req)
{
    const char *cl = cst_req_header(req, "Content-Length");
    return (cl && strcmp(cl, "0") != 0) || cst_req_header(req, "Transfer-Encoding");
}

static cst_err check_type(cst_request *req, const char *want)
{
    if (!has_body(req))
        return CST_OK;
    const char *ct = cst_req_header(req, "Content-Type");
    size_t n = strlen(want);
    ENSURE(ct && strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '),
           CST_ERR_UNSUPPORTED_MEDIA, "this route takes Content-Type: %s", want);
    return CST_OK;
}

static cst_err authenticate(cst_node *n, cst_request *req)
{
    const char *auth = cst_req_header(req, "Authorization");
    ENSURE(auth, CST_ERR_UNAUTHENTICATED, "missing Authorization: Bearer <token>");
    ENSURE(strncasecmp(auth, "Bearer ", 7) == 0, CST_ERR_UNAUTHENTICATED,
           "the Authorization header must be: Bearer <token>");
    cst_authn_policy pol = {.session_idle_seconds = n->cfg.session_idle_seconds,
                            .session_max_seconds = n->cfg.session_max_seconds,
                            .operator_ip_allowlist = &n->cfg.operator_ip_allowlist,
                            .cache = n->credcache};
    cst_err e = cst_authn_bearer(n->store, &pol, auth + 7, req->client_ip, cst_now_us(), &req->who);
    if (e == CST_ERR_UNAUTHENTICATED)
        cst_api_detect_token(n, req, auth + 7); /* DET-1: a revoked or expired one again */
    return e;
}

/* What a route is comes from its flags in the route table (CST_ROUTE_*), never from its
 * handler or pattern. */
static bool has_flag(const cst_route *r, unsigned flag)
{
    return (r->flags & flag) != 0;
}

static cst_err authorize(const cst_request *req)
{
    const cst_route *r = req->route;
    cst_authz_ask ask = {.perm = r->perm,
                         .bucket = has_flag(r, CST_ROUTE_BUCKET_SCOPED) ? req->params[0] : NULL,
                         .before_setup = has_flag(r, CST_ROUTE_BEFORE_SETUP),
                         .session_only = has_flag(r, CST_ROUTE_SESSION_ONLY)};
    return cst_authz_check(&req->who, &ask);
}

/* RET-2, RET-3: what the request does, for what the tenant's state still permits. */
static cst_err check_state(const cst_request *req)
{
    const cst_route *r = req->route;
    if (r->perm == CST_PERM_PUBLIC)
        return CST_OK;
    bool read = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    unsigned access = read ? CST_ACCESS_READ : CST_ACCESS_WRITE;
    if (has_flag(r, CST_ROUTE_EXPORT))
        access |= CST_ACCESS_EXPORT;
    if (r->perm == CST_PERM_SELF)
        access |= CST_ACCESS_SELF;
    if (read && has_flag(r, CST_ROUTE_CLOSED_READ))
        access |= CST_ACCESS_CLOSED_READ;
    return cst_authz_state(&req->who, access);
}

cst_err cst_api_on_headers(void *app, cst_request *req, const char *url)
{
    cst_node *n = app;
    /* IAM-7: every X-Forwarded-For line, joined in order, before walking from the right: a
     * client's own line must not hide the one its proxy appended. */
    char xff[2048];
    bool has_xff;
    TRY(cst_req_header_join(req, "X-Forwarded-For", xff, sizeof(xff), &has_xff));
    TRY(cst_client_ip(&n->cfg.trusted_proxies, req->source_ip, has_xff ? xff : NULL,
                      req->client_ip));
    TRY(cst_route_match(cst_api_routes, cst_api_route_count, req->method, url, &req->route,
                        req->params, req->param_len));
    /* IAM-2: a throttled address is refused before its body is read or a password checked,
     * so its attempts neither cost a hash nor count towards an account's lock */
    if (has_flag(req->route, CST_ROUTE_LOGIN_THROTTLED))
        TRY(cst_api_login_throttle(n, req));
    req->body_limit = body_limit(n, req->route);
    /* IAM-2: Argon2id runs on the bounded hashing pool, never on a request thread. */
    req->offload = has_flag(req->route, CST_ROUTE_HASHES);
    TRY(check_length(req));
    if (req->route->body == CST_BODY_JSON || req->route->body == CST_BODY_BATCH ||
        req->route->body == CST_BODY_NONE)
        TRY(check_type(req, "application/json"));
    if (req->route->body == CST_BODY_IMPORT)
        TRY(check_type(req, "application/x-ndjson"));
    if (req->route->perm == CST_PERM_PUBLIC)
        return CST_OK;
    if (has_flag(req->route, CST_ROUTE_LOOPBACK_SCRAPE) && cst_api_loopback_scrape(n, req))
        return CST_OK; /* DET-2 */
    TRY(authenticate(n, req));
    TRY(authorize(req));
    TRY(check_state(req));
    if (req->route->body == CST_BODY_IMPORT) {
        /* POR-1: an import is spooled (encrypted) to disk, not held in memory; only once the
         * caller may import at all */
        cst_spool *sp;
        TRY(cst_spool_open(n->cfg.backup_scratch_dir, req->body_limit, &sp));
        req->body_sink = cst_spool_write;
        req->body_sink_free = cst_spool_free_ctx;
        req->body_sink_ctx = sp;
    }
    return CST_OK;
}

/* LOG-1: the handler writes in the request's unit of work (req->work), whose transaction
 * commits only once the request's audit entry is durable; if the entry cannot be written the
 * work is rolled back and the client gets 503 audit_unavailable. A request that fails changes
 * nothing: whatever its handler wrote before the failure is rolled back too (files it made
 * are removed by their cst_work_on_end hooks), and only the audit entry of the refusal
 * remains.
 *
 * Requests run in batches that share one transaction, one audit flush and one commit: the
 * writes of one tenant's records (CST_ROUTE_GROUPED) that arrive while a batch is running join
 * the next one (group commit, util/combine.h); every other request is a batch of its own. In a
 * batch each request has its own unit of work, kept or rolled back alone (a 412 fails only its
 * request); a failed audit flush or commit fails every request of the batch that changed
 * something, and none of their changes persist. No answer leaves before its batch commits. */

/* One request's passage through a batch. */
typedef struct pass {
    cst_node *n;
    cst_request *req;
    cst_err e;  /* the handler's outcome (its response is already filled) */
    cst_err ae; /* its audit entry's */
    cst_err ce; /* its changes': kept and committed */
    bool wrote, kept;
    cst_audit_ticket ticket;
    char why[256]; /* the message of ae or ce */
} pass;

static void pass_fail(pass *p, cst_err *slot, cst_err e)
{
    *slot = e;
    (void)snprintf(p->why, sizeof(p->why), "%s", cst_err_message(e));
}

/* The handler in its unit of work, then its audit entry queued; the work kept only when both
 * succeeded. */
static void pass_run(pass *p, cst_txn *txn)
{
    cst_request *req = p->req;
    cst_err_clear();
    p->e = txn ? cst_work_begin(txn, &req->work)
               : cst_fail(CST_ERR_INTERNAL, "the request's transaction could not begin");
    if (p->e == CST_OK)
        p->e = empty_body(req);
    if (p->e == CST_OK)
        p->e = req->route->handler(p->n, req);
    if (p->e != CST_OK)
        cst_resp_error(req, p->e);
    cst_err ae = cst_api_audit_request(p->n, req, &p->ticket);
    if (ae != CST_OK)
        pass_fail(p, &p->ae, ae);
    p->wrote = req->work && cst_work_wrote(req->work);
    p->kept = p->e == CST_OK && p->ae == CST_OK;
    cst_err ce = req->work ? cst_work_end(req->work, p->kept) : CST_OK;
    req->work = NULL;
    if (ce != CST_OK)
        pass_fail(p, &p->ce, ce);
}

static void run_batch(void *ctx, cst_combine_item **items, size_t n)
{
    cst_node *node = ctx;
    cst_txn *txn = NULL;
    if (cst_txn_begin(&txn) != CST_OK)
        txn = NULL;
    for (size_t i = 0; i < n; i++)
        pass_run(items[i]->arg, txn);
    /* One flush carries every entry queued; a request's changes stay only if its entry is
     * durable, and the batch commits only if every entry whose changes it holds is. */
    bool flush_failed = false;
    for (size_t i = 0; i < n; i++) {
        pass *p = items[i]->arg;
        cst_err ae = p->ae == CST_OK ? cst_audit_wait(node->audit, &p->ticket) : CST_OK;
        if (ae != CST_OK) {
            pass_fail(p, &p->ae, ae);
            flush_failed = flush_failed || (p->kept && p->wrote);
        }
    }
    pass batch = {.ce = CST_OK};
    if (flush_failed) {
        cst_txn_rollback(txn);
        cst_error("audit unavailable: a batch of %zu request(s) rolled back", n);
        pass_fail(&batch, &batch.ce,
                  cst_fail(CST_ERR_UNAVAILABLE, "the audit log could not record the changes "
                                                "made with this request's; nothing was changed"));
    } else if (txn) {
        cst_err ce = cst_txn_commit(txn);
        if (ce != CST_OK)
            pass_fail(&batch, &batch.ce, ce);
    }
    for (size_t i = 0; i < n; i++) {
        pass *p = items[i]->arg;
        if (batch.ce != CST_OK && p->kept && p->wrote && p->ae == CST_OK && p->ce == CST_OK) {
            p->ce = batch.ce;
            memcpy(p->why, batch.why, sizeof(p->why));
        }
    }
}

/* After the batch, on the request's own thread: the outcome, as complete() always gave it. */
static cst_err pass_finish(pass *p)
{
    cst_request *req = p->req;
    if (p->e != CST_OK && p->wrote)
        cst_info("request %s failed (%s): its changes were rolled back", req->request_id,
                 cst_err_code(p->e));
    if (p->ae != CST_OK) {
        cst_error("audit unavailable: request %s refused%s", req->request_id,
                  p->wrote ? " and its changes rolled back" : "");
        return cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "%s", p->why);
    }
    if (p->ce != CST_OK) {
        /* The entry says what was attempted; a second one says it did not take effect. */
        cst_resp_error(req, cst_fail(p->ce, "%s", p->why));
        req->audited = false;
        req->audit_action = "request.rolled_back";
        cst_audit_info(req, "reason", json_string("the change could not be committed"));
        if (cst_api_audit_request(p->n, req, NULL) != CST_OK)
            cst_error("audit: the roll-back of request %s could not be recorded", req->request_id);
        return cst_fail(p->ce, "%s", p->why);
    }
    return CST_OK;
}

static cst_err complete(cst_node *n, cst_request *req)
{
    pass p = {.n = n, .req = req};
    cst_combine_item item = {.arg = &p};
    cst_combine_item *one = &item;
    cst_tenant_ctx *t = NULL;
    if (has_flag(req->route, CST_ROUTE_GROUPED) && cst_api_tenant(n, req, &t) == CST_OK)
        cst_combine(&t->group, &item, run_batch, n);
    else
        run_batch(n, &one, 1); /* alone (a grouped route whose tenant cannot be held fails) */
    return pass_finish(&p);
}

cst_err cst_api_on_complete(void *app, cst_request *req)
{
    cst_node *n = app;
    cst_err e = complete(n, req);
    cst_node_tenant_release(n, req->held_tenant);
    req->held_tenant = NULL;
    return e;
}

cst_err cst_api_body(cst_request *req, const char *const *allowed, json_t **out)
{
    TRY(cst_json_object(&req->body, false, out));
    cst_err e = cst_json_only(*out, allowed);
    if (e != CST_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return e;
}

cst_err cst_api_tenant(cst_node *n, cst_request *req, cst_tenant_ctx **out)
{
    ENSURE(!req->who.is_operator && req->who.tenant.id[0], CST_ERR_FORBIDDEN,
           "operators have no access to tenant data");
    if (!req->held_tenant) {
        /* RET-4: held until the request ends, so an erase waits for it */
        cst_tenant_ctx *t;
        TRY(cst_node_tenant_acquire(n, req->who.tenant.id, &t));
        req->held_tenant = t;
    }
    *out = req->held_tenant;
    return CST_OK;
}

cst_err cst_api_query_limit(cst_request *req, int *limit)
{
    char text[16];
    bool present;
    TRY(cst_req_query(req, "limit", text, sizeof(text), &present));
    *limit = CST_PAGE_DEFAULT;
    if (!present)
        return CST_OK;
    char *end;
    long v = strtol(text, &end, 10);
    ENSURE(*text && !*end && v >= 1 && v <= CST_PAGE_MAX, CST_ERR_INVALID,
           "limit must be an integer from 1 to %d", CST_PAGE_MAX);
    *limit = (int)v;
    return CST_OK;
}
