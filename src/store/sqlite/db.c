/* db.c: SQLite adapter: durable connections, prepared statements, error mapping. */
#include "store/sqlite/db.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store/driver.h"
#include "store/store.h"
#include "util/util.h"

struct cst_db {
    sqlite3 *h;
    pthread_mutex_t mu;
    const cst_txn *holder; /* the transaction holding it (and its lock), if any */
};

static cst_err map_rc(cst_db *db, int rc, const char *what)
{
    const char *msg = db && db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        cst_error("storage: %s: %s", what, msg);
        return cst_fail(CST_ERR_UNAVAILABLE, "storage could not complete the request");
    case SQLITE_CONSTRAINT:
        return cst_fail(CST_ERR_CONFLICT, "the resource already exists");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        cst_error("storage: %s: %s", what, msg);
        return cst_fail(CST_ERR_INTEGRITY, "stored data is damaged");
    default:
        cst_error("storage: %s: %s", what, msg);
        return cst_fail(CST_ERR_INTERNAL, "storage error");
    }
}

cst_err cst_db_open(const char *path, int create, const char *schema, cst_db **out)
{
    static const char pragmas[] = "PRAGMA journal_mode=WAL;"
                                  "PRAGMA synchronous=FULL;"
                                  "PRAGMA foreign_keys=ON;"
                                  "PRAGMA secure_delete=ON;"
                                  "PRAGMA cache_size=-8192;";
    cst_db *db = calloc(1, sizeof(*db));
    ENSURE(db != NULL, CST_ERR_INTERNAL, "out of memory");
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&db->mu, &attr);
    pthread_mutexattr_destroy(&attr);

    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW |
                (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &db->h, flags, NULL);
    cst_err e = CST_OK;
    if (rc != SQLITE_OK)
        e = map_rc(db, rc, path);
    if (e == CST_OK)
        sqlite3_busy_timeout(db->h, 5000);
    if (e == CST_OK && (rc = sqlite3_exec(db->h, pragmas, NULL, NULL, NULL)) != SQLITE_OK)
        e = map_rc(db, rc, "pragmas");
    if (e == CST_OK && schema && (rc = sqlite3_exec(db->h, schema, NULL, NULL, NULL)) != SQLITE_OK)
        e = map_rc(db, rc, "schema");
    if (e != CST_OK) {
        cst_db_close(db);
        return e;
    }
    *out = db;
    return CST_OK;
}

void cst_db_checkpoint(cst_db *db)
{
    cst_db_lock(db);
    (void)sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    cst_db_unlock(db);
}

cst_err cst_db_checkpoint_strict(cst_db *db)
{
    int log = -1, done = -1;
    cst_db_lock(db);
    int rc = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    cst_err e = rc == SQLITE_OK ? CST_OK : map_rc(db, rc, "checkpoint");
    cst_db_unlock(db);
    TRY(e);
    ENSURE(log <= 0 && done <= 0, CST_ERR_UNAVAILABLE,
           "the WAL could not be checkpointed (%d of %d frames): a reader holds it", done, log);
    return CST_OK;
}

void cst_db_close(cst_db *db)
{
    if (!db)
        return;
    if (db->h)
        sqlite3_close_v2(db->h);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

void cst_db_lock(cst_db *db)
{
    pthread_mutex_lock(&db->mu);
}

void cst_db_unlock(cst_db *db)
{
    pthread_mutex_unlock(&db->mu);
}

/* ---- transactions (store.h) ----
 * A connection in a transaction stays locked by it (the recursive lock of the thread that
 * began it) from BEGIN IMMEDIATE to its COMMIT or ROLLBACK; holder says which transaction,
 * so that a call of this thread outside it is caught. A unit of work is the savepoint "w";
 * a transaction an operation opens inside a unit of work is the savepoint "cst" within it. */

static cst_err exec(cst_db *db, const char *sql, const char *what)
{
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? CST_OK : map_rc(db, rc, what);
}

/* Whether the transaction was ended by SQLite itself (a full disk while spilling pages). */
static cst_err still_open(cst_db *db, const char *what)
{
    if (!sqlite3_get_autocommit(db->h))
        return CST_OK;
    cst_error("storage: %s: the transaction was rolled back by storage", what);
    return cst_fail(CST_ERR_UNAVAILABLE, "storage could not complete the request");
}

/* The caller holds the lock: a transaction holding db is this thread's, and only w's may use
 * it. */
static cst_err check_holder(cst_db *db, cst_work *w)
{
    if (!db->holder || (w && db->holder == cst_work_txn(w)))
        return CST_OK;
    cst_error("storage: a call %s on a store this thread's unit of work holds",
              w ? "of another transaction" : "outside the unit of work");
    return cst_fail(CST_ERR_INTERNAL, "storage error");
}

cst_err cst_db_res_begin(void *res, const cst_txn *t)
{
    cst_db *db = res;
    cst_db_lock(db);
    cst_err e = check_holder(db, NULL);
    if (e == CST_OK)
        e = exec(db, "BEGIN IMMEDIATE", "begin");
    if (e != CST_OK) {
        cst_db_unlock(db);
        return e;
    }
    db->holder = t;
    return CST_OK;
}

void cst_db_res_rollback(void *res)
{
    cst_db *db = res;
    if (!sqlite3_get_autocommit(db->h))
        (void)sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    db->holder = NULL;
    cst_db_unlock(db);
}

cst_err cst_db_res_commit(void *res)
{
    cst_db *db = res;
    cst_err e = still_open(db, "commit");
    if (e == CST_OK)
        e = exec(db, "COMMIT", "commit");
    cst_db_res_rollback(db); /* gives the connection back; a no-op after a COMMIT */
    return e;
}

cst_err cst_db_res_savepoint(void *res)
{
    return exec(res, "SAVEPOINT w", "savepoint");
}

cst_err cst_db_res_release(void *res)
{
    cst_db *db = res;
    TRY(still_open(db, "release"));
    return exec(db, "RELEASE w", "release");
}

void cst_db_res_rollback_to(void *res)
{
    cst_db *db = res;
    if (!sqlite3_get_autocommit(db->h))
        (void)sqlite3_exec(db->h, "ROLLBACK TO w; RELEASE w", NULL, NULL, NULL);
}

cst_err cst_db_begin(cst_db *db, cst_work *w)
{
    if (w)
        TRY(cst_work_join(w, &cst_sqlite_driver, db));
    cst_db_lock(db);
    cst_err e = check_holder(db, w);
    if (e == CST_OK)
        e = exec(db, w ? "SAVEPOINT cst" : "BEGIN IMMEDIATE", "begin");
    if (e != CST_OK)
        cst_db_unlock(db);
    return e;
}

cst_err cst_db_commit(cst_db *db, cst_work *w)
{
    cst_err e = still_open(db, w ? "release" : "commit");
    if (e == CST_OK)
        e = exec(db, w ? "RELEASE cst" : "COMMIT", "commit");
    if (e != CST_OK && !sqlite3_get_autocommit(db->h))
        (void)sqlite3_exec(db->h, w ? "ROLLBACK TO cst; RELEASE cst" : "ROLLBACK", NULL, NULL,
                           NULL);
    cst_db_unlock(db);
    return e;
}

void cst_db_rollback(cst_db *db, cst_work *w)
{
    if (!sqlite3_get_autocommit(db->h))
        (void)sqlite3_exec(db->h, w ? "ROLLBACK TO cst; RELEASE cst" : "ROLLBACK", NULL, NULL,
                           NULL);
    cst_db_unlock(db);
}

static cst_err bind_args(cst_db *db, sqlite3_stmt *st, const char *fmt, va_list ap)
{
    int idx = 1;
    for (const char *f = fmt; f && *f; f++, idx++) {
        int rc;
        switch (*f) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(st, idx);
            break;
        }
        case 'i':
            rc = sqlite3_bind_int64(st, idx, va_arg(ap, int64_t));
            break;
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            rc = sqlite3_bind_blob64(st, idx, p ? p : "", n, SQLITE_TRANSIENT);
            break;
        }
        default:
            return cst_fail(CST_ERR_INTERNAL, "bad bind format '%c'", *f);
        }
        if (rc != SQLITE_OK)
            return map_rc(db, rc, "bind");
    }
    return CST_OK;
}

