/* test_incident.c: core/incident.c without a server: a new incident's validation, the status
 * table and closing (INC-1), the notice hours a tenant may choose and the clock's states at
 * injected times (INC-2), each required notice field and malformed values, the notice's text
 * for its email (every field under its label, wrapped at 76 columns on UTF-8 boundaries, LF line
 * ends, composable as a message) (INC-3), decisions (INC-4). Negative cases first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "core/incident.h"
#include "node/config.h"
#include "node/mail.h"
#include "store/store.h"
#include "util/err.h"
#include "util/json.h"
#include "util/util.h"

#define H CST_HOUR_US

static cst_err new_from(const char *text, cst_incident_row *out)
{
    json_t *b = json_loads(text, 0, NULL);
    assert_non_null(b);
    cst_err e = cst_incident_new(b, "us_00000000000000000001", 1000, out);
    json_decref(b);
    if (e != CST_OK)
        cst_err_clear();
    return e;
}

static void test_inc1_new_refuses_bad_bodies(void **state)
{
    cst_incident_row i;
    static const char *const bad[] = {
        "{}",
        "{\"severity\":\"high\",\"summary\":\"s\"}",
        "{\"title\":\"t\",\"summary\":\"s\"}",
        "{\"title\":\"t\",\"severity\":\"high\"}",
        "{\"title\":\"\",\"severity\":\"high\",\"summary\":\"s\"}",
        "{\"title\":\"a\\nb\",\"severity\":\"high\",\"summary\":\"s\"}",
        "{\"title\":\"t\",\"severity\":\"dire\",\"summary\":\"s\"}",
        "{\"title\":7,\"severity\":\"high\",\"summary\":\"s\"}",
        "{\"title\":\"t\",\"severity\":\"high\",\"summary\":\"s\",\"tenants\":\"tn_1\"}",
        "{\"title\":\"t\",\"severity\":\"high\",\"summary\":\"s\",\"tenants\":[\"acme\"]}",
        "{\"title\":\"t\",\"severity\":\"high\",\"summary\":\"s\",\"tenants\":[1]}",
        "{\"title\":\"t\",\"severity\":\"high\",\"summary\":\"s\",\"data_categories\":[\"\"]}",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++)
        if (new_from(bad[k], &i) != CST_ERR_INVALID)
            fail_msg("accepted: %s", bad[k]);
    /* overlong: a title of 256 bytes */
    char big[400];
    memset(big, 'x', 256);
    big[256] = '\0';
    char text[600];
    snprintf(text, sizeof(text), "{\"title\":\"%s\",\"severity\":\"low\",\"summary\":\"s\"}", big);
    assert_int_equal(new_from(text, &i), CST_ERR_INVALID);
    big[255] = '\0';
    snprintf(text, sizeof(text), "{\"title\":\"%s\",\"severity\":\"low\",\"summary\":\"s\"}", big);
    assert_int_equal(new_from(text, &i), CST_OK);
    /* 65 tenants is one too many */
    json_t *b =
        json_pack("{s:s,s:s,s:s,s:[]}", "title", "t", "severity", "low", "summary", "s", "tenants");
    for (int k = 0; k < 65; k++)
        json_array_append_new(json_object_get(b, "tenants"),
                              json_string("tn_00000000000000000000"));
    assert_int_equal(cst_incident_new(b, "us_1", 0, &i), CST_ERR_INVALID);
    cst_err_clear();
    json_decref(b);
}

static void test_inc1_new_and_status_table(void **state)
{
    cst_incident_row i;
    assert_int_equal(new_from("{\"title\":\"t\",\"severity\":\"critical\",\"summary\":\"s\","
                              "\"tenants\":[\"tn_0123456789abcdef0123\"],\"data_categories\":["
                              "\"email\"]}",
                              &i),
                     CST_OK);
    assert_true(cst_id_valid(i.id, "in"));
    assert_string_equal(i.status, "open");
    assert_string_equal(i.owner, "us_00000000000000000001");
    assert_string_equal(i.tenants, "[\"tn_0123456789abcdef0123\"]");
    assert_string_equal(i.data_categories, "[\"email\"]");
    assert_int_equal(i.created_at, 1000);
    /* the table, every pair */
    static const char *const st[] = {"open", "contained", "resolved", "closed"};
    static const bool allowed[4][4] = {
        {false, true, true, false}, /* open */
        {true, false, true, false}, /* contained */
        {true, false, false, true}, /* resolved */
        {false, false, false, false},
    };
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            if (cst_incident_transition_ok(st[a], st[b]) != allowed[a][b])
                fail_msg("%s -> %s", st[a], st[b]);
    assert_false(cst_incident_transition_ok("open", "nonsense"));
}

