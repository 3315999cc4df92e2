/* cert_cmd.c: custodia cert verify FILE: checks a certificate of deletion (RET-4) against the
 * node's Ed25519 public key. Read-only: works beside a serving node, or anywhere with the
 * node's published key file. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lifecycle/lifecycle.h"
#include "util/util.h"

int cst_cli_cert(int argc, char **argv)
{
    static const struct option opts[] = {{"public-key", required_argument, 0, 'p'},
                                         {"data-dir", required_argument, 0, 'd'},
                                         {"json", no_argument, 0, 'j'},
                                         {0, 0, 0, 0}};
    const char *pub = NULL, *data_dir = "./var";
    bool json = false;
    int c;
    optind = 1;
    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        fprintf(stderr, "usage: custodia cert verify FILE [--public-key FILE] [--data-dir DIR] "
                        "[--json]\n");
        return 2;
    }
    argv[1] = argv[0];
    argc--;
    argv++;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'p')
            pub = optarg;
        else if (c == 'd')
            data_dir = optarg;
        else if (c == 'j')
            json = true;
        else
            return 2;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "custodia cert verify: give one certificate file\n");
        return 2;
    }
    uint8_t pk[32];
    cst_buf doc;
    cst_buf_init(&doc, 16 * 1024 * 1024);
    json_t *cert = NULL;
    cst_err e = pub ? cst_node_public_key_file(pub, pk) : cst_node_public_key(data_dir, pk);
    if (e == CST_OK)
        e = cst_file_read(argv[optind], 16 * 1024 * 1024, &doc);
    if (e == CST_OK)
        e = cst_certificate_verify(doc.data, doc.len, pk, &cert);
    cst_buf_free(&doc);
    const char *id = json_string_value(json_object_get(cert, "certificate_id"));
    json_t *tenant = json_object_get(cert, "tenant");
    if (json) {
        json_t *o = e == CST_OK ? json_pack("{s:b,s:s,s:O}", "ok", 1, "certificate_id", id ?: "",
                                            "tenant", tenant)
                                : json_pack("{s:b,s:s}", "ok", 0, "error", cst_err_message(e));
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else if (e == CST_OK) {
        printf("OK: certificate %s of the erase of tenant %s (%s) is signed by the node's key\n",
               id ?: "?", json_string_value(json_object_get(tenant, "name")) ?: "?",
               json_string_value(json_object_get(tenant, "id")) ?: "?");
    } else {
        printf("FAILED: %s\n", cst_err_message(e));
    }
    json_decref(cert);
    return e == CST_OK ? 0 : 1;
}
