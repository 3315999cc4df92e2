/* test_api_lifecycle.c: RET-1..4 and POR-1 against a real server and the real CLI: retention
 * invisible at once and gone after a sweep; a simulated clock walking tenants through every
 * path of the deletion schedule; crypto-erase that leaves no key, record or audit detail
 * recoverable; signed certificates that fail on one changed byte; export and import. */
#include <ftw.h>
#include <setjmp.h>
#include <sys/stat.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypto/keys.h"
#include "lifecycle/lifecycle.h"
#include "util/util.h"
#include "harness.h"
#include "store_fixture.h"

static ts_server srv;
static char *op;

static json_t *tenant_get(const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/sys/tenants/%s", id);
    ts_resp r;
    ts_request(&srv, "GET", path, op, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *o = json_incref(r.json);
    ts_resp_free(&r);
    return o;
}

static long patch(const char *id, const char *body)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/sys/tenants/%s", id);
    ts_resp r;
    ts_json_req(&srv, "PATCH", path, op, body, &r);
    long st = r.status;
    if (st != 200)
        fprintf(stderr, "PATCH %s: %ld %s\n", body, st, r.body ? r.body : "");
    ts_resp_free(&r);
    return st;
}

/* Whether the tenant's store in space ("tenants" or "retained") exists: its SQLite file, or
 * its PostgreSQL schema with its tables. */
static bool store_exists(const char *space, const char *tenant)
{
    return ts_tenant_count(&srv, space, tenant, "SELECT count(*) FROM meta") >= 0;
}

/* ---- RET-1 ---- */

static void test_ret1_expired_records_invisible_then_swept(void **state)
{
    char tid[32];
    const char *shorts = "SELECT count(*) FROM records WHERE bucket = 'short'";
    char *owner = ts_tenant(&srv, op, "retain", tid);
    ts_resp r;
    assert_int_equal(ts_status(&srv, "POST", "/v1/buckets", owner,
                               "{\"name\":\"short\",\"retention_seconds\":2}", NULL, 0),
                     201);
    ts_bucket(&srv, owner, "keep");
    assert_int_equal(ts_put(&srv, owner, "short", "old", "text/plain", "gone soon", 9), 201);
    assert_int_equal(ts_put(&srv, owner, "keep", "old", "text/plain", "kept", 4), 201);
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/short/records/old", owner, NULL, NULL, 0),
                     200);
    sleep(3);
    /* invisible at once: read, list, bucket count and export, while the row is still stored */
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/short/records/old", owner, NULL, NULL, 0),
                     404);
    ts_request(&srv, "GET", "/v1/buckets/short/records", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "records")), 0);
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/buckets/short", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(json_integer_value(json_object_get(r.json, "record_count")), 0);
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/export", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "\"bucket\":\"short\",\"content_type\""));
    assert_non_null(strstr(r.body, "\"bucket\":\"keep\""));
    ts_resp_free(&r);
    /* a write after expiry starts a new record (If-None-Match: * succeeds) */
    assert_int_equal(ts_tenant_count(&srv, "tenants", tid, shorts), 1);
    /* the sweeper (every second in this test's configuration... after a restart) removes it */
    assert_int_equal(ts_stop(&srv), 0);
    snprintf(srv.extra_config, sizeof(srv.extra_config), "[lifecycle]\nsweep_interval = 1s\n");
    assert_true(ts_start(&srv));
    int64_t left = 1;
    for (int i = 0; i < 50 && left != 0; i++) {
        usleep(100000);
        left = ts_tenant_count(&srv, "tenants", tid, shorts);
    }
    assert_int_equal(left, 0);
    assert_int_equal(
        ts_tenant_count(&srv, "tenants", tid, "SELECT count(*) FROM records WHERE bucket = 'keep'"),
        1);
    assert_int_equal(ts_stop(&srv), 0);
    srv.extra_config[0] = '\0';
    assert_true(ts_start(&srv));
    free(owner);
}

/* ---- RET-2, RET-3 through the API ---- */

