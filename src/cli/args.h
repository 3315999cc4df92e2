/* args.h: the command line's one table and one option parser. Every command is an entry of
 * the command table (main.c): its name (the words that select it, "backup create"), a one-line
 * summary, its usage text and its handler. --help and -h, custodia help, the man pages' check,
 * the bash completion and the errors of an unknown command or option all come from the table;
 * each command declares its options in a table of {long name, where the value goes}. */
#ifndef CST_CLI_ARGS_H
#define CST_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct cst_cli_command;
/* A command's handler: argv[0] is the last word of its name, then the arguments after it. */
typedef int (*cst_cli_run)(const struct cst_cli_command *cmd, int argc, char **argv);

typedef struct cst_cli_command {
    const char *name;    /* the words that select it: "backup create" */
    const char *summary; /* one line, for custodia help */
    /* "usage: custodia NAME ..." lines, a blank line, what it does, and its options, one a
     * line as "  --name VALUE  meaning" (a value) or "  --name  meaning" (a flag): the bash
     * completion takes the options from these lines */
    const char *usage;
    cst_cli_run run;
} cst_cli_command;

/* The command table (main.c), and its length. */
extern const cst_cli_command cst_cli_commands[];
extern const size_t cst_cli_ncommands;

typedef struct cst_cli_opt {
    const char *name;   /* "data-dir" for --data-dir; NULL ends the table */
    const char **value; /* an option that takes a value: where it goes */
    bool *flag;         /* an option without one: set when given */
} cst_cli_opt;

#define CST_CLI_VALUE(name, dst)                                                                   \
    {                                                                                              \
        name, dst, NULL                                                                            \
    }
#define CST_CLI_FLAG(name, dst)                                                                    \
    {                                                                                              \
        name, NULL, dst                                                                            \
    }
#define CST_CLI_END                                                                                \
    {                                                                                              \
        NULL, NULL, NULL                                                                           \
    }
/* The node options of the offline commands (their values go to the fields of c). */
#define CST_CLI_NODE_OPTS(c)                                                                       \
    CST_CLI_VALUE("config", &(c).config), CST_CLI_VALUE("data-dir", &(c).data_dir),                \
        CST_CLI_VALUE("master-key-file", &(c).key)
/* Their lines in a usage text. */
#define CST_CLI_NODE_USAGE                                                                         \
    "  --config FILE           the configuration file (custodia.ini(5)); flags override it\n"      \
    "  --data-dir DIR          the data dir (default ./var)\n"                                     \
    "  --master-key-file F     the master key file (default custodia-master.key in the data\n"     \
    "                          dir's parent)\n"

/* What the node options give (NULL: not given). */
typedef struct cst_cli_node_args {
    const char *config, *data_dir, *key;
} cst_cli_node_args;

#define CST_CLI_MAX_OPTS 24
#define CST_CLI_CONTINUE (-1)

/* Parses the options in argv (argv[0] names the command) by opts; operands may stand anywhere
 * and are moved after the options, from *first on. An unknown option or a missing value is
 * reported by cst_cli_usage_error (exit status 2). Returns CST_CLI_CONTINUE when the command is
 * to run, else the exit status. (--help and -h never get here: the dispatcher answers them.) */
int cst_cli_parse(const cst_cli_command *cmd, int argc, char **argv, const cst_cli_opt *opts,
                  int *first);

/* A usage error of cmd: "custodia NAME: <message>" and where its usage is, on stderr; returns
 * 2, the exit status of a usage error. */
int cst_cli_usage_error(const cst_cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The table's entry named name, or NULL. */
const cst_cli_command *cst_cli_command_named(const char *name);

/* Prints the usage of name: a command's usage text, then the commands under it ("backup"
 * has create, list, ...; "" is every command), each with its summary. Returns false when no
 * command is named name or starts with it. */
bool cst_cli_print_usage(const char *name, FILE *f);

/* Runs the command argv names (argv[0] the program): the longest table name its first words
 * spell; --help or -h among its arguments prints its usage instead (exit status 0). */
int cst_cli_dispatch(int argc, char **argv);

/* The bash completion script, from the table (scripts/completion/custodia.bash is its output). */
void cst_cli_completion_bash(FILE *f);

#endif
