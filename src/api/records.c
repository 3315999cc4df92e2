/* records.c: record routes: preconditions from the headers, then the record domain
 * (core/record.h: sealing, blind index, versions, batches). */
#include <sodium.h>
#include <string.h>

#include "api/api.h"
#include "core/record.h"
#include "util/json.h"
#include "util/util.h"

_Static_assert(CST_PARAM_MAX >= CST_RECORD_KEY_MAX, "a path parameter holds any record key");

static cst_err header_precond(cst_request *req, cst_record_precond *pc)
{
    const char *im = cst_req_header(req, "If-Match");
    const char *inm = cst_req_header(req, "If-None-Match");
    pc->if_match = CST_PRECOND_NONE;
    ENSURE(!(im && inm), CST_ERR_INVALID, "send If-Match or If-None-Match, not both");
    if (im && strcmp(im, "*") == 0)
        pc->if_match = CST_PRECOND_EXISTS;
    else if (im)
        TRY(cst_record_etag_parse(im, &pc->if_match));
    if (inm) {
        ENSURE(strcmp(inm, "*") == 0, CST_ERR_INVALID, "writes take only If-None-Match: *");
        pc->if_match = CST_PRECOND_ABSENT;
    }
    return CST_OK;
}

/* Common start of every record route: tenant, bucket name and (when has_key) key. */
static cst_err record_target(cst_node *n, cst_request *req, bool has_key, cst_tenant_ctx **t)
{
    TRY(cst_api_tenant(n, req, t));
    TRY(cst_name_check("bucket name", req->params[0]));
    if (has_key)
        TRY(cst_record_key_check(req->params[1], req->param_len[1]));
    return cst_tstore_bucket_exists((*t)->ts, req->work, req->params[0]);
}

cst_err cst_api_record_put(cst_node *n, cst_request *req)
{
    cst_tenant_ctx *t;
    cst_record_precond pc;
    TRY(record_target(n, req, true, &t));
    TRY(header_precond(req, &pc));
    const char *ctype = cst_req_header(req, "Content-Type");
    ctype = ctype ? ctype : CST_DEFAULT_CTYPE;
    TRY(cst_record_validate(req->params[1], req->param_len[1], ctype, req->body.len,
                            n->cfg.max_record_bytes, 0, 0, cst_now_us()));

    cst_record_row r;
    cst_record_row_init(&r);
    bool created = false;
    cst_err e = cst_tstore_begin(t->ts, req->work);
    if (e == CST_OK) {
        e = cst_record_write(t, req->work, req->params[0], req->params[1], req->param_len[1], ctype,
                             req->body.data, req->body.len, &pc, &r, &created, 0, 0);
        if (e == CST_OK)
            e = cst_tstore_commit(t->ts, req->work); /* durable before we answer */
        else
            cst_tstore_rollback(t->ts, req->work);
    }
    if (e == CST_OK) {
        char etag[32];
        cst_record_etag(r.version, etag);
        cst_resp_header(req, "ETag", etag);
        e = cst_resp_json(req, created ? 201 : 200,
                          cst_record_json(req->params[1], req->param_len[1], ctype, &r));
    }
    cst_record_row_free(&r);
    return e;
}

cst_err cst_api_record_get(cst_node *n, cst_request *req)
{
    cst_tenant_ctx *t;
    TRY(record_target(n, req, true, &t));
    cst_record_row r;
    cst_record_meta m;
    cst_buf value;
    cst_buf_init(&value, SIZE_MAX);
    cst_record_row_init(&r);
    cst_err e = cst_record_get(t, req->work, req->params[0], req->params[1], req->param_len[1], &r,
                               &m, &value);
    char etag[32];
    cst_record_etag(r.version, etag);
    const char *inm = cst_req_header(req, "If-None-Match");
    if (e == CST_OK && inm && (strcmp(inm, etag) == 0 || strcmp(inm, "*") == 0)) {
        cst_resp_empty(req, 304);
    } else if (e == CST_OK) {
        /* The response takes over the plaintext buffer and wipes it when sent. */
        req->resp.len = 0;
        e = cst_resp_bytes(req, 200, m.ctype, value.data, value.len);
    }
    if (e == CST_OK)
        cst_resp_header(req, "ETag", etag);
    cst_buf_wipe_free(&value);
    cst_record_row_free(&r);
    sodium_memzero(&m, sizeof(m));
    return e;
}

cst_err cst_api_record_delete(cst_node *n, cst_request *req)
{
    cst_tenant_ctx *t;
    cst_record_precond pc;
    TRY(record_target(n, req, true, &t));
    TRY(header_precond(req, &pc));
    ENSURE(pc.if_match != CST_PRECOND_ABSENT, CST_ERR_INVALID,
           "DELETE does not take If-None-Match");
    cst_err e = cst_tstore_begin(t->ts, req->work);
    if (e == CST_OK) {
        e = cst_record_remove(t, req->work, req->params[0], req->params[1], req->param_len[1], &pc);
        if (e == CST_OK)
            e = cst_tstore_commit(t->ts, req->work);
        else
            cst_tstore_rollback(t->ts, req->work);
    }
    TRY(e);
    cst_resp_empty(req, 204);
    return CST_OK;
}

cst_err cst_api_record_list(cst_node *n, cst_request *req)
{
    cst_tenant_ctx *t;
    char prefix[CST_PARAM_MAX + 1], after[CST_PARAM_MAX + 1];
    bool has_prefix, has_after;
    int limit;
    TRY(record_target(n, req, false, &t));
    TRY(cst_req_query(req, "prefix", prefix, sizeof(prefix), &has_prefix));
    TRY(cst_req_query(req, "after", after, sizeof(after), &has_after));
    TRY(cst_api_query_limit(req, &limit));
    if (has_after)
        TRY(cst_record_key_check(after, strlen(after)));
    json_t *items = json_array();
    cst_err e = cst_record_list(t, req->work, req->params[0], prefix, has_after ? after : NULL,
                                limit, items);
    return cst_api_page(req, e, "records", items, "key", limit);
}

cst_err cst_api_record_batch(cst_node *n, cst_request *req)
{
    cst_tenant_ctx *t;
    json_t *body = NULL;
    cst_batch_op *ops = NULL;
    size_t count = 0;
    TRY(record_target(n, req, false, &t));
    TRY(cst_json_object(&req->body, false, &body));
    cst_err e = cst_batch_parse(body, n->cfg.max_record_bytes, &ops, &count);
    json_t *results = json_array();
    if (e == CST_OK)
        e = cst_tstore_begin(t->ts, req->work);
    if (e == CST_OK) {
        /* All or nothing: one transaction, one durable commit. */
        e = cst_batch_apply(t, req->work, req->params[0], ops, count, results);
        if (e == CST_OK)
            e = cst_tstore_commit(t->ts, req->work);
        else
            cst_tstore_rollback(t->ts, req->work);
    }
    cst_batch_free(ops, count);
    json_decref(body);
    if (e != CST_OK) {
        json_decref(results);
        return e;
    }
    return cst_resp_json(req, 200, json_pack("{s:o}", "results", results));
}
