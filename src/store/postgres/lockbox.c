/* lockbox.c: operators' access requests and grants (IAM-8) in the system store on PostgreSQL,
 * as store/sqlite/lockbox.c. */
#include <string.h>

#include "store/postgres/pg.h"

#define ACCESS_COLS                                                                                \
    "id, tenant_id, requester, requester_name, reason, justification, ticket, perms, buckets, "    \
    "duration_seconds, state, break_glass, review_state, reviewed_by, reviewed_at, "               \
    "review_comment, incident_id, created_at, expires_at, approvals, decided_by, "                 \
    "decision_comment, decided_at, window_from, window_until, token_id, use_requests, "            \
    "use_records_read"

static void access_row(const PGresult *r, int row, void *out)
{
    cst_access_row *a = out;
    memset(a, 0, sizeof(*a));
    cst_pgd_col_text(r, row, 0, a->id, sizeof(a->id));
    cst_pgd_col_text(r, row, 1, a->tenant_id, sizeof(a->tenant_id));
    cst_pgd_col_text(r, row, 2, a->requester, sizeof(a->requester));
    cst_pgd_col_text(r, row, 3, a->requester_name, sizeof(a->requester_name));
    cst_pgd_col_text(r, row, 4, a->reason, sizeof(a->reason));
    cst_pgd_col_text(r, row, 5, a->justification, sizeof(a->justification));
    cst_pgd_col_text(r, row, 6, a->ticket, sizeof(a->ticket));
    a->perms = (uint32_t)cst_pgd_col_int(r, row, 7);
    cst_pgd_col_text(r, row, 8, a->buckets, sizeof(a->buckets));
    a->duration_seconds = cst_pgd_col_int(r, row, 9);
    cst_pgd_col_text(r, row, 10, a->state, sizeof(a->state));
    a->break_glass = cst_pgd_col_bool(r, row, 11);
    cst_pgd_col_text(r, row, 12, a->review_state, sizeof(a->review_state));
    cst_pgd_col_text(r, row, 13, a->reviewed_by, sizeof(a->reviewed_by));
    a->reviewed_at = cst_pgd_col_int(r, row, 14);
    cst_pgd_col_text(r, row, 15, a->review_comment, sizeof(a->review_comment));
    cst_pgd_col_text(r, row, 16, a->incident_id, sizeof(a->incident_id));
    a->created_at = cst_pgd_col_int(r, row, 17);
    a->expires_at = cst_pgd_col_int(r, row, 18);
    cst_pgd_col_text(r, row, 19, a->approvals, sizeof(a->approvals));
    cst_pgd_col_text(r, row, 20, a->decided_by, sizeof(a->decided_by));
    cst_pgd_col_text(r, row, 21, a->decision_comment, sizeof(a->decision_comment));
    a->decided_at = cst_pgd_col_int(r, row, 22);
    a->window_from = cst_pgd_col_int(r, row, 23);
    a->window_until = cst_pgd_col_int(r, row, 24);
    cst_pgd_col_text(r, row, 25, a->token_id, sizeof(a->token_id));
    a->use_requests = cst_pgd_col_int(r, row, 26);
    a->use_records_read = cst_pgd_col_int(r, row, 27);
}

CST_PGD_VISITOR(access, cst_access_row, access_row)

