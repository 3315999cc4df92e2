/* test_api_matrix.c: IAM-4. Every role, operator and token-with-one-permission against every
 * route, compared with one expected table that lives here, not in the code under test. A
 * route the server serves but the table lacks fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/api.h"
#include "harness.h"

/* The principals (columns). */
static const char *const names[] = {
    "anon",
    "owner",
    "admin",
    "writer",
    "reader",
    "auditor",
    "sys-admin",
    "t:tenant.read",
    "t:tenant.admin",
    "t:users.admin",
    "t:buckets.admin",
    "t:records.read",
    "t:records.write",
    "t:sys.tenants",
    "t:sys.operators",
    "sys-security",
    "sys-support",
    "t:audit.read",
    "t:sys.security",
    "t:sys.backups",
};
#define NP (sizeof(names) / sizeof(*names))

#define ALL_TENANT_SESSIONS "owner admin writer reader auditor"
#define ALL_SESSIONS ALL_TENANT_SESSIONS " sys-admin sys-security sys-support"
#define ALL_TOKENS                                                                                 \
    "t:tenant.read t:tenant.admin t:users.admin t:buckets.admin t:records.read t:records.write "   \
    "t:sys.tenants t:sys.operators t:audit.read t:sys.security t:sys.backups"

/* Who gets past authorization (any status but 401/403) on each route. */
static const struct cell {
    const char *method, *pattern, *path, *body, *allowed;
} table[] = {
    {"GET", "/v1/sys/health", "/v1/sys/health", NULL, "anon " ALL_SESSIONS " " ALL_TOKENS},
    {"GET", "/v1/sys/ready", "/v1/sys/ready", NULL, "anon " ALL_SESSIONS " " ALL_TOKENS},
    /* DET-2: from this (loopback) host without a credential; a credential sent is checked */
    {"GET", "/metrics", "/metrics", NULL, "anon sys-admin sys-security"},
    {"POST", "/v1/auth/login", "/v1/auth/login", "{\"tenant\":\"x\"}",
     "anon " ALL_SESSIONS " " ALL_TOKENS},
    {"POST", "/v1/auth/password", "/v1/auth/password", "{\"current\":\"x\"}", ALL_SESSIONS},
    {"POST", "/v1/auth/totp", "/v1/auth/totp", NULL, ALL_SESSIONS},
    {"POST", "/v1/auth/totp/confirm", "/v1/auth/totp/confirm", "{\"code\":\"000000\"}",
     ALL_SESSIONS},
    /* two-factor cannot be switched off where it is required (owners, admins, operators);
     * writers, readers and auditors without it get 409, which is an answer, not a denial */
    {"DELETE", "/v1/auth/totp", "/v1/auth/totp", "{\"code\":\"000000\"}", "writer reader auditor"},
    {"GET", "/v1/auth/sessions", "/v1/auth/sessions", NULL, ALL_SESSIONS},
    {"DELETE", "/v1/auth/sessions/{id}", "/v1/auth/sessions/tk_00000000000000000000", NULL,
     ALL_SESSIONS},
    {"GET", "/v1/tenant", "/v1/tenant", NULL, ALL_TENANT_SESSIONS " t:tenant.read"},
    {"PATCH", "/v1/tenant", "/v1/tenant", "{}", "owner admin t:tenant.admin"},
    {"GET", "/v1/users", "/v1/users", NULL, "owner admin t:users.admin"},
    {"POST", "/v1/users", "/v1/users", "{\"username\":\"bad name\",\"roles\":[\"reader\"]}",
     "owner admin t:users.admin"},
    {"GET", "/v1/users/{id}", "/v1/users/us_00000000000000000000", NULL,
     "owner admin t:users.admin"},
    {"PATCH", "/v1/users/{id}", "/v1/users/us_00000000000000000000", "{}",
     "owner admin t:users.admin"},
    {"DELETE", "/v1/users/{id}", "/v1/users/us_00000000000000000000", NULL,
     "owner admin t:users.admin"},
    {"GET", "/v1/tokens", "/v1/tokens", NULL, ALL_SESSIONS " " ALL_TOKENS},
    {"POST", "/v1/tokens", "/v1/tokens", "{\"name\":\"m\",\"permissions\":[\"nope\"]}",
     ALL_SESSIONS},
    {"DELETE", "/v1/tokens/{id}", "/v1/tokens/tk_00000000000000000000", NULL,
     ALL_SESSIONS " " ALL_TOKENS},
    {"GET", "/v1/buckets", "/v1/buckets", NULL, "owner admin t:buckets.admin"},
    {"POST", "/v1/buckets", "/v1/buckets", "{\"name\":\"Bad!\"}", "owner admin t:buckets.admin"},
    {"GET", "/v1/buckets/{name}", "/v1/buckets/m", NULL, "owner admin t:buckets.admin"},
    {"PATCH", "/v1/buckets/{name}", "/v1/buckets/m", "{}", "owner admin t:buckets.admin"},
    {"DELETE", "/v1/buckets/{name}", "/v1/buckets/none", NULL, "owner admin t:buckets.admin"},
    {"GET", "/v1/buckets/{name}/records", "/v1/buckets/m/records", NULL,
     "owner admin writer reader t:records.read"},
    {"POST", "/v1/buckets/{name}/records:batch", "/v1/buckets/m/records:batch",
     "{\"operations\":[]}", "owner admin writer t:records.write"},
    {"PUT", "/v1/buckets/{name}/records/{key}", "/v1/buckets/m/records/k", "v",
     "owner admin writer t:records.write"},
    {"GET", "/v1/buckets/{name}/records/{key}", "/v1/buckets/m/records/k", NULL,
     "owner admin writer reader t:records.read"},
    {"HEAD", "/v1/buckets/{name}/records/{key}", "/v1/buckets/m/records/k", NULL,
     "owner admin writer reader t:records.read"},
    {"DELETE", "/v1/buckets/{name}/records/{key}", "/v1/buckets/m/records/none", NULL,
     "owner admin writer t:records.write"},
    {"GET", "/v1/sys/tenants", "/v1/sys/tenants", NULL, "sys-admin t:sys.tenants"},
    {"POST", "/v1/sys/tenants", "/v1/sys/tenants", "{\"name\":\"Bad!\",\"owner\":{}}",
     "sys-admin t:sys.tenants"},
    {"GET", "/v1/sys/tenants/{id}", "/v1/sys/tenants/tn_00000000000000000000", NULL,
     "sys-admin t:sys.tenants"},
    {"PATCH", "/v1/sys/tenants/{id}", "/v1/sys/tenants/tn_00000000000000000000", "{}",
     "sys-admin t:sys.tenants"},
    {"POST", "/v1/sys/tenants/{id}/erase", "/v1/sys/tenants/tn_00000000000000000000/erase", "{}",
     "sys-admin t:sys.tenants"},
    {"GET", "/v1/sys/tenants/{id}/keys", "/v1/sys/tenants/tn_00000000000000000000/keys", NULL,
     "sys-admin t:sys.tenants"},
    {"POST", "/v1/sys/tenants/{id}/keys/rotate",
     "/v1/sys/tenants/tn_00000000000000000000/keys/rotate", NULL, "sys-admin t:sys.tenants"},
    {"GET", "/v1/sys/keys", "/v1/sys/keys", NULL, "sys-admin"},
    {"POST", "/v1/sys/keys/rotate", "/v1/sys/keys/rotate", "{\"master_key\":5}", "sys-admin"},
    {"GET", "/v1/sys/certificates/{id}", "/v1/sys/certificates/ce_00000000000000000000", NULL,
     "sys-admin t:sys.tenants"},
    {"GET", "/v1/export", "/v1/export", NULL, "owner admin t:tenant.admin"},
    {"POST", "/v1/import", "/v1/import", "x", "owner admin t:tenant.admin"},
    {"GET", "/v1/sys/operators", "/v1/sys/operators", NULL, "sys-admin t:sys.operators"},
    {"POST", "/v1/sys/operators", "/v1/sys/operators", "{\"username\":\"bad name\"}",
     "sys-admin t:sys.operators"},
    {"PATCH", "/v1/sys/operators/{id}", "/v1/sys/operators/us_00000000000000000000", "{}",
     "sys-admin t:sys.operators"},
    {"GET", "/v1/audit", "/v1/audit?limit=1", NULL, "owner admin auditor t:audit.read"},
    {"GET", "/v1/report", "/v1/report", NULL, "owner admin auditor t:audit.read"},
    {"GET", "/v1/sys/audit", "/v1/sys/audit?limit=1", NULL, "sys-security t:sys.security"},
    {"GET", "/v1/sys/alerts", "/v1/sys/alerts?limit=1", NULL, "sys-security t:sys.security"},
    {"GET", "/v1/sys/alerts/{id}", "/v1/sys/alerts/al_00000000000000000000", NULL,
     "sys-security t:sys.security"},
    {"PATCH", "/v1/sys/alerts/{id}", "/v1/sys/alerts/al_00000000000000000000",
     "{\"status\":\"resolved\"}", "sys-security t:sys.security"},
    {"GET", "/v1/alerts", "/v1/alerts?limit=1", NULL, "owner admin auditor t:audit.read"},
    {"GET", "/v1/sys/report", "/v1/sys/report", NULL, "sys-admin sys-security t:sys.report"},
    {"POST", "/v1/sys/audit/verify", "/v1/sys/audit/verify", "{\"seal_key\":1}",
     "sys-security t:sys.security"},
    {"GET", "/v1/sys/backups", "/v1/sys/backups?limit=5", NULL, "sys-admin t:sys.backups"},
    {"POST", "/v1/sys/backups", "/v1/sys/backups", NULL, "sys-admin t:sys.backups"},
    {"POST", "/v1/sys/backups/{id}/verify", "/v1/sys/backups/bk_00000000000000000000/verify", NULL,
     "sys-admin t:sys.backups"},
    {"POST", "/v1/sys/backups/drill", "/v1/sys/backups/drill", NULL, "sys-admin t:sys.backups"},
    {"GET", "/v1/sys/incidents", "/v1/sys/incidents", NULL, "sys-security t:sys.security"},
    {"POST", "/v1/sys/incidents", "/v1/sys/incidents", "{\"title\":\"\"}",
     "sys-security t:sys.security"},
    {"GET", "/v1/sys/incidents/{id}", "/v1/sys/incidents/in_00000000000000000000", NULL,
     "sys-security t:sys.security"},
    {"PATCH", "/v1/sys/incidents/{id}", "/v1/sys/incidents/in_00000000000000000000", "{}",
     "sys-security t:sys.security"},
    {"POST", "/v1/sys/incidents/{id}/timeline",
     "/v1/sys/incidents/in_00000000000000000000/timeline", "{\"entry\":\"x\"}",
     "sys-security t:sys.security"},
    {"POST", "/v1/sys/incidents/{id}/confirm-breach",
     "/v1/sys/incidents/in_00000000000000000000/confirm-breach", "{}",
     "sys-security t:sys.security"},
    {"POST", "/v1/sys/incidents/{id}/notices", "/v1/sys/incidents/in_00000000000000000000/notices",
     "{}", "sys-security t:sys.security"},
    {"GET", "/v1/notices", "/v1/notices", NULL, "owner admin auditor t:audit.read"},
    {"GET", "/v1/notices/{id}", "/v1/notices/nt_00000000000000000000", NULL,
     "owner admin auditor t:audit.read"},
    {"POST", "/v1/notices/{id}/approve-user-notice",
     "/v1/notices/nt_00000000000000000000/approve-user-notice", "{\"decision\":\"approve\"}",
     "owner admin t:tenant.admin"},
    /* IAM-6: the owner's POST opens a campaign (201), the others then meet it (409) */
    {"GET", "/v1/access-review", "/v1/access-review", NULL, "owner admin auditor t:audit.read"},
    {"POST", "/v1/access-review", "/v1/access-review", NULL, "owner admin t:users.admin"},
    {"GET", "/v1/access-review/{id}", "/v1/access-review/rv_00000000000000000000", NULL,
     "owner admin auditor t:audit.read"},
    {"POST", "/v1/access-review/{id}/decisions",
     "/v1/access-review/rv_00000000000000000000/decisions", "{\"decisions\":[]}",
     "owner admin t:users.admin"},
    {"POST", "/v1/access-review/{id}/attest", "/v1/access-review/rv_00000000000000000000/attest",
     NULL, "owner admin t:users.admin"},
    {"GET", "/v1/sys/access-review", "/v1/sys/access-review", NULL, "sys-security t:sys.security"},
    {"POST", "/v1/sys/access-review", "/v1/sys/access-review", NULL, "sys-security t:sys.security"},
    {"GET", "/v1/sys/access-review/{id}", "/v1/sys/access-review/rv_00000000000000000000", NULL,
     "sys-security t:sys.security"},
    {"POST", "/v1/sys/access-review/{id}/decisions",
     "/v1/sys/access-review/rv_00000000000000000000/decisions", "{\"decisions\":[]}",
     "sys-security t:sys.security"},
    {"POST", "/v1/sys/access-review/{id}/attest",
     "/v1/sys/access-review/rv_00000000000000000000/attest", NULL, "sys-security t:sys.security"},
    /* IAM-8: the lockbox (ar_0...: no such request, 404 past authorization) */
    {"POST", "/v1/sys/access-requests", "/v1/sys/access-requests", "{}", "sys-admin sys-support"},
    {"GET", "/v1/sys/access-requests", "/v1/sys/access-requests", NULL, "sys-admin sys-support"},
    {"GET", "/v1/sys/access-requests/{id}", "/v1/sys/access-requests/ar_00000000000000000000", NULL,
     "sys-admin sys-support"},
    {"POST", "/v1/sys/access-requests/{id}/token",
     "/v1/sys/access-requests/ar_00000000000000000000/token", NULL, "sys-admin sys-support"},
    {"POST", "/v1/sys/access-requests/{id}/review",
     "/v1/sys/access-requests/ar_00000000000000000000/review", "{\"comment\":\"x\"}",
     "sys-security t:sys.security"},
    {"POST", "/v1/sys/break-glass", "/v1/sys/break-glass", "{}", "sys-admin"},
    {"GET", "/v1/access-requests", "/v1/access-requests", NULL, "owner admin auditor t:audit.read"},
    {"GET", "/v1/access-requests/{id}", "/v1/access-requests/ar_00000000000000000000", NULL,
     "owner admin auditor t:audit.read"},
    {"POST", "/v1/access-requests/{id}/approve",
     "/v1/access-requests/ar_00000000000000000000/approve", "{\"comment\":\"x\"}",
     "owner admin t:tenant.admin"},
    {"POST", "/v1/access-requests/{id}/deny", "/v1/access-requests/ar_00000000000000000000/deny",
     "{\"comment\":\"x\"}", "owner admin t:tenant.admin"},
    {"POST", "/v1/access-requests/{id}/revoke",
     "/v1/access-requests/ar_00000000000000000000/revoke", NULL, "owner admin t:tenant.admin"},
    /* last: it ends the sessions. Tokens pass authorization and are told to use DELETE. */
    {"POST", "/v1/auth/logout", "/v1/auth/logout", NULL, ALL_SESSIONS " " ALL_TOKENS},
};
#define NR (sizeof(table) / sizeof(*table))

