/* test_mail.c: INC-3 email of breach notices: the message composed (headers, CRLF, no header
 * injection), its delivery through a minimal SMTP receiver on 127.0.0.1 written here (envelope,
 * headers and body intact, dot-stuffed once), a refused recipient, a silent relay within the
 * timeout, the credentials file's rules and the relay URL rule enforced at start-up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "node/config.h"
#include "node/mail.h"
#include "util/util.h"

#define NOW 1796208050000000LL /* Wed, 02 Dec 2026 10:40:50 UTC */
#define BIG 65536

/* ---- a minimal SMTP receiver: one thread, one connection at a time ---- */

typedef struct relay {
    int lfd, port;
    pthread_t thread;
    _Atomic bool stop;
    bool silent; /* accept, then never answer */
    char mail_from[256], rcpt[256], auth[256];
    char data[BIG]; /* the DATA bytes as received (dot-stuffed), up to the final CRLF */
    size_t data_len;
} relay;

/* Reads one line (through CRLF) into line; false on close, error or stop. */
static bool read_line(relay *r, int fd, char *line, size_t n)
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

static void session(relay *r, int fd)
{
    char line[BIG];
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
            if (line[10] == ' ')
                snprintf(r->auth, sizeof(r->auth), "%.200s", line + 11);
            else if (say(fd, "334 \r\n"), read_line(r, fd, line, sizeof(line)))
                snprintf(r->auth, sizeof(r->auth), "%.200s", line);
            say(fd, "235 ok\r\n");
        } else if (!strncasecmp(line, "MAIL FROM:", 10)) {
            snprintf(r->mail_from, sizeof(r->mail_from), "%.200s", line + 10);
            say(fd, "250 ok\r\n");
        } else if (!strncasecmp(line, "RCPT TO:", 8)) {
            snprintf(r->rcpt, sizeof(r->rcpt), "%.200s", line + 8);
            say(fd, strstr(line, "bad@") ? "550 5.1.1 no such user\r\n" : "250 ok\r\n");
        } else if (!strncasecmp(line, "DATA", 4)) {
            say(fd, "354 go ahead\r\n");
            r->data_len = 0;
            while (read_line(r, fd, line, sizeof(line)) && strcmp(line, ".") != 0) {
                size_t l = strlen(line);
                if (r->data_len + l + 3 > sizeof(r->data))
                    return;
                memcpy(r->data + r->data_len, line, l);
                memcpy(r->data + r->data_len + l, "\r\n", 3);
                r->data_len += l + 2;
            }
            say(fd, "250 queued\r\n");
        } else if (!strncasecmp(line, "QUIT", 4)) {
            say(fd, "221 bye\r\n");
            return;
        } else
            say(fd, "502 no\r\n");
    }
}

static void *relay_main(void *arg)
{
    relay *r = arg;
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

static void relay_start(relay *r, bool silent)
{
    memset(r, 0, sizeof(*r));
    r->silent = silent;
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(r->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(r->lfd, 4), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&a, &al), 0);
    r->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&r->thread, NULL, relay_main, r), 0);
}

static void relay_stop(relay *r)
{
    r->stop = true;
    pthread_join(r->thread, NULL);
    close(r->lfd);
}

/* The message as the receiver reads it: a leading ".." of a line becomes "." (RFC 5321 4.5.2). */
static void unstuff(const char *in, char *out)
{
    bool bol = true;
    for (; *in; in++) {
        if (!(bol && in[0] == '.' && in[1] == '.'))
            *out++ = *in;
        bol = *in == '\n';
    }
    *out = '\0';
}

/* A configuration with the loopback relay on port (plain SMTP, tests only). */
static void relay_config(cst_config *c, int port)
{
    char url[64];
    snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", port);
    cst_config_defaults(c);
    assert_int_equal(cst_config_set(c, "notices", "smtp_url", url), CST_OK);
    assert_int_equal(cst_config_set(c, "notices", "smtp_from", "notices@custodia.example"), CST_OK);
    assert_int_equal(cst_config_set(c, "notices", "smtp_starttls", "false"), CST_OK);
    assert_int_equal(cst_config_set(c, "notices", "smtp_timeout_seconds", "1"), CST_OK);
    assert_int_equal(cst_config_finish(c), CST_OK);
}

static const char *const BODY = "Dear customer,\n"
                                ".hidden line that starts with a dot\n"
                                "..two dots\n"
                                "Données concernées: e-mail\n"
                                ".\n"
                                "end";

/* ---- composing ---- */

