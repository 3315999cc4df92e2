/* test_api_keys.c: ENC-4 against a real server. A tenant's DEK rotated while 4 writers write:
 * every record written before, during and after reads back (a record a client rewrote during
 * the re-encryption keeps the client's value); once the re-encryption finishes no record is
 * under the old version (status: records 0, state retired) and no ciphertext captured before
 * the rotation is left anywhere in the tenant's database files. The server killed with SIGKILL
 * mid-re-encryption finishes it after a restart. A DEK that reaches a small encryption limit is
 * replaced automatically. A crypto-erase after rotations destroys every version. */
#include <pthread.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "node/node.h"
#include "report/report.h"
#include "util/util.h"
#include "harness.h"
#include "store_fixture.h"

#define WRITERS 4
#define PRE 100       /* records written before the rotation */
#define PER_WRITER 40 /* records each writer writes around the rotation */

static ts_server srv;
static char *op, *owner;
static char tenant[32];

static json_t *call(ts_server *s, const char *method, const char *path, const char *token,
                    long want)
{
    return ts_call(s, method, path, token, NULL, want);
}

static json_t *keys_of(ts_server *s, const char *tid)
{
    char p[128];
    snprintf(p, sizeof(p), "/v1/sys/tenants/%s/keys", tid);
    return call(s, "GET", p, op, 200);
}

/* The status's entry of DEK version v (borrowed from st), NULL when absent. */
static json_t *dek(json_t *st, int v)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(st, "versions"), i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "purpose")), "dek") &&
            json_integer_value(json_object_get(e, "version")) == v)
            return e;
    }
    return NULL;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static long long num(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static int rotate(ts_server *s, const char *tid)
{
    char p[128];
    snprintf(p, sizeof(p), "/v1/sys/tenants/%s/keys/rotate", tid);
    json_t *o = call(s, "POST", p, op, 202);
    int v = (int)num(o, "version");
    json_decref(o);
    return v;
}

/* Waits (bounded) until the tenant's re-encryption is idle; returns its status. */
static json_t *rewrap_done(ts_server *s, const char *tid, double seconds)
{
    double until = ts_now_s() + seconds;
    for (;;) {
        json_t *st = keys_of(s, tid);
        if (!strcmp(str(json_object_get(st, "rewrap"), "state"), "idle"))
            return st;
        json_decref(st);
        assert_true(ts_now_s() < until);
        usleep(50 * 1000);
    }
}

/* The tenant's audit trail (GET /v1/audit): every entry's details open (none left sealed) and
 * one names the record key. */
static void audit_details_open(ts_server *s, const char *token, const char *key)
{
    json_t *audit = call(s, "GET", "/v1/audit?limit=1000", token, 200);
    size_t i;
    json_t *e;
    bool saw = false;
    json_array_foreach(json_object_get(audit, "entries"), i, e)
    {
        assert_null(json_object_get(e, "details_sealed"));
        const char *k = str(json_object_get(e, "details"), "key");
        saw |= k && !strcmp(k, key);
    }
    assert_true(saw);
    json_decref(audit);
}

static void value_of(const char *key, int gen, char *out, size_t n)
{
    snprintf(out, n, "%s-gen%d-%0*d", key, gen, 30 + gen % 40, gen);
}

static void read_back(ts_server *s, const char *token, const char *key, const char *val)
{
    char p[160];
    snprintf(p, sizeof(p), "/v1/buckets/b/records/%s", key);
    ts_resp r;
    ts_request(s, "GET", p, token, NULL, NULL, 0, NULL, &r);
    if (r.status != 200 || r.len != strlen(val) || memcmp(r.body, val, r.len) != 0)
        fprintf(stderr, "record %s: %ld %.*s (want %s)\n", key, r.status, (int)r.len,
                r.body ? r.body : "", val);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, strlen(val));
    assert_memory_equal(r.body, val, r.len);
    ts_resp_free(&r);
}

/* ---- the tenant database's bytes ---- */

typedef struct blobs {
    size_t n;
    unsigned char *b[1024];
    size_t len[1024];
} blobs;

static void keep_blob(size_t row, int col, const uint8_t *b, size_t len, void *ctx)
{
    (void)row;
    (void)col;
    blobs *out = ctx;
    if (out->n >= 1024)
        return;
    out->b[out->n] = malloc(len ? len : 1);
    if (len) /* SQLite gives NULL for an empty blob */
        memcpy(out->b[out->n], b, len);
    out->len[out->n++] = len;
}

/* The sealed values (and metadata) of every record of the tenant, as stored now. */
static void capture(const char *tid, blobs *out)
{
    out->n = 0;
    assert_true(ts_store_rows(&srv, "tenants", tid, "SELECT value, meta FROM records", keep_blob,
                              out) >= 0);
}

static void blobs_free(blobs *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->b[i]);
    b->n = 0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(d, 1, n > 0 ? (size_t)n : 0, f);
    fclose(f);
    return d;
}

/* How many of the blobs occur in the tenant's database file or its WAL (on PostgreSQL: the
 * files of its schema, ts_tenant_store_files). */
static size_t found_in_files(const char *tid, const blobs *b)
{
    char list[8192];
    unsigned char *d[64];
    size_t dl[64], found = 0;
    int nf = ts_tenant_store_files(&srv, tid, list, sizeof(list));
    assert_true(nf > 0 && nf <= 64);
    char *save = NULL, *path = strtok_r(list, "\n", &save);
    for (int f = 0; f < nf; f++, path = strtok_r(NULL, "\n", &save))
        d[f] = slurp(path, &dl[f]);
    for (size_t i = 0; i < b->n; i++) {
        bool in = false;
        for (int f = 0; f < nf && !in; f++)
            in = d[f] && memmem(d[f], dl[f], b->b[i], b->len[i]);
        found += in;
    }
    for (int f = 0; f < nf; f++)
        free(d[f]);
    return found;
}

