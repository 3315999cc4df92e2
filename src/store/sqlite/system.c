/* system.c: the system store (system.db) on SQLite: tenants, wrapped keys, users, tokens. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite/ckpt.h"
#include "store/sqlite/db.h"
#include "store/sqlite/internal.h"
#include "store/store.h"
#include "util/util.h"

/* The system store's handle: the driver table first (store/driver.h), then SQLite's own. */
typedef struct sq_store {
    cst_store base;
    cst_db *db;
    cst_ckpt *ck; /* checkpoints system.db's WAL and its tenant stores' (ckpt.h) */
    char data_dir[PATH_MAX];
} sq_store;

#define SQ(st) ((sq_store *)(st))

const char cst_sqlite_system_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tenants("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, region TEXT NOT NULL,"
    "  plan TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  settings TEXT NOT NULL DEFAULT '{}', event TEXT NOT NULL DEFAULT '',"
    "  event_at INTEGER NOT NULL DEFAULT 0, state_since INTEGER NOT NULL DEFAULT 0,"
    "  last_active_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS tenant_keys("
    "  tenant_id TEXT NOT NULL REFERENCES tenants(id), purpose TEXT NOT NULL,"
    "  version INTEGER NOT NULL, wrapped BLOB NOT NULL, created_at INTEGER NOT NULL,"
    "  encryptions INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(tenant_id, purpose, version));"
    /* ENC-4: a tenant's background re-encryption to a new DEK version (one row per tenant) */
    "CREATE TABLE IF NOT EXISTS key_rewrap("
    "  tenant_id TEXT PRIMARY KEY, target INTEGER NOT NULL, state TEXT NOT NULL,"
    "  done INTEGER NOT NULL, total INTEGER NOT NULL, started_at INTEGER NOT NULL,"
    "  finished_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS users("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, username TEXT NOT NULL,"
    "  pw_hash TEXT NOT NULL, roles INTEGER NOT NULL, grants TEXT NOT NULL DEFAULT '[]',"
    "  pw_history TEXT NOT NULL DEFAULT '[]', must_change_password INTEGER NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0, failed_logins INTEGER NOT NULL DEFAULT 0,"
    "  locked_until INTEGER NOT NULL DEFAULT 0, totp_state INTEGER NOT NULL DEFAULT 0,"
    "  totp_sealed BLOB, totp_last_step INTEGER NOT NULL DEFAULT 0,"
    "  recovery TEXT NOT NULL DEFAULT '[]', created_at INTEGER NOT NULL,"
    "  last_login_at INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(tenant_id, username));"
    "CREATE TABLE IF NOT EXISTS tokens("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES users(id),"
    "  hash BLOB NOT NULL, name TEXT NOT NULL, session INTEGER NOT NULL,"
    "  perms INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    "  last_used_at INTEGER NOT NULL, grant_id TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS tokens_user ON tokens(user_id);"
    /* BAK-1..4, RET-4: the backup catalogue, drill evidence and erased tenants */
    "CREATE TABLE IF NOT EXISTS tombstones("
    "  tenant_id TEXT PRIMARY KEY, erased_at INTEGER NOT NULL,"
    "  certificate_id TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS backups("
    "  id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,"
    "  status TEXT NOT NULL, origin TEXT NOT NULL, location TEXT NOT NULL, region TEXT NOT NULL,"
    "  size INTEGER NOT NULL, sha256 TEXT NOT NULL, tenants INTEGER NOT NULL,"
    "  records INTEGER NOT NULL, error TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS drills("
    "  id TEXT PRIMARY KEY, backup_id TEXT NOT NULL, started_at INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL, tenants INTEGER NOT NULL, records INTEGER NOT NULL,"
    "  ok INTEGER NOT NULL, error TEXT NOT NULL DEFAULT '');"
    /* RET-4: signed certificates of deletion; RET-2: billing records kept after an erase */
    "CREATE TABLE IF NOT EXISTS certificates("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, issued_at INTEGER NOT NULL,"
    "  document TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS retained("
    "  tenant_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    "  buckets INTEGER NOT NULL, records INTEGER NOT NULL);"
    /* INC-1..4: incidents, their append-only timeline, breach clocks, notice versions */
    "CREATE TABLE IF NOT EXISTS incidents("
    "  id TEXT PRIMARY KEY, title TEXT NOT NULL, severity TEXT NOT NULL, status TEXT NOT NULL,"
    "  owner TEXT NOT NULL, summary TEXT NOT NULL, root_cause TEXT NOT NULL,"
    "  remediation TEXT NOT NULL, tenants TEXT NOT NULL, data_categories TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, closed_at INTEGER NOT NULL,"
    "  confirmed_at INTEGER NOT NULL, aware_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS incident_timeline("
    "  incident_id TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL, entry TEXT NOT NULL, PRIMARY KEY(incident_id, seq));"
    "CREATE TRIGGER IF NOT EXISTS incident_timeline_no_update BEFORE UPDATE ON incident_timeline"
    "  BEGIN SELECT RAISE(ABORT, 'the incident timeline is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS incident_timeline_no_delete BEFORE DELETE ON incident_timeline"
    "  BEGIN SELECT RAISE(ABORT, 'the incident timeline is append-only'); END;"
    "CREATE TABLE IF NOT EXISTS breach_clocks("
    "  incident_id TEXT NOT NULL, tenant_id TEXT NOT NULL, aware_at INTEGER NOT NULL,"
    "  deadline INTEGER NOT NULL, hours INTEGER NOT NULL, notice_id TEXT NOT NULL,"
    "  sent_at INTEGER NOT NULL, PRIMARY KEY(incident_id, tenant_id));"
    "CREATE TABLE IF NOT EXISTS notices("
    "  id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, tenant_id TEXT NOT NULL,"
    "  version INTEGER NOT NULL, sent_at INTEGER NOT NULL, deadline INTEGER NOT NULL,"
    "  sent_by TEXT NOT NULL, document TEXT NOT NULL, decision TEXT NOT NULL,"
    "  decided_by TEXT NOT NULL, decided_at INTEGER NOT NULL, comment TEXT NOT NULL,"
    "  UNIQUE(incident_id, tenant_id, version));"
    "CREATE INDEX IF NOT EXISTS notices_tenant ON notices(tenant_id);"
    /* DET-1: alerts, one per attack (de-duplicated by type and key while not resolved) */
    "CREATE TABLE IF NOT EXISTS alerts("
    "  id TEXT PRIMARY KEY, type TEXT NOT NULL, severity TEXT NOT NULL, status TEXT NOT NULL,"
    "  tenant TEXT NOT NULL DEFAULT '', principal TEXT NOT NULL DEFAULT '',"
    "  source_ip TEXT NOT NULL DEFAULT '', first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL, count INTEGER NOT NULL, summary TEXT NOT NULL,"
    "  incident_id TEXT NOT NULL DEFAULT '', dedup_key TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS alerts_dedup ON alerts(type, dedup_key, status);"
    "CREATE INDEX IF NOT EXISTS alerts_seen ON alerts(last_seen);"
    /* DET-1: signed webhook deliveries of alerts, queued durably and retried */
    "CREATE TABLE IF NOT EXISTS webhook_deliveries("
    "  id TEXT PRIMARY KEY, alert_id TEXT NOT NULL, tenant TEXT NOT NULL DEFAULT '',"
    "  url TEXT NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL, status TEXT NOT NULL, last_status INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,"
    "  delivered_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS webhook_due ON webhook_deliveries(status, next_at);"
    "CREATE INDEX IF NOT EXISTS webhook_alert ON webhook_deliveries(alert_id);"
    /* IAM-6: access review campaigns (one open per scope), their decisions, reminders */
    "CREATE TABLE IF NOT EXISTS reviews("
    "  id TEXT PRIMARY KEY, scope TEXT NOT NULL, state TEXT NOT NULL,"
    "  opened_at INTEGER NOT NULL, opened_by TEXT NOT NULL, snapshot TEXT NOT NULL,"
    "  snapshot_sha256 TEXT NOT NULL, attested_at INTEGER NOT NULL DEFAULT 0,"
    "  attested_by TEXT NOT NULL DEFAULT '', attestation TEXT NOT NULL DEFAULT '');"
    "CREATE UNIQUE INDEX IF NOT EXISTS reviews_open ON reviews(scope) WHERE state = 'open';"
    "CREATE INDEX IF NOT EXISTS reviews_scope ON reviews(scope, opened_at);"
    "CREATE TABLE IF NOT EXISTS review_decisions("
    "  review_id TEXT NOT NULL, principal TEXT NOT NULL, decision TEXT NOT NULL,"
    "  decided_by TEXT NOT NULL, at INTEGER NOT NULL, comment TEXT NOT NULL,"
    "  PRIMARY KEY(review_id, principal));"
    /* issue 20: leases (one node at a time: trivially this one on SQLite, kept for uniformity) */
    "CREATE TABLE IF NOT EXISTS leases("
    "  name TEXT PRIMARY KEY, holder TEXT NOT NULL, until INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS review_reminders("
    "  scope TEXT PRIMARY KEY, reminded_at INTEGER NOT NULL);"
    /* IAM-8: operators' access requests (lockbox) and the grants they become */
    "CREATE TABLE IF NOT EXISTS access_requests("
    "  id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, requester TEXT NOT NULL,"
    "  requester_name TEXT NOT NULL, reason TEXT NOT NULL, justification TEXT NOT NULL,"
    "  ticket TEXT NOT NULL DEFAULT '', perms INTEGER NOT NULL, buckets TEXT NOT NULL,"
    "  duration_seconds INTEGER NOT NULL, state TEXT NOT NULL, break_glass INTEGER NOT NULL,"
    "  review_state TEXT NOT NULL, reviewed_by TEXT NOT NULL DEFAULT '',"
    "  reviewed_at INTEGER NOT NULL DEFAULT 0, review_comment TEXT NOT NULL DEFAULT '',"
    "  incident_id TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL, approvals TEXT NOT NULL DEFAULT '[]',"
    "  decided_by TEXT NOT NULL DEFAULT '', decision_comment TEXT NOT NULL DEFAULT '',"
    "  decided_at INTEGER NOT NULL DEFAULT 0, window_from INTEGER NOT NULL DEFAULT 0,"
    "  window_until INTEGER NOT NULL DEFAULT 0, token_id TEXT NOT NULL DEFAULT '',"
    "  use_requests INTEGER NOT NULL DEFAULT 0, use_records_read INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS access_requests_tenant ON access_requests(tenant_id, created_at);";

