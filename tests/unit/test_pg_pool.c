/* test_pg_pool.c: the PostgreSQL driver's foundation (issue 20) against a throw-away
 * PostgreSQL 15 cluster (tests/pg_cluster.c): statements run prepared once per connection and
 * schema-qualified, the pool's bound (a fifth acquire of four waits, then times out), a backend
 * killed with pg_terminate_backend replaced, migrations from two nodes at once applied once
 * each, DSN passwords never in a message, and the cluster gone without a trace when stopped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "store/postgres/pool.h"
#include "pg_cluster.h"

static ts_pg cluster;

static int start_cluster(void **state)
{
    return ts_pg_start(&cluster) ? 0 : -1;
}

static int stop_cluster(void **state)
{
    return cluster.pid == 0 || ts_pg_stop(&cluster) ? 0 : -1;
}

static cst_pg_pool *open_pool(int size)
{
    cst_pg_pool *p = NULL;
    assert_int_equal(cst_pg_pool_open(cluster.dsn, size, &p), CST_OK);
    return p;
}

/* The first column of the first row of statement name on c, as an integer. */
static long one_value(cst_pg_conn *c, const char *name, const char *sql, int n,
                      const char *const *params)
{
    PGresult *r = NULL;
    assert_int_equal(cst_pg_exec(c, name, sql, n, params, &r), CST_OK);
    assert_int_equal(PQntuples(r), 1);
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void test_statements_prepared_once_and_qualified(void **state)
{
    cst_pg_pool *p = open_pool(4);
    cst_pg_conn *c = NULL;
    assert_int_equal(cst_pg_acquire(p, 1000, &c), CST_OK);
    assert_int_equal(cst_pg_run(c, "CREATE SCHEMA t_stmt; CREATE TABLE t_stmt.kv "
                                   "(k text PRIMARY KEY, v text)"),
                     CST_OK);
    const char *ins = "INSERT INTO t_stmt.kv (k, v) VALUES ($1, $2)";
    const char *a[2] = {"a", "1"}, *b[2] = {"b", "2"};
    assert_int_equal(cst_pg_exec(c, "kv_put", ins, 2, a, NULL), CST_OK);
    assert_int_equal(cst_pg_exec(c, "kv_put", ins, 2, b, NULL), CST_OK);
    /* Prepared once on this connection, executed twice. */
    const char *name[1] = {"kv_put"};
    assert_int_equal(one_value(c, "count_prepared",
                               "SELECT pg_catalog.count(*) FROM pg_catalog.pg_prepared_statements "
                               "WHERE name = $1",
                               1, name),
                     1);
    const char *k[1] = {"b"};
    assert_int_equal(one_value(c, "kv_get", "SELECT v FROM t_stmt.kv WHERE k = $1", 1, k), 2);
    /* A duplicate key is a conflict; the connection stays usable. */
    assert_int_equal(cst_pg_exec(c, "kv_put", ins, 2, a, NULL), CST_ERR_CONFLICT);
    assert_non_null(strstr(cst_err_message(CST_ERR_CONFLICT), "23505"));
    /* The search path is empty: an unqualified name does not resolve. */
    assert_int_equal(cst_pg_exec(c, "kv_unqualified", "SELECT v FROM kv", 0, NULL, NULL),
                     CST_ERR_INTERNAL);
    assert_non_null(strstr(cst_err_message(CST_ERR_INTERNAL), "42P01"));
    /* One name, one text. */
    assert_int_equal(cst_pg_exec(c, "kv_put", "SELECT 1", 0, NULL, NULL), CST_ERR_INTERNAL);
    assert_non_null(strstr(cst_err_message(CST_ERR_INTERNAL), "two different SQL texts"));
    assert_int_equal(one_value(c, "kv_count", "SELECT pg_catalog.count(*) FROM t_stmt.kv", 0, NULL),
                     2);
    /* A transaction left open is rolled back at release. */
    assert_int_equal(cst_pg_run(c, "BEGIN"), CST_OK);
    const char *d[2] = {"d", "4"};
    assert_int_equal(cst_pg_exec(c, "kv_put", ins, 2, d, NULL), CST_OK);
    cst_pg_release(p, c);
    assert_int_equal(cst_pg_acquire(p, 1000, &c), CST_OK);
    assert_int_equal(one_value(c, "kv_count", "SELECT pg_catalog.count(*) FROM t_stmt.kv", 0, NULL),
                     2);
    cst_pg_release(p, c);
    cst_pg_pool_close(p);
}

struct waiter {
    cst_pg_pool *p;
    cst_err e;
};

static void *wait_for_one(void *arg)
{
    struct waiter *w = arg;
    cst_pg_conn *c = NULL;
    w->e = cst_pg_acquire(w->p, 20000, &c);
    cst_pg_release(w->p, c);
    return NULL;
}

static void test_pool_bound(void **state)
{
    cst_pg_pool *p = open_pool(4);
    cst_pg_conn *c[4] = {0}, *fifth = NULL;
    for (int i = 0; i < 4; i++)
        assert_int_equal(cst_pg_acquire(p, 1000, &c[i]), CST_OK);
    for (int i = 1; i < 4; i++)
        assert_ptr_not_equal(c[i], c[0]);
    /* A fifth waits its timeout out and fails cleanly. */
    assert_int_equal(cst_pg_acquire(p, 200, &fifth), CST_ERR_UNAVAILABLE);
    assert_null(fifth);
    assert_non_null(strstr(cst_err_message(CST_ERR_UNAVAILABLE), "all 4 connections"));
    /* A waiter gets the connection released while it waits. */
    struct waiter w = {p, CST_ERR_INTERNAL};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_for_one, &w), 0);
    cst_pg_release(p, c[2]);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(w.e, CST_OK);
    for (int i = 0; i < 4; i++)
        if (i != 2)
            cst_pg_release(p, c[i]);
    /* Bad sizes are refused. */
    cst_pg_pool *q = NULL;
    assert_int_equal(cst_pg_pool_open(cluster.dsn, 0, &q), CST_ERR_INVALID);
    assert_int_equal(cst_pg_pool_open(cluster.dsn, CST_PG_POOL_MAX + 1, &q), CST_ERR_INVALID);
    assert_null(q);
    cst_pg_pool_close(p);
}

