/* test_cli.c: custodia init and serve from the outside: data dir and key file modes, the
 * master key file checks (ENC-4), the data dir lock, clean shutdown, configuration errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "harness.h"
#include "store_fixture.h"

static ts_server srv;

static int setup(void **state)
{
    ts_init(&srv);
    return 0;
}

static int teardown(void **state)
{
    ts_cleanup(&srv);
    return 0;
}

/* Runs serve in the foreground with extra arguments (and the node's [store] section unless
 * they name a --config, which then carries it: config_file); expects it to exit with status 1
 * and an error message containing needle. */
static void serve_refuses(const char *args, const char *needle)
{
    int rc = ts_sh("timeout 20 %s serve --data-dir %s --listen 127.0.0.1:0 %s%s "
                   ">/dev/null 2>%s/err.txt",
                   getenv("CUSTODIA_BIN"), srv.data_dir, args,
                   strstr(args, "--config") ? "" : ts_config_arg(&srv), srv.root);
    assert_int_equal(rc, 1);
    if (ts_sh("grep -q -- '%s' %s/err.txt", needle, srv.root) != 0) {
        ts_sh("cat %s/err.txt >&2", srv.root);
        fail_msg("serve's message lacks \"%s\"", needle);
    }
}

static void test_init_modes(void **state)
{
    struct stat st;
    assert_int_equal(stat(srv.data_dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(srv.key_file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    char k0[400];
    snprintf(k0, sizeof(k0), "%s/custodia-audit-k0.key", srv.root);
    assert_int_equal(stat(k0, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* init never reuses a data dir */
    char other[400], config[500], err[400];
    snprintf(err, sizeof(err), "%s/init.err", srv.root);
    assert_int_equal(ts_sh("%s init --data-dir %s%s >/dev/null 2>%s", getenv("CUSTODIA_BIN"),
                           srv.data_dir, ts_config_arg(&srv), err),
                     1);
    assert_int_equal(ts_sh("grep -q 'never reuses one' %s", err), 0);
    /* nor, on PostgreSQL, a database that a node was initialised in (a new data dir on it) */
    if (strcmp(ts_store_driver(), "postgresql") == 0) {
        assert_int_equal(ts_sh("mkdir %s/second && %s init --data-dir %s/second/var%s >/dev/null "
                               "2>%s",
                               srv.root, getenv("CUSTODIA_BIN"), srv.root, ts_config_arg(&srv),
                               err),
                         1);
        assert_int_equal(ts_sh("grep -q 'initialised already' %s", err), 0);
    }
    /* nor takes a bad region (PostgreSQL: into a new database, so that the region is why) */
    snprintf(other, sizeof(other), "%s/other", srv.root);
    ts_dir_config_arg(other, config, sizeof(config));
    assert_int_equal(ts_sh("%s init --data-dir %s --region 'EU WEST'%s >/dev/null 2>%s",
                           getenv("CUSTODIA_BIN"), other, config, err),
                     1);
    assert_int_equal(ts_sh("grep -q region %s", err), 0);
}

static void test_enc4_key_file_checks(void **state)
{
    char args[1024];
    /* group/world readable */
    ts_sh("cp %s %s/loose.key && chmod 644 %s/loose.key", srv.key_file, srv.root, srv.root);
    snprintf(args, sizeof(args), "--master-key-file %s/loose.key", srv.root);
    serve_refuses(args, "must not be accessible to group or others");
    /* wrong size */
    ts_sh("head -c 31 %s > %s/short.key && chmod 600 %s/short.key", srv.key_file, srv.root,
          srv.root);
    snprintf(args, sizeof(args), "--master-key-file %s/short.key", srv.root);
    serve_refuses(args, "it must have 32");
    /* inside the data dir */
    ts_sh("cp -p %s %s/inside.key", srv.key_file, srv.data_dir);
    snprintf(args, sizeof(args), "--master-key-file %s/inside.key", srv.data_dir);
    serve_refuses(args, "inside the data dir");
    ts_sh("rm -f %s/inside.key", srv.data_dir);
    /* a symbolic link */
    ts_sh("ln -s %s %s/link.key", srv.key_file, srv.root);
    snprintf(args, sizeof(args), "--master-key-file %s/link.key", srv.root);
    serve_refuses(args, "symbolic links are refused");
    /* another key entirely */
    ts_sh("head -c 32 /dev/urandom > %s/other.key && chmod 600 %s/other.key", srv.root, srv.root);
    snprintf(args, sizeof(args), "--master-key-file %s/other.key", srv.root);
    serve_refuses(args, "is not the key this data dir was initialised with");
    /* missing */
    snprintf(args, sizeof(args), "--master-key-file %s/absent.key", srv.root);
    serve_refuses(args, "No such file");
}

/* The node's [store] section (ts_init's store.ini: empty on SQLite) appended to a config file
 * of the test's: serve takes one --config. */
static void with_store(const char *name)
{
    assert_int_equal(ts_sh("cat %s/store.ini >> %s/%s", srv.root, srv.root, name), 0);
}

static void test_config_errors(void **state)
{
    char args[1024];
    ts_sh("printf '[http]\\nlisten = 127.0.0.1:0\\nmax_record_bytes = lots\\n' > %s/bad.ini",
          srv.root);
    with_store("bad.ini");
    snprintf(args, sizeof(args), "--config %s/bad.ini", srv.root);
    serve_refuses(args, "max_record_bytes must be an integer");
    ts_sh("printf '[http]\\nlisten_port = 1\\n' > %s/unknown.ini", srv.root);
    with_store("unknown.ini");
    snprintf(args, sizeof(args), "--config %s/unknown.ini", srv.root);
    serve_refuses(args, "unknown configuration key http.listen_port");
    /* RES-1: a node of another region refuses to serve this data dir */
    ts_sh("printf '[node]\\nregion = eu-west\\n' > %s/region.ini", srv.root);
    with_store("region.ini");
    snprintf(args, sizeof(args), "--config %s/region.ini", srv.root);
    serve_refuses(args, "belongs to region local");
    serve_refuses("--data-dir /nonexistent/dir", "not an initialised data dir");
}

static void test_lock_and_clean_shutdown(void **state)
{
    assert_true(ts_start(&srv));
    /* a second process never opens the same data dir */
    serve_refuses("", "in use by another custodia process");
    ts_resp r;
    ts_request(&srv, "GET", "/v1/sys/health", NULL, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    /* SIGTERM: exit 0, logged, lock released */
    assert_int_equal(ts_stop(&srv), 0);
    assert_int_equal(ts_sh("grep -q 'stopped cleanly' %s/serve.log", srv.root), 0);
    assert_true(ts_start(&srv));
    assert_int_equal(ts_stop(&srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_modes),
        cmocka_unit_test(test_enc4_key_file_checks),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_lock_and_clean_shutdown),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
