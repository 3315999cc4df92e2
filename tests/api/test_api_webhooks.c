/* test_api_webhooks.c: DET-1 signed webhook deliveries against a real server. A receiver on
 * loopback (a thread in this test) checks the Standard Webhooks signature of every delivery
 * with its own HMAC (libsodium, not custodia's signer) against both secrets of a rotation,
 * answers 500 to a delivery's first attempt and 200 after; the tests see a retried delivery
 * arrive, GET /v1/sys/alerts/{id} show it delivered after 2 attempts, a delivery left pending
 * while the node is stopped arrive after a restart, and the check refuse a wrong signature. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "harness.h"
#include "util/util.h"

/* Two secrets of a rotation (current first): 24 and 32 bytes. */
static const char *const SECRETS[2] = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                       "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="};

/* The tenant's secrets as PATCH /v1/tenant gave them: the current one, then the previous. */
static char tenant_secrets[2][128];

static ts_server srv;
static char *op, *sec, *owner;
static char acme_id[32];

/* ---- the receiver ---- */

#define MAX_SEEN 32
typedef struct seen {
    char id[64];
    char path[64];
    char body[24576];
    unsigned verified; /* bit i: an entry of webhook-signature is secret i's HMAC */
    long answered;
} seen;

static struct {
    pthread_mutex_t mu;
    int fd, port;
    seen got[MAX_SEEN];
    int n;
    bool down; /* answer 503 to everything */
} rx = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The value of header name in the request head (case-insensitive), "" when absent. */
static void header(const char *head, const char *name, char *out, size_t n)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = head; (p = strchr(p, '\n')) != NULL;) {
        p++;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), v);
            return;
        }
    }
}

/* Which of the two secrets signed id.ts.body, per the webhook-signature header sig: a bit
 * per secret. The receiver's own check, as a customer would write it. */
static unsigned verify_with(const char *const secrets[2], const char *id, const char *ts,
                            const char *body, const char *sig)
{
    unsigned mask = 0;
    for (int s = 0; s < 2; s++) {
        unsigned char key[64], mac[32];
        size_t klen = 0;
        if (!secrets[s][0])
            continue;
        const char *b64 = secrets[s] + 6;
        assert_int_equal(sodium_base642bin(key, sizeof(key), b64, strlen(b64), NULL, &klen, NULL,
                                           sodium_base64_VARIANT_ORIGINAL),
                         0);
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, key, klen);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)id, strlen(id));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, strlen(body));
        crypto_auth_hmacsha256_final(&st, mac);
        char want[64];
        sodium_bin2base64(want, sizeof(want), mac, sizeof(mac), sodium_base64_VARIANT_ORIGINAL);
        char copy[512];
        snprintf(copy, sizeof(copy), "%s", sig);
        char *save = NULL;
        for (char *e = strtok_r(copy, " ", &save); e; e = strtok_r(NULL, " ", &save))
            if (strncmp(e, "v1,", 3) == 0 && strcmp(e + 3, want) == 0)
                mask |= 1u << s;
    }
    return mask;
}

static unsigned verify(const char *id, const char *ts, const char *body, const char *sig)
{
    return verify_with(SECRETS, id, ts, body, sig);
}

