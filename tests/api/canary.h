/* canary.h: the ENC-1 canary scan of a running server's data dir, shared by test_api_canary.c
 * and the tests of other master key sources (test_api_kek.c). */
#ifndef CST_TEST_CANARY_H
#define CST_TEST_CANARY_H

#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "store_fixture.h"

#define CANARY "Zq7CanaryXy93LwP"

static char patterns[16][128];
static int npatterns;
static int hits, files_scanned, wal_seen;

static void add(const char *p)
{
    snprintf(patterns[npatterns++], sizeof(patterns[0]), "%s", p);
}

static void build_patterns(void)
{
    npatterns = 0;
    char hex[64];
    add(CANARY);
    sodium_bin2hex(hex, sizeof(hex), (const unsigned char *)CANARY, strlen(CANARY));
    add(hex);
    for (char *c = hex; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 32);
    add(hex);
    /* base64 at each of the three alignments: the middle, unaffected by neighbours */
    for (int k = 0; k < 3; k++) {
        char in[64], out[128];
        snprintf(in, sizeof(in), "%.*s%s", k, "xx", CANARY);
        sodium_bin2base64(out, sizeof(out), (const unsigned char *)in, strlen(in),
                          sodium_base64_VARIANT_ORIGINAL);
        out[strlen(out) - 4] = '\0';
        add(out + 4);
    }
}

static int scan_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    if (type != FTW_F)
        return 0;
    files_scanned++;
    if (strstr(path, "-wal") || strstr(path, "-shm") || strstr(path, "/pg_wal/"))
        wal_seen++;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char *buf = malloc((size_t)st->st_size + 1);
    size_t n = fread(buf, 1, (size_t)st->st_size, f);
    fclose(f);
    for (int i = 0; i < npatterns; i++) {
        if (memmem(buf, n, patterns[i], strlen(patterns[i]))) {
            fprintf(stderr, "canary pattern %s found in %s\n", patterns[i], path);
            hits++;
        }
    }
    free(buf);
    return 0;
}

static int scan(const char *dir)
{
    hits = files_scanned = wal_seen = 0;
    assert_int_equal(nftw(dir, scan_file, 16, FTW_PHYS), 0);
    return hits;
}

/* ENC-1: writes, overwrites and deletes records with canaries through the API of the running
 * server srv, reads one back, and finds no canary under its data dir or in its log, while it
 * serves and after a clean stop (it is stopped); the scanner is checked on a planted canary. */
static void canary_check(ts_server *srv)
{
    build_patterns();
    char *op = ts_operator(srv);
    char *owner = ts_tenant(srv, op, "canary-co", NULL);
    ts_bucket(srv, owner, "people");
    char key[128], val[256], ctype[64];
    snprintf(ctype, sizeof(ctype), "text/x-%s", CANARY);
    for (int i = 0; i < 120; i++) {
        snprintf(key, sizeof(key), "person-%s-%d", CANARY, i);
        int n = snprintf(val, sizeof(val), "{\"name\":\"%s %d\",\"email\":\"%s@example.com\"}",
                         CANARY, i, CANARY);
        assert_int_equal(ts_put(srv, owner, "people", key, ctype, val, (size_t)n), 201);
    }
    /* overwrite and delete some, so freed pages exist too */
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "person-%s-%d", CANARY, i);
        assert_int_equal(ts_put(srv, owner, "people", key, ctype, "replaced " CANARY, 25), 200);
    }
    ts_resp r;
    for (int i = 100; i < 120; i++) {
        char path[256];
        snprintf(path, sizeof(path), "/v1/buckets/people/records/person-%s-%d", CANARY, i);
        assert_int_equal(ts_status(srv, "DELETE", path, owner, NULL, NULL, 0), 204);
    }
    /* the data really is there and readable */
    ts_request(srv, "GET", "/v1/buckets/people/records/person-" CANARY "-50", owner, NULL, NULL, 0,
               NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, CANARY));
    ts_resp_free(&r);

    /* while serving: WAL and SHM files present (SQLite); on PostgreSQL the records are in the
     * database's files, its WAL included: those are searched too */
    assert_int_equal(scan(srv->data_dir), 0);
    if (strcmp(ts_store_driver(), "postgresql") == 0)
        assert_int_equal(scan(ts_store_pg_dir()), 0);
    assert_true(wal_seen > 0);
    assert_true(files_scanned >= 5);
    /* nor in the server's log */
    char log[400];
    snprintf(log, sizeof(log), "%s/serve.log", srv->root);
    struct stat st;
    if (stat(log, &st) == 0) {
        struct FTW ftw = {0};
        hits = 0;
        scan_file(log, &st, FTW_F, &ftw);
        assert_int_equal(hits, 0);
    }
    /* after a clean stop */
    assert_int_equal(ts_stop(srv), 0);
    assert_int_equal(scan(srv->data_dir), 0);
    if (strcmp(ts_store_driver(), "postgresql") == 0)
        assert_int_equal(scan(ts_store_pg_dir()), 0);

    /* control: the scanner does find a canary that is there */
    assert_int_equal(ts_sh("printf 'xx%s' > %s/control.bin", CANARY, srv->root), 0);
    char control[400];
    snprintf(control, sizeof(control), "%s/control.bin", srv->root);
    stat(control, &st);
    struct FTW ftw = {0};
    hits = 0;
    scan_file(control, &st, FTW_F, &ftw);
    assert_true(hits > 0);

    free(op);
    free(owner);
}

#endif
