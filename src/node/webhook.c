/* webhook.c: signed webhook deliveries of alerts (DET-1); the libcurl adapter of the node. */
#include "node/webhook.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "crypto/keys.h"
#include "node/alerts.h"
#include "node/mail.h"
#include "util/json.h"
#include "util/cidr.h"
#include "util/util.h"

#define DUE_BATCH 16 /* deliveries in flight at once, at most one per receiver */
#define DUE_SCAN 256 /* due deliveries looked at per scan */
#define RETRY_FOR_US (24LL * 3600 * 1000000) /* then failed */
#define RETRY_CAP_S 3600                     /* backoff never longer than an hour */
#define POLL_MS 1000                         /* the sender looks for due retries this often */
#define RESPONSE_MAX 65536                   /* a receiver's answer is read this far, no further */

struct cst_webhook {
    cst_node *node;
    CURLM *multi; /* the transfers in flight; curl_multi_wakeup wakes the sender */
    pthread_t thread;
    _Atomic bool stop, kick;
};

/* ---- secrets and signatures ---- */

cst_err cst_webhook_secret_parse(const char *text, size_t len, cst_webhook_secret *out)
{
    ENSURE(len > 6 && strncmp(text, "whsec_", 6) == 0, CST_ERR_INVALID,
           "a webhook secret is whsec_<base64>");
    size_t got = 0;
    const char *end = NULL;
    int rc = sodium_base642bin(out->key, sizeof(out->key), text + 6, len - 6, NULL, &got, &end,
                               sodium_base64_VARIANT_ORIGINAL);
    ENSURE(rc == 0 && end == text + len && got >= CST_WEBHOOK_SECRET_MIN, CST_ERR_INVALID,
           "a webhook secret is whsec_<base64 of %d to %d bytes>", CST_WEBHOOK_SECRET_MIN,
           CST_WEBHOOK_SECRET_MAX);
    out->len = got;
    return CST_OK;
}

/* Parses the lines of a secret file's text (blank lines ignored). */
static cst_err parse_secrets(const char *text, size_t len,
                             cst_webhook_secret out[CST_WEBHOOK_SECRETS], size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t k = j;
        while (k > i && (text[k - 1] == '\r' || text[k - 1] == ' '))
            k--;
        if (k > i) {
            ENSURE(n < CST_WEBHOOK_SECRETS, CST_ERR_INVALID,
                   "at most %d webhook secrets (current, previous)", CST_WEBHOOK_SECRETS);
            TRY(cst_webhook_secret_parse(text + i, k - i, &out[n]));
            n++;
        }
        i = j + 1;
    }
    ENSURE(n > 0, CST_ERR_INVALID, "no webhook secret in the file");
    *count = n;
    return CST_OK;
}

cst_err cst_webhook_secrets_load(const char *path, cst_webhook_secret out[CST_WEBHOOK_SECRETS],
                                 size_t *count)
{
    char text[1024];
    size_t got = 0;
    cst_err e = cst_secret_file_read("alerts.webhook_secret_file", path, text, sizeof(text), &got);
    if (e == CST_OK)
        e = parse_secrets(text, got, out, count);
    sodium_memzero(text, sizeof(text));
    if (e != CST_OK)
        sodium_memzero(out, sizeof(*out) * CST_WEBHOOK_SECRETS);
    return e;
}

cst_err cst_webhook_sign(const cst_webhook_secret *secrets, size_t n, const char *msg_id,
                         int64_t timestamp, const char *body, size_t body_len,
                         char out[CST_WEBHOOK_SIG_MAX])
{
    ENSURE(n > 0 && n <= CST_WEBHOOK_SECRETS, CST_ERR_INTERNAL, "no webhook secret");
    char head[96];
    int hl = snprintf(head, sizeof(head), "%s.%lld.", msg_id, (long long)timestamp);
    ENSURE(hl > 0 && (size_t)hl < sizeof(head), CST_ERR_INTERNAL, "webhook id too long");
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t mac[CST_HASH_LEN];
        char b64[sodium_base64_ENCODED_LEN(CST_HASH_LEN, sodium_base64_VARIANT_ORIGINAL)];
        cst_hmac_sha256_2(secrets[i].key, secrets[i].len, head, (size_t)hl, body, body_len, mac);
        sodium_bin2base64(b64, sizeof(b64), mac, sizeof(mac), sodium_base64_VARIANT_ORIGINAL);
        int w = snprintf(out + pos, CST_WEBHOOK_SIG_MAX - pos, "%sv1,%s", i ? " " : "", b64);
        ENSURE(w > 0 && (size_t)w < CST_WEBHOOK_SIG_MAX - pos, CST_ERR_INTERNAL,
               "signature too long");
        pos += (size_t)w;
    }
    return CST_OK;
}

