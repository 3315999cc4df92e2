/* test_detect.c: the detection rules' building blocks (DET-1) with an injected clock: the
 * bounded sliding windows (events and distinct items within a window, expiry, the slot bound,
 * a table that a flood of keys cannot grow and that keeps an active attacker), and the
 * exfiltration baseline (the hourly median of the last 7 days, the factor and the minimum). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "node/alerts.h"
#include "node/detect.h"
#include "util/window.h"

#define SEC 1000000LL
#define HOUR (3600 * SEC)
#define T0 (1700000000LL * SEC)

static int note(cst_window *w, const char *key, const char *item, int64_t t, int64_t window)
{
    return cst_window_note(w, key, strlen(key), item, item ? strlen(item) : 0, t, t - window);
}

static void test_det1_window_counts_events_within_the_window(void **state)
{
    (void)state;
    cst_window *w = NULL;
    assert_int_equal(cst_window_new(64, &w), CST_OK);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(note(w, "acme\nbob", NULL, T0 + i * 60 * SEC, 600 * SEC), i);
    /* other keys are independent */
    assert_int_equal(note(w, "acme\nalice", NULL, T0 + 300 * SEC, 600 * SEC), 1);
    /* 11 minutes after the first: it has left the 10-minute window */
    assert_int_equal(note(w, "acme\nbob", NULL, T0 + 660 * SEC, 600 * SEC), 5);
    /* much later: only this one */
    assert_int_equal(note(w, "acme\nbob", NULL, T0 + 2 * HOUR, 600 * SEC), 1);
    assert_int_equal(cst_window_count(w, "acme\nbob", 8, T0 + 2 * HOUR - 1), 1);
    assert_int_equal(cst_window_count(w, "nobody", 6, 0), 0);
    cst_window_forget(w, "acme\nbob", 8);
    assert_int_equal(cst_window_count(w, "acme\nbob", 8, 0), 0);
    cst_window_free(w);
}

static void test_det1_window_counts_distinct_items(void **state)
{
    (void)state;
    cst_window *w = NULL;
    assert_int_equal(cst_window_new(64, &w), CST_OK);
    char acct[32];
    /* the same account again and again counts once */
    for (int i = 0; i < 20; i++)
        assert_int_equal(note(w, "192.0.2.1", "acme\nbob", T0 + i * SEC, 600 * SEC), 1);
    for (int i = 0; i < 9; i++) {
        snprintf(acct, sizeof(acct), "t%d\nuser%d", i % 3, i);
        assert_int_equal(note(w, "192.0.2.1", acct, T0 + 30 * SEC + i * SEC, 600 * SEC), 2 + i);
    }
    /* a window holds at most CST_WINDOW_SLOTS items: the oldest are replaced */
    for (int i = 0; i < 200; i++) {
        snprintf(acct, sizeof(acct), "x\nspray%d", i);
        int c = note(w, "192.0.2.9", acct, T0 + i * SEC, 600 * SEC);
        assert_int_equal(c, i + 1 < CST_WINDOW_SLOTS ? i + 1 : CST_WINDOW_SLOTS);
    }
    cst_window_free(w);
}

/* A flood of fresh keys cannot grow the table; an attacker still active keeps its entry
 * (the least recently active entries go first). */
static void test_det1_window_is_bounded(void **state)
{
    (void)state;
    cst_window *w = NULL;
    assert_int_equal(cst_window_new(64, &w), CST_OK);
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "203.0.113.%d/%d", i % 256, i);
        (void)note(w, key, NULL, T0, 600 * SEC);
        if (i % 50 == 0) /* the attacker keeps going */
            (void)note(w, "198.51.100.1", NULL, T0 + (i + 1) * 1000, 600 * SEC);
    }
    assert_true(cst_window_count(w, "198.51.100.1", 12, T0 - 1) > 0);
    int kept = 0;
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "203.0.113.%d/%d", i % 256, i);
        kept += cst_window_count(w, key, strlen(key), T0 - 1) > 0;
    }
    assert_true(kept <= 64);
    cst_window_free(w);
    assert_int_equal(cst_window_new(4, &w), CST_ERR_INVALID); /* below one set */
}

