/* restore.c: verifying a backup file, restoring a node or a tenant, recovery drills (BAK-2,
 * BAK-3, BAK-4, RES-1). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/record.h"
#include "backup/archive.h"
#include "backup/backup.h"
#include "backup/internal.h"
#include "util/json.h"
#include "util/util.h"

/* ---- extracting files from a backup into a staging directory ---- */

typedef struct extract {
    const char *dir;         /* staging root */
    const char *only_tenant; /* NULL: every file; else the system store and this tenant's */
    const json_t *skip;      /* erased tenant ids: their stores are not written */
    int fd;
    char path[PATH_MAX];
    json_t *written; /* names written, in order */
} extract;

static bool in_list(const json_t *ids, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        const char *s = json_is_string(v) ? json_string_value(v)
                                          : json_string_value(json_object_get(v, "tenant"));
        if (s && strcmp(s, id) == 0)
            return true;
    }
    return false;
}

static cst_err ex_begin(void *ctx, const char *name, uint64_t size)
{
    extract *x = ctx;
    char tid[CST_ID_MAX], sys[PATH_MAX];
    static const char *const node_files[] = {"node-signing.key", "node-signing.pub", "tls/cert.pem",
                                             "tls/key.pem", "root.key"};
    TRY(cst_store_copy_name(NULL, sys, sizeof(sys)));
    bool system = strcmp(name, sys) == 0, node_file = system;
    bool tenant = cst_store_copy_tenant(name, tid);
    for (size_t i = 0; i < sizeof(node_files) / sizeof(*node_files); i++)
        node_file = node_file || strcmp(name, node_files[i]) == 0;
    ENSURE(node_file || tenant, CST_ERR_INTEGRITY, "the backup holds an unexpected file: %s", name);
    x->fd = -1;
    bool want = true;
    if (x->only_tenant)
        want = system || (tenant && strcmp(tid, x->only_tenant) == 0);
    if (tenant && x->skip && in_list(x->skip, tid))
        want = false;
    if (!want)
        return CST_OK;
    TRY(cst_fmt(x->path, sizeof(x->path), "%s/%s", x->dir, name));
    if (strchr(name, '/')) {
        char parent[PATH_MAX];
        TRY(cst_fmt(parent, sizeof(parent), "%s", x->path));
        TRY(cst_bk_mkdirs(dirname(parent)));
    }
    x->fd = open(x->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    ENSURE(x->fd >= 0, CST_ERR_UNAVAILABLE, "cannot create %s: %s", x->path, strerror(errno));
    json_array_append_new(x->written, json_string(name));
    return CST_OK;
}

static cst_err ex_data(void *ctx, const uint8_t *p, size_t n)
{
    extract *x = ctx;
    if (x->fd < 0)
        return CST_OK;
    return cst_bk_fd_sink(&x->fd, p, n);
}

static cst_err ex_end(void *ctx, const char *name)
{
    extract *x = ctx;
    if (x->fd < 0)
        return CST_OK;
    int rc = fsync(x->fd);
    int fd = x->fd;
    x->fd = -1;
    ENSURE(close(fd) == 0 && rc == 0, CST_ERR_UNAVAILABLE, "cannot write %s: %s", x->path,
           strerror(errno));
    return CST_OK;
}

/* Reads, checks and extracts a backup file. */
static cst_err extract_backup(const char *from, const cst_key *kek, const uint8_t *pin, extract *x,
                              json_t **header, json_t **manifest)
{
    int fd = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ENSURE(fd >= 0, CST_ERR_NOT_FOUND, "cannot open backup %s: %s", from, strerror(errno));
    x->fd = -1;
    x->written = json_array();
    cst_bk_visitor v = {ex_begin, ex_data, ex_end, x};
    cst_err e = cst_bk_read(cst_bk_fd_source, &fd, kek, pin, &v, header, manifest);
    if (x->fd >= 0)
        close(x->fd);
    x->fd = -1;
    close(fd);
    return e;
}

/* The tenant entries of a manifest that have a database. */
static const json_t *manifest_tenant(const json_t *manifest, const char *id)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(manifest, "tenants"), i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "id")) ?: "", id) == 0)
            return t;
    }
    return NULL;
}

