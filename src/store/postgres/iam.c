/* iam.c: the PostgreSQL driver's tenants, their latest keys, users and logins: SQLite's
 * (store/sqlite/system.c) operation by operation, with the same errors and messages. Many nodes
 * share the database, so every read-modify-write is ONE statement (an UPDATE that computes the
 * new value, or a compare-and-swap in its WHERE), never a read then a write. Every write to
 * principals bumps the shared principals epoch in the same statement (CST_PGD_BUMP, IAM-5). */
#include <string.h>

#include "store/postgres/pg.h"
#include "util/util.h"

/* An update or delete's result: its error, else what when it changed no row (n: rows). */
static cst_err changed_one(cst_err e, int64_t n, cst_err code, const char *what)
{
    TRY(e);
    ENSURE(n == 1, code, "%s", what);
    return CST_OK;
}

/* ---- tenants ---- */
#define TENANT_COLS                                                                                \
    "id, name, region, plan, state, created_at, settings, event, event_at, state_since, "          \
    "last_active_at"

static void tenant_row(const PGresult *r, int i, void *out)
{
    cst_tenant_row *t = out;
    cst_pgd_col_text(r, i, 0, t->id, sizeof(t->id));
    cst_pgd_col_text(r, i, 1, t->name, sizeof(t->name));
    cst_pgd_col_text(r, i, 2, t->region, sizeof(t->region));
    cst_pgd_col_text(r, i, 3, t->plan, sizeof(t->plan));
    cst_pgd_col_text(r, i, 4, t->state, sizeof(t->state));
    t->created_at = cst_pgd_col_int(r, i, 5);
    cst_pgd_col_text(r, i, 6, t->settings, sizeof(t->settings));
    cst_pgd_col_text(r, i, 7, t->event, sizeof(t->event));
    t->event_at = cst_pgd_col_int(r, i, 8);
    t->state_since = cst_pgd_col_int(r, i, 9);
    t->last_active_at = cst_pgd_col_int(r, i, 10);
}

#define USER_COLS                                                                                  \
    "id, tenant_id, username, pw_hash, roles, grants, pw_history, must_change_password, "          \
    "disabled, failed_logins, locked_until, totp_state, totp_sealed, totp_last_step, recovery, "   \
    "created_at, last_login_at"
/* A new user's values ($1 is the first of 14 parameters: see user_args). */
#define USER_VALUES(a, b, c, d, e, f, g, h, i, j, k, l, m, n)                                      \
    a ", " b ", " c ", " d ", " e ", " f ", " g ", " h ", " i ", 0, 0, " j ", " k ", " l ", " m    \
      ", " n ", 0"

/* The tenant row, its two keys and its owner: one statement, so one transaction with or
 * without w. A name another node holds (committed, or committing: the insert waits for it)
 * inserts nothing: ON CONFLICT DO NOTHING, so that a taken name fails this operation alone and
 * leaves w's transaction able to go on (a failed statement would abort it). */
