/* sandbox.c: least privilege inside the serving process: the drop from root, Landlock, seccomp. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <jansson.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "node/sandbox.h"
#include "util/util.h"

/* What this process reached, for the log and the report (IAM-4). */
static struct {
    bool entered;
    bool drop; /* started as root, with an unprivileged node.user to become */
    uid_t uid;
    gid_t gid;
    char user[64];
    int landlock; /* > 0: the ABI in force; 0: the kernel has none; -1: node.sandbox = false */
    bool seccomp, nnp;
    char bad[PATH_MAX]; /* the ownership walk's first entry the user would not own */
    uid_t bad_uid;
} sb;

/* ---- the drop from root ---- */

/* node.user, or "custodia" when it exists; a configured user that does not exist is an error. */
static cst_err resolve_user(const cst_config *cfg)
{
    const char *name = cfg->user[0] ? cfg->user : "custodia";
    struct passwd pw, *found = NULL;
    char buf[4096];
    (void)getpwnam_r(name, &pw, buf, sizeof(buf), &found);
    sb.uid = geteuid();
    sb.gid = getegid();
    struct passwd *me = getpwuid(sb.uid);
    TRY(cst_fmt(sb.user, sizeof(sb.user), "%s", me ? me->pw_name : "?"));
    if (sb.uid != 0) /* started unprivileged: nothing to drop */
        return CST_OK;
    ENSURE(found || !cfg->user[0], CST_ERR_INVALID,
           "node.user = %s: no such user (create it, e.g. adduser --system --group %s, or name "
           "an existing unprivileged user)",
           name, name);
    if (!found || found->pw_uid == 0) {
        cst_warn("running as root: %s (create the user custodia, adduser --system --group "
                 "custodia, or set node.user)",
                 found ? "node.user is root" : "there is no user \"custodia\" to drop to");
        return CST_OK;
    }
    sb.drop = true;
    sb.uid = found->pw_uid;
    sb.gid = found->pw_gid;
    return cst_fmt(sb.user, sizeof(sb.user), "%s", found->pw_name);
}

/* Read only at start, as root, before the drop: the TLS files custodia makes and the lock. */
static char tls_dir[PATH_MAX], lock_file[PATH_MAX];

static int not_owned(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (strcmp(path, tls_dir) == 0)
        return FTW_SKIP_SUBTREE;
    if (st->st_uid == sb.uid || strcmp(path, lock_file) == 0)
        return FTW_CONTINUE;
    (void)snprintf(sb.bad, sizeof(sb.bad), "%s", path);
    sb.bad_uid = st->st_uid;
    return FTW_STOP;
}

/* A dir the node writes (and everything in it) must belong to the user it drops to, or it
 * would fail later, half-way through a request; say so now, with the fix. */
static cst_err check_owned(const char *key, const char *dir)
{
    if (!dir[0] || !cst_path_exists(dir))
        return CST_OK; /* made later by the node itself, as the user */
    sb.bad[0] = '\0';
    int r = nftw(dir, not_owned, 16, FTW_PHYS | FTW_MOUNT | FTW_ACTIONRETVAL);
    ENSURE(r >= 0, CST_ERR_INVALID, "%s %s: %s", key, dir, strerror(errno));
    ENSURE(r == 0, CST_ERR_INVALID,
           "%s: %s belongs to uid %u, not to node.user %s, who could not use it once custodia "
           "drops root (chown -R %s: %s)",
           key, sb.bad, (unsigned)sb.bad_uid, sb.user, sb.user, dir);
    return CST_OK;
}

static cst_err check_dirs(const cst_config *cfg)
{
    TRY(cst_fmt(tls_dir, sizeof(tls_dir), "%s/tls", cfg->data_dir));
    TRY(cst_fmt(lock_file, sizeof(lock_file), "%s/custodia.lock", cfg->data_dir));
    TRY(check_owned("node.data_dir", cfg->data_dir));
    TRY(check_owned("audit.dir", cfg->audit_dir));
    if (!cfg->backup_command[0])
        TRY(check_owned("backup.dir", cfg->backup_dir));
    TRY(check_owned("backup.scratch_dir", cfg->backup_scratch_dir));
    return check_owned("node.log_file", cfg->log_file);
}

