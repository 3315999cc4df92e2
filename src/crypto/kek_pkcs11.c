/* kek_pkcs11.c: the KEK in a PKCS#11 token, through p11-kit (ENC-4; see kek_pkcs11.h). */
#include "crypto/kek_pkcs11.h"

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

struct cst_p11 {
    CK_FUNCTION_LIST *f;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE key;
    bool initialized, session;
    pthread_mutex_t mu; /* one session: its operations may not interleave */
};

static cst_err p11_fail(const char *what, CK_RV rv)
{
    const char *name = p11_kit_strerror(rv);
    return cst_fail(rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE ? CST_ERR_UNAUTHENTICATED
                                                                       : CST_ERR_UNAVAILABLE,
                    "PKCS#11: %s failed: %s (0x%lx)%s", what, name ? name : "error",
                    (unsigned long)rv,
                    rv == CKR_PIN_INCORRECT ? ": the token refused the PIN (keys.pin_file or "
                                              "CUSTODIA_PKCS11_PIN)"
                                            : "");
}

/* The first slot whose token matches the URI's token attributes. */
static cst_err find_slot(CK_FUNCTION_LIST *f, P11KitUri *u, CK_SLOT_ID *slot)
{
    CK_ULONG n = 0;
    CK_RV rv = f->C_GetSlotList(CK_TRUE, NULL, &n);
    if (rv != CKR_OK)
        return p11_fail("C_GetSlotList", rv);
    ENSURE(n > 0, CST_ERR_INVALID, "PKCS#11: the module has no token");
    CK_SLOT_ID *ids = calloc(n, sizeof(*ids));
    ENSURE(ids != NULL, CST_ERR_INTERNAL, "out of memory");
    bool found = false;
    rv = f->C_GetSlotList(CK_TRUE, ids, &n);
    for (CK_ULONG i = 0; rv == CKR_OK && !found && i < n; i++) {
        CK_TOKEN_INFO ti;
        found = f->C_GetTokenInfo(ids[i], &ti) == CKR_OK && p11_kit_uri_match_token_info(u, &ti);
        if (found)
            *slot = ids[i];
    }
    free(ids);
    if (rv != CKR_OK)
        return p11_fail("C_GetSlotList", rv);
    ENSURE(found, CST_ERR_INVALID, "PKCS#11: no token matches the URI");
    return CST_OK;
}

/* The secret keys labelled label: *found counts them (0, 1 or 2 meaning "more than one"). */
static cst_err find_key(cst_p11 *p, const char *label, CK_ULONG *found)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE h[2];
    CK_RV rv = p->f->C_FindObjectsInit(p->s, t, 2);
    if (rv != CKR_OK)
        return p11_fail("C_FindObjectsInit", rv);
    rv = p->f->C_FindObjects(p->s, h, 2, found);
    (void)p->f->C_FindObjectsFinal(p->s);
    if (rv != CKR_OK)
        return p11_fail("C_FindObjects", rv);
    if (*found > 0)
        p->key = h[0];
    return CST_OK;
}

/* ENC-4: an AES-256 key that stays in the token (sensitive, never extractable). */
static cst_err generate_key(cst_p11 *p, const char *label)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_ULONG len = CST_KEY_LEN;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    uint8_t id[8];
    TRY(cst_random(id, sizeof(id)));
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},     {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},   {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)}, {CKA_ENCRYPT, &yes, sizeof(yes)},
        {CKA_DECRYPT, &yes, sizeof(yes)},   {CKA_WRAP, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},      {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_ID, id, sizeof(id)},
    };
    CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
    CK_RV rv = p->f->C_GenerateKey(p->s, &mech, t, sizeof(t) / sizeof(*t), &p->key);
    return rv == CKR_OK ? CST_OK : p11_fail("C_GenerateKey", rv);
}

cst_err cst_p11_key_flags(cst_p11 *p, bool *sensitive, bool *extractable)
{
    CK_BBOOL s = CK_FALSE, x = CK_TRUE;
    CK_ATTRIBUTE t[] = {{CKA_SENSITIVE, &s, sizeof(s)}, {CKA_EXTRACTABLE, &x, sizeof(x)}};
    pthread_mutex_lock(&p->mu);
    CK_RV rv = p->f->C_GetAttributeValue(p->s, p->key, t, 2);
    pthread_mutex_unlock(&p->mu);
    if (rv != CKR_OK)
        return p11_fail("C_GetAttributeValue", rv);
    *sensitive = s == CK_TRUE;
    *extractable = x == CK_TRUE;
    return CST_OK;
}

