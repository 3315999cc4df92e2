/* webhook.h: signed webhook deliveries (DET-1). An event (a new or escalated alert, a breach
 * notice, a lockbox request...) is queued in system.db (webhook_deliveries) for each destination
 * configured: the node's alerts.webhook_url, and the tenant's alert_webhook_url. A sender thread
 * posts what is due with libcurl, signed the Standard Webhooks way (webhook-id,
 * webhook-timestamp, webhook-signature), and retries with doubling backoff for 24 h; a delivery
 * survives a restart because it is in the table. The same queue carries the emails of breach
 * notices (url "mailto:<address>", body the RFC 5322 message; node/mail.h). */
#ifndef CST_WEBHOOK_H
#define CST_WEBHOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/node.h"
#include "store/store.h"

#define CST_WEBHOOK_SECRET_MIN 24
#define CST_WEBHOOK_SECRET_MAX 64
#define CST_WEBHOOK_SECRETS 2 /* the current one and, during a rotation, the previous one */
/* "v1,<44 base64>" per secret, space-separated */
#define CST_WEBHOOK_SIG_MAX (CST_WEBHOOK_SECRETS * 48 + 1)

typedef struct cst_webhook_secret {
    uint8_t key[CST_WEBHOOK_SECRET_MAX];
    size_t len;
} cst_webhook_secret;

/* Decodes "whsec_<base64 of 24..64 bytes>" into *out. */
CST_MUST_USE cst_err cst_webhook_secret_parse(const char *text, size_t len,
                                              cst_webhook_secret *out);
/* Reads a secret file (regular, not a link, mode 0600 or stricter): one or two secrets, one per
 * line, the first current. *count receives how many. Wipes what it read. */
CST_MUST_USE cst_err cst_webhook_secrets_load(const char *path,
                                              cst_webhook_secret out[CST_WEBHOOK_SECRETS],
                                              size_t *count);
/* The webhook-signature header value: "v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>"
 * for each of the n secrets, space-separated, into out (size CST_WEBHOOK_SIG_MAX). */
CST_MUST_USE cst_err cst_webhook_sign(const cst_webhook_secret *secrets, size_t n,
                                      const char *msg_id, int64_t timestamp, const char *body,
                                      size_t body_len, char out[CST_WEBHOOK_SIG_MAX]);

/* ---- a tenant's webhook (its settings alert_webhook_url; secrets sealed under the node's
 * audit key, in the settings member "alert_webhook_sealed": {current, previous,
 * previous_until}) ---- */
#define CST_WHSEC_TEXT_MAX 96 /* "whsec_" + base64 of a 32-byte secret, with room */
/* After a settings change was merged into stored (the tenant's settings object): when the
 * tenant has an alert_webhook_url and no secret yet, or rotate, makes a new current secret
 * (the previous one keeps signing until now + 24 h) and writes it, once, to whsec (*issued
 * true); without a URL the sealed secrets are dropped (rotate then fails). */
CST_MUST_USE cst_err cst_webhook_tenant_settings(cst_node *n, const char *tenant_id, json_t *stored,
                                                 bool rotate, int64_t now,
                                                 char whsec[CST_WHSEC_TEXT_MAX], bool *issued);

/* Queues a signed delivery {type: event, timestamp, data} about subject_id (an alert, notice,
 * access request or review id; GET /v1/sys/alerts/{id} lists an alert's) to the tenant's
 * alert_webhook_url when tenant_id is non-NULL and the tenant set one, and to the node's
 * alerts.webhook_url when to_node; none when neither is configured. Inside unit of work w
 * (NULL: committed on its own); steals data; the sender is woken. */
CST_MUST_USE cst_err cst_webhook_event(cst_node *n, cst_work *w, const char *tenant_id,
                                       bool to_node, const char *subject_id, const char *event,
                                       json_t *data, int64_t now);
/* The deliveries of alert a (event: "alert.raised" or "alert.escalated") at now (microseconds):
 * to the node's webhook and the alert's tenant's. Committed on its own. */
CST_MUST_USE cst_err cst_webhook_enqueue(cst_node *n, const cst_alert_row *a, const char *event,
                                         int64_t now);
/* Queues one delivery, id (NULL: a new msg_ id) of body to url about subject_id, inside w: a
 * webhook post signed with the node's secrets (tenant_id "") or the tenant's, or for a
 * "mailto:<address>" url the email body is (cst_mail_compose's message), sent through
 * notices.smtp_url. */
CST_MUST_USE cst_err cst_webhook_queue(cst_node *n, cst_work *w, const char *id,
                                       const char *subject_id, const char *tenant_id,
                                       const char *url, const char *body, int64_t now);

/* Records an attempt of d at now (microseconds): err "" (a 2xx) makes it delivered; otherwise
 * it is retried retry_base_s seconds later, twice as long after each further failure, at most
 * an hour apart, and becomes failed once the next retry would fall more than 24 h after its
 * creation. */
void cst_webhook_outcome(cst_webhook_row *d, int retry_base_s, int64_t now, long status,
                         const char *err);

/* Starts the sender thread (checking the node's secrets when alerts.webhook_url is set: a bad
 * secret file fails here, at start-up; they are read again at each attempt, so a rotated file
 * needs no restart); stop joins it (safe when never started). */
CST_MUST_USE cst_err cst_webhook_start(cst_node *n);
void cst_webhook_stop(cst_node *n);

#endif
