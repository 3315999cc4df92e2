/* test_api_abuse_http.c: issue 12, the HTTP adapter under abuse. An attacker at 127.0.0.1
 * (and 127.0.0.3, 127.0.0.4) against a real `custodia serve`, a healthy client at 127.0.0.2
 * whose latency must stay within 3x its idle median and whose requests must never be refused:
 * connection floods and header dribblers, concurrent logins (IAM-2: hashing off the request
 * threads), bodies in flight, a chunked flood past the limit, smuggling and malformed framing,
 * SIGHUP, node.stop, a TLS key readable by others, and a node under `ulimit -n 1024`. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"
#include "store_fixture.h"

/* Under AddressSanitizer freed memory is held in quarantine: peak memory says nothing there. */
#if defined(__SANITIZE_ADDRESS__)
#define TS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_ASAN 1
#endif
#endif
#ifndef TS_ASAN
#define TS_ASAN 0
#endif

#define ATTACKER "127.0.0.1"
#define HEALTHY "127.0.0.2"
#define HEALTHY_REQUESTS 30

/* The server a test starts; the teardown stops it and removes its files even when the test
 * fails part-way. */
static ts_server srv;
static char *owner;

static int teardown(void **state)
{
    free(owner);
    owner = NULL;
    ts_cleanup(&srv);
    memset(&srv, 0, sizeof(srv));
    return 0;
}

static int64_t now_ms(void)
{
    return (int64_t)(ts_now_s() * 1000);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A TCP connection from src to the server (blocking connect; -1 when refused at once). */
static int tcp_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    struct sockaddr_in d = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        connect(fd, (struct sockaddr *)&d, sizeof(d)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* True when the peer has closed the connection (EOF or reset) within wait_ms. The server
 * never speaks first, so anything readable on an idle connection means it was closed. */
static bool closed_by_server(int fd, int wait_ms)
{
    struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, wait_ms) <= 0)
        return false;
    char b[256];
    ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT | MSG_PEEK);
    return n <= 0 || (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Opens up to max connections from src; returns how many the server kept open. fds receives
 * them all (closed ones too, as -1 after closing). */
static int open_until_refused(const char *src, int port, int max, int *fds)
{
    for (int i = 0; i < max; i++)
        fds[i] = tcp_from(src, port);
    sleep_ms(400); /* refusals are closed at accept; give the server time to accept them all */
    int alive = 0;
    for (int i = 0; i < max; i++) {
        if (fds[i] >= 0 && closed_by_server(fds[i], 0)) {
            close(fds[i]);
            fds[i] = -1;
        }
        alive += fds[i] >= 0;
    }
    return alive;
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    return size * n;
}

/* The healthy client: HEALTHY_REQUESTS reads of GET /v1/tenant from 127.0.0.2, each on a new
 * TLS connection, or all on one kept-alive connection (reuse): the latency of the server's
 * request path alone, without the client's own handshakes, which on two cores share the CPU
 * that an attack may rightly use. Every one must succeed; returns the median in microseconds. */
static long long healthy_median_us_on(ts_server *s, const char *token, bool reuse)
{
    long long us[HEALTHY_REQUESTS];
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[512], auth[1024];
    snprintf(url, sizeof(url), "%s/v1/tenant", s->base);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    struct curl_slist *hl = curl_slist_append(NULL, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, s->cacert);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_INTERFACE, HEALTHY);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, reuse ? 0L : 1L);
    for (int i = 0; i < HEALTHY_REQUESTS; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        CURLcode rc = curl_easy_perform(c);
        clock_gettime(CLOCK_MONOTONIC, &b);
        long status = 0;
        if (rc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        us[i] = (b.tv_sec - a.tv_sec) * 1000000LL + (b.tv_nsec - a.tv_nsec) / 1000;
        if (status != 200)
            fprintf(stderr, "healthy request %d: %ld (%s) after %lld ms\n", i, status,
                    curl_easy_strerror(rc), us[i] / 1000);
        assert_int_equal(status, 200);
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    qsort(us, HEALTHY_REQUESTS, sizeof(us[0]), cmp_ll);
    return us[HEALTHY_REQUESTS / 2];
}

static long long healthy_median_us(ts_server *s, const char *token)
{
    return healthy_median_us_on(s, token, false);
}

/* The healthy client's median under attack within 3x of its idle median (at least 2 ms). The
 * idle median is taken before and after the attack, and the larger one is the base: the load of
 * a shared machine changes around the attack, and an idle median taken in a quiet moment alone
 * failed the bound in CI. A stall (the attack holding the threads that serve others) still puts
 * the median at seconds. */
static void assert_within_3x(const char *attack, long long before_us, long long after_us,
                             long long attacked_us)
{
    long long idle = before_us > after_us ? before_us : after_us;
    long long base = idle > 2000 ? idle : 2000;
    fprintf(stderr,
            "%s: healthy median %lld us idle before, %lld us after, %lld us under attack "
            "(bound %lld us)\n",
            attack, before_us, after_us, attacked_us, 3 * base);
    assert_true(attacked_us <= 3 * base);
}

/* Resets the process's peak resident size to its current size (Linux: clear_refs 5). */
static void reset_hwm(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("5", f);
    fclose(f);
}

static long vm_hwm_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kib = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

/* The descriptors a process holds, and how many of them are sockets. */
static void count_fds(pid_t pid, int *fds, int *sockets)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    assert_non_null(d);
    *fds = *sockets = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[512], target[128];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        (*fds)++;
        *sockets += strncmp(target, "socket:", 7) == 0;
    }
    closedir(d);
}

