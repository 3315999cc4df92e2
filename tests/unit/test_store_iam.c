/* test_store_iam.c: the identity operations of the system store seen from two nodes: two store
 * handles opened on one data dir (on PostgreSQL: two pools on one database, as two custodia
 * nodes sharing it). A lockout counts failures from every node (IAM-2), a TOTP step or a
 * recovery code used on one node is refused on the other (IAM-3), a tenant name is given once
 * whichever node asks, and a write to principals on one node moves the epoch the other
 * reads (IAM-5), and so that node's principals generation. Runs on both drivers
 * (unit.test_store_iam, unit.test_store_iam_pg). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <pthread.h>

#include "store/store.h"
#include "store_fixture.h"
#include "util/util.h"

static char dir[] = "/tmp/cst-store-iam-XXXXXX";
static cst_store *a, *b; /* two nodes */

#define MIN 60000000LL
#define T0 (1700000000LL * 1000000)

static int setup(void **state)
{
    (void)state;
    return ts_store_pair_open(dir, &a, &b);
}

static int teardown(void **state)
{
    (void)state;
    return ts_store_pair_close(dir, a, b);
}

/* A new user of the system tenant, created through node a. */
static void new_user(const char *name, cst_user_row *u)
{
    memset(u, 0, sizeof(*u));
    cst_random_id("us", u->id);
    strcpy(u->tenant_id, "_sys");
    strcpy(u->username, name);
    strcpy(u->pw_hash, "x");
    strcpy(u->recovery, "[\"a\",\"b\"]");
    assert_int_equal(cst_store_user_create(a, NULL, u), CST_OK);
}

/* IAM-2: six failures alternating between the nodes lock the account at the sixth: each
 * node's failure is counted on top of the other's. */
static void test_iam2_failures_on_two_nodes_lock(void **state)
{
    (void)state;
    cst_user_row u, got;
    new_user("alternating", &u);
    int failed = 0;
    int64_t until = 0;
    for (int i = 1; i <= 6; i++) {
        cst_store *node = i % 2 ? a : b;
        assert_int_equal(
            cst_store_login_failed(node, u.id, T0 + i * MIN, 6, 30 * MIN, &failed, &until), CST_OK);
        assert_int_equal(failed, i);
        assert_int_equal(until, i < 6 ? 0 : T0 + 6 * MIN + 30 * MIN);
    }
    assert_int_equal(cst_store_user_get(a, NULL, u.id, &got), CST_OK);
    assert_int_equal(got.locked_until, T0 + 36 * MIN);
    /* an administrator's unlock on one node frees the account on the other */
    assert_int_equal(cst_store_login_unlock(b, NULL, u.id), CST_OK);
    assert_int_equal(cst_store_user_get(a, NULL, u.id, &got), CST_OK);
    assert_int_equal(got.failed_logins, 0);
    assert_int_equal(got.locked_until, 0);
}

#define RACE_N 40

struct racer {
    cst_store *node;
    const char *user_id;
    int errors;
};

static void *fail_many(void *p)
{
    struct racer *r = p;
    int failed = 0;
    int64_t until = 0;
    for (int i = 0; i < RACE_N; i++)
        if (cst_store_login_failed(r->node, r->user_id, T0, 1000, MIN, &failed, &until) != CST_OK)
            r->errors++;
    return NULL;
}

/* IAM-2: failures counted at the same time on both nodes are all counted (a read then a
 * write would lose some). */
static void test_iam2_concurrent_failures_are_all_counted(void **state)
{
    (void)state;
    cst_user_row u, got;
    new_user("racing", &u);
    struct racer ra = {a, u.id, 0}, rb = {b, u.id, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, fail_many, &ra), 0);
    assert_int_equal(pthread_create(&tb, NULL, fail_many, &rb), 0);
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    assert_int_equal(ra.errors + rb.errors, 0);
    assert_int_equal(cst_store_user_get(b, NULL, u.id, &got), CST_OK);
    assert_int_equal(got.failed_logins, 2 * RACE_N);
}

/* IAM-3: a TOTP step accepted on one node is a replay on the other; only a newer step moves
 * it, from either node. */
