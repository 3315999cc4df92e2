/* users.c: the tenant's users (/v1/users): unique usernames (IAM-1), roles and bucket grants
 * (IAM-4), disabling (IAM-5), admin password resets. Only owners create, change or remove
 * owners; nobody edits their own roles; the last owner stays. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "api/api.h"
#include "core/authz.h"
#include "util/util.h"

#define OWNER CST_ROLE_BIT(CST_ROLE_OWNER)

static json_t *user_json(const cst_user_row *u)
{
    char c[32], l[32];
    cst_time_format(u->created_at, c);
    cst_time_format(u->last_login_at, l);
    json_t *grants = json_loads(u->grants, 0, NULL);
    return json_pack("{s:s,s:s,s:o,s:o,s:b,s:b,s:b,s:b,s:s,s:s*}", "id", u->id, "username",
                     u->username, "roles", cst_roles_json(u->roles), "grants",
                     grants ? grants : json_array(), "disabled", u->disabled, "mfa_enabled",
                     u->totp_state == CST_TOTP_ACTIVE, "must_change_password",
                     u->must_change_password, "locked", u->locked_until > cst_now_us(),
                     "created_at", c, "last_login_at", u->last_login_at ? l : NULL);
}

static bool caller_is_owner(const cst_request *req)
{
    return (req->who.user.roles & OWNER) != 0;
}

cst_err cst_api_account_create(cst_node *n, cst_request *req, const char *tenant_id,
                               uint32_t allowed_roles, json_t *(*to_json)(const cst_user_row *))
{
    static const char *const fields[] = {"username", "roles", "grants", NULL};
    static const char *const op_fields[] = {"username", "roles", NULL};
    bool tenant = allowed_roles == CST_TENANT_ROLES;
    json_t *body = NULL;
    const char *username;
    uint32_t roles = 0;
    char grants[CST_GRANTS_JSON] = "[]";
    cst_user_row u;
    char password[32] = "";
    TRY(cst_api_body(req, tenant ? fields : op_fields, &body));
    cst_err e = cst_json_str(body, "username", true, &username);
    if (e == CST_OK)
        e = cst_account_check_username(username);
    if (e == CST_OK)
        e = cst_roles_parse(json_object_get(body, "roles"), allowed_roles, &roles);
    if (e == CST_OK && (roles & OWNER) && !caller_is_owner(req))
        e = cst_fail(CST_ERR_FORBIDDEN, "only an owner can make another owner");
    if (e == CST_OK && json_object_get(body, "grants"))
        e = cst_grants_parse(json_object_get(body, "grants"), grants);
    if (e == CST_OK)
        e = cst_account_new(tenant_id, username, roles, cst_now_us(), &u, password);
    if (e == CST_OK) {
        memcpy(u.grants, grants, sizeof(u.grants));
        cst_audit_detail(req, "username", json_string(u.username));
        cst_audit_info(req, "user_id", json_string(u.id));
        cst_audit_info(req, "roles", cst_roles_json(u.roles));
    }
    json_decref(body);
    if (e == CST_OK)
        e = cst_store_user_create(n->store, req->work, &u);
    if (e == CST_OK) {
        json_t *o = to_json(&u);
        json_object_set_new(o, "password", json_string(password));
        e = cst_resp_json(req, 201, o);
    }
    sodium_memzero(password, sizeof(password));
    return e;
}

cst_err cst_api_user_create(cst_node *n, cst_request *req)
{
    return cst_api_account_create(n, req, req->who.tenant.id, CST_TENANT_ROLES, user_json);
}

static cst_err list_one(const cst_user_row *u, void *ctx)
{
    json_array_append_new(ctx, user_json(u));
    return CST_OK;
}

cst_err cst_api_user_list(cst_node *n, cst_request *req)
{
    json_t *arr = json_array();
    cst_err e = cst_store_user_list(n->store, req->work, req->who.tenant.id, list_one, arr);
    if (e != CST_OK) {
        json_decref(arr);
        return e;
    }
    return cst_resp_json(req, 200, json_pack("{s:o}", "users", arr));
}

/* The target user, only from the caller's own tenant (ISO-1: another tenant's id is 404). */
static cst_err target_user(cst_node *n, cst_request *req, cst_user_row *u)
{
    ENSURE(cst_id_valid(req->params[0], "us"), CST_ERR_NOT_FOUND, "no such user");
    cst_err e = cst_store_user_get(n->store, req->work, req->params[0], u);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_NOT_FOUND, "no such user");
    TRY(e);
    ENSURE(strcmp(u->tenant_id, req->who.tenant.id) == 0, CST_ERR_NOT_FOUND, "no such user");
    return CST_OK;
}

cst_err cst_api_user_get(cst_node *n, cst_request *req)
{
    cst_user_row u;
    TRY(target_user(n, req, &u));
    return cst_resp_json(req, 200, user_json(&u));
}