static void test_ret2_events_states_and_access(void **state)
{
    char tid[32];
    char *owner = ts_tenant(&srv, op, "states", tid);
    ts_bucket(&srv, owner, "b");
    assert_int_equal(ts_put(&srv, owner, "b", "k", "text/plain", "v", 1), 201);
    json_t *t = tenant_get(tid);
    assert_string_equal(json_string_value(json_object_get(t, "state")), "active");
    assert_true(json_is_null(json_object_get(json_object_get(t, "lifecycle"), "next")));
    json_decref(t);
    /* events that do not apply are refused, with the reason */
    assert_int_equal(patch(tid, "{\"event\":\"trial_ended\"}"), 409);
    assert_int_equal(patch(tid, "{\"event\":\"payment_recovered\"}"), 409);
    assert_int_equal(patch(tid, "{\"event\":\"exploded\"}"), 400);
    assert_int_equal(patch(tid, "{\"plan\":\"gold\"}"), 400);
    assert_int_equal(patch(tid, "{}"), 400);
    assert_int_equal(patch(tid, "{\"event\":7}"), 400);
    /* payment failed: still active, suspension scheduled 15 days out */
    int64_t before = cst_now_us();
    assert_int_equal(patch(tid, "{\"event\":\"payment_failed\"}"), 200);
    t = tenant_get(tid);
    json_t *next = json_object_get(json_object_get(t, "lifecycle"), "next");
    assert_string_equal(json_string_value(json_object_get(next, "state")), "suspended");
    int64_t at = 0;
    assert_true(cst_time_parse(json_string_value(json_object_get(next, "at")), &at));
    assert_true(at >= before + 15 * CST_DAY_US && at <= cst_now_us() + 15 * CST_DAY_US);
    json_decref(t);
    assert_int_equal(patch(tid, "{\"event\":\"payment_recovered\"}"), 200);
    /* terminated: reads and export, no writes */
    assert_int_equal(patch(tid, "{\"event\":\"terminated\"}"), 200);
    ts_resp r;
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/b/records/k", owner, NULL, NULL, 0), 200);
    assert_int_equal(ts_put(&srv, owner, "b", "k2", "text/plain", "v", 1), 403);
    ts_request(&srv, "GET", "/v1/export", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"type\":\"manifest\""));
    ts_resp_free(&r);
    t = tenant_get(tid);
    next = json_object_get(json_object_get(t, "lifecycle"), "next");
    assert_string_equal(json_string_value(json_object_get(next, "state")), "pending_erase");
    json_decref(t);
    /* a closed tenant (cancelled) exports only */
    char t2[32];
    char *o2 = ts_tenant(&srv, op, "closing", t2);
    ts_bucket(&srv, o2, "b");
    assert_int_equal(patch(t2, "{\"event\":\"cancelled\"}"), 200);
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/b/records", o2, NULL, NULL, 0), 403);
    assert_int_equal(ts_status(&srv, "GET", "/v1/export", o2, NULL, NULL, 0), 200);
    ts_request(&srv, "GET", "/v1/tenant", o2, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "state")), "closed");
    ts_resp_free(&r);
    assert_int_equal(patch(t2, "{\"plan\":\"free\"}"), 409);
    free(owner);
    free(o2);
}

/* ---- RET-2, RET-3: the simulated clock ---- */

typedef struct walk_path {
    const char *name, *plan;
    char id[32];
    const char *expect[4]; /* "state@day" ordered transitions */
} walk_path;

static const char *state_of(cst_node *n, const char *id)
{
    static cst_tenant_row t;
    assert_int_equal(cst_store_tenant_get(n->store, NULL, id, &t), CST_OK);
    return t.state;
}

