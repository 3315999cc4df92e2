/* kekrot.c: master key (KEK) rotation on a stopped node (ENC-4, `custodia keys rotate-master`).
 *
 * Every wrapped key of every tenant (each DEK version, the index key, billing keys) is unwrapped
 * by the old KEK and wrapped by the new one; the root key keeps its value (audit details and
 * the node's sealed secrets depend on it) and is written wrapped by the new KEK to
 * <data_dir>/root.key, where every later open reads it (crypto/master.h).
 *
 * Crash safety, in this order:
 *   1. root.key.next = the root key wrapped by the new KEK (temp file, fsync, rename);
 *   2. one system.db transaction: every rewrapped key, meta kek_id and kek_since;
 *   3. root.key.next renamed over root.key (fsync of the directory).
 * A crash before 2 commits leaves the old KEK's data dir (root.key.next names the new KEK,
 * which meta kek_id does not: the next open with the old KEK deletes it); after 2 it is the new
 * KEK's (the next open with the new KEK, which meta kek_id names, finishes 3). Exactly one of
 * the two KEKs opens the data dir at every point (cst_node_kek_recover).
 *
 * Online (POST /v1/sys/keys/rotate, cst_node_kek_rotate): the rotation is recorded in meta
 * kek_next ({from_source, from_id, to_source, to_id, started_at}) and the node holds both KEKs:
 * new keys are wrapped by the new one at once, each blob opens with the KEK it names, and the key
 * worker rewraps the old KEK's keys in batches of keys.rewrap_batch (cst_node_kek_step). When
 * none is left it ends as the offline rotation does (steps 1 to 3, kek_next cleared in step 2's
 * transaction) and the old KEK is closed. A node that stops midway resumes at its next start,
 * whichever of the two keys keys.master_key names, as long as the other one's source still
 * opens (cst_node_kek_check). Many nodes sharing a store (issue 20) all follow a rotation any of
 * them started, without a restart: see "many nodes on one store" below. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/keys.h"
#include "node/node.h"
#include "util/json.h"
#include "util/util.h"

typedef struct rewrapped {
    char tenant_id[CST_ID_MAX], purpose[32];
    uint32_t version;
    cst_buf blob;
} rewrapped;

typedef struct rewrap_all {
    cst_master *from, *to;
    rewrapped *rows;
    size_t n, cap;
    size_t limit;            /* rows rewrapped by one pass at most (0: all; online: a batch) */
    int64_t all, done, left; /* keys seen, under to already, left for a later batch */
} rewrap_all;

/* Counts a key; true if the new KEK wraps it already. */
static bool key_seen(rewrap_all *a, const uint8_t *blob, size_t len)
{
    char id[2 * CST_MASTER_ID_BYTES + 1];
    a->all++;
    bool done = cst_master_blob_id(blob, len, id) && strcmp(id, cst_master_id(a->to)) == 0;
    a->done += done;
    return done;
}

static cst_err on_key(const char *tenant_id, const char *purpose, uint32_t version,
                      const uint8_t *blob, size_t len, void *ctx)
{
    rewrap_all *a = ctx;
    if (key_seen(a, blob, len))
        return CST_OK;
    if (a->limit && a->n >= a->limit) {
        a->left++;
        return CST_OK;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        rewrapped *rows = realloc(a->rows, cap * sizeof(*rows));
        ENSURE(rows != NULL, CST_ERR_INTERNAL, "out of memory");
        a->rows = rows;
        a->cap = cap;
    }
    rewrapped *r = &a->rows[a->n];
    memset(r, 0, sizeof(*r));
    cst_buf_init(&r->blob, len + 16);
    a->n++;
    TRY(cst_copy(r->tenant_id, sizeof(r->tenant_id), tenant_id));
    TRY(cst_copy(r->purpose, sizeof(r->purpose), purpose));
    r->version = version;
    cst_err e = cst_rewrap_key(a->from, a->to, tenant_id, purpose, version, blob, len, &r->blob);
    if (e != CST_OK)
        return cst_fail(e, "key %s/%s v%u: %s", tenant_id, purpose, version, cst_err_message(e));
    return CST_OK;
}

/* A rotation's progress, counted without rewrapping (its status from the start). */
static cst_err count_key(const char *tenant_id, const char *purpose, uint32_t version,
                         const uint8_t *blob, size_t len, void *ctx)
{
    (void)tenant_id, (void)purpose, (void)version;
    key_seen(ctx, blob, len);
    return CST_OK;
}

static cst_err kek_progress(cst_node *n, cst_master *to, rewrap_all *a)
{
    *a = (rewrap_all){.to = to};
    return cst_store_keys_all(n->store, NULL, count_key, a);
}

static cst_err root_paths(const char *data_dir, char *root, char *next, size_t n)
{
    TRY(cst_fmt(root, n, "%s/root.key", data_dir));
    return cst_fmt(next, n, "%s/root.key.next", data_dir);
}

cst_err cst_node_kek_recover(const char *data_dir, const char *kek_id)
{
    char root[4096], next[4096], id[2 * CST_MASTER_ID_BYTES + 1];
    TRY(root_paths(data_dir, root, next, sizeof(root)));
    if (!cst_path_exists(next))
        return CST_OK;
    cst_buf blob;
    cst_buf_init(&blob, 128);
    cst_err e = cst_file_read(next, 1024, &blob);
    bool committed =
        e == CST_OK && cst_master_blob_id(blob.data, blob.len, id) && strcmp(id, kek_id) == 0;
    cst_buf_free(&blob);
    TRY(e);
    if (committed) /* step 2 committed: finish step 3 */
        ENSURE(rename(next, root) == 0, CST_ERR_UNAVAILABLE, "rename %s: %s", next,
               strerror(errno));
    else /* step 2 never committed: the old KEK's data dir, as before */
        ENSURE(unlink(next) == 0, CST_ERR_UNAVAILABLE, "unlink %s: %s", next, strerror(errno));
    return cst_fsync_dir(data_dir);
}

/* A meta key's value; "" when it was never set. */
static cst_err meta_text(cst_store *st, cst_work *w, const char *k, char *out, size_t n)
{
    cst_err e = cst_store_meta_get(st, w, k, out, n);
    if (e == CST_ERR_NOT_FOUND) {
        cst_err_clear();
        out[0] = '\0';
        return CST_OK;
    }
    return e;
}

