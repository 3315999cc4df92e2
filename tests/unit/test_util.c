/* test_util.c: UTF-8 and control-character checks, percent-decoding, time, buffers, ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "util/util.h"

#define U(s) (const uint8_t *)(s), sizeof(s) - 1

static void test_utf8(void **state)
{
    assert_true(cst_utf8_valid(U("plain ascii")));
    assert_true(cst_utf8_valid(U("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91")));
    assert_false(cst_utf8_valid(U("\xff")));
    assert_false(cst_utf8_valid(U("\xc0\xaf")));         /* overlong '/' */
    assert_false(cst_utf8_valid(U("\xe0\x80\xaf")));     /* overlong */
    assert_false(cst_utf8_valid(U("\xed\xa0\x80")));     /* surrogate */
    assert_false(cst_utf8_valid(U("\xf4\x90\x80\x80"))); /* > U+10FFFF */
    assert_false(cst_utf8_valid(U("\xc3")));             /* truncated */
    assert_false(cst_utf8_valid(U("\xe2\x82")));
    assert_false(cst_utf8_valid(U("\x80")));
    assert_true(cst_has_control(U("a\x01")));
    assert_true(cst_has_control(U("a\x7f")));
    assert_true(cst_has_control(U("a\n")));
    assert_true(cst_has_control(U("\xc2\x85"))); /* C1 NEL */
    assert_false(cst_has_control(U("\xc2\xa0 ok")));
}

static void test_percent_decode(void **state)
{
    char out[64];
    size_t n;
    assert_int_equal(cst_percent_decode("a%2Fb%20c", 9, out, &n), CST_OK);
    assert_string_equal(out, "a/b c");
    assert_int_equal(cst_percent_decode("%41%61", 6, out, &n), CST_OK);
    assert_string_equal(out, "Aa");
    assert_int_equal(cst_percent_decode("%", 1, out, &n), CST_ERR_INVALID);
    assert_int_equal(cst_percent_decode("%4", 2, out, &n), CST_ERR_INVALID);
    assert_int_equal(cst_percent_decode("%g1", 3, out, &n), CST_ERR_INVALID);
    assert_int_equal(cst_percent_decode("ab%", 3, out, &n), CST_ERR_INVALID);
    assert_int_equal(cst_percent_decode("", 0, out, &n), CST_OK);
    assert_int_equal(n, 0);
}

static void test_time(void **state)
{
    int64_t us;
    char s[32];
    assert_true(cst_time_parse("2026-01-02T03:04:05Z", &us));
    cst_time_format(us, s);
    assert_string_equal(s, "2026-01-02T03:04:05.000000Z");
    assert_true(cst_time_parse("2026-01-02T03:04:05.25Z", &us));
    assert_int_equal(us % 1000000, 250000);
    assert_false(cst_time_parse("2026-01-02", &us));
    assert_false(cst_time_parse("2026-01-02T03:04:05", &us));
    assert_false(cst_time_parse("2026-01-02T03:04:05+01:00", &us));
    assert_false(cst_time_parse("2026-01-02T03:04:05.Z", &us));
    assert_false(cst_time_parse("tomorrow", &us));
}

static void test_buffers_refuse_overrun(void **state)
{
    cst_buf b;
    cst_buf_init(&b, 8);
    assert_int_equal(cst_buf_append(&b, "12345678", 8), CST_OK);
    assert_int_equal(cst_buf_append(&b, "9", 1), CST_ERR_TOO_LARGE);
    assert_int_equal(b.len, 8);
    cst_buf_free(&b);
    uint8_t data[] = {0, 3, 'a', 'b', 'c', 0, 9, 'x'};
    cst_reader r;
    const uint8_t *p;
    size_t n;
    cst_reader_init(&r, data, sizeof(data));
    assert_int_equal(cst_reader_lv16(&r, &p, &n), CST_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "abc", 3);
    assert_int_equal(cst_reader_lv16(&r, &p, &n), CST_ERR_INTEGRITY); /* claims 9, has 1 */
    uint32_t v;
    cst_reader_init(&r, data, 3);
    assert_int_equal(cst_reader_u32be(&r, &v), CST_ERR_INTEGRITY);
    cst_buf_init(&b, 1 << 20);
    char big[70000];
    memset(big, 'x', sizeof(big));
    assert_int_equal(cst_buf_append_lv16(&b, big, sizeof(big)), CST_ERR_INVALID);
    cst_buf_free(&b);
}

static void test_ids_and_fmt(void **state)
{
    char id[32], small[4];
    cst_random_id("tn", id);
    assert_true(cst_id_valid(id, "tn"));
    assert_false(cst_id_valid(id, "us"));
    assert_false(cst_id_valid("tn_../../etc/passwd00", "tn"));
    assert_false(cst_id_valid("tn_0123456789ABCDEF0123", "tn"));
    assert_int_equal(cst_fmt(small, sizeof(small), "%s", "abcd"), CST_ERR_INVALID);
    assert_int_equal(cst_fmt(small, sizeof(small), "%s", "abc"), CST_OK);
    /* the checked copy: fits exactly, or fails and leaves dst as it was, never truncates */
    char dst[4] = "xyz";
    assert_int_equal(cst_copy(dst, sizeof(dst), "abc"), CST_OK);
    assert_string_equal(dst, "abc");
    assert_int_equal(cst_copy(dst, sizeof(dst), "abcd"), CST_ERR_INVALID);
    assert_string_equal(dst, "abc");
    assert_int_equal(cst_copy(dst, sizeof(dst), ""), CST_OK);
    assert_string_equal(dst, "");
    assert_int_equal(cst_copy(dst, 1, "a"), CST_ERR_INVALID);
    assert_string_equal(dst, "");
    assert_int_equal(cst_copy(dst, 0, "a"), CST_ERR_INTERNAL);
    cst_err_clear();
    assert_int_equal(cst_err_status(CST_ERR_AUDIT_UNAVAILABLE), 503);
    assert_string_equal(cst_err_code(CST_ERR_NOT_FOUND), "not_found");
}

/* cst_unhex refuses what is not exactly 2n hex digits, and NULL: callers pass
 * json_string_value() of fields a file may lack (found by fuzz_audit). */
static void test_unhex_refuses_absent_and_malformed(void **state)
{
    uint8_t out[2];
    assert_int_equal(cst_unhex(NULL, out, sizeof(out)), CST_ERR_INVALID);
    assert_int_equal(cst_unhex("", out, sizeof(out)), CST_ERR_INVALID);
    assert_int_equal(cst_unhex("abc", out, sizeof(out)), CST_ERR_INVALID);
    assert_int_equal(cst_unhex("abcdef", out, sizeof(out)), CST_ERR_INVALID);
    assert_int_equal(cst_unhex("abzz", out, sizeof(out)), CST_ERR_INVALID);
    assert_int_equal(cst_unhex("ab0F", out, sizeof(out)), CST_OK);
    assert_int_equal(out[0], 0xab);
    assert_int_equal(out[1], 0x0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_buffers_refuse_overrun),
        cmocka_unit_test(test_ids_and_fmt),
        cmocka_unit_test(test_unhex_refuses_absent_and_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
