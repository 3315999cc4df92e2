/* erase.c: cryptographic erase of a tenant (RET-4, NIST SP 800-88 Rev. 1 "purge" by
 * cryptographic erase), billing records kept under their own key (RET-2), and signed
 * certificates of deletion (SPEC §9).
 *
 * An erase is restartable: its plan (what will be destroyed) is written first, the tenant is
 * pending_erase from then on, and every step after is idempotent, so a crash or a full disk
 * mid-way is finished by the next sweep. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/record.h"
#include "audit/audit.h"
#include "crypto/sign.h"
#include "lifecycle/lifecycle.h"
#include "util/json.h"
#include "util/util.h"

#define METHOD "Cryptographic Erase, NIST SP 800-88 Rev. 1"

static const char *const tenant_purposes[] = {"dek", "idx", NULL};
static const char *const billing_purposes[] = {"billing-dek", "billing-idx", NULL};

/* ---- certificates ---- */

cst_err cst_certificate_verify(const uint8_t *doc, size_t len, const uint8_t pk[32],
                               json_t **certificate)
{
    return cst_signed_json_verify(doc, len, pk, "certificate", "certificate", certificate);
}

/* ---- helpers ---- */

static void note_name(const char *name, void *ctx)
{
    json_array_append_new(ctx, json_string(name));
}

struct key_list {
    const char *const *purposes;
    json_t *keys;  /* for the certificate */
    json_t *blobs; /* hex of each wrapped blob, to search for afterwards */
};

static cst_err collect_key(const char *purpose, uint32_t version, const uint8_t *blob, size_t len,
                           void *p)
{
    struct key_list *l = p;
    bool match = false;
    for (size_t i = 0; l->purposes[i]; i++)
        match |= strcmp(purpose, l->purposes[i]) == 0;
    if (!match)
        return CST_OK;
    uint8_t h[CST_HASH_LEN];
    char fp[33], *hex = malloc(2 * len + 1);
    cst_sha256(blob, len, h);
    cst_hex(h, 16, fp);
    json_array_append_new(l->keys, json_pack("{s:s,s:I,s:s}", "purpose", purpose, "version",
                                             (json_int_t)version, "fingerprint", fp));
    if (hex) {
        cst_hex(blob, len, hex);
        json_array_append_new(l->blobs, json_string(hex));
        free(hex);
    }
    return CST_OK;
}

/* Destroys the tenant's keys of some purposes and checks that nothing is left of them:
 * no row, and (the store's residue check) no byte of any wrapped blob in its files. */
static cst_err destroy_keys(cst_node *n, const char *tenant_id, const char *const *purposes,
                            const json_t *blobs, json_t *checks)
{
    TRY(cst_store_keys_destroy(n->store, NULL, tenant_id, purposes));
    struct key_list left = {purposes, json_array(), json_array()};
    cst_err e = cst_store_tenant_keys(n->store, NULL, tenant_id, collect_key, &left);
    size_t remaining = json_array_size(left.keys);
    json_decref(left.keys);
    json_decref(left.blobs);
    TRY(e);
    ENSURE(remaining == 0, CST_ERR_INTEGRITY, "%zu keys of tenant %s survived their deletion",
           remaining, tenant_id);
    json_array_append_new(checks, json_string("no wrapped key of the erased purposes remains in "
                                              "the key table"));
    return cst_store_residue_check(n->store, blobs, note_name, checks);
}

struct backup_list {
    int64_t since;
    int retention_days;
    json_t *arr;
};

static cst_err collect_backup(const cst_backup_row *b, void *p)
{
    struct backup_list *l = p;
    if (strcmp(b->status, "ok") != 0 || b->finished_at < l->since)
        return CST_OK;
    json_array_append_new(
        l->arr, json_pack("{s:s,s:s,s:o,s:o}", "id", b->id, "location", b->location, "created_at",
                          cst_json_time(b->created_at), "expires_at",
                          cst_json_time(b->created_at + (int64_t)l->retention_days * CST_DAY_US)));
    return CST_OK;
}