static void test_iam3_totp_step_used_on_one_node_refused_on_other(void **state)
{
    (void)state;
    cst_user_row u, got;
    new_user("totp", &u);
    assert_int_equal(cst_store_totp_advance(a, u.id, 100), CST_OK);
    assert_int_equal(cst_store_totp_advance(b, u.id, 100), CST_ERR_UNAUTHENTICATED);
    assert_non_null(strstr(cst_err_message(CST_ERR_UNAUTHENTICATED), "already used"));
    cst_err_clear();
    assert_int_equal(cst_store_totp_advance(b, u.id, 99), CST_ERR_UNAUTHENTICATED);
    cst_err_clear();
    assert_int_equal(cst_store_totp_advance(b, u.id, 101), CST_OK);
    assert_int_equal(cst_store_totp_advance(a, u.id, 101), CST_ERR_UNAUTHENTICATED);
    cst_err_clear();
    assert_int_equal(cst_store_user_get(a, NULL, u.id, &got), CST_OK);
    assert_int_equal(got.totp_last_step, 101);
}

/* IAM-3: a recovery code consumed on one node (compare-and-swap of the list) cannot be
 * consumed again on the other, which started from the same list. */
static void test_iam3_recovery_code_swapped_once_across_nodes(void **state)
{
    (void)state;
    cst_user_row u, got;
    new_user("recovery", &u);
    assert_int_equal(cst_store_recovery_swap(a, u.id, "[\"a\",\"b\"]", "[\"b\"]"), CST_OK);
    assert_int_equal(cst_store_recovery_swap(b, u.id, "[\"a\",\"b\"]", "[\"b\"]"),
                     CST_ERR_UNAUTHENTICATED);
    assert_non_null(strstr(cst_err_message(CST_ERR_UNAUTHENTICATED), "already used"));
    cst_err_clear();
    assert_int_equal(cst_store_user_get(b, NULL, u.id, &got), CST_OK);
    assert_string_equal(got.recovery, "[\"b\"]");
    assert_int_equal(cst_store_recovery_swap(b, u.id, "[\"b\"]", "[]"), CST_OK);
}

static cst_buf key_blob;

static void tenant_rows(const char *name, cst_tenant_row *t, cst_user_row *owner)
{
    memset(t, 0, sizeof(*t));
    cst_random_id("tn", t->id);
    strcpy(t->name, name);
    strcpy(t->region, "eu");
    strcpy(t->plan, "trial");
    strcpy(t->state, "active");
    t->created_at = T0;
    memset(owner, 0, sizeof(*owner));
    cst_random_id("us", owner->id);
    strcpy(owner->tenant_id, t->id);
    strcpy(owner->username, "owner");
    strcpy(owner->pw_hash, "x");
}

struct creator {
    cst_store *node;
    const char *name;
    cst_err e;
    char id[CST_ID_MAX];
};

static void *create_tenant(void *p)
{
    struct creator *c = p;
    cst_tenant_row t;
    cst_user_row owner;
    tenant_rows(c->name, &t, &owner);
    strcpy(c->id, t.id);
    c->e = cst_store_tenant_create(c->node, NULL, &t, &key_blob, &key_blob, &owner);
    if (c->e != CST_OK)
        cst_err_clear(); /* errors are per thread: the main thread checks c->e */
    return NULL;
}

/* One tenant name, asked for on both nodes: exactly one gets it; the other gets
 * CST_ERR_CONFLICT, and its request's unit of work goes on (another tenant in the same work
 * commits). Then the same while the first node's transaction has not committed yet: the
 * second waits for it and loses. */
