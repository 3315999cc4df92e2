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
 * opens (cst_node_kek_check). */
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

/* Step 2: the rewrapped keys and the new KEK's id and start, in one transaction (which ends an
 * online rotation too). */
static cst_err commit_keys(cst_store *st, const rewrap_all *a, const char *kek_id,
                           const cst_key *root, int64_t now)
{
    cst_txn *t = NULL;
    cst_work *w = NULL;
    char since[32], root_id[CST_KEK_ID_LEN + 1] = "";
    cst_time_format(now, since);
    if (root)
        cst_kek_id(root, root_id);
    TRY(cst_txn_begin(&t));
    cst_err e = cst_work_begin(t, &w);
    for (size_t i = 0; e == CST_OK && i < a->n; i++) {
        e = cst_store_key_rewrapped(st, w, a->rows[i].tenant_id, a->rows[i].purpose,
                                    a->rows[i].version, &a->rows[i].blob);
        if (e == CST_ERR_NOT_FOUND && !root) { /* erased meanwhile: nothing to rewrap */
            cst_err_clear();
            e = CST_OK;
        }
    }
    if (e == CST_OK && !root) /* a batch of an online rotation */
        goto end;
    if (e == CST_OK)
        e = cst_store_meta_set(st, w, "kek_id", kek_id);
    if (e == CST_OK)
        e = cst_store_meta_set(st, w, "kek_since", since);
    if (e == CST_OK) /* what backups name (their frames are under the root key): restore.c */
        e = cst_store_meta_set(st, w, "root_key_id", root_id);
    if (e == CST_OK)
        e = cst_store_meta_set(st, w, "kek_next", "");
end:
    if (w) {
        cst_err e2 = cst_work_end(w, e == CST_OK);
        if (e == CST_OK)
            e = e2;
    }
    if (e != CST_OK) {
        cst_txn_rollback(t);
        return e;
    }
    return cst_txn_commit(t);
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
 * none). */
static cst_master *kek_of(cst_node *n, const uint8_t *blob, size_t len)
{
    char id[2 * CST_MASTER_ID_BYTES + 1];
    if (!cst_master_blob_id(blob, len, id))
        return n->kek;
    cst_master *others[] = {n->kek_next, n->kek_retired};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        if (others[i] && strcmp(id, cst_master_id(others[i])) == 0)
            return others[i];
    return n->kek;
}

cst_err cst_node_key_unwrap(cst_node *n, const char *tenant_id, const char *purpose,
                            uint32_t version, const uint8_t *blob, size_t len, cst_key *out)
{
    pthread_mutex_lock(&n->kek_mu);
    cst_master *m = use(n, kek_of(n, blob, len));
    pthread_mutex_unlock(&n->kek_mu);
    cst_err e = cst_unwrap_key(m, tenant_id, purpose, version, blob, len, out);
    cst_node_kek_put(n, m);
    return e;
}

json_t *cst_node_kek_status(cst_node *n)
{
    pthread_mutex_lock(&n->kek_mu);
    json_t *rot = json_pack("{s:s}", "state", n->kek_next ? "running" : "idle");
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
    if (e == CST_OK) { /* the last rotation's old KEK: no blob names it any more */
        retired = n->kek_retired;
        n->kek_retired = NULL;
    }
    pthread_mutex_unlock(&n->kek_mu);
    cst_master_close(retired);
    rewrap_all progress = {0}; /* its status from the first response (kekrot_mu: no batch runs) */
    if (e == CST_OK)
        e = kek_progress(n, to, &progress);
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
    if (e == CST_OK) {
        /* the old KEK stays open (kek_retired) for a blob read just before this end and
         * unwrapped after it; the next rotation's start, or the node's close, closes it */
        pthread_mutex_lock(&n->kek_mu);
        n->kek_retired = n->kek;
        n->kek_users[2] = n->kek_users[0];
        n->kek = n->kek_next;
        n->kek_users[0] = n->kek_users[1];
        n->kek_next = NULL;
        n->kek_users[1] = 0;
        e = set_current(n, now);
        pthread_mutex_unlock(&n->kek_mu);
        /* the source a later rotation records as its old key's (kekrot_mu is held) */
        if (e == CST_OK)
            e = cst_copy(n->cfg.master_key, sizeof(n->cfg.master_key), n->kekrot_to_source);
        if (e == CST_OK && strncmp(n->cfg.master_key, "file:", 5) == 0)
            e = cst_copy(n->cfg.master_key_file, sizeof(n->cfg.master_key_file),
                         n->cfg.master_key + 5);
    }
    pthread_mutex_unlock(&n->backup_mu);
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

void cst_node_kek_step(cst_node *n, int64_t now, bool *busy)
{
    pthread_mutex_lock(&n->kek_mu); /* no rotation: nothing to take kekrot_mu for */
    bool rotating = n->kek_next != NULL;
    pthread_mutex_unlock(&n->kek_mu);
    if (!rotating)
        return;
    pthread_mutex_lock(&n->kekrot_mu);
    pthread_mutex_lock(&n->kek_mu);
    if (n->kek_next && !n->kekrot_drained) /* keys the old KEK wrapped, not yet stored */
        n->kekrot_drained = n->kek_users[0] == 0;
    rewrap_all a = {.from = n->kek, .to = n->kek_next, .limit = (size_t)n->cfg.rewrap_batch};
    bool run = n->kek_next && n->kekrot_drained;
    *busy = *busy || n->kek_next != NULL;
    pthread_mutex_unlock(&n->kek_mu);
    cst_err e = CST_OK;
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
    cst_err got = cst_store_meta_get(n->store, NULL, "kek_next", text, sizeof(text));
    if (got == CST_ERR_NOT_FOUND) { /* a data dir that never rotated online */
        cst_err_clear();
        text[0] = '\0';
    } else {
        TRY(got);
    }
    if (!text[0]) {
        ENSURE(strcmp(stored, n->kek_id) == 0, CST_ERR_INVALID,
               "master key %s (key id %s) is not the key this data dir was initialised with or "
               "rotated to (key id %s): its wrapped keys need key id %s",
               n->cfg.master_key, n->kek_id, stored, stored);
        TRY(cst_node_kek_recover(n->cfg.data_dir, n->kek_id));
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
    if (e == CST_OK &&
        (e = master_at(n, is_from ? r.to_source : r.from_source, false, &other)) != CST_OK)
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
        e = cst_copy(n->kekrot_to_source, sizeof(n->kekrot_to_source), r.to_source);
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
