/* credcache.c: the principal cache (IAM-5): a hash table of entries by token id (SipHash under a
 * random key, so that ids cannot be chosen to share a chain) with a least-recently-used list,
 * bounded in entries, under one mutex. Entries are wiped before they are freed. */
#include "core/credcache.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *next;          /* in its hash chain */
    struct entry *newer, *older; /* in the LRU list */
    uint64_t gen;                /* the generation read before its rows */
    cst_cred cred;
} entry;

struct cst_credcache {
    pthread_mutex_t mu;
    size_t cap, n, mask;
    entry **chains; /* mask + 1 of them */
    entry *newest, *oldest;
    uint8_t key[crypto_shorthash_KEYBYTES];
};

cst_err cst_credcache_new(size_t entries, cst_credcache **out)
{
    *out = NULL;
    if (entries == 0)
        return CST_OK;
    size_t nchains = 16;
    while (nchains < entries && nchains < ((size_t)1 << 30))
        nchains <<= 1;
    cst_credcache *c = calloc(1, sizeof(*c));
    entry **chains = calloc(nchains, sizeof(*chains));
    if (!c || !chains) {
        free(c);
        free(chains);
        return cst_fail(CST_ERR_INTERNAL, "out of memory");
    }
    pthread_mutex_init(&c->mu, NULL);
    c->cap = entries;
    c->mask = nchains - 1;
    c->chains = chains;
    crypto_shorthash_keygen(c->key);
    *out = c;
    return CST_OK;
}

static entry **chain_of(cst_credcache *c, const char *id)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)id, strlen(id), c->key);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return &c->chains[v & c->mask];
}

/* The link that points at the entry of id (the chain's head or an entry's next). */
static entry **find(cst_credcache *c, const char *id)
{
    entry **p = chain_of(c, id);
    while (*p && strcmp((*p)->cred.token.id, id) != 0)
        p = &(*p)->next;
    return p;
}

static void lru_unlink(cst_credcache *c, entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(cst_credcache *c, entry *e)
{
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest)
        c->newest->newer = e;
    c->newest = e;
    if (!c->oldest)
        c->oldest = e;
}

/* Removes the entry *link points at, wiping it. */
static void drop(cst_credcache *c, entry **link)
{
    entry *e = *link;
    *link = e->next;
    lru_unlink(c, e);
    sodium_memzero(e, sizeof(*e));
    free(e);
    c->n--;
}

void cst_credcache_free(cst_credcache *c)
{
    if (!c)
        return;
    while (c->oldest)
        drop(c, find(c, c->oldest->cred.token.id));
    free(c->chains);
    pthread_mutex_destroy(&c->mu);
    sodium_memzero(c, sizeof(*c));
    free(c);
}

bool cst_credcache_get(cst_credcache *c, const char *id, uint64_t gen, cst_cred *out)
{
    if (!c)
        return false;
    bool hit = false;
    pthread_mutex_lock(&c->mu);
    entry **link = find(c, id);
    if (*link && (*link)->gen == gen) {
        entry *e = *link;
        lru_unlink(c, e);
        lru_push(c, e);
        *out = e->cred;
        hit = true;
    } else if (*link) {
        drop(c, link); /* IAM-5: loaded before a change to principals */
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

/* A new entry for cred's token id (none exists), room made for it; NULL when out of memory.
 * The caller holds the lock. */
static entry *add(cst_credcache *c, const cst_cred *cred)
{
    entry *e = malloc(sizeof(*e));
    if (!e)
        return NULL;
    if (c->n >= c->cap)
        drop(c, find(c, c->oldest->cred.token.id));
    entry **link = find(c, cred->token.id); /* after the drop, which may have changed it */
    e->next = *link;
    *link = e;
    lru_push(c, e);
    c->n++;
    return e;
}

void cst_credcache_put(cst_credcache *c, const cst_cred *cred, uint64_t gen)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    entry **link = find(c, cred->token.id);
    entry *e = *link;
    if (e && e->gen > gen) {
        e = NULL; /* keep what a later reader loaded */
    } else if (e) {
        lru_unlink(c, e);
        lru_push(c, e);
    } else {
        e = add(c, cred);
    }
    if (e) {
        e->gen = gen;
        e->cred = *cred;
    }
    pthread_mutex_unlock(&c->mu);
}

void cst_credcache_touched(cst_credcache *c, const char *id, int64_t token_used_at,
                           int64_t tenant_active_at)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    entry *e = *find(c, id);
    if (e && token_used_at > e->cred.token.last_used_at)
        e->cred.token.last_used_at = token_used_at;
    if (e && tenant_active_at > e->cred.tenant.last_active_at)
        e->cred.tenant.last_active_at = tenant_active_at;
    pthread_mutex_unlock(&c->mu);
}

size_t cst_credcache_size(cst_credcache *c)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}