/* Issue 20: meta kek_progress, "DONE/TOTAL" of the running rotation, which the nodes following
 * it show (GET /v1/sys/keys). */
static cst_err progress_set(cst_store *st, cst_work *w, int64_t done, int64_t total)
{
    char text[64];
    TRY(cst_fmt(text, sizeof(text), "%lld/%lld", (long long)done, (long long)total));
    return cst_store_meta_set(st, w, "kek_progress", text);
}

/* Issue 20: at the end, the rotation's record (meta kek_next) is kept as meta kek_last: a node
 * that had not followed it opens the new KEK from it, or at its start the old one to rewrap its
 * root key. An offline rotation has none and leaves kek_last (which then names another key). */
static cst_err last_set(cst_store *st, cst_work *w)
{
    char text[3 * CST_MASTER_SOURCE_MAX];
    TRY(meta_text(st, w, "kek_next", text, sizeof(text)));
    return text[0] ? cst_store_meta_set(st, w, "kek_last", text) : CST_OK;
}

/* Step 2: the rewrapped keys and the new KEK's id and start, in one transaction (which ends an
 * online rotation too). */
typedef struct {
    cst_store *st;
    const rewrap_all *a;
    const char *kek_id;
    bool last; /* the end of the rotation: root is the root key */
    char since[32], root_id[CST_KEK_ID_LEN + 1];
} commit_ctx;

static cst_err commit_keys_in(cst_work *w, void *ctx)
{
    const commit_ctx *c = ctx;
    cst_store *st = c->st;
    const rewrap_all *a = c->a;
    for (size_t i = 0; i < a->n; i++) {
        cst_err e = cst_store_key_rewrapped(st, w, a->rows[i].tenant_id, a->rows[i].purpose,
                                            a->rows[i].version, &a->rows[i].blob);
        if (e == CST_ERR_NOT_FOUND && !c->last) /* erased meanwhile: nothing to rewrap */
            cst_err_clear();
        else
            TRY(e);
    }
    if (!c->last) /* a batch of an online rotation: its progress, for every node */
        return progress_set(st, w, a->done + (int64_t)a->n, a->all);
    /* what a node that did not follow the end finds (kek_follow, root_catch_up) */
    TRY(last_set(st, w));
    TRY(cst_store_meta_set(st, w, "kek_id", c->kek_id));
    TRY(cst_store_meta_set(st, w, "kek_since", c->since));
    /* what backups name (their frames are under the root key): restore.c */
    TRY(cst_store_meta_set(st, w, "root_key_id", c->root_id));
    return cst_store_meta_set(st, w, "kek_next", "");
}

static cst_err commit_keys(cst_store *st, const rewrap_all *a, const char *kek_id,
                           const cst_key *root, int64_t now)
{
    commit_ctx c = {.st = st, .a = a, .kek_id = kek_id, .last = root != NULL};
    cst_time_format(now, c.since);
    if (root)
        cst_kek_id(root, c.root_id);
    return cst_txn_run(commit_keys_in, &c);
}

/* Steps 1 to 3 (a: the rows rewrapped; none online, where the batches stored them). */
static cst_err kek_switch(cst_node *n, cst_master *to, const rewrap_all *a, int64_t now)
{
    char root[4096], next[4096];
    cst_buf rb;
    cst_buf_init(&rb, 128);
    cst_err e = root_paths(n->cfg.data_dir, root, next, sizeof(root));
    if (e == CST_OK) /* step 1 */
        e = cst_master_root_wrap(to, &n->root_key, &rb);
    if (e == CST_OK)
        e = cst_file_write_atomic(next, rb.data, rb.len, 0600);
    if (e == CST_OK) { /* step 2 */
        e = commit_keys(n->store, a, cst_master_id(to), &n->root_key, now);
        if (e != CST_OK && unlink(next) != 0)
            cst_warn("kekrot: unlink %s: %s", next, strerror(errno));
    }
    if (e == CST_OK) /* step 3 */
        e = cst_node_kek_recover(n->cfg.data_dir, cst_master_id(to));
    cst_buf_free(&rb);
    return e;
}

static void rows_free(rewrap_all *a)
{
    for (size_t i = 0; i < a->n; i++)
        cst_buf_free(&a->rows[i].blob);
    free(a->rows);
    a->rows = NULL;
    a->n = a->cap = 0;
}

/* The KEK named by source, with n's PIN file and timeout. */
static cst_err master_at(const cst_node *n, const char *source, bool create, cst_master **out)
{
    cst_config cfg = n->cfg;
    TRY(cst_copy(cfg.master_key, sizeof(cfg.master_key), source));
    return cst_node_master_open(&cfg, create, out);
}

static cst_err set_current(cst_node *n, int64_t since)
{
    n->kek_since = since;
    TRY(cst_copy(n->kek_kind, sizeof(n->kek_kind), cst_master_kind(n->kek)));
    return cst_copy(n->kek_id, sizeof(n->kek_id), cst_master_id(n->kek));
}

cst_err cst_node_rotate_master(cst_node *n, const char *new_source, int64_t now, json_t **out)
{
    ENSURE(n->kek_next == NULL, CST_ERR_CONFLICT,
           "an online master key rotation to key id %s is unfinished: start the node and let it "
           "finish (GET /v1/sys/keys) before rotating again",
           cst_master_id(n->kek_next));
    cst_master *to = NULL;
    TRY(master_at(n, new_source, true, &to)); /* file:, pkcs11: make a missing key, as init */
    char old_id[sizeof(n->kek_id)];
    memcpy(old_id, n->kek_id, sizeof(old_id));
    rewrap_all a = {.from = n->kek, .to = to};
    cst_err e = CST_OK;
    if (strcmp(cst_master_id(to), old_id) == 0)
        e = cst_fail(CST_ERR_INVALID, "%s is the master key in use (key id %s)", new_source,
                     old_id);
    if (e == CST_OK)
        e = cst_store_keys_all(n->store, NULL, on_key, &a);
    if (e == CST_OK)
        e = kek_switch(n, to, &a, now);
    if (e == CST_OK) {
        *out = json_pack("{s:s,s:s,s:s,s:I,s:o}", "old_kek_id", old_id, "new_kek_id",
                         cst_master_id(to), "source", cst_master_kind(to), "keys_rewrapped",
                         (json_int_t)a.n, "kek_since", cst_json_time(now));
        cst_master_close(n->kek);
        n->kek = to;
        to = NULL;
        e = set_current(n, now);
    }
    rows_free(&a);
    cst_master_close(to);
    return e;
}

