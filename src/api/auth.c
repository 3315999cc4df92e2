/* auth.c: login (IAM-2 lockout, IAM-3 two-factor, IAM-7 allowlist), logout, password change,
 * TOTP enrolment, and the caller's sessions. */
#include <arpa/inet.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "api/api.h"
#include "core/tenant_state.h"
#include "backup/backup.h"
#include "core/authz.h"
#include "node/detect.h"
#include "crypto/secrets.h"
#include "crypto/totp.h"
#include "store/store.h"
#include "util/throttle.h"
#include "util/util.h"

/* ---- TOTP secrets, sealed under the tenant's DEK (operators: a key derived from the KEK) ---- */

typedef struct secret_key {
    cst_key owned;
    const cst_key *key;
    cst_tenant_ctx *held; /* the tenant context whose DEK key is, held until secret_key_put */
} secret_key;

static cst_err secret_key_get(cst_node *n, const cst_user_row *u, secret_key *sk)
{
    memset(sk, 0, sizeof(*sk));
    if (strcmp(u->tenant_id, CST_SYS_TENANT) == 0) {
        TRY(cst_authn_operator_key(&n->root_key, &sk->owned));
        sk->key = &sk->owned;
        return CST_OK;
    }
    TRY(cst_node_tenant_acquire(n, u->tenant_id, &sk->held));
    sk->key = cst_dek_get(&sk->held->deks, cst_dek_current(&sk->held->deks));
    ENSURE(sk->key != NULL, CST_ERR_INTERNAL, "the tenant's current DEK is not held");
    return CST_OK;
}

static void secret_key_put(cst_node *n, secret_key *sk)
{
    cst_key_free(&sk->owned);
    cst_node_tenant_release(n, sk->held);
    sk->held = NULL;
}

/* Opens the user's TOTP secret into out (CST_TOTP_SECRET_LEN bytes; wipe it after use). */
static cst_err totp_open(cst_node *n, const cst_user_row *u, uint8_t out[CST_TOTP_SECRET_LEN])
{
    secret_key sk;
    TRY(secret_key_get(n, u, &sk));
    /* ENC-4: a secret sealed before a DEK rotation opens under the version it was sealed with
     * (retired versions stay in the ring) until the re-encryption re-seals it (node/keys.c) */
    cst_err e = cst_totp_secret_open_ring(sk.held ? &sk.held->deks : NULL, sk.key, u, out, NULL);
    secret_key_put(n, &sk);
    return e;
}

static cst_err totp_seal(cst_node *n, cst_user_row *u, const uint8_t secret[CST_TOTP_SECRET_LEN])
{
    secret_key sk;
    TRY(secret_key_get(n, u, &sk));
    if (sk.held) { /* ENC-4: one encryption under the current DEK */
        uint32_t v;
        (void)cst_dek_use(&sk.held->deks, &v, 1);
    }
    cst_err e = cst_totp_secret_seal(sk.key, u, secret);
    secret_key_put(n, &sk);
    return e;
}

/* Checks a TOTP code and records its step, so the same code never works twice (IAM-3). */
cst_err cst_api_totp_check(cst_node *n, const cst_user_row *u, const char *code)
{
    uint8_t secret[CST_TOTP_SECRET_LEN];
    TRY(totp_open(n, u, secret));
    cst_err e = cst_totp_accept(n->store, u, secret, code, cst_now_us() / 1000000);
    sodium_memzero(secret, sizeof(secret));
    return e;
}

/* ---- login ---- */

typedef struct login_req {
    const char *tenant, *username, *password, *totp, *recovery;
    /* the account for the per-account tables: tenant id (or the tenant as sent, when no tenant
     * has that name), a newline, the username */
    char account[2 * CST_LOGIN_NAME_MAX + 2];
} login_req;

/* Counts a failed attempt; the account locks at the threshold (IAM-2). An account that does
 * not exist (u == NULL) counts and locks the same way in the node's phantom table, so that a
 * stranger cannot tell it from a real one by a 423 that only real accounts give. */
