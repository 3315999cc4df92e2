/* meta.c: the PostgreSQL driver's meta keys, shared or per node. Nodes that share a database
 * share its meta keys (the region, the master key's id and rotation) but each keeps its own
 * node_id, created_at, last_config and root_key_id (its root key is its own): those rows carry the
 * node's key, a random name kept in its data dir (store.node) and listed in custodia_system.nodes;
 * the shared rows carry "". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "store/postgres/pg.h"
#include "util/util.h"

#define NODE_FILE "store.node"

static const char *const per_node[] = {"node_id", "created_at", "last_config", "root_key_id"};

static const char *scope(const pg_store *st, const char *k)
{
    for (size_t i = 0; i < sizeof(per_node) / sizeof(*per_node); i++)
        if (strcmp(k, per_node[i]) == 0)
            return st->node_id;
    return "";
}

static void meta_row(const PGresult *r, int row, void *out)
{
    struct {
        char *p;
        size_t n;
    } *dst = out;
    cst_pgd_col_text(r, row, 0, dst->p, dst->n);
}

cst_err cst_postgres_store_meta_get(cst_store *st, cst_work *w, const char *k, char *out, size_t n)
{
    struct {
        char *p;
        size_t n;
    } dst = {out, n};
    return cst_pgd_one(PG(st), NULL, w, meta_row, &dst, "no such meta key",
                       "SELECT v FROM custodia_system.meta WHERE node = $1 AND k = $2", "ss",
                       scope(PG(st), k), k);
}

cst_err cst_postgres_store_meta_set(cst_store *st, cst_work *w, const char *k, const char *v)
{
    if (strcmp(k, "node_id") == 0) /* init's transaction registers the node it makes */
        TRY(cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                        "INSERT INTO custodia_system.nodes(node, node_id, joined_at) "
                        "VALUES($1, $2, $3) ON CONFLICT(node) DO UPDATE SET node_id = "
                        "excluded.node_id",
                        "ssi", PG(st)->node_id, v, cst_now_us()));
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "INSERT INTO custodia_system.meta(node, k, v) VALUES($1, $2, $3) "
                       "ON CONFLICT(node, k) DO UPDATE SET v = excluded.v",
                       "sss", scope(PG(st), k), k, v);
}

bool cst_pgd_node_exists(const char *data_dir)
{
    char path[PATH_MAX];
    return cst_fmt(path, sizeof(path), "%s/%s", data_dir, NODE_FILE) == CST_OK &&
           cst_path_exists(path);
}

/* This node's key: read from the data dir and registered (a node restored into a new data dir
 * registers at its first open), or made there (create) and left for init's transaction to
 * register with its node_id, so that a failed init leaves no row. */
cst_err cst_pgd_node_key(pg_store *st, bool create)
{
    char path[PATH_MAX];
    TRY(cst_fmt(path, sizeof(path), "%s/%s", st->data_dir, NODE_FILE));
    cst_buf b;
    cst_buf_init(&b, 128);
    cst_err e = cst_file_read(path, 128, &b);
    bool made = e == CST_ERR_NOT_FOUND && create;
    if (made) {
        cst_err_clear();
        uint8_t raw[16];
        e = cst_random(raw, sizeof(raw));
        cst_hex(raw, sizeof(raw), st->node_id);
        if (e == CST_OK)
            e = cst_buf_append(&b, st->node_id, strlen(st->node_id));
        if (e == CST_OK)
            e = cst_file_write_atomic(path, b.data, b.len, 0600);
    } else if (e == CST_ERR_NOT_FOUND) {
        cst_err_clear();
        e = cst_fail(CST_ERR_NOT_FOUND,
                     "%s has no %s: this data dir is not a node of the database in store.dsn "
                     "(initialise it with custodia init, or init --join for a further node)",
                     st->data_dir, NODE_FILE);
    } else if (e == CST_OK) {
        ENSURE(b.len == 32, CST_ERR_INTEGRITY, "%s is damaged", path);
        memcpy(st->node_id, b.data, 32);
        st->node_id[32] = '\0';
    }
    cst_buf_free(&b);
    TRY(e);
    if (made) /* registered by the transaction that records its node_id (init) */
        return CST_OK;
    return cst_pgd_run(st, NULL, NULL, true, NULL, NULL,
                       "INSERT INTO custodia_system.nodes(node, joined_at) VALUES($1, $2) "
                       "ON CONFLICT(node) DO NOTHING",
                       "si", st->node_id, cst_now_us());
}

/* One statement: two nodes claiming at once are ordered by the row lock of the conflict, and
 * the loser's WHERE sees the winner's row. */
cst_err cst_postgres_store_lease(cst_store *st, const char *name, const char *holder, int64_t now,
                                 int64_t ttl_us, bool *held)
{
    int64_t changes = 0;
    *held = false;
    if (ttl_us <= 0)
        return cst_pgd_run(PG(st), NULL, NULL, true, NULL, NULL,
                           "UPDATE custodia_system.leases SET until = 0 WHERE name = $1 AND "
                           "holder = $2",
                           "ss", name, holder);
    TRY(cst_pgd_run(PG(st), NULL, NULL, true, NULL, &changes,
                    "INSERT INTO custodia_system.leases(name, holder, until) VALUES($1, $2, $3) "
                    "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, until = "
                    "excluded.until WHERE custodia_system.leases.holder = excluded.holder OR "
                    "custodia_system.leases.until <= $4",
                    "ssii", name, holder, now + ttl_us, now));
    *held = changes == 1;
    return CST_OK;
}

/* A transaction-scoped advisory lock (released at COMMIT or ROLLBACK), keyed by the name's hash
 * under a prefix of custodia's own; every node of the database waits on the same key. */
cst_err cst_postgres_store_exclusive(cst_store *st, cst_work *w, const char *name)
{
    ENSURE(w, CST_ERR_INTERNAL, "storage: an exclusive section needs a unit of work");
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "SELECT 1 FROM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext("
                       "'custodia.exclusive.' || $1))",
                       "s", name);
}
