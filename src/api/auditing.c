/* auditing.c: one audit entry per request (LOG-1), the tenant's view of its own trail (LOG-4),
 * and the operators' view and verification (LOG-2). Tenant-identifying details (bucket names,
 * record keys, usernames, setting values) are sealed under the tenant's DEK, so a crypto-erase
 * of the tenant erases them from the log too while the chain still verifies. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "node/detect.h"
#include "audit/audit.h"
#include "core/audit_detail.h"
#include "crypto/keys.h"
#include "store/store.h"
#include "util/util.h"

void cst_audit_detail(cst_request *req, const char *key, json_t *value)
{
    if (!value)
        return;
    if (!req->audit_detail)
        req->audit_detail = json_object();
    json_object_set_new(req->audit_detail, key, value);
}

void cst_audit_info(cst_request *req, const char *key, json_t *value)
{
    if (!value)
        return;
    if (!req->audit_info)
        req->audit_info = json_object();
    json_object_set_new(req->audit_info, key, value);
}

/* The key details of tenant are sealed under: its DEK, or the node's own audit key (version 0)
 * for operators and for names that match no tenant. */
static cst_err detail_key(cst_node *n, cst_work *w, const char *tenant, uint32_t version,
                          const cst_key **key, uint32_t *kv, cst_tenant_ctx **held)
{
    cst_tenant_ctx *t = NULL;
    *held = NULL;
    /* held, so that the key is not wiped by the LRU of open tenants while it is in use */
    if (tenant && version != 0 && cst_node_tenant_acquire_in(n, w, tenant, &t) == CST_OK) {
        *held = t;
        /* ENC-4: a retired DEK version stays in the ring, so older details still open */
        if (version == UINT32_MAX)
            *key = cst_dek_use(&t->deks, kv, 1);
        else
            *key = cst_dek_get(&t->deks, *kv = version);
        ENSURE(*key != NULL, CST_ERR_INTEGRITY,
               "the detail was sealed under a key version this node no longer holds");
        return CST_OK;
    }
    cst_err_clear();
    ENSURE(version == UINT32_MAX || version == 0, CST_ERR_INTEGRITY,
           "the tenant's keys are gone (erased)");
    *key = &n->audit_key;
    *kv = 0;
    return CST_OK;
}

/* Sealed in the request's unit of work w: the tenant's keys may be ones it just created. */
static json_t *seal_detail(cst_node *n, cst_work *w, const char *tenant, const char *request_id,
                           json_t *d)
{
    const cst_key *key = NULL;
    uint32_t kv;
    cst_tenant_ctx *held = NULL;
    json_t *out = detail_key(n, w, tenant, UINT32_MAX, &key, &kv, &held) == CST_OK
                      ? cst_audit_detail_seal(key, kv, tenant, request_id, d)
                      : NULL;
    cst_node_tenant_release(n, held);
    return out;
}

/* The sealed detail of an entry, opened; NULL when its key is gone or it does not verify. */
static json_t *open_detail(cst_node *n, const json_t *entry)
{
    const json_t *d = json_object_get(entry, "detail");
    const char *b64 = json_string_value(json_object_get(d, "ct"));
    const char *tenant = json_string_value(json_object_get(entry, "tenant"));
    const char *rid = json_string_value(json_object_get(entry, "request_id"));
    json_int_t kv = json_integer_value(json_object_get(d, "kv"));
    const cst_key *key = NULL;
    uint32_t kvo;
    cst_tenant_ctx *held = NULL;
    json_t *out = NULL;
    if (b64 && rid && kv >= 0 &&
        detail_key(n, NULL, tenant, (uint32_t)kv, &key, &kvo, &held) == CST_OK)
        out = cst_audit_detail_open(key, tenant, rid, b64);
    cst_err_clear();
    cst_node_tenant_release(n, held);
    return out;
}