/* Columns added after the first release, for data dirs made before them. */
static const char *const migrations[][2] = {
    {"tenants", "event TEXT NOT NULL DEFAULT ''"},
    {"tenants", "event_at INTEGER NOT NULL DEFAULT 0"},
    {"tenants", "state_since INTEGER NOT NULL DEFAULT 0"},
    {"tenants", "last_active_at INTEGER NOT NULL DEFAULT 0"},
    {"tokens", "grant_id TEXT NOT NULL DEFAULT ''"},
    {"tenant_keys", "encryptions INTEGER NOT NULL DEFAULT 0"},
};

static cst_err migrate(cst_db *db)
{
    for (size_t i = 0; i < sizeof(migrations) / sizeof(migrations[0]); i++) {
        char col[64], probe[160], alter[256];
        (void)sscanf(migrations[i][1], "%63s", col);
        TRY(cst_fmt(probe, sizeof(probe), "SELECT %s FROM %s LIMIT 0", col, migrations[i][0]));
        if (cst_db_run_once(db, NULL, NULL, probe, "") == CST_OK)
            continue;
        cst_err_clear();
        TRY(cst_fmt(alter, sizeof(alter), "ALTER TABLE %s ADD COLUMN %s", migrations[i][0],
                    migrations[i][1]));
        TRY(cst_db_run_once(db, NULL, NULL, alter, ""));
    }
    return CST_OK;
}

cst_err cst_sqlite_store_open(const cst_store_conf *c, bool create, cst_store **out)
{
    const char *data_dir = c->data_dir;
    sq_store *st = calloc(1, sizeof(*st));
    ENSURE(st != NULL, CST_ERR_INTERNAL, "out of memory");
    st->base.drv = &cst_sqlite_driver;
    char path[PATH_MAX];
    cst_err e = cst_fmt(st->data_dir, sizeof(st->data_dir), "%s", data_dir);
    if (e == CST_OK)
        e = cst_sqlite_system_path(data_dir, path, sizeof(path));
    if (e == CST_OK)
        e = cst_ckpt_start(true, &st->ck);
    if (e == CST_OK)
        e = cst_db_open(path, create, cst_sqlite_system_schema, &st->db);
    if (e == CST_OK && (e = migrate(st->db)) != CST_OK)
        cst_db_close(st->db);
    if (e != CST_OK) {
        cst_ckpt_stop(st->ck);
        free(st);
        return e;
    }
    cst_db_watch(st->db, st->ck);
    *out = &st->base;
    return CST_OK;
}

void cst_sqlite_store_close(cst_store *st)
{
    if (!st)
        return;
    cst_db_checkpoint(SQ(st)->db);
    cst_db_close(SQ(st)->db);
    cst_ckpt_stop(SQ(st)->ck);
    free(st);
}

cst_db *cst_sqlite_system_db(cst_store *st)
{
    return SQ(st)->db;
}

cst_ckpt *cst_sqlite_ckpt(cst_store *st)
{
    return SQ(st)->ck;
}

const char *cst_sqlite_store_data_dir(const cst_store *st)
{
    return ((const sq_store *)st)->data_dir;
}

/* Runs a single-row query under the lock; fn copies the row out. CST_ERR_NOT_FOUND when no row
 * matched. */
