/* test_api_objstore.c: backups to object storage with the worked rclone example of
 * docs/operations.md (scripts/backup/rclone-*.sh as backup.command, fetch_command,
 * list_command and prune_command), against a real server and the real CLI: a backup lands in
 * the store and nowhere else, `backup list` shows it as remote, `backup verify ID` fetches and
 * checks it (and fails on a damaged or missing one), a tenant and a whole node restore from it,
 * prune removes what retention says and nothing sooner; the store's credential comes from
 * backup.command_env_file and appears in no command line of the spawned processes, nor in the
 * server's own environment.
 *
 * The test cannot reach S3: Debian's rclone (1.60) has no `serve s3`, so the remote is rclone's
 * local backend, defined the way an S3 remote is (RCLONE_CONFIG_<NAME>_* variables in the env
 * file); the scripts and rclone run exactly as they would against S3. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup/backup.h"
#include "crypto/crypto.h"
#include "util/util.h"
#include "harness.h"
#include "store_fixture.h"

#define CANARY "cst-canary-s3-secret-5d81e0"

static ts_server srv;
static char *op, *owner;
static char tenant[32];
static char store_dir[400], remote[420], ini[300], cmdlog[300];

static const char *bin(void)
{
    return getenv("CUSTODIA_BIN");
}

/* Runs the CLI with the node's config; its standard output into out, the exit status back. */
static int cli(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cli(char *out, size_t n, const char *fmt, ...)
{
    char args[2048], cmd[3072];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "%s %s --config %s --data-dir %s 2>>%s/cli.err", bin(), args, ini,
             srv.data_dir, srv.root);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The objects in the store whose name starts with prefix. */
static int objects(const char *prefix)
{
    return ts_count_prefix(store_dir, prefix);
}

/* The entry of id in `backup list --json` (a new reference), or NULL. */
static json_t *listed(const char *id)
{
    char out[65536];
    assert_int_equal(cli(out, sizeof(out), "backup list --json"), 0);
    json_t *list = json_loads(out, 0, NULL);
    assert_true(json_is_array(list));
    json_t *found = NULL, *b;
    size_t i;
    json_array_foreach(list, i, b)
    {
        if (!strcmp(json_string_value(json_object_get(b, "backup_id")), id))
            found = json_incref(b);
    }
    json_decref(list);
    return found;
}

static const char *where(const char *id, char *buf, size_t n)
{
    json_t *b = listed(id);
    snprintf(buf, n, "%s", b ? json_string_value(json_object_get(b, "where")) : "(absent)");
    json_decref(b);
    return buf;
}

static char *take_backup(void)
{
    ts_resp r;
    ts_request(&srv, "POST", "/v1/sys/backups", op, NULL, NULL, 0, NULL, &r);
    if (r.status != 201)
        fail_msg("backup: %ld %s", r.status, r.body ? r.body : "");
    const char *loc = json_string_value(json_object_get(r.json, "location"));
    assert_non_null(loc);
    assert_true(strncmp(loc, "command:bk_", 11) == 0);
    char *id = strdup(loc + 8);
    ts_resp_free(&r);
    return id;
}

static int setup(void **state)
{
    ts_init(&srv);
    snprintf(store_dir, sizeof(store_dir), "%s/bucket/node-1", srv.root);
    snprintf(remote, sizeof(remote), "objstore:%s", store_dir);
    snprintf(ini, sizeof(ini), "%s/custodia.ini", srv.root);
    snprintf(cmdlog, sizeof(cmdlog), "%s/cmdlines.log", srv.root);
    /* rclone on the commands' PATH is a wrapper that records the command line of itself and of
     * the processes above it (the script, custodia's sh -c, the server) and whether the
     * credential reached it through the environment, then runs the real rclone */
    if (ts_sh("mkdir -p %s/bin %s/bk && cat > %s/bin/rclone <<'EOF'\n"
              "#!/bin/sh\n"
              "p=$$\n"
              "for i in 1 2 3 4; do\n"
              "  [ -r /proc/$p/cmdline ] || break\n"
              "  { printf 'cmdline: '; tr '\\0' ' ' < /proc/$p/cmdline; echo; } >> %s\n"
              "  p=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f2)\n"
              "done\n"
              "[ -n \"${RCLONE_CONFIG_OBJSTORE_SECRET_ACCESS_KEY:-}\" ] && "
              "echo 'credential: in the environment' >> %s\n"
              "exec /usr/bin/rclone \"$@\"\n"
              "EOF\n"
              "chmod 755 %s/bin/rclone",
              srv.root, srv.root, srv.root, cmdlog, cmdlog, srv.root) != 0)
        return -1;
    /* the env file: the remote and its credential, as for S3 (type = s3, access keys) */
    if (ts_sh("umask 077 && printf '%%s\\n' '# object store credentials' "
              "'PATH=%s/bin:/usr/local/bin:/usr/bin:/bin' 'RCLONE_CONFIG=/dev/null' "
              "'RCLONE_CONFIG_OBJSTORE_TYPE=local' "
              "'RCLONE_CONFIG_OBJSTORE_SECRET_ACCESS_KEY=" CANARY "' > %s/backup.env",
              srv.root, srv.root) != 0)
        return -1;
    const char *s = CUSTODIA_SOURCE_DIR "/scripts/backup";
    int len = snprintf(srv.extra_config, sizeof(srv.extra_config),
                       "[backup]\ninterval = 0\ndir = %s/bk\n"
                       "command = %s/rclone-put.sh %s\n"
                       "fetch_command = %s/rclone-fetch.sh %s\n"
                       "list_command = %s/rclone-list.sh %s\n"
                       "prune_command = %s/rclone-prune.sh %s\n"
                       "command_env_file = %s/backup.env\ncommand_timeout = 60\n"
                       /* the sandbox: the scripts run, the store and the logs are written */
                       "[node]\nsandbox_read_paths = %s\nsandbox_write_paths = %s\n",
                       srv.root, s, remote, s, remote, s, remote, s, remote, srv.root, s, srv.root);
    if (len >= (int)sizeof(srv.extra_config))
        return -1;
    if (!(owner = ts_start_tenant(&srv, &op, "objstore", tenant)))
        return -1;
    ts_bucket(&srv, owner, "b");
    const char *vals[] = {"alpha", "beta", "gamma"};
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof(key), "k%d", i);
        if (ts_put(&srv, owner, "b", key, "text/plain", vals[i], strlen(vals[i])) != 201)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    return ts_finish(&srv, 2, op, owner);
}

