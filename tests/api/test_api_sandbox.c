/* test_api_sandbox.c: IAM-4 for the node's own process (issue 19): a serving node runs under a
 * seccomp allow-list with no_new_privs, Landlock keeps its writes (and its programs' writes)
 * inside the data, audit, backup and scratch dirs, and started as root it drops to node.user.
 * It runs on PostgreSQL too (api.test_api_sandbox_pg): there every request the sandboxed node
 * serves goes through libpq to the database, which the allow-list and the drop must let pass. */
#include <dirent.h>
#include <errno.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

/* The text of a file (at most 8 KiB), or "" when it cannot be read. */
static void read_text(const char *path, char *out, size_t n)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t got = fread(out, 1, n - 1, f);
    out[got] = '\0';
    fclose(f);
}

static void proc_status(pid_t pid, const char *task, char *out, size_t n)
{
    char path[320];
    if (task)
        snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, task);
    else
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    read_text(path, out, n);
}

static bool log_has(ts_server *s, const char *needle)
{
    char path[400], text[65536];
    snprintf(path, sizeof(path), "%s/serve.log", s->root);
    read_text(path, text, sizeof(text));
    return strstr(text, needle) != NULL;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static long landlock_abi(void)
{
    return syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
}

/* The node stays root in these tests whatever users the machine has: the drop has its own. */
#define STAY_ROOT "[node]\nuser = root\n"

static void test_iam4_serving_node_has_seccomp_and_no_new_privs(void **state)
{
    ts_server s;
    ts_init(&s);
    snprintf(s.extra_config, sizeof(s.extra_config), STAY_ROOT);
    assert_true(ts_start(&s));
    char st[8192];
    proc_status(s.pid, NULL, st, sizeof(st));
    if (!strstr(st, "Seccomp:\t2\n") || !strstr(st, "NoNewPrivs:\t1\n"))
        fail_msg("/proc/%d/status:\n%s", (int)s.pid, st);
    /* every thread, not only the main one (the filter was synchronised to all) */
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)s.pid);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int threads = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (de->d_name[0] == '.')
            continue;
        proc_status(s.pid, de->d_name, st, sizeof(st));
        if (!strstr(st, "Seccomp:\t2\n") || !strstr(st, "NoNewPrivs:\t1\n"))
            fail_msg("thread %s of the node:\n%s", de->d_name, st);
        threads++;
    }
    closedir(d);
    assert_true(threads > 1);

    /* the level reached is logged and in the report (IAM-4) */
    long abi = landlock_abi();
    char want[32];
    snprintf(want, sizeof(want), "ABI %ld", abi);
    assert_true(log_has(&s, abi >= 2 ? "sandbox: Landlock ABI" : "sandbox: Landlock"));
    assert_true(log_has(&s, "sandbox: seccomp allow-list on every thread"));
    char *op = ts_operator(&s);
    json_t *doc = ts_call(&s, "GET", "/v1/sys/report", op, NULL, 200);
    json_t *sb = ts_report_evidence(json_object_get(doc, "report"), "IAM-4", "process_sandbox");
    assert_non_null(sb);
    assert_string_equal(json_string_value(json_object_get(sb, "landlock")),
                        abi >= 2 ? want : "unsupported");
    assert_string_equal(json_string_value(json_object_get(sb, "seccomp")), "allow-list");
    assert_true(json_is_true(json_object_get(sb, "no_new_privs")));
    assert_string_equal(json_string_value(json_object_get(sb, "user")), "root");
    json_decref(doc);
    assert_int_equal(ts_stop(&s), 0);

    /* node.sandbox = false: none of it, and the report says so */
    snprintf(s.extra_config, sizeof(s.extra_config), STAY_ROOT "sandbox = false\n");
    assert_true(ts_start(&s));
    proc_status(s.pid, NULL, st, sizeof(st));
    assert_non_null(strstr(st, "Seccomp:\t0\n"));
    assert_non_null(strstr(st, "NoNewPrivs:\t0\n"));
    doc = ts_call(&s, "GET", "/v1/sys/report", op, NULL, 200);
    sb = ts_report_evidence(json_object_get(doc, "report"), "IAM-4", "process_sandbox");
    assert_string_equal(json_string_value(json_object_get(sb, "landlock")), "disabled");
    assert_string_equal(json_string_value(json_object_get(sb, "seccomp")), "disabled");
    json_decref(doc);
    free(op);
    assert_int_equal(ts_stop(&s), 0);
    ts_cleanup(&s);
}