cst_err cst_postgres_store_tenant_create(cst_store *st, cst_work *w, const cst_tenant_row *t,
                                         const cst_buf *dek, const cst_buf *idx,
                                         const cst_user_row *u)
{
    PGresult *r = NULL;
    cst_err e = cst_pgd_run(
        PG(st), NULL, w, true, &r, NULL,
        "WITH " CST_PGD_BUMP ", t AS (INSERT INTO custodia_system.tenants(" TENANT_COLS
        ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING "
        "RETURNING id), k AS (INSERT INTO custodia_system.tenant_keys(tenant_id, purpose, "
        "version, wrapped, created_at) SELECT id, 'dek', 1, $12, $6 FROM t UNION ALL SELECT id, "
        "'idx', 1, $13, $6 FROM t), u AS (INSERT INTO custodia_system.users(" USER_COLS
        ") SELECT " USER_VALUES("$14", "$15", "$16", "$17", "$18", "$19", "$20", "$21", "$22",
                                "$23", "$24", "$25", "$26", "$27") " FROM t) "
                                                                   "SELECT count(*) FROM t",
        "sssssissiii"
        "bb"
        "ssssissiiibisi",
        t->id, t->name, t->region, t->plan, t->state, t->created_at,
        t->settings[0] ? t->settings : "{}", t->event, t->event_at, t->state_since,
        t->last_active_at, dek->data, dek->len, idx->data, idx->len, u->id, u->tenant_id,
        u->username, u->pw_hash, (int64_t)u->roles, u->grants[0] ? u->grants : "[]",
        u->pw_history[0] ? u->pw_history : "[]", (int64_t)u->must_change_password,
        (int64_t)u->disabled, (int64_t)u->totp_state, u->totp_sealed, u->totp_sealed_len,
        u->totp_last_step, u->recovery[0] ? u->recovery : "[]", u->created_at);
    /* the tenant's conflicts insert nothing: a unique violation left is its owner's */
    if (e == CST_ERR_CONFLICT)
        e = cst_fail(CST_ERR_CONFLICT, "a user with that username exists");
    if (e == CST_OK && cst_pgd_col_int(r, 0, 0) != 1)
        e = cst_fail(CST_ERR_CONFLICT, "a tenant with that name exists");
    PQclear(r);
    return e;
}

cst_err cst_postgres_store_tenant_get(cst_store *st, cst_work *w, const char *id,
                                      cst_tenant_row *out)
{
    return cst_pgd_one(PG(st), NULL, w, tenant_row, out, "no such resource",
                       "SELECT " TENANT_COLS " FROM custodia_system.tenants WHERE id = $1", "s",
                       id);
}

cst_err cst_postgres_store_tenant_by_name(cst_store *st, cst_work *w, const char *name,
                                          cst_tenant_row *out)
{
    return cst_pgd_one(PG(st), NULL, w, tenant_row, out, "no such resource",
                       "SELECT " TENANT_COLS " FROM custodia_system.tenants WHERE name = $1", "s",
                       name);
}

CST_PGD_VISITOR(tenant, cst_tenant_row, tenant_row)

cst_err cst_postgres_store_tenant_list(cst_store *st, cst_work *w, const char *after, int limit,
                                       cst_err (*fn)(const cst_tenant_row *, void *), void *ctx)
{
    struct tenant_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, tenant_visit, &v, NULL,
                        "SELECT " TENANT_COLS " FROM custodia_system.tenants WHERE id > $1 ORDER "
                        "BY id LIMIT $2",
                        "si", after ? after : "", (int64_t)limit);
}

cst_err cst_postgres_store_tenant_settings_set(cst_store *st, cst_work *w, const char *tenant_id,
                                               const char *settings_json)
{
    int64_t n = 0;
    cst_err e =
        cst_pgd_run(PG(st), NULL, w, true, NULL, &n,
                    "WITH " CST_PGD_BUMP " UPDATE custodia_system.tenants SET settings = $1 "
                    "WHERE id = $2",
                    "ss", settings_json, tenant_id);
    return changed_one(e, n, CST_ERR_NOT_FOUND, "no such tenant");
}

cst_err cst_postgres_store_tenant_lifecycle_set(cst_store *st, cst_work *w, const cst_tenant_row *t)
{
    int64_t n = 0;
    cst_err e =
        cst_pgd_run(PG(st), NULL, w, true, NULL, &n,
                    "WITH " CST_PGD_BUMP " UPDATE custodia_system.tenants SET plan = $1, state "
                    "= $2, event = $3, event_at = $4, state_since = $5 WHERE id = $6",
                    "sssiis", t->plan, t->state, t->event, t->event_at, t->state_since, t->id);
    return changed_one(e, n, CST_ERR_NOT_FOUND, "no such tenant");
}

/* Records use (no principal changes: no bump, as SQLite's leaves the generation). */
cst_err cst_postgres_store_tenant_touch(cst_store *st, cst_work *w, const char *tenant_id,
                                        int64_t now)
{
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "UPDATE custodia_system.tenants SET last_active_at = $1 WHERE id = $2", "is",
                       now, tenant_id);
}