/* Checks every staged store copy's integrity and compares its counts with the manifest. */
static cst_err check_staged(const char *dir, const json_t *manifest, const char *only,
                            const json_t *skip, int64_t *tenants, int64_t *records)
{
    char sys[PATH_MAX];
    TRY(cst_store_copy_name(NULL, sys, sizeof(sys)));
    TRY(cst_store_copy_check(dir, sys, true, NULL, NULL));
    *tenants = 0;
    *records = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(manifest, "tenants"), i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        const char *db = json_string_value(json_object_get(t, "db"));
        ENSURE(id && cst_id_valid(id, "tn"), CST_ERR_INTEGRITY, "manifest names a bad tenant");
        if ((only && strcmp(id, only) != 0) || (skip && in_list(skip, id)))
            continue;
        (*tenants)++;
        if (!db)
            continue;
        int64_t want = json_integer_value(json_object_get(t, "records")), got = -1;
        TRY(cst_store_copy_check(dir, db, true, &got, NULL));
        ENSURE(got == want, CST_ERR_INTEGRITY,
               "tenant %s: the restored database holds %lld records, the manifest %lld", id,
               (long long)got, (long long)want);
        *records += got;
    }
    return CST_OK;
}

static cst_err region_check(const json_t *header, const char *region)
{
    const char *r = json_string_value(json_object_get(header, "region"));
    ENSURE(r != NULL, CST_ERR_INTEGRITY, "backup header names no region");
    ENSURE(!region || !region[0] || strcmp(r, region) == 0, CST_ERR_REGION_MISMATCH,
           "the backup belongs to region \"%s\"; this restore is for region \"%s\"", r, region);
    return CST_OK;
}

cst_err cst_backup_verify_file(const char *path, const cst_key *kek, const uint8_t *pin,
                               const char *region, const char *scratch_dir, json_t **report)
{
    int64_t t0 = cst_now_us();
    json_t *header = NULL, *manifest = NULL;
    TRY(cst_bk_header_of(path, &header));
    cst_err e = region_check(header, region);
    json_decref(header);
    header = NULL;
    TRY(e);
    char scratch[PATH_MAX];
    TRY(cst_bk_scratch(scratch_dir, "verify", scratch, sizeof(scratch)));
    extract x = {.dir = scratch};
    e = extract_backup(path, kek, pin, &x, &header, &manifest);
    int64_t tenants = 0, records = 0;
    if (e == CST_OK)
        e = check_staged(scratch, manifest, NULL, NULL, &tenants, &records);
    cst_rm_rf(scratch);
    if (e == CST_OK) {
        struct stat st;
        *report = json_pack(
            "{s:s,s:O,s:O,s:O,s:O,s:I,s:I,s:I,s:I,s:s,s:s,s:s,s:I}", "result", "ok", "backup_id",
            json_object_get(header, "backup_id"), "node_id", json_object_get(header, "node_id"),
            "region", json_object_get(header, "region"), "created_at",
            json_object_get(header, "created_at"), "files",
            (json_int_t)json_array_size(json_object_get(manifest, "files")), "tenants",
            (json_int_t)tenants, "records", (json_int_t)records, "bytes",
            (json_int_t)(stat(path, &st) == 0 ? st.st_size : 0), "signatures", "ok", "hashes", "ok",
            "integrity_check", "ok", "duration_ms", (json_int_t)((cst_now_us() - t0) / 1000));
    }
    json_decref(x.written);
    json_decref(header);
    json_decref(manifest);
    return e;
}

/* ---- tombstones (BAK-4: restore never resurrects an erased tenant) ---- */

