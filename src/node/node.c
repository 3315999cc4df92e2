/* node.c: opening a node and its tenants. */
#include "node/node.h"

#include <jansson.h>

#include "audit/audit.h"
#include "core/credcache.h"
#include "node/detect.h"
#include "util/json.h"

#include <errno.h>
#include <sodium.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/throttle.h"
#include "util/util.h"

/* Buckets per login throttle table (each ~24 bytes): 8,192 client addresses or accounts. */
#define CST_LOGIN_THROTTLE_ENTRIES 8192

cst_err cst_node_check_data_dir(const char *data_dir, const char *driver)
{
    char path[PATH_MAX];
    /* BAK-2: a restore that did not finish leaves this marker; never serve half a node. */
    TRY(cst_fmt(path, sizeof(path), "%s/RESTORE-INCOMPLETE", data_dir));
    ENSURE(!cst_path_exists(path), CST_ERR_INVALID,
           "%s holds an unfinished restore; run the restore again (custodia backup restore "
           "--from BACKUP --data-dir %s)",
           data_dir, data_dir);
    ENSURE(cst_store_exists_driver(driver, data_dir), CST_ERR_INVALID,
           "%s is not an initialised data dir of a node on %s (run: custodia init --data-dir %s; "
           "a node of a shared PostgreSQL database needs its configuration file, with its "
           "[store] section: --config FILE)",
           data_dir, driver ? driver : CST_STORE_DEFAULT_DRIVER, data_dir);
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

/* ENC-4: when the KEK began wrapping this data dir: meta kek_since (written by init and by
 * keys rotate-master); a data dir
 * made before kek_since existed counts from its creation (meta created_at, written by init since
 * the first version); 0 when neither parses. */
int64_t cst_node_kek_since(cst_store *st)
{
    static const char *const keys[] = {"kek_since", "created_at"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char text[64];
        int64_t at = 0;
        if (cst_store_meta_get(st, NULL, keys[i], text, sizeof(text)) == CST_OK &&
            cst_time_parse(text, &at))
            return at;
        cst_err_clear();
    }
    return 0;
}

/* ENC-4: the id of the root key that seals backups (restore.c checks it), for a data dir made
 * before init recorded it. */
static cst_err record_root_key_id(cst_node *n)
{
    char stored[64], id[CST_KEK_ID_LEN + 1];
    if (cst_store_meta_get(n->store, NULL, "root_key_id", stored, sizeof(stored)) == CST_OK)
        return CST_OK;
    cst_err_clear();
    cst_kek_id(&n->root_key, id);
    return cst_store_meta_set(n->store, NULL, "root_key_id", id);
}

cst_err cst_node_open(cst_node *n, const cst_config *cfg)
{
    memset(n, 0, sizeof(*n));
    n->cfg = *cfg;
    pthread_mutex_init(&n->tenants_mu, NULL);
    pthread_cond_init(&n->tenants_cv, NULL);
    pthread_mutex_init(&n->erase_mu, NULL);
    pthread_mutex_init(&n->sweep_mu, NULL);
    pthread_cond_init(&n->sweep_cv, NULL);
    pthread_mutex_init(&n->backup_mu, NULL);
    pthread_mutex_init(&n->sched_mu, NULL);
    pthread_cond_init(&n->sched_cv, NULL);
    pthread_mutex_init(&n->keys_mu, NULL);
    pthread_cond_init(&n->keys_cv, NULL);
    pthread_mutex_init(&n->kek_mu, NULL);
    pthread_mutex_init(&n->kekrot_mu, NULL);
    n->started_at = cst_now_us();
    TRY(cst_node_check_data_dir(cfg->data_dir, cfg->store_driver));
    /* ENC-4: the KEK from its source (file:, command:, pkcs11:) */
    TRY(cst_node_master_open(cfg, false, &n->kek));
    TRY(cst_copy(n->kek_id, sizeof(n->kek_id), cst_master_id(n->kek)));
    cst_store_conf sc;
    cst_config_store(cfg, &sc);
    TRY(cst_store_open_conf(&sc, false, &n->store));
    char stored[64];
    TRY(cst_store_meta_get(n->store, NULL, "kek_id", stored, sizeof(stored)));
    TRY(cst_node_kek_check(n, stored)); /* and an interrupted KEK rotation */
    TRY(cst_master_root_key(n->kek, cfg->data_dir, false, &n->root_key));
    TRY(record_root_key_id(n));
    TRY(cst_store_meta_get(n->store, NULL, "node_id", n->node_id, sizeof(n->node_id)));
    TRY(cst_node_public_key(cfg->data_dir, n->public_key));
    TRY(cst_key_alloc(&n->audit_key));
    TRY(cst_hkdf_sha256(n->root_key.k, CST_KEY_LEN, "custodia audit details v1", n->audit_key.k,
                        CST_KEY_LEN));
    TRY(cst_store_meta_get(n->store, NULL, "region", n->region, sizeof(n->region)));
    /* RES-1: a node serves the region its data dir belongs to, and no other. */
    ENSURE(!cfg->region[0] || strcmp(cfg->region, n->region) == 0, CST_ERR_REGION_MISMATCH,
           "node.region = %s but this data dir belongs to region %s", cfg->region, n->region);
    /* IAM-2: fixed-size tables, so that clients with many addresses cannot grow them */
    TRY(cst_throttle_new(CST_LOGIN_THROTTLE_ENTRIES, cfg->login_rate_per_ip, &n->login_ip));
    TRY(cst_throttle_new(CST_LOGIN_THROTTLE_ENTRIES, cfg->login_rate_per_account,
                         &n->login_account));
    TRY(cst_failtable_new(CST_LOGIN_THROTTLE_ENTRIES, &n->login_phantoms));
    TRY(cst_credcache_new((size_t)cfg->auth_cache_entries, &n->credcache));
    TRY(cst_detect_new(&n->detect)); /* DET-1 */
    return CST_OK;
}

static cst_tenant_ctx *tenant_ctx_new(void)
{
    cst_tenant_ctx *t = calloc(1, sizeof(*t));
    if (t)
        cst_combiner_init(&t->group);
    return t;
}

/* warm: the store closes as one likely to be opened again (an eviction). */
static void tenant_ctx_drop(cst_tenant_ctx *t, bool warm)
{
    if (!t)
        return;
    if (warm)
        cst_tstore_close_warm(t->ts);
    else
        cst_tstore_close(t->ts);
    cst_dek_free(&t->deks);
    cst_key_free(&t->idx);
    cst_combiner_destroy(&t->group);
    free(t);
}

static void tenant_ctx_free(cst_tenant_ctx *t)
{
    tenant_ctx_drop(t, false);
}

void cst_node_close(cst_node *n)
{
    cst_audit_close(n->audit);
    n->audit = NULL;
    cst_key_free(&n->audit_key);
    for (size_t i = 0; i < n->ntenants; i++)
        tenant_ctx_free(n->tenants[i]);
    free(n->tenants);
    n->tenants = NULL;
    n->ntenants = 0;
    cst_store_close(n->store);
    n->store = NULL;
    cst_key_free(&n->root_key);
    cst_master_close(n->kek);
    cst_master_close(n->kek_next);
    cst_master_close(n->kek_retired);
    n->kek = n->kek_next = n->kek_retired = NULL;
    cst_throttle_free(n->login_ip);
    cst_throttle_free(n->login_account);
    cst_failtable_free(n->login_phantoms);
    n->login_ip = NULL;
    n->login_account = NULL;
    n->login_phantoms = NULL;
    cst_credcache_free(n->credcache);
    n->credcache = NULL;
    cst_detect_free(n->detect);
    n->detect = NULL;
    pthread_mutex_destroy(&n->tenants_mu);
    pthread_cond_destroy(&n->tenants_cv);
    pthread_mutex_destroy(&n->erase_mu);
    pthread_mutex_destroy(&n->sweep_mu);
    pthread_cond_destroy(&n->sweep_cv);
    pthread_mutex_destroy(&n->backup_mu);
    pthread_mutex_destroy(&n->sched_mu);
    pthread_cond_destroy(&n->sched_cv);
    pthread_mutex_destroy(&n->keys_mu);
    pthread_cond_destroy(&n->keys_cv);
    pthread_mutex_destroy(&n->kek_mu);
    pthread_mutex_destroy(&n->kekrot_mu);
}

static cst_err unwrap_latest(cst_node *n, cst_work *w, const char *tenant_id, const char *purpose,
                             cst_key *key, uint32_t *version)
{
    cst_buf blob;
    cst_buf_init(&blob, 4096);
    uint32_t v = 0;
    cst_err e = cst_store_key_latest(n->store, w, tenant_id, purpose, &v, &blob);
    if (e == CST_OK)
        e = cst_node_key_unwrap(n, tenant_id, purpose, v, blob.data, blob.len, key);
    cst_buf_free(&blob);
    if (e == CST_OK && version)
        *version = v;
    return e;
}

/* ENC-4: every DEK version of the tenant goes into its ring; the newest is current. */
typedef struct dek_load {
    cst_node *n;
    cst_tenant_ctx *t;
    uint32_t newest;
    int64_t encryptions; /* persisted under the newest */
} dek_load;

static cst_err dek_load_one(const char *purpose, uint32_t version, const uint8_t *blob, size_t len,
                            void *p)
{
    dek_load *d = p;
    if (strcmp(purpose, "dek") != 0)
        return CST_OK;
    if (version > d->newest)
        d->newest = version;
    if (cst_dek_get(&d->t->deks, version)) /* a refresh: held already */
        return CST_OK;
    cst_key k = {0};
    TRY(cst_node_key_unwrap(d->n, d->t->id, purpose, version, blob, len, &k));
    cst_err e = cst_dek_add(&d->t->deks, version, &k, false, 0);
    cst_key_free(&k);
    return e;
}

static cst_err dek_count_of(const cst_key_row *k, void *p)
{
    dek_load *d = p;
    if (strcmp(k->purpose, "dek") == 0 && k->version == d->newest)
        d->encryptions = k->encryptions;
    return CST_OK;
}

static cst_err deks_load(cst_node *n, cst_work *w, cst_tenant_ctx *t)
{
    dek_load d = {.n = n, .t = t};
    uint64_t epoch = 0;
    if (cst_store_shared_epoch(n->store, &epoch)) /* before the keys: a later change shows */
        t->keys_epoch = epoch;
    TRY(cst_store_tenant_keys(n->store, w, t->id, dek_load_one, &d));
    ENSURE(d.newest > 0, CST_ERR_INTEGRITY, "tenant %s has no dek key", t->id);
    TRY(cst_store_key_list(n->store, w, t->id, dek_count_of, &d));
    atomic_store(&t->deks.encryptions, d.encryptions);
    atomic_store_explicit(&t->deks.current, d.newest, memory_order_release);
    return CST_OK;
}

static cst_err tenant_open(cst_node *n, cst_work *w, const char *tenant_id, cst_tenant_ctx **out)
{
    cst_tenant_ctx *t = tenant_ctx_new();
    ENSURE(t != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_fmt(t->id, sizeof(t->id), "%s", tenant_id);
    if (e == CST_OK)
        e = deks_load(n, w, t);
    if (e == CST_OK)
        e = unwrap_latest(n, w, tenant_id, "idx", &t->idx, NULL);
    if (e == CST_OK)
        e = cst_tstore_open(n->store, CST_TSPACE_LIVE, tenant_id, true, &t->ts);
    if (e != CST_OK) {
        tenant_ctx_free(t);
        return e;
    }
    *out = t;
    return CST_OK;
}

static cst_tenant_ctx *tenant_cached(cst_node *n, const char *tenant_id)
{
    for (size_t i = 0; i < n->ntenants; i++)
        if (strcmp(n->tenants[i]->id, tenant_id) == 0)
            return n->tenants[i];
    return NULL;
}

/* Room for one more context in the list. Holds tenants_mu. */
static cst_err tenant_room(cst_node *n)
{
    return cst_room((void **)&n->tenants, &n->cap, n->ntenants, sizeof(*n->tenants));
}

static void tenant_unlist(cst_node *n, size_t i)
{
    if (!n->tenants[i]->closed)
        n->nopen--;
    n->tenants[i] = n->tenants[--n->ntenants];
}

/* Store and keys of a context no one holds, released so that a 10,000-tenant node stays within
 * its descriptor limit: the least recently used one beyond store.max_open_tenants, or NULL when
 * every open context is held (the bound then gives way rather than refusing a request; each
 * holder is a request in flight, bounded by the connection limits). Holds tenants_mu; the
 * caller closes the victim after unlocking. */
static cst_tenant_ctx *tenant_evict(cst_node *n)
{
    if (n->nopen < (size_t)(n->cfg.max_open_tenants > 0 ? n->cfg.max_open_tenants : 1))
        return NULL;
    size_t victim = SIZE_MAX;
    for (size_t i = 0; i < n->ntenants; i++) {
        const cst_tenant_ctx *c = n->tenants[i];
        /* RET-4: a context an erase is closing stays where the erase expects it */
        if (c->users == 0 && !c->closing && !c->closed &&
            (victim == SIZE_MAX || c->last_used < n->tenants[victim]->last_used))
            victim = i;
    }
    if (victim == SIZE_MAX) {
        cst_warn("store.max_open_tenants = %d reached with every tenant store in use",
                 n->cfg.max_open_tenants);
        return NULL;
    }
    cst_tenant_ctx *t = n->tenants[victim];
    tenant_unlist(n, victim);
    return t;
}

/* A cached context, or NULL; CST_ERR_NOT_FOUND once its erase has begun. Holds tenants_mu. */
static cst_err tenant_lookup(cst_node *n, const char *tenant_id, bool hold, bool promote,
                             cst_tenant_ctx **out)
{
    *out = tenant_cached(n, tenant_id);
    if (*out && (*out)->closing) {
        *out = NULL;
        return cst_fail(CST_ERR_NOT_FOUND, "the tenant has been erased");
    }
    if (*out && hold)
        (*out)->users++;
    if (*out && promote)
        (*out)->last_used = ++n->tick;
    return CST_OK;
}

/* Issue 20: on a store other nodes share, a DEK version another node added (a rotation there)
 * joins the ring of an open tenant at its next use here, and becomes the version new writes use
 * (as rotation_end in keys.c does for a rotation on this node, under the same keys_mu): the
 * shared epoch, which every write of tenant keys moves, is compared with the one its versions
 * were read at. A failure leaves the ring as it was (a record under a version it lacks is then
 * refused as such) and is logged. */
static void deks_refresh(cst_node *n, cst_work *w, cst_tenant_ctx *t)
{
    uint64_t epoch = 0;
    if (!cst_store_shared_epoch(n->store, &epoch) || epoch == t->keys_epoch)
        return;
    pthread_mutex_lock(&n->keys_mu);
    dek_load d = {.n = n, .t = t};
    uint32_t before = cst_dek_current(&t->deks);
    cst_err e = cst_store_tenant_keys(n->store, w, t->id, dek_load_one, &d);
    if (e == CST_OK && d.newest > before)
        e = cst_store_key_list(n->store, w, t->id, dek_count_of, &d);
    if (e == CST_OK && d.newest > before) {
        uint32_t old = 0; /* what this node sealed under the old version is counted there */
        int64_t k = cst_dek_take_unflushed(&t->deks, &old);
        if (k > 0 && cst_store_key_count(n->store, w, t->id, "dek", old, k) != CST_OK)
            cst_err_clear();
        atomic_store(&t->deks.encryptions, d.encryptions);
        atomic_store_explicit(&t->deks.current, d.newest, memory_order_release);
    }
    if (e == CST_OK)
        t->keys_epoch = epoch;
    pthread_mutex_unlock(&n->keys_mu);
    if (e != CST_OK) {
        cst_warn("tenant %s: reading the DEK versions other nodes added: %s", t->id,
                 cst_err_message(e));
        cst_err_clear();
    }
}

/* promote: the use counts for the LRU (a sweep over every tenant does not, so that it does not
 * push out the tenants requests are using). */
static cst_err tenant_get(cst_node *n, cst_work *w, const char *tenant_id, bool hold, bool promote,
                          cst_tenant_ctx **out)
{
    pthread_mutex_lock(&n->tenants_mu);
    cst_err e = tenant_lookup(n, tenant_id, hold, promote, out);
    pthread_mutex_unlock(&n->tenants_mu);
    if (e == CST_OK && *out)
        deks_refresh(n, w, *out);
    if (e != CST_OK || *out)
        return e;
    /* Opened without tenants_mu held: opening reads the system store, and a thread holding
     * its lock (a request's transaction) may be waiting for tenants_mu. */
    cst_tenant_ctx *t = NULL;
    e = tenant_open(n, w, tenant_id, &t);
    if (e != CST_OK)
        return e;
    pthread_mutex_lock(&n->tenants_mu);
    e = tenant_lookup(n, tenant_id, hold, promote, out);
    if (e != CST_OK || *out) {
        tenant_ctx_free(t); /* another thread opened it meanwhile (or began erasing it) */
        t = NULL;
    } else {
        e = tenant_room(n);
    }
    cst_tenant_ctx *evicted = NULL;
    if (e == CST_OK && !*out) {
        evicted = tenant_evict(n);
        n->tenants[n->ntenants++] = t;
        n->nopen++;
        t->users = hold ? 1 : 0;
        t->last_used = promote ? ++n->tick : 0; /* a sweep's: the first to go */
        *out = t;
    } else if (e != CST_OK && t) {
        tenant_ctx_free(t);
    }
    pthread_mutex_unlock(&n->tenants_mu);
    tenant_ctx_drop(evicted, true); /* closes its store and wipes its keys (no one holds it) */
    return e;
}

cst_err cst_node_tenant(cst_node *n, const char *tenant_id, cst_tenant_ctx **out)
{
    return tenant_get(n, NULL, tenant_id, false, true, out);
}

cst_err cst_node_tenant_acquire(cst_node *n, const char *tenant_id, cst_tenant_ctx **out)
{
    return tenant_get(n, NULL, tenant_id, true, true, out);
}

cst_err cst_node_tenant_acquire_in(cst_node *n, cst_work *w, const char *tenant_id,
                                   cst_tenant_ctx **out)
{
    return tenant_get(n, w, tenant_id, true, true, out);
}

cst_err cst_node_tenant_acquire_cold(cst_node *n, const char *tenant_id, cst_tenant_ctx **out)
{
    return tenant_get(n, NULL, tenant_id, true, false, out);
}

void cst_node_tenant_release(cst_node *n, cst_tenant_ctx *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&n->tenants_mu);
    if (--t->users == 0)
        pthread_cond_broadcast(&n->tenants_cv);
    pthread_mutex_unlock(&n->tenants_mu);
}

void cst_node_tenant_close(cst_node *n, const char *tenant_id)
{
    pthread_mutex_lock(&n->tenants_mu);
    cst_tenant_ctx *t = tenant_cached(n, tenant_id);
    if (!t) {
        /* Not open (never, or closed by the LRU): a closed entry keeps it from being opened
         * again by a request that passed its checks before the erase began. */
        t = tenant_ctx_new();
        if (t && tenant_room(n) == CST_OK) {
            (void)snprintf(t->id, sizeof(t->id), "%s", tenant_id);
            t->closing = t->closed = true;
            n->tenants[n->ntenants++] = t;
        } else {
            tenant_ctx_free(t);
            cst_err_clear();
        }
        pthread_mutex_unlock(&n->tenants_mu);
        return;
    }
    if (t->closed) {
        pthread_mutex_unlock(&n->tenants_mu);
        return;
    }
    t->closing = true;
    while (t->users > 0)
        pthread_cond_wait(&n->tenants_cv, &n->tenants_mu);
    pthread_mutex_unlock(&n->tenants_mu);
    /* No holder is left and none can come: the store and the keys can go. The context stays
     * allocated (an uncounted reader may still hold its address) but holds nothing. */
    cst_tstore_close(t->ts);
    t->ts = NULL;
    cst_dek_wipe(&t->deks);
    sodium_memzero(t->idx.k, CST_KEY_LEN);
    pthread_mutex_lock(&n->tenants_mu);
    t->closed = true;
    n->nopen--;
    pthread_mutex_unlock(&n->tenants_mu);
}

void cst_node_tenant_discard(cst_node *n, const char *tenant_id)
{
    cst_tenant_ctx *t = NULL;
    pthread_mutex_lock(&n->tenants_mu);
    for (size_t i = 0; i < n->ntenants; i++) {
        if (strcmp(n->tenants[i]->id, tenant_id) == 0 && n->tenants[i]->users == 0) {
            t = n->tenants[i];
            tenant_unlist(n, i);
            break;
        }
    }
    pthread_mutex_unlock(&n->tenants_mu);
    tenant_ctx_free(t);
    cst_err e = cst_tstore_purge(n->store, CST_TSPACE_LIVE, tenant_id, NULL, NULL);
    if (e != CST_OK) {
        cst_error("cannot remove the store of a tenant creation rolled back: %s",
                  cst_err_message(e));
        cst_err_clear();
    }
}

void cst_node_audit_event(cst_node *n, const char *action, const char *outcome, const char *tenant,
                          const char *resource, json_t *info)
{
    if (!n->audit) {
        json_decref(info);
        return;
    }
    cst_audit_event ev = {.stream = CST_AUDIT_SECURITY,
                          .tenant = tenant,
                          .actor_type = "node",
                          .actor_id = n->node_id,
                          .action = action,
                          .resource = resource,
                          .outcome = outcome,
                          .info = info};
    if (cst_audit_append(n->audit, &ev) != CST_OK) {
        cst_error("cannot audit %s: %s", action, cst_err_message(CST_ERR_AUDIT_UNAVAILABLE));
        cst_err_clear();
    }
    json_decref(info);
}

/* CHG-1: what changed in the effective configuration since the last start. */
static json_t *config_changes(const json_t *old, const json_t *cur)
{
    json_t *changes = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)cur, k, v)
    {
        json_t *o = json_object_get(old, k);
        if (!o || !json_equal(o, v))
            json_object_set_new(changes, k,
                                json_pack("{s:O?,s:O}", "old", o ? o : json_null(), "new", v));
    }
    json_object_foreach((json_t *)old, k, v)
    {
        if (!json_object_get(cur, k))
            json_object_set_new(changes, k, json_pack("{s:O,s:n}", "old", v, "new"));
    }
    return changes;
}

