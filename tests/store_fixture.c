/* store_fixture.c: see store_fixture.h. */
#include "store_fixture.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_cluster.h"

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