/* A backup the node writes through a path that leads outside its dirs (backups replaced by a
 * symbolic link, and a backup command writing elsewhere) fails with EACCES and writes nothing;
 * with node.sandbox = false the very same writes land, so the sandbox is what stops them. */
static void backup_outside(ts_server *s, bool sandbox, const char *outside)
{
    char backups[400];
    snprintf(backups, sizeof(backups), "%s/backups", s->data_dir);
    snprintf(s->extra_config, sizeof(s->extra_config), STAY_ROOT "sandbox = %s\n",
             sandbox ? "true" : "false");
    assert_true(ts_start(s));
    char *op = ts_operator(s);
    assert_int_equal(ts_sh("rm -rf %s && ln -s %s %s", backups, outside, backups), 0);
    ts_resp r;
    ts_request(s, "POST", "/v1/sys/backups", op, NULL, NULL, 0, NULL, &r);
    if (sandbox) {
        if (r.status != 503 || !strstr(r.body, "Permission denied"))
            fail_msg("backup through a link outside: %ld %s", r.status, r.body);
        assert_int_equal(count_entries(outside), 0);
    } else {
        if (r.status != 201)
            fail_msg("backup through a link, unsandboxed: %ld %s", r.status, r.body);
        assert_true(count_entries(outside) > 0);
    }
    ts_resp_free(&r);
    assert_int_equal(ts_stop(s), 0);
    assert_int_equal(ts_sh("rm -f %s && mkdir -m 700 %s && rm -rf %s/* %s/.[!.]*", backups, backups,
                           outside, outside),
                     0);

    /* the programs the node runs inherit it: a backup command writing outside */
    snprintf(s->extra_config, sizeof(s->extra_config),
             STAY_ROOT "sandbox = %s\n[backup]\ninterval = 0\n"
                       "command = cat > %s/$CUSTODIA_BACKUP_ID\nprune_command = true\n",
             sandbox ? "true" : "false", outside);
    assert_true(ts_start(s));
    ts_request(s, "POST", "/v1/sys/backups", op, NULL, NULL, 0, NULL, &r);
    if (sandbox) {
        if (r.status != 503)
            fail_msg("backup command writing outside: %ld %s", r.status, r.body);
        assert_int_equal(count_entries(outside), 0);
    } else {
        if (r.status != 201)
            fail_msg("backup command, unsandboxed: %ld %s", r.status, r.body);
        assert_int_equal(count_entries(outside), 1);
    }
    ts_resp_free(&r);
    free(op);
    assert_int_equal(ts_stop(s), 0);
}

static void test_iam4_write_outside_the_allowed_dirs_fails(void **state)
{
    if (landlock_abi() < 2) {
        fprintf(stderr, "SKIPPED: this kernel has no Landlock ABI 2 or later\n");
        skip();
    }
    ts_server s;
    ts_init(&s);
    char outside[400];
    snprintf(outside, sizeof(outside), "%s/outside", s.root);
    assert_int_equal(ts_sh("mkdir -m 700 %s", outside), 0);
    backup_outside(&s, true, outside);
    backup_outside(&s, false, outside);

    /* temporary files go to the scratch dir (TMPDIR), which the sandbox allows */
    snprintf(s.extra_config, sizeof(s.extra_config),
             STAY_ROOT "[backup]\ninterval = 0\nprune_command = true\n"
                       "command = t=$(mktemp) && cat > \"$t\" && rm \"$t\"\n");
    assert_true(ts_start(&s));
    char *op = ts_operator(&s);
    json_t *o = ts_call(&s, "POST", "/v1/sys/backups", op, NULL, 201);
    json_decref(o);
    free(op);
    assert_int_equal(ts_stop(&s), 0);
    ts_cleanup(&s);
}

