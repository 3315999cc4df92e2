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
#include "util/json.h"
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

/* A valid backup in memory of one file holding data: the file, a manifest, signed by sk under
 * kek. */
static void make_backup_of(cst_buf *out, const void *data, size_t n)
{
    cst_buf_init(out, SIZE_MAX);
    json_t *header = json_pack("{s:s,s:s}", "backup_id", "bk_0123456789abcdef0123456789abcdef",
                               "node", "test-node");
    cst_bk_writer *w = NULL;
    assert_int_equal(cst_bk_write_start(&kek, sk, header, mem_sink, out, &w), CST_OK);
    assert_int_equal(cst_bk_file_begin(w, "tenants/t1.db", n), CST_OK);
    assert_int_equal(cst_bk_file_data(w, data, n), CST_OK);
    assert_int_equal(cst_bk_file_end(w), CST_OK);
    json_t *manifest = json_pack("{s:[s]}", "tenants", "t1");
    assert_int_equal(cst_bk_finish(w, manifest), CST_OK);
    json_decref(manifest);
    json_decref(header);
    cst_bk_writer_free(w);
}

/* A small one. */
static void make_backup(cst_buf *out)
{
    static const char data[] = "the tenant's records";
    make_backup_of(out, data, sizeof(data) - 1);
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

/* ---- the reader's refusals (BAK-1, BAK-2): each damage is refused with its own message ---- */

/* A backup of three frames: one file of 2.5 MiB, so two full frames and a final one. */
static void make_big_backup(cst_buf *out)
{
    size_t n = 5 * CST_BK_CHUNK / 2;
    uint8_t *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 31);
    make_backup_of(out, data, n);
    free(data);
}

/* Where a backup's parts start: [0] the header length, [1] the header text, [2] its signature,
 * [3 + i] frame i, and the end of the file after the last frame. Returns the number of frames. */
static size_t layout(const cst_buf *b, size_t *at, size_t max)
{
    const uint8_t *p = b->data;
    at[0] = CST_BK_MAGIC_LEN;
    at[1] = at[0] + 4;
    at[2] = at[1] + get_u32(p + at[0]);
    size_t off = at[2] + 64, frames = 0;
    while (off < b->len) {
        assert_true(3 + frames < max);
        at[3 + frames++] = off;
        off += 4 + (get_u32(p + off) & 0x7fffffffu);
    }
    assert_int_equal(off, b->len);
    at[3 + frames] = off;
    return frames;
}

/* A backup, small or big (three frames), and where its parts start. */
static size_t backup_laid_out(cst_buf *b, bool big, size_t at[16])
{
    if (big)
        make_big_backup(b);
    else
        make_backup(b);
    return layout(b, at, 16);
}

static const char frame0_failed[] = "frame 0 failed authentication: the backup was changed, "
                                    "reordered or cut, or belongs to another backup";
static const char frame1_failed[] = "frame 1 failed authentication: the backup was changed, "
                                    "reordered or cut, or belongs to another backup";

/* Reads the backup and asserts the refusal: its code and its message, exactly. */
static void refused(const cst_buf *b, cst_err want, const char *message)
{
    cst_err e = read_backup(b);
    if (e != want || strcmp(cst_err_message(e), message) != 0)
        fail_msg("got %d \"%s\", want %d \"%s\"", e, cst_err_message(e), want, message);
}

static void refused_prefix(const cst_buf *b, size_t len, cst_err want, const char *message)
{
    cst_buf cut = {.data = b->data, .len = len};
    refused(&cut, want, message);
}

static void test_bak1_cut_at_every_part_boundary_refused(void **state)
{
    cst_buf b;
    size_t at[16];
    size_t frames = backup_laid_out(&b, true, at);
    assert_int_equal(read_backup(&b), CST_OK);
    assert_int_equal(frames, 3);
    refused_prefix(&b, 0, CST_ERR_INVALID, "not a custodia backup (bad magic)");
    refused_prefix(&b, CST_BK_MAGIC_LEN, CST_ERR_INTEGRITY, "the backup is truncated");
    refused_prefix(&b, at[1], CST_ERR_INTEGRITY, "the backup is truncated");
    refused_prefix(&b, at[2], CST_ERR_INTEGRITY, "the backup is truncated");
    char want[160];
    for (size_t i = 0; i < frames; i++) {
        /* at the start of frame i: the frames before it were whole, none was final */
        (void)snprintf(want, sizeof(want),
                       "the backup is truncated: it ends after frame %zu without its final frame",
                       i);
        refused_prefix(&b, at[3 + i], CST_ERR_INTEGRITY, want);
        /* inside frame i's length, and inside its sealed bytes */
        refused_prefix(&b, at[3 + i] + 2, CST_ERR_INTEGRITY, "the backup is truncated");
        refused_prefix(&b, at[3 + i] + 4 + CST_TAG_LEN, CST_ERR_INTEGRITY,
                       "the backup is truncated");
        refused_prefix(&b, at[4 + i] - 1, CST_ERR_INTEGRITY, "the backup is truncated");
    }
    cst_buf_free(&b);
}

