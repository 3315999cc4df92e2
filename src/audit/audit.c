/* audit.c: the audit log writer: hash chain, group commit, forward-secure seals, segments,
 * retention (LOG-1 to LOG-3). The format is described in audit.h. */
#include "audit/audit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/keys.h"
#include "util/json.h"
#include "util/metrics.h"
#include "util/util.h"

const char *const cst_audit_stream_names[CST_AUDIT__STREAMS] = {"security", "access"};

#define GEN_RING 16
#define SEAL_LINE_MAX 512

typedef struct stream {
    const char *name;
    char dir[PATH_MAX];
    char seg_path[PATH_MAX];
    int fd;
    off_t dur_size;         /* bytes of the current segment known durable */
    off_t wr_size;          /* bytes written: durable, or batched reads awaiting their sync */
    off_t alloc_size;       /* the file's size: zeroes from wr_size to here (SPEC §10) */
    int64_t seg_started_us; /* time of the segment's anchor */
    uint64_t next_seq;      /* the next entry's number */
    uint8_t head[CST_HASH_LEN];
    uint64_t dur_seq; /* last durable entry */
    uint8_t dur_head[CST_HASH_LEN];
    uint64_t wr_seq; /* last written entry */
    uint8_t wr_head[CST_HASH_LEN];
    uint64_t sealed_seq; /* entries covered by the last seal */
    int64_t sealed_epoch;
    char last_seal[SEAL_LINE_MAX]; /* the last seal object, canonical: the next anchor */
    int64_t last_time_us;
    cst_buf pending;
    uint32_t gen; /* bumped when queued entries are dropped after a failed write */
    uint64_t gen_end[GEN_RING];
} stream;

struct cst_audit {
    cst_audit_opts o;
    char dir[PATH_MAX], epoch_file[PATH_MAX], node_id[64];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool flushing; /* one thread writes (flush_locked, write_locked, probe_locked) */
    bool syncing;  /* the flusher syncs batched reads; write_locked may write meanwhile */
    bool closing, seal_requested, advance_due, finish_round;
    bool stalled; /* batched reads: a write or flush failed; every append is refused */
    stream s[CST_AUDIT__STREAMS];
    uint64_t epoch;
    cst_key k;
    int64_t last_seal_us;
    pthread_t sealer, flusher;
    bool sealer_started, flusher_started;
    void (*notify)(void *); /* told when entries become durable (the shipper) */
    void *notify_ctx;
};

/* ---- format helpers ---------------------------------------------------------------------- */

char *cst_audit_canonical(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
}