/* ---- writers ---- */

typedef struct writer {
    int id;
    int acked;        /* own records 0..acked-1 acknowledged */
    int pre_gen[PRE]; /* generation of the pre-rotation records this writer rewrote (0: none) */
} writer;

static void *write_loop(void *p)
{
    writer *wr = p;
    char key[64], val[256];
    for (int i = 0; i < PER_WRITER; i++) {
        snprintf(key, sizeof(key), "w%d-%d", wr->id, i);
        value_of(key, 1, val, sizeof(val));
        if (ts_put(&srv, owner, "b", key, "text/plain", val, strlen(val)) != 201)
            break;
        wr->acked = i + 1;
        /* and a rewrite of one of this writer's share of the older records: the
         * re-encryption must never put the older value back */
        int k = wr->id * (PRE / WRITERS) + i % (PRE / WRITERS);
        snprintf(key, sizeof(key), "pre-%d", k);
        value_of(key, 2 + i, val, sizeof(val));
        long st = ts_put(&srv, owner, "b", key, "text/plain", val, strlen(val));
        if (st != 200 && st != 201)
            break;
        wr->pre_gen[k] = 2 + i;
    }
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0) /* the report test opens a node in this process */
        return -1;
    ts_init(&srv);
    /* a re-encryption slow enough to be caught mid-way: 20 records a batch, 100 ms apart */
    snprintf(srv.extra_config, sizeof(srv.extra_config),
             "[keys]\nrewrap_batch = 20\nrewrap_pause_ms = 100\n");
    owner = ts_start_tenant(&srv, &op, "rot", tenant);
    if (!owner)
        return -1;
    ts_bucket(&srv, owner, "b");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return ts_finish(&srv, 2, op, owner);
}

static void test_enc4_rotate_while_writing(void **state)
{
    (void)state;
    double t0 = ts_now_s();
    char key[64], val[256];
    for (int i = 0; i < PRE; i++) {
        snprintf(key, sizeof(key), "pre-%d", i);
        value_of(key, 1, val, sizeof(val));
        assert_int_equal(ts_put(&srv, owner, "b", key, "text/plain", val, strlen(val)), 201);
    }
    json_t *st = keys_of(&srv, tenant);
    assert_non_null(str(st, "kek_id"));
    assert_string_equal(str(dek(st, 1), "state"), "current");
    assert_int_equal(num(dek(st, 1), "records"), PRE);
    json_decref(st);
    blobs before;
    capture(tenant, &before);
    assert_int_equal(before.n, 2 * PRE);
    assert_int_equal(found_in_files(tenant, &before), before.n); /* the search finds them now */

    /* 4 writers; the rotation lands while they write */
    pthread_t th[WRITERS];
    writer wr[WRITERS];
    memset(wr, 0, sizeof(wr));
    for (int w = 0; w < WRITERS; w++) {
        wr[w].id = w;
        pthread_create(&th[w], NULL, write_loop, &wr[w]);
    }
    usleep(150 * 1000);
    assert_int_equal(rotate(&srv, tenant), 2);
    int at_rotation = 0; /* the writers' acknowledged records when it answered: mid-stream */
    for (int w = 0; w < WRITERS; w++)
        at_rotation += wr[w].acked;
    assert_true(at_rotation > 0 && at_rotation < WRITERS * PER_WRITER);
    /* new writes are under version 2 at once */
    assert_int_equal(ts_put(&srv, owner, "b", "after-rotate", "text/plain", "x", 1), 201);
    for (int w = 0; w < WRITERS; w++)
        pthread_join(th[w], NULL);
    for (int w = 0; w < WRITERS; w++)
        assert_int_equal(wr[w].acked, PER_WRITER);

    st = rewrap_done(&srv, tenant, 30);
    int total = PRE + WRITERS * PER_WRITER + 1;
    assert_int_equal(num(dek(st, 1), "records"), 0);
    assert_string_equal(str(dek(st, 1), "state"), "retired");
    assert_true(num(dek(st, 1), "encryptions") >= 2 * PRE);
    assert_string_equal(str(dek(st, 2), "state"), "current");
    assert_int_equal(num(dek(st, 2), "records"), total);
    assert_true(num(dek(st, 2), "encryptions") >= 2);
    json_t *rw = json_object_get(st, "rewrap");
    assert_true(num(rw, "done") >= 1 && num(rw, "done") <= num(rw, "total"));
    json_decref(st);

    /* every record reads back, a rewritten one with the client's last value */
    for (int i = 0; i < PRE; i++) {
        int gen = 1;
        for (int w = 0; w < WRITERS; w++)
            if (wr[w].pre_gen[i])
                gen = wr[w].pre_gen[i];
        snprintf(key, sizeof(key), "pre-%d", i);
        value_of(key, gen, val, sizeof(val));
        read_back(&srv, owner, key, val);
    }
    for (int w = 0; w < WRITERS; w++)
        for (int i = 0; i < PER_WRITER; i++) {
            snprintf(key, sizeof(key), "w%d-%d", w, i);
            value_of(key, 1, val, sizeof(val));
            read_back(&srv, owner, key, val);
        }
    read_back(&srv, owner, "after-rotate", "x");

    /* the retired version still opens what is immutable or not re-sealed yet: the audit
     * details of the writes before the rotation, and the owner's TOTP secret (a new login) */
    audit_details_open(&srv, owner, "pre-0");
    char *again = ts_login(&srv, "rot", "owner", TS_PASSWORD);
    assert_non_null(again);
    free(again);

    /* no ciphertext of before the rotation is left in the database or its WAL */
    assert_int_equal(found_in_files(tenant, &before), 0);
    blobs now;
    capture(tenant, &now);
    assert_int_equal(found_in_files(tenant, &now), now.n);
    blobs_free(&now);
    blobs_free(&before);
    fprintf(stderr, "keys: rotation under 4 writers, %d records re-read, in %.1f s\n", total,
            ts_now_s() - t0);
}