/* The backup's own tombstones and those of every newer backup beside it. */
static json_t *known_tombstones(const char *from, const json_t *header)
{
    json_t *all = json_array();
    json_array_extend(all, json_object_get(header, "tombstones"));
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof(copy), "%s", from) >= (int)sizeof(copy))
        return all;
    json_t *list = NULL;
    if (cst_backup_list_dir(dirname(copy), &list) != CST_OK) {
        cst_err_clear();
        return all;
    }
    const char *mine = json_string_value(json_object_get(header, "created_at"));
    const char *node = json_string_value(json_object_get(header, "node_id"));
    size_t i;
    json_t *b;
    json_array_foreach(list, i, b)
    {
        const char *c = json_string_value(json_object_get(b, "created_at"));
        const char *bn = json_string_value(json_object_get(b, "node_id"));
        if (c && mine && bn && node && strcmp(bn, node) == 0 && strcmp(c, mine) > 0)
            json_array_extend(all, json_object_get(b, "tombstones"));
    }
    json_decref(list);
    return all;
}

/* Drops erased tenants from the staged system store and records their tombstones. */
static cst_err apply_tombstones(const char *staging, const json_t *tombs)
{
    size_t n = json_array_size(tombs), k = 0, i;
    cst_tombstone_row *rows = calloc(n ? n : 1, sizeof(*rows));
    ENSURE(rows != NULL, CST_ERR_INTERNAL, "out of memory");
    json_t *t;
    cst_err e = CST_OK;
    json_array_foreach(tombs, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "tenant"));
        if (!id)
            continue;
        e = cst_copy(rows[k].tenant_id, sizeof(rows[k].tenant_id), id);
        if (e != CST_OK)
            break;
        rows[k++].erased_at = json_integer_value(json_object_get(t, "erased_at"));
    }
    if (e == CST_OK)
        e = cst_store_copy_drop_erased(staging, rows, k);
    free(rows);
    return e;
}

/* ---- whole node ---- */

static cst_err prepare_target(const char *dir)
{
    char marker[PATH_MAX];
    TRY(cst_fmt(marker, sizeof(marker), "%s/RESTORE-INCOMPLETE", dir));
    struct stat st;
    if (lstat(dir, &st) == 0) {
        ENSURE(S_ISDIR(st.st_mode), CST_ERR_CONFLICT, "%s exists and is not a directory", dir);
        if (cst_path_exists(marker)) {
            cst_warn("%s holds an unfinished restore: removing it and starting again", dir);
            cst_rm_rf(dir);
        } else {
            DIR *d = opendir(dir);
            ENSURE(d != NULL, CST_ERR_INVALID, "cannot open %s", dir);
            struct dirent *de;
            bool empty = true;
            while ((de = readdir(d)) != NULL)
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                    empty = false;
            closedir(d);
            ENSURE(empty, CST_ERR_CONFLICT,
                   "%s is not empty: a whole-node restore needs a new or empty data dir", dir);
        }
    }
    TRY(cst_bk_mkdirs(dir));
    TRY(cst_file_write_atomic(marker, "restore in progress\n", 20, 0600));
    return CST_OK;
}

/* Whether the target node's stores are the copies themselves (SQLite files in its data dir,
 * moved into place), or live in a database the copies are imported into (issue 20:
 * store.driver = postgresql; the documented way from SQLite to PostgreSQL). */
static bool stores_are_copies(const cst_restore_opts *o)
{
    return !o->store || !o->store->driver ||
           strcmp(o->store->driver, CST_STORE_DEFAULT_DRIVER) == 0;
}

/* Whether a staged file is a store copy (system or tenant). */
static bool is_copy(const char *name)
{
    char sys[PATH_MAX], tid[CST_ID_MAX];
    if (cst_store_copy_name(NULL, sys, sizeof(sys)) != CST_OK) {
        cst_err_clear(); /* cannot happen: the name is a constant */
        return false;
    }
    return strcmp(name, sys) == 0 || cst_store_copy_tenant(name, tid);
}

/* Imports the staged copies into the (empty) database of the node's store: one transaction,
 * the restore's last step before its marker goes, so a failure leaves nothing in it. */
static cst_err import_copies(const cst_restore_opts *o, const char *staging)
{
    cst_store_conf c = *o->store;
    c.data_dir = o->data_dir;
    cst_store *st = NULL;
    TRY(cst_store_open_conf(&c, true, &st));
    cst_err e = cst_store_import(st, staging);
    cst_store_close(st);
    if (e == CST_ERR_CONFLICT) { /* a database in use: nothing of this restore stays behind */
        char saved[512];
        (void)snprintf(saved, sizeof(saved), "%s", cst_err_message(e));
        cst_rm_rf(o->data_dir);
        e = cst_fail(e, "%s", saved);
    }
    return e;
}

