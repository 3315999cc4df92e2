/* fuzz_audit.c: libFuzzer target for the audit segment readers (LOG-1, LOG-2, LOG-4): the input
 * is the security stream's segment files (split at NUL bytes, at most four; a 0xFF byte, never in
 * UTF-8 text, is written as a zero byte, so that inputs hold the zero padding of pre-allocated
 * segments and whatever lies in it), beside a real
 * access stream and epoch key file made at start-up under a fixed KEK and K0. Each input goes
 * through verification (with and without K0), the reader (scan), the anchor reader, and the
 * tail loader of cst_audit_open (torn-line repair, interrupted seal rounds).
 * CST_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (tests/fuzz/corpus/audit) and exits. */
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "../unit/audit_fixture.h"
#include "audit/audit.h"
#include "fuzz_util.h"
#include "util/buf.h"
#include "util/util.h"

#define MAX_SEGMENTS 4

static cst_key kek, k0;
static char dir[PATH_MAX], sec_dir[PATH_MAX], epoch_file[PATH_MAX];
static cst_buf access_seg, epoch_bytes, sec_seg;
static char access_path[PATH_MAX];

/* Seals only when asked; nothing is old enough to prune. */
static cst_audit_opts opts(void)
{
    cst_audit_opts o = cst_fixture_audit_opts(dir, epoch_file, &kek, 1000);
    o.retention_days[CST_AUDIT_SECURITY] = o.retention_days[CST_AUDIT_ACCESS] = 36500;
    return o;
}

static void append(cst_audit *a, cst_audit_stream s, int i)
{
    if (cst_fixture_audit_append(a, s, i) != CST_OK)
        abort();
}

static void read_into(const char *path, cst_buf *b)
{
    if (cst_file_read(path, 1 << 20, b) != CST_OK)
        abort();
}

/* Removes every file of the security stream. */
static void clear_security(void)
{
    DIR *d = opendir(sec_dir);
    struct dirent *de;
    char p[PATH_MAX + 300];
    while (d && (de = readdir(d)) != NULL)
        if (de->d_name[0] != '.' && cst_fmt(p, sizeof(p), "%s/%s", sec_dir, de->d_name) == CST_OK)
            (void)unlink(p);
    if (d)
        closedir(d);
}

/* A real log: 5 security and 3 access entries, a seal round, 2 more security entries sealed at
 * close. Keeps the access segment and the epoch key file to restore before every input. */
static void make_log(void)
{
    const char *root = fuzz_scratch_dir("audit");
    if (cst_fmt(dir, sizeof(dir), "%s/audit", root) != CST_OK ||
        cst_fmt(sec_dir, sizeof(sec_dir), "%s/security", dir) != CST_OK ||
        cst_fmt(epoch_file, sizeof(epoch_file), "%s/epoch.key", dir) != CST_OK ||
        cst_fmt(access_path, sizeof(access_path), "%s/access/%020d.log", dir, 1) != CST_OK ||
        mkdir(dir, 0700) != 0 || cst_key_alloc(&kek) != CST_OK || cst_key_alloc(&k0) != CST_OK)
        abort();
    memset(kek.k, 0x11, CST_KEY_LEN);
    memset(k0.k, 0x22, CST_KEY_LEN);
    cst_audit_opts o = opts();
    cst_audit *a = NULL;
    if (cst_audit_epoch_store(epoch_file, &kek, 0, &k0) != CST_OK ||
        cst_audit_open(&o, &a) != CST_OK)
        abort();
    for (int i = 1; i <= 5; i++)
        append(a, CST_AUDIT_SECURITY, i);
    for (int i = 1; i <= 3; i++)
        append(a, CST_AUDIT_ACCESS, i);
    if (cst_audit_seal(a) != CST_OK)
        abort();
    append(a, CST_AUDIT_SECURITY, 6);
    append(a, CST_AUDIT_SECURITY, 7);
    cst_audit_close(a);
    char sec_path[PATH_MAX + 32];
    if (cst_fmt(sec_path, sizeof(sec_path), "%s/%020d.log", sec_dir, 1) != CST_OK)
        abort();
    read_into(access_path, &access_seg);
    read_into(epoch_file, &epoch_bytes);
    read_into(sec_path, &sec_seg);
}

static bool count_entry(void *ctx, cst_audit_stream s, json_t *entry)
{
    (void)s;
    if (!json_is_object(entry))
        abort();
    return ++*(size_t *)ctx < 100000;
}

