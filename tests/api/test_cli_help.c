/* test_cli_help.c: the command table from the outside (issue 19): every command and group
 * answers --help and -h with its own usage and exit status 0, custodia help lists them all,
 * unknown commands and options exit 2 pointing to custodia help, every command has its man page
 * (rendered in build/man) documenting each of its options, the bash completion knows every
 * command and option, and a port in use is reported as such, with the flag that changes it. */
#include <libgen.h>
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

#define MAX_COMMANDS 64

/* What the test knows must be there: a command dropped from the table fails here. */
static const char *const expected[] = {"init",
                                       "serve",
                                       "audit verify",
                                       "backup create",
                                       "backup list",
                                       "backup verify",
                                       "backup restore",
                                       "backup drill",
                                       "cert verify",
                                       "report",
                                       "report verify",
                                       "operator unlock",
                                       "keys rotate-master",
                                       "config reference",
                                       "completion bash",
                                       "version",
                                       "help"};

static char commands[MAX_COMMANDS][64];
static size_t ncommands;
static char tmp[256];

/* The commands custodia help lists: the lines "  NAME  summary" after "commands:". */
static void read_commands(void)
{
    char cmd[512], line[512];
    snprintf(cmd, sizeof(cmd), "%s help", getenv("CUSTODIA_BIN"));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    bool in_list = false;
    ncommands = 0;
    while (fgets(line, sizeof(line), p)) {
        if (strcmp(line, "commands:\n") == 0) {
            in_list = true;
        } else if (in_list && strncmp(line, "  ", 2) == 0 && ncommands < MAX_COMMANDS) {
            /* the name ends at the first run of two spaces */
            char *end = strstr(line + 2, "  ");
            assert_non_null(end);
            snprintf(commands[ncommands++], sizeof(commands[0]), "%.*s", (int)(end - line - 2),
                     line + 2);
        } else if (in_list) {
            in_list = false;
        }
    }
    assert_int_equal(pclose(p), 0);
}

static int setup(void **state)
{
    snprintf(tmp, sizeof(tmp), "/tmp/cst-clihelp-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    read_commands();
    return 0;
}

static int teardown(void **state)
{
    ts_sh("rm -rf %s", tmp);
    return 0;
}

/* custodia help lists every command the test expects (and no line is empty). */
static void test_help_lists_every_command(void **state)
{
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        bool found = false;
        for (size_t j = 0; j < ncommands && !found; j++)
            found = strcmp(commands[j], expected[i]) == 0;
        if (!found)
            fail_msg("custodia help does not list \"%s\"", expected[i]);
    }
    assert_true(ncommands >= sizeof(expected) / sizeof(expected[0]));
    /* --help and -h alone are custodia help; no command at all is a usage error */
    const char *bin = getenv("CUSTODIA_BIN");
    assert_int_equal(ts_sh("%s help > %s/help.txt", bin, tmp), 0);
    assert_int_equal(ts_sh("%s --help | cmp -s - %s/help.txt", bin, tmp), 0);
    assert_int_equal(ts_sh("%s -h | cmp -s - %s/help.txt", bin, tmp), 0);
    assert_int_equal(ts_sh("%s >/dev/null 2>&1", bin), 2);
}

/* Every command answers --help, -h and custodia help NAME with its own usage, first line
 * "usage: custodia NAME", on stdout, with exit status 0, and nothing on stderr. */
static void test_every_command_answers_help(void **state)
{
    const char *bin = getenv("CUSTODIA_BIN");
    for (size_t i = 0; i < ncommands; i++) {
        const char *c = commands[i];
        if (ts_sh("%s %s --help > %s/a.txt 2>%s/err.txt", bin, c, tmp, tmp) != 0 ||
            ts_sh("head -1 %s/a.txt | grep -q '^usage: custodia %s\\( \\|$\\)'", tmp, c) != 0 ||
            ts_sh("test ! -s %s/err.txt", tmp) != 0)
            fail_msg("custodia %s --help: no usage naming it on stdout, or a non-zero exit", c);
        if (ts_sh("%s %s -h | cmp -s - %s/a.txt", bin, c, tmp) != 0)
            fail_msg("custodia %s -h differs from --help", c);
        if (ts_sh("%s help %s | cmp -s - %s/a.txt", bin, c, tmp) != 0)
            fail_msg("custodia help %s differs from --help", c);
        /* --help wins wherever it stands among the options, and nothing runs */
        if (ts_sh("cd %s && %s %s --json --help | cmp -s - %s/a.txt", tmp, bin, c, tmp) != 0)
            fail_msg("custodia %s --json --help does not print the usage", c);
    }
    assert_int_equal(ts_sh("test ! -e %s/var", tmp), 0); /* init --help made nothing */
    /* a group: its commands, each with its summary */
    assert_int_equal(ts_sh("%s backup --help > %s/g.txt", bin, tmp), 0);
    assert_int_equal(ts_sh("grep -q '^usage: custodia backup <command>' %s/g.txt", tmp), 0);
    assert_int_equal(ts_sh("grep -q '^  backup drill  *restore the newest' %s/g.txt", tmp), 0);
    assert_int_equal(ts_sh("%s help backup | cmp -s - %s/g.txt", bin, tmp), 0);
    assert_int_equal(ts_sh("%s keys -h | grep -q '^  keys rotate-master'", bin), 0);
}