cst_err cst_node_audit_attach(cst_node *n)
{
    char epoch_file[PATH_MAX];
    TRY(cst_fmt(epoch_file, sizeof(epoch_file), "%s/audit/epoch.key", n->cfg.data_dir));
    cst_audit_opts o = {
        .dir = n->cfg.audit_dir,
        .epoch_file = epoch_file,
        .kek = &n->root_key,
        .node_id = n->node_id,
        .seal_entries = n->cfg.audit_seal_entries,
        .seal_seconds = n->cfg.audit_seal_seconds,
        .group_commit = n->cfg.audit_group_commit,
        .segment_bytes = n->cfg.audit_segment_bytes,
        .segment_seconds = n->cfg.audit_segment_seconds,
        .retention_days = {n->cfg.audit_security_retention_days,
                           n->cfg.audit_access_retention_days},
        .batched_reads = strcmp(n->cfg.audit_read_durability, "batched") == 0,
        .flush_interval_ms = n->cfg.audit_flush_interval,
    };
    return cst_audit_open(&o, &n->audit);
}

cst_err cst_node_config_hash(const cst_config *cfg, char hex[2 * CST_HASH_LEN + 1],
                             json_t **non_default)
{
    json_t *cur = cst_config_json(cfg);
    char *text = cur ? cst_audit_canonical(cur) : NULL;
    cst_err e = text ? CST_OK : cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (e == CST_OK) {
        uint8_t h[CST_HASH_LEN];
        cst_sha256(text, strlen(text), h);
        cst_hex(h, sizeof(h), hex);
    }
    if (e == CST_OK && non_default) {
        cst_config d;
        cst_config_defaults(&d);
        json_t *def = cst_config_json(&d);
        *non_default = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(cur, k, v)
        {
            if (def && *non_default && !json_equal(v, json_object_get(def, k)))
                json_array_append_new(*non_default, json_string(k));
        }
        json_decref(def);
    }
    cst_json_free_text(text);
    json_decref(cur);
    return e;
}