static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* A server with an operator session and a tenant whose owner is the healthy client. */
static char *start_with_tenant(ts_server *s, const char *config)
{
    ts_init(s);
    snprintf(s->extra_config, sizeof(s->extra_config), "%s", config);
    assert_true(ts_start(s));
    char *op = ts_operator(s);
    assert_non_null(op);
    char *tok = ts_tenant(s, op, "acme", NULL);
    assert_non_null(tok);
    free(op);
    return tok;
}

/* ---- (a) connection floods and header dribblers --------------------------------------------- */

typedef struct dribbler {
    int fd;
    gnutls_session_t s;
    gnutls_certificate_credentials_t cred;
    int64_t opened_ms, closed_ms;
} dribbler;

static void dribbler_open(dribbler *d, int port)
{
    memset(d, 0, sizeof(*d));
    d->fd = tcp_from(ATTACKER, port);
    assert_true(d->fd >= 0);
    d->opened_ms = now_ms();
    assert_int_equal(gnutls_certificate_allocate_credentials(&d->cred), 0);
    assert_int_equal(gnutls_init(&d->s, GNUTLS_CLIENT), 0);
    assert_int_equal(gnutls_set_default_priority(d->s), 0);
    assert_int_equal(gnutls_credentials_set(d->s, GNUTLS_CRD_CERTIFICATE, d->cred), 0);
    gnutls_transport_set_int(d->s, d->fd);
    gnutls_handshake_set_timeout(d->s, 5000);
    int r;
    do
        r = gnutls_handshake(d->s);
    while (r < 0 && !gnutls_error_is_fatal(r));
    assert_int_equal(r, 0);
    const char *start = "GET /v1/sys/health HTTP/1.1\r\nHost: custodia\r\n";
    assert_true(gnutls_record_send(d->s, start, strlen(start)) > 0);
}

static void dribbler_close(dribbler *d)
{
    gnutls_deinit(d->s);
    gnutls_certificate_free_credentials(d->cred);
    close(d->fd);
}

/* The attack runs in its own thread while the healthy client measures: it dribbles a header
 * line a second on each dribbler and reopens every idle connection the server closed. */
enum { NDRIB = 3, MAXOPEN = 200 };
typedef struct flood {
    int port;
    dribbler d[NDRIB];
    int fds[MAXOPEN];
    int max_alive; /* the most connections the attacker held at once, dribblers included */
    int64_t last_reopen_ms;
    volatile bool stop;
} flood;

static void *attack(void *arg)
{
    flood *f = arg;
    int64_t start = now_ms(), next_line = start + 1000, next_refill = start + 250;
    /* Runs until the healthy client is done and every dribbler has been closed (or 30 s):
     * a fast healthy client must not end the attack before the header deadline is due. */
    bool dribbling = true;
    while (!(f->stop && !dribbling) && now_ms() - start < 30000) {
        int alive = 0;
        dribbling = false;
        for (int i = 0; i < NDRIB; i++)
            dribbling |= f->d[i].closed_ms == 0;
        for (int i = 0; i < NDRIB; i++) {
            dribbler *d = &f->d[i];
            if (d->closed_ms)
                continue;
            if (closed_by_server(d->fd, 0) ||
                (now_ms() >= next_line && gnutls_record_send(d->s, "X-Drip: 1\r\n", 11) < 0))
                d->closed_ms = now_ms();
            else
                alive++;
        }
        if (now_ms() >= next_line)
            next_line += 1000;
        bool refill = now_ms() >= next_refill;
        for (int i = 0; i < MAXOPEN; i++) {
            if (f->fds[i] >= 0 && closed_by_server(f->fds[i], 0)) {
                close(f->fds[i]);
                f->fds[i] = -1;
            }
            if (f->fds[i] < 0 && refill) {
                f->fds[i] = tcp_from(ATTACKER, f->port);
                f->last_reopen_ms = now_ms();
            }
            alive += f->fds[i] >= 0;
        }
        if (refill) {
            next_refill = now_ms() + 250;
            sleep_ms(100); /* let the server refuse the new ones before counting again */
        } else if (alive > f->max_alive) {
            f->max_alive = alive;
        }
        sleep_ms(50);
    }
    return NULL;
}

/* The attacker opens connections until refused (bounded), holds them idle and keeps reopening
 * them, and dribbles one TLS header line a second on three more: at most
 * http.max_connections_per_ip are ever open from its address, the healthy client is never
 * refused and stays fast, and each of the attacker's connections is closed by
 * http.header_timeout (2 s) plus slack, the dribblers included. */
