/* archive.h: the backup file format (ENC-2, BAK-1). A backup is one file (or one stream for a
 * command destination):
 *
 *   "CUSTODIA-BACKUP\n"                          16 bytes of magic
 *   u32be n || header                             canonical JSON: id, node, region, time,
 *                                                 version, kek_id, salt, public_key, tombstones
 *   signature                                     64 bytes, Ed25519 over
 *                                                 "cst:backup-header:v1" || magic || header
 *   frames...                                     u32be (final << 31 | length) || AES-256-GCM
 *
 * Frame i holds at most CST_BK_CHUNK plaintext bytes, sealed under
 * K = HKDF(KEK, "custodia backup v1 " || id || " " || salt) with nonce 0^4 || u64be(i) and
 * AAD "cst:backup-chunk:v1" || SHA-256(header) || u64be(i) || u8(final): a changed, removed,
 * reordered or re-flagged frame, a cut tail or a header from another backup fails. The
 * plaintext is a sequence of entries ('F' u16be name length, name, u64be size, bytes), then
 * 'M' u32be length, manifest (canonical JSON: every file's size and SHA-256, the tenants and
 * their record counts, the header's SHA-256), then 'S' and the manifest's 64-byte Ed25519
 * signature over "cst:backup-manifest:v1" || manifest. Memory stays bounded by one frame. */
#ifndef CST_ARCHIVE_H
#define CST_ARCHIVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/err.h"

#define CST_BK_MAGIC "CUSTODIA-BACKUP\n"
#define CST_BK_MAGIC_LEN 16
#define CST_BK_CHUNK (1u << 20)
#define CST_BK_HEADER_MAX (1u << 20)

/* Where the bytes go: a file or a command's standard input. */
typedef cst_err (*cst_bk_sink)(void *ctx, const void *p, size_t n);
/* Where they come from: fills up to n bytes, *got 0 at end of input. */
typedef cst_err (*cst_bk_source)(void *ctx, void *p, size_t n, size_t *got);

typedef struct cst_bk_writer cst_bk_writer;

/* Writes magic, header (salt, format and public key are added) and its signature. sk is the
 * node's Ed25519 secret key and stays owned by the caller until cst_bk_finish. */
CST_MUST_USE cst_err cst_bk_write_start(const cst_key *kek, const uint8_t *sk, json_t *header,
                                        cst_bk_sink sink, void *ctx, cst_bk_writer **out);
CST_MUST_USE cst_err cst_bk_file_begin(cst_bk_writer *w, const char *name, uint64_t size);
CST_MUST_USE cst_err cst_bk_file_data(cst_bk_writer *w, const void *p, size_t n);
/* Fails unless exactly the announced size was written. */
CST_MUST_USE cst_err cst_bk_file_end(cst_bk_writer *w);
/* Adds "files" and "header_sha256" to manifest, signs it, writes it and the final frame. */
CST_MUST_USE cst_err cst_bk_finish(cst_bk_writer *w, json_t *manifest);
/* Bytes written so far and the SHA-256 of the whole file (after finish). */
uint64_t cst_bk_written(const cst_bk_writer *w);
void cst_bk_file_sha256(const cst_bk_writer *w, char hex[65]);
void cst_bk_writer_free(cst_bk_writer *w);

/* What a reader hands on. Any callback may be NULL. */
typedef struct cst_bk_visitor {
    cst_err (*file_begin)(void *ctx, const char *name, uint64_t size);
    cst_err (*file_data)(void *ctx, const uint8_t *p, size_t n);
    cst_err (*file_end)(void *ctx, const char *name);
    void *ctx;
} cst_bk_visitor;

/* Reads just the header (no key needed) and checks its signature with the public key it
 * names. *header receives the parsed object. */
CST_MUST_USE cst_err cst_bk_read_header(cst_bk_source src, void *ctx, json_t **header);

/* Reads and checks a whole backup: header signature (with pin when given, else the key the
 * header names), master key id, every frame, every file's size and SHA-256 against the
 * manifest, the manifest's signature. Files reach the visitor before the manifest is checked,
 * so a caller stages them and commits only when this returns CST_OK. */
CST_MUST_USE cst_err cst_bk_read(cst_bk_source src, void *sctx, const cst_key *kek,
                                 const uint8_t *pin, const cst_bk_visitor *v, json_t **header,
                                 json_t **manifest);

/* Sources and sinks over a file descriptor. */
cst_err cst_bk_fd_sink(void *ctx, const void *p, size_t n);
cst_err cst_bk_fd_source(void *ctx, void *p, size_t n, size_t *got);

#endif
