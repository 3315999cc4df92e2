/* test_validate.c: the one validation of buckets and records (RET-1, POR-1) and the retention
 * cutoff at its extremes (RET-1: no overflow, whatever a bucket's retention). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/bucket.h"
#include "core/record.h"
#include "lifecycle/lifecycle.h"

#define NOW (1764547200LL * 1000000) /* 2025-12-01 */

static void test_ret1_cutoff_saturates(void **state)
{
    (void)state;
    /* no retention, or one too long to represent: nothing expires */
    assert_true(cst_retention_cutoff(NOW, 0) == INT64_MIN);
    assert_true(cst_retention_cutoff(NOW, -1) == INT64_MIN);
    assert_true(cst_retention_cutoff(NOW, INT64_MAX) == INT64_MIN);
    assert_true(cst_retention_cutoff(NOW, INT64_MAX / 1000000 + 1) == INT64_MIN);
    assert_true(cst_retention_cutoff(INT64_MIN + 5, 1) == INT64_MIN);
    /* ordinary values are exact */
    assert_true(cst_retention_cutoff(NOW, 1) == NOW - 1000000);
    assert_true(cst_retention_cutoff(NOW, CST_RETENTION_MAX_SECONDS) ==
                NOW - CST_RETENTION_MAX_SECONDS * 1000000);
    /* the longest allowed retention keeps a record of 1970: its cutoff lies before it */
    assert_true(cst_retention_cutoff(NOW, CST_RETENTION_MAX_SECONDS) < 0);
    /* a cutoff is never later than now (the wrap-around that swept live records) */
    int64_t rs[] = {1, 86400, CST_RETENTION_MAX_SECONDS, INT64_MAX / 1000000, INT64_MAX};
    for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++)
        assert_true(cst_retention_cutoff(NOW, rs[i]) < NOW);
}

static void test_ret1_bucket_validation(void **state)
{
    (void)state;
    cst_bucket_row b = {.name = "docs", .cls = "standard", .retention_seconds = 0};
    assert_int_equal(cst_bucket_validate(&b), CST_OK);
    b.retention_seconds = CST_RETENTION_MAX_SECONDS;
    assert_int_equal(cst_bucket_validate(&b), CST_OK);
    b.retention_seconds = CST_RETENTION_MAX_SECONDS + 1;
    assert_int_equal(cst_bucket_validate(&b), CST_ERR_INVALID);
    b.retention_seconds = INT64_MAX;
    assert_int_equal(cst_bucket_validate(&b), CST_ERR_INVALID);
    b.retention_seconds = -1;
    assert_int_equal(cst_bucket_validate(&b), CST_ERR_INVALID);
    b.retention_seconds = 60;
    strcpy(b.cls, "gold");
    assert_int_equal(cst_bucket_validate(&b), CST_ERR_INVALID);
    strcpy(b.cls, "billing");
    assert_int_equal(cst_bucket_validate(&b), CST_OK);
    strcpy(b.name, "Docs");
    assert_int_equal(cst_bucket_validate(&b), CST_ERR_INVALID);
    strcpy(b.name, "");
    assert_int_equal(cst_bucket_validate(&b), CST_ERR_INVALID);
    cst_err_clear();
}

static void test_ret1_record_validation(void **state)
{
    (void)state;
    const int64_t skew = CST_CLOCK_SKEW_US;
    assert_int_equal(cst_record_validate("k", 1, "text/plain", 10, 10, 0, 0, NOW), CST_OK);
    assert_int_equal(cst_record_validate("k", 1, "text/plain", 0, 10, NOW - 5, NOW, NOW), CST_OK);
    /* a small clock skew is tolerated, the future is not */
    assert_int_equal(cst_record_validate("k", 1, "text/plain", 0, 10, NOW, NOW + skew, NOW),
                     CST_OK);
    assert_int_equal(cst_record_validate("k", 1, "text/plain", 0, 10, NOW, NOW + skew + 1, NOW),
                     CST_ERR_INVALID);
    assert_int_equal(
        cst_record_validate("k", 1, "text/plain", 0, 10, NOW, 253402300799LL * 1000000, NOW),
        CST_ERR_INVALID); /* 9999-12-31 */
    assert_int_equal(cst_record_validate("k", 1, "text/plain", 0, 10, INT64_MAX, INT64_MAX, NOW),
                     CST_ERR_INVALID);
    /* created after updated; before 1970 */
    assert_int_equal(cst_record_validate("k", 1, "text/plain", 0, 10, NOW, NOW - 1, NOW),
                     CST_ERR_INVALID);
    assert_int_equal(cst_record_validate("k", 1, "text/plain", 0, 10, -5, NOW, NOW),
                     CST_ERR_INVALID);
    /* key, content type and size: the record API's own rules */
    assert_int_equal(cst_record_validate("", 0, "text/plain", 0, 10, 0, 0, NOW), CST_ERR_INVALID);
    assert_int_equal(cst_record_validate("a\nb", 3, "text/plain", 0, 10, 0, 0, NOW),
                     CST_ERR_INVALID);
    assert_int_equal(cst_record_validate("k", 1, "", 0, 10, 0, 0, NOW), CST_ERR_INVALID);
    assert_int_equal(cst_record_validate("k", 1, "text/\x01", 0, 10, 0, 0, NOW), CST_ERR_INVALID);
    assert_int_equal(cst_record_validate("k", 1, "text/plain", 11, 10, 0, 0, NOW),
                     CST_ERR_TOO_LARGE);
    cst_err_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ret1_cutoff_saturates),
        cmocka_unit_test(test_ret1_bucket_validation),
        cmocka_unit_test(test_ret1_record_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
