/* test_api_cluster.c: two nodes on one PostgreSQL database (issue 20, SPEC §8). Node A is made
 * by init, node B by init --join with A's master key; both serve at once. What one node does,
 * the other sees: a record, a revoked session (IAM-5, on the next request), failed logins
 * (IAM-2), a used TOTP code (IAM-3); periodic tasks run on one node at a time (leases); an erase
 * leaves no schema, no key row and no key bytes in the database's files (RET-4); a node killed
 * mid-write loses nothing it acknowledged; a master key rotation started on one node is followed
 * by the other (ENC-4), even when its node is killed midway. Always on PostgreSQL (a throw-away
 * cluster). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypto/master.h"
#include "harness.h"
#include "pg_cluster.h"
#include "store_fixture.h"
#include "util/util.h"

static ts_server a, b;
static char *op, *owner, tid[32];

static int setup(void **state)
{
    (void)state;
    ts_init(&a);
    owner = ts_start_tenant(&a, &op, "acme", tid);
    if (!owner) {
        (void)ts_sh("cat %s/serve.log >&2", a.root);
        return -1;
    }
    ts_init_join(&b, &a);
    if (!ts_start(&b)) {
        (void)ts_sh("cat %s/serve.log >&2", b.root);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_cleanup(&b);
    return ts_finish(&a, 2, op, owner);
}

/* A's database's DSN. */
static const char *dsn(void)
{
    return ts_store_dsn(a.root);
}

/* The first value psql prints for sql on A's database ("" when none). */
static void psql_value(const char *sql, char *out, size_t n)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s/psql -X -A -t -q '%s' -c \"%s\"", TS_PG_BIN, dsn(), sql);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    out[0] = '\0';
    if (!fgets(out, (int)n, p))
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    assert_int_equal(pclose(p), 0);
}

static void read_back(ts_server *s, const char *token, const char *key, const char *want)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/buckets/b/records/%s", key);
    ts_resp r;
    ts_request(s, "GET", path, token, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, strlen(want));
    assert_memory_equal(r.body, want, strlen(want));
    ts_resp_free(&r);
}

/* A record written through A is read through B, with A's session (sessions are shared). */
static void test_record_written_on_a_read_on_b(void **state)
{
    (void)state;
    ts_bucket(&a, owner, "b");
    assert_int_equal(ts_put(&a, owner, "b", "k-1", "text/plain", "from-a", 6), 201);
    read_back(&b, owner, "k-1", "from-a");
    assert_int_equal(ts_put(&b, owner, "b", "k-2", "text/plain", "from-b", 6), 201);
    read_back(&a, owner, "k-2", "from-b");
}

/* IAM-5: a session ended on A is refused on B at its very next request, though B has just
 * used it (and cached it). */
static void test_iam5_revocation_on_a_refused_on_b(void **state)
{
    (void)state;
    char *t = ts_login(&a, "acme", "owner", TS_PASSWORD);
    assert_non_null(t);
    json_decref(ts_call(&b, "GET", "/v1/buckets", t, NULL, 200));
    json_decref(ts_call(&b, "GET", "/v1/buckets", t, NULL, 200));
    json_decref(ts_call(&a, "POST", "/v1/auth/logout", t, NULL, 204));
    json_decref(ts_call(&b, "GET", "/v1/buckets", t, NULL, 401));
    free(t);
}

static long login(ts_server *s, const char *user, const char *pw, const char *totp, char *code)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"tenant\":\"acme\",\"username\":\"%s\",\"password\":\"%s\"%s%s%s}", user, pw,
             totp ? ",\"totp\":\"" : "", totp ? totp : "", totp ? "\"" : "");
    ts_resp r;
    ts_json_req(s, "POST", "/v1/auth/login", NULL, body, &r);
    long st = r.status;
    if (code)
        snprintf(code, 64, "%s", ts_err(&r));
    ts_resp_free(&r);
    return st;
}

