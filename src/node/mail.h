/* mail.h: email of breach notices (INC-3): a thin libcurl SMTP adapter. The node's delivery
 * queue composes a message for each of a tenant's notice_contacts and sends it through the relay
 * of notices.smtp_url (TLS required, the relay's certificate verified). */
#ifndef CST_MAIL_H
#define CST_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/config.h"
#include "util/err.h"

#define CST_MAIL_LINE_MAX 998 /* RFC 5322 2.1.1: octets in a line, without its CRLF */

/* Builds an RFC 5322 message (CRLF line ends) from cfg's notices.smtp_from to `to`: Date (now,
 * microseconds), From, To, Subject (printable ASCII), Message-ID <msg_id@custodia>,
 * MIME-Version, Content-Type text/plain; charset=utf-8, Content-Transfer-Encoding 8bit, then the
 * body text (UTF-8; its LF or CRLF line ends become CRLF). A header value with CR, LF or another
 * control character, a body line over CST_MAIL_LINE_MAX octets, a bare CR or invalid UTF-8 fail
 * with CST_ERR_INVALID naming the value. Lines starting with "." are left as they are: libcurl's
 * SMTP upload dot-stuffs them. Writes into out (n bytes, NUL-terminated). */
CST_MUST_USE cst_err cst_mail_compose(const cst_config *cfg, const char *to, const char *subject,
                                      const char *text, const char *msg_id, int64_t now, char *out,
                                      size_t n);

/* Sends message (from cst_mail_compose) to one recipient through notices.smtp_url. *status gets
 * the last SMTP reply code (0: none), err a one-line reason when it failed ("" when accepted with
 * 250). Never takes longer than notices.smtp_timeout_seconds. The relay's answer is reported in
 * *status and err, not as the result: the result fails only when the send could not be tried
 * (no relay, a bad credentials file, a bad address). */
CST_MUST_USE cst_err cst_mail_send(const cst_config *cfg, const char *to, const char *message,
                                   long *status, char *err, size_t errn);

/* true when cfg has a relay configured (notices.smtp_url set). */
bool cst_mail_configured(const cst_config *cfg);

#endif
