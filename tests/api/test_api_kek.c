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
#include <sqlite3.h>
#include <cmocka.h>

#include "../softhsm.h"
#include "canary.h"
#include "crypto/kek_pkcs11.h"
#include "crypto/keys.h"
#include "harness.h"
#include "util/util.h"

static ts_server srv;

/* The whole server log (request lines make it long), searched for a fixed string. */
static bool log_says(const ts_server *s, const char *what)
{
    return ts_sh("grep -qF -- '%s' %s/serve.log", what, s->root) == 0;
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
    /* a whole-node restore: the backup's header carries the root key the token wraps, so the
     * token alone opens it, into a data dir the token serves */
    json_t *bk = ts_call(&srv, "POST", "/v1/sys/backups", op, NULL, 201);
    char from[400];
    snprintf(from, sizeof(from), "%s", json_string_value(json_object_get(bk, "location")));
    json_decref(bk);
    assert_int_equal(ts_stop(&srv), 0);
    assert_int_equal(ts_sh("%s backup restore --from %s --data-dir %s/restored --config "
                           "%s/custodia.ini --seal-key-out %s/restored.k0 >%s/restore.out 2>&1",
                           getenv("CUSTODIA_BIN"), from, srv.root, srv.root, srv.root, srv.root),
                     0);
    assert_int_equal(ts_sh("%s report --data-dir %s/restored --config %s/custodia.ini "
                           ">/dev/null 2>&1",
                           getenv("CUSTODIA_BIN"), srv.root, srv.root),
                     0);
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

/* Rewrites every wrapped tenant key in system.db as the code before master.h wrote it: v1,
 * cst_seal under the KEK file's bytes, no KEK id. */
static void make_wraps_v1(const ts_server *s)
{
    char source[400], db[400];
    snprintf(source, sizeof(source), "file:%s", s->key_file);
    snprintf(db, sizeof(db), "%s/system.db", s->data_dir);
    cst_master_opts mo = {.source = source};
    cst_master *m = NULL;
    assert_int_equal(cst_master_open(&mo, &m), CST_OK);
    cst_key bytes = {0};
    assert_int_equal(cst_master_root_key(m, NULL, false, &bytes), CST_OK); /* file: the KEK */
    sqlite3 *h = NULL;
    sqlite3_stmt *q = NULL, *u = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT tenant_id, purpose, version, wrapped FROM "
                                        "tenant_keys",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "UPDATE tenant_keys SET wrapped = ? WHERE tenant_id = ? "
                                        "AND purpose = ? AND version = ?",
                                        -1, &u, NULL),
                     SQLITE_OK);
    int n = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *tid = (const char *)sqlite3_column_text(q, 0);
        const char *purpose = (const char *)sqlite3_column_text(q, 1);
        uint32_t v = (uint32_t)sqlite3_column_int(q, 2);
        const uint8_t *w = sqlite3_column_blob(q, 3);
        assert_int_equal(w[0], 3); /* written by this code */
        cst_key k = {0};
        assert_int_equal(
            cst_unwrap_key(m, tid, purpose, v, w, (size_t)sqlite3_column_bytes(q, 3), &k), CST_OK);
        cst_buf aad, blob;
        cst_buf_init(&aad, 128);
        cst_buf_init(&blob, 128);
        assert_int_equal(cst_aad_wrap(&aad, tid, purpose, v), CST_OK);
        assert_int_equal(cst_seal(&bytes, &aad, k.k, CST_KEY_LEN, &blob), CST_OK);
        sqlite3_bind_blob(u, 1, blob.data, (int)blob.len, SQLITE_TRANSIENT);
        sqlite3_bind_text(u, 2, tid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(u, 3, purpose, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(u, 4, (int)v);
        assert_int_equal(sqlite3_step(u), SQLITE_DONE);
        sqlite3_reset(u);
        cst_key_free(&k);
        cst_buf_free(&aad);
        cst_buf_free(&blob);
        n++;
    }
    assert_true(n >= 2);
    sqlite3_finalize(q);
    sqlite3_finalize(u);
    sqlite3_close(h);
    cst_key_free(&bytes);
    cst_master_close(m);
}

/* ENC-4 migration: a data dir whose tenant keys were wrapped before master.h (v1 blobs) opens
 * with its file: key, and its records read back. */
static void test_enc4_file_data_dir_from_before(void **state)
{
    ts_init(&srv);
    assert_true(ts_start(&srv));
    char *op = ts_operator(&srv);
    assert_non_null(op);
    char *owner = ts_tenant(&srv, op, "old-co", NULL);
    ts_bucket(&srv, owner, "b");
    assert_int_equal(ts_put(&srv, owner, "b", "k", "text/plain", "old", 3), 201);
    assert_int_equal(ts_stop(&srv), 0);
    make_wraps_v1(&srv);
    assert_true(ts_start(&srv));
    ts_resp r;
    ts_request(&srv, "GET", "/v1/buckets/b/records/k", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "old"));
    ts_resp_free(&r);
    free(op);
    free(owner);
    ts_cleanup(&srv);
}

int main(void)
{
    if (cst_crypto_init() != CST_OK || !ts_softhsm_module()) {
        fprintf(stderr, "test_api_kek: no libsodium, or SoftHSM2 is not installed "
                        "(scripts/install-deps.sh)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enc4_pkcs11_node),
        cmocka_unit_test(test_enc4_command_node),
        cmocka_unit_test(test_enc4_file_data_dir_from_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
