/* authz.c: the role -> permission table (IAM-4). Operators hold no tenant-data permission. */
#include "core/authz.h"

#include <string.h>

#include "core/bucket.h"
#include "util/json.h"
#include "util/util.h"

#define P(x) CST_PERM_BIT(CST_PERM_##x)

static const struct {
    const char *name;
    uint32_t perms;
} role_table[CST_ROLE__COUNT] = {
    [CST_ROLE_OWNER] = {"owner", P(TENANT_READ) | P(TENANT_ADMIN) | P(USERS_ADMIN) |
                                     P(BUCKETS_ADMIN) | P(RECORDS_READ) | P(RECORDS_WRITE) |
                                     P(AUDIT_READ)},
    [CST_ROLE_ADMIN] = {"admin", P(TENANT_READ) | P(TENANT_ADMIN) | P(USERS_ADMIN) |
                                     P(BUCKETS_ADMIN) | P(RECORDS_READ) | P(RECORDS_WRITE) |
                                     P(AUDIT_READ)},
    [CST_ROLE_WRITER] = {"writer", P(TENANT_READ) | P(RECORDS_READ) | P(RECORDS_WRITE)},
    [CST_ROLE_READER] = {"reader", P(TENANT_READ) | P(RECORDS_READ)},
    [CST_ROLE_AUDITOR] = {"auditor", P(TENANT_READ) | P(AUDIT_READ)},
    [CST_ROLE_SYS_ADMIN] = {"sys-admin", P(SYS_TENANTS) | P(SYS_OPERATORS) | P(SYS_BACKUPS)},
    [CST_ROLE_SYS_SECURITY] = {"sys-security", P(SYS_SECURITY)},
    [CST_ROLE_SYS_SUPPORT] = {"sys-support", 0},
};

/* Names of the permissions a token may carry. PUBLIC and SELF are not grantable. */
static const char *const perm_names[CST_PERM__COUNT] = {
    [CST_PERM_TENANT_READ] = "tenant.read",   [CST_PERM_TENANT_ADMIN] = "tenant.admin",
    [CST_PERM_USERS_ADMIN] = "users.admin",   [CST_PERM_BUCKETS_ADMIN] = "buckets.admin",
    [CST_PERM_RECORDS_READ] = "records.read", [CST_PERM_RECORDS_WRITE] = "records.write",
    [CST_PERM_SYS_TENANTS] = "sys.tenants",   [CST_PERM_SYS_OPERATORS] = "sys.operators",
    [CST_PERM_AUDIT_READ] = "audit.read",     [CST_PERM_SYS_SECURITY] = "sys.security",
    [CST_PERM_SYS_BACKUPS] = "sys.backups",
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

static const char *role_name(int i)
{
    return role_table[i].name;
}

static const char *perm_name(int i)
{
    return perm_names[i];
}

/* Parses a JSON array of names into a bit set; a name that is unknown or outside allowed fails
 * with the message "unknown <what> ... (<known>)". */
static cst_err parse_names(const json_t *arr, const char *(*name_of)(int), int count,
                           uint32_t allowed, const char *what, const char *known, uint32_t *out)
{
    ENSURE(json_is_array(arr), CST_ERR_INVALID, "%ss must be an array of names", what);
    uint32_t bits = 0;
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        ENSURE(json_is_string(v), CST_ERR_INVALID, "%ss must be an array of names", what);
        int found = -1;
        for (int k = 0; k < count; k++)
            if ((allowed & (1u << k)) && name_of(k) && !strcmp(name_of(k), json_string_value(v)))
                found = k;
        ENSURE(found >= 0, CST_ERR_INVALID, "unknown %s \"%.64s\" (%s)", what, json_string_value(v),
               known);
        bits |= 1u << found;
    }
    *out = bits;
    return CST_OK;
}

cst_err cst_perms_parse(const json_t *arr, uint32_t *out)
{
    return parse_names(arr, perm_name, CST_PERM__COUNT, UINT32_MAX, "permission",
                       "known: tenant.read, tenant.admin, users.admin, buckets.admin, "
                       "records.read, records.write, sys.tenants, sys.operators",
                       out);
}

cst_err cst_roles_parse(const json_t *arr, uint32_t allowed, uint32_t *out)
{
    ENSURE(json_array_size(arr) > 0, CST_ERR_INVALID,
           "roles must be a non-empty array of role names");
    return parse_names(arr, role_name, CST_ROLE__COUNT, allowed, "role",
                       "tenant roles: owner, admin, writer, reader, auditor; operator roles: "
                       "sys-admin, sys-security, sys-support",
                       out);
}

cst_err cst_perms_within(uint32_t wanted, uint32_t held)
{
    uint32_t wider = wanted & ~held;
    if (!wider)
        return CST_OK;
    json_t *names = cst_perms_json(wider);
    char *text = json_dumps(names, JSON_COMPACT);
    json_decref(names);
    cst_err e = cst_fail(CST_ERR_FORBIDDEN, "a token cannot hold rights its creator lacks: %s",
                         text ? text : "?");
    cst_json_free_text(text);
    return e;
}

cst_err cst_grants_parse(const json_t *arr, char out[CST_GRANTS_JSON])
{
    ENSURE(json_is_array(arr) && json_array_size(arr) <= 64, CST_ERR_INVALID,
           "grants must be an array of at most 64 bucket names, or [\"*\"]");
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        ENSURE(json_is_string(v), CST_ERR_INVALID, "grants must be an array of bucket names");
        if (strcmp(json_string_value(v), "*") != 0)
            TRY(cst_name_check("grant", json_string_value(v)));
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    ENSURE(text, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_fmt(out, CST_GRANTS_JSON, "%s", text);
    cst_json_free_text(text);
    return e;
}
