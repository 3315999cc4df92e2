/* args.c: the command line's option parser, over getopt_long. */
#include "cli/args.h"

#include <getopt.h>
#include <string.h>

#define OPT_BASE 0x100 /* getopt values of table entries: clear of '?' and characters */
#define OPT_HELP (OPT_BASE + CST_CLI_MAX_OPTS)

int cst_cli_parse(int argc, char **argv, const cst_cli_opt *opts, void (*usage)(FILE *), int *first)
{
    struct option longs[CST_CLI_MAX_OPTS + 2];
    int n = 0;
    for (; opts[n].name; n++) {
        if (n == CST_CLI_MAX_OPTS) {
            fprintf(stderr, "custodia: too many options for %s\n", argv[0]);
            return 2;
        }
        longs[n] = (struct option){opts[n].name, opts[n].value ? required_argument : no_argument,
                                   NULL, OPT_BASE + n};
    }
    int end = n;
    if (usage)
        longs[end++] = (struct option){"help", no_argument, NULL, OPT_HELP};
    longs[end] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c == OPT_HELP) {
            usage(stdout);
            return 0;
        }
        if (c < OPT_BASE || c >= OPT_BASE + n) {
            if (usage)
                usage(stderr);
            return 2;
        }
        const cst_cli_opt *o = &opts[c - OPT_BASE];
        if (o->value)
            *o->value = optarg;
        else
            *o->flag = true;
    }
    *first = optind;
    return CST_CLI_CONTINUE;
}

bool cst_cli_verb(int *argc, char ***argv, const char *verb)
{
    if (*argc < 2 || strcmp((*argv)[1], verb) != 0)
        return false;
    (*argv)[1] = (*argv)[0];
    (*argc)--;
    (*argv)++;
    return true;
}

int cst_cli_parse_verb(int *argc, char ***argv, const char *verb, const cst_cli_opt *opts,
                       void (*usage)(FILE *), int *first)
{
    if (!cst_cli_verb(argc, argv, verb)) {
        usage(stderr);
        return 2;
    }
    return cst_cli_parse(*argc, *argv, opts, usage, first);
}
