/* bench/backup_fill.c: fills a stopped, initialised data dir with N tenants of M records each,
 * sealed by the record domain the API uses (core/record.h), but without HTTP, Argon2 and
 * per-record fsyncs, so that bench/backup.sh can build a 1 GiB node in seconds. The
 * tenants' owners get an unusable password hash: the data is for backup and restore only.
 *
 *   bench_backup_fill DATA_DIR MASTER_KEY TENANTS RECORDS_PER_TENANT VALUE_BYTES */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/record.h"
#include "node/node.h"
#include "util/util.h"

static cst_err fill_tenant(cst_node *n, int i, int records, size_t vlen, uint8_t *val)
{
    cst_tenant_row t;
    cst_user_row owner;
    memset(&t, 0, sizeof(t));
    memset(&owner, 0, sizeof(owner));
    cst_random_id("tn", t.id);
    snprintf(t.name, sizeof(t.name), "bench-%05d", i);
    snprintf(t.region, sizeof(t.region), "%s", n->region);
    strcpy(t.plan, "paid");
    strcpy(t.state, "active");
    strcpy(t.settings, "{}");
    t.created_at = cst_now_us();
    cst_random_id("us", owner.id);
    strcpy(owner.tenant_id, t.id);
    strcpy(owner.username, "owner");
    strcpy(owner.pw_hash, "!");
    strcpy(owner.grants, "[]");
    strcpy(owner.pw_history, "[]");
    strcpy(owner.recovery, "[]");
    owner.roles = 1;
    owner.created_at = t.created_at;
    cst_buf dek, idx;
    cst_buf_init(&dek, 256);
    cst_buf_init(&idx, 256);
    TRY(cst_wrap_new_key(&n->kek, t.id, "dek", 1, &dek));
    TRY(cst_wrap_new_key(&n->kek, t.id, "idx", 1, &idx));
    TRY(cst_store_tenant_create(n->store, NULL, &t, &dek, &idx, &owner));
    cst_buf_free(&dek);
    cst_buf_free(&idx);
    cst_tenant_ctx *ctx;
    TRY(cst_node_tenant(n, t.id, &ctx));
    cst_bucket_row b = {.name = "data", .cls = "standard"};
    b.created_at = b.updated_at = cst_now_us();
    TRY(cst_tstore_bucket_create(ctx->ts, NULL, &b));
    TRY(cst_tstore_begin(ctx->ts, NULL));
    cst_err e = CST_OK;
    for (int k = 0; e == CST_OK && k < records; k++) {
        char key[32];
        int kl = snprintf(key, sizeof(key), "record-%06d", k);
        memcpy(val, &k, sizeof(k)); /* every value differs */
        e = cst_record_store(ctx, NULL, "data", key, (size_t)kl, CST_DEFAULT_CTYPE, val, vlen,
                             false, 0, 0);
    }
    if (e == CST_OK)
        e = cst_tstore_commit(ctx->ts, NULL);
    else
        cst_tstore_rollback(ctx->ts, NULL);
    return e;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s DATA_DIR MASTER_KEY TENANTS RECORDS VALUE_BYTES\n", argv[0]);
        return 2;
    }
    if (cst_crypto_init() != CST_OK)
        return 1;
    cst_config cfg;
    cst_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", argv[1]);
    snprintf(cfg.master_key_file, sizeof(cfg.master_key_file), "%s", argv[2]);
    int tenants = atoi(argv[3]), records = atoi(argv[4]);
    size_t vlen = (size_t)atol(argv[5]);
    uint8_t *val = malloc(vlen + 8);
    cst_node n;
    cst_err e = val ? cst_config_finish(&cfg) : CST_ERR_INTERNAL;
    if (e == CST_OK)
        e = cst_node_open(&n, &cfg);
    if (e == CST_OK)
        e = cst_random(val, vlen);
    for (int i = 0; e == CST_OK && i < tenants; i++)
        e = fill_tenant(&n, i, records, vlen, val);
    if (e != CST_OK) {
        fprintf(stderr, "bench_backup_fill: %s\n", cst_err_message(e));
        return 1;
    }
    cst_node_close(&n);
    free(val);
    return 0;
}
