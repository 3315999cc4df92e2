/* keys.c: ENC-4 DEK rotation, background re-encryption and automatic rotation (node/keys.h). */
#include "node/keys.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/account.h"
#include "core/authn.h"
#include "core/record.h"
#include "core/tenant.h"
#include "util/json.h"
#include "util/util.h"

/* ---- rotation ---- */

/* What a rotation publishes once its unit of work has committed. */
typedef struct rotation {
    cst_node *n;
    cst_tenant_ctx *t; /* held until published */
    uint32_t version;
    bool running; /* records to re-encrypt */
    cst_key key;
} rotation;

static void rotation_end(void *p, bool committed)
{
    rotation *r = p;
    if (committed && r->t) {
        /* the old version's count is persisted under it before the new one counts */
        uint32_t old = 0;
        int64_t k = cst_dek_take_unflushed(&r->t->deks, &old);
        if (k > 0 && cst_store_key_count(r->n->store, NULL, r->t->id, "dek", old, k) != CST_OK)
            cst_err_clear();
        pthread_mutex_lock(&r->n->keys_mu);
        if (cst_dek_add(&r->t->deks, r->version, &r->key, true, 0) != CST_OK)
            cst_err_clear(); /* the context was opened after the commit and holds it already */
        r->n->keys_wake = true;
        pthread_cond_broadcast(&r->n->keys_cv);
        pthread_mutex_unlock(&r->n->keys_mu);
    }
    cst_key_free(&r->key);
    cst_node_tenant_release(r->n, r->t);
    free(r);
}

static cst_err sum_records(uint32_t version, int64_t records, void *p)
{
    (void)version;
    *(int64_t *)p += records;
    return CST_OK;
}

static cst_err rotate_in(cst_node *n, cst_work *w, const char *tenant_id, int64_t now, rotation *r)
{
    cst_buf blob;
    cst_buf_init(&blob, 4096);
    uint32_t latest = 0;
    cst_err e = cst_node_tenant_acquire_in(n, w, tenant_id, &r->t);
    if (e == CST_OK)
        e = cst_store_key_latest(n->store, w, tenant_id, "dek", &latest, &blob);
    if (e == CST_OK && latest + 1 > CST_DEK_VERSIONS_MAX)
        e = cst_fail(CST_ERR_CONFLICT, "the tenant holds %d DEK versions, the most there can be",
                     CST_DEK_VERSIONS_MAX);
    r->version = latest + 1;
    blob.len = 0;
    if (e == CST_OK)
        e = cst_node_key_wrap_new(n, w, tenant_id, "dek", r->version, &blob);
    if (e == CST_OK)
        e = cst_node_key_unwrap(n, tenant_id, "dek", r->version, blob.data, blob.len, &r->key);
    if (e == CST_OK)
        e = cst_store_key_add(n->store, w, tenant_id, "dek", r->version, &blob, now);

    cst_rewrap_row row = {.target = r->version, .started_at = now};
    if (e == CST_OK)
        e = cst_tstore_dek_counts(r->t->ts, NULL, sum_records, &row.total);
    (void)snprintf(row.tenant_id, sizeof(row.tenant_id), "%s", tenant_id);
    /* running even with no record: the worker re-seals the TOTP secrets at its end */
    (void)snprintf(row.state, sizeof(row.state), "running");
    r->running = true;
    if (e == CST_OK)
        e = cst_store_rewrap_put(n->store, w, &row);
    cst_buf_free(&blob);
    return e;
}

