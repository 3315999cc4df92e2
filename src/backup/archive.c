/* archive.c: writing and reading the chunked, encrypted, signed backup format (archive.h). */
#include "backup/archive.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/keys.h"
#include "crypto/sign.h"
#include "util/json.h"
#include "util/buf.h"
#include "util/util.h"

#define FRAME_MAX (CST_BK_CHUNK + CST_TAG_LEN)
#define FINAL_BIT 0x80000000u
#define NAME_MAX_LEN 255
#define MANIFEST_MAX (16u << 20)

static const char header_ctx[] = "cst:backup-header:v1";
static const char manifest_ctx[] = "cst:backup-manifest:v1";
static const char chunk_ctx[] = "cst:backup-chunk:v1";

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

/* The frame key of one backup: K = HKDF(KEK, "custodia backup v1 " || id || " " || salt). */
static cst_err frame_key(const cst_key *kek, const char *id, const char *salt_hex, cst_key *out)
{
    char info[160];
    TRY(cst_fmt(info, sizeof(info), "custodia backup v1 %s %s", id, salt_hex));
    TRY(cst_key_alloc(out));
    return cst_hkdf_sha256(kek->k, CST_KEY_LEN, info, out->k, CST_KEY_LEN);
}

static void frame_nonce_aad(const uint8_t hhash[CST_HASH_LEN], uint64_t index, bool final,
                            uint8_t nonce[CST_NONCE_LEN], uint8_t *aad, size_t *aadlen)
{
    memset(nonce, 0, CST_NONCE_LEN);
    put_u64(nonce + 4, index);
    size_t n = sizeof(chunk_ctx) - 1;
    memcpy(aad, chunk_ctx, n);
    memcpy(aad + n, hhash, CST_HASH_LEN);
    n += CST_HASH_LEN;
    put_u64(aad + n, index);
    n += 8;
    aad[n++] = final ? 1 : 0;
    *aadlen = n;
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN || s[0] == '/' || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '/'))
            return false;
        if (c == '/' && i + 1 < n && s[i + 1] == '.')
            return false; /* no "/." : no hidden files, no ".." */
    }
    return true;
}

cst_err cst_bk_fd_sink(void *ctx, const void *p, size_t n)
{
    int fd = *(int *)ctx;
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return cst_fail(errno == ENOSPC || errno == EDQUOT ? CST_ERR_UNAVAILABLE
                                                               : CST_ERR_INTERNAL,
                            "cannot write the backup: %s", strerror(errno));
        b += w;
        n -= (size_t)w;
    }
    return CST_OK;
}

cst_err cst_bk_fd_source(void *ctx, void *p, size_t n, size_t *got)
{
    int fd = *(int *)ctx;
    for (;;) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        ENSURE(r >= 0, CST_ERR_INVALID, "cannot read the backup: %s", strerror(errno));
        *got = (size_t)r;
        return CST_OK;
    }
}

/* ---- writer ---- */

struct cst_bk_writer {
    cst_bk_sink sink;
    void *ctx;
    cst_key key;
    uint8_t hhash[CST_HASH_LEN];
    uint64_t index;
    uint8_t *plain, *frame;
    size_t plen;
    const uint8_t *sk;
    cst_sha256_ctx whole;
    uint8_t whole_hash[CST_HASH_LEN];
    uint64_t written;
    /* the file being written */
    char name[NAME_MAX_LEN + 1];
    uint64_t fsize, fgot;
    cst_sha256_ctx fh;
    json_t *files;
};

static cst_err raw_write(cst_bk_writer *w, const void *p, size_t n)
{
    TRY(w->sink(w->ctx, p, n));
    cst_sha256_update(&w->whole, p, n);
    w->written += n;
    return CST_OK;
}

static cst_err emit_frame(cst_bk_writer *w, bool final)
{
    uint8_t nonce[CST_NONCE_LEN], aad[96];
    size_t aadlen;
    frame_nonce_aad(w->hhash, w->index, final, nonce, aad, &aadlen);
    TRY(cst_aead_seal(w->key.k, nonce, aad, aadlen, w->plain, w->plen, w->frame + 4));
    size_t len = w->plen + CST_TAG_LEN;
    put_u32(w->frame, (uint32_t)len | (final ? FINAL_BIT : 0));
    sodium_memzero(w->plain, w->plen);
    w->plen = 0;
    w->index++;
    return raw_write(w, w->frame, 4 + len);
}

