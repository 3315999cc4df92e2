/* test_sign.c: the Ed25519 module (crypto/sign.c): RFC 8032 known answers, and the node
 * signing key's files: saved sealed under the KEK, loaded only with that KEK and its own
 * public key, never over an existing file (RET-4 certificates and BAK-1 backups rely on it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypto/sign.h"
#include "util/util.h"

/* RFC 8032 §7.1, test 1 (the empty message) and test 2 (one byte, 0x72). */
#define SEED1 "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define PK1 "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define SIG1                                                                                       \
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9" \
    "b46bd25bf5f0595bbe24655141438e7a100b"
#define SEED2 "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
#define PK2 "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
#define SIG2                                                                                       \
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1" \
    "1d8c387b2eaeb4302aeeb00d291612bb0c00"

static void secret_of(const char *seed, const char *pk, uint8_t sk[CST_SIGN_SK_LEN])
{
    assert_int_equal(cst_unhex(seed, sk, 32), CST_OK);
    assert_int_equal(cst_unhex(pk, sk + 32, 32), CST_OK);
}

static void test_rfc8032_known_answers(void **state)
{
    static const struct {
        const char *seed, *pk, *sig;
        const char *msg;
        size_t len;
    } v[] = {{SEED1, PK1, SIG1, "", 0}, {SEED2, PK2, SIG2, "\x72", 1}};
    for (size_t i = 0; i < 2; i++) {
        uint8_t sk[CST_SIGN_SK_LEN], pk[CST_SIGN_PK_LEN], sig[CST_SIGN_LEN];
        char hex[2 * CST_SIGN_LEN + 1];
        secret_of(v[i].seed, v[i].pk, sk);
        memcpy(pk, sk + 32, sizeof(pk));
        cst_sign(sk, v[i].msg, v[i].len, sig);
        cst_hex(sig, sizeof(sig), hex);
        assert_string_equal(hex, v[i].sig);
        cst_sign_public_hex(sk, hex);
        assert_string_equal(hex, v[i].pk);
        assert_true(cst_sign_verify(pk, v[i].msg, v[i].len, sig));
        /* any changed byte of the signature, the message or the key fails */
        sig[0] ^= 1;
        assert_false(cst_sign_verify(pk, v[i].msg, v[i].len, sig));
        sig[0] ^= 1;
        assert_false(cst_sign_verify(pk, "x", 1, sig));
        pk[31] ^= 0x40;
        assert_false(cst_sign_verify(pk, v[i].msg, v[i].len, sig));
    }
}

typedef struct files {
    char dir[32], key[64], pub[64];
} files;

static void files_make(files *f)
{
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/cst-sign-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(f->key, sizeof(f->key), "%s/node-signing.key", f->dir);
    (void)snprintf(f->pub, sizeof(f->pub), "%s/node-signing.pub", f->dir);
}

static void files_remove(files *f)
{
    (void)unlink(f->key);
    (void)unlink(f->pub);
    assert_int_equal(rmdir(f->dir), 0);
}

