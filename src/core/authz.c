/* authz.c: the role -> permission table (IAM-4), bucket grants, the route permission check and
 * the IP allowlist decision (IAM-7). Operators hold no tenant-data permission. */
#include "core/authz.h"

#include <string.h>

#include "core/authn.h"
#include "core/bucket.h"
#include "core/tenant_state.h"
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
    [CST_ROLE_SYS_ADMIN] = {"sys-admin", P(SYS_TENANTS) | P(SYS_OPERATORS) | P(SYS_BACKUPS) |
                                             P(SYS_REPORT) | P(SYS_LOCKBOX) | P(SYS_BREAK_GLASS) |
                                             P(SYS_KEYS)},
    [CST_ROLE_SYS_SECURITY] = {"sys-security", P(SYS_SECURITY) | P(SYS_REPORT)},
    [CST_ROLE_SYS_SUPPORT] = {"sys-support", P(SYS_LOCKBOX)},
};

/* Names of the permissions a token may carry. PUBLIC and SELF are not grantable. */
static const char *const perm_names[CST_PERM__COUNT] = {
    [CST_PERM_TENANT_READ] = "tenant.read",   [CST_PERM_TENANT_ADMIN] = "tenant.admin",
    [CST_PERM_USERS_ADMIN] = "users.admin",   [CST_PERM_BUCKETS_ADMIN] = "buckets.admin",
    [CST_PERM_RECORDS_READ] = "records.read", [CST_PERM_RECORDS_WRITE] = "records.write",
    [CST_PERM_SYS_TENANTS] = "sys.tenants",   [CST_PERM_SYS_OPERATORS] = "sys.operators",
    [CST_PERM_AUDIT_READ] = "audit.read",     [CST_PERM_SYS_SECURITY] = "sys.security",
    [CST_PERM_SYS_BACKUPS] = "sys.backups",   [CST_PERM_SYS_REPORT] = "sys.report",
    [CST_PERM_SYS_LOCKBOX] = "sys.lockbox",   [CST_PERM_SYS_BREAK_GLASS] = "sys.break_glass",
    [CST_PERM_SYS_KEYS] = "sys.keys",
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

uint32_t cst_authz_effective(uint32_t roles, bool session, uint32_t token_perms)
{
    uint32_t perms = cst_roles_perms(roles);
    return session ? perms : (perms & token_perms);
}

/* The operators' permissions. */
#define SYS_PERMS                                                                                  \
    (P(SYS_TENANTS) | P(SYS_OPERATORS) | P(SYS_SECURITY) | P(SYS_BACKUPS) | P(SYS_REPORT) |        \
     P(SYS_LOCKBOX) | P(SYS_BREAK_GLASS) | P(SYS_KEYS))

static bool is_sys_perm(cst_perm p)
{
    return (CST_PERM_BIT(p) & SYS_PERMS) != 0;
}

cst_err cst_authz_bucket(const cst_user_row *u, const char *bucket)
{
    if (u->roles & CST_ALL_BUCKET_ROLES)
        return CST_OK;
    json_t *grants = json_loads(u->grants, 0, NULL);
    bool ok = false;
    size_t i;
    json_t *g;
    json_array_foreach(grants, i, g)
    {
        const char *b = json_string_value(g);
        ok |= b && (strcmp(b, "*") == 0 || strcmp(b, bucket) == 0);
    }
    json_decref(grants);
    ENSURE(ok, CST_ERR_FORBIDDEN, "no grant for bucket %s", bucket);
    return CST_OK;
}

cst_err cst_authz_check(const cst_principal *who, const cst_authz_ask *ask)
{
    if (who->token.session && !ask->before_setup) {
        /* SPEC §9: a one-time password allows nothing but changing it (and two-factor set-up). */
        ENSURE(!who->user.must_change_password, CST_ERR_PASSWORD_CHANGE_REQUIRED,
               "this account has a one-time password: change it with POST /v1/auth/password");
        /* IAM-3: who must have two-factor and has none may only enrol. */
        ENSURE(!who->mfa_required || who->user.totp_state == CST_TOTP_ACTIVE,
               CST_ERR_MFA_ENROLLMENT_REQUIRED,
               "two-factor authentication is required: enrol with POST /v1/auth/totp and "
               "confirm with POST /v1/auth/totp/confirm");
    }
    /* The rule for API tokens on the self-service (CST_PERM_SELF) routes: a token acts only
     * on itself (GET /v1/tokens shows it alone, DELETE /v1/tokens/{id} revokes it alone, see
     * api/tokens.c); anything beyond needs an explicit permission (tenant.admin); the routes
     * that act on the person, not on data (session_only), it cannot use at all. */
    ENSURE(who->token.session || !ask->session_only, CST_ERR_FORBIDDEN,
           "this route needs a login session, not an API token");
    /* IAM-8: a lockbox grant's credential reaches the tenant routes its scope names, nothing
     * that acts on a person or on credentials. */
    ENSURE(!who->grant.id[0] || ask->perm != CST_PERM_SELF, CST_ERR_FORBIDDEN,
           "a lockbox grant reaches only the tenant routes of its scope");
    if (ask->perm == CST_PERM_SELF)
        return CST_OK;
    /* IAM-8: operators hold no tenant-data rights; tenant users no operator rights. */
    ENSURE(who->is_operator == is_sys_perm(ask->perm), CST_ERR_FORBIDDEN,
           who->is_operator ? "operators have no access to tenant routes"
                            : "tenant credentials cannot use operator routes");
    ENSURE(who->perms & CST_PERM_BIT(ask->perm), CST_ERR_FORBIDDEN,
           "the credential lacks the permission for this route");
    return ask->bucket ? cst_authz_bucket(&who->user, ask->bucket) : CST_OK;
}

cst_err cst_authz_state(const cst_principal *who, unsigned access)
{
    return who->is_operator ? CST_OK : cst_tenant_permits(&who->tenant, access);
}

cst_err cst_authz_ip(const cst_cidr_list *operators, const cst_tenant_settings *s, bool is_operator,
                     const char *tenant_id, const char *client_ip)
{
    /* IAM-7: the tenant's allowlist for its principals, the node's for operators. */
    const cst_cidr_list *l = is_operator ? operators : &s->ip_allowlist;
    if (l->n == 0 || cst_cidr_list_match(l, client_ip))
        return CST_OK;
    cst_warn("ip_not_allowed: %s %s from %s", is_operator ? "operator" : "tenant",
             is_operator ? "-" : tenant_id, client_ip);
    return cst_fail(CST_ERR_IP_NOT_ALLOWED, "requests from %s are not allowed for this %s",
                    client_ip, is_operator ? "operator" : "tenant");
}
