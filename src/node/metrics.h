/* metrics.h: the node's Prometheus metrics (DET-2) and its readiness. The counters come from
 * util/metrics.h (bumped on the hot path); the gauges the store knows (tenants by state, open
 * alerts, backup and drill ages, breach deadlines, key ages, audit lag) are read at scrape time.
 * Every family is one row of a table in metrics.c: name, type, help and how to read it. */
#ifndef CST_NODE_METRICS_H
#define CST_NODE_METRICS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "node/node.h"
#include "util/buf.h"
#include "util/err.h"

/* The request routes, by their slot in util/metrics.h (the API's route table lives above). */
typedef struct cst_metrics_routes {
    size_t count;
    void (*route)(size_t i, const char **method, const char **pattern);
} cst_metrics_routes;

/* Appends the whole exposition (text format 0.0.4) observed at now to out. No label carries a
 * tenant id unless metrics.per_tenant is set. */
CST_MUST_USE cst_err cst_node_metrics_render(cst_node *n, const cst_metrics_routes *routes,
                                             int64_t now, cst_buf *out);

/* The number of metric families a scrape carries (the report's DET-2 evidence). */
size_t cst_node_metrics_families(void);

/* Readiness: the store answers, the audit log takes entries, the keys are loaded. *checks gets
 * {store, audit, keys} each "ok" or why not (caller frees); returns CST_ERR_UNAVAILABLE naming
 * the first check that failed. */
CST_MUST_USE cst_err cst_node_ready(cst_node *n, json_t **checks);

#endif
