/* ship.c: audit shipping to syslog over TLS and to a command's standard input (node/ship.h).
 * A sink is a table of operations (open, alive, frame, write, close) and a thread that walks the
 * segments on disk behind the writer, one batch at a time. */
#include "node/ship.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/json.h"
#include "util/util.h"

extern char **environ;

const char *const cst_ship_sink_names[CST_SHIP__SINKS] = {"syslog", "command"};

#define BATCH_BYTES ((size_t)1 << 20) /* read from a segment at a time (and the longest line) */
#define BATCH_ENTRIES 512
#define IO_TIMEOUT_MS 10000 /* connect, handshake, and a send that makes no progress */
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000
#define SLICE_MS 200 /* waits are cut in slices so that a stop is prompt */

/* Where a sink stands in one stream. */
typedef struct cursor {
    uint64_t acked;     /* the last entry acknowledged by the receiver */
    char seg[PATH_MAX]; /* the segment holding the next one ("": find it) */
    off_t off;          /* where to read on in seg */
} cursor;

typedef struct sink sink;
typedef struct sink_ops {
    cst_err (*open)(sink *k);
    bool (*alive)(sink *k); /* before a batch: is the connection still there? */
    cst_err (*frame)(sink *k, cst_audit_stream s, const char *line, size_t len, cst_buf *out);
    cst_err (*write)(sink *k, const uint8_t *p, size_t n);
    void (*close)(sink *k);
} sink_ops;

struct sink {
    struct cst_ship *sh;
    cst_ship_sink kind;
    const sink_ops *ops;
    const char *target; /* the URL or the command (kept in the state file) */
    char state_path[PATH_MAX];
    pthread_t thread;
    bool started, up;
    cursor c[CST_AUDIT__STREAMS];
    uint64_t acked_pub[CST_AUDIT__STREAMS]; /* under sh->mu: for cst_ship_lag */
    char last_err[512];
    uint8_t *buf; /* BATCH_BYTES */
    /* syslog */
    char host[256], hostname[256];
    int port, facility, fd;
    gnutls_certificate_credentials_t cred;
    gnutls_session_t tls;
    /* command */
    pid_t pid;
    int wfd;
};

struct cst_ship {
    cst_node *n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    uint64_t wakeups; /* bumped when entries became durable */
    sink k[CST_SHIP__SINKS];
    bool on[CST_SHIP__SINKS];
};

/* ---- waiting ----------------------------------------------------------------------------- */

static bool stopping(struct cst_ship *sh)
{
    pthread_mutex_lock(&sh->mu);
    bool s = sh->stop;
    pthread_mutex_unlock(&sh->mu);
    return s;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline (monotonic ms; 0: none), in slices; false on a stop or
 * the deadline. */
static bool wait_fd(sink *k, int fd, short events, int64_t deadline)
{
    while (!stopping(k->sh)) {
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, SLICE_MS);
        if (r > 0)
            return true;
        if (r < 0 && errno != EINTR)
            return false;
        if (deadline && mono_ms() >= deadline)
            return false;
    }
    return false;
}

/* Sleeps ms or until entries become durable (seen: the wakeups counter last seen) or a stop. */
static void wait_news(struct cst_ship *sh, uint64_t *seen, int ms)
{
    struct timespec ts = cst_abstime_ms(ms);
    pthread_mutex_lock(&sh->mu);
    while (!sh->stop && sh->wakeups == *seen)
        if (pthread_cond_timedwait(&sh->cv, &sh->mu, &ts) != 0)
            break;
    *seen = sh->wakeups;
    pthread_mutex_unlock(&sh->mu);
}