/* Every prefix of a small backup is refused, never read as a whole one. */
static void test_bak1_every_prefix_refused(void **state)
{
    cst_buf b;
    make_backup(&b);
    for (size_t len = 0; len < b.len; len++) {
        cst_buf cut = {.data = b.data, .len = len};
        cst_err e = read_backup(&cut);
        if (e != (len == 0 ? CST_ERR_INVALID : CST_ERR_INTEGRITY))
            fail_msg("a backup cut to %zu of %zu bytes: %d %s", len, b.len, e, cst_err_message(e));
    }
    cst_buf_free(&b);
}

static void test_bak1_wrong_magic_refused(void **state)
{
    cst_buf b;
    make_backup(&b);
    b.data[0] ^= 0x20;
    refused(&b, CST_ERR_INVALID, "not a custodia backup (bad magic)");
    b.data[0] ^= 0x20;
    b.data[CST_BK_MAGIC_LEN - 1] = '\r';
    refused(&b, CST_ERR_INVALID, "not a custodia backup (bad magic)");
    cst_buf_free(&b);
}

/* Replaces the header with text signed by sk (the signature is right, the frames keep
 * authenticating against the old header's hash). */
static void resign_header(cst_buf *b, const char *text)
{
    size_t at[16];
    layout(b, at, 16);
    cst_buf out, m;
    cst_buf_init(&out, SIZE_MAX);
    cst_buf_init(&m, SIZE_MAX);
    static const char hctx[] = "cst:backup-header:v1";
    uint8_t len[4], sig[crypto_sign_BYTES];
    size_t hl = strlen(text);
    len[0] = (uint8_t)(hl >> 24), len[1] = (uint8_t)(hl >> 16), len[2] = (uint8_t)(hl >> 8);
    len[3] = (uint8_t)hl;
    assert_int_equal(cst_buf_append(&m, hctx, sizeof(hctx) - 1), CST_OK);
    assert_int_equal(cst_buf_append(&m, CST_BK_MAGIC, CST_BK_MAGIC_LEN), CST_OK);
    assert_int_equal(cst_buf_append(&m, text, hl), CST_OK);
    crypto_sign_detached(sig, NULL, m.data, m.len, sk);
    assert_int_equal(cst_buf_append(&out, CST_BK_MAGIC, CST_BK_MAGIC_LEN), CST_OK);
    assert_int_equal(cst_buf_append(&out, len, 4), CST_OK);
    assert_int_equal(cst_buf_append(&out, text, hl), CST_OK);
    assert_int_equal(cst_buf_append(&out, sig, sizeof(sig)), CST_OK);
    assert_int_equal(cst_buf_append(&out, b->data + at[2] + 64, b->len - at[2] - 64), CST_OK);
    cst_buf_free(&m);
    cst_buf_free(b);
    *b = out;
}

/* The header of b as an object, to change and re-sign. */
static json_t *header_of(const cst_buf *b)
{
    json_t *h = json_loadb((const char *)b->data + CST_BK_MAGIC_LEN + 4,
                           get_u32(b->data + CST_BK_MAGIC_LEN), 0, NULL);
    assert_non_null(h);
    return h;
}

static void resign_changed_header(cst_buf *b, const char *key, json_t *value)
{
    json_t *h = header_of(b);
    json_object_set_new(h, key, value);
    char *text = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    resign_header(b, text);
    cst_json_free_text(text);
    json_decref(h);
}

static void test_bak1_unknown_format_refused(void **state)
{
    cst_buf b;
    make_backup(&b);
    resign_changed_header(&b, "format", json_integer(2));
    refused(&b, CST_ERR_INVALID, "unknown backup format");
    resign_changed_header(&b, "format", json_string("1"));
    refused(&b, CST_ERR_INVALID, "unknown backup format");
    cst_buf_free(&b);
}

static void test_bak1_header_not_an_object_refused(void **state)
{
    cst_buf b;
    make_backup(&b);
    resign_header(&b, "[1,2,3]");
    refused(&b, CST_ERR_INTEGRITY, "backup header is not a JSON object");
    resign_header(&b, "{\"format\":1,\"format\":1}");
    refused(&b, CST_ERR_INTEGRITY, "backup header is not a JSON object");
    cst_buf_free(&b);
}