/* ---- online ---- */

/* The count of the threads using m (see node.h). */
static int *users_of(cst_node *n, const cst_master *m)
{
    return m == n->kek ? &n->kek_users[0] : m == n->kek_next ? &n->kek_users[1] : &n->kek_users[2];
}

static cst_master *use(cst_node *n, cst_master *m)
{
    (*users_of(n, m))++;
    return m;
}

cst_master *cst_node_kek_get(cst_node *n)
{
    pthread_mutex_lock(&n->kek_mu);
    cst_master *m = use(n, n->kek_next ? n->kek_next : n->kek);
    pthread_mutex_unlock(&n->kek_mu);
    return m;
}

void cst_node_kek_put(cst_node *n, cst_master *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&n->kek_mu);
    (*users_of(n, m))--;
    pthread_mutex_unlock(&n->kek_mu);
}

typedef struct kek_hold {
    cst_node *n;
    cst_master *m;
} kek_hold;

static void hold_end(void *p, bool committed)
{
    (void)committed;
    kek_hold *h = p;
    cst_node_kek_put(h->n, h->m);
    free(h);
}

cst_err cst_node_key_wrap_new(cst_node *n, cst_work *w, const char *tenant_id, const char *purpose,
                              uint32_t version, cst_buf *out)
{
    kek_hold *h = malloc(sizeof(*h));
    ENSURE(h != NULL, CST_ERR_INTERNAL, "out of memory");
    h->n = n;
    h->m = cst_node_kek_get(n);
    cst_err e = cst_wrap_new_key(h->m, tenant_id, purpose, version, out);
    cst_err e2 = cst_work_on_end(w, hold_end, h); /* h is the hook's from here */
    return e != CST_OK ? e : e2;
}

/* The KEK whose id a blob names, among the node's (kek when none matches: a v1 blob names
 * none); *held: whether one does. */
static cst_master *kek_of(cst_node *n, const uint8_t *blob, size_t len, bool *held)
{
    char id[2 * CST_MASTER_ID_BYTES + 1];
    *held = true;
    if (!cst_master_blob_id(blob, len, id))
        return n->kek;
    cst_master *mine[] = {n->kek, n->kek_next, n->kek_retired};
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
        if (mine[i] && strcmp(id, cst_master_id(mine[i])) == 0)
            return mine[i];
    *held = false;
    return n->kek;
}

static bool kek_follow(cst_node *n);

/* Issue 20: a key another node wrapped by the KEK of a rotation this node has not seen yet: the
 * key worker reads the store's state at once (this thread may hold a unit of work, beside which
 * the store must not be read) and opens the new KEK; waited for up to 2 s (in vain when the
 * caller holds keys_mu, which the worker needs between ticks: a DEK refresh, tried again at the
 * tenant's next use). */
static void follow_now(cst_node *n, const uint8_t *blob, size_t len)
{
    if (!n->keys_started) { /* an offline command: no worker, no request */
        (void)kek_follow(n);
        return;
    }
    bool held = false;
    for (int i = 0; i < 100 && !held; i++) {
        if (pthread_mutex_trylock(&n->keys_mu) == 0) { /* held: deks_refresh, the caller */
            n->keys_wake = true;
            pthread_cond_broadcast(&n->keys_cv);
            pthread_mutex_unlock(&n->keys_mu);
        }
        usleep(20 * 1000);
        pthread_mutex_lock(&n->kek_mu);
        (void)kek_of(n, blob, len, &held);
        pthread_mutex_unlock(&n->kek_mu);
    }
}

cst_err cst_node_key_unwrap(cst_node *n, const char *tenant_id, const char *purpose,
                            uint32_t version, const uint8_t *blob, size_t len, cst_key *out)
{
    bool held = true;
    pthread_mutex_lock(&n->kek_mu);
    (void)kek_of(n, blob, len, &held);
    pthread_mutex_unlock(&n->kek_mu);
    if (!held)
        follow_now(n, blob, len);
    pthread_mutex_lock(&n->kek_mu);
    cst_master *m = use(n, kek_of(n, blob, len, &held));
    pthread_mutex_unlock(&n->kek_mu);
    cst_err e = cst_unwrap_key(m, tenant_id, purpose, version, blob, len, out);
    cst_node_kek_put(n, m);
    return e;
}

json_t *cst_node_kek_status(cst_node *n)
{
    pthread_mutex_lock(&n->kek_mu);
    json_t *rot =
        json_pack("{s:s}", "state", n->kek_next || n->kek_missing[0] ? "running" : "idle");
    if (!n->kek_next && n->kek_missing[0]) /* issue 20: another node's, which this one lacks */
        json_object_update_new(rot,
                               json_pack("{s:s,s:s,s:s}", "from_kek_id", n->kek_missing_from,
                                         "to_kek_id", n->kek_missing, "error", n->kek_missing_msg));
    if (n->kek_next)
        json_object_update_new(
            rot,
            json_pack("{s:s,s:s,s:s,s:o,s:I,s:I}", "from_kek_id", cst_master_id(n->kek),
                      "to_kek_id", cst_master_id(n->kek_next), "to_source",
                      cst_master_kind(n->kek_next), "started_at", cst_json_time(n->kekrot_started),
                      "done", (json_int_t)n->kekrot_done, "total", (json_int_t)n->kekrot_total));
    int64_t age = n->kek_since ? (cst_now_us() - n->kek_since) / (86400LL * 1000000) : -1;
    json_t *o = json_pack("{s:s,s:s,s:o,s:o,s:i,s:o}", "kek_id", n->kek_id, "source", n->kek_kind,
                          "since", n->kek_since ? cst_json_time(n->kek_since) : json_null(),
                          "age_days", age >= 0 ? json_integer(age) : json_null(), "max_age_days",
                          (int)(n->cfg.kek_max_age / 86400), "rotation", rot);
    pthread_mutex_unlock(&n->kek_mu);
    return o;
}