static cst_err query_one(cst_store *st, cst_work *w, void (*fn)(sqlite3_stmt *, void *), void *out,
                         const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *q = NULL;
    cst_db_lock(SQ(st)->db);
    cst_err e = b ? cst_db_stmt(SQ(st)->db, w, &q, sql, "ss", a, b)
                  : cst_db_stmt(SQ(st)->db, w, &q, sql, "s", a);
    int row = 0;
    if (e == CST_OK)
        e = cst_db_step(SQ(st)->db, q, &row);
    if (e == CST_OK && row)
        fn(q, out);
    cst_db_done(SQ(st)->db, q);
    cst_db_unlock(SQ(st)->db);
    TRY(e);
    ENSURE(row, CST_ERR_NOT_FOUND, "no such resource");
    return CST_OK;
}

static void meta_row(sqlite3_stmt *q, void *out)
{
    struct {
        char *p;
        size_t n;
    } *dst = out;
    cst_db_col_text(q, 0, dst->p, dst->n);
}

cst_err cst_sqlite_store_meta_get(cst_store *st, cst_work *w, const char *k, char *out, size_t n)
{
    struct {
        char *p;
        size_t n;
    } dst = {out, n};
    return query_one(st, w, meta_row, &dst, "SELECT v FROM meta WHERE k = ?", k, NULL);
}

cst_err cst_sqlite_store_meta_set(cst_store *st, cst_work *w, const char *k, const char *v)
{
    return cst_db_run(SQ(st)->db, w, NULL,
                      "INSERT INTO meta(k, v) VALUES(?, ?) ON CONFLICT(k) DO UPDATE SET v = "
                      "excluded.v",
                      "ss", k, v);
}

#define TENANT_COLS                                                                                \
    "id, name, region, plan, state, created_at, settings, event, event_at, state_since, "          \
    "last_active_at"

static void tenant_row(sqlite3_stmt *q, void *out)
{
    cst_tenant_row *t = out;
    cst_db_col_text(q, 0, t->id, sizeof(t->id));
    cst_db_col_text(q, 1, t->name, sizeof(t->name));
    cst_db_col_text(q, 2, t->region, sizeof(t->region));
    cst_db_col_text(q, 3, t->plan, sizeof(t->plan));
    cst_db_col_text(q, 4, t->state, sizeof(t->state));
    t->created_at = sqlite3_column_int64(q, 5);
    cst_db_col_text(q, 6, t->settings, sizeof(t->settings));
    cst_db_col_text(q, 7, t->event, sizeof(t->event));
    t->event_at = sqlite3_column_int64(q, 8);
    t->state_since = sqlite3_column_int64(q, 9);
    t->last_active_at = sqlite3_column_int64(q, 10);
}

static cst_err insert_key(cst_store *st, cst_work *w, const char *tenant_id, const char *purpose,
                          const cst_buf *blob, int64_t now)
{
    return cst_db_run(SQ(st)->db, w, NULL,
                      "INSERT INTO tenant_keys(tenant_id, purpose, version, wrapped, created_at) "
                      "VALUES(?, ?, 1, ?, ?)",
                      "ssbi", tenant_id, purpose, blob->data, blob->len, now);
}

cst_err cst_sqlite_store_tenant_create(cst_store *st, cst_work *w, const cst_tenant_row *t,
                                       const cst_buf *dek, const cst_buf *idx,
                                       const cst_user_row *owner)
{
    TRY(cst_db_begin(SQ(st)->db, w));
    cst_err e =
        cst_db_run(SQ(st)->db, w, NULL,
                   "INSERT INTO tenants(" TENANT_COLS ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "sssssissiii", t->id, t->name, t->region, t->plan, t->state, t->created_at,
                   t->settings[0] ? t->settings : "{}", t->event, t->event_at, t->state_since,
                   t->last_active_at);
    if (e == CST_ERR_CONFLICT)
        e = cst_fail(CST_ERR_CONFLICT, "a tenant with that name exists");
    if (e == CST_OK)
        e = insert_key(st, w, t->id, "dek", dek, t->created_at);
    if (e == CST_OK)
        e = insert_key(st, w, t->id, "idx", idx, t->created_at);
    if (e == CST_OK)
        e = cst_sqlite_store_user_create(st, w, owner);
    if (e != CST_OK) {
        cst_db_rollback(SQ(st)->db, w);
        return e;
    }
    return cst_db_commit(SQ(st)->db, w);
}

cst_err cst_sqlite_store_tenant_get(cst_store *st, cst_work *w, const char *id, cst_tenant_row *out)
{
    return query_one(st, w, tenant_row, out, "SELECT " TENANT_COLS " FROM tenants WHERE id = ?", id,
                     NULL);
}

cst_err cst_sqlite_store_tenant_by_name(cst_store *st, cst_work *w, const char *name,
                                        cst_tenant_row *out)
{
    return query_one(st, w, tenant_row, out, "SELECT " TENANT_COLS " FROM tenants WHERE name = ?",
                     name, NULL);
}

cst_err cst_sqlite_store_tenant_list(cst_store *st, cst_work *w, const char *after, int limit,
                                     cst_err (*fn)(const cst_tenant_row *, void *), void *ctx)
{
    sqlite3_stmt *q = NULL;
    cst_db_lock(SQ(st)->db);
    cst_err e = cst_db_stmt(SQ(st)->db, w, &q,
                            "SELECT " TENANT_COLS " FROM tenants WHERE id > ? ORDER BY id LIMIT ?",
                            "si", after ? after : "", (int64_t)limit);
    int row = 1;
    while (e == CST_OK && (e = cst_db_step(SQ(st)->db, q, &row)) == CST_OK && row) {
        cst_tenant_row t;
        tenant_row(q, &t);
        e = fn(&t, ctx);
    }
    cst_db_done(SQ(st)->db, q);
    cst_db_unlock(SQ(st)->db);
    return e;
}

cst_err cst_sqlite_store_key_latest(cst_store *st, cst_work *w, const char *tenant_id,
                                    const char *purpose, uint32_t *version, cst_buf *blob)
{
    sqlite3_stmt *q = NULL;
    cst_db_lock(SQ(st)->db);
    cst_err e = cst_db_stmt(SQ(st)->db, w, &q,
                            "SELECT version, wrapped FROM tenant_keys WHERE tenant_id = ? AND "
                            "purpose = ? ORDER BY version DESC LIMIT 1",
                            "ss", tenant_id, purpose);
    int row = 0;
    if (e == CST_OK)
        e = cst_db_step(SQ(st)->db, q, &row);
    if (e == CST_OK && !row)
        e = cst_fail(CST_ERR_INTEGRITY, "tenant %s has no %s key", tenant_id, purpose);
    if (e == CST_OK) {
        *version = (uint32_t)sqlite3_column_int64(q, 0);
        e = cst_buf_append(blob, sqlite3_column_blob(q, 1), (size_t)sqlite3_column_bytes(q, 1));
    }
    cst_db_done(SQ(st)->db, q);
    cst_db_unlock(SQ(st)->db);
    return e;
}

