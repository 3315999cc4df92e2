/* metrics.h: the node's counters and histograms (DET-2): process-wide C11 atomics that the hot
 * path bumps without a lock, and the Prometheus text-format writer that renders them. Gauges
 * that the store knows (tenants, alerts, backups, keys) are computed at scrape time instead
 * (node/metrics.h). */
#ifndef CST_METRICS_H
#define CST_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* Route slots of the request counters: a route's index in the route table, and one more,
 * CST_METRICS_ROUTES - 1, for requests that matched no route. */
#define CST_METRICS_ROUTES 192
#define CST_METRICS_UNMATCHED (CST_METRICS_ROUTES - 1)

/* The status classes counted: 1xx..5xx (index status / 100 - 1). */
#define CST_METRICS_CLASSES 5

/* The histograms, each with its own bucket bounds (metrics.c). */
typedef enum cst_hist_kind {
    CST_HIST_REQUEST_SECONDS, /* one per route slot */
    CST_HIST_FSYNC_SECONDS,   /* audit fdatasync */
    CST_HIST_GROUP_ENTRIES,   /* audit entries made durable by one flush */
    CST_HIST__KINDS
} cst_hist_kind;

#define CST_HIST_MAX_BUCKETS 16

/* A histogram read at one instant: cumulative counts per bound, then the +Inf count. */
typedef struct cst_hist_snapshot {
    size_t nbounds;
    const double *bounds;
    uint64_t cumulative[CST_HIST_MAX_BUCKETS];
    uint64_t count;
    double sum;
} cst_hist_snapshot;

/* ---- the hot path: lock-free, never fails ---- */

/* A request answered: its route slot, HTTP status and time from headers to answer. */
void cst_metrics_request(size_t route, int status, int64_t duration_us);
/* An error answered (cst_err): auth failures and rate limits are read from these. */
void cst_metrics_error(cst_err e);
/* A connection opened (+1) or closed (-1). */
void cst_metrics_connection(int delta);
/* An audit flush made entries durable: counts them and observes the group size. */
void cst_metrics_audit_durable(uint64_t entries);
/* Audit entries written to a segment (durable or not yet). */
void cst_metrics_audit_written(uint64_t entries);
/* One audit fdatasync took us microseconds. */
void cst_metrics_audit_fsync(int64_t us);
/* An audit verification found a broken chain, seal or file. */
void cst_metrics_audit_verify_failure(void);

/* ---- reading (at scrape time) ---- */

uint64_t cst_metrics_requests(size_t route, int cls);
uint64_t cst_metrics_errors(cst_err e);
int64_t cst_metrics_connections(void);
uint64_t cst_metrics_audit_written_total(void);
uint64_t cst_metrics_audit_verify_failures(void);
/* slot: the route slot for CST_HIST_REQUEST_SECONDS, 0 otherwise. */
void cst_metrics_hist(cst_hist_kind kind, size_t slot, cst_hist_snapshot *out);

/* ---- the Prometheus text exposition format (version 0.0.4) ---- */

/* The # HELP and # TYPE lines of a family. */
CST_MUST_USE cst_err cst_prom_family(cst_buf *out, const char *name, const char *type,
                                     const char *help);
/* One sample: name{labels} value. labels: NULL-terminated pairs of name and value (values are
 * escaped); NULL for none. */
CST_MUST_USE cst_err cst_prom_sample(cst_buf *out, const char *name, const char *const *labels,
                                     double value);
/* A histogram's _bucket, _sum and _count samples with labels (as above) before "le". */
CST_MUST_USE cst_err cst_prom_histogram(cst_buf *out, const char *name, const char *const *labels,
                                        const cst_hist_snapshot *h);

#endif