static cst_err stmt_v(cst_db *db, cst_work *w, sqlite3_stmt **st, const char *sql, const char *fmt,
                      va_list ap)
{
    int rc = sqlite3_prepare_v2(db->h, sql, -1, st, NULL);
    if (rc != SQLITE_OK)
        return map_rc(db, rc, "prepare");
    {
        cst_err je =
            w && !sqlite3_stmt_readonly(*st) ? cst_work_join(w, &cst_sqlite_driver, db) : CST_OK;
        if (je == CST_OK)
            je = check_holder(db, w);
        if (je != CST_OK) {
            sqlite3_finalize(*st);
            *st = NULL;
            return je;
        }
    }
    /* A format that does not match the statement would read arguments that are not there. */
    if ((size_t)sqlite3_bind_parameter_count(*st) != strlen(fmt)) {
        cst_error("storage: bind format \"%s\" does not match %d parameters of: %s", fmt,
                  sqlite3_bind_parameter_count(*st), sql);
        sqlite3_finalize(*st);
        *st = NULL;
        return cst_fail(CST_ERR_INTERNAL, "storage error");
    }
    cst_err e = bind_args(db, *st, fmt, ap);
    if (e != CST_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
    }
    return e;
}

cst_err cst_db_stmt(cst_db *db, cst_work *w, sqlite3_stmt **st, const char *sql, const char *fmt,
                    ...)
{
    va_list ap;
    va_start(ap, fmt);
    cst_err e = stmt_v(db, w, st, sql, fmt, ap);
    va_end(ap);
    return e;
}

cst_err cst_db_step(cst_db *db, sqlite3_stmt *st, int *row)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *row = 1;
        return CST_OK;
    }
    *row = 0;
    if (rc == SQLITE_DONE)
        return CST_OK;
    return map_rc(db, rc, "step");
}

/* Runs one statement under the lock: the changes it made, or its first row's first column. */
static cst_err run_v(cst_db *db, cst_work *w, int *changes, int64_t *first, const char *sql,
                     const char *fmt, va_list ap)
{
    sqlite3_stmt *st = NULL;
    cst_db_lock(db);
    cst_err e = stmt_v(db, w, &st, sql, fmt, ap);
    int row = 0;
    if (e == CST_OK)
        e = cst_db_step(db, st, &row);
    if (e == CST_OK && changes)
        *changes = sqlite3_changes(db->h);
    if (e == CST_OK && first)
        *first = row ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    cst_db_unlock(db);
    return e;
}

cst_err cst_db_run(cst_db *db, cst_work *w, int *changes, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cst_err e = run_v(db, w, changes, NULL, sql, fmt, ap);
    va_end(ap);
    return e;
}

cst_err cst_db_int(cst_db *db, cst_work *w, int64_t *out, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *out = 0; /* also on failure */
    cst_err e = run_v(db, w, NULL, out, sql, fmt, ap);
    va_end(ap);
    return e;
}

void cst_db_col_text(sqlite3_stmt *st, int i, char *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) {
        out[0] = '\0';
        return;
    }
    size_t len = (size_t)sqlite3_column_bytes(st, i);
    if (len >= n)
        len = n - 1;
    memcpy(out, t, len);
    out[len] = '\0';
}
