/* keys.c: ENC-4 bookkeeping of tenant key versions (encryption counts) and of each tenant's
 * background re-encryption, in the system store (system.db), on SQLite. */
#include <string.h>

#include "store/sqlite/db.h"
#include "store/sqlite/internal.h"
#include "store/store.h"

#define DB(st) cst_sqlite_system_db(st)

static void key_row(sqlite3_stmt *q, void *out)
{
    cst_key_row *k = out;
    memset(k, 0, sizeof(*k));
    cst_db_col_text(q, 0, k->purpose, sizeof(k->purpose));
    k->version = (uint32_t)sqlite3_column_int64(q, 1);
    k->created_at = sqlite3_column_int64(q, 2);
    k->encryptions = sqlite3_column_int64(q, 3);
}

CST_SQLITE_VISITOR(key, cst_key_row, key_row)

cst_err cst_sqlite_store_key_list(cst_store *st, cst_work *w, const char *tenant_id,
                                  cst_err (*fn)(const cst_key_row *, void *), void *ctx)
{
    struct key_visit v = {.fn = fn, .ctx = ctx};
    return cst_sqlite_each(st, w,
                           "SELECT purpose, version, created_at, encryptions FROM tenant_keys "
                           "WHERE tenant_id = ?1 AND ?2 IS NULL ORDER BY purpose, version",
                           tenant_id, NULL, key_visit, &v, NULL);
}

cst_err cst_sqlite_store_key_count(cst_store *st, cst_work *w, const char *tenant_id,
                                   const char *purpose, uint32_t version, int64_t n)
{
    return cst_db_run(DB(st), w, NULL,
                      "UPDATE tenant_keys SET encryptions = encryptions + ? WHERE tenant_id = ? "
                      "AND purpose = ? AND version = ?",
                      "issi", n, tenant_id, purpose, (int64_t)version);
}

#define REWRAP_COLS "tenant_id, target, state, done, total, started_at, finished_at"

static void rewrap_row(sqlite3_stmt *q, void *out)
{
    cst_rewrap_row *r = out;
    memset(r, 0, sizeof(*r));
    cst_db_col_text(q, 0, r->tenant_id, sizeof(r->tenant_id));
    r->target = (uint32_t)sqlite3_column_int64(q, 1);
    cst_db_col_text(q, 2, r->state, sizeof(r->state));
    r->done = sqlite3_column_int64(q, 3);
    r->total = sqlite3_column_int64(q, 4);
    r->started_at = sqlite3_column_int64(q, 5);
    r->finished_at = sqlite3_column_int64(q, 6);
}

CST_SQLITE_VISITOR(rewrap, cst_rewrap_row, rewrap_row)

cst_err cst_sqlite_store_rewrap_put(cst_store *st, cst_work *w, const cst_rewrap_row *r)
{
    return cst_db_run(DB(st), w, NULL,
                      "INSERT OR REPLACE INTO key_rewrap(" REWRAP_COLS
                      ") VALUES(?, ?, ?, ?, ?, ?, ?)",
                      "sisiiii", r->tenant_id, (int64_t)r->target, r->state, r->done, r->total,
                      r->started_at, r->finished_at);
}

cst_err cst_sqlite_store_rewrap_get(cst_store *st, cst_work *w, const char *tenant_id,
                                    cst_rewrap_row *out)
{
    return cst_sqlite_one(
        st, w, "SELECT " REWRAP_COLS " FROM key_rewrap WHERE tenant_id = ?1 AND ?2 IS NULL",
        tenant_id, rewrap_row, out);
}

cst_err cst_sqlite_store_rewrap_running(cst_store *st, cst_work *w,
                                        cst_err (*fn)(const cst_rewrap_row *, void *), void *ctx)
{
    struct rewrap_visit v = {.fn = fn, .ctx = ctx};
    return cst_sqlite_each(st, w,
                           "SELECT " REWRAP_COLS " FROM key_rewrap WHERE state = 'running' AND "
                           "?1 IS NULL AND ?2 IS NULL ORDER BY tenant_id",
                           NULL, NULL, rewrap_visit, &v, NULL);
}
