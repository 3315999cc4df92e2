/* fuzz_archive.c: libFuzzer target for the backup archive reader (backup/archive.c, BAK-1,
 * BAK-2) with a fixed KEK and signing key. The first input byte picks what the rest is:
 *   mode 0: a whole backup file, read as is (magic, header, signature, frames);
 *   mode 1: the plaintext inside the frames, which the target seals under a fixed, validly
 *           signed header, in frames of (second byte + 1) bytes, so the entry, manifest and
 *           signature parsers are reached past the frames' authentication;
 *   mode 2: like 1, but the header text comes from the input too (u16be length, text) and the
 *           target signs it: the header a holder of any signing key can write, as the reader
 *           trusts the key the header names unless a pin is given.
 * In modes 1 and 2 a trailing 'S' + 64 bytes after an 'M' entry is replaced by a valid
 * signature over that manifest, so the manifest checks run too.
 * CST_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (tests/fuzz/corpus/archive) and exits. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/archive.h"
#include "fuzz_util.h"
#include "crypto/crypto.h"
#include "crypto/keys.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/util.h"

#define BACKUP_ID "bk_00000000000000000000000000000000"
#define SALT "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

static cst_key kek;
static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
static char fixed_header[512];

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static cst_err mem_sink(void *ctx, const void *p, size_t n)
{
    return cst_buf_append(ctx, p, n);
}

static void init_keys(void)
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    memset(seed, 0x42, sizeof(seed));
    if (cst_crypto_init() != CST_OK || cst_key_alloc(&kek) != CST_OK)
        abort();
    memset(kek.k, 0x24, CST_KEY_LEN);
    crypto_sign_seed_keypair(pk, sk, seed);
    char pk_hex[65], kid[CST_KEK_ID_LEN + 1];
    cst_hex(pk, sizeof(pk), pk_hex);
    cst_kek_id(&kek, kid);
    if (cst_fmt(fixed_header, sizeof(fixed_header),
                "{\"backup_id\":\"%s\",\"chunk_size\":%u,\"format\":1,\"kek_id\":\"%s\","
                "\"node\":\"fuzz\",\"public_key\":\"%s\",\"salt\":\"%s\"}",
                BACKUP_ID, CST_BK_CHUNK, kid, pk_hex, SALT) != CST_OK)
        abort();
}

/* magic || u32be n || header || Ed25519 signature, as archive.h lays it out. */
static void put_header(cst_buf *out, const char *text, size_t hl)
{
    static const char ctx[] = "cst:backup-header:v1";
    uint8_t len[4], sig[crypto_sign_BYTES];
    cst_buf m;
    cst_buf_init(&m, SIZE_MAX);
    if (cst_buf_append(&m, ctx, sizeof(ctx) - 1) != CST_OK ||
        cst_buf_append(&m, CST_BK_MAGIC, CST_BK_MAGIC_LEN) != CST_OK ||
        cst_buf_append(&m, text, hl) != CST_OK)
        abort();
    crypto_sign_detached(sig, NULL, m.data, m.len, sk);
    cst_buf_free(&m);
    put_u32(len, (uint32_t)hl);
    if (cst_buf_append(out, CST_BK_MAGIC, CST_BK_MAGIC_LEN) != CST_OK ||
        cst_buf_append(out, len, 4) != CST_OK || cst_buf_append(out, text, hl) != CST_OK ||
        cst_buf_append(out, sig, sizeof(sig)) != CST_OK)
        abort();
}

/* A trailing 'S' + signature after an 'M' entry gets a valid signature over the manifest. */
static void sign_manifest(uint8_t *plain, size_t plen)
{
    static const char ctx[] = "cst:backup-manifest:v1";
    if (plen < 70 || plain[plen - 65] != 'S')
        return;
    for (size_t i = 0; i + 5 <= plen - 65; i++) {
        uint32_t ml = get_u32(plain + i + 1);
        if (plain[i] != 'M' || ml != plen - 65 - (i + 5))
            continue;
        cst_buf m;
        cst_buf_init(&m, SIZE_MAX);
        if (cst_buf_append(&m, ctx, sizeof(ctx) - 1) != CST_OK ||
            cst_buf_append(&m, plain + i + 5, ml) != CST_OK)
            abort();
        crypto_sign_detached(plain + plen - 64, NULL, m.data, m.len, sk);
        cst_buf_free(&m);
        return;
    }
}

