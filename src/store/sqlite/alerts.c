/* alerts.c: the alerts table of system.db on SQLite (DET-1). */
#include <stdint.h>

#include "store/sqlite/db.h"
#include "store/sqlite/internal.h"
#include "store/store.h"

#define ALERT_COLS                                                                                 \
    "id, type, severity, status, tenant, principal, source_ip, first_seen, last_seen, count, "     \
    "summary, incident_id, dedup_key"

static void alert_row(sqlite3_stmt *q, cst_alert_row *a)
{
    cst_db_col_text(q, 0, a->id, sizeof(a->id));
    cst_db_col_text(q, 1, a->type, sizeof(a->type));
    cst_db_col_text(q, 2, a->severity, sizeof(a->severity));
    cst_db_col_text(q, 3, a->status, sizeof(a->status));
    cst_db_col_text(q, 4, a->tenant, sizeof(a->tenant));
    cst_db_col_text(q, 5, a->principal, sizeof(a->principal));
    cst_db_col_text(q, 6, a->source_ip, sizeof(a->source_ip));
    a->first_seen = sqlite3_column_int64(q, 7);
    a->last_seen = sqlite3_column_int64(q, 8);
    a->count = sqlite3_column_int64(q, 9);
    cst_db_col_text(q, 10, a->summary, sizeof(a->summary));
    cst_db_col_text(q, 11, a->incident_id, sizeof(a->incident_id));
    cst_db_col_text(q, 12, a->dedup_key, sizeof(a->dedup_key));
}

/* An upsert, not INSERT OR REPLACE: the row keeps its rowid, which orders the listing. */
cst_err cst_sqlite_store_alert_put(cst_store *st, cst_work *w, const cst_alert_row *a)
{
    return cst_db_run(cst_sqlite_system_db(st), w, NULL,
                      "INSERT INTO alerts(" ALERT_COLS
                      ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
                      "SET severity = excluded.severity, status = excluded.status, "
                      "last_seen = excluded.last_seen, count = excluded.count, "
                      "summary = excluded.summary, incident_id = excluded.incident_id",
                      "sssssssiiisss", a->id, a->type, a->severity, a->status, a->tenant,
                      a->principal, a->source_ip, a->first_seen, a->last_seen, a->count, a->summary,
                      a->incident_id, a->dedup_key);
}

/* Runs a query whose rows are alerts, handing each to fn (one row: stop after the first). */
typedef struct alert_visit {
    cst_err (*fn)(const cst_alert_row *, void *);
    void *ctx;
    bool one;
    bool found;
} alert_visit;

static cst_err visit_rows(cst_db *db, sqlite3_stmt *q, alert_visit *v)
{
    int row = 1;
    cst_err e;
    while ((e = cst_db_step(db, q, &row)) == CST_OK && row) {
        cst_alert_row a;
        alert_row(q, &a);
        v->found = true;
        if ((e = v->fn(&a, v->ctx)) != CST_OK || v->one)
            break;
    }
    return e;
}

static cst_err copy_row(const cst_alert_row *a, void *out)
{
    *(cst_alert_row *)out = *a;
    return CST_OK;
}

cst_err cst_sqlite_store_alert_get(cst_store *st, cst_work *w, const char *id, cst_alert_row *out)
{
    cst_db *db = cst_sqlite_system_db(st);
    alert_visit v = {copy_row, out, true, false};
    sqlite3_stmt *q = NULL;
    cst_db_lock(db);
    cst_err e = cst_db_stmt(db, w, &q, "SELECT " ALERT_COLS " FROM alerts WHERE id = ?", "s", id);
    if (e == CST_OK)
        e = visit_rows(db, q, &v);
    cst_db_done(db, q);
    cst_db_unlock(db);
    TRY(e);
    ENSURE(v.found, CST_ERR_NOT_FOUND, "no such alert");
    return CST_OK;
}

cst_err cst_sqlite_store_alert_find(cst_store *st, cst_work *w, const char *type,
                                    const char *dedup_key, cst_alert_row *out)
{
    cst_db *db = cst_sqlite_system_db(st);
    alert_visit v = {copy_row, out, true, false};
    sqlite3_stmt *q = NULL;
    cst_db_lock(db);
    cst_err e = cst_db_stmt(db, w, &q,
                            "SELECT " ALERT_COLS " FROM alerts WHERE type = ? AND dedup_key = ? "
                            "AND status != 'resolved' ORDER BY rowid DESC LIMIT 1",
                            "ss", type, dedup_key);
    if (e == CST_OK)
        e = visit_rows(db, q, &v);
    cst_db_done(db, q);
    cst_db_unlock(db);
    TRY(e);
    ENSURE(v.found, CST_ERR_NOT_FOUND, "no such alert");
    return CST_OK;
}

cst_err cst_sqlite_store_alert_list(cst_store *st, cst_work *w, const cst_alert_filter *f,
                                    cst_err (*fn)(const cst_alert_row *, void *), void *ctx)
{
    cst_db *db = cst_sqlite_system_db(st);
    alert_visit v = {fn, ctx, false, false};
    sqlite3_stmt *q = NULL;
    const char *status = f->status ? f->status : "", *type = f->type ? f->type : "";
    const char *tenant = f->tenant ? f->tenant : "", *after = f->after ? f->after : "";
    cst_db_lock(db);
    cst_err e = cst_db_stmt(db, w, &q,
                            "SELECT " ALERT_COLS " FROM alerts WHERE (?1 = '' OR status = ?1) AND "
                            "(?2 = '' OR type = ?2) AND (?3 = '' OR tenant = ?3) AND "
                            "(?4 = '' OR rowid < (SELECT rowid FROM alerts WHERE id = ?4)) ORDER "
                            "BY rowid DESC LIMIT ?5",
                            "ssssi", status, type, tenant, after, (int64_t)f->limit);
    if (e == CST_OK)
        e = visit_rows(db, q, &v);
    cst_db_done(db, q);
    cst_db_unlock(db);
    return e;
}

cst_err cst_sqlite_store_alert_count_open(cst_store *st, cst_work *w, int64_t *count)
{
    cst_db *db = cst_sqlite_system_db(st);
    sqlite3_stmt *q = NULL;
    int row = 0;
    cst_db_lock(db);
    cst_err e =
        cst_db_stmt(db, w, &q, "SELECT count(*) FROM alerts WHERE status != 'resolved'", "");
    if (e == CST_OK)
        e = cst_db_step(db, q, &row);
    *count = row ? sqlite3_column_int64(q, 0) : 0;
    cst_db_done(db, q);
    cst_db_unlock(db);
    return e;
}

cst_err cst_sqlite_store_alert_prune(cst_store *st, cst_work *w, int64_t resolved_before,
                                     int64_t finished_before, int64_t *removed)
{
    cst_db *db = cst_sqlite_system_db(st);
    int a = 0, d = 0;
    TRY(cst_db_run(db, w, &a, "DELETE FROM alerts WHERE status = 'resolved' AND last_seen < ?", "i",
                   resolved_before));
    TRY(cst_db_run(db, w, &d,
                   "DELETE FROM webhook_deliveries WHERE status IN ('delivered', 'failed') AND "
                   "created_at < ?",
                   "i", finished_before));
    if (removed)
        *removed = (int64_t)a + d;
    return CST_OK;
}
