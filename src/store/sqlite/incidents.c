/* incidents.c: incidents, their append-only timeline, breach clocks and notice versions
 * (INC-1..4) in the system store (system.db), on SQLite. */
#include <string.h>

#include "store/sqlite/db.h"
#include "store/sqlite/internal.h"
#include "store/store.h"

#define DB(st) cst_sqlite_system_db(st)

cst_err cst_sqlite_each(cst_store *st, cst_work *w, const char *sql, const char *a, const char *b,
                        cst_err (*visit)(sqlite3_stmt *, void *), void *ctx, int *rows)
{
    sqlite3_stmt *q = NULL;
    cst_db *db = DB(st);
    cst_db_lock(db);
    cst_err e = cst_db_stmt(db, w, &q, sql, "ss", a, b);
    int row = 1, n = 0;
    while (e == CST_OK && (e = cst_db_step(db, q, &row)) == CST_OK && row) {
        n++;
        e = visit(q, ctx);
    }
    cst_db_done(db, q);
    cst_db_unlock(db);
    if (rows)
        *rows = n;
    return e;
}

struct decode_one {
    void (*decode)(sqlite3_stmt *, void *);
    void *out;
};

static cst_err decode_one(sqlite3_stmt *q, void *p)
{
    struct decode_one *d = p;
    d->decode(q, d->out);
    return CST_OK;
}

cst_err cst_sqlite_one(cst_store *st, cst_work *w, const char *sql, const char *id,
                       void (*decode)(sqlite3_stmt *, void *), void *out)
{
    struct decode_one d = {decode, out};
    int rows = 0;
    TRY(cst_sqlite_each(st, w, sql, id, NULL, decode_one, &d, &rows));
    ENSURE(rows > 0, CST_ERR_NOT_FOUND, "no such resource");
    return CST_OK;
}

/* ---- incidents ---- */

#define INCIDENT_COLS                                                                              \
    "id, title, severity, status, owner, summary, root_cause, remediation, tenants, "              \
    "data_categories, created_at, updated_at, closed_at, confirmed_at, aware_at"

static void incident_row(sqlite3_stmt *q, void *out)
{
    cst_incident_row *i = out;
    memset(i, 0, sizeof(*i));
    cst_db_col_text(q, 0, i->id, sizeof(i->id));
    cst_db_col_text(q, 1, i->title, sizeof(i->title));
    cst_db_col_text(q, 2, i->severity, sizeof(i->severity));
    cst_db_col_text(q, 3, i->status, sizeof(i->status));
    cst_db_col_text(q, 4, i->owner, sizeof(i->owner));
    cst_db_col_text(q, 5, i->summary, sizeof(i->summary));
    cst_db_col_text(q, 6, i->root_cause, sizeof(i->root_cause));
    cst_db_col_text(q, 7, i->remediation, sizeof(i->remediation));
    cst_db_col_text(q, 8, i->tenants, sizeof(i->tenants));
    cst_db_col_text(q, 9, i->data_categories, sizeof(i->data_categories));
    i->created_at = sqlite3_column_int64(q, 10);
    i->updated_at = sqlite3_column_int64(q, 11);
    i->closed_at = sqlite3_column_int64(q, 12);
    i->confirmed_at = sqlite3_column_int64(q, 13);
    i->aware_at = sqlite3_column_int64(q, 14);
}

CST_SQLITE_VISITOR(incident, cst_incident_row, incident_row)

cst_err cst_sqlite_store_incident_put(cst_store *st, cst_work *w, const cst_incident_row *i)
{
    return cst_db_run(DB(st), w, NULL,
                      "INSERT OR REPLACE INTO incidents(" INCIDENT_COLS
                      ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      "ssssssssssiiiii", i->id, i->title, i->severity, i->status, i->owner,
                      i->summary, i->root_cause, i->remediation, i->tenants, i->data_categories,
                      i->created_at, i->updated_at, i->closed_at, i->confirmed_at, i->aware_at);
}