/* Unknown commands, subcommands and options: a message naming them, the way to custodia help,
 * exit status 2. */
static void test_unknown_is_a_usage_error(void **state)
{
    const char *bin = getenv("CUSTODIA_BIN");
    static const struct {
        const char *args, *needle;
    } cases[] = {
        {"frob", "unknown command \"frob\""},
        {"help frob", "no command is named \"frob\""},
        {"backup frob", "custodia backup: unknown command \"frob\""},
        {"backup", "custodia backup: which command?"},
        {"backup create --frob", "custodia backup create: unknown option \"--frob\""},
        {"serve --listen", "custodia serve: option --listen needs a value"},
        {"init --json=yes", "custodia init: option --json takes no value"},
        {"version extra", "custodia version: unexpected argument \"extra\""},
        {"keys rotate-master", "--new SOURCE is required"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (ts_sh("cd %s && %s %s >%s/out.txt 2>%s/err.txt", tmp, bin, cases[i].args, tmp, tmp) !=
            2)
            fail_msg("custodia %s: exit status is not 2", cases[i].args);
        if (ts_sh("grep -qF -- '%s' %s/err.txt && grep -q 'custodia help' %s/err.txt",
                  cases[i].needle, tmp, tmp) != 0) {
            ts_sh("cat %s/err.txt >&2", tmp);
            fail_msg("custodia %s: stderr lacks \"%s\" or the hint to custodia help", cases[i].args,
                     cases[i].needle);
        }
        assert_int_equal(ts_sh("test ! -s %s/out.txt", tmp), 0);
    }
}

/* The options of a command: the "  --name" lines of its usage, one a line into path. */
static void options_of(const char *cmd, const char *path)
{
    assert_int_equal(ts_sh("%s %s --help | sed -n 's/^  \\(--[a-z0-9-]*\\).*/\\1/p' > %s",
                           getenv("CUSTODIA_BIN"), cmd, path),
                     0);
}

/* build/man holds custodia.1, custodia.ini.5 and custodia-WORD.1 for every command's first
 * word, each a rendered page; each page's source documents every option of its commands;
 * custodia.ini.5 lists every configuration key. */
static void test_man_pages(void **state)
{
    char bin_copy[512], man[600];
    snprintf(bin_copy, sizeof(bin_copy), "%s", getenv("CUSTODIA_BIN"));
    snprintf(man, sizeof(man), "%s/man", dirname(bin_copy));
    assert_int_equal(ts_sh("grep -q '^\\.TH \"custodia\" \"1\"' %s/custodia.1", man), 0);
    assert_int_equal(ts_sh("grep -q '^\\.TH \"custodia.ini\" \"5\"' %s/custodia.ini.5", man), 0);
    for (size_t i = 0; i < ncommands; i++) {
        char word[64];
        snprintf(word, sizeof(word), "%.*s", (int)strcspn(commands[i], " "), commands[i]);
        if (ts_sh("grep -q '^\\.TH \"custodia-%s\" \"1\"' %s/custodia-%s.1", word, man, word) != 0)
            fail_msg("no man page %s/custodia-%s.1 for \"%s\"", man, word, commands[i]);
        char opts[300];
        snprintf(opts, sizeof(opts), "%s/opts.txt", tmp);
        options_of(commands[i], opts);
        if (ts_sh("while read -r o; do grep -qF -- \"*$o*\" %s/docs/man/custodia-%s.1.md || "
                  "{ echo \"custodia-%s.1.md lacks $o\" >&2; exit 1; }; done < %s",
                  CUSTODIA_SOURCE_DIR, word, word, opts) != 0)
            fail_msg("docs/man/custodia-%s.1.md does not document every option of %s", word,
                     commands[i]);
    }
    /* every key of the configuration reference is in custodia.ini(5) */
    assert_int_equal(ts_sh("%s config reference | sed -n 's/^| `\\(\\[[a-z_]*\\] [a-z0-9_]*\\)`.*/"
                           "\\1/p' > %s/keys.txt && test $(wc -l < %s/keys.txt) -gt 20",
                           getenv("CUSTODIA_BIN"), tmp, tmp),
                     0);
    assert_int_equal(ts_sh("man -l %s/custodia.ini.5 2>/dev/null > %s/ini.txt || "
                           "cat %s/custodia.ini.5 > %s/ini.txt",
                           man, tmp, man, tmp),
                     0);
    if (ts_sh("while read -r k; do grep -qF -- \"$k\" %s/ini.txt || "
              "{ echo \"custodia.ini.5 lacks $k\" >&2; exit 1; }; done < %s/keys.txt",
              tmp, tmp) != 0)
        fail_msg("custodia.ini.5 lacks a configuration key");
}

/* scripts/completion/custodia.bash is custodia completion bash; it has a case for every command
 * with every option of its usage, and completes in a real bash. */
static void test_completion(void **state)
{
    const char *bin = getenv("CUSTODIA_BIN");
    char file[400];
    snprintf(file, sizeof(file), "%s/scripts/completion/custodia.bash", CUSTODIA_SOURCE_DIR);
    assert_int_equal(ts_sh("%s completion bash | cmp -s - %s", bin, file), 0);
    assert_int_equal(ts_sh("bash -n %s", file), 0);
    for (size_t i = 0; i < ncommands; i++) {
        char opts[300];
        snprintf(opts, sizeof(opts), "%s/opts.txt", tmp);
        options_of(commands[i], opts);
        if (ts_sh("sed -n '/^    \"%s\")$/,/;;/p' %s > %s/case.txt && test -s %s/case.txt",
                  commands[i], file, tmp, tmp) != 0)
            fail_msg("the completion has no case for \"%s\"", commands[i]);
        if (ts_sh("while read -r o; do grep -q -- \"flags=.*$o\\( \\|\\\"\\)\" %s/case.txt || "
                  "exit 1; done < %s",
                  tmp, opts) != 0)
            fail_msg("the completion of \"%s\" lacks one of its options", commands[i]);
    }
    /* in bash: the commands, a group's subcommands, a command's options */
    static const struct {
        const char *words, *expect;
    } cases[] = {
        {"custodia \"\"", "audit backup cert"},
        {"custodia backup \"\"", "create list verify restore drill"},
        {"custodia backup restore --ol", "--old-master-key"},
        {"custodia serve --li", "--listen"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (ts_sh("bash -c 'source %s; COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
                  "_custodia; echo \" ${COMPREPLY[*]} \"' | grep -qF -- ' %s '",
                  file, cases[i].words, cases[i].expect) != 0)
            fail_msg("completing \"%s\" does not give \"%s\"", cases[i].words, cases[i].expect);
}

/* A second serve on the port of a serving node: "port in use", naming --listen and the key. */
static void test_port_in_use(void **state)
{
    ts_server a, b;
    ts_init(&a);
    ts_init(&b);
    assert_true(ts_start(&a));
    int rc = ts_sh("timeout 20 %s serve --data-dir %s --listen 127.0.0.1:%d%s >/dev/null "
                   "2>%s/err.txt",
                   getenv("CUSTODIA_BIN"), b.data_dir, a.port, ts_config_arg(&b), b.root);
    assert_int_equal(rc, 1);
    char needle[128];
    snprintf(needle, sizeof(needle),
             "127.0.0.1:%d: port in use; choose another with --listen ADDR:PORT or [http] listen",
             a.port);
    if (ts_sh("grep -qF -- '%s' %s/err.txt && ! grep -q 'TLS' %s/err.txt", needle, b.root,
              b.root) != 0) {
        ts_sh("cat %s/err.txt >&2", b.root);
        fail_msg("serve's message lacks \"%s\" (or still hints at TLS)", needle);
    }
    assert_int_equal(ts_stop(&a), 0);
    ts_cleanup(&a);
    ts_cleanup(&b);
}

int main(void)
{
    /* Only the port test starts nodes (and so opens a store); the others run the CLI's help,
     * its usage errors, the man pages and the completion, which touch no store: on PostgreSQL
     * (api.test_cli_help_pg) they would repeat the SQLite run word for word. */
    if (strcmp(ts_store_driver(), "postgresql") == 0) {
        fprintf(stderr, "PostgreSQL: the port test only; the others touch no store\n");
        cmocka_set_test_filter("test_port_in_use");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_lists_every_command),
        cmocka_unit_test(test_every_command_answers_help),
        cmocka_unit_test(test_unknown_is_a_usage_error),
        cmocka_unit_test(test_man_pages),
        cmocka_unit_test(test_completion),
        cmocka_unit_test(test_port_in_use),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