static char first_id[32];

static void test_bak1_backup_lands_in_the_store_with_credentials_off_the_command_line(void **state)
{
    char *id = take_backup();
    snprintf(first_id, sizeof(first_id), "%s", id);
    char obj[512];
    snprintf(obj, sizeof(obj), "%s/%s", store_dir, id);
    struct stat st;
    assert_int_equal(stat(obj, &st), 0);
    assert_true(st.st_size > 1000);
    assert_int_equal(objects("bk_"), 1);
    assert_int_equal(ts_sh("ls %s | grep -q part", store_dir), 1);  /* no partial upload left */
    assert_int_equal(ts_sh("ls %s/bk | grep -q bk_", srv.root), 1); /* and no local copy */
    /* rclone ran (rcat, then the rename), with its credential from the env file; no command
     * line of it, the script, custodia's shell or the server holds the credential */
    assert_int_equal(ts_sh("grep -q 'rclone-put.sh %s' %s", remote, cmdlog), 0);
    assert_int_equal(ts_sh("grep -q 'rclone rcat %s/%s.part' %s", remote, id, cmdlog), 0);
    assert_int_equal(ts_sh("grep -q 'custodia serve' %s", cmdlog), 0);
    assert_int_equal(ts_sh("grep -q 'credential: in the environment' %s", cmdlog), 0);
    assert_int_equal(ts_sh("grep -q '" CANARY "' %s", cmdlog), 1);
    /* the file is read for each command: the server's own environment never holds it */
    assert_int_equal(ts_sh("tr '\\0' '\\n' < /proc/%d/environ | grep -q '" CANARY "'", srv.pid), 1);
    /* an env file others can read is refused, naming the key and the fix */
    assert_int_equal(ts_sh("chmod 644 %s/backup.env", srv.root), 0);
    ts_resp r;
    ts_request(&srv, "POST", "/v1/sys/backups", op, NULL, NULL, 0, NULL, &r);
    assert_true(r.status >= 400);
    assert_non_null(strstr(r.body, "backup.command_env_file"));
    assert_non_null(strstr(r.body, "must be 0600"));
    ts_resp_free(&r);
    /* and a node does not start with it: found at start, not at the first backup */
    assert_int_equal(ts_stop(&srv), 0);
    assert_false(ts_start(&srv));
    assert_int_equal(
        ts_sh("grep -q 'backup.command_env_file.*must be 0600' %s/serve.log", srv.root), 0);
    assert_int_equal(ts_sh("chmod 600 %s/backup.env", srv.root), 0);
    assert_true(ts_start(&srv));
    assert_int_equal(objects("bk_"), 1);
    free(id);
}

