/* incidents.c: incidents, their append-only timeline, breach clocks and notice versions
 * (INC-1..4) in the system store on PostgreSQL, as store/sqlite/incidents.c. */
#include <string.h>

#include "store/postgres/pg.h"

/* How often timeline_add tries again after another node took the seq it computed. */
#define TIMELINE_TRIES 100

/* ---- incidents ---- */

#define INCIDENT_COLS                                                                              \
    "id, title, severity, status, owner, summary, root_cause, remediation, tenants, "              \
    "data_categories, created_at, updated_at, closed_at, confirmed_at, aware_at"

static void incident_row(const PGresult *r, int row, void *out)
{
    cst_incident_row *i = out;
    memset(i, 0, sizeof(*i));
    cst_pgd_col_text(r, row, 0, i->id, sizeof(i->id));
    cst_pgd_col_text(r, row, 1, i->title, sizeof(i->title));
    cst_pgd_col_text(r, row, 2, i->severity, sizeof(i->severity));
    cst_pgd_col_text(r, row, 3, i->status, sizeof(i->status));
    cst_pgd_col_text(r, row, 4, i->owner, sizeof(i->owner));
    cst_pgd_col_text(r, row, 5, i->summary, sizeof(i->summary));
    cst_pgd_col_text(r, row, 6, i->root_cause, sizeof(i->root_cause));
    cst_pgd_col_text(r, row, 7, i->remediation, sizeof(i->remediation));
    cst_pgd_col_text(r, row, 8, i->tenants, sizeof(i->tenants));
    cst_pgd_col_text(r, row, 9, i->data_categories, sizeof(i->data_categories));
    i->created_at = cst_pgd_col_int(r, row, 10);
    i->updated_at = cst_pgd_col_int(r, row, 11);
    i->closed_at = cst_pgd_col_int(r, row, 12);
    i->confirmed_at = cst_pgd_col_int(r, row, 13);
    i->aware_at = cst_pgd_col_int(r, row, 14);
}

CST_PGD_VISITOR(incident, cst_incident_row, incident_row)

/* SQLite's INSERT OR REPLACE: every column of the row is replaced. */
cst_err cst_postgres_store_incident_put(cst_store *st, cst_work *w, const cst_incident_row *i)
{
    return cst_pgd_run(
        PG(st), NULL, w, true, NULL, NULL,
        "INSERT INTO custodia_system.incidents(" INCIDENT_COLS
        ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
        "ON CONFLICT(id) DO UPDATE SET title = excluded.title, severity = excluded.severity, "
        "status = excluded.status, owner = excluded.owner, summary = excluded.summary, "
        "root_cause = excluded.root_cause, remediation = excluded.remediation, "
        "tenants = excluded.tenants, data_categories = excluded.data_categories, "
        "created_at = excluded.created_at, updated_at = excluded.updated_at, "
        "closed_at = excluded.closed_at, confirmed_at = excluded.confirmed_at, "
        "aware_at = excluded.aware_at",
        "ssssssssssiiiii", i->id, i->title, i->severity, i->status, i->owner, i->summary,
        i->root_cause, i->remediation, i->tenants, i->data_categories, i->created_at, i->updated_at,
        i->closed_at, i->confirmed_at, i->aware_at);
}

cst_err cst_postgres_store_incident_get(cst_store *st, cst_work *w, const char *id,
                                        cst_incident_row *out)
{
    return cst_pgd_one(PG(st), NULL, w, incident_row, out, "no such resource",
                       "SELECT " INCIDENT_COLS " FROM custodia_system.incidents WHERE id = $1", "s",
                       id);
}

cst_err cst_postgres_store_incident_list(cst_store *st, cst_work *w,
                                         cst_err (*fn)(const cst_incident_row *, void *), void *ctx)
{
    struct incident_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(
        PG(st), NULL, w, incident_visit, &v, NULL,
        "SELECT " INCIDENT_COLS " FROM custodia_system.incidents ORDER BY created_at DESC, id", "");
}

/* ---- timeline: INSERT only (INC-1: schema.c's trigger refuses UPDATE and DELETE) ---- */

static void timeline_row(const PGresult *r, int row, void *out)
{
    cst_timeline_row *t = out;
    memset(t, 0, sizeof(*t));
    cst_pgd_col_text(r, row, 0, t->incident_id, sizeof(t->incident_id));
    t->seq = cst_pgd_col_int(r, row, 1);
    t->at = cst_pgd_col_int(r, row, 2);
    cst_pgd_col_text(r, row, 3, t->actor, sizeof(t->actor));
    cst_pgd_col_text(r, row, 4, t->entry, sizeof(t->entry));
}

