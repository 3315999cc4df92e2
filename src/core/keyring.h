/* keyring.h: ENC-4, the DEK versions of an open tenant and the rules of their rotation.
 *
 * A tenant's records are sealed under its current DEK version; older versions stay in the ring
 * (unwrapped from system.db) so that records not yet re-encrypted, audit details and TOTP
 * secrets sealed under them still open. Versions are added, never removed, while the tenant
 * is open: readers take a key without a lock (the version is published after its key). */
#ifndef CST_CORE_KEYRING_H
#define CST_CORE_KEYRING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/keys.h"
#include "util/err.h"

/* The most DEK versions a tenant holds; a rotation beyond it is refused (CST_ERR_CONFLICT). */
#define CST_DEK_VERSIONS_MAX 64

typedef struct cst_dek_ring {
    cst_key keys[CST_DEK_VERSIONS_MAX];
    uint32_t versions[CST_DEK_VERSIONS_MAX];
    _Atomic size_t n;
    _Atomic uint32_t current;
    /* encryptions under the current version: known in all (persisted at open plus counted
     * since) and not yet persisted (the key worker adds them to system.db each tick) */
    _Atomic int64_t encryptions;
    _Atomic int64_t unflushed;
} cst_dek_ring;

/* The key of a version, or NULL when the ring does not hold it. */
const cst_key *cst_dek_get(const cst_dek_ring *r, uint32_t version);
/* The current key and its version; counts n encryptions under it. */
const cst_key *cst_dek_use(cst_dek_ring *r, uint32_t *version, int64_t n);
uint32_t cst_dek_current(const cst_dek_ring *r);
/* Adds a version (taking key over; the caller's struct is cleared). current: it becomes the
 * version new seals use (unless a newer one is current already), with encryptions already
 * counted (persisted) under it. One adder at a time (the caller serialises). */
CST_MUST_USE cst_err cst_dek_add(cst_dek_ring *r, uint32_t version, cst_key *key, bool current,
                                 int64_t encryptions);
/* Wipes the keys (keeps them allocated: a reader may still hold one); free releases them. */
void cst_dek_wipe(cst_dek_ring *r);
void cst_dek_free(cst_dek_ring *r);
/* Takes the encryptions not yet persisted (and the version they were under). */
int64_t cst_dek_take_unflushed(cst_dek_ring *r, uint32_t *version);

/* ---- rules (pure; times in microseconds, now injected) ---- */

/* Why a DEK version with this many encryptions, created at created_at, must be replaced at now:
 * "encryptions" at max_encryptions or more, "age" at max_age_us or older (0: no limit), NULL
 * when it may stay current. */
const char *cst_dek_rotation_due(int64_t encryptions, int64_t created_at, int64_t now,
                                 int64_t max_encryptions, int64_t max_age_us);
/* The state of a version (SPEC §11): "current" for the current one; an older one "retiring"
 * while records still use it, "retired" when none does; "destroyed" when its key is gone. */
const char *cst_dek_state(uint32_t version, uint32_t current, int64_t records, bool key_present);

#endif