/* The owner's sealed TOTP secret as the system store holds it (hex), into out. */
static void totp_sealed_of(const ts_server *s, const char *tid, char *out, size_t n)
{
    char sql[200];
    uint8_t sealed[512];
    size_t len = sizeof(sealed);
    snprintf(sql, sizeof(sql),
             "SELECT totp_sealed FROM users WHERE tenant_id = '%s' AND username = 'owner'", tid);
    assert_true(ts_store_blob(s, NULL, NULL, sql, sealed, &len));
    assert_true(len > 20 && 2 * len < n);
    sodium_bin2hex(out, n, sealed, len);
}

static void test_enc4_rewrap_resumes_after_sigkill(void **state)
{
    (void)state;
    double t0 = ts_now_s();
    char key[64], val[256];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "bulk-%d", i);
        value_of(key, 7, val, sizeof(val));
        assert_int_equal(ts_put(&srv, owner, "b", key, "text/plain", val, strlen(val)), 201);
    }
    assert_int_equal(rotate(&srv, tenant), 3);
    /* caught mid-way: some records done, some not */
    double until = ts_now_s() + 20;
    for (;;) {
        json_t *st = keys_of(&srv, tenant);
        json_t *rw = json_object_get(st, "rewrap");
        bool mid = !strcmp(str(rw, "state"), "running") && num(rw, "done") > 0;
        json_decref(st);
        if (mid)
            break;
        assert_true(ts_now_s() < until);
        usleep(20 * 1000);
    }
    ts_kill9(&srv);
    assert_true(ts_start(&srv));
    json_t *st = rewrap_done(&srv, tenant, 30);
    assert_int_equal(num(dek(st, 2), "records"), 0);
    assert_string_equal(str(dek(st, 2), "state"), "retired");
    assert_string_equal(str(dek(st, 1), "state"), "retired");
    assert_string_equal(str(dek(st, 3), "state"), "current");
    json_decref(st);
    for (int i = 0; i < 300; i += 7) {
        snprintf(key, sizeof(key), "bulk-%d", i);
        value_of(key, 7, val, sizeof(val));
        read_back(&srv, owner, key, val);
    }
    fprintf(stderr, "keys: re-encryption resumed after SIGKILL in %.1f s\n", ts_now_s() - t0);
}

static char *take_backup(void)
{
    json_t *o = ts_call(&srv, "POST", "/v1/sys/backups", op, NULL, 201);
    char *loc = strdup(str(o, "location"));
    json_decref(o);
    return loc;
}

static void restore_tenant(const char *backup)
{
    assert_int_equal(ts_stop(&srv), 0);
    assert_int_equal(ts_sh("%s backup restore --from %s --data-dir %s --tenant %s%s >/dev/null",
                           getenv("CUSTODIA_BIN"), backup, srv.data_dir, tenant,
                           ts_config_arg(&srv)),
                     0);
    assert_true(ts_start(&srv));
}

/* Backups across a rotation: one taken before it (records under version 3, the tenant now at
 * 4) and one after restore the tenant with every record readable; the restored records under
 * the older version are re-encrypted to the newest again. */
static void test_enc4_backups_across_rotation(void **state)
{
    (void)state;
    char key[64], val[256];
    assert_int_equal(ts_put(&srv, owner, "b", "bk-1", "text/plain", "one", 3), 201);
    char *before = take_backup();
    assert_int_equal(rotate(&srv, tenant), 4);
    json_decref(rewrap_done(&srv, tenant, 30));
    assert_int_equal(ts_put(&srv, owner, "b", "bk-2", "text/plain", "two", 3), 201);
    char *after = take_backup();
    assert_int_equal(ts_put(&srv, owner, "b", "bk-1", "text/plain", "later", 5), 200);

    restore_tenant(before);
    read_back(&srv, owner, "bk-1", "one");
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/b/records/bk-2", owner, NULL, NULL, 0),
                     404);
    json_t *st = rewrap_done(&srv, tenant, 30);
    assert_int_equal(num(dek(st, 3), "records"), 0);
    assert_string_equal(str(dek(st, 4), "state"), "current");
    json_decref(st);

    restore_tenant(after);
    read_back(&srv, owner, "bk-1", "one");
    read_back(&srv, owner, "bk-2", "two");
    for (int i = 0; i < 300; i += 11) {
        snprintf(key, sizeof(key), "bulk-%d", i);
        value_of(key, 7, val, sizeof(val));
        read_back(&srv, owner, key, val);
    }
    free(before);
    free(after);
}

static void test_enc4_erase_destroys_every_version(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof(p), "/v1/sys/tenants/%s/erase", tenant);
    ts_resp r;
    ts_json_req(&srv, "POST", p, op, "{\"requested_by\":\"ticket 7\",\"confirm\":\"rot\"}", &r);
    assert_int_equal(r.status, 200);
    json_t *erased = json_object_get(json_object_get(r.json, "certificate"), "erased");
    json_t *keys = json_object_get(erased, "keys_destroyed");
    int deks = 0, mask = 0;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (!strcmp(str(k, "purpose"), "dek")) {
            deks++;
            mask |= 1 << num(k, "version");
        }
    }
    assert_int_equal(deks, 4);
    assert_int_equal(mask, 2 | 4 | 8 | 16);
    ts_resp_free(&r);
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM tenant_keys WHERE tenant_id = '%s'", tenant);
    assert_int_equal(ts_sys_count(&srv, sql), 0);
    snprintf(p, sizeof(p), "/v1/sys/tenants/%s/keys", tenant);
    json_decref(call(&srv, "GET", p, op, 409));
    json_decref(call(&srv, "POST", "/v1/sys/tenants/tnXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/keys/rotate",
                     op, 404));
}