cst_err cst_audit_entry_hash(const json_t *entry, const uint8_t prev[CST_HASH_LEN],
                             uint8_t out[CST_HASH_LEN])
{
    /* An entry being chained (enqueue) has neither yet: no copy to take them out of. */
    bool bare = !json_object_get(entry, "prev") && !json_object_get(entry, "hash");
    json_t *copy = bare ? (json_t *)entry : json_copy((json_t *)entry);
    ENSURE(copy != NULL, CST_ERR_INTERNAL, "out of memory");
    if (!bare) {
        json_object_del(copy, "prev");
        json_object_del(copy, "hash");
    }
    char *text = cst_audit_canonical(copy);
    if (!bare)
        json_decref(copy);
    ENSURE(text != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_buf b;
    cst_buf_init(&b, SIZE_MAX);
    cst_err e = cst_buf_append(&b, prev, CST_HASH_LEN);
    if (e == CST_OK)
        e = cst_buf_append(&b, text, strlen(text));
    if (e == CST_OK)
        cst_sha256(b.data, b.len, out);
    cst_buf_free(&b);
    cst_json_free_text(text);
    return e;
}

void cst_audit_seal_mac(const cst_key *k, const char *sname, uint64_t epoch, uint64_t seq,
                        const uint8_t head[CST_HASH_LEN], uint8_t out[CST_HASH_LEN])
{
    uint8_t msg[18 + 16 + 1 + 8 + 8 + CST_HASH_LEN];
    size_t n = 0;
    memcpy(msg, "cst:audit-seal:v1", 17);
    n = 17;
    size_t sl = strlen(sname);
    if (sl > 15)
        sl = 15;
    memcpy(msg + n, sname, sl);
    n += sl;
    msg[n++] = 0;
    for (int i = 7; i >= 0; i--)
        msg[n++] = (uint8_t)(epoch >> (i * 8));
    for (int i = 7; i >= 0; i--)
        msg[n++] = (uint8_t)(seq >> (i * 8));
    memcpy(msg + n, head, CST_HASH_LEN);
    n += CST_HASH_LEN;
    cst_hmac_sha256(k->k, CST_KEY_LEN, msg, n, out);
}

cst_err cst_audit_key_next(cst_key *k)
{
    uint8_t next[CST_KEY_LEN];
    TRY(cst_hkdf_sha256(k->k, CST_KEY_LEN, "next", next, sizeof(next)));
    memcpy(k->k, next, CST_KEY_LEN);
    sodium_memzero(next, sizeof(next));
    return CST_OK;
}

static cst_err epoch_aad(cst_buf *aad, uint64_t epoch)
{
    TRY(cst_buf_append(aad, "cst:audit-epoch:v1", 18));
    return cst_buf_append_u64be(aad, epoch);
}

cst_err cst_audit_epoch_store(const char *path, const cst_key *kek, uint64_t epoch,
                              const cst_key *k)
{
    cst_buf aad, blob;
    cst_buf_init(&aad, 64);
    cst_buf_init(&blob, 256);
    cst_err e = epoch_aad(&aad, epoch);
    if (e == CST_OK)
        e = cst_buf_append_u64be(&blob, epoch);
    if (e == CST_OK)
        e = cst_seal(kek, &aad, k->k, CST_KEY_LEN, &blob);
    if (e == CST_OK)
        e = cst_file_write_atomic(path, blob.data, blob.len, 0600);
    cst_buf_free(&aad);
    cst_buf_free(&blob);
    return e;
}

static cst_err epoch_read(const char *path, cst_buf *blob, uint64_t *epoch)
{
    TRY(cst_file_read(path, 4096, blob));
    ENSURE(blob->len > 8 + CST_SEAL_OVERHEAD, CST_ERR_INTEGRITY, "%s is damaged", path);
    *epoch = 0;
    for (int i = 0; i < 8; i++)
        *epoch = (*epoch << 8) | blob->data[i];
    return CST_OK;
}

cst_err cst_audit_epoch_peek(const char *path, uint64_t *epoch)
{
    cst_buf blob;
    cst_buf_init(&blob, 4096);
    cst_err e = epoch_read(path, &blob, epoch);
    cst_buf_free(&blob);
    return e;
}

cst_err cst_audit_epoch_load(const char *path, const cst_key *kek, uint64_t *epoch, cst_key *k)
{
    cst_buf blob, aad, pt;
    cst_buf_init(&blob, 4096);
    cst_buf_init(&aad, 64);
    cst_buf_init(&pt, 64);
    cst_err e = epoch_read(path, &blob, epoch);
    if (e == CST_OK)
        e = epoch_aad(&aad, *epoch);
    if (e == CST_OK)
        e = cst_open(kek, &aad, blob.data + 8, blob.len - 8, &pt);
    if (e == CST_OK && pt.len != CST_KEY_LEN)
        e = cst_fail(CST_ERR_INTEGRITY, "%s holds no key", path);
    if (e == CST_OK)
        e = cst_key_alloc(k);
    if (e == CST_OK)
        memcpy(k->k, pt.data, CST_KEY_LEN);
    if (e == CST_ERR_INTEGRITY)
        e = cst_fail(CST_ERR_INTEGRITY,
                     "%s does not open with this master key (damaged or from another node)", path);
    cst_buf_free(&blob);
    cst_buf_free(&aad);
    cst_buf_wipe_free(&pt);
    return e;
}

static bool seg_name(const char *name)
{
    size_t len = strlen(name);
    if (len != 24 || strcmp(name + 20, ".log") != 0)
        return false;
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void cst_audit_segments_free(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

cst_err cst_audit_segments(const char *dir, const char *stream_name, char ***paths, size_t *n)
{
    char sdir[PATH_MAX];
    TRY(cst_fmt(sdir, sizeof(sdir), "%s/%s", dir, stream_name));
    *paths = NULL;
    *n = 0;
    DIR *d = opendir(sdir);
    if (!d && errno == ENOENT)
        return CST_OK;
    ENSURE(d != NULL, CST_ERR_UNAVAILABLE, "cannot read %s: %s", sdir, strerror(errno));
    size_t cap = 0;
    cst_err e = CST_OK;
    struct dirent *de;
    while (e == CST_OK && (de = readdir(d)) != NULL) {
        if (!seg_name(de->d_name))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(*paths, cap * sizeof(char *));
            if (!grown) {
                e = cst_fail(CST_ERR_INTERNAL, "out of memory");
                break;
            }
            *paths = grown;
        }
        size_t len = strlen(sdir) + 1 + strlen(de->d_name) + 1;
        char *p = malloc(len);
        if (!p) {
            e = cst_fail(CST_ERR_INTERNAL, "out of memory");
            break;
        }
        (void)snprintf(p, len, "%s/%s", sdir, de->d_name);
        (*paths)[(*n)++] = p;
    }
    closedir(d);
    if (e != CST_OK) {
        cst_audit_segments_free(*paths, *n);
        *paths = NULL;
        *n = 0;
        return e;
    }
    if (*n)
        qsort(*paths, *n, sizeof(char *), cmp_str);
    return CST_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */

static cst_err write_all_at(int fd, const void *p, size_t n, off_t off)
{
    const uint8_t *c = p;
    while (n) {
        ssize_t w = pwrite(fd, c, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "audit write failed: %s",
                            w < 0 ? strerror(errno) : "short write");
        c += w;
        n -= (size_t)w;
        off += w;
    }
    return CST_OK;
}

/* LOG-1: the segment must still be the file we opened: a removed or replaced audit file stops
 * all auditing (and with it every audited request) instead of writing into the void. */
static cst_err check_identity(const stream *s)
{
    struct stat a, b;
    ENSURE(fstat(s->fd, &a) == 0 && a.st_nlink > 0, CST_ERR_AUDIT_UNAVAILABLE,
           "audit segment %s was removed", s->seg_path);
    ENSURE(lstat(s->seg_path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev,
           CST_ERR_AUDIT_UNAVAILABLE, "audit segment %s was removed or replaced", s->seg_path);
    return CST_OK;
}

/* SPEC §10: overwriting zeroes and syncing is cheaper than appending and syncing (no new file
 * size to make durable). The open segment grows in steps of its own size, from 64 KiB up to 4 MiB
 * (never more than audit.segment_bytes): a quiet stream's file stays small, a busy one's flushes
 * seldom change the size. Zeroes are written, not fallocate'd: unwritten extents would still
 * need their conversion journalled at each sync, and a full disk shows at once. */
#define PREALLOC_MIN ((off_t)64 * 1024)
#define PREALLOC_MAX ((off_t)4 * 1024 * 1024)

static cst_err zero_fill(int fd, off_t from, off_t to)
{
    static const uint8_t zeroes[64 * 1024];
    while (from < to) {
        size_t n = to - from < (off_t)sizeof(zeroes) ? (size_t)(to - from) : sizeof(zeroes);
        TRY(write_all_at(fd, zeroes, n, from));
        from += (off_t)n;
    }
    return CST_OK;
}

static off_t prealloc_step(off_t size, int64_t segment_bytes)
{
    off_t step = size < PREALLOC_MIN ? PREALLOC_MIN : size > PREALLOC_MAX ? PREALLOC_MAX : size;
    return step > segment_bytes ? (off_t)segment_bytes : step;
}

/* Zero-fills the segment past `need` bytes, written just before it (called without mu, by the
 * thread that is flushing). */
static cst_err segment_grow(stream *s, off_t need, int64_t segment_bytes)
{
    if (need <= s->alloc_size)
        return CST_OK;
    off_t end = need + prealloc_step(s->alloc_size, segment_bytes);
    TRY(zero_fill(s->fd, need, end));
    s->alloc_size = end;
    return CST_OK;
}

/* Writes b at the stream's tail, over the pre-allocated zeroes (growing them when b does not
 * fit); the caller syncs. */
static cst_err segment_put(stream *s, const cst_buf *b, int64_t segment_bytes)
{
    TRY(check_identity(s));
    TRY(write_all_at(s->fd, b->data, b->len, s->wr_size));
    return segment_grow(s, s->wr_size + (off_t)b->len, segment_bytes);
}

static cst_err segment_sync(const stream *s)
{
    TRY(check_identity(s));
    int64_t t0 = cst_now_us();
    ENSURE(fdatasync(s->fd) == 0, CST_ERR_AUDIT_UNAVAILABLE, "audit fdatasync failed: %s",
           strerror(errno));
    cst_metrics_audit_fsync(cst_now_us() - t0); /* DET-2 */
    return CST_OK;
}

/* A closed segment ends at its last line (rotation, clean stop): its padding is cut off. */
static cst_err segment_trim(stream *s)
{
    if (s->fd < 0 || s->alloc_size <= s->dur_size)
        return CST_OK;
    ENSURE(s->wr_size == s->dur_size, CST_ERR_AUDIT_UNAVAILABLE, "%s holds entries not yet durable",
           s->seg_path);
    ENSURE(ftruncate(s->fd, s->dur_size) == 0 && fdatasync(s->fd) == 0, CST_ERR_AUDIT_UNAVAILABLE,
           "cannot trim %s: %s", s->seg_path, strerror(errno));
    s->alloc_size = s->dur_size;
    return CST_OK;
}

static json_t *anchor_or_seal(const char *kind, const char *stream_name, uint64_t epoch,
                              uint64_t seq, const uint8_t head[CST_HASH_LEN], const char *mac_hex,
                              int64_t t)
{
    char hh[CST_HASH_LEN * 2 + 1], ts[32];
    cst_hex(head, CST_HASH_LEN, hh);
    cst_time_format(t, ts);
    return json_pack("{s:{s:I,s:s,s:s,s:I,s:s,s:s}}", kind, "epoch", (json_int_t)epoch, "head", hh,
                     "mac", mac_hex, "seq", (json_int_t)seq, "stream", stream_name, "time", ts);
}

static cst_err append_line(cst_buf *b, json_t *obj)
{
    ENSURE(obj != NULL, CST_ERR_INTERNAL, "out of memory");
    char *text = cst_audit_canonical(obj);
    ENSURE(text != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_buf_append(b, text, strlen(text));
    if (e == CST_OK)
        e = cst_buf_append(b, "\n", 1);
    cst_json_free_text(text);
    return e;
}

/* A seal line for s covering seq/head, with the current key; also remembered as the anchor of
 * the stream's next segment. */
static cst_err seal_line(cst_audit *a, stream *s, uint64_t seq, const uint8_t head[CST_HASH_LEN],
                         cst_buf *out, char last_seal[SEAL_LINE_MAX])
{
    uint8_t mac[CST_HASH_LEN];
    char mh[CST_HASH_LEN * 2 + 1];
    cst_audit_seal_mac(&a->k, s->name, a->epoch, seq, head, mac);
    cst_hex(mac, sizeof(mac), mh);
    json_t *o = anchor_or_seal("seal", s->name, a->epoch, seq, head, mh, cst_now_us());
    ENSURE(o != NULL, CST_ERR_INTERNAL, "out of memory");
    char *inner = cst_audit_canonical(json_object_get(o, "seal"));
    cst_err e = inner ? cst_fmt(last_seal, SEAL_LINE_MAX, "%s", inner)
                      : cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (inner)
        cst_json_free_text(inner);
    if (e == CST_OK)
        e = append_line(out, o);
    json_decref(o);
    return e;
}

/* Creates the segment that starts after entry `seq`, its first line the anchor (a seal object
 * text, or the genesis anchor), and makes it the stream's current segment. */
static cst_err segment_start(cst_audit *a, stream *s, uint64_t seq, const char *anchor_inner)
{
    char path[PATH_MAX];
    TRY(cst_fmt(path, sizeof(path), "%s/%020llu.log", s->dir, (unsigned long long)(seq + 1)));
    json_t *inner = json_loads(anchor_inner, 0, NULL);
    ENSURE(inner != NULL, CST_ERR_INTERNAL, "bad anchor");
    json_t *o = json_pack("{s:o}", "anchor", inner);
    cst_buf line;
    cst_buf_init(&line, SIZE_MAX);
    cst_err e = append_line(&line, o);
    json_decref(o);
    int fd = -1;
    if (e == CST_OK)
        e = segment_trim(s); /* the segment it closes ends at its seal */
    if (e == CST_OK) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            e = cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "cannot create %s: %s", path, strerror(errno));
    }
    off_t end = (off_t)line.len + prealloc_step(0, a->o.segment_bytes);
    if (e == CST_OK)
        e = write_all_at(fd, line.data, line.len, 0);
    if (e == CST_OK)
        e = zero_fill(fd, (off_t)line.len, end);
    if (e == CST_OK && fsync(fd) != 0)
        e = cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "fsync %s: %s", path, strerror(errno));
    if (e == CST_OK)
        e = cst_fsync_dir(s->dir);
    if (e != CST_OK) {
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        cst_buf_free(&line);
        return e;
    }
    if (s->fd >= 0)
        close(s->fd);
    s->fd = fd;
    memcpy(s->seg_path, path, sizeof(path));
    s->dur_size = s->wr_size = (off_t)line.len;
    s->alloc_size = end;
    s->seg_started_us = cst_now_us();
    cst_buf_free(&line);
    return CST_OK;
}

static cst_err advance_epoch(cst_audit *a)
{
    cst_key next = {0};
    TRY(cst_key_alloc(&next));
    memcpy(next.k, a->k.k, CST_KEY_LEN);
    cst_err e = cst_audit_key_next(&next);
    if (e == CST_OK)
        e = cst_audit_epoch_store(a->epoch_file, a->o.kek, a->epoch + 1, &next);
    if (e != CST_OK) {
        cst_key_free(&next);
        return e;
    }
    cst_key_free(&a->k); /* forward security: the old key is wiped */
    a->k = next;
    a->epoch++;
    a->advance_due = false;
    return CST_OK;
}

static bool seal_wanted(const cst_audit *a, int64_t now)
{
    bool unsealed = false, many = false;
    for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
        uint64_t n = a->s[i].next_seq - 1 - a->s[i].sealed_seq;
        unsealed |= n > 0;
        many |= n >= (uint64_t)a->o.seal_entries;
    }
    if (a->advance_due)
        return false;
    if (a->finish_round)
        return true;
    return unsealed && (many || a->seal_requested ||
                        now - a->last_seal_us >= (int64_t)a->o.seal_seconds * 1000000);
}

static void stream_reset(stream *s)
{
    /* Entries queued after a failed write chained on entries that never reached the disk:
     * they are all refused, and the chain resumes from the last durable entry. */
    s->gen_end[s->gen % GEN_RING] = s->dur_seq;
    s->gen++;
    s->next_seq = s->dur_seq + 1;
    s->wr_seq = s->dur_seq;
    memcpy(s->head, s->dur_head, CST_HASH_LEN);
    memcpy(s->wr_head, s->dur_head, CST_HASH_LEN);
    s->pending.len = 0;
    s->wr_size = s->alloc_size = s->dur_size; /* the next write zero-fills its padding anew */
    if (ftruncate(s->fd, s->dur_size) != 0)
        cst_error("audit: cannot truncate %s after a failed write: %s", s->seg_path,
                  strerror(errno));
}

/* DET-2: entries up to end_seq written (and made durable, when durable) by one flush. Called
 * before the stream's marks move. */
static void count_entries(const stream *s, uint64_t end_seq, bool durable)
{
    if (end_seq > s->wr_seq)
        cst_metrics_audit_written(end_seq - s->wr_seq);
    if (durable && end_seq > s->dur_seq)
        cst_metrics_audit_durable(end_seq - s->dur_seq);
}

/* What one stream's queue held when a write began. */
typedef struct batch {
    cst_buf b;
    uint64_t end_seq;
    uint8_t end_head[CST_HASH_LEN];
    cst_err err;
} batch;

static void batch_take(stream *s, batch *t)
{
    t->b = s->pending;
    cst_buf_init(&s->pending, SIZE_MAX);
    t->end_seq = s->next_seq - 1;
    memcpy(t->end_head, s->head, CST_HASH_LEN);
    t->err = CST_OK;
}

/* A write or sync of s failed (mu held, no other thread writing): its queue is refused. With
 * batched reads, answered reads may have lost their entries: every append is refused until the
 * flusher finds the log writable again. */
static void stream_failed(cst_audit *a, stream *s, cst_err err)
{
    cst_error("audit: %s stream: %s", s->name, cst_err_message(err));
    stream_reset(s);
    if (a->o.batched_reads && !a->stalled)
        cst_error("audit: batched read durability: the log cannot be written; every request "
                  "is refused until it can");
    a->stalled |= a->o.batched_reads;
}

static bool io_busy(const cst_audit *a)
{
    return a->flushing || a->syncing;
}

/* Called with mu held and no I/O in flight (io_busy false); writes and syncs what is queued or
 * written unsynced (and a seal round when one is due) and returns with mu held. release: drop mu
 * during the I/O (group commit). */
static void flush_locked(cst_audit *a, bool release)
{
    a->flushing = true;
    int64_t now = cst_now_us();
    if (a->advance_due && advance_epoch(a) != CST_OK)
        cst_error("audit: cannot move the seal key forward: %s",
                  cst_err_message(CST_ERR_UNAVAILABLE));
    bool sealing = seal_wanted(a, now);
    batch t[CST_AUDIT__STREAMS];
    bool sealed[CST_AUDIT__STREAMS] = {false};
    char seal_text[CST_AUDIT__STREAMS][SEAL_LINE_MAX];
    for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
        stream *s = &a->s[i];
        batch_take(s, &t[i]);
        if (sealing && s->sealed_epoch != (int64_t)a->epoch) {
            t[i].err = seal_line(a, s, t[i].end_seq, t[i].end_head, &t[i].b, seal_text[i]);
            sealed[i] = t[i].err == CST_OK;
        }
    }
    if (release)
        pthread_mutex_unlock(&a->mu);
    for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
        stream *s = &a->s[i];
        if (t[i].err == CST_OK && t[i].b.len)
            t[i].err = segment_put(s, &t[i].b, a->o.segment_bytes);
        /* also what batched reads wrote since the last sync */
        if (t[i].err == CST_OK && (t[i].b.len || s->wr_size > s->dur_size))
            t[i].err = segment_sync(s);
    }
    if (release)
        pthread_mutex_lock(&a->mu);
    bool all_sealed = sealing;
    for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
        stream *s = &a->s[i];
        if (t[i].err == CST_OK) {
            count_entries(s, t[i].end_seq, true);
            s->dur_seq = s->wr_seq = t[i].end_seq;
            memcpy(s->dur_head, t[i].end_head, CST_HASH_LEN);
            memcpy(s->wr_head, t[i].end_head, CST_HASH_LEN);
            s->dur_size = s->wr_size += (off_t)t[i].b.len;
            if (sealed[i]) {
                s->sealed_seq = t[i].end_seq;
                s->sealed_epoch = (int64_t)a->epoch;
                memcpy(s->last_seal, seal_text[i], SEAL_LINE_MAX);
            }
        } else {
            stream_failed(a, s, t[i].err);
        }
        all_sealed &= s->sealed_epoch == (int64_t)a->epoch;
        cst_buf_free(&t[i].b);
    }
    if (all_sealed) {
        a->last_seal_us = now;
        a->seal_requested = false;
        if (advance_epoch(a) != CST_OK) {
            a->advance_due = true;
            cst_error("audit: cannot move the seal key forward; sealing paused until it can");
        }
        for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
            stream *s = &a->s[i];
            bool big = s->dur_size >= a->o.segment_bytes;
            bool old = now - s->seg_started_us >= (int64_t)a->o.segment_seconds * 1000000;
            /* a segment holding no entry yet is not replaced: the new one would have its name */
            const char *base = strrchr(s->seg_path, '/');
            bool holds = base && strtoull(base + 1, NULL, 10) <= s->sealed_seq;
            if ((big || old) && holds && s->dur_seq == s->sealed_seq &&
                segment_start(a, s, s->sealed_seq, s->last_seal) != CST_OK)
                cst_error("audit: cannot start a new %s segment: %s", s->name,
                          cst_err_message(CST_ERR_AUDIT_UNAVAILABLE));
        }
    }
    a->flushing = false;
    pthread_cond_broadcast(&a->cv);
    if (a->notify)
        a->notify(a->notify_ctx);
}

