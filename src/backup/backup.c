/* backup.c: taking, checking and pruning backups; the schedule (BAK-1, BAK-4, ENC-2, RES-1).
 * Restores and drills are in restore.c. */
#include "backup/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "backup/archive.h"
#include "backup/internal.h"
#include "node/ship.h"
#include "util/json.h"
#include "util/util.h"

/* ---- the tenant lists of a system store copy ---- */

static cst_err list_tenant(const char *id, void *ctx)
{
    json_t **lists = ctx;
    ENSURE(json_array_append_new(lists[0], json_string(id)) == 0, CST_ERR_INTERNAL,
           "out of memory");
    return CST_OK;
}

static cst_err list_tomb(const cst_tombstone_row *t, void *ctx)
{
    json_t **lists = ctx;
    ENSURE(json_array_append_new(lists[1], json_pack("{s:s,s:I}", "tenant", t->tenant_id,
                                                     "erased_at", (json_int_t)t->erased_at)) == 0,
           CST_ERR_INTERNAL, "out of memory");
    return CST_OK;
}

cst_err cst_bk_system_lists(const char *dir, json_t **tenants, json_t **tombstones)
{
    json_t *lists[2] = {json_array(), json_array()};
    cst_err e = lists[0] && lists[1] ? cst_store_copy_lists(dir, list_tenant, list_tomb, lists)
                                     : cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (e != CST_OK) {
        json_decref(lists[0]);
        json_decref(lists[1]);
        lists[0] = lists[1] = NULL;
    }
    *tenants = lists[0];
    *tombstones = lists[1];
    return e;
}

/* ---- files and directories ---- */

cst_err cst_bk_mkdirs(const char *path)
{
    char p[PATH_MAX];
    TRY(cst_fmt(p, sizeof(p), "%s", path));
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return cst_fail(CST_ERR_INVALID, "cannot create %s: %s", p, strerror(errno));
        *s = '/';
    }
    ENSURE(mkdir(p, 0700) == 0 || errno == EEXIST, CST_ERR_INVALID, "cannot create %s: %s", p,
           strerror(errno));
    return CST_OK;
}

cst_err cst_bk_scratch(const char *base, const char *what, char *out, size_t n)
{
    TRY(cst_bk_mkdirs(base));
    char id[CST_ID_MAX];
    cst_random_id(what, id);
    TRY(cst_fmt(out, n, "%s/%s", base, id));
    ENSURE(mkdir(out, 0700) == 0, CST_ERR_UNAVAILABLE, "cannot create %s: %s", out,
           strerror(errno));
    return CST_OK;
}

/* Streams one file into the backup under name. */
static cst_err add_file(cst_bk_writer *w, const char *path, const char *name)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ENSURE(fd >= 0, CST_ERR_INTERNAL, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    cst_err e = fstat(fd, &st) == 0 ? CST_OK : cst_fail(CST_ERR_INTERNAL, "cannot stat %s", path);
    uint8_t *buf = malloc(1 << 20);
    if (e == CST_OK && !buf)
        e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (e == CST_OK)
        e = cst_bk_file_begin(w, name, (uint64_t)st.st_size);
    while (e == CST_OK) {
        ssize_t r = read(fd, buf, 1 << 20);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            e = cst_fail(CST_ERR_INTERNAL, "cannot read %s: %s", path, strerror(errno));
        else if (r == 0)
            break;
        else
            e = cst_bk_file_data(w, buf, (size_t)r);
    }
    if (e == CST_OK)
        e = cst_bk_file_end(w);
    free(buf);
    close(fd);
    return e;
}

/* ---- destinations ---- */

/* RES-1: a directory destination carries its region in .custodia-region; the first backup
 * tags an untagged one. */
static cst_err dir_region_check(const char *dir, const char *region)
{
    char path[PATH_MAX];
    TRY(cst_fmt(path, sizeof(path), "%s/.custodia-region", dir));
    if (!cst_path_exists(path)) {
        char line[80];
        int len = snprintf(line, sizeof(line), "%s\n", region);
        return cst_file_write_atomic(path, line, (size_t)len, 0600);
    }
    cst_buf text;
    TRY(cst_file_read(path, 128, &text));
    size_t len = text.len;
    while (len && (text.data[len - 1] == '\n' || text.data[len - 1] == ' '))
        len--;
    bool same = len == strlen(region) && memcmp(text.data, region, len) == 0;
    char tag[80];
    (void)snprintf(tag, sizeof(tag), "%.*s", (int)(len < 64 ? len : 64), (const char *)text.data);
    cst_buf_free(&text);
    ENSURE(same, CST_ERR_REGION_MISMATCH,
           "backup destination %s is tagged for region \"%s\"; this node serves region \"%s\"", dir,
           tag, region);
    return CST_OK;
}

