/* html.c: the compliance report as one self-contained HTML page (EVD-1, issue 15): inline CSS
 * only, no scripts and nothing fetched, readable in black and white and on paper. Every string of
 * the report is escaped: evidence carries tenant names and settings an attacker may have chosen. */
#include "report/report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"

#define HTML_MAX (64u << 20) /* a page larger than this is refused */
#define VALUE_DEPTH 4        /* evidence nested deeper is shown as compact JSON */

/* One look per status: the badge's class, its word (so it reads without colour) and colours.
 * The last entry is for a status this version does not know. */
typedef struct status_look {
    const char *css;
    const char *label;
    const char *fg, *bg;
} status_look;

static const status_look looks[CST_REPORT__STATUSES + 1] = {
    [CST_REPORT_PASS] = {"pass", "PASS", "#ffffff", "#1a7f37"},
    [CST_REPORT_WARN] = {"warn", "WARN", "#000000", "#f2c94c"},
    [CST_REPORT_FAIL] = {"fail", "FAIL", "#ffffff", "#c62828"},
    [CST_REPORT_NOT_IMPLEMENTED] = {"not-implemented", "NOT IMPLEMENTED", "#000000", "#c8c8c8"},
    [CST_REPORT__STATUSES] = {"unknown", "UNKNOWN", "#000000", "#ffffff"},
};

static const status_look *look_of(const char *status)
{
    for (size_t s = 0; status && s < CST_REPORT__STATUSES; s++)
        if (strcmp(status, cst_report_status_name((cst_report_status)s)) == 0)
            return &looks[s];
    return &looks[CST_REPORT__STATUSES];
}

/* What replaces each byte that may not appear as itself in HTML text or a quoted attribute.
 * Control characters other than tab, newline and carriage return become U+FFFD. */
static const char *const escapes[128] = {
    [0x00 ... 0x08] = "\xEF\xBF\xBD",
    [0x0B ... 0x0C] = "\xEF\xBF\xBD",
    [0x0E ... 0x1F] = "\xEF\xBF\xBD",
    [0x7F] = "\xEF\xBF\xBD",
    ['&'] = "&amp;",
    ['<'] = "&lt;",
    ['>'] = "&gt;",
    ['"'] = "&quot;",
    ['\''] = "&#39;",
};

static cst_err put(cst_buf *b, const char *s)
{
    return cst_buf_append(b, s, strlen(s));
}

