/* lifecycle.c: the lifecycle routes: tenant events and plan (PATCH /v1/sys/tenants/{id}),
 * crypto-erase and certificates (RET-2..4), export and import (POR-1). */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "node/keys.h"
#include "api/api.h"
#include "lifecycle/lifecycle.h"
#include "store/store.h"
#include "util/util.h"

static cst_err sys_tenant(cst_node *n, cst_request *req, cst_tenant_row *t)
{
    ENSURE(cst_id_valid(req->params[0], "tn"), CST_ERR_NOT_FOUND, "no such tenant");
    cst_err e = cst_store_tenant_get(n->store, req->work, req->params[0], t);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_NOT_FOUND, "no such tenant");
    TRY(e);
    TRY(cst_copy(req->audit_tenant, sizeof(req->audit_tenant), t->id));
    return CST_OK;
}

cst_err cst_api_sys_tenant_patch(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"plan", "event", NULL};
    cst_tenant_row t;
    TRY(sys_tenant(n, req, &t));
    json_t *body;
    TRY(cst_api_body(req, fields, &body));
    const char *plan = NULL, *event = NULL;
    cst_err e = cst_json_str(body, "plan", false, &plan);
    if (e == CST_OK)
        e = cst_json_str(body, "event", false, &event);
    if (e == CST_OK && !plan && !event)
        e = cst_fail(CST_ERR_INVALID, "give a plan, an event, or both");
    char from[16];
    (void)snprintf(from, sizeof(from), "%s", t.state);
    if (e == CST_OK)
        e = cst_lifecycle_apply(&t, event, plan, cst_now_us());
    if (e == CST_OK) {
        cst_audit_info(req, "event", event ? json_string(event) : NULL);
        cst_audit_info(req, "plan", plan ? json_string(plan) : NULL);
        cst_audit_info(req, "from", json_string(from));
        cst_audit_info(req, "to", json_string(t.state));
        if (event)
            req->audit_action = "sys.tenant.lifecycle";
    }
    json_decref(body);
    TRY(e);
    TRY(cst_store_tenant_lifecycle_set(n->store, req->work, &t));
    return cst_resp_json(req, 200, cst_tenant_json(n, req->work, &t, true));
}

cst_err cst_api_sys_tenant_erase(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"requested_by", "confirm", NULL};
    cst_tenant_row t;
    TRY(sys_tenant(n, req, &t));
    json_t *body;
    TRY(cst_api_body(req, fields, &body));
    const char *requested_by = NULL, *confirm = NULL;
    cst_err e = cst_json_str(body, "requested_by", true, &requested_by);
    if (e == CST_OK)
        e = cst_json_str(body, "confirm", true, &confirm);
    if (e == CST_OK && (strlen(requested_by) < 1 || strlen(requested_by) > 256))
        e = cst_fail(CST_ERR_INVALID, "requested_by must be 1-256 characters: who asked for "
                                      "the erase (the customer's request or ticket)");
    if (e == CST_OK && strcmp(confirm, t.name) != 0)
        e = cst_fail(CST_ERR_INVALID, "confirm must be the tenant's name");
    if (e == CST_OK && cst_tenant_state_parse(t.state) == CST_STATE_ERASED)
        e = cst_fail(CST_ERR_CONFLICT, "the tenant is already erased");
    char requested[300], executed[160];
    if (e == CST_OK) {
        (void)snprintf(requested, sizeof(requested), "%s", requested_by);
        (void)snprintf(executed, sizeof(executed), "operator %s (%s)", req->who.user.username,
                       req->who.user.id);
    }
    json_decref(body);
    TRY(e);
    /* What follows cannot be undone, so it commits as it goes, outside the request's unit of
     * work; the node's own entries record each step, this request's entry the outcome. */
    char *doc = NULL;
    e = cst_lifecycle_erase(n, t.id, requested, executed, cst_now_us(), &doc);
    TRY(e);
    json_t *d = json_loads(doc, 0, NULL);
    cst_audit_info(
        req, "certificate_id",
        json_incref(json_object_get(json_object_get(d, "certificate"), "certificate_id")));
    json_decref(d);
    e = cst_resp_bytes(req, 200, "application/json", doc, strlen(doc));
    cst_json_free_text(doc);
    return e;
}

cst_err cst_api_sys_certificate_get(cst_node *n, cst_request *req)
{
    ENSURE(cst_id_valid(req->params[0], "ce"), CST_ERR_NOT_FOUND, "no such certificate");
    cst_buf doc;
    cst_buf_init(&doc, SIZE_MAX);
    cst_err e = cst_store_certificate_get(n->store, req->work, req->params[0], &doc);
    if (e == CST_ERR_NOT_FOUND)
        e = cst_fail(CST_ERR_NOT_FOUND, "no such certificate");
    if (e == CST_OK)
        e = cst_resp_bytes(req, 200, "application/json", doc.data, doc.len);
    cst_buf_free(&doc);
    return e;
}

/* ---- ENC-4: a tenant's keys ---- */

static cst_err keyed_tenant(cst_node *n, cst_request *req, cst_tenant_row *t)
{
    TRY(sys_tenant(n, req, t));
    cst_tenant_state s = cst_tenant_state_parse(t->state);
    ENSURE(s != CST_STATE_ERASED, CST_ERR_CONFLICT, "the tenant is erased: its keys are destroyed");
    return CST_OK;
}

cst_err cst_api_sys_tenant_keys(cst_node *n, cst_request *req)
{
    cst_tenant_row t;
    TRY(keyed_tenant(n, req, &t));
    json_t *status = NULL;
    TRY(cst_keys_status(n, req->work, t.id, &status));
    return cst_resp_json(req, 200, status);
}

cst_err cst_api_sys_tenant_keys_rotate(cst_node *n, cst_request *req)
{
    cst_tenant_row t;
    TRY(keyed_tenant(n, req, &t));
    ENSURE(cst_tenant_state_parse(t.state) != CST_STATE_PENDING_ERASE, CST_ERR_CONFLICT,
           "the tenant is about to be erased");
    uint32_t version = 0;
    bool running = false;
    TRY(cst_keys_rotate(n, req->work, t.id, "manual", cst_now_us(), &version, &running));
    cst_audit_info(req, "version", json_integer(version));
    return cst_resp_json(req, 202,
                         json_pack("{s:s,s:i,s:{s:s,s:i}}", "purpose", "dek", "version",
                                   (int)version, "rewrap", "state", running ? "running" : "idle",
                                   "target", (int)version));
}

/* ---- ENC-4: the node's master key ---- */

cst_err cst_api_sys_keys(cst_node *n, cst_request *req)
{
    return cst_resp_json(req, 200, cst_node_kek_status(n));
}

cst_err cst_api_sys_keys_rotate(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"master_key", NULL};
    json_t *body = NULL, *status = NULL;
    const char *source = NULL;
    TRY(cst_api_body(req, fields, &body));
    cst_err e = cst_json_str(body, "master_key", false, &source);
    if (e == CST_OK)
        e = cst_node_kek_rotate(n, source, cst_now_us(), &status);
    json_decref(body);
    TRY(e);
    json_t *rot = json_object_get(status, "rotation");
    cst_audit_info(req, "old_kek_id", json_incref(json_object_get(rot, "from_kek_id")));
    cst_audit_info(req, "new_kek_id", json_incref(json_object_get(rot, "to_kek_id")));
    return cst_resp_json(req, 202, status);
}
