/* pg_cluster.h: a throw-away PostgreSQL 15 cluster for the tests of the PostgreSQL driver
 * (issue 20). ts_pg_start runs initdb into a fresh temporary dir and starts postgres on a unix
 * socket in that dir only (listen_addresses is empty: no TCP port, so no port to race for);
 * ts_pg_stop stops it by PID and removes the dir. No system service is touched and nothing is
 * written outside the dir.
 *
 * PostgreSQL refuses to run as root: under root, initdb and postgres run as the `postgres`
 * system user (made by Debian's postgresql-common), or `nobody` when there is none, by
 * setgid/setuid in the forked child; the temporary dir is chowned to that user. Otherwise they
 * run as the current user. The cluster trusts local connections (initdb -A trust) as the
 * superuser TS_PG_USER: it only ever listens in a 0700 dir of the test. */
#ifndef CST_PG_CLUSTER_H
#define CST_PG_CLUSTER_H

#include <stdbool.h>
#include <sys/types.h>

#define TS_PG_BIN "/usr/lib/postgresql/15/bin"
#define TS_PG_USER "custodia"
#define TS_PG_PORT 5432 /* names the socket file (.s.PGSQL.5432) in the dir; no TCP */

typedef struct ts_pg {
    char dir[64];  /* the temporary dir: data/ (the cluster), the socket, postgres.log */
    char dsn[256]; /* libpq connection string to database postgres as TS_PG_USER */
    pid_t pid;     /* the postmaster, 0 when not running */
} ts_pg;

/* Makes and starts the cluster; waits (bounded) until it accepts connections. false, with the
 * reason (and the server's log) on stderr, when it cannot; nothing is left behind then. */
bool ts_pg_start(ts_pg *pg);
/* Stops the postmaster (SIGINT: fast shutdown; SIGKILL when it has not exited after a bound)
 * and removes the dir. true when both succeeded. */
bool ts_pg_stop(ts_pg *pg);

#endif
