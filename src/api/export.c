/* export.c: POR-1. GET /v1/export streams a tenant's whole data as NDJSON in bounded memory:
 *
 *   {"type":"header","format":"custodia-export","version":1,"tenant":{...},"exported_at":...}
 *   {"type":"bucket","name":...,"retention_seconds":...,"class":...,"created_at":...}   (each)
 *   {"type":"record","bucket":...,"key":...,"content_type":...,"value":"<base64>",
 *    "created_at":...,"updated_at":...}                                                  (each)
 *   {"type":"manifest","buckets":B,"records":R,"value_bytes":V,"sha256":"<hex>"}
 *
 * where sha256 covers every byte before the manifest line. POST /v1/import loads such a
 * stream into the caller's tenant, in one transaction, only if the manifest matches. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "util/json.h"
#include "util/util.h"

#define PART_BYTES (256 * 1024)
#define FORMAT "custodia-export"

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

static void collect_bucket(const cst_bucket_row *b, void *p)
{
    json_array_append_new(p,
                          json_pack("{s:s,s:s,s:I,s:s,s:o}", "type", "bucket", "name", b->name,
                                    "retention_seconds", (json_int_t)b->retention_seconds, "class",
                                    b->cls, "created_at", cst_json_time(b->created_at)));
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
    size_t b64len = sodium_base64_encoded_len(x->value.len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len);
    if (!b64) {
        x->e = cst_fail(CST_ERR_INTERNAL, "out of memory");
        return false;
    }
    sodium_bin2base64(b64, b64len, x->value.data, x->value.len, sodium_base64_VARIANT_ORIGINAL);
    x->e = emit(x,
                json_pack("{s:s,s:s,s:s%,s:s,s:s,s:o,s:o}", "type", "record", "bucket", bucket,
                          "key", key, klen, "content_type", ctype, "value", b64, "created_at",
                          cst_json_time(r->created_at), "updated_at", cst_json_time(r->updated_at)),
                true);
    x->records++;
    x->value_bytes += (int64_t)x->value.len;
    sodium_memzero(b64, b64len);
    free(b64);
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
    cst_err e = cst_store_tenant_get(x->n->store, x->tenant.id, &row);
    if (e == CST_OK && (!strcmp(row.state, "pending_erase") || !strcmp(row.state, "erased")))
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
        TRY(emit(x,
                 json_pack("{s:s,s:s,s:i,s:{s:s,s:s,s:s,s:s},s:s,s:o}", "type", "header", "format",
                           FORMAT, "version", 1, "tenant", "id", x->tenant.id, "name",
                           x->tenant.name, "region", x->tenant.region, "plan", x->tenant.plan,
                           "node", x->n->node_id, "exported_at", cst_json_time(cst_now_us())),
                 true));
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
        TRY(cst_tstore_record_scan(x->t->ts, bucket, x->has_after ? x->after : NULL,
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
                 json_pack("{s:s,s:I,s:I,s:I,s:s}", "type", "manifest", "buckets",
                           (json_int_t)json_array_size(x->buckets), "records",
                           (json_int_t)x->records, "value_bytes", (json_int_t)x->value_bytes,
                           "sha256", hex),
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
    x->buckets = json_array();
    cst_buf_init(&x->value, SIZE_MAX);
    cst_tenant_ctx *t;
    cst_err e = cst_api_tenant(n, req, &t);
    if (e == CST_OK)
        e = cst_tstore_bucket_list(t->ts, collect_bucket, x->buckets);
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

static cst_err parse_line(const cst_buf *l, size_t no, json_t **out)
{
    json_error_t je;
    *out = json_loadb((const char *)l->data, l->len, JSON_REJECT_DUPLICATES, &je);
    ENSURE(*out && json_is_object(*out), CST_ERR_INVALID, "line %zu is not a JSON object: %s", no,
           *out ? "not an object" : je.text);
    return CST_OK;
}

static const char *type_of(const json_t *o)
{
    const char *t = json_string_value(json_object_get(o, "type"));
    return t ? t : "";
}

/* Before anything is written: the last line must be a manifest whose SHA-256 matches every
 * byte before it (computed while the upload was spooled). */
