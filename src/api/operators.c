/* operators.c: the provider's staff (/v1/sys/operators, sys-admin): unique individual operator
 * accounts (IAM-1) with the roles sys-admin, sys-security or sys-support. Operators hold no
 * tenant-data rights (IAM-8) and must use two-factor authentication (IAM-3). */
#include <string.h>

#include "api/api.h"
#include "core/authz.h"
#include "util/util.h"

static json_t *operator_json(const cst_user_row *u)
{
    char c[32];
    cst_time_format(u->created_at, c);
    return json_pack("{s:s,s:s,s:o,s:b,s:b,s:b,s:s}", "id", u->id, "username", u->username, "roles",
                     cst_roles_json(u->roles), "disabled", u->disabled, "mfa_enabled",
                     u->totp_state == CST_TOTP_ACTIVE, "locked", u->locked_until > cst_now_us(),
                     "created_at", c);
}

cst_err cst_api_operator_create(cst_node *n, cst_request *req)
{
    return cst_api_account_create(n, req, CST_SYS_TENANT, CST_OPERATOR_ROLES, operator_json);
}

static cst_err list_one(const cst_user_row *u, void *ctx)
{
    json_array_append_new(ctx, operator_json(u));
    return CST_OK;
}

cst_err cst_api_operator_list(cst_node *n, cst_request *req)
{
    json_t *arr = json_array();
    cst_err e = cst_store_user_list(n->store, req->work, CST_SYS_TENANT, list_one, arr);
    if (e != CST_OK) {
        json_decref(arr);
        return e;
    }
    return cst_resp_json(req, 200, json_pack("{s:o}", "operators", arr));
}

/* IAM-2: a sys-admin ends an operator's lockout (PATCH /v1/sys/operators/{id} {"unlock": true}),
 * so that a stranger's six guesses cannot keep the node's operators out. */
cst_err cst_api_operator_patch(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"unlock", NULL};
    cst_user_row u;
    json_t *body = NULL;
    ENSURE(cst_id_valid(req->params[0], "us"), CST_ERR_NOT_FOUND, "no such operator");
    cst_err e = cst_store_user_get(n->store, req->work, req->params[0], &u);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_NOT_FOUND, "no such operator");
    TRY(e);
    ENSURE(strcmp(u.tenant_id, CST_SYS_TENANT) == 0, CST_ERR_NOT_FOUND, "no such operator");
    TRY(cst_api_body(req, fields, &body));
    const json_t *ul = json_object_get(body, "unlock");
    e = json_is_boolean(ul) ? CST_OK
                            : cst_fail(CST_ERR_INVALID, "send {\"unlock\": true} to end a lockout");
    bool unlock = json_is_true(ul);
    json_decref(body);
    TRY(e);
    if (unlock) {
        TRY(cst_store_login_unlock(n->store, req->work, u.id));
        cst_audit_info(req, "unlocked", json_boolean(u.locked_until > cst_now_us()));
        cst_warn("auth: operator %s unlocked by %s", u.id, req->who.user.id);
        u.locked_until = 0;
        u.failed_logins = 0;
    }
    return cst_resp_json(req, 200, operator_json(&u));
}
