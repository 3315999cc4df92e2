/* request.h: one HTTP request as the API layer sees it, and its response. The libmicrohttpd
 * adapter (server.c) fills the request and sends the response; nothing else touches MHD. */
#ifndef CST_REQUEST_H
#define CST_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/authn.h"
#include "http/netacl.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

#define CST_MAX_PARAMS 2
#define CST_PARAM_MAX 1024 /* a decoded path parameter: record keys are at most 1024 bytes */
#define CST_MAX_RESP_HEADERS 6

typedef enum cst_body_kind {
    CST_BODY_NONE,
    CST_BODY_JSON,
    CST_BODY_RECORD,
    CST_BODY_BATCH,
    CST_BODY_IMPORT /* application/x-ndjson, up to http.max_import_bytes */
} cst_body_kind;

struct cst_request;
struct cst_node;
typedef cst_err (*cst_handler)(struct cst_node *node, struct cst_request *req);

/* Route flags: what a route is, so that dispatch, auditing and the lifecycle decide by the
 * table, never by comparing handlers or patterns. */
#define CST_ROUTE_HASHES 0x1u /* the handler may run Argon2id: it runs on the worker pool */
/* SPEC §9, IAM-3: a session may use it before its one-time password is changed or its
 * two-factor enrolled (the set-up itself, and logging out) */
#define CST_ROUTE_BEFORE_SETUP 0x2u
/* acts on the person, not on data: a login session only, never an API token */
#define CST_ROUTE_SESSION_ONLY 0x4u
/* IAM-4: the first parameter is a bucket; writers and readers need a grant for it */
#define CST_ROUTE_BUCKET_SCOPED 0x8u
/* IAM-2: refused for a throttled address before its body is read or a password checked */
#define CST_ROUTE_LOGIN_THROTTLED 0x10u
/* RET-3: the tenant's data leaves (export): allowed in every state that keeps any access */
#define CST_ROUTE_EXPORT 0x20u
/* RET-3: a read a closed tenant keeps (its own settings and lifecycle dates) */
#define CST_ROUTE_CLOSED_READ 0x40u
/* the liveness probe: touches nothing, leaves no audit entry */
#define CST_ROUTE_UNAUDITED 0x80u
/* LOG-4: an operator route whose first parameter is the tenant it acts on: the entry goes to
 * that tenant's trail too */
#define CST_ROUTE_TENANT_PARAM 0x100u
/* writes one tenant's records: committed together with the other such requests to the same
 * tenant that arrive meanwhile (group commit: one transaction, one audit flush, one commit) */
#define CST_ROUTE_GROUPED 0x200u
/* DET-2: a loopback peer without a credential may call it (metrics.allow_loopback; the
 * metrics scrape); any credential sent is checked as usual */
#define CST_ROUTE_LOOPBACK_SCRAPE 0x400u

typedef struct cst_route {
    const char *method;
    const char *pattern; /* "/v1/buckets/{name}/records/{key}" */
    cst_handler handler;
    cst_perm perm;
    cst_body_kind body;
    const char *action; /* audit action (LOG-1): "record.read"; required */
    unsigned flags;     /* CST_ROUTE_* */
} cst_route;

typedef struct cst_request {
    void *conn; /* the adapter's connection (opaque) */
    const char *method;
    char request_id[33];
    char source_ip[64]; /* the TCP peer */
    char client_ip[64]; /* the client: the peer, or from X-Forwarded-For of a trusted proxy */
    int64_t started_us; /* when its headers were in (metrics, the request log) */
    const cst_route *route;
    char params[CST_MAX_PARAMS][CST_PARAM_MAX + 1];
    size_t param_len[CST_MAX_PARAMS];
    cst_buf body;
    size_t body_limit;
    bool body_too_large;
    /* Set by the on_headers hook: the handler is slow (password hashing) and runs on the
     * server's bounded worker pool, with the connection suspended, so that the request
     * threads keep serving everyone else (IAM-2, issue 12). */
    bool offload;
    /* Set by the on_headers hook: upload bytes go to sink instead of body (an import is
     * spooled, not held in memory); free_sink runs when the request ends, whatever happened. */
    cst_err (*body_sink)(void *ctx, const void *p, size_t n);
    void (*body_sink_free)(void *ctx);
    void *body_sink_ctx;
    cst_err sink_err; /* the sink's first error (its message is kept in early_msg) */
    cst_err early;    /* refused from the headers; answered once the (empty) request is complete */
    char early_msg[256];
    cst_principal who;
    void *held_tenant; /* the tenant context this request holds (released when it ends) */
    cst_work *work;    /* the request's unit of work (store.h), from its handler to its end */

    /* audit (LOG-1): what the handler adds to the request's entry */
    const char *audit_action;      /* a refinement of the route's action */
    char audit_tenant[CST_ID_MAX]; /* the tenant concerned, when not the caller's */
    char audit_actor[CST_ID_MAX];  /* the account acted as, before authentication */
    json_t *audit_detail;          /* tenant-identifying details: sealed in the entry */
    json_t *audit_info;            /* plain, non-identifying facts */
    bool audited;

    /* response */
    int retry_after; /* seconds; sent as Retry-After with an error when non-zero */
    cst_err error;   /* the error answered (cst_resp_error); CST_OK for none (DET-1) */
    int status;
    cst_buf resp;
    char resp_type[128];
    struct {
        char name[32];
        char value[160];
    } resp_headers[CST_MAX_RESP_HEADERS];
    int resp_header_count;
    /* A streamed body (sent chunked, after the audit entry): fill appends the next part to out
     * and sets *done after the last; an error cuts the stream short. free always runs. */
    cst_err (*stream_fill)(void *ctx, cst_buf *out, bool *done);
    void (*stream_free)(void *ctx);
    void *stream_ctx;
} cst_request;

/* Request accessors implemented by the adapter. */
const char *cst_req_header(cst_request *req, const char *name);
/* Every line of a repeated header joined in arrival order with ", " (RFC 9110 §5.3), so that
 * a client cannot hide behind a proxy that appends its own line. Fails when they do not fit. */
CST_MUST_USE cst_err cst_req_header_join(cst_request *req, const char *name, char *out, size_t n,
                                         bool *present);
/* Query parameter, percent-decoded into out; false when absent. Fails on bad encoding or a value
 * longer than n-1 bytes. */
CST_MUST_USE cst_err cst_req_query(cst_request *req, const char *name, char *out, size_t n,
                                   bool *present);

/* Response builders. */
CST_MUST_USE cst_err cst_resp_json(cst_request *req, int status, json_t *body); /* steals body */
CST_MUST_USE cst_err cst_resp_bytes(cst_request *req, int status, const char *type, const void *p,
                                    size_t n);
void cst_resp_empty(cst_request *req, int status);
/* A 200 response whose body fill produces in parts (bounded memory at any size). */
void cst_resp_stream(cst_request *req, const char *type,
                     cst_err (*fill)(void *ctx, cst_buf *out, bool *done), void (*free_ctx)(void *),
                     void *ctx);
void cst_resp_header(cst_request *req, const char *name, const char *value);
/* The JSON error body for e with the thread's message. */
void cst_resp_error(cst_request *req, cst_err e);

#endif
