/* incidents.c: breach deadlines at a given time (INC-2) and the facts a notice is pre-filled
 * with (INC-3): record counts, encryption, the tenant's audit entries of the incident's window. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/incident.h"
#include "node/incidents.h"
#include "node/mail.h"
#include "node/webhook.h"
#include "util/json.h"
#include "util/util.h"

#define PREFILL_AUDIT_IDS 100 /* entry ids listed; the count covers them all */

struct deadlines {
    int64_t now;
    cst_incident_deadline_fn fn;
    void *ctx;
};

static cst_err on_clock(const cst_clock_row *c, void *p)
{
    struct deadlines *d = p;
    if (c->sent_at)
        return CST_OK;
    return d->fn(c->tenant_id, c->incident_id, c->deadline, cst_clock_due_soon(c, d->now),
                 d->now > c->deadline, d->ctx);
}

cst_err cst_incident_deadlines(cst_node *n, int64_t now, cst_incident_deadline_fn fn, void *ctx)
{
    struct deadlines d = {now, fn, ctx};
    return cst_store_clock_list(n->store, NULL, NULL, on_clock, &d);
}

static cst_err count_incident(const cst_incident_row *i, void *p)
{
    cst_incident_counts *c = p;
    c->open_incidents += strcmp(i->status, "closed") != 0;
    return CST_OK;
}

struct counting {
    cst_incident_counts *c;
    int64_t now;
};

static cst_err count_clock(const cst_clock_row *k, void *p)
{
    struct counting *g = p;
    g->c->clocks++;
    g->c->sent += k->sent_at != 0;
    if (k->sent_at)
        return CST_OK;
    if (g->now > k->deadline) {
        g->c->overdue++;
        json_array_append_new(g->c->overdue_list,
                              json_pack("{s:s,s:s,s:o}", "incident", k->incident_id, "tenant",
                                        k->tenant_id, "deadline", cst_json_time(k->deadline)));
    } else if (cst_clock_due_soon(k, g->now)) {
        g->c->due_soon++;
    }
    return CST_OK;
}

cst_err cst_incident_count(cst_node *n, cst_work *w, int64_t now, cst_incident_counts *out)
{
    memset(out, 0, sizeof(*out));
    out->overdue_list = json_array();
    struct counting g = {out, now};
    cst_err e = cst_store_incident_list(n->store, w, count_incident, out);
    if (e == CST_OK)
        e = cst_store_clock_list(n->store, w, NULL, count_clock, &g);
    if (e != CST_OK) {
        json_decref(out->overdue_list);
        out->overdue_list = NULL;
    }
    return e;
}

static cst_err on_bucket(const cst_bucket_row *b, void *p)
{
    json_t *o = p;
    json_array_append_new(
        json_object_get(o, "buckets"),
        json_pack("{s:s,s:I}", "bucket", b->name, "records", (json_int_t)b->record_count));
    json_object_set_new(
        o, "total",
        json_integer(json_integer_value(json_object_get(o, "total")) + b->record_count));
    return CST_OK;
}

struct audit_window {
    const char *tenant;
    int entries;
    json_t *ids;
};

static bool on_entry(void *ctx, cst_audit_stream s, json_t *entry)
{
    struct audit_window *a = ctx;
    const char *tenant = json_string_value(json_object_get(entry, "tenant"));
    if (!tenant || strcmp(tenant, a->tenant) != 0)
        return true;
    a->entries++;
    if (json_array_size(a->ids) < PREFILL_AUDIT_IDS) {
        char id[64];
        (void)snprintf(id, sizeof(id), "%s:%lld", cst_audit_stream_names[s],
                       (long long)json_integer_value(json_object_get(entry, "seq")));
        json_array_append_new(a->ids, json_string(id));
    }
    return true;
}

/* Art. 34(3)(a): the tenant's records are sealed under its DEK, itself wrapped by the node's
 * KEK; they count as exposed only when the incident lists keys among its data categories. */
static json_t *encryption_json(const cst_incident_row *i, const cst_tenant_ctx *t)
{
    json_t *cats = json_loads(i->data_categories, 0, NULL);
    bool exposed = false;
    size_t k;
    json_t *v;
    json_array_foreach(cats, k, v)
    {
        const char *s = json_string_value(v);
        exposed = exposed || (s && strstr(s, "key"));
    }
    json_decref(cats);
    return json_pack("{s:b,s:s,s:o,s:s,s:b}", "encrypted", 1, "algorithm", "AES-256-GCM",
                     "dek_version", t ? json_integer(cst_dek_current(&t->deks)) : json_null(), "key_wrapping",
                     "tenant DEK wrapped by the node's KEK", "keys_exposed", exposed);
}

