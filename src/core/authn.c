/* authn.c: bearer tokens to principals (expiry, session timeouts, disabled users: IAM-5, IAM-9),
 * lockout counting (IAM-2), two-factor rules and secrets (IAM-3): TOTP secrets sealed under the
 * tenant's DEK (an operator's under a key derived from the KEK), codes used once, recovery codes
 * used once. */
#include <jansson.h>
#include <sodium.h>
#include <string.h>

#include "core/authn.h"
#include "core/keyring.h"
#include "core/lockbox.h"
#include "crypto/secrets.h"
#include "util/json.h"
#include "util/util.h"

bool cst_mfa_required(const cst_user_row *u, const cst_tenant_settings *s)
{
    /* IAM-3: operators always; owners and admins always; everyone when the tenant says so. */
    return strcmp(u->tenant_id, CST_SYS_TENANT) == 0 || (u->roles & CST_MFA_ROLES) || s->mfa_all;
}

/* A session's last use is written back at most this often, so reads do not each cost a
 * durable write; the idle timeout is enforced to this granularity. */
#define TOUCH_INTERVAL_US (30 * 1000000LL)
#define ACTIVE_INTERVAL_US (3600 * 1000000LL)

cst_err cst_authn_unexpired(const cst_token_row *tok, int64_t now)
{
    ENSURE(!tok->expires_at || now < tok->expires_at, CST_ERR_UNAUTHENTICATED,
           "invalid or expired token");
    return CST_OK;
}

cst_err cst_authn_session_live(const cst_token_row *tok, const cst_tenant_settings *s, int64_t now)
{
    if (!tok->session)
        return CST_OK;
    /* IAM-9: idle and absolute session timeouts (the tenant may shorten them). */
    ENSURE(now - tok->last_used_at < (int64_t)s->session_idle_seconds * 1000000,
           CST_ERR_UNAUTHENTICATED, "the session expired after %d idle seconds",
           s->session_idle_seconds);
    ENSURE(now - tok->created_at < (int64_t)s->session_max_seconds * 1000000,
           CST_ERR_UNAUTHENTICATED, "the session reached its maximum age");
    return CST_OK;
}

cst_err cst_authn_user_active(const cst_user_row *u)
{
    ENSURE(!u->disabled, CST_ERR_UNAUTHENTICATED, "invalid or expired token");
    return CST_OK;
}

/* IAM-8: a lockbox grant's credential: an operator's token bound to the grant's tenant; c
 * keeps the grant's view, and the scope's buckets stand in the user row's grants. */
static cst_err grant_read(cst_store *st, cst_cred *c)
{
    cst_access_row a;
    cst_err e = cst_store_access_get(st, NULL, c->token.grant_id, &a);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_UNAUTHENTICATED, "invalid or expired token");
    TRY(e);
    ENSURE(strcmp(a.tenant_id, c->token.tenant_id) == 0 && strcmp(a.token_id, c->token.id) == 0 &&
               strcmp(c->user.tenant_id, CST_SYS_TENANT) == 0,
           CST_ERR_UNAUTHENTICATED, "invalid or expired token");
    cst_lockbox_grant_of(&a, &c->grant);
    return cst_copy(c->user.grants, sizeof(c->user.grants), a.buckets);
}

/* Reads the rows behind the token id from the store into c, at the generation *gen (read
 * first: see cst_store_principals_gen). A wrong secret or an expired token reads nothing more,
 * so it is never cached. */
