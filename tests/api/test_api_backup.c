/* test_api_backup.c: BAK-1..4, ENC-2 and RES-1 against a real server and the real CLI: a
 * backup taken under write load restores to what the writers were acknowledged, byte for byte;
 * no plaintext in backup files; one tenant restores without touching the others; an erased
 * tenant never comes back; drills are recorded; and every bad backup, wrong key, foreign node
 * or region, full or failing destination and crash ends in a clear error with nothing
 * half-written under a final name and the live data untouched. On PostgreSQL (issue 20) the
 * offline commands get the node's [store] section, a restored node's old stores go with its
 * emptied database, and a tenant's store is its schema. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "backup/backup.h"
#include "crypto/crypto.h"
#include "util/util.h"
#include "harness.h"
#include "store_fixture.h"

static ts_server srv;
static char *op, *owner_a, *owner_b;
static char tenant_a[32], tenant_b[32];
static char bin_path[512];

static const char *bin(void)
{
    snprintf(bin_path, sizeof(bin_path), "%s", getenv("CUSTODIA_BIN"));
    return bin_path;
}

/* POST /v1/sys/backups; returns the new backup's path (malloc) or NULL. */
static char *take_backup(ts_server *s, const char *token, long want_status)
{
    ts_resp r;
    ts_request(s, "POST", "/v1/sys/backups", token, NULL, NULL, 0, NULL, &r);
    if (r.status != want_status)
        fprintf(stderr, "backup: %ld %s\n", r.status, r.body ? r.body : "");
    assert_int_equal(r.status, want_status);
    char *path = NULL;
    if (r.status == 201) {
        assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
        path = strdup(json_string_value(json_object_get(r.json, "location")));
    }
    ts_resp_free(&r);
    return path;
}

static long get_value(ts_server *s, const char *token, const char *bucket, const char *key,
                      char *out, size_t n)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/buckets/%s/records/%s", bucket, key);
    ts_resp r;
    ts_request(s, "GET", path, token, NULL, NULL, 0, NULL, &r);
    long st = r.status;
    if (st == 200 && out) {
        assert_true(r.len < n);
        memcpy(out, r.body, r.len);
        out[r.len] = '\0';
    }
    ts_resp_free(&r);
    return st;
}

/* PUT that creates or replaces (201 or 200). */
static bool put_ok(ts_server *s, const char *token, const char *key, const char *val)
{
    long st = ts_put(s, token, "people", key, "text/plain", val, strlen(val));
    return st == 200 || st == 201;
}

static int setup(void **state)
{
    ts_init(&srv);
    /* backups outside the data dir, as on a real node */
    snprintf(srv.extra_config, sizeof(srv.extra_config), "[backup]\ninterval = 0\ndir = %s/bk\n",
             srv.root);
    if (ts_sh("mkdir -p %s/bk", srv.root) != 0)
        return -1;
    if (!(owner_a = ts_start_tenant(&srv, &op, "bk-alpha", tenant_a)))
        return -1;
    owner_b = ts_tenant(&srv, op, "bk-beta", tenant_b);
    ts_bucket(&srv, owner_a, "people");
    ts_bucket(&srv, owner_b, "people");
    return 0;
}

static int teardown(void **state)
{
    return ts_finish(&srv, 3, op, owner_a, owner_b);
}

/* ---- BAK-1/BAK-2: backup under write load, wipe, restore, compare ---- */

#define WRITERS 4
#define KEYS 25

typedef struct writer {
    ts_server *s;
    const char *token;
    int w;
    volatile int stop;
    int acked[KEYS];     /* last acknowledged write number per key, -1 none */
    int attempted[KEYS]; /* last attempted */
    int count;
} writer;

static void value_of(int w, int i, char *out, size_t n)
{
    /* deterministic, so any acknowledged version can be recomputed byte for byte */
    snprintf(out, n, "writer-%d-write-%06d-%08x", w, i, (unsigned)(i * 2654435761u + w));
}

static void *write_loop(void *p)
{
    writer *wr = p;
    for (int i = 0; !wr->stop && i < 100000; i++) {
        int k = i % KEYS;
        char key[32], val[64];
        snprintf(key, sizeof(key), "w%d-k%02d", wr->w, k);
        value_of(wr->w, i, val, sizeof(val));
        wr->attempted[k] = i;
        if (ts_put(wr->s, wr->token, "people", key, "text/plain", val, strlen(val)) == 201)
            wr->acked[k] = i;
        wr->count++;
    }
    return NULL;
}

static void restore_node(ts_server *s, const char *backup, const char *k0_name)
{
    char cmd[8192];
    assert_int_equal(ts_sh("rm -rf %s.old && mv %s %s.old", s->data_dir, s->data_dir, s->data_dir),
                     0);
    if (strcmp(ts_store_driver(), "postgresql") == 0)
        ts_store_wipe(s); /* the old node's stores go with it: its database is emptied */
    snprintf(cmd, sizeof(cmd),
             "%s backup restore --from %s --data-dir %s --master-key-file %s --seal-key-out %s/%s"
             "%s >%s/restore.out 2>&1",
             bin(), backup, s->data_dir, s->key_file, s->root, k0_name, ts_config_arg(s), s->root);
    int rc = ts_sh("%s", cmd);
    if (rc != 0)
        ts_sh("cat %s/restore.out >&2", s->root);
    assert_int_equal(rc, 0);
}

