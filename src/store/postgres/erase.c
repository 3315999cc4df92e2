/* erase.c: the PostgreSQL driver's checkpoint and the residue check of a crypto-erase (RET-4).
 *
 * The node cannot read PostgreSQL's files (the server may be on another machine), so the byte
 * search the SQLite driver makes of system.db has no counterpart here. What the database
 * allows is done and each step says what it checked: VACUUM FULL rewrites the key and user
 * tables into new files without the destroyed keys' row versions (a plain VACUUM only marks
 * their space free: the bytes stayed in the pages, as api.test_api_cluster found; the old files
 * are truncated at once and removed at the next checkpoint), a query checks that no destroyed
 * wrapped key is left in a live row, a CHECKPOINT (when the role may) writes the pages out. What
 * no client can clear (PostgreSQL's WAL, archived WAL, base backups, replicas) is said in a
 * note of its own for the certificate. */
#include <stdlib.h>
#include <string.h>

#include "store/postgres/pg.h"
#include "util/util.h"

/* Whether the role may run CHECKPOINT: a superuser, or (PostgreSQL 15 on) a member of
 * pg_checkpoint. */
static cst_err may_checkpoint(cst_pg_conn *c, bool *may)
{
    PGresult *r = NULL;
    TRY(cst_pg_exec(c, "cst_may_checkpoint",
                    "SELECT r.rolsuper OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE "
                    "g.rolname = 'pg_checkpoint' AND pg_catalog.pg_has_role(r.oid, g.oid, "
                    "'MEMBER')) FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
                    0, NULL, &r));
    *may = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return CST_OK;
}

/* CHECKPOINT when the role may; *ran says whether it did. */
static cst_err checkpoint(cst_pg_conn *c, bool *ran)
{
    TRY(may_checkpoint(c, ran));
    return *ran ? cst_pg_run(c, "CHECKPOINT") : CST_OK;
}

/* PostgreSQL's durability is its WAL: a committed transaction is durable when its commit record
 * is flushed, whatever the data files hold. CHECKPOINT only moves the dirty pages to the data
 * files early (a shorter crash recovery; the freed space of deleted rows reaches the files), so
 * without the right to run it this is a no-op, not a failure: PostgreSQL's own checkpoints do
 * the same within checkpoint_timeout. */
cst_err cst_postgres_store_checkpoint(cst_store *st)
{
    cst_pg_conn *c = NULL;
    bool ran = false;
    TRY(cst_pg_acquire(PG(st)->pool, CST_PGD_ACQUIRE_MS, &c));
    cst_err e = checkpoint(c, &ran);
    cst_pg_release(PG(st)->pool, c);
    return e;
}

/* How many live rows of tenant_keys hold the hex blob inside their wrapped key. */
static cst_err key_rows_holding(pg_store *st, const char *hex, int64_t *rows)
{
    *rows = 0;
    size_t len = strlen(hex) / 2;
    if (len == 0)
        return CST_OK;
    uint8_t *bin = malloc(len);
    ENSURE(bin != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_unhex(hex, bin, len);
    PGresult *r = NULL;
    if (e == CST_OK)
        e = cst_pgd_run(st, NULL, NULL, false, &r, NULL,
                        "SELECT pg_catalog.count(*) FROM custodia_system.tenant_keys WHERE "
                        "position($1 IN wrapped) > 0",
                        "b", bin, len);
    if (e == CST_OK)
        *rows = cst_pgd_col_int(r, 0, 0);
    PQclear(r);
    free(bin);
    return e;
}

static void say(void (*note)(const char *check, void *ctx), const char *text, void *ctx)
{
    if (note)
        note(text, ctx);
}

/* RET-4 (store.h): the steps the database allows, each noted; CST_ERR_INTEGRITY when a
 * destroyed wrapped key is still in the key table. */
static cst_err residue(pg_store *st, cst_pg_conn *c, const json_t *hex_blobs,
                       void (*note)(const char *check, void *ctx), void *ctx)
{
    /* VACUUM runs outside any transaction: c is a pooled connection of its own, autocommit */
    /* ACCESS EXCLUSIVE on both small tables for the rewrite: logins and key reads on every
     * node wait that long (docs/operations.md) */
    TRY(cst_pg_run(c, "VACUUM FULL custodia_system.tenant_keys, custodia_system.users"));
    say(note,
        "VACUUM FULL of custodia_system.tenant_keys and custodia_system.users: both tables "
        "rewritten into new files holding only live rows; the old files, with the destroyed "
        "keys' bytes, truncated (a version that a still-open transaction of another session "
        "could see is kept until it ends)",
        ctx);
    size_t i;
    json_t *b;
    json_array_foreach(hex_blobs, i, b)
    {
        int64_t rows = 0;
        const char *hex = json_string_value(b);
        if (hex)
            TRY(key_rows_holding(st, hex, &rows));
        ENSURE(rows == 0, CST_ERR_INTEGRITY,
               "a destroyed wrapped key is still present in custodia_system.tenant_keys");
    }
    say(note,
        "query of custodia_system.tenant_keys for every destroyed wrapped key (inside any "
        "wrapped value): not found",
        ctx);
    bool ran = false;
    TRY(checkpoint(c, &ran));
    say(note,
        ran ? "CHECKPOINT: PostgreSQL wrote its dirty pages, the vacuumed ones included, to its "
              "data files"
            : "CHECKPOINT not run: the database role is neither a superuser nor a member of "
              "pg_checkpoint; the vacuumed pages reach the data files at PostgreSQL's next "
              "scheduled checkpoint",
        ctx);
    say(note,
        "not checked: copies of the destroyed keys may remain in PostgreSQL's write-ahead log, "
        "its archived WAL, base backups and replicas until they age out under the database "
        "operator's retention; the node cannot read or clear them",
        ctx);
    return CST_OK;
}

cst_err cst_postgres_store_residue_check(cst_store *st, const json_t *hex_blobs,
                                         void (*note)(const char *check, void *ctx), void *ctx)
{
    cst_pg_conn *c = NULL;
    TRY(cst_pg_acquire(PG(st)->pool, CST_PGD_ACQUIRE_MS, &c));
    cst_err e = residue(PG(st), c, hex_blobs, note, ctx);
    cst_pg_release(PG(st)->pool, c);
    return e;
}
