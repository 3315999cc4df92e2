/* tenants.c: operator routes that create and list tenants (/v1/sys/tenants). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "core/authz.h"
#include "crypto/secrets.h"
#include "store/store.h"
#include "util/util.h"

static cst_err parse_create(cst_node *n, json_t *body, cst_tenant_row *t, const char **username)
{
    static const char *const owner_fields[] = {"username", NULL};
    const char *name, *region, *plan;
    json_t *owner;
    TRY(cst_json_str(body, "name", true, &name));
    TRY(cst_json_str(body, "region", false, &region));
    TRY(cst_json_str(body, "plan", false, &plan));
    TRY(cst_json_obj(body, "owner", true, &owner));
    TRY(cst_json_only(owner, owner_fields));
    TRY(cst_json_str(owner, "username", true, username));
    TRY(cst_account_check_username(*username));
    return cst_tenant_new(name, region, plan, n->region, cst_now_us(), t);
}

typedef struct created {
    cst_node *n;
    char id[CST_ID_MAX];
} created;

/* A creation that rolls back leaves no tenants/<id>.db behind (and no open context). */
static void created_end(void *p, bool committed)
{
    created *c = p;
    if (!committed)
        cst_node_tenant_discard(c->n, c->id);
    free(c);
}

static cst_err created_hook(cst_node *n, cst_work *w, const char *id)
{
    created *c = calloc(1, sizeof(*c));
    ENSURE(c != NULL, CST_ERR_INTERNAL, "out of memory");
    c->n = n;
    (void)snprintf(c->id, sizeof(c->id), "%s", id);
    return cst_work_on_end(w, created_end, c);
}

cst_err cst_api_sys_tenant_create(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"name", "region", "plan", "owner", NULL};
    json_t *body = NULL;
    const char *username = NULL;
    cst_tenant_row t;
    cst_user_row owner;
    char password[32] = "";
    cst_buf dek, idx;
    cst_buf_init(&dek, 256);
    cst_buf_init(&idx, 256);
    TRY(cst_api_body(req, fields, &body));
    cst_err e = parse_create(n, body, &t, &username);
    if (e == CST_OK)
        e = cst_account_new(t.id, username, CST_ROLE_BIT(CST_ROLE_OWNER), t.created_at, &owner,
                            password);
    if (e == CST_OK) /* LOG-4: the new tenant's trail starts with its creation. */
        e = cst_copy(req->audit_tenant, sizeof(req->audit_tenant), t.id);
    if (e == CST_OK) {
        cst_audit_detail(req, "name", json_string(t.name));
        cst_audit_detail(req, "owner", json_string(owner.username));
    }
    json_decref(body);
    if (e == CST_OK)
        e = cst_node_key_wrap_new(n, req->work, t.id, "dek", 1, &dek);
    if (e == CST_OK)
        e = cst_node_key_wrap_new(n, req->work, t.id, "idx", 1, &idx);
    if (e == CST_OK)
        e = created_hook(n, req->work, t.id);
    if (e == CST_OK)
        e = cst_store_tenant_create(n->store, req->work, &t, &dek, &idx, &owner);
    /* opened now (its store made, its keys read in the request's work), so that the entry's
     * detail is sealed under its key; the hook discards both if the creation is not kept */
    cst_tenant_ctx *ctx = NULL;
    if (e == CST_OK)
        e = cst_node_tenant_acquire_in(n, req->work, t.id, &ctx);
    cst_node_tenant_release(n, ctx);
    if (e == CST_OK) {

        json_t *o = cst_tenant_json(n, req->work, &t, false);
        json_object_set_new(o, "owner",
                            json_pack("{s:s,s:s,s:s}", "id", owner.id, "username", owner.username,
                                      "password", password));
        e = cst_resp_json(req, 201, o);
    }
    sodium_memzero(password, sizeof(password));
    sodium_memzero(owner.pw_hash, sizeof(owner.pw_hash));
    cst_buf_free(&dek);
    cst_buf_free(&idx);
    return e;
}

struct list_ctx {
    const cst_node *n;
    json_t *arr;
};

static cst_err list_one(const cst_tenant_row *t, void *ctx)
{
    struct list_ctx *lc = ctx;
    json_array_append_new(lc->arr, cst_tenant_json(lc->n, NULL, t, false));
    return CST_OK;
}

cst_err cst_api_sys_tenant_list(cst_node *n, cst_request *req)
{
    char after[CST_ID_MAX];
    bool has_after;
    int limit;
    TRY(cst_req_query(req, "after", after, sizeof(after), &has_after));
    TRY(cst_api_query_limit(req, &limit));
    json_t *arr = json_array();
    struct list_ctx lc = {n, arr};
    cst_err e =
        cst_store_tenant_list(n->store, req->work, has_after ? after : NULL, limit, list_one, &lc);
    return cst_api_page(req, e, "tenants", arr, "id", limit);
}

cst_err cst_api_sys_tenant_get(cst_node *n, cst_request *req)
{
    cst_tenant_row t;
    ENSURE(cst_id_valid(req->params[0], "tn"), CST_ERR_NOT_FOUND, "no such tenant");
    cst_err e = cst_store_tenant_get(n->store, req->work, req->params[0], &t);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_NOT_FOUND, "no such tenant");
    TRY(e);
    return cst_resp_json(req, 200, cst_tenant_json(n, req->work, &t, true));
}
