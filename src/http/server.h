/* server.h: the HTTPS server: libmicrohttpd with GnuTLS, a thread pool sized to the cores. */
#ifndef CST_SERVER_H
#define CST_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "http/request.h"

typedef struct cst_server cst_server;

typedef struct cst_server_opts {
    const char *host;
    int port; /* 0: pick a free port (see cst_server_port) */
    int threads;
    bool tls;
    const char *cert_pem; /* NUL-terminated PEM, required when tls */
    const char *key_pem;
    const char *priorities;
    size_t max_header_bytes;
    /* Abuse limits (issue 12). */
    int max_connections;            /* in all; 0: libmicrohttpd's default */
    int max_connections_per_ip;     /* from one source address; 0: none */
    int header_timeout;             /* seconds for the TLS handshake plus request headers */
    size_t max_inflight_body_bytes; /* request bodies held in memory, node-wide; 0: none */
    int workers;                    /* threads running handlers; 0: on the polling threads */
    int offload_workers;            /* threads running req->offload requests (IAM-2) */
    int offload_queue;              /* such requests waiting; beyond it 503 unavailable */
} cst_server_opts;

/* The application side. on_headers runs once the request line and headers are in: it routes,
 * authenticates and sets req->body_limit; an error is answered at once, before any body is
 * read. on_complete runs with the whole body and fills the response, on one of the server's
 * worker threads (the whole of it on that one thread), with the connection suspended: the
 * hashing pool's when on_headers set req->offload, the request pool's otherwise. */
typedef struct cst_server_hooks {
    void *app;
    cst_err (*on_headers)(void *app, cst_request *req, const char *url);
    cst_err (*on_complete)(void *app, cst_request *req);
    /* Runs before every response is queued, refusals included (auditing); may replace it. */
    void (*on_respond)(void *app, cst_request *req);
} cst_server_hooks;

CST_MUST_USE cst_err cst_server_start(const cst_server_opts *opts, const cst_server_hooks *hooks,
                                      cst_server **out);
int cst_server_port(const cst_server *srv);
void cst_server_stop(cst_server *srv);

#endif
