/* catalogue.c: the catalogue rows of backups (BAK-1), their restore drills, the tombstones and
 * certificates of erased tenants (RET-4) and their retained billing records (RET-2), in
 * custodia_system, on PostgreSQL: the semantics of store/sqlite/system.c. Every write is one
 * statement (an upsert where SQLite replaces), so nodes sharing the database need no lock. */
#include <string.h>

#include "store/postgres/pg.h"
#include "util/util.h"

/* A listing's limit: SQLite reads a negative LIMIT as none, PostgreSQL refuses it. */
static int64_t limit_of(int limit)
{
    return limit < 0 ? INT64_MAX : limit;
}

/* ---- backups ---- */

#define BACKUP_COLS                                                                                \
    "id, created_at, finished_at, status, origin, location, region, size, sha256, tenants, "       \
    "records, error"

static void backup_row(const PGresult *r, int row, void *out)
{
    cst_backup_row *b = out;
    cst_pgd_col_text(r, row, 0, b->id, sizeof(b->id));
    b->created_at = cst_pgd_col_int(r, row, 1);
    b->finished_at = cst_pgd_col_int(r, row, 2);
    cst_pgd_col_text(r, row, 3, b->status, sizeof(b->status));
    cst_pgd_col_text(r, row, 4, b->origin, sizeof(b->origin));
    cst_pgd_col_text(r, row, 5, b->location, sizeof(b->location));
    cst_pgd_col_text(r, row, 6, b->region, sizeof(b->region));
    b->size = cst_pgd_col_int(r, row, 7);
    cst_pgd_col_text(r, row, 8, b->sha256, sizeof(b->sha256));
    b->tenants = cst_pgd_col_int(r, row, 9);
    b->records = cst_pgd_col_int(r, row, 10);
    cst_pgd_col_text(r, row, 11, b->error, sizeof(b->error));
}

CST_PGD_VISITOR(backup, cst_backup_row, backup_row)

cst_err cst_postgres_store_backup_put(cst_store *st, cst_work *w, const cst_backup_row *b)
{
    /* atomic across nodes: one upsert (SQLite's INSERT OR REPLACE) */
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "INSERT INTO custodia_system.backups(" BACKUP_COLS
                       ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON "
                       "CONFLICT(id) DO UPDATE SET created_at = excluded.created_at, finished_at "
                       "= excluded.finished_at, status = excluded.status, origin = "
                       "excluded.origin, location = excluded.location, region = excluded.region, "
                       "size = excluded.size, sha256 = excluded.sha256, tenants = "
                       "excluded.tenants, records = excluded.records, error = excluded.error",
                       "siissssisiis", b->id, b->created_at, b->finished_at, b->status, b->origin,
                       b->location, b->region, b->size, b->sha256, b->tenants, b->records,
                       b->error);
}

cst_err cst_postgres_store_backup_get(cst_store *st, cst_work *w, const char *id,
                                      cst_backup_row *out)
{
    return cst_pgd_one(PG(st), NULL, w, backup_row, out, "no such resource",
                       "SELECT " BACKUP_COLS " FROM custodia_system.backups WHERE id = $1", "s",
                       id);
}

cst_err cst_postgres_store_backup_list(cst_store *st, cst_work *w, int limit,
                                       cst_err (*fn)(const cst_backup_row *, void *), void *ctx)
{
    struct backup_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, backup_visit, &v, NULL,
                        "SELECT " BACKUP_COLS " FROM custodia_system.backups ORDER BY created_at "
                        "DESC, id LIMIT $1",
                        "i", limit_of(limit));
}

/* ---- restore drills ---- */

#define DRILL_COLS "id, backup_id, started_at, duration_ms, tenants, records, ok, error"

static void drill_row(const PGresult *r, int row, void *out)
{
    cst_drill_row *d = out;
    cst_pgd_col_text(r, row, 0, d->id, sizeof(d->id));
    cst_pgd_col_text(r, row, 1, d->backup_id, sizeof(d->backup_id));
    d->started_at = cst_pgd_col_int(r, row, 2);
    d->duration_ms = cst_pgd_col_int(r, row, 3);
    d->tenants = cst_pgd_col_int(r, row, 4);
    d->records = cst_pgd_col_int(r, row, 5);
    d->ok = cst_pgd_col_bool(r, row, 6);
    cst_pgd_col_text(r, row, 7, d->error, sizeof(d->error));
}

CST_PGD_VISITOR(drill, cst_drill_row, drill_row)

cst_err cst_postgres_store_drill_add(cst_store *st, cst_work *w, const cst_drill_row *d)
{
    int64_t n = 0;
    /* DO NOTHING, not a unique violation: the caller's transaction stays usable */
    TRY(cst_pgd_run(PG(st), NULL, w, true, NULL, &n,
                    "INSERT INTO custodia_system.drills(" DRILL_COLS
                    ") VALUES($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                    "ssiiiiis", d->id, d->backup_id, d->started_at, d->duration_ms, d->tenants,
                    d->records, (int64_t)d->ok, d->error));
    ENSURE(n == 1, CST_ERR_CONFLICT, "the resource already exists");
    return CST_OK;
}

cst_err cst_postgres_store_drill_list(cst_store *st, cst_work *w, int limit,
                                      cst_err (*fn)(const cst_drill_row *, void *), void *ctx)
{
    struct drill_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, drill_visit, &v, NULL,
                        "SELECT " DRILL_COLS " FROM custodia_system.drills ORDER BY started_at "
                        "DESC LIMIT $1",
                        "i", limit_of(limit));
}

