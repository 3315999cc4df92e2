/* webhooks.c: the webhook_deliveries table of system.db on SQLite (DET-1): the durable queue
 * of signed alert deliveries. */
#include <stdint.h>

#include "store/sqlite/db.h"
#include "store/sqlite/internal.h"
#include "store/store.h"

#define HOOK_COLS                                                                                  \
    "id, alert_id, tenant, url, body, attempts, next_at, status, last_status, last_error, "        \
    "created_at, delivered_at"

static void hook_row(sqlite3_stmt *q, cst_webhook_row *d)
{
    cst_db_col_text(q, 0, d->id, sizeof(d->id));
    cst_db_col_text(q, 1, d->alert_id, sizeof(d->alert_id));
    cst_db_col_text(q, 2, d->tenant, sizeof(d->tenant));
    cst_db_col_text(q, 3, d->url, sizeof(d->url));
    cst_db_col_text(q, 4, d->body, sizeof(d->body));
    d->attempts = sqlite3_column_int64(q, 5);
    d->next_at = sqlite3_column_int64(q, 6);
    cst_db_col_text(q, 7, d->status, sizeof(d->status));
    d->last_status = sqlite3_column_int64(q, 8);
    cst_db_col_text(q, 9, d->last_error, sizeof(d->last_error));
    d->created_at = sqlite3_column_int64(q, 10);
    d->delivered_at = sqlite3_column_int64(q, 11);
}

cst_err cst_sqlite_store_webhook_put(cst_store *st, cst_work *w, const cst_webhook_row *d)
{
    return cst_db_run(cst_sqlite_system_db(st), w, NULL,
                      "INSERT INTO webhook_deliveries(" HOOK_COLS
                      ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
                      "SET attempts = excluded.attempts, next_at = excluded.next_at, "
                      "status = excluded.status, last_status = excluded.last_status, "
                      "last_error = excluded.last_error, delivered_at = excluded.delivered_at",
                      "sssssiisisii", d->id, d->alert_id, d->tenant, d->url, d->body, d->attempts,
                      d->next_at, d->status, d->last_status, d->last_error, d->created_at,
                      d->delivered_at);
}

/* Hands every row of a query to fn; the statement's bindings are made by the caller. */
static cst_err visit(cst_db *db, sqlite3_stmt *q, cst_err (*fn)(const cst_webhook_row *, void *),
                     void *ctx)
{
    int row = 1;
    cst_err e;
    while ((e = cst_db_step(db, q, &row)) == CST_OK && row) {
        cst_webhook_row d;
        hook_row(q, &d);
        if ((e = fn(&d, ctx)) != CST_OK)
            break;
    }
    return e;
}

cst_err cst_sqlite_store_webhook_due(cst_store *st, cst_work *w, int64_t now, int limit,
                                     cst_err (*fn)(const cst_webhook_row *, void *), void *ctx)
{
    cst_db *db = cst_sqlite_system_db(st);
    sqlite3_stmt *q = NULL;
    cst_db_lock(db);
    cst_err e = cst_db_stmt(db, w, &q,
                            "SELECT " HOOK_COLS " FROM webhook_deliveries WHERE status = "
                            "'pending' AND next_at <= ? ORDER BY next_at, rowid LIMIT ?",
                            "ii", now, (int64_t)limit);
    if (e == CST_OK)
        e = visit(db, q, fn, ctx);
    cst_db_done(db, q);
    cst_db_unlock(db);
    return e;
}

cst_err cst_sqlite_store_webhook_list(cst_store *st, cst_work *w, const char *alert_id,
                                      cst_err (*fn)(const cst_webhook_row *, void *), void *ctx)
{
    cst_db *db = cst_sqlite_system_db(st);
    sqlite3_stmt *q = NULL;
    cst_db_lock(db);
    cst_err e = cst_db_stmt(db, w, &q,
                            "SELECT " HOOK_COLS " FROM webhook_deliveries WHERE alert_id = ? "
                            "ORDER BY rowid LIMIT 100",
                            "s", alert_id);
    if (e == CST_OK)
        e = visit(db, q, fn, ctx);
    cst_db_done(db, q);
    cst_db_unlock(db);
    return e;
}

cst_err cst_sqlite_store_webhook_defer(cst_store *st, cst_work *w, const char *url, int64_t next_at)
{
    return cst_db_run(cst_sqlite_system_db(st), w, NULL,
                      "UPDATE webhook_deliveries SET next_at = ?2 WHERE status = 'pending' AND "
                      "url = ?1 AND next_at < ?2",
                      "si", url, next_at);
}