/* Moves the staged files into the data dir; with copies false, the store copies stay in
 * staging (they are imported into a database instead). */
static cst_err move_into_place(const char *staging, const char *dir, const json_t *written,
                               bool copies)
{
    static const char *const subdirs[] = {"tenants", "audit", "tls", "backups"};
    char path[PATH_MAX], from[PATH_MAX];
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(*subdirs); i++) {
        TRY(cst_fmt(path, sizeof(path), "%s/%s", dir, subdirs[i]));
        TRY(cst_bk_mkdirs(path));
    }
    size_t i;
    json_t *name;
    json_array_foreach(written, i, name)
    {
        if (!copies && is_copy(json_string_value(name)))
            continue;
        TRY(cst_fmt(from, sizeof(from), "%s/%s", staging, json_string_value(name)));
        TRY(cst_fmt(path, sizeof(path), "%s/%s", dir, json_string_value(name)));
        ENSURE(rename(from, path) == 0, CST_ERR_UNAVAILABLE, "cannot move %s into place: %s", path,
               strerror(errno));
    }
    for (size_t k = 0; k < 3; k++) {
        TRY(cst_fmt(path, sizeof(path), "%s/%s", dir, subdirs[k]));
        TRY(cst_fsync_dir(path));
    }
    return cst_fsync_dir(dir);
}

static cst_err restore_node(const cst_restore_opts *o, const json_t *header, json_t *tombs,
                            json_t **report)
{
    char staging[PATH_MAX], marker[PATH_MAX];
    if (o->k0_path)
        ENSURE(!cst_path_exists(o->k0_path), CST_ERR_CONFLICT,
               "%s exists already: move the old audit seal key away or choose another path",
               o->k0_path);
    TRY(prepare_target(o->data_dir));
    cst_err e = cst_fmt(staging, sizeof(staging), "%s/.restore", o->data_dir);
    if (e == CST_OK)
        e = cst_bk_mkdirs(staging);
    extract x = {.dir = staging, .skip = tombs};
    json_t *h = NULL, *manifest = NULL;
    int64_t tenants = 0, records = 0;
    if (e == CST_OK)
        e = extract_backup(o->from, o->kek, o->pin, &x, &h, &manifest);
    if (e == CST_OK)
        e = check_staged(staging, manifest, NULL, tombs, &tenants, &records);
    if (e == CST_OK)
        e = apply_tombstones(staging, tombs);
    bool files = stores_are_copies(o);
    if (e == CST_OK)
        e = move_into_place(staging, o->data_dir, x.written, files);
    if (e == CST_OK && o->k0_path)
        e = cst_node_make_seal_key(o->data_dir, o->kek, o->k0_path);
    if (e == CST_OK && !files)
        e = import_copies(o, staging);
    if (e == CST_OK) {
        cst_rm_rf(staging);
        e = cst_fmt(marker, sizeof(marker), "%s/RESTORE-INCOMPLETE", o->data_dir);
    }
    if (e == CST_OK && unlink(marker) != 0)
        e = cst_fail(CST_ERR_UNAVAILABLE, "cannot remove %s: %s", marker, strerror(errno));
    if (e == CST_OK)
        e = cst_fsync_dir(o->data_dir);
    if (e == CST_OK) {
        json_t *skipped = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(manifest, "tenants"), i, t)
        {
            if (in_list(tombs, json_string_value(json_object_get(t, "id"))))
                json_array_append(skipped, json_object_get(t, "id"));
        }
        *report =
            json_pack("{s:s,s:O,s:O,s:O,s:s,s:I,s:I,s:o,s:O}", "mode", "node", "backup_id",
                      json_object_get(h, "backup_id"), "node_id", json_object_get(h, "node_id"),
                      "region", json_object_get(h, "region"), "data_dir", o->data_dir, "tenants",
                      (json_int_t)tenants, "records", (json_int_t)records, "skipped_erased",
                      skipped, "manifest_tenants", json_object_get(manifest, "tenants"));
        if (o->k0_path)
            json_object_set_new(*report, "seal_key_file", json_string(o->k0_path));
        /* the source's audit log is not carried: where it went (node/ship.h) */
        json_t *audit = json_object_get(manifest, "audit");
        if (*report && audit)
            json_object_set(*report, "source_audit", audit);
    }
    if (e != CST_OK && e != CST_ERR_CONFLICT) {
        /* nothing of a failed restore stays behind (a crash leaves the marker instead) */
        char saved[512];
        (void)snprintf(saved, sizeof(saved), "%s", cst_err_message(e));
        cst_rm_rf(o->data_dir);
        e = cst_fail(e, "%s", saved);
    }
    json_decref(x.written);
    json_decref(h);
    json_decref(manifest);
    return e;
}