cst_err cst_sqlite_store_incident_get(cst_store *st, cst_work *w, const char *id,
                                      cst_incident_row *out)
{
    return cst_sqlite_one(st, w,
                          "SELECT " INCIDENT_COLS " FROM incidents WHERE id = ?1 AND ?2 IS NULL",
                          id, incident_row, out);
}

cst_err cst_sqlite_store_incident_list(cst_store *st, cst_work *w,
                                       cst_err (*fn)(const cst_incident_row *, void *), void *ctx)
{
    struct incident_visit v = {.fn = fn, .ctx = ctx};
    return cst_sqlite_each(st, w,
                           "SELECT " INCIDENT_COLS
                           " FROM incidents WHERE ?1 IS NULL AND ?2 IS NULL "
                           "ORDER BY created_at DESC, id",
                           NULL, NULL, incident_visit, &v, NULL);
}

/* ---- timeline: INSERT only (the schema's triggers refuse UPDATE and DELETE) ---- */

static void timeline_row(sqlite3_stmt *q, void *out)
{
    cst_timeline_row *t = out;
    memset(t, 0, sizeof(*t));
    cst_db_col_text(q, 0, t->incident_id, sizeof(t->incident_id));
    t->seq = sqlite3_column_int64(q, 1);
    t->at = sqlite3_column_int64(q, 2);
    cst_db_col_text(q, 3, t->actor, sizeof(t->actor));
    cst_db_col_text(q, 4, t->entry, sizeof(t->entry));
}

CST_SQLITE_VISITOR(timeline, cst_timeline_row, timeline_row)

cst_err cst_sqlite_store_timeline_add(cst_store *st, cst_work *w, const cst_timeline_row *t,
                                      int64_t *seq)
{
    TRY(cst_db_run(DB(st), w, NULL,
                   "INSERT INTO incident_timeline(incident_id, seq, at, actor, entry) "
                   "SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4 FROM incident_timeline "
                   "WHERE incident_id = ?1",
                   "siss", t->incident_id, t->at, t->actor, t->entry));
    return cst_db_int(DB(st), w, seq,
                      "SELECT max(seq) FROM incident_timeline WHERE incident_id = ?", "s",
                      t->incident_id);
}

cst_err cst_sqlite_store_timeline_list(cst_store *st, cst_work *w, const char *incident_id,
                                       cst_err (*fn)(const cst_timeline_row *, void *), void *ctx)
{
    struct timeline_visit v = {.fn = fn, .ctx = ctx};
    return cst_sqlite_each(st, w,
                           "SELECT incident_id, seq, at, actor, entry FROM incident_timeline "
                           "WHERE incident_id = ?1 AND ?2 IS NULL ORDER BY seq",
                           incident_id, NULL, timeline_visit, &v, NULL);
}

/* ---- breach clocks ---- */

#define CLOCK_COLS "incident_id, tenant_id, aware_at, deadline, hours, notice_id, sent_at"

static void clock_row(sqlite3_stmt *q, void *out)
{
    cst_clock_row *c = out;
    memset(c, 0, sizeof(*c));
    cst_db_col_text(q, 0, c->incident_id, sizeof(c->incident_id));
    cst_db_col_text(q, 1, c->tenant_id, sizeof(c->tenant_id));
    c->aware_at = sqlite3_column_int64(q, 2);
    c->deadline = sqlite3_column_int64(q, 3);
    c->hours = sqlite3_column_int(q, 4);
    cst_db_col_text(q, 5, c->notice_id, sizeof(c->notice_id));
    c->sent_at = sqlite3_column_int64(q, 6);
}

CST_SQLITE_VISITOR(clock, cst_clock_row, clock_row)

cst_err cst_sqlite_store_clock_put(cst_store *st, cst_work *w, const cst_clock_row *c)
{
    return cst_db_run(DB(st), w, NULL,
                      "INSERT OR REPLACE INTO breach_clocks(" CLOCK_COLS
                      ") VALUES(?, ?, ?, ?, ?, ?, ?)",
                      "ssiiisi", c->incident_id, c->tenant_id, c->aware_at, c->deadline,
                      (int64_t)c->hours, c->notice_id, c->sent_at);
}

