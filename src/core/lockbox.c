/* lockbox.c: the rules of operator access to tenant data (IAM-8): one transition table for the
 * states of an access request, the scope a grant may hold, its durations, the approvals (never
 * the requester, one or two distinct people, shortening only) and break-glass. */
#include "core/lockbox.h"

#include <ctype.h>
#include <string.h>

#include "core/authz.h"
#include "util/json.h"
#include "util/util.h"

static const char *const state_names[CST_LOCKBOX__STATES] = {
    [CST_LOCKBOX_PENDING] = "pending", [CST_LOCKBOX_APPROVED] = "approved",
    [CST_LOCKBOX_DENIED] = "denied",   [CST_LOCKBOX_EXPIRED] = "expired",
    [CST_LOCKBOX_REVOKED] = "revoked", [CST_LOCKBOX_USED_UP] = "used_up",
};

#define NONE CST_LOCKBOX__STATES
/* IAM-8: the state machine. denied, expired, revoked and used_up are final. */
static const cst_lockbox_state transitions[CST_LOCKBOX__STATES][CST_LOCKBOX__EVENTS] = {
    [CST_LOCKBOX_PENDING] = {[CST_LOCKBOX_EV_APPROVE] = CST_LOCKBOX_APPROVED,
                             [CST_LOCKBOX_EV_DENY] = CST_LOCKBOX_DENIED,
                             [CST_LOCKBOX_EV_REVOKE] = NONE,
                             [CST_LOCKBOX_EV_EXPIRE] = CST_LOCKBOX_EXPIRED,
                             [CST_LOCKBOX_EV_USED_UP] = NONE},
    [CST_LOCKBOX_APPROVED] = {[CST_LOCKBOX_EV_APPROVE] = NONE,
                              [CST_LOCKBOX_EV_DENY] = NONE,
                              [CST_LOCKBOX_EV_REVOKE] = CST_LOCKBOX_REVOKED,
                              [CST_LOCKBOX_EV_EXPIRE] = CST_LOCKBOX_EXPIRED,
                              [CST_LOCKBOX_EV_USED_UP] = CST_LOCKBOX_USED_UP},
    [CST_LOCKBOX_DENIED] = {NONE, NONE, NONE, NONE, NONE},
    [CST_LOCKBOX_EXPIRED] = {NONE, NONE, NONE, NONE, NONE},
    [CST_LOCKBOX_REVOKED] = {NONE, NONE, NONE, NONE, NONE},
    [CST_LOCKBOX_USED_UP] = {NONE, NONE, NONE, NONE, NONE},
};

static const char *const reasons[] = {"customer_support", "service_incident", "legal_request"};

cst_lockbox_state cst_lockbox_state_parse(const char *name)
{
    for (int s = 0; s < CST_LOCKBOX__STATES; s++)
        if (name && strcmp(name, state_names[s]) == 0)
            return (cst_lockbox_state)s;
    return NONE;
}

const char *cst_lockbox_state_name(cst_lockbox_state s)
{
    return s >= 0 && s < CST_LOCKBOX__STATES ? state_names[s] : "unknown";
}

cst_lockbox_state cst_lockbox_next(cst_lockbox_state from, cst_lockbox_event ev)
{
    if (from < 0 || from >= CST_LOCKBOX__STATES || ev < 0 || ev >= CST_LOCKBOX__EVENTS)
        return NONE;
    return transitions[from][ev];
}

cst_err cst_lockbox_apply(cst_access_row *a, cst_lockbox_event ev)
{
    cst_lockbox_state to = cst_lockbox_next(cst_lockbox_state_parse(a->state), ev);
    ENSURE(to != NONE, CST_ERR_CONFLICT, "the access request is %s", a->state);
    return cst_copy(a->state, sizeof(a->state), state_names[to]);
}

bool cst_lockbox_tick(cst_access_row *a, int64_t now)
{
    cst_lockbox_state s = cst_lockbox_state_parse(a->state);
    cst_lockbox_event ev;
    if (s == CST_LOCKBOX_PENDING && now >= a->expires_at)
        ev = CST_LOCKBOX_EV_EXPIRE;
    else if (s == CST_LOCKBOX_APPROVED && now >= a->window_until)
        ev = a->token_id[0] ? CST_LOCKBOX_EV_USED_UP : CST_LOCKBOX_EV_EXPIRE;
    else
        return false;
    if (cst_lockbox_apply(a, ev) != CST_OK) {
        cst_err_clear();
        return false;
    }
    return true;
}