static cst_err patch(cst_incident_row *i, const char *text, int64_t now)
{
    json_t *c = json_loads(text, 0, NULL);
    assert_non_null(c);
    cst_err e = cst_incident_patch(i, c, now);
    json_decref(c);
    if (e != CST_OK)
        cst_err_clear();
    return e;
}

static void test_inc1_closing_needs_cause_and_remedy_and_is_final(void **state)
{
    cst_incident_row i;
    assert_int_equal(new_from("{\"title\":\"t\",\"severity\":\"low\",\"summary\":\"s\"}", &i),
                     CST_OK);
    assert_int_equal(patch(&i, "{\"status\":\"closed\"}", 2), CST_ERR_CONFLICT);
    assert_int_equal(patch(&i, "{\"status\":\"resolved\"}", 2), CST_OK);
    assert_int_equal(patch(&i, "{\"status\":\"closed\"}", 3), CST_ERR_INVALID);
    assert_int_equal(patch(&i, "{\"status\":\"closed\",\"root_cause\":\"c\"}", 3), CST_ERR_INVALID);
    assert_string_equal(i.root_cause, ""); /* a refused change leaves the row as it was */
    assert_string_equal(i.status, "resolved");
    assert_int_equal(patch(&i, "{\"root_cause\":\"c\"}", 4), CST_OK);
    assert_int_equal(patch(&i, "{\"status\":\"closed\",\"remediation\":\"r\"}", 5), CST_OK);
    assert_string_equal(i.status, "closed");
    assert_int_equal(i.closed_at, 5);
    assert_int_equal(i.updated_at, 5);
    assert_int_equal(patch(&i, "{\"root_cause\":\"other\"}", 6), CST_ERR_CONFLICT);
    assert_int_equal(patch(&i, "{\"status\":\"open\"}", 6), CST_ERR_CONFLICT);
    assert_string_equal(i.root_cause, "c");
}

static void test_inc2_notice_hours_and_settings(void **state)
{
    assert_int_equal(cst_incident_notice_hours(NULL, 72), 48);
    assert_int_equal(cst_incident_notice_hours("", 72), 48);
    assert_int_equal(cst_incident_notice_hours("{\"breach_notice_hours\":72}", 72), 72);
    /* the node's maximum caps a tenant's choice, even one stored before it was lowered */
    assert_int_equal(cst_incident_notice_hours("{\"breach_notice_hours\":72}", 48), 48);
    assert_int_equal(cst_incident_notice_hours("{\"breach_notice_hours\":\"72\"}", 72), 48);
    assert_int_equal(cst_incident_notice_hours("{\"breach_notice_hours\":-5}", 72), 48);
    assert_int_equal(cst_incident_notice_hours("not json", 72), 48);
    static const struct {
        const char *change;
        cst_err want;
    } cases[] = {
        {"{\"breach_notice_hours\":23}", CST_ERR_INVALID},
        {"{\"breach_notice_hours\":73}", CST_ERR_INVALID},
        {"{\"breach_notice_hours\":\"48\"}", CST_ERR_INVALID},
        {"{\"breach_notice_hours\":24}", CST_OK},
        {"{\"breach_notice_hours\":72}", CST_OK},
        {"{\"notice_contacts\":\"a@b\"}", CST_ERR_INVALID},
        {"{\"notice_contacts\":[\"ab\"]}", CST_ERR_INVALID},
        {"{\"notice_contacts\":[\"@b\"]}", CST_ERR_INVALID},
        {"{\"notice_contacts\":[\"a@\"]}", CST_ERR_INVALID},
        {"{\"notice_contacts\":[\"a@b@c\"]}", CST_ERR_INVALID},
        {"{\"notice_contacts\":[\"a b@c\"]}", CST_ERR_INVALID},
        {"{\"notice_contacts\":[\"a@b\",\"c@d.example\"]}", CST_OK},
        {"{\"notice_contacts\":[]}", CST_OK},
        {"{\"notice_contacts\":[\"1@a\",\"2@a\",\"3@a\",\"4@a\",\"5@a\",\"6@a\",\"7@a\",\"8@a\","
         "\"9@a\",\"10@a\",\"11@a\"]}",
         CST_ERR_INVALID},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
        json_t *c = json_loads(cases[k].change, 0, NULL);
        assert_non_null(c);
        cst_err e = cst_incident_settings_check(c, 72);
        if (e != cases[k].want)
            fail_msg("%s: %d, want %d", cases[k].change, e, cases[k].want);
        cst_err_clear();
        json_decref(c);
    }
}

