/* test_api_harness.c: harness hygiene. A test that fails (or a test process that exits or dies)
 * leaves no `custodia serve` and no temp dir behind, so the next tests do not fail with it.
 * The checks run this binary again as a child in its own process group, where tests fail on
 * purpose, and then look at what is left of that process group. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

/* ---- the child: tests that fail on purpose ---- */

static ts_server group_srv;

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    const char *path = getenv("TS_HARNESS_REPORT");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

static bool pid_alive(pid_t pid)
{
    char path[64], st[512] = "";
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(st, 1, sizeof(st) - 1, f);
    st[n] = '\0';
    fclose(f);
    const char *p = strrchr(st, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X'; /* a zombie is dead */
}

static int child_setup(void **state)
{
    ts_init(&group_srv);
    if (!ts_start(&group_srv))
        return -1;
    report("server group %d %s\n", (int)group_srv.pid, group_srv.root);
    return 0;
}

static int child_teardown(void **state)
{
    ts_cleanup(&group_srv);
    return 0;
}

static pid_t failed_pid;

static void child_fails_with_a_server_running(void **state)
{
    ts_server s; /* on the stack: gone after the longjmp */
    ts_init(&s);
    assert_true(ts_start(&s));
    failed_pid = s.pid;
    report("server failed %d %s\n", (int)s.pid, s.root);
    fail_msg("deliberate failure with server %d running", (int)s.pid);
}

static void child_next_test_finds_it_gone(void **state)
{
    /* the failed test's server is gone before the next test starts; the group's still serves */
    assert_true(failed_pid > 0);
    assert_false(pid_alive(failed_pid));
    assert_true(pid_alive(group_srv.pid));
    ts_resp r;
    ts_request(&group_srv, "GET", "/v1/sys/health", NULL, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    report("next-test ok\n");
}

static void child_exits_with_a_server_running(void **state)
{
    ts_server s;
    ts_init(&s);
    assert_true(ts_start(&s));
    report("server exit %d %s\n", (int)s.pid, s.root);
    exit(3); /* no teardown at all: the atexit handler must take both servers */
}

static void child_killed_with_a_server_running(void **state)
{
    ts_server s;
    ts_init(&s);
    assert_true(ts_start(&s));
    report("server killed %d %s\n", (int)s.pid, s.root);
    raise(SIGKILL); /* nothing of the harness runs: the server must die with its parent */
}

static int child_main(const char *mode)
{
    if (strcmp(mode, "fail") == 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(child_fails_with_a_server_running),
            cmocka_unit_test(child_next_test_finds_it_gone),
            cmocka_unit_test(child_exits_with_a_server_running),
        };
        return cmocka_run_group_tests(tests, child_setup, child_teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(child_killed_with_a_server_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* ---- the parent: runs a child and inspects what it left ---- */

static char self_exe[4096];

/* Runs this binary as `child MODE` in its own process group; returns the group id after the
 * child has ended (waited for at most 120 s). */
static pid_t run_child(const char *mode, const char *dir, int *status)
{
    char rep[400], log[400];
    snprintf(rep, sizeof(rep), "%s/report", dir);
    snprintf(log, sizeof(log), "%s/child.log", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        setenv("TS_HARNESS_REPORT", rep, 1);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(self_exe, self_exe, "child", mode, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid); /* both sides, so it holds whoever runs first */
    int st = 0;
    for (int i = 0; i < 1200; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            break;
        if (i == 1199) {
            kill(-pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("the child did not end within 120 s");
        }
        usleep(100000);
    }
    *status = st;
    return pid;
}

/* The servers the child reported: "server <what> <pid> <root>". */
static int reported(const char *dir, const char *what, pid_t *pids, char roots[][256], int max)
{
    char rep[400], line[512];
    snprintf(rep, sizeof(rep), "%s/report", dir);
    FILE *f = fopen(rep, "r");
    if (!f)
        return 0;
    int n = 0;
    size_t wl = strlen(what);
    while (n < max && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "server ", 7) || strncmp(line + 7, what, wl) || line[7 + wl] != ' ')
            continue;
        char *p = line + 8 + wl, *end;
        pids[n] = (pid_t)strtol(p, &end, 10);
        snprintf(roots[n], sizeof(roots[n]), "%.*s", (int)strcspn(end + 1, "\n"), end + 1);
        n++;
    }
    fclose(f);
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void show_child_log(const char *dir)
{
    ts_sh("echo '--- child log:' >&2; cat '%s/child.log' >&2", dir);
}

static void test_harness_failed_test_leaves_no_server(void **state)
{
    char dir[] = "/tmp/cst-harness-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int st;
    pid_t pgid = run_child("fail", dir, &st);
    /* the child failed (one test failed, then it exited with 3) */
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 3);
    pid_t pids[4];
    char roots[4][256];
    assert_int_equal(reported(dir, "group", pids, roots, 1), 1);
    assert_int_equal(reported(dir, "failed", pids + 1, roots + 1, 1), 1);
    assert_int_equal(reported(dir, "exit", pids + 2, roots + 2, 1), 1);
    /* the test after the failed one found the failed test's server gone */
    if (ts_sh("grep -q '^next-test ok$' %s/report", dir) != 0)
        show_child_log(dir);
    assert_int_equal(ts_sh("grep -q '^next-test ok$' %s/report", dir), 0);
    /* nothing of the child's process group survives, and no temp dir */
    for (int i = 0; i < 3; i++) {
        assert_false(pid_alive(pids[i]));
        assert_false(exists(roots[i]));
    }
    assert_int_equal(ts_group_alive(pgid), 0);
    /* the harness said what it killed */
    assert_int_equal(
        ts_sh("grep -q 'harness: a test left server %d' %s/child.log", (int)pids[1], dir), 0);
    ts_sh("rm -rf '%s'", dir);
}

static void test_harness_killed_test_process_leaves_no_server(void **state)
{
    char dir[] = "/tmp/cst-harness-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int st;
    pid_t pgid = run_child("killed", dir, &st);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    pid_t pid;
    char root[1][256];
    assert_int_equal(reported(dir, "killed", &pid, root, 1), 1);
    /* the server follows its parent (PR_SET_PDEATHSIG): bounded wait, 10 s */
    for (int i = 0; i < 100 && ts_group_alive(pgid) > 0; i++)
        usleep(100000);
    assert_false(pid_alive(pid));
    assert_int_equal(ts_group_alive(pgid), 0);
    /* a SIGKILLed test cannot remove its temp dir: this one does */
    ts_sh("rm -rf '%s' '%s'", root[0], dir);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "child") == 0)
        return child_main(argv[2]);
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (n <= 0)
        return 1;
    self_exe[n] = '\0';
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_harness_failed_test_leaves_no_server),
        cmocka_unit_test(test_harness_killed_test_process_leaves_no_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