static void test_inc3_compose_headers(void **state)
{
    (void)state;
    cst_config c;
    relay_config(&c, 2525);
    static char m[BIG];
    assert_int_equal(cst_mail_compose(&c, "alice@tenant.example", "Breach notice: incident inc_1",
                                      BODY, "msg_1", NOW, m, sizeof(m)),
                     CST_OK);
    const char *want = "Date: Wed, 02 Dec 2026 10:40:50 +0000\r\n"
                       "From: notices@custodia.example\r\n"
                       "To: alice@tenant.example\r\n"
                       "Subject: Breach notice: incident inc_1\r\n"
                       "Message-ID: <msg_1@custodia>\r\n"
                       "MIME-Version: 1.0\r\n"
                       "Content-Type: text/plain; charset=utf-8\r\n"
                       "Content-Transfer-Encoding: 8bit\r\n"
                       "\r\n"
                       "Dear customer,\r\n"
                       ".hidden line that starts with a dot\r\n"
                       "..two dots\r\n"
                       "Données concernées: e-mail\r\n"
                       ".\r\n"
                       "end\r\n";
    assert_string_equal(m, want); /* not dot-stuffed here: libcurl does it, once */
    /* CRLF in the text stays CRLF */
    assert_int_equal(cst_mail_compose(&c, "a@b.example", "s", "x\r\ny\r\n", "m", NOW, m, sizeof(m)),
                     CST_OK);
    assert_non_null(strstr(m, "\r\n\r\nx\r\ny\r\n"));
    assert_null(strstr(m, "y\r\n\r\n"));
    /* too small a buffer fails and leaves nothing */
    char tiny[64];
    assert_int_equal(cst_mail_compose(&c, "a@b.example", "s", "x", "m", NOW, tiny, sizeof(tiny)),
                     CST_ERR_INVALID);
    assert_string_equal(tiny, "");
}

static void test_inc3_compose_refuses_header_injection(void **state)
{
    (void)state;
    cst_config c;
    relay_config(&c, 2525);
    static char m[BIG];
    const char *subjects[] = {"hi\r\nBcc: evil@x.example",
                              "hi\nBcc: evil@x.example",
                              "hi\r",
                              "caf\xc3\xa9",
                              "tab\there",
                              ""};
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
        assert_int_equal(
            cst_mail_compose(&c, "a@b.example", subjects[i], "x", "m", NOW, m, sizeof(m)),
            CST_ERR_INVALID);
        assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "subject"));
        assert_string_equal(m, "");
    }
    const char *tos[] = {
        "a@b.example\r\nBcc: evil@x.example", "a@b.example\n", "a b@c.example", "<a@b.example>",
        "a@b.example,evil@x.example",         "nobody",        "a@@b.example"};
    for (size_t i = 0; i < sizeof(tos) / sizeof(tos[0]); i++) {
        assert_int_equal(cst_mail_compose(&c, tos[i], "s", "x", "m", NOW, m, sizeof(m)),
                         CST_ERR_INVALID);
        assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "recipient"));
    }
    /* the sender address, the message id, the body's lines */
    cst_config bad = c;
    snprintf(bad.notices_smtp_from, sizeof(bad.notices_smtp_from), "n@c.example\r\nBcc: e@x");
    assert_int_equal(cst_mail_compose(&bad, "a@b.example", "s", "x", "m", NOW, m, sizeof(m)),
                     CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "notices.smtp_from"));
    assert_int_equal(cst_mail_compose(&c, "a@b.example", "s", "x", "m>\r\nX: y", NOW, m, sizeof(m)),
                     CST_ERR_INVALID);
    assert_int_equal(cst_mail_compose(&c, "a@b.example", "s", "a\rb", "m", NOW, m, sizeof(m)),
                     CST_ERR_INVALID);
    assert_int_equal(cst_mail_compose(&c, "a@b.example", "s", "\xff", "m", NOW, m, sizeof(m)),
                     CST_ERR_INVALID);
    static char line[1100];
    memset(line, 'a', 998);
    line[998] = '\0';
    assert_int_equal(cst_mail_compose(&c, "a@b.example", "s", line, "m", NOW, m, sizeof(m)),
                     CST_OK); /* 998 octets: the limit */
    line[998] = 'a';
    line[999] = '\0';
    assert_int_equal(cst_mail_compose(&c, "a@b.example", "s", line, "m", NOW, m, sizeof(m)),
                     CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "998"));
}

/* ---- sending ---- */