cst_err cst_bk_dest_region_check(const cst_node *n, const char *dir)
{
    if (dir)
        return dir_region_check(dir, n->region);
    const char *tag = n->cfg.backup_region[0] ? n->cfg.backup_region : n->region;
    ENSURE(strcmp(tag, n->region) == 0, CST_ERR_REGION_MISMATCH,
           "backup.command's destination is tagged for region \"%s\" (backup.region); this node "
           "serves region \"%s\"",
           tag, n->region);
    return CST_OK;
}

/* A configured directory must exist (an unmounted backup server must not turn into a local
 * directory); the development default and an explicit --to are created. */
static cst_err dest_dir(const cst_node *n, const char *to_dir, char *out, size_t size)
{
    if (to_dir) {
        TRY(cst_fmt(out, size, "%s", to_dir));
        return cst_bk_mkdirs(out);
    }
    TRY(cst_fmt(out, size, "%s", n->cfg.backup_dir));
    char def[PATH_MAX];
    TRY(cst_fmt(def, sizeof(def), "%s/backups", n->cfg.data_dir));
    if (strcmp(out, def) == 0)
        return cst_bk_mkdirs(out);
    struct stat st;
    ENSURE(stat(out, &st) == 0 && S_ISDIR(st.st_mode), CST_ERR_UNAVAILABLE,
           "backup.dir %s does not exist or is not a directory (is the backup server mounted?)",
           out);
    return CST_OK;
}

/* ---- taking a backup ---- */

typedef struct sink_ctx {
    int fd;
    cst_bk_cmd *cmd;
} sink_ctx;

static cst_err any_sink(void *ctx, const void *p, size_t n)
{
    sink_ctx *s = ctx;
    return s->cmd ? cst_bk_cmd_write(s->cmd, p, n) : cst_bk_fd_sink(&s->fd, p, n);
}

/* ENC-4: the root key that seals the frames, as root.key holds it (wrapped by the KEK), so that
 * the KEK alone opens the backup whatever root key it has (a pkcs11: node's, or one a KEK
 * rotation kept); a data dir without root.key has the KEK's bytes as its root key. */
