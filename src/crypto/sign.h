/* sign.h: Ed25519 keys and signatures (libsodium): the node's signing key, its secret half
 * sealed under the KEK on disk and its public half beside it in the clear, and detached
 * signatures over certificates of deletion and backups. Nothing else calls crypto_sign_*. */
#ifndef CST_SIGN_H
#define CST_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/err.h"

#define CST_SIGN_PK_LEN 32
#define CST_SIGN_SK_LEN 64 /* seed || public key */
#define CST_SIGN_LEN 64
#define CST_SIGN_PK_HEX (2 * CST_SIGN_PK_LEN + 1)

/* A new key pair. *sk (CST_SIGN_SK_LEN bytes) is in locked memory: the caller releases it
 * with cst_sign_key_free. */
CST_MUST_USE cst_err cst_sign_keypair(uint8_t pk[CST_SIGN_PK_LEN], uint8_t **sk);
/* Wipes and releases a secret key (NULL is fine). */
void cst_sign_key_free(uint8_t *sk);

/* Writes sk sealed under kek to key_path (mode 0600) and its public key as hex and a newline
 * to pub_path (mode 0644); neither file may exist. pk_hex receives the public key. */
CST_MUST_USE cst_err cst_sign_key_save(const char *key_path, const char *pub_path,
                                       const cst_key *kek, const uint8_t *sk,
                                       char pk_hex[CST_SIGN_PK_HEX]);
/* The public key of a .pub file: 64 hex digits and an optional line end. */
CST_MUST_USE cst_err cst_sign_public_key_load(const char *pub_path, uint8_t pk[CST_SIGN_PK_LEN]);
/* The key pair: pk from pub_path, *sk unsealed from key_path with kek (locked memory, the
 * caller releases it with cst_sign_key_free); CST_ERR_INTEGRITY unless they match. */
CST_MUST_USE cst_err cst_sign_key_load(const char *key_path, const char *pub_path,
                                       const cst_key *kek, uint8_t **sk,
                                       uint8_t pk[CST_SIGN_PK_LEN]);
/* The public key of a secret key, as hex. */
void cst_sign_public_hex(const uint8_t *sk, char hex[CST_SIGN_PK_HEX]);

/* A detached signature over m. */
void cst_sign(const uint8_t *sk, const void *m, size_t n, uint8_t sig[CST_SIGN_LEN]);
/* True when sig is pk's signature over m. */
CST_MUST_USE bool cst_sign_verify(const uint8_t pk[CST_SIGN_PK_LEN], const void *m, size_t n,
                                  const uint8_t sig[CST_SIGN_LEN]);

#endif
