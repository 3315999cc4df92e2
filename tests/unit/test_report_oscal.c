/* test_report_oscal.c: the OSCAL rendering of the report (EVD-1, report/oscal.c): one
 * observation and one finding per control, satisfied exactly for pass, every control reviewed,
 * each fact's value as compact JSON, uuids well-formed, unique, resolved and stable; malformed
 * report bodies refused. tests/oscal/schema.sh validates its output against NIST's schema:
 *
 *   test_report_oscal --write FILE                  writes the sample report's rendering
 *   test_report_oscal --from SIGNED.json --write FILE   renders the "report" of a signed document
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "report/report.h"

#define GENERATED_AT "2026-03-01T10:00:00.000000Z"
#define T1 "2026-03-01T10:00:00.250000Z"
#define T2 "2026-03-01T10:00:02.500000Z"

/* A fact of the sample: its value as JSON text, and the compact JSON the document must carry. */
typedef struct sample_fact {
    const char *name, *value, *observed_at, *compact;
} sample_fact;

typedef struct sample_row {
    const char *id, *status, *state, *reason, *implementation, *collected;
    sample_fact facts[4];
} sample_row;

/* All four statuses, and evidence of every JSON type (the last fact needs \u escapes). */
static const sample_row rows[] = {
    {"ENC-1",
     "pass",
     "satisfied",
     "pass",
     "implemented",
     T2,
     {{"cipher", "\"AES-256-GCM\"", T1, "\"AES-256-GCM\""},
      {"dek_versions", "3", T2, "3"},
      {"ratio", "0.5", T1, "0.5"}}},
    {"IAM-3",
     "warn",
     "not-satisfied",
     "other",
     "implemented",
     T1,
     {{"all_enrolled", "true", T1, "true"},
      {"required", "false", T1, "false"},
      {"last_sign_in", "null", T1, "null"}}},
    {"LOG-2",
     "fail",
     "not-satisfied",
     "fail",
     "implemented",
     T2,
     {{"verification", "{\"b\": [1, 2], \"a\": \"x\\ny\"}", T2, "{\"a\":\"x\\ny\",\"b\":[1,2]}"},
      {"streams", "[1, \"two\", {\"k\": null}]", T1, "[1,\"two\",{\"k\":null}]"},
      {"label", "\"\\u00e9\\u2028 \"", T1, "\"\\u00E9\\u2028 \""}}},
    {"DET-1", "not_implemented", "not-satisfied", "fail", "planned", GENERATED_AT, {{0}}},
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static json_t *sample_report(const char *report_id)
{
    json_t *controls = json_array();
    for (size_t i = 0; i < NROWS; i++) {
        json_t *facts = json_array();
        for (const sample_fact *f = rows[i].facts; f->name; f++)
            json_array_append_new(facts, json_pack("{s:s,s:o,s:s}", "name", f->name, "value",
                                                   json_loads(f->value, JSON_DECODE_ANY, NULL),
                                                   "observed_at", f->observed_at));
        json_array_append_new(controls,
                              json_pack("{s:s,s:s,s:s++,s:s,s:s,s:s,s:s++,s:o}", "id", rows[i].id,
                                        "family", "X", "title", "the control ", rows[i].id, "",
                                        "sources", "exhibit 1", "thresholds", "fail when broken",
                                        "status", rows[i].status, "summary", "why ", rows[i].status,
                                        "", "evidence", facts));
    }
    return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s},s:{s:s,s:s},s:s,s:s,s:b,s:{},s:o}", "format",
                     "custodia-report/1", "report_id", report_id, "generated_at", GENERATED_AT,
                     "node", "id", "nd_0123456789abcdef0123", "region", "eu-1", "version", "0.1.0",
                     "scope", "kind", "tenant", "tenant", "tn_0123", "generated_by", "api",
                     "requested_by", "us_1", "audited", 1, "counts", "controls", controls);
}