/* Called with mu held and flushing false (batched reads): writes what is queued without syncing
 * it; the flusher syncs it within flush_interval_ms. Returns with mu held. */
static void write_locked(cst_audit *a)
{
    a->flushing = true;
    batch t[CST_AUDIT__STREAMS];
    for (int i = 0; i < CST_AUDIT__STREAMS; i++)
        batch_take(&a->s[i], &t[i]);
    pthread_mutex_unlock(&a->mu);
    for (int i = 0; i < CST_AUDIT__STREAMS; i++)
        if (t[i].b.len)
            t[i].err = segment_put(&a->s[i], &t[i].b, a->o.segment_bytes);
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
        stream *s = &a->s[i];
        if (t[i].err == CST_OK) {
            count_entries(s, t[i].end_seq, false);
            s->wr_seq = t[i].end_seq;
            memcpy(s->wr_head, t[i].end_head, CST_HASH_LEN);
            s->wr_size += (off_t)t[i].b.len;
        } else {
            stream_failed(a, s, t[i].err);
        }
        cst_buf_free(&t[i].b);
    }
    a->flushing = false;
    pthread_cond_broadcast(&a->cv);
}

/* 1: durable (written, when `written`), 0: pending, -1: dropped. */
static int ticket_state(const stream *s, uint64_t seq, uint32_t gen, bool written)
{
    if (gen == s->gen)
        return (written ? s->wr_seq : s->dur_seq) >= seq ? 1 : 0;
    if (s->gen - gen > GEN_RING)
        return -1;
    return seq <= s->gen_end[gen % GEN_RING] ? 1 : -1;
}

