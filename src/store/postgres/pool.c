/* pool.c: the bounded libpq connection pool, per-connection prepared statements and start-up
 * schema migrations of the PostgreSQL driver (issue 20). */
#include "store/postgres/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The advisory lock the migrations run under: "custodia" in ASCII, one key for every node of
 * a cluster. */
#define MIGRATE_LOCK_SQL "SELECT pg_catalog.pg_advisory_xact_lock(7166819461520565601)"
#define SYSTEM_SCHEMA_SQL                                                                          \
    "CREATE SCHEMA IF NOT EXISTS custodia_system; "                                                \
    "CREATE TABLE IF NOT EXISTS custodia_system.schema_version ("                                  \
    "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT pg_catalog.now())"
/* Every session: an empty search path (statements are schema-qualified, so an unqualified name
 * fails instead of resolving through what a pooler's session last set), and notices below
 * warnings (the migrations' IF NOT EXISTS) not printed by libpq. */
#define SESSION_SQL                                                                                \
    "SELECT pg_catalog.set_config('search_path', '', false), "                                     \
    "pg_catalog.set_config('client_min_messages', 'warning', false), "                             \
    "pg_catalog.set_config('lock_timeout', '30s', false)"
#define ERRMSG 512

struct cst_pg_conn {
    cst_pg_pool *pool;
    PGconn *pq; /* NULL: closed (broken), reconnected by the next acquire */
    bool busy;  /* under pool->mu */
    int nstmt;
    uint64_t clock; /* statement uses, for least recently used eviction */
    char *stmt_name[CST_PG_STMT_CACHE];
    char *stmt_sql[CST_PG_STMT_CACHE];
    uint64_t stmt_used[CST_PG_STMT_CACHE];
};

struct cst_pg_pool {
    pthread_mutex_t mu;
    pthread_cond_t freed;
    char *dsn;
    char *password; /* the DSN's, only to scrub it from libpq's messages; NULL when none */
    int size;
    cst_pg_conn *conns;
};

/* Copies libpq's message msg into out without its trailing newline and with every occurrence
 * of the DSN's password replaced by "***" (libpq does not echo it today; this keeps it so). */
