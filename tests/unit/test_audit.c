/* test_audit.c: LOG-1 to LOG-3 at the level of the log itself: a real log is written, copied,
 * tampered with in each way the controls name, and verified. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "audit_fixture.h"
#include "crypto/crypto.h"
#include "util/json.h"
#include "util/util.h"

static char root[256], dir[300];
static cst_key kek, k0;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* Each copy of the log carries its own epoch key file, as a data dir does. */
static const char *epoch_of(const char *d)
{
    static __thread char path[512];
    snprintf(path, sizeof(path), "%s/epoch.key", d);
    return path;
}

static cst_audit_opts opts_for(const char *d)
{
    return cst_fixture_audit_opts(d, epoch_of(d), &kek, 10);
}

static void append(cst_audit *a, cst_audit_stream s, int i)
{
    assert_int_equal(cst_fixture_audit_append(a, s, i), CST_OK);
}

/* A fresh log: 30 security entries (3 seal rounds), 15 access entries, then one more
 * sealed round and 2 unsealed entries. */
static int setup(void **state)
{
    strcpy(root, "/tmp/cst-audit-XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(dir, sizeof(dir), "%s/audit", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(cst_key_random(&kek), CST_OK);
    assert_int_equal(cst_key_random(&k0), CST_OK);
    assert_int_equal(cst_audit_epoch_store(epoch_of(dir), &kek, 0, &k0), CST_OK);
    cst_audit_opts o = opts_for(dir);
    cst_audit *a;
    assert_int_equal(cst_audit_open(&o, &a), CST_OK);
    for (int i = 1; i <= 30; i++) {
        append(a, CST_AUDIT_SECURITY, i);
        if (i % 2)
            append(a, CST_AUDIT_ACCESS, i);
    }
    assert_int_equal(cst_audit_seal(a), CST_OK);
    append(a, CST_AUDIT_SECURITY, 31);
    append(a, CST_AUDIT_SECURITY, 32);
    cst_audit_close(a); /* seals those two as well */
    return 0;
}

static int teardown(void **state)
{
    sh("rm -rf %s", root);
    cst_key_free(&kek);
    cst_key_free(&k0);
    return 0;
}

/* A copy of the log to tamper with; returns its dir. */
static const char *copy(void)
{
    static char c[400];
    snprintf(c, sizeof(c), "%s/copy", root);
    assert_int_equal(sh("rm -rf %s && cp -a %s %s", c, dir, c), 0);
    return c;
}

static char *segment(const char *d, const char *stream)
{
    static char path[512];
    char **paths;
    size_t n;
    assert_int_equal(cst_audit_segments(d, stream, &paths, &n), CST_OK);
    assert_true(n >= 1);
    snprintf(path, sizeof(path), "%s", paths[0]);
    cst_audit_segments_free(paths, n);
    return path;
}

/* The file's lines (malloc'd, without newlines). */
static int read_lines(const char *path, char *lines[256])
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0 && n < 256) {
        line[len - 1] = '\0';
        lines[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    return n;
}

static void write_lines(const char *path, char *lines[256], int n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        if (lines[i])
            fprintf(f, "%s\n", lines[i]);
        free(lines[i]);
    }
    fclose(f);
}

/* The line index of the entry with this seq. */
static int find_seq(char *lines[256], int n, int seq)
{
    char needle[32];
    snprintf(needle, sizeof(needle), "\"seq\":%d,", seq);
    for (int i = 0; i < n; i++)
        if (strstr(lines[i], needle) && strstr(lines[i], "\"hash\""))
            return i;
    fail_msg("no entry %d", seq);
    return -1;
}

static cst_audit_report verify(const char *d, bool with_k0)
{
    cst_audit_report r;
    assert_int_equal(
        cst_audit_verify(d, epoch_of(d), with_k0 ? &k0 : NULL, with_k0 ? &kek : NULL, false, &r),
        CST_OK);
    if (!r.ok)
        fprintf(stderr, "  verify: %s %llu %s: %s\n", r.stream, (unsigned long long)r.seq, r.reason,
                r.message);
    return r;
}

static void expect_bad(const char *d, const char *stream, uint64_t seq, const char *reason)
{
    cst_audit_report r = verify(d, true);
    assert_false(r.ok);
    assert_string_equal(r.stream, stream);
    assert_int_equal(r.seq, seq);
    assert_string_equal(r.reason, reason);
}

