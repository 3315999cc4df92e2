/* test_api_metrics.c: DET-2 and the server log (issue 19, items 1 and 2) against a real server:
 * GET /metrics after a mix of requests passes `promtool check metrics`; three failed logins
 * raise the auth-failure counter by exactly three, two throttled logins the rate-limit one by two;
 * the scrape rule (a loopback peer without a token, or an operator token; metrics.allow_loopback =
 * false needs the token; a forwarded request needs it too); no tenant id in any label unless
 * metrics.per_tenant; the metrics listener (metrics.listen) serves /metrics only and refuses a
 * non-loopback address; /v1/sys/ready 200, and 503 naming the audit log while its files are gone;
 * the earliest breach deadline; the report's DET-2 row; the server log: one JSON line per request
 * (route pattern, status, principal), SIGHUP reopens log.file after a rename and the node keeps
 * serving, and no line carries a password, a record key, a value or a query string. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "util/util.h"

#define RECORD_KEY "rk-Very-Private-Key-7731"
#define RECORD_VALUE "VALUE-Very-Private-5519"
#define WRONG_PASSWORD "Wrong-Guess-Passphrase-9904"

static ts_server srv;
static char *op, *owner;
static char tenant_id[32];

/* The scrape's text (malloc'd), asserting 200 and the text format's media type. */
static char *scrape(ts_server *s, const char *token)
{
    ts_resp r;
    ts_request(s, "GET", "/metrics", token, NULL, NULL, 0, NULL, &r);
    if (r.status != 200)
        fail_msg("GET /metrics: %ld %s", r.status, r.body ? r.body : "");
    char ctype[128];
    assert_true(ts_header(&r, "Content-Type", ctype, sizeof(ctype)));
    assert_non_null(strstr(ctype, "text/plain; version=0.0.4"));
    char *text = strndup(r.body, r.len);
    ts_resp_free(&r);
    return text;
}

/* The value of the sample whose line starts with `series ` (name and labels as rendered);
 * -1 when absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, series, n) && p[n] == ' ')
            return atof(p + n + 1);
    return -1;
}

/* promtool's verdict on the text: 0 when it passes its checks. */
static int promtool(const ts_server *s, const char *text)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/scrape.prom", s->root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    if (ts_sh("command -v promtool >/dev/null") != 0)
        fail_msg("promtool is missing: scripts/install-deps.sh installs it (Debian prometheus)");
    return ts_sh("promtool check metrics < %s >&2", path);
}

static bool file_has(const char *path, const char *what)
{
    return ts_sh("grep -qF -- '%s' %s", what, path) == 0;
}

static int setup(void **state)
{
    ts_init(&srv);
    /* the log file lives in the server's temp dir, known only after ts_init */
    snprintf(srv.extra_config, sizeof(srv.extra_config), "[log]\nfile = %s/node.log\n", srv.root);
    owner = ts_start_tenant(&srv, &op, "metrics", tenant_id);
    return owner ? 0 : -1;
}

static int teardown(void **state)
{
    return ts_finish(&srv, 2, op, owner);
}

/* A mix of requests: reads, writes, refusals, a route that does not exist. */
static void serve_a_mix(void)
{
    ts_bucket(&srv, owner, "people");
    assert_int_equal(
        ts_put(&srv, owner, "people", RECORD_KEY, "text/plain", RECORD_VALUE, strlen(RECORD_VALUE)),
        201);
    assert_int_equal(
        ts_status(&srv, "GET", "/v1/buckets/people/records/" RECORD_KEY, owner, NULL, NULL, 0),
        200);
    assert_int_equal(
        ts_status(&srv, "GET", "/v1/buckets/people/records?limit=5", owner, NULL, NULL, 0), 200);
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/nope/records/x", owner, NULL, NULL, 0),
                     404);
    assert_int_equal(ts_status(&srv, "GET", "/v1/no/such/route", owner, NULL, NULL, 0), 404);
    assert_int_equal(ts_status(&srv, "GET", "/v1/tenant", NULL, NULL, NULL, 0), 401);
    assert_int_equal(ts_status(&srv, "GET", "/v1/sys/health", NULL, NULL, NULL, 0), 200);
}