static void test_inc2_clock_states_by_time(void **state)
{
    cst_clock_row c = {.aware_at = 0, .deadline = 48 * H, .hours = 48};
    assert_string_equal(cst_clock_status(&c, 0), "due");
    assert_false(cst_clock_due_soon(&c, 36 * H - 1));
    assert_true(cst_clock_due_soon(&c, 36 * H));
    assert_string_equal(cst_clock_status(&c, 48 * H), "due"); /* at the deadline, still in time */
    assert_string_equal(cst_clock_status(&c, 48 * H + 1), "overdue");
    assert_true(cst_clock_due_soon(&c, 49 * H));
    c.sent_at = 40 * H;
    assert_string_equal(cst_clock_status(&c, 49 * H), "sent");
    assert_false(cst_clock_due_soon(&c, 49 * H));
}

static json_t *notice(void)
{
    return json_pack("{s:s,s:s,s:[s],s:i,s:i,s:s,s:s,s:s}", "nature", "n", "probable_cause", "p",
                     "data_categories", "email", "approx_subjects", 10, "approx_records", 20,
                     "likely_consequences", "l", "measures_taken", "m", "contact_point", "c");
}

static void test_inc3_each_required_field_and_malformed_values(void **state)
{
    json_t *content = NULL;
    size_t required = 0;
    for (size_t f = 0; f < cst_notice_field_count; f++) {
        if (!cst_notice_fields[f].required)
            continue;
        required++;
        json_t *b = notice();
        json_object_del(b, cst_notice_fields[f].name);
        assert_int_equal(cst_notice_check(b, 48 * H, 1, &content), CST_ERR_INVALID);
        assert_null(content);
        assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), cst_notice_fields[f].name));
        cst_err_clear();
        json_decref(b);
    }
    assert_int_equal(required, 8);
    static const struct {
        const char *field;
        const char *json;
    } bad[] = {
        {"nature", "\"\""},
        {"nature", "7"},
        {"approx_subjects", "-1"},
        {"approx_records", "\"20\""},
        {"approx_records", "2.5"},
        {"data_categories", "[]"},
        {"data_categories", "[\"\"]"},
        {"data_categories", "\"email\""},
        {"measures_proposed", "\"\""},
        {"unauthorized_recipients", "[]"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
        json_t *b = notice();
        json_object_set_new(b, bad[k].field, json_loads(bad[k].json, JSON_DECODE_ANY, NULL));
        if (cst_notice_check(b, 48 * H, 1, &content) != CST_ERR_INVALID)
            fail_msg("accepted %s = %s", bad[k].field, bad[k].json);
        cst_err_clear();
        json_decref(b);
    }
    /* in time: no delay_reason needed; the content holds the table's fields only */
    json_t *b = notice();
    assert_int_equal(cst_notice_check(b, 48 * H, 48 * H, &content), CST_OK);
    assert_int_equal(json_object_size(content), 8);
    json_decref(content);
    /* late: delay_reason required, then kept */
    assert_int_equal(cst_notice_check(b, 48 * H, 48 * H + 1, &content), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "delay_reason"));
    cst_err_clear();
    json_object_set_new(b, "delay_reason", json_string("found late"));
    assert_int_equal(cst_notice_check(b, 48 * H, 48 * H + 1, &content), CST_OK);
    assert_string_equal(json_string_value(json_object_get(content, "delay_reason")), "found late");
    json_decref(content);
    json_decref(b);
}

