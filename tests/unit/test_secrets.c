/* test_secrets.c: password rules (IAM-2, basic), Argon2id hashing, bearer token format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/secrets.h"
#include "util/util.h"

static void test_iam2_password_rules(void **state)
{
    assert_int_equal(cst_password_check("Sturdy-Vault-Passphrase-2026", "alice", "acme"), CST_OK);
    assert_int_equal(cst_password_check("short-1", NULL, NULL), CST_ERR_INVALID);
    assert_int_equal(cst_password_check("abcdefghijklmnop", NULL, NULL), CST_ERR_INVALID);
    assert_int_equal(cst_password_check("1234567890123456", NULL, NULL), CST_ERR_INVALID);
    assert_int_equal(cst_password_check("xx-ALICE-rules-2026", "alice", NULL), CST_ERR_INVALID);
    assert_int_equal(cst_password_check("we-love-Acme-2026-x", "bob", "acme"), CST_ERR_INVALID);
    assert_int_equal(cst_password_check("tab\tinside-password-1", NULL, NULL), CST_ERR_INVALID);
    /* the 128-character boundary, with a password that is not guessable (a run of one
     * letter would now also fail the strength rule) */
    char longpw[200];
    static const char alnum[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    unsigned x = 12345;
    for (int i = 0; i < 129; i++) {
        x = x * 1103515245u + 12345u;
        longpw[i] = alnum[(x >> 16) % (sizeof(alnum) - 1)];
    }
    longpw[0] = '1';
    longpw[129] = '\0';
    assert_int_equal(cst_password_check(longpw, NULL, NULL), CST_ERR_INVALID);
    longpw[128] = '\0';
    assert_int_equal(cst_password_check(longpw, NULL, NULL), CST_OK);
}

/* IAM-2: zxcvbn's estimate refuses guessable passwords that pass the length, class and list
 * rules, and the refusal says why; the passphrases the suite and README use still pass. */
static void test_iam2_password_strength_zxcvbn(void **state)
{
    static const char *const strong[] = {
        "Sturdy-Vault-Passphrase-2026", "operator-passphrase-2026",
        "sturdy-vault-passphrase-7",    "Another-Strong-Phrase-77",
        "vault-load-passphrase-2026",   "correct-horse-battery-staple-9"};
    for (size_t i = 0; i < sizeof(strong) / sizeof(*strong); i++)
        assert_int_equal(cst_password_check(strong[i], "alice", "acme"), CST_OK);
    static const struct {
        const char *pw, *why;
    } weak[] = {
        {"passwordpassword1", "repeated"},     /* a dictionary word twice */
        {"qwertyuiop1234", "dictionary"},      /* the walk is in zxcvbn's word list */
        {"asdfghjkl;1234", "keyboard walk"},   /* a walk not in the list */
        {"Summer2024!Summer2024", "date"},     /* season and year (a year counts as a date) */
        {"SummerSummer2024!", "repeated"},     /* a repeated word */
        {"01021990abcdefgh", "date"},          /* a date and a sequence */
        {"19900102password", "date"},          /* a date and a word */
        {"Welcome2024Welcome", "dictionary"},  /* words around a year */
        {"P@ssw0rdP@ssw0rd1", "substitutions"} /* leet */
    };
    for (size_t i = 0; i < sizeof(weak) / sizeof(*weak); i++) {
        cst_err_clear();
        assert_int_equal(cst_password_check(weak[i].pw, NULL, NULL), CST_ERR_INVALID);
        const char *msg = cst_err_message(CST_ERR_INVALID);
        if (!strstr(msg, "too easy to guess") || !strstr(msg, weak[i].why))
            fail_msg("%s: %s", weak[i].pw, msg);
    }
    /* the username and tenant name count as known words, look-alikes included */
    assert_int_equal(cst_password_strength("Zephyrine-Quokka-2019", NULL, NULL), CST_OK);
    assert_int_equal(cst_password_strength("Zephyrine-Quokka-2019", "zephyrine", "quokka"),
                     CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "username or tenant name"));
}

