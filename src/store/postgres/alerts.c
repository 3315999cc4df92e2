/* alerts.c: the alerts table of the system store (DET-1) on PostgreSQL, as store/sqlite/alerts.c.
 * SQLite lists alerts by rowid (creation order, kept by the upsert); here the column ord, an
 * identity given at insertion (schema v2), stands for it. */
#include <stdint.h>

#include "store/postgres/pg.h"

#define ALERT_COLS                                                                                 \
    "id, type, severity, status, tenant, principal, source_ip, first_seen, last_seen, count, "     \
    "summary, incident_id, dedup_key"

static void alert_row(const PGresult *r, int i, void *out)
{
    cst_alert_row *a = out;
    cst_pgd_col_text(r, i, 0, a->id, sizeof(a->id));
    cst_pgd_col_text(r, i, 1, a->type, sizeof(a->type));
    cst_pgd_col_text(r, i, 2, a->severity, sizeof(a->severity));
    cst_pgd_col_text(r, i, 3, a->status, sizeof(a->status));
    cst_pgd_col_text(r, i, 4, a->tenant, sizeof(a->tenant));
    cst_pgd_col_text(r, i, 5, a->principal, sizeof(a->principal));
    cst_pgd_col_text(r, i, 6, a->source_ip, sizeof(a->source_ip));
    a->first_seen = cst_pgd_col_int(r, i, 7);
    a->last_seen = cst_pgd_col_int(r, i, 8);
    a->count = cst_pgd_col_int(r, i, 9);
    cst_pgd_col_text(r, i, 10, a->summary, sizeof(a->summary));
    cst_pgd_col_text(r, i, 11, a->incident_id, sizeof(a->incident_id));
    cst_pgd_col_text(r, i, 12, a->dedup_key, sizeof(a->dedup_key));
}

CST_PGD_VISITOR(alert, cst_alert_row, alert_row)

/* An upsert: the row keeps its ord, which orders the listing. */
cst_err cst_postgres_store_alert_put(cst_store *st, cst_work *w, const cst_alert_row *a)
{
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "INSERT INTO custodia_system.alerts(" ALERT_COLS
                       ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
                       "ON CONFLICT(id) DO UPDATE SET severity = excluded.severity, "
                       "status = excluded.status, last_seen = excluded.last_seen, "
                       "count = excluded.count, summary = excluded.summary, "
                       "incident_id = excluded.incident_id",
                       "sssssssiiisss", a->id, a->type, a->severity, a->status, a->tenant,
                       a->principal, a->source_ip, a->first_seen, a->last_seen, a->count,
                       a->summary, a->incident_id, a->dedup_key);
}

cst_err cst_postgres_store_alert_get(cst_store *st, cst_work *w, const char *id, cst_alert_row *out)
{
    return cst_pgd_one(PG(st), NULL, w, alert_row, out, "no such alert",
                       "SELECT " ALERT_COLS " FROM custodia_system.alerts WHERE id = $1", "s", id);
}

cst_err cst_postgres_store_alert_find(cst_store *st, cst_work *w, const char *type,
                                      const char *dedup_key, cst_alert_row *out)
{
    return cst_pgd_one(PG(st), NULL, w, alert_row, out, "no such alert",
                       "SELECT " ALERT_COLS " FROM custodia_system.alerts WHERE type = $1 AND "
                       "dedup_key = $2 AND status != 'resolved' ORDER BY ord DESC LIMIT 1",
                       "ss", type, dedup_key);
}

cst_err cst_postgres_store_alert_list(cst_store *st, cst_work *w, const cst_alert_filter *f,
                                      cst_err (*fn)(const cst_alert_row *, void *), void *ctx)
{
    struct alert_visit v = {.fn = fn, .ctx = ctx};
    const char *status = f->status ? f->status : "", *type = f->type ? f->type : "";
    const char *tenant = f->tenant ? f->tenant : "", *after = f->after ? f->after : "";
    return cst_pgd_each(PG(st), NULL, w, alert_visit, &v, NULL,
                        "SELECT " ALERT_COLS " FROM custodia_system.alerts WHERE ($1 = '' OR "
                        "status = $1) AND ($2 = '' OR type = $2) AND ($3 = '' OR tenant = $3) AND "
                        "($4 = '' OR ord < (SELECT ord FROM custodia_system.alerts WHERE id = "
                        "$4)) ORDER BY ord DESC LIMIT $5",
                        "ssssi", status, type, tenant, after, (int64_t)f->limit);
}

static void count_row(const PGresult *r, int i, void *out)
{
    *(int64_t *)out = cst_pgd_col_int(r, i, 0);
}

cst_err cst_postgres_store_alert_count_open(cst_store *st, cst_work *w, int64_t *count)
{
    *count = 0;
    return cst_pgd_one(PG(st), NULL, w, count_row, count, "no count",
                       "SELECT count(*) FROM custodia_system.alerts WHERE status != 'resolved'",
                       "");
}

cst_err cst_postgres_store_alert_prune(cst_store *st, cst_work *w, int64_t resolved_before,
                                       int64_t finished_before, int64_t *removed)
{
    int64_t a = 0, d = 0;
    TRY(cst_pgd_run(PG(st), NULL, w, true, NULL, &a,
                    "DELETE FROM custodia_system.alerts WHERE status = 'resolved' AND "
                    "last_seen < $1",
                    "i", resolved_before));
    TRY(cst_pgd_run(PG(st), NULL, w, true, NULL, &d,
                    "DELETE FROM custodia_system.webhook_deliveries WHERE status IN "
                    "('delivered', 'failed') AND created_at < $1",
                    "i", finished_before));
    if (removed)
        *removed = a + d;
    return CST_OK;
}
