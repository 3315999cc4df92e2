/* export.c: an auditor's copy of the audit log for a time window, and its check (audit.h,
 * LOG-2/LOG-4): whole segments with their seals, and export.json saying what was taken. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit/audit.h"
#include "util/json.h"
#include "util/util.h"

#define EXPORT_FORMAT "custodia-audit-export/1"
#define SEGMENT_MAX ((size_t)1 << 31)
#define NODE_MAX 64 /* a node id, as entries name it */

static cst_err empty_dir(const char *to)
{
    if (mkdir(to, 0700) == 0)
        return CST_OK;
    ENSURE(errno == EEXIST, CST_ERR_INVALID, "cannot create %s: %s", to, strerror(errno));
    DIR *d = opendir(to);
    ENSURE(d != NULL, CST_ERR_INVALID, "%s exists and is not a directory", to);
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir(d)) != NULL)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    closedir(d);
    ENSURE(empty, CST_ERR_INVALID, "%s is not empty: export into a new directory", to);
    return CST_OK;
}

/* The sequence number of the last entry among the complete lines of p[0..n) (0: none); node
 * receives the node the first entry names, when it is still empty. */
static uint64_t last_entry(const uint8_t *p, size_t n, char node[NODE_MAX])
{
    uint64_t seq = 0;
    for (size_t pos = 0; pos < n;) {
        const uint8_t *nl = memchr(p + pos, '\n', n - pos);
        size_t len = (size_t)(nl - p) - pos;
        json_t *o = json_loadb((const char *)p + pos, len, 0, NULL);
        const char *nd = json_string_value(json_object_get(o, "node"));
        if (json_object_get(o, "hash"))
            seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
        if (nd && !node[0])
            (void)snprintf(node, NODE_MAX, "%s", nd);
        json_decref(o);
        pos += len + 1;
    }
    return seq;
}

/* Copies a segment's complete lines (a live one's tail may be a line being written, then zero
 * padding) into dst; adds {name, bytes, sha256} to segs. */
static cst_err copy_segment(const char *src, const char *dst, json_t *segs, uint64_t *last,
                            char node[NODE_MAX])
{
    cst_buf b;
    cst_buf_init(&b, SEGMENT_MAX);
    cst_err e = cst_file_read(src, SEGMENT_MAX, &b);
    size_t n = b.len;
    if (e == CST_OK) {
        const uint8_t *nul = n ? memchr(b.data, 0, n) : NULL;
        if (nul)
            n = (size_t)(nul - b.data);
        while (n > 0 && b.data[n - 1] != '\n')
            n--;
        e = cst_file_create(dst, b.data, n, 0600);
    }
    if (e == CST_OK) {
        uint8_t h[CST_HASH_LEN];
        char hex[2 * CST_HASH_LEN + 1];
        cst_sha256(b.data, n, h);
        cst_hex(h, sizeof(h), hex);
        const char *name = strrchr(dst, '/') + 1;
        json_t *seg =
            json_pack("{s:s,s:I,s:s}", "name", name, "bytes", (json_int_t)n, "sha256", hex);
        e = seg && json_array_append_new(segs, seg) == 0
                ? CST_OK
                : cst_fail(CST_ERR_INTERNAL, "out of memory");
        uint64_t l = last_entry(b.data, n, node);
        if (l)
            *last = l;
    }
    cst_buf_free(&b);
    return e;
}

static cst_err export_stream(const char *dir, const char *sname, int64_t since_us, int64_t until_us,
                             const char *to, json_t *streams, char node[NODE_MAX])
{
    char sdir[PATH_MAX];
    TRY(cst_fmt(sdir, sizeof(sdir), "%s/%s", to, sname));
    ENSURE(mkdir(sdir, 0700) == 0, CST_ERR_INVALID, "cannot create %s: %s", sdir, strerror(errno));
    char **paths;
    size_t n;
    TRY(cst_audit_segments(dir, sname, &paths, &n));
    json_t *segs = json_array();
    uint64_t first = 0, last = 0;
    bool any = false;
    cst_err e = segs ? CST_OK : cst_fail(CST_ERR_INTERNAL, "out of memory");
    int64_t start = n ? cst_audit_segment_time(paths[0]) : 0;
    for (size_t j = 0; e == CST_OK && j < n; j++) {
        /* segment j holds entries from its anchor's time to the next segment's */
        int64_t end = j + 1 < n ? cst_audit_segment_time(paths[j + 1]) : INT64_MAX;
        bool covers = start < until_us && end > since_us;
        start = end;
        if (!covers)
            continue;
        char dst[PATH_MAX];
        e = cst_fmt(dst, sizeof(dst), "%s/%s", sdir, strrchr(paths[j], '/') + 1);
        if (e == CST_OK && !any) {
            json_t *an = NULL;
            e = cst_audit_segment_anchor(paths[j], &an);
            first = (uint64_t)json_integer_value(json_object_get(an, "seq")) + 1;
            last = first - 1;
            json_decref(an);
        }
        if (e == CST_OK)
            e = copy_segment(paths[j], dst, segs, &last, node);
        any = true;
    }
    cst_audit_segments_free(paths, n);
    if (e == CST_OK)
        e = cst_fsync_dir(sdir);
    if (e == CST_OK &&
        json_object_set_new(streams, sname,
                            json_pack("{s:o,s:I,s:I}", "segments", segs, "first_seq",
                                      (json_int_t)first, "last_seq", (json_int_t)last)) != 0)
        e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    else if (e != CST_OK)
        json_decref(segs);
    return e;
}

