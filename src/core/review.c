/* review.c: access reviews (IAM-6): flags, the campaign's states, decisions, the default for a
 * principal without one, the snapshot's hash and the quarterly due date. */
#include <string.h>

#include "core/authz.h"
#include "core/review.h"
#include "util/json.h"
#include "util/util.h"

static const char *const kind_names[CST_REVIEW__KINDS] = {
    [CST_REVIEW_USER] = "user", [CST_REVIEW_TOKEN] = "token", [CST_REVIEW_GRANT] = "grant"};

/* IAM-6: owners and admins hold every right of the tenant, sys-admins every operator right; a
 * token holding users.admin (sys.operators) can give itself more through new accounts. */
#define PRIVILEGED_ROLES                                                                           \
    (CST_ROLE_BIT(CST_ROLE_OWNER) | CST_ROLE_BIT(CST_ROLE_ADMIN) | CST_ROLE_BIT(CST_ROLE_SYS_ADMIN))
#define PRIVILEGED_PERMS (CST_PERM_BIT(CST_PERM_USERS_ADMIN) | CST_PERM_BIT(CST_PERM_SYS_OPERATORS))

unsigned cst_review_flags(const cst_review_subject *s, int stale_days, int64_t now)
{
    unsigned f = 0;
    int64_t since = s->last_used_at ? s->last_used_at : s->created_at;
    if (now - since >= (int64_t)stale_days * CST_REVIEW_DAY_US)
        f |= CST_REVIEW_FLAG_STALE;
    if (s->mfa == 0)
        f |= CST_REVIEW_FLAG_NO_MFA;
    if (!s->last_used_at)
        f |= CST_REVIEW_FLAG_NEVER_USED;
    bool privileged = false;
    switch (s->kind) {
    case CST_REVIEW_USER:
        privileged = (s->roles & PRIVILEGED_ROLES) != 0;
        break;
    case CST_REVIEW_TOKEN:
    case CST_REVIEW_GRANT:
        privileged = (s->perms & PRIVILEGED_PERMS) != 0;
        break;
    default:
        privileged = true; /* an unknown kind is reviewed as the most dangerous */
        break;
    }
    if (privileged)
        f |= CST_REVIEW_FLAG_PRIVILEGED;
    return f;
}

static json_t *flags_json(unsigned f)
{
    static const char *const names[] = {"stale", "no_mfa", "never_used", "privileged"};
    json_t *a = json_array();
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (f & (1u << i))
            json_array_append_new(a, json_string(names[i]));
    return a;
}

static json_t *grants_json(const char *text)
{
    json_t *v = json_loads(text && *text ? text : "[]", 0, NULL);
    return json_is_array(v) ? v : (json_decref(v), json_array());
}

json_t *cst_review_principal_json(const cst_review_subject *s, unsigned flags)
{
    const char *kind = (unsigned)s->kind < CST_REVIEW__KINDS ? kind_names[s->kind] : "unknown";
    json_t *mfa = s->mfa < 0 ? json_null() : json_boolean(s->mfa);
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", s->id, "kind", kind,
                     "name", s->name, "user_id",
                     s->user_id && *s->user_id ? json_string(s->user_id) : json_null(), "roles",
                     cst_roles_json(s->kind == CST_REVIEW_USER ? s->roles : 0), "permissions",
                     cst_perms_json(s->perms), "grants", grants_json(s->grants), "mfa", mfa,
                     "created_at", cst_json_time(s->created_at), "last_used_at",
                     cst_json_time(s->last_used_at), "flags", flags_json(flags));
}

/* IAM-6: a campaign's moves, one row each. */
static const struct {
    const char *from, *to;
} transitions[] = {
    {"open", "attested"},
};

bool cst_review_transition_ok(const char *from, const char *to)
{
    for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++)
        if (!strcmp(transitions[i].from, from) && !strcmp(transitions[i].to, to))
            return true;
    return false;
}

cst_err cst_review_snapshot_hash(const json_t *principals, char hex[65])
{
    char *text = json_dumps(principals, JSON_SORT_KEYS | JSON_COMPACT);
    ENSURE(text != NULL, CST_ERR_INTERNAL, "out of memory");
    uint8_t h[CST_HASH_LEN];
    cst_sha256(text, strlen(text), h);
    cst_json_free_text(text);
    cst_hex(h, sizeof(h), hex);
    return CST_OK;
}

