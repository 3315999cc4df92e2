/* spool.c: POR-1. An import's upload spooled to an unnamed temporary file under the node's
 * scratch dir, encrypted (XChaCha20-Poly1305 secretstream) under a random key that lives only
 * in locked memory, so that an import costs disk rather than memory and no customer byte is
 * ever on disk in the clear. While the bytes arrive it counts them against
 * http.max_import_bytes, hashes them, and keeps the last line (where the manifest must be)
 * and the hash of everything before it. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/spool.h"
#include "util/util.h"

#define FRAME 65536 /* plaintext bytes per encrypted frame */
#define SEALED (FRAME + crypto_secretstream_xchacha20poly1305_ABYTES)
#define SPOOL_PREFIX "import-"

struct cst_spool {
    int fd;
    size_t limit, total;
    /* sodium_malloc'd, wiped and freed by cst_spool_free: the key and the stream states */
    struct spool_secret {
        uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
        crypto_secretstream_xchacha20poly1305_state push, pull;
        uint8_t plain[FRAME];   /* the frame being filled (write) or read (read back) */
        uint8_t sealed[SEALED]; /* one frame as it is on disk */
    } * s;
    uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    size_t plain_len; /* bytes in s->plain */
    bool finished;    /* the final frame is written; the spool is being read */
    size_t read_pos, read_len;
    bool read_end;
    /* the manifest: the last line, and the SHA-256 state over every byte before it */
    crypto_hash_sha256_state sha, sha_before_last;
    bool at_line_start;
    char last[CST_SPOOL_LAST_MAX];
    size_t last_len;
    bool last_too_long;
};

/* The files of spools that a crashed process could not remove (the name exists only between
 * mkstemp and unlink when O_TMPFILE is not supported), removed before this process spools. */
static const char *sweep_dir;
static void sweep_leftovers(void)
{
    DIR *d = opendir(sweep_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX];
        if (strncmp(de->d_name, SPOOL_PREFIX, strlen(SPOOL_PREFIX)) == 0 &&
            snprintf(path, sizeof(path), "%s/%s", sweep_dir, de->d_name) < (int)sizeof(path) &&
            unlink(path) == 0)
            cst_info("removed the spool of an interrupted import: %s", path);
    }
    closedir(d);
}

static cst_err spool_file(const char *dir, int *fd)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    ENSURE(mkdir(dir, 0700) == 0 || errno == EEXIST, CST_ERR_UNAVAILABLE,
           "cannot create the scratch dir %s: %s", dir, strerror(errno));
    sweep_dir = dir;
    (void)pthread_once(&once, sweep_leftovers);
    /* no name at all: nothing to remove on any path, crash included */
    *fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (*fd >= 0)
        return CST_OK;
    char path[PATH_MAX];
    TRY(cst_fmt(path, sizeof(path), "%s/" SPOOL_PREFIX "XXXXXX", dir));
    *fd = mkostemp(path, O_CLOEXEC);
    ENSURE(*fd >= 0, CST_ERR_UNAVAILABLE, "cannot create a spool file in %s: %s", dir,
           strerror(errno));
    (void)unlink(path);
    return CST_OK;
}

cst_err cst_spool_open(const char *dir, size_t limit, cst_spool **out)
{
    cst_spool *sp = calloc(1, sizeof(*sp));
    ENSURE(sp != NULL, CST_ERR_INTERNAL, "out of memory");
    sp->fd = -1;
    sp->limit = limit;
    sp->at_line_start = true;
    sp->s = sodium_malloc(sizeof(*sp->s));
    cst_err e = sp->s ? CST_OK : cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (e == CST_OK) {
        crypto_secretstream_xchacha20poly1305_keygen(sp->s->key);
        crypto_hash_sha256_init(&sp->sha);
        sp->sha_before_last = sp->sha;
        if (crypto_secretstream_xchacha20poly1305_init_push(&sp->s->push, sp->header, sp->s->key) !=
            0)
            e = cst_fail(CST_ERR_INTERNAL, "cannot start the spool's encryption");
    }
    if (e == CST_OK)
        e = spool_file(dir, &sp->fd);
    if (e != CST_OK) {
        cst_spool_free(sp);
        return e;
    }
    *out = sp;
    return CST_OK;
}

void cst_spool_free(cst_spool *sp)
{
    if (!sp)
        return;
    if (sp->fd >= 0)
        close(sp->fd); /* the file has no name: closing it removes it */
    if (sp->s)
        sodium_free(sp->s); /* zeroes it */
    sodium_memzero(sp->last, sizeof(sp->last));
    free(sp);
}

static cst_err write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        /* a full disk is the node's condition, not the client's mistake */
        ENSURE(w > 0, CST_ERR_UNAVAILABLE, "cannot spool the import: %s",
               w < 0 ? strerror(errno) : "short write");
        p += w;
        n -= (size_t)w;
    }
    return CST_OK;
}

static cst_err push_frame(cst_spool *sp, unsigned char tag)
{
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(&sp->s->push, sp->s->sealed, &clen, sp->s->plain,
                                               sp->plain_len, NULL, 0, tag);
    sodium_memzero(sp->s->plain, sp->plain_len);
    sp->plain_len = 0;
    return write_all(sp->fd, sp->s->sealed, (size_t)clen);
}