/* IAM-2: six failed logins, three on each node, lock the account on both. */
static void test_iam2_failures_on_both_nodes_lock(void **state)
{
    (void)state;
    free(ts_user_create(&a, owner, "acme", "locky", "[\"reader\"]", NULL, false, NULL));
    char code[64];
    for (int i = 0; i < 6; i++)
        assert_int_equal(login(i % 2 ? &b : &a, "locky", "wrong-password-123", NULL, code), 401);
    assert_int_equal(login(&a, "locky", TS_PASSWORD, NULL, code), 423);
    assert_string_equal(code, "locked");
    assert_int_equal(login(&b, "locky", TS_PASSWORD, NULL, code), 423);
}

/* IAM-3: a TOTP code accepted by A is a replay on B. */
static void test_iam3_totp_used_on_a_refused_on_b(void **state)
{
    (void)state;
    ts_user *u = ts_user_find(&a, "acme", "owner");
    assert_non_null(u);
    assert_true(u->has_totp);
    char totp[16], code[64];
    assert_true(ts_next_code(u, totp));
    assert_int_equal(login(&a, "owner", TS_PASSWORD, totp, code), 200);
    assert_int_equal(login(&b, "owner", TS_PASSWORD, totp, code), 401);
}

/* Whether s's log says it holds lease name now (the last line about it). */
static bool holds(const ts_server *s, const char *name)
{
    return ts_sh("grep -F 'lease %s:' %s/serve.log | tail -n 1 | grep -q 'this node runs it'", name,
                 s->root) == 0;
}

/* The lifecycle sweep runs on one node at a time: one holds the lease, the other waits; killed,
 * its lease expires and the other takes over. */
static void test_sweep_runs_on_one_node_at_a_time(void **state)
{
    (void)state;
    /* both restarted with a 1 s sweep: the lease lasts 3 s */
    assert_int_equal(ts_stop(&b), 0);
    assert_int_equal(ts_stop(&a), 0);
    snprintf(a.extra_config, sizeof(a.extra_config), "[lifecycle]\nsweep_interval = 1\n");
    snprintf(b.extra_config, sizeof(b.extra_config), "[lifecycle]\nsweep_interval = 1\n");
    sleep(4); /* the leases of the nodes before the restart expire */
    assert_true(ts_start(&a));
    assert_true(ts_start(&b));
    sleep(3);
    bool on_a = holds(&a, "lifecycle.sweep"), on_b = holds(&b, "lifecycle.sweep");
    assert_true(on_a != on_b);
    ts_server *leader = on_a ? &a : &b, *other = on_a ? &b : &a;
    ts_kill9(leader);
    double until = ts_now_s() + 15;
    while (!holds(other, "lifecycle.sweep")) {
        assert_true(ts_now_s() < until);
        usleep(200 * 1000);
    }
    assert_true(ts_start(leader));
    json_decref(ts_call(leader, "GET", "/v1/buckets", owner, NULL, 200));
}

/* 16 bytes (hex) of the wrapped key blob (hex, ended by a space or the end) past its header: the
 * first such window with no newline byte, which grep (line by line) could never match. */
static void probe_of(const char *blob, char out[33])
{
    size_t len = strcspn(blob, " ");
    for (size_t at = 18; at + 32 <= len; at += 2) {
        bool newline = false;
        for (size_t i = at; i < at + 32 && !newline; i += 2)
            newline = !strncasecmp(blob + i, "0a", 2);
        if (!newline) {
            snprintf(out, 33, "%.32s", blob + at);
            return;
        }
    }
    fail_msg("no 16 bytes without a newline in a wrapped key");
}

/* RET-4 on PostgreSQL: the erased tenant's schema, key rows and wrapped key bytes are gone; the
 * database's files (after CHECKPOINT; its WAL aside, as the certificate says) hold none of the
 * key bytes. */
