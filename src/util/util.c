/* util.c: time, ids, encodings, safe file I/O and logging. */
#include "util/util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

int64_t cst_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timespec cst_abstime_ms(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

void cst_time_format(int64_t us, char out[32])
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    (void)snprintf(out + n, 32 - n, ".%06dZ", (int)(us % 1000000));
}

bool cst_time_parse(const char *s, int64_t *us)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return false;
    int64_t frac = 0;
    if (*end == '.') {
        int digits = 0;
        for (end++; *end >= '0' && *end <= '9'; end++, digits++)
            if (digits < 6)
                frac = frac * 10 + (*end - '0');
        if (digits == 0)
            return false;
        for (; digits < 6; digits++)
            frac *= 10;
    }
    if (strcmp(end, "Z") != 0)
        return false;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *us = (int64_t)t * 1000000 + frac;
    return true;
}

void cst_random_id(const char *prefix, char out[32])
{
    uint8_t r[10];
    char hex[21];
    randombytes_buf(r, sizeof(r));
    cst_hex(r, sizeof(r), hex);
    (void)snprintf(out, 32, "%s_%s", prefix, hex);
}

bool cst_id_valid(const char *s, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(s, prefix, pl) != 0 || s[pl] != '_' || strlen(s) != pl + 21)
        return false;
    for (const char *c = s + pl + 1; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

void cst_hex(const uint8_t *p, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, p, n);
}

cst_err cst_unhex(const char *s, uint8_t *out, size_t n)
{
    size_t got = 0;
    /* s is often json_string_value() of a field a file may lack: absent is malformed */
    ENSURE(s != NULL && strlen(s) == 2 * n, CST_ERR_INVALID, "expected %zu hex digits", 2 * n);
    ENSURE(sodium_hex2bin(out, n, s, 2 * n, NULL, &got, NULL) == 0 && got == n, CST_ERR_INVALID,
           "malformed hex");
    return CST_OK;
}

bool cst_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

bool cst_has_control(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7F)
            return true;
        /* C1 controls U+0080..U+009F are encoded as C2 80..C2 9F. */
        if (p[i] == 0xC2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F)
            return true;
    }
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

cst_err cst_percent_decode(const char *s, size_t n, char *out, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        ENSURE(i + 2 < n, CST_ERR_INVALID, "truncated percent-encoding");
        int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
        ENSURE(hi >= 0 && lo >= 0, CST_ERR_INVALID, "malformed percent-encoding");
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    out[o] = '\0';
    *out_len = o;
    return CST_OK;
}

cst_err cst_fmt(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    ENSURE(n >= 0 && (size_t)n < size, CST_ERR_INVALID, "value too long");
    return CST_OK;
}

cst_err cst_copy(char *dst, size_t n, const char *src)
{
    ENSURE(dst && n > 0 && src, CST_ERR_INTERNAL, "copy into no buffer");
    size_t len = strnlen(src, n);
    ENSURE(len < n, CST_ERR_INVALID, "value too long");
    memcpy(dst, src, len + 1);
    return CST_OK;
}

cst_err cst_file_read(const char *path, size_t max, cst_buf *out)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ENSURE(fd >= 0, CST_ERR_NOT_FOUND, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        close(fd);
        return cst_fail(CST_ERR_INVALID, "%s is not a regular file of at most %zu bytes", path,
                        max);
    }
    cst_buf_init(out, max);
    uint8_t chunk[4096];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            cst_buf_wipe_free(out);
            return cst_fail(CST_ERR_INTERNAL, "cannot read %s: %s", path, strerror(errno));
        }
        if (r == 0)
            break;
        cst_err e = cst_buf_append(out, chunk, (size_t)r);
        if (e != CST_OK) {
            close(fd);
            sodium_memzero(chunk, sizeof(chunk));
            cst_buf_wipe_free(out);
            return e;
        }
    }
    sodium_memzero(chunk, sizeof(chunk));
    close(fd);
    return CST_OK;
}

static cst_err write_all(int fd, const void *p, size_t n, const char *path)
{
    const uint8_t *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        ENSURE(w > 0, CST_ERR_UNAVAILABLE, "cannot write %s: %s", path, strerror(errno));
        c += w;
        n -= (size_t)w;
    }
    ENSURE(fsync(fd) == 0, CST_ERR_UNAVAILABLE, "cannot sync %s: %s", path, strerror(errno));
    return CST_OK;
}

cst_err cst_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ENSURE(fd >= 0, CST_ERR_UNAVAILABLE, "cannot open directory %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    ENSURE(rc == 0, CST_ERR_UNAVAILABLE, "cannot sync directory %s", dir);
    return CST_OK;
}

static cst_err sync_parent(const char *path)
{
    char copy[4096];
    TRY(cst_fmt(copy, sizeof(copy), "%s", path));
    return cst_fsync_dir(dirname(copy));
}

cst_err cst_file_create(const char *path, const void *p, size_t n, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    ENSURE(fd >= 0, CST_ERR_CONFLICT, "cannot create %s: %s", path, strerror(errno));
    cst_err e = write_all(fd, p, n, path);
    close(fd);
    if (e != CST_OK) {
        unlink(path);
        return e;
    }
    return sync_parent(path);
}

cst_err cst_file_write_atomic(const char *path, const void *p, size_t n, int mode)
{
    char tmp[4096];
    TRY(cst_fmt(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()));
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    ENSURE(fd >= 0, CST_ERR_UNAVAILABLE, "cannot create %s: %s", tmp, strerror(errno));
    cst_err e = write_all(fd, p, n, tmp);
    close(fd);
    if (e == CST_OK && rename(tmp, path) != 0)
        e = cst_fail(CST_ERR_UNAVAILABLE, "cannot rename %s: %s", tmp, strerror(errno));
    if (e != CST_OK) {
        unlink(tmp);
        return e;
    }
    return sync_parent(path);
}

