/* test_cert.c: verification of certificates of deletion (RET-4, lifecycle/erase.c
 * cst_certificate_verify): the signed form {"certificate", "public_key", "signature"} as
 * canonical JSON, signed by the node's Ed25519 key over the canonical certificate. Every
 * alteration, another key, malformed JSON and a missing or extra field are refused, each with
 * its own message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <cmocka.h>

#include "audit/audit.h"
#include "lifecycle/lifecycle.h"
#include "util/json.h"
#include "util/util.h"

static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
static uint8_t opk[crypto_sign_PUBLICKEYBYTES], osk[crypto_sign_SECRETKEYBYTES];

static const char altered[] = "the certificate is not in its signed form (altered)";
static const char malformed[] = "the certificate's signature or key is malformed";
static const char bad_sig[] = "the certificate's signature does not verify";
static const char other_key[] =
    "the certificate was signed by another key than the node's public key";

static int setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(opk, osk);
    return 0;
}

static int teardown(void **state)
{
    sodium_memzero(sk, sizeof(sk));
    sodium_memzero(osk, sizeof(osk));
    return 0;
}

static json_t *certificate(void)
{
    json_t *c = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:{s:I}}", "certificate_id",
                          "ce_00000000000000000001", "issued_at", "2026-01-01T00:00:00Z", "method",
                          "Cryptographic Erase, NIST SP 800-88 Rev. 1", "tenant", "id",
                          "tn_00000000000000000001", "name", "Acme", "records", "count", 42);
    assert_non_null(c);
    return c;
}

/* The signed form of cert: signed with sign_sk, naming the public key named_pk. */
static char *signed_doc(json_t *cert, const uint8_t *sign_sk, const uint8_t *named_pk)
{
    char *body = cst_audit_canonical(cert);
    assert_non_null(body);
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const uint8_t *)body, strlen(body), sign_sk);
    cst_json_free_text(body);
    char sig_hex[2 * crypto_sign_BYTES + 1], pk_hex[65];
    cst_hex(sig, sizeof(sig), sig_hex);
    cst_hex(named_pk, 32, pk_hex);
    json_t *d =
        json_pack("{s:O,s:s,s:s}", "certificate", cert, "public_key", pk_hex, "signature", sig_hex);
    char *doc = cst_audit_canonical(d);
    json_decref(d);
    assert_non_null(doc);
    return doc;
}

/* The signed form of the usual certificate, by the node's key. */
static char *good_doc(void)
{
    json_t *c = certificate();
    char *doc = signed_doc(c, sk, pk);
    json_decref(c);
    return doc;
}

static void refused(const char *doc, size_t len, const char *message)
{
    json_t *cert = NULL;
    cst_err_clear();
    cst_err e = cst_certificate_verify((const uint8_t *)doc, len, pk, &cert);
    if (e != CST_ERR_INTEGRITY || strncmp(cst_err_message(e), message, strlen(message)) != 0)
        fail_msg("%s: got %d \"%s\", want \"%s\"", doc, e, cst_err_message(e), message);
    assert_null(cert);
}

static void refused_text(const char *doc, const char *message)
{
    refused(doc, strlen(doc), message);
}

/* The canonical form of doc changed: key set to value (NULL deletes it) at the top level or,
 * with inner, inside "certificate". */
static char *changed_doc(const char *doc, bool inner, const char *key, json_t *value)
{
    json_t *d = json_loads(doc, 0, NULL);
    assert_non_null(d);
    json_t *o = inner ? json_object_get(d, "certificate") : d;
    if (value)
        json_object_set_new(o, key, value);
    else
        json_object_del(o, key);
    char *out = cst_audit_canonical(d);
    json_decref(d);
    assert_non_null(out);
    return out;
}

static void test_ret4_signed_certificate_verifies(void **state)
{
    char *doc = good_doc();
    json_t *cert = NULL;
    assert_int_equal(cst_certificate_verify((const uint8_t *)doc, strlen(doc), pk, &cert), CST_OK);
    assert_string_equal(json_string_value(json_object_get(cert, "certificate_id")),
                        "ce_00000000000000000001");
    json_decref(cert);
    /* as a file: one trailing newline */
    size_t n = strlen(doc);
    char *line = malloc(n + 2);
    memcpy(line, doc, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    assert_int_equal(cst_certificate_verify((const uint8_t *)line, n + 1, pk, NULL), CST_OK);
    /* but not two */
    char *two = malloc(n + 3);
    memcpy(two, line, n + 1);
    two[n + 1] = '\n';
    two[n + 2] = '\0';
    refused(two, n + 2, altered);
    free(two);
    free(line);
    cst_json_free_text(doc);
}

/* Any change to what was signed, even in canonical form, fails the signature. */
static void test_ret4_tampered_certificate_refused(void **state)
{
    char *doc = good_doc();
    struct {
        const char *key;
        json_t *value;
    } changes[] = {
        {"certificate_id", json_string("ce_00000000000000000002")},
        {"issued_at", json_string("2027-01-01T00:00:00Z")},
        {"tenant", json_pack("{s:s,s:s}", "id", "tn_00000000000000000002", "name", "Acme")},
        {"records", json_pack("{s:I}", "count", 41)},
        {"method", NULL}, /* a field removed */
        {"note", json_string("added")},
    };
    for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
        char *t = changed_doc(doc, true, changes[i].key, changes[i].value);
        refused_text(t, bad_sig);
        cst_json_free_text(t);
    }
    /* one flipped hex digit of the signature */
    json_t *d = json_loads(doc, 0, NULL);
    char sig[2 * crypto_sign_BYTES + 1];
    (void)snprintf(sig, sizeof(sig), "%s", json_string_value(json_object_get(d, "signature")));
    sig[7] = sig[7] == '0' ? '1' : '0';
    json_decref(d);
    char *t = changed_doc(doc, false, "signature", json_string(sig));
    refused_text(t, bad_sig);
    cst_json_free_text(t);
    cst_json_free_text(doc);
}

