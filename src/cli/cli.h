/* cli.h: the custodia command line. */
#ifndef CST_CLI_H
#define CST_CLI_H

#include "node/config.h"

void cst_cli_harden_process(void);
int cst_cli_serve(const cst_config *cfg);

#endif
