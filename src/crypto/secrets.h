/* secrets.h: passwords (Argon2id), bearer tokens and one-time passwords. */
#ifndef CST_SECRETS_H
#define CST_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/err.h"

#define CST_PWHASH_LEN 128 /* crypto_pwhash_STRBYTES */
#define CST_PW_MIN 14
#define CST_PW_MAX 128
#define CST_PW_HISTORY 4 /* a new password may not be any of the last 4 (current included) */
#define CST_PW_HISTORY_JSON 640

/* IAM-2: 14-128 characters, at least one letter and one digit, not containing the username or
 * the tenant name, not on the bundled common-password list (all case-insensitive), and not
 * guessable by zxcvbn's estimate (cst_password_strength). Fails with
 * CST_ERR_INVALID and a message naming the rule. */
CST_MUST_USE cst_err cst_password_check(const char *pw, const char *username,
                                        const char *tenant_name);
/* IAM-2: the least estimated guessing entropy (zxcvbn, in bits) a new password needs. 50 bits
 * is about 10^15 guesses: a walk, a date, a repeated or dictionary word with a year stays below
 * it; three or four unrelated words, or a generated password, are above. */
#define CST_PW_MIN_BITS 50
/* Refuses a password zxcvbn estimates below CST_PW_MIN_BITS, with username and tenant_name
 * (either may be NULL) as known words; the message names the patterns found. Part of
 * cst_password_check. */
CST_MUST_USE cst_err cst_password_strength(const char *pw, const char *username,
                                           const char *tenant_name);
/* True when pw (case-insensitively) is on the bundled common-password list. */
bool cst_password_is_common(const char *pw);
size_t cst_password_common_count(void);
/* Fails when pw matches one of the Argon2id hashes in history_json (a JSON array). */
CST_MUST_USE cst_err cst_password_history_check(const char *pw, const char *history_json);
/* history_json with hash added first, trimmed to CST_PW_HISTORY entries, into out. */
CST_MUST_USE cst_err cst_password_history_push(const char *history_json, const char *hash,
                                               char *out, size_t n);
/* Argon2id, 3 passes, 64 MiB (SPEC §9). out is a NUL-terminated encoded string. */
CST_MUST_USE cst_err cst_password_hash(const char *pw, char out[CST_PWHASH_LEN]);
/* True when pw matches hash. With hash == NULL it spends the same work and returns false, so
 * an unknown user costs what a known one does. */
bool cst_password_verify(const char *pw, const char *hash);
/* A random one-time password that passes cst_password_check: 24 characters. */
CST_MUST_USE cst_err cst_password_generate(char out[32]);

/* Bearer tokens: "cst_<20 hex id>_<43 base64url secret>" (256-bit secret). Only the token id
 * and SHA-256 of the secret are stored. */
#define CST_TOKEN_LEN 68
#define CST_TOKEN_ID_LEN 24 /* "tk_" + 20 hex + NUL */
CST_MUST_USE cst_err cst_token_generate(char token[CST_TOKEN_LEN + 1], char id[CST_TOKEN_ID_LEN],
                                        uint8_t hash[CST_HASH_LEN]);
/* Splits a presented token into its id and the hash of its secret; CST_ERR_UNAUTHENTICATED
 * when it is malformed. */
CST_MUST_USE cst_err cst_token_parse(const char *token, char id[CST_TOKEN_ID_LEN],
                                     uint8_t hash[CST_HASH_LEN]);
/* Constant-time equality of two hashes. */
bool cst_hash_equal(const uint8_t a[CST_HASH_LEN], const uint8_t b[CST_HASH_LEN]);

#endif
