/* throttle.c: bounded token-bucket tables for login throttling (IAM-2). */
#include "util/throttle.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 8
#define MINUTE_US (60 * 1000000LL)

typedef struct bucket {
    uint64_t key;    /* keyed hash of the key; 0: free */
    int64_t updated; /* when tokens was last brought up to date (us) */
    int64_t tokens;  /* attempts left, in units of 1/MINUTE_US of an attempt */
} bucket;

struct cst_throttle {
    pthread_mutex_t mu;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    size_t nsets;
    int64_t full; /* per_minute attempts, in the same units */
    int per_minute;
    bucket *b;
};

cst_err cst_throttle_new(size_t capacity, int per_minute, cst_throttle **out)
{
    ENSURE(capacity >= WAYS && capacity <= (1u << 24) && per_minute >= 1, CST_ERR_INVALID,
           "throttle: capacity %zu or rate %d out of range", capacity, per_minute);
    cst_throttle *t = calloc(1, sizeof(*t));
    ENSURE(t, CST_ERR_INTERNAL, "out of memory");
    t->nsets = (capacity + WAYS - 1) / WAYS;
    t->b = calloc(t->nsets * WAYS, sizeof(*t->b));
    if (!t->b) {
        free(t);
        return cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    randombytes_buf(t->hash_key, sizeof(t->hash_key));
    t->per_minute = per_minute;
    t->full = (int64_t)per_minute * MINUTE_US;
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return CST_OK;
}

void cst_throttle_free(cst_throttle *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t->b);
    free(t);
}

/* A bucket's tokens at now: per_minute attempts per minute since its last use, never above
 * full. Does not change the bucket, so scanning a set leaves its use times alone. */
static int64_t level(const cst_throttle *t, const bucket *b, int64_t now)
{
    int64_t dt = now - b->updated;
    if (dt <= 0)
        return b->tokens;
    if (dt >= MINUTE_US) /* a whole minute refills any bucket (and dt * rate cannot overflow) */
        return t->full;
    int64_t v = b->tokens + dt * t->per_minute;
    return v > t->full ? t->full : v;
}

static bucket *find_or_evict(cst_throttle *t, uint64_t h, int64_t now)
{
    bucket *set = &t->b[(h % t->nsets) * WAYS], *victim = NULL;
    for (int i = 0; i < WAYS; i++)
        if (set[i].key == h)
            return &set[i];
    /* Evict what carries least: a free bucket, else the fullest (a full one remembers
     * nothing), the least recently used among equals. A throttled key is nearly empty, so
     * fresh keys evict each other first and flooding cannot free it. */
    int64_t best = -1;
    for (int i = 0; i < WAYS; i++) {
        int64_t v = set[i].key == 0 ? INT64_MAX : level(t, &set[i], now);
        if (v > best || (v == best && set[i].updated < victim->updated)) {
            best = v;
            victim = &set[i];
        }
    }
    victim->key = h;
    victim->updated = now;
    victim->tokens = t->full;
    return victim;
}

bool cst_throttle_take(cst_throttle *t, const char *key, size_t key_len, int64_t now,
                       int *retry_after)
{
    uint8_t hb[crypto_shorthash_BYTES];
    crypto_shorthash(hb, (const unsigned char *)key, key_len, t->hash_key);
    uint64_t h;
    memcpy(&h, hb, sizeof(h));
    h |= 1; /* 0 marks a free bucket */
    pthread_mutex_lock(&t->mu);
    bucket *b = find_or_evict(t, h, now);
    b->tokens = level(t, b, now);
    if (now > b->updated)
        b->updated = now;
    bool ok = b->tokens >= MINUTE_US;
    if (ok)
        b->tokens -= MINUTE_US;
    else {
        /* (MINUTE_US - tokens) units accrue at per_minute units per microsecond */
        int64_t wait_us = (MINUTE_US - b->tokens + t->per_minute - 1) / t->per_minute;
        *retry_after = (int)((wait_us + 999999) / 1000000);
        if (*retry_after < 1)
            *retry_after = 1;
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

/* ---- failure counts for accounts that do not exist ---- */

typedef struct failure {
    uint64_t key; /* 0: free */
    int64_t updated;
    int64_t locked_until;
    int failed;
} failure;

struct cst_failtable {
    pthread_mutex_t mu;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    size_t nsets;
    failure *f;
};

cst_err cst_failtable_new(size_t capacity, cst_failtable **out)
{
    ENSURE(capacity >= WAYS && capacity <= (1u << 24), CST_ERR_INVALID,
           "failure table: capacity %zu out of range", capacity);
    cst_failtable *t = calloc(1, sizeof(*t));
    ENSURE(t, CST_ERR_INTERNAL, "out of memory");
    t->nsets = (capacity + WAYS - 1) / WAYS;
    t->f = calloc(t->nsets * WAYS, sizeof(*t->f));
    if (!t->f) {
        free(t);
        return cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    randombytes_buf(t->hash_key, sizeof(t->hash_key));
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return CST_OK;
}

void cst_failtable_free(cst_failtable *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->mu);
    free(t->f);
    free(t);
}

static uint64_t fail_hash(const cst_failtable *t, const char *key, size_t key_len)
{
    uint8_t hb[crypto_shorthash_BYTES];
    crypto_shorthash(hb, (const unsigned char *)key, key_len, t->hash_key);
    uint64_t h;
    memcpy(&h, hb, sizeof(h));
    return h | 1;
}

/* key's entry; with create, a new one replacing a free, an unlocked or the stalest entry. */
static failure *fail_find(cst_failtable *t, uint64_t h, int64_t now, bool create)
{
    failure *set = &t->f[(h % t->nsets) * WAYS], *victim = NULL;
    for (int i = 0; i < WAYS; i++)
        if (set[i].key == h)
            return &set[i];
    if (!create)
        return NULL;
    for (int i = 0; i < WAYS && !victim; i++)
        if (set[i].key == 0)
            victim = &set[i];
    for (int i = 0; i < WAYS && !victim; i++)
        if (set[i].locked_until <= now)
            victim = &set[i];
    if (!victim) {
        victim = &set[0];
        for (int i = 1; i < WAYS; i++)
            if (set[i].updated < victim->updated)
                victim = &set[i];
    }
    memset(victim, 0, sizeof(*victim));
    victim->key = h;
    return victim;
}

int64_t cst_failtable_locked_until(cst_failtable *t, const char *key, size_t key_len, int64_t now)
{
    uint64_t h = fail_hash(t, key, key_len);
    pthread_mutex_lock(&t->mu);
    const failure *f = fail_find(t, h, now, false);
    int64_t until = f && f->locked_until > now ? f->locked_until : 0;
    pthread_mutex_unlock(&t->mu);
    return until;
}

void cst_failtable_fail(cst_failtable *t, const char *key, size_t key_len, int64_t now,
                        int threshold, int64_t lock_us, int *failed, int64_t *locked_until)
{
    uint64_t h = fail_hash(t, key, key_len);
    pthread_mutex_lock(&t->mu);
    failure *f = fail_find(t, h, now, true);
    if (f->locked_until && f->locked_until <= now) { /* an expired lock starts a new count */
        f->locked_until = 0;
        f->failed = 0;
    }
    f->failed++;
    if (f->failed >= threshold)
        f->locked_until = now + lock_us;
    f->updated = now;
    *failed = f->failed;
    *locked_until = f->locked_until;
    pthread_mutex_unlock(&t->mu);
}
