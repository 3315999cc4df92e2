/* bench/bench_node.h: what the bench helpers share: open a stopped node's data dir and create
 * tenants, owners, buckets and tokens through the storage layer, without HTTP or Argon2id. */
#ifndef CST_BENCH_NODE_H
#define CST_BENCH_NODE_H

#include "crypto/secrets.h"
#include "node/node.h"

/* Opens the node in DATA_DIR with its master key; close it with cst_node_close. */
CST_MUST_USE cst_err bench_node_open(cst_node *n, const char *data_dir, const char *master_key);

/* Creates an active paid tenant NAME whose owner ("owner") has an unusable password hash, and
 * an empty bucket BUCKET in it; fills *t and *owner and returns its open context in *ctx
 * (owned by the node). */
CST_MUST_USE cst_err bench_tenant_create(cst_node *n, const char *name, const char *bucket,
                                         cst_tenant_row *t, cst_user_row *owner,
                                         cst_tenant_ctx **ctx);

/* Creates an API token of OWNER in tenant T with the permission bits PERMS; writes the bearer
 * token (secret) to TOKEN. */
CST_MUST_USE cst_err bench_token_create(cst_node *n, const cst_tenant_row *t,
                                        const cst_user_row *owner, uint32_t perms,
                                        char token[CST_TOKEN_LEN + 1]);

#endif
