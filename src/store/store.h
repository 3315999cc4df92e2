/* store.h: custodia's storage interface. The system store holds tenants, principals, wrapped
 * keys and tokens; a tenant store holds one tenant's buckets and records, addressed by the
 * tenant's id. The store sees only ciphertext and blind indexes: encryption happens above it.
 * Where and how a store keeps its data (files, their names, SQL) is the driver's alone:
 * src/store/sqlite/ is the first driver; a PostgreSQL driver implements the same operations
 * (SPEC §8). */
#ifndef CST_STORE_H
#define CST_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct cst_store cst_store;
typedef struct cst_tstore cst_tstore;
/* A driver: its operations table (store/driver.h). Chosen by name when a store is opened. */
typedef struct cst_store_driver cst_store_driver;
#define CST_STORE_DEFAULT_DRIVER "sqlite"

#define CST_NAME_MAX 64
#define CST_ID_MAX 32
#define CST_GRANTS_JSON 2048
#define CST_RECOVERY_JSON 800
#define CST_SETTINGS_JSON 4096

typedef struct cst_tenant_row {
    char id[CST_ID_MAX];
    char name[CST_NAME_MAX + 1];
    char region[CST_NAME_MAX + 1];
    char plan[16];
    char state[16];
    int64_t created_at;
    char settings[CST_SETTINGS_JSON]; /* JSON object: mfa_required, ip_allowlist, ... */
    /* lifecycle (RET-2, RET-3): the event that set the current schedule and when */
    char event[24];         /* "", trial_ended, cancelled, payment_failed, terminated, ... */
    int64_t event_at;       /* 0: none */
    int64_t state_since;    /* when the current state began */
    int64_t last_active_at; /* the last authenticated request of any of its principals */
} cst_tenant_row;

typedef struct cst_user_row {
    char id[CST_ID_MAX];
    char tenant_id[CST_ID_MAX];
    char username[CST_NAME_MAX + 1];
    char pw_hash[128];
    uint32_t roles;               /* bit set of cst_role */
    char grants[CST_GRANTS_JSON]; /* JSON array of bucket names or "*" (writer/reader) */
    char pw_history[640];         /* JSON array of the last Argon2id hashes, newest first */
    bool must_change_password;
    bool disabled;
    int failed_logins;
    int64_t locked_until;    /* 0: not locked */
    int totp_state;          /* 0 none, 1 enrolment pending, 2 active */
    uint8_t totp_sealed[96]; /* the TOTP secret, sealed (ENC-1) */
    size_t totp_sealed_len;
    int64_t totp_last_step;           /* the last accepted step: older codes are replays */
    char recovery[CST_RECOVERY_JSON]; /* JSON array of hex SHA-256 of unused recovery codes */
    int64_t created_at;
    int64_t last_login_at;
} cst_user_row;

typedef struct cst_token_row {
    char id[CST_ID_MAX];
    char tenant_id[CST_ID_MAX];
    char user_id[CST_ID_MAX];
    uint8_t hash[CST_HASH_LEN];
    char name[CST_NAME_MAX + 1];
    bool session;   /* login session (idle/absolute timeouts) rather than an API token */
    uint32_t perms; /* bit set of cst_perm */
    int64_t created_at;
    int64_t expires_at; /* 0: no expiry */
    int64_t last_used_at;
    char grant_id[CST_ID_MAX]; /* IAM-8: a lockbox grant's credential ("" for any other) */
} cst_token_row;

/* ---- transactions and units of work (LOG-1) ----
 * A transaction (cst_txn) spans every store it touches: a store joins it at its first write
 * through a unit of work of the transaction, and stays locked by it until it commits or rolls
 * back. A unit of work (cst_work) is one request's part of a transaction: a savepoint in each
 * store it writes, kept or undone on its own, so that several requests could share one
 * transaction (one commit, one flush) and each still fail alone.
 *
 * Every store operation that can touch a transaction takes a unit of work after its handle:
 * cst_store_user_update(st, w, &u). It reads and writes inside w's transaction (it sees what
 * w wrote before). w == NULL is an operation atomic and durable on its own, outside any
 * request's fate (an erase, a backup's catalogue row, a counted failed login); calling it
 * with NULL on a store that a unit of work of the same thread holds is a bug and fails with
 * CST_ERR_INTERNAL instead of silently joining it.
 *
 * A transaction belongs to the thread that began it (the SQLite driver holds a store's lock
 * for it). One unit of work is open in it at a time. */
typedef struct cst_txn cst_txn;
typedef struct cst_work cst_work;

CST_MUST_USE cst_err cst_txn_begin(cst_txn **out);
/* Commits every store the transaction joined, in the order they joined, then runs the hooks
 * (cst_work_on_end) and frees t. A transaction with a unit of work still open is rolled back
 * (CST_ERR_INTERNAL). A failure after the first store committed is reported; hooks then see
 * committed = false. */
CST_MUST_USE cst_err cst_txn_commit(cst_txn *t);
/* Rolls back every store the transaction joined, runs the hooks (committed = false), frees t. */
void cst_txn_rollback(cst_txn *t);
/* Opens a unit of work in t. */
CST_MUST_USE cst_err cst_work_begin(cst_txn *t, cst_work **out);
/* Ends w (and frees it): keep releases its savepoints into the transaction; otherwise they are
 * rolled back, undoing what w wrote and nothing else. A failed release (the store could not
 * keep the changes) leaves the transaction able only to roll back: its commit then fails. */
CST_MUST_USE cst_err cst_work_end(cst_work *w, bool keep);
/* Whether w has written to any store. */
bool cst_work_wrote(const cst_work *w);
/* Runs fn(ctx, committed) once w's transaction has ended and its stores are unlocked: what a
 * request made outside the stores (a new tenant store) is undone when its changes were not
 * kept or the transaction did not commit. fn owns ctx (it runs, with committed = false, even
 * when it cannot be registered). w == NULL runs it at once (committed). */
CST_MUST_USE cst_err cst_work_on_end(cst_work *w, void (*fn)(void *ctx, bool committed), void *ctx);
/* fn(w, ctx) in a unit of work of a new transaction: committed when fn returns CST_OK (the
 * commit's failure is returned), rolled back otherwise (fn's error is returned). The shape of an
 * operation atomic on its own that spans several calls. */
CST_MUST_USE cst_err cst_txn_run(cst_err (*fn)(cst_work *w, void *ctx), void *ctx);

