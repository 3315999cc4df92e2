/* keys_cmd.c: custodia keys rotate-master --new SOURCE: rewraps every wrapped key of a stopped
 * node under a new master key (ENC-4, node/kekrot.c). Takes the data dir's lock (refuses beside
 * a serving node) and leaves an audit entry either way. */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "node/node.h"
#include "util/json.h"
#include "util/util.h"

static cst_err rotate(const cst_config *cfg, const char *source, json_t **out)
{
    cst_node n;
    int lock_fd = -1;
    cst_err e = cst_cli_offline_open(cfg, "stop the node first", &n, &lock_fd);
    if (e == CST_OK)
        e = cst_node_rotate_master(&n, source, cst_now_us(), out);
    if (n.audit) {
        char saved[512];
        (void)snprintf(saved, sizeof(saved), "%s", cst_err_message(e));
        struct passwd *pw = getpwuid(getuid());
        json_t *info = e == CST_OK ? json_deep_copy(*out) : json_object();
        json_object_set_new(info, "via", json_string("cli"));
        json_object_set_new(info, "os_user", json_string(pw ? pw->pw_name : "unknown"));
        if (e != CST_OK)
            json_object_set_new(info, "error", json_string(saved));
        cst_node_audit_event(&n, "sys.keys.rotate_master", e == CST_OK ? "success" : "failure",
                             NULL, "/v1/sys/keys", info);
        if (e != CST_OK)
            e = cst_fail(e, "%s", saved);
    }
    cst_cli_offline_close(&n, lock_fd);
    return e;
}

int cst_cli_keys_rotate_master(const cst_cli_command *cmd, int argc, char **argv)
{
    cst_cli_node_args a = {0};
    const char *source = NULL;
    bool json = false;
    const cst_cli_opt opts[] = {CST_CLI_NODE_OPTS(a), CST_CLI_VALUE("new", &source),
                                CST_CLI_FLAG("json", &json), CST_CLI_END};
    int first, rc = cst_cli_parse(cmd, argc, argv, opts, &first);
    if (rc != CST_CLI_CONTINUE)
        return rc;
    if (first != argc)
        return cst_cli_usage_error(cmd, "unexpected argument \"%s\"", argv[first]);
    if (!source)
        return cst_cli_usage_error(cmd, "--new SOURCE is required");
    cst_config cfg;
    json_t *out = NULL;
    cst_err e = cst_cli_config(&cfg, a.config, a.data_dir, a.key, NULL);
    if (e == CST_OK)
        e = rotate(&cfg, source, &out);
    if (e != CST_OK) {
        fprintf(stderr, "custodia keys rotate-master: %s\n", cst_err_message(e));
        return 1;
    }
    if (json) {
        char *s = json_dumps(out, JSON_COMPACT);
        printf("%s\n", s ? s : "{}");
        cst_json_free_text(s);
    } else {
        printf("master key rotated: %lld wrapped keys and the root key moved from key id %s to "
               "key id %s (%s); set keys.master_key = %s before the next start: key id %s no "
               "longer opens this data dir\n",
               (long long)json_integer_value(json_object_get(out, "keys_rewrapped")),
               json_string_value(json_object_get(out, "old_kek_id")),
               json_string_value(json_object_get(out, "new_kek_id")),
               json_string_value(json_object_get(out, "source")), source,
               json_string_value(json_object_get(out, "old_kek_id")));
    }
    json_decref(out);
    return 0;
}