static void test_tenant_name_given_once_across_nodes(void **state)
{
    (void)state;
    cst_buf_init(&key_blob, 64);
    assert_int_equal(cst_buf_append(&key_blob, "wrapped", 7), CST_OK);
    cst_tenant_row t1, t2, t3, got;
    cst_user_row o1, o2, o3;
    tenant_rows("acme", &t1, &o1);
    tenant_rows("acme", &t2, &o2);
    tenant_rows("acme-two", &t3, &o3);
    assert_int_equal(cst_store_tenant_create(a, NULL, &t1, &key_blob, &key_blob, &o1), CST_OK);

    cst_txn *txn;
    cst_work *w;
    assert_int_equal(cst_txn_begin(&txn), CST_OK);
    assert_int_equal(cst_work_begin(txn, &w), CST_OK);
    assert_int_equal(cst_store_tenant_create(b, w, &t2, &key_blob, &key_blob, &o2),
                     CST_ERR_CONFLICT);
    assert_non_null(strstr(cst_err_message(CST_ERR_CONFLICT), "a tenant with that name exists"));
    cst_err_clear();
    assert_int_equal(cst_store_tenant_create(b, w, &t3, &key_blob, &key_blob, &o3), CST_OK);
    assert_int_equal(cst_work_end(w, true), CST_OK);
    assert_int_equal(cst_txn_commit(txn), CST_OK);

    assert_int_equal(cst_store_tenant_by_name(b, NULL, "acme", &got), CST_OK);
    assert_string_equal(got.id, t1.id);
    assert_int_equal(cst_store_tenant_get(a, NULL, t2.id, &got), CST_ERR_NOT_FOUND);
    cst_err_clear();
    cst_user_row owner;
    assert_int_equal(cst_store_user_get(a, NULL, o2.id, &owner), CST_ERR_NOT_FOUND);
    cst_err_clear();
    assert_int_equal(cst_store_tenant_get(a, NULL, t3.id, &got), CST_OK);
    assert_int_equal(cst_store_user_get(a, NULL, o3.id, &owner), CST_OK);
    uint32_t version = 0;
    cst_buf blob;
    cst_buf_init(&blob, 64);
    assert_int_equal(cst_store_key_latest(a, NULL, t3.id, "idx", &version, &blob), CST_OK);
    assert_int_equal(version, 1);
    assert_memory_equal(blob.data, "wrapped", 7);
    cst_buf_free(&blob);

    /* node a holds "beta" uncommitted while node b asks for it */
    tenant_rows("beta", &t1, &o1);
    assert_int_equal(cst_txn_begin(&txn), CST_OK);
    assert_int_equal(cst_work_begin(txn, &w), CST_OK);
    assert_int_equal(cst_store_tenant_create(a, w, &t1, &key_blob, &key_blob, &o1), CST_OK);
    struct creator other = {b, "beta", CST_OK, ""};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, create_tenant, &other), 0);
    assert_int_equal(cst_work_end(w, true), CST_OK);
    assert_int_equal(cst_txn_commit(txn), CST_OK);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(other.e, CST_ERR_CONFLICT);
    assert_int_equal(cst_store_tenant_by_name(b, NULL, "beta", &got), CST_OK);
    assert_string_equal(got.id, t1.id);
    cst_buf_free(&key_blob);
}

/* A user deleted through the wrong tenant is not found, and their tokens stay; deleted
 * through their own, they and their tokens go, on every node. */
static void test_user_delete_takes_tokens_only_with_the_user(void **state)
{
    (void)state;
    cst_user_row u, got;
    new_user("leaving", &u);
    cst_token_row tok, seen;
    memset(&tok, 0, sizeof(tok));
    cst_random_id("tk", tok.id);
    strcpy(tok.tenant_id, "_sys");
    strcpy(tok.user_id, u.id);
    strcpy(tok.name, "t");
    assert_int_equal(cst_store_token_create(a, NULL, &tok), CST_OK);
    assert_int_equal(cst_store_user_delete(b, NULL, "tn_00000000000000000009", u.id),
                     CST_ERR_NOT_FOUND);
    cst_err_clear();
    assert_int_equal(cst_store_token_get(a, NULL, tok.id, &seen), CST_OK);
    assert_int_equal(cst_store_user_delete(b, NULL, "_sys", u.id), CST_OK);
    assert_int_equal(cst_store_user_get(a, NULL, u.id, &got), CST_ERR_NOT_FOUND);
    cst_err_clear();
    assert_int_equal(cst_store_token_get(a, NULL, tok.id, &seen), CST_ERR_NOT_FOUND);
    cst_err_clear();
    /* a username taken fails alone: the work goes on */
    cst_user_row dup = u;
    new_user("taken", &u);
    cst_random_id("us", dup.id);
    strcpy(dup.username, "taken");
    cst_txn *txn;
    cst_work *w;
    assert_int_equal(cst_txn_begin(&txn), CST_OK);
    assert_int_equal(cst_work_begin(txn, &w), CST_OK);
    assert_int_equal(cst_store_user_create(b, w, &dup), CST_ERR_CONFLICT);
    assert_non_null(strstr(cst_err_message(CST_ERR_CONFLICT), "a user with that username exists"));
    cst_err_clear();
    strcpy(dup.username, "untaken");
    assert_int_equal(cst_store_user_create(b, w, &dup), CST_OK);
    assert_int_equal(cst_work_end(w, true), CST_OK);
    assert_int_equal(cst_txn_commit(txn), CST_OK);
    assert_int_equal(cst_store_user_by_name(a, NULL, "_sys", "untaken", &got), CST_OK);
}

