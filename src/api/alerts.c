/* alerts.c: the alert routes (DET-1) and the request-side feed of the detection rules: what a
 * finished request tells them (failed logins, allowlist refusals, records read) and the
 * refused or revoked credentials. */
#include <sodium.h>
#include <string.h>

#include "api/api.h"
#include "core/authz.h"
#include "crypto/secrets.h"
#include "node/alerts.h"
#include "node/detect.h"
#include "store/store.h"
#include "util/json.h"
#include "util/util.h"

/* ---- the feed ---- */

static const char *client_ip(const cst_request *req)
{
    return req->client_ip[0] ? req->client_ip : req->source_ip;
}

static bool login_failure(const cst_request *req, const char *action)
{
    static const char *const failures[] = {"auth.login.failure", "auth.lockout", "auth.mfa.failure",
                                           "auth.login.locked", NULL};
    if (req->status != 401 && req->status != 423)
        return false;
    for (const char *const *f = failures; *f; f++)
        if (strcmp(*f, action) == 0)
            return true;
    return false;
}

/* The account a failed login tried: the tenant (its id, or the name as sent when there is no
 * such tenant), a newline, the username (the same key as the login throttle's). */
static bool login_account(const cst_request *req, char *out, size_t n)
{
    const char *user = json_string_value(json_object_get(req->audit_detail, "username"));
    const char *tenant = req->audit_tenant[0]
                             ? req->audit_tenant
                             : json_string_value(json_object_get(req->audit_detail, "tenant"));
    return user && cst_fmt(out, n, "%s\n%s", tenant ? tenant : "", user) == CST_OK;
}

void cst_api_detect(cst_node *n, cst_request *req)
{
    if (!req->route || !n->cfg.detect_enabled)
        return;
    const char *action = req->audit_action ? req->audit_action : req->route->action;
    const cst_principal *who = &req->who;
    const char *principal = who->authenticated ? who->user.id : req->audit_actor;
    const char *tenant = req->audit_tenant[0]                      ? req->audit_tenant
                         : who->authenticated && !who->is_operator ? who->tenant.id
                                                                   : NULL;
    if (tenant && strcmp(tenant, CST_SYS_TENANT) == 0)
        tenant = NULL;
    int64_t now = cst_now_us();
    char account[2 * CST_LOGIN_NAME_MAX + 2];
    if (req->status == 403 && req->error == CST_ERR_IP_NOT_ALLOWED)
        cst_detect_ip_refused(n, tenant, principal, client_ip(req), now);
    else if (login_failure(req, action) && login_account(req, account, sizeof(account)))
        cst_detect_login_failed(n, account, tenant, principal[0] ? principal : NULL, client_ip(req),
                                now);
    else if (req->status == 200 && strcmp(action, "record.read") == 0)
        cst_detect_records_read(n, tenant, principal, 1, client_ip(req), now);
}

void cst_api_detect_token(cst_node *n, cst_request *req, const char *bearer)
{
    if (!n->cfg.detect_enabled)
        return;
    char id[CST_TOKEN_ID_LEN];
    uint8_t hash[CST_HASH_LEN];
    if (cst_token_parse(bearer, id, hash) != CST_OK) {
        cst_err_clear();
        return;
    }
    int64_t now = cst_now_us();
    cst_token_row t;
    bool expired = false;
    if (cst_store_token_get(n->store, NULL, id, &t) == CST_OK) {
        /* IAM-9: past its expiry, or a session idle past the node's limit */
        expired =
            sodium_memcmp(t.hash, hash, CST_HASH_LEN) == 0 &&
            ((t.expires_at && t.expires_at <= now) ||
             (t.session && now - t.last_used_at > (int64_t)n->cfg.session_idle_seconds * 1000000));
    } else {
        memset(&t, 0, sizeof(t));
        cst_err_clear();
    }
    cst_detect_token_refused(n, id, hash, expired, t.tenant_id[0] ? t.tenant_id : NULL,
                             t.user_id[0] ? t.user_id : NULL, client_ip(req), now);
}

