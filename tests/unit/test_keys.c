/* test_keys.c: known-answer tests for the crypto adapter (published vectors) and for
 * custodia's on-disk formats (pinned), and the AAD bindings of ENC-1 / ISO-1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypto/keys.h"
#include "util/util.h"

/* Pinned on-disk values (format v1). */
#define PINNED_RECORD "01000102030405060708090a0b2f67ba77aa1a344661fd7b6d5605001d1b59e34514"
#define PINNED_BIDX "a9a6a6e129df136c3c4beb7e35f27a50088b848fc88b74095414cf490e18b730"

static void unhex(const char *h, uint8_t *out, size_t n)
{
    assert_int_equal(cst_unhex(h, out, n), CST_OK);
}

static void assert_hex(const uint8_t *p, size_t n, const char *want)
{
    char *got = malloc(2 * n + 1);
    cst_hex(p, n, got);
    assert_string_equal(got, want);
    free(got);
}

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16 (AES-256). */
static void test_aes256gcm_published_vector(void **state)
{
    uint8_t k[32], iv[12], aad[20], pt[60], out[76], back[60];
    unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", k, 32);
    unhex("cafebabefacedbaddecaf888", iv, 12);
    unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, 20);
    unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e"
          "2449a6b525b16aedf5aa0de657ba637b39",
          pt, 60);
    assert_int_equal(cst_aead_seal(k, iv, aad, 20, pt, 60, out), CST_OK);
    assert_hex(out, 76,
               "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7"
               "b08b1056828838c5f61e6393ba7a0abcc9f662"
               "76fc6ece0f4e1768cddf8853bb2d551b");
    assert_int_equal(cst_aead_open(k, iv, aad, 20, out, 76, back), CST_OK);
    assert_memory_equal(back, pt, 60);
    out[3] ^= 1;
    assert_int_equal(cst_aead_open(k, iv, aad, 20, out, 76, back), CST_ERR_INTEGRITY);
}