/* A port below 1024 is bound after the drop: the one capability kept for it. */
static cst_err keep_bind_capability(void)
{
    struct __user_cap_header_struct head = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0}};
    data[0].effective = data[0].permitted = 1u << CAP_NET_BIND_SERVICE;
    ENSURE(syscall(SYS_capset, &head, data) == 0, CST_ERR_INTERNAL,
           "sandbox: keeping CAP_NET_BIND_SERVICE: %s", strerror(errno));
    return CST_OK;
}

static cst_err drop_root(const cst_config *cfg)
{
    int deathsig = 0; /* a credential change clears it: keep what the parent asked for */
    (void)prctl(PR_GET_PDEATHSIG, &deathsig, 0, 0, 0);
    bool low_port = cfg->listen_port > 0 && cfg->listen_port < 1024;
    ENSURE(!low_port || prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0, CST_ERR_INTERNAL,
           "sandbox: PR_SET_KEEPCAPS: %s", strerror(errno));
    ENSURE(setgroups(0, NULL) == 0, CST_ERR_INTERNAL, "setgroups: %s", strerror(errno));
    ENSURE(setresgid(sb.gid, sb.gid, sb.gid) == 0, CST_ERR_INTERNAL, "setgid %u: %s",
           (unsigned)sb.gid, strerror(errno));
    ENSURE(setresuid(sb.uid, sb.uid, sb.uid) == 0, CST_ERR_INTERNAL, "setuid %u: %s",
           (unsigned)sb.uid, strerror(errno));
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    bool held = getresuid(&ru, &eu, &su) == 0 && getresgid(&rg, &eg, &sg) == 0 && ru == sb.uid &&
                eu == sb.uid && su == sb.uid && rg == sb.gid && eg == sb.gid && sg == sb.gid &&
                getgroups(0, NULL) == 0;
    ENSURE(held && setuid(0) != 0 && seteuid(0) != 0, CST_ERR_INTERNAL,
           "the drop to node.user %s did not hold: root can be regained", sb.user);
    if (low_port) {
        (void)prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
        TRY(keep_bind_capability());
    }
    if (deathsig)
        (void)prctl(PR_SET_PDEATHSIG, deathsig, 0, 0, 0);
    cst_info("sandbox: dropped root, running as %s (uid %u, gid %u%s)", sb.user, (unsigned)sb.uid,
             (unsigned)sb.gid, low_port ? "; CAP_NET_BIND_SERVICE kept for the port" : "");
    return CST_OK;
}

/* ---- Landlock: files ---- */

/* Debian 12's headers stop at ABI 2; later rights by their kernel values. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif

#define LL(x) LANDLOCK_ACCESS_FS_##x
#define FS_READ (LL(READ_FILE) | LL(READ_DIR))
#define FS_EXEC (FS_READ | LL(EXECUTE))
#define FS_WRITE                                                                                   \
    (FS_READ | LL(WRITE_FILE) | LL(REMOVE_DIR) | LL(REMOVE_FILE) | LL(MAKE_DIR) | LL(MAKE_REG) |   \
     LL(MAKE_SOCK) | LL(MAKE_FIFO) | LL(MAKE_SYM) | LL(REFER) | LL(TRUNCATE))
#define FS_DEVICE (LL(READ_FILE) | LL(WRITE_FILE) | LL(TRUNCATE) | LL(IOCTL_DEV))
#define FS_FILE_ONLY (LL(EXECUTE) | LL(READ_FILE) | LL(WRITE_FILE) | LL(TRUNCATE) | LL(IOCTL_DEV))
#define FS_LOG_DIR (LL(WRITE_FILE) | LL(MAKE_REG)) /* SIGHUP makes a new log file: no reading */

