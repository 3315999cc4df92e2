/* stubs_backup.c: TEMPORARY, while this group of operations is written: each fails. The file
 * is deleted when the group is built; the driver is not done while any stubs_*.c remains. */
#include <stdlib.h>

#include "store/postgres/pg.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

cst_err cst_postgres_store_snapshot(cst_store *st, const char *tenant_id, const char *dir,
                                    bool *exists)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_snapshot is not built yet");
}

cst_err cst_postgres_store_merge_tenant(cst_store *st, const char *dir, const char *tenant_id,
                                        bool *created)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_merge_tenant is not built yet");
}
