/* keys.c: tenant key versions (ENC-4: wrapped bytes, encryption counts, KEK rewraps, each
 * tenant's background re-encryption) and the end of an erase (RET-4), in custodia_system, on
 * PostgreSQL: the semantics of store/sqlite/system.c and keys.c. Writes to tenant keys and to
 * principals bump the shared principals epoch in the same transaction (IAM-5, epoch.c). */
#include <string.h>

#include "store/postgres/pg.h"
#include "util/util.h"

/* Runs op in w, or (w NULL) in a transaction of its own that commits when op succeeds: an
 * operation of several statements is atomic either way (store.h: w NULL is atomic alone).
 * whole: in w, op runs in a savepoint of its own, undone when it fails, as SQLite's
 * cst_db_begin(db, w) does: w keeps nothing of a failed op and stays usable. */
typedef cst_err (*in_work_fn)(pg_store *st, cst_work *w, const void *args);

/* op in the unit of work of a transaction of its own (cst_txn_run) */
struct own_op {
    pg_store *st;
    in_work_fn op;
    const void *args;
};

static cst_err own_op_run(cst_work *w, void *ctx)
{
    const struct own_op *o = ctx;
    return o->op(o->st, w, o->args);
}

static cst_err in_work(pg_store *st, cst_work *w, bool whole, in_work_fn op, const void *args)
{
    if (w && !whole)
        return op(st, w, args);
    if (w) {
        TRY(cst_pgd_ddl(st, w, "SAVEPOINT cst_op"));
        cst_err e = op(st, w, args);
        cst_err ended = cst_pgd_ddl(st, w,
                                    e == CST_OK ? "RELEASE SAVEPOINT cst_op"
                                                : "ROLLBACK TO SAVEPOINT cst_op; RELEASE "
                                                  "SAVEPOINT cst_op");
        return e != CST_OK ? e : ended; /* a failed undo leaves w's transaction to fail */
    }
    struct own_op o = {st, op, args};
    return cst_txn_run(own_op_run, &o);
}

/* ---- adding and rewrapping a key version (P: principals epoch) ---- */

typedef struct key_args {
    const char *tenant_id, *purpose;
    uint32_t version;
    const cst_buf *blob;
    int64_t now;
} key_args;

static cst_err key_add_in(pg_store *st, cst_work *w, const void *p)
{
    const key_args *a = p;
    int64_t n = 0;
    /* DO NOTHING, not a unique violation: the caller's transaction stays usable. A missing
     * tenant is a conflict too, as SQLite's foreign key makes it. */
    TRY(cst_pgd_run(st, NULL, w, true, NULL, &n,
                    "INSERT INTO custodia_system.tenant_keys(tenant_id, purpose, version, "
                    "wrapped, created_at) SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM "
                    "custodia_system.tenants WHERE id = $1) ON CONFLICT DO NOTHING",
                    "ssibi", a->tenant_id, a->purpose, (int64_t)a->version, a->blob->data,
                    a->blob->len, a->now));
    ENSURE(n == 1, CST_ERR_CONFLICT, "the resource already exists");
    return cst_pgd_principals_bump(st, w);
}

cst_err cst_postgres_store_key_add(cst_store *st, cst_work *w, const char *tenant_id,
                                   const char *purpose, uint32_t version, const cst_buf *blob,
                                   int64_t now)
{
    key_args a = {tenant_id, purpose, version, blob, now};
    return in_work(PG(st), w, false, key_add_in, &a); /* one write, then the epoch */
}

static cst_err key_rewrapped_in(pg_store *st, cst_work *w, const void *p)
{
    const key_args *a = p;
    int64_t changed = 0;
    TRY(cst_pgd_run(st, NULL, w, true, NULL, &changed,
                    "UPDATE custodia_system.tenant_keys SET wrapped = $1 WHERE tenant_id = $2 AND "
                    "purpose = $3 AND version = $4",
                    "bssi", a->blob->data, a->blob->len, a->tenant_id, a->purpose,
                    (int64_t)a->version));
    ENSURE(changed == 1, CST_ERR_NOT_FOUND, "no key %s/%s v%u", a->tenant_id, a->purpose,
           a->version);
    return cst_pgd_principals_bump(st, w);
}

cst_err cst_postgres_store_key_rewrapped(cst_store *st, cst_work *w, const char *tenant_id,
                                         const char *purpose, uint32_t version, const cst_buf *blob)
{
    key_args a = {tenant_id, purpose, version, blob, 0};
    return in_work(PG(st), w, false, key_rewrapped_in, &a);
}

/* ---- wrapped keys, one tenant's or every tenant's ---- */

typedef cst_err (*key_row_fn)(const char *tenant_id, const char *purpose, uint32_t version,
                              const uint8_t *blob, size_t len, void *ctx);
typedef cst_err (*tenant_key_fn)(const char *purpose, uint32_t version, const uint8_t *blob,
                                 size_t len, void *ctx);

