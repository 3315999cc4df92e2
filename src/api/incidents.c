/* incidents.c: incidents and breach notification. Operators (sys-security) record incidents
 * with an append-only timeline (INC-1), confirm breaches, which starts one notice clock per
 * affected tenant (INC-2), and send notices in phases (INC-3); a tenant reads its notices and
 * decides on notifying its own users or regulators (INC-4). The rules are core/incident.h's. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/incident.h"
#include "node/incidents.h"
#include "util/json.h"
#include "util/util.h"

/* ---- rendering ---- */

static json_t *text_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static json_t *list_json(const char *text)
{
    json_t *v = json_loads(text[0] ? text : "[]", 0, NULL);
    return json_is_array(v) ? v : (json_decref(v), json_array());
}

static json_t *clock_json(const cst_clock_row *c, int64_t now)
{
    return json_pack("{s:s,s:o,s:o,s:i,s:o,s:s}", "tenant", c->tenant_id, "aware_at",
                     cst_json_time(c->aware_at), "deadline", cst_json_time(c->deadline), "hours",
                     c->hours, "notice_id", text_or_null(c->notice_id), "status",
                     cst_clock_status(c, now));
}

static cst_err add_clock(const cst_clock_row *c, void *p)
{
    json_array_append_new(p, clock_json(c, cst_now_us()));
    return CST_OK;
}

static cst_err add_timeline(const cst_timeline_row *t, void *p)
{
    json_array_append_new(p, json_pack("{s:I,s:o,s:s,s:s}", "seq", (json_int_t)t->seq, "at",
                                       cst_json_time(t->at), "actor", t->actor, "entry", t->entry));
    return CST_OK;
}

static json_t *notice_json(const cst_notice_row *nt)
{
    json_t *doc = json_loads(nt->document, 0, NULL);
    json_t *o = json_is_object(doc) ? doc : (json_decref(doc), json_object());
    json_object_set_new(o, "id", json_string(nt->id));
    json_object_set_new(o, "incident_id", json_string(nt->incident_id));
    json_object_set_new(o, "tenant", json_string(nt->tenant_id));
    json_object_set_new(o, "version", json_integer(nt->version));
    json_object_set_new(o, "sent_at", cst_json_time(nt->sent_at));
    json_object_set_new(o, "deadline", cst_json_time(nt->deadline));
    json_object_set_new(o, "late", json_boolean(nt->sent_at > nt->deadline));
    json_object_set_new(o, "user_notice",
                        json_pack("{s:s,s:o,s:o,s:o}", "decision", nt->decision, "by",
                                  text_or_null(nt->decided_by), "at", cst_json_time(nt->decided_at),
                                  "comment", text_or_null(nt->comment)));
    return o;
}

/* A notice with its deliveries to the tenant's webhook and notice contacts. */
static cst_err respond_notice(cst_node *n, cst_request *req, int status, const cst_notice_row *nt)
{
    json_t *o = notice_json(nt);
    cst_err e = cst_api_deliveries(n, req->work, nt->id, o);
    if (e != CST_OK) {
        json_decref(o);
        return e;
    }
    return cst_resp_json(req, status, o);
}

static cst_err add_notice(const cst_notice_row *nt, void *p)
{
    json_array_append_new(p, notice_json(nt));
    return CST_OK;
}

