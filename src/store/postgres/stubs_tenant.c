/* stubs_tenant.c: TEMPORARY, while this group of operations is written: each fails. The file
 * is deleted when the group is built; the driver is not done while any stubs_*.c remains. */
#include <stdlib.h>

#include "store/postgres/pg.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

cst_err cst_postgres_store_checkpoint(cst_store *st)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_checkpoint is not built yet");
}

cst_err cst_postgres_store_residue_check(cst_store *st, const json_t *hex_blobs,
                                         void (*note)(const char *check, void *ctx), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_residue_check is not built yet");
}

cst_err cst_postgres_tstore_open(cst_store *st, cst_tspace space, const char *tenant_id,
                                 bool create, cst_tstore **out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_open is not built yet");
}

cst_err cst_postgres_tstore_exists(cst_store *st, cst_tspace space, const char *tenant_id,
                                   bool *exists)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_exists is not built yet");
}

cst_err cst_postgres_tstore_purge(cst_store *st, cst_tspace space, const char *tenant_id,
                                  void (*removed)(const char *name, void *ctx), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_purge is not built yet");
}

cst_err cst_postgres_tstore_bucket_create(cst_tstore *ts, cst_work *w, const cst_bucket_row *b)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_bucket_create is not built yet");
}

cst_err cst_postgres_tstore_bucket_get(cst_tstore *ts, cst_work *w, const char *name,
                                       cst_bucket_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_bucket_get is not built yet");
}

cst_err cst_postgres_tstore_bucket_exists(cst_tstore *ts, cst_work *w, const char *name)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_bucket_exists is not built yet");
}

cst_err cst_postgres_tstore_bucket_list(cst_tstore *ts, cst_work *w,
                                        cst_err (*fn)(const cst_bucket_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_bucket_list is not built yet");
}

cst_err cst_postgres_tstore_bucket_update(cst_tstore *ts, cst_work *w, const cst_bucket_row *b)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_bucket_update is not built yet");
}

cst_err cst_postgres_tstore_bucket_delete(cst_tstore *ts, cst_work *w, const char *name)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_bucket_delete is not built yet");
}

cst_err cst_postgres_tstore_next_version(cst_tstore *ts, cst_work *w, uint64_t *version)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_next_version is not built yet");
}

cst_err cst_postgres_tstore_record_get(cst_tstore *ts, cst_work *w, const char *bucket,
                                       const uint8_t bidx[CST_HASH_LEN], bool with_value,
                                       cst_record_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_record_get is not built yet");
}

cst_err cst_postgres_tstore_record_write(cst_tstore *ts, cst_work *w, const char *bucket,
                                         const cst_record_row *r)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_record_write is not built yet");
}

cst_err cst_postgres_tstore_record_delete(cst_tstore *ts, cst_work *w, const char *bucket,
                                          const uint8_t bidx[CST_HASH_LEN])
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_record_delete is not built yet");
}

cst_err cst_postgres_tstore_record_scan(cst_tstore *ts, cst_work *w, const char *bucket,
                                        const uint8_t *after, unsigned flags,
                                        bool (*fn)(const cst_record_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_record_scan is not built yet");
}

cst_err cst_postgres_tstore_sweep(cst_tstore *ts, const char *bucket, int64_t cutoff, int batch,
                                  int64_t *removed)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_sweep is not built yet");
}

cst_err cst_postgres_tstore_checkpoint_strict(cst_tstore *ts)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_checkpoint_strict is not built yet");
}

cst_err cst_postgres_tstore_count(cst_tstore *ts, cst_work *w, const char *bucket, int64_t *count)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_count is not built yet");
}

cst_err cst_postgres_tstore_dek_counts(cst_tstore *ts, cst_work *w,
                                       cst_err (*fn)(uint32_t version, int64_t records, void *ctx),
                                       void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_dek_counts is not built yet");
}

cst_err cst_postgres_tstore_rewrap_batch(cst_tstore *ts, uint32_t target, int limit,
                                         cst_err (*reseal)(const char *bucket, cst_record_row *r,
                                                           void *ctx),
                                         void *ctx, int64_t *done, int64_t *seen)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: tstore_rewrap_batch is not built yet");
}

void cst_postgres_tstore_close(cst_tstore *ts)
{
    free(ts);
}

void cst_postgres_tstore_close_warm(cst_tstore *ts)
{
    free(ts);
}