CST_PGD_VISITOR(timeline, cst_timeline_row, timeline_row)

/* Many nodes: the entries of an incident are numbered 1, 2, 3 ... without gaps or duplicates
 * when nodes append at once. Each try is one INSERT of max(seq) + 1 that does nothing when
 * another node's entry took that seq meanwhile (ON CONFLICT DO NOTHING waits for that node's
 * transaction and raises no error, so it aborts neither a unit of work nor anything else); the
 * next try, a new statement under READ COMMITTED, sees that entry and takes the seq after it.
 * Chosen over locking the incident row (SELECT ... FOR UPDATE): that needs a transaction of two
 * statements, which a call without w does not have, and locks nothing for an incident without a
 * row. Every lost try means another entry was appended, so the tries are bounded. */
cst_err cst_postgres_store_timeline_add(cst_store *st, cst_work *w, const cst_timeline_row *t,
                                        int64_t *seq)
{
    for (int tries = 0; tries < TIMELINE_TRIES; tries++) {
        PGresult *r = NULL;
        int64_t added = 0;
        TRY(cst_pgd_run(PG(st), NULL, w, true, &r, &added,
                        "INSERT INTO custodia_system.incident_timeline(incident_id, seq, at, "
                        "actor, entry) SELECT $1, coalesce(max(seq), 0) + 1, $2, $3, $4 FROM "
                        "custodia_system.incident_timeline WHERE incident_id = $1 "
                        "ON CONFLICT(incident_id, seq) DO NOTHING RETURNING seq",
                        "siss", t->incident_id, t->at, t->actor, t->entry));
        if (added == 1)
            *seq = cst_pgd_col_int(r, 0, 0);
        PQclear(r);
        if (added == 1)
            return CST_OK;
    }
    return cst_fail(CST_ERR_CONFLICT,
                    "incident %s: its timeline's next entry was taken by other nodes %d times "
                    "running; try again",
                    t->incident_id, TIMELINE_TRIES);
}

cst_err cst_postgres_store_timeline_list(cst_store *st, cst_work *w, const char *incident_id,
                                         cst_err (*fn)(const cst_timeline_row *, void *), void *ctx)
{
    struct timeline_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, timeline_visit, &v, NULL,
                        "SELECT incident_id, seq, at, actor, entry FROM "
                        "custodia_system.incident_timeline WHERE incident_id = $1 ORDER BY seq",
                        "s", incident_id);
}

/* ---- breach clocks ---- */

#define CLOCK_COLS "incident_id, tenant_id, aware_at, deadline, hours, notice_id, sent_at"

static void clock_row(const PGresult *r, int row, void *out)
{
    cst_clock_row *c = out;
    memset(c, 0, sizeof(*c));
    cst_pgd_col_text(r, row, 0, c->incident_id, sizeof(c->incident_id));
    cst_pgd_col_text(r, row, 1, c->tenant_id, sizeof(c->tenant_id));
    c->aware_at = cst_pgd_col_int(r, row, 2);
    c->deadline = cst_pgd_col_int(r, row, 3);
    c->hours = (int)cst_pgd_col_int(r, row, 4);
    cst_pgd_col_text(r, row, 5, c->notice_id, sizeof(c->notice_id));
    c->sent_at = cst_pgd_col_int(r, row, 6);
}

CST_PGD_VISITOR(clock, cst_clock_row, clock_row)

/* SQLite's INSERT OR REPLACE: every column of the row is replaced. */
cst_err cst_postgres_store_clock_put(cst_store *st, cst_work *w, const cst_clock_row *c)
{
    return cst_pgd_run(PG(st), NULL, w, true, NULL, NULL,
                       "INSERT INTO custodia_system.breach_clocks(" CLOCK_COLS
                       ") VALUES($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(incident_id, tenant_id) "
                       "DO UPDATE SET aware_at = excluded.aware_at, deadline = excluded.deadline, "
                       "hours = excluded.hours, notice_id = excluded.notice_id, "
                       "sent_at = excluded.sent_at",
                       "ssiiisi", c->incident_id, c->tenant_id, c->aware_at, c->deadline,
                       (int64_t)c->hours, c->notice_id, c->sent_at);
}