struct latest {
    uint32_t *version;
    cst_buf *blob;
    cst_err e;
};

static void latest_row(const PGresult *r, int i, void *out)
{
    struct latest *l = out;
    *l->version = (uint32_t)cst_pgd_col_int(r, i, 0);
    /* appended, as SQLite's */
    l->e = cst_buf_append(l->blob, PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
}

cst_err cst_postgres_store_key_latest(cst_store *st, cst_work *w, const char *tenant_id,
                                      const char *purpose, uint32_t *version, cst_buf *blob)
{
    struct latest l = {version, blob, CST_OK};
    cst_err e = cst_pgd_one(PG(st), NULL, w, latest_row, &l, "no such key",
                            "SELECT version, wrapped FROM custodia_system.tenant_keys WHERE "
                            "tenant_id = $1 AND purpose = $2 ORDER BY version DESC LIMIT 1",
                            "ss", tenant_id, purpose);
    if (e == CST_ERR_NOT_FOUND) {
        cst_err_clear();
        e = cst_fail(CST_ERR_INTEGRITY, "tenant %s has no %s key", tenant_id, purpose);
    }
    return e == CST_OK ? l.e : e;
}

/* ---- users ---- */
static void user_row(const PGresult *r, int i, void *out)
{
    cst_user_row *u = out;
    memset(u, 0, sizeof(*u));
    cst_pgd_col_text(r, i, 0, u->id, sizeof(u->id));
    cst_pgd_col_text(r, i, 1, u->tenant_id, sizeof(u->tenant_id));
    cst_pgd_col_text(r, i, 2, u->username, sizeof(u->username));
    cst_pgd_col_text(r, i, 3, u->pw_hash, sizeof(u->pw_hash));
    u->roles = (uint32_t)cst_pgd_col_int(r, i, 4);
    cst_pgd_col_text(r, i, 5, u->grants, sizeof(u->grants));
    cst_pgd_col_text(r, i, 6, u->pw_history, sizeof(u->pw_history));
    u->must_change_password = cst_pgd_col_bool(r, i, 7);
    u->disabled = cst_pgd_col_bool(r, i, 8);
    u->failed_logins = (int)cst_pgd_col_int(r, i, 9);
    u->locked_until = cst_pgd_col_int(r, i, 10);
    u->totp_state = (int)cst_pgd_col_int(r, i, 11);
    size_t n = cst_pgd_col_bytes(r, i, 12, u->totp_sealed, sizeof(u->totp_sealed));
    if (n <= sizeof(u->totp_sealed))
        u->totp_sealed_len = n;
    else /* too long to be a sealed secret: none, as SQLite reads it */
        memset(u->totp_sealed, 0, sizeof(u->totp_sealed));
    u->totp_last_step = cst_pgd_col_int(r, i, 13);
    cst_pgd_col_text(r, i, 14, u->recovery, sizeof(u->recovery));
    u->created_at = cst_pgd_col_int(r, i, 15);
    u->last_login_at = cst_pgd_col_int(r, i, 16);
}

/* A username taken (by another node too) inserts nothing rather than abort w's transaction. */
cst_err cst_postgres_store_user_create(cst_store *st, cst_work *w, const cst_user_row *u)
{
    int64_t n = 0;
    cst_err e = cst_pgd_run(
        PG(st), NULL, w, true, NULL, &n,
        "WITH " CST_PGD_BUMP " INSERT INTO custodia_system.users(" USER_COLS
        ") VALUES(" USER_VALUES("$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11",
                                "$12", "$13", "$14") ") ON CONFLICT DO NOTHING",
        "ssssissiiibisi", u->id, u->tenant_id, u->username, u->pw_hash, (int64_t)u->roles,
        u->grants[0] ? u->grants : "[]", u->pw_history[0] ? u->pw_history : "[]",
        (int64_t)u->must_change_password, (int64_t)u->disabled, (int64_t)u->totp_state,
        u->totp_sealed, u->totp_sealed_len, u->totp_last_step, u->recovery[0] ? u->recovery : "[]",
        u->created_at);
    return changed_one(e, n, CST_ERR_CONFLICT, "a user with that username exists");
}

cst_err cst_postgres_store_user_get(cst_store *st, cst_work *w, const char *id, cst_user_row *out)
{
    return cst_pgd_one(PG(st), NULL, w, user_row, out, "no such resource",
                       "SELECT " USER_COLS " FROM custodia_system.users WHERE id = $1", "s", id);
}

cst_err cst_postgres_store_user_by_name(cst_store *st, cst_work *w, const char *tenant_id,
                                        const char *username, cst_user_row *out)
{
    return cst_pgd_one(PG(st), NULL, w, user_row, out, "no such resource",
                       "SELECT " USER_COLS " FROM custodia_system.users WHERE tenant_id = $1 AND "
                       "username = $2",
                       "ss", tenant_id, username);
}

cst_err cst_postgres_store_user_update(cst_store *st, cst_work *w, const cst_user_row *u)
{
    int64_t n = 0;
    cst_err e =
        cst_pgd_run(PG(st), NULL, w, true, NULL, &n,
                    "WITH " CST_PGD_BUMP " UPDATE custodia_system.users SET pw_hash = $1, roles "
                    "= $2, grants = $3, pw_history = $4, must_change_password = $5, disabled = "
                    "$6, totp_state = $7, totp_sealed = $8, totp_last_step = $9, recovery = $10 "
                    "WHERE id = $11",
                    "sissiiibiss", u->pw_hash, (int64_t)u->roles, u->grants, u->pw_history,
                    (int64_t)u->must_change_password, (int64_t)u->disabled, (int64_t)u->totp_state,
                    u->totp_sealed, u->totp_sealed_len, u->totp_last_step, u->recovery, u->id);
    return changed_one(e, n, CST_ERR_NOT_FOUND, "no such user");
}

CST_PGD_VISITOR(user, cst_user_row, user_row)

cst_err cst_postgres_store_user_list(cst_store *st, cst_work *w, const char *tenant_id,
                                     cst_err (*fn)(const cst_user_row *, void *), void *ctx)
{
    struct user_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, user_visit, &v, NULL,
                        "SELECT " USER_COLS " FROM custodia_system.users WHERE tenant_id = $1 "
                        "ORDER BY username",
                        "s", tenant_id);
}

