/* backup.h: encrypted, signed, verified backups; restores; recovery drills (BAK-1..4, ENC-2,
 * RES-1). The file format is in archive.h; the operator's view in docs/operations.md. */
#ifndef CST_BACKUP_H
#define CST_BACKUP_H

#include <jansson.h>
#include <stdbool.h>

#include "node/node.h"

/* Takes a consistent copy of the system store and every tenant store while the node serves
 * (the store driver's snapshot, one point-in-time copy per store), writes it encrypted and signed
 * to the configured destination (to_dir, when given, overrides it) under a temporary name,
 * re-reads and verifies it, and only then gives it its final name. Records the outcome in the
 * catalogue (failures too, as status "failed"); origin is api | schedule | cli. One backup or
 * drill runs at a time per node (CST_ERR_CONFLICT otherwise). */
CST_MUST_USE cst_err cst_backup_create(cst_node *n, const char *origin, const char *to_dir,
                                       cst_backup_row *out);

/* BAK-4: removes backups older than backup.retention_days from the destination (and leftover
 * temporary files), marking them "pruned" in the catalogue. *removed counts them. */
CST_MUST_USE cst_err cst_backup_prune(cst_node *n, int64_t now_us, int *removed);

/* Checks a backup file completely: signatures (pin: the expected node public key, or NULL for
 * the key the backup names), master key, every frame and hash; then opens every database in
 * scratch space, runs PRAGMA integrity_check and compares record counts with the manifest.
 * region, when not NULL, must be the backup's region. *report describes what was checked. */
CST_MUST_USE cst_err cst_backup_verify_file(const char *path, const cst_key *kek,
                                            const uint8_t *pin, const char *region,
                                            const char *scratch_dir, json_t **report);

typedef struct cst_restore_opts {
    const char *from;     /* backup file */
    const char *data_dir; /* whole node: a new (absent or empty) dir; tenant: the node's */
    const char *tenant;   /* NULL: the whole node */
    const cst_key *kek;
    const uint8_t *pin;          /* expected node public key, or NULL */
    const char *region;          /* the region the restore must belong to, or NULL */
    const char *k0_path;         /* whole node: where the new audit seal key K0 goes (NULL: none) */
    const char *scratch;         /* tenant restore: staging space (default <data_dir>/tmp) */
    const cst_store_conf *store; /* the node's store (NULL: SQLite in data_dir) */
} cst_restore_opts;

/* BAK-2: restores a whole node into an empty data dir, or one tenant into an existing,
 * stopped node (the caller holds its lock) leaving every other tenant untouched. A tenant
 * erased after the backup (a tombstone in the target node, or in the header of a newer backup
 * beside this one) is never restored. Stages everything and commits only once the whole
 * backup has verified; a crash leaves a whole-node target marked RESTORE-INCOMPLETE (refused
 * by serve, cleaned by the next restore). *report holds counts and the duration. */
CST_MUST_USE cst_err cst_backup_restore(const cst_restore_opts *o, json_t **report);

/* BAK-3: restores the newest backup into scratch space, decrypts every record of every tenant,
 * compares counts with the manifest, records the result in the drills table (and returns it
 * in out, whatever the outcome) and removes the scratch copy. The error is the drill's. */
CST_MUST_USE cst_err cst_backup_drill(cst_node *n, cst_drill_row *out);

/* The serving node's schedule (BAK-1, BAK-4): a thread that takes a backup every
 * backup.interval and prunes expired ones, auditing each run. Checks backup.command_env_file
 * first, whatever the interval. */
CST_MUST_USE cst_err cst_backup_schedule_start(cst_node *n);
void cst_backup_schedule_stop(cst_node *n);

/* JSON views for the API and the CLI. */
json_t *cst_backup_row_json(const cst_backup_row *b);
json_t *cst_drill_row_json(const cst_drill_row *d);
/* The health summary: last good backup, last failure, last drill. */
json_t *cst_backup_health(cst_node *n);

/* An audit entry of the node itself about backups (schedule, CLI); info is borrowed. */
void cst_bk_audit(cst_node *n, const char *action, const char *outcome, const char *tenant,
                  json_t *info);

/* ENC-4: the root key's blob a backup's header carries (wrapped by the KEK of the node that took
 * it); *present false for a backup whose node had no root.key (its root key is its KEK's bytes). */
CST_MUST_USE cst_err cst_backup_root_blob(const char *path, cst_buf *blob, bool *present);
/* Lists the backups in a directory (by their signed headers), newest first. */
CST_MUST_USE cst_err cst_backup_list_dir(const char *dir, json_t **list);

/* ---- command destinations (object storage) seen from the CLI as well as the node ---- */

/* The configuration's commands, env file and timeout, and the node's id and region for the
 * commands' environment (node_id "" in a whole-node restore into a new data dir). */
typedef struct cst_bk_dest {
    const cst_config *cfg;
    const char *node_id;
    const char *region;
} cst_bk_dest;

/* The backups backup.list_command reports, in its order: [{backup_id, size (when given)}].
 * Its output is one backup per line: the id (the object's name), optionally followed by
 * whitespace and the size in bytes; other names (an upload's temporary object) are skipped. */
CST_MUST_USE cst_err cst_backup_list_remote(const cst_bk_dest *d, json_t **list);
/* backup list: the backups in dir (NULL: none) by their signed headers, "where": "local", and
 * with backup.list_command those at the command destination: "local+remote" when dir holds one
 * too, else "remote" (described from the catalogue, which may be NULL, when it knows it). */
CST_MUST_USE cst_err cst_backup_list_all(const cst_bk_dest *d, cst_store *catalogue,
                                         const char *dir, json_t **list);
/* Fetches backup id with backup.fetch_command into path (created 0600, removed on failure). */
CST_MUST_USE cst_err cst_backup_fetch(const cst_bk_dest *d, const char *id, const char *path);

/* A backup named by a path or an id, as a file to read. A path that exists is itself; an id is
 * <dir>/<id>, or the catalogue's location (catalogue may be NULL), or else fetched with
 * backup.fetch_command into a new directory under scratch_base: *fetched_dir then names that
 * directory, which the caller removes with cst_backup_fetched_free (else it is ""). */
CST_MUST_USE cst_err cst_backup_locate(const cst_bk_dest *d, cst_store *catalogue, const char *dir,
                                       const char *what, const char *scratch_base, char *path,
                                       size_t size, char *fetched_dir, size_t fdsize);
/* Fetches backup id into a new directory under scratch_base (*fetched_dir), as *path. */
CST_MUST_USE cst_err cst_backup_fetch_scratch(const cst_bk_dest *d, const char *id,
                                              const char *scratch_base, char *path, size_t size,
                                              char *fetched_dir, size_t fdsize);
/* BAK-4 for a backup fetched alone (id, in fetched_dir): the signed header of every other
 * backup backup.list_command lists, read from the start of its fetch (which is then stopped)
 * into a header-only file beside it, where a whole-node restore finds the erasures newer
 * backups record. A backup without a readable header is skipped with a warning; a listing or
 * fetch that fails is an error. */
CST_MUST_USE cst_err cst_backup_fetch_headers(const cst_bk_dest *d, const char *fetched_dir,
                                              const char *id);
void cst_backup_fetched_free(const char *fetched_dir);

#endif