/* The rights each ABI added (best effort: the node handles every right its kernel knows). */
static const struct {
    int abi;
    uint64_t fs;
} abi_rights[] = {
    {1, (LL(MAKE_SYM) << 1) - 1},
    {2, LL(REFER)},
    {3, LL(TRUNCATE)},
    {5, LL(IOCTL_DEV)},
};

/* What every node reads or runs: programs and libraries (command: keys, backup commands,
 * PKCS#11 modules, the resolver's plug-ins), configuration and CA certificates, /proc, the CPU
 * count, and the random and null devices. A path that does not exist is left out. */
static const struct {
    const char *path;
    uint64_t access;
} system_paths[] = {
    {"/usr", FS_EXEC},
    {"/bin", FS_EXEC},
    {"/sbin", FS_EXEC},
    {"/lib", FS_EXEC},
    {"/lib64", FS_EXEC},
    {"/etc", FS_READ},
    {"/proc", FS_READ},
    {"/sys/devices/system/cpu", FS_READ},
    {"/dev/null", FS_DEVICE},
    {"/dev/urandom", LL(READ_FILE)},
    {"/dev/random", LL(READ_FILE)},
};

static cst_err allow(int ruleset, uint64_t handled, const char *path, uint64_t access)
{
    if (!path[0])
        return CST_OK;
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return CST_OK;
    ENSURE(fd >= 0, CST_ERR_INVALID, "sandbox: %s: %s", path, strerror(errno));
    struct stat st;
    struct landlock_path_beneath_attr rule = {.parent_fd = fd, .allowed_access = access & handled};
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        rule.allowed_access &= FS_FILE_ONLY;
    long r = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int err = errno;
    close(fd);
    ENSURE(r == 0, CST_ERR_INTERNAL, "sandbox: Landlock rule for %s: %s", path, strerror(err));
    return CST_OK;
}

/* A dir the node writes that does not exist yet is made now (its parent must), so that a rule
 * can name it; it belongs to the user the node drops to. */
static cst_err writable(int ruleset, uint64_t handled, const char *dir)
{
    if (dir[0] && !cst_path_exists(dir)) {
        ENSURE(mkdir(dir, 0700) == 0, CST_ERR_INVALID, "cannot create %s: %s", dir,
               strerror(errno));
        ENSURE(!sb.drop || chown(dir, sb.uid, sb.gid) == 0, CST_ERR_INVALID, "chown %s: %s", dir,
               strerror(errno));
    }
    return allow(ruleset, handled, dir, FS_WRITE);
}

/* pkcs11: SoftHSM keeps its token in files it reads, locks and rewrites on every use. */
static cst_err allow_softhsm(int ruleset, uint64_t handled)
{
    const char *conf = getenv("SOFTHSM2_CONF");
    if (!conf || !conf[0])
        conf = "/etc/softhsm/softhsm2.conf";
    TRY(allow(ruleset, handled, conf, LL(READ_FILE)));
    FILE *f = fopen(conf, "re");
    if (!f)
        return CST_OK;
    char line[PATH_MAX + 64], dir[PATH_MAX];
    cst_err e = CST_OK;
    while (e == CST_OK && fgets(line, sizeof(line), f))
        if (sscanf(line, " directories.tokendir = %4095s", dir) == 1)
            e = allow(ruleset, handled, dir, FS_WRITE);
    fclose(f);
    return e;
}

/* node.sandbox_read_paths, node.sandbox_write_paths: comma-separated. */
static cst_err allow_list(int ruleset, uint64_t handled, const char *list, uint64_t access)
{
    char copy[PATH_MAX], *save = NULL;
    TRY(cst_fmt(copy, sizeof(copy), "%s", list));
    for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        p += strspn(p, " ");
        TRY(allow(ruleset, handled, p, access));
    }
    return CST_OK;
}