/* ---- INC-3: the notice's text for its email ---- */

#define NOTICE_ID "nt_0123456789abcdef0123"

/* A notice as the API shows it, with every field of the table: a text field "value of <name>",
 * a count 1000 + its index, a list two entries. */
static json_t *shown_notice(void)
{
    json_t *n =
        json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:{s:{s:i}}}", "id", NOTICE_ID, "version", 2,
                  "incident_id", "in_0123456789abcdef0123", "tenant", "tn_0123456789abcdef0123",
                  "sent_at", "2026-12-02T10:00:00Z", "deadline", "2026-12-03T09:00:00Z", "aware_at",
                  "2026-12-01T09:00:00Z", "prefilled", "records", "total", 42);
    for (size_t i = 0; i < cst_notice_field_count; i++) {
        const cst_notice_field *f = &cst_notice_fields[i];
        char v[96];
        snprintf(v, sizeof(v), "value of %s", f->name);
        json_t *x = f->kind == CST_NOTICE_COUNT  ? json_integer(1000 + (json_int_t)i)
                    : f->kind == CST_NOTICE_LIST ? json_pack("[s,s]", v, "second entry")
                                                 : json_string(v);
        json_object_set_new(n, f->name, x);
    }
    return n;
}

static char *text_of(const json_t *notice)
{
    char *t = NULL;
    assert_int_equal(cst_notice_text(notice, &t), CST_OK);
    assert_non_null(t);
    return t;
}

/* Every line of text: at most 78 bytes (two of indent, 76 of text), valid UTF-8 by itself (no
 * character split across lines), no CR; the text ends with LF. */
static void check_lines(const char *text)
{
    assert_null(strchr(text, '\r'));
    size_t len = strlen(text);
    assert_true(len > 0 && text[len - 1] == '\n');
    for (const char *p = text; *p;) {
        size_t l = strcspn(p, "\n");
        if (l > 78)
            fail_msg("a line of %zu bytes: %.*s", l, (int)l, p);
        if (!cst_utf8_valid((const uint8_t *)p, l))
            fail_msg("a line that splits a UTF-8 character: %.*s", (int)l, p);
        p += l + 1;
    }
}

/* The paragraph under "label:\n": its lines without their two spaces of indent, joined by sep,
 * into out. */
static void paragraph_of(const char *text, const char *label, const char *sep, char *out, size_t n)
{
    char head[128];
    snprintf(head, sizeof(head), "\n%s:\n", label);
    const char *p = strstr(text, head);
    if (!p)
        fail_msg("no \"%s:\" paragraph", label);
    p += strlen(head);
    size_t len = 0;
    out[0] = '\0';
    for (bool first = true; !strncmp(p, "  ", 2); first = false) {
        size_t l = strcspn(p, "\n");
        len +=
            (size_t)snprintf(out + len, n - len, "%s%.*s", first ? "" : sep, (int)(l - 2), p + 2);
        assert_true(len < n);
        p += l + (p[l] == '\n');
    }
}

