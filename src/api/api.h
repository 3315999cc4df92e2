/* api.h: the HTTP API: the route table, request dispatch and one handler per route. */
#ifndef CST_API_H
#define CST_API_H

#include <stddef.h>

#include "util/json.h"
#include "http/request.h"
#include "node/node.h"

extern const cst_route cst_api_routes[];
extern const size_t cst_api_route_count;

/* Server hooks (see server.h); app is the cst_node. */
cst_err cst_api_on_headers(void *app, cst_request *req, const char *url);
cst_err cst_api_on_complete(void *app, cst_request *req);

#define CST_TOTP_NONE 0
#define CST_TOTP_PENDING 1
#define CST_TOTP_ACTIVE 2

/* Tenant settings from their stored JSON (NULL: the node's defaults). */
CST_MUST_USE cst_err cst_settings_load(const cst_node *n, const char *json,
                                       cst_tenant_settings *out);
json_t *cst_tenant_json(const cst_node *n, const cst_tenant_row *t, bool with_settings);
/* IAM-3: whether this user must use two-factor authentication. */
bool cst_mfa_required(const cst_user_row *u, const cst_tenant_settings *s);
/* IAM-7: refuses a client outside the tenant's (or, for operators, the node's) allowlist. */
CST_MUST_USE cst_err cst_api_check_ip(const cst_node *n, const cst_request *req, bool is_operator,
                                      const cst_tenant_settings *s);

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
/* Usernames: 1-64 characters of A-Z a-z 0-9 . _ - @. */
CST_MUST_USE cst_err cst_api_check_username(const char *u);
/* A one-time password, its Argon2id hash and a history holding that hash. */
CST_MUST_USE cst_err cst_api_new_password(char password[32], char *hash, char *history,
                                          size_t history_len);
/* Creates an account in tenant_id (CST_SYS_TENANT for operators) from a {username, roles,
 * grants?} body, with a one-time password returned once. */
CST_MUST_USE cst_err cst_api_account_create(cst_node *n, cst_request *req, const char *tenant_id,
                                            uint32_t allowed_roles,
                                            json_t *(*to_json)(const cst_user_row *));
/* Validates a resource name: [a-z0-9_-]{1,64} (bucket names), or with first/last alnum. */
CST_MUST_USE cst_err cst_api_check_name(const char *what, const char *name);

/* Parsed records:batch operation (the parser is separate so that it can be fuzzed). */
typedef struct cst_batch_op {
    bool is_delete;
    const char *key; /* borrowed from the JSON document */
    size_t key_len;
    const char *content_type;
    uint8_t *value; /* decoded (malloc) */
    size_t value_len;
    int64_t if_match; /* 0: none, -1: if_none_match "*" */
} cst_batch_op;

#define CST_BATCH_MAX 1000
/* Parses {"operations":[...]} into ops (caller frees with cst_batch_free). */
CST_MUST_USE cst_err cst_batch_parse(const json_t *doc, size_t max_value, cst_batch_op **ops,
                                     size_t *n);
void cst_batch_free(cst_batch_op *ops, size_t n);
/* Validates a record key: 1-1024 bytes of UTF-8 without control characters. */
CST_MUST_USE cst_err cst_record_key_check(const char *key, size_t len);

/* RET-1: the longest retention a bucket may have (100 years), and how far ahead of the node's
 * clock a record's times may be (clock skew between the exporting node and this one). */
#define CST_RETENTION_MAX_SECONDS (100LL * 365 * 86400)
#define CST_CLOCK_SKEW_US (300LL * 1000000)
/* RET-1, POR-1: the one validation of a bucket, whoever makes it (the bucket routes, an
 * import): name, class (standard or billing), retention from 0 (keep) to the maximum. */
CST_MUST_USE cst_err cst_bucket_validate(const cst_bucket_row *b);
/* RET-1, POR-1: the one validation of a record, whoever writes it (the record routes, an
 * import, an erase's copy of billing records): key, content type, value size (at most
 * max_value), and times: created_at <= updated_at, neither before 1970 nor later than now plus
 * CST_CLOCK_SKEW_US (a record dated in the future would escape its retention). Times of 0 mean
 * "now" (the API sets them). */
CST_MUST_USE cst_err cst_record_validate(const char *key, size_t key_len, const char *ctype,
                                         size_t value_len, size_t max_value, int64_t created_at,
                                         int64_t updated_at, int64_t now);

/* BAK-3: decrypts a record's key, content type and value (row read with its value), so that
 * a drill proves every record of a restored node opens. Wipes what it decrypted. */
CST_MUST_USE cst_err cst_record_check(const cst_tenant_ctx *t, const char *bucket,
                                      const cst_record_row *r);

/* Decrypts a record read with its value: key (CST_PARAM_MAX + 1 bytes), content type (128
 * bytes) and value (wipe it). */
CST_MUST_USE cst_err cst_record_open(const cst_tenant_ctx *t, const char *bucket,
                                     const cst_record_row *r, char *key, size_t *key_len,
                                     char *ctype, cst_buf *value);
/* Seals and writes a record inside the caller's transaction. must_be_new: CST_ERR_CONFLICT
 * when the key exists. Non-zero times replace the record's created_at/updated_at. */
CST_MUST_USE cst_err cst_record_store(cst_tenant_ctx *t, const char *bucket, const char *key,
                                      size_t key_len, const char *ctype, const uint8_t *value,
                                      size_t value_len, bool must_be_new, int64_t created_at,
                                      int64_t updated_at);

/* POR-1: an import's upload, spooled encrypted to an unnamed file under the scratch dir (see
 * spool.c). cst_spool_write is the request's body sink; cst_spool_free_ctx its free. */
#define CST_SPOOL_LAST_MAX 4096 /* the manifest line is far shorter */
typedef struct cst_spool cst_spool;
typedef struct cst_spool_summary {
    size_t bytes;
    const char *last; /* the last line (not NUL-terminated), or NULL when it is too long */
    size_t last_len;
    uint8_t sha256_before_last[32]; /* over every byte before the last line */
} cst_spool_summary;
/* Creates the spool in dir (mode 0700, created when missing); more than limit bytes fail with
 * CST_ERR_TOO_LARGE, a full disk with CST_ERR_UNAVAILABLE. */
CST_MUST_USE cst_err cst_spool_open(const char *dir, size_t limit, cst_spool **out);
CST_MUST_USE cst_err cst_spool_write(void *spool, const void *data, size_t n);
/* Ends the upload and rewinds for reading; out->last points into the spool. */
CST_MUST_USE cst_err cst_spool_finish(cst_spool *sp, cst_spool_summary *out);
/* The next line (without its newline) into line, refusing one longer than max; *eof once the
 * spool is read to its end. */
CST_MUST_USE cst_err cst_spool_line(cst_spool *sp, cst_buf *line, size_t max, bool *eof);
/* Closes (and so removes) the file, wipes the key. */
void cst_spool_free(cst_spool *sp);
void cst_spool_free_ctx(void *spool);

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

/* LOG-1: writes the request's audit entry (once) and returns once it is durable. */
CST_MUST_USE cst_err cst_api_audit_request(cst_node *n, cst_request *req);
/* Server hook: audits a response that did not go through on_complete (refusals). */
void cst_api_on_respond(void *app, cst_request *req);
/* Adds a tenant-identifying detail (sealed in the entry) or a plain fact to the request's
 * audit entry; the value is stolen. */
void cst_audit_detail(cst_request *req, const char *key, json_t *value);
void cst_audit_info(cst_request *req, const char *key, json_t *value);

#endif