static bool in_snapshot(const json_t *principals, const char *id)
{
    size_t i;
    json_t *p;
    json_array_foreach(principals, i, p)
    {
        if (!strcmp(json_string_value(json_object_get(p, "id")), id))
            return true;
    }
    return false;
}

static cst_err decision_check(const json_t *d, size_t i, const json_t *principals)
{
    static const char *const fields[] = {"principal", "decision", "comment", NULL};
    ENSURE(json_is_object(d), CST_ERR_INVALID, "decisions[%zu] must be an object", i);
    TRY(cst_json_only(d, fields));
    const char *who, *decision, *comment;
    TRY(cst_json_str(d, "principal", true, &who));
    TRY(cst_json_str(d, "decision", true, &decision));
    TRY(cst_json_str(d, "comment", false, &comment));
    ENSURE(!strcmp(decision, "keep") || !strcmp(decision, "revoke"), CST_ERR_INVALID,
           "decisions[%zu].decision must be keep or revoke", i);
    ENSURE(strlen(who) < CST_ID_MAX && in_snapshot(principals, who), CST_ERR_INVALID,
           "decisions[%zu].principal is not a principal of this review's snapshot", i);
    ENSURE(!comment || (strlen(comment) <= CST_REVIEW_COMMENT_MAX &&
                        cst_utf8_valid((const uint8_t *)comment, strlen(comment))),
           CST_ERR_INVALID, "decisions[%zu].comment must be at most %d bytes of text", i,
           CST_REVIEW_COMMENT_MAX);
    return CST_OK;
}

cst_err cst_review_decisions_check(const json_t *body, const json_t *principals)
{
    const json_t *list = json_object_get(body, "decisions");
    ENSURE(json_is_array(list) && json_array_size(list) >= 1 &&
               json_array_size(list) <= CST_REVIEW_DECISIONS_MAX,
           CST_ERR_INVALID, "field \"decisions\" must be an array of 1 to %d decisions",
           CST_REVIEW_DECISIONS_MAX);
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        TRY(decision_check(d, i, principals));
        const char *who = json_string_value(json_object_get(d, "principal"));
        for (size_t k = 0; k < i; k++)
            ENSURE(strcmp(who, json_string_value(
                                   json_object_get(json_array_get(list, k), "principal"))) != 0,
                   CST_ERR_INVALID, "decisions[%zu]: principal %s is decided twice", i, who);
    }
    return CST_OK;
}

const char *cst_review_no_response(const char *settings_json)
{
    const char *out = NULL;
    json_t *o = json_loads(settings_json && *settings_json ? settings_json : "{}", 0, NULL);
    const char *v = json_string_value(json_object_get(o, "review_no_response"));
    if (v && !strcmp(v, "keep"))
        out = "keep";
    else if (v && !strcmp(v, "revoke"))
        out = "revoke";
    json_decref(o);
    return out;
}

static bool has_flag(const json_t *principal, const char *flag)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(principal, "flags"), i, f)
    {
        if (!strcmp(json_string_value(f), flag))
            return true;
    }
    return false;
}

const char *cst_review_default_decision(const json_t *principal, const char *no_response)
{
    if (no_response)
        return no_response;
    /* IAM-6: unreviewed privilege is not kept by silence */
    return has_flag(principal, "privileged") ? "revoke" : "keep";
}

cst_err cst_review_settings_check(const json_t *change)
{
    const json_t *v = json_object_get(change, "review_no_response");
    const char *s = json_string_value(v);
    ENSURE(!v || json_is_null(v) || (s && (!strcmp(s, "keep") || !strcmp(s, "revoke"))),
           CST_ERR_INVALID,
           "review_no_response must be \"keep\", \"revoke\" or null (revoke privileged "
           "principals, keep others)");
    return CST_OK;
}

int64_t cst_review_due_at(int64_t last_attested_at, int64_t since, int period_days)
{
    return (last_attested_at ? last_attested_at : since) + (int64_t)period_days * CST_REVIEW_DAY_US;
}

bool cst_review_remind(int64_t due_at, int64_t now)
{
    return now >= due_at - CST_REVIEW_REMIND_DAYS * CST_REVIEW_DAY_US;
}

bool cst_review_overdue(int64_t due_at, int64_t now)
{
    return now > due_at;
}
