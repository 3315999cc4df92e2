/* test_sqlite_driver.c: the SQLite driver's internals (issue 14): statements compiled once per
 * connection and reused across failures, a bounded statement cache, transaction control and
 * savepoints through it (LOG-1: a rolled-back unit of work leaves nothing), and WAL checkpoints
 * moved off the commit path with the WAL kept under a documented bound (db.h); a warm close (LRU
 * eviction) that empties the WAL and keeps its files, a schema that runs once per text, a
 * system store made before ENC-4 counted key encryptions, and a file in rollback-journal mode (a
 * restored tenant's) opened by two connections at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sqlite/ckpt.h"
#include "store/sqlite/db.h"
#include "store/sqlite/internal.h"
#include "store/store.h"
#include "util/util.h"

static char dir[] = "/tmp/cst-sqlite-XXXXXX";
static char path[PATH_MAX];

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS t(k TEXT PRIMARY KEY, v INTEGER NOT NULL, b BLOB);";
static const char INSERT[] = "INSERT INTO t(k, v, b) VALUES(?, ?, ?)";
static const char SELECT_V[] = "SELECT v FROM t WHERE k = ?";

static int setup(void **state)
{
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A fresh database file for one test. */
static cst_db *open_db(const char *name)
{
    cst_db *db = NULL;
    assert_int_equal(cst_fmt(path, sizeof(path), "%s/%s", dir, name), CST_OK);
    assert_int_equal(cst_db_open(path, 1, schema, &db), CST_OK);
    return db;
}

/* Sums the runs (SQLITE_STMTSTATUS_RUN) of the statements on db's connection whose text is
 * sql; *count gets how many statements the connection holds. */
static int runs_of(cst_db *db, const char *sql, int *count)
{
    sqlite3_stmt *probe = NULL;
    int runs = 0;
    cst_db_lock(db);
    assert_int_equal(cst_db_stmt(db, NULL, &probe, "SELECT 1", ""), CST_OK);
    *count = 0;
    for (sqlite3_stmt *s = sqlite3_next_stmt(sqlite3_db_handle(probe), NULL); s;
         s = sqlite3_next_stmt(sqlite3_db_handle(probe), s), ++*count)
        if (strcmp(sqlite3_sql(s), sql) == 0)
            runs += sqlite3_stmt_status(s, SQLITE_STMTSTATUS_RUN, 0);
    cst_db_done(db, probe);
    cst_db_unlock(db);
    return runs;
}

/* One statement serves every insert of a transaction, also after a constraint violation in
 * the middle of it: each use binds its own values, and the failure undoes only its statement. */
static void test_statement_reused_across_a_constraint_violation(void **state)
{
    cst_db *db = open_db("reuse.db");
    enum { N = 200 };
    char k[32];
    assert_int_equal(cst_db_begin(db, NULL), CST_OK);
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(cst_db_run(db, NULL, NULL, INSERT, "sib", k, (int64_t)i, "x", (size_t)1),
                         CST_OK);
        if (i % 10 == 5) { /* the same key again: a unique constraint fails mid-transaction */
            assert_int_equal(
                cst_db_run(db, NULL, NULL, INSERT, "sib", k, (int64_t)-1, NULL, (size_t)0),
                CST_ERR_CONFLICT);
            cst_err_clear();
        }
    }
    assert_int_equal(cst_db_commit(db, NULL), CST_OK);
    for (int i = 0; i < N; i++) {
        int64_t v = -2;
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(cst_db_int(db, NULL, &v, SELECT_V, "s", k), CST_OK);
        assert_int_equal(v, i);
    }
    int64_t rows = 0;
    assert_int_equal(cst_db_int(db, NULL, &rows, "SELECT count(*) FROM t", ""), CST_OK);
    assert_int_equal(rows, N);
    /* compiled once: one statement of that text, run for every insert, the failed ones too */
    int held = 0;
    assert_int_equal(runs_of(db, INSERT, &held), N + N / 10);
    assert_int_equal(runs_of(db, SELECT_V, &held), N);
    cst_db_close(db);
}

/* Transaction control is compiled once too: BEGIN IMMEDIATE and COMMIT are statements of the
 * cache, run once per transaction, not text parsed by sqlite3_exec each time. */