/* An incident; with_detail adds its timeline and notices. */
static cst_err incident_json(cst_node *n, cst_work *w, const cst_incident_row *i, bool with_detail,
                             json_t **out)
{
    json_t *clocks = json_array(), *timeline = NULL, *notices = NULL;
    cst_err e = cst_store_clock_list(n->store, w, i->id, add_clock, clocks);
    if (e == CST_OK && with_detail) {
        timeline = json_array();
        notices = json_array();
        e = cst_store_timeline_list(n->store, w, i->id, add_timeline, timeline);
        if (e == CST_OK)
            e = cst_store_notice_list(n->store, w, i->id, NULL, add_notice, notices);
        size_t k;
        json_t *nt;
        json_array_foreach(notices, k, nt)
        {
            if (e == CST_OK)
                e = cst_api_deliveries(n, w, json_string_value(json_object_get(nt, "id")), nt);
        }
    }
    json_t *breach = json_pack("{s:o,s:o,s:o}", "confirmed_at", cst_json_time(i->confirmed_at),
                               "aware_at", cst_json_time(i->aware_at), "clocks", clocks);
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", i->id, "title", i->title,
        "severity", i->severity, "status", i->status, "owner", i->owner, "summary", i->summary,
        "tenants", list_json(i->tenants), "data_categories", list_json(i->data_categories),
        "root_cause", text_or_null(i->root_cause), "remediation", text_or_null(i->remediation),
        "created_at", cst_json_time(i->created_at), "updated_at", cst_json_time(i->updated_at),
        "closed_at", cst_json_time(i->closed_at), "breach", breach);
    if (with_detail) {
        json_object_set_new(o, "timeline", timeline);
        json_object_set_new(o, "notices", notices);
    }
    if (e != CST_OK) {
        json_decref(o);
        return e;
    }
    *out = o;
    return CST_OK;
}

static cst_err respond(cst_node *n, cst_request *req, int status, const cst_incident_row *i)
{
    json_t *o = NULL;
    TRY(incident_json(n, req->work, i, true, &o));
    return cst_resp_json(req, status, o);
}

static cst_err load(cst_node *n, cst_request *req, cst_incident_row *i)
{
    const char *id = req->params[0];
    ENSURE(cst_id_valid(id, "in"), CST_ERR_NOT_FOUND, "no such incident");
    cst_err e = cst_store_incident_get(n->store, req->work, id, i);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_NOT_FOUND, "no such incident");
    TRY(e);
    cst_audit_info(req, "incident_id", json_string(id));
    return CST_OK;
}

/* Appends to the timeline as the request's principal (the request's audit entry records it). */
static cst_err timeline_add(cst_node *n, cst_request *req, const char *incident_id,
                            const char *entry, int64_t now)
{
    cst_timeline_row t = {.at = now};
    TRY(cst_copy(t.incident_id, sizeof(t.incident_id), incident_id));
    TRY(cst_copy(t.actor, sizeof(t.actor), req->who.user.id));
    ENSURE(cst_copy(t.entry, sizeof(t.entry), entry) == CST_OK, CST_ERR_INVALID,
           "field \"entry\" must be at most %d bytes", CST_INCIDENT_TEXT - 1);
    int64_t seq = 0;
    TRY(cst_store_timeline_add(n->store, req->work, &t, &seq));
    cst_audit_info(req, "timeline_seq", json_integer((json_int_t)seq));
    return CST_OK;
}

/* ---- operators (sys-security) ---- */

cst_err cst_api_sys_incident_create(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"title",   "severity",        "summary",
                                         "tenants", "data_categories", NULL};
    json_t *body = NULL;
    TRY(cst_api_body(req, fields, &body));
    cst_incident_row i;
    cst_err e = cst_incident_new(body, req->who.user.id, cst_now_us(), &i);
    json_decref(body);
    TRY(e);
    TRY(cst_store_incident_put(n->store, req->work, &i));
    cst_audit_info(req, "incident_id", json_string(i.id));
    cst_audit_info(req, "severity", json_string(i.severity));
    return respond(n, req, 201, &i);
}

struct listing {
    cst_node *n;
    cst_work *w;
    json_t *items;
};

static cst_err list_incident(const cst_incident_row *i, void *p)
{
    struct listing *l = p;
    json_t *o = NULL;
    TRY(incident_json(l->n, l->w, i, false, &o));
    json_array_append_new(l->items, o);
    return CST_OK;
}

