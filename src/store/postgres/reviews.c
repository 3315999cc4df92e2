/* reviews.c: access review campaigns, their decisions and the reminders sent (IAM-6) in the
 * system store on PostgreSQL, as store/sqlite/reviews.c. */
#include <string.h>

#include "store/postgres/pg.h"

#define REVIEW_COLS                                                                                \
    "id, scope, state, opened_at, opened_by, snapshot_sha256, attested_at, attested_by, "          \
    "snapshot, attestation"

static void review_row(const PGresult *r, int row, void *out)
{
    cst_review_row *rv = out;
    memset(rv, 0, sizeof(*rv));
    cst_pgd_col_text(r, row, 0, rv->id, sizeof(rv->id));
    cst_pgd_col_text(r, row, 1, rv->scope, sizeof(rv->scope));
    cst_pgd_col_text(r, row, 2, rv->state, sizeof(rv->state));
    rv->opened_at = cst_pgd_col_int(r, row, 3);
    cst_pgd_col_text(r, row, 4, rv->opened_by, sizeof(rv->opened_by));
    cst_pgd_col_text(r, row, 5, rv->snapshot_sha256, sizeof(rv->snapshot_sha256));
    rv->attested_at = cst_pgd_col_int(r, row, 6);
    cst_pgd_col_text(r, row, 7, rv->attested_by, sizeof(rv->attested_by));
}

CST_PGD_VISITOR(review, cst_review_row, review_row)

/* One open campaign per scope across nodes: the partial unique index reviews_open. A campaign
 * that cannot be added (that index, or its id) is refused without an error of the statement
 * (ON CONFLICT DO NOTHING), so w's transaction stays usable. */
cst_err cst_postgres_store_review_add(cst_store *st, cst_work *w, const cst_review_row *r,
                                      const char *snapshot)
{
    int64_t added = 0;
    TRY(cst_pgd_run(PG(st), NULL, w, true, NULL, &added,
                    "INSERT INTO custodia_system.reviews(" REVIEW_COLS
                    ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, '') ON CONFLICT DO NOTHING",
                    "sssississ", r->id, r->scope, r->state, r->opened_at, r->opened_by,
                    r->snapshot_sha256, r->attested_at, r->attested_by, snapshot));
    ENSURE(added == 1, CST_ERR_CONFLICT,
           "an access review is open already: attest it before opening another");
    return CST_OK;
}

/* The row and, when asked, its two documents. */
struct full {
    cst_review_row *row;
    cst_buf *snapshot, *attestation;
};

static cst_err full_row(const PGresult *r, int row, void *p)
{
    struct full *f = p;
    review_row(r, row, f->row);
    cst_buf *docs[2] = {f->snapshot, f->attestation};
    for (int i = 0; i < 2; i++)
        if (docs[i])
            TRY(cst_pgd_col_buf(r, row, 8 + i, docs[i]));
    return CST_OK;
}

cst_err cst_postgres_store_review_get(cst_store *st, cst_work *w, const char *id,
                                      cst_review_row *out, cst_buf *snapshot, cst_buf *attestation)
{
    struct full f = {out, snapshot, attestation};
    int rows = 0;
    TRY(cst_pgd_each(PG(st), NULL, w, full_row, &f, &rows,
                     "SELECT " REVIEW_COLS " FROM custodia_system.reviews WHERE id = $1", "s", id));
    ENSURE(rows > 0, CST_ERR_NOT_FOUND, "no such access review");
    return CST_OK;
}

cst_err cst_postgres_store_review_list(cst_store *st, cst_work *w, const char *scope,
                                       cst_err (*fn)(const cst_review_row *, void *), void *ctx)
{
    struct review_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, review_visit, &v, NULL,
                        "SELECT " REVIEW_COLS " FROM custodia_system.reviews WHERE scope = $1 "
                        "ORDER BY opened_at DESC, id",
                        "s", scope);
}

/* Atomic across nodes: one conditional UPDATE; of two nodes attesting at once, the second
 * finds the campaign attested (no row changed). */
cst_err cst_postgres_store_review_attest(cst_store *st, cst_work *w, const char *id, int64_t at,
                                         const char *by, const char *attestation)
{
    int64_t changes = 0;
    TRY(cst_pgd_run(PG(st), NULL, w, true, NULL, &changes,
                    "UPDATE custodia_system.reviews SET state = 'attested', attested_at = $1, "
                    "attested_by = $2, attestation = $3 WHERE id = $4 AND state = 'open'",
                    "isss", at, by, attestation, id));
    ENSURE(changes == 1, CST_ERR_CONFLICT, "access review %s was attested already", id);
    return CST_OK;
}

#define DECISION_COLS "review_id, principal, decision, decided_by, at, comment"

static void decision_row(const PGresult *r, int row, void *out)
{
    cst_review_decision_row *d = out;
    memset(d, 0, sizeof(*d));
    cst_pgd_col_text(r, row, 0, d->review_id, sizeof(d->review_id));
    cst_pgd_col_text(r, row, 1, d->principal, sizeof(d->principal));
    cst_pgd_col_text(r, row, 2, d->decision, sizeof(d->decision));
    cst_pgd_col_text(r, row, 3, d->by, sizeof(d->by));
    d->at = cst_pgd_col_int(r, row, 4);
    cst_pgd_col_text(r, row, 5, d->comment, sizeof(d->comment));
}

CST_PGD_VISITOR(decision, cst_review_decision_row, decision_row)

/* SQLite's INSERT OR REPLACE: every column of the row is replaced. */
cst_err cst_postgres_store_review_decide(cst_store *st, cst_work *w,
                                         const cst_review_decision_row *d)
{
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "INSERT INTO custodia_system.review_decisions(" DECISION_COLS
                       ") VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT(review_id, principal) DO "
                       "UPDATE SET decision = excluded.decision, decided_by = "
                       "excluded.decided_by, at = excluded.at, comment = excluded.comment",
                       "ssssis", d->review_id, d->principal, d->decision, d->by, d->at, d->comment);
}

cst_err cst_postgres_store_review_decisions(cst_store *st, cst_work *w, const char *review_id,
                                            cst_err (*fn)(const cst_review_decision_row *, void *),
                                            void *ctx)
{
    struct decision_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, decision_visit, &v, NULL,
                        "SELECT " DECISION_COLS " FROM custodia_system.review_decisions WHERE "
                        "review_id = $1 ORDER BY principal",
                        "s", review_id);
}

/* Atomic across nodes: one statement claims the reminder (inserted, or moved on when the last
 * one is at least interval_us old); of two sweeps at once, the second changes no row. */
cst_err cst_postgres_store_review_remind(cst_store *st, const char *scope, int64_t now,
                                         int64_t interval_us, bool *claimed)
{
    int64_t changes = 0;
    *claimed = false;
    TRY(cst_pgd_run(PG(st), NULL, NULL, true, NULL, &changes,
                    "INSERT INTO custodia_system.review_reminders AS r(scope, reminded_at) "
                    "VALUES($1, $2) ON CONFLICT(scope) DO UPDATE SET reminded_at = "
                    "excluded.reminded_at WHERE r.reminded_at <= $3 RETURNING r.scope",
                    "sii", scope, now, now - interval_us));
    *claimed = changes == 1;
    return CST_OK;
}