static cst_err put(cst_bk_writer *w, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        size_t take = CST_BK_CHUNK - w->plen;
        if (take > n)
            take = n;
        memcpy(w->plain + w->plen, b, take);
        w->plen += take;
        b += take;
        n -= take;
        if (w->plen == CST_BK_CHUNK)
            TRY(emit_frame(w, false));
    }
    return CST_OK;
}

static char *dump_sorted(const json_t *o)
{
    return json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
}

cst_err cst_bk_write_start(const cst_key *kek, const uint8_t *sk, json_t *header, cst_bk_sink sink,
                           void *ctx, cst_bk_writer **out)
{
    cst_bk_writer *w = calloc(1, sizeof(*w));
    ENSURE(w != NULL, CST_ERR_INTERNAL, "out of memory");
    *out = w;
    w->sink = sink;
    w->ctx = ctx;
    w->sk = sk;
    w->plain = sodium_malloc(CST_BK_CHUNK);
    w->frame = malloc(4 + FRAME_MAX);
    w->files = json_array();
    ENSURE(w->plain && w->frame && w->files, CST_ERR_INTERNAL, "out of memory");
    TRY(cst_sha256_init(&w->whole));

    uint8_t salt[32];
    char salt_hex[65], pk_hex[65], kek_id[CST_KEK_ID_LEN + 1];
    TRY(cst_random(salt, sizeof(salt)));
    cst_hex(salt, sizeof(salt), salt_hex);
    cst_sign_public_hex(sk, pk_hex);
    cst_kek_id(kek, kek_id);
    const char *id = json_string_value(json_object_get(header, "backup_id"));
    ENSURE(id != NULL, CST_ERR_INTERNAL, "backup header without an id");
    json_object_set_new(header, "format", json_integer(1));
    json_object_set_new(header, "salt", json_string(salt_hex));
    json_object_set_new(header, "public_key", json_string(pk_hex));
    json_object_set_new(header, "kek_id", json_string(kek_id));
    json_object_set_new(header, "chunk_size", json_integer(CST_BK_CHUNK));
    TRY(frame_key(kek, id, salt_hex, &w->key));

    char *text = dump_sorted(header);
    ENSURE(text != NULL, CST_ERR_INTERNAL, "out of memory");
    size_t hl = strlen(text);
    cst_sha256(text, hl, w->hhash);
    cst_buf signed_part;
    cst_buf_init(&signed_part, CST_BK_HEADER_MAX + 64);
    uint8_t len[4], sig[CST_SIGN_LEN];
    put_u32(len, (uint32_t)hl);
    cst_err e = cst_buf_append(&signed_part, header_ctx, sizeof(header_ctx) - 1);
    if (e == CST_OK)
        e = cst_buf_append(&signed_part, CST_BK_MAGIC, CST_BK_MAGIC_LEN);
    if (e == CST_OK)
        e = cst_buf_append(&signed_part, text, hl);
    if (e == CST_OK)
        cst_sign(sk, signed_part.data, signed_part.len, sig);
    if (e == CST_OK)
        e = raw_write(w, CST_BK_MAGIC, CST_BK_MAGIC_LEN);
    if (e == CST_OK)
        e = raw_write(w, len, 4);
    if (e == CST_OK)
        e = raw_write(w, text, hl);
    if (e == CST_OK)
        e = raw_write(w, sig, sizeof(sig));
    cst_buf_free(&signed_part);
    cst_json_free_text(text);
    return e;
}

cst_err cst_bk_file_begin(cst_bk_writer *w, const char *name, uint64_t size)
{
    size_t nl = strlen(name);
    ENSURE(name_ok(name, nl), CST_ERR_INTERNAL, "bad backup entry name %s", name);
    ENSURE(!w->fh.h, CST_ERR_INTERNAL, "a backup entry is still open");
    TRY(cst_copy(w->name, sizeof(w->name), name));
    uint8_t h[11];
    h[0] = 'F';
    h[1] = (uint8_t)(nl >> 8);
    h[2] = (uint8_t)nl;
    TRY(put(w, h, 3));
    TRY(put(w, name, nl));
    put_u64(h, size);
    TRY(put(w, h, 8));
    w->fsize = size;
    w->fgot = 0;
    return cst_sha256_init(&w->fh);
}

