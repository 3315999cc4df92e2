/* operator_cmd.c: custodia operator unlock NAME: ends an operator's lockout (IAM-2) on a
 * stopped node, for when no sys-admin can sign in to PATCH /v1/sys/operators/{id}. Takes the
 * data dir's lock (refuses beside a serving node) and leaves an audit entry. */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "core/account.h"
#include "node/node.h"
#include "util/json.h"
#include "util/util.h"

/* Unlocks operator name in the stopped node's system store, with an audit entry either way. */
static cst_err unlock(const cst_config *cfg, const char *name, cst_user_row *u, bool *was_locked)
{
    cst_node n;
    int lock_fd = -1;
    cst_err e = cst_cli_offline_open(cfg,
                                     "a sys-admin unlocks with PATCH /v1/sys/operators/{id} "
                                     "{\"unlock\": true}; or stop the node first",
                                     &n, &lock_fd);
    if (e == CST_OK) {
        e = cst_store_user_by_name(n.store, NULL, CST_SYS_TENANT, name, u);
        if (e == CST_ERR_NOT_FOUND)
            e = cst_fail(e, "no operator is named \"%s\"", name);
    }
    if (e == CST_OK) {
        *was_locked = u->locked_until > cst_now_us();
        e = cst_store_login_unlock(n.store, NULL, u->id);
    }
    if (n.audit) {
        char saved[512], resource[64] = "/v1/sys/operators";
        (void)snprintf(saved, sizeof(saved), "%s", cst_err_message(e));
        struct passwd *pw = getpwuid(getuid());
        json_t *info =
            json_pack("{s:s,s:s}", "via", "cli", "os_user", pw ? pw->pw_name : "unknown");
        if (e == CST_OK) {
            (void)snprintf(resource, sizeof(resource), "/v1/sys/operators/%s", u->id);
            json_object_set_new(info, "was_locked", json_boolean(*was_locked));
        } else
            json_object_set_new(info, "error", json_string(saved));
        cst_node_audit_event(&n, "sys.operator.unlock", e == CST_OK ? "success" : "failure", NULL,
                             resource, info);
        if (e != CST_OK)
            e = cst_fail(e, "%s", saved);
    }
    cst_cli_offline_close(&n, lock_fd);
    return e;
}

int cst_cli_operator_unlock(const cst_cli_command *cmd, int argc, char **argv)
{
    cst_cli_node_args a = {0};
    bool json = false;
    const cst_cli_opt opts[] = {CST_CLI_NODE_OPTS(a), CST_CLI_FLAG("json", &json), CST_CLI_END};
    int first, rc = cst_cli_parse(cmd, argc, argv, opts, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    if (first != argc - 1)
        return cst_cli_usage_error(cmd, "give one operator's name");
    const char *name = argv[first];
    cst_config cfg;
    cst_user_row u;
    bool was_locked = false;
    cst_err e = cst_cli_config(&cfg, a.config, a.data_dir, a.key, NULL);
    if (e == CST_OK)
        e = cst_account_check_username(name);
    if (e == CST_OK)
        e = unlock(&cfg, name, &u, &was_locked);
    if (e != CST_OK) {
        fprintf(stderr, "custodia operator unlock: %s\n", cst_err_message(e));
        return 1;
    }
    if (json)
        printf("{\"id\":\"%s\",\"username\":\"%s\",\"was_locked\":%s}\n", u.id, u.username,
               was_locked ? "true" : "false");
    else
        printf("operator %s (%s) unlocked%s; the failure count restarts\n", u.username, u.id,
               was_locked ? "" : " (it was not locked)");
    return 0;
}
