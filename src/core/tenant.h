/* tenant.h: a tenant as the domain sees it: its open context (store and unwrapped keys) and its
 * identity settings (two-factor policy, IP allowlist, session timeouts). */
#ifndef CST_CORE_TENANT_H
#define CST_CORE_TENANT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/keyring.h"
#include "crypto/keys.h"
#include "store/store.h"
#include "util/cidr.h"
#include "util/combine.h"
#include "util/err.h"

#define CST_SYS_TENANT "_sys" /* the pseudo-tenant operators log in to */

/* An open tenant: its store and keys (the node opens, holds and closes it: node.h). */
typedef struct cst_tenant_ctx {
    char id[CST_ID_MAX];
    cst_tstore *ts;
    cst_dek_ring deks; /* ENC-4: its DEK versions, the current one sealing new writes */
    cst_key idx;
    /* RET-4: requests (and export streams) holding the context; an erase waits for them */
    int users;
    bool closing;        /* an erase has begun: no new holders */
    bool closed;         /* store closed, keys wiped: the context only stays allocated */
    uint64_t last_used;  /* the node's tick at its last acquire (LRU of open contexts) */
    uint64_t keys_epoch; /* a shared store's epoch when its DEK versions were read (issue 20) */
    cst_combiner group;  /* its record writes' group commit (api/dispatch.c) */
} cst_tenant_ctx;

/* A tenant's identity settings, with the node's policy applied. */
typedef struct cst_tenant_settings {
    bool mfa_all;               /* two-factor for every user, not only owners and admins */
    cst_cidr_list ip_allowlist; /* IAM-7; empty allows all */
    int session_idle_seconds;   /* effective: never longer than the node's */
    int session_max_seconds;
} cst_tenant_settings;

/* A new tenant row (ISO-1, RES-1): its name valid ([a-z0-9_-]{1,64}, starting with a letter
 * or digit, not shaped like an id), pinned to the node's region (region, when given, must be
 * it), plan trial, free or paid (NULL: paid), active from now, with a fresh id. */
CST_MUST_USE cst_err cst_tenant_new(const char *name, const char *region, const char *plan,
                                    const char *node_region, int64_t now, cst_tenant_row *out);

/* Tenant settings from their stored JSON (NULL or "": the node's defaults). The node's session
 * limits (idle_max, session_max seconds) cap what the tenant stored. */
CST_MUST_USE cst_err cst_tenant_settings_load(const char *json, int idle_max, int session_max,
                                              cst_tenant_settings *out);

/* Validates a change to the settings (an object of the members to change): mfa_required
 * "admins" or "all"; ip_allowlist at most CST_CIDR_MAX CIDRs that still admit client_ip (IAM-7:
 * the admin making the change); session timeouts from 60 (idle) and 300 (max) seconds up to
 * the node's limits; INC-2: breach_notice_hours from 24 to max_notice_hours, notice_contacts
 * a list of email addresses (core/incident.h); IAM-6: review_no_response keep, revoke or
 * null (core/review.h). */
CST_MUST_USE cst_err cst_tenant_settings_check(const json_t *change, const char *client_ip,
                                               int idle_max, int session_max, int max_notice_hours);

#endif