/* A header signed by the key it names, but not the one the frames were sealed against. */
static void test_bak2_resigned_header_fails_frames(void **state)
{
    cst_buf b;
    make_backup(&b);
    resign_changed_header(&b, "node_id", json_string("nd_other"));
    refused(&b, CST_ERR_INTEGRITY, frame0_failed);
    cst_buf_free(&b);
}

static void test_bak1_oversize_and_zero_lengths_refused(void **state)
{
    cst_buf b;
    size_t at[16];
    backup_laid_out(&b, false, at);
    uint8_t *hl = b.data + CST_BK_MAGIC_LEN, saved[4];
    memcpy(saved, hl, 4);
    static const uint8_t header_lengths[][4] = {
        {0, 0, 0, 0}, {0, 0x10, 0, 1}, {0xff, 0xff, 0xff, 0xff}};
    for (size_t i = 0; i < 3; i++) {
        memcpy(hl, header_lengths[i], 4);
        refused(&b, CST_ERR_INTEGRITY, "backup header is malformed");
    }
    memcpy(hl, saved, 4);
    /* frame lengths: shorter than a tag, one byte over a chunk and its tag, all ones */
    uint8_t *fl = b.data + at[3];
    memcpy(saved, fl, 4);
    static const struct {
        uint32_t v;
        const char *message;
    } frame_lengths[] = {
        {0x80000000u, "frame 0 is malformed (length 0)"},
        {0x80000000u | (CST_TAG_LEN - 1), "frame 0 is malformed (length 15)"},
        {0x80000000u | (CST_BK_CHUNK + CST_TAG_LEN + 1), "frame 0 is malformed (length 1048593)"},
        {0xffffffffu, "frame 0 is malformed (length 2147483647)"},
    };
    for (size_t i = 0; i < sizeof(frame_lengths) / sizeof(frame_lengths[0]); i++) {
        uint32_t v = frame_lengths[i].v;
        fl[0] = (uint8_t)(v >> 24), fl[1] = (uint8_t)(v >> 16), fl[2] = (uint8_t)(v >> 8);
        fl[3] = (uint8_t)v;
        refused(&b, CST_ERR_INTEGRITY, frame_lengths[i].message);
    }
    /* a length that fits but is not the frame's: one byte more than written */
    memcpy(fl, saved, 4);
    fl[3]++;
    refused(&b, CST_ERR_INTEGRITY, "the backup is truncated");
    cst_buf_free(&b);
}

/* One flipped bit anywhere: in the header text, its signature, a frame's final flag, a
 * frame's sealed bytes or its tag. */
static void test_bak1_flipped_bytes_refused(void **state)
{
    cst_buf b;
    size_t at[16];
    backup_laid_out(&b, false, at);
    struct {
        size_t off;
        uint8_t bit;
        cst_err e;
        const char *message;
    } flips[] = {
        {at[1] + 2, 0x01, CST_ERR_INTEGRITY, "the backup header's signature does not verify"},
        {at[2] + 5, 0x10, CST_ERR_INTEGRITY, "the backup header's signature does not verify"},
        {at[2] + 63, 0x80, CST_ERR_INTEGRITY, "the backup header's signature does not verify"},
        {at[3], 0x80, CST_ERR_INTEGRITY, frame0_failed}, /* the final flag */
        {at[3] + 4, 0x01, CST_ERR_INTEGRITY, frame0_failed},
        {at[3] + 40, 0x04, CST_ERR_INTEGRITY, frame0_failed},
        {at[4] - 1, 0x01, CST_ERR_INTEGRITY, frame0_failed}, /* the tag */
    };
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        b.data[flips[i].off] ^= flips[i].bit;
        refused(&b, flips[i].e, flips[i].message);
        b.data[flips[i].off] ^= flips[i].bit;
    }
    assert_int_equal(read_backup(&b), CST_OK);
    cst_buf_free(&b);
}

