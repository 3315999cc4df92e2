/* node.h: a running node: its configuration, master key, system store and the open tenants
 * (their stores and unwrapped keys, held in locked memory). */
#ifndef CST_NODE_H
#define CST_NODE_H

#include <pthread.h>
#include <stdbool.h>

#include "crypto/keys.h"
#include "node/config.h"
#include "store/store.h"

#define CST_SYS_TENANT "_sys" /* the pseudo-tenant operators log in to */

typedef struct cst_tenant_ctx {
    char id[CST_ID_MAX];
    cst_tstore *ts;
    cst_key dek;
    uint32_t dek_version;
    cst_key idx;
} cst_tenant_ctx;

struct cst_audit;

typedef struct cst_node {
    cst_config cfg;
    struct cst_audit *audit; /* open while serving */
    cst_key audit_key;       /* seals audit details that belong to no tenant */
    cst_store *store;
    cst_key kek;
    char kek_id[CST_KEK_ID_LEN + 1];
    char node_id[CST_ID_MAX];
    char region[65];
    int64_t started_at;
    pthread_mutex_t tenants_mu;
    cst_tenant_ctx **tenants;
    size_t ntenants, cap;
} cst_node;

/* Loads the KEK (with its file checks), opens system.db and checks that the KEK and region
 * match what the data dir was initialised with. */
CST_MUST_USE cst_err cst_node_open(cst_node *n, const cst_config *cfg);
void cst_node_close(cst_node *n);
/* Opens the audit log and records the start (CHG-1: a hash of the effective configuration
 * and every key changed since the last start). */
CST_MUST_USE cst_err cst_node_audit_open(cst_node *n);

/* The open tenant context for an id, opening its store and unwrapping its keys on first use.
 * The context lives until cst_node_close. */
CST_MUST_USE cst_err cst_node_tenant(cst_node *n, const char *tenant_id, cst_tenant_ctx **out);
CST_MUST_USE cst_err cst_node_tenant_path(const cst_node *n, const char *tenant_id, char *out,
                                          size_t size);

/* Fails with a clear message when data_dir holds no initialised node. */
CST_MUST_USE cst_err cst_node_check_data_dir(const char *data_dir);
/* Takes an exclusive lock on the data dir (custodia.lock) for the life of the process. */
CST_MUST_USE cst_err cst_node_lock_data_dir(const char *data_dir, int *fd);

/* custodia init: see SPEC §4. Prints prose, or one JSON object when json is true. */
CST_MUST_USE cst_err cst_node_init(const char *data_dir, const char *master_key_file,
                                   const char *region, bool json);

#endif
