/* driver.h: what a storage driver implements: one table of operations (SQLite's VFS and Redis'
 * ae backends are the model). store.c dispatches every cst_store_* and cst_tstore_* function
 * through the table of the handle it is given; functions without a handle (copies) go to the
 * default driver. Included by store.c and the drivers only: callers see store.h. */
#ifndef CST_STORE_DRIVER_H
#define CST_STORE_DRIVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "store/store.h"

/* The operations a driver implements, once: X(on, type, name, (parameters), (arguments)).
 * Each has the contract of the store.h function cst_<name> (store_user_get implements
 * cst_store_user_get, tstore_open cst_tstore_open, ...). on says what a call is dispatched by:
 * S the system store handle st, T the tenant store handle ts, D nothing (copies, which the
 * default driver reads); P and A are S operations that write principals (users, tokens,
 * tenants, tenant_keys), P inside the unit of work w, A committed alone: store.c bumps the
 * store's principals generation after them (IAM-5, cst_store_principals_gen). The touches
 * (token_touch, tenant_touch) stay S: they record use, which no cached check depends on beyond
 * what core/authn.c updates in place. Opening and the void operations are in the struct below. */
// clang-format off
#define CST_STORE_OPS(X) \
    X(S, const char *, store_data_dir, (const cst_store *st), (st)) \
    X(S, cst_err, store_meta_get, (cst_store *st, cst_work *w, const char *k, char *out, size_t n), (st, w, k, out, n)) \
    X(S, cst_err, store_meta_set, (cst_store *st, cst_work *w, const char *k, const char *v), (st, w, k, v)) \
    X(P, cst_err, store_tenant_create, (cst_store *st, cst_work *w, const cst_tenant_row *t, const cst_buf *wrapped_dek, const cst_buf *wrapped_idx, const cst_user_row *owner), (st, w, t, wrapped_dek, wrapped_idx, owner)) \
    X(S, cst_err, store_tenant_get, (cst_store *st, cst_work *w, const char *id, cst_tenant_row *out), (st, w, id, out)) \
    X(S, cst_err, store_tenant_by_name, (cst_store *st, cst_work *w, const char *name, cst_tenant_row *out), (st, w, name, out)) \
    X(S, cst_err, store_tenant_list, (cst_store *st, cst_work *w, const char *after, int limit, cst_err (*fn)(const cst_tenant_row *, void *), void *ctx), (st, w, after, limit, fn, ctx)) \
    X(S, cst_err, store_key_latest, (cst_store *st, cst_work *w, const char *tenant_id, const char *purpose, uint32_t *version, cst_buf *blob), (st, w, tenant_id, purpose, version, blob)) \
    X(P, cst_err, store_user_create, (cst_store *st, cst_work *w, const cst_user_row *u), (st, w, u)) \
    X(S, cst_err, store_user_get, (cst_store *st, cst_work *w, const char *id, cst_user_row *out), (st, w, id, out)) \
    X(S, cst_err, store_user_by_name, (cst_store *st, cst_work *w, const char *tenant_id, const char *username, cst_user_row *out), (st, w, tenant_id, username, out)) \
    X(P, cst_err, store_user_update, (cst_store *st, cst_work *w, const cst_user_row *u), (st, w, u)) \
    X(S, cst_err, store_user_list, (cst_store *st, cst_work *w, const char *tenant_id, cst_err (*fn)(const cst_user_row *, void *), void *ctx), (st, w, tenant_id, fn, ctx)) \
    X(P, cst_err, store_user_delete, (cst_store *st, cst_work *w, const char *tenant_id, const char *id), (st, w, tenant_id, id)) \
    X(S, cst_err, store_user_count, (cst_store *st, cst_work *w, const char *tenant_id, uint32_t role_mask, int *count), (st, w, tenant_id, role_mask, count)) \
    X(A, cst_err, store_login_failed, (cst_store *st, const char *user_id, int64_t now, int max, int64_t lock_us, int *failed, int64_t *locked_until), (st, user_id, now, max, lock_us, failed, locked_until)) \
    X(P, cst_err, store_login_ok, (cst_store *st, cst_work *w, const char *user_id, int64_t now), (st, w, user_id, now)) \
    X(P, cst_err, store_login_unlock, (cst_store *st, cst_work *w, const char *user_id), (st, w, user_id)) \
    X(A, cst_err, store_totp_advance, (cst_store *st, const char *user_id, int64_t step), (st, user_id, step)) \
    X(A, cst_err, store_recovery_swap, (cst_store *st, const char *user_id, const char *old_json, const char *new_json), (st, user_id, old_json, new_json)) \
    X(P, cst_err, store_tenant_settings_set, (cst_store *st, cst_work *w, const char *tenant_id, const char *settings_json), (st, w, tenant_id, settings_json)) \
    X(P, cst_err, store_token_create, (cst_store *st, cst_work *w, const cst_token_row *t), (st, w, t)) \
    X(S, cst_err, store_token_get, (cst_store *st, cst_work *w, const char *id, cst_token_row *out), (st, w, id, out)) \
    X(S, cst_err, store_token_touch, (cst_store *st, cst_work *w, const char *id, int64_t now), (st, w, id, now)) \
    X(P, cst_err, store_token_delete, (cst_store *st, cst_work *w, const char *tenant_id, const char *user_id, const char *id), (st, w, tenant_id, user_id, id)) \
    X(S, cst_err, store_token_list, (cst_store *st, cst_work *w, const char *tenant_id, const char *user_id, cst_err (*fn)(const cst_token_row *, void *), void *ctx), (st, w, tenant_id, user_id, fn, ctx)) \
    X(P, cst_err, store_sessions_end, (cst_store *st, cst_work *w, const char *user_id, const char *keep_id), (st, w, user_id, keep_id)) \
    X(S, cst_err, store_backup_put, (cst_store *st, cst_work *w, const cst_backup_row *b), (st, w, b)) \
    X(S, cst_err, store_backup_get, (cst_store *st, cst_work *w, const char *id, cst_backup_row *out), (st, w, id, out)) \
    X(S, cst_err, store_backup_list, (cst_store *st, cst_work *w, int limit, cst_err (*fn)(const cst_backup_row *, void *), void *ctx), (st, w, limit, fn, ctx)) \
    X(S, cst_err, store_drill_add, (cst_store *st, cst_work *w, const cst_drill_row *d), (st, w, d)) \
    X(S, cst_err, store_drill_list, (cst_store *st, cst_work *w, int limit, cst_err (*fn)(const cst_drill_row *, void *), void *ctx), (st, w, limit, fn, ctx)) \
    X(S, cst_err, store_tombstone_add, (cst_store *st, cst_work *w, const char *tenant_id, int64_t erased_at, const char *certificate_id), (st, w, tenant_id, erased_at, certificate_id)) \
    X(S, cst_err, store_tombstone_list, (cst_store *st, cst_work *w, cst_err (*fn)(const cst_tombstone_row *, void *), void *ctx), (st, w, fn, ctx)) \
    X(S, cst_err, store_alert_put, (cst_store *st, cst_work *w, const cst_alert_row *a), (st, w, a)) \
    X(S, cst_err, store_alert_get, (cst_store *st, cst_work *w, const char *id, cst_alert_row *out), (st, w, id, out)) \
    X(S, cst_err, store_alert_find, (cst_store *st, cst_work *w, const char *type, const char *dedup_key, cst_alert_row *out), (st, w, type, dedup_key, out)) \
    X(S, cst_err, store_alert_list, (cst_store *st, cst_work *w, const cst_alert_filter *f, cst_err (*fn)(const cst_alert_row *, void *), void *ctx), (st, w, f, fn, ctx)) \
    X(S, cst_err, store_alert_count_open, (cst_store *st, cst_work *w, int64_t *count), (st, w, count)) \
    X(S, cst_err, store_alert_prune, (cst_store *st, cst_work *w, int64_t resolved_before, int64_t finished_before, int64_t *removed), (st, w, resolved_before, finished_before, removed)) \
    X(S, cst_err, store_webhook_put, (cst_store *st, cst_work *w, const cst_webhook_row *d), (st, w, d)) \
    X(S, cst_err, store_webhook_due, (cst_store *st, cst_work *w, int64_t now, int limit, cst_err (*fn)(const cst_webhook_row *, void *), void *ctx), (st, w, now, limit, fn, ctx)) \
    X(S, cst_err, store_webhook_defer, (cst_store *st, cst_work *w, const char *url, int64_t next_at), (st, w, url, next_at)) \
    X(S, cst_err, store_webhook_list, (cst_store *st, cst_work *w, const char *alert_id, cst_err (*fn)(const cst_webhook_row *, void *), void *ctx), (st, w, alert_id, fn, ctx)) \
    X(P, cst_err, store_tenant_lifecycle_set, (cst_store *st, cst_work *w, const cst_tenant_row *t), (st, w, t)) \
    X(S, cst_err, store_tenant_touch, (cst_store *st, cst_work *w, const char *tenant_id, int64_t now), (st, w, tenant_id, now)) \
    X(S, cst_err, store_tenant_keys, (cst_store *st, cst_work *w, const char *tenant_id, cst_err (*fn)(const char *purpose, uint32_t version, const uint8_t *blob, size_t len, void *ctx), void *ctx), (st, w, tenant_id, fn, ctx)) \
    X(P, cst_err, store_key_add, (cst_store *st, cst_work *w, const char *tenant_id, const char *purpose, uint32_t version, const cst_buf *blob, int64_t now), (st, w, tenant_id, purpose, version, blob, now)) \
    X(S, cst_err, store_keys_all, (cst_store *st, cst_work *w, cst_err (*fn)(const char *tenant_id, const char *purpose, uint32_t version, const uint8_t *blob, size_t len, void *ctx), void *ctx), (st, w, fn, ctx)) \
    X(P, cst_err, store_key_rewrapped, (cst_store *st, cst_work *w, const char *tenant_id, const char *purpose, uint32_t version, const cst_buf *blob), (st, w, tenant_id, purpose, version, blob)) \
    X(S, cst_err, store_key_list, (cst_store *st, cst_work *w, const char *tenant_id, cst_err (*fn)(const cst_key_row *, void *), void *ctx), (st, w, tenant_id, fn, ctx)) \
    X(S, cst_err, store_key_count, (cst_store *st, cst_work *w, const char *tenant_id, const char *purpose, uint32_t version, int64_t n), (st, w, tenant_id, purpose, version, n)) \
    X(S, cst_err, store_rewrap_put, (cst_store *st, cst_work *w, const cst_rewrap_row *r), (st, w, r)) \
    X(S, cst_err, store_rewrap_get, (cst_store *st, cst_work *w, const char *tenant_id, cst_rewrap_row *out), (st, w, tenant_id, out)) \
    X(S, cst_err, store_rewrap_running, (cst_store *st, cst_work *w, cst_err (*fn)(const cst_rewrap_row *, void *), void *ctx), (st, w, fn, ctx)) \
    X(P, cst_err, store_keys_destroy, (cst_store *st, cst_work *w, const char *tenant_id, const char *const *purposes), (st, w, tenant_id, purposes)) \
    X(P, cst_err, store_tenant_erased, (cst_store *st, cst_work *w, const char *tenant_id, int64_t now, const char *cert_id, const char *document), (st, w, tenant_id, now, cert_id, document)) \
    X(S, cst_err, store_certificate_add, (cst_store *st, cst_work *w, const char *id, const char *tenant_id, int64_t issued_at, const char *document), (st, w, id, tenant_id, issued_at, document)) \
    X(S, cst_err, store_certificate_get, (cst_store *st, cst_work *w, const char *id, cst_buf *document), (st, w, id, document)) \
    X(S, cst_err, store_certificate_of, (cst_store *st, cst_work *w, const char *tenant_id, char id[CST_ID_MAX]), (st, w, tenant_id, id)) \
    X(S, cst_err, store_retained_put, (cst_store *st, cst_work *w, const cst_retained_row *r), (st, w, r)) \
    X(S, cst_err, store_retained_get, (cst_store *st, cst_work *w, const char *tenant_id, cst_retained_row *out), (st, w, tenant_id, out)) \
    X(S, cst_err, store_retained_delete, (cst_store *st, cst_work *w, const char *tenant_id), (st, w, tenant_id)) \
    X(S, cst_err, store_retained_list, (cst_store *st, cst_work *w, cst_err (*fn)(const cst_retained_row *, void *), void *ctx), (st, w, fn, ctx)) \
    X(S, cst_err, store_incident_put, (cst_store *st, cst_work *w, const cst_incident_row *i), (st, w, i)) \
    X(S, cst_err, store_incident_get, (cst_store *st, cst_work *w, const char *id, cst_incident_row *out), (st, w, id, out)) \
    X(S, cst_err, store_incident_list, (cst_store *st, cst_work *w, cst_err (*fn)(const cst_incident_row *, void *), void *ctx), (st, w, fn, ctx)) \
    X(S, cst_err, store_timeline_add, (cst_store *st, cst_work *w, const cst_timeline_row *t, int64_t *seq), (st, w, t, seq)) \
    X(S, cst_err, store_timeline_list, (cst_store *st, cst_work *w, const char *incident_id, cst_err (*fn)(const cst_timeline_row *, void *), void *ctx), (st, w, incident_id, fn, ctx)) \
    X(S, cst_err, store_clock_put, (cst_store *st, cst_work *w, const cst_clock_row *c), (st, w, c)) \
    X(S, cst_err, store_clock_list, (cst_store *st, cst_work *w, const char *incident_id, cst_err (*fn)(const cst_clock_row *, void *), void *ctx), (st, w, incident_id, fn, ctx)) \
    X(S, cst_err, store_notice_add, (cst_store *st, cst_work *w, const cst_notice_row *nt), (st, w, nt)) \
    X(S, cst_err, store_notice_get, (cst_store *st, cst_work *w, const char *id, cst_notice_row *out), (st, w, id, out)) \
    X(S, cst_err, store_notice_list, (cst_store *st, cst_work *w, const char *incident_id, const char *tenant_id, cst_err (*fn)(const cst_notice_row *, void *), void *ctx), (st, w, incident_id, tenant_id, fn, ctx)) \
    X(S, cst_err, store_notice_decide, (cst_store *st, cst_work *w, const cst_notice_row *nt), (st, w, nt)) \
    X(S, cst_err, store_review_add, (cst_store *st, cst_work *w, const cst_review_row *r, const char *snapshot), (st, w, r, snapshot)) \
    X(S, cst_err, store_review_get, (cst_store *st, cst_work *w, const char *id, cst_review_row *out, cst_buf *snapshot, cst_buf *attestation), (st, w, id, out, snapshot, attestation)) \
    X(S, cst_err, store_review_list, (cst_store *st, cst_work *w, const char *scope, cst_err (*fn)(const cst_review_row *, void *), void *ctx), (st, w, scope, fn, ctx)) \
    X(S, cst_err, store_review_attest, (cst_store *st, cst_work *w, const char *id, int64_t at, const char *by, const char *attestation), (st, w, id, at, by, attestation)) \
    X(S, cst_err, store_review_decide, (cst_store *st, cst_work *w, const cst_review_decision_row *d), (st, w, d)) \
    X(S, cst_err, store_review_decisions, (cst_store *st, cst_work *w, const char *review_id, cst_err (*fn)(const cst_review_decision_row *, void *), void *ctx), (st, w, review_id, fn, ctx)) \
    X(S, cst_err, store_review_remind, (cst_store *st, const char *scope, int64_t now, int64_t interval_us, bool *claimed), (st, scope, now, interval_us, claimed)) \
    X(P, cst_err, store_access_put, (cst_store *st, cst_work *w, const cst_access_row *a), (st, w, a)) \
    X(S, cst_err, store_access_get, (cst_store *st, cst_work *w, const char *id, cst_access_row *out), (st, w, id, out)) \
    X(S, cst_err, store_access_list, (cst_store *st, cst_work *w, const char *tenant_id, cst_err (*fn)(const cst_access_row *, void *), void *ctx), (st, w, tenant_id, fn, ctx)) \
    X(S, cst_err, store_access_use, (cst_store *st, cst_work *w, const char *id, int64_t requests, int64_t records_read), (st, w, id, requests, records_read)) \
    X(S, cst_err, store_lease, (cst_store *st, const char *name, const char *holder, int64_t now, int64_t ttl_us, bool *held), (st, name, holder, now, ttl_us, held)) \
    X(S, cst_err, store_exclusive, (cst_store *st, cst_work *w, const char *name), (st, w, name)) \
    X(S, cst_err, store_checkpoint, (cst_store *st), (st)) \
    X(S, cst_err, store_residue_check, (cst_store *st, const json_t *hex_blobs, void (*note)(const char *check, void *ctx), void *ctx), (st, hex_blobs, note, ctx)) \
    X(D, bool, store_exists, (const char *data_dir), (data_dir)) \
    X(D, cst_err, store_copy_name, (const char *tenant_id, char *out, size_t size), (tenant_id, out, size)) \
    X(D, bool, store_copy_tenant, (const char *name, char id[CST_ID_MAX]), (name, id)) \
    X(S, cst_err, store_snapshot, (cst_store *st, const char *tenant_id, const char *dir, bool *exists), (st, tenant_id, dir, exists)) \
    X(D, cst_err, store_copy_check, (const char *dir, const char *name, bool integrity, int64_t *records, int64_t *buckets), (dir, name, integrity, records, buckets)) \
    X(D, cst_err, store_copy_lists, (const char *dir, cst_err (*tenant)(const char *id, void *ctx), cst_err (*tomb)(const cst_tombstone_row *, void *ctx), void *ctx), (dir, tenant, tomb, ctx)) \
    X(D, cst_err, store_copy_drop_erased, (const char *dir, const cst_tombstone_row *tombs, size_t n), (dir, tombs, n)) \
    X(A, cst_err, store_merge_tenant, (cst_store *st, const char *dir, const char *tenant_id, bool *created), (st, dir, tenant_id, created)) \
    X(S, cst_err, store_snapshot_end, (cst_store *st), (st)) \
    X(A, cst_err, store_import, (cst_store *st, const char *dir), (st, dir)) \
    X(D, cst_err, store_copy_tables, (const char *name, const cst_copy_table **tables, size_t *n), (name, tables, n)) \
    X(D, cst_err, store_copy_write, (const char *dir, const char *name, cst_err (*fill)(cst_copy_writer *wr, void *ctx), void *ctx), (dir, name, fill, ctx)) \
    X(D, cst_err, store_copy_put, (cst_copy_writer *wr, size_t table, const cst_copy_value *row), (wr, table, row)) \
    X(D, cst_err, store_copy_read, (const char *dir, const char *name, size_t table, const char *tenant_id, cst_err (*row)(const cst_copy_value *vals, void *ctx), void *ctx), (dir, name, table, tenant_id, row, ctx)) \
    X(S, cst_err, tstore_open, (cst_store *st, cst_tspace space, const char *tenant_id, bool create, cst_tstore **out), (st, space, tenant_id, create, out)) \
    X(S, cst_err, tstore_exists, (cst_store *st, cst_tspace space, const char *tenant_id, bool *exists), (st, space, tenant_id, exists)) \
    X(S, cst_err, tstore_purge, (cst_store *st, cst_tspace space, const char *tenant_id, void (*removed)(const char *name, void *ctx), void *ctx), (st, space, tenant_id, removed, ctx)) \
    X(T, cst_err, tstore_begin, (cst_tstore *ts, cst_work *w), (ts, w)) \
    X(T, cst_err, tstore_commit, (cst_tstore *ts, cst_work *w), (ts, w)) \
    X(T, cst_err, tstore_bucket_create, (cst_tstore *ts, cst_work *w, const cst_bucket_row *b), (ts, w, b)) \
    X(T, cst_err, tstore_bucket_get, (cst_tstore *ts, cst_work *w, const char *name, cst_bucket_row *out), (ts, w, name, out)) \
    X(T, cst_err, tstore_bucket_exists, (cst_tstore *ts, cst_work *w, const char *name), (ts, w, name)) \
    X(T, cst_err, tstore_bucket_list, (cst_tstore *ts, cst_work *w, cst_err (*fn)(const cst_bucket_row *, void *), void *ctx), (ts, w, fn, ctx)) \
    X(T, cst_err, tstore_bucket_update, (cst_tstore *ts, cst_work *w, const cst_bucket_row *b), (ts, w, b)) \
    X(T, cst_err, tstore_bucket_delete, (cst_tstore *ts, cst_work *w, const char *name), (ts, w, name)) \
    X(T, cst_err, tstore_next_version, (cst_tstore *ts, cst_work *w, uint64_t *version), (ts, w, version)) \
    X(T, cst_err, tstore_record_get, (cst_tstore *ts, cst_work *w, const char *bucket, const uint8_t bidx[CST_HASH_LEN], bool with_value, cst_record_row *out), (ts, w, bucket, bidx, with_value, out)) \
    X(T, cst_err, tstore_record_write, (cst_tstore *ts, cst_work *w, const char *bucket, const cst_record_row *r), (ts, w, bucket, r)) \
    X(T, cst_err, tstore_record_delete, (cst_tstore *ts, cst_work *w, const char *bucket, const uint8_t bidx[CST_HASH_LEN]), (ts, w, bucket, bidx)) \
    X(T, cst_err, tstore_record_scan, (cst_tstore *ts, cst_work *w, const char *bucket, const uint8_t *after, unsigned flags, bool (*fn)(const cst_record_row *, void *), void *ctx), (ts, w, bucket, after, flags, fn, ctx)) \
    X(T, cst_err, tstore_sweep, (cst_tstore *ts, const char *bucket, int64_t cutoff, int batch, int64_t *removed), (ts, bucket, cutoff, batch, removed)) \
    X(T, cst_err, tstore_checkpoint_strict, (cst_tstore *ts), (ts)) \
    X(T, cst_err, tstore_count, (cst_tstore *ts, cst_work *w, const char *bucket, int64_t *count), (ts, w, bucket, count)) \
    X(T, cst_err, tstore_dek_counts, (cst_tstore *ts, cst_work *w, cst_err (*fn)(uint32_t version, int64_t records, void *ctx), void *ctx), (ts, w, fn, ctx)) \
    X(T, cst_err, tstore_rewrap_batch, (cst_tstore *ts, uint32_t target, int limit, cst_err (*reseal)(const char *bucket, cst_record_row *r, void *ctx), void *ctx, int64_t *done, int64_t *seen), (ts, target, limit, reseal, ctx, done, seen))