static void test_key_saved_sealed_and_loaded_with_its_kek(void **state)
{
    files f;
    files_make(&f);
    cst_key kek = {0}, other = {0};
    assert_int_equal(cst_key_random(&kek), CST_OK);
    assert_int_equal(cst_key_random(&other), CST_OK);
    uint8_t pk[CST_SIGN_PK_LEN], *sk = NULL, *back = NULL, pk_back[CST_SIGN_PK_LEN];
    char hex[CST_SIGN_PK_HEX], want[CST_SIGN_PK_HEX];
    assert_int_equal(cst_sign_keypair(pk, &sk), CST_OK);
    assert_int_equal(cst_sign_key_save(f.key, f.pub, &kek, sk, hex), CST_OK);
    cst_hex(pk, sizeof(pk), want);
    assert_string_equal(hex, want);
    struct stat st;
    assert_int_equal(stat(f.key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(f.pub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* the public file is the hex and a newline */
    cst_buf text;
    assert_int_equal(cst_file_read(f.pub, 256, &text), CST_OK);
    assert_int_equal(text.len, 65);
    assert_memory_equal(text.data, want, 64);
    assert_int_equal(text.data[64], '\n');
    cst_buf_free(&text);
    /* the secret file does not hold the secret in the clear */
    assert_int_equal(cst_file_read(f.key, 4096, &text), CST_OK);
    assert_null(memmem(text.data, text.len, sk, 32));
    cst_buf_free(&text);

    assert_int_equal(cst_sign_key_load(f.key, f.pub, &kek, &back, pk_back), CST_OK);
    assert_memory_equal(back, sk, CST_SIGN_SK_LEN);
    assert_memory_equal(pk_back, pk, sizeof(pk));
    cst_sign_key_free(back);
    back = NULL;
    assert_int_equal(cst_sign_public_key_load(f.pub, pk_back), CST_OK);
    assert_memory_equal(pk_back, pk, sizeof(pk));
    /* another KEK opens nothing */
    assert_int_equal(cst_sign_key_load(f.key, f.pub, &other, &back, pk_back), CST_ERR_INTEGRITY);
    assert_null(back);
    /* never over an existing file */
    assert_int_not_equal(cst_sign_key_save(f.key, f.pub, &kek, sk, hex), CST_OK);
    cst_sign_key_free(sk);
    cst_key_free(&kek);
    cst_key_free(&other);
    files_remove(&f);
}

static void test_key_and_public_key_must_match(void **state)
{
    files f, g;
    files_make(&f);
    files_make(&g);
    cst_key kek = {0};
    assert_int_equal(cst_key_random(&kek), CST_OK);
    uint8_t pk[CST_SIGN_PK_LEN], *a = NULL, *b = NULL, *back = NULL;
    char hex[CST_SIGN_PK_HEX];
    assert_int_equal(cst_sign_keypair(pk, &a), CST_OK);
    assert_int_equal(cst_sign_keypair(pk, &b), CST_OK);
    assert_int_equal(cst_sign_key_save(f.key, f.pub, &kek, a, hex), CST_OK);
    assert_int_equal(cst_sign_key_save(g.key, g.pub, &kek, b, hex), CST_OK);
    cst_err_clear();
    assert_int_equal(cst_sign_key_load(f.key, g.pub, &kek, &back, pk), CST_ERR_INTEGRITY);
    assert_string_equal(cst_err_message(CST_ERR_INTEGRITY),
                        "node-signing.key and node-signing.pub do not match");
    assert_null(back);
    cst_sign_key_free(a);
    cst_sign_key_free(b);
    cst_key_free(&kek);
    files_remove(&f);
    files_remove(&g);
}

static void test_public_key_file_malformed(void **state)
{
    static const char *const bad[] = {
        "", "\n", PK1 "00\n", "zz5a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "d75a9801\n"};
    files f;
    files_make(&f);
    uint8_t pk[CST_SIGN_PK_LEN];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        (void)unlink(f.pub);
        assert_int_equal(cst_file_create(f.pub, bad[i], strlen(bad[i]), 0644), CST_OK);
        assert_int_equal(cst_sign_public_key_load(f.pub, pk), CST_ERR_INVALID);
        char msg[128];
        (void)snprintf(msg, sizeof(msg), "%s does not hold an Ed25519 public key (64 hex digits)",
                       f.pub);
        assert_string_equal(cst_err_message(CST_ERR_INVALID), msg);
    }
    /* a CRLF line end is accepted */
    (void)unlink(f.pub);
    assert_int_equal(cst_file_create(f.pub, PK1 "\r\n", 66, 0644), CST_OK);
    assert_int_equal(cst_sign_public_key_load(f.pub, pk), CST_OK);
    files_remove(&f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rfc8032_known_answers),
    cmocka_unit_test(test_key_saved_sealed_and_loaded_with_its_kek),
    cmocka_unit_test(test_key_and_public_key_must_match),
    cmocka_unit_test(test_public_key_file_malformed),
};

int main(void)
{
    if (cst_crypto_init() != CST_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
