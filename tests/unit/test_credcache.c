/* test_credcache.c: the principal cache (IAM-5, issue 14): hits, misses, the bound on entries,
 * entries of an old principals generation dropped, recorded use only moving forward. The store's
 * generation is tested in test_store.c, a bearer check through the cache in test_authz.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "core/credcache.h"
#include "util/util.h"

#define IDLE 900
#define MAX 43200

static cst_cred cred_of(const char *token_id, uint32_t roles)
{
    cst_cred c;
    memset(&c, 0, sizeof(c));
    strcpy(c.token.id, token_id);
    c.user.roles = roles;
    c.idle_max = IDLE;
    c.session_max = MAX;
    return c;
}

static bool has(cst_credcache *c, const char *id, uint64_t gen)
{
    cst_cred out;
    return cst_credcache_get(c, id, gen, &out);
}

static void test_iam5_cache_hit_and_miss(void **state)
{
    (void)state;
    cst_credcache *c;
    assert_int_equal(cst_credcache_new(4, &c), CST_OK);
    cst_cred out;
    assert_false(cst_credcache_get(c, "tk_a", 1, &out));
    cst_cred a = cred_of("tk_a", 7);
    cst_credcache_put(c, &a, 1);
    memset(&out, 0, sizeof(out));
    assert_true(cst_credcache_get(c, "tk_a", 1, &out));
    assert_memory_equal(&out, &a, sizeof(a));
    assert_false(has(c, "tk_b", 1));
    assert_int_equal(cst_credcache_size(c), 1);
    cst_credcache_free(c);
}

/* IAM-5: an entry loaded before a change to principals is never used after it. */
static void test_iam5_cache_generation_mismatch_reloads(void **state)
{
    (void)state;
    cst_credcache *c;
    assert_int_equal(cst_credcache_new(4, &c), CST_OK);
    cst_cred a = cred_of("tk_a", 1);
    cst_credcache_put(c, &a, 5);
    assert_false(has(c, "tk_a", 6)); /* the generation moved: a miss, and the entry is gone */
    assert_int_equal(cst_credcache_size(c), 0);
    assert_false(has(c, "tk_a", 5));
    /* a reader that loaded at an older generation does not replace a newer entry */
    cst_cred newer = cred_of("tk_a", 2), older = cred_of("tk_a", 3);
    cst_credcache_put(c, &newer, 6);
    cst_credcache_put(c, &older, 5);
    cst_cred out;
    assert_true(cst_credcache_get(c, "tk_a", 6, &out));
    assert_int_equal(out.user.roles, 2);
    cst_credcache_free(c);
}

static void test_iam5_cache_bounded_lru(void **state)
{
    (void)state;
    cst_credcache *c;
    assert_int_equal(cst_credcache_new(3, &c), CST_OK);
    const char *ids[] = {"tk_a", "tk_b", "tk_c"};
    for (int i = 0; i < 3; i++) {
        cst_cred x = cred_of(ids[i], 0);
        cst_credcache_put(c, &x, 1);
    }
    assert_true(has(c, "tk_a", 1)); /* a is now the most recently used; b the least */
    cst_cred d = cred_of("tk_d", 0);
    cst_credcache_put(c, &d, 1);
    assert_int_equal(cst_credcache_size(c), 3);
    assert_false(has(c, "tk_b", 1));
    assert_true(has(c, "tk_a", 1) && has(c, "tk_c", 1) && has(c, "tk_d", 1));
    /* many more credentials than entries: the bound holds, the newest is kept */
    for (int i = 0; i < 1000; i++) {
        char id[32];
        snprintf(id, sizeof(id), "tk_%020d", i);
        cst_cred x = cred_of(id, 0);
        cst_credcache_put(c, &x, 1);
        assert_true(cst_credcache_size(c) <= 3);
    }
    assert_true(has(c, "tk_00000000000000000999", 1));
    assert_false(has(c, "tk_00000000000000000000", 1));
    cst_credcache_free(c);
}

static void test_iam5_cache_off_and_touched(void **state)
{
    (void)state;
    cst_credcache *c = (cst_credcache *)1;
    assert_int_equal(cst_credcache_new(0, &c), CST_OK);
    assert_null(c); /* auth.cache_entries = 0: no cache, every lookup misses */
    cst_cred a = cred_of("tk_a", 0);
    cst_credcache_put(NULL, &a, 1);
    assert_false(has(NULL, "tk_a", 1));
    assert_int_equal(cst_credcache_size(NULL), 0);
    /* a recorded use moves the cached one forward, never back */
    assert_int_equal(cst_credcache_new(2, &c), CST_OK);
    a.token.last_used_at = 100;
    a.tenant.last_active_at = 100;
    cst_credcache_put(c, &a, 1);
    cst_credcache_touched(c, "tk_a", 200, 0);
    cst_credcache_touched(c, "tk_a", 150, 50);
    cst_credcache_touched(c, "tk_none", 300, 300);
    cst_cred out;
    assert_true(cst_credcache_get(c, "tk_a", 1, &out));
    assert_int_equal(out.token.last_used_at, 200);
    assert_int_equal(out.tenant.last_active_at, 100);
    cst_credcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam5_cache_hit_and_miss),
        cmocka_unit_test(test_iam5_cache_generation_mismatch_reloads),
        cmocka_unit_test(test_iam5_cache_bounded_lru),
        cmocka_unit_test(test_iam5_cache_off_and_touched),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