static cst_err check_manifest(const cst_spool_summary *sum, json_t **manifest)
{
    json_t *m =
        sum->last ? json_loadb(sum->last, sum->last_len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!m || strcmp(type_of(m), "manifest") != 0) {
        json_decref(m);
        return cst_fail(CST_ERR_INVALID,
                        "the export has no manifest line: it is truncated or not an export");
    }
    char hex[2 * CST_HASH_LEN + 1];
    cst_hex(sum->sha256_before_last, CST_HASH_LEN, hex);
    if (strcmp(json_string_value(json_object_get(m, "sha256")) ?: "", hex) != 0) {
        json_decref(m);
        return cst_fail(CST_ERR_INVALID,
                        "the export's SHA-256 does not match its manifest: it was altered or cut");
    }
    *manifest = m;
    return CST_OK;
}

static cst_err check_header(const json_t *o)
{
    ENSURE(strcmp(type_of(o), "header") == 0 &&
               strcmp(json_string_value(json_object_get(o, "format")) ?: "", FORMAT) == 0 &&
               json_integer_value(json_object_get(o, "version")) == 1,
           CST_ERR_INVALID, "line 1 must be the header of a custodia-export version 1");
    return CST_OK;
}

/* The failure e, its message prefixed with the line it is about. */
static cst_err at_line(cst_err e, size_t no)
{
    char why[300];
    (void)snprintf(why, sizeof(why), "%s", cst_err_message(e));
    return cst_fail(e, "line %zu: %s", no, why);
}

static cst_err import_bucket(cst_tenant_ctx *t, const json_t *o, int64_t now, size_t no,
                             int64_t *created)
{
    const char *name, *cls;
    int64_t retention;
    bool present;
    TRY(cst_json_str(o, "name", true, &name));
    TRY(cst_json_str(o, "class", true, &cls));
    TRY(cst_json_int(o, "retention_seconds", true, &retention, &present));
    cst_bucket_row b = {.retention_seconds = retention, .created_at = now, .updated_at = now};
    ENSURE(strlen(name) < sizeof(b.name) && strlen(cls) < sizeof(b.cls), CST_ERR_INVALID,
           "line %zu: bucket name must match [a-z0-9_-]{1,64}; class standard or billing", no);
    (void)snprintf(b.name, sizeof(b.name), "%s", name);
    (void)snprintf(b.cls, sizeof(b.cls), "%s", cls);
    /* RET-1, POR-1: the bucket routes' own validation (a retention past the maximum would
     * overflow the sweeper's cutoff) */
    cst_err e = cst_bucket_validate(&b);
    if (e != CST_OK)
        return at_line(e, no);
    e = cst_tstore_bucket_exists(t->ts, name);
    if (e == CST_OK)
        return CST_OK; /* an existing bucket keeps its settings */
    if (e != CST_ERR_NOT_FOUND)
        return e; /* storage failed (a full disk): not a missing bucket */
    cst_err_clear();
    TRY(cst_tstore_bucket_create(t->ts, &b));
    (*created)++;
    return CST_OK;
}

