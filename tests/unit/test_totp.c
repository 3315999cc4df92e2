/* test_totp.c: IAM-3. RFC 6238 Appendix B vectors through the TOTP code path; with an injected
 * clock, the ±1 step window and replay refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/totp.h"

static const uint8_t rfc_secret[] = "12345678901234567890";

static void test_iam3_rfc6238_appendix_b_sha1(void **state)
{
    static const struct {
        int64_t t;
        const char *code;
    } v[] = {{59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
             {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000LL, "65353130"}};
    for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
        char code[16];
        assert_int_equal(cst_totp_code(rfc_secret, 20, v[i].t / 30, 8, code), CST_OK);
        assert_string_equal(code, v[i].code);
    }
}

static void test_iam3_window_is_one_step_either_side(void **state)
{
    int64_t now = 1111111111, step;
    char code[16];
    for (int d = -1; d <= 1; d++) {
        assert_int_equal(cst_totp_code(rfc_secret, 20, now / 30 + d, 6, code), CST_OK);
        assert_int_equal(cst_totp_verify(rfc_secret, 20, code, now, 0, &step), CST_OK);
        assert_int_equal(step, now / 30 + d);
    }
    for (int d = -3; d <= 3; d += 1) {
        if (d >= -1 && d <= 1)
            continue;
        assert_int_equal(cst_totp_code(rfc_secret, 20, now / 30 + d, 6, code), CST_OK);
        assert_int_equal(cst_totp_verify(rfc_secret, 20, code, now, 0, &step),
                         CST_ERR_UNAUTHENTICATED);
    }
}

static void test_iam3_code_accepted_once(void **state)
{
    int64_t now = 1234567890, step, last = 0;
    char code[16];
    assert_int_equal(cst_totp_code(rfc_secret, 20, now / 30, 6, code), CST_OK);
    assert_int_equal(cst_totp_verify(rfc_secret, 20, code, now, last, &step), CST_OK);
    last = step;
    /* the same code again, even within its window: refused */
    assert_int_equal(cst_totp_verify(rfc_secret, 20, code, now + 5, last, &step),
                     CST_ERR_UNAUTHENTICATED);
    /* an older code still inside the window: refused too (steps only move forward) */
    assert_int_equal(cst_totp_code(rfc_secret, 20, now / 30 - 1, 6, code), CST_OK);
    assert_int_equal(cst_totp_verify(rfc_secret, 20, code, now, last, &step),
                     CST_ERR_UNAUTHENTICATED);
    /* the next step's code works */
    assert_int_equal(cst_totp_code(rfc_secret, 20, now / 30 + 1, 6, code), CST_OK);
    assert_int_equal(cst_totp_verify(rfc_secret, 20, code, now + 30, last, &step), CST_OK);
}

static void test_iam3_malformed_codes(void **state)
{
    int64_t step;
    const char *bad[] = {"", "12345", "1234567", "12a456", " 12345", "123456\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(cst_totp_verify(rfc_secret, 20, bad[i], 59, 0, &step),
                         CST_ERR_UNAUTHENTICATED);
}

static void test_iam3_uri_and_recovery_codes(void **state)
{
    char b32[64], uri[256], code[CST_RECOVERY_CODE_LEN + 1], other[CST_RECOVERY_CODE_LEN + 1];
    assert_int_equal(cst_totp_uri(rfc_secret, 20, "custodia", "acme.alice", b32, sizeof(b32), uri,
                                  sizeof(uri)),
                     CST_OK);
    assert_string_equal(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_string_equal(uri, "otpauth://totp/custodia:acme.alice?secret="
                             "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=custodia&algorithm=SHA1&"
                             "digits=6&period=30");
    assert_int_equal(cst_totp_uri(rfc_secret, 20, "cust odia", "a", b32, sizeof(b32), uri,
                                  sizeof(uri)),
                     CST_ERR_INVALID);
    assert_int_equal(cst_recovery_code(code), CST_OK);
    assert_int_equal(strlen(code), CST_RECOVERY_CODE_LEN);
    assert_int_equal(cst_recovery_code(other), CST_OK);
    assert_string_not_equal(code, other);
    uint8_t h1[32], h2[32];
    cst_recovery_hash(code, h1);
    for (char *c = code; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + 32);
    cst_recovery_hash(code, h2);
    assert_memory_equal(h1, h2, 32); /* case and dashes do not matter */
}

int main(void)
{
    assert_int_equal(cst_crypto_init(), CST_OK);
    assert_int_equal(cst_totp_init(), CST_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam3_rfc6238_appendix_b_sha1),
        cmocka_unit_test(test_iam3_window_is_one_step_either_side),
        cmocka_unit_test(test_iam3_code_accepted_once),
        cmocka_unit_test(test_iam3_malformed_codes),
        cmocka_unit_test(test_iam3_uri_and_recovery_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
