/* internal.h: what the backup module's files share. */
#ifndef CST_BACKUP_INTERNAL_H
#define CST_BACKUP_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backup/backup.h"
#include "node/node.h"

/* The tenant ids and tombstones ({tenant, erased_at}) of the system store's copy in dir. */
CST_MUST_USE cst_err cst_bk_system_lists(const char *dir, json_t **tenants, json_t **tombstones);
/* The signed header of a backup file. */
CST_MUST_USE cst_err cst_bk_header_of(const char *path, json_t **header);
/* Sorts backup descriptions ({created_at, ...}) newest first; those without a date last. */
CST_MUST_USE cst_err cst_bk_sort_newest(json_t *arr);
/* RES-1: refuses a destination of another region (dir NULL: the command destination). */
CST_MUST_USE cst_err cst_bk_dest_region_check(const cst_node *n, const char *dir);

CST_MUST_USE cst_err cst_bk_mkdirs(const char *path);
/* A fresh directory <base>/<what>_<random> (base is created when missing). */
CST_MUST_USE cst_err cst_bk_scratch(const char *base, const char *what, char *out, size_t n);

/* The id of the catalogue's newest good backup (CST_ERR_NOT_FOUND when there is none). */
CST_MUST_USE cst_err cst_bk_newest_ok(cst_node *n, char *id, size_t size);

/* A destination command (sh -c) with CUSTODIA_BACKUP_ID, CUSTODIA_NODE_ID and
 * CUSTODIA_REGION, and backup.command_env_file's variables, in its environment, fed on stdin
 * (to_stdin) or read from stdout, killed with its process group when it outlives its timeout. */
typedef struct cst_bk_cmd {
    pid_t pid;
    int fd;
    int64_t deadline_us;
    int timeout_s;
} cst_bk_cmd;

CST_MUST_USE cst_err cst_bk_cmd_start(cst_bk_cmd *c, const char *command, bool to_stdin,
                                      const char *backup_id, const cst_node *n, int timeout_s);
/* The same for a destination seen from outside a node (the CLI). */
CST_MUST_USE cst_err cst_bk_cmd_start_at(cst_bk_cmd *c, const char *command, bool to_stdin,
                                         const char *backup_id, const cst_bk_dest *d,
                                         int timeout_s);
/* Reads and checks backup.command_env_file (when set) as a command would. */
CST_MUST_USE cst_err cst_bk_env_check(const cst_config *cfg);
CST_MUST_USE cst_err cst_bk_cmd_write(cst_bk_cmd *c, const void *p, size_t n);
CST_MUST_USE cst_err cst_bk_cmd_read(void *ctx, void *p, size_t n, size_t *got);
/* Closes the pipe and waits for a zero exit status before the deadline. */
CST_MUST_USE cst_err cst_bk_cmd_finish(cst_bk_cmd *c);
void cst_bk_cmd_kill(cst_bk_cmd *c);

#endif
