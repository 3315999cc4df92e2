/* args.c: the command table's dispatcher, help and usage errors, and the option parser over
 * getopt_long. */
#include "cli/args.h"

#include <getopt.h>
#include <stdarg.h>
#include <string.h>

#define OPT_BASE 0x100 /* getopt values of table entries: clear of '?', ':' and characters */
#define NAME_MAX_LEN 128
#define NAME_WIDTH 20 /* the names' column in custodia help */

int cst_cli_usage_error(const cst_cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "custodia%s%s: ", cmd ? " " : "", cmd ? cmd->name : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nrun 'custodia help%s%s' for %s\n", cmd ? " " : "", cmd ? cmd->name : "",
            cmd ? "its usage" : "the commands");
    return 2;
}

int cst_cli_parse(const cst_cli_command *cmd, int argc, char **argv, const cst_cli_opt *opts,
                  int *first)
{
    struct option longs[CST_CLI_MAX_OPTS + 1];
    int n = 0;
    for (; opts[n].name; n++) {
        if (n == CST_CLI_MAX_OPTS)
            return cst_cli_usage_error(cmd, "too many options (CST_CLI_MAX_OPTS)");
        longs[n] = (struct option){opts[n].name, opts[n].value ? required_argument : no_argument,
                                   NULL, OPT_BASE + n};
    }
    longs[n] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    opterr = 0; /* the messages are ours, naming the command */
    int c;
    while ((c = getopt_long(argc, argv, ":", longs, NULL)) != -1) {
        if (c == ':')
            return cst_cli_usage_error(cmd, "option --%s needs a value",
                                       opts[optopt - OPT_BASE].name);
        if (c == '?' && optopt >= OPT_BASE)
            return cst_cli_usage_error(cmd, "option --%s takes no value",
                                       opts[optopt - OPT_BASE].name);
        if (c == '?' && optopt > 0)
            return cst_cli_usage_error(cmd, "unknown option \"-%c\"", optopt);
        if (c < OPT_BASE || c >= OPT_BASE + n)
            return cst_cli_usage_error(cmd, "unknown option \"%s\"", argv[optind - 1]);
        const cst_cli_opt *o = &opts[c - OPT_BASE];
        if (o->value)
            *o->value = optarg;
        else
            *o->flag = true;
    }
    *first = optind;
    return CST_CLI_CONTINUE;
}

const cst_cli_command *cst_cli_command_named(const char *name)
{
    for (size_t i = 0; i < cst_cli_ncommands; i++)
        if (strcmp(cst_cli_commands[i].name, name) == 0)
            return &cst_cli_commands[i];
    return NULL;
}

/* Whether command c stands under name: "backup create" under "backup", everything under "". */
static bool under(const cst_cli_command *c, const char *name)
{
    size_t n = strlen(name);
    return n == 0 || (strncmp(c->name, name, n) == 0 && c->name[n] == ' ');
}

bool cst_cli_print_usage(const char *name, FILE *f)
{
    const cst_cli_command *c = cst_cli_command_named(name);
    size_t below = 0;
    for (size_t i = 0; i < cst_cli_ncommands; i++)
        below += under(&cst_cli_commands[i], name);
    if (!c && !below)
        return false;
    if (c)
        fputs(c->usage, f);
    else
        fprintf(f, "usage: custodia %s%s<command> [options]\n", name, name[0] ? " " : "");
    if (below) {
        fprintf(f, "\n%s:\n", c ? "see also" : "commands");
        for (size_t i = 0; i < cst_cli_ncommands; i++)
            if (under(&cst_cli_commands[i], name))
                fprintf(f, "  %-*s %s\n", NAME_WIDTH, cst_cli_commands[i].name,
                        cst_cli_commands[i].summary);
    }
    if (!c)
        fprintf(
            f,
            "\nRun 'custodia help COMMAND' or 'custodia COMMAND --help' for a command's usage,\n"
            "'man custodia%s%.*s' for the manual page.\n",
            name[0] ? "-" : "-COMMAND", (int)strcspn(name, " "), name);
    return true;
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* The table's longest name that argv's first words spell (*words of them), and the longest run
 * of words that some name starts with (*group, as a name in group[]). */
static const cst_cli_command *lookup(int argc, char **argv, int *words, char *group, int *gwords)
{
    const cst_cli_command *cmd = NULL;
    char name[NAME_MAX_LEN] = "";
    *words = *gwords = 0;
    group[0] = '\0';
    for (int k = 1; k < argc; k++) {
        size_t len = strlen(name);
        int w = snprintf(name + len, sizeof(name) - len, "%s%s", len ? " " : "", argv[k]);
        if (w < 0 || (size_t)w >= sizeof(name) - len)
            break;
        const cst_cli_command *c = cst_cli_command_named(name);
        bool prefix = false;
        for (size_t i = 0; i < cst_cli_ncommands && !prefix; i++)
            prefix = under(&cst_cli_commands[i], name);
        if (!c && !prefix)
            break;
        if (c) {
            cmd = c;
            *words = k;
        }
        if (prefix) {
            memcpy(group, name, strlen(name) + 1);
            *gwords = k;
        }
    }
    return cmd;
}

int cst_cli_dispatch(int argc, char **argv)
{
    static char help[] = "help", version[] = "version";
    if (argc >= 2 && is_help(argv[1]))
        argv[1] = help;
    else if (argc >= 2 && strcmp(argv[1], "--version") == 0)
        argv[1] = version;
    if (argc < 2) {
        cst_cli_print_usage("", stderr);
        return 2;
    }
    char group[NAME_MAX_LEN];
    int words, gwords;
    const cst_cli_command *cmd = lookup(argc, argv, &words, group, &gwords);
    if (!cmd && gwords == 0)
        return cst_cli_usage_error(NULL, "unknown command \"%s\"", argv[1]);
    if (!cmd) { /* a group's name alone (custodia backup), or with an unknown word */
        if (gwords + 1 < argc && is_help(argv[gwords + 1])) {
            cst_cli_print_usage(group, stdout);
            return 0;
        }
        if (gwords + 1 < argc) {
            fprintf(stderr, "custodia %s: unknown command \"%s\"\n\n", group, argv[gwords + 1]);
        } else {
            fprintf(stderr, "custodia %s: which command?\n\n", group);
        }
        cst_cli_print_usage(group, stderr);
        return 2;
    }
    for (int i = words + 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (is_help(argv[i])) {
            cst_cli_print_usage(cmd->name, stdout);
            return fflush(stdout) == 0 ? 0 : 1;
        }
    return cmd->run(cmd, argc - words, argv + words);
}
