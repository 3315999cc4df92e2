/* pg_cluster.c: a throw-away PostgreSQL 15 cluster in a temporary dir, started and stopped by
 * PID (see pg_cluster.h). */
#include "pg_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_STEP_MS 50
#define START_STEPS 600 /* 30 s for the server to accept connections */
#define STOP_STEPS 200  /* 10 s for a fast shutdown before SIGKILL */
#define INITDB_STEPS 1200

static void nap(void)
{
    struct timespec ts = {0, WAIT_STEP_MS * 1000000L};
    nanosleep(&ts, NULL);
}

/* The user the server runs as: the current one, or under root `postgres` (else `nobody`). */
static bool run_as(uid_t *uid, gid_t *gid)
{
    *uid = getuid();
    *gid = getgid();
    if (geteuid() != 0)
        return true;
    const struct passwd *pw = getpwnam("postgres");
    if (!pw)
        pw = getpwnam("nobody");
    if (!pw) {
        fprintf(stderr, "pg_cluster: running as root and no user postgres or nobody to run "
                        "PostgreSQL as\n");
        return false;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return true;
}

/* Forks argv[0] as uid/gid with stdout and stderr appended to log; its PID, or -1. */
static pid_t spawn(char *const argv[], const char *log, uid_t uid, gid_t gid)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
        _exit(126);
    int nul = open("/dev/null", O_RDONLY);
    if (nul < 0 || dup2(nul, 0) < 0)
        _exit(126);
    if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0))
        _exit(126);
    /* Should the test process die by a signal (a ctest timeout, SIGKILL), the server dies with
     * it (set after setuid, which clears it; kept across exec); its backends follow their
     * postmaster. The temporary dir then stays: it holds no process. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        _exit(126);
    execv(argv[0], argv);
    _exit(127);
}

/* Waits (bounded) for pid to exit: its wait status, or -1 when it still runs. */
static int wait_exit(pid_t pid, int steps)
{
    for (int i = 0; i < steps; i++) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            return 0;
        nap();
    }
    return -1;
}

static void show_log(const ts_pg *pg)
{
    char path[128], line[512];
    snprintf(path, sizeof path, "%s/postgres.log", pg->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fprintf(stderr, "pg_cluster: %s:\n", path);
    while (fgets(line, sizeof line, f))
        fprintf(stderr, "  %s", line);
    fclose(f);
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static bool remove_dir(const char *dir)
{
    if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) {
        fprintf(stderr, "pg_cluster: cannot remove %s: %s\n", dir, strerror(errno));
        return false;
    }
    return true;
}

static bool initdb(ts_pg *pg, uid_t uid, gid_t gid)
{
    char data[128], log[128];
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(log, sizeof log, "%s/postgres.log", pg->dir);
    char *argv[] = {
        TS_PG_BIN "/initdb", "-D", data,   "-U",         TS_PG_USER, "-A", "trust", "--no-sync",
        "--no-instructions", "-E", "UTF8", "--locale=C", NULL};
    pid_t pid = spawn(argv, log, uid, gid);
    int st = pid > 0 ? wait_exit(pid, INITDB_STEPS) : -1;
    if (pid > 0 && st == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "pg_cluster: %s/initdb failed\n", TS_PG_BIN);
        return false;
    }
    return true;
}

/* postgres on the dir's unix socket only; durability off (a test cluster). */
static bool postmaster(ts_pg *pg, uid_t uid, gid_t gid)
{
    char data[128], log[128], sock[96];
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(log, sizeof log, "%s/postgres.log", pg->dir);
    snprintf(sock, sizeof sock, "unix_socket_directories=%s", pg->dir);
    char port[32];
    snprintf(port, sizeof port, "port=%d", TS_PG_PORT);
    char *argv[] = {TS_PG_BIN "/postgres",
                    "-D",
                    data,
                    "-c",
                    "listen_addresses=",
                    "-c",
                    sock,
                    "-c",
                    port,
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=40",
                    "-c",
                    "shared_buffers=16MB",
                    NULL};
    pg->pid = spawn(argv, log, uid, gid);
    if (pg->pid < 0) {
        pg->pid = 0;
        return false;
    }
    for (int i = 0; i < START_STEPS; i++) {
        if (PQping(pg->dsn) == PQPING_OK)
            return true;
        if (wait_exit(pg->pid, 1) != -1) {
            fprintf(stderr, "pg_cluster: postgres exited at start\n");
            pg->pid = 0;
            return false;
        }
    }
    fprintf(stderr, "pg_cluster: postgres did not accept connections in %d ms\n",
            START_STEPS * WAIT_STEP_MS);
    return false;
}

bool ts_pg_start(ts_pg *pg)
{
    memset(pg, 0, sizeof *pg);
    uid_t uid;
    gid_t gid;
    if (!run_as(&uid, &gid))
        return false;
    snprintf(pg->dir, sizeof pg->dir, "/tmp/cst-pg-XXXXXX");
    if (!mkdtemp(pg->dir)) {
        fprintf(stderr, "pg_cluster: mkdtemp: %s\n", strerror(errno));
        return false;
    }
    snprintf(pg->dsn, sizeof pg->dsn, "host=%s port=%d dbname=postgres user=%s", pg->dir,
             TS_PG_PORT, TS_PG_USER);
    bool ok = chown(pg->dir, uid, gid) == 0;
    if (!ok)
        fprintf(stderr, "pg_cluster: chown %s: %s\n", pg->dir, strerror(errno));
    ok = ok && initdb(pg, uid, gid) && postmaster(pg, uid, gid);
    if (!ok) {
        show_log(pg);
        ts_pg_stop(pg);
    }
    return ok;
}

bool ts_pg_stop(ts_pg *pg)
{
    bool ok = true;
    if (pg->pid > 0) {
        kill(pg->pid, SIGINT);
        if (wait_exit(pg->pid, STOP_STEPS) == -1) {
            fprintf(stderr, "pg_cluster: postgres %d ignored a fast shutdown: SIGKILL\n",
                    (int)pg->pid);
            kill(pg->pid, SIGKILL);
            waitpid(pg->pid, NULL, 0);
            ok = false;
        }
        pg->pid = 0;
    }
    if (pg->dir[0]) {
        ok = remove_dir(pg->dir) && ok;
        pg->dir[0] = '\0';
    }
    return ok;
}