static void test_det2_scrape_passes_promtool_after_a_mix(void **state)
{
    serve_a_mix();
    char *text = scrape(&srv, NULL); /* loopback, no token */
    assert_int_equal(promtool(&srv, text), 0);
    /* the families of the issue, with HELP and TYPE */
    static const char *const families[] = {
        "custodia_build_info",
        "custodia_http_requests_total",
        "custodia_http_request_duration_seconds",
        "custodia_auth_failures_total",
        "custodia_rate_limited_requests_total",
        "custodia_http_open_connections",
        "custodia_audit_entries_written_total",
        "custodia_audit_fsync_duration_seconds",
        "custodia_audit_group_entries",
        "custodia_audit_pending_entries",
        "custodia_audit_verify_failures_total",
        "custodia_backup_age_seconds",
        "custodia_backup_last_result",
        "custodia_backup_drill_age_seconds",
        "custodia_alerts_open",
        "custodia_breach_deadline_seconds",
        "custodia_tenants",
        "custodia_kek_age_seconds",
        "custodia_dek_oldest_age_seconds",
    };
    for (size_t i = 0; i < sizeof(families) / sizeof(*families); i++) {
        char help[128], type[128];
        snprintf(help, sizeof(help), "# HELP %s ", families[i]);
        snprintf(type, sizeof(type), "# TYPE %s ", families[i]);
        if (!strstr(text, help) || !strstr(text, type))
            fail_msg("family %s has no HELP or TYPE line", families[i]);
    }
    assert_non_null(strstr(text, "custodia_build_info{version=\""));
    /* requests by route pattern and status class: the record write, the unmatched route */
    assert_true(sample(text, "custodia_http_requests_total{method=\"PUT\",route=\"/v1/buckets/"
                             "{name}/records/{key}\",code=\"2xx\"}") >= 1);
    assert_true(sample(text, "custodia_http_requests_total{method=\"\",route=\"unmatched\","
                             "code=\"4xx\"}") >= 1);
    assert_true(sample(text, "custodia_http_request_duration_seconds_count{method=\"GET\","
                             "route=\"/v1/sys/health\"}") >= 1);
    assert_true(sample(text, "custodia_audit_entries_written_total") > 0);
    assert_true(sample(text, "custodia_audit_fsync_duration_seconds_count") > 0);
    assert_true(sample(text, "custodia_tenants{state=\"active\"}") >= 1);
    assert_true(sample(text, "custodia_http_open_connections") >= 1); /* this scrape's own */
    assert_true(sample(text, "custodia_kek_age_seconds") >= 0);
    /* never a path, a record key, a query or (by default) a tenant id */
    assert_null(strstr(text, RECORD_KEY));
    assert_null(strstr(text, "/v1/no/such/route"));
    assert_null(strstr(text, "limit=5"));
    assert_null(strstr(text, tenant_id));
    free(text);
}

static void test_det2_three_failed_logins_count_three(void **state)
{
    const char *series = "custodia_auth_failures_total{kind=\"unauthenticated\"}";
    char *before = scrape(&srv, NULL);
    double was = sample(before, series);
    free(before);
    assert_true(was >= 0);
    char body[256];
    snprintf(body, sizeof(body),
             "{\"tenant\":\"metrics\",\"username\":\"owner\",\"password\":\"%s\"}", WRONG_PASSWORD);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ts_status(&srv, "POST", "/v1/auth/login", NULL, body, NULL, 0), 401);
    char *after = scrape(&srv, NULL);
    assert_true(sample(after, series) == was + 3);
    free(after);
}

static void test_det2_forwarded_scrape_needs_a_token(void **state)
{
    /* a proxy on this host must not open /metrics to its clients */
    const char *const fwd[] = {"X-Forwarded-For: 203.0.113.9", NULL};
    ts_resp r;
    ts_request(&srv, "GET", "/metrics", NULL, NULL, NULL, 0, fwd, &r);
    assert_int_equal(r.status, 401);
    ts_resp_free(&r);
    /* a credential sent is checked: a tenant's is refused, an operator's with sys.report not */
    assert_int_equal(ts_status(&srv, "GET", "/metrics", owner, NULL, NULL, 0), 403);
    char *text = scrape(&srv, op);
    free(text);
}

static void test_det2_breach_deadline_is_the_earliest_unsent(void **state)
{
    char *sec = ts_sys_operator(&srv, op, "sec1", "sys-security");
    json_t *inc = ts_call(&srv, "POST", "/v1/sys/incidents", sec,
                          "{\"title\":\"t\",\"severity\":\"high\",\"summary\":\"s\"}", 201);
    char path[160], body[256], aware[32];
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s/confirm-breach",
             json_string_value(json_object_get(inc, "id")));
    json_decref(inc);
    cst_time_format(cst_now_us() - 3600LL * 1000000, aware); /* aware an hour ago: 47 h left */
    snprintf(body, sizeof(body), "{\"aware_at\":\"%s\",\"tenants\":[\"%s\"]}", aware, tenant_id);
    json_decref(ts_call(&srv, "POST", path, sec, body, 200));
    char *text = scrape(&srv, NULL);
    double left = sample(text, "custodia_breach_deadline_seconds");
    assert_true(left > 47 * 3600 - 120 && left <= 47 * 3600);
    assert_null(strstr(text, tenant_id)); /* the smallest, never per tenant */
    free(text);
    free(sec);
}