cst_err cst_incident_prefill(cst_node *n, cst_work *w, const cst_incident_row *i,
                             const char *tenant_id, int64_t now, json_t **out)
{
    *out = NULL;
    json_t *records = json_pack("{s:[],s:I}", "buckets", "total", (json_int_t)0);
    cst_tenant_ctx *t = NULL;
    cst_err e = cst_node_tenant_acquire_in(n, w, tenant_id, &t);
    if (e == CST_OK) {
        e = cst_tstore_bucket_list(t->ts, w, on_bucket, records);
    } else if (e == CST_ERR_NOT_FOUND) { /* erased: nothing of it is left to count */
        cst_err_clear();
        e = CST_OK;
    }
    json_t *enc = encryption_json(i, t);
    cst_node_tenant_release(n, t);
    int64_t from = (i->aware_at && i->aware_at < i->created_at ? i->aware_at : i->created_at) -
                   24 * CST_HOUR_US;
    struct audit_window a = {tenant_id, 0, json_array()};
    for (int s = 0; e == CST_OK && s < CST_AUDIT__STREAMS; s++)
        e = cst_audit_scan(n->cfg.audit_dir, (cst_audit_stream)s, from, now + 1, on_entry, &a);
    json_t *audit = json_pack("{s:o,s:o,s:i,s:o}", "from", cst_json_time(from), "until",
                              cst_json_time(now), "entries", a.entries, "ids", a.ids);
    if (e != CST_OK) {
        json_decref(records);
        json_decref(enc);
        json_decref(audit);
        return e;
    }
    *out = json_pack("{s:o,s:o,s:o}", "records", records, "encryption", enc, "audit", audit);
    return CST_OK;
}

/* Any notice the store holds can be emailed: its text is at most twice its JSON, and the
 * headers, labels and pointers take less than 8 KiB. */
_Static_assert(CST_WEBHOOK_BODY_MAX >= 2 * CST_NOTICE_JSON + 8192,
               "an emailed notice must fit a delivery's body");

/* One email of notice to address, queued in w. */
static cst_err mail_one(cst_node *n, cst_work *w, const json_t *notice, const char *text,
                        const char *address, int64_t now)
{
    const char *id = json_string_value(json_object_get(notice, "id"));
    const char *tenant = json_string_value(json_object_get(notice, "tenant"));
    char msg_id[CST_ID_MAX], subject[160], url[512];
    cst_random_id("msg", msg_id);
    TRY(cst_fmt(subject, sizeof(subject), "Breach notice %s (version %lld) for tenant %s", id,
                (long long)json_integer_value(json_object_get(notice, "version")), tenant));
    TRY(cst_fmt(url, sizeof(url), "mailto:%s", address));
    char *message = malloc(CST_WEBHOOK_BODY_MAX);
    ENSURE(message, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_mail_compose(&n->cfg, address, subject, text, msg_id, now, message,
                                 CST_WEBHOOK_BODY_MAX);
    if (e == CST_OK)
        e = cst_webhook_queue(n, w, msg_id, id, tenant, url, message, now);
    free(message);
    return e;
}

cst_err cst_incident_notice_deliver(cst_node *n, cst_work *w, json_t *notice, int64_t now)
{
    const char *id = json_string_value(json_object_get(notice, "id"));
    const char *tenant = json_string_value(json_object_get(notice, "tenant"));
    json_t *contacts = json_object_get(notice, "notice_contacts");
    char *text = NULL;
    cst_err e = id && tenant ? CST_OK : cst_fail(CST_ERR_INTERNAL, "a notice without id or tenant");
    if (e == CST_OK && cst_mail_configured(&n->cfg) && json_array_size(contacts) > 0)
        e = cst_notice_text(notice, &text);
    size_t i;
    json_t *c;
    json_array_foreach(contacts, i, c)
    {
        if (e == CST_OK && text && json_is_string(c))
            e = mail_one(n, w, notice, text, json_string_value(c), now);
    }
    free(text);
    if (e == CST_OK) {
        json_incref(notice);
        e = cst_webhook_event(n, w, tenant, false, id, "notice.sent", notice, now);
    }
    json_decref(notice);
    return e;
}
