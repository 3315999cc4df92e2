/* keys.c: KEK handling, key wrapping, record sealing and blind indexes. */
#include "crypto/keys.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/util.h"

/* True when path resolves to a location inside dir (both must exist). */
static bool path_inside(const char *path, const char *dir)
{
    char rp[PATH_MAX], rd[PATH_MAX];
    if (!realpath(path, rp) || !realpath(dir, rd))
        return false;
    size_t n = strlen(rd);
    return strncmp(rp, rd, n) == 0 && (rp[n] == '/' || rp[n] == '\0');
}

/* The group and other access a key file gives. With a POSIX ACL the group bits of the mode are
 * the ACL's mask: an ACL that grants access to no group, to no one else and to no user but the one
 * running custodia gives none (systemd's credentials on a tmpfs, LoadCredential=, are mode 0400
 * plus "user:<service user>:r", which the mode shows as 0440). */
static mode_t foreign_access(int fd, mode_t mode)
{
    mode_t bits = mode & (S_IRWXG | S_IRWXO);
    if (!(bits & S_IRWXG) || (bits & S_IRWXO))
        return bits;
    struct {
        struct posix_acl_xattr_header h;
        struct posix_acl_xattr_entry e[32];
    } acl;
    ssize_t n = fgetxattr(fd, "system.posix_acl_access", &acl, sizeof(acl));
    if (n < (ssize_t)sizeof(acl.h) || (n - sizeof(acl.h)) % sizeof(acl.e[0]) != 0 ||
        le32toh(acl.h.a_version) != POSIX_ACL_XATTR_VERSION)
        return bits; /* no ACL: the mode says it all */
    for (size_t i = 0; i < (n - sizeof(acl.h)) / sizeof(acl.e[0]); i++) {
        unsigned tag = le16toh(acl.e[i].e_tag), perm = le16toh(acl.e[i].e_perm);
        bool other_user = tag == ACL_USER && le32toh(acl.e[i].e_id) != (uint32_t)geteuid();
        if (perm && (other_user || tag == ACL_GROUP_OBJ || tag == ACL_GROUP || tag == ACL_OTHER))
            return bits;
    }
    return 0;
}

cst_err cst_kek_load(const char *path, const char *data_dir, cst_key *kek)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ENSURE(fd >= 0, CST_ERR_INVALID, "master key file %s: %s%s", path, strerror(errno),
           errno == ELOOP ? " (symbolic links are refused)" : "");
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cst_fail(CST_ERR_INVALID, "master key file %s is not a regular file", path);
    }
    if (foreign_access(fd, st.st_mode)) {
        close(fd);
        return cst_fail(CST_ERR_INVALID,
                        "master key file %s has mode %03o: it must not be accessible to group or "
                        "others (chmod 600 %s)",
                        path, (unsigned)(st.st_mode & 0777), path);
    }
    if (st.st_size != CST_KEY_LEN) {
        close(fd);
        return cst_fail(CST_ERR_INVALID, "master key file %s has %lld bytes; it must have %d", path,
                        (long long)st.st_size, CST_KEY_LEN);
    }
    if (data_dir && path_inside(path, data_dir)) {
        close(fd);
        return cst_fail(CST_ERR_INVALID,
                        "master key file %s is inside the data dir %s; keep it outside (ENC-4)",
                        path, data_dir);
    }
    cst_err e = cst_key_alloc(kek);
    if (e == CST_OK) {
        ssize_t r = read(fd, kek->k, CST_KEY_LEN);
        if (r != CST_KEY_LEN) {
            cst_key_free(kek);
            e = cst_fail(CST_ERR_INVALID, "cannot read master key file %s", path);
        }
    }
    close(fd);
    return e;
}

cst_err cst_kek_create(const char *path, const char *data_dir)
{
    uint8_t k[CST_KEY_LEN];
    TRY(cst_random(k, sizeof(k)));
    cst_err e = cst_file_create(path, k, sizeof(k), 0600);
    sodium_memzero(k, sizeof(k));
    TRY(e);
    if (data_dir && path_inside(path, data_dir)) {
        unlink(path);
        return cst_fail(CST_ERR_INVALID, "the master key file must be outside the data dir");
    }
    return CST_OK;
}

void cst_kek_id(const cst_key *kek, char out[CST_KEK_ID_LEN + 1])
{
    uint8_t mac[CST_HASH_LEN];
    cst_hmac_sha256(kek->k, CST_KEY_LEN, "custodia kek id", 15, mac);
    cst_hex(mac, CST_KEK_ID_LEN / 2, out);
}

cst_err cst_seal_with_nonce(const cst_key *key, const uint8_t nonce[CST_NONCE_LEN],
                            const cst_buf *aad, const uint8_t *pt, size_t ptlen, cst_buf *out)
{
    ENSURE(ptlen <= SIZE_MAX - CST_SEAL_OVERHEAD, CST_ERR_TOO_LARGE, "value too large");
    size_t start = out->len;
    TRY(cst_buf_append_u8(out, CST_SEAL_VERSION));
    TRY(cst_buf_append(out, nonce, CST_NONCE_LEN));
    /* Reserve room for ciphertext and tag, then seal in place. */
    static const uint8_t zero[256];
    for (size_t left = ptlen + CST_TAG_LEN; left > 0;) {
        size_t n = left < sizeof(zero) ? left : sizeof(zero);
        TRY(cst_buf_append(out, zero, n));
        left -= n;
    }
    uint8_t *ct = out->data + start + 1 + CST_NONCE_LEN;
    return cst_aead_seal(key->k, nonce, aad->data, aad->len, pt, ptlen, ct);
}

