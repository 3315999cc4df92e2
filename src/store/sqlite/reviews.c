/* reviews.c: access review campaigns, their decisions and the reminders sent (IAM-6) in the
 * system store (system.db), on SQLite. */
#include <string.h>

#include "store/sqlite/db.h"
#include "store/sqlite/internal.h"
#include "store/store.h"

#define REVIEW_COLS                                                                                \
    "id, scope, state, opened_at, opened_by, snapshot_sha256, attested_at, attested_by, "          \
    "snapshot, attestation"

static void review_row(sqlite3_stmt *q, void *out)
{
    cst_review_row *r = out;
    memset(r, 0, sizeof(*r));
    cst_db_col_text(q, 0, r->id, sizeof(r->id));
    cst_db_col_text(q, 1, r->scope, sizeof(r->scope));
    cst_db_col_text(q, 2, r->state, sizeof(r->state));
    r->opened_at = sqlite3_column_int64(q, 3);
    cst_db_col_text(q, 4, r->opened_by, sizeof(r->opened_by));
    cst_db_col_text(q, 5, r->snapshot_sha256, sizeof(r->snapshot_sha256));
    r->attested_at = sqlite3_column_int64(q, 6);
    cst_db_col_text(q, 7, r->attested_by, sizeof(r->attested_by));
}

CST_SQLITE_VISITOR(review, cst_review_row, review_row)

cst_err cst_sqlite_store_review_add(cst_store *st, cst_work *w, const cst_review_row *r,
                                    const char *snapshot)
{
    cst_err e =
        cst_db_run(cst_sqlite_system_db(st), w, NULL,
                   "INSERT INTO reviews(" REVIEW_COLS ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, '')",
                   "sssississ", r->id, r->scope, r->state, r->opened_at, r->opened_by,
                   r->snapshot_sha256, r->attested_at, r->attested_by, snapshot);
    ENSURE(e != CST_ERR_CONFLICT, CST_ERR_CONFLICT,
           "an access review is open already: attest it before opening another");
    return e;
}

/* The row and, when asked, its two documents. */
struct full {
    cst_review_row *row;
    cst_buf *snapshot, *attestation;
};

static cst_err full_row(sqlite3_stmt *q, void *p)
{
    struct full *f = p;
    review_row(q, f->row);
    cst_buf *docs[2] = {f->snapshot, f->attestation};
    for (int i = 0; i < 2; i++) {
        if (!docs[i])
            continue;
        docs[i]->len = 0;
        TRY(cst_buf_append(docs[i], sqlite3_column_text(q, 8 + i),
                           (size_t)sqlite3_column_bytes(q, 8 + i)));
    }
    return CST_OK;
}

cst_err cst_sqlite_store_review_get(cst_store *st, cst_work *w, const char *id, cst_review_row *out,
                                    cst_buf *snapshot, cst_buf *attestation)
{
    struct full f = {out, snapshot, attestation};
    int rows = 0;
    TRY(cst_sqlite_each(st, w, "SELECT " REVIEW_COLS " FROM reviews WHERE id = ?1 AND ?2 IS NULL",
                        id, NULL, full_row, &f, &rows));
    ENSURE(rows > 0, CST_ERR_NOT_FOUND, "no such access review");
    return CST_OK;
}

cst_err cst_sqlite_store_review_list(cst_store *st, cst_work *w, const char *scope,
                                     cst_err (*fn)(const cst_review_row *, void *), void *ctx)
{
    struct review_visit v = {.fn = fn, .ctx = ctx};
    return cst_sqlite_each(st, w,
                           "SELECT " REVIEW_COLS " FROM reviews WHERE scope = ?1 AND ?2 IS NULL "
                           "ORDER BY opened_at DESC, id",
                           scope, NULL, review_visit, &v, NULL);
}

cst_err cst_sqlite_store_review_attest(cst_store *st, cst_work *w, const char *id, int64_t at,
                                       const char *by, const char *attestation)
{
    int changes = 0;
    TRY(cst_db_run(cst_sqlite_system_db(st), w, &changes,
                   "UPDATE reviews SET state = 'attested', attested_at = ?, attested_by = ?, "
                   "attestation = ? WHERE id = ? AND state = 'open'",
                   "isss", at, by, attestation, id));
    ENSURE(changes == 1, CST_ERR_CONFLICT, "access review %s was attested already", id);
    return CST_OK;
}

#define DECISION_COLS "review_id, principal, decision, decided_by, at, comment"

static void decision_row(sqlite3_stmt *q, void *out)
{
    cst_review_decision_row *d = out;
    memset(d, 0, sizeof(*d));
    cst_db_col_text(q, 0, d->review_id, sizeof(d->review_id));
    cst_db_col_text(q, 1, d->principal, sizeof(d->principal));
    cst_db_col_text(q, 2, d->decision, sizeof(d->decision));
    cst_db_col_text(q, 3, d->by, sizeof(d->by));
    d->at = sqlite3_column_int64(q, 4);
    cst_db_col_text(q, 5, d->comment, sizeof(d->comment));
}

CST_SQLITE_VISITOR(decision, cst_review_decision_row, decision_row)

cst_err cst_sqlite_store_review_decide(cst_store *st, cst_work *w, const cst_review_decision_row *d)
{
    return cst_db_run(cst_sqlite_system_db(st), w, NULL,
                      "INSERT OR REPLACE INTO review_decisions(" DECISION_COLS
                      ") VALUES(?, ?, ?, ?, ?, ?)",
                      "ssssis", d->review_id, d->principal, d->decision, d->by, d->at, d->comment);
}

cst_err cst_sqlite_store_review_decisions(cst_store *st, cst_work *w, const char *review_id,
                                          cst_err (*fn)(const cst_review_decision_row *, void *),
                                          void *ctx)
{
    struct decision_visit v = {.fn = fn, .ctx = ctx};
    return cst_sqlite_each(st, w,
                           "SELECT " DECISION_COLS " FROM review_decisions WHERE review_id = ?1 "
                           "AND ?2 IS NULL ORDER BY principal",
                           review_id, NULL, decision_visit, &v, NULL);
}

cst_err cst_sqlite_store_review_remind(cst_store *st, const char *scope, int64_t now,
                                       int64_t interval_us, bool *claimed)
{
    int changes = 0;
    *claimed = false;
    TRY(cst_db_run(cst_sqlite_system_db(st), NULL, &changes,
                   "INSERT INTO review_reminders(scope, reminded_at) VALUES(?1, ?2) "
                   "ON CONFLICT(scope) DO UPDATE SET reminded_at = excluded.reminded_at "
                   "WHERE reminded_at <= ?3",
                   "sii", scope, now, now - interval_us));
    *claimed = changes == 1;
    return CST_OK;
}
