/* audit_detail.h: LOG-1. The tenant-identifying details of an audit entry (bucket names, record
 * keys, usernames, setting values) sealed under the tenant's DEK, bound to the tenant and the
 * request, so that a crypto-erase of the tenant erases them from the log too while the chain
 * still verifies. Which key is the caller's choice (the DEK, or the node's own audit key). */
#ifndef CST_CORE_AUDIT_DETAIL_H
#define CST_CORE_AUDIT_DETAIL_H

#include <jansson.h>
#include <stdint.h>

#include "crypto/keys.h"

/* {"kv": key_version, "ct": base64 of the sealed canonical JSON of detail}, or NULL when it
 * cannot be sealed. tenant may be NULL (a detail of no tenant). */
json_t *cst_audit_detail_seal(const cst_key *key, uint32_t key_version, const char *tenant,
                              const char *request_id, const json_t *detail);
/* The detail sealed in ct (base64), opened under key; NULL when it does not verify. */
json_t *cst_audit_detail_open(const cst_key *key, const char *tenant, const char *request_id,
                              const char *ct);

#endif