static void test_ret2_ret3_simulated_clock_walk(void **state)
{
    walk_path paths[] = {
        {"p-trial", "trial", "", {"closed@0", "erased@12"}},
        {"p-cancel", "paid", "", {"closed@0", "erased@90"}},
        {"p-payfail", "paid", "", {"active@0", "suspended@15", "closed@90", "erased@97"}},
        {"p-recover", "paid", "", {"active@0", "suspended@15", "active@20"}},
        {"p-free", "free", "", {"active@0", "erased@60"}},
        {"p-term", "paid", "", {"terminated@0", "pending_erase@15", "erased@30"}},
    };
    size_t np = sizeof(paths) / sizeof(paths[0]);
    char *owners[8];
    for (size_t i = 0; i < np; i++) {
        owners[i] = ts_tenant(&srv, op, paths[i].name, paths[i].id);
        char body[64];
        snprintf(body, sizeof(body), "{\"plan\":\"%s\"}", paths[i].plan);
        assert_int_equal(patch(paths[i].id, body), 200);
    }
    /* a billing bucket that must outlive the cancelled tenant's erase */
    assert_int_equal(ts_status(&srv, "POST", "/v1/buckets", owners[1],
                               "{\"name\":\"invoices\",\"class\":\"billing\"}", NULL, 0),
                     201);
    assert_int_equal(ts_put(&srv, owners[1], "invoices", "inv-1", "text/plain", "EUR 12", 6), 201);
    ts_bucket(&srv, owners[1], "notes");
    assert_int_equal(ts_put(&srv, owners[1], "notes", "n", "text/plain", "private", 7), 201);
    assert_int_equal(patch(paths[0].id, "{\"event\":\"trial_ended\"}"), 200);
    assert_int_equal(patch(paths[1].id, "{\"event\":\"cancelled\"}"), 200);
    assert_int_equal(patch(paths[2].id, "{\"event\":\"payment_failed\"}"), 200);
    assert_int_equal(patch(paths[3].id, "{\"event\":\"payment_failed\"}"), 200);
    assert_int_equal(patch(paths[5].id, "{\"event\":\"terminated\"}"), 200);
    int64_t t0 = cst_now_us();
    assert_int_equal(ts_stop(&srv), 0);

    cst_node n;
    ts_node_open(&srv, &n);
    /* each simulated day, an hour before and an hour after the tenant's moment of the day */
    for (int day = 0; day <= 100; day++) {
        for (int half = 0; half < 2; half++) {
            int64_t now = t0 + (int64_t)day * CST_DAY_US + (half ? 3600 : -3600) * 1000000LL;
            if (day == 20 && half == 1) {
                cst_tenant_row t;
                assert_int_equal(cst_store_tenant_get(n.store, NULL, paths[3].id, &t), CST_OK);
                assert_int_equal(cst_lifecycle_apply(&t, "payment_recovered", NULL, now), CST_OK);
                assert_int_equal(cst_store_tenant_lifecycle_set(n.store, NULL, &t), CST_OK);
            }
            json_t *rep = NULL;
            assert_int_equal(cst_lifecycle_sweep(&n, now, &rep), CST_OK);
            json_decref(rep);
            for (size_t i = 0; i < np; i++) {
                /* the expected state: the last transition whose day has fully come */
                const char *want = "active";
                for (int k = 0; k < 4 && paths[i].expect[k]; k++) {
                    char st[32];
                    int d;
                    assert_int_equal(sscanf(paths[i].expect[k], "%31[^@]@%d", st, &d), 2);
                    if (d < day || (d == day && half == 1) || d == 0) {
                        static char keep[8][32];
                        snprintf(keep[i], sizeof(keep[i]), "%s", st);
                        want = keep[i];
                    }
                }
                const char *have = state_of(&n, paths[i].id);
                if (strcmp(have, want) != 0)
                    fail_msg("%s on day %d%s: state %s, expected %s", paths[i].name, day,
                             half ? " (after)" : " (before)", have, want);
            }
        }
    }
    /* the erased tenants' stores are gone; the billing bucket survived under its own key */
    for (size_t i = 0; i < np; i++) {
        bool erased = strcmp(state_of(&n, paths[i].id), "erased") == 0;
        assert_int_equal(store_exists("tenants", paths[i].id), !erased);
    }
    cst_retained_row ret;
    assert_int_equal(cst_store_retained_get(n.store, NULL, paths[1].id, &ret), CST_OK);
    assert_int_equal(ret.records, 1);
    const char *bill = paths[1].id;
    assert_int_equal(ts_tenant_count(&srv, "retained", bill,
                                     "SELECT count(*) FROM records WHERE bucket = 'invoices'"),
                     1);
    assert_int_equal(ts_tenant_count(&srv, "retained", bill,
                                     "SELECT count(*) FROM records WHERE bucket = 'notes'"),
                     0);
    /* 7 years later (the day before, nothing), the billing records go with a certificate */
    json_t *rep = NULL;
    assert_int_equal(cst_lifecycle_sweep(&n, ret.expires_at - CST_DAY_US, &rep), CST_OK);
    json_decref(rep);
    assert_true(store_exists("retained", bill));
    assert_int_equal(cst_lifecycle_sweep(&n, ret.expires_at + 1, &rep), CST_OK);
    json_decref(rep);
    assert_false(store_exists("retained", bill));
    assert_int_equal(cst_store_retained_get(n.store, NULL, paths[1].id, &ret), CST_ERR_NOT_FOUND);
    cst_err_clear();
    cst_node_close(&n);
    assert_true(ts_start(&srv));
    for (size_t i = 0; i < np; i++)
        free(owners[i]);
}

