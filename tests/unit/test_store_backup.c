/* test_store_backup.c: backups across drivers (BAK-1, BAK-2, issue 20). A source node's data is
 * written through the SQLite driver (the copy format), then merged into and snapshotted from
 * the store under test (SQLite, or PostgreSQL as unit.test_store_backup_pg): its snapshots are
 * copies that the checks accept with the right counts; a tenant merged from a SQLite copy and
 * snapshotted again, then merged into a SQLite store, comes back with every record
 * byte-identical; a backup's tenant copies come from the point in time of its system copy
 * (PostgreSQL: one REPEATABLE READ view) although another node writes in between; a whole copy
 * imports into an empty database only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <limits.h>
#include <sys/stat.h>

#include "store/store.h"
#include "store_fixture.h"
#include "util/util.h"

#define BULK 600 /* more than one fetch and one insert batch of the PostgreSQL driver */

static char root[] = "/tmp/cst-stbk-XXXXXX";
static char tid[CST_ID_MAX];
static int seq;

static bool on_pg(void)
{
    return strcmp(ts_store_driver(), "postgresql") == 0;
}

/* A new directory under root. */
static void new_dir(const char *what, char *out, size_t n)
{
    char sub[PATH_MAX + 16];
    snprintf(out, n, "%s/%s-%d", root, what, ++seq);
    assert_int_equal(mkdir(out, 0700), 0);
    if (strcmp(what, "copies") == 0)
        return;
    snprintf(sub, sizeof(sub), "%s/tenants", out); /* a SQLite data dir's */
    assert_int_equal(mkdir(sub, 0700), 0);
}

/* Record i of a bucket: binary blind index, meta and value (zero bytes included). */
static void record_of(int i, cst_record_row *r)
{
    cst_record_row_init(r);
    for (int k = 0; k < CST_HASH_LEN; k++)
        r->bidx[k] = (uint8_t)(i * 7 + k * 13);
    r->bidx[0] = (uint8_t)(i >> 8); /* unique per record */
    r->bidx[1] = (uint8_t)i;
    r->version = (uint64_t)i + 1;
    r->dek_version = 1;
    r->created_at = 1700000000000000LL + i;
    r->updated_at = r->created_at + 5;
    uint8_t meta[40], value[300];
    for (size_t k = 0; k < sizeof(meta); k++)
        meta[k] = (uint8_t)(i + k);
    size_t vlen = (size_t)(i % 3) * 100 + (i % 5); /* an empty value too */
    for (size_t k = 0; k < vlen; k++)
        value[k] = (uint8_t)(k * i);
    r->size = (int64_t)vlen;
    assert_int_equal(cst_buf_append(&r->meta, meta, sizeof(meta)), CST_OK);
    assert_int_equal(cst_buf_append(&r->value, value, vlen), CST_OK);
}

static void write_records(cst_tstore *ts, const char *bucket, int from, int n)
{
    assert_int_equal(cst_tstore_begin(ts, NULL), CST_OK);
    for (int i = from; i < from + n; i++) {
        cst_record_row r;
        record_of(i, &r);
        assert_int_equal(cst_tstore_record_write(ts, NULL, bucket, &r), CST_OK);
        cst_record_row_free(&r);
    }
    assert_int_equal(cst_tstore_commit(ts, NULL), CST_OK);
}

/* The source node (SQLite): one tenant with its keys, owner, two buckets and 3 + BULK records,
 * plus extra records in "b1" from 3 to 3 + extra; its copies (system and tenant) in copies. */
static void source_copies(int extra, char *copies, size_t n)
{
    char src[PATH_MAX];
    new_dir("src", src, sizeof(src));
    new_dir("copies", copies, n);
    cst_store *s = NULL;
    assert_int_equal(cst_store_open_driver("sqlite", src, true, &s), CST_OK);
    assert_int_equal(cst_store_meta_set(s, NULL, "region", "eu-test"), CST_OK);
    assert_int_equal(cst_store_meta_set(s, NULL, "node_id", "nd_source"), CST_OK);
    cst_tenant_row t;
    memset(&t, 0, sizeof(t));
    strcpy(t.id, tid);
    strcpy(t.name, "acme");
    strcpy(t.region, "eu-test");
    strcpy(t.plan, "pro");
    strcpy(t.state, "active");
    strcpy(t.settings, "{}");
    t.created_at = 1700000000000000LL;
    cst_user_row o;
    memset(&o, 0, sizeof(o));
    snprintf(o.id, sizeof(o.id), "us_%s", tid + 3);
    strcpy(o.tenant_id, tid);
    strcpy(o.username, "owner");
    strcpy(o.pw_hash, "hash");
    strcpy(o.grants, "[]");
    strcpy(o.pw_history, "[]");
    strcpy(o.recovery, "[]");
    cst_buf dek, idx;
    cst_buf_init(&dek, 256);
    cst_buf_init(&idx, 256);
    assert_int_equal(cst_buf_append(&dek, "\x01\x00wrapped-dek", 13), CST_OK);
    assert_int_equal(cst_buf_append(&idx, "\x01\x00wrapped-idx", 13), CST_OK);
    assert_int_equal(cst_store_tenant_create(s, NULL, &t, &dek, &idx, &o), CST_OK);
    cst_buf_free(&dek);
    cst_buf_free(&idx);
    cst_tstore *ts = NULL;
    assert_int_equal(cst_tstore_open(s, CST_TSPACE_LIVE, tid, true, &ts), CST_OK);
    static const char *const buckets[] = {"b1", "bulk"};
    for (size_t i = 0; i < 2; i++) {
        cst_bucket_row b;
        memset(&b, 0, sizeof(b));
        strcpy(b.name, buckets[i]);
        strcpy(b.cls, "standard");
        b.created_at = b.updated_at = 1700000000000000LL;
        assert_int_equal(cst_tstore_bucket_create(ts, NULL, &b), CST_OK);
    }
    write_records(ts, "b1", 0, 3 + extra);
    write_records(ts, "bulk", 1000, BULK);
    cst_tstore_close(ts);
    const char *const tenants[] = {tid};
    assert_int_equal(ts_copies(s, copies, tenants, 1), CST_OK);
    cst_store_close(s);
}