static void serve_one(int c)
{
    static char req[32768]; /* one receiver thread */
    size_t len = 0;
    char *end = NULL;
    ssize_t r;
    while (len < sizeof(req) - 1 && (r = read(c, req + len, sizeof(req) - 1 - len)) > 0) {
        len += (size_t)r;
        req[len] = '\0';
        if ((end = strstr(req, "\r\n\r\n"))) {
            char cl[32];
            header(req, "Content-Length", cl, sizeof(cl));
            if (len >= (size_t)(end + 4 - req) + strtoul(cl, NULL, 10))
                break;
        }
    }
    if (!end)
        return;
    *end = '\0';
    const char *body = end + 4;
    char id[64], ts[32], sig[512];
    header(req, "webhook-id", id, sizeof(id));
    header(req, "webhook-timestamp", ts, sizeof(ts));
    header(req, "webhook-signature", sig, sizeof(sig));
    long status = 200;
    pthread_mutex_lock(&rx.mu);
    bool first = true;
    for (int i = 0; i < rx.n; i++)
        first = first && strcmp(rx.got[i].id, id) != 0;
    status = rx.down ? 503 : first ? 500 : 200;
    /* a signature older or newer than 5 minutes is refused, as the scheme advises */
    long long age = (long long)time(NULL) - strtoll(ts, NULL, 10);
    const char *tsec[2] = {tenant_secrets[0], tenant_secrets[1]};
    bool to_tenant = strstr(req, "POST /tenant ") == req;
    bool redirected = strstr(req, "POST /redirected ") == req;
    unsigned mask =
        age > -300 && age < 300 ? verify_with(to_tenant ? tsec : SECRETS, id, ts, body, sig) : 0;
    if (rx.n < MAX_SEEN) {
        seen *s = &rx.got[rx.n++];
        snprintf(s->id, sizeof(s->id), "%s", id);
        snprintf(s->path, sizeof(s->path), "%s",
                 redirected  ? "/redirected"
                 : to_tenant ? "/tenant"
                             : "/hook");
        snprintf(s->body, sizeof(s->body), "%s", body);
        s->verified = mask;
        s->answered = status;
    }
    pthread_mutex_unlock(&rx.mu);
    char resp[128];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %ld X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
    (void)!write(c, resp, (size_t)n);
}

static void *receiver(void *arg)
{
    (void)arg;
    int c;
    while ((c = accept(rx.fd, NULL, NULL)) >= 0) {
        serve_one(c);
        close(c);
    }
    return NULL;
}

static void receiver_start(void)
{
    rx.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(rx.fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(rx.fd, 16), 0);
    assert_int_equal(getsockname(rx.fd, (struct sockaddr *)&a, &al), 0);
    rx.port = ntohs(a.sin_port);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, receiver, NULL), 0);
    pthread_detach(t);
}

/* The attempts the receiver saw of delivery id, and how many it answered 200. */
static int attempts_seen(const char *id, int *ok, unsigned *all_verified)
{
    int n = 0;
    *ok = 0;
    *all_verified = 3;
    pthread_mutex_lock(&rx.mu);
    for (int i = 0; i < rx.n; i++)
        if (!strcmp(rx.got[i].id, id)) {
            n++;
            *ok += rx.got[i].answered == 200;
            *all_verified &= rx.got[i].verified;
        }
    pthread_mutex_unlock(&rx.mu);
    return n;
}

/* ---- the node ---- */

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    receiver_start();
    ts_init(&srv);
    char path[400];
    snprintf(path, sizeof(path), "%s/webhook.secrets", srv.root);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%s\n%s\n", SECRETS[0], SECRETS[1]);
    fclose(f);
    chmod(path, 0600);
    snprintf(srv.extra_config, sizeof(srv.extra_config),
             "[auth]\nlogin_rate_per_ip = 1000\nlogin_rate_per_account = 1000\n"
             "[alerts]\nwebhook_url = http://127.0.0.1:%d/hook\nwebhook_secret_file = %s\n"
             "webhook_retry_seconds = 1\nwebhook_timeout_seconds = 4\n"
             "allow_private_webhooks = true\n",
             rx.port, path);
    if (!(owner = ts_start_tenant(&srv, &op, "acme", acme_id)))
        return -1;
    sec = ts_sys_operator(&srv, op, "watcher", "sys-security");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return ts_finish(&srv, 3, op, sec, owner);
}