#define USER_COLS                                                                                  \
    "id, tenant_id, username, pw_hash, roles, grants, pw_history, must_change_password, "          \
    "disabled, failed_logins, locked_until, totp_state, totp_sealed, totp_last_step, recovery, "   \
    "created_at, last_login_at"

static void user_row(sqlite3_stmt *q, void *out)
{
    cst_user_row *u = out;
    memset(u, 0, sizeof(*u));
    cst_db_col_text(q, 0, u->id, sizeof(u->id));
    cst_db_col_text(q, 1, u->tenant_id, sizeof(u->tenant_id));
    cst_db_col_text(q, 2, u->username, sizeof(u->username));
    cst_db_col_text(q, 3, u->pw_hash, sizeof(u->pw_hash));
    u->roles = (uint32_t)sqlite3_column_int64(q, 4);
    cst_db_col_text(q, 5, u->grants, sizeof(u->grants));
    cst_db_col_text(q, 6, u->pw_history, sizeof(u->pw_history));
    u->must_change_password = sqlite3_column_int(q, 7) != 0;
    u->disabled = sqlite3_column_int(q, 8) != 0;
    u->failed_logins = sqlite3_column_int(q, 9);
    u->locked_until = sqlite3_column_int64(q, 10);
    u->totp_state = sqlite3_column_int(q, 11);
    size_t n = (size_t)sqlite3_column_bytes(q, 12);
    if (n <= sizeof(u->totp_sealed)) {
        if (n)
            memcpy(u->totp_sealed, sqlite3_column_blob(q, 12), n);
        u->totp_sealed_len = n;
    }
    u->totp_last_step = sqlite3_column_int64(q, 13);
    cst_db_col_text(q, 14, u->recovery, sizeof(u->recovery));
    u->created_at = sqlite3_column_int64(q, 15);
    u->last_login_at = sqlite3_column_int64(q, 16);
}

cst_err cst_sqlite_store_user_create(cst_store *st, cst_work *w, const cst_user_row *u)
{
    cst_err e =
        cst_db_run(SQ(st)->db, w, NULL,
                   "INSERT INTO users(" USER_COLS
                   ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, 0)",
                   "ssssissiiibisi", u->id, u->tenant_id, u->username, u->pw_hash,
                   (int64_t)u->roles, u->grants[0] ? u->grants : "[]",
                   u->pw_history[0] ? u->pw_history : "[]", (int64_t)u->must_change_password,
                   (int64_t)u->disabled, (int64_t)u->totp_state, u->totp_sealed, u->totp_sealed_len,
                   u->totp_last_step, u->recovery[0] ? u->recovery : "[]", u->created_at);
    ENSURE(e != CST_ERR_CONFLICT, CST_ERR_CONFLICT, "a user with that username exists");
    return e;
}

cst_err cst_sqlite_store_user_get(cst_store *st, cst_work *w, const char *id, cst_user_row *out)
{
    return query_one(st, w, user_row, out, "SELECT " USER_COLS " FROM users WHERE id = ?", id,
                     NULL);
}

cst_err cst_sqlite_store_user_by_name(cst_store *st, cst_work *w, const char *tenant_id,
                                      const char *username, cst_user_row *out)
{
    return query_one(st, w, user_row, out,
                     "SELECT " USER_COLS " FROM users WHERE tenant_id = ? AND username = ?",
                     tenant_id, username);
}

cst_err cst_sqlite_store_user_update(cst_store *st, cst_work *w, const cst_user_row *u)
{
    int n = 0;
    TRY(cst_db_run(SQ(st)->db, w, &n,
                   "UPDATE users SET pw_hash = ?, roles = ?, grants = ?, pw_history = ?, "
                   "must_change_password = ?, disabled = ?, totp_state = ?, totp_sealed = ?, "
                   "totp_last_step = ?, recovery = ? WHERE id = ?",
                   "sissiiibiss", u->pw_hash, (int64_t)u->roles, u->grants, u->pw_history,
                   (int64_t)u->must_change_password, (int64_t)u->disabled, (int64_t)u->totp_state,
                   u->totp_sealed, u->totp_sealed_len, u->totp_last_step, u->recovery, u->id));
    ENSURE(n == 1, CST_ERR_NOT_FOUND, "no such user");
    return CST_OK;
}

cst_err cst_sqlite_store_user_list(cst_store *st, cst_work *w, const char *tenant_id,
                                   cst_err (*fn)(const cst_user_row *, void *), void *ctx)
{
    sqlite3_stmt *q = NULL;
    cst_db_lock(SQ(st)->db);
    cst_err e = cst_db_stmt(SQ(st)->db, w, &q,
                            "SELECT " USER_COLS " FROM users WHERE tenant_id = ? ORDER BY username",
                            "s", tenant_id);
    int row = 1;
    while (e == CST_OK && (e = cst_db_step(SQ(st)->db, q, &row)) == CST_OK && row) {
        cst_user_row u;
        user_row(q, &u);
        e = fn(&u, ctx);
    }
    cst_db_done(SQ(st)->db, q);
    cst_db_unlock(SQ(st)->db);
    return e;
}

cst_err cst_sqlite_store_user_delete(cst_store *st, cst_work *w, const char *tenant_id,
                                     const char *id)
{
    int n = 0;
    TRY(cst_db_begin(SQ(st)->db, w));
    cst_err e =
        cst_db_run(SQ(st)->db, w, NULL, "DELETE FROM tokens WHERE user_id = ? AND tenant_id = ?",
                   "ss", id, tenant_id);
    if (e == CST_OK)
        e = cst_db_run(SQ(st)->db, w, &n, "DELETE FROM users WHERE id = ? AND tenant_id = ?", "ss",
                       id, tenant_id);
    if (e == CST_OK && n != 1)
        e = cst_fail(CST_ERR_NOT_FOUND, "no such user");
    if (e != CST_OK) {
        cst_db_rollback(SQ(st)->db, w);
        return e;
    }
    return cst_db_commit(SQ(st)->db, w);
}

cst_err cst_sqlite_store_user_count(cst_store *st, cst_work *w, const char *tenant_id,
                                    uint32_t role_mask, int *count)
{
    sqlite3_stmt *q = NULL;
    int row = 0;
    cst_db_lock(SQ(st)->db);
    cst_err e = cst_db_stmt(SQ(st)->db, w, &q,
                            "SELECT count(*) FROM users WHERE tenant_id = ? AND (roles & ?) = ? "
                            "AND disabled = 0",
                            "sii", tenant_id, (int64_t)role_mask, (int64_t)role_mask);
    if (e == CST_OK)
        e = cst_db_step(SQ(st)->db, q, &row);
    *count = row ? sqlite3_column_int(q, 0) : 0;
    cst_db_done(SQ(st)->db, q);
    cst_db_unlock(SQ(st)->db);
    return e;
}

