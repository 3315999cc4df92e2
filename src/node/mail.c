/* mail.c: email of breach notices (INC-3); the libcurl SMTP adapter of the node. */
#include "node/mail.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/util.h"

#define SUBJECT_MAX 200 /* a header line stays well under 998 octets */
#define MSG_ID_MAX 64
#define CREDENTIALS_MAX 1024

/* ---- composing ---- */

typedef struct out_cursor {
    char *p;
    size_t n, pos;
} out_cursor;

static cst_err put(out_cursor *o, const char *s, size_t len)
{
    ENSURE(len < o->n - o->pos, CST_ERR_INVALID, "the message is longer than %zu bytes", o->n);
    memcpy(o->p + o->pos, s, len);
    o->pos += len;
    o->p[o->pos] = '\0';
    return CST_OK;
}

static cst_err put_header(out_cursor *o, const char *name, const char *value)
{
    TRY(put(o, name, strlen(name)));
    TRY(put(o, ": ", 2));
    TRY(put(o, value, strlen(value)));
    return put(o, "\r\n", 2);
}

/* A header value: printable ASCII (and spaces) only, so no CR or LF can start a header of its
 * own. */
static cst_err header_value_check(const char *what, const char *v, size_t max)
{
    size_t len = strlen(v);
    ENSURE(len > 0 && len <= max, CST_ERR_INVALID, "mail %s: 1 to %zu characters", what, max);
    for (size_t i = 0; i < len; i++)
        ENSURE((unsigned char)v[i] >= 0x20 && (unsigned char)v[i] < 0x7f, CST_ERR_INVALID,
               "mail %s: printable ASCII only (no CR, LF or other control characters)", what);
    return CST_OK;
}

static cst_err address_check(const char *what, const char *addr)
{
    TRY(header_value_check(what, addr, 254));
    ENSURE(cst_email_valid(addr), CST_ERR_INVALID, "mail %s: \"%s\" is not an email address", what,
           addr);
    return CST_OK;
}

/* RFC 5322 3.3 date-time in UTC: "Wed, 02 Dec 2026 10:40:50 +0000". */
static cst_err date_header(int64_t now, char out[40])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(now / 1000000);
    struct tm tm;
    ENSURE(now >= 0 && gmtime_r(&t, &tm), CST_ERR_INVALID, "mail date: out of range");
    return cst_fmt(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
                   tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                   tm.tm_sec);
}

/* The body: UTF-8 text whose lines end in LF or CRLF, written with CRLF; each line at most
 * CST_MAIL_LINE_MAX octets, no bare CR. The message always ends with CRLF. */
static cst_err put_body(out_cursor *o, const char *text)
{
    size_t len = strlen(text);
    ENSURE(cst_utf8_valid((const uint8_t *)text, len), CST_ERR_INVALID,
           "mail text: not valid UTF-8");
    for (size_t i = 0; i < len;) {
        size_t j = i + strcspn(text + i, "\r\n"), k = j;
        if (text[j] == '\r') {
            ENSURE(text[j + 1] == '\n', CST_ERR_INVALID, "mail text: a CR outside a CRLF");
            k = j + 1;
        }
        ENSURE(j - i <= CST_MAIL_LINE_MAX, CST_ERR_INVALID,
               "mail text: a line longer than %d octets", CST_MAIL_LINE_MAX);
        TRY(put(o, text + i, j - i));
        TRY(put(o, "\r\n", 2));
        i = text[k] ? k + 1 : k;
    }
    return CST_OK;
}

cst_err cst_mail_compose(const cst_config *cfg, const char *to, const char *subject,
                         const char *text, const char *msg_id, int64_t now, char *out, size_t n)
{
    ENSURE(n > 0, CST_ERR_INTERNAL, "no room for a message");
    out[0] = '\0';
    TRY(address_check("notices.smtp_from", cfg->notices_smtp_from));
    TRY(address_check("recipient", to));
    TRY(header_value_check("subject", subject, SUBJECT_MAX));
    TRY(header_value_check("message id", msg_id, MSG_ID_MAX));
    for (const char *p = msg_id; *p; p++)
        ENSURE(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", *p),
               CST_ERR_INVALID, "mail message id: letters, digits, '_', '-' and '.' only");
    char date[40], mid[MSG_ID_MAX + 16];
    TRY(date_header(now, date));
    TRY(cst_fmt(mid, sizeof(mid), "<%s@custodia>", msg_id));
    out_cursor o = {out, n, 0};
    cst_err e = put_header(&o, "Date", date);
    if (e == CST_OK)
        e = put_header(&o, "From", cfg->notices_smtp_from);
    if (e == CST_OK)
        e = put_header(&o, "To", to);
    if (e == CST_OK)
        e = put_header(&o, "Subject", subject);
    if (e == CST_OK)
        e = put_header(&o, "Message-ID", mid);
    if (e == CST_OK)
        e = put_header(&o, "MIME-Version", "1.0");
    if (e == CST_OK)
        e = put_header(&o, "Content-Type", "text/plain; charset=utf-8");
    if (e == CST_OK)
        e = put_header(&o, "Content-Transfer-Encoding", "8bit");
    if (e == CST_OK)
        e = put(&o, "\r\n", 2);
    if (e == CST_OK)
        e = put_body(&o, text);
    if (e != CST_OK)
        out[0] = '\0'; /* never half a message */
    return e;
}

