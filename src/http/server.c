/* server.c: the libmicrohttpd adapter. It reads requests into cst_request, enforces the
 * header and body limits, calls the application hooks and sends responses with the security
 * headers every response carries (ENC-3). Under abuse (issue 12) it also bounds connections
 * (per address and in total), gives each connection a deadline for its TLS handshake and
 * request headers, holds request bodies within a node-wide budget, stops reading a body the
 * moment it is refused, refuses ambiguous framing, and runs slow handlers (password hashing,
 * IAM-2) on a bounded worker pool so that the request threads keep serving everyone else.
 * Every other handler runs on the request pool (issue 14), off the polling threads. */
#include "util/json.h"
#include "http/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/metrics.h"
#include "util/util.h"

#define REAP_INTERVAL_MS 100
#define BODY_STEP (64 * 1024) /* chunked bodies reserve the budget in steps of this */
#define BUSY_RETRY_SECONDS 1
#define WORKER_NICE 10
/* A refused upload's connection lingers: its send side is shut (the client reads the answer
 * and EOF) while what the client already sent is drained, briefly and up to a cap, instead of
 * the reset that closing a socket with unread data sends, which makes clients fail with a
 * send error before they read the answer. */
#define LINGER_MAX 16
#define LINGER_MS 2000
#define LINGER_BYTES (8 * 1024 * 1024)
#define LINGER_SLICE (256 * 1024) /* per connection per reaper tick (100 ms) */

/* One open connection, for the header deadline: the reaper shuts down connections that are
 * still awaiting a request's headers (or their TLS handshake) past their deadline. */
typedef struct conn_rec {
    struct conn_rec *prev, *next;
    int fd;
    int64_t deadline_us;
    bool awaiting;
    bool shut;
    bool linger; /* a refused upload: linger when it closes */
} conn_rec;

typedef struct lingerer {
    int fd;
    int64_t until_us;
    size_t drained;
} lingerer;

/* A request to run on the worker pool, and the pool itself. */
typedef struct job {
    struct MHD_Connection *conn;
    struct areq *a;
} job;

typedef struct pool {
    struct cst_server *srv;
    const char *what; /* for messages */
    int nice;         /* the workers' CPU priority (Linux: per thread) */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t *threads;
    int nthreads;
    job *ring;
    int cap, head, count;
    bool stopping;
} pool;

/* Rate-limited warnings: at most one line a second per kind, with what was held back. */
typedef struct log_gate {
    atomic_llong last_us;
    atomic_long held;
} log_gate;

struct cst_server {
    struct MHD_Daemon *d;
    cst_server_hooks hooks;
    cst_server_opts opts;
    char *cert_pem, *key_pem, *priorities;
    /* header deadline */
    pthread_mutex_t conns_lock;
    pthread_cond_t reaper_wake;
    conn_rec *conns;
    pthread_t reaper;
    bool reaper_running, reaper_stop;
    pthread_mutex_t linger_lock; /* after conns_lock when both are held */
    lingerer linger[LINGER_MAX];
    int nlinger;
    /* bodies in flight */
    atomic_size_t inflight;
    pool work; /* slow handlers (password hashing), at lower priority */
    pool reqs; /* every other handler, so that many requests wait on one flush at once */
    log_gate refused_log, reaped_log, budget_log, busy_log, mhd_log;
};

typedef enum offload_state { OFF_NONE, OFF_QUEUED, OFF_DONE } offload_state;

/* The adapter's per-request state; hooks see only req (the first member). */
typedef struct areq {
    cst_request req;
    size_t target_len; /* the request target as the URI callback saw it (up to a NUL) */
    bool started;
    bool close_after; /* answered with Connection: close (framing errors) */
    size_t reserved;  /* bytes of the in-flight body budget this request holds */
    offload_state off;
} areq;