cst_err cst_api_sys_incident_list(cst_node *n, cst_request *req)
{
    struct listing l = {n, req->work, json_array()};
    cst_err e = cst_store_incident_list(n->store, req->work, list_incident, &l);
    if (e != CST_OK) {
        json_decref(l.items);
        return e;
    }
    return cst_resp_json(req, 200, json_pack("{s:o,s:n}", "incidents", l.items, "next"));
}

cst_err cst_api_sys_incident_get(cst_node *n, cst_request *req)
{
    cst_incident_row i;
    TRY(load(n, req, &i));
    return respond(n, req, 200, &i);
}

cst_err cst_api_sys_incident_patch(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"owner",   "status",          "root_cause", "remediation",
                                         "tenants", "data_categories", NULL};
    cst_incident_row i;
    TRY(load(n, req, &i));
    json_t *body = NULL;
    TRY(cst_api_body(req, fields, &body));
    char from[16];
    memcpy(from, i.status, sizeof(from));
    cst_err e = json_object_size(body) ? CST_OK : cst_fail(CST_ERR_INVALID, "nothing to change");
    const char *owner = json_string_value(json_object_get(body, "owner"));
    if (e == CST_OK && owner) {
        /* the owner is an operator of this node */
        cst_user_row u;
        e = cst_id_valid(owner, "us") ? cst_store_user_get(n->store, req->work, owner, &u)
                                      : CST_ERR_NOT_FOUND;
        if (e == CST_ERR_NOT_FOUND || (e == CST_OK && strcmp(u.tenant_id, CST_SYS_TENANT) != 0))
            e = cst_fail(CST_ERR_INVALID, "field \"owner\" must be an operator's id");
    }
    if (e == CST_OK)
        e = cst_incident_patch(&i, body, cst_now_us());
    json_decref(body);
    TRY(e);
    TRY(cst_store_incident_put(n->store, req->work, &i));
    if (strcmp(from, i.status) != 0) {
        cst_audit_info(req, "from", json_string(from));
        cst_audit_info(req, "to", json_string(i.status));
    }
    return respond(n, req, 200, &i);
}

/* INC-1: the timeline is append-only: this is the only route that touches it. */
cst_err cst_api_sys_incident_timeline(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"entry", NULL};
    cst_incident_row i;
    TRY(load(n, req, &i));
    json_t *body = NULL;
    TRY(cst_api_body(req, fields, &body));
    const char *entry = NULL;
    cst_err e = cst_json_str(body, "entry", true, &entry);
    if (e == CST_OK && !entry[0])
        e = cst_fail(CST_ERR_INVALID, "field \"entry\" must not be empty");
    if (e == CST_OK)
        e = timeline_add(n, req, i.id, entry, cst_now_us());
    json_decref(body);
    TRY(e);
    return respond(n, req, 201, &i);
}

/* Adds tenant to the incident's list of affected tenants when missing. */
static cst_err add_tenant(cst_incident_row *i, const char *tenant)
{
    json_t *l = list_json(i->tenants);
    size_t k;
    json_t *v;
    bool have = false;
    json_array_foreach(l, k, v) have = have || !strcmp(json_string_value(v), tenant);
    if (!have)
        json_array_append_new(l, json_string(tenant));
    char *s = json_dumps(l, JSON_COMPACT);
    json_decref(l);
    ENSURE(s != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_copy(i->tenants, sizeof(i->tenants), s);
    cst_json_free_text(s);
    return e;
}

struct has_clock {
    const char *tenant;
    bool found;
    cst_clock_row row;
};

static cst_err find_clock(const cst_clock_row *c, void *p)
{
    struct has_clock *h = p;
    if (!strcmp(c->tenant_id, h->tenant)) {
        h->found = true;
        h->row = *c;
    }
    return CST_OK;
}

static cst_err clock_of(cst_node *n, cst_work *w, const char *incident, const char *tenant,
                        struct has_clock *h)
{
    memset(h, 0, sizeof(*h));
    h->tenant = tenant;
    return cst_store_clock_list(n->store, w, incident, find_clock, h);
}

/* INC-2: one clock per tenant, deadline = aware_at + the tenant's breach_notice_hours (never
 * more than incidents.max_notice_hours); a tenant's existing clock is kept. */
static cst_err start_clock(cst_node *n, cst_request *req, cst_incident_row *i, const char *tenant,
                           int64_t aware_at)
{
    cst_tenant_row t;
    cst_err e = cst_store_tenant_get(n->store, req->work, tenant, &t);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_INVALID, "field \"tenants\": no tenant %s", tenant);
    TRY(e);
    struct has_clock h;
    TRY(clock_of(n, req->work, i->id, tenant, &h));
    if (h.found)
        return CST_OK;
    cst_clock_row c = {.aware_at = aware_at};
    TRY(cst_copy(c.incident_id, sizeof(c.incident_id), i->id));
    TRY(cst_copy(c.tenant_id, sizeof(c.tenant_id), tenant));
    c.hours = cst_incident_notice_hours(t.settings, n->cfg.max_notice_hours);
    c.deadline = aware_at + (int64_t)c.hours * CST_HOUR_US;
    TRY(cst_store_clock_put(n->store, req->work, &c));
    return add_tenant(i, tenant);
}

