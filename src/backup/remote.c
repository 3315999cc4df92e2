/* remote.c: command destinations (object storage) read back: the list of the backups held
 * there (backup.list_command), a backup fetched into scratch space (backup.fetch_command), and
 * a backup named by its id found wherever it is (BAK-2, BAK-3). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/archive.h"
#include "backup/backup.h"
#include "backup/internal.h"
#include "util/util.h"

#define LIST_MAX (16 << 20)

/* Runs a reading command to its end, its output through sink (a file or a buffer). */
static cst_err run_reader(const cst_bk_dest *d, const char *command, const char *id,
                          cst_err (*sink)(void *ctx, const void *p, size_t n), void *ctx)
{
    cst_bk_cmd cmd;
    TRY(cst_bk_cmd_start_at(&cmd, command, false, id, d, d->cfg->backup_command_timeout));
    uint8_t *buf = malloc(1 << 20);
    cst_err e = buf ? CST_OK : cst_fail(CST_ERR_INTERNAL, "out of memory");
    while (e == CST_OK) {
        size_t got = 0;
        e = cst_bk_cmd_read(&cmd, buf, 1 << 20, &got);
        if (e != CST_OK || got == 0)
            break;
        e = sink(ctx, buf, got);
    }
    free(buf);
    if (e == CST_OK)
        return cst_bk_cmd_finish(&cmd);
    cst_bk_cmd_kill(&cmd);
    return e;
}

static cst_err buf_sink(void *ctx, const void *p, size_t n)
{
    cst_err e = cst_buf_append(ctx, p, n);
    if (e == CST_ERR_TOO_LARGE)
        e = cst_fail(CST_ERR_UNAVAILABLE, "backup.list_command printed more than %d MiB",
                     LIST_MAX >> 20);
    return e;
}

/* One line of the list: "ID" or "ID SIZE"; a name that is not a backup id is skipped. */
static cst_err list_line(char *line, int no, json_t *list)
{
    char *save = NULL;
    const char *id = strtok_r(line, " \t\r", &save);
    const char *size = strtok_r(NULL, " \t\r", &save);
    if (!id || !cst_id_valid(id, "bk"))
        return CST_OK;
    json_t *o = json_pack("{s:s}", "backup_id", id);
    ENSURE(o != NULL, CST_ERR_INTERNAL, "out of memory");
    if (size) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(size, &end, 10);
        if (errno || *end || v < 0) {
            json_decref(o);
            return cst_fail(CST_ERR_UNAVAILABLE,
                            "backup.list_command line %d: \"ID\" or \"ID SIZE\" expected (a size "
                            "in bytes)",
                            no);
        }
        json_object_set_new(o, "size", json_integer((json_int_t)v));
    }
    ENSURE(json_array_append_new(list, o) == 0, CST_ERR_INTERNAL, "out of memory");
    return CST_OK;
}

cst_err cst_backup_list_remote(const cst_bk_dest *d, json_t **list)
{
    ENSURE(d->cfg->backup_list_command[0], CST_ERR_INVALID,
           "backup.list_command is not set: the destination cannot be listed");
    cst_buf out;
    cst_buf_init(&out, LIST_MAX);
    cst_err e = run_reader(d, d->cfg->backup_list_command, "", buf_sink, &out);
    if (e == CST_OK)
        e = cst_buf_append_u8(&out, 0);
    json_t *arr = json_array();
    if (e == CST_OK && !arr)
        e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    int no = 0;
    for (char *p = (char *)out.data, *next; e == CST_OK && p && *p; p = next) {
        next = strchr(p, '\n');
        if (next)
            *next++ = '\0';
        e = list_line(p, ++no, arr);
    }
    cst_buf_free(&out);
    if (e != CST_OK) {
        json_decref(arr);
        return e;
    }
    *list = arr;
    return CST_OK;
}

cst_err cst_backup_fetch(const cst_bk_dest *d, const char *id, const char *path)
{
    ENSURE(d->cfg->backup_fetch_command[0], CST_ERR_INVALID,
           "backup %s is held by backup.command's destination: reading it back needs "
           "backup.fetch_command",
           id);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    ENSURE(fd >= 0, CST_ERR_UNAVAILABLE, "cannot create %s: %s", path, strerror(errno));
    cst_err e = run_reader(d, d->cfg->backup_fetch_command, id, cst_bk_fd_sink, &fd);
    if (close(fd) != 0 && e == CST_OK)
        e = cst_fail(CST_ERR_UNAVAILABLE, "cannot close %s: %s", path, strerror(errno));
    if (e != CST_OK)
        (void)unlink(path);
    return e;
}

