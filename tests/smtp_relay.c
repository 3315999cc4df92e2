/* smtp_relay.c: the minimal SMTP receiver of the mail tests (smtp_relay.h). */
#include "smtp_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINE_MAX_BYTES 65536

/* Reads one line (through CRLF) into line; false on close, error or stop. */
static bool read_line(smtp_relay *r, int fd, char *line, size_t n)
{
    size_t len = 0;
    while (!r->stop && len + 1 < n) {
        struct pollfd p = {fd, POLLIN, 0};
        int k = poll(&p, 1, 50);
        if (k == 0)
            continue;
        if (k < 0 || recv(fd, line + len, 1, 0) != 1)
            return false;
        len++;
        if (len >= 2 && line[len - 2] == '\r' && line[len - 1] == '\n') {
            line[len - 2] = '\0';
            return true;
        }
    }
    return false;
}

static void say(int fd, const char *s)
{
    (void)!send(fd, s, strlen(s), MSG_NOSIGNAL);
}

/* Whether this DATA command is refused (451), counting it. */
static bool refuse_now(smtp_relay *r)
{
    pthread_mutex_lock(&r->mu);
    bool refuse = r->refuse != 0;
    if (refuse) {
        r->refused++;
        if (r->refuse > 0)
            r->refuse--;
    }
    pthread_mutex_unlock(&r->mu);
    return refuse;
}

/* The DATA of the transaction under way, up to the final "."; false when the connection ends
 * first or the message does not fit. */
static bool read_data(smtp_relay *r, int fd, char *line, size_t n)
{
    smtp_message *m = &r->cur;
    m->data_len = 0;
    m->data[0] = '\0';
    while (read_line(r, fd, line, n)) {
        if (!strcmp(line, "."))
            return true;
        size_t l = strlen(line);
        if (m->data_len + l + 3 > sizeof(m->data))
            return false;
        memcpy(m->data + m->data_len, line, l);
        memcpy(m->data + m->data_len + l, "\r\n", 3);
        m->data_len += l + 2;
    }
    return false;
}

static void accept_message(smtp_relay *r)
{
    pthread_mutex_lock(&r->mu);
    if (r->accepted < SMTP_RELAY_KEEP)
        r->kept[r->accepted] = r->cur;
    r->accepted++;
    pthread_mutex_unlock(&r->mu);
}

static void session(smtp_relay *r, int fd)
{
    static char line[LINE_MAX_BYTES]; /* the relay thread's only */
    smtp_message *m = &r->cur;
    memset(m, 0, sizeof(*m));
    if (r->silent) {
        while (read_line(r, fd, line, sizeof(line)))
            ;
        return;
    }
    say(fd, "220 relay.test ESMTP\r\n");
    while (read_line(r, fd, line, sizeof(line))) {
        if (!strncasecmp(line, "EHLO", 4))
            say(fd, "250-relay.test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n");
        else if (!strncasecmp(line, "HELO", 4))
            say(fd, "250 relay.test\r\n");
        else if (!strncasecmp(line, "AUTH PLAIN", 10)) {
            char auth[256] = "";
            if (line[10] == ' ')
                snprintf(auth, sizeof(auth), "%.200s", line + 11);
            else if (say(fd, "334 \r\n"), read_line(r, fd, line, sizeof(line)))
                snprintf(auth, sizeof(auth), "%.200s", line);
            pthread_mutex_lock(&r->mu);
            snprintf(r->auth, sizeof(r->auth), "%s", auth);
            pthread_mutex_unlock(&r->mu);
            say(fd, "235 ok\r\n");
        } else if (!strncasecmp(line, "MAIL FROM:", 10)) {
            memset(m, 0, sizeof(*m));
            snprintf(m->mail_from, sizeof(m->mail_from), "%.200s", line + 10);
            pthread_mutex_lock(&r->mu);
            r->envelopes++;
            pthread_mutex_unlock(&r->mu);
            say(fd, "250 ok\r\n");
        } else if (!strncasecmp(line, "RCPT TO:", 8)) {
            bool bad = strstr(line, "bad@") != NULL;
            if (!bad && m->nrcpt < SMTP_RELAY_RCPTS)
                snprintf(m->rcpt[m->nrcpt++], SMTP_RELAY_ADDR, "%.200s", line + 8);
            say(fd, bad ? "550 5.1.1 no such user\r\n" : "250 ok\r\n");
        } else if (!strncasecmp(line, "DATA", 4)) {
            if (refuse_now(r)) {
                say(fd, "451 4.3.0 try again later\r\n");
                continue;
            }
            say(fd, "354 go ahead\r\n");
            if (!read_data(r, fd, line, sizeof(line)))
                return;
            accept_message(r);
            say(fd, "250 queued\r\n");
        } else if (!strncasecmp(line, "RSET", 4)) {
            memset(m, 0, sizeof(*m));
            say(fd, "250 ok\r\n");
        } else if (!strncasecmp(line, "QUIT", 4)) {
            say(fd, "221 bye\r\n");
            return;
        } else
            say(fd, "502 no\r\n");
    }
}

static void *relay_main(void *arg)
{
    smtp_relay *r = arg;
    while (!r->stop) {
        struct pollfd p = {r->lfd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(r->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        session(r, fd);
        close(fd);
    }
    return NULL;
}

bool smtp_relay_start(smtp_relay *r, bool silent)
{
    memset(r, 0, sizeof(*r));
    r->silent = silent;
    if (pthread_mutex_init(&r->mu, NULL) != 0)
        return false;
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(r->lfd, 4) != 0 || getsockname(r->lfd, (struct sockaddr *)&a, &al) != 0 ||
        pthread_create(&r->thread, NULL, relay_main, r) != 0) {
        if (r->lfd >= 0)
            close(r->lfd);
        pthread_mutex_destroy(&r->mu);
        return false;
    }
    r->port = ntohs(a.sin_port);
    return true;
}

void smtp_relay_stop(smtp_relay *r)
{
    r->stop = true;
    pthread_join(r->thread, NULL);
    close(r->lfd); /* the mutex stays: what the relay recorded is read after it stopped */
}

void smtp_relay_refuse(smtp_relay *r, int n)
{
    pthread_mutex_lock(&r->mu);
    r->refuse = n;
    pthread_mutex_unlock(&r->mu);
}

static int read_count(smtp_relay *r, const int *field)
{
    pthread_mutex_lock(&r->mu);
    int v = *field;
    pthread_mutex_unlock(&r->mu);
    return v;
}

int smtp_relay_refused(smtp_relay *r)
{
    return read_count(r, &r->refused);
}

int smtp_relay_envelopes(smtp_relay *r)
{
    return read_count(r, &r->envelopes);
}

int smtp_relay_accepted(smtp_relay *r)
{
    return read_count(r, &r->accepted);
}

bool smtp_relay_message(smtp_relay *r, int i, smtp_message *out)
{
    pthread_mutex_lock(&r->mu);
    bool there = i >= 0 && i < r->accepted && i < SMTP_RELAY_KEEP;
    if (there)
        *out = r->kept[i];
    pthread_mutex_unlock(&r->mu);
    return there;
}

void smtp_relay_auth(smtp_relay *r, char *out, size_t n)
{
    pthread_mutex_lock(&r->mu);
    snprintf(out, n, "%s", r->auth);
    pthread_mutex_unlock(&r->mu);
}

void smtp_relay_unstuff(const char *in, char *out)
{
    bool bol = true;
    for (; *in; in++) {
        if (!(bol && in[0] == '.' && in[1] == '.'))
            *out++ = *in;
        bol = *in == '\n';
    }
    *out = '\0';
}