cst_err cst_bk_file_data(cst_bk_writer *w, const void *p, size_t n)
{
    ENSURE(w->fgot + n <= w->fsize, CST_ERR_INTERNAL, "%s grew while it was backed up", w->name);
    cst_sha256_update(&w->fh, p, n);
    w->fgot += n;
    return put(w, p, n);
}

cst_err cst_bk_file_end(cst_bk_writer *w)
{
    ENSURE(w->fgot == w->fsize, CST_ERR_INTERNAL, "%s changed size while it was backed up",
           w->name);
    uint8_t h[CST_HASH_LEN];
    char hex[65];
    cst_sha256_final(&w->fh, h);
    cst_hex(h, sizeof(h), hex);
    json_t *f =
        json_pack("{s:s,s:I,s:s}", "name", w->name, "size", (json_int_t)w->fsize, "sha256", hex);
    ENSURE(f != NULL, CST_ERR_INTERNAL, "out of memory");
    json_array_append_new(w->files, f);
    return CST_OK;
}

cst_err cst_bk_finish(cst_bk_writer *w, json_t *manifest)
{
    char hh[65];
    cst_hex(w->hhash, sizeof(w->hhash), hh);
    json_object_set(manifest, "files", w->files);
    json_object_set_new(manifest, "header_sha256", json_string(hh));
    char *text = dump_sorted(manifest);
    ENSURE(text != NULL, CST_ERR_INTERNAL, "out of memory");
    size_t ml = strlen(text);
    cst_buf signed_part;
    cst_buf_init(&signed_part, MANIFEST_MAX + 64);
    uint8_t h[5], sig[CST_SIGN_LEN];
    h[0] = 'M';
    put_u32(h + 1, (uint32_t)ml);
    cst_err e =
        ml <= MANIFEST_MAX ? CST_OK : cst_fail(CST_ERR_INTERNAL, "backup manifest is too large");
    if (e == CST_OK)
        e = cst_buf_append(&signed_part, manifest_ctx, sizeof(manifest_ctx) - 1);
    if (e == CST_OK)
        e = cst_buf_append(&signed_part, text, ml);
    if (e == CST_OK)
        cst_sign(w->sk, signed_part.data, signed_part.len, sig);
    if (e == CST_OK)
        e = put(w, h, 5);
    if (e == CST_OK)
        e = put(w, text, ml);
    if (e == CST_OK)
        e = put(w, "S", 1);
    if (e == CST_OK)
        e = put(w, sig, sizeof(sig));
    if (e == CST_OK)
        e = emit_frame(w, true);
    if (e == CST_OK)
        cst_sha256_final(&w->whole, w->whole_hash);
    cst_buf_free(&signed_part);
    cst_json_free_text(text);
    return e;
}

uint64_t cst_bk_written(const cst_bk_writer *w)
{
    return w->written;
}

void cst_bk_file_sha256(const cst_bk_writer *w, char hex[65])
{
    cst_hex(w->whole_hash, sizeof(w->whole_hash), hex);
}

void cst_bk_writer_free(cst_bk_writer *w)
{
    if (!w)
        return;
    cst_key_free(&w->key);
    if (w->plain)
        sodium_free(w->plain);
    free(w->frame);
    cst_sha256_abort(&w->whole);
    cst_sha256_abort(&w->fh);
    json_decref(w->files);
    free(w);
}

/* ---- reader ---- */

typedef struct reader {
    cst_bk_source src;
    void *ctx;
    cst_key key;
    uint8_t hhash[CST_HASH_LEN];
    uint64_t index;
    uint8_t *frame, *plain;
    size_t plen, pos;
    bool final_seen;
} reader;

/* Reads exactly n bytes; *eof (when given) is set instead of failing if the input ends before
 * the first byte. */
static cst_err read_exact(cst_bk_source src, void *ctx, void *p, size_t n, bool *eof)
{
    uint8_t *b = p;
    size_t have = 0;
    while (have < n) {
        size_t got = 0;
        TRY(src(ctx, b + have, n - have, &got));
        if (got == 0) {
            if (have == 0 && eof) {
                *eof = true;
                return CST_OK;
            }
            return cst_fail(CST_ERR_INTEGRITY, "the backup is truncated");
        }
        have += got;
    }
    if (eof)
        *eof = false;
    return CST_OK;
}