static bool window_open(const char *state, int64_t from, int64_t until, int64_t now)
{
    return cst_lockbox_state_parse(state) == CST_LOCKBOX_APPROVED && from <= now && now < until;
}

bool cst_lockbox_open(const cst_access_row *a, int64_t now)
{
    return window_open(a->state, a->window_from, a->window_until, now);
}

void cst_lockbox_grant_of(const cst_access_row *a, cst_grant *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->id, a->id, sizeof(out->id));
    memcpy(out->state, a->state, sizeof(out->state));
    out->perms = a->perms;
    out->window_from = a->window_from;
    out->window_until = a->window_until;
    out->break_glass = a->break_glass;
    memcpy(out->justification, a->justification, sizeof(out->justification));
}

bool cst_lockbox_grant_open(const cst_grant *g, int64_t now)
{
    return window_open(g->state, g->window_from, g->window_until, now);
}

/* ---- scope ---- */

#define P(x) CST_PERM_BIT(CST_PERM_##x)
/* IAM-8: read rights, and the two data rights a request may name; never users.admin,
 * tenant.admin (users, tokens, settings, webhook secrets) nor any operator right. */
#define SCOPE_ALLOWED                                                                              \
    (P(TENANT_READ) | P(RECORDS_READ) | P(AUDIT_READ) | P(RECORDS_WRITE) | P(BUCKETS_ADMIN))

cst_err cst_lockbox_scope_parse(const json_t *scope, cst_access_row *a)
{
    ENSURE(json_is_object(scope), CST_ERR_INVALID,
           "field \"scope\" must be {permissions: [...], buckets: [...] or \"*\"}");
    TRY(cst_json_only(scope, (const char *const[]){"permissions", "buckets", NULL}));
    uint32_t perms = 0;
    TRY(cst_perms_parse(json_object_get(scope, "permissions"), &perms));
    ENSURE(perms != 0, CST_ERR_INVALID, "field \"scope.permissions\" must name at least one");
    uint32_t wider = perms & ~(uint32_t)SCOPE_ALLOWED;
    if (wider) {
        json_t *names = cst_perms_json(wider);
        char *text = json_dumps(names, JSON_COMPACT);
        json_decref(names);
        cst_err e = cst_fail(CST_ERR_INVALID,
                             "a lockbox scope holds read rights, records.write and buckets.admin "
                             "at most, never %s",
                             text ? text : "?");
        cst_json_free_text(text);
        return e;
    }
    const json_t *b = json_object_get(scope, "buckets");
    json_t *all = NULL;
    if (json_is_string(b) && strcmp(json_string_value(b), "*") == 0)
        b = all = json_pack("[s]", "*");
    ENSURE(b, CST_ERR_INVALID, "field \"scope.buckets\" must be an array of names or \"*\"");
    cst_err e = json_array_size(b) > 0
                    ? cst_grants_parse(b, a->buckets)
                    : cst_fail(CST_ERR_INVALID, "field \"scope.buckets\" must name at least one");
    json_decref(all);
    TRY(e);
    a->perms = perms;
    return CST_OK;
}

json_t *cst_lockbox_scope_json(const cst_access_row *a)
{
    json_t *b = json_loads(a->buckets[0] ? a->buckets : "[]", 0, NULL);
    if (!json_is_array(b)) {
        json_decref(b);
        b = json_array();
    }
    return json_pack("{s:o,s:o}", "permissions", cst_perms_json(a->perms), "buckets", b);
}

/* ---- requests ---- */

static cst_err text_field(const json_t *body, const char *key, bool required, char *out,
                          size_t size)
{
    const char *v = NULL;
    TRY(cst_json_str(body, key, required, &v));
    if (!v)
        return CST_OK;
    ENSURE(!required || v[0], CST_ERR_INVALID, "field \"%s\" must not be empty", key);
    ENSURE(strlen(v) < size, CST_ERR_INVALID, "field \"%s\" must be at most %zu bytes", key,
           size - 1);
    return cst_copy(out, size, v);
}

