/* pg.h: what the PostgreSQL driver's files share (issue 20): the store handles, the connection a
 * call runs on, and typed statements with binary parameters and results.
 *
 * Layout in the database: the schema custodia_system holds what store.h calls the system store
 * (schema.c); each tenant store is a schema of its own, t_<tenant id> (live) or r_<tenant id>
 * (retained billing records, RET-2). Every statement names its schema: a tenant statement writes
 * "@." before each table, replaced by the tenant's schema (cst_pgd_run's schema argument).
 *
 * Transactions: a transaction of store.h (cst_txn) that writes through a unit of work holds one
 * connection of the pool from its first write to its end, for the system store and every
 * tenant store alike (one database: one PostgreSQL transaction, atomic across them). The
 * connection is the thread's (a cst_txn belongs to the thread that began it): a call with w
 * runs on it; a read through w before w's first write, and a call without w, take a connection
 * of their own for that statement (autocommit), as SQLite's reads outside a transaction do. */
#ifndef CST_PG_H
#define CST_PG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/driver.h"
#include "store/postgres/pool.h"

/* How long a call waits for a free connection before CST_ERR_UNAVAILABLE. */
#define CST_PGD_ACQUIRE_MS 10000
/* A tenant store's schema name: "t_" or "r_" and the tenant id. */
#define CST_PGD_SCHEMA_MAX (CST_ID_MAX + 4)

typedef struct pg_store {
    cst_store base;
    cst_pg_pool *pool;
    char data_dir[PATH_MAX];
    char node_id[40]; /* this node's scope of the per-node meta keys (meta.c) */
} pg_store;

typedef struct pg_tstore {
    cst_tstore base;
    pg_store *st;
    char tenant_id[CST_ID_MAX];
    char schema[CST_PGD_SCHEMA_MAX];
} pg_tstore;

#define PG(st) ((pg_store *)(st))
#define PGT(ts) ((pg_tstore *)(ts))

extern const cst_store_driver cst_postgres_driver;

/* A tenant store's tables, in its schema ("@." as in cst_pgd_run): SQLite's tenant database
 * (store/sqlite/tenant.c) with PostgreSQL's types. Made by cst_tstore_open(create) in one
 * transaction with the schema itself. */
#define CST_PGD_TENANT_TABLES                                                                      \
    "CREATE TABLE @.meta(k text COLLATE \"C\" PRIMARY KEY, v bigint NOT NULL);"                    \
    "INSERT INTO @.meta(k, v) VALUES('record_version', 0);"                                        \
    "CREATE TABLE @.buckets(name text COLLATE \"C\" PRIMARY KEY, retention_seconds bigint NOT "    \
    "NULL, class text COLLATE \"C\" NOT NULL, created_at bigint NOT NULL, updated_at bigint NOT "  \
    "NULL);"                                                                                       \
    "CREATE TABLE @.records(bucket text COLLATE \"C\" NOT NULL REFERENCES @.buckets(name), bidx "  \
    "bytea NOT NULL, version bigint NOT NULL, dek_version bigint NOT NULL, size bigint NOT NULL, " \
    "meta bytea NOT NULL, value bytea NOT NULL, created_at bigint NOT NULL, updated_at bigint "    \
    "NOT NULL, PRIMARY KEY(bucket, bidx));"                                                        \
    "CREATE INDEX records_age ON @.records(bucket, updated_at);"

/* The schema of a tenant's store in space; CST_ERR_INVALID for a malformed tenant id. */
CST_MUST_USE cst_err cst_pgd_schema(cst_tspace space, const char *tenant_id, char *out,
                                    size_t size);

/* sql with each "@." replaced by schema and "." (a tenant store's tables): *out is the caller's
 * to free, NULL when schema is NULL. For SQL run on a connection of its own (tenant.c). */
CST_MUST_USE cst_err cst_pgd_with_schema(const char *sql, const char *schema, char **out);
/* Runs sql with parameters described by fmt: 's' const char * (text; NULL binds NULL), 'i'
 * int64_t (bigint), 'b' const void * then size_t (bytea). schema (NULL: none) replaces every
 * "@." of sql (a tenant store's tables). write: the statement changes something, so with w it
 * joins w's transaction first. res (optional) receives the rows, binary (read them with the
 * cst_pgd_col_* functions, then PQclear); changes (optional) how many rows it changed. */
CST_MUST_USE cst_err cst_pgd_run(pg_store *st, const char *schema, cst_work *w, bool write,
                                 PGresult **res, int64_t *changes, const char *sql, const char *fmt,
                                 ...);
/* Runs a query and calls visit for each row (an error it returns stops and is returned);
 * *rows (optional) gets how many rows there were. */
CST_MUST_USE cst_err cst_pgd_each(pg_store *st, const char *schema, cst_work *w,
                                  cst_err (*visit)(const PGresult *r, int row, void *ctx),
                                  void *ctx, int *rows, const char *sql, const char *fmt, ...);
/* The one row of a query, given to decode; CST_ERR_NOT_FOUND (with what as its message) when
 * there is none. */