static cst_err cred_read(cst_store *st, const cst_authn_policy *pol, const char *id,
                         const uint8_t hash[CST_HASH_LEN], int64_t now, cst_cred *c, uint64_t *gen)
{
    *gen = cst_store_principals_gen(st);
    cst_err e = cst_store_token_get(st, NULL, id, &c->token);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_UNAUTHENTICATED, "invalid or expired token");
    TRY(e);
    ENSURE(cst_hash_equal(c->token.hash, hash), CST_ERR_UNAUTHENTICATED,
           "invalid or expired token");
    TRY(cst_authn_unexpired(&c->token, now));
    e = cst_store_user_get(st, NULL, c->token.user_id, &c->user);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_UNAUTHENTICATED, "invalid or expired token");
    TRY(e);
    const char *settings = NULL;
    memset(&c->grant, 0, sizeof(c->grant));
    if (c->token.grant_id[0])
        TRY(grant_read(st, c));
    const char *tenant_id = c->grant.id[0] ? c->token.tenant_id : c->user.tenant_id;
    if (strcmp(tenant_id, CST_SYS_TENANT) != 0) {
        e = cst_store_tenant_get(st, NULL, tenant_id, &c->tenant);
        ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_UNAUTHENTICATED, "invalid or expired token");
        TRY(e);
        settings = c->tenant.settings;
    }
    c->idle_max = pol->session_idle_seconds;
    c->session_max = pol->session_max_seconds;
    return cst_tenant_settings_load(settings, c->idle_max, c->session_max, &c->settings);
}

/* The rows behind the token id: the cache's while the generation has not moved and the node's
 * limits are the ones its settings were parsed under, else the store's (then cached). */
static cst_err cred_get(cst_store *st, const cst_authn_policy *pol, const char *id,
                        const uint8_t hash[CST_HASH_LEN], int64_t now, cst_cred *c)
{
    if (cst_credcache_get(pol->cache, id, cst_store_principals_gen(st), c) &&
        c->idle_max == pol->session_idle_seconds && c->session_max == pol->session_max_seconds)
        return CST_OK;
    uint64_t gen;
    TRY(cred_read(st, pol, id, hash, now, c, &gen));
    cst_credcache_put(pol->cache, c, gen);
    return CST_OK;
}

/* IAM-8: a lockbox grant's credential works only while its grant is approved and inside its
 * window (checked at now on every request: the cache holds the grant's row, and a revocation
 * or denial moves the principals generation, so it is read again); it acts in the grant's
 * tenant with the scope's permissions and buckets only, never as the operator. The node's
 * operator allowlist and the tenant's both apply. */
static cst_err decide_grant(const cst_authn_policy *pol, const cst_cred *c, const char *client_ip,
                            int64_t now, cst_principal *who)
{
    ENSURE(cst_lockbox_grant_open(&c->grant, now), CST_ERR_UNAUTHENTICATED,
           "the lockbox grant of this credential is not open (%s, or its window ended)",
           c->grant.state);
    who->is_operator = false;
    who->tenant = c->tenant;
    who->settings = c->settings;
    who->grant = c->grant;
    who->perms = c->grant.perms;
    who->token = c->token;
    who->user.roles = 0;       /* no role: the scope alone (its buckets are in user.grants) */
    who->mfa_required = false; /* the operator's session had it; this is not a session */
    who->authenticated = true;
    TRY(cst_authz_ip(pol->operator_ip_allowlist, &who->settings, true, NULL, client_ip));
    return cst_authz_ip(pol->operator_ip_allowlist, &who->settings, false, who->tenant.id,
                        client_ip);
}

/* IAM-5, IAM-7, IAM-9: every check of a credential, on every request, whether its rows came
 * from the store or the cache. who is filled as each check passes, as the refusal names it. */
static cst_err decide(const cst_authn_policy *pol, const cst_cred *c,
                      const uint8_t hash[CST_HASH_LEN], const char *client_ip, int64_t now,
                      cst_principal *who)
{
    ENSURE(cst_hash_equal(c->token.hash, hash), CST_ERR_UNAUTHENTICATED,
           "invalid or expired token");
    TRY(cst_authn_unexpired(&c->token, now));
    who->user = c->user;
    TRY(cst_authn_user_active(&who->user));
    who->is_operator = strcmp(who->user.tenant_id, CST_SYS_TENANT) == 0;
    if (c->grant.id[0])
        return decide_grant(pol, c, client_ip, now, who);
    if (!who->is_operator)
        who->tenant = c->tenant;
    who->settings = c->settings;
    /* IAM-4: an API token holds at most its creator's current rights. */
    who->perms = cst_authz_effective(who->user.roles, c->token.session, c->token.perms);
    who->token = c->token;
    who->mfa_required = cst_mfa_required(&who->user, &who->settings);
    who->authenticated = true;
    TRY(cst_authz_ip(pol->operator_ip_allowlist, &who->settings, who->is_operator, who->tenant.id,
                     client_ip));
    return cst_authn_session_live(&who->token, &who->settings, now);
}

