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
 * the two KEKs opens the data dir at every point (cst_node_kek_recover). */
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
} rewrap_all;

static cst_err on_key(const char *tenant_id, const char *purpose, uint32_t version,
                      const uint8_t *blob, size_t len, void *ctx)
{
    rewrap_all *a = ctx;
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

/* Step 2: the rewrapped keys and the new KEK's id and start, in one transaction. */
static cst_err commit_keys(cst_store *st, const rewrap_all *a, const char *kek_id,
                           const cst_key *root, int64_t now)
{
    cst_txn *t = NULL;
    cst_work *w = NULL;
    char since[32], root_id[CST_KEK_ID_LEN + 1];
    cst_time_format(now, since);
    cst_kek_id(root, root_id);
    TRY(cst_txn_begin(&t));
    cst_err e = cst_work_begin(t, &w);
    for (size_t i = 0; e == CST_OK && i < a->n; i++)
        e = cst_store_key_rewrapped(st, w, a->rows[i].tenant_id, a->rows[i].purpose,
                                    a->rows[i].version, &a->rows[i].blob);
    if (e == CST_OK)
        e = cst_store_meta_set(st, w, "kek_id", kek_id);
    if (e == CST_OK)
        e = cst_store_meta_set(st, w, "kek_since", since);
    if (e == CST_OK) /* what backups name (their frames are under the root key): restore.c */
        e = cst_store_meta_set(st, w, "root_key_id", root_id);
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

cst_err cst_node_rotate_master(cst_node *n, const char *new_source, int64_t now, json_t **out)
{
    cst_config cfg = n->cfg;
    TRY(cst_copy(cfg.master_key, sizeof(cfg.master_key), new_source));
    cst_master *to = NULL;
    TRY(cst_node_master_open(&cfg, true, &to)); /* file:, pkcs11: make a missing key, as init */
    char old_id[sizeof(n->kek_id)], root[4096], next[4096];
    memcpy(old_id, n->kek_id, sizeof(old_id));
    rewrap_all a = {.from = n->kek, .to = to};
    cst_buf rb;
    cst_buf_init(&rb, 128);
    cst_err e = root_paths(n->cfg.data_dir, root, next, sizeof(root));
    if (e == CST_OK && strcmp(cst_master_id(to), old_id) == 0)
        e = cst_fail(CST_ERR_INVALID, "%s is the master key in use (key id %s)", new_source,
                     old_id);
    if (e == CST_OK)
        e = cst_store_keys_all(n->store, NULL, on_key, &a);
    if (e == CST_OK) /* step 1 */
        e = cst_master_root_wrap(to, &n->root_key, &rb);
    if (e == CST_OK)
        e = cst_file_write_atomic(next, rb.data, rb.len, 0600);
    if (e == CST_OK) { /* step 2 */
        e = commit_keys(n->store, &a, cst_master_id(to), &n->root_key, now);
        if (e != CST_OK && unlink(next) != 0)
            cst_warn("kekrot: unlink %s: %s", next, strerror(errno));
    }
    if (e == CST_OK) /* step 3 */
        e = cst_node_kek_recover(n->cfg.data_dir, cst_master_id(to));
    if (e == CST_OK) {
        *out = json_pack("{s:s,s:s,s:s,s:I,s:o}", "old_kek_id", old_id, "new_kek_id",
                         cst_master_id(to), "source", cst_master_kind(to), "keys_rewrapped",
                         (json_int_t)a.n, "kek_since", cst_json_time(now));
        cst_master_close(n->kek);
        n->kek = to;
        to = NULL;
        e = cst_copy(n->kek_id, sizeof(n->kek_id), cst_master_id(n->kek));
        n->kek_since = now;
    }
    for (size_t i = 0; i < a.n; i++)
        cst_buf_free(&a.rows[i].blob);
    free(a.rows);
    cst_buf_free(&rb);
    cst_master_close(to);
    return e;
}
