/* main.c: custodia's one binary: its command table, and init, serve, audit verify (SPEC §4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "util/json.h"
#include "crypto/crypto.h"
#include "crypto/totp.h"
#include "node/node.h"
#include "util/util.h"

static int fail(const char *cmd, cst_err e)
{
    fprintf(stderr, "custodia %s: %s\n", cmd, cst_err_message(e));
    return 1;
}

static int cmd_init(const cst_cli_command *cmd, int argc, char **argv)
{
    const char *data_dir = NULL, *region = NULL, *key = NULL, *operator= "admin";
    const char *source = NULL, *pin_file = NULL, *config = NULL;
    bool json = false, join = false;
    const cst_cli_opt opts[] = {CST_CLI_VALUE("config", &config),
                                CST_CLI_VALUE("data-dir", &data_dir),
                                CST_CLI_VALUE("region", &region),
                                CST_CLI_VALUE("master-key-file", &key),
                                CST_CLI_VALUE("master-key", &source),
                                CST_CLI_VALUE("pin-file", &pin_file),
                                CST_CLI_VALUE("operator-username", &operator),
                                CST_CLI_FLAG("join", &join),
                                CST_CLI_FLAG("json", &json),
                                CST_CLI_END};
    int first, rc = cst_cli_parse(cmd, argc, argv, opts, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    if (first < argc)
        return cst_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
    cst_config cfg;
    cst_config_defaults(&cfg);
    /* the file first ([store], [keys], node.data_dir, node.region), then the flags over it */
    cst_err e = config ? cst_config_load(&cfg, config) : CST_OK;
    if (e == CST_OK && (data_dir || !config))
        e = cst_config_set(&cfg, "node", "data_dir", data_dir ? data_dir : "./var");
    if (e == CST_OK && !region)
        region = cfg.region[0] ? cfg.region : "local";
    if (e == CST_OK && key)
        e = cst_config_set(&cfg, "node", "master_key_file", key);
    if (e == CST_OK && source)
        e = cst_config_set(&cfg, "keys", "master_key", source);
    if (e == CST_OK && pin_file)
        e = cst_config_set(&cfg, "keys", "pin_file", pin_file);
    if (e == CST_OK)
        e = cst_config_finish(&cfg);
    if (e == CST_OK)
        e = cst_node_init(&cfg, region, operator, join, json);
    return e == CST_OK ? 0 : fail("init", e);
}

/* Configuration from an optional file, then flags over it (serve and the offline commands). */
cst_err cst_cli_config(cst_config *cfg, const char *config, const char *data_dir, const char *key,
                       const char *listen)
{
    cst_config_defaults(cfg);
    cst_err e = config ? cst_config_load(cfg, config) : CST_OK;
    /* flags override the file */
    if (e == CST_OK && data_dir)
        e = cst_config_set(cfg, "node", "data_dir", data_dir);
    if (e == CST_OK && key) { /* the flag wins over keys.master_key in the file */
        cfg->master_key[0] = '\0';
        e = cst_config_set(cfg, "node", "master_key_file", key);
    }
    if (e == CST_OK && listen)
        e = cst_config_set_listen(cfg, listen);
    if (e == CST_OK)
        e = cst_config_finish(cfg);
    return e;
}

