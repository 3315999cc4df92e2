/* master.h: the master key (KEK) behind one interface, whatever holds it (ENC-4, SPEC §5):
 *
 *   file:PATH     32 bytes in a file outside the data dir (the checks of cst_kek_load);
 *   command:CMD   a program that prints the 32 bytes in base64 (a cloud KMS, Vault's CLI);
 *   pkcs11:URI    an AES-256 key in a PKCS#11 token that never leaves it: wrapping and
 *                 unwrapping are AES-256-GCM operations of the token (kek_pkcs11.c).
 *
 * Wrapped blobs say which kind of KEK made them and, except the first format, which KEK:
 *   0x01 || nonce (12) || ct || tag         v1: by the KEK's bytes (data dirs made before the
 *                                            other formats; read, never written)
 *   0x03 || kek id (8) || nonce || ct || tag by the KEK's bytes (file:, command:)
 *   0x02 || kek id (8) || iv (12) || ct || tag by a token (pkcs11:)
 * so a blob is never opened by the wrong kind of key, and KEK rotation can tell an old KEK's
 * blobs from a new one's (cst_master_blob_id): a node then holds two cst_master.
 *
 * The root key: secrets that need a key's bytes (the node's signing key, the audit epoch key,
 * the audit-detail and operator keys derived by HKDF, backup frames) use the root key: 32
 * random bytes that the KEK wraps in <data_dir>/root.key (init makes it, whatever the kind). In
 * file: and command: data dirs made before that, it is the KEK itself. A KEK rotation keeps the
 * root key's value and writes it to root.key wrapped by the new KEK, whatever the kinds; a
 * backup's header carries root.key, so that the KEK alone opens the backup. */
#ifndef CST_MASTER_H
#define CST_MASTER_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/buf.h"

#define CST_MASTER_ID_BYTES 8 /* the KEK id, CST_KEK_ID_LEN hex characters */
#define CST_MASTER_SOURCE_MAX 4096

typedef struct cst_master cst_master;

typedef struct cst_master_opts {
    const char *source;   /* file:PATH | command:CMD | pkcs11:URI */
    const char *data_dir; /* the file: checks refuse a key inside it; may be NULL */
    const char *pin_file; /* pkcs11: the PIN's file (mode 0600); empty: CUSTODIA_PKCS11_PIN */
    int command_timeout_s;
    bool create; /* custodia init: make the key (file:, pkcs11:) when it does not exist */
} cst_master_opts;

/* Opens the master key named by o->source; *out is freed with cst_master_close. */
CST_MUST_USE cst_err cst_master_open(const cst_master_opts *o, cst_master **out);
void cst_master_close(cst_master *m);
/* "file", "command" or "pkcs11". */
const char *cst_master_kind(const cst_master *m);
/* The KEK's non-secret id, CST_KEK_ID_LEN hex characters (the data dir's meta kek_id). */
const char *cst_master_id(const cst_master *m);

/* Wraps pt under the KEK with aad, appending a blob to out. */
CST_MUST_USE cst_err cst_master_wrap(cst_master *m, const cst_buf *aad, const uint8_t *pt,
                                     size_t ptlen, cst_buf *out);
/* Unwraps a blob into out (wipe it when done); CST_ERR_INTEGRITY on any mismatch, with a
 * message naming the KEK a blob needs when it is another one. */
CST_MUST_USE cst_err cst_master_unwrap(cst_master *m, const cst_buf *aad, const uint8_t *blob,
                                       size_t bloblen, cst_buf *out);
/* The id (hex) of the KEK that wrapped blob; false for a v1 blob, which names none. */
bool cst_master_blob_id(const uint8_t *blob, size_t bloblen, char out[2 * CST_MASTER_ID_BYTES + 1]);

/* The root key (see above) into out: from <data_dir>/root.key when it exists; otherwise, for
 * file: and command:, the KEK's bytes. create makes root.key (a new data dir). */
CST_MUST_USE cst_err cst_master_root_key(cst_master *m, const char *data_dir, bool create,
                                         cst_key *out);

/* The root key from a blob as root.key holds it (what names it in errors). */
CST_MUST_USE cst_err cst_master_root_unwrap(cst_master *m, const uint8_t *blob, size_t len,
                                            const char *what, cst_key *out);
/* Wraps the root key under m as root.key holds it (appends to out). */
CST_MUST_USE cst_err cst_master_root_wrap(cst_master *m, const cst_key *root, cst_buf *out);

/* Reads the key a command prints (base64 of 32 bytes on stdout), killing it after timeout_s.
 * Exposed for tests; cst_master_open uses it for command:. */
CST_MUST_USE cst_err cst_master_run_command(const char *cmd, int timeout_s, cst_key *out);

#endif