static void test_bak1_backup_under_load_restores_what_was_acknowledged(void **state)
{
    writer wr[WRITERS];
    pthread_t th[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        memset(&wr[w], 0, sizeof(wr[w]));
        wr[w].s = &srv;
        wr[w].token = w % 2 ? owner_b : owner_a;
        wr[w].w = w;
        for (int k = 0; k < KEYS; k++)
            wr[w].acked[k] = wr[w].attempted[k] = -1;
        pthread_create(&th[w], NULL, write_loop, &wr[w]);
    }
    while (wr[0].count < 60 || wr[1].count < 60)
        usleep(10000);
    int before[WRITERS][KEYS], after[WRITERS][KEYS];
    for (int w = 0; w < WRITERS; w++)
        memcpy(before[w], wr[w].acked, sizeof(before[w]));
    char *bk = take_backup(&srv, op, 201);
    for (int w = 0; w < WRITERS; w++)
        memcpy(after[w], wr[w].attempted, sizeof(after[w]));
    usleep(200000); /* writes after the backup, which the restore must not have */
    for (int w = 0; w < WRITERS; w++)
        wr[w].stop = 1;
    for (int w = 0; w < WRITERS; w++)
        pthread_join(th[w], NULL);
    int total = 0;
    for (int w = 0; w < WRITERS; w++)
        total += wr[w].count;
    fprintf(stderr, "backup under load: %d writes by %d writers\n", total, WRITERS);

    /* the backup restores to a consistent point between the two marks */
    assert_int_equal(ts_stop(&srv), 0);
    restore_node(&srv, bk, "k0-load.key");
    assert_true(ts_start(&srv));
    int checked = 0;
    for (int w = 0; w < WRITERS; w++) {
        for (int k = 0; k < KEYS; k++) {
            char key[32], got[128], want[64];
            snprintf(key, sizeof(key), "w%d-k%02d", w, k);
            long st = get_value(&srv, wr[w].token, "people", key, got, sizeof(got));
            if (before[w][k] < 0 && st == 404)
                continue; /* first written during the backup: either way is consistent */
            assert_int_equal(st, 200);
            int n = -1, ww = -1;
            assert_int_equal(sscanf(got, "writer-%d-write-%d-", &ww, &n), 2);
            assert_int_equal(ww, w);
            assert_true(n >= before[w][k]);
            assert_true(n <= after[w][k]);
            value_of(w, n, want, sizeof(want));
            assert_string_equal(got, want);
            checked++;
        }
    }
    assert_true(checked >= WRITERS * KEYS / 2);

    /* quiescent: a backup of exactly the acknowledged state; wipe; restore; compare all */
    for (int w = 0; w < WRITERS; w++) {
        for (int k = 0; k < KEYS; k++) {
            char key[32], val[64];
            snprintf(key, sizeof(key), "w%d-k%02d", w, k);
            value_of(w, 900000 + k, val, sizeof(val));
            assert_true(put_ok(&srv, wr[w].token, key, val));
        }
    }
    char *bk2 = take_backup(&srv, op, 201);
    assert_int_equal(ts_stop(&srv), 0);
    ts_store_wipe(&srv);
    restore_node(&srv, bk2, "k0-quiet.key");
    assert_true(ts_start(&srv));
    for (int w = 0; w < WRITERS; w++) {
        for (int k = 0; k < KEYS; k++) {
            char key[32], got[128], want[64];
            snprintf(key, sizeof(key), "w%d-k%02d", w, k);
            value_of(w, 900000 + k, want, sizeof(want));
            assert_int_equal(get_value(&srv, wr[w].token, "people", key, got, sizeof(got)), 200);
            assert_string_equal(got, want);
        }
    }
    /* the restored node's new audit log verifies with its new K0 */
    assert_int_equal(ts_sh("%s audit verify --data-dir %s --seal-key %s/k0-quiet.key%s >/dev/null",
                           bin(), srv.data_dir, srv.root, ts_config_arg(&srv)),
                     0);
    free(bk);
    free(bk2);
}

/* ---- ENC-2: no plaintext in any backup file ---- */

static void test_enc2_no_canary_in_backup_files(void **state)
{
    const char *canary = "CANARYbk7Q2pZx9", *canary_key = "CANARYKEYbk31415";
    assert_int_equal(
        ts_put(&srv, owner_a, "people", canary_key, "text/plain", canary, strlen(canary)), 201);
    char *bk = take_backup(&srv, op, 201);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", bk);
    *strrchr(dir, '/') = '\0';
    char hex[64];
    for (size_t i = 0; i < strlen(canary); i++)
        sprintf(hex + 2 * i, "%02x", (unsigned char)canary[i]);
    assert_int_not_equal(
        ts_sh("grep -rqa -e %s -e %s -e %s -e bk-alpha %s", canary, canary_key, hex, dir), 0);
    /* the search itself works: the same grep finds a planted copy */
    assert_int_equal(ts_sh("echo %s > %s/probe.txt && grep -rqa %s %s && rm %s/probe.txt", canary,
                           dir, canary, dir, dir),
                     0);
    free(bk);
}

/* ---- BAK-2: one tenant restores; the others stay as they are ---- */

static void test_bak2_single_tenant_restore_leaves_others_unchanged(void **state)
{
    assert_true(put_ok(&srv, owner_a, "alice", "A-at-backup"));
    assert_true(put_ok(&srv, owner_b, "bob", "B-at-backup"));
    char *bk = take_backup(&srv, op, 201);
    /* after the backup: A is damaged, B moves on */
    assert_true(put_ok(&srv, owner_a, "alice", "A-damaged"));
    assert_true(put_ok(&srv, owner_a, "mallory", "A-new"));
    assert_true(put_ok(&srv, owner_b, "bob", "B-later"));
    assert_true(put_ok(&srv, owner_b, "carol", "B-new"));

    /* the node must be stopped: the CLI refuses a live data dir */
    char out[1024];
    snprintf(out, sizeof(out), "%s/live.out", srv.root);
    assert_int_not_equal(ts_sh("%s backup restore --from %s --data-dir %s --tenant %s%s 2>%s",
                               bin(), bk, srv.data_dir, tenant_a, ts_config_arg(&srv), out),
                         0);
    assert_int_equal(ts_sh("grep -q 'a node is serving' %s", out), 0);
    assert_int_equal(ts_stop(&srv), 0);
    assert_int_equal(ts_sh("%s backup restore --from %s --data-dir %s --tenant %s%s >/dev/null",
                           bin(), bk, srv.data_dir, tenant_a, ts_config_arg(&srv)),
                     0);
    assert_true(ts_start(&srv));
    char got[64];
    assert_int_equal(get_value(&srv, owner_a, "people", "alice", got, sizeof(got)), 200);
    assert_string_equal(got, "A-at-backup");
    assert_int_equal(get_value(&srv, owner_a, "people", "mallory", NULL, 0), 404);
    assert_int_equal(get_value(&srv, owner_b, "people", "bob", got, sizeof(got)), 200);
    assert_string_equal(got, "B-later");
    assert_int_equal(get_value(&srv, owner_b, "people", "carol", got, sizeof(got)), 200);
    assert_string_equal(got, "B-new");
    /* the restore is in the audit log */
    assert_int_equal(ts_sh("grep -rqa backup.restore %s/audit/security", srv.data_dir), 0);
    free(bk);
}

