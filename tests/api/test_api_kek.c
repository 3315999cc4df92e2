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
#include <sys/stat.h>
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
     * token alone opens it, into a data dir the token serves (the node's [keys] section; on
     * PostgreSQL with a database of its own: ts_store_ini) */
    json_t *bk = ts_call(&srv, "POST", "/v1/sys/backups", op, NULL, 201);
    char from[400];
    snprintf(from, sizeof(from), "%s", json_string_value(json_object_get(bk, "location")));
    json_decref(bk);
    assert_int_equal(ts_stop(&srv), 0);
    snprintf(path, sizeof(path), "%s/restored.store", srv.root);
    assert_int_equal(mkdir(path, 0700), 0);
    (void)ts_store_ini(path);
    snprintf(path, sizeof(path), "%s/restored.ini", srv.root);
    FILE *ini = fopen(path, "w");
    assert_non_null(ini);
    fputs(srv.extra_config, ini);
    fclose(ini);
    assert_int_equal(ts_sh("cat %s/restored.store/store.ini >> %s", srv.root, path), 0);
    assert_int_equal(ts_sh("%s backup restore --from %s --data-dir %s/restored --config %s "
                           "--seal-key-out %s/restored.k0 >%s/restore.out 2>&1",
                           getenv("CUSTODIA_BIN"), from, srv.root, path, srv.root, srv.root),
                     0);
    assert_int_equal(ts_sh("%s report --data-dir %s/restored --config %s >/dev/null 2>&1",
                           getenv("CUSTODIA_BIN"), srv.root, path),
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

/* A tenant key row of the system store (make_wraps_v1). */
typedef struct key_row {
    char tid[40], purpose[16], version[16];
    uint8_t wrapped[256];
    size_t len;
} key_row;

typedef struct key_rows {
    key_row r[32];
    size_t n;
} key_rows;

static void keep_key_row(size_t row, int col, const uint8_t *b, size_t len, void *ctx)
{
    key_rows *k = ctx;
    assert_true(row < 32);
    key_row *r = &k->r[row];
    k->n = row + 1;
    char *text[] = {r->tid, r->purpose, r->version};
    size_t size[] = {sizeof(r->tid), sizeof(r->purpose), sizeof(r->version)};
    if (col < 3) {
        assert_true(len > 0 && len < size[col]);
        memcpy(text[col], b, len);
        text[col][len] = '\0';
    } else {
        assert_true(len > 0 && len <= sizeof(r->wrapped));
        memcpy(r->wrapped, b, len);
        r->len = len;
    }
}

/* Rewrites every wrapped tenant key in the system store as the code before master.h wrote it:
 * v1, cst_seal under the KEK file's bytes, no KEK id. */
static void make_wraps_v1(const ts_server *s)
{
    char source[400];
    snprintf(source, sizeof(source), "file:%s", s->key_file);
    cst_master_opts mo = {.source = source};
    cst_master *m = NULL;
    assert_int_equal(cst_master_open(&mo, &m), CST_OK);
    cst_key bytes = {0};
    assert_int_equal(cst_master_root_key(m, NULL, false, &bytes), CST_OK); /* file: the KEK */
    static key_rows rows;
    memset(&rows, 0, sizeof(rows));
    assert_true(ts_store_rows(s, NULL, NULL,
                              "SELECT tenant_id, purpose, CAST(version AS TEXT), wrapped FROM "
                              "tenant_keys",
                              keep_key_row, &rows) >= 0);
    bool pg = strcmp(ts_store_driver(), "postgresql") == 0;
    for (size_t i = 0; i < rows.n; i++) {
        key_row *r = &rows.r[i];
        uint32_t v = (uint32_t)strtoul(r->version, NULL, 10);
        assert_int_equal(r->wrapped[0], 3); /* written by this code */
        cst_key k = {0};
        assert_int_equal(cst_unwrap_key(m, r->tid, r->purpose, v, r->wrapped, r->len, &k), CST_OK);
        cst_buf aad, blob;
        cst_buf_init(&aad, 128);
        cst_buf_init(&blob, 128);
        assert_int_equal(cst_aad_wrap(&aad, r->tid, r->purpose, v), CST_OK);
        assert_int_equal(cst_seal(&bytes, &aad, k.k, CST_KEY_LEN, &blob), CST_OK);
        char hex[600], sql[900];
        sodium_bin2hex(hex, sizeof(hex), blob.data, blob.len);
        snprintf(sql, sizeof(sql),
                 "UPDATE tenant_keys SET wrapped = %s%s%s WHERE tenant_id = '%s' AND purpose = "
                 "'%s' AND version = %u",
                 pg ? "decode('" : "X'", hex, pg ? "', 'hex')" : "'", r->tid, r->purpose, v);
        assert_int_equal(ts_sys_sql(s, sql), 0);
        cst_key_free(&k);
        cst_buf_free(&aad);
        cst_buf_free(&blob);
    }
    assert_true(rows.n >= 2);
    /* every row rewritten: none left in this code's format (0x03) */
    assert_int_equal(ts_sys_count(s, pg ? "SELECT count(*) FROM tenant_keys WHERE "
                                          "get_byte(wrapped, 0) = 3"
                                        : "SELECT count(*) FROM tenant_keys WHERE "
                                          "substr(wrapped, 1, 1) = X'03'"),
                     0);
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