cst_err cst_audit_export(const char *dir, int64_t since_us, int64_t until_us, const char *to,
                         json_t **manifest)
{
    TRY(empty_dir(to));
    char since[32] = "", until[32] = "", now[32];
    if (since_us > 0)
        cst_time_format(since_us, since);
    if (until_us < INT64_MAX)
        cst_time_format(until_us, until);
    cst_time_format(cst_now_us(), now);
    json_t *streams = json_object();
    json_t *m = json_pack("{s:s,s:s?,s:s?,s:s,s:o}", "format", EXPORT_FORMAT, "since",
                          since[0] ? since : NULL, "until", until[0] ? until : NULL, "exported_at",
                          now, "streams", streams);
    ENSURE(m != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = CST_OK;
    char node[NODE_MAX] = "";
    for (int i = 0; e == CST_OK && i < CST_AUDIT__STREAMS; i++)
        e = export_stream(dir, cst_audit_stream_names[i], since_us, until_us, to, streams, node);
    if (e == CST_OK && json_object_set_new(m, "node", json_string(node)) != 0)
        e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    char *text = e == CST_OK ? json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    char path[PATH_MAX];
    if (e == CST_OK && !text)
        e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (e == CST_OK)
        e = cst_fmt(path, sizeof(path), "%s/" CST_AUDIT_EXPORT_MANIFEST, to);
    if (e == CST_OK)
        e = cst_file_create(path, text, strlen(text), 0600);
    if (e == CST_OK)
        e = cst_fsync_dir(to);
    cst_json_free_text(text);
    if (e == CST_OK && manifest)
        *manifest = json_incref(m);
    json_decref(m);
    return e;
}

static void refuse(cst_audit_report *r, const char *stream, uint64_t seq, const char *reason,
                   const char *msg)
{
    r->ok = false;
    (void)snprintf(r->stream, sizeof(r->stream), "%s", stream);
    r->seq = seq;
    (void)snprintf(r->reason, sizeof(r->reason), "%s", reason);
    (void)snprintf(r->message, sizeof(r->message), "%s", msg);
}

/* The stream's segments are those export.json lists, with their digests, and reach last_seq. */
static cst_err check_listed(const char *to, int i, json_t *st, cst_audit_report *r)
{
    const char *sname = cst_audit_stream_names[i];
    char **paths;
    size_t n;
    TRY(cst_audit_segments(to, sname, &paths, &n));
    json_t *segs = json_object_get(st, "segments");
    char msg[512];
    cst_err e = CST_OK;
    if (!json_is_array(segs) || json_array_size(segs) != n) {
        (void)snprintf(msg, sizeof(msg),
                       "the export lists %zu %s segment(s) but holds %zu: segments were removed or "
                       "added",
                       json_array_size(segs), sname, n);
        refuse(r, sname, 0, "missing", msg);
    }
    for (size_t j = 0; r->ok && j < n; j++) {
        json_t *seg = json_array_get(segs, j);
        const char *name = json_string_value(json_object_get(seg, "name"));
        const char *want = json_string_value(json_object_get(seg, "sha256"));
        cst_buf b;
        cst_buf_init(&b, SEGMENT_MAX);
        e = cst_file_read(paths[j], SEGMENT_MAX, &b);
        char hex[2 * CST_HASH_LEN + 1] = "";
        if (e == CST_OK) {
            uint8_t h[CST_HASH_LEN];
            cst_sha256(b.data, b.len, h);
            cst_hex(h, sizeof(h), hex);
        }
        cst_buf_free(&b);
        if (e != CST_OK)
            break;
        if (!name || strcmp(name, strrchr(paths[j], '/') + 1) != 0 || !want ||
            strcmp(want, hex) != 0) {
            (void)snprintf(msg, sizeof(msg), "%s differs from what export.json lists", paths[j]);
            refuse(r, sname, 0, "changed", msg);
        }
    }
    uint64_t last = (uint64_t)json_integer_value(json_object_get(st, "last_seq"));
    uint64_t got = r->first_seq[i] + r->entries[i] - (r->entries[i] ? 1 : 0);
    if (e == CST_OK && r->ok && r->entries[i] && got != last) {
        (void)snprintf(msg, sizeof(msg),
                       "the export's %s stream ends at entry %llu but export.json says %llu", sname,
                       (unsigned long long)got, (unsigned long long)last);
        refuse(r, sname, got + 1, "truncated", msg);
    }
    cst_audit_segments_free(paths, n);
    return e;
}

cst_err cst_audit_verify_export(const char *to, const cst_key *k0, cst_audit_report *r)
{
    char path[PATH_MAX];
    TRY(cst_fmt(path, sizeof(path), "%s/" CST_AUDIT_EXPORT_MANIFEST, to));
    cst_buf b;
    cst_buf_init(&b, 1 << 24);
    cst_err e = cst_file_read(path, 1 << 24, &b);
    json_t *m = e == CST_OK ? json_loadb((const char *)b.data, b.len, 0, NULL) : NULL;
    cst_buf_free(&b);
    TRY(e);
    const char *format = json_string_value(json_object_get(m, "format"));
    if (!format || strcmp(format, EXPORT_FORMAT) != 0) {
        json_decref(m);
        return cst_fail(CST_ERR_INVALID, "%s is not an audit export's manifest (%s)", path,
                        EXPORT_FORMAT);
    }
    e = cst_audit_verify_window(to, k0, r);
    json_t *streams = json_object_get(m, "streams");
    for (int i = 0; e == CST_OK && r->ok && i < CST_AUDIT__STREAMS; i++)
        e = check_listed(to, i, json_object_get(streams, cst_audit_stream_names[i]), r);
    json_decref(m);
    return e;
}