/* Seals plain in frames of at most chunk bytes under the frame key of the header text. */
static void put_frames(cst_buf *out, const char *htext, size_t hl, const uint8_t *plain,
                       size_t plen, size_t chunk)
{
    static const char ctx[] = "cst:backup-chunk:v1";
    json_t *h = json_loadb(htext, hl, 0, NULL);
    const char *id = json_string_value(json_object_get(h, "backup_id"));
    const char *salt = json_string_value(json_object_get(h, "salt"));
    char info[160];
    uint8_t key[CST_KEY_LEN], hhash[CST_HASH_LEN];
    cst_err e =
        cst_fmt(info, sizeof(info), "custodia backup v1 %s %s", id ? id : "", salt ? salt : "");
    json_decref(h);
    if (e != CST_OK || cst_hkdf_sha256(kek.k, CST_KEY_LEN, info, key, sizeof(key)) != CST_OK)
        return; /* the reader refuses such a header before any frame */
    cst_sha256(htext, hl, hhash);
    uint8_t *frame = malloc(4 + chunk + CST_TAG_LEN);
    size_t off = 0;
    for (uint64_t i = 0; frame; i++) {
        size_t n = plen - off < chunk ? plen - off : chunk;
        uint8_t final = off + n == plen, nonce[CST_NONCE_LEN] = {0}, aad[96];
        size_t al = sizeof(ctx) - 1;
        put_u32(nonce + 4, (uint32_t)(i >> 32));
        put_u32(nonce + 8, (uint32_t)i);
        memcpy(aad, ctx, al);
        memcpy(aad + al, hhash, CST_HASH_LEN);
        al += CST_HASH_LEN;
        memcpy(aad + al, nonce + 4, 8);
        al += 8;
        aad[al++] = final;
        put_u32(frame, (uint32_t)(n + CST_TAG_LEN) | (final ? 0x80000000u : 0));
        if (cst_aead_seal(key, nonce, aad, al, plain + off, n, frame + 4) != CST_OK ||
            cst_buf_append(out, frame, 4 + n + CST_TAG_LEN) != CST_OK)
            abort();
        off += n;
        if (final)
            break;
    }
    free(frame);
    sodium_memzero(key, sizeof(key));
}

/* A restore writes entries under these names: none may leave the staging dir. */
static cst_err check_name(void *ctx, const char *name, uint64_t size)
{
    (void)ctx, (void)size;
    if (!name[0] || name[0] == '/' || name[0] == '.' || strstr(name, "/.") || strlen(name) > 255)
        abort();
    return CST_OK;
}

/* The bytes as a backup file: through a memfd and the reader's own file source. */
static void read_all(const uint8_t *p, size_t n)
{
    static int fd = -1;
    if (fd < 0 && (fd = memfd_create("backup", MFD_CLOEXEC)) < 0)
        abort();
    if (ftruncate(fd, 0) != 0 || (n > 0 && pwrite(fd, p, n, 0) != (ssize_t)n) ||
        lseek(fd, 0, SEEK_SET) != 0)
        abort();
    json_t *header = NULL, *manifest = NULL;
    const cst_bk_visitor v = {.file_begin = check_name};
    if (cst_bk_read(cst_bk_fd_source, &fd, &kek, NULL, &v, &header, &manifest) == CST_OK &&
        (!json_is_object(header) || !json_is_object(manifest)))
        abort();
    json_decref(header);
    json_decref(manifest);
    if (lseek(fd, 0, SEEK_SET) != 0)
        abort();
    if (cst_bk_read_header(cst_bk_fd_source, &fd, &header) == CST_OK && !json_is_object(header))
        abort();
    json_decref(header);
}

static void wrapped(const uint8_t *data, size_t size, bool own_header)
{
    if (size < 1)
        return;
    size_t chunk = (size_t)data[0] + 1;
    data++, size--;
    const char *htext = fixed_header;
    size_t hl = strlen(fixed_header);
    if (own_header) {
        if (size < 2 || (size_t)(data[0] << 8 | data[1]) > size - 2)
            return;
        hl = (size_t)(data[0] << 8 | data[1]);
        htext = (const char *)data + 2;
        data += 2 + hl, size -= 2 + hl;
    }
    uint8_t *plain = malloc(size ? size : 1);
    if (!plain)
        return;
    memcpy(plain, data, size);
    sign_manifest(plain, size);
    cst_buf file;
    cst_buf_init(&file, SIZE_MAX);
    put_header(&file, htext, hl);
    put_frames(&file, htext, hl, plain, size, chunk);
    read_all(file.data, file.len);
    cst_buf_free(&file);
    free(plain);
}