static cst_err header_root_key(cst_node *n, json_t *header)
{
    char path[PATH_MAX];
    TRY(cst_fmt(path, sizeof(path), "%s/root.key", n->cfg.data_dir));
    if (!cst_path_exists(path))
        return CST_OK;
    cst_buf blob;
    cst_buf_init(&blob, 1024);
    cst_err e = cst_file_read(path, 1024, &blob);
    char hex[2 * 1024 + 1];
    if (e == CST_OK) {
        cst_hex(blob.data, blob.len, hex);
        e = json_object_set_new(header, "root_key", json_string(hex)) == 0
                ? CST_OK
                : cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    cst_buf_free(&blob);
    return e;
}

static cst_err write_backup(cst_node *n, const char *id, int64_t created, const char *staging,
                            cst_bk_sink sink, void *sctx, cst_backup_row *row)
{
    char path[PATH_MAX], name[PATH_MAX];
    uint8_t *sk = NULL, pk[32];
    json_t *tenants = NULL, *tombs = NULL, *header = NULL, *manifest = NULL, *mt = NULL;
    cst_bk_writer *w = NULL;
    char created_s[32];
    cst_time_format(created, created_s);
    /* the system store first: the tenant list comes from its snapshot */
    char sys_copy[PATH_MAX], sys_name[PATH_MAX];
    bool exists = false;
    TRY(cst_store_copy_name(NULL, sys_name, sizeof(sys_name)));
    TRY(cst_fmt(sys_copy, sizeof(sys_copy), "%s/%s", staging, sys_name));
    TRY(cst_store_snapshot(n->store, NULL, staging, &exists));
    TRY(cst_bk_system_lists(staging, &tenants, &tombs));
    cst_err e = cst_node_signing_key(n->cfg.data_dir, &n->root_key, &sk, pk);
    if (e == CST_OK) {
        header = json_pack("{s:s,s:s,s:s,s:s,s:s,s:O}", "backup_id", id, "node_id", n->node_id,
                           "region", n->region, "created_at", created_s, "version",
                           CUSTODIA_VERSION, "tombstones", tombs);
        e = header_root_key(n, header);
    }
    if (e == CST_OK) {
        mt = json_array();
        e = header && mt ? cst_bk_write_start(&n->root_key, sk, header, sink, sctx, &w)
                         : cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    if (e == CST_OK)
        e = add_file(w, sys_copy, sys_name);
    if (e == CST_OK && unlink(sys_copy) != 0)
        cst_warn("cannot remove %s", sys_copy);
    static const char *const node_files[] = {"node-signing.key", "node-signing.pub", "tls/cert.pem",
                                             "tls/key.pem", "root.key"};
    for (size_t i = 0; e == CST_OK && i < sizeof(node_files) / sizeof(*node_files); i++) {
        e = cst_fmt(path, sizeof(path), "%s/%s", n->cfg.data_dir, node_files[i]);
        if (e == CST_OK && cst_path_exists(path))
            e = add_file(w, path, node_files[i]);
    }
    int64_t total_records = 0;
    size_t i;
    json_t *t;
    json_array_foreach(tenants, i, t)
    {
        if (e != CST_OK)
            break;
        const char *tid = json_string_value(t);
        int64_t records = 0, buckets = 0;
        path[0] = '\0';
        e = cst_store_copy_name(tid, name, sizeof(name));
        if (e == CST_OK)
            e = cst_fmt(path, sizeof(path), "%s/%s", staging, name);
        if (e == CST_OK)
            e = cst_store_snapshot(n->store, tid, staging, &exists);
        if (e == CST_OK && !exists) {
            /* a tenant that never stored anything has no store yet */
            json_array_append_new(mt, json_pack("{s:s,s:I,s:I,s:n}", "id", tid, "records",
                                                (json_int_t)0, "buckets", (json_int_t)0, "db"));
            continue;
        }
        if (e == CST_OK)
            e = cst_store_copy_check(staging, name, false, &records, &buckets);
        if (e == CST_OK)
            e = add_file(w, path, name);
        if (path[0] && unlink(path) != 0 && errno != ENOENT)
            cst_warn("cannot remove %s", path);
        if (e == CST_OK)
            json_array_append_new(mt, json_pack("{s:s,s:I,s:I,s:s}", "id", tid, "records",
                                                (json_int_t)records, "buckets", (json_int_t)buckets,
                                                "db", name));
        total_records += records;
    }
    char finished_s[32];
    cst_time_format(cst_now_us(), finished_s);
    if (e == CST_OK) {
        /* The audit log is not carried (docs/operations.md): the manifest says where it went. */
        manifest =
            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:O,s:I,s:o*}", "backup_id", id, "node_id",
                      n->node_id, "region", n->region, "created_at", created_s, "finished_at",
                      finished_s, "version", CUSTODIA_VERSION, "tenants", mt, "tombstones", tombs,
                      "records", (json_int_t)total_records, "audit", cst_ship_manifest(n));
        e = manifest ? cst_bk_finish(w, manifest) : cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    if (e == CST_OK) {
        row->size = (int64_t)cst_bk_written(w);
        cst_bk_file_sha256(w, row->sha256);
        row->tenants = (int64_t)json_array_size(mt);
        row->records = total_records;
    }
    cst_bk_writer_free(w);
    if (sk)
        sodium_free(sk);
    json_decref(header);
    json_decref(manifest);
    json_decref(mt);
    json_decref(tenants);
    json_decref(tombs);
    return e;
}

/* Re-reads a written backup end to end before it gets its final name. */
static cst_err verify_written(cst_node *n, const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ENSURE(fd >= 0, CST_ERR_INTERNAL, "cannot reopen %s: %s", path, strerror(errno));
    cst_err e = cst_bk_read(cst_bk_fd_source, &fd, &n->root_key, n->public_key, NULL, NULL, NULL);
    close(fd);
    return e;
}

/* Removes this node's leftovers of interrupted backups (.tmp-<node>-<id>): no backup of this
 * node runs while backup_mu is held, and other nodes' temporary files are left alone. */
static cst_err sweep_tmp(const cst_node *n, const char *dir)
{
    char prefix[64];
    TRY(cst_fmt(prefix, sizeof(prefix), ".tmp-%s-", n->node_id));
    DIR *d = opendir(dir);
    ENSURE(d != NULL, CST_ERR_UNAVAILABLE, "cannot open %s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
            cst_fmt(path, sizeof(path), "%s/%s", dir, de->d_name) != CST_OK)
            continue;
        if (unlink(path) == 0)
            cst_info("removed %s, left by an interrupted backup", path);
    }
    closedir(d);
    return CST_OK;
}

