/* authn.h: who is calling (the principal, from a bearer token: IAM-5, IAM-9), login lockout
 * counting (IAM-2), when two-factor is required (IAM-3), and the two-factor secrets: TOTP
 * secrets sealed at rest, single-use recovery codes. */
#ifndef CST_CORE_AUTHN_H
#define CST_CORE_AUTHN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/authz.h"
#include "core/credcache.h"
#include "core/tenant.h"
#include "crypto/crypto.h"
#include "crypto/secrets.h"
#include "crypto/totp.h"
#include "store/store.h"
#include "util/cidr.h"
#include "util/err.h"
#include "util/throttle.h"

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
    /* IAM-8: an operator acting under a lockbox grant (its credential): is_operator is false,
     * the tenant is the grant's, perms and buckets its scope's; grant.id[0] == 0 otherwise. */
    cst_grant grant;
} cst_principal;

/* The node's identity policy that authentication applies. */
typedef struct cst_authn_policy {
    int session_idle_seconds; /* IAM-9: the node's session timeouts; a tenant may shorten them */
    int session_max_seconds;
    const cst_cidr_list *operator_ip_allowlist; /* IAM-7: the node's, for operators */
    cst_credcache *cache; /* IAM-5: the rows of recent credentials; NULL: read them each time */
} cst_authn_policy;

/* IAM-5, IAM-7, IAM-9: authenticates a bearer token (the text after "Bearer ") presented from
 * client_ip at now (unix microseconds): fills who (also when a later check refuses, so that the
 * refusal can name the principal) and records the session's use; or refuses with
 * CST_ERR_UNAUTHENTICATED ("invalid or expired token", or a session timeout) or
 * CST_ERR_IP_NOT_ALLOWED. It runs before the request's unit of work exists: its reads and
 * its record of use commit on their own. With pol->cache, the rows come from the cache while
 * the store's principals generation is unchanged; every check still runs on every request. */
CST_MUST_USE cst_err cst_authn_bearer(cst_store *st, const cst_authn_policy *pol,
                                      const char *bearer, const char *client_ip, int64_t now,
                                      cst_principal *who);
/* IAM-9: a credential past its expiry (expires_at, 0 for never) no longer works. */
CST_MUST_USE cst_err cst_authn_unexpired(const cst_token_row *tok, int64_t now);
/* IAM-9: a login session ends after the idle and absolute timeouts of s; API tokens have
 * neither. */
CST_MUST_USE cst_err cst_authn_session_live(const cst_token_row *tok, const cst_tenant_settings *s,
                                            int64_t now);
/* IAM-5: a disabled user's credentials stop working on the very next request. */
CST_MUST_USE cst_err cst_authn_user_active(const cst_user_row *u);

/* IAM-2: the node's lockout policy. */
typedef struct cst_lockout_policy {
    int threshold;           /* consecutive failures that lock an account */
    int seconds;             /* how long the lock lasts */
    cst_failtable *phantoms; /* the same counting for accounts that do not exist */
} cst_lockout_policy;

/* IAM-2: counts a failed login of user u at now (u NULL: the account, as keyed in the per-account
 * tables, does not exist and counts in the phantom table, so that a stranger cannot tell it from
 * a real one). The count commits at once, outside the request's transaction, so that it outlives
 * the refusal. Returns the consecutive failures and the lock's end (past threshold). */
CST_MUST_USE cst_err cst_authn_login_failed(cst_store *st, const cst_lockout_policy *pol,
                                            const cst_user_row *u, const char *account, int64_t now,
                                            int *failed, int64_t *until);

/* IAM-3: whether this user must use two-factor authentication. */
bool cst_mfa_required(const cst_user_row *u, const cst_tenant_settings *s);

/* Issues a credential (a login session or an API token) for u: a fresh secret, returned in
 * token (shown once; the caller wipes it), whose id and hash go into tok, which the caller
 * filled (name, permissions, session, times); then stores it in the unit of work w. */
CST_MUST_USE cst_err cst_token_issue(cst_store *st, cst_work *w, const cst_user_row *u,
                                     cst_token_row *tok, char token[CST_TOKEN_LEN + 1]);

/* The key that seals operators' two-factor secrets (tenant users' are sealed under their
 * tenant's DEK): derived from the KEK into out (allocated here; release with cst_key_free). */
CST_MUST_USE cst_err cst_authn_operator_key(const cst_key *kek, cst_key *out);
/* Opens the user's sealed TOTP secret under key into out (wipe it after use). */
CST_MUST_USE cst_err cst_totp_secret_open(const cst_key *key, const cst_user_row *u,
                                          uint8_t out[CST_TOTP_SECRET_LEN]);
/* ENC-4: opens it with first, else with any version of ring (NULL: none; a secret sealed before
 * a DEK rotation); *used (may be NULL) receives the key that opened it. */
struct cst_dek_ring;
CST_MUST_USE cst_err cst_totp_secret_open_ring(const struct cst_dek_ring *ring,
                                               const cst_key *first, const cst_user_row *u,
                                               uint8_t out[CST_TOTP_SECRET_LEN],
                                               const cst_key **used);
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