/* ---- RET-4: erase, evidence, certificate ---- */

static const void *holds_needle;
static size_t holds_len;
static bool holds_found;

static int holds_visit(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
    if (type == FTW_D && strcmp(fpath + ftw->base, "pg_wal") == 0)
        return FTW_SKIP_SUBTREE; /* see stored() */
    if (type != FTW_F || holds_found)
        return 0;
    FILE *f = fopen(fpath, "rb");
    if (!f)
        return 0;
    uint8_t *buf = malloc((size_t)sb->st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)sb->st_size, f) : 0;
    if (buf && memmem(buf, n, holds_needle, holds_len))
        holds_found = true;
    free(buf);
    fclose(f);
    return 0;
}

/* Whether any file under dir contains the bytes. */
static bool dir_holds(const char *dir, const void *needle, size_t n)
{
    holds_needle = needle;
    holds_len = n;
    holds_found = false;
    assert_int_equal(nftw(dir, holds_visit, 16, FTW_PHYS | FTW_ACTIONRETVAL), 0);
    return holds_found;
}

/* Whether the bytes are stored where the node keeps data: under its data dir, and on
 * PostgreSQL in the database cluster's files, after a CHECKPOINT. Not its WAL (pg_wal): the
 * certificate says that no client can clear it (store/postgres/erase.c). */
static bool stored(const void *needle, size_t n)
{
    if (dir_holds(srv.data_dir, needle, n))
        return true;
    if (strcmp(ts_store_driver(), "postgresql") != 0)
        return false;
    assert_int_equal(ts_sys_sql(&srv, "CHECKPOINT"), 0);
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/data", ts_store_pg_dir());
    return dir_holds(dir, needle, n);
}

/* Opens the sealed detail of every audit entry of the tenant with dek; counts successes. */
static int open_details(const char *tenant, const cst_key *dek, int *sealed)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "cat %s/audit/*/*.log 2>/dev/null | grep -a '%s' > %s/tenant-audit.txt", srv.data_dir,
             tenant, srv.root);
    ts_sh("%s", cmd);
    snprintf(cmd, sizeof(cmd), "%s/tenant-audit.txt", srv.root);
    FILE *f = fopen(cmd, "r");
    char line[65536];
    int opened = 0;
    *sealed = 0;
    while (f && fgets(line, sizeof(line), f)) {
        json_t *e = json_loads(line, 0, NULL);
        const char *ct = json_string_value(json_object_get(json_object_get(e, "detail"), "ct"));
        const char *rid = json_string_value(json_object_get(e, "request_id"));
        if (ct && rid && json_integer_value(json_object_get(json_object_get(e, "detail"), "kv"))) {
            (*sealed)++;
            uint8_t bin[8192];
            size_t bl = 0;
            cst_buf aad, pt;
            cst_buf_init(&aad, 1024);
            cst_buf_init(&pt, 65536);
            if (sodium_base642bin(bin, sizeof(bin), ct, strlen(ct), NULL, &bl, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) == 0 &&
                cst_buf_append(&aad, "cst:audit-detail:v1", 19) == CST_OK &&
                cst_buf_append(&aad, tenant, strlen(tenant)) == CST_OK &&
                cst_buf_append_u8(&aad, 0) == CST_OK &&
                cst_buf_append(&aad, rid, strlen(rid)) == CST_OK && dek &&
                cst_open(dek, &aad, bin, bl, &pt) == CST_OK)
                opened++;
            cst_err_clear();
            cst_buf_free(&aad);
            cst_buf_free(&pt);
        }
        json_decref(e);
    }
    if (f)
        fclose(f);
    return opened;
}

