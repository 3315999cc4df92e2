/* backup.c: the PostgreSQL driver's copies (BAK-1..4, issue 20): its snapshots are written as
 * the same SQLite copies the SQLite driver makes (system.db, tenants/<id>.db), through the
 * copy-row interface of store.h (cst_store_copy_write ...), so that a backup of a PostgreSQL
 * node restores into either driver; and copies (of either driver's node) are merged or
 * imported into the database here.
 *
 * One point in time (BAK-1): a backup takes the system copy first, then each tenant's
 * (backup/backup.c), on one thread. snapshot(NULL) begins a REPEATABLE READ READ ONLY
 * transaction on a connection of its own and keeps it open on that thread: every later
 * snapshot(tid) of the same store on that thread reads through it, so the tenant copies see
 * the database exactly as the system copy did (PostgreSQL's snapshot is taken at the
 * transaction's first statement and held to its end; a read-only RR transaction never fails to
 * serialize). cst_store_snapshot_end (the backup's end, or the next snapshot(NULL)) gives the
 * connection back. A snapshot(tid) without one takes a transaction of its own. Tenant stores
 * are replaced with DELETE and INSERT, never DROP (merge below): a dropped and recreated table
 * is not MVCC-safe, a backup's older snapshot would read the new table empty. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/postgres/pg.h"
#include "util/json.h"
#include "util/util.h"

#define FETCH_ROWS "500"
#define BATCH_ROWS 500
#define BATCH_BYTES (8u << 20)

/* ---- snapshots: PostgreSQL to a copy ---- */

/* The backup's open transaction on this thread (see above). */
static _Thread_local struct {
    pg_store *st;
    cst_pg_conn *c;
} snap;

static void snap_end(void)
{
    if (snap.c)
        cst_pg_release(snap.st->pool, snap.c); /* rolls the read-only transaction back */
    memset(&snap, 0, sizeof(snap));
}

cst_err cst_postgres_store_snapshot_end(cst_store *st)
{
    if (snap.st == PG(st))
        snap_end();
    return CST_OK;
}

static cst_err raw_fail(PGresult *r, const char *what)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    cst_err e = cst_fail(CST_ERR_UNAVAILABLE, "postgresql: %s: %s (SQLSTATE %s)", what,
                         m ? m : "no answer", state ? state : "none");
    PQclear(r);
    return e;
}

