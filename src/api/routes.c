/* routes.c: the route table. Every route declares its permission; the server refuses to start
 * with one that does not (cst_routes_check). Tenant routes take the tenant from the
 * credential (ISO-1): no tenant id appears in them. */
#include "api/api.h"

/* flags: CST_ROUTE_* without the prefix, joined with | (see http/request.h) */
#define HASHES CST_ROUTE_HASHES
#define BEFORE_SETUP CST_ROUTE_BEFORE_SETUP
#define SESSION_ONLY CST_ROUTE_SESSION_ONLY
#define BUCKET_SCOPED CST_ROUTE_BUCKET_SCOPED
#define LOGIN_THROTTLED CST_ROUTE_LOGIN_THROTTLED
#define EXPORT CST_ROUTE_EXPORT
#define CLOSED_READ CST_ROUTE_CLOSED_READ
#define UNAUDITED CST_ROUTE_UNAUDITED
#define TENANT_PARAM CST_ROUTE_TENANT_PARAM
#define GROUPED CST_ROUTE_GROUPED
#define LOOPBACK_SCRAPE CST_ROUTE_LOOPBACK_SCRAPE

#define RF(m, p, h, perm, body, action, flags)                                                     \
    {                                                                                              \
        m, p, h, CST_PERM_##perm, CST_BODY_##body, action, flags                                   \
    }
#define R(m, p, h, perm, body, action) RF(m, p, h, perm, body, action, 0)
/* IAM-2: routes whose handler may run Argon2id (login, any new or changed password) run on
 * the server's hashing pool, never on a request thread. */
#define RH(m, p, h, perm, body, action) RF(m, p, h, perm, body, action, HASHES)
/* IAM-4: record routes act within one bucket, named by their first parameter. */
#define RB(m, p, h, perm, body, action) RF(m, p, h, perm, body, action, BUCKET_SCOPED)
/* Record writes commit in groups per tenant (issue 14). */
#define RW(m, p, h, perm, body, action) RF(m, p, h, perm, body, action, BUCKET_SCOPED | GROUPED)