/* Backups that may hold the tenant's ciphertext (and its wrapped keys), and when they go. */
static json_t *backups_holding(cst_node *n, int64_t since)
{
    struct backup_list l = {since, n->cfg.backup_retention_days, json_array()};
    if (cst_store_backup_list(n->store, NULL, 100000, collect_backup, &l) != CST_OK)
        cst_err_clear();
    return l.arr;
}

static cst_err issue(cst_node *n, const char *tenant_id, json_t *cert, int64_t now, char *id,
                     char **doc)
{
    cst_random_id("ce", id);
    json_object_set_new(cert, "certificate_id", json_string(id));
    json_object_set_new(cert, "issued_at", cst_json_time(now));
    json_object_set_new(cert, "method", json_string(METHOD));
    json_object_set_new(cert, "tool",
                        json_pack("{s:s,s:s}", "name", "custodia", "version", CUSTODIA_VERSION));
    char pk[65];
    cst_hex(n->public_key, 32, pk);
    json_object_set_new(
        cert, "node",
        json_pack("{s:s,s:s,s:s}", "id", n->node_id, "region", n->region, "public_key", pk));
    return cst_node_sign_json(n, "certificate", cert, doc);
}

/* ---- billing records (RET-2: kept 7 years, beyond the tenant, under their own key) ---- */

struct copy {
    cst_tenant_ctx *from, *to;
    const char *bucket;
    int64_t records;
    cst_err e;
    cst_buf value;
};

static bool copy_record(const cst_record_row *r, void *p)
{
    struct copy *c = p;
    char key[CST_RECORD_KEY_MAX + 1], ctype[CST_CTYPE_MAX + 1];
    size_t klen;
    c->value.len = 0;
    c->e = cst_record_open(c->from, c->bucket, r, key, &klen, ctype, &c->value);
    if (c->e == CST_OK)
        c->e = cst_record_store(c->to, NULL, c->bucket, key, klen, ctype, c->value.data,
                                c->value.len, false, r->created_at, r->updated_at);
    sodium_memzero(key, sizeof(key));
    if (c->e == CST_OK)
        c->records++;
    return c->e == CST_OK;
}

static cst_err billing_keys(cst_node *n, const char *tenant_id, cst_tenant_ctx *b, int64_t now)
{
    cst_buf dek, idx;
    cst_buf_init(&dek, 256);
    cst_buf_init(&idx, 256);
    /* ENC-4: held until stored, so that a KEK rotation sees them (node.h) */
    cst_master *kek = cst_node_kek_get(n);
    cst_err e = cst_wrap_new_key(kek, tenant_id, "billing-dek", 1, &dek);
    if (e == CST_OK)
        e = cst_wrap_new_key(kek, tenant_id, "billing-idx", 1, &idx);
    if (e == CST_OK)
        e = cst_store_key_add(n->store, NULL, tenant_id, "billing-dek", 1, &dek, now);
    if (e == CST_OK)
        e = cst_store_key_add(n->store, NULL, tenant_id, "billing-idx", 1, &idx, now);
    cst_key k = {0};
    if (e == CST_OK)
        e = cst_unwrap_key(kek, tenant_id, "billing-dek", 1, dek.data, dek.len, &k);
    if (e == CST_OK)
        e = cst_dek_add(&b->deks, 1, &k, true, 0);
    cst_key_free(&k);
    if (e == CST_OK)
        e = cst_unwrap_key(kek, tenant_id, "billing-idx", 1, idx.data, idx.len, &b->idx);
    cst_node_kek_put(n, kek);
    cst_buf_free(&dek);
    cst_buf_free(&idx);
    return e;
}

