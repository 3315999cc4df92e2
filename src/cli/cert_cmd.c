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

int cst_cli_cert_verify(const cst_cli_command *cmd, int argc, char **argv)
{
    json_t *cert = NULL;
    bool json = false;
    cst_err e = CST_OK;
    int rc = cst_cli_verify_signed(cmd, argc, argv, cst_certificate_verify, &cert, &json, &e);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    const char *id = json_string_value(json_object_get(cert, "certificate_id"));
    json_t *tenant = json_object_get(cert, "tenant");
    char line[512];
    (void)snprintf(line, sizeof(line),
                   "certificate %s of the erase of tenant %s (%s) is signed by the node's key",
                   id ?: "?", json_string_value(json_object_get(tenant, "name")) ?: "?",
                   json_string_value(json_object_get(tenant, "id")) ?: "?");
    rc = cst_cli_print_verified(
        json, e,
        e == CST_OK ? json_pack("{s:s,s:O}", "certificate_id", id ?: "", "tenant", tenant) : NULL,
        line);
    json_decref(cert);
    return rc;
}