cst_err cst_seal(const cst_key *key, const cst_buf *aad, const uint8_t *pt, size_t ptlen,
                 cst_buf *out)
{
    uint8_t nonce[CST_NONCE_LEN];
    TRY(cst_random(nonce, sizeof(nonce)));
    return cst_seal_with_nonce(key, nonce, aad, pt, ptlen, out);
}

cst_err cst_open(const cst_key *key, const cst_buf *aad, const uint8_t *blob, size_t bloblen,
                 cst_buf *out)
{
    cst_reader r;
    const uint8_t *nonce, *ct;
    uint8_t version;
    cst_reader_init(&r, blob, bloblen);
    TRY(cst_reader_u8(&r, &version));
    ENSURE(version == CST_SEAL_VERSION, CST_ERR_INTEGRITY, "unknown ciphertext format %u", version);
    TRY(cst_reader_bytes(&r, CST_NONCE_LEN, &nonce));
    ENSURE(cst_reader_left(&r) >= CST_TAG_LEN, CST_ERR_INTEGRITY, "ciphertext too short");
    size_t ctlen = cst_reader_left(&r);
    TRY(cst_reader_bytes(&r, ctlen, &ct));
    size_t ptlen = ctlen - CST_TAG_LEN;
    size_t start = out->len;
    static const uint8_t zero[256];
    for (size_t left = ptlen; left > 0;) {
        size_t n = left < sizeof(zero) ? left : sizeof(zero);
        TRY(cst_buf_append(out, zero, n));
        left -= n;
    }
    cst_err e = cst_aead_open(key->k, nonce, aad->data, aad->len, ct, ctlen,
                              out->data ? out->data + start : (uint8_t[1]){0});
    if (e != CST_OK)
        out->len = start;
    return e;
}

cst_err cst_aad_wrap(cst_buf *aad, const char *tenant_id, const char *purpose, uint32_t version)
{
    TRY(cst_buf_append(aad, "cst:wrap:v1", 11));
    TRY(cst_buf_append_lv16(aad, tenant_id, strlen(tenant_id)));
    TRY(cst_buf_append_lv16(aad, purpose, strlen(purpose)));
    return cst_buf_append_u32be(aad, version);
}

cst_err cst_aad_record(cst_buf *aad, char field, const char *tenant_id, const char *bucket,
                       const uint8_t bidx[CST_HASH_LEN], uint64_t version)
{
    TRY(cst_buf_append(aad, "cst:rec:v1", 10));
    TRY(cst_buf_append_u8(aad, (uint8_t)field));
    TRY(cst_buf_append_lv16(aad, tenant_id, strlen(tenant_id)));
    TRY(cst_buf_append_lv16(aad, bucket, strlen(bucket)));
    TRY(cst_buf_append(aad, bidx, CST_HASH_LEN));
    return cst_buf_append_u64be(aad, version);
}

cst_err cst_wrap_new_key(cst_master *kek, const char *tenant_id, const char *purpose,
                         uint32_t version, cst_buf *out)
{
    cst_key k = {0};
    cst_buf aad;
    cst_buf_init(&aad, 256);
    cst_err e = cst_key_random(&k);
    if (e == CST_OK)
        e = cst_aad_wrap(&aad, tenant_id, purpose, version);
    if (e == CST_OK)
        e = cst_master_wrap(kek, &aad, k.k, CST_KEY_LEN, out);
    cst_key_free(&k);
    cst_buf_free(&aad);
    return e;
}

cst_err cst_unwrap_key(cst_master *kek, const char *tenant_id, const char *purpose,
                       uint32_t version, const uint8_t *blob, size_t bloblen, cst_key *out)
{
    cst_buf aad, pt;
    cst_buf_init(&aad, 256);
    cst_buf_init(&pt, CST_KEY_LEN);
    cst_err e = cst_aad_wrap(&aad, tenant_id, purpose, version);
    if (e == CST_OK)
        e = cst_master_unwrap(kek, &aad, blob, bloblen, &pt);
    if (e == CST_OK)
        e = cst_key_from(pt.data, pt.len, "a wrapped key", out);
    cst_buf_wipe_free(&pt);
    cst_buf_free(&aad);
    return e;
}

cst_err cst_rewrap_key(cst_master *from, cst_master *to, const char *tenant_id, const char *purpose,
                       uint32_t version, const uint8_t *blob, size_t bloblen, cst_buf *out)
{
    cst_key k = {0};
    cst_buf aad;
    cst_buf_init(&aad, 256);
    cst_err e = cst_unwrap_key(from, tenant_id, purpose, version, blob, bloblen, &k);
    if (e == CST_OK)
        e = cst_aad_wrap(&aad, tenant_id, purpose, version);
    if (e == CST_OK)
        e = cst_master_wrap(to, &aad, k.k, CST_KEY_LEN, out);
    cst_key_free(&k);
    cst_buf_free(&aad);
    return e;
}

void cst_blind_index(const cst_key *idx_key, const char *bucket, const uint8_t *key, size_t keylen,
                     uint8_t out[CST_HASH_LEN])
{
    /* bucket's NUL terminator is the separator */
    cst_hmac_sha256_2(idx_key->k, CST_KEY_LEN, bucket, strlen(bucket) + 1, key, keylen, out);
}
