/* tenant.c: a tenant's identity settings, read from their stored JSON under the node's policy. */
#include <jansson.h>
#include <string.h>

#include "core/tenant.h"

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
