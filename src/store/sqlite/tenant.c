/* tenant.c: a tenant store (tenants/<tenant-id>.db) on SQLite: buckets and sealed records. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/sqlite/db.h"
#include "store/sqlite/internal.h"
#include "store/store.h"
#include "util/util.h"

/* A tenant store's handle: the driver table first (store/driver.h), then SQLite's own. */
typedef struct sq_tstore {
    cst_tstore base;
    cst_db *db;
} sq_tstore;

#define SQT(ts) ((sq_tstore *)(ts))

const char cst_sqlite_tenant_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(k, v) VALUES('record_version', 0);"
    "CREATE TABLE IF NOT EXISTS buckets("
    "  name TEXT PRIMARY KEY, retention_seconds INTEGER NOT NULL, class TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS records("
    "  bucket TEXT NOT NULL REFERENCES buckets(name), bidx BLOB NOT NULL,"
    "  version INTEGER NOT NULL, dek_version INTEGER NOT NULL, size INTEGER NOT NULL,"
    "  meta BLOB NOT NULL, value BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY(bucket, bidx)) WITHOUT ROWID;"
    /* RET-1: the sweeper finds expired records of a bucket without a scan */
    "CREATE INDEX IF NOT EXISTS records_age ON records(bucket, updated_at);";

/* RET-1: a record is live while its bucket keeps records forever or it is younger than the
 * bucket's retention. Every read carries this condition (bound to now), so an expired record
 * is invisible at once, before the sweeper removes it. */
#define LIVE                                                                                       \
    " NOT EXISTS (SELECT 1 FROM buckets lb WHERE lb.name = records.bucket AND "                    \
    "lb.retention_seconds > 0 AND records.updated_at <= ? - lb.retention_seconds * 1000000) "

cst_err cst_sqlite_tstore_open(cst_store *st, cst_tspace space, const char *tenant_id, bool create,
                               cst_tstore **out)
{
    char path[PATH_MAX];
    TRY(cst_sqlite_tenant_path(cst_sqlite_store_data_dir(st), space, tenant_id, path,
                               sizeof(path)));
    if (create && space == CST_TSPACE_RETAINED) {
        char dir[PATH_MAX];
        TRY(cst_fmt(dir, sizeof(dir), "%s/retained", cst_sqlite_store_data_dir(st)));
        (void)mkdir(dir, 0700);
    }
    sq_tstore *ts = calloc(1, sizeof(*ts));
    ENSURE(ts != NULL, CST_ERR_INTERNAL, "out of memory");
    ts->base.drv = &cst_sqlite_driver;
    cst_err e = cst_db_open(path, create, cst_sqlite_tenant_schema, &ts->db);
    if (e != CST_OK) {
        free(ts);
        return e;
    }
    cst_db_watch(ts->db, cst_sqlite_ckpt(st));
    *out = &ts->base;
    return CST_OK;
}

void cst_sqlite_tstore_close(cst_tstore *ts)
{
    if (!ts)
        return;
    cst_db_checkpoint(SQT(ts)->db);
    cst_db_close(SQT(ts)->db);
    free(ts);
}

void cst_sqlite_tstore_close_warm(cst_tstore *ts)
{
    if (!ts)
        return;
    cst_db_close_warm(SQT(ts)->db);
    free(ts);
}

cst_err cst_sqlite_tstore_begin(cst_tstore *ts, cst_work *w)
{
    return cst_db_begin(SQT(ts)->db, w);
}

cst_err cst_sqlite_tstore_commit(cst_tstore *ts, cst_work *w)
{
    return cst_db_commit(SQT(ts)->db, w);
}

void cst_sqlite_tstore_rollback(cst_tstore *ts, cst_work *w)
{
    cst_db_rollback(SQT(ts)->db, w);
}

cst_err cst_sqlite_tstore_bucket_create(cst_tstore *ts, cst_work *w, const cst_bucket_row *b)
{
    cst_err e =
        cst_db_run(SQT(ts)->db, w, NULL,
                   "INSERT INTO buckets(name, retention_seconds, class, created_at, "
                   "updated_at) VALUES(?, ?, ?, ?, ?)",
                   "sisii", b->name, b->retention_seconds, b->cls, b->created_at, b->updated_at);
    ENSURE(e != CST_ERR_CONFLICT, CST_ERR_CONFLICT, "a bucket with that name exists");
    return e;
}