cst_err cst_sqlite_store_login_failed(cst_store *st, const char *user_id, int64_t now, int max,
                                      int64_t lock_us, int *failed, int64_t *locked_until)
{
    sqlite3_stmt *q = NULL;
    int row = 0;
    cst_db_lock(SQ(st)->db);
    cst_err e =
        cst_db_stmt(SQ(st)->db, NULL, &q,
                    /* IAM-2: a lock that has expired starts a new count (one failure after
                     * it must not re-lock the account) */
                    "UPDATE users SET failed_logins = CASE WHEN locked_until > 0 AND "
                    "locked_until <= ?1 THEN 1 ELSE failed_logins + 1 END, locked_until = CASE "
                    "WHEN (CASE WHEN locked_until > 0 AND locked_until <= ?1 THEN 1 ELSE "
                    "failed_logins + 1 END) >= ?2 THEN ?3 WHEN locked_until <= ?1 THEN 0 ELSE "
                    "locked_until END WHERE id = ?4 RETURNING failed_logins, locked_until",
                    "iiis", now, (int64_t)max, now + lock_us, user_id);
    if (e == CST_OK)
        e = cst_db_step(SQ(st)->db, q, &row);
    if (e == CST_OK && row) {
        *failed = sqlite3_column_int(q, 0);
        *locked_until = sqlite3_column_int64(q, 1);
        e = cst_db_step(SQ(st)->db, q, &row);
    }
    cst_db_done(SQ(st)->db, q);
    cst_db_unlock(SQ(st)->db);
    return e;
}

cst_err cst_sqlite_store_login_ok(cst_store *st, cst_work *w, const char *user_id, int64_t now)
{
    return cst_db_run(SQ(st)->db, w, NULL,
                      "UPDATE users SET failed_logins = 0, locked_until = 0, last_login_at = ? "
                      "WHERE id = ?",
                      "is", now, user_id);
}

cst_err cst_sqlite_store_login_unlock(cst_store *st, cst_work *w, const char *user_id)
{
    int n = 0;
    TRY(cst_db_run(SQ(st)->db, w, &n,
                   "UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = ?", "s",
                   user_id));
    ENSURE(n == 1, CST_ERR_NOT_FOUND, "no such user");
    return CST_OK;
}

/* IAM-2, IAM-3: a second factor, once presented, stays used whatever becomes of the request
 * (a failed request's changes are rolled back), and the losing side of a concurrent replay
 * writes nothing into its request's transaction: the failed attempt it goes on to count
 * (cst_store_login_failed, outside that transaction) must not be rolled back with it. Both
 * updates below therefore commit at once, outside any unit of work. */
cst_err cst_sqlite_store_totp_advance(cst_store *st, const char *user_id, int64_t step)
{
    int n = 0;
    cst_err e =
        cst_db_run(SQ(st)->db, NULL, &n,
                   "UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?", "isi",
                   step, user_id, step);
    TRY(e);
    ENSURE(n == 1, CST_ERR_UNAUTHENTICATED,
           "this two-factor code was already used; wait for the next one");
    return CST_OK;
}

cst_err cst_sqlite_store_recovery_swap(cst_store *st, const char *user_id, const char *old_json,
                                       const char *new_json)
{
    int n = 0;
    cst_err e = cst_db_run(SQ(st)->db, NULL, &n,
                           "UPDATE users SET recovery = ? WHERE id = ? AND recovery = ?", "sss",
                           new_json, user_id, old_json);
    TRY(e);
    ENSURE(n == 1, CST_ERR_UNAUTHENTICATED, "this recovery code was already used");
    return CST_OK;
}

cst_err cst_sqlite_store_tenant_settings_set(cst_store *st, cst_work *w, const char *tenant_id,
                                             const char *settings_json)
{
    int n = 0;
    TRY(cst_db_run(SQ(st)->db, w, &n, "UPDATE tenants SET settings = ? WHERE id = ?", "ss",
                   settings_json, tenant_id));
    ENSURE(n == 1, CST_ERR_NOT_FOUND, "no such tenant");
    return CST_OK;
}

#define TOKEN_COLS                                                                                 \
    "id, tenant_id, user_id, hash, name, session, perms, created_at, expires_at, last_used_at, "   \
    "grant_id"

static void token_row(sqlite3_stmt *q, void *out)
{
    cst_token_row *t = out;
    cst_db_col_text(q, 0, t->id, sizeof(t->id));
    cst_db_col_text(q, 1, t->tenant_id, sizeof(t->tenant_id));
    cst_db_col_text(q, 2, t->user_id, sizeof(t->user_id));
    memset(t->hash, 0, sizeof(t->hash));
    if (sqlite3_column_bytes(q, 3) == CST_HASH_LEN)
        memcpy(t->hash, sqlite3_column_blob(q, 3), CST_HASH_LEN);
    cst_db_col_text(q, 4, t->name, sizeof(t->name));
    t->session = sqlite3_column_int(q, 5) != 0;
    t->perms = (uint32_t)sqlite3_column_int64(q, 6);
    t->created_at = sqlite3_column_int64(q, 7);
    t->expires_at = sqlite3_column_int64(q, 8);
    t->last_used_at = sqlite3_column_int64(q, 9);
    cst_db_col_text(q, 10, t->grant_id, sizeof(t->grant_id));
}

cst_err cst_sqlite_store_token_create(cst_store *st, cst_work *w, const cst_token_row *t)
{
    return cst_db_run(SQ(st)->db, w, NULL,
                      "INSERT INTO tokens(" TOKEN_COLS ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      "sssbsiiiiis", t->id, t->tenant_id, t->user_id, t->hash, sizeof(t->hash),
                      t->name, (int64_t)t->session, (int64_t)t->perms, t->created_at, t->expires_at,
                      t->last_used_at, t->grant_id);
}

cst_err cst_sqlite_store_token_get(cst_store *st, cst_work *w, const char *id, cst_token_row *out)
{
    return query_one(st, w, token_row, out, "SELECT " TOKEN_COLS " FROM tokens WHERE id = ?", id,
                     NULL);
}

cst_err cst_sqlite_store_token_touch(cst_store *st, cst_work *w, const char *id, int64_t now)
{
    return cst_db_run(SQ(st)->db, w, NULL, "UPDATE tokens SET last_used_at = ? WHERE id = ?", "is",
                      now, id);
}

cst_err cst_sqlite_store_token_delete(cst_store *st, cst_work *w, const char *tenant_id,
                                      const char *user_id, const char *id)
{
    int n = 0;
    TRY(cst_db_run(
        SQ(st)->db, w, &n,
        "DELETE FROM tokens WHERE id = ? AND tenant_id = ? AND (? IS NULL OR user_id = ?) AND "
        "grant_id = ''",
        "ssss", id, tenant_id, user_id, user_id));
    ENSURE(n == 1, CST_ERR_NOT_FOUND, "no such token");
    return CST_OK;
}

