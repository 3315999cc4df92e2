/* driver.c: the PostgreSQL driver's table, its store handle, transactions and typed statements
 * (pg.h says how calls map to connections). */
#include <arpa/inet.h>
#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/postgres/pg.h"
#include "util/util.h"

#define ENTRY(on, type, name, params, args) .name = cst_postgres_##name,

const cst_store_driver cst_postgres_driver = {.name = "postgresql",
                                              .store_open = cst_postgres_store_open,
                                              .store_close = cst_postgres_store_close,
                                              .tstore_close = cst_postgres_tstore_close,
                                              .tstore_close_warm = cst_postgres_tstore_close_warm,
                                              .tstore_rollback = cst_postgres_tstore_rollback,
                                              .res_begin = cst_pgd_res_begin,
                                              .res_commit = cst_pgd_res_commit,
                                              .res_rollback = cst_pgd_res_rollback,
                                              .res_savepoint = cst_pgd_res_savepoint,
                                              .res_release = cst_pgd_res_release,
                                              .res_rollback_to = cst_pgd_res_rollback_to,
                                              .principals_epoch = cst_pgd_principals_epoch_now,
                                              CST_STORE_OPS(ENTRY)};

/* ---- the thread's transaction ----
 * At most one per thread: the connection of a cst_txn that wrote (t set), or of a tenant
 * store's transaction without a unit of work (cst_tstore_begin(ts, NULL): own). held names the
 * stores it wrote to (the system tables, NULL, or tenant schemas; all of them past
 * PGD_HELD_MAX), so that, as with SQLite's file per store, only a call without the work on a
 * store the work holds is refused, and a call on another store runs on a connection of its own. */
#define PGD_HELD_MAX 8
static _Thread_local struct {
    pg_store *st;
    const cst_txn *t;
    cst_pg_conn *c;
    bool own;
    char own_schema[CST_PGD_SCHEMA_MAX]; /* own: the tenant store it is (SQLite: its file) */
    bool bump; /* it wrote principals: the epoch moves just before its COMMIT */
    bool sys_held, all_held;
    int nheld;
    char held[PGD_HELD_MAX][CST_PGD_SCHEMA_MAX];
} cur;

/* Whether the thread's transaction holds the store of schema (NULL: the system tables). */
static bool cur_holds(const char *schema)
{
    if (!schema)
        return cur.sys_held;
    for (int i = 0; i < cur.nheld; i++)
        if (strcmp(cur.held[i], schema) == 0)
            return true;
    return cur.all_held;
}

static void cur_hold(const char *schema)
{
    if (cur_holds(schema))
        return;
    if (!schema)
        cur.sys_held = true;
    else if (cur.nheld < PGD_HELD_MAX &&
             cst_copy(cur.held[cur.nheld], CST_PGD_SCHEMA_MAX, schema) == CST_OK)
        cur.nheld++;
    else
        cur.all_held = true;
}

static void cur_end(void)
{
    cst_pg_release(cur.st->pool, cur.c); /* rolls back what is still open */
    memset(&cur, 0, sizeof(cur));
}

/* Takes a connection for a transaction of this thread and begins it. */
static cst_err cur_begin(pg_store *st, const cst_txn *t, bool own)
{
    if (cur.c) {
        cst_error("storage: a second transaction on a thread that has one open");
        return cst_fail(CST_ERR_INTERNAL, "storage error");
    }
    cst_pg_conn *c = NULL;
    TRY(cst_pg_acquire(st->pool, CST_PGD_ACQUIRE_MS, &c));
    cst_err e = cst_pg_run(c, "BEGIN");
    if (e != CST_OK) {
        cst_pg_release(st->pool, c);
        return e;
    }
    cur.st = st;
    cur.t = t;
    cur.c = c;
    cur.own = own;
    return CST_OK;
}

cst_err cst_pgd_res_begin(void *res, const cst_txn *t)
{
    return cur_begin(res, t, false);
}