static void test_bak1_list_marks_remote_backups(void **state)
{
    char w[32];
    json_t *b = listed(first_id);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "where")), "remote");
    /* described from the catalogue: the store only gave its name and size */
    assert_non_null(json_string_value(json_object_get(b, "created_at")));
    assert_string_equal(json_string_value(json_object_get(b, "catalogue_status")), "ok");
    assert_true(json_integer_value(json_object_get(b, "size")) > 1000);
    json_decref(b);
    /* a copy in backup.dir too: both places */
    assert_int_equal(ts_sh("cp %s/%s %s/bk/", store_dir, first_id, srv.root), 0);
    assert_string_equal(where(first_id, w, sizeof(w)), "local+remote");
    /* verify ID takes the local copy then, without fetching */
    char out[8192], local[512];
    assert_int_equal(cli(out, sizeof(out), "backup verify %s --json", first_id), 0);
    json_t *rep = json_loads(out, 0, NULL);
    snprintf(local, sizeof(local), "%s/bk/%s", srv.root, first_id);
    assert_string_equal(json_string_value(json_object_get(rep, "source")), local);
    json_decref(rep);
    assert_int_equal(ts_sh("grep -q 'rclone-fetch.sh' %s", cmdlog), 1);
    assert_int_equal(ts_sh("rm %s/bk/%s", srv.root, first_id), 0);
    assert_string_equal(where(first_id, w, sizeof(w)), "remote");
    /* the table says so too; an upload's .part is not a backup */
    assert_int_equal(ts_sh("echo x > %s/bk_00000000000000000000.part", store_dir), 0);
    assert_int_equal(cli(out, sizeof(out), "backup list"), 0);
    assert_non_null(strstr(out, "WHERE"));
    char *line = strstr(out, first_id);
    assert_non_null(line);
    assert_non_null(strstr(line, "remote"));
    assert_null(strstr(out, ".part"));
    assert_int_equal(ts_sh("rm %s/bk_00000000000000000000.part", store_dir), 0);
}