/* ---- BAK-4: an erased tenant never comes back ---- */

static void test_bak4_restore_never_resurrects_an_erased_tenant(void **state)
{
    char tenant_e[32];
    char *owner_e = ts_tenant(&srv, op, "bk-erased", tenant_e);
    ts_bucket(&srv, owner_e, "people");
    assert_int_equal(ts_put(&srv, owner_e, "people", "eve", "text/plain", "E", 1), 201);
    char *before_erase = take_backup(&srv, op, 201);
    /* the tenant is erased (its tombstone recorded, its database removed) */
    assert_int_equal(ts_stop(&srv), 0);
    ts_tenant_erased_offline(&srv, tenant_e);

    /* a tenant restore of the older backup is refused */
    char out[1024];
    snprintf(out, sizeof(out), "%s/tomb.out", srv.root);
    assert_int_not_equal(ts_sh("%s backup restore --from %s --data-dir %s --tenant %s%s 2>%s",
                               bin(), before_erase, srv.data_dir, tenant_e, ts_config_arg(&srv),
                               out),
                         0);
    assert_int_equal(ts_sh("grep -q erased %s", out), 0);
    assert_false(ts_tenant_store_exists(srv.data_dir, srv.root, tenant_e));

    /* a newer backup carries the tombstone; a whole-node restore of the older one skips E */
    assert_true(ts_start(&srv));
    char *after_erase = take_backup(&srv, op, 201);
    assert_int_equal(ts_stop(&srv), 0);
    char target[1024], target_config[1100];
    snprintf(target, sizeof(target), "%s/restored-elsewhere", srv.root);
    ts_dir_config_arg(target, target_config, sizeof(target_config));
    assert_int_equal(ts_sh("%s backup restore --from %s --data-dir %s --master-key-file %s "
                           "--seal-key-out %s/k0-tomb.key --json%s > %s",
                           bin(), before_erase, target, srv.key_file, srv.root, target_config, out),
                     0);
    assert_int_equal(ts_sh("grep -q %s %s", tenant_e, out), 0); /* listed as skipped */
    assert_false(ts_tenant_store_exists(target, target, tenant_e));
    assert_true(ts_tenant_store_exists(target, target, tenant_a));
    cst_store *rs = NULL;
    assert_int_equal(ts_store_open(target, false, &rs), CST_OK);
    cst_tenant_row t;
    assert_int_equal(cst_store_tenant_get(rs, NULL, tenant_e, &t), CST_ERR_NOT_FOUND);
    cst_err_clear();
    assert_int_equal(cst_store_tenant_get(rs, NULL, tenant_a, &t), CST_OK);
    cst_store_close(rs);
    assert_true(ts_start(&srv));
    free(owner_e);
    free(before_erase);
    free(after_erase);
}

/* ---- BAK-3: drills ---- */

static void test_bak3_drill_is_recorded_as_evidence(void **state)
{
    ts_resp r;
    ts_request(&srv, "POST", "/v1/sys/backups/drill", op, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    if (strcmp(json_string_value(json_object_get(r.json, "result")), "pass") != 0)
        fprintf(stderr, "drill: %s\n", r.body);
    assert_string_equal(json_string_value(json_object_get(r.json, "result")), "pass");
    assert_true(json_integer_value(json_object_get(r.json, "records")) > 0);
    char drill_id[64];
    snprintf(drill_id, sizeof(drill_id), "%s", json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/sys/backups", op, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *d0 = json_array_get(json_object_get(r.json, "drills"), 0);
    assert_string_equal(json_string_value(json_object_get(d0, "id")), drill_id);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "health"), "last_drill_result")),
        "pass");
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/sys/health", NULL, NULL, NULL, 0, NULL, &r);
    json_t *b = json_object_get(r.json, "backup");
    assert_string_equal(json_string_value(json_object_get(b, "status")), "ok");
    assert_string_equal(json_string_value(json_object_get(b, "last_drill_result")), "pass");
    ts_resp_free(&r);
    /* a drill finds a damaged backup: it fails and that is recorded too */
    char *bk = take_backup(&srv, op, 201);
    assert_int_equal(ts_sh("printf 'XXXX' | dd of=%s bs=1 seek=3000 conv=notrunc 2>/dev/null", bk),
                     0);
    ts_request(&srv, "POST", "/v1/sys/backups/drill", op, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "result")), "fail");
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/sys/health", NULL, NULL, NULL, 0, NULL, &r);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "backup"), "last_drill_result")),
        "fail");
    ts_resp_free(&r);
    assert_int_equal(ts_sh("grep -rqa sys.backup.drill %s/audit/security", srv.data_dir), 0);
    assert_int_equal(ts_sh("rm -f %s", bk), 0);
    free(bk);
}

/* ---- bad backups: truncated, corrupted, reordered, foreign node, wrong key, region ---- */

/* Byte offset of frame i of a backup file. */
static long frame_offset(const char *path, int index)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char b[4];
    assert_int_equal(fseek(f, 16, SEEK_SET), 0);
    assert_int_equal(fread(b, 1, 4, f), 4);
    long off = 16 + 4 + ((long)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) + 64;
    for (int i = 0; i < index; i++) {
        assert_int_equal(fseek(f, off, SEEK_SET), 0);
        assert_int_equal(fread(b, 1, 4, f), 4);
        off += 4 + (((long)b[0] & 0x7f) << 24 | b[1] << 16 | b[2] << 8 | b[3]);
    }
    fclose(f);
    return off;
}