static void record_failure(cst_node *n, cst_request *req, const login_req *l, const cst_user_row *u)
{
    int failed;
    int64_t until;
    cst_lockout_policy pol = {.threshold = n->cfg.lockout_threshold,
                              .seconds = n->cfg.lockout_seconds,
                              .phantoms = n->login_phantoms};
    if (cst_authn_login_failed(n->store, &pol, u, u ? NULL : l->account, cst_now_us(), &failed,
                               &until) != CST_OK) {
        cst_error("auth: could not record a failed login for user %s", u->id);
        return;
    }
    cst_warn("auth: login failure %d for %s %s%s", failed, u ? "user" : "unknown account in",
             u                      ? u->id
             : req->audit_tenant[0] ? req->audit_tenant
                                    : "an unknown tenant",
             failed >= n->cfg.lockout_threshold ? " (account locked)" : "");
    cst_audit_info(req, "consecutive_failures", json_integer(failed));
    if (failed >= n->cfg.lockout_threshold) {
        char ts[32];
        cst_time_format(until, ts);
        cst_audit_info(req, "locked_until", json_string(ts));
    }
}

/* IAM-2: a throttled login: 429 with Retry-After, its own audit action, no password work. */
static cst_err throttled(cst_request *req, int wait, const char *what)
{
    req->retry_after = wait;
    req->audit_action = "auth.login.throttled";
    cst_audit_info(req, "throttled", json_string(what));
    cst_warn("auth: login throttled (per %s) from %s", what, req->client_ip);
    return cst_fail(CST_ERR_RATE_LIMITED,
                    "too many login attempts for this %s: try again in %d seconds", what, wait);
}

/* IAM-2: the per-address table's key: the address in binary (so that the spellings of one
 * address, "2001:db8::1", "2001:DB8:0::1", "::ffff:192.0.2.1" for 192.0.2.1, share a bucket),
 * and for IPv6 its /64 (one host's usual allocation, so that a client cannot spray logins
 * from the 2^64 addresses it has). */
static size_t throttle_key(const char *ip, uint8_t key[9])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    uint8_t a[16];
    if (inet_pton(AF_INET, ip, a) == 1) {
        key[0] = 4;
        memcpy(key + 1, a, 4);
        return 5;
    }
    if (inet_pton(AF_INET6, ip, a) == 1 && memcmp(a, mapped, sizeof(mapped)) == 0) {
        key[0] = 4;
        memcpy(key + 1, a + 12, 4);
        return 5;
    }
    if (inet_pton(AF_INET6, ip, a) == 1) {
        key[0] = 6;
        memcpy(key + 1, a, 8);
        return 9;
    }
    return 0;
}

cst_err cst_api_login_throttle(cst_node *n, cst_request *req)
{
    int wait = 0;
    /* DET-1: an address with an open password_spraying alert, for its quiet period */
    if (cst_detect_login_blocked(n, req->client_ip, cst_now_us(), &wait)) {
        cst_audit_info(req, "alert", json_string("password_spraying"));
        return throttled(req, wait, "address");
    }
    uint8_t key[9];
    size_t len = throttle_key(req->client_ip, key);
    bool ok = len > 0 ? cst_throttle_take(n->login_ip, (const char *)key, len, cst_now_us(), &wait)
                      : cst_throttle_take(n->login_ip, req->client_ip, strlen(req->client_ip),
                                          cst_now_us(), &wait);
    if (ok)
        return CST_OK;
    return throttled(req, wait, "address");
}

/* IAM-2: the per-account limit, whether or not the account exists, before any hashing. */
static cst_err throttle_account(cst_node *n, cst_request *req, login_req *l, const char *tenant)
{
    TRY(cst_fmt(l->account, sizeof(l->account), "%s\n%s", tenant, l->username));
    int wait = 0;
    if (cst_throttle_take(n->login_account, l->account, strlen(l->account), cst_now_us(), &wait))
        return CST_OK;
    return throttled(req, wait, "account");
}

static cst_err parse_login(cst_request *req, json_t **body, login_req *l)
{
    static const char *const fields[] = {"tenant", "username",      "password",
                                         "totp",   "recovery_code", NULL};
    TRY(cst_api_body(req, fields, body));
    TRY(cst_json_str(*body, "tenant", true, &l->tenant));
    TRY(cst_json_str(*body, "username", true, &l->username));
    TRY(cst_json_str(*body, "password", true, &l->password));
    TRY(cst_json_str(*body, "totp", false, &l->totp));
    TRY(cst_json_str(*body, "recovery_code", false, &l->recovery));
    ENSURE(!(l->totp && l->recovery), CST_ERR_INVALID, "send totp or recovery_code, not both");
    ENSURE(strlen(l->tenant) <= CST_LOGIN_NAME_MAX && strlen(l->username) <= CST_LOGIN_NAME_MAX,
           CST_ERR_INVALID, "tenant and username have at most %d characters", CST_LOGIN_NAME_MAX);
    ENSURE(strlen(l->password) <= CST_PW_MAX, CST_ERR_UNAUTHENTICATED, "invalid credentials");
    return CST_OK;
}

