/* report.h: the compliance report (EVD-1): every control of CONTROLS.md evaluated on the live
 * node, in the catalogue's order, each with a status, a one-line summary and the evidence behind
 * it, observed now. One evaluator per control, registered in one table (report.c); later issues
 * add theirs by replacing a not_implemented row. The snapshot is one JSON document, signed with
 * the node's Ed25519 key (node/signed.c); HTML and OSCAL are renderings of it. docs/report.md
 * describes every field and each control's thresholds. */
#ifndef CST_REPORT_H
#define CST_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "node/node.h"
#include "util/err.h"

typedef enum cst_report_status {
    CST_REPORT_PASS,
    CST_REPORT_WARN,
    CST_REPORT_FAIL,
    CST_REPORT_NOT_IMPLEMENTED,
    CST_REPORT__STATUSES
} cst_report_status;

const char *cst_report_status_name(cst_report_status s);

/* What a report covers: the whole node, or one tenant's rows (GET /v1/report). */
typedef struct cst_report_scope {
    const char *tenant_id;    /* NULL: the node */
    const char *generated_by; /* "api" | "cli" */
    const char *requested_by; /* the principal (api) or "cli" */
    bool audited;             /* a report.generated entry will be written (the caller's job) */
    cst_work *work;           /* the request's unit of work (NULL: reads commit alone) */
} cst_report_scope;

/* Builds the report body at now (the "report" member of the signed document). */
CST_MUST_USE cst_err cst_report_build(cst_node *n, const cst_report_scope *scope, int64_t now,
                                      json_t **report);
/* The signed document as canonical JSON text (caller frees with cst_json_free_text) and its
 * SHA-256 in hex. */
CST_MUST_USE cst_err cst_report_sign(cst_node *n, json_t *report, char **doc, char sha256_hex[65]);
/* Checks a signed report against the node's public key pk; *report (optional) receives the body. */
CST_MUST_USE cst_err cst_report_verify(const uint8_t *doc, size_t len, const uint8_t pk[32],
                                       json_t **report);

/* Renderings of a report body: a self-contained HTML page, and an OSCAL assessment-results
 * document (JSON text). The caller frees the text with free(). */
CST_MUST_USE cst_err cst_report_html(const json_t *report, char **out);
CST_MUST_USE cst_err cst_report_oscal(const json_t *report, char **out);

/* The forms a report is given in: json (the signed document itself), html and oscal
 * (renderings of its body). */
typedef struct cst_report_form {
    const char *name;                                    /* json | html | oscal */
    const char *media_type;                              /* the HTTP Content-Type */
    cst_err (*render)(const json_t *report, char **out); /* NULL: the signed document */
} cst_report_form;
/* The form of that name, or NULL. */
const cst_report_form *cst_report_form_named(const char *name);

/* ---- for the evaluators (controls.c) ---- */

typedef struct cst_report_row {
    cst_report_status status;
    char summary[512];
    json_t *evidence; /* array of {name, value, observed_at} */
} cst_report_row;

typedef struct cst_report_ctx {
    cst_node *n;
    const cst_report_scope *scope;
    int64_t now;
    struct cst_report_facts *facts; /* gathered once, shared by the evaluators (controls.c) */
} cst_report_ctx;

CST_MUST_USE cst_err cst_report_facts_gather(cst_report_ctx *c);
void cst_report_facts_free(struct cst_report_facts *f);

/* One fact observed now (value is stolen). */
void cst_report_fact(cst_report_ctx *c, cst_report_row *row, const char *name, json_t *value);
/* Sets status and summary (printf-style); a later call with a worse status wins. */
void cst_report_set(cst_report_row *row, cst_report_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef void (*cst_report_eval)(cst_report_ctx *c, cst_report_row *row);

typedef struct cst_control {
    const char *id;
    const char *title;
    const char *sources;    /* the exhibit clauses it answers (CONTROLS.md) */
    const char *thresholds; /* what decides pass, warn and fail */
    bool tenant_row;        /* shown in a tenant's own report */
    cst_report_eval eval;   /* NULL: not implemented yet */
} cst_control;

extern const cst_control cst_controls[];
extern const size_t cst_control_count;

#endif
