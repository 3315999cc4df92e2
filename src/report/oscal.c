/* oscal.c: the report body rendered as an OSCAL 1.0.6 assessment-results document (EVD-1,
 * issue 15): one result, and per control an observation carrying its evidence and a finding
 * judging it. docs/report.md ("The OSCAL document") maps every field; the document validates
 * against NIST's schema (tests/oscal/). The signed JSON stays the authoritative copy. */
#include "report/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/json.h"
#include "util/util.h"

#define OSCAL_VERSION "1.0.6"
/* The namespace of custodia's own props (OSCAL reserves names without one for its own). */
#define OSCAL_NS "urn:custodia:oscal"
#define MAX_CONTROLS 512
#define MAX_TOKEN 64
#define MAX_PLAIN 256

/* Every uuid of the document is a version-5 uuid in this namespace (a fixed random uuid), named
 * "<report_id>/<kind>/<control id>": the same report always renders the same document, and no
 * two reports share a part's uuid. The node's tool component is named "node/<node id>" and the
 * catalogue resource "catalogue", so both stay the same across reports (OSCAL's per-subject
 * uuids). */
static const uint8_t uuid_ns[16] = {0x74, 0x47, 0x62, 0x8e, 0x52, 0x3d, 0x40, 0xfe,
                                    0x86, 0x43, 0xdc, 0x65, 0x3f, 0xab, 0xba, 0xc5};

/* How each custodia status reads in OSCAL: the objective status (state and reason) and the
 * implementation status of the control. Only pass satisfies the objective. */
static const struct {
    const char *state, *reason, *implementation;
} oscal_status[CST_REPORT__STATUSES] = {
    [CST_REPORT_PASS] = {"satisfied", "pass", "implemented"},
    [CST_REPORT_WARN] = {"not-satisfied", "other", "implemented"},
    [CST_REPORT_FAIL] = {"not-satisfied", "fail", "implemented"},
    [CST_REPORT_NOT_IMPLEMENTED] = {"not-satisfied", "fail", "planned"},
};

/* What every part needs: the report's identity and the uuid of the tool that observed. */
typedef struct oscal_ctx {
    const json_t *report;
    const char *report_id, *generated_at, *node_id;
    char tool_uuid[37], plan_uuid[37];
} oscal_ctx;

/* ---- the input: a custodia report body, checked before anything is built ---- */

/* Printable ASCII with no space at either end, at most MAX_PLAIN bytes: within OSCAL's
 * StringDatatype (a prop value, a version, a name) whatever JSON Schema regex engine reads it. */