static cst_err create_locked(cst_node *n, const char *to_dir, cst_backup_row *row)
{
    char dir[PATH_MAX] = "", tmp[PATH_MAX] = "", final[PATH_MAX] = "", staging[PATH_MAX] = "";
    bool to_cmd = !to_dir && n->cfg.backup_command[0];
    if (!to_cmd)
        TRY(dest_dir(n, to_dir, dir, sizeof(dir)));
    TRY(cst_bk_dest_region_check(n, to_cmd ? NULL : dir));
    if (to_cmd) {
        TRY(cst_fmt(row->location, sizeof(row->location), "command:%s", row->id));
    } else {
        TRY(sweep_tmp(n, dir));
        TRY(cst_fmt(tmp, sizeof(tmp), "%s/.tmp-%s-%s", dir, n->node_id, row->id));
        TRY(cst_fmt(final, sizeof(final), "%s/%s", dir, row->id));
        TRY(cst_fmt(row->location, sizeof(row->location), "%s", final));
    }
    TRY(cst_bk_scratch(n->cfg.backup_scratch_dir, "bkstage", staging, sizeof(staging)));
    sink_ctx s = {.fd = -1};
    cst_bk_cmd cmd;
    cst_err e = CST_OK;
    if (to_cmd) {
        e = cst_bk_cmd_start(&cmd, n->cfg.backup_command, true, row->id, n,
                             n->cfg.backup_command_timeout);
        if (e == CST_OK)
            s.cmd = &cmd;
    } else {
        s.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (s.fd < 0)
            e = cst_fail(CST_ERR_UNAVAILABLE, "cannot create %s: %s", tmp, strerror(errno));
    }
    if (e == CST_OK)
        e = write_backup(n, row->id, row->created_at, staging, any_sink, &s, row);
    /* the copies' point in time ends with the last of them (store.h), whatever the outcome */
    cst_err se = cst_store_snapshot_end(n->store);
    if (e == CST_OK)
        e = se;
    if (s.cmd) {
        if (e == CST_OK)
            e = cst_bk_cmd_finish(&cmd);
        else
            cst_bk_cmd_kill(&cmd);
    }
    if (s.fd >= 0) {
        if (e == CST_OK && fsync(s.fd) != 0)
            e = cst_fail(CST_ERR_UNAVAILABLE, "cannot sync %s: %s", tmp, strerror(errno));
        if (close(s.fd) != 0 && e == CST_OK)
            e = cst_fail(CST_ERR_UNAVAILABLE, "cannot close %s: %s", tmp, strerror(errno));
        if (e == CST_OK)
            e = verify_written(n, tmp);
        if (e == CST_OK && rename(tmp, final) != 0)
            e = cst_fail(CST_ERR_UNAVAILABLE, "cannot rename %s: %s", tmp, strerror(errno));
        if (e == CST_OK)
            e = cst_fsync_dir(dir);
        if (e != CST_OK)
            (void)unlink(tmp);
    }
    cst_rm_rf(staging);
    return e;
}