/* ---- system store ----
 * Listings call fn once per row; an error fn returns stops the listing and is returned. */
/* The driver called name; CST_ERR_INVALID, naming the drivers built in, when there is none. */
CST_MUST_USE cst_err cst_store_driver_find(const char *name, const cst_store_driver **out);
/* Where a store is: its driver, the node's data dir, and for a database server its connection
 * string and pool (issue 20: [store] driver, dsn, pool_size). */
typedef struct cst_store_conf {
    const char *driver;   /* NULL: CST_STORE_DEFAULT_DRIVER */
    const char *data_dir; /* the node's own files (SQLite keeps every store there) */
    const char *dsn;      /* postgresql: a libpq connection string */
    int pool_size;        /* postgresql: connections (0: 8) */
} cst_store_conf;
/* Opens (creating when create) the system store c describes; every tenant store opened through
 * it uses the same driver. */
CST_MUST_USE cst_err cst_store_open_conf(const cst_store_conf *c, bool create, cst_store **out);
/* Opens (creating when create) the system store of data_dir with the driver called driver;
 * every tenant store opened through it uses the same driver. */
CST_MUST_USE cst_err cst_store_open_driver(const char *driver, const char *data_dir, bool create,
                                           cst_store **out);
/* cst_store_open_driver with CST_STORE_DEFAULT_DRIVER. */
CST_MUST_USE cst_err cst_store_open(const char *data_dir, bool create, cst_store **out);
void cst_store_close(cst_store *st);
const char *cst_store_data_dir(const cst_store *st);

CST_MUST_USE cst_err cst_store_meta_get(cst_store *st, cst_work *w, const char *k, char *out,
                                        size_t n);
CST_MUST_USE cst_err cst_store_meta_set(cst_store *st, cst_work *w, const char *k, const char *v);

/* Creates the tenant row, its wrapped keys (version 1 of "dek" and "idx") and its owner in one
 * transaction. CST_ERR_CONFLICT when the name is taken. */
CST_MUST_USE cst_err cst_store_tenant_create(cst_store *st, cst_work *w, const cst_tenant_row *t,
                                             const cst_buf *wrapped_dek, const cst_buf *wrapped_idx,
                                             const cst_user_row *owner);
CST_MUST_USE cst_err cst_store_tenant_get(cst_store *st, cst_work *w, const char *id,
                                          cst_tenant_row *out);
CST_MUST_USE cst_err cst_store_tenant_by_name(cst_store *st, cst_work *w, const char *name,
                                              cst_tenant_row *out);
/* Calls fn for each tenant in id order after `after` (NULL: from the start), at most limit. */
CST_MUST_USE cst_err cst_store_tenant_list(cst_store *st, cst_work *w, const char *after, int limit,
                                           cst_err (*fn)(const cst_tenant_row *, void *),
                                           void *ctx);
/* The newest version of a tenant's wrapped key of a purpose ("dek" or "idx"). */
CST_MUST_USE cst_err cst_store_key_latest(cst_store *st, cst_work *w, const char *tenant_id,
                                          const char *purpose, uint32_t *version, cst_buf *blob);

CST_MUST_USE cst_err cst_store_user_create(cst_store *st, cst_work *w, const cst_user_row *u);
CST_MUST_USE cst_err cst_store_user_get(cst_store *st, cst_work *w, const char *id,
                                        cst_user_row *out);
CST_MUST_USE cst_err cst_store_user_by_name(cst_store *st, cst_work *w, const char *tenant_id,
                                            const char *username, cst_user_row *out);
/* Writes the user's mutable fields (roles, grants, disabled, password and history, TOTP and
 * recovery codes); the login counters have their own atomic updates below. */
CST_MUST_USE cst_err cst_store_user_update(cst_store *st, cst_work *w, const cst_user_row *u);
CST_MUST_USE cst_err cst_store_user_list(cst_store *st, cst_work *w, const char *tenant_id,
                                         cst_err (*fn)(const cst_user_row *, void *), void *ctx);
/* Deletes a user of the tenant and every token of theirs. */
CST_MUST_USE cst_err cst_store_user_delete(cst_store *st, cst_work *w, const char *tenant_id,
                                           const char *id);
/* Enabled users of the tenant holding every role bit in role_mask. */
CST_MUST_USE cst_err cst_store_user_count(cst_store *st, cst_work *w, const char *tenant_id,
                                          uint32_t role_mask, int *count);
/* IAM-2: counts a failed login; at max failures the account locks until now + lock_us.
 * Returns the new count and lock time. */
CST_MUST_USE cst_err cst_store_login_failed(cst_store *st, const char *user_id, int64_t now,
                                            int max, int64_t lock_us, int *failed,
                                            int64_t *locked_until);
CST_MUST_USE cst_err cst_store_login_ok(cst_store *st, cst_work *w, const char *user_id,
                                        int64_t now);
/* IAM-2: ends a lockout and clears the failure count (an administrator's unlock). */
CST_MUST_USE cst_err cst_store_login_unlock(cst_store *st, cst_work *w, const char *user_id);
/* IAM-3: records step as the last accepted TOTP step only if it is newer than the stored one
 * (committed at once, outside any unit of work: see system.c);
 * CST_ERR_UNAUTHENTICATED otherwise (a concurrent replay lost the race). */
CST_MUST_USE cst_err cst_store_totp_advance(cst_store *st, const char *user_id, int64_t step);
/* Replaces the recovery codes only if they are still old_json (compare-and-swap), so a code
 * is consumed once even by concurrent logins (committed at once, outside any unit of work). */
CST_MUST_USE cst_err cst_store_recovery_swap(cst_store *st, const char *user_id,
                                             const char *old_json, const char *new_json);
CST_MUST_USE cst_err cst_store_tenant_settings_set(cst_store *st, cst_work *w,
                                                   const char *tenant_id,
                                                   const char *settings_json);

/* IAM-5: the principals generation of st: it changes after every committed write to users,
 * tokens, tenants or tenant keys (when w's transaction ends, or at once for writes that commit
 * alone), and only then; recording use (cst_store_token_touch, cst_store_tenant_touch) leaves
 * it. Rows read after reading it are current for as long as it stays unchanged. A store that
 * several nodes share (PostgreSQL) adds the epoch every node's writes move (driver.h
 * principals_epoch), read at each call: another node's revocation applies to the next request
 * here too. */
