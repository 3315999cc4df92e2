/* log.h: the server log (issue 19): one line per event, JSON (the default) or text, written to
 * standard error, which `log.file` replaces (serve.c; SIGHUP reopens it). Every line is
 * one write(2), so that lines from many threads never interleave. A line never carries a
 * secret, a record key, a query string or a value: request lines name the route pattern. */
#ifndef CST_LOG_H
#define CST_LOG_H

#include <stdint.h>

typedef enum cst_log_format { CST_LOG_JSON, CST_LOG_TEXT } cst_log_format;

/* log.format: "json" or "text" (anything else: json). Set once at start-up. */
void cst_log_set_format(const char *name);

/* One event line: level ("info", "warn", "error") and a message. */
void cst_log_event(const char *level, const char *msg);

/* One request's line. Strings may be empty, never NULL. */
typedef struct cst_log_request {
    const char *request_id;
    const char *method; /* the route's method ("" for a request that matched none) */
    const char *route;  /* the route pattern, never the path */
    int status;
    int64_t duration_us;
    const char *principal; /* the authenticated principal's id ("" anonymous) */
    const char *error;     /* the API error code ("" for none) */
} cst_log_request;
void cst_log_request_line(const cst_log_request *r);

#endif