cst_err cst_sqlite_store_clock_list(cst_store *st, cst_work *w, const char *incident_id,
                                    cst_err (*fn)(const cst_clock_row *, void *), void *ctx)
{
    struct clock_visit v = {.fn = fn, .ctx = ctx};
    return cst_sqlite_each(st, w,
                           "SELECT " CLOCK_COLS
                           " FROM breach_clocks WHERE (?1 IS NULL OR incident_id = ?1) "
                           "AND ?2 IS NULL ORDER BY deadline, tenant_id",
                           incident_id, NULL, clock_visit, &v, NULL);
}

/* ---- notices ---- */

#define NOTICE_COLS                                                                                \
    "id, incident_id, tenant_id, version, sent_at, deadline, sent_by, document, decision, "        \
    "decided_by, decided_at, comment"

static void notice_row(sqlite3_stmt *q, void *out)
{
    cst_notice_row *nt = out;
    memset(nt, 0, sizeof(*nt));
    cst_db_col_text(q, 0, nt->id, sizeof(nt->id));
    cst_db_col_text(q, 1, nt->incident_id, sizeof(nt->incident_id));
    cst_db_col_text(q, 2, nt->tenant_id, sizeof(nt->tenant_id));
    nt->version = sqlite3_column_int(q, 3);
    nt->sent_at = sqlite3_column_int64(q, 4);
    nt->deadline = sqlite3_column_int64(q, 5);
    cst_db_col_text(q, 6, nt->sent_by, sizeof(nt->sent_by));
    cst_db_col_text(q, 7, nt->document, sizeof(nt->document));
    cst_db_col_text(q, 8, nt->decision, sizeof(nt->decision));
    cst_db_col_text(q, 9, nt->decided_by, sizeof(nt->decided_by));
    nt->decided_at = sqlite3_column_int64(q, 10);
    cst_db_col_text(q, 11, nt->comment, sizeof(nt->comment));
}

CST_SQLITE_VISITOR(notice, cst_notice_row, notice_row)

cst_err cst_sqlite_store_notice_add(cst_store *st, cst_work *w, const cst_notice_row *nt)
{
    return cst_db_run(DB(st), w, NULL,
                      "INSERT INTO notices(" NOTICE_COLS
                      ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      "sssiiissssis", nt->id, nt->incident_id, nt->tenant_id, (int64_t)nt->version,
                      nt->sent_at, nt->deadline, nt->sent_by, nt->document, nt->decision,
                      nt->decided_by, nt->decided_at, nt->comment);
}

cst_err cst_sqlite_store_notice_get(cst_store *st, cst_work *w, const char *id, cst_notice_row *out)
{
    return cst_sqlite_one(st, w, "SELECT " NOTICE_COLS " FROM notices WHERE id = ?1 AND ?2 IS NULL",
                          id, notice_row, out);
}

cst_err cst_sqlite_store_notice_list(cst_store *st, cst_work *w, const char *incident_id,
                                     const char *tenant_id,
                                     cst_err (*fn)(const cst_notice_row *, void *), void *ctx)
{
    struct notice_visit v = {.fn = fn, .ctx = ctx};
    return cst_sqlite_each(
        st, w,
        "SELECT " NOTICE_COLS " FROM notices WHERE (?1 IS NULL OR incident_id = ?1) "
        "AND (?2 IS NULL OR tenant_id = ?2) ORDER BY sent_at DESC, version DESC, id",
        incident_id, tenant_id, notice_visit, &v, NULL);
}

cst_err cst_sqlite_store_notice_decide(cst_store *st, cst_work *w, const cst_notice_row *nt)
{
    int changes = 0;
    TRY(cst_db_run(DB(st), w, &changes,
                   "UPDATE notices SET decision = ?, decided_by = ?, decided_at = ?, comment = ? "
                   "WHERE id = ? AND decision = 'pending'",
                   "ssiss", nt->decision, nt->decided_by, nt->decided_at, nt->comment, nt->id));
    ENSURE(changes == 1, CST_ERR_CONFLICT, "notice %s was decided already", nt->id);
    return CST_OK;
}