uint64_t cst_store_principals_gen(const cst_store *st);
/* A store several nodes share: the shared epoch alone (what other nodes' writes to principals
 * and tenant keys moved), true; false for a store only this process writes, or when the epoch
 * cannot be read. */
bool cst_store_shared_epoch(const cst_store *st, uint64_t *n);
CST_MUST_USE cst_err cst_store_token_create(cst_store *st, cst_work *w, const cst_token_row *t);
CST_MUST_USE cst_err cst_store_token_get(cst_store *st, cst_work *w, const char *id,
                                         cst_token_row *out);
CST_MUST_USE cst_err cst_store_token_touch(cst_store *st, cst_work *w, const char *id, int64_t now);
/* Deletes a token of the tenant; CST_ERR_NOT_FOUND when there is none (or it is another
 * user's and user_id is given). */
CST_MUST_USE cst_err cst_store_token_delete(cst_store *st, cst_work *w, const char *tenant_id,
                                            const char *user_id, const char *id);
/* Lists a tenant's tokens (a user's only, when user_id is given). */
CST_MUST_USE cst_err cst_store_token_list(cst_store *st, cst_work *w, const char *tenant_id,
                                          const char *user_id,
                                          cst_err (*fn)(const cst_token_row *, void *), void *ctx);
/* Ends every login session of a user but keep_id (after a password change). */
CST_MUST_USE cst_err cst_store_sessions_end(cst_store *st, cst_work *w, const char *user_id,
                                            const char *keep_id);

/* ---- backups (BAK-1..4), drills (BAK-3), tombstones of erased tenants (RET-4) ---- */
typedef struct cst_backup_row {
    char id[CST_ID_MAX];
    int64_t created_at, finished_at;
    char status[16]; /* ok | failed | pruned */
    char origin[16]; /* api | schedule | cli */
    char location[4096];
    char region[CST_NAME_MAX + 1];
    int64_t size;
    char sha256[65];
    int64_t tenants, records;
    char error[512];
} cst_backup_row;

typedef struct cst_drill_row {
    char id[CST_ID_MAX];
    char backup_id[CST_ID_MAX];
    int64_t started_at, duration_ms, tenants, records;
    bool ok;
    char error[512];
} cst_drill_row;

typedef struct cst_tombstone_row {
    char tenant_id[CST_ID_MAX];
    int64_t erased_at;
    char certificate_id[CST_ID_MAX];
} cst_tombstone_row;

/* Inserts or replaces a backup's catalogue row. */
CST_MUST_USE cst_err cst_store_backup_put(cst_store *st, cst_work *w, const cst_backup_row *b);
CST_MUST_USE cst_err cst_store_backup_get(cst_store *st, cst_work *w, const char *id,
                                          cst_backup_row *out);
/* Newest first. */
CST_MUST_USE cst_err cst_store_backup_list(cst_store *st, cst_work *w, int limit,
                                           cst_err (*fn)(const cst_backup_row *, void *),
                                           void *ctx);
CST_MUST_USE cst_err cst_store_drill_add(cst_store *st, cst_work *w, const cst_drill_row *d);
/* Newest first. */
CST_MUST_USE cst_err cst_store_drill_list(cst_store *st, cst_work *w, int limit,
                                          cst_err (*fn)(const cst_drill_row *, void *), void *ctx);
/* Records that a tenant was erased (idempotent). */
CST_MUST_USE cst_err cst_store_tombstone_add(cst_store *st, cst_work *w, const char *tenant_id,
                                             int64_t erased_at, const char *certificate_id);
CST_MUST_USE cst_err cst_store_tombstone_list(cst_store *st, cst_work *w,
                                              cst_err (*fn)(const cst_tombstone_row *, void *),
                                              void *ctx);

/* ---- alerts (DET-1) ---- */
typedef struct cst_alert_row {
    char id[CST_ID_MAX];
    char type[32];
    char severity[16]; /* low | medium | high | critical */
    char status[16];   /* open | acknowledged | resolved */
    char tenant[CST_ID_MAX];
    char principal[CST_ID_MAX];
    char source_ip[64];
    int64_t first_seen, last_seen, count;
    char summary[512];
    char incident_id[CST_ID_MAX];
    char dedup_key[160];
} cst_alert_row;

/* A filter of cst_store_alert_list: empty strings match everything; after: the id the previous
 * page ended with ("" for the first). Newest first (by creation). */
typedef struct cst_alert_filter {
    const char *status, *type, *tenant, *after;
    int limit;
} cst_alert_filter;

/* Inserts or replaces an alert by id. */
CST_MUST_USE cst_err cst_store_alert_put(cst_store *st, cst_work *w, const cst_alert_row *a);
CST_MUST_USE cst_err cst_store_alert_get(cst_store *st, cst_work *w, const char *id,
                                         cst_alert_row *out);
/* The newest alert of type with dedup_key that is not resolved; CST_ERR_NOT_FOUND when none. */
CST_MUST_USE cst_err cst_store_alert_find(cst_store *st, cst_work *w, const char *type,
                                          const char *dedup_key, cst_alert_row *out);
CST_MUST_USE cst_err cst_store_alert_list(cst_store *st, cst_work *w, const cst_alert_filter *f,
                                          cst_err (*fn)(const cst_alert_row *, void *), void *ctx);

/* How many alerts are not resolved (open or acknowledged). */
CST_MUST_USE cst_err cst_store_alert_count_open(cst_store *st, cst_work *w, int64_t *count);
/* Deletes the resolved alerts last seen before resolved_before and the webhook deliveries
 * (delivered or failed) queued before finished_before; *removed (optional) gets how many. */
CST_MUST_USE cst_err cst_store_alert_prune(cst_store *st, cst_work *w, int64_t resolved_before,
                                           int64_t finished_before, int64_t *removed);

/* ---- webhook deliveries of alerts (DET-1): a durable queue in system.db ---- */
/* A notice (CST_NOTICE_JSON) with its envelope, or emailed: an empty line of its text, 2 bytes
 * of JSON ("\n"), is 4 of mail (two spaces of indent, CRLF), so its mail may be twice as long,
 * with headers and labels (node/incidents.c checks this). */
