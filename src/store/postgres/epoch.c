/* epoch.c: the principals epoch (IAM-5), custodia_system.principals_epoch: one row, one counter
 * that every write to principals bumps in its own transaction (pg.h: CST_PGD_BUMP), so that a
 * node's cache of principals notices another node's writes (cst_store_principals_gen adds it to
 * the node's own generation: driver.h principals_epoch). */
#include <stdlib.h>

#include "store/postgres/pg.h"
#include "util/util.h"

cst_err cst_pgd_principals_bump(pg_store *st, cst_work *w)
{
    /* atomic across nodes: one UPDATE; its row lock orders the bumps of concurrent writers; in a
     * unit of work it is the transaction's last statement (driver.c) */
    if (w)
        return cst_pgd_bump_at_commit(st, w);
    return cst_pgd_run(st, NULL, w, true, NULL, NULL, CST_PGD_BUMP_SQL, "");
}

/* The committed epoch, whatever transaction this thread holds: a credential cache checks it at
 * any time, inside a request's transaction too. */
cst_err cst_pgd_principals_epoch(pg_store *st, uint64_t *n)
{
    PGresult *r = NULL;
    /* the thread's transaction's connection when it has one (a second one from the pool could
     * be a wait for a pool the thread's own requests hold); it sees what is committed, and its
     * own bump comes only at its COMMIT */
    cst_pg_conn *own = cst_pgd_thread_conn(st), *c = own;
    if (!c)
        TRY(cst_pg_acquire(st->pool, CST_PGD_ACQUIRE_MS, &c));
    cst_err e = cst_pg_exec(c, "principals_epoch", "SELECT n FROM custodia_system.principals_epoch",
                            0, NULL, &r);
    if (e == CST_OK && PQntuples(r) != 1)
        e = cst_fail(CST_ERR_INTEGRITY, "the principals epoch has no row");
    if (e == CST_OK)
        *n = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (!own)
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
