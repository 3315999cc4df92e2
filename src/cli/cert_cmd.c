/* cert_cmd.c: custodia cert verify FILE: checks a certificate of deletion (RET-4) against the
 * node's Ed25519 public key. Read-only: works beside a serving node, or anywhere with the
 * node's published key file. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "lifecycle/lifecycle.h"
#include "util/json.h"
#include "util/util.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: custodia cert verify FILE [--public-key FILE] [--data-dir DIR] [--json]\n");
}

int cst_cli_cert(int argc, char **argv)
{
    const char *pub = NULL, *data_dir = "./var";
    bool json = false;
    const cst_cli_opt opts[] = {CST_CLI_VALUE("public-key", &pub),
                                CST_CLI_VALUE("data-dir", &data_dir), CST_CLI_FLAG("json", &json),
                                CST_CLI_END};
    int first, rc = cst_cli_parse_verb(&argc, &argv, "verify", opts, usage, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    if (first != argc - 1) {
        fprintf(stderr, "custodia cert verify: give one certificate file\n");
        return 2;
    }
    uint8_t pk[32];
    cst_buf doc;
    cst_buf_init(&doc, 16 * 1024 * 1024);
    json_t *cert = NULL;
    cst_err e = pub ? cst_node_public_key_file(pub, pk) : cst_node_public_key(data_dir, pk);
    if (e == CST_OK)
        e = cst_file_read(argv[first], 16 * 1024 * 1024, &doc);
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
        cst_json_free_text(s);
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