// clang-format on

#define CST_STORE_OP_FIELD(on, type, name, params, args) type(*name) params;

struct cst_store_driver {
    const char *name;
    cst_err (*store_open)(const cst_store_conf *c, bool create, cst_store **out);
    void (*store_close)(cst_store *st);
    void (*tstore_close)(cst_tstore *ts);
    void (*tstore_close_warm)(cst_tstore *ts);
    void (*tstore_rollback)(cst_tstore *ts, cst_work *w);
    /* A transaction's part in one of the driver's connections (res: what the driver passed to
     * cst_work_join). begin takes the connection for the transaction t (SQLite: its lock, then
     * BEGIN IMMEDIATE); commit and rollback end it and give the connection back. savepoint,
     * release and rollback_to make a unit of work's own part of it. */
    cst_err (*res_begin)(void *res, const cst_txn *t);
    cst_err (*res_commit)(void *res);
    void (*res_rollback)(void *res);
    cst_err (*res_savepoint)(void *res);
    cst_err (*res_release)(void *res);
    void (*res_rollback_to)(void *res);
    /* IAM-5 across nodes (optional: NULL for a store only one process writes): a counter of the
     * committed writes to principals that every process sharing the store makes, read now;
     * false when it cannot be read. cst_store_principals_gen adds it to the process's own. */
    bool (*principals_epoch)(cst_store *st, uint64_t *n);
    CST_STORE_OPS(CST_STORE_OP_FIELD)
};

