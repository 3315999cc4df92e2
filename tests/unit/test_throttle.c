/* test_throttle.c: the bounded login-throttle tables (IAM-2) with an injected clock: the
 * per-minute budget, refill and Retry-After, independence of keys, a table an attacker with
 * many keys cannot grow or use to free a throttled key, and the phantom-account lockout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "util/throttle.h"

#define SEC 1000000LL
#define T0 (1700000000LL * SEC)

static bool take(cst_throttle *t, const char *key, int64_t now, int *wait)
{
    return cst_throttle_take(t, key, strlen(key), now, wait);
}

static void test_iam2_throttle_budget_refill_and_retry_after(void **state)
{
    cst_throttle *t = NULL;
    assert_int_equal(cst_throttle_new(8192, 60, &t), CST_OK);
    int wait = 0;
    for (int i = 0; i < 60; i++)
        assert_true(take(t, "198.51.100.7", T0, &wait));
    assert_false(take(t, "198.51.100.7", T0, &wait)); /* the 61st within the minute */
    assert_int_equal(wait, 1);                        /* one attempt per second refills */
    assert_true(take(t, "198.51.100.8", T0, &wait));  /* another key is unaffected */
    assert_false(take(t, "198.51.100.7", T0 + SEC / 2, &wait));
    assert_true(take(t, "198.51.100.7", T0 + SEC, &wait)); /* one refilled */
    assert_false(take(t, "198.51.100.7", T0 + SEC, &wait));
    for (int i = 0; i < 60; i++) /* a whole minute refills the whole budget, no more */
        assert_true(take(t, "198.51.100.7", T0 + 70 * SEC, &wait));
    assert_false(take(t, "198.51.100.7", T0 + 70 * SEC, &wait));
    cst_throttle_free(t);

    /* a slow rate: 10 a minute refills one every 6 s */
    assert_int_equal(cst_throttle_new(64, 10, &t), CST_OK);
    for (int i = 0; i < 10; i++)
        assert_true(take(t, "acct", T0, &wait));
    assert_false(take(t, "acct", T0, &wait));
    assert_int_equal(wait, 6);
    assert_false(take(t, "acct", T0 + 5 * SEC, &wait));
    assert_int_equal(wait, 1);
    assert_true(take(t, "acct", T0 + 6 * SEC, &wait));
    cst_throttle_free(t);
}

/* An attacker with many addresses neither grows the table (its size is fixed at creation) nor
 * frees a throttled key by flooding it with fresh ones: a throttled key is recently used and
 * not full, so fresh keys evict each other (or full buckets) first. */
static void test_iam2_throttle_table_bounded_and_flood_keeps_throttled_key(void **state)
{
    cst_throttle *t = NULL;
    assert_int_equal(cst_throttle_new(8192, 60, &t), CST_OK);
    int wait = 0;
    for (int i = 0; i < 60; i++)
        assert_true(take(t, "203.0.113.9", T0, &wait));
    assert_false(take(t, "203.0.113.9", T0, &wait));
    char key[32];
    for (int i = 0; i < 200000; i++) { /* 200,000 addresses, one attempt each */
        snprintf(key, sizeof(key), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        assert_true(take(t, key, T0 + 1, &wait)); /* fresh keys are never refused */
    }
    assert_false(take(t, "203.0.113.9", T0 + 2, &wait));
    cst_throttle_free(t);
    assert_int_equal(cst_throttle_new(4, 60, &t), CST_ERR_INVALID);
    assert_int_equal(cst_throttle_new(64, 0, &t), CST_ERR_INVALID);
}

static void test_iam2_phantom_account_locks_like_a_real_one(void **state)
{
    cst_failtable *f = NULL;
    assert_int_equal(cst_failtable_new(8192, &f), CST_OK);
    int failed = 0;
    int64_t until = 0;
    const char *k = "tn_x\nnobody";
    for (int i = 1; i <= 5; i++) {
        cst_failtable_fail(f, k, strlen(k), T0 + i, 6, 1800 * SEC, &failed, &until);
        assert_int_equal(failed, i);
        assert_int_equal(until, 0);
        assert_int_equal(cst_failtable_locked_until(f, k, strlen(k), T0 + i), 0);
    }
    cst_failtable_fail(f, k, strlen(k), T0 + 6, 6, 1800 * SEC, &failed, &until);
    assert_int_equal(failed, 6);
    assert_int_equal(until, T0 + 6 + 1800 * SEC);
    assert_int_equal(cst_failtable_locked_until(f, k, strlen(k), T0 + 1000 * SEC), until);
    assert_int_equal(cst_failtable_locked_until(f, "other", 5, T0 + 1000 * SEC), 0);
    /* after the lock expires, one failure starts a new count and does not re-lock */
    assert_int_equal(cst_failtable_locked_until(f, k, strlen(k), until), 0);
    cst_failtable_fail(f, k, strlen(k), until + 1, 6, 1800 * SEC, &failed, &until);
    assert_int_equal(failed, 1);
    assert_int_equal(until, 0);
    cst_failtable_free(f);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam2_throttle_budget_refill_and_retry_after),
        cmocka_unit_test(test_iam2_throttle_table_bounded_and_flood_keeps_throttled_key),
        cmocka_unit_test(test_iam2_phantom_account_locks_like_a_real_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
