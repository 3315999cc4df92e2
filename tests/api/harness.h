/* harness.h: API tests drive a real `custodia serve` process over real HTTPS (libcurl), on a
 * random loopback port with a fresh data dir. */
#ifndef CST_HARNESS_H
#define CST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A user the harness knows the secrets of, so it can log in with two-factor codes. */
typedef struct ts_user {
    char tenant[72];
    char username[72];
    char password[72];
    unsigned char secret[20];
    bool has_totp;
    long long last_step;
    char recovery[10][32];
    int next_recovery;
} ts_user;

typedef struct ts_server {
    char root[256]; /* temp dir holding var/ and the key files */
    char data_dir[300];
    char key_file[300];
    char cacert[320];
    char op_password[64];
    char extra_config[2048]; /* INI text written to root/custodia.ini when non-empty */
    int port;
    pid_t pid;
    bool mounted;              /* root is a tmpfs mounted by ts_init_small_disk */
    unsigned long fsize_limit; /* RLIMIT_FSIZE for the server when non-zero */
    char base[64];
    ts_user users[32];
    int nusers;
    char source_ip[64];   /* when set, requests leave from this local address (127.0.0.2) */
    char store_root[256]; /* PostgreSQL: the root whose database it shares ("": its own) */
    bool told_5xx;        /* the server's errors were printed at its first 500 or 503 */
} ts_server;

typedef struct ts_resp {
    long status;
    char *body;
    size_t len;
    char headers[8192];
    json_t *json; /* parsed body when it is JSON */
} ts_resp;

/* custodia init into a new temp dir (aborts the test on failure). */
void ts_init(ts_server *s);
/* ts_init with more arguments for custodia init (shell words: quote them), e.g. --master-key. */
void ts_init_with(ts_server *s, const char *init_args);
/* ts_init on a small disk: the temp dir is a tmpfs of `bytes` when this process may mount one,
 * else the server runs under RLIMIT_FSIZE = bytes (writes then fail with EFBIG instead of
 * ENOSPC; set TS_NO_MOUNT to force this). Returns a word saying which. */
const char *ts_init_small_disk(ts_server *s, unsigned long bytes);
/* PostgreSQL, after ts_init_small_disk mounted its tmpfs: the tables created from now on in s's
 * database (its tenants' stores) go to a tablespace on that small disk (one per test process),
 * beside the audit log, as SQLite's files are; the system tables stay where they are. false
 * (nothing done) on SQLite or when no tmpfs was mounted. */
bool ts_pg_tables_on_small_disk(ts_server *s);
/* A further node of a's PostgreSQL database (init --join with a's master key; tests run with
 * CST_TEST_DRIVER=postgresql): its own temp dir and data dir; a's operator is its operator. */
void ts_init_join(ts_server *b, const ts_server *a);
/* " --config ROOT/store.ini" when the tests run on PostgreSQL (CST_TEST_DRIVER): the [store]
 * section an offline command of s's data dir needs; "" on SQLite. */
const char *ts_config_arg(const ts_server *s);
/* Starts serve and waits for it to listen; returns false when it exits instead (its stderr is
 * then in root/serve.log). */
bool ts_start(ts_server *s);
/* SIGTERM and wait; returns the exit status. */
int ts_stop(ts_server *s);
void ts_kill9(ts_server *s);
/* Removes the temp dir. */
void ts_cleanup(ts_server *s);

/* One request. token may be NULL; ctype NULL sends no Content-Type; extra is a NULL-terminated
 * list of "Name: value" headers. */
void ts_request(ts_server *s, const char *method, const char *path, const char *token,
                const char *ctype, const void *body, size_t len, const char *const *extra,
                ts_resp *r);
void ts_resp_free(ts_resp *r);
/* JSON request: body is JSON text. */
void ts_json_req(ts_server *s, const char *method, const char *path, const char *token,
                 const char *json, ts_resp *r);
/* Value of a response header (case-insensitive), copied into out; false when absent. */
bool ts_header(const ts_resp *r, const char *name, char *out, size_t n);
/* The error code of a JSON error response ("" when none). */
const char *ts_err(const ts_resp *r);

