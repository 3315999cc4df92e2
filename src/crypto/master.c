/* master.c: the master key (KEK) sources and the wrapped-blob formats (ENC-4; see master.h). */
#include "crypto/master.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto/kek_pkcs11.h"
#include "crypto/keys.h"
#include "util/util.h"

enum { BLOB_V1 = 0x01, BLOB_TOKEN = 0x02, BLOB_BYTES = 0x03 };
#define BLOB_HEAD (1 + CST_MASTER_ID_BYTES + CST_NONCE_LEN)
#define CMD_OUT_MAX 256 /* base64 of 32 bytes is 44 characters */
#define PIN_MAX 256

typedef enum { SRC_FILE, SRC_COMMAND, SRC_PKCS11 } source_kind;

static const struct {
    const char *prefix, *name;
} sources[] = {[SRC_FILE] = {"file:", "file"},
               [SRC_COMMAND] = {"command:", "command"},
               [SRC_PKCS11] = {"pkcs11:", "pkcs11"}};

struct cst_master {
    source_kind kind;
    cst_key bytes;  /* file:, command: */
    cst_p11 *token; /* pkcs11: */
    uint8_t id[CST_MASTER_ID_BYTES];
    char id_hex[2 * CST_MASTER_ID_BYTES + 1];
};

/* ---- command: ---- */

static int ms_until(int64_t deadline_us)
{
    int64_t left = (deadline_us - cst_now_us()) / 1000;
    return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

static pid_t spawn(const char *cmd, int *out_fd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
        if (dup2(fds[1], 1) < 0 || devnull < 0 || dup2(devnull, 0) < 0)
            _exit(126);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (devnull >= 0)
        close(devnull);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    setpgid(pid, pid);
    *out_fd = fds[0];
    return pid;
}

/* Reads the command's stdout into buf (at most CMD_OUT_MAX bytes) until EOF or the deadline. */
static cst_err read_output(int fd, int64_t deadline_us, char *buf, size_t *len)
{
    *len = 0;
    for (;;) {
        int left = ms_until(deadline_us);
        if (left == 0)
            return CST_ERR_UNAVAILABLE; /* the caller says so */
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, left);
        if (r < 0 && errno != EINTR)
            return cst_fail(CST_ERR_INTERNAL, "the master key command: poll: %s", strerror(errno));
        if (r <= 0)
            continue;
        ssize_t n = read(fd, buf + *len, CMD_OUT_MAX - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? CST_OK
                          : cst_fail(CST_ERR_INTERNAL, "the master key command: read: %s",
                                     strerror(errno));
        *len += (size_t)n;
        if (*len == CMD_OUT_MAX)
            return cst_fail(CST_ERR_INVALID,
                            "the master key command printed more than %d bytes; it must print "
                            "the base64 of the 32-byte key",
                            CMD_OUT_MAX);
    }
}

/* Waits for the child until the deadline; kills its process group then. */
static cst_err reap(pid_t pid, int64_t deadline_us, int *status)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return CST_OK;
        if (r < 0 && errno != EINTR)
            return cst_fail(CST_ERR_INTERNAL, "the master key command: waitpid: %s",
                            strerror(errno));
        if (ms_until(deadline_us) == 0) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
            return CST_ERR_UNAVAILABLE; /* the caller says so */
        }
        usleep(2000);
    }
}

