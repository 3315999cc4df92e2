/* tenant.c: a tenant store on PostgreSQL (issue 20): the schema t_<tenant id> (r_<tenant id>
 * for the retained space) with the tables of CST_PGD_TENANT_TABLES, its buckets and sealed
 * records. The operations port store/sqlite/tenant.c one by one: same errors, same messages.
 *
 * Many nodes share the database and may serve one tenant at once: every read-modify-write here
 * is one atomic statement or holds a row lock, never an in-process lock (PG.md). */
#include <stdlib.h>
#include <string.h>

#include "store/postgres/pg.h"
#include "store/store.h"
#include "util/util.h"

/* RET-1: a record is live while its bucket keeps records forever or it is younger than the
 * bucket's retention. Every read carries this condition, now bound as parameter n, so an
 * expired record is invisible at once, before the sweeper removes it. */
#define LIVE(n)                                                                                    \
    " NOT EXISTS (SELECT 1 FROM @.buckets lb WHERE lb.name = records.bucket AND "                  \
    "lb.retention_seconds > 0 AND records.updated_at <= " n " - lb.retention_seconds * 1000000) "

/* A record's columns, in the order rec_row reads them. */
#define RECORD_COLS "bidx, version, dek_version, size, created_at, updated_at, meta"

/* ---- the schema itself, on a connection of its own ---- */

/* Whether the schema exists, asked on c. */
static cst_err ns_exists(cst_pg_conn *c, const char *schema, bool *exists)
{
    PGresult *r = NULL;
    const char *p[] = {schema};
    TRY(cst_pg_exec(c, "cst_tstore_ns",
                    "SELECT pg_catalog.count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1", 1,
                    p, &r));
    *exists = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    PQclear(r);
    return CST_OK;
}

/* Begins a transaction on c holding the schema's advisory lock until its end: the creation and
 * the removal of one tenant's store are serialised across every node. */
static cst_err ns_lock(cst_pg_conn *c, const char *schema)
{
    const char *p[] = {schema};
    TRY(cst_pg_run(c, "BEGIN"));
    return cst_pg_exec(c, "cst_tstore_lock",
                       "SELECT 1 FROM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($1))", 1,
                       p, NULL);
}

/* Makes the schema and its tables unless they exist, in one transaction under the schema's
 * lock: two nodes opening a new tenant's store at once make it once (the second waits for the
 * lock, then finds the first's committed schema; CREATE ... IF NOT EXISTS alone would race on
 * the tables and the counter row). */
static cst_err ns_create(cst_pg_conn *c, const char *schema)
{
    bool exists = false;
    char head[CST_PGD_SCHEMA_MAX + 32], *tables = NULL;
    TRY(cst_fmt(head, sizeof(head), "CREATE SCHEMA %s;", schema));
    TRY(ns_lock(c, schema));
    TRY(ns_exists(c, schema, &exists));
    if (!exists) {
        TRY(cst_pgd_with_schema(CST_PGD_TENANT_TABLES, schema, &tables));
        cst_err e = cst_pg_run(c, head);
        if (e == CST_OK)
            e = cst_pg_run(c, tables);
        free(tables);
        TRY(e);
    }
    return cst_pg_commit(c);
}

cst_err cst_postgres_tstore_open(cst_store *st, cst_tspace space, const char *tenant_id,
                                 bool create, cst_tstore **out)
{
    pg_tstore *ts = calloc(1, sizeof(*ts));
    ENSURE(ts != NULL, CST_ERR_INTERNAL, "out of memory");
    ts->base.drv = &cst_postgres_driver;
    ts->st = PG(st);
    cst_err e = cst_pgd_schema(space, tenant_id, ts->schema, sizeof(ts->schema));
    if (e == CST_OK)
        e = cst_copy(ts->tenant_id, sizeof(ts->tenant_id), tenant_id);
    cst_pg_conn *c = NULL;
    if (e == CST_OK)
        e = cst_pg_acquire(PG(st)->pool, CST_PGD_ACQUIRE_MS, &c);
    bool exists = false;
    if (e == CST_OK)
        e = ns_exists(c, ts->schema, &exists);
    if (e == CST_OK && create && !exists) /* the lock only when it may have to be made */
        e = ns_create(c, ts->schema);
    cst_pg_release(PG(st)->pool, c); /* rolls back what failed */
    if (e == CST_OK && !create && !exists) {
        /* as the SQLite driver's open of a missing file (SQLITE_CANTOPEN) */
        cst_error("storage: %s: the tenant store's schema does not exist", ts->schema);
        e = cst_fail(CST_ERR_UNAVAILABLE, "storage could not complete the request");
    }
    if (e != CST_OK) {
        free(ts);
        return e;
    }
    *out = &ts->base;
    return CST_OK;
}