/* Begins the REPEATABLE READ READ ONLY transaction of a snapshot on a connection of st. */
static cst_err snap_begin(pg_store *st, cst_pg_conn **c)
{
    TRY(cst_pg_acquire(st->pool, CST_PGD_ACQUIRE_MS, c));
    cst_err e = cst_pg_run(*c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (e != CST_OK) {
        cst_pg_release(st->pool, *c);
        *c = NULL;
    }
    return e;
}

typedef struct snap_fill {
    PGconn *pq;
    const char *name;   /* the copy's name */
    const char *schema; /* custodia_system or t_<tenant> */
    const char *node;   /* this node's scope of the per-node meta keys */
    cst_copy_value *vals;
} snap_fill;

/* The value of a binary result's column, as the copy declares it. */
static void pg_value(const PGresult *r, int row, int col, cst_copy_type declared, cst_copy_value *v)
{
    memset(v, 0, sizeof(*v));
    if (PQgetisnull(r, row, col)) {
        v->type = CST_COPY_NULL;
    } else if (declared == CST_COPY_INT) {
        v->type = CST_COPY_INT;
        v->i = cst_pgd_col_int(r, row, col);
    } else {
        v->type = declared;
        v->p = PQgetvalue(r, row, col);
        v->len = (size_t)PQgetlength(r, row, col);
    }
}

/* "SELECT c1, c2 ... FROM schema.table" (names from the copy's layout, the schema from
 * cst_pgd_schema); the system meta keys of this node and the shared ones only. */
static cst_err select_sql(const snap_fill *f, const cst_copy_table *t, bool node_meta, cst_buf *sql)
{
    static const char head[] = "DECLARE cst_copy BINARY NO SCROLL CURSOR FOR SELECT ";
    TRY(cst_buf_append(sql, head, sizeof(head) - 1));
    for (size_t i = 0; i < t->ncols; i++) {
        TRY(cst_buf_append(sql, i ? ", " : "", i ? 2 : 0));
        TRY(cst_buf_append(sql, t->cols[i].name, strlen(t->cols[i].name)));
    }
    TRY(cst_buf_append(sql, " FROM ", 6));
    TRY(cst_buf_append(sql, f->schema, strlen(f->schema)));
    TRY(cst_buf_append(sql, ".", 1));
    TRY(cst_buf_append(sql, t->name, strlen(t->name)));
    if (node_meta) {
        static const char where[] = " WHERE node = '' OR node = $1";
        TRY(cst_buf_append(sql, where, sizeof(where) - 1));
    }
    return cst_buf_append(sql, "", 1);
}

/* Copies one table through a cursor (a tenant's records are never all in memory). */
static cst_err copy_table(snap_fill *f, cst_copy_writer *wr, size_t ti, const cst_copy_table *t)
{
    bool node_meta = strcmp(f->schema, "custodia_system") == 0 && strcmp(t->name, "meta") == 0;
    cst_buf sql;
    cst_buf_init(&sql, 1 << 16);
    cst_err e = select_sql(f, t, node_meta, &sql);
    const char *params[1] = {f->node};
    const unsigned types[1] = {25}; /* text */
    PGresult *r = NULL;
    if (e == CST_OK) {
        r = PQexecParams(f->pq, (const char *)sql.data, node_meta ? 1 : 0, types, params, NULL,
                         NULL, 0);
        e = PQresultStatus(r) == PGRES_COMMAND_OK ? CST_OK : raw_fail(r, "reading a snapshot");
        if (e == CST_OK)
            PQclear(r);
        r = NULL;
    }
    for (int n = 1; e == CST_OK && n > 0;) {
        r = PQexec(f->pq, "FETCH " FETCH_ROWS " FROM cst_copy");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            e = raw_fail(r, "reading a snapshot");
            break;
        }
        n = PQntuples(r);
        for (int row = 0; e == CST_OK && row < n; row++) {
            for (size_t i = 0; i < t->ncols; i++)
                pg_value(r, row, (int)i, t->cols[i].type, &f->vals[i]);
            e = cst_store_copy_put(wr, ti, f->vals);
        }
        PQclear(r);
    }
    if (e == CST_OK) {
        r = PQexec(f->pq, "CLOSE cst_copy");
        e = PQresultStatus(r) == PGRES_COMMAND_OK ? CST_OK : raw_fail(r, "reading a snapshot");
        if (e == CST_OK)
            PQclear(r);
    }
    cst_buf_free(&sql);
    return e;
}

static cst_err fill_copy(cst_copy_writer *wr, void *ctx)
{
    snap_fill *f = ctx;
    const cst_copy_table *tables = NULL;
    size_t n = 0;
    TRY(cst_store_copy_tables(f->name, &tables, &n));
    cst_err e = CST_OK;
    for (size_t i = 0; e == CST_OK && i < n; i++) {
        f->vals = calloc(tables[i].ncols, sizeof(*f->vals));
        e = f->vals ? copy_table(f, wr, i, &tables[i])
                    : cst_fail(CST_ERR_INTERNAL, "out of memory");
        free(f->vals);
        f->vals = NULL;
    }
    return e;
}