static void test_broken_connection_replaced(void **state)
{
    cst_pg_pool *p = open_pool(4);
    cst_pg_conn *victim = NULL, *killer = NULL;
    assert_int_equal(cst_pg_acquire(p, 1000, &victim), CST_OK);
    assert_int_equal(cst_pg_acquire(p, 1000, &killer), CST_OK);
    const char *noop = "SELECT 1";
    assert_int_equal(one_value(victim, "noop", noop, 0, NULL), 1);
    int old = PQbackendPID(cst_pg_conn_pq(victim));
    char pid[16];
    snprintf(pid, sizeof pid, "%d", old);
    const char *params[1] = {pid};
    /* The timeout makes pg_terminate_backend wait until the backend has exited. */
    assert_int_equal(
        one_value(killer, "terminate",
                  "SELECT pg_catalog.pg_terminate_backend($1::integer, 10000)::integer", 1, params),
        1);
    cst_pg_release(p, killer);
    assert_int_equal(cst_pg_exec(victim, "noop", noop, 0, NULL, NULL), CST_ERR_UNAVAILABLE);
    assert_non_null(
        strstr(cst_err_message(CST_ERR_UNAVAILABLE), "connection to the database broke"));
    cst_pg_release(p, victim);
    /* Every connection of the pool works again; the killed backend is not among them. */
    cst_pg_conn *all[4] = {0};
    int fresh = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cst_pg_acquire(p, 1000, &all[i]), CST_OK);
        assert_int_equal(one_value(all[i], "noop", noop, 0, NULL), 1);
        int now = PQbackendPID(cst_pg_conn_pq(all[i]));
        assert_int_not_equal(now, old);
        fresh += all[i] == victim;
    }
    assert_int_equal(fresh, 1);
    for (int i = 0; i < 4; i++)
        cst_pg_release(p, all[i]);
    cst_pg_pool_close(p);
}

static const cst_pg_migration migrations[] = {
    {1, "CREATE TABLE custodia_system.mig_log (v integer PRIMARY KEY); "
        "INSERT INTO custodia_system.mig_log VALUES (1)"},
    {2, "INSERT INTO custodia_system.mig_log VALUES (2)"},
    {3, "ALTER TABLE custodia_system.mig_log ADD COLUMN note text; "
        "INSERT INTO custodia_system.mig_log VALUES (3, 'three')"},
    {4, "INSERT INTO custodia_system.mig_log VALUES (4)"},
};

struct node {
    pthread_barrier_t *start;
    size_t n;
    cst_err e;
    int applied;
};

/* One node starting: its own pool, the migrations, as soon as the other node starts too. */
static void *node_start(void *arg)
{
    struct node *n = arg;
    cst_pg_pool *p = NULL;
    n->e = cst_pg_pool_open(cluster.dsn, 2, &p);
    pthread_barrier_wait(n->start);
    if (n->e == CST_OK)
        n->e = cst_pg_migrate(p, migrations, n->n, &n->applied);
    if (n->e != CST_OK)
        fprintf(stderr, "node: %s\n", cst_err_message(n->e));
    cst_pg_pool_close(p);
    return NULL;
}

