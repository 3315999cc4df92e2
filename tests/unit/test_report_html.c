/* test_report_html.c: the compliance report's HTML page (EVD-1, report/html.c): one row per
 * control in order, a badge with a word for every status, every string of the report escaped,
 * nothing that runs or fetches, evidence values readable, malformed reports refused.
 * `test_report_html --write FILE` writes the sample page for tests/report_html_chromium.sh and
 * prints "controls: N". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "report/report.h"

#define HOSTILE_SCRIPT "<script>alert(1)</script>"
#define HOSTILE_QUOTES "\"'&"
/* Markers <x-1> ... <x-MARKERS> are planted, one in each field the page shows. */
#define MARKERS 21

static json_t *fact(const char *name, json_t *value, const char *observed_at)
{
    return json_pack("{s:s,s:o,s:s}", "name", name, "value", value, "observed_at", observed_at);
}

static json_t *row(const char *id, const char *title, const char *status, const char *summary,
                   const char *thresholds, const char *sources, json_t *evidence)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "id", id, "family", "X", "title", title,
                     "status", status, "summary", summary, "thresholds", thresholds, "sources",
                     sources, "evidence", evidence);
}

#define T0 "2026-12-02T06:20:26.723774Z"

/* Five controls: every status, PASS twice; evidence of every JSON type, hostile strings, and a
 * marker in every field. */
static json_t *sample_report(void)
{
    json_t *enc1 = json_pack(
        "[o,o,o,o,o,o,o,o,o]", fact("cipher", json_string("AES-256-GCM"), T0),
        fact("tenants", json_integer(3), T0), fact("hsts", json_true(), T0),
        fact("last_drill", json_null(), T0),
        fact("protocols", json_pack("[s,s]", "TLS1.3", "TLS1.2"), T0),
        fact("policy", json_pack("{s:i,s:s}", "min_length", 14, "storage", "Argon2id"), T0),
        fact("dek_versions_per_tenant", json_object(), T0),
        fact("tenant_names", json_pack("[s,s]", HOSTILE_SCRIPT, HOSTILE_QUOTES), T0),
        fact("deep", json_pack("{s:{s:{s:{s:{s:i}}}}}", "a", "b", "c", "d", "e", 1), T0));
    json_t *iam3 = json_pack("[o]", fact("without_factor",
                                         json_pack("[{s:s,s:s},{s:s,s:s}]", "user", "us_1", "role",
                                                   "owner", "user", "us_2", "role", "admin"),
                                         T0));
    json_t *marked =
        json_pack("[o]", json_pack("{s:s,s:[s,{s:s,s:{s:{s:{s:s}}}}],s:s}", "name", "name <x-15>",
                                   "value", "item <x-16>", "key <x-17>", "value <x-18>", "a", "b",
                                   "c", "d", "<x-19>", "observed_at", "when <x-20>"));
    json_t *controls = json_pack(
        "[o,o,o,o,o]",
        row("ENC-1", "Encrypted at rest", "pass", "sealed under per-tenant keys",
            "fail: a live tenant without a wrapped data key", "influx §1; jitterbit 16.1", enc1),
        row("ENC-2", "Backups encrypted", "not_implemented", "not built yet", "not evaluated yet",
            "influx §1", json_array()),
        row("IAM-3", "MFA", "fail", "an owner signed in without a factor",
            "fail: an owner without a factor; warn: one who never signed in", "vtiger", iam3),
        row("LOG-1", "Audit logging", "warn", "read durability is batched",
            "warn: audit.read_durability = batched", "trust Protokollierung", json_array()),
        row("RES-1 <x-10>", "title <x-11>", "pass", "summary <x-12>", "thresholds <x-13>",
            "sources <x-14>", marked));
    json_t *counts = json_pack("{s:i,s:i,s:i,s:i,s:i}", "controls", 5, "pass", 2, "warn", 1, "fail",
                               1, "not_implemented", 1);
    return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:s},s:{s:s,s:s},s:s,s:s,s:b,s:o,s:o,s:s}", "format",
                     "custodia-report/1 <x-9>", "report_id", "rp_<x-6>", "generated_at",
                     "2026-12-02T06:20:26Z <x-4>", "node", "id", "nd_<x-1>", "region", "eu <x-2>",
                     "version", "0.1.0 <x-3>", "scope", "kind", "tenant", "tenant", "tn_<x-5>",
                     "generated_by", "api <x-7>", "requested_by", "us_<x-8>", "audited", 1,
                     "counts", counts, "controls", controls, "unrendered", "<x-21>");
}