static void test_ret4_erase_on_a_leaves_nothing_in_the_database(void **state)
{
    (void)state;
    char eid[32], sql[256], hex[4096], got[64];
    char *eo = ts_tenant(&a, op, "gone", eid);
    assert_non_null(eo);
    ts_bucket(&b, eo, "b");
    assert_int_equal(ts_put(&b, eo, "b", "g-1", "text/plain", "soon-gone", 9), 201);
    snprintf(sql, sizeof(sql),
             "SELECT string_agg(encode(wrapped, 'hex'), ' ') FROM custodia_system.tenant_keys "
             "WHERE tenant_id = '%s'",
             eid);
    psql_value(sql, hex, sizeof(hex));
    assert_true(strlen(hex) > 64);
    /* the search finds a live key's bytes in the files (so it can find an erased one's) */
    char probe[64], got0[16];
    probe_of(hex, probe);
    psql_value("CHECKPOINT", got0, sizeof(got0));
    assert_int_equal(
        ts_sh("p=$(printf '%s' | sed 's/../\\\\x&/g'); LC_ALL=C grep -rlaqP \"$p\" %s/data "
              "--exclude-dir=pg_wal",
              probe, ts_store_pg_dir()),
        0);
    char path[128];
    snprintf(path, sizeof(path), "/v1/sys/tenants/%s/erase", eid);
    json_t *cert =
        ts_call(&a, "POST", path, op, "{\"requested_by\":\"ticket 9\",\"confirm\":\"gone\"}", 200);
    json_decref(cert);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_namespace WHERE nspname = 't_%s'", eid);
    psql_value(sql, got, sizeof(got));
    assert_string_equal(got, "0");
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM custodia_system.tenant_keys WHERE tenant_id = '%s'", eid);
    psql_value(sql, got, sizeof(got));
    assert_string_equal(got, "0");
    psql_value("CHECKPOINT", got, sizeof(got));
    /* every wrapped key's bytes, searched in the cluster's files but its WAL */
    char *save = NULL;
    for (char *k = strtok_r(hex, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
        char pat[64];
        probe_of(k, pat); /* 16 bytes of the wrapped key itself */
        if (ts_sh("p=$(printf '%s' | sed 's/../\\\\x&/g'); ! LC_ALL=C grep -rlaP \"$p\" %s/data "
                  "--exclude-dir=pg_wal",
                  pat, ts_store_pg_dir()) != 0)
            fail_msg("bytes of an erased tenant's wrapped key are still in the database files");
    }
    free(eo);
}

/* kill -9 of a node in the middle of writes: every write it acknowledged is read through the
 * other node. */
static void test_kill9_mid_write_loses_nothing_acknowledged(void **state)
{
    (void)state;
    char key[32], val[32];
    int acked = 0;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the killer: A dies while the loop below writes */
        usleep(300 * 1000);
        kill(a.pid, SIGKILL);
        _exit(0);
    }
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "kill-%d", i);
        snprintf(val, sizeof(val), "value-%d", i);
        if (ts_put(&a, owner, "b", key, "text/plain", val, strlen(val)) != 201)
            break;
        acked = i + 1;
    }
    int st = 0;
    waitpid(pid, &st, 0);
    ts_kill9(&a); /* reaps it */
    assert_true(acked > 0);
    fprintf(stderr, "kill -9 after %d acknowledged writes\n", acked);
    for (int i = 0; i < acked; i++) {
        snprintf(key, sizeof(key), "kill-%d", i);
        snprintf(val, sizeof(val), "value-%d", i);
        read_back(&b, owner, key, val);
    }
    assert_true(ts_start(&a));
}

/* ---- ENC-4: a master key (KEK) rotation followed by every node (issue 20) ---- */