static json_t *event_json(const cst_audit *a, const cst_audit_event *ev)
{
    json_t *o = json_pack(
        "{s:s,s:{s:s,s:s?,s:s?},s:s,s:s,s:s,s:s,s:i,s:s,s:s?}", "action", ev->action, "actor",
        "type", ev->actor_type ? ev->actor_type : "anonymous", "id", ev->actor_id, "token",
        ev->actor_token, "node", a->node_id, "outcome", ev->outcome, "resource",
        ev->resource ? ev->resource : "", "source_ip", ev->source_ip ? ev->source_ip : "", "status",
        ev->status, "request_id", ev->request_id ? ev->request_id : "", "tenant", ev->tenant);
    if (!o)
        return NULL;
    if (ev->detail)
        json_object_set(o, "detail", ev->detail);
    if (ev->info)
        json_object_set(o, "info", ev->info);
    return o;
}

/* Numbers and chains one entry into its stream's queue. Called with mu held. */
static cst_err enqueue(cst_audit *a, stream *s, json_t *o, uint64_t *seq, uint32_t *gen)
{
    int64_t t = cst_now_us();
    if (t < s->last_time_us)
        t = s->last_time_us; /* the clock stepped back: keep each stream's times in order */
    char ts[32], prev[CST_HASH_LEN * 2 + 1], hh[CST_HASH_LEN * 2 + 1];
    cst_time_format(t, ts);
    json_object_set_new(o, "seq", json_integer((json_int_t)s->next_seq));
    json_object_set_new(o, "time", json_string(ts));
    uint8_t hash[CST_HASH_LEN];
    TRY(cst_audit_entry_hash(o, s->head, hash));
    cst_hex(s->head, CST_HASH_LEN, prev);
    cst_hex(hash, CST_HASH_LEN, hh);
    json_object_set_new(o, "prev", json_string(prev));
    json_object_set_new(o, "hash", json_string(hh));
    TRY(append_line(&s->pending, o));
    memcpy(s->head, hash, CST_HASH_LEN);
    *seq = s->next_seq++;
    *gen = s->gen;
    s->last_time_us = t;
    return CST_OK;
}