static int verify_cli(const char *path, const char *extra, const char *out)
{
    return ts_sh("%s backup verify %s --data-dir %s%s %s >%s 2>&1", bin(), path, srv.data_dir,
                 ts_config_arg(&srv), extra ? extra : "", out);
}

static void test_bak1_bad_backups_are_refused_clearly(void **state)
{
    /* big enough for several frames */
    unsigned char *blob = malloc(300000);
    for (int i = 0; i < 10; i++) {
        for (int j = 0; j < 300000; j++)
            blob[j] = (unsigned char)(rand() & 0xff);
        char key[16];
        snprintf(key, sizeof(key), "blob%d", i);
        assert_int_equal(
            ts_put(&srv, owner_a, "people", key, "application/octet-stream", blob, 300000), 201);
    }
    free(blob);
    char *bk = take_backup(&srv, op, 201);
    char out[1024], bad[1024];
    snprintf(out, sizeof(out), "%s/verify.out", srv.root);
    snprintf(bad, sizeof(bad), "%s/bad-backup", srv.root);
    assert_int_equal(verify_cli(bk, NULL, out), 0);

    struct {
        const char *what, *damage, *expect;
    } cases[] = {
        {"truncated", "truncate -s -2000000", "truncated"},
        {"corrupted", "printf 'Z' | dd bs=1 seek=1500000 conv=notrunc of=", "frame"},
        {"header changed", "sed -i '0,/local/s//lokal/'", "signature"},
        {"tail appended", "echo extra >>", "after its final frame"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        bool glued = cases[i].damage[strlen(cases[i].damage) - 1] == '=';
        assert_int_equal(ts_sh("cp %s %s && %s%s%s 2>/dev/null", bk, bad, cases[i].damage,
                               glued ? "" : " ", bad),
                         0);
        assert_int_not_equal(verify_cli(bad, NULL, out), 0);
        if (ts_sh("grep -q '%s' %s", cases[i].expect, out) != 0) {
            ts_sh("cat %s >&2", out);
            fail_msg("%s: message lacks \"%s\"", cases[i].what, cases[i].expect);
        }
    }
    /* reordered: frames 1 and 2 swapped (both full, same length) */
    long f1 = frame_offset(bk, 1), f2 = frame_offset(bk, 2), f3 = frame_offset(bk, 3);
    assert_int_equal(f2 - f1, f3 - f2);
    assert_int_equal(ts_sh("cp %s %s && dd if=%s of=%s bs=1 skip=%ld seek=%ld count=%ld "
                           "conv=notrunc 2>/dev/null && dd if=%s of=%s bs=1 skip=%ld seek=%ld "
                           "count=%ld conv=notrunc 2>/dev/null",
                           bk, bad, bk, bad, f2, f1, f2 - f1, bk, bad, f1, f2, f2 - f1),
                     0);
    assert_int_not_equal(verify_cli(bad, NULL, out), 0);
    assert_int_equal(ts_sh("grep -q 'frame 1 failed authentication' %s", out), 0);
    /* a frame removed */
    assert_int_equal(
        ts_sh("head -c %ld %s > %s && tail -c +%ld %s >> %s", f1, bk, bad, f2 + 1, bk, bad), 0);
    assert_int_not_equal(verify_cli(bad, NULL, out), 0);
    assert_int_equal(ts_sh("grep -q 'frame 1 failed authentication' %s", out), 0);

    /* a restore of a bad backup fails clearly and leaves nothing behind */
    assert_int_equal(ts_sh("cp %s %s && printf 'Z' | dd of=%s bs=1 seek=1500000 conv=notrunc "
                           "2>/dev/null",
                           bk, bad, bad),
                     0);
    char target[1024], target_config[1100];
    snprintf(target, sizeof(target), "%s/from-bad", srv.root);
    ts_dir_config_arg(target, target_config, sizeof(target_config));
    assert_int_not_equal(ts_sh("%s backup restore --from %s --data-dir %s --master-key-file %s "
                               "--seal-key-out %s/k0-bad.key%s 2>%s",
                               bin(), bad, target, srv.key_file, srv.root, target_config, out),
                         0);
    assert_int_equal(ts_sh("grep -q 'failed authentication' %s", out), 0);
    assert_false(ts_sh("test -e %s", target) == 0);
    if (strcmp(ts_store_driver(), "postgresql") == 0) { /* nor anything in its database */
        long long schemas = -1;
        assert_true(ts_store_pg_int(target,
                                    "SELECT count(*) FROM pg_namespace WHERE nspname = "
                                    "'custodia_system' OR nspname LIKE 't\\_%'",
                                    &schemas));
        assert_int_equal(schemas, 0);
    }

    /* wrong master key */
    assert_int_equal(ts_sh("head -c 32 /dev/urandom > %s/other.key && chmod 600 %s/other.key",
                           srv.root, srv.root),
                     0);
    char extra[1024];
    snprintf(extra, sizeof(extra), "--master-key-file %s/other.key", srv.root);
    assert_int_not_equal(verify_cli(bk, extra, out), 0);
    assert_int_equal(ts_sh("grep -q 'master key id' %s", out), 0);

    /* foreign region */
    assert_int_not_equal(verify_cli(bk, "--region eu-west", out), 0);
    assert_int_equal(ts_sh("grep -q 'region' %s", out), 0);
    snprintf(target, sizeof(target), "%s/other-region", srv.root);
    assert_int_not_equal(ts_sh("%s backup restore --from %s --data-dir %s --master-key-file %s "
                               "--region eu-west --seal-key-out %s/k0-r.key 2>%s",
                               bin(), bk, target, srv.key_file, srv.root, out),
                         0);
    assert_int_equal(ts_sh("grep -q region %s", out), 0);

    /* foreign node: another node's backup, verified here */
    ts_server other;
    ts_init(&other);
    char cmd[8192];
    snprintf(cmd, sizeof(cmd), "%s backup create --data-dir %s --to %s/foreign%s >/dev/null", bin(),
             other.data_dir, srv.root, ts_config_arg(&other));
    assert_int_equal(ts_sh("%s", cmd), 0);
    snprintf(cmd, sizeof(cmd), "%s backup verify %s/foreign/bk_* --data-dir %s%s >%s 2>&1", bin(),
             srv.root, srv.data_dir, ts_config_arg(&srv), out);
    assert_int_not_equal(ts_sh("%s", cmd), 0);
    assert_int_equal(ts_sh("grep -q \"another node's key\" %s", out), 0);
    /* with the foreign node's own key file it is still refused here: the master key differs */
    snprintf(cmd, sizeof(cmd),
             "%s backup verify %s/foreign/bk_* --data-dir %s --public-key %s/node-signing.pub%s "
             ">%s 2>&1",
             bin(), srv.root, srv.data_dir, other.data_dir, ts_config_arg(&srv), out);
    assert_int_not_equal(ts_sh("%s", cmd), 0);
    assert_int_equal(ts_sh("grep -q 'master key' %s", out), 0);
    ts_cleanup(&other);

    /* the API verify says the same */
    char id[64], path[200];
    snprintf(id, sizeof(id), "%s", strrchr(bk, '/') + 1);
    snprintf(path, sizeof(path), "/v1/sys/backups/%s/verify", id);
    ts_resp r;
    ts_request(&srv, "POST", path, op, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "result")), "ok");
    ts_resp_free(&r);
    assert_int_equal(ts_sh("cp %s %s.orig && printf 'Z' | dd of=%s bs=1 seek=1500000 "
                           "conv=notrunc 2>/dev/null",
                           bk, bk, bk),
                     0);
    ts_request(&srv, "POST", path, op, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "result")), "failed");
    ts_resp_free(&r);
    assert_int_equal(ts_status(&srv, "POST", "/v1/sys/backups/bk_00000000000000000000/verify", op,
                               NULL, NULL, 0),
                     404);
    assert_int_equal(ts_sh("rm -f %s %s.orig", bk, bk), 0);
    free(bk);
}