static void test_bak2_verify_by_id_fetches_and_checks(void **state)
{
    char out[16384];
    assert_int_equal(cli(out, sizeof(out), "backup verify %s --json", first_id), 0);
    json_t *rep = json_loads(out, 0, NULL);
    assert_non_null(rep);
    assert_string_equal(json_string_value(json_object_get(rep, "backup_id")), first_id);
    assert_string_equal(json_string_value(json_object_get(rep, "source")),
                        "fetched with backup.fetch_command");
    assert_int_equal(json_integer_value(json_object_get(rep, "records")), 3);
    json_decref(rep);
    assert_int_equal(ts_sh("grep -q 'rclone-fetch.sh %s' %s", remote, cmdlog), 0);
    /* the fetched copy is gone */
    assert_int_equal(ts_sh("ls %s/tmp | grep -q fetch", srv.data_dir), 1);
    /* a damaged object fails verification; a missing one fails to fetch */
    char *second = take_backup();
    assert_int_equal(ts_sh("printf 'XXXX' | dd of=%s/%s bs=1 seek=3000 conv=notrunc 2>/dev/null",
                           store_dir, second),
                     0);
    assert_int_equal(cli(out, sizeof(out), "backup verify %s", second), 1);
    assert_int_equal(ts_sh("grep -q 'custodia backup verify' %s/cli.err", srv.root), 0);
    /* the API fetches too: the good one passes, the damaged one does not */
    const char *want[] = {"ok", "failed"};
    const char *ids[] = {first_id, second};
    for (int i = 0; i < 2; i++) {
        char path[96];
        snprintf(path, sizeof(path), "/v1/sys/backups/%s/verify", ids[i]);
        ts_resp r;
        ts_request(&srv, "POST", path, op, NULL, NULL, 0, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(json_string_value(json_object_get(r.json, "result")), want[i]);
        ts_resp_free(&r);
    }
    assert_int_equal(ts_sh("ls %s/tmp | grep -q fetch", srv.data_dir), 1);
    assert_int_equal(ts_sh("rm %s/%s", store_dir, second), 0);
    assert_int_equal(cli(out, sizeof(out), "backup verify %s", second), 1);
    assert_int_equal(ts_sh("grep -q 'does not exist' %s/cli.err", srv.root), 0);
    assert_int_equal(cli(out, sizeof(out), "backup verify bk_00000000000000000000"), 1);
    assert_int_equal(ts_sh("ls %s/tmp | grep -q fetch", srv.data_dir), 1);
    /* and a drill reads the newest good backup back through the same script */
    free(second);
}

/* A whole-node restore by id into a new data dir beside the node (the fetched copy goes
 * beside it too), with the node's configuration (on PostgreSQL its [store] section names a
 * new database of the target's own, ts_store_dsn of the target dir); its JSON report. */
static json_t *restore_node(const char *id, const char *target)
{
    char out[16384], cmd[4096], dir[512], config[600];
    snprintf(dir, sizeof(dir), "%s/%s", srv.root, target);
    snprintf(config, sizeof(config), "%s", ini);
    if (strcmp(ts_store_driver(), "postgresql") == 0) {
        snprintf(config, sizeof(config), "%s.ini", dir);
        assert_int_equal(
            ts_sh("sed 's|^dsn = .*|dsn = %s|' %s > %s", ts_store_dsn(dir), ini, config), 0);
    }
    snprintf(cmd, sizeof(cmd),
             "%s backup restore --from %s --config %s --data-dir %s --master-key-file %s "
             "--seal-key-out %s.k0 --json 2>>%s/cli.err",
             bin(), id, config, dir, srv.key_file, dir, srv.root);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, sizeof(out) - 1, p);
    out[got] = '\0';
    assert_int_equal(pclose(p), 0);
    json_t *rep = json_loads(out, 0, NULL);
    assert_non_null(rep);
    assert_string_equal(json_string_value(json_object_get(rep, "backup_id")), id);
    assert_int_equal(ts_sh("ls %s | grep -q fetch", srv.root), 1);
    return rep;
}