static json_t *render(const json_t *report, char **text)
{
    char *out = NULL;
    assert_int_equal(cst_report_oscal(report, &out), CST_OK);
    assert_non_null(out);
    json_t *doc = json_loads(out, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(doc);
    if (text)
        *text = out;
    else
        free(out);
    return doc;
}

static json_t *at(const json_t *v, const char *path)
{
    char key[64];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        assert_true(n < sizeof(key));
        memcpy(key, path, n);
        key[n] = '\0';
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(key)) : json_object_get(v, key);
        path += n + (path[n] == '.');
    }
    return (json_t *)v;
}

static const char *text_at(const json_t *v, const char *path)
{
    const char *s = json_string_value(at(v, path));
    assert_non_null(s);
    return s;
}

/* The value of custodia's prop `name` on obj (it must be in custodia's namespace). */
static const char *prop_of(const json_t *obj, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(obj, "props"), i, p)
    {
        if (strcmp(text_at(p, "name"), name) == 0) {
            assert_string_equal(text_at(p, "ns"), "urn:custodia:oscal");
            return text_at(p, "value");
        }
    }
    fail_msg("no prop %s", name);
    return NULL;
}

static bool uuid5_shaped(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-5xxx-Vxxx-xxxxxxxxxxxx";
    if (strlen(s) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; shape[i]; i++) {
        bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
        if (shape[i] == 'x' ? !hex : shape[i] == 'V' ? !strchr("89ab", s[i]) : s[i] != shape[i])
            return false;
    }
    return true;
}

static void test_uuid5_known_answers(void **state)
{
    /* RFC 4122 appendix C namespaces (DNS, URL); the answers are Python's uuid.uuid5. */
    static const uint8_t dns[16] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
                                    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
    static const uint8_t url[16] = {0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
    char u[37];
    assert_int_equal(cst_uuid5(dns, "www.example.com", u), CST_OK);
    assert_string_equal(u, "2ed6657d-e927-568b-95e1-2665a8aea6a2");
    assert_int_equal(cst_uuid5(url, "https://csrc.nist.gov/ns/oscal", u), CST_OK);
    assert_string_equal(u, "1c15af91-d1a7-53c5-b827-b9c243c78ae8");
    assert_true(uuid5_shaped(u));
}

static void test_evd1_oscal_document_and_result(void **state)
{
    json_t *report = sample_report("rp_00000000000000000001");
    json_t *doc = render(report, NULL);
    assert_int_equal(json_object_size(doc), 1);
    json_t *ar = at(doc, "assessment-results");
    assert_non_null(ar);
    assert_string_equal(text_at(ar, "metadata.oscal-version"), "1.0.6");
    assert_string_equal(text_at(ar, "metadata.last-modified"), GENERATED_AT);
    assert_string_equal(text_at(ar, "metadata.version"), "rp_00000000000000000001");
    assert_non_null(strstr(text_at(ar, "metadata.title"), "rp_00000000000000000001"));
    json_t *md = at(ar, "metadata");
    assert_string_equal(prop_of(md, "report-id"), "rp_00000000000000000001");
    assert_string_equal(prop_of(md, "node-id"), "nd_0123456789abcdef0123");
    assert_string_equal(prop_of(md, "node-region"), "eu-1");
    assert_string_equal(prop_of(md, "scope"), "tenant");
    assert_string_equal(prop_of(md, "tenant-id"), "tn_0123");
    assert_string_equal(prop_of(md, "audited"), "true");
    /* import-ap points at the back-matter resource that stands for the plan */
    char href[40];
    (void)snprintf(href, sizeof(href), "#%s", text_at(ar, "back-matter.resources.0.uuid"));
    assert_string_equal(text_at(ar, "import-ap.href"), href);

    assert_int_equal(json_array_size(at(ar, "results")), 1);
    json_t *res = at(ar, "results.0");
    assert_string_equal(text_at(res, "start"), GENERATED_AT);
    assert_string_equal(text_at(res, "end"), T2); /* the last fact read */
    json_t *sel = at(res, "reviewed-controls.control-selections");
    assert_int_equal(json_array_size(sel), 1);
    json_t *inc = at(sel, "0.include-controls");
    assert_int_equal(json_array_size(inc), NROWS);
    for (size_t i = 0; i < NROWS; i++)
        assert_string_equal(text_at(json_array_get(inc, i), "control-id"), rows[i].id);
    assert_string_equal(prop_of(res, "count-pass"), "1");
    assert_string_equal(prop_of(res, "count-warn"), "1");
    assert_string_equal(prop_of(res, "count-fail"), "1");
    assert_string_equal(prop_of(res, "count-not_implemented"), "1");
    json_decref(doc);
    json_decref(report);
}

static void check_observation(const json_t *obs, const sample_row *r)
{
    assert_string_equal(prop_of(obs, "control-id"), r->id);
    assert_string_equal(prop_of(obs, "custodia-status"), r->status);
    assert_non_null(strstr(text_at(obs, "title"), r->id));
    assert_string_equal(text_at(obs, "description") + 4, r->status); /* "why <status>" */
    assert_string_equal(text_at(obs, "methods.0"), "TEST");
    assert_string_equal(text_at(obs, "collected"), r->collected);
    size_t n = 0;
    while (r->facts[n].name)
        n++;
    json_t *ev = at(obs, "relevant-evidence");
    assert_int_equal(json_array_size(ev), n);
    if (n == 0)
        assert_null(ev); /* omitted: an OSCAL array holds at least one item */
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(ev, i);
        assert_string_equal(text_at(e, "description"), r->facts[i].name);
        assert_string_equal(prop_of(e, "value"), r->facts[i].compact);
        assert_string_equal(prop_of(e, "observed-at"), r->facts[i].observed_at);
    }
}