/* A second node with keys.max_encryptions_per_dek = 50: 30 writes (60 encryptions, 10 records
 * written three times) later the key worker has made version 2 on its own; re-encrypting the
 * 10 records (20 encryptions) keeps version 2 below the limit, so it stays current. */
static void test_enc4_automatic_rotation_at_encryption_limit(void **state)
{
    (void)state;
    ts_server b;
    memset(&b, 0, sizeof(b));
    ts_init(&b);
    snprintf(b.extra_config, sizeof(b.extra_config), "[keys]\nmax_encryptions_per_dek = 50\n");
    char *bop = NULL, tid[32];
    char *bowner = ts_start_tenant(&b, &bop, "auto", tid);
    assert_non_null(bowner);
    ts_bucket(&b, bowner, "b");
    char key[64], val[256];
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "a-%d", i % 10);
        value_of(key, 1, val, sizeof(val));
        long put = ts_put(&b, bowner, "b", key, "text/plain", val, strlen(val));
        assert_true(put == 200 || put == 201);
    }
    char *saved = op;
    op = bop;
    double until = ts_now_s() + 15;
    json_t *st = NULL;
    for (;;) {
        st = keys_of(&b, tid);
        if (dek(st, 2) && !strcmp(str(json_object_get(st, "rewrap"), "state"), "idle"))
            break;
        json_decref(st);
        assert_true(ts_now_s() < until);
        usleep(100 * 1000);
    }
    assert_true(num(dek(st, 1), "encryptions") >= 50);
    assert_string_equal(str(dek(st, 1), "state"), "retired");
    assert_string_equal(str(dek(st, 2), "state"), "current");
    assert_int_equal(num(dek(st, 2), "records"), 10);
    assert_null(dek(st, 3));
    json_decref(st);
    op = saved;
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "a-%d", i);
        value_of(key, 1, val, sizeof(val));
        read_back(&b, bowner, key, val);
    }
    /* the report's ENC-4 row: each tenant's versions with ages and counts */
    json_t *doc = ts_call(&b, "GET", "/v1/sys/report", bop, NULL, 200);
    json_t *rep = json_object_get(doc, "report");
    json_t *mine = json_object_get(ts_report_evidence(rep, "ENC-4", "tenant_keys"), tid);
    assert_int_equal(num(mine, "current"), 2);
    assert_int_equal(json_array_size(json_object_get(mine, "versions")), 2);
    assert_true(num(json_array_get(json_object_get(mine, "versions"), 0), "encryptions") >= 50);
    assert_null(ts_report_evidence(rep, "ENC-4", "dek_rotation_due"));
    assert_non_null(ts_report_evidence(rep, "ENC-4", "kek"));
    assert_string_equal(ts_report_status(rep, "ENC-4"), "pass");
    assert_string_equal(str(ts_report_evidence(rep, "ENC-4", "kek_rotation"), "state"), "idle");
    /* a data dir made now: its root key is its own, wrapped by the KEK (not the KEK's bytes) */
    assert_non_null(strstr(json_string_value(ts_report_evidence(rep, "ENC-4", "root_key")),
                           "random, wrapped by the KEK"));
    json_decref(doc);
    /* ... on a simulated clock: 91 days on, the current DEK is past keys.dek_max_age (90 days)
     * and the row warns naming the tenant */
    assert_int_equal(ts_stop(&b), 0);
    cst_node n;
    ts_node_open(&b, &n);
    cst_report_scope scope = {.generated_by = "cli", .requested_by = "test"};
    json_t *later = NULL;
    assert_int_equal(cst_report_build(&n, &scope, cst_now_us() + 91 * 86400 * 1000000LL, &later),
                     CST_OK);
    json_t *due = ts_report_evidence(later, "ENC-4", "dek_rotation_due");
    assert_int_equal(json_array_size(due), 1);
    assert_string_equal(str(json_array_get(due, 0), "tenant"), tid);
    assert_string_equal(str(json_array_get(due, 0), "due"), "age");
    assert_string_equal(ts_report_status(later, "ENC-4"), "warn");
    /* the master key's id, source kind and age (from init) are in the row */
    json_t *kek = ts_report_evidence(later, "ENC-4", "kek");
    assert_string_equal(str(kek, "id"), n.kek_id);
    assert_string_equal(str(kek, "source"), "file");
    assert_int_equal(num(kek, "age_days"), 91);
    assert_int_equal(num(kek, "max_age_days"), 365);
    json_decref(later);
    /* ... 366 days on, the KEK is past keys.kek_max_age (365 days): the row fails naming it */
    assert_int_equal(cst_report_build(&n, &scope, cst_now_us() + 366 * 86400 * 1000000LL, &later),
                     CST_OK);
    assert_string_equal(ts_report_status(later, "ENC-4"), "fail");
    assert_int_equal(num(ts_report_evidence(later, "ENC-4", "kek"), "age_days"), 366);
    assert_non_null(strstr(ts_report_summary(later, "ENC-4"), n.kek_id));
    json_decref(later);
    cst_node_close(&n);
    assert_int_equal(ts_finish(&b, 2, bop, bowner), 0);
}

