/* test_master.c: ENC-4, the master key sources (crypto/master.c, crypto/kek_pkcs11.c): command:
 * (good, failing, garbage, too slow), pkcs11: in a throw-away SoftHSM2 token (wrap round trip in
 * the token, a key that cannot leave it, the PIN's refusals), and wrapped blobs that never open
 * under the wrong kind of key. The file: checks are in test_keys.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "../softhsm.h"
#include "crypto/kek_pkcs11.h"
#include "crypto/keys.h"
#include "crypto/master.h"
#include "util/util.h"

/* base64 of the 32 bytes 0x00..0x1f */
#define KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static char tmp[64];
static char uri[1024];

static int setup(void **state)
{
    snprintf(tmp, sizeof(tmp), "/tmp/cst-master-XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    assert_int_equal(cst_crypto_init(), CST_OK);
    return ts_softhsm_token(tmp, "kek", uri, sizeof(uri));
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    return system(cmd);
}

static cst_err run(const char *cmd, int timeout_s, cst_key *k)
{
    return cst_master_run_command(cmd, timeout_s, k);
}

static void test_enc4_command_prints_the_key(void **state)
{
    cst_key k = {0};
    assert_int_equal(run("echo " KEY_B64, 10, &k), CST_OK);
    for (int i = 0; i < CST_KEY_LEN; i++)
        assert_int_equal(k.k[i], i);
    cst_key_free(&k);
    /* through the interface: the same KEK id as the same bytes in a file */
    cst_master_opts o = {.source = "command:printf '%s' " KEY_B64, .command_timeout_s = 10};
    cst_master *m = NULL;
    assert_int_equal(cst_master_open(&o, &m), CST_OK);
    assert_string_equal(cst_master_kind(m), "command");
    cst_key bytes = {0};
    assert_int_equal(cst_key_alloc(&bytes), CST_OK);
    for (int i = 0; i < CST_KEY_LEN; i++)
        bytes.k[i] = (uint8_t)i;
    char id[CST_KEK_ID_LEN + 1];
    cst_kek_id(&bytes, id);
    assert_string_equal(cst_master_id(m), id);
    cst_key_free(&bytes);
    cst_master_close(m);
}

static void test_enc4_command_refusals(void **state)
{
    cst_key k = {0};
    assert_int_equal(run("echo " KEY_B64 "; exit 3", 10, &k), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "exit status 3"));
    assert_int_equal(run("echo not-base64-at-all", 10, &k), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "not a key"));
    assert_int_equal(run("echo AAECAwQFBgcICQoLDA0ODw==", 10, &k), CST_ERR_INVALID); /* 16 bytes */
    assert_int_equal(run("true", 10, &k), CST_ERR_INVALID);                          /* nothing */
    assert_int_equal(run("head -c 5000 /dev/zero", 10, &k), CST_ERR_INVALID);        /* too much */
    assert_int_equal(run("kill -9 $$", 10, &k), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "signal 9"));
    assert_null(k.k);
    cst_master_opts o = {.source = "command:", .command_timeout_s = 10};
    cst_master *m = NULL;
    assert_int_equal(cst_master_open(&o, &m), CST_ERR_INVALID);
    o.source = "vault:secret/kek"; /* no such source */
    assert_int_equal(cst_master_open(&o, &m), CST_ERR_INVALID);
    assert_null(m);
}

