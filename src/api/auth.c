/* auth.c: login, logout and password change. */
#include <sodium.h>
#include <string.h>

#include "api/api.h"
#include "api/roles.h"
#include "crypto/secrets.h"
#include "util/util.h"

static cst_err find_user(cst_node *n, const char *tenant, const char *username, cst_user_row *user,
                         cst_tenant_row *t)
{
    cst_err e;
    memset(t, 0, sizeof(*t));
    if (strcmp(tenant, CST_SYS_TENANT) == 0) {
        e = cst_store_user_by_name(n->store, CST_SYS_TENANT, username, user);
    } else {
        e = cst_id_valid(tenant, "tn") ? cst_store_tenant_get(n->store, tenant, t)
                                       : cst_store_tenant_by_name(n->store, tenant, t);
        if (e == CST_OK)
            e = cst_store_user_by_name(n->store, t->id, username, user);
    }
    return e;
}

cst_err cst_api_login(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"tenant", "username", "password", NULL};
    json_t *body = NULL;
    const char *tenant, *username, *password;
    TRY(cst_api_body(req, fields, &body));
    cst_err e = cst_json_str(body, "tenant", true, &tenant);
    if (e == CST_OK)
        e = cst_json_str(body, "username", true, &username);
    if (e == CST_OK)
        e = cst_json_str(body, "password", true, &password);
    if (e == CST_OK && strlen(password) > CST_PW_MAX)
        e = cst_fail(CST_ERR_UNAUTHENTICATED, "invalid credentials");
    cst_user_row user;
    cst_tenant_row t;
    if (e == CST_OK) {
        e = find_user(n, tenant, username, &user, &t);
        bool known = e == CST_OK;
        if (e == CST_ERR_NOT_FOUND || e == CST_OK) {
            /* The same Argon2id work whether or not the user exists. */
            bool ok = cst_password_verify(password, known ? user.pw_hash : NULL);
            e = ok && !user.disabled ? CST_OK
                                     : cst_fail(CST_ERR_UNAUTHENTICATED, "invalid credentials");
        }
    }
    json_decref(body);
    TRY(e);

    cst_token_row tok;
    char token[CST_TOKEN_LEN + 1];
    memset(&tok, 0, sizeof(tok));
    TRY(cst_token_generate(token, tok.id, tok.hash));
    int64_t now = cst_now_us();
    strcpy(tok.tenant_id, user.tenant_id);
    strcpy(tok.user_id, user.id);
    strcpy(tok.name, "login session");
    tok.session = true;
    tok.created_at = now;
    tok.last_used_at = now;
    tok.expires_at = now + (int64_t)n->cfg.session_max_seconds * 1000000;
    e = cst_store_token_create(n->store, &tok);
    char exp[32];
    cst_time_format(tok.expires_at, exp);
    if (e == CST_OK)
        e = cst_resp_json(req, 200,
                          json_pack("{s:s,s:s,s:s,s:b,s:o}", "token", token, "token_id", tok.id,
                                    "expires_at", exp, "must_change_password",
                                    user.must_change_password, "roles",
                                    cst_roles_json(user.roles)));
    sodium_memzero(token, sizeof(token));
    return e;
}

cst_err cst_api_logout(cst_node *n, cst_request *req)
{
    ENSURE(req->who.token.session, CST_ERR_INVALID,
           "logout ends login sessions; delete an API token with DELETE /v1/tokens/{id}");
    TRY(cst_store_token_delete(n->store, req->who.user.tenant_id, req->who.user.id,
                               req->who.token.id));
    cst_resp_empty(req, 204);
    return CST_OK;
}

cst_err cst_api_password(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"current", "new", NULL};
    json_t *body = NULL;
    const char *cur, *next;
    char hash[CST_PWHASH_LEN];
    TRY(cst_api_body(req, fields, &body));
    cst_err e = cst_json_str(body, "current", true, &cur);
    if (e == CST_OK)
        e = cst_json_str(body, "new", true, &next);
    if (e == CST_OK && !cst_password_verify(cur, req->who.user.pw_hash))
        e = cst_fail(CST_ERR_UNAUTHENTICATED, "the current password is wrong");
    if (e == CST_OK && strcmp(cur, next) == 0)
        e = cst_fail(CST_ERR_INVALID, "the new password must differ from the current one");
    if (e == CST_OK)
        e = cst_password_check(next, req->who.user.username,
                               req->who.is_operator ? NULL : req->who.tenant.name);
    if (e == CST_OK)
        e = cst_password_hash(next, hash);
    json_decref(body);
    TRY(e);
    e = cst_store_user_set_password(n->store, req->who.user.id, hash, false);
    sodium_memzero(hash, sizeof(hash));
    TRY(e);
    /* SPEC §9: a password change ends the user's other sessions. */
    TRY(cst_store_sessions_end(n->store, req->who.user.id, req->who.token.id));
    cst_resp_empty(req, 204);
    return CST_OK;
}

cst_err cst_api_health(cst_node *n, cst_request *req)
{
    char now[32];
    cst_time_format(cst_now_us(), now);
    return cst_resp_json(req, 200,
                         json_pack("{s:s,s:s,s:s,s:s,s:s}", "status", "ok", "version",
                                   CUSTODIA_VERSION, "node_id", n->node_id, "region", n->region,
                                   "time", now));
}
