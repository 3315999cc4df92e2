/* record.c: records (ENC-1). Values, keys and content types are sealed per record under the
 * tenant's DEK; records are found through the blind index; versions order writes and back
 * preconditions. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/record.h"
#include "util/json.h"
#include "util/util.h"

cst_err cst_record_key_check(const char *key, size_t len)
{
    ENSURE(len >= 1 && len <= CST_RECORD_KEY_MAX, CST_ERR_INVALID, "record key must be 1-%d bytes",
           CST_RECORD_KEY_MAX);
    ENSURE(cst_utf8_valid((const uint8_t *)key, len), CST_ERR_INVALID,
           "record key must be valid UTF-8");
    ENSURE(!cst_has_control((const uint8_t *)key, len), CST_ERR_INVALID,
           "record key must not contain control characters");
    return CST_OK;
}

static cst_err ctype_check(const char *ct)
{
    size_t len = strlen(ct);
    ENSURE(len >= 1 && len <= CST_CTYPE_MAX, CST_ERR_INVALID, "content type must be 1-%d bytes",
           CST_CTYPE_MAX);
    for (const char *c = ct; *c; c++)
        ENSURE(*c >= 0x20 && *c < 0x7f, CST_ERR_INVALID, "content type must be printable ASCII");
    return CST_OK;
}

cst_err cst_record_validate(const char *key, size_t key_len, const char *ctype, size_t value_len,
                            size_t max_value, int64_t created_at, int64_t updated_at, int64_t now)
{
    TRY(cst_record_key_check(key, key_len));
    TRY(ctype_check(ctype));
    ENSURE(value_len <= max_value, CST_ERR_TOO_LARGE,
           "the value has %zu bytes; http.max_record_bytes allows %zu", value_len, max_value);
    ENSURE(created_at >= 0 && updated_at >= 0, CST_ERR_INVALID,
           "created_at and updated_at must not be before 1970");
    /* RET-1: a time in the future would keep the record past its retention */
    ENSURE(created_at <= now + CST_CLOCK_SKEW_US && updated_at <= now + CST_CLOCK_SKEW_US,
           CST_ERR_INVALID, "created_at and updated_at must not be in the future");
    ENSURE(!created_at || !updated_at || created_at <= updated_at, CST_ERR_INVALID,
           "created_at must not be after updated_at");
    return CST_OK;
}

void cst_record_etag(uint64_t version, char out[32])
{
    (void)snprintf(out, 32, "\"%llu\"", (unsigned long long)version);
}

cst_err cst_record_etag_parse(const char *s, int64_t *version)
{
    char *end;
    ENSURE(s[0] == '"', CST_ERR_INVALID, "ETag must be a quoted version such as \"12\"");
    long long v = strtoll(s + 1, &end, 10);
    ENSURE(end != s + 1 && end[0] == '"' && end[1] == '\0' && v > 0, CST_ERR_INVALID,
           "ETag must be a quoted version such as \"12\"");
    *version = v;
    return CST_OK;
}

static cst_err check_precond(const cst_record_precond *pc, bool exists, uint64_t version)
{
    if (pc->if_match == CST_PRECOND_ABSENT)
        ENSURE(!exists, CST_ERR_PRECONDITION, "the record exists (If-None-Match: *)");
    else if (pc->if_match == CST_PRECOND_EXISTS)
        ENSURE(exists, CST_ERR_PRECONDITION, "the record does not exist (If-Match: *)");
    else if (pc->if_match > 0)
        ENSURE(exists && version == (uint64_t)pc->if_match, CST_ERR_PRECONDITION,
               "the record's ETag is not the one given in If-Match");
    return CST_OK;
}

static cst_err seal_field(const cst_tenant_ctx *t, const cst_key *dek, char field,
                          const char *bucket, const cst_record_row *r, const uint8_t *pt, size_t n,
                          cst_buf *out)
{
    cst_buf aad;
    cst_buf_init(&aad, 512);
    cst_err e = cst_aad_record(&aad, field, t->id, bucket, r->bidx, r->version);
    if (e == CST_OK)
        e = cst_seal(dek, &aad, pt, n, out);
    cst_buf_free(&aad);
    return e;
}