#define BUCKET_SELECT                                                                              \
    "SELECT name, retention_seconds, class, created_at, updated_at, "                              \
    "(SELECT count(*) FROM records WHERE records.bucket = b.name AND" LIVE ") FROM buckets b "

static void bucket_row(sqlite3_stmt *q, cst_bucket_row *b)
{
    cst_db_col_text(q, 0, b->name, sizeof(b->name));
    b->retention_seconds = sqlite3_column_int64(q, 1);
    cst_db_col_text(q, 2, b->cls, sizeof(b->cls));
    b->created_at = sqlite3_column_int64(q, 3);
    b->updated_at = sqlite3_column_int64(q, 4);
    b->record_count = sqlite3_column_int64(q, 5);
}

cst_err cst_sqlite_tstore_bucket_get(cst_tstore *ts, cst_work *w, const char *name,
                                     cst_bucket_row *out)
{
    sqlite3_stmt *q = NULL;
    int row = 0;
    cst_db_lock(SQT(ts)->db);
    cst_err e =
        cst_db_stmt(SQT(ts)->db, w, &q, BUCKET_SELECT "WHERE name = ?", "is", cst_now_us(), name);
    if (e == CST_OK)
        e = cst_db_step(SQT(ts)->db, q, &row);
    if (e == CST_OK && row)
        bucket_row(q, out);
    cst_db_done(SQT(ts)->db, q);
    cst_db_unlock(SQT(ts)->db);
    TRY(e);
    ENSURE(row, CST_ERR_NOT_FOUND, "no such bucket");
    return CST_OK;
}

cst_err cst_sqlite_tstore_bucket_exists(cst_tstore *ts, cst_work *w, const char *name)
{
    sqlite3_stmt *q = NULL;
    int row = 0;
    cst_db_lock(SQT(ts)->db);
    cst_err e = cst_db_stmt(SQT(ts)->db, w, &q, "SELECT 1 FROM buckets WHERE name = ?", "s", name);
    if (e == CST_OK)
        e = cst_db_step(SQT(ts)->db, q, &row);
    cst_db_done(SQT(ts)->db, q);
    cst_db_unlock(SQT(ts)->db);
    TRY(e);
    ENSURE(row, CST_ERR_NOT_FOUND, "no such bucket");
    return CST_OK;
}

cst_err cst_sqlite_tstore_bucket_list(cst_tstore *ts, cst_work *w,
                                      cst_err (*fn)(const cst_bucket_row *, void *), void *ctx)
{
    sqlite3_stmt *q = NULL;
    int row = 1;
    cst_db_lock(SQT(ts)->db);
    cst_err e = cst_db_stmt(SQT(ts)->db, w, &q, BUCKET_SELECT "ORDER BY name", "i", cst_now_us());
    while (e == CST_OK && (e = cst_db_step(SQT(ts)->db, q, &row)) == CST_OK && row) {
        cst_bucket_row b;
        bucket_row(q, &b);
        e = fn(&b, ctx);
    }
    cst_db_done(SQT(ts)->db, q);
    cst_db_unlock(SQT(ts)->db);
    return e;
}

cst_err cst_sqlite_tstore_bucket_update(cst_tstore *ts, cst_work *w, const cst_bucket_row *b)
{
    int n = 0;
    TRY(cst_db_run(SQT(ts)->db, w, &n,
                   "UPDATE buckets SET retention_seconds = ?, class = ?, updated_at = ? WHERE "
                   "name = ?",
                   "isis", b->retention_seconds, b->cls, b->updated_at, b->name));
    ENSURE(n == 1, CST_ERR_NOT_FOUND, "no such bucket");
    return CST_OK;
}