static bool plain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_PLAIN || s[0] == ' ' || s[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

/* OSCAL's TokenDatatype (an XML NCName), restricted to ASCII: control ids such as ENC-1 are
 * tokens as they are, so they are used unchanged. */
static bool token(const char *s)
{
    size_t n = strlen(s);
    char c = (char)(s[0] | 0x20);
    if (n == 0 || n > MAX_TOKEN || !(s[0] == '_' || (c >= 'a' && c <= 'z')))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* A time exactly as custodia writes it (UTC, microseconds), a real calendar date, in the years
 * 2000-2999 (OSCAL's date-time pattern admits 1900-2999). */
static bool report_time(const char *s)
{
    int64_t us;
    char back[32];
    if (strlen(s) != 27 || !cst_time_parse(s, &us) || us < 0)
        return false;
    cst_time_format(us, back);
    return strcmp(back, s) == 0 && s[0] == '2';
}

static cst_err need_str(const json_t *o, const char *key, bool (*ok)(const char *),
                        const char **out)
{
    TRY(cst_json_str(o, key, true, out));
    ENSURE(!ok || ok(*out), CST_ERR_INVALID, "report field \"%s\" has an unusable value", key);
    return CST_OK;
}

static cst_err status_of(const char *name, cst_report_status *out)
{
    for (int s = 0; s < CST_REPORT__STATUSES; s++)
        if (strcmp(name, cst_report_status_name((cst_report_status)s)) == 0) {
            *out = (cst_report_status)s;
            return CST_OK;
        }
    return cst_fail(CST_ERR_INVALID, "unknown control status \"%.32s\"", name);
}

static cst_err check_fact(const json_t *f)
{
    const char *s;
    ENSURE(json_is_object(f) && json_object_get(f, "value"), CST_ERR_INVALID,
           "a fact must be an object with a value");
    TRY(need_str(f, "name", plain, &s));
    return need_str(f, "observed_at", report_time, &s);
}

static cst_err check_row(const json_t *row, const json_t *rows, size_t index)
{
    const char *id, *s;
    cst_report_status st = CST_REPORT_FAIL;
    ENSURE(json_is_object(row), CST_ERR_INVALID, "a control row must be an object");
    TRY(need_str(row, "id", token, &id));
    for (size_t i = 0; i < index; i++)
        ENSURE(strcmp(json_string_value(json_object_get(json_array_get(rows, i), "id")), id),
               CST_ERR_INVALID, "control %s appears twice", id);
    TRY(need_str(row, "status", NULL, &s));
    TRY(status_of(s, &st));
    static const char *const texts[] = {"title", "summary", "sources", "thresholds"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        TRY(need_str(row, texts[i], NULL, &s));
    const json_t *facts = json_object_get(row, "evidence");
    ENSURE(json_is_array(facts), CST_ERR_INVALID, "control %s: evidence must be an array", id);
    for (size_t i = 0; i < json_array_size(facts); i++)
        TRY(check_fact(json_array_get(facts, i)));
    return CST_OK;
}

static cst_err check_report(const json_t *r)
{
    const char *s;
    json_t *node, *scope;
    ENSURE(json_is_object(r), CST_ERR_INVALID, "the report must be an object");
    TRY(need_str(r, "format", NULL, &s));
    ENSURE(strcmp(s, "custodia-report/1") == 0, CST_ERR_INVALID, "not a custodia-report/1 body");
    TRY(need_str(r, "report_id", token, &s));
    TRY(need_str(r, "generated_at", report_time, &s));
    TRY(need_str(r, "generated_by", plain, &s));
    TRY(need_str(r, "requested_by", plain, &s));
    ENSURE(json_is_boolean(json_object_get(r, "audited")), CST_ERR_INVALID,
           "report field \"audited\" must be a boolean");
    TRY(cst_json_obj(r, "node", true, &node));
    static const char *const node_fields[] = {"id", "region", "version"};
    for (size_t i = 0; i < sizeof(node_fields) / sizeof(node_fields[0]); i++)
        TRY(need_str(node, node_fields[i], plain, &s));
    TRY(cst_json_obj(r, "scope", true, &scope));
    TRY(need_str(scope, "kind", plain, &s));
    TRY(cst_json_str(scope, "tenant", strcmp(s, "tenant") == 0, &s));
    ENSURE(!s || plain(s), CST_ERR_INVALID, "report field \"tenant\" has an unusable value");
    const json_t *rows = json_object_get(r, "controls");
    ENSURE(json_is_array(rows) && json_array_size(rows) > 0 &&
               json_array_size(rows) <= MAX_CONTROLS,
           CST_ERR_INVALID, "the report must have between 1 and %d controls", MAX_CONTROLS);
    for (size_t i = 0; i < json_array_size(rows); i++)
        TRY(check_row(json_array_get(rows, i), rows, i));
    return CST_OK;
}

/* ---- the output ---- */

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_t *prop(const char *name, const char *value)
{
    return json_pack("{s:s,s:s,s:s}", "name", name, "ns", OSCAL_NS, "value", value);
}

static cst_err part_uuid(const oscal_ctx *x, const char *kind, const char *id, char out[37])
{
    char name[160];
    TRY(cst_fmt(name, sizeof(name), "%s/%s/%s", x->report_id, kind, id));
    return cst_uuid5(uuid_ns, name, out);
}

/* The tool that made every observation: the custodia node itself. */
static json_t *origins(const oscal_ctx *x)
{
    return json_pack("[{s:[{s:s,s:s}]}]", "actors", "type", "tool", "actor-uuid", x->tool_uuid);
}

/* A fact's value as compact JSON text (keys sorted, ASCII only: a valid prop value whatever the
 * value holds); *text is freed with cst_json_free_text. */
static json_t *evidence_item(const json_t *fact)
{
    char *text = json_dumps(json_object_get(fact, "value"),
                            JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    json_t *item =
        text ? json_pack("{s:s,s:[o,o]}", "description", str(fact, "name"), "props",
                         prop("value", text), prop("observed-at", str(fact, "observed_at")))
             : NULL;
    cst_json_free_text(text);
    return item;
}

/* When the last of a row's facts was read, or since if none was later (the times have one
 * fixed form, so they compare as text). */
static const char *latest(const json_t *row, const char *since)
{
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(row, "evidence"), i, f)
    {
        if (strcmp(str(f, "observed_at"), since) > 0)
            since = str(f, "observed_at");
    }
    return since;
}

/* The observation of one control: its summary, its facts as relevant evidence, collected when
 * the last fact was read (at the report's time when it has none). */
static cst_err observation(const oscal_ctx *x, const json_t *row, const char *uuid, json_t **out)
{
    const json_t *facts = json_object_get(row, "evidence");
    json_t *evidence = NULL; /* omitted without facts: OSCAL arrays hold at least one item */
    for (size_t i = 0; i < json_array_size(facts); i++) {
        const json_t *f = json_array_get(facts, i);
        if (!evidence)
            evidence = json_array();
        if (!evidence || json_array_append_new(evidence, evidence_item(f)) != 0) {
            json_decref(evidence);
            return cst_fail(CST_ERR_INTERNAL, "out of memory");
        }
    }
    *out = json_pack("{s:s,s:s++,s:s,s:[o,o],s:[s],s:[s],s:o,s:o*,s:s}", "uuid", uuid, "title",
                     str(row, "id"), ": ", str(row, "title"), "description", str(row, "summary"),
                     "props", prop("control-id", str(row, "id")),
                     prop("custodia-status", str(row, "status")), "methods", "TEST", "types",
                     "control-objective", "origins", origins(x), "relevant-evidence", evidence,
                     "collected", latest(row, x->generated_at));
    ENSURE(*out, CST_ERR_INTERNAL, "out of memory");
    return CST_OK;
}

/* The finding on one control: the objective (the control id) satisfied only when it passed. */
static cst_err finding(const oscal_ctx *x, const json_t *row, const char *obs_uuid, json_t **out)
{
    char uuid[37];
    cst_report_status st = CST_REPORT_FAIL;
    TRY(part_uuid(x, "finding", str(row, "id"), uuid));
    TRY(status_of(str(row, "status"), &st));
    *out = json_pack(
        "{s:s,s:s++,s:s,s:[o],s:o,s:{s:s,s:s,s:s,s:{s:s,s:s,s:s+},s:{s:s}},s:[{s:s}],s:s+}", "uuid",
        uuid, "title", str(row, "id"), ": ", str(row, "title"), "description", str(row, "summary"),
        "props", prop("custodia-status", str(row, "status")), "origins", origins(x), "target",
        "type", "objective-id", "target-id", str(row, "id"), "description", str(row, "thresholds"),
        "status", "state", oscal_status[st].state, "reason", oscal_status[st].reason, "remarks",
        "custodia status: ", str(row, "status"), "implementation-status", "state",
        oscal_status[st].implementation, "related-observations", "observation-uuid", obs_uuid,
        "remarks", "Sources: ", str(row, "sources"));
    ENSURE(*out, CST_ERR_INTERNAL, "out of memory");
    return CST_OK;
}

/* Observations, findings and the control selection, one entry each per row. */
static cst_err rows(const oscal_ctx *x, json_t *observations, json_t *findings, json_t *selected)
{
    const json_t *controls = json_object_get(x->report, "controls");
    for (size_t i = 0; i < json_array_size(controls); i++) {
        const json_t *row = json_array_get(controls, i);
        char obs_uuid[37];
        json_t *obs = NULL, *fnd = NULL;
        TRY(part_uuid(x, "observation", str(row, "id"), obs_uuid));
        TRY(observation(x, row, obs_uuid, &obs));
        cst_err e = finding(x, row, obs_uuid, &fnd);
        if (e != CST_OK) {
            json_decref(obs);
            return e;
        }
        /* each append takes its value, even when it fails */
        int bad = json_array_append_new(observations, obs);
        bad |= json_array_append_new(findings, fnd);
        bad |= json_array_append_new(selected, json_pack("{s:s}", "control-id", str(row, "id")));
        ENSURE(!bad, CST_ERR_INTERNAL, "out of memory");
    }
    return CST_OK;
}

static json_t *count_props(const json_t *controls)
{
    size_t n[CST_REPORT__STATUSES] = {0};
    for (size_t i = 0; i < json_array_size(controls); i++) {
        cst_report_status st = CST_REPORT_FAIL;
        if (status_of(str(json_array_get(controls, i), "status"), &st) == CST_OK)
            n[st]++;
    }
    json_t *props = json_array();
    for (int s = 0; props && s < CST_REPORT__STATUSES; s++) {
        char name[40], value[24];
        (void)snprintf(name, sizeof(name), "count-%s", cst_report_status_name(s));
        (void)snprintf(value, sizeof(value), "%zu", n[s]);
        (void)json_array_append_new(props, prop(name, value));
    }
    return props;
}

static cst_err result(const oscal_ctx *x, json_t **out)
{
    char uuid[37];
    TRY(part_uuid(x, "result", "", uuid));
    const json_t *controls = json_object_get(x->report, "controls"), *row;
    const char *end = x->generated_at; /* the last fact read */
    size_t i;
    json_array_foreach(controls, i, row) end = latest(row, end);
    json_t *observations = json_array(), *findings = json_array(), *selected = json_array();
    cst_err e = observations && findings && selected ? rows(x, observations, findings, selected)
                                                     : cst_fail(CST_ERR_INTERNAL, "out of memory");
    const json_t *node = json_object_get(x->report, "node");
    if (e == CST_OK) {
        *out = json_pack(
            "{s:s,s:s+,s:s,s:s,s:s,s:o,s:{s:[{s:s,s:s,s:s+,s:s,s:{s:s}}]},s:{s:s,s:[{s:s,s:O}]},"
            "s:O,s:O}",
            "uuid", uuid, "title", "custodia's controls on node ", x->node_id, "description",
            "Every control of custodia's catalogue (CONTROLS.md) in scope, evaluated on the live "
            "node by its own evaluators, each with the evidence read at the time.",
            "start", x->generated_at, "end", end, "props", count_props(controls),
            "local-definitions", "components", "uuid", x->tool_uuid, "type", "software", "title",
            "custodia ", str(node, "version"), "description",
            "The custodia node that evaluated its own controls and signed the report.", "status",
            "state", "operational", "reviewed-controls", "description",
            "The controls of custodia's catalogue in the report's scope.", "control-selections",
            "description", "Each control the report evaluated.", "include-controls", selected,
            "observations", observations, "findings", findings);
        if (!*out)
            e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    json_decref(observations);
    json_decref(findings);
    json_decref(selected);
    return e;
}

static json_t *metadata(const oscal_ctx *x)
{
    const json_t *r = x->report, *node = json_object_get(r, "node"),
                 *scope = json_object_get(r, "scope");
    json_t *props = json_pack(
        "[o,o,o,o,o,o,o,o,o]", prop("report-id", x->report_id),
        prop("report-format", str(r, "format")), prop("node-id", x->node_id),
        prop("node-region", str(node, "region")), prop("custodia-version", str(node, "version")),
        prop("scope", str(scope, "kind")), prop("generated-by", str(r, "generated_by")),
        prop("requested-by", str(r, "requested_by")),
        prop("audited", json_is_true(json_object_get(r, "audited")) ? "true" : "false"));
    if (props && str(scope, "tenant"))
        (void)json_array_append_new(props, prop("tenant-id", str(scope, "tenant")));
    return json_pack("{s:s+,s:s,s:s,s:s,s:o,s:s}", "title", "custodia compliance report ",
                     x->report_id, "last-modified", x->generated_at, "version", x->report_id,
                     "oscal-version", OSCAL_VERSION, "props", props, "remarks",
                     "A rendering of custodia's signed report: the signed JSON document is the "
                     "authoritative copy (custodia report verify).");
}

/* import-ap must name an assessment plan; custodia's plan is its catalogue, described by a
 * back-matter resource the href points at. */
static json_t *back_matter(const oscal_ctx *x)
{
    return json_pack("{s:[{s:s,s:s,s:s}]}", "resources", "uuid", x->plan_uuid, "title",
                     "custodia's control catalogue (CONTROLS.md)", "description",
                     "custodia has no separate OSCAL assessment plan: the report evaluates every "
                     "control of its catalogue, each against the thresholds in docs/report.md.");
}

cst_err cst_report_oscal(const json_t *report, char **out)
{
    *out = NULL;
    TRY(check_report(report));
    oscal_ctx x = {.report = report,
                   .report_id = str(report, "report_id"),
                   .generated_at = str(report, "generated_at"),
                   .node_id = str(json_object_get(report, "node"), "id")};
    char name[sizeof("node/") + MAX_PLAIN], href[40], doc_uuid[37];
    TRY(cst_fmt(name, sizeof(name), "node/%s", x.node_id));
    TRY(cst_uuid5(uuid_ns, name, x.tool_uuid));
    TRY(cst_uuid5(uuid_ns, "catalogue", x.plan_uuid));
    TRY(part_uuid(&x, "assessment-results", "", doc_uuid));
    TRY(cst_fmt(href, sizeof(href), "#%s", x.plan_uuid));
    json_t *res = NULL;
    TRY(result(&x, &res));
    json_t *doc = json_pack("{s:{s:s,s:o,s:{s:s,s:s},s:[o],s:o}}", "assessment-results", "uuid",
                            doc_uuid, "metadata", metadata(&x), "import-ap", "href", href,
                            "remarks", "The plan is custodia's catalogue (see back-matter).",
                            "results", res, "back-matter", back_matter(&x));
    ENSURE(doc, CST_ERR_INTERNAL, "out of memory");
    char *text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    ENSURE(text, CST_ERR_INTERNAL, "out of memory");
    *out = strdup(text); /* the caller frees with free(), jansson's allocator wipes */
    cst_json_free_text(text);
    ENSURE(*out, CST_ERR_INTERNAL, "out of memory");
    return CST_OK;
}