/* Finds the user; checks the allowlist (IAM-7) and the per-account limit (IAM-2) before any
 * password work. */
static cst_err find_user(cst_node *n, cst_request *req, login_req *l, cst_user_row *user,
                         cst_tenant_settings *settings)
{
    cst_tenant_row t;
    bool op = strcmp(l->tenant, CST_SYS_TENANT) == 0;
    TRY(cst_settings_load(n, NULL, settings));
    cst_audit_detail(req, "username", json_string(l->username));
    if (op)
        TRY(cst_copy(req->audit_tenant, sizeof(req->audit_tenant), CST_SYS_TENANT));
    if (!op) {
        cst_err e = cst_id_valid(l->tenant, "tn")
                        ? cst_store_tenant_get(n->store, req->work, l->tenant, &t)
                        : cst_store_tenant_by_name(n->store, req->work, l->tenant, &t);
        if (e == CST_ERR_NOT_FOUND) {
            cst_audit_detail(req, "tenant", json_string(l->tenant));
            TRY(throttle_account(n, req, l, l->tenant));
        }
        TRY(e);
        req->who.tenant = t;
        TRY(cst_copy(req->audit_tenant, sizeof(req->audit_tenant), t.id));
        ENSURE(!cst_tenant_erasing(&t), CST_ERR_FORBIDDEN, "the tenant is %s: sign-in is closed",
               t.state);
        TRY(cst_settings_load(n, t.settings, settings));
    }
    TRY(cst_authz_ip(&n->cfg.operator_ip_allowlist, settings, op, req->who.tenant.id,
                     req->client_ip));
    TRY(throttle_account(n, req, l, op ? CST_SYS_TENANT : t.id));
    TRY(cst_store_user_by_name(n->store, req->work, op ? CST_SYS_TENANT : t.id, l->username, user));
    return cst_copy(req->audit_actor, sizeof(req->audit_actor), user->id);
}

/* IAM-2: a locked account, and an unknown one locked in the phantom table, answer alike. */
static cst_err check_password(cst_node *n, cst_request *req, const login_req *l,
                              const cst_user_row *u, bool known)
{
    int64_t now = cst_now_us();
    int64_t locked_until =
        known ? u->locked_until
              : cst_failtable_locked_until(n->login_phantoms, l->account, strlen(l->account), now);
    if (locked_until > now) {
        /* IAM-2: a locked account refuses even the right password until the lock ends. */
        req->retry_after = (int)((locked_until - now + 999999) / 1000000);
        if (known)
            cst_warn("auth: login refused for locked user %s", u->id);
        return cst_fail(CST_ERR_LOCKED,
                        "too many failed logins: the account is locked for %d "
                        "more seconds",
                        req->retry_after);
    }
    /* The same Argon2id work whether or not the user exists. */
    bool ok = cst_password_verify(l->password, known ? u->pw_hash : NULL);
    if (!ok)
        record_failure(n, req, l, known ? u : NULL);
    ENSURE(ok && !u->disabled, CST_ERR_UNAUTHENTICATED, "invalid credentials");
    return CST_OK;
}

cst_err cst_api_step_up(cst_node *n, cst_request *req, const cst_user_row *u, const char *code)
{
    int64_t now = cst_now_us();
    if (u->locked_until > now) {
        req->retry_after = (int)((u->locked_until - now + 999999) / 1000000);
        return cst_fail(CST_ERR_LOCKED,
                        "too many failed two-factor codes: the account is locked for %d more "
                        "seconds",
                        req->retry_after);
    }
    cst_err e = cst_api_totp_check(n, u, code);
    if (e == CST_ERR_UNAUTHENTICATED) {
        cst_audit_info(req, "mfa_failure", json_string("totp"));
        record_failure(n, req, NULL, u);
    }
    return e;
}