static void test_ret4_erase_leaves_nothing_and_certificate_verifies(void **state)
{
    char tid[32], sql[256];
    char *owner = ts_tenant(&srv, op, "erase-me", tid);
    ts_bucket(&srv, owner, "canary");
    const char *canary = "CANARY-7f3a9c-erase-me";
    assert_int_equal(
        ts_put(&srv, owner, "canary", "canary-key", "text/plain", canary, strlen(canary)), 201);
    /* capture what must not survive: the wrapped and the raw DEK, a sealed record value */
    uint8_t wrapped[512], sealed_value[512];
    size_t wl = sizeof(wrapped), sl = sizeof(sealed_value);
    snprintf(sql, sizeof(sql),
             "SELECT wrapped FROM tenant_keys WHERE tenant_id = '%s' AND purpose = 'dek'", tid);
    assert_true(ts_store_blob(&srv, NULL, NULL, sql, wrapped, &wl));
    assert_int_equal(ts_stop(&srv), 0); /* checkpoint, so the value is in the main file */
    assert_true(
        ts_store_blob(&srv, "tenants", tid, "SELECT value FROM records", sealed_value, &sl));
    assert_true(ts_start(&srv));
    char source[600];
    snprintf(source, sizeof(source), "file:%s", srv.key_file);
    cst_master_opts mo = {.source = source};
    cst_master *m = NULL;
    cst_key dek = {0};
    assert_int_equal(cst_master_open(&mo, &m), CST_OK);
    assert_int_equal(cst_unwrap_key(m, tid, "dek", 1, wrapped, wl, &dek), CST_OK);
    cst_master_close(m);
    int sealed = 0;
    assert_true(open_details(tid, &dek, &sealed) > 0); /* the test's decryption works */
    assert_true(stored(wrapped, 24));
    assert_true(stored(sealed_value + 1, 24));

    ts_resp r;
    char path[128];
    snprintf(path, sizeof(path), "/v1/sys/tenants/%s/erase", tid);
    assert_int_equal(ts_status(&srv, "POST", path, op,
                               "{\"requested_by\":\"ticket 42\",\"confirm\":\"wrong\"}", NULL, 0),
                     400);
    ts_json_req(&srv, "POST", path, op, "{\"requested_by\":\"ticket 42\",\"confirm\":\"erase-me\"}",
                &r);
    if (r.status != 200)
        fprintf(stderr, "erase: %ld %s\n", r.status, r.body ? r.body : "");
    assert_int_equal(r.status, 200);
    char *doc = strndup(r.body, r.len);
    json_t *cert = json_incref(json_object_get(r.json, "certificate"));
    ts_resp_free(&r);
    /* SPEC §9 fields */
    assert_string_equal(json_string_value(json_object_get(cert, "method")),
                        "Cryptographic Erase, NIST SP 800-88 Rev. 1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(cert, "tenant"), "id")),
                        tid);
    json_t *erased = json_object_get(cert, "erased");
    assert_int_equal(json_integer_value(json_object_get(erased, "records")), 1);
    assert_int_equal(json_array_size(json_object_get(erased, "keys_destroyed")), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(cert, "verification"), "result")),
        "passed");
    assert_string_equal(json_string_value(json_object_get(cert, "requested_by")), "ticket 42");
    assert_non_null(strstr(json_string_value(json_object_get(cert, "executed_by")), "admin"));
    assert_non_null(json_object_get(cert, "backups"));
    assert_non_null(json_object_get(cert, "completed_at"));
    const char *cid = json_string_value(json_object_get(cert, "certificate_id"));

    /* nothing of the tenant is left to recover */
    assert_false(store_exists("tenants", tid));
    assert_false(stored(wrapped, 24));
    assert_false(stored(dek.k, 32));
    assert_false(stored(sealed_value + 1, 24));
    assert_false(stored(canary, strlen(canary)));
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM tenant_keys WHERE tenant_id = '%s'", tid);
    assert_int_equal(ts_sys_count(&srv, sql), 0);
    /* the audit details are sealed under a key no one holds; the chain still verifies */
    ts_json_req(&srv, "POST", "/v1/sys/audit/verify", op, "{}", &r);
    assert_int_equal(r.status, 403); /* sys-admin: not the auditor's route */
    ts_resp_free(&r);
    char *sec = ts_sys_operator(&srv, op, "sec-erase", "sys-security");
    ts_json_req(&srv, "POST", "/v1/sys/audit/verify", sec, "{}", &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "ok")));
    ts_resp_free(&r);
    free(sec);
    /* the node cannot open them (no key), and the test's copy of the DEK is the only one */
    cst_key none = {0};
    assert_int_equal(cst_key_alloc(&none), CST_OK);
    assert_int_equal(open_details(tid, &none, &sealed), 0);
    assert_true(sealed > 0);
    cst_key_free(&none);
    cst_key_free(&dek);
    /* the owner is gone; a second erase is refused */
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets", owner, NULL, NULL, 0), 401);
    assert_int_equal(ts_status(&srv, "POST", path, op,
                               "{\"requested_by\":\"again\",\"confirm\":\"erase-me\"}", NULL, 0),
                     409);
    json_t *t = tenant_get(tid);
    assert_string_equal(json_string_value(json_object_get(t, "state")), "erased");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(t, "lifecycle"), "certificate_id")), cid);
    json_decref(t);

    /* the stored certificate is the same document; it verifies; any changed byte fails */
    snprintf(path, sizeof(path), "/v1/sys/certificates/%s", cid);
    ts_request(&srv, "GET", path, op, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, strlen(doc));
    assert_memory_equal(r.body, doc, r.len);
    ts_resp_free(&r);
    char file[512];
    snprintf(file, sizeof(file), "%s/cert.json", srv.root);
    FILE *f = fopen(file, "w");
    fputs(doc, f);
    fclose(f);
    assert_int_equal(ts_sh("'%s' cert verify '%s' --data-dir '%s' > /dev/null",
                           getenv("CUSTODIA_BIN"), file, srv.data_dir),
                     0);
    /* --json says the same in a document, and exits 0 (it once aborted releasing its output) */
    assert_int_equal(ts_sh("'%s' cert verify '%s' --data-dir '%s' --json > '%s/verify.json'",
                           getenv("CUSTODIA_BIN"), file, srv.data_dir, srv.root),
                     0);
    assert_int_equal(ts_sh("jq -e '.ok == true and .certificate_id == \"%s\"' '%s/verify.json' "
                           "> /dev/null",
                           cid, srv.root),
                     0);
    size_t len = strlen(doc);
    size_t positions[] = {len / 7, len / 3, len / 2, len - 40, len - 2, 2};
    for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
        char *bad = strdup(doc);
        bad[positions[i]] ^= 0x01;
        f = fopen(file, "w");
        fputs(bad, f);
        fclose(f);
        if (ts_sh("'%s' cert verify '%s' --data-dir '%s' > /dev/null", getenv("CUSTODIA_BIN"), file,
                  srv.data_dir) != 1)
            fail_msg("a certificate with byte %zu changed verified", positions[i]);
        free(bad);
    }
    assert_int_equal(
        ts_status(&srv, "GET", "/v1/sys/certificates/ce_00000000000000000000", op, NULL, NULL, 0),
        404);
    json_decref(cert);
    free(doc);
    free(owner);
}

