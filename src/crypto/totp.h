/* totp.h: TOTP two-factor codes (RFC 6238, SHA-1, 30 s steps) through liboath, and single-use
 * recovery codes (IAM-3). Time is passed in, so tests inject the clock. */
#ifndef CST_TOTP_H
#define CST_TOTP_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/err.h"

#define CST_TOTP_SECRET_LEN 20
#define CST_TOTP_STEP 30
#define CST_TOTP_DIGITS 6
#define CST_TOTP_WINDOW 1 /* steps accepted either side of now */
#define CST_RECOVERY_CODES 10
#define CST_RECOVERY_CODE_LEN 29 /* 6 groups of 4 base32 characters: 120 bits */

CST_MUST_USE cst_err cst_totp_init(void);
/* The code of one time step (step = unix seconds / 30). */
CST_MUST_USE cst_err cst_totp_code(const uint8_t *secret, size_t len, int64_t step,
                                   unsigned digits, char out[16]);
/* Checks code against the steps around now_s (±CST_TOTP_WINDOW). A code of a step at or
 * before last_step is refused (each code works once). On success *step is the matched step,
 * which the caller must record as the new last_step. */
CST_MUST_USE cst_err cst_totp_verify(const uint8_t *secret, size_t len, const char *code,
                                     int64_t now_s, int64_t last_step, int64_t *step);
/* Base32 of the secret (for authenticator apps) and the otpauth:// URI. */
CST_MUST_USE cst_err cst_totp_uri(const uint8_t *secret, size_t len, const char *issuer,
                                  const char *account, char *b32, size_t b32n, char *uri,
                                  size_t urin);
/* A random recovery code "XXXX-XXXX-XXXX-XXXX-XXXX-XXXX" (base32, 120 bits). */
CST_MUST_USE cst_err cst_recovery_code(char out[CST_RECOVERY_CODE_LEN + 1]);
/* SHA-256 of a recovery code after normalising (dashes and spaces dropped, upper case). */
void cst_recovery_hash(const char *code, uint8_t out[CST_HASH_LEN]);

#endif