/* SQLite's INSERT OR REPLACE: every column of the row is replaced. */
cst_err cst_postgres_store_access_put(cst_store *st, cst_work *w, const cst_access_row *a)
{
    return cst_pgd_run(
        PG(st), NULL, w, true, NULL, NULL,
        /* IAM-8: a grant is a principal (its credential is checked against it): the epoch moves
         * (pg.h CST_PGD_BUMP); the use counts only grow (access_use adds to them atomically; a
         * decision's row read before an addition must not take it back) */
        "WITH " CST_PGD_BUMP " INSERT INTO custodia_system.access_requests(" ACCESS_COLS
        ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
        "$18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28) ON CONFLICT(id) DO UPDATE SET "
        "tenant_id = excluded.tenant_id, requester = excluded.requester, requester_name = "
        "excluded.requester_name, reason = excluded.reason, justification = "
        "excluded.justification, ticket = excluded.ticket, perms = excluded.perms, buckets = "
        "excluded.buckets, duration_seconds = excluded.duration_seconds, state = excluded.state, "
        "break_glass = excluded.break_glass, review_state = excluded.review_state, reviewed_by = "
        "excluded.reviewed_by, reviewed_at = excluded.reviewed_at, review_comment = "
        "excluded.review_comment, incident_id = excluded.incident_id, created_at = "
        "excluded.created_at, expires_at = excluded.expires_at, approvals = excluded.approvals, "
        "decided_by = excluded.decided_by, decision_comment = excluded.decision_comment, "
        "decided_at = excluded.decided_at, window_from = excluded.window_from, window_until = "
        "excluded.window_until, token_id = excluded.token_id, use_requests = "
        "GREATEST(custodia_system.access_requests.use_requests, excluded.use_requests), "
        "use_records_read = GREATEST(custodia_system.access_requests.use_records_read, "
        "excluded.use_records_read)",
        "sssssssisisississiisssiiisii", a->id, a->tenant_id, a->requester, a->requester_name,
        a->reason, a->justification, a->ticket, (int64_t)a->perms, a->buckets, a->duration_seconds,
        a->state, (int64_t)a->break_glass, a->review_state, a->reviewed_by, a->reviewed_at,
        a->review_comment, a->incident_id, a->created_at, a->expires_at, a->approvals,
        a->decided_by, a->decision_comment, a->decided_at, a->window_from, a->window_until,
        a->token_id, a->use_requests, a->use_records_read);
}

cst_err cst_postgres_store_access_get(cst_store *st, cst_work *w, const char *id,
                                      cst_access_row *out)
{
    if (!w)
        return cst_pgd_one(
            PG(st), NULL, w, access_row, out, "no such access request",
            "SELECT " ACCESS_COLS " FROM custodia_system.access_requests WHERE id = $1", "s", id);
    /* Read to be decided on (api/lockbox.c: read, apply the state machine, put): in the unit of
     * work, the row locked until its transaction ends, so that a decision on another node (or
     * another request here) waits and then sees this one's outcome: a deny and an approve of
     * one request never both succeed. */
    PGresult *r = NULL;
    TRY(cst_pgd_run(PG(st), NULL, w, true, &r, NULL,
                    "SELECT " ACCESS_COLS
                    " FROM custodia_system.access_requests WHERE id = $1 FOR UPDATE",
                    "s", id));
    cst_err e = PQntuples(r) == 1 ? CST_OK : cst_fail(CST_ERR_NOT_FOUND, "no such access request");
    if (e == CST_OK)
        access_row(r, 0, out);
    PQclear(r);
    return e;
}

cst_err cst_postgres_store_access_list(cst_store *st, cst_work *w, const char *tenant_id,
                                       cst_err (*fn)(const cst_access_row *, void *), void *ctx)
{
    struct access_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, access_visit, &v, NULL,
                        "SELECT " ACCESS_COLS " FROM custodia_system.access_requests WHERE "
                        "($1::text IS NULL OR tenant_id = $1) ORDER BY created_at DESC, id",
                        "s", tenant_id);
}

/* Atomic across nodes: one UPDATE adds to the counters (no read-modify-write in a node). */
cst_err cst_postgres_store_access_use(cst_store *st, cst_work *w, const char *id, int64_t requests,
                                      int64_t records_read)
{
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "UPDATE custodia_system.access_requests SET use_requests = use_requests + "
                       "$1, use_records_read = use_records_read + $2 WHERE id = $3",
                       "iis", requests, records_read, id);
}
