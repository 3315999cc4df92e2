/* export.c: POR-1. GET /v1/export streams a tenant's whole data as NDJSON in bounded memory
 * (the format: core/portability.h); POST /v1/import loads such a stream, spooled while it
 * was uploaded, into the caller's tenant, in one transaction, only if the manifest matches. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "node/detect.h"
#include "core/tenant_state.h"
#include "util/json.h"
#include "util/util.h"

#define PART_BYTES (256 * 1024)

typedef struct export_state {
    cst_node *n;
    cst_tenant_ctx *t; /* held only while a part is being filled (see export_fill) */
    cst_tenant_row tenant;
    json_t *buckets; /* bucket rows as JSON */
    size_t bucket;   /* the bucket being exported */
    uint8_t after[CST_HASH_LEN];
    bool has_after;
    int phase; /* 0 header, 1 buckets, 2 records, 3 manifest */
    cst_sha256_ctx sha;
    int64_t records, value_bytes;
    cst_buf value; /* scratch for one decrypted value */
    cst_buf *out;
    cst_err e;
    bool finished;
    char principal[CST_ID_MAX], ip[64]; /* DET-1: who read the records, from where */
} export_state;

/* Appends one line (hashed unless it is the manifest) and wipes the text. */
static cst_err emit(export_state *x, json_t *line, bool hashed)
{
    ENSURE(line != NULL, CST_ERR_INTERNAL, "out of memory");
    char *text = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(line);
    ENSURE(text != NULL, CST_ERR_INTERNAL, "out of memory");
    size_t len = strlen(text);
    cst_err e = cst_buf_append(x->out, text, len);
    if (e == CST_OK)
        e = cst_buf_append(x->out, "\n", 1);
    if (e == CST_OK && hashed) {
        cst_sha256_update(&x->sha, text, len);
        cst_sha256_update(&x->sha, "\n", 1);
    }
    sodium_memzero(text, len);
    cst_json_free_text(text);
    return e;
}

static cst_err collect_bucket(const cst_bucket_row *b, void *p)
{
    json_array_append_new(p, cst_export_bucket_line(b));
    return CST_OK;
}

static bool export_record(const cst_record_row *r, void *p)
{
    export_state *x = p;
    const char *bucket =
        json_string_value(json_object_get(json_array_get(x->buckets, x->bucket), "name"));
    char key[CST_RECORD_KEY_MAX + 1], ctype[CST_CTYPE_MAX + 1];
    size_t klen;
    x->value.len = 0;
    x->e = cst_record_open(x->t, bucket, r, key, &klen, ctype, &x->value);
    if (x->e != CST_OK)
        return false;
    x->e = emit(x, cst_export_record_line(bucket, key, klen, ctype, x->value.data, x->value.len, r),
                true);
    x->records++;
    x->value_bytes += (int64_t)x->value.len;
    sodium_memzero(key, sizeof(key));
    memcpy(x->after, r->bidx, CST_HASH_LEN);
    x->has_after = true;
    return x->e == CST_OK && x->out->len < PART_BYTES;
}

/* RET-4: the stream holds the tenant only while it fills a part, never while a client is slow
 * to read one, so an erase never waits for a reader; once the tenant is pending_erase (or its
 * erase has closed it) the next part fails and the stream is cut, without its manifest. */
static cst_err export_hold(export_state *x)
{
    cst_tenant_row row;
    cst_err e = cst_store_tenant_get(x->n->store, NULL, x->tenant.id, &row);
    if (e == CST_OK && cst_tenant_erasing(&row))
        e = cst_fail(CST_ERR_NOT_FOUND, "the tenant is being erased");
    if (e == CST_OK)
        e = cst_node_tenant_acquire(x->n, x->tenant.id, &x->t);
    if (e != CST_OK) {
        cst_warn("export of tenant %s cut short: %s", x->tenant.id, cst_err_message(e));
        x->t = NULL;
    }
    return e;
}

static cst_err export_part(export_state *x, cst_buf *out, bool *done);

static cst_err export_fill(void *ctx, cst_buf *out, bool *done)
{
    export_state *x = ctx;
    TRY(export_hold(x));
    cst_err e = export_part(x, out, done);
    cst_node_tenant_release(x->n, x->t);
    x->t = NULL;
    return e;
}

