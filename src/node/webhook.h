/* webhook.h: signed webhook deliveries of alerts (DET-1). A new alert or an escalation is
 * queued in system.db (webhook_deliveries) for each destination configured: the node's
 * alerts.webhook_url. A sender thread posts what is due with libcurl, signed the Standard
 * Webhooks way (webhook-id, webhook-timestamp, webhook-signature), and retries with doubling
 * backoff for 24 h; a delivery survives a restart because it is in the table. */
#ifndef CST_WEBHOOK_H
#define CST_WEBHOOK_H

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

/* Queues the deliveries of alert a (event: "alert.raised" or "alert.escalated") at now
 * (microseconds), one per destination configured; none when no webhook is. Committed on its
 * own, and the sender is woken. */
CST_MUST_USE cst_err cst_webhook_enqueue(cst_node *n, const cst_alert_row *a, const char *event,
                                         int64_t now);

/* Starts the sender thread (loading the node's secrets: a bad secret file fails here, at
 * start-up) when a webhook is configured; stop joins it (safe when never started). */
CST_MUST_USE cst_err cst_webhook_start(cst_node *n);
void cst_webhook_stop(cst_node *n);

#endif
