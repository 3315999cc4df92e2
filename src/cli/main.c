/* main.c: custodia's one binary: init and serve (SPEC §4). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "crypto/crypto.h"
#include "crypto/totp.h"
#include "node/node.h"
#include "util/util.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: custodia <command> [options]\n"
            "\n"
            "  init  --data-dir DIR [--region R] [--master-key-file F] [--json]\n"
            "        create a data dir, its keys, TLS certificate and first operator\n"
            "  serve [--config FILE] [--data-dir DIR] [--listen ADDR:PORT] [--master-key-file F]\n"
            "        serve the HTTPS API (default https://127.0.0.1:8443)\n"
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
    static const struct option opts[] = {{"data-dir", required_argument, 0, 'd'},
                                         {"region", required_argument, 0, 'r'},
                                         {"master-key-file", required_argument, 0, 'k'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *data_dir = "./var", *region = "local", *key = NULL;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            data_dir = optarg;
            break;
        case 'r':
            region = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    char key_path[PATH_MAX];
    cst_err e = key ? cst_fmt(key_path, sizeof(key_path), "%s", key)
                    : cst_config_default_key_path(data_dir, "custodia-master.key", key_path,
                                                  sizeof(key_path));
    if (e == CST_OK)
        e = cst_node_init(data_dir, key_path, region, json);
    return e == CST_OK ? 0 : fail("init", e);
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"data-dir", required_argument, 0, 'd'},
        {"listen", required_argument, 0, 'l'}, {"master-key-file", required_argument, 0, 'k'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *config = NULL, *data_dir = NULL, *listen = NULL, *key = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    cst_config cfg;
    cst_config_defaults(&cfg);
    cst_err e = config ? cst_config_load(&cfg, config) : CST_OK;
    /* flags override the file */
    if (e == CST_OK && data_dir)
        e = cst_config_set(&cfg, "node", "data_dir", data_dir);
    if (e == CST_OK && key)
        e = cst_config_set(&cfg, "node", "master_key_file", key);
    if (e == CST_OK && listen)
        e = cst_config_set_listen(&cfg, listen);
    if (e == CST_OK)
        e = cst_config_finish(&cfg);
    if (e != CST_OK)
        return fail("serve", e);
    return cst_cli_serve(&cfg);
}

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
    if (strcmp(cmd, "init") == 0)
        return cmd_init(argc - 1, argv + 1);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("custodia %s\n", CUSTODIA_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "custodia: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}
