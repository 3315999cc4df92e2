/* test_import.c: POR-1, the NDJSON import parser (core/portability.h) without a request or a
 * store: every line type accepted, and every refusal of the parser, the manifest check, the
 * manifest counts and the spool's line cap asserted with its error and message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "core/bucket.h"
#include "core/portability.h"
#include "core/record.h"
#include "core/spool.h"
#include "crypto/crypto.h"
#include "util/json.h"
#include "util/util.h"

#define NOW (1764547200LL * 1000000) /* 2025-12-01 */
#define MAX_VALUE 1024

#define HEADER "{\"type\":\"header\",\"format\":\"custodia-export\",\"version\":1}"
#define BUCKET                                                                                     \
    "{\"type\":\"bucket\",\"name\":\"docs\",\"class\":\"standard\",\"retention_seconds\":60}"
#define TIMES "\"created_at\":\"2025-01-01T00:00:00Z\",\"updated_at\":\"2025-01-02T00:00:00Z\""
#define RECORD(bucket, key, ctype, value)                                                          \
    "{\"type\":\"record\",\"bucket\":\"" bucket "\",\"key\":\"" key "\",\"content_type\":\"" ctype \
    "\",\"value\":\"" value "\"," TIMES "}"

/* A record line of bucket docs with this key and (base64) value. */
static void record_line(char *out, size_t n, const char *key, const char *value)
{
    int len = snprintf(out, n,
                       "{\"type\":\"record\",\"bucket\":\"docs\",\"key\":\"%s\",\"content_type\":"
                       "\"a/b\",\"value\":\"%s\"," TIMES "}",
                       key, value);
    assert_true(len > 0 && (size_t)len < n);
}

/* The tenant imported into has bucket "docs"; looking up "broken" fails like a full disk. */
static cst_err bucket_known(void *ctx, const char *bucket)
{
    (void)ctx;
    if (strcmp(bucket, "broken") == 0)
        return cst_fail(CST_ERR_UNAVAILABLE, "storage unavailable");
    return strcmp(bucket, "docs") == 0 ? CST_OK : cst_fail(CST_ERR_NOT_FOUND, "no such bucket");
}

static const cst_import_rules rules = {MAX_VALUE, NOW, bucket_known, NULL};

static cst_err parse(const char *line, size_t no, cst_import_line *out)
{
    return cst_import_parse_line(line, strlen(line), no, &rules, out);
}

/* line no is refused with e and a message containing why; nothing is held afterwards */
static void refused(const char *line, size_t no, cst_err e, const char *why)
{
    cst_import_line l;
    cst_err got = parse(line, no, &l);
    if (got != e || !strstr(cst_err_message(got), why))
        fail_msg("line %zu <%.80s>: got %d \"%s\", want %d \"%s\"", no, line, got,
                 cst_err_message(got), e, why);
    assert_null(l.doc);
    assert_null(l.value);
    cst_err_clear();
}

typedef struct refusal {
    const char *line;
    size_t no;
    cst_err e;
    const char *why;
} refusal;

static void refuse_all(const refusal *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        refused(cases[i].line, cases[i].no, cases[i].e, cases[i].why);
}