static bool looks_like_id(const char *s)
{
    static const char *const prefixes[] = {"tn", "us", "tk", "nd"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (cst_id_valid(s, prefixes[i]))
            return true;
    return false;
}

/* The route pattern with opaque ids filled in; any other parameter (bucket names, record keys,
 * anything not shaped like an id) goes into the sealed detail under its placeholder's name. */
static void resource_of(cst_request *req, char *out, size_t n)
{
    const cst_route *r = req->route;
    size_t o = 0;
    int pi = 0;
    out[0] = '\0';
    if (!r)
        return;
    for (const char *c = r->pattern; *c && o + 1 < n;) {
        if (*c != '{') {
            out[o++] = *c++;
            continue;
        }
        const char *end = strchr(c, '}');
        if (!end)
            break;
        char name[16];
        size_t nl =
            (size_t)(end - c - 1) < sizeof(name) - 1 ? (size_t)(end - c - 1) : sizeof(name) - 1;
        memcpy(name, c + 1, nl);
        name[nl] = '\0';
        const char *v = pi < CST_MAX_PARAMS ? req->params[pi] : "";
        const char *put = c;
        size_t putlen = (size_t)(end - c + 1);
        if (looks_like_id(v)) {
            put = v;
            putlen = strlen(v);
        } else if (pi < CST_MAX_PARAMS && req->param_len[pi] > 0) {
            cst_audit_detail(req, name, json_stringn(v, req->param_len[pi]));
        }
        if (o + putlen >= n)
            break;
        memcpy(out + o, put, putlen);
        o += putlen;
        pi++;
        c = end + 1;
    }
    out[o] = '\0';
}

static const char *outcome_of(int status)
{
    if (status < 400)
        return "success";
    if (status == 401 || status == 403 || status == 423 || status == 429)
        return "denied";
    return "failure";
}

cst_err cst_api_audit_request(cst_node *n, cst_request *req, cst_audit_ticket *ticket)
{
    if (ticket)
        memset(ticket, 0, sizeof(*ticket));
    if (req->audited)
        return CST_OK;
    req->audited = true;
    const cst_route *r = req->route;
    if (r && (r->flags & CST_ROUTE_UNAUDITED))
        return CST_OK; /* the liveness probe touches nothing */
    const cst_principal *who = &req->who;
    char resource[512];
    resource_of(req, resource, sizeof(resource));
    const char *tenant = NULL;
    if (req->audit_tenant[0])
        tenant = req->audit_tenant;
    else if (who->authenticated && !who->is_operator)
        tenant = who->tenant.id;
    else if (who->is_operator && r && (r->flags & CST_ROUTE_TENANT_PARAM) &&
             cst_id_valid(req->params[0], "tn"))
        tenant = req->params[0]; /* LOG-4: the tenant sees operators' actions on it */
    if (tenant && strcmp(tenant, CST_SYS_TENANT) == 0)
        tenant = NULL;
    const char *action = req->audit_action ? req->audit_action : r ? r->action : "request.unrouted";
    if (who->authenticated && who->grant.id[0]) {
        /* IAM-8: access transparency: the tenant reads which grant and why */
        cst_audit_info(req, "grant_id", json_string(who->grant.id));
        cst_audit_info(req, "justification", json_string(who->grant.justification));
        if (who->grant.break_glass)
            cst_audit_info(req, "break_glass", json_true());
    }
    cst_audit_event ev = {
        .stream = strncmp(action, "record.", 7) == 0 ? CST_AUDIT_ACCESS : CST_AUDIT_SECURITY,
        .tenant = tenant,
        .source_ip = req->client_ip[0] ? req->client_ip : req->source_ip,
        .action = action,
        .resource = r ? resource : "",
        .outcome = outcome_of(req->status),
        .status = req->status,
        .request_id = req->request_id,
        .info = req->audit_info,
        /* audit.read_durability = batched defers only these entries' durability (LOG-1) */
        .read = req->method && (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD")),
    };
    if (who->authenticated) {
        ev.actor_type = who->is_operator || who->grant.id[0] ? "operator" : "user";
        ev.actor_id = who->user.id;
        ev.actor_token = who->token.id;
    } else if (req->audit_actor[0]) {
        ev.actor_type = strcmp(req->audit_tenant, CST_SYS_TENANT) == 0 ? "operator" : "user";
        ev.actor_id = req->audit_actor;
    }
    json_t *sealed = NULL;
    if (req->audit_detail) {
        sealed = seal_detail(n, req->work, tenant, req->request_id, req->audit_detail);
        ENSURE(sealed != NULL, CST_ERR_AUDIT_UNAVAILABLE, "the audit detail could not be sealed");
        ev.detail = sealed;
    }
    cst_err e = ticket ? cst_audit_enqueue(n->audit, &ev, ticket) : cst_audit_append(n->audit, &ev);
    json_decref(sealed);
    return e;
}

/* IAM-8: counts a request made with a lockbox grant's credential, and a record it read, on
 * the grant (recorded use: a failure is logged, never the request's). */
static void grant_use(cst_node *n, const cst_request *req)
{
    const cst_principal *who = &req->who;
    if (!who->authenticated || !who->grant.id[0])
        return;
    bool read = req->route && req->status == 200 && strcmp(req->route->action, "record.read") == 0;
    if (cst_store_access_use(n->store, NULL, who->grant.id, 1, read ? 1 : 0) != CST_OK) {
        cst_warn("lockbox: the use of grant %s could not be counted", who->grant.id);
        cst_err_clear();
    }
}

void cst_api_on_respond(void *app, cst_request *req)
{
    if (!req->audited && cst_api_audit_request(app, req, NULL) != CST_OK)
        cst_resp_error(req, CST_ERR_AUDIT_UNAVAILABLE);
    grant_use(app, req);
    cst_api_detect(app, req);  /* DET-1 */
    cst_api_observe(app, req); /* DET-2: counters and the request's log line */
}

/* ---- reading ----------------------------------------------------------------------------------
 */

typedef struct pos {
    int64_t t;
    int s;
    uint64_t q;
} pos;

static int pos_cmp(pos a, pos b)
{
    if (a.t != b.t)
        return a.t < b.t ? -1 : 1;
    if (a.s != b.s)
        return a.s < b.s ? -1 : 1;
    return a.q < b.q ? -1 : a.q > b.q;
}

static pos pos_of(cst_audit_stream s, const json_t *e)
{
    pos p = {0, (int)s, (uint64_t)json_integer_value(json_object_get(e, "seq"))};
    const char *ts = json_string_value(json_object_get(e, "time"));
    if (!ts || !cst_time_parse(ts, &p.t))
        p.t = 0;
    return p;
}

typedef struct query {
    cst_node *n;
    const char *tenant; /* NULL: all (operators) */
    bool tenant_view;
    pos after;
    int limit;
    json_t *found[CST_AUDIT__STREAMS]; /* arrays of {pos, entry} */
} query;

static bool collect(void *ctx, cst_audit_stream s, json_t *e)
{
    query *q = ctx;
    const char *t = json_string_value(json_object_get(e, "tenant"));
    if (q->tenant && (!t || strcmp(t, q->tenant) != 0))
        return true;
    if (pos_cmp(pos_of(s, e), q->after) <= 0)
        return true;
    json_array_append(q->found[s], e);
    return json_array_size(q->found[s]) <= (size_t)q->limit;
}

static json_t *view_of(query *q, cst_audit_stream s, json_t *e)
{
    json_t *v = json_deep_copy(e);
    json_object_del(v, "prev");
    json_object_set_new(v, "stream", json_string(cst_audit_stream_names[s]));
    if (json_object_get(e, "detail")) {
        bool may_open = q->tenant_view || json_is_null(json_object_get(e, "tenant"));
        json_t *d = may_open ? open_detail(q->n, e) : NULL;
        json_object_del(v, "detail");
        if (d)
            json_object_set_new(v, "details", d);
        else
            json_object_set_new(v, "details_sealed", json_true());
    }
    return v;
}

static cst_err parse_time_param(cst_request *req, const char *name, int64_t *out)
{
    char text[64];
    bool present;
    TRY(cst_req_query(req, name, text, sizeof(text), &present));
    if (!present)
        return CST_OK;
    ENSURE(cst_time_parse(text, out), CST_ERR_INVALID,
           "%s must be an RFC 3339 UTC time such as 2026-01-02T03:04:05Z", name);
    return CST_OK;
}

/* One cursor field: decimal digits only (no sign, no space), whole field consumed, in range. */
static bool cursor_field(const char *p, size_t len, unsigned long long max, unsigned long long *out)
{
    char digits[24];
    if (len == 0 || len >= sizeof(digits))
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    memcpy(digits, p, len);
    digits[len] = '\0';
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(digits, &end, 10);
    if (errno != 0 || end != digits + len || v > max)
        return false;
    *out = v;
    return true;
}

/* Parses a client-supplied "next" cursor "<time>-<stream>-<seq>" strictly (no sscanf on
 * client input): anything else is a 400. */
static cst_err parse_cursor(const char *s, pos *out)
{
    unsigned long long v[3];
    const unsigned long long max[3] = {INT64_MAX, CST_AUDIT__STREAMS - 1, UINT64_MAX};
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        const char *dash = i < 2 ? strchr(p, '-') : p + strlen(p);
        ENSURE(dash && cursor_field(p, (size_t)(dash - p), max[i], &v[i]), CST_ERR_INVALID,
               "after must be a cursor returned as \"next\"");
        p = dash + 1;
    }
    *out = (pos){(int64_t)v[0], (int)v[1], v[2]};
    return CST_OK;
}

static cst_err audit_list(cst_node *n, cst_request *req, const char *tenant, bool tenant_view)
{
    int64_t since = 0, until = INT64_MAX;
    TRY(parse_time_param(req, "since", &since));
    TRY(parse_time_param(req, "until", &until));
    query q = {.n = n, .tenant = tenant, .tenant_view = tenant_view, .after = {-1, 0, 0}};
    TRY(cst_api_query_limit(req, &q.limit));
    char after[96];
    bool present;
    TRY(cst_req_query(req, "after", after, sizeof(after), &present));
    if (present)
        TRY(parse_cursor(after, &q.after));
    if (q.after.t > since)
        since = q.after.t;
    cst_err e = CST_OK;
    for (int s = 0; s < CST_AUDIT__STREAMS; s++) {
        q.found[s] = json_array();
        if (e == CST_OK)
            e = cst_audit_scan(n->cfg.audit_dir, (cst_audit_stream)s, since, until, collect, &q);
    }
    json_t *entries = json_array();
    size_t idx[CST_AUDIT__STREAMS] = {0};
    pos last = {0, 0, 0};
    bool more = false;
    while (e == CST_OK) {
        int best = -1;
        pos bp = {0, 0, 0};
        for (int s = 0; s < CST_AUDIT__STREAMS; s++) {
            json_t *c = json_array_get(q.found[s], idx[s]);
            if (c && (best < 0 || pos_cmp(pos_of((cst_audit_stream)s, c), bp) < 0)) {
                best = s;
                bp = pos_of((cst_audit_stream)s, c);
            }
        }
        if (best < 0)
            break;
        if (json_array_size(entries) == (size_t)q.limit) {
            more = true;
            break;
        }
        json_array_append_new(
            entries, view_of(&q, (cst_audit_stream)best, json_array_get(q.found[best], idx[best])));
        idx[best]++;
        last = bp;
    }
    for (int s = 0; s < CST_AUDIT__STREAMS; s++)
        json_decref(q.found[s]);
    if (e != CST_OK) {
        json_decref(entries);
        return e;
    }
    char next[96];
    (void)snprintf(next, sizeof(next), "%lld-%d-%llu", (long long)last.t, last.s,
                   (unsigned long long)last.q);
    return cst_resp_json(req, 200,
                         json_pack("{s:o,s:s?}", "entries", entries, "next", more ? next : NULL));
}

cst_err cst_api_audit_list(cst_node *n, cst_request *req)
{
    ENSURE(!req->who.is_operator, CST_ERR_FORBIDDEN, "operators use GET /v1/sys/audit");
    return audit_list(n, req, req->who.tenant.id, true);
}

cst_err cst_api_sys_audit_list(cst_node *n, cst_request *req)
{
    char tenant[CST_ID_MAX];
    bool present;
    TRY(cst_req_query(req, "tenant", tenant, sizeof(tenant), &present));
    ENSURE(!present || cst_id_valid(tenant, "tn"), CST_ERR_INVALID, "tenant must be a tenant id");
    return audit_list(n, req, present ? tenant : NULL, false);
}

/* DET-1: a failed verification's alert, raised once the request's transaction has ended (the
 * raise is a transaction of its own, which a thread holding one cannot begin). */
typedef struct verified {
    cst_node *n;
    cst_audit_report r;
} verified;

static void verified_detect(void *ctx, bool committed)
{
    (void)committed;
    verified *v = ctx;
    cst_detect_audit_verified(v->n, &v->r, "api", cst_now_us());
    free(v);
}

cst_err cst_api_sys_audit_verify(cst_node *n, cst_request *req)
{
    static const char *const allowed[] = {"seal_key", NULL};
    json_t *body = NULL;
    if (req->body.len)
        TRY(cst_api_body(req, allowed, &body));
    const char *b64 = json_string_value(json_object_get(body, "seal_key"));
    cst_key k0 = {0};
    cst_err e = CST_OK;
    if (json_object_get(body, "seal_key")) {
        size_t len = 0;
        e = b64 ? cst_key_alloc(&k0) : cst_fail(CST_ERR_INVALID, "seal_key must be a string");
        if (e == CST_OK && (sodium_base642bin(k0.k, CST_KEY_LEN, b64, strlen(b64), NULL, &len, NULL,
                                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
                            len != CST_KEY_LEN))
            e = cst_fail(CST_ERR_INVALID, "seal_key must be the 32-byte K0 file in base64");
    }
    json_decref(body);
    char epoch_file[PATH_MAX];
    cst_audit_report r;
    if (e == CST_OK)
        e = cst_fmt(epoch_file, sizeof(epoch_file), "%s/audit/epoch.key", n->cfg.data_dir);
    if (e == CST_OK)
        e = cst_audit_verify(n->cfg.audit_dir, epoch_file, k0.k ? &k0 : NULL, &n->root_key, true,
                             &r);
    cst_key_free(&k0);
    TRY(e);
    cst_audit_info(req, "ok", json_boolean(r.ok));
    verified *v = r.ok ? NULL : malloc(sizeof(*v));
    if (v) {
        *v = (verified){.n = n, .r = r};
        cst_err he = cst_work_on_end(req->work, verified_detect, v); /* runs it even on failure */
        if (he != CST_OK)
            cst_err_clear();
    } else if (!r.ok) {
        cst_error(
            "alert: the failed audit verification's alert could not be raised: out of memory");
    }
    cst_audit_info(req, "seals_checked", json_boolean(r.seals_checked));
    if (!r.ok) {
        cst_audit_info(req, "reason", json_string(r.reason));
        cst_audit_info(req, "seq", json_integer((json_int_t)r.seq));
    }
    return cst_resp_json(req, 200, cst_audit_report_json(&r));
}