cst_err cst_keys_rotate(cst_node *n, cst_work *w, const char *tenant_id, const char *reason,
                        int64_t now, uint32_t *version, bool *running)
{
    rotation *r = calloc(1, sizeof(*r));
    ENSURE(r != NULL, CST_ERR_INTERNAL, "out of memory");
    r->n = n;
    cst_txn *txn = NULL;
    cst_work *own = NULL;
    cst_err e = CST_OK;
    if (!w) {
        e = cst_txn_begin(&txn);
        if (e == CST_OK)
            e = cst_work_begin(txn, &own);
        w = own;
    }
    if (e == CST_OK)
        e = rotate_in(n, w, tenant_id, now, r);
    uint32_t v = r->version;
    bool run = r->running;
    if (e != CST_OK) {
        cst_key_free(&r->key);
        cst_node_tenant_release(n, r->t);
        free(r);
        if (own)
            if (cst_work_end(own, false) != CST_OK)
                cst_err_clear();
        if (txn)
            cst_txn_rollback(txn);
        return e;
    }
    /* the hook owns r from here: it publishes the version once the unit of work commits */
    e = cst_work_on_end(w, rotation_end, r);
    if (own) {
        cst_err ee = cst_work_end(own, e == CST_OK);
        if (e == CST_OK)
            e = ee;
        if (e == CST_OK)
            e = cst_txn_commit(txn);
        else
            cst_txn_rollback(txn);
    }
    if (e == CST_OK && version)
        *version = v;
    if (e == CST_OK && running)
        *running = run;
    if (e == CST_OK && own) /* an automatic one (a request's is the request's entry) */
        cst_node_audit_event(n, "tenant.key.rotate", "success", tenant_id,
                             "/v1/sys/tenants/{id}/keys",
                             json_pack("{s:s,s:i}", "reason", reason, "version", (int)v));
    return e;
}

/* ---- status ---- */

typedef struct status {
    cst_tenant_ctx *t;
    json_t *versions;
    int64_t records[CST_DEK_VERSIONS_MAX + 1];
    int64_t all;
    uint32_t current;
} status;

static cst_err count_of(uint32_t version, int64_t records, void *p)
{
    status *s = p;
    if (version <= CST_DEK_VERSIONS_MAX)
        s->records[version] = records;
    s->all += records;
    return CST_OK;
}

static cst_err version_json(const cst_key_row *k, void *p)
{
    status *s = p;
    bool dek = strcmp(k->purpose, "dek") == 0;
    if (!dek && strcmp(k->purpose, "idx") != 0)
        return CST_OK; /* billing keys are the retained store's */
    int64_t records = dek ? (k->version <= CST_DEK_VERSIONS_MAX ? s->records[k->version] : 0)
                          : s->all; /* the index key computes every record's blind index */
    int64_t enc = k->encryptions;
    if (dek && k->version == s->current)
        enc += atomic_load(&s->t->deks.unflushed); /* counted, not yet persisted */
    const char *state =
        dek ? cst_dek_state(k->version, s->current, records, cst_dek_get(&s->t->deks, k->version))
            : "current";
    json_array_append_new(s->versions,
                          json_pack("{s:s,s:i,s:s,s:o,s:I,s:I}", "purpose", k->purpose, "version",
                                    (int)k->version, "state", state, "created_at",
                                    cst_json_time(k->created_at), "encryptions", (json_int_t)enc,
                                    "records", (json_int_t)records));
    return CST_OK;
}

cst_err cst_keys_status(cst_node *n, cst_work *w, const char *tenant_id, json_t **out)
{
    status s = {.versions = json_array()};
    cst_err e = cst_node_tenant_acquire_in(n, w, tenant_id, &s.t);
    if (e == CST_OK) {
        s.current = cst_dek_current(&s.t->deks);
        e = cst_tstore_dek_counts(s.t->ts, NULL, count_of, &s);
    }
    if (e == CST_OK)
        e = cst_store_key_list(n->store, w, tenant_id, version_json, &s);
    cst_rewrap_row rw = {.state = "idle"};
    if (e == CST_OK &&
        (e = cst_store_rewrap_get(n->store, w, tenant_id, &rw)) == CST_ERR_NOT_FOUND) {
        cst_err_clear();
        e = CST_OK;
    }
    cst_node_tenant_release(n, s.t);
    if (e != CST_OK) {
        json_decref(s.versions);
        return e;
    }
    json_t *rewrap = json_pack("{s:s,s:i,s:I,s:I}", "state", rw.state, "target", (int)rw.target,
                               "done", (json_int_t)rw.done, "total", (json_int_t)rw.total);
    if (rw.started_at)
        json_object_set_new(rewrap, "started_at", cst_json_time(rw.started_at));
    if (rw.finished_at)
        json_object_set_new(rewrap, "finished_at", cst_json_time(rw.finished_at));
    *out =
        json_pack("{s:s,s:o,s:o}", "kek_id", n->kek_id, "versions", s.versions, "rewrap", rewrap);
    return CST_OK;
}