static void gate_warn(log_gate *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void gate_warn(log_gate *g, const char *fmt, ...)
{
    int64_t now = cst_now_us();
    long long last = atomic_load(&g->last_us);
    if (now - last < 1000000 || !atomic_compare_exchange_strong(&g->last_us, &last, now)) {
        atomic_fetch_add(&g->held, 1);
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    long held = atomic_exchange(&g->held, 0);
    if (held > 0)
        cst_warn("%s (and %ld more like it in the last second)", msg, held);
    else
        cst_warn("%s", msg);
}

/* Paths reach the router still percent-encoded so that an encoded '/' inside a record key is
 * not taken for a separator. Query values are decoded by cst_req_query. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

const char *cst_req_header(cst_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct join_ctx {
    const char *name;
    char *out;
    size_t n, len;
    bool overflow;
};

static enum MHD_Result join_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct join_ctx *j = cls;
    if (strcasecmp(key, j->name) != 0)
        return MHD_YES;
    const char *sep = j->len ? ", " : "";
    size_t add = strlen(sep) + (value ? strlen(value) : 0);
    if (j->len + add >= j->n) {
        j->overflow = true;
        return MHD_NO;
    }
    (void)snprintf(j->out + j->len, j->n - j->len, "%s%s", sep, value ? value : "");
    j->len += add;
    return MHD_YES;
}

cst_err cst_req_header_join(cst_request *req, const char *name, char *out, size_t n, bool *present)
{
    struct join_ctx j = {name, out, n, 0, false};
    out[0] = '\0';
    *present = false;
    /* libmicrohttpd keeps header lines in arrival order */
    (void)MHD_get_connection_values(req->conn, MHD_HEADER_KIND, join_one, &j);
    ENSURE(!j.overflow, CST_ERR_INVALID, "the %s header lines are too long", name);
    *present = cst_req_header(req, name) != NULL;
    return CST_OK;
}

cst_err cst_req_query(cst_request *req, const char *name, char *out, size_t n, bool *present)
{
    const char *raw = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
    *present = raw != NULL;
    if (!raw) {
        out[0] = '\0';
        return CST_OK;
    }
    size_t len = strlen(raw), got;
    ENSURE(len < n, CST_ERR_INVALID, "query parameter %s is too long", name);
    TRY(cst_percent_decode(raw, len, out, &got));
    ENSURE(strlen(out) == got, CST_ERR_INVALID, "query parameter %s contains NUL", name);
    return CST_OK;
}

cst_err cst_resp_json(cst_request *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    ENSURE(text != NULL, CST_ERR_INTERNAL, "cannot encode the response");
    req->resp.len = 0;
    cst_err e = cst_buf_append(&req->resp, text, strlen(text));
    cst_json_free_text(text);
    TRY(e);
    req->status = status;
    TRY(cst_copy(req->resp_type, sizeof(req->resp_type), "application/json"));
    return CST_OK;
}

cst_err cst_resp_bytes(cst_request *req, int status, const char *type, const void *p, size_t n)
{
    req->resp.len = 0;
    TRY(cst_buf_append(&req->resp, p, n));
    req->status = status;
    TRY(cst_fmt(req->resp_type, sizeof(req->resp_type), "%s", type));
    return CST_OK;
}

void cst_resp_empty(cst_request *req, int status)
{
    req->resp.len = 0;
    req->status = status;
    req->resp_type[0] = '\0';
}

void cst_resp_stream(cst_request *req, const char *type,
                     cst_err (*fill)(void *ctx, cst_buf *out, bool *done), void (*free_ctx)(void *),
                     void *ctx)
{
    req->resp.len = 0;
    req->status = 200;
    (void)snprintf(req->resp_type, sizeof(req->resp_type), "%s", type);
    req->stream_fill = fill;
    req->stream_free = free_ctx;
    req->stream_ctx = ctx;
}

static void stream_drop(cst_request *req)
{
    if (req->stream_free)
        req->stream_free(req->stream_ctx);
    req->stream_fill = NULL;
    req->stream_free = NULL;
    req->stream_ctx = NULL;
}

void cst_resp_header(cst_request *req, const char *name, const char *value)
{
    if (req->resp_header_count >= CST_MAX_RESP_HEADERS)
        return;
    int i = req->resp_header_count++;
    (void)snprintf(req->resp_headers[i].name, sizeof(req->resp_headers[i].name), "%s", name);
    (void)snprintf(req->resp_headers[i].value, sizeof(req->resp_headers[i].value), "%s", value);
}

void cst_resp_error(cst_request *req, cst_err e)
{
    json_t *body = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", cst_err_code(e), "message",
                             cst_err_message(e), "request_id", req->request_id);
    req->resp_header_count = 0;
    req->error = e;
    if (!body || cst_resp_json(req, cst_err_status(e), body) != CST_OK) {
        req->status = 500;
        req->resp.len = 0;
    }
    const char *allowed = strstr(cst_err_message(e), "allowed: ");
    if (e == CST_ERR_METHOD_NOT_ALLOWED && allowed)
        cst_resp_header(req, "Allow", allowed + 9);
    if (req->retry_after > 0) {
        char v[16];
        (void)snprintf(v, sizeof(v), "%d", req->retry_after);
        cst_resp_header(req, "Retry-After", v);
    }
}

