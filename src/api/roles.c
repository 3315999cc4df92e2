/* roles.c: the role -> permission table (IAM-4). Operators hold no tenant-data permission. */
#include "api/roles.h"

#include <string.h>

#define P(x) CST_PERM_BIT(CST_PERM_##x)

static const struct {
    const char *name;
    uint32_t perms;
} role_table[CST_ROLE__COUNT] = {
    [CST_ROLE_OWNER] = {"owner", P(TENANT_READ) | P(TENANT_ADMIN) | P(USERS_ADMIN) |
                                     P(BUCKETS_ADMIN) | P(RECORDS_READ) | P(RECORDS_WRITE)},
    [CST_ROLE_ADMIN] = {"admin", P(TENANT_READ) | P(TENANT_ADMIN) | P(USERS_ADMIN) |
                                     P(BUCKETS_ADMIN) | P(RECORDS_READ) | P(RECORDS_WRITE)},
    [CST_ROLE_WRITER] = {"writer", P(TENANT_READ) | P(RECORDS_READ) | P(RECORDS_WRITE)},
    [CST_ROLE_READER] = {"reader", P(TENANT_READ) | P(RECORDS_READ)},
    [CST_ROLE_AUDITOR] = {"auditor", P(TENANT_READ)},
    [CST_ROLE_SYS_ADMIN] = {"sys-admin", P(SYS_TENANTS) | P(SYS_OPERATORS)},
    [CST_ROLE_SYS_SECURITY] = {"sys-security", 0},
    [CST_ROLE_SYS_SUPPORT] = {"sys-support", 0},
};

/* Names of the permissions a token may carry. PUBLIC and SELF are not grantable. */
static const char *const perm_names[CST_PERM__COUNT] = {
    [CST_PERM_TENANT_READ] = "tenant.read",   [CST_PERM_TENANT_ADMIN] = "tenant.admin",
    [CST_PERM_USERS_ADMIN] = "users.admin",   [CST_PERM_BUCKETS_ADMIN] = "buckets.admin",
    [CST_PERM_RECORDS_READ] = "records.read", [CST_PERM_RECORDS_WRITE] = "records.write",
    [CST_PERM_SYS_TENANTS] = "sys.tenants",   [CST_PERM_SYS_OPERATORS] = "sys.operators",
};

uint32_t cst_roles_perms(uint32_t roles)
{
    uint32_t perms = 0;
    for (int r = 0; r < CST_ROLE__COUNT; r++)
        if (roles & CST_ROLE_BIT(r))
            perms |= role_table[r].perms;
    return perms;
}

json_t *cst_roles_json(uint32_t roles)
{
    json_t *a = json_array();
    for (int r = 0; r < CST_ROLE__COUNT; r++)
        if (roles & CST_ROLE_BIT(r))
            json_array_append_new(a, json_string(role_table[r].name));
    return a;
}

json_t *cst_perms_json(uint32_t perms)
{
    json_t *a = json_array();
    for (int p = 0; p < CST_PERM__COUNT; p++)
        if (perm_names[p] && (perms & CST_PERM_BIT(p)))
            json_array_append_new(a, json_string(perm_names[p]));
    return a;
}

cst_err cst_perms_parse(const json_t *arr, uint32_t *out)
{
    ENSURE(json_is_array(arr), CST_ERR_INVALID, "permissions must be an array of names");
    uint32_t perms = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        ENSURE(json_is_string(v), CST_ERR_INVALID, "permissions must be an array of names");
        int found = -1;
        for (int p = 0; p < CST_PERM__COUNT; p++)
            if (perm_names[p] && strcmp(perm_names[p], json_string_value(v)) == 0)
                found = p;
        ENSURE(found >= 0, CST_ERR_INVALID,
               "unknown permission \"%.64s\" (known: tenant.read, tenant.admin, users.admin, "
               "buckets.admin, records.read, records.write, sys.tenants, sys.operators)",
               json_string_value(v));
        perms |= CST_PERM_BIT(found);
    }
    *out = perms;
    return CST_OK;
}

cst_err cst_roles_parse(const json_t *arr, uint32_t allowed, uint32_t *out)
{
    ENSURE(json_is_array(arr) && json_array_size(arr) > 0, CST_ERR_INVALID,
           "roles must be a non-empty array of role names");
    uint32_t roles = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        ENSURE(json_is_string(v), CST_ERR_INVALID, "roles must be an array of role names");
        int found = -1;
        for (int r = 0; r < CST_ROLE__COUNT; r++)
            if ((allowed & CST_ROLE_BIT(r)) &&
                strcmp(role_table[r].name, json_string_value(v)) == 0)
                found = r;
        ENSURE(found >= 0, CST_ERR_INVALID,
               "unknown role \"%.64s\" (tenant roles: owner, admin, writer, reader, auditor; "
               "operator roles: sys-admin, sys-security, sys-support)",
               json_string_value(v));
        roles |= CST_ROLE_BIT(found);
    }
    *out = roles;
    return CST_OK;
}
