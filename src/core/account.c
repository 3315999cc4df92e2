/* account.c: usernames (IAM-1) and new accounts with a one-time password. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/account.h"
#include "core/authz.h"
#include "crypto/secrets.h"
#include "util/util.h"

cst_err cst_account_check_username(const char *u)
{
    size_t len = strlen(u);
    bool ok = len >= 1 && len <= 64;
    for (const char *c = u; ok && *c; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
             *c == '.' || *c == '_' || *c == '-' || *c == '@';
    ENSURE(ok, CST_ERR_INVALID, "username must be 1-64 characters of A-Z a-z 0-9 . _ - @");
    return CST_OK;
}

cst_err cst_account_new_password(char password[32], char *hash, char *history, size_t history_len)
{
    TRY(cst_password_generate(password));
    TRY(cst_password_hash(password, hash));
    return cst_password_history_push("[]", hash, history, history_len);
}

cst_err cst_account_new(const char *tenant_id, const char *username, uint32_t roles,
                        int64_t created_at, cst_user_row *u, char password[32])
{
    memset(u, 0, sizeof(*u));
    cst_random_id("us", u->id);
    TRY(cst_copy(u->tenant_id, sizeof(u->tenant_id), tenant_id));
    TRY(cst_copy(u->username, sizeof(u->username), username));
    TRY(cst_copy(u->grants, sizeof(u->grants), "[]"));
    u->roles = roles;
    u->must_change_password = true;
    u->created_at = created_at;
    return cst_account_new_password(password, u->pw_hash, u->pw_history, sizeof(u->pw_history));
}

cst_err cst_account_set_password(cst_user_row *u, const char *password, bool must_change)
{
    char hash[CST_PWHASH_LEN], hist[CST_PW_HISTORY_JSON];
    cst_err e = cst_password_hash(password, hash);
    if (e == CST_OK)
        e = cst_password_history_push(u->pw_history, hash, hist, sizeof(hist));
    if (e == CST_OK)
        e = cst_copy(u->pw_hash, sizeof(u->pw_hash), hash);
    if (e == CST_OK)
        e = cst_copy(u->pw_history, sizeof(u->pw_history), hist);
    if (e == CST_OK)
        u->must_change_password = must_change;
    sodium_memzero(hash, sizeof(hash));
    return e;
}

cst_err cst_account_reset_password(cst_user_row *u, char password[32])
{
    TRY(cst_password_generate(password));
    return cst_account_set_password(u, password, true);
}

cst_err cst_account_keep_an_owner(cst_store *st, cst_work *w, const cst_user_row *before,
                                  const cst_user_row *after)
{
    const uint32_t owner = CST_ROLE_BIT(CST_ROLE_OWNER);
    bool was = (before->roles & owner) && !before->disabled;
    bool is = after && (after->roles & owner) && !after->disabled;
    if (!was || is)
        return CST_OK;
    int owners = 0;
    TRY(cst_store_user_count(st, w, before->tenant_id, owner, &owners));
    ENSURE(owners > 1, CST_ERR_CONFLICT,
           "the tenant's last owner cannot be removed, disabled or demoted");
    return CST_OK;
}

cst_err cst_user_rows_add(const cst_user_row *u, void *rows)
{
    cst_user_rows *r = rows;
    if (r->keep && !r->keep(u))
        return CST_OK;
    TRY(cst_room((void **)&r->rows, &r->cap, r->n, sizeof(*r->rows)));
    r->rows[r->n++] = *u;
    return CST_OK;
}

void cst_user_rows_free(cst_user_rows *r)
{
    if (r->rows)
        sodium_memzero(r->rows, r->cap * sizeof(*r->rows));
    free(r->rows);
    r->rows = NULL;
    r->n = r->cap = 0;
}