static cst_err open_field(const cst_tenant_ctx *t, char field, const char *bucket,
                          const cst_record_row *r, const cst_buf *blob, cst_buf *out)
{
    const cst_key *dek = cst_dek_get(&t->deks, r->dek_version);
    ENSURE(dek != NULL, CST_ERR_INTEGRITY, "record sealed under an unknown key version");
    cst_buf aad;
    cst_buf_init(&aad, 512);
    cst_err e = cst_aad_record(&aad, field, t->id, bucket, r->bidx, r->version);
    if (e == CST_OK)
        e = cst_open(dek, &aad, blob->data, blob->len, out);
    cst_buf_free(&aad);
    if (e == CST_ERR_INTEGRITY)
        cst_error("integrity: tenant %s bucket %s: a record failed authentication (version %llu)",
                  t->id, bucket, (unsigned long long)r->version);
    return e;
}

static cst_err open_meta(const cst_tenant_ctx *t, const char *bucket, const cst_record_row *r,
                         cst_record_meta *m)
{
    cst_buf pt;
    cst_buf_init(&pt, 1 << 16);
    cst_reader rd;
    const uint8_t *k, *c;
    size_t kl, cl;
    cst_err e = open_field(t, 'm', bucket, r, &r->meta, &pt);
    if (e == CST_OK) {
        cst_reader_init(&rd, pt.data, pt.len);
        e = cst_reader_lv16(&rd, &k, &kl);
        if (e == CST_OK)
            e = cst_reader_lv16(&rd, &c, &cl);
        if (e == CST_OK && (kl > CST_RECORD_KEY_MAX || cl > CST_CTYPE_MAX || cst_reader_left(&rd)))
            e = cst_fail(CST_ERR_INTEGRITY, "damaged record metadata");
    }
    if (e == CST_OK) {
        memcpy(m->key, k, kl);
        m->key[kl] = '\0';
        m->key_len = kl;
        memcpy(m->ctype, c, cl);
        m->ctype[cl] = '\0';
    }
    cst_buf_wipe_free(&pt);
    return e;
}

cst_err cst_record_check(const cst_tenant_ctx *t, const char *bucket, const cst_record_row *r)
{
    cst_record_meta m;
    cst_buf pt;
    cst_buf_init(&pt, SIZE_MAX);
    cst_err e = open_meta(t, bucket, r, &m);
    if (e == CST_OK)
        e = open_field(t, 'v', bucket, r, &r->value, &pt);
    cst_buf_wipe_free(&pt);
    sodium_memzero(&m, sizeof(m));
    return e;
}

/* ENC-4: the record's fields opened under their DEK version and sealed again under the current
 * one, the record version (and so the AAD) unchanged. */
cst_err cst_record_reseal(cst_tenant_ctx *t, const char *bucket, cst_record_row *r)
{
    cst_buf meta, value, nm, nv;
    cst_buf_init(&meta, 1 << 16);
    cst_buf_init(&value, SIZE_MAX);
    cst_buf_init(&nm, 1 << 16);
    cst_buf_init(&nv, SIZE_MAX);
    uint32_t to = 0;
    cst_err e = open_field(t, 'm', bucket, r, &r->meta, &meta);
    if (e == CST_OK)
        e = open_field(t, 'v', bucket, r, &r->value, &value);
    const cst_key *dek = e == CST_OK ? cst_dek_use(&t->deks, &to, 2) : NULL;
    if (e == CST_OK && !dek)
        e = cst_fail(CST_ERR_INTERNAL, "the tenant's current DEK is not held");
    if (e == CST_OK)
        e = seal_field(t, dek, 'm', bucket, r, meta.data, meta.len, &nm);
    if (e == CST_OK)
        e = seal_field(t, dek, 'v', bucket, r, value.data, value.len, &nv);
    if (e == CST_OK) {
        cst_buf tmp = r->meta;
        r->meta = nm;
        nm = tmp;
        tmp = r->value;
        r->value = nv;
        nv = tmp;
        r->dek_version = to;
    }
    cst_buf_wipe_free(&meta);
    cst_buf_wipe_free(&value);
    cst_buf_free(&nm);
    cst_buf_free(&nv);
    return e;
}

/* Seals and writes one record inside the caller's transaction: checks the precondition
 * against the current row, takes the next version, seals key, content type and value. */
