/* keys.h: custodia's key hierarchy and on-disk ciphertext formats (ENC-1, SPEC §5).
 *
 *   KEK (crypto/master.h: a file or command's 32 bytes, or a key in a PKCS#11 token)
 *    -> per-tenant keys, stored only wrapped: the DEK (purpose "dek") encrypts records, the
 *       index key (purpose "idx") computes blind indexes. Wrap AAD binds tenant, purpose and
 *       version, so a wrapped key moved to another tenant or slot fails to unwrap.
 *    -> record fields sealed with AES-256-GCM, random 96-bit nonce, AAD binding tenant, bucket,
 *       blind index, record version and field, so a ciphertext moved to another tenant,
 *       bucket, key, version or field fails to open.
 *
 * Sealed blob format v1: 0x01 || nonce (12) || ciphertext || tag (16). Pinned by known-answer
 * tests in tests/unit/test_keys.c. */
#ifndef CST_KEYS_H
#define CST_KEYS_H

#include <stdint.h>

#include "crypto/crypto.h"
#include "crypto/master.h"
#include "util/buf.h"

#define CST_SEAL_VERSION 1
#define CST_SEAL_OVERHEAD (1 + CST_NONCE_LEN + CST_TAG_LEN)
#define CST_KEK_ID_LEN 16 /* hex characters */

/* Loads the KEK. Refuses, with a message naming the problem, a file that is a symlink, not a
 * regular file, readable or writable by group or others, not exactly 32 bytes, or inside
 * data_dir. */
CST_MUST_USE cst_err cst_kek_load(const char *path, const char *data_dir, cst_key *kek);
/* Creates a new KEK file (mode 0600), failing if it exists. */
CST_MUST_USE cst_err cst_kek_create(const char *path, const char *data_dir);
/* A non-secret identifier of a KEK: the first 8 bytes of HMAC(KEK, "custodia kek id"), hex. */
void cst_kek_id(const cst_key *kek, char out[CST_KEK_ID_LEN + 1]);

/* Seals pt under key with a random nonce, appending the v1 blob to out. */
CST_MUST_USE cst_err cst_seal(const cst_key *key, const cst_buf *aad, const uint8_t *pt,
                              size_t ptlen, cst_buf *out);
/* The same with a caller's nonce: only for known-answer tests. */
CST_MUST_USE cst_err cst_seal_with_nonce(const cst_key *key, const uint8_t nonce[CST_NONCE_LEN],
                                         const cst_buf *aad, const uint8_t *pt, size_t ptlen,
                                         cst_buf *out);
/* Opens a v1 blob into out (wipe it when done). CST_ERR_INTEGRITY on any mismatch. */
CST_MUST_USE cst_err cst_open(const cst_key *key, const cst_buf *aad, const uint8_t *blob,
                              size_t bloblen, cst_buf *out);

/* AAD of a wrapped tenant key. */
CST_MUST_USE cst_err cst_aad_wrap(cst_buf *aad, const char *tenant_id, const char *purpose,
                                  uint32_t version);
/* AAD of a record field ('m' metadata: key and content type; 'v' value). */
CST_MUST_USE cst_err cst_aad_record(cst_buf *aad, char field, const char *tenant_id,
                                    const char *bucket, const uint8_t bidx[CST_HASH_LEN],
                                    uint64_t version);

/* Wraps a fresh random tenant key under the KEK (in the token with pkcs11:); out receives the
 * blob (master.h's formats). */
CST_MUST_USE cst_err cst_wrap_new_key(cst_master *kek, const char *tenant_id, const char *purpose,
                                      uint32_t version, cst_buf *out);
CST_MUST_USE cst_err cst_unwrap_key(cst_master *kek, const char *tenant_id, const char *purpose,
                                    uint32_t version, const uint8_t *blob, size_t bloblen,
                                    cst_key *out);
/* ENC-4 (KEK rotation): the key in blob, unwrapped by from and wrapped by to (appends to out);
 * the same associated data, so the same tenant, purpose and version. */
CST_MUST_USE cst_err cst_rewrap_key(cst_master *from, cst_master *to, const char *tenant_id,
                                    const char *purpose, uint32_t version, const uint8_t *blob,
                                    size_t bloblen, cst_buf *out);

/* Blind index: HMAC-SHA256(index_key, bucket || 0x00 || key). The NUL separator makes the
 * pair unambiguous (bucket names and record keys never contain NUL). */
void cst_blind_index(const cst_key *idx_key, const char *bucket, const uint8_t *key, size_t keylen,
                     uint8_t out[CST_HASH_LEN]);

#endif
