/* cmd.c: backup destination commands (backup.command, fetch_command, list_command,
 * prune_command), each bounded by backup.command_timeout, with backup.command_env_file's
 * variables (credentials) in their environment, never on their command line. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
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

/* backup.command_env_file: NAME=value lines (blank lines and # comments skipped) for the
 * commands' environment, read at every start so that rotated credentials apply at once. The
 * lines stay in text (ENV_FILE_MAX bytes, the caller's); vars[] point into it. */
#define ENV_FILE_MAX 65536
#define ENV_FILE_VARS 256

static bool env_name_ok(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

static cst_err env_file_read(const char *path, char *text, char **vars, size_t *nvars)
{
    size_t len = 0;
    *nvars = 0;
    TRY(cst_secret_file_read("backup.command_env_file", path, text, ENV_FILE_MAX, &len));
    ENSURE(strlen(text) == len, CST_ERR_INVALID, "backup.command_env_file %s: a NUL byte", path);
    int line = 0;
    for (char *p = text, *next; p && *p; p = next) {
        line++;
        next = strchr(p, '\n');
        if (next)
            *next++ = '\0';
        size_t end = strlen(p);
        if (end && p[end - 1] == '\r')
            p[--end] = '\0';
        if (!p[0] || p[0] == '#')
            continue;
        char *eq = strchr(p, '=');
        /* the line is not quoted in the message: it may hold a secret */
        ENSURE(eq && env_name_ok(p, (size_t)(eq - p)) && strncmp(p, "CUSTODIA_", 9) != 0,
               CST_ERR_INVALID,
               "backup.command_env_file %s line %d: NAME=value expected (a name of letters, "
               "digits and _, not CUSTODIA_...)",
               path, line);
        ENSURE(*nvars < ENV_FILE_VARS, CST_ERR_INVALID,
               "backup.command_env_file %s: more than %d variables", path, ENV_FILE_VARS);
        vars[(*nvars)++] = p;
    }
    return CST_OK;
}

/* True when the inherited variable var is replaced: CUSTODIA_* (ours) or set by the file. */
static bool env_replaced(const char *var, char *const *file, size_t nfile)
{
    if (strncmp(var, "CUSTODIA_", 9) == 0)
        return true;
    size_t n = strcspn(var, "=");
    for (size_t i = 0; i < nfile; i++)
        if (strncmp(var, file[i], n + 1) == 0)
            return true;
    return false;
}

/* A command's environment, built before fork (only async-signal-safe calls after): the node's
 * own (less CUSTODIA_* and what the file sets), the file's variables (text, in locked memory,
 * wiped when freed), and CUSTODIA_BACKUP_ID, CUSTODIA_NODE_ID and CUSTODIA_REGION. */
typedef struct cmd_env {
    char *text;
    char **envp;
    char vars[3][160];
} cmd_env;

static void env_free(cmd_env *env)
{
    if (env->text)
        sodium_free(env->text);
    free(env->envp);
    env->text = NULL;
    env->envp = NULL;
}

static cst_err env_build(const cst_bk_dest *d, const char *backup_id, cmd_env *env)
{
    memset(env, 0, sizeof(*env));
    char *file_vars[ENV_FILE_VARS];
    size_t nfile = 0, nenv = 0;
    cst_err e = CST_OK;
    if (d->cfg->backup_env_file[0]) {
        env->text = sodium_malloc(ENV_FILE_MAX);
        e = env->text ? env_file_read(d->cfg->backup_env_file, env->text, file_vars, &nfile)
                      : cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    while (environ[nenv])
        nenv++;
    if (e == CST_OK) {
        env->envp = calloc(nenv + nfile + 4, sizeof(*env->envp));
        if (!env->envp)
            e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    if (e != CST_OK) {
        env_free(env);
        return e;
    }
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++)
        if (!env_replaced(environ[i], file_vars, nfile))
            env->envp[k++] = environ[i];
    for (size_t i = 0; i < nfile; i++)
        env->envp[k++] = file_vars[i];
    (void)snprintf(env->vars[0], sizeof(env->vars[0]), "CUSTODIA_BACKUP_ID=%s", backup_id);
    (void)snprintf(env->vars[1], sizeof(env->vars[1]), "CUSTODIA_NODE_ID=%s",
                   d->node_id ? d->node_id : "");
    (void)snprintf(env->vars[2], sizeof(env->vars[2]), "CUSTODIA_REGION=%s",
                   d->region ? d->region : "");
    for (int i = 0; i < 3; i++)
        env->envp[k++] = env->vars[i];
    env->envp[k] = NULL;
    return CST_OK;
}

cst_err cst_bk_env_check(const cst_config *cfg)
{
    if (!cfg->backup_env_file[0])
        return CST_OK;
    cst_bk_dest d = {.cfg = cfg};
    cmd_env env;
    TRY(env_build(&d, "", &env));
    env_free(&env);
    return CST_OK;
}

cst_err cst_bk_cmd_start(cst_bk_cmd *c, const char *command, bool to_stdin, const char *backup_id,
                         const cst_node *n, int timeout_s)
{
    cst_bk_dest d = {.cfg = &n->cfg, .node_id = n->node_id, .region = n->region};
    return cst_bk_cmd_start_at(c, command, to_stdin, backup_id, &d, timeout_s);
}

cst_err cst_bk_cmd_start_at(cst_bk_cmd *c, const char *command, bool to_stdin,
                            const char *backup_id, const cst_bk_dest *d, int timeout_s)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_s = timeout_s;
    c->deadline_us = cst_now_us() + (int64_t)timeout_s * 1000000;
    cmd_env env;
    TRY(env_build(d, backup_id, &env));
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        env_free(&env);
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
        execle("/bin/sh", "sh", "-c", command, (char *)NULL, env.envp);
        _exit(127);
    }
    env_free(&env);
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
