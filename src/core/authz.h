/* authz.h: permissions, roles and the permissions each grants (IAM-4), permission names for
 * tokens, and the decisions: may a principal do a permission on a bucket (IAM-4, IAM-8), may it
 * call from an address (IAM-7). */
#ifndef CST_CORE_AUTHZ_H
#define CST_CORE_AUTHZ_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/tenant.h"
#include "store/store.h"
#include "util/cidr.h"
#include "util/err.h"

/* Permissions. A route declares one; CST_PERM_UNSET cannot be registered. Tokens carry a bit
 * set of the grantable ones (1u << perm). */
typedef enum cst_perm {
    CST_PERM_UNSET = 0,
    CST_PERM_PUBLIC,       /* no credential */
    CST_PERM_SELF,         /* any signed-in principal, acting on itself */
    CST_PERM_TENANT_READ,  /* read tenant settings */
    CST_PERM_TENANT_ADMIN, /* change tenant settings, manage users and all tokens */
    CST_PERM_BUCKETS_ADMIN,
    CST_PERM_RECORDS_READ,
    CST_PERM_RECORDS_WRITE,
    CST_PERM_USERS_ADMIN,     /* manage the tenant's users */
    CST_PERM_SYS_TENANTS,     /* operators: create and list tenants */
    CST_PERM_SYS_OPERATORS,   /* operators: manage operator accounts */
    CST_PERM_AUDIT_READ,      /* read the tenant's own audit trail (LOG-4) */
    CST_PERM_SYS_SECURITY,    /* operators: read and verify the node's audit log */
    CST_PERM_SYS_BACKUPS,     /* operators: take, list and verify backups, run drills */
    CST_PERM_SYS_REPORT,      /* operators: the node's compliance report (EVD-1) */
    CST_PERM_SYS_LOCKBOX,     /* operators: request lockbox access to a tenant (IAM-8) */
    CST_PERM_SYS_BREAK_GLASS, /* operators: emergency access to a tenant (IAM-8) */
    CST_PERM_SYS_KEYS,        /* operators: the node's master key and its rotation (ENC-4) */
    CST_PERM__COUNT
} cst_perm;

#define CST_PERM_BIT(p) (1u << (p))

typedef enum cst_role {
    CST_ROLE_OWNER = 0,
    CST_ROLE_ADMIN,
    CST_ROLE_WRITER,
    CST_ROLE_READER,
    CST_ROLE_AUDITOR,
    CST_ROLE_SYS_ADMIN,
    CST_ROLE_SYS_SECURITY,
    CST_ROLE_SYS_SUPPORT,
    CST_ROLE__COUNT
} cst_role;

#define CST_ROLE_BIT(r) (1u << (r))
#define CST_OPERATOR_ROLES                                                                         \
    (CST_ROLE_BIT(CST_ROLE_SYS_ADMIN) | CST_ROLE_BIT(CST_ROLE_SYS_SECURITY) |                      \
     CST_ROLE_BIT(CST_ROLE_SYS_SUPPORT))

#define CST_TENANT_ROLES                                                                           \
    (CST_ROLE_BIT(CST_ROLE_OWNER) | CST_ROLE_BIT(CST_ROLE_ADMIN) | CST_ROLE_BIT(CST_ROLE_WRITER) | \
     CST_ROLE_BIT(CST_ROLE_READER) | CST_ROLE_BIT(CST_ROLE_AUDITOR))
/* Roles that reach every bucket; writers and readers reach only their grants. */
#define CST_ALL_BUCKET_ROLES (CST_ROLE_BIT(CST_ROLE_OWNER) | CST_ROLE_BIT(CST_ROLE_ADMIN))
/* Roles that must use two-factor authentication whatever the tenant setting (IAM-3). */
#define CST_MFA_ROLES (CST_ROLE_BIT(CST_ROLE_OWNER) | CST_ROLE_BIT(CST_ROLE_ADMIN))

/* Parses a JSON array of role names into a bit set; a name outside allowed fails. */
CST_MUST_USE cst_err cst_roles_parse(const json_t *arr, uint32_t allowed, uint32_t *out);
/* The union of the permissions of a set of roles. */
uint32_t cst_roles_perms(uint32_t roles);
/* JSON array of role names. */
json_t *cst_roles_json(uint32_t roles);
/* JSON array of grantable permission names in a set. */
json_t *cst_perms_json(uint32_t perms);
/* IAM-4: a user's bucket grants, an array of at most 64 bucket names or ["*"], as the JSON
 * text stored in the user's row. */
CST_MUST_USE cst_err cst_grants_parse(const json_t *arr, char out[CST_GRANTS_JSON]);
/* IAM-4: a token holds no right its creator lacks: fails naming the permissions in wanted
 * that held does not include. */
CST_MUST_USE cst_err cst_perms_within(uint32_t wanted, uint32_t held);
/* Parses a JSON array of permission names; an unknown or non-grantable name fails. */
CST_MUST_USE cst_err cst_perms_parse(const json_t *arr, uint32_t *out);

/* IAM-4: the effective permissions of a credential: a login session holds its user's current
 * roles' permissions, an API token its own bits narrowed by them (so it holds at most its
 * creator's current rights). */
uint32_t cst_authz_effective(uint32_t roles, bool session, uint32_t token_perms);

/* What a request asks of authorization, from its route. */
typedef struct cst_authz_ask {
    cst_perm perm;
    const char *bucket; /* the bucket a bucket-scoped route acts on; NULL for other routes */
    bool before_setup;  /* open to a session with a one-time password or pending two-factor */
    bool session_only;  /* acts on the person: a login session only, never an API token */
} cst_authz_ask;

struct cst_principal; /* core/authn.h */

/* SPEC §9, IAM-3, IAM-4, IAM-8: may this authenticated principal do ask->perm (on ask->bucket);
 * CST_ERR_PASSWORD_CHANGE_REQUIRED, CST_ERR_MFA_ENROLLMENT_REQUIRED or CST_ERR_FORBIDDEN if
 * not. */
CST_MUST_USE cst_err cst_authz_check(const struct cst_principal *who, const cst_authz_ask *ask);
/* RET-2, RET-3: does the principal's tenant state still permit a request of this access
 * (CST_ACCESS_* bits, core/tenant_state.h); operators are not bound by a tenant's state.
 * CST_ERR_FORBIDDEN naming the state otherwise. */
CST_MUST_USE cst_err cst_authz_state(const struct cst_principal *who, unsigned access);
/* IAM-4: owners and admins reach every bucket; writers and readers only the buckets in their
 * grants ("*" for all): CST_ERR_FORBIDDEN otherwise. */
CST_MUST_USE cst_err cst_authz_bucket(const cst_user_row *u, const char *bucket);
/* IAM-7: is client_ip allowed: an operator's by the node's operator allowlist, a tenant
 * principal's by its tenant's (tenant_id, settings s); an empty list allows all.
 * CST_ERR_IP_NOT_ALLOWED (logged) if not. */
CST_MUST_USE cst_err cst_authz_ip(const cst_cidr_list *operators, const cst_tenant_settings *s,
                                  bool is_operator, const char *tenant_id, const char *client_ip);

#endif
