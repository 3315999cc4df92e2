/* driver.c: the SQLite driver's operations table. */
#include "store/sqlite/internal.h"

#define ENTRY(on, type, name, params, args) .name = cst_sqlite_##name,

const cst_store_driver cst_sqlite_driver = {.name = "sqlite",
                                            .store_open = cst_sqlite_store_open,
                                            .store_close = cst_sqlite_store_close,
                                            .tstore_close = cst_sqlite_tstore_close,
                                            .tstore_close_warm = cst_sqlite_tstore_close_warm,
                                            .tstore_rollback = cst_sqlite_tstore_rollback,
                                            .res_begin = cst_db_res_begin,
                                            .res_commit = cst_db_res_commit,
                                            .res_rollback = cst_db_res_rollback,
                                            .res_savepoint = cst_db_res_savepoint,
                                            .res_release = cst_db_res_release,
                                            .res_rollback_to = cst_db_res_rollback_to,
                                            CST_STORE_OPS(ENTRY)};
