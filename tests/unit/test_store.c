/* test_store.c: the system store's atomic identity updates with an injected clock: lockout
 * counting (IAM-2), TOTP replay refusal (IAM-3) and single-use recovery codes; the driver
 * interface: transactions and units of work (LOG-1), listings a callback stops, tenant stores by
 * id, purge (RET-4), copies (BAK-1); the principals generation a credential cache relies on
 * (IAM-5). */
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

static char dir[] = "/tmp/cst-store-XXXXXX";
static cst_store *st;
static cst_user_row u;

#define MIN 60000000LL

static int setup(void **state)
{
    if (!mkdtemp(dir) || ts_store_open(dir, true, &st) != CST_OK) {
        fprintf(stderr, "setup: %s\n", cst_err_message(CST_ERR_INTERNAL));
        return -1;
    }
    memset(&u, 0, sizeof(u));
    strcpy(u.id, "us_00000000000000000001");
    strcpy(u.tenant_id, "_sys");
    strcpy(u.username, "admin");
    strcpy(u.pw_hash, "x");
    strcpy(u.recovery, "[\"a\",\"b\"]");
    if (cst_store_user_create(st, NULL, &u) != CST_OK) {
        fprintf(stderr, "setup: %s\n", cst_err_message(CST_ERR_INTERNAL));
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    cst_store_close(st);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_iam2_lockout_counts_with_injected_clock(void **state)
{
    int64_t t0 = 1700000000LL * 1000000, until = 0;
    int failed = 0;
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(
            cst_store_login_failed(st, u.id, t0 + i * MIN, 6, 30 * MIN, &failed, &until), CST_OK);
        assert_int_equal(failed, i);
        assert_int_equal(until, 0); /* not locked yet */
    }
    assert_int_equal(cst_store_login_failed(st, u.id, t0 + 6 * MIN, 6, 30 * MIN, &failed, &until),
                     CST_OK);
    assert_int_equal(failed, 6);
    assert_int_equal(until, t0 + 6 * MIN + 30 * MIN); /* locked for 30 minutes from the 6th */
    cst_user_row got;
    assert_int_equal(cst_store_user_get(st, NULL, u.id, &got), CST_OK);
    assert_true(got.locked_until > t0 + 35 * MIN);  /* still locked 29 minutes later */
    assert_false(got.locked_until > t0 + 36 * MIN); /* free at 30 */
    /* a success clears the count and the lock */
    assert_int_equal(cst_store_login_ok(st, NULL, u.id, t0 + 40 * MIN), CST_OK);
    assert_int_equal(cst_store_user_get(st, NULL, u.id, &got), CST_OK);
    assert_int_equal(got.failed_logins, 0);
    assert_int_equal(got.locked_until, 0);
}

/* IAM-2: the count restarts when a lock expires, so one wrong attempt after it does not
 * re-lock; an administrator's unlock clears the lock at once. */
static void test_iam2_lockout_restarts_after_expiry_and_unlocks(void **state)
{
    int64_t t0 = 1800000000LL * 1000000, until = 0;
    int failed = 0;
    for (int i = 1; i <= 6; i++)
        assert_int_equal(cst_store_login_failed(st, u.id, t0 + i, 6, 30 * MIN, &failed, &until),
                         CST_OK);
    assert_int_equal(failed, 6);
    assert_int_equal(until, t0 + 6 + 30 * MIN);
    int64_t after = t0 + 6 + 30 * MIN + 1; /* the lock has expired */
    assert_int_equal(cst_store_login_failed(st, u.id, after, 6, 30 * MIN, &failed, &until), CST_OK);
    assert_int_equal(failed, 1); /* a new count */
    assert_int_equal(until, 0);  /* and no lock */
    for (int i = 2; i <= 5; i++)
        assert_int_equal(cst_store_login_failed(st, u.id, after + i, 6, 30 * MIN, &failed, &until),
                         CST_OK);
    assert_int_equal(failed, 5);
    assert_int_equal(until, 0);
    assert_int_equal(cst_store_login_failed(st, u.id, after + 6, 6, 30 * MIN, &failed, &until),
                     CST_OK);
    assert_int_equal(until, after + 6 + 30 * MIN); /* six new failures lock again */
    assert_int_equal(cst_store_login_unlock(st, NULL, u.id), CST_OK);
    cst_user_row got;
    assert_int_equal(cst_store_user_get(st, NULL, u.id, &got), CST_OK);
    assert_int_equal(got.failed_logins, 0);
    assert_int_equal(got.locked_until, 0);
    assert_int_equal(cst_store_login_unlock(st, NULL, "us_99999999999999999999"),
                     CST_ERR_NOT_FOUND);
}

static void test_iam3_totp_step_only_moves_forward(void **state)
{
    assert_int_equal(cst_store_totp_advance(st, u.id, 100), CST_OK);
    assert_int_equal(cst_store_totp_advance(st, u.id, 100), CST_ERR_UNAUTHENTICATED);
    assert_int_equal(cst_store_totp_advance(st, u.id, 99), CST_ERR_UNAUTHENTICATED);
    assert_int_equal(cst_store_totp_advance(st, u.id, 101), CST_OK);
}

static void test_iam3_recovery_code_swap_is_single_use(void **state)
{
    assert_int_equal(cst_store_recovery_swap(st, u.id, "[\"a\",\"b\"]", "[\"b\"]"), CST_OK);
    /* a second, concurrent consumer still holding the old list loses */
    assert_int_equal(cst_store_recovery_swap(st, u.id, "[\"a\",\"b\"]", "[\"b\"]"),
                     CST_ERR_UNAUTHENTICATED);
}

/* A request's transaction and unit of work, as api/dispatch.c makes them. */
static cst_txn *txn;
static cst_work *work;

static void request_begin(void)
{
    assert_int_equal(cst_txn_begin(&txn), CST_OK);
    assert_int_equal(cst_work_begin(txn, &work), CST_OK);
}

/* Ends the request: its work kept or not, then its transaction committed. */
static cst_err request_end(bool keep)
{
    cst_err e = cst_work_end(work, keep);
    work = NULL;
    if (e != CST_OK) {
        cst_txn_rollback(txn);
        return e;
    }
    return cst_txn_commit(txn);
}

/* IAM-3 with the request's unit of work: a login's accepted code stays used when its request
 * fails later (a failed request rolls back what it wrote), and the loser of a concurrent
 * replay counts as a failed attempt (IAM-2) that outlives its request's rollback, as auth.c
 * counts it: outside the request's unit of work. */
static void test_iam3_second_factor_outlives_request_rollback(void **state)
{
    cst_user_row v, got;
    memset(&v, 0, sizeof(v));
    strcpy(v.id, "us_00000000000000000002");
    strcpy(v.tenant_id, "_sys");
    strcpy(v.username, "replayed");
    strcpy(v.pw_hash, "x");
    strcpy(v.recovery, "[\"c\",\"d\"]");
    assert_int_equal(cst_store_user_create(st, NULL, &v), CST_OK);

    request_begin(); /* the winner: its code accepted, then its request fails */
    assert_int_equal(cst_store_totp_advance(st, v.id, 500), CST_OK);
    assert_int_equal(request_end(false), CST_OK);
    assert_int_equal(cst_store_user_get(st, NULL, v.id, &got), CST_OK);
    assert_int_equal(got.totp_last_step, 500);

    request_begin(); /* the loser: same step, refused, and its failure counted */
    assert_int_equal(cst_store_totp_advance(st, v.id, 500), CST_ERR_UNAUTHENTICATED);
    int failed = 0;
    int64_t until = 0;
    assert_int_equal(cst_store_login_failed(st, v.id, 1000, 6, 30 * MIN, &failed, &until), CST_OK);
    assert_int_equal(request_end(false), CST_OK);
    assert_int_equal(cst_store_user_get(st, NULL, v.id, &got), CST_OK);
    assert_int_equal(got.failed_logins, 1);
    assert_int_equal(got.totp_last_step, 500);

    request_begin(); /* a recovery code, consumed by a request that then fails */
    assert_int_equal(cst_store_recovery_swap(st, v.id, "[\"c\",\"d\"]", "[\"d\"]"), CST_OK);
    assert_int_equal(request_end(false), CST_OK);
    assert_int_equal(cst_store_user_get(st, NULL, v.id, &got), CST_OK);
    assert_string_equal(got.recovery, "[\"d\"]");
}

/* LOG-1: a request's writes commit only with its transaction: a unit of work not kept, or a
 * transaction rolled back, leaves nothing; a kept work in a committed one is durable. */
static void test_log1_unit_of_work_commits_or_leaves_nothing(void **state)
{
    cst_user_row v = u, got;
    strcpy(v.id, "us_00000000000000000003");
    strcpy(v.username, "worker");
    request_begin();
    assert_int_equal(cst_store_user_create(st, work, &v), CST_OK);
    assert_true(cst_work_wrote(work));
    /* the work reads what it wrote */
    assert_int_equal(cst_store_user_get(st, work, v.id, &got), CST_OK);
    assert_int_equal(request_end(false), CST_OK);
    assert_int_equal(cst_store_user_get(st, NULL, v.id, &got), CST_ERR_NOT_FOUND);
    cst_err_clear();

    request_begin(); /* kept, but its transaction rolls back (an audit entry that failed) */
    assert_int_equal(cst_store_user_create(st, work, &v), CST_OK);
    assert_int_equal(cst_work_end(work, true), CST_OK);
    cst_txn_rollback(txn);
    assert_int_equal(cst_store_user_get(st, NULL, v.id, &got), CST_ERR_NOT_FOUND);
    cst_err_clear();

    request_begin();
    assert_int_equal(cst_store_user_create(st, work, &v), CST_OK);
    assert_int_equal(request_end(true), CST_OK);
    assert_int_equal(cst_store_user_get(st, NULL, v.id, &got), CST_OK);
    assert_int_equal(cst_store_user_delete(st, NULL, "_sys", v.id), CST_OK);
}

/* The group commit the design is for: two requests' units of work in one transaction, one
 * kept and one failed (a precondition, say) - only the failed one's writes are undone, and one
 * commit makes the kept one's durable. */
static void test_two_units_of_work_share_a_transaction_and_fail_alone(void **state)
{
    cst_user_row a = u, b = u, got;
    strcpy(a.id, "us_00000000000000000004");
    strcpy(a.username, "kept");
    strcpy(b.id, "us_00000000000000000005");
    strcpy(b.username, "dropped");
    cst_txn *t;
    cst_work *w1, *w2;
    assert_int_equal(cst_txn_begin(&t), CST_OK);
    assert_int_equal(cst_work_begin(t, &w1), CST_OK);
    assert_int_equal(cst_work_begin(t, &w2), CST_ERR_INTERNAL); /* one open at a time */
    cst_err_clear();
    assert_int_equal(cst_store_user_create(st, w1, &a), CST_OK);
    assert_int_equal(cst_work_end(w1, true), CST_OK);
    assert_int_equal(cst_work_begin(t, &w2), CST_OK);
    assert_int_equal(cst_store_user_create(st, w2, &b), CST_OK);
    assert_int_equal(cst_store_user_get(st, w2, a.id, &got), CST_OK); /* sees w1's */
    assert_int_equal(cst_work_end(w2, false), CST_OK);
    assert_int_equal(cst_txn_commit(t), CST_OK);
    assert_int_equal(cst_store_user_get(st, NULL, a.id, &got), CST_OK);
    assert_int_equal(cst_store_user_get(st, NULL, b.id, &got), CST_ERR_NOT_FOUND);
    cst_err_clear();
    assert_int_equal(cst_store_user_delete(st, NULL, "_sys", a.id), CST_OK);
}

static void note_end(void *ctx, bool committed)
{
    *(int *)ctx = committed ? 1 : 2;
}

/* What a unit of work made outside the stores learns its fate once the transaction ends:
 * committed only when the work was kept and the transaction committed. */
static void test_work_hooks_learn_whether_it_committed(void **state)
{
    int kept = 0, dropped = 0, rolled = 0, alone = 0;
    request_begin();
    assert_int_equal(cst_work_on_end(work, note_end, &kept), CST_OK);
    assert_int_equal(kept, 0); /* not before the end */
    assert_int_equal(request_end(true), CST_OK);
    assert_int_equal(kept, 1);
    request_begin();
    assert_int_equal(cst_work_on_end(work, note_end, &dropped), CST_OK);
    assert_int_equal(request_end(false), CST_OK);
    assert_int_equal(dropped, 2);
    request_begin();
    assert_int_equal(cst_work_on_end(work, note_end, &rolled), CST_OK);
    assert_int_equal(cst_work_end(work, true), CST_OK);
    cst_txn_rollback(txn);
    assert_int_equal(rolled, 2);
    assert_int_equal(cst_work_on_end(NULL, note_end, &alone), CST_OK); /* no work: at once */
    assert_int_equal(alone, 1);
}

/* A call outside the unit of work on a store the work holds would silently join (or, on
 * another driver, miss) the work's uncommitted writes: it is refused instead. */
static void test_call_outside_the_work_on_a_held_store_is_refused(void **state)
{
    cst_user_row v = u, got;
    strcpy(v.id, "us_00000000000000000006");
    strcpy(v.username, "holder");
    request_begin();
    assert_int_equal(cst_store_user_create(st, work, &v), CST_OK);
    assert_int_equal(cst_store_user_get(st, NULL, v.id, &got), CST_ERR_INTERNAL);
    cst_err_clear();
    assert_int_equal(cst_store_login_unlock(st, NULL, v.id), CST_ERR_INTERNAL);
    cst_err_clear();
    cst_txn *other;
    cst_work *ow;
    assert_int_equal(cst_txn_begin(&other), CST_OK);
    assert_int_equal(cst_work_begin(other, &ow), CST_OK);
    assert_int_equal(cst_store_login_unlock(st, ow, v.id), CST_ERR_INTERNAL);
    cst_err_clear();
    assert_int_equal(cst_work_end(ow, false), CST_OK);
    cst_txn_rollback(other);
    assert_int_equal(request_end(false), CST_OK);
    assert_int_equal(cst_store_user_get(st, NULL, v.id, &got), CST_ERR_NOT_FOUND);
    cst_err_clear();
}

static cst_err stop_at_first(const cst_user_row *row, void *p)
{
    (*(int *)p)++;
    return cst_fail(CST_ERR_CONFLICT, "stop");
}

static void test_listing_stops_at_a_callback_error(void **state)
{
    cst_user_row v = u;
    strcpy(v.id, "us_0000000000000000000a");
    strcpy(v.username, "lister");
    assert_int_equal(cst_store_user_create(st, NULL, &v), CST_OK);
    int calls = 0;
    assert_int_equal(cst_store_user_list(st, NULL, "_sys", stop_at_first, &calls),
                     CST_ERR_CONFLICT);
    assert_int_equal(calls, 1);
    cst_err_clear();
    assert_int_equal(cst_store_user_delete(st, NULL, "_sys", v.id), CST_OK);
}

static void count_removed(const char *name, void *p)
{
    (*(int *)p)++;
}

static void test_ret4_tenant_store_by_id_then_purged(void **state)
{
    char tid[32], sub[PATH_MAX];
    cst_tstore *ts = NULL;
    bool exists = true;
    int removed = 0;
    cst_random_id("tn", tid);
    snprintf(sub, sizeof(sub), "%s/tenants", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(cst_tstore_open(st, CST_TSPACE_LIVE, "../system", true, &ts), CST_ERR_INVALID);
    cst_err_clear();
    assert_int_equal(cst_tstore_exists(st, CST_TSPACE_LIVE, tid, &exists), CST_OK);
    assert_false(exists);
    assert_int_equal(cst_tstore_open(st, CST_TSPACE_LIVE, tid, true, &ts), CST_OK);
    cst_tstore_close(ts);
    assert_int_equal(cst_tstore_exists(st, CST_TSPACE_LIVE, tid, &exists), CST_OK);
    assert_true(exists);
    assert_int_equal(cst_tstore_purge(st, CST_TSPACE_LIVE, tid, count_removed, &removed), CST_OK);
    assert_true(removed >= 1);
    assert_int_equal(cst_tstore_exists(st, CST_TSPACE_LIVE, tid, &exists), CST_OK);
    assert_false(exists);
    /* idempotent: nothing left to remove is no error */
    assert_int_equal(cst_tstore_purge(st, CST_TSPACE_LIVE, tid, NULL, NULL), CST_OK);
}

static cst_err count_tenant(const char *id, void *p)
{
    (*(int *)p)++;
    return CST_OK;
}

static cst_err count_tomb(const cst_tombstone_row *t, void *p)
{
    (*(int *)p) += 100;
    return CST_OK;
}

static void test_bak1_snapshot_is_a_checked_copy(void **state)
{
    char copies[PATH_MAX], name[PATH_MAX], tid[32], back[CST_ID_MAX];
    bool exists = false;
    int seen = 0;
    snprintf(copies, sizeof(copies), "%s/copies", dir);
    assert_int_equal(mkdir(copies, 0700), 0);
    assert_int_equal(cst_store_tombstone_add(st, NULL, "tn_000000000000000000ff", 1, ""), CST_OK);
    assert_int_equal(cst_store_snapshot(st, NULL, copies, &exists), CST_OK);
    assert_true(exists);
    assert_int_equal(cst_store_copy_name(NULL, name, sizeof(name)), CST_OK);
    assert_int_equal(cst_store_copy_check(copies, name, true, NULL, NULL), CST_OK);
    assert_int_equal(cst_store_copy_lists(copies, count_tenant, count_tomb, &seen), CST_OK);
    assert_int_equal(seen, 100); /* no tenant, one tombstone */
    /* a tenant that never stored anything has no copy */
    cst_random_id("tn", tid);
    assert_int_equal(cst_store_snapshot(st, tid, copies, &exists), CST_OK);
    assert_false(exists);
    /* a tenant copy's name leads back to its tenant; nothing else does */
    assert_int_equal(cst_store_copy_name(tid, name, sizeof(name)), CST_OK);
    assert_true(cst_store_copy_tenant(name, back));
    assert_string_equal(back, tid);
    assert_false(cst_store_copy_tenant("tenants/../system", back));
    assert_false(cst_store_copy_tenant("node-signing.key", back));
    /* a damaged copy fails its check */
    assert_int_equal(cst_store_copy_name(NULL, name, sizeof(name)), CST_OK);
    char path[PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s", copies, name);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    for (int i = 0; i < 16; i++) /* the file header */
        fputc(0xA5, f);
    fclose(f);
    cst_err e = cst_store_copy_check(copies, name, true, NULL, NULL);
    assert_int_equal(e, CST_ERR_INTEGRITY);
    cst_err_clear();
}

/* IAM-5: the principals generation moves after committed writes to principals: at once for a
 * write that commits alone, at the end of the transaction for one in a unit of work (never
 * before: a reader could otherwise cache rows the commit is about to change under the new
 * generation), and not for recorded use (token and tenant touches). */
static void test_iam5_principals_generation_moves_after_commit(void **state)
{
    uint64_t g0 = cst_store_principals_gen(st);
    cst_token_row tok;
    memset(&tok, 0, sizeof(tok));
    strcpy(tok.id, "tk_00000000000000000005");
    strcpy(tok.tenant_id, "_sys");
    strcpy(tok.user_id, u.id);
    strcpy(tok.name, "gen");
    assert_int_equal(cst_store_token_create(st, NULL, &tok), CST_OK);
    uint64_t g1 = cst_store_principals_gen(st);
    assert_true(g1 != g0);
    assert_int_equal(cst_store_token_touch(st, NULL, tok.id, 2000), CST_OK);
    assert_int_equal(cst_store_tenant_touch(st, NULL, "tn_00000000000000000001", 2000), CST_OK);
    assert_int_equal(cst_store_principals_gen(st), g1);
    int failed = 0;
    int64_t until = 0;
    assert_int_equal(cst_store_login_failed(st, u.id, 3000, 6, MIN, &failed, &until), CST_OK);
    uint64_t g2 = cst_store_principals_gen(st);
    assert_true(g2 != g1); /* IAM-2: a counted failure changes the user's row */
    cst_txn *t;
    cst_work *w;
    assert_int_equal(cst_txn_begin(&t), CST_OK);
    assert_int_equal(cst_work_begin(t, &w), CST_OK);
    assert_int_equal(cst_store_login_unlock(st, w, u.id), CST_OK);
    assert_int_equal(cst_store_principals_gen(st), g2);
    assert_int_equal(cst_work_end(w, true), CST_OK);
    assert_int_equal(cst_store_principals_gen(st), g2);
    assert_int_equal(cst_txn_commit(t), CST_OK);
    uint64_t g3 = cst_store_principals_gen(st);
    assert_true(g3 != g2);
    /* rolled back: the rows stay; the generation may move (a reload costs nothing else) */
    assert_int_equal(cst_txn_begin(&t), CST_OK);
    assert_int_equal(cst_work_begin(t, &w), CST_OK);
    assert_int_equal(cst_store_token_delete(st, w, "_sys", NULL, tok.id), CST_OK);
    assert_int_equal(cst_store_principals_gen(st), g3);
    assert_int_equal(cst_work_end(w, false), CST_OK);
    cst_txn_rollback(t);
    cst_token_row again;
    assert_int_equal(cst_store_token_get(st, NULL, tok.id, &again), CST_OK);
}

static void test_unknown_driver_fails_clearly(void **state)
{
    cst_store *other = NULL;
    const cst_store_driver *d = NULL;
    assert_int_equal(cst_store_open_driver("postgres", dir, false, &other), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "unknown storage driver"));
    assert_null(other);
    cst_err_clear();
    assert_int_equal(cst_store_driver_find(CST_STORE_DEFAULT_DRIVER, &d), CST_OK);
    assert_non_null(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam2_lockout_counts_with_injected_clock),
        cmocka_unit_test(test_iam2_lockout_restarts_after_expiry_and_unlocks),
        cmocka_unit_test(test_iam3_totp_step_only_moves_forward),
        cmocka_unit_test(test_iam3_recovery_code_swap_is_single_use),
        cmocka_unit_test(test_iam3_second_factor_outlives_request_rollback),
        cmocka_unit_test(test_log1_unit_of_work_commits_or_leaves_nothing),
        cmocka_unit_test(test_two_units_of_work_share_a_transaction_and_fail_alone),
        cmocka_unit_test(test_work_hooks_learn_whether_it_committed),
        cmocka_unit_test(test_call_outside_the_work_on_a_held_store_is_refused),
        cmocka_unit_test(test_listing_stops_at_a_callback_error),
        cmocka_unit_test(test_ret4_tenant_store_by_id_then_purged),
        cmocka_unit_test(test_bak1_snapshot_is_a_checked_copy),
        cmocka_unit_test(test_iam5_principals_generation_moves_after_commit),
        cmocka_unit_test(test_unknown_driver_fails_clearly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
