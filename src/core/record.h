/* record.h: records (ENC-1): each record's key, content type and value sealed under the tenant's
 * DEK, found through the blind index, versioned for preconditions; single writes, reads,
 * deletes, listings and all-or-nothing batches. Every call takes the caller's unit of work w
 * (store.h). */
#ifndef CST_CORE_RECORD_H
#define CST_CORE_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tenant.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

#define CST_RECORD_KEY_MAX 1024 /* bytes */
#define CST_CTYPE_MAX 127       /* bytes of a content type */
#define CST_DEFAULT_CTYPE "application/octet-stream"
/* RET-1, POR-1: how far ahead of the node's clock a record's times may be (clock skew between
 * the exporting node and this one). */
#define CST_CLOCK_SKEW_US (300LL * 1000000)

/* Validates a record key: 1-1024 bytes of UTF-8 without control characters. */
CST_MUST_USE cst_err cst_record_key_check(const char *key, size_t len);
/* RET-1, POR-1: the one validation of a record, whoever writes it (the record routes, an
 * import, an erase's copy of billing records): key, content type, value size (at most
 * max_value), and times: created_at <= updated_at, neither before 1970 nor later than now plus
 * CST_CLOCK_SKEW_US (a record dated in the future would escape its retention). Times of 0 mean
 * "now" (the API sets them). */
CST_MUST_USE cst_err cst_record_validate(const char *key, size_t key_len, const char *ctype,
                                         size_t value_len, size_t max_value, int64_t created_at,
                                         int64_t updated_at, int64_t now);

/* The precondition of a write or delete. */
#define CST_PRECOND_NONE 0
#define CST_PRECOND_ABSENT (-1) /* If-None-Match: * (must not exist) */
#define CST_PRECOND_EXISTS (-2) /* If-Match: * (must exist) */
typedef struct cst_record_precond {
    int64_t if_match; /* a version, or one of CST_PRECOND_* */
} cst_record_precond;
/* Parses an ETag: a quoted version such as "12". */
CST_MUST_USE cst_err cst_record_etag_parse(const char *s, int64_t *version);
/* The ETag of a version ("12" with its quotes). */
void cst_record_etag(uint64_t version, char out[32]);

/* A record's key and content type, decrypted (wipe after use). */
typedef struct cst_record_meta {
    char key[CST_RECORD_KEY_MAX + 1];
    size_t key_len;
    char ctype[CST_CTYPE_MAX + 1];
} cst_record_meta;

/* The record's JSON view (key, content type, size, version, etag, times). */
json_t *cst_record_json(const char *key, size_t key_len, const char *ctype,
                        const cst_record_row *r);

/* Seals and writes one record (in the caller's unit of work w): checks the precondition
 * against the current row, takes the next version, seals key, content type and value. r gets
 * the row written, *created whether the key was new. Non-zero times replace the record's
 * created_at/updated_at. */
CST_MUST_USE cst_err cst_record_write(cst_tenant_ctx *t, cst_work *w, const char *bucket,
                                      const char *key, size_t key_len, const char *ctype,
                                      const uint8_t *value, size_t value_len,
                                      const cst_record_precond *pc, cst_record_row *r,
                                      bool *created, int64_t created_at, int64_t updated_at);
/* Reads and decrypts a record by key (meta and value: wipe both). A stored key that differs
 * from the one asked for fails with CST_ERR_INTEGRITY. */
CST_MUST_USE cst_err cst_record_get(const cst_tenant_ctx *t, cst_work *w, const char *bucket,
                                    const char *key, size_t key_len, cst_record_row *r,
                                    cst_record_meta *meta, cst_buf *value);
/* Deletes a record by key once the precondition holds (in the caller's unit of work w). */
CST_MUST_USE cst_err cst_record_remove(cst_tenant_ctx *t, cst_work *w, const char *bucket,
                                       const char *key, size_t key_len,
                                       const cst_record_precond *pc);
/* Up to limit records' JSON views (in blind-index order, after the key after when given) whose
 * key starts with prefix, appended to items. */
CST_MUST_USE cst_err cst_record_list(const cst_tenant_ctx *t, cst_work *w, const char *bucket,
                                     const char *prefix, const char *after, int limit,
                                     json_t *items);

/* BAK-3: decrypts a record's key, content type and value (row read with its value), so that
 * a drill proves every record of a restored node opens. Wipes what it decrypted. */
CST_MUST_USE cst_err cst_record_check(const cst_tenant_ctx *t, const char *bucket,
                                      const cst_record_row *r);
/* Decrypts a record read with its value: key (CST_RECORD_KEY_MAX + 1 bytes), content type
 * (CST_CTYPE_MAX + 1 bytes) and value (wipe it). */
/* ENC-4: seals r again under the tenant's current DEK version (same record version), in place;
 * r->dek_version becomes the current one. */
CST_MUST_USE cst_err cst_record_reseal(cst_tenant_ctx *t, const char *bucket, cst_record_row *r);
CST_MUST_USE cst_err cst_record_open(const cst_tenant_ctx *t, const char *bucket,
                                     const cst_record_row *r, char *key, size_t *key_len,
                                     char *ctype, cst_buf *value);
/* Seals and writes a record in the caller's unit of work w. must_be_new: CST_ERR_CONFLICT
 * when the key exists. Non-zero times replace the record's created_at/updated_at. */
CST_MUST_USE cst_err cst_record_store(cst_tenant_ctx *t, cst_work *w, const char *bucket,
                                      const char *key, size_t key_len, const char *ctype,
                                      const uint8_t *value, size_t value_len, bool must_be_new,
                                      int64_t created_at, int64_t updated_at);

/* Parsed records:batch operation (the parser is separate so that it can be fuzzed). */
typedef struct cst_batch_op {
    bool is_delete;
    const char *key; /* borrowed from the JSON document */
    size_t key_len;
    const char *content_type;
    uint8_t *value; /* decoded (malloc) */
    size_t value_len;
    int64_t if_match; /* 0: none, -1: if_none_match "*" */
} cst_batch_op;

#define CST_BATCH_MAX 1000
/* Parses {"operations":[...]} into ops (caller frees with cst_batch_free). */
CST_MUST_USE cst_err cst_batch_parse(const json_t *doc, size_t max_value, cst_batch_op **ops,
                                     size_t *n);
void cst_batch_free(cst_batch_op *ops, size_t n);
/* Applies parsed operations in order in the caller's unit of work w, appending each one's
 * result to results; stops at the first failure (the caller rolls back). */
CST_MUST_USE cst_err cst_batch_apply(cst_tenant_ctx *t, cst_work *w, const char *bucket,
                                     const cst_batch_op *ops, size_t n, json_t *results);

#endif
