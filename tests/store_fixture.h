/* store_fixture.h: the store the storage-level tests run on (issue 20): SQLite in the test's
 * dir, or with CST_TEST_DRIVER=postgresql a throw-away PostgreSQL cluster (pg_cluster.h, one
 * per test process, stopped at exit) and a database of its own for each dir, so that a test
 * reopening its dir finds its data again. */
#ifndef CST_STORE_FIXTURE_H
#define CST_STORE_FIXTURE_H

#include <stdbool.h>

#include "store/store.h"

/* "sqlite" or "postgresql" (CST_TEST_DRIVER). */
const char *ts_store_driver(void);
/* Opens (creating when create) the store of dir with the test driver. */
cst_err ts_store_open(const char *dir, bool create, cst_store **out);
/* Two nodes on one store (a group set-up): dir (a mkdtemp template) made, the store created
 * through *a and opened again as *b; 0, or -1 with the reason on stderr. */
int ts_store_pair_open(char *dir, cst_store **a, cst_store **b);
/* The group tear-down of ts_store_pair_open: both closed, dir removed; 0, or -1. */
int ts_store_pair_close(const char *dir, cst_store *a, cst_store *b);
/* The libpq connection string of dir's database ("" for SQLite; the cluster is started on the
 * first call). */
const char *ts_store_dsn(const char *dir);
/* The throw-away cluster's dir (its files are in data/; "" before the first ts_store_dsn). */
const char *ts_store_pg_dir(void);
/* PostgreSQL only: the integer in the first column of the first row of sql on dir's database,
 * read on a connection of its own (as another node would read it). false, with the reason on
 * stderr, when it cannot (or the driver is not postgresql). */
bool ts_store_pg_int(const char *dir, const char *sql, long long *out);

/* The rows of a copy's table (tenant_id: only that tenant's; NULL: all), each as one text line
 * (its typed values, bytes in hex), sorted, so that two copies compare with strcmp; *n gets how
 * many. NULL (message in cst_err_message) when the copy cannot be read. Free with
 * ts_copy_rows_free. */
char **ts_copy_rows(const char *dir, const char *name, const char *table, const char *tenant_id,
                    size_t *n);
void ts_copy_rows_free(char **rows, size_t n);
/* A backup's copies of st into dir, as backup/backup.c takes them: the system copy, then each
 * of the n tenants' (each must have a store), then the end of the point in time. */
cst_err ts_copies(cst_store *st, const char *dir, const char *const *tenants, size_t n);
/* How many rows table (tenant_id's only, or all) has in both the copies a and b when they hold
 * the same rows; -1 (the first difference on stderr) when they do not or cannot be read. */
long ts_copy_rows_same(const char *a, const char *b, const char *name, const char *table,
                       const char *tenant_id);

#endif