static char keys_dir[400];

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* A new 32-byte key file in keys_dir (which both nodes' sandboxes let them read). */
static void new_key(const char *name, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", keys_dir, name);
    assert_int_equal(ts_sh("head -c 32 /dev/urandom > %s && chmod 600 %s", path, path), 0);
}

/* Both nodes restarted with a slow rotation (one key a batch, a second apart: what the test does
 * meanwhile happens while it runs) and keys_dir readable; key: keys.master_key for both (NULL: each
 * node's own copy of the first key). */
static void restart_both(const char *key)
{
    char cfg[1024];
    snprintf(
        cfg, sizeof(cfg),
        "[node]\nsandbox_read_paths = %s\n[keys]\nrewrap_batch = 1\nrewrap_pause_ms = 1000\n%s%s%s",
        keys_dir, key ? "master_key = file:" : "", key ? key : "", key ? "\n" : "");
    ts_stop(&b);
    ts_stop(&a);
    snprintf(a.extra_config, sizeof(a.extra_config), "%s", cfg);
    snprintf(b.extra_config, sizeof(b.extra_config), "%s", cfg);
    assert_true(ts_start(&a));
    assert_true(ts_start(&b));
}

/* s restarted with keys.master_key = key, one key a batch, pause_ms apart. */
static bool restart_slow(ts_server *s, const char *key, int pause_ms)
{
    ts_stop(s);
    snprintf(s->extra_config, sizeof(s->extra_config),
             "[node]\nsandbox_read_paths = %s\n[keys]\nrewrap_batch = 1\nrewrap_pause_ms = %d\n"
             "master_key = file:%s\n",
             keys_dir, pause_ms, key);
    return ts_start(s);
}

static bool restart_with(ts_server *s, const char *key)
{
    return restart_slow(s, key, 300);
}

static json_t *kek_status(ts_server *s)
{
    return ts_call(s, "GET", "/v1/sys/keys", op, NULL, 200);
}

/* Waits (bounded) until s's GET /v1/sys/keys shows state, and (when given) kek_id. */
static void kek_wait(ts_server *s, const char *state, const char *kek_id)
{
    double until = ts_now_s() + 50;
    for (;;) {
        json_t *st = kek_status(s);
        bool there = !strcmp(jstr(json_object_get(st, "rotation"), "state"), state) &&
                     (!kek_id || !strcmp(jstr(st, "kek_id"), kek_id));
        json_decref(st);
        if (there)
            return;
        assert_true(ts_now_s() < until);
        usleep(100 * 1000);
    }
}

/* The KEK id root.key of s names. */
static void root_key_kek(const ts_server *s, char id[2 * CST_MASTER_ID_BYTES + 1])
{
    char path[400];
    snprintf(path, sizeof(path), "%s/root.key", s->data_dir);
    cst_buf blob;
    cst_buf_init(&blob, 128);
    assert_int_equal(cst_file_read(path, 1024, &blob), CST_OK);
    assert_true(cst_master_blob_id(blob.data, blob.len, id));
    cst_buf_free(&blob);
}

/* The wrapped keys (of tenant, or all when NULL) whose blob names another KEK than kek_id. */
static long keys_not_under(const char *tenant, const char *kek_id)
{
    char sql[512], got[64];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM custodia_system.tenant_keys WHERE substr(encode(wrapped, "
             "'hex'), 3, 16) <> '%s'%s%s%s",
             kek_id, tenant ? " AND tenant_id = '" : "", tenant ? tenant : "", tenant ? "'" : "");
    psql_value(sql, got, sizeof(got));
    return atol(got);
}

/* A new tenant made on one node, a record written there and read on the other; id: its id. */
static void tenant_across(ts_server *on, ts_server *other, const char *name, char id[32])
{
    char *o = ts_tenant(on, op, name, id);
    assert_non_null(o);
    ts_bucket(on, o, "b");
    assert_int_equal(ts_put(on, o, "b", "x", "text/plain", name, strlen(name)), 201);
    read_back(other, o, "x", name);
    read_back(on, o, "x", name);
    free(o);
}

/* Rotated on A to a key file both nodes read: B follows at once (GET /v1/sys/keys on B shows the
 * rotation), records written before are read through B while it runs and after it, tenants made
 * on each node meanwhile are read on the other (their keys under the new KEK), a second rotation
 * and a backup on B meanwhile are refused; at the end both nodes name the new KEK, B's root.key is
 * under it, B starts with the new key and is refused with the old one, naming the key id it needs.
 */
static void test_enc4_kek_rotation_followed_by_every_node(void **state)
{
    (void)state;
    snprintf(keys_dir, sizeof(keys_dir), "%s/keys", a.root);
    assert_int_equal(ts_sh("mkdir -p %s && chmod 700 %s", keys_dir, keys_dir), 0);
    restart_both(NULL);
    for (int i = 0; i < 4; i++) { /* keys enough for a rotation of a few seconds */
        char name[32];
        snprintf(name, sizeof(name), "kr-%d", i);
        free(ts_tenant(&a, op, name, NULL));
    }
    assert_int_equal(ts_put(&a, owner, "b", "before-kek", "text/plain", "old-kek", 7), 201);
    char k2[512], body[600], old_id[32], new_id[32], rid[2 * CST_MASTER_ID_BYTES + 1], tid_b[32];
    new_key("k2.key", k2, sizeof(k2));
    json_t *st = kek_status(&a);
    snprintf(old_id, sizeof(old_id), "%s", jstr(st, "kek_id"));
    json_decref(st);

    snprintf(body, sizeof(body), "{\"master_key\":\"file:%s\"}", k2);
    st = ts_call(&a, "POST", "/v1/sys/keys/rotate", op, body, 202);
    snprintf(new_id, sizeof(new_id), "%s", jstr(json_object_get(st, "rotation"), "to_kek_id"));
    json_decref(st);
    assert_string_not_equal(new_id, old_id);
    /* B follows: its status shows the shared rotation */
    double until = ts_now_s() + 20;
    for (;;) {
        st = kek_status(&b);
        json_t *rot = json_object_get(st, "rotation");
        bool following = !strcmp(jstr(rot, "state"), "running") &&
                         !strcmp(jstr(rot, "to_kek_id"), new_id) &&
                         !strcmp(jstr(rot, "from_kek_id"), old_id);
        json_decref(st);
        if (following)
            break;
        assert_true(ts_now_s() < until);
        usleep(50 * 1000);
    }
    /* meanwhile: no second rotation on the other node */
    json_decref(ts_call(&b, "POST", "/v1/sys/keys/rotate", op, body, 409));
    json_decref(ts_call(&b, "POST", "/v1/sys/backups", op, NULL, 409)); /* one KEK a backup */
    read_back(&b, owner, "before-kek", "old-kek");
    tenant_across(&b, &a, "made-on-b", tid_b);
    assert_int_equal(keys_not_under(tid_b, new_id), 0); /* B wraps by the new KEK */
    tenant_across(&a, &b, "made-on-a", tid_b);
    st = kek_status(&a);
    assert_string_equal(jstr(json_object_get(st, "rotation"), "state"), "running");
    json_decref(st);

    kek_wait(&a, "idle", new_id);
    kek_wait(&b, "idle", new_id);
    read_back(&b, owner, "before-kek", "old-kek");
    tenant_across(&b, &a, "after-on-b", tid_b);
    tenant_across(&a, &b, "after-on-a", tid_b);
    assert_int_equal(keys_not_under(NULL, new_id), 0); /* every key, whoever wrapped it */
    root_key_kek(&b, rid);
    assert_string_equal(rid, new_id);
    root_key_kek(&a, rid);
    assert_string_equal(rid, new_id);
    assert_int_equal(ts_sh("grep -q 'finished by another node' %s/serve.log", b.root), 0);

    /* B started with the new key: it serves; with the old one: refused, naming the key id */
    assert_true(restart_with(&b, k2));
    read_back(&b, owner, "before-kek", "old-kek");
    char old_file[400];
    snprintf(old_file, sizeof(old_file), "%s/custodia-master.key", b.root);
    assert_false(restart_with(&b, old_file));
    assert_int_equal(ts_sh("tail -n 5 %s/serve.log | grep -q 'need key id %s'", b.root, new_id), 0);
    assert_true(restart_with(&b, k2));
    assert_true(restart_with(&a, k2));
}

/* Starts a rotation on s to a new key file name; *id: its key id. */
static void rotate_to(ts_server *s, const char *name, char *path, size_t n, char id[32])
{
    char body[600];
    new_key(name, path, n);
    snprintf(body, sizeof(body), "{\"master_key\":\"file:%s\"}", path);
    json_t *st = ts_call(s, "POST", "/v1/sys/keys/rotate", op, body, 202);
    snprintf(id, 32, "%s", jstr(json_object_get(st, "rotation"), "to_kek_id"));
    json_decref(st);
}

/* A node that cannot open the new key (its file missing there) starts and serves with the old
 * one, but is not ready, naming the key id it lacks; once the file is there, it follows the
 * rotation and is ready again. */
static void test_enc4_node_without_the_new_kek_is_not_ready(void **state)
{
    (void)state;
    char k2[512], k3[512], id3[32];
    snprintf(k2, sizeof(k2), "%s/k2.key", keys_dir);
    ts_stop(&b);
    assert_true(restart_slow(&a, k2, 1000)); /* a rotation of a dozen seconds */
    rotate_to(&a, "k3.key", k3, sizeof(k3), id3);
    assert_int_equal(ts_sh("mv %s %s.away", k3, k3), 0);
    assert_true(restart_with(&b, k2));
    ts_resp r;
    ts_request(&b, "GET", "/v1/sys/ready", NULL, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 503);
    char text[4096];
    snprintf(text, sizeof(text), "%.*s", (int)r.len, (const char *)r.body);
    ts_resp_free(&r);
    assert_non_null(strstr(text, id3));
    assert_int_equal(ts_sh("grep -c 'needs key id %s' %s/serve.log | grep -qx 1", id3, b.root), 0);
    json_t *st = kek_status(&b);
    json_t *rot = json_object_get(st, "rotation");
    assert_string_equal(jstr(rot, "state"), "running");
    assert_string_equal(jstr(rot, "to_kek_id"), id3);
    assert_non_null(strstr(jstr(rot, "error"), "cannot open it"));
    json_decref(st);
    json_decref(ts_call(&b, "GET", "/v1/sys/health", NULL, NULL, 200)); /* it serves */
    /* the key file back: B follows and is ready */
    assert_int_equal(ts_sh("mv %s.away %s", k3, k3), 0);
    double until = ts_now_s() + 20;
    for (;;) {
        ts_request(&b, "GET", "/v1/sys/ready", NULL, NULL, NULL, 0, NULL, &r);
        long code = r.status;
        ts_resp_free(&r);
        if (code == 200)
            break;
        assert_true(ts_now_s() < until);
        usleep(100 * 1000);
    }
    kek_wait(&a, "idle", id3);
    kek_wait(&b, "idle", id3);
    read_back(&b, owner, "before-kek", "old-kek");
    assert_true(restart_with(&a, k3));
    assert_true(restart_with(&b, k3));
}

/* kill -9 of the rotating node midway: the other node takes the batches over once its lease
 * expires and ends the rotation; the killed node, started with the new key, rewraps its own
 * root.key (the old key from the source the rotation recorded) and serves. */
static void test_enc4_kek_rotation_survives_kill9_of_its_node(void **state)
{
    (void)state;
    char k4[512], id4[32], rid[2 * CST_MASTER_ID_BYTES + 1];
    rotate_to(&a, "k4.key", k4, sizeof(k4), id4);
    json_t *st = kek_status(&a);
    json_t *rot = json_object_get(st, "rotation");
    assert_string_equal(jstr(rot, "state"), "running");
    assert_true(json_integer_value(json_object_get(rot, "done")) <
                json_integer_value(json_object_get(rot, "total")));
    json_decref(st);
    ts_kill9(&a);
    kek_wait(&b, "idle", id4);
    assert_int_equal(ts_sh("grep -q 'lease kek.rotation: this node runs it' %s/serve.log", b.root),
                     0);
    root_key_kek(&b, rid);
    assert_string_equal(rid, id4);
    read_back(&b, owner, "before-kek", "old-kek");
    assert_true(restart_with(&a, k4));
    root_key_kek(&a, rid);
    assert_string_equal(rid, id4);
    read_back(&a, owner, "before-kek", "old-kek");
    char tid_k[32];
    tenant_across(&a, &b, "after-kill", tid_k);
    assert_int_equal(keys_not_under(NULL, id4), 0);
}

/* DET-1 across nodes: requests refused by a tenant's IP allowlist, sent to both nodes at once,
 * are one disallowed_ip alert counting every refusal: each raise's find-then-write runs under
 * one exclusion for every node (cst_store_exclusive), so no second alert opens and no count is
 * lost between a read and a write of the other node. */
typedef struct refuse_job {
    ts_server s; /* a copy of a node's, whose requests leave from 127.0.0.3 */
    const char *token;
    int n, refused;
} refuse_job;

static void *refuse_thread(void *p)
{
    refuse_job *j = p;
    char code[64];
    for (int i = 0; i < j->n; i++)
        j->refused +=
            ts_status(&j->s, "GET", "/v1/tenant", j->token, NULL, code, sizeof(code)) == 403 &&
            strcmp(code, "ip_not_allowed") == 0;
    return NULL;
}

static void test_det1_one_alert_across_nodes(void **state)
{
    (void)state;
    char t2[32], path[128];
    char *o2 = ts_tenant(&a, op, "spread", t2);
    assert_non_null(o2);
    assert_int_equal(
        ts_status(&a, "PATCH", "/v1/tenant", o2, "{\"ip_allowlist\":[\"127.0.0.1/32\"]}", NULL, 0),
        200);
    enum { JOBS = 4, EACH = 25 };
    static refuse_job jobs[JOBS];
    pthread_t th[JOBS];
    for (int i = 0; i < JOBS; i++) {
        jobs[i] = (refuse_job){.s = i % 2 ? b : a, .token = o2, .n = EACH};
        snprintf(jobs[i].s.source_ip, sizeof(jobs[i].s.source_ip), "127.0.0.3");
        assert_int_equal(pthread_create(&th[i], NULL, refuse_thread, &jobs[i]), 0);
    }
    int refused = 0;
    for (int i = 0; i < JOBS; i++) {
        pthread_join(th[i], NULL);
        refused += jobs[i].refused;
    }
    assert_int_equal(refused, JOBS * EACH);
    char *sec = ts_sys_operator(&a, op, "watcher", "sys-security");
    snprintf(path, sizeof(path), "/v1/sys/alerts?type=disallowed_ip&tenant=%s", t2);
    for (ts_server *s = &a; s; s = s == &a ? &b : NULL) {
        json_t *list = ts_call(s, "GET", path, sec, NULL, 200);
        json_t *items = json_object_get(list, "alerts");
        assert_int_equal(json_array_size(items), 1);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "count")),
                         JOBS * EACH);
        json_decref(list);
    }
    free(sec);
    free(o2);
}