/* A handle holds no connection (pg.h): closing frees it. */
void cst_postgres_tstore_close(cst_tstore *ts)
{
    free(ts);
}

void cst_postgres_tstore_close_warm(cst_tstore *ts)
{
    free(ts);
}

cst_err cst_postgres_tstore_exists(cst_store *st, cst_tspace space, const char *tenant_id,
                                   bool *exists)
{
    char schema[CST_PGD_SCHEMA_MAX];
    TRY(cst_pgd_schema(space, tenant_id, schema, sizeof(schema)));
    cst_pg_conn *c = NULL;
    TRY(cst_pg_acquire(PG(st)->pool, CST_PGD_ACQUIRE_MS, &c));
    cst_err e = ns_exists(c, schema, exists);
    cst_pg_release(PG(st)->pool, c);
    return e;
}

/* RET-4: DROP SCHEMA ... CASCADE removes the tenant's tables, and PostgreSQL unlinks their data
 * files at the commit; the catalog is then asked that the schema is gone. Copies in
 * PostgreSQL's WAL and base backups are the residue check's note (erase.c). */
cst_err cst_postgres_tstore_purge(cst_store *st, cst_tspace space, const char *tenant_id,
                                  void (*removed)(const char *name, void *ctx), void *ctx)
{
    char schema[CST_PGD_SCHEMA_MAX], drop[CST_PGD_SCHEMA_MAX + 48], name[CST_PGD_SCHEMA_MAX + 8];
    TRY(cst_pgd_schema(space, tenant_id, schema, sizeof(schema)));
    TRY(cst_fmt(drop, sizeof(drop), "DROP SCHEMA IF EXISTS %s CASCADE", schema));
    TRY(cst_fmt(name, sizeof(name), "schema %s", schema));
    cst_pg_conn *c = NULL;
    TRY(cst_pg_acquire(PG(st)->pool, CST_PGD_ACQUIRE_MS, &c));
    bool existed = false, left = false;
    cst_err e = ns_lock(c, schema);
    if (e == CST_OK)
        e = ns_exists(c, schema, &existed);
    if (e == CST_OK && existed)
        e = cst_pg_run(c, drop);
    if (e == CST_OK)
        e = cst_pg_commit(c);
    if (e == CST_OK)
        e = ns_exists(c, schema, &left);
    cst_pg_release(PG(st)->pool, c);
    TRY(e);
    ENSURE(!left, CST_ERR_INTEGRITY, "schema %s survived its removal", schema);
    if (existed && removed)
        removed(name, ctx);
    return CST_OK;
}

/* ---- buckets ---- */

cst_err cst_postgres_tstore_bucket_create(cst_tstore *ts, cst_work *w, const cst_bucket_row *b)
{
    /* ON CONFLICT: a failed INSERT would abort the whole PostgreSQL transaction */
    int64_t n = 0;
    TRY(cst_pgd_run(PGT(ts)->st, PGT(ts)->schema, w, true, NULL, &n,
                    "INSERT INTO @.buckets(name, retention_seconds, class, created_at, updated_at) "
                    "VALUES($1, $2, $3, $4, $5) ON CONFLICT(name) DO NOTHING",
                    "sisii", b->name, b->retention_seconds, b->cls, b->created_at, b->updated_at));
    ENSURE(n == 1, CST_ERR_CONFLICT, "a bucket with that name exists");
    return CST_OK;
}

#define BUCKET_SELECT                                                                              \
    "SELECT name, retention_seconds, class, created_at, updated_at, "                              \
    "(SELECT pg_catalog.count(*) FROM @.records WHERE records.bucket = b.name AND" LIVE(           \
        "$1") ") FROM @.buckets b "

static void bucket_row(const PGresult *r, int row, void *out)
{
    cst_bucket_row *b = out;
    cst_pgd_col_text(r, row, 0, b->name, sizeof(b->name));
    b->retention_seconds = cst_pgd_col_int(r, row, 1);
    cst_pgd_col_text(r, row, 2, b->cls, sizeof(b->cls));
    b->created_at = cst_pgd_col_int(r, row, 3);
    b->updated_at = cst_pgd_col_int(r, row, 4);
    b->record_count = cst_pgd_col_int(r, row, 5);
}