/* A streamed body in flight: the producer and the part not yet handed to libmicrohttpd. */
typedef struct stream {
    cst_err (*fill)(void *ctx, cst_buf *out, bool *done);
    void (*free_ctx)(void *);
    void *ctx;
    cst_buf part;
    size_t off;
    bool done;
} stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream *s = cls;
    while (s->off == s->part.len) {
        if (s->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (s->part.data)
            sodium_memzero(s->part.data, s->part.len);
        s->part.len = 0;
        s->off = 0;
        cst_err_clear();
        if (s->fill(s->ctx, &s->part, &s->done) != CST_OK) {
            cst_error("streamed response cut short: %s", cst_err_message(CST_ERR_INTERNAL));
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = s->part.len - s->off < max ? s->part.len - s->off : max;
    memcpy(buf, s->part.data + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream *s = cls;
    if (s->free_ctx)
        s->free_ctx(s->ctx);
    cst_buf_wipe_free(&s->part);
    free(s);
}

/* Response memory is wiped before it is freed: it may hold decrypted record values. */
static void free_wiped(void *cls)
{
    cst_buf *b = cls;
    cst_buf_wipe_free(b);
    free(b);
}

static void add_common_headers(cst_server *srv, const areq *a, struct MHD_Response *r)
{
    const cst_request *req = &a->req;
    if (req->resp_type[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, req->resp_type);
    MHD_add_response_header(r, "X-Request-Id", req->request_id);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (srv->opts.tls)
        MHD_add_response_header(r, "Strict-Transport-Security",
                                "max-age=63072000; includeSubDomains");
    if (a->close_after)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    for (int i = 0; i < req->resp_header_count; i++)
        MHD_add_response_header(r, req->resp_headers[i].name, req->resp_headers[i].value);
}

static enum MHD_Result send_response(cst_server *srv, struct MHD_Connection *conn, areq *a)
{
    cst_request *req = &a->req;
    if (srv->hooks.on_respond)
        srv->hooks.on_respond(srv->hooks.app, req);
    struct MHD_Response *r = NULL;
    if (req->stream_fill && req->status == 200) {
        stream *s = calloc(1, sizeof(*s));
        if (!s) {
            stream_drop(req);
            return MHD_NO;
        }
        s->fill = req->stream_fill;
        s->free_ctx = req->stream_free;
        s->ctx = req->stream_ctx;
        cst_buf_init(&s->part, SIZE_MAX);
        req->stream_fill = NULL;
        req->stream_free = NULL;
        req->stream_ctx = NULL;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, s,
                                              stream_free);
        if (!r) {
            stream_free(s);
            return MHD_NO;
        }
    } else {
        stream_drop(req); /* an error replaced the stream */
        cst_buf *owned = malloc(sizeof(*owned));
        if (!owned)
            return MHD_NO;
        *owned = req->resp;
        cst_buf_init(&req->resp, req->resp.cap);
        r = MHD_create_response_from_buffer_with_free_callback_cls(
            owned->len, owned->data ? (void *)owned->data : (void *)"", free_wiped, owned);
        if (!r) {
            free_wiped(owned);
            return MHD_NO;
        }
    }
    add_common_headers(srv, a, r);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)req->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- answering in the middle of an upload ----------------------------------------------------
 * libmicrohttpd 0.9.75 queues a response only once the headers are in (before the body) or
 * once the whole request is: MHD_queue_response refuses in between, and an upload it is not
 * told to stop is read to its end (issue 12: 9.6 GB on one connection). So a body refused
 * part-way (past the route's limit, a sink's error, the in-flight budget) is answered here:
 * the response is written straight to the connection (through its TLS session when there is
 * one), and the access handler then returns MHD_NO, which makes libmicrohttpd close the
 * connection at once without reading another byte. This runs on the connection's own thread,
 * between libmicrohttpd's reads, so nothing else uses the TLS session meanwhile. */

static bool write_all(struct MHD_Connection *conn, bool tls, const uint8_t *p, size_t n)
{
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ti =
        tls ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION) : NULL;
    if (!fi || (tls && (!ti || !ti->tls_session)))
        return false;
    int fd = fi->connect_fd;
    /* Bounded: an answer of a few hundred bytes fits an idle send buffer at once. */
    for (int tries = 0; n > 0 && tries < 20; tries++) {
        ssize_t w;
        if (tls) {
            w = gnutls_record_send((gnutls_session_t)ti->tls_session, p, n);
            if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
                w = -2;
            else if (w < 0)
                return false;
        } else {
            w = send(fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                w = -2;
            else if (w < 0)
                return false;
        }
        if (w == -2) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            (void)poll(&pfd, 1, 10);
            continue;
        }
        p += w;
        n -= (size_t)w;
    }
    return n == 0;
}

static void conn_linger(cst_server *srv, struct MHD_Connection *conn);

static enum MHD_Result answer_and_close(cst_server *srv, struct MHD_Connection *conn, areq *a,
                                        cst_err e)
{
    cst_request *req = &a->req;
    conn_linger(srv, conn);
    cst_resp_error(req, e);
    if (srv->hooks.on_respond)
        srv->hooks.on_respond(srv->hooks.app, req);
    cst_buf out;
    cst_buf_init(&out, 64 * 1024);
    char head[2048];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %zu\r\n"
                     "X-Request-Id: %s\r\nX-Content-Type-Options: nosniff\r\n"
                     "Cache-Control: no-store\r\n%s%s%s%s",
                     req->status, MHD_get_reason_phrase_for((unsigned)req->status), req->resp.len,
                     req->request_id,
                     srv->opts.tls ? "Strict-Transport-Security: max-age=63072000; "
                                     "includeSubDomains\r\n"
                                   : "",
                     req->resp_type[0] ? "Content-Type: " : "", req->resp_type,
                     req->resp_type[0] ? "\r\n" : "");
    bool ok = n > 0 && (size_t)n < sizeof(head) && cst_buf_append(&out, head, (size_t)n) == CST_OK;
    for (int i = 0; ok && i < req->resp_header_count; i++) {
        n = snprintf(head, sizeof(head), "%s: %s\r\n", req->resp_headers[i].name,
                     req->resp_headers[i].value);
        ok = n > 0 && (size_t)n < sizeof(head) && cst_buf_append(&out, head, (size_t)n) == CST_OK;
    }
    ok = ok && cst_buf_append(&out, "\r\n", 2) == CST_OK &&
         cst_buf_append(&out, req->resp.data ? (const void *)req->resp.data : "", req->resp.len) ==
             CST_OK;
    if (ok)
        (void)write_all(conn, srv->opts.tls, out.data, out.len);
    cst_buf_wipe_free(&out);
    return MHD_NO; /* libmicrohttpd closes the connection without reading further */
}

/* ---- request framing (issue 12: smuggling) -------------------------------------------------- */

typedef struct framing {
    int content_lengths;
    int transfer_encodings;
    int bad_names;
} framing;

/* RFC 9110 token: a field name is one, nothing else ("Content-Length :" is not). */
static bool is_token(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    return true;
}

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    framing *f = cls;
    /* libmicrohttpd keeps a name with whitespace before its colon (or a folded line) as a
     * header of its own: "Content-Length : 46" frames no body here, while a proxy that trims
     * the name forwards 46 bytes of body, which would then be read as the next request. */
    if (!is_token(key))
        f->bad_names++;
    if (strcasecmp(key, "Content-Length") == 0)
        f->content_lengths++;
    else if (strcasecmp(key, "Transfer-Encoding") == 0)
        f->transfer_encodings++;
    return MHD_YES;
}