static cst_err check_second_factor(cst_node *n, cst_request *req, const login_req *l,
                                   const cst_user_row *u)
{
    if (u->totp_state != CST_TOTP_ACTIVE)
        return CST_OK;
    ENSURE(l->totp || l->recovery, CST_ERR_MFA_REQUIRED,
           "this account uses two-factor authentication: send totp or recovery_code");
    cst_err e =
        l->totp ? cst_api_totp_check(n, u, l->totp) : cst_recovery_use(n->store, u, l->recovery);
    if (e == CST_ERR_UNAUTHENTICATED) {
        cst_audit_info(req, "mfa_failure", json_string(l->totp ? "totp" : "recovery_code"));
        record_failure(n, req, l, u);
    }
    return e;
}

/* LOG-1: the login's entry names the decision. */
static void login_audit(cst_request *req, cst_err e)
{
    const char *a = "auth.login.failure";
    if (e == CST_OK)
        a = "auth.login.success";
    else if (e == CST_ERR_LOCKED)
        a = "auth.login.locked";
    else if (e == CST_ERR_RATE_LIMITED)
        a = "auth.login.throttled";
    else if (e == CST_ERR_IP_NOT_ALLOWED)
        a = "auth.login.ip_denied";
    else if (e == CST_ERR_MFA_REQUIRED)
        a = "auth.login.mfa_required";
    else if (req->audit_info && json_object_get(req->audit_info, "mfa_failure"))
        a = "auth.mfa.failure";
    if (e != CST_OK && req->audit_info && json_object_get(req->audit_info, "locked_until"))
        a = "auth.lockout";
    req->audit_action = a;
}

cst_err cst_api_login(cst_node *n, cst_request *req)
{
    json_t *body = NULL;
    login_req l;
    memset(&l, 0, sizeof(l));
    cst_user_row user;
    cst_tenant_settings settings;
    memset(&user, 0, sizeof(user));
    cst_err e = parse_login(req, &body, &l);
    if (e == CST_OK) {
        e = find_user(n, req, &l, &user, &settings);
        bool known = e == CST_OK;
        if (e == CST_OK || e == CST_ERR_NOT_FOUND)
            e = check_password(n, req, &l, &user, known);
    }
    if (e == CST_OK)
        e = check_second_factor(n, req, &l, &user);
    json_decref(body);
    login_audit(req, e);
    TRY(e);
    int64_t now = cst_now_us();
    TRY(cst_store_login_ok(n->store, req->work, user.id, now));

    cst_token_row tok;
    char token[CST_TOKEN_LEN + 1];
    memset(&tok, 0, sizeof(tok));
    tok.session = true;
    tok.created_at = now;
    tok.last_used_at = now;
    tok.expires_at = now + (int64_t)settings.session_max_seconds * 1000000;
    e = cst_copy(tok.name, sizeof(tok.name), "login session");
    if (e == CST_OK)
        e = cst_token_issue(n->store, req->work, &user, &tok, token);
    char exp[32];
    cst_time_format(tok.expires_at, exp);
    bool enrol = cst_mfa_required(&user, &settings) && user.totp_state != CST_TOTP_ACTIVE;
    if (e == CST_OK)
        e = cst_resp_json(req, 200,
                          json_pack("{s:s,s:s,s:s,s:b,s:b,s:o}", "token", token, "token_id", tok.id,
                                    "expires_at", exp, "must_change_password",
                                    user.must_change_password, "mfa_enrollment_required", enrol,
                                    "roles", cst_roles_json(user.roles)));
    sodium_memzero(token, sizeof(token));
    return e;
}

cst_err cst_api_logout(cst_node *n, cst_request *req)
{
    ENSURE(req->who.token.session, CST_ERR_INVALID,
           "logout ends login sessions; delete an API token with DELETE /v1/tokens/{id}");
    TRY(cst_store_token_delete(n->store, req->work, req->who.user.tenant_id, req->who.user.id,
                               req->who.token.id));
    cst_api_token_revoked(n, &req->who.token); /* DET-1 */
    cst_resp_empty(req, 204);
    return CST_OK;
}

