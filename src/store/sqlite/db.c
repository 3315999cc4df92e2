/* db.c: SQLite adapter: durable connections, cached prepared statements, error mapping. */
#include "store/sqlite/db.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/driver.h"
#include "store/sqlite/ckpt.h"
#include "store/store.h"
#include "util/util.h"

/* A cached statement: sql is the constant text it was prepared from (the key). */
typedef struct {
    const char *sql;
    sqlite3_stmt *st;
    uint64_t used; /* when it was last handed out, for replacing the least recently used */
    bool busy;     /* handed out and not yet given back */
} stmt_slot;

/* Everything below h is read and written under mu (the connection is SQLITE_OPEN_NOMUTEX). */
struct cst_db {
    sqlite3 *h;
    pthread_mutex_t mu;
    const cst_txn *holder; /* the transaction holding it (and its lock), if any */
    stmt_slot cache[CST_DB_STMT_CACHE];
    uint64_t uses;
    cst_ckpt *ck;   /* the background checkpointer, when watched */
    bool ck_handed; /* handed to ck and not checkpointed since */
};

/* Transaction control, through the statement cache like every other statement. */
static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT_W[] = "SAVEPOINT w";
static const char SQL_RELEASE_W[] = "RELEASE w";
static const char SQL_ROLLBACK_TO_W[] = "ROLLBACK TO w";
static const char SQL_SAVEPOINT_CST[] = "SAVEPOINT cst";
static const char SQL_RELEASE_CST[] = "RELEASE cst";
static const char SQL_ROLLBACK_TO_CST[] = "ROLLBACK TO cst";

static void global_init(void)
{
    /* No allocation statistics: they take a global mutex on every malloc inside SQLite. Fails
     * (harmlessly) only when SQLite was initialised before, which every open here prevents. */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

void cst_db_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&once, global_init);
}

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