/* What meta kek_next records while a rotation runs. */
typedef struct rotation_rec {
    const char *from_source, *from_id, *to_source, *to_id;
    int64_t started_at;
} rotation_rec;

static cst_err rotation_read(json_t *j, rotation_rec *r)
{
    ENSURE(json_unpack(j, "{s:s,s:s,s:s,s:s,s:I}", "from_source", &r->from_source, "from_id",
                       &r->from_id, "to_source", &r->to_source, "to_id", &r->to_id, "started_at",
                       &r->started_at) == 0,
           CST_ERR_INTEGRITY, "meta kek_next is damaged");
    return CST_OK;
}

/* ---- many nodes on one store (issue 20) ----
 * Meta kek_id, kek_since, kek_next, kek_progress and kek_last are shared by the nodes of a store;
 * root_key_id and each node's root.key are its own (store/postgres/meta.c). Every node follows a
 * rotation any of them started: it opens the new KEK (kek_follow) and holds both, as the node
 * that started it does; one node at a time runs the batches (the lease kek.rotation), and any
 * node takes them over when that one's lease expires (it died). When another node ends the
 * rotation, each node rewraps its own root key under the new KEK (kek_end_followed); then a pass
 * rewraps what a node that had not followed yet wrapped by the old KEK (kek_repair_step), and the
 * old KEK is closed. */

#define KEK_LEASE "kek.rotation"
#define KEK_LEASE_US (10LL * 1000000) /* a rotating node dead this long: another takes over */

/* The rotation the store records: running (meta kek_next), or the last one finished (meta
 * kek_last, when meta kek_id is its new key); CST_ERR_NOT_FOUND: none. */
typedef struct shared_rot {
    json_t *j; /* holds r's text */
    rotation_rec r;
    bool running;
    char kek_id[CST_KEK_ID_LEN + 1]; /* meta kek_id */
} shared_rot;

static cst_err shared_read(cst_node *n, shared_rot *s)
{
    char text[3 * CST_MASTER_SOURCE_MAX];
    memset(s, 0, sizeof(*s));
    TRY(cst_store_meta_get(n->store, NULL, "kek_id", s->kek_id, sizeof(s->kek_id)));
    TRY(meta_text(n->store, NULL, "kek_next", text, sizeof(text)));
    s->running = text[0] != '\0';
    if (!s->running)
        TRY(meta_text(n->store, NULL, "kek_last", text, sizeof(text)));
    if (!text[0])
        return cst_fail(CST_ERR_NOT_FOUND, "no master key rotation is recorded");
    s->j = json_loads(text, 0, NULL);
    cst_err e = s->j ? rotation_read(s->j, &s->r)
                     : cst_fail(CST_ERR_INTEGRITY, "meta kek_next or kek_last is damaged");
    if (e == CST_OK && !s->running && strcmp(s->r.to_id, s->kek_id) != 0)
        e = cst_fail(CST_ERR_NOT_FOUND, "no master key rotation is recorded");
    if (e != CST_OK) {
        json_decref(s->j);
        s->j = NULL;
    }
    return e;
}

/* A source the store recorded, which another node may have written: on a shared store only a
 * file: one (the documented way: the same path on every node) or one this node's configuration
 * names is opened, so that the database never makes a node run a program or load a PKCS#11
 * module. */
static bool shared_store(const cst_node *n)
{
    return strcmp(n->cfg.store_driver, "postgresql") == 0;
}

static bool recorded_ok(const cst_node *n, const char *source)
{
    return !shared_store(n) || strncmp(source, "file:", 5) == 0 ||
           strcmp(source, n->cfg.master_key) == 0 || strcmp(source, n->cfg.next_master_key) == 0;
}

/* The KEK with id want, from the recorded source, else keys.next_master_key; *src: the one that
 * opened. */
static cst_err open_recorded(cst_node *n, const char *recorded, const char *want, cst_master **out,
                             const char **src)
{
    const char *sources[] = {recorded, n->cfg.next_master_key};
    char why[512] = "";
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        if (!sources[i][0] || (i > 0 && strcmp(sources[i], sources[0]) == 0))
            continue;
        cst_master *m = NULL;
        cst_err e = recorded_ok(n, sources[i])
                        ? master_at(n, sources[i], false, &m)
                        : cst_fail(CST_ERR_INVALID, "a source of that kind is opened only when "
                                                    "this node's configuration names it");
        if (e == CST_OK && strcmp(cst_master_id(m), want) == 0) {
            *out = m;
            *src = sources[i];
            return CST_OK;
        }
        if (e == CST_OK)
            e = cst_fail(CST_ERR_INVALID, "it is key id %s", cst_master_id(m));
        cst_master_close(m);
        if (!why[0])
            (void)snprintf(why, sizeof(why), "%s: %s", sources[i], cst_err_message(e));
        cst_err_clear();
    }
    return cst_fail(CST_ERR_UNAVAILABLE, "%s", why[0] ? why : "no source names it");
}

/* Records (and logs once) that this node cannot follow rotation r: it is not ready until it can. */
static void kek_missing(cst_node *n, const rotation_rec *r, const char *why)
{
    char msg[sizeof(n->kek_missing_msg)];
    (void)snprintf(msg, sizeof(msg),
                   "the master key rotation from key id %s to key id %s, started by another node, "
                   "needs key id %s on this node, which cannot open it (%s): make %s readable "
                   "here (the same path on every node, inside the sandbox: keys.next_master_key "
                   "or node.sandbox_read_paths) or set keys.next_master_key to it; this node "
                   "follows within a second of that",
                   r->from_id, r->to_id, r->to_id, why, r->to_source);
    pthread_mutex_lock(&n->kek_mu);
    bool first = strcmp(n->kek_missing, r->to_id) != 0;
    (void)snprintf(n->kek_missing, sizeof(n->kek_missing), "%s", r->to_id);
    (void)snprintf(n->kek_missing_from, sizeof(n->kek_missing_from), "%s", r->from_id);
    memcpy(n->kek_missing_msg, msg, sizeof(msg));
    pthread_mutex_unlock(&n->kek_mu);
    if (first)
        cst_error("%s", msg);
}

/* A rotation another node started (or ended before this node saw it) from this node's KEK: its
 * new KEK is opened and held beside the old one, as on the node that started it (the key
 * worker's tick). True when this node now holds it. */