static void test_por1_import_accepts_each_line_type(void **state)
{
    (void)state;
    cst_import_line l;
    assert_int_equal(parse(HEADER, 1, &l), CST_OK);
    assert_int_equal(l.kind, CST_IMPORT_HEADER);
    cst_import_line_free(&l);

    assert_int_equal(parse(BUCKET, 2, &l), CST_OK);
    assert_int_equal(l.kind, CST_IMPORT_BUCKET);
    assert_string_equal(l.bucket.name, "docs");
    assert_string_equal(l.bucket.cls, "standard");
    assert_int_equal(l.bucket.retention_seconds, 60);
    cst_import_line_free(&l);

    assert_int_equal(parse(RECORD("docs", "a/b c", "text/plain", "aGVsbG8="), 3, &l), CST_OK);
    assert_int_equal(l.kind, CST_IMPORT_RECORD);
    assert_string_equal(l.rec_bucket, "docs");
    assert_int_equal(l.key_len, 5);
    assert_memory_equal(l.key, "a/b c", 5);
    assert_string_equal(l.content_type, "text/plain");
    assert_int_equal(l.value_len, 5);
    assert_memory_equal(l.value, "hello", 5);
    assert_true(l.created_at < l.updated_at);
    cst_import_line_free(&l);
    assert_null(l.value);

    /* an empty value is a value */
    assert_int_equal(parse(RECORD("docs", "k", "text/plain", ""), 3, &l), CST_OK);
    assert_int_equal(l.value_len, 0);
    cst_import_line_free(&l);

    assert_int_equal(parse("{\"type\":\"manifest\",\"buckets\":1}", 4, &l), CST_OK);
    assert_int_equal(l.kind, CST_IMPORT_MANIFEST);
    cst_import_line_free(&l);

    /* without a lookup every bucket is taken to exist */
    cst_import_rules any = {MAX_VALUE, NOW, NULL, NULL};
    const char *other = RECORD("other", "k", "text/plain", "aGk=");
    assert_int_equal(cst_import_parse_line(other, strlen(other), 2, &any, &l), CST_OK);
    cst_import_line_free(&l);
}

/* Today's parser checks the fields it reads and ignores others (an export of a later version
 * may carry more); this pins that down so that a change is a decision. */
static void test_por1_import_ignores_unknown_fields(void **state)
{
    (void)state;
    cst_import_line l;
    const char *lines[] = {
        "{\"type\":\"header\",\"format\":\"custodia-export\",\"version\":1,\"extra\":[1]}",
        "{\"type\":\"bucket\",\"name\":\"docs\",\"class\":\"billing\",\"retention_seconds\":0,"
        "\"record_count\":9}",
        "{\"type\":\"record\",\"bucket\":\"docs\",\"key\":\"k\",\"content_type\":\"a/b\","
        "\"value\":\"\",\"size\":0," TIMES "}",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        assert_int_equal(parse(lines[i], i + 1, &l), CST_OK);
        cst_import_line_free(&l);
    }
}

static void test_por1_import_refuses_malformed_json(void **state)
{
    (void)state;
    refused("", 2, CST_ERR_INVALID, "line 2 is not a JSON object");
    refused("{", 2, CST_ERR_INVALID, "line 2 is not a JSON object");
    refused("{\"type\":\"bucket\",}", 2, CST_ERR_INVALID, "line 2 is not a JSON object");
    refused("[" BUCKET "]", 2, CST_ERR_INVALID, "line 2 is not a JSON object: not an object");
    refused("\"bucket\"", 2, CST_ERR_INVALID, "line 2 is not a JSON object");
    refused("null", 7, CST_ERR_INVALID, "line 7 is not a JSON object");
    refused(BUCKET " " BUCKET, 2, CST_ERR_INVALID, "line 2 is not a JSON object");
    /* duplicate members could say two things at once */
    refused("{\"type\":\"bucket\",\"type\":\"record\"}", 2, CST_ERR_INVALID,
            "line 2 is not a JSON object");
    /* a NUL inside a string is refused by the JSON reader itself */
    refused(RECORD("docs", "a\\u0000b", "text/plain", "aGk="), 2, CST_ERR_INVALID,
            "line 2 is not a JSON object");
}

static void test_por1_import_refuses_bad_header_and_types(void **state)
{
    (void)state;
    const char *want = "line 1 must be the header of a custodia-export version 1";
    refused(BUCKET, 1, CST_ERR_INVALID, want);
    refused("{\"type\":\"header\",\"format\":\"other\",\"version\":1}", 1, CST_ERR_INVALID, want);
    refused("{\"type\":\"header\",\"format\":\"custodia-export\",\"version\":2}", 1,
            CST_ERR_INVALID, want);
    refused("{\"type\":\"header\",\"format\":\"custodia-export\",\"version\":\"1\"}", 1,
            CST_ERR_INVALID, want);
    refused("{\"type\":\"header\",\"format\":\"custodia-export\"}", 1, CST_ERR_INVALID, want);
    refused("{}", 1, CST_ERR_INVALID, want);
    /* after line 1 a header is a line of no known type */
    refused(HEADER, 2, CST_ERR_INVALID, "line 2 has an unknown type");
    refused("{\"type\":\"tenant\"}", 3, CST_ERR_INVALID, "line 3 has an unknown type");
    refused("{\"type\":7}", 3, CST_ERR_INVALID, "line 3 has an unknown type");
    refused("{}", 3, CST_ERR_INVALID, "line 3 has an unknown type");
}

