/* internal.h: what the SQLite driver's files share: the data dir layout and the system
 * store's connection. */
#ifndef CST_SQLITE_INTERNAL_H
#define CST_SQLITE_INTERNAL_H

#include <stddef.h>

#include "store/sqlite/db.h"
#include "store/store.h"

/* The layout of a data dir: system.db, tenants/<id>.db, retained/<id>.db (each with its -wal
 * and -shm files beside it while open). */
#define CST_SQLITE_SYSTEM "system.db"
CST_MUST_USE cst_err cst_sqlite_system_path(const char *data_dir, char *out, size_t size);
/* CST_ERR_INVALID for a malformed tenant id. */
CST_MUST_USE cst_err cst_sqlite_tenant_path(const char *data_dir, cst_tspace space,
                                            const char *tenant_id, char *out, size_t size);
/* Removes a database file and its -wal, -shm and -journal files, then syncs the directory;
 * removed (optional) gets the name of each file removed. */
CST_MUST_USE cst_err cst_sqlite_remove(const char *path,
                                       void (*removed)(const char *name, void *ctx), void *ctx);

/* The system store's connection (for the operations in copy.c). */
cst_db *cst_sqlite_system_db(cst_store *st);

#endif