static char *render(const json_t *report)
{
    char *html = NULL;
    assert_int_equal(cst_report_html(report, &html), CST_OK);
    assert_non_null(html);
    return html;
}

static char *sample_page(void)
{
    json_t *r = sample_report();
    assert_non_null(r);
    char *html = render(r);
    json_decref(r);
    return html;
}

/* Not inlined: GCC 12 then mistakes hay for render()'s local (a false -Wdangling-pointer). */
__attribute__((noinline)) static size_t count(const char *hay, const char *needle)
{
    size_t n = 0, at = 0, len = strlen(needle);
    for (const char *p; (p = strstr(hay + at, needle)) != NULL; n++)
        at = (size_t)(p - hay) + len;
    return n;
}

static void test_page_is_one_html5_document(void **state)
{
    char *html = sample_page();
    assert_int_equal(strncmp(html, "<!DOCTYPE html>\n", 16), 0);
    assert_int_equal(count(html, "<html"), 1);
    assert_int_equal(count(html, "<body>"), 1);
    size_t n = strlen(html);
    assert_true(n > 7 && strcmp(html + n - 8, "</html>\n") == 0);
    assert_non_null(strstr(html, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(html, "@media print"));
    assert_non_null(strstr(html, "break-inside:avoid"));
    free(html);
}

static void test_one_row_per_control_in_order(void **state)
{
    char *html = sample_page();
    assert_int_equal(count(html, "<tr class=\"control\""), 5);
    static const char *const ids[] = {"ENC-1", "ENC-2", "IAM-3", "LOG-1", "RES-1 &lt;x-10&gt;"};
    const char *prev = html;
    for (size_t i = 0; i < 5; i++) {
        char marker[64];
        (void)snprintf(marker, sizeof(marker), "<tr class=\"control\" id=\"control-%s\">", ids[i]);
        const char *at = strstr(html, marker);
        assert_non_null(at);
        assert_true(at > prev);
        prev = at;
    }
    free(html);
}

static void test_every_status_has_a_badge_with_its_word(void **state)
{
    char *html = sample_page();
    static const struct {
        const char *badge;
        size_t rows;
        const char *count, *css;
    } want[] = {
        {"<span class=\"badge pass\">PASS</span>", 2, "2", ".badge.pass{"},
        {"<span class=\"badge warn\">WARN</span>", 1, "1", ".badge.warn{"},
        {"<span class=\"badge fail\">FAIL</span>", 1, "1", ".badge.fail{"},
        {"<span class=\"badge not-implemented\">NOT IMPLEMENTED</span>", 1, "1",
         ".badge.not-implemented{"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        /* each row with that status, and once in the header's counts */
        assert_int_equal(count(html, want[i].badge), want[i].rows + 1);
        char counted[128];
        (void)snprintf(counted, sizeof(counted), "%s<span class=\"n\">%s</span>", want[i].badge,
                       want[i].count);
        assert_non_null(strstr(html, counted));
        /* the class has its colours */
        assert_non_null(strstr(html, want[i].css));
    }
    assert_non_null(strstr(html, "5 controls:"));
    assert_non_null(strstr(html, ".badge.fail{color:#ffffff;background:#c62828}"));
    free(html);
}

static void test_header_shows_node_scope_and_report(void **state)
{
    char *html = sample_page();
    static const char *const rows[] = {
        "<tr><th>Node</th><td>nd_&lt;x-1&gt;</td></tr>",
        "<tr><th>Region</th><td>eu &lt;x-2&gt;</td></tr>",
        "<tr><th>Version</th><td>0.1.0 &lt;x-3&gt;</td></tr>",
        "<tr><th>Generated at</th><td>2026-12-02T06:20:26Z &lt;x-4&gt;</td></tr>",
        "<tr><th>Scope</th><td>tenant</td></tr>",
        "<tr><th>Tenant</th><td>tn_&lt;x-5&gt;</td></tr>",
        "<tr><th>Report id</th><td>rp_&lt;x-6&gt;</td></tr>",
        "<tr><th>Audited</th><td>true</td></tr>",
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_non_null(strstr(html, rows[i]));
    free(html);

    /* a node's report has no tenant line */
    json_t *r = sample_report();
    assert_int_equal(json_object_set_new(r, "scope", json_pack("{s:s}", "kind", "node")), 0);
    html = render(r);
    assert_non_null(strstr(html, "<tr><th>Scope</th><td>node</td></tr>"));
    assert_null(strstr(html, "<th>Tenant</th>"));
    free(html);
    json_decref(r);
}

static void test_every_string_is_escaped(void **state)
{
    char *html = sample_page();
    /* every field the page shows carries its marker, escaped; none appears raw */
    for (int i = 1; i < MARKERS; i++) {
        char m[32];
        (void)snprintf(m, sizeof(m), "&lt;x-%d&gt;", i);
        /* the node and report ids are also in the title, the control id names its row */
        assert_int_equal(count(html, m), i == 1 || i == 6 || i == 10 ? 2 : 1);
    }
    assert_null(strstr(html, "<x-"));
    assert_null(strstr(html, "x-21")); /* members the page does not show stay out */
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(html, "&quot;&#39;&amp;"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "alert(1)</"));
    free(html);
}

static void test_nothing_runs_or_is_fetched(void **state)
{
    char *html = sample_page();
    static const char *const banned[] = {
        "<script", "src=",    "href=",   "<link",  "@import", "url(",  "http://", "https://",
        "<img",    "<iframe", "<object", "<embed", "<base",   "<form", "onerror", "javascript:"};
    for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++) {
        if (strstr(html, banned[i]))
            fail_msg("the page contains %s", banned[i]);
    }
    assert_non_null(strstr(html, "content=\"default-src 'none'; style-src 'unsafe-inline'\""));
    free(html);
}

static void test_evidence_values_read_as_text_and_lists(void **state)
{
    char *html = sample_page();
    static const char *const want[] = {
        /* a string as itself, with the time it was observed */
        "<dt>cipher</dt><dd>AES-256-GCM <span class=\"obs\">observed " T0 "</span></dd>",
        /* other scalars as JSON */
        "<dt>tenants</dt><dd><code>3</code>",
        "<dt>hsts</dt><dd><code>true</code>",
        "<dt>last_drill</dt><dd><code>null</code>",
        /* arrays and objects as lists */
        "<dd><ul class=\"arr\"><li>TLS1.3</li><li>TLS1.2</li></ul>",
        "<ul class=\"obj\"><li><span class=\"k\">min_length</span>: <code>14</code></li>"
        "<li><span class=\"k\">storage</span>: Argon2id</li></ul>",
        "<dt>dek_versions_per_tenant</dt><dd><code>{}</code>",
        "<ul class=\"list\"><li><ul class=\"obj\"><li><span class=\"k\">user</span>: us_1</li>",
        /* nested past the depth limit: compact JSON, escaped */
        "<span class=\"k\">d</span>: <code>{&quot;e&quot;:1}</code>",
        /* a control without evidence */
        "<td class=\"c-evidence\"><span class=\"none\">none</span></td>",
        /* clauses one an item */
        "<td class=\"c-sources\"><ul class=\"clauses\"><li>influx §1</li><li>jitterbit "
        "16.1</li></ul></td>",
        "<li>fail: an owner without a factor</li><li>warn: one who never signed in</li>",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!strstr(html, want[i]))
            fail_msg("missing: %s", want[i]);
    }
    free(html);
}