static void test_inc3_notice_text_every_field_under_its_label(void **state)
{
    json_t *n = shown_notice();
    char *t = text_of(n);
    check_lines(t);
    assert_non_null(strstr(t, NOTICE_ID));
    assert_non_null(strstr(t, "version 2"));
    assert_non_null(strstr(t, "in_0123456789abcdef0123"));
    assert_non_null(strstr(t, "tn_0123456789abcdef0123"));
    assert_non_null(strstr(t, "2026-12-03T09:00:00Z")); /* the deadline */
    assert_non_null(strstr(t, "\nTime of awareness:\n  2026-12-01T09:00:00Z\n"));
    assert_non_null(strstr(t, "\nRecords held for the tenant at sending: 42\n"));
    char want[256], got[256];
    for (size_t i = 0; i < cst_notice_field_count; i++) {
        const cst_notice_field *f = &cst_notice_fields[i];
        assert_non_null(f->label);
        switch (f->kind) {
        case CST_NOTICE_COUNT:
            snprintf(want, sizeof(want), "\n%s: %zu\n", f->label, 1000 + i);
            if (!strstr(t, want))
                fail_msg("no \"%s\" in:\n%s", want, t);
            break;
        case CST_NOTICE_LIST:
            paragraph_of(t, f->label, "|", got, sizeof(got));
            snprintf(want, sizeof(want), "value of %s|second entry", f->name);
            assert_string_equal(got, want);
            break;
        default:
            paragraph_of(t, f->label, " ", got, sizeof(got));
            snprintf(want, sizeof(want), "value of %s", f->name);
            assert_string_equal(got, want);
        }
    }
    /* where the full notice is read and decided on */
    assert_non_null(strstr(t, "GET /v1/notices/" NOTICE_ID "\n"));
    assert_non_null(strstr(t, "POST /v1/notices/" NOTICE_ID "/approve-user-notice\n"));
    free(t);
    /* an optional field left out: no paragraph for it */
    json_object_del(n, "measures_proposed");
    t = text_of(n);
    assert_null(strstr(t, "Measures proposed"));
    free(t);
    json_decref(n);
}

/* nature = text; the text's nature paragraph is checked, then returned joined by sep. */
static char *nature_of(json_t *n, const char *text, const char *sep, char *out, size_t size)
{
    json_object_set_new(n, "nature", json_string(text));
    char *t = text_of(n);
    check_lines(t);
    paragraph_of(t, "Nature of the breach", sep, out, size);
    free(t);
    return out;
}

static void test_inc3_notice_text_wraps_on_spaces_and_utf8_boundaries(void **state)
{
    json_t *n = shown_notice();
    static char text[2100], got[4096];
    /* words with single spaces: broken at a space, the words whole */
    size_t len = 0;
    for (int w = 0; len < 1900; w++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s", w ? " " : "",
                                w % 3   ? "données"
                                : w % 5 ? "été consultées"
                                        : "unauthorised");
    assert_string_equal(nature_of(n, text, " ", got, sizeof(got)), text);
    /* without spaces: split within the word, on a character boundary, nothing lost; with the
     * wrap column (76) falling on each byte of a 2-, 3- and 4-byte character in turn */
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (size_t c = 0; c < sizeof(chars) / sizeof(*chars); c++) {
        for (int lead = 70; lead <= 78; lead++) {
            len = 0;
            for (int k = 0; k < lead; k++)
                text[len++] = 'a';
            while (len < 400)
                len += (size_t)snprintf(text + len, sizeof(text) - len, "%s", chars[c]);
            assert_string_equal(nature_of(n, text, "", got, sizeof(got)), text);
            /* the same with a space just before the wrap column: broken there */
            text[lead - 2] = ' ';
            nature_of(n, text, " ", got, sizeof(got));
            assert_int_equal(strncmp(got, text, (size_t)lead - 2), 0);
            text[lead - 2] = 'a';
        }
    }
    /* "é" on both sides of the column, spaces around it */
    snprintf(text, sizeof(text), "%s", "");
    len = 0;
    for (int k = 0; k < 73; k++)
        text[len++] = 'x';
    len +=
        (size_t)snprintf(text + len, sizeof(text) - len, " \xc3\xa9\xc3\xa9 \xc3\xa9t\xc3\xa9 fin");
    assert_string_equal(nature_of(n, text, " ", got, sizeof(got)), text);
    json_decref(n);
}

/* The notice's text composes as a mail body (into m, CST_WEBHOOK_BODY_MAX bytes: the delivery
 * queue's room), its lines checked first. */
static void composes(const json_t *n, char *m)
{
    cst_config c;
    cst_config_defaults(&c);
    snprintf(c.notices_smtp_from, sizeof(c.notices_smtp_from), "notices@custodia.example");
    char *t = text_of(n);
    check_lines(t);
    cst_err e = cst_mail_compose(&c, "dpo@a.example", "Breach notice", t, "msg_1", 0, m,
                                 CST_WEBHOOK_BODY_MAX);
    free(t);
    if (e != CST_OK)
        fail_msg("not composed: %s", cst_err_message(e));
}