/* The schema's mark in the file's user_version: FNV-1a of its text, never 0 (a new file's). */
static int schema_mark(const char *schema)
{
    uint32_t h = 2166136261u;
    for (const char *c = schema; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    return (int)(h & 0x7fffffff) | 1;
}

/* Runs schema unless the file says it already ran this very text (its user_version), so that
 * opening an existing store parses no DDL and takes no write lock: a node with more tenants
 * than store.max_open_tenants opens one on most requests. */
static cst_err run_schema(cst_db *db, const char *schema)
{
    int mark = schema_mark(schema), have = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        have = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return map_rc(db, rc, "schema version");
    if (have == mark)
        return CST_OK;
    char set[64];
    (void)snprintf(set, sizeof(set), "PRAGMA user_version=%d;COMMIT;", mark);
    rc = sqlite3_exec(db->h, "BEGIN IMMEDIATE;", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db->h, schema, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db->h, set, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        cst_err e = map_rc(db, rc, "schema");
        if (!sqlite3_get_autocommit(db->h))
            (void)sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
        return e;
    }
    return CST_OK;
}

/* How long an open waits for others to let go of a file, as busy_timeout does for statements. */
#define OPEN_BUSY_MS 5000

/* Puts the file in WAL mode. A file in rollback-journal mode (a restored tenant's, a snapshot
 * copy) changes mode only under an exclusive lock, and SQLite answers SQLITE_BUSY at once,
 * without its busy handler, when another connection opening the same file (a sweep and a
 * request) holds a lock meanwhile: retried here for as long as busy_timeout would wait. */
static int use_wal(sqlite3 *h)
{
    int rc = SQLITE_BUSY;
    for (int waited = 0; (rc & 0xff) == SQLITE_BUSY && waited <= OPEN_BUSY_MS; waited += 2) {
        if (waited)
            sqlite3_sleep(2);
        rc = sqlite3_exec(h, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    }
    return rc;
}

cst_err cst_db_open(const char *path, int create, const char *schema, cst_db **out)
{
    static const char pragmas[] = "PRAGMA synchronous=FULL;"
                                  "PRAGMA foreign_keys=ON;"
                                  "PRAGMA secure_delete=ON;"
                                  "PRAGMA cache_size=-8192;";
    cst_db_init();
    cst_db *db = calloc(1, sizeof(*db));
    ENSURE(db != NULL, CST_ERR_INTERNAL, "out of memory");
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&db->mu, &attr);
    pthread_mutexattr_destroy(&attr);

    /* NOMUTEX: every use holds db->mu (db.h); until *out is set the connection is this
     * thread's alone. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW |
                (create ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(path, &db->h, flags, NULL);
    cst_err e = CST_OK;
    if (rc != SQLITE_OK)
        e = map_rc(db, rc, path);
    if (e == CST_OK)
        sqlite3_busy_timeout(db->h, OPEN_BUSY_MS);
    if (e == CST_OK && (rc = use_wal(db->h)) != SQLITE_OK)
        e = map_rc(db, rc, "journal mode");
    if (e == CST_OK && (rc = sqlite3_exec(db->h, pragmas, NULL, NULL, NULL)) != SQLITE_OK)
        e = map_rc(db, rc, "pragmas");
    if (e == CST_OK && schema)
        e = run_schema(db, schema);
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

/* The WAL hook (cst_db_watch), run by SQLite inside a commit, under db->mu: frames is the
 * number of pages now in the WAL. */
static int wal_hook(void *arg, sqlite3 *h, const char *name, int frames)
{
    cst_db *db = arg;
    if (frames >= CST_DB_WAL_HARD_PAGES) {
        /* The checkpointer fell behind: bound the WAL here, as SQLite's own would. */
        (void)sqlite3_wal_checkpoint_v2(h, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (frames >= CST_DB_WAL_SOFT_PAGES && !db->ck_handed) {
        db->ck_handed = cst_ckpt_hand(db->ck, db);
    }
    return SQLITE_OK;
}

void cst_db_watch(cst_db *db, cst_ckpt *ck)
{
    cst_db_lock(db);
    db->ck = ck;
    /* Replaces SQLite's automatic checkpoint (wal_autocheckpoint is itself a WAL hook). */
    (void)sqlite3_wal_hook(db->h, wal_hook, db);
    cst_db_unlock(db);
}

void cst_db_checkpoint_passive(cst_db *db)
{
    cst_db_lock(db);
    int rc = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK)
        cst_error("storage: background checkpoint: %s", sqlite3_errmsg(db->h));
    db->ck_handed = false; /* the next commit over the threshold hands it again */
    cst_db_unlock(db);
}

void cst_db_close(cst_db *db)
{
    if (!db)
        return;
    if (db->ck)
        cst_ckpt_forget(db->ck, db);
    for (size_t i = 0; i < CST_DB_STMT_CACHE; i++)
        sqlite3_finalize(db->cache[i].st);
    if (db->h)
        sqlite3_close_v2(db->h);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

void cst_db_close_warm(cst_db *db)
{
    if (!db)
        return;
    int log = -1, done = -1;
    cst_db_lock(db);
    int rc = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    if (rc == SQLITE_OK && log == 0) /* emptied: nothing is left for a close's checkpoint */
        (void)sqlite3_db_config(db->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    cst_db_unlock(db);
    cst_db_close(db);
}

void cst_db_lock(cst_db *db)
{
    pthread_mutex_lock(&db->mu);
}

void cst_db_unlock(cst_db *db)
{
    pthread_mutex_unlock(&db->mu);
}

/* ---- the statement cache ----
 * A constant SQL text is compiled once per connection (SQLITE_PREPARE_PERSISTENT) and reset
 * after each use. The key is the text's address, checked against the statement's own text, so
 * that a buffer reused for other SQL at the same address is never mistaken for it. A cached
 * statement still handed out (a listing whose callback runs the same query) is not shared:
 * that use gets its own statement, finalized when given back. */

static stmt_slot *slot_of_stmt(cst_db *db, const sqlite3_stmt *st)
{
    for (size_t i = 0; i < CST_DB_STMT_CACHE; i++)
        if (db->cache[i].st == st)
            return &db->cache[i];
    return NULL;
}

/* The slot to hold sql: its own, else an empty one, else the least recently used one not
 * handed out (finalized here); NULL when every slot is handed out. */
static stmt_slot *slot_for(cst_db *db, const char *sql)
{
    stmt_slot *pick = NULL;
    for (size_t i = 0; i < CST_DB_STMT_CACHE; i++) {
        stmt_slot *c = &db->cache[i];
        if (c->sql == sql && c->st && strcmp(sqlite3_sql(c->st), sql) == 0)
            return c->busy ? NULL : c;
        if (!c->busy && (!pick || (pick->st && (!c->st || c->used < pick->used))))
            pick = c;
    }
    if (pick && pick->st) {
        sqlite3_finalize(pick->st);
        *pick = (stmt_slot){0};
    }
    return pick;
}

/* Prepares sql (cached when cache) into *st; an SQLite result code. */
static int acquire(cst_db *db, const char *sql, bool cache, sqlite3_stmt **st)
{
    stmt_slot *c = cache ? slot_for(db, sql) : NULL;
    if (!c)
        return sqlite3_prepare_v2(db->h, sql, -1, st, NULL);
    if (!c->st) {
        int rc = sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st, NULL);
        if (rc != SQLITE_OK)
            return rc;
        c->sql = sql;
    }
    c->busy = true;
    c->used = ++db->uses;
    *st = c->st;
    return SQLITE_OK;
}

void cst_db_done(cst_db *db, sqlite3_stmt *st)
{
    if (!st)
        return;
    stmt_slot *c = slot_of_stmt(db, st);
    if (!c) {
        sqlite3_finalize(st);
        return;
    }
    (void)sqlite3_reset(st); /* repeats the last step's error, already reported */
    (void)sqlite3_clear_bindings(st);
    c->busy = false;
}

/* Runs one cached statement that returns no rows; an SQLite result code (SQLITE_OK when
 * done). err (optional) gets the failure mapped, read before the statement is reset. */
static int run_ctl(cst_db *db, const char *sql, const char *what, cst_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = acquire(db, sql, true, &st);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
    }
    if (err)
        *err = rc == SQLITE_OK ? CST_OK : map_rc(db, rc, what);
    cst_db_done(db, st);
    return rc;
}

static cst_err exec(cst_db *db, const char *sql, const char *what)
{
    cst_err e = CST_OK;
    (void)run_ctl(db, sql, what, &e);
    return e;
}

/* Undoes the open transaction (or, with release, rolls back to the savepoint and releases it)
 * when SQLite has not already; quietly, as the failure that led here is the one reported. */
static void undo(cst_db *db, const char *rollback, const char *release)
{
    if (sqlite3_get_autocommit(db->h))
        return;
    if (run_ctl(db, rollback, NULL, NULL) == SQLITE_OK && release)
        (void)run_ctl(db, release, NULL, NULL);
}

/* ---- transactions (store.h) ----
 * A connection in a transaction stays locked by it (the recursive lock of the thread that
 * began it) from BEGIN IMMEDIATE to its COMMIT or ROLLBACK; holder says which transaction,
 * so that a call of this thread outside it is caught. A unit of work is the savepoint "w";
 * a transaction an operation opens inside a unit of work is the savepoint "cst" within it. */

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
        e = exec(db, SQL_BEGIN, "begin");
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
    undo(db, SQL_ROLLBACK, NULL);
    db->holder = NULL;
    cst_db_unlock(db);
}

cst_err cst_db_res_commit(void *res)
{
    cst_db *db = res;
    cst_err e = still_open(db, "commit");
    if (e == CST_OK)
        e = exec(db, SQL_COMMIT, "commit");
    cst_db_res_rollback(db); /* gives the connection back; a no-op after a COMMIT */
    return e;
}

cst_err cst_db_res_savepoint(void *res)
{
    return exec(res, SQL_SAVEPOINT_W, "savepoint");
}

cst_err cst_db_res_release(void *res)
{
    cst_db *db = res;
    TRY(still_open(db, "release"));
    return exec(db, SQL_RELEASE_W, "release");
}

void cst_db_res_rollback_to(void *res)
{
    undo(res, SQL_ROLLBACK_TO_W, SQL_RELEASE_W);
}

cst_err cst_db_begin(cst_db *db, cst_work *w)
{
    if (w)
        TRY(cst_work_join(w, &cst_sqlite_driver, db));
    cst_db_lock(db);
    cst_err e = check_holder(db, w);
    if (e == CST_OK)
        e = exec(db, w ? SQL_SAVEPOINT_CST : SQL_BEGIN, "begin");
    if (e != CST_OK)
        cst_db_unlock(db);
    return e;
}

void cst_db_rollback(cst_db *db, cst_work *w)
{
    undo(db, w ? SQL_ROLLBACK_TO_CST : SQL_ROLLBACK, w ? SQL_RELEASE_CST : NULL);
    cst_db_unlock(db);
}

cst_err cst_db_commit(cst_db *db, cst_work *w)
{
    cst_err e = still_open(db, w ? "release" : "commit");
    if (e == CST_OK)
        e = exec(db, w ? SQL_RELEASE_CST : SQL_COMMIT, "commit");
    if (e != CST_OK) {
        cst_db_rollback(db, w);
        return e;
    }
    cst_db_unlock(db);
    return CST_OK;
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

static cst_err stmt_v(cst_db *db, cst_work *w, sqlite3_stmt **st, const char *sql, bool cache,
                      const char *fmt, va_list ap)
{
    int rc = acquire(db, sql, cache, st);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return map_rc(db, rc, "prepare");
    }
    cst_err e =
        w && !sqlite3_stmt_readonly(*st) ? cst_work_join(w, &cst_sqlite_driver, db) : CST_OK;
    if (e == CST_OK)
        e = check_holder(db, w);
    /* A format that does not match the statement would read arguments that are not there. */
    if (e == CST_OK && (size_t)sqlite3_bind_parameter_count(*st) != strlen(fmt)) {
        cst_error("storage: bind format \"%s\" does not match %d parameters of: %s", fmt,
                  sqlite3_bind_parameter_count(*st), sql);
        e = cst_fail(CST_ERR_INTERNAL, "storage error");
    }
    if (e == CST_OK)
        e = bind_args(db, *st, fmt, ap);
    if (e != CST_OK) {
        cst_db_done(db, *st);
        *st = NULL;
    }
    return e;
}

cst_err cst_db_stmt(cst_db *db, cst_work *w, sqlite3_stmt **st, const char *sql, const char *fmt,
                    ...)
{
    va_list ap;
    va_start(ap, fmt);
    cst_err e = stmt_v(db, w, st, sql, true, fmt, ap);
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
                     bool cache, const char *fmt, va_list ap)
{
    sqlite3_stmt *st = NULL;
    if (first)
        *first = 0; /* also on failure */
    cst_db_lock(db);
    cst_err e = stmt_v(db, w, &st, sql, cache, fmt, ap);
    int row = 0;
    if (e == CST_OK)
        e = cst_db_step(db, st, &row);
    if (e == CST_OK && changes)
        *changes = sqlite3_changes(db->h);
    if (e == CST_OK && first)
        *first = row ? sqlite3_column_int64(st, 0) : 0;
    cst_db_done(db, st);
    cst_db_unlock(db);
    return e;
}

/* The four entry points of run_v (db.h): cached or not, changes or first column. */
#define CST_DB_RUN_FN(name, cache, out_type, changes, first)                                       \
    cst_err name(cst_db *db, cst_work *w, out_type out, const char *sql, const char *fmt, ...)     \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        cst_err e = run_v(db, w, changes, first, sql, cache, fmt, ap);                             \
        va_end(ap);                                                                                \
        return e;                                                                                  \
    }
CST_DB_RUN_FN(cst_db_run, true, int *, out, NULL)
CST_DB_RUN_FN(cst_db_run_once, false, int *, out, NULL)
CST_DB_RUN_FN(cst_db_int, true, int64_t *, NULL, out)
CST_DB_RUN_FN(cst_db_int_once, false, int64_t *, NULL, out)

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
