/* test_credcache.c: the principal cache (IAM-5, issue 14): hits, misses, the bound on entries,
 * entries of an old principals generation reloaded, the store's generation moving only after
 * committed writes to principals (and not for recorded use), and a bearer check through the
 * cache: it still compares the secret, still refuses a disabled user on the very next request,
 * and keeps a session's last use as the store has it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "core/authn.h"
#include "core/credcache.h"
#include "util/util.h"

#define SEC 1000000LL
#define IDLE 900
#define MAX 43200

static char dir[] = "/tmp/cst-credcache-XXXXXX";
static cst_store *st;

static int setup(void **state)
{
    (void)state;
    return sodium_init() >= 0 && mkdtemp(dir) && cst_store_open(dir, true, &st) == CST_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cst_store_close(st);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

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
        char id[CST_TOKEN_ID_LEN];
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

static cst_user_row op_user;

static void make_operator(void)
{
    memset(&op_user, 0, sizeof(op_user));
    strcpy(op_user.id, "us_00000000000000000007");
    strcpy(op_user.tenant_id, CST_SYS_TENANT);
    strcpy(op_user.username, "ops");
    strcpy(op_user.pw_hash, "x");
    op_user.roles = CST_ROLE_BIT(CST_ROLE_SYS_ADMIN) | CST_ROLE_BIT(CST_ROLE_SYS_SECURITY);
    strcpy(op_user.grants, "[]");
    strcpy(op_user.recovery, "[]");
    assert_int_equal(cst_store_user_create(st, NULL, &op_user), CST_OK);
}

static void issue(bool session, int64_t now, char token[CST_TOKEN_LEN + 1], cst_token_row *tok)
{
    memset(tok, 0, sizeof(*tok));
    strcpy(tok->name, "test");
    tok->session = session;
    tok->perms = session ? 0 : CST_PERM_BIT(CST_PERM_SYS_TENANTS);
    tok->created_at = now;
    tok->last_used_at = now;
    assert_int_equal(cst_token_issue(st, NULL, &op_user, tok, token), CST_OK);
}

/* IAM-5: the generation moves after committed writes to principals, at the end of the
 * transaction that made them (never before: a reader could otherwise cache rows the commit is
 * about to change under the new generation), and not for recorded use. */
static void test_iam5_store_generation(void **state)
{
    (void)state;
    uint64_t g0 = cst_store_principals_gen(st);
    make_operator();
    uint64_t g1 = cst_store_principals_gen(st);
    assert_true(g1 != g0); /* a write that commits alone */
    char token[CST_TOKEN_LEN + 1];
    cst_token_row tok;
    issue(true, 1000, token, &tok);
    uint64_t g2 = cst_store_principals_gen(st);
    assert_true(g2 != g1);
    /* recorded use changes no generation */
    assert_int_equal(cst_store_token_touch(st, NULL, tok.id, 2000), CST_OK);
    assert_int_equal(cst_store_principals_gen(st), g2);
    /* inside a unit of work: unchanged until its transaction ends */
    cst_txn *t;
    cst_work *w;
    assert_int_equal(cst_txn_begin(&t), CST_OK);
    assert_int_equal(cst_work_begin(t, &w), CST_OK);
    op_user.roles = CST_ROLE_BIT(CST_ROLE_SYS_ADMIN);
    assert_int_equal(cst_store_user_update(st, w, &op_user), CST_OK);
    assert_int_equal(cst_store_principals_gen(st), g2);
    assert_int_equal(cst_work_end(w, true), CST_OK);
    assert_int_equal(cst_store_principals_gen(st), g2);
    assert_int_equal(cst_txn_commit(t), CST_OK);
    uint64_t g3 = cst_store_principals_gen(st);
    assert_true(g3 != g2);
    /* one that rolls back changes nothing, and may bump: a reload costs nothing else */
    assert_int_equal(cst_txn_begin(&t), CST_OK);
    assert_int_equal(cst_work_begin(t, &w), CST_OK);
    assert_int_equal(cst_store_token_delete(st, w, CST_SYS_TENANT, NULL, tok.id), CST_OK);
    assert_int_equal(cst_store_principals_gen(st), g3);
    assert_int_equal(cst_work_end(w, false), CST_OK);
    cst_txn_rollback(t);
    cst_token_row again;
    assert_int_equal(cst_store_token_get(st, NULL, tok.id, &again), CST_OK);
    sodium_memzero(token, sizeof(token));
}