/* Records the use of the credential: neither write may refuse the request. The cache learns a
 * use only once the store has it: a stale last_used_at only makes a session expire sooner. */
static void touch(cst_store *st, cst_credcache *cache, const cst_principal *who, int64_t now)
{
    int64_t active = 0, used = 0;
    /* RET-2: a free plan's inactivity clock; written at most hourly, failures ignored. */
    if (!who->is_operator && !who->grant.id[0] &&
        now - who->tenant.last_active_at >= ACTIVE_INTERVAL_US) {
        if (cst_store_tenant_touch(st, NULL, who->tenant.id, now) == CST_OK)
            active = now;
        else
            cst_err_clear();
    }
    /* A failed touch (disk full) must not refuse reads: a stale last_used_at only makes the
     * session expire sooner, which is the safe direction. */
    if (now - who->token.last_used_at >= TOUCH_INTERVAL_US) {
        if (cst_store_token_touch(st, NULL, who->token.id, now) == CST_OK) {
            used = now;
        } else {
            cst_warn("could not record the last use of session %s", who->token.id);
            cst_err_clear();
        }
    }
    if (active || used)
        cst_credcache_touched(cache, who->token.id, used, active);
}

cst_err cst_authn_bearer(cst_store *st, const cst_authn_policy *pol, const char *bearer,
                         const char *client_ip, int64_t now, cst_principal *who)
{
    char id[CST_TOKEN_ID_LEN];
    uint8_t hash[CST_HASH_LEN];
    TRY(cst_token_parse(bearer, id, hash));
    cst_cred c;
    cst_err e = cred_get(st, pol, id, hash, now, &c);
    if (e == CST_OK)
        e = decide(pol, &c, hash, client_ip, now, who);
    if (e == CST_OK)
        touch(st, pol->cache, who, now);
    sodium_memzero(&c, sizeof(c));
    return e;
}

cst_err cst_authn_login_failed(cst_store *st, const cst_lockout_policy *pol, const cst_user_row *u,
                               const char *account, int64_t now, int *failed, int64_t *until)
{
    int64_t lock_us = (int64_t)pol->seconds * 1000000;
    *failed = 0;
    *until = 0;
    if (!u) {
        cst_failtable_fail(pol->phantoms, account, strlen(account), now, pol->threshold, lock_us,
                           failed, until);
        return CST_OK;
    }
    return cst_store_login_failed(st, u->id, now, pol->threshold, lock_us, failed, until);
}

cst_err cst_token_issue(cst_store *st, cst_work *w, const cst_user_row *u, cst_token_row *tok,
                        char token[CST_TOKEN_LEN + 1])
{
    TRY(cst_token_generate(token, tok->id, tok->hash));
    TRY(cst_copy(tok->tenant_id, sizeof(tok->tenant_id), u->tenant_id));
    TRY(cst_copy(tok->user_id, sizeof(tok->user_id), u->id));
    return cst_store_token_create(st, w, tok);
}

cst_err cst_authn_operator_key(const cst_key *kek, cst_key *out)
{
    TRY(cst_key_alloc(out));
    cst_err e =
        cst_hkdf_sha256(kek->k, CST_KEY_LEN, "custodia operator secrets v1", out->k, CST_KEY_LEN);
    if (e != CST_OK)
        cst_key_free(out);
    return e;
}

static cst_err totp_aad(cst_buf *aad, const cst_user_row *u)
{
    TRY(cst_buf_append(aad, "cst:totp:v1", 11));
    TRY(cst_buf_append_lv16(aad, u->tenant_id, strlen(u->tenant_id)));
    return cst_buf_append_lv16(aad, u->id, strlen(u->id));
}