static cst_err allow_node(int ruleset, uint64_t handled, const cst_config *cfg)
{
    for (size_t i = 0; i < sizeof(system_paths) / sizeof(system_paths[0]); i++)
        TRY(allow(ruleset, handled, system_paths[i].path, system_paths[i].access));
    TRY(writable(ruleset, handled, cfg->data_dir));
    TRY(writable(ruleset, handled, cfg->audit_dir));
    if (!cfg->backup_command[0])
        TRY(writable(ruleset, handled, cfg->backup_dir));
    TRY(writable(ruleset, handled, cfg->backup_scratch_dir));
    if (cfg->log_file[0]) {
        char dir[PATH_MAX];
        TRY(cst_fmt(dir, sizeof(dir), "%s", cfg->log_file));
        char *slash = strrchr(dir, '/');
        if (slash)
            *(slash == dir ? slash + 1 : slash) = '\0';
        TRY(allow(ruleset, handled, slash ? dir : ".", FS_LOG_DIR));
        TRY(allow(ruleset, handled, cfg->log_file, LL(WRITE_FILE)));
    }
    /* Read at start, after this: the KEK's file, the certificate; read on every use: the
     * webhook and SMTP secrets (cst_secret_file_read), the PKCS#11 PIN, the audit shipping
     * sink's CA and client key (at each connection), the backup commands' environment file;
     * read by an online KEK rotation: keys.next_master_key (ENC-4). */
    const char *read_files[] = {
        cfg->tls_cert_file,
        cfg->tls_key_file,
        cfg->pin_file,
        cfg->alerts_webhook_secret_file,
        cfg->notices_smtp_credentials_file,
        cfg->audit_syslog_ca_file,
        cfg->audit_syslog_cert_file,
        cfg->audit_syslog_key_file,
        cfg->backup_env_file,
        strncmp(cfg->master_key, "file:", 5) == 0 ? cfg->master_key + 5 : "",
        strncmp(cfg->next_master_key, "file:", 5) == 0 ? cfg->next_master_key + 5 : ""};
    for (size_t i = 0; i < sizeof(read_files) / sizeof(read_files[0]); i++)
        TRY(allow(ruleset, handled, read_files[i], LL(READ_FILE)));
    if (strncmp(cfg->master_key, "pkcs11:", 7) == 0 ||
        strncmp(cfg->next_master_key, "pkcs11:", 7) == 0)
        TRY(allow_softhsm(ruleset, handled));
    TRY(allow_list(ruleset, handled, cfg->sandbox_read_paths, FS_EXEC));
    return allow_list(ruleset, handled, cfg->sandbox_write_paths, FS_WRITE | LL(EXECUTE));
}

/* Landlock binds the thread that calls landlock_restrict_self and the threads it creates later;
 * the system store's checkpointer thread is running by now, so every running thread takes the
 * ruleset itself, from a signal handler, the way glibc
 * gives every thread a new uid (setxid). Rounds until no thread is left without it. */
#define TAKE_MAX 16384
static int take_ruleset;
static atomic_int take_count, take_failed;
static pid_t take_tids[TAKE_MAX];

static void take_landlock(int sig)
{
    int saved = errno;
    if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_landlock_restrict_self, take_ruleset, 0) != 0)
        atomic_fetch_add(&take_failed, 1);
    int i = atomic_fetch_add(&take_count, 1);
    if (i < TAKE_MAX)
        take_tids[i] = (pid_t)syscall(SYS_gettid);
    errno = saved;
}

static bool taken(pid_t tid, int n)
{
    for (int i = 0; i < n && i < TAKE_MAX; i++)
        if (take_tids[i] == tid)
            return true;
    return false;
}

/* Signals every thread that has not taken the ruleset; *sent: how many were signalled. */
static cst_err signal_untaken(int sig, int *sent)
{
    DIR *d = opendir("/proc/self/task");
    ENSURE(d, CST_ERR_INTERNAL, "sandbox: /proc/self/task: %s", strerror(errno));
    pid_t self = (pid_t)syscall(SYS_gettid), pid = getpid();
    int n = atomic_load(&take_count);
    *sent = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        pid_t tid = (pid_t)atoi(de->d_name);
        if (tid <= 0 || tid == self || taken(tid, n))
            continue;
        if (syscall(SYS_tgkill, pid, tid, sig) == 0)
            (*sent)++;
    }
    closedir(d);
    return CST_OK;
}