/* The duration asked (absent: the default), from min to max seconds. */
static cst_err duration_field(const json_t *body, int64_t def, int64_t max, int64_t *out)
{
    bool present;
    int64_t v = 0;
    TRY(cst_json_int(body, "duration_seconds", false, &v, &present));
    *out = present ? v : def;
    ENSURE(*out >= CST_LOCKBOX_GRANT_MIN_S && *out <= max, CST_ERR_INVALID,
           "field \"duration_seconds\" must be from %d to %lld", CST_LOCKBOX_GRANT_MIN_S,
           (long long)max);
    return CST_OK;
}

/* What a request and a break-glass share: the requester, the tenant, the scope. */
static cst_err request_base(const json_t *body, const char *tenant_id, const char *requester_id,
                            const char *requester_name, int64_t now, cst_access_row *out)
{
    memset(out, 0, sizeof(*out));
    cst_random_id("ar", out->id);
    TRY(cst_copy(out->tenant_id, sizeof(out->tenant_id), tenant_id));
    TRY(cst_copy(out->requester, sizeof(out->requester), requester_id));
    TRY(cst_copy(out->requester_name, sizeof(out->requester_name), requester_name));
    TRY(text_field(body, "justification", true, out->justification, sizeof(out->justification)));
    TRY(cst_lockbox_scope_parse(json_object_get(body, "scope"), out));
    TRY(cst_copy(out->approvals, sizeof(out->approvals), "[]"));
    TRY(cst_copy(out->review_state, sizeof(out->review_state), "none"));
    out->created_at = now;
    return CST_OK;
}

cst_err cst_lockbox_request_new(const json_t *body, const char *tenant_id, const char *requester_id,
                                const char *requester_name, int64_t now, cst_access_row *out)
{
    TRY(request_base(body, tenant_id, requester_id, requester_name, now, out));
    TRY(text_field(body, "reason", true, out->reason, sizeof(out->reason)));
    bool known = false;
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        known |= strcmp(out->reason, reasons[i]) == 0;
    ENSURE(known, CST_ERR_INVALID,
           "field \"reason\" must be customer_support, service_incident or legal_request");
    TRY(text_field(body, "ticket", false, out->ticket, sizeof(out->ticket)));
    TRY(duration_field(body, CST_LOCKBOX_GRANT_DEFAULT_S, CST_LOCKBOX_GRANT_MAX_S,
                       &out->duration_seconds));
    out->expires_at = now + CST_LOCKBOX_PENDING_US;
    return cst_copy(out->state, sizeof(out->state), "pending");
}

cst_err cst_lockbox_break_glass_new(const json_t *body, const char *tenant_id,
                                    const char *requester_id, const char *requester_name,
                                    int64_t now, cst_access_row *out)
{
    TRY(request_base(body, tenant_id, requester_id, requester_name, now, out));
    TRY(cst_copy(out->reason, sizeof(out->reason), "service_incident"));
    TRY(duration_field(body, CST_LOCKBOX_BREAK_GLASS_MAX_S, CST_LOCKBOX_BREAK_GLASS_MAX_S,
                       &out->duration_seconds));
    out->break_glass = true;
    out->window_from = now;
    out->window_until = out->expires_at = now + out->duration_seconds * 1000000;
    TRY(cst_copy(out->review_state, sizeof(out->review_state), "review_pending"));
    return cst_copy(out->state, sizeof(out->state), "approved");
}

/* ---- who may decide ---- */

/* A username normalised for the same-person rule: trimmed, case folded, "+tag" dropped from an
 * email address's local part. */
static void person_key(const char *name, char *out, size_t size)
{
    while (*name == ' ' || *name == '\t')
        name++;
    const char *at = strchr(name, '@');
    size_t o = 0;
    bool tag = false;
    for (const char *c = name; *c && o + 1 < size; c++) {
        if (at && c < at && *c == '+')
            tag = true;
        if (c == at)
            tag = false;
        if (!tag)
            out[o++] = (char)tolower((unsigned char)*c);
    }
    while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
        o--;
    out[o] = '\0';
}