/* Logs in; returns a malloc'd token or NULL. For a user the harness has enrolled in two-factor
 * it sends the next unused TOTP code (or a recovery code once the window is used up). */
char *ts_login(ts_server *s, const char *tenant, const char *user, const char *pw);
/* The harness's record of a user (NULL when unknown). */
ts_user *ts_user_find(ts_server *s, const char *tenant, const char *user);
/* A TOTP code for the user that the server has not seen yet (within the ±1 window). */
bool ts_next_code(ts_user *u, char code[16]);
/* Enrols the session's user in TOTP and confirms it; records the secret and codes. */
void ts_enrol(ts_server *s, const char *token, const char *tenant, const char *user,
              const char *pw);
/* Completes a first login: changes the one-time password to TS_PASSWORD, enrols two-factor
 * when enrol is true. */
void ts_first_login(ts_server *s, const char *token, const char *tenant, const char *user,
                    const char *otp, bool enrol);
/* Operator login, password change and two-factor enrolment; returns the operator's token. */
char *ts_operator(ts_server *s);
/* LOG-2 tampering: the letter after "action":" in the oldest security segment's first entry,
 * read, and overwritten in place (the node keeps writing the same file). */
char ts_audit_first_action(ts_server *s);
void ts_audit_poke_first_action(ts_server *s, char c);
/* A group's set-up: ts_init, ts_start and ts_operator into *op; 0, or -1 when it failed. */
int ts_setup_operator(ts_server *s, char **op);
/* Opens the stopped server's node in this process (tests that drive the clock); close it with
 * cst_node_close. */
struct cst_node;
void ts_node_open(ts_server *s, struct cst_node *n);
/* ts_node_open with the server's configuration (extra_config, written by ts_start). */
void ts_node_open_config(ts_server *s, struct cst_node *n);
/* Creates an operator with role (by sys-admin session admin), who completes the first login
 * and enrols two-factor. Returns their token. */
char *ts_sys_operator(ts_server *s, const char *admin, const char *username, const char *role);
/* Creates a tenant with owner "owner", who logs in, changes the one-time password and enrols
 * two-factor. Returns the owner's token; tenant_id (32 bytes) receives the id when non-NULL. */
char *ts_tenant(ts_server *s, const char *op_token, const char *name, char *tenant_id);
/* Creates a user with roles (JSON array text) and grants (JSON array text or NULL), who
 * completes the first login (enrolling two-factor when enrol). Returns their token. */
char *ts_user_create(ts_server *s, const char *admin_token, const char *tenant,
                     const char *username, const char *roles, const char *grants, bool enrol,
                     char *user_id);
/* Creates a bucket (asserts 201). */
void ts_bucket(ts_server *s, const char *token, const char *name);
/* PUT a record; returns the status. */
long ts_put(ts_server *s, const char *token, const char *bucket, const char *enc_key,
            const char *ctype, const void *val, size_t len);

/* docs/openapi.yaml holds true to the live server (issue 13). ts_request appends every response
 * (method, raw path, status, content type, JSON body) as one NDJSON line to this process's log
 * under $TS_OPENAPI_LOG_DIR; ts_openapi_check runs tests/openapi/validate.mjs once over what was
 * logged since the last check (after each cmocka_run_group_tests, and at exit for the rest) and
 * returns 1 when a response does not match its operation in the description, else 0. */
void ts_openapi_log(const char *method, const char *path, const ts_resp *r);
int ts_openapi_check(void);

/* Seconds on the monotonic clock (for test timings and deadlines). */
double ts_now_s(void);

/* Runs a shell command, returning its exit status. */
int ts_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define TS_PASSWORD "Sturdy-Vault-Passphrase-2026"

/* Harness hygiene. Every server ts_init/ts_start creates is registered until ts_cleanup. When a
 * test fails (a cmocka assertion longjmps past its clean-up), ts_teardown kills the servers
 * that test started (SIGKILL by pid, wait), unmounts and removes their temp dirs; servers of
 * the group setup live until the group teardown; an atexit handler takes what is left, and a
 * server dies with the test process (PR_SET_PDEATHSIG) should that be killed.
 * cmocka_run_group_tests is redefined below so that every test gets ts_teardown with no change
 * in the test files; a test with its own teardown calls ts_teardown from it. */
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