/* 5 failed logins against a new account of acme: one brute_force alert; its id into out. */
static void brute_force(const char *user, char *out, size_t n)
{
    char uid[64], body[256], path[160];
    free(ts_user_create(&srv, owner, "acme", user, "[\"reader\"]", NULL, false, uid));
    snprintf(body, sizeof(body),
             "{\"tenant\":\"acme\",\"username\":\"%s\",\"password\":\"wrong-guess-123456\"}", user);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ts_status(&srv, "POST", "/v1/auth/login", NULL, body, NULL, 0), 401);
    snprintf(path, sizeof(path), "/v1/sys/alerts?type=brute_force");
    ts_resp r;
    ts_request(&srv, "GET", path, sec, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *a, *alerts = json_object_get(r.json, "alerts");
    size_t i;
    out[0] = '\0';
    json_array_foreach(alerts, i, a)
    {
        if (!strcmp(json_string_value(json_object_get(a, "principal")), uid))
            snprintf(out, n, "%s", json_string_value(json_object_get(a, "id")));
    }
    ts_resp_free(&r);
    assert_true(out[0]);
}

/* The one delivery of an alert, by GET /v1/sys/alerts/{id} (asserts 200 and one). */
static json_t *delivery(const char *alert_id)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/sys/alerts/%s", alert_id);
    ts_resp r;
    ts_request(&srv, "GET", path, sec, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *ds = json_object_get(r.json, "deliveries");
    assert_int_equal(json_array_size(ds), 1);
    json_t *d = json_incref(json_array_get(ds, 0));
    ts_resp_free(&r);
    return d;
}

/* Polls the delivery of alert_id until its status is want (at most 20 s). */
static json_t *wait_status(const char *alert_id, const char *want)
{
    for (int i = 0; i < 200; i++) {
        json_t *d = delivery(alert_id);
        if (!strcmp(json_string_value(json_object_get(d, "status")), want))
            return d;
        json_decref(d);
        usleep(100 * 1000);
    }
    fail_msg("delivery of %s never became %s", alert_id, want);
    return NULL;
}

/* A new alert goes to the node's webhook, signed by both secrets of the rotation; the first
 * attempt gets 500, the retry (1 s later) 200: delivered after 2 attempts. */
static void test_webhook_retried_and_signed(void **state)
{
    (void)state;
    char alert[64];
    brute_force("victim", alert, sizeof(alert));
    json_t *d = wait_status(alert, "delivered");
    const char *id = json_string_value(json_object_get(d, "id"));
    assert_int_equal(strncmp(id, "msg_", 4), 0);
    assert_string_equal(json_string_value(json_object_get(d, "destination")), "node");
    assert_int_equal(json_integer_value(json_object_get(d, "attempts")), 2);
    assert_int_equal(json_integer_value(json_object_get(d, "last_status")), 200);
    assert_true(json_is_string(json_object_get(d, "delivered_at")));
    int ok;
    unsigned verified;
    assert_int_equal(attempts_seen(id, &ok, &verified), 2);
    assert_int_equal(ok, 1);
    assert_int_equal(verified, 3); /* every attempt verified with both secrets */
    /* the body: {type, timestamp, data: the alert} */
    pthread_mutex_lock(&rx.mu);
    json_t *body = NULL;
    for (int i = 0; i < rx.n && !body; i++)
        if (!strcmp(rx.got[i].id, id))
            body = json_loads(rx.got[i].body, 0, NULL);
    pthread_mutex_unlock(&rx.mu);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "type")), "alert.raised");
    assert_true(json_is_string(json_object_get(body, "timestamp")));
    json_t *data = json_object_get(body, "data");
    assert_string_equal(json_string_value(json_object_get(data, "id")), alert);
    assert_string_equal(json_string_value(json_object_get(data, "type")), "brute_force");
    assert_string_equal(json_string_value(json_object_get(data, "tenant")), acme_id);
    json_decref(body);
    json_decref(d);
}