static ts_server srv;
static char *cred[NP];

static bool allowed(const struct cell *c, const char *who)
{
    char list[512];
    snprintf(list, sizeof(list), " %s ", c->allowed);
    char needle[64];
    snprintf(needle, sizeof(needle), " %s ", who);
    return strstr(list, needle) != NULL;
}

static char *token_for(const char *session, const char *perm)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"permissions\":[\"%s\"]}", perm, perm);
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/tokens", session, body, &r);
    if (r.status != 201)
        fprintf(stderr, "token %s: %ld %s\n", perm, r.status, r.body ? r.body : "");
    assert_int_equal(r.status, 201);
    char *t = strdup(json_string_value(json_object_get(r.json, "token")));
    ts_resp_free(&r);
    return t;
}

static int setup(void **state)
{
    ts_init(&srv);
    if (!ts_start(&srv))
        return -1;
    cred[0] = NULL;
    cred[6] = ts_operator(&srv);
    cred[1] = ts_tenant(&srv, cred[6], "matrix", NULL);
    ts_bucket(&srv, cred[1], "m");
    cred[2] = ts_user_create(&srv, cred[1], "matrix", "admin1", "[\"admin\"]", NULL, true, NULL);
    cred[3] =
        ts_user_create(&srv, cred[1], "matrix", "writer1", "[\"writer\"]", "[\"*\"]", false, NULL);
    cred[4] =
        ts_user_create(&srv, cred[1], "matrix", "reader1", "[\"reader\"]", "[\"*\"]", false, NULL);
    cred[5] =
        ts_user_create(&srv, cred[1], "matrix", "auditor1", "[\"auditor\"]", NULL, false, NULL);
    for (size_t i = 7; i <= 12; i++)
        cred[i] = token_for(cred[1], names[i] + 2);
    cred[13] = token_for(cred[6], "sys.tenants");
    cred[14] = token_for(cred[6], "sys.operators");
    cred[15] = ts_sys_operator(&srv, cred[6], "sec1", "sys-security");
    cred[16] = ts_sys_operator(&srv, cred[6], "sup1", "sys-support");
    cred[17] = token_for(cred[1], "audit.read");
    cred[18] = token_for(cred[15], "sys.security");
    cred[19] = token_for(cred[6], "sys.backups");
    return 0;
}

