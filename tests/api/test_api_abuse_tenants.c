/* test_api_abuse_tenants.c: POR-1, issue 12. A node of 10,000 tenants runs within 1,024
 * descriptors: tenant databases (3 descriptors each) are kept open in an LRU bounded by
 * store.max_open_tenants, and a spread of tenants served over HTTPS write and read back their
 * records with the server's descriptor count under the limit all along. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/authz.h"
#include "crypto/crypto.h"
#include "crypto/keys.h"
#include "crypto/secrets.h"
#include "node/node.h"
#include "util/util.h"
#include "harness.h"
#include "store_fixture.h"

static ts_server srv;

static int teardown(void **state)
{
    return ts_finish(&srv, 0);
}

/* ---- POR-1: 10,000 tenants within 1,024 descriptors ---- */

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(CST_ASAN)
/* AddressSanitizer makes each request several times slower: fewer tenants, still far more
 * than the ~337 that used to exhaust 1,024 descriptors, and more touched than the LRU holds */
#define MANY_TENANTS 2000
#define TOUCHED 140
#else
#define MANY_TENANTS 10000
#define TOUCHED 150
#endif

static int open_fds(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Creates a tenant in-process (the store's creation and cst_node_tenant, as the API does) and,
 * when token is given, an API token of its owner for the bucket and record routes. */
static void make_tenant(cst_node *n, int i, char *token)
{
    cst_tenant_row t;
    cst_user_row owner;
    memset(&t, 0, sizeof(t));
    memset(&owner, 0, sizeof(owner));
    cst_random_id("tn", t.id);
    snprintf(t.name, sizeof(t.name), "many-%05d", i);
    snprintf(t.region, sizeof(t.region), "%s", n->region);
    strcpy(t.plan, "paid");
    strcpy(t.state, "active");
    strcpy(t.settings, "{}");
    t.created_at = t.last_active_at = cst_now_us();
    cst_random_id("us", owner.id);
    strcpy(owner.tenant_id, t.id);
    strcpy(owner.username, "owner");
    strcpy(owner.pw_hash, "!");
    strcpy(owner.grants, "[]");
    strcpy(owner.pw_history, "[]");
    strcpy(owner.recovery, "[]");
    owner.roles = CST_ROLE_BIT(CST_ROLE_OWNER);
    owner.created_at = t.created_at;
    cst_buf dek, idx;
    cst_buf_init(&dek, 256);
    cst_buf_init(&idx, 256);
    assert_int_equal(cst_wrap_new_key(n->kek, t.id, "dek", 1, &dek), CST_OK);
    assert_int_equal(cst_wrap_new_key(n->kek, t.id, "idx", 1, &idx), CST_OK);
    assert_int_equal(cst_store_tenant_create(n->store, NULL, &t, &dek, &idx, &owner), CST_OK);
    cst_buf_free(&dek);
    cst_buf_free(&idx);
    cst_tenant_ctx *ctx;
    assert_int_equal(cst_node_tenant(n, t.id, &ctx), CST_OK);
    if (!token)
        return;
    cst_token_row tok;
    memset(&tok, 0, sizeof(tok));
    assert_int_equal(cst_token_generate(token, tok.id, tok.hash), CST_OK);
    strcpy(tok.tenant_id, t.id);
    strcpy(tok.user_id, owner.id);
    strcpy(tok.name, "test");
    tok.perms = CST_PERM_BIT(CST_PERM_BUCKETS_ADMIN) | CST_PERM_BIT(CST_PERM_RECORDS_READ) |
                CST_PERM_BIT(CST_PERM_RECORDS_WRITE);
    tok.created_at = tok.last_used_at = t.created_at;
    assert_int_equal(cst_store_token_create(n->store, NULL, &tok), CST_OK);
}

static void test_por1_ten_thousand_tenants_within_1024_descriptors(void **state)
{
    (void)state;
    if (strcmp(ts_store_driver(), "postgresql") == 0) {
        /* the bound is SQLite's (3 descriptors per open tenant); on PostgreSQL a tenant holds
         * none, the pool's connections are counted by test_descriptor_limit_sizes_total */
        fprintf(stderr, "the descriptors of open tenants are SQLite's: skipped on PostgreSQL\n");
        skip();
    }
    /* tmpfs, so that 10,000 durable creations are not a test of the disk's fsync */
    const char *how = ts_init_small_disk(&srv, 1536UL * 1024 * 1024);
    fprintf(stderr, "data dir on %s\n", how);
    struct rlimit rl = {1024, 1024};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0); /* inherited by the server */
    cst_config cfg;
    cst_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", srv.data_dir);
    snprintf(cfg.master_key_file, sizeof(cfg.master_key_file), "%s", srv.key_file);
    assert_int_equal(cst_config_finish(&cfg), CST_OK);
    assert_int_equal(cfg.max_open_tenants, 128);
    cst_node n;
    assert_int_equal(cst_node_open(&n, &cfg), CST_OK);
    char(*tokens)[CST_TOKEN_LEN + 1] = calloc(TOUCHED, sizeof(*tokens));
    double t0 = ts_now_s();
    for (int i = 0; i < MANY_TENANTS; i++) {
        if (i % 1000 == 0)
            fprintf(stderr, "  %d tenants, %.1f s, %d descriptors\n", i, ts_now_s() - t0,
                    open_fds(getpid()));
        make_tenant(&n, i,
                    i % (MANY_TENANTS / TOUCHED) == 0 && i / (MANY_TENANTS / TOUCHED) < TOUCHED
                        ? tokens[i / (MANY_TENANTS / TOUCHED)]
                        : NULL);
    }
    double made = ts_now_s() - t0;
    assert_true(open_fds(getpid()) < 1024);
    cst_node_close(&n);
    fprintf(stderr, "%d tenants created in-process in %.1f s\n", MANY_TENANTS, made);

    assert_true(ts_start(&srv));
    int max_fds = 0;
    t0 = ts_now_s();
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < TOUCHED; i++) {
            ts_resp r;
            if (i % 10 == 0) {
                int fds = open_fds(srv.pid);
                assert_true(fds > 0 && fds < 1024);
                max_fds = fds > max_fds ? fds : max_fds;
            }
            if (round == 0) {
                assert_int_equal(
                    ts_status(&srv, "POST", "/v1/buckets", tokens[i], "{\"name\":\"b\"}", NULL, 0),
                    201);
                char val[32];
                snprintf(val, sizeof(val), "tenant %d", i);
                assert_int_equal(ts_put(&srv, tokens[i], "b", "k", "text/plain", val, strlen(val)),
                                 201);
            }
            if (round == 0)
                continue;
            /* the second round reads back what the first wrote, long after its store closed */
            ts_request(&srv, "GET", "/v1/buckets/b/records/k", tokens[i], NULL, NULL, 0, NULL, &r);
            assert_int_equal(r.status, 200);
            char want[32];
            snprintf(want, sizeof(want), "tenant %d", i);
            assert_int_equal(r.len, strlen(want));
            assert_memory_equal(r.body, want, r.len);
            ts_resp_free(&r);
        }
    }
    fprintf(stderr,
            "%d tenants served with at most %d descriptors open (limit 1024); %d requests in "
            "%.1f s\n",
            TOUCHED, max_fds, TOUCHED * 3, ts_now_s() - t0);
    free(tokens);
}

int main(void)
{
    if (cst_crypto_init() != CST_OK) /* the 10,000 tenants are made in-process */
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_por1_ten_thousand_tenants_within_1024_descriptors, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
