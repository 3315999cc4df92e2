/* report.c: the compliance report's framework (EVD-1): the snapshot of every control, in the
 * order of the catalogue (controls.c), its signature and verification. */
#include "report/report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/json.h"
#include "util/util.h"

#define REPORT_FORMAT "custodia-report/1"

static const char *const status_names[CST_REPORT__STATUSES] = {
    [CST_REPORT_PASS] = "pass",
    [CST_REPORT_WARN] = "warn",
    [CST_REPORT_FAIL] = "fail",
    [CST_REPORT_NOT_IMPLEMENTED] = "not_implemented",
};

const char *cst_report_status_name(cst_report_status s)
{
    return s < CST_REPORT__STATUSES ? status_names[s] : "fail";
}

void cst_report_fact(cst_report_ctx *c, cst_report_row *row, const char *name, json_t *value)
{
    json_t *f = json_pack("{s:s,s:o,s:o}", "name", name, "value", value ? value : json_null(),
                          "observed_at", cst_json_time(cst_now_us()));
    (void)c;
    if (f)
        json_array_append_new(row->evidence, f);
}

/* How bad a status is: pass < warn < fail; not_implemented stands apart (a row has it only
 * when no evaluator ran). */
static int severity(cst_report_status s)
{
    return s == CST_REPORT_FAIL ? 2 : s == CST_REPORT_WARN ? 1 : 0;
}

void cst_report_set(cst_report_row *row, cst_report_status s, const char *fmt, ...)
{
    if (row->status != CST_REPORT_NOT_IMPLEMENTED && severity(s) < severity(row->status))
        return;
    row->status = s;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(row->summary, sizeof(row->summary), fmt, ap);
    va_end(ap);
}

static json_t *control_json(cst_report_ctx *c, const cst_control *k)
{
    cst_report_row row = {.status = CST_REPORT_NOT_IMPLEMENTED, .evidence = json_array()};
    if (!row.evidence)
        return NULL;
    if (k->eval) {
        k->eval(c, &row);
        if (row.status == CST_REPORT_NOT_IMPLEMENTED) /* an evaluator always decides */
            cst_report_set(&row, CST_REPORT_FAIL, "the evaluator reached no verdict");
    } else {
        (void)snprintf(row.summary, sizeof(row.summary),
                       "not built yet: this control has no enforcement to evaluate on this node");
    }
    char family[8];
    (void)snprintf(family, sizeof(family), "%.*s", (int)strcspn(k->id, "-"), k->id);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "id", k->id, "family", family, "title",
                     k->title, "sources", k->sources, "thresholds", k->thresholds, "status",
                     cst_report_status_name(row.status), "summary", row.summary, "evidence",
                     row.evidence);
}

cst_err cst_report_build(cst_node *n, const cst_report_scope *scope, int64_t now, json_t **report)
{
    *report = NULL;
    cst_report_ctx c = {.n = n, .scope = scope, .now = now};
    json_t *controls = json_array();
    size_t counts[CST_REPORT__STATUSES] = {0};
    cst_err e =
        controls ? cst_report_facts_gather(&c) : cst_fail(CST_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; e == CST_OK && i < cst_control_count; i++) {
        const cst_control *k = &cst_controls[i];
        if (scope->tenant_id && !k->tenant_row)
            continue;
        json_t *row = control_json(&c, k);
        if (!row) {
            e = cst_fail(CST_ERR_INTERNAL, "out of memory");
            break;
        }
        const char *st = json_string_value(json_object_get(row, "status"));
        for (size_t s = 0; s < CST_REPORT__STATUSES; s++)
            counts[s] += strcmp(st, status_names[s]) == 0;
        json_array_append_new(controls, row);
    }
    uint8_t rnd[10];
    char id[CST_ID_MAX], hex[21];
    if (e == CST_OK)
        e = cst_random(rnd, sizeof(rnd));
    if (e == CST_OK) {
        cst_hex(rnd, sizeof(rnd), hex);
        e = cst_fmt(id, sizeof(id), "rp_%s", hex);
    }
    json_t *r = NULL;
    if (e == CST_OK) {
        json_t *sc = scope->tenant_id
                         ? json_pack("{s:s,s:s}", "kind", "tenant", "tenant", scope->tenant_id)
                         : json_pack("{s:s}", "kind", "node");
        r = json_pack(
            "{s:s,s:s,s:o,s:{s:s,s:s,s:s},s:o,s:s,s:s,s:b,s:{s:I,s:I,s:I,s:I,s:I},s:O}", "format",
            REPORT_FORMAT, "report_id", id, "generated_at", cst_json_time(now), "node", "id",
            n->node_id, "region", n->region, "version", CUSTODIA_VERSION, "scope", sc,
            "generated_by", scope->generated_by, "requested_by", scope->requested_by, "audited",
            scope->audited, "counts", "controls", (json_int_t)json_array_size(controls), "pass",
            (json_int_t)counts[CST_REPORT_PASS], "warn", (json_int_t)counts[CST_REPORT_WARN],
            "fail", (json_int_t)counts[CST_REPORT_FAIL], "not_implemented",
            (json_int_t)counts[CST_REPORT_NOT_IMPLEMENTED], "controls", controls);
        if (!r)
            e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    json_decref(controls);
    cst_report_facts_free(c.facts);
    if (e == CST_OK)
        *report = r;
    return e;
}

cst_err cst_report_sign(cst_node *n, json_t *report, char **doc, char sha256_hex[65])
{
    TRY(cst_node_sign_json(n, "report", report, doc));
    uint8_t h[CST_HASH_LEN];
    cst_sha256(*doc, strlen(*doc), h);
    cst_hex(h, sizeof(h), sha256_hex);
    return CST_OK;
}

cst_err cst_report_verify(const uint8_t *doc, size_t len, const uint8_t pk[32], json_t **report)
{
    return cst_signed_json_verify(doc, len, pk, "report", "report", report);
}

static const cst_report_form forms[] = {
    {"json", "application/json", NULL},
    {"html", "text/html; charset=utf-8", cst_report_html},
    {"oscal", "application/json", cst_report_oscal},
};

const cst_report_form *cst_report_form_named(const char *name)
{
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        if (strcmp(forms[i].name, name) == 0)
            return &forms[i];
    return NULL;
}