static cst_err decode_key(const char *buf, size_t len, cst_key *out)
{
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    uint8_t *raw = sodium_malloc(CMD_OUT_MAX);
    ENSURE(raw != NULL, CST_ERR_INTERNAL, "out of memory");
    size_t n = 0;
    cst_err e = CST_OK;
    if (sodium_base642bin(raw, CMD_OUT_MAX, buf, len, NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n != CST_KEY_LEN)
        e = cst_fail(CST_ERR_INVALID,
                     "the master key command's output is not a key: it must print the base64 of "
                     "exactly %d bytes",
                     CST_KEY_LEN);
    if (e == CST_OK)
        e = cst_key_alloc(out);
    if (e == CST_OK)
        memcpy(out->k, raw, CST_KEY_LEN);
    sodium_free(raw); /* wipes */
    return e;
}

cst_err cst_master_run_command(const char *cmd, int timeout_s, cst_key *out)
{
    ENSURE(cmd[0], CST_ERR_INVALID, "keys.master_key = command: names no command");
    int64_t deadline = cst_now_us() + (int64_t)timeout_s * 1000000;
    char *buf = sodium_malloc(CMD_OUT_MAX); /* locked, wiped by sodium_free */
    ENSURE(buf != NULL, CST_ERR_INTERNAL, "out of memory");
    int fd = -1, status = 0;
    size_t len = 0;
    cst_err e = CST_OK;
    pid_t pid = spawn(cmd, &fd);
    if (pid < 0)
        e = cst_fail(CST_ERR_INTERNAL, "cannot start the master key command: %s", strerror(errno));
    if (e == CST_OK) {
        cst_err r = read_output(fd, deadline, buf, &len);
        close(fd);
        if (r != CST_OK)
            deadline = cst_now_us(); /* kill it now */
        cst_err w = reap(pid, deadline, &status);
        e = r != CST_OK ? r : w;
        if (e == CST_ERR_UNAVAILABLE)
            e = cst_fail(CST_ERR_UNAVAILABLE,
                         "the master key command did not finish within %d s (killed; "
                         "keys.command_timeout_seconds)",
                         timeout_s);
    }
    if (e == CST_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        e = cst_fail(CST_ERR_INVALID, "the master key command failed (%s %d); no key read",
                     WIFEXITED(status) ? "exit status" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    if (e == CST_OK)
        e = decode_key(buf, len, out);
    sodium_free(buf);
    return e;
}

/* ---- opening ---- */

static cst_err read_pin(const char *pin_file, char *pin, size_t n)
{
    size_t len = 0;
    if (pin_file && pin_file[0]) {
        TRY(cst_secret_file_read("keys.pin_file", pin_file, pin, n, &len));
        while (len > 0 && (pin[len - 1] == '\n' || pin[len - 1] == '\r'))
            pin[--len] = '\0';
        return CST_OK;
    }
    const char *env = getenv("CUSTODIA_PKCS11_PIN");
    ENSURE(env && env[0], CST_ERR_INVALID,
           "keys.master_key = pkcs11: needs a PIN: keys.pin_file (mode 0600) or the environment "
           "variable CUSTODIA_PKCS11_PIN (never the command line)");
    return cst_copy(pin, n, env);
}

static cst_err open_pkcs11(cst_master *m, const cst_master_opts *o)
{
    ENSURE(!strstr(o->source, "pin-value="), CST_ERR_INVALID,
           "PKCS#11 URI: pin-value is refused; put the PIN in keys.pin_file or "
           "CUSTODIA_PKCS11_PIN");
    char *pin = sodium_malloc(PIN_MAX);
    ENSURE(pin != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = read_pin(o->pin_file, pin, PIN_MAX);
    if (e == CST_OK)
        e = cst_p11_open(o->source, pin, o->create, &m->token, m->id);
    sodium_free(pin);
    return e;
}

static cst_err open_file(cst_master *m, const cst_master_opts *o, const char *path)
{
    if (o->create && !cst_path_exists(path))
        TRY(cst_kek_create(path, o->data_dir));
    return cst_kek_load(path, o->data_dir, &m->bytes);
}

cst_err cst_master_open(const cst_master_opts *o, cst_master **out)
{
    *out = NULL;
    size_t k = 0;
    while (k < sizeof(sources) / sizeof(*sources) &&
           strncmp(o->source, sources[k].prefix, strlen(sources[k].prefix)) != 0)
        k++;
    ENSURE(k < sizeof(sources) / sizeof(*sources), CST_ERR_INVALID,
           "keys.master_key must be file:PATH, pkcs11:URI or command:CMD");
    cst_master *m = calloc(1, sizeof(*m));
    ENSURE(m != NULL, CST_ERR_INTERNAL, "out of memory");
    m->kind = (source_kind)k;
    const char *rest = o->source + strlen(sources[k].prefix);
    cst_err e;
    switch (m->kind) {
    case SRC_FILE:
        e = open_file(m, o, rest);
        break;
    case SRC_COMMAND:
        e = cst_master_run_command(rest, o->command_timeout_s, &m->bytes);
        break;
    case SRC_PKCS11:
        e = open_pkcs11(m, o);
        break;
    default:
        e = cst_fail(CST_ERR_INTERNAL, "unknown master key source");
    }
    if (e == CST_OK && m->kind != SRC_PKCS11) {
        uint8_t mac[CST_HASH_LEN]; /* cst_kek_id's */
        cst_hmac_sha256(m->bytes.k, CST_KEY_LEN, "custodia kek id", 15, mac);
        memcpy(m->id, mac, CST_MASTER_ID_BYTES);
    }
    if (e == CST_OK)
        cst_hex(m->id, CST_MASTER_ID_BYTES, m->id_hex);
    if (e != CST_OK)
        cst_master_close(m);
    else
        *out = m;
    return e;
}

void cst_master_close(cst_master *m)
{
    if (!m)
        return;
    cst_key_free(&m->bytes);
    cst_p11_close(m->token);
    free(m);
}

const char *cst_master_kind(const cst_master *m)
{
    return sources[m->kind].name;
}

const char *cst_master_id(const cst_master *m)
{
    return m->id_hex;
}

/* ---- wrapping ---- */

cst_err cst_master_wrap(cst_master *m, const cst_buf *aad, const uint8_t *pt, size_t ptlen,
                        cst_buf *out)
{
    ENSURE(ptlen <= 4096, CST_ERR_TOO_LARGE, "a wrapped secret is at most 4096 bytes");
    uint8_t head[BLOB_HEAD];
    head[0] = m->token ? BLOB_TOKEN : BLOB_BYTES;
    memcpy(head + 1, m->id, CST_MASTER_ID_BYTES);
    uint8_t *iv = head + 1 + CST_MASTER_ID_BYTES;
    TRY(cst_random(iv, CST_NONCE_LEN));
    size_t start = out->len;
    TRY(cst_buf_append(out, head, sizeof(head)));
    uint8_t zero[4096 + CST_TAG_LEN] = {0};
    TRY(cst_buf_append(out, zero, ptlen + CST_TAG_LEN));
    uint8_t *ct = out->data + start + BLOB_HEAD;
    cst_err e = m->token ? cst_p11_seal(m->token, iv, aad->data, aad->len, pt, ptlen, ct)
                         : cst_aead_seal(m->bytes.k, iv, aad->data, aad->len, pt, ptlen, ct);
    if (e != CST_OK)
        out->len = start;
    return e;
}

bool cst_master_blob_id(const uint8_t *blob, size_t bloblen, char out[2 * CST_MASTER_ID_BYTES + 1])
{
    if (bloblen < BLOB_HEAD || (blob[0] != BLOB_TOKEN && blob[0] != BLOB_BYTES))
        return false;
    cst_hex(blob + 1, CST_MASTER_ID_BYTES, out);
    return true;
}

static cst_err check_blob(cst_master *m, const uint8_t *blob, size_t bloblen)
{
    ENSURE(bloblen >= BLOB_HEAD + CST_TAG_LEN, CST_ERR_INTEGRITY, "wrapped key too short");
    bool token_blob = blob[0] == BLOB_TOKEN;
    ENSURE(token_blob == (m->token != NULL), CST_ERR_INTEGRITY,
           "a key wrapped by %s cannot be opened with a master key from %s",
           token_blob ? "a PKCS#11 token" : "a key file or command", cst_master_kind(m));
    char id[2 * CST_MASTER_ID_BYTES + 1];
    cst_hex(blob + 1, CST_MASTER_ID_BYTES, id);
    ENSURE(memcmp(blob + 1, m->id, CST_MASTER_ID_BYTES) == 0, CST_ERR_INTEGRITY,
           "this key was wrapped by the KEK %s, not by the master key in use (%s)", id, m->id_hex);
    return CST_OK;
}

cst_err cst_master_unwrap(cst_master *m, const cst_buf *aad, const uint8_t *blob, size_t bloblen,
                          cst_buf *out)
{
    ENSURE(bloblen > 0, CST_ERR_INTEGRITY, "empty wrapped key");
    if (blob[0] == BLOB_V1) {
        ENSURE(!m->token, CST_ERR_INTEGRITY,
               "a key wrapped by a key file (format v1) cannot be opened with a master key from "
               "pkcs11");
        return cst_open(&m->bytes, aad, blob, bloblen, out);
    }
    ENSURE(blob[0] == BLOB_TOKEN || blob[0] == BLOB_BYTES, CST_ERR_INTEGRITY,
           "unknown wrapped key format %u", blob[0]);
    TRY(check_blob(m, blob, bloblen));
    const uint8_t *iv = blob + 1 + CST_MASTER_ID_BYTES, *ct = blob + BLOB_HEAD;
    size_t ctlen = bloblen - BLOB_HEAD, start = out->len;
    uint8_t zero[4096] = {0};
    ENSURE(ctlen - CST_TAG_LEN <= sizeof(zero), CST_ERR_INTEGRITY, "wrapped key too long");
    TRY(cst_buf_append(out, zero, ctlen - CST_TAG_LEN));
    uint8_t *pt = out->data ? out->data + start : zero;
    cst_err e = m->token ? cst_p11_open_ct(m->token, iv, aad->data, aad->len, ct, ctlen, pt)
                         : cst_aead_open(m->bytes.k, iv, aad->data, aad->len, ct, ctlen, pt);
    if (e != CST_OK) {
        sodium_memzero(pt, ctlen - CST_TAG_LEN);
        out->len = start;
    }
    return e;
}

/* ---- the root key ---- */

static cst_err root_aad(cst_buf *aad)
{
    return cst_buf_append(aad, "cst:root:v1", 11);
}

cst_err cst_master_root_wrap(cst_master *m, const cst_key *root, cst_buf *out)
{
    cst_buf aad;
    cst_buf_init(&aad, 32);
    cst_err e = root_aad(&aad);
    if (e == CST_OK)
        e = cst_master_wrap(m, &aad, root->k, CST_KEY_LEN, out);
    cst_buf_free(&aad);
    return e;
}

static cst_err root_make(cst_master *m, const char *path)
{
    cst_key k = {0};
    cst_buf blob;
    cst_buf_init(&blob, 128);
    cst_err e = cst_key_random(&k);
    if (e == CST_OK)
        e = cst_master_root_wrap(m, &k, &blob);
    if (e == CST_OK)
        e = cst_file_create(path, blob.data, blob.len, 0600);
    cst_key_free(&k);
    cst_buf_free(&blob);
    return e;
}

cst_err cst_master_root_key(cst_master *m, const char *data_dir, bool create, cst_key *out)
{
    char path[4096] = "";
    if (data_dir)
        TRY(cst_fmt(path, sizeof(path), "%s/root.key", data_dir));
    /* a new data dir, whatever the KEK: a random root key, so that a KEK rotation leaves
     * nothing the old KEK alone opens */
    if (create && path[0])
        TRY(root_make(m, path));
    /* file:, command: data dirs made before root.key existed: the KEK itself, unless a KEK
     * rotation moved the root key into root.key (wrapped by the new KEK, keeping its value) */
    if (!m->token && !(path[0] && cst_path_exists(path))) {
        TRY(cst_key_alloc(out));
        memcpy(out->k, m->bytes.k, CST_KEY_LEN);
        return CST_OK;
    }
    ENSURE(data_dir != NULL, CST_ERR_INVALID,
           "with a PKCS#11 master key this needs the data dir (its root.key)");
    ENSURE(cst_path_exists(path), CST_ERR_INVALID,
           "%s is missing: a data dir served with a PKCS#11 master key keeps its root key "
           "there (was it initialised with another keys.master_key?)",
           path);
    cst_buf blob;
    cst_buf_init(&blob, 128);
    cst_err e = cst_file_read(path, 1024, &blob);
    if (e == CST_OK)
        e = cst_master_root_unwrap(m, blob.data, blob.len, path, out);
    cst_buf_free(&blob);
    return e;
}

cst_err cst_master_root_unwrap(cst_master *m, const uint8_t *blob, size_t len, const char *what,
                               cst_key *out)
{
    cst_buf aad, pt;
    cst_buf_init(&aad, 32);
    cst_buf_init(&pt, CST_KEY_LEN);
    cst_err e = root_aad(&aad);
    if (e == CST_OK)
        e = cst_master_unwrap(m, &aad, blob, len, &pt);
    if (e == CST_OK)
        e = cst_key_from(pt.data, pt.len, what, out);
    cst_buf_wipe_free(&pt);
    cst_buf_free(&aad);
    return e;
}