/* True when pid has exited (a zombie that no init reaps counts as gone). */
static bool gone(int pid)
{
    for (int i = 0; i < 100; i++) {
        char path[64], st[512] = {0};
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            return true;
        size_t n = fread(st, 1, sizeof(st) - 1, f);
        fclose(f);
        const char *close_paren = strrchr(st, ')');
        if (n > 0 && close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z')
            return true;
        usleep(10000);
    }
    return false;
}

/* A command that hangs is killed at the timeout, with the processes it started. */
static void test_enc4_command_killed_after_timeout(void **state)
{
    char cmd[256], pidfile[128];
    snprintf(pidfile, sizeof(pidfile), "%s/sleeper.pid", tmp);
    snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > %s; wait", pidfile);
    cst_key k = {0};
    int64_t t0 = cst_now_us();
    assert_int_equal(run(cmd, 1, &k), CST_ERR_UNAVAILABLE);
    int64_t took = cst_now_us() - t0;
    assert_true(took >= 900000 && took < 5000000);
    assert_non_null(strstr(cst_err_message(CST_ERR_UNAVAILABLE), "did not finish within 1 s"));
    assert_null(k.k);
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    int pid = 0;
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    assert_true(gone(pid)); /* the child of the killed group too */
}

/* Copies of needle (held XORed with mask, so that the search itself leaves none) in this
 * process's writable memory. Huge regions (ASan's shadow) are skipped. */
static int in_memory(const uint8_t *masked, size_t n, uint8_t mask)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    int mem = open("/proc/self/mem", O_RDONLY);
    assert_non_null(maps);
    assert_true(mem >= 0);
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    char line[512];
    int hits = 0;
    while (fgets(line, sizeof(line), maps)) {
        unsigned long a, b;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3 || perms[0] != 'r' || perms[1] != 'w' ||
            b - a > (256UL << 20))
            continue;
        for (unsigned long off = a; off < b; off += CHUNK - n) {
            size_t want = b - off < CHUNK ? b - off : CHUNK;
            ssize_t got = pread(mem, buf, want, (off_t)off);
            for (ssize_t i = 0; got > 0 && i + (ssize_t)n <= got; i++) {
                size_t k = 0;
                while (k < n && buf[i + k] == (uint8_t)(masked[k] ^ mask))
                    k++;
                hits += k == n;
            }
            if (want < CHUNK)
                break;
        }
    }
    free(buf);
    close(mem);
    fclose(maps);
    return hits;
}

/* ENC-4: the key a command printed is in memory while the master key is open (the control),
 * and nowhere, neither as its base64 text nor as bytes, once it is closed. */
static void test_enc4_command_key_wiped(void **state)
{
    char file[96], cmd[200], text[128] = {0};
    snprintf(file, sizeof(file), "%s/kek.b64", tmp);
    snprintf(cmd, sizeof(cmd), "head -c 32 /dev/urandom | base64 > %s", file);
    assert_int_equal(system(cmd), 0);
    uint8_t mask = 0x5a, b64[44], raw[CST_KEY_LEN];
    int fd = open(file, O_RDONLY);
    assert_int_equal(read(fd, text, sizeof(text) - 1), 45);
    close(fd);
    size_t len = 0;
    assert_int_equal(sodium_base642bin(raw, sizeof(raw), text, 44, NULL, &len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    for (size_t i = 0; i < sizeof(b64); i++)
        b64[i] = (uint8_t)(text[i] ^ mask);
    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] ^= mask;
    sodium_memzero(text, sizeof(text));
    snprintf(cmd, sizeof(cmd), "command:cat %s", file);
    cst_master_opts o = {.source = cmd, .command_timeout_s = 10};
    cst_master *m = NULL;
    assert_int_equal(cst_master_open(&o, &m), CST_OK);
    assert_true(in_memory(raw, sizeof(raw), mask) > 0); /* the search finds a key that is there */
    assert_int_equal(in_memory(b64, sizeof(b64), mask), 0); /* the command's output: wiped */
    cst_master_close(m);
    assert_int_equal(in_memory(raw, sizeof(raw), mask), 0);
    unlink(file);
}

static cst_master *open_token(bool create, cst_err want)
{
    cst_master_opts o = {.source = uri, .create = create};
    cst_master *m = NULL;
    setenv("CUSTODIA_PKCS11_PIN", TS_HSM_PIN, 1);
    assert_int_equal(cst_master_open(&o, &m), want);
    return m;
}

/* The KEK is made in the token, wraps and unwraps there, and survives a reopen. */
static void test_enc4_pkcs11_wrap_round_trip(void **state)
{
    cst_master *m = open_token(false, CST_ERR_INVALID); /* no key yet, and no create */
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "no secret key labelled \"kek\""));
    m = open_token(true, CST_OK);
    assert_string_equal(cst_master_kind(m), "pkcs11");
    cst_buf blob;
    cst_buf_init(&blob, 128);
    assert_int_equal(cst_wrap_new_key(m, "tn_a", "dek", 1, &blob), CST_OK);
    assert_int_equal(blob.data[0], 2); /* token-wrapped */
    char id[CST_KEK_ID_LEN + 1];
    assert_true(cst_master_blob_id(blob.data, blob.len, id));
    assert_string_equal(id, cst_master_id(m));
    cst_key dek = {0}, again = {0};
    assert_int_equal(cst_unwrap_key(m, "tn_a", "dek", 1, blob.data, blob.len, &dek), CST_OK);
    assert_int_equal(cst_unwrap_key(m, "tn_b", "dek", 1, blob.data, blob.len, &again),
                     CST_ERR_INTEGRITY); /* the AAD binds the tenant in the token too */
    blob.data[blob.len - 1] ^= 1;
    assert_int_equal(cst_unwrap_key(m, "tn_a", "dek", 1, blob.data, blob.len, &again),
                     CST_ERR_INTEGRITY);
    blob.data[blob.len - 1] ^= 1;
    cst_master_close(m);
    m = open_token(true, CST_OK); /* the same key, found by its label */
    assert_string_equal(cst_master_id(m), id);
    assert_int_equal(cst_unwrap_key(m, "tn_a", "dek", 1, blob.data, blob.len, &again), CST_OK);
    assert_memory_equal(dek.k, again.k, CST_KEY_LEN);
    cst_key_free(&dek);
    cst_key_free(&again);
    cst_buf_free(&blob);
    cst_master_close(m);
}

