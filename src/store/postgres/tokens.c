/* tokens.c: the PostgreSQL driver's API tokens and login sessions: SQLite's
 * (store/sqlite/system.c) operation by operation, with the same errors and messages. Every
 * write to them bumps the shared principals epoch in the same statement (CST_PGD_BUMP, IAM-5),
 * so that a token deleted on one node stops working on every other. */
#include <string.h>

#include "store/postgres/pg.h"
#include "util/util.h"

#define TOKEN_COLS                                                                                 \
    "id, tenant_id, user_id, hash, name, session, perms, created_at, expires_at, last_used_at, "   \
    "grant_id"

static void token_row(const PGresult *r, int i, void *out)
{
    cst_token_row *t = out;
    cst_pgd_col_text(r, i, 0, t->id, sizeof(t->id));
    cst_pgd_col_text(r, i, 1, t->tenant_id, sizeof(t->tenant_id));
    cst_pgd_col_text(r, i, 2, t->user_id, sizeof(t->user_id));
    if (cst_pgd_col_bytes(r, i, 3, t->hash, sizeof(t->hash)) != CST_HASH_LEN)
        memset(t->hash, 0, sizeof(t->hash));
    cst_pgd_col_text(r, i, 4, t->name, sizeof(t->name));
    t->session = cst_pgd_col_bool(r, i, 5);
    t->perms = (uint32_t)cst_pgd_col_int(r, i, 6);
    t->created_at = cst_pgd_col_int(r, i, 7);
    t->expires_at = cst_pgd_col_int(r, i, 8);
    t->last_used_at = cst_pgd_col_int(r, i, 9);
    cst_pgd_col_text(r, i, 10, t->grant_id, sizeof(t->grant_id));
}

cst_err cst_postgres_store_token_create(cst_store *st, cst_work *w, const cst_token_row *t)
{
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "WITH " CST_PGD_BUMP " INSERT INTO custodia_system.tokens(" TOKEN_COLS
                       ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                       "sssbsiiiiis", t->id, t->tenant_id, t->user_id, t->hash, sizeof(t->hash),
                       t->name, (int64_t)t->session, (int64_t)t->perms, t->created_at,
                       t->expires_at, t->last_used_at, t->grant_id);
}

cst_err cst_postgres_store_token_get(cst_store *st, cst_work *w, const char *id, cst_token_row *out)
{
    return cst_pgd_one(PG(st), NULL, w, token_row, out, "no such resource",
                       "SELECT " TOKEN_COLS " FROM custodia_system.tokens WHERE id = $1", "s", id);
}

/* Records use (no principal changes: no bump). */
cst_err cst_postgres_store_token_touch(cst_store *st, cst_work *w, const char *id, int64_t now)
{
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "UPDATE custodia_system.tokens SET last_used_at = $1 WHERE id = $2", "is",
                       now, id);
}

cst_err cst_postgres_store_token_delete(cst_store *st, cst_work *w, const char *tenant_id,
                                        const char *user_id, const char *id)
{
    int64_t n = 0;
    TRY(cst_pgd_run(PG(st), NULL, w, true, NULL, &n,
                    "WITH " CST_PGD_BUMP " DELETE FROM custodia_system.tokens WHERE id = $1 AND "
                    "tenant_id = $2 AND ($3::text IS NULL OR user_id = $3) AND grant_id = ''",
                    "sss", id, tenant_id, user_id));
    ENSURE(n == 1, CST_ERR_NOT_FOUND, "no such token");
    return CST_OK;
}

CST_PGD_VISITOR(token, cst_token_row, token_row)

cst_err cst_postgres_store_token_list(cst_store *st, cst_work *w, const char *tenant_id,
                                      const char *user_id,
                                      cst_err (*fn)(const cst_token_row *, void *), void *ctx)
{
    struct token_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, token_visit, &v, NULL,
                        "SELECT " TOKEN_COLS " FROM custodia_system.tokens WHERE tenant_id = $1 "
                        "AND ($2::text IS NULL OR user_id = $2) AND grant_id = '' ORDER BY "
                        "created_at, id",
                        "ss", tenant_id, user_id);
}

cst_err cst_postgres_store_sessions_end(cst_store *st, cst_work *w, const char *user_id,
                                        const char *keep_id)
{
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "WITH " CST_PGD_BUMP " DELETE FROM custodia_system.tokens WHERE user_id = "
                       "$1 AND session = 1 AND id != $2",
                       "ss", user_id, keep_id ? keep_id : "");
}
