/* stubs_iam.c: TEMPORARY, while this group of operations is written: each fails. The file
 * is deleted when the group is built; the driver is not done while any stubs_*.c remains. */
#include <stdlib.h>

#include "store/postgres/pg.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

cst_err cst_postgres_store_tenant_create(cst_store *st, cst_work *w, const cst_tenant_row *t,
                                         const cst_buf *wrapped_dek, const cst_buf *wrapped_idx,
                                         const cst_user_row *owner)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_tenant_create is not built yet");
}

cst_err cst_postgres_store_tenant_get(cst_store *st, cst_work *w, const char *id,
                                      cst_tenant_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_tenant_get is not built yet");
}

cst_err cst_postgres_store_tenant_by_name(cst_store *st, cst_work *w, const char *name,
                                          cst_tenant_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_tenant_by_name is not built yet");
}

cst_err cst_postgres_store_tenant_list(cst_store *st, cst_work *w, const char *after, int limit,
                                       cst_err (*fn)(const cst_tenant_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_tenant_list is not built yet");
}

cst_err cst_postgres_store_key_latest(cst_store *st, cst_work *w, const char *tenant_id,
                                      const char *purpose, uint32_t *version, cst_buf *blob)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_key_latest is not built yet");
}

cst_err cst_postgres_store_user_create(cst_store *st, cst_work *w, const cst_user_row *u)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_user_create is not built yet");
}

cst_err cst_postgres_store_user_get(cst_store *st, cst_work *w, const char *id, cst_user_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_user_get is not built yet");
}

cst_err cst_postgres_store_user_by_name(cst_store *st, cst_work *w, const char *tenant_id,
                                        const char *username, cst_user_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_user_by_name is not built yet");
}

cst_err cst_postgres_store_user_update(cst_store *st, cst_work *w, const cst_user_row *u)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_user_update is not built yet");
}

cst_err cst_postgres_store_user_list(cst_store *st, cst_work *w, const char *tenant_id,
                                     cst_err (*fn)(const cst_user_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_user_list is not built yet");
}

cst_err cst_postgres_store_user_delete(cst_store *st, cst_work *w, const char *tenant_id,
                                       const char *id)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_user_delete is not built yet");
}

cst_err cst_postgres_store_user_count(cst_store *st, cst_work *w, const char *tenant_id,
                                      uint32_t role_mask, int *count)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_user_count is not built yet");
}

cst_err cst_postgres_store_login_failed(cst_store *st, const char *user_id, int64_t now, int max,
                                        int64_t lock_us, int *failed, int64_t *locked_until)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_login_failed is not built yet");
}

cst_err cst_postgres_store_login_ok(cst_store *st, cst_work *w, const char *user_id, int64_t now)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_login_ok is not built yet");
}

cst_err cst_postgres_store_login_unlock(cst_store *st, cst_work *w, const char *user_id)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_login_unlock is not built yet");
}

cst_err cst_postgres_store_totp_advance(cst_store *st, const char *user_id, int64_t step)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_totp_advance is not built yet");
}

cst_err cst_postgres_store_recovery_swap(cst_store *st, const char *user_id, const char *old_json,
                                         const char *new_json)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_recovery_swap is not built yet");
}

cst_err cst_postgres_store_tenant_settings_set(cst_store *st, cst_work *w, const char *tenant_id,
                                               const char *settings_json)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_tenant_settings_set is not built yet");
}

cst_err cst_postgres_store_token_create(cst_store *st, cst_work *w, const cst_token_row *t)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_token_create is not built yet");
}

cst_err cst_postgres_store_token_get(cst_store *st, cst_work *w, const char *id, cst_token_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_token_get is not built yet");
}

cst_err cst_postgres_store_token_touch(cst_store *st, cst_work *w, const char *id, int64_t now)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_token_touch is not built yet");
}

cst_err cst_postgres_store_token_delete(cst_store *st, cst_work *w, const char *tenant_id,
                                        const char *user_id, const char *id)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_token_delete is not built yet");
}

cst_err cst_postgres_store_token_list(cst_store *st, cst_work *w, const char *tenant_id,
                                      const char *user_id,
                                      cst_err (*fn)(const cst_token_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_token_list is not built yet");
}

cst_err cst_postgres_store_sessions_end(cst_store *st, cst_work *w, const char *user_id,
                                        const char *keep_id)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_sessions_end is not built yet");
}

cst_err cst_postgres_store_tenant_lifecycle_set(cst_store *st, cst_work *w, const cst_tenant_row *t)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_tenant_lifecycle_set is not built yet");
}

cst_err cst_postgres_store_tenant_touch(cst_store *st, cst_work *w, const char *tenant_id,
                                        int64_t now)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_tenant_touch is not built yet");
}
