/* driver.c: the SQLite driver's operations table. */
#include "store/sqlite/internal.h"

#define ENTRY(on, type, name, params, args) .name = cst_sqlite_##name,

const cst_store_driver cst_sqlite_driver = {.name = "sqlite",
                                            .store_open = cst_sqlite_store_open,
                                            .store_close = cst_sqlite_store_close,
                                            .tstore_close = cst_sqlite_tstore_close,
                                            .tstore_rollback = cst_sqlite_tstore_rollback,
                                            .tstore_checkpoint = cst_sqlite_tstore_checkpoint,
                                            CST_STORE_OPS(ENTRY)};