void cst_api_token_revoked(cst_node *n, const cst_token_row *t)
{
    cst_detect_token_revoked(n, t->id, t->hash, t->expires_at, cst_now_us());
}

static cst_err remember_session(const cst_token_row *t, void *ctx)
{
    void **c = ctx;
    if (t->session && strcmp(t->id, (const char *)c[1]) != 0)
        cst_api_token_revoked(c[0], t);
    return CST_OK;
}

cst_err cst_api_sessions_revoked(cst_node *n, cst_request *req, const char *tenant_id,
                                 const char *user_id, const char *keep_id)
{
    void *ctx[2] = {n, (void *)(keep_id ? keep_id : "")};
    return cst_store_token_list(n->store, req->work, tenant_id, user_id, remember_session, ctx);
}

/* ---- the routes ---- */

static json_t *opt(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static json_t *alert_json(const cst_alert_row *a)
{
    json_t *o = cst_alert_json(a);
    if (o)
        json_object_set_new(o, "deliveries", json_array());
    return o;
}

static cst_err add_alert(const cst_alert_row *a, void *ctx)
{
    json_t *o = alert_json(a);
    ENSURE(o && json_array_append_new(ctx, o) == 0, CST_ERR_INTERNAL, "out of memory");
    return CST_OK;
}

typedef struct list_query {
    char status[16], type[32], tenant[CST_ID_MAX], after[CST_ID_MAX];
} list_query;

static cst_err query_param(cst_request *req, const char *name, char *out, size_t n)
{
    bool present;
    cst_err e = cst_req_query(req, name, out, n, &present);
    ENSURE(e == CST_OK, CST_ERR_INVALID, "%s is malformed or too long", name);
    if (!present)
        out[0] = '\0';
    return CST_OK;
}

static cst_err parse_list(cst_request *req, list_query *q, bool sys)
{
    TRY(query_param(req, "status", q->status, sizeof(q->status)));
    TRY(query_param(req, "type", q->type, sizeof(q->type)));
    TRY(query_param(req, "after", q->after, sizeof(q->after)));
    q->tenant[0] = '\0';
    if (sys)
        TRY(query_param(req, "tenant", q->tenant, sizeof(q->tenant)));
    ENSURE(!q->status[0] || cst_alert_status_valid(q->status), CST_ERR_INVALID,
           "status must be open, acknowledged or resolved");
    ENSURE(!q->type[0] || cst_alert_type_find(q->type), CST_ERR_INVALID, "unknown alert type");
    ENSURE(!q->tenant[0] || cst_id_valid(q->tenant, "tn"), CST_ERR_INVALID,
           "tenant must be a tenant id");
    ENSURE(!q->after[0] || cst_id_valid(q->after, "al"), CST_ERR_INVALID,
           "after must be an alert id");
    return CST_OK;
}

static cst_err list(cst_node *n, cst_request *req, list_query *q)
{
    int limit;
    TRY(cst_api_query_limit(req, &limit));
    cst_alert_filter f = {q->status, q->type, q->tenant, q->after, limit};
    json_t *items = json_array();
    cst_err e = cst_store_alert_list(n->store, req->work, &f, add_alert, items);
    return cst_api_page(req, e, "alerts", items, "id", limit);
}

cst_err cst_api_sys_alert_list(cst_node *n, cst_request *req)
{
    list_query q;
    TRY(parse_list(req, &q, true));
    return list(n, req, &q);
}

/* A tenant sees the alerts that concern it, and no other's. */
cst_err cst_api_alert_list(cst_node *n, cst_request *req)
{
    list_query q;
    TRY(parse_list(req, &q, false));
    TRY(cst_copy(q.tenant, sizeof(q.tenant), req->who.tenant.id));
    return list(n, req, &q);
}

static cst_err alert_get(cst_node *n, cst_request *req, cst_alert_row *a)
{
    ENSURE(cst_id_valid(req->params[0], "al"), CST_ERR_NOT_FOUND, "no such alert");
    return cst_store_alert_get(n->store, req->work, req->params[0], a);
}

static cst_err add_delivery(const cst_webhook_row *d, void *ctx)
{
    const char *to = !strncmp(d->url, "mailto:", 7) ? "email" : d->tenant[0] ? "tenant" : "node";
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:o}", "id", d->id, "destination", to, "url",
                  d->url, "status", d->status, "attempts", (json_int_t)d->attempts, "last_status",
                  d->last_status ? json_integer(d->last_status) : json_null(), "last_error",
                  opt(d->last_error), "delivered_at",
                  d->delivered_at ? cst_json_time(d->delivered_at) : json_null());
    ENSURE(o && json_array_append_new(ctx, o) == 0, CST_ERR_INTERNAL, "out of memory");
    return CST_OK;
}