/* Whether schema exists in the transaction's snapshot. */
static cst_err schema_exists(PGconn *pq, const char *schema, bool *exists)
{
    const char *params[1] = {schema};
    PGresult *r = PQexecParams(pq, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, NULL, params,
                               NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return raw_fail(r, "reading a snapshot");
    *exists = PQntuples(r) > 0;
    PQclear(r);
    return CST_OK;
}

cst_err cst_postgres_store_snapshot(cst_store *st, const char *tenant_id, const char *dir,
                                    bool *exists)
{
    char name[PATH_MAX], schema[CST_PGD_SCHEMA_MAX] = "custodia_system";
    *exists = false;
    TRY(cst_store_copy_name(tenant_id, name, sizeof(name)));
    if (tenant_id)
        TRY(cst_pgd_schema(CST_TSPACE_LIVE, tenant_id, schema, sizeof(schema)));
    cst_pg_conn *own = NULL, *c = NULL;
    if (!tenant_id) { /* a backup's first copy: its point in time begins (see above) */
        snap_end();
        TRY(snap_begin(PG(st), &snap.c));
        snap.st = PG(st);
        c = snap.c;
    } else if (snap.st == PG(st)) {
        c = snap.c;
    } else {
        TRY(snap_begin(PG(st), &own));
        c = own;
    }
    snap_fill f = {
        .pq = cst_pg_conn_pq(c), .name = name, .schema = schema, .node = PG(st)->node_id};
    bool there = true;
    cst_err e = tenant_id ? schema_exists(f.pq, schema, &there) : CST_OK;
    if (e == CST_OK && there)
        e = cst_store_copy_write(dir, name, fill_copy, &f);
    if (e == CST_OK)
        *exists = there;
    if (own)
        cst_pg_release(PG(st)->pool, own);
    if (e != CST_OK && !tenant_id)
        snap_end();
    return e;
}

/* ---- copies into the database ---- */

/* Rows of one table of a copy inserted in batches: each batch one statement, its rows one JSON
 * array (json_populate_recordset gives each value its column's type; bytes go as bytea's hex
 * text). Table and column names come from the copy's layout, never from its data. */
typedef struct importer {
    pg_store *st;
    cst_work *w;
    const char *schema; /* NULL: custodia_system; else the tenant store's */
    const cst_copy_table *t;
    const char *conflict; /* what follows the INSERT */
    json_t *rows;
    size_t bytes;
    bool *absent; /* the copy's table lacks column i: its default */
    int64_t changes;
} importer;

static json_t *json_value(const cst_copy_value *v)
{
    switch (v->type) {
    case CST_COPY_INT:
        return json_integer(v->i);
    case CST_COPY_TEXT:
        return json_stringn(v->p ? v->p : "", v->len);
    case CST_COPY_BYTES: {
        char *hex = malloc(2 * v->len + 3);
        if (!hex)
            return NULL;
        memcpy(hex, "\\x", 2);
        cst_hex(v->p, v->len, hex + 2);
        json_t *j = json_stringn(hex, 2 * v->len + 2);
        free(hex);
        return j;
    }
    default:
        return json_null();
    }
}

static cst_err flush(importer *im)
{
    if (json_array_size(im->rows) == 0)
        return CST_OK;
    const cst_copy_table *t = im->t;
    const char *q = im->schema ? "@." : "custodia_system.";
    cst_buf cols, sql;
    cst_buf_init(&cols, 1 << 16);
    cst_buf_init(&sql, 1 << 16);
    cst_err e = CST_OK;
    for (size_t i = 0; e == CST_OK && i < t->ncols; i++) {
        if (im->absent[i])
            continue;
        if (cols.len)
            e = cst_buf_append(&cols, ", ", 2);
        if (e == CST_OK)
            e = cst_buf_append(&cols, t->cols[i].name, strlen(t->cols[i].name));
    }
    const char *parts[] = {"INSERT INTO ",
                           q,
                           t->name,
                           "(",
                           NULL,
                           ") SELECT ",
                           NULL,
                           " FROM json_populate_recordset(NULL::",
                           q,
                           t->name,
                           ", $1::json)",
                           im->conflict};
    for (size_t i = 0; e == CST_OK && i < sizeof(parts) / sizeof(*parts); i++)
        e = parts[i] ? cst_buf_append(&sql, parts[i], strlen(parts[i]))
                     : cst_buf_append(&sql, cols.data, cols.len);
    if (e == CST_OK)
        e = cst_buf_append(&sql, "", 1);
    char *text = e == CST_OK ? json_dumps(im->rows, JSON_COMPACT) : NULL;
    if (e == CST_OK && !text)
        e = cst_fail(CST_ERR_INVALID, "a row of %s in the copy is not valid text", t->name);
    int64_t changes = 0;
    if (e == CST_OK)
        e = cst_pgd_run(im->st, im->schema, im->w, true, NULL, &changes, (const char *)sql.data,
                        "s", text);
    im->changes += changes;
    cst_json_free_text(text);
    cst_buf_free(&cols);
    cst_buf_free(&sql);
    json_array_clear(im->rows);
    im->bytes = 0;
    return e;
}

static cst_err import_row(const cst_copy_value *vals, void *ctx)
{
    importer *im = ctx;
    json_t *o = json_object();
    ENSURE(o != NULL, CST_ERR_INTERNAL, "out of memory");
    bool ok = true;
    for (size_t i = 0; ok && i < im->t->ncols; i++) {
        im->absent[i] = vals[i].type == CST_COPY_ABSENT;
        if (!im->absent[i])
            ok = json_object_set_new(o, im->t->cols[i].name, json_value(&vals[i])) == 0;
        im->bytes += 2 * vals[i].len + 16;
    }
    if (!ok || json_array_append_new(im->rows, o) != 0)
        return cst_fail(CST_ERR_INVALID, "a row of %s in the copy cannot be read (not UTF-8?)",
                        im->t->name);
    if (json_array_size(im->rows) >= BATCH_ROWS || im->bytes >= BATCH_BYTES)
        return flush(im);
    return CST_OK;
}

/* The per-node and shared meta keys: meta_set puts each in its scope (meta.c). */
static cst_err import_meta(const cst_copy_value *vals, void *ctx)
{
    importer *im = ctx;
    ENSURE(vals[0].type == CST_COPY_TEXT && vals[1].type == CST_COPY_TEXT, CST_ERR_INTEGRITY,
           "a meta key of the copy is malformed");
    char *k = strndup(vals[0].p, vals[0].len), *v = strndup(vals[1].p, vals[1].len);
    cst_err e = k && v ? cst_postgres_store_meta_set(&im->st->base, im->w, k, v)
                       : cst_fail(CST_ERR_INTERNAL, "out of memory");
    free(k);
    free(v);
    return e;
}

/* The index of the table called name in a copy's layout. */
static cst_err table_index(const char *copy, const char *name, size_t *out,
                           const cst_copy_table **t)
{
    const cst_copy_table *tables = NULL;
    size_t n = 0;
    TRY(cst_store_copy_tables(copy, &tables, &n));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tables[i].name, name) == 0) {
            *out = i;
            *t = &tables[i];
            return CST_OK;
        }
    }
    return cst_fail(CST_ERR_INTERNAL, "storage: a copy has no table %s", name);
}