cst_err cst_record_write(cst_tenant_ctx *t, cst_work *w, const char *bucket, const char *key,
                         size_t key_len, const char *ctype, const uint8_t *value, size_t value_len,
                         const cst_record_precond *pc, cst_record_row *r, bool *created,
                         int64_t created_at, int64_t updated_at)
{
    cst_record_row old;
    cst_record_row_init(&old);
    cst_blind_index(&t->idx, bucket, (const uint8_t *)key, key_len, r->bidx);
    cst_err e = cst_tstore_record_get(t->ts, w, bucket, r->bidx, false, &old);
    bool exists = e == CST_OK;
    if (e == CST_ERR_NOT_FOUND)
        e = CST_OK;
    if (e == CST_OK)
        e = check_precond(pc, exists, old.version);
    if (e == CST_OK)
        e = cst_tstore_next_version(t->ts, w, &r->version);
    cst_buf meta;
    cst_buf_init(&meta, 1 << 16);
    if (e == CST_OK)
        e = cst_buf_append_lv16(&meta, key, key_len);
    if (e == CST_OK)
        e = cst_buf_append_lv16(&meta, ctype, strlen(ctype));
    r->meta.len = r->value.len = 0;
    /* ENC-4: the current DEK version, two encryptions (metadata and value) counted */
    const cst_key *dek = cst_dek_use(&t->deks, &r->dek_version, 2);
    if (e == CST_OK && !dek)
        e = cst_fail(CST_ERR_INTERNAL, "the tenant's current DEK is not held");
    r->size = (int64_t)value_len;
    r->updated_at = updated_at ? updated_at : cst_now_us();
    r->created_at = created_at ? created_at : exists ? old.created_at : r->updated_at;
    if (e == CST_OK)
        e = seal_field(t, dek, 'm', bucket, r, meta.data, meta.len, &r->meta);
    if (e == CST_OK)
        e = seal_field(t, dek, 'v', bucket, r, value, value_len, &r->value);
    if (e == CST_OK)
        e = cst_tstore_record_write(t->ts, w, bucket, r);
    cst_buf_wipe_free(&meta);
    cst_record_row_free(&old);
    *created = !exists;
    return e;
}

cst_err cst_record_open(const cst_tenant_ctx *t, const char *bucket, const cst_record_row *r,
                        char *key, size_t *key_len, char *ctype, cst_buf *value)
{
    cst_record_meta m;
    cst_err e = open_meta(t, bucket, r, &m);
    if (e == CST_OK)
        e = open_field(t, 'v', bucket, r, &r->value, value);
    if (e == CST_OK) {
        memcpy(key, m.key, m.key_len + 1);
        *key_len = m.key_len;
        memcpy(ctype, m.ctype, strlen(m.ctype) + 1);
    }
    sodium_memzero(&m, sizeof(m));
    return e;
}

cst_err cst_record_store(cst_tenant_ctx *t, cst_work *w, const char *bucket, const char *key,
                         size_t key_len, const char *ctype, const uint8_t *value, size_t value_len,
                         bool must_be_new, int64_t created_at, int64_t updated_at)
{
    TRY(cst_record_validate(key, key_len, ctype, value_len, SIZE_MAX, created_at, updated_at,
                            cst_now_us()));
    cst_record_precond pc = {.if_match = must_be_new ? CST_PRECOND_ABSENT : CST_PRECOND_NONE};
    cst_record_row r;
    cst_record_row_init(&r);
    bool created = false;
    /* an import or a copy keeps the original times, so retention counts from them */
    cst_err e = cst_record_write(t, w, bucket, key, key_len, ctype, value, value_len, &pc, &r,
                                 &created, created_at, updated_at);
    if (e == CST_ERR_PRECONDITION)
        e = cst_fail(CST_ERR_CONFLICT, "record %.*s already exists in bucket %s", (int)key_len, key,
                     bucket);
    cst_record_row_free(&r);
    return e;
}

json_t *cst_record_json(const char *key, size_t key_len, const char *ctype, const cst_record_row *r)
{
    char etag[32], c[32], u[32];
    cst_record_etag(r->version, etag);
    cst_time_format(r->created_at, c);
    cst_time_format(r->updated_at, u);
    return json_pack("{s:s%,s:s,s:I,s:I,s:s,s:s,s:s}", "key", key, key_len, "content_type", ctype,
                     "size", (json_int_t)r->size, "version", (json_int_t)r->version, "etag", etag,
                     "created_at", c, "updated_at", u);
}

