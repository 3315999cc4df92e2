/* incident.c: incidents, breach clocks and notices: validation, the status machine and the
 * required contents of a notice (INC-1..4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/incident.h"
#include "util/json.h"
#include "util/util.h"

static const char *const severities[] = {"low", "medium", "high", "critical", NULL};

/* INC-1: the status machine, one row per move allowed. */
static const struct {
    const char *from, *to;
} transitions[] = {
    {"open", "contained"},     {"open", "resolved"}, {"contained", "open"},
    {"contained", "resolved"}, {"resolved", "open"}, {"resolved", "closed"},
};

bool cst_incident_transition_ok(const char *from, const char *to)
{
    for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++)
        if (!strcmp(transitions[i].from, from) && !strcmp(transitions[i].to, to))
            return true;
    return false;
}

static bool one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(s, *set))
            return true;
    return false;
}

/* A text member: when present, 1..size-1 bytes (title: no control characters), copied into
 * out. */
static cst_err text(const json_t *body, const char *key, bool required, char *out, size_t size)
{
    const char *v;
    TRY(cst_json_str(body, key, required, &v));
    if (!v)
        return CST_OK;
    ENSURE(*v && strlen(v) < size, CST_ERR_INVALID, "field \"%s\" must be 1 to %zu bytes", key,
           size - 1);
    ENSURE(strcmp(key, "title") != 0 || !cst_has_control((const uint8_t *)v, strlen(v)),
           CST_ERR_INVALID, "field \"title\" must not contain control characters");
    return cst_copy(out, size, v);
}

cst_err cst_incident_list_check(const json_t *v, const char *field, size_t max, size_t max_len,
                                const char *prefix)
{
    ENSURE(json_is_array(v) && json_array_size(v) <= max, CST_ERR_INVALID,
           "field \"%s\" must be an array of at most %zu strings", field, max);
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s)
    {
        const char *t = json_string_value(s);
        ENSURE(t && *t && strlen(t) <= max_len && !cst_has_control((const uint8_t *)t, strlen(t)),
               CST_ERR_INVALID, "field \"%s\" must hold strings of 1 to %zu bytes", field, max_len);
        ENSURE(!prefix || cst_id_valid(t, prefix), CST_ERR_INVALID,
               "field \"%s\": \"%s\" is not an id of the form %s_<20 hex digits>", field, t,
               prefix);
    }
    return CST_OK;
}