static cst_err landlock_all_threads(int ruleset)
{
    int sig = SIGRTMIN + 3;
    struct sigaction sa = {.sa_handler = take_landlock, .sa_flags = SA_RESTART}, old;
    sigemptyset(&sa.sa_mask);
    ENSURE(sigaction(sig, &sa, &old) == 0, CST_ERR_INTERNAL, "sandbox: sigaction: %s",
           strerror(errno));
    take_ruleset = ruleset;
    atomic_store(&take_count, 0);
    atomic_store(&take_failed, 0);
    cst_err e = CST_OK;
    int sent = 1;
    for (int round = 0; e == CST_OK && sent > 0 && round < 8; round++) {
        int before = atomic_load(&take_count);
        e = signal_untaken(sig, &sent);
        /* bounded: 2 s for every signalled thread to run its handler */
        for (int ms = 0; e == CST_OK && ms < 2000 && atomic_load(&take_count) < before + sent; ms++)
            usleep(1000);
    }
    if (e == CST_OK && sent > 0)
        e = cst_fail(CST_ERR_INTERNAL, "sandbox: %d thread(s) did not take the Landlock ruleset",
                     sent);
    if (e == CST_OK && atomic_load(&take_count) > TAKE_MAX)
        e = cst_fail(CST_ERR_INTERNAL, "sandbox: more than %d threads", TAKE_MAX);
    if (e == CST_OK && atomic_load(&take_failed) > 0)
        e = cst_fail(CST_ERR_INTERNAL, "sandbox: a thread could not take the Landlock ruleset");
    if (e == CST_OK) /* every signalled thread ran the handler: none is pending */
        (void)sigaction(sig, &old, NULL);
    else /* a late one must not take the default action (terminate) */
        (void)signal(sig, SIG_IGN);
    return e;
}

static cst_err landlock_apply(const cst_config *cfg)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 2) {
        /* ABI 1 cannot allow a rename between dirs (every backup makes one): no Landlock. */
        sb.landlock = 0;
        cst_warn("sandbox: Landlock %s: file access is not restricted",
                 abi < 0 ? "is not available in this kernel" : "ABI 1 is too old (2 or later)");
        return CST_OK;
    }
    uint64_t handled = 0;
    for (size_t i = 0; i < sizeof(abi_rights) / sizeof(abi_rights[0]); i++)
        if (abi_rights[i].abi <= abi)
            handled |= abi_rights[i].fs;
    struct landlock_ruleset_attr attr = {.handled_access_fs = handled};
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    ENSURE(ruleset >= 0, CST_ERR_INTERNAL, "sandbox: landlock_create_ruleset: %s", strerror(errno));
    cst_err e = allow_node(ruleset, handled, cfg);
    if (e == CST_OK)
        e = landlock_all_threads(ruleset);
    if (e == CST_OK && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)
        e = cst_fail(CST_ERR_INTERNAL, "sandbox: landlock_restrict_self: %s", strerror(errno));
    close(ruleset);
    if (e == CST_OK) {
        sb.landlock = (int)abi;
        cst_info("sandbox: Landlock ABI %ld on every thread: files limited to the data, audit, "
                 "backup and scratch dirs, and read-only system paths",
                 abi);
    }
    return e;
}

/* ---- seccomp: system calls ---- */

/* What the node, its libraries (libmicrohttpd, GnuTLS, SQLite, libcurl, libsodium, p11-kit) and
 * the programs it runs (command: keys, backup commands, audit shipping) call. Anything else fails
 * with ENOSYS, which glibc takes as "fall back" (clone3 -> clone); never a kill. Missing on
 * purpose: ptrace, mount, bpf, perf_event_open, kexec, modules, keyctl, namespaces, io_uring,
 * process_vm_*, userfaultfd, set*id. */