/* Trusted text only (numbers, colours): data goes through put_text. */
static cst_err putf(cst_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static cst_err putf(cst_buf *b, const char *fmt, ...)
{
    char s[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s, sizeof(s), fmt, ap);
    va_end(ap);
    ENSURE(n >= 0 && (size_t)n < sizeof(s), CST_ERR_INTERNAL, "page text too long");
    return cst_buf_append(b, s, (size_t)n);
}

static cst_err put_escaped(cst_buf *b, const char *s, size_t n)
{
    size_t plain = 0; /* bytes since the last escape, appended in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = c < 128 ? escapes[c] : NULL;
        if (!rep)
            continue;
        TRY(cst_buf_append(b, s + plain, i - plain));
        TRY(put(b, rep));
        plain = i + 1;
    }
    return cst_buf_append(b, s + plain, n - plain);
}

/* Any JSON value as compact JSON text, escaped. */
static cst_err put_json(cst_buf *b, const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    ENSURE(s != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = put_escaped(b, s, strlen(s));
    cst_json_free_text(s);
    return e;
}

/* A field as escaped text: a string as itself, any other value as JSON, absent as nothing. */
static cst_err put_text(cst_buf *b, const json_t *v)
{
    if (!v)
        return CST_OK;
    return json_is_string(v) ? put_escaped(b, json_string_value(v), json_string_length(v))
                             : put_json(b, v);
}

static cst_err put_member(cst_buf *b, const json_t *obj, const char *key)
{
    return put_text(b, json_object_get(obj, key));
}

static cst_err put_badge(cst_buf *b, const status_look *l)
{
    return putf(b, "<span class=\"badge %s\">%s</span>", l->css, l->label);
}

/* "a; b; c" (the sources and thresholds columns) as a list, one clause an item. */
static cst_err put_clauses(cst_buf *b, const json_t *s)
{
    const char *p = json_is_string(s) ? json_string_value(s) : "";
    size_t n = json_is_string(s) ? json_string_length(s) : 0;
    TRY(put(b, "<ul class=\"clauses\">"));
    while (n > 0) {
        const char *sep = memmem(p, n, "; ", 2);
        size_t len = sep ? (size_t)(sep - p) : n;
        TRY(put(b, "<li>"));
        TRY(put_escaped(b, p, len));
        TRY(put(b, "</li>"));
        len = sep ? len + 2 : len;
        p += len;
        n -= len;
    }
    return put(b, "</ul>");
}

/* ---- evidence values: strings as text, arrays and objects as nested lists ---- */

static cst_err put_value(cst_buf *b, const json_t *v, int depth);

static bool all_scalars(const json_t *array)
{
    size_t i;
    const json_t *item;
    json_array_foreach(array, i, item)
    {
        if (json_is_array(item) || json_is_object(item))
            return false;
    }
    return true;
}

/* Scalars on one line, comma-separated (CSS); anything else one item a line. */
static cst_err put_array(cst_buf *b, const json_t *v, int depth)
{
    size_t i;
    const json_t *item;
    TRY(put(b, all_scalars(v) ? "<ul class=\"arr\">" : "<ul class=\"list\">"));
    json_array_foreach(v, i, item)
    {
        TRY(put(b, "<li>"));
        TRY(put_value(b, item, depth + 1));
        TRY(put(b, "</li>"));
    }
    return put(b, "</ul>");
}

static cst_err put_object(cst_buf *b, const json_t *v, int depth)
{
    const char *key;
    const json_t *item;
    TRY(put(b, "<ul class=\"obj\">"));
    json_object_foreach((json_t *)v, key, item)
    {
        TRY(put(b, "<li><span class=\"k\">"));
        TRY(put_escaped(b, key, strlen(key)));
        TRY(put(b, "</span>: "));
        TRY(put_value(b, item, depth + 1));
        TRY(put(b, "</li>"));
    }
    return put(b, "</ul>");
}

static cst_err put_value(cst_buf *b, const json_t *v, int depth)
{
    if (!v || json_is_string(v))
        return put_text(b, v);
    bool nested = (json_is_array(v) && json_array_size(v) > 0) ||
                  (json_is_object(v) && json_object_size(v) > 0);
    if (!nested || depth >= VALUE_DEPTH) {
        TRY(put(b, "<code>"));
        TRY(put_json(b, v));
        return put(b, "</code>");
    }
    return json_is_array(v) ? put_array(b, v, depth) : put_object(b, v, depth);
}

/* ---- the control table: one column a cell renderer ---- */

typedef cst_err (*cell_fn)(cst_buf *b, const json_t *row);

static cst_err cell_control(cst_buf *b, const json_t *row)
{
    TRY(put(b, "<span class=\"cid\">"));
    TRY(put_member(b, row, "id"));
    TRY(put(b, "</span><br>"));
    return put_member(b, row, "title");
}

static cst_err cell_status(cst_buf *b, const json_t *row)
{
    return put_badge(b, look_of(json_string_value(json_object_get(row, "status"))));
}

static cst_err cell_summary(cst_buf *b, const json_t *row)
{
    return put_member(b, row, "summary");
}

static cst_err cell_evidence(cst_buf *b, const json_t *row)
{
    const json_t *ev = json_object_get(row, "evidence");
    size_t i;
    const json_t *fact;
    if (json_array_size(ev) == 0)
        return put(b, "<span class=\"none\">none</span>");
    TRY(put(b, "<dl class=\"evidence\">"));
    json_array_foreach(ev, i, fact)
    {
        TRY(put(b, "<dt>"));
        TRY(put_member(b, fact, "name"));
        TRY(put(b, "</dt><dd>"));
        TRY(put_value(b, json_object_get(fact, "value"), 0));
        TRY(put(b, " <span class=\"obs\">observed "));
        TRY(put_member(b, fact, "observed_at"));
        TRY(put(b, "</span></dd>"));
    }
    return put(b, "</dl>");
}

static cst_err cell_thresholds(cst_buf *b, const json_t *row)
{
    return put_clauses(b, json_object_get(row, "thresholds"));
}

static cst_err cell_sources(cst_buf *b, const json_t *row)
{
    return put_clauses(b, json_object_get(row, "sources"));
}

static const struct column {
    const char *head, *css;
    cell_fn cell;
} columns[] = {
    {"Control", "c-control", cell_control},          {"Status", "c-status", cell_status},
    {"Summary", "c-summary", cell_summary},          {"Evidence", "c-evidence", cell_evidence},
    {"Thresholds", "c-thresholds", cell_thresholds}, {"Sources", "c-sources", cell_sources},
};
#define COLUMNS (sizeof(columns) / sizeof(columns[0]))

static cst_err control_row(cst_buf *b, const json_t *row)
{
    TRY(put(b, "<tr class=\"control\" id=\"control-"));
    TRY(put_member(b, row, "id"));
    TRY(put(b, "\">"));
    for (size_t c = 0; c < COLUMNS; c++) {
        TRY(putf(b, "<td class=\"%s\">", columns[c].css));
        TRY(columns[c].cell(b, row));
        TRY(put(b, "</td>"));
    }
    return put(b, "</tr>\n");
}

static cst_err page_controls(cst_buf *b, const json_t *report)
{
    const json_t *controls = json_object_get(report, "controls");
    size_t i;
    const json_t *row;
    TRY(put(b, "<table class=\"controls\">\n<thead><tr>"));
    for (size_t c = 0; c < COLUMNS; c++)
        TRY(putf(b, "<th class=\"%s\">%s</th>", columns[c].css, columns[c].head));
    TRY(put(b, "</tr></thead>\n<tbody>\n"));
    json_array_foreach(controls, i, row)
    {
        TRY(control_row(b, row));
    }
    return put(b, "</tbody>\n</table>\n");
}

/* ---- the page around it ---- */

static const char page_css[] =
    "body{font:13px/1.4 \"DejaVu Sans\",Helvetica,Arial,sans-serif;color:#000;background:#fff;"
    "margin:16px}\n"
    "h1{font-size:20px;margin:0 0 8px}\n"
    "table{border-collapse:collapse}\n"
    "table.meta td,table.meta th{text-align:left;padding:1px 12px 1px 0;vertical-align:top}\n"
    "table.controls{width:100%;table-layout:fixed}\n"
    "table.controls th,table.controls td{border:1px solid #777;padding:4px;vertical-align:top;"
    "text-align:left;overflow-wrap:anywhere}\n"
    "table.controls thead th{background:#eee}\n"
    ".c-control{width:13%}.c-status{width:10%}.c-summary{width:18%}.c-evidence{width:32%}"
    ".c-thresholds{width:13%}.c-sources{width:14%}\n"
    ".cid{font-weight:bold}\n"
    ".badge{display:inline-block;padding:1px 5px;border:1px solid #000;border-radius:3px;"
    "font-weight:bold;font-size:11px;text-align:center}\n"
    ".counts{margin:8px 0 12px}.counts .badge{margin-right:2px}.counts .n{margin-right:14px}\n"
    "dl.evidence{margin:0}dl.evidence dt{font-weight:bold}dl.evidence dd{margin:0 0 4px 8px}\n"
    ".obs{color:#555;font-size:11px;white-space:nowrap}\n"
    "ul{margin:0;padding-left:14px}ul.clauses{padding-left:12px}\n"
    "ul.arr{display:inline;padding:0;list-style:none}ul.arr>li{display:inline}"
    "ul.arr>li+li::before{content:\", \"}\n"
    ".k{font-style:italic}.none{color:#555}\n"
    "code{font-family:\"DejaVu Sans Mono\",monospace;font-size:12px}\n"
    "footer{margin-top:16px;border-top:1px solid #777;padding-top:6px;font-size:12px}\n"
    "@page{size:A4 landscape;margin:10mm}\n"
    "@media print{body{margin:0;font-size:9pt}.badge,table.controls thead th{"
    "-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    "tr{break-inside:avoid;page-break-inside:avoid}thead{display:table-header-group}}\n";

static cst_err page_head(cst_buf *b, const json_t *report)
{
    const json_t *node = json_object_get(report, "node");
    TRY(put(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               /* nothing may run or be fetched, even if a string escaped its escaping */
               "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
               "style-src 'unsafe-inline'\">\n"
               "<title>Compliance report "));
    TRY(put_member(b, report, "report_id"));
    TRY(put(b, " of node "));
    TRY(put_member(b, node, "id"));
    TRY(put(b, "</title>\n<style>\n"));
    TRY(put(b, page_css));
    for (size_t s = 0; s <= CST_REPORT__STATUSES; s++)
        TRY(putf(b, ".badge.%s{color:%s;background:%s}\n", looks[s].css, looks[s].fg, looks[s].bg));
    return put(b, "</style>\n</head>\n<body>\n");
}

/* The header's facts: a label and where the value is in the report (sub NULL: a top member).
 * A fact the report lacks is left out. */
static const struct meta_row {
    const char *label, *key, *sub;
} meta_rows[] = {
    {"Node", "node", "id"},
    {"Region", "node", "region"},
    {"Version", "node", "version"},
    {"Generated at", "generated_at", NULL},
    {"Scope", "scope", "kind"},
    {"Tenant", "scope", "tenant"},
    {"Report id", "report_id", NULL},
    {"Generated by", "generated_by", NULL},
    {"Requested by", "requested_by", NULL},
    {"Audited", "audited", NULL},
    {"Format", "format", NULL},
};

static cst_err page_header(cst_buf *b, const json_t *report)
{
    TRY(put(b, "<header>\n<h1>Compliance report</h1>\n<table class=\"meta\">\n"));
    for (size_t i = 0; i < sizeof(meta_rows) / sizeof(meta_rows[0]); i++) {
        const struct meta_row *m = &meta_rows[i];
        const json_t *v = json_object_get(report, m->key);
        v = m->sub ? json_object_get(v, m->sub) : v;
        if (!v)
            continue;
        TRY(putf(b, "<tr><th>%s</th><td>", m->label));
        TRY(put_text(b, v));
        TRY(put(b, "</td></tr>\n"));
    }
    TRY(put(b, "</table>\n<div class=\"counts\">"));
    const json_t *counts = json_object_get(report, "counts");
    TRY(putf(b, "<span class=\"n\">%lld controls:</span>",
             (long long)json_integer_value(json_object_get(counts, "controls"))));
    for (size_t s = 0; s < CST_REPORT__STATUSES; s++) {
        const char *name = cst_report_status_name((cst_report_status)s);
        TRY(put_badge(b, &looks[s]));
        TRY(putf(b, "<span class=\"n\">%lld</span>",
                 (long long)json_integer_value(json_object_get(counts, name))));
    }
    return put(b, "</div>\n</header>\n");
}

static cst_err page_footer(cst_buf *b, const json_t *report)
{
    (void)report;
    return put(b, "<footer>\n<p>This page is a rendering of a signed JSON report and is not "
                  "signed itself. To check the facts above, verify the signed JSON document "
                  "it was made from: <code>custodia report verify FILE</code> (add "
                  "<code>--public-key FILE</code> with the node's "
                  "<code>node-signing.pub</code> when the data directory is not at hand). It "
                  "prints <code>OK</code> when the document is intact and signed by the node's "
                  "key.</p>\n</footer>\n</body>\n</html>\n");
}

typedef cst_err (*part_fn)(cst_buf *b, const json_t *report);

static const part_fn parts[] = {page_head, page_header, page_controls, page_footer};

cst_err cst_report_html(const json_t *report, char **out)
{
    *out = NULL;
    ENSURE(json_is_object(report), CST_ERR_INVALID, "the report is not a JSON object");
    ENSURE(json_is_array(json_object_get(report, "controls")), CST_ERR_INVALID,
           "the report has no controls array");
    cst_buf b;
    cst_buf_init(&b, HTML_MAX);
    cst_err e = CST_OK;
    for (size_t i = 0; e == CST_OK && i < sizeof(parts) / sizeof(parts[0]); i++)
        e = parts[i](&b, report);
    if (e == CST_OK)
        e = cst_buf_append_u8(&b, 0);
    if (e != CST_OK) {
        cst_buf_free(&b);
        return e;
    }
    *out = (char *)b.data;
    return CST_OK;
}
