/* audit_detail.c: LOG-1, audit details sealed under the tenant's key. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/audit_detail.h"
#include "util/buf.h"
#include "util/json.h"

static cst_err detail_aad(cst_buf *aad, const char *tenant, const char *request_id)
{
    TRY(cst_buf_append(aad, "cst:audit-detail:v1", 19));
    TRY(cst_buf_append(aad, tenant ? tenant : "", tenant ? strlen(tenant) : 0));
    TRY(cst_buf_append_u8(aad, 0));
    return cst_buf_append(aad, request_id, strlen(request_id));
}

json_t *cst_audit_detail_seal(const cst_key *key, uint32_t key_version, const char *tenant,
                              const char *request_id, const json_t *detail)
{
    char *text = cst_audit_canonical(detail);
    if (!text)
        return NULL;
    cst_buf aad, ct;
    cst_buf_init(&aad, 1024);
    cst_buf_init(&ct, SIZE_MAX);
    json_t *out = NULL;
    if (detail_aad(&aad, tenant, request_id) == CST_OK &&
        cst_seal(key, &aad, (const uint8_t *)text, strlen(text), &ct) == CST_OK) {
        size_t b64len = sodium_base64_encoded_len(ct.len, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(b64len);
        if (b64) {
            sodium_bin2base64(b64, b64len, ct.data, ct.len, sodium_base64_VARIANT_ORIGINAL);
            out = json_pack("{s:I,s:s}", "kv", (json_int_t)key_version, "ct", b64);
            free(b64);
        }
    }
    cst_json_free_text(text);
    cst_buf_free(&aad);
    cst_buf_free(&ct);
    return out;
}

json_t *cst_audit_detail_open(const cst_key *key, const char *tenant, const char *request_id,
                              const char *ct)
{
    size_t len = strlen(ct), binlen = 0;
    uint8_t *bin = malloc(len + 1);
    cst_buf aad, pt;
    cst_buf_init(&aad, 1024);
    cst_buf_init(&pt, SIZE_MAX);
    json_t *out = NULL;
    if (bin &&
        sodium_base642bin(bin, len, ct, len, NULL, &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) ==
            0 &&
        detail_aad(&aad, tenant, request_id) == CST_OK &&
        cst_open(key, &aad, bin, binlen, &pt) == CST_OK)
        out = json_loadb((const char *)pt.data, pt.len, 0, NULL);
    cst_err_clear();
    free(bin);
    cst_buf_free(&aad);
    cst_buf_wipe_free(&pt);
    return out;
}