/* Runs a custodia command line (bin first), its stdout and stderr into out; its exit status. */
static int run_cli(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run_cli(char *out, size_t n, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    int len = snprintf(cmd, sizeof(cmd), "%s ", getenv("CUSTODIA_BIN"));
    vsnprintf(cmd + len, sizeof(cmd) - (size_t)len, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    char rest[4096];
    while (fread(rest, 1, sizeof(rest), p) > 0) /* the rest (a report) unread, not SIGPIPE */
        ;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The [store] arguments of a new data dir <root>/name (ts_store_ini: on PostgreSQL a database
 * of its own, beside it in <root>/name.store) into cfg. */
static void new_store(const ts_server *k, const char *name, char *cfg, size_t n)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/%s.store", k->root, name);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(cfg, n, "%s", ts_store_ini(dir));
}

/* A whole-node restore of backup into <root>/name with the master key file key alone, and a
 * report on the restored data dir with it. */
static void restore_whole(const ts_server *k, const char *backup, const char *name, const char *key)
{
    char out[4096], cfg[512];
    new_store(k, name, cfg, sizeof(cfg));
    if (run_cli(out, sizeof(out),
                "backup restore --from %s --data-dir %s/%s --master-key-file %s "
                "--seal-key-out %s/%s.k0%s",
                backup, k->root, name, key, k->root, name, cfg) != 0)
        fail_msg("restore of %s with %s: %s", backup, key, out);
    if (run_cli(out, sizeof(out), "report --data-dir %s/%s --master-key-file %s%s", k->root, name,
                key, cfg) != 0)
        fail_msg("report on the restored %s: %s", name, out);
}

/* KEK rotation (offline): every wrapped key and the root key move to a new master key; records,
 * audit details and the operator's TOTP login still work with it; the old key is refused naming
 * the new key's id; a backup from before restores with the old key and names it when given the
 * new one; the crash states on either side of the transaction open with exactly one key. */
static void test_enc4_rotate_master_offline(void **state)
{
    (void)state;
    ts_server k;
    char tid[32], out[4096], old_key[320], new_key[320], old_id[32], new_id[32], kcfg[512];
    char *kop = NULL;
    ts_init(&k);
    snprintf(kcfg, sizeof(kcfg), "%s", ts_config_arg(&k));
    char *kowner = ts_start_tenant(&k, &kop, "kek", tid);
    assert_non_null(kowner);
    ts_bucket(&k, kowner, "b");
    assert_int_equal(ts_put(&k, kowner, "b", "kk-1", "text/plain", "one", 3), 201);
    assert_int_equal(ts_put(&k, kowner, "b", "kk-2", "text/plain", "two", 3), 201);
    json_t *o = ts_call(&k, "POST", "/v1/sys/backups", kop, NULL, 201);
    char *before = strdup(str(o, "location"));
    json_decref(o);
    assert_int_equal(ts_stop(&k), 0);
    strcpy(old_key, k.key_file);
    snprintf(new_key, sizeof(new_key), "%s/new-master.key", k.root);

    /* the new key file is made (as init does); --json says both ids and the keys rewrapped
     * (the tenant's DEK and index key at least) */
    int rc = run_cli(out, sizeof(out),
                     "keys rotate-master --new file:%s --data-dir %s --master-key-file %s --json%s",
                     new_key, k.data_dir, old_key, kcfg);
    if (rc != 0)
        fail_msg("keys rotate-master: exit %d: %s", rc, out);
    json_t *r = json_loads(out, 0, NULL);
    assert_non_null(r);
    strcpy(old_id, str(r, "old_kek_id"));
    strcpy(new_id, str(r, "new_kek_id"));
    assert_string_not_equal(old_id, new_id);
    assert_true(num(r, "keys_rewrapped") >= 2);
    json_decref(r);
    /* the node's default key path (the harness's serve) now holds the new key */
    assert_int_equal(
        ts_sh("mv %s %s/old-master.key && mv %s %s", old_key, k.root, new_key, old_key), 0);
    strcpy(new_key, old_key);
    snprintf(old_key, sizeof(old_key), "%s/old-master.key", k.root);
    /* the root key moved into root.key, wrapped by the new key */
    snprintf(out, sizeof(out), "%s/root.key", k.data_dir);
    assert_true(access(out, F_OK) == 0);

    /* the old key: refused, naming the key id the data dir needs now */
    assert_int_not_equal(run_cli(out, sizeof(out), "report --data-dir %s --master-key-file %s%s",
                                 k.data_dir, old_key, kcfg),
                         0);
    assert_non_null(strstr(out, "is not the key this data dir was initialised with"));
    assert_non_null(strstr(out, new_id));

    /* the new key: records, audit details (under the rewrapped DEK), the operator's TOTP
     * login (its secret under a key derived from the root key, which kept its value) */
    assert_true(ts_start(&k));
    free(kop);
    kop = ts_operator(&k);
    free(kowner);
    kowner = ts_login(&k, "kek", "owner", TS_PASSWORD);
    assert_non_null(kowner);
    read_back(&k, kowner, "kk-1", "one");
    read_back(&k, kowner, "kk-2", "two");
    audit_details_open(&k, kowner, "kk-1");
    json_t *rep = ts_call(&k, "GET", "/v1/sys/report", kop, NULL, 200);
    json_t *kek = ts_report_evidence(json_object_get(rep, "report"), "ENC-4", "kek");
    assert_string_equal(str(kek, "id"), new_id);
    assert_int_equal(num(kek, "age_days"), 0);
    json_decref(rep);
    assert_int_equal(ts_put(&k, kowner, "b", "kk-1", "text/plain", "later", 5), 200);
    o = ts_call(&k, "POST", "/v1/sys/backups", kop, NULL, 201);
    char *after = strdup(str(o, "location"));
    json_decref(o);
    assert_int_equal(ts_stop(&k), 0);
    /* a backup from after the rotation, whole: its header carries the root key wrapped by the
     * new key, so the new key alone restores it; the restored data dir is the new key's */
    restore_whole(&k, after, "after", new_key);
    free(after);
    /* the node, with its new key, verifies the backup from before (the root key it kept) */
    assert_int_equal(run_cli(out, sizeof(out),
                             "backup verify %s --data-dir %s --master-key-file %s%s", before,
                             k.data_dir, new_key, kcfg),
                     0);
    /* one tenant from the backup of before, into the rotated node (its keys stay the node's,
     * rewrapped; the backup's frames are under the root key, which kept its value) */
    if (run_cli(out, sizeof(out), "backup restore --from %s --data-dir %s --tenant %s%s", before,
                k.data_dir, tid, kcfg) != 0)
        fail_msg("tenant restore after the rotation: %s", out);
    assert_true(ts_start(&k));
    read_back(&k, kowner, "kk-1", "one");
    assert_int_equal(ts_stop(&k), 0);
    /* ... but a tenant the node no longer has would come with keys under the old key: refused
     * (here its system rows are deleted behind the node's back, on a copy of the data dir and,
     * on PostgreSQL, of its database) */
    ts_server gone = k;
    snprintf(gone.data_dir, sizeof(gone.data_dir), "%s/gone", k.root);
    snprintf(gone.root, sizeof(gone.root), "%.200s/gone.store", k.root);
    assert_int_equal(mkdir(gone.root, 0700), 0);
    char gcfg[512], sql[200];
    snprintf(gcfg, sizeof(gcfg), "%s", ts_store_copy(&k, gone.root));
    assert_int_equal(ts_sh("cp -a %s %s", k.data_dir, gone.data_dir), 0);
    snprintf(sql, sizeof(sql), "DELETE FROM tenant_keys WHERE tenant_id = '%s'", tid);
    assert_int_equal(ts_sys_sql(&gone, sql), 0);
    snprintf(sql, sizeof(sql), "DELETE FROM tenants WHERE id = '%s'", tid);
    assert_int_equal(ts_sys_sql(&gone, sql), 0);
    assert_int_not_equal(run_cli(out, sizeof(out),
                                 "backup restore --from %s --data-dir %s --tenant %s "
                                 "--master-key-file %s%s",
                                 before, gone.data_dir, tid, new_key, gcfg),
                         0);
    if (!strstr(out, "wrapped by a master key this node no longer uses"))
        fail_msg("tenant restore of a tenant gone: %s", out);

    /* the backup from before the rotation: the new key is refused naming the old key's id;
     * with the old key it restores (into a data dir that the old key opens) */
    char xcfg[512], rcfg[512];
    new_store(&k, "restored-x", xcfg, sizeof(xcfg));
    new_store(&k, "restored", rcfg, sizeof(rcfg));
    assert_int_not_equal(run_cli(out, sizeof(out),
                                 "backup restore --from %s --data-dir %s/restored-x "
                                 "--master-key-file %s --seal-key-out %s/x.k0%s",
                                 before, k.root, new_key, k.root, xcfg),
                         0);
    if (!strstr(out, old_id))
        fail_msg("restore with the new key: %s", out);
    assert_int_equal(run_cli(out, sizeof(out),
                             "backup restore --from %s --data-dir %s/restored --master-key-file %s "
                             "--seal-key-out %s/restored.k0%s",
                             before, k.root, old_key, k.root, rcfg),
                     0);
    assert_int_equal(run_cli(out, sizeof(out),
                             "report --data-dir %s/restored --master-key-file %s%s", k.root,
                             old_key, rcfg),
                     0);

    /* crash states. After the transaction, before root.key.next became root.key: the new key
     * opens and finishes the rename. */
    assert_int_equal(ts_sh("mv %s/root.key %s/root.key.next", k.data_dir, k.data_dir), 0);
    assert_int_equal(run_cli(out, sizeof(out), "report --data-dir %s --master-key-file %s%s",
                             k.data_dir, old_key, kcfg),
                     1);
    assert_int_equal(run_cli(out, sizeof(out), "report --data-dir %s --master-key-file %s%s",
                             k.data_dir, new_key, kcfg),
                     0);
    assert_int_equal(
        ts_sh("test -f %s/root.key && ! test -e %s/root.key.next", k.data_dir, k.data_dir), 0);
    /* Before the transaction (a data dir still under the old key, root.key.next under the new
     * one): the old key opens and drops root.key.next; the new key is refused. */
    assert_int_equal(ts_sh("cp %s/root.key %s/restored/root.key.next", k.data_dir, k.root), 0);
    assert_int_not_equal(run_cli(out, sizeof(out),
                                 "report --data-dir %s/restored --master-key-file %s%s", k.root,
                                 new_key, rcfg),
                         0);
    assert_non_null(strstr(out, old_id));
    assert_int_equal(run_cli(out, sizeof(out),
                             "report --data-dir %s/restored --master-key-file %s%s", k.root,
                             old_key, rcfg),
                     0);
    assert_int_equal(ts_sh("! test -e %s/restored/root.key.next && test -f %s/restored/root.key",
                           k.root, k.root),
                     0);
    free(before);
    assert_int_equal(ts_finish(&k, 2, kop, kowner), 0);
}

/* The master key's status; its rotation's state. */
static json_t *kek_status(ts_server *s, const char *token)
{
    return ts_call(s, "GET", "/v1/sys/keys", token, NULL, 200);
}

/* Waits (bounded) until the master key's rotation is idle. */
static void kek_wait_idle(ts_server *s, const char *token)
{
    double until = ts_now_s() + 60;
    for (;;) {
        json_t *st = kek_status(s, token);
        bool idle = !strcmp(str(json_object_get(st, "rotation"), "state"), "idle");
        json_decref(st);
        if (idle)
            return;
        assert_true(ts_now_s() < until);
        usleep(100 * 1000);
    }
}

/* Kills the node with SIGKILL once its rotation is seen running, with keys left to rewrap. */
static void kill_midway(ts_server *s, const char *token)
{
    json_t *st = kek_status(s, token);
    json_t *rot = json_object_get(st, "rotation");
    assert_string_equal(str(rot, "state"), "running");
    assert_true(num(rot, "done") < num(rot, "total"));
    json_decref(st);
    ts_kill9(s);
}

/* KEK rotation online (POST /v1/sys/keys/rotate): the node serves throughout (a tenant made,
 * records written and read, a DEK rotated while it runs); a command: key from a request, the key
 * in use, a second rotation and a backup meanwhile are refused; killed with SIGKILL midway and
 * started with the new key, it opens the old one from its recorded source and finishes; then
 * every wrapped key in system.db names the new KEK, the old key is refused naming the new one,
 * a backup from before restores with the old key and one from after with the new key alone. */
static void test_enc4_rotate_master_online(void **state)
{
    (void)state;
    ts_server k;
    char tid[32], out[4096], new_key[320], body[512], old_id[32], new_id[32], path[400];
    char *kop = NULL;
    ts_init(&k);
    /* the new key, named in keys.next_master_key (which the sandbox lets the node read) */
    snprintf(new_key, sizeof(new_key), "%s/next-master.key", k.root);
    assert_int_equal(ts_sh("head -c 32 /dev/urandom > %s && chmod 600 %s", new_key, new_key), 0);
    /* one key a batch, a second apart: the rotation of 10 keys takes about 10 s */
    snprintf(k.extra_config, sizeof(k.extra_config),
             "[keys]\nrewrap_batch = 1\nrewrap_pause_ms = 1000\nnext_master_key = file:%s\n",
             new_key);
    char *kowner = ts_start_tenant(&k, &kop, "kon", tid);
    assert_non_null(kowner);
    ts_bucket(&k, kowner, "b");
    assert_int_equal(ts_put(&k, kowner, "b", "kk-1", "text/plain", "one", 3), 201);
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof(name), "kon-%d", i);
        free(ts_tenant(&k, kop, name, NULL));
    }
    json_t *o = ts_call(&k, "POST", "/v1/sys/backups", kop, NULL, 201);
    char *before = strdup(str(o, "location"));
    json_decref(o);
    json_t *st = kek_status(&k, kop);
    strcpy(old_id, str(st, "kek_id"));
    assert_string_equal(str(st, "source"), "file");
    assert_string_equal(str(json_object_get(st, "rotation"), "state"), "idle");
    json_decref(st);

    /* a request never names a program for the node to run; nor the key in use */
    snprintf(body, sizeof(body), "{\"master_key\":\"command:touch %s/ran\"}", k.root);
    json_decref(ts_call(&k, "POST", "/v1/sys/keys/rotate", kop, body, 400));
    snprintf(path, sizeof(path), "%s/ran", k.root);
    assert_false(cst_path_exists(path));
    /* nor a PKCS#11 module to load (its constructor would run in the node) */
    snprintf(body, sizeof(body),
             "{\"master_key\":\"pkcs11:token=x;object=y?module-path=%s/evil.so\"}", k.data_dir);
    json_t *refused = ts_call(&k, "POST", "/v1/sys/keys/rotate", kop, body, 400);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(refused, "error"), "message")),
               "a request names only a file: master key"));
    json_decref(refused);
    /* a file that is not a key: one message, whatever is wrong with it (no probing) */
    snprintf(body, sizeof(body), "{\"master_key\":\"file:%s/custodia.ini\"}", k.root);
    refused = ts_call(&k, "POST", "/v1/sys/keys/rotate", kop, body, 400);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(refused, "error"), "message")),
               "the master key named cannot be used"));
    json_decref(refused);
    snprintf(body, sizeof(body), "{\"master_key\":\"file:%s\"}", k.key_file);
    json_decref(ts_call(&k, "POST", "/v1/sys/keys/rotate", kop, body, 400));

    st = ts_call(&k, "POST", "/v1/sys/keys/rotate", kop, "{}", 202); /* keys.next_master_key */
    json_t *rot = json_object_get(st, "rotation");
    assert_string_equal(str(rot, "state"), "running");
    assert_string_equal(str(rot, "from_kek_id"), old_id);
    strcpy(new_id, str(rot, "to_kek_id"));
    assert_string_not_equal(new_id, old_id);
    json_decref(st);
    /* meanwhile: no second rotation, no backup (its keys would be under two KEKs) */
    json_decref(ts_call(&k, "POST", "/v1/sys/keys/rotate", kop, "{}", 409));
    json_decref(ts_call(&k, "POST", "/v1/sys/backups", kop, NULL, 409));
    /* the node serves: a new tenant (its keys under the new KEK), writes, reads, a DEK rotation */
    char late_tid[32];
    char *late = NULL, *lop = NULL;
    late = ts_tenant(&k, kop, "kon-late", late_tid);
    assert_non_null(late);
    ts_bucket(&k, late, "b");
    assert_int_equal(ts_put(&k, late, "b", "l-1", "text/plain", "late", 4), 201);
    assert_int_equal(ts_put(&k, kowner, "b", "kk-2", "text/plain", "two", 3), 201);
    read_back(&k, kowner, "kk-1", "one");
    /* a DEK rotation: its re-encryption ends by re-sealing the owner's TOTP secret under the
     * new version (checked after the restart below: the sealed bytes change, the owner signs in
     * with a code) */
    char sealed[2][400];
    totp_sealed_of(&k, tid, sealed[0], sizeof(sealed[0]));
    snprintf(path, sizeof(path), "/v1/sys/tenants/%s/keys/rotate", tid);
    json_decref(ts_call(&k, "POST", path, kop, NULL, 202));
    /* killed midway */
    kill_midway(&k, kop);

    /* started with the new key (the operator switched early): the old one opens from the source
     * the rotation recorded, and the rotation resumes and finishes (at full pace: nothing from
     * here needs it slow) */
    snprintf(k.extra_config, sizeof(k.extra_config),
             "[keys]\nrewrap_batch = 1\nrewrap_pause_ms = 100\nmaster_key = file:%s\n", new_key);
    assert_true(ts_start(&k));
    free(kop);
    kop = ts_operator(&k);
    kek_wait_idle(&k, kop);
    st = kek_status(&k, kop);
    assert_string_equal(str(st, "kek_id"), new_id);
    assert_int_equal(num(st, "age_days"), 0);
    json_decref(st);
    double until = ts_now_s() + 60;
    for (;;) {
        totp_sealed_of(&k, tid, sealed[1], sizeof(sealed[1]));
        if (strcmp(sealed[0], sealed[1]) != 0)
            break;
        assert_true(ts_now_s() < until);
        usleep(100 * 1000);
    }
    free(kowner);
    kowner = ts_login(&k, "kon", "owner", TS_PASSWORD);
    free(late);
    late = ts_login(&k, "kon-late", "owner", TS_PASSWORD);
    read_back(&k, kowner, "kk-1", "one");
    read_back(&k, kowner, "kk-2", "two");
    read_back(&k, late, "l-1", "late");
    audit_details_open(&k, kowner, "kk-1");
    o = ts_call(&k, "POST", "/v1/sys/backups", kop, NULL, 201);
    char *after = strdup(str(o, "location"));
    json_decref(o);
    assert_int_equal(ts_stop(&k), 0);
    /* every wrapped key names the new KEK (format 0x03, its id) */
    char sql[300];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM tenant_keys WHERE %s != '03' || upper('%s')",
             strcmp(ts_store_driver(), "postgresql") == 0
                 ? "upper(encode(substring(wrapped from 1 for 9), 'hex'))"
                 : "hex(substr(wrapped, 1, 9))",
             new_id);
    assert_int_equal(ts_sys_count(&k, sql), 0);
    assert_true(ts_sys_count(&k, "SELECT count(*) FROM tenant_keys") >= 12);
    /* the old key is refused, naming the key the data dir needs now */
    char old_key[320];
    snprintf(old_key, sizeof(old_key), "%s", k.key_file);
    assert_int_not_equal(run_cli(out, sizeof(out), "report --data-dir %s --master-key-file %s%s",
                                 k.data_dir, old_key, ts_config_arg(&k)),
                         0);
    if (!strstr(out, new_id))
        fail_msg("the old key after the rotation: %s", out);
    /* a backup from before restores with the old key; one from after with the new key alone */
    restore_whole(&k, before, "before", old_key);
    restore_whole(&k, after, "after", new_key);
    free(before);
    free(after);
    free(lop);
    assert_int_equal(ts_finish(&k, 3, kop, kowner, late), 0);
}