/* A request whose framing two parsers could read differently is refused, and its connection
 * closed: the bytes after it cannot be trusted to start the next request. */
static cst_err check_framing(struct MHD_Connection *conn, const areq *a, const char *url,
                             const char *version)
{
    /* libmicrohttpd hands the target over as a C string, so a NUL inside it would cut it
     * short ("/v1/sys/health\0/x" served health). The URI callback measured the target up to
     * its first NUL; the version string starts right after the target's real end. */
    bool version_follows = version > url && (size_t)(version - url) <= a->target_len + 1 + 65536;
    ENSURE(version_follows && (size_t)(version - url) == a->target_len + 1, CST_ERR_INVALID,
           "the request target contains a NUL byte");
    framing f = {0, 0, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_framing, &f);
    ENSURE(f.bad_names == 0, CST_ERR_INVALID,
           "a malformed header line (whitespace before the colon, or a folded line)");
    ENSURE(f.content_lengths <= 1, CST_ERR_INVALID, "more than one Content-Length header");
    ENSURE(f.transfer_encodings <= 1, CST_ERR_INVALID, "more than one Transfer-Encoding header");
    ENSURE(!(f.content_lengths && f.transfer_encodings), CST_ERR_INVALID,
           "Content-Length and Transfer-Encoding together");
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
    ENSURE(!te || strcasecmp(te, "chunked") == 0, CST_ERR_INVALID,
           "the only Transfer-Encoding accepted is chunked");
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    bool digits = cl && cl[0] != '\0';
    for (const char *c = cl; digits && *c; c++)
        digits = *c >= '0' && *c <= '9';
    ENSURE(!cl || digits, CST_ERR_INVALID, "malformed Content-Length");
    return CST_OK;
}

/* ---- bodies in flight (issue 12) ------------------------------------------------------------ */

static bool budget_take(cst_server *srv, size_t n)
{
    size_t limit = srv->opts.max_inflight_body_bytes;
    size_t cur = atomic_load(&srv->inflight);
    do {
        if (limit && (n > limit || cur > limit - n))
            return false;
    } while (!atomic_compare_exchange_weak(&srv->inflight, &cur, cur + n));
    return true;
}

static void budget_release(cst_server *srv, areq *a)
{
    if (a->reserved)
        atomic_fetch_sub(&srv->inflight, a->reserved);
    a->reserved = 0;
}

/* Makes the request's reservation cover want bytes of body: exactly for a declared length, in
 * steps of BODY_STEP (never past the route's limit) for a chunked body as it grows. */
static bool budget_cover(cst_server *srv, areq *a, size_t want, bool step)
{
    if (want <= a->reserved)
        return true;
    size_t more = want - a->reserved;
    if (step) {
        more = (more + BODY_STEP - 1) / BODY_STEP * BODY_STEP;
        if (a->req.body_limit > a->reserved && more > a->req.body_limit - a->reserved)
            more = want - a->reserved;
    }
    if (!budget_take(srv, more))
        return false;
    a->reserved += more;
    return true;
}

static cst_err refuse_over_budget(cst_server *srv, cst_request *req, size_t want)
{
    gate_warn(&srv->budget_log,
              "http: refused a %zu-byte request body from %s: %zu bytes of bodies already in "
              "flight (http.max_inflight_body_bytes = %zu)",
              want, req->source_ip, atomic_load(&srv->inflight), srv->opts.max_inflight_body_bytes);
    req->retry_after = BUSY_RETRY_SECONDS;
    return cst_fail(CST_ERR_UNAVAILABLE,
                    "the node holds as many request bodies as it may; retry shortly");
}

/* ---- the worker pools ------------------------------------------------------------------------
 * Handlers run on workers, never on libmicrohttpd's polling threads: the connection is
 * suspended while its request waits for a worker and runs, and resumed with its answer. The
 * request pool (http.workers) lets many requests wait on one audit flush or commit at once
 * (group commit) while the polling threads keep reading other connections; the hashing pool
 * (auth.hash_workers, IAM-2) runs password hashing at a lower priority, so that a flood of
 * logins slows logins, not everyone. */

