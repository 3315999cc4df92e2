/* operators.c: the provider's staff (/v1/sys/operators, sys-admin): unique individual operator
 * accounts (IAM-1) with the roles sys-admin, sys-security or sys-support. Operators hold no
 * tenant-data rights (IAM-8) and must use two-factor authentication (IAM-3). */
#include <string.h>

#include "api/api.h"
#include "api/roles.h"
#include "util/util.h"

static json_t *operator_json(const cst_user_row *u)
{
    char c[32];
    cst_time_format(u->created_at, c);
    return json_pack("{s:s,s:s,s:o,s:b,s:b,s:s}", "id", u->id, "username", u->username, "roles",
                     cst_roles_json(u->roles), "disabled", u->disabled, "mfa_enabled",
                     u->totp_state == CST_TOTP_ACTIVE, "created_at", c);
}

cst_err cst_api_operator_create(cst_node *n, cst_request *req)
{
    return cst_api_account_create(n, req, CST_SYS_TENANT, CST_OPERATOR_ROLES, operator_json);
}

static void list_one(const cst_user_row *u, void *ctx)
{
    json_array_append_new(ctx, operator_json(u));
}

cst_err cst_api_operator_list(cst_node *n, cst_request *req)
{
    json_t *arr = json_array();
    cst_err e = cst_store_user_list(n->store, CST_SYS_TENANT, list_one, arr);
    if (e != CST_OK) {
        json_decref(arr);
        return e;
    }
    return cst_resp_json(req, 200, json_pack("{s:o}", "operators", arr));
}