/* RFC 4231 test case 2 and RFC 5869 test case 3. */
static void test_hmac_and_hkdf_published_vectors(void **state)
{
    uint8_t mac[32], okm[42], ikm[22];
    const char *data = "what do ya want for nothing?";
    cst_hmac_sha256((const uint8_t *)"Jefe", 4, data, strlen(data), mac);
    assert_hex(mac, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(ikm, 0x0b, sizeof(ikm));
    assert_int_equal(cst_hkdf_sha256(ikm, sizeof(ikm), "", okm, sizeof(okm)), CST_OK);
    assert_hex(okm, 42,
               "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a"
               "96c8");
}

static void fixed_key(cst_key *k, uint8_t base)
{
    assert_int_equal(cst_key_alloc(k), CST_OK);
    for (int i = 0; i < CST_KEY_LEN; i++)
        k->k[i] = (uint8_t)(base + i);
}

/* The record AAD layout, spelled out byte by byte. */
static void test_record_aad_layout(void **state)
{
    uint8_t bidx[32];
    memset(bidx, 0x11, sizeof(bidx));
    cst_buf aad;
    cst_buf_init(&aad, 512);
    assert_int_equal(cst_aad_record(&aad, 'v', "tn_0123", "bk", bidx, 7), CST_OK);
    uint8_t want[10 + 1 + 2 + 7 + 2 + 2 + 32 + 8];
    size_t o = 0;
    memcpy(want + o, "cst:rec:v1", 10), o += 10;
    want[o++] = 'v';
    want[o++] = 0, want[o++] = 7;
    memcpy(want + o, "tn_0123", 7), o += 7;
    want[o++] = 0, want[o++] = 2;
    memcpy(want + o, "bk", 2), o += 2;
    memset(want + o, 0x11, 32), o += 32;
    memset(want + o, 0, 7), o += 7;
    want[o++] = 7;
    assert_int_equal(aad.len, sizeof(want));
    assert_memory_equal(aad.data, want, sizeof(want));
    cst_buf_free(&aad);
}

/* The key-wrap AAD layout, spelled out byte by byte. */
static void test_wrap_aad_layout(void **state)
{
    cst_buf aad;
    cst_buf_init(&aad, 256);
    assert_int_equal(cst_aad_wrap(&aad, "tn_ab", "dek", 258), CST_OK);
    static const uint8_t want[] = {'c', 's', 't', ':', 'w', 'r', 'a', 'p', ':', 'v', '1', 0, 5, 't',
                                   'n', '_', 'a', 'b', 0,   3,   'd', 'e', 'k', 0,   0,   1, 2};
    assert_int_equal(aad.len, sizeof(want));
    assert_memory_equal(aad.data, want, sizeof(want));
    cst_buf_free(&aad);
}

/* Pinned: a record value sealed with a fixed key and nonce. A change to the format, the AAD or
 * the cipher breaks this test; records on disk would stop decrypting. */
static void test_sealed_record_format_pinned(void **state)
{
    cst_key dek;
    fixed_key(&dek, 0);
    uint8_t nonce[12], bidx[32];
    for (int i = 0; i < 12; i++)
        nonce[i] = (uint8_t)i;
    memset(bidx, 0x11, sizeof(bidx));
    cst_buf aad, blob, pt;
    cst_buf_init(&aad, 512);
    cst_buf_init(&blob, 512);
    cst_buf_init(&pt, 512);
    assert_int_equal(cst_aad_record(&aad, 'v', "tn_0123456789abcdef0123", "customers", bidx, 7),
                     CST_OK);
    assert_int_equal(cst_seal_with_nonce(&dek, nonce, &aad, (const uint8_t *)"hello", 5, &blob),
                     CST_OK);
    assert_int_equal(blob.len, 1 + 12 + 5 + 16);
    assert_int_equal(blob.data[0], 1);
    assert_memory_equal(blob.data + 1, nonce, 12);
    assert_hex(blob.data, blob.len, PINNED_RECORD);
    assert_int_equal(cst_open(&dek, &aad, blob.data, blob.len, &pt), CST_OK);
    assert_int_equal(pt.len, 5);
    assert_memory_equal(pt.data, "hello", 5);
    cst_buf_free(&aad);
    cst_buf_free(&blob);
    cst_buf_free(&pt);
    cst_key_free(&dek);
}

/* ENC-1 / ISO-1: a sealed field opens only in its own tenant, bucket, key, version and field. */
static void test_record_aad_binds_every_coordinate(void **state)
{
    cst_key dek;
    fixed_key(&dek, 9);
    uint8_t bidx[32], other[32];
    memset(bidx, 0x22, 32);
    memset(other, 0x23, 32);
    cst_buf aad, blob, pt;
    cst_buf_init(&aad, 512);
    cst_buf_init(&blob, 512);
    cst_buf_init(&pt, 512);
    assert_int_equal(cst_aad_record(&aad, 'v', "tn_a", "b", bidx, 5), CST_OK);
    assert_int_equal(cst_seal(&dek, &aad, (const uint8_t *)"secret", 6, &blob), CST_OK);
    struct {
        char field;
        const char *tenant, *bucket;
        const uint8_t *bidx;
        uint64_t version;
    } wrong[] = {{'m', "tn_a", "b", bidx, 5},
                 {'v', "tn_b", "b", bidx, 5},
                 {'v', "tn_a", "c", bidx, 5},
                 {'v', "tn_a", "b", other, 5},
                 {'v', "tn_a", "b", bidx, 6}};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(*wrong); i++) {
        cst_buf w;
        cst_buf_init(&w, 512);
        assert_int_equal(cst_aad_record(&w, wrong[i].field, wrong[i].tenant, wrong[i].bucket,
                                        wrong[i].bidx, wrong[i].version),
                         CST_OK);
        assert_int_equal(cst_open(&dek, &w, blob.data, blob.len, &pt), CST_ERR_INTEGRITY);
        assert_int_equal(pt.len, 0);
        cst_buf_free(&w);
    }
    /* truncated, extended and wrong-version blobs */
    assert_int_equal(cst_open(&dek, &aad, blob.data, 10, &pt), CST_ERR_INTEGRITY);
    assert_int_equal(cst_open(&dek, &aad, blob.data, blob.len - 1, &pt), CST_ERR_INTEGRITY);
    blob.data[0] = 2;
    assert_int_equal(cst_open(&dek, &aad, blob.data, blob.len, &pt), CST_ERR_INTEGRITY);
    blob.data[0] = 1;
    assert_int_equal(cst_open(&dek, &aad, blob.data, blob.len, &pt), CST_OK);
    assert_memory_equal(pt.data, "secret", 6);
    cst_buf_free(&aad);
    cst_buf_free(&blob);
    cst_buf_free(&pt);
    cst_key_free(&dek);
}