/* ---- a tenant's webhook: its secrets sealed under the node's audit key ---- */

#define SEALED "alert_webhook_sealed"
#define TENANT_SECRET_LEN 32
#define PREVIOUS_FOR_US (24LL * 3600 * 1000000) /* a rotated-out secret signs this long */
#define SEALED_MAX 256

static cst_err tenant_aad(cst_buf *aad, const char *tenant_id)
{
    TRY(cst_buf_append(aad, "cst:webhook:v1", 14));
    return cst_buf_append_lv16(aad, tenant_id, strlen(tenant_id));
}

/* Seals a secret for tenant_id as a base64 JSON string (*out, a new reference). */
static cst_err seal_secret(cst_node *n, const char *tenant_id, const uint8_t *key, size_t len,
                           json_t **out)
{
    cst_buf aad, blob;
    cst_buf_init(&aad, 256);
    cst_buf_init(&blob, SEALED_MAX);
    cst_err e = tenant_aad(&aad, tenant_id);
    if (e == CST_OK)
        e = cst_seal(&n->audit_key, &aad, key, len, &blob);
    if (e == CST_OK && blob.len > SEALED_MAX)
        e = cst_fail(CST_ERR_INTERNAL, "sealed webhook secret too long");
    if (e == CST_OK) {
        char b64[sodium_base64_ENCODED_LEN(SEALED_MAX, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(b64, sizeof(b64), blob.data, blob.len, sodium_base64_VARIANT_ORIGINAL);
        if (!(*out = json_string(b64)))
            e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    cst_buf_free(&blob);
    cst_buf_free(&aad);
    return e;
}

static cst_err open_secret(cst_node *n, const char *tenant_id, const char *b64,
                           cst_webhook_secret *out)
{
    uint8_t bin[SEALED_MAX];
    size_t binlen = 0;
    ENSURE(sodium_base642bin(bin, sizeof(bin), b64, strlen(b64), NULL, &binlen, NULL,
                             sodium_base64_VARIANT_ORIGINAL) == 0,
           CST_ERR_INTEGRITY, "damaged webhook secret");
    cst_buf aad, pt;
    cst_buf_init(&aad, 256);
    cst_buf_init(&pt, 128);
    cst_err e = tenant_aad(&aad, tenant_id);
    if (e == CST_OK)
        e = cst_open(&n->audit_key, &aad, bin, binlen, &pt);
    if (e == CST_OK && (pt.len < CST_WEBHOOK_SECRET_MIN || pt.len > CST_WEBHOOK_SECRET_MAX))
        e = cst_fail(CST_ERR_INTEGRITY, "damaged webhook secret");
    if (e == CST_OK) {
        memcpy(out->key, pt.data, pt.len);
        out->len = pt.len;
    }
    cst_buf_wipe_free(&pt);
    cst_buf_free(&aad);
    return e;
}

cst_err cst_webhook_tenant_settings(cst_node *n, const char *tenant_id, json_t *stored, bool rotate,
                                    int64_t now, char whsec[CST_WHSEC_TEXT_MAX], bool *issued)
{
    *issued = false;
    json_t *url = json_object_get(stored, "alert_webhook_url");
    if (!json_is_string(url) || !json_string_value(url)[0]) {
        ENSURE(!rotate, CST_ERR_INVALID, "rotate_alert_webhook_secret needs an alert_webhook_url");
        json_object_del(stored, SEALED);
        return CST_OK;
    }
    json_t *cur = json_object_get(json_object_get(stored, SEALED), "current");
    if (json_is_string(cur) && !rotate)
        return CST_OK;
    uint8_t key[TENANT_SECRET_LEN];
    char b64[sodium_base64_ENCODED_LEN(TENANT_SECRET_LEN, sodium_base64_VARIANT_ORIGINAL)];
    json_t *sealed = NULL, *o = NULL;
    cst_err e = cst_random(key, sizeof(key));
    if (e == CST_OK)
        e = seal_secret(n, tenant_id, key, sizeof(key), &sealed);
    if (e == CST_OK) {
        sodium_bin2base64(b64, sizeof(b64), key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
        e = cst_fmt(whsec, CST_WHSEC_TEXT_MAX, "whsec_%s", b64);
    }
    if (e == CST_OK && !(o = json_pack("{s:O}", "current", sealed)))
        e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (e == CST_OK && json_is_string(cur)) {
        json_object_set(o, "previous", cur);
        json_object_set_new(o, "previous_until", json_integer(now + PREVIOUS_FOR_US));
    }
    if (e == CST_OK && json_object_set_new(stored, SEALED, o) != 0)
        e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    else if (e == CST_OK)
        *issued = true;
    else
        json_decref(o);
    json_decref(sealed);
    sodium_memzero(key, sizeof(key));
    sodium_memzero(b64, sizeof(b64));
    return e;
}

/* The tenant's settings (*out, a new reference; NULL when it has none or is gone). */
static json_t *tenant_settings(cst_node *n, cst_work *w, const char *tenant_id)
{
    cst_tenant_row *t = malloc(sizeof(*t));
    json_t *o = NULL;
    if (t && cst_store_tenant_get(n->store, w, tenant_id, t) == CST_OK && t->settings[0])
        o = json_loads(t->settings, 0, NULL);
    free(t);
    return o;
}

/* The signing secrets of a tenant's webhook at now: current, and the previous one during the
 * 24 h after a rotation. */
static cst_err tenant_secrets(cst_node *n, const char *tenant_id, int64_t now,
                              cst_webhook_secret out[CST_WEBHOOK_SECRETS], size_t *count)
{
    json_t *o = tenant_settings(n, NULL, tenant_id), *sealed = json_object_get(o, SEALED);
    const char *cur = json_string_value(json_object_get(sealed, "current"));
    const char *prev = json_string_value(json_object_get(sealed, "previous"));
    int64_t until = json_integer_value(json_object_get(sealed, "previous_until"));
    cst_err e = cur ? open_secret(n, tenant_id, cur, &out[0])
                    : cst_fail(CST_ERR_NOT_FOUND, "the tenant has no webhook secret");
    *count = 1;
    if (e == CST_OK && prev && now < until && open_secret(n, tenant_id, prev, &out[1]) == CST_OK)
        *count = 2;
    json_decref(o);
    return e;
}

/* ---- the queue ---- */

/* The body posted: {type, timestamp, data}, compact with sorted keys (signed as is). */
static cst_err make_body(const char *event, json_t *data, int64_t now, char *out, size_t n)
{
    json_t *o =
        json_pack("{s:s,s:o,s:O}", "type", event, "timestamp", cst_json_time(now), "data", data);
    ENSURE(o, CST_ERR_INTERNAL, "out of memory");
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    ENSURE(text, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_copy(out, n, text);
    cst_json_free_text(text);
    return e;
}

static void wake(struct cst_webhook *h)
{
    h->kick = true;
    (void)curl_multi_wakeup(h->multi);
}

cst_err cst_webhook_queue(cst_node *n, cst_work *w, const char *id, const char *subject_id,
                          const char *tenant_id, const char *url, const char *body, int64_t now)
{
    cst_webhook_row *d = calloc(1, sizeof(*d));
    ENSURE(d, CST_ERR_INTERNAL, "out of memory");
    cst_err e = CST_OK;
    if (id)
        e = cst_copy(d->id, sizeof(d->id), id);
    else
        cst_random_id("msg", d->id);
    if (e == CST_OK)
        e = cst_copy(d->alert_id, sizeof(d->alert_id), subject_id);
    if (e == CST_OK)
        e = cst_copy(d->tenant, sizeof(d->tenant), tenant_id);
    if (e == CST_OK)
        e = cst_copy(d->url, sizeof(d->url), url);
    if (e == CST_OK)
        e = cst_copy(d->body, sizeof(d->body), body);
    if (e == CST_OK) {
        (void)snprintf(d->status, sizeof(d->status), "pending");
        d->next_at = d->created_at = now;
        e = cst_store_webhook_put(n->store, w, d);
    }
    free(d);
    if (e == CST_OK && n->webhook)
        wake(n->webhook);
    return e;
}

cst_err cst_webhook_event(cst_node *n, cst_work *w, const char *tenant_id, bool to_node,
                          const char *subject_id, const char *event, json_t *data, int64_t now)
{
    char *body = malloc(CST_WEBHOOK_BODY_MAX);
    json_t *o = tenant_id ? tenant_settings(n, w, tenant_id) : NULL;
    const char *url = json_string_value(json_object_get(o, "alert_webhook_url"));
    cst_err e = body && data ? CST_OK : cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (e == CST_OK && ((to_node && n->cfg.alerts_webhook_url[0]) || (url && url[0])))
        e = make_body(event, data, now, body, CST_WEBHOOK_BODY_MAX);
    if (e == CST_OK && to_node && n->cfg.alerts_webhook_url[0])
        e = cst_webhook_queue(n, w, NULL, subject_id, "", n->cfg.alerts_webhook_url, body, now);
    if (e == CST_OK && url && url[0]) /* the tenant's own webhook */
        e = cst_webhook_queue(n, w, NULL, subject_id, tenant_id, url, body, now);
    json_decref(o);
    json_decref(data);
    free(body);
    return e;
}

cst_err cst_webhook_enqueue(cst_node *n, const cst_alert_row *a, const char *event, int64_t now)
{
    return cst_webhook_event(n, NULL, a->tenant[0] ? a->tenant : NULL, true, a->id, event,
                             cst_alert_json(a), now);
}

/* ---- the sender ---- */

static size_t discard(char *p, size_t size, size_t nmemb, void *ctx)
{
    size_t *seen = ctx;
    *seen += size * nmemb;
    return *seen > RESPONSE_MAX ? 0 : size * nmemb; /* 0 stops the transfer */
}

/* A connection a tenant's delivery may open: to a public address only (libcurl asks before
 * each connect, after name resolution, so a name that resolves inside the network is refused). */
typedef struct guard {
    bool public_only, refused;
} guard;

static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
    guard *g = ctx;
    uint8_t addr[16] = {0};
    int family = a->family;
    if (family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in))
        memcpy(addr, &((const struct sockaddr_in *)(const void *)&a->addr)->sin_addr, 4);
    else if (family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6))
        memcpy(addr, &((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_addr, 16);
    else
        family = AF_UNSPEC;
    if (purpose != CURLSOCKTYPE_IPCXN || (g->public_only && !cst_addr_public(family, addr))) {
        g->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

/* One attempt at a delivery, made in parallel with the others of its pass. */
typedef struct transfer {
    cst_webhook_row *d;
    CURL *c;
    struct curl_slist *hs;
    guard g;
    size_t seen;
    char ebuf[CURL_ERROR_SIZE];
    char err[256];
    long status;
} transfer;

/* Prepares t's post of t->d signed with secrets (not kept: the header holds the signature);
 * public_only: refuse to connect to a non-public address (a tenant's webhook). */
static cst_err prepare(transfer *t, const cst_webhook_secret *secrets, size_t nsecrets,
                       bool public_only, int timeout_s, int64_t now)
{
    const cst_webhook_row *d = t->d;
    char sig[CST_WEBHOOK_SIG_MAX], hid[64], hts[64], hsig[CST_WEBHOOK_SIG_MAX + 32];
    int64_t ts = now / 1000000;
    TRY(cst_webhook_sign(secrets, nsecrets, d->id, ts, d->body, strlen(d->body), sig));
    TRY(cst_fmt(hid, sizeof(hid), "webhook-id: %s", d->id));
    TRY(cst_fmt(hts, sizeof(hts), "webhook-timestamp: %lld", (long long)ts));
    TRY(cst_fmt(hsig, sizeof(hsig), "webhook-signature: %s", sig));
    CURL *c = t->c = curl_easy_init();
    ENSURE(c, CST_ERR_INTERNAL, "cannot start libcurl");
    struct curl_slist *l;
    const char *lines[] = {"Content-Type: application/json", hid, hts, hsig, "Expect:"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        if ((l = curl_slist_append(t->hs, lines[i])))
            t->hs = l;
    curl_easy_setopt(c, CURLOPT_URL, d->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->hs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t->seen);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->ebuf);
    curl_easy_setopt(c, CURLOPT_PRIVATE, t);
    t->g.public_only = public_only;
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &t->g);
    return CST_OK;
}

/* What came of t's transfer, ended with rc: t->status the HTTP status (0: no answer), t->err
 * what went wrong ("" for a 2xx; an answer cut at RESPONSE_MAX still counts). */
static void finish(transfer *t, CURLcode rc)
{
    t->err[0] = '\0';
    t->status = 0;
    curl_easy_getinfo(t->c, CURLINFO_RESPONSE_CODE, &t->status);
    if (t->g.refused)
        (void)snprintf(t->err, sizeof(t->err),
                       "refused: the receiver's address is not a public one "
                       "(alerts.allow_private_webhooks)");
    else if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && t->status))
        (void)snprintf(t->err, sizeof(t->err), "%s", t->ebuf[0] ? t->ebuf : curl_easy_strerror(rc));
    else if (t->status < 200 || t->status > 299)
        (void)snprintf(t->err, sizeof(t->err), "HTTP %ld", t->status);
}

/* The delay before retry number `attempts` (1 after the first failure): base, doubling, capped. */
static int64_t backoff_us(int base_s, int64_t attempts)
{
    int64_t s = base_s;
    for (int64_t i = 1; i < attempts && s < RETRY_CAP_S; i++)
        s *= 2;
    return (s < RETRY_CAP_S ? s : RETRY_CAP_S) * 1000000;
}

void cst_webhook_outcome(cst_webhook_row *d, int retry_base_s, int64_t now, long status,
                         const char *err)
{
    d->attempts++;
    d->last_status = status;
    (void)snprintf(d->last_error, sizeof(d->last_error), "%s", err);
    if (!err[0]) {
        (void)snprintf(d->status, sizeof(d->status), "delivered");
        d->delivered_at = now;
        return;
    }
    d->next_at = now + backoff_us(retry_base_s, d->attempts);
    if (d->next_at - d->created_at > RETRY_FOR_US)
        (void)snprintf(d->status, sizeof(d->status), "failed");
}

/* The secrets that sign d at now: the node's, read from alerts.webhook_secret_file at each
 * attempt (a rotated file is used at once, without a restart), or its tenant's sealed ones. */
static cst_err secrets_of(cst_node *n, const cst_webhook_row *d, int64_t now,
                          cst_webhook_secret out[CST_WEBHOOK_SECRETS], size_t *count)
{
    if (d->tenant[0])
        return tenant_secrets(n, d->tenant, now, out, count);
    ENSURE(n->cfg.alerts_webhook_secret_file[0], CST_ERR_INVALID, "no alerts.webhook_secret_file");
    return cst_webhook_secrets_load(n->cfg.alerts_webhook_secret_file, out, count);
}

/* Signs t's delivery and prepares its transfer; an error (no secret any more: *gone) is
 * recorded in t->err. */
static void start(cst_node *n, transfer *t, int64_t now, bool *gone)
{
    size_t nsecrets = 0;
    cst_webhook_secret *secrets = sodium_malloc(sizeof(*secrets) * CST_WEBHOOK_SECRETS);
    cst_err e = secrets ? secrets_of(n, t->d, now, secrets, &nsecrets)
                        : cst_fail(CST_ERR_INTERNAL, "out of memory");
    /* a tenant erased, or whose webhook was removed, since: nothing can sign this any more */
    *gone = e == CST_ERR_NOT_FOUND;
    if (e == CST_OK)
        e = prepare(t, secrets, nsecrets, t->d->tenant[0] && !n->cfg.alerts_allow_private_webhooks,
                    n->cfg.alerts_webhook_timeout_seconds, now);
    if (secrets)
        sodium_free(secrets); /* wipes */
    if (e != CST_OK)
        (void)snprintf(t->err, sizeof(t->err), "%s", cst_err_message(e));
}

/* Records the outcome of t's attempt; after a failure, the other pending deliveries to the same
 * receiver wait as long as this one (a receiver that is down costs one attempt per backoff
 * step, not one per delivery). */
static void record(cst_node *n, transfer *t, bool gone, int64_t now)
{
    cst_webhook_row *d = t->d;
    cst_webhook_outcome(d, n->cfg.alerts_webhook_retry_seconds, now, t->status, t->err);
    if (gone)
        (void)snprintf(d->status, sizeof(d->status), "failed");
    if (t->err[0]) {
        cst_warn("webhook %s (%s): attempt %lld: %s", d->id, d->alert_id, (long long)d->attempts,
                 t->err);
    }
    if (cst_store_webhook_put(n->store, NULL, d) != CST_OK)
        cst_warn("webhook %s: outcome not stored", d->id);
    else if (t->err[0] && !strcmp(d->status, "pending") &&
             cst_store_webhook_defer(n->store, NULL, d->url, d->next_at) != CST_OK)
        cst_warn("webhook %s: the receiver's other deliveries not deferred", d->id);
}

/* Emails t's delivery (notices.smtp_url): *status the relay's last reply code. */
static void send_mail(cst_node *n, transfer *t)
{
    cst_err e =
        cst_mail_configured(&n->cfg)
            ? cst_mail_send(&n->cfg, t->d->url + 7, t->d->body, &t->status, t->err, sizeof(t->err))
            : cst_fail(CST_ERR_INVALID, "notices.smtp_url is no longer set");
    if (e != CST_OK)
        (void)snprintf(t->err, sizeof(t->err), "%s", cst_err_message(e));
}

/* The sender's slots: at most DUE_BATCH deliveries in flight, at most one per receiver. */
typedef struct sender {
    struct cst_webhook *h;
    cst_webhook_row rows[DUE_BATCH];
    transfer ts[DUE_BATCH];
    bool busy[DUE_BATCH], taken[DUE_BATCH], gone[DUE_BATCH];
    size_t busy_n;
} sender;

static void slot_free(sender *s, size_t i)
{
    if (s->ts[i].c) {
        curl_multi_remove_handle(s->h->multi, s->ts[i].c);
        curl_easy_cleanup(s->ts[i].c);
    }
    curl_slist_free_all(s->ts[i].hs);
    memset(&s->ts[i], 0, sizeof(s->ts[i]));
    s->busy[i] = s->gone[i] = false;
    s->busy_n--;
}

/* Starts the delivery taken into slot i: an email is sent at once (to the operator's relay), a
 * webhook post joins the transfers in flight; what cannot start is recorded as a failed
 * attempt. */
static void slot_start(sender *s, size_t i)
{
    cst_node *n = s->h->node;
    transfer *t = &s->ts[i];
    t->d = &s->rows[i];
    if (!strncmp(t->d->url, "mailto:", 7)) {
        send_mail(n, t);
    } else {
        start(n, t, cst_now_us(), &s->gone[i]);
        if (!t->err[0] && curl_multi_add_handle(s->h->multi, t->c) == CURLM_OK)
            return; /* in flight */
        if (!t->err[0])
            (void)snprintf(t->err, sizeof(t->err), "cannot start the transfer");
    }
    record(n, t, s->gone[i], cst_now_us());
    slot_free(s, i);
}

/* Takes a due delivery into a free slot unless its receiver has one in flight (a receiver with
 * a backlog, or a slow one, takes its turn with the others). Runs inside the queue's read:
 * starting comes after it. */
static cst_err take(const cst_webhook_row *d, void *ctx)
{
    sender *s = ctx;
    size_t free_at = DUE_BATCH;
    for (size_t i = 0; i < DUE_BATCH; i++) {
        if (s->busy[i] && (!strcmp(s->rows[i].url, d->url) || !strcmp(s->rows[i].id, d->id)))
            return CST_OK;
        if (!s->busy[i] && free_at == DUE_BATCH)
            free_at = i;
    }
    if (free_at < DUE_BATCH) {
        s->rows[free_at] = *d;
        s->busy[free_at] = s->taken[free_at] = true;
        s->busy_n++;
    }
    return CST_OK;
}

/* Looks for due deliveries and starts those taken. */
static void scan(sender *s, int64_t now)
{
    if (cst_store_webhook_due(s->h->node->store, NULL, now, DUE_SCAN, take, s) != CST_OK) {
        cst_warn("webhook sender: cannot read the queue");
        cst_err_clear();
    }
    for (size_t i = 0; i < DUE_BATCH; i++)
        if (s->taken[i]) {
            s->taken[i] = false;
            slot_start(s, i);
        }
}

/* Records the transfers that ended and frees their slots. */
static void reap(sender *s)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(s->h->multi, &left))) {
        transfer *t = NULL;
        if (msg->msg != CURLMSG_DONE ||
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t) != CURLE_OK || !t)
            continue;
        size_t i = (size_t)(t - s->ts);
        finish(t, msg->data.result);
        record(s->h->node, t, s->gone[i], cst_now_us());
        slot_free(s, i);
    }
}