/* The key's CKA_ID as its 8-byte id; a key made elsewhere with another CKA_ID gets a hash of
 * it. */
static cst_err key_id(cst_p11 *p, uint8_t id[8])
{
    uint8_t raw[128];
    CK_ATTRIBUTE t = {CKA_ID, raw, sizeof(raw)};
    CK_RV rv = p->f->C_GetAttributeValue(p->s, p->key, &t, 1);
    if (rv != CKR_OK || t.ulValueLen == (CK_ULONG)-1)
        t.ulValueLen = 0;
    if (t.ulValueLen == 8) {
        memcpy(id, raw, 8);
        return CST_OK;
    }
    uint8_t h[CST_HASH_LEN];
    cst_sha256(raw, t.ulValueLen, h);
    memcpy(id, h, 8);
    return CST_OK;
}

static cst_err login_and_find(cst_p11 *p, P11KitUri *u, const char *pin, bool create, uint8_t id[8])
{
    CK_SLOT_ID slot = 0;
    TRY(find_slot(p->f, u, &slot));
    CK_RV rv = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &p->s);
    if (rv != CKR_OK)
        return p11_fail("C_OpenSession", rv);
    p->session = true;
    ENSURE(pin && pin[0], CST_ERR_INVALID,
           "PKCS#11: no PIN: set keys.pin_file (mode 0600) or CUSTODIA_PKCS11_PIN");
    rv = p->f->C_Login(p->s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
        return p11_fail("C_Login", rv);
    CK_ATTRIBUTE *la = p11_kit_uri_get_attribute(u, CKA_LABEL);
    ENSURE(la && la->ulValueLen > 0 && la->ulValueLen < 256, CST_ERR_INVALID,
           "PKCS#11: the URI must name the key with object=LABEL");
    char label[256];
    memcpy(label, la->pValue, la->ulValueLen);
    label[la->ulValueLen] = '\0';
    CK_ULONG found = 0;
    TRY(find_key(p, label, &found));
    ENSURE(found < 2, CST_ERR_INVALID, "PKCS#11: more than one secret key is labelled \"%s\"",
           label);
    if (found == 0) {
        ENSURE(create, CST_ERR_INVALID, "PKCS#11: the token has no secret key labelled \"%s\"",
               label);
        TRY(generate_key(p, label));
    }
    bool sensitive, extractable;
    TRY(cst_p11_key_flags(p, &sensitive, &extractable));
    ENSURE(sensitive && !extractable, CST_ERR_INVALID,
           "PKCS#11: the key \"%s\" can leave the token (CKA_SENSITIVE %s, CKA_EXTRACTABLE %s); "
           "ENC-4 needs a sensitive, non-extractable key",
           label, sensitive ? "true" : "false", extractable ? "true" : "false");
    return key_id(p, id);
}

cst_err cst_p11_open(const char *uri, const char *pin, bool create, cst_p11 **out, uint8_t id[8])
{
    *out = NULL;
    P11KitUri *u = p11_kit_uri_new();
    ENSURE(u != NULL, CST_ERR_INTERNAL, "out of memory");
    int r = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN_AND_MODULE, u);
    cst_err e = CST_OK;
    if (r != P11_KIT_URI_OK)
        e = cst_fail(CST_ERR_INVALID, "PKCS#11 URI %s: %s", uri, p11_kit_uri_message(r));
    else if (p11_kit_uri_get_pin_value(u))
        e = cst_fail(CST_ERR_INVALID,
                     "PKCS#11 URI %s: pin-value is refused; put the PIN in "
                     "keys.pin_file or CUSTODIA_PKCS11_PIN",
                     uri);
    else if (!p11_kit_uri_get_module_path(u))
        e = cst_fail(CST_ERR_INVALID,
                     "PKCS#11 URI %s: name the module with ?module-path=/path/to/module.so", uri);
    cst_p11 *p = e == CST_OK ? calloc(1, sizeof(*p)) : NULL;
    if (e == CST_OK && !p)
        e = cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (e == CST_OK) {
        pthread_mutex_init(&p->mu, NULL);
        p->f = p11_kit_module_load(p11_kit_uri_get_module_path(u), 0);
        if (!p->f)
            e = cst_fail(CST_ERR_INVALID, "PKCS#11: cannot load the module %s: %s",
                         p11_kit_uri_get_module_path(u), p11_kit_message());
    }
    if (e == CST_OK) {
        CK_RV rv = p11_kit_module_initialize(p->f);
        p->initialized = rv == CKR_OK;
        if (rv != CKR_OK)
            e = p11_fail("C_Initialize", rv);
    }
    if (e == CST_OK)
        e = login_and_find(p, u, pin, create, id);
    p11_kit_uri_free(u);
    if (e != CST_OK)
        cst_p11_close(p);
    else
        *out = p;
    return e;
}

