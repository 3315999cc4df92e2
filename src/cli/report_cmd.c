/* report_cmd.c: custodia report (EVD-1): the compliance report of a node, signed with its key,
 * and custodia report verify FILE. Beside a serving node the report is read-only: the node owns
 * its audit log, so the report says "audited": false and the command says so (GET
 * /v1/sys/report records a report.generated entry). With the node stopped it takes the data
 * dir's lock and records the entry itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "report/report.h"
#include "util/json.h"
#include "util/util.h"

int cst_cli_report_verify(const cst_cli_command *cmd, int argc, char **argv)
{
    json_t *report = NULL;
    bool json = false;
    cst_err e = CST_OK;
    int rc = cst_cli_verify_signed(cmd, argc, argv, cst_report_verify, &report, &json, &e);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    const char *id = json_string_value(json_object_get(report, "report_id"));
    const char *at = json_string_value(json_object_get(report, "generated_at"));
    char line[256];
    (void)snprintf(line, sizeof(line), "report %s of %s is signed by the node's key", id ?: "?",
                   at ?: "?");
    rc = cst_cli_print_verified(
        json, e,
        e == CST_OK ? json_pack("{s:s,s:s}", "report_id", id ?: "", "generated_at", at ?: "")
                    : NULL,
        line);
    json_decref(report);
    return rc;
}

/* The node beside which the report is made: stopped (locked, audited) or serving (read-only). */
static cst_err open_node(const cst_config *cfg, cst_node *n, int *lock_fd, bool *audited)
{
    *audited = true;
    cst_err e = cst_cli_offline_open(cfg, "", n, lock_fd);
    if (e != CST_ERR_CONFLICT)
        return e;
    cst_err_clear();
    cst_cli_offline_close(n, *lock_fd);
    *lock_fd = -1;
    *audited = false;
    return cst_node_open(n, cfg);
}

int cst_cli_report(const cst_cli_command *cmd, int argc, char **argv)
{
    cst_cli_node_args a = {0};
    const char *format = "json", *out = NULL;
    const cst_cli_opt opts[] = {CST_CLI_NODE_OPTS(a), CST_CLI_VALUE("format", &format),
                                CST_CLI_VALUE("out", &out), CST_CLI_END};
    int first, rc = cst_cli_parse(cmd, argc, argv, opts, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    if (first != argc)
        return cst_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
    const cst_report_form *form = cst_report_form_named(format);
    if (!form)
        return cst_cli_usage_error(cmd, "--format must be json, html or oscal");
    cst_config cfg;
    cst_node n;
    int lock_fd = -1;
    bool audited = false;
    memset(&n, 0, sizeof(n));
    cst_err e = cst_cli_config(&cfg, a.config, a.data_dir, a.key, NULL);
    if (e == CST_OK)
        e = open_node(&cfg, &n, &lock_fd, &audited);
    cst_report_scope scope = {.generated_by = "cli", .requested_by = "cli", .audited = audited};
    json_t *report = NULL;
    char *doc = NULL, *rendered = NULL, sha[65];
    if (e == CST_OK)
        e = cst_report_build(&n, &scope, cst_now_us(), &report);
    if (e == CST_OK)
        e = cst_report_sign(&n, report, &doc, sha);
    if (e == CST_OK && form->render)
        e = form->render(report, &rendered);
    const char *text = rendered ? rendered : doc;
    if (e == CST_OK && audited)
        cst_node_audit_event(&n, "report.generated", "success", NULL, "report",
                             json_pack("{s:O,s:s,s:s,s:O}", "report_id",
                                       json_object_get(report, "report_id"), "sha256", sha,
                                       "format", form->name, "counts",
                                       json_object_get(report, "counts")));
    if (e == CST_OK && out)
        e = cst_file_create(out, text, strlen(text), 0644);
    else if (e == CST_OK)
        printf("%s\n", text);
    if (e == CST_OK && !audited)
        fprintf(stderr,
                "custodia report: a node is serving %s: this report is not recorded in "
                "its audit log (GET /v1/sys/report records one)\n",
                cfg.data_dir);
    free(rendered);
    cst_json_free_text(doc);
    json_decref(report);
    cst_cli_offline_close(&n, lock_fd);
    if (e != CST_OK) {
        fprintf(stderr, "custodia report: %s\n", cst_err_message(e));
        return 1;
    }
    return 0;
}