cst_err cst_api_sys_incident_confirm(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"aware_at", "tenants", NULL};
    cst_incident_row i;
    TRY(load(n, req, &i));
    ENSURE(strcmp(i.status, "closed") != 0, CST_ERR_CONFLICT, "incident %s is closed", i.id);
    json_t *body = NULL;
    TRY(cst_api_body(req, fields, &body));
    int64_t now = cst_now_us(), aware_at = 0;
    const char *aware = NULL;
    json_t *tenants = json_object_get(body, "tenants");
    cst_err e = cst_json_str(body, "aware_at", true, &aware);
    if (e == CST_OK && !cst_time_parse(aware, &aware_at))
        e = cst_fail(CST_ERR_INVALID, "field \"aware_at\" must be an RFC 3339 UTC time");
    if (e == CST_OK && aware_at > now + 60 * 1000000LL)
        e = cst_fail(CST_ERR_INVALID, "field \"aware_at\" is in the future");
    if (e == CST_OK && !tenants)
        e = cst_fail(CST_ERR_INVALID, "field \"tenants\" is required");
    if (e == CST_OK)
        e = cst_incident_list_check(tenants, "tenants", CST_INCIDENT_TENANTS_MAX, CST_ID_MAX - 1,
                                    "tn");
    if (e == CST_OK && json_array_size(tenants) == 0)
        e = cst_fail(CST_ERR_INVALID, "field \"tenants\" must name at least one tenant");
    size_t k;
    json_t *v;
    json_array_foreach(tenants, k, v)
    {
        if (e == CST_OK)
            e = start_clock(n, req, &i, json_string_value(v), aware_at);
    }
    if (e == CST_OK) {
        if (!i.confirmed_at)
            i.confirmed_at = now;
        if (!i.aware_at || aware_at < i.aware_at)
            i.aware_at = aware_at;
        i.updated_at = now;
        char *list = json_dumps(tenants, JSON_COMPACT);
        char entry[CST_INCIDENT_LIST + 64];
        e = list ? cst_fmt(entry, sizeof(entry), "breach confirmed for %s", list)
                 : cst_fail(CST_ERR_INTERNAL, "out of memory");
        cst_json_free_text(list);
        if (e == CST_OK)
            e = timeline_add(n, req, i.id, entry, now);
    }
    if (e == CST_OK)
        e = cst_store_incident_put(n->store, req->work, &i);
    if (e == CST_OK)
        cst_audit_info(req, "tenants", json_incref(tenants));
    json_decref(body);
    TRY(e);
    return respond(n, req, 200, &i);
}

struct versions {
    const char *tenant;
    int max;
};

static cst_err count_version(const cst_notice_row *nt, void *p)
{
    struct versions *v = p;
    if (!strcmp(nt->tenant_id, v->tenant) && nt->version > v->max)
        v->max = nt->version;
    return CST_OK;
}