/* ENC-4: the key object cannot leave the token, as the token itself reports. */
static void test_enc4_pkcs11_key_not_extractable(void **state)
{
    cst_master_close(open_token(true, CST_OK));
    cst_p11 *p = NULL;
    uint8_t id[8];
    assert_int_equal(cst_p11_open(uri, TS_HSM_PIN, false, &p, id), CST_OK);
    bool sensitive = false, extractable = true;
    assert_int_equal(cst_p11_key_flags(p, &sensitive, &extractable), CST_OK);
    assert_true(sensitive);
    assert_false(extractable);
    cst_p11_close(p);
}

static void test_enc4_pkcs11_pin_refusals(void **state)
{
    cst_master_opts o = {.source = uri};
    cst_master *m = NULL;
    setenv("CUSTODIA_PKCS11_PIN", "0000", 1);
    assert_int_equal(cst_master_open(&o, &m), CST_ERR_UNAUTHENTICATED);
    assert_non_null(strstr(cst_err_message(CST_ERR_UNAUTHENTICATED), "refused the PIN"));
    unsetenv("CUSTODIA_PKCS11_PIN");
    assert_int_equal(cst_master_open(&o, &m), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "CUSTODIA_PKCS11_PIN"));
    /* the PIN in the URI (the configuration, maybe a command line) is refused */
    char with_pin[1100];
    snprintf(with_pin, sizeof(with_pin), "%s&pin-value=%s", uri, TS_HSM_PIN);
    o.source = with_pin;
    assert_int_equal(cst_master_open(&o, &m), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "pin-value is refused"));
    /* a PIN file: mode 0600 only */
    char pin_file[128];
    snprintf(pin_file, sizeof(pin_file), "%s/pin", tmp);
    FILE *f = fopen(pin_file, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", TS_HSM_PIN);
    fclose(f);
    chmod(pin_file, 0644);
    o.source = uri;
    o.pin_file = pin_file;
    o.create = true;
    assert_int_equal(cst_master_open(&o, &m), CST_ERR_INVALID);
    chmod(pin_file, 0600);
    assert_int_equal(cst_master_open(&o, &m), CST_OK);
    cst_master_close(m);
    assert_null(getenv("CUSTODIA_PKCS11_PIN"));
}