static void test_transaction_control_is_cached(void **state)
{
    cst_db *db = open_db("control.db");
    for (int i = 0; i < 20; i++) {
        assert_int_equal(cst_db_begin(db, NULL), CST_OK);
        assert_int_equal(cst_db_run(db, NULL, NULL, "DELETE FROM t WHERE v = ?", "i", (int64_t)i),
                         CST_OK);
        if (i % 2)
            cst_db_rollback(db, NULL);
        else
            assert_int_equal(cst_db_commit(db, NULL), CST_OK);
    }
    int held = 0;
    assert_int_equal(runs_of(db, "BEGIN IMMEDIATE", &held), 20);
    assert_int_equal(runs_of(db, "COMMIT", &held), 10);
    assert_int_equal(runs_of(db, "ROLLBACK", &held), 10);
    cst_db_close(db);
}

/* More distinct statements than the cache holds: every one still answers, the connection never
 * holds more than CST_DB_STMT_CACHE of them (the least recently used are finalized), and close
 * finalizes the rest (ASan's leak check in the sanitizer build). */
static void test_cache_is_bounded(void **state)
{
    enum { N = CST_DB_STMT_CACHE + 40 };
    static char texts[N][32]; /* static storage, written once: constants for the cache */
    cst_db *db = open_db("bounded.db");
    for (int i = 0; i < N; i++)
        snprintf(texts[i], sizeof(texts[i]), "SELECT %d + ?", i);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            int64_t v = 0;
            assert_int_equal(cst_db_int(db, NULL, &v, texts[i], "i", (int64_t)round), CST_OK);
            assert_int_equal(v, i + round);
        }
    }
    int held = 0;
    (void)runs_of(db, texts[0], &held);
    assert_true(held > 0);
    assert_true(held <= CST_DB_STMT_CACHE);
    cst_db_close(db);
}

/* A statement still handed out (a listing whose callback runs the same query) is not given to
 * a second user: that one gets its own, finalized when given back; the cached one is then
 * handed out again. */
static void test_statement_in_use_is_not_shared(void **state)
{
    cst_db *db = open_db("nested.db");
    assert_int_equal(cst_db_run(db, NULL, NULL, INSERT, "sib", "a", (int64_t)1, NULL, (size_t)0),
                     CST_OK);
    assert_int_equal(cst_db_run(db, NULL, NULL, INSERT, "sib", "b", (int64_t)2, NULL, (size_t)0),
                     CST_OK);
    static const char all[] = "SELECT k, v FROM t ORDER BY k";
    sqlite3_stmt *outer = NULL, *inner = NULL, *again = NULL;
    int row = 0;
    cst_db_lock(db);
    assert_int_equal(cst_db_stmt(db, NULL, &outer, all, ""), CST_OK);
    assert_int_equal(cst_db_step(db, outer, &row), CST_OK);
    assert_int_equal(row, 1);
    assert_int_equal(cst_db_stmt(db, NULL, &inner, all, ""), CST_OK);
    assert_ptr_not_equal(inner, outer);
    assert_int_equal(cst_db_step(db, inner, &row), CST_OK);
    assert_string_equal((const char *)sqlite3_column_text(inner, 0), "a");
    cst_db_done(db, inner);
    /* the outer one went on where it was */
    assert_int_equal(cst_db_step(db, outer, &row), CST_OK);
    assert_int_equal(row, 1);
    assert_string_equal((const char *)sqlite3_column_text(outer, 0), "b");
    cst_db_done(db, outer);
    assert_int_equal(cst_db_stmt(db, NULL, &again, all, ""), CST_OK);
    assert_ptr_equal(again, outer);
    assert_int_equal(cst_db_step(db, again, &row), CST_OK); /* reset: from the first row */
    assert_string_equal((const char *)sqlite3_column_text(again, 0), "a");
    cst_db_done(db, again);
    cst_db_unlock(db);
    cst_db_close(db);
}

/* LOG-1: units of work rolled back after cached SAVEPOINT statements leave nothing, again and
 * again, between kept ones that stay; the savepoints are cached statements, not exec'd text. */
