/* authn.c: two-factor rules and secrets (IAM-3): TOTP secrets sealed under the tenant's DEK (an
 * operator's under a key derived from the KEK), codes used once, recovery codes used once. */
#include <jansson.h>
#include <sodium.h>
#include <string.h>

#include "core/authn.h"
#include "util/json.h"
#include "util/util.h"

bool cst_mfa_required(const cst_user_row *u, const cst_tenant_settings *s)
{
    /* IAM-3: operators always; owners and admins always; everyone when the tenant says so. */
    return strcmp(u->tenant_id, CST_SYS_TENANT) == 0 || (u->roles & CST_MFA_ROLES) || s->mfa_all;
}

cst_err cst_token_issue(cst_store *st, const cst_user_row *u, cst_token_row *tok,
                        char token[CST_TOKEN_LEN + 1])
{
    TRY(cst_token_generate(token, tok->id, tok->hash));
    TRY(cst_copy(tok->tenant_id, sizeof(tok->tenant_id), u->tenant_id));
    TRY(cst_copy(tok->user_id, sizeof(tok->user_id), u->id));
    return cst_store_token_create(st, tok);
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
