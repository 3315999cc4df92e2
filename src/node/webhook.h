/* webhook.h: signed webhook deliveries of alerts (DET-1). A new alert or an escalation is
 * queued in system.db (webhook_deliveries) for each destination configured: the node's
 * alerts.webhook_url, and the alert's tenant's alert_webhook_url. A sender thread posts what is due
 * with libcurl, signed the Standard Webhooks way (webhook-id, webhook-timestamp,
 * webhook-signature), and retries with doubling backoff for 24 h; a delivery survives a restart
 * because it is in the table. */
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

/* Queues the deliveries of alert a (event: "alert.raised" or "alert.escalated") at now
 * (microseconds), one per destination configured; none when no webhook is. Committed on its
 * own, and the sender is woken. */
CST_MUST_USE cst_err cst_webhook_enqueue(cst_node *n, const cst_alert_row *a, const char *event,
                                         int64_t now);

/* Records an attempt of d at now (microseconds): err "" (a 2xx) makes it delivered; otherwise
 * it is retried retry_base_s seconds later, twice as long after each further failure, at most
 * an hour apart, and becomes failed once the next retry would fall more than 24 h after its
 * creation. */
void cst_webhook_outcome(cst_webhook_row *d, int retry_base_s, int64_t now, long status,
                         const char *err);

/* Starts the sender thread (loading the node's secrets when alerts.webhook_url is set: a bad
 * secret file fails here, at start-up); stop joins it (safe when never started). */
CST_MUST_USE cst_err cst_webhook_start(cst_node *n);
void cst_webhook_stop(cst_node *n);

#endif