static void test_log2_untouched_log_verifies(void **state)
{
    cst_audit_report r = verify(dir, true);
    assert_true(r.ok);
    assert_true(r.seals_checked);
    assert_int_equal(r.entries[CST_AUDIT_SECURITY], 32);
    assert_int_equal(r.entries[CST_AUDIT_ACCESS], 15);
    assert_int_equal(r.unsealed[CST_AUDIT_SECURITY], 0);
    assert_true(r.seals[CST_AUDIT_SECURITY] >= 4);
    assert_true(verify(dir, false).ok);
}

static void test_log2_flipped_byte_names_the_entry(void **state)
{
    const char *d = copy();
    char *lines[256];
    const char *seg = segment(d, "security");
    int n = read_lines(seg, lines);
    int i = find_seq(lines, n, 5);
    char *p = strstr(lines[i], "user.read");
    p[0] = 'v'; /* "vser.read" */
    write_lines(seg, lines, n);
    expect_bad(d, "security", 5, "changed");
}

static void test_log2_deleted_entry_is_missing(void **state)
{
    const char *d = copy();
    char *lines[256];
    const char *seg = segment(d, "security");
    int n = read_lines(seg, lines);
    int i = find_seq(lines, n, 7);
    free(lines[i]);
    lines[i] = NULL;
    write_lines(seg, lines, n);
    expect_bad(d, "security", 7, "missing");
}

static void test_log2_swapped_entries_are_reordered(void **state)
{
    const char *d = copy();
    char *lines[256];
    const char *seg = segment(d, "access");
    int n = read_lines(seg, lines);
    int i = find_seq(lines, n, 3), j = find_seq(lines, n, 4);
    char *t = lines[i];
    lines[i] = lines[j];
    lines[j] = t;
    write_lines(seg, lines, n);
    expect_bad(d, "access", 3, "reordered");
}

static void test_log2_truncated_sealed_entries_are_detected(void **state)
{
    const char *d = copy();
    char *lines[256];
    const char *seg = segment(d, "security");
    int n = read_lines(seg, lines);
    /* cut everything from entry 25 on: entries and the seals after them */
    int i = find_seq(lines, n, 25);
    for (int k = i; k < n; k++) {
        free(lines[k]);
        lines[k] = NULL;
    }
    write_lines(seg, lines, n);
    expect_bad(d, "security", 25, "truncated");
}

static void test_log2_replaced_seal_is_detected(void **state)
{
    const char *d = copy();
    char *lines[256];
    const char *seg = segment(d, "security");
    int n = read_lines(seg, lines);
    for (int i = 0; i < n; i++) {
        char *m = strstr(lines[i], "{\"seal\":");
        if (m) {
            char *mac = strstr(lines[i], "\"mac\":\"") + 7;
            mac[0] = mac[0] == '0' ? '1' : '0';
            break;
        }
    }
    write_lines(seg, lines, n);
    expect_bad(d, "security", 1, "bad_seal");
    /* without K0 the chain alone cannot see a forged MAC: that is why K0 is kept offline */
    assert_true(verify(d, false).ok);
}

/* LOG-2 forward security: a thief with root today has the KEK and so the current epoch key.
 * They rewrite entry 5, recompute the whole chain after it and re-make every seal with the
 * key they hold. Verification with K0 still catches it at the first seal. */
static void test_log2_forward_security_current_key_cannot_forge_the_past(void **state)
{
    const char *d = copy();
    uint64_t epoch;
    cst_key cur = {0};
    assert_int_equal(cst_audit_epoch_load(epoch_of(d), &kek, &epoch, &cur), CST_OK);
    assert_true(epoch >= 4);
    char *lines[256];
    const char *seg = segment(d, "security");
    int n = read_lines(seg, lines);
    uint8_t head[CST_HASH_LEN] = {0};
    for (int i = 0; i < n; i++) {
        json_t *o = json_loads(lines[i], 0, NULL);
        assert_non_null(o);
        json_t *seal = json_object_get(o, "seal");
        if (json_object_get(o, "hash")) {
            if (json_integer_value(json_object_get(o, "seq")) == 5)
                json_object_set_new(o, "resource", json_string("/v1/users/forged"));
            char hex[65];
            cst_hex(head, CST_HASH_LEN, hex);
            json_object_set_new(o, "prev", json_string(hex));
            assert_int_equal(cst_audit_entry_hash(o, head, head), CST_OK);
            cst_hex(head, CST_HASH_LEN, hex);
            json_object_set_new(o, "hash", json_string(hex));
        } else if (seal) {
            char hex[65];
            uint8_t mac[CST_HASH_LEN];
            cst_hex(head, CST_HASH_LEN, hex);
            json_object_set_new(seal, "head", json_string(hex));
            cst_audit_seal_mac(
                &cur, "security", (uint64_t)json_integer_value(json_object_get(seal, "epoch")),
                (uint64_t)json_integer_value(json_object_get(seal, "seq")), head, mac);
            cst_hex(mac, CST_HASH_LEN, hex);
            json_object_set_new(seal, "mac", json_string(hex));
        }
        free(lines[i]);
        char *text = cst_audit_canonical(o);
        lines[i] = strdup(text);
        cst_json_free_text(text);
        json_decref(o);
    }
    write_lines(seg, lines, n);
    cst_key_free(&cur);
    assert_true(verify(d, false).ok); /* a consistent chain: only the seals can tell */
    expect_bad(d, "security", 1, "bad_seal");
}