cst_err cst_postgres_tstore_bucket_get(cst_tstore *ts, cst_work *w, const char *name,
                                       cst_bucket_row *out)
{
    return cst_pgd_one(PGT(ts)->st, PGT(ts)->schema, w, bucket_row, out, "no such bucket",
                       BUCKET_SELECT "WHERE name = $2", "is", cst_now_us(), name);
}

static void no_row(const PGresult *r, int row, void *out)
{
    (void)r, (void)row, (void)out;
}

cst_err cst_postgres_tstore_bucket_exists(cst_tstore *ts, cst_work *w, const char *name)
{
    return cst_pgd_one(PGT(ts)->st, PGT(ts)->schema, w, no_row, NULL, "no such bucket",
                       "SELECT 1 FROM @.buckets WHERE name = $1", "s", name);
}

CST_PGD_VISITOR(bucket, cst_bucket_row, bucket_row)

cst_err cst_postgres_tstore_bucket_list(cst_tstore *ts, cst_work *w,
                                        cst_err (*fn)(const cst_bucket_row *, void *), void *ctx)
{
    struct bucket_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PGT(ts)->st, PGT(ts)->schema, w, bucket_visit, &v, NULL,
                        BUCKET_SELECT "ORDER BY name", "i", cst_now_us());
}

cst_err cst_postgres_tstore_bucket_update(cst_tstore *ts, cst_work *w, const cst_bucket_row *b)
{
    int64_t n = 0;
    TRY(cst_pgd_run(PGT(ts)->st, PGT(ts)->schema, w, true, NULL, &n,
                    "UPDATE @.buckets SET retention_seconds = $1, class = $2, updated_at = $3 "
                    "WHERE name = $4",
                    "isis", b->retention_seconds, b->cls, b->updated_at, b->name));
    ENSURE(n == 1, CST_ERR_NOT_FOUND, "no such bucket");
    return CST_OK;
}

/* Atomic across nodes: the bucket's row is locked first (FOR UPDATE), which holds off every
 * insert of a record into it (its foreign key check locks the row FOR KEY SHARE) until the end,
 * so the counts read after it stay true. Records past retention not yet swept still hold the
 * bucket: SQLite refuses them through its foreign key too (CST_ERR_CONFLICT). */
static cst_err bucket_delete(cst_tstore *ts, cst_work *w, const char *name)
{
    pg_store *st = PGT(ts)->st;
    const char *schema = PGT(ts)->schema;
    cst_bucket_row b;
    PGresult *r = NULL;
    TRY(cst_pgd_run(st, schema, w, true, &r, NULL,
                    "SELECT 1 FROM @.buckets WHERE name = $1 FOR UPDATE", "s", name));
    int64_t n = PQntuples(r);
    PQclear(r);
    ENSURE(n == 1, CST_ERR_NOT_FOUND, "no such bucket");
    TRY(cst_postgres_tstore_bucket_get(ts, w, name, &b));
    ENSURE(b.record_count == 0, CST_ERR_CONFLICT,
           "bucket %s still holds %lld records; delete them first", name,
           (long long)b.record_count);
    TRY(cst_pgd_run(st, schema, w, true, NULL, &n,
                    "DELETE FROM @.buckets b WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM "
                    "@.records WHERE records.bucket = b.name)",
                    "s", name));
    ENSURE(n == 1, CST_ERR_CONFLICT,
           "bucket %s still holds records past their retention that the sweeper has not "
           "removed yet; try again after the next sweep",
           name);
    return CST_OK;
}

cst_err cst_postgres_tstore_bucket_delete(cst_tstore *ts, cst_work *w, const char *name)
{
    TRY(cst_postgres_tstore_begin(ts, w));
    cst_err e = bucket_delete(ts, w, name);
    if (e != CST_OK) {
        cst_postgres_tstore_rollback(ts, w);
        return e;
    }
    return cst_postgres_tstore_commit(ts, w);
}

/* ---- records ---- */

