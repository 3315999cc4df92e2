/* cmd.c: backup destination commands (backup.command, fetch_command, prune_command), each
 * bounded by backup.command_timeout. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup/internal.h"
#include "util/util.h"

extern char **environ;

static int ms_left(const cst_bk_cmd *c)
{
    int64_t left = (c->deadline_us - cst_now_us()) / 1000;
    return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

cst_err cst_bk_cmd_start(cst_bk_cmd *c, const char *command, bool to_stdin, const char *backup_id,
                         const cst_node *n, int timeout_s)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_s = timeout_s;
    c->deadline_us = cst_now_us() + (int64_t)timeout_s * 1000000;
    /* Everything the child needs is built before fork: only async-signal-safe calls after. */
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **envp = calloc(nenv + 4, sizeof(*envp));
    char vars[3][160];
    ENSURE(envp != NULL, CST_ERR_INTERNAL, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], "CUSTODIA_", 9) != 0)
            envp[k++] = environ[i];
    (void)snprintf(vars[0], sizeof(vars[0]), "CUSTODIA_BACKUP_ID=%s", backup_id);
    (void)snprintf(vars[1], sizeof(vars[1]), "CUSTODIA_NODE_ID=%s", n->node_id);
    (void)snprintf(vars[2], sizeof(vars[2]), "CUSTODIA_REGION=%s", n->region);
    for (int i = 0; i < 3; i++)
        envp[k++] = vars[i];
    envp[k] = NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        free(envp);
        return cst_fail(CST_ERR_INTERNAL, "cannot create a pipe: %s", strerror(errno));
    }
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        setpgid(0, 0);
        int mine = to_stdin ? fds[0] : fds[1];
        if (dup2(mine, to_stdin ? 0 : 1) < 0 || dup2(devnull, to_stdin ? 1 : 0) < 0)
            _exit(126);
        execle("/bin/sh", "sh", "-c", command, (char *)NULL, envp);
        _exit(127);
    }
    free(envp);
    if (devnull >= 0)
        close(devnull);
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return cst_fail(CST_ERR_INTERNAL, "cannot start the backup command: %s", strerror(errno));
    }
    setpgid(pid, pid); /* either side may win the race; both set the same group */
    close(to_stdin ? fds[0] : fds[1]);
    c->fd = to_stdin ? fds[1] : fds[0];
    c->pid = pid;
    (void)fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    signal(SIGPIPE, SIG_IGN); /* a command that exits early is an error, not a signal */
    return CST_OK;
}

static cst_err timed_out(cst_bk_cmd *c)
{
    cst_bk_cmd_kill(c);
    return cst_fail(CST_ERR_UNAVAILABLE, "the backup command did not finish within %d s (killed)",
                    c->timeout_s);
}

cst_err cst_bk_cmd_write(cst_bk_cmd *c, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
        int left = ms_left(c);
        if (left == 0)
            return timed_out(c);
        int r = poll(&pfd, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            continue; /* re-check the deadline */
        ssize_t w = write(c->fd, b, n);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w < 0) {
            /* it stopped reading: say how it ended */
            int err = errno;
            cst_err e = cst_bk_cmd_finish(c);
            if (e != CST_OK)
                return e;
            return cst_fail(CST_ERR_UNAVAILABLE,
                            "the backup command exited before reading the whole backup (%s)",
                            strerror(err));
        }
        b += w;
        n -= (size_t)w;
    }
    return CST_OK;
}

cst_err cst_bk_cmd_read(void *ctx, void *p, size_t n, size_t *got)
{
    cst_bk_cmd *c = ctx;
    for (;;) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int left = ms_left(c);
        if (left == 0)
            return timed_out(c);
        int r = poll(&pfd, 1, left);
        if (r <= 0)
            continue;
        ssize_t rd = read(c->fd, p, n);
        if (rd < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        ENSURE(rd >= 0, CST_ERR_UNAVAILABLE, "cannot read from the fetch command: %s",
               strerror(errno));
        *got = (size_t)rd;
        return CST_OK;
    }
}

cst_err cst_bk_cmd_finish(cst_bk_cmd *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == c->pid)
            break;
        if (r < 0 && errno != EINTR)
            return cst_fail(CST_ERR_INTERNAL, "cannot wait for the backup command: %s",
                            strerror(errno));
        if (ms_left(c) == 0)
            return timed_out(c);
        usleep(10000);
    }
    c->pid = 0;
    ENSURE(WIFEXITED(status) && WEXITSTATUS(status) == 0, CST_ERR_UNAVAILABLE,
           "the backup command failed (%s %d): see its output in the log",
           WIFEXITED(status) ? "exit status" : "signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return CST_OK;
}

void cst_bk_cmd_kill(cst_bk_cmd *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->pid > 0) {
        (void)kill(-c->pid, SIGKILL);
        (void)kill(c->pid, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    c->pid = 0;
}