cst_err cst_node_audit_open(cst_node *n)
{
    TRY(cst_node_audit_attach(n));
    json_t *cur = cst_config_json(&n->cfg);
    ENSURE(cur != NULL, CST_ERR_INTERNAL, "out of memory");
    char *text = cst_audit_canonical(cur);
    char last[16384] = "";
    if (cst_store_meta_get(n->store, NULL, "last_config", last, sizeof(last)) != CST_OK)
        cst_err_clear();
    json_t *old = json_loads(last, 0, NULL);
    json_t *none = old ? NULL : json_object();
    uint8_t h[CST_HASH_LEN];
    char hex[CST_HASH_LEN * 2 + 1];
    cst_sha256(text, strlen(text), h);
    cst_hex(h, sizeof(h), hex);
    json_t *info =
        json_pack("{s:s,s:s,s:o,s:b}", "version", CUSTODIA_VERSION, "config_sha256", hex, "changes",
                  config_changes(old ? old : none, cur), "first_start", old == NULL);
    cst_audit_event ev = {.stream = CST_AUDIT_SECURITY,
                          .actor_type = "node",
                          .actor_id = n->node_id,
                          .action = "node.start",
                          .resource = n->node_id,
                          .outcome = "success",
                          .info = info};
    cst_err e = cst_audit_append(n->audit, &ev);
    if (e == CST_OK)
        e = cst_store_meta_set(n->store, NULL, "last_config", text);
    json_decref(info);
    json_decref(old);
    json_decref(none);
    json_decref(cur);
    cst_json_free_text(text);
    return e;
}

bool cst_node_lease(cst_node *n, const char *name, int64_t ttl_us, cst_node_lease_state *l)
{
    int64_t now = cst_now_us();
    if (l->held && now - l->renewed < ttl_us / 3)
        return true;
    bool held = false;
    if (cst_store_lease(n->store, name, n->node_id, now, ttl_us, &held) != CST_OK) {
        cst_warn("lease %s: %s (the task waits)", name, cst_err_message(CST_ERR_UNAVAILABLE));
        cst_err_clear();
        held = false;
    }
    if (held != l->held)
        cst_info("lease %s: %s", name,
                 held ? "this node runs it now"
                      : "another node of the store runs it (this one takes over when its "
                        "lease expires)");
    l->held = held;
    if (held)
        l->renewed = now;
    return held;
}
