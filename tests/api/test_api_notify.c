/* test_api_notify.c: the systemd unit is Type=notify (packaging/custodia.service.in): serve sends
 * READY=1 on $NOTIFY_SOCKET once it listens, and STOPPING=1 when a signal stops it. The test is
 * systemd's side: a datagram socket it binds, named in the server's environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

static ts_server srv;

/* Binds a datagram socket at path (what systemd passes as NOTIFY_SOCKET). */
static int notify_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* The next message within 20 s, or "" when none came. */
static void next_message(int fd, char *out, size_t n)
{
    out[0] = '\0';
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 20000) != 1)
        return;
    ssize_t r = recv(fd, out, n - 1, 0);
    out[r > 0 ? r : 0] = '\0';
}

static void test_ready_when_listening_stopping_on_sigterm(void **state)
{
    char path[] = "/tmp/cst-notify-XXXXXX", sock[64], msg[256];
    assert_non_null(mkdtemp(path));
    snprintf(sock, sizeof(sock), "%s/notify", path);
    int fd = notify_socket(sock);
    assert_int_equal(setenv("NOTIFY_SOCKET", sock, 1), 0);
    ts_init(&srv);
    /* init is no service: it says nothing */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_true(ts_start(&srv));
    unsetenv("NOTIFY_SOCKET");

    next_message(fd, msg, sizeof(msg));
    assert_string_equal(msg, "READY=1");
    /* ready means listening: a request is answered */
    ts_resp r;
    ts_request(&srv, "GET", "/v1/sys/health", NULL, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    assert_int_equal(poll(&p, 1, 0), 0); /* nothing more while serving */

    assert_int_equal(ts_stop(&srv), 0);
    next_message(fd, msg, sizeof(msg));
    assert_string_equal(msg, "STOPPING=1");
    close(fd);
    unlink(sock);
    rmdir(path);
    ts_cleanup(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_when_listening_stopping_on_sigterm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
