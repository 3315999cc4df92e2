/* serve.c: custodia serve: narrow the process, open the node, serve HTTPS until a signal. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "api/api.h"
#include "backup/backup.h"
#include "lifecycle/lifecycle.h"
#include "node/keys.h"
#include "node/ship.h"
#include "node/sandbox.h"
#include "node/webhook.h"
#include "cli/cli.h"
#include "crypto/tlscert.h"
#include "http/router.h"
#include "http/server.h"
#include "util/log.h"
#include "util/util.h"

/* No core dumps: a dump would hold the KEK, DEKs and plaintext. */
void cst_cli_harden_process(void)
{
    struct rlimit rl = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &rl);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    umask(077);
}

/* A TLS private key readable by anyone but its owner is refused, as the master key is. */
static cst_err check_key_file(const cst_config *cfg, const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ENSURE(fd >= 0, CST_ERR_INVALID, "TLS key file %s: %s%s", path, strerror(errno),
           errno == ELOOP ? " (symbolic links are refused)" : "");
    struct stat st;
    bool ok = fstat(fd, &st) == 0;
    close(fd);
    ENSURE(ok && S_ISREG(st.st_mode), CST_ERR_INVALID, "TLS key file %s is not a regular file",
           path);
    ENSURE(!(st.st_mode & (S_IRWXG | S_IRWXO)), CST_ERR_INVALID,
           "TLS key file %s has mode %03o: it must not be accessible to group or others "
           "(chmod 600 %s)",
           path, (unsigned)(st.st_mode & 0777), path);
    ENSURE(cst_sandbox_owner_ok(cfg, st.st_uid), CST_ERR_INVALID,
           "TLS key file %s belongs to uid %u, not to the user running custodia (uid %u)", path,
           (unsigned)st.st_uid, (unsigned)geteuid());
    return CST_OK;
}

static cst_err load_tls(const cst_config *cfg, cst_buf *cert, cst_buf *key)
{
    char cert_path[PATH_MAX], key_path[PATH_MAX];
    if (cfg->tls_cert_file[0]) {
        TRY(cst_fmt(cert_path, sizeof(cert_path), "%s", cfg->tls_cert_file));
        TRY(cst_fmt(key_path, sizeof(key_path), "%s", cfg->tls_key_file));
    } else {
        TRY(cst_fmt(cert_path, sizeof(cert_path), "%s/tls/cert.pem", cfg->data_dir));
        TRY(cst_fmt(key_path, sizeof(key_path), "%s/tls/key.pem", cfg->data_dir));
        if (!cst_path_exists(cert_path))
            TRY(cst_tls_selfsigned(cert_path, key_path, NULL));
    }
    TRY(check_key_file(cfg, key_path));
    TRY(cst_file_read(cert_path, 1 << 20, cert));
    TRY(cst_buf_append_u8(cert, 0));
    TRY(cst_file_read(key_path, 1 << 20, key));
    return cst_buf_append_u8(key, 0);
}

/* The server log: stderr, or log.file dup'ed over it (SIGHUP reopens it, logrotate). */
static cst_err open_log(const char *path)
{
    if (!path[0])
        return CST_OK;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    ENSURE(fd >= 0, CST_ERR_INVALID, "log.file %s: %s%s", path, strerror(errno),
           errno == ELOOP ? " (symbolic links are refused)" : "");
    fflush(stderr);
    int r = dup2(fd, STDERR_FILENO);
    close(fd);
    ENSURE(r >= 0, CST_ERR_INVALID, "log.file %s: %s", path, strerror(errno));
    return CST_OK;
}

/* Descriptors kept back from connections: audit segments, backups and drills, system.db,
 * the log, listening sockets and each server thread's epoll and wake-up descriptors. */
#define FD_RESERVE 64
#define FD_PER_TENANT 3 /* a tenant store: its database, journal and WAL index */

/* Raises the descriptor limit to its hard limit and sizes the connection total from it when
 * http.max_connections is 0, so that connections can never starve the stores of descriptors. */