cst_err cst_sqlite_store_token_list(cst_store *st, cst_work *w, const char *tenant_id,
                                    const char *user_id,
                                    cst_err (*fn)(const cst_token_row *, void *), void *ctx)
{
    sqlite3_stmt *q = NULL;
    cst_db_lock(SQ(st)->db);
    cst_err e = cst_db_stmt(SQ(st)->db, w, &q,
                            "SELECT " TOKEN_COLS " FROM tokens WHERE tenant_id = ? AND "
                            "(? IS NULL OR user_id = ?) AND grant_id = '' ORDER BY created_at, id",
                            "sss", tenant_id, user_id, user_id);
    int row = 1;
    while (e == CST_OK && (e = cst_db_step(SQ(st)->db, q, &row)) == CST_OK && row) {
        cst_token_row t;
        token_row(q, &t);
        e = fn(&t, ctx);
    }
    cst_db_done(SQ(st)->db, q);
    cst_db_unlock(SQ(st)->db);
    return e;
}

cst_err cst_sqlite_store_sessions_end(cst_store *st, cst_work *w, const char *user_id,
                                      const char *keep_id)
{
    return cst_db_run(SQ(st)->db, w, NULL,
                      "DELETE FROM tokens WHERE user_id = ? AND session = 1 AND id != ?", "ss",
                      user_id, keep_id ? keep_id : "");
}

/* ---- backups, drills, tombstones ---- */

#define BACKUP_COLS                                                                                \
    "id, created_at, finished_at, status, origin, location, region, size, sha256, tenants, "       \
    "records, error"

static void backup_row(sqlite3_stmt *q, void *out)
{
    cst_backup_row *b = out;
    cst_db_col_text(q, 0, b->id, sizeof(b->id));
    b->created_at = sqlite3_column_int64(q, 1);
    b->finished_at = sqlite3_column_int64(q, 2);
    cst_db_col_text(q, 3, b->status, sizeof(b->status));
    cst_db_col_text(q, 4, b->origin, sizeof(b->origin));
    cst_db_col_text(q, 5, b->location, sizeof(b->location));
    cst_db_col_text(q, 6, b->region, sizeof(b->region));
    b->size = sqlite3_column_int64(q, 7);
    cst_db_col_text(q, 8, b->sha256, sizeof(b->sha256));
    b->tenants = sqlite3_column_int64(q, 9);
    b->records = sqlite3_column_int64(q, 10);
    cst_db_col_text(q, 11, b->error, sizeof(b->error));
}

cst_err cst_sqlite_store_backup_put(cst_store *st, cst_work *w, const cst_backup_row *b)
{
    return cst_db_run(SQ(st)->db, w, NULL,
                      "INSERT OR REPLACE INTO backups(" BACKUP_COLS
                      ") VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      "siissssisiis", b->id, b->created_at, b->finished_at, b->status, b->origin,
                      b->location, b->region, b->size, b->sha256, b->tenants, b->records, b->error);
}

cst_err cst_sqlite_store_backup_get(cst_store *st, cst_work *w, const char *id, cst_backup_row *out)
{
    return query_one(st, w, backup_row, out, "SELECT " BACKUP_COLS " FROM backups WHERE id = ?", id,
                     NULL);
}

/* Runs a listing query (one bound parameter: the limit) under the lock, handing each row to
 * visit. */
static cst_err query_each(cst_store *st, cst_work *w, const char *sql, int64_t limit,
                          cst_err (*visit)(sqlite3_stmt *, void *), void *ctx)
{
    sqlite3_stmt *q = NULL;
    cst_db_lock(SQ(st)->db);
    cst_err e = cst_db_stmt(SQ(st)->db, w, &q, sql, "i", limit);
    int row = 1;
    while (e == CST_OK && (e = cst_db_step(SQ(st)->db, q, &row)) == CST_OK && row)
        e = visit(q, ctx);
    cst_db_done(SQ(st)->db, q);
    cst_db_unlock(SQ(st)->db);
    return e;
}

struct backup_visit {
    cst_err (*fn)(const cst_backup_row *, void *);
    void *ctx;
};

static cst_err backup_visit(sqlite3_stmt *q, void *p)
{
    struct backup_visit *v = p;
    cst_backup_row b;
    backup_row(q, &b);
    return v->fn(&b, v->ctx);
}

cst_err cst_sqlite_store_backup_list(cst_store *st, cst_work *w, int limit,
                                     cst_err (*fn)(const cst_backup_row *, void *), void *ctx)
{
    struct backup_visit v = {fn, ctx};
    return query_each(st, w,
                      "SELECT " BACKUP_COLS " FROM backups ORDER BY created_at DESC, id LIMIT ?",
                      limit, backup_visit, &v);
}

#define DRILL_COLS "id, backup_id, started_at, duration_ms, tenants, records, ok, error"

static void drill_row(sqlite3_stmt *q, void *out)
{
    cst_drill_row *d = out;
    cst_db_col_text(q, 0, d->id, sizeof(d->id));
    cst_db_col_text(q, 1, d->backup_id, sizeof(d->backup_id));
    d->started_at = sqlite3_column_int64(q, 2);
    d->duration_ms = sqlite3_column_int64(q, 3);
    d->tenants = sqlite3_column_int64(q, 4);
    d->records = sqlite3_column_int64(q, 5);
    d->ok = sqlite3_column_int(q, 6) != 0;
    cst_db_col_text(q, 7, d->error, sizeof(d->error));
}

cst_err cst_sqlite_store_drill_add(cst_store *st, cst_work *w, const cst_drill_row *d)
{
    return cst_db_run(SQ(st)->db, w, NULL,
                      "INSERT INTO drills(" DRILL_COLS ") VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
                      "ssiiiiis", d->id, d->backup_id, d->started_at, d->duration_ms, d->tenants,
                      d->records, (int64_t)d->ok, d->error);
}

struct drill_visit {
    cst_err (*fn)(const cst_drill_row *, void *);
    void *ctx;
};

static cst_err drill_visit(sqlite3_stmt *q, void *p)
{
    struct drill_visit *v = p;
    cst_drill_row d;
    drill_row(q, &d);
    return v->fn(&d, v->ctx);
}

cst_err cst_sqlite_store_drill_list(cst_store *st, cst_work *w, int limit,
                                    cst_err (*fn)(const cst_drill_row *, void *), void *ctx)
{
    struct drill_visit v = {fn, ctx};
    return query_each(st, w, "SELECT " DRILL_COLS " FROM drills ORDER BY started_at DESC LIMIT ?",
                      limit, drill_visit, &v);
}

cst_err cst_sqlite_store_tombstone_add(cst_store *st, cst_work *w, const char *tenant_id,
                                       int64_t erased_at, const char *certificate_id)
{
    return cst_db_run(SQ(st)->db, w, NULL,
                      "INSERT OR IGNORE INTO tombstones(tenant_id, erased_at, certificate_id) "
                      "VALUES(?, ?, ?)",
                      "sis", tenant_id, erased_at, certificate_id ? certificate_id : "");
}

struct tombstone_visit {
    cst_err (*fn)(const cst_tombstone_row *, void *);
    void *ctx;
};

