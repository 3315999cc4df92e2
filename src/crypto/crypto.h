/* crypto.h: the thin adapter over GnuTLS (AES-256-GCM, SHA-256, HMAC, HKDF, random) and
 * libsodium (locked key memory, wiping). Nothing else in custodia calls those libraries'
 * symmetric primitives directly. */
#ifndef CST_CRYPTO_H
#define CST_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define CST_KEY_LEN 32
#define CST_NONCE_LEN 12
#define CST_TAG_LEN 16
#define CST_HASH_LEN 32

/* A 256-bit secret in locked, guarded memory (a slot of a sodium_malloc'ed slab: see
 * crypto.c). Wiped and released by cst_key_free; a zeroed struct is "no key" and safe to free. */
typedef struct cst_key {
    uint8_t *k;
} cst_key;

CST_MUST_USE cst_err cst_crypto_init(void);
CST_MUST_USE cst_err cst_key_alloc(cst_key *key);
/* A key holding the len bytes at p (an unwrapped key): CST_ERR_INTEGRITY naming what when len
 * is not CST_KEY_LEN. */
CST_MUST_USE cst_err cst_key_from(const uint8_t *p, size_t len, const char *what, cst_key *out);
CST_MUST_USE cst_err cst_key_random(cst_key *key);
void cst_key_free(cst_key *key);

CST_MUST_USE cst_err cst_random(void *p, size_t n);

/* AES-256-GCM. out receives ptlen + CST_TAG_LEN bytes (ciphertext || tag). */
CST_MUST_USE cst_err cst_aead_seal(const uint8_t key[CST_KEY_LEN],
                                   const uint8_t nonce[CST_NONCE_LEN], const uint8_t *aad,
                                   size_t aadlen, const uint8_t *pt, size_t ptlen, uint8_t *out);
/* Fails with CST_ERR_INTEGRITY when the tag does not verify; out receives ctlen - 16 bytes. */
CST_MUST_USE cst_err cst_aead_open(const uint8_t key[CST_KEY_LEN],
                                   const uint8_t nonce[CST_NONCE_LEN], const uint8_t *aad,
                                   size_t aadlen, const uint8_t *ct, size_t ctlen, uint8_t *out);

void cst_sha256(const void *p, size_t n, uint8_t out[CST_HASH_LEN]);
/* Incremental SHA-256 for data that streams (backups). */
typedef struct cst_sha256_ctx {
    void *h;
} cst_sha256_ctx;
CST_MUST_USE cst_err cst_sha256_init(cst_sha256_ctx *c);
void cst_sha256_update(cst_sha256_ctx *c, const void *p, size_t n);
/* Writes the digest and releases the context. */
void cst_sha256_final(cst_sha256_ctx *c, uint8_t out[CST_HASH_LEN]);
/* Releases a context without a digest (safe on a zeroed or finished one). */
void cst_sha256_abort(cst_sha256_ctx *c);
void cst_hmac_sha256(const uint8_t *key, size_t keylen, const void *p, size_t n,
                     uint8_t out[CST_HASH_LEN]);
/* HMAC-SHA256 over the concatenation a || b. */
void cst_hmac_sha256_2(const uint8_t *key, size_t keylen, const void *a, size_t alen, const void *b,
                       size_t blen, uint8_t out[CST_HASH_LEN]);
/* HKDF-SHA256 (RFC 5869) extract-then-expand. */
CST_MUST_USE cst_err cst_hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const char *info,
                                     uint8_t *out, size_t outlen);

/* A name-based UUID (RFC 4122 section 4.3, version 5: SHA-1 of the namespace and the name),
 * written lowercase as 36 characters and a NUL. An identifier, not a security function: the
 * OSCAL rendering of the report (report/oscal.c) names its parts with it, so that the same
 * report always yields the same document. */
CST_MUST_USE cst_err cst_uuid5(const uint8_t ns[16], const char *name, char out[37]);

#endif