static void run_job(cst_server *srv, job j)
{
    cst_request *req = &j.a->req;
    cst_err_clear();
    cst_err e = srv->hooks.on_complete(srv->hooks.app, req);
    if (e != CST_OK)
        cst_resp_error(req, e); /* here: the message is this thread's */
    j.a->off = OFF_DONE;
    /* Last touch: once resumed, the request thread may answer and free the request. */
    MHD_resume_connection(j.conn);
}

static void *worker_main(void *arg)
{
    pool *p = arg;
    /* Under contention a nice-10 thread gets about a tenth of a nice-0 one's share. */
    if (p->nice)
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), p->nice);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->count == 0 && !p->stopping)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->count == 0) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        job j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        pthread_mutex_unlock(&p->lock);
        run_job(p->srv, j);
    }
}

/* Suspends the connection and queues its request; false when the queue is full (or the pool
 * has no workers). */
static bool pool_submit(pool *p, struct MHD_Connection *conn, areq *a)
{
    pthread_mutex_lock(&p->lock);
    bool room = p->nthreads > 0 && !p->stopping && p->count < p->cap;
    if (room) {
        /* Suspended before any worker can see it, so its resume cannot come first. */
        a->off = OFF_QUEUED;
        MHD_suspend_connection(conn);
        p->ring[(p->head + p->count) % p->cap] = (job){conn, a};
        p->count++;
        pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
    return room;
}

static cst_err pool_start(cst_server *srv, pool *p, const char *what, int n, int cap, int nice)
{
    p->srv = srv;
    p->what = what;
    p->nice = nice;
    ENSURE(pthread_mutex_init(&p->lock, NULL) == 0 && pthread_cond_init(&p->wake, NULL) == 0,
           CST_ERR_INTERNAL, "cannot create the %s", what);
    p->cap = cap > 0 ? cap : 1;
    p->ring = calloc((size_t)p->cap, sizeof(*p->ring));
    p->threads = calloc((size_t)(n > 0 ? n : 1), sizeof(*p->threads));
    ENSURE(p->ring && p->threads, CST_ERR_INTERNAL, "out of memory");
    for (; p->nthreads < n; p->nthreads++)
        ENSURE(pthread_create(&p->threads[p->nthreads], NULL, worker_main, p) == 0,
               CST_ERR_INTERNAL, "cannot start the %s", what);
    return CST_OK;
}

/* Requests still queued are answered 503 (the node is stopping); running ones finish. Every
 * suspended connection is resumed: libmicrohttpd must not be stopped with one. */
static void pool_stop(pool *p)
{
    if (!p->ring)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    /* Nobody else reads the ring once stopping is set and count is 0. */
    int nleft = p->count, head = p->head;
    p->count = 0;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < nleft; i++) {
        job j = p->ring[(head + i) % p->cap];
        cst_request *req = &j.a->req;
        req->retry_after = BUSY_RETRY_SECONDS;
        cst_resp_error(req, cst_fail(CST_ERR_UNAVAILABLE, "the node is stopping"));
        j.a->off = OFF_DONE;
        MHD_resume_connection(j.conn);
    }
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p->ring);
    p->threads = NULL;
    p->ring = NULL;
    p->nthreads = 0;
}

/* ---- the request --------------------------------------------------------------------------- */

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    size_t *total = cls;
    *total += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

static void client_address(struct MHD_Connection *conn, char out[64])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    (void)snprintf(out, 64, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, 64);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, 64);
}

/* The announced body size: *chunked for a chunked body (size unknown); 0 for none. */
static uint64_t announced_body(struct MHD_Connection *conn, bool *chunked)
{
    *chunked = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding") != NULL;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    return cl ? strtoull(cl, NULL, 10) : 0; /* digits only: check_framing */
}

static conn_rec *conn_record(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The connection's deadline: armed while it awaits a request's headers, off while a request
 * is in progress. */
static void conn_arm(cst_server *srv, struct MHD_Connection *conn, bool awaiting)
{
    if (srv->opts.header_timeout <= 0)
        return;
    pthread_mutex_lock(&srv->conns_lock);
    conn_rec *r = conn_record(conn);
    if (r) {
        r->awaiting = awaiting;
        r->deadline_us = cst_now_us() + (int64_t)srv->opts.header_timeout * 1000000;
    }
    pthread_mutex_unlock(&srv->conns_lock);
}

static void conn_linger(cst_server *srv, struct MHD_Connection *conn)
{
    pthread_mutex_lock(&srv->conns_lock);
    conn_rec *r = conn_record(conn);
    if (r)
        r->linger = true;
    pthread_mutex_unlock(&srv->conns_lock);
}

static cst_err start_request(cst_server *srv, struct MHD_Connection *conn, areq *a, const char *url,
                             const char *version)
{
    cst_request *req = &a->req;
    cst_err e = check_framing(conn, a, url, version);
    if (e != CST_OK) {
        a->close_after = true;
        return e;
    }
    size_t header_bytes = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_size, &header_bytes);
    ENSURE(header_bytes <= srv->opts.max_header_bytes, CST_ERR_HEADERS_TOO_LARGE,
           "request headers exceed %zu bytes", srv->opts.max_header_bytes);
    TRY(srv->hooks.on_headers(srv->hooks.app, req, url));
    bool chunked;
    uint64_t len = announced_body(conn, &chunked);
    /* Spooled bodies (req->body_sink) are not held in memory: the sink bounds them. */
    if (!req->body_sink && len > 0 && !budget_cover(srv, a, (size_t)len, false))
        return refuse_over_budget(srv, req, (size_t)len);
    return CST_OK;
}

