/* roles.h: roles and the permissions each grants (IAM-4), and permission names for tokens. */
#ifndef CST_ROLES_H
#define CST_ROLES_H

#include <jansson.h>
#include <stdint.h>

#include "http/request.h"

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
/* Parses a JSON array of permission names; an unknown or non-grantable name fails. */
CST_MUST_USE cst_err cst_perms_parse(const json_t *arr, uint32_t *out);

#endif