/* Copies the billing-class buckets into the tenant's retained store under new billing keys. */
static cst_err keep_billing(cst_node *n, cst_tenant_ctx *t, const json_t *buckets, int64_t now,
                            json_t **kept)
{
    *kept = json_null();
    json_t *names = json_array();
    size_t i;
    json_t *b;
    json_array_foreach(buckets, i, b)
    {
        if (!strcmp(json_string_value(json_object_get(b, "class")), "billing"))
            json_array_append(names, json_object_get(b, "name"));
    }
    cst_retained_row r;
    cst_err e = CST_OK;
    if (json_array_size(names) == 0 ||
        cst_store_retained_get(n->store, NULL, t->id, &r) == CST_OK) {
        cst_err_clear();
        if (json_array_size(names) > 0)
            *kept = json_pack("{s:I,s:o}", "records", (json_int_t)r.records, "until",
                              cst_json_time(r.expires_at));
        json_decref(names);
        return CST_OK;
    }
    cst_err_clear();
    /* a copy a crash interrupted is thrown away and made again */
    e = cst_tstore_purge(n->store, CST_TSPACE_RETAINED, t->id, NULL, NULL);
    if (e == CST_OK)
        e = cst_store_keys_destroy(n->store, NULL, t->id, billing_purposes);
    cst_tenant_ctx bc = {.closed = false};
    (void)snprintf(bc.id, sizeof(bc.id), "%s", t->id);
    if (e == CST_OK)
        e = billing_keys(n, t->id, &bc, now);
    if (e == CST_OK)
        e = cst_tstore_open(n->store, CST_TSPACE_RETAINED, t->id, true, &bc.ts);
    struct copy c = {.from = t, .to = &bc, .e = CST_OK};
    cst_buf_init(&c.value, SIZE_MAX);
    json_array_foreach(buckets, i, b)
    {
        if (e != CST_OK)
            break;
        if (strcmp(json_string_value(json_object_get(b, "class")), "billing") != 0)
            continue;
        c.bucket = json_string_value(json_object_get(b, "name"));
        cst_bucket_row br = {.retention_seconds = 0, .created_at = now, .updated_at = now};
        (void)snprintf(br.name, sizeof(br.name), "%s", c.bucket);
        e = cst_copy(br.cls, sizeof(br.cls), "billing");
        if (e == CST_OK)
            e = cst_tstore_begin(bc.ts, NULL);
        if (e == CST_OK)
            e = cst_tstore_bucket_create(bc.ts, NULL, &br);
        if (e == CST_OK)
            e = cst_tstore_record_scan(t->ts, NULL, c.bucket, NULL,
                                       CST_SCAN_VALUES | CST_SCAN_EXPIRED, copy_record, &c);
        if (e == CST_OK)
            e = c.e;
        if (e == CST_OK)
            e = cst_tstore_commit(bc.ts, NULL);
        else if (bc.ts)
            cst_tstore_rollback(bc.ts, NULL);
    }
    cst_buf_wipe_free(&c.value);
    cst_tstore_close(bc.ts);
    cst_dek_free(&bc.deks);
    cst_key_free(&bc.idx);
    r = (cst_retained_row){.created_at = now,
                           .expires_at = now + n->cfg.lifecycle.billing_retention_days * CST_DAY_US,
                           .buckets = (int64_t)json_array_size(names),
                           .records = c.records};
    (void)snprintf(r.tenant_id, sizeof(r.tenant_id), "%s", t->id);
    if (e == CST_OK)
        e = cst_store_retained_put(n->store, NULL, &r);
    if (e == CST_OK)
        *kept = json_pack("{s:O,s:I,s:o,s:s}", "buckets", names, "records", (json_int_t)c.records,
                          "until", cst_json_time(r.expires_at), "key",
                          "billing-dek v1 (its own key, destroyed on that date)");
    json_decref(names);
    return e;
}

/* ---- the erase ---- */

struct bucket_plan {
    cst_tenant_ctx *t;
    json_t *buckets;
    int64_t records;
};