/* The user and their tokens in one statement. The tokens go only with the user: no such user
 * of the tenant deletes nothing (SQLite rolls its token delete back then). */
cst_err cst_postgres_store_user_delete(cst_store *st, cst_work *w, const char *tenant_id,
                                       const char *id)
{
    int64_t n = 0;
    cst_err e = cst_pgd_run(PG(st), NULL, w, true, NULL, &n,
                            "WITH " CST_PGD_BUMP ", k AS (DELETE FROM custodia_system.tokens WHERE "
                            "user_id = $1 AND tenant_id = $2 AND EXISTS (SELECT 1 FROM "
                            "custodia_system.users WHERE id = $1 AND tenant_id = $2)) DELETE FROM "
                            "custodia_system.users WHERE id = $1 AND tenant_id = $2",
                            "ss", id, tenant_id);
    return changed_one(e, n, CST_ERR_NOT_FOUND, "no such user");
}

static void count_row(const PGresult *r, int i, void *out)
{
    *(int *)out = (int)cst_pgd_col_int(r, i, 0);
}

cst_err cst_postgres_store_user_count(cst_store *st, cst_work *w, const char *tenant_id,
                                      uint32_t role_mask, int *count)
{
    *count = 0;
    return cst_pgd_one(PG(st), NULL, w, count_row, count, "no count",
                       "SELECT count(*) FROM custodia_system.users WHERE tenant_id = $1 AND "
                       "(roles & $2) = $2 AND disabled = 0",
                       "si", tenant_id, (int64_t)role_mask);
}