cst_err cst_sqlite_tstore_bucket_delete(cst_tstore *ts, cst_work *w, const char *name)
{
    cst_bucket_row b;
    TRY(cst_sqlite_tstore_begin(ts, w));
    cst_err e = cst_sqlite_tstore_bucket_get(ts, w, name, &b);
    if (e == CST_OK && b.record_count > 0)
        e = cst_fail(CST_ERR_CONFLICT, "bucket %s still holds %lld records; delete them first",
                     name, (long long)b.record_count);
    if (e == CST_OK)
        e = cst_db_run(SQT(ts)->db, w, NULL, "DELETE FROM buckets WHERE name = ?", "s", name);
    if (e != CST_OK) {
        cst_sqlite_tstore_rollback(ts, w);
        return e;
    }
    return cst_sqlite_tstore_commit(ts, w);
}

cst_err cst_sqlite_tstore_next_version(cst_tstore *ts, cst_work *w, uint64_t *version)
{
    sqlite3_stmt *q = NULL;
    int row = 0;
    cst_db_lock(SQT(ts)->db);
    cst_err e = cst_db_stmt(SQT(ts)->db, w, &q,
                            "UPDATE meta SET v = v + 1 WHERE k = 'record_version' RETURNING v", "");
    if (e == CST_OK)
        e = cst_db_step(SQT(ts)->db, q, &row);
    if (e == CST_OK && !row)
        e = cst_fail(CST_ERR_INTEGRITY, "tenant store has no version counter");
    if (e == CST_OK)
        *version = (uint64_t)sqlite3_column_int64(q, 0);
    if (e == CST_OK)
        e = cst_db_step(SQT(ts)->db, q, &row); /* finish the statement */
    cst_db_done(SQT(ts)->db, q);
    cst_db_unlock(SQT(ts)->db);
    return e;
}

static cst_err record_cols(sqlite3_stmt *q, bool with_value, cst_record_row *r)
{
    ENSURE(sqlite3_column_bytes(q, 0) == CST_HASH_LEN, CST_ERR_INTEGRITY, "damaged record row");
    memcpy(r->bidx, sqlite3_column_blob(q, 0), CST_HASH_LEN);
    r->version = (uint64_t)sqlite3_column_int64(q, 1);
    r->dek_version = (uint32_t)sqlite3_column_int64(q, 2);
    r->size = sqlite3_column_int64(q, 3);
    r->created_at = sqlite3_column_int64(q, 4);
    r->updated_at = sqlite3_column_int64(q, 5);
    r->meta.len = 0;
    r->value.len = 0;
    TRY(cst_buf_append(&r->meta, sqlite3_column_blob(q, 6), (size_t)sqlite3_column_bytes(q, 6)));
    if (with_value)
        TRY(cst_buf_append(&r->value, sqlite3_column_blob(q, 7),
                           (size_t)sqlite3_column_bytes(q, 7)));
    return CST_OK;
}

cst_err cst_sqlite_tstore_record_get(cst_tstore *ts, cst_work *w, const char *bucket,
                                     const uint8_t bidx[CST_HASH_LEN], bool with_value,
                                     cst_record_row *out)
{
    sqlite3_stmt *q = NULL;
    int row = 0;
    cst_db_lock(SQT(ts)->db);
    cst_err e = cst_db_stmt(SQT(ts)->db, w, &q,
                            with_value ? "SELECT bidx, version, dek_version, size, created_at, "
                                         "updated_at, meta, value FROM records WHERE bucket = ? "
                                         "AND bidx = ? AND" LIVE
                                       : "SELECT bidx, version, dek_version, size, created_at, "
                                         "updated_at, meta FROM records WHERE bucket = ? AND "
                                         "bidx = ? AND" LIVE,
                            "sbi", bucket, bidx, (size_t)CST_HASH_LEN, cst_now_us());
    if (e == CST_OK)
        e = cst_db_step(SQT(ts)->db, q, &row);
    if (e == CST_OK && row)
        e = record_cols(q, with_value, out);
    cst_db_done(SQT(ts)->db, q);
    cst_db_unlock(SQT(ts)->db);
    TRY(e);
    ENSURE(row, CST_ERR_NOT_FOUND, "no such record");
    return CST_OK;
}