static cst_err tombstone_visit(sqlite3_stmt *q, void *p)
{
    struct tombstone_visit *v = p;
    cst_tombstone_row t;
    cst_db_col_text(q, 0, t.tenant_id, sizeof(t.tenant_id));
    t.erased_at = sqlite3_column_int64(q, 1);
    cst_db_col_text(q, 2, t.certificate_id, sizeof(t.certificate_id));
    return v->fn(&t, v->ctx);
}

cst_err cst_sqlite_store_tombstone_list(cst_store *st, cst_work *w,
                                        cst_err (*fn)(const cst_tombstone_row *, void *), void *ctx)
{
    struct tombstone_visit v = {fn, ctx};
    return query_each(st, w,
                      "SELECT tenant_id, erased_at, certificate_id FROM tombstones ORDER BY "
                      "tenant_id LIMIT ?",
                      INT64_MAX, tombstone_visit, &v);
}

/* ---- lifecycle (RET-2, RET-3), erase (RET-4) ---- */

cst_err cst_sqlite_store_tenant_lifecycle_set(cst_store *st, cst_work *w, const cst_tenant_row *t)
{
    int n = 0;
    TRY(cst_db_run(SQ(st)->db, w, &n,
                   "UPDATE tenants SET plan = ?, state = ?, event = ?, event_at = ?, "
                   "state_since = ? WHERE id = ?",
                   "sssiis", t->plan, t->state, t->event, t->event_at, t->state_since, t->id));
    ENSURE(n == 1, CST_ERR_NOT_FOUND, "no such tenant");
    return CST_OK;
}

cst_err cst_sqlite_store_tenant_touch(cst_store *st, cst_work *w, const char *tenant_id,
                                      int64_t now)
{
    return cst_db_run(SQ(st)->db, w, NULL, "UPDATE tenants SET last_active_at = ? WHERE id = ?",
                      "is", now, tenant_id);
}

cst_err cst_sqlite_store_key_add(cst_store *st, cst_work *w, const char *tenant_id,
                                 const char *purpose, uint32_t version, const cst_buf *blob,
                                 int64_t now)
{
    return cst_db_run(SQ(st)->db, w, NULL,
                      "INSERT INTO tenant_keys(tenant_id, purpose, version, wrapped, created_at) "
                      "VALUES(?, ?, ?, ?, ?)",
                      "ssibi", tenant_id, purpose, (int64_t)version, blob->data, blob->len, now);
}

typedef cst_err (*key_row_fn)(const char *tenant_id, const char *purpose, uint32_t version,
                              const uint8_t *blob, size_t len, void *ctx);

/* Every wrapped key (tenant_id NULL) or one tenant's, in order, to fn. */
static cst_err each_key(cst_store *st, cst_work *w, const char *tenant_id, key_row_fn fn, void *ctx)
{
    sqlite3_stmt *q = NULL;
    int row = 1;
    cst_db_lock(SQ(st)->db);
    cst_err e = tenant_id ? cst_db_stmt(SQ(st)->db, w, &q,
                                        "SELECT tenant_id, purpose, version, wrapped FROM "
                                        "tenant_keys WHERE tenant_id = ? ORDER BY purpose, version",
                                        "s", tenant_id)
                          : cst_db_stmt(SQ(st)->db, w, &q,
                                        "SELECT tenant_id, purpose, version, wrapped FROM "
                                        "tenant_keys ORDER BY tenant_id, purpose, version",
                                        "");
    while (e == CST_OK && (e = cst_db_step(SQ(st)->db, q, &row)) == CST_OK && row) {
        char tenant[CST_ID_MAX], purpose[32];
        cst_db_col_text(q, 0, tenant, sizeof(tenant));
        cst_db_col_text(q, 1, purpose, sizeof(purpose));
        e = fn(tenant, purpose, (uint32_t)sqlite3_column_int64(q, 2), sqlite3_column_blob(q, 3),
               (size_t)sqlite3_column_bytes(q, 3), ctx);
    }
    cst_db_done(SQ(st)->db, q);
    cst_db_unlock(SQ(st)->db);
    return e;
}

typedef struct one_tenant {
    cst_err (*fn)(const char *purpose, uint32_t version, const uint8_t *blob, size_t len,
                  void *ctx);
    void *ctx;
} one_tenant;

static cst_err on_tenant_key(const char *tenant_id, const char *purpose, uint32_t version,
                             const uint8_t *blob, size_t len, void *ctx)
{
    (void)tenant_id;
    one_tenant *o = ctx;
    return o->fn(purpose, version, blob, len, o->ctx);
}

cst_err cst_sqlite_store_tenant_keys(cst_store *st, cst_work *w, const char *tenant_id,
                                     cst_err (*fn)(const char *purpose, uint32_t version,
                                                   const uint8_t *blob, size_t len, void *ctx),
                                     void *ctx)
{
    one_tenant o = {fn, ctx};
    return each_key(st, w, tenant_id, on_tenant_key, &o);
}

cst_err cst_sqlite_store_keys_all(cst_store *st, cst_work *w, key_row_fn fn, void *ctx)
{
    return each_key(st, w, NULL, fn, ctx);
}

cst_err cst_sqlite_store_key_rewrapped(cst_store *st, cst_work *w, const char *tenant_id,
                                       const char *purpose, uint32_t version, const cst_buf *blob)
{
    int changed = 0;
    TRY(cst_db_run(SQ(st)->db, w, &changed,
                   "UPDATE tenant_keys SET wrapped = ? WHERE tenant_id = ? AND purpose = ? AND "
                   "version = ?",
                   "bssi", blob->data, blob->len, tenant_id, purpose, (int64_t)version));
    ENSURE(changed == 1, CST_ERR_NOT_FOUND, "no key %s/%s v%u", tenant_id, purpose, version);
    return CST_OK;
}

cst_err cst_sqlite_store_keys_destroy(cst_store *st, cst_work *w, const char *tenant_id,
                                      const char *const *purposes)
{
    TRY(cst_db_begin(SQ(st)->db, w));
    cst_err e = CST_OK;
    for (size_t i = 0; e == CST_OK && purposes[i]; i++)
        e = cst_db_run(SQ(st)->db, w, NULL,
                       "DELETE FROM tenant_keys WHERE tenant_id = ? AND purpose = ?", "ss",
                       tenant_id, purposes[i]);
    /* ENC-4: a re-encryption of keys that are gone has nothing left to do */
    if (e == CST_OK)
        e = cst_db_run(SQ(st)->db, w, NULL, "DELETE FROM key_rewrap WHERE tenant_id = ?", "s",
                       tenant_id);
    if (e != CST_OK) {
        cst_db_rollback(SQ(st)->db, w);
        return e;
    }
    return cst_db_commit(SQ(st)->db, w);
}