/* ---- POR-1 ---- */

static void test_por1_export_import_roundtrip_and_refusals(void **state)
{
    char *a = ts_tenant(&srv, op, "exporter", NULL);
    ts_bucket(&srv, a, "docs");
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/buckets", a, "{\"name\":\"bills\",\"class\":\"billing\"}", &r);
    ts_resp_free(&r);
    uint8_t bin[3000];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (uint8_t)(i * 37);
    assert_int_equal(ts_put(&srv, a, "docs", "h%C3%A9llo%2Fw%20rld", "text/plain", "é!", 3), 201);
    assert_int_equal(ts_put(&srv, a, "docs", "bin", "application/octet-stream", bin, sizeof(bin)),
                     201);
    assert_int_equal(ts_put(&srv, a, "docs", "empty", "text/plain", "", 0), 201);
    for (int i = 0; i < 50; i++) {
        char key[32], val[64];
        snprintf(key, sizeof(key), "k%03d", i);
        snprintf(val, sizeof(val), "value %d", i * i);
        assert_int_equal(ts_put(&srv, a, "bills", key, "text/plain", val, strlen(val)), 201);
    }
    ts_request(&srv, "GET", "/v1/export", a, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    char ctype[128];
    assert_true(ts_header(&r, "Content-Type", ctype, sizeof(ctype)));
    assert_string_equal(ctype, "application/x-ndjson");
    char *exp = strndup(r.body, r.len);
    size_t elen = r.len;
    ts_resp_free(&r);
    /* the manifest: last line, counts, SHA-256 of everything before it */
    char *last = exp + elen - 2;
    while (last > exp && *last != '\n')
        last--;
    json_t *m = json_loads(last + 1, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(m, "type")), "manifest");
    assert_int_equal(json_integer_value(json_object_get(m, "buckets")), 2);
    assert_int_equal(json_integer_value(json_object_get(m, "records")), 53);
    uint8_t h[32];
    char hex[65];
    cst_sha256(exp, (size_t)(last + 1 - exp), h);
    cst_hex(h, 32, hex);
    assert_string_equal(json_string_value(json_object_get(m, "sha256")), hex);
    json_decref(m);

    char *b = ts_tenant(&srv, op, "importer", NULL);
    const char *nd = "application/x-ndjson";
    /* refused: truncated (no manifest), cut mid-line, one altered byte, wrong type */
    ts_request(&srv, "POST", "/v1/import", b, nd, exp, (size_t)(last + 1 - exp), NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "manifest"));
    ts_resp_free(&r);
    ts_request(&srv, "POST", "/v1/import", b, nd, exp, elen / 2, NULL, &r);
    assert_int_equal(r.status, 400);
    ts_resp_free(&r);
    char *alt = strndup(exp, elen);
    char *v = strstr(alt, "\"key\":\"k049\"");
    assert_non_null(v);
    v[10] = '7';
    ts_request(&srv, "POST", "/v1/import", b, nd, alt, elen, NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "SHA-256"));
    ts_resp_free(&r);
    free(alt);
    ts_request(&srv, "POST", "/v1/import", b, "application/json", exp, elen, NULL, &r);
    assert_int_equal(r.status, 415);
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/buckets", b, NULL, NULL, 0, NULL, &r);
    assert_int_equal(json_array_size(json_object_get(r.json, "buckets")), 0); /* nothing loaded */
    ts_resp_free(&r);
    /* the whole export loads and reproduces every record */
    ts_request(&srv, "POST", "/v1/import", b, nd, exp, elen, NULL, &r);
    if (r.status != 200)
        fprintf(stderr, "import: %ld %s\n", r.status, r.body ? r.body : "");
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "records")), 53);
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/buckets/docs/records/bin", b, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, sizeof(bin));
    assert_memory_equal(r.body, bin, sizeof(bin));
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/buckets/docs/records/h%C3%A9llo%2Fw%20rld", b, NULL, NULL, 0, NULL,
               &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 3);
    assert_memory_equal(r.body, "é!", 3);
    assert_true(ts_header(&r, "Content-Type", ctype, sizeof(ctype)));
    assert_string_equal(ctype, "text/plain");
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/buckets/bills", b, NULL, NULL, 0, NULL, &r);
    assert_string_equal(json_string_value(json_object_get(r.json, "class")), "billing");
    assert_int_equal(json_integer_value(json_object_get(r.json, "record_count")), 50);
    ts_resp_free(&r);
    /* B's export holds every record line of A's, byte for byte (times, types, values) */
    ts_request(&srv, "GET", "/v1/export", b, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    int lines = 0;
    for (char *p = exp, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        *nl = '\0';
        if (strstr(p, "\"type\":\"record\"")) {
            if (!strstr(r.body, p))
                fail_msg("record line missing from the re-export: %.120s", p);
            lines++;
        }
        *nl = '\n';
    }
    assert_int_equal(lines, 53);
    ts_resp_free(&r);
    /* importing again conflicts and changes nothing */
    ts_request(&srv, "POST", "/v1/import", b, nd, exp, elen, NULL, &r);
    assert_int_equal(r.status, 409);
    ts_resp_free(&r);
    free(exp);
    free(a);
    free(b);
}

