/* internal.h: what the SQLite driver's files share: the data dir layout and the system
 * store's connection. */
#ifndef CST_SQLITE_INTERNAL_H
#define CST_SQLITE_INTERNAL_H

#include <stddef.h>

#include "store/driver.h"
#include "store/sqlite/db.h"

/* The layout of a data dir: system.db, tenants/<id>.db, retained/<id>.db (each with its -wal
 * and -shm files beside it while open). */
#define CST_SQLITE_SYSTEM "system.db"
CST_MUST_USE cst_err cst_sqlite_system_path(const char *data_dir, char *out, size_t size);
/* CST_ERR_INVALID for a malformed tenant id. */
CST_MUST_USE cst_err cst_sqlite_tenant_path(const char *data_dir, cst_tspace space,
                                            const char *tenant_id, char *out, size_t size);

/* The schemas of system.db and of a tenant store (idempotent DDL): copy.c makes new copies
 * with them and takes the tables and columns of a copy's rows from them (store.h:
 * cst_store_copy_tables). */
extern const char cst_sqlite_system_schema[];
extern const char cst_sqlite_tenant_schema[];

/* The system store's connection (for the operations in copy.c). */
cst_db *cst_sqlite_system_db(cst_store *st);
/* The checkpointer the store's connections hand their WAL to (ckpt.h). */
cst_ckpt *cst_sqlite_ckpt(cst_store *st);

/* Runs a system-store query with two text parameters (NULL binds NULL) under the lock,
 * handing each row to visit; *rows (optional) receives how many there were (incidents.c). */
CST_MUST_USE cst_err cst_sqlite_each(cst_store *st, cst_work *w, const char *sql, const char *a,
                                     const char *b, cst_err (*visit)(sqlite3_stmt *, void *),
                                     void *ctx, int *rows);
/* The one row of a query with one text parameter (and ?2 IS NULL), decoded into out;
 * CST_ERR_NOT_FOUND when there is none. */
CST_MUST_USE cst_err cst_sqlite_one(cst_store *st, cst_work *w, const char *sql, const char *id,
                                    void (*decode)(sqlite3_stmt *, void *), void *out);
/* A visitor per row type: decodes a row into its struct and hands it to the caller's fn. */
#define CST_SQLITE_VISITOR(name, type, decode)                                                     \
    struct name##_visit {                                                                          \
        cst_err (*fn)(const type *, void *);                                                       \
        void *ctx;                                                                                 \
        type row;                                                                                  \
    };                                                                                             \
    static cst_err name##_visit(sqlite3_stmt *q, void *p)                                          \
    {                                                                                              \
        struct name##_visit *v = p;                                                                \
        decode(q, &v->row);                                                                        \
        return v->fn(&v->row, v->ctx);                                                             \
    }

/* The driver's operations (driver.c puts them in its table, cst_sqlite_driver): the store.h
 * function of the same name with "sqlite_" after "cst_". */
#define CST_SQLITE_OP_PROTO(on, type, name, params, args) type cst_sqlite_##name params;
CST_STORE_OPS(CST_SQLITE_OP_PROTO)
CST_MUST_USE cst_err cst_sqlite_store_open(const cst_store_conf *c, bool create, cst_store **out);
void cst_sqlite_store_close(cst_store *st);
void cst_sqlite_tstore_close(cst_tstore *ts);
void cst_sqlite_tstore_close_warm(cst_tstore *ts);
void cst_sqlite_tstore_rollback(cst_tstore *ts, cst_work *w);

#endif
