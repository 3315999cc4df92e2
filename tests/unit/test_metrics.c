/* test_metrics.c: util/metrics.h (DET-2: the counters, the histograms and the text-format
 * writer) and util/log.h (the server log's lines): label escaping, cumulative buckets whose
 * +Inf equals the count, route slots out of range, and log lines that stay one valid JSON
 * object whatever the message holds (quotes, newlines, control bytes, non-UTF-8, overlong). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "util/log.h"
#include "util/metrics.h"
#include "util/util.h"

static char *text_of(cst_buf *b)
{
    char *t = strndup((const char *)b->data, b->len);
    assert_non_null(t);
    return t;
}

static void test_det2_label_values_are_escaped(void **state)
{
    cst_buf b;
    cst_buf_init(&b, 4096);
    const char *labels[] = {"route", "a\"b\\c\nd", "code", "2xx", NULL};
    assert_int_equal(cst_prom_sample(&b, "custodia_x_total", labels, 3), CST_OK);
    assert_int_equal(cst_prom_sample(&b, "custodia_y", NULL, 0.25), CST_OK);
    char *t = text_of(&b);
    assert_string_equal(t, "custodia_x_total{route=\"a\\\"b\\\\c\\nd\",code=\"2xx\"} 3\n"
                           "custodia_y 0.25\n");
    free(t);
    cst_buf_free(&b);
}

static void test_det2_histogram_is_cumulative_and_inf_is_count(void **state)
{
    cst_hist_snapshot before;
    cst_metrics_hist(CST_HIST_FSYNC_SECONDS, 0, &before);
    cst_metrics_audit_fsync(50);      /* 0.00005 s: the first bucket (0.0001) */
    cst_metrics_audit_fsync(3000);    /* 0.003 s: le 0.005 */
    cst_metrics_audit_fsync(5000000); /* 5 s: only +Inf */
    cst_hist_snapshot h;
    cst_metrics_hist(CST_HIST_FSYNC_SECONDS, 0, &h);
    assert_int_equal(h.count - before.count, 3);
    assert_int_equal(h.cumulative[0] - before.cumulative[0], 1);
    for (size_t i = 1; i < h.nbounds; i++)
        assert_true(h.cumulative[i] >= h.cumulative[i - 1]);
    assert_int_equal(h.cumulative[h.nbounds - 1] - before.cumulative[h.nbounds - 1], 2);
    assert_true(h.sum - before.sum > 5.0 && h.sum - before.sum < 5.01);
    cst_buf b;
    cst_buf_init(&b, 1 << 16);
    const char *labels[] = {"route", "/v1/x", NULL};
    assert_int_equal(cst_prom_histogram(&b, "custodia_h_seconds", labels, &h), CST_OK);
    char *t = text_of(&b);
    char inf[128];
    snprintf(inf, sizeof(inf), "custodia_h_seconds_bucket{route=\"/v1/x\",le=\"+Inf\"} %llu\n",
             (unsigned long long)h.count);
    assert_non_null(strstr(t, inf));
    assert_non_null(strstr(t, "custodia_h_seconds_bucket{route=\"/v1/x\",le=\"0.0001\"} "));
    char count[128];
    snprintf(count, sizeof(count), "custodia_h_seconds_count{route=\"/v1/x\"} %llu\n",
             (unsigned long long)h.count);
    assert_non_null(strstr(t, count));
    free(t);
    cst_buf_free(&b);
}

static void test_det2_route_slots_and_classes(void **state)
{
    uint64_t before = cst_metrics_requests(CST_METRICS_UNMATCHED, 3);
    cst_metrics_request(5, 201, 1000);
    cst_metrics_request(5, 204, 1000);
    cst_metrics_request(100000, 404, 10);               /* out of range: the unmatched slot */
    cst_metrics_request(CST_METRICS_UNMATCHED, 99, 10); /* no class: not counted, still timed */
    assert_int_equal(cst_metrics_requests(5, 1), 2);
    assert_int_equal(cst_metrics_requests(CST_METRICS_UNMATCHED, 3) - before, 1);
    assert_int_equal(cst_metrics_requests(5, 7), 0); /* a class that does not exist */
    cst_hist_snapshot h;
    cst_metrics_hist(CST_HIST_REQUEST_SECONDS, CST_METRICS_UNMATCHED, &h);
    assert_true(h.count >= 2);
    uint64_t e = cst_metrics_errors(CST_ERR_RATE_LIMITED);
    cst_metrics_error(CST_ERR_RATE_LIMITED);
    cst_metrics_error((cst_err)1000); /* out of range: ignored */
    assert_int_equal(cst_metrics_errors(CST_ERR_RATE_LIMITED), e + 1);
    cst_metrics_connection(1);
    cst_metrics_connection(-1);
    assert_true(cst_metrics_connections() >= 0);
}