static void test_por1_import_refuses_bad_buckets(void **state)
{
    (void)state;
    refused("{\"type\":\"bucket\",\"class\":\"standard\",\"retention_seconds\":0}", 2,
            CST_ERR_INVALID, "field \"name\" is required");
    refused("{\"type\":\"bucket\",\"name\":5,\"class\":\"standard\",\"retention_seconds\":0}", 2,
            CST_ERR_INVALID, "field \"name\" must be a string");
    refused("{\"type\":\"bucket\",\"name\":\"docs\",\"retention_seconds\":0}", 2, CST_ERR_INVALID,
            "field \"class\" is required");
    refused("{\"type\":\"bucket\",\"name\":\"docs\",\"class\":\"standard\"}", 2, CST_ERR_INVALID,
            "field \"retention_seconds\" is required");
    refused("{\"type\":\"bucket\",\"name\":\"docs\",\"class\":\"standard\","
            "\"retention_seconds\":\"60\"}",
            2, CST_ERR_INVALID, "field \"retention_seconds\" must be an integer");
    refused("{\"type\":\"bucket\",\"name\":\"docs\",\"class\":\"standard\","
            "\"retention_seconds\":1.5}",
            2, CST_ERR_INVALID, "field \"retention_seconds\" must be an integer");
    /* longer than the row holds: refused before it is copied */
    char line[512];
    (void)snprintf(line, sizeof(line),
                   "{\"type\":\"bucket\",\"name\":\"%065d\",\"class\":\"standard\","
                   "\"retention_seconds\":0}",
                   0);
    refused(line, 2, CST_ERR_INVALID, "line 2: bucket name must match [a-z0-9_-]{1,64}");
    refused("{\"type\":\"bucket\",\"name\":\"docs\",\"class\":\"standardstandard\","
            "\"retention_seconds\":0}",
            2, CST_ERR_INVALID, "line 2: bucket name must match");
    /* RET-1, POR-1: the bucket routes' own validation, with the line in front */
    refused(
        "{\"type\":\"bucket\",\"name\":\"Docs\",\"class\":\"standard\",\"retention_seconds\":0}", 4,
        CST_ERR_INVALID, "line 4: bucket name must match [a-z0-9_-]{1,64}");
    refused("{\"type\":\"bucket\",\"name\":\"\",\"class\":\"standard\",\"retention_seconds\":0}", 2,
            CST_ERR_INVALID, "line 2: bucket name must match");
    refused("{\"type\":\"bucket\",\"name\":\"docs\",\"class\":\"gold\",\"retention_seconds\":0}", 2,
            CST_ERR_INVALID, "line 2: class must be standard or billing");
    refused(
        "{\"type\":\"bucket\",\"name\":\"docs\",\"class\":\"standard\",\"retention_seconds\":-1}",
        2, CST_ERR_INVALID, "line 2: retention_seconds must be from 0 (keep)");
    (void)snprintf(line, sizeof(line),
                   "{\"type\":\"bucket\",\"name\":\"docs\",\"class\":\"standard\","
                   "\"retention_seconds\":%lld}",
                   (long long)CST_RETENTION_MAX_SECONDS + 1);
    refused(line, 2, CST_ERR_INVALID, "line 2: retention_seconds must be from 0 (keep)");
}

/* A valid record line as JSON, to change before dump_line. */
static json_t *record_doc(void)
{
    json_t *o = json_loads(RECORD("docs", "k", "text/plain", "aGk="), 0, NULL);
    assert_non_null(o);
    return o;
}

/* The line of o (consumed); release with cst_json_free_text. */
static char *dump_line(json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(text);
    return text;
}