/* A row of wrapped keys to all (every tenant's) or to one (a tenant's, without its id). */
typedef struct wrapped_visit_ctx {
    key_row_fn all;
    tenant_key_fn one;
    void *ctx;
} wrapped_visit_ctx;

static cst_err wrapped_visit(const PGresult *r, int row, void *p)
{
    wrapped_visit_ctx *v = p;
    char tenant[CST_ID_MAX], purpose[32];
    cst_pgd_col_text(r, row, 0, tenant, sizeof(tenant));
    cst_pgd_col_text(r, row, 1, purpose, sizeof(purpose));
    uint32_t version = (uint32_t)cst_pgd_col_int(r, row, 2);
    const uint8_t *blob = (const uint8_t *)PQgetvalue(r, row, 3);
    size_t len = (size_t)PQgetlength(r, row, 3);
    return v->one ? v->one(purpose, version, blob, len, v->ctx)
                  : v->all(tenant, purpose, version, blob, len, v->ctx);
}

cst_err cst_postgres_store_tenant_keys(cst_store *st, cst_work *w, const char *tenant_id,
                                       tenant_key_fn fn, void *ctx)
{
    wrapped_visit_ctx v = {.one = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, wrapped_visit, &v, NULL,
                        "SELECT tenant_id, purpose, version, wrapped FROM "
                        "custodia_system.tenant_keys WHERE tenant_id = $1 ORDER BY purpose, "
                        "version",
                        "s", tenant_id);
}

cst_err cst_postgres_store_keys_all(cst_store *st, cst_work *w, key_row_fn fn, void *ctx)
{
    wrapped_visit_ctx v = {.all = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, wrapped_visit, &v, NULL,
                        "SELECT tenant_id, purpose, version, wrapped FROM "
                        "custodia_system.tenant_keys ORDER BY tenant_id, purpose, version",
                        "");
}

/* ---- ENC-4 bookkeeping: encryption counts, re-encryptions ---- */

static void key_row(const PGresult *r, int row, void *out)
{
    cst_key_row *k = out;
    memset(k, 0, sizeof(*k));
    cst_pgd_col_text(r, row, 0, k->purpose, sizeof(k->purpose));
    k->version = (uint32_t)cst_pgd_col_int(r, row, 1);
    k->created_at = cst_pgd_col_int(r, row, 2);
    k->encryptions = cst_pgd_col_int(r, row, 3);
}

CST_PGD_VISITOR(key, cst_key_row, key_row)

cst_err cst_postgres_store_key_list(cst_store *st, cst_work *w, const char *tenant_id,
                                    cst_err (*fn)(const cst_key_row *, void *), void *ctx)
{
    struct key_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, key_visit, &v, NULL,
                        "SELECT purpose, version, created_at, encryptions FROM "
                        "custodia_system.tenant_keys WHERE tenant_id = $1 ORDER BY purpose, "
                        "version",
                        "s", tenant_id);
}

cst_err cst_postgres_store_key_count(cst_store *st, cst_work *w, const char *tenant_id,
                                     const char *purpose, uint32_t version, int64_t n)
{
    /* atomic across nodes: one UPDATE adds to what the other nodes added */
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "UPDATE custodia_system.tenant_keys SET encryptions = encryptions + $1 "
                       "WHERE tenant_id = $2 AND purpose = $3 AND version = $4",
                       "issi", n, tenant_id, purpose, (int64_t)version);
}

#define REWRAP_COLS "tenant_id, target, state, done, total, started_at, finished_at"

static void rewrap_row(const PGresult *r, int row, void *out)
{
    cst_rewrap_row *rw = out;
    memset(rw, 0, sizeof(*rw));
    cst_pgd_col_text(r, row, 0, rw->tenant_id, sizeof(rw->tenant_id));
    rw->target = (uint32_t)cst_pgd_col_int(r, row, 1);
    cst_pgd_col_text(r, row, 2, rw->state, sizeof(rw->state));
    rw->done = cst_pgd_col_int(r, row, 3);
    rw->total = cst_pgd_col_int(r, row, 4);
    rw->started_at = cst_pgd_col_int(r, row, 5);
    rw->finished_at = cst_pgd_col_int(r, row, 6);
}

CST_PGD_VISITOR(rewrap, cst_rewrap_row, rewrap_row)

cst_err cst_postgres_store_rewrap_put(cst_store *st, cst_work *w, const cst_rewrap_row *r)
{
    /* atomic across nodes: one upsert (SQLite's INSERT OR REPLACE) */
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "INSERT INTO custodia_system.key_rewrap(" REWRAP_COLS
                       ") VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(tenant_id) DO UPDATE SET "
                       "target = excluded.target, state = excluded.state, done = excluded.done, "
                       "total = excluded.total, started_at = excluded.started_at, finished_at = "
                       "excluded.finished_at",
                       "sisiiii", r->tenant_id, (int64_t)r->target, r->state, r->done, r->total,
                       r->started_at, r->finished_at);
}

