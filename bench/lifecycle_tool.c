/* lifecycle_tool.c: helpers for bench/lifecycle.sh (never run by the test suite).
 *   token DATA_DIR MASTER_KEY   an API token with tenant.admin for the first tenant (stdout)
 *   erase DATA_DIR MASTER_KEY   crypto-erases the first tenant in-process; prints seconds */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_node.h"
#include "util/json.h"
#include "http/request.h"
#include "lifecycle/lifecycle.h"
#include "util/util.h"

static cst_err first(const cst_tenant_row *t, void *p)
{
    if (!((cst_tenant_row *)p)->id[0])
        *(cst_tenant_row *)p = *t;
    return CST_OK;
}

int main(int argc, char **argv)
{
    if (argc != 4 || cst_crypto_init() != CST_OK) {
        fprintf(stderr, "usage: %s token|erase DATA_DIR MASTER_KEY\n", argv[0]);
        return 2;
    }
    cst_node n;
    cst_tenant_row t = {.id = ""};
    cst_err e = bench_node_open(&n, argv[2], argv[3]);
    bool opened = e == CST_OK;
    if (e == CST_OK)
        e = cst_store_tenant_list(n.store, NULL, NULL, 1, first, &t);
    cst_user_row owner;
    if (e == CST_OK && !strcmp(argv[1], "token")) {
        char token[CST_TOKEN_LEN + 1];
        e = cst_store_user_by_name(n.store, NULL, t.id, "owner", &owner);
        if (e == CST_OK)
            e = bench_token_create(&n, &t, &owner, CST_PERM_BIT(CST_PERM_TENANT_ADMIN), token);
        if (e == CST_OK)
            printf("%s\n", token);
    } else if (e == CST_OK) {
        int64_t t0 = cst_now_us();
        char *cert = NULL;
        e = cst_lifecycle_erase(&n, t.id, "bench", "bench", cst_now_us(), &cert);
        if (e == CST_OK)
            printf("%.2f\n", (double)(cst_now_us() - t0) / 1e6);
        cst_json_free_text(cert);
    }
    if (opened)
        cst_node_close(&n);
    if (e != CST_OK)
        fprintf(stderr, "lifecycle_tool: %s\n", cst_err_message(e));
    return e == CST_OK ? 0 : 1;
}