static void test_connection_flood_and_dribblers_are_bounded(void **state)
{
    owner = start_with_tenant(&srv, "[http]\nmax_connections_per_ip = 20\nheader_timeout = 2\n");
    long long idle = healthy_median_us(&srv, owner);

    static flood f;
    memset(&f, 0, sizeof(f));
    f.port = srv.port;
    for (int i = 0; i < NDRIB; i++)
        dribbler_open(&f.d[i], srv.port);
    int alive = open_until_refused(ATTACKER, srv.port, MAXOPEN, f.fds);
    fprintf(stderr, "attacker: %d idle connections kept of %d opened, plus %d dribblers\n", alive,
            MAXOPEN, NDRIB);
    assert_true(alive + NDRIB <= 20);
    assert_true(alive + NDRIB >= 18); /* the limit, not something else, refused the rest */

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, attack, &f), 0);
    long long attacked = healthy_median_us(&srv, owner);
    f.stop = true;
    pthread_join(th, NULL);
    fprintf(stderr, "attacker held at most %d connections at once while reopening\n", f.max_alive);
    assert_true(f.max_alive <= 20);

    for (int i = 0; i < NDRIB; i++) {
        int64_t lived = f.d[i].closed_ms - f.d[i].opened_ms;
        fprintf(stderr, "dribbler %d closed after %lld ms\n", i, (long long)lived);
        assert_true(f.d[i].closed_ms > 0);
        assert_true(lived >= 1500 && lived <= 2000 + 1500);
        dribbler_close(&f.d[i]);
    }
    /* The idle ones too: none sent request headers within 2 s. */
    int still_open = 0;
    int64_t deadline = f.last_reopen_ms + 3500;
    for (int i = 0; i < MAXOPEN; i++) {
        int64_t wait = deadline - now_ms();
        if (f.fds[i] >= 0 && !closed_by_server(f.fds[i], wait > 0 ? (int)wait : 0))
            still_open++;
    }
    assert_int_equal(still_open, 0);
    close_all(f.fds, MAXOPEN);
    assert_within_3x("connection flood", idle, healthy_median_us(&srv, owner), attacked);
    /* Both kinds of closure are in the log, rate-limited. */
    char log[400];
    snprintf(log, sizeof(log), "%s/serve.log", srv.root);
    assert_true(file_contains(log, "http: refused a connection: at the limit"));
    assert_true(file_contains(log, "sent no complete request headers within 2 s"));
    assert_int_equal(ts_stop(&srv), 0);
}

/* ---- (b) IAM-2: concurrent logins do not stall the request threads -------------------------- */

typedef struct login_job {
    ts_server *srv;
    int i;
    long status;
    bool retry_after;
} login_job;

/* One login over a bare GnuTLS session (no certificate store to load: a light client, so that
 * a hundred of them at once measure the server, not the test). status < 0: not connected. */