/* Backoff: sleeps ms without being woken by new entries (only a stop ends it early). */
static void pause_ms(struct cst_ship *sh, int ms)
{
    for (int64_t end = mono_ms() + ms; !stopping(sh) && mono_ms() < end;) {
        struct timespec ts = {0, SLICE_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Called by the audit log, under its lock, when entries became durable: only signals. */
static void on_durable(void *ctx)
{
    struct cst_ship *sh = ctx;
    pthread_mutex_lock(&sh->mu);
    sh->wakeups++;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

/* ---- RFC 5424 / 5425 ------------------------------------------------------------------------ */

static bool printable(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= max || s[n] < 33 || s[n] > 126)
            return false;
    return n > 0;
}

cst_err cst_ship_syslog_frame(const char *line, size_t len, cst_audit_stream s,
                              const char *hostname, int facility, cst_buf *out)
{
    ENSURE(facility >= 0 && facility <= 23, CST_ERR_INVALID, "syslog facility %d is not 0 to 23",
           facility);
    ENSURE(len > 0 && memchr(line, '\n', len) == NULL, CST_ERR_INVALID,
           "an audit entry to ship is one JSON line");
    json_t *o = json_loadb(line, len, 0, NULL);
    ENSURE(json_is_object(o), CST_ERR_INVALID, "an audit entry to ship is not a JSON object");
    const char *time = json_string_value(json_object_get(o, "time"));
    const char *outcome = json_string_value(json_object_get(o, "outcome"));
    /* RFC 5424 6.2.1: severity 6 informational, 5 notice, 4 warning */
    int sev = outcome && strcmp(outcome, "success") == 0  ? 6
              : outcome && strcmp(outcome, "denied") == 0 ? 4
                                                          : 5;
    char ts[40];
    bool ts_ok = time && printable(time, 32) && snprintf(ts, sizeof(ts), "%s", time) > 0;
    char head[512];
    int hn = snprintf(head, sizeof(head), "<%d>1 %s %s custodia - %s - ", facility * 8 + sev,
                      ts_ok ? ts : "-", printable(hostname, 255) ? hostname : "-",
                      cst_audit_stream_names[s]);
    json_decref(o);
    ENSURE(hn > 0 && (size_t)hn < sizeof(head), CST_ERR_INVALID, "syslog header too long");
    char count[32];
    int cn = snprintf(count, sizeof(count), "%zu ", (size_t)hn + len);
    TRY(cst_buf_append(out, count, (size_t)cn));
    TRY(cst_buf_append(out, head, (size_t)hn));
    return cst_buf_append(out, line, len);
}

cst_err cst_ship_parse_url(const char *url, char *host, size_t n, int *port)
{
    ENSURE(strncmp(url, "tls://", 6) == 0, CST_ERR_INVALID,
           "`%s` is not tls://HOST:PORT (syslog is shipped over TLS only)", url);
    const char *h = url + 6, *end, *colon;
    if (*h == '[') {
        end = strchr(h, ']');
        ENSURE(end != NULL && end[1] == ':', CST_ERR_INVALID, "`%s`: [IPv6]:PORT expected", url);
        colon = end + 1;
        h++;
    } else {
        colon = strrchr(h, ':');
        ENSURE(colon != NULL, CST_ERR_INVALID, "`%s` has no port (tls://HOST:PORT)", url);
        end = colon;
    }
    size_t hl = (size_t)(end - h);
    ENSURE(hl > 0 && hl < n, CST_ERR_INVALID, "`%s`: the host is empty or too long", url);
    for (size_t i = 0; i < hl; i++)
        ENSURE(h[i] > 32 && h[i] < 127 && h[i] != '/' && h[i] != '@', CST_ERR_INVALID,
               "`%s`: the host holds a character a host name cannot", url);
    char *e = NULL;
    long p = strtol(colon + 1, &e, 10);
    ENSURE(colon[1] && *e == '\0' && p > 0 && p < 65536, CST_ERR_INVALID,
           "`%s`: the port must be 1 to 65535, with nothing after it", url);
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return CST_OK;
}

/* ---- the syslog sink: TLS through GnuTLS ----------------------------------------------------- */

static bool is_ip(const char *host)
{
    unsigned char b[16];
    return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

static void syslog_close(sink *k)
{
    if (k->tls) {
        gnutls_deinit(k->tls);
        k->tls = NULL;
    }
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
}

static cst_err tcp_connect(sink *k)
{
    char port[8];
    (void)snprintf(port, sizeof(port), "%d", k->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int r = getaddrinfo(k->host, port, &hints, &ai);
    ENSURE(r == 0, CST_ERR_UNAVAILABLE, "cannot resolve %s: %s", k->host, gai_strerror(r));
    int err = 0;
    for (struct addrinfo *a = ai; a && k->fd < 0; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            err = errno;
            close(fd);
            continue;
        }
        socklen_t sl = sizeof(err);
        if (!wait_fd(k, fd, POLLOUT, mono_ms() + IO_TIMEOUT_MS))
            err = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0)
            err = errno;
        if (err == 0)
            k->fd = fd;
        else
            close(fd);
    }
    freeaddrinfo(ai);
    ENSURE(k->fd >= 0, CST_ERR_UNAVAILABLE, "cannot connect to %s:%d: %s", k->host, k->port,
           strerror(err ? err : ECONNREFUSED));
    return CST_OK;
}

/* The handshake's error, naming why a certificate was refused. */
static cst_err tls_refused(sink *k, int r)
{
    if (r != GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
        return cst_fail(CST_ERR_UNAVAILABLE, "TLS handshake with %s:%d failed: %s", k->host,
                        k->port, gnutls_strerror(r));
    gnutls_datum_t why = {0};
    unsigned status = gnutls_session_get_verify_cert_status(k->tls);
    cst_err e = gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0) == 0
                    ? cst_fail(CST_ERR_UNAVAILABLE,
                               "the syslog receiver %s:%d presented a certificate that is refused "
                               "(%s); check audit.syslog_ca_file and the host name",
                               k->host, k->port, (const char *)why.data)
                    : cst_fail(CST_ERR_UNAVAILABLE,
                               "the syslog receiver %s:%d presented a certificate that is refused",
                               k->host, k->port);
    gnutls_free(why.data);
    return e;
}

static cst_err syslog_open(sink *k)
{
    TRY(tcp_connect(k));
    cst_err e = gnutls_init(&k->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK) == 0
                    ? CST_OK
                    : cst_fail(CST_ERR_INTERNAL, "cannot start a TLS session");
    if (e == CST_OK && (gnutls_set_default_priority(k->tls) != 0 ||
                        gnutls_credentials_set(k->tls, GNUTLS_CRD_CERTIFICATE, k->cred) != 0))
        e = cst_fail(CST_ERR_INTERNAL, "cannot set up the TLS session");
    /* RFC 6066: no IP literal in SNI; the name (or the address) is verified either way */
    if (e == CST_OK && !is_ip(k->host) &&
        gnutls_server_name_set(k->tls, GNUTLS_NAME_DNS, k->host, strlen(k->host)) != 0)
        e = cst_fail(CST_ERR_INTERNAL, "cannot set the TLS server name");
    if (e == CST_OK) {
        gnutls_session_set_verify_cert(k->tls, k->host, 0);
        gnutls_transport_set_int(k->tls, k->fd);
        int64_t deadline = mono_ms() + IO_TIMEOUT_MS;
        int r;
        while ((r = gnutls_handshake(k->tls)) < 0 && !gnutls_error_is_fatal(r)) {
            short ev = gnutls_record_get_direction(k->tls) ? POLLOUT : POLLIN;
            if (!wait_fd(k, k->fd, ev, deadline)) {
                r = GNUTLS_E_TIMEDOUT;
                break;
            }
        }
        if (r < 0)
            e = tls_refused(k, r);
    }
    if (e != CST_OK)
        syslog_close(k);
    return e;
}

/* A syslog receiver sends nothing: readable means closed (or a TLS 1.3 ticket, taken). */
static bool syslog_alive(sink *k)
{
    char junk[512];
    for (;;) {
        ssize_t r = gnutls_record_recv(k->tls, junk, sizeof(junk));
        if (r > 0 || r == GNUTLS_E_INTERRUPTED)
            continue;
        return r == GNUTLS_E_AGAIN || (r < 0 && !gnutls_error_is_fatal((int)r));
    }
}

static cst_err syslog_frame(sink *k, cst_audit_stream s, const char *line, size_t len, cst_buf *out)
{
    return cst_ship_syslog_frame(line, len, s, k->hostname, k->facility, out);
}

static cst_err syslog_write(sink *k, const uint8_t *p, size_t n)
{
    size_t done = 0;
    int64_t deadline = mono_ms() + IO_TIMEOUT_MS;
    while (done < n) {
        size_t chunk = n - done < 16384 ? n - done : 16384;
        ssize_t r = gnutls_record_send(k->tls, p + done, chunk);
        if (r > 0) {
            done += (size_t)r;
            deadline = mono_ms() + IO_TIMEOUT_MS;
        } else if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
            ENSURE(wait_fd(k, k->fd, POLLOUT, deadline), CST_ERR_UNAVAILABLE,
                   "the syslog receiver %s:%d took nothing for %d s (or the node is stopping)",
                   k->host, k->port, IO_TIMEOUT_MS / 1000);
        } else {
            return cst_fail(CST_ERR_UNAVAILABLE, "sending to %s:%d failed: %s", k->host, k->port,
                            gnutls_strerror((int)r));
        }
    }
    return CST_OK;
}

static const sink_ops syslog_ops = {syslog_open, syslog_alive, syslog_frame, syslog_write,
                                    syslog_close};

/* ---- the command sink -------------------------------------------------------------------- */

static bool command_reap(sink *k, bool block)
{
    int st = 0;
    if (k->pid <= 0 || waitpid(k->pid, &st, block ? 0 : WNOHANG) != k->pid)
        return false;
    cst_warn("audit shipping: `%s` exited (%s %d)", k->target, WIFEXITED(st) ? "status" : "signal",
             WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    k->pid = -1;
    return true;
}

static void command_close(sink *k)
{
    if (k->wfd >= 0)
        close(k->wfd); /* end of input: the program should finish and exit */
    k->wfd = -1;
    for (int i = 0; k->pid > 0 && i < 100 && !command_reap(k, false); i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        if (i == 60)
            kill(-k->pid, SIGTERM);
    }
    if (k->pid > 0) {
        kill(-k->pid, SIGKILL);
        (void)command_reap(k, true);
    }
}

static cst_err command_open(sink *k)
{
    int p[2];
    ENSURE(pipe2(p, O_CLOEXEC) == 0, CST_ERR_UNAVAILABLE, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGHUP);
    posix_spawn_file_actions_adddup2(&fa, p[0], 0);
    posix_spawnattr_setsigmask(&at, &none);   /* serve blocks them for sigwait */
    posix_spawnattr_setsigdefault(&at, &def); /* serve ignores SIGPIPE */
    posix_spawnattr_setpgroup(&at, 0);        /* stopped as a group */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    char *argv[] = {"/bin/sh", "-c", (char *)k->target, NULL};
    int r = posix_spawn(&k->pid, "/bin/sh", &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(p[0]);
    if (r != 0) {
        close(p[1]);
        k->pid = -1;
        return cst_fail(CST_ERR_UNAVAILABLE, "cannot start `%s`: %s", k->target, strerror(r));
    }
    k->wfd = p[1];
    (void)fcntl(k->wfd, F_SETFL, fcntl(k->wfd, F_GETFL) | O_NONBLOCK);
    cst_info("audit shipping: started `%s` (pid %d)", k->target, (int)k->pid);
    return CST_OK;
}

static bool command_alive(sink *k)
{
    return !command_reap(k, false);
}

/* {"stream":NAME,"entry":LINE}: the entry's line byte for byte, and the stream its seq counts in
 * (the syslog sink says it in MSGID). */
static cst_err command_frame(sink *k, cst_audit_stream s, const char *line, size_t len,
                             cst_buf *out)
{
    (void)k;
    char head[64];
    int hn =
        snprintf(head, sizeof(head), "{\"stream\":\"%s\",\"entry\":", cst_audit_stream_names[s]);
    TRY(cst_buf_append(out, head, (size_t)hn));
    TRY(cst_buf_append(out, line, len));
    return cst_buf_append(out, "}\n", 2);
}

/* Acknowledged once the program has read it all from the pipe (FIONREAD on the write end is
 * what is unread): a program that exits with lines still in the pipe gets them again after its
 * restart. A slow program holds the pipe full: that is waited for (this is its own thread). */
static cst_err command_write(sink *k, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(k->wfd, p + done, n - done);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        ENSURE(r < 0 && (errno == EAGAIN || errno == EINTR), CST_ERR_UNAVAILABLE,
               "writing to `%s` failed: %s", k->target, r < 0 ? strerror(errno) : "no progress");
        ENSURE(wait_fd(k, k->wfd, POLLOUT, 0) || !stopping(k->sh), CST_ERR_UNAVAILABLE,
               "the node is stopping");
        ENSURE(command_alive(k), CST_ERR_UNAVAILABLE, "`%s` exited", k->target);
    }
    for (;;) {
        int unread = 0;
        ENSURE(ioctl(k->wfd, FIONREAD, &unread) == 0, CST_ERR_UNAVAILABLE, "FIONREAD: %s",
               strerror(errno));
        if (unread == 0)
            return CST_OK;
        ENSURE(command_alive(k), CST_ERR_UNAVAILABLE,
               "`%s` exited with %d bytes unread: they go to its next start", k->target, unread);
        ENSURE(!stopping(k->sh), CST_ERR_UNAVAILABLE, "the node is stopping");
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static const sink_ops command_ops = {command_open, command_alive, command_frame, command_write,
                                     command_close};

/* ---- state: the last acknowledged entry per stream -------------------------------------- */

static void state_load(sink *k)
{
    cst_buf b;
    cst_buf_init(&b, 65536);
    json_t *o = NULL;
    if (cst_path_exists(k->state_path) && cst_file_read(k->state_path, 65536, &b) == CST_OK)
        o = json_loadb((const char *)b.data, b.len, 0, NULL);
    cst_err_clear();
    cst_buf_free(&b);
    const char *target = json_string_value(json_object_get(o, "target"));
    if (o && (!target || strcmp(target, k->target) != 0))
        cst_warn("audit shipping: the %s sink's destination changed: shipping the whole log "
                 "that is kept to the new one",
                 cst_ship_sink_names[k->kind]);
    else
        for (int i = 0; o && i < CST_AUDIT__STREAMS; i++)
            k->c[i].acked = (uint64_t)json_integer_value(
                json_object_get(json_object_get(o, "acked"), cst_audit_stream_names[i]));
    json_decref(o);
}

static cst_err state_save(sink *k)
{
    json_t *acked = json_object();
    for (int i = 0; acked && i < CST_AUDIT__STREAMS; i++)
        json_object_set_new(acked, cst_audit_stream_names[i],
                            json_integer((json_int_t)k->c[i].acked));
    json_t *o = json_pack("{s:s,s:s,s:o}", "sink", cst_ship_sink_names[k->kind], "target",
                          k->target, "acked", acked);
    char *text = o ? cst_audit_canonical(o) : NULL;
    json_decref(o);
    ENSURE(text != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_file_write_atomic(k->state_path, text, strlen(text), 0600);
    cst_json_free_text(text);
    return e;
}

/* ---- reading the segments --------------------------------------------------------------- */

static uint64_t seg_first(const char *path)
{
    const char *b = strrchr(path, '/');
    return strtoull(b ? b + 1 : path, NULL, 10);
}

/* The segment holding the entry after c->acked: the last one named (by its first entry) at or
 * before it (after: the segments before were pruned before they could be shipped). With
 * after_current, the one after c->seg. */
static cst_err locate(sink *k, cst_audit_stream s, bool after_current)
{
    cursor *c = &k->c[s];
    char **paths;
    size_t n;
    TRY(cst_audit_segments(k->sh->n->cfg.audit_dir, cst_audit_stream_names[s], &paths, &n));
    const char *pick = NULL;
    for (size_t i = 0; i < n; i++) {
        if (after_current) {
            if (strcmp(paths[i], c->seg) > 0) {
                pick = paths[i];
                break;
            }
        } else if (seg_first(paths[i]) <= c->acked + 1 || !pick) {
            pick = paths[i];
        }
    }
    if (pick && !after_current && seg_first(pick) > c->acked + 1)
        cst_error("audit shipping: %s entries %llu to %llu were removed by retention before the "
                  "%s sink could ship them",
                  cst_audit_stream_names[s], (unsigned long long)c->acked + 1,
                  (unsigned long long)seg_first(pick) - 1, cst_ship_sink_names[k->kind]);
    cst_err e = pick ? cst_copy(c->seg, sizeof(c->seg), pick) : CST_OK;
    if (pick)
        c->off = 0;
    cst_audit_segments_free(paths, n);
    return e;
}

typedef struct batch {
    cst_buf out;
    uint64_t last; /* the last entry framed */
    size_t count;
    off_t off; /* after the last line taken (entry or skipped) */
} batch;

static cst_err read_batch(sink *k, cst_audit_stream s, uint64_t durable, batch *b)
{
    cursor *c = &k->c[s];
    int fd = open(c->seg, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) { /* pruned: find the next one */
        c->seg[0] = '\0';
        return CST_OK;
    }
    ENSURE(fd >= 0, CST_ERR_UNAVAILABLE, "cannot open %s: %s", c->seg, strerror(errno));
    ssize_t got = pread(fd, k->buf, BATCH_BYTES, c->off);
    int err = errno;
    close(fd);
    ENSURE(got >= 0, CST_ERR_UNAVAILABLE, "cannot read %s: %s", c->seg, strerror(err));
    size_t pos = 0;
    cst_err e = CST_OK;
    b->off = c->off;
    while (e == CST_OK && pos < (size_t)got && k->buf[pos] != 0 && b->count < BATCH_ENTRIES) {
        uint8_t *nl = memchr(k->buf + pos, '\n', (size_t)got - pos);
        if (!nl) { /* a line being written; or one longer than a batch */
            if (pos == 0 && (size_t)got == BATCH_BYTES)
                e = cst_fail(CST_ERR_INTEGRITY, "%s holds a line over %zu bytes", c->seg,
                             BATCH_BYTES);
            break;
        }
        const char *line = (const char *)k->buf + pos;
        size_t len = (size_t)(nl - k->buf) - pos;
        uint64_t seq = 0;
        bool entry =
            len > 0 && strncmp(line, "{\"anchor\"", 9) != 0 && strncmp(line, "{\"seal\"", 7) != 0;
        if (entry) {
            json_t *o = json_loadb(line, len, 0, NULL);
            json_t *sq = json_object_get(o, "seq");
            if (json_is_integer(sq))
                seq = (uint64_t)json_integer_value(sq);
            json_decref(o);
            if (!seq) {
                e = cst_fail(CST_ERR_INTEGRITY, "%s holds a line that is not an entry", c->seg);
                break;
            }
        }
        if (entry && seq > durable)
            break; /* written, not yet durable */
        if (entry && seq > c->acked) {
            e = k->ops->frame(k, s, line, len, &b->out);
            b->last = seq;
            b->count++;
        }
        pos += len + 1;
        b->off = c->off + (off_t)pos;
    }
    return e;
}

/* Ships one batch of stream s; *progress when the cursor moved. */
static cst_err ship_stream(sink *k, cst_audit_stream s, bool *progress)
{
    cursor *c = &k->c[s];
    uint64_t durable = cst_audit_durable_seq(k->sh->n->audit, s);
    if (c->acked >= durable)
        return CST_OK;
    if (!c->seg[0])
        TRY(locate(k, s, false));
    if (!c->seg[0])
        return CST_OK;
    batch b = {.count = 0};
    cst_buf_init(&b.out, 2 * BATCH_BYTES);
    cst_err e = read_batch(k, s, durable, &b);
    if (e == CST_OK && b.count > 0 && !k->ops->alive(k))
        e = cst_fail(CST_ERR_UNAVAILABLE, "the %s sink's connection was closed",
                     cst_ship_sink_names[k->kind]);
    if (e == CST_OK && b.count > 0)
        e = k->ops->write(k, b.out.data, b.out.len);
    if (e == CST_OK && b.count > 0) {
        c->acked = b.last;
        pthread_mutex_lock(&k->sh->mu);
        k->acked_pub[s] = b.last;
        pthread_mutex_unlock(&k->sh->mu);
        if (state_save(k) != CST_OK)
            cst_error("audit shipping: cannot record what was shipped: %s (it will be shipped "
                      "again after a restart)",
                      cst_err_message(CST_ERR_UNAVAILABLE));
    }
    if (e == CST_OK && c->seg[0] && b.off != c->off) {
        c->off = b.off;
        *progress = true;
    } else if (e == CST_OK && c->seg[0] && c->acked < durable) {
        /* nothing more in this segment: the rest is in the next one, once it exists */
        char cur[PATH_MAX];
        memcpy(cur, c->seg, sizeof(cur));
        e = locate(k, s, true);
        *progress = e == CST_OK && strcmp(cur, c->seg) != 0;
    } else if (e == CST_OK && !c->seg[0]) {
        *progress = true;
    }
    cst_buf_free(&b.out);
    return e;
}

/* ---- the thread ------------------------------------------------------------------------- */

/* Logs a delivery problem once, not at every retry. */
static void report(sink *k, const char *why, const char *then)
{
    char msg[512];
    (void)snprintf(msg, sizeof(msg), "audit shipping: %s; %s", why, then);
    if (strcmp(msg, k->last_err) != 0)
        cst_error("%s", msg);
    memcpy(k->last_err, msg, sizeof(msg));
}

static void *sink_main(void *arg)
{
    sink *k = arg;
    struct cst_ship *sh = k->sh;
    int backoff = BACKOFF_MIN_MS;
    uint64_t seen = 0;
    char what[512];
    while (!stopping(sh)) {
        if (!k->up) {
            cst_err e = k->ops->open(k);
            if (e != CST_OK) {
                (void)snprintf(what, sizeof(what), "%s", cst_err_message(e));
                report(k, what, "retrying");
                pause_ms(sh, backoff);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            k->up = true;
            if (k->last_err[0])
                cst_info("audit shipping: the %s sink is delivering again",
                         cst_ship_sink_names[k->kind]);
            k->last_err[0] = '\0';
        }
        bool progress = false;
        cst_err e = CST_OK;
        for (int i = 0; e == CST_OK && i < CST_AUDIT__STREAMS; i++)
            e = ship_stream(k, (cst_audit_stream)i, &progress);
        if (e != CST_OK) {
            (void)snprintf(what, sizeof(what), "%s", cst_err_message(e));
            report(k, what, "reconnecting");
            k->ops->close(k);
            k->up = false;
            pause_ms(sh, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = BACKOFF_MIN_MS;
        if (!progress)
            wait_news(sh, &seen, 1000);
    }
    if (k->up)
        k->ops->close(k);
    k->up = false;
    return NULL;
}

/* ---- start and stop ------------------------------------------------------------------------ */

static cst_err syslog_setup(sink *k, const cst_config *cfg)
{
    TRY(cst_ship_parse_url(cfg->audit_syslog_url, k->host, sizeof(k->host), &k->port));
    k->facility = cfg->audit_syslog_facility;
    if (gethostname(k->hostname, sizeof(k->hostname)) != 0 ||
        !printable(k->hostname, sizeof(k->hostname) - 1))
        (void)snprintf(k->hostname, sizeof(k->hostname), "%s", k->sh->n->node_id);
    ENSURE(gnutls_certificate_allocate_credentials(&k->cred) == 0, CST_ERR_INTERNAL,
           "out of memory");
    int r = cfg->audit_syslog_ca_file[0]
                ? gnutls_certificate_set_x509_trust_file(k->cred, cfg->audit_syslog_ca_file,
                                                         GNUTLS_X509_FMT_PEM)
                : gnutls_certificate_set_x509_system_trust(k->cred);
    ENSURE(r > 0, CST_ERR_INVALID,
           "audit.syslog_ca_file: no CA certificate could be read from %s%s%s",
           cfg->audit_syslog_ca_file[0] ? cfg->audit_syslog_ca_file : "the system's trust store",
           r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
    if (cfg->audit_syslog_cert_file[0]) {
        r = gnutls_certificate_set_x509_key_file(k->cred, cfg->audit_syslog_cert_file,
                                                 cfg->audit_syslog_key_file, GNUTLS_X509_FMT_PEM);
        ENSURE(r == 0, CST_ERR_INVALID,
               "audit.syslog_cert_file / audit.syslog_key_file cannot be used: %s",
               gnutls_strerror(r));
    }
    return CST_OK;
}

static cst_err sink_setup(struct cst_ship *sh, cst_ship_sink kind)
{
    const cst_config *cfg = &sh->n->cfg;
    sink *k = &sh->k[kind];
    k->sh = sh;
    k->kind = kind;
    k->fd = k->wfd = -1;
    k->pid = -1;
    k->ops = kind == CST_SHIP_SYSLOG ? &syslog_ops : &command_ops;
    k->target = kind == CST_SHIP_SYSLOG ? cfg->audit_syslog_url : cfg->audit_ship_command;
    TRY(cst_fmt(k->state_path, sizeof(k->state_path), "%s/audit/ship-%s.json", cfg->data_dir,
                cst_ship_sink_names[kind]));
    k->buf = malloc(BATCH_BYTES);
    ENSURE(k->buf != NULL, CST_ERR_INTERNAL, "out of memory");
    if (kind == CST_SHIP_SYSLOG)
        TRY(syslog_setup(k, cfg));
    state_load(k);
    for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
        uint64_t durable = cst_audit_durable_seq(sh->n->audit, (cst_audit_stream)i);
        if (k->c[i].acked > durable) { /* a log that is not the one shipped (a restore) */
            cst_warn("audit shipping: the %s sink had shipped %s entries up to %llu but the log "
                     "ends at %llu: shipping it from its start",
                     cst_ship_sink_names[kind], cst_audit_stream_names[i],
                     (unsigned long long)k->c[i].acked, (unsigned long long)durable);
            k->c[i].acked = 0;
        }
        k->acked_pub[i] = k->c[i].acked;
    }
    ENSURE(pthread_create(&k->thread, NULL, sink_main, k) == 0, CST_ERR_INTERNAL,
           "cannot start the audit shipping thread");
    k->started = true;
    cst_info("audit shipping: %s sink to %s, from security %llu, access %llu",
             cst_ship_sink_names[kind],
             kind == CST_SHIP_SYSLOG ? cfg->audit_syslog_url : "a command",
             (unsigned long long)k->c[0].acked, (unsigned long long)k->c[1].acked);
    return CST_OK;
}

cst_err cst_ship_start(cst_node *n)
{
    const bool want[CST_SHIP__SINKS] = {n->cfg.audit_syslog_url[0] != '\0',
                                        n->cfg.audit_ship_command[0] != '\0'};
    if (!want[CST_SHIP_SYSLOG] && !want[CST_SHIP_COMMAND])
        return CST_OK;
    ENSURE(n->audit != NULL, CST_ERR_INTERNAL, "audit shipping needs the audit log open");
    struct cst_ship *sh = calloc(1, sizeof(*sh));
    ENSURE(sh != NULL, CST_ERR_INTERNAL, "out of memory");
    sh->n = n;
    pthread_mutex_init(&sh->mu, NULL);
    pthread_cond_init(&sh->cv, NULL);
    n->ship = sh;
    cst_audit_set_notify(n->audit, on_durable, sh);
    cst_err e = CST_OK;
    for (int i = 0; e == CST_OK && i < CST_SHIP__SINKS; i++)
        if (want[i]) {
            sh->on[i] = true;
            e = sink_setup(sh, (cst_ship_sink)i);
        }
    if (e != CST_OK)
        cst_ship_stop(n);
    return e;
}

void cst_ship_stop(cst_node *n)
{
    struct cst_ship *sh = n->ship;
    if (!sh)
        return;
    cst_audit_set_notify(n->audit, NULL, NULL);
    pthread_mutex_lock(&sh->mu);
    sh->stop = true;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
    for (int i = 0; i < CST_SHIP__SINKS; i++) {
        sink *k = &sh->k[i];
        if (k->started)
            pthread_join(k->thread, NULL);
        if (k->cred)
            gnutls_certificate_free_credentials(k->cred);
        free(k->buf);
    }
    pthread_mutex_destroy(&sh->mu);
    pthread_cond_destroy(&sh->cv);
    free(sh);
    n->ship = NULL;
}

bool cst_ship_lag(cst_node *n, cst_ship_sink k, cst_audit_stream s, uint64_t *lag)
{
    struct cst_ship *sh = n->ship;
    if (!sh || !n->audit || k < 0 || k >= CST_SHIP__SINKS || !sh->on[k])
        return false;
    uint64_t durable = cst_audit_durable_seq(n->audit, s);
    pthread_mutex_lock(&sh->mu);
    uint64_t acked = sh->k[k].acked_pub[s];
    pthread_mutex_unlock(&sh->mu);
    *lag = durable > acked ? durable - acked : 0;
    return true;
}

json_t *cst_ship_manifest(cst_node *n)
{
    json_t *streams = json_object(), *shipped = json_array();
    for (int i = 0; n->audit && streams && i < CST_AUDIT__STREAMS; i++)
        json_object_set_new(
            streams, cst_audit_stream_names[i],
            json_pack("{s:I}", "last_seq",
                      (json_int_t)cst_audit_durable_seq(n->audit, (cst_audit_stream)i)));
    const char *targets[CST_SHIP__SINKS] = {n->cfg.audit_syslog_url, n->cfg.audit_ship_command};
    for (int k = 0; shipped && k < CST_SHIP__SINKS; k++) {
        if (!targets[k][0])
            continue;
        sink probe = {.kind = (cst_ship_sink)k, .target = targets[k]};
        if (cst_fmt(probe.state_path, sizeof(probe.state_path), "%s/audit/ship-%s.json",
                    n->cfg.data_dir, cst_ship_sink_names[k]) != CST_OK)
            continue;
        state_load(&probe);
        json_t *acked = json_object();
        for (int i = 0; acked && i < CST_AUDIT__STREAMS; i++)
            json_object_set_new(acked, cst_audit_stream_names[i],
                                json_integer((json_int_t)probe.c[i].acked));
        json_array_append_new(shipped, json_pack("{s:s,s:s,s:o*}", "sink", cst_ship_sink_names[k],
                                                 "target", targets[k], "acked", acked));
    }
    return json_pack("{s:b,s:s,s:o*,s:o*}", "carried", 0, "dir", n->cfg.audit_dir, "streams",
                     streams, "shipped_to", shipped);
}