/* The receiver's check is not vacuous: a changed body, id, timestamp or signature fails. */
static void test_webhook_wrong_signature_detected(void **state)
{
    (void)state;
    const char *body = "{\"test\": 2432232314}", *id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const char *good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_int_equal(verify(id, "1614265330", body, good), 1); /* the scheme's own example */
    assert_int_equal(verify(id, "1614265330", "{\"test\": 2432232315}", good), 0);
    assert_int_equal(verify(id, "1614265331", body, good), 0);
    assert_int_equal(verify("msg_other", "1614265330", body, good), 0);
    assert_int_equal(
        verify(id, "1614265330", body, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF="), 0);
    assert_int_equal(
        verify(id, "1614265330", body, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), 0);
}

/* A delivery still pending when the node stops is sent after the next start. */
static void test_webhook_survives_restart(void **state)
{
    (void)state;
    pthread_mutex_lock(&rx.mu);
    rx.down = true;
    pthread_mutex_unlock(&rx.mu);
    char alert[64];
    brute_force("victim2", alert, sizeof(alert));
    json_t *d = NULL;
    for (int i = 0; i < 200; i++) { /* one failed attempt, still pending */
        d = delivery(alert);
        if (json_integer_value(json_object_get(d, "attempts")) >= 1)
            break;
        json_decref(d);
        d = NULL;
        usleep(100 * 1000);
    }
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "status")), "pending");
    assert_int_equal(json_integer_value(json_object_get(d, "last_status")), 503);
    char id[64];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(d, "id")));
    json_decref(d);
    assert_int_equal(ts_stop(&srv), 0);
    pthread_mutex_lock(&rx.mu);
    rx.down = false;
    pthread_mutex_unlock(&rx.mu);
    int before, ok;
    unsigned verified;
    before = attempts_seen(id, &ok, &verified);
    assert_int_equal(ok, 0);
    assert_true(ts_start(&srv));
    d = wait_status(alert, "delivered");
    json_decref(d);
    assert_true(attempts_seen(id, &ok, &verified) > before);
    assert_int_equal(ok, 1);
    assert_int_equal(verified, 3);
}

/* The deliveries of an alert (asserts 200); the caller decrefs. */
static json_t *deliveries(const char *alert_id)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/sys/alerts/%s", alert_id);
    ts_resp r;
    ts_request(&srv, "GET", path, sec, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *ds = json_incref(json_object_get(r.json, "deliveries"));
    ts_resp_free(&r);
    return ds;
}

/* Waits until every delivery of alert_id is delivered; asserts n of them, one per
 * destination, and returns the tenant's delivery id in tid. */
static void wait_all_delivered(const char *alert_id, size_t n, char *tid, size_t tn)
{
    for (int i = 0; i < 200; i++) {
        json_t *ds = deliveries(alert_id), *d;
        size_t j, done = 0;
        tid[0] = '\0';
        json_array_foreach(ds, j, d)
        {
            done += !strcmp(json_string_value(json_object_get(d, "status")), "delivered");
            if (!strcmp(json_string_value(json_object_get(d, "destination")), "tenant")) {
                snprintf(tid, tn, "%s", json_string_value(json_object_get(d, "id")));
                assert_non_null(strstr(json_string_value(json_object_get(d, "url")), "/tenant"));
            }
        }
        size_t total = json_array_size(ds);
        json_decref(ds);
        if (total == n && done == n && tid[0])
            return;
        usleep(100 * 1000);
    }
    fail_msg("deliveries of %s not all delivered", alert_id);
}

/* PATCH /v1/tenant {"alert_webhook_url"[, rotate]}: the secret issued (asserts it is). */
static void set_tenant_hook(const char *json, char *secret, size_t n)
{
    ts_resp r;
    ts_json_req(&srv, "PATCH", "/v1/tenant", owner, json, &r);
    assert_int_equal(r.status, 200);
    const char *s = json_string_value(json_object_get(r.json, "alert_webhook_secret"));
    assert_non_null(s);
    assert_int_equal(strncmp(s, "whsec_", 6), 0);
    json_t *set = json_object_get(r.json, "settings");
    assert_non_null(
        strstr(json_string_value(json_object_get(set, "alert_webhook_url")), "/tenant"));
    pthread_mutex_lock(&rx.mu);
    snprintf(secret, n, "%s", s);
    pthread_mutex_unlock(&rx.mu);
    ts_resp_free(&r);
}