static bool kek_follow(cst_node *n)
{
    pthread_mutex_lock(&n->kekrot_mu);
    shared_rot s;
    cst_err e = shared_read(n, &s);
    if (e != CST_OK && e != CST_ERR_NOT_FOUND)
        cst_warn("master key rotation: reading the store's state: %s", cst_err_message(e));
    cst_err_clear();
    pthread_mutex_lock(&n->kek_mu);
    bool concerned = e == CST_OK && !n->kek_next && strcmp(n->kek_id, s.r.from_id) == 0 &&
                     !(n->kek_retired && n->kek_users[2] > 0); /* else: next tick */
    pthread_mutex_unlock(&n->kek_mu);
    cst_master *to = NULL, *retired = NULL;
    const char *src = NULL;
    if (concerned && open_recorded(n, s.r.to_source, s.r.to_id, &to, &src) != CST_OK) {
        kek_missing(n, &s.r, cst_err_message(CST_ERR_UNAVAILABLE));
        cst_err_clear();
    }
    if (to && cst_copy(n->kekrot_to_source, sizeof(n->kekrot_to_source), src) != CST_OK) {
        cst_err_clear();
        cst_master_close(to);
        to = NULL;
    }
    if (to) {
        pthread_mutex_lock(&n->kek_mu);
        retired = n->kek_retired; /* a rotation before: no blob names it any more */
        n->kek_retired = NULL;
        n->kek_repair = false;
        n->kek_next = to;
        n->kekrot_drained = false;
        n->kekrot_started = s.r.started_at;
        n->kekrot_done = n->kekrot_total = 0;
        n->kek_missing[0] = '\0';
        pthread_mutex_unlock(&n->kek_mu);
        cst_info("following the master key rotation from key id %s to key id %s that another "
                 "node %s (the new key from %s)",
                 s.r.from_id, s.r.to_id, s.running ? "started" : "finished", src);
    }
    json_decref(s.j);
    pthread_mutex_unlock(&n->kekrot_mu);
    cst_master_close(retired);
    return to != NULL;
}

/* The rotation's new KEK becomes the node's (from since), the old one kept (kek_retired) for the
 * repair pass and for a blob read just before the end and unwrapped after it. Holds kekrot_mu. */
static cst_err take_next(cst_node *n, int64_t since)
{
    pthread_mutex_lock(&n->kek_mu);
    n->kek_retired = n->kek;
    n->kek_users[2] = n->kek_users[0];
    n->kek = n->kek_next;
    n->kek_users[0] = n->kek_users[1];
    n->kek_next = NULL;
    n->kek_users[1] = 0;
    n->kek_repair = true;
    cst_err e = set_current(n, since);
    pthread_mutex_unlock(&n->kek_mu);
    /* the source a later rotation records as its old key's */
    if (e == CST_OK)
        e = cst_copy(n->cfg.master_key, sizeof(n->cfg.master_key), n->kekrot_to_source);
    if (e == CST_OK && strncmp(n->cfg.master_key, "file:", 5) == 0)
        e = cst_copy(n->cfg.master_key_file, sizeof(n->cfg.master_key_file), n->cfg.master_key + 5);
    return e;
}

/* Another node ended the rotation this node follows (meta kek_id names the new KEK, kek_next is
 * cleared): this node's own root key goes under the new KEK in the crash-safe order of the
 * offline rotation (root.key.next; its transaction is the other node's, committed; the rename,
 * which cst_node_kek_recover at the next open finishes if this node dies first), then the new
 * KEK is its own. Holds kekrot_mu. */
static cst_err kek_end_followed(cst_node *n)
{
    char root[4096], next[4096], old_id[sizeof(n->kek_id)];
    memcpy(old_id, n->kek_id, sizeof(old_id));
    cst_buf rb;
    cst_buf_init(&rb, 128);
    cst_err e = root_paths(n->cfg.data_dir, root, next, sizeof(root));
    if (e == CST_OK)
        e = cst_master_root_wrap(n->kek_next, &n->root_key, &rb);
    if (e == CST_OK)
        e = cst_file_write_atomic(next, rb.data, rb.len, 0600);
    if (e == CST_OK)
        e = cst_node_kek_recover(n->cfg.data_dir, cst_master_id(n->kek_next));
    if (e == CST_OK)
        e = take_next(n, cst_node_kek_since(n->store));
    cst_buf_free(&rb);
    TRY(e);
    cst_info("master key rotation from key id %s to key id %s finished by another node: this "
             "node's root.key is under key id %s",
             old_id, n->kek_id, n->kek_id);
    cst_node_audit_event(n, "sys.keys.rotate_master", "success", NULL, "/v1/sys/keys",
                         json_pack("{s:s,s:s,s:s,s:s}", "old_kek_id", old_id, "new_kek_id",
                                   n->kek_id, "source", n->kek_kind, "via", "followed"));
    return CST_OK;
}

/* After an end (here or on another node): keys still under the old KEK (wrapped by a node that
 * had not followed the rotation yet when the last batch ran) are rewrapped in batches by this
 * node, which holds both KEKs; once a pass finds none, the old KEK is closed. */
static void kek_repair_step(cst_node *n, int64_t now, bool *busy)
{
    pthread_mutex_lock(&n->kekrot_mu);
    pthread_mutex_lock(&n->kek_mu);
    bool run = n->kek_repair && n->kek_retired && n->kek_users[2] == 0;
    rewrap_all a = {.from = n->kek_retired, .to = n->kek, .limit = (size_t)n->cfg.rewrap_batch};
    pthread_mutex_unlock(&n->kek_mu);
    cst_err e = CST_OK;
    if (run)
        e = cst_store_keys_all(n->store, NULL, on_key, &a);
    if (run && e == CST_OK && a.n > 0)
        e = commit_keys(n->store, &a, NULL, NULL, now);
    cst_master *closed = NULL;
    if (run && e == CST_OK && a.n == 0 && a.left == 0) {
        pthread_mutex_lock(&n->kek_mu);
        if (n->kek_users[2] == 0) {
            closed = n->kek_retired;
            n->kek_retired = NULL;
            n->kek_repair = false;
        }
        pthread_mutex_unlock(&n->kek_mu);
    }
    *busy = *busy || (run && a.n > 0);
    pthread_mutex_unlock(&n->kekrot_mu);
    if (closed)
        cst_info("master key id %s closed: no key is wrapped by it any more",
                 cst_master_id(closed));
    cst_master_close(closed);
    rows_free(&a);
    if (e != CST_OK) {
        cst_error("master key rotation: rewrapping the keys left under the old key: %s "
                  "(retried)",
                  cst_err_message(e));
        cst_err_clear();
    }
}