/* ---- destinations: region tag, full disk, commands, timeouts ---- */

static ts_server *fresh(ts_server *s, const char *config)
{
    ts_init(s);
    snprintf(s->extra_config, sizeof(s->extra_config), "%s", config);
    assert_true(ts_start(s));
    return s;
}

static void test_res1_destination_of_another_region_is_refused(void **state)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/bk", srv.root);
    assert_int_equal(ts_sh("cp %s/.custodia-region %s/region.save && echo eu-west > "
                           "%s/.custodia-region",
                           dir, srv.root, dir),
                     0);
    int before = ts_count_prefix(dir, "bk_");
    ts_resp r;
    ts_request(&srv, "POST", "/v1/sys/backups", op, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(ts_err(&r), "region_mismatch");
    ts_resp_free(&r);
    assert_int_equal(ts_count_prefix(dir, "bk_"), before);
    assert_int_equal(ts_count_prefix(dir, ".tmp-"), 0);
    assert_int_equal(ts_sh("cp %s/region.save %s/.custodia-region", srv.root, dir), 0);

    /* a command destination declared for another region */
    ts_server s2;
    fresh(&s2, "[backup]\ninterval = 0\ncommand = cat > /dev/null\nprune_command = true\n"
               "region = eu-west\n");
    char *o = ts_operator(&s2);
    ts_request(&s2, "POST", "/v1/sys/backups", o, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(ts_err(&r), "region_mismatch");
    ts_resp_free(&r);
    ts_stop(&s2);
    free(o);
    ts_cleanup(&s2);
}

static void test_bak1_full_destination_leaves_nothing_behind(void **state)
{
    ts_server s2;
    ts_init(&s2);
    char fs[400];
    snprintf(fs, sizeof(fs), "%s/backupfs", s2.root);
    assert_int_equal(ts_sh("mkdir -p %s", fs), 0);
    if (getenv("TS_NO_MOUNT") || mount("tmpfs", fs, "tmpfs", 0, "size=256k,mode=0700") != 0) {
        fprintf(stderr, "SKIPPED: cannot mount a tmpfs here (needs root)\n");
        ts_cleanup(&s2);
        skip();
    }
    snprintf(s2.extra_config, sizeof(s2.extra_config), "[backup]\ninterval = 0\ndir = %s\n", fs);
    assert_true(ts_start(&s2));
    char *o = ts_operator(&s2);
    char *w = ts_tenant(&s2, o, "full-dest", NULL);
    ts_bucket(&s2, w, "b");
    unsigned char val[60000];
    memset(val, 'x', sizeof(val));
    for (int i = 0; i < 10; i++) {
        char key[16];
        snprintf(key, sizeof(key), "r%d", i);
        assert_int_equal(ts_put(&s2, w, "b", key, "text/plain", val, sizeof(val)), 201);
    }
    ts_resp r;
    ts_request(&s2, "POST", "/v1/sys/backups", o, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_true(strstr(r.body, "space") != NULL);
    ts_resp_free(&r);
    assert_int_equal(ts_count_prefix(fs, "bk_"), 0);
    assert_int_equal(ts_count_prefix(fs, ".tmp-"), 0);
    /* the failure is evidence: catalogue and health say so; the data is intact */
    ts_request(&s2, "GET", "/v1/sys/backups", o, NULL, NULL, 0, NULL, &r);
    json_t *b0 = json_array_get(json_object_get(r.json, "backups"), 0);
    assert_string_equal(json_string_value(json_object_get(b0, "status")), "failed");
    ts_resp_free(&r);
    ts_request(&s2, "GET", "/v1/sys/health", NULL, NULL, NULL, 0, NULL, &r);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "backup"), "status")), "failing");
    ts_resp_free(&r);
    char got[16];
    assert_int_equal(get_value(&s2, w, "b", "r9", NULL, 0), 200);
    (void)got;
    /* with room again the next backup succeeds */
    assert_int_equal(ts_sh("mount -o remount,size=16m %s", fs), 0);
    char *bk = take_backup(&s2, o, 201);
    free(bk);
    ts_stop(&s2);
    umount2(fs, MNT_DETACH);
    free(o);
    free(w);
    ts_cleanup(&s2);
}