static void scrub(const cst_pg_pool *p, const char *msg, char *out, size_t n)
{
    size_t o = 0, plen = p->password ? strlen(p->password) : 0;
    for (const char *s = msg ? msg : ""; *s && o + 1 < n;) {
        if (plen > 0 && strncmp(s, p->password, plen) == 0) {
            for (const char *r = "***"; *r && o + 1 < n; r++)
                out[o++] = *r;
            s += plen;
        } else {
            out[o++] = *s == '\n' ? ' ' : *s;
            s++;
        }
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

static cst_err forget_one(cst_pg_conn *c, int i, bool dealloc);

static void forget_statements(cst_pg_conn *c)
{
    while (c->nstmt > 0) {
        cst_err gone = forget_one(c, c->nstmt - 1, false); /* cannot fail without dealloc */
        (void)gone;
    }
}

static void disconnect(cst_pg_conn *c)
{
    PQfinish(c->pq);
    c->pq = NULL;
    forget_statements(c);
}

/* The SQLSTATEs of CST_ERR_CONFLICT: a unique violation, a restrict violation (raised by the
 * incident timeline's append-only trigger: schema.c v2), a serialization failure, a deadlock. */
static const char *const conflict_states[] = {"23505", "23001", "40001", "40P01"};
/* The SQLSTATEs of CST_ERR_UNAVAILABLE (503, nothing changed), as SQLite's SQLITE_FULL and
 * SQLITE_IOERR are (sqlite/db.c map_rc): the database's disk is full, an I/O error. */
static const char *const unavailable_states[] = {"53100", "58030"};

static bool state_in(const char *state, const char *const *states, size_t n)
{
    for (size_t i = 0; state && i < n; i++)
        if (strcmp(state, states[i]) == 0)
            return true;
    return false;
}

/* A failed command or connection: CST_ERR_UNAVAILABLE when the connection is gone or for
 * unavailable_states, CST_ERR_CONFLICT for conflict_states, CST_ERR_INTERNAL else.
 * Only the primary message is kept: PostgreSQL's DETAIL may quote row values. */
static cst_err pg_fail(cst_pg_conn *c, const PGresult *res, const char *what)
{
    char msg[ERRMSG];
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    scrub(c->pool, primary ? primary : PQerrorMessage(c->pq), msg, sizeof msg);
    if (PQstatus(c->pq) == CONNECTION_BAD)
        return cst_fail(CST_ERR_UNAVAILABLE,
                        "postgresql: %s: the connection to the database broke (%s); it is "
                        "replaced when released",
                        what, msg);
    cst_err e = CST_ERR_INTERNAL;
    if (state_in(state, conflict_states, sizeof(conflict_states) / sizeof(*conflict_states)))
        e = CST_ERR_CONFLICT;
    else if (state_in(state, unavailable_states,
                      sizeof(unavailable_states) / sizeof(*unavailable_states)))
        e = CST_ERR_UNAVAILABLE;
    return cst_fail(e, "postgresql: %s: %s (SQLSTATE %s)", what, msg, state ? state : "none");
}

/* Takes res and checks it: CST_OK when the command succeeded (then *out gets res, or res is
 * cleared when out is NULL). */
static cst_err check(cst_pg_conn *c, PGresult *res, const char *what, PGresult **out)
{
    ExecStatusType st = PQresultStatus(res);
    if (res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) {
        if (out)
            *out = res;
        else
            PQclear(res);
        return CST_OK;
    }
    cst_err e = pg_fail(c, res, what);
    PQclear(res);
    return e;
}

/* Opens c's connection and sets its session up (SESSION_SQL). */
static cst_err connect_one(cst_pg_conn *c)
{
    char msg[ERRMSG];
    c->pq = PQconnectdb(c->pool->dsn);
    if (!c->pq)
        return cst_fail(CST_ERR_INTERNAL, "postgresql: out of memory opening a connection");
    if (PQstatus(c->pq) != CONNECTION_OK) {
        scrub(c->pool, PQerrorMessage(c->pq), msg, sizeof msg);
        disconnect(c);
        return cst_fail(CST_ERR_UNAVAILABLE,
                        "postgresql: cannot connect to the database (%s): check store.dsn and "
                        "that the server is up",
                        msg);
    }
    cst_err e = check(c, PQexec(c->pq, SESSION_SQL), "setting up the session", NULL);
    if (e != CST_OK)
        disconnect(c);
    return e;
}

/* The DSN's password (a copy, or NULL when it has none); CST_ERR_INVALID when libpq cannot
 * parse the DSN. libpq's parse message may quote the DSN, so it is not repeated. */
static cst_err dsn_password(const char *dsn, char **password)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &err);
    if (!opts) {
        PQfreemem(err);
        return cst_fail(CST_ERR_INVALID,
                        "postgresql: store.dsn is not a libpq connection string (key=value ... "
                        "or postgresql://...); its text is not repeated here, it may hold a "
                        "password");
    }
    cst_err e = CST_OK;
    *password = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0]) {
            *password = strdup(o->val);
            if (!*password)
                e = cst_fail(CST_ERR_INTERNAL, "postgresql: out of memory");
        }
    PQconninfoFree(opts);
    return e;
}

void cst_pg_pool_close(cst_pg_pool *p)
{
    if (!p)
        return;
    for (int i = 0; p->conns && i < p->size; i++)
        disconnect(&p->conns[i]);
    free(p->conns);
    if (p->password)
        explicit_bzero(p->password, strlen(p->password));
    free(p->password);
    if (p->dsn)
        explicit_bzero(p->dsn, strlen(p->dsn));
    free(p->dsn);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

cst_err cst_pg_pool_open(const char *dsn, int size, cst_pg_pool **out)
{
    *out = NULL;
    ENSURE(dsn, CST_ERR_INVALID, "postgresql: no store.dsn given");
    ENSURE(size >= 1 && size <= CST_PG_POOL_MAX, CST_ERR_INVALID,
           "postgresql: a pool of %d connections: give 1 to %d", size, CST_PG_POOL_MAX);
    cst_pg_pool *p = calloc(1, sizeof *p);
    ENSURE(p, CST_ERR_INTERNAL, "postgresql: out of memory");
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &ca);
    pthread_condattr_destroy(&ca);
    cst_err e = dsn_password(dsn, &p->password);
    if (e == CST_OK) {
        p->dsn = strdup(dsn);
        p->conns = calloc((size_t)size, sizeof *p->conns);
        if (!p->dsn || !p->conns)
            e = cst_fail(CST_ERR_INTERNAL, "postgresql: out of memory");
    }
    if (e == CST_OK)
        p->size = size;
    for (int i = 0; e == CST_OK && i < size; i++) {
        p->conns[i].pool = p;
        e = connect_one(&p->conns[i]);
    }
    if (e == CST_OK)
        *out = p;
    else
        cst_pg_pool_close(p);
    return e;
}