/* ---- one tenant into an existing, stopped node ---- */

static cst_err live_meta(cst_store *live, const char *k, char *out, size_t n)
{
    cst_err e = cst_store_meta_get(live, NULL, k, out, n);
    if (e == CST_ERR_NOT_FOUND) {
        cst_err_clear();
        return cst_fail(CST_ERR_INVALID, "the target's system store has no %s", k);
    }
    return e;
}

static cst_err tomb_match(const cst_tombstone_row *t, void *ctx)
{
    const char **tenant = ctx;
    if (*tenant && strcmp(t->tenant_id, *tenant) == 0)
        *tenant = NULL; /* found */
    return CST_OK;
}

/* Checks the target node: master key, region, and that the tenant was never erased there. */
static cst_err tenant_target_checks(cst_store *live, const cst_restore_opts *o,
                                    const json_t *header, const json_t *tombs)
{
    char kid[CST_KEK_ID_LEN + 1], stored[64], region[80];
    cst_kek_id(o->kek, kid);
    /* backups are sealed under the root key: its id is the KEK's until a KEK rotation, which
     * keeps the root key and records its id (node/kekrot.c) */
    if (live_meta(live, "root_key_id", stored, sizeof(stored)) != CST_OK) {
        cst_err_clear();
        TRY(live_meta(live, "kek_id", stored, sizeof(stored)));
    }
    ENSURE(strcmp(stored, kid) == 0, CST_ERR_INVALID,
           "the master key given (id %s) is not this node's (id %s)", kid, stored);
    TRY(live_meta(live, "region", region, sizeof(region)));
    TRY(region_check(header, region));
    const char *unseen = o->tenant;
    TRY(cst_store_tombstone_list(live, NULL, tomb_match, &unseen));
    ENSURE(unseen && !in_list(tombs, o->tenant), CST_ERR_CONFLICT,
           "tenant %s was erased; a restore never brings an erased tenant back (RET-4)", o->tenant);
    return CST_OK;
}

static cst_err restore_tenant(const cst_restore_opts *o, const json_t *header, json_t *tombs,
                              json_t **report)
{
    ENSURE(cst_id_valid(o->tenant, "tn"), CST_ERR_INVALID, "\"%s\" is not a tenant id", o->tenant);
    char staging[PATH_MAX], base[PATH_MAX];
    TRY(cst_node_check_data_dir(o->data_dir, o->store ? o->store->driver : NULL));
    cst_store *live = NULL;
    cst_store_conf sc = {.data_dir = o->data_dir};
    TRY(cst_store_open_conf(o->store ? o->store : &sc, false, &live));
    cst_err e = tenant_target_checks(live, o, header, tombs);
    if (e == CST_OK)
        e = cst_fmt(base, sizeof(base), "%s/tmp", o->data_dir);
    if (e == CST_OK)
        e = cst_bk_scratch(base, "restore", staging, sizeof(staging));
    else
        staging[0] = '\0';
    extract x = {.dir = staging, .only_tenant = o->tenant};
    json_t *h = NULL, *manifest = NULL;
    int64_t tenants = 0, records = 0;
    bool created = false;
    if (e == CST_OK)
        e = extract_backup(o->from, o->kek, o->pin, &x, &h, &manifest);
    if (e == CST_OK && !manifest_tenant(manifest, o->tenant))
        e = cst_fail(CST_ERR_NOT_FOUND, "the backup holds no tenant %s", o->tenant);
    if (e == CST_OK)
        e = check_staged(staging, manifest, o->tenant, NULL, &tenants, &records);
    if (e == CST_OK)
        e = cst_store_merge_tenant(live, staging, o->tenant, &created);
    cst_store_close(live);
    cst_rm_rf(staging);
    if (e == CST_OK)
        *report = json_pack("{s:s,s:s,s:O,s:O,s:I,s:b}", "mode", "tenant", "tenant", o->tenant,
                            "backup_id", json_object_get(h, "backup_id"), "created_at",
                            json_object_get(h, "created_at"), "records", (json_int_t)records,
                            "tenant_recreated", created);
    json_decref(x.written);
    json_decref(h);
    json_decref(manifest);
    return e;
}