static void test_bak1_command_destination(void **state)
{
    ts_server s2;
    ts_init(&s2);
    char store[128], cfg[1024];
    assert_true(snprintf(store, sizeof(store), "%s/remote", s2.root) < (int)sizeof(store));
    assert_int_equal(ts_sh("mkdir -p %s", store), 0);
    /* a well-behaved command writes under a temporary name and renames when complete */
    /* node.sandbox_write_paths: the command runs in the node's sandbox (docs/security.md) */
    int len =
        snprintf(cfg, sizeof(cfg),
                 "[node]\nsandbox_write_paths = %s\n[backup]\ninterval = 0\n"
                 "command = cat > %s/$CUSTODIA_BACKUP_ID.part && mv %s/$CUSTODIA_BACKUP_ID.part "
                 "%s/$CUSTODIA_BACKUP_ID\n"
                 "fetch_command = cat %s/$CUSTODIA_BACKUP_ID\n"
                 "prune_command = rm -f %s/$CUSTODIA_BACKUP_ID\n",
                 s2.root, store, store, store, store, store);
    assert_true(len < (int)sizeof(cfg));
    snprintf(s2.extra_config, sizeof(s2.extra_config), "%s", cfg);
    assert_true(ts_start(&s2));
    char *o = ts_operator(&s2);
    char *w = ts_tenant(&s2, o, "cmd-dest", NULL);
    ts_bucket(&s2, w, "b");
    assert_int_equal(ts_put(&s2, w, "b", "k", "text/plain", "v", 1), 201);
    char *loc = take_backup(&s2, o, 201);
    assert_true(strncmp(loc, "command:bk_", 11) == 0);
    assert_int_equal(ts_sh("%s backup verify %s/%s --data-dir %s%s >/dev/null", bin(), store,
                           loc + 8, s2.data_dir, ts_config_arg(&s2)),
                     0);
    ts_resp r;
    ts_request(&s2, "POST", "/v1/sys/backups/drill", o, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "result")), "pass");
    ts_resp_free(&r);
    ts_stop(&s2);

    /* a failing command, and one that hangs past its timeout (it writes its process group,
     * the shell's pid, so the test can check that group and nothing else on the machine) */
    char pgid_file[400], hang[512];
    snprintf(pgid_file, sizeof(pgid_file), "%s/cmd.pgid", s2.root);
    snprintf(hang, sizeof(hang), "echo $$ > %s && sleep 60", pgid_file);
    const char *bad[] = {"exit 3", hang};
    const char *expect[] = {"exit status 3", "did not finish within 2 s"};
    for (int i = 0; i < 2; i++) {
        snprintf(s2.extra_config, sizeof(s2.extra_config),
                 "[node]\nsandbox_write_paths = %s\n[backup]\ninterval = 0\ncommand = %s\n"
                 "prune_command = true\ncommand_timeout = 2s\n",
                 s2.root, bad[i]);
        assert_true(ts_start(&s2));
        time_t t0 = time(NULL);
        ts_request(&s2, "POST", "/v1/sys/backups", o, NULL, NULL, 0, NULL, &r);
        assert_int_equal(r.status, 503);
        if (!strstr(r.body, expect[i]))
            fail_msg("command %s: %s", bad[i], r.body);
        assert_true(time(NULL) - t0 < 20);
        ts_resp_free(&r);
        ts_stop(&s2);
    }
    /* the hanging command's process group was killed, not left behind */
    FILE *pf = fopen(pgid_file, "r");
    assert_non_null(pf);
    long pgid = 0;
    char line[32] = "";
    if (fgets(line, sizeof(line), pf))
        pgid = strtol(line, NULL, 10);
    fclose(pf);
    assert_true(pgid > 1);
    for (int i = 0; i < 50 && ts_group_alive((pid_t)pgid) > 0; i++)
        usleep(100000);
    assert_int_equal(ts_group_alive((pid_t)pgid), 0);
    free(loc);
    free(o);
    free(w);
    ts_cleanup(&s2);
}

/* ---- crashes: a killed backup or restore leaves nothing under a final name ---- */

