/* totp.c: liboath behind custodia's types. */
#include "crypto/totp.h"

#include <ctype.h>
#include <liboath/oath.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

cst_err cst_totp_init(void)
{
    ENSURE(oath_init() == OATH_OK, CST_ERR_INTERNAL, "liboath failed to initialise");
    return CST_OK;
}

cst_err cst_totp_code(const uint8_t *secret, size_t len, int64_t step, unsigned digits,
                      char out[16])
{
    ENSURE(step >= 0 && digits >= 6 && digits <= 8, CST_ERR_INVALID, "bad TOTP parameters");
    int rc = oath_totp_generate2((const char *)secret, len, (time_t)(step * CST_TOTP_STEP),
                                 CST_TOTP_STEP, 0, digits, 0 /* HMAC-SHA1 */, out);
    ENSURE(rc == OATH_OK, CST_ERR_INTERNAL, "TOTP generation failed");
    return CST_OK;
}

cst_err cst_totp_verify(const uint8_t *secret, size_t len, const char *code, int64_t now_s,
                        int64_t last_step, int64_t *step)
{
    size_t n = strlen(code);
    ENSURE(n == CST_TOTP_DIGITS, CST_ERR_UNAUTHENTICATED, "invalid two-factor code");
    for (const char *c = code; *c; c++)
        ENSURE(isdigit((unsigned char)*c), CST_ERR_UNAUTHENTICATED, "invalid two-factor code");
    int64_t now_step = now_s / CST_TOTP_STEP;
    int64_t found = -1;
    /* Compare against every step in the window, in constant time per comparison. */
    for (int64_t s = now_step - CST_TOTP_WINDOW; s <= now_step + CST_TOTP_WINDOW; s++) {
        char want[16];
        TRY(cst_totp_code(secret, len, s, CST_TOTP_DIGITS, want));
        if (sodium_memcmp(want, code, CST_TOTP_DIGITS) == 0 && found < 0)
            found = s;
        sodium_memzero(want, sizeof(want));
    }
    ENSURE(found >= 0, CST_ERR_UNAUTHENTICATED, "invalid two-factor code");
    ENSURE(found > last_step, CST_ERR_UNAUTHENTICATED,
           "this two-factor code was already used; wait for the next one");
    *step = found;
    return CST_OK;
}

static bool uri_safe(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-._@", *s))
            return false;
    return true;
}

cst_err cst_totp_uri(const uint8_t *secret, size_t len, const char *issuer, const char *account,
                     char *b32, size_t b32n, char *uri, size_t urin)
{
    char *enc = NULL;
    size_t enclen = 0;
    ENSURE(uri_safe(issuer) && uri_safe(account), CST_ERR_INVALID,
           "names in an otpauth URI must be URL-safe");
    ENSURE(oath_base32_encode((const char *)secret, len, &enc, &enclen) == OATH_OK,
           CST_ERR_INTERNAL, "base32 encoding failed");
    /* authenticator apps take the secret without padding */
    while (enclen > 0 && enc[enclen - 1] == '=')
        enc[--enclen] = '\0';
    cst_err e = cst_fmt(b32, b32n, "%s", enc);
    if (e == CST_OK)
        e = cst_fmt(uri, urin,
                    "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=%d&period=%d",
                    issuer, account, enc, issuer, CST_TOTP_DIGITS, CST_TOTP_STEP);
    sodium_memzero(enc, enclen);
    free(enc);
    return e;
}

cst_err cst_recovery_code(char out[CST_RECOVERY_CODE_LEN + 1])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint8_t r[24];
    TRY(cst_random(r, sizeof(r)));
    size_t o = 0;
    for (int i = 0; i < 24; i++) {
        if (i && i % 4 == 0)
            out[o++] = '-';
        out[o++] = alphabet[r[i] & 31]; /* 24 x 5 bits = 120 bits */
    }
    out[o] = '\0';
    sodium_memzero(r, sizeof(r));
    return CST_OK;
}

void cst_recovery_hash(const char *code, uint8_t out[CST_HASH_LEN])
{
    char norm[64];
    size_t n = 0;
    for (const char *c = code; *c && n < sizeof(norm) - 1; c++)
        if (*c != '-' && *c != ' ')
            norm[n++] = (char)toupper((unsigned char)*c);
    norm[n] = '\0';
    cst_sha256(norm, n, out);
    sodium_memzero(norm, sizeof(norm));
}
