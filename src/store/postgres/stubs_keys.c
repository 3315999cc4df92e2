/* stubs_keys.c: TEMPORARY, while this group of operations is written: each fails. The file
 * is deleted when the group is built; the driver is not done while any stubs_*.c remains. */
#include <stdlib.h>

#include "store/postgres/pg.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

cst_err cst_postgres_store_backup_put(cst_store *st, cst_work *w, const cst_backup_row *b)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_backup_put is not built yet");
}

cst_err cst_postgres_store_backup_get(cst_store *st, cst_work *w, const char *id,
                                      cst_backup_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_backup_get is not built yet");
}

cst_err cst_postgres_store_backup_list(cst_store *st, cst_work *w, int limit,
                                       cst_err (*fn)(const cst_backup_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_backup_list is not built yet");
}

cst_err cst_postgres_store_drill_add(cst_store *st, cst_work *w, const cst_drill_row *d)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_drill_add is not built yet");
}

cst_err cst_postgres_store_drill_list(cst_store *st, cst_work *w, int limit,
                                      cst_err (*fn)(const cst_drill_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_drill_list is not built yet");
}

cst_err cst_postgres_store_tombstone_add(cst_store *st, cst_work *w, const char *tenant_id,
                                         int64_t erased_at, const char *certificate_id)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_tombstone_add is not built yet");
}

cst_err cst_postgres_store_tombstone_list(cst_store *st, cst_work *w,
                                          cst_err (*fn)(const cst_tombstone_row *, void *),
                                          void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_tombstone_list is not built yet");
}

cst_err cst_postgres_store_tenant_keys(cst_store *st, cst_work *w, const char *tenant_id,
                                       cst_err (*fn)(const char *purpose, uint32_t version,
                                                     const uint8_t *blob, size_t len, void *ctx),
                                       void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_tenant_keys is not built yet");
}

cst_err cst_postgres_store_key_add(cst_store *st, cst_work *w, const char *tenant_id,
                                   const char *purpose, uint32_t version, const cst_buf *blob,
                                   int64_t now)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_key_add is not built yet");
}

cst_err cst_postgres_store_keys_all(cst_store *st, cst_work *w,
                                    cst_err (*fn)(const char *tenant_id, const char *purpose,
                                                  uint32_t version, const uint8_t *blob, size_t len,
                                                  void *ctx),
                                    void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_keys_all is not built yet");
}

cst_err cst_postgres_store_key_rewrapped(cst_store *st, cst_work *w, const char *tenant_id,
                                         const char *purpose, uint32_t version, const cst_buf *blob)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_key_rewrapped is not built yet");
}

cst_err cst_postgres_store_key_list(cst_store *st, cst_work *w, const char *tenant_id,
                                    cst_err (*fn)(const cst_key_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_key_list is not built yet");
}

cst_err cst_postgres_store_key_count(cst_store *st, cst_work *w, const char *tenant_id,
                                     const char *purpose, uint32_t version, int64_t n)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_key_count is not built yet");
}

cst_err cst_postgres_store_rewrap_put(cst_store *st, cst_work *w, const cst_rewrap_row *r)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_rewrap_put is not built yet");
}

cst_err cst_postgres_store_rewrap_get(cst_store *st, cst_work *w, const char *tenant_id,
                                      cst_rewrap_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_rewrap_get is not built yet");
}

cst_err cst_postgres_store_rewrap_running(cst_store *st, cst_work *w,
                                          cst_err (*fn)(const cst_rewrap_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_rewrap_running is not built yet");
}

cst_err cst_postgres_store_keys_destroy(cst_store *st, cst_work *w, const char *tenant_id,
                                        const char *const *purposes)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_keys_destroy is not built yet");
}

cst_err cst_postgres_store_tenant_erased(cst_store *st, cst_work *w, const char *tenant_id,
                                         int64_t now, const char *cert_id, const char *document)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_tenant_erased is not built yet");
}

cst_err cst_postgres_store_certificate_add(cst_store *st, cst_work *w, const char *id,
                                           const char *tenant_id, int64_t issued_at,
                                           const char *document)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_certificate_add is not built yet");
}

cst_err cst_postgres_store_certificate_get(cst_store *st, cst_work *w, const char *id,
                                           cst_buf *document)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_certificate_get is not built yet");
}

cst_err cst_postgres_store_certificate_of(cst_store *st, cst_work *w, const char *tenant_id,
                                          char id[CST_ID_MAX])
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_certificate_of is not built yet");
}

cst_err cst_postgres_store_retained_put(cst_store *st, cst_work *w, const cst_retained_row *r)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_retained_put is not built yet");
}

cst_err cst_postgres_store_retained_get(cst_store *st, cst_work *w, const char *tenant_id,
                                        cst_retained_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_retained_get is not built yet");
}

cst_err cst_postgres_store_retained_delete(cst_store *st, cst_work *w, const char *tenant_id)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_retained_delete is not built yet");
}

cst_err cst_postgres_store_retained_list(cst_store *st, cst_work *w,
                                         cst_err (*fn)(const cst_retained_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_retained_list is not built yet");
}