/* Started as root with node.user = nobody (the data dir chowned to it in this test's temp dir,
 * no system user created): it serves as nobody; a data dir nobody does not own, or a user that
 * does not exist, stops the start with a message naming the fix. */
static void test_iam4_root_drops_to_node_user(void **state)
{
    struct passwd *nobody = getpwnam("nobody");
    if (geteuid() != 0 || !nobody) {
        fprintf(stderr, "SKIPPED: the drop from root needs root and the user nobody\n");
        skip();
    }
    ts_server s;
    ts_init(&s);
    snprintf(s.extra_config, sizeof(s.extra_config), "[node]\nuser = nobody\n");
    /* root-owned: refused before serving, with the chown to run */
    assert_false(ts_start(&s));
    assert_true(log_has(&s, "chown -R nobody:"));

    assert_int_equal(ts_sh("chmod 711 %s && chown -R nobody: %s", s.root, s.data_dir), 0);
    assert_true(ts_start(&s));
    char st[8192], want[128];
    proc_status(s.pid, NULL, st, sizeof(st));
    snprintf(want, sizeof(want), "Uid:\t%u\t%u\t%u\t%u\n", (unsigned)nobody->pw_uid,
             (unsigned)nobody->pw_uid, (unsigned)nobody->pw_uid, (unsigned)nobody->pw_uid);
    if (!strstr(st, want))
        fail_msg("want %s in /proc/%d/status:\n%s", want, (int)s.pid, st);
    snprintf(want, sizeof(want), "Gid:\t%u\t%u\t%u\t%u\n", (unsigned)nobody->pw_gid,
             (unsigned)nobody->pw_gid, (unsigned)nobody->pw_gid, (unsigned)nobody->pw_gid);
    assert_non_null(strstr(st, want));
    const char *groups = strstr(st, "Groups:"); /* none: the supplementary groups are gone */
    assert_non_null(groups);
    groups += strlen("Groups:");
    groups += strspn(groups, " \t");
    assert_int_equal(*groups, '\n');
    assert_true(log_has(&s, "sandbox: dropped root, running as nobody"));

    /* and still serves: a tenant, a record, a backup, the report names the user */
    char *op = ts_operator(&s);
    char *owner = ts_tenant(&s, op, "dropped", NULL);
    ts_bucket(&s, owner, "b");
    assert_int_equal(ts_put(&s, owner, "b", "k", "text/plain", "v", 1), 201);
    json_t *o = ts_call(&s, "POST", "/v1/sys/backups", op, NULL, 201);
    json_decref(o);
    json_t *doc = ts_call(&s, "GET", "/v1/sys/report", op, NULL, 200);
    json_t *sb = ts_report_evidence(json_object_get(doc, "report"), "IAM-4", "process_sandbox");
    assert_string_equal(json_string_value(json_object_get(sb, "user")), "nobody");
    json_decref(doc);
    free(owner);
    free(op);
    assert_int_equal(ts_stop(&s), 0);
    /* nothing the start created as root is left for the next start to trip on */
    assert_int_equal(ts_sh("test -z \"$(find %s ! -user nobody)\"", s.data_dir), 0);
    assert_true(ts_start(&s));
    assert_int_equal(ts_stop(&s), 0);

    assert_int_equal(ts_sh("chown -R root: %s", s.data_dir), 0);
    snprintf(s.extra_config, sizeof(s.extra_config), "[node]\nuser = no-such-user-here\n");
    assert_false(ts_start(&s));
    assert_true(log_has(&s, "node.user = no-such-user-here: no such user"));
    ts_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam4_serving_node_has_seccomp_and_no_new_privs),
        cmocka_unit_test(test_iam4_write_outside_the_allowed_dirs_fails),
        cmocka_unit_test(test_iam4_root_drops_to_node_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