/* ---- tombstones of erased tenants ---- */

cst_err cst_postgres_store_tombstone_add(cst_store *st, cst_work *w, const char *tenant_id,
                                         int64_t erased_at, const char *certificate_id)
{
    /* idempotent: the first tombstone stays (SQLite's INSERT OR IGNORE) */
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "INSERT INTO custodia_system.tombstones(tenant_id, erased_at, "
                       "certificate_id) VALUES($1, $2, $3) ON CONFLICT DO NOTHING",
                       "sis", tenant_id, erased_at, certificate_id ? certificate_id : "");
}

static void tombstone_row(const PGresult *r, int row, void *out)
{
    cst_tombstone_row *t = out;
    cst_pgd_col_text(r, row, 0, t->tenant_id, sizeof(t->tenant_id));
    t->erased_at = cst_pgd_col_int(r, row, 1);
    cst_pgd_col_text(r, row, 2, t->certificate_id, sizeof(t->certificate_id));
}

CST_PGD_VISITOR(tombstone, cst_tombstone_row, tombstone_row)

cst_err cst_postgres_store_tombstone_list(cst_store *st, cst_work *w,
                                          cst_err (*fn)(const cst_tombstone_row *, void *),
                                          void *ctx)
{
    struct tombstone_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, tombstone_visit, &v, NULL,
                        "SELECT tenant_id, erased_at, certificate_id FROM "
                        "custodia_system.tombstones ORDER BY tenant_id",
                        "");
}

/* ---- erasure certificates ---- */

cst_err cst_postgres_store_certificate_add(cst_store *st, cst_work *w, const char *id,
                                           const char *tenant_id, int64_t issued_at,
                                           const char *document)
{
    int64_t n = 0;
    /* DO NOTHING, not a unique violation: the caller's transaction stays usable */
    TRY(cst_pgd_run(PG(st), NULL, w, true, NULL, &n,
                    "INSERT INTO custodia_system.certificates(id, tenant_id, issued_at, document) "
                    "VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    "ssis", id, tenant_id, issued_at, document));
    ENSURE(n == 1, CST_ERR_CONFLICT, "the resource already exists");
    return CST_OK;
}

static void document_row(const PGresult *r, int row, void *out)
{
    cst_buf *b = out;
    if (cst_pgd_col_buf(r, row, 0, b) != CST_OK)
        b->len = 0;
}

cst_err cst_postgres_store_certificate_get(cst_store *st, cst_work *w, const char *id,
                                           cst_buf *document)
{
    return cst_pgd_one(PG(st), NULL, w, document_row, document, "no such resource",
                       "SELECT document FROM custodia_system.certificates WHERE id = $1", "s", id);
}

static void id_row(const PGresult *r, int row, void *out)
{
    cst_pgd_col_text(r, row, 0, out, CST_ID_MAX);
}

cst_err cst_postgres_store_certificate_of(cst_store *st, cst_work *w, const char *tenant_id,
                                          char id[CST_ID_MAX])
{
    return cst_pgd_one(PG(st), NULL, w, id_row, id, "no such resource",
                       "SELECT id FROM custodia_system.certificates WHERE tenant_id = $1 ORDER BY "
                       "issued_at DESC LIMIT 1",
                       "s", tenant_id);
}

/* ---- retained billing records ---- */

#define RETAINED_COLS "tenant_id, created_at, expires_at, buckets, records"

static void retained_row(const PGresult *r, int row, void *out)
{
    cst_retained_row *t = out;
    cst_pgd_col_text(r, row, 0, t->tenant_id, sizeof(t->tenant_id));
    t->created_at = cst_pgd_col_int(r, row, 1);
    t->expires_at = cst_pgd_col_int(r, row, 2);
    t->buckets = cst_pgd_col_int(r, row, 3);
    t->records = cst_pgd_col_int(r, row, 4);
}

CST_PGD_VISITOR(retained, cst_retained_row, retained_row)

cst_err cst_postgres_store_retained_put(cst_store *st, cst_work *w, const cst_retained_row *r)
{
    /* atomic across nodes: one upsert (SQLite's INSERT OR REPLACE) */
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "INSERT INTO custodia_system.retained(" RETAINED_COLS
                       ") VALUES($1, $2, $3, $4, $5) ON CONFLICT(tenant_id) DO UPDATE SET "
                       "created_at = excluded.created_at, expires_at = excluded.expires_at, "
                       "buckets = excluded.buckets, records = excluded.records",
                       "siiii", r->tenant_id, r->created_at, r->expires_at, r->buckets, r->records);
}

cst_err cst_postgres_store_retained_get(cst_store *st, cst_work *w, const char *tenant_id,
                                        cst_retained_row *out)
{
    return cst_pgd_one(PG(st), NULL, w, retained_row, out, "no such resource",
                       "SELECT " RETAINED_COLS " FROM custodia_system.retained WHERE tenant_id = "
                       "$1",
                       "s", tenant_id);
}

cst_err cst_postgres_store_retained_delete(cst_store *st, cst_work *w, const char *tenant_id)
{
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "DELETE FROM custodia_system.retained WHERE tenant_id = $1", "s", tenant_id);
}

cst_err cst_postgres_store_retained_list(cst_store *st, cst_work *w,
                                         cst_err (*fn)(const cst_retained_row *, void *), void *ctx)
{
    struct retained_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, retained_visit, &v, NULL,
                        "SELECT " RETAINED_COLS " FROM custodia_system.retained ORDER BY "
                        "expires_at",
                        "");
}