#define CST_WEBHOOK_BODY_MAX 40960
typedef struct cst_webhook_row {
    char id[CST_ID_MAX]; /* msg_<hex>: also the webhook-id header */
    char alert_id[CST_ID_MAX];
    char tenant[CST_ID_MAX]; /* "": the node's webhook; else the tenant's */
    char url[512];
    char body[CST_WEBHOOK_BODY_MAX];                     /* the JSON posted, signed as is */
    int64_t attempts, next_at, created_at, delivered_at; /* times: microseconds */
    char status[16];                                     /* pending | delivered | failed */
    int64_t last_status; /* the receiver's HTTP status; 0: none (no answer) */
    char last_error[256];
} cst_webhook_row;

/* Inserts or updates a delivery by id. */
CST_MUST_USE cst_err cst_store_webhook_put(cst_store *st, cst_work *w, const cst_webhook_row *d);
/* At most limit pending deliveries whose next_at <= now, oldest first. */
CST_MUST_USE cst_err cst_store_webhook_due(cst_store *st, cst_work *w, int64_t now, int limit,
                                           cst_err (*fn)(const cst_webhook_row *, void *),
                                           void *ctx);
/* Moves every pending delivery to url due before next_at to next_at. */
CST_MUST_USE cst_err cst_store_webhook_defer(cst_store *st, cst_work *w, const char *url,
                                             int64_t next_at);
/* The deliveries of an alert, oldest first. */
CST_MUST_USE cst_err cst_store_webhook_list(cst_store *st, cst_work *w, const char *alert_id,
                                            cst_err (*fn)(const cst_webhook_row *, void *),
                                            void *ctx);

/* ---- lifecycle (RET-2, RET-3) and crypto-erase (RET-4) ---- */
typedef struct cst_retained_row {
    char tenant_id[CST_ID_MAX];
    int64_t created_at, expires_at; /* billing records of an erased tenant, kept until */
    int64_t buckets, records;
} cst_retained_row;

/* Writes a tenant's plan, state, event, event_at and state_since. */
CST_MUST_USE cst_err cst_store_tenant_lifecycle_set(cst_store *st, cst_work *w,
                                                    const cst_tenant_row *t);
CST_MUST_USE cst_err cst_store_tenant_touch(cst_store *st, cst_work *w, const char *tenant_id,
                                            int64_t now);
/* Calls fn for every wrapped key of the tenant. */
CST_MUST_USE cst_err cst_store_tenant_keys(cst_store *st, cst_work *w, const char *tenant_id,
                                           cst_err (*fn)(const char *purpose, uint32_t version,
                                                         const uint8_t *blob, size_t len,
                                                         void *ctx),
                                           void *ctx);
CST_MUST_USE cst_err cst_store_key_add(cst_store *st, cst_work *w, const char *tenant_id,
                                       const char *purpose, uint32_t version, const cst_buf *blob,
                                       int64_t now);
/* ENC-4 (KEK rotation): calls fn for every wrapped key of every tenant. */
CST_MUST_USE cst_err cst_store_keys_all(cst_store *st, cst_work *w,
                                        cst_err (*fn)(const char *tenant_id, const char *purpose,
                                                      uint32_t version, const uint8_t *blob,
                                                      size_t len, void *ctx),
                                        void *ctx);
/* ENC-4 (KEK rotation): replaces a key version's wrapped bytes (the same key, rewrapped). */
CST_MUST_USE cst_err cst_store_key_rewrapped(cst_store *st, cst_work *w, const char *tenant_id,
                                             const char *purpose, uint32_t version,
                                             const cst_buf *blob);
/* ENC-4: a tenant key version's bookkeeping (not its wrapped bytes). */
typedef struct cst_key_row {
    char purpose[16];
    uint32_t version;
    int64_t created_at;
    int64_t encryptions; /* persisted count of seals under it (core/keyring.h) */
} cst_key_row;
/* Every key version of the tenant, by purpose then version. */
CST_MUST_USE cst_err cst_store_key_list(cst_store *st, cst_work *w, const char *tenant_id,
                                        cst_err (*fn)(const cst_key_row *, void *), void *ctx);
/* Adds n to the persisted encryption count of a key version. */
CST_MUST_USE cst_err cst_store_key_count(cst_store *st, cst_work *w, const char *tenant_id,
                                         const char *purpose, uint32_t version, int64_t n);
/* ENC-4: a tenant's background re-encryption to DEK version target (one row per tenant,
 * system.db key_rewrap): state "running" or "idle", records done of total. */
typedef struct cst_rewrap_row {
    char tenant_id[CST_ID_MAX];
    uint32_t target;
    char state[16];
    int64_t done, total;
    int64_t started_at, finished_at;
} cst_rewrap_row;
CST_MUST_USE cst_err cst_store_rewrap_put(cst_store *st, cst_work *w, const cst_rewrap_row *r);
/* CST_ERR_NOT_FOUND when the tenant never rotated. */
CST_MUST_USE cst_err cst_store_rewrap_get(cst_store *st, cst_work *w, const char *tenant_id,
                                          cst_rewrap_row *out);
/* The rows in state "running" (a node resumes them at start). */
CST_MUST_USE cst_err cst_store_rewrap_running(cst_store *st, cst_work *w,
                                              cst_err (*fn)(const cst_rewrap_row *, void *),
                                              void *ctx);
/* Deletes (secure_delete zeroes the freed space) the tenant's keys of the NULL-terminated
 * purposes, in one transaction. */
CST_MUST_USE cst_err cst_store_keys_destroy(cst_store *st, cst_work *w, const char *tenant_id,
                                            const char *const *purposes);
/* The end of an erase, in one transaction: the tenant's users and tokens deleted, its state
 * "erased", its tombstone and its certificate written. */
CST_MUST_USE cst_err cst_store_tenant_erased(cst_store *st, cst_work *w, const char *tenant_id,
                                             int64_t now, const char *cert_id,
                                             const char *document);
CST_MUST_USE cst_err cst_store_certificate_add(cst_store *st, cst_work *w, const char *id,
                                               const char *tenant_id, int64_t issued_at,
                                               const char *document);
CST_MUST_USE cst_err cst_store_certificate_get(cst_store *st, cst_work *w, const char *id,
                                               cst_buf *document);
/* The newest certificate issued for a tenant. */
CST_MUST_USE cst_err cst_store_certificate_of(cst_store *st, cst_work *w, const char *tenant_id,
                                              char id[CST_ID_MAX]);
CST_MUST_USE cst_err cst_store_retained_put(cst_store *st, cst_work *w, const cst_retained_row *r);
CST_MUST_USE cst_err cst_store_retained_get(cst_store *st, cst_work *w, const char *tenant_id,
                                            cst_retained_row *out);