cst_err cst_pg_acquire(cst_pg_pool *p, int timeout_ms, cst_pg_conn **out)
{
    *out = NULL;
    if (timeout_ms < 0)
        timeout_ms = 0;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    cst_pg_conn *c = NULL;
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        for (int i = 0; !c && i < p->size; i++)
            if (!p->conns[i].busy)
                c = &p->conns[i];
        if (c || rc == ETIMEDOUT)
            break;
        rc = pthread_cond_timedwait(&p->freed, &p->mu, &until);
    }
    if (c)
        c->busy = true;
    pthread_mutex_unlock(&p->mu);
    ENSURE(c, CST_ERR_UNAVAILABLE,
           "postgresql: all %d connections of the pool stayed busy for %d ms: raise "
           "store.pool_size or find what holds them",
           p->size, timeout_ms);
    if (c->pq && PQstatus(c->pq) == CONNECTION_BAD)
        disconnect(c);
    cst_err e = c->pq ? CST_OK : connect_one(c);
    if (e == CST_OK)
        *out = c;
    else
        cst_pg_release(p, c);
    return e;
}

void cst_pg_release(cst_pg_pool *p, cst_pg_conn *c)
{
    if (!c)
        return;
    if (c->pq) {
        PGTransactionStatusType ts = PQtransactionStatus(c->pq);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
            PGresult *r = PQexec(c->pq, "ROLLBACK");
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                ts = PQTRANS_UNKNOWN;
            PQclear(r);
        }
        if (ts == PQTRANS_UNKNOWN || ts == PQTRANS_ACTIVE || PQstatus(c->pq) == CONNECTION_BAD)
            disconnect(c);
    }
    pthread_mutex_lock(&p->mu);
    c->busy = false;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
}

PGconn *cst_pg_conn_pq(cst_pg_conn *c)
{
    return c->pq;
}

/* Forgets statement i of c's cache (DEALLOCATE on the server first when dealloc). A failed
 * DEALLOCATE (in a transaction that is aborted) keeps the entry: the server still has the
 * statement, and a later prepare of its name would fail for the connection's life. */
static cst_err forget_one(cst_pg_conn *c, int i, bool dealloc)
{
    cst_err e = CST_OK;
    if (dealloc) {
        char *q = PQescapeIdentifier(c->pq, c->stmt_name[i], strlen(c->stmt_name[i]));
        char sql[160];
        if (q)
            snprintf(sql, sizeof sql, "DEALLOCATE %s", q);
        e = q ? check(c, PQexec(c->pq, sql), "deallocate", NULL)
              : cst_fail(CST_ERR_INTERNAL, "postgresql: out of memory");
        PQfreemem(q);
        if (e != CST_OK)
            return e;
    }
    free(c->stmt_name[i]);
    free(c->stmt_sql[i]);
    c->nstmt--;
    c->stmt_name[i] = c->stmt_name[c->nstmt];
    c->stmt_sql[i] = c->stmt_sql[c->nstmt];
    c->stmt_used[i] = c->stmt_used[c->nstmt];
    return e;
}

/* Prepares name on c unless it already is: CST_OK when it is ready to execute. When the cache
 * is full, the least recently used statement is deallocated first (a driver with a schema per
 * tenant prepares each tenant's statements on the connections that serve it). */
static cst_err prepared(cst_pg_conn *c, const char *name, const char *sql, int nparams,
                        const unsigned *types)
{
    for (int i = 0; i < c->nstmt; i++)
        if (strcmp(c->stmt_name[i], name) == 0) {
            ENSURE(strcmp(c->stmt_sql[i], sql) == 0, CST_ERR_INTERNAL,
                   "postgresql: statement %s given two different SQL texts", name);
            c->stmt_used[i] = ++c->clock;
            return CST_OK;
        }
    if (c->nstmt == CST_PG_STMT_CACHE) {
        int lru = 0;
        for (int i = 1; i < c->nstmt; i++)
            if (c->stmt_used[i] < c->stmt_used[lru])
                lru = i;
        TRY(forget_one(c, lru, true));
    }
    TRY(check(c, PQprepare(c->pq, name, sql, nparams, (const Oid *)types), name, NULL));
    char *n = strdup(name), *s = strdup(sql);
    if (!n || !s) {
        free(n);
        free(s);
        return cst_fail(CST_ERR_INTERNAL, "postgresql: out of memory");
    }
    c->stmt_name[c->nstmt] = n;
    c->stmt_sql[c->nstmt] = s;
    c->stmt_used[c->nstmt] = ++c->clock;
    c->nstmt++;
    return CST_OK;
}

