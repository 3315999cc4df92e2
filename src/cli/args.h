/* args.h: the command line's one option parser: each command declares its options in a table
 * of {long name, where the value goes}; --help, errors and exit statuses are the same for all. */
#ifndef CST_CLI_ARGS_H
#define CST_CLI_ARGS_H

#include <stdbool.h>
#include <stdio.h>

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

/* What the node options give (NULL: not given). */
typedef struct cst_cli_node_args {
    const char *config, *data_dir, *key;
} cst_cli_node_args;

#define CST_CLI_MAX_OPTS 24
#define CST_CLI_CONTINUE (-1)

/* Parses the options in argv (argv[0] names the command) by opts; operands may stand anywhere
 * and are moved after the options, from *first on. With usage, --help prints it to stdout
 * (exit status 0) and an unknown option or a missing value prints it to stderr (2); without,
 * there is no --help and an error gives 2 alone (getopt names the option either way).
 * Returns CST_CLI_CONTINUE when the command is to run, else the exit status. */
int cst_cli_parse(int argc, char **argv, const cst_cli_opt *opts, void (*usage)(FILE *),
                  int *first);

/* The same for a command with a sub-command word (audit verify, operator unlock): argv[1] must
 * be verb (else usage goes to stderr: 2), and is taken out of the arguments first. */
int cst_cli_parse_verb(int *argc, char ***argv, const char *verb, const cst_cli_opt *opts,
                       void (*usage)(FILE *), int *first);

/* A sub-command word: true when argv[1] is verb, which is then taken out of the arguments
 * (argv[0] stays the command's name). */
bool cst_cli_verb(int *argc, char ***argv, const char *verb);

#endif