/* A file: master key holding base..base+31 (the file in a fresh temp dir dir). */
static cst_master *fixed_master(uint8_t base, char dir[32])
{
    snprintf(dir, 32, "/tmp/cst-wrap-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[64], source[80];
    snprintf(path, sizeof(path), "%s/master.key", dir);
    uint8_t k[CST_KEY_LEN];
    for (int i = 0; i < CST_KEY_LEN; i++)
        k[i] = (uint8_t)(base + i);
    assert_int_equal(cst_file_create(path, k, sizeof(k), 0600), CST_OK);
    snprintf(source, sizeof(source), "file:%s", path);
    cst_master_opts o = {.source = source};
    cst_master *m = NULL;
    assert_int_equal(cst_master_open(&o, &m), CST_OK);
    unlink(path);
    rmdir(dir);
    return m;
}

static void test_wrapped_key_binds_tenant_purpose_version(void **state)
{
    cst_key out = {0};
    char d1[32], d2[32];
    cst_master *kek = fixed_master(40, d1), *other = fixed_master(41, d2);
    cst_buf blob;
    cst_buf_init(&blob, 256);
    assert_int_equal(cst_wrap_new_key(kek, "tn_a", "dek", 1, &blob), CST_OK);
    /* 0x03 || kek id (8) || nonce || key || tag */
    assert_int_equal(blob.len, 1 + CST_MASTER_ID_BYTES + CST_NONCE_LEN + CST_KEY_LEN + CST_TAG_LEN);
    assert_int_equal(blob.data[0], 3);
    char id[CST_KEK_ID_LEN + 1];
    assert_true(cst_master_blob_id(blob.data, blob.len, id));
    assert_string_equal(id, cst_master_id(kek));
    assert_int_equal(cst_unwrap_key(kek, "tn_a", "dek", 1, blob.data, blob.len, &out), CST_OK);
    cst_key_free(&out);
    assert_int_equal(cst_unwrap_key(kek, "tn_b", "dek", 1, blob.data, blob.len, &out),
                     CST_ERR_INTEGRITY);
    assert_int_equal(cst_unwrap_key(kek, "tn_a", "idx", 1, blob.data, blob.len, &out),
                     CST_ERR_INTEGRITY);
    assert_int_equal(cst_unwrap_key(kek, "tn_a", "dek", 2, blob.data, blob.len, &out),
                     CST_ERR_INTEGRITY);
    assert_int_equal(cst_unwrap_key(other, "tn_a", "dek", 1, blob.data, blob.len, &out),
                     CST_ERR_INTEGRITY);
    /* the same bytes under another KEK id: refused before any decryption */
    memcpy(blob.data + 1, "\0\0\0\0\0\0\0\0", 8);
    assert_int_equal(cst_unwrap_key(kek, "tn_a", "dek", 1, blob.data, blob.len, &out),
                     CST_ERR_INTEGRITY);
    assert_null(out.k);
    cst_master_close(other);
    cst_master_close(kek);
    cst_buf_free(&blob);
}

/* ENC-4 migration: a data dir made before master.h wraps tenant keys as v1 blobs (cst_seal under
 * the KEK's bytes); its file: key still opens them, and the root key is the KEK itself, so every
 * secret sealed or derived from it before still opens. */
static void test_enc4_v1_wrapped_keys_still_open(void **state)
{
    char d[32];
    cst_master *kek = fixed_master(40, d);
    cst_key bytes, out = {0}, root = {0};
    fixed_key(&bytes, 40);
    cst_buf aad, blob;
    cst_buf_init(&aad, 64);
    cst_buf_init(&blob, 128);
    uint8_t dek[CST_KEY_LEN];
    memset(dek, 7, sizeof(dek));
    assert_int_equal(cst_aad_wrap(&aad, "tn_a", "dek", 1), CST_OK);
    assert_int_equal(cst_seal(&bytes, &aad, dek, sizeof(dek), &blob), CST_OK); /* the old code */
    assert_int_equal(blob.data[0], 1);
    assert_false(cst_master_blob_id(blob.data, blob.len, (char[17]){0}));
    assert_int_equal(cst_unwrap_key(kek, "tn_a", "dek", 1, blob.data, blob.len, &out), CST_OK);
    assert_memory_equal(out.k, dek, CST_KEY_LEN);
    assert_int_equal(cst_master_root_key(kek, NULL, false, &root), CST_OK);
    assert_memory_equal(root.k, bytes.k, CST_KEY_LEN);
    char old_id[CST_KEK_ID_LEN + 1];
    cst_kek_id(&bytes, old_id); /* the data dir's meta kek_id */
    assert_string_equal(old_id, cst_master_id(kek));
    cst_key_free(&out);
    cst_key_free(&root);
    cst_key_free(&bytes);
    cst_buf_free(&aad);
    cst_buf_free(&blob);
    cst_master_close(kek);
}

/* The blind index is HMAC-SHA256(idx, bucket || 0x00 || key): checked against libsodium's
 * independent HMAC, and pinned. */
static void test_blind_index(void **state)
{
    cst_key idx;
    fixed_key(&idx, 100);
    uint8_t got[32], want[32];
    cst_blind_index(&idx, "customers", (const uint8_t *)"cust/42", 7, got);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, idx.k, 32);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"customers\0cust/42", 17);
    crypto_auth_hmacsha256_final(&st, want);
    assert_memory_equal(got, want, 32);
    assert_hex(got, 32, PINNED_BIDX);
    /* ("ab","c") and ("a","bc") differ */
    uint8_t x[32], y[32];
    cst_blind_index(&idx, "ab", (const uint8_t *)"c", 1, x);
    cst_blind_index(&idx, "a", (const uint8_t *)"bc", 2, y);
    assert_memory_not_equal(x, y, 32);
    cst_key_free(&idx);
}

