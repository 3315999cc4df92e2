/* serve.c: custodia serve: narrow the process, open the node, serve HTTPS until a signal. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "backup/backup.h"
#include "lifecycle/lifecycle.h"
#include "cli/cli.h"
#include "crypto/tlscert.h"
#include "http/router.h"
#include "http/server.h"
#include "util/util.h"

/* No core dumps: a dump would hold the KEK, DEKs and plaintext. */
void cst_cli_harden_process(void)
{
    struct rlimit rl = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &rl);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    umask(077);
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
    TRY(cst_file_read(cert_path, 1 << 20, cert));
    TRY(cst_buf_append_u8(cert, 0));
    TRY(cst_file_read(key_path, 1 << 20, key));
    return cst_buf_append_u8(key, 0);
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
    pthread_sigmask(SIG_BLOCK, &sigs, NULL); /* every thread inherits the mask */
    signal(SIGPIPE, SIG_IGN);
    /* A file-size limit makes writes fail with EFBIG (answered 503) instead of killing us. */
    signal(SIGXFSZ, SIG_IGN);

    cst_err e = cst_routes_check(cst_api_routes, cst_api_route_count);
    if (e == CST_OK)
        e = cst_node_check_data_dir(cfg->data_dir);
    if (e == CST_OK)
        e = cst_node_lock_data_dir(cfg->data_dir, &lock_fd);
    if (e == CST_OK)
        e = cst_node_open(&node, cfg);
    else
        memset(&node, 0, sizeof(node));
    if (e == CST_OK)
        e = cst_node_audit_open(&node);
    bool tls = !cfg->allow_plaintext_loopback;
    if (e == CST_OK && tls)
        e = load_tls(cfg, &cert, &key);
    if (e == CST_OK) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cst_server_opts opts = {
            .host = cfg->listen_host,
            .port = cfg->listen_port,
            .threads = cfg->threads ? cfg->threads : (int)(cores > 0 ? cores : 2),
            .tls = tls,
            .cert_pem = (const char *)cert.data,
            .key_pem = (const char *)key.data,
            .priorities = cfg->tls_priorities,
            .max_header_bytes = cfg->max_header_bytes,
        };
        cst_server_hooks hooks = {&node, cst_api_on_headers, cst_api_on_complete,
                                  cst_api_on_respond};
        e = cst_server_start(&opts, &hooks, &srv);
    }
    if (e == CST_OK)
        e = cst_backup_schedule_start(&node);                      /* BAK-1 */
    if (e == CST_OK && (e = cst_lifecycle_start(&node)) != CST_OK) /* RET-1..4 */
        cst_backup_schedule_stop(&node);
    cst_buf_wipe_free(&key);
    cst_buf_free(&cert);
    if (e != CST_OK) {
        fprintf(stderr, "custodia serve: %s\n", cst_err_message(e));
        cst_server_stop(srv);
        if (node.store)
            cst_node_close(&node);
        return 1;
    }
    bool v6 = strchr(cfg->listen_host, ':') != NULL;
    printf("custodia: serving %s://%s%s%s:%d (node %s, region %s)\n", tls ? "https" : "http",
           v6 ? "[" : "", cfg->listen_host, v6 ? "]" : "", cst_server_port(srv), node.node_id,
           node.region);
    fflush(stdout);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0 && errno == EINTR)
        ;
    cst_info("signal %d: shutting down", sig);
    cst_lifecycle_stop(&node);
    cst_backup_schedule_stop(&node);
    cst_server_stop(srv);
    cst_node_close(&node);
    close(lock_fd);
    cst_info("stopped cleanly");
    return 0;
}
