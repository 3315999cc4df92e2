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
#include "http/json.h"
#include "util/util.h"

#define PART_BYTES (256 * 1024)
#define FORMAT "custodia-export"

typedef struct export_state {
    cst_node *n;
    cst_tenant_ctx *t;
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
    char key[CST_PARAM_MAX + 1], ctype[128];
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

static cst_err export_fill(void *ctx, cst_buf *out, bool *done)
{
    export_state *x = ctx;
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
    cst_node_tenant_release(x->n, x->t);
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
    cst_err e = cst_node_tenant_acquire(n, req->who.tenant.id, &x->t);
    if (e == CST_OK)
        e = cst_tstore_bucket_list(x->t->ts, collect_bucket, x->buckets);
    if (e == CST_OK)
        e = cst_sha256_init(&x->sha);
    if (e != CST_OK) {
        if (x->t)
            cst_node_tenant_release(n, x->t);
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

typedef struct line {
    const char *p;
    size_t n;
} line;

static bool next_line(const cst_buf *b, size_t *off, line *l)
{
    if (*off >= b->len)
        return false;
    const char *s = (const char *)b->data + *off;
    const char *nl = memchr(s, '\n', b->len - *off);
    l->p = s;
    l->n = nl ? (size_t)(nl - s) : b->len - *off;
    *off += l->n + (nl ? 1 : 0);
    return true;
}

static cst_err parse_line(const line *l, size_t no, json_t **out)
{
    json_error_t je;
    *out = json_loadb(l->p, l->n, JSON_REJECT_DUPLICATES, &je);
    ENSURE(*out && json_is_object(*out), CST_ERR_INVALID, "line %zu is not a JSON object: %s", no,
           *out ? "not an object" : je.text);
    return CST_OK;
}

static const char *type_of(const json_t *o)
{
    const char *t = json_string_value(json_object_get(o, "type"));
    return t ? t : "";
}

/* Pass one: the manifest must be the last line and match the lines before it. */
static cst_err check_manifest(const cst_buf *b, int64_t *buckets, int64_t *records)
{
    cst_sha256_ctx sha;
    TRY(cst_sha256_init(&sha));
    size_t off = 0, no = 0;
    line l;
    json_t *manifest = NULL;
    cst_err e = CST_OK;
    *buckets = *records = 0;
    while (e == CST_OK && next_line(b, &off, &l)) {
        no++;
        ENSURE(!manifest, CST_ERR_INVALID, "line %zu follows the manifest", no);
        json_t *o = NULL;
        /* cheap type probe: only the manifest and the header are parsed in this pass */
        bool is_manifest = memmem(l.p, l.n, "\"type\":\"manifest\"", 17) != NULL;
        if (is_manifest) {
            e = parse_line(&l, no, &o);
            if (e == CST_OK && strcmp(type_of(o), "manifest") == 0)
                manifest = o;
            else
                json_decref(o);
            if (manifest)
                continue;
        }
        if (no == 1) {
            e = parse_line(&l, no, &o);
            if (e == CST_OK &&
                (strcmp(type_of(o), "header") != 0 ||
                 strcmp(json_string_value(json_object_get(o, "format")) ?: "", FORMAT) != 0 ||
                 json_integer_value(json_object_get(o, "version")) != 1))
                e = cst_fail(CST_ERR_INVALID,
                             "line 1 must be the header of a custodia-export version 1");
            json_decref(o);
        }
        if (memmem(l.p, l.n, "\"type\":\"bucket\"", 15))
            (*buckets)++;
        else if (memmem(l.p, l.n, "\"type\":\"record\"", 15))
            (*records)++;
        cst_sha256_update(&sha, l.p, l.n);
        cst_sha256_update(&sha, "\n", 1);
    }
    uint8_t h[CST_HASH_LEN];
    char hex[2 * CST_HASH_LEN + 1];
    cst_sha256_final(&sha, h);
    cst_hex(h, sizeof(h), hex);
    if (e == CST_OK && !manifest)
        e = cst_fail(CST_ERR_INVALID,
                     "the export has no manifest line: it is truncated or not an export");
    if (e == CST_OK &&
        strcmp(json_string_value(json_object_get(manifest, "sha256")) ?: "", hex) != 0)
        e = cst_fail(CST_ERR_INVALID,
                     "the export's SHA-256 does not match its manifest: it was altered or cut");
    if (e == CST_OK && (json_integer_value(json_object_get(manifest, "buckets")) != *buckets ||
                        json_integer_value(json_object_get(manifest, "records")) != *records))
        e = cst_fail(CST_ERR_INVALID,
                     "the export holds %lld buckets and %lld records; its manifest says %lld "
                     "and %lld",
                     (long long)*buckets, (long long)*records,
                     (long long)json_integer_value(json_object_get(manifest, "buckets")),
                     (long long)json_integer_value(json_object_get(manifest, "records")));
    json_decref(manifest);
    return e;
}

static cst_err import_bucket(cst_tenant_ctx *t, const json_t *o, int64_t now, int64_t *created)
{
    const char *name, *cls;
    int64_t retention;
    bool present;
    TRY(cst_json_str(o, "name", true, &name));
    TRY(cst_api_check_name("bucket name", name));
    TRY(cst_json_str(o, "class", true, &cls));
    ENSURE(!strcmp(cls, "standard") || !strcmp(cls, "billing"), CST_ERR_INVALID,
           "bucket class must be standard or billing");
    TRY(cst_json_int(o, "retention_seconds", true, &retention, &present));
    ENSURE(retention >= 0, CST_ERR_INVALID, "retention_seconds must not be negative");
    cst_err e = cst_tstore_bucket_exists(t->ts, name);
    if (e == CST_OK)
        return CST_OK; /* an existing bucket keeps its settings */
    cst_err_clear();
    cst_bucket_row b = {.retention_seconds = retention, .created_at = now, .updated_at = now};
    (void)snprintf(b.name, sizeof(b.name), "%s", name);
    (void)snprintf(b.cls, sizeof(b.cls), "%s", cls);
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
    ENSURE(cst_tstore_bucket_exists(t->ts, bucket) == CST_OK, CST_ERR_INVALID,
           "line %zu: record of a bucket the export does not declare", no);
    size_t len = strlen(b64), vlen = 0;
    uint8_t *v = malloc(len + 1);
    ENSURE(v != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = sodium_base642bin(v, len + 1, b64, len, NULL, &vlen, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) == 0
                    ? CST_OK
                    : cst_fail(CST_ERR_INVALID, "line %zu: value is not base64", no);
    if (e == CST_OK && vlen > max_value)
        e = cst_fail(CST_ERR_TOO_LARGE, "line %zu: the value exceeds http.max_record_bytes", no);
    if (e == CST_OK)
        e = cst_record_store(t, bucket, key, json_string_length(json_object_get(o, "key")), ctype,
                             v, vlen, true, created, updated);
    sodium_memzero(v, len + 1);
    free(v);
    return e;
}

cst_err cst_api_import(cst_node *n, cst_request *req)
{
    int64_t buckets, records;
    TRY(check_manifest(&req->body, &buckets, &records));
    cst_tenant_ctx *t;
    TRY(cst_api_tenant(n, req, &t));
    int64_t now = cst_now_us(), created = 0, imported = 0;
    TRY(cst_tstore_begin(t->ts));
    size_t off = 0, no = 0;
    line l;
    cst_err e = CST_OK;
    while (e == CST_OK && next_line(&req->body, &off, &l)) {
        json_t *o = NULL;
        no++;
        e = parse_line(&l, no, &o);
        const char *type = e == CST_OK ? type_of(o) : "";
        if (e == CST_OK && !strcmp(type, "bucket"))
            e = import_bucket(t, o, now, &created);
        else if (e == CST_OK && !strcmp(type, "record")) {
            e = import_record(t, o, n->cfg.max_record_bytes, no);
            imported += e == CST_OK;
        } else if (e == CST_OK && strcmp(type, "header") && strcmp(type, "manifest"))
            e = cst_fail(CST_ERR_INVALID, "line %zu has an unknown type", no);
        json_decref(o);
    }
    if (e == CST_OK && imported != records)
        e = cst_fail(CST_ERR_INVALID, "the export's lines do not match its manifest");
    if (e == CST_OK)
        e = cst_tstore_commit(t->ts);
    else
        cst_tstore_rollback(t->ts);
    TRY(e);
    cst_audit_info(req, "records", json_integer(imported));
    cst_audit_info(req, "buckets_created", json_integer(created));
    return cst_resp_json(req, 200,
                         json_pack("{s:I,s:I,s:I}", "buckets", (json_int_t)buckets,
                                   "buckets_created", (json_int_t)created, "records",
                                   (json_int_t)imported));
}