/* LOG-1: a removed or replaced segment stops auditing instead of writing into the void. */
static void test_log1_removed_or_replaced_segment_fails_closed(void **state)
{
    const char *d = copy();
    cst_audit_opts o = opts_for(d);
    cst_audit *a;
    assert_int_equal(cst_audit_open(&o, &a), CST_OK);
    append(a, CST_AUDIT_SECURITY, 100);
    char seg[512];
    snprintf(seg, sizeof(seg), "%s", segment(d, "security"));
    assert_int_equal(sh("mv %s %s.moved && cp %s.moved %s", seg, seg, seg, seg), 0);
    cst_audit_event ev = {
        .stream = CST_AUDIT_SECURITY, .action = "user.read", .outcome = "success"};
    assert_int_equal(cst_audit_append(a, &ev), CST_ERR_AUDIT_UNAVAILABLE);
    assert_int_equal(sh("rm %s", seg), 0);
    assert_int_equal(cst_audit_append(a, &ev), CST_ERR_AUDIT_UNAVAILABLE);
    /* the access stream's file is intact and keeps working */
    append(a, CST_AUDIT_ACCESS, 101);
    cst_audit_close(a);
}

/* Opens the log in d (its start-up repairs), appends n access entries from `first`, closes it,
 * checks that it verifies and returns how many access entries it holds. */
static uint64_t reopen_and_append(const char *d, int first, int n)
{
    cst_audit_opts o = opts_for(d);
    cst_audit *a;
    assert_int_equal(cst_audit_open(&o, &a), CST_OK);
    for (int i = 0; i < n; i++)
        append(a, CST_AUDIT_ACCESS, first + i);
    cst_audit_close(a);
    cst_audit_report r = verify(d, true);
    assert_true(r.ok);
    return r.entries[CST_AUDIT_ACCESS];
}

/* A crash mid-write leaves a torn last line: it was never acknowledged, and start-up cuts it. */
static void test_log1_torn_last_line_is_cut_at_start(void **state)
{
    const char *d = copy();
    const char *seg = segment(d, "access");
    assert_int_equal(sh("printf '{\"action\":\"record.re' >> %s", seg), 0);
    assert_int_equal(reopen_and_append(d, 200, 1), 16);
}

/* Found by fuzz_audit: an anchor without "head" crashed cst_audit_open (the tail loader) and,
 * with a non-zero seq, cst_audit_verify (cst_unhex on NULL). Both now refuse it as malformed. */
static void test_log2_anchor_without_head_refused(void **state)
{
    const char *d = copy();
    const char *seg = segment(d, "security");
    char *lines[256];
    int n = read_lines(seg, lines);
    char *head = strstr(lines[0], "\"head\":\"");
    assert_non_null(head);
    size_t cut = strlen("\"head\":\"\",") + 64;
    memmove(head, head + cut, strlen(head + cut) + 1);
    write_lines(seg, lines, n);
    cst_audit_opts o = opts_for(d);
    cst_audit *a = NULL;
    assert_int_equal(cst_audit_open(&o, &a), CST_ERR_AUDIT_UNAVAILABLE);
    assert_non_null(strstr(cst_err_message(CST_ERR_AUDIT_UNAVAILABLE), "is malformed"));
    expect_bad(d, "security", 1, "changed"); /* seq 0: not a genesis anchor */
    /* the same anchor resuming after entry 5: its seal cannot be checked */
    n = read_lines(seg, lines);
    char *seq = strstr(lines[0], "\"seq\":0,");
    assert_non_null(seq);
    seq[6] = '5';
    write_lines(seg, lines, n);
    expect_bad(d, "security", 6, "bad_seal");
}