cst_err cst_audit_enqueue(cst_audit *a, const cst_audit_event *ev, cst_audit_ticket *t)
{
    memset(t, 0, sizeof(*t));
    json_t *o = event_json(a, ev);
    ENSURE(o != NULL, CST_ERR_AUDIT_UNAVAILABLE, "audit entry could not be built");
    stream *s = &a->s[ev->stream];
    pthread_mutex_lock(&a->mu);
    cst_err e = a->closing   ? cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "the audit log is closed")
                : a->stalled ? cst_fail(CST_ERR_AUDIT_UNAVAILABLE,
                                        "the audit log stopped after a failed write or flush")
                             : enqueue(a, s, o, &t->seq, &t->gen);
    pthread_mutex_unlock(&a->mu);
    json_decref(o);
    if (e != CST_OK)
        return cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "%s", cst_err_message(e));
    t->stream = ev->stream;
    t->written = ev->read && a->o.batched_reads; /* durable within flush_interval_ms */
    t->queued = true;
    return CST_OK;
}

cst_err cst_audit_wait(cst_audit *a, const cst_audit_ticket *t)
{
    if (!t->queued)
        return CST_OK;
    stream *s = &a->s[t->stream];
    int state = 0;
    pthread_mutex_lock(&a->mu);
    if (!a->o.group_commit) {
        while (io_busy(a))
            pthread_cond_wait(&a->cv, &a->mu);
        state = ticket_state(s, t->seq, t->gen, false);
        if (state == 0)
            flush_locked(a, false);
    }
    while ((state = ticket_state(s, t->seq, t->gen, t->written)) == 0) {
        if (t->written && !a->flushing)
            write_locked(a);
        else if (!io_busy(a))
            flush_locked(a, true);
        else
            pthread_cond_wait(&a->cv, &a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    ENSURE(state == 1, CST_ERR_AUDIT_UNAVAILABLE,
           "the audit log cannot be written, so the request was not carried out");
    return CST_OK;
}

cst_err cst_audit_append(cst_audit *a, const cst_audit_event *ev)
{
    cst_audit_ticket t;
    TRY(cst_audit_enqueue(a, ev, &t));
    return cst_audit_wait(a, &t);
}

cst_err cst_audit_seal(cst_audit *a)
{
    pthread_mutex_lock(&a->mu);
    while (io_busy(a))
        pthread_cond_wait(&a->cv, &a->mu);
    a->seal_requested = true;
    uint64_t epoch = a->epoch;
    flush_locked(a, true);
    bool ok = a->epoch > epoch || !seal_wanted(a, cst_now_us());
    pthread_mutex_unlock(&a->mu);
    ENSURE(ok, CST_ERR_AUDIT_UNAVAILABLE, "the seal round could not be completed");
    return CST_OK;
}

uint64_t cst_audit_durable_seq(cst_audit *a, cst_audit_stream s)
{
    pthread_mutex_lock(&a->mu);
    uint64_t seq = a->s[s].dur_seq;
    pthread_mutex_unlock(&a->mu);
    return seq;
}

void cst_audit_set_notify(cst_audit *a, void (*fn)(void *), void *ctx)
{
    pthread_mutex_lock(&a->mu);
    a->notify = fn;
    a->notify_ctx = ctx;
    pthread_mutex_unlock(&a->mu);
}

/* ---- opening and recovery ------------------------------------------------------------------- */

cst_err cst_audit_segment_tail(const char *path, const uint8_t *data, size_t len, size_t *good,
                               size_t *end)
{
    const uint8_t *nul = len ? memchr(data, 0, len) : NULL; /* an empty file: data is NULL */
    *end = nul ? (size_t)(nul - data) : len;
    for (size_t i = *end; i < len; i++)
        ENSURE(data[i] == 0, CST_ERR_INTEGRITY,
               "%s holds non-zero bytes at offset %zu, after its last entry (at %zu), in the zero "
               "padding of a pre-allocated segment: it was altered or damaged",
               path, i, *end);
    *good = *end;
    while (*good > 0 && data[*good - 1] != '\n')
        (*good)--;
    return CST_OK;
}

/* A torn last line (a crash during a write that was never acknowledged) is cut off: zeroed in a
 * pre-allocated segment, truncated in one without padding. */
static cst_err cut_torn(int fd, const char *path, size_t good, size_t end, size_t len)
{
    cst_warn("audit: %s ended in a torn line (%zu bytes, never acknowledged); cut off", path,
             end - good);
    cst_err e = end == len ? (ftruncate(fd, (off_t)good) == 0
                                  ? CST_OK
                                  : cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "%s", strerror(errno)))
                           : zero_fill(fd, (off_t)good, (off_t)end);
    if (e == CST_OK && fdatasync(fd) != 0)
        e = cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "%s", strerror(errno));
    char why[512]; /* cst_fail overwrites the message it would read */
    if (e != CST_OK) {
        (void)snprintf(why, sizeof(why), "%s", cst_err_message(e));
        e = cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "cannot repair %s: %s", path, why);
    }
    return e;
}