/* IAM-5: a bearer check through the cache. */
static void test_iam5_bearer_through_cache(void **state)
{
    (void)state;
    int64_t t0 = 1700000000LL * SEC;
    cst_credcache *cache;
    assert_int_equal(cst_credcache_new(16, &cache), CST_OK);
    cst_cidr_list ops = {.n = 0};
    cst_authn_policy pol = {IDLE, MAX, &ops, cache};
    op_user.roles = CST_ROLE_BIT(CST_ROLE_SYS_ADMIN) | CST_ROLE_BIT(CST_ROLE_SYS_SECURITY);
    assert_int_equal(cst_store_user_update(st, NULL, &op_user), CST_OK);
    char token[CST_TOKEN_LEN + 1], api[CST_TOKEN_LEN + 1];
    cst_token_row sess, tok;
    issue(true, t0, token, &sess);
    issue(false, t0, api, &tok);
    cst_principal who;
    memset(&who, 0, sizeof(who));
    assert_int_equal(cst_authn_bearer(st, &pol, api, "192.0.2.1", t0 + SEC, &who), CST_OK);
    assert_int_equal(cst_credcache_size(cache), 1);
    assert_int_equal(who.perms, CST_PERM_BIT(CST_PERM_SYS_TENANTS));

    /* the cached rows are what the next check uses while the generation holds */
    cst_cred c;
    assert_true(cst_credcache_get(cache, tok.id, cst_store_principals_gen(st), &c));
    c.token.perms = 0;
    cst_credcache_put(cache, &c, cst_store_principals_gen(st));
    memset(&who, 0, sizeof(who));
    assert_int_equal(cst_authn_bearer(st, &pol, api, "192.0.2.1", t0 + SEC, &who), CST_OK);
    assert_int_equal(who.perms, 0);

    /* a wrong secret for a cached id is still refused (constant-time compare per request) */
    char wrong[CST_TOKEN_LEN + 1];
    strcpy(wrong, api);
    wrong[40] = wrong[40] == 'A' ? 'B' : 'A';
    memset(&who, 0, sizeof(who));
    assert_int_equal(cst_authn_bearer(st, &pol, wrong, "192.0.2.1", t0 + SEC, &who),
                     CST_ERR_UNAUTHENTICATED);
    assert_false(who.authenticated);
    /* so is an expired one, and one from outside the operators' allowlist, from the cache */
    assert_int_equal(cst_cidr_list_parse("198.51.100.0/24", &ops), CST_OK);
    assert_int_equal(cst_authn_bearer(st, &pol, api, "192.0.2.1", t0 + SEC, &who),
                     CST_ERR_IP_NOT_ALLOWED);
    ops.n = 0;

    /* IAM-5: a disabled user is refused on the very next request (the generation moved, so
     * the rows are read again) */
    op_user.disabled = true;
    assert_int_equal(cst_store_user_update(st, NULL, &op_user), CST_OK);
    assert_int_equal(cst_authn_bearer(st, &pol, api, "192.0.2.1", t0 + 2 * SEC, &who),
                     CST_ERR_UNAUTHENTICATED);
    op_user.disabled = false;
    assert_int_equal(cst_store_user_update(st, NULL, &op_user), CST_OK);
    memset(&who, 0, sizeof(who));
    assert_int_equal(cst_authn_bearer(st, &pol, api, "192.0.2.1", t0 + 2 * SEC, &who), CST_OK);
    assert_int_equal(who.perms, CST_PERM_BIT(CST_PERM_SYS_TENANTS));
    /* a deleted token, likewise */
    assert_int_equal(cst_store_token_delete(st, NULL, CST_SYS_TENANT, NULL, tok.id), CST_OK);
    assert_int_equal(cst_authn_bearer(st, &pol, api, "192.0.2.1", t0 + 3 * SEC, &who),
                     CST_ERR_UNAUTHENTICATED);

    /* IAM-9: a session's use recorded in the store is the cached one: used at t0 + 31 s (past
     * the write-back interval), it idles out IDLE seconds after that, not after t0 */
    assert_int_equal(cst_authn_bearer(st, &pol, token, "192.0.2.1", t0 + 31 * SEC, &who), CST_OK);
    int64_t late = t0 + (31 + IDLE - 1) * SEC;
    assert_int_equal(cst_authn_bearer(st, &pol, token, "192.0.2.1", late, &who), CST_OK);
    assert_true(cst_credcache_get(cache, sess.id, cst_store_principals_gen(st), &c));
    cst_token_row stored;
    assert_int_equal(cst_store_token_get(st, NULL, sess.id, &stored), CST_OK);
    assert_int_equal(c.token.last_used_at, stored.last_used_at);
    assert_int_equal(cst_authn_bearer(st, &pol, token, "192.0.2.1", late + (IDLE + 1) * SEC, &who),
                     CST_ERR_UNAUTHENTICATED);
    sodium_memzero(&c, sizeof(c));
    sodium_memzero(token, sizeof(token));
    sodium_memzero(api, sizeof(api));
    cst_credcache_free(cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam5_cache_hit_and_miss),
        cmocka_unit_test(test_iam5_cache_generation_mismatch_reloads),
        cmocka_unit_test(test_iam5_cache_bounded_lru),
        cmocka_unit_test(test_iam5_cache_off_and_touched),
        cmocka_unit_test(test_iam5_store_generation),
        cmocka_unit_test(test_iam5_bearer_through_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