CST_MUST_USE cst_err cst_store_retained_delete(cst_store *st, cst_work *w, const char *tenant_id);
CST_MUST_USE cst_err cst_store_retained_list(cst_store *st, cst_work *w,
                                             cst_err (*fn)(const cst_retained_row *, void *),
                                             void *ctx);
/* ---- incidents (INC-1), their timeline, breach clocks (INC-2) and notices (INC-3, INC-4) ---- */
#define CST_INCIDENT_TEXT 2048 /* summary, root cause, remediation, a timeline entry */
#define CST_INCIDENT_LIST 2048 /* a JSON array: affected tenants, data categories */
#define CST_NOTICE_JSON 16384  /* a notice's content (JSON object) */

typedef struct cst_incident_row {
    char id[CST_ID_MAX];
    char title[256];
    char severity[16]; /* low | medium | high | critical */
    char status[16];   /* open | contained | resolved | closed */
    char owner[CST_ID_MAX];
    char summary[CST_INCIDENT_TEXT];
    char root_cause[CST_INCIDENT_TEXT];
    char remediation[CST_INCIDENT_TEXT];
    char tenants[CST_INCIDENT_LIST];         /* JSON array of tenant ids */
    char data_categories[CST_INCIDENT_LIST]; /* JSON array of strings */
    int64_t created_at, updated_at, closed_at;
    int64_t confirmed_at, aware_at; /* 0 until a breach is confirmed */
} cst_incident_row;

/* One entry of an incident's timeline: append-only (the store refuses to change or delete
 * one). */
typedef struct cst_timeline_row {
    char incident_id[CST_ID_MAX];
    int64_t seq; /* 1, 2, ... per incident (given by the store) */
    int64_t at;
    char actor[CST_ID_MAX];
    char entry[CST_INCIDENT_TEXT];
} cst_timeline_row;

/* INC-2: one tenant's notification deadline for an incident. */
typedef struct cst_clock_row {
    char incident_id[CST_ID_MAX];
    char tenant_id[CST_ID_MAX];
    int64_t aware_at, deadline;
    int hours;
    char notice_id[CST_ID_MAX]; /* the latest notice sent ("" none) */
    int64_t sent_at;            /* the first notice's time (0: not sent) */
} cst_clock_row;

/* INC-3: one version of a notice to a tenant; INC-4: the tenant's decision on notifying its
 * own users or regulators. */
typedef struct cst_notice_row {
    char id[CST_ID_MAX];
    char incident_id[CST_ID_MAX];
    char tenant_id[CST_ID_MAX];
    int version;
    int64_t sent_at, deadline;
    char sent_by[CST_ID_MAX];
    char document[CST_NOTICE_JSON];
    char decision[16]; /* pending | approved | declined */
    char decided_by[CST_ID_MAX];
    int64_t decided_at;
    char comment[512];
} cst_notice_row;

/* Inserts or replaces an incident. */
CST_MUST_USE cst_err cst_store_incident_put(cst_store *st, cst_work *w, const cst_incident_row *i);
CST_MUST_USE cst_err cst_store_incident_get(cst_store *st, cst_work *w, const char *id,
                                            cst_incident_row *out);
/* Newest first. */
CST_MUST_USE cst_err cst_store_incident_list(cst_store *st, cst_work *w,
                                             cst_err (*fn)(const cst_incident_row *, void *),
                                             void *ctx);
/* Appends t (its seq is the incident's next; *seq receives it). */
CST_MUST_USE cst_err cst_store_timeline_add(cst_store *st, cst_work *w, const cst_timeline_row *t,
                                            int64_t *seq);
/* In order. */
CST_MUST_USE cst_err cst_store_timeline_list(cst_store *st, cst_work *w, const char *incident_id,
                                             cst_err (*fn)(const cst_timeline_row *, void *),
                                             void *ctx);
/* Inserts or replaces the clock of (incident, tenant). */
CST_MUST_USE cst_err cst_store_clock_put(cst_store *st, cst_work *w, const cst_clock_row *c);
/* The clocks of an incident (NULL: of every incident), by deadline. */
CST_MUST_USE cst_err cst_store_clock_list(cst_store *st, cst_work *w, const char *incident_id,
                                          cst_err (*fn)(const cst_clock_row *, void *), void *ctx);
/* Inserts a notice version; CST_ERR_CONFLICT when that version exists. */
CST_MUST_USE cst_err cst_store_notice_add(cst_store *st, cst_work *w, const cst_notice_row *nt);
CST_MUST_USE cst_err cst_store_notice_get(cst_store *st, cst_work *w, const char *id,
                                          cst_notice_row *out);
/* The notices of an incident and/or a tenant (NULL: any), newest first. */
CST_MUST_USE cst_err cst_store_notice_list(cst_store *st, cst_work *w, const char *incident_id,
                                           const char *tenant_id,
                                           cst_err (*fn)(const cst_notice_row *, void *),
                                           void *ctx);
/* INC-4: records the tenant's decision on a pending notice; CST_ERR_CONFLICT when it was
 * decided already. */
CST_MUST_USE cst_err cst_store_notice_decide(cst_store *st, cst_work *w, const cst_notice_row *nt);

/* ---- access reviews (IAM-6): campaigns, their decisions, the reminders sent ---- */
typedef struct cst_review_row {
    char id[CST_ID_MAX];
    char scope[CST_ID_MAX]; /* the tenant's id, or CST_SYS_TENANT for the operators' review */
    char state[16];         /* open | attested */
    int64_t opened_at;
    char opened_by[CST_ID_MAX];
    char snapshot_sha256[65];
    int64_t attested_at; /* 0: not yet */
    char attested_by[CST_ID_MAX];
} cst_review_row;

typedef struct cst_review_decision_row {
    char review_id[CST_ID_MAX];
    char principal[CST_ID_MAX];
    char decision[8]; /* keep | revoke */
    char by[CST_ID_MAX];
    int64_t at;
    char comment[512];
} cst_review_decision_row;

/* Inserts a new open campaign with its snapshot (JSON text); CST_ERR_CONFLICT when the scope
 * has an open one already (one open campaign per scope). */
CST_MUST_USE cst_err cst_store_review_add(cst_store *st, cst_work *w, const cst_review_row *r,
                                          const char *snapshot);
/* A campaign; snapshot and attestation (optional) receive its snapshot and its signed
 * attestation document ("" until attested). */