cst_err cst_secret_file_read(const char *what, const char *path, char *out, size_t n, size_t *len)
{
    ENSURE(n > 1, CST_ERR_INTERNAL, "no room for %s", what);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ENSURE(fd >= 0, CST_ERR_INVALID, "%s %s: %s%s", what, path, strerror(errno),
           errno == ELOOP ? " (symbolic links are refused)" : "");
    struct stat sb;
    cst_err e = CST_OK;
    ssize_t got = 0;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        e = cst_fail(CST_ERR_INVALID, "%s %s: not a regular file", what, path);
    else if (sb.st_mode & 077)
        e = cst_fail(CST_ERR_INVALID, "%s %s: mode %03o, must be 0600", what, path,
                     (unsigned)(sb.st_mode & 0777));
    else if ((got = read(fd, out, n - 1)) < 0 || (size_t)got == n - 1)
        e = cst_fail(CST_ERR_INVALID, "%s %s: unreadable or too long", what, path);
    close(fd);
    if (e != CST_OK) {
        sodium_memzero(out, n);
        return e;
    }
    out[got] = '\0';
    *len = (size_t)got;
    return CST_OK;
}

static int rm_one(const char *path, int depth)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    if (depth > 8)
        return -1;
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= (int)sizeof(sub))
            rc = -1;
        else
            rc = rm_one(sub, depth + 1);
    }
    closedir(d);
    return rc == 0 ? rmdir(path) : rc;
}

void cst_rm_rf(const char *path)
{
    if (path && path[0] && rm_one(path, 0) != 0)
        cst_warn("cannot remove %s: %s", path, strerror(errno));
}

bool cst_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

void cst_log(const char *level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cst_log_event(level, msg); /* util/log.h: the one writer of the server log */
}

/* The host of an http:// URL (after the scheme) is a loopback address: 127.0.0.0/8 or [::1]. */
static bool http_host_loopback(const char *p)
{
    char host[64];
    size_t n;
    if (*p == '[') {
        n = strcspn(p + 1, "]");
        return p[1 + n] == ']' && n == 3 && strncmp(p + 1, "::1", 3) == 0;
    }
    n = strcspn(p, ":/?#");
    if (n == 0 || n >= sizeof(host))
        return false;
    memcpy(host, p, n);
    host[n] = '\0';
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* A URL's text: at most CST_WEBHOOK_URL_MAX - 1 bytes, printable ASCII without spaces. */
static cst_err url_text_check(const char *what, const char *url)
{
    size_t len = strlen(url);
    ENSURE(len < CST_WEBHOOK_URL_MAX, CST_ERR_INVALID, "%s is at most %d bytes", what,
           CST_WEBHOOK_URL_MAX - 1);
    for (size_t i = 0; i < len; i++)
        ENSURE((unsigned char)url[i] > 0x20 && (unsigned char)url[i] < 0x7f, CST_ERR_INVALID,
               "%s has no spaces or control characters", what);
    return CST_OK;
}

cst_err cst_webhook_url_check(const char *url)
{
    TRY(url_text_check("a webhook URL", url));
    if (strncmp(url, "https://", 8) == 0) {
        ENSURE(url[8] && url[8] != '/', CST_ERR_INVALID, "a webhook URL names a host");
        return CST_OK;
    }
    ENSURE(strncmp(url, "http://", 7) == 0 && http_host_loopback(url + 7), CST_ERR_INVALID,
           "a webhook URL must be https:// (http:// only to a loopback address, for tests)");
    return CST_OK;
}

cst_err cst_smtp_url_check(const char *url, bool starttls)
{
    TRY(url_text_check("a mail relay URL", url));
    bool smtps = strncmp(url, "smtps://", 8) == 0;
    ENSURE(smtps || strncmp(url, "smtp://", 7) == 0, CST_ERR_INVALID,
           "a mail relay URL is smtps://host[:port] or smtp://host[:port] (with STARTTLS)");
    const char *host = url + (smtps ? 8 : 7), *rest = host + strcspn(host, "/?#@");
    ENSURE(*host && *host != ':' && *host != '/', CST_ERR_INVALID, "a mail relay URL names a host");
    ENSURE(!*rest || (rest[0] == '/' && !rest[1]), CST_ERR_INVALID,
           "a mail relay URL is only scheme://host[:port] (no user, path or query)");
    ENSURE(smtps || starttls || http_host_loopback(host), CST_ERR_INVALID,
           "smtp:// without STARTTLS (notices.smtp_starttls = false) only to a loopback address, "
           "for tests");
    return CST_OK;
}

bool cst_email_valid(const char *s)
{
    size_t len = strlen(s), ats = 0, at = 0;
    if (len < 3 || len > 254)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"<>(),;:[]\\", ch))
            return false;
        if (ch == '@') {
            ats++;
            at = i;
        }
    }
    return ats == 1 && at > 0 && at + 1 < len && s[at + 1] != '.' && s[len - 1] != '.';
}

cst_err cst_room(void **rows, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return CST_OK;
    size_t grown = *cap ? 2 * *cap : 16;
    ENSURE(grown <= SIZE_MAX / size, CST_ERR_INTERNAL, "out of memory");
    void *p = realloc(*rows, grown * size);
    ENSURE(p != NULL, CST_ERR_INTERNAL, "out of memory");
    *rows = p;
    *cap = grown;
    return CST_OK;
}