static void test_bak1_crash_mid_backup_and_mid_restore(void **state)
{
    ts_server s2;
    fresh(&s2, "[backup]\ninterval = 0\n");
    char *o = ts_operator(&s2);
    char *w = ts_tenant(&s2, o, "crash", NULL);
    ts_bucket(&s2, w, "b");
    unsigned char *val = malloc(1000000);
    for (int i = 0; i < 1000000; i++)
        val[i] = (unsigned char)(rand() & 0xff);
    for (int i = 0; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof(key), "r%d", i);
        assert_int_equal(ts_put(&s2, w, "b", key, "application/octet-stream", val, 1000000), 201);
    }
    free(val);
    assert_int_equal(ts_stop(&s2), 0);
    char dir[1024], config[1200] = "";
    snprintf(dir, sizeof(dir), "%s/backups", s2.data_dir);
    assert_int_equal(ts_sh("mkdir -p %s", dir), 0);
    if (strcmp(ts_store_driver(), "postgresql") == 0) /* the node's [store] section */
        snprintf(config, sizeof(config), "%s/store.ini", s2.root);
    bool caught = false;
    for (int attempt = 0; attempt < 5 && !caught; attempt++) {
        pid_t pid = fork();
        if (pid == 0) {
            char log[1100];
            snprintf(log, sizeof(log), "%s/crash-backup.out", s2.root);
            int dn = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
            dup2(dn, 1);
            dup2(dn, 2);
            execl(bin(), "custodia", "backup", "create", "--data-dir", s2.data_dir,
                  config[0] ? "--config" : (char *)NULL, config, (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 20000 && !caught; i++) {
            if (ts_count_prefix(dir, ".tmp-") > 0) {
                kill(pid, SIGKILL);
                caught = true;
            }
            usleep(200);
        }
        waitpid(pid, NULL, 0);
    }
    if (!caught)
        ts_sh("cat %s/crash-backup.out >&2", s2.root);
    assert_true(caught);
    /* no final backup appeared from the killed run (or, had the kill come after the rename,
     * whatever is there verifies) */
    char cmd[8192];
    snprintf(cmd, sizeof(cmd),
             "for f in %s/bk_*; do [ -e \"$f\" ] || continue; %s backup verify \"$f\" --data-dir "
             "%s%s >/dev/null || exit 1; done",
             dir, bin(), s2.data_dir, ts_config_arg(&s2));
    assert_int_equal(ts_sh("%s", cmd), 0);
    /* the live node is intact and serves; the next backup sweeps the leftover */
    assert_true(ts_start(&s2));
    assert_int_equal(get_value(&s2, w, "b", "r39", NULL, 0), 200);
    char *bk = take_backup(&s2, o, 201);
    assert_int_equal(ts_count_prefix(dir, ".tmp-"), 0);
    ts_resp r;
    ts_request(&s2, "GET", "/v1/sys/backups", o, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    assert_int_equal(ts_stop(&s2), 0);

    /* a restore killed half-way: serve refuses the half node, a second restore completes */
    char target[1024], target_config[1100];
    snprintf(target, sizeof(target), "%s/restored", s2.root);
    ts_dir_config_arg(target, target_config, sizeof(target_config));
    if (target_config[0]) /* the target's [store] section: its own database */
        snprintf(config, sizeof(config), "%s.ini", target);
    caught = false;
    for (int attempt = 0; attempt < 5 && !caught; attempt++) {
        ts_sh("rm -rf %s %s/k0-crash.key", target, s2.root);
        pid_t pid = fork();
        if (pid == 0) {
            int dn = open("/dev/null", 1);
            dup2(dn, 1);
            dup2(dn, 2);
            char k0[1024];
            snprintf(k0, sizeof(k0), "%s/k0-crash.key", s2.root);
            execl(bin(), "custodia", "backup", "restore", "--from", bk, "--data-dir", target,
                  "--master-key-file", s2.key_file, "--seal-key-out", k0,
                  config[0] ? "--config" : (char *)NULL, config, (char *)NULL);
            _exit(127);
        }
        char marker[1100], staged[1100];
        snprintf(marker, sizeof(marker), "%s/RESTORE-INCOMPLETE", target);
        snprintf(staged, sizeof(staged), "%s/.restore/tenants", target);
        for (int i = 0; i < 20000 && !caught; i++) {
            struct stat st;
            if (stat(marker, &st) == 0 && stat(staged, &st) == 0) {
                kill(pid, SIGKILL);
                caught = true;
            }
            usleep(200);
        }
        waitpid(pid, NULL, 0);
    }
    assert_true(caught);
    assert_int_not_equal(ts_sh("%s serve --data-dir %s --master-key-file %s --listen "
                               "127.0.0.1:0%s 2>%s/half.out",
                               bin(), target, s2.key_file, target_config, s2.root),
                         0);
    assert_int_equal(ts_sh("grep -q 'unfinished restore' %s/half.out", s2.root), 0);
    assert_int_equal(ts_sh("rm -f %s/k0-crash.key && %s backup restore --from %s --data-dir %s "
                           "--master-key-file %s --seal-key-out %s/k0-crash.key%s >/dev/null",
                           s2.root, bin(), bk, target, s2.key_file, s2.root, target_config),
                     0);
    assert_int_equal(ts_sh("test ! -e %s/RESTORE-INCOMPLETE", target), 0);
    free(bk);
    free(o);
    free(w);
    ts_cleanup(&s2);
}

/* ---- the schedule and retention (BAK-1, BAK-4) ---- */

static void test_bak4_schedule_and_retention(void **state)
{
    ts_server s2;
    fresh(&s2, "[backup]\ninterval = 1s\n");
    char *o = ts_operator(&s2);
    ts_resp r;
    int scheduled = 0;
    for (int i = 0; i < 100 && scheduled < 2; i++) {
        usleep(100000);
        ts_request(&s2, "GET", "/v1/sys/backups", o, NULL, NULL, 0, NULL, &r);
        scheduled = 0;
        size_t k;
        json_t *b;
        json_array_foreach(json_object_get(r.json, "backups"), k, b)
        {
            scheduled += !strcmp(json_string_value(json_object_get(b, "origin")), "schedule") &&
                         !strcmp(json_string_value(json_object_get(b, "status")), "ok");
        }
        ts_resp_free(&r);
    }
    assert_true(scheduled >= 2);
    assert_int_equal(ts_stop(&s2), 0);
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/backups", s2.data_dir);
    int have = ts_count_prefix(dir, "bk_");
    assert_true(have >= 2);
    assert_int_equal(ts_sh("grep -rqa '\"backup.create\"' %s/audit/security", s2.data_dir), 0);
    /* BAK-4: 109 days on nothing goes; 111 days on every one is removed and audited */
    cst_node n;
    ts_node_open(&s2, &n);
    assert_int_equal(cst_node_audit_attach(&n), CST_OK);
    int removed = -1;
    int64_t day = 86400LL * 1000000;
    assert_int_equal(cst_backup_prune(&n, cst_now_us() + 109 * day, &removed), CST_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(ts_count_prefix(dir, "bk_"), have);
    assert_int_equal(cst_backup_prune(&n, cst_now_us() + 111 * day, &removed), CST_OK);
    assert_int_equal(removed, have);
    assert_int_equal(ts_count_prefix(dir, "bk_"), 0);
    cst_node_close(&n);
    assert_int_equal(ts_sh("grep -rqa '\"backup.prune\"' %s/audit/security", s2.data_dir), 0);
    free(o);
    ts_cleanup(&s2);
}

/* ---- issue 20: from SQLite to PostgreSQL (docs/operations.md) ---- */

/* The copies of every store of a node (system, tenant_a, tenant_b) into dir. */
static void node_copies(const cst_store_conf *c, const char *dir)
{
    cst_store *st = NULL;
    const char *const tenants[] = {tenant_a, tenant_b};
    assert_int_equal(ts_sh("mkdir -p %s", dir), 0);
    assert_int_equal(cst_store_open_conf(c, false, &st), CST_OK);
    assert_int_equal(ts_copies(st, dir, tenants, 2), CST_OK);
    cst_store_close(st);
}

/* BAK-2, issue 20: a node's backup restores whole into a node whose [store] is a new
 * PostgreSQL database (the way from SQLite to PostgreSQL): the data dir keeps the node's own
 * files, and the database holds every tenant, key, user, token, bucket and record of the
 * backup, row for row what a restore of the same backup into SQLite holds. A database that
 * already holds tenants is refused, and nothing of that restore stays behind. */
static void test_bak2_node_restores_into_a_postgresql_database(void **state)
{
    for (int i = 0; i < 10; i++) {
        char key[16], val[32];
        snprintf(key, sizeof(key), "mig-%d", i);
        snprintf(val, sizeof(val), "value-%d-\x01", i);
        assert_true(put_ok(&srv, owner_a, key, val));
        assert_true(put_ok(&srv, owner_b, key, val));
    }
    char *bk = take_backup(&srv, op, 201);
    char root[] = "/tmp/cst-test-XXXXXX", was[32] = "";
    assert_non_null(mkdtemp(root));
    if (getenv("CST_TEST_DRIVER"))
        snprintf(was, sizeof(was), "%s", getenv("CST_TEST_DRIVER"));
    setenv("CST_TEST_DRIVER", "postgresql", 1);
    char dsn[600];
    snprintf(dsn, sizeof(dsn), "%s", ts_store_dsn(root));
    assert_int_equal(
        ts_sh("printf '[store]\ndriver = postgresql\ndsn = %s\n' > %s/store.ini", dsn, root), 0);
    /* into SQLite, as always, and into PostgreSQL */
    assert_int_equal(ts_sh("%s backup restore --from %s --data-dir %s/sq --master-key-file %s "
                           "--seal-key-out %s/k0-sq.key >/dev/null",
                           bin(), bk, root, srv.key_file, root),
                     0);
    assert_int_equal(ts_sh("%s backup restore --from %s --data-dir %s/pg --master-key-file %s "
                           "--seal-key-out %s/k0-pg.key --config %s/store.ini >%s/pg.out 2>&1 || "
                           "(cat %s/pg.out >&2; false)",
                           bin(), bk, root, srv.key_file, root, root, root, root),
                     0);
    /* the stores went into the database; the node's own files are in its data dir */
    assert_int_not_equal(ts_sh("test -e %s/pg/system.db", root), 0);
    assert_int_not_equal(ts_sh("test -e %s/pg/tenants/%s.db", root, tenant_a), 0);
    assert_int_equal(ts_sh("test -e %s/pg/node-signing.key", root), 0);
    char sq_dir[64], pg_dir[64], sq_copies[64], pg_copies[64];
    snprintf(sq_dir, sizeof(sq_dir), "%s/sq", root);
    snprintf(pg_dir, sizeof(pg_dir), "%s/pg", root);
    snprintf(sq_copies, sizeof(sq_copies), "%s/sq-copies", root);
    snprintf(pg_copies, sizeof(pg_copies), "%s/pg-copies", root);
    cst_store_conf sq = {.driver = "sqlite", .data_dir = sq_dir};
    cst_store_conf pg = {.driver = "postgresql", .data_dir = pg_dir, .dsn = dsn, .pool_size = 2};
    node_copies(&sq, sq_copies);
    node_copies(&pg, pg_copies);
    static const char *const system_tables[] = {"tenants", "tenant_keys", "users", "tokens"};
    for (size_t i = 0; i < sizeof(system_tables) / sizeof(*system_tables); i++)
        assert_true(ts_copy_rows_same(sq_copies, pg_copies, "system.db", system_tables[i], NULL) >
                    0);
    const char *tenants[] = {tenant_a, tenant_b};
    for (size_t i = 0; i < 2; i++) {
        char name[64];
        assert_int_equal(cst_store_copy_name(tenants[i], name, sizeof(name)), CST_OK);
        assert_true(ts_copy_rows_same(sq_copies, pg_copies, name, "buckets", NULL) > 0);
        assert_true(ts_copy_rows_same(sq_copies, pg_copies, name, "records", NULL) > 0);
        int64_t records = 0;
        assert_int_equal(cst_store_copy_check(pg_copies, name, true, &records, NULL), CST_OK);
        assert_true(records >= 10);
    }
    /* a second node restored into the same database is refused: it holds tenants */
    assert_int_not_equal(ts_sh("%s backup restore --from %s --data-dir %s/again "
                               "--master-key-file %s --seal-key-out %s/k0-again.key --config "
                               "%s/store.ini >%s/again.out 2>&1",
                               bin(), bk, root, srv.key_file, root, root, root),
                         0);
    assert_int_equal(ts_sh("grep -q 'already holds' %s/again.out", root), 0);
    assert_int_not_equal(ts_sh("test -e %s/again", root), 0);
    if (was[0])
        setenv("CST_TEST_DRIVER", was, 1);
    else
        unsetenv("CST_TEST_DRIVER");
    assert_int_equal(ts_sh("rm -rf %s", root), 0);
    free(bk);
}

int main(void)
{
    if (cst_crypto_init() != CST_OK) /* the retention test opens the node in-process */
        return 1;
    if (getenv("TS_FILTER"))
        cmocka_set_test_filter(getenv("TS_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bak1_backup_under_load_restores_what_was_acknowledged),
        cmocka_unit_test(test_enc2_no_canary_in_backup_files),
        cmocka_unit_test(test_bak2_single_tenant_restore_leaves_others_unchanged),
        cmocka_unit_test(test_bak4_restore_never_resurrects_an_erased_tenant),
        cmocka_unit_test(test_bak3_drill_is_recorded_as_evidence),
        cmocka_unit_test(test_bak1_bad_backups_are_refused_clearly),
        cmocka_unit_test(test_res1_destination_of_another_region_is_refused),
        cmocka_unit_test(test_bak1_full_destination_leaves_nothing_behind),
        cmocka_unit_test(test_bak1_command_destination),
        cmocka_unit_test(test_bak1_crash_mid_backup_and_mid_restore),
        cmocka_unit_test(test_bak4_schedule_and_retention),
        cmocka_unit_test(test_bak2_node_restores_into_a_postgresql_database),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