static void test_inc3_delivered_intact(void **state)
{
    (void)state;
    static relay r;
    relay_start(&r, false);
    cst_config c;
    relay_config(&c, r.port);
    assert_true(cst_mail_configured(&c));
    static char m[BIG], got[BIG];
    assert_int_equal(cst_mail_compose(&c, "alice@tenant.example", "Breach notice", BODY, "msg_2",
                                      NOW, m, sizeof(m)),
                     CST_OK);
    long status = -1;
    char err[256] = "x";
    assert_int_equal(cst_mail_send(&c, "alice@tenant.example", m, &status, err, sizeof(err)),
                     CST_OK);
    relay_stop(&r);
    assert_string_equal(err, "");
    assert_int_equal(status, 250);
    assert_string_equal(r.mail_from, "<notices@custodia.example>");
    assert_string_equal(r.rcpt, "<alice@tenant.example>");
    assert_string_equal(r.auth, ""); /* no credentials file: no AUTH */
    /* on the wire each line starting with "." got one more, once */
    assert_non_null(strstr(r.data, "\r\n..hidden line"));
    assert_non_null(strstr(r.data, "\r\n...two dots"));
    assert_null(strstr(r.data, "\r\n....two dots"));
    /* and the receiver reads exactly what was composed */
    unstuff(r.data, got);
    assert_string_equal(got, m);
}

static void test_inc3_refused_recipient(void **state)
{
    (void)state;
    static relay r;
    relay_start(&r, false);
    cst_config c;
    relay_config(&c, r.port);
    static char m[BIG];
    assert_int_equal(
        cst_mail_compose(&c, "bad@tenant.example", "s", "text", "msg_3", NOW, m, sizeof(m)),
        CST_OK);
    long status = 0;
    char err[256] = "";
    assert_int_equal(cst_mail_send(&c, "bad@tenant.example", m, &status, err, sizeof(err)), CST_OK);
    relay_stop(&r);
    assert_int_equal(status, 550);
    assert_string_not_equal(err, "");
    assert_null(strchr(err, '\n'));
    assert_int_equal(r.data_len, 0); /* nothing was sent */
}

/* smtp:// with STARTTLS required (the default) to a relay that does not offer it: nothing is
 * sent, not even the envelope. */
static void test_inc3_starttls_required(void **state)
{
    (void)state;
    static relay r;
    relay_start(&r, false);
    cst_config c;
    relay_config(&c, r.port);
    c.notices_smtp_starttls = true;
    static char m[BIG];
    assert_int_equal(cst_mail_compose(&c, "a@b.example", "s", "text", "msg_6", NOW, m, sizeof(m)),
                     CST_OK);
    long status = 0;
    char err[256] = "";
    assert_int_equal(cst_mail_send(&c, "a@b.example", m, &status, err, sizeof(err)), CST_OK);
    relay_stop(&r);
    assert_string_not_equal(err, "");
    assert_string_equal(r.mail_from, "");
    assert_int_equal(r.data_len, 0);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_inc3_silent_relay_times_out(void **state)
{
    (void)state;
    static relay r;
    relay_start(&r, true);
    cst_config c;
    relay_config(&c, r.port); /* notices.smtp_timeout_seconds = 1 */
    static char m[BIG];
    assert_int_equal(cst_mail_compose(&c, "a@b.example", "s", "text", "msg_4", NOW, m, sizeof(m)),
                     CST_OK);
    long status = -1;
    char err[256] = "";
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(cst_mail_send(&c, "a@b.example", m, &status, err, sizeof(err)), CST_OK);
    double took = seconds_since(&t0);
    relay_stop(&r);
    assert_true(took < 3.0);
    assert_int_equal(status, 0);
    assert_string_not_equal(err, "");
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_inc3_credentials_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/cst_mailXXXXXX", path[64], link[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/creds", dir);
    snprintf(link, sizeof(link), "%s/link", dir);
    static relay r;
    relay_start(&r, false);
    cst_config c;
    relay_config(&c, r.port);
    snprintf(c.notices_smtp_credentials_file, sizeof(c.notices_smtp_credentials_file), "%s", path);
    static char m[BIG];
    assert_int_equal(cst_mail_compose(&c, "a@b.example", "s", "text", "msg_5", NOW, m, sizeof(m)),
                     CST_OK);
    long status = -1;
    char err[256] = "";
    /* readable by others: refused, nothing sent */
    write_file(path, "relayuser:s3cret pass\n", 0644);
    assert_int_equal(cst_mail_send(&c, "a@b.example", m, &status, err, sizeof(err)),
                     CST_ERR_INVALID);
    assert_non_null(strstr(err, "mode 644"));
    assert_int_equal(status, 0);
    assert_string_equal(r.mail_from, "");
    /* a symbolic link, even to a 0600 file: refused */
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(symlink(path, link), 0);
    snprintf(c.notices_smtp_credentials_file, sizeof(c.notices_smtp_credentials_file), "%s", link);
    assert_int_equal(cst_mail_send(&c, "a@b.example", m, &status, err, sizeof(err)),
                     CST_ERR_INVALID);
    assert_non_null(strstr(err, "symbolic"));
    /* no colon: refused */
    snprintf(c.notices_smtp_credentials_file, sizeof(c.notices_smtp_credentials_file), "%s", path);
    write_file(path, "relayuser\n", 0600);
    assert_int_equal(cst_mail_send(&c, "a@b.example", m, &status, err, sizeof(err)),
                     CST_ERR_INVALID);
    /* 0600, user:password: AUTH PLAIN with them */
    write_file(path, "relayuser:s3cret pass\n", 0600);
    assert_int_equal(cst_mail_send(&c, "a@b.example", m, &status, err, sizeof(err)), CST_OK);
    relay_stop(&r);
    assert_int_equal(status, 250);
    assert_string_equal(err, "");
    uint8_t plain[128];
    size_t plen = 0;
    assert_int_equal(sodium_base642bin(plain, sizeof(plain), r.auth, strlen(r.auth), NULL, &plen,
                                       NULL, sodium_base64_VARIANT_ORIGINAL),
                     0);
    const char want[] = "\0relayuser\0s3cret pass";
    assert_int_equal(plen, sizeof(want) - 1);
    assert_memory_equal(plain, want, plen);
    unlink(link);
    unlink(path);
    rmdir(dir);
}