static void test_enc4_kek_file_checks(void **state)
{
    char dir[] = "/tmp/cst-kek-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char data[64], path[64], inside[128];
    snprintf(data, sizeof(data), "%s/data", dir);
    mkdir(data, 0700);
    snprintf(path, sizeof(path), "%s/master.key", dir);
    snprintf(inside, sizeof(inside), "%s/master.key", data);
    cst_key k = {0};
    assert_int_equal(cst_kek_create(path, data), CST_OK);
    assert_int_equal(cst_kek_create(path, data), CST_ERR_CONFLICT); /* never overwritten */
    assert_int_equal(cst_kek_load(path, data, &k), CST_OK);
    char id[CST_KEK_ID_LEN + 1];
    cst_kek_id(&k, id);
    assert_int_equal(strlen(id), 16);
    cst_key_free(&k);
    chmod(path, 0640);
    assert_int_equal(cst_kek_load(path, data, &k), CST_ERR_INVALID);
    chmod(path, 0604);
    assert_int_equal(cst_kek_load(path, data, &k), CST_ERR_INVALID);
    chmod(path, 0600);
    assert_int_equal(truncate(path, 31), 0);
    assert_int_equal(cst_kek_load(path, data, &k), CST_ERR_INVALID);
    assert_int_equal(truncate(path, 33), 0);
    assert_int_equal(cst_kek_load(path, data, &k), CST_ERR_INVALID);
    assert_int_equal(cst_kek_create(inside, data), CST_ERR_INVALID);
    assert_false(cst_path_exists(inside));
    assert_null(k.k);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Sets a POSIX access ACL on path: user::r, user:uid:r, group::group_perm, mask::r, other::---. */
static int set_acl(const char *path, uint32_t uid, uint16_t group_perm)
{
    struct {
        struct posix_acl_xattr_header h;
        struct posix_acl_xattr_entry e[5];
    } acl = {.h = {htole32(POSIX_ACL_XATTR_VERSION)},
             .e = {{htole16(ACL_USER_OBJ), htole16(ACL_READ), htole32(ACL_UNDEFINED_ID)},
                   {htole16(ACL_USER), htole16(ACL_READ), htole32(uid)},
                   {htole16(ACL_GROUP_OBJ), htole16(group_perm), htole32(ACL_UNDEFINED_ID)},
                   {htole16(ACL_MASK), htole16(ACL_READ), htole32(ACL_UNDEFINED_ID)},
                   {htole16(ACL_OTHER), 0, htole32(ACL_UNDEFINED_ID)}}};
    return setxattr(path, "system.posix_acl_access", &acl, sizeof(acl), 0);
}

/* ENC-4 with systemd's LoadCredential= on a tmpfs: the credential is mode 0400 with an ACL entry
 * for the service's user, which the mode shows as 0440. Read access for this process's user
 * alone is accepted; for another user or the group it is refused, as a group-readable mode is. */
static void test_enc4_kek_credential_acl(void **state)
{
    char dir[] = "/tmp/cst-kekacl-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/master.key", dir);
    assert_int_equal(cst_kek_create(path, NULL), CST_OK);
    assert_int_equal(chmod(path, 0400), 0);
    cst_key k = {0};
    if (set_acl(path, (uint32_t)geteuid(), 0) != 0) {
        remove(path);
        rmdir(dir);
        skip(); /* this file system has no POSIX ACLs */
    }
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0440); /* the mask shows as group bits */
    assert_int_equal(cst_kek_load(path, NULL, &k), CST_OK);
    cst_key_free(&k);
    assert_int_equal(set_acl(path, (uint32_t)geteuid() + 1, 0), 0); /* another user */
    assert_int_equal(cst_kek_load(path, NULL, &k), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "mode 440"));
    assert_int_equal(set_acl(path, (uint32_t)geteuid(), ACL_READ), 0); /* the owning group */
    assert_int_equal(cst_kek_load(path, NULL, &k), CST_ERR_INVALID);
    assert_null(k.k);
    remove(path);
    rmdir(dir);
}