/* ---- sending ---- */

bool cst_mail_configured(const cst_config *cfg)
{
    return cfg->notices_smtp_url[0] != '\0';
}

typedef struct upload {
    const char *p;
    size_t len, pos;
} upload;

static size_t read_message(char *buf, size_t size, size_t nitems, void *ctx)
{
    upload *u = ctx;
    size_t want = size * nitems, left = u->len - u->pos;
    size_t n = want < left ? want : left;
    memcpy(buf, u->p + u->pos, n);
    u->pos += n;
    return n;
}

/* The relay's user and password from notices.smtp_credentials_file ("user:password", one line),
 * into creds (wiped by the caller); *pass points into it. */
static cst_err load_credentials(const char *path, char creds[CREDENTIALS_MAX], char **pass)
{
    size_t len = 0;
    TRY(cst_secret_file_read("notices.smtp_credentials_file", path, creds, CREDENTIALS_MAX, &len));
    while (len > 0 && (creds[len - 1] == '\n' || creds[len - 1] == '\r'))
        creds[--len] = '\0';
    char *colon = strchr(creds, ':');
    cst_err e = CST_OK;
    if (!colon || colon == creds || strpbrk(creds, "\r\n") || strlen(creds) != len)
        e = cst_fail(CST_ERR_INVALID,
                     "notices.smtp_credentials_file %s: one line user:password expected", path);
    if (e != CST_OK) {
        sodium_memzero(creds, CREDENTIALS_MAX);
        return e;
    }
    *colon = '\0';
    *pass = colon + 1;
    return CST_OK;
}

/* One SMTP transaction; the relay's outcome goes to *status and err. */
static void transfer(const cst_config *cfg, const char *to, const char *message, const char *user,
                     const char *pass, long *status, char *err, size_t errn)
{
    CURL *c = curl_easy_init();
    if (!c) {
        (void)snprintf(err, errn, "cannot start libcurl");
        return;
    }
    char from[300], rcpt[300], ebuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *rcpts = NULL;
    if (cst_fmt(from, sizeof(from), "<%s>", cfg->notices_smtp_from) != CST_OK ||
        cst_fmt(rcpt, sizeof(rcpt), "<%s>", to) != CST_OK ||
        !(rcpts = curl_slist_append(NULL, rcpt))) {
        (void)snprintf(err, errn, "cannot build the envelope");
        curl_easy_cleanup(c);
        return;
    }
    bool smtps = strncmp(cfg->notices_smtp_url, "smtps://", 8) == 0;
    upload u = {message, strlen(message), 0};
    curl_easy_setopt(c, CURLOPT_URL, cfg->notices_smtp_url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtps,smtp");
    /* INC-3: TLS to the relay: implicit (smtps://) or STARTTLS, never skipped, except to the
     * loopback relay of tests (config validation allows nothing else). */
    curl_easy_setopt(c, CURLOPT_USE_SSL,
                     smtps || cfg->notices_smtp_starttls ? (long)CURLUSESSL_ALL
                                                         : (long)CURLUSESSL_NONE);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)cfg->notices_smtp_timeout_seconds);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_message);
    curl_easy_setopt(c, CURLOPT_READDATA, &u);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u.len);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    if (user) {
        curl_easy_setopt(c, CURLOPT_USERNAME, user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (rc != CURLE_OK)
        (void)snprintf(err, errn, "%s (SMTP %ld)", ebuf[0] ? ebuf : curl_easy_strerror(rc),
                       *status);
    else if (*status != 250)
        (void)snprintf(err, errn, "SMTP %ld", *status);
    curl_slist_free_all(rcpts);
    curl_easy_cleanup(c); /* frees libcurl's copies of user and password */
}

cst_err cst_mail_send(const cst_config *cfg, const char *to, const char *message, long *status,
                      char *err, size_t errn)
{
    *status = 0;
    ENSURE(errn > 0, CST_ERR_INTERNAL, "no room for the reason");
    err[0] = '\0';
    cst_err e = cst_mail_configured(cfg)
                    ? CST_OK
                    : cst_fail(CST_ERR_INVALID, "no mail relay (notices.smtp_url)");
    if (e == CST_OK)
        e = address_check("recipient", to);
    char *creds = NULL, *pass = NULL;
    if (e == CST_OK && cfg->notices_smtp_credentials_file[0]) {
        creds = sodium_malloc(CREDENTIALS_MAX); /* locked, wiped when freed */
        e = creds ? load_credentials(cfg->notices_smtp_credentials_file, creds, &pass)
                  : cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    if (e == CST_OK)
        transfer(cfg, to, message, pass ? creds : NULL, pass, status, err, errn);
    else
        (void)snprintf(err, errn, "%s", cst_err_message(e));
    if (creds)
        sodium_free(creds);
    return e;
}
