/* log.c: the server log's one writer: JSON or text lines, each a single write(2) to stderr. */
#include "util/log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

/* A message is at most 1024 bytes (cst_log) and escapes to at most six times that: a line
 * this long is never cut; a longer one is cut at a character, and still closes. */
#define LINE_MAX_BYTES 8192
#define LINE_RESERVE 8 /* the closing quote, brace and newline always fit */

static atomic_int format = CST_LOG_JSON;

void cst_log_set_format(const char *name)
{
    atomic_store(&format, name && strcmp(name, "text") == 0 ? CST_LOG_TEXT : CST_LOG_JSON);
}

/* A line under construction. A piece that does not fit is left out whole (never half an
 * escape), and so is everything after it. */
typedef struct line {
    char b[LINE_MAX_BYTES];
    size_t n;
    bool full;
} line;

static bool put(line *l, const char *s, size_t len)
{
    if (l->full || len > sizeof(l->b) - LINE_RESERVE - l->n) {
        l->full = true;
        return false;
    }
    memcpy(l->b + l->n, s, len);
    l->n += len;
    return true;
}

static bool puts_(line *l, const char *s)
{
    return put(l, s, strlen(s));
}

/* Within the reserve: the closing characters of a line that filled up. */
static void close_with(line *l, char c)
{
    if (l->n < sizeof(l->b))
        l->b[l->n++] = c;
}

/* A JSON string's contents: quotes, backslashes and control characters escaped. */
static void put_json(line *l, const char *s)
{
    /* a value that is not UTF-8 (a path, a peer's bytes) keeps the line JSON: U+FFFD for each
     * byte above ASCII */
    bool utf8 = cst_utf8_valid((const uint8_t *)s, strlen(s));
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            esc[2] = '\0';
        } else if (c >= 0x80 && !utf8) {
            (void)snprintf(esc, sizeof(esc), "\\ufffd");
        } else if (c < 0x20 || c == 0x7f) {
            (void)snprintf(esc, sizeof(esc), "\\u%04x", c);
        } else {
            esc[0] = (char)c;
            esc[1] = '\0';
        }
        if (!puts_(l, esc))
            return;
    }
}

/* A text value: control characters become spaces, so that one event stays one line. */
static void put_text(line *l, const char *s)
{
    for (; *s; s++)
        if (!put(l, (unsigned char)*s < 0x20 || *s == 0x7f ? " " : s, 1))
            return;
}

/* One field: "name":"value" (JSON) or name=value (text). A JSON string that was cut still
 * closes its quote. */
static void field(line *l, cst_log_format f, const char *name, const char *value, bool quoted)
{
    char head[64];
    if (f == CST_LOG_JSON) {
        (void)snprintf(head, sizeof(head), ",\"%s\":%s", name, quoted ? "\"" : "");
        if (!puts_(l, head))
            return;
        put_json(l, value);
        if (quoted && !puts_(l, "\""))
            close_with(l, '"');
    } else {
        (void)snprintf(head, sizeof(head), " %s=", name);
        if (puts_(l, head))
            put_text(l, value[0] ? value : "-");
    }
}

static void start(line *l, cst_log_format f, const char *level)
{
    char ts[32], head[96];
    cst_time_format(cst_now_us(), ts);
    l->n = 0;
    l->full = false;
    if (f == CST_LOG_JSON)
        (void)snprintf(head, sizeof(head), "{\"time\":\"%s\",\"level\":\"%s\"", ts, level);
    else
        (void)snprintf(head, sizeof(head), "%s %-5s", ts, level);
    (void)puts_(l, head);
}

static void finish(line *l, cst_log_format f)
{
    if (f == CST_LOG_JSON)
        close_with(l, '}');
    close_with(l, '\n');
    /* One write: lines of concurrent threads never interleave. A failed log write has nowhere
     * to be reported. */
    ssize_t w = write(STDERR_FILENO, l->b, l->n);
    (void)w;
}

void cst_log_event(const char *level, const char *msg)
{
    cst_log_format f = atomic_load(&format);
    line l;
    start(&l, f, level);
    if (f == CST_LOG_JSON) {
        field(&l, f, "msg", msg, true);
    } else if (puts_(&l, " ")) {
        put_text(&l, msg);
    }
    finish(&l, f);
}

void cst_log_request_line(const cst_log_request *r)
{
    cst_log_format f = atomic_load(&format);
    char status[16], duration[32];
    (void)snprintf(status, sizeof(status), "%d", r->status);
    (void)snprintf(duration, sizeof(duration), "%.6f", (double)r->duration_us / 1e6);
    line l;
    start(&l, f, "info");
    field(&l, f, "event", "request", true);
    field(&l, f, "request_id", r->request_id, true);
    field(&l, f, "method", r->method, true);
    field(&l, f, "route", r->route, true);
    field(&l, f, "status", status, false);
    field(&l, f, "duration_seconds", duration, false);
    field(&l, f, "principal", r->principal, true);
    if (r->error[0])
        field(&l, f, "error", r->error, true);
    finish(&l, f);
}
