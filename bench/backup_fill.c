/* bench/backup_fill.c: fills a stopped, initialised data dir with N tenants of M records each,
 * sealed by the record domain the API uses (core/record.h), but without HTTP, Argon2 and
 * per-record fsyncs, so that bench/backup.sh can build a 1 GiB node in seconds. The
 * tenants' owners get an unusable password hash: the data is for backup and restore only.
 *
 *   bench_backup_fill DATA_DIR MASTER_KEY TENANTS RECORDS_PER_TENANT VALUE_BYTES */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_node.h"
#include "core/record.h"
#include "util/util.h"

static cst_err fill_tenant(cst_node *n, int i, int records, size_t vlen, uint8_t *val)
{
    char name[32];
    snprintf(name, sizeof(name), "bench-%05d", i);
    cst_tenant_row t;
    cst_user_row owner;
    cst_tenant_ctx *ctx;
    TRY(bench_tenant_create(n, name, "data", &t, &owner, &ctx));
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
    int tenants = atoi(argv[3]), records = atoi(argv[4]);
    size_t vlen = (size_t)atol(argv[5]);
    uint8_t *val = malloc(vlen + 8);
    cst_node n;
    cst_err e = val ? bench_node_open(&n, argv[1], argv[2]) : CST_ERR_INTERNAL;
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
