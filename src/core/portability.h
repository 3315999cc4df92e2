/* portability.h: POR-1. A tenant's data as NDJSON, one JSON object a line:
 *
 *   {"type":"header","format":"custodia-export","version":1,"tenant":{...},"exported_at":...}
 *   {"type":"bucket","name":...,"retention_seconds":...,"class":...,"created_at":...}   (each)
 *   {"type":"record","bucket":...,"key":...,"content_type":...,"value":"<base64>",
 *    "created_at":...,"updated_at":...}                                                  (each)
 *   {"type":"manifest","buckets":B,"records":R,"value_bytes":V,"sha256":"<hex>"}
 *
 * where sha256 covers every byte before the manifest line. An import loads such a stream into
 * a tenant, in the caller's one transaction, only if the manifest matches. The line parser
 * takes no request and no store (buckets are looked up through a callback), so that it can be
 * tested and fuzzed alone. */
#ifndef CST_CORE_PORTABILITY_H
#define CST_CORE_PORTABILITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tenant.h"
#include "store/store.h"
#include "util/err.h"

#define CST_EXPORT_FORMAT "custodia-export"
#define CST_EXPORT_VERSION 1

/* The lines of an export (new references; NULL when out of memory). */
json_t *cst_export_header_line(const cst_tenant_row *t, const char *node_id, int64_t now);
json_t *cst_export_bucket_line(const cst_bucket_row *b);
/* A record's line with its value in base64 (wiped once copied into the line). */
json_t *cst_export_record_line(const char *bucket, const char *key, size_t key_len,
                               const char *ctype, const uint8_t *value, size_t value_len,
                               const cst_record_row *r);
json_t *cst_export_manifest_line(int64_t buckets, int64_t records, int64_t value_bytes,
                                 const char *sha256_hex);

/* The longest line an import reads: a record of max_value bytes in base64, with its key and
 * fields. */
size_t cst_import_line_max(size_t max_value);

/* Before anything is written: the last line (last, last_len; NULL when it was too long to
 * keep) must be a manifest whose sha256 is that of every byte before it. Gives the bucket and
 * record counts it declares. */
CST_MUST_USE cst_err cst_import_manifest(const char *last, size_t last_len,
                                         const uint8_t sha256_before_last[32],
                                         int64_t *want_buckets, int64_t *want_records);

typedef enum cst_import_kind {
    CST_IMPORT_HEADER,
    CST_IMPORT_BUCKET,
    CST_IMPORT_RECORD,
    CST_IMPORT_MANIFEST
} cst_import_kind;

/* Whether a record's bucket exists in the tenant imported into: CST_OK, CST_ERR_NOT_FOUND, or
 * the failure of the lookup. */
typedef cst_err (*cst_import_bucket_fn)(void *ctx, const char *bucket);

typedef struct cst_import_rules {
    size_t max_value;                  /* http.max_record_bytes */
    int64_t now;                       /* the clock records' times are checked against (us) */
    cst_import_bucket_fn bucket_known; /* record lines: their bucket must exist (NULL: all do) */
    void *bucket_ctx;
} cst_import_rules;

/* One parsed line. Strings point into doc; value is decoded (malloc), wiped by
 * cst_import_line_free. */
typedef struct cst_import_line {
    cst_import_kind kind;
    json_t *doc;
    cst_bucket_row bucket; /* CST_IMPORT_BUCKET: name, class, retention (times unset) */
    const char *rec_bucket, *key, *content_type;
    size_t key_len;
    uint8_t *value;
    size_t value_len, value_cap;
    int64_t created_at, updated_at;
} cst_import_line;

/* Parses and validates line no (from 1; line 1 must be the header) of an export: a JSON
 * object of a known type whose fields have their types, buckets and records passing the one
 * validation of cst_bucket_validate and cst_record_validate. On failure out holds nothing. */
CST_MUST_USE cst_err cst_import_parse_line(const char *line, size_t len, size_t no,
                                           const cst_import_rules *rules, cst_import_line *out);
void cst_import_line_free(cst_import_line *l);

/* An import in progress into an open tenant, in the caller's unit of work w. */
typedef struct cst_import {
    cst_tenant_ctx *t;
    cst_work *w;
    size_t max_value;
    int64_t now; /* when the import began: the created_at of the buckets it makes */
    int64_t buckets, records, created;
    bool manifest_seen;
} cst_import;

/* Parses line no and applies it: a bucket the tenant lacks is created (an existing one keeps
 * its settings), a record is sealed and written (CST_ERR_CONFLICT when its key exists). */
CST_MUST_USE cst_err cst_import_line_apply(cst_import *run, const char *line, size_t len,
                                           size_t no);
/* After the last line: the counts must be those the manifest declared. */
CST_MUST_USE cst_err cst_import_finish(const cst_import *run, int64_t want_buckets,
                                       int64_t want_records);

#endif