static cst_err plan_bucket(const cst_bucket_row *b, void *p)
{
    struct bucket_plan *bp = p;
    int64_t count = 0;
    TRY(cst_tstore_count(bp->t->ts, NULL, b->name, &count));
    bp->records += count;
    json_array_append_new(bp->buckets, json_pack("{s:s,s:s,s:I}", "name", b->name, "class", b->cls,
                                                 "records", (json_int_t)count));
    return CST_OK;
}

/* What the erase destroys, fixed before anything is destroyed (meta "erase_plan:<id>"). */
static cst_err erase_plan(cst_node *n, const cst_tenant_row *row, const char *requested_by,
                          const char *executed_by, int64_t now, json_t **plan)
{
    char key[64], text[65536];
    TRY(cst_fmt(key, sizeof(key), "erase_plan:%s", row->id));
    if (cst_store_meta_get(n->store, NULL, key, text, sizeof(text)) == CST_OK &&
        (*plan = json_loads(text, 0, NULL)) != NULL)
        return CST_OK;
    cst_err_clear();
    struct key_list kl = {tenant_purposes, json_array(), json_array()};
    cst_err e = cst_store_tenant_keys(n->store, NULL, row->id, collect_key, &kl);
    struct bucket_plan bp = {.buckets = json_array()};
    if (e == CST_OK && json_array_size(kl.keys) > 0 &&
        (e = cst_node_tenant_acquire(n, row->id, &bp.t)) == CST_OK) {
        e = cst_tstore_bucket_list(bp.t->ts, NULL, plan_bucket, &bp);
        cst_node_tenant_release(n, bp.t);
    }
    *plan = json_pack("{s:o,s:I,s:o,s:o,s:s,s:s,s:o,s:o}", "buckets", bp.buckets, "records",
                      (json_int_t)bp.records, "keys", kl.keys, "blobs", kl.blobs, "requested_by",
                      requested_by, "executed_by", executed_by, "requested_at", cst_json_time(now),
                      "tenant_created_at", cst_json_time(row->created_at));
    char *s = e == CST_OK ? cst_audit_canonical(*plan) : NULL;
    if (e == CST_OK && (!s || strlen(s) >= sizeof(text)))
        e = cst_fail(CST_ERR_INTERNAL, "the erase plan of %s is too large", row->id);
    if (e == CST_OK)
        e = cst_store_meta_set(n->store, NULL, key, s);
    cst_json_free_text(s);
    if (e != CST_OK) {
        json_decref(*plan);
        *plan = NULL;
    }
    return e;
}