typedef struct list_ctx {
    const cst_tenant_ctx *t;
    const char *bucket;
    const char *prefix;
    size_t prefix_len;
    int limit;
    json_t *items;
    cst_err err;
} list_ctx;

static bool list_one(const cst_record_row *r, void *p)
{
    list_ctx *lc = p;
    cst_record_meta m;
    lc->err = open_meta(lc->t, lc->bucket, r, &m);
    if (lc->err != CST_OK)
        return false;
    if (m.key_len >= lc->prefix_len && memcmp(m.key, lc->prefix, lc->prefix_len) == 0)
        json_array_append_new(lc->items, cst_record_json(m.key, m.key_len, m.ctype, r));
    sodium_memzero(&m, sizeof(m));
    return json_array_size(lc->items) < (size_t)lc->limit;
}

cst_err cst_record_list(const cst_tenant_ctx *t, cst_work *w, const char *bucket,
                        const char *prefix, const char *after, int limit, json_t *items)
{
    uint8_t after_bidx[CST_HASH_LEN];
    if (after)
        cst_blind_index(&t->idx, bucket, (const uint8_t *)after, strlen(after), after_bidx);
    list_ctx lc = {t, bucket, prefix, strlen(prefix), limit, items, CST_OK};
    TRY(cst_tstore_record_scan(t->ts, w, bucket, after ? after_bidx : NULL, 0, list_one, &lc));
    return lc.err;
}

cst_err cst_record_get(const cst_tenant_ctx *t, cst_work *w, const char *bucket, const char *key,
                       size_t key_len, cst_record_row *r, cst_record_meta *meta, cst_buf *value)
{
    uint8_t bidx[CST_HASH_LEN];
    cst_blind_index(&t->idx, bucket, (const uint8_t *)key, key_len, bidx);
    TRY(cst_tstore_record_get(t->ts, w, bucket, bidx, true, r));
    TRY(open_meta(t, bucket, r, meta));
    ENSURE(meta->key_len == key_len && memcmp(meta->key, key, key_len) == 0, CST_ERR_INTEGRITY,
           "stored data failed its integrity check");
    return open_field(t, 'v', bucket, r, &r->value, value);
}

cst_err cst_record_remove(cst_tenant_ctx *t, cst_work *w, const char *bucket, const char *key,
                          size_t key_len, const cst_record_precond *pc)
{
    cst_record_row r;
    cst_record_row_init(&r);
    cst_blind_index(&t->idx, bucket, (const uint8_t *)key, key_len, r.bidx);
    cst_err e = cst_tstore_record_get(t->ts, w, bucket, r.bidx, false, &r);
    if (e == CST_OK)
        e = check_precond(pc, true, r.version);
    if (e == CST_OK)
        e = cst_tstore_record_delete(t->ts, w, bucket, r.bidx);
    cst_record_row_free(&r);
    return e;
}

void cst_batch_free(cst_batch_op *ops, size_t n)
{
    if (!ops)
        return;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].value) {
            sodium_memzero(ops[i].value, ops[i].value_len);
            free(ops[i].value);
        }
    }
    free(ops);
}

