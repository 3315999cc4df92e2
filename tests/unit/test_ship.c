/* test_ship.c: audit shipping's wire format: RFC 5425 octet counting around an RFC 5424 message
 * whose MSG is the entry's JSON line byte for byte, the severity from the outcome, the
 * facility, NILVALUE for what is not known; and the audit.syslog_url parser's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "node/config.h"
#include "node/ship.h"
#include "util/util.h"

static const char *const ENTRY =
    "{\"action\":\"auth.login\",\"actor\":{\"id\":\"u_1\",\"type\":\"user\"},\"detail\":{\"ct\":"
    "\"c2VhbGVk\"},\"hash\":\"ab\",\"node\":\"n_1\",\"outcome\":\"success\",\"prev\":\"cd\","
    "\"request_id\":\"r\",\"resource\":\"x\",\"seq\":7,\"source_ip\":\"127.0.0.1\",\"status\":200,"
    "\"tenant\":null,\"time\":\"2026-12-02T14:28:47.123456Z\"}";

static char *frame(const char *line, cst_audit_stream s, const char *host, int facility)
{
    cst_buf b;
    cst_buf_init(&b, 1 << 20);
    assert_int_equal(cst_ship_syslog_frame(line, strlen(line), s, host, facility, &b), CST_OK);
    assert_int_equal(cst_buf_append(&b, "", 1), CST_OK);
    char *out = strdup((const char *)b.data);
    cst_buf_free(&b);
    return out;
}

static void test_frame_is_rfc5425_around_rfc5424(void **state)
{
    (void)state;
    char *f = frame(ENTRY, CST_AUDIT_SECURITY, "vault-1.example", 13);
    char want[2048];
    int n = snprintf(want, sizeof(want),
                     "<110>1 2026-12-02T14:28:47.123456Z vault-1.example custodia - security - %s",
                     ENTRY); /* 13 * 8 + 6 (informational) */
    char framed[2100];
    snprintf(framed, sizeof(framed), "%d %s", n, want);
    assert_string_equal(f, framed);
    /* MSG-LEN counts octets of the message exactly */
    char *sp = strchr(f, ' ');
    assert_int_equal(strtoul(f, NULL, 10), strlen(sp + 1));
    free(f);
}

static void test_severity_facility_and_nilvalues(void **state)
{
    (void)state;
    char line[2048];
    struct {
        const char *outcome;
        int facility, pri;
        cst_audit_stream s;
        const char *msgid;
    } cases[] = {
        {"denied", 13, 13 * 8 + 4, CST_AUDIT_ACCESS, "access"},
        {"failure", 10, 10 * 8 + 5, CST_AUDIT_SECURITY, "security"},
        {"success", 0, 6, CST_AUDIT_ACCESS, "access"},
        {"success", 23, 23 * 8 + 6, CST_AUDIT_SECURITY, "security"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(line, sizeof(line),
                 "{\"outcome\":\"%s\",\"seq\":1,\"time\":\"2026-01-02T03:04:05Z\"}",
                 cases[i].outcome);
        char *f = frame(line, cases[i].s, "h", cases[i].facility);
        char head[128];
        snprintf(head, sizeof(head), "<%d>1 2026-01-02T03:04:05Z h custodia - %s - {", cases[i].pri,
                 cases[i].msgid);
        assert_non_null(strstr(f, head));
        free(f);
    }
    /* no time, a host name with a space or empty: NILVALUE, never a broken header */
    char *f = frame("{\"outcome\":\"success\",\"seq\":1}", CST_AUDIT_ACCESS, "bad host", 13);
    assert_non_null(strstr(f, "<110>1 - - custodia - access - {"));
    free(f);
    f = frame("{\"outcome\":\"success\",\"time\":\"a b\"}", CST_AUDIT_ACCESS, "", 13);
    assert_non_null(strstr(f, "<110>1 - - custodia - access - {"));
    free(f);
}

static void test_frame_refuses_what_is_not_one_entry(void **state)
{
    (void)state;
    cst_buf b;
    cst_buf_init(&b, 1 << 20);
    assert_int_equal(cst_ship_syslog_frame("{\"a\":1}\n{}", 10, CST_AUDIT_ACCESS, "h", 13, &b),
                     CST_ERR_INVALID);
    assert_int_equal(cst_ship_syslog_frame("not json", 8, CST_AUDIT_ACCESS, "h", 13, &b),
                     CST_ERR_INVALID);
    assert_int_equal(cst_ship_syslog_frame("", 0, CST_AUDIT_ACCESS, "h", 13, &b), CST_ERR_INVALID);
    assert_int_equal(cst_ship_syslog_frame("{}", 2, CST_AUDIT_ACCESS, "h", 24, &b),
                     CST_ERR_INVALID);
    assert_int_equal(b.len, 0);
    cst_buf_free(&b);
}

static void test_syslog_url(void **state)
{
    (void)state;
    char host[256];
    int port = 0;
    assert_int_equal(cst_ship_parse_url("tls://siem.example:6514", host, sizeof(host), &port),
                     CST_OK);
    assert_string_equal(host, "siem.example");
    assert_int_equal(port, 6514);
    assert_int_equal(cst_ship_parse_url("tls://[::1]:6514", host, sizeof(host), &port), CST_OK);
    assert_string_equal(host, "::1");
    const char *bad[] = {"tcp://h:514",    "udp://h:514",     "tls://h",       "tls://:6514",
                         "tls://h:0",      "tls://h:65536",   "tls://h:65x",   "tls://h:6514/",
                         "tls://u@h:6514", "tls://[::1]6514", "tls://h :6514", "tls://h:"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cst_ship_parse_url(bad[i], host, sizeof(host), &port) != CST_ERR_INVALID)
            fail_msg("%s was accepted", bad[i]);
    /* the configuration refuses it at start-up, and a half-set client certificate */
    cst_config c;
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, "audit", "syslog_url", "udp://h:514"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_ERR_INVALID);
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, "audit", "syslog_cert_file", "/x.pem"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_ERR_INVALID);
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, "audit", "syslog_url", "tls://127.0.0.1:6514"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_is_rfc5425_around_rfc5424),
        cmocka_unit_test(test_severity_facility_and_nilvalues),
        cmocka_unit_test(test_frame_refuses_what_is_not_one_entry),
        cmocka_unit_test(test_syslog_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
