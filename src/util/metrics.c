/* metrics.c: the node's counters and histograms as relaxed atomics (DET-2), and the Prometheus
 * text-format writer. A counter is one atomic add on the hot path; nothing here locks. */
#include "util/metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"

#define RELAXED memory_order_relaxed

/* A histogram's bounds and the unit its observations come in (us, or a plain count). */
typedef struct hist_spec {
    const double *bounds;
    size_t nbounds;
    double unit; /* an observation of v units is v * unit in the exported base unit */
} hist_spec;

static const double request_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10};
static const double fsync_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025,  0.05,    0.1,    0.25,  0.5,    1};
static const double group_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

#define NB(a) (sizeof(a) / sizeof((a)[0]))

static const hist_spec specs[CST_HIST__KINDS] = {
    [CST_HIST_REQUEST_SECONDS] = {request_bounds, NB(request_bounds), 1e-6},
    [CST_HIST_FSYNC_SECONDS] = {fsync_bounds, NB(fsync_bounds), 1e-6},
    [CST_HIST_GROUP_ENTRIES] = {group_bounds, NB(group_bounds), 1},
};

/* Per bucket (not cumulative; the last is +Inf), the count and the sum in units. */
typedef struct hist {
    atomic_ullong bucket[CST_HIST_MAX_BUCKETS + 1];
    atomic_ullong count;
    atomic_ullong sum;
} hist;

static struct {
    atomic_ullong requests[CST_METRICS_ROUTES][CST_METRICS_CLASSES];
    hist request_seconds[CST_METRICS_ROUTES];
    hist fsync, group;
    atomic_ullong errors[CST_ERR__COUNT];
    atomic_llong connections;
    atomic_ullong audit_written;
    atomic_ullong verify_failures;
} m; /* zero-initialised: every atomic starts at 0 */

static void observe(hist *h, const hist_spec *s, uint64_t units)
{
    double v = (double)units * s->unit;
    size_t i = 0;
    while (i < s->nbounds && v > s->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, RELAXED);
    atomic_fetch_add_explicit(&h->count, 1, RELAXED);
    atomic_fetch_add_explicit(&h->sum, units, RELAXED);
}

static size_t slot_of(size_t route)
{
    return route < CST_METRICS_ROUTES ? route : CST_METRICS_UNMATCHED;
}

void cst_metrics_request(size_t route, int status, int64_t duration_us)
{
    size_t r = slot_of(route);
    int cls = status / 100 - 1;
    if (cls >= 0 && cls < CST_METRICS_CLASSES)
        atomic_fetch_add_explicit(&m.requests[r][cls], 1, RELAXED);
    observe(&m.request_seconds[r], &specs[CST_HIST_REQUEST_SECONDS],
            duration_us > 0 ? (uint64_t)duration_us : 0);
}

void cst_metrics_error(cst_err e)
{
    if ((unsigned)e < CST_ERR__COUNT)
        atomic_fetch_add_explicit(&m.errors[e], 1, RELAXED);
}

void cst_metrics_connection(int delta)
{
    atomic_fetch_add_explicit(&m.connections, delta, RELAXED);
}

void cst_metrics_audit_durable(uint64_t entries)
{
    if (entries)
        observe(&m.group, &specs[CST_HIST_GROUP_ENTRIES], entries);
}

void cst_metrics_audit_written(uint64_t entries)
{
    atomic_fetch_add_explicit(&m.audit_written, entries, RELAXED);
}

void cst_metrics_audit_fsync(int64_t us)
{
    observe(&m.fsync, &specs[CST_HIST_FSYNC_SECONDS], us > 0 ? (uint64_t)us : 0);
}

void cst_metrics_audit_verify_failure(void)
{
    atomic_fetch_add_explicit(&m.verify_failures, 1, RELAXED);
}

uint64_t cst_metrics_requests(size_t route, int cls)
{
    if (cls < 0 || cls >= CST_METRICS_CLASSES)
        return 0;
    return atomic_load_explicit(&m.requests[slot_of(route)][cls], RELAXED);
}

uint64_t cst_metrics_errors(cst_err e)
{
    return (unsigned)e < CST_ERR__COUNT ? atomic_load_explicit(&m.errors[e], RELAXED) : 0;
}

int64_t cst_metrics_connections(void)
{
    long long c = atomic_load_explicit(&m.connections, RELAXED);
    return c > 0 ? c : 0;
}

