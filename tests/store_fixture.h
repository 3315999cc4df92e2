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
/* The libpq connection string of dir's database ("" for SQLite; the cluster is started on the
 * first call). */
const char *ts_store_dsn(const char *dir);
/* The throw-away cluster's dir (its files are in data/; "" before the first ts_store_dsn). */
const char *ts_store_pg_dir(void);
/* PostgreSQL only: the integer in the first column of the first row of sql on dir's database,
 * read on a connection of its own (as another node would read it). false, with the reason on
 * stderr, when it cannot (or the driver is not postgresql). */
bool ts_store_pg_int(const char *dir, const char *sql, long long *out);

#endif
