/* kek_pkcs11.h: the thin adapter over a PKCS#11 token (p11-kit loads the module) that holds the
 * KEK as a non-extractable AES-256 key and runs AES-256-GCM for master.c (ENC-4). GnuTLS 3.7's
 * PKCS#11 API handles certificates and private keys only, not encryption with a secret key. */
#ifndef CST_KEK_PKCS11_H
#define CST_KEK_PKCS11_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/crypto.h"

typedef struct cst_p11 cst_p11;

/* Opens the key named by uri (pkcs11:token=...;object=LABEL?module-path=...), logging in with
 * pin. With create, generates the key in the token when no object has the label. Refuses a key
 * that is extractable or not sensitive. id receives the key's CKA_ID (8 bytes). */
CST_MUST_USE cst_err cst_p11_open(const char *uri, const char *pin, bool create, cst_p11 **out,
                                  uint8_t id[8]);
void cst_p11_close(cst_p11 *p);
/* AES-256-GCM by the token: out receives ptlen + CST_TAG_LEN bytes (ciphertext || tag). */
CST_MUST_USE cst_err cst_p11_seal(cst_p11 *p, const uint8_t iv[CST_NONCE_LEN], const uint8_t *aad,
                                  size_t aadlen, const uint8_t *pt, size_t ptlen, uint8_t *out);
/* out receives ctlen - CST_TAG_LEN bytes; CST_ERR_INTEGRITY when the tag does not verify. */
CST_MUST_USE cst_err cst_p11_open_ct(cst_p11 *p, const uint8_t iv[CST_NONCE_LEN],
                                     const uint8_t *aad, size_t aadlen, const uint8_t *ct,
                                     size_t ctlen, uint8_t *out);
/* The key object's CKA_SENSITIVE and CKA_EXTRACTABLE, as the token reports them. */
CST_MUST_USE cst_err cst_p11_key_flags(cst_p11 *p, bool *sensitive, bool *extractable);

#endif