/* Imports the rows of table (of tenant_id only, when given) of the copy dir/copy; *changes
 * (optional): how many were inserted. */
static cst_err import_table(pg_store *st, cst_work *w, const char *schema, const char *dir,
                            const char *copy, const char *table, const char *tenant_id,
                            const char *conflict, int64_t *changes)
{
    size_t ti = 0;
    const cst_copy_table *t = NULL;
    TRY(table_index(copy, table, &ti, &t));
    importer im = {.st = st,
                   .w = w,
                   .schema = schema,
                   .t = t,
                   .conflict = conflict,
                   .rows = json_array(),
                   .absent = calloc(t->ncols, sizeof(bool))};
    cst_err e = im.rows && im.absent ? CST_OK : cst_fail(CST_ERR_INTERNAL, "out of memory");
    bool meta = !schema && strcmp(table, "meta") == 0;
    if (e == CST_OK)
        e = cst_store_copy_read(dir, copy, ti, tenant_id, meta ? import_meta : import_row, &im);
    if (e == CST_OK)
        e = flush(&im);
    if (changes)
        *changes = im.changes;
    json_decref(im.rows);
    free(im.absent);
    return e;
}

/* Replaces the tenant's store with the copy's tenants/<id>.db: the schema and its tables are
 * made when missing, else emptied with DELETE (MVCC-safe: see the top), then filled. */
