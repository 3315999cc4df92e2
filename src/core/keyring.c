/* keyring.c: a tenant's DEK versions (ENC-4) and the rules of their rotation. */
#include "core/keyring.h"

#include <sodium.h>
#include <string.h>

const cst_key *cst_dek_get(const cst_dek_ring *r, uint32_t version)
{
    size_t n = atomic_load_explicit(&r->n, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (r->versions[i] == version)
            return &r->keys[i];
    return NULL;
}

uint32_t cst_dek_current(const cst_dek_ring *r)
{
    return atomic_load_explicit(&r->current, memory_order_acquire);
}

const cst_key *cst_dek_use(cst_dek_ring *r, uint32_t *version, int64_t n)
{
    *version = cst_dek_current(r);
    atomic_fetch_add(&r->encryptions, n);
    atomic_fetch_add(&r->unflushed, n);
    return cst_dek_get(r, *version);
}

cst_err cst_dek_add(cst_dek_ring *r, uint32_t version, cst_key *key, bool current,
                    int64_t encryptions)
{
    size_t n = atomic_load_explicit(&r->n, memory_order_acquire);
    ENSURE(cst_dek_get(r, version) == NULL, CST_ERR_CONFLICT, "DEK version %u is held already",
           version);
    ENSURE(n < CST_DEK_VERSIONS_MAX, CST_ERR_CONFLICT,
           "the tenant holds %d DEK versions, the most there can be", CST_DEK_VERSIONS_MAX);
    r->keys[n] = *key;
    memset(key, 0, sizeof(*key));
    r->versions[n] = version;
    atomic_store_explicit(&r->n, n + 1, memory_order_release);
    if (current && version > cst_dek_current(r)) {
        atomic_store(&r->encryptions, encryptions);
        atomic_store_explicit(&r->current, version, memory_order_release);
    }
    return CST_OK;
}

void cst_dek_wipe(cst_dek_ring *r)
{
    size_t n = atomic_load(&r->n);
    for (size_t i = 0; i < n; i++)
        if (r->keys[i].k)
            sodium_memzero(r->keys[i].k, CST_KEY_LEN);
}

void cst_dek_free(cst_dek_ring *r)
{
    size_t n = atomic_load(&r->n);
    for (size_t i = 0; i < n; i++)
        cst_key_free(&r->keys[i]);
    atomic_store(&r->n, 0);
}

int64_t cst_dek_take_unflushed(cst_dek_ring *r, uint32_t *version)
{
    *version = cst_dek_current(r);
    return atomic_exchange(&r->unflushed, 0);
}

const char *cst_dek_rotation_due(int64_t encryptions, int64_t created_at, int64_t now,
                                 int64_t max_encryptions, int64_t max_age_us)
{
    if (max_encryptions > 0 && encryptions >= max_encryptions)
        return "encryptions";
    if (max_age_us > 0 && created_at > 0 && now - created_at >= max_age_us)
        return "age";
    return NULL;
}

const char *cst_dek_state(uint32_t version, uint32_t current, int64_t records, bool key_present)
{
    if (!key_present)
        return "destroyed";
    if (version == current)
        return "current";
    return records > 0 ? "retiring" : "retired";
}