static int teardown(void **state)
{
    for (size_t i = 0; i < NP; i++)
        free(cred[i]);
    ts_cleanup(&srv);
    return 0;
}

static void test_iam4_table_covers_every_route(void **state)
{
    for (size_t i = 0; i < cst_api_route_count; i++) {
        bool found = false;
        for (size_t j = 0; j < NR; j++)
            found |= !strcmp(table[j].method, cst_api_routes[i].method) &&
                     !strcmp(table[j].pattern, cst_api_routes[i].pattern);
        if (!found)
            fail_msg("route %s %s has no row in the matrix", cst_api_routes[i].method,
                     cst_api_routes[i].pattern);
    }
    assert_int_equal(NR, cst_api_route_count);
}

static void test_iam4_role_route_matrix(void **state)
{
    int mismatches = 0, cells = 0;
    for (size_t j = 0; j < NR; j++) {
        const struct cell *c = &table[j];
        for (size_t p = 0; p < NP; p++) {
            ts_resp r;
            const char *ctype =
                c->body ? (c->body[0] == '{' ? "application/json" : "text/plain") : NULL;
            if (!strcmp(c->pattern, "/v1/import"))
                ctype = "application/x-ndjson";
            ts_request(&srv, c->method, c->path, cred[p], ctype, c->body,
                       c->body ? strlen(c->body) : 0, NULL, &r);
            bool denied = r.status == 401 || r.status == 403;
            /* a 401 of the login route or of a wrong password is an answer, not a denial */
            if (r.status == 401 && cred[p] && strcmp(ts_err(&r), "unauthenticated") == 0 &&
                strstr(r.body ? r.body : "", "password is wrong"))
                denied = false;
            if (!strcmp(c->pattern, "/v1/auth/login"))
                denied = r.status == 403;
            bool want = allowed(c, names[p]);
            if (denied == want) {
                fprintf(stderr, "MATRIX %s %s as %s: got %ld %s, expected %s\n", c->method, c->path,
                        names[p], r.status, r.body ? r.body : "", want ? "allowed" : "denied");
                mismatches++;
            }
            cells++;
            ts_resp_free(&r);
        }
    }
    fprintf(stderr, "matrix: %d cells, %d mismatches\n", cells, mismatches);
    assert_int_equal(mismatches, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam4_table_covers_every_route),
        cmocka_unit_test(test_iam4_role_route_matrix),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