/* Atomic across nodes: one UPDATE ... RETURNING, the row lock held to the transaction's end. */
cst_err cst_postgres_tstore_next_version(cst_tstore *ts, cst_work *w, uint64_t *version)
{
    PGresult *r = NULL;
    TRY(cst_pgd_run(PGT(ts)->st, PGT(ts)->schema, w, true, &r, NULL,
                    "UPDATE @.meta SET v = v + 1 WHERE k = 'record_version' RETURNING v", ""));
    bool row = PQntuples(r) == 1;
    if (row)
        *version = (uint64_t)cst_pgd_col_int(r, 0, 0);
    PQclear(r);
    ENSURE(row, CST_ERR_INTEGRITY, "tenant store has no version counter");
    return CST_OK;
}

/* Row i of r (RECORD_COLS, then the value when with_value). */
static cst_err rec_row(const PGresult *r, int i, bool with_value, cst_record_row *out)
{
    ENSURE(cst_pgd_col_bytes(r, i, 0, out->bidx, CST_HASH_LEN) == CST_HASH_LEN, CST_ERR_INTEGRITY,
           "damaged record row");
    out->version = (uint64_t)cst_pgd_col_int(r, i, 1);
    out->dek_version = (uint32_t)cst_pgd_col_int(r, i, 2);
    out->size = cst_pgd_col_int(r, i, 3);
    out->created_at = cst_pgd_col_int(r, i, 4);
    out->updated_at = cst_pgd_col_int(r, i, 5);
    TRY(cst_pgd_col_buf(r, i, 6, &out->meta));
    out->value.len = 0;
    return with_value ? cst_pgd_col_buf(r, i, 7, &out->value) : CST_OK;
}

cst_err cst_postgres_tstore_record_get(cst_tstore *ts, cst_work *w, const char *bucket,
                                       const uint8_t bidx[CST_HASH_LEN], bool with_value,
                                       cst_record_row *out)
{
    PGresult *r = NULL;
    TRY(cst_pgd_run(PGT(ts)->st, PGT(ts)->schema, w, false, &r, NULL,
                    with_value ? "SELECT " RECORD_COLS ", value FROM @.records WHERE bucket = $1 "
                                 "AND bidx = $2 AND" LIVE("$3")
                               : "SELECT " RECORD_COLS " FROM @.records WHERE bucket = $1 AND "
                                 "bidx = $2 AND" LIVE("$3"),
                    "sbi", bucket, bidx, (size_t)CST_HASH_LEN, cst_now_us()));
    bool row = PQntuples(r) == 1;
    cst_err e = row ? rec_row(r, 0, with_value, out) : CST_OK;
    PQclear(r);
    TRY(e);
    ENSURE(row, CST_ERR_NOT_FOUND, "no such record");
    return CST_OK;
}

/* Inserts or replaces in one statement (atomic across nodes); a replaced record keeps its
 * created_at, as SQLite's upsert. */
cst_err cst_postgres_tstore_record_write(cst_tstore *ts, cst_work *w, const char *bucket,
                                         const cst_record_row *r)
{
    return cst_pgd_run(PGT(ts)->st, PGT(ts)->schema, w, true, NULL, NULL,
                       "INSERT INTO @.records(bucket, bidx, version, dek_version, size, meta, "
                       "value, created_at, updated_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                       "ON CONFLICT(bucket, bidx) DO UPDATE SET version = excluded.version, "
                       "dek_version = excluded.dek_version, size = excluded.size, "
                       "meta = excluded.meta, value = excluded.value, "
                       "updated_at = excluded.updated_at",
                       "sbiiibbii", bucket, r->bidx, (size_t)CST_HASH_LEN, (int64_t)r->version,
                       (int64_t)r->dek_version, r->size, r->meta.data, r->meta.len, r->value.data,
                       r->value.len, r->created_at, r->updated_at);
}

cst_err cst_postgres_tstore_record_delete(cst_tstore *ts, cst_work *w, const char *bucket,
                                          const uint8_t bidx[CST_HASH_LEN])
{
    int64_t n = 0;
    TRY(cst_pgd_run(PGT(ts)->st, PGT(ts)->schema, w, true, NULL, &n,
                    "DELETE FROM @.records WHERE bucket = $1 AND bidx = $2", "sb", bucket, bidx,
                    (size_t)CST_HASH_LEN));
    ENSURE(n == 1, CST_ERR_NOT_FOUND, "no such record");
    return CST_OK;
}

/* A scan reads this many rows per statement (keyset paging on bidx), so a caller that stops
 * early never makes the database send the whole bucket. */
#define SCAN_CHUNK 128
#define SCAN_SQL(value)                                                                            \
    "SELECT " RECORD_COLS value " FROM @.records WHERE bucket = $1 AND bidx > $2 AND ($3 <> 0 "    \
    "OR" LIVE("$4") ") ORDER BY bidx LIMIT $5"