static void test_bak2_restore_from_a_remote_backup(void **state)
{
    char out[16384], tenant_e[32];
    /* a tenant that a later backup records as erased */
    char *owner_e = ts_tenant(&srv, op, "objstore-erased", tenant_e);
    ts_bucket(&srv, owner_e, "b");
    assert_int_equal(ts_put(&srv, owner_e, "b", "eve", "text/plain", "E", 1), 201);
    char *before_erase = take_backup();
    assert_int_equal(ts_status(&srv, "DELETE", "/v1/buckets/b/records/k1", owner, NULL, NULL, 0),
                     204);
    assert_int_equal(ts_stop(&srv), 0);
    /* one tenant, into the stopped node */
    assert_int_equal(
        cli(out, sizeof(out), "backup restore --from %s --tenant %s --json", first_id, tenant), 0);
    assert_int_equal(ts_sh("ls %s/tmp | grep -q fetch", srv.data_dir), 1);
    /* a whole node: everything the backup holds */
    json_t *rep = restore_node(first_id, "restored");
    assert_int_equal(json_integer_value(json_object_get(rep, "records")), 3);
    json_decref(rep);
    /* BAK-4: E is erased and a newer backup at the destination says so; a whole-node restore
     * of the older one, fetched alone, still skips E (it reads the newer backups' headers) */
    ts_tenant_erased_offline(&srv, tenant_e);
    assert_true(ts_start(&srv));
    char *after_erase = take_backup();
    assert_int_equal(ts_stop(&srv), 0);
    rep = restore_node(before_erase, "restored-tomb");
    json_t *skipped = json_object_get(rep, "skipped_erased");
    assert_int_equal(json_array_size(skipped), 1);
    assert_string_equal(json_string_value(json_array_get(skipped, 0)), tenant_e);
    json_decref(rep);
    char tomb_dir[512];
    snprintf(tomb_dir, sizeof(tomb_dir), "%s/restored-tomb", srv.root);
    assert_false(ts_tenant_store_exists(tomb_dir, tomb_dir, tenant_e));
    assert_true(ts_tenant_store_exists(tomb_dir, tomb_dir, tenant));
    /* the tenant restore brought k1 back */
    assert_true(ts_start(&srv));
    char val[64] = "";
    ts_resp r;
    ts_request(&srv, "GET", "/v1/buckets/b/records/k1", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(val, sizeof(val), "%.*s", (int)r.len, r.body);
    ts_resp_free(&r);
    assert_string_equal(val, "beta");
    free(owner_e);
    free(before_erase);
    free(after_erase);
}

/* BAK-4 as the schedule runs it, days from now (in this process: the commands too) */
static int prune_after(cst_node *n, int days)
{
    int removed = -1;
    assert_int_equal(cst_backup_prune(n, cst_now_us() + days * 86400LL * 1000000, &removed),
                     CST_OK);
    return removed;
}

static void test_bak4_prune_follows_retention(void **state)
{
    char w[32];
    char *third = take_backup();
    /* the first, before and after the erasure, and the third; the second was deleted */
    assert_int_equal(objects("bk_"), 4);
    assert_int_equal(ts_stop(&srv), 0);
    cst_node n;
    ts_node_open_config(&srv, &n);
    assert_int_equal(cst_node_audit_attach(&n), CST_OK);
    assert_int_equal(prune_after(&n, 109), 0);
    assert_int_equal(objects("bk_"), 4);
    /* past 110 days: every good backup (the second's object already gone counts as removed) */
    assert_int_equal(prune_after(&n, 111), 5);
    assert_int_equal(objects("bk_"), 0);
    cst_backup_row b;
    assert_int_equal(cst_store_backup_get(n.store, NULL, third, &b), CST_OK);
    assert_string_equal(b.status, "pruned");
    cst_node_close(&n);
    assert_int_equal(ts_sh("grep -q 'rclone-prune.sh %s' %s", remote, cmdlog), 0);
    assert_string_equal(where(third, w, sizeof(w)), "(absent)");
    assert_int_equal(ts_sh("grep -q '" CANARY "' %s", cmdlog), 1);
    free(third);
}

int main(void)
{
    if (cst_crypto_init() != CST_OK) /* the retention test opens the node in-process */
        return 1;
    if (access("/usr/bin/rclone", X_OK) != 0) {
        fprintf(stderr, "rclone is missing: scripts/install-deps.sh installs it\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bak1_backup_lands_in_the_store_with_credentials_off_the_command_line),
        cmocka_unit_test(test_bak1_list_marks_remote_backups),
        cmocka_unit_test(test_bak2_verify_by_id_fetches_and_checks),
        cmocka_unit_test(test_bak2_restore_from_a_remote_backup),
        cmocka_unit_test(test_bak4_prune_follows_retention),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
