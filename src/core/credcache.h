/* credcache.h: the principal cache (IAM-5, issue 14): what a bearer check reads from the system
 * store (the token, user and tenant rows and the tenant's parsed settings), kept by token id so
 * that a request need not read them. Only the reads are cached, never a decision: core/authn.c
 * still compares the presented secret's hash and checks expiry, session timeouts, the user's
 * state and the IP allowlist on every request, from these rows. An entry is used only while the
 * store's principals generation (cst_store_principals_gen) is the one read before its rows were,
 * so any committed change to principals takes effect on the very next request. */
#ifndef CST_CORE_CREDCACHE_H
#define CST_CORE_CREDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/lockbox.h"
#include "core/tenant.h"
#include "store/store.h"
#include "util/err.h"

typedef struct cst_credcache cst_credcache;

/* The rows behind one credential, as the store held them at one generation (for a lockbox
 * grant's credential, user.grants holds the grant scope's buckets). */
typedef struct cst_cred {
    cst_token_row token;
    cst_user_row user;
    cst_tenant_row tenant;        /* empty for operators; a grant credential's: the grant's */
    cst_grant grant;              /* IAM-8: a lockbox grant credential's grant (else empty) */
    cst_tenant_settings settings; /* parsed under the node limits below */
    int idle_max, session_max;    /* the node's session limits at the time (cst_authn_policy) */
} cst_cred;

/* A cache of at most entries credentials (about 11 KiB each, allocated as they are used); *out
 * is NULL when entries is 0 (no cache: every lookup misses). Free with cst_credcache_free. */
CST_MUST_USE cst_err cst_credcache_new(size_t entries, cst_credcache **out);
/* Wipes and frees every entry (they hold token hashes and password hashes). NULL is fine. */
void cst_credcache_free(cst_credcache *c);
/* Copies the entry of token id into out and returns true when it was loaded at generation gen;
 * an entry of another generation is dropped (a miss). */
bool cst_credcache_get(cst_credcache *c, const char *id, uint64_t gen, cst_cred *out);
/* Keeps a copy of cred, whose rows were read after the generation gen was: it replaces an
 * entry of an older generation, never one of a newer; when the cache is full, the least
 * recently used entry makes room. Out of memory: nothing is cached. */
void cst_credcache_put(cst_credcache *c, const cst_cred *cred, uint64_t gen);
/* Records in the entry of token id a use the store has recorded (cst_store_token_touch at
 * token_used_at, cst_store_tenant_touch at tenant_active_at; 0: not recorded). Neither ever
 * moves back, and nothing changes when there is no entry. */
void cst_credcache_touched(cst_credcache *c, const char *id, int64_t token_used_at,
                           int64_t tenant_active_at);
/* The entries held. */
size_t cst_credcache_size(cst_credcache *c);

#endif