static cst_err size_connections(const cst_config *cfg, int threads, int *max_connections)
{
    struct rlimit rl;
    ENSURE(getrlimit(RLIMIT_NOFILE, &rl) == 0, CST_ERR_INTERNAL, "getrlimit: %s", strerror(errno));
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    long long nofile = rl.rlim_cur == RLIM_INFINITY ? 1048576 : (long long)rl.rlim_cur;
    /* the store's descriptors: SQLite's files of the open tenants, or PostgreSQL's pool */
    long long store = strcmp(cfg->store_driver, "postgresql") == 0
                          ? (long long)cfg->store_pool_size
                          : (long long)FD_PER_TENANT * cfg->max_open_tenants;
    long long room = nofile - store - FD_RESERVE - 4LL * threads;
    if (cfg->max_connections > 0) {
        *max_connections = cfg->max_connections;
        if (cfg->max_connections > room)
            cst_warn("http.max_connections = %d leaves too few of the %lld descriptors "
                     "(RLIMIT_NOFILE) for %d open tenants: at most %lld fit",
                     cfg->max_connections, nofile, cfg->max_open_tenants, room);
        return CST_OK;
    }
    ENSURE(room >= 16, CST_ERR_INVALID,
           "RLIMIT_NOFILE is %lld: too few descriptors for store.max_open_tenants = %d and "
           "connections (raise ulimit -n, or lower store.max_open_tenants)",
           nofile, cfg->max_open_tenants);
    *max_connections = room > 1000000 ? 1000000 : (int)room;
    return CST_OK;
}

/* DET-2: metrics.listen: plain HTTP on loopback (cst_config_finish refuses any other address),
 * serving /metrics and nothing else, with the main listener's access rule. */
static cst_err start_metrics(const cst_config *cfg, cst_node *node, cst_server **out)
{
    cst_server_opts opts = {
        .host = cfg->metrics_host,
        .port = cfg->metrics_port,
        .threads = 1,
        .max_header_bytes = cfg->max_header_bytes,
        .max_connections = 16,
        .max_connections_per_ip = 8,
        .header_timeout = cfg->header_timeout,
        .max_inflight_body_bytes = 1024 * 1024,
        .workers = 1,
        .offload_workers = 1,
        .offload_queue = 1,
    };
    cst_server_hooks hooks = {node, cst_api_on_headers_metrics, cst_api_on_complete,
                              cst_api_on_respond};
    cst_err e = cst_server_start(&opts, &hooks, out);
    ENSURE(e == CST_OK, e, "metrics.listen = %s: cannot listen there (is the port in use?)",
           cfg->metrics_listen);
    return CST_OK;
}