cst_err cst_totp_secret_open(const cst_key *key, const cst_user_row *u,
                             uint8_t out[CST_TOTP_SECRET_LEN])
{
    cst_buf aad, pt;
    cst_buf_init(&aad, 256);
    cst_buf_init(&pt, 64);
    cst_err e = totp_aad(&aad, u);
    if (e == CST_OK)
        e = cst_open(key, &aad, u->totp_sealed, u->totp_sealed_len, &pt);
    if (e == CST_OK && pt.len != CST_TOTP_SECRET_LEN)
        e = cst_fail(CST_ERR_INTEGRITY, "damaged two-factor secret");
    if (e == CST_OK)
        memcpy(out, pt.data, CST_TOTP_SECRET_LEN);
    cst_buf_wipe_free(&pt);
    cst_buf_free(&aad);
    return e;
}

cst_err cst_totp_secret_open_ring(const cst_dek_ring *ring, const cst_key *first,
                                  const cst_user_row *u, uint8_t out[CST_TOTP_SECRET_LEN],
                                  const cst_key **used)
{
    cst_err e = cst_totp_secret_open(first, u, out);
    const cst_key *k = first;
    for (size_t i = ring ? atomic_load(&ring->n) : 0; e == CST_ERR_INTEGRITY && i-- > 0;) {
        if (&ring->keys[i] == first)
            continue;
        cst_err_clear();
        k = &ring->keys[i];
        e = cst_totp_secret_open(k, u, out);
    }
    if (e == CST_OK && used)
        *used = k;
    return e;
}

cst_err cst_totp_secret_seal(const cst_key *key, cst_user_row *u,
                             const uint8_t secret[CST_TOTP_SECRET_LEN])
{
    cst_buf aad, blob;
    cst_buf_init(&aad, 256);
    cst_buf_init(&blob, sizeof(u->totp_sealed));
    cst_err e = totp_aad(&aad, u);
    if (e == CST_OK)
        e = cst_seal(key, &aad, secret, CST_TOTP_SECRET_LEN, &blob);
    if (e == CST_OK) {
        memcpy(u->totp_sealed, blob.data, blob.len);
        u->totp_sealed_len = blob.len;
    }
    cst_buf_free(&blob);
    cst_buf_free(&aad);
    return e;
}

cst_err cst_totp_accept(cst_store *st, const cst_user_row *u,
                        const uint8_t secret[CST_TOTP_SECRET_LEN], const char *code, int64_t now_s)
{
    int64_t step;
    cst_err e = cst_totp_verify(secret, CST_TOTP_SECRET_LEN, code, now_s, u->totp_last_step, &step);
    if (e == CST_OK)
        e = cst_store_totp_advance(st, u->id, step);
    if (e != CST_OK && strstr(cst_err_message(e), "already used"))
        cst_warn("auth: replayed two-factor code refused for user %s", u->id);
    return e;
}

cst_err cst_recovery_use(cst_store *st, const cst_user_row *u, const char *code)
{
    uint8_t h[CST_HASH_LEN];
    char hex[2 * CST_HASH_LEN + 1];
    cst_recovery_hash(code, h);
    cst_hex(h, sizeof(h), hex);
    json_t *codes = json_loads(u->recovery, 0, NULL);
    size_t i, found = (size_t)-1;
    json_t *v;
    json_array_foreach(codes, i, v)
    {
        if (json_is_string(v) && sodium_memcmp(json_string_value(v), hex, sizeof(hex) - 1) == 0)
            found = i;
    }
    cst_err e = CST_OK;
    char *next = NULL;
    if (found == (size_t)-1)
        e = cst_fail(CST_ERR_UNAUTHENTICATED, "invalid or used recovery code");
    else {
        json_array_remove(codes, found);
        next = json_dumps(codes, JSON_COMPACT);
        e = next ? cst_store_recovery_swap(st, u->id, u->recovery, next)
                 : cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    cst_json_free_text(next);
    json_decref(codes);
    return e;
}
