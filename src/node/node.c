/* node.c: opening a node and its tenants. */
#include "node/node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/util.h"

cst_err cst_node_check_data_dir(const char *data_dir)
{
    char path[PATH_MAX];
    TRY(cst_fmt(path, sizeof(path), "%s/system.db", data_dir));
    ENSURE(cst_path_exists(path), CST_ERR_INVALID,
           "%s is not an initialised data dir (run: custodia init --data-dir %s)", data_dir,
           data_dir);
    return CST_OK;
}

cst_err cst_node_lock_data_dir(const char *data_dir, int *fd)
{
    char path[PATH_MAX];
    TRY(cst_fmt(path, sizeof(path), "%s/custodia.lock", data_dir));
    int f = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    ENSURE(f >= 0, CST_ERR_INVALID, "cannot open %s: %s", path, strerror(errno));
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t r = pread(f, pid, sizeof(pid) - 1, 0);
        pid[r > 0 ? r : 0] = '\0';
        close(f);
        return cst_fail(CST_ERR_CONFLICT,
                        "data dir %s is in use by another custodia process (pid %s)", data_dir,
                        pid[0] ? pid : "unknown");
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(f, 0) != 0 || pwrite(f, pid, (size_t)n, 0) != n)
        cst_warn("cannot record the pid in %s", path);
    *fd = f;
    return CST_OK;
}

cst_err cst_node_open(cst_node *n, const cst_config *cfg)
{
    memset(n, 0, sizeof(*n));
    n->cfg = *cfg;
    pthread_mutex_init(&n->tenants_mu, NULL);
    n->started_at = cst_now_us();
    TRY(cst_node_check_data_dir(cfg->data_dir));
    TRY(cst_kek_load(cfg->master_key_file, cfg->data_dir, &n->kek));
    cst_kek_id(&n->kek, n->kek_id);
    TRY(cst_store_open(cfg->data_dir, false, &n->store));
    char stored[64];
    TRY(cst_store_meta_get(n->store, "kek_id", stored, sizeof(stored)));
    ENSURE(strcmp(stored, n->kek_id) == 0, CST_ERR_INVALID,
           "master key file %s (key id %s) is not the key this data dir was initialised with "
           "(key id %s)",
           cfg->master_key_file, n->kek_id, stored);
    TRY(cst_store_meta_get(n->store, "node_id", n->node_id, sizeof(n->node_id)));
    TRY(cst_store_meta_get(n->store, "region", n->region, sizeof(n->region)));
    /* RES-1: a node serves the region its data dir belongs to, and no other. */
    ENSURE(!cfg->region[0] || strcmp(cfg->region, n->region) == 0, CST_ERR_REGION_MISMATCH,
           "node.region = %s but this data dir belongs to region %s", cfg->region, n->region);
    return CST_OK;
}

static void tenant_ctx_free(cst_tenant_ctx *t)
{
    if (!t)
        return;
    cst_tstore_close(t->ts);
    cst_key_free(&t->dek);
    cst_key_free(&t->idx);
    free(t);
}

void cst_node_close(cst_node *n)
{
    for (size_t i = 0; i < n->ntenants; i++)
        tenant_ctx_free(n->tenants[i]);
    free(n->tenants);
    n->tenants = NULL;
    n->ntenants = 0;
    cst_store_close(n->store);
    n->store = NULL;
    cst_key_free(&n->kek);
    pthread_mutex_destroy(&n->tenants_mu);
}

cst_err cst_node_tenant_path(const cst_node *n, const char *tenant_id, char *out, size_t size)
{
    ENSURE(cst_id_valid(tenant_id, "tn"), CST_ERR_INVALID, "malformed tenant id");
    return cst_fmt(out, size, "%s/tenants/%s.db", n->cfg.data_dir, tenant_id);
}

static cst_err unwrap_latest(cst_node *n, const char *tenant_id, const char *purpose, cst_key *key,
                             uint32_t *version)
{
    cst_buf blob;
    cst_buf_init(&blob, 4096);
    uint32_t v = 0;
    cst_err e = cst_store_key_latest(n->store, tenant_id, purpose, &v, &blob);
    if (e == CST_OK)
        e = cst_unwrap_key(&n->kek, tenant_id, purpose, v, blob.data, blob.len, key);
    cst_buf_free(&blob);
    if (e == CST_OK && version)
        *version = v;
    return e;
}

static cst_err tenant_open(cst_node *n, const char *tenant_id, cst_tenant_ctx **out)
{
    cst_tenant_ctx *t = calloc(1, sizeof(*t));
    ENSURE(t != NULL, CST_ERR_INTERNAL, "out of memory");
    char path[PATH_MAX];
    cst_err e = cst_fmt(t->id, sizeof(t->id), "%s", tenant_id);
    if (e == CST_OK)
        e = cst_node_tenant_path(n, tenant_id, path, sizeof(path));
    if (e == CST_OK)
        e = unwrap_latest(n, tenant_id, "dek", &t->dek, &t->dek_version);
    if (e == CST_OK)
        e = unwrap_latest(n, tenant_id, "idx", &t->idx, NULL);
    if (e == CST_OK)
        e = cst_tstore_open(path, true, &t->ts);
    if (e != CST_OK) {
        tenant_ctx_free(t);
        return e;
    }
    *out = t;
    return CST_OK;
}

cst_err cst_node_tenant(cst_node *n, const char *tenant_id, cst_tenant_ctx **out)
{
    cst_err e = CST_OK;
    pthread_mutex_lock(&n->tenants_mu);
    for (size_t i = 0; i < n->ntenants; i++) {
        if (strcmp(n->tenants[i]->id, tenant_id) == 0) {
            *out = n->tenants[i];
            pthread_mutex_unlock(&n->tenants_mu);
            return CST_OK;
        }
    }
    if (n->ntenants == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 16;
        cst_tenant_ctx **grown = realloc(n->tenants, cap * sizeof(*grown));
        if (!grown)
            e = cst_fail(CST_ERR_INTERNAL, "out of memory");
        else {
            n->tenants = grown;
            n->cap = cap;
        }
    }
    cst_tenant_ctx *t = NULL;
    if (e == CST_OK)
        e = tenant_open(n, tenant_id, &t);
    if (e == CST_OK) {
        n->tenants[n->ntenants++] = t;
        *out = t;
    }
    pthread_mutex_unlock(&n->tenants_mu);
    return e;
}