/* exfiltration: a principal reading ~10 records an hour for a week has a median of 10; an
 * hour above 10 x 10 = 100 (and above the minimum) is exfiltration, 100 is not. */
static void test_det1_exfiltration_baseline(void **state)
{
    (void)state;
    cst_detect *d = NULL;
    assert_int_equal(cst_detect_new(&d), CST_OK);
    int64_t hour = 0, med = 0;
    /* a new principal has no baseline: only the minimum decides */
    assert_false(cst_detect_baseline_add(d, "us_new", 999, T0, 10, 1000, &hour, &med));
    assert_int_equal(med, 0);
    assert_true(cst_detect_baseline_add(d, "us_new", 1, T0 + 1, 10, 1000, &hour, &med));
    assert_int_equal(hour, 1000);
    /* a week of 8..12 records an hour */
    int64_t start = (T0 / HOUR + 1000) * HOUR;
    for (int h = 0; h < 168; h++)
        (void)cst_detect_baseline_add(d, "us_steady", 8 + h % 5, start + h * HOUR, 10, 50, &hour,
                                      &med);
    int64_t now = start + 168 * HOUR;
    assert_false(cst_detect_baseline_add(d, "us_steady", 100, now, 10, 50, &hour, &med));
    assert_int_equal(med, 10);
    assert_int_equal(hour, 100);
    assert_true(cst_detect_baseline_add(d, "us_steady", 1, now + SEC, 10, 50, &hour, &med));
    assert_int_equal(hour, 101);
    /* the same volume under the minimum is not */
    assert_false(cst_detect_baseline_add(d, "us_steady", 0, now + 2 * SEC, 10, 1000, &hour, &med));
    /* 30 quiet hours later the median barely moves (29 zeros of 168 hours) */
    now += 30 * HOUR;
    assert_false(cst_detect_baseline_add(d, "us_steady", 60, now, 10, 50, &hour, &med));
    assert_int_equal(med, 9);
    /* after 100 quiet hours most of the week is zeros: the median is 0, the minimum decides */
    now += 70 * HOUR;
    assert_true(cst_detect_baseline_add(d, "us_steady", 60, now, 10, 50, &hour, &med));
    assert_int_equal(med, 0);
    assert_int_equal(hour, 60);
    cst_detect_free(d);
}

static void test_det1_alert_types_table(void **state)
{
    (void)state;
    static const char *const spec[] = {"brute_force",        "password_spraying", "disallowed_ip",
                                       "revoked_credential", "exfiltration",      "audit_integrity",
                                       "backup_failing",     "drill_overdue",     "breach_deadline",
                                       "break_glass",        "review_overdue",    "key_age"};
    assert_int_equal(cst_alert_type_count, sizeof(spec) / sizeof(spec[0]));
    for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
        const cst_alert_type *t = cst_alert_type_find(spec[i]);
        assert_non_null(t);
        assert_true(cst_alert_severity_rank(t->severity) >= 0);
    }
    assert_null(cst_alert_type_find("nonsense"));
    assert_null(cst_alert_type_find(NULL));
    assert_true(cst_alert_severity_rank("critical") > cst_alert_severity_rank("high"));
    assert_int_equal(cst_alert_severity_rank("severe"), -1);
    assert_true(cst_alert_status_valid("acknowledged"));
    assert_false(cst_alert_status_valid("closed"));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_det1_window_counts_events_within_the_window),
        cmocka_unit_test(test_det1_window_counts_distinct_items),
        cmocka_unit_test(test_det1_window_is_bounded),
        cmocka_unit_test(test_det1_exfiltration_baseline),
        cmocka_unit_test(test_det1_alert_types_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
