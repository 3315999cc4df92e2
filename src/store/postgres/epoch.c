/* epoch.c: the principals epoch shared by the nodes of a database (IAM-5): every write to
 * principals (users, tokens, tenants, tenant keys) bumps custodia_system.principals_epoch in
 * its own transaction, so that another node's cache of principals sees that something changed. */
#include "store/postgres/pg.h"

cst_err cst_pgd_principals_bump(pg_store *st, cst_work *w)
{
    /* atomic across nodes: one UPDATE, committed with the write it counts */
    return cst_pgd_run(st, NULL, w, true, NULL, NULL,
                       "UPDATE custodia_system.principals_epoch SET n = n + 1", "");
}