CST_MUST_USE cst_err cst_store_review_get(cst_store *st, cst_work *w, const char *id,
                                          cst_review_row *out, cst_buf *snapshot,
                                          cst_buf *attestation);
/* The campaigns of a scope, newest first. */
CST_MUST_USE cst_err cst_store_review_list(cst_store *st, cst_work *w, const char *scope,
                                           cst_err (*fn)(const cst_review_row *, void *),
                                           void *ctx);
/* Closes an open campaign: attested at, by, with its signed attestation document;
 * CST_ERR_CONFLICT when it is not open (attested already). */
CST_MUST_USE cst_err cst_store_review_attest(cst_store *st, cst_work *w, const char *id, int64_t at,
                                             const char *by, const char *attestation);
/* Inserts or replaces the decision on (review, principal). */
CST_MUST_USE cst_err cst_store_review_decide(cst_store *st, cst_work *w,
                                             const cst_review_decision_row *d);
/* A campaign's decisions, by principal. */
CST_MUST_USE cst_err cst_store_review_decisions(cst_store *st, cst_work *w, const char *review_id,
                                                cst_err (*fn)(const cst_review_decision_row *,
                                                              void *),
                                                void *ctx);
/* Claims the scope's reminder at now if none was claimed within interval_us before it
 * (*claimed), atomically, so that two sweeps never both remind. Committed on its own. */
CST_MUST_USE cst_err cst_store_review_remind(cst_store *st, const char *scope, int64_t now,
                                             int64_t interval_us, bool *claimed);
/* ---- leases: one node at a time (issue 20) ----
 * Claims the lease name for holder until now + ttl_us when it is free, expired or holder's
 * already (a renewal), atomically for every node sharing the store; *held says whether holder
 * has it now. ttl_us 0 gives it up (when holder has it). A node that dies loses its leases when
 * they expire. Committed on its own. */
CST_MUST_USE cst_err cst_store_lease(cst_store *st, const char *name, const char *holder,
                                     int64_t now, int64_t ttl_us, bool *held);
/* Holds the lock name for w's transaction: until it ends, no other unit of work that asks for
 * name, on this node or any other sharing the store, gets past this call (it waits). For a
 * find-then-write that no single statement or row lock can make atomic (an alert's
 * de-duplication, the first init of a shared database). SQLite: w holds the system store's
 * write lock, which serialises every writer of the file. */
CST_MUST_USE cst_err cst_store_exclusive(cst_store *st, cst_work *w, const char *name);

/* ---- lockbox (IAM-8): operators' access requests and the grants they become ---- */
#define CST_ACCESS_TEXT 1024 /* a justification, a comment */
#define CST_ACCESS_LIST 2048 /* approvals: a JSON array of {by, at, comment} */

typedef struct cst_access_row {
    char id[CST_ID_MAX]; /* ar_... */
    char tenant_id[CST_ID_MAX];
    char requester[CST_ID_MAX];            /* the operator's user id */
    char requester_name[CST_NAME_MAX + 1]; /* the operator's username, for the same-person rule */
    char reason[24];                       /* customer_support | service_incident | legal_request */
    char justification[CST_ACCESS_TEXT];
    char ticket[128];
    uint32_t perms;                /* the scope's permissions (bit set of cst_perm) */
    char buckets[CST_GRANTS_JSON]; /* the scope's buckets: JSON array of names, or ["*"] */
    int64_t duration_seconds;
    char state[16]; /* pending | approved | denied | expired | revoked | used_up */
    bool break_glass;
    char review_state[16]; /* none | review_pending | reviewed */
    char reviewed_by[CST_ID_MAX];
    int64_t reviewed_at;
    char review_comment[CST_ACCESS_TEXT];
    char incident_id[CST_ID_MAX];   /* break-glass: the incident it opened */
    int64_t created_at, expires_at; /* expires_at: pending until then; then the window's end */
    char approvals[CST_ACCESS_LIST];
    char decided_by[CST_ID_MAX]; /* who denied or revoked */
    char decision_comment[CST_ACCESS_TEXT];
    int64_t decided_at;
    int64_t window_from, window_until; /* 0 until approved */
    char token_id[CST_ID_MAX];         /* the grant credential, once issued ("" before) */
    int64_t use_requests, use_records_read;
} cst_access_row;

/* Inserts or replaces an access request (principals: its credential's checks read it). */
CST_MUST_USE cst_err cst_store_access_put(cst_store *st, cst_work *w, const cst_access_row *a);
CST_MUST_USE cst_err cst_store_access_get(cst_store *st, cst_work *w, const char *id,
                                          cst_access_row *out);
/* The requests of a tenant (NULL: of every tenant), newest first. */
CST_MUST_USE cst_err cst_store_access_list(cst_store *st, cst_work *w, const char *tenant_id,
                                           cst_err (*fn)(const cst_access_row *, void *),
                                           void *ctx);
/* IAM-8: counts a use of a grant (requests, records read): recorded use, like a token's touch,
 * it leaves the principals generation. */
CST_MUST_USE cst_err cst_store_access_use(cst_store *st, cst_work *w, const char *id,
                                          int64_t requests, int64_t records_read);

/* Makes everything committed durable in the system store's main files and empties its log,
 * failing if any of it could not be moved (so no old page image of a destroyed key survives in
 * a log). */
CST_MUST_USE cst_err cst_store_checkpoint(cst_store *st);
/* RET-4: the residue check of a crypto-erase. Checkpoints the system store, then checks that
 * nothing of the destroyed wrapped keys remains in any of its files: its write-ahead log is
 * empty and none of hex_blobs (a JSON array of hex strings, the wrapped keys just deleted)
 * occurs in its bytes. note (optional) receives one sentence per check passed, for the
 * certificate of deletion. CST_ERR_INTEGRITY when something remains. */
CST_MUST_USE cst_err cst_store_residue_check(cst_store *st, const json_t *hex_blobs,
                                             void (*note)(const char *check, void *ctx), void *ctx);
/* Whether data_dir holds an initialised system store. */
bool cst_store_exists(const char *data_dir);
/* Whether data_dir is a node of a store of the driver called driver (NULL: the default):
 * SQLite's system.db, or a PostgreSQL node's store.node (its database is not asked). */
bool cst_store_exists_driver(const char *driver, const char *data_dir);