static void test_migrations_once_from_two_nodes(void **state)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    struct node a = {&start, 3, CST_ERR_INTERNAL, -1}, b = a;
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, node_start, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, node_start, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&start);
    assert_int_equal(a.e, CST_OK);
    assert_int_equal(b.e, CST_OK);
    assert_int_equal(a.applied + b.applied, 3);
    assert_true(a.applied == 0 || b.applied == 0);

    cst_pg_pool *p = open_pool(1);
    cst_pg_conn *c = NULL;
    assert_int_equal(cst_pg_acquire(p, 1000, &c), CST_OK);
    const char *log = "SELECT pg_catalog.count(*) * 100 + pg_catalog.sum(v) FROM "
                      "custodia_system.mig_log";
    const char *ver = "SELECT pg_catalog.count(*) * 100 + pg_catalog.max(version) FROM "
                      "custodia_system.schema_version";
    assert_int_equal(one_value(c, "mig_log", log, 0, NULL), 306);
    assert_int_equal(one_value(c, "mig_ver", ver, 0, NULL), 303);
    cst_pg_release(p, c);

    /* A later start applies only the new one; a second, nothing. */
    int applied = -1;
    assert_int_equal(cst_pg_migrate(p, migrations, 4, &applied), CST_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(cst_pg_migrate(p, migrations, 4, &applied), CST_OK);
    assert_int_equal(applied, 0);
    /* An older binary against the newer schema refuses to start. */
    assert_int_equal(cst_pg_migrate(p, migrations, 2, &applied), CST_ERR_INTERNAL);
    assert_non_null(strstr(cst_err_message(CST_ERR_INTERNAL), "newer than this custodia"));
    /* A table with a gap is refused before touching the database. */
    const cst_pg_migration gap[] = {{1, "SELECT 1"}, {3, "SELECT 1"}};
    assert_int_equal(cst_pg_migrate(p, gap, 2, &applied), CST_ERR_INTERNAL);
    /* A failing migration rolls back whole: neither its SQL nor its version stays. */
    const cst_pg_migration bad[] = {
        migrations[0],
        migrations[1],
        migrations[2],
        migrations[3],
        {5, "INSERT INTO custodia_system.mig_log VALUES (5); SELECT 1/0"},
    };
    assert_int_equal(cst_pg_migrate(p, bad, 5, &applied), CST_ERR_INTERNAL);
    assert_non_null(strstr(cst_err_message(CST_ERR_INTERNAL), "schema migration 5 failed"));
    assert_int_equal(cst_pg_acquire(p, 1000, &c), CST_OK);
    assert_int_equal(one_value(c, "mig_log", log, 0, NULL), 410);
    assert_int_equal(one_value(c, "mig_ver", ver, 0, NULL), 404);
    cst_pg_release(p, c);
    cst_pg_pool_close(p);
}

static void test_dsn_password_never_in_messages(void **state)
{
    cst_pg_pool *p = NULL;
    /* Not a connection string: libpq's own message would quote it. */
    assert_int_equal(cst_pg_pool_open("host=/nowhere password=s3cretpw bogus", 2, &p),
                     CST_ERR_INVALID);
    assert_null(strstr(cst_err_message(CST_ERR_INVALID), "s3cretpw"));
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "not a libpq connection string"));
    /* A server that is not there. */
    char dsn[512];
    snprintf(dsn, sizeof dsn, "host=%s port=1 user=%s password=s3cretpw", cluster.dir, TS_PG_USER);
    assert_int_equal(cst_pg_pool_open(dsn, 2, &p), CST_ERR_UNAVAILABLE);
    assert_null(p);
    assert_null(strstr(cst_err_message(CST_ERR_UNAVAILABLE), "s3cretpw"));
    assert_non_null(strstr(cst_err_message(CST_ERR_UNAVAILABLE), "cannot connect"));
    /* A database that is not there: the server answers, with the user and database names. */
    snprintf(dsn, sizeof dsn, "%s dbname=s3cretpw password=s3cretpw", cluster.dsn);
    assert_int_equal(cst_pg_pool_open(dsn, 2, &p), CST_ERR_UNAVAILABLE);
    assert_null(strstr(cst_err_message(CST_ERR_UNAVAILABLE), "s3cretpw"));
}

static void test_cluster_stops_without_a_trace(void **state)
{
    char dir[sizeof cluster.dir], dsn[sizeof cluster.dsn];
    snprintf(dir, sizeof dir, "%s", cluster.dir);
    snprintf(dsn, sizeof dsn, "%s", cluster.dsn);
    assert_int_equal(PQping(dsn), PQPING_OK);
    pid_t pid = cluster.pid;
    assert_true(pid > 0);
    assert_true(ts_pg_stop(&cluster));
    assert_int_equal(cluster.pid, 0);
    struct stat st;
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(kill(pid, 0), -1); /* reaped: no such process */
    assert_int_equal(errno, ESRCH);
    assert_int_equal(PQping(dsn), PQPING_NO_RESPONSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statements_prepared_once_and_qualified),
        cmocka_unit_test(test_pool_bound),
        cmocka_unit_test(test_broken_connection_replaced),
        cmocka_unit_test(test_migrations_once_from_two_nodes),
        cmocka_unit_test(test_dsn_password_never_in_messages),
        cmocka_unit_test(test_cluster_stops_without_a_trace),
    };
    return cmocka_run_group_tests(tests, start_cluster, stop_cluster);
}