/* A tenant's own webhook: the URL rule, a secret shown once, the tenant's alerts delivered to
 * it signed with that secret; after a rotation both the new and the previous secret sign. */
static void test_webhook_tenant_and_rotation(void **state)
{
    (void)state;
    char code[64];
    assert_int_equal(ts_status(&srv, "PATCH", "/v1/tenant", owner,
                               "{\"alert_webhook_url\":\"http://example.com/hook\"}", code,
                               sizeof(code)),
                     400);
    assert_int_equal(ts_status(&srv, "PATCH", "/v1/tenant", owner,
                               "{\"rotate_alert_webhook_secret\":true}", code, sizeof(code)),
                     400); /* no URL yet */
    char json[256];
    snprintf(json, sizeof(json), "{\"alert_webhook_url\":\"http://127.0.0.1:%d/tenant\"}", rx.port);
    set_tenant_hook(json, tenant_secrets[0], sizeof(tenant_secrets[0]));
    /* a later change keeps the secret and does not show it again */
    ts_resp r;
    ts_json_req(&srv, "PATCH", "/v1/tenant", owner, "{\"breach_notice_hours\":72}", &r);
    assert_int_equal(r.status, 200);
    assert_null(json_object_get(r.json, "alert_webhook_secret"));
    ts_resp_free(&r);
    char alert[64], tid[64];
    int ok;
    unsigned verified;
    brute_force("victim3", alert, sizeof(alert));
    wait_all_delivered(alert, 2, tid, sizeof(tid));
    assert_int_equal(attempts_seen(tid, &ok, &verified), 2); /* 500, then 200 */
    assert_int_equal(ok, 1);
    assert_int_equal(verified, 1); /* the one current secret */
    /* rotation: the new secret is current, the previous one still signs */
    pthread_mutex_lock(&rx.mu);
    snprintf(tenant_secrets[1], sizeof(tenant_secrets[1]), "%s", tenant_secrets[0]);
    pthread_mutex_unlock(&rx.mu);
    set_tenant_hook("{\"rotate_alert_webhook_secret\":true}", tenant_secrets[0],
                    sizeof(tenant_secrets[0]));
    assert_string_not_equal(tenant_secrets[0], tenant_secrets[1]);
    brute_force("victim4", alert, sizeof(alert));
    wait_all_delivered(alert, 2, tid, sizeof(tid));
    assert_int_equal(attempts_seen(tid, &ok, &verified), 2);
    assert_int_equal(ok, 1);
    assert_int_equal(verified, 3); /* both, during the rotation */
    /* the receiver's check with only the old secret would refuse a new-only signature */
    const char *old_only[2] = {tenant_secrets[1], ""};
    assert_int_equal(verify_with(old_only, "msg_x", "1", "{}", "v1,AAAA"), 0);
}

/* ---- receivers that misbehave ---- */

typedef enum { SILENT, REDIRECT, HUGE } misbehaviour;
#define HUGE_BYTES (16 << 20) /* more than any socket buffer holds */

typedef struct hostile {
    int fd, port;
    misbehaviour how;
    _Atomic long sent; /* bytes of answer written, HUGE */
    _Atomic int hits;
} hostile;

static hostile silent_rx = {.how = SILENT}, redirect_rx = {.how = REDIRECT},
               huge_rx = {.how = HUGE};