/* The log lines written while fn runs, with stderr sent to a file. */
static char *captured(void (*fn)(void))
{
    char path[] = "/tmp/cst-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    cst_buf b;
    cst_buf_init(&b, 1 << 20);
    assert_int_equal(cst_file_read(path, 1 << 20, &b), CST_OK);
    close(fd);
    unlink(path);
    char *t = text_of(&b);
    cst_buf_free(&b);
    return t;
}

static char long_msg[1024];
static char overlong[3000];

static void log_awkward(void)
{
    cst_log_set_format("json");
    cst_log_event("warn", "a \"quoted\" back\\slash\nnew line\ttab \x01 bell");
    cst_log_event("info", "not utf-8: \xff\xfe end");
    memset(long_msg, '"', sizeof(long_msg) - 1); /* every byte escapes to two */
    cst_log_event("info", long_msg);
    cst_log_request line = {"rid1", "GET", "/v1/buckets/{name}/records/{key}", 200, 1500,
                            "us_1", ""};
    cst_log_request_line(&line);
    memset(overlong, 1, sizeof(overlong) - 1); /* escapes to six times the line's room: cut */
    cst_log_event("info", overlong);
}

static void test_log_json_lines_stay_json(void **state)
{
    char *t = captured(log_awkward);
    int lines = 0;
    for (char *p = t, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        json_error_t err;
        json_t *o = json_loads(p, 0, &err);
        if (!o)
            fail_msg("not JSON (%s): %s", err.text, p);
        assert_non_null(json_object_get(o, "time"));
        if (lines == 0)
            assert_string_equal(json_string_value(json_object_get(o, "msg")),
                                "a \"quoted\" back\\slash\nnew line\ttab \x01 bell");
        if (lines == 2)
            assert_int_equal(strlen(json_string_value(json_object_get(o, "msg"))), 1023);
        if (lines == 3) {
            assert_string_equal(json_string_value(json_object_get(o, "route")),
                                "/v1/buckets/{name}/records/{key}");
            assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
            assert_true(json_real_value(json_object_get(o, "duration_seconds")) == 0.0015);
            assert_null(json_object_get(o, "error"));
        }
        if (lines == 4) { /* cut at a whole escape, and closed */
            size_t n = strlen(json_string_value(json_object_get(o, "msg")));
            assert_true(n > 1000 && n < sizeof(overlong) - 1);
        }
        json_decref(o);
        lines++;
    }
    assert_int_equal(lines, 5);
    free(t);
}

static void log_text(void)
{
    cst_log_set_format("text");
    cst_log_event("warn", "two\nlines");
    cst_log_request line = {"rid2", "", "", 404, 10, "", "not_found"};
    cst_log_request_line(&line);
    cst_log_set_format("json");
}

static void test_log_text_lines_are_one_line_each(void **state)
{
    char *t = captured(log_text);
    char *first = strchr(t, '\n');
    assert_non_null(first);
    assert_non_null(strstr(t, "warn  two lines\n"));
    assert_non_null(strstr(first + 1, " event=request request_id=rid2 method=- route=- "
                                      "status=404 duration_seconds=0.000010 principal=- "
                                      "error=not_found\n"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_det2_label_values_are_escaped),
        cmocka_unit_test(test_det2_histogram_is_cumulative_and_inf_is_count),
        cmocka_unit_test(test_det2_route_slots_and_classes),
        cmocka_unit_test(test_log_json_lines_stay_json),
        cmocka_unit_test(test_log_text_lines_are_one_line_each),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