/* clang-format off */
static const char *const allowed_syscalls[] = {
    /* files */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat", "creat", "close", "close_range", "lseek", "stat", "fstat",
    "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2",
    "readlink", "readlinkat", "getdents", "getdents64", "mkdir", "mkdirat", "rmdir", "unlink",
    "unlinkat", "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
    "chmod", "fchmod", "fchmodat", "fchown", "truncate", "ftruncate", "fallocate", "fadvise64",
    "readahead", "fsync", "fdatasync", "sync_file_range", "flock", "fcntl", "dup", "dup2", "dup3",
    "pipe", "pipe2", "ioctl", "umask", "getcwd", "chdir", "fchdir", "utimensat",
    "copy_file_range", "sendfile", "splice", "tee", "getxattr", "lgetxattr", "fgetxattr",
    "inotify_init1",
    /* memory (mmap and mprotect: below, never writable and executable at once) */
    "munmap", "mremap", "madvise", "brk", "mlock", "mlock2", "munlock", "mlockall", "munlockall",
    "msync", "mincore", "membarrier",
    /* threads, processes, signals */
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "kill",
    "tgkill", "tkill", "pidfd_open", "pidfd_send_signal", "getpid", "gettid", "getppid",
    "getpgrp", "getpgid", "setpgid", "setsid", "getsid", "getuid", "geteuid", "getgid",
    "getegid", "getgroups", "getresuid", "getresgid", "capget", "rt_sigaction",
    "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "rt_sigpending", "rt_sigsuspend",
    "rt_sigqueueinfo", "sigaltstack", "restart_syscall", "pause", "prctl", "arch_prctl",
    "seccomp", "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
    "sched_getscheduler", "getpriority", "setpriority", "getcpu", "getrlimit", "setrlimit",
    "prlimit64", "getrusage", "times", "uname", "sysinfo",
    /* time */
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time",
    "alarm", "setitimer", "getitimer", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    /* waiting */
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
    "poll", "ppoll", "select", "pselect6", "eventfd", "eventfd2", "signalfd", "signalfd4",
    /* network (socket: below, by address family) */
    "socketpair", "connect", "accept", "accept4", "bind", "listen", "getsockname",
    "getpeername", "setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg",
    "sendmmsg", "recvmmsg", "shutdown",
    /* randomness */
    "getrandom",
};
/* clang-format on */

/* Sanitizer builds only (make test-asan): LeakSanitizer checks for leaks at exit by stopping
 * the world, ptrace-attaching every thread from a helper thread. A release build never allows
 * ptrace. */
#if defined(__SANITIZE_ADDRESS__)
#define CST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CST_SANITIZED 1
#endif
#endif
static const char *const sanitizer_syscalls[] = {
#ifdef CST_SANITIZED
    "ptrace",
#endif
    NULL};

/* Unix sockets, IP, and netlink (the resolver asks it which addresses are configured). */
static const int socket_families[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};

#define NS_FLAGS                                                                                   \
    (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |  \
     CLONE_NEWNET)

/* One argument comparison, every field named (libseccomp's SCMP_A0..5 leave datum_b out for
 * the one-operand comparisons, which clang's -Wmissing-field-initializers refuses). */
static struct scmp_arg_cmp arg_cmp(unsigned arg, enum scmp_compare op, scmp_datum_t a,
                                   scmp_datum_t b)
{
    return (struct scmp_arg_cmp){.arg = arg, .op = op, .datum_a = a, .datum_b = b};
}

static cst_err seccomp_rules(scmp_filter_ctx ctx)
{
    int r = 0;
    for (size_t i = 0; r == 0 && i < sizeof(allowed_syscalls) / sizeof(allowed_syscalls[0]); i++) {
        int nr = seccomp_syscall_resolve_name(allowed_syscalls[i]);
        if (nr >= 0) /* not every name exists on every architecture */
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    }
    for (size_t i = 0; r == 0 && sanitizer_syscalls[i]; i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
                             seccomp_syscall_resolve_name(sanitizer_syscalls[i]), 0);
    for (size_t i = 0; r == 0 && i < sizeof(socket_families) / sizeof(socket_families[0]); i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                             arg_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)socket_families[i], 0));
    /* threads and children, never new namespaces; clone3 hides its flags: ENOSYS, glibc
     * falls back to clone */
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                             arg_cmp(0, SCMP_CMP_MASKED_EQ, (scmp_datum_t)NS_FLAGS, 0));
    /* W^X: no mapping both writable and executable */
    const scmp_datum_t wx = PROT_WRITE | PROT_EXEC, ok_prot[] = {0, PROT_WRITE, PROT_EXEC};
    for (size_t i = 0; r == 0 && i < sizeof(ok_prot) / sizeof(ok_prot[0]); i++) {
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                             arg_cmp(2, SCMP_CMP_MASKED_EQ, wx, ok_prot[i]));
        if (r == 0)
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                                 arg_cmp(2, SCMP_CMP_MASKED_EQ, wx, ok_prot[i]));
    }
    ENSURE(r == 0, CST_ERR_INTERNAL, "sandbox: seccomp rule: %s", strerror(-r));
    return CST_OK;
}

