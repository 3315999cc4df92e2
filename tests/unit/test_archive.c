/* test_archive.c: the backup format (backup/archive.h) against an attacker who holds the KEK,
 * so can decrypt and re-seal frames, but not the node's signing key (BAK-2: a restore checks
 * the manifest's signature, not only the frames' authentication). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <cmocka.h>

#include "backup/archive.h"
#include "crypto/crypto.h"
#include "crypto/keys.h"
#include "util/buf.h"
#include "util/util.h"

static cst_key kek;
static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];

static int setup(void **state)
{
    if (cst_crypto_init() != CST_OK || cst_key_alloc(&kek) != CST_OK ||
        cst_key_random(&kek) != CST_OK)
        return -1;
    crypto_sign_keypair(pk, sk);
    return 0;
}

static int teardown(void **state)
{
    cst_key_free(&kek);
    sodium_memzero(sk, sizeof(sk));
    return 0;
}

static cst_err mem_sink(void *ctx, const void *p, size_t n)
{
    return cst_buf_append(ctx, p, n);
}

typedef struct mem_src {
    const uint8_t *p;
    size_t n, pos;
} mem_src;

static cst_err mem_source(void *ctx, void *p, size_t n, size_t *got)
{
    mem_src *m = ctx;
    size_t take = m->n - m->pos < n ? m->n - m->pos : n;
    memcpy(p, m->p + m->pos, take);
    m->pos += take;
    *got = take;
    return CST_OK;
}

/* A small, valid backup in memory: one file, a manifest, signed by sk under kek. */
static void make_backup(cst_buf *out)
{
    cst_buf_init(out, SIZE_MAX);
    json_t *header = json_pack("{s:s,s:s}", "backup_id", "bk_0123456789abcdef0123456789abcdef",
                               "node", "test-node");
    cst_bk_writer *w = NULL;
    assert_int_equal(cst_bk_write_start(&kek, sk, header, mem_sink, out, &w), CST_OK);
    static const char data[] = "the tenant's records";
    assert_int_equal(cst_bk_file_begin(w, "tenants/t1.db", sizeof(data) - 1), CST_OK);
    assert_int_equal(cst_bk_file_data(w, data, sizeof(data) - 1), CST_OK);
    assert_int_equal(cst_bk_file_end(w), CST_OK);
    json_t *manifest = json_pack("{s:[s]}", "tenants", "t1");
    assert_int_equal(cst_bk_finish(w, manifest), CST_OK);
    json_decref(manifest);
    json_decref(header);
    cst_bk_writer_free(w);
}