static cst_err erase_locked(cst_node *n, const char *tenant_id, const char *requested_by,
                            const char *executed_by, int64_t now, char **doc)
{
    cst_tenant_row row;
    cst_err e = cst_store_tenant_get(n->store, NULL, tenant_id, &row);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_NOT_FOUND, "no such tenant");
    TRY(e);
    cst_tenant_state state = cst_tenant_state_parse(row.state);
    ENSURE(state != CST_STATE_ERASED, CST_ERR_CONFLICT, "tenant %s is already erased", tenant_id);
    if (state != CST_STATE_PENDING_ERASE) {
        TRY(cst_copy(row.state, sizeof(row.state), cst_tenant_state_name(CST_STATE_PENDING_ERASE)));
        row.state_since = now;
        TRY(cst_store_tenant_lifecycle_set(n->store, NULL, &row)); /* no access from here on */
    }
    /* from here on every failure goes to done, which releases everything and writes
     * tenant.erase.failed: no TRY/ENSURE below this line */
    json_t *plan = NULL, *cert = NULL;
    int64_t started = cst_now_us();
    json_t *checks = json_array(), *removed = json_array(), *kept = json_null();
    char id[CST_ID_MAX] = "";
    bool has_store = false;
    e = erase_plan(n, &row, requested_by, executed_by, now, &plan);
    if (e != CST_OK)
        goto done;
    const json_t *buckets = json_object_get(plan, "buckets");
    e = cst_tstore_exists(n->store, CST_TSPACE_LIVE, tenant_id, &has_store);
    /* billing buckets first, while the tenant's keys still open them */
    cst_tenant_ctx *t = NULL;
    if (e == CST_OK && json_array_size(json_object_get(plan, "keys")) > 0 && has_store) {
        e = cst_node_tenant_acquire(n, tenant_id, &t);
        if (e == CST_OK) {
            json_decref(kept);
            e = keep_billing(n, t, buckets, now, &kept);
            cst_node_tenant_release(n, t);
        }
    }
    if (e == CST_OK) {
        cst_node_tenant_close(n, tenant_id); /* waits for every request still holding it */
        e = destroy_keys(n, tenant_id, tenant_purposes, json_object_get(plan, "blobs"), checks);
    }
    if (e == CST_OK)
        e = cst_tstore_purge(n->store, CST_TSPACE_LIVE, tenant_id, note_name, removed);
    if (e != CST_OK)
        goto done;
    json_array_append_new(checks, json_string("the tenant's database files are gone"));
    /* the audit log's details of this tenant were sealed under the destroyed DEK */
    cst_tenant_ctx *gone = NULL;
    if (cst_node_tenant(n, tenant_id, &gone) == CST_OK) {
        e = cst_fail(CST_ERR_INTEGRITY, "the tenant's keys still open");
        goto done;
    }
    cst_err_clear();
    json_array_append_new(checks, json_string("the tenant's keys no longer unwrap: records "
                                              "and sealed audit details cannot be decrypted"));
    {
        const char *created = json_string_value(json_object_get(plan, "tenant_created_at"));
        int64_t created_us = 0;
        (void)cst_time_parse(created ? created : "", &created_us);
        cert = json_pack(
            "{s:{s:s,s:s,s:s,s:s},s:{s:O,s:O,s:O,s:o,s:o},s:{s:o,s:s},s:O,s:s,s:O,s:o,s:o,s:o,s:o}",
            "tenant", "id", row.id, "name", row.name, "region", row.region, "plan", row.plan,
            "erased", "buckets", buckets, "records", json_object_get(plan, "records"),
            "keys_destroyed", json_object_get(plan, "keys"), "files_removed", removed,
            "billing_retained", kept, "verification", "checks", checks, "result", "passed",
            "requested_by", json_object_get(plan, "requested_by"), "executed_by", executed_by,
            "requested_at", json_object_get(plan, "requested_at"), "started_at",
            cst_json_time(started), "completed_at", cst_json_time(cst_now_us()), "backups",
            backups_holding(n, created_us), "backups_note",
            json_string("backups listed still hold the tenant's data encrypted under keys that "
                        "are themselves inside those encrypted backups; restores never bring an "
                        "erased tenant back (tombstone), and each backup is deleted on its "
                        "expiry date"));
        removed = checks = kept = NULL;
        e = cert ? issue(n, tenant_id, cert, now, id, doc)
                 : cst_fail(CST_ERR_INTERNAL, "cannot build the certificate");
    }
    if (e == CST_OK)
        e = cst_store_tenant_erased(n->store, NULL, tenant_id, now, id, *doc);
done:
    if (e == CST_OK) {
        char key[64];
        (void)snprintf(key, sizeof(key), "erase_plan:%s", tenant_id);
        if (cst_store_meta_set(n->store, NULL, key, "") != CST_OK)
            cst_err_clear();
        if (cst_store_checkpoint(n->store) != CST_OK) /* users' password hashes, too */
            cst_err_clear();
        cst_node_audit_event(
            n, "tenant.erase.completed", "success", tenant_id, "/v1/sys/tenants/{id}/erase",
            json_pack("{s:s,s:O,s:O}", "certificate_id", id, "records",
                      json_object_get(plan, "records"), "keys", json_object_get(plan, "keys")));
    } else {
        cst_node_audit_event(n, "tenant.erase.failed", "failure", tenant_id,
                             "/v1/sys/tenants/{id}/erase",
                             json_pack("{s:s}", "error", cst_err_message(e)));
    }
    json_decref(cert);
    json_decref(checks);
    json_decref(removed);
    json_decref(plan);
    json_decref(kept);
    return e;
}

