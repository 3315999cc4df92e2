/* metrics.c: GET /metrics (DET-2, Prometheus text format), GET /v1/sys/ready (readiness), and
 * what every answered request leaves behind: its counters and its line in the server log. */
#include <string.h>

#include "api/api.h"
#include "node/metrics.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/util.h"

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_MAX_BYTES (4 * 1024 * 1024)

static void route_at(size_t i, const char **method, const char **pattern)
{
    *method = cst_api_routes[i].method;
    *pattern = cst_api_routes[i].pattern;
}

static size_t route_slot(const cst_request *req)
{
    if (!req->route)
        return CST_METRICS_UNMATCHED;
    size_t i = (size_t)(req->route - cst_api_routes);
    return i < cst_api_route_count && i < CST_METRICS_UNMATCHED ? i : CST_METRICS_UNMATCHED;
}

cst_err cst_api_metrics(cst_node *n, cst_request *req)
{
    /* a route past the counters' slots (none: test_router checks) would count as unmatched */
    cst_metrics_routes routes = {
        .count = cst_api_route_count < CST_METRICS_UNMATCHED ? cst_api_route_count
                                                             : CST_METRICS_UNMATCHED,
        .route = route_at,
    };
    cst_buf out;
    cst_buf_init(&out, METRICS_MAX_BYTES);
    cst_err e = cst_node_metrics_render(n, &routes, cst_now_us(), &out);
    if (e == CST_OK)
        e = cst_resp_bytes(req, 200, METRICS_TYPE, out.data, out.len);
    cst_buf_free(&out);
    return e;
}

cst_err cst_api_ready(cst_node *n, cst_request *req)
{
    json_t *checks = NULL;
    cst_err e = cst_node_ready(n, &checks);
    if (!checks)
        return e;
    if (e != CST_OK) {
        char why[256];
        (void)snprintf(why, sizeof(why), "%s", cst_err_message(e));
        return cst_resp_json(
            req, 503,
            json_pack("{s:s,s:o,s:s}", "status", "not_ready", "checks", checks, "message", why));
    }
    return cst_resp_json(
        req, 200,
        json_pack("{s:s,s:o,s:s}", "status", "ready", "checks", checks, "node_id", n->node_id));
}

/* DET-2: a scrape from this host needs no token: the TCP peer is a loopback address and no
 * trusted proxy forwarded the request (a proxy on this host must not open /metrics to the
 * world), and the request carries no credential (one that is sent is checked). */
bool cst_api_loopback_scrape(const cst_node *n, cst_request *req)
{
    if (!n->cfg.metrics_allow_loopback || cst_req_header(req, "Authorization") ||
        cst_req_header(req, "X-Forwarded-For"))
        return false;
    const char *ip = req->source_ip;
    return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
           strncmp(ip, "::ffff:127.", 11) == 0;
}

/* The metrics listener (metrics.listen) serves /metrics and nothing else. */
cst_err cst_api_on_headers_metrics(void *app, cst_request *req, const char *url)
{
    ENSURE(strcmp(url, "/metrics") == 0, CST_ERR_NOT_FOUND,
           "the metrics listener serves GET /metrics only");
    return cst_api_on_headers(app, req, url);
}

/* Every answered request: its counters (DET-2) and one line in the server log, naming the
 * route pattern (never the path: it holds record keys), the status and the principal. */
void cst_api_observe(cst_node *n, cst_request *req)
{
    (void)n;
    int64_t took = req->started_us ? cst_now_us() - req->started_us : 0;
    cst_metrics_request(route_slot(req), req->status, took);
    if (req->error != CST_OK)
        cst_metrics_error(req->error);
    const cst_principal *who = &req->who;
    cst_log_request line = {
        .request_id = req->request_id,
        .method = req->route ? req->route->method : "",
        .route = req->route ? req->route->pattern : "",
        .status = req->status,
        .duration_us = took,
        .principal = who->authenticated ? who->user.id : "",
        .error = req->error != CST_OK ? cst_err_code(req->error) : "",
    };
    cst_log_request_line(&line);
}
