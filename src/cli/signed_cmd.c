/* signed_cmd.c: the part every "verify a signed document" command shares (cert verify, report
 * verify): --public-key, --data-dir and --json, one file, the node's public key, the check. */
#include <stdio.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "node/node.h"
#include "util/json.h"
#include "util/util.h"

#define DOC_MAX (64 * 1024 * 1024)

int cst_cli_verify_signed(const cst_cli_command *cmd, int argc, char **argv, cst_cli_check check,
                          json_t **body, bool *json, cst_err *e)
{
    const char *pub = NULL, *data_dir = "./var";
    const cst_cli_opt opts[] = {CST_CLI_VALUE("public-key", &pub),
                                CST_CLI_VALUE("data-dir", &data_dir), CST_CLI_FLAG("json", json),
                                CST_CLI_END};
    int first, rc = cst_cli_parse(cmd, argc, argv, opts, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    if (first != argc - 1)
        return cst_cli_usage_error(cmd, "give one file");
    uint8_t pk[32];
    cst_buf doc;
    cst_buf_init(&doc, DOC_MAX);
    *e = pub ? cst_node_public_key_file(pub, pk) : cst_node_public_key(data_dir, pk);
    if (*e == CST_OK)
        *e = cst_file_read(argv[first], DOC_MAX, &doc);
    if (*e == CST_OK)
        *e = check(doc.data, doc.len, pk, body);
    cst_buf_free(&doc);
    return CST_CLI_CONTINUE;
}

int cst_cli_print_verified(bool json, cst_err e, json_t *fields, const char *ok_line)
{
    if (json) {
        json_t *o = e == CST_OK ? json_pack("{s:b}", "ok", 1)
                                : json_pack("{s:b,s:s}", "ok", 0, "error", cst_err_message(e));
        if (o && e == CST_OK && fields)
            json_object_update(o, fields);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        printf("%s\n", s ? s : "{}");
        cst_json_free_text(s);
        json_decref(o);
    } else if (e == CST_OK) {
        printf("OK: %s\n", ok_line);
    } else {
        printf("FAILED: %s\n", cst_err_message(e));
    }
    json_decref(fields);
    return e == CST_OK ? 0 : 1;
}