static enum MHD_Result first_call(cst_server *srv, struct MHD_Connection *conn, areq *a,
                                  const char *url, const char *method, const char *version)
{
    cst_request *req = &a->req;
    a->started = true;
    conn_arm(srv, conn, false);
    req->conn = conn;
    req->method = method;
    req->started_us = cst_now_us();
    uint8_t rid[16];
    randombytes_buf(rid, sizeof(rid));
    cst_hex(rid, sizeof(rid), req->request_id);
    client_address(conn, req->source_ip);
    cst_err_clear();
    cst_err e = start_request(srv, conn, a, url, version);
    bool chunked;
    uint64_t len = announced_body(conn, &chunked);
    if (e != CST_OK && (len > 0 || chunked || a->close_after)) {
        /* Answered before the body is read; libmicrohttpd closes the connection. */
        conn_linger(srv, conn);
        cst_resp_error(req, e);
        return send_response(srv, conn, a);
    }
    /* Without a body, the answer waits for the next call so the connection stays open
     * (queueing on the first call would close it). */
    req->early = e;
    if (e != CST_OK)
        (void)snprintf(req->early_msg, sizeof(req->early_msg), "%s", cst_err_message(e));
    req->body.cap = req->body_limit;
    return MHD_YES;
}

static enum MHD_Result upload(cst_server *srv, struct MHD_Connection *conn, areq *a,
                              const char *data, size_t n)
{
    cst_request *req = &a->req;
    cst_err_clear();
    cst_err e = CST_OK;
    if (req->early != CST_OK) {
        e = cst_fail(req->early, "%s", req->early_msg);
    } else if (req->body_sink) {
        /* A spooled body (import): the sink enforces the route's limit; its first error
         * answers the request at once. */
        e = req->body_sink(req->body_sink_ctx, data, n);
        req->sink_err = e;
    } else if (req->body.len + n > req->body_limit || req->body.len + n < n) {
        /* Past the route's limit (a chunked body: a declared length was checked up front). */
        e = cst_fail(CST_ERR_TOO_LARGE, "the request body exceeds %zu bytes", req->body_limit);
    } else if (!budget_cover(srv, a, req->body.len + n, true)) {
        e = refuse_over_budget(srv, req, req->body.len + n);
    } else {
        e = cst_buf_append(&req->body, data, n);
    }
    if (e != CST_OK)
        return answer_and_close(srv, conn, a, e);
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    cst_server *srv = cls;
    areq *a = *con_cls;
    if (!a)
        return MHD_NO; /* the URI callback could not allocate: close */
    cst_request *req = &a->req;
    if (!a->started)
        return first_call(srv, conn, a, url, method, version);
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return upload(srv, conn, a, upload_data, n);
    }
    if (a->off == OFF_DONE) /* back from the worker pool */
        return send_response(srv, conn, a);
    if (a->off == OFF_QUEUED)
        return MHD_YES; /* not expected while suspended; wait for the resume */
    cst_err_clear();
    cst_err e;
    if (req->early != CST_OK)
        e = cst_fail(req->early, "%s", req->early_msg);
    else if (req->sink_err != CST_OK)
        e = cst_fail(req->sink_err, "%s", req->early_msg);
    else if (req->offload && pool_submit(&srv->work, conn, a))
        return MHD_YES; /* a worker runs on_complete, then resumes the connection */
    else if (req->offload) {
        gate_warn(&srv->busy_log,
                  "http: refused a password-hashing request from %s: %d already waiting "
                  "(auth.hash_queue)",
                  req->source_ip, srv->opts.offload_queue);
        req->retry_after = BUSY_RETRY_SECONDS;
        e = cst_fail(CST_ERR_UNAVAILABLE, "the node is busy; retry shortly");
    } else if (pool_submit(&srv->reqs, conn, a))
        return MHD_YES;
    else /* no request workers (http.workers < 0), or as many queued as connections */
        e = srv->hooks.on_complete(srv->hooks.app, req);
    if (e != CST_OK)
        cst_resp_error(req, e);
    return send_response(srv, conn, a);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    cst_server *srv = cls;
    areq *a = *con_cls;
    /* The next request on a kept-alive connection gets header_timeout to arrive. */
    conn_arm(srv, conn, true);
    if (!a)
        return;
    cst_request *req = &a->req;
    budget_release(srv, a);
    stream_drop(req);
    if (req->body_sink_free)
        req->body_sink_free(req->body_sink_ctx);
    cst_buf_wipe_free(&req->body);
    cst_buf_wipe_free(&req->resp);
    sodium_memzero(req->params, sizeof(req->params));
    json_decref(req->audit_detail);
    json_decref(req->audit_info);
    free(a);
    *con_cls = NULL;
}

