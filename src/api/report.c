/* report.c: the compliance report over the API (EVD-1): GET /v1/sys/report for the node
 * (sys.report: sys-admin, sys-security) and GET /v1/report for a tenant's own rows (owner,
 * admin, auditor). Each answer is a freshly built snapshot, signed; format=html and
 * format=oscal render the same body. The signed document's id and SHA-256 go into the
 * request's report.generated audit entry, whichever form is answered. */
#include <stdlib.h>
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
    const cst_report_form *f = cst_report_form_named(present ? format : "json");
    ENSURE(f != NULL, CST_ERR_INVALID, "format must be json, html or oscal");
    cst_report_scope scope = {.tenant_id = tenant_id,
                              .generated_by = "api",
                              .requested_by = req->who.user.id,
                              .audited = true,
                              .work = req->work};
    json_t *report = NULL;
    TRY(cst_report_build(n, &scope, cst_now_us(), &report));
    char *doc = NULL, *rendered = NULL, sha[65];
    cst_err e = cst_report_sign(n, report, &doc, sha);
    if (e == CST_OK && f->render)
        e = f->render(report, &rendered);
    if (e == CST_OK) {
        cst_audit_info(req, "report_id", json_incref(json_object_get(report, "report_id")));
        cst_audit_info(req, "sha256", json_string(sha));
        cst_audit_info(req, "format", json_string(f->name));
        cst_audit_info(req, "counts", json_incref(json_object_get(report, "counts")));
        if (f->render == cst_report_html) /* a page that fetches and runs nothing */
            cst_resp_header(req, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'");
        const char *body = rendered ? rendered : doc;
        e = cst_resp_bytes(req, 200, f->media_type, body, strlen(body));
    }
    free(rendered);
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
