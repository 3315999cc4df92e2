/* backup_cmd.c: custodia backup create|list|verify|restore|drill (SPEC §4; BAK-1..4). Commands
 * that write (create, drill, a tenant restore) take the data dir's lock and refuse to run
 * beside a serving node; list and verify only read. */
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "backup/backup.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "util/json.h"
#include "util/util.h"

typedef struct bk_args {
    cst_cli_node_args node;
    const char *to, *dir, *from, *tenant, *seal_out, *pubkey, *region, *scratch, *path;
    const char *root_source; /* --old-master-key: the key a backup names, after a KEK rotation */
    bool json;
} bk_args;

static int fail(const char *what, cst_err e)
{
    fprintf(stderr, "custodia backup %s: %s\n", what, cst_err_message(e));
    return 1;
}

static void print_json(json_t *o)
{
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    printf("%s\n", text ? text : "{}");
    cst_json_free_text(text);
}

static int parse_args(const cst_cli_command *cmd, int argc, char **argv, bk_args *a)
{
    memset(a, 0, sizeof(*a));
    const cst_cli_opt opts[] = {CST_CLI_NODE_OPTS(a->node),
                                CST_CLI_VALUE("to", &a->to),
                                CST_CLI_VALUE("dir", &a->dir),
                                CST_CLI_VALUE("from", &a->from),
                                CST_CLI_VALUE("tenant", &a->tenant),
                                CST_CLI_VALUE("seal-key-out", &a->seal_out),
                                CST_CLI_VALUE("old-master-key", &a->root_source),
                                CST_CLI_VALUE("public-key", &a->pubkey),
                                CST_CLI_VALUE("region", &a->region),
                                CST_CLI_VALUE("scratch", &a->scratch),
                                CST_CLI_FLAG("json", &a->json),
                                CST_CLI_END};
    int first, rc = cst_cli_parse(cmd, argc, argv, opts, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    if (first < argc)
        a->path = argv[first++];
    if (first < argc)
        return cst_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
    return CST_CLI_CONTINUE;
}

static void cli_actor(char *out, size_t n)
{
    struct passwd *pw = getpwuid(getuid());
    (void)snprintf(out, n, "%s", pw ? pw->pw_name : "unknown");
}

/* Opens the stopped node with its lock and its audit log. */
static cst_err open_offline(const cst_config *cfg, cst_node *n, int *lock_fd)
{
    return cst_cli_offline_open(cfg,
                                "it takes backups on its schedule; use POST /v1/sys/backups or "
                                "POST /v1/sys/backups/drill, or stop it first",
                                n, lock_fd);
}

/* The node's catalogue, id and region for a command destination, read beside a serving node
 * or a stopped one; no catalogue (and node id "") when the data dir holds no node (yet: the
 * target of a whole-node restore, which is not opened). */
typedef struct bk_site {
    cst_store *catalogue;
    char node_id[CST_ID_MAX];
    char region[65];
    cst_bk_dest dest;
} bk_site;

static void site_open(const cst_config *cfg, bool node, bk_site *s)
{
    memset(s, 0, sizeof(*s));
    cst_store_conf sc;
    cst_config_store(cfg, &sc);
    if (node && cst_path_exists(cfg->data_dir) &&
        cst_store_open_conf(&sc, false, &s->catalogue) != CST_OK)
        s->catalogue = NULL;
    if (s->catalogue &&
        (cst_store_meta_get(s->catalogue, NULL, "node_id", s->node_id, sizeof(s->node_id)) !=
             CST_OK ||
         cst_store_meta_get(s->catalogue, NULL, "region", s->region, sizeof(s->region)) != CST_OK))
        s->node_id[0] = s->region[0] = '\0';
    cst_err_clear();
    if (!s->region[0])
        (void)snprintf(s->region, sizeof(s->region), "%s", cfg->region);
    s->dest = (cst_bk_dest){.cfg = cfg, .node_id = s->node_id, .region = s->region};
}

static void site_close(bk_site *s)
{
    cst_store_close(s->catalogue);
    s->catalogue = NULL;
}

static void audit_cli(cst_node *n, const char *action, cst_err e, const char *tenant, json_t *info)
{
    char who[64];
    cli_actor(who, sizeof(who));
    json_object_set_new(info, "via", json_string("cli"));
    json_object_set_new(info, "os_user", json_string(who));
    if (e != CST_OK)
        json_object_set_new(info, "error", json_string(cst_err_message(e)));
    cst_bk_audit(n, action, e == CST_OK ? "success" : "failure", tenant, info);
}

static int do_create(const cst_config *cfg, const bk_args *a)
{
    cst_node n;
    int lock_fd = -1;
    cst_backup_row row;
    memset(&row, 0, sizeof(row));
    cst_err e = open_offline(cfg, &n, &lock_fd);
    if (e == CST_OK) {
        e = cst_backup_create(&n, "cli", a->to, &row);
        char saved[512];
        (void)snprintf(saved, sizeof(saved), "%s", cst_err_message(e));
        json_t *info = cst_backup_row_json(&row);
        audit_cli(&n, e == CST_OK ? "backup.create" : "backup.failed", e, NULL, info);
        if (e == CST_OK && a->json)
            print_json(info);
        else if (e == CST_OK)
            printf("backup %s: %lld tenants, %lld records, %lld bytes in %lld ms\n  %s\n", row.id,
                   (long long)row.tenants, (long long)row.records, (long long)row.size,
                   (long long)((row.finished_at - row.created_at) / 1000), row.location);
        json_decref(info);
        if (e != CST_OK)
            e = cst_fail(e, "%s", saved);
    }
    int rc = e == CST_OK ? 0 : fail("create", e);
    cst_cli_offline_close(&n, lock_fd);
    return rc;
}

static int do_list(const cst_config *cfg, const bk_args *a)
{
    /* with a command destination, a backup.dir that does not exist just holds nothing */
    const char *dir = a->dir ? a->dir : cfg->backup_dir;
    if (!a->dir && cfg->backup_list_command[0] && !cst_path_exists(dir))
        dir = NULL;
    if (cfg->backup_command[0] && !cfg->backup_list_command[0])
        fprintf(stderr, "note: backup.command is set without backup.list_command: the backups "
                        "sent there are not listed\n");
    bk_site site;
    site_open(cfg, true, &site);
    json_t *list = NULL;
    cst_err e = cst_backup_list_all(&site.dest, site.catalogue, dir, &list);
    site_close(&site);
    if (e != CST_OK)
        return fail("list", e);
    if (a->json) {
        print_json(list);
    } else {
        size_t i;
        json_t *b;
        printf("%-24s  %-27s  %-12s  %12s  %-12s  %s\n", "BACKUP", "CREATED", "REGION", "BYTES",
               "WHERE", "NODE");
        json_array_foreach(list, i, b)
        {
            const char *err = json_string_value(json_object_get(b, "error"));
            const char *created = json_string_value(json_object_get(b, "created_at"));
            const char *region = json_string_value(json_object_get(b, "region"));
            const char *node = json_string_value(json_object_get(b, "node_id"));
            printf("%-24s  %-27s  %-12s  %12lld  %-12s  %s\n",
                   json_string_value(json_object_get(b, "backup_id")),
                   err       ? "(unreadable header)"
                   : created ? created
                             : "(not in the catalogue)",
                   err || !region ? "-" : region,
                   (long long)json_integer_value(json_object_get(b, "size")),
                   json_string_value(json_object_get(b, "where")),
                   err    ? err
                   : node ? node
                          : "-");
        }
    }
    json_decref(list);
    return 0;
}

/* ENC-4: the root key a backup's frames are sealed under: from the root key its header carries
 * (wrapped by the KEK of the node that took it), else the KEK's own bytes as the data dir has
 * them. */
static cst_err backup_root_key(const cst_config *cfg, const char *path, bool have_data_dir,
                               cst_key *root)
{
    cst_buf blob;
    cst_buf_init(&blob, 1024);
    bool present = false;
    cst_err e = cst_backup_root_blob(path, &blob, &present);
    if (e == CST_OK && !present && strncmp(cfg->master_key, "pkcs11:", 7) == 0 && !have_data_dir)
        e = cst_fail(CST_ERR_INVALID,
                     "%s was taken before backups carried the root key: a "
                     "pkcs11: node cannot restore it whole",
                     path);
    if (e == CST_OK)
        e = cst_node_root_key(cfg, have_data_dir, present ? &blob : NULL, root);
    char id[2 * CST_MASTER_ID_BYTES + 1] = "?";
    if (e == CST_ERR_INTEGRITY && present) {
        /* taken before a KEK rotation: the data dir's root key (which kept its value) */
        char saved[512];
        (void)snprintf(saved, sizeof(saved), "%s", cst_err_message(e));
        if (have_data_dir && cst_node_root_key(cfg, true, NULL, root) == CST_OK) {
            e = CST_OK;
        } else {
            (void)cst_master_blob_id(blob.data, blob.len, id);
            e = cst_fail(CST_ERR_INTEGRITY,
                         "the backup's root key is wrapped by master key id %s, which %s is not "
                         "(%s)",
                         id, cfg->master_key, saved);
        }
    }
    cst_buf_free(&blob);
    return e;
}

static int do_verify(const cst_config *cfg, const bk_args *a)
{
    if (!a->path) {
        fprintf(stderr,
                "custodia backup verify: which backup? (custodia backup verify PATH | ID)\n");
        return 2;
    }
    cst_key kek = {0};
    uint8_t pk[32];
    bool pinned = false;
    cst_err e = CST_OK;
    if (a->pubkey) {
        e = cst_node_public_key_file(a->pubkey, pk);
        pinned = e == CST_OK;
    } else if (cst_node_public_key(cfg->data_dir, pk) == CST_OK) {
        pinned = true;
    } else {
        cst_err_clear();
    }
    json_t *report = NULL;
    /* a path, or a backup id: in backup.dir, in the catalogue, or fetched from the command
     * destination into scratch space and removed after */
    const char *scratch = a->scratch ? a->scratch : cfg->backup_scratch_dir;
    char path[PATH_MAX], fetched[PATH_MAX] = "";
    bk_site site;
    site_open(cfg, true, &site);
    if (e == CST_OK)
        e = cst_backup_locate(&site.dest, site.catalogue, a->dir ? a->dir : cfg->backup_dir,
                              a->path, scratch, path, sizeof(path), fetched, sizeof(fetched));
    site_close(&site);
    if (e == CST_OK) /* ENC-4: the root key its header carries, else the data dir's */
        e = backup_root_key(cfg, path, true, &kek);
    if (e == CST_OK)
        e = cst_backup_verify_file(path, &kek, pinned ? pk : NULL,
                                   cfg->region[0] ? cfg->region : NULL, scratch, &report);
    cst_backup_fetched_free(fetched);
    if (e == CST_OK)
        json_object_set_new(report, "source",
                            json_string(fetched[0] ? "fetched with backup.fetch_command" : path));
    cst_key_free(&kek);
    if (e != CST_OK) {
        if (a->json)
            printf("{\"result\": \"failed\", \"error\": \"see stderr\"}\n");
        return fail("verify", e);
    }
    if (!pinned)
        json_object_set_new(report, "note",
                            json_string("signatures checked with the key the backup names "
                                        "(authenticated by the master key); pass --public-key "
                                        "to pin the node's key"));
    if (a->json) {
        print_json(report);
    } else {
        printf("OK: backup %s of node %s (region %s, %s): signatures, every frame and hash, "
               "integrity_check of every database and %lld records in %lld tenants verified in "
               "%lld ms\n",
               json_string_value(json_object_get(report, "backup_id")),
               json_string_value(json_object_get(report, "node_id")),
               json_string_value(json_object_get(report, "region")),
               json_string_value(json_object_get(report, "created_at")),
               (long long)json_integer_value(json_object_get(report, "records")),
               (long long)json_integer_value(json_object_get(report, "tenants")),
               (long long)json_integer_value(json_object_get(report, "duration_ms")));
        if (fetched[0])
            printf("  fetched with backup.fetch_command (the copy is removed)\n");
        if (!pinned)
            printf("note: %s\n", json_string_value(json_object_get(report, "note")));
    }
    json_decref(report);
    return 0;
}

static cst_err restore_audit_new_node(const cst_config *cfg, json_t *report)
{
    cst_node n;
    int lock_fd = -1;
    cst_err e = open_offline(cfg, &n, &lock_fd);
    if (e == CST_OK)
        audit_cli(&n, "backup.restore", CST_OK, NULL, report);
    cst_cli_offline_close(&n, lock_fd);
    return e;
}

static int do_restore(const cst_config *cfg, const bk_args *a)
{
    if (!a->from || !a->node.data_dir) {
        fprintf(stderr, "custodia backup restore: --from BACKUP (a path or a backup id) and "
                        "--data-dir DIR are required\n");
        return 2;
    }
    cst_key kek = {0};
    uint8_t pk[32];
    char k0[PATH_MAX];
    bool pinned = false;
    cst_err e = CST_OK;
    if (a->pubkey) {
        e = cst_node_public_key_file(a->pubkey, pk);
        pinned = e == CST_OK;
    } else if (a->tenant) {
        e = cst_node_public_key(cfg->data_dir, pk);
        pinned = e == CST_OK;
    }
    if (e == CST_OK && !a->tenant)
        e = a->seal_out ? cst_fmt(k0, sizeof(k0), "%s", a->seal_out)
                        : cst_config_default_key_path(cfg->data_dir, "custodia-audit-k0.key", k0,
                                                      sizeof(k0));
    /* ENC-4: a backup taken before its header carried the root key, by a node whose KEK was
     * rotated since, is sealed under its first root key (for file: and command:, the first
     * KEK's bytes): a whole-node restore is given that key apart from the node's current one,
     * which the restored data dir then needs */
    cst_config old = *cfg;
    if (e == CST_OK && a->root_source && a->tenant)
        e = cst_fail(CST_ERR_INVALID, "--old-master-key is for a whole-node restore (one tenant "
                                      "goes into a node that has its root key)");
    if (e == CST_OK && a->root_source)
        e = cst_copy(old.master_key, sizeof(old.master_key), a->root_source);
    /* --from PATH, or a backup id (fetched from the command destination when only it holds
     * it); a whole-node restore fetches beside the new data dir, which must stay empty */
    char from[PATH_MAX], fetched[PATH_MAX] = "", parent[PATH_MAX];
    const char *scratch = a->scratch ? a->scratch : cfg->backup_scratch_dir;
    if (e == CST_OK && !a->tenant && !a->scratch) {
        e = cst_fmt(parent, sizeof(parent), "%s", cfg->data_dir);
        char *slash = e == CST_OK ? strrchr(parent, '/') : NULL;
        if (slash)
            slash[slash == parent] = '\0'; /* "/data" -> "/" */
        scratch = slash ? parent : ".";
    }
    if (e == CST_OK) {
        bk_site site;
        site_open(cfg, a->tenant != NULL, &site);
        e = cst_backup_locate(&site.dest, site.catalogue, cfg->backup_dir, a->from, scratch, from,
                              sizeof(from), fetched, sizeof(fetched));
        /* BAK-4: a whole node restored from the destination honours the erasures newer backups
         * there record (a tenant restore checks the node's own tombstones) */
        if (e == CST_OK && fetched[0] && !a->tenant && cfg->backup_list_command[0])
            e = cst_backup_fetch_headers(&site.dest, fetched, a->from);
        else if (e == CST_OK && fetched[0] && !a->tenant)
            fprintf(stderr, "warning: backup.list_command is not set: erasures recorded only by "
                            "newer backups at the destination are not seen; restore the newest "
                            "backup\n");
        site_close(&site);
    }
    if (e == CST_OK) /* ENC-4: the root key its header carries, else the data dir's */
        e = backup_root_key(&old, from, a->tenant != NULL, &kek);
    cst_store_conf store;
    cst_config_store(cfg, &store);
    cst_restore_opts o = {.from = from,
                          .store = &store,
                          .data_dir = cfg->data_dir,
                          .tenant = a->tenant,
                          .kek = &kek,
                          .pin = pinned ? pk : NULL,
                          .region = a->region ? a->region : cfg->region,
                          .k0_path = a->tenant ? NULL : k0};
    json_t *report = NULL;
    cst_node n;
    int lock_fd = -1;
    memset(&n, 0, sizeof(n));
    if (e == CST_OK && a->tenant) {
        /* a tenant goes into a stopped node: hold its lock throughout */
        e = open_offline(cfg, &n, &lock_fd);
        if (e == CST_OK)
            e = cst_backup_restore(&o, &report);
        json_t *info = report ? json_incref(report)
                              : json_pack("{s:s,s:s}", "mode", "tenant", "from", a->from);
        if (n.audit) {
            char saved[512];
            (void)snprintf(saved, sizeof(saved), "%s", cst_err_message(e));
            audit_cli(&n, "backup.restore", e, a->tenant, info);
            if (e != CST_OK)
                e = cst_fail(e, "%s", saved);
        }
        json_decref(info);
        cst_cli_offline_close(&n, lock_fd);
    } else if (e == CST_OK) {
        e = cst_backup_restore(&o, &report);
        if (e == CST_OK) {
            json_object_del(report, "manifest_tenants");
            e = restore_audit_new_node(cfg, report);
        }
    }
    cst_key_free(&kek);
    cst_backup_fetched_free(fetched);
    if (e != CST_OK) {
        json_decref(report);
        return fail("restore", e);
    }
    json_object_del(report, "manifest_tenants");
    json_object_del(report, "via");
    json_object_del(report, "os_user");
    if (a->json) {
        print_json(report);
    } else if (a->tenant) {
        printf("restored tenant %s from backup %s (%lld records) in %lld ms\n", a->tenant,
               json_string_value(json_object_get(report, "backup_id")),
               (long long)json_integer_value(json_object_get(report, "records")),
               (long long)json_integer_value(json_object_get(report, "duration_ms")));
    } else {
        printf("restored node %s from backup %s into %s: %lld tenants, %lld records in %lld ms\n",
               json_string_value(json_object_get(report, "node_id")),
               json_string_value(json_object_get(report, "backup_id")), cfg->data_dir,
               (long long)json_integer_value(json_object_get(report, "tenants")),
               (long long)json_integer_value(json_object_get(report, "records")),
               (long long)json_integer_value(json_object_get(report, "duration_ms")));
        size_t skipped = json_array_size(json_object_get(report, "skipped_erased"));
        if (skipped)
            printf("  %zu erased tenant(s) were not restored (tombstones)\n", skipped);
        printf("  new audit seal key: %s\n"
               "  MOVE THIS FILE OFFLINE NOW: the restored node starts a new audit log.\n",
               k0);
        json_t *src = json_object_get(report, "source_audit");
        if (src)
            printf("  the source node's audit log is not in backups: it stays in %s on the source "
                   "node, and was shipped to %zu sink(s) (`--json` shows how far)\n",
                   json_string_value(json_object_get(src, "dir")),
                   json_array_size(json_object_get(src, "shipped_to")));
        if (!pinned)
            printf("  note: signatures were checked with the key the backup names "
                   "(authenticated by the master key); pass --public-key to pin it\n");
    }
    json_decref(report);
    return 0;
}

static int do_drill(const cst_config *cfg, const bk_args *a)
{
    cst_node n;
    int lock_fd = -1;
    cst_drill_row d;
    memset(&d, 0, sizeof(d));
    cst_err e = open_offline(cfg, &n, &lock_fd);
    if (e == CST_OK) {
        e = cst_backup_drill(&n, &d);
        char saved[512];
        (void)snprintf(saved, sizeof(saved), "%s", cst_err_message(e));
        json_t *info = cst_drill_row_json(&d);
        audit_cli(&n, "backup.drill", e, NULL, info);
        if (a->json)
            print_json(info);
        else
            printf(
                "drill %s of backup %s: %s: %lld tenants, %lld records decrypted in %lld ms%s%s\n",
                d.id, d.backup_id[0] ? d.backup_id : "(none)", d.ok ? "PASS" : "FAIL",
                (long long)d.tenants, (long long)d.records, (long long)d.duration_ms,
                d.ok ? "" : ": ", d.ok ? "" : d.error);
        json_decref(info);
        if (e != CST_OK)
            e = cst_fail(e, "%s", saved);
    }
    int rc = e == CST_OK ? 0 : fail("drill", e);
    cst_cli_offline_close(&n, lock_fd);
    return rc;
}

int cst_cli_backup(const cst_cli_command *cmd, int argc, char **argv)
{
    const char *sub = argv[0]; /* the command table's "backup SUB" */
    bk_args a;
    int rc = parse_args(cmd, argc, argv, &a);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    cst_config cfg;
    cst_err e = cst_cli_config(&cfg, a.node.config, a.node.data_dir, a.node.key, NULL);
    if (e == CST_OK && a.region)
        e = cst_config_set(&cfg, "node", "region", a.region);
    if (e != CST_OK)
        return fail(sub, e);
    if (!strcmp(sub, "create"))
        return do_create(&cfg, &a);
    if (!strcmp(sub, "list"))
        return do_list(&cfg, &a);
    if (!strcmp(sub, "verify"))
        return do_verify(&cfg, &a);
    if (!strcmp(sub, "restore"))
        return do_restore(&cfg, &a);
    if (!strcmp(sub, "drill"))
        return do_drill(&cfg, &a);
    return cst_cli_usage_error(cmd, "no such command");
}
