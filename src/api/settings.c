/* settings.c: tenant settings (GET|PATCH /v1/tenant): two-factor policy, IP allowlist and
 * session timeouts, validated (core/tenant.h) and never weaker than the node's policy. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "api/api.h"
#include "lifecycle/lifecycle.h"
#include "core/authz.h"
#include "core/incident.h"
#include "core/review.h"
#include "core/lockbox.h"
#include "node/webhook.h"
#include "util/util.h"

cst_err cst_settings_load(const cst_node *n, const char *json, cst_tenant_settings *out)
{
    return cst_tenant_settings_load(json, n->cfg.session_idle_seconds, n->cfg.session_max_seconds,
                                    out);
}

static json_t *settings_json(const cst_node *n, const cst_tenant_row *t)
{
    json_t *stored = json_loads(t->settings[0] ? t->settings : "{}", 0, NULL);
    cst_tenant_settings s;
    if (!stored || cst_settings_load(n, t->settings, &s) != CST_OK) {
        json_decref(stored);
        return json_null();
    }
    json_t *allow = json_object_get(stored, "ip_allowlist");
    json_t *contacts = json_object_get(stored, "notice_contacts");
    const char *hook = json_string_value(json_object_get(stored, "alert_webhook_url"));
    json_t *o = json_pack("{s:s,s:o,s:i,s:i,s:i,s:o}", "mfa_required", s.mfa_all ? "all" : "admins",
                          "ip_allowlist", allow ? json_incref(allow) : json_array(),
                          "session_idle_seconds", s.session_idle_seconds, "session_max_seconds",
                          s.session_max_seconds, "breach_notice_hours",
                          cst_incident_notice_hours(t->settings, n->cfg.max_notice_hours),
                          "notice_contacts", contacts ? json_incref(contacts) : json_array());
    if (o) /* IAM-8: the approvals an operator's access request needs */
        json_object_set_new(o, "lockbox_approvals",
                            json_integer(cst_lockbox_approvals_required(t->settings)));
    if (o) {
        json_object_set_new(o, "alert_webhook_url",
                            hook && hook[0] ? json_string(hook) : json_null());
        /* IAM-6: null is the default (revoke privileged principals, keep others) */
        const char *nr = cst_review_no_response(t->settings);
        json_object_set_new(o, "review_no_response", nr ? json_string(nr) : json_null());
    }
    json_decref(stored);
    return o;
}

json_t *cst_tenant_json(const cst_node *n, cst_work *w, const cst_tenant_row *t, bool with_settings)
{
    char created[32];
    cst_time_format(t->created_at, created);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", t->id, "name", t->name, "region",
                          t->region, "plan", t->plan, "state", t->state, "created_at", created);
    if (with_settings)
        json_object_set_new(o, "settings", settings_json(n, t));
    json_object_set_new(o, "lifecycle",
                        cst_lifecycle_json((cst_node *)n, w, t, cst_now_us(), with_settings));
    return o;
}

cst_err cst_api_tenant_get(cst_node *n, cst_request *req)
{
    return cst_resp_json(req, 200, cst_tenant_json(n, req->work, &req->who.tenant, true));
}

cst_err cst_api_tenant_patch(cst_node *n, cst_request *req)
{
    static const char *const fields[] = {"mfa_required",
                                         "ip_allowlist",
                                         "session_idle_seconds",
                                         "session_max_seconds",
                                         "breach_notice_hours",
                                         "notice_contacts",
                                         "alert_webhook_url",
                                         "rotate_alert_webhook_secret",
                                         "review_no_response",
                                         "lockbox_approvals",
                                         NULL};
    json_t *body = NULL;
    TRY(cst_api_body(req, fields, &body));
    cst_err e = cst_tenant_settings_check(body, req->client_ip, n->cfg.session_idle_seconds,
                                          n->cfg.session_max_seconds, n->cfg.max_notice_hours);
    json_t *stored = NULL;
    if (e == CST_OK) {
        stored = json_loads(req->who.tenant.settings[0] ? req->who.tenant.settings : "{}", 0, NULL);
        if (!json_is_object(stored))
            e = cst_fail(CST_ERR_INTEGRITY, "damaged tenant settings");
    }
    char *text = NULL, whsec[CST_WHSEC_TEXT_MAX] = "";
    bool issued = false,
         rotate = json_is_true(json_object_get(body, "rotate_alert_webhook_secret"));
    if (e == CST_OK) {
        /* CHG-1: the entry holds the settings before and after (sealed: they are the
         * tenant's; the webhook secrets in them are sealed again, under the node's key). */
        cst_audit_detail(req, "old", json_deep_copy(stored));
        json_object_del(body, "rotate_alert_webhook_secret");
        json_object_update(stored, body);
        e = cst_webhook_tenant_settings(n, req->who.tenant.id, stored, rotate, cst_now_us(), whsec,
                                        &issued);
    }
    if (e == CST_OK) {
        cst_audit_detail(req, "new", json_deep_copy(stored));
        if (issued)
            cst_audit_info(req, "alert_webhook_secret", json_string(rotate ? "rotated" : "new"));
        text = json_dumps(stored, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text || strlen(text) >= CST_SETTINGS_JSON)
            e = cst_fail(CST_ERR_INVALID, "settings too large");
    }
    if (e == CST_OK)
        e = cst_store_tenant_settings_set(n->store, req->work, req->who.tenant.id, text);
    if (e == CST_OK)
        e = cst_copy(req->who.tenant.settings, sizeof(req->who.tenant.settings), text);
    if (e == CST_OK) {
        json_t *o = cst_tenant_json(n, req->work, &req->who.tenant, true);
        if (o && issued) /* shown once: only this response carries it */
            json_object_set_new(o, "alert_webhook_secret", json_string(whsec));
        e = cst_resp_json(req, 200, o);
    }
    sodium_memzero(whsec, sizeof(whsec));
    cst_json_free_text(text);
    json_decref(stored);
    json_decref(body);
    return e;
}