cst_err cst_backup_create(cst_node *n, const char *origin, const char *to_dir, cst_backup_row *out)
{
    ENSURE(pthread_mutex_trylock(&n->backup_mu) == 0, CST_ERR_CONFLICT,
           "a backup or drill is already running on this node");
    if (cst_node_kek_rotating(n)) { /* ENC-4: a backup's keys are under one KEK */
        pthread_mutex_unlock(&n->backup_mu);
        return cst_fail(CST_ERR_CONFLICT, "a master key rotation is running: back up once it "
                                          "has finished (GET /v1/sys/keys)");
    }
    memset(out, 0, sizeof(*out));
    cst_random_id("bk", out->id);
    out->created_at = cst_now_us();
    (void)snprintf(out->origin, sizeof(out->origin), "%s", origin);
    (void)snprintf(out->region, sizeof(out->region), "%s", n->region);
    cst_err e = create_locked(n, to_dir, out);
    out->finished_at = cst_now_us();
    if (e == CST_OK)
        e = cst_copy(out->status, sizeof(out->status), "ok");
    /* the failure's message, kept before anything below can replace it */
    char saved[512];
    (void)snprintf(saved, sizeof(saved), "%s", cst_err_message(e));
    if (e == CST_OK) {
        cst_info("backup %s: %lld tenants, %lld records, %lld bytes in %lld ms to %s", out->id,
                 (long long)out->tenants, (long long)out->records, (long long)out->size,
                 (long long)((out->finished_at - out->created_at) / 1000), out->location);
    } else {
        _Static_assert(sizeof("failed") <= sizeof(out->status), "backup status does not fit");
        if (cst_copy(out->status, sizeof(out->status), "failed") != CST_OK)
            cst_err_clear(); /* cannot happen: asserted at compile time */
        (void)snprintf(out->error, sizeof(out->error), "%s", saved);
        cst_error("backup %s failed: %s", out->id, out->error);
    }
    /* The catalogue row is kept even when the backup failed: it is the failure's evidence. */
    cst_err ce = cst_store_backup_put(n->store, NULL, out);
    pthread_mutex_unlock(&n->backup_mu);
    if (e != CST_OK)
        return cst_fail(e, "%s", saved);
    return ce;
}

/* ---- listing and pruning ---- */

cst_err cst_bk_header_of(const char *path, json_t **header)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ENSURE(fd >= 0, CST_ERR_NOT_FOUND, "cannot open %s: %s", path, strerror(errno));
    cst_err e = cst_bk_read_header(cst_bk_fd_source, &fd, header);
    close(fd);
    return e;
}

cst_err cst_backup_root_blob(const char *path, cst_buf *blob, bool *present)
{
    json_t *h = NULL;
    TRY(cst_bk_header_of(path, &h));
    const char *hex = json_string_value(json_object_get(h, "root_key"));
    size_t len = hex ? strlen(hex) / 2 : 0;
    cst_err e = CST_OK;
    *present = hex != NULL;
    if (hex && (strlen(hex) % 2 || len == 0 || len > 1024))
        e = cst_fail(CST_ERR_INTEGRITY, "%s: the header's root_key is malformed", path);
    uint8_t raw[1024];
    if (hex && e == CST_OK && cst_unhex(hex, raw, len) != CST_OK)
        e = cst_fail(CST_ERR_INTEGRITY, "%s: the header's root_key is malformed", path);
    if (hex && e == CST_OK)
        e = cst_buf_append(blob, raw, len);
    json_decref(h);
    return e;
}

static int by_created_desc(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *cx = json_string_value(json_object_get(x, "created_at"));
    const char *cy = json_string_value(json_object_get(y, "created_at"));
    return strcmp(cy ? cy : "", cx ? cx : "");
}

cst_err cst_bk_sort_newest(json_t *arr)
{
    size_t cnt = json_array_size(arr);
    json_t **items = calloc(cnt ? cnt : 1, sizeof(*items));
    ENSURE(items != NULL, CST_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < cnt; i++)
        items[i] = json_incref(json_array_get(arr, i));
    qsort(items, cnt, sizeof(*items), by_created_desc);
    json_array_clear(arr);
    for (size_t i = 0; i < cnt; i++)
        json_array_append_new(arr, items[i]);
    free(items);
    return CST_OK;
}

cst_err cst_backup_list_dir(const char *dir, json_t **list)
{
    DIR *d = opendir(dir);
    ENSURE(d != NULL, CST_ERR_NOT_FOUND, "cannot open backup directory %s: %s", dir,
           strerror(errno));
    json_t *arr = json_array();
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!cst_id_valid(de->d_name, "bk"))
            continue;
        char path[PATH_MAX];
        json_t *h = NULL;
        struct stat st;
        if (cst_fmt(path, sizeof(path), "%s/%s", dir, de->d_name) != CST_OK ||
            stat(path, &st) != 0) {
            cst_err_clear();
            continue;
        }
        if (cst_bk_header_of(path, &h) != CST_OK) {
            json_array_append_new(arr,
                                  json_pack("{s:s,s:s,s:s}", "backup_id", de->d_name, "path", path,
                                            "error", cst_err_message(CST_ERR_INTEGRITY)));
            cst_err_clear();
            continue;
        }
        json_object_set_new(h, "path", json_string(path));
        json_object_set_new(h, "size", json_integer((json_int_t)st.st_size));
        json_object_del(h, "salt");
        json_array_append_new(arr, h);
    }
    closedir(d);
    cst_err e = cst_bk_sort_newest(arr);
    if (e != CST_OK) {
        json_decref(arr);
        return e;
    }
    *list = arr;
    return CST_OK;
}