cst_err cst_backup_restore(const cst_restore_opts *o, json_t **report)
{
    int64_t t0 = cst_now_us();
    json_t *header = NULL;
    TRY(cst_bk_header_of(o->from, &header));
    cst_err e = region_check(header, o->region);
    json_t *tombs = known_tombstones(o->from, header);
    *report = NULL;
    if (e == CST_OK)
        e = o->tenant ? restore_tenant(o, header, tombs, report)
                      : restore_node(o, header, tombs, report);
    json_decref(tombs);
    json_decref(header);
    if (e == CST_OK)
        json_object_set_new(*report, "duration_ms",
                            json_integer((json_int_t)((cst_now_us() - t0) / 1000)));
    return e;
}

/* ---- drills (BAK-3) ---- */

typedef struct drill_walk {
    cst_tenant_ctx *t;
    const char *bucket;
    cst_record_row row;
    int64_t records;
    cst_err e;
    json_t *buckets;
} drill_walk;

static cst_err drill_bucket(const cst_bucket_row *b, void *p)
{
    drill_walk *w = p;
    json_array_append_new(w->buckets, json_string(b->name));
    return CST_OK;
}

static bool drill_record(const cst_record_row *r, void *p)
{
    drill_walk *w = p;
    w->e = cst_record_check(w->t, w->bucket, r);
    if (w->e == CST_OK)
        w->records++;
    return w->e == CST_OK;
}

/* Decrypts every record of every tenant of a restored node. */
static cst_err drill_check_node(cst_node *n, const char *dir, const json_t *tenants,
                                int64_t *records)
{
    cst_config c = n->cfg;
    TRY(cst_fmt(c.data_dir, sizeof(c.data_dir), "%s", dir));
    c.region[0] = '\0';
    /* the drill restored SQLite copies into dir whichever driver the node uses (its restore is
     * given no store): open them as such, never the node's own PostgreSQL database */
    TRY(cst_fmt(c.store_driver, sizeof(c.store_driver), "sqlite"));
    c.store_dsn[0] = '\0';
    cst_node dn;
    cst_err e = cst_node_open(&dn, &c);
    size_t i;
    json_t *t;
    *records = 0;
    json_array_foreach(tenants, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        if (e != CST_OK)
            break;
        if (json_is_null(json_object_get(t, "db")))
            continue;
        drill_walk w = {.buckets = json_array()};
        cst_record_row_init(&w.row);
        e = cst_node_tenant(&dn, id, &w.t);
        if (e == CST_OK)
            e = cst_tstore_bucket_list(w.t->ts, NULL, drill_bucket, &w);
        size_t k;
        json_t *b;
        json_array_foreach(w.buckets, k, b)
        {
            if (e != CST_OK)
                break;
            w.bucket = json_string_value(b);
            e = cst_tstore_record_scan(w.t->ts, NULL, w.bucket, NULL,
                                       CST_SCAN_EXPIRED | CST_SCAN_VALUES, drill_record, &w);
            if (e == CST_OK)
                e = w.e;
        }
        int64_t want = json_integer_value(json_object_get(t, "records"));
        if (e == CST_OK && w.records != want)
            e = cst_fail(CST_ERR_INTEGRITY, "tenant %s: %lld records decrypted, manifest says %lld",
                         id, (long long)w.records, (long long)want);
        *records += w.records;
        cst_record_row_free(&w.row);
        json_decref(w.buckets);
    }
    if (dn.store)
        cst_node_close(&dn);
    return e;
}