CST_MUST_USE cst_err cst_pgd_one(pg_store *st, const char *schema, cst_work *w,
                                 void (*decode)(const PGresult *r, int row, void *out), void *out,
                                 const char *what, const char *sql, const char *fmt, ...);
/* Runs constant SQL (DDL, several statements) inside w's transaction (joined), or on its own
 * connection in a transaction of its own without w. */
CST_MUST_USE cst_err cst_pgd_ddl(pg_store *st, cst_work *w, const char *sql);
/* cst_pgd_ddl with each "@." of sql replaced by schema (NULL: none), as cst_pgd_run's. */
CST_MUST_USE cst_err cst_pgd_ddl_in(pg_store *st, const char *schema, cst_work *w, const char *sql);

/* Column readers of binary results: NULL reads as 0, "" or nothing. */
int64_t cst_pgd_col_int(const PGresult *r, int row, int col);
bool cst_pgd_col_bool(const PGresult *r, int row, int col);
void cst_pgd_col_text(const PGresult *r, int row, int col, char *out, size_t n);
/* Copies at most cap bytes; returns how many the column has (more than cap: truncated). */
size_t cst_pgd_col_bytes(const PGresult *r, int row, int col, uint8_t *out, size_t cap);
CST_MUST_USE cst_err cst_pgd_col_buf(const PGresult *r, int row, int col, cst_buf *out);

/* A visitor per row type, as the SQLite driver's: decodes a row and hands it to fn. */
#define CST_PGD_VISITOR(name, type, decode)                                                        \
    struct name##_visit {                                                                          \
        cst_err (*fn)(const type *, void *);                                                       \
        void *ctx;                                                                                 \
        type row;                                                                                  \
    };                                                                                             \
    static cst_err name##_visit(const PGresult *r, int i, void *p)                                 \
    {                                                                                              \
        struct name##_visit *v = p;                                                                \
        decode(r, i, &v->row);                                                                     \
        return v->fn(&v->row, v->ctx);                                                             \
    }

/* The driver's operations: the store.h function of the same name with "postgres_" after
 * "cst_". */
#define CST_PGD_OP_PROTO(on, type, name, params, args) type cst_postgres_##name params;
CST_STORE_OPS(CST_PGD_OP_PROTO)
CST_MUST_USE cst_err cst_postgres_store_open(const cst_store_conf *c, bool create, cst_store **out);
void cst_postgres_store_close(cst_store *st);
void cst_postgres_tstore_close(cst_tstore *ts);
void cst_postgres_tstore_close_warm(cst_tstore *ts);
void cst_postgres_tstore_rollback(cst_tstore *ts, cst_work *w);
CST_MUST_USE cst_err cst_pgd_res_begin(void *res, const cst_txn *t);
CST_MUST_USE cst_err cst_pgd_res_commit(void *res);
void cst_pgd_res_rollback(void *res);
CST_MUST_USE cst_err cst_pgd_res_savepoint(void *res);
CST_MUST_USE cst_err cst_pgd_res_release(void *res);
void cst_pgd_res_rollback_to(void *res);

/* IAM-5: the principals epoch (epoch.c), a counter every node shares: each write to users,
 * tokens, tenants or tenant keys (the P and A operations of driver.h) bumps it in the same
 * transaction as the write, so that a node sees another node's change of principals. A
 * statement of one write carries the bump as a CTE ("WITH " CST_PGD_BUMP " UPDATE ..."): one
 * statement, atomic with or without a unit of work. cst_pgd_principals_bump runs it as a
 * statement of its own through w, after the writes of an operation of several statements. */
#define CST_PGD_BUMP_SQL "UPDATE custodia_system.principals_epoch SET n = n + 1"
#define CST_PGD_BUMP "bump AS (" CST_PGD_BUMP_SQL ")"
CST_MUST_USE cst_err cst_pgd_principals_bump(pg_store *st, cst_work *w);
/* In a unit of work, the bump is the transaction's last statement before its COMMIT (driver.c:
 * a statement given with "WITH " CST_PGD_BUMP through w runs without it and marks this):
 * cst_pgd_bump_at_commit marks it for w's transaction, joining it. */
CST_MUST_USE cst_err cst_pgd_bump_at_commit(pg_store *st, cst_work *w);
/* The connection of this thread's transaction on st, or NULL. */
cst_pg_conn *cst_pgd_thread_conn(const pg_store *st);
/* The epoch's value now (committed writes only; read on a connection of its own). */
CST_MUST_USE cst_err cst_pgd_principals_epoch(pg_store *st, uint64_t *n);
/* The driver table's principals_epoch (driver.h): the epoch, false (logged) when unreadable. */
bool cst_pgd_principals_epoch_now(cst_store *st, uint64_t *n);

/* This node's key (meta.c): read from its data dir, or made there when create; registered in
 * custodia_system.nodes (a key made here: by the meta_set of its node_id). */
CST_MUST_USE cst_err cst_pgd_node_key(pg_store *st, bool create);
/* Whether data_dir has a node key (a node of some database). */
bool cst_pgd_node_exists(const char *data_dir);

/* The schema migrations of the system store (schema.c). */
extern const cst_pg_migration cst_pgd_migrations[];
extern const size_t cst_pgd_migrations_n;

#endif