cst_err cst_api_deliveries(cst_node *n, cst_work *w, const char *subject_id, json_t *o)
{
    json_t *deliveries = json_array();
    cst_err e = o && deliveries && json_object_set(o, "deliveries", deliveries) == 0
                    ? cst_store_webhook_list(n->store, w, subject_id, add_delivery, deliveries)
                    : cst_fail(CST_ERR_INTERNAL, "out of memory");
    json_decref(deliveries);
    return e;
}

/* The alert with its webhook deliveries (DET-1). */
cst_err cst_api_sys_alert_get(cst_node *n, cst_request *req)
{
    cst_alert_row a;
    TRY(alert_get(n, req, &a));
    json_t *o = cst_alert_json(&a);
    cst_err e = cst_api_deliveries(n, req->work, a.id, o);
    if (e != CST_OK) {
        json_decref(o);
        return e;
    }
    return cst_resp_json(req, 200, o);
}

static bool incident_id_valid(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len >= CST_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(s[i] == '_' || s[i] == '-' || (s[i] >= '0' && s[i] <= '9') ||
              (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    return true;
}

/* acknowledge, resolve (final), link to an incident (or unlink with null) */
static cst_err apply_patch(cst_alert_row *a, json_t *body, cst_request *req)
{
    json_t *st = json_object_get(body, "status"), *inc = json_object_get(body, "incident_id");
    ENSURE(st || inc, CST_ERR_INVALID, "send status and/or incident_id");
    if (st) {
        const char *s = json_string_value(st);
        ENSURE(s && (!strcmp(s, "acknowledged") || !strcmp(s, "resolved")), CST_ERR_INVALID,
               "status must be acknowledged or resolved");
        ENSURE(strcmp(a->status, "resolved") != 0 || !strcmp(s, "resolved"), CST_ERR_CONFLICT,
               "the alert is resolved");
        TRY(cst_copy(a->status, sizeof(a->status), s));
        cst_audit_info(req, "status", json_string(s));
    }
    if (inc) {
        const char *s = json_is_null(inc) ? "" : json_string_value(inc);
        ENSURE(s && (!s[0] || incident_id_valid(s)), CST_ERR_INVALID,
               "incident_id must be an incident id or null");
        TRY(cst_copy(a->incident_id, sizeof(a->incident_id), s));
        cst_audit_info(req, "incident_id", opt(s));
    }
    return CST_OK;
}

cst_err cst_api_sys_alert_patch(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"status", "incident_id", NULL};
    cst_alert_row a;
    json_t *body = NULL;
    TRY(alert_get(n, req, &a));
    TRY(cst_api_body(req, fields, &body));
    cst_err e = apply_patch(&a, body, req);
    json_decref(body);
    TRY(e);
    cst_audit_info(req, "type", json_string(a.type));
    if (a.tenant[0]) /* LOG-4: the tenant's trail shows what was done with its alert */
        TRY(cst_copy(req->audit_tenant, sizeof(req->audit_tenant), a.tenant));
    TRY(cst_store_alert_put(n->store, req->work, &a));
    return cst_resp_json(req, 200, alert_json(&a));
}