static void misbehave(hostile *h, int c)
{
    char buf[4096];
    ssize_t r = read(c, buf, sizeof(buf)); /* the request's head (and maybe body): enough */
    if (r <= 0)
        return;
    h->hits++;
    if (h->how == SILENT) { /* never answer; wait for the sender to give up */
        while (read(c, buf, sizeof(buf)) > 0)
            ;
    } else if (h->how == REDIRECT) {
        int n = snprintf(buf, sizeof(buf),
                         "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/redirected\r\n"
                         "Content-Length: 0\r\nConnection: close\r\n\r\n",
                         rx.port);
        (void)!send(c, buf, (size_t)n, MSG_NOSIGNAL);
    } else {
        int n = snprintf(buf, sizeof(buf),
                         "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
                         HUGE_BYTES);
        (void)!send(c, buf, (size_t)n, MSG_NOSIGNAL);
        memset(buf, 'x', sizeof(buf));
        ssize_t w;
        while (h->sent < HUGE_BYTES && (w = send(c, buf, sizeof(buf), MSG_NOSIGNAL)) > 0)
            h->sent += w;
    }
}

static void *hostile_main(void *arg)
{
    hostile *h = arg;
    int c;
    while ((c = accept(h->fd, NULL, NULL)) >= 0) {
        misbehave(h, c);
        close(c);
    }
    return NULL;
}

static void hostile_start(hostile *h)
{
    h->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(h->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(h->fd, 16), 0);
    assert_int_equal(getsockname(h->fd, (struct sockaddr *)&a, &al), 0);
    h->port = ntohs(a.sin_port);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hostile_main, h), 0);
    pthread_detach(t);
}

/* Points acme's webhook at port/path (the secret is kept). */
static void tenant_hook_at(int port, const char *path)
{
    char json[160];
    snprintf(json, sizeof(json), "{\"alert_webhook_url\":\"http://127.0.0.1:%d%s\"}", port, path);
    ts_resp r;
    ts_json_req(&srv, "PATCH", "/v1/tenant", owner, json, &r);
    assert_int_equal(r.status, 200);
    assert_null(json_object_get(r.json, "alert_webhook_secret"));
    ts_resp_free(&r);
}

/* The delivery of alert_id to destination ("node" or "tenant"), a new reference. */
static json_t *delivery_to(const char *alert_id, const char *destination)
{
    json_t *ds = deliveries(alert_id), *d, *found = NULL;
    size_t i;
    json_array_foreach(ds, i, d)
    {
        if (!strcmp(json_string_value(json_object_get(d, "destination")), destination))
            found = json_incref(d);
    }
    json_decref(ds);
    assert_non_null(found);
    return found;
}

/* Polls the tenant's delivery of alert_id until it has made an attempt (at most 20 s). */
static json_t *tenant_attempted(const char *alert_id)
{
    for (int i = 0; i < 200; i++) {
        json_t *d = delivery_to(alert_id, "tenant");
        if (json_integer_value(json_object_get(d, "attempts")) >= 1)
            return d;
        json_decref(d);
        usleep(100 * 1000);
    }
    fail_msg("the tenant's delivery of %s was never attempted", alert_id);
    return NULL;
}

/* A tenant's receiver that never answers holds its delivery until alerts.webhook_timeout_seconds
 * (4 s here) and delays no other receiver: the node's delivery of the same alert is retried and
 * delivered (about 1 s) while the silent one is still in flight. One that redirects is not
 * followed (HTTP 302 is a failure, the target never hit); one that answers 16 MiB is read to
 * 64 KiB and counted delivered without the sender taking the rest. */
