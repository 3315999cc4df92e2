/* incident.h: the domain rules of incidents (INC-1), breach clocks (INC-2), notices (INC-3) and
 * the tenant's decision on notifying its own users (INC-4): validation, the status machine,
 * required notice contents and deadlines. Pure: time comes in as now. */
#ifndef CST_CORE_INCIDENT_H
#define CST_CORE_INCIDENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

#define CST_HOUR_US (3600LL * 1000000)
#define CST_NOTICE_HOURS_DEFAULT 48 /* INC-2: a tenant's breach_notice_hours unless it chose */
#define CST_NOTICE_DUE_SOON_US (12 * CST_HOUR_US) /* a notice is "due" this long before */
#define CST_INCIDENT_TENANTS_MAX 64
#define CST_INCIDENT_CATEGORIES_MAX 32
#define CST_NOTICE_CONTACTS_MAX 10

/* A new open incident from {title, severity, summary, tenants?, data_categories?}, owned by
 * owner, with a fresh id ("in_..."). CST_ERR_INVALID naming the field at fault. */
CST_MUST_USE cst_err cst_incident_new(const json_t *body, const char *owner, int64_t now,
                                      cst_incident_row *out);

/* Applies a change {owner?, status?, root_cause?, remediation?, tenants?, data_categories?} to
 * i. Status moves by the table: open -> contained | resolved; contained -> open | resolved;
 * resolved -> open | closed; closed is final (CST_ERR_CONFLICT). Closing needs a root cause
 * and a remediation (CST_ERR_INVALID). The owner's existence is the caller's to check. */
CST_MUST_USE cst_err cst_incident_patch(cst_incident_row *i, const json_t *change, int64_t now);

/* Whether an incident in status from may move to status to. */
bool cst_incident_transition_ok(const char *from, const char *to);

/* Checks a JSON array of at most max strings, each 1..max_len bytes; when prefix is not NULL
 * each must be an id with that prefix. Names the field in the failure. */
CST_MUST_USE cst_err cst_incident_list_check(const json_t *v, const char *field, size_t max,
                                             size_t max_len, const char *prefix);

/* INC-2: the hours a tenant's notice is due within: its breach_notice_hours setting (JSON
 * settings text; absent: 48), never more than the node's max_hours. */
int cst_incident_notice_hours(const char *settings_json, int max_hours);
/* INC-2: checks a tenant settings change's breach_notice_hours (24..max_hours) and
 * notice_contacts (at most CST_NOTICE_CONTACTS_MAX email addresses). */
CST_MUST_USE cst_err cst_incident_settings_check(const json_t *change, int max_hours);

/* INC-2: a clock's state at now: "sent", "overdue" (deadline passed, not sent) or "due". */
const char *cst_clock_status(const cst_clock_row *c, int64_t now);
/* Whether an unsent clock is due within CST_NOTICE_DUE_SOON_US of now (or overdue). */
bool cst_clock_due_soon(const cst_clock_row *c, int64_t now);

/* INC-3: the notice fields (SPEC §11) in one table; required ones must be present to send. */
typedef enum cst_notice_kind { CST_NOTICE_TEXT, CST_NOTICE_COUNT, CST_NOTICE_LIST } cst_notice_kind;
typedef struct cst_notice_field {
    const char *name;
    cst_notice_kind kind;
    bool required;
    const char *label; /* how the notice's email names it */
} cst_notice_field;
extern const cst_notice_field cst_notice_fields[];
extern const size_t cst_notice_field_count;

/* INC-3: checks a notice body's content fields (the table's; other members are the caller's)
 * sent at now against deadline: each required field present and well-formed, delay_reason
 * required past the deadline. CST_ERR_INVALID naming the first field at fault. *content
 * receives a new object holding the table's fields given. */
CST_MUST_USE cst_err cst_notice_check(const json_t *body, int64_t deadline, int64_t now,
                                      json_t **content);

/* INC-3: the plain text of a notice (the API's JSON of it) for its email: a heading line, each
 * content field given with its label, the time of awareness and deadline, and where the full
 * notice and its pre-filled facts are read (GET /v1/notices/{id}). A new string in *out (the
 * caller frees it). */
CST_MUST_USE cst_err cst_notice_text(const json_t *notice, char **out);

/* INC-4: "approve" -> "approved", "decline" -> "declined"; NULL for anything else. */
const char *cst_notice_decision(const char *decision);

#endif