/* ---- the worker ---- */

static cst_err reseal_one(const char *bucket, cst_record_row *r, void *p)
{
    cst_tenant_ctx *t = p;
    return cst_record_reseal(t, bucket, r);
}

static cst_err collect_running(const cst_rewrap_row *r, void *p)
{
    json_array_append_new(p, json_pack("{s:s,s:i,s:I,s:I,s:I}", "tenant", r->tenant_id, "target",
                                       (int)r->target, "done", (json_int_t)r->done, "total",
                                       (json_int_t)r->total, "started", (json_int_t)r->started_at));
    return CST_OK;
}

/* ENC-4: once a tenant's records are re-encrypted, its users' TOTP secrets sealed under an
 * older DEK version are re-sealed under the current one, in one system.db transaction (read
 * and written inside it, so nothing a login writes meanwhile is lost). Until then they open
 * under the version that sealed them (the ring holds every version). */
static bool has_totp(const cst_user_row *u)
{
    return u->totp_sealed_len > 0;
}

typedef struct {
    cst_node *n;
    cst_tenant_ctx *t;
    const cst_key *cur;
    cst_user_rows rows;
    int64_t resealed;
} reseal_ctx;

static cst_err totp_reseal_in(cst_work *w, void *ctx)
{
    reseal_ctx *c = ctx;
    TRY(cst_store_user_list(c->n->store, w, c->t->id, cst_user_rows_add, &c->rows));
    uint8_t secret[CST_TOTP_SECRET_LEN];
    cst_err e = CST_OK;
    for (size_t i = 0; e == CST_OK && i < c->rows.n; i++) {
        const cst_key *used = NULL;
        e = cst_totp_secret_open_ring(&c->t->deks, c->cur, &c->rows.rows[i], secret, &used);
        if (e == CST_OK && used != c->cur) {
            e = cst_totp_secret_seal(c->cur, &c->rows.rows[i], secret);
            if (e == CST_OK)
                e = cst_store_user_update(c->n->store, w, &c->rows.rows[i]);
            if (e == CST_OK)
                c->resealed++;
        }
        sodium_memzero(secret, sizeof(secret));
    }
    return e;
}

static cst_err totp_reseal(cst_node *n, cst_tenant_ctx *t, int64_t *resealed)
{
    const cst_key *cur = cst_dek_get(&t->deks, cst_dek_current(&t->deks));
    ENSURE(cur != NULL, CST_ERR_INTERNAL, "the tenant's current DEK is not held");
    reseal_ctx c = {.n = n, .t = t, .cur = cur, .rows = {.keep = has_totp}};
    cst_err e = cst_txn_run(totp_reseal_in, &c);
    if (e == CST_OK) /* counted once they are committed */
        *resealed += c.resealed;
    cst_user_rows_free(&c.rows);
    return e;
}