static void test_webhook_hostile_receivers(void **state)
{
    (void)state;
    hostile_start(&silent_rx);
    hostile_start(&redirect_rx);
    hostile_start(&huge_rx);
    char alert[64];

    tenant_hook_at(silent_rx.port, "/silent");
    brute_force("victim6", alert, sizeof(alert));
    json_t *node = NULL, *tenant = NULL;
    for (int i = 0; i < 200 && !node; i++) { /* the node's: 500, then 200 a second later */
        json_t *d = delivery_to(alert, "node");
        if (!strcmp(json_string_value(json_object_get(d, "status")), "delivered"))
            node = d;
        else
            json_decref(d);
        if (!node)
            usleep(50 * 1000);
    }
    assert_non_null(node);
    assert_int_equal(json_integer_value(json_object_get(node, "attempts")), 2);
    tenant = delivery_to(alert, "tenant"); /* still in flight: no attempt recorded yet */
    assert_int_equal(json_integer_value(json_object_get(tenant, "attempts")), 0);
    assert_string_equal(json_string_value(json_object_get(tenant, "status")), "pending");
    json_decref(tenant);
    json_decref(node);
    tenant = tenant_attempted(alert);
    assert_string_equal(json_string_value(json_object_get(tenant, "status")), "pending");
    assert_true(json_is_null(json_object_get(tenant, "last_status")));
    assert_non_null(strstr(json_string_value(json_object_get(tenant, "last_error")), "timed out"));
    assert_true(silent_rx.hits >= 1);
    json_decref(tenant);

    tenant_hook_at(redirect_rx.port, "/redirect");
    brute_force("victim7", alert, sizeof(alert));
    tenant = tenant_attempted(alert);
    assert_string_equal(json_string_value(json_object_get(tenant, "status")), "pending");
    assert_int_equal(json_integer_value(json_object_get(tenant, "last_status")), 302);
    assert_string_equal(json_string_value(json_object_get(tenant, "last_error")), "HTTP 302");
    json_decref(tenant);
    pthread_mutex_lock(&rx.mu);
    for (int i = 0; i < rx.n; i++)
        assert_string_not_equal(rx.got[i].path, "/redirected");
    pthread_mutex_unlock(&rx.mu);

    tenant_hook_at(huge_rx.port, "/huge");
    brute_force("victim8", alert, sizeof(alert));
    tenant = tenant_attempted(alert);
    assert_string_equal(json_string_value(json_object_get(tenant, "status")), "delivered");
    assert_int_equal(json_integer_value(json_object_get(tenant, "attempts")), 1);
    assert_int_equal(json_integer_value(json_object_get(tenant, "last_status")), 200);
    json_decref(tenant);
    assert_true(huge_rx.sent < HUGE_BYTES); /* the sender hung up after 64 KiB */

    tenant_hook_at(rx.port, "/tenant");
}

/* A breach notice sent to acme goes to acme's webhook (event notice.sent, the notice as data,
 * signed with the tenant's secret), not to the node's; a notice refused (a required field
 * missing) is queued nowhere. */
static void test_webhook_notice_to_tenant(void **state)
{
    (void)state;
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/sys/incidents", sec,
                "{\"title\":\"stolen laptop\",\"severity\":\"high\",\"summary\":\"a "
                "support laptop with exported records was stolen\"}",
                &r);
    assert_int_equal(r.status, 201);
    char incident[64], path[160], body[256], aware[32];
    snprintf(incident, sizeof(incident), "%s", json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
    cst_time_format(cst_now_us() - 3600LL * 1000000, aware);
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s/confirm-breach", incident);
    snprintf(body, sizeof(body), "{\"aware_at\":\"%s\",\"tenants\":[\"%s\"]}", aware, acme_id);
    assert_int_equal(ts_status(&srv, "POST", path, sec, body, NULL, 0), 200);
    json_t *notice =
        json_pack("{s:s,s:s,s:s,s:[s],s:i,s:i,s:s,s:s,s:s}", "tenant", acme_id, "nature",
                  "records exported to a laptop that was stolen", "probable_cause", "theft",
                  "data_categories", "contact", "approx_subjects", 40, "approx_records", 40,
                  "likely_consequences", "phishing of the people concerned", "measures_taken",
                  "the laptop's disk was encrypted", "contact_point", "security@provider.example");
    snprintf(path, sizeof(path), "/v1/sys/incidents/%s/notices", incident);
    json_t *bad = json_deep_copy(notice);
    json_object_del(bad, "nature");
    char *text = json_dumps(bad, 0);
    assert_int_equal(ts_status(&srv, "POST", path, sec, text, NULL, 0), 400);
    free(text);
    json_decref(bad);
    text = json_dumps(notice, 0);
    ts_json_req(&srv, "POST", path, sec, text, &r);
    free(text);
    json_decref(notice);
    assert_int_equal(r.status, 201);
    char nid[64];
    snprintf(nid, sizeof(nid), "%s", json_string_value(json_object_get(r.json, "id")));
    json_t *ds = json_object_get(r.json, "deliveries"); /* queued with the notice */
    assert_int_equal(json_array_size(ds), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ds, 0), "destination")),
                        "tenant");
    ts_resp_free(&r);
    int seen_n = 0;
    for (int i = 0; i < 200 && !seen_n; i++) {
        pthread_mutex_lock(&rx.mu);
        for (int k = 0; k < rx.n; k++) {
            json_t *b = json_loads(rx.got[k].body, 0, NULL);
            const char *type = json_string_value(json_object_get(b, "type"));
            if (type && !strcmp(type, "notice.sent")) {
                assert_string_equal(rx.got[k].path, "/tenant");
                assert_true(rx.got[k].verified != 0); /* the tenant's secret */
                json_t *data = json_object_get(b, "data");
                assert_string_equal(json_string_value(json_object_get(data, "id")), nid);
                assert_string_equal(json_string_value(json_object_get(data, "nature")),
                                    "records exported to a laptop that was stolen");
                seen_n += rx.got[k].answered == 200;
            }
            json_decref(b);
        }
        pthread_mutex_unlock(&rx.mu);
        if (!seen_n)
            usleep(100 * 1000);
    }
    assert_int_equal(seen_n, 1); /* one notice sent, one delivered (the refused one: none) */
}

