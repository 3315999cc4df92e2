/* test_incident.c: core/incident.c without a server: a new incident's validation, the status
 * table and closing (INC-1), the notice hours a tenant may choose and the clock's states at
 * injected times (INC-2), each required notice field and malformed values (INC-3), decisions
 * (INC-4). Negative cases first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "core/incident.h"
#include "util/err.h"
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
        cmocka_unit_test(test_inc4_decisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