const cst_route cst_api_routes[] = {
    RF("GET", "/v1/sys/health", cst_api_health, PUBLIC, NONE, "node.health", UNAUDITED),
    /* DET-2: readiness, and the metrics (an operator token, or a scrape from this host) */
    RF("GET", "/v1/sys/ready", cst_api_ready, PUBLIC, NONE, "node.ready", UNAUDITED),
    RF("GET", "/metrics", cst_api_metrics, SYS_REPORT, NONE, "sys.metrics.read",
       UNAUDITED | LOOPBACK_SCRAPE),
    RF("POST", "/v1/auth/login", cst_api_login, PUBLIC, JSON, "auth.login",
       HASHES | LOGIN_THROTTLED),
    RF("POST", "/v1/auth/logout", cst_api_logout, SELF, NONE, "auth.logout", BEFORE_SETUP),
    RF("POST", "/v1/auth/password", cst_api_password, SELF, JSON, "auth.password.change",
       HASHES | BEFORE_SETUP | SESSION_ONLY),
    RF("POST", "/v1/auth/totp", cst_api_totp_enrol, SELF, NONE, "auth.totp.enrol",
       BEFORE_SETUP | SESSION_ONLY),
    RF("POST", "/v1/auth/totp/confirm", cst_api_totp_confirm, SELF, JSON, "auth.totp.confirm",
       BEFORE_SETUP | SESSION_ONLY),
    RF("DELETE", "/v1/auth/totp", cst_api_totp_disable, SELF, JSON, "auth.totp.disable",
       SESSION_ONLY),
    RF("GET", "/v1/auth/sessions", cst_api_session_list, SELF, NONE, "auth.session.list",
       SESSION_ONLY),
    RF("DELETE", "/v1/auth/sessions/{id}", cst_api_session_delete, SELF, NONE,
       "auth.session.revoke", SESSION_ONLY),
    RF("GET", "/v1/tenant", cst_api_tenant_get, TENANT_READ, NONE, "tenant.settings.read",
       CLOSED_READ),
    R("PATCH", "/v1/tenant", cst_api_tenant_patch, TENANT_ADMIN, JSON, "tenant.settings.change"),
    R("GET", "/v1/users", cst_api_user_list, USERS_ADMIN, NONE, "user.list"),
    RH("POST", "/v1/users", cst_api_user_create, USERS_ADMIN, JSON, "user.create"),
    R("GET", "/v1/users/{id}", cst_api_user_get, USERS_ADMIN, NONE, "user.read"),
    RH("PATCH", "/v1/users/{id}", cst_api_user_patch, USERS_ADMIN, JSON, "user.change"),
    R("DELETE", "/v1/users/{id}", cst_api_user_delete, USERS_ADMIN, NONE, "user.delete"),
    R("GET", "/v1/tokens", cst_api_token_list, SELF, NONE, "token.list"),
    RF("POST", "/v1/tokens", cst_api_token_create, SELF, JSON, "token.create", SESSION_ONLY),
    R("DELETE", "/v1/tokens/{id}", cst_api_token_delete, SELF, NONE, "token.revoke"),
    R("GET", "/v1/buckets", cst_api_bucket_list, BUCKETS_ADMIN, NONE, "bucket.list"),
    R("POST", "/v1/buckets", cst_api_bucket_create, BUCKETS_ADMIN, JSON, "bucket.create"),
    R("GET", "/v1/buckets/{name}", cst_api_bucket_get, BUCKETS_ADMIN, NONE, "bucket.read"),
    R("PATCH", "/v1/buckets/{name}", cst_api_bucket_patch, BUCKETS_ADMIN, JSON, "bucket.change"),
    R("DELETE", "/v1/buckets/{name}", cst_api_bucket_delete, BUCKETS_ADMIN, NONE, "bucket.delete"),
    RB("GET", "/v1/buckets/{name}/records", cst_api_record_list, RECORDS_READ, NONE, "record.list"),
    RW("POST", "/v1/buckets/{name}/records:batch", cst_api_record_batch, RECORDS_WRITE, BATCH,
       "record.batch"),
    RW("PUT", "/v1/buckets/{name}/records/{key}", cst_api_record_put, RECORDS_WRITE, RECORD,
       "record.write"),
    RB("GET", "/v1/buckets/{name}/records/{key}", cst_api_record_get, RECORDS_READ, NONE,
       "record.read"),
    RB("HEAD", "/v1/buckets/{name}/records/{key}", cst_api_record_get, RECORDS_READ, NONE,
       "record.head"),
    RW("DELETE", "/v1/buckets/{name}/records/{key}", cst_api_record_delete, RECORDS_WRITE, NONE,
       "record.delete"),
    R("GET", "/v1/sys/tenants", cst_api_sys_tenant_list, SYS_TENANTS, NONE, "sys.tenant.list"),
    RH("POST", "/v1/sys/tenants", cst_api_sys_tenant_create, SYS_TENANTS, JSON,
       "sys.tenant.create"),
    RF("GET", "/v1/sys/tenants/{id}", cst_api_sys_tenant_get, SYS_TENANTS, NONE, "sys.tenant.read",
       TENANT_PARAM),
    RF("PATCH", "/v1/sys/tenants/{id}", cst_api_sys_tenant_patch, SYS_TENANTS, JSON,
       "sys.tenant.change", TENANT_PARAM),
    RF("POST", "/v1/sys/tenants/{id}/erase", cst_api_sys_tenant_erase, SYS_TENANTS, JSON,
       "sys.tenant.erase", TENANT_PARAM),
    /* ENC-4: DEK versions, their re-encryption and rotation */
    RF("GET", "/v1/sys/tenants/{id}/keys", cst_api_sys_tenant_keys, SYS_TENANTS, NONE,
       "sys.tenant.key.read", TENANT_PARAM),
    RF("POST", "/v1/sys/tenants/{id}/keys/rotate", cst_api_sys_tenant_keys_rotate, SYS_TENANTS,
       NONE, "sys.tenant.key.rotate", TENANT_PARAM),
    /* ENC-4: the master key (KEK) and its online rotation */
    R("GET", "/v1/sys/keys", cst_api_sys_keys, SYS_KEYS, NONE, "sys.keys.read"),
    R("POST", "/v1/sys/keys/rotate", cst_api_sys_keys_rotate, SYS_KEYS, JSON,
      "sys.keys.rotate_master"),
    R("GET", "/v1/sys/certificates/{id}", cst_api_sys_certificate_get, SYS_TENANTS, NONE,
      "sys.certificate.read"),
    RF("GET", "/v1/export", cst_api_export, TENANT_ADMIN, NONE, "tenant.export", EXPORT),
    R("POST", "/v1/import", cst_api_import, TENANT_ADMIN, IMPORT, "tenant.import"),
    R("GET", "/v1/sys/operators", cst_api_operator_list, SYS_OPERATORS, NONE, "sys.operator.list"),
    RH("POST", "/v1/sys/operators", cst_api_operator_create, SYS_OPERATORS, JSON,
       "sys.operator.create"),
    R("PATCH", "/v1/sys/operators/{id}", cst_api_operator_patch, SYS_OPERATORS, JSON,
      "sys.operator.change"),
    R("GET", "/v1/audit", cst_api_audit_list, AUDIT_READ, NONE, "audit.read"),
    R("GET", "/v1/sys/audit", cst_api_sys_audit_list, SYS_SECURITY, NONE, "sys.audit.read"),
    R("POST", "/v1/sys/audit/verify", cst_api_sys_audit_verify, SYS_SECURITY, JSON,
      "sys.audit.verify"),
    R("GET", "/v1/sys/alerts", cst_api_sys_alert_list, SYS_SECURITY, NONE, "sys.alert.list"),
    R("GET", "/v1/sys/alerts/{id}", cst_api_sys_alert_get, SYS_SECURITY, NONE, "sys.alert.read"),
    R("PATCH", "/v1/sys/alerts/{id}", cst_api_sys_alert_patch, SYS_SECURITY, JSON,
      "sys.alert.change"),
    R("GET", "/v1/alerts", cst_api_alert_list, AUDIT_READ, NONE, "alert.list"),
    R("GET", "/v1/sys/report", cst_api_sys_report, SYS_REPORT, NONE, "report.generated"),
    R("GET", "/v1/report", cst_api_report, AUDIT_READ, NONE, "report.generated"),
    R("GET", "/v1/sys/backups", cst_api_sys_backup_list, SYS_BACKUPS, NONE, "sys.backup.list"),
    R("POST", "/v1/sys/backups", cst_api_sys_backup_create, SYS_BACKUPS, NONE, "sys.backup.create"),
    R("POST", "/v1/sys/backups/{id}/verify", cst_api_sys_backup_verify, SYS_BACKUPS, NONE,
      "sys.backup.verify"),
    R("POST", "/v1/sys/backups/drill", cst_api_sys_backup_drill, SYS_BACKUPS, NONE,
      "sys.backup.drill"),
    /* INC-1..4: incidents, breach clocks, notices; the timeline has no route that edits it */
    R("GET", "/v1/sys/incidents", cst_api_sys_incident_list, SYS_SECURITY, NONE,
      "sys.incident.list"),
    R("POST", "/v1/sys/incidents", cst_api_sys_incident_create, SYS_SECURITY, JSON,
      "sys.incident.create"),
    R("GET", "/v1/sys/incidents/{id}", cst_api_sys_incident_get, SYS_SECURITY, NONE,
      "sys.incident.read"),
    R("PATCH", "/v1/sys/incidents/{id}", cst_api_sys_incident_patch, SYS_SECURITY, JSON,
      "sys.incident.change"),
    R("POST", "/v1/sys/incidents/{id}/timeline", cst_api_sys_incident_timeline, SYS_SECURITY, JSON,
      "sys.incident.timeline"),
    R("POST", "/v1/sys/incidents/{id}/confirm-breach", cst_api_sys_incident_confirm, SYS_SECURITY,
      JSON, "sys.incident.confirm_breach"),
    R("POST", "/v1/sys/incidents/{id}/notices", cst_api_sys_notice_create, SYS_SECURITY, JSON,
      "sys.notice.send"),
    /* a closed tenant still learns of a breach of its data (RET-3 keeps these reads) */
    RF("GET", "/v1/notices", cst_api_notice_list, AUDIT_READ, NONE, "notice.list", CLOSED_READ),
    RF("GET", "/v1/notices/{id}", cst_api_notice_get, AUDIT_READ, NONE, "notice.read", CLOSED_READ),
    R("POST", "/v1/notices/{id}/approve-user-notice", cst_api_notice_decide, TENANT_ADMIN, JSON,
      "notice.user_notice.decide"),
    /* IAM-6: access reviews; auditors read, owners and admins review */
    R("GET", "/v1/access-review", cst_api_review_get, AUDIT_READ, NONE, "review.list"),
    R("POST", "/v1/access-review", cst_api_review_open, USERS_ADMIN, NONE, "review.open"),
    R("GET", "/v1/access-review/{id}", cst_api_review_read, AUDIT_READ, NONE, "review.read"),
    R("POST", "/v1/access-review/{id}/decisions", cst_api_review_decide, USERS_ADMIN, JSON,
      "review.decide"),
    R("POST", "/v1/access-review/{id}/attest", cst_api_review_attest, USERS_ADMIN, NONE,
      "review.attest"),
    /* IAM-6: the operators' own accounts, reviewed by sys-security */
    R("GET", "/v1/sys/access-review", cst_api_review_get, SYS_SECURITY, NONE, "sys.review.list"),
    R("POST", "/v1/sys/access-review", cst_api_review_open, SYS_SECURITY, NONE, "sys.review.open"),
    R("GET", "/v1/sys/access-review/{id}", cst_api_review_read, SYS_SECURITY, NONE,
      "sys.review.read"),
    R("POST", "/v1/sys/access-review/{id}/decisions", cst_api_review_decide, SYS_SECURITY, JSON,
      "sys.review.decide"),
    R("POST", "/v1/sys/access-review/{id}/attest", cst_api_review_attest, SYS_SECURITY, NONE,
      "sys.review.attest"),
    /* IAM-8: the lockbox: operators request, the tenant decides, a grant's one credential;
     * break-glass with a fresh second factor, reviewed by another security operator */
    R("POST", "/v1/sys/access-requests", cst_api_sys_access_create, SYS_LOCKBOX, JSON,
      "sys.access_request.create"),
    R("GET", "/v1/sys/access-requests", cst_api_sys_access_list, SYS_LOCKBOX, NONE,
      "sys.access_request.list"),
    R("GET", "/v1/sys/access-requests/{id}", cst_api_sys_access_get, SYS_LOCKBOX, NONE,
      "sys.access_request.read"),
    R("POST", "/v1/sys/access-requests/{id}/token", cst_api_sys_access_token, SYS_LOCKBOX, NONE,
      "sys.access_request.token"),
    R("POST", "/v1/sys/access-requests/{id}/review", cst_api_sys_access_review, SYS_SECURITY, JSON,
      "sys.access_request.review"),
    R("POST", "/v1/sys/break-glass", cst_api_sys_break_glass, SYS_BREAK_GLASS, JSON,
      "sys.break_glass"),
    RF("GET", "/v1/access-requests", cst_api_access_list, AUDIT_READ, NONE, "access_request.list",
       CLOSED_READ),
    RF("GET", "/v1/access-requests/{id}", cst_api_access_get, AUDIT_READ, NONE,
       "access_request.read", CLOSED_READ),
    R("POST", "/v1/access-requests/{id}/approve", cst_api_access_approve, TENANT_ADMIN, JSON,
      "access_request.approve"),
    R("POST", "/v1/access-requests/{id}/deny", cst_api_access_deny, TENANT_ADMIN, JSON,
      "access_request.deny"),
    R("POST", "/v1/access-requests/{id}/revoke", cst_api_access_revoke, TENANT_ADMIN, NONE,
      "access_request.revoke"),
};

const size_t cst_api_route_count = sizeof(cst_api_routes) / sizeof(cst_api_routes[0]);
