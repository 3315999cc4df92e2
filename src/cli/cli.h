/* cli.h: the custodia command line. */
#ifndef CST_CLI_H
#define CST_CLI_H

#include "cli/args.h"
#include "node/config.h"
#include "node/node.h"

void cst_cli_harden_process(void);
int cst_cli_serve(const cst_config *cfg);
/* The configuration from an optional file with flags over it (NULL: not given). */
CST_MUST_USE cst_err cst_cli_config(cst_config *cfg, const char *config, const char *data_dir,
                                    const char *key, const char *listen);
/* A stopped node for a command that changes it: checks the data dir, takes its lock, opens
 * the node and attaches its audit log (no node.start entry). Beside a serving node it fails
 * with CST_ERR_CONFLICT, "a node is serving DIR: " and serving_hint (what to do instead).
 * Call cst_cli_offline_close afterwards, whatever this returned. */
CST_MUST_USE cst_err cst_cli_offline_open(const cst_config *cfg, const char *serving_hint,
                                          cst_node *n, int *lock_fd);
void cst_cli_offline_close(cst_node *n, int lock_fd);
/* The commands' handlers (the command table, main.c; cst_cli_run in args.h). */
/* custodia backup create|list|verify|restore|drill (the one handler of the five) */
int cst_cli_backup(const cst_cli_command *cmd, int argc, char **argv);
int cst_cli_cert_verify(const cst_cli_command *cmd, int argc, char **argv);
/* The verify commands of signed documents: parses --public-key, --data-dir and --json (into
 * *json), reads the one file named and checks it with check against the node's public key;
 * *e is the outcome, *body what check gave. Returns CST_CLI_CONTINUE when the check ran, or the
 * exit status (usage, --help). */
struct json_t;
typedef cst_err (*cst_cli_check)(const uint8_t *doc, size_t len, const uint8_t pk[32],
                                 struct json_t **body);
int cst_cli_verify_signed(const cst_cli_command *cmd, int argc, char **argv, cst_cli_check check,
                          struct json_t **body, bool *json, cst_err *e);
/* Prints a verification's outcome: with json one object {ok, error | fields...}, else
 * "OK: <ok_line>" or "FAILED: <reason>"; returns the exit status (0, or 1 when it failed).
 * Takes fields' reference (may be NULL). */
int cst_cli_print_verified(bool json, cst_err e, struct json_t *fields, const char *ok_line);
int cst_cli_report(const cst_cli_command *cmd, int argc, char **argv);
int cst_cli_report_verify(const cst_cli_command *cmd, int argc, char **argv);
/* custodia operator unlock NAME (IAM-2, offline) */
int cst_cli_operator_unlock(const cst_cli_command *cmd, int argc, char **argv);
/* custodia keys rotate-master (ENC-4) */
int cst_cli_keys_rotate_master(const cst_cli_command *cmd, int argc, char **argv);

#endif