static cst_err export_part(export_state *x, cst_buf *out, bool *done)
{
    x->out = out;
    if (x->phase == 0) {
        TRY(emit(x, cst_export_header_line(&x->tenant, x->n->node_id, cst_now_us()), true));
        size_t i;
        json_t *b;
        json_array_foreach(x->buckets, i, b) TRY(emit(x, json_incref(b), true));
        x->phase = 2;
    }
    while (x->phase == 2 && out->len < PART_BYTES) {
        if (x->bucket >= json_array_size(x->buckets)) {
            x->phase = 3;
            break;
        }
        const char *bucket =
            json_string_value(json_object_get(json_array_get(x->buckets, x->bucket), "name"));
        int64_t before = x->records;
        x->e = CST_OK;
        TRY(cst_tstore_record_scan(x->t->ts, NULL, bucket, x->has_after ? x->after : NULL,
                                   CST_SCAN_VALUES, export_record, x));
        TRY(x->e);
        if (out->len < PART_BYTES || x->records == before) {
            x->bucket++; /* the scan reached the bucket's end */
            x->has_after = false;
        }
    }
    if (x->phase == 3 && out->len < PART_BYTES) {
        uint8_t h[CST_HASH_LEN];
        char hex[2 * CST_HASH_LEN + 1];
        cst_sha256_final(&x->sha, h);
        cst_hex(h, sizeof(h), hex);
        TRY(emit(x,
                 cst_export_manifest_line((int64_t)json_array_size(x->buckets), x->records,
                                          x->value_bytes, hex),
                 false));
        x->phase = 4;
        x->finished = true;
        cst_node_audit_event(x->n, "tenant.export.completed", "success", x->tenant.id, "/v1/export",
                             json_pack("{s:I,s:I,s:I,s:s}", "buckets",
                                       (json_int_t)json_array_size(x->buckets), "records",
                                       (json_int_t)x->records, "value_bytes",
                                       (json_int_t)x->value_bytes, "sha256", hex));
    }
    *done = x->phase == 4;
    return CST_OK;
}

static void export_free(void *ctx)
{
    export_state *x = ctx;
    if (!x->finished) {
        cst_sha256_abort(&x->sha);
        /* a client that went away, or a failure: the export did not complete */
        cst_node_audit_event(x->n, "tenant.export.incomplete", "failure", x->tenant.id,
                             "/v1/export",
                             json_pack("{s:I}", "records_sent", (json_int_t)x->records));
    }
    /* DET-1: the records sent count towards the principal's reads (exfiltration) */
    cst_detect_records_read(x->n, x->tenant.id, x->principal, x->records, x->ip, cst_now_us());
    json_decref(x->buckets);
    cst_buf_wipe_free(&x->value);
    free(x);
}

cst_err cst_api_export(cst_node *n, cst_request *req)
{
    export_state *x = calloc(1, sizeof(*x));
    ENSURE(x != NULL, CST_ERR_INTERNAL, "out of memory");
    x->n = n;
    x->tenant = req->who.tenant;
    (void)snprintf(x->principal, sizeof(x->principal), "%s", req->who.user.id);
    (void)snprintf(x->ip, sizeof(x->ip), "%s", req->client_ip);
    x->buckets = json_array();
    cst_buf_init(&x->value, SIZE_MAX);
    cst_tenant_ctx *t;
    cst_err e = cst_api_tenant(n, req, &t);
    if (e == CST_OK)
        e = cst_tstore_bucket_list(t->ts, req->work, collect_bucket, x->buckets);
    if (e == CST_OK)
        e = cst_sha256_init(&x->sha);
    if (e != CST_OK) {
        json_decref(x->buckets);
        cst_buf_free(&x->value);
        free(x);
        return e;
    }
    cst_audit_info(req, "buckets", json_integer((json_int_t)json_array_size(x->buckets)));
    cst_resp_stream(req, "application/x-ndjson", export_fill, export_free, x);
    return CST_OK;
}

/* ---- import ---- */

/* Reads the spool back line by line into the caller's transaction. */
static cst_err import_lines(cst_spool *sp, cst_import *run)
{
    cst_buf l;
    size_t max = cst_import_line_max(run->max_value);
    cst_buf_init(&l, max);
    cst_err e = CST_OK;
    bool eof = false;
    for (size_t no = 1; e == CST_OK; no++) {
        e = cst_spool_line(sp, &l, max, &eof);
        if (e != CST_OK || eof)
            break;
        e = cst_import_line_apply(run, (const char *)l.data, l.len, no);
    }
    cst_buf_wipe_free(&l);
    return e;
}

cst_err cst_api_import(cst_node *n, cst_request *req)
{
    cst_spool *sp = req->body_sink_ctx;
    ENSURE(sp != NULL && req->body_sink == cst_spool_write, CST_ERR_INTERNAL,
           "the import was not spooled");
    cst_spool_summary sum;
    TRY(cst_spool_finish(sp, &sum));
    int64_t want_buckets, want_records;
    TRY(cst_import_manifest(sum.last, sum.last_len, sum.sha256_before_last, &want_buckets,
                            &want_records));
    cst_import run = {.w = req->work, .max_value = n->cfg.max_record_bytes, .now = cst_now_us()};
    TRY(cst_api_tenant(n, req, &run.t));
    TRY(cst_tstore_begin(run.t->ts, req->work));
    /* all or nothing: one transaction */
    cst_err e = import_lines(sp, &run);
    if (e == CST_OK)
        e = cst_import_finish(&run, want_buckets, want_records);
    if (e == CST_OK)
        e = cst_tstore_commit(run.t->ts, req->work);
    else
        cst_tstore_rollback(run.t->ts, req->work);
    TRY(e);
    cst_audit_info(req, "records", json_integer(run.records));
    cst_audit_info(req, "buckets_created", json_integer(run.created));
    cst_audit_info(req, "bytes", json_integer((json_int_t)sum.bytes));
    return cst_resp_json(req, 200,
                         json_pack("{s:I,s:I,s:I}", "buckets", (json_int_t)run.buckets,
                                   "buckets_created", (json_int_t)run.created, "records",
                                   (json_int_t)run.records));
}