static cst_err next_frame(reader *r)
{
    ENSURE(!r->final_seen, CST_ERR_INTEGRITY,
           "the backup is truncated: its final frame ends inside an entry");
    uint8_t h[4];
    bool eof = false;
    TRY(read_exact(r->src, r->ctx, h, 4, &eof));
    ENSURE(!eof, CST_ERR_INTEGRITY,
           "the backup is truncated: it ends after frame %llu without its final frame",
           (unsigned long long)r->index);
    uint32_t v = get_u32(h);
    bool final = (v & FINAL_BIT) != 0;
    size_t len = v & ~FINAL_BIT;
    ENSURE(len >= CST_TAG_LEN && len <= FRAME_MAX, CST_ERR_INTEGRITY,
           "frame %llu is malformed (length %zu)", (unsigned long long)r->index, len);
    TRY(read_exact(r->src, r->ctx, r->frame, len, NULL));
    uint8_t nonce[CST_NONCE_LEN], aad[96];
    size_t aadlen;
    frame_nonce_aad(r->hhash, r->index, final, nonce, aad, &aadlen);
    cst_err e = cst_aead_open(r->key.k, nonce, aad, aadlen, r->frame, len, r->plain);
    if (e != CST_OK)
        return cst_fail(CST_ERR_INTEGRITY,
                        "frame %llu failed authentication: the backup was changed, reordered or "
                        "cut, or belongs to another backup",
                        (unsigned long long)r->index);
    r->plen = len - CST_TAG_LEN;
    r->pos = 0;
    r->final_seen = final;
    r->index++;
    return CST_OK;
}

static cst_err get(reader *r, void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        if (r->pos == r->plen)
            TRY(next_frame(r));
        size_t take = r->plen - r->pos;
        if (take > n)
            take = n;
        memcpy(b, r->plain + r->pos, take);
        r->pos += take;
        b += take;
        n -= take;
    }
    return CST_OK;
}

static cst_err parse_header(cst_bk_source src, void *ctx, cst_buf *text, uint8_t sig[64],
                            json_t **header)
{
    uint8_t magic[CST_BK_MAGIC_LEN], len[4];
    bool eof = false;
    cst_buf_init(text, CST_BK_HEADER_MAX);
    TRY(read_exact(src, ctx, magic, sizeof(magic), &eof));
    ENSURE(!eof && memcmp(magic, CST_BK_MAGIC, CST_BK_MAGIC_LEN) == 0, CST_ERR_INVALID,
           "not a custodia backup (bad magic)");
    TRY(read_exact(src, ctx, len, 4, NULL));
    uint32_t hl = get_u32(len);
    ENSURE(hl > 0 && hl <= CST_BK_HEADER_MAX, CST_ERR_INTEGRITY, "backup header is malformed");
    cst_err e = CST_OK;
    {
        uint8_t *tmp = malloc(hl);
        e = tmp ? read_exact(src, ctx, tmp, hl, NULL) : cst_fail(CST_ERR_INTERNAL, "out of memory");
        if (e == CST_OK)
            e = cst_buf_append(text, tmp, hl);
        free(tmp);
    }
    if (e == CST_OK)
        e = read_exact(src, ctx, sig, 64, NULL);
    if (e == CST_OK) {
        json_error_t je;
        *header = json_loadb((const char *)text->data, text->len, JSON_REJECT_DUPLICATES, &je);
        if (!*header || !json_is_object(*header))
            e = cst_fail(CST_ERR_INTEGRITY, "backup header is not a JSON object");
    }
    if (e == CST_OK && json_integer_value(json_object_get(*header, "format")) != 1)
        e = cst_fail(CST_ERR_INVALID, "unknown backup format");
    return e;
}

static cst_err header_sig_check(const cst_buf *text, const uint8_t sig[64], const json_t *header,
                                const uint8_t *pin)
{
    uint8_t pk[32];
    const char *pk_hex = json_string_value(json_object_get(header, "public_key"));
    ENSURE(pk_hex && cst_unhex(pk_hex, pk, sizeof(pk)) == CST_OK, CST_ERR_INTEGRITY,
           "backup header names no public key");
    const char *node = json_string_value(json_object_get(header, "node_id"));
    ENSURE(!pin || sodium_memcmp(pin, pk, 32) == 0, CST_ERR_INTEGRITY,
           "the backup was signed by another node's key (node %s)", node ? node : "unknown");
    cst_buf m;
    cst_buf_init(&m, text->len + 64);
    cst_err e = cst_buf_append(&m, header_ctx, sizeof(header_ctx) - 1);
    if (e == CST_OK)
        e = cst_buf_append(&m, CST_BK_MAGIC, CST_BK_MAGIC_LEN);
    if (e == CST_OK)
        e = cst_buf_append(&m, text->data, text->len);
    if (e == CST_OK && !cst_sign_verify(pk, m.data, m.len, sig))
        e = cst_fail(CST_ERR_INTEGRITY, "the backup header's signature does not verify");
    cst_buf_free(&m);
    return e;
}

