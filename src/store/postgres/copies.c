/* copies.c: the operations without a handle (store.h: copies in a backup or staging dir, a
 * data dir's existence): store.c sends them to the default driver, whose files those are; the
 * table's entries forward there too. */
#include "store/postgres/pg.h"

/* Not a copy's: cst_store_exists_driver asks it whether data_dir is a node (meta.c). */
bool cst_postgres_store_exists(const char *data_dir)
{
    return cst_pgd_node_exists(data_dir);
}

cst_err cst_postgres_store_copy_name(const char *tenant_id, char *out, size_t size)
{
    return cst_sqlite_driver.store_copy_name(tenant_id, out, size);
}

bool cst_postgres_store_copy_tenant(const char *name, char id[CST_ID_MAX])
{
    return cst_sqlite_driver.store_copy_tenant(name, id);
}

cst_err cst_postgres_store_copy_check(const char *dir, const char *name, bool integrity,
                                      int64_t *records, int64_t *buckets)
{
    return cst_sqlite_driver.store_copy_check(dir, name, integrity, records, buckets);
}

cst_err cst_postgres_store_copy_lists(const char *dir, cst_err (*tenant)(const char *id, void *ctx),
                                      cst_err (*tomb)(const cst_tombstone_row *, void *ctx),
                                      void *ctx)
{
    return cst_sqlite_driver.store_copy_lists(dir, tenant, tomb, ctx);
}

cst_err cst_postgres_store_copy_drop_erased(const char *dir, const cst_tombstone_row *tombs,
                                            size_t n)
{
    return cst_sqlite_driver.store_copy_drop_erased(dir, tombs, n);
}