bool cst_lockbox_same_person(const char *op_id, const char *op_name, const char *user_id,
                             const char *user_name)
{
    if (op_id && user_id && op_id[0] && strcmp(op_id, user_id) == 0)
        return true;
    char a[CST_NAME_MAX + 1], b[CST_NAME_MAX + 1];
    person_key(op_name ? op_name : "", a, sizeof(a));
    person_key(user_name ? user_name : "", b, sizeof(b));
    return a[0] && strcmp(a, b) == 0;
}

int cst_lockbox_approvals_required(const char *settings_json)
{
    json_t *s = json_loads(settings_json && settings_json[0] ? settings_json : "{}", 0, NULL);
    json_int_t v = json_integer_value(json_object_get(s, "lockbox_approvals"));
    json_decref(s);
    return v == 2 ? 2 : 1;
}

cst_err cst_lockbox_settings_check(const json_t *change)
{
    const json_t *v = json_object_get(change, "lockbox_approvals");
    ENSURE(!v || (json_is_integer(v) && (json_integer_value(v) == 1 || json_integer_value(v) == 2)),
           CST_ERR_INVALID, "lockbox_approvals must be 1 or 2");
    return CST_OK;
}

cst_err cst_lockbox_approve(cst_access_row *a, const cst_lockbox_approver *who, int required,
                            int64_t now)
{
    cst_lockbox_tick(a, now);
    ENSURE(cst_lockbox_state_parse(a->state) == CST_LOCKBOX_PENDING, CST_ERR_CONFLICT,
           "the access request is %s", a->state);
    /* IAM-8: the requester never approves, even holding a tenant account. */
    ENSURE(!cst_lockbox_same_person(a->requester, a->requester_name, who->id, who->username),
           CST_ERR_FORBIDDEN, "the requester of an access request cannot approve it");
    ENSURE(who->duration_seconds == 0 || (who->duration_seconds >= CST_LOCKBOX_GRANT_MIN_S &&
                                          who->duration_seconds <= a->duration_seconds),
           CST_ERR_INVALID,
           "an approval may shorten the requested %lld seconds, never lengthen them (at least "
           "%d)",
           (long long)a->duration_seconds, CST_LOCKBOX_GRANT_MIN_S);
    json_t *list = json_loads(a->approvals[0] ? a->approvals : "[]", 0, NULL);
    ENSURE(json_is_array(list), CST_ERR_INTEGRITY, "damaged approvals");
    cst_err e = CST_OK;
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *by = json_string_value(json_object_get(v, "by"));
        const char *name = json_string_value(json_object_get(v, "username"));
        if (e == CST_OK && cst_lockbox_same_person(by, name, who->id, who->username))
            e = cst_fail(CST_ERR_CONFLICT, "a second approval must come from another person");
    }
    if (e == CST_OK)
        json_array_append_new(list, json_pack("{s:s,s:s,s:o,s:s}", "by", who->id, "username",
                                              who->username, "at", cst_json_time(now), "comment",
                                              who->comment ? who->comment : ""));
    char *text = e == CST_OK ? json_dumps(list, JSON_COMPACT) : NULL;
    size_t count = json_array_size(list);
    json_decref(list);
    if (e == CST_OK)
        e = text ? cst_copy(a->approvals, sizeof(a->approvals), text)
                 : cst_fail(CST_ERR_INTERNAL, "out of memory");
    cst_json_free_text(text);
    TRY(e);
    if (who->duration_seconds)
        a->duration_seconds = who->duration_seconds;
    if ((int)count < (required == 2 ? 2 : 1))
        return CST_OK;
    TRY(cst_lockbox_apply(a, CST_LOCKBOX_EV_APPROVE));
    a->window_from = now;
    a->window_until = a->expires_at = now + a->duration_seconds * 1000000;
    return CST_OK;
}

static cst_err decide(cst_access_row *a, cst_lockbox_event ev, const char *by, const char *comment,
                      int64_t now)
{
    cst_lockbox_tick(a, now);
    TRY(cst_lockbox_apply(a, ev));
    TRY(cst_copy(a->decided_by, sizeof(a->decided_by), by));
    ENSURE(cst_copy(a->decision_comment, sizeof(a->decision_comment), comment ? comment : "") ==
               CST_OK,
           CST_ERR_INVALID, "field \"comment\" must be at most %d bytes", CST_ACCESS_TEXT - 1);
    a->decided_at = now;
    if (ev == CST_LOCKBOX_EV_REVOKE)
        a->window_until = a->expires_at = now; /* the window ends at once */
    return CST_OK;
}