/* Merges the tenant from a clone of the copies (SQLite's merge moves the tenant copy into
 * place: the original stays to compare with). */
static cst_err merge_from(cst_store *st, const char *copies, bool *created)
{
    char clone[PATH_MAX], cmd[2 * PATH_MAX + 16];
    snprintf(clone, sizeof(clone), "%s/clone-%d", root, ++seq);
    snprintf(cmd, sizeof(cmd), "cp -a %s %s", copies, clone);
    assert_int_equal(system(cmd), 0);
    return cst_store_merge_tenant(st, clone, tid, created);
}

/* The same rows of table in both copies (and at least one). */
static void same_rows(const char *a, const char *b, const char *name, const char *table, bool only)
{
    assert_true(ts_copy_rows_same(a, b, name, table, only ? tid : NULL) > 0);
}

static int64_t records_in(const char *dir)
{
    char name[PATH_MAX];
    int64_t records = -1, buckets = -1;
    assert_int_equal(cst_store_copy_name(tid, name, sizeof(name)), CST_OK);
    cst_err e = cst_store_copy_check(dir, name, true, &records, &buckets);
    if (e != CST_OK)
        fail_msg("%s: %s", dir, cst_err_message(e));
    assert_int_equal(buckets, 2);
    return records;
}

/* A backup's copies of st: the system copy, then the tenant's, then the end of the view. */
static void backup_of(cst_store *st, char *copies, size_t n)
{
    const char *const tenants[] = {tid};
    new_dir("copies", copies, n);
    assert_int_equal(ts_copies(st, copies, tenants, 1), CST_OK);
}

static cst_err count_tenant(const char *id, void *p)
{
    assert_string_equal(id, tid);
    (*(int *)p)++;
    return CST_OK;
}

static void copies_match(const char *a, const char *b)
{
    char sys[PATH_MAX], name[PATH_MAX];
    assert_int_equal(cst_store_copy_name(NULL, sys, sizeof(sys)), CST_OK);
    assert_int_equal(cst_store_copy_name(tid, name, sizeof(name)), CST_OK);
    assert_int_equal(cst_store_copy_check(b, sys, true, NULL, NULL), CST_OK);
    int tenants = 0;
    assert_int_equal(cst_store_copy_lists(b, count_tenant, NULL, &tenants), CST_OK);
    assert_int_equal(tenants, 1);
    assert_int_equal(records_in(b), records_in(a));
    same_rows(a, b, sys, "tenants", true);
    same_rows(a, b, sys, "tenant_keys", true);
    same_rows(a, b, sys, "users", true);
    same_rows(a, b, name, "buckets", false);
    same_rows(a, b, name, "records", false);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(root))
        return -1;
    cst_random_id("tn", tid);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

/* BAK-1, BAK-2: a SQLite node's tenant merged into the store under test, snapshotted there, then
 * merged into a new SQLite store: every row and every record byte-identical at each step. */
