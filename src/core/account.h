/* account.h: accounts, tenant users and operators alike (IAM-1): usernames, new accounts with a
 * one-time password, and the owner invariants (the last owner stays). */
#ifndef CST_CORE_ACCOUNT_H
#define CST_CORE_ACCOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

/* Usernames: 1-64 characters of A-Z a-z 0-9 . _ - @. */
CST_MUST_USE cst_err cst_account_check_username(const char *u);
/* A one-time password, its Argon2id hash and a history holding that hash. */
CST_MUST_USE cst_err cst_account_new_password(char password[32], char *hash, char *history,
                                              size_t history_len);
/* A new account row in tenant_id (CST_SYS_TENANT for operators): a fresh id, the username,
 * roles, no grants, created at created_at, a one-time password (returned in password, which
 * the caller shows once and wipes) that must be changed at the first login. */
CST_MUST_USE cst_err cst_account_new(const char *tenant_id, const char *username, uint32_t roles,
                                     int64_t created_at, cst_user_row *u, char password[32]);

/* Sets the account's password (already checked against the password rules): its Argon2id
 * hash, pushed onto the history; must_change: it is a one-time password. */
CST_MUST_USE cst_err cst_account_set_password(cst_user_row *u, const char *password,
                                              bool must_change);
/* An administrator's password reset: a new one-time password (returned in password, shown
 * once, wiped by the caller) pushed onto the account's history, to be changed at next login. */
CST_MUST_USE cst_err cst_account_reset_password(cst_user_row *u, char password[32]);
/* The tenant keeps at least one enabled owner: refuses a change from before to after (NULL:
 * the account is removed) that would leave it none. */
CST_MUST_USE cst_err cst_account_keep_an_owner(cst_store *st, cst_work *w,
                                               const cst_user_row *before,
                                               const cst_user_row *after);

/* The users a listing (cst_store_user_list's fn: cst_user_rows_add) passes to keep (NULL: every
 * one); cst_user_rows_free wipes and frees them (they hold password hashes and sealed
 * secrets). */
typedef struct cst_user_rows {
    bool (*keep)(const cst_user_row *u);
    cst_user_row *rows;
    size_t n, cap;
} cst_user_rows;
CST_MUST_USE cst_err cst_user_rows_add(const cst_user_row *u, void *rows);
void cst_user_rows_free(cst_user_rows *r);

#endif