static void check_finding(const json_t *f, const sample_row *r, const char *obs_uuid)
{
    assert_string_equal(prop_of(f, "custodia-status"), r->status);
    assert_string_equal(text_at(f, "target.type"), "objective-id");
    assert_string_equal(text_at(f, "target.target-id"), r->id);
    assert_string_equal(text_at(f, "target.status.state"), r->state);
    assert_string_equal(text_at(f, "target.status.reason"), r->reason);
    assert_non_null(strstr(text_at(f, "target.status.remarks"), r->status));
    assert_string_equal(text_at(f, "target.implementation-status.state"), r->implementation);
    assert_string_equal(text_at(f, "target.description"), "fail when broken");
    assert_int_equal(json_array_size(at(f, "related-observations")), 1);
    assert_string_equal(text_at(f, "related-observations.0.observation-uuid"), obs_uuid);
}

static void test_evd1_oscal_one_observation_and_finding_per_control(void **state)
{
    json_t *report = sample_report("rp_00000000000000000001");
    json_t *doc = render(report, NULL);
    json_t *res = at(doc, "assessment-results.results.0");
    assert_int_equal(json_array_size(at(res, "observations")), NROWS);
    assert_int_equal(json_array_size(at(res, "findings")), NROWS);
    size_t satisfied = 0;
    for (size_t i = 0; i < NROWS; i++) {
        json_t *obs = json_array_get(at(res, "observations"), i);
        json_t *f = json_array_get(at(res, "findings"), i);
        check_observation(obs, &rows[i]);
        check_finding(f, &rows[i], text_at(obs, "uuid"));
        satisfied += strcmp(text_at(f, "target.status.state"), "satisfied") == 0;
    }
    assert_int_equal(satisfied, 1); /* pass, and only pass */
    json_decref(doc);
    json_decref(report);
}

/* Every "uuid" member, in document order; references ("*-uuid", "#<uuid>" hrefs) apart. */
static void walk_uuids(const json_t *v, json_t *defined, json_t *refs)
{
    const char *key;
    json_t *m;
    size_t i;
    if (json_is_array(v))
        json_array_foreach((json_t *)v, i, m) walk_uuids(m, defined, refs);
    if (!json_is_object(v))
        return;
    json_object_foreach((json_t *)v, key, m)
    {
        size_t n = strlen(key);
        if (strcmp(key, "uuid") == 0)
            json_array_append(defined, m);
        else if (n > 5 && strcmp(key + n - 5, "-uuid") == 0)
            json_array_append(refs, m);
        else if (strcmp(key, "href") == 0 && json_string_value(m)[0] == '#')
            json_array_append_new(refs, json_string(json_string_value(m) + 1));
        walk_uuids(m, defined, refs);
    }
}

