/* dispatch.c: from request headers to a handler: route, limits, content type, authentication
 * and authorization, all decided before any body byte is read. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/authz.h"
#include "crypto/secrets.h"
#include "http/router.h"
#include "lifecycle/lifecycle.h"
#include "store/store.h"
#include "util/util.h"

#include <jansson.h>

/* A session's last use is written back at most this often, so reads do not each cost a
 * durable write; the idle timeout is enforced to this granularity. */
#define TOUCH_INTERVAL_US (30 * 1000000LL)
#define ACTIVE_INTERVAL_US (3600 * 1000000LL)

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

static cst_err load_principal(cst_node *n, const cst_token_row *tok, cst_principal *who)
{
    cst_err e = cst_store_user_get(n->store, tok->user_id, &who->user);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_UNAUTHENTICATED, "invalid or expired token");
    TRY(e);
    /* IAM-5: a disabled user's credentials stop working on the very next request. */
    ENSURE(!who->user.disabled, CST_ERR_UNAUTHENTICATED, "invalid or expired token");
    who->is_operator = strcmp(who->user.tenant_id, CST_SYS_TENANT) == 0;
    if (who->is_operator) {
        TRY(cst_settings_load(n, NULL, &who->settings));
    } else {
        e = cst_store_tenant_get(n->store, who->user.tenant_id, &who->tenant);
        ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_UNAUTHENTICATED, "invalid or expired token");
        TRY(e);
        TRY(cst_settings_load(n, who->tenant.settings, &who->settings));
    }
    uint32_t perms = cst_roles_perms(who->user.roles);
    /* IAM-4: an API token holds at most its creator's current rights. */
    who->perms = tok->session ? perms : (perms & tok->perms);
    who->token = *tok;
    who->mfa_required = cst_mfa_required(&who->user, &who->settings);
    who->authenticated = true;
    return CST_OK;
}

cst_err cst_api_check_ip(const cst_node *n, const cst_request *req, bool is_operator,
                         const cst_tenant_settings *s)
{
    /* IAM-7: the tenant's allowlist for its principals, the node's for operators. */
    const cst_cidr_list *l = is_operator ? &n->cfg.operator_ip_allowlist : &s->ip_allowlist;
    if (l->n == 0 || cst_cidr_list_match(l, req->client_ip))
        return CST_OK;
    cst_warn("ip_not_allowed: %s %s from %s", is_operator ? "operator" : "tenant",
             is_operator ? "-" : req->who.tenant.id, req->client_ip);
    return cst_fail(CST_ERR_IP_NOT_ALLOWED, "requests from %s are not allowed for this %s",
                    req->client_ip, is_operator ? "operator" : "tenant");
}

static cst_err authenticate(cst_node *n, cst_request *req)
{
    const char *auth = cst_req_header(req, "Authorization");
    ENSURE(auth, CST_ERR_UNAUTHENTICATED, "missing Authorization: Bearer <token>");
    ENSURE(strncasecmp(auth, "Bearer ", 7) == 0, CST_ERR_UNAUTHENTICATED,
           "the Authorization header must be: Bearer <token>");
    char id[CST_TOKEN_ID_LEN];
    uint8_t hash[CST_HASH_LEN];
    TRY(cst_token_parse(auth + 7, id, hash));
    cst_token_row tok;
    cst_err e = cst_store_token_get(n->store, id, &tok);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_UNAUTHENTICATED, "invalid or expired token");
    TRY(e);
    ENSURE(cst_hash_equal(tok.hash, hash), CST_ERR_UNAUTHENTICATED, "invalid or expired token");
    int64_t now = cst_now_us();
    ENSURE(!tok.expires_at || now < tok.expires_at, CST_ERR_UNAUTHENTICATED,
           "invalid or expired token");
    cst_principal *who = &req->who;
    TRY(load_principal(n, &tok, who));
    TRY(cst_api_check_ip(n, req, who->is_operator, &who->settings));
    if (tok.session) {
        /* IAM-9: idle and absolute session timeouts (the tenant may shorten them). */
        ENSURE(now - tok.last_used_at < (int64_t)who->settings.session_idle_seconds * 1000000,
               CST_ERR_UNAUTHENTICATED, "the session expired after %d idle seconds",
               who->settings.session_idle_seconds);
        ENSURE(now - tok.created_at < (int64_t)who->settings.session_max_seconds * 1000000,
               CST_ERR_UNAUTHENTICATED, "the session reached its maximum age");
    }
    /* RET-2: a free plan's inactivity clock; written at most hourly, failures ignored. */
    if (!who->is_operator && now - who->tenant.last_active_at >= ACTIVE_INTERVAL_US &&
        cst_store_tenant_touch(n->store, who->tenant.id, now) != CST_OK)
        cst_err_clear();
    /* A failed touch (disk full) must not refuse reads: a stale last_used_at only makes the
     * session expire sooner, which is the safe direction. */
    if (now - tok.last_used_at >= TOUCH_INTERVAL_US &&
        cst_store_token_touch(n->store, tok.id, now) != CST_OK) {
        cst_warn("could not record the last use of session %s", tok.id);
        cst_err_clear();
    }
    return CST_OK;
}

static bool is_sys_perm(cst_perm p)
{
    return p == CST_PERM_SYS_TENANTS || p == CST_PERM_SYS_OPERATORS || p == CST_PERM_SYS_SECURITY ||
           p == CST_PERM_SYS_BACKUPS;
}

/* What a route is comes from its flags in the route table (CST_ROUTE_*), never from its
 * handler or pattern. */
static bool has_flag(const cst_route *r, unsigned flag)
{
    return (r->flags & flag) != 0;
}

