/* tenant.c: a new tenant's row, and its identity settings read from their stored JSON under the
 * node's policy. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/bucket.h"
#include "core/incident.h"
#include "core/review.h"
#include "core/lockbox.h"
#include "core/tenant.h"
#include "util/json.h"
#include "util/util.h"

cst_err cst_tenant_settings_load(const char *json, int idle_max, int session_max,
                                 cst_tenant_settings *out)
{
    memset(out, 0, sizeof(*out));
    out->session_idle_seconds = idle_max;
    out->session_max_seconds = session_max;
    json_t *o = json_loads(json && *json ? json : "{}", 0, NULL);
    ENSURE(json_is_object(o), CST_ERR_INTEGRITY, "damaged tenant settings");
    const char *mfa = json_string_value(json_object_get(o, "mfa_required"));
    out->mfa_all = mfa && strcmp(mfa, "all") == 0;
    json_t *idle = json_object_get(o, "session_idle_seconds");
    json_t *max = json_object_get(o, "session_max_seconds");
    if (json_is_integer(idle) && json_integer_value(idle) < out->session_idle_seconds)
        out->session_idle_seconds = (int)json_integer_value(idle);
    if (json_is_integer(max) && json_integer_value(max) < out->session_max_seconds)
        out->session_max_seconds = (int)json_integer_value(max);
    json_t *allow = json_object_get(o, "ip_allowlist");
    size_t i;
    json_t *v;
    cst_err e = CST_OK;
    json_array_foreach(allow, i, v)
    {
        if (e == CST_OK && out->ip_allowlist.n < CST_CIDR_MAX && json_is_string(v))
            e = cst_cidr_parse(json_string_value(v),
                               &out->ip_allowlist.items[out->ip_allowlist.n++]);
    }
    json_decref(o);
    return e;
}

static bool looks_like_id(const char *name)
{
    char prefix[3] = {name[0], name[0] ? name[1] : '\0', '\0'};
    return prefix[0] >= 'a' && prefix[0] <= 'z' && prefix[1] >= 'a' && prefix[1] <= 'z' &&
           cst_id_valid(name, prefix);
}

cst_err cst_tenant_new(const char *name, const char *region, const char *plan,
                       const char *node_region, int64_t now, cst_tenant_row *out)
{
    TRY(cst_name_check("tenant name", name));
    ENSURE(name[0] != '_' && name[0] != '-', CST_ERR_INVALID,
           "tenant name must start with a letter or digit");
    /* ISO-1: login takes a tenant's name or its id; a name shaped like an id (of any kind)
     * could be read as another tenant's, so none is accepted. */
    ENSURE(!looks_like_id(name), CST_ERR_INVALID,
           "tenant name must not have the shape of an id (two letters, '_', 20 hex digits)");
    /* RES-1: a tenant is pinned to the node's region at creation. */
    ENSURE(!region || strcmp(region, node_region) == 0, CST_ERR_REGION_MISMATCH,
           "this node serves region %s; create the tenant on a node of region %s", node_region,
           region);
    plan = plan ? plan : "paid";
    ENSURE(!strcmp(plan, "trial") || !strcmp(plan, "free") || !strcmp(plan, "paid"),
           CST_ERR_INVALID, "plan must be trial, free or paid");
    memset(out, 0, sizeof(*out));
    cst_random_id("tn", out->id);
    TRY(cst_copy(out->name, sizeof(out->name), name));
    TRY(cst_copy(out->region, sizeof(out->region), node_region));
    TRY(cst_copy(out->plan, sizeof(out->plan), plan));
    TRY(cst_copy(out->state, sizeof(out->state), "active"));
    out->created_at = now;
    return CST_OK;
}

static cst_err check_timeout(const json_t *body, const char *key, int min, int max)
{
    int64_t v;
    bool present;
    TRY(cst_json_int(body, key, false, &v, &present));
    ENSURE(!present || (v >= min && v <= max), CST_ERR_INVALID,
           "%s must be from %d to %d (the node's limit)", key, min, max);
    return CST_OK;
}

/* IAM-7: the new allowlist must still admit the admin making the change. */
static cst_err check_allowlist(const json_t *allow, const char *client_ip)
{
    ENSURE(json_is_array(allow), CST_ERR_INVALID, "ip_allowlist must be an array of CIDRs");
    ENSURE(json_array_size(allow) <= CST_CIDR_MAX, CST_ERR_INVALID, "at most %d CIDRs",
           CST_CIDR_MAX);
    cst_cidr_list l = {.n = 0};
    size_t i;
    json_t *v;
    json_array_foreach(allow, i, v)
    {
        ENSURE(json_is_string(v), CST_ERR_INVALID, "ip_allowlist must be an array of CIDRs");
        TRY(cst_cidr_parse(json_string_value(v), &l.items[l.n++]));
    }
    ENSURE(l.n == 0 || cst_cidr_list_match(&l, client_ip), CST_ERR_CONFLICT,
           "the new ip_allowlist does not include your own address %s: it would lock you out",
           client_ip);
    return CST_OK;
}

cst_err cst_tenant_settings_check(const json_t *change, const char *client_ip, int idle_max,
                                  int session_max, int max_notice_hours)
{
    TRY(cst_incident_settings_check(change, max_notice_hours));
    TRY(cst_review_settings_check(change));  /* IAM-6 */
    TRY(cst_lockbox_settings_check(change)); /* IAM-8 */
    const char *mfa;
    TRY(cst_json_str(change, "mfa_required", false, &mfa));
    ENSURE(!mfa || !strcmp(mfa, "admins") || !strcmp(mfa, "all"), CST_ERR_INVALID,
           "mfa_required must be \"admins\" (owners and admins, the minimum) or \"all\"");
    if (json_object_get(change, "ip_allowlist"))
        TRY(check_allowlist(json_object_get(change, "ip_allowlist"), client_ip));
    TRY(check_timeout(change, "session_idle_seconds", 60, idle_max));
    TRY(check_timeout(change, "session_max_seconds", 300, session_max));
    /* DET-1: the tenant's alert webhook ("" or null: none) and its secret's rotation */
    json_t *url = json_object_get(change, "alert_webhook_url");
    ENSURE(!url || json_is_null(url) || json_is_string(url), CST_ERR_INVALID,
           "alert_webhook_url must be a URL, \"\" or null");
    if (json_is_string(url) && json_string_value(url)[0]) {
        cst_err e = cst_webhook_url_check(json_string_value(url));
        if (e != CST_OK) {
            char why[200];
            (void)snprintf(why, sizeof(why), "%s", cst_err_message(e));
            return cst_fail(CST_ERR_INVALID, "alert_webhook_url: %s", why);
        }
    }
    json_t *rot = json_object_get(change, "rotate_alert_webhook_secret");
    ENSURE(!rot || json_is_true(rot), CST_ERR_INVALID, "rotate_alert_webhook_secret must be true");
    return CST_OK;
}