/* The catalogue's location of id when it is a file that exists ("" otherwise). */
static void catalogue_file(cst_store *catalogue, const char *id, char *path, size_t size)
{
    cst_backup_row b;
    path[0] = '\0';
    if (!catalogue || cst_store_backup_get(catalogue, NULL, id, &b) != CST_OK) {
        cst_err_clear();
        return;
    }
    if (b.location[0] == '/' && cst_path_exists(b.location) &&
        cst_fmt(path, size, "%s", b.location) != CST_OK) {
        cst_err_clear();
        path[0] = '\0';
    }
}

cst_err cst_backup_locate(const cst_bk_dest *d, cst_store *catalogue, const char *dir,
                          const char *what, const char *scratch_base, char *path, size_t size,
                          char *fetched_dir, size_t fdsize)
{
    fetched_dir[0] = '\0';
    if (cst_path_exists(what) || !cst_id_valid(what, "bk")) {
        ENSURE(cst_path_exists(what), CST_ERR_NOT_FOUND,
               "%s: no such file, and not a backup id (bk_...)", what);
        return cst_fmt(path, size, "%s", what);
    }
    if (dir && dir[0]) {
        TRY(cst_fmt(path, size, "%s/%s", dir, what));
        if (cst_path_exists(path))
            return CST_OK;
    }
    catalogue_file(catalogue, what, path, size);
    if (path[0])
        return CST_OK;
    ENSURE(d->cfg->backup_fetch_command[0], CST_ERR_NOT_FOUND,
           "backup %s is not in %s nor in the catalogue as a file, and backup.fetch_command is "
           "not set to fetch it from the destination",
           what, dir && dir[0] ? dir : "backup.dir");
    return cst_backup_fetch_scratch(d, what, scratch_base, path, size, fetched_dir, fdsize);
}

cst_err cst_backup_fetch_scratch(const cst_bk_dest *d, const char *id, const char *scratch_base,
                                 char *path, size_t size, char *fetched_dir, size_t fdsize)
{
    fetched_dir[0] = '\0';
    TRY(cst_bk_scratch(scratch_base, "fetch", fetched_dir, fdsize));
    cst_err e = cst_fmt(path, size, "%s/%s", fetched_dir, id);
    if (e == CST_OK)
        e = cst_backup_fetch(d, id, path);
    if (e != CST_OK) {
        cst_backup_fetched_free(fetched_dir);
        fetched_dir[0] = '\0';
    }
    return e;
}

void cst_backup_fetched_free(const char *fetched_dir)
{
    if (fetched_dir && fetched_dir[0])
        cst_rm_rf(fetched_dir);
}

static json_t *find_backup(json_t *list, const char *id)
{
    size_t i;
    json_t *b;
    json_array_foreach(list, i, b)
    {
        const char *bid = json_string_value(json_object_get(b, "backup_id"));
        if (bid && !strcmp(bid, id))
            return b;
    }
    return NULL;
}

/* A backup only the destination holds, described from the catalogue when it knows it. */
static void describe_remote(const cst_bk_dest *d, cst_store *catalogue, json_t *r)
{
    const char *id = json_string_value(json_object_get(r, "backup_id"));
    char loc[CST_ID_MAX + 16];
    (void)snprintf(loc, sizeof(loc), "command:%s", id);
    json_object_set_new(r, "where", json_string("remote"));
    json_object_set_new(r, "path", json_string(loc));
    cst_backup_row b;
    if (!catalogue || cst_store_backup_get(catalogue, NULL, id, &b) != CST_OK) {
        cst_err_clear();
        return;
    }
    char created[32];
    cst_time_format(b.created_at, created);
    json_object_set_new(r, "created_at", json_string(created));
    json_object_set_new(r, "region", json_string(b.region));
    json_object_set_new(r, "node_id", json_string(d->node_id));
    json_object_set_new(r, "catalogue_status", json_string(b.status));
    if (!json_object_get(r, "size"))
        json_object_set_new(r, "size", json_integer((json_int_t)b.size));
}

