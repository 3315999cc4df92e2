/* pool.h: the PostgreSQL driver's connections (issue 20): a bounded pool of libpq connections,
 * prepared statements cached per connection by name, and schema versions migrated at start-up.
 * Only src/store/postgres/ includes this header (and <libpq-fe.h>): tests/layers.sh says so.
 *
 * Statements are schema-qualified by the caller (custodia_system.x, t_<tenant>.y): every
 * connection runs with an empty search_path, so an unqualified table name fails rather than
 * resolving through whatever a transaction pooler's session last set.
 *
 * Threads: the pool is shared; a connection belongs to one thread from cst_pg_acquire to
 * cst_pg_release. Errors are cst_err with a message (cst_fail) that never repeats the DSN's
 * password. */
#ifndef CST_PG_POOL_H
#define CST_PG_POOL_H

#include <libpq-fe.h>
#include <stddef.h>

#include "util/err.h"

#define CST_PG_POOL_MAX 256   /* connections in one pool */
#define CST_PG_STMT_CACHE 128 /* prepared statements per connection */

typedef struct cst_pg_pool cst_pg_pool;
typedef struct cst_pg_conn cst_pg_conn;

/* Opens size connections (1..CST_PG_POOL_MAX) to dsn, a libpq connection string. The pool is
 * the caller's (cst_pg_pool_close). Fails CST_ERR_INVALID on a bad size or DSN, and
 * CST_ERR_UNAVAILABLE when the database does not answer. */
cst_err cst_pg_pool_open(const char *dsn, int size, cst_pg_pool **out) CST_MUST_USE;
/* Closes every connection. All must have been released. NULL is fine. */
void cst_pg_pool_close(cst_pg_pool *p);

/* Takes a free connection, waiting up to timeout_ms when all are in use (CST_ERR_UNAVAILABLE
 * after that). A connection found broken (its backend gone) is replaced here, with an empty
 * statement cache. */
cst_err cst_pg_acquire(cst_pg_pool *p, int timeout_ms, cst_pg_conn **out) CST_MUST_USE;
/* Gives c back: an open transaction left on it is rolled back; a broken one is closed, and the
 * next acquire of its slot reconnects. NULL is fine. */
void cst_pg_release(cst_pg_pool *p, cst_pg_conn *c);

/* Runs the statement named name (prepared on this connection at its first use; sql must be the
 * same text on every call with that name) with nparams text parameters (NULL for SQL NULL).
 * *res (may be NULL when the caller needs no rows) is the caller's to PQclear. A failed
 * statement returns CST_ERR_CONFLICT for a unique or serialization violation,
 * CST_ERR_UNAVAILABLE when the connection broke (released, it is replaced), CST_ERR_INTERNAL
 * otherwise. */
cst_err cst_pg_exec(cst_pg_conn *c, const char *name, const char *sql, int nparams,
                    const char *const *params, PGresult **res) CST_MUST_USE;
/* cst_pg_exec with typed parameters and binary values: types[i] is parameter i's type OID (NULL
 * or 0: inferred), values/lengths/formats as PQexecPrepared's (NULL lengths and formats: text),
 * result_format 1 for binary columns. The statement is prepared with the types at its first use
 * on the connection; when the cache is full, its least recently used statement is deallocated. */
cst_err cst_pg_execv(cst_pg_conn *c, const char *name, const char *sql, int nparams,
                     const unsigned *types, const char *const *values, const int *lengths,
                     const int *formats, int result_format, PGresult **res) CST_MUST_USE;
/* Commits c's transaction: CST_ERR_UNAVAILABLE unless PostgreSQL says it committed (a
 * transaction in which a statement failed is rolled back by COMMIT, without an error). */
cst_err cst_pg_commit(cst_pg_conn *c) CST_MUST_USE;
/* Runs constant SQL text without parameters or preparation (transaction control, migrations:
 * several statements in one text are fine). */
cst_err cst_pg_run(cst_pg_conn *c, const char *sql) CST_MUST_USE;
/* The libpq connection, for what the pool does not wrap (the tests read its backend PID). */
PGconn *cst_pg_conn_pq(cst_pg_conn *c);

/* One schema migration: the SQL that takes the schema from version - 1 to version. */
typedef struct cst_pg_migration {
    int version; /* 1, 2, 3 ... without gaps */
    const char *sql;
} cst_pg_migration;

/* Brings the database to the last version of m[0..n): in one transaction under an advisory
 * lock (pg_advisory_xact_lock), so nodes starting together apply each migration once; records
 * each version in custodia_system.schema_version. *applied (may be NULL): how many this call
 * applied. Fails CST_ERR_INTERNAL when the table is malformed or the database is at a version
 * newer than m knows (an older binary against a newer schema), and rolls back on any failure. */
cst_err cst_pg_migrate(cst_pg_pool *p, const cst_pg_migration *m, size_t n,
                       int *applied) CST_MUST_USE;

#endif
