/* db.h: the thin adapter over SQLite. Every statement is prepared and bound; the only SQL run
 * without binding is constant text (schema, BEGIN/COMMIT). */
#ifndef CST_DB_H
#define CST_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

typedef struct cst_db cst_db;

/* Opens (creating when create != 0) a database in WAL mode with synchronous=FULL,
 * foreign keys and secure_delete on, then runs schema (idempotent DDL). */
CST_MUST_USE cst_err cst_db_open(const char *path, int create, const char *schema, cst_db **out);
void cst_db_close(cst_db *db);
/* Checkpoints and truncates the WAL (used on clean shutdown). */
void cst_db_checkpoint(cst_db *db);
/* The same, failing when the WAL could not be emptied (a reader holds it). */
CST_MUST_USE cst_err cst_db_checkpoint_strict(cst_db *db);

/* Transactions hold the handle's (recursive) lock from begin to commit or rollback, so one
 * thread's transaction never interleaves with another's statements. Without a unit of work,
 * begin uses BEGIN IMMEDIATE and commit returns only once the WAL is synced
 * (synchronous=FULL); with one (w), the connection joins w's transaction and begin, commit and
 * rollback are a savepoint within w's, made durable when the transaction commits
 * (store.h). */
CST_MUST_USE cst_err cst_db_begin(cst_db *db, cst_work *w);
CST_MUST_USE cst_err cst_db_commit(cst_db *db, cst_work *w);
void cst_db_rollback(cst_db *db, cst_work *w);
/* A transaction's part in a connection, for the driver table (driver.h res_*). */
CST_MUST_USE cst_err cst_db_res_begin(void *res, const cst_txn *t);
CST_MUST_USE cst_err cst_db_res_commit(void *res);
void cst_db_res_rollback(void *res);
CST_MUST_USE cst_err cst_db_res_savepoint(void *res);
CST_MUST_USE cst_err cst_db_res_release(void *res);
void cst_db_res_rollback_to(void *res);
void cst_db_lock(cst_db *db);
void cst_db_unlock(cst_db *db);

/* Prepares sql and binds arguments described by fmt: 's' const char * (NULL binds NULL),
 * 'i' int64_t, 'b' const void * then size_t. The caller holds the lock (or a transaction).
 * A statement that writes joins w's transaction first (w NULL: it runs on its own); using a
 * connection that another transaction of this thread holds fails (CST_ERR_INTERNAL). */
CST_MUST_USE cst_err cst_db_stmt(cst_db *db, cst_work *w, sqlite3_stmt **st, const char *sql,
                                 const char *fmt, ...);
/* Steps a statement; returns 1 for a row, 0 when done, or an error mapped from SQLite
 * (SQLITE_FULL/IOERR -> CST_ERR_UNAVAILABLE, constraint -> CST_ERR_CONFLICT). */
CST_MUST_USE cst_err cst_db_step(cst_db *db, sqlite3_stmt *st, int *row);
/* Runs a statement that returns no rows, under the lock; *changes (optional) receives the
 * number of rows changed. */
CST_MUST_USE cst_err cst_db_run(cst_db *db, cst_work *w, int *changes, const char *sql,
                                const char *fmt, ...);
/* Runs a query under the lock and gives its first row's first column as an integer (0 when
 * it returns no row). */
CST_MUST_USE cst_err cst_db_int(cst_db *db, cst_work *w, int64_t *out, const char *sql,
                                const char *fmt, ...);
/* Copies column i as text into out (size n); empty string for NULL. */
void cst_db_col_text(sqlite3_stmt *st, int i, char *out, size_t n);

#endif