static int cmd_serve(const cst_cli_command *cmd, int argc, char **argv)
{
    cst_cli_node_args a = {0};
    const char *listen = NULL;
    const cst_cli_opt opts[] = {CST_CLI_NODE_OPTS(a), CST_CLI_VALUE("listen", &listen),
                                CST_CLI_END};
    int first, rc = cst_cli_parse(cmd, argc, argv, opts, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    if (first < argc)
        return cst_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
    cst_config cfg;
    cst_err e = cst_cli_config(&cfg, a.config, a.data_dir, a.key, listen);
    if (e != CST_OK)
        return fail("serve", e);
    return cst_cli_serve(&cfg);
}

/* K0 from its file (32 bytes) into k0. */
static cst_err load_seal_key(const char *path, cst_key *k0)
{
    cst_buf raw;
    cst_buf_init(&raw, 64);
    cst_err e = cst_file_read(path, 64, &raw);
    if (e == CST_OK && raw.len != CST_KEY_LEN)
        e = cst_fail(CST_ERR_INVALID, "%s is not a seal key (K0 files hold 32 bytes)", path);
    if (e == CST_OK)
        e = cst_key_alloc(k0);
    if (e == CST_OK)
        memcpy(k0->k, raw.data, CST_KEY_LEN);
    cst_buf_wipe_free(&raw);
    return e;
}

static int print_verify(const cst_audit_report *r, bool json, bool have_kek)
{
    if (json) {
        json_t *o = cst_audit_report_json(r);
        char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", text ? text : "{}");
        cst_json_free_text(text);
        json_decref(o);
        return r->ok ? 0 : 1;
    }
    for (int i = 0; i < CST_AUDIT__STREAMS; i++)
        printf("%-8s entries %llu..%llu, %llu seals, %llu unsealed\n", cst_audit_stream_names[i],
               (unsigned long long)r->first_seq[i],
               (unsigned long long)(r->first_seq[i] + r->entries[i] - (r->entries[i] > 0)),
               (unsigned long long)r->seals[i], (unsigned long long)r->unsealed[i]);
    if (r->notes[0])
        printf("note: %s\n", r->notes);
    if (r->ok)
        printf("OK: hash chains intact%s\n",
               r->seals_checked ? (have_kek ? "; every seal verified with K0; the node's seal "
                                              "key descends from K0"
                                            : "; every seal verified with K0")
                                : " (seals not checked: pass --seal-key K0FILE)");
    else
        printf("FAILED: %s stream, entry %llu: %s: %s\n", r->stream, (unsigned long long)r->seq,
               r->reason, r->message);
    return r->ok ? 0 : 1;
}

/* audit verify --dir DIR: an export (`audit export`), away from any node. */
static int audit_verify_dir(const char *dir, const char *seal, bool json)
{
    cst_key k0 = {0};
    cst_err e = seal ? load_seal_key(seal, &k0) : CST_OK;
    cst_audit_report r;
    if (e == CST_OK)
        e = cst_audit_verify_export(dir, seal ? &k0 : NULL, &r);
    cst_key_free(&k0);
    if (e != CST_OK)
        return fail("audit verify", e);
    return print_verify(&r, json, false);
}

static int cmd_audit_verify(const cst_cli_command *cmd, int argc, char **argv)
{
    cst_cli_node_args a = {0};
    const char *seal = NULL, *dir = NULL;
    bool json = false;
    const cst_cli_opt opts[] = {CST_CLI_NODE_OPTS(a), CST_CLI_VALUE("seal-key", &seal),
                                CST_CLI_VALUE("dir", &dir), CST_CLI_FLAG("json", &json),
                                CST_CLI_END};
    int first, rc = cst_cli_parse(cmd, argc, argv, opts, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    if (first < argc)
        return cst_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
    if (dir)
        return audit_verify_dir(dir, seal, json);
    cst_config cfg;
    cst_key k0 = {0}, kek = {0};
    char epoch_file[PATH_MAX];
    cst_err e = cst_cli_config(&cfg, a.config, a.data_dir, a.key, NULL);
    if (e == CST_OK)
        e = cst_node_check_data_dir(cfg.data_dir, cfg.store_driver);
    if (e == CST_OK)
        e = cst_fmt(epoch_file, sizeof(epoch_file), "%s/audit/epoch.key", cfg.data_dir);
    if (e == CST_OK && seal)
        e = load_seal_key(seal, &k0);
    /* With the master key too, the node's current seal key is checked against K0. */
    bool have_kek = false;
    if (e == CST_OK && seal &&
        (strncmp(cfg.master_key, "file:", 5) != 0 || cst_path_exists(cfg.master_key_file))) {
        have_kek = cst_node_root_key(&cfg, true, NULL, &kek) == CST_OK;
        cst_err_clear();
    }
    cst_audit_report r;
    if (e == CST_OK)
        e = cst_audit_verify(cfg.audit_dir, epoch_file, seal ? &k0 : NULL, have_kek ? &kek : NULL,
                             true, &r);
    cst_key_free(&k0);
    cst_key_free(&kek);
    if (e != CST_OK)
        return fail("audit verify", e);
    return print_verify(&r, json, have_kek);
}

/* A --since/--until value: RFC 3339 UTC, or a date (its midnight, UTC). */
static cst_err parse_when(const char *flag, const char *text, int64_t *us)
{
    char full[40];
    bool date = strlen(text) == 10;
    if (date && snprintf(full, sizeof(full), "%sT00:00:00Z", text) >= (int)sizeof(full))
        date = false;
    ENSURE(cst_time_parse(date ? full : text, us), CST_ERR_INVALID,
           "--%s %s: give an RFC 3339 time (2026-12-01T00:00:00Z) or a date (2026-12-01)", flag,
           text);
    return CST_OK;
}

/* audit export: read-only, so beside a serving node too (segments are append-only). */
static int cmd_audit_export(const cst_cli_command *cmd, int argc, char **argv)
{
    cst_cli_node_args a = {0};
    const char *since = NULL, *until = NULL, *to = NULL;
    bool json = false;
    const cst_cli_opt opts[] = {CST_CLI_NODE_OPTS(a),
                                CST_CLI_VALUE("since", &since),
                                CST_CLI_VALUE("until", &until),
                                CST_CLI_VALUE("to", &to),
                                CST_CLI_VALUE("out", &to),
                                CST_CLI_FLAG("json", &json),
                                CST_CLI_END};
    int first, rc = cst_cli_parse(cmd, argc, argv, opts, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    if (first < argc)
        return cst_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
    if (!to)
        return cst_cli_usage_error(cmd, "--to DIR is required");
    cst_config cfg;
    int64_t since_us = 0, until_us = INT64_MAX;
    cst_err e = cst_cli_config(&cfg, a.config, a.data_dir, a.key, NULL);
    if (e == CST_OK)
        e = cst_node_check_data_dir(cfg.data_dir, cfg.store_driver);
    if (e == CST_OK && since)
        e = parse_when("since", since, &since_us);
    if (e == CST_OK && until)
        e = parse_when("until", until, &until_us);
    json_t *m = NULL;
    if (e == CST_OK)
        e = cst_audit_export(cfg.audit_dir, since_us, until_us, to, &m);
    if (e != CST_OK)
        return fail("audit export", e);
    if (json) {
        char *text = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("%s\n", text ? text : "{}");
        cst_json_free_text(text);
    } else {
        json_t *streams = json_object_get(m, "streams");
        for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
            json_t *st = json_object_get(streams, cst_audit_stream_names[i]);
            printf("%-8s %zu segment(s), entries %lld..%lld\n", cst_audit_stream_names[i],
                   json_array_size(json_object_get(st, "segments")),
                   (long long)json_integer_value(json_object_get(st, "first_seq")),
                   (long long)json_integer_value(json_object_get(st, "last_seq")));
        }
        printf("exported to %s; check it anywhere with `custodia audit verify --dir %s "
               "--seal-key K0FILE`\n",
               to, to);
    }
    json_decref(m);
    return 0;
}

/* A command that prints one text and takes no argument. */
static int print_text(const cst_cli_command *cmd, int argc, char **argv, void (*print)(FILE *f))
{
    if (argc > 1)
        return cst_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[1]);
    print(stdout);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* docs/configuration.md is this output (ctest cli.config_reference). */
static int cmd_config_reference(const cst_cli_command *cmd, int argc, char **argv)
{
    return print_text(cmd, argc, argv, cst_config_reference);
}

/* The package's /etc/custodia/custodia.ini (unit.test_config, pkg.install). */
static int cmd_config_example(const cst_cli_command *cmd, int argc, char **argv)
{
    return print_text(cmd, argc, argv, cst_config_example);
}

/* scripts/completion/custodia.bash is this output (ctest cli.completion). */
static int cmd_completion(const cst_cli_command *cmd, int argc, char **argv)
{
    return print_text(cmd, argc, argv, cst_cli_completion_bash);
}

static int cmd_version(const cst_cli_command *cmd, int argc, char **argv)
{
    if (argc > 1)
        return cst_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[1]);
    printf("custodia %s\n", CUSTODIA_VERSION);
    return 0;
}

/* custodia help [COMMAND...]: the words after help name the command ("help backup create"). */
static int cmd_help(const cst_cli_command *cmd, int argc, char **argv)
{
    char name[128] = "";
    for (int i = 1; i < argc; i++) {
        size_t len = strlen(name);
        if (cst_fmt(name + len, sizeof(name) - len, "%s%s", len ? " " : "", argv[i]) != CST_OK)
            return cst_cli_usage_error(cmd, "no command is named so");
    }
    if (!cst_cli_print_usage(name, stdout))
        return cst_cli_usage_error(cmd, "no command is named \"%s\"", name);
    if (!name[0])
        printf("Defaults: --data-dir ./var; --master-key-file <parent of data dir>/"
               "custodia-master.key.\n");
    return fflush(stdout) == 0 ? 0 : 1;
}

/* The command table: every command, its summary, usage and handler (args.h). Adding a command
 * is adding its entry here; --help, custodia help, the completion script and the checks of the
 * man pages and completion (tests/api/test_cli_help.c) follow from it. */
const cst_cli_command cst_cli_commands[] = {
    {"init", "create a data dir, its keys, TLS certificate and first operator",
     "usage: custodia init [--config FILE] [--data-dir DIR] [--region R]\n"
     "                     [--master-key-file F | --master-key SOURCE] [--pin-file F]\n"
     "                     [--operator-username NAME] [--join] [--json]\n"
     "\n"
     "Creates a data dir (it must not exist), the master key when missing, the audit seal key\n"
     "K0 beside the data dir (move it offline), the node's signing key, a self-signed TLS\n"
     "certificate and the first operator, whose one-time password it prints. With\n"
     "store.driver = postgresql it also creates the shared schema in store.dsn's database.\n"
     "\n"
     "  --config FILE           read [store], [keys] and node.data_dir/region from FILE\n"
     "  --join                  a further node of a PostgreSQL database made by an earlier\n"
     "                          init: only this node's own files (data dir, root and signing\n"
     "                          keys, K0, TLS certificate); it needs the same master key and\n"
     "                          makes no operator\n"
     "  --data-dir DIR          the data dir to create (default node.data_dir, else ./var)\n"
     "  --region R              the node's region (default node.region, else local)\n"
     "  --master-key-file F     the master key file (default custodia-master.key in the data\n"
     "                          dir's parent); the same as --master-key file:F\n"
     "  --master-key SOURCE     file:PATH | pkcs11:URI | command:CMD (keys.master_key)\n"
     "  --pin-file F            pkcs11: the token's PIN (else CUSTODIA_PKCS11_PIN)\n"
     "  --operator-username NAME  the first operator (default admin)\n"
     "  --json                  print the result as JSON\n",
     cmd_init},
    {"serve", "serve the HTTPS API (default https://127.0.0.1:8443)",
     "usage: custodia serve [--config FILE] [--data-dir DIR] [--listen ADDR:PORT]\n"
     "                      [--master-key-file F]\n"
     "\n"
     "Opens the node and serves its HTTPS API until SIGINT or SIGTERM. The server log goes to\n"
     "standard error, or node.log_file.\n"
     "\n" CST_CLI_NODE_USAGE
     "  --listen ADDR:PORT      address and port (default 127.0.0.1:8443, or [http] listen;\n"
     "                          port 0 picks a free one and prints it)\n",
     cmd_serve},
    {"audit verify", "check the audit log's hash chains and, with K0, every seal",
     "usage: custodia audit verify [--seal-key K0FILE] [--config FILE] [--data-dir DIR]\n"
     "                             [--master-key-file F] [--json]\n"
     "       custodia audit verify --dir DIR [--seal-key K0FILE] [--json]\n"
     "\n"
     "Checks the audit log's hash chains and, with K0, every seal; exit status 1 when it fails,\n"
     "naming the first bad entry. With --dir, checks an export (audit export) away from any\n"
     "node: its chains, its seals and that it holds what it lists.\n"
     "\n"
     "  --seal-key K0FILE       the audit seal key K0 (custodia-audit-k0.key from "
     "init)\n"
     "  --dir DIR               an export made by audit export\n" CST_CLI_NODE_USAGE
     "  --json                  print the report as JSON\n",
     cmd_audit_verify},
    {"audit export", "copy the audit segments of a time window, with their seals, for an auditor",
     "usage: custodia audit export --to DIR [--since TIME] [--until TIME] [--config FILE]\n"
     "                             [--data-dir DIR] [--json]\n"
     "\n"
     "Copies the segments covering the window, with their seals and an export.json listing\n"
     "them, into DIR; check it anywhere with audit verify --dir DIR. Works beside a serving\n"
     "node (segments are append-only).\n"
     "\n"
     "  --to DIR                where the export goes (a new or empty dir)\n"
     "  --since TIME            RFC 3339 time or date (midnight UTC); default: all that is kept\n"
     "  --until TIME            RFC 3339 time or date (midnight UTC); default: now\n"
     "  --config FILE           configuration file\n"
     "  --data-dir DIR          the node's data dir (default ./var)\n"
     "  --json                  print the export's listing as JSON\n",
     cmd_audit_export},
    {"backup create", "take a backup now (node stopped)",
     "usage: custodia backup create [--to DIR] [--config FILE] [--data-dir DIR]\n"
     "                              [--master-key-file F] [--json]\n"
     "\n"
     "Takes a backup of a stopped node now (a serving node takes them on its schedule, or on\n"
     "POST /v1/sys/backups).\n"
     "\n"
     "  --to DIR                where to write it (default backup.dir)\n" CST_CLI_NODE_USAGE
     "  --json                  print the backup's row as JSON\n",
     cst_cli_backup},
    {"backup list", "list the backups in a directory and at the command destination",
     "usage: custodia backup list [--dir DIR] [--config FILE] [--data-dir DIR] [--json]\n"
     "\n"
     "Lists the backups in a directory, newest first, from their headers, and those\n"
     "backup.list_command reports at the command destination (marked local, remote or\n"
     "local+remote).\n"
     "\n"
     "  --dir DIR               the directory (default backup.dir)\n" CST_CLI_NODE_USAGE
     "  --json                  print the list as JSON\n",
     cst_cli_backup},
    {"backup verify", "check a backup's signatures, frames and databases",
     "usage: custodia backup verify PATH|ID [--public-key FILE] [--scratch DIR] [--region R]\n"
     "                              [--config FILE] [--data-dir DIR] [--master-key-file F]\n"
     "                              [--json]\n"
     "\n"
     "Checks a backup: its signatures, every frame and hash, and integrity_check of every\n"
     "database restored into scratch space. An ID is looked up in backup.dir, then in the\n"
     "catalogue, else fetched with backup.fetch_command into scratch space and removed after.\n"
     "\n"
     "  --public-key FILE       pin the node's public key (default <data-dir>/node-signing.pub)\n"
     "  --scratch DIR           scratch space (default backup.scratch_dir)\n"
     "  --region R              refuse a backup of another region (default "
     "node.region)\n" CST_CLI_NODE_USAGE "  --json                  print the report as JSON\n",
     cst_cli_backup},
    {"backup restore", "restore a whole node into a new data dir, or one tenant",
     "usage: custodia backup restore --from PATH|ID --data-dir DIR [--tenant ID]\n"
     "                               [--seal-key-out FILE] [--old-master-key SOURCE]\n"
     "                               [--public-key FILE] [--region R] [--config FILE]\n"
     "                               [--master-key-file F] [--scratch DIR] [--json]\n"
     "\n"
     "Restores a whole node into a new data dir, or one tenant into a stopped node.\n"
     "\n"
     "  --from PATH|ID          the backup (an ID as for backup verify)\n"
     "  --scratch DIR           where a fetched backup goes (default: beside the new data dir)\n"
     "  --tenant ID             restore this tenant only, into the stopped node of --data-dir\n"
     "  --seal-key-out FILE     where the restored node's new audit seal key goes\n"
     "  --old-master-key SOURCE the master key the backup was taken under (after a rotation)\n"
     "  --public-key FILE       pin the node's public key\n"
     "  --region R              the region to restore into\n" CST_CLI_NODE_USAGE
     "  --json                  print the report as JSON\n",
     cst_cli_backup},
    {"backup drill", "restore the newest backup into scratch space and decrypt every record",
     "usage: custodia backup drill [--config FILE] [--data-dir DIR] [--master-key-file F]\n"
     "                             [--json]\n"
     "\n"
     "Restores the newest backup into scratch space, decrypts every record and records the\n"
     "result (node stopped).\n"
     "\n" CST_CLI_NODE_USAGE "  --json                  print the drill's row as JSON\n",
     cst_cli_backup},
    {"cert verify", "check a certificate of deletion against the node's public key",
     "usage: custodia cert verify FILE [--public-key FILE] [--data-dir DIR] [--json]\n"
     "\n"
     "Checks a certificate of deletion against the node's public key; exit status 1 when it\n"
     "fails.\n"
     "\n"
     "  --public-key FILE       the node's public key (default <data-dir>/node-signing.pub)\n"
     "  --data-dir DIR          the data dir (default ./var)\n"
     "  --json                  print the verdict as JSON\n",
     cst_cli_cert_verify},
    {"report", "the compliance report, signed by the node's key",
     "usage: custodia report [--format json|html|oscal] [--out FILE] [--config FILE]\n"
     "                       [--data-dir DIR] [--master-key-file F]\n"
     "\n"
     "The compliance report: every control's status and evidence, signed by the node's key.\n"
     "\n"
     "  --format FORMAT         json (default), html or oscal\n"
     "  --out FILE              write it to FILE (default standard output)\n" CST_CLI_NODE_USAGE,
     cst_cli_report},
    {"report verify", "check a report's signature",
     "usage: custodia report verify FILE [--public-key FILE] [--data-dir DIR] [--json]\n"
     "\n"
     "Checks a report's signature; exit status 1 when it fails.\n"
     "\n"
     "  --public-key FILE       the node's public key (default <data-dir>/node-signing.pub)\n"
     "  --data-dir DIR          the data dir (default ./var)\n"
     "  --json                  print the verdict as JSON\n",
     cst_cli_report_verify},
    {"operator unlock", "end an operator's lockout (node stopped)",
     "usage: custodia operator unlock NAME [--config FILE] [--data-dir DIR]\n"
     "                                [--master-key-file F] [--json]\n"
     "\n"
     "Ends operator NAME's lockout on a stopped node (a serving node: PATCH\n"
     "/v1/sys/operators/{id} by a sys-admin).\n"
     "\n" CST_CLI_NODE_USAGE "  --json                  print the result as JSON\n",
     cst_cli_operator_unlock},
    {"keys rotate-master", "rewrap every key under a new master key (node stopped)",
     "usage: custodia keys rotate-master --new SOURCE [--config FILE] [--data-dir DIR]\n"
     "                                  [--master-key-file F] [--json]\n"
     "\n"
     "Rewraps every tenant key and the root key under a new master key (node stopped). The\n"
     "current key comes from keys.master_key as for serve. Afterwards set keys.master_key to\n"
     "SOURCE: the old key no longer opens the node.\n"
     "\n"
     "  --new SOURCE            file:PATH | command:CMD | pkcs11:URI (file: and pkcs11: keys\n"
     "                          are made when missing)\n" CST_CLI_NODE_USAGE
     "  --json                  print the result as JSON\n",
     cst_cli_keys_rotate_master},
    {"config reference", "print every configuration key, its default, bounds and meaning",
     "usage: custodia config reference\n"
     "\n"
     "Prints every configuration key with its default, bounds and meaning (Markdown: it is\n"
     "docs/configuration.md; man custodia.ini).\n",
     cmd_config_reference},
    {"config example", "print a configuration file with every key commented out at its default",
     "usage: custodia config example\n"
     "\n"
     "Prints an INI file in which every configuration key is commented out at its default,\n"
     "with its meaning (the package installs it as /etc/custodia/custodia.ini).\n",
     cmd_config_example},
    {"completion bash", "print the bash completion script",
     "usage: custodia completion bash\n"
     "\n"
     "Prints the bash completion script (scripts/completion/custodia.bash). Use it with\n"
     "  source <(custodia completion bash)\n",
     cmd_completion},
    {"version", "print the version", "usage: custodia version\n", cmd_version},
    {"help", "list the commands, or print one's usage",
     "usage: custodia help [COMMAND...]\n"
     "\n"
     "Lists the commands, or prints the usage of one (custodia help backup create).\n",
     cmd_help},
};
const size_t cst_cli_ncommands = sizeof(cst_cli_commands) / sizeof(cst_cli_commands[0]);

int main(int argc, char **argv)
{
    cst_cli_harden_process();
    if (cst_crypto_init() != CST_OK || cst_totp_init() != CST_OK) {
        fprintf(stderr, "custodia: cannot initialise cryptography\n");
        return 1;
    }
    return cst_cli_dispatch(argc, argv);
}