static bool holds(const json_t *list, const char *s)
{
    size_t i;
    json_t *m;
    json_array_foreach((json_t *)list, i, m) if (strcmp(json_string_value(m), s) == 0) return true;
    return false;
}

static void test_evd1_oscal_uuids_unique_and_resolved(void **state)
{
    json_t *report = sample_report("rp_00000000000000000001");
    json_t *doc = render(report, NULL);
    json_t *defined = json_array(), *refs = json_array(), *seen = json_array();
    walk_uuids(doc, defined, refs);
    /* the document, its result, the tool, the plan, and an observation and finding per row */
    assert_int_equal(json_array_size(defined), 4 + 2 * NROWS);
    size_t i;
    json_t *u;
    json_array_foreach(defined, i, u)
    {
        assert_true(uuid5_shaped(json_string_value(u)));
        assert_false(holds(seen, json_string_value(u)));
        json_array_append(seen, u);
    }
    /* every finding's observation, every actor, the plan's href */
    assert_int_equal(json_array_size(refs), 1 + 3 * NROWS);
    json_array_foreach(refs, i, u) assert_true(holds(defined, json_string_value(u)));
    json_decref(seen);
    json_decref(defined);
    json_decref(refs);
    json_decref(doc);
    json_decref(report);
}

/* The same report renders the same bytes; another report shares only the tool's and the plan's
 * uuids (they name the node and the catalogue, the same subjects in every report). */
static void test_evd1_oscal_stable_per_report(void **state)
{
    json_t *a = sample_report("rp_00000000000000000001"), *b = sample_report("rp_0000000000000002");
    char *ta, *ta2, *tb;
    json_t *da = render(a, &ta), *da2 = render(a, &ta2), *db = render(b, &tb);
    assert_string_equal(ta, ta2);
    json_t *ua = json_array(), *ub = json_array(), *refs = json_array();
    walk_uuids(da, ua, refs);
    walk_uuids(db, ub, refs);
    size_t i, shared = 0;
    json_t *u;
    json_array_foreach(ua, i, u) shared += holds(ub, json_string_value(u));
    assert_int_equal(shared, 2);
    assert_string_equal(
        text_at(da, "assessment-results.results.0.local-definitions.components.0.uuid"),
        text_at(db, "assessment-results.results.0.local-definitions.components.0.uuid"));
    json_decref(ua);
    json_decref(ub);
    json_decref(refs);
    json_decref(da);
    json_decref(da2);
    json_decref(db);
    free(ta);
    free(ta2);
    free(tb);
    json_decref(a);
    json_decref(b);
}

/* A change to the sample: at the top (row < 0), on a row (fact < 0), or on one of its facts;
 * value is JSON text, NULL removes the member. */
typedef struct mutation {
    int row, fact;
    const char *key, *value;
} mutation;

static const mutation malformed[] = {
    {-1, -1, "format", "\"custodia-report/2\""},
    {-1, -1, "report_id", NULL},
    {-1, -1, "report_id", "\"rp 1\""},
    {-1, -1, "generated_at", "\"2026-02-30T00:00:00.000000Z\""},
    {-1, -1, "generated_at", "\"2026-03-01T10:00:00Z\""},
    {-1, -1, "generated_at", "\"2026-03-01 10:00:00.000000Z\""},
    {-1, -1, "node", "{\"id\": \" nd_1\", \"region\": \"r\", \"version\": \"0.1.0\"}"},
    {-1, -1, "node", "{\"id\": \"nd\\n1\", \"region\": \"r\", \"version\": \"0.1.0\"}"},
    {-1, -1, "node", "{\"id\": \"nd_1\", \"version\": \"0.1.0\"}"},
    {-1, -1, "scope", "{\"kind\": \"tenant\"}"},
    {-1, -1, "scope", "{\"kind\": \"node\", \"tenant\": \"tn 1 \"}"},
    {-1, -1, "audited", "\"yes\""},
    {-1, -1, "controls", "[]"},
    {-1, -1, "controls", "{}"},
    {0, -1, "id", "\"1ENC\""},
    {0, -1, "id", "\"ENC 1\""},
    {0, -1, "id", "7"},
    {0, -1, "id", NULL},
    {1, -1, "id", "\"ENC-1\""},
    {1, -1, "status", "\"maybe\""},
    {2, -1, "summary", NULL},
    {2, -1, "evidence", "{}"},
    {0, 0, "name", "\"a\\nb\""},
    {0, 0, "name", NULL},
    {0, 0, "observed_at", "\"yesterday\""},
    {0, 0, "value", NULL},
};