cst_err cst_bk_read_header(cst_bk_source src, void *ctx, json_t **header)
{
    cst_buf text;
    uint8_t sig[64];
    *header = NULL;
    cst_err e = parse_header(src, ctx, &text, sig, header);
    if (e == CST_OK)
        e = header_sig_check(&text, sig, *header, NULL);
    cst_buf_free(&text);
    if (e != CST_OK) {
        json_decref(*header);
        *header = NULL;
    }
    return e;
}

/* Streams one 'F' entry to the visitor and records its size and hash. */
static cst_err read_file_entry(reader *r, const cst_bk_visitor *v, json_t *seen, uint8_t *buf,
                               size_t bufsize)
{
    uint8_t h[8];
    char name[NAME_MAX_LEN + 1];
    TRY(get(r, h, 2));
    size_t nl = (size_t)h[0] << 8 | h[1];
    ENSURE(nl > 0 && nl <= NAME_MAX_LEN, CST_ERR_INTEGRITY, "backup entry name is malformed");
    TRY(get(r, name, nl));
    name[nl] = '\0';
    ENSURE(name_ok(name, nl), CST_ERR_INTEGRITY, "backup entry name is not allowed: %s", name);
    TRY(get(r, h, 8));
    uint64_t size = get_u64(h), left = size;
    if (v && v->file_begin)
        TRY(v->file_begin(v->ctx, name, size));
    cst_sha256_ctx fh;
    TRY(cst_sha256_init(&fh));
    cst_err e = CST_OK;
    while (e == CST_OK && left > 0) {
        size_t take = left < bufsize ? (size_t)left : bufsize;
        e = get(r, buf, take);
        if (e == CST_OK) {
            cst_sha256_update(&fh, buf, take);
            if (v && v->file_data)
                e = v->file_data(v->ctx, buf, take);
        }
        left -= take;
    }
    uint8_t digest[CST_HASH_LEN];
    char hex[65];
    cst_sha256_final(&fh, digest);
    cst_hex(digest, sizeof(digest), hex);
    TRY(e);
    if (v && v->file_end)
        TRY(v->file_end(v->ctx, name));
    json_t *f = json_pack("{s:s,s:I,s:s}", "name", name, "size", (json_int_t)size, "sha256", hex);
    ENSURE(f != NULL, CST_ERR_INTERNAL, "out of memory");
    json_array_append_new(seen, f);
    return CST_OK;
}

static cst_err check_manifest(reader *r, const json_t *header, const json_t *seen,
                              const cst_buf *mtext, const uint8_t sig[64], json_t **manifest)
{
    uint8_t pk[32];
    TRY(cst_unhex(json_string_value(json_object_get(header, "public_key")), pk, sizeof(pk)));
    cst_buf m;
    cst_buf_init(&m, mtext->len + 64);
    cst_err e = cst_buf_append(&m, manifest_ctx, sizeof(manifest_ctx) - 1);
    if (e == CST_OK)
        e = cst_buf_append(&m, mtext->data, mtext->len);
    if (e == CST_OK && !cst_sign_verify(pk, m.data, m.len, sig))
        e = cst_fail(CST_ERR_INTEGRITY, "the backup manifest's signature does not verify");
    cst_buf_free(&m);
    TRY(e);
    json_error_t je;
    *manifest = json_loadb((const char *)mtext->data, mtext->len, JSON_REJECT_DUPLICATES, &je);
    ENSURE(*manifest && json_is_object(*manifest), CST_ERR_INTEGRITY,
           "the backup manifest is not a JSON object");
    char hh[65];
    cst_hex(r->hhash, sizeof(r->hhash), hh);
    const char *mh = json_string_value(json_object_get(*manifest, "header_sha256"));
    ENSURE(mh && strcmp(mh, hh) == 0, CST_ERR_INTEGRITY,
           "the backup manifest belongs to another header");
    const json_t *files = json_object_get(*manifest, "files");
    ENSURE(json_is_array(files) && json_array_size(files) == json_array_size(seen),
           CST_ERR_INTEGRITY, "the backup holds %zu files but its manifest lists %zu",
           json_array_size(seen), json_array_size(files));
    for (size_t i = 0; i < json_array_size(seen); i++) {
        const json_t *a = json_array_get(seen, i), *b = json_array_get(files, i);
        ENSURE(json_equal(a, b), CST_ERR_INTEGRITY,
               "backup file %s does not match its manifest entry (size or SHA-256)",
               json_string_value(json_object_get(a, "name")));
    }
    return CST_OK;
}

