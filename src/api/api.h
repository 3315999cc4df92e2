/* api.h: the HTTP API: the route table, request dispatch and one handler per route. */
#ifndef CST_API_H
#define CST_API_H

#include <stddef.h>

#include "audit/audit.h"
#include "core/account.h"
#include "core/authn.h"
#include "core/authz.h"
#include "core/bucket.h"
#include "core/portability.h"
#include "core/record.h"
#include "core/spool.h"
#include "core/tenant.h"
#include "http/request.h"
#include "node/node.h"
#include "util/json.h"

extern const cst_route cst_api_routes[];
extern const size_t cst_api_route_count;

/* Server hooks (see server.h); app is the cst_node. */
cst_err cst_api_on_headers(void *app, cst_request *req, const char *url);
cst_err cst_api_on_complete(void *app, cst_request *req);

/* Tenant settings from their stored JSON (NULL: the node's defaults). */
CST_MUST_USE cst_err cst_settings_load(const cst_node *n, const char *json,
                                       cst_tenant_settings *out);
json_t *cst_tenant_json(const cst_node *n, cst_work *w, const cst_tenant_row *t,
                        bool with_settings);

/* IAM-2: login throttling per client address, checked from the headers (before any body is
 * read); 429 rate_limited with Retry-After when the address has no attempts left. */
CST_MUST_USE cst_err cst_api_login_throttle(cst_node *n, cst_request *req);
#define CST_LOGIN_NAME_MAX 128 /* a login's tenant and username, each */

/* Parses a JSON body into an object and checks its members against allowed. */
CST_MUST_USE cst_err cst_api_body(cst_request *req, const char *const *allowed, json_t **out);
/* The open tenant of the calling principal. */
CST_MUST_USE cst_err cst_api_tenant(cst_node *n, cst_request *req, cst_tenant_ctx **out);
#define CST_PAGE_DEFAULT 100
#define CST_PAGE_MAX 1000
/* The "limit" query parameter of a listing: 1..CST_PAGE_MAX, CST_PAGE_DEFAULT when absent. */
CST_MUST_USE cst_err cst_api_query_limit(cst_request *req, int *limit);
/* Answers a listing (unless e failed): {name: items, next: the cursor_field of the last item
 * when the page is full (limit items), else null}. Takes items in every case. */
CST_MUST_USE cst_err cst_api_page(cst_request *req, cst_err e, const char *name, json_t *items,
                                  const char *cursor_field, int limit);
/* Creates an account in tenant_id (CST_SYS_TENANT for operators) from a {username, roles,
 * grants?} body, with a one-time password returned once. */
CST_MUST_USE cst_err cst_api_account_create(cst_node *n, cst_request *req, const char *tenant_id,
                                            uint32_t allowed_roles,
                                            json_t *(*to_json)(const cst_user_row *));

/* handlers */
cst_err cst_api_sys_backup_create(cst_node *n, cst_request *req);
cst_err cst_api_sys_backup_list(cst_node *n, cst_request *req);
cst_err cst_api_sys_backup_verify(cst_node *n, cst_request *req);
cst_err cst_api_sys_backup_drill(cst_node *n, cst_request *req);
cst_err cst_api_health(cst_node *n, cst_request *req);
cst_err cst_api_login(cst_node *n, cst_request *req);
cst_err cst_api_logout(cst_node *n, cst_request *req);
cst_err cst_api_password(cst_node *n, cst_request *req);
cst_err cst_api_tenant_get(cst_node *n, cst_request *req);
cst_err cst_api_tenant_patch(cst_node *n, cst_request *req);
cst_err cst_api_totp_enrol(cst_node *n, cst_request *req);
cst_err cst_api_totp_confirm(cst_node *n, cst_request *req);
/* IAM-3: checks a fresh TOTP code of u and records its step (never accepted twice). */
CST_MUST_USE cst_err cst_api_totp_check(cst_node *n, const cst_user_row *u, const char *code);
/* IAM-2, IAM-3: a fresh TOTP code a route asks of a signed-in user (break-glass): refused while
 * the account is locked (CST_ERR_LOCKED), and a wrong one counts towards the lock as a failed
 * login does, so that a session cannot try every code. */
