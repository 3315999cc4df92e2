/* test_keyring.c: ENC-4's pure rules: when a DEK version must be replaced (encryption count,
 * age, with now injected), the state of a version, and the ring of an open tenant (a newer
 * version stays current, old versions still open what they sealed). */
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "core/keyring.h"

#define DAY (86400LL * 1000000LL)

static void test_rotation_due_by_count_and_age(void **state)
{
    (void)state;
    const int64_t limit = 1LL << 30, age = 90 * DAY, t0 = 1000 * DAY;
    assert_null(cst_dek_rotation_due(0, t0, t0, limit, age));
    assert_null(cst_dek_rotation_due(limit - 1, t0, t0 + age - 1, limit, age));
    assert_string_equal(cst_dek_rotation_due(limit, t0, t0, limit, age), "encryptions");
    assert_string_equal(cst_dek_rotation_due(limit + 5, t0, t0 + age, limit, age), "encryptions");
    assert_string_equal(cst_dek_rotation_due(0, t0, t0 + age, limit, age), "age");
    assert_string_equal(cst_dek_rotation_due(50, t0, t0, 50, age), "encryptions");
    /* no limit configured (0), or no creation time known: never by that rule */
    assert_null(cst_dek_rotation_due(limit * 4, t0, t0 + 10 * age, 0, 0));
    assert_null(cst_dek_rotation_due(0, 0, t0, limit, age));
}

static void test_version_states(void **state)
{
    (void)state;
    assert_string_equal(cst_dek_state(3, 3, 10, true), "current");
    assert_string_equal(cst_dek_state(3, 3, 0, true), "current");
    assert_string_equal(cst_dek_state(2, 3, 1, true), "retiring");
    assert_string_equal(cst_dek_state(2, 3, 0, true), "retired");
    assert_string_equal(cst_dek_state(1, 3, 0, false), "destroyed");
}

static void test_ring_keeps_old_versions_and_newest_current(void **state)
{
    (void)state;
    cst_dek_ring r;
    memset(&r, 0, sizeof(r));
    cst_key k1 = {0}, k2 = {0}, k3 = {0};
    assert_int_equal(cst_key_random(&k1), CST_OK);
    assert_int_equal(cst_key_random(&k2), CST_OK);
    assert_int_equal(cst_key_random(&k3), CST_OK);
    uint8_t b1[CST_KEY_LEN];
    memcpy(b1, k1.k, CST_KEY_LEN);
    assert_int_equal(cst_dek_add(&r, 1, &k1, true, 7), CST_OK);
    assert_null(k1.k); /* taken over */
    assert_int_equal(cst_dek_add(&r, 3, &k3, true, 0), CST_OK);
    /* a rotation published late (version 2 after 3) does not take current back */
    assert_int_equal(cst_dek_add(&r, 2, &k2, true, 0), CST_OK);
    assert_int_equal(cst_dek_current(&r), 3);
    assert_memory_equal(cst_dek_get(&r, 1)->k, b1, CST_KEY_LEN);
    assert_null(cst_dek_get(&r, 4));
    cst_key dup = {0};
    assert_int_equal(cst_key_random(&dup), CST_OK);
    assert_int_equal(cst_dek_add(&r, 3, &dup, true, 0), CST_ERR_CONFLICT);
    cst_key_free(&dup);
    uint32_t v = 0;
    assert_non_null(cst_dek_use(&r, &v, 2));
    assert_int_equal(v, 3);
    uint32_t fv = 0;
    assert_int_equal(cst_dek_take_unflushed(&r, &fv), 2);
    assert_int_equal(fv, 3);
    assert_int_equal(cst_dek_take_unflushed(&r, &fv), 0);
    cst_dek_free(&r);
    assert_null(cst_dek_get(&r, 1));
}

static void test_ring_bounded(void **state)
{
    (void)state;
    cst_dek_ring r;
    memset(&r, 0, sizeof(r));
    for (uint32_t v = 1; v <= CST_DEK_VERSIONS_MAX; v++) {
        cst_key k = {0};
        assert_int_equal(cst_key_random(&k), CST_OK);
        assert_int_equal(cst_dek_add(&r, v, &k, true, 0), CST_OK);
    }
    cst_key k = {0};
    assert_int_equal(cst_key_random(&k), CST_OK);
    assert_int_equal(cst_dek_add(&r, CST_DEK_VERSIONS_MAX + 1, &k, true, 0), CST_ERR_CONFLICT);
    cst_key_free(&k);
    assert_int_equal(cst_dek_current(&r), CST_DEK_VERSIONS_MAX);
    cst_dek_free(&r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotation_due_by_count_and_age),
        cmocka_unit_test(test_version_states),
        cmocka_unit_test(test_ring_keeps_old_versions_and_newest_current),
        cmocka_unit_test(test_ring_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
