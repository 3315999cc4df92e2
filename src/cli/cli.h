/* cli.h: the custodia command line. */
#ifndef CST_CLI_H
#define CST_CLI_H

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
/* custodia backup create|list|verify|restore|drill */
int cst_cli_backup(int argc, char **argv);
int cst_cli_cert(int argc, char **argv);
/* custodia operator unlock NAME (IAM-2, offline) */
int cst_cli_operator(int argc, char **argv);

#endif
