/* crypto.c: GnuTLS and libsodium behind custodia's own types. */
#include "crypto/crypto.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

/* jansson holds request bodies, passwords included: every JSON allocation is wiped when freed.
 * The size lives in a header in front of the block. */
typedef union json_block {
    size_t size;
    max_align_t align;
} json_block;

static void *json_alloc_wiped(size_t n)
{
    if (n > SIZE_MAX - sizeof(json_block))
        return NULL;
    json_block *b = malloc(sizeof(json_block) + n);
    if (!b)
        return NULL;
    b->size = n;
    return b + 1;
}

static void json_free_wiped(void *p)
{
    if (!p)
        return;
    json_block *b = (json_block *)p - 1;
    sodium_memzero(p, b->size);
    free(b);
}

cst_err cst_crypto_init(void)
{
    json_set_alloc_funcs(json_alloc_wiped, json_free_wiped);
    ENSURE(sodium_init() >= 0, CST_ERR_INTERNAL, "libsodium failed to initialise");
    ENSURE(gnutls_global_init() == GNUTLS_E_SUCCESS, CST_ERR_INTERNAL,
           "GnuTLS failed to initialise");
    return CST_OK;
}

/* Keys live in slabs of locked, guarded memory (sodium_malloc: mlock'ed, guard pages around
 * each slab), a slot per key; a freed key is wiped at once and its slot reused, and slabs stay
 * for the life of the process (their number follows the most keys ever held at once). One
 * sodium_malloc per key cost an mmap, three mprotect and an munmap, each a TLB shoot-down on
 * every core, whenever a tenant store was opened or evicted. A free slot holds the next free
 * slot's address, nothing secret. */
#define KEY_SLAB_KEYS 127 /* with sodium's canary, one page */

typedef union key_slot {
    union key_slot *next;
    uint8_t k[CST_KEY_LEN];
} key_slot;

static struct {
    pthread_mutex_t mu;
    key_slot *free;
} keys = {PTHREAD_MUTEX_INITIALIZER, NULL};

cst_err cst_key_alloc(cst_key *key)
{
    pthread_mutex_lock(&keys.mu);
    if (!keys.free) {
        key_slot *slab = sodium_allocarray(KEY_SLAB_KEYS, sizeof(key_slot));
        for (size_t i = 0; slab && i < KEY_SLAB_KEYS; i++)
            slab[i].next = i + 1 < KEY_SLAB_KEYS ? &slab[i + 1] : NULL;
        keys.free = slab;
    }
    key_slot *s = keys.free;
    if (s)
        keys.free = s->next;
    pthread_mutex_unlock(&keys.mu);
    ENSURE(s != NULL, CST_ERR_INTERNAL, "cannot allocate locked memory for a key");
    sodium_memzero(s, sizeof(*s));
    key->k = s->k;
    return CST_OK;
}

cst_err cst_key_random(cst_key *key)
{
    TRY(cst_key_alloc(key));
    cst_err e = cst_random(key->k, CST_KEY_LEN);
    if (e != CST_OK)
        cst_key_free(key);
    return e;
}

void cst_key_free(cst_key *key)
{
    if (!key->k)
        return;
    key_slot *s = (key_slot *)(void *)key->k;
    sodium_memzero(s, sizeof(*s));
    pthread_mutex_lock(&keys.mu);
    s->next = keys.free;
    keys.free = s;
    pthread_mutex_unlock(&keys.mu);
    key->k = NULL;
}

cst_err cst_random(void *p, size_t n)
{
    ENSURE(gnutls_rnd(GNUTLS_RND_KEY, p, n) == 0, CST_ERR_INTERNAL, "random generator failed");
    return CST_OK;
}

static cst_err aead_handle(const uint8_t key[CST_KEY_LEN], gnutls_aead_cipher_hd_t *h)
{
    gnutls_datum_t k = {(unsigned char *)key, CST_KEY_LEN};
    ENSURE(gnutls_aead_cipher_init(h, GNUTLS_CIPHER_AES_256_GCM, &k) == 0, CST_ERR_INTERNAL,
           "AES-256-GCM unavailable");
    return CST_OK;
}

cst_err cst_aead_seal(const uint8_t key[CST_KEY_LEN], const uint8_t nonce[CST_NONCE_LEN],
                      const uint8_t *aad, size_t aadlen, const uint8_t *pt, size_t ptlen,
                      uint8_t *out)
{
    gnutls_aead_cipher_hd_t h;
    TRY(aead_handle(key, &h));
    size_t outlen = ptlen + CST_TAG_LEN;
    int rc = gnutls_aead_cipher_encrypt(h, nonce, CST_NONCE_LEN, aad, aadlen, CST_TAG_LEN, pt,
                                        ptlen, out, &outlen);
    gnutls_aead_cipher_deinit(h);
    ENSURE(rc == 0 && outlen == ptlen + CST_TAG_LEN, CST_ERR_INTERNAL, "encryption failed");
    return CST_OK;
}