static void *writer(void *arg)
{
    cst_audit *a = arg;
    for (int i = 0; i < 100; i++)
        append(a, i % 3 ? CST_AUDIT_ACCESS : CST_AUDIT_SECURITY, i);
    return NULL;
}

/* Group commit: concurrent appenders all get durable, chained, sealed entries. */
static void test_log1_concurrent_appends_chain_and_seal(void **state)
{
    const char *d = copy();
    cst_audit_opts o = opts_for(d);
    cst_audit *a;
    assert_int_equal(cst_audit_open(&o, &a), CST_OK);
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, a), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    cst_audit_close(a);
    cst_audit_report r = verify(d, true);
    assert_true(r.ok);
    assert_int_equal(r.entries[CST_AUDIT_SECURITY] + r.entries[CST_AUDIT_ACCESS], 32 + 15 + 800);
}

/* LOG-3: pruning removes whole expired segments, records it, and what remains verifies; a
 * segment removed without that record is reported. */
static void test_log3_prune_keeps_the_rest_verifiable(void **state)
{
    char d[400];
    snprintf(d, sizeof(d), "%s/prune", root);
    assert_int_equal(sh("rm -rf %s && cp -a %s %s", d, dir, d), 0);
    cst_audit_opts o = opts_for(d);
    o.segment_bytes = 4096; /* a new segment at nearly every seal */
    cst_audit *a;
    assert_int_equal(cst_audit_open(&o, &a), CST_OK);
    for (int i = 0; i < 60; i++)
        append(a, i % 2 ? CST_AUDIT_ACCESS : CST_AUDIT_SECURITY, i);
    assert_int_equal(cst_audit_seal(a), CST_OK);
    char **paths;
    size_t before, after;
    assert_int_equal(cst_audit_segments(d, "access", &paths, &before), CST_OK);
    cst_audit_segments_free(paths, before);
    assert_true(before >= 3);

    /* a copy with the oldest access segment deleted by hand: not pruning */
    char bad[420];
    snprintf(bad, sizeof(bad), "%s-bad", d);
    assert_int_equal(sh("rm -rf %s && cp -a %s %s", bad, d, bad), 0);
    assert_int_equal(sh("rm %s", segment(bad, "access")), 0);
    cst_audit_report r = verify(bad, true);
    assert_false(r.ok);
    assert_string_equal(r.reason, "missing");
    assert_string_equal(r.stream, "access");

    /* 100 days on: access entries (90 days) expire, security ones (365) do not */
    int removed = 0;
    assert_int_equal(cst_audit_prune(a, cst_now_us() + 100LL * 86400 * 1000000, &removed), CST_OK);
    cst_audit_close(a);
    assert_int_equal(removed, (int)before - 1);
    assert_int_equal(cst_audit_segments(d, "access", &paths, &after), CST_OK);
    cst_audit_segments_free(paths, after);
    assert_int_equal(after, 1);
    r = verify(d, true);
    assert_true(r.ok);
    assert_true(r.first_seq[CST_AUDIT_ACCESS] > 1);
    assert_int_equal(r.first_seq[CST_AUDIT_SECURITY], 1);
}

/* ---- pre-allocated segments (SPEC §10) ---------------------------------------------------- */

/* What a kill -9 leaves: the log of copy() opened, `entries` access entries appended (each
 * acknowledged, so durable), and the directory copied while the log is still open. Returns the
 * copy's dir. */
static const char *crash_image(int entries)
{
    static char img[420];
    const char *d = copy();
    snprintf(img, sizeof(img), "%s-crash", d);
    cst_audit_opts o = opts_for(d);
    cst_audit *a;
    assert_int_equal(cst_audit_open(&o, &a), CST_OK);
    for (int i = 0; i < entries; i++)
        append(a, CST_AUDIT_ACCESS, 300 + i);
    assert_int_equal(sh("rm -rf %s && cp -a %s %s", img, d, img), 0);
    cst_audit_close(a);
    return img;
}

/* The segment's text length (up to its first NUL byte) and its size; fails unless every byte
 * after the text is zero. */
static size_t text_of(const char *path, size_t *size)
{
    cst_buf b;
    cst_buf_init(&b, (size_t)1 << 30);
    assert_int_equal(cst_file_read(path, (size_t)1 << 30, &b), CST_OK);
    const uint8_t *nul = memchr(b.data, 0, b.len);
    size_t text = nul ? (size_t)(nul - b.data) : b.len;
    for (size_t i = text; i < b.len; i++)
        assert_int_equal(b.data[i], 0);
    *size = b.len;
    cst_buf_free(&b);
    return text;
}

