/* offline.c: a stopped node for the commands that change it (backup, operator unlock): they
 * take the data dir's lock, so they refuse to run beside a serving node. */
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

cst_err cst_cli_offline_open(const cst_config *cfg, const char *serving_hint, cst_node *n,
                             int *lock_fd)
{
    memset(n, 0, sizeof(*n));
    *lock_fd = -1;
    TRY(cst_node_check_data_dir(cfg->data_dir, cfg->store_driver));
    cst_err e = cst_node_lock_data_dir(cfg->data_dir, lock_fd);
    if (e == CST_ERR_CONFLICT)
        return cst_fail(e, "a node is serving %s: %s", cfg->data_dir, serving_hint);
    TRY(e);
    TRY(cst_node_open(n, cfg));
    return cst_node_audit_attach(n);
}

void cst_cli_offline_close(cst_node *n, int lock_fd)
{
    if (n->store)
        cst_node_close(n);
    if (lock_fd >= 0)
        close(lock_fd);
}