/* The stored document of a notice: its contents, the time of awareness, the tenant's notice
 * contacts and what custodia pre-filled. */
static cst_err notice_document(cst_node *n, cst_request *req, const cst_incident_row *i,
                               const cst_clock_row *c, json_t *content, int64_t now,
                               cst_notice_row *nt)
{
    cst_tenant_row t;
    TRY(cst_store_tenant_get(n->store, req->work, c->tenant_id, &t));
    json_t *settings = json_loads(t.settings[0] ? t.settings : "{}", 0, NULL);
    json_t *contacts = json_object_get(settings, "notice_contacts");
    json_object_set_new(content, "aware_at", cst_json_time(c->aware_at));
    json_object_set_new(content, "notice_contacts",
                        json_is_array(contacts) ? json_incref(contacts) : json_array());
    json_decref(settings);
    json_t *prefill = NULL;
    TRY(cst_incident_prefill(n, req->work, i, c->tenant_id, now, &prefill));
    json_object_set_new(content, "prefilled", prefill);
    char *s = json_dumps(content, JSON_COMPACT | JSON_SORT_KEYS);
    ENSURE(s != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_copy(nt->document, sizeof(nt->document), s);
    cst_json_free_text(s);
    ENSURE(e == CST_OK, CST_ERR_INVALID, "the notice is too large");
    return CST_OK;
}

/* INC-3: a notice (or a new version of one) to an affected tenant. */
cst_err cst_api_sys_notice_create(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"tenant",
                                         "nature",
                                         "probable_cause",
                                         "data_categories",
                                         "approx_subjects",
                                         "approx_records",
                                         "likely_consequences",
                                         "measures_taken",
                                         "measures_proposed",
                                         "contact_point",
                                         "unauthorized_recipients",
                                         "delay_reason",
                                         NULL};
    cst_incident_row i;
    TRY(load(n, req, &i));
    json_t *body = NULL, *content = NULL;
    TRY(cst_api_body(req, fields, &body));
    const char *tenant = NULL;
    struct has_clock h = {0};
    int64_t now = cst_now_us();
    cst_err e = cst_json_str(body, "tenant", true, &tenant);
    if (e == CST_OK && !cst_id_valid(tenant, "tn"))
        e = cst_fail(CST_ERR_INVALID, "field \"tenant\" must be a tenant id");
    if (e == CST_OK)
        e = clock_of(n, req->work, i.id, tenant, &h);
    if (e == CST_OK && !h.found)
        e = cst_fail(CST_ERR_CONFLICT,
                     "no breach is confirmed for tenant %s in this incident: confirm-breach first",
                     tenant);
    if (e == CST_OK)
        e = cst_notice_check(body, h.row.deadline, now, &content);
    cst_notice_row *nt = NULL;
    if (e == CST_OK && !(nt = calloc(1, sizeof(*nt))))
        e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    struct versions v = {tenant, 0};
    if (e == CST_OK)
        e = cst_store_notice_list(n->store, req->work, i.id, tenant, count_version, &v);
    if (e == CST_OK)
        e = notice_document(n, req, &i, &h.row, content, now, nt);
    if (e == CST_OK) {
        cst_random_id("nt", nt->id);
        memcpy(nt->incident_id, i.id, sizeof(nt->incident_id));
        memcpy(nt->tenant_id, h.row.tenant_id, sizeof(nt->tenant_id));
        memcpy(nt->sent_by, req->who.user.id, sizeof(nt->sent_by));
        nt->version = v.max + 1;
        nt->sent_at = now;
        nt->deadline = h.row.deadline;
        strcpy(nt->decision, "pending");
        e = cst_store_notice_add(n->store, req->work, nt);
    }
    if (e == CST_OK) {
        memcpy(h.row.notice_id, nt->id, sizeof(h.row.notice_id));
        if (!h.row.sent_at)
            h.row.sent_at = now;
        e = cst_store_clock_put(n->store, req->work, &h.row);
    }
    if (e ==
        CST_OK) /* to the tenant's webhook and notice contacts, with the notice or not at all */
        e = cst_incident_notice_deliver(n, req->work, notice_json(nt), now);
    if (e == CST_OK) {
        /* LOG-4: the tenant's own trail shows the notice */
        memcpy(req->audit_tenant, nt->tenant_id, sizeof(req->audit_tenant));
        cst_audit_info(req, "notice_id", json_string(nt->id));
        cst_audit_info(req, "version", json_integer(nt->version));
        cst_audit_info(req, "late", json_boolean(now > nt->deadline));
        e = respond_notice(n, req, 201, nt);
    }
    free(nt);
    json_decref(content);
    json_decref(body);
    return e;
}