/* One batch of a tenant's re-encryption; *busy when records remain. */
static cst_err rewrap_step(cst_node *n, const json_t *j, int64_t now, bool *busy)
{
    cst_rewrap_row row = {.target = (uint32_t)json_integer_value(json_object_get(j, "target")),
                          .done = json_integer_value(json_object_get(j, "done")),
                          .total = json_integer_value(json_object_get(j, "total")),
                          .started_at = json_integer_value(json_object_get(j, "started"))};
    (void)snprintf(row.tenant_id, sizeof(row.tenant_id), "%s",
                   json_string_value(json_object_get(j, "tenant")));
    (void)snprintf(row.state, sizeof(row.state), "running");
    cst_tenant_ctx *t = NULL;
    cst_err e = cst_node_tenant_acquire_cold(n, row.tenant_id, &t);
    if (e == CST_ERR_NOT_FOUND) { /* erased meanwhile: nothing left to re-encrypt */
        cst_err_clear();
        (void)snprintf(row.state, sizeof(row.state), "idle");
        row.finished_at = now;
        return cst_store_rewrap_put(n->store, NULL, &row);
    }
    TRY(e);
    if (cst_dek_current(&t->deks) != row.target) { /* its rotation is being published */
        cst_node_tenant_release(n, t);
        *busy = true;
        return CST_OK;
    }
    if (row.total == 0) { /* a re-encryption restarted by a restore: count what is left */
        status s = {.t = t};
        e = cst_tstore_dek_counts(t->ts, NULL, count_of, &s);
        row.total = s.all - (row.target <= CST_DEK_VERSIONS_MAX ? s.records[row.target] : 0);
    }
    int64_t done = 0, seen = 0, resealed = 0;
    if (e == CST_OK)
        e = cst_tstore_rewrap_batch(t->ts, row.target, n->cfg.rewrap_batch, reseal_one, t, &done,
                                    &seen);
    row.done += done;
    if (e == CST_OK && seen == 0) /* the users' TOTP secrets follow the records */
        e = totp_reseal(n, t, &resealed);
    if (e == CST_OK && seen == 0) {
        (void)snprintf(row.state, sizeof(row.state), "idle");
        row.finished_at = now;
        /* the old ciphertexts leave the WAL too (secure_delete zeroed them in the pages) */
        if (cst_tstore_checkpoint_strict(t->ts) != CST_OK) {
            cst_err_clear();
            (void)snprintf(row.state, sizeof(row.state), "running"); /* again next tick */
            row.finished_at = 0;
        }
    }
    cst_node_tenant_release(n, t);
    if (e == CST_OK)
        e = cst_store_rewrap_put(n->store, NULL, &row);
    if (e == CST_OK && !strcmp(row.state, "idle"))
        cst_node_audit_event(n, "tenant.key.rewrap", "success", row.tenant_id,
                             "/v1/sys/tenants/{id}/keys",
                             json_pack("{s:i,s:I,s:I}", "version", (int)row.target, "records",
                                       (json_int_t)row.done, "totp_secrets", (json_int_t)resealed));
    *busy = *busy || !strcmp(row.state, "running");
    return e;
}

/* The open contexts' ids (the worker flushes their counts and checks their limits). */
static json_t *open_tenants(cst_node *n)
{
    json_t *ids = json_array();
    pthread_mutex_lock(&n->tenants_mu);
    for (size_t i = 0; i < n->ntenants; i++)
        if (!n->tenants[i]->closed && !n->tenants[i]->closing)
            json_array_append_new(ids, json_string(n->tenants[i]->id));
    pthread_mutex_unlock(&n->tenants_mu);
    return ids;
}

/* Persists an open tenant's count; true when its current DEK has reached the limit. */
static bool flush_counts(cst_node *n, const char *tenant_id)
{
    cst_tenant_ctx *t = NULL;
    if (cst_node_tenant_acquire_cold(n, tenant_id, &t) != CST_OK) {
        cst_err_clear();
        return false;
    }
    uint32_t v;
    int64_t k = cst_dek_take_unflushed(&t->deks, &v);
    if (k > 0 && cst_store_key_count(n->store, NULL, tenant_id, "dek", v, k) != CST_OK) {
        atomic_fetch_add(&t->deks.unflushed, k); /* next tick */
        cst_err_clear();
    }
    bool full = atomic_load(&t->deks.encryptions) >= n->cfg.max_encryptions_per_dek;
    cst_node_tenant_release(n, t);
    return full;
}

typedef struct due {
    uint32_t newest;
    int64_t created_at, encryptions;
} due;

static cst_err newest_dek(const cst_key_row *k, void *p)
{
    due *d = p;
    if (!strcmp(k->purpose, "dek") && k->version >= d->newest)
        *d = (due){k->version, k->created_at, k->encryptions};
    return CST_OK;
}

/* One rotation at a time per tenant: none while its re-encryption runs (that would only
 * restart it; the running one's encryptions count under the new version). */