/* ---- copies (BAK-1..4): a store's data copied out of a data dir, for backups and restores ----
 * A copy directory holds copies under the relative names a data dir gives them
 * (cst_store_copy_name), so the files of a whole copy become a data dir by moving them into
 * place, and a backup archive carries each copy under its name. */

/* The relative name of the system store's copy (tenant_id NULL) or of a tenant's. */
CST_MUST_USE cst_err cst_store_copy_name(const char *tenant_id, char *out, size_t size);
/* Whether name is the copy of a tenant's store, and whose (id). */
bool cst_store_copy_tenant(const char *name, char id[CST_ID_MAX]);
/* A consistent point-in-time copy of the system store (tenant_id NULL) or of one tenant's
 * store, written to dir under its copy name, while the node goes on serving. *exists is false
 * (and nothing is written) when the tenant never stored anything. */
CST_MUST_USE cst_err cst_store_snapshot(cst_store *st, const char *tenant_id, const char *dir,
                                        bool *exists);
/* Checks the copy dir/name read-only: with integrity, the driver's full integrity check; the
 * counts of a tenant copy's records and buckets when asked. CST_ERR_INTEGRITY when damaged. */
CST_MUST_USE cst_err cst_store_copy_check(const char *dir, const char *name, bool integrity,
                                          int64_t *records, int64_t *buckets);
/* The tenant ids (in id order) and the tombstones of the system store's copy in dir. An error
 * a callback returns stops the listing and is returned. */
CST_MUST_USE cst_err cst_store_copy_lists(const char *dir,
                                          cst_err (*tenant)(const char *id, void *ctx),
                                          cst_err (*tomb)(const cst_tombstone_row *, void *ctx),
                                          void *ctx);
/* BAK-4: drops the n erased tenants (their rows, keys, users and tokens) from the system
 * store's copy in dir and records their tombstones there, in one transaction. */
CST_MUST_USE cst_err cst_store_copy_drop_erased(const char *dir, const cst_tombstone_row *tombs,
                                                size_t n);
/* Restores one tenant from the copy dir into the live (stopped) node of st: the tenant row and
 * its keys when missing (a key version is never overwritten), its users when the tenant itself
 * was missing (*created), then its tenant store replaced by the copy's when the copy has one.
 * Everything else of the node stays as it is. CST_ERR_NOT_FOUND when the copy has no such
 * tenant. */
CST_MUST_USE cst_err cst_store_merge_tenant(cst_store *st, const char *dir, const char *tenant_id,
                                            bool *created);
/* Ends the point-in-time view that cst_store_snapshot(st, NULL, ...) began on this thread (a
 * backup calls it once its last tenant copy is written, whatever the outcome): until then, the
 * tenant copies this thread takes of st come from the same point in time as the system copy
 * where the driver keeps one view (PostgreSQL: one REPEATABLE READ transaction; SQLite copies
 * each file at its own instant, and this does nothing). Harmless without a snapshot. */
CST_MUST_USE cst_err cst_store_snapshot_end(cst_store *st);
/* Imports a whole copy in dir (its system copy and every tenant copy it lists) into st, whose
 * database must hold no tenant yet (CST_ERR_CONFLICT otherwise): a whole-node restore into a
 * driver whose stores are not files in the data dir (PostgreSQL). The per-node meta keys of
 * the copy become st's node's. One transaction. SQLite's stores are the copies themselves
 * (restore moves them into the data dir): CST_ERR_INVALID there. */
CST_MUST_USE cst_err cst_store_import(cst_store *st, const char *dir);

/* ---- the rows of copies (issue 20) ----
 * A copy's tables, columns and rows as typed values, so that a driver whose stores are not
 * SQLite files writes its snapshots as copies (and merges or imports copies) without knowing
 * the file format. Table and column names come from the copy format's schema in the code,
 * never from a copy's data. */
typedef enum cst_copy_type {
    CST_COPY_ABSENT, /* read: a column the copy predates (the importer uses its default) */
    CST_COPY_NULL,
    CST_COPY_INT,
    CST_COPY_TEXT, /* p, len: UTF-8 without NUL */
    CST_COPY_BYTES /* p, len */
} cst_copy_type;
typedef struct cst_copy_value {
    cst_copy_type type;
    int64_t i;
    const void *p;
    size_t len;
} cst_copy_value;
typedef struct cst_copy_column {
    const char *name;
    cst_copy_type type; /* its declared type: INT, TEXT or BYTES */
} cst_copy_column;
typedef struct cst_copy_table {
    const char *name;
    const char *tenant_col; /* the column naming the tenant a row belongs to, or NULL */
    const cst_copy_column *cols;
    size_t ncols;
} cst_copy_table;
typedef struct cst_copy_writer cst_copy_writer;

/* The tables of the copy called name (system or tenant, cst_store_copy_name), in the order
 * they are created (a table referenced by another comes first). Static storage. */
CST_MUST_USE cst_err cst_store_copy_tables(const char *name, const cst_copy_table **tables,
                                           size_t *n);
/* Writes a new copy dir/name (replacing a stale file of that name): creates it with its
 * schema, calls fill, which adds rows with cst_store_copy_put, and commits them as one
 * self-contained file. When fill fails, no file is left. */
CST_MUST_USE cst_err cst_store_copy_write(const char *dir, const char *name,
                                          cst_err (*fill)(cst_copy_writer *wr, void *ctx),
                                          void *ctx);
/* Adds one row (row[i]: the value of column i of tables[table]; an existing row of the same
 * key is replaced) to the copy being written. */
CST_MUST_USE cst_err cst_store_copy_put(cst_copy_writer *wr, size_t table,
                                        const cst_copy_value *row);
/* Calls row for each row of tables[table] of the copy dir/name (only the rows of tenant_id
 * when given and the table has a tenant column), with its values in column order (pointers
 * valid during the call). A copy without that table has no rows. */
CST_MUST_USE cst_err cst_store_copy_read(const char *dir, const char *name, size_t table,
                                         const char *tenant_id,
                                         cst_err (*row)(const cst_copy_value *vals, void *ctx),
                                         void *ctx);

/* ---- tenant store ---- */
typedef struct cst_bucket_row {
    char name[CST_NAME_MAX + 1];
    int64_t retention_seconds;
    char cls[16];
    int64_t created_at;
    int64_t updated_at;
    int64_t record_count;
} cst_bucket_row;