cst_err cst_backup_list_all(const cst_bk_dest *d, cst_store *catalogue, const char *dir,
                            json_t **list)
{
    json_t *all = NULL, *remote = NULL;
    if (dir)
        TRY(cst_backup_list_dir(dir, &all));
    else
        all = json_array();
    ENSURE(all != NULL, CST_ERR_INTERNAL, "out of memory");
    size_t i;
    json_t *b;
    json_array_foreach(all, i, b) json_object_set_new(b, "where", json_string("local"));
    cst_err e = d->cfg->backup_list_command[0] ? cst_backup_list_remote(d, &remote) : CST_OK;
    json_array_foreach(remote, i, b)
    {
        if (e != CST_OK)
            break;
        json_t *local = find_backup(all, json_string_value(json_object_get(b, "backup_id")));
        if (local) {
            json_object_set_new(local, "where", json_string("local+remote"));
            continue;
        }
        describe_remote(d, catalogue, b);
        if (json_array_append(all, b) != 0)
            e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    json_decref(remote);
    if (e == CST_OK)
        e = cst_bk_sort_newest(all);
    if (e != CST_OK) {
        json_decref(all);
        return e;
    }
    *list = all;
    return CST_OK;
}

/* ---- BAK-4: the erasures newer backups at the destination record ---- */

typedef struct header_tee {
    cst_bk_cmd *cmd;
    int fd;
} header_tee;

/* Reads from the fetch command and keeps what it read; at the end, the command's status. */
static cst_err tee_source(void *ctx, void *p, size_t n, size_t *got)
{
    header_tee *t = ctx;
    TRY(cst_bk_cmd_read(t->cmd, p, n, got));
    if (*got == 0)
        return cst_bk_cmd_finish(t->cmd);
    return cst_bk_fd_sink(&t->fd, p, *got);
}

/* The signed header of backup id, from the start of its fetch (then stopped), into path. */
static cst_err fetch_header(const cst_bk_dest *d, const char *id, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    ENSURE(fd >= 0, CST_ERR_UNAVAILABLE, "cannot create %s: %s", path, strerror(errno));
    cst_bk_cmd cmd;
    cst_err e = cst_bk_cmd_start_at(&cmd, d->cfg->backup_fetch_command, false, id, d,
                                    d->cfg->backup_command_timeout);
    json_t *header = NULL;
    if (e == CST_OK) {
        header_tee t = {.cmd = &cmd, .fd = fd};
        e = cst_bk_read_header(tee_source, &t, &header);
        cst_bk_cmd_kill(&cmd); /* the rest of the backup is not needed */
    }
    json_decref(header);
    if (close(fd) != 0 && e == CST_OK)
        e = cst_fail(CST_ERR_UNAVAILABLE, "cannot close %s: %s", path, strerror(errno));
    if (e != CST_OK)
        (void)unlink(path);
    return e;
}

cst_err cst_backup_fetch_headers(const cst_bk_dest *d, const char *fetched_dir, const char *id)
{
    json_t *list = NULL;
    TRY(cst_backup_list_remote(d, &list));
    cst_err e = CST_OK;
    size_t i;
    json_t *b;
    json_array_foreach(list, i, b)
    {
        const char *other = json_string_value(json_object_get(b, "backup_id"));
        char path[PATH_MAX];
        if (!strcmp(other, id))
            continue;
        e = cst_fmt(path, sizeof(path), "%s/%s", fetched_dir, other);
        if (e == CST_OK)
            e = fetch_header(d, other, path);
        if (e == CST_ERR_INTEGRITY || e == CST_ERR_INVALID) {
            /* a damaged backup carries no erasure anyone can read: it is not a reason to fail */
            cst_warn("backup %s at the destination has no readable header (%s): skipped", other,
                     cst_err_message(e));
            cst_err_clear();
            e = CST_OK;
        }
        if (e != CST_OK)
            break;
    }
    json_decref(list);
    if (e == CST_OK)
        return CST_OK;
    char saved[512];
    (void)snprintf(saved, sizeof(saved), "%s", cst_err_message(e));
    return cst_fail(e,
                    "%s; a restore from the destination reads the header of every backup there "
                    "for the erasures newer ones record (BAK-4)",
                    saved);
}