cst_err cst_api_password(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"current", "new", NULL};
    json_t *body = NULL;
    const char *cur, *next;
    cst_user_row *u = &req->who.user;
    TRY(cst_api_body(req, fields, &body));
    cst_err e = cst_json_str(body, "current", true, &cur);
    if (e == CST_OK)
        e = cst_json_str(body, "new", true, &next);
    if (e == CST_OK && !cst_password_verify(cur, u->pw_hash)) {
        record_failure(n, req, NULL, u);
        e = cst_fail(CST_ERR_UNAUTHENTICATED, "the current password is wrong");
    }
    if (e == CST_OK && strcmp(cur, next) == 0)
        e = cst_fail(CST_ERR_INVALID, "the new password must differ from the current one");
    if (e == CST_OK)
        e = cst_password_check(next, u->username,
                               req->who.is_operator ? NULL : req->who.tenant.name);
    if (e == CST_OK)
        e = cst_password_history_check(next, u->pw_history);
    if (e == CST_OK)
        e = cst_account_set_password(u, next, false);
    json_decref(body);
    TRY(e);
    TRY(cst_store_user_update(n->store, req->work, u));
    /* SPEC §9: a password change ends the user's other sessions. */
    TRY(cst_api_sessions_revoked(n, req, u->tenant_id, u->id, req->who.token.id)); /* DET-1 */
    TRY(cst_store_sessions_end(n->store, req->work, u->id, req->who.token.id));
    cst_resp_empty(req, 204);
    return CST_OK;
}

/* ---- two-factor enrolment (IAM-3) ---- */

cst_err cst_api_totp_enrol(cst_node *n, cst_request *req)
{
    cst_user_row *u = &req->who.user;
    ENSURE(u->totp_state != CST_TOTP_ACTIVE, CST_ERR_CONFLICT,
           "two-factor is already enabled; disable it first with DELETE /v1/auth/totp");
    uint8_t secret[CST_TOTP_SECRET_LEN];
    char b32[64], uri[512], account[160];
    char codes[CST_RECOVERY_CODES][CST_RECOVERY_CODE_LEN + 1];
    json_t *hashes = json_array(), *plain = json_array();
    cst_err e = cst_random(secret, sizeof(secret));
    if (e == CST_OK)
        e = cst_fmt(account, sizeof(account), "%s.%s",
                    req->who.is_operator ? "_sys" : req->who.tenant.name, u->username);
    if (e == CST_OK)
        e = cst_totp_uri(secret, sizeof(secret), "custodia", account, b32, sizeof(b32), uri,
                         sizeof(uri));
    for (int i = 0; e == CST_OK && i < CST_RECOVERY_CODES; i++) {
        uint8_t h[CST_HASH_LEN];
        char hex[2 * CST_HASH_LEN + 1];
        e = cst_recovery_code(codes[i]);
        cst_recovery_hash(codes[i], h);
        cst_hex(h, sizeof(h), hex);
        json_array_append_new(hashes, json_string(hex));
        json_array_append_new(plain, json_string(codes[i]));
    }
    char *hashes_text = json_dumps(hashes, JSON_COMPACT);
    if (e == CST_OK && (!hashes_text || strlen(hashes_text) >= sizeof(u->recovery)))
        e = cst_fail(CST_ERR_INTERNAL, "recovery codes do not fit");
    if (e == CST_OK)
        e = totp_seal(n, u, secret);
    if (e == CST_OK)
        e = cst_copy(u->recovery, sizeof(u->recovery), hashes_text);
    if (e == CST_OK) {
        u->totp_state = CST_TOTP_PENDING;
        u->totp_last_step = 0;
        e = cst_store_user_update(n->store, req->work, u);
    }
    if (e == CST_OK)
        e = cst_resp_json(
            req, 201,
            json_pack("{s:s,s:s,s:O}", "secret", b32, "otpauth_uri", uri, "recovery_codes", plain));
    cst_json_free_text(hashes_text);
    json_decref(hashes);
    json_decref(plain);
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(b32, sizeof(b32));
    sodium_memzero(uri, sizeof(uri));
    sodium_memzero(codes, sizeof(codes));
    return e;
}

/* Reads {"code": "..."} and checks it as the user's current TOTP code (recording its step).
 * A wrong code is bad input here (400), not a failed login. */