bool cst_node_kek_rotating(cst_node *n)
{
    pthread_mutex_lock(&n->kek_mu);
    bool rotating = n->kek_next || n->kek_missing[0];
    pthread_mutex_unlock(&n->kek_mu);
    char text[3 * CST_MASTER_SOURCE_MAX] = "";
    if (!rotating && meta_text(n->store, NULL, "kek_next", text, sizeof(text)) != CST_OK)
        cst_err_clear(); /* the backup's own reads meet the store's failure */
    return rotating || text[0];
}

/* Readiness is public: the key id and where to look, not the paths (the log and GET /v1/sys/keys,
 * which needs sys.keys, have them). */
cst_err cst_node_kek_ready(cst_node *n)
{
    char to[sizeof(n->kek_missing)] = "";
    pthread_mutex_lock(&n->kek_mu);
    if (n->kek_missing[0] && !n->kek_next)
        memcpy(to, n->kek_missing, sizeof(to));
    pthread_mutex_unlock(&n->kek_mu);
    ENSURE(!to[0], CST_ERR_UNAVAILABLE,
           "this node cannot open master key id %s, to which another node is rotating the master "
           "key: make that key readable here (the server log and GET /v1/sys/keys say where)",
           to);
    return CST_OK;
}

/* Root.key under another KEK than the one the node started with: a node stopped (or unable to
 * follow) while another node ended a rotation, started now with the new key. The old KEK opens
 * from the source the rotation recorded (meta kek_last) and the root key is rewrapped
 * (root.key.next, then the rename). */
static cst_err root_catch_up(cst_node *n)
{
    char root[4096], next[4096], id[2 * CST_MASTER_ID_BYTES + 1];
    TRY(root_paths(n->cfg.data_dir, root, next, sizeof(root)));
    if (!cst_path_exists(root))
        return CST_OK;
    cst_buf blob, rb;
    cst_buf_init(&blob, 128);
    cst_buf_init(&rb, 128);
    cst_err e = cst_file_read(root, 1024, &blob);
    bool behind =
        e == CST_OK && cst_master_blob_id(blob.data, blob.len, id) && strcmp(id, n->kek_id) != 0;
    shared_rot s = {0};
    cst_master *old = NULL;
    const char *src = NULL;
    cst_key rk = {0};
    if (behind) {
        const char *recorded = ""; /* else keys.next_master_key alone */
        if (shared_read(n, &s) == CST_OK && !s.running && strcmp(s.r.from_id, id) == 0)
            recorded = s.r.from_source;
        cst_err_clear();
        e = open_recorded(n, recorded, id, &old, &src);
        if (e != CST_OK)
            e = cst_fail(CST_ERR_INVALID,
                         "%s is wrapped by master key id %s, not by key id %s (keys.master_key), "
                         "and the old key does not open from the source the last rotation "
                         "recorded (%s): name key id %s in keys.next_master_key for one start, "
                         "and this node rewraps its root.key",
                         root, id, n->kek_id, cst_err_message(e), id);
    }
    if (behind && e == CST_OK)
        e = cst_master_root_unwrap(old, blob.data, blob.len, root, &rk);
    if (behind && e == CST_OK)
        e = cst_master_root_wrap(n->kek, &rk, &rb);
    if (behind && e == CST_OK)
        e = cst_file_write_atomic(next, rb.data, rb.len, 0600);
    if (behind && e == CST_OK)
        e = cst_node_kek_recover(n->cfg.data_dir, n->kek_id);
    if (behind && e == CST_OK)
        cst_info("%s rewrapped from key id %s to key id %s: the master key rotation ended while "
                 "this node was away",
                 root, id, n->kek_id);
    cst_key_free(&rk);
    cst_master_close(old);
    json_decref(s.j);
    cst_buf_free(&blob);
    cst_buf_free(&rb);
    return e;
}

/* A rotation is started only from the store's current KEK, with none running on any node. */
static cst_err shared_check(cst_node *n)
{
    char stored[CST_KEK_ID_LEN + 1], text[3 * CST_MASTER_SOURCE_MAX];
    TRY(cst_store_meta_get(n->store, NULL, "kek_id", stored, sizeof(stored)));
    TRY(meta_text(n->store, NULL, "kek_next", text, sizeof(text)));
    ENSURE(!text[0], CST_ERR_CONFLICT,
           "a master key rotation started by another node of the store is running: "
           "GET /v1/sys/keys, and rotate again after it");
    ENSURE(strcmp(stored, n->kek_id) == 0, CST_ERR_CONFLICT,
           "the store's master key is key id %s, which this node has not opened yet (this node "
           "holds key id %s): GET /v1/sys/keys on this node says why",
           stored, n->kek_id);
    return CST_OK;
}