cst_err cst_sqlite_store_tenant_erased(cst_store *st, cst_work *w, const char *tenant_id,
                                       int64_t now, const char *cert_id, const char *document)
{
    TRY(cst_db_begin(SQ(st)->db, w));
    cst_err e =
        cst_db_run(SQ(st)->db, w, NULL, "DELETE FROM tokens WHERE tenant_id = ?", "s", tenant_id);
    if (e == CST_OK)
        e = cst_db_run(SQ(st)->db, w, NULL, "DELETE FROM users WHERE tenant_id = ?", "s",
                       tenant_id);
    /* IAM-6: its access reviews name its users: they go with them */
    if (e == CST_OK)
        e = cst_db_run(SQ(st)->db, w, NULL,
                       "DELETE FROM review_decisions WHERE review_id IN "
                       "(SELECT id FROM reviews WHERE scope = ?)",
                       "s", tenant_id);
    if (e == CST_OK)
        e = cst_db_run(SQ(st)->db, w, NULL, "DELETE FROM reviews WHERE scope = ?", "s", tenant_id);
    if (e == CST_OK)
        e = cst_db_run(SQ(st)->db, w, NULL, "DELETE FROM review_reminders WHERE scope = ?", "s",
                       tenant_id);
    if (e == CST_OK)
        e = cst_db_run(SQ(st)->db, w, NULL,
                       "UPDATE tenants SET state = 'erased', state_since = ?, settings = '{}' "
                       "WHERE id = ?",
                       "is", now, tenant_id);
    if (e == CST_OK)
        e = cst_db_run(SQ(st)->db, w, NULL,
                       "INSERT INTO tombstones(tenant_id, erased_at, certificate_id) VALUES(?, ?, "
                       "?) ON CONFLICT(tenant_id) DO UPDATE SET certificate_id = "
                       "excluded.certificate_id",
                       "sis", tenant_id, now, cert_id);
    if (e == CST_OK)
        e = cst_sqlite_store_certificate_add(st, w, cert_id, tenant_id, now, document);
    if (e != CST_OK) {
        cst_db_rollback(SQ(st)->db, w);
        return e;
    }
    return cst_db_commit(SQ(st)->db, w);
}

cst_err cst_sqlite_store_certificate_add(cst_store *st, cst_work *w, const char *id,
                                         const char *tenant_id, int64_t issued_at,
                                         const char *document)
{
    return cst_db_run(SQ(st)->db, w, NULL,
                      "INSERT INTO certificates(id, tenant_id, issued_at, document) VALUES(?, ?, "
                      "?, ?)",
                      "ssis", id, tenant_id, issued_at, document);
}

static void text_row(sqlite3_stmt *q, void *out)
{
    cst_buf *b = out;
    b->len = 0;
    if (cst_buf_append(b, sqlite3_column_text(q, 0), (size_t)sqlite3_column_bytes(q, 0)) != CST_OK)
        b->len = 0;
}

cst_err cst_sqlite_store_certificate_get(cst_store *st, cst_work *w, const char *id,
                                         cst_buf *document)
{
    return query_one(st, w, text_row, document, "SELECT document FROM certificates WHERE id = ?",
                     id, NULL);
}

cst_err cst_sqlite_store_certificate_of(cst_store *st, cst_work *w, const char *tenant_id,
                                        char id[CST_ID_MAX])
{
    struct {
        char *p;
        size_t n;
    } dst = {id, CST_ID_MAX};
    return query_one(st, w, meta_row, &dst,
                     "SELECT id FROM certificates WHERE tenant_id = ? ORDER BY issued_at DESC "
                     "LIMIT 1",
                     tenant_id, NULL);
}

cst_err cst_sqlite_store_retained_put(cst_store *st, cst_work *w, const cst_retained_row *r)
{
    return cst_db_run(SQ(st)->db, w, NULL,
                      "INSERT OR REPLACE INTO retained(tenant_id, created_at, expires_at, buckets, "
                      "records) VALUES(?, ?, ?, ?, ?)",
                      "siiii", r->tenant_id, r->created_at, r->expires_at, r->buckets, r->records);
}

static void retained_row(sqlite3_stmt *q, void *out)
{
    cst_retained_row *r = out;
    cst_db_col_text(q, 0, r->tenant_id, sizeof(r->tenant_id));
    r->created_at = sqlite3_column_int64(q, 1);
    r->expires_at = sqlite3_column_int64(q, 2);
    r->buckets = sqlite3_column_int64(q, 3);
    r->records = sqlite3_column_int64(q, 4);
}

cst_err cst_sqlite_store_retained_get(cst_store *st, cst_work *w, const char *tenant_id,
                                      cst_retained_row *out)
{
    return query_one(st, w, retained_row, out,
                     "SELECT tenant_id, created_at, expires_at, buckets, records FROM retained "
                     "WHERE tenant_id = ?",
                     tenant_id, NULL);
}

cst_err cst_sqlite_store_retained_delete(cst_store *st, cst_work *w, const char *tenant_id)
{
    return cst_db_run(SQ(st)->db, w, NULL, "DELETE FROM retained WHERE tenant_id = ?", "s",
                      tenant_id);
}

struct retained_visit {
    cst_err (*fn)(const cst_retained_row *, void *);
    void *ctx;
};

static cst_err retained_visit(sqlite3_stmt *q, void *p)
{
    struct retained_visit *v = p;
    cst_retained_row r;
    retained_row(q, &r);
    return v->fn(&r, v->ctx);
}

cst_err cst_sqlite_store_retained_list(cst_store *st, cst_work *w,
                                       cst_err (*fn)(const cst_retained_row *, void *), void *ctx)
{
    struct retained_visit v = {fn, ctx};
    return query_each(st, w,
                      "SELECT tenant_id, created_at, expires_at, buckets, records FROM retained "
                      "ORDER BY expires_at LIMIT ?",
                      INT64_MAX, retained_visit, &v);
}

cst_err cst_sqlite_store_checkpoint(cst_store *st)
{
    return cst_db_checkpoint_strict(SQ(st)->db);
}

cst_err cst_sqlite_store_lease(cst_store *st, const char *name, const char *holder, int64_t now,
                               int64_t ttl_us, bool *held)
{
    int changes = 0;
    *held = false;
    if (ttl_us <= 0)
        return cst_db_run(SQ(st)->db, NULL, NULL,
                          "UPDATE leases SET until = 0 WHERE name = ? AND holder = ?", "ss", name,
                          holder);
    TRY(cst_db_run(SQ(st)->db, NULL, &changes,
                   "INSERT INTO leases(name, holder, until) VALUES(?1, ?2, ?3) "
                   "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, until = "
                   "excluded.until WHERE leases.holder = excluded.holder OR leases.until <= ?4",
                   "ssii", name, holder, now + ttl_us, now));
    *held = changes == 1;
    return CST_OK;
}

/* One node per file: w joining the system store's transaction (BEGIN IMMEDIATE, the file's
 * write lock until it ends) is the exclusion, whatever the name. */
cst_err cst_sqlite_store_exclusive(cst_store *st, cst_work *w, const char *name)
{
    (void)name;
    ENSURE(w, CST_ERR_INTERNAL, "storage: an exclusive section needs a unit of work");
    return cst_work_join(w, &cst_sqlite_driver, SQ(st)->db);
}