static cst_err seccomp_apply(void)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
    ENSURE(ctx, CST_ERR_INTERNAL, "sandbox: seccomp_init failed");
    cst_err e = CST_OK;
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1); /* every thread, at once */
    if (r != 0)
        e = cst_fail(CST_ERR_INTERNAL, "sandbox: seccomp thread sync: %s", strerror(-r));
    if (e == CST_OK)
        e = seccomp_rules(ctx);
    if (e == CST_OK && (r = seccomp_load(ctx)) != 0)
        e = cst_fail(CST_ERR_INTERNAL, "sandbox: seccomp_load: %s", strerror(-r));
    seccomp_release(ctx);
    if (e == CST_OK) {
        sb.seccomp = true;
        cst_info("sandbox: seccomp allow-list on every thread (%zu system calls; others fail "
                 "with ENOSYS)",
                 sizeof(allowed_syscalls) / sizeof(allowed_syscalls[0]) + 4);
    }
    return e;
}

/* ---- in order ---- */

cst_err cst_sandbox_enter(const cst_config *cfg)
{
    memset(&sb, 0, sizeof(sb));
    sb.entered = true;
    sb.landlock = -1;
    TRY(resolve_user(cfg));
    if (sb.drop)
        TRY(check_dirs(cfg));
    if (cfg->sandbox) {
        ENSURE(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, CST_ERR_INTERNAL,
               "sandbox: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        sb.nnp = true;
        TRY(landlock_apply(cfg));
        /* /tmp is out of reach: SQLite's spills and the programs the node runs use the
         * scratch dir (only the checkpoint thread runs now, and it reads no environment) */
        ENSURE(setenv("TMPDIR", cfg->backup_scratch_dir, 1) == 0, CST_ERR_INTERNAL,
               "sandbox: TMPDIR: %s", strerror(errno));
    } else {
        cst_warn("sandbox: node.sandbox = false: no Landlock, no seccomp");
    }
    if (sb.drop)
        TRY(drop_root(cfg));
    return cfg->sandbox ? seccomp_apply() : CST_OK;
}

bool cst_sandbox_owner_ok(const cst_config *cfg, uid_t uid)
{
    if (uid == geteuid())
        return true;
    struct passwd pw, *found = NULL;
    char buf[4096];
    (void)getpwnam_r(cfg->user[0] ? cfg->user : "custodia", &pw, buf, sizeof(buf), &found);
    return geteuid() == 0 && found && found->pw_uid == uid;
}

json_t *cst_sandbox_status(void)
{
    if (!sb.entered)
        return json_pack("{s:s,s:s,s:b}", "landlock", "not serving", "seccomp", "not serving",
                         "no_new_privs", false);
    char landlock[32];
    (void)snprintf(landlock, sizeof(landlock), "ABI %d", sb.landlock);
    return json_pack("{s:s,s:I,s:s,s:s,s:b}", "user", sb.user, "uid", (json_int_t)sb.uid,
                     "landlock",
                     sb.landlock > 0    ? landlock
                     : sb.landlock == 0 ? "unsupported"
                                        : "disabled",
                     "seccomp", sb.seccomp ? "allow-list" : "disabled", "no_new_privs", sb.nnp);
}
