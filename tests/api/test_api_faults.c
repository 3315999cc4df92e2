/* test_api_faults.c: a full disk. Writes that cannot be made durable are answered 503
 * unavailable and change nothing; reads keep working; every acknowledged record survives; once
 * space returns, writes succeed again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "store_fixture.h"

#define VALUE_LEN (48 * 1024)

static void fill(char *v, int i)
{
    memset(v, 'a' + i % 26, VALUE_LEN);
    snprintf(v, 32, "record-%d-", i);
}

static ts_server srv;

static int teardown(void **state)
{
    ts_cleanup(&srv); /* also unmounts the tmpfs when a test failed half-way */
    return 0;
}

static void test_full_disk_refuses_writes_and_loses_nothing(void **state)
{
    const char *how = ts_init_small_disk(&srv, 2 * 1024 * 1024);
    fprintf(stderr, "full disk simulated with %s\n", how);
    /* On PostgreSQL the records are in the database, not in the data dir: the tenant's tables go
     * on the same small disk (a tablespace there), so that the record store fills it too. Without
     * a tmpfs (RLIMIT_FSIZE limits only the node's process) the database cannot be filled. */
    if (strcmp(ts_store_driver(), "postgresql") == 0 && !ts_pg_tables_on_small_disk(&srv)) {
        print_message("skipped on PostgreSQL: no tmpfs could be mounted for its tablespace\n");
        skip();
    }
    assert_true(ts_start(&srv));
    char *op = ts_operator(&srv);
    char *owner = ts_tenant(&srv, op, "full-co", NULL);
    ts_bucket(&srv, owner, "b");

    char *v = malloc(VALUE_LEN);
    /* Which writes were acknowledged and which refused, record by record: near a full disk a
     * write can still fit after another was refused (for instance in WAL space the refused
     * transaction had already allocated), so the two need not form two runs. Every promise is
     * checked per record: a refusal is 503 and leaves nothing, an acknowledgement survives. */
    bool ok[200] = {false};
    int acked = 0, refused = 0, tried = 0;
    char path[128];
    for (int i = 0; i < 200 && refused < 3; i++, tried++) {
        fill(v, i);
        snprintf(path, sizeof(path), "/v1/buckets/b/records/r%d", i);
        ts_resp r;
        ts_request(&srv, "PUT", path, owner, "application/octet-stream", v, VALUE_LEN, NULL, &r);
        if (r.status == 201) {
            ok[i] = true;
            acked++;
        } else {
            /* the record store or the audit log (same disk) could not make it durable */
            assert_int_equal(r.status, 503);
            assert_true(!strcmp(ts_err(&r), "unavailable") ||
                        !strcmp(ts_err(&r), "audit_unavailable"));
            refused++;
        }
        ts_resp_free(&r);
    }
    assert_true(acked > 0);
    assert_int_equal(refused, 3);

    /* a refused overwrite leaves the old value */
    ts_resp r;
    fill(v, 999);
    ts_request(&srv, "PUT", "/v1/buckets/b/records/r0", owner, "text/plain", v, VALUE_LEN, NULL,
               &r);
    assert_int_equal(r.status, 503);
    ts_resp_free(&r);
    /* while the disk is full a read either returns the acknowledged value or, when its audit
     * entry cannot be written (LOG-1, fail closed), 503 audit_unavailable: never other data */
    for (int i = 0; i < tried; i++) {
        if (!ok[i])
            continue;
        snprintf(path, sizeof(path), "/v1/buckets/b/records/r%d", i);
        fill(v, i);
        ts_request(&srv, "GET", path, owner, NULL, NULL, 0, NULL, &r);
        if (r.status == 200) {
            assert_int_equal(r.len, VALUE_LEN);
            assert_memory_equal(r.body, v, VALUE_LEN);
        } else {
            assert_int_equal(r.status, 503);
            assert_string_equal(ts_err(&r), "audit_unavailable");
        }
        ts_resp_free(&r);
    }
    /* still alive and well after the errors; then space returns */
    ts_restart_with_space(&srv);
    for (int i = 0; i < tried; i++) {
        if (!ok[i])
            continue;
        snprintf(path, sizeof(path), "/v1/buckets/b/records/r%d", i);
        fill(v, i);
        ts_request(&srv, "GET", path, owner, NULL, NULL, 0, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_memory_equal(r.body, v, VALUE_LEN);
        ts_resp_free(&r);
    }
    /* the refused records do not exist */
    for (int i = 0; i < tried; i++) {
        if (ok[i])
            continue;
        snprintf(path, sizeof(path), "/v1/buckets/b/records/r%d", i);
        assert_int_equal(ts_status(&srv, "GET", path, owner, NULL, NULL, 0), 404);
    }
    /* and the audit log still verifies */
    assert_int_equal(ts_stop(&srv), 0);
    assert_int_equal(ts_sh("%s audit verify --data-dir %s%s >/dev/null", getenv("CUSTODIA_BIN"),
                           srv.data_dir, ts_config_arg(&srv)),
                     0);
    assert_true(ts_start(&srv));
    fill(v, 500);
    assert_int_equal(ts_put(&srv, owner, "b", "after", "text/plain", v, VALUE_LEN), 201);
    fprintf(stderr, "full disk: %d writes acknowledged, then 503 unavailable; all intact\n", acked);
    free(v);
    free(op);
    free(owner);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_disk_refuses_writes_and_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