int ts_teardown(void **state);
/* Kills and removes every registered server registered after mark (0: all). */
void ts_reap_since(unsigned mark);
/* The registry's current mark (the registration count). */
unsigned ts_mark(void);
int ts_run_group_tests(const char *name, const struct CMUnitTest *tests, size_t n,
                       CMFixtureFunction setup, CMFixtureFunction teardown);
#undef cmocka_run_group_tests
#define cmocka_run_group_tests(tests, setup, teardown)                                             \
    ts_run_group_tests(#tests, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)

/* Processes of process group pgid that are still running (zombies do not count; -1 when
 * /proc cannot be read). Waits for nothing: poll it in a bounded loop. */
int ts_group_alive(pid_t pgid);

/* ---- shared set-up, lookups and checks of the API test files ---- */

/* Starts the server (ts_init and any extra_config first), logs the operator in (*op) and
 * creates tenant name with its owner (ts_tenant); returns the owner's token, NULL when the
 * server does not start. */
char *ts_start_tenant(ts_server *s, char **op, const char *name, char *tenant_id);
/* A group teardown: frees n malloc'd tokens (char *, NULL allowed), stops the server and
 * removes its temp dir. Returns 0. */
int ts_finish(ts_server *s, size_t n, ...);
/* One request (JSON body when json is not NULL); returns the status and copies the error code
 * into code (n bytes) when code is not NULL. */
long ts_status(ts_server *s, const char *method, const char *path, const char *token,
               const char *json, char *code, size_t n);
/* One request (JSON body when json is not NULL) that must answer want (asserted, the body
 * printed when not); returns the parsed JSON body (a new reference) or NULL. */
json_t *ts_call(ts_server *s, const char *method, const char *path, const char *token,
                const char *json, long want);
/* The id of the entry named username in the list `list` of GET path (asserts 200 and that it
 * is there): a tenant's users, the node's operators. */
void ts_id_by_name(ts_server *s, const char *token, const char *path, const char *list,
                   const char *username, char *id, size_t n);
/* The first column of the first row of sql on the SQLite file db, opened read-only; -1 when
 * it cannot be read. */
int64_t ts_db_count(const char *db, const char *sql);
/* After a full-disk test: stops the server (asserts exit 0), gives the disk its space back
 * and starts the server again (asserts it starts). */
void ts_restart_with_space(ts_server *s);

/* A report body's row id: its status ("absent" when there is no such row), and the value of
 * its evidence named name (NULL when absent; borrowed from the report). */
const char *ts_report_status(json_t *report, const char *id);
const char *ts_report_summary(json_t *report, const char *id); /* "" when absent */
json_t *ts_report_evidence(json_t *report, const char *id, const char *name);

/* IAM-2: ages the lock of a locked user past its 1800 s while the server is stopped (asserts
 * the stop, the update and the start). */
void ts_expire_lock(ts_server *s, const char *user_id);
/* Runs sql (one statement, no double quotes) on s's system store: sqlite3 on system.db, or psql
 * on its PostgreSQL database with search_path custodia_system (where a tenant's store is
 * reachable as schema t_<tenant id>); returns the exit status. */
int ts_sys_sql(const ts_server *s, const char *sql);
/* The first column of the first row of sql (portable SQL) on s's system store, as
 * ts_db_count (on system.db, or on its PostgreSQL database with search_path custodia_system);
 * -1 when it cannot be read. */
int64_t ts_sys_count(const ts_server *s, const char *sql);

/* BAK-4 set-up on a stopped server: the tenant's tombstone recorded and its database removed,
 * as an erasure leaves them. */
void ts_tenant_erased_offline(ts_server *s, const char *tenant_id);
/* The number of files in dir whose name starts with prefix (0 when dir cannot be read). */
int ts_count_prefix(const char *dir, const char *prefix);

/* ---- pg-port-a: helpers of the port of further API test files to PostgreSQL ---- */

/* For a node the test inits by hand (its data dir under dir, not through ts_init): writes
 * dir/store.ini with the [store] section of dir's own database on PostgreSQL (empty on SQLite),
 * and returns ts_config_arg's " --config dir/store.ini" ("" on SQLite) for its commands. */
const char *ts_store_ini(const char *dir);

/* The first column of the first row of sql (its tables unqualified) on a tenant's store, as
 * ts_db_count: the SQLite file data_dir/<space>/<tenant_id>.db, space "tenants" or "retained",
 * or on PostgreSQL its schema (t_<tenant_id> or r_<tenant_id>) as the search_path; -1 when it
 * cannot be read (no such store). */
int64_t ts_tenant_count(const ts_server *s, const char *space, const char *tenant_id,
                        const char *sql);
/* How many tenant stores s has in space ("tenants" or "retained"): the *.db files of that
 * directory of its data dir (-1 when it cannot be read), or on PostgreSQL the schemas t_tn_* or
 * r_tn_* of its database. */
int ts_tenant_stores(const ts_server *s, const char *space);

/* Undoes ts_pg_tables_on_small_disk before s's small disk goes (a test's teardown, before
 * ts_finish or ts_cleanup): stops s, drops its database (whose tables are on that disk) and the
 * tablespace, so that the process's cluster serves the next test (left, its buffers of the
 * removed files fail every checkpoint). Nothing on SQLite or when there is no such tablespace. */
void ts_pg_small_disk_release(ts_server *s);

/* Gives fn every column of every row of sql (its tables unqualified; bytes or text columns, as
 * stored) on s's system store (tenant_id NULL) or on tenant_id's store in space ("tenants" or
 * "retained"), as ts_tenant_count finds them, row by row. Returns how many rows, -1 when it
 * cannot be read. */
typedef void (*ts_column_fn)(size_t row, int col, const uint8_t *b, size_t len, void *ctx);
long ts_store_rows(const ts_server *s, const char *space, const char *tenant_id, const char *sql,
                   ts_column_fn fn, void *ctx);
/* The bytes of the first column of the first row of sql (its tables unqualified) on s's system
 * store (tenant_id NULL) or on tenant_id's store in space ("tenants" or "retained"), as
 * ts_tenant_count finds them, into out: *n its size in, the length out. false when there is no
 * row, it cannot be read or it does not fit. */
bool ts_store_blob(const ts_server *s, const char *space, const char *tenant_id, const char *sql,
                   uint8_t *out, size_t *n);

/* The files that hold tenant_id's live store, one path a line into out (n bytes): its SQLite
 * file and its -wal; or on PostgreSQL, after a CHECKPOINT, the files of its schema's tables,
 * indexes and TOAST in the cluster's data dir (not the cluster's WAL, which no client clears:
 * store/postgres/erase.c). Returns how many (a file may not exist: -wal). */
int ts_tenant_store_files(const ts_server *s, const char *tenant_id, char *out, size_t n);
/* For a copy of s's data dir the test makes (s stopped): on PostgreSQL the database of dir
 * becomes a copy of s's database (CREATE DATABASE ... TEMPLATE), and dir/store.ini its [store]
 * section; returns ts_config_arg's " --config dir/store.ini" ("" on SQLite, nothing made). */
const char *ts_store_copy(const ts_server *s, const char *dir);

/* ---- pg-port-b: whole stores of a node on either driver (backups, restores) ---- */

/* PostgreSQL: the [store] section of the node whose data dir is dir, on a database of its own
 * (ts_store_dsn(dir)), written to the file dir.ini beside it; arg gets " --config dir.ini" for
 * that node's offline commands. SQLite: arg gets "" (nothing written). */
void ts_dir_config_arg(const char *dir, char *arg, size_t n);
/* Whether the tenant has a live store in the node of data_dir whose PostgreSQL database is
 * ts_store_dsn(db_dir): its file tenants/<id>.db on SQLite, its schema t_<id> on PostgreSQL. */
bool ts_tenant_store_exists(const char *data_dir, const char *db_dir, const char *tenant_id);
/* The stores of the stopped node s emptied, as a lost node's are: system.db and tenants/
 * removed (SQLite), its database dropped and made again empty (PostgreSQL). */
void ts_store_wipe(const ts_server *s);

#endif