cst_err cst_pg_exec(cst_pg_conn *c, const char *name, const char *sql, int nparams,
                    const char *const *params, PGresult **res)
{
    return cst_pg_execv(c, name, sql, nparams, NULL, params, NULL, NULL, 0, res);
}

cst_err cst_pg_execv(cst_pg_conn *c, const char *name, const char *sql, int nparams,
                     const unsigned *types, const char *const *values, const int *lengths,
                     const int *formats, int result_format, PGresult **res)
{
    if (res)
        *res = NULL;
    TRY(prepared(c, name, sql, nparams, types));
    return check(c, PQexecPrepared(c->pq, name, nparams, values, lengths, formats, result_format),
                 name, res);
}

cst_err cst_pg_commit(cst_pg_conn *c)
{
    /* PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK, and no error */
    ENSURE(PQtransactionStatus(c->pq) != PQTRANS_INERROR, CST_ERR_UNAVAILABLE,
           "postgresql: a statement of the transaction failed, so it was rolled back");
    PGresult *r = NULL;
    TRY(check(c, PQexec(c->pq, "COMMIT"), "commit", &r));
    bool committed = strcmp(PQcmdStatus(r), "COMMIT") == 0;
    PQclear(r);
    ENSURE(committed, CST_ERR_UNAVAILABLE,
           "postgresql: the transaction was rolled back by the database instead of committed");
    return CST_OK;
}

cst_err cst_pg_run(cst_pg_conn *c, const char *sql)
{
    return check(c, PQexec(c->pq, sql), "constant SQL", NULL);
}

/* m is 1, 2, 3 ... in order, each with its SQL. */
static cst_err check_migrations(const cst_pg_migration *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ENSURE(m[i].version == (int)i + 1 && m[i].sql, CST_ERR_INTERNAL,
               "postgresql: migration %zu of the table is version %d: versions run 1, 2, 3 "
               "... in order, each with its SQL",
               i + 1, m[i].version);
    return CST_OK;
}

/* The schema's version (0: none yet), read inside the migration's transaction. */
static cst_err schema_version(cst_pg_conn *c, int *version)
{
    PGresult *r = NULL;
    TRY(cst_pg_exec(c, "cst_schema_version",
                    "SELECT COALESCE(pg_catalog.max(version), 0) "
                    "FROM custodia_system.schema_version",
                    0, NULL, &r));
    *version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return CST_OK;
}

static cst_err apply_one(cst_pg_conn *c, const cst_pg_migration *m)
{
    char v[16];
    snprintf(v, sizeof v, "%d", m->version);
    const char *params[1] = {v};
    cst_err e = cst_pg_run(c, m->sql);
    if (e != CST_OK) {
        char why[ERRMSG];
        snprintf(why, sizeof why, "%s", cst_err_message(e));
        return cst_fail(e, "postgresql: schema migration %d failed: %s", m->version, why);
    }
    return cst_pg_exec(c, "cst_schema_version_add",
                       "INSERT INTO custodia_system.schema_version (version) VALUES ($1)", 1,
                       params, NULL);
}

cst_err cst_pg_migrate(cst_pg_pool *p, const cst_pg_migration *m, size_t n, int *applied)
{
    if (applied)
        *applied = 0;
    TRY(check_migrations(m, n));
    cst_pg_conn *c = NULL;
    TRY(cst_pg_acquire(p, 30000, &c));
    int version = 0, done = 0;
    cst_err e = cst_pg_run(c, "BEGIN");
    if (e == CST_OK)
        e = cst_pg_run(c, MIGRATE_LOCK_SQL);
    if (e == CST_OK)
        e = cst_pg_run(c, SYSTEM_SCHEMA_SQL);
    if (e == CST_OK)
        e = schema_version(c, &version);
    if (e == CST_OK && version > (int)n)
        e = cst_fail(CST_ERR_INTERNAL,
                     "postgresql: the database schema is at version %d, newer than this "
                     "custodia knows (%zu): upgrade custodia on this node",
                     version, n);
    for (size_t i = (size_t)version; e == CST_OK && i < n; i++, done++)
        e = apply_one(c, &m[i]);
    if (e == CST_OK)
        e = cst_pg_commit(c);
    if (e == CST_OK && applied)
        *applied = done;
    cst_pg_release(p, c); /* rolls back whatever a failure left open */
    return e;
}