/* Reads the stream's last segment: where the chain stands, the last seal; its tail is found again
 * (cst_audit_segment_tail) and a torn last line cut off. */
static cst_err load_tail(cst_audit *a, stream *s, const char *path)
{
    cst_buf data;
    cst_buf_init(&data, (size_t)1 << 31);
    TRY(cst_file_read(path, (size_t)1 << 31, &data));
    size_t good = 0, end = 0;
    cst_err e = cst_audit_segment_tail(path, data.data, data.len, &good, &end);
    char why[512]; /* cst_fail overwrites the message it would read */
    if (e != CST_OK) {
        (void)snprintf(why, sizeof(why), "%s", cst_err_message(e));
        e = cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "%s; run `custodia audit verify` before serving",
                     why);
    }
    int fd = e == CST_OK ? open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (e == CST_OK && fd < 0)
        e = cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "cannot open %s: %s", path, strerror(errno));
    if (e == CST_OK && good != end)
        e = cut_torn(fd, path, good, end, data.len);
    off_t alloc = end == data.len ? (off_t)good : (off_t)data.len;
    size_t pos = 0;
    bool first = true;
    while (e == CST_OK && pos < good) {
        char *nl = memchr(data.data + pos, '\n', good - pos);
        size_t len = (size_t)(nl - (char *)data.data) - pos;
        json_error_t je;
        json_t *o = json_loadb((const char *)data.data + pos, len, 0, &je);
        pos += len + 1;
        if (!o) {
            e = cst_fail(CST_ERR_AUDIT_UNAVAILABLE,
                         "audit segment %s holds an unreadable line; run `custodia audit "
                         "verify` before serving",
                         path);
            break;
        }
        json_t *an = json_object_get(o, "anchor"), *se = json_object_get(o, "seal");
        json_t *src = an ? an : se;
        if (first && !an)
            e = cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "audit segment %s has no anchor", path);
        if (e == CST_OK && src) {
            s->dur_seq = (uint64_t)json_integer_value(json_object_get(src, "seq"));
            e = cst_unhex(json_string_value(json_object_get(src, "head")), s->dur_head,
                          CST_HASH_LEN);
            int64_t ep = json_integer_value(json_object_get(src, "epoch"));
            const char *mac = json_string_value(json_object_get(src, "mac"));
            if (e == CST_OK && (se || (mac && *mac))) {
                s->sealed_epoch = ep;
                s->sealed_seq = s->dur_seq;
                char *inner = cst_audit_canonical(src);
                if (inner) {
                    (void)snprintf(s->last_seal, SEAL_LINE_MAX, "%s", inner);
                    cst_json_free_text(inner);
                }
            } else if (e == CST_OK) {
                s->sealed_seq = s->dur_seq;
            }
            const char *t = json_string_value(json_object_get(src, "time"));
            int64_t us = 0;
            if (an && t && cst_time_parse(t, &us))
                s->seg_started_us = us;
        } else if (e == CST_OK) {
            s->dur_seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
            e = cst_unhex(json_string_value(json_object_get(o, "hash")), s->dur_head, CST_HASH_LEN);
            const char *t = json_string_value(json_object_get(o, "time"));
            int64_t us = 0;
            if (t && cst_time_parse(t, &us))
                s->last_time_us = us;
        }
        if (e == CST_ERR_INVALID)
            e = cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "audit segment %s is malformed", path);
        first = false;
        json_decref(o);
    }
    cst_buf_free(&data);
    if (e != CST_OK) {
        if (fd >= 0)
            close(fd);
        return e;
    }
    s->fd = fd;
    (void)snprintf(s->seg_path, sizeof(s->seg_path), "%s", path);
    s->dur_size = s->wr_size = (off_t)good;
    s->alloc_size = alloc;
    s->next_seq = s->dur_seq + 1;
    s->wr_seq = s->dur_seq;
    memcpy(s->head, s->dur_head, CST_HASH_LEN);
    memcpy(s->wr_head, s->dur_head, CST_HASH_LEN);
    (void)a;
    return CST_OK;
}

static cst_err stream_open(cst_audit *a, int i)
{
    stream *s = &a->s[i];
    s->name = cst_audit_stream_names[i];
    s->fd = -1;
    s->sealed_epoch = -1;
    cst_buf_init(&s->pending, SIZE_MAX);
    TRY(cst_fmt(s->dir, sizeof(s->dir), "%s/%s", a->dir, s->name));
    ENSURE(mkdir(s->dir, 0700) == 0 || errno == EEXIST, CST_ERR_AUDIT_UNAVAILABLE,
           "cannot create %s: %s", s->dir, strerror(errno));
    char **paths;
    size_t n;
    TRY(cst_audit_segments(a->dir, s->name, &paths, &n));
    cst_err e = CST_OK;
    if (n == 0) {
        if (a->epoch > 0)
            cst_error("audit: the %s stream has no segments but the seal key is at epoch %llu: "
                      "its log was removed; verification will report it",
                      s->name, (unsigned long long)a->epoch);
        uint8_t zero[CST_HASH_LEN] = {0};
        json_t *o = anchor_or_seal("anchor", s->name, a->epoch, 0, zero, "", cst_now_us());
        char *inner = o ? cst_audit_canonical(json_object_get(o, "anchor")) : NULL;
        e = inner ? segment_start(a, s, 0, inner) : cst_fail(CST_ERR_INTERNAL, "out of memory");
        if (inner)
            cst_json_free_text(inner);
        json_decref(o);
        s->next_seq = 1;
    } else {
        e = load_tail(a, s, paths[n - 1]);
    }
    cst_audit_segments_free(paths, n);
    return e;
}

