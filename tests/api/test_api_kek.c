/* test_api_kek.c: ENC-4, a node whose master key is not a file. With pkcs11: (a throw-away
 * SoftHSM2 token) it initialises, serves, writes and reads, passes the ENC-1 canary scan, keeps
 * its key non-extractable in the token and refuses a wrong PIN; with command: it serves, and
 * refuses to start when the command fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <cmocka.h>

#include "../softhsm.h"
#include "canary.h"
#include "crypto/kek_pkcs11.h"
#include "harness.h"
#include "util/util.h"

static ts_server srv;

static bool log_says(const ts_server *s, const char *what)
{
    char path[400], buf[16384];
    snprintf(path, sizeof(path), "%s/serve.log", s->root);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, what) != NULL;
}

static void test_enc4_pkcs11_node(void **state)
{
    char hsm[] = "/tmp/cst-hsm-XXXXXX", uri[512], args[700], path[400];
    assert_non_null(mkdtemp(hsm));
    assert_int_equal(ts_softhsm_token(hsm, "custodia-kek", uri, sizeof(uri)), 0);
    setenv("CUSTODIA_PKCS11_PIN", TS_HSM_PIN, 1);
    snprintf(args, sizeof(args), "--master-key '%s'", uri);
    ts_init_with(&srv, args);
    /* no key file anywhere: the KEK was made in the token and cannot leave it */
    snprintf(path, sizeof(path), "%s/custodia-master.key", srv.root);
    assert_false(cst_path_exists(path));
    snprintf(path, sizeof(path), "%s/root.key", srv.data_dir);
    assert_true(cst_path_exists(path));
    cst_p11 *p = NULL;
    uint8_t id[8];
    bool sensitive = false, extractable = true;
    assert_int_equal(cst_p11_open(uri, TS_HSM_PIN, false, &p, id), CST_OK);
    assert_int_equal(cst_p11_key_flags(p, &sensitive, &extractable), CST_OK);
    assert_true(sensitive);
    assert_false(extractable);
    cst_p11_close(p);

    snprintf(srv.extra_config, sizeof(srv.extra_config), "[keys]\nmaster_key = %s\n", uri);
    assert_true(ts_start(&srv));
    canary_check(&srv); /* writes, reads, scans, stops */

    /* a wrong PIN: the node does not start, and says why */
    setenv("CUSTODIA_PKCS11_PIN", "0000", 1);
    assert_false(ts_start(&srv));
    assert_true(log_says(&srv, "the token refused the PIN"));
    /* the right one: what was written reads back */
    setenv("CUSTODIA_PKCS11_PIN", TS_HSM_PIN, 1);
    assert_true(ts_start(&srv));
    char *op = ts_operator(&srv);
    assert_non_null(op);
    char *owner = ts_tenant(&srv, op, "after-restart", NULL); /* a new DEK wrapped in the token */
    ts_bucket(&srv, owner, "b");
    assert_int_equal(ts_put(&srv, owner, "b", "k", "text/plain", "v", 1), 201);
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/b/records/k", owner, NULL, NULL, 0), 200);
    free(op);
    free(owner);
    ts_cleanup(&srv);
    unsetenv("CUSTODIA_PKCS11_PIN");
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", hsm);
    assert_int_equal(system(cmd), 0);
}

static void test_enc4_command_node(void **state)
{
    char dir[] = "/tmp/cst-kcmd-XXXXXX", b64[400], args[600];
    assert_non_null(mkdtemp(dir));
    snprintf(b64, sizeof(b64), "%s/kek.b64", dir);
    assert_int_equal(ts_sh("head -c 32 /dev/urandom | base64 > %s && chmod 600 %s", b64, b64), 0);
    snprintf(args, sizeof(args), "--master-key 'command:cat %s'", b64);
    ts_init_with(&srv, args);
    snprintf(srv.extra_config, sizeof(srv.extra_config),
             "[keys]\nmaster_key = command:cat %s\ncommand_timeout_seconds = 5\n", b64);
    assert_true(ts_start(&srv));
    char *op = ts_operator(&srv);
    assert_non_null(op);
    char *owner = ts_tenant(&srv, op, "cmd-co", NULL);
    ts_bucket(&srv, owner, "b");
    assert_int_equal(ts_put(&srv, owner, "b", "k", "text/plain", "v", 1), 201);
    assert_int_equal(ts_stop(&srv), 0);
    /* a command that fails: refused, saying so */
    snprintf(srv.extra_config, sizeof(srv.extra_config),
             "[keys]\nmaster_key = command:cat %s; exit 4\n", b64);
    assert_false(ts_start(&srv));
    assert_true(log_says(&srv, "the master key command failed (exit status 4)"));
    /* the same key from the command again: the data reads back */
    snprintf(srv.extra_config, sizeof(srv.extra_config), "[keys]\nmaster_key = command:cat %s\n",
             b64);
    assert_true(ts_start(&srv));
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/b/records/k", owner, NULL, NULL, 0), 200);
    free(op);
    free(owner);
    ts_cleanup(&srv);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enc4_pkcs11_node),
        cmocka_unit_test(test_enc4_command_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