/* IAM-5: a transaction that wrote principals moves the shared epoch as its last statement, so
 * that it takes the epoch's row lock last and holds it only for its COMMIT: it never waits for
 * another lock while holding it (taken first, two transactions locking a user row and the epoch
 * in opposite orders deadlocked). */
cst_err cst_pgd_res_commit(void *res)
{
    (void)res;
    cst_err e = cur.bump ? cst_pg_run(cur.c, CST_PGD_BUMP_SQL) : CST_OK;
    if (e == CST_OK)
        e = cst_pg_commit(cur.c);
    cur_end();
    return e;
}

cst_err cst_pgd_bump_at_commit(pg_store *st, cst_work *w)
{
    TRY(cst_work_join(w, &cst_postgres_driver, st));
    cur.bump = true;
    return CST_OK;
}

cst_pg_conn *cst_pgd_thread_conn(const pg_store *st)
{
    return cur.c && cur.st == st ? cur.c : NULL;
}

void cst_pgd_res_rollback(void *res)
{
    (void)res;
    if (cur.c)
        cur_end();
}

cst_err cst_pgd_res_savepoint(void *res)
{
    (void)res;
    return cst_pg_run(cur.c, "SAVEPOINT w");
}

cst_err cst_pgd_res_release(void *res)
{
    (void)res;
    return cst_pg_run(cur.c, "RELEASE SAVEPOINT w");
}

void cst_pgd_res_rollback_to(void *res)
{
    (void)res;
    cst_err undone = cst_pg_run(cur.c, "ROLLBACK TO SAVEPOINT w");
    if (undone == CST_OK)
        undone = cst_pg_run(cur.c, "RELEASE SAVEPOINT w");
    if (undone != CST_OK) /* the connection's transaction is lost: its commit fails */
        cst_err_clear();
}

/* The connection a call runs on: the thread's transaction's when the call belongs to it (a
 * write through w joins w's transaction first), else one of its own (*temp: release it). */
static cst_err conn_for(pg_store *st, const char *schema, cst_work *w, bool write, cst_pg_conn **c,
                        bool *temp)
{
    *temp = false;
    if (w && write)
        TRY(cst_work_join(w, &cst_postgres_driver, st));
    if (cur.c && cur.st == st &&
        ((w && cur.t == cst_work_txn(w)) ||
         (!w && cur.own && cur.t == NULL && schema && strcmp(schema, cur.own_schema) == 0))) {
        if (write)
            cur_hold(schema);
        *c = cur.c;
        return CST_OK;
    }
    /* store.h: refused, as SQLite's check_holder */
    if (cur.c && cur.st == st && !cur.own && (w || cur_holds(schema))) {
        cst_error("storage: a call %s on a store this thread's unit of work holds",
                  w ? "of another transaction" : "outside the unit of work");
        return cst_fail(CST_ERR_INTERNAL, "storage error");
    }
    *temp = true;
    return cst_pg_acquire(st->pool, CST_PGD_ACQUIRE_MS, c);
}

cst_err cst_pgd_ddl(pg_store *st, cst_work *w, const char *sql)
{
    return cst_pgd_ddl_in(st, NULL, w, sql);
}

cst_err cst_pgd_ddl_in(pg_store *st, const char *schema, cst_work *w, const char *sql)
{
    char *text = NULL;
    TRY(cst_pgd_with_schema(sql, schema, &text));
    cst_pg_conn *c = NULL;
    bool temp = false;
    cst_err e = conn_for(st, schema, w, true, &c, &temp);
    if (e == CST_OK && temp)
        e = cst_pg_run(c, "BEGIN");
    if (e == CST_OK)
        e = cst_pg_run(c, text ? text : sql);
    if (e == CST_OK && temp)
        e = cst_pg_commit(c);
    if (temp)
        cst_pg_release(st->pool, c);
    free(text);
    return e;
}

/* ---- typed statements ---- */
#define PGD_MAX_PARAMS 32
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25

/* A statement's name on a connection: its SQL text's 64-bit FNV-1a hash (the pool checks that
 * a name always comes with the same text). */
