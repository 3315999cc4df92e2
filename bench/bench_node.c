/* bench/bench_node.c: tenants, owners, buckets and tokens made through the storage layer for
 * the bench helpers (bench_backup_fill, bench_tenants, bench_lifecycle_tool). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_node.h"
#include "util/util.h"

cst_err bench_node_open(cst_node *n, const char *data_dir, const char *master_key)
{
    cst_config cfg;
    cst_config_defaults(&cfg);
    /* BENCH_CONFIG: a configuration file first (a node on PostgreSQL: its [store] section) */
    const char *file = getenv("BENCH_CONFIG");
    if (file && *file)
        TRY(cst_config_load(&cfg, file));
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data_dir);
    snprintf(cfg.master_key_file, sizeof(cfg.master_key_file), "%s", master_key);
    TRY(cst_config_finish(&cfg));
    return cst_node_open(n, &cfg);
}

static void tenant_rows(cst_node *n, const char *name, cst_tenant_row *t, cst_user_row *owner)
{
    memset(t, 0, sizeof(*t));
    memset(owner, 0, sizeof(*owner));
    cst_random_id("tn", t->id);
    snprintf(t->name, sizeof(t->name), "%s", name);
    snprintf(t->region, sizeof(t->region), "%s", n->region);
    snprintf(t->plan, sizeof(t->plan), "paid");
    snprintf(t->state, sizeof(t->state), "active");
    snprintf(t->settings, sizeof(t->settings), "{}");
    t->created_at = cst_now_us();
    cst_random_id("us", owner->id);
    snprintf(owner->tenant_id, sizeof(owner->tenant_id), "%s", t->id);
    snprintf(owner->username, sizeof(owner->username), "owner");
    snprintf(owner->pw_hash, sizeof(owner->pw_hash), "!");
    snprintf(owner->grants, sizeof(owner->grants), "[]");
    snprintf(owner->pw_history, sizeof(owner->pw_history), "[]");
    snprintf(owner->recovery, sizeof(owner->recovery), "[]");
    owner->roles = 1;
    owner->created_at = t->created_at;
}

cst_err bench_tenant_create(cst_node *n, const char *name, const char *bucket, cst_tenant_row *t,
                            cst_user_row *owner, cst_tenant_ctx **ctx)
{
    tenant_rows(n, name, t, owner);
    cst_buf dek, idx;
    cst_buf_init(&dek, 256);
    cst_buf_init(&idx, 256);
    cst_err e = cst_wrap_new_key(n->kek, t->id, "dek", 1, &dek);
    if (e == CST_OK)
        e = cst_wrap_new_key(n->kek, t->id, "idx", 1, &idx);
    if (e == CST_OK)
        e = cst_store_tenant_create(n->store, NULL, t, &dek, &idx, owner);
    cst_buf_free(&dek);
    cst_buf_free(&idx);
    if (e == CST_OK)
        e = cst_node_tenant(n, t->id, ctx);
    cst_bucket_row b = {.cls = "standard"};
    snprintf(b.name, sizeof(b.name), "%s", bucket);
    b.created_at = b.updated_at = cst_now_us();
    if (e == CST_OK)
        e = cst_tstore_bucket_create((*ctx)->ts, NULL, &b);
    return e;
}

cst_err bench_token_create(cst_node *n, const cst_tenant_row *t, const cst_user_row *owner,
                           uint32_t perms, char token[CST_TOKEN_LEN + 1])
{
    cst_token_row row = {
        .session = false, .perms = perms, .created_at = cst_now_us(), .last_used_at = cst_now_us()};
    snprintf(row.tenant_id, sizeof(row.tenant_id), "%s", t->id);
    snprintf(row.user_id, sizeof(row.user_id), "%s", owner->id);
    snprintf(row.name, sizeof(row.name), "bench");
    TRY(cst_token_generate(token, row.id, row.hash));
    return cst_store_token_create(n->store, NULL, &row);
}