static void test_iam2_common_password_list(void **state)
{
    assert_true(cst_password_common_count() >= 10000);
    assert_true(cst_password_is_common("password"));
    assert_true(cst_password_is_common("PassWord"));
    assert_true(cst_password_is_common("qwerty"));
    assert_false(cst_password_is_common("Sturdy-Vault-Passphrase-2026"));
    /* a common password long enough for the other rules is still refused, by its own rule */
    const char *longcommon = NULL;
    static const char *candidates[] = {"1q2w3e4r5t6y7u8i", "qwertyuiop123456", "1qaz2wsx3edc4rfv",
                                       "password12345678", "abcdefghijk12345"};
    for (size_t i = 0; i < sizeof(candidates) / sizeof(*candidates) && !longcommon; i++)
        if (cst_password_is_common(candidates[i]))
            longcommon = candidates[i];
    assert_non_null(longcommon);
    assert_int_equal(cst_password_check(longcommon, NULL, NULL), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "most common passwords"));
}

static void test_iam2_history_of_four(void **state)
{
    char hist[CST_PW_HISTORY_JSON] = "[]", next[CST_PW_HISTORY_JSON], hash[CST_PWHASH_LEN];
    const char *pws[] = {"First-pass-phrase-1", "Second-pass-phrase-2", "Third-pass-phrase-3",
                         "Fourth-pass-phrase-4", "Fifth-pass-phrase-5"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(cst_password_history_check(pws[i], hist), CST_OK);
        assert_int_equal(cst_password_hash(pws[i], hash), CST_OK);
        assert_int_equal(cst_password_history_push(hist, hash, next, sizeof(next)), CST_OK);
        strcpy(hist, next);
    }
    /* the last four are refused; the first has dropped out */
    for (int i = 1; i < 5; i++)
        assert_int_equal(cst_password_history_check(pws[i], hist), CST_ERR_INVALID);
    assert_int_equal(cst_password_history_check(pws[0], hist), CST_OK);
}

static void test_argon2id_hash_and_verify(void **state)
{
    char hash[CST_PWHASH_LEN], gen[32];
    assert_int_equal(cst_password_generate(gen), CST_OK);
    assert_int_equal(cst_password_check(gen, NULL, NULL), CST_OK);
    assert_int_equal(cst_password_hash(gen, hash), CST_OK);
    assert_non_null(strstr(hash, "$argon2id$"));
    assert_non_null(strstr(hash, "m=65536,t=3"));
    assert_true(cst_password_verify(gen, hash));
    gen[0] ^= 1;
    assert_false(cst_password_verify(gen, hash));
    assert_false(cst_password_verify(gen, NULL));
}

static void test_token_format(void **state)
{
    char tok[CST_TOKEN_LEN + 1], id[CST_TOKEN_ID_LEN], id2[CST_TOKEN_ID_LEN];
    uint8_t h[CST_HASH_LEN], h2[CST_HASH_LEN];
    assert_int_equal(cst_token_generate(tok, id, h), CST_OK);
    assert_int_equal(strlen(tok), CST_TOKEN_LEN);
    assert_int_equal(cst_token_parse(tok, id2, h2), CST_OK);
    assert_string_equal(id, id2);
    assert_true(cst_hash_equal(h, h2));
    char bad[CST_TOKEN_LEN + 2];
    strcpy(bad, tok);
    bad[30] = bad[30] == 'a' ? 'b' : 'a';
    assert_int_equal(cst_token_parse(bad, id2, h2), CST_OK);
    assert_false(cst_hash_equal(h, h2));
    bad[30] = '!';
    assert_int_equal(cst_token_parse(bad, id2, h2), CST_ERR_UNAUTHENTICATED);
    strcpy(bad, tok);
    bad[10] = 'z';
    assert_int_equal(cst_token_parse(bad, id2, h2), CST_ERR_UNAUTHENTICATED);
    assert_int_equal(cst_token_parse("", id2, h2), CST_ERR_UNAUTHENTICATED);
    strcpy(bad, tok);
    strcat(bad, "A");
    assert_int_equal(cst_token_parse(bad, id2, h2), CST_ERR_UNAUTHENTICATED);
    bad[CST_TOKEN_LEN - 1] = '\0';
    assert_int_equal(cst_token_parse(bad, id2, h2), CST_ERR_UNAUTHENTICATED);
}

int main(void)
{
    assert_int_equal(cst_crypto_init(), CST_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam2_password_rules),
        cmocka_unit_test(test_iam2_password_strength_zxcvbn),
        cmocka_unit_test(test_iam2_common_password_list),
        cmocka_unit_test(test_iam2_history_of_four),
        cmocka_unit_test(test_argon2id_hash_and_verify),
        cmocka_unit_test(test_token_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
