/* lockbox.c: operators' access requests and grants (IAM-8) in the system store (system.db), on
 * SQLite. */
#include <string.h>

#include "store/sqlite/db.h"
#include "store/sqlite/internal.h"
#include "store/store.h"

#define ACCESS_COLS                                                                                \
    "id, tenant_id, requester, requester_name, reason, justification, ticket, perms, buckets, "    \
    "duration_seconds, state, break_glass, review_state, reviewed_by, reviewed_at, "               \
    "review_comment, incident_id, created_at, expires_at, approvals, decided_by, "                 \
    "decision_comment, decided_at, window_from, window_until, token_id, use_requests, "            \
    "use_records_read"

static void access_row(sqlite3_stmt *q, cst_access_row *a)
{
    memset(a, 0, sizeof(*a));
    cst_db_col_text(q, 0, a->id, sizeof(a->id));
    cst_db_col_text(q, 1, a->tenant_id, sizeof(a->tenant_id));
    cst_db_col_text(q, 2, a->requester, sizeof(a->requester));
    cst_db_col_text(q, 3, a->requester_name, sizeof(a->requester_name));
    cst_db_col_text(q, 4, a->reason, sizeof(a->reason));
    cst_db_col_text(q, 5, a->justification, sizeof(a->justification));
    cst_db_col_text(q, 6, a->ticket, sizeof(a->ticket));
    a->perms = (uint32_t)sqlite3_column_int64(q, 7);
    cst_db_col_text(q, 8, a->buckets, sizeof(a->buckets));
    a->duration_seconds = sqlite3_column_int64(q, 9);
    cst_db_col_text(q, 10, a->state, sizeof(a->state));
    a->break_glass = sqlite3_column_int(q, 11) != 0;
    cst_db_col_text(q, 12, a->review_state, sizeof(a->review_state));
    cst_db_col_text(q, 13, a->reviewed_by, sizeof(a->reviewed_by));
    a->reviewed_at = sqlite3_column_int64(q, 14);
    cst_db_col_text(q, 15, a->review_comment, sizeof(a->review_comment));
    cst_db_col_text(q, 16, a->incident_id, sizeof(a->incident_id));
    a->created_at = sqlite3_column_int64(q, 17);
    a->expires_at = sqlite3_column_int64(q, 18);
    cst_db_col_text(q, 19, a->approvals, sizeof(a->approvals));
    cst_db_col_text(q, 20, a->decided_by, sizeof(a->decided_by));
    cst_db_col_text(q, 21, a->decision_comment, sizeof(a->decision_comment));
    a->decided_at = sqlite3_column_int64(q, 22);
    a->window_from = sqlite3_column_int64(q, 23);
    a->window_until = sqlite3_column_int64(q, 24);
    cst_db_col_text(q, 25, a->token_id, sizeof(a->token_id));
    a->use_requests = sqlite3_column_int64(q, 26);
    a->use_records_read = sqlite3_column_int64(q, 27);
}

cst_err cst_sqlite_store_access_put(cst_store *st, cst_work *w, const cst_access_row *a)
{
    return cst_db_run(
        cst_sqlite_system_db(st), w, NULL,
        "INSERT OR REPLACE INTO access_requests(" ACCESS_COLS ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "sssssssisisississiisssiiisii", a->id, a->tenant_id, a->requester, a->requester_name,
        a->reason, a->justification, a->ticket, (int64_t)a->perms, a->buckets, a->duration_seconds,
        a->state, (int64_t)a->break_glass, a->review_state, a->reviewed_by, a->reviewed_at,
        a->review_comment, a->incident_id, a->created_at, a->expires_at, a->approvals,
        a->decided_by, a->decision_comment, a->decided_at, a->window_from, a->window_until,
        a->token_id, a->use_requests, a->use_records_read);
}

/* Runs q (prepared, its parameters bound) and hands each row to fn; *found says whether any. */
static cst_err visit(cst_db *db, sqlite3_stmt *q, cst_err (*fn)(const cst_access_row *, void *),
                     void *ctx, bool *found)
{
    int row = 1;
    cst_err e;
    while ((e = cst_db_step(db, q, &row)) == CST_OK && row) {
        cst_access_row a;
        access_row(q, &a);
        *found = true;
        if ((e = fn(&a, ctx)) != CST_OK)
            break;
    }
    return e;
}

static cst_err copy_row(const cst_access_row *a, void *out)
{
    *(cst_access_row *)out = *a;
    return CST_OK;
}

cst_err cst_sqlite_store_access_get(cst_store *st, cst_work *w, const char *id, cst_access_row *out)
{
    cst_db *db = cst_sqlite_system_db(st);
    sqlite3_stmt *q = NULL;
    bool found = false;
    cst_db_lock(db);
    cst_err e =
        cst_db_stmt(db, w, &q, "SELECT " ACCESS_COLS " FROM access_requests WHERE id = ?", "s", id);
    if (e == CST_OK)
        e = visit(db, q, copy_row, out, &found);
    cst_db_done(db, q);
    cst_db_unlock(db);
    TRY(e);
    ENSURE(found, CST_ERR_NOT_FOUND, "no such access request");
    return CST_OK;
}

cst_err cst_sqlite_store_access_list(cst_store *st, cst_work *w, const char *tenant_id,
                                     cst_err (*fn)(const cst_access_row *, void *), void *ctx)
{
    cst_db *db = cst_sqlite_system_db(st);
    sqlite3_stmt *q = NULL;
    bool found = false;
    cst_db_lock(db);
    cst_err e = cst_db_stmt(db, w, &q,
                            "SELECT " ACCESS_COLS " FROM access_requests WHERE (?1 IS NULL OR "
                            "tenant_id = ?1) ORDER BY created_at DESC, id",
                            "s", tenant_id);
    if (e == CST_OK)
        e = visit(db, q, fn, ctx, &found);
    cst_db_done(db, q);
    cst_db_unlock(db);
    return e;
}

cst_err cst_sqlite_store_access_use(cst_store *st, cst_work *w, const char *id, int64_t requests,
                                    int64_t records_read)
{
    return cst_db_run(cst_sqlite_system_db(st), w, NULL,
                      "UPDATE access_requests SET use_requests = use_requests + ?, "
                      "use_records_read = use_records_read + ? WHERE id = ?",
                      "iis", requests, records_read, id);
}
