/* epoch.c: the principals epoch (IAM-5), custodia_system.principals_epoch: one row, one counter
 * that every write to principals bumps in its own transaction (pg.h: CST_PGD_BUMP), so that a
 * node's cache of principals notices another node's writes. */
#include "store/postgres/pg.h"

cst_err cst_pgd_principals_bump(pg_store *st, cst_work *w)
{
    /* atomic across nodes: one UPDATE; its row lock orders the bumps of concurrent writers */
    return cst_pgd_run(st, NULL, w, true, NULL, NULL, CST_PGD_BUMP_SQL, "");
}

static void epoch_row(const PGresult *r, int row, void *out)
{
    *(uint64_t *)out = (uint64_t)cst_pgd_col_int(r, row, 0);
}

cst_err cst_pgd_principals_epoch(pg_store *st, uint64_t *n)
{
    return cst_pgd_one(st, NULL, NULL, epoch_row, n, "the principals epoch has no row",
                       "SELECT n FROM custodia_system.principals_epoch", "");
}
