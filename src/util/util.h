/* util.h: small helpers shared by every layer: time, ids, encodings, files, logging. */
#ifndef CST_UTIL_H
#define CST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/buf.h"
#include "util/err.h"

/* Wall-clock microseconds since the epoch. */
int64_t cst_now_us(void);
/* The wall-clock time ms milliseconds from now, for pthread_cond_timedwait. */
struct timespec cst_abstime_ms(int ms);
/* Formats microseconds since the epoch as RFC 3339 UTC with microseconds. */
void cst_time_format(int64_t us, char out[32]);
/* Parses RFC 3339 UTC ("2026-01-02T03:04:05Z", optional fraction); false when malformed. */
bool cst_time_parse(const char *s, int64_t *us);

/* A random identifier "<prefix>_<20 hex digits>" (80 bits). out must hold 32 bytes. */
void cst_random_id(const char *prefix, char out[32]);
/* True when s is an identifier as cst_random_id makes them, with that prefix. */
bool cst_id_valid(const char *s, const char *prefix);
/* DET-1: a webhook URL is https://, or http:// to a loopback address (127.0.0.0/8, [::1]) for
 * tests; at most CST_WEBHOOK_URL_MAX - 1 bytes, no spaces or control characters. */
#define CST_WEBHOOK_URL_MAX 512
CST_MUST_USE cst_err cst_webhook_url_check(const char *url);
/* INC-3: a mail relay URL is smtps://host[:port], or smtp://host[:port] with STARTTLS required;
 * smtp:// without STARTTLS (starttls false) only to a loopback address, for tests. Nothing after
 * the host and port. At most CST_WEBHOOK_URL_MAX - 1 bytes. */
CST_MUST_USE cst_err cst_smtp_url_check(const char *url, bool starttls);
/* An email address safe to put in a header and an SMTP envelope: local@domain, printable ASCII
 * without spaces, quotes, angle brackets, commas or semicolons, one '@', at most 254 bytes. */
bool cst_email_valid(const char *s);

void cst_hex(const uint8_t *p, size_t n, char *out); /* out holds 2n+1 */
CST_MUST_USE cst_err cst_unhex(const char *s, uint8_t *out, size_t n);

/* True when p[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
bool cst_utf8_valid(const uint8_t *p, size_t n);
/* True when p[0..n) contains a C0/C1 control character or DEL. Assumes valid UTF-8. */
bool cst_has_control(const uint8_t *p, size_t n);

/* Decodes %XX escapes strictly (a bad or truncated escape fails). out receives n+1 bytes at
 * most; *out_len is the decoded length. A '+' stays a '+'. */
CST_MUST_USE cst_err cst_percent_decode(const char *s, size_t n, char *out, size_t *out_len);

/* snprintf that fails instead of truncating. */
CST_MUST_USE cst_err cst_fmt(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies the string src into dst of n bytes; fails instead of truncating, and then leaves dst
 * as it was (a rejected value never half-replaces the old one). The checked strcpy. */
CST_MUST_USE cst_err cst_copy(char *dst, size_t n, const char *src);
/* Room for one more element of size bytes in the array *rows holding n of *cap: grows it (16 at
 * first, then twice as many) when full. *rows stays valid (and owned by the caller) on failure. */
CST_MUST_USE cst_err cst_room(void **rows, size_t *cap, size_t n, size_t size);

/* Reads a whole regular file opened with O_NOFOLLOW, at most max bytes. */
CST_MUST_USE cst_err cst_file_read(const char *path, size_t max, cst_buf *out);
/* Reads a secret file (regular, not a symbolic link: O_NOFOLLOW; mode 0600 or stricter) into
 * out (n bytes, NUL-terminated); *len receives its length. what names the file in errors (the
 * configuration key). A file of n bytes or more is refused. Wipes what it read on failure. */
CST_MUST_USE cst_err cst_secret_file_read(const char *what, const char *path, char *out, size_t n,
                                          size_t *len);
/* Writes a file atomically (temp file, fsync, rename, fsync of the directory) with mode. */
CST_MUST_USE cst_err cst_file_write_atomic(const char *path, const void *p, size_t n, int mode);
/* Creates a file that must not exist yet (O_EXCL|O_NOFOLLOW), writes it and syncs it. */
CST_MUST_USE cst_err cst_file_create(const char *path, const void *p, size_t n, int mode);
CST_MUST_USE cst_err cst_fsync_dir(const char *dir);
bool cst_path_exists(const char *path);
/* Removes path and what is under it (8 levels at most, symlinks not followed); a failure is
 * logged. */
void cst_rm_rf(const char *path);

/* Logging to stderr with a UTC timestamp. Never pass secrets or customer data. */
void cst_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define cst_info(...) cst_log("info", __VA_ARGS__)
#define cst_warn(...) cst_log("warn", __VA_ARGS__)
#define cst_error(...) cst_log("error", __VA_ARGS__)

#endif