typedef struct cst_record_row {
    uint8_t bidx[CST_HASH_LEN];
    uint64_t version;
    uint32_t dek_version;
    int64_t size;
    int64_t created_at;
    int64_t updated_at;
    cst_buf meta;  /* sealed key and content type */
    cst_buf value; /* sealed value (not filled by listings) */
} cst_record_row;

void cst_record_row_init(cst_record_row *r);
void cst_record_row_free(cst_record_row *r);

/* The tenant stores of a node: a tenant's buckets and records (live), and the billing records
 * kept after its erase under their own key (RET-2: retained). */
typedef enum cst_tspace { CST_TSPACE_LIVE, CST_TSPACE_RETAINED } cst_tspace;

/* Opens the tenant's store in space (creating it when create). CST_ERR_INVALID for a
 * malformed tenant id. */
CST_MUST_USE cst_err cst_tstore_open(cst_store *st, cst_tspace space, const char *tenant_id,
                                     bool create, cst_tstore **out);
void cst_tstore_close(cst_tstore *ts);
/* Closes a store that is likely to be opened again soon (a tenant the node's LRU of open
 * stores lets go): the driver may keep what makes the next open cheaper (SQLite: the emptied
 * WAL and its index files stay, so no file is removed now and created again then). */
void cst_tstore_close_warm(cst_tstore *ts);
/* Whether the tenant has a store in space (a tenant that never stored anything may have none). */
CST_MUST_USE cst_err cst_tstore_exists(cst_store *st, cst_tspace space, const char *tenant_id,
                                       bool *exists);
/* RET-4: removes the tenant's store in space entirely (every file the driver keeps for it, its
 * logs included) and checks that nothing of it is left; removed (optional) receives the name
 * of each thing removed, for the certificate of deletion. The store must be closed.
 * Idempotent. */
CST_MUST_USE cst_err cst_tstore_purge(cst_store *st, cst_tspace space, const char *tenant_id,
                                      void (*removed)(const char *name, void *ctx), void *ctx);

/* A transaction spans several calls; every other call made by the same thread in between
 * joins it. Calls outside a transaction are atomic on their own. */
CST_MUST_USE cst_err cst_tstore_begin(cst_tstore *ts, cst_work *w);
CST_MUST_USE cst_err cst_tstore_commit(cst_tstore *ts, cst_work *w);
void cst_tstore_rollback(cst_tstore *ts, cst_work *w);

CST_MUST_USE cst_err cst_tstore_bucket_create(cst_tstore *ts, cst_work *w, const cst_bucket_row *b);
CST_MUST_USE cst_err cst_tstore_bucket_get(cst_tstore *ts, cst_work *w, const char *name,
                                           cst_bucket_row *out);
/* CST_ERR_NOT_FOUND when the bucket does not exist (cheaper than bucket_get: no counting). */
CST_MUST_USE cst_err cst_tstore_bucket_exists(cst_tstore *ts, cst_work *w, const char *name);
CST_MUST_USE cst_err cst_tstore_bucket_list(cst_tstore *ts, cst_work *w,
                                            cst_err (*fn)(const cst_bucket_row *, void *),
                                            void *ctx);
CST_MUST_USE cst_err cst_tstore_bucket_update(cst_tstore *ts, cst_work *w, const cst_bucket_row *b);
/* Deletes an empty bucket; CST_ERR_CONFLICT when it still holds records. */
CST_MUST_USE cst_err cst_tstore_bucket_delete(cst_tstore *ts, cst_work *w, const char *name);

/* Allocates the next record version of the tenant (inside a transaction). */
CST_MUST_USE cst_err cst_tstore_next_version(cst_tstore *ts, cst_work *w, uint64_t *version);
/* Fills out (meta and, when with_value, value); CST_ERR_NOT_FOUND when absent or expired
 * (RET-1: older than its bucket's retention). */
CST_MUST_USE cst_err cst_tstore_record_get(cst_tstore *ts, cst_work *w, const char *bucket,
                                           const uint8_t bidx[CST_HASH_LEN], bool with_value,
                                           cst_record_row *out);
/* Inserts or replaces a record (keeping its created_at). */
CST_MUST_USE cst_err cst_tstore_record_write(cst_tstore *ts, cst_work *w, const char *bucket,
                                             const cst_record_row *r);
CST_MUST_USE cst_err cst_tstore_record_delete(cst_tstore *ts, cst_work *w, const char *bucket,
                                              const uint8_t bidx[CST_HASH_LEN]);
/* Calls fn for the bucket's live records in blind-index order after `after` (NULL: from the
 * start) until fn returns false. Rows carry meta; flags add values and expired records. */
#define CST_SCAN_VALUES 1u
#define CST_SCAN_EXPIRED 2u /* include records past retention not yet swept (drills) */
CST_MUST_USE cst_err cst_tstore_record_scan(cst_tstore *ts, cst_work *w, const char *bucket,
                                            const uint8_t *after, unsigned flags,
                                            bool (*fn)(const cst_record_row *, void *), void *ctx);
/* RET-1: deletes at most batch records of the bucket last written at or before cutoff (one
 * short transaction, so requests are never held up for long). */
CST_MUST_USE cst_err cst_tstore_sweep(cst_tstore *ts, const char *bucket, int64_t cutoff, int batch,
                                      int64_t *removed);
CST_MUST_USE cst_err cst_tstore_checkpoint_strict(cst_tstore *ts);
/* Every record row of the bucket, expired or not. */
CST_MUST_USE cst_err cst_tstore_count(cst_tstore *ts, cst_work *w, const char *bucket,
                                      int64_t *count);
/* ENC-4: records per DEK version (fn once per version in use). */
CST_MUST_USE cst_err cst_tstore_dek_counts(cst_tstore *ts, cst_work *w,
                                           cst_err (*fn)(uint32_t version, int64_t records,
                                                         void *ctx),
                                           void *ctx);
/* ENC-4: one re-encryption batch in one short transaction: at most limit records not under
 * DEK version target, each handed (with its value) to reseal, which seals it again under
 * target (same record version) in place; the row is replaced only if it is still the one
 * read (bucket, bidx, version and old dek_version unchanged). *done: rows replaced;
 * *seen: rows looked at (0: none left under another version). */
CST_MUST_USE cst_err cst_tstore_rewrap_batch(cst_tstore *ts, uint32_t target, int limit,
                                             cst_err (*reseal)(const char *bucket,
                                                               cst_record_row *r, void *ctx),
                                             void *ctx, int64_t *done, int64_t *seen);

#endif