cst_err cst_sqlite_tstore_record_write(cst_tstore *ts, cst_work *w, const char *bucket,
                                       const cst_record_row *r)
{
    return cst_db_run(SQT(ts)->db, w, NULL,
                      "INSERT INTO records(bucket, bidx, version, dek_version, size, meta, value, "
                      "created_at, updated_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT(bucket, bidx) DO UPDATE SET version = excluded.version, "
                      "dek_version = excluded.dek_version, size = excluded.size, "
                      "meta = excluded.meta, value = excluded.value, "
                      "updated_at = excluded.updated_at",
                      "sbiiibbii", bucket, r->bidx, (size_t)CST_HASH_LEN, (int64_t)r->version,
                      (int64_t)r->dek_version, r->size, r->meta.data, r->meta.len, r->value.data,
                      r->value.len, r->created_at, r->updated_at);
}

cst_err cst_sqlite_tstore_record_delete(cst_tstore *ts, cst_work *w, const char *bucket,
                                        const uint8_t bidx[CST_HASH_LEN])
{
    int n = 0;
    TRY(cst_db_run(SQT(ts)->db, w, &n, "DELETE FROM records WHERE bucket = ? AND bidx = ?", "sb",
                   bucket, bidx, (size_t)CST_HASH_LEN));
    ENSURE(n == 1, CST_ERR_NOT_FOUND, "no such record");
    return CST_OK;
}

/* A scan's query, constant text (the statement cache's key), with or without the values. */
#define SCAN_SQL(value)                                                                            \
    "SELECT bidx, version, dek_version, size, created_at, updated_at, meta" value                  \
    " FROM records WHERE bucket = ? AND bidx > ? AND (? OR " LIVE ") ORDER BY bidx"

cst_err cst_sqlite_tstore_record_scan(cst_tstore *ts, cst_work *w, const char *bucket,
                                      const uint8_t *after, unsigned flags,
                                      bool (*fn)(const cst_record_row *, void *), void *ctx)
{
    static const uint8_t none[1];
    sqlite3_stmt *q = NULL;
    int row = 1;
    bool with_value = flags & CST_SCAN_VALUES;
    cst_record_row r;
    cst_record_row_init(&r);
    cst_db_lock(SQT(ts)->db);
    cst_err e = cst_db_stmt(SQT(ts)->db, w, &q, with_value ? SCAN_SQL(", value") : SCAN_SQL(""),
                            "sbii", bucket, after ? after : none, after ? (size_t)CST_HASH_LEN : 0,
                            (int64_t)((flags & CST_SCAN_EXPIRED) != 0), cst_now_us());
    while (e == CST_OK && (e = cst_db_step(SQT(ts)->db, q, &row)) == CST_OK && row) {
        e = record_cols(q, with_value, &r);
        if (e == CST_OK && !fn(&r, ctx))
            break;
    }
    cst_db_done(SQT(ts)->db, q);
    cst_db_unlock(SQT(ts)->db);
    cst_record_row_free(&r);
    return e;
}

cst_err cst_sqlite_tstore_sweep(cst_tstore *ts, const char *bucket, int64_t cutoff, int batch,
                                int64_t *removed)
{
    int n = 0;
    TRY(cst_db_run(SQT(ts)->db, NULL, &n,
                   "DELETE FROM records WHERE (bucket, bidx) IN (SELECT bucket, bidx FROM records "
                   "WHERE bucket = ? AND updated_at <= ? LIMIT ?)",
                   "sii", bucket, cutoff, (int64_t)batch));
    *removed = n;
    return CST_OK;
}

cst_err cst_sqlite_tstore_checkpoint_strict(cst_tstore *ts)
{
    return cst_db_checkpoint_strict(SQT(ts)->db);
}