/* The line of a valid record with one field changed: removed (value NULL) or replaced. */
static char *record_with(const char *field, json_t *value)
{
    json_t *o = record_doc();
    assert_int_equal(value ? json_object_set_new(o, field, value) : json_object_del(o, field), 0);
    return dump_line(o);
}

/* A record line with these times is refused as invalid, with the line number in front. */
static void refused_times(const char *created, const char *updated, size_t no, const char *why)
{
    char want[128];
    (void)snprintf(want, sizeof(want), "line %zu: %s", no, why);
    json_t *o = record_doc();
    assert_int_equal(json_object_set_new(o, "created_at", json_string(created)), 0);
    assert_int_equal(json_object_set_new(o, "updated_at", json_string(updated)), 0);
    char *text = dump_line(o);
    refused(text, no, CST_ERR_INVALID, want);
    cst_json_free_text(text);
}

static void test_por1_import_refuses_bad_record_fields(void **state)
{
    (void)state;
    const char *fields[] = {"bucket", "key", "content_type", "value", "created_at", "updated_at"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char want[64];
        char *line = record_with(fields[i], NULL);
        (void)snprintf(want, sizeof(want), "field \"%s\" is required", fields[i]);
        refused(line, 2, CST_ERR_INVALID, want);
        cst_json_free_text(line);
        json_t *wrong[] = {json_integer(12), json_null(), json_true(), json_array(),
                           json_pack("{s:s}", "a", "b")};
        (void)snprintf(want, sizeof(want), "field \"%s\" must be a string", fields[i]);
        for (size_t k = 0; k < sizeof(wrong) / sizeof(wrong[0]); k++) {
            line = record_with(fields[i], wrong[k]);
            refused(line, 2, CST_ERR_INVALID, want);
            cst_json_free_text(line);
        }
    }
    /* RET-1: times that parse, in order, not before 1970, not in the future */
    static const struct {
        const char *created, *updated, *why;
    } times[] = {
        {"yesterday", "2025-01-02T00:00:00Z", "created_at and updated_at must be RFC 3339 times"},
        {"2025-01-01T00:00:00Z", "", "created_at and updated_at must be RFC 3339 times"},
        {"2025-01-02T00:00:00Z", "2025-01-01T00:00:00Z", "created_at must not be after updated_at"},
        {"1969-12-31T00:00:00Z", "2025-01-01T00:00:00Z",
         "created_at and updated_at must not be before 1970"},
        {"2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z",
         "created_at and updated_at must not be in the future"},
    };
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
        refused_times(times[i].created, times[i].updated, 5, times[i].why);
}

static void test_por1_import_refuses_bad_base64(void **state)
{
    (void)state;
    const char *bad[] = {"@@@@", "aGk", "aGk=x", "aG k=", "aGk-", "aGk_", "a===", "\\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[512];
        record_line(line, sizeof(line), "k", bad[i]);
        refused(line, 6, CST_ERR_INVALID, "line 6: value is not base64");
    }
}