int cst_cli_serve(const cst_config *cfg)
{
    cst_node node;
    int lock_fd = -1;
    cst_buf cert, key;
    cst_buf_init(&cert, 0);
    cst_buf_init(&key, 0);
    cst_server *srv = NULL;

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);                /* reopens the log; never kills the node */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread inherits the mask */
    signal(SIGPIPE, SIG_IGN);
    /* A file-size limit makes writes fail with EFBIG (answered 503) instead of killing us. */
    signal(SIGXFSZ, SIG_IGN);

    cst_log_set_format(cfg->log_format); /* issue 19: json (default) or text lines */
    /* Start-up failures are also told to the terminal, not only to log.file. */
    int console = cfg->log_file[0] ? dup(STDERR_FILENO) : -1;
    cst_err e = open_log(cfg->log_file);
    if (e != CST_OK && console >= 0) {
        close(console); /* stderr is still the terminal */
        console = -1;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cfg->threads ? cfg->threads : (int)(cores > 0 ? cores : 2);
    int max_connections = 0;
    if (e == CST_OK)
        e = size_connections(cfg, threads, &max_connections);
    if (e == CST_OK)
        e = cst_routes_check(cst_api_routes, cst_api_route_count);
    if (e == CST_OK)
        e = cst_node_check_data_dir(cfg->data_dir, cfg->store_driver);
    if (e == CST_OK)
        e = cst_node_lock_data_dir(cfg->data_dir, &lock_fd);
    bool tls = !cfg->allow_plaintext_loopback;
    if (e == CST_OK && tls)
        e = load_tls(cfg, &cert, &key);
    if (e == CST_OK)
        e = cst_node_open(&node, cfg);
    else
        memset(&node, 0, sizeof(node));
    if (e == CST_OK) /* keys and certificate read: Landlock, drop root, seccomp; then the rest */
        e = cst_sandbox_enter(cfg);
    if (e == CST_OK)
        e = cst_node_audit_open(&node);
    if (e == CST_OK) {
        int hash_workers = cfg->hash_workers ? cfg->hash_workers : (int)(cores / 2);
        int workers = cfg->workers ? cfg->workers : 4 * (int)(cores > 0 ? cores : 2);
        cst_server_opts opts = {
            .host = cfg->listen_host,
            .port = cfg->listen_port,
            .threads = threads,
            .tls = tls,
            .cert_pem = (const char *)cert.data,
            .key_pem = (const char *)key.data,
            .priorities = cfg->tls_priorities,
            .max_header_bytes = cfg->max_header_bytes,
            .max_connections = max_connections,
            .max_connections_per_ip = cfg->max_connections_per_ip,
            .header_timeout = cfg->header_timeout,
            .max_inflight_body_bytes = cfg->max_inflight_body_bytes,
            .workers = workers > 0 ? workers : 0,
            .offload_workers = hash_workers > 0 ? hash_workers : 1,
            .offload_queue = cfg->hash_queue,
        };
        cst_info("http: at most %d connections, %d per address; headers within %d s; %zu bytes "
                 "of request bodies in flight; %d request worker(s); %d password-hashing "
                 "worker(s), %d waiting",
                 opts.max_connections, opts.max_connections_per_ip, opts.header_timeout,
                 opts.max_inflight_body_bytes, opts.workers, opts.offload_workers,
                 opts.offload_queue);
        cst_server_hooks hooks = {&node, cst_api_on_headers, cst_api_on_complete,
                                  cst_api_on_respond};
        e = cst_webhook_start(&node); /* DET-1: before any request can raise an alert */
        if (e == CST_OK)
            e = cst_ship_start(&node); /* audit entries leave the node as they are written */
        if (e == CST_OK)
            e = cst_server_start(&opts, &hooks, &srv);
    }
    cst_server *metrics_srv = NULL;
    if (e == CST_OK && cfg->metrics_listen[0])
        e = start_metrics(cfg, &node, &metrics_srv); /* DET-2 */
    if (e == CST_OK)
        e = cst_backup_schedule_start(&node);                      /* BAK-1 */
    if (e == CST_OK && (e = cst_lifecycle_start(&node)) != CST_OK) /* RET-1..4 */
        cst_backup_schedule_stop(&node);
    if (e == CST_OK && (e = cst_keys_start(&node)) != CST_OK) { /* ENC-4 */
        cst_lifecycle_stop(&node);
        cst_backup_schedule_stop(&node);
    }
    cst_buf_wipe_free(&key);
    cst_buf_free(&cert);
    if (e != CST_OK) {
        cst_error("custodia serve: %s", cst_err_message(e)); /* the log's format, like the rest */
        if (console >= 0) { /* and plainly on the terminal when the log is a file */
            dprintf(console, "custodia serve: %s\n", cst_err_message(e));
            close(console);
        }
        cst_server_stop(metrics_srv);
        cst_server_stop(srv);
        cst_webhook_stop(&node);
        cst_ship_stop(&node);
        if (node.store)
            cst_node_close(&node);
        return 1;
    }
    if (console >= 0)
        close(console);
    bool v6 = strchr(cfg->listen_host, ':') != NULL;
    printf("custodia: serving %s://%s%s%s:%d (node %s, region %s)\n", tls ? "https" : "http",
           v6 ? "[" : "", cfg->listen_host, v6 ? "]" : "", cst_server_port(srv), node.node_id,
           node.region);
    if (metrics_srv)
        printf("custodia: metrics on http://%s%s%s:%d/metrics\n",
               strchr(cfg->metrics_host, ':') ? "[" : "", cfg->metrics_host,
               strchr(cfg->metrics_host, ':') ? "]" : "", cst_server_port(metrics_srv));
    fflush(stdout);
    (void)sd_notify(0, "READY=1"); /* Type=notify units: listening (no-op outside systemd) */

    int sig = 0;
    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        /* logrotate: the renamed file keeps what was written; new lines go to a new one */
        if (open_log(cfg->log_file) != CST_OK)
            cst_error("SIGHUP: cannot reopen the log: %s", cst_err_message(CST_ERR_INVALID));
        else
            cst_info("SIGHUP: log reopened");
    }
    cst_info("signal %d: shutting down", sig);
    (void)sd_notify(0, "STOPPING=1");
    cst_lifecycle_stop(&node);
    cst_backup_schedule_stop(&node);
    cst_server_stop(metrics_srv);
    cst_server_stop(srv);
    cst_keys_stop(&node);    /* after the last request: it persists the last counts */
    cst_webhook_stop(&node); /* what is still pending goes out after the next start */
    /* An auditor can tell a clean stop from a gap (a crash leaves no node.stop). */
    cst_node_audit_event(&node, "node.stop", "success", NULL, node.node_id,
                         json_pack("{s:s}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
    cst_ship_stop(&node); /* what it has not shipped goes after the next start */
    cst_node_close(&node);
    close(lock_fd);
    cst_info("stopped cleanly");
    return 0;
}