cst_err cst_sqlite_tstore_count(cst_tstore *ts, cst_work *w, const char *bucket, int64_t *count)
{
    sqlite3_stmt *q = NULL;
    int row = 0;
    cst_db_lock(SQT(ts)->db);
    cst_err e = cst_db_stmt(SQT(ts)->db, w, &q, "SELECT count(*) FROM records WHERE bucket = ?",
                            "s", bucket);
    if (e == CST_OK)
        e = cst_db_step(SQT(ts)->db, q, &row);
    *count = row ? sqlite3_column_int64(q, 0) : 0;
    cst_db_done(SQT(ts)->db, q);
    cst_db_unlock(SQT(ts)->db);
    return e;
}

cst_err cst_sqlite_tstore_dek_counts(cst_tstore *ts, cst_work *w,
                                     cst_err (*fn)(uint32_t version, int64_t records, void *ctx),
                                     void *ctx)
{
    sqlite3_stmt *q = NULL;
    int row = 1;
    cst_db_lock(SQT(ts)->db);
    cst_err e = cst_db_stmt(SQT(ts)->db, w, &q,
                            "SELECT dek_version, count(*) FROM records GROUP BY dek_version "
                            "ORDER BY dek_version",
                            "");
    while (e == CST_OK && (e = cst_db_step(SQT(ts)->db, q, &row)) == CST_OK && row)
        e = fn((uint32_t)sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), ctx);
    cst_db_done(SQT(ts)->db, q);
    cst_db_unlock(SQT(ts)->db);
    return e;
}

static cst_err rewrap_read(cst_db *db, uint32_t target, int limit, cst_rewrap_item *items, int *n)
{
    sqlite3_stmt *q = NULL;
    int row = 1;
    *n = 0;
    cst_err e = cst_db_stmt(db, NULL, &q,
                            "SELECT bidx, version, dek_version, size, created_at, updated_at, "
                            "meta, value, bucket FROM records WHERE dek_version <> ? LIMIT ?",
                            "ii", (int64_t)target, (int64_t)limit);
    while (e == CST_OK && *n < limit && (e = cst_db_step(db, q, &row)) == CST_OK && row) {
        cst_rewrap_item *it = &items[*n];
        cst_record_row_init(&it->r);
        (*n)++;
        cst_db_col_text(q, 8, it->bucket, sizeof(it->bucket));
        e = record_cols(q, true, &it->r);
    }
    cst_db_done(db, q);
    return e;
}

/* Only the row as read: a write since (a new version) is never replaced. */
static cst_err rewrap_update(const cst_rewrap_item *it, uint32_t old, void *db, int64_t *changed)
{
    int n = 0;
    TRY(cst_db_run(db, NULL, &n,
                   "UPDATE records SET dek_version = ?, meta = ?, value = ? WHERE "
                   "bucket = ? AND bidx = ? AND version = ? AND dek_version = ?",
                   "ibbsbii", (int64_t)it->r.dek_version, it->r.meta.data, it->r.meta.len,
                   it->r.value.data, it->r.value.len, it->bucket, it->r.bidx, (size_t)CST_HASH_LEN,
                   (int64_t)it->r.version, (int64_t)old));
    *changed = n;
    return CST_OK;
}

cst_err cst_sqlite_tstore_rewrap_batch(cst_tstore *ts, uint32_t target, int limit,
                                       cst_err (*reseal)(const char *bucket, cst_record_row *r,
                                                         void *ctx),
                                       void *ctx, int64_t *done, int64_t *seen)
{
    *done = *seen = 0;
    ENSURE(limit > 0 && limit <= 100000, CST_ERR_INVALID, "re-encryption batch out of range");
    cst_rewrap_item *items = calloc((size_t)limit, sizeof(*items));
    ENSURE(items != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_db *db = SQT(ts)->db;
    int n = 0;
    cst_err e = cst_db_begin(db, NULL);
    bool open = e == CST_OK;
    if (e == CST_OK)
        e = rewrap_read(db, target, limit, items, &n);
    if (e == CST_OK)
        e = cst_rewrap_items(items, n, reseal, ctx, rewrap_update, db, done);
    *seen = n;
    if (open && e == CST_OK)
        e = cst_db_commit(db, NULL);
    else if (open)
        cst_db_rollback(db, NULL);
    for (int i = 0; i < n; i++)
        cst_record_row_free(&items[i].r);
    free(items);
    return e;
}