/* bidx is bytea: PostgreSQL compares it bytewise (then by length), the order of SQLite's BLOB
 * keys, so pages follow the same blind-index order. */
cst_err cst_postgres_tstore_record_scan(cst_tstore *ts, cst_work *w, const char *bucket,
                                        const uint8_t *after, unsigned flags,
                                        bool (*fn)(const cst_record_row *, void *), void *ctx)
{
    bool with_value = flags & CST_SCAN_VALUES, more = true;
    uint8_t from[CST_HASH_LEN];
    size_t from_len = after ? CST_HASH_LEN : 0;
    if (after)
        memcpy(from, after, CST_HASH_LEN);
    int64_t now = cst_now_us();
    cst_record_row row;
    cst_record_row_init(&row);
    cst_err e = CST_OK;
    while (e == CST_OK && more) {
        PGresult *r = NULL;
        e = cst_pgd_run(PGT(ts)->st, PGT(ts)->schema, w, false, &r, NULL,
                        with_value ? SCAN_SQL(", value") : SCAN_SQL(""), "sbiii", bucket, from,
                        from_len, (int64_t)((flags & CST_SCAN_EXPIRED) != 0), now,
                        (int64_t)SCAN_CHUNK);
        int n = e == CST_OK ? PQntuples(r) : 0;
        more = n == SCAN_CHUNK;
        for (int i = 0; e == CST_OK && i < n; i++) {
            e = rec_row(r, i, with_value, &row);
            if (e == CST_OK && !fn(&row, ctx)) {
                more = false;
                break;
            }
        }
        memcpy(from, row.bidx, CST_HASH_LEN); /* the next page starts after the last row */
        from_len = CST_HASH_LEN;
        PQclear(r);
    }
    cst_record_row_free(&row);
    return e;
}

/* RET-1: one short statement (autocommit), by primary key. */
cst_err cst_postgres_tstore_sweep(cst_tstore *ts, const char *bucket, int64_t cutoff, int batch,
                                  int64_t *removed)
{
    return cst_pgd_run(PGT(ts)->st, PGT(ts)->schema, NULL, true, NULL, removed,
                       "DELETE FROM @.records WHERE (bucket, bidx) IN (SELECT bucket, bidx FROM "
                       "@.records WHERE bucket = $1 AND updated_at <= $2 LIMIT $3)",
                       "sii", bucket, cutoff, (int64_t)batch);
}

/* ENC-4: SQLite's strict checkpoint takes the old ciphertexts of a finished re-encryption out
 * of its WAL. PostgreSQL's counterpart is VACUUM of the records table: every row rewritten
 * under the new DEK version left a dead row version (the old ciphertext) in the heap, and
 * VACUUM removes those (it needs no transaction: a connection of its own, autocommit). A dead
 * version an older snapshot of another session can still see stays until that ends; copies in
 * PostgreSQL's WAL age out with it, which the node cannot force. */
cst_err cst_postgres_tstore_checkpoint_strict(cst_tstore *ts)
{
    char sql[CST_PGD_SCHEMA_MAX + 32];
    TRY(cst_fmt(sql, sizeof(sql), "VACUUM %s.records", PGT(ts)->schema));
    cst_pg_conn *c = NULL;
    TRY(cst_pg_acquire(PGT(ts)->st->pool, CST_PGD_ACQUIRE_MS, &c));
    cst_err e = cst_pg_run(c, sql);
    cst_pg_release(PGT(ts)->st->pool, c);
    return e;
}

static void count_row(const PGresult *r, int row, void *out)
{
    *(int64_t *)out = cst_pgd_col_int(r, row, 0);
}

cst_err cst_postgres_tstore_count(cst_tstore *ts, cst_work *w, const char *bucket, int64_t *count)
{
    *count = 0;
    return cst_pgd_one(PGT(ts)->st, PGT(ts)->schema, w, count_row, count, "no count",
                       "SELECT pg_catalog.count(*) FROM @.records WHERE bucket = $1", "s", bucket);
}

struct dek_visit {
    cst_err (*fn)(uint32_t version, int64_t records, void *ctx);
    void *ctx;
};

static cst_err dek_visit(const PGresult *r, int i, void *p)
{
    struct dek_visit *v = p;
    return v->fn((uint32_t)cst_pgd_col_int(r, i, 0), cst_pgd_col_int(r, i, 1), v->ctx);
}