static cst_err read_backup(const cst_buf *b)
{
    mem_src m = {b->data, b->len, 0};
    cst_err_clear();
    json_t *header = NULL, *manifest = NULL;
    cst_err e = cst_bk_read(mem_source, &m, &kek, NULL, NULL, &header, &manifest);
    json_decref(header);
    json_decref(manifest);
    return e;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

typedef enum { RESEAL_AS_IS, RESEAL_FLIP_SIG, RESEAL_SIGN_WITH_OTHER_KEY } reseal_how;

/* Decrypts the final frame with the frame key derived from the KEK (archive.h: K =
 * HKDF(KEK, "custodia backup v1 " || id || " " || salt), nonce 0^4 || u64be(i), AAD
 * "cst:backup-chunk:v1" || SHA-256(header) || u64be(i) || u8(final)), changes the manifest's
 * signature as asked, and seals the frame again: its authentication still passes. */
static void reseal_final_frame(cst_buf *b, reseal_how how)
{
    uint8_t *p = b->data;
    size_t off = CST_BK_MAGIC_LEN;
    assert_memory_equal(p, CST_BK_MAGIC, CST_BK_MAGIC_LEN);
    uint32_t hl = get_u32(p + off);
    const uint8_t *htext = p + off + 4;
    json_t *header = json_loadb((const char *)htext, hl, 0, NULL);
    assert_non_null(header);
    uint8_t hhash[CST_HASH_LEN];
    cst_sha256(htext, hl, hhash);
    off += 4 + hl + 64;
    uint64_t index = 0;
    size_t frame_off = 0, frame_len = 0;
    while (off < b->len) {
        uint32_t v = get_u32(p + off);
        frame_off = off + 4;
        frame_len = v & 0x7fffffffu;
        off = frame_off + frame_len;
        if (v & 0x80000000u)
            break;
        index++;
    }
    assert_int_equal(off, b->len);
    char info[200];
    snprintf(info, sizeof(info), "custodia backup v1 %s %s",
             json_string_value(json_object_get(header, "backup_id")),
             json_string_value(json_object_get(header, "salt")));
    json_decref(header);
    uint8_t key[CST_KEY_LEN], nonce[CST_NONCE_LEN] = {0}, aad[64];
    assert_int_equal(cst_hkdf_sha256(kek.k, CST_KEY_LEN, info, key, sizeof(key)), CST_OK);
    put_u64(nonce + 4, index);
    static const char ctx[] = "cst:backup-chunk:v1";
    size_t al = sizeof(ctx) - 1;
    memcpy(aad, ctx, al);
    memcpy(aad + al, hhash, CST_HASH_LEN);
    al += CST_HASH_LEN;
    put_u64(aad + al, index);
    al += 8;
    aad[al++] = 1;
    uint8_t *plain = malloc(frame_len);
    assert_int_equal(cst_aead_open(key, nonce, aad, al, p + frame_off, frame_len, plain), CST_OK);
    size_t plen = frame_len - CST_TAG_LEN;
    /* the plaintext ends: 'M' u32be(len) manifest 'S' signature(64) */
    assert_true(plen > 70);
    assert_int_equal(plain[plen - 65], 'S');
    uint8_t *sig = plain + plen - 64;
    if (how == RESEAL_FLIP_SIG) {
        sig[10] ^= 0x01;
    } else if (how == RESEAL_SIGN_WITH_OTHER_KEY) {
        /* a valid Ed25519 signature over the very manifest, by a key that is not the node's */
        const uint8_t *m = NULL;
        size_t mlen = 0;
        for (const uint8_t *q = plain; q < plain + plen - 69; q++) {
            if (*q == 'M' && q + 5 + get_u32(q + 1) == plain + plen - 65) {
                m = q;
                mlen = get_u32(q + 1);
            }
        }
        assert_true(mlen > 0);
        static const char mctx[] = "cst:backup-manifest:v1";
        size_t sl = sizeof(mctx) - 1 + mlen;
        uint8_t *signed_part = malloc(sl);
        memcpy(signed_part, mctx, sizeof(mctx) - 1);
        memcpy(signed_part + sizeof(mctx) - 1, m + 5, mlen);
        uint8_t opk[crypto_sign_PUBLICKEYBYTES], osk[crypto_sign_SECRETKEYBYTES];
        crypto_sign_keypair(opk, osk);
        crypto_sign_detached(sig, NULL, signed_part, sl, osk);
        assert_int_equal(crypto_sign_verify_detached(sig, signed_part, sl, opk), 0);
        sodium_memzero(osk, sizeof(osk));
        free(signed_part);
    }
    assert_int_equal(cst_aead_seal(key, nonce, aad, al, plain, plen, p + frame_off), CST_OK);
    sodium_memzero(key, sizeof(key));
    free(plain);
}

static void test_bak2_resealed_backup_reads(void **state)
{
    /* the re-sealing itself is right: unchanged, the re-sealed backup reads back */
    cst_buf b;
    make_backup(&b);
    assert_int_equal(read_backup(&b), CST_OK);
    reseal_final_frame(&b, RESEAL_AS_IS);
    assert_int_equal(read_backup(&b), CST_OK);
    cst_buf_free(&b);
}

static void test_bak2_changed_manifest_signature_refused(void **state)
{
    cst_buf b;
    make_backup(&b);
    reseal_final_frame(&b, RESEAL_FLIP_SIG);
    assert_int_equal(read_backup(&b), CST_ERR_INTEGRITY);
    assert_non_null(strstr(cst_err_message(CST_ERR_INTEGRITY), "manifest's signature"));
    cst_buf_free(&b);
}

static void test_bak2_manifest_signed_by_another_key_refused(void **state)
{
    cst_buf b;
    make_backup(&b);
    reseal_final_frame(&b, RESEAL_SIGN_WITH_OTHER_KEY);
    assert_int_equal(read_backup(&b), CST_ERR_INTEGRITY);
    assert_non_null(strstr(cst_err_message(CST_ERR_INTEGRITY), "manifest's signature"));
    cst_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bak2_resealed_backup_reads),
        cmocka_unit_test(test_bak2_changed_manifest_signature_refused),
        cmocka_unit_test(test_bak2_manifest_signed_by_another_key_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
