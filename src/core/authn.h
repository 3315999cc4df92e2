/* authn.h: who is calling (the principal), when two-factor is required (IAM-3), and the
 * two-factor secrets: TOTP secrets sealed at rest, single-use recovery codes. */
#ifndef CST_CORE_AUTHN_H
#define CST_CORE_AUTHN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/authz.h"
#include "core/tenant.h"
#include "crypto/crypto.h"
#include "crypto/secrets.h"
#include "crypto/totp.h"
#include "store/store.h"
#include "util/err.h"

#define CST_TOTP_NONE 0
#define CST_TOTP_PENDING 1
#define CST_TOTP_ACTIVE 2

/* Who is calling. Filled by authentication. */
typedef struct cst_principal {
    bool authenticated;
    bool is_operator;
    cst_user_row user;
    cst_token_row token;
    cst_tenant_row tenant; /* empty for operators */
    uint32_t perms;        /* effective: token's permissions within the user's current roles */
    cst_tenant_settings settings; /* for tenant principals */
    bool mfa_required;            /* this principal must have two-factor enrolled (IAM-3) */
} cst_principal;

/* IAM-3: whether this user must use two-factor authentication. */
bool cst_mfa_required(const cst_user_row *u, const cst_tenant_settings *s);

/* Issues a credential (a login session or an API token) for u: a fresh secret, returned in
 * token (shown once; the caller wipes it), whose id and hash go into tok, which the caller
 * filled (name, permissions, session, times); then stores it. */
CST_MUST_USE cst_err cst_token_issue(cst_store *st, const cst_user_row *u, cst_token_row *tok,
                                     char token[CST_TOKEN_LEN + 1]);

/* The key that seals operators' two-factor secrets (tenant users' are sealed under their
 * tenant's DEK): derived from the KEK into out (allocated here; release with cst_key_free). */
CST_MUST_USE cst_err cst_authn_operator_key(const cst_key *kek, cst_key *out);
/* Opens the user's sealed TOTP secret under key into out (wipe it after use). */
CST_MUST_USE cst_err cst_totp_secret_open(const cst_key *key, const cst_user_row *u,
                                          uint8_t out[CST_TOTP_SECRET_LEN]);
/* Seals secret under key into the user's row (totp_sealed). */
CST_MUST_USE cst_err cst_totp_secret_seal(const cst_key *key, cst_user_row *u,
                                          const uint8_t secret[CST_TOTP_SECRET_LEN]);
/* IAM-3: checks a TOTP code against the opened secret at now_s (unix seconds) and records its
 * step, so that the same code never works twice. */
CST_MUST_USE cst_err cst_totp_accept(cst_store *st, const cst_user_row *u,
                                     const uint8_t secret[CST_TOTP_SECRET_LEN], const char *code,
                                     int64_t now_s);
/* IAM-3: consumes one recovery code (single use, even under concurrent logins). */
CST_MUST_USE cst_err cst_recovery_use(cst_store *st, const cst_user_row *u, const char *code);

#endif
