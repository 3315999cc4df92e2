/* report.c: the compliance report over the API (EVD-1): GET /v1/sys/report for the node
 * (sys-security, sys-admin) and GET /v1/report for a tenant's own rows (owner, admin,
 * auditor). Each answer is a freshly signed snapshot; its id and SHA-256 go into the request's
 * report.generated audit entry. */
#include <string.h>

#include "api/api.h"
#include "report/report.h"
#include "util/json.h"
#include "util/util.h"

static cst_err answer(cst_node *n, cst_request *req, const char *tenant_id)
{
    char format[16] = "json";
    bool present = false;
    TRY(cst_req_query(req, "format", format, sizeof(format), &present));
    ENSURE(strcmp(format, "json") == 0, CST_ERR_INVALID,
           "format must be json (html and oscal are not available yet)");
    cst_report_scope scope = {.tenant_id = tenant_id,
                              .generated_by = "api",
                              .requested_by = req->who.user.id,
                              .audited = true,
                              .work = req->work};
    json_t *report = NULL;
    TRY(cst_report_build(n, &scope, cst_now_us(), &report));
    char *doc = NULL, sha[65];
    cst_err e = cst_report_sign(n, report, &doc, sha);
    if (e == CST_OK) {
        cst_audit_info(req, "report_id", json_incref(json_object_get(report, "report_id")));
        cst_audit_info(req, "sha256", json_string(sha));
        cst_audit_info(req, "counts", json_incref(json_object_get(report, "counts")));
        e = cst_resp_bytes(req, 200, "application/json", doc, strlen(doc));
    }
    cst_json_free_text(doc);
    json_decref(report);
    return e;
}

cst_err cst_api_sys_report(cst_node *n, cst_request *req)
{
    return answer(n, req, NULL);
}

cst_err cst_api_report(cst_node *n, cst_request *req)
{
    return answer(n, req, req->who.tenant.id);
}