/* Two first inits of one fresh database at once (different regions, different first
 * operators): one makes the region and its operator, the other waits for it (the "init"
 * exclusion) and is refused, naming init --join; the database holds one region and one
 * operator; the loser leaves no data dir, no K0 file and no node row. */
static void test_two_first_inits_at_once_make_one(void **state)
{
    (void)state;
    char root[] = "/tmp/cst-init-race-XXXXXX", sql[256], v[64];
    assert_non_null(mkdtemp(root));
    const char *d = ts_store_dsn(root);
    assert_int_equal(ts_sh("printf '[store]\\ndriver = postgresql\\ndsn = %s\\n' > %s/store.ini && "
                           "head -c 32 /dev/urandom > %s/k && chmod 600 %s/k",
                           d, root, root, root),
                     0);
    const char *bin = getenv("CUSTODIA_BIN");
    assert_non_null(bin);
    assert_int_equal(
        ts_sh("cd %s && for i in 1 2; do mkdir $i; (%s init --data-dir %s/$i/n --config "
              "store.ini --master-key file:%s/k --region r$i --operator-username "
              "op$i > out$i 2>&1; echo $? > rc$i) & done; wait",
              root, bin, root, root),
        0);
    int won = ts_sh("grep -qx 0 %s/rc1", root) == 0 ? 1 : 2, lost = 3 - won;
    assert_int_equal(ts_sh("grep -qx 0 %s/rc%d", root, won), 0);
    if (ts_sh("grep -qx 0 %s/rc%d", root, lost) == 0 ||
        ts_sh("grep -q 'initialised already.*init --join' %s/out%d", root, lost) != 0) {
        (void)ts_sh("cat %s/out1 %s/out2 >&2", root, root);
        fail_msg("the second first init was not refused");
    }
    char cmd[1024];
    snprintf(sql, sizeof(sql),
             "SELECT string_agg(v, ',') FROM custodia_system.meta WHERE k = 'region'");
    snprintf(cmd, sizeof(cmd), "%s/psql -X -A -t -q '%s' -c \"%s\"", TS_PG_BIN, d, sql);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(v, sizeof(v), p));
    assert_int_equal(pclose(p), 0);
    v[strcspn(v, "\n")] = '\0';
    char want[8];
    snprintf(want, sizeof(want), "r%d", won);
    assert_string_equal(v, want);
    snprintf(cmd, sizeof(cmd),
             "%s/psql -X -A -t -q '%s' -c \"SELECT string_agg(username, ',') FROM "
             "custodia_system.users\" | grep -qx op%d",
             TS_PG_BIN, d, won);
    assert_int_equal(ts_sh("%s", cmd), 0);
    /* the refused init made nothing that stays: no data dir, no K0, no node row */
    assert_int_not_equal(ts_sh("test -e %s/%d/n", root, lost), 0);
    assert_int_not_equal(ts_sh("test -e %s/%d/custodia-audit-k0.key", root, lost), 0);
    snprintf(cmd, sizeof(cmd),
             "%s/psql -X -A -t -q '%s' -c \"SELECT count(*) FROM custodia_system.nodes\" | "
             "grep -qx 1",
             TS_PG_BIN, d);
    assert_int_equal(ts_sh("%s", cmd), 0);
    (void)ts_sh("rm -rf %s", root);
}

int main(void)
{
    setenv("CST_TEST_DRIVER", "postgresql", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_written_on_a_read_on_b),
        cmocka_unit_test(test_iam5_revocation_on_a_refused_on_b),
        cmocka_unit_test(test_iam2_failures_on_both_nodes_lock),
        cmocka_unit_test(test_iam3_totp_used_on_a_refused_on_b),
        cmocka_unit_test(test_ret4_erase_on_a_leaves_nothing_in_the_database),
        cmocka_unit_test(test_kill9_mid_write_loses_nothing_acknowledged),
        cmocka_unit_test(test_sweep_runs_on_one_node_at_a_time),
        cmocka_unit_test(test_det1_one_alert_across_nodes),
        cmocka_unit_test(test_two_first_inits_at_once_make_one),
        cmocka_unit_test(test_enc4_kek_rotation_followed_by_every_node),
        cmocka_unit_test(test_enc4_node_without_the_new_kek_is_not_ready),
        cmocka_unit_test(test_enc4_kek_rotation_survives_kill9_of_its_node),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