/* Records of a bucket the tenant lacks, and records cst_record_validate refuses. */
static void test_por1_import_refuses_invalid_records(void **state)
{
    (void)state;
    /* clang-format off */
    static const refusal cases[] = {
        {RECORD("photos", "k", "a/b", "aGk="), 6, CST_ERR_INVALID, "record of a bucket the export"},
        /* a failed lookup is the storage's failure, not a missing bucket */
        {RECORD("broken", "k", "a/b", "aGk="), 6, CST_ERR_UNAVAILABLE, "storage unavailable"},
        /* the bucket is checked before the value is decoded */
        {RECORD("photos", "k", "a/b", "@@@"), 6, CST_ERR_INVALID, "record of a bucket the export"},
        {RECORD("docs", "", "a/b", "aGk="), 2, CST_ERR_INVALID, "record key must be 1-1024"},
        {RECORD("docs", "a\\u0001", "a/b", "aGk="), 2, CST_ERR_INVALID, "must not contain control"},
        {RECORD("docs", "k", "", "aGk="), 2, CST_ERR_INVALID, "line 2: content type must be 1-127"},
        {RECORD("docs", "k", "\\u00e9", "aGk="), 2, CST_ERR_INVALID, "must be printable ASCII"},
    };
    /* clang-format on */
    refuse_all(cases, sizeof(cases) / sizeof(cases[0]));
    /* keys: 1024 bytes is the longest */
    char *line = malloc(4096);
    char key[1026];
    assert_non_null(line);
    memset(key, 'k', sizeof(key));
    key[1024] = '\0';
    record_line(line, 4096, key, "");
    cst_import_line l;
    assert_int_equal(parse(line, 2, &l), CST_OK);
    cst_import_line_free(&l);
    key[1024] = 'k';
    key[1025] = '\0';
    record_line(line, 4096, key, "");
    refused(line, 2, CST_ERR_INVALID, "line 2: record key must be 1-1024 bytes");
    /* values: max_value bytes is the largest */
    uint8_t value[MAX_VALUE + 1];
    char b64[2 * MAX_VALUE];
    memset(value, 0xa5, sizeof(value));
    sodium_bin2base64(b64, sizeof(b64), value, MAX_VALUE, sodium_base64_VARIANT_ORIGINAL);
    record_line(line, 4096, "k", b64);
    assert_int_equal(parse(line, 2, &l), CST_OK);
    assert_int_equal(l.value_len, MAX_VALUE);
    cst_import_line_free(&l);
    sodium_bin2base64(b64, sizeof(b64), value, MAX_VALUE + 1, sodium_base64_VARIANT_ORIGINAL);
    record_line(line, 4096, "k", b64);
    refused(line, 2, CST_ERR_TOO_LARGE, "line 2: the value has 1025 bytes");
    free(line);
}

static void test_por1_import_manifest(void **state)
{
    (void)state;
    uint8_t sha[32];
    char hex[65], last[256];
    int64_t b = -1, r = -1;
    cst_sha256_ctx ctx;
    assert_int_equal(cst_sha256_init(&ctx), CST_OK);
    cst_sha256_update(&ctx, HEADER "\n", strlen(HEADER) + 1);
    cst_sha256_final(&ctx, sha);
    cst_hex(sha, sizeof(sha), hex);
    int n = snprintf(last, sizeof(last),
                     "{\"type\":\"manifest\",\"buckets\":2,\"records\":3,\"sha256\":\"%s\"}", hex);
    assert_int_equal(cst_import_manifest(last, (size_t)n, sha, &b, &r), CST_OK);
    assert_int_equal(b, 2);
    assert_int_equal(r, 3);

    const char *none = "the export has no manifest line: it is truncated or not an export";
    struct {
        const char *last;
        const char *why;
    } cases[] = {
        {NULL, none}, /* the last line was too long to keep */
        {"", none},
        {"{\"type\":\"manifest\"", none},
        {"{\"type\":\"record\"}", none},
        {"{\"type\":\"manifest\",\"type\":\"manifest\"}", none},
        {"[]", none},
        {"{\"type\":\"manifest\"}", "does not match its manifest"},
        {"{\"type\":\"manifest\",\"sha256\":7}", "does not match its manifest"},
        {"{\"type\":\"manifest\",\"sha256\":\"00\"}", "does not match its manifest"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cst_err e = cst_import_manifest(cases[i].last, cases[i].last ? strlen(cases[i].last) : 0,
                                        sha, &b, &r);
        assert_int_equal(e, CST_ERR_INVALID);
        assert_non_null(strstr(cst_err_message(e), cases[i].why));
    }
    /* the hash of other bytes */
    sha[0] ^= 1;
    assert_int_equal(cst_import_manifest(last, (size_t)n, sha, &b, &r), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "altered or cut"));
    cst_err_clear();
}