/* Not canonical: the bytes differ from what the node wrote, even if the JSON means the same. */
static void test_ret4_non_canonical_refused(void **state)
{
    char *doc = good_doc();
    size_t n = strlen(doc);
    char *spaced = malloc(n + 2);
    spaced[0] = ' ';
    memcpy(spaced + 1, doc, n + 1);
    refused_text(spaced, altered);
    /* keys out of order */
    json_t *d = json_loads(doc, 0, NULL);
    json_t *r = json_object();
    json_object_set(r, "signature", json_object_get(d, "signature"));
    json_object_set(r, "public_key", json_object_get(d, "public_key"));
    json_object_set(r, "certificate", json_object_get(d, "certificate"));
    char *reversed = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
    refused_text(reversed, altered);
    cst_json_free_text(reversed);
    json_decref(r);
    json_decref(d);
    free(spaced);
    cst_json_free_text(doc);
}

static void test_ret4_other_keys_refused(void **state)
{
    json_t *c = certificate();
    /* signed by another key that it names */
    char *doc = signed_doc(c, osk, opk);
    refused_text(doc, other_key);
    cst_json_free_text(doc);
    /* signed by another key, naming the node's */
    doc = signed_doc(c, osk, pk);
    refused_text(doc, bad_sig);
    cst_json_free_text(doc);
    /* signed by the node, checked against another node's key */
    doc = signed_doc(c, sk, pk);
    assert_int_equal(cst_certificate_verify((const uint8_t *)doc, strlen(doc), opk, NULL),
                     CST_ERR_INTEGRITY);
    assert_string_equal(cst_err_message(CST_ERR_INTEGRITY), other_key);
    cst_json_free_text(doc);
    json_decref(c);
}

static void test_ret4_malformed_json_refused(void **state)
{
    static const char *const docs[] = {
        "",
        "\n",
        "{",
        "not json",
        "{\"certificate\":{},\"certificate\":{},\"public_key\":\"\",\"signature\":\"\"}",
        "{\"certificate\":{\"a\":1,\"a\":2},\"public_key\":\"00\",\"signature\":\"00\"}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        refused_text(docs[i], "not a certificate: ");
    /* a NUL inside */
    refused("{\"a\":\"\0\"}", 9, "not a certificate: ");
}

static void test_ret4_missing_or_extra_fields_refused(void **state)
{
    char *doc = good_doc();
    static const char *const top[] = {"certificate", "public_key", "signature"};
    for (size_t i = 0; i < 3; i++) {
        char *t = changed_doc(doc, false, top[i], NULL);
        refused_text(t, altered);
        cst_json_free_text(t);
    }
    struct {
        const char *key;
        json_t *value;
        const char *message;
    } changes[] = {
        {"extra", json_string("x"), altered},
        {"certificate", json_string("x"), altered},
        {"certificate", json_array(), altered},
        {"signature", json_integer(1), altered},
        {"public_key", json_null(), altered},
        {"signature", json_string("00"), malformed},
        {"public_key", json_string("00"), malformed},
        {"public_key",
         json_string("zz00000000000000000000000000000000000000000000000000000000000000"),
         malformed},
    };
    for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
        char *t = changed_doc(doc, false, changes[i].key, changes[i].value);
        refused_text(t, changes[i].message);
        cst_json_free_text(t);
    }
    cst_json_free_text(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ret4_signed_certificate_verifies),
        cmocka_unit_test(test_ret4_tampered_certificate_refused),
        cmocka_unit_test(test_ret4_non_canonical_refused),
        cmocka_unit_test(test_ret4_other_keys_refused),
        cmocka_unit_test(test_ret4_malformed_json_refused),
        cmocka_unit_test(test_ret4_missing_or_extra_fields_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