/* Keys come from locked slabs (crypto.c): a freed key's slot is wiped before it is handed out
 * again, and keys held at once, more than one slab's worth, never share a slot. */
static void test_key_slots_wiped_and_distinct(void **state)
{
    enum { N = 300 };
    static cst_key keys[N];
    for (int i = 0; i < N; i++) {
        assert_int_equal(cst_key_alloc(&keys[i]), CST_OK);
        memset(keys[i].k, 0xA5, CST_KEY_LEN);
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_true(keys[i].k + CST_KEY_LEN <= keys[j].k ||
                        keys[j].k + CST_KEY_LEN <= keys[i].k);
    uint8_t *slot = keys[N / 2].k;
    cst_key_free(&keys[N / 2]);
    assert_null(keys[N / 2].k);
    static const uint8_t zero[CST_KEY_LEN];
    /* wiped at once: a free slot holds only the address of the next free one */
    assert_memory_equal(slot + sizeof(void *), zero, CST_KEY_LEN - sizeof(void *));
    uint8_t pattern[sizeof(void *)];
    memset(pattern, 0xA5, sizeof(pattern));
    assert_memory_not_equal(slot, pattern, sizeof(pattern));
    cst_key again = {0};
    assert_int_equal(cst_key_alloc(&again), CST_OK);
    assert_ptr_equal(again.k, slot); /* reused */
    assert_memory_equal(again.k, zero, CST_KEY_LEN);
    cst_key_free(&again);
    for (int i = 0; i < N; i++)
        cst_key_free(&keys[i]);
}

int main(void)
{
    assert_int_equal(cst_crypto_init(), CST_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_slots_wiped_and_distinct),
        cmocka_unit_test(test_aes256gcm_published_vector),
        cmocka_unit_test(test_hmac_and_hkdf_published_vectors),
        cmocka_unit_test(test_record_aad_layout),
        cmocka_unit_test(test_wrap_aad_layout),
        cmocka_unit_test(test_sealed_record_format_pinned),
        cmocka_unit_test(test_record_aad_binds_every_coordinate),
        cmocka_unit_test(test_wrapped_key_binds_tenant_purpose_version),
        cmocka_unit_test(test_enc4_v1_wrapped_keys_still_open),
        cmocka_unit_test(test_blind_index),
        cmocka_unit_test(test_enc4_kek_file_checks),
        cmocka_unit_test(test_enc4_kek_credential_acl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
