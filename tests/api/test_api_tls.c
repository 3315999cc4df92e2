/* test_api_tls.c: ENC-3. Only TLS 1.2 and 1.3 with forward-secret AEAD suites; no plaintext
 * listener unless asked for on loopback. A real TLS client (gnutls-cli) tries each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

static ts_server srv;

static int setup(void **state)
{
    ts_init(&srv);
    return ts_start(&srv) ? 0 : -1;
}

static int teardown(void **state)
{
    ts_cleanup(&srv);
    return 0;
}

/* Exit status of a gnutls-cli handshake with the given priority string. */
static int handshake(const char *priority)
{
    return ts_sh("gnutls-cli --priority '%s' --x509cafile %s -p %d 127.0.0.1 "
                 "</dev/null >/dev/null 2>&1",
                 priority, srv.cacert, srv.port);
}

static void test_enc3_tls13_and_tls12_ecdhe_aead_accepted(void **state)
{
    assert_int_equal(handshake("NORMAL:-VERS-ALL:+VERS-TLS1.3"), 0);
    assert_int_equal(handshake("NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:"
                               "-CIPHER-ALL:+AES-256-GCM"),
                     0);
    assert_int_equal(handshake("NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:"
                               "-CIPHER-ALL:+CHACHA20-POLY1305"),
                     0);
}

static void test_enc3_old_protocols_refused(void **state)
{
    assert_int_not_equal(handshake("NORMAL:-VERS-ALL:+VERS-TLS1.1:%VERIFY_ALLOW_SIGN_WITH_SHA1"),
                         0);
    assert_int_not_equal(handshake("NORMAL:-VERS-ALL:+VERS-TLS1.0:%VERIFY_ALLOW_SIGN_WITH_SHA1"),
                         0);
}

static void test_enc3_non_pfs_and_cbc_suites_refused(void **state)
{
    /* static RSA key exchange (no forward secrecy) */
    assert_int_not_equal(handshake("NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+RSA"), 0);
    /* CBC (non-AEAD) ciphers even with ECDHE */
    assert_int_not_equal(handshake("NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:"
                                   "+AES-256-CBC:-MAC-ALL:+SHA1:+SHA256"),
                         0);
}

static void test_enc3_plaintext_http_to_tls_port_fails(void **state)
{
    assert_int_not_equal(ts_sh("curl -sf --max-time 5 http://127.0.0.1:%d/v1/sys/health "
                               ">/dev/null 2>&1",
                               srv.port),
                         0);
    assert_int_equal(ts_status(&srv, "GET", "/v1/sys/health", NULL, NULL, NULL, 0), 200);
}

static void test_enc3_plaintext_only_when_enabled_on_loopback(void **state)
{
    assert_int_equal(ts_stop(&srv), 0);
    /* refused on a non-loopback address */
    snprintf(srv.extra_config, sizeof(srv.extra_config),
             "[http]\nallow_plaintext_loopback = true\nlisten = 0.0.0.0:0\n");
    char ini[400];
    snprintf(ini, sizeof(ini), "%s/custodia.ini", srv.root);
    FILE *f = fopen(ini, "w");
    fputs(srv.extra_config, f);
    fclose(f);
    /* and the node's [store] section (PostgreSQL; empty on SQLite), so that only the listen
     * address is wrong */
    assert_int_equal(ts_sh("cat %s/store.ini >> %s", srv.root, ini), 0);
    assert_int_equal(ts_sh("%s serve --config %s --data-dir %s >/dev/null 2>%s/err.txt",
                           getenv("CUSTODIA_BIN"), ini, srv.data_dir, srv.root),
                     1);
    assert_int_equal(ts_sh("grep -q 'loopback' %s/err.txt", srv.root), 0);
    /* allowed on loopback, with a loud warning */
    snprintf(srv.extra_config, sizeof(srv.extra_config),
             "[http]\nallow_plaintext_loopback = true\n");
    assert_true(ts_start(&srv));
    assert_int_equal(
        ts_sh("curl -sf --max-time 5 http://127.0.0.1:%d/v1/sys/health >/dev/null", srv.port), 0);
    assert_int_equal(ts_sh("grep -q 'WEAKER THAN DEFAULT' %s/serve.log", srv.root), 0);
    assert_int_equal(ts_stop(&srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enc3_tls13_and_tls12_ecdhe_aead_accepted),
        cmocka_unit_test(test_enc3_old_protocols_refused),
        cmocka_unit_test(test_enc3_non_pfs_and_cbc_suites_refused),
        cmocka_unit_test(test_enc3_plaintext_http_to_tls_port_fails),
        cmocka_unit_test(test_enc3_plaintext_only_when_enabled_on_loopback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
