/* secrets.c: password policy and hashing, bearer tokens. */
#include "util/json.h"
#include "crypto/secrets.h"

#include <ctype.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zxcvbn.h>

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

/* The common-password list compiled into the binary (data/common-passwords.txt). */
extern const unsigned char cst_common_passwords[];
extern const size_t cst_common_passwords_len;

static char **common;
static size_t ncommon;
static pthread_once_t common_once = PTHREAD_ONCE_INIT;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_common(void)
{
    static char *text;
    text = malloc(cst_common_passwords_len + 1);
    if (!text)
        return;
    memcpy(text, cst_common_passwords, cst_common_passwords_len);
    text[cst_common_passwords_len] = '\0';
    size_t lines = 0;
    for (size_t i = 0; i < cst_common_passwords_len; i++)
        lines += text[i] == '\n';
    common = calloc(lines + 1, sizeof(*common));
    if (!common)
        return;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (l[0] != '#')
            common[ncommon++] = l;
    qsort(common, ncommon, sizeof(*common), cmp_str);
}

size_t cst_password_common_count(void)
{
    pthread_once(&common_once, load_common);
    return ncommon;
}

bool cst_password_is_common(const char *pw)
{
    char lower[CST_PW_MAX + 1];
    size_t n = strlen(pw);
    if (n > CST_PW_MAX)
        return false;
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)tolower((unsigned char)pw[i]);
    pthread_once(&common_once, load_common);
    const char *key = lower;
    bool found = ncommon && bsearch(&key, common, ncommon, sizeof(*common), cmp_str) != NULL;
    sodium_memzero(lower, sizeof(lower));
    return found;
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
    ENSURE(!cst_password_is_common(pw), CST_ERR_INVALID,
           "password is on the list of the %zu most common passwords", cst_password_common_count());
    return cst_password_strength(pw, username, tenant_name);
}

/* What a zxcvbn match type says about a password, in the words of the refusal. */
static const char *match_reason(int type)
{
    switch (type & ~MULTIPLE_MATCH) {
    case DICTIONARY_MATCH:
        return "a dictionary word";
    case DICT_LEET_MATCH:
        return "a dictionary word with look-alike substitutions";
    case USER_MATCH:
    case USER_LEET_MATCH:
        return "the username or tenant name";
    case REPEATS_MATCH:
        return "repeated characters";
    case SEQUENCE_MATCH:
        return "a sequence such as abc or 123";
    case SPATIAL_MATCH:
        return "a keyboard walk such as qwerty";
    case DATE_MATCH:
        return "a date";
    case YEAR_MATCH:
        return "a year";
    default:
        return NULL;
    }
}

/* Appends "what" to the list in out unless it is already there. */
static void reason_add(char *out, size_t n, const char *what)
{
    if (!what || strstr(out, what))
        return;
    size_t len = strlen(out);
    (void)snprintf(out + len, n - len, "%s%s", len ? ", " : "", what);
}

cst_err cst_password_strength(const char *pw, const char *username, const char *tenant_name)
{
    const char *user_dict[3] = {NULL, NULL, NULL};
    size_t k = 0;
    if (username && *username)
        user_dict[k++] = username;
    if (tenant_name && *tenant_name)
        user_dict[k++] = tenant_name;
    ZxcMatch_t *info = NULL;
    double bits = ZxcvbnMatch(pw, user_dict, &info);
    char why[256] = "", repeated[256] = "";
    for (ZxcMatch_t *m = info; m; m = m->Next) {
        reason_add(why, sizeof(why), match_reason(m->Type));
        if (m->Type & MULTIPLE_MATCH)
            reason_add(repeated, sizeof(repeated), "a repeated part");
    }
    ZxcvbnFreeInfo(info);
    reason_add(why, sizeof(why), repeated[0] ? repeated : NULL);
    ENSURE(bits >= CST_PW_MIN_BITS, CST_ERR_INVALID,
           "password is too easy to guess (about %.0f bits of %d needed): it is built from %s; "
           "use several unrelated words or a generated password",
           bits, CST_PW_MIN_BITS, why[0] ? why : "a predictable pattern");
    return CST_OK;
}

cst_err cst_password_history_check(const char *pw, const char *history_json)
{
    json_t *h = json_loads(history_json ? history_json : "[]", 0, NULL);
    size_t i;
    json_t *v;
    bool reused = false;
    json_array_foreach(h, i, v)
    {
        if (json_is_string(v) && cst_password_verify(pw, json_string_value(v)))
            reused = true;
    }
    json_decref(h);
    ENSURE(!reused, CST_ERR_INVALID, "password must not be one of your last %d passwords",
           CST_PW_HISTORY);
    return CST_OK;
}

cst_err cst_password_history_push(const char *history_json, const char *hash, char *out, size_t n)
{
    json_t *h = json_loads(history_json && *history_json ? history_json : "[]", 0, NULL);
    if (!json_is_array(h)) {
        json_decref(h);
        h = json_array();
    }
    json_array_insert_new(h, 0, json_string(hash));
    while (json_array_size(h) > CST_PW_HISTORY)
        json_array_remove(h, json_array_size(h) - 1);
    char *text = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    ENSURE(text, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_fmt(out, n, "%s", text);
    cst_json_free_text(text);
    return e;
}

cst_err cst_password_hash(const char *pw, char out[CST_PWHASH_LEN])
{
    ENSURE(crypto_pwhash_str(out, pw, strlen(pw), PWHASH_OPSLIMIT, PWHASH_MEMLIMIT) == 0,
           CST_ERR_INTERNAL, "password hashing failed (out of memory?)");
    return CST_OK;
}

/* IAM-2: the hash an unknown user's password is checked against, made once (under a once
 * guard: concurrent first logins must neither race on it nor each pay for making it). */
static char dummy[CST_PWHASH_LEN];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
    if (crypto_pwhash_str(dummy, "custodia-dummy-password-0", 25, PWHASH_OPSLIMIT,
                          PWHASH_MEMLIMIT) != 0)
        dummy[0] = '\0';
}

bool cst_password_verify(const char *pw, const char *hash)
{
    if (!hash) {
        /* Spend the same work on a hash nobody's password matches. */
        pthread_once(&dummy_once, make_dummy);
        if (!dummy[0])
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