static void stmt_name(const char *sql, char out[20])
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    snprintf(out, 20, "c%016llx", (unsigned long long)h);
}

cst_err cst_pgd_with_schema(const char *sql, const char *schema, char **out)
{
    *out = NULL;
    if (!schema)
        return CST_OK;
    size_t n = 0, sl = strlen(schema);
    for (const char *p = sql; (p = strstr(p, "@.")); p += 2)
        n++;
    char *o = malloc(strlen(sql) + n * sl + 1);
    ENSURE(o, CST_ERR_INTERNAL, "out of memory");
    char *q = o;
    for (const char *p = sql; *p;) {
        if (p[0] == '@' && p[1] == '.') {
            memcpy(q, schema, sl);
            q += sl;
            p++; /* the '.' is copied next */
        } else {
            *q++ = *p++;
        }
    }
    *q = '\0';
    *out = o;
    return CST_OK;
}

typedef struct params {
    int n;
    unsigned types[PGD_MAX_PARAMS];
    const char *values[PGD_MAX_PARAMS];
    int lengths[PGD_MAX_PARAMS], formats[PGD_MAX_PARAMS];
    uint64_t ints[PGD_MAX_PARAMS]; /* big-endian bigints the values point at */
} params;

static cst_err bind_params(params *p, const char *fmt, va_list ap)
{
    p->n = 0;
    for (const char *f = fmt; *f; f++) {
        ENSURE(p->n < PGD_MAX_PARAMS, CST_ERR_INTERNAL, "storage: too many parameters");
        int i = p->n++;
        p->formats[i] = 1;
        switch (*f) {
        case 's':
            p->types[i] = OID_TEXT;
            p->values[i] = va_arg(ap, const char *);
            p->lengths[i] = p->values[i] ? (int)strlen(p->values[i]) : 0;
            /* PostgreSQL refuses text that is not UTF-8, and the refusal would abort the
             * transaction around it: refused here, before any statement runs */
            ENSURE(!p->values[i] ||
                       cst_utf8_valid((const uint8_t *)p->values[i], (size_t)p->lengths[i]),
                   CST_ERR_INVALID, "a text value is not valid UTF-8");
            break;
        case 'i':
            p->types[i] = OID_INT8;
            p->ints[i] = htobe64((uint64_t)va_arg(ap, int64_t));
            p->values[i] = (const char *)&p->ints[i];
            p->lengths[i] = 8;
            break;
        case 'b': {
            const void *v = va_arg(ap, const void *);
            size_t len = va_arg(ap, size_t);
            ENSURE(len <= INT32_MAX, CST_ERR_INVALID, "storage: a value over 2 GiB");
            p->types[i] = OID_BYTEA;
            p->values[i] = v ? v : "";
            p->lengths[i] = (int)len;
            break;
        }
        default:
            return cst_fail(CST_ERR_INTERNAL, "storage: bad parameter format '%c'", *f);
        }
    }
    return CST_OK;
}

static cst_err runv(pg_store *st, const char *schema, cst_work *w, bool write, PGresult **res,
                    int64_t *changes, const char *sql, const char *fmt, va_list ap)
{
    if (res)
        *res = NULL;
    params p;
    TRY(bind_params(&p, fmt, ap));
    /* a write to principals in a unit of work: its bump CTE left out, the epoch moved at the
     * transaction's COMMIT (cst_pgd_res_commit); alone, the statement keeps it */
    static const char bump[] = "WITH " CST_PGD_BUMP;
    bool deferred = w && write && strncmp(sql, bump, sizeof(bump) - 1) == 0;
    char *stripped = NULL;
    if (deferred) {
        const char *rest = sql + sizeof(bump) - 1;
        bool more = rest[0] == ',';
        size_t n = strlen(rest) + 8;
        stripped = malloc(n);
        ENSURE(stripped, CST_ERR_INTERNAL, "out of memory");
        snprintf(stripped, n, "%s%s", more ? "WITH " : "", rest + (more ? 2 : 1));
        sql = stripped;
    }
    char *text = NULL, name[20];
    cst_err se = cst_pgd_with_schema(sql, schema, &text);
    if (se != CST_OK) {
        free(stripped);
        return se;
    }
    stmt_name(text ? text : sql, name);
    cst_pg_conn *c = NULL;
    bool temp = false;
    PGresult *r = NULL;
    cst_err e = conn_for(st, schema, w, write, &c, &temp);
    if (e == CST_OK && deferred)
        cur.bump = true;
    if (e == CST_OK)
        e = cst_pg_execv(c, name, text ? text : sql, p.n, p.types, p.values, p.lengths, p.formats,
                         1, &r);
    if (temp)
        cst_pg_release(st->pool, c);
    free(text);
    free(stripped);
    if (e == CST_OK && changes) {
        const char *n = PQcmdTuples(r);
        *changes = n && *n ? strtoll(n, NULL, 10) : 0;
    }
    if (e == CST_OK && res)
        *res = r;
    else
        PQclear(r);
    return e;
}

