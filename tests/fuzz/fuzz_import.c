/* fuzz_import.c: libFuzzer target for the NDJSON import line parser (POR-1,
 * core/portability.h): the input is an export, split into lines, each parsed as the import
 * reads it (line 1 the header), and its last line checked as the manifest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bucket.h"
#include "core/portability.h"
#include "core/record.h"

#define MAX_VALUE 4096
#define NOW (1764547200LL * 1000000) /* 2025-12-01 */

static cst_err bucket_known(void *ctx, const char *bucket)
{
    (void)ctx;
    if (strcmp(bucket, "broken") == 0)
        return cst_fail(CST_ERR_UNAVAILABLE, "storage unavailable");
    return strcmp(bucket, "docs") == 0 || strcmp(bucket, "billing") == 0
               ? CST_OK
               : cst_fail(CST_ERR_NOT_FOUND, "no such bucket");
}

/* What a parsed line promises whoever applies it. */
static void check(const cst_import_line *l)
{
    switch (l->kind) {
    case CST_IMPORT_BUCKET:
        if (cst_bucket_validate(&l->bucket) != CST_OK)
            abort();
        break;
    case CST_IMPORT_RECORD:
        if (!l->key || l->key_len == 0 || l->key_len > CST_RECORD_KEY_MAX || !l->content_type ||
            !l->rec_bucket || l->value_len > MAX_VALUE || (l->value_len && !l->value) ||
            l->created_at > l->updated_at || l->created_at < 0)
            abort();
        if (bucket_known(NULL, l->rec_bucket) != CST_OK)
            abort();
        break;
    case CST_IMPORT_HEADER:
    case CST_IMPORT_MANIFEST:
        break;
    default:
        abort();
    }
    if (!l->doc)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const cst_import_rules rules = {MAX_VALUE, NOW, bucket_known, NULL};
    const char *p = (const char *)data, *end = p + size, *last = p;
    size_t last_len = 0;
    for (size_t no = 1; p < end; no++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        cst_import_line l;
        if (cst_import_parse_line(p, len, no, &rules, &l) == CST_OK) {
            check(&l);
            cst_import_line_free(&l);
        } else if (l.doc || l.value) {
            abort(); /* a refused line holds nothing */
        }
        last = p;
        last_len = len;
        p += len + (nl ? 1 : 0);
    }
    uint8_t sha[32] = {0};
    int64_t buckets, records;
    (void)cst_import_manifest(size ? last : NULL, last_len, sha, &buckets, &records);
    cst_err_clear();
    return 0;
}
