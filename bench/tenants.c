/* bench/tenants.c: creates N tenants in a stopped, initialised data dir for bench/run.sh, each
 * with an owner (unusable password hash), an empty bucket and an API token with records.read
 * and records.write, through the storage layer: no HTTP and no Argon2id per owner, so that
 * 10,000 tenants are ready in seconds rather than the hours POST /v1/sys/tenants would take.
 * Prints one bearer token per line, tenant i on line i.
 *
 *   bench_tenants DATA_DIR MASTER_KEY TENANTS BUCKET */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_node.h"
#include "core/authz.h"
#include "util/util.h"

static cst_err tenant_with_token(cst_node *n, int i, const char *bucket)
{
    char name[32], token[CST_TOKEN_LEN + 1];
    snprintf(name, sizeof(name), "load-%05d", i);
    cst_tenant_row t;
    cst_user_row owner;
    cst_tenant_ctx *ctx;
    TRY(bench_tenant_create(n, name, bucket, &t, &owner, &ctx));
    TRY(bench_token_create(
        n, &t, &owner, CST_PERM_BIT(CST_PERM_RECORDS_READ) | CST_PERM_BIT(CST_PERM_RECORDS_WRITE),
        token));
    printf("%s\n", token);
    sodium_memzero(token, sizeof(token));
    return CST_OK;
}

int main(int argc, char **argv)
{
    int tenants = argc == 5 ? atoi(argv[3]) : 0;
    if (tenants < 1 || tenants > 100000 || cst_crypto_init() != CST_OK) {
        fprintf(stderr, "usage: %s DATA_DIR MASTER_KEY TENANTS(1-100000) BUCKET\n", argv[0]);
        return 2;
    }
    cst_node n;
    cst_err e = bench_node_open(&n, argv[1], argv[2]);
    if (e != CST_OK) {
        fprintf(stderr, "bench_tenants: %s\n", cst_err_message(e));
        return 1;
    }
    for (int i = 0; e == CST_OK && i < tenants; i++)
        e = tenant_with_token(&n, i, argv[4]);
    if (e != CST_OK)
        fprintf(stderr, "bench_tenants: %s\n", cst_err_message(e));
    cst_node_close(&n);
    return e == CST_OK ? 0 : 1;
}
