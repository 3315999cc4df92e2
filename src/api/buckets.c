/* buckets.c: bucket routes. */
#include <string.h>

#include "api/api.h"
#include "util/util.h"

static json_t *bucket_json(const cst_bucket_row *b)
{
    char c[32], u[32];
    cst_time_format(b->created_at, c);
    cst_time_format(b->updated_at, u);
    return json_pack("{s:s,s:I,s:s,s:I,s:s,s:s}", "name", b->name, "retention_seconds",
                     (json_int_t)b->retention_seconds, "class", b->cls, "record_count",
                     (json_int_t)b->record_count, "created_at", c, "updated_at", u);
}

/* Applies retention_seconds and class from body onto b (cst_bucket_validate checks them). */
static cst_err apply_settings(const json_t *body, cst_bucket_row *b)
{
    int64_t retention;
    bool has_retention;
    const char *cls;
    TRY(cst_json_int(body, "retention_seconds", false, &retention, &has_retention));
    if (has_retention)
        b->retention_seconds = retention;
    TRY(cst_json_str(body, "class", false, &cls));
    if (cls) {
        ENSURE(cst_copy(b->cls, sizeof(b->cls), cls) == CST_OK, CST_ERR_INVALID,
               "class must be standard or billing");
    }
    return cst_bucket_validate(b);
}

cst_err cst_api_bucket_create(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"name", "retention_seconds", "class", NULL};
    cst_tenant_ctx *t;
    json_t *body = NULL;
    const char *name;
    cst_bucket_row b;
    memset(&b, 0, sizeof(b));
    TRY(cst_copy(b.cls, sizeof(b.cls), "standard"));
    TRY(cst_api_tenant(n, req, &t));
    TRY(cst_api_body(req, fields, &body));
    cst_err e = cst_json_str(body, "name", true, &name);
    if (e == CST_OK)
        e = cst_name_check("bucket name", name); /* before it is copied */
    if (e == CST_OK)
        e = cst_authz_bucket(&req->who.user, name); /* IAM-8: a grant's scope names its buckets */
    if (e == CST_OK)
        e = cst_copy(b.name, sizeof(b.name), name);
    if (e == CST_OK)
        e = apply_settings(body, &b);
    json_decref(body);
    TRY(e);
    b.created_at = b.updated_at = cst_now_us();
    TRY(cst_tstore_bucket_create(t->ts, req->work, &b));
    return cst_resp_json(req, 201, bucket_json(&b));
}

struct bucket_listing {
    const cst_user_row *who;
    json_t *items;
};

/* IAM-8: only the buckets the caller may administer (all of them, but for a lockbox grant's
 * credential, whose scope names its buckets). */
static cst_err list_one(const cst_bucket_row *b, void *ctx)
{
    struct bucket_listing *l = ctx;
    if (cst_authz_bucket(l->who, b->name) != CST_OK) {
        cst_err_clear();
        return CST_OK;
    }
    json_array_append_new(l->items, bucket_json(b));
    return CST_OK;
}

cst_err cst_api_bucket_list(cst_node *n, cst_request *req)
{
    cst_tenant_ctx *t;
    TRY(cst_api_tenant(n, req, &t));
    struct bucket_listing l = {&req->who.user, json_array()};
    cst_err e = cst_tstore_bucket_list(t->ts, req->work, list_one, &l);
    if (e != CST_OK) {
        json_decref(l.items);
        return e;
    }
    return cst_resp_json(req, 200, json_pack("{s:o}", "buckets", l.items));
}

static cst_err find_bucket(cst_node *n, cst_request *req, cst_tenant_ctx **t, cst_bucket_row *b)
{
    TRY(cst_api_tenant(n, req, t));
    TRY(cst_name_check("bucket name", req->params[0]));
    /* IAM-8: the bucket routes are not bucket-scoped in the route table (owners and admins hold
     * every bucket), but a lockbox grant's buckets.admin reaches its scope's buckets only */
    TRY(cst_authz_bucket(&req->who.user, req->params[0]));
    return cst_tstore_bucket_get((*t)->ts, req->work, req->params[0], b);
}

cst_err cst_api_bucket_get(cst_node *n, cst_request *req)
{
    cst_tenant_ctx *t;
    cst_bucket_row b;
    TRY(find_bucket(n, req, &t, &b));
    return cst_resp_json(req, 200, bucket_json(&b));
}

cst_err cst_api_bucket_patch(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"retention_seconds", "class", NULL};
    cst_tenant_ctx *t;
    cst_bucket_row b;
    json_t *body = NULL;
    TRY(find_bucket(n, req, &t, &b));
    TRY(cst_api_body(req, fields, &body));
    cst_err e = apply_settings(body, &b);
    json_decref(body);
    TRY(e);
    b.updated_at = cst_now_us();
    TRY(cst_tstore_bucket_update(t->ts, req->work, &b));
    return cst_resp_json(req, 200, bucket_json(&b));
}

cst_err cst_api_bucket_delete(cst_node *n, cst_request *req)
{
    cst_tenant_ctx *t;
    cst_bucket_row b;
    TRY(find_bucket(n, req, &t, &b));
    TRY(cst_tstore_bucket_delete(t->ts, req->work, b.name));
    cst_resp_empty(req, 204);
    return CST_OK;
}
