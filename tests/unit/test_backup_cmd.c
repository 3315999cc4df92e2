/* test_backup_cmd.c: the environment of backup commands (backup.command_env_file: its variables
 * reach the command over the node's own, CUSTODIA_* stay custodia's, a bad or readable file is
 * refused without quoting its lines) and the parsing of backup.list_command's output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "backup/backup.h"
#include "crypto/crypto.h"
#include "util/util.h"

static char dir[] = "/tmp/cst-bkcmd-XXXXXX";
static char env_path[64];
static cst_config cfg;
static cst_bk_dest dest = {.cfg = &cfg, .node_id = "nd_test", .region = "eu-test"};

static void write_env(const char *text, mode_t mode)
{
    (void)unlink(env_path);
    FILE *f = fopen(env_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(env_path, mode), 0);
}

/* Runs list_command and returns the backups it listed (NULL when it failed; *e the error). */
static json_t *run_list(const char *command, cst_err *e)
{
    assert_int_equal(cst_copy(cfg.backup_list_command, sizeof(cfg.backup_list_command), command),
                     CST_OK);
    json_t *list = NULL;
    *e = cst_backup_list_remote(&dest, &list);
    return list;
}

static int setup(void **state)
{
    if (!mkdtemp(dir))
        return -1;
    snprintf(env_path, sizeof(env_path), "%s/backup.env", dir);
    cst_config_defaults(&cfg);
    cfg.backup_command_timeout = 20;
    return snprintf(cfg.backup_env_file, sizeof(cfg.backup_env_file), "%s", env_path) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* The file's variables reach the command, over the node's; custodia's own stay its own. */
static void test_env_file_reaches_the_command(void **state)
{
    setenv("CST_TEST_INHERITED", "from-node", 1);
    setenv("CST_TEST_OVERRIDDEN", "from-node", 1);
    write_env("# credentials\n\nCST_TEST_SECRET=s3cr=et\r\nCST_TEST_OVERRIDDEN=from-file\n", 0600);
    /* the command prints them as a backup list: one "id size" line per value it saw */
    cst_err e;
    json_t *l =
        run_list("[ \"$CST_TEST_SECRET\" = 's3cr=et' ] && echo bk_aaaaaaaaaaaaaaaaaaaa 1;"
                 "[ \"$CST_TEST_OVERRIDDEN\" = from-file ] && echo bk_bbbbbbbbbbbbbbbbbbbb 2;"
                 "[ \"$CST_TEST_INHERITED\" = from-node ] && echo bk_cccccccccccccccccccc 3;"
                 "[ \"$CUSTODIA_NODE_ID\" = nd_test ] && echo bk_dddddddddddddddddddd 4;"
                 "[ \"$CUSTODIA_REGION\" = eu-test ] && echo bk_eeeeeeeeeeeeeeeeeeee 5;"
                 "true",
                 &e);
    assert_int_equal(e, CST_OK);
    assert_int_equal(json_array_size(l), 5);
    json_decref(l);
    unsetenv("CST_TEST_INHERITED");
    unsetenv("CST_TEST_OVERRIDDEN");
}

/* A readable file, a CUSTODIA_ name or a line that is not NAME=value is refused, naming the
 * file and the line but never quoting it (it may hold a secret). */
static void test_bad_env_files_are_refused(void **state)
{
    const char *bad[] = {"A=1\n", "CUSTODIA_BACKUP_ID=bk_x\n", "A=1\nsecret-without-name\n",
                         "1A=secretvalue\n", "A B=secretvalue\n"};
    const char *expect[] = {"must be 0600", "line 1", "line 2", "line 1", "line 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_env(bad[i], i == 0 ? 0644 : 0600);
        cst_err e;
        json_t *l = run_list("echo bk_aaaaaaaaaaaaaaaaaaaa", &e);
        assert_null(l);
        assert_int_equal(e, CST_ERR_INVALID);
        const char *msg = cst_err_message(e);
        if (!strstr(msg, expect[i]) || !strstr(msg, "backup.command_env_file") ||
            strstr(msg, "secret"))
            fail_msg("env file %zu: %s", i, msg);
        cst_err_clear();
    }
    write_env("", 0600);
}

/* list_command's output: "ID" or "ID SIZE" lines; other names skipped; a bad size refused. */
static void test_list_output_parsing(void **state)
{
    cst_err e;
    json_t *l = run_list("printf 'bk_aaaaaaaaaaaaaaaaaaaa 1234\\nbk_aaaaaaaaaaaaaaaaaaaa.part "
                         "99\\n.custodia-region\\n\\nbk_bbbbbbbbbbbbbbbbbbbb\\n'",
                         &e);
    assert_int_equal(e, CST_OK);
    assert_int_equal(json_array_size(l), 2);
    json_t *a = json_array_get(l, 0), *b = json_array_get(l, 1);
    assert_string_equal(json_string_value(json_object_get(a, "backup_id")),
                        "bk_aaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(json_integer_value(json_object_get(a, "size")), 1234);
    assert_string_equal(json_string_value(json_object_get(b, "backup_id")),
                        "bk_bbbbbbbbbbbbbbbbbbbb");
    assert_null(json_object_get(b, "size"));
    json_decref(l);
    l = run_list("echo 'bk_aaaaaaaaaaaaaaaaaaaa 12kB'", &e);
    assert_null(l);
    assert_non_null(strstr(cst_err_message(e), "line 1"));
    cst_err_clear();
    /* a failing listing is an error, not an empty destination */
    l = run_list("exit 3", &e);
    assert_null(l);
    assert_non_null(strstr(cst_err_message(e), "exit status 3"));
    cst_err_clear();
}

int main(void)
{
    if (cst_crypto_init() != CST_OK) /* the env file's text lives in sodium_malloc memory */
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_file_reaches_the_command),
        cmocka_unit_test(test_bad_env_files_are_refused),
        cmocka_unit_test(test_list_output_parsing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
