/* sign.c: Ed25519 keys and signatures over libsodium. */
#include "crypto/sign.h"

#include <sodium.h>
#include <string.h>

#include "crypto/keys.h"
#include "util/buf.h"
#include "util/util.h"

_Static_assert(CST_SIGN_PK_LEN == crypto_sign_PUBLICKEYBYTES, "Ed25519 public key size");
_Static_assert(CST_SIGN_SK_LEN == crypto_sign_SECRETKEYBYTES, "Ed25519 secret key size");
_Static_assert(CST_SIGN_LEN == crypto_sign_BYTES, "Ed25519 signature size");

/* The sealed secret key's AAD: a blob sealed for anything else does not open as one. */
#define SIGN_AAD "cst:node-sign:v1"

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

cst_err cst_sign_keypair(uint8_t pk[CST_SIGN_PK_LEN], uint8_t **sk)
{
    *sk = sodium_malloc(CST_SIGN_SK_LEN);
    ENSURE(*sk != NULL, CST_ERR_INTERNAL, "cannot allocate locked memory");
    crypto_sign_keypair(pk, *sk);
    return CST_OK;
}

void cst_sign_key_free(uint8_t *sk)
{
    sodium_free(sk); /* wipes before it releases */
}

void cst_sign_public_hex(const uint8_t *sk, char hex[CST_SIGN_PK_HEX])
{
    cst_hex(sk + CST_SIGN_SK_LEN - CST_SIGN_PK_LEN, CST_SIGN_PK_LEN, hex);
}

cst_err cst_sign_key_save(const char *key_path, const char *pub_path, const cst_key *kek,
                          const uint8_t *sk, char pk_hex[CST_SIGN_PK_HEX])
{
    cst_buf aad, blob;
    cst_buf_init(&aad, 64);
    cst_buf_init(&blob, 256);
    cst_err e = cst_buf_append(&aad, SIGN_AAD, sizeof(SIGN_AAD) - 1);
    if (e == CST_OK)
        e = cst_seal(kek, &aad, sk, CST_SIGN_SK_LEN, &blob);
    if (e == CST_OK)
        e = cst_file_create(key_path, blob.data, blob.len, 0600);
    cst_sign_public_hex(sk, pk_hex);
    if (e == CST_OK) {
        char line[80];
        int n = snprintf(line, sizeof(line), "%s\n", pk_hex);
        e = cst_file_create(pub_path, line, (size_t)n, 0644);
    }
    cst_buf_free(&aad);
    cst_buf_free(&blob);
    return e;
}

cst_err cst_sign_public_key_load(const char *pub_path, uint8_t pk[CST_SIGN_PK_LEN])
{
    cst_buf text;
    TRY(cst_file_read(pub_path, 256, &text));
    char hex[CST_SIGN_PK_HEX] = "";
    size_t n = text.len;
    while (n > 0 && (text.data[n - 1] == '\n' || text.data[n - 1] == '\r'))
        n--;
    if (n == sizeof(hex) - 1)
        memcpy(hex, text.data, n);
    cst_buf_free(&text);
    ENSURE(hex[0] && cst_unhex(hex, pk, CST_SIGN_PK_LEN) == CST_OK, CST_ERR_INVALID,
           "%s does not hold an Ed25519 public key (64 hex digits)", pub_path);
    return CST_OK;
}

cst_err cst_sign_key_load(const char *key_path, const char *pub_path, const cst_key *kek,
                          uint8_t **sk, uint8_t pk[CST_SIGN_PK_LEN])
{
    cst_buf blob, aad, pt;
    TRY(cst_sign_public_key_load(pub_path, pk));
    TRY(cst_file_read(key_path, 4096, &blob));
    cst_buf_init(&aad, 64);
    cst_buf_init(&pt, 256);
    cst_err e = cst_buf_append(&aad, SIGN_AAD, sizeof(SIGN_AAD) - 1);
    if (e == CST_OK)
        e = cst_open(kek, &aad, blob.data, blob.len, &pt);
    if (e == CST_OK && pt.len != CST_SIGN_SK_LEN)
        e = cst_fail(CST_ERR_INTEGRITY, "%s does not hold an Ed25519 key", key_path);
    /* the secret key's second half is the public key: the pair must match */
    if (e == CST_OK &&
        sodium_memcmp(pt.data + CST_SIGN_SK_LEN - CST_SIGN_PK_LEN, pk, CST_SIGN_PK_LEN) != 0)
        e = cst_fail(CST_ERR_INTEGRITY, "%s and %s do not match", base_name(key_path),
                     base_name(pub_path));
    if (e == CST_OK) {
        *sk = sodium_malloc(CST_SIGN_SK_LEN);
        if (!*sk)
            e = cst_fail(CST_ERR_INTERNAL, "cannot allocate locked memory");
        else
            memcpy(*sk, pt.data, CST_SIGN_SK_LEN);
    }
    cst_buf_wipe_free(&pt);
    cst_buf_free(&aad);
    cst_buf_free(&blob);
    return e;
}

void cst_sign(const uint8_t *sk, const void *m, size_t n, uint8_t sig[CST_SIGN_LEN])
{
    crypto_sign_detached(sig, NULL, m, n, sk);
}

bool cst_sign_verify(const uint8_t pk[CST_SIGN_PK_LEN], const void *m, size_t n,
                     const uint8_t sig[CST_SIGN_LEN])
{
    return crypto_sign_verify_detached(sig, m, n, pk) == 0;
}