static void test_log1_rolled_back_work_with_cached_savepoints_leaves_nothing(void **state)
{
    char sdir[PATH_MAX];
    cst_store *st = NULL;
    assert_int_equal(cst_fmt(sdir, sizeof(sdir), "%s/store", dir), CST_OK);
    assert_int_equal(mkdir(sdir, 0700), 0);
    assert_int_equal(cst_store_open(sdir, true, &st), CST_OK);
    enum { ROUNDS = 30 };
    for (int i = 0; i < ROUNDS; i++) {
        cst_user_row u, got;
        memset(&u, 0, sizeof(u));
        snprintf(u.id, sizeof(u.id), "us_%020d", i + 1);
        snprintf(u.username, sizeof(u.username), "user%d", i);
        snprintf(u.tenant_id, sizeof(u.tenant_id), "_sys");
        snprintf(u.pw_hash, sizeof(u.pw_hash), "x");
        snprintf(u.recovery, sizeof(u.recovery), "[]");
        cst_txn *t = NULL;
        cst_work *w = NULL;
        bool keep = i % 3 == 0;
        assert_int_equal(cst_txn_begin(&t), CST_OK);
        assert_int_equal(cst_work_begin(t, &w), CST_OK);
        assert_int_equal(cst_store_user_create(st, w, &u), CST_OK);
        u.roles = 7; /* a second write in the same work */
        assert_int_equal(cst_store_user_update(st, w, &u), CST_OK);
        assert_int_equal(cst_work_end(w, keep), CST_OK);
        assert_int_equal(cst_txn_commit(t), CST_OK);
        assert_int_equal(cst_store_user_get(st, NULL, u.id, &got),
                         keep ? CST_OK : CST_ERR_NOT_FOUND);
        cst_err_clear();
        if (keep)
            assert_int_equal(got.roles, 7);
    }
    int count = 0;
    assert_int_equal(cst_store_user_count(st, NULL, "_sys", 0, &count), CST_OK);
    assert_int_equal(count, (ROUNDS + 2) / 3);
    int held = 0;
    cst_db *db = cst_sqlite_system_db(st);
    assert_int_equal(runs_of(db, "SAVEPOINT w", &held), ROUNDS);
    assert_int_equal(runs_of(db, "ROLLBACK TO w", &held), ROUNDS - (ROUNDS + 2) / 3);
    cst_store_close(st);
}

/* ---- WAL checkpoints (db.h: CST_DB_WAL_SOFT_PAGES, CST_DB_WAL_HARD_PAGES) ---- */

static int64_t file_size(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0 ? (int64_t)s.st_size : 0;
}

static int64_t wal_size(void)
{
    char wal[PATH_MAX + 8];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    return file_size(wal);
}

/* The bytes of a WAL holding pages frames: its header, then each frame's header and page. */
static int64_t wal_bytes(cst_db *db, int64_t pages)
{
    int64_t page = 0;
    assert_int_equal(cst_db_int(db, NULL, &page, "PRAGMA page_size", ""), CST_OK);
    return 32 + pages * (24 + page);
}

/* One transaction of TXN_ROWS rows of 16 KiB (about 45 pages of WAL). */
enum { TXN_ROWS = 10, TXN_PAGES_MAX = 64, MAX_TXNS = CST_DB_WAL_HARD_PAGES / 20 };
static void write_txn(cst_db *db, int n)
{
    static uint8_t value[16384];
    char k[32];
    assert_int_equal(cst_db_begin(db, NULL), CST_OK);
    for (int i = 0; i < TXN_ROWS; i++) {
        snprintf(k, sizeof(k), "w%d", n * TXN_ROWS + i);
        memset(value, n + i, sizeof(value));
        assert_int_equal(
            cst_db_run(db, NULL, NULL, INSERT, "sib", k, (int64_t)n, value, sizeof(value)), CST_OK);
    }
    assert_int_equal(cst_db_commit(db, NULL), CST_OK);
}

/* A fresh database watched by a checkpointer without a thread (*ck): the test runs its work. */
static cst_db *watched_db(const char *name, cst_ckpt **ck)
{
    assert_int_equal(cst_ckpt_start(false, ck), CST_OK);
    cst_db *db = open_db(name);
    cst_db_watch(db, *ck);
    return db;
}

/* Writes txns transactions, running the checkpointer's queue after each when ck is given; the
 * largest the WAL file grew. *runs (optional) gets how many checkpoints ran. */