static void mark_pruned(cst_node *n, const char *id)
{
    cst_backup_row b;
    if (cst_store_backup_get(n->store, NULL, id, &b) != CST_OK) {
        cst_err_clear();
        return;
    }
    if (cst_copy(b.status, sizeof(b.status), "pruned") != CST_OK ||
        cst_store_backup_put(n->store, NULL, &b) != CST_OK) {
        cst_warn("cannot mark backup %s pruned: %s", id, cst_err_message(CST_ERR_INTERNAL));
        cst_err_clear();
    }
}

struct prune_ctx {
    int64_t cutoff;
    json_t *ids;
};

static cst_err collect_expired(const cst_backup_row *b, void *p)
{
    struct prune_ctx *c = p;
    if (!strcmp(b->status, "ok") && b->created_at < c->cutoff &&
        !strncmp(b->location, "command:", 8))
        json_array_append_new(c->ids, json_string(b->id));
    return CST_OK;
}

static cst_err prune_dir(cst_node *n, int64_t cutoff, json_t *removed)
{
    char dir[PATH_MAX];
    TRY(cst_fmt(dir, sizeof(dir), "%s", n->cfg.backup_dir));
    if (!cst_path_exists(dir))
        return CST_OK;
    TRY(sweep_tmp(n, dir));
    json_t *list = NULL;
    TRY(cst_backup_list_dir(dir, &list));
    size_t i;
    json_t *b;
    cst_err e = CST_OK;
    json_array_foreach(list, i, b)
    {
        int64_t created = 0;
        const char *cs = json_string_value(json_object_get(b, "created_at"));
        const char *path = json_string_value(json_object_get(b, "path"));
        const char *id = json_string_value(json_object_get(b, "backup_id"));
        if (!cs || !cst_time_parse(cs, &created) || created >= cutoff || !path || !id)
            continue;
        if (unlink(path) != 0) {
            e = cst_fail(CST_ERR_UNAVAILABLE, "cannot remove expired backup %s: %s", path,
                         strerror(errno));
            break;
        }
        json_array_append_new(removed, json_string(id));
        mark_pruned(n, id);
    }
    json_decref(list);
    if (e == CST_OK)
        e = cst_fsync_dir(dir);
    return e;
}

static cst_err prune_cmd(cst_node *n, int64_t cutoff, json_t *removed)
{
    struct prune_ctx c = {cutoff, json_array()};
    cst_err e = cst_store_backup_list(n->store, NULL, 100000, collect_expired, &c);
    size_t i;
    json_t *id;
    json_array_foreach(c.ids, i, id)
    {
        if (e != CST_OK)
            break;
        cst_bk_cmd cmd;
        e = cst_bk_cmd_start(&cmd, n->cfg.backup_prune_command, false, json_string_value(id), n,
                             n->cfg.backup_command_timeout);
        if (e == CST_OK)
            e = cst_bk_cmd_finish(&cmd);
        if (e == CST_OK) {
            json_array_append(removed, id);
            mark_pruned(n, json_string_value(id));
        }
    }
    json_decref(c.ids);
    return e;
}

static cst_err newest_ok(const cst_backup_row *b, void *p)
{
    char *id = p;
    if (!id[0] && !strcmp(b->status, "ok"))
        (void)snprintf(id, CST_ID_MAX, "%s", b->id);
    return CST_OK;
}

cst_err cst_bk_newest_ok(cst_node *n, char *id, size_t size)
{
    char found[CST_ID_MAX] = "";
    TRY(cst_store_backup_list(n->store, NULL, 100000, newest_ok, found));
    ENSURE(found[0], CST_ERR_NOT_FOUND, "the catalogue holds no good backup to drill with");
    return cst_fmt(id, size, "%s", found);
}

