/* tokens.c: API tokens (IAM-4, IAM-5): at most the creator's rights, nothing by default,
 * shown once, stored as a hash, revoked on the next request. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "api/api.h"
#include "core/authz.h"
#include "crypto/secrets.h"
#include "util/util.h"

static json_t *token_json(const cst_token_row *t)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "id", t->id, "name", t->name, "user_id",
                     t->user_id, "kind", t->session ? "session" : "api", "permissions",
                     cst_perms_json(t->perms), "created_at", cst_json_time(t->created_at),
                     "expires_at", cst_json_time(t->expires_at), "last_used_at",
                     cst_json_time(t->last_used_at));
}

static cst_err parse_token_request(cst_request *req, json_t *body, cst_token_row *tok)
{
    const char *name, *expires;
    TRY(cst_json_str(body, "name", true, &name));
    size_t len = strlen(name);
    ENSURE(len >= 1 && len <= CST_NAME_MAX && cst_utf8_valid((const uint8_t *)name, len) &&
               !cst_has_control((const uint8_t *)name, len),
           CST_ERR_INVALID, "name must be 1-64 bytes of text without control characters");
    TRY(cst_copy(tok->name, sizeof(tok->name), name));
    json_t *perms = json_object_get(body, "permissions");
    tok->perms = 0; /* IAM-4: nothing by default */
    if (perms)
        TRY(cst_perms_parse(perms, &tok->perms));
    TRY(cst_perms_within(tok->perms, req->who.perms));
    TRY(cst_json_str(body, "expires_at", false, &expires));
    if (expires) {
        ENSURE(cst_time_parse(expires, &tok->expires_at), CST_ERR_INVALID,
               "expires_at must be an RFC 3339 UTC time such as 2027-01-01T00:00:00Z");
        ENSURE(tok->expires_at > cst_now_us(), CST_ERR_INVALID, "expires_at is in the past");
    }
    return CST_OK;
}

cst_err cst_api_token_create(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"name", "permissions", "expires_at", NULL};
    json_t *body = NULL;
    cst_token_row tok;
    memset(&tok, 0, sizeof(tok));
    TRY(cst_api_body(req, fields, &body));
    cst_err e = parse_token_request(req, body, &tok);
    json_decref(body);
    TRY(e);
    char token[CST_TOKEN_LEN + 1];
    tok.created_at = cst_now_us();
    e = cst_token_issue(n->store, req->work, &req->who.user, &tok, token);
    if (e == CST_OK) {
        json_t *o = token_json(&tok);
        json_object_set_new(o, "token", json_string(token));
        e = cst_resp_json(req, 201, o);
    }
    sodium_memzero(token, sizeof(token));
    return e;
}

typedef struct list_ctx {
    json_t *arr;
    const char *only; /* an API token's own id: it sees itself only */
} list_ctx;

static cst_err list_one(const cst_token_row *t, void *p)
{
    list_ctx *lc = p;
    if (!lc->only || strcmp(t->id, lc->only) == 0)
        json_array_append_new(lc->arr, token_json(t));
    return CST_OK;
}

/* IAM-4, "a token holds nothing unless asked": whose tokens the caller sees and revokes.
 * tenant.admin: every token and session of the tenant. A login session: its user's. An API
 * token without tenant.admin: itself only (*only is set to its id), so that a token nobody
 * gave a right cannot list or end its creator's sessions and tokens. */
static const char *scope_user(const cst_request *req, const char **only)
{
    *only = NULL;
    if (req->who.perms & CST_PERM_BIT(CST_PERM_TENANT_ADMIN))
        return NULL;
    if (!req->who.token.session)
        *only = req->who.token.id;
    return req->who.user.id;
}

cst_err cst_api_token_list(cst_node *n, cst_request *req)
{
    list_ctx lc = {json_array(), NULL};
    const char *user = scope_user(req, &lc.only);
    cst_err e =
        cst_store_token_list(n->store, req->work, req->who.user.tenant_id, user, list_one, &lc);
    if (e != CST_OK) {
        json_decref(lc.arr);
        return e;
    }
    return cst_resp_json(req, 200, json_pack("{s:o}", "tokens", lc.arr));
}

cst_err cst_api_token_delete(cst_node *n, cst_request *req)
{
    const char *only;
    const char *user = scope_user(req, &only);
    ENSURE(cst_id_valid(req->params[0], "tk"), CST_ERR_NOT_FOUND, "no such token");
    /* another token, or a session, is out of an API token's sight: as if it were not there */
    ENSURE(!only || strcmp(req->params[0], only) == 0, CST_ERR_NOT_FOUND, "no such token");
    cst_token_row t;
    cst_err e = cst_store_token_get(n->store, req->work, req->params[0], &t);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_NOT_FOUND, "no such token");
    TRY(e);
    TRY(cst_store_token_delete(n->store, req->work, req->who.user.tenant_id, user, req->params[0]));
    cst_api_token_revoked(n, &t); /* DET-1: deleted, so scoped to the caller's tenant */
    cst_resp_empty(req, 204);
    return CST_OK;
}
