/* fuzz_json.c: libFuzzer target for JSON request bodies: the strict object parser, the field
 * checks and the records:batch parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/record.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fields[] = {"name", "retention_seconds", "class", "owner", NULL};
    cst_buf body;
    cst_buf_init(&body, 1 << 16);
    if (cst_buf_append(&body, data, size) != CST_OK) {
        cst_buf_free(&body);
        return 0;
    }
    json_t *doc = NULL;
    if (cst_json_object(&body, true, &doc) == CST_OK) {
        const char *s;
        int64_t i;
        bool present;
        json_t *o;
        (void)cst_json_only(doc, fields);
        (void)cst_json_str(doc, "name", false, &s);
        (void)cst_json_int(doc, "retention_seconds", false, &i, &present);
        (void)cst_json_obj(doc, "owner", false, &o);
        cst_batch_op *ops = NULL;
        size_t n = 0;
        if (cst_batch_parse(doc, 1 << 20, &ops, &n) == CST_OK) {
            if (n == 0 || n > CST_BATCH_MAX)
                abort();
            for (size_t k = 0; k < n; k++)
                if (!ops[k].key || ops[k].key_len == 0 || ops[k].key_len > 1024)
                    abort();
            cst_batch_free(ops, n);
        }
        json_decref(doc);
    }
    cst_buf_free(&body);
    return 0;
}