static void test_det2_report_row_passes(void **state)
{
    json_t *doc = ts_call(&srv, "GET", "/v1/sys/report", op, NULL, 200);
    json_t *rep = json_object_get(doc, "report");
    assert_string_equal(ts_report_status(rep, "DET-2"), "pass");
    assert_true(json_integer_value(ts_report_evidence(rep, "DET-2", "metric_families")) >= 19);
    assert_true(json_is_false(ts_report_evidence(rep, "DET-2", "per_tenant")));
    assert_non_null(
        strstr(json_string_value(ts_report_evidence(rep, "DET-2", "scrape_access")), "loopback"));
    json_decref(doc);
}

static void test_det2_ready_names_the_audit_log_when_it_is_gone(void **state)
{
    json_t *ok = ts_call(&srv, "GET", "/v1/sys/ready", NULL, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(ok, "status")), "ready");
    json_decref(ok);
    /* the audit segments moved away under the node: not ready, and which check says why */
    assert_int_equal(ts_sh("mv %s/audit %s/audit.away", srv.data_dir, srv.data_dir), 0);
    json_t *no = ts_call(&srv, "GET", "/v1/sys/ready", NULL, NULL, 503);
    assert_string_equal(json_string_value(json_object_get(no, "status")), "not_ready");
    json_t *checks = json_object_get(no, "checks");
    assert_string_equal(json_string_value(json_object_get(checks, "store")), "ok");
    assert_string_equal(json_string_value(json_object_get(checks, "keys")), "ok");
    assert_non_null(strstr(json_string_value(json_object_get(checks, "audit")), "removed"));
    json_decref(no);
    /* back in place: ready again, and audited requests are served */
    assert_int_equal(ts_sh("mv %s/audit.away %s/audit", srv.data_dir, srv.data_dir), 0);
    json_decref(ts_call(&srv, "GET", "/v1/sys/ready", NULL, NULL, 200));
    json_decref(ts_call(&srv, "GET", "/v1/tenant", owner, NULL, 200));
}

/* Every line of a log file is one JSON object; none carries what must never be logged. */
static void check_log_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        if (!o)
            fail_msg("%s: a line that is not JSON: %s", path, line);
        assert_non_null(json_object_get(o, "time"));
        assert_non_null(json_object_get(o, "level"));
        json_decref(o);
        /* the operator's one-time password and the owner's session token too */
        const char *const never[] = {RECORD_KEY,      RECORD_VALUE, TS_PASSWORD,
                                     WRONG_PASSWORD,  "limit=5",    "/v1/no/such/route",
                                     srv.op_password, owner};
        for (size_t i = 0; i < sizeof(never) / sizeof(*never); i++)
            if (strstr(line, never[i]))
                fail_msg("%s: a line carries %s: %s", path, never[i], line);
        n++;
    }
    fclose(f);
    assert_true(n > 0);
}