/* The newest backup of this node: from the directory, or fetched with backup.fetch_command. */
static cst_err newest_backup(cst_node *n, const char *scratch, char *path, size_t size, char *id,
                             size_t idsize)
{
    if (!n->cfg.backup_command[0]) {
        json_t *list = NULL;
        TRY(cst_backup_list_dir(n->cfg.backup_dir, &list));
        size_t i;
        json_t *b;
        cst_err e = cst_fail(CST_ERR_NOT_FOUND, "no backup of this node in %s to drill with",
                             n->cfg.backup_dir);
        json_array_foreach(list, i, b)
        {
            const char *node = json_string_value(json_object_get(b, "node_id"));
            if (json_object_get(b, "error") || !node || strcmp(node, n->node_id) != 0)
                continue;
            cst_err_clear();
            e = cst_fmt(path, size, "%s", json_string_value(json_object_get(b, "path")));
            if (e == CST_OK)
                e = cst_fmt(id, idsize, "%s", json_string_value(json_object_get(b, "backup_id")));
            break;
        }
        json_decref(list);
        return e;
    }
    ENSURE(n->cfg.backup_fetch_command[0], CST_ERR_INVALID,
           "a drill with backup.command needs backup.fetch_command to read the backup back");
    char nbid[CST_ID_MAX];
    TRY(cst_bk_newest_ok(n, nbid, sizeof(nbid)));
    TRY(cst_fmt(id, idsize, "%s", nbid));
    TRY(cst_fmt(path, size, "%s/%s", scratch, nbid));
    cst_bk_dest d = {.cfg = &n->cfg, .node_id = n->node_id, .region = n->region};
    return cst_backup_fetch(&d, nbid, path);
}

cst_err cst_backup_drill(cst_node *n, cst_drill_row *out)
{
    ENSURE(pthread_mutex_trylock(&n->backup_mu) == 0, CST_ERR_CONFLICT,
           "a backup or drill is already running on this node");
    memset(out, 0, sizeof(*out));
    cst_random_id("dr", out->id);
    out->started_at = cst_now_us();
    char scratch[PATH_MAX] = "", from[PATH_MAX], target[PATH_MAX];
    json_t *report = NULL;
    cst_err e = cst_bk_scratch(n->cfg.backup_scratch_dir, "drill", scratch, sizeof(scratch));
    if (e == CST_OK)
        e = newest_backup(n, scratch, from, sizeof(from), out->backup_id, sizeof(out->backup_id));
    if (e == CST_OK)
        e = cst_fmt(target, sizeof(target), "%s/node", scratch);
    if (e == CST_OK) {
        cst_restore_opts o = {.from = from,
                              .data_dir = target,
                              .kek = &n->root_key,
                              .pin = n->public_key,
                              .region = n->region};
        e = cst_backup_restore(&o, &report);
    }
    if (e == CST_OK) {
        out->tenants = json_integer_value(json_object_get(report, "tenants"));
        e = drill_check_node(n, target, json_object_get(report, "manifest_tenants"), &out->records);
    }
    if (scratch[0])
        cst_rm_rf(scratch);
    json_decref(report);
    out->duration_ms = (cst_now_us() - out->started_at) / 1000;
    out->ok = e == CST_OK;
    char saved[512];
    (void)snprintf(saved, sizeof(saved), "%s", e == CST_OK ? "" : cst_err_message(e));
    (void)snprintf(out->error, sizeof(out->error), "%s", saved);
    cst_err de = cst_store_drill_add(n->store, NULL, out);
    pthread_mutex_unlock(&n->backup_mu);
    if (e != CST_OK)
        return cst_fail(e, "%s", saved);
    return de;
}