static cst_err import_record(cst_tenant_ctx *t, const json_t *o, size_t max_value, size_t no)
{
    const char *bucket, *key, *ctype, *b64, *c, *u;
    TRY(cst_json_str(o, "bucket", true, &bucket));
    TRY(cst_json_str(o, "key", true, &key));
    TRY(cst_json_str(o, "content_type", true, &ctype));
    TRY(cst_json_str(o, "value", true, &b64));
    TRY(cst_json_str(o, "created_at", true, &c));
    TRY(cst_json_str(o, "updated_at", true, &u));
    int64_t created, updated;
    ENSURE(cst_time_parse(c, &created) && cst_time_parse(u, &updated), CST_ERR_INVALID,
           "line %zu: created_at and updated_at must be RFC 3339 times", no);
    cst_err be = cst_tstore_bucket_exists(t->ts, bucket);
    ENSURE(be != CST_ERR_NOT_FOUND, CST_ERR_INVALID,
           "line %zu: record of a bucket the export does not declare", no);
    TRY(be);
    size_t len = strlen(b64), vlen = 0;
    uint8_t *v = malloc(len + 1);
    ENSURE(v != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = sodium_base642bin(v, len + 1, b64, len, NULL, &vlen, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) == 0
                    ? CST_OK
                    : cst_fail(CST_ERR_INVALID, "line %zu: value is not base64", no);
    size_t klen = json_string_length(json_object_get(o, "key"));
    if (e == CST_OK)
        e = cst_record_validate(key, klen, ctype, vlen, max_value, created, updated, cst_now_us());
    if (e != CST_OK)
        e = at_line(e, no);
    if (e == CST_OK)
        e = cst_record_store(t, bucket, key, klen, ctype, v, vlen, true, created, updated);
    sodium_memzero(v, len + 1);
    free(v);
    return e;
}

typedef struct import_run {
    cst_tenant_ctx *t;
    size_t max_value;
    int64_t now;
    int64_t buckets, records, created;
    bool manifest_seen;
} import_run;

static cst_err import_line(import_run *run, const cst_buf *l, size_t no)
{
    ENSURE(!run->manifest_seen, CST_ERR_INVALID, "line %zu follows the manifest", no);
    json_t *o = NULL;
    TRY(parse_line(l, no, &o));
    const char *type = type_of(o);
    cst_err e = CST_OK;
    if (no == 1)
        e = check_header(o);
    else if (!strcmp(type, "bucket")) {
        e = import_bucket(run->t, o, run->now, no, &run->created);
        run->buckets++;
    } else if (!strcmp(type, "record")) {
        e = import_record(run->t, o, run->max_value, no);
        run->records++;
    } else if (!strcmp(type, "manifest"))
        run->manifest_seen = true;
    else
        e = cst_fail(CST_ERR_INVALID, "line %zu has an unknown type", no);
    json_decref(o);
    return e;
}

/* Reads the spool back line by line into the caller's transaction. */
static cst_err import_lines(cst_spool *sp, import_run *run)
{
    cst_buf l;
    /* the longest line: a record of http.max_record_bytes in base64, with its key and fields */
    size_t max = run->max_value / 3 * 4 + 4 + 65536;
    cst_buf_init(&l, max);
    cst_err e = CST_OK;
    bool eof = false;
    for (size_t no = 1; e == CST_OK; no++) {
        e = cst_spool_line(sp, &l, max, &eof);
        if (e != CST_OK || eof)
            break;
        e = import_line(run, &l, no);
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
    json_t *manifest = NULL;
    TRY(check_manifest(&sum, &manifest));
    import_run run = {.max_value = n->cfg.max_record_bytes, .now = cst_now_us()};
    int64_t want_buckets = json_integer_value(json_object_get(manifest, "buckets"));
    int64_t want_records = json_integer_value(json_object_get(manifest, "records"));
    json_decref(manifest);
    TRY(cst_api_tenant(n, req, &run.t));
    TRY(cst_tstore_begin(run.t->ts));
    /* all or nothing: one transaction */
    cst_err e = import_lines(sp, &run);
    if (e == CST_OK && (run.buckets != want_buckets || run.records != want_records))
        e = cst_fail(CST_ERR_INVALID,
                     "the export holds %lld buckets and %lld records; its manifest says %lld "
                     "and %lld",
                     (long long)run.buckets, (long long)run.records, (long long)want_buckets,
                     (long long)want_records);
    if (e == CST_OK)
        e = cst_tstore_commit(run.t->ts);
    else
        cst_tstore_rollback(run.t->ts);
    TRY(e);
    cst_audit_info(req, "records", json_integer(run.records));
    cst_audit_info(req, "buckets_created", json_integer(run.created));
    cst_audit_info(req, "bytes", json_integer((json_int_t)sum.bytes));
    return cst_resp_json(req, 200,
                         json_pack("{s:I,s:I,s:I}", "buckets", (json_int_t)run.buckets,
                                   "buckets_created", (json_int_t)run.created, "records",
                                   (json_int_t)run.records));
}
