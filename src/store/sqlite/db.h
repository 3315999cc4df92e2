/* db.h: the thin adapter over SQLite. Every statement is prepared and bound; the only SQL run
 * without binding is constant text (schema, BEGIN/COMMIT).
 *
 * Statements are compiled once per connection: a constant SQL text is the key of a bounded
 * cache of prepared statements (CST_DB_STMT_CACHE), reset after each use; transaction control
 * (BEGIN IMMEDIATE, COMMIT, SAVEPOINT ...) goes through the same cache, so a request compiles
 * no SQL. SQL built at run time goes through the *_once functions and is never cached.
 *
 * Threads: connections are opened SQLITE_OPEN_NOMUTEX; every call into SQLite on a cst_db's
 * connection (prepare, bind, step, column reads, sqlite3_errmsg after a failure, checkpoints)
 * is made holding the cst_db's lock (cst_db_lock, or a transaction that holds it), which is
 * what serialises them. Callers of cst_db_stmt/cst_db_step/cst_db_done and of the column
 * readers hold it until cst_db_done. */
#ifndef CST_DB_H
#define CST_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

typedef struct cst_db cst_db;
typedef struct cst_ckpt cst_ckpt;

/* Prepared statements kept per connection (least recently used one replaced when full): room
 * for every constant statement of system.db and the transaction control statements. */
#define CST_DB_STMT_CACHE 96
/* WAL checkpoints off the request path (cst_db_watch): a commit that leaves at least
 * CST_DB_WAL_SOFT_PAGES pages in the WAL hands the connection to the background checkpointer
 * (ckpt.h); one that leaves at least CST_DB_WAL_HARD_PAGES (the checkpointer fell behind)
 * checkpoints itself (PASSIVE) before it returns. So the WAL holds at most
 * CST_DB_WAL_HARD_PAGES pages plus one transaction's, unless a reader (a backup's snapshot)
 * pins it. */
#define CST_DB_WAL_SOFT_PAGES 1000
#define CST_DB_WAL_HARD_PAGES 4000

/* Process-wide SQLite settings (SQLITE_CONFIG_MEMSTATUS off), once, before any connection is
 * opened; every sqlite3_open_v2 in the driver calls it first. */
void cst_db_init(void);

/* Opens (creating when create != 0) a database in WAL mode with synchronous=FULL,
 * foreign keys and secure_delete on, then runs schema (idempotent DDL) in one transaction,
 * unless the file's user_version says this same schema text already ran in it. */
CST_MUST_USE cst_err cst_db_open(const char *path, int create, const char *schema, cst_db **out);
/* Closes; the last connection to a database checkpoints its WAL and removes it (SQLite's
 * default). */
void cst_db_close(cst_db *db);
/* Checkpoints the WAL and empties it, then closes leaving the empty WAL and its index (-shm)
 * in place (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE), so that the next open creates no file: for a
 * store closed to stay within a bound of open stores and likely to be opened again. When a
 * reader keeps the WAL from being emptied, an ordinary close. */
void cst_db_close_warm(cst_db *db);
/* Turns SQLite's automatic checkpoint (run inside whichever commit crosses 1000 pages) off for
 * db and hands its checkpoints to ck (see CST_DB_WAL_SOFT_PAGES); cst_db_close takes it out of
 * ck again. ck must outlive db. */
void cst_db_watch(cst_db *db, cst_ckpt *ck);
/* A PASSIVE checkpoint under db's lock (the checkpointer's). */
void cst_db_checkpoint_passive(cst_db *db);
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

/* Gives the statement sql, prepared, with arguments described by fmt bound: 's' const char *
 * (NULL binds NULL), 'i' int64_t, 'b' const void * then size_t. sql must be a string constant
 * (static storage, never changed): it keys the connection's statement cache. The caller holds
 * the lock (or a transaction) and gives the statement back with cst_db_done before unlocking.
 * A statement that writes joins w's transaction first (w NULL: it runs on its own); using a
 * connection that another transaction of this thread holds fails (CST_ERR_INTERNAL). */
CST_MUST_USE cst_err cst_db_stmt(cst_db *db, cst_work *w, sqlite3_stmt **st, const char *sql,
                                 const char *fmt, ...);
/* Gives back a statement of cst_db_stmt (NULL: nothing): a cached one is reset and its
 * bindings cleared for the next use, any other finalized. */
void cst_db_done(cst_db *db, sqlite3_stmt *st);
/* Steps a statement; returns 1 for a row, 0 when done, or an error mapped from SQLite
 * (SQLITE_FULL/IOERR -> CST_ERR_UNAVAILABLE, constraint -> CST_ERR_CONFLICT). */
CST_MUST_USE cst_err cst_db_step(cst_db *db, sqlite3_stmt *st, int *row);
/* Runs a statement that returns no rows, under the lock; *changes (optional) receives the
 * number of rows changed. */
CST_MUST_USE cst_err cst_db_run(cst_db *db, cst_work *w, int *changes, const char *sql,
                                const char *fmt, ...);
/* cst_db_run for SQL built at run time (migrations) or naming an attached database: compiled
 * for this call only, never cached. */
CST_MUST_USE cst_err cst_db_run_once(cst_db *db, cst_work *w, int *changes, const char *sql,
                                     const char *fmt, ...);
/* Runs a query under the lock and gives its first row's first column as an integer (0 when
 * it returns no row). */
CST_MUST_USE cst_err cst_db_int(cst_db *db, cst_work *w, int64_t *out, const char *sql,
                                const char *fmt, ...);
/* cst_db_int, never cached (as cst_db_run_once). */
CST_MUST_USE cst_err cst_db_int_once(cst_db *db, cst_work *w, int64_t *out, const char *sql,
                                     const char *fmt, ...);
/* Copies column i as text into out (size n); empty string for NULL. */
void cst_db_col_text(sqlite3_stmt *st, int i, char *out, size_t n);

#endif
