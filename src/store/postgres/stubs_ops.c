/* stubs_ops.c: TEMPORARY, while this group of operations is written: each fails. The file
 * is deleted when the group is built; the driver is not done while any stubs_*.c remains. */
#include <stdlib.h>

#include "store/postgres/pg.h"

#pragma GCC diagnostic ignored "-Wunused-parameter"

cst_err cst_postgres_store_alert_put(cst_store *st, cst_work *w, const cst_alert_row *a)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_alert_put is not built yet");
}

cst_err cst_postgres_store_alert_get(cst_store *st, cst_work *w, const char *id, cst_alert_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_alert_get is not built yet");
}

cst_err cst_postgres_store_alert_find(cst_store *st, cst_work *w, const char *type,
                                      const char *dedup_key, cst_alert_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_alert_find is not built yet");
}

cst_err cst_postgres_store_alert_list(cst_store *st, cst_work *w, const cst_alert_filter *f,
                                      cst_err (*fn)(const cst_alert_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_alert_list is not built yet");
}

cst_err cst_postgres_store_alert_count_open(cst_store *st, cst_work *w, int64_t *count)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_alert_count_open is not built yet");
}

cst_err cst_postgres_store_alert_prune(cst_store *st, cst_work *w, int64_t resolved_before,
                                       int64_t finished_before, int64_t *removed)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_alert_prune is not built yet");
}

cst_err cst_postgres_store_webhook_put(cst_store *st, cst_work *w, const cst_webhook_row *d)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_webhook_put is not built yet");
}

cst_err cst_postgres_store_webhook_due(cst_store *st, cst_work *w, int64_t now, int limit,
                                       cst_err (*fn)(const cst_webhook_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_webhook_due is not built yet");
}

cst_err cst_postgres_store_webhook_defer(cst_store *st, cst_work *w, const char *url,
                                         int64_t next_at)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_webhook_defer is not built yet");
}

cst_err cst_postgres_store_webhook_list(cst_store *st, cst_work *w, const char *alert_id,
                                        cst_err (*fn)(const cst_webhook_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_webhook_list is not built yet");
}

cst_err cst_postgres_store_incident_put(cst_store *st, cst_work *w, const cst_incident_row *i)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_incident_put is not built yet");
}

cst_err cst_postgres_store_incident_get(cst_store *st, cst_work *w, const char *id,
                                        cst_incident_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_incident_get is not built yet");
}

cst_err cst_postgres_store_incident_list(cst_store *st, cst_work *w,
                                         cst_err (*fn)(const cst_incident_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_incident_list is not built yet");
}

cst_err cst_postgres_store_timeline_add(cst_store *st, cst_work *w, const cst_timeline_row *t,
                                        int64_t *seq)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_timeline_add is not built yet");
}

cst_err cst_postgres_store_timeline_list(cst_store *st, cst_work *w, const char *incident_id,
                                         cst_err (*fn)(const cst_timeline_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_timeline_list is not built yet");
}

cst_err cst_postgres_store_clock_put(cst_store *st, cst_work *w, const cst_clock_row *c)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_clock_put is not built yet");
}

cst_err cst_postgres_store_clock_list(cst_store *st, cst_work *w, const char *incident_id,
                                      cst_err (*fn)(const cst_clock_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_clock_list is not built yet");
}

cst_err cst_postgres_store_notice_add(cst_store *st, cst_work *w, const cst_notice_row *nt)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_notice_add is not built yet");
}

cst_err cst_postgres_store_notice_get(cst_store *st, cst_work *w, const char *id,
                                      cst_notice_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_notice_get is not built yet");
}

cst_err cst_postgres_store_notice_list(cst_store *st, cst_work *w, const char *incident_id,
                                       const char *tenant_id,
                                       cst_err (*fn)(const cst_notice_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_notice_list is not built yet");
}

cst_err cst_postgres_store_notice_decide(cst_store *st, cst_work *w, const cst_notice_row *nt)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_notice_decide is not built yet");
}

cst_err cst_postgres_store_review_add(cst_store *st, cst_work *w, const cst_review_row *r,
                                      const char *snapshot)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_review_add is not built yet");
}

cst_err cst_postgres_store_review_get(cst_store *st, cst_work *w, const char *id,
                                      cst_review_row *out, cst_buf *snapshot, cst_buf *attestation)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_review_get is not built yet");
}

cst_err cst_postgres_store_review_list(cst_store *st, cst_work *w, const char *scope,
                                       cst_err (*fn)(const cst_review_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_review_list is not built yet");
}

cst_err cst_postgres_store_review_attest(cst_store *st, cst_work *w, const char *id, int64_t at,
                                         const char *by, const char *attestation)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_review_attest is not built yet");
}

cst_err cst_postgres_store_review_decide(cst_store *st, cst_work *w,
                                         const cst_review_decision_row *d)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_review_decide is not built yet");
}

cst_err cst_postgres_store_review_decisions(cst_store *st, cst_work *w, const char *review_id,
                                            cst_err (*fn)(const cst_review_decision_row *, void *),
                                            void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_review_decisions is not built yet");
}

cst_err cst_postgres_store_review_remind(cst_store *st, const char *scope, int64_t now,
                                         int64_t interval_us, bool *claimed)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_review_remind is not built yet");
}

cst_err cst_postgres_store_access_put(cst_store *st, cst_work *w, const cst_access_row *a)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_access_put is not built yet");
}

cst_err cst_postgres_store_access_get(cst_store *st, cst_work *w, const char *id,
                                      cst_access_row *out)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_access_get is not built yet");
}

cst_err cst_postgres_store_access_list(cst_store *st, cst_work *w, const char *tenant_id,
                                       cst_err (*fn)(const cst_access_row *, void *), void *ctx)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_access_list is not built yet");
}

cst_err cst_postgres_store_access_use(cst_store *st, cst_work *w, const char *id, int64_t requests,
                                      int64_t records_read)
{
    return cst_fail(CST_ERR_INTERNAL, "postgresql: store_access_use is not built yet");
}