CST_MUST_USE cst_err cst_api_step_up(cst_node *n, cst_request *req, const cst_user_row *u,
                                     const char *code);
/* IAM-8: the lockbox (api/lockbox.c) */
cst_err cst_api_sys_access_create(cst_node *n, cst_request *req);
cst_err cst_api_sys_access_list(cst_node *n, cst_request *req);
cst_err cst_api_sys_access_get(cst_node *n, cst_request *req);
cst_err cst_api_sys_access_token(cst_node *n, cst_request *req);
cst_err cst_api_sys_access_review(cst_node *n, cst_request *req);
cst_err cst_api_sys_break_glass(cst_node *n, cst_request *req);
cst_err cst_api_sys_keys(cst_node *n, cst_request *req);
cst_err cst_api_sys_keys_rotate(cst_node *n, cst_request *req);
cst_err cst_api_access_list(cst_node *n, cst_request *req);
cst_err cst_api_access_get(cst_node *n, cst_request *req);
cst_err cst_api_access_approve(cst_node *n, cst_request *req);
cst_err cst_api_access_deny(cst_node *n, cst_request *req);
cst_err cst_api_access_revoke(cst_node *n, cst_request *req);
cst_err cst_api_totp_disable(cst_node *n, cst_request *req);
cst_err cst_api_session_list(cst_node *n, cst_request *req);
cst_err cst_api_session_delete(cst_node *n, cst_request *req);
cst_err cst_api_user_create(cst_node *n, cst_request *req);
cst_err cst_api_user_list(cst_node *n, cst_request *req);
cst_err cst_api_user_get(cst_node *n, cst_request *req);
cst_err cst_api_user_patch(cst_node *n, cst_request *req);
cst_err cst_api_user_delete(cst_node *n, cst_request *req);
cst_err cst_api_operator_create(cst_node *n, cst_request *req);
cst_err cst_api_operator_list(cst_node *n, cst_request *req);
cst_err cst_api_operator_patch(cst_node *n, cst_request *req);
cst_err cst_api_sys_tenant_create(cst_node *n, cst_request *req);
cst_err cst_api_sys_tenant_list(cst_node *n, cst_request *req);
cst_err cst_api_sys_tenant_get(cst_node *n, cst_request *req);
cst_err cst_api_sys_tenant_patch(cst_node *n, cst_request *req);
cst_err cst_api_sys_tenant_erase(cst_node *n, cst_request *req);
cst_err cst_api_sys_tenant_keys(cst_node *n, cst_request *req);
cst_err cst_api_sys_tenant_keys_rotate(cst_node *n, cst_request *req);
cst_err cst_api_sys_certificate_get(cst_node *n, cst_request *req);
cst_err cst_api_export(cst_node *n, cst_request *req);
cst_err cst_api_import(cst_node *n, cst_request *req);
cst_err cst_api_token_create(cst_node *n, cst_request *req);
cst_err cst_api_token_list(cst_node *n, cst_request *req);
cst_err cst_api_token_delete(cst_node *n, cst_request *req);
cst_err cst_api_bucket_create(cst_node *n, cst_request *req);
cst_err cst_api_bucket_list(cst_node *n, cst_request *req);
cst_err cst_api_bucket_get(cst_node *n, cst_request *req);
cst_err cst_api_bucket_patch(cst_node *n, cst_request *req);
cst_err cst_api_bucket_delete(cst_node *n, cst_request *req);
cst_err cst_api_record_put(cst_node *n, cst_request *req);
cst_err cst_api_record_get(cst_node *n, cst_request *req);
cst_err cst_api_record_delete(cst_node *n, cst_request *req);
cst_err cst_api_record_list(cst_node *n, cst_request *req);
cst_err cst_api_record_batch(cst_node *n, cst_request *req);
cst_err cst_api_audit_list(cst_node *n, cst_request *req);
cst_err cst_api_sys_audit_list(cst_node *n, cst_request *req);
cst_err cst_api_sys_audit_verify(cst_node *n, cst_request *req);
cst_err cst_api_sys_report(cst_node *n, cst_request *req);
cst_err cst_api_report(cst_node *n, cst_request *req);
cst_err cst_api_sys_incident_create(cst_node *n, cst_request *req);
cst_err cst_api_sys_incident_list(cst_node *n, cst_request *req);
cst_err cst_api_sys_incident_get(cst_node *n, cst_request *req);
cst_err cst_api_sys_incident_patch(cst_node *n, cst_request *req);
cst_err cst_api_sys_incident_timeline(cst_node *n, cst_request *req);
cst_err cst_api_sys_incident_confirm(cst_node *n, cst_request *req);
cst_err cst_api_sys_notice_create(cst_node *n, cst_request *req);
cst_err cst_api_notice_list(cst_node *n, cst_request *req);
cst_err cst_api_notice_get(cst_node *n, cst_request *req);
cst_err cst_api_notice_decide(cst_node *n, cst_request *req);