/* Hashes p, keeping the hash state at the start of the last line and that line's text. */
static void track_lines(cst_spool *sp, const uint8_t *p, size_t n)
{
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if (sp->at_line_start) {
            crypto_hash_sha256_update(&sp->sha, p + from, i - from);
            from = i;
            sp->sha_before_last = sp->sha;
            sp->last_len = 0;
            sp->last_too_long = false;
            sp->at_line_start = false;
        }
        if (p[i] == '\n') {
            sp->at_line_start = true;
        } else if (sp->last_len < sizeof(sp->last) - 1) {
            sp->last[sp->last_len++] = (char)p[i];
        } else {
            sp->last_too_long = true;
        }
    }
    crypto_hash_sha256_update(&sp->sha, p + from, n - from);
}

cst_err cst_spool_write(void *ctx, const void *data, size_t n)
{
    cst_spool *sp = ctx;
    ENSURE(!sp->finished, CST_ERR_INTERNAL, "the spool is closed for writing");
    ENSURE(n <= sp->limit - sp->total, CST_ERR_TOO_LARGE,
           "the import exceeds http.max_import_bytes (%zu bytes)", sp->limit);
    sp->total += n;
    track_lines(sp, data, n);
    const uint8_t *p = data;
    while (n > 0) {
        size_t k = FRAME - sp->plain_len < n ? FRAME - sp->plain_len : n;
        memcpy(sp->s->plain + sp->plain_len, p, k);
        sp->plain_len += k;
        p += k;
        n -= k;
        if (sp->plain_len == FRAME)
            TRY(push_frame(sp, 0));
    }
    return CST_OK;
}

void cst_spool_free_ctx(void *ctx)
{
    cst_spool_free(ctx);
}

cst_err cst_spool_finish(cst_spool *sp, cst_spool_summary *out)
{
    ENSURE(!sp->finished, CST_ERR_INTERNAL, "the spool is already finished");
    TRY(push_frame(sp, crypto_secretstream_xchacha20poly1305_TAG_FINAL));
    sp->finished = true;
    ENSURE(lseek(sp->fd, 0, SEEK_SET) == 0, CST_ERR_UNAVAILABLE, "cannot read the spool back: %s",
           strerror(errno));
    ENSURE(crypto_secretstream_xchacha20poly1305_init_pull(&sp->s->pull, sp->header, sp->s->key) ==
               0,
           CST_ERR_INTERNAL, "cannot read the spool back");
    memset(out, 0, sizeof(*out));
    out->bytes = sp->total;
    /* the manifest is the last non-empty line; the hash covers every byte before it */
    if (sp->last_len > 0 && !sp->last_too_long) {
        out->last = sp->last;
        out->last_len = sp->last_len;
        crypto_hash_sha256_state before = sp->sha_before_last;
        crypto_hash_sha256_final(&before, out->sha256_before_last);
    }
    return CST_OK;
}

/* The next frame's plaintext into s->plain. */
static cst_err pull_frame(cst_spool *sp)
{
    size_t got = 0;
    while (got < SEALED) {
        ssize_t r = read(sp->fd, sp->s->sealed + got, SEALED - got);
        if (r < 0 && errno == EINTR)
            continue;
        ENSURE(r >= 0, CST_ERR_UNAVAILABLE, "cannot read the spool back: %s", strerror(errno));
        if (r == 0)
            break;
        got += (size_t)r;
    }
    unsigned long long mlen = 0;
    unsigned char tag = 0;
    ENSURE(got >= crypto_secretstream_xchacha20poly1305_ABYTES &&
               crypto_secretstream_xchacha20poly1305_pull(&sp->s->pull, sp->s->plain, &mlen, &tag,
                                                          sp->s->sealed, got, NULL, 0) == 0,
           CST_ERR_INTEGRITY, "the import's spool file was damaged on disk");
    sp->read_pos = 0;
    sp->read_len = (size_t)mlen;
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
        sp->read_end = true;
    else
        ENSURE(got == SEALED, CST_ERR_INTEGRITY, "the import's spool file is truncated");
    return CST_OK;
}

cst_err cst_spool_line(cst_spool *sp, cst_buf *line, size_t max, bool *eof)
{
    line->len = 0;
    *eof = false;
    for (;;) {
        if (sp->read_pos == sp->read_len) {
            if (sp->read_end) {
                *eof = line->len == 0;
                return CST_OK;
            }
            TRY(pull_frame(sp));
            continue;
        }
        const uint8_t *p = sp->s->plain + sp->read_pos;
        size_t avail = sp->read_len - sp->read_pos;
        const uint8_t *nl = memchr(p, '\n', avail);
        size_t k = nl ? (size_t)(nl - p) : avail;
        ENSURE(line->len + k <= max, CST_ERR_TOO_LARGE,
               "a line of the import is longer than %zu bytes (http.max_record_bytes as base64 "
               "in its JSON)",
               max);
        TRY(cst_buf_append(line, p, k));
        sp->read_pos += k + (nl ? 1 : 0);
        if (nl)
            return CST_OK;
    }
}