static void *login_nonexistent(void *arg)
{
    login_job *j = arg;
    j->status = -1;
    int fd = tcp_from(ATTACKER, j->srv->port);
    if (fd < 0)
        return NULL;
    gnutls_certificate_credentials_t cred;
    gnutls_session_t s;
    gnutls_certificate_allocate_credentials(&cred);
    gnutls_init(&s, GNUTLS_CLIENT);
    gnutls_set_default_priority(s);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
    gnutls_transport_set_int(s, fd);
    gnutls_handshake_set_timeout(s, 30000);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int r;
    do
        r = gnutls_handshake(s);
    while (r < 0 && !gnutls_error_is_fatal(r));
    if (r == 0) {
        char body[256], req[512], resp[4096];
        int bl = snprintf(body, sizeof(body),
                          "{\"tenant\":\"acme\",\"username\":\"nobody%d\",\"password\":"
                          "\"Guess-%d-xyz\"}",
                          j->i, j->i);
        int rl = snprintf(req, sizeof(req),
                          "POST /v1/auth/login HTTP/1.1\r\nHost: custodia\r\nConnection: "
                          "close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                          bl, body);
        size_t got = 0;
        if (gnutls_record_send(s, req, (size_t)rl) == rl) {
            ssize_t n;
            while (got < sizeof(resp) - 1 &&
                   (n = gnutls_record_recv(s, resp + got, sizeof(resp) - 1 - got)) > 0)
                got += (size_t)n;
        }
        resp[got] = '\0';
        if (got > 12 && strncmp(resp, "HTTP/1.1 ", 9) == 0) {
            j->status = strtol(resp + 9, NULL, 10);
            j->retry_after = strcasestr(resp, "\r\nRetry-After:") != NULL;
        }
    }
    gnutls_deinit(s);
    gnutls_certificate_free_credentials(cred);
    close(fd);
    return NULL;
}

/* The server's open connections (custodia_http_open_connections), read from the healthy
 * address: the reading's own connection is one of them. */
static long open_connections(ts_server *s)
{
    static ts_server healthy;
    healthy = *s;
    snprintf(healthy.source_ip, sizeof(healthy.source_ip), HEALTHY);
    ts_resp r;
    ts_request(&healthy, "GET", "/metrics", NULL, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    const char *at = strstr(r.body, "\ncustodia_http_open_connections ");
    assert_non_null(at);
    long n = strtol(at + strlen("\ncustodia_http_open_connections "), NULL, 10);
    ts_resp_free(&r);
    return n;
}

/* Waits (at most 10 s) until the server has reaped every connection the set-up closed, so
 * that the per-address limit is the attacker's alone. */
static void wait_connections_reaped(ts_server *s)
{
    int64_t deadline = now_ms() + 10000;
    while (open_connections(s) > 1) {
        assert_true(now_ms() < deadline);
        sleep_ms(20);
    }
}

/* 100 concurrent logins of nonexistent users from one address (each an Argon2id hash of
 * 64 MiB): the healthy client's median (on a kept-alive connection; the connection flood above
 * proves new connections) stays within 3x, because the hashes run on the bounded
 * pool (auth.hash_workers) and a full queue (auth.hash_queue = 16 here) is answered 503 with
 * Retry-After at once; connections past the per-address limit (64) are closed at accept.
 * With throttle = false the login rate limit is set out of the way so that the pool alone is
 * proven; with it, the defaults also answer the excess 429 with Retry-After. */
static void login_flood(const char *config, bool throttle)
{
    owner = start_with_tenant(&srv, config);
    long long idle = healthy_median_us_on(&srv, owner, true);
    wait_connections_reaped(&srv);

    enum { NLOGIN = 100 };
    static login_job jobs[NLOGIN];
    pthread_t th[NLOGIN];
    for (int i = 0; i < NLOGIN; i++) {
        jobs[i] = (login_job){&srv, i, 0, false};
        assert_int_equal(pthread_create(&th[i], NULL, login_nonexistent, &jobs[i]), 0);
    }
    sleep_ms(300); /* the flood is under way: handshakes done, the queue full */
    long long attacked = healthy_median_us_on(&srv, owner, true);
    int refused = 0, failed = 0, unconnected = 0, throttled = 0;
    for (int i = 0; i < NLOGIN; i++) {
        pthread_join(th[i], NULL);
        if (jobs[i].status == 503) {
            refused++;
            assert_true(jobs[i].retry_after);
        } else if (jobs[i].status == 429 && throttle) {
            throttled++;
            assert_true(jobs[i].retry_after);
        } else if (jobs[i].status == 401) {
            failed++;
        } else if (jobs[i].status < 0) {
            unconnected++; /* beyond http.max_connections_per_ip (64): closed at accept */
        } else {
            fprintf(stderr, "login %d: status %ld\n", i, jobs[i].status);
            fail();
        }
    }
    fprintf(stderr,
            "logins: %d answered 401 after a hash, %d refused 503 (queue full), %d refused 429 "
            "(throttled), %d not connected (per-address limit)\n",
            failed, refused, throttled, unconnected);
    assert_within_3x("login flood", idle, healthy_median_us_on(&srv, owner, true), attacked);
    assert_true(failed > 0);
    assert_true(throttle ? throttled > 0 : refused > 0);
    /* the set-up's connections were reaped before the flood: the limit is the flood's alone */
    assert_true(unconnected <= NLOGIN - 64);
    assert_int_equal(ts_stop(&srv), 0);
}

static void test_iam2_login_flood_does_not_stall_others(void **state)
{
    login_flood("[auth]\nhash_queue = 16\nlogin_rate_per_ip = 100000\n", false);
}

static void test_iam2_login_flood_throttled_with_defaults(void **state)
{
    /* the default login rate limits; a short queue so that the hashes that pass the throttle
     * end within the client's 30 s receive timeout even under AddressSanitizer */
    login_flood("[auth]\nhash_queue = 16\n", true);
}

/* ---- (c) bodies in flight ------------------------------------------------------------------- */

#define BATCH_OPS 8
#define BATCH_VALUE 700000 /* raw bytes per record: base64 makes the batch ~7.5 MB */
#define NBATCH 12

typedef struct batch_job {
    ts_server *srv;
    const char *token;
    int i;
    long status;
    bool retry_after;
    char code[64];
} batch_job;

static void fill_value(unsigned char *v, int batch, int op)
{
    for (int k = 0; k < BATCH_VALUE; k++)
        v[k] = (unsigned char)(batch * 31 + op * 7 + k * 13);
}

static void *post_batch(void *arg)
{
    batch_job *j = arg;
    size_t b64len = 4 * ((BATCH_VALUE + 2) / 3);
    char *body = malloc((size_t)BATCH_OPS * (b64len + 128) + 64);
    unsigned char *raw = malloc(BATCH_VALUE);
    char *b64 = malloc(b64len + 1);
    assert_non_null(body);
    size_t off = (size_t)sprintf(body, "{\"operations\":[");
    for (int op = 0; op < BATCH_OPS; op++) {
        fill_value(raw, j->i, op);
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t o = 0;
        for (int k = 0; k < BATCH_VALUE; k += 3) {
            unsigned v = (unsigned)raw[k] << 16 | (k + 1 < BATCH_VALUE ? raw[k + 1] << 8 : 0) |
                         (k + 2 < BATCH_VALUE ? raw[k + 2] : 0);
            b64[o++] = tbl[(v >> 18) & 63];
            b64[o++] = tbl[(v >> 12) & 63];
            b64[o++] = k + 1 < BATCH_VALUE ? tbl[(v >> 6) & 63] : '=';
            b64[o++] = k + 2 < BATCH_VALUE ? tbl[v & 63] : '=';
        }
        b64[o] = '\0';
        off +=
            (size_t)sprintf(body + off, "%s{\"op\":\"put\",\"key\":\"t%d-k%d\",\"value\":\"%s\"}",
                            op ? "," : "", j->i, op, b64);
    }
    off += (size_t)sprintf(body + off, "]}");
    ts_resp r;
    ts_request(j->srv, "POST", "/v1/buckets/b/records:batch", j->token, "application/json", body,
               off, NULL, &r);
    j->status = r.status;
    char v[16];
    j->retry_after = ts_header(&r, "Retry-After", v, sizeof(v));
    snprintf(j->code, sizeof(j->code), "%s", ts_err(&r));
    ts_resp_free(&r);
    free(body);
    free(raw);
    free(b64);
    return NULL;
}

/* Twelve concurrent 7.5 MB batches against a 16 MiB budget: some are refused 503 with
 * Retry-After, none fails 500, the accepted ones are stored intact, the refused ones changed
 * nothing, and the server's peak memory stays within a bound derived from the budget. */
static void test_inflight_bodies_stay_within_budget(void **state)
{
    owner = start_with_tenant(&srv, "[http]\nmax_inflight_body_bytes = 16777216\n");
    ts_bucket(&srv, owner, "b");
    reset_hwm(srv.pid); /* the peak so far is the 64 MiB of the logins' Argon2id */
    long hwm_before = vm_hwm_kib(srv.pid);

    static batch_job jobs[NBATCH];
    pthread_t th[NBATCH];
    for (int i = 0; i < NBATCH; i++) {
        jobs[i] = (batch_job){&srv, owner, i, 0, false, ""};
        assert_int_equal(pthread_create(&th[i], NULL, post_batch, &jobs[i]), 0);
    }
    int accepted = 0, refused = 0;
    for (int i = 0; i < NBATCH; i++) {
        pthread_join(th[i], NULL);
        fprintf(stderr, "batch %d: %ld %s\n", i, jobs[i].status, jobs[i].code);
        assert_true(jobs[i].status == 200 || jobs[i].status == 503);
        if (jobs[i].status == 503) {
            assert_string_equal(jobs[i].code, "unavailable");
            assert_true(jobs[i].retry_after);
            refused++;
        } else {
            accepted++;
        }
    }
    long hwm_after = vm_hwm_kib(srv.pid);
    /* A batch in flight is held as received and then about three times more while it is
     * parsed (JSON strings), decoded and sealed. The budget holds a body's reservation until its
     * request ends, so at most 16 MiB of batches (two) are held or processed at once: bound
     * 4 x 16 MiB plus 16 MiB of slack (allocator, TLS). Measured: 50-68 MiB with the budget;
     * ~125 MiB for the same twelve batches without it (they are then all accepted). */
    long bound_kib = hwm_before + 4 * 16 * 1024 + 16 * 1024;
    fprintf(stderr, "batches: %d accepted, %d refused; VmHWM %ld -> %ld KiB (bound %ld KiB)\n",
            accepted, refused, hwm_before, hwm_after, bound_kib);
    assert_true(refused > 0);
    assert_true(accepted > 0);
    if (TS_ASAN)
        fprintf(stderr, "peak memory not checked under AddressSanitizer\n");
    else
        assert_true(hwm_after <= bound_kib);

    unsigned char *want = malloc(BATCH_VALUE);
    for (int i = 0; i < NBATCH; i++) {
        for (int op = 0; op < BATCH_OPS; op++) {
            char path[128];
            snprintf(path, sizeof(path), "/v1/buckets/b/records/t%d-k%d", i, op);
            ts_resp r;
            ts_request(&srv, "GET", path, owner, NULL, NULL, 0, NULL, &r);
            if (jobs[i].status == 200) {
                assert_int_equal(r.status, 200);
                assert_int_equal(r.len, BATCH_VALUE);
                fill_value(want, i, op);
                assert_memory_equal(r.body, want, BATCH_VALUE);
            } else {
                assert_int_equal(r.status, 404);
            }
            ts_resp_free(&r);
        }
    }
    free(want);
    assert_int_equal(ts_stop(&srv), 0);
}

/* ---- plaintext framing: (d) chunked flood, (e) smuggling ------------------------------------ */

static void start_plain(ts_server *s)
{
    ts_init(s);
    snprintf(s->extra_config, sizeof(s->extra_config), "[http]\nallow_plaintext_loopback = true\n");
    assert_true(ts_start(s));
}

/* Reads until EOF or wait_ms; returns the bytes read (NUL-terminated) and whether EOF came. */
static size_t read_until_eof(int fd, char *buf, size_t cap, int wait_ms, bool *eof)
{
    size_t got = 0;
    *eof = false;
    int64_t end = now_ms() + wait_ms;
    while (got < cap - 1 && now_ms() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)(end - now_ms())) <= 0)
            break;
        ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n <= 0) {
            *eof = true;
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

/* An unauthenticated chunked upload to /v1/auth/login is cut off at the route's limit: the
 * server answers 413 and stops reading (a bounded 1 GB stream; the client learns it after a
 * few MB at most, the size of the socket buffers). */
static void test_chunked_flood_stops_at_limit(void **state)
{
    start_plain(&srv);
    int fd = tcp_from(ATTACKER, srv.port);
    assert_true(fd >= 0);
    const char *head = "POST /v1/auth/login HTTP/1.1\r\nHost: custodia\r\n"
                       "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    static char chunk[65536 + 16];
    int hl = snprintf(chunk, sizeof(chunk), "10000\r\n");
    memset(chunk + hl, 'A', 65536);
    memcpy(chunk + hl + 65536, "\r\n", 2);
    size_t chunk_len = (size_t)hl + 65536 + 2, sent = 0, off = 0;
    int64_t t0 = now_ms(), last_progress = t0;
    bool answered = false;
    while (sent < (1ULL << 30) && now_ms() - t0 < 20000 && now_ms() - last_progress < 2000) {
        struct pollfd p = {fd, POLLIN | POLLOUT, 0};
        poll(&p, 1, 100);
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            answered = true;
            break;
        }
        if (!(p.revents & POLLOUT))
            continue;
        ssize_t n = send(fd, chunk + off, chunk_len - off, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN) {
            answered = true; /* the server closed the connection */
            break;
        }
        if (n > 0) {
            sent += (size_t)n;
            off = (off + (size_t)n) % chunk_len;
            last_progress = now_ms();
        }
    }
    char buf[4096];
    bool eof;
    fcntl(fd, F_SETFL, 0);
    read_until_eof(fd, buf, sizeof(buf), 3000, &eof);
    fprintf(stderr, "chunked flood: %zu bytes sent before the server stopped it (%s)\n", sent,
            answered ? "answered" : "stalled");
    close(fd);
    assert_true(answered);
    assert_true(sent < 16u * 1024 * 1024);
    assert_non_null(strstr(buf, "HTTP/1.1 413"));
    assert_non_null(strstr(buf, "payload_too_large"));
    assert_true(eof);
    assert_int_equal(ts_stop(&srv), 0);
}