cst_err cst_postgres_store_clock_list(cst_store *st, cst_work *w, const char *incident_id,
                                      cst_err (*fn)(const cst_clock_row *, void *), void *ctx)
{
    struct clock_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, clock_visit, &v, NULL,
                        "SELECT " CLOCK_COLS " FROM custodia_system.breach_clocks WHERE "
                        "($1::text IS NULL OR incident_id = $1) ORDER BY deadline, tenant_id",
                        "s", incident_id);
}

/* ---- notices ---- */

#define NOTICE_COLS                                                                                \
    "id, incident_id, tenant_id, version, sent_at, deadline, sent_by, document, decision, "        \
    "decided_by, decided_at, comment"

static void notice_row(const PGresult *r, int row, void *out)
{
    cst_notice_row *nt = out;
    memset(nt, 0, sizeof(*nt));
    cst_pgd_col_text(r, row, 0, nt->id, sizeof(nt->id));
    cst_pgd_col_text(r, row, 1, nt->incident_id, sizeof(nt->incident_id));
    cst_pgd_col_text(r, row, 2, nt->tenant_id, sizeof(nt->tenant_id));
    nt->version = (int)cst_pgd_col_int(r, row, 3);
    nt->sent_at = cst_pgd_col_int(r, row, 4);
    nt->deadline = cst_pgd_col_int(r, row, 5);
    cst_pgd_col_text(r, row, 6, nt->sent_by, sizeof(nt->sent_by));
    cst_pgd_col_text(r, row, 7, nt->document, sizeof(nt->document));
    cst_pgd_col_text(r, row, 8, nt->decision, sizeof(nt->decision));
    cst_pgd_col_text(r, row, 9, nt->decided_by, sizeof(nt->decided_by));
    nt->decided_at = cst_pgd_col_int(r, row, 10);
    cst_pgd_col_text(r, row, 11, nt->comment, sizeof(nt->comment));
}

CST_PGD_VISITOR(notice, cst_notice_row, notice_row)

/* A version that exists (its id, or its incident, tenant and version) is refused without an
 * error of the statement (ON CONFLICT DO NOTHING), so w's transaction stays usable. */
cst_err cst_postgres_store_notice_add(cst_store *st, cst_work *w, const cst_notice_row *nt)
{
    int64_t added = 0;
    TRY(cst_pgd_run(PG(st), NULL, w, true, NULL, &added,
                    "INSERT INTO custodia_system.notices(" NOTICE_COLS
                    ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
                    "ON CONFLICT DO NOTHING",
                    "sssiiissssis", nt->id, nt->incident_id, nt->tenant_id, (int64_t)nt->version,
                    nt->sent_at, nt->deadline, nt->sent_by, nt->document, nt->decision,
                    nt->decided_by, nt->decided_at, nt->comment));
    ENSURE(added == 1, CST_ERR_CONFLICT, "the resource already exists");
    return CST_OK;
}

cst_err cst_postgres_store_notice_get(cst_store *st, cst_work *w, const char *id,
                                      cst_notice_row *out)
{
    return cst_pgd_one(PG(st), NULL, w, notice_row, out, "no such resource",
                       "SELECT " NOTICE_COLS " FROM custodia_system.notices WHERE id = $1", "s",
                       id);
}

cst_err cst_postgres_store_notice_list(cst_store *st, cst_work *w, const char *incident_id,
                                       const char *tenant_id,
                                       cst_err (*fn)(const cst_notice_row *, void *), void *ctx)
{
    struct notice_visit v = {.fn = fn, .ctx = ctx};
    return cst_pgd_each(PG(st), NULL, w, notice_visit, &v, NULL,
                        "SELECT " NOTICE_COLS " FROM custodia_system.notices WHERE "
                        "($1::text IS NULL OR incident_id = $1) AND ($2::text IS NULL OR "
                        "tenant_id = $2) ORDER BY sent_at DESC, version DESC, id",
                        "ss", incident_id, tenant_id);
}

/* Atomic across nodes: one conditional UPDATE; of two nodes deciding at once, the second finds
 * the notice decided (no row changed). */
cst_err cst_postgres_store_notice_decide(cst_store *st, cst_work *w, const cst_notice_row *nt)
{
    int64_t changes = 0;
    TRY(cst_pgd_run(PG(st), NULL, w, true, NULL, &changes,
                    "UPDATE custodia_system.notices SET decision = $1, decided_by = $2, "
                    "decided_at = $3, comment = $4 WHERE id = $5 AND decision = 'pending'",
                    "ssiss", nt->decision, nt->decided_by, nt->decided_at, nt->comment, nt->id));
    ENSURE(changes == 1, CST_ERR_CONFLICT, "notice %s was decided already", nt->id);
    return CST_OK;
}
