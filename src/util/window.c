/* window.c: bounded sliding-window tables for the detection rules (DET-1). */
#include "util/window.h"

#include <pthread.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define WAYS 8

typedef struct slot {
    uint64_t item; /* keyed hash of the item, or a per-entry serial; 0: free */
    int64_t t;
} slot;

typedef struct entry {
    uint64_t key; /* keyed hash of the key; 0: free */
    int64_t newest;
    uint64_t serial; /* names events that have no item */
    slot s[CST_WINDOW_SLOTS];
} entry;

struct cst_window {
    pthread_mutex_t mu;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    size_t nsets;
    entry *e;
};

cst_err cst_window_new(size_t capacity, cst_window **out)
{
    ENSURE(capacity >= WAYS && capacity <= (1u << 20), CST_ERR_INVALID,
           "window: capacity %zu out of range", capacity);
    cst_window *w = calloc(1, sizeof(*w));
    ENSURE(w, CST_ERR_INTERNAL, "out of memory");
    w->nsets = (capacity + WAYS - 1) / WAYS;
    w->e = calloc(w->nsets * WAYS, sizeof(*w->e));
    if (!w->e) {
        free(w);
        return cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    randombytes_buf(w->hash_key, sizeof(w->hash_key));
    pthread_mutex_init(&w->mu, NULL);
    *out = w;
    return CST_OK;
}

void cst_window_free(cst_window *w)
{
    if (!w)
        return;
    pthread_mutex_destroy(&w->mu);
    free(w->e);
    free(w);
}

static uint64_t hash(const cst_window *w, const char *p, size_t n)
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, (const unsigned char *)p, n, w->hash_key);
    return h ? h : 1;
}

/* key's entry; when absent and make, a new one in place of the free or least recently used. */
static entry *find(cst_window *w, uint64_t h, bool make)
{
    entry *set = &w->e[(h % w->nsets) * WAYS], *victim = &set[0];
    for (int i = 0; i < WAYS; i++) {
        if (set[i].key == h)
            return &set[i];
        if (victim->key != 0 && (set[i].key == 0 || set[i].newest < victim->newest))
            victim = &set[i];
    }
    if (!make)
        return NULL;
    memset(victim, 0, sizeof(*victim));
    victim->key = h;
    return victim;
}

static int count(const entry *e, int64_t since)
{
    int c = 0;
    for (int i = 0; i < CST_WINDOW_SLOTS; i++)
        c += e->s[i].item != 0 && e->s[i].t > since;
    return c;
}

static void put(entry *e, uint64_t item, int64_t t)
{
    slot *old = &e->s[0];
    for (int i = 0; i < CST_WINDOW_SLOTS; i++) {
        if (e->s[i].item == item) {
            old = &e->s[i];
            break;
        }
        if (old->item != 0 && (e->s[i].item == 0 || e->s[i].t < old->t))
            old = &e->s[i];
    }
    old->item = item;
    old->t = t;
    if (t > e->newest)
        e->newest = t;
}

int cst_window_note(cst_window *w, const char *key, size_t key_len, const char *item,
                    size_t item_len, int64_t t, int64_t since)
{
    uint64_t h = hash(w, key, key_len);
    pthread_mutex_lock(&w->mu);
    entry *e = find(w, h, true);
    uint64_t it = item ? hash(w, item, item_len) : ++e->serial;
    put(e, it ? it : 1, t);
    int c = count(e, since);
    pthread_mutex_unlock(&w->mu);
    return c;
}

int cst_window_count(cst_window *w, const char *key, size_t key_len, int64_t since)
{
    uint64_t h = hash(w, key, key_len);
    pthread_mutex_lock(&w->mu);
    entry *e = find(w, h, false);
    int c = e ? count(e, since) : 0;
    pthread_mutex_unlock(&w->mu);
    return c;
}

void cst_window_forget(cst_window *w, const char *key, size_t key_len)
{
    uint64_t h = hash(w, key, key_len);
    pthread_mutex_lock(&w->mu);
    entry *e = find(w, h, false);
    if (e)
        memset(e, 0, sizeof(*e));
    pthread_mutex_unlock(&w->mu);
}