/* Frames moved: swapped, one duplicated, one left out, a frame of another backup. */
static void test_bak1_reordered_duplicated_frames_refused(void **state)
{
    cst_buf b, o;
    size_t at[16];
    assert_int_equal(backup_laid_out(&b, true, at), 3);
    size_t f0 = at[3], f1 = at[4], f2 = at[5], end = at[6];
    assert_int_equal(f1 - f0, f2 - f1); /* two full frames of equal size */
    cst_buf_init(&o, SIZE_MAX);
    /* swapped */
    assert_int_equal(cst_buf_append(&o, b.data, f0), CST_OK);
    assert_int_equal(cst_buf_append(&o, b.data + f1, f2 - f1), CST_OK);
    assert_int_equal(cst_buf_append(&o, b.data + f0, f1 - f0), CST_OK);
    assert_int_equal(cst_buf_append(&o, b.data + f2, end - f2), CST_OK);
    refused(&o, CST_ERR_INTEGRITY, frame0_failed);
    /* frame 0 twice */
    o.len = 0;
    assert_int_equal(cst_buf_append(&o, b.data, f1), CST_OK);
    assert_int_equal(cst_buf_append(&o, b.data + f0, end - f0), CST_OK);
    refused(&o, CST_ERR_INTEGRITY, frame1_failed);
    /* frame 1 left out */
    o.len = 0;
    assert_int_equal(cst_buf_append(&o, b.data, f1), CST_OK);
    assert_int_equal(cst_buf_append(&o, b.data + f2, end - f2), CST_OK);
    refused(&o, CST_ERR_INTEGRITY, frame1_failed);
    /* frame 0 of another backup with the same id (another salt, so another frame key) */
    cst_buf other;
    make_big_backup(&other);
    o.len = 0;
    assert_int_equal(cst_buf_append(&o, b.data, f0), CST_OK);
    assert_int_equal(cst_buf_append(&o, other.data + f0, f1 - f0), CST_OK);
    assert_int_equal(cst_buf_append(&o, b.data + f1, end - f1), CST_OK);
    refused(&o, CST_ERR_INTEGRITY, frame0_failed);
    cst_buf_free(&other);
    cst_buf_free(&o);
    cst_buf_free(&b);
}

static void test_bak1_data_after_final_frame_refused(void **state)
{
    cst_buf b;
    size_t at[16];
    backup_laid_out(&b, false, at);
    assert_int_equal(cst_buf_append(&b, "x", 1), CST_OK);
    refused(&b, CST_ERR_INTEGRITY, "the backup has data after its final frame");
    /* a whole second copy of the final frame */
    b.len--;
    uint8_t *final = malloc(at[4] - at[3]);
    assert_non_null(final);
    memcpy(final, b.data + at[3], at[4] - at[3]);
    assert_int_equal(cst_buf_append(&b, final, at[4] - at[3]), CST_OK);
    free(final);
    refused(&b, CST_ERR_INTEGRITY, "the backup has data after its final frame");
    cst_buf_free(&b);
}

static void test_bak2_other_keys_refused(void **state)
{
    cst_buf b;
    make_backup(&b);
    /* another master key: named by its id, the frames are not even tried */
    cst_key other;
    assert_int_equal(cst_key_alloc(&other), CST_OK);
    assert_int_equal(cst_key_random(&other), CST_OK);
    char want[160], have[CST_KEK_ID_LEN + 1], given[CST_KEK_ID_LEN + 1];
    cst_kek_id(&kek, have);
    cst_kek_id(&other, given);
    (void)snprintf(want, sizeof(want),
                   "the backup was made under master key id %s; the key given has id %s", have,
                   given);
    mem_src m = {b.data, b.len, 0};
    assert_int_equal(cst_bk_read(mem_source, &m, &other, NULL, NULL, NULL, NULL), CST_ERR_INVALID);
    assert_string_equal(cst_err_message(CST_ERR_INVALID), want);
    cst_key_free(&other);
    /* pinned to another node's public key */
    uint8_t opk[crypto_sign_PUBLICKEYBYTES], osk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(opk, osk);
    m.pos = 0;
    assert_int_equal(cst_bk_read(mem_source, &m, &kek, opk, NULL, NULL, NULL), CST_ERR_INTEGRITY);
    assert_string_equal(cst_err_message(CST_ERR_INTEGRITY),
                        "the backup was signed by another node's key (node unknown)");
    /* pinned to the right one, it reads */
    m.pos = 0;
    assert_int_equal(cst_bk_read(mem_source, &m, &kek, pk, NULL, NULL, NULL), CST_OK);
    sodium_memzero(osk, sizeof(osk));
    cst_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bak2_resealed_backup_reads),
        cmocka_unit_test(test_bak2_changed_manifest_signature_refused),
        cmocka_unit_test(test_bak2_manifest_signed_by_another_key_refused),
        cmocka_unit_test(test_bak1_cut_at_every_part_boundary_refused),
        cmocka_unit_test(test_bak1_every_prefix_refused),
        cmocka_unit_test(test_bak1_wrong_magic_refused),
        cmocka_unit_test(test_bak1_unknown_format_refused),
        cmocka_unit_test(test_bak1_header_not_an_object_refused),
        cmocka_unit_test(test_bak2_resigned_header_fails_frames),
        cmocka_unit_test(test_bak1_oversize_and_zero_lengths_refused),
        cmocka_unit_test(test_bak1_flipped_bytes_refused),
        cmocka_unit_test(test_bak1_reordered_duplicated_frames_refused),
        cmocka_unit_test(test_bak1_data_after_final_frame_refused),
        cmocka_unit_test(test_bak2_other_keys_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