static void check_all(const char *first_segment)
{
    cst_audit_report r;
    if (cst_audit_verify(dir, epoch_file, &k0, &kek, false, &r) == CST_OK) {
        json_t *j = cst_audit_report_json(&r);
        if (!j || (!r.ok && !r.reason[0]))
            abort();
        json_decref(j);
    }
    if (cst_audit_verify(dir, epoch_file, NULL, NULL, true, &r) == CST_OK && !r.ok && !r.reason[0])
        abort();
    size_t n = 0;
    if (cst_audit_scan(dir, CST_AUDIT_SECURITY, 0, INT64_MAX, count_entry, &n) != CST_OK)
        abort();
    json_t *an = NULL;
    if (cst_audit_segment_anchor(first_segment, &an) == CST_OK)
        json_decref(an);
    /* the tail loader, then the log is closed (which may seal and move the epoch on) */
    cst_audit_opts o = opts();
    cst_audit *a = NULL;
    fuzz_quiet_begin();
    if (cst_audit_open(&o, &a) == CST_OK)
        cst_audit_close(a);
    fuzz_quiet_end();
}

static void write_seeds(const char *out)
{
    char p[PATH_MAX + 32];
    const char *nl = memchr(sec_seg.data, '\n', sec_seg.len);
    size_t anchor_len = (size_t)((const uint8_t *)nl - sec_seg.data) + 1;
    if (cst_fmt(p, sizeof(p), "%s/sealed", out) != CST_OK)
        abort();
    fuzz_write_file(p, sec_seg.data, sec_seg.len);
    if (cst_fmt(p, sizeof(p), "%s/anchor", out) != CST_OK)
        abort();
    fuzz_write_file(p, sec_seg.data, anchor_len);
    /* a torn last line, and the same log as two segments (the second opening with a copy of
     * the first one's last seal) is left to the fuzzer: it splits at NUL */
    cst_buf torn;
    cst_buf_init(&torn, 1 << 20);
    if (cst_buf_append(&torn, sec_seg.data, sec_seg.len) != CST_OK ||
        cst_buf_append(&torn, "{\"action\":\"us", 13) != CST_OK ||
        cst_fmt(p, sizeof(p), "%s/torn", out) != CST_OK)
        abort();
    fuzz_write_file(p, torn.data, torn.len);
    cst_buf_free(&torn);
    /* pre-allocated segments: zero padding (0xFF bytes) after the tail, with a torn line before
     * it, and with a forged line inside it */
    uint8_t pad[16]; /* the seeds stay under the suite's -max_len=4096 */
    memset(pad, 0xFF, sizeof(pad));
    static const char *const padded[][3] = {{"padded", "", ""},
                                            {"padded_torn", "{\"action\":\"us", ""},
                                            {"padded_forged", "", "{\"seal\":{}}\n"}};
    for (size_t i = 0; i < sizeof(padded) / sizeof(padded[0]); i++) {
        cst_buf b;
        cst_buf_init(&b, 1 << 20);
        if (cst_buf_append(&b, sec_seg.data, sec_seg.len) != CST_OK ||
            cst_buf_append(&b, padded[i][1], strlen(padded[i][1])) != CST_OK ||
            cst_buf_append(&b, pad, sizeof(pad)) != CST_OK ||
            cst_buf_append(&b, padded[i][2], strlen(padded[i][2])) != CST_OK ||
            cst_buf_append(&b, pad, sizeof(pad)) != CST_OK ||
            cst_fmt(p, sizeof(p), "%s/%s", out, padded[i][0]) != CST_OK)
            abort();
        fuzz_write_file(p, b.data, b.len);
        cst_buf_free(&b);
    }
}

/* The input's bytes with 0xFF written as zero bytes. */
static void write_segment(const char *path, const uint8_t *data, size_t n)
{
    cst_buf b;
    cst_buf_init(&b, 1 << 20);
    if (cst_buf_append(&b, data, n) != CST_OK)
        abort();
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] == 0xFF)
            b.data[i] = 0;
    fuzz_write_file(path, b.data, b.len);
    cst_buf_free(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (cst_crypto_init() != CST_OK)
        abort();
    make_log();
    fuzz_seeds_if_asked(write_seeds);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clear_security();
    fuzz_write_file(access_path, access_seg.data, access_seg.len);
    fuzz_write_file(epoch_file, epoch_bytes.data, epoch_bytes.len);
    char first[PATH_MAX + 32] = "";
    size_t off = 0;
    for (int j = 0; j < MAX_SEGMENTS && off <= size; j++) {
        const uint8_t *nul = memchr(data + off, 0, size - off);
        size_t n = (nul && j + 1 < MAX_SEGMENTS) ? (size_t)(nul - data) - off : size - off;
        char path[PATH_MAX + 32];
        if (cst_fmt(path, sizeof(path), "%s/%020d.log", sec_dir, j * 1000 + 1) != CST_OK)
            abort();
        write_segment(path, data + off, n);
        if (j == 0)
            memcpy(first, path, sizeof(first));
        off += n + 1;
    }
    check_all(first);
    return 0;
}
