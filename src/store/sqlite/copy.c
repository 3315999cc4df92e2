/* copy.c: copies of the SQLite stores for backups and restores (BAK-1..4): point-in-time
 * snapshots with the online backup API, integrity checks, the tenant lists of a copy, erased
 * tenants dropped from a copy, and one tenant merged from a copy into a live node. The
 * sqlite3 connections opened here are private to the calling thread (opened, used, closed in one
 * function); the live system store is used only through cst_db (db.h), under its lock. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sqlite/internal.h"
#include "util/util.h"

cst_err cst_sqlite_store_copy_name(const char *tenant_id, char *out, size_t size)
{
    if (!tenant_id)
        return cst_fmt(out, size, "%s", CST_SQLITE_SYSTEM);
    ENSURE(cst_id_valid(tenant_id, "tn"), CST_ERR_INVALID, "malformed tenant id");
    return cst_fmt(out, size, "tenants/%s.db", tenant_id);
}

bool cst_sqlite_store_copy_tenant(const char *name, char id[CST_ID_MAX])
{
    size_t l = strlen(name);
    if (strncmp(name, "tenants/", 8) != 0 || l < 12 || strcmp(name + l - 3, ".db") != 0 ||
        l - 11 >= CST_ID_MAX)
        return false;
    memcpy(id, name + 8, l - 11);
    id[l - 11] = '\0';
    return cst_id_valid(id, "tn");
}

/* A point-in-time copy of a live database (online backup API) as a single file. */
static cst_err snapshot_file(const char *src, const char *dst)
{
    sqlite3 *s = NULL, *d = NULL;
    char why[256] = "";
    cst_db_init();
    int rc = sqlite3_open_v2(src, &s, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(s, 10000);
        rc = sqlite3_open_v2(dst, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    }
    /* a staging copy: the backup file is synced, not this */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(d, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        /* One step copies every page inside one read transaction: a point-in-time copy. In
         * WAL mode writers go on meanwhile. */
        sqlite3_backup *b = sqlite3_backup_init(d, "main", s, "main");
        if (!b) {
            rc = sqlite3_errcode(d);
        } else {
            rc = sqlite3_backup_step(b, -1);
            int rc2 = sqlite3_backup_finish(b);
            rc = rc == SQLITE_DONE ? rc2 : rc;
        }
    }
    /* The copy is a self-contained file: no WAL beside it. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(d, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        (void)snprintf(why, sizeof(why), "%s", d ? sqlite3_errmsg(d) : sqlite3_errstr(rc));
    sqlite3_close(d);
    sqlite3_close(s);
    if (rc == SQLITE_FULL || rc == SQLITE_IOERR)
        return cst_fail(CST_ERR_UNAVAILABLE, "cannot copy %s: %s", src, why);
    ENSURE(rc == SQLITE_OK, CST_ERR_INTERNAL, "cannot copy %s: %s", src, why);
    return CST_OK;
}

/* Where the copy name goes in dir (a tenant's: its tenants/ directory made first). */
static cst_err copy_path(const char *dir, const char *name, bool tenant, char *out, size_t size)
{
    TRY(cst_fmt(out, size, "%s/%s", dir, name));
    if (tenant) {
        char sub[PATH_MAX];
        TRY(cst_fmt(sub, sizeof(sub), "%s/tenants", dir));
        ENSURE(mkdir(sub, 0700) == 0 || errno == EEXIST, CST_ERR_UNAVAILABLE,
               "cannot create %s: %s", sub, strerror(errno));
    }
    return CST_OK;
}

cst_err cst_sqlite_store_snapshot(cst_store *st, const char *tenant_id, const char *dir,
                                  bool *exists)
{
    char src[PATH_MAX], name[PATH_MAX], dst[PATH_MAX];
    const char *data_dir = cst_sqlite_store_data_dir(st);
    *exists = false;
    if (tenant_id)
        TRY(cst_sqlite_tenant_path(data_dir, CST_TSPACE_LIVE, tenant_id, src, sizeof(src)));
    else
        TRY(cst_sqlite_system_path(data_dir, src, sizeof(src)));
    if (!cst_path_exists(src))
        return CST_OK; /* a tenant that never stored anything has no database yet */
    TRY(cst_sqlite_store_copy_name(tenant_id, name, sizeof(name)));
    TRY(copy_path(dir, name, tenant_id != NULL, dst, sizeof(dst)));
    TRY(snapshot_file(src, dst));
    *exists = true;
    return CST_OK;
}

/* Runs one integer query on a database file opened read-only (a staged copy). */
static cst_err count_query(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    ENSURE(rc == SQLITE_ROW, CST_ERR_INTEGRITY, "database query failed: %s", sqlite3_errmsg(db));
    return CST_OK;
}

cst_err cst_sqlite_store_copy_check(const char *dir, const char *name, bool integrity,
                                    int64_t *records, int64_t *buckets)
{
    char path[PATH_MAX];
    TRY(cst_fmt(path, sizeof(path), "%s/%s", dir, name));
    sqlite3 *db = NULL;
    cst_db_init();
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    cst_err e = rc == SQLITE_OK
                    ? CST_OK
                    : cst_fail(CST_ERR_INTEGRITY, "cannot open %s: %s", path, sqlite3_errstr(rc));
    if (e == CST_OK && integrity) {
        sqlite3_stmt *q = NULL;
        rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(q);
        const unsigned char *r = rc == SQLITE_ROW ? sqlite3_column_text(q, 0) : NULL;
        if (!r || strcmp((const char *)r, "ok") != 0)
            e = cst_fail(CST_ERR_INTEGRITY, "%s fails PRAGMA integrity_check: %s", path,
                         r ? (const char *)r : sqlite3_errmsg(db));
        sqlite3_finalize(q);
    }
    if (e == CST_OK && records)
        e = count_query(db, "SELECT count(*) FROM records", records);
    if (e == CST_OK && buckets)
        e = count_query(db, "SELECT count(*) FROM buckets", buckets);
    sqlite3_close(db);
    return e;
}

/* Calls tenant (or tomb) for each row of a query on the copy; a callback's error stops it. */
static cst_err list_rows(sqlite3 *db, const char *sql, cst_err (*tenant)(const char *id, void *ctx),
                         cst_err (*tomb)(const cst_tombstone_row *, void *ctx), void *ctx, int *rc)
{
    sqlite3_stmt *q = NULL;
    cst_err e = CST_OK;
    *rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    while (e == CST_OK && *rc == SQLITE_OK && (*rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(q, 0);
        if (tenant) {
            e = tenant(id ? id : "", ctx);
        } else {
            cst_tombstone_row t = {.erased_at = sqlite3_column_int64(q, 1)};
            (void)snprintf(t.tenant_id, sizeof(t.tenant_id), "%s", id ? id : "");
            e = tomb(&t, ctx);
        }
        *rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    return e;
}

cst_err cst_sqlite_store_copy_lists(const char *dir, cst_err (*tenant)(const char *id, void *ctx),
                                    cst_err (*tomb)(const cst_tombstone_row *, void *ctx),
                                    void *ctx)
{
    char path[PATH_MAX];
    TRY(cst_fmt(path, sizeof(path), "%s/%s", dir, CST_SQLITE_SYSTEM));
    sqlite3 *db = NULL;
    cst_db_init();
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    cst_err e = CST_OK;
    if (rc == SQLITE_OK)
        e = list_rows(db, "SELECT id FROM tenants ORDER BY id", tenant, NULL, ctx, &rc);
    if (e == CST_OK && rc == SQLITE_DONE)
        e = list_rows(db, "SELECT tenant_id, erased_at FROM tombstones ORDER BY tenant_id", NULL,
                      tomb, ctx, &rc);
    char why[200];
    (void)snprintf(why, sizeof(why), "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    TRY(e);
    ENSURE(rc == SQLITE_DONE, CST_ERR_INTEGRITY, "cannot read the tenants of %s: %s", path, why);
    return CST_OK;
}

static cst_err sql_exec(sqlite3 *db, const char *sql, const char *a)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    if (rc == SQLITE_OK && a)
        rc = sqlite3_bind_text(q, 1, a, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    sqlite3_finalize(q);
    ENSURE(rc == SQLITE_DONE || rc == SQLITE_ROW,
           rc == SQLITE_FULL ? CST_ERR_UNAVAILABLE : CST_ERR_INTERNAL, "restore: %s",
           sqlite3_errmsg(db));
    return CST_OK;
}

/* Whether the copy's database holds a table of that name. */
static bool has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *q = NULL;
    bool found = sqlite3_prepare_v2(db,
                                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                    "name = ?",
                                    -1, &q, NULL) == SQLITE_OK &&
                 sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
                 sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    return found;
}

/* Records one tombstone (BAK-4); every step is checked, so a restore whose tombstone could not
 * be written fails instead of completing without it. */
static cst_err insert_tombstone(sqlite3 *db, const char *id, int64_t erased_at)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR IGNORE INTO tombstones(tenant_id, erased_at) "
                                "VALUES(?, ?)",
                                -1, &q, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(q, 2, erased_at);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(q);
    cst_err e = CST_OK;
    if (rc != SQLITE_DONE)
        e = cst_fail(rc == SQLITE_FULL ? CST_ERR_UNAVAILABLE : CST_ERR_INTERNAL,
                     "restore: cannot record the tombstone of tenant %s: %s", id,
                     sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return e;
}

cst_err cst_sqlite_store_copy_drop_erased(const char *dir, const cst_tombstone_row *tombs, size_t n)
{
    char sys[PATH_MAX];
    TRY(cst_fmt(sys, sizeof(sys), "%s/%s", dir, CST_SQLITE_SYSTEM));
    sqlite3 *db = NULL;
    cst_db_init();
    if (sqlite3_open_v2(sys, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(db); /* sqlite hands back a handle even when the open fails */
        return cst_fail(CST_ERR_INTERNAL, "cannot open %s", sys);
    }
    cst_err e = sql_exec(db, "PRAGMA secure_delete=ON", NULL);
    if (e == CST_OK)
        e = sql_exec(db, "BEGIN IMMEDIATE", NULL);
    static const char *const dels[] = {
        "DELETE FROM tokens WHERE tenant_id = ?", "DELETE FROM users WHERE tenant_id = ?",
        "DELETE FROM tenant_keys WHERE tenant_id = ?", "DELETE FROM tenants WHERE id = ?"};
    /* IAM-6: access reviews name the tenant's users (a copy made before they existed has none) */
    static const char *const review_dels[] = {
        "DELETE FROM review_decisions WHERE review_id IN (SELECT id FROM reviews WHERE scope = ?)",
        "DELETE FROM reviews WHERE scope = ?", "DELETE FROM review_reminders WHERE scope = ?"};
    bool reviews = has_table(db, "reviews") && has_table(db, "review_decisions") &&
                   has_table(db, "review_reminders");
    for (size_t i = 0; e == CST_OK && i < n; i++) {
        for (size_t k = 0; e == CST_OK && k < sizeof(dels) / sizeof(*dels); k++)
            e = sql_exec(db, dels[k], tombs[i].tenant_id);
        for (size_t k = 0; e == CST_OK && reviews && k < sizeof(review_dels) / sizeof(*review_dels);
             k++)
            e = sql_exec(db, review_dels[k], tombs[i].tenant_id);
        if (e == CST_OK)
            e = insert_tombstone(db, tombs[i].tenant_id, tombs[i].erased_at);
    }
    if (e == CST_OK)
        e = sql_exec(db, "COMMIT", NULL);
    sqlite3_close(db);
    return e;
}

/* Copies the tenant's rows from the copy's system store (attached as b) into the live one. Its
 * statements name the attached database, so they are compiled per call, never cached. */
static cst_err merge_rows(cst_db *db, const char *tenant, bool *created)
{
    int64_t in_backup = 0, present = 0;
    TRY(cst_db_int_once(db, NULL, &in_backup, "SELECT count(*) FROM b.tenants WHERE id = ?", "s",
                        tenant));
    ENSURE(in_backup, CST_ERR_NOT_FOUND, "the backup holds no tenant %s", tenant);
    TRY(cst_db_int_once(db, NULL, &present, "SELECT count(*) FROM main.tenants WHERE id = ?", "s",
                        tenant));
    TRY(cst_db_begin(db, NULL));
    cst_err e = cst_db_run_once(
        db, NULL, NULL, "INSERT OR IGNORE INTO main.tenants SELECT * FROM b.tenants WHERE id = ?",
        "s", tenant);
    if (e == CST_OK)
        e = cst_db_run_once(
            db, NULL, NULL,
            /* named columns: a copy made before a column was added still merges (ENC-4) */
            "INSERT OR IGNORE INTO main.tenant_keys(tenant_id, purpose, version, wrapped, "
            "created_at) SELECT tenant_id, purpose, version, wrapped, created_at FROM "
            "b.tenant_keys WHERE tenant_id = ?",
            "s", tenant);
    /* ENC-4: a tenant the node no longer has brings its keys from the copy; wrapped by
     * another master key (the node's was rotated since: node/kekrot.c) they would open nothing */
    int64_t foreign = 0;
    if (e == CST_OK)
        e = cst_db_int_once(
            db, NULL, &foreign,
            "SELECT count(*) FROM main.tenant_keys WHERE tenant_id = ?1 AND substr(wrapped, 1, "
            "1) IN (x'02', x'03') AND lower(hex(substr(wrapped, 2, 8))) <> (SELECT v FROM "
            "main.meta WHERE k = 'kek_id')",
            "s", tenant);
    if (e == CST_OK && foreign)
        e = cst_fail(CST_ERR_CONFLICT,
                     "tenant %s's keys in the backup are wrapped by a master key this node "
                     "no longer uses (it was rotated after the backup): restore the whole "
                     "backup with the key it names, then export the tenant",
                     tenant);
    /* ENC-4: the copy's records may be under an older DEK version than the tenant's newest
     * (a copy made before a rotation, or during its re-encryption): it runs (again) to the
     * newest, the key worker counting what is left */
    if (e == CST_OK)
        e = cst_db_run_once(
            db, NULL, NULL,
            "INSERT OR REPLACE INTO main.key_rewrap(tenant_id, target, state, done, total, "
            "started_at, finished_at) SELECT ?1, max(version), 'running', 0, 0, "
            "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER), 0 FROM "
            "main.tenant_keys WHERE tenant_id = ?1 AND purpose = 'dek' HAVING max(version) > 1",
            "s", tenant);
    if (e == CST_OK && !present)
        e = cst_db_run_once(
            db, NULL, NULL,
            "INSERT OR IGNORE INTO main.users SELECT * FROM b.users WHERE tenant_id = ?", "s",
            tenant);
    if (e == CST_OK)
        e = cst_db_commit(db, NULL);
    else
        cst_db_rollback(db, NULL);
    *created = !present;
    return e;
}

/* Replaces the tenant's database file: the old one is checkpointed first so that no WAL of it
 * can be replayed onto the new file. */
static cst_err swap_tenant_db(const char *data_dir, const char *tenant, const char *staged)
{
    char live[PATH_MAX], side[PATH_MAX], dir[PATH_MAX];
    TRY(cst_sqlite_tenant_path(data_dir, CST_TSPACE_LIVE, tenant, live, sizeof(live)));
    TRY(cst_fmt(dir, sizeof(dir), "%s/tenants", data_dir));
    if (cst_path_exists(live)) {
        sqlite3 *db = NULL;
        cst_db_init();
        if (sqlite3_open_v2(live, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK)
            (void)sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        sqlite3_close(db);
    }
    ENSURE(rename(staged, live) == 0, CST_ERR_UNAVAILABLE, "cannot move %s into place: %s", live,
           strerror(errno));
    static const char *const sides[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 3; i++) {
        TRY(cst_fmt(side, sizeof(side), "%s%s", live, sides[i]));
        if (unlink(side) != 0 && errno != ENOENT)
            return cst_fail(CST_ERR_UNAVAILABLE, "cannot remove %s: %s", side, strerror(errno));
    }
    return cst_fsync_dir(dir);
}

cst_err cst_sqlite_store_merge_tenant(cst_store *st, const char *dir, const char *tenant_id,
                                      bool *created)
{
    char sys[PATH_MAX], name[PATH_MAX], staged[PATH_MAX];
    TRY(cst_fmt(sys, sizeof(sys), "%s/%s", dir, CST_SQLITE_SYSTEM));
    TRY(cst_sqlite_store_copy_name(tenant_id, name, sizeof(name)));
    TRY(cst_fmt(staged, sizeof(staged), "%s/%s", dir, name));
    cst_db *db = cst_sqlite_system_db(st);
    TRY(cst_db_run_once(db, NULL, NULL, "ATTACH DATABASE ? AS b", "s", sys));
    cst_err e = merge_rows(db, tenant_id, created);
    if (cst_db_run_once(db, NULL, NULL, "DETACH DATABASE b", "") != CST_OK && e == CST_OK)
        cst_err_clear(); /* as before the move: a failed detach does not fail the merge */
    if (e == CST_OK && cst_path_exists(staged))
        e = swap_tenant_db(cst_sqlite_store_data_dir(st), tenant_id, staged);
    return e;
}

/* ---- the rows of copies (store.h: cst_store_copy_tables ...) ----
 * A copy's tables and columns are read once from the schemas in the code (an in-memory
 * database made with them), never from a copy: a copy older than a column reads it as
 * CST_COPY_ABSENT. */
#define COPY_TABLES_MAX 32

typedef struct copy_layout {
    cst_copy_table tables[COPY_TABLES_MAX];
    size_t n;
} copy_layout;

static struct {
    pthread_once_t once;
    bool ok;
    copy_layout sys, ten;
} layouts = {.once = PTHREAD_ONCE_INIT};

static cst_copy_type declared_type(const char *t)
{
    if (t && strcmp(t, "INTEGER") == 0)
        return CST_COPY_INT;
    if (t && strcmp(t, "BLOB") == 0)
        return CST_COPY_BYTES;
    return CST_COPY_TEXT;
}

/* The column naming the tenant of a table's rows (the tenants table: its id). */
static const char *tenant_column(const cst_copy_table *t)
{
    if (strcmp(t->name, "tenants") == 0)
        return t->cols[0].name;
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, "tenant_id") == 0)
            return t->cols[i].name;
    return NULL;
}

/* The columns of one table of db into t (names copied: they live as long as the process). */
static bool load_columns(sqlite3 *db, const char *name, cst_copy_table *t)
{
    sqlite3_stmt *q = NULL;
    cst_copy_column *cols = NULL;
    size_t n = 0;
    bool ok = sqlite3_prepare_v2(db, "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", -1,
                                 &q, NULL) == SQLITE_OK &&
              sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT) == SQLITE_OK;
    while (ok && sqlite3_step(q) == SQLITE_ROW) {
        cst_copy_column *more = realloc(cols, (n + 1) * sizeof(*cols));
        const char *cn = (const char *)sqlite3_column_text(q, 0);
        ok = more && cn;
        if (ok) {
            cols = more;
            cols[n].name = strdup(cn);
            cols[n].type = declared_type((const char *)sqlite3_column_text(q, 1));
            ok = cols[n++].name != NULL;
        }
    }
    sqlite3_finalize(q);
    t->name = strdup(name);
    t->cols = cols;
    t->ncols = n;
    ok = ok && t->name && n > 0;
    if (ok)
        t->tenant_col = tenant_column(t);
    return ok;
}

static bool load_layout(const char *schema, copy_layout *l)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    bool ok = sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
              sqlite3_exec(db, schema, NULL, NULL, NULL) == SQLITE_OK &&
              sqlite3_prepare_v2(db,
                                 "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY "
                                 "rowid",
                                 -1, &q, NULL) == SQLITE_OK;
    while (ok && sqlite3_step(q) == SQLITE_ROW) {
        ok = l->n < COPY_TABLES_MAX &&
             load_columns(db, (const char *)sqlite3_column_text(q, 0), &l->tables[l->n]);
        l->n++;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return ok;
}

static void load_layouts(void)
{
    cst_db_init();
    layouts.ok = load_layout(cst_sqlite_system_schema, &layouts.sys) &&
                 load_layout(cst_sqlite_tenant_schema, &layouts.ten);
}

/* The layout of the copy called name, and whether it is a tenant's. */
static cst_err layout_of(const char *name, const copy_layout **out, bool *tenant)
{
    char id[CST_ID_MAX];
    *tenant = cst_sqlite_store_copy_tenant(name, id);
    ENSURE(*tenant || strcmp(name, CST_SQLITE_SYSTEM) == 0, CST_ERR_INVALID,
           "%s is not the name of a copy", name);
    pthread_once(&layouts.once, load_layouts);
    ENSURE(layouts.ok, CST_ERR_INTERNAL, "storage: cannot read the copies' schemas");
    *out = *tenant ? &layouts.ten : &layouts.sys;
    return CST_OK;
}

cst_err cst_sqlite_store_copy_tables(const char *name, const cst_copy_table **tables, size_t *n)
{
    const copy_layout *l = NULL;
    bool tenant = false;
    TRY(layout_of(name, &l, &tenant));
    *tables = l->tables;
    *n = l->n;
    return CST_OK;
}

struct cst_copy_writer {
    sqlite3 *db;
    const copy_layout *l;
    sqlite3_stmt *ins; /* the insert of table ins_table */
    size_t ins_table;
};

static cst_err copy_fail(sqlite3 *db, const char *what, const char *path)
{
    int rc = sqlite3_errcode(db);
    return cst_fail(rc == SQLITE_FULL || rc == SQLITE_IOERR ? CST_ERR_UNAVAILABLE
                                                            : CST_ERR_INTERNAL,
                    "cannot %s %s: %s", what, path, sqlite3_errmsg(db));
}

/* Removes a copy file and what SQLite may have left beside it. */
static void copy_unlink(const char *path)
{
    static const char *const sides[] = {"", "-journal", "-wal", "-shm"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof(sides) / sizeof(*sides); i++)
        if (cst_fmt(p, sizeof(p), "%s%s", path, sides[i]) == CST_OK)
            (void)unlink(p);
        else
            cst_err_clear();
}

cst_err cst_sqlite_store_copy_write(const char *dir, const char *name,
                                    cst_err (*fill)(cst_copy_writer *wr, void *ctx), void *ctx)
{
    char path[PATH_MAX];
    cst_copy_writer wr = {0};
    bool tenant = false;
    TRY(layout_of(name, &wr.l, &tenant));
    TRY(copy_path(dir, name, tenant, path, sizeof(path)));
    copy_unlink(path);
    int rc = sqlite3_open_v2(path, &wr.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    cst_err e = rc == SQLITE_OK ? CST_OK : copy_fail(wr.db, "create", path);
    /* a staging copy (the backup file is synced, not this), one file (no WAL beside it) */
    if (e == CST_OK && sqlite3_exec(wr.db, "PRAGMA synchronous=OFF; PRAGMA journal_mode=DELETE",
                                    NULL, NULL, NULL) != SQLITE_OK)
        e = copy_fail(wr.db, "set up", path);
    if (e == CST_OK &&
        sqlite3_exec(wr.db, tenant ? cst_sqlite_tenant_schema : cst_sqlite_system_schema, NULL,
                     NULL, NULL) != SQLITE_OK)
        e = copy_fail(wr.db, "create the schema of", path);
    if (e == CST_OK && sqlite3_exec(wr.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        e = copy_fail(wr.db, "write", path);
    if (e == CST_OK)
        e = fill(&wr, ctx);
    sqlite3_finalize(wr.ins);
    if (e == CST_OK && sqlite3_exec(wr.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        e = copy_fail(wr.db, "commit", path);
    sqlite3_close(wr.db);
    if (e != CST_OK)
        copy_unlink(path);
    return e;
}

/* Binds v to parameter i (1-based); ABSENT binds NULL. */
static int bind_value(sqlite3_stmt *q, int i, const cst_copy_value *v)
{
    switch (v->type) {
    case CST_COPY_INT:
        return sqlite3_bind_int64(q, i, v->i);
    case CST_COPY_TEXT:
        return sqlite3_bind_text64(q, i, v->p ? v->p : "", v->len, SQLITE_TRANSIENT, SQLITE_UTF8);
    case CST_COPY_BYTES: /* a NULL pointer would bind NULL: "" keeps an empty value */
        return sqlite3_bind_blob64(q, i, v->p ? v->p : "", v->len, SQLITE_TRANSIENT);
    default:
        return sqlite3_bind_null(q, i);
    }
}

/* "c1, c2, ..." (cols) or "?, ?, ..." of a table into b. */
static cst_err column_list(const cst_copy_table *t, bool params, const bool *absent, cst_buf *b)
{
    for (size_t i = 0; i < t->ncols; i++) {
        const char *c = params ? "?" : absent && absent[i] ? "NULL" : t->cols[i].name;
        TRY(cst_buf_append(b, i ? ", " : "", i ? 2 : 0));
        TRY(cst_buf_append(b, c, strlen(c)));
    }
    return CST_OK;
}

/* The statement inserting rows of table into the copy (built from the code's layout). */
static cst_err prepare_insert(cst_copy_writer *wr, size_t table)
{
    const cst_copy_table *t = &wr->l->tables[table];
    cst_buf sql;
    cst_buf_init(&sql, 1 << 16);
    cst_err e = cst_buf_append(&sql, "INSERT OR REPLACE INTO ", 23);
    if (e == CST_OK)
        e = cst_buf_append(&sql, t->name, strlen(t->name));
    if (e == CST_OK)
        e = cst_buf_append(&sql, "(", 1);
    if (e == CST_OK)
        e = column_list(t, false, NULL, &sql);
    if (e == CST_OK)
        e = cst_buf_append(&sql, ") VALUES(", 9);
    if (e == CST_OK)
        e = column_list(t, true, NULL, &sql);
    if (e == CST_OK)
        e = cst_buf_append(&sql, ")", 2); /* with its NUL */
    sqlite3_finalize(wr->ins);
    wr->ins = NULL;
    if (e == CST_OK &&
        sqlite3_prepare_v2(wr->db, (const char *)sql.data, -1, &wr->ins, NULL) != SQLITE_OK)
        e = cst_fail(CST_ERR_INTERNAL, "cannot write the table %s of a copy: %s", t->name,
                     sqlite3_errmsg(wr->db));
    wr->ins_table = table;
    cst_buf_free(&sql);
    return e;
}

cst_err cst_sqlite_store_copy_put(cst_copy_writer *wr, size_t table, const cst_copy_value *row)
{
    ENSURE(table < wr->l->n, CST_ERR_INTERNAL, "storage: a copy has no table %zu", table);
    if (!wr->ins || wr->ins_table != table)
        TRY(prepare_insert(wr, table));
    const cst_copy_table *t = &wr->l->tables[table];
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < t->ncols; i++)
        rc = bind_value(wr->ins, (int)i + 1, &row[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(wr->ins);
    sqlite3_reset(wr->ins);
    sqlite3_clear_bindings(wr->ins);
    ENSURE(rc == SQLITE_DONE, rc == SQLITE_FULL ? CST_ERR_UNAVAILABLE : CST_ERR_INTERNAL,
           "cannot write a row of %s to a copy: %s", t->name, sqlite3_errmsg(wr->db));
    return CST_OK;
}

/* Which of t's columns the copy's table lacks (absent[i]); *found: whether it has the table. */
static cst_err copy_columns(sqlite3 *db, const cst_copy_table *t, bool *absent, bool *found)
{
    *found = false;
    for (size_t i = 0; i < t->ncols; i++) {
        sqlite3_stmt *q = NULL;
        int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", -1, &q,
                                    NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_text(q, 1, t->name, -1, SQLITE_TRANSIENT);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_text(q, 2, t->cols[i].name, -1, SQLITE_TRANSIENT);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(q);
        sqlite3_finalize(q);
        ENSURE(rc == SQLITE_ROW || rc == SQLITE_DONE, CST_ERR_INTEGRITY,
               "cannot read the columns of %s: %s", t->name, sqlite3_errmsg(db));
        absent[i] = rc != SQLITE_ROW;
        *found = *found || !absent[i];
    }
    return CST_OK;
}

/* The value of column i of the current row, read as the layout declares it. */
static void column_value(sqlite3_stmt *q, int i, cst_copy_type declared, bool absent,
                         cst_copy_value *v)
{
    memset(v, 0, sizeof(*v));
    if (absent) {
        v->type = CST_COPY_ABSENT;
    } else if (sqlite3_column_type(q, i) == SQLITE_NULL) {
        v->type = CST_COPY_NULL;
    } else if (declared == CST_COPY_INT) {
        v->type = CST_COPY_INT;
        v->i = sqlite3_column_int64(q, i);
    } else {
        v->type = declared;
        v->p = declared == CST_COPY_TEXT ? (const void *)sqlite3_column_text(q, i)
                                         : sqlite3_column_blob(q, i);
        v->len = (size_t)sqlite3_column_bytes(q, i);
    }
}

static cst_err read_rows(sqlite3 *db, const cst_copy_table *t, const bool *absent,
                         const char *tenant_id, cst_err (*row)(const cst_copy_value *, void *),
                         void *ctx)
{
    cst_buf sql;
    cst_buf_init(&sql, 1 << 16);
    cst_copy_value *vals = calloc(t->ncols, sizeof(*vals));
    sqlite3_stmt *q = NULL;
    bool only = tenant_id && t->tenant_col;
    cst_err e =
        vals ? cst_buf_append(&sql, "SELECT ", 7) : cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (e == CST_OK)
        e = column_list(t, false, absent, &sql);
    if (e == CST_OK)
        e = cst_buf_append(&sql, " FROM ", 6);
    if (e == CST_OK)
        e = cst_buf_append(&sql, t->name, strlen(t->name));
    if (e == CST_OK && only)
        e = cst_buf_append(&sql, " WHERE ", 7);
    if (e == CST_OK && only)
        e = cst_buf_append(&sql, t->tenant_col, strlen(t->tenant_col));
    if (e == CST_OK && only)
        e = cst_buf_append(&sql, " = ?", 4);
    if (e == CST_OK)
        e = cst_buf_append(&sql, "", 1);
    int rc = SQLITE_OK;
    if (e == CST_OK)
        rc = sqlite3_prepare_v2(db, (const char *)sql.data, -1, &q, NULL);
    if (e == CST_OK && rc == SQLITE_OK && only)
        rc = sqlite3_bind_text(q, 1, tenant_id, -1, SQLITE_TRANSIENT);
    while (e == CST_OK && rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        for (size_t i = 0; i < t->ncols; i++)
            column_value(q, (int)i, t->cols[i].type, absent[i], &vals[i]);
        e = row(vals, ctx);
        rc = SQLITE_OK;
    }
    if (e == CST_OK && rc != SQLITE_DONE)
        e = cst_fail(CST_ERR_INTEGRITY, "cannot read the table %s of a copy: %s", t->name,
                     sqlite3_errmsg(db));
    sqlite3_finalize(q);
    free(vals);
    cst_buf_free(&sql);
    return e;
}

cst_err cst_sqlite_store_copy_read(const char *dir, const char *name, size_t table,
                                   const char *tenant_id,
                                   cst_err (*row)(const cst_copy_value *vals, void *ctx), void *ctx)
{
    const copy_layout *l = NULL;
    bool tenant = false;
    char path[PATH_MAX];
    TRY(layout_of(name, &l, &tenant));
    ENSURE(table < l->n, CST_ERR_INTERNAL, "storage: a copy has no table %zu", table);
    TRY(cst_fmt(path, sizeof(path), "%s/%s", dir, name));
    const cst_copy_table *t = &l->tables[table];
    bool *absent = calloc(t->ncols, sizeof(*absent)), found = false;
    ENSURE(absent != NULL, CST_ERR_INTERNAL, "out of memory");
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    cst_err e = rc == SQLITE_OK
                    ? CST_OK
                    : cst_fail(CST_ERR_INTEGRITY, "cannot open %s: %s", path, sqlite3_errstr(rc));
    if (e == CST_OK)
        e = copy_columns(db, t, absent, &found);
    if (e == CST_OK && found)
        e = read_rows(db, t, absent, tenant_id, row, ctx);
    sqlite3_close(db);
    free(absent);
    return e;
}

/* Nothing to end: each SQLite copy is taken at its own instant (cst_store_snapshot). */
cst_err cst_sqlite_store_snapshot_end(cst_store *st)
{
    (void)st;
    return CST_OK;
}

cst_err cst_sqlite_store_import(cst_store *st, const char *dir)
{
    (void)dir;
    return cst_fail(CST_ERR_INVALID,
                    "%s: a SQLite node's stores are the copies themselves; a whole-node restore "
                    "moves them into its data dir (custodia restore)",
                    cst_sqlite_store_data_dir(st));
}
