/* main.c: custodia's one binary: init and serve (SPEC §4). */
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

static void usage(FILE *f)
{
    fprintf(f,
            "usage: custodia <command> [options]\n"
            "\n"
            "  init  --data-dir DIR [--region R] [--master-key-file F | --master-key SOURCE]\n"
            "        [--pin-file F] [--operator-username NAME]\n"
            "        [--json]\n"
            "        create a data dir, its keys, TLS certificate and first operator (NAME,\n"
            "        default admin)\n"
            "  serve [--config FILE] [--data-dir DIR] [--listen ADDR:PORT] [--master-key-file F]\n"
            "        serve the HTTPS API (default https://127.0.0.1:8443)\n"
            "  audit verify [--seal-key K0FILE] [--config FILE] [--data-dir DIR]\n"
            "        [--master-key-file F] [--json]\n"
            "        check the audit log's hash chain and, with K0, every seal (exit 1 when\n"
            "        it fails, naming the first bad entry)\n"
            "  audit verify --dir DIR [--seal-key K0FILE] [--json]\n"
            "        check an export (chains, seals, and that it holds what it lists)\n"
            "  audit export --to DIR [--since TIME] [--until TIME] [--json]\n"
            "        copy the segments covering the window, with their seals, for an auditor\n"
            "        (beside a serving node too; also takes --config, --data-dir)\n"
            "  backup create [--to DIR]      take a backup now (node stopped; a serving node\n"
            "                                takes them on its schedule or POST /v1/sys/backups)\n"
            "  backup list [--dir DIR] [--json]\n"
            "  backup verify PATH [--public-key FILE] [--scratch DIR] [--json]\n"
            "  backup restore --from PATH --data-dir DIR [--tenant ID] [--seal-key-out FILE]\n"
            "                 [--old-master-key SOURCE]\n"
            "                 [--public-key FILE] [--region R]\n"
            "        a whole node into a new data dir, or one tenant into a stopped node\n"
            "  backup drill                  restore the newest backup into scratch space,\n"
            "                                decrypt every record, record the result\n"
            "        (every backup command also takes --config, --data-dir, --master-key-file)\n"
            "  cert verify FILE [--public-key FILE] [--data-dir DIR] [--json]\n"
            "        check a certificate of deletion against the node's public key\n"
            "        (default <data-dir>/node-signing.pub; exit 1 when it fails)\n"
            "  report [--format json|html|oscal] [--out FILE]\n"
            "        the compliance report: every control's status and evidence, signed by\n"
            "        the node's key (also takes --config, --data-dir, --master-key-file)\n"
            "  report verify FILE [--public-key FILE] [--data-dir DIR] [--json]\n"
            "        check a report's signature (exit 1 when it fails)\n"
            "  operator unlock NAME          end an operator's lockout (node stopped; a serving\n"
            "                                node: PATCH /v1/sys/operators/{id} by a sys-admin)\n"
            "        (also takes --config, --data-dir, --master-key-file, --json)\n"
            "  keys rotate-master --new SOURCE\n"
            "        rewrap every tenant key and the root key under a new master key (node\n"
            "        stopped; SOURCE file:PATH | command:CMD | pkcs11:URI); then start with it\n"
            "        (also takes --config, --data-dir, --master-key-file, --json)\n"
            "  config reference              print every configuration key with its default,\n"
            "                                bounds and meaning (docs/configuration.md)\n"
            "  version\n"
            "\n"
            "Defaults: --data-dir ./var; --master-key-file <parent of data dir>/"
            "custodia-master.key.\n");
}

static int fail(const char *cmd, cst_err e)
{
    fprintf(stderr, "custodia %s: %s\n", cmd, cst_err_message(e));
    return 1;
}