static void test_inc3_notice_text_line_ends_and_composes_as_mail(void **state)
{
    json_t *n = shown_notice();
    char got[256];
    /* CRLF, CR and LF all end a line, each as LF */
    json_object_set_new(n, "probable_cause", json_string("one\r\ntwo\rthree\nfour\r\n"));
    char *t = text_of(n);
    check_lines(t);
    assert_non_null(strstr(t, "\nProbable cause:\n  one\n  two\n  three\n  four\n\n"));
    paragraph_of(t, "Probable cause", "|", got, sizeof(got));
    assert_string_equal(got, "one|two|three|four");
    free(t);
    /* the text is a message body as it is: every field at its longest, wrapped */
    static char m[CST_WEBHOOK_BODY_MAX], longest[CST_INCIDENT_TEXT];
    composes(n, m);
    assert_non_null(strstr(m, "\r\n\r\ncustodia breach notice " NOTICE_ID));
    assert_non_null(strstr(m, "\r\nProbable cause:\r\n  one\r\n  two\r\n  three\r\n  four\r\n"));
    for (size_t i = 0; i < sizeof(longest) - 1; i++)
        longest[i] = i % 10 == 9 ? ' ' : (char)('a' + i % 26);
    longest[sizeof(longest) - 1] = '\0';
    for (size_t i = 0; i < cst_notice_field_count; i++)
        if (cst_notice_fields[i].kind == CST_NOTICE_TEXT)
            json_object_set_new(n, cst_notice_fields[i].name, json_string(longest));
    composes(n, m);
    /* any notice the store can hold (its JSON within CST_NOTICE_JSON) fits the delivery queue
     * once emailed, even when its text is made of empty lines (2 bytes of JSON each, 4 of mail) */
    for (size_t i = 0; i < cst_notice_field_count; i++)
        if (cst_notice_fields[i].kind == CST_NOTICE_TEXT)
            json_object_del(n, cst_notice_fields[i].name);
    memset(longest, '\n', sizeof(longest) - 1);
    for (size_t i = 0; i < cst_notice_field_count; i++) {
        if (cst_notice_fields[i].kind != CST_NOTICE_TEXT)
            continue;
        for (size_t len = sizeof(longest) - 1; len >= 64; len -= 64) {
            longest[len] = '\0';
            json_object_set_new(n, cst_notice_fields[i].name, json_string(longest));
            char *doc = json_dumps(n, JSON_COMPACT);
            size_t size = strlen(doc);
            cst_json_free_text(doc);
            longest[len] = '\n';
            if (size < CST_NOTICE_JSON)
                break;
            json_object_del(n, cst_notice_fields[i].name);
        }
    }
    char *doc = json_dumps(n, JSON_COMPACT);
    assert_true(strlen(doc) > CST_NOTICE_JSON - 256); /* filled up */
    cst_json_free_text(doc);
    composes(n, m);
    json_decref(n);
}

static void test_inc4_decisions(void **state)
{
    assert_string_equal(cst_notice_decision("approve"), "approved");
    assert_string_equal(cst_notice_decision("decline"), "declined");
    assert_null(cst_notice_decision("approved"));
    assert_null(cst_notice_decision(""));
    assert_null(cst_notice_decision(NULL));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inc1_new_refuses_bad_bodies),
        cmocka_unit_test(test_inc1_new_and_status_table),
        cmocka_unit_test(test_inc1_closing_needs_cause_and_remedy_and_is_final),
        cmocka_unit_test(test_inc2_notice_hours_and_settings),
        cmocka_unit_test(test_inc2_clock_states_by_time),
        cmocka_unit_test(test_inc3_each_required_field_and_malformed_values),
        cmocka_unit_test(test_inc3_notice_text_every_field_under_its_label),
        cmocka_unit_test(test_inc3_notice_text_wraps_on_spaces_and_utf8_boundaries),
        cmocka_unit_test(test_inc3_notice_text_line_ends_and_composes_as_mail),
        cmocka_unit_test(test_inc4_decisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
