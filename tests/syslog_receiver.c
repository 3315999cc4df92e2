/* syslog_receiver.c: the tests' RFC 5425 receiver (syslog_receiver.h). */
#include "syslog_receiver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_MSG 65536

static bool stopped(syslog_receiver *r)
{
    return atomic_load(&r->stop);
}

static bool wait_io(syslog_receiver *r, int fd, short ev)
{
    while (!stopped(r)) {
        struct pollfd p = {.fd = fd, .events = ev};
        if (poll(&p, 1, 100) > 0)
            return true;
    }
    return false;
}

static void record(syslog_receiver *r, const char *p, size_t n)
{
    char *m = malloc(n + 1);
    if (!m)
        return;
    memcpy(m, p, n);
    m[n] = '\0';
    pthread_mutex_lock(&r->mu);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        char **g = realloc(r->msgs, cap * sizeof(char *));
        if (!g) {
            pthread_mutex_unlock(&r->mu);
            free(m);
            return;
        }
        r->msgs = g;
        r->cap = cap;
    }
    r->msgs[r->n++] = m;
    pthread_mutex_unlock(&r->mu);
}

/* RFC 5425 4.3: MSG-LEN SP SYSLOG-MSG, MSG-LEN = NONZERO-DIGIT *DIGIT. Takes the complete
 * frames at the front of buf; -1 on a malformed one. */
static int take_frames(syslog_receiver *r, char *buf, size_t *len)
{
    size_t pos = 0;
    for (;;) {
        size_t i = pos, msg_len = 0;
        while (i < *len && buf[i] >= '0' && buf[i] <= '9' && i - pos < 7)
            msg_len = msg_len * 10 + (size_t)(buf[i++] - '0');
        if (i == *len)
            break; /* the length is not all here yet */
        if (i == pos || buf[pos] == '0' || buf[i] != ' ' || msg_len > MAX_MSG)
            return -1;
        if (*len - (i + 1) < msg_len)
            break;
        record(r, buf + i + 1, msg_len);
        pos = i + 1 + msg_len;
    }
    memmove(buf, buf + pos, *len - pos);
    *len -= pos;
    return 0;
}

static void serve_one(syslog_receiver *r, gnutls_certificate_credentials_t cred, int fd)
{
    gnutls_session_t s;
    if (gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NONBLOCK) != 0)
        return;
    gnutls_set_default_priority(s);
    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
    gnutls_transport_set_int(s, fd);
    int rc;
    while ((rc = gnutls_handshake(s)) < 0 && !gnutls_error_is_fatal(rc))
        if (!wait_io(r, fd, gnutls_record_get_direction(s) ? POLLOUT : POLLIN))
            break;
    pthread_mutex_lock(&r->mu);
    if (rc == 0)
        r->handshakes++;
    else
        r->handshake_failures++;
    pthread_mutex_unlock(&r->mu);
    static char buf[2 * MAX_MSG];
    size_t len = 0;
    while (rc == 0 && !stopped(r)) {
        ssize_t got = gnutls_record_recv(s, buf + len, sizeof(buf) - len);
        if (got == GNUTLS_E_AGAIN || got == GNUTLS_E_INTERRUPTED) {
            if (!wait_io(r, fd, POLLIN))
                break;
            continue;
        }
        if (got <= 0)
            break;
        len += (size_t)got;
        if (take_frames(r, buf, &len) != 0) {
            pthread_mutex_lock(&r->mu);
            r->bad_frames++;
            pthread_mutex_unlock(&r->mu);
            break;
        }
    }
    gnutls_deinit(s);
}

static void *receiver_main(void *arg)
{
    syslog_receiver *r = arg;
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) != 0)
        return NULL;
    if (gnutls_certificate_set_x509_key_file(cred, r->cert, r->key, GNUTLS_X509_FMT_PEM) != 0) {
        fprintf(stderr, "syslog receiver: cannot load %s / %s\n", r->cert, r->key);
        gnutls_certificate_free_credentials(cred);
        return NULL;
    }
    while (wait_io(r, r->lfd, POLLIN)) {
        int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            continue;
        serve_one(r, cred, fd);
        close(fd); /* the sender sees the connection closed */
    }
    gnutls_certificate_free_credentials(cred);
    return NULL;
}

bool syslog_receiver_start(syslog_receiver *r, int port, const char *cert, const char *key)
{
    if (!r->mu_ready) {
        pthread_mutex_init(&r->mu, NULL);
        r->mu_ready = true;
    }
    snprintf(r->cert, sizeof(r->cert), "%s", cert);
    snprintf(r->key, sizeof(r->key), "%s", key);
    atomic_store(&r->stop, false);
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (r->lfd < 0)
        return false;
    int one = 1;
    setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (bind(r->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(r->lfd, 8) != 0 ||
        getsockname(r->lfd, (struct sockaddr *)&a, &al) != 0) {
        close(r->lfd);
        return false;
    }
    r->port = ntohs(a.sin_port);
    if (pthread_create(&r->thread, NULL, receiver_main, r) != 0) {
        close(r->lfd);
        return false;
    }
    r->running = true;
    return true;
}

void syslog_receiver_stop(syslog_receiver *r)
{
    if (!r->running)
        return;
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    close(r->lfd);
    r->running = false;
}

size_t syslog_receiver_count(syslog_receiver *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

char *syslog_receiver_message(syslog_receiver *r, size_t i)
{
    pthread_mutex_lock(&r->mu);
    char *m = i < r->n ? strdup(r->msgs[i]) : NULL;
    pthread_mutex_unlock(&r->mu);
    return m;
}

int syslog_receiver_handshakes(syslog_receiver *r, int *failed)
{
    pthread_mutex_lock(&r->mu);
    int ok = r->handshakes;
    *failed = r->handshake_failures;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

int syslog_receiver_bad_frames(syslog_receiver *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->bad_frames;
    pthread_mutex_unlock(&r->mu);
    return n;
}

void syslog_receiver_free(syslog_receiver *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->msgs[i]);
    free(r->msgs);
    r->msgs = NULL;
    r->n = r->cap = 0;
}