/* Writes bytes into the padding of img's access segment, `past` bytes after its tail. */
static void write_past_tail(const char *img, const char *bytes, size_t past)
{
    const char *seg = segment(img, "access");
    size_t size, text = text_of(seg, &size);
    assert_true(size > text + past + strlen(bytes));
    FILE *f = fopen(seg, "r+");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)(text + past), SEEK_SET), 0);
    assert_int_equal(fwrite(bytes, 1, strlen(bytes), f), strlen(bytes));
    assert_int_equal(fclose(f), 0);
}

/* LOG-1, SPEC §10: the open segment is zero-filled ahead of its tail; after a crash the tail is
 * found again (the padding kept and overwritten), and a clean stop trims the padding away. */
static void test_log1_preallocated_tail_found_after_restart(void **state)
{
    const char *img = crash_image(5);
    const char *seg = segment(img, "access");
    size_t size, text = text_of(seg, &size);
    assert_true(size >= text + 4096); /* pre-allocated past the last entry */
    assert_int_equal(reopen_and_append(img, 400, 3), 15 + 5 + 3);
    text = text_of(segment(img, "access"), &size);
    assert_int_equal(size, text); /* stopped cleanly: no padding left */
}

/* A crash mid-write in a pre-allocated segment leaves a torn line followed by zeroes: it was
 * never acknowledged; start-up cuts it and the chain goes on from the entry before it. */
static void test_log1_torn_entry_in_padding_is_cut(void **state)
{
    const char *img = crash_image(2);
    write_past_tail(img, "{\"action\":\"record.re", 0);
    assert_int_equal(reopen_and_append(img, 500, 1), 15 + 2 + 1);
}

/* LOG-2: bytes after the tail, in the padding, were written behind the writer's back: verify
 * names it an integrity failure and the node refuses to start on it (never skipped). */
static void test_log2_garbage_after_tail_is_an_integrity_failure(void **state)
{
    const char *img = crash_image(2);
    write_past_tail(img, "{\"forged\":1}\n", 1000);
    cst_audit_report r = verify(img, true);
    assert_false(r.ok);
    assert_string_equal(r.stream, "access");
    assert_string_equal(r.reason, "changed");
    assert_non_null(strstr(r.message, "non-zero bytes after its last entry"));
    cst_audit_opts o = opts_for(img);
    cst_audit *a = NULL;
    assert_int_equal(cst_audit_open(&o, &a), CST_ERR_AUDIT_UNAVAILABLE);
    assert_non_null(strstr(cst_err_message(CST_ERR_AUDIT_UNAVAILABLE), "non-zero bytes"));
}

/* Rotation trims the closed segment's padding (closed segments end at their seal), and verify
 * refuses padding in a closed segment. */
static void test_log2_rotation_trims_padding(void **state)
{
    const char *d = copy();
    cst_audit_opts o = opts_for(d);
    o.segment_bytes = 4096;
    cst_audit *a;
    assert_int_equal(cst_audit_open(&o, &a), CST_OK);
    for (int i = 0; i < 40; i++)
        append(a, CST_AUDIT_ACCESS, 600 + i);
    assert_int_equal(cst_audit_seal(a), CST_OK);
    char **paths;
    size_t n, size;
    assert_int_equal(cst_audit_segments(d, "access", &paths, &n), CST_OK);
    assert_true(n >= 3);
    for (size_t i = 0; i + 1 < n; i++) {
        size_t text = text_of(paths[i], &size);
        assert_int_equal(text, size); /* closed: no padding */
    }
    text_of(paths[n - 1], &size);
    cst_audit_report r;
    assert_int_equal(cst_audit_verify(d, epoch_of(d), &k0, &kek, true, &r), CST_OK);
    assert_true(r.ok);
    cst_audit_close(a);
    assert_int_equal(sh("head -c 100 /dev/zero >> %s", paths[0]), 0);
    cst_audit_segments_free(paths, n);
    r = verify(d, true);
    assert_false(r.ok);
    assert_string_equal(r.reason, "malformed");
    assert_non_null(strstr(r.message, "closed segment"));
}

/* ---- batched read durability ---------------------------------------------------------------- */