static int cmd_init(int argc, char **argv)
{
    const char *data_dir = "./var", *region = "local", *key = NULL, *operator= "admin";
    const char *source = NULL, *pin_file = NULL;
    bool json = false;
    const cst_cli_opt opts[] = {CST_CLI_VALUE("data-dir", &data_dir),
                                CST_CLI_VALUE("region", &region),
                                CST_CLI_VALUE("master-key-file", &key),
                                CST_CLI_VALUE("master-key", &source),
                                CST_CLI_VALUE("pin-file", &pin_file),
                                CST_CLI_VALUE("operator-username", &operator),
                                CST_CLI_FLAG("json", &json),
                                CST_CLI_END};
    int first, rc = cst_cli_parse(argc, argv, opts, usage, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    cst_config cfg;
    cst_config_defaults(&cfg);
    cst_err e = cst_config_set(&cfg, "node", "data_dir", data_dir);
    if (e == CST_OK && key)
        e = cst_config_set(&cfg, "node", "master_key_file", key);
    if (e == CST_OK && source)
        e = cst_config_set(&cfg, "keys", "master_key", source);
    if (e == CST_OK && pin_file)
        e = cst_config_set(&cfg, "keys", "pin_file", pin_file);
    if (e == CST_OK)
        e = cst_config_finish(&cfg);
    if (e == CST_OK)
        e = cst_node_init(&cfg, region, operator, json);
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

static int cmd_serve(int argc, char **argv)
{
    cst_cli_node_args a = {0};
    const char *listen = NULL;
    const cst_cli_opt opts[] = {CST_CLI_NODE_OPTS(a), CST_CLI_VALUE("listen", &listen),
                                CST_CLI_END};
    int first, rc = cst_cli_parse(argc, argv, opts, usage, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
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

static int audit_verify(int argc, char **argv)
{
    cst_cli_node_args a = {0};
    const char *seal = NULL, *dir = NULL;
    bool json = false;
    const cst_cli_opt opts[] = {CST_CLI_NODE_OPTS(a), CST_CLI_VALUE("seal-key", &seal),
                                CST_CLI_VALUE("dir", &dir), CST_CLI_FLAG("json", &json),
                                CST_CLI_END};
    int first, rc = cst_cli_parse_verb(&argc, &argv, "verify", opts, usage, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    if (dir)
        return audit_verify_dir(dir, seal, json);
    cst_config cfg;
    cst_key k0 = {0}, kek = {0};
    char epoch_file[PATH_MAX];
    cst_err e = cst_cli_config(&cfg, a.config, a.data_dir, a.key, NULL);
    if (e == CST_OK)
        e = cst_node_check_data_dir(cfg.data_dir);
    if (e == CST_OK)
        e = cst_fmt(epoch_file, sizeof(epoch_file), "%s/audit/epoch.key", cfg.data_dir);
    if (e == CST_OK && seal)
        e = load_seal_key(seal, &k0);
    /* With the master key too, the node's current seal key is checked against K0. */
    bool have_kek = false;
    if (e == CST_OK && seal &&
        (strncmp(cfg.master_key, "file:", 5) != 0 || cst_path_exists(cfg.master_key_file))) {
        have_kek = cst_node_root_key(&cfg, true, &kek) == CST_OK;
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
static int audit_export(int argc, char **argv)
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
    int first, rc = cst_cli_parse(argc, argv, opts, usage, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    if (!to) {
        fprintf(stderr, "custodia audit export: --to DIR is required\n");
        return 2;
    }
    cst_config cfg;
    int64_t since_us = 0, until_us = INT64_MAX;
    cst_err e = cst_cli_config(&cfg, a.config, a.data_dir, a.key, NULL);
    if (e == CST_OK)
        e = cst_node_check_data_dir(cfg.data_dir);
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

static int cmd_audit(int argc, char **argv)
{
    if (cst_cli_verb(&argc, &argv, "export"))
        return audit_export(argc, argv);
    return audit_verify(argc, argv);
}

static int cmd_config(int argc, char **argv)
{
    /* docs/configuration.md is this output (ctest cli.config_reference). */
    if (argc == 2 && strcmp(argv[1], "reference") == 0) {
        cst_config_reference(stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    bool help = argc == 3 && strcmp(argv[1], "reference") == 0 && strcmp(argv[2], "--help") == 0;
    usage(help ? stdout : stderr);
    return help ? 0 : 2;
}

static int cmd_version(int argc, char **argv)
{
    printf("custodia %s\n", CUSTODIA_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv)
{
    usage(stdout);
    return 0;
}

/* The commands: each runs with argv[0] the program and argv[1] its first argument. */
static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"init", cmd_init},         {"serve", cmd_serve},       {"audit", cmd_audit},
    {"backup", cst_cli_backup}, {"cert", cst_cli_cert},     {"operator", cst_cli_operator},
    {"keys", cst_cli_keys},     {"report", cst_cli_report}, {"config", cmd_config},
    {"version", cmd_version},   {"--version", cmd_version}, {"help", cmd_help},
    {"--help", cmd_help},
};

int main(int argc, char **argv)
{
    cst_cli_harden_process();
    if (cst_crypto_init() != CST_OK || cst_totp_init() != CST_OK) {
        fprintf(stderr, "custodia: cannot initialise cryptography\n");
        return 1;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    argv[1] = argv[0];
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "custodia: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}
