/* signed.c: documents the node signs with its Ed25519 key (certificates of deletion, compliance
 * reports): canonical JSON {"<member>": {...}, "public_key": hex, "signature": hex}, the
 * signature over the canonical text of the member object. */
#include <sodium.h>
#include <string.h>

#include "audit/audit.h"
#include "crypto/sign.h"
#include "node/node.h"
#include "util/json.h"
#include "util/util.h"

cst_err cst_node_sign_json(cst_node *n, const char *member, json_t *body, char **doc)
{
    *doc = NULL;
    uint8_t *sk = NULL, pk[32];
    TRY(cst_node_signing_key(n->cfg.data_dir, &n->root_key, &sk, pk));
    char *text = cst_audit_canonical(body);
    cst_err e = text ? CST_OK : cst_fail(CST_ERR_INTERNAL, "out of memory");
    uint8_t sig[CST_SIGN_LEN];
    if (e == CST_OK)
        cst_sign(sk, text, strlen(text), sig);
    cst_sign_key_free(sk);
    cst_json_free_text(text);
    TRY(e);
    char sig_hex[2 * CST_SIGN_LEN + 1], pk_hex[65];
    cst_hex(sig, sizeof(sig), sig_hex);
    cst_hex(pk, sizeof(pk), pk_hex);
    json_t *d =
        json_pack("{s:O,s:s,s:s}", member, body, "public_key", pk_hex, "signature", sig_hex);
    *doc = d ? cst_audit_canonical(d) : NULL;
    json_decref(d);
    ENSURE(*doc != NULL, CST_ERR_INTERNAL, "out of memory");
    return CST_OK;
}

cst_err cst_signed_json_verify(const uint8_t *doc, size_t len, const uint8_t pk[32],
                               const char *member, const char *what, json_t **body)
{
    if (len > 0 && doc[len - 1] == '\n')
        len--;
    json_error_t je;
    json_t *d = json_loadb((const char *)doc, len, JSON_REJECT_DUPLICATES, &je);
    ENSURE(d != NULL, CST_ERR_INTEGRITY, "not a %s: %s", what, je.text);
    char *canon = cst_audit_canonical(d);
    bool exact = canon && strlen(canon) == len && memcmp(canon, doc, len) == 0;
    cst_json_free_text(canon);
    json_t *b = json_object_get(d, member);
    const char *sig_hex = json_string_value(json_object_get(d, "signature"));
    const char *pk_hex = json_string_value(json_object_get(d, "public_key"));
    uint8_t sig[CST_SIGN_LEN], doc_pk[32];
    cst_err e = CST_OK;
    if (!exact || !json_is_object(b) || json_object_size(d) != 3 || !sig_hex || !pk_hex)
        e = cst_fail(CST_ERR_INTEGRITY, "the %s is not in its signed form (altered)", what);
    if (e == CST_OK && (strlen(sig_hex) != 2 * sizeof(sig) || strlen(pk_hex) != 64 ||
                        cst_unhex(sig_hex, sig, sizeof(sig)) != CST_OK ||
                        cst_unhex(pk_hex, doc_pk, sizeof(doc_pk)) != CST_OK))
        e = cst_fail(CST_ERR_INTEGRITY, "the %s's signature or key is malformed", what);
    if (e == CST_OK && sodium_memcmp(doc_pk, pk, 32) != 0)
        e = cst_fail(CST_ERR_INTEGRITY,
                     "the %s was signed by another key than the node's public key", what);
    char *text = e == CST_OK ? cst_audit_canonical(b) : NULL;
    if (e == CST_OK && (!text || !cst_sign_verify(pk, text, strlen(text), sig)))
        e = cst_fail(CST_ERR_INTEGRITY, "the %s's signature does not verify", what);
    cst_json_free_text(text);
    if (e == CST_OK && body)
        *body = json_incref(b);
    json_decref(d);
    return e;
}