/* The sender: looks for due deliveries when woken (a new one queued) or every POLL_MS, while
 * the transfers in flight go on, each ending within alerts.webhook_timeout_seconds; a slow or
 * silent receiver holds one slot, and delays no other receiver. */
static void *sender_main(void *arg)
{
    struct cst_webhook *h = arg;
    sender *s = calloc(1, sizeof(*s));
    if (!s) {
        cst_warn("webhook sender: out of memory");
        return NULL;
    }
    s->h = h;
    int64_t next_scan = 0;
    cst_node_lease_state leader = {0};
    while (!h->stop) {
        int64_t now = cst_now_us();
        /* one node of a shared store sends (issue 20), so that no message goes out twice; its
         * lease is renewed at every scan */
        if (s->busy_n < DUE_BATCH && (h->kick || now >= next_scan)) {
            h->kick = false;
            next_scan = now + POLL_MS * 1000LL;
            if (cst_node_lease(h->node, "webhook.sender", 30LL * 1000000, &leader))
                scan(s, now);
        }
        int running = 0;
        if (curl_multi_perform(h->multi, &running) != CURLM_OK)
            cst_warn("webhook sender: libcurl failed");
        reap(s);
        if (!h->stop && !h->kick)
            (void)curl_multi_poll(h->multi, NULL, 0, POLL_MS, NULL);
    }
    /* stopping: what is in flight stays pending, for the next start */
    for (size_t i = 0; i < DUE_BATCH; i++)
        if (s->busy[i])
            slot_free(s, i);
    free(s);
    return NULL;
}