/* A list member (tenants, data_categories): checked and stored as compact JSON. */
static cst_err list(const json_t *body, const char *key, size_t max, size_t max_len,
                    const char *prefix, char *out, size_t size)
{
    json_t *v = json_object_get(body, key);
    if (!v)
        return CST_OK;
    TRY(cst_incident_list_check(v, key, max, max_len, prefix));
    char *s = json_dumps(v, JSON_COMPACT);
    ENSURE(s != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_copy(out, size, s);
    cst_json_free_text(s);
    ENSURE(e == CST_OK, CST_ERR_INVALID, "field \"%s\" is too long", key);
    return CST_OK;
}

static cst_err lists(const json_t *body, cst_incident_row *i)
{
    TRY(list(body, "tenants", CST_INCIDENT_TENANTS_MAX, CST_ID_MAX - 1, "tn", i->tenants,
             sizeof(i->tenants)));
    return list(body, "data_categories", CST_INCIDENT_CATEGORIES_MAX, 64, NULL, i->data_categories,
                sizeof(i->data_categories));
}

cst_err cst_incident_new(const json_t *body, const char *owner, int64_t now, cst_incident_row *out)
{
    memset(out, 0, sizeof(*out));
    TRY(text(body, "title", true, out->title, sizeof(out->title)));
    TRY(text(body, "severity", true, out->severity, sizeof(out->severity)));
    ENSURE(one_of(out->severity, severities), CST_ERR_INVALID,
           "field \"severity\" must be low, medium, high or critical");
    TRY(text(body, "summary", true, out->summary, sizeof(out->summary)));
    strcpy(out->tenants, "[]");
    strcpy(out->data_categories, "[]");
    TRY(lists(body, out));
    TRY(cst_copy(out->owner, sizeof(out->owner), owner));
    TRY(cst_copy(out->status, sizeof(out->status), "open"));
    cst_random_id("in", out->id);
    out->created_at = out->updated_at = now;
    return CST_OK;
}

cst_err cst_incident_patch(cst_incident_row *i, const json_t *change, int64_t now)
{
    ENSURE(strcmp(i->status, "closed") != 0, CST_ERR_CONFLICT,
           "incident %s is closed: it no longer changes", i->id);
    cst_incident_row next = *i;
    TRY(text(change, "owner", false, next.owner, sizeof(next.owner)));
    TRY(text(change, "root_cause", false, next.root_cause, sizeof(next.root_cause)));
    TRY(text(change, "remediation", false, next.remediation, sizeof(next.remediation)));
    TRY(lists(change, &next));
    const char *status;
    TRY(cst_json_str(change, "status", false, &status));
    if (status && strcmp(status, i->status) != 0) {
        ENSURE(
            one_of(status, (const char *const[]){"open", "contained", "resolved", "closed", NULL}),
            CST_ERR_INVALID, "field \"status\" must be open, contained, resolved or closed");
        ENSURE(cst_incident_transition_ok(i->status, status), CST_ERR_CONFLICT,
               "an incident cannot go from %s to %s", i->status, status);
        /* INC-1: an incident is closed only with what caused it and what was done */
        ENSURE(strcmp(status, "closed") != 0 || next.root_cause[0], CST_ERR_INVALID,
               "closing an incident needs its root_cause");
        ENSURE(strcmp(status, "closed") != 0 || next.remediation[0], CST_ERR_INVALID,
               "closing an incident needs its remediation");
        TRY(cst_copy(next.status, sizeof(next.status), status));
        if (!strcmp(status, "closed"))
            next.closed_at = now;
    }
    next.updated_at = now;
    *i = next;
    return CST_OK;
}

int cst_incident_notice_hours(const char *settings_json, int max_hours)
{
    int hours = CST_NOTICE_HOURS_DEFAULT;
    json_t *o = json_loads(settings_json && *settings_json ? settings_json : "{}", 0, NULL);
    json_t *h = json_object_get(o, "breach_notice_hours");
    if (json_is_integer(h) && json_integer_value(h) > 0 && json_integer_value(h) <= 24 * 365)
        hours = (int)json_integer_value(h);
    json_decref(o);
    return hours < max_hours ? hours : max_hours;
}

cst_err cst_incident_settings_check(const json_t *change, int max_hours)
{
    int64_t hours;
    bool present;
    TRY(cst_json_int(change, "breach_notice_hours", false, &hours, &present));
    ENSURE(!present || (hours >= 24 && hours <= max_hours), CST_ERR_INVALID,
           "breach_notice_hours must be from 24 to %d (the node's incidents.max_notice_hours)",
           max_hours);
    json_t *contacts = json_object_get(change, "notice_contacts");
    if (!contacts)
        return CST_OK;
    TRY(cst_incident_list_check(contacts, "notice_contacts", CST_NOTICE_CONTACTS_MAX, 254, NULL));
    size_t i;
    json_t *v;
    json_array_foreach(contacts, i, v)
    {
        const char *s = json_string_value(v), *at = strchr(s, '@');
        ENSURE(at && at != s && at[1] && !strchr(at + 1, '@') && !strchr(s, ' '), CST_ERR_INVALID,
               "notice_contacts: \"%s\" is not an email address", s);
    }
    return CST_OK;
}

const char *cst_clock_status(const cst_clock_row *c, int64_t now)
{
    if (c->sent_at)
        return "sent";
    return now > c->deadline ? "overdue" : "due";
}

bool cst_clock_due_soon(const cst_clock_row *c, int64_t now)
{
    return !c->sent_at && now >= c->deadline - CST_NOTICE_DUE_SOON_US;
}

/* SPEC §11: GDPR Art. 33(3) contents, in the order a notice shows them. */
const cst_notice_field cst_notice_fields[] = {
    {"nature", CST_NOTICE_TEXT, true, "Nature of the breach"},
    {"probable_cause", CST_NOTICE_TEXT, true, "Probable cause"},
    {"data_categories", CST_NOTICE_LIST, true, "Categories of data concerned"},
    {"approx_subjects", CST_NOTICE_COUNT, true, "Data subjects concerned (approximately)"},
    {"approx_records", CST_NOTICE_COUNT, true, "Records concerned (approximately)"},
    {"likely_consequences", CST_NOTICE_TEXT, true, "Likely consequences"},
    {"measures_taken", CST_NOTICE_TEXT, true, "Measures taken"},
    {"measures_proposed", CST_NOTICE_TEXT, false, "Measures proposed"},
    {"contact_point", CST_NOTICE_TEXT, true, "Contact point"},
    {"unauthorized_recipients", CST_NOTICE_TEXT, false, "Unauthorised recipients"},
    {"delay_reason", CST_NOTICE_TEXT, false,
     "Reason for the delay"}, /* required past the deadline */
};
const size_t cst_notice_field_count = sizeof(cst_notice_fields) / sizeof(cst_notice_fields[0]);

static cst_err notice_field(const json_t *body, const cst_notice_field *f, bool required)
{
    json_t *v = json_object_get(body, f->name);
    ENSURE(v || !required, CST_ERR_INVALID, "field \"%s\" is required in a notice", f->name);
    if (!v)
        return CST_OK;
    switch (f->kind) {
    case CST_NOTICE_TEXT: {
        const char *s = json_string_value(v);
        ENSURE(s && *s && strlen(s) < CST_INCIDENT_TEXT, CST_ERR_INVALID,
               "field \"%s\" must be a string of 1 to %d bytes", f->name, CST_INCIDENT_TEXT - 1);
        return CST_OK;
    }
    case CST_NOTICE_COUNT:
        ENSURE(json_is_integer(v) && json_integer_value(v) >= 0, CST_ERR_INVALID,
               "field \"%s\" must be a number from 0", f->name);
        return CST_OK;
    case CST_NOTICE_LIST:
        TRY(cst_incident_list_check(v, f->name, CST_INCIDENT_CATEGORIES_MAX, 64, NULL));
        ENSURE(json_array_size(v) > 0, CST_ERR_INVALID, "field \"%s\" must not be empty", f->name);
        return CST_OK;
    default:
        return cst_fail(CST_ERR_INTERNAL, "unknown notice field kind");
    }
}

cst_err cst_notice_check(const json_t *body, int64_t deadline, int64_t now, json_t **content)
{
    *content = NULL;
    for (size_t i = 0; i < cst_notice_field_count; i++) {
        const cst_notice_field *f = &cst_notice_fields[i];
        bool late = !strcmp(f->name, "delay_reason") && now > deadline;
        TRY(notice_field(body, f, f->required || late));
    }
    json_t *o = json_object();
    ENSURE(o != NULL, CST_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < cst_notice_field_count; i++) {
        json_t *v = json_object_get(body, cst_notice_fields[i].name);
        if (v)
            json_object_set(o, cst_notice_fields[i].name, v);
    }
    *content = o;
    return CST_OK;
}

#define WRAP 76 /* columns of the notice's text: an email line stays far below 998 octets */

/* s indented by two spaces, its lines (LF, CRLF or CR) wrapped at WRAP bytes on a space, or
 * within a word that long on a UTF-8 character boundary. */
static void wrapped(FILE *f, const char *s)
{
    while (*s) {
        const char *p = s, *end = s + strcspn(s, "\r\n");
        do {
            size_t take = (size_t)(end - p);
            if (take > WRAP) {
                size_t sp = WRAP;
                while (sp > 0 && p[sp] != ' ')
                    sp--;
                take = sp ? sp : WRAP;
                while (!sp && take > 1 && ((unsigned char)p[take] & 0xC0) == 0x80)
                    take--;
            }
            fprintf(f, "  %.*s\n", (int)take, p);
            p += take;
            while (p < end && *p == ' ')
                p++;
        } while (p < end);
        s = end;
        if (*s == '\r')
            s++;
        if (*s == '\n')
            s++;
    }
}

/* One "Label: value" paragraph of the notice's text; nothing when the field is absent. */
static void text_field(FILE *f, const char *label, const json_t *v)
{
    if (json_is_string(v)) {
        fprintf(f, "%s:\n", label);
        wrapped(f, json_string_value(v));
        fprintf(f, "\n");
    } else if (json_is_integer(v)) {
        fprintf(f, "%s: %lld\n\n", label, (long long)json_integer_value(v));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        fprintf(f, "%s:\n", label);
        json_array_foreach(v, i, x)
        {
            if (json_is_string(x))
                wrapped(f, json_string_value(x));
        }
        fprintf(f, "\n");
    }
}

static const char *member(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

cst_err cst_notice_text(const json_t *notice, char **out)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ENSURE(f, CST_ERR_INTERNAL, "out of memory");
    const json_t *prefilled = json_object_get(notice, "prefilled");
    fprintf(f,
            "custodia breach notice %s, version %lld, about incident %s, to tenant %s.\n"
            "Sent %s; due %s.\n\n",
            member(notice, "id"), (long long)json_integer_value(json_object_get(notice, "version")),
            member(notice, "incident_id"), member(notice, "tenant"), member(notice, "sent_at"),
            member(notice, "deadline"));
    text_field(f, "Time of awareness", json_object_get(notice, "aware_at"));
    for (size_t i = 0; i < cst_notice_field_count; i++)
        text_field(f, cst_notice_fields[i].label,
                   json_object_get(notice, cst_notice_fields[i].name));
    text_field(f, "Records held for the tenant at sending",
               json_object_get(json_object_get(prefilled, "records"), "total"));
    const char *id = member(notice, "id");
    fprintf(f,
            "The full notice, with what custodia pre-filled (record counts per bucket,\n"
            "whether the data was encrypted under keys that were not exposed, the audit\n"
            "entries of the incident's window), is at GET /v1/notices/%s\n"
            "for the tenant's owners, admins and auditors. They also decide there whether\n"
            "the tenant's own users or regulators are told:\n"
            "POST /v1/notices/%s/approve-user-notice\n",
            id, id);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        free(text);
        return cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    *out = text;
    return CST_OK;
}

const char *cst_notice_decision(const char *decision)
{
    if (decision && !strcmp(decision, "approve"))
        return "approved";
    if (decision && !strcmp(decision, "decline"))
        return "declined";
    return NULL;
}
