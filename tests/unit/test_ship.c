/* test_ship.c: audit shipping's wire format: RFC 5425 octet counting around an RFC 5424 message
 * whose MSG is the entry's JSON line byte for byte, the severity from the outcome, the
 * facility, NILVALUE for what is not known; the audit.syslog_url parser's refusals; and the lag
 * (cst_ship_lag) against a command that reads and one that does not. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "audit_fixture.h"
#include "crypto/crypto.h"
#include "crypto/keys.h"
#include "node/config.h"
#include "node/ship.h"
#include "util/json.h"
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

/* A node with only what shipping needs: its config, id and an open audit log in a temp dir. */
static void lag_node(cst_node *n, char *root, cst_key *kek, const char *command)
{
    strcpy(root, "/tmp/cst-ship-XXXXXX");
    assert_non_null(mkdtemp(root));
    memset(n, 0, sizeof(*n));
    cst_config_defaults(&n->cfg);
    assert_int_equal(cst_config_set(&n->cfg, "node", "data_dir", root), CST_OK);
    assert_int_equal(cst_config_set(&n->cfg, "audit", "ship_command", command), CST_OK);
    assert_int_equal(cst_config_finish(&n->cfg), CST_OK);
    strcpy(n->node_id, "nd_00000000000000000001");
    assert_int_equal(mkdir(n->cfg.audit_dir, 0700), 0);
    char epoch[PATH_MAX + 16];
    snprintf(epoch, sizeof(epoch), "%s/epoch.key", n->cfg.audit_dir);
    cst_key k0 = {0};
    assert_int_equal(cst_key_random(kek), CST_OK);
    assert_int_equal(cst_key_random(&k0), CST_OK);
    assert_int_equal(cst_audit_epoch_store(epoch, kek, 0, &k0), CST_OK);
    cst_key_free(&k0);
    cst_audit_opts o = cst_fixture_audit_opts(n->cfg.audit_dir, epoch, kek, 1000);
    assert_int_equal(cst_audit_open(&o, &n->audit), CST_OK);
}

static void lag_node_close(cst_node *n, const char *root, cst_key *kek)
{
    cst_ship_stop(n);
    cst_audit_close(n->audit);
    cst_key_free(kek);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* The lag is what is durable and not acknowledged: a program that never reads acknowledges
 * nothing; one that reads takes it to zero, and the acknowledged numbers are kept on disk. */
static void test_lag_is_durable_minus_acknowledged(void **state)
{
    (void)state;
    char root[64];
    cst_key kek = {0};
    cst_node n;
    lag_node(&n, root, &kek, "exec sleep 30");
    assert_int_equal(cst_ship_start(&n), CST_OK);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(cst_fixture_audit_append(n.audit, CST_AUDIT_SECURITY, i), CST_OK);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(cst_fixture_audit_append(n.audit, CST_AUDIT_ACCESS, i), CST_OK);
    uint64_t lag = 0;
    assert_false(cst_ship_lag(&n, CST_SHIP_SYSLOG, CST_AUDIT_SECURITY, &lag)); /* not configured */
    assert_true(cst_ship_lag(&n, CST_SHIP_COMMAND, CST_AUDIT_SECURITY, &lag));
    assert_int_equal(lag, 5);
    assert_true(cst_ship_lag(&n, CST_SHIP_COMMAND, CST_AUDIT_ACCESS, &lag));
    assert_int_equal(lag, 3);
    lag_node_close(&n, root, &kek);

    lag_node(&n, root, &kek, "exec cat > /dev/null");
    assert_int_equal(cst_ship_start(&n), CST_OK);
    for (int i = 1; i <= 5; i++)
        assert_int_equal(cst_fixture_audit_append(n.audit, CST_AUDIT_SECURITY, i), CST_OK);
    for (int tries = 0; tries < 500; tries++) {
        assert_true(cst_ship_lag(&n, CST_SHIP_COMMAND, CST_AUDIT_SECURITY, &lag));
        if (lag == 0)
            break;
        usleep(10000);
    }
    assert_int_equal(lag, 0);
    /* the state file follows the acknowledgement (written after each batch): wait for it */
    char path[600];
    snprintf(path, sizeof(path), "%s/audit/ship-command.json", root);
    json_int_t acked = 0;
    for (int tries = 0; tries < 500 && acked != 5; tries++) {
        json_t *st = json_load_file(path, 0, NULL);
        acked = json_integer_value(json_object_get(json_object_get(st, "acked"), "security"));
        json_decref(st);
        if (acked != 5)
            usleep(10000);
    }
    assert_int_equal(acked, 5);
    lag_node_close(&n, root, &kek);
}

int main(void)
{
    if (cst_crypto_init() != CST_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_is_rfc5425_around_rfc5424),
        cmocka_unit_test(test_severity_facility_and_nilvalues),
        cmocka_unit_test(test_frame_refuses_what_is_not_one_entry),
        cmocka_unit_test(test_syslog_url),
        cmocka_unit_test(test_lag_is_durable_minus_acknowledged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
