/* portability.c: POR-1. The lines of an export, and the import: manifest check, line parser
 * (no request, no store) and applying each line to a tenant. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bucket.h"
#include "core/portability.h"
#include "core/record.h"
#include "util/json.h"
#include "util/util.h"

/* ---- export ---- */

json_t *cst_export_header_line(const cst_tenant_row *t, const char *node_id, int64_t now)
{
    return json_pack("{s:s,s:s,s:i,s:{s:s,s:s,s:s,s:s},s:s,s:o}", "type", "header", "format",
                     CST_EXPORT_FORMAT, "version", CST_EXPORT_VERSION, "tenant", "id", t->id,
                     "name", t->name, "region", t->region, "plan", t->plan, "node", node_id,
                     "exported_at", cst_json_time(now));
}

json_t *cst_export_bucket_line(const cst_bucket_row *b)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:o}", "type", "bucket", "name", b->name,
                     "retention_seconds", (json_int_t)b->retention_seconds, "class", b->cls,
                     "created_at", cst_json_time(b->created_at));
}

json_t *cst_export_record_line(const char *bucket, const char *key, size_t key_len,
                               const char *ctype, const uint8_t *value, size_t value_len,
                               const cst_record_row *r)
{
    size_t b64len = sodium_base64_encoded_len(value_len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64len);
    if (!b64)
        return NULL;
    sodium_bin2base64(b64, b64len, value, value_len, sodium_base64_VARIANT_ORIGINAL);
    json_t *line =
        json_pack("{s:s,s:s,s:s%,s:s,s:s,s:o,s:o}", "type", "record", "bucket", bucket, "key", key,
                  key_len, "content_type", ctype, "value", b64, "created_at",
                  cst_json_time(r->created_at), "updated_at", cst_json_time(r->updated_at));
    sodium_memzero(b64, b64len);
    free(b64);
    return line;
}

json_t *cst_export_manifest_line(int64_t buckets, int64_t records, int64_t value_bytes,
                                 const char *sha256_hex)
{
    return json_pack("{s:s,s:I,s:I,s:I,s:s}", "type", "manifest", "buckets", (json_int_t)buckets,
                     "records", (json_int_t)records, "value_bytes", (json_int_t)value_bytes,
                     "sha256", sha256_hex);
}

/* ---- import: parsing ---- */

size_t cst_import_line_max(size_t max_value)
{
    return max_value / 3 * 4 + 4 + 65536;
}

static const char *type_of(const json_t *o)
{
    const char *t = json_string_value(json_object_get(o, "type"));
    return t ? t : "";
}

cst_err cst_import_manifest(const char *last, size_t last_len, const uint8_t sha256_before_last[32],
                            int64_t *want_buckets, int64_t *want_records)
{
    json_t *m = last ? json_loadb(last, last_len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!m || strcmp(type_of(m), "manifest") != 0) {
        json_decref(m);
        return cst_fail(CST_ERR_INVALID,
                        "the export has no manifest line: it is truncated or not an export");
    }
    char hex[2 * CST_HASH_LEN + 1];
    cst_hex(sha256_before_last, CST_HASH_LEN, hex);
    if (strcmp(json_string_value(json_object_get(m, "sha256")) ?: "", hex) != 0) {
        json_decref(m);
        return cst_fail(CST_ERR_INVALID,
                        "the export's SHA-256 does not match its manifest: it was altered or cut");
    }
    *want_buckets = json_integer_value(json_object_get(m, "buckets"));
    *want_records = json_integer_value(json_object_get(m, "records"));
    json_decref(m);
    return CST_OK;
}

/* The failure e, its message prefixed with the line it is about. */
static cst_err at_line(cst_err e, size_t no)
{
    char why[300];
    (void)snprintf(why, sizeof(why), "%s", cst_err_message(e));
    return cst_fail(e, "line %zu: %s", no, why);
}

static cst_err parse_header(const json_t *o)
{
    ENSURE(strcmp(type_of(o), "header") == 0 &&
               strcmp(json_string_value(json_object_get(o, "format")) ?: "", CST_EXPORT_FORMAT) ==
                   0 &&
               json_integer_value(json_object_get(o, "version")) == CST_EXPORT_VERSION,
           CST_ERR_INVALID, "line 1 must be the header of a custodia-export version 1");
    return CST_OK;
}

static cst_err parse_bucket(const json_t *o, size_t no, cst_bucket_row *b)
{
    const char *name, *cls;
    int64_t retention;
    bool present;
    TRY(cst_json_str(o, "name", true, &name));
    TRY(cst_json_str(o, "class", true, &cls));
    TRY(cst_json_int(o, "retention_seconds", true, &retention, &present));
    memset(b, 0, sizeof(*b));
    b->retention_seconds = retention;
    ENSURE(strlen(name) < sizeof(b->name) && strlen(cls) < sizeof(b->cls), CST_ERR_INVALID,
           "line %zu: bucket name must match [a-z0-9_-]{1,64}; class standard or billing", no);
    (void)snprintf(b->name, sizeof(b->name), "%s", name);
    (void)snprintf(b->cls, sizeof(b->cls), "%s", cls);
    /* RET-1, POR-1: the bucket routes' own validation (a retention past the maximum would
     * overflow the sweeper's cutoff) */
    cst_err e = cst_bucket_validate(b);
    return e == CST_OK ? CST_OK : at_line(e, no);
}

static cst_err decode_value(const char *b64, size_t no, cst_import_line *l)
{
    size_t len = strlen(b64);
    l->value = malloc(len + 1);
    ENSURE(l->value != NULL, CST_ERR_INTERNAL, "out of memory");
    l->value_cap = len + 1;
    ENSURE(sodium_base642bin(l->value, len + 1, b64, len, NULL, &l->value_len, NULL,
                             sodium_base64_VARIANT_ORIGINAL) == 0,
           CST_ERR_INVALID, "line %zu: value is not base64", no);
    return CST_OK;
}

