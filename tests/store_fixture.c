/* store_fixture.c: see store_fixture.h. */
#include "store_fixture.h"

#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_cluster.h"
#include "util/util.h"

static ts_pg pg;
static bool pg_up;
static char dsn[512];

const char *ts_store_driver(void)
{
    const char *d = getenv("CST_TEST_DRIVER");
    return d && *d ? d : "sqlite";
}

static void pg_down(void)
{
    if (pg_up)
        (void)ts_pg_stop(&pg);
    pg_up = false;
}

/* The database of dir: d_ and a hash of its path, made when missing. */
const char *ts_store_dsn(const char *dir)
{
    if (strcmp(ts_store_driver(), "postgresql") != 0)
        return "";
    if (!pg_up) {
        if (!ts_pg_start(&pg)) {
            fprintf(stderr, "store_fixture: cannot start a PostgreSQL cluster\n");
            exit(1);
        }
        pg_up = true;
        atexit(pg_down);
    }
    unsigned long h = 5381;
    for (const char *p = dir; *p; p++)
        h = h * 33 + (unsigned char)*p;
    char db[32], sql[96];
    snprintf(db, sizeof(db), "d_%08lx", h & 0xffffffffUL);
    PGconn *c = PQconnectdb(pg.dsn);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db);
    PGresult *r = PQexec(c, sql); /* fails harmlessly when it exists */
    PQclear(r);
    PQfinish(c);
    snprintf(dsn, sizeof(dsn), "%s dbname=%s", pg.dsn, db); /* the last dbname wins */
    return dsn;
}

const char *ts_store_pg_dir(void)
{
    return pg_up ? pg.dir : "";
}

cst_err ts_store_open(const char *dir, bool create, cst_store **out)
{
    cst_store_conf c = {
        .driver = ts_store_driver(), .data_dir = dir, .dsn = ts_store_dsn(dir), .pool_size = 4};
    return cst_store_open_conf(&c, create, out);
}

typedef struct copy_rows {
    char **v;
    size_t n;
    const cst_copy_table *t;
    bool failed;
} copy_rows;

static cst_err collect_row(const cst_copy_value *vals, void *ctx)
{
    copy_rows *r = ctx;
    cst_buf b;
    cst_buf_init(&b, SIZE_MAX);
    cst_err e = CST_OK;
    for (size_t i = 0; e == CST_OK && i < r->t->ncols; i++) {
        char head[64];
        int l = snprintf(head, sizeof(head), "|%d:%lld:%zu:", (int)vals[i].type,
                         (long long)vals[i].i, vals[i].len);
        char *hex = malloc(2 * vals[i].len + 1);
        e = hex ? cst_buf_append(&b, head, (size_t)l) : CST_ERR_INTERNAL;
        if (e == CST_OK) {
            cst_hex(vals[i].p, vals[i].len, hex);
            e = cst_buf_append(&b, hex, 2 * vals[i].len);
        }
        free(hex);
    }
    char **more = e == CST_OK ? realloc(r->v, (r->n + 1) * sizeof(char *)) : NULL;
    if (e == CST_OK && more && cst_buf_append(&b, "", 1) == CST_OK) {
        r->v = more;
        r->v[r->n++] = strdup((const char *)b.data);
    } else {
        if (more)
            r->v = more;
        r->failed = true;
    }
    cst_buf_free(&b);
    return CST_OK;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **ts_copy_rows(const char *dir, const char *name, const char *table, const char *tenant_id,
                    size_t *n)
{
    const cst_copy_table *tables = NULL;
    size_t count = 0;
    *n = 0;
    if (cst_store_copy_tables(name, &tables, &count) != CST_OK)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(tables[i].name, table) != 0)
            continue;
        copy_rows r = {.t = &tables[i]};
        cst_err e = cst_store_copy_read(dir, name, i, tenant_id, collect_row, &r);
        if (e != CST_OK || r.failed) {
            ts_copy_rows_free(r.v, r.n);
            return NULL;
        }
        qsort(r.v, r.n, sizeof(char *), by_text);
        *n = r.n;
        return r.v ? r.v : calloc(1, sizeof(char *));
    }
    return NULL;
}

void ts_copy_rows_free(char **rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i]);
    free(rows);
}

long ts_copy_rows_same(const char *a, const char *b, const char *name, const char *table,
                       const char *tenant_id)
{
    size_t na = 0, nb = 0;
    char **x = ts_copy_rows(a, name, table, tenant_id, &na);
    char **y = ts_copy_rows(b, name, table, tenant_id, &nb);
    long same = x && y && na == nb ? (long)na : -1;
    for (size_t i = 0; same >= 0 && i < na; i++)
        if (strcmp(x[i], y[i]) != 0) {
            fprintf(stderr, "%s of %s differs:\n  %s\n  %s\n", table, name, x[i], y[i]);
            same = -1;
        }
    if (!x || !y || na != nb)
        fprintf(stderr, "%s of %s: %zu rows and %zu\n", table, name, na, nb);
    ts_copy_rows_free(x, na);
    ts_copy_rows_free(y, nb);
    return same;
}

cst_err ts_copies(cst_store *st, const char *dir, const char *const *tenants, size_t n)
{
    bool exists = false;
    cst_err e = cst_store_snapshot(st, NULL, dir, &exists);
    for (size_t i = 0; e == CST_OK && i < n; i++) {
        e = cst_store_snapshot(st, tenants[i], dir, &exists);
        if (e == CST_OK && !exists)
            e = cst_fail(CST_ERR_NOT_FOUND, "tenant %s has no store to copy", tenants[i]);
    }
    cst_err end = cst_store_snapshot_end(st);
    return e == CST_OK ? end : e;
}

bool ts_store_pg_int(const char *dir, const char *sql, long long *out)
{
    if (strcmp(ts_store_driver(), "postgresql") != 0) {
        fprintf(stderr, "ts_store_pg_int: the test driver is not postgresql\n");
        return false;
    }
    PGconn *c = PQconnectdb(ts_store_dsn(dir));
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    if (ok)
        *out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        fprintf(stderr, "ts_store_pg_int: %s: %s\n", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok;
}

int ts_store_pair_open(char *dir, cst_store **a, cst_store **b)
{
    if (!mkdtemp(dir) || ts_store_open(dir, true, a) != CST_OK ||
        ts_store_open(dir, false, b) != CST_OK) {
        fprintf(stderr, "setup: %s\n", cst_err_message(CST_ERR_INTERNAL));
        return -1;
    }
    return 0;
}

int ts_store_pair_close(const char *dir, cst_store *a, cst_store *b)
{
    cst_store_close(b);
    cst_store_close(a);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}