/* The first per-request hook: libmicrohttpd calls it with the request target before it splits
 * off the query, and its result becomes the request's context. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    areq *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->target_len = strlen(uri);
    cst_buf_init(&a->req.body, 0);
    cst_buf_init(&a->req.resp, SIZE_MAX);
    return a;
}

/* ---- connections: the header deadline ------------------------------------------------------- */

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    cst_server *srv = cls;
    cst_metrics_connection(code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1); /* DET-2 */
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_rec *r = calloc(1, sizeof(*r));
        if (!r || !ci) {
            free(r);
            return; /* no deadline for this one; libmicrohttpd's idle timeout still applies */
        }
        r->fd = ci->connect_fd;
        r->awaiting = true;
        r->deadline_us = cst_now_us() + (int64_t)srv->opts.header_timeout * 1000000;
        pthread_mutex_lock(&srv->conns_lock);
        r->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = r;
        srv->conns = r;
        *socket_context = r;
        pthread_mutex_unlock(&srv->conns_lock);
        return;
    }
    /* CLOSED comes before libmicrohttpd closes the socket: once the record is gone under the
     * lock, the reaper cannot act on a reused descriptor. */
    pthread_mutex_lock(&srv->conns_lock);
    conn_rec *r = *socket_context;
    if (r && r->linger) {
        pthread_mutex_lock(&srv->linger_lock);
        /* Our duplicate keeps the socket open when libmicrohttpd closes its descriptor. */
        int fd = srv->nlinger < LINGER_MAX ? dup(r->fd) : -1;
        if (fd >= 0) {
            (void)shutdown(fd, SHUT_WR);
            srv->linger[srv->nlinger++] =
                (lingerer){fd, cst_now_us() + (int64_t)LINGER_MS * 1000, 0};
        }
        pthread_mutex_unlock(&srv->linger_lock);
    }
    if (r) {
        if (r->prev)
            r->prev->next = r->next;
        else
            srv->conns = r->next;
        if (r->next)
            r->next->prev = r->prev;
        free(r);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&srv->conns_lock);
}

/* Reads and discards what lingering connections still send, a slice per tick (a client whose
 * sends block meanwhile reads its answer), and closes them at EOF, the byte cap or the time
 * limit. */