static cst_err apply_patch(cst_request *req, const json_t *body, cst_user_row *u, bool *reset,
                           bool *unlock)
{
    const json_t *rm = json_object_get(body, "reset_mfa");
    bool self = strcmp(u->id, req->who.user.id) == 0;
    const json_t *roles = json_object_get(body, "roles");
    const json_t *disabled = json_object_get(body, "disabled");
    const json_t *rp = json_object_get(body, "reset_password");
    /* owners are changed only by owners */
    ENSURE(!(u->roles & OWNER) || caller_is_owner(req), CST_ERR_FORBIDDEN,
           "only an owner can change an owner");
    if (roles) {
        ENSURE(!self, CST_ERR_FORBIDDEN, "you cannot change your own roles");
        uint32_t next;
        TRY(cst_roles_parse(roles, CST_TENANT_ROLES, &next));
        ENSURE(!(next & OWNER) || caller_is_owner(req), CST_ERR_FORBIDDEN,
               "only an owner can make another owner");
        u->roles = next;
    }
    if (json_object_get(body, "grants"))
        TRY(cst_grants_parse(json_object_get(body, "grants"), u->grants));
    if (disabled) {
        ENSURE(json_is_boolean(disabled), CST_ERR_INVALID, "disabled must be true or false");
        ENSURE(!self || !json_is_true(disabled), CST_ERR_FORBIDDEN, "you cannot disable yourself");
        u->disabled = json_is_true(disabled);
    }
    if (rm) {
        /* a lost authenticator: two-factor is cleared and, where required, re-enrolled at the
         * next login; the user's sessions end */
        ENSURE(json_is_boolean(rm), CST_ERR_INVALID, "reset_mfa must be true or false");
        ENSURE(!self || !json_is_true(rm), CST_ERR_FORBIDDEN,
               "you cannot reset your own two-factor authentication");
        if (json_is_true(rm)) {
            u->totp_state = CST_TOTP_NONE;
            u->totp_sealed_len = 0;
            u->totp_last_step = 0;
            TRY(cst_copy(u->recovery, sizeof(u->recovery), "[]"));
        }
    }
    /* IAM-2: an administrator ends a lockout at once (the failure count restarts) */
    const json_t *ul = json_object_get(body, "unlock");
    ENSURE(!ul || json_is_boolean(ul), CST_ERR_INVALID, "unlock must be true or false");
    *unlock = json_is_true(ul);
    *reset = false;
    if (rp) {
        ENSURE(json_is_boolean(rp), CST_ERR_INVALID, "reset_password must be true or false");
        ENSURE(!self || !json_is_true(rp), CST_ERR_FORBIDDEN,
               "change your own password with POST /v1/auth/password");
        *reset = json_is_true(rp);
    }
    return CST_OK;
}

cst_err cst_api_user_patch(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"roles",     "grants", "disabled", "reset_password",
                                         "reset_mfa", "unlock", NULL};
    cst_user_row before, u;
    json_t *body = NULL;
    bool reset = false, unlock = false;
    char password[32] = "";
    TRY(target_user(n, req, &before));
    TRY(cst_api_body(req, fields, &body));
    u = before;
    cst_err e = apply_patch(req, body, &u, &reset, &unlock);
    json_decref(body);
    if (e == CST_OK)
        e = cst_account_keep_an_owner(n->store, req->work, &before, &u);
    if (e == CST_OK && reset) /* an admin reset: a one-time password */
        e = cst_account_reset_password(&u, password);
    if (e == CST_OK)
        e = cst_store_user_update(n->store, req->work, &u);
    if (e == CST_OK && unlock) {
        e = cst_store_login_unlock(n->store, req->work, u.id);
        cst_audit_info(req, "unlocked", json_boolean(u.locked_until > cst_now_us()));
        u.failed_logins = 0;
        u.locked_until = 0;
    }
    bool mfa_reset = before.totp_state != CST_TOTP_NONE && u.totp_state == CST_TOTP_NONE;
    if (e == CST_OK && (reset || u.disabled || mfa_reset))
        e = cst_api_sessions_revoked(n, req, u.tenant_id, u.id, NULL); /* DET-1 */
    if (e == CST_OK && (reset || u.disabled || mfa_reset))
        e = cst_store_sessions_end(n->store, req->work, u.id, NULL);
    if (e == CST_OK) {
        json_t *o = user_json(&u);
        if (reset)
            json_object_set_new(o, "password", json_string(password));
        e = cst_resp_json(req, 200, o);
    }
    sodium_memzero(password, sizeof(password));
    return e;
}

cst_err cst_api_user_delete(cst_node *n, cst_request *req)
{
    cst_user_row u;
    TRY(target_user(n, req, &u));
    ENSURE(strcmp(u.id, req->who.user.id) != 0, CST_ERR_FORBIDDEN, "you cannot delete yourself");
    ENSURE(!(u.roles & OWNER) || caller_is_owner(req), CST_ERR_FORBIDDEN,
           "only an owner can remove an owner");
    TRY(cst_account_keep_an_owner(n->store, req->work, &u, NULL));
    TRY(cst_store_user_delete(n->store, req->work, req->who.tenant.id, u.id));
    cst_resp_empty(req, 204);
    return CST_OK;
}
