/* operators.c: the provider's staff (/v1/sys/operators, sys-admin): unique individual operator
 * accounts (IAM-1) with the roles sys-admin, sys-security or sys-support. Operators hold no
 * tenant-data rights (IAM-8) and must use two-factor authentication (IAM-3). */
#include <sodium.h>
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
    static const char *const fields[] = {"username", "roles", NULL};
    json_t *body = NULL;
    const char *username;
    cst_user_row u;
    char password[32] = "";
    memset(&u, 0, sizeof(u));
    strcpy(u.grants, "[]");
    TRY(cst_api_body(req, fields, &body));
    cst_err e = cst_json_str(body, "username", true, &username);
    if (e == CST_OK)
        e = cst_api_check_username(username);
    if (e == CST_OK)
        e = cst_roles_parse(json_object_get(body, "roles"), CST_OPERATOR_ROLES, &u.roles);
    if (e == CST_OK) {
        cst_random_id("us", u.id);
        strcpy(u.tenant_id, CST_SYS_TENANT);
        strcpy(u.username, username);
        u.must_change_password = true;
        u.created_at = cst_now_us();
        e = cst_api_new_password(password, u.pw_hash, u.pw_history, sizeof(u.pw_history));
    }
    json_decref(body);
    if (e == CST_OK)
        e = cst_store_user_create(n->store, &u);
    if (e == CST_OK) {
        json_t *o = operator_json(&u);
        json_object_set_new(o, "password", json_string(password));
        e = cst_resp_json(req, 201, o);
    }
    sodium_memzero(password, sizeof(password));
    return e;
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