static void test_por1_import_counts_and_order(void **state)
{
    (void)state;
    /* nothing but a header and a manifest touches the tenant: no store needed */
    cst_import run = {.t = NULL, .max_value = MAX_VALUE, .now = NOW};
    assert_int_equal(cst_import_line_apply(&run, HEADER, strlen(HEADER), 1), CST_OK);
    const char *m = "{\"type\":\"manifest\"}";
    assert_int_equal(cst_import_line_apply(&run, m, strlen(m), 2), CST_OK);
    assert_true(run.manifest_seen);
    cst_err e = cst_import_line_apply(&run, BUCKET, strlen(BUCKET), 3);
    assert_int_equal(e, CST_ERR_INVALID);
    assert_string_equal(cst_err_message(e), "line 3 follows the manifest");
    assert_int_equal(run.buckets, 0);

    assert_int_equal(cst_import_finish(&run, 0, 0), CST_OK);
    run.buckets = 2;
    run.records = 5;
    assert_int_equal(cst_import_finish(&run, 2, 5), CST_OK);
    e = cst_import_finish(&run, 2, 4);
    assert_int_equal(e, CST_ERR_INVALID);
    assert_string_equal(cst_err_message(e), "the export holds 2 buckets and 5 records; its "
                                            "manifest says 2 and 4");
    assert_int_equal(cst_import_finish(&run, 3, 5), CST_ERR_INVALID);
    cst_err_clear();
}

/* The spool reads lines back up to the longest a record of max_value can make, and refuses a
 * longer one. */
static void test_por1_import_refuses_overlong_lines(void **state)
{
    (void)state;
    char dir[] = "/tmp/cst-import-XXXXXX";
    assert_non_null(mkdtemp(dir));
    size_t max = cst_import_line_max(MAX_VALUE);
    assert_true(max >= MAX_VALUE / 3 * 4 + 4); /* the value in base64 fits */
    assert_int_equal(max, MAX_VALUE / 3 * 4 + 4 + 65536);
    char *text = malloc(max + 2);
    assert_non_null(text);
    memset(text, 'x', max + 1);
    text[max + 1] = '\n';

    for (int over = 0; over <= 1; over++) {
        cst_spool *sp;
        cst_spool_summary sum;
        assert_int_equal(cst_spool_open(dir, 4 * max, &sp), CST_OK);
        assert_int_equal(cst_spool_write(sp, text, max + (size_t)over), CST_OK);
        assert_int_equal(cst_spool_write(sp, "\n{}\n", 4), CST_OK);
        assert_int_equal(cst_spool_finish(sp, &sum), CST_OK);
        cst_buf line;
        cst_buf_init(&line, max);
        bool eof;
        cst_err e = cst_spool_line(sp, &line, max, &eof);
        if (over) {
            assert_int_equal(e, CST_ERR_TOO_LARGE);
            assert_non_null(strstr(cst_err_message(e), "a line of the import is longer than"));
        } else {
            assert_int_equal(e, CST_OK);
            assert_false(eof);
            assert_int_equal(line.len, max);
            assert_int_equal(cst_spool_line(sp, &line, max, &eof), CST_OK);
            assert_int_equal(line.len, 2);
            assert_int_equal(cst_spool_line(sp, &line, max, &eof), CST_OK);
            assert_true(eof);
        }
        cst_buf_free(&line);
        cst_spool_free(sp);
    }
    free(text);
    assert_int_equal(rmdir(dir), 0);
    cst_err_clear();
}

/* libsodium (base64, the spool's encryption) before any test */
static int crypto_setup(void **state)
{
    (void)state;
    return cst_crypto_init() == CST_OK ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_por1_import_accepts_each_line_type),
        cmocka_unit_test(test_por1_import_ignores_unknown_fields),
        cmocka_unit_test(test_por1_import_refuses_malformed_json),
        cmocka_unit_test(test_por1_import_refuses_bad_header_and_types),
        cmocka_unit_test(test_por1_import_refuses_bad_buckets),
        cmocka_unit_test(test_por1_import_refuses_bad_record_fields),
        cmocka_unit_test(test_por1_import_refuses_bad_base64),
        cmocka_unit_test(test_por1_import_refuses_invalid_records),
        cmocka_unit_test(test_por1_import_manifest),
        cmocka_unit_test(test_por1_import_counts_and_order),
        cmocka_unit_test(test_por1_import_refuses_overlong_lines),
    };
    return cmocka_run_group_tests(tests, crypto_setup, NULL);
}