/* ---- the tenant (owner, admin, auditor; deciding: owner, admin) ---- */

cst_err cst_api_notice_list(cst_node *n, cst_request *req)
{
    json_t *arr = json_array();
    cst_err e =
        cst_store_notice_list(n->store, req->work, NULL, req->who.tenant.id, add_notice, arr);
    if (e != CST_OK) {
        json_decref(arr);
        return e;
    }
    return cst_resp_json(req, 200, json_pack("{s:o,s:n}", "notices", arr, "next"));
}

/* ISO-1: a notice of another tenant does not exist for this one. */
static cst_err load_notice(cst_node *n, cst_request *req, cst_notice_row *nt)
{
    const char *id = req->params[0];
    ENSURE(cst_id_valid(id, "nt"), CST_ERR_NOT_FOUND, "no such notice");
    cst_err e = cst_store_notice_get(n->store, req->work, id, nt);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_NOT_FOUND, "no such notice");
    TRY(e);
    ENSURE(strcmp(nt->tenant_id, req->who.tenant.id) == 0, CST_ERR_NOT_FOUND, "no such notice");
    cst_audit_info(req, "notice_id", json_string(id));
    return CST_OK;
}

cst_err cst_api_notice_get(cst_node *n, cst_request *req)
{
    cst_notice_row *nt = calloc(1, sizeof(*nt));
    ENSURE(nt != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = load_notice(n, req, nt);
    if (e == CST_OK)
        e = respond_notice(n, req, 200, nt);
    free(nt);
    return e;
}

/* INC-4: the tenant approves or declines notifying its own users or regulators; recorded on
 * the notice and in the request's audit entry. */
cst_err cst_api_notice_decide(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"decision", "comment", NULL};
    json_t *body = NULL;
    TRY(cst_api_body(req, fields, &body));
    cst_notice_row *nt = calloc(1, sizeof(*nt));
    const char *decision = NULL, *comment = NULL;
    cst_err e = nt ? CST_OK : cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (e == CST_OK)
        e = cst_json_str(body, "decision", true, &decision);
    if (e == CST_OK)
        e = cst_json_str(body, "comment", false, &comment);
    if (e == CST_OK && !cst_notice_decision(decision))
        e = cst_fail(CST_ERR_INVALID, "field \"decision\" must be approve or decline");
    if (e == CST_OK)
        e = load_notice(n, req, nt);
    if (e == CST_OK && comment && cst_copy(nt->comment, sizeof(nt->comment), comment) != CST_OK)
        e = cst_fail(CST_ERR_INVALID, "field \"comment\" must be at most %zu bytes",
                     sizeof(nt->comment) - 1);
    if (e == CST_OK) {
        strcpy(nt->decision, cst_notice_decision(decision));
        memcpy(nt->decided_by, req->who.user.id, sizeof(nt->decided_by));
        nt->decided_at = cst_now_us();
        e = cst_store_notice_decide(n->store, req->work, nt);
    }
    if (e == CST_OK) {
        cst_audit_info(req, "decision", json_string(nt->decision));
        e = cst_resp_json(req, 200, notice_json(nt));
    }
    free(nt);
    json_decref(body);
    return e;
}