cst_err cst_aead_open(const uint8_t key[CST_KEY_LEN], const uint8_t nonce[CST_NONCE_LEN],
                      const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t ctlen,
                      uint8_t *out)
{
    ENSURE(ctlen >= CST_TAG_LEN, CST_ERR_INTEGRITY, "ciphertext too short");
    gnutls_aead_cipher_hd_t h;
    TRY(aead_handle(key, &h));
    size_t outlen = ctlen - CST_TAG_LEN;
    int rc = gnutls_aead_cipher_decrypt(h, nonce, CST_NONCE_LEN, aad, aadlen, CST_TAG_LEN, ct,
                                        ctlen, out, &outlen);
    gnutls_aead_cipher_deinit(h);
    if (rc != 0) {
        sodium_memzero(out, ctlen - CST_TAG_LEN);
        return cst_fail(CST_ERR_INTEGRITY, "stored data failed authentication");
    }
    return CST_OK;
}

void cst_sha256(const void *p, size_t n, uint8_t out[CST_HASH_LEN])
{
    (void)gnutls_hash_fast(GNUTLS_DIG_SHA256, p, n, out);
}

cst_err cst_uuid5(const uint8_t ns[16], const char *name, char out[37])
{
    uint8_t h[20]; /* SHA-1: what version 5 is defined with */
    gnutls_hash_hd_t d = NULL;
    ENSURE(gnutls_hash_init(&d, GNUTLS_DIG_SHA1) == 0, CST_ERR_INTERNAL, "SHA-1 is unavailable");
    (void)gnutls_hash(d, ns, 16);
    (void)gnutls_hash(d, name, strlen(name));
    gnutls_hash_deinit(d, h);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x50); /* version 5 */
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80); /* the RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[h[i] >> 4];
        out[o++] = hex[h[i] & 15];
    }
    out[o] = '\0';
    return CST_OK;
}

cst_err cst_sha256_init(cst_sha256_ctx *c)
{
    gnutls_hash_hd_t h = NULL;
    ENSURE(gnutls_hash_init(&h, GNUTLS_DIG_SHA256) == 0, CST_ERR_INTERNAL,
           "cannot start a SHA-256 digest");
    c->h = h;
    return CST_OK;
}

void cst_sha256_update(cst_sha256_ctx *c, const void *p, size_t n)
{
    if (n)
        (void)gnutls_hash((gnutls_hash_hd_t)c->h, p, n);
}

void cst_sha256_final(cst_sha256_ctx *c, uint8_t out[CST_HASH_LEN])
{
    gnutls_hash_deinit((gnutls_hash_hd_t)c->h, out);
    c->h = NULL;
}

void cst_sha256_abort(cst_sha256_ctx *c)
{
    if (c->h)
        gnutls_hash_deinit((gnutls_hash_hd_t)c->h, NULL);
    c->h = NULL;
}

void cst_hmac_sha256(const uint8_t *key, size_t keylen, const void *p, size_t n,
                     uint8_t out[CST_HASH_LEN])
{
    (void)gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, keylen, p, n, out);
}

void cst_hmac_sha256_2(const uint8_t *key, size_t keylen, const void *a, size_t alen, const void *b,
                       size_t blen, uint8_t out[CST_HASH_LEN])
{
    gnutls_hmac_hd_t h;
    if (gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, key, keylen) != 0) {
        /* Only on allocation failure; a value no lookup can match fails safe. */
        memset(out, 0xff, CST_HASH_LEN);
        return;
    }
    (void)gnutls_hmac(h, a, alen);
    (void)gnutls_hmac(h, b, blen);
    gnutls_hmac_deinit(h, out);
}

cst_err cst_hkdf_sha256(const uint8_t *ikm, size_t ikmlen, const char *info, uint8_t *out,
                        size_t outlen)
{
    uint8_t prk[CST_HASH_LEN];
    static const uint8_t salt[CST_HASH_LEN]; /* RFC 5869: absent salt is HashLen zeros */
    gnutls_datum_t k = {(unsigned char *)ikm, (unsigned)ikmlen};
    gnutls_datum_t s = {(unsigned char *)salt, sizeof(salt)};
    int rc = gnutls_hkdf_extract(GNUTLS_MAC_SHA256, &k, &s, prk);
    if (rc == 0) {
        gnutls_datum_t p = {prk, sizeof(prk)};
        gnutls_datum_t i = {(unsigned char *)info, (unsigned)strlen(info)};
        rc = gnutls_hkdf_expand(GNUTLS_MAC_SHA256, &p, &i, out, outlen);
    }
    sodium_memzero(prk, sizeof(prk));
    ENSURE(rc == 0, CST_ERR_INTERNAL, "HKDF failed");
    return CST_OK;
}

cst_err cst_key_from(const uint8_t *p, size_t len, const char *what, cst_key *out)
{
    ENSURE(len == CST_KEY_LEN, CST_ERR_INTEGRITY, "%s is not a %d-byte key", what, CST_KEY_LEN);
    TRY(cst_key_alloc(out));
    memcpy(out->k, p, CST_KEY_LEN);
    return CST_OK;
}