static void write_seed(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4096];
    if (cst_fmt(path, sizeof(path), "%s/%s", dir, name) != CST_OK)
        abort();
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        abort();
}

/* The seeds: a real backup (mode 0), its plaintext (mode 1), and the same with its header. */
static void write_seeds(const char *dir)
{
    static const char data[] = "the tenant's records";
    cst_buf b, plain;
    cst_buf_init(&b, SIZE_MAX);
    cst_buf_init(&plain, SIZE_MAX);
    if (cst_buf_append_u8(&b, 0) != CST_OK)
        abort();
    json_t *header = json_pack("{s:s,s:s}", "backup_id", BACKUP_ID, "node", "fuzz");
    json_t *manifest = json_pack("{s:[s]}", "tenants", "t1");
    cst_bk_writer *w = NULL;
    if (cst_bk_write_start(&kek, sk, header, mem_sink, &b, &w) != CST_OK ||
        cst_bk_file_begin(w, "tenants/t1.db", sizeof(data) - 1) != CST_OK ||
        cst_bk_file_data(w, data, sizeof(data) - 1) != CST_OK || cst_bk_file_end(w) != CST_OK ||
        cst_bk_finish(w, manifest) != CST_OK)
        abort();
    cst_bk_writer_free(w);
    json_decref(header);
    json_decref(manifest);
    write_seed(dir, "backup", b.data, b.len);
    /* the plaintext of a backup under fixed_header: one file, the manifest, 'S' + signature */
    uint8_t hh[CST_HASH_LEN], fh[CST_HASH_LEN];
    char hh_hex[65], fh_hex[65];
    cst_sha256(fixed_header, strlen(fixed_header), hh);
    cst_sha256(data, sizeof(data) - 1, fh);
    cst_hex(hh, sizeof(hh), hh_hex);
    cst_hex(fh, sizeof(fh), fh_hex);
    json_t *mf = json_pack("{s:[{s:s,s:I,s:s}],s:s,s:[s]}", "files", "name", "tenants/t1.db",
                           "size", (json_int_t)(sizeof(data) - 1), "sha256", fh_hex,
                           "header_sha256", hh_hex, "tenants", "t1");
    char *mtext = json_dumps(mf, JSON_COMPACT | JSON_SORT_KEYS);
    /* mode 1, frames of 64 bytes; 'F' u16be 13 name u64be size data */
    const uint8_t pre[5] = {1, 63, 'F', 0, 13}, size[8] = {0, 0, 0, 0, 0, 0, 0, sizeof(data) - 1};
    uint8_t m[5] = {'M'}, sig[65] = {'S'};
    put_u32(m + 1, (uint32_t)strlen(mtext));
    if (cst_buf_append(&plain, pre, sizeof(pre)) != CST_OK ||
        cst_buf_append(&plain, "tenants/t1.db", 13) != CST_OK ||
        cst_buf_append(&plain, size, 8) != CST_OK ||
        cst_buf_append(&plain, data, sizeof(data) - 1) != CST_OK ||
        cst_buf_append(&plain, m, 5) != CST_OK ||
        cst_buf_append(&plain, mtext, strlen(mtext)) != CST_OK ||
        cst_buf_append(&plain, sig, sizeof(sig)) != CST_OK)
        abort();
    write_seed(dir, "plaintext", plain.data, plain.len);
    /* mode 2: the same with the header text in front */
    cst_buf h2;
    cst_buf_init(&h2, SIZE_MAX);
    size_t hl = strlen(fixed_header);
    const uint8_t pre2[4] = {2, 63, (uint8_t)(hl >> 8), (uint8_t)hl};
    if (cst_buf_append(&h2, pre2, 4) != CST_OK || cst_buf_append(&h2, fixed_header, hl) != CST_OK ||
        cst_buf_append(&h2, plain.data + 2, plain.len - 2) != CST_OK)
        abort();
    write_seed(dir, "header", h2.data, h2.len);
    cst_json_free_text(mtext);
    json_decref(mf);
    cst_buf_free(&b);
    cst_buf_free(&plain);
    cst_buf_free(&h2);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    init_keys();
    fuzz_seeds_if_asked(write_seeds);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        read_all(data + 1, size - 1);
        break;
    case 1:
        wrapped(data + 1, size - 1, false);
        break;
    default:
        wrapped(data + 1, size - 1, true);
        break;
    }
    return 0;
}