cst_err cst_postgres_tstore_dek_counts(cst_tstore *ts, cst_work *w,
                                       cst_err (*fn)(uint32_t version, int64_t records, void *ctx),
                                       void *ctx)
{
    struct dek_visit v = {fn, ctx};
    return cst_pgd_each(PGT(ts)->st, PGT(ts)->schema, w, dek_visit, &v, NULL,
                        "SELECT dek_version, pg_catalog.count(*) FROM @.records GROUP BY "
                        "dek_version ORDER BY dek_version",
                        "");
}

/* ---- re-encryption (ENC-4) ---- */

/* Reads and locks (FOR UPDATE SKIP LOCKED) at most limit rows not under target, inside the
 * thread's transaction: two nodes re-encrypting one tenant take disjoint rows. When every such
 * row is locked by another node's batch, *pending gets how many there are: not done yet. */
static cst_err rewrap_read(pg_tstore *ts, uint32_t target, int limit, cst_rewrap_item *items,
                           int *n, int64_t *pending)
{
    PGresult *r = NULL;
    *n = 0;
    *pending = 0;
    TRY(cst_pgd_run(ts->st, ts->schema, NULL, true, &r, NULL,
                    "SELECT " RECORD_COLS ", value, bucket FROM @.records WHERE dek_version <> $1 "
                    "LIMIT $2 FOR UPDATE SKIP LOCKED",
                    "ii", (int64_t)target, (int64_t)limit));
    cst_err e = CST_OK;
    for (int i = 0; e == CST_OK && i < PQntuples(r) && *n < limit; i++) {
        cst_rewrap_item *it = &items[*n];
        cst_record_row_init(&it->r);
        (*n)++;
        cst_pgd_col_text(r, i, 8, it->bucket, sizeof(it->bucket));
        e = rec_row(r, i, true, &it->r);
    }
    PQclear(r);
    if (e == CST_OK && *n == 0)
        e = cst_pgd_one(ts->st, ts->schema, NULL, count_row, pending, "no count",
                        "SELECT pg_catalog.count(*) FROM @.records WHERE dek_version <> $1", "i",
                        (int64_t)target);
    return e;
}

/* Only the row as read (locked since, so it still is): a new version is never replaced. */
static cst_err rewrap_update(const cst_rewrap_item *it, uint32_t old, void *ts, int64_t *changed)
{
    return cst_pgd_run(PGT(ts)->st, PGT(ts)->schema, NULL, true, NULL, changed,
                       "UPDATE @.records SET dek_version = $1, meta = $2, value = $3 WHERE "
                       "bucket = $4 AND bidx = $5 AND version = $6 AND dek_version = $7",
                       "ibbsbii", (int64_t)it->r.dek_version, it->r.meta.data, it->r.meta.len,
                       it->r.value.data, it->r.value.len, it->bucket, it->r.bidx,
                       (size_t)CST_HASH_LEN, (int64_t)it->r.version, (int64_t)old);
}

cst_err cst_postgres_tstore_rewrap_batch(cst_tstore *ts, uint32_t target, int limit,
                                         cst_err (*reseal)(const char *bucket, cst_record_row *r,
                                                           void *ctx),
                                         void *ctx, int64_t *done, int64_t *seen)
{
    *done = *seen = 0;
    ENSURE(limit > 0 && limit <= 100000, CST_ERR_INVALID, "re-encryption batch out of range");
    cst_rewrap_item *items = calloc((size_t)limit, sizeof(*items));
    ENSURE(items != NULL, CST_ERR_INTERNAL, "out of memory");
    int n = 0;
    int64_t pending = 0;
    cst_err e = cst_postgres_tstore_begin(ts, NULL);
    bool open = e == CST_OK;
    if (e == CST_OK)
        e = rewrap_read(PGT(ts), target, limit, items, &n, &pending);
    if (e == CST_OK)
        e = cst_rewrap_items(items, n, reseal, ctx, rewrap_update, ts, done);
    /* rows another node's batch holds are not "none left": seen stays above 0 for them */
    *seen = n > 0 ? n : pending;
    if (open && e == CST_OK)
        e = cst_postgres_tstore_commit(ts, NULL);
    else if (open)
        cst_postgres_tstore_rollback(ts, NULL);
    for (int i = 0; i < n; i++)
        cst_record_row_free(&items[i].r);
    free(items);
    return e;
}