cst_err cst_lockbox_deny(cst_access_row *a, const char *by, const char *comment, int64_t now)
{
    return decide(a, CST_LOCKBOX_EV_DENY, by, comment, now);
}

cst_err cst_lockbox_revoke(cst_access_row *a, const char *by, int64_t now)
{
    return decide(a, CST_LOCKBOX_EV_REVOKE, by, "", now);
}

cst_err cst_lockbox_token_check(const cst_access_row *a, int64_t now)
{
    ENSURE(cst_lockbox_open(a, now), CST_ERR_CONFLICT,
           "the access request is not approved with an open window (it is %s)", a->state);
    ENSURE(!a->token_id[0], CST_ERR_CONFLICT, "the grant's credential was issued already");
    return CST_OK;
}

cst_err cst_lockbox_review(cst_access_row *a, const char *reviewer_id, const char *reviewer_name,
                           const char *comment, int64_t now)
{
    ENSURE(a->break_glass, CST_ERR_CONFLICT, "only a break-glass access is reviewed");
    ENSURE(strcmp(a->review_state, "review_pending") == 0, CST_ERR_CONFLICT,
           "the break-glass access was reviewed already");
    ENSURE(!cst_lockbox_same_person(a->requester, a->requester_name, reviewer_id, reviewer_name),
           CST_ERR_FORBIDDEN,
           "a break-glass access is reviewed by another operator than the one who used it");
    ENSURE(comment && comment[0], CST_ERR_INVALID, "field \"comment\" is required");
    ENSURE(cst_copy(a->review_comment, sizeof(a->review_comment), comment) == CST_OK,
           CST_ERR_INVALID, "field \"comment\" must be at most %d bytes", CST_ACCESS_TEXT - 1);
    TRY(cst_copy(a->reviewed_by, sizeof(a->reviewed_by), reviewer_id));
    a->reviewed_at = now;
    return cst_copy(a->review_state, sizeof(a->review_state), "reviewed");
}

/* ---- rendering ---- */

static json_t *text_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

static json_t *approvals_json(const cst_access_row *a)
{
    json_t *l = json_loads(a->approvals[0] ? a->approvals : "[]", 0, NULL);
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(l, i, v)
    {
        json_array_append_new(out, json_pack("{s:O,s:O,s:O}", "by", json_object_get(v, "by"), "at",
                                             json_object_get(v, "at"), "comment",
                                             json_object_get(v, "comment")));
    }
    json_decref(l);
    return out;
}

json_t *cst_lockbox_json(const cst_access_row *a)
{
    json_t *window = a->window_from ? json_pack("{s:o,s:o}", "from", cst_json_time(a->window_from),
                                                "until", cst_json_time(a->window_until))
                                    : json_null();
    json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:I,s:s,s:b,s:s,s:o,s:o,s:o,s:o,s:{s:I,s:I}}", "id", a->id,
        "tenant", a->tenant_id, "requester", a->requester, "reason", a->reason, "justification",
        a->justification, "ticket", text_or_null(a->ticket), "scope", cst_lockbox_scope_json(a),
        "duration_seconds", (json_int_t)a->duration_seconds, "state", a->state, "break_glass",
        a->break_glass, "review_state", a->review_state, "created_at", cst_json_time(a->created_at),
        "expires_at", cst_json_time(a->expires_at), "approvals", approvals_json(a), "window",
        window, "use", "requests", (json_int_t)a->use_requests, "records_read",
        (json_int_t)a->use_records_read);
    if (!o)
        return NULL;
    json_object_set_new(o, "incident_id", text_or_null(a->incident_id));
    json_object_set_new(o, "decision",
                        a->decided_at ? json_pack("{s:s,s:o,s:s}", "by", a->decided_by, "at",
                                                  cst_json_time(a->decided_at), "comment",
                                                  a->decision_comment)
                                      : json_null());
    json_object_set_new(o, "review",
                        a->reviewed_at
                            ? json_pack("{s:s,s:o,s:s}", "by", a->reviewed_by, "at",
                                        cst_json_time(a->reviewed_at), "comment", a->review_comment)
                            : json_null());
    return o;
}