static int64_t write_loop(cst_db *db, cst_ckpt *ck, int txns, int *runs)
{
    int64_t most = 0;
    for (int n = 0; n < txns; n++) {
        write_txn(db, n);
        int done = ck ? cst_ckpt_run(ck) : 0;
        if (runs)
            *runs += done;
        most = wal_size() > most ? wal_size() : most;
    }
    return most;
}

/* A commit that takes the WAL past SQLite's own threshold (1000 pages, checkpointed inside that
 * commit before) does not checkpoint: the database file is untouched until the checkpointer
 * runs. */
static void test_commits_leave_checkpoints_to_the_checkpointer(void **state)
{
    cst_ckpt *ck = NULL;
    cst_db *db = watched_db("wal.db", &ck);
    int64_t before = file_size(path);
    for (int n = 0; n < MAX_TXNS && wal_size() < wal_bytes(db, CST_DB_WAL_SOFT_PAGES + 200); n++)
        write_txn(db, n);
    assert_int_equal(file_size(path), before); /* no checkpoint in any commit */
    assert_true(wal_size() >= wal_bytes(db, CST_DB_WAL_SOFT_PAGES + 200));
    assert_int_equal(cst_ckpt_run(ck), 1);
    assert_true(file_size(path) > before + wal_bytes(db, CST_DB_WAL_SOFT_PAGES) / 2);
    assert_int_equal(cst_ckpt_run(ck), 0); /* handed once, checkpointed once */
    cst_db_close(db);
    cst_ckpt_stop(ck);
}

/* The checkpointer keeping up (its thread's work, done here after each commit) keeps the WAL
 * file under CST_DB_WAL_SOFT_PAGES plus one transaction's pages through a write loop. */
static void test_checkpointer_keeps_the_wal_bounded(void **state)
{
    cst_ckpt *ck = NULL;
    cst_db *db = watched_db("soft.db", &ck);
    int runs = 0;
    int64_t most = write_loop(db, ck, 3 * CST_DB_WAL_SOFT_PAGES / 40, &runs);
    assert_true(runs >= 2);
    assert_true(most <= wal_bytes(db, CST_DB_WAL_SOFT_PAGES + TXN_PAGES_MAX));
    cst_db_close(db);
    cst_ckpt_stop(ck);
}

/* The hard bound: with the checkpointer never running (fallen behind), a write loop still keeps
 * the WAL file under CST_DB_WAL_HARD_PAGES plus one transaction's pages. */
static void test_wal_bounded_when_the_checkpointer_falls_behind(void **state)
{
    cst_ckpt *ck = NULL;
    cst_db *db = watched_db("hard.db", &ck);
    int64_t most = write_loop(db, NULL, 2 * CST_DB_WAL_HARD_PAGES / 40, NULL);
    assert_true(most > wal_bytes(db, CST_DB_WAL_SOFT_PAGES)); /* it did fall behind */
    assert_true(most <= wal_bytes(db, CST_DB_WAL_HARD_PAGES + TXN_PAGES_MAX));
    cst_db_close(db);
    cst_ckpt_stop(ck);
}

/* A connection closed while queued for (or in) a checkpoint on the real thread: close waits
 * for it and takes it out of the queue (no use after free, ASan). */
static void test_close_while_queued_on_the_thread(void **state)
{
    for (int round = 0; round < 3; round++) {
        cst_ckpt *ck = NULL;
        assert_int_equal(cst_ckpt_start(true, &ck), CST_OK);
        char name[32];
        snprintf(name, sizeof(name), "thread%d.db", round);
        cst_db *db = open_db(name);
        cst_db_watch(db, ck);
        for (int n = 0; n < MAX_TXNS && wal_size() < wal_bytes(db, CST_DB_WAL_SOFT_PAGES); n++)
            write_txn(db, n);
        cst_db_close(db);
        cst_ckpt_stop(ck);
    }
}

static int64_t value_of(cst_db *db, const char *k)
{
    int64_t v = -1;
    assert_int_equal(
        cst_db_int(db, NULL, &v, "SELECT coalesce(max(v), -1) FROM t WHERE k = ?", "s", k), CST_OK);
    return v;
}