static void test_evd1_oscal_refuses_malformed_reports(void **state)
{
    char *out = (char *)"untouched";
    assert_int_equal(cst_report_oscal(NULL, &out), CST_ERR_INVALID);
    assert_null(out);
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        const mutation *m = &malformed[i];
        json_t *r = sample_report("rp_00000000000000000001"), *target = r;
        if (m->row >= 0)
            target = json_array_get(json_object_get(r, "controls"), (size_t)m->row);
        if (m->fact >= 0)
            target = json_array_get(json_object_get(target, "evidence"), (size_t)m->fact);
        if (m->value)
            json_object_set_new(target, m->key, json_loads(m->value, JSON_DECODE_ANY, NULL));
        else
            json_object_del(target, m->key);
        out = (char *)"untouched";
        cst_err e = cst_report_oscal(r, &out);
        if (e != CST_ERR_INVALID)
            fail_msg("case %zu (%s = %s): got %d", i, m->key, m->value ? m->value : "absent", e);
        assert_null(out);
        json_decref(r);
    }
    /* a name longer than any prop value custodia writes (256 bytes) */
    char longid[300];
    memset(longid, 'n', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    json_t *r = sample_report("rp_00000000000000000001");
    json_object_set_new(json_object_get(r, "node"), "id", json_string(longid));
    assert_int_equal(cst_report_oscal(r, &out), CST_ERR_INVALID);
    assert_null(out);
    json_decref(r);
}

static int write_mode(const char *from, const char *path)
{
    json_t *signed_doc = NULL, *report;
    if (from) {
        json_error_t err;
        signed_doc = json_load_file(from, 0, &err);
        report = json_object_get(signed_doc, "report");
        if (!report) {
            fprintf(stderr, "test_report_oscal: %s has no report (%s)\n", from, err.text);
            json_decref(signed_doc);
            return 2;
        }
    } else {
        report = signed_doc = sample_report("rp_00000000000000000001");
    }
    char *out = NULL;
    cst_err e = cst_report_oscal(report, &out);
    json_decref(signed_doc);
    if (e != CST_OK) {
        fprintf(stderr, "test_report_oscal: %s\n", cst_err_message(e));
        return 1;
    }
    FILE *f = fopen(path, "wx");
    int rc = f && fputs(out, f) >= 0 && fputc('\n', f) != EOF ? 0 : 1;
    if (f && fclose(f) != 0)
        rc = 1;
    if (rc)
        fprintf(stderr, "test_report_oscal: cannot write %s (it must not exist)\n", path);
    free(out);
    return rc;
}

int main(int argc, char **argv)
{
    if (cst_crypto_init() != CST_OK)
        return 1;
    if (argc > 1) {
        const char *from = NULL, *path = NULL;
        for (int i = 1; i + 1 < argc; i += 2) {
            if (strcmp(argv[i], "--from") == 0)
                from = argv[i + 1];
            else if (strcmp(argv[i], "--write") == 0)
                path = argv[i + 1];
        }
        if (!path || argc % 2 == 0) {
            fprintf(stderr, "usage: test_report_oscal [--from SIGNED.json] --write FILE\n");
            return 2;
        }
        return write_mode(from, path);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid5_known_answers),
        cmocka_unit_test(test_evd1_oscal_document_and_result),
        cmocka_unit_test(test_evd1_oscal_one_observation_and_finding_per_control),
        cmocka_unit_test(test_evd1_oscal_uuids_unique_and_resolved),
        cmocka_unit_test(test_evd1_oscal_stable_per_report),
        cmocka_unit_test(test_evd1_oscal_refuses_malformed_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