/* RET-4, error path: an erase that fails after the tenant is closed to access (here its erase
 * plan cannot be drawn: the tenant's database is not a database; on PostgreSQL its schema holds
 * no table of a tenant store) answers with an error, leaves
 * the tenant pending_erase, issues no certificate, and always leaves tenant.erase.failed in the
 * audit trail. Before issue 13 a failure at that step returned early, without the audit event
 * (and, for the checks after the files' removal, leaking the plan and the evidence lists; the
 * ASan build of this test checks that the failure path releases everything). */
static void test_ret4_failed_erase_is_audited(void **state)
{
    char tid[32], db[512], path[128];
    char *owner = ts_tenant(&srv, op, "erase-fails", tid);
    ts_bucket(&srv, owner, "b");
    assert_int_equal(ts_put(&srv, owner, "b", "k", "text/plain", "v", 1), 201);
    assert_false(dir_holds(srv.data_dir, "tenant.erase.failed", 19));
    assert_int_equal(ts_stop(&srv), 0);
    if (strcmp(ts_store_driver(), "postgresql") == 0) {
        snprintf(db, sizeof(db), "DROP TABLE t_%s.records, t_%s.buckets, t_%s.meta", tid, tid, tid);
        assert_int_equal(ts_sys_sql(&srv, db), 0);
    } else {
        snprintf(db, sizeof(db), "%s/tenants/%s.db", srv.data_dir, tid);
        FILE *f = fopen(db, "wb");
        assert_non_null(f);
        char junk[8192];
        memset(junk, 'J', sizeof(junk));
        assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
        assert_int_equal(fclose(f), 0);
    }
    assert_true(ts_start(&srv));

    ts_resp r;
    snprintf(path, sizeof(path), "/v1/sys/tenants/%s/erase", tid);
    ts_json_req(&srv, "POST", path, op,
                "{\"requested_by\":\"ticket 43\",\"confirm\":\"erase-fails\"}", &r);
    if (r.status < 500)
        fprintf(stderr, "erase: %ld %s\n", r.status, r.body ? r.body : "");
    assert_true(r.status >= 500 && r.status < 600);
    assert_null(strstr(r.body ? r.body : "", "certificate_id"));
    ts_resp_free(&r);
    json_t *t = tenant_get(tid);
    assert_string_equal(json_string_value(json_object_get(t, "state")), "pending_erase");
    json_decref(t);
    assert_true(dir_holds(srv.data_dir, "tenant.erase.failed", 19));
    free(owner);
}

static int setup(void **state)
{
    return ts_setup_operator(&srv, &op);
}

static int teardown(void **state)
{
    return ts_finish(&srv, 1, op);
}

int main(void)
{
    if (cst_crypto_init() != CST_OK) /* the clock walk opens the node in-process */
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ret2_events_states_and_access),
        cmocka_unit_test(test_por1_export_import_roundtrip_and_refusals),
        cmocka_unit_test(test_ret4_erase_leaves_nothing_and_certificate_verifies),
        cmocka_unit_test(test_ret1_expired_records_invisible_then_swept),
        cmocka_unit_test(test_ret2_ret3_simulated_clock_walk),
        cmocka_unit_test(test_ret4_failed_erase_is_audited),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
