/* files.c: the SQLite driver's files: where each store lives in a data dir, removing a tenant's
 * files (RET-4) and the residue check of a crypto-erase. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sqlite/internal.h"
#include "util/util.h"

cst_err cst_sqlite_system_path(const char *data_dir, char *out, size_t size)
{
    return cst_fmt(out, size, "%s/%s", data_dir, CST_SQLITE_SYSTEM);
}

cst_err cst_sqlite_tenant_path(const char *data_dir, cst_tspace space, const char *tenant_id,
                               char *out, size_t size)
{
    ENSURE(cst_id_valid(tenant_id, "tn"), CST_ERR_INVALID, "malformed tenant id");
    switch (space) {
    case CST_TSPACE_LIVE:
        return cst_fmt(out, size, "%s/tenants/%s.db", data_dir, tenant_id);
    case CST_TSPACE_RETAINED:
        return cst_fmt(out, size, "%s/retained/%s.db", data_dir, tenant_id);
    default:
        return cst_fail(CST_ERR_INTERNAL, "unknown tenant store space %d", (int)space);
    }
}

bool cst_sqlite_store_exists(const char *data_dir)
{
    char path[PATH_MAX];
    return cst_sqlite_system_path(data_dir, path, sizeof(path)) == CST_OK && cst_path_exists(path);
}

cst_err cst_sqlite_tstore_exists(cst_store *st, cst_tspace space, const char *tenant_id,
                                 bool *exists)
{
    char path[PATH_MAX];
    TRY(cst_sqlite_tenant_path(cst_sqlite_store_data_dir(st), space, tenant_id, path,
                               sizeof(path)));
    *exists = cst_path_exists(path);
    return CST_OK;
}

/* Removes a database file and its -wal, -shm and -journal files, then syncs the directory;
 * removed (optional) gets the name of each file removed. */
static cst_err remove_files(const char *path, void (*removed)(const char *name, void *ctx),
                            void *ctx)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
        char p[PATH_MAX];
        TRY(cst_fmt(p, sizeof(p), "%s%s", path, suffixes[i]));
        if (unlink(p) == 0) {
            if (removed)
                removed(strrchr(p, '/') + 1, ctx);
        } else if (errno != ENOENT) {
            return cst_fail(CST_ERR_UNAVAILABLE, "cannot remove %s: %s", p, strerror(errno));
        }
    }
    char dir[PATH_MAX];
    TRY(cst_fmt(dir, sizeof(dir), "%s", path));
    *strrchr(dir, '/') = '\0';
    return cst_path_exists(dir) ? cst_fsync_dir(dir) : CST_OK;
}

cst_err cst_sqlite_tstore_purge(cst_store *st, cst_tspace space, const char *tenant_id,
                                void (*removed)(const char *name, void *ctx), void *ctx)
{
    char path[PATH_MAX];
    TRY(cst_sqlite_tenant_path(cst_sqlite_store_data_dir(st), space, tenant_id, path,
                               sizeof(path)));
    TRY(remove_files(path, removed, ctx));
    ENSURE(!cst_path_exists(path), CST_ERR_INTEGRITY, "%s survived its removal", path);
    return CST_OK;
}

/* Whether any of the (hex) blobs occurs in the file; streamed with an overlap. */
static cst_err file_holds(const char *path, const json_t *blobs, bool *found)
{
    *found = false;
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT
                   ? CST_OK
                   : cst_fail(CST_ERR_UNAVAILABLE, "cannot read %s: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20, OVERLAP = 4096 };
    uint8_t *buf = malloc(CHUNK + OVERLAP);
    size_t keep = 0, got;
    cst_err e = buf ? CST_OK : cst_fail(CST_ERR_INTERNAL, "out of memory");
    while (e == CST_OK && !*found && (got = fread(buf + keep, 1, CHUNK, f)) > 0) {
        size_t have = keep + got, i;
        json_t *b;
        json_array_foreach(blobs, i, b)
        {
            uint8_t bin[OVERLAP / 2];
            const char *hex = json_string_value(b);
            size_t blen = strlen(hex) / 2;
            if (blen == 0 || blen > sizeof(bin) || cst_unhex(hex, bin, blen) != CST_OK)
                continue;
            if (memmem(buf, have, bin, blen))
                *found = true;
        }
        keep = have < OVERLAP ? have : OVERLAP;
        memmove(buf, buf + have - keep, keep);
    }
    free(buf);
    fclose(f);
    return e;
}

static bool file_empty_or_absent(const char *path)
{
    struct stat st;
    return stat(path, &st) != 0 || st.st_size == 0;
}

cst_err cst_sqlite_store_residue_check(cst_store *st, const json_t *hex_blobs,
                                       void (*note)(const char *check, void *ctx), void *ctx)
{
    TRY(cst_sqlite_store_checkpoint(st));
    char sys[PATH_MAX], wal[PATH_MAX];
    TRY(cst_sqlite_system_path(cst_sqlite_store_data_dir(st), sys, sizeof(sys)));
    TRY(cst_fmt(wal, sizeof(wal), "%s-wal", sys));
    ENSURE(file_empty_or_absent(wal), CST_ERR_INTEGRITY,
           "system.db's WAL still holds frames after the checkpoint");
    if (note)
        note("system.db write-ahead log checkpointed and empty", ctx);
    bool found = false;
    TRY(file_holds(sys, hex_blobs, &found));
    ENSURE(!found, CST_ERR_INTEGRITY,
           "a destroyed wrapped key is still present in system.db (freed page not cleared)");
    if (note)
        note("byte search of system.db for every destroyed wrapped key: not found "
             "(secure_delete)",
             ctx);
    return CST_OK;
}