static void *sealer_main(void *arg)
{
    cst_audit *a = arg;
    int64_t last_prune = 0;
    pthread_mutex_lock(&a->mu);
    while (!a->closing) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += a->o.seal_seconds > 1 ? 1 : 0;
        ts.tv_nsec += a->o.seal_seconds > 1 ? 0 : 250000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&a->cv, &a->mu, &ts);
        if (a->closing)
            break;
        int64_t now = cst_now_us();
        if (!io_busy(a) && seal_wanted(a, now))
            flush_locked(a, true);
        if (now - last_prune > 3600LL * 1000000) {
            last_prune = now;
            pthread_mutex_unlock(&a->mu);
            int removed = 0;
            if (cst_audit_prune(a, now, &removed) != CST_OK)
                cst_error("audit: pruning failed: %s", cst_err_message(CST_ERR_AUDIT_UNAVAILABLE));
            pthread_mutex_lock(&a->mu);
        }
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- batched reads: the flusher ------------------------------------------------------------ */

/* Called with mu held and no I/O in flight: syncs what batched reads wrote. write_locked may
 * write meanwhile (past what this sync claims); flush_locked waits for it. */
static void sync_locked(cst_audit *a)
{
    a->syncing = true;
    batch t[CST_AUDIT__STREAMS];
    off_t size[CST_AUDIT__STREAMS];
    uint32_t gen[CST_AUDIT__STREAMS];
    for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
        stream *s = &a->s[i];
        t[i] = (batch){.end_seq = s->wr_seq, .err = CST_OK};
        memcpy(t[i].end_head, s->wr_head, CST_HASH_LEN);
        size[i] = s->wr_size;
        gen[i] = s->gen;
    }
    pthread_mutex_unlock(&a->mu);
    for (int i = 0; i < CST_AUDIT__STREAMS; i++)
        if (size[i] > a->s[i].dur_size)
            t[i].err = segment_sync(&a->s[i]);
    pthread_mutex_lock(&a->mu);
    while (a->flushing) /* a failure resets the stream: not under a writer's feet */
        pthread_cond_wait(&a->cv, &a->mu);
    for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
        stream *s = &a->s[i];
        if (t[i].err != CST_OK) {
            stream_failed(a, s, t[i].err);
        } else if (size[i] > s->dur_size && gen[i] == s->gen) { /* not reset meanwhile */
            count_entries(s, t[i].end_seq, true);
            s->dur_seq = t[i].end_seq;
            memcpy(s->dur_head, t[i].end_head, CST_HASH_LEN);
            s->dur_size = size[i];
        }
    }
    a->syncing = false;
    pthread_cond_broadcast(&a->cv);
    if (a->notify)
        a->notify(a->notify_ctx);
}

/* Called with mu held and no I/O in flight while stalled: is the log writable again? Writes and
 * syncs zeroes at each stream's tail (allocating them after a failed write cut the padding). */
static void probe_locked(cst_audit *a)
{
    a->flushing = true;
    pthread_mutex_unlock(&a->mu);
    cst_err e = CST_OK;
    for (int i = 0; e == CST_OK && i < CST_AUDIT__STREAMS; i++) {
        stream *s = &a->s[i];
        off_t end = s->wr_size + 4096;
        e = check_identity(s);
        if (e == CST_OK)
            e = zero_fill(s->fd, s->wr_size, end);
        if (e == CST_OK)
            e = segment_sync(s);
        if (e == CST_OK && end > s->alloc_size)
            s->alloc_size = end;
    }
    pthread_mutex_lock(&a->mu);
    if (e == CST_OK) {
        a->stalled = false;
        cst_warn("audit: the log is writable again; requests are served again");
    } else {
        cst_err_clear();
    }
    a->flushing = false;
    pthread_cond_broadcast(&a->cv);
}

static bool unsynced(const cst_audit *a)
{
    for (int i = 0; i < CST_AUDIT__STREAMS; i++)
        if (a->s[i].wr_size > a->s[i].dur_size)
            return true;
    return false;
}

/* With batched reads: every flush_interval_ms, makes durable what reads wrote, or probes a
 * stopped log. */
static void *flusher_main(void *arg)
{
    cst_audit *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->closing) {
        struct timespec ts = cst_abstime_ms(a->o.flush_interval_ms);
        while (!a->closing && pthread_cond_timedwait(&a->cv, &a->mu, &ts) == 0)
            ;
        while (!a->closing && io_busy(a))
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->closing)
            break;
        if (a->stalled)
            probe_locked(a);
        else if (unsynced(a))
            sync_locked(a);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

