/* secrets.c: password policy and hashing, bearer tokens. */
#include "crypto/secrets.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

#define PWHASH_OPSLIMIT 3
#define PWHASH_MEMLIMIT (64u * 1024 * 1024)

/* Case-insensitive substring test. */
static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return false;
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

cst_err cst_password_check(const char *pw, const char *username, const char *tenant_name)
{
    size_t n = strlen(pw);
    ENSURE(n >= CST_PW_MIN, CST_ERR_INVALID, "password must have at least %d characters",
           CST_PW_MIN);
    ENSURE(n <= CST_PW_MAX, CST_ERR_INVALID, "password must have at most %d characters",
           CST_PW_MAX);
    ENSURE(cst_utf8_valid((const uint8_t *)pw, n) && !cst_has_control((const uint8_t *)pw, n),
           CST_ERR_INVALID, "password must be UTF-8 text without control characters");
    bool letter = false, digit = false;
    for (const char *c = pw; *c; c++) {
        letter |= isalpha((unsigned char)*c) != 0;
        digit |= isdigit((unsigned char)*c) != 0;
    }
    ENSURE(letter && digit, CST_ERR_INVALID, "password must contain both letters and digits");
    ENSURE(!username || !contains_ci(pw, username), CST_ERR_INVALID,
           "password must not contain the username");
    ENSURE(!tenant_name || !contains_ci(pw, tenant_name), CST_ERR_INVALID,
           "password must not contain the tenant name");
    return CST_OK;
}

cst_err cst_password_hash(const char *pw, char out[CST_PWHASH_LEN])
{
    ENSURE(crypto_pwhash_str(out, pw, strlen(pw), PWHASH_OPSLIMIT, PWHASH_MEMLIMIT) == 0,
           CST_ERR_INTERNAL, "password hashing failed (out of memory?)");
    return CST_OK;
}

bool cst_password_verify(const char *pw, const char *hash)
{
    static char dummy[CST_PWHASH_LEN];
    if (!hash) {
        /* Spend the same work on a hash nobody's password matches. */
        if (!dummy[0] && crypto_pwhash_str(dummy, "custodia-dummy-password-0", 25, PWHASH_OPSLIMIT,
                                           PWHASH_MEMLIMIT) != 0)
            return false;
        int discard = crypto_pwhash_str_verify(dummy, pw, strlen(pw));
        return discard != 0 && false;
    }
    return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

cst_err cst_password_generate(char out[32])
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    for (;;) {
        uint8_t r[24];
        TRY(cst_random(r, sizeof(r)));
        for (size_t i = 0; i < sizeof(r); i++)
            out[i] = alphabet[r[i] % (sizeof(alphabet) - 1)];
        out[24] = '\0';
        sodium_memzero(r, sizeof(r));
        cst_err e = cst_password_check(out, NULL, NULL);
        cst_err_clear();
        if (e == CST_OK)
            return CST_OK;
    }
}

cst_err cst_token_generate(char token[CST_TOKEN_LEN + 1], char id[CST_TOKEN_ID_LEN],
                           uint8_t hash[CST_HASH_LEN])
{
    uint8_t secret[32], idb[10];
    char idhex[21], b64[48];
    TRY(cst_random(secret, sizeof(secret)));
    TRY(cst_random(idb, sizeof(idb)));
    cst_hex(idb, sizeof(idb), idhex);
    sodium_bin2base64(b64, sizeof(b64), secret, sizeof(secret),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    cst_err e = cst_fmt(token, CST_TOKEN_LEN + 1, "cst_%s_%s", idhex, b64);
    if (e == CST_OK)
        e = cst_fmt(id, CST_TOKEN_ID_LEN, "tk_%s", idhex);
    cst_sha256(secret, sizeof(secret), hash);
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(b64, sizeof(b64));
    return e;
}

cst_err cst_token_parse(const char *token, char id[CST_TOKEN_ID_LEN], uint8_t hash[CST_HASH_LEN])
{
    ENSURE(strlen(token) == CST_TOKEN_LEN && strncmp(token, "cst_", 4) == 0 && token[24] == '_',
           CST_ERR_UNAUTHENTICATED, "malformed bearer token");
    char idhex[21];
    memcpy(idhex, token + 4, 20);
    idhex[20] = '\0';
    TRY(cst_fmt(id, CST_TOKEN_ID_LEN, "tk_%s", idhex));
    ENSURE(cst_id_valid(id, "tk"), CST_ERR_UNAUTHENTICATED, "malformed bearer token");
    uint8_t secret[32];
    size_t got = 0;
    const char *end = NULL;
    int rc = sodium_base642bin(secret, sizeof(secret), token + 25, 43, NULL, &got, &end,
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    ENSURE(rc == 0 && got == sizeof(secret) && end == token + CST_TOKEN_LEN,
           CST_ERR_UNAUTHENTICATED, "malformed bearer token");
    cst_sha256(secret, sizeof(secret), hash);
    sodium_memzero(secret, sizeof(secret));
    return CST_OK;
}

bool cst_hash_equal(const uint8_t a[CST_HASH_LEN], const uint8_t b[CST_HASH_LEN])
{
    return sodium_memcmp(a, b, CST_HASH_LEN) == 0;
}