cst_err cst_backup_prune(cst_node *n, int64_t now_us, int *removed)
{
    ENSURE(pthread_mutex_trylock(&n->backup_mu) == 0, CST_ERR_CONFLICT,
           "a backup or drill is already running on this node");
    int64_t cutoff = now_us - (int64_t)n->cfg.backup_retention_days * 86400 * 1000000;
    json_t *ids = json_array();
    cst_err e = n->cfg.backup_command[0] ? prune_cmd(n, cutoff, ids) : prune_dir(n, cutoff, ids);
    pthread_mutex_unlock(&n->backup_mu);
    *removed = (int)json_array_size(ids);
    char saved[512];
    (void)snprintf(saved, sizeof(saved), "%s", e == CST_OK ? "" : cst_err_message(e));
    if (*removed > 0 || e != CST_OK) {
        json_t *info =
            json_pack("{s:O,s:i}", "removed", ids, "retention_days", n->cfg.backup_retention_days);
        if (e != CST_OK)
            json_object_set_new(info, "error", json_string(saved));
        cst_bk_audit(n, "backup.prune", e == CST_OK ? "success" : "failure", NULL, info);
        json_decref(info);
    }
    json_decref(ids);
    return e == CST_OK ? CST_OK : cst_fail(e, "%s", saved);
}

/* ---- audit, views, health ---- */

void cst_bk_audit(cst_node *n, const char *action, const char *outcome, const char *tenant,
                  json_t *info)
{
    cst_node_audit_event(n, action, outcome, tenant, "/v1/sys/backups", json_incref(info));
}

json_t *cst_backup_row_json(const cst_backup_row *b)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:I,s:I,s:I}", "id", b->id, "status",
                          b->status, "origin", b->origin, "location", b->location, "region",
                          b->region, "size", (json_int_t)b->size, "sha256", b->sha256, "tenants",
                          (json_int_t)b->tenants, "records", (json_int_t)b->records, "duration_ms",
                          (json_int_t)((b->finished_at - b->created_at) / 1000));
    if (!o)
        return NULL;
    json_object_set_new(o, "created_at", cst_json_time(b->created_at));
    json_object_set_new(o, "finished_at", cst_json_time(b->finished_at));
    if (b->error[0])
        json_object_set_new(o, "error", json_string(b->error));
    return o;
}

json_t *cst_drill_row_json(const cst_drill_row *d)
{
    json_t *o =
        json_pack("{s:s,s:s,s:I,s:I,s:I,s:s}", "id", d->id, "backup_id", d->backup_id,
                  "duration_ms", (json_int_t)d->duration_ms, "tenants", (json_int_t)d->tenants,
                  "records", (json_int_t)d->records, "result", d->ok ? "pass" : "fail");
    if (!o)
        return NULL;
    json_object_set_new(o, "started_at", cst_json_time(d->started_at));
    if (d->error[0])
        json_object_set_new(o, "error", json_string(d->error));
    return o;
}

struct health_ctx {
    int64_t last_ok, last_failed;
    char last_error[512];
    const cst_drill_row *drill;
    cst_drill_row d;
    bool have_drill;
};

static cst_err health_backup(const cst_backup_row *b, void *p)
{
    struct health_ctx *h = p;
    if ((!strcmp(b->status, "ok") || !strcmp(b->status, "pruned")) && !h->last_ok)
        h->last_ok = b->finished_at;
    if (!strcmp(b->status, "failed") && !h->last_failed) {
        h->last_failed = b->finished_at;
        (void)snprintf(h->last_error, sizeof(h->last_error), "%s", b->error);
    }
    return CST_OK;
}

static cst_err health_drill(const cst_drill_row *d, void *p)
{
    struct health_ctx *h = p;
    h->d = *d;
    h->have_drill = true;
    return CST_OK;
}