cst_err cst_webhook_start(cst_node *n)
{
    struct cst_webhook *h = calloc(1, sizeof(*h));
    ENSURE(h, CST_ERR_INTERNAL, "out of memory");
    h->node = n;
    cst_err e = CST_OK;
    if (n->cfg.alerts_webhook_url[0]) { /* a bad secret file fails here, at start-up */
        cst_webhook_secret *s = sodium_malloc(sizeof(*s) * CST_WEBHOOK_SECRETS);
        size_t count = 0;
        e = s ? cst_webhook_secrets_load(n->cfg.alerts_webhook_secret_file, s, &count)
              : cst_fail(CST_ERR_INTERNAL, "out of memory");
        if (s)
            sodium_free(s); /* wipes */
    }
    bool global = false;
    if (e == CST_OK && !(global = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK))
        e = cst_fail(CST_ERR_INTERNAL, "cannot initialise libcurl");
    else if (e == CST_OK && !(h->multi = curl_multi_init()))
        e = cst_fail(CST_ERR_INTERNAL, "cannot start libcurl");
    if (e == CST_OK && pthread_create(&h->thread, NULL, sender_main, h) != 0)
        e = cst_fail(CST_ERR_INTERNAL, "cannot start the webhook sender");
    if (e != CST_OK) {
        if (h->multi)
            curl_multi_cleanup(h->multi);
        if (global)
            curl_global_cleanup();
        free(h);
        return e;
    }
    n->webhook = h;
    return CST_OK;
}

void cst_webhook_stop(cst_node *n)
{
    struct cst_webhook *h = n->webhook;
    if (!h)
        return;
    h->stop = true;
    (void)curl_multi_wakeup(h->multi);
    pthread_join(h->thread, NULL);
    n->webhook = NULL;
    curl_multi_cleanup(h->multi);
    free(h);
    curl_global_cleanup();
}