/* Two online rotations without a restart between them, the second killed midway: its record
 * names the first one's new key as its old key (not the key the node was started with), so a
 * start with the third key opens the second from there and finishes. */
static void test_enc4_rotate_master_online_twice(void **state)
{
    (void)state;
    ts_server k;
    char keys[400], k2[440], k3[440], body[600], id3[32];
    char *kop = NULL;
    ts_init(&k);
    snprintf(keys, sizeof(keys), "%s/keys", k.root);
    snprintf(k2, sizeof(k2), "%s/k2", keys);
    snprintf(k3, sizeof(k3), "%s/k3", keys);
    assert_int_equal(ts_sh("mkdir -m 700 %s && for f in %s %s; do head -c 32 /dev/urandom > $f; "
                           "chmod 600 $f; done",
                           keys, k2, k3),
                     0);
    snprintf(k.extra_config, sizeof(k.extra_config),
             "[keys]\nrewrap_batch = 1\nrewrap_pause_ms = 500\nnext_master_key = file:%s\n"
             "[node]\nsandbox_read_paths = %s\n",
             k2, keys);
    char *towner = ts_start_tenant(&k, &kop, "twice", NULL);
    assert_non_null(towner);
    ts_bucket(&k, towner, "b");
    assert_int_equal(ts_put(&k, towner, "b", "t-1", "text/plain", "once", 4), 201);
    free(ts_tenant(&k, kop, "twice-2", NULL));
    free(ts_tenant(&k, kop, "twice-3", NULL)); /* 6 keys, 0.5 s apart: caught midway */
    /* K1 -> K2, to its end, online */
    json_decref(ts_call(&k, "POST", "/v1/sys/keys/rotate", kop, "{}", 202));
    kek_wait_idle(&k, kop);
    /* K2 -> K3, killed midway */
    snprintf(body, sizeof(body), "{\"master_key\":\"file:%s\"}", k3);
    json_t *st = ts_call(&k, "POST", "/v1/sys/keys/rotate", kop, body, 202);
    json_t *rot = json_object_get(st, "rotation");
    strcpy(id3, str(rot, "to_kek_id"));
    /* its progress from the first response: every key counted, none rewrapped yet */
    assert_int_equal(num(rot, "done"), 0);
    assert_int_equal(num(rot, "total"), 6);
    json_decref(st);
    kill_midway(&k, kop);
    /* started with K3: K2 opens from the rotation's record, and it finishes (at full pace) */
    snprintf(k.extra_config, sizeof(k.extra_config),
             "[keys]\nrewrap_batch = 1\nrewrap_pause_ms = 100\nmaster_key = file:%s\n"
             "[node]\nsandbox_read_paths = %s\n",
             k3, keys);
    assert_true(ts_start(&k));
    free(kop);
    kop = ts_operator(&k);
    kek_wait_idle(&k, kop);
    st = kek_status(&k, kop);
    assert_string_equal(str(st, "kek_id"), id3);
    json_decref(st);
    free(towner);
    towner = ts_login(&k, "twice", "owner", TS_PASSWORD);
    read_back(&k, towner, "t-1", "once");
    assert_int_equal(ts_finish(&k, 2, kop, towner), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enc4_rotate_while_writing),
        cmocka_unit_test(test_enc4_rewrap_resumes_after_sigkill),
        cmocka_unit_test(test_enc4_backups_across_rotation),
        cmocka_unit_test(test_enc4_erase_destroys_every_version),
        cmocka_unit_test(test_enc4_automatic_rotation_at_encryption_limit),
        cmocka_unit_test(test_enc4_rotate_master_offline),
        cmocka_unit_test(test_enc4_rotate_master_online),
        cmocka_unit_test(test_enc4_rotate_master_online_twice),
    };
    return ts_run_group_tests("keys", tests, sizeof(tests) / sizeof(tests[0]), setup, teardown);
}