static long long epoch(void)
{
    long long n = -1;
    assert_true(ts_store_pg_int(dir, "SELECT n FROM custodia_system.principals_epoch", &n));
    return n;
}

/* IAM-5 across nodes (PostgreSQL: nodes share the database): a write to principals on one node
 * moves the shared principals epoch when it commits, in its own transaction; a rolled back
 * one and recorded use (touches) leave it. SQLite has no second node: skipped there. */
static void test_iam5_epoch_moves_after_a_write_on_the_other_node(void **state)
{
    (void)state;
    if (strcmp(ts_store_driver(), "postgresql") != 0)
        skip();
    cst_user_row u;
    new_user("epoch", &u);
    cst_token_row tok;
    memset(&tok, 0, sizeof(tok));
    cst_random_id("tk", tok.id);
    strcpy(tok.tenant_id, "_sys");
    strcpy(tok.user_id, u.id);
    strcpy(tok.name, "t");
    long long e0 = epoch();
    assert_int_equal(cst_store_token_create(a, NULL, &tok), CST_OK);
    long long e1 = epoch();
    assert_true(e1 > e0);
    uint64_t ga = cst_store_principals_gen(a); /* node a's cache's view */
    assert_int_equal(cst_store_token_touch(b, NULL, tok.id, T0), CST_OK);
    assert_int_equal(cst_store_tenant_touch(b, NULL, "_sys", T0), CST_OK);
    assert_int_equal(epoch(), e1);
    assert_int_equal(cst_store_principals_gen(a), ga);

    cst_txn *txn;
    cst_work *w;
    assert_int_equal(cst_txn_begin(&txn), CST_OK); /* rolled back: no move */
    assert_int_equal(cst_work_begin(txn, &w), CST_OK);
    assert_int_equal(cst_store_token_delete(b, w, "_sys", NULL, tok.id), CST_OK);
    assert_int_equal(cst_work_end(w, false), CST_OK);
    cst_txn_rollback(txn);
    assert_int_equal(epoch(), e1);
    assert_int_equal(cst_store_principals_gen(a), ga);

    assert_int_equal(cst_txn_begin(&txn), CST_OK); /* committed: moves, at the commit */
    assert_int_equal(cst_work_begin(txn, &w), CST_OK);
    assert_int_equal(cst_store_token_delete(b, w, "_sys", NULL, tok.id), CST_OK);
    assert_int_equal(epoch(), e1); /* not yet: another node reads committed rows only */
    assert_int_equal(cst_store_principals_gen(a), ga);
    assert_int_equal(cst_work_end(w, true), CST_OK);
    assert_int_equal(cst_txn_commit(txn), CST_OK);
    long long e2 = epoch();
    assert_true(e2 > e1);
    assert_true(cst_store_principals_gen(a) != ga); /* IAM-5: node a's cached token is stale */
    cst_token_row seen;
    assert_int_equal(cst_store_token_get(a, NULL, tok.id, &seen), CST_ERR_NOT_FOUND);
    cst_err_clear();

    /* a write that commits alone (IAM-2's counted failure) moves it at once */
    int failed = 0;
    int64_t until = 0;
    assert_int_equal(cst_store_login_failed(b, u.id, T0, 6, MIN, &failed, &until), CST_OK);
    assert_true(epoch() > e2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam2_failures_on_two_nodes_lock),
        cmocka_unit_test(test_iam2_concurrent_failures_are_all_counted),
        cmocka_unit_test(test_iam3_totp_step_used_on_one_node_refused_on_other),
        cmocka_unit_test(test_iam3_recovery_code_swapped_once_across_nodes),
        cmocka_unit_test(test_tenant_name_given_once_across_nodes),
        cmocka_unit_test(test_user_delete_takes_tokens_only_with_the_user),
        cmocka_unit_test(test_iam5_epoch_moves_after_a_write_on_the_other_node),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