static void test_bak2_merge_and_snapshot_round_trip_across_drivers(void **state)
{
    (void)state;
    char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], dir[PATH_MAX], sq[PATH_MAX];
    source_copies(0, a, sizeof(a));
    assert_int_equal(records_in(a), 3 + BULK);
    new_dir("node", dir, sizeof(dir));
    cst_store *st = NULL;
    assert_int_equal(ts_store_open(dir, true, &st), CST_OK);
    bool created = false;
    assert_int_equal(merge_from(st, a, &created), CST_OK);
    assert_true(created);
    backup_of(st, b, sizeof(b));
    copies_match(a, b);
    /* merged again (the tenant is there now): nothing doubles, the store is replaced */
    assert_int_equal(merge_from(st, a, &created), CST_OK);
    assert_false(created);
    backup_of(st, c, sizeof(c));
    copies_match(a, c);
    /* a tenant the copy does not hold */
    char other[CST_ID_MAX];
    cst_random_id("tn", other);
    assert_int_equal(cst_store_merge_tenant(st, a, other, &created), CST_ERR_NOT_FOUND);
    cst_err_clear();
    cst_store_close(st);

    /* the store's copies into a SQLite node: its records read back as written */
    new_dir("sqlite", sq, sizeof(sq));
    cst_store *s = NULL;
    assert_int_equal(cst_store_open_driver("sqlite", sq, true, &s), CST_OK);
    assert_int_equal(merge_from(s, b, &created), CST_OK);
    assert_true(created);
    cst_tstore *ts = NULL;
    assert_int_equal(cst_tstore_open(s, CST_TSPACE_LIVE, tid, false, &ts), CST_OK);
    for (int i = 0; i < 3; i++) {
        cst_record_row want, got;
        record_of(i, &want);
        cst_record_row_init(&got);
        assert_int_equal(cst_tstore_record_get(ts, NULL, "b1", want.bidx, true, &got), CST_OK);
        assert_int_equal(got.version, want.version);
        assert_int_equal(got.value.len, want.value.len);
        assert_memory_equal(got.value.data, want.value.data, want.value.len);
        assert_int_equal(got.meta.len, want.meta.len);
        assert_memory_equal(got.meta.data, want.meta.data, want.meta.len);
        cst_record_row_free(&want);
        cst_record_row_free(&got);
    }
    cst_tstore_close(ts);
    cst_store_close(s);
}

/* BAK-1: a backup's tenant copy comes from the point in time of its system copy. On
 * PostgreSQL, another node (a second handle on the database) replaces the tenant's records
 * between the two snapshots: the tenant copy holds the records as they were. The next backup
 * sees the write. (SQLite copies each file at its own instant: not asserted there.) */
static void test_bak1_tenant_copies_share_the_system_copys_point_in_time(void **state)
{
    (void)state;
    if (!on_pg()) {
        skip();
        return;
    }
    char a[PATH_MAX], a2[PATH_MAX], b[PATH_MAX], c[PATH_MAX], dir[PATH_MAX];
    source_copies(0, a, sizeof(a));
    source_copies(7, a2, sizeof(a2)); /* the same tenant with 7 records more */
    new_dir("node", dir, sizeof(dir));
    cst_store *st = NULL, *other = NULL;
    assert_int_equal(ts_store_open(dir, true, &st), CST_OK);
    assert_int_equal(ts_store_open(dir, false, &other), CST_OK);
    bool created = false, exists = false;
    assert_int_equal(merge_from(st, a, &created), CST_OK);
    new_dir("copies", b, sizeof(b));
    assert_int_equal(cst_store_snapshot(st, NULL, b, &exists), CST_OK);
    /* the other node's write commits after the backup's point in time */
    assert_int_equal(merge_from(other, a2, &created), CST_OK);
    assert_int_equal(cst_store_snapshot(st, tid, b, &exists), CST_OK);
    assert_true(exists);
    assert_int_equal(cst_store_snapshot_end(st), CST_OK);
    assert_int_equal(records_in(b), 3 + BULK);
    copies_match(a, b);
    backup_of(st, c, sizeof(c));
    assert_int_equal(records_in(c), 3 + 7 + BULK);
    cst_store_close(other);
    cst_store_close(st);
}

/* BAK-2, issue 20: a whole copy imports into a store without tenants (PostgreSQL: the restore
 * of a SQLite node into a new database), and only there; SQLite's stores are the copies
 * themselves, restored as files. */
static void test_bak2_whole_copy_imports_into_an_empty_database_only(void **state)
{
    (void)state;
    char a[PATH_MAX], b[PATH_MAX], dir[PATH_MAX], v[64];
    source_copies(0, a, sizeof(a));
    new_dir("node", dir, sizeof(dir));
    cst_store *st = NULL;
    assert_int_equal(ts_store_open(dir, true, &st), CST_OK);
    if (!on_pg()) {
        assert_int_equal(cst_store_import(st, a), CST_ERR_INVALID);
        cst_err_clear();
        cst_store_close(st);
        return;
    }
    assert_int_equal(cst_store_import(st, a), CST_OK);
    assert_int_equal(cst_store_meta_get(st, NULL, "region", v, sizeof(v)), CST_OK);
    assert_string_equal(v, "eu-test");
    assert_int_equal(cst_store_meta_get(st, NULL, "node_id", v, sizeof(v)), CST_OK);
    assert_string_equal(v, "nd_source");
    backup_of(st, b, sizeof(b));
    copies_match(a, b);
    /* a database with tenants is refused, and left as it was */
    assert_int_equal(cst_store_import(st, a), CST_ERR_CONFLICT);
    cst_err_clear();
    char c[PATH_MAX];
    backup_of(st, c, sizeof(c));
    copies_match(a, c);
    cst_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bak2_merge_and_snapshot_round_trip_across_drivers),
        cmocka_unit_test(test_bak1_tenant_copies_share_the_system_copys_point_in_time),
        cmocka_unit_test(test_bak2_whole_copy_imports_into_an_empty_database_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