/* IAM-4: writers and readers reach only the buckets they are granted ("*" for all). */
static cst_err check_bucket_grant(const cst_request *req)
{
    const cst_principal *who = &req->who;
    if (!has_flag(req->route, CST_ROUTE_BUCKET_SCOPED) || (who->user.roles & CST_ALL_BUCKET_ROLES))
        return CST_OK;
    json_t *grants = json_loads(who->user.grants, 0, NULL);
    bool ok = false;
    size_t i;
    json_t *g;
    json_array_foreach(grants, i, g)
    {
        const char *b = json_string_value(g);
        ok |= b && (strcmp(b, "*") == 0 || strcmp(b, req->params[0]) == 0);
    }
    json_decref(grants);
    ENSURE(ok, CST_ERR_FORBIDDEN, "no grant for bucket %s", req->params[0]);
    return CST_OK;
}

static cst_err authorize(const cst_request *req)
{
    const cst_route *r = req->route;
    const cst_principal *who = &req->who;
    if (who->token.session && !has_flag(r, CST_ROUTE_BEFORE_SETUP)) {
        /* SPEC §9: a one-time password allows nothing but changing it (and two-factor set-up). */
        ENSURE(!who->user.must_change_password, CST_ERR_PASSWORD_CHANGE_REQUIRED,
               "this account has a one-time password: change it with POST /v1/auth/password");
        /* IAM-3: who must have two-factor and has none may only enrol. */
        ENSURE(!who->mfa_required || who->user.totp_state == CST_TOTP_ACTIVE,
               CST_ERR_MFA_ENROLLMENT_REQUIRED,
               "two-factor authentication is required: enrol with POST /v1/auth/totp and "
               "confirm with POST /v1/auth/totp/confirm");
    }
    /* The rule for API tokens on the self-service (CST_PERM_SELF) routes: a token acts only
     * on itself (GET /v1/tokens shows it alone, DELETE /v1/tokens/{id} revokes it alone, see
     * tokens.c); anything beyond needs an explicit permission (tenant.admin); the routes that
     * act on the person, not on data (CST_ROUTE_SESSION_ONLY), it cannot use at all. */
    ENSURE(who->token.session || !has_flag(r, CST_ROUTE_SESSION_ONLY), CST_ERR_FORBIDDEN,
           "this route needs a login session, not an API token");
    if (r->perm == CST_PERM_SELF)
        return CST_OK;
    /* IAM-8: operators hold no tenant-data rights; tenant users no operator rights. */
    ENSURE(who->is_operator == is_sys_perm(r->perm), CST_ERR_FORBIDDEN,
           who->is_operator ? "operators have no access to tenant routes"
                            : "tenant credentials cannot use operator routes");
    ENSURE(who->perms & CST_PERM_BIT(r->perm), CST_ERR_FORBIDDEN,
           "the credential lacks the permission for this route");
    return check_bucket_grant(req);
}

/* RET-2, RET-3: what the tenant's lifecycle state still permits its principals. */
static cst_err check_state(const cst_request *req)
{
    const cst_route *r = req->route;
    if (req->who.is_operator || r->perm == CST_PERM_PUBLIC)
        return CST_OK;
    bool read = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    unsigned access = read ? CST_ACCESS_READ : CST_ACCESS_WRITE;
    if (has_flag(r, CST_ROUTE_EXPORT))
        access |= CST_ACCESS_EXPORT;
    if (r->perm == CST_PERM_SELF)
        access |= CST_ACCESS_SELF;
    if (read && has_flag(r, CST_ROUTE_CLOSED_READ))
        access |= CST_ACCESS_CLOSED_READ;
    return cst_lifecycle_permits(&req->who.tenant, access);
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

/* LOG-1: the handler's changes stay in an open transaction (the request scope) until the
 * request's audit entry is durable; if it cannot be written they are rolled back and the
 * client gets 503 audit_unavailable. A request that fails changes nothing: whatever its
 * handler wrote before the failure is rolled back too (files it made are removed by their
 * scope hooks), and only the audit entry of the refusal remains. */
static cst_err complete(cst_node *n, cst_request *req);

cst_err cst_api_on_complete(void *app, cst_request *req)
{
    cst_node *n = app;
    cst_err e = complete(n, req);
    cst_node_tenant_release(n, req->held_tenant);
    req->held_tenant = NULL;
    return e;
}

static cst_err complete(cst_node *n, cst_request *req)
{
    cst_db_scope_begin();
    cst_err e = empty_body(req);
    if (e == CST_OK)
        e = req->route->handler(n, req);
    if (e != CST_OK)
        cst_resp_error(req, e);
    cst_err ae = cst_api_audit_request(n, req);
    bool wrote = cst_db_scope_wrote();
    cst_err ce = cst_db_scope_end(ae == CST_OK && e == CST_OK);
    if (e != CST_OK && wrote)
        cst_info("request %s failed (%s): its changes were rolled back", req->request_id,
                 cst_err_code(e));
    if (ae != CST_OK) {
        cst_error("audit unavailable: request %s refused%s", req->request_id,
                  wrote ? " and its changes rolled back" : "");
        return cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "%s", cst_err_message(ae));
    }
    if (ce != CST_OK) {
        /* The entry says what was attempted; a second one says it did not take effect. */
        char why[256];
        (void)snprintf(why, sizeof(why), "%s", cst_err_message(ce));
        cst_resp_error(req, ce);
        req->audited = false;
        req->audit_action = "request.rolled_back";
        cst_audit_info(req, "reason", json_string("the change could not be committed"));
        if (cst_api_audit_request(n, req) != CST_OK)
            cst_error("audit: the roll-back of request %s could not be recorded", req->request_id);
        return cst_fail(ce, "%s", why);
    }
    return CST_OK;
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