json_t *cst_backup_health(cst_node *n)
{
    struct health_ctx h;
    memset(&h, 0, sizeof(h));
    if (cst_store_backup_list(n->store, NULL, 50, health_backup, &h) != CST_OK ||
        cst_store_drill_list(n->store, NULL, 1, health_drill, &h) != CST_OK)
        cst_err_clear();
    const char *status = !h.last_ok && !h.last_failed ? "none"
                         : h.last_failed > h.last_ok  ? "failing"
                                                      : "ok";
    int64_t now = cst_now_us();
    if (!strcmp(status, "ok") && n->cfg.backup_interval > 0 &&
        now - h.last_ok > 2 * n->cfg.backup_interval * 1000000LL)
        status = "overdue";
    json_t *o = json_pack("{s:s}", "status", status);
    if (!o)
        return NULL;
    json_object_set_new(o, "last_success_at", cst_json_time(h.last_ok));
    json_object_set_new(o, "last_failure_at", cst_json_time(h.last_failed));
    json_object_set_new(o, "last_drill_at", cst_json_time(h.have_drill ? h.d.started_at : 0));
    json_object_set_new(o, "last_drill_result",
                        h.have_drill ? json_string(h.d.ok ? "pass" : "fail") : json_null());
    return o;
}

/* ---- the schedule ---- */

static int64_t last_attempt(cst_node *n, bool *last_ok)
{
    struct health_ctx h;
    memset(&h, 0, sizeof(h));
    if (cst_store_backup_list(n->store, NULL, 50, health_backup, &h) != CST_OK)
        cst_err_clear();
    *last_ok = h.last_ok >= h.last_failed;
    return h.last_ok > h.last_failed ? h.last_ok : h.last_failed;
}

static void scheduled_run(cst_node *n)
{
    cst_backup_row row;
    cst_err e = cst_backup_create(n, "schedule", NULL, &row);
    json_t *info = cst_backup_row_json(&row);
    if (e == CST_ERR_CONFLICT) { /* an operator's backup is running: nothing to do */
        json_decref(info);
        cst_err_clear();
        return;
    }
    cst_bk_audit(n, e == CST_OK ? "backup.create" : "backup.failed",
                 e == CST_OK ? "success" : "failure", NULL, info);
    json_decref(info);
    cst_err_clear();
    int removed = 0;
    if (cst_backup_prune(n, cst_now_us(), &removed) != CST_OK)
        cst_err_clear();
}

static void *sched_main(void *arg)
{
    cst_node *n = arg;
    cst_node_lease_state leader = {0};
    pthread_mutex_lock(&n->sched_mu);
    while (!n->sched_stop) {
        bool ok = true;
        pthread_mutex_unlock(&n->sched_mu);
        int64_t now = cst_now_us(), last = last_attempt(n, &ok);
        /* after a failure, retry within the hour rather than a whole interval later */
        int64_t every = n->cfg.backup_interval * 1000000LL;
        if (!ok && every > 3600LL * 1000000)
            every = 3600LL * 1000000;
        int64_t due = last + every;
        /* one node of a shared store runs the schedule (issue 20): it wakes at least every minute
         * and renews its lease for three */
        if (now >= due && cst_node_lease(n, "backup.schedule", 180LL * 1000000, &leader)) {
            scheduled_run(n);
            due = cst_now_us() + every;
        }
        pthread_mutex_lock(&n->sched_mu);
        int64_t wait = due - cst_now_us();
        if (wait > 60LL * 1000000)
            wait = 60LL * 1000000; /* re-read the catalogue now and then */
        if (wait < 100000)
            wait = 100000;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (wait % 1000000) * 1000;
        ts.tv_sec += (time_t)(wait / 1000000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        if (!n->sched_stop)
            pthread_cond_timedwait(&n->sched_cv, &n->sched_mu, &ts);
    }
    pthread_mutex_unlock(&n->sched_mu);
    return NULL;
}

cst_err cst_backup_schedule_start(cst_node *n)
{
    TRY(cst_bk_env_check(&n->cfg)); /* a bad credentials file is found now, not at 2 a.m. */
    if (n->cfg.backup_interval <= 0)
        return CST_OK;
    n->sched_stop = false;
    ENSURE(pthread_create(&n->sched_thread, NULL, sched_main, n) == 0, CST_ERR_INTERNAL,
           "cannot start the backup schedule");
    n->sched_started = true;
    return CST_OK;
}

void cst_backup_schedule_stop(cst_node *n)
{
    if (!n->sched_started)
        return;
    pthread_mutex_lock(&n->sched_mu);
    n->sched_stop = true;
    pthread_cond_broadcast(&n->sched_cv);
    pthread_mutex_unlock(&n->sched_mu);
    pthread_join(n->sched_thread, NULL);
    n->sched_started = false;
}