static int64_t user_version(const char *file)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(file, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* A warm close (an LRU eviction) checkpoints the WAL into the database before it closes, and
 * leaves the emptied WAL and its index in place for the next open: the database file alone
 * holds every committed row, and the reopened store reads them. */
static void test_warm_close_leaves_an_empty_wal_and_a_complete_database(void **state)
{
    cst_db *db = open_db("warm.db");
    assert_int_equal(cst_db_run(db, NULL, NULL, INSERT, "sib", "a", (int64_t)7, "x", (size_t)1),
                     CST_OK);
    assert_true(wal_size() > 0);
    cst_db_close_warm(db);
    char side[PATH_MAX + 8];
    snprintf(side, sizeof(side), "%s-shm", path);
    assert_int_equal(access(side, F_OK), 0); /* kept, not removed */
    snprintf(side, sizeof(side), "%s-wal", path);
    assert_int_equal(access(side, F_OK), 0);
    assert_int_equal(wal_size(), 0); /* emptied: its pages are in the database */

    /* the database file alone, without its WAL, has the row */
    char copy[PATH_MAX + 8], cmd[2 * PATH_MAX + 16];
    snprintf(copy, sizeof(copy), "%s/alone.db", dir);
    snprintf(cmd, sizeof(cmd), "cp %s %s", path, copy);
    assert_int_equal(system(cmd), 0);
    cst_db *alone = NULL;
    assert_int_equal(cst_db_open(copy, 0, schema, &alone), CST_OK);
    assert_int_equal(value_of(alone, "a"), 7);
    cst_db_close(alone);

    assert_int_equal(cst_db_open(path, 0, schema, &db), CST_OK);
    assert_int_equal(value_of(db, "a"), 7);
    cst_db_close(db); /* an ordinary close removes both again */
    assert_int_equal(access(side, F_OK), -1);
}

/* When a reader keeps the WAL from being emptied, a warm close is an ordinary one: nothing
 * committed is lost, and the WAL is folded in by the last connection's close. */
static void test_warm_close_with_a_reader_is_an_ordinary_close(void **state)
{
    cst_db *db = open_db("pinned.db");
    sqlite3 *reader = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(reader, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*) FROM t", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW); /* the read snapshot is taken */
    assert_int_equal(cst_db_run(db, NULL, NULL, INSERT, "sib", "b", (int64_t)9, "y", (size_t)1),
                     CST_OK);
    cst_db_close_warm(db);
    assert_true(wal_size() > 0); /* the reader held it */
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(reader);
    assert_int_equal(cst_db_open(path, 0, schema, &db), CST_OK);
    assert_int_equal(value_of(db, "b"), 9);
    cst_db_close(db);
}

/* The schema runs once per text: the file records which (user_version), a reopen with the same
 * text runs no DDL (a table dropped behind its back stays dropped), and a changed text runs. */
static void test_schema_runs_once_per_text(void **state)
{
    cst_db *db = open_db("mark.db");
    cst_db_close(db);
    int64_t mark = user_version(path);
    assert_true(mark != 0);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "DROP TABLE t", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(cst_db_open(path, 0, schema, &db), CST_OK);
    int64_t n = -1;
    assert_int_equal(
        cst_db_int(db, NULL, &n, "SELECT count(*) FROM sqlite_schema WHERE name = 't'", ""),
        CST_OK);
    assert_int_equal(n, 0); /* not run again */
    cst_db_close(db);
    static const char grown[] = "CREATE TABLE IF NOT EXISTS t(k TEXT PRIMARY KEY, v INTEGER NOT "
                                "NULL, b BLOB);CREATE TABLE IF NOT EXISTS u(x);";
    assert_int_equal(cst_db_open(path, 0, grown, &db), CST_OK);
    assert_int_equal(
        cst_db_int(db, NULL, &n, "SELECT count(*) FROM sqlite_schema WHERE name IN ('t', 'u')", ""),
        CST_OK);
    assert_int_equal(n, 2);
    cst_db_close(db);
    assert_true(user_version(path) != mark);
}

/* BAK-2: a restore leaves a tenant's file in rollback-journal mode (a backup's copy is
 * self-contained), and the first opens after it switch the file to WAL: a node's first request to
 * the tenant and its start-up sweep open it at the same moment. SQLite answers the loser of that
 * switch with SQLITE_BUSY without waiting; the open must wait instead (a 503 to the request, once).
 */
typedef struct {
    pthread_barrier_t *go;
    cst_err e;
} opener;

static void *open_at_once(void *p)
{
    opener *o = p;
    cst_db *db = NULL;
    pthread_barrier_wait(o->go);
    o->e = cst_db_open(path, 0, schema, &db);
    if (o->e == CST_OK)
        cst_db_close(db);
    else
        cst_err_clear();
    return NULL;
}

static void journal_mode(const char *mode)
{
    sqlite3 *h = NULL;
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", mode);
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

static void test_bak2_restored_file_opened_twice_at_once_switches_to_wal(void **state)
{
    cst_db_close(open_db("restored.db"));
    int refused = 0;
    for (int round = 0; round < 100; round++) {
        journal_mode("DELETE");
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 2);
        opener o[2] = {{&go, CST_OK}, {&go, CST_OK}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, open_at_once, &o[i]), 0);
        for (int i = 0; i < 2; i++) {
            pthread_join(th[i], NULL);
            refused += o[i].e != CST_OK;
        }
        pthread_barrier_destroy(&go);
    }
    assert_int_equal(refused, 0);
    /* and the file is in WAL mode after them (header bytes 18 and 19 are 2) */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char hdr[20];
    assert_int_equal(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
    fclose(f);
    assert_int_equal(hdr[18], 2);
    assert_int_equal(hdr[19], 2);
}

static cst_err enc_of(const cst_key_row *k, void *p)
{
    *(int64_t *)p = k->encryptions;
    return CST_OK;
}

/* ENC-4: a system store made before tenant keys counted their encryptions opens, its keys
 * list with a count of 0 and count on from there. */
static void test_enc4_key_counts_added_to_an_older_system_store(void **state)
{
    char dd[PATH_MAX], sys[PATH_MAX + 16];
    snprintf(dd, sizeof(dd), "%s/old-node", dir);
    assert_int_equal(mkdir(dd, 0700), 0);
    cst_store *st = NULL;
    assert_int_equal(cst_store_open(dd, true, &st), CST_OK);
    cst_store_close(st);
    snprintf(sys, sizeof(sys), "%s/system.db", dd);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(sys, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "ALTER TABLE tenant_keys DROP COLUMN encryptions;"
                                  "INSERT INTO tenant_keys(tenant_id, purpose, version, wrapped, "
                                  "created_at) VALUES('tn_old', 'dek', 1, x'00', 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(cst_store_open(dd, false, &st), CST_OK);
    int64_t enc = -1;
    assert_int_equal(cst_store_key_list(st, NULL, "tn_old", enc_of, &enc), CST_OK);
    assert_int_equal(enc, 0);
    assert_int_equal(cst_store_key_count(st, NULL, "tn_old", "dek", 1, 5), CST_OK);
    assert_int_equal(cst_store_key_list(st, NULL, "tn_old", enc_of, &enc), CST_OK);
    assert_int_equal(enc, 5);
    cst_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statement_reused_across_a_constraint_violation),
        cmocka_unit_test(test_enc4_key_counts_added_to_an_older_system_store),
        cmocka_unit_test(test_transaction_control_is_cached),
        cmocka_unit_test(test_cache_is_bounded),
        cmocka_unit_test(test_statement_in_use_is_not_shared),
        cmocka_unit_test(test_log1_rolled_back_work_with_cached_savepoints_leaves_nothing),
        cmocka_unit_test(test_commits_leave_checkpoints_to_the_checkpointer),
        cmocka_unit_test(test_checkpointer_keeps_the_wal_bounded),
        cmocka_unit_test(test_wal_bounded_when_the_checkpointer_falls_behind),
        cmocka_unit_test(test_close_while_queued_on_the_thread),
        cmocka_unit_test(test_warm_close_leaves_an_empty_wal_and_a_complete_database),
        cmocka_unit_test(test_warm_close_with_a_reader_is_an_ordinary_close),
        cmocka_unit_test(test_schema_runs_once_per_text),
        cmocka_unit_test(test_bak2_restored_file_opened_twice_at_once_switches_to_wal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