static void check_rotation(cst_node *n, const char *tenant_id, int64_t now)
{
    due d = {0};
    cst_tenant_row tr;
    cst_rewrap_row rw;
    if (cst_store_rewrap_get(n->store, NULL, tenant_id, &rw) == CST_OK &&
        !strcmp(rw.state, "running"))
        return;
    cst_err_clear();
    if (cst_store_tenant_get(n->store, NULL, tenant_id, &tr) != CST_OK ||
        !strcmp(tr.state, "erased") || !strcmp(tr.state, "pending_erase") ||
        cst_store_key_list(n->store, NULL, tenant_id, newest_dek, &d) != CST_OK || !d.newest) {
        cst_err_clear();
        return;
    }
    const char *why =
        cst_dek_rotation_due(d.encryptions, d.created_at, now, n->cfg.max_encryptions_per_dek,
                             (int64_t)n->cfg.dek_max_age * 1000000);
    if (why && cst_keys_rotate(n, NULL, tenant_id, why, now, NULL, NULL) != CST_OK) {
        cst_error("automatic DEK rotation of tenant %s: %s", tenant_id,
                  cst_err_message(CST_ERR_INTERNAL));
        cst_err_clear();
    }
}

static cst_err collect_tenant(const cst_tenant_row *t, void *p)
{
    json_array_append_new(p, json_string(t->id));
    return CST_OK;
}

void cst_keys_tick(cst_node *n, int64_t now, bool check_all, bool *busy)
{
    *busy = false;
    cst_node_kek_step(n, now, busy); /* an online KEK rotation's next batch */
    json_t *ids = open_tenants(n), *full = json_array();
    size_t i;
    json_t *id;
    /* every tick: the open tenants' counts (those at the limit are checked at once) */
    json_array_foreach(ids, i, id)
    {
        if (flush_counts(n, json_string_value(id)))
            json_array_append(full, id);
    }
    /* every lifecycle.sweep_interval: every tenant, by count and age */
    if (check_all) {
        json_array_clear(full);
        if (cst_store_tenant_list(n->store, NULL, "", 1000000, collect_tenant, full) != CST_OK)
            cst_err_clear();
    }
    json_array_foreach(full, i, id) check_rotation(n, json_string_value(id), now);
    json_decref(ids);
    json_decref(full);
    json_t *running = json_array();
    if (cst_store_rewrap_running(n->store, NULL, collect_running, running) != CST_OK)
        cst_err_clear();
    json_array_foreach(running, i, id)
    {
        if (rewrap_step(n, id, now, busy) != CST_OK) {
            cst_error("re-encryption of tenant %s: %s",
                      json_string_value(json_object_get(id, "tenant")),
                      cst_err_message(CST_ERR_INTERNAL));
            cst_err_clear();
        }
    }
    json_decref(running);
}

static void *keys_main(void *arg)
{
    cst_node *n = arg;
    int64_t checked = 0;
    pthread_mutex_lock(&n->keys_mu);
    while (!n->keys_stop) {
        n->keys_wake = false;
        pthread_mutex_unlock(&n->keys_mu);
        int64_t now = cst_now_us();
        bool all = now - checked >= (int64_t)n->cfg.sweep_interval * 1000000, busy = false;
        if (all)
            checked = now;
        cst_err_clear();
        cst_keys_tick(n, now, all, &busy);
        pthread_mutex_lock(&n->keys_mu);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ms = busy ? n->cfg.rewrap_pause_ms : 1000;
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!n->keys_stop && !n->keys_wake && ms > 0)
            pthread_cond_timedwait(&n->keys_cv, &n->keys_mu, &ts);
    }
    pthread_mutex_unlock(&n->keys_mu);
    return NULL;
}

cst_err cst_keys_start(cst_node *n)
{
    n->keys_stop = false;
    ENSURE(pthread_create(&n->keys_thread, NULL, keys_main, n) == 0, CST_ERR_INTERNAL,
           "cannot start the key worker");
    n->keys_started = true;
    return CST_OK;
}

void cst_keys_stop(cst_node *n)
{
    if (!n->keys_started)
        return;
    pthread_mutex_lock(&n->keys_mu);
    n->keys_stop = true;
    pthread_cond_broadcast(&n->keys_cv);
    pthread_mutex_unlock(&n->keys_mu);
    pthread_join(n->keys_thread, NULL);
    n->keys_started = false;
    /* what the last tick did not persist */
    json_t *ids = open_tenants(n);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)(void) flush_counts(n, json_string_value(id));
    json_decref(ids);
}
