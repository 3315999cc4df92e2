/* webhooks.c: the webhook_deliveries table of the system store (DET-1) on PostgreSQL, as
 * store/sqlite/webhooks.c: the durable queue of signed alert deliveries. SQLite orders by rowid
 * (queueing order, kept by the upsert); here by ord, an identity given at insertion (schema v2).
 *
 * Many nodes: webhook_due only reads, as SQLite's does; it claims nothing. That no message goes
 * out twice rests on the sender: one node of those sharing the database sends, the holder of
 * the lease "webhook.sender" (node/webhook.c, cst_node_lease). */
#include <stdint.h>

#include "store/postgres/pg.h"

#define HOOK_COLS                                                                                  \
    "id, alert_id, tenant, url, body, attempts, next_at, status, last_status, last_error, "        \
    "created_at, delivered_at"

static void hook_row(const PGresult *r, int i, void *out)
{
    cst_webhook_row *d = out;
    cst_pgd_col_text(r, i, 0, d->id, sizeof(d->id));
    cst_pgd_col_text(r, i, 1, d->alert_id, sizeof(d->alert_id));
    cst_pgd_col_text(r, i, 2, d->tenant, sizeof(d->tenant));
    cst_pgd_col_text(r, i, 3, d->url, sizeof(d->url));
    cst_pgd_col_text(r, i, 4, d->body, sizeof(d->body));
    d->attempts = cst_pgd_col_int(r, i, 5);
    d->next_at = cst_pgd_col_int(r, i, 6);
    cst_pgd_col_text(r, i, 7, d->status, sizeof(d->status));
    d->last_status = cst_pgd_col_int(r, i, 8);
    cst_pgd_col_text(r, i, 9, d->last_error, sizeof(d->last_error));
    d->created_at = cst_pgd_col_int(r, i, 10);
    d->delivered_at = cst_pgd_col_int(r, i, 11);
}

CST_PGD_VISITOR(hook, cst_webhook_row, hook_row)

cst_err cst_postgres_store_webhook_put(cst_store *st, cst_work *w, const cst_webhook_row *d)
{
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "INSERT INTO custodia_system.webhook_deliveries(" HOOK_COLS
                       ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
                       "ON CONFLICT(id) DO UPDATE SET attempts = excluded.attempts, "
                       "next_at = excluded.next_at, status = excluded.status, "
                       "last_status = excluded.last_status, last_error = excluded.last_error, "
                       "delivered_at = excluded.delivered_at",
                       "sssssiisisii", d->id, d->alert_id, d->tenant, d->url, d->body, d->attempts,
                       d->next_at, d->status, d->last_status, d->last_error, d->created_at,
                       d->delivered_at);
}

cst_err cst_postgres_store_webhook_due(cst_store *st, cst_work *w, int64_t now, int limit,
                                       cst_err (*fn)(const cst_webhook_row *, void *), void *ctx)
{
    struct hook_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, hook_visit, &v, NULL,
                        "SELECT " HOOK_COLS " FROM custodia_system.webhook_deliveries WHERE "
                        "status = 'pending' AND next_at <= $1 ORDER BY next_at, ord LIMIT $2",
                        "ii", now, (int64_t)limit);
}

cst_err cst_postgres_store_webhook_list(cst_store *st, cst_work *w, const char *alert_id,
                                        cst_err (*fn)(const cst_webhook_row *, void *), void *ctx)
{
    struct hook_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, hook_visit, &v, NULL,
                        "SELECT " HOOK_COLS " FROM custodia_system.webhook_deliveries WHERE "
                        "alert_id = $1 ORDER BY ord LIMIT 100",
                        "s", alert_id);
}

/* Atomic across nodes: one UPDATE (a deferral only ever moves next_at later). */
cst_err cst_postgres_store_webhook_defer(cst_store *st, cst_work *w, const char *url,
                                         int64_t next_at)
{
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "UPDATE custodia_system.webhook_deliveries SET next_at = $2 WHERE status = "
                       "'pending' AND url = $1 AND next_at < $2",
                       "si", url, next_at);
}
