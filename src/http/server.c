/* server.c: the libmicrohttpd adapter. It reads requests into cst_request, enforces the
 * header and body limits, calls the application hooks and sends responses with the security
 * headers every response carries (ENC-3). */
#include "http/json.h"
#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

struct cst_server {
    struct MHD_Daemon *d;
    cst_server_hooks hooks;
    cst_server_opts opts;
    char *cert_pem, *key_pem, *priorities;
};

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
    strcpy(req->resp_type, "application/json");
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

static enum MHD_Result send_response(cst_server *srv, struct MHD_Connection *conn, cst_request *req)
{
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
    if (req->resp_type[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, req->resp_type);
    MHD_add_response_header(r, "X-Request-Id", req->request_id);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (srv->opts.tls)
        MHD_add_response_header(r, "Strict-Transport-Security",
                                "max-age=63072000; includeSubDomains");
    for (int i = 0; i < req->resp_header_count; i++)
        MHD_add_response_header(r, req->resp_headers[i].name, req->resp_headers[i].value);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)req->status, r);
    MHD_destroy_response(r);
    return ret;
}

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
    strcpy(out, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, 64);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, 64);
}

/* True when the request announces a body (a non-zero Content-Length, or chunked). */
static bool has_body(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    return (cl && strcmp(cl, "0") != 0) ||
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
}

static cst_err start_request(cst_server *srv, struct MHD_Connection *conn, cst_request *req,
                             const char *url)
{
    size_t header_bytes = 0;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_size, &header_bytes);
    ENSURE(header_bytes <= srv->opts.max_header_bytes, CST_ERR_HEADERS_TOO_LARGE,
           "request headers exceed %zu bytes", srv->opts.max_header_bytes);
    return srv->hooks.on_headers(srv->hooks.app, req, url);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    cst_server *srv = cls;
    cst_request *req = *con_cls;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        *con_cls = req;
        req->conn = conn;
        req->method = method;
        uint8_t rid[16];
        randombytes_buf(rid, sizeof(rid));
        cst_hex(rid, sizeof(rid), req->request_id);
        client_address(conn, req->source_ip);
        cst_buf_init(&req->body, 0);
        cst_buf_init(&req->resp, SIZE_MAX);
        cst_err_clear();
        cst_err e = start_request(srv, conn, req, url);
        if (e != CST_OK && has_body(conn)) {
            /* Answered before the body is read; libmicrohttpd closes the connection. */
            cst_resp_error(req, e);
            return send_response(srv, conn, req);
        }
        /* Without a body, the answer waits for the next call so the connection stays open
         * (queueing on the first call would close it). */
        req->early = e;
        if (e != CST_OK)
            (void)snprintf(req->early_msg, sizeof(req->early_msg), "%s", cst_err_message(e));
        req->body.cap = req->body_limit;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (req->body_sink) {
            /* A spooled body (import): the sink counts its own limit and keeps the first
             * error, which answers the request once the upload ends. */
            if (req->sink_err == CST_OK) {
                cst_err_clear();
                req->sink_err = req->body_sink(req->body_sink_ctx, upload_data, *upload_data_size);
                if (req->sink_err != CST_OK)
                    (void)snprintf(req->early_msg, sizeof(req->early_msg), "%s",
                                   cst_err_message(req->sink_err));
            }
        } else if (!req->body_too_large &&
                   cst_buf_append(&req->body, upload_data, *upload_data_size)) {
            req->body_too_large = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    cst_err_clear();
    cst_err e;
    if (req->early != CST_OK)
        e = cst_fail(req->early, "%s", req->early_msg);
    else if (req->sink_err != CST_OK)
        e = cst_fail(req->sink_err, "%s", req->early_msg);
    else if (req->body_too_large)
        e = cst_fail(CST_ERR_TOO_LARGE, "the request body exceeds %zu bytes", req->body_limit);
    else
        e = srv->hooks.on_complete(srv->hooks.app, req);
    if (e != CST_OK)
        cst_resp_error(req, e);
    return send_response(srv, conn, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    cst_request *req = *con_cls;
    if (!req)
        return;
    stream_drop(req);
    if (req->body_sink_free)
        req->body_sink_free(req->body_sink_ctx);
    cst_buf_wipe_free(&req->body);
    cst_buf_wipe_free(&req->resp);
    sodium_memzero(req->params, sizeof(req->params));
    json_decref(req->audit_detail);
    json_decref(req->audit_info);
    free(req);
    *con_cls = NULL;
}

cst_err cst_server_start(const cst_server_opts *opts, const cst_server_hooks *hooks,
                         cst_server **out)
{
    cst_server *srv = calloc(1, sizeof(*srv));
    ENSURE(srv != NULL, CST_ERR_INTERNAL, "out of memory");
    srv->hooks = *hooks;
    srv->opts = *opts;

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
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
    size_t pool = opts->max_header_bytes * 4 + 16384;
    if (opts->tls) {
        flags |= MHD_USE_TLS;
        srv->d = MHD_start_daemon(
            flags, (uint16_t)opts->port, NULL, NULL, on_access, srv, MHD_OPTION_SOCK_ADDR, &ss,
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)opts->threads,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
            MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_NOTIFY_COMPLETED,
            on_completed, NULL, MHD_OPTION_HTTPS_MEM_CERT, opts->cert_pem, MHD_OPTION_HTTPS_MEM_KEY,
            opts->key_pem, MHD_OPTION_HTTPS_PRIORITIES, opts->priorities, MHD_OPTION_END);
    } else {
        srv->d = MHD_start_daemon(flags, (uint16_t)opts->port, NULL, NULL, on_access, srv,
                                  MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_THREAD_POOL_SIZE,
                                  (unsigned)opts->threads, MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
                                  MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_UNESCAPE_CALLBACK,
                                  no_unescape, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                                  NULL, MHD_OPTION_END);
    }
    if (!srv->d) {
        free(srv);
        return cst_fail(CST_ERR_INVALID,
                        "cannot listen on %s:%d (address in use, or bad TLS settings: check "
                        "tls.cert_file, tls.key_file and tls.priorities)",
                        opts->host, opts->port);
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
    MHD_stop_daemon(srv->d);
    free(srv);
}