/* IAM-6: access reviews; the same handlers serve /v1/sys/access-review for the operators */
cst_err cst_api_review_get(cst_node *n, cst_request *req);
cst_err cst_api_review_open(cst_node *n, cst_request *req);
cst_err cst_api_review_read(cst_node *n, cst_request *req);
cst_err cst_api_review_decide(cst_node *n, cst_request *req);
cst_err cst_api_review_attest(cst_node *n, cst_request *req);

/* LOG-1: writes the request's audit entry (once) and returns once it is durable; with a
 * ticket, only queues it (cst_audit_wait on the ticket says when it is durable). */
CST_MUST_USE cst_err cst_api_audit_request(cst_node *n, cst_request *req, cst_audit_ticket *ticket);
/* Server hook: audits a response that did not go through on_complete (refusals). */
void cst_api_on_respond(void *app, cst_request *req);
/* DET-2: the metrics listener's on_headers: /metrics only, then as cst_api_on_headers. */
cst_err cst_api_on_headers_metrics(void *app, cst_request *req, const char *url);
/* DET-2: a credential-less scrape from this host (metrics.allow_loopback). */
bool cst_api_loopback_scrape(const cst_node *n, cst_request *req);
/* DET-2, issue 19: an answered request's counters and its server-log line. */
void cst_api_observe(cst_node *n, cst_request *req);
cst_err cst_api_metrics(cst_node *n, cst_request *req);
cst_err cst_api_ready(cst_node *n, cst_request *req);
/* DET-1 (alerts.c): feeds the detection rules what a finished request says (failed logins,
 * allowlist refusals, records read); run once per response, after its unit of work ended. */
void cst_api_detect(cst_node *n, cst_request *req);
/* DET-1, INC-3 (alerts.c): sets o's "deliveries" to the webhook and email deliveries about
 * subject_id (an alert's or a notice's), oldest first. */
CST_MUST_USE cst_err cst_api_deliveries(cst_node *n, cst_work *w, const char *subject_id,
                                        json_t *o);
/* A bearer token was refused: a revoked or expired one raises revoked_credential. */
void cst_api_detect_token(cst_node *n, cst_request *req, const char *bearer);
/* Remembers a revoked token (so that its reuse is noticed), and every session of a user but
 * keep_id (NULL: all) before they are ended. */
void cst_api_token_revoked(cst_node *n, const cst_token_row *t);
CST_MUST_USE cst_err cst_api_sessions_revoked(cst_node *n, cst_request *req, const char *tenant_id,
                                              const char *user_id, const char *keep_id);
cst_err cst_api_sys_alert_list(cst_node *n, cst_request *req);
cst_err cst_api_sys_alert_get(cst_node *n, cst_request *req);
cst_err cst_api_sys_alert_patch(cst_node *n, cst_request *req);
cst_err cst_api_alert_list(cst_node *n, cst_request *req);
/* Adds a tenant-identifying detail (sealed in the entry) or a plain fact to the request's
 * audit entry; the value is stolen. */
void cst_audit_detail(cst_request *req, const char *key, json_t *value);
void cst_audit_info(cst_request *req, const char *key, json_t *value);

#endif