cst_err cst_postgres_store_rewrap_get(cst_store *st, cst_work *w, const char *tenant_id,
                                      cst_rewrap_row *out)
{
    return cst_pgd_one(PG(st), NULL, w, rewrap_row, out, "no such resource",
                       "SELECT " REWRAP_COLS
                       " FROM custodia_system.key_rewrap WHERE tenant_id = $1",
                       "s", tenant_id);
}

cst_err cst_postgres_store_rewrap_running(cst_store *st, cst_work *w,
                                          cst_err (*fn)(const cst_rewrap_row *, void *), void *ctx)
{
    struct rewrap_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, rewrap_visit, &v, NULL,
                        "SELECT " REWRAP_COLS " FROM custodia_system.key_rewrap WHERE state = "
                        "'running' ORDER BY tenant_id",
                        "");
}

/* ---- crypto-erase (RET-4) and the end of an erase ---- */

typedef struct destroy_args {
    const char *tenant_id;
    const char *const *purposes;
} destroy_args;

static cst_err keys_destroy_in(pg_store *st, cst_work *w, const void *p)
{
    const destroy_args *a = p;
    /* RET-4: the rows are deleted; PostgreSQL keeps their dead tuples until a VACUUM, which
     * the erase's residue check of the tenant store runs (not this statement's part) */
    cst_err e = CST_OK;
    for (size_t i = 0; e == CST_OK && a->purposes[i]; i++)
        e = cst_pgd_run(st, NULL, w, true, NULL, NULL,
                        "DELETE FROM custodia_system.tenant_keys WHERE tenant_id = $1 AND "
                        "purpose = $2",
                        "ss", a->tenant_id, a->purposes[i]);
    /* ENC-4: a re-encryption of keys that are gone has nothing left to do */
    if (e == CST_OK)
        e = cst_pgd_run(st, NULL, w, true, NULL, NULL,
                        "DELETE FROM custodia_system.key_rewrap WHERE tenant_id = $1", "s",
                        a->tenant_id);
    if (e == CST_OK)
        e = cst_pgd_principals_bump(st, w);
    return e;
}

cst_err cst_postgres_store_keys_destroy(cst_store *st, cst_work *w, const char *tenant_id,
                                        const char *const *purposes)
{
    destroy_args a = {tenant_id, purposes};
    return in_work(PG(st), w, true, keys_destroy_in, &a);
}

typedef struct erased_args {
    const char *tenant_id;
    int64_t now;
    const char *cert_id, *document;
} erased_args;

/* The statements of an erase's end that take the tenant id alone, in order. */
static const char *const erase_deletes[] = {
    "DELETE FROM custodia_system.tokens WHERE tenant_id = $1",
    "DELETE FROM custodia_system.users WHERE tenant_id = $1",
    /* IAM-6: its access reviews name its users: they go with them */
    ("DELETE FROM custodia_system.review_decisions WHERE review_id IN (SELECT id FROM "
     "custodia_system.reviews WHERE scope = $1)"),
    "DELETE FROM custodia_system.reviews WHERE scope = $1",
    "DELETE FROM custodia_system.review_reminders WHERE scope = $1",
};

static cst_err tenant_erased_in(pg_store *st, cst_work *w, const void *p)
{
    const erased_args *a = p;
    cst_err e = CST_OK;
    for (size_t i = 0; e == CST_OK && i < sizeof(erase_deletes) / sizeof(*erase_deletes); i++)
        e = cst_pgd_run(st, NULL, w, true, NULL, NULL, erase_deletes[i], "s", a->tenant_id);
    if (e == CST_OK)
        e = cst_pgd_run(st, NULL, w, true, NULL, NULL,
                        "UPDATE custodia_system.tenants SET state = 'erased', state_since = $1, "
                        "settings = '{}' WHERE id = $2",
                        "is", a->now, a->tenant_id);
    if (e == CST_OK)
        e = cst_pgd_run(st, NULL, w, true, NULL, NULL,
                        "INSERT INTO custodia_system.tombstones(tenant_id, erased_at, "
                        "certificate_id) VALUES($1, $2, $3) ON CONFLICT(tenant_id) DO UPDATE SET "
                        "certificate_id = excluded.certificate_id",
                        "sis", a->tenant_id, a->now, a->cert_id);
    if (e == CST_OK)
        e = cst_postgres_store_certificate_add(&st->base, w, a->cert_id, a->tenant_id, a->now,
                                               a->document);
    if (e == CST_OK)
        e = cst_pgd_principals_bump(st, w);
    return e;
}

cst_err cst_postgres_store_tenant_erased(cst_store *st, cst_work *w, const char *tenant_id,
                                         int64_t now, const char *cert_id, const char *document)
{
    erased_args a = {tenant_id, now, cert_id, document};
    return in_work(PG(st), w, true, tenant_erased_in, &a);
}