static void test_log_sighup_reopens_the_file_and_never_logs_secrets(void **state)
{
    char log[400], rotated[400];
    snprintf(log, sizeof(log), "%s/node.log", srv.root);
    snprintf(rotated, sizeof(rotated), "%s/node.log.1", srv.root);
    /* the request lines so far: route patterns, statuses, the principal */
    assert_true(file_has(log, "\"route\":\"/v1/buckets/{name}/records/{key}\",\"status\":201"));
    assert_true(file_has(log, "\"event\":\"request\""));
    /* logrotate: rename, then SIGHUP */
    assert_int_equal(rename(log, rotated), 0);
    assert_int_equal(kill(srv.pid, SIGHUP), 0);
    /* the reopen happens on the signal thread: wait (bounded) for the new file */
    for (int i = 0; i < 100 && access(log, F_OK) != 0; i++)
        usleep(50 * 1000);
    assert_int_equal(access(log, F_OK), 0);
    ts_resp r;
    ts_request(&srv, "GET", "/v1/tenant", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    char rid[64], want[128];
    assert_true(ts_header(&r, "X-Request-Id", rid, sizeof(rid)));
    ts_resp_free(&r);
    snprintf(want, sizeof(want), "\"request_id\":\"%s\"", rid);
    assert_true(file_has(log, want));
    assert_false(file_has(rotated, want));
    assert_true(file_has(log, "\"route\":\"/v1/tenant\",\"status\":200"));
    check_log_lines(rotated);
    check_log_lines(log);
}

/* A second server: metrics.allow_loopback = false, metrics.per_tenant = true, the metrics
 * listener on a loopback port, text log lines. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_det2_token_rule_per_tenant_and_listener(void **state)
{
    ts_server b = {0};
    ts_init(&b);
    int port = free_port();
    snprintf(b.extra_config, sizeof(b.extra_config),
             "[metrics]\nallow_loopback = false\nper_tenant = true\nlisten = 127.0.0.1:%d\n"
             "[log]\nformat = text\n[auth]\nlogin_rate_per_ip = 5\n",
             port);
    char *bop = NULL, tid[32];
    char *bowner = ts_start_tenant(&b, &bop, "pertenant", tid);
    assert_non_null(bowner);
    /* without the loopback rule a scrape needs the token, from this host too */
    assert_int_equal(ts_status(&b, "GET", "/metrics", NULL, NULL, NULL, 0), 401);
    char *text = scrape(&b, bop);
    assert_int_equal(promtool(&b, text), 0);
    /* per_tenant: the tenant's id is a label */
    char series[128];
    snprintf(series, sizeof(series), "custodia_tenant_dek_age_seconds{tenant=\"%s\"}", tid);
    assert_true(sample(text, series) >= 0);
    free(text);
    /* logins past auth.login_rate_per_ip from another address: each 429 counts once */
    const char *limited_series = "custodia_rate_limited_requests_total";
    text = scrape(&b, bop);
    double was = sample(text, limited_series);
    free(text);
    ts_server other = b;
    snprintf(other.source_ip, sizeof(other.source_ip), "127.0.0.3");
    const char *login = "{\"tenant\":\"pertenant\",\"username\":\"nobody\",\"password\":\"x\"}";
    int limited = 0;
    for (int i = 0; i < 7; i++)
        limited += ts_status(&other, "POST", "/v1/auth/login", NULL, login, NULL, 0) == 429;
    assert_int_equal(limited, 2); /* 5 a minute: the 6th and 7th */
    text = scrape(&b, bop);
    assert_true(sample(text, limited_series) == was + 2);
    /* the five that were tried failed for one account: DET-1's brute_force alert is open */
    assert_true(sample(text, "custodia_alerts_open{type=\"brute_force\"}") == 1);
    free(text);
    /* the listener: plain HTTP, /metrics only, the same access rule */
    char out[400];
    snprintf(out, sizeof(out), "%s/listener.prom", b.root);
    assert_int_equal(ts_sh("test \"$(curl -s -o /dev/null -w '%%{http_code}' "
                           "http://127.0.0.1:%d/metrics)\" = 401",
                           port),
                     0);
    assert_int_equal(ts_sh("curl -sf -H 'Authorization: Bearer %s' http://127.0.0.1:%d/metrics "
                           "> %s && promtool check metrics < %s >&2",
                           bop, port, out, out),
                     0);
    assert_int_equal(ts_sh("test \"$(curl -s -o /dev/null -w '%%{http_code}' "
                           "http://127.0.0.1:%d/v1/sys/health)\" = 404",
                           port),
                     0);
    /* log.format = text: one request line, route pattern and status, no JSON */
    assert_int_equal(ts_sh("grep -q ' event=request .* route=/metrics status=200' "
                           "%s/serve.log",
                           b.root),
                     0);
    assert_int_equal(ts_stop(&b), 0);
    /* a metrics listener off loopback is refused at start-up, naming the key */
    snprintf(b.extra_config, sizeof(b.extra_config), "[metrics]\nlisten = 0.0.0.0:%d\n", port);
    assert_false(ts_start(&b));
    assert_int_equal(
        ts_sh("grep -q 'metrics.listen must be a loopback address' %s/serve.log", b.root), 0);
    free(bop);
    free(bowner);
    ts_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_det2_scrape_passes_promtool_after_a_mix),
        cmocka_unit_test(test_det2_three_failed_logins_count_three),
        cmocka_unit_test(test_det2_forwarded_scrape_needs_a_token),
        cmocka_unit_test(test_det2_breach_deadline_is_the_earliest_unsent),
        cmocka_unit_test(test_det2_report_row_passes),
        cmocka_unit_test(test_det2_ready_names_the_audit_log_when_it_is_gone),
        cmocka_unit_test(test_log_sighup_reopens_the_file_and_never_logs_secrets),
        cmocka_unit_test(test_det2_token_rule_per_tenant_and_listener),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