uint64_t cst_metrics_audit_written_total(void)
{
    return atomic_load_explicit(&m.audit_written, RELAXED);
}

uint64_t cst_metrics_audit_verify_failures(void)
{
    return atomic_load_explicit(&m.verify_failures, RELAXED);
}

void cst_metrics_hist(cst_hist_kind kind, size_t slot, cst_hist_snapshot *out)
{
    const hist_spec *s = &specs[kind < CST_HIST__KINDS ? kind : CST_HIST_GROUP_ENTRIES];
    const hist *h = kind == CST_HIST_REQUEST_SECONDS ? &m.request_seconds[slot_of(slot)]
                    : kind == CST_HIST_FSYNC_SECONDS ? &m.fsync
                                                     : &m.group;
    memset(out, 0, sizeof(*out));
    out->nbounds = s->nbounds;
    out->bounds = s->bounds;
    /* Read bucket by bucket: the count is the sum of what was read, so that the +Inf bucket
     * always equals _count even while requests come in. */
    uint64_t run = 0;
    for (size_t i = 0; i <= s->nbounds; i++) {
        run += atomic_load_explicit(&h->bucket[i], RELAXED);
        if (i < s->nbounds)
            out->cumulative[i] = run;
    }
    out->count = run;
    out->sum = (double)atomic_load_explicit(&h->sum, RELAXED) * s->unit;
}

/* ---- the text format ---- */

cst_err cst_prom_family(cst_buf *out, const char *name, const char *type, const char *help)
{
    char line[768];
    TRY(cst_fmt(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type));
    return cst_buf_append(out, line, strlen(line));
}

/* A label value with \, " and newline escaped, as the format requires. */
static cst_err append_escaped(cst_buf *out, const char *v)
{
    for (; *v; v++) {
        const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
        TRY(esc ? cst_buf_append(out, esc, 2) : cst_buf_append(out, v, 1));
    }
    return CST_OK;
}

static cst_err append_labels(cst_buf *out, const char *const *labels, const char *le)
{
    bool any = (labels && labels[0]) || le;
    if (!any)
        return CST_OK;
    TRY(cst_buf_append(out, "{", 1));
    const char *sep = "";
    for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
        TRY(cst_buf_append(out, sep, strlen(sep)));
        TRY(cst_buf_append(out, labels[i], strlen(labels[i])));
        TRY(cst_buf_append(out, "=\"", 2));
        TRY(append_escaped(out, labels[i + 1]));
        TRY(cst_buf_append(out, "\"", 1));
        sep = ",";
    }
    if (le) {
        TRY(cst_buf_append(out, sep, strlen(sep)));
        TRY(cst_buf_append(out, "le=\"", 4));
        TRY(cst_buf_append(out, le, strlen(le)));
        TRY(cst_buf_append(out, "\"", 1));
    }
    return cst_buf_append(out, "}", 1);
}

static cst_err append_value(cst_buf *out, double v)
{
    char num[64];
    if (isinf(v))
        TRY(cst_fmt(num, sizeof(num), " %s\n", v > 0 ? "+Inf" : "-Inf"));
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        TRY(cst_fmt(num, sizeof(num), " %.0f\n", v));
    else
        TRY(cst_fmt(num, sizeof(num), " %.9g\n", v));
    return cst_buf_append(out, num, strlen(num));
}

static cst_err sample_le(cst_buf *out, const char *name, const char *suffix,
                         const char *const *labels, const char *le, double value)
{
    TRY(cst_buf_append(out, name, strlen(name)));
    TRY(cst_buf_append(out, suffix, strlen(suffix)));
    TRY(append_labels(out, labels, le));
    return append_value(out, value);
}

cst_err cst_prom_sample(cst_buf *out, const char *name, const char *const *labels, double value)
{
    return sample_le(out, name, "", labels, NULL, value);
}

cst_err cst_prom_histogram(cst_buf *out, const char *name, const char *const *labels,
                           const cst_hist_snapshot *h)
{
    char le[32];
    for (size_t i = 0; i < h->nbounds; i++) {
        TRY(cst_fmt(le, sizeof(le), "%g", h->bounds[i]));
        TRY(sample_le(out, name, "_bucket", labels, le, (double)h->cumulative[i]));
    }
    TRY(sample_le(out, name, "_bucket", labels, "+Inf", (double)h->count));
    TRY(sample_le(out, name, "_sum", labels, NULL, h->sum));
    return sample_le(out, name, "_count", labels, NULL, (double)h->count);
}