cst_err cst_bk_read(cst_bk_source src, void *sctx, const cst_key *kek, const uint8_t *pin,
                    const cst_bk_visitor *v, json_t **header_out, json_t **manifest_out)
{
    reader r = {.src = src, .ctx = sctx};
    cst_buf htext, mtext;
    uint8_t sig[64];
    cst_buf_init(&htext, 0);
    json_t *header = NULL, *manifest = NULL, *seen = json_array();
    uint8_t *buf = malloc(64 * 1024);
    cst_buf_init(&mtext, MANIFEST_MAX);
    r.frame = malloc(FRAME_MAX);
    r.plain = sodium_malloc(CST_BK_CHUNK);
    cst_err e =
        r.frame && r.plain && buf && seen ? CST_OK : cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (e == CST_OK) {
        e = parse_header(src, sctx, &htext, sig, &header);
        if (e == CST_OK)
            e = header_sig_check(&htext, sig, header, pin);
        if (e == CST_OK)
            cst_sha256(htext.data, htext.len, r.hhash);
        cst_buf_free(&htext);
    }
    if (e == CST_OK) {
        char kid[CST_KEK_ID_LEN + 1];
        cst_kek_id(kek, kid);
        const char *want = json_string_value(json_object_get(header, "kek_id"));
        if (!want || strcmp(want, kid) != 0)
            e = cst_fail(CST_ERR_INVALID,
                         "the backup was made under master key id %s; the key given has id %s",
                         want ? want : "unknown", kid);
    }
    if (e == CST_OK)
        e = frame_key(kek, json_string_value(json_object_get(header, "backup_id")),
                      json_string_value(json_object_get(header, "salt")), &r.key);
    bool done = false;
    while (e == CST_OK && !done) {
        uint8_t type = 0;
        e = get(&r, &type, 1);
        if (e != CST_OK)
            break;
        if (type == 'F') {
            e = read_file_entry(&r, v, seen, buf, 64 * 1024);
        } else if (type == 'M' && !mtext.len) {
            uint8_t l[4];
            e = get(&r, l, 4);
            uint32_t ml = get_u32(l);
            if (e == CST_OK && (ml == 0 || ml > MANIFEST_MAX))
                e = cst_fail(CST_ERR_INTEGRITY, "the backup manifest is malformed");
            for (uint32_t got = 0; e == CST_OK && got < ml;) {
                uint32_t take = ml - got > 65536 ? 65536 : ml - got;
                e = get(&r, buf, take);
                if (e == CST_OK)
                    e = cst_buf_append(&mtext, buf, take);
                got += take;
            }
        } else if (type == 'S' && mtext.len) {
            e = get(&r, sig, 64);
            if (e == CST_OK)
                e = check_manifest(&r, header, seen, &mtext, sig, &manifest);
            if (e == CST_OK && (r.pos != r.plen || !r.final_seen))
                e = cst_fail(CST_ERR_INTEGRITY, "the backup continues after its signature");
            if (e == CST_OK) {
                bool eof = false;
                uint8_t extra;
                e = read_exact(src, sctx, &extra, 1, &eof);
                if (e == CST_OK && !eof)
                    e = cst_fail(CST_ERR_INTEGRITY, "the backup has data after its final frame");
            }
            done = true;
        } else {
            e = cst_fail(CST_ERR_INTEGRITY, "the backup holds a malformed entry");
        }
    }
    cst_key_free(&r.key);
    free(r.frame);
    if (r.plain)
        sodium_free(r.plain);
    free(buf);
    cst_buf_free(&mtext);
    json_decref(seen);
    if (e == CST_OK && header_out)
        *header_out = json_incref(header);
    if (e == CST_OK && manifest_out)
        *manifest_out = json_incref(manifest);
    json_decref(header);
    json_decref(manifest);
    return e;
}