cst_err cst_audit_open(const cst_audit_opts *o, cst_audit **out)
{
    cst_audit *a = calloc(1, sizeof(*a));
    ENSURE(a != NULL, CST_ERR_INTERNAL, "out of memory");
    a->o = *o;
    for (int i = 0; i < CST_AUDIT__STREAMS; i++)
        a->s[i].fd = -1;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    cst_err e = cst_fmt(a->dir, sizeof(a->dir), "%s", o->dir);
    if (e == CST_OK)
        e = cst_fmt(a->epoch_file, sizeof(a->epoch_file), "%s", o->epoch_file);
    if (e == CST_OK)
        e = cst_fmt(a->node_id, sizeof(a->node_id), "%s", o->node_id);
    a->o.dir = a->dir;
    a->o.epoch_file = a->epoch_file;
    a->o.node_id = a->node_id;
    if (e == CST_OK && mkdir(a->dir, 0700) != 0 && errno != EEXIST)
        e = cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "cannot create %s: %s", a->dir, strerror(errno));
    if (e == CST_OK)
        e = cst_audit_epoch_load(a->epoch_file, o->kek, &a->epoch, &a->k);
    for (int i = 0; e == CST_OK && i < CST_AUDIT__STREAMS; i++)
        e = stream_open(a, i);
    if (e == CST_OK) {
        /* A crash between a seal round's seals and the key's move forward: finish the round
         * (seal the streams that lack this epoch's seal), then move forward. */
        bool any = false;
        for (int i = 0; i < CST_AUDIT__STREAMS; i++)
            any |= a->s[i].sealed_epoch == (int64_t)a->epoch;
        if (any) {
            cst_warn("audit: finishing seal round %llu interrupted by a stop",
                     (unsigned long long)a->epoch);
            pthread_mutex_lock(&a->mu);
            a->finish_round = true;
            flush_locked(a, false);
            a->finish_round = false;
            pthread_mutex_unlock(&a->mu);
            for (int i = 0; i < CST_AUDIT__STREAMS; i++)
                if (a->s[i].sealed_epoch == (int64_t)a->epoch)
                    e = cst_fail(CST_ERR_AUDIT_UNAVAILABLE,
                                 "the interrupted seal round could not be finished");
        }
    }
    a->last_seal_us = cst_now_us();
    if (e == CST_OK && pthread_create(&a->sealer, NULL, sealer_main, a) == 0)
        a->sealer_started = true;
    else if (e == CST_OK)
        e = cst_fail(CST_ERR_INTERNAL, "cannot start the audit sealing thread");
    if (e == CST_OK && o->batched_reads) {
        if (pthread_create(&a->flusher, NULL, flusher_main, a) == 0)
            a->flusher_started = true;
        else
            e = cst_fail(CST_ERR_INTERNAL, "cannot start the audit flusher thread");
    }
    if (e != CST_OK) {
        cst_audit_close(a);
        return e;
    }
    *out = a;
    return CST_OK;
}

uint64_t cst_audit_pending(cst_audit *a)
{
    uint64_t n = 0;
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < CST_AUDIT__STREAMS; i++)
        n += a->s[i].next_seq - 1 - a->s[i].dur_seq;
    pthread_mutex_unlock(&a->mu);
    return n;
}

cst_err cst_audit_writable(cst_audit *a)
{
    cst_err e = CST_OK;
    pthread_mutex_lock(&a->mu);
    if (a->stalled)
        e = cst_fail(CST_ERR_AUDIT_UNAVAILABLE, "the audit log stopped after a failed write");
    for (int i = 0; e == CST_OK && i < CST_AUDIT__STREAMS; i++)
        e = check_identity(&a->s[i]);
    pthread_mutex_unlock(&a->mu);
    return e;
}

void cst_audit_close(cst_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->closing = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    if (a->flusher_started)
        pthread_join(a->flusher, NULL);
    if (a->sealer_started) {
        pthread_join(a->sealer, NULL);
        pthread_mutex_lock(&a->mu);
        while (io_busy(a))
            pthread_cond_wait(&a->cv, &a->mu);
        a->seal_requested = true;
        if (seal_wanted(a, cst_now_us()) || unsynced(a))
            flush_locked(a, false);
        pthread_mutex_unlock(&a->mu);
    }
    for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
        /* a clean stop leaves the open segment as a closed one: ending at its last line */
        if (segment_trim(&a->s[i]) != CST_OK)
            cst_error("audit: %s", cst_err_message(CST_ERR_AUDIT_UNAVAILABLE));
        if (a->s[i].fd >= 0)
            close(a->s[i].fd);
        cst_buf_free(&a->s[i].pending);
    }
    cst_key_free(&a->k);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

/* ---- retention --------------------------------------------------------------------------------
 */

/* The anchor object of a segment (its first line). */
cst_err cst_audit_segment_anchor(const char *path, json_t **anchor)
{
    FILE *f = fopen(path, "re");
    ENSURE(f != NULL, CST_ERR_UNAVAILABLE, "cannot open %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    fclose(f);
    json_t *o = n > 0 ? json_loadb(line, (size_t)n, 0, NULL) : NULL;
    free(line);
    json_t *an = json_object_get(o, "anchor");
    if (!an) {
        json_decref(o);
        return cst_fail(CST_ERR_INTEGRITY, "audit segment %s has no anchor", path);
    }
    *anchor = json_incref(an);
    json_decref(o);
    return CST_OK;
}

/* LOG-3: a segment goes when the whole of it is older than its stream's retention, i.e. when
 * the next segment began before the cut-off. The removal is recorded (stream, the sequence
 * number the stream now resumes from) before any file goes, so verification can tell pruning
 * from deletion. */
cst_err cst_audit_prune(cst_audit *a, int64_t now_us, int *removed)
{
    *removed = 0;
    for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
        int64_t cutoff = now_us - (int64_t)a->o.retention_days[i] * 86400 * 1000000;
        char **paths;
        size_t n, k = 0;
        TRY(cst_audit_segments(a->dir, cst_audit_stream_names[i], &paths, &n));
        uint64_t resume = 0;
        cst_err e = CST_OK;
        while (e == CST_OK && k + 1 < n) {
            json_t *an = NULL;
            e = cst_audit_segment_anchor(paths[k + 1], &an);
            int64_t t = 0;
            const char *ts = json_string_value(json_object_get(an, "time"));
            bool expired = e == CST_OK && ts && cst_time_parse(ts, &t) && t < cutoff;
            if (expired)
                resume = (uint64_t)json_integer_value(json_object_get(an, "seq"));
            json_decref(an);
            if (!expired)
                break;
            k++;
        }
        if (e == CST_OK && k > 0) {
            json_t *info = json_pack("{s:s,s:I,s:i,s:i}", "stream", cst_audit_stream_names[i],
                                     "through_seq", (json_int_t)resume, "segments", (int)k,
                                     "retention_days", a->o.retention_days[i]);
            cst_audit_event ev = {.stream = CST_AUDIT_SECURITY,
                                  .actor_type = "node",
                                  .actor_id = a->node_id,
                                  .action = "audit.prune",
                                  .resource = cst_audit_stream_names[i],
                                  .outcome = "success",
                                  .info = info};
            e = cst_audit_append(a, &ev);
            json_decref(info);
        }
        for (size_t j = 0; e == CST_OK && j < k; j++) {
            if (unlink(paths[j]) != 0)
                e = cst_fail(CST_ERR_UNAVAILABLE, "cannot remove %s: %s", paths[j],
                             strerror(errno));
            else
                (*removed)++;
        }
        if (e == CST_OK && k > 0)
            e = cst_fsync_dir(a->s[i].dir);
        cst_audit_segments_free(paths, n);
        TRY(e);
    }
    return CST_OK;
}
