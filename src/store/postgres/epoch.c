/* epoch.c: the principals epoch (IAM-5), custodia_system.principals_epoch: one row, one counter
 * that every write to principals bumps in its own transaction (pg.h: CST_PGD_BUMP), so that a
 * node's cache of principals notices another node's writes (cst_store_principals_gen adds it to
 * the node's own generation: driver.h principals_epoch). */
#include <stdlib.h>

#include "store/postgres/pg.h"
#include "util/util.h"

cst_err cst_pgd_principals_bump(pg_store *st, cst_work *w)
{
    /* atomic across nodes: one UPDATE; its row lock orders the bumps of concurrent writers */
    return cst_pgd_run(st, NULL, w, true, NULL, NULL, CST_PGD_BUMP_SQL, "");
}

/* Read on a connection of its own, committed rows only, whatever transaction this thread holds:
 * a credential cache checks the epoch at any time, inside a request's transaction too. */
cst_err cst_pgd_principals_epoch(pg_store *st, uint64_t *n)
{
    cst_pg_conn *c = NULL;
    PGresult *r = NULL;
    TRY(cst_pg_acquire(st->pool, CST_PGD_ACQUIRE_MS, &c));
    cst_err e = cst_pg_exec(c, "principals_epoch", "SELECT n FROM custodia_system.principals_epoch",
                            0, NULL, &r);
    if (e == CST_OK && PQntuples(r) != 1)
        e = cst_fail(CST_ERR_INTEGRITY, "the principals epoch has no row");
    if (e == CST_OK)
        *n = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    cst_pg_release(st->pool, c);
    return e;
}

bool cst_pgd_principals_epoch_now(cst_store *st, uint64_t *n)
{
    cst_err e = cst_pgd_principals_epoch(PG(st), n);
    if (e != CST_OK) /* the caller reloads from the store, which then reports the failure */
        cst_error("storage: the principals epoch cannot be read: %s", cst_err_message(e));
    return e == CST_OK;
}