cst_err cst_node_kek_rotate(cst_node *n, const char *source, int64_t now, json_t **out)
{
    if (!source || !source[0])
        source = n->cfg.next_master_key;
    ENSURE(source[0], CST_ERR_INVALID,
           "no new master key: give master_key (file:PATH) or set keys.next_master_key");
    /* a request names a key file, never a program to run or a PKCS#11 module to load: those
     * come only from the configuration file */
    bool configured = strcmp(source, n->cfg.next_master_key) == 0;
    ENSURE(configured || strncmp(source, "file:", 5) == 0, CST_ERR_INVALID,
           "a request names only a file: master key; pkcs11: and command: sources are taken "
           "only from keys.next_master_key in the configuration file");
    cst_master *to = NULL;
    cst_err e = master_at(n, source, configured && strncmp(source, "pkcs11:", 7) == 0, &to);
    if (e != CST_OK && !configured) { /* the details to the log, not to the client */
        cst_warn("master key rotation: %s: %s", source, cst_err_message(e));
        return cst_fail(CST_ERR_INVALID,
                        "the master key named cannot be used: it must be a file of exactly 32 "
                        "bytes, mode 0600, outside the data dir, that the node may read (see "
                        "the server log)");
    }
    TRY(e);
    pthread_mutex_lock(&n->kekrot_mu);               /* a running batch or end: short */
    if (pthread_mutex_trylock(&n->backup_mu) != 0) { /* a backup names one KEK's keys */
        pthread_mutex_unlock(&n->kekrot_mu);
        cst_master_close(to);
        return cst_fail(CST_ERR_CONFLICT,
                        "a backup, drill or restore is running: rotate the master key after it");
    }
    pthread_mutex_lock(&n->kek_mu);
    cst_master *retired = NULL;
    if (n->kek_next)
        e = cst_fail(CST_ERR_CONFLICT, "a master key rotation to key id %s is already running",
                     cst_master_id(n->kek_next));
    else if (n->kek_retired && n->kek_users[2] > 0)
        e = cst_fail(CST_ERR_CONFLICT,
                     "the last rotation's old master key is still in use: retry in a moment");
    else if (strcmp(cst_master_id(to), n->kek_id) == 0)
        e = cst_fail(CST_ERR_INVALID, "%s is the master key in use (key id %s)", source, n->kek_id);
    pthread_mutex_unlock(&n->kek_mu);
    if (e == CST_OK) /* issue 20: what the other nodes of the store started or ended */
        e = shared_check(n);
    /* one node at a time starts and runs a rotation's batches */
    if (e == CST_OK && !cst_node_lease(n, KEK_LEASE, KEK_LEASE_US, &n->kek_lease))
        e = cst_fail(CST_ERR_CONFLICT, "another node of the store is starting or running a master "
                                       "key rotation: GET /v1/sys/keys, then retry");
    if (e == CST_OK) { /* the last rotation's old KEK: no blob names it any more */
        pthread_mutex_lock(&n->kek_mu);
        retired = n->kek_retired;
        n->kek_retired = NULL;
        n->kek_repair = false;
        pthread_mutex_unlock(&n->kek_mu);
    }
    cst_master_close(retired);
    rewrap_all progress = {0}; /* its status from the first response (kekrot_mu: no batch runs) */
    if (e == CST_OK)
        e = kek_progress(n, to, &progress);
    if (e == CST_OK)
        e = progress_set(n->store, NULL, progress.done, progress.all);
    json_t *rec = NULL;
    char *text = NULL;
    if (e == CST_OK) {
        rec = json_pack("{s:s,s:s,s:s,s:s,s:I}", "from_source", n->cfg.master_key, "from_id",
                        n->kek_id, "to_source", source, "to_id", cst_master_id(to), "started_at",
                        (json_int_t)now);
        text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
        e = text ? cst_store_meta_set(n->store, NULL, "kek_next", text)
                 : cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    if (e == CST_OK) {
        pthread_mutex_lock(&n->kek_mu);
        n->kek_next = to;
        to = NULL;
        e = cst_copy(n->kekrot_to_source, sizeof(n->kekrot_to_source), source);
        n->kekrot_started = now;
        n->kekrot_done = progress.done;
        n->kekrot_total = progress.all;
        n->kekrot_drained = false;
        pthread_mutex_unlock(&n->kek_mu);
        cst_info("master key rotation from key id %s to key id %s started", n->kek_id,
                 cst_master_id(n->kek_next));
    }
    json_decref(rec);
    cst_json_free_text(text);
    pthread_mutex_unlock(&n->backup_mu);
    pthread_mutex_unlock(&n->kekrot_mu);
    cst_master_close(to);
    TRY(e);
    pthread_mutex_lock(&n->keys_mu); /* the key worker starts at once */
    n->keys_wake = true;
    pthread_cond_broadcast(&n->keys_cv);
    pthread_mutex_unlock(&n->keys_mu);
    *out = cst_node_kek_status(n);
    return CST_OK;
}

/* The end of an online rotation: steps 1 to 3, then the new KEK is the node's. */
static cst_err kek_finish(cst_node *n, int64_t now, const rewrap_all *a)
{
    if (pthread_mutex_trylock(&n->backup_mu) != 0)
        return CST_OK; /* a restore may be adding keys: next tick */
    char old_id[sizeof(n->kek_id)];
    memcpy(old_id, n->kek_id, sizeof(old_id));
    cst_err e = kek_switch(n, n->kek_next, a, now);
    if (e == CST_OK) /* the old KEK stays open (kek_retired) until the repair pass closes it */
        e = take_next(n, now);
    pthread_mutex_unlock(&n->backup_mu);
    bool held = false; /* the lease goes: the next rotation may start on any node at once */
    if (e == CST_OK && cst_store_lease(n->store, KEK_LEASE, n->node_id, now, 0, &held) != CST_OK)
        cst_err_clear();
    n->kek_lease.held = false;
    if (e == CST_OK) {
        cst_info("master key rotation from key id %s to key id %s finished: %lld keys", old_id,
                 n->kek_id, (long long)a->all);
        cst_node_audit_event(n, "sys.keys.rotate_master", "success", NULL, "/v1/sys/keys",
                             json_pack("{s:s,s:s,s:s,s:I,s:s}", "old_kek_id", old_id, "new_kek_id",
                                       n->kek_id, "source", n->kek_kind, "keys", (json_int_t)a->all,
                                       "via", "online"));
    }
    return e;
}

/* A follower's view of the progress the batches' node records (meta kek_progress). */
static void progress_read(cst_node *n)
{
    char text[64];
    long long done = 0, total = 0;
    if (meta_text(n->store, NULL, "kek_progress", text, sizeof(text)) != CST_OK ||
        sscanf(text, "%lld/%lld", &done, &total) != 2) {
        cst_err_clear();
        return;
    }
    pthread_mutex_lock(&n->kek_mu);
    n->kekrot_done = done;
    n->kekrot_total = total;
    pthread_mutex_unlock(&n->kek_mu);
}

void cst_node_kek_step(cst_node *n, int64_t now, bool *busy)
{
    (void)kek_follow(n);            /* issue 20: a rotation another node started or ended */
    pthread_mutex_lock(&n->kek_mu); /* no rotation: nothing to take kekrot_mu for */
    bool rotating = n->kek_next != NULL;
    pthread_mutex_unlock(&n->kek_mu);
    if (!rotating) {
        kek_repair_step(n, now, busy);
        return;
    }
    pthread_mutex_lock(&n->kekrot_mu);
    *busy = true;
    shared_rot s;
    cst_err e = shared_read(n, &s);
    /* ended by another node: meta kek_next cleared, kek_id the new KEK's */
    bool ended = e == CST_OK && !s.running && strcmp(s.kek_id, cst_master_id(n->kek_next)) == 0;
    bool mine = e == CST_OK && s.running && strcmp(s.r.to_id, cst_master_id(n->kek_next)) == 0 &&
                cst_node_lease(n, KEK_LEASE, KEK_LEASE_US, &n->kek_lease);
    json_decref(s.j);
    if (e == CST_OK && ended)
        e = kek_end_followed(n);
    else if (e == CST_OK && !mine)
        progress_read(n); /* another node runs the batches */
    pthread_mutex_lock(&n->kek_mu);
    if (n->kek_next && !n->kekrot_drained) /* keys the old KEK wrapped, not yet stored */
        n->kekrot_drained = n->kek_users[0] == 0;
    rewrap_all a = {.from = n->kek, .to = n->kek_next, .limit = (size_t)n->cfg.rewrap_batch};
    bool run = e == CST_OK && mine && n->kek_next && n->kekrot_drained;
    pthread_mutex_unlock(&n->kek_mu);
    if (run)
        e = cst_store_keys_all(n->store, NULL, on_key, &a);
    if (run && e == CST_OK && a.n > 0)
        e = commit_keys(n->store, &a, NULL, NULL, now);
    if (run && e == CST_OK) {
        pthread_mutex_lock(&n->kek_mu);
        n->kekrot_total = a.all;
        n->kekrot_done = a.done + (int64_t)a.n;
        pthread_mutex_unlock(&n->kek_mu);
        if (a.n == 0 && a.left == 0)
            e = kek_finish(n, now, &a);
    }
    pthread_mutex_unlock(&n->kekrot_mu);
    rows_free(&a);
    if (e != CST_OK) {
        cst_error("master key rotation: %s (retried)", cst_err_message(e));
        cst_err_clear();
    }
}

cst_err cst_node_kek_check(cst_node *n, const char *stored)
{
    char text[3 * CST_MASTER_SOURCE_MAX] = "";
    TRY(meta_text(n->store, NULL, "kek_next", text, sizeof(text))); /* "": never rotated online */
    if (!text[0]) {
        ENSURE(strcmp(stored, n->kek_id) == 0, CST_ERR_INVALID,
               "master key %s (key id %s) is not the key this data dir was initialised with or "
               "rotated to (key id %s): its wrapped keys need key id %s",
               n->cfg.master_key, n->kek_id, stored, stored);
        TRY(cst_node_kek_recover(n->cfg.data_dir, n->kek_id));
        TRY(root_catch_up(n)); /* issue 20: a rotation another node ended meanwhile */
        return set_current(n, cst_node_kek_since(n->store));
    }
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    rotation_rec r;
    cst_err e = j ? rotation_read(j, &r) : cst_fail(CST_ERR_INTEGRITY, "meta kek_next is damaged");
    bool is_from = e == CST_OK && strcmp(n->kek_id, r.from_id) == 0,
         is_to = e == CST_OK && strcmp(n->kek_id, r.to_id) == 0;
    if (e == CST_OK && !is_from && !is_to)
        e = cst_fail(CST_ERR_INVALID,
                     "master key %s (key id %s) is neither end of this data dir's unfinished "
                     "master key rotation (from key id %s to key id %s): start with one of them",
                     n->cfg.master_key, n->kek_id, r.from_id, r.to_id);
    cst_master *other = NULL;
    const char *src = NULL;
    if (e == CST_OK && is_from)
        e = open_recorded(n, r.to_source, r.to_id, &other, &src);
    if (e != CST_OK && is_from && shared_store(n)) {
        /* issue 20: a rotation another node may run: this node serves with the old key (what it
         * can), not ready until the new one opens (the key worker retries: kek_follow) */
        kek_missing(n, &r, cst_err_message(e));
        cst_err_clear();
        json_decref(j);
        TRY(cst_node_kek_recover(n->cfg.data_dir, n->kek_id));
        return set_current(n, cst_node_kek_since(n->store));
    }
    const char *from_src = NULL;
    if (e == CST_OK && is_to)
        e = open_recorded(n, r.from_source, r.from_id, &other, &from_src);
    if (e != CST_OK && (is_from || is_to))
        e = cst_fail(e,
                     "this data dir's master key rotation from key id %s to key id %s is "
                     "unfinished and needs both keys until it ends: key id %s (%s) does not "
                     "open: %s",
                     r.from_id, r.to_id, is_from ? r.to_id : r.from_id,
                     is_from ? r.to_source : r.from_source, cst_err_message(e));
    if (e == CST_OK && strcmp(cst_master_id(other), is_from ? r.to_id : r.from_id) != 0)
        e = cst_fail(CST_ERR_INVALID,
                     "%s is no longer key id %s, which the unfinished master key "
                     "rotation needs",
                     is_from ? r.to_source : r.from_source, is_from ? r.to_id : r.from_id);
    if (e == CST_OK) {
        n->kek_next = is_from ? other : n->kek;
        n->kek = is_from ? n->kek : other;
        other = NULL;
        n->kekrot_started = r.started_at;
        e = cst_copy(n->kekrot_to_source, sizeof(n->kekrot_to_source), src ? src : r.to_source);
    }
    if (e == CST_OK) {
        cst_info("resuming the master key rotation from key id %s to key id %s", r.from_id,
                 r.to_id);
        e = cst_copy(n->kek_id, sizeof(n->kek_id), r.from_id);
    }
    cst_master_close(other);
    json_decref(j);
    TRY(e);
    ENSURE(strcmp(stored, n->kek_id) == 0, CST_ERR_INTEGRITY,
           "meta kek_id (%s) is not the unfinished rotation's old key (%s)", stored, n->kek_id);
    n->kekrot_drained = true;  /* nothing is in flight in a process that just started */
    rewrap_all progress = {0}; /* before any thread starts */
    TRY(kek_progress(n, n->kek_next, &progress));
    n->kekrot_done = progress.done;
    n->kekrot_total = progress.all;
    TRY(cst_node_kek_recover(n->cfg.data_dir, n->kek_id));
    return set_current(n, cst_node_kek_since(n->store));
}