static void test_footer_says_how_to_verify(void **state)
{
    char *html = sample_page();
    const char *footer = strstr(html, "<footer>");
    assert_non_null(footer);
    assert_non_null(strstr(footer, "<code>custodia report verify FILE</code>"));
    assert_non_null(strstr(footer, "not signed itself"));
    free(html);
}

static void test_refuses_what_is_not_a_report(void **state)
{
    json_t *bad[] = {json_array(), json_string("x"), json_object(),
                     json_pack("{s:s}", "controls", "ENC-1"), json_pack("{s:{}}", "controls")};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *html = (char *)"untouched";
        assert_int_equal(cst_report_html(bad[i], &html), CST_ERR_INVALID);
        assert_null(html);
        json_decref(bad[i]);
    }
}

static void test_odd_rows_still_render_one_row_each(void **state)
{
    /* a row that is not an object, one with an unknown status, a numeric id, missing fields,
     * a NUL and control characters inside a string */
    json_t *r = json_pack("{s:[o,{s:s,s:s},{s:i,s:s,s:o},{s:s,s:s,s:[{s:s}]}],s:{}}", "controls",
                          json_string("x"), "id", "A-1", "status", "maybe", "id", 7, "status",
                          "pass", "summary", json_stringn("a\0<b>\x01\tc", 8), "id", "B-2",
                          "status", "warn", "evidence", "name", "only a name", "counts");
    assert_non_null(r);
    char *html = render(r);
    assert_int_equal(count(html, "<tr class=\"control\""), 4);
    assert_int_equal(count(html, "<span class=\"badge unknown\">UNKNOWN</span>"), 2);
    assert_non_null(strstr(html, "id=\"control-7\""));
    assert_non_null(strstr(html, "a\xEF\xBF\xBD&lt;b&gt;\xEF\xBF\xBD\tc"));
    assert_non_null(strstr(html, "<dt>only a name</dt><dd> <span class=\"obs\">observed </span>"));
    assert_non_null(strstr(html, "0 controls:"));
    free(html);
    json_decref(r);

    /* no controls at all: the page, the header, an empty table */
    r = json_pack("{s:[]}", "controls");
    html = render(r);
    assert_int_equal(count(html, "<tr class=\"control\""), 0);
    assert_non_null(strstr(html, "<tbody>\n</tbody>"));
    free(html);
    json_decref(r);
}

static int write_sample(const char *path)
{
    json_t *r = sample_report();
    char *html = NULL;
    if (!r || cst_report_html(r, &html) != CST_OK)
        return 1;
    FILE *f = fopen(path, "wx");
    int rc = f && fputs(html, f) >= 0 ? 0 : 1;
    if (f && fclose(f) != 0)
        rc = 1;
    if (rc == 0)
        printf("controls: %zu\n", json_array_size(json_object_get(r, "controls")));
    free(html);
    json_decref(r);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0)
        return write_sample(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--write FILE]\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page_is_one_html5_document),
        cmocka_unit_test(test_one_row_per_control_in_order),
        cmocka_unit_test(test_every_status_has_a_badge_with_its_word),
        cmocka_unit_test(test_header_shows_node_scope_and_report),
        cmocka_unit_test(test_every_string_is_escaped),
        cmocka_unit_test(test_nothing_runs_or_is_fetched),
        cmocka_unit_test(test_evidence_values_read_as_text_and_lists),
        cmocka_unit_test(test_footer_says_how_to_verify),
        cmocka_unit_test(test_refuses_what_is_not_a_report),
        cmocka_unit_test(test_odd_rows_still_render_one_row_each),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