static cst_err parse_op(const json_t *o, size_t i, size_t max_value, cst_batch_op *op)
{
    static const char *const fields[] = {"op",       "key",           "value", "content_type",
                                         "if_match", "if_none_match", NULL};
    const char *kind, *key, *value, *ctype, *if_match, *if_none;
    ENSURE(json_is_object(o), CST_ERR_INVALID, "operations[%zu] must be an object", i);
    TRY(cst_json_only(o, fields));
    TRY(cst_json_str(o, "op", true, &kind));
    TRY(cst_json_str(o, "key", true, &key));
    TRY(cst_json_str(o, "value", false, &value));
    TRY(cst_json_str(o, "content_type", false, &ctype));
    TRY(cst_json_str(o, "if_match", false, &if_match));
    TRY(cst_json_str(o, "if_none_match", false, &if_none));
    op->key = key;
    op->key_len = strlen(key);
    TRY(cst_record_key_check(key, op->key_len));
    if (if_match)
        TRY(strcmp(if_match, "*") == 0 ? (op->if_match = CST_PRECOND_EXISTS, CST_OK)
                                       : cst_record_etag_parse(if_match, &op->if_match));
    if (if_none) {
        ENSURE(strcmp(if_none, "*") == 0 && !if_match, CST_ERR_INVALID,
               "operations[%zu]: if_none_match takes only \"*\", without if_match", i);
        op->if_match = CST_PRECOND_ABSENT;
    }
    if (strcmp(kind, "delete") == 0) {
        ENSURE(!value && !ctype && !if_none, CST_ERR_INVALID,
               "operations[%zu]: delete takes only key and if_match", i);
        op->is_delete = true;
        return CST_OK;
    }
    ENSURE(strcmp(kind, "put") == 0, CST_ERR_INVALID, "operations[%zu]: op must be put or delete",
           i);
    ENSURE(value, CST_ERR_INVALID, "operations[%zu]: put needs a base64 value", i);
    op->content_type = ctype ? ctype : CST_DEFAULT_CTYPE;
    size_t vlen = strlen(value), cap = vlen / 4 * 3 + 3;
    op->value = malloc(cap ? cap : 1);
    ENSURE(op->value, CST_ERR_INTERNAL, "out of memory");
    ENSURE(sodium_base642bin(op->value, cap, value, vlen, NULL, &op->value_len, NULL,
                             sodium_base64_VARIANT_ORIGINAL) == 0,
           CST_ERR_INVALID, "operations[%zu]: value must be standard base64", i);
    ENSURE(op->value_len <= max_value, CST_ERR_TOO_LARGE,
           "operations[%zu]: value exceeds %zu bytes", i, max_value);
    return cst_record_validate(key, op->key_len, op->content_type, op->value_len, max_value, 0, 0,
                               cst_now_us());
}

cst_err cst_batch_parse(const json_t *doc, size_t max_value, cst_batch_op **ops, size_t *n)
{
    static const char *const fields[] = {"operations", NULL};
    *ops = NULL;
    *n = 0;
    TRY(cst_json_only(doc, fields));
    const json_t *arr = json_object_get(doc, "operations");
    ENSURE(json_is_array(arr), CST_ERR_INVALID, "field \"operations\" must be an array");
    size_t count = json_array_size(arr);
    ENSURE(count >= 1 && count <= CST_BATCH_MAX, CST_ERR_INVALID,
           "a batch holds 1 to %d operations", CST_BATCH_MAX);
    cst_batch_op *list = calloc(count, sizeof(*list));
    ENSURE(list, CST_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < count; i++) {
        cst_err e = parse_op(json_array_get(arr, i), i, max_value, &list[i]);
        if (e != CST_OK) {
            cst_batch_free(list, count);
            return e;
        }
    }
    *ops = list;
    *n = count;
    return CST_OK;
}

static cst_err apply_op(cst_tenant_ctx *t, cst_work *w, const char *bucket, const cst_batch_op *op,
                        size_t i, json_t *results)
{
    cst_record_precond pc = {op->if_match};
    if (op->is_delete) {
        cst_err e = cst_record_remove(t, w, bucket, op->key, op->key_len, &pc);
        if (e == CST_ERR_NOT_FOUND)
            e = cst_fail(CST_ERR_NOT_FOUND, "operations[%zu]: no such record", i);
        if (e == CST_OK)
            json_array_append_new(
                results, json_pack("{s:s,s:s%}", "op", "delete", "key", op->key, op->key_len));
        return e;
    }
    cst_record_row r;
    cst_record_row_init(&r);
    bool created;
    cst_err e = cst_record_write(t, w, bucket, op->key, op->key_len, op->content_type, op->value,
                                 op->value_len, &pc, &r, &created, 0, 0);
    if (e == CST_ERR_PRECONDITION)
        e = cst_fail(CST_ERR_PRECONDITION, "operations[%zu]: %s", i,
                     cst_err_message(CST_ERR_PRECONDITION));
    if (e == CST_OK) {
        json_t *o = cst_record_json(op->key, op->key_len, op->content_type, &r);
        json_object_set_new(o, "op", json_string("put"));
        json_array_append_new(results, o);
    }
    cst_record_row_free(&r);
    return e;
}

cst_err cst_batch_apply(cst_tenant_ctx *t, cst_work *w, const char *bucket, const cst_batch_op *ops,
                        size_t n, json_t *results)
{
    cst_err e = CST_OK;
    for (size_t i = 0; e == CST_OK && i < n; i++)
        e = apply_op(t, w, bucket, &ops[i], i, results);
    return e;
}