cst_err cst_pgd_run(pg_store *st, const char *schema, cst_work *w, bool write, PGresult **res,
                    int64_t *changes, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cst_err e = runv(st, schema, w, write, res, changes, sql, fmt, ap);
    va_end(ap);
    return e;
}

cst_err cst_pgd_each(pg_store *st, const char *schema, cst_work *w,
                     cst_err (*visit)(const PGresult *r, int row, void *ctx), void *ctx, int *rows,
                     const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = NULL;
    cst_err e = runv(st, schema, w, false, &r, NULL, sql, fmt, ap);
    va_end(ap);
    int n = e == CST_OK ? PQntuples(r) : 0;
    for (int i = 0; e == CST_OK && i < n; i++)
        e = visit(r, i, ctx);
    PQclear(r);
    if (rows)
        *rows = n;
    return e;
}

cst_err cst_pgd_one(pg_store *st, const char *schema, cst_work *w,
                    void (*decode)(const PGresult *r, int row, void *out), void *out,
                    const char *what, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = NULL;
    cst_err e = runv(st, schema, w, false, &r, NULL, sql, fmt, ap);
    va_end(ap);
    if (e == CST_OK && PQntuples(r) == 0)
        e = cst_fail(CST_ERR_NOT_FOUND, "%s", what);
    if (e == CST_OK)
        decode(r, 0, out);
    PQclear(r);
    return e;
}

/* ---- binary columns ---- */
int64_t cst_pgd_col_int(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case OID_INT8: {
        uint64_t x;
        memcpy(&x, v, 8);
        return (int64_t)be64toh(x);
    }
    case OID_INT4: {
        uint32_t x;
        memcpy(&x, v, 4);
        return (int32_t)ntohl(x);
    }
    case OID_INT2: {
        uint16_t x;
        memcpy(&x, v, 2);
        return (int16_t)ntohs(x);
    }
    case OID_BOOL:
        return v[0] != 0;
    default: /* a column read as an integer that is not one: a driver bug */
        cst_error("storage: column %d of type %u read as an integer", col,
                  (unsigned)PQftype(r, col));
        return 0;
    }
}

bool cst_pgd_col_bool(const PGresult *r, int row, int col)
{
    return cst_pgd_col_int(r, row, col) != 0;
}

void cst_pgd_col_text(const PGresult *r, int row, int col, char *out, size_t n)
{
    size_t len = PQgetisnull(r, row, col) ? 0 : (size_t)PQgetlength(r, row, col);
    if (len >= n)
        len = n - 1;
    memcpy(out, PQgetvalue(r, row, col), len);
    out[len] = '\0';
}

size_t cst_pgd_col_bytes(const PGresult *r, int row, int col, uint8_t *out, size_t cap)
{
    size_t len = PQgetisnull(r, row, col) ? 0 : (size_t)PQgetlength(r, row, col);
    memcpy(out, PQgetvalue(r, row, col), len < cap ? len : cap);
    return len;
}