/* Every handle a driver gives out begins with its driver, so that store.c can dispatch; the
 * driver's own state follows (struct sq_store { cst_store base; ... }). */
struct cst_store {
    const cst_store_driver *drv;
    _Atomic uint64_t principals_gen; /* IAM-5: bumped by store.c, never by a driver */
};
struct cst_tstore {
    const cst_store_driver *drv;
};

/* Called by a driver before w's first write to a connection res: res joins w's transaction
 * (res_begin) if it has not yet, and w gets its savepoint there (res_savepoint) if it has none.
 * Returns the transaction's failure, if it can no longer commit. */
CST_MUST_USE cst_err cst_work_join(cst_work *w, const cst_store_driver *drv, void *res);
/* The transaction a unit of work belongs to. */
const cst_txn *cst_work_txn(const cst_work *w);

/* ENC-4 (cst_tstore_rewrap_batch): one record of a re-encryption batch, as a driver read it. */
typedef struct cst_rewrap_item {
    char bucket[CST_NAME_MAX + 1];
    cst_record_row r;
} cst_rewrap_item;
/* The part of a re-encryption batch every driver does alike: each of the n items handed to
 * reseal, then to the driver's update, which replaces the row only if it is still the one read
 * (bucket, bidx, version and old dek_version) and says how many rows it changed. *done: rows
 * replaced. Stops at the first error. */
CST_MUST_USE cst_err cst_rewrap_items(
    cst_rewrap_item *items, int n,
    cst_err (*reseal)(const char *bucket, cst_record_row *r, void *ctx), void *ctx,
    cst_err (*update)(const cst_rewrap_item *it, uint32_t old, void *res, int64_t *changed),
    void *res, int64_t *done);

/* The drivers built in. */
extern const cst_store_driver cst_sqlite_driver;
extern const cst_store_driver cst_postgres_driver;

#endif