cst_err cst_lifecycle_erase(cst_node *n, const char *tenant_id, const char *requested_by,
                            const char *executed_by, int64_t now, char **certificate)
{
    *certificate = NULL;
    /* one erase at a time, and never while a backup snapshots the node */
    pthread_mutex_lock(&n->erase_mu);
    pthread_mutex_lock(&n->backup_mu);
    cst_err e = erase_locked(n, tenant_id, requested_by, executed_by, now, certificate);
    pthread_mutex_unlock(&n->backup_mu);
    pthread_mutex_unlock(&n->erase_mu);
    if (e != CST_OK) {
        cst_json_free_text(*certificate);
        *certificate = NULL;
    }
    return e;
}

cst_err cst_lifecycle_billing_erase(cst_node *n, const char *tenant_id, int64_t now)
{
    pthread_mutex_lock(&n->erase_mu);
    pthread_mutex_lock(&n->backup_mu);
    cst_retained_row r;
    struct key_list kl = {billing_purposes, json_array(), json_array()};
    json_t *checks = json_array(), *removed = json_array();
    char id[CST_ID_MAX], *doc = NULL;
    cst_tenant_row row;
    cst_err e = cst_store_retained_get(n->store, NULL, tenant_id, &r);
    if (e == CST_OK)
        e = cst_store_tenant_get(n->store, NULL, tenant_id, &row);
    if (e == CST_OK)
        e = cst_store_tenant_keys(n->store, NULL, tenant_id, collect_key, &kl);
    if (e == CST_OK)
        e = destroy_keys(n, tenant_id, billing_purposes, kl.blobs, checks);
    if (e == CST_OK)
        e = cst_tstore_purge(n->store, CST_TSPACE_RETAINED, tenant_id, note_name, removed);
    json_t *cert = NULL;
    if (e == CST_OK) {
        json_array_append_new(checks, json_string("the retained billing database is gone"));
        cert = json_pack("{s:{s:s,s:s,s:s},s:{s:s,s:I,s:O,s:o},s:{s:o,s:s},s:s,s:s,s:o,s:o}",
                         "tenant", "id", row.id, "name", row.name, "region", row.region, "erased",
                         "what", "billing records retained after the tenant's erase", "records",
                         (json_int_t)r.records, "keys_destroyed", kl.keys, "files_removed", removed,
                         "verification", "checks", checks, "result", "passed", "requested_by",
                         "lifecycle schedule: lifecycle.billing_retention_days", "executed_by",
                         "custodia lifecycle sweeper", "retained_since",
                         cst_json_time(r.created_at), "completed_at", cst_json_time(now));
        removed = checks = NULL;
        e = cert ? issue(n, tenant_id, cert, now, id, &doc)
                 : cst_fail(CST_ERR_INTERNAL, "cannot build the certificate");
    }
    if (e == CST_OK)
        e = cst_store_certificate_add(n->store, NULL, id, tenant_id, now, doc);
    if (e == CST_OK)
        e = cst_store_retained_delete(n->store, NULL, tenant_id);
    if (e == CST_OK)
        cst_node_audit_event(
            n, "tenant.billing.erase", "success", tenant_id, "/v1/sys/tenants/{id}",
            json_pack("{s:s,s:I}", "certificate_id", id, "records", (json_int_t)r.records));
    json_decref(cert);
    json_decref(checks);
    json_decref(removed);
    json_decref(kl.keys);
    json_decref(kl.blobs);
    cst_json_free_text(doc);
    pthread_mutex_unlock(&n->backup_mu);
    pthread_mutex_unlock(&n->erase_mu);
    return e;
}