cst_err cst_pgd_col_buf(const PGresult *r, int row, int col, cst_buf *out)
{
    out->len = 0;
    size_t len = PQgetisnull(r, row, col) ? 0 : (size_t)PQgetlength(r, row, col);
    return cst_buf_append(out, PQgetvalue(r, row, col), len);
}

cst_err cst_pgd_schema(cst_tspace space, const char *tenant_id, char *out, size_t size)
{
    ENSURE(cst_id_valid(tenant_id, "tn"), CST_ERR_INVALID, "malformed tenant id");
    switch (space) {
    case CST_TSPACE_LIVE:
        return cst_fmt(out, size, "t_%s", tenant_id);
    case CST_TSPACE_RETAINED:
        return cst_fmt(out, size, "r_%s", tenant_id);
    default:
        return cst_fail(CST_ERR_INTERNAL, "unknown tenant store space %d", (int)space);
    }
}

/* ---- the store ---- */
cst_err cst_postgres_store_open(const cst_store_conf *c, bool create, cst_store **out)
{
    /* the schema is migrated at every open; create makes this node's key in its data dir */
    ENSURE(c->dsn && *c->dsn, CST_ERR_INVALID,
           "store.driver = postgresql needs store.dsn (a libpq connection string)");
    pg_store *st = calloc(1, sizeof(*st));
    ENSURE(st != NULL, CST_ERR_INTERNAL, "out of memory");
    st->base.drv = &cst_postgres_driver;
    cst_err e = cst_copy(st->data_dir, sizeof(st->data_dir), c->data_dir ? c->data_dir : "");
    if (e == CST_OK)
        e = cst_pg_pool_open(c->dsn, c->pool_size > 0 ? c->pool_size : 8, &st->pool);
    if (e == CST_OK)
        e = cst_pg_migrate(st->pool, cst_pgd_migrations, cst_pgd_migrations_n, NULL);
    if (e == CST_OK)
        e = cst_pgd_node_key(st, create);
    if (e != CST_OK) {
        cst_pg_pool_close(st->pool);
        free(st);
        return e;
    }
    *out = &st->base;
    return CST_OK;
}

void cst_postgres_store_close(cst_store *st)
{
    if (!st)
        return;
    cst_pg_pool_close(PG(st)->pool);
    free(st);
}

const char *cst_postgres_store_data_dir(const cst_store *st)
{
    return PG(st)->data_dir;
}

/* ---- tenant store transactions (store.h: cst_tstore_begin) ---- */
cst_err cst_postgres_tstore_begin(cst_tstore *ts, cst_work *w)
{
    if (!w) {
        /* the tenant store's transaction alone: a call without w on another store (the system
         * tables) runs on a connection of its own, as on SQLite's other file */
        TRY(cur_begin(PGT(ts)->st, NULL, true));
        return cst_copy(cur.own_schema, sizeof(cur.own_schema), PGT(ts)->schema);
    }
    TRY(cst_work_join(w, &cst_postgres_driver, PGT(ts)->st));
    cur_hold(PGT(ts)->schema);
    return cst_pg_run(cur.c, "SAVEPOINT cst");
}

void cst_postgres_tstore_rollback(cst_tstore *ts, cst_work *w)
{
    (void)ts;
    if (!cur.c)
        return;
    if (!w) {
        cur_end();
        return;
    }
    cst_err undone = cst_pg_run(cur.c, "ROLLBACK TO SAVEPOINT cst");
    if (undone == CST_OK)
        undone = cst_pg_run(cur.c, "RELEASE SAVEPOINT cst");
    if (undone != CST_OK)
        cst_err_clear();
}

cst_err cst_postgres_tstore_commit(cst_tstore *ts, cst_work *w)
{
    if (!w) {
        cst_err e = cst_pg_commit(cur.c);
        cur_end();
        return e;
    }
    cst_err e = cst_pg_run(cur.c, "RELEASE SAVEPOINT cst");
    if (e != CST_OK)
        cst_postgres_tstore_rollback(ts, w);
    return e;
}