static cst_err parse_record(const json_t *o, size_t no, const cst_import_rules *rules,
                            cst_import_line *l)
{
    const char *b64, *c, *u;
    TRY(cst_json_str(o, "bucket", true, &l->rec_bucket));
    TRY(cst_json_str(o, "key", true, &l->key));
    TRY(cst_json_str(o, "content_type", true, &l->content_type));
    TRY(cst_json_str(o, "value", true, &b64));
    TRY(cst_json_str(o, "created_at", true, &c));
    TRY(cst_json_str(o, "updated_at", true, &u));
    ENSURE(cst_time_parse(c, &l->created_at) && cst_time_parse(u, &l->updated_at), CST_ERR_INVALID,
           "line %zu: created_at and updated_at must be RFC 3339 times", no);
    cst_err be =
        rules->bucket_known ? rules->bucket_known(rules->bucket_ctx, l->rec_bucket) : CST_OK;
    ENSURE(be != CST_ERR_NOT_FOUND, CST_ERR_INVALID,
           "line %zu: record of a bucket the export does not declare", no);
    TRY(be);
    TRY(decode_value(b64, no, l));
    l->key_len = json_string_length(json_object_get(o, "key"));
    cst_err e = cst_record_validate(l->key, l->key_len, l->content_type, l->value_len,
                                    rules->max_value, l->created_at, l->updated_at, rules->now);
    return e == CST_OK ? CST_OK : at_line(e, no);
}

static cst_err parse_kind(const json_t *o, size_t no, const cst_import_rules *rules,
                          cst_import_line *l)
{
    const char *type = type_of(o);
    if (no == 1) {
        l->kind = CST_IMPORT_HEADER;
        return parse_header(o);
    }
    if (!strcmp(type, "bucket")) {
        l->kind = CST_IMPORT_BUCKET;
        return parse_bucket(o, no, &l->bucket);
    }
    if (!strcmp(type, "record")) {
        l->kind = CST_IMPORT_RECORD;
        return parse_record(o, no, rules, l);
    }
    ENSURE(!strcmp(type, "manifest"), CST_ERR_INVALID, "line %zu has an unknown type", no);
    l->kind = CST_IMPORT_MANIFEST;
    return CST_OK;
}

cst_err cst_import_parse_line(const char *line, size_t len, size_t no,
                              const cst_import_rules *rules, cst_import_line *out)
{
    json_error_t je;
    memset(out, 0, sizeof(*out));
    out->doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    cst_err e = out->doc && json_is_object(out->doc)
                    ? parse_kind(out->doc, no, rules, out)
                    : cst_fail(CST_ERR_INVALID, "line %zu is not a JSON object: %s", no,
                               out->doc ? "not an object" : je.text);
    if (e != CST_OK)
        cst_import_line_free(out);
    return e;
}

void cst_import_line_free(cst_import_line *l)
{
    if (l->value) {
        sodium_memzero(l->value, l->value_cap);
        free(l->value);
    }
    json_decref(l->doc);
    memset(l, 0, sizeof(*l));
}

/* ---- import: applying ---- */

static cst_err bucket_exists(void *ctx, const char *bucket)
{
    const cst_import *run = ctx;
    return cst_tstore_bucket_exists(run->t->ts, run->w, bucket);
}

static cst_err apply_bucket(cst_import *run, cst_bucket_row *b)
{
    cst_err e = cst_tstore_bucket_exists(run->t->ts, run->w, b->name);
    if (e == CST_OK)
        return CST_OK; /* an existing bucket keeps its settings */
    if (e != CST_ERR_NOT_FOUND)
        return e; /* storage failed (a full disk): not a missing bucket */
    cst_err_clear();
    b->created_at = b->updated_at = run->now;
    TRY(cst_tstore_bucket_create(run->t->ts, run->w, b));
    run->created++;
    return CST_OK;
}

static cst_err apply(cst_import *run, cst_import_line *l)
{
    switch (l->kind) {
    case CST_IMPORT_HEADER:
        return CST_OK;
    case CST_IMPORT_BUCKET:
        run->buckets++;
        return apply_bucket(run, &l->bucket);
    case CST_IMPORT_RECORD:
        run->records++;
        return cst_record_store(run->t, run->w, l->rec_bucket, l->key, l->key_len, l->content_type,
                                l->value, l->value_len, true, l->created_at, l->updated_at);
    case CST_IMPORT_MANIFEST:
        run->manifest_seen = true;
        return CST_OK;
    default:
        return cst_fail(CST_ERR_INTERNAL, "unknown import line kind");
    }
}

cst_err cst_import_line_apply(cst_import *run, const char *line, size_t len, size_t no)
{
    ENSURE(!run->manifest_seen, CST_ERR_INVALID, "line %zu follows the manifest", no);
    cst_import_rules rules = {run->max_value, cst_now_us(), bucket_exists, run};
    cst_import_line l;
    TRY(cst_import_parse_line(line, len, no, &rules, &l));
    cst_err e = apply(run, &l);
    cst_import_line_free(&l);
    return e;
}

cst_err cst_import_finish(const cst_import *run, int64_t want_buckets, int64_t want_records)
{
    ENSURE(run->buckets == want_buckets && run->records == want_records, CST_ERR_INVALID,
           "the export holds %lld buckets and %lld records; its manifest says %lld and %lld",
           (long long)run->buckets, (long long)run->records, (long long)want_buckets,
           (long long)want_records);
    return CST_OK;
}