static cst_err append_read(cst_audit *a, cst_audit_stream s, int i)
{
    char rid[40];
    (void)snprintf(rid, sizeof(rid), "read%d", i);
    cst_audit_event ev = {.stream = s,
                          .actor_type = "user",
                          .actor_id = "us_00000000000000000001",
                          .action = s == CST_AUDIT_ACCESS ? "record.read" : "user.read",
                          .resource = "/v1/x",
                          .outcome = "success",
                          .status = 200,
                          .request_id = rid,
                          .read = true};
    return cst_audit_append(a, &ev);
}

/* LOG-1 with audit.read_durability = batched: a read's entry is in the file when it returns; a
 * failed write refuses that read and then stops the log, so that even a healthy stream refuses
 * everything (with durable reads it would not); once the log is writable again the flusher
 * resumes it, and the log verifies with every acknowledged entry. */
static void test_log1_batched_reads_stop_on_failure_and_resume(void **state)
{
    const char *d = copy();
    cst_audit_opts o = opts_for(d);
    o.batched_reads = true;
    o.flush_interval_ms = 5;
    cst_audit *a;
    assert_int_equal(cst_audit_open(&o, &a), CST_OK);
    assert_int_equal(append_read(a, CST_AUDIT_ACCESS, 1), CST_OK);
    cst_buf b;
    cst_buf_init(&b, (size_t)1 << 30);
    char seg[512];
    snprintf(seg, sizeof(seg), "%s", segment(d, "access"));
    assert_int_equal(cst_file_read(seg, (size_t)1 << 30, &b), CST_OK);
    assert_non_null(memmem(b.data, b.len, "\"request_id\":\"read1\"", 20)); /* written */
    cst_buf_free(&b);
    append(a, CST_AUDIT_ACCESS, 700); /* a write: durable, and with it the read before it */
    append(a, CST_AUDIT_SECURITY, 701);

    assert_int_equal(sh("mv %s %s.away", seg, seg), 0);
    assert_int_equal(append_read(a, CST_AUDIT_ACCESS, 2), CST_ERR_AUDIT_UNAVAILABLE);
    /* the node's traffic stops: the security stream is writable, yet refused */
    assert_int_equal(cst_fixture_audit_append(a, CST_AUDIT_SECURITY, 702),
                     CST_ERR_AUDIT_UNAVAILABLE);
    assert_int_equal(append_read(a, CST_AUDIT_SECURITY, 3), CST_ERR_AUDIT_UNAVAILABLE);

    assert_int_equal(sh("mv %s.away %s", seg, seg), 0);
    cst_err e = CST_ERR_AUDIT_UNAVAILABLE;
    for (int i = 0; i < 6000 && e != CST_OK; i++) { /* until the flusher's probe succeeds */
        e = cst_fixture_audit_append(a, CST_AUDIT_SECURITY, 703);
        if (e != CST_OK)
            usleep(5000);
    }
    assert_int_equal(e, CST_OK);
    assert_int_equal(append_read(a, CST_AUDIT_ACCESS, 4), CST_OK);
    cst_audit_close(a);
    cst_audit_report r = verify(d, true);
    assert_true(r.ok);
    assert_int_equal(r.entries[CST_AUDIT_ACCESS], 15 + 3);
    assert_int_equal(r.entries[CST_AUDIT_SECURITY], 32 + 2);
}

int main(void)
{
    if (cst_crypto_init() != CST_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log2_untouched_log_verifies),
        cmocka_unit_test(test_log2_flipped_byte_names_the_entry),
        cmocka_unit_test(test_log2_deleted_entry_is_missing),
        cmocka_unit_test(test_log2_swapped_entries_are_reordered),
        cmocka_unit_test(test_log2_truncated_sealed_entries_are_detected),
        cmocka_unit_test(test_log2_replaced_seal_is_detected),
        cmocka_unit_test(test_log2_forward_security_current_key_cannot_forge_the_past),
        cmocka_unit_test(test_log1_removed_or_replaced_segment_fails_closed),
        cmocka_unit_test(test_log1_torn_last_line_is_cut_at_start),
        cmocka_unit_test(test_log2_anchor_without_head_refused),
        cmocka_unit_test(test_log1_concurrent_appends_chain_and_seal),
        cmocka_unit_test(test_log3_prune_keeps_the_rest_verifiable),
        cmocka_unit_test(test_log1_preallocated_tail_found_after_restart),
        cmocka_unit_test(test_log1_torn_entry_in_padding_is_cut),
        cmocka_unit_test(test_log2_garbage_after_tail_is_an_integrity_failure),
        cmocka_unit_test(test_log2_rotation_trims_padding),
        cmocka_unit_test(test_log1_batched_reads_stop_on_failure_and_resume),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