/* Without alerts.allow_private_webhooks, a tenant's webhook on a loopback address is never
 * connected to (the address is checked after name resolution): the delivery records why, while
 * the node's own webhook, set by the operator, is delivered as before. */
static void test_webhook_tenant_private_address_refused(void **state)
{
    (void)state;
    assert_int_equal(ts_stop(&srv), 0);
    char *knob = strstr(srv.extra_config, "allow_private_webhooks = true\n");
    assert_non_null(knob);
    memmove(knob, knob + strlen("allow_private_webhooks = true\n"),
            strlen(knob + strlen("allow_private_webhooks = true\n")) + 1);
    assert_true(ts_start(&srv));
    char alert[64], path[128];
    brute_force("victim5", alert, sizeof(alert));
    snprintf(path, sizeof(path), "/v1/sys/alerts/%s", alert);
    bool refused = false, node_delivered = false;
    for (int i = 0; i < 200 && !(refused && node_delivered); i++) {
        ts_resp r;
        ts_request(&srv, "GET", path, sec, NULL, NULL, 0, NULL, &r);
        assert_int_equal(r.status, 200);
        json_t *d, *ds = json_object_get(r.json, "deliveries");
        size_t k;
        json_array_foreach(ds, k, d)
        {
            const char *dest = json_string_value(json_object_get(d, "destination"));
            const char *err = json_string_value(json_object_get(d, "last_error"));
            const char *st = json_string_value(json_object_get(d, "status"));
            if (!strcmp(dest, "tenant") && err && strstr(err, "not a public"))
                refused = true;
            if (!strcmp(dest, "tenant"))
                assert_string_not_equal(st, "delivered");
            if (!strcmp(dest, "node") && !strcmp(st, "delivered"))
                node_delivered = true;
        }
        ts_resp_free(&r);
        if (!(refused && node_delivered))
            usleep(100 * 1000);
    }
    assert_true(refused);
    assert_true(node_delivered);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webhook_wrong_signature_detected),
        cmocka_unit_test(test_webhook_retried_and_signed),
        cmocka_unit_test(test_webhook_survives_restart),
        cmocka_unit_test(test_webhook_tenant_and_rotation),
        cmocka_unit_test(test_webhook_notice_to_tenant),
        cmocka_unit_test(test_webhook_hostile_receivers),
        cmocka_unit_test(test_webhook_tenant_private_address_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