static cst_err replace_tenant(pg_store *st, cst_work *w, const char *dir, const char *tenant_id)
{
    char schema[CST_PGD_SCHEMA_MAX], name[PATH_MAX], create[CST_PGD_SCHEMA_MAX + 32];
    TRY(cst_pgd_schema(CST_TSPACE_LIVE, tenant_id, schema, sizeof(schema)));
    TRY(cst_store_copy_name(tenant_id, name, sizeof(name)));
    PGresult *r = NULL;
    TRY(cst_pgd_run(st, NULL, w, true, &r, NULL, "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                    "s", schema));
    bool there = PQntuples(r) > 0;
    PQclear(r);
    if (there) {
        TRY(cst_pgd_run(st, schema, w, true, NULL, NULL, "DELETE FROM @.records", ""));
        TRY(cst_pgd_run(st, schema, w, true, NULL, NULL, "DELETE FROM @.buckets", ""));
        TRY(cst_pgd_run(st, schema, w, true, NULL, NULL, "DELETE FROM @.meta", ""));
    } else {
        /* the name comes from cst_pgd_schema (a validated id), never from the copy */
        TRY(cst_fmt(create, sizeof(create), "CREATE SCHEMA %s", schema));
        TRY(cst_pgd_ddl_in(st, NULL, w, create));
        TRY(cst_pgd_ddl_in(st, schema, w, CST_PGD_TENANT_TABLES));
        TRY(cst_pgd_run(st, schema, w, true, NULL, NULL, "DELETE FROM @.meta", ""));
    }
    const cst_copy_table *tables = NULL;
    size_t n = 0;
    TRY(cst_store_copy_tables(name, &tables, &n));
    for (size_t i = 0; i < n; i++)
        TRY(import_table(st, w, schema, dir, name, tables[i].name, NULL, "", NULL));
    return CST_OK;
}

/* Runs fn in one transaction (one unit of work) of st: committed when it succeeds. */
static cst_err in_txn(pg_store *st, cst_err (*fn)(pg_store *st, cst_work *w, void *ctx), void *ctx)
{
    cst_txn *t = NULL;
    cst_work *w = NULL;
    TRY(cst_txn_begin(&t));
    cst_err e = cst_work_begin(t, &w);
    if (e == CST_OK)
        e = fn(st, w, ctx);
    if (w) {
        cst_err ee = cst_work_end(w, e == CST_OK);
        e = e == CST_OK ? ee : e;
    }
    if (e == CST_OK)
        return cst_txn_commit(t);
    cst_txn_rollback(t);
    return e;
}

typedef struct merge {
    const char *dir, *tenant_id;
    bool created;
} merge;

static cst_err count_row(const cst_copy_value *vals, void *ctx)
{
    (void)vals;
    ++*(int64_t *)ctx;
    return CST_OK;
}

/* store.h: cst_store_merge_tenant, as the SQLite driver's (copy.c merge_rows): atomic across
 * nodes, as each insert skips a row that exists (ON CONFLICT DO NOTHING) and the tenant's
 * creation is decided by its own insert. */
static cst_err merge_in(pg_store *st, cst_work *w, void *ctx)
{
    merge *m = ctx;
    char sys[PATH_MAX];
    TRY(cst_store_copy_name(NULL, sys, sizeof(sys)));
    size_t ti = 0;
    const cst_copy_table *t = NULL;
    int64_t in_backup = 0, created = 0, foreign = 0;
    TRY(table_index(sys, "tenants", &ti, &t));
    TRY(cst_store_copy_read(m->dir, sys, ti, m->tenant_id, count_row, &in_backup));
    ENSURE(in_backup, CST_ERR_NOT_FOUND, "the backup holds no tenant %s", m->tenant_id);
    TRY(import_table(st, w, NULL, m->dir, sys, "tenants", m->tenant_id, " ON CONFLICT DO NOTHING",
                     &created));
    TRY(import_table(st, w, NULL, m->dir, sys, "tenant_keys", m->tenant_id,
                     " ON CONFLICT DO NOTHING", NULL));
    /* ENC-4: a tenant the node no longer has brings its keys from the copy; wrapped by
     * another master key (the node's was rotated since: node/kekrot.c) they would open nothing */
    PGresult *r = NULL;
    TRY(cst_pgd_run(st, NULL, w, true, &r, NULL,
                    "SELECT count(*) FROM custodia_system.tenant_keys WHERE tenant_id = $1 AND "
                    "substr(wrapped, 1, 1) IN ('\\x02'::bytea, '\\x03'::bytea) AND "
                    "encode(substr(wrapped, 2, 8), 'hex') <> (SELECT v FROM custodia_system.meta "
                    "WHERE node = '' AND k = 'kek_id')",
                    "s", m->tenant_id));
    foreign = cst_pgd_col_int(r, 0, 0);
    PQclear(r);
    ENSURE(!foreign, CST_ERR_CONFLICT,
           "tenant %s's keys in the backup are wrapped by a master key this node no longer uses "
           "(it was rotated after the backup): restore the whole backup with the key it names, "
           "then export the tenant",
           m->tenant_id);
    /* ENC-4: the copy's records may be under an older DEK version than the tenant's newest:
     * it runs (again) to the newest, the key worker counting what is left */
    TRY(cst_pgd_run(st, NULL, w, true, NULL, NULL,
                    "INSERT INTO custodia_system.key_rewrap(tenant_id, target, state, done, "
                    "total, started_at, finished_at) SELECT $1, max(version), 'running', 0, 0, "
                    "$2, 0 FROM custodia_system.tenant_keys WHERE tenant_id = $1 AND purpose = "
                    "'dek' HAVING max(version) > 1 ON CONFLICT(tenant_id) DO UPDATE SET target "
                    "= excluded.target, state = excluded.state, done = 0, total = 0, "
                    "started_at = excluded.started_at, finished_at = 0",
                    "si", m->tenant_id, cst_now_us()));
    if (created)
        TRY(import_table(st, w, NULL, m->dir, sys, "users", m->tenant_id, " ON CONFLICT DO NOTHING",
                         NULL));
    m->created = created > 0;
    char name[PATH_MAX], path[PATH_MAX];
    TRY(cst_store_copy_name(m->tenant_id, name, sizeof(name)));
    TRY(cst_fmt(path, sizeof(path), "%s/%s", m->dir, name));
    if (cst_path_exists(path))
        TRY(replace_tenant(st, w, m->dir, m->tenant_id));
    return CST_OK;
}

cst_err cst_postgres_store_merge_tenant(cst_store *st, const char *dir, const char *tenant_id,
                                        bool *created)
{
    merge m = {.dir = dir, .tenant_id = tenant_id};
    cst_err e = in_txn(PG(st), merge_in, &m);
    *created = m.created;
    return e;
}

typedef struct import {
    const char *dir;
    cst_work *w;
    pg_store *st;
} import;

static cst_err import_tenant(const cst_copy_value *vals, void *ctx)
{
    import *im = ctx;
    char id[CST_ID_MAX], name[PATH_MAX], path[PATH_MAX];
    ENSURE(vals[0].type == CST_COPY_TEXT && vals[0].len < sizeof(id), CST_ERR_INTEGRITY,
           "a tenant id of the copy is malformed");
    memcpy(id, vals[0].p, vals[0].len);
    id[vals[0].len] = '\0';
    TRY(cst_store_copy_name(id, name, sizeof(name)));
    TRY(cst_fmt(path, sizeof(path), "%s/%s", im->dir, name));
    if (!cst_path_exists(path))
        return CST_OK; /* a tenant that never stored anything */
    return replace_tenant(im->st, im->w, im->dir, id);
}

/* store.h: cst_store_import. Atomic across nodes: the lock on the tenants table keeps another
 * node from creating a tenant between the check and the commit. */
static cst_err import_in(pg_store *st, cst_work *w, void *ctx)
{
    const char *dir = ctx;
    char sys[PATH_MAX];
    TRY(cst_store_copy_name(NULL, sys, sizeof(sys)));
    PGresult *r = NULL;
    TRY(cst_pgd_run(st, NULL, w, true, NULL, NULL,
                    "LOCK TABLE custodia_system.tenants IN SHARE ROW EXCLUSIVE MODE", ""));
    TRY(cst_pgd_run(st, NULL, w, true, &r, NULL, "SELECT count(*) FROM custodia_system.tenants",
                    ""));
    int64_t tenants = cst_pgd_col_int(r, 0, 0);
    PQclear(r);
    ENSURE(tenants == 0, CST_ERR_CONFLICT,
           "the database in store.dsn already holds %lld tenants: a whole-node restore into "
           "PostgreSQL needs a database without any (a new database, or restore single tenants "
           "with --tenant)",
           (long long)tenants);
    const cst_copy_table *tables = NULL;
    size_t n = 0;
    TRY(cst_store_copy_tables(sys, &tables, &n));
    for (size_t i = 0; i < n; i++)
        TRY(import_table(st, w, NULL, dir, sys, tables[i].name, NULL, " ON CONFLICT DO NOTHING",
                         NULL));
    size_t ti = 0;
    const cst_copy_table *t = NULL;
    TRY(table_index(sys, "tenants", &ti, &t));
import im = {.dir = dir, .w = w, .st = st };
    return cst_store_copy_read(dir, sys, ti, NULL, import_tenant, &im);
}

cst_err cst_postgres_store_import(cst_store *st, const char *dir)
{
    return in_txn(PG(st), import_in, (void *)dir);
}