void cst_p11_close(cst_p11 *p)
{
    if (!p)
        return;
    if (p->session)
        (void)p->f->C_CloseSession(p->s);
    if (p->initialized)
        (void)p11_kit_module_finalize(p->f);
    if (p->f)
        p11_kit_module_release(p->f);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* A failure of the token itself, not of the data it was given. */
static bool token_trouble(CK_RV rv)
{
    switch (rv) {
    case CKR_BUFFER_TOO_SMALL:
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_MEMORY:
    case CKR_DEVICE_REMOVED:
    case CKR_HOST_MEMORY:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
        return true;
    default:
        return false;
    }
}

/* AES-GCM by the token. Decryption goes through a locked buffer of the ciphertext's size: a
 * token (SoftHSM2) may ask for that much room before it strips the tag. */
static cst_err gcm(cst_p11 *p, bool seal, const uint8_t iv[CST_NONCE_LEN], const uint8_t *aad,
                   size_t aadlen, const uint8_t *in, size_t inlen, uint8_t *out)
{
    CK_GCM_PARAMS gp = {.pIv = (CK_BYTE_PTR)iv,
                        .ulIvLen = CST_NONCE_LEN,
                        .ulIvBits = CST_NONCE_LEN * 8,
                        .pAAD = (CK_BYTE_PTR)aad,
                        .ulAADLen = aadlen,
                        .ulTagBits = CST_TAG_LEN * 8};
    CK_MECHANISM mech = {CKM_AES_GCM, &gp, sizeof(gp)};
    CK_ULONG want = seal ? inlen + CST_TAG_LEN : inlen - CST_TAG_LEN, outlen = inlen + CST_TAG_LEN;
    uint8_t *buf = sodium_malloc(outlen);
    ENSURE(buf != NULL, CST_ERR_INTERNAL, "out of memory");
    pthread_mutex_lock(&p->mu);
    CK_RV rv =
        seal ? p->f->C_EncryptInit(p->s, &mech, p->key) : p->f->C_DecryptInit(p->s, &mech, p->key);
    bool started = rv == CKR_OK;
    if (rv == CKR_OK)
        rv = seal ? p->f->C_Encrypt(p->s, (CK_BYTE_PTR)in, inlen, buf, &outlen)
                  : p->f->C_Decrypt(p->s, (CK_BYTE_PTR)in, inlen, buf, &outlen);
    pthread_mutex_unlock(&p->mu);
    cst_err e = CST_OK;
    if (!seal && started && rv != CKR_OK && !token_trouble(rv))
        e = cst_fail(CST_ERR_INTEGRITY,
                     "the token could not open a wrapped key (%s): it was "
                     "altered, or wrapped by another key or for another use",
                     p11_kit_strerror(rv));
    else if (rv != CKR_OK)
        e = p11_fail(seal ? "C_Encrypt (AES-GCM)" : "C_Decrypt (AES-GCM)", rv);
    else if (outlen != want)
        e = cst_fail(CST_ERR_INTERNAL, "PKCS#11: AES-GCM returned %lu bytes, not %lu",
                     (unsigned long)outlen, (unsigned long)want);
    else
        memcpy(out, buf, want);
    sodium_free(buf); /* wipes */
    return e;
}

cst_err cst_p11_seal(cst_p11 *p, const uint8_t iv[CST_NONCE_LEN], const uint8_t *aad, size_t aadlen,
                     const uint8_t *pt, size_t ptlen, uint8_t *out)
{
    return gcm(p, true, iv, aad, aadlen, pt, ptlen, out);
}

cst_err cst_p11_open_ct(cst_p11 *p, const uint8_t iv[CST_NONCE_LEN], const uint8_t *aad,
                        size_t aadlen, const uint8_t *ct, size_t ctlen, uint8_t *out)
{
    ENSURE(ctlen >= CST_TAG_LEN, CST_ERR_INTEGRITY, "wrapped key too short");
    return gcm(p, false, iv, aad, aadlen, ct, ctlen, out);
}