static cst_err check_body_code(cst_node *n, cst_request *req, const cst_user_row *u)
{
    static const char *const fields[] = {"code", NULL};
    json_t *body = NULL;
    const char *code;
    cst_err e = cst_api_body(req, fields, &body);
    if (e == CST_OK)
        e = cst_json_str(body, "code", true, &code);
    if (e == CST_OK && (e = cst_api_totp_check(n, u, code)) == CST_ERR_UNAUTHENTICATED)
        e = cst_fail(CST_ERR_INVALID, "invalid two-factor code: check the authenticator's clock");
    json_decref(body);
    return e;
}

cst_err cst_api_totp_confirm(cst_node *n, cst_request *req)
{
    cst_user_row *u = &req->who.user;
    ENSURE(u->totp_state == CST_TOTP_PENDING, CST_ERR_CONFLICT,
           "no two-factor enrolment is pending: start one with POST /v1/auth/totp");
    TRY(check_body_code(n, req, u));
    TRY(cst_store_user_get(n->store, req->work, u->id, u)); /* picks up the recorded step */
    u->totp_state = CST_TOTP_ACTIVE;
    TRY(cst_store_user_update(n->store, req->work, u));
    return cst_resp_json(req, 200, json_pack("{s:b}", "mfa_enabled", 1));
}

cst_err cst_api_totp_disable(cst_node *n, cst_request *req)
{
    cst_user_row *u = &req->who.user;
    ENSURE(!req->who.mfa_required, CST_ERR_FORBIDDEN,
           "two-factor authentication is required for this account and cannot be disabled");
    ENSURE(u->totp_state == CST_TOTP_ACTIVE, CST_ERR_CONFLICT, "two-factor is not enabled");
    TRY(check_body_code(n, req, u));
    u->totp_state = CST_TOTP_NONE;
    u->totp_sealed_len = 0;
    u->totp_last_step = 0;
    TRY(cst_copy(u->recovery, sizeof(u->recovery), "[]"));
    TRY(cst_store_user_update(n->store, req->work, u));
    cst_resp_empty(req, 204);
    return CST_OK;
}

/* ---- the caller's sessions (IAM-9) ---- */

typedef struct sessions_ctx {
    json_t *arr;
    const char *current;
} sessions_ctx;

static cst_err session_one(const cst_token_row *t, void *p)
{
    sessions_ctx *sc = p;
    if (!t->session)
        return CST_OK;
    char c[32], x[32], l[32];
    cst_time_format(t->created_at, c);
    cst_time_format(t->expires_at, x);
    cst_time_format(t->last_used_at, l);
    json_array_append_new(sc->arr, json_pack("{s:s,s:s,s:s,s:s,s:b}", "id", t->id, "created_at", c,
                                             "expires_at", x, "last_used_at", l, "current",
                                             strcmp(t->id, sc->current) == 0));
    return CST_OK;
}

cst_err cst_api_session_list(cst_node *n, cst_request *req)
{
    sessions_ctx sc = {json_array(), req->who.token.id};
    cst_err e = cst_store_token_list(n->store, req->work, req->who.user.tenant_id, req->who.user.id,
                                     session_one, &sc);
    if (e != CST_OK) {
        json_decref(sc.arr);
        return e;
    }
    return cst_resp_json(req, 200, json_pack("{s:o}", "sessions", sc.arr));
}

cst_err cst_api_session_delete(cst_node *n, cst_request *req)
{
    cst_token_row t;
    ENSURE(cst_id_valid(req->params[0], "tk"), CST_ERR_NOT_FOUND, "no such session");
    cst_err e = cst_store_token_get(n->store, req->work, req->params[0], &t);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_NOT_FOUND, "no such session");
    TRY(e);
    ENSURE(t.session && strcmp(t.user_id, req->who.user.id) == 0, CST_ERR_NOT_FOUND,
           "no such session");
    TRY(cst_store_token_delete(n->store, req->work, t.tenant_id, t.user_id, t.id));
    cst_api_token_revoked(n, &t); /* DET-1 */
    cst_resp_empty(req, 204);
    return CST_OK;
}

cst_err cst_api_health(cst_node *n, cst_request *req)
{
    char now[32];
    cst_time_format(cst_now_us(), now);
    char pk[65];
    cst_hex(n->public_key, sizeof(n->public_key), pk);
    return cst_resp_json(req, 200,
                         json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "status", "ok", "version",
                                   CUSTODIA_VERSION, "node_id", n->node_id, "region", n->region,
                                   "time", now, "public_key", pk, "backup", cst_backup_health(n)));
}