/* A blob wrapped by one kind of KEK is refused by the other, saying so. */
static void test_enc4_blob_kinds_never_confused(void **state)
{
    cst_master *token = open_token(true, CST_OK), *bytes = NULL;
    cst_master_opts o = {.source = "command:echo " KEY_B64, .command_timeout_s = 10};
    assert_int_equal(cst_master_open(&o, &bytes), CST_OK);
    cst_buf tb, bb;
    cst_buf_init(&tb, 128);
    cst_buf_init(&bb, 128);
    assert_int_equal(cst_wrap_new_key(token, "tn_a", "dek", 1, &tb), CST_OK);
    assert_int_equal(cst_wrap_new_key(bytes, "tn_a", "dek", 1, &bb), CST_OK);
    cst_key k = {0};
    assert_int_equal(cst_unwrap_key(bytes, "tn_a", "dek", 1, tb.data, tb.len, &k),
                     CST_ERR_INTEGRITY);
    assert_non_null(strstr(cst_err_message(CST_ERR_INTEGRITY), "wrapped by a PKCS#11 token"));
    assert_int_equal(cst_unwrap_key(token, "tn_a", "dek", 1, bb.data, bb.len, &k),
                     CST_ERR_INTEGRITY);
    bb.data[0] = 1; /* a v1 blob (a key file's, from before) */
    assert_int_equal(cst_unwrap_key(token, "tn_a", "dek", 1, bb.data, bb.len, &k),
                     CST_ERR_INTEGRITY);
    assert_null(k.k);
    cst_buf_free(&tb);
    cst_buf_free(&bb);
    cst_master_close(token);
    cst_master_close(bytes);
}

/* pkcs11: the root key is random, kept wrapped by the token in the data dir. */
static void test_enc4_pkcs11_root_key(void **state)
{
    cst_master *m = open_token(true, CST_OK);
    char dir[128], path[160];
    snprintf(dir, sizeof(dir), "%s/data", tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    cst_key a = {0}, b = {0};
    assert_int_equal(cst_master_root_key(m, dir, false, &a), CST_ERR_INVALID); /* none yet */
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "root.key is missing"));
    assert_int_equal(cst_master_root_key(m, dir, true, &a), CST_OK);
    assert_int_equal(cst_master_root_key(m, dir, true, &b), CST_ERR_CONFLICT); /* never remade */
    assert_int_equal(cst_master_root_key(m, dir, false, &b), CST_OK);
    assert_memory_equal(a.k, b.k, CST_KEY_LEN);
    snprintf(path, sizeof(path), "%s/root.key", dir);
    cst_buf raw;
    cst_buf_init(&raw, 128);
    assert_int_equal(cst_file_read(path, 1024, &raw), CST_OK);
    assert_int_equal(raw.data[0], 2);
    assert_null(memmem(raw.data, raw.len, a.k, 8)); /* only wrapped */
    cst_buf_free(&raw);
    cst_key_free(&a);
    cst_key_free(&b);
    cst_master_close(m);
}

int main(void)
{
    if (!ts_softhsm_module()) {
        fprintf(stderr, "test_master: SoftHSM2 is not installed (scripts/install-deps.sh)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enc4_command_prints_the_key),
        cmocka_unit_test(test_enc4_command_refusals),
        cmocka_unit_test(test_enc4_command_killed_after_timeout),
        cmocka_unit_test(test_enc4_command_key_wiped),
        cmocka_unit_test(test_enc4_pkcs11_wrap_round_trip),
        cmocka_unit_test(test_enc4_pkcs11_key_not_extractable),
        cmocka_unit_test(test_enc4_pkcs11_pin_refusals),
        cmocka_unit_test(test_enc4_blob_kinds_never_confused),
        cmocka_unit_test(test_enc4_pkcs11_root_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
