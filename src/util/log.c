/* log.c: the server log's one writer: JSON or text lines, each a single write(2) to stderr. */
#include "util/log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

#define LINE_MAX_BYTES 2048

static atomic_int format = CST_LOG_JSON;

void cst_log_set_format(const char *name)
{
    atomic_store(&format, name && strcmp(name, "text") == 0 ? CST_LOG_TEXT : CST_LOG_JSON);
}

/* A line under construction: it is cut (never overflowed) at LINE_MAX_BYTES. */
typedef struct line {
    char b[LINE_MAX_BYTES];
    size_t n;
} line;

static void put(line *l, const char *s, size_t len)
{
    size_t room = sizeof(l->b) - 2 - l->n; /* keeps space for "\n\0" */
    if (len > room)
        len = room;
    memcpy(l->b + l->n, s, len);
    l->n += len;
}

static void puts_(line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* A JSON string's contents: quotes, backslashes and control characters escaped. */
static void put_json(line *l, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c < 0x20) {
            (void)snprintf(esc, sizeof(esc), "\\u%04x", c);
            puts_(l, esc);
        } else {
            put(l, s, 1);
        }
    }
}

/* A text value: control characters become spaces, so that one event stays one line. */
static void put_text(line *l, const char *s)
{
    for (; *s; s++)
        put(l, (unsigned char)*s < 0x20 ? " " : s, 1);
}

/* One field: "name":"value" (JSON) or name=value (text), after the first ones. */
static void field(line *l, cst_log_format f, const char *name, const char *value, bool quoted)
{
    if (f == CST_LOG_JSON) {
        puts_(l, ",\"");
        puts_(l, name);
        puts_(l, quoted ? "\":\"" : "\":");
        put_json(l, value);
        if (quoted)
            puts_(l, "\"");
    } else {
        puts_(l, " ");
        puts_(l, name);
        puts_(l, "=");
        put_text(l, value[0] ? value : "-");
    }
}

static void start(line *l, cst_log_format f, const char *level)
{
    char ts[32];
    cst_time_format(cst_now_us(), ts);
    l->n = 0;
    if (f == CST_LOG_JSON) {
        puts_(l, "{\"time\":\"");
        puts_(l, ts);
        puts_(l, "\",\"level\":\"");
        put_json(l, level);
        puts_(l, "\"");
    } else {
        char head[64];
        (void)snprintf(head, sizeof(head), "%s %-5s", ts, level);
        puts_(l, head);
    }
}

static void finish(line *l, cst_log_format f)
{
    if (f == CST_LOG_JSON)
        l->b[l->n++] = '}';
    l->b[l->n++] = '\n';
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
    } else {
        puts_(&l, " ");
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
