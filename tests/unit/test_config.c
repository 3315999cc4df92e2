/* test_config.c: configuration defaults are the secure ones (CHG-2); bad values are refused
 * with the key named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "node/config.h"
#include "util/err.h"

static void test_chg2_defaults_are_secure(void **state)
{
    cst_config c;
    cst_config_defaults(&c);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8443);
    assert_false(c.allow_plaintext_loopback);
    assert_int_equal(c.max_header_bytes, 16384);
    assert_int_equal(c.max_json_bytes, 65536);
    assert_int_equal(c.max_record_bytes, 1048576);
    assert_int_equal(c.session_idle_seconds, 900);
    assert_int_equal(c.session_max_seconds, 43200);
    assert_non_null(strstr(c.tls_priorities, "+VERS-TLS1.3:+VERS-TLS1.2"));
    assert_null(strstr(c.tls_priorities, "TLS1.1"));
    assert_null(strstr(c.tls_priorities, "CBC"));
    assert_int_equal(cst_config_finish(&c), CST_OK);
    assert_string_equal(c.master_key_file, "./custodia-master.key");
}

static void test_default_key_path_is_outside_data_dir(void **state)
{
    char out[256];
    assert_int_equal(cst_config_default_key_path("/srv/custodia/data/", "k", out, sizeof(out)),
                     CST_OK);
    assert_string_equal(out, "/srv/custodia/k");
    assert_int_equal(cst_config_default_key_path("var", "k", out, sizeof(out)), CST_OK);
    assert_string_equal(out, "./k");
}

static void test_values_validated(void **state)
{
    cst_config c;
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, "http", "threads", "-1"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "http", "threads", "4x"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "http", "threads", "4"), CST_OK);
    assert_int_equal(c.threads, 4);
    assert_int_equal(cst_config_set(&c, "http", "allow_plaintext_loopback", "maybe"),
                     CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "http", "max_json_bytes", "10"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "auth", "session_idle_seconds", "5"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "http", "nonsense", "1"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "nosection", "listen", "1"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set_listen(&c, "localhost:80"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set_listen(&c, "127.0.0.1"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set_listen(&c, "127.0.0.1:70000"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set_listen(&c, "[::1]:9443"), CST_OK);
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 9443);
}

static void test_enc3_plaintext_only_on_loopback(void **state)
{
    cst_config c;
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, "http", "allow_plaintext_loopback", "true"), CST_OK);
    assert_int_equal(cst_config_set_listen(&c, "0.0.0.0:8080"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_ERR_INVALID);
    assert_int_equal(cst_config_set_listen(&c, "127.0.0.1:8080"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_OK);
}

static void test_ini_file(void **state)
{
    char path[] = "/tmp/cst-ini-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("; comment\n[node]\nregion = eu-west\n[http]\nlisten = 127.0.0.1:9000\n"
          "max_record_bytes = 2048\n",
          f);
    fclose(f);
    cst_config c;
    cst_config_defaults(&c);
    assert_int_equal(cst_config_load(&c, path), CST_OK);
    assert_string_equal(c.region, "eu-west");
    assert_int_equal(c.listen_port, 9000);
    assert_int_equal(c.max_record_bytes, 2048);
    f = fopen(path, "w");
    fputs("[http]\nlisten = 127.0.0.1:9000\nthreads = lots\n", f);
    fclose(f);
    assert_int_equal(cst_config_load(&c, path), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "line 3"));
    f = fopen(path, "w");
    fputs("[http\nlisten = x\n", f);
    fclose(f);
    assert_int_equal(cst_config_load(&c, path), CST_ERR_INVALID);
    remove(path);
    assert_int_equal(cst_config_load(&c, "/nonexistent.ini"), CST_ERR_NOT_FOUND);
}

/* node.log_file (issue 12): empty means stderr; it is in the effective configuration. */
static void test_log_file_key(void **state)
{
    cst_config c;
    cst_config_defaults(&c);
    assert_string_equal(c.log_file, "");
    assert_int_equal(cst_config_set(&c, "node", "log_file", "/var/log/custodia/node.log"), CST_OK);
    assert_string_equal(c.log_file, "/var/log/custodia/node.log");
    char longpath[PATH_MAX + 8];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(cst_config_set(&c, "node", "log_file", longpath), CST_ERR_INVALID);
    json_t *j = cst_config_json(&c);
    assert_string_equal(json_string_value(json_object_get(j, "node.log_file")),
                        "/var/log/custodia/node.log");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chg2_defaults_are_secure),
        cmocka_unit_test(test_default_key_path_is_outside_data_dir),
        cmocka_unit_test(test_values_validated),
        cmocka_unit_test(test_enc3_plaintext_only_on_loopback),
        cmocka_unit_test(test_ini_file),
        cmocka_unit_test(test_log_file_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
