/* keys.h: ENC-4, DEK rotation of a serving node.
 *
 * A rotation stores a new wrapped DEK version and the tenant's re-encryption row (system.db
 * key_rewrap, state running) in one unit of work; when it commits the version becomes current
 * in the open tenant's ring, so every write after it seals under the new version. The key
 * worker thread then re-encrypts the tenant's records from older versions in batches of
 * keys.rewrap_batch (one short tenant-store transaction each, keys.rewrap_pause_ms apart),
 * keeping its progress in key_rewrap; a node that starts with a running row resumes it. At its
 * end it re-seals the tenant's users' TOTP secrets under the current version. The
 * worker also persists the encryption counts of the open tenants' current DEKs each tick and
 * rotates a DEK automatically at keys.max_encryptions_per_dek or keys.dek_max_age. */
#ifndef CST_NODE_KEYS_H
#define CST_NODE_KEYS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "node/node.h"

/* Makes DEK version (latest + 1) of the tenant in the unit of work w (NULL: its own
 * transaction) and starts its re-encryption; reason goes to the audit event ("manual",
 * "encryptions", "age"). *version and *running (either may be NULL) receive the new version
 * and whether it has records to re-encrypt. */
CST_MUST_USE cst_err cst_keys_rotate(cst_node *n, cst_work *w, const char *tenant_id,
                                     const char *reason, int64_t now, uint32_t *version,
                                     bool *running);
/* The key status of a tenant (SPEC §11): {kek_id, versions: [...], rewrap: {...}}. */
CST_MUST_USE cst_err cst_keys_status(cst_node *n, cst_work *w, const char *tenant_id, json_t **out);
/* One pass of the worker at now: persists counts, runs one re-encryption batch per running
 * tenant and, when check_all, evaluates the rotation rules for every tenant (else only for
 * the open ones). *busy: a re-encryption is still running. */
void cst_keys_tick(cst_node *n, int64_t now, bool check_all, bool *busy);
/* Starts and stops the key worker of a serving node. */
CST_MUST_USE cst_err cst_keys_start(cst_node *n);
void cst_keys_stop(cst_node *n);

#endif