/* ---- the relay URL at start-up ---- */

static void test_inc3_url_rule(void **state)
{
    (void)state;
    const char *good_tls[] = {"smtps://mail.example.com", "smtps://mail.example.com:465",
                              "smtp://mail.example.com:587", "smtp://10.0.0.1", "smtps://[::1]"};
    const char *good_loopback[] = {"smtp://127.0.0.1:2525", "smtp://[::1]:25", "smtp://127.9.9.9"};
    const char *bad[] = {"smtp://10.0.0.1",          "smtp://mail.example.com",
                         "smtp://localhost:25",      "smtp://127.0.0.1.evil:25",
                         "http://127.0.0.1/",        "smtps://",
                         "smtps://u:p@mail.example", "smtps://mail.example/path",
                         "smtps://mail example",     "smtps://mail.example?x=1"};
    for (size_t i = 0; i < sizeof(good_tls) / sizeof(good_tls[0]); i++)
        assert_int_equal(cst_smtp_url_check(good_tls[i], true), CST_OK);
    for (size_t i = 0; i < sizeof(good_loopback) / sizeof(good_loopback[0]); i++)
        assert_int_equal(cst_smtp_url_check(good_loopback[i], false), CST_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cst_smtp_url_check(bad[i], false), CST_ERR_INVALID);
    /* at start-up: plain smtp:// to a non-loopback host is refused, naming the key */
    cst_config c;
    cst_config_defaults(&c);
    assert_false(cst_mail_configured(&c));
    assert_true(c.notices_smtp_starttls);
    assert_int_equal(c.notices_smtp_timeout_seconds, 10);
    assert_int_equal(cst_config_set(&c, "notices", "smtp_url", "smtp://mail.example.com"), CST_OK);
    assert_int_equal(cst_config_set(&c, "notices", "smtp_from", "n@custodia.example"), CST_OK);
    assert_int_equal(cst_config_set(&c, "notices", "smtp_starttls", "false"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "notices.smtp_url"));
    /* with STARTTLS (the default) the same relay is fine */
    assert_int_equal(cst_config_set(&c, "notices", "smtp_starttls", "true"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_OK);
    /* a relay needs a sender, and the sender must be an address */
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, "notices", "smtp_url", "smtps://mail.example.com"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "notices.smtp_from"));
    assert_int_equal(cst_config_set(&c, "notices", "smtp_from", "not an address"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "notices.smtp_from"));
    /* no relay: sending fails without trying */
    cst_config_defaults(&c);
    long status = -1;
    char err[128];
    assert_int_equal(cst_mail_send(&c, "a@b.example", "x", &status, err, sizeof(err)),
                     CST_ERR_INVALID);
    assert_int_equal(status, 0);
    assert_non_null(strstr(err, "notices.smtp_url"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inc3_compose_headers),
        cmocka_unit_test(test_inc3_compose_refuses_header_injection),
        cmocka_unit_test(test_inc3_delivered_intact),
        cmocka_unit_test(test_inc3_refused_recipient),
        cmocka_unit_test(test_inc3_starttls_required),
        cmocka_unit_test(test_inc3_silent_relay_times_out),
        cmocka_unit_test(test_inc3_credentials_file),
        cmocka_unit_test(test_inc3_url_rule),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