static void linger_drain(cst_server *srv, int64_t now)
{
    pthread_mutex_lock(&srv->linger_lock);
    for (int i = 0; i < srv->nlinger;) {
        lingerer *l = &srv->linger[i];
        char sink[16384];
        ssize_t got = 1;
        size_t slice = 0;
        while (l->drained < LINGER_BYTES && slice < LINGER_SLICE &&
               (got = recv(l->fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0) {
            l->drained += (size_t)got;
            slice += (size_t)got;
        }
        bool done = got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
                    l->drained >= LINGER_BYTES || now >= l->until_us;
        if (done) {
            close(l->fd);
            *l = srv->linger[--srv->nlinger];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&srv->linger_lock);
}

/* Shuts down connections past their deadline: libmicrohttpd then reads EOF and closes them
 * itself (a slow-header "dribbler" defeats its idle timeout, which every byte restarts). */
static void *reaper_main(void *arg)
{
    cst_server *srv = arg;
    pthread_mutex_lock(&srv->conns_lock);
    while (!srv->reaper_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += REAP_INTERVAL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&srv->reaper_wake, &srv->conns_lock, &ts);
        int64_t now = cst_now_us();
        int reaped = 0;
        for (conn_rec *r = srv->conns; r; r = r->next) {
            if (srv->opts.header_timeout > 0 && r->awaiting && !r->shut && now >= r->deadline_us) {
                (void)shutdown(r->fd, SHUT_RDWR);
                r->shut = true;
                reaped++;
            }
        }
        /* Draining happens outside the connection table's lock (the request threads take it
         * for every connection that opens or closes). */
        pthread_mutex_unlock(&srv->conns_lock);
        linger_drain(srv, now);
        if (reaped)
            gate_warn(&srv->reaped_log,
                      "http: closed %d connection(s) that sent no complete request headers "
                      "within %d s (http.header_timeout)",
                      reaped, srv->opts.header_timeout);
        pthread_mutex_lock(&srv->conns_lock);
    }
    pthread_mutex_unlock(&srv->conns_lock);
    return NULL;
}

/* libmicrohttpd's own messages; refusals at the connection limits are the ones that matter
 * (it names neither the limit nor the address), logged at a bounded rate. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    cst_server *srv = cls;
    char msg[256];
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    if (strstr(msg, "connection limit"))
        gate_warn(&srv->refused_log,
                  "http: refused a connection: at the limit (http.max_connections_per_ip = %d "
                  "per address, http.max_connections = %d in all)",
                  srv->opts.max_connections_per_ip, srv->opts.max_connections);
}
#pragma GCC diagnostic pop

/* Whether ss is taken by another listener: libmicrohttpd's start says neither that nor whether
 * the TLS settings were bad, so a bind of our own (with SO_REUSEADDR, as libmicrohttpd's) asks. */
static bool port_in_use(const struct sockaddr_storage *ss)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t len =
        ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    bool in_use = bind(fd, (const struct sockaddr *)ss, len) != 0 && errno == EADDRINUSE;
    close(fd);
    return in_use;
}

cst_err cst_server_start(const cst_server_opts *opts, const cst_server_hooks *hooks,
                         cst_server **out)
{
    cst_server *srv = calloc(1, sizeof(*srv));
    ENSURE(srv != NULL, CST_ERR_INTERNAL, "out of memory");
    srv->hooks = *hooks;
    srv->opts = *opts;
    atomic_init(&srv->inflight, 0);
    if (pthread_mutex_init(&srv->conns_lock, NULL) != 0 ||
        pthread_mutex_init(&srv->linger_lock, NULL) != 0 ||
        pthread_cond_init(&srv->reaper_wake, NULL) != 0) {
        free(srv);
        return cst_fail(CST_ERR_INTERNAL, "cannot create the connection table");
    }
    int hashers = opts->offload_workers > 0 ? opts->offload_workers : 1;
    /* Each connection has at most one request in flight: as many places as connections. */
    int queue = opts->max_connections > 0 ? opts->max_connections : 4096;
    cst_err e = pool_start(srv, &srv->work, "password-hashing pool", hashers, opts->offload_queue,
                           WORKER_NICE);
    if (e == CST_OK && opts->workers > 0)
        e = pool_start(srv, &srv->reqs, "request pool", opts->workers, queue, 0);
    if (e != CST_OK) {
        cst_server_stop(srv);
        return e;
    }

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (strchr(opts->host, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)opts->port);
        inet_pton(AF_INET6, opts->host, &a6->sin6_addr);
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)opts->port);
        inet_pton(AF_INET, opts->host, &a4->sin_addr);
    }
    /* The connection pool holds the headers; our own check answers 431 as JSON before
     * libmicrohttpd's hard limit (four times ours) is reached. */
    size_t pool_bytes = opts->max_header_bytes * 4 + 16384;
    /* The per-address count lives in the master daemon, so it holds across the thread pool;
     * the total is split between the pool's threads (each stops accepting at its share). */
    unsigned total = opts->max_connections > 0 ? (unsigned)opts->max_connections : 0;
    unsigned per_ip = opts->max_connections_per_ip > 0 ? (unsigned)opts->max_connections_per_ip : 0;
    struct MHD_OptionItem common[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, srv},
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_THREAD_POOL_SIZE, opts->threads, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)pool_bytes, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL},
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, NULL},
        {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)no_unescape, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, srv},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
        {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, srv},
        {total ? MHD_OPTION_CONNECTION_LIMIT : MHD_OPTION_END, total, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    if (opts->tls) {
        flags |= MHD_USE_TLS;
        srv->d = MHD_start_daemon(flags, (uint16_t)opts->port, NULL, NULL, on_access, srv,
                                  MHD_OPTION_ARRAY, common, MHD_OPTION_HTTPS_MEM_CERT,
                                  opts->cert_pem, MHD_OPTION_HTTPS_MEM_KEY, opts->key_pem,
                                  MHD_OPTION_HTTPS_PRIORITIES, opts->priorities, MHD_OPTION_END);
    } else {
        srv->d = MHD_start_daemon(flags, (uint16_t)opts->port, NULL, NULL, on_access, srv,
                                  MHD_OPTION_ARRAY, common, MHD_OPTION_END);
    }
    if (!srv->d) {
        cst_server_stop(srv);
        bool v6 = strchr(opts->host, ':') != NULL;
        if (opts->port != 0 && port_in_use(&ss))
            return cst_fail(CST_ERR_INVALID,
                            "%s%s%s:%d: port in use; choose another with --listen ADDR:PORT or "
                            "[http] listen",
                            v6 ? "[" : "", opts->host, v6 ? "]" : "", opts->port);
        return cst_fail(CST_ERR_INVALID,
                        "cannot listen on %s:%d (bad TLS settings? check tls.cert_file, "
                        "tls.key_file and tls.priorities)",
                        opts->host, opts->port);
    }
    {
        if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0) {
            cst_server_stop(srv);
            return cst_fail(CST_ERR_INTERNAL, "cannot start the header-deadline thread");
        }
        srv->reaper_running = true;
    }
    *out = srv;
    return CST_OK;
}

int cst_server_port(const cst_server *srv)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : srv->opts.port;
}

void cst_server_stop(cst_server *srv)
{
    if (!srv)
        return;
    pool_stop(&srv->work); /* resumes every suspended connection first */
    pool_stop(&srv->reqs);
    if (srv->reaper_running) {
        pthread_mutex_lock(&srv->conns_lock);
        srv->reaper_stop = true;
        pthread_cond_signal(&srv->reaper_wake);
        pthread_mutex_unlock(&srv->conns_lock);
        pthread_join(srv->reaper, NULL);
    }
    for (int i = 0; i < srv->nlinger; i++)
        close(srv->linger[i].fd);
    if (srv->d)
        MHD_stop_daemon(srv->d);
    pthread_mutex_destroy(&srv->conns_lock);
    pthread_mutex_destroy(&srv->linger_lock);
    pthread_cond_destroy(&srv->reaper_wake);
    free(srv);
}