/* ---- logins (IAM-2, IAM-3) ---- */

/* IAM-2: atomic across nodes: one UPDATE computes the new count and lock from the row it locks
 * (a concurrent failure on another node is counted on top: six spread over nodes lock). A lock
 * that has expired starts a new count (one failure after it must not re-lock the account). */
cst_err cst_postgres_store_login_failed(cst_store *st, const char *user_id, int64_t now, int max,
                                        int64_t lock_us, int *failed, int64_t *locked_until)
{
    PGresult *r = NULL;
    TRY(cst_pgd_run(PG(st), NULL, NULL, true, &r, NULL,
                    "WITH " CST_PGD_BUMP " UPDATE custodia_system.users SET failed_logins = CASE "
                    "WHEN locked_until > 0 AND locked_until <= $1 THEN 1 ELSE failed_logins + 1 "
                    "END, locked_until = CASE WHEN (CASE WHEN locked_until > 0 AND locked_until "
                    "<= $1 THEN 1 ELSE failed_logins + 1 END) >= $2 THEN $3 WHEN locked_until <= "
                    "$1 THEN 0 ELSE locked_until END WHERE id = $4 RETURNING failed_logins, "
                    "locked_until",
                    "iiis", now, (int64_t)max, now + lock_us, user_id));
    if (PQntuples(r) > 0) {
        *failed = (int)cst_pgd_col_int(r, 0, 0);
        *locked_until = cst_pgd_col_int(r, 0, 1);
    }
    PQclear(r);
    return CST_OK;
}

cst_err cst_postgres_store_login_ok(cst_store *st, cst_work *w, const char *user_id, int64_t now)
{
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "WITH " CST_PGD_BUMP " UPDATE custodia_system.users SET failed_logins = 0, "
                       "locked_until = 0, last_login_at = $1 WHERE id = $2",
                       "is", now, user_id);
}

cst_err cst_postgres_store_login_unlock(cst_store *st, cst_work *w, const char *user_id)
{
    int64_t n = 0;
    cst_err e =
        cst_pgd_run(PG(st), NULL, w, true, NULL, &n,
                    "WITH " CST_PGD_BUMP " UPDATE custodia_system.users SET failed_logins = 0, "
                    "locked_until = 0 WHERE id = $1",
                    "s", user_id);
    return changed_one(e, n, CST_ERR_NOT_FOUND, "no such user");
}

/* IAM-2, IAM-3: a second factor, once presented, stays used whatever becomes of the request,
 * so both updates below commit at once, outside any unit of work (store/sqlite/system.c says
 * why). Atomic across nodes: one conditional UPDATE each; of two nodes presenting the same
 * step, or consuming the same recovery code, the second re-checks its WHERE on the row the
 * first committed and changes nothing. */
cst_err cst_postgres_store_totp_advance(cst_store *st, const char *user_id, int64_t step)
{
    int64_t n = 0;
    cst_err e =
        cst_pgd_run(PG(st), NULL, NULL, true, NULL, &n,
                    "WITH " CST_PGD_BUMP " UPDATE custodia_system.users SET totp_last_step = $1 "
                    "WHERE id = $2 AND totp_last_step < $1",
                    "is", step, user_id);
    return changed_one(e, n, CST_ERR_UNAUTHENTICATED,
                       "this two-factor code was already used; wait for the next one");
}

cst_err cst_postgres_store_recovery_swap(cst_store *st, const char *user_id, const char *old_json,
                                         const char *new_json)
{
    int64_t n = 0;
    cst_err e =
        cst_pgd_run(PG(st), NULL, NULL, true, NULL, &n,
                    "WITH " CST_PGD_BUMP " UPDATE custodia_system.users SET recovery = $1 WHERE "
                    "id = $2 AND recovery = $3",
                    "sss", new_json, user_id, old_json);
    return changed_one(e, n, CST_ERR_UNAUTHENTICATED, "this recovery code was already used");
}