/* The same over TLS, the way a real client meets it: the 413 is written into the TLS session
 * part-way through the upload and arrives before the connection closes. */
static void test_chunked_flood_stops_at_limit_tls(void **state)
{
    ts_init(&srv);
    assert_true(ts_start(&srv));
    dribbler d;
    dribbler_open(&d, srv.port); /* sends a request line and Host */
    const char *head = "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_true(gnutls_record_send(d.s, head, strlen(head)) > 0);
    struct timeval tv = {2, 0};
    setsockopt(d.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(d.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    static char chunk[65536 + 16];
    int hl = snprintf(chunk, sizeof(chunk), "10000\r\n");
    memset(chunk + hl, 'A', 65536);
    memcpy(chunk + hl + 65536, "\r\n", 2);
    size_t chunk_len = (size_t)hl + 65536 + 2, sent = 0;
    int64_t t0 = now_ms();
    bool stopped = false;
    while (sent < (1ULL << 30) && now_ms() - t0 < 20000) {
        struct pollfd p = {d.fd, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) {
            stopped = true; /* the answer (or the close) is there */
            break;
        }
        ssize_t n = gnutls_record_send(d.s, chunk, chunk_len);
        if (n < 0) {
            stopped = true;
            break;
        }
        sent += (size_t)n;
    }
    char buf[4096];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(buf) - 1 &&
           (n = gnutls_record_recv(d.s, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    fprintf(stderr, "chunked flood over TLS: %zu bytes sent; answer: %.40s\n", sent, buf);
    dribbler_close(&d);
    assert_true(stopped);
    assert_true(sent < 16u * 1024 * 1024);
    assert_non_null(strstr(buf, "HTTP/1.1 413"));
    assert_non_null(strstr(buf, "payload_too_large"));
    assert_int_equal(ts_stop(&srv), 0);
}

static int count_status_lines(const char *buf, size_t n)
{
    int c = 0;
    for (size_t i = 0; i + 9 <= n; i++)
        c += memcmp(buf + i, "HTTP/1.1 ", 9) == 0;
    return c;
}

/* One request followed by an innocent second one on the same connection: the first is refused
 * and the connection closed, so the second (a would-be smuggled request) is never served. */
static void expect_refused(int port, const char *name, const char *req, size_t len,
                           const char *status, bool exactly_one)
{
    int fd = tcp_from(ATTACKER, port);
    assert_true(fd >= 0);
    const char *next = "GET /v1/sys/health HTTP/1.1\r\nHost: custodia\r\n\r\n";
    char out[2048];
    memcpy(out, req, len);
    memcpy(out + len, next, strlen(next));
    assert_int_equal(send(fd, out, len + strlen(next), MSG_NOSIGNAL),
                     (ssize_t)(len + strlen(next)));
    char buf[8192];
    bool eof;
    size_t n = read_until_eof(fd, buf, sizeof(buf), 5000, &eof);
    close(fd);
    int lines = count_status_lines(buf, n);
    fprintf(stderr, "%s: %d status line(s), first: %.24s, eof %d\n", name, lines, buf, eof);
    assert_true(n > 12 && memcmp(buf, status, strlen(status)) == 0);
    assert_null(strstr(buf, " 200 OK"));
    assert_true(eof);
    if (exactly_one)
        assert_int_equal(lines, 1);
}

/* Smuggling and malformed framing: each is refused 400 with one response and the connection
 * closed. Two Content-Length headers, Transfer-Encoding with Content-Length, a Transfer-Encoding
 * other than chunked, a NUL in the path (it served health before), a header name with
 * whitespace before its colon or on a folded line (the body was read as the next request). */
static void test_smuggling_and_bad_framing_refused(void **state)
{
    start_plain(&srv);
#define CASE(name, text)                                                                           \
    expect_refused(srv.port, name, text, sizeof(text) - 1, "HTTP/1.1 400", true)
    CASE("two Content-Length",
         "POST /v1/auth/login HTTP/1.1\r\nHost: c\r\nContent-Type: "
         "application/json\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}");
    CASE("Transfer-Encoding and Content-Length",
         "POST /v1/auth/login HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
         "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    CASE("Transfer-Encoding gzip, chunked",
         "POST /v1/auth/login HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
         "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
    CASE("NUL in the path", "GET /v1/sys/health\0/x HTTP/1.1\r\nHost: c\r\n\r\n");
    CASE("NUL in the query", "GET /v1/sys/health?a=\0b HTTP/1.1\r\nHost: c\r\n\r\n");
    /* A framing header a proxy may read and libmicrohttpd does not: its body (here the innocent
     * second request, 46 bytes) must not be served as a request of its own. */
    CASE("whitespace before the colon of Content-Length",
         "POST /v1/auth/login HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
         "Content-Length : 46\r\n\r\n");
    CASE("whitespace before the colon of Transfer-Encoding",
         "POST /v1/auth/login HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
         "Transfer-Encoding : chunked\r\n\r\n");
    CASE("Content-Length on a folded line",
         "POST /v1/auth/login HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
         "X-Pad: a\r\n Content-Length: 46\r\n\r\n");
#undef CASE
    /* Malformed Content-Length values never reach custodia: libmicrohttpd 0.9.75 refuses them
     * while parsing the headers and closes the connection (it writes its status line twice,
     * a defect of that version no application hook can reach; the smuggled request is still
     * never served). */
#define MHD_CASE(name, text, status)                                                               \
    expect_refused(srv.port, name, text, sizeof(text) - 1, status, false)
    MHD_CASE("Content-Length -1",
             "POST /v1/auth/login HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
             "Content-Length: -1\r\n\r\n{}",
             "HTTP/1.1 400");
    MHD_CASE("Content-Length +2",
             "POST /v1/auth/login HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
             "Content-Length: +2\r\n\r\n{}",
             "HTTP/1.1 400");
    MHD_CASE("Content-Length with inner space",
             "POST /v1/auth/login HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
             "Content-Length: 1 2\r\n\r\n{}",
             "HTTP/1.1 400");
    MHD_CASE("Content-Length huge",
             "POST /v1/auth/login HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
             "Content-Length: 99999999999999999999999\r\n\r\n{}",
             "HTTP/1.1 413");
#undef MHD_CASE
    /* A Content-Length larger than the route accepts (but a number) is ours: 413 at once. */
    expect_refused(srv.port, "Content-Length over the route's limit",
                   "POST /v1/auth/login HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
                   "Content-Length: 1000000000\r\n\r\n{}",
                   strlen("POST /v1/auth/login HTTP/1.1\r\nHost: c\r\nContent-Type: "
                          "application/json\r\nContent-Length: 1000000000\r\n\r\n{}"),
                   "HTTP/1.1 413", true);
    /* The well-formed control: both requests served on the one connection. */
    int fd = tcp_from(ATTACKER, srv.port);
    const char *two = "GET /v1/sys/health HTTP/1.1\r\nHost: c\r\n\r\n"
                      "GET /v1/sys/health HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(fd, two, strlen(two), MSG_NOSIGNAL), (ssize_t)strlen(two));
    char buf[8192];
    bool eof;
    size_t n = read_until_eof(fd, buf, sizeof(buf), 5000, &eof);
    close(fd);
    assert_int_equal(count_status_lines(buf, n), 2);
    assert_int_equal(ts_stop(&srv), 0);
}

/* ---- (f) SIGHUP, node.stop, the TLS key's mode ---------------------------------------------- */

/* SIGHUP reopens log.file (logrotate) and the node keeps serving; a clean stop is audited
 * as node.stop; a TLS key readable by its group is refused at start with a clear message. */
static void test_sighup_reopens_log_and_stop_is_audited(void **state)
{
    ts_init(&srv);
    char log[400], rotated[420];
    snprintf(log, sizeof(log), "%s/node.log", srv.root);
    snprintf(rotated, sizeof(rotated), "%s.1", log);
    snprintf(srv.extra_config, sizeof(srv.extra_config), "[log]\nfile = %s\n", log);
    assert_true(ts_start(&srv));
    char *op = ts_operator(&srv);
    char *sec = ts_sys_operator(&srv, op, "sec1", "sys-security");
    assert_true(file_contains(log, "http: at most"));
    assert_int_equal(rename(log, rotated), 0);
    assert_int_equal(kill(srv.pid, SIGHUP), 0);
    bool reopened = false;
    for (int i = 0; i < 50 && !reopened; i++) {
        sleep_ms(100);
        reopened = file_contains(log, "log reopened");
    }
    assert_true(reopened);
    assert_false(file_contains(rotated, "log reopened"));
    struct stat st;
    assert_int_equal(stat(log, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    ts_resp r;
    assert_int_equal(ts_status(&srv, "GET", "/v1/sys/health", NULL, NULL, NULL, 0), 200);
    assert_int_equal(ts_stop(&srv), 0); /* alive until SIGTERM, and a clean exit */

    assert_true(ts_start(&srv));
    free(sec);
    sec = ts_login(&srv, "_sys", "sec1", TS_PASSWORD);
    assert_non_null(sec);
    ts_request(&srv, "GET", "/v1/sys/audit?limit=1000", sec, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    int starts = 0, stops = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(r.json, "entries"), i, e)
    {
        const char *a = json_string_value(json_object_get(e, "action"));
        starts += strcmp(a, "node.start") == 0;
        stops += strcmp(a, "node.stop") == 0;
    }
    ts_resp_free(&r);
    assert_int_equal(starts, 2);
    assert_int_equal(stops, 1);
    assert_int_equal(ts_stop(&srv), 0);

    /* A TLS key readable by its group: refused, with the reason, on the console too. */
    snprintf(srv.extra_config, sizeof(srv.extra_config), "[log]\nfile = %s\n", log);
    char key[400];
    snprintf(key, sizeof(key), "%s/tls/key.pem", srv.data_dir);
    assert_int_equal(chmod(key, 0640), 0);
    assert_false(ts_start(&srv));
    char serve_log[400];
    snprintf(serve_log, sizeof(serve_log), "%s/serve.log", srv.root);
    assert_true(file_contains(serve_log, "has mode 640"));
    assert_true(file_contains(serve_log, "must not be accessible to group or others"));
    assert_int_equal(chmod(key, 0600), 0);
    assert_true(ts_start(&srv));
    free(op);
    free(sec);
    assert_int_equal(ts_stop(&srv), 0);
}

/* ---- under ulimit -n 1024, with the total sized automatically ------------------------------- */

/* The node runs with RLIMIT_NOFILE 1024 (hard) and http.max_connections = 0: the total it
 * computes leaves room for the tenant stores, two attacker addresses fill their per-address
 * share, the healthy client is still served, and a third address cannot push the node's
 * connections past the computed total or the node out of descriptors; once it lets go, the
 * healthy client is served again. */
static void test_descriptor_limit_sizes_total(void **state)
{
    struct rlimit own;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &own), 0);
    struct rlimit raised = {own.rlim_max, own.rlim_max};
    (void)setrlimit(RLIMIT_NOFILE, &raised);
    if (raised.rlim_max < 2048)
        skip(); /* this process needs ~1,400 descriptors of its own */

    ts_init(&srv);
    char wrapper[400], prev_bin[512];
    snprintf(prev_bin, sizeof(prev_bin), "%s",
             getenv("CUSTODIA_BIN") ? getenv("CUSTODIA_BIN") : "./custodia");
    char abs_bin[PATH_MAX];
    assert_non_null(realpath(prev_bin, abs_bin));
    snprintf(wrapper, sizeof(wrapper), "%s/custodia-ulimit.sh", srv.root);
    FILE *w = fopen(wrapper, "w");
    assert_non_null(w);
    /* the store's descriptors: 3 per open tenant on SQLite, the pool's 8 on PostgreSQL, whose
     * node gets as many fewer descriptors, so that the total is the same and three addresses
     * of 250 connections reach it */
    int store = strcmp(ts_store_driver(), "postgresql") == 0 ? 8 : 3 * 128;
    int nofile = 1024 - 3 * 128 + store;
    fprintf(w, "#!/bin/sh\nulimit -n %d || exit 99\nexec %s \"$@\"\n", nofile, abs_bin);
    fclose(w);
    chmod(wrapper, 0700);
    setenv("CUSTODIA_BIN", wrapper, 1);
    snprintf(srv.extra_config, sizeof(srv.extra_config),
             "[http]\nmax_connections = 0\nmax_connections_per_ip = 250\n");
    bool started = ts_start(&srv);
    setenv("CUSTODIA_BIN", prev_bin, 1);
    assert_true(started);
    char *op = ts_operator(&srv);
    owner = ts_tenant(&srv, op, "acme", NULL);
    free(op);

    char serve_log[400];
    snprintf(serve_log, sizeof(serve_log), "grep -o 'at most [0-9]* connections' %s/serve.log",
             srv.root);
    FILE *p = popen(serve_log, "r");
    int total = 0;
    assert_int_equal(fscanf(p, "at most %d connections", &total), 1);
    pclose(p);
    fprintf(stderr, "RLIMIT_NOFILE %d: the node allows %d connections in all\n", nofile, total);
    assert_true(total > 16 && total <= nofile - store - 64);

    enum { PER = 300 };
    static int a1[PER], a3[PER], a4[PER];
    int64_t t0 = now_ms();
    int kept1 = open_until_refused(ATTACKER, srv.port, PER, a1);
    int kept3 = open_until_refused("127.0.0.3", srv.port, PER, a3);
    fprintf(stderr, "127.0.0.1 kept %d, 127.0.0.3 kept %d\n", kept1, kept3);
    assert_true(kept1 <= 250 && kept3 <= 250);
    static ts_server healthy;
    healthy = srv;
    snprintf(healthy.source_ip, sizeof(healthy.source_ip), HEALTHY);
    ts_resp r;
    ts_request(&healthy, "GET", "/v1/tenant", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);

    /* Past the total the node stops accepting: further connections wait in the kernel's
     * backlog (open to the client, no descriptor in the node), so count from the node's side. */
    int kept4 = open_until_refused("127.0.0.4", srv.port, PER, a4);
    int sockets = 0, fds = 0;
    count_fds(srv.pid, &fds, &sockets);
    fprintf(stderr,
            "127.0.0.4 kept %d; the node holds %d sockets and %d descriptors (limit %d "
            "connections)\n",
            kept4, sockets, fds, total);
    assert_true(now_ms() - t0 < 9000); /* before the 10 s header deadline closes them */
    int pool = store == 8 ? 8 : 0;     /* PostgreSQL: the pool's connections are sockets too */
    assert_true(sockets <= total + 8 + pool); /* connections, the listener, epoll and wake-ups */
    assert_true(sockets >= total - 8); /* the total, not a lack of descriptors, stopped them */
    assert_true(fds < nofile - store); /* room left for every tenant store (or the pool) */
    close_all(a4, PER);
    sleep_ms(300);
    ts_request(&healthy, "GET", "/v1/tenant", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    close_all(a1, PER);
    close_all(a3, PER);
    char log_path[400];
    snprintf(log_path, sizeof(log_path), "%s/serve.log", srv.root);
    assert_false(file_contains(log_path, "Too many open files"));
    assert_int_equal(ts_stop(&srv), 0);
    (void)setrlimit(RLIMIT_NOFILE, &own);
}

int main(void)
{
    gnutls_global_init();
    if (getenv("TS_FILTER")) /* development: run one test */
        cmocka_set_test_filter(getenv("TS_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_connection_flood_and_dribblers_are_bounded, teardown),
        cmocka_unit_test_teardown(test_iam2_login_flood_does_not_stall_others, teardown),
        cmocka_unit_test_teardown(test_iam2_login_flood_throttled_with_defaults, teardown),
        cmocka_unit_test_teardown(test_inflight_bodies_stay_within_budget, teardown),
        cmocka_unit_test_teardown(test_chunked_flood_stops_at_limit, teardown),
        cmocka_unit_test_teardown(test_chunked_flood_stops_at_limit_tls, teardown),
        cmocka_unit_test_teardown(test_smuggling_and_bad_framing_refused, teardown),
        cmocka_unit_test_teardown(test_sighup_reopens_log_and_stop_is_audited, teardown),
        cmocka_unit_test_teardown(test_descriptor_limit_sizes_total, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gnutls_global_deinit();
    return rc;
}
