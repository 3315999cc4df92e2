/* test_authz.c: the authorization and authentication decisions of core/, without a server:
 * bucket grants and a token's rights narrowed by its user's roles (IAM-4), the operator/tenant
 * split (IAM-8), one-time passwords and two-factor enrolment (SPEC §9, IAM-3), the IP allowlist
 * decision (IAM-7), and a bearer token against a store at an injected clock: expiry and session
 * timeouts (IAM-9), disabled users and deleted tokens (IAM-5), also through the principal
 * cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "core/authn.h"
#include "core/authz.h"
#include "core/credcache.h"
#include "core/tenant_state.h"
#include "util/util.h"

#define SEC 1000000LL
#define IDLE 900  /* the node's session policy in these tests */
#define MAX 43200 /* 12 h */

static char dir[] = "/tmp/cst-authz-XXXXXX";
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

/* A signed-in tenant user with roles and grants, through a session or an API token. */
static cst_principal tenant_user(uint32_t roles, const char *grants, bool session, uint32_t perms)
{
    cst_principal who;
    memset(&who, 0, sizeof(who));
    who.authenticated = true;
    strcpy(who.user.tenant_id, "tn_00000000000000000001");
    strcpy(who.tenant.id, who.user.tenant_id);
    who.user.roles = roles;
    strcpy(who.user.grants, grants);
    who.user.totp_state = CST_TOTP_ACTIVE;
    who.token.session = session;
    who.perms = cst_authz_effective(roles, session, perms);
    return who;
}

static cst_err ask_bucket(const cst_principal *who, cst_perm perm, const char *bucket)
{
    cst_authz_ask ask = {.perm = perm, .bucket = bucket};
    return cst_authz_check(who, &ask);
}

#define R(x) CST_ROLE_BIT(CST_ROLE_##x)
#define P(x) CST_PERM_BIT(CST_PERM_##x)

/* IAM-4: owners and admins reach every bucket, whatever their grants say. */
static void test_iam4_owner_and_admin_reach_all_buckets(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        cst_principal who = tenant_user(i ? R(ADMIN) : R(OWNER), "[]", true, 0);
        assert_int_equal(ask_bucket(&who, CST_PERM_RECORDS_WRITE, "customers"), CST_OK);
        assert_int_equal(ask_bucket(&who, CST_PERM_RECORDS_READ, "anything"), CST_OK);
        assert_int_equal(cst_authz_bucket(&who.user, "anything"), CST_OK);
    }
}

/* IAM-4: writers and readers reach only their grants; "*" grants all; a route without a bucket
 * needs no grant. */
static void test_iam4_writer_reader_only_their_grants(void **state)
{
    (void)state;
    cst_principal w = tenant_user(R(WRITER), "[\"customers\",\"orders\"]", true, 0);
    assert_int_equal(ask_bucket(&w, CST_PERM_RECORDS_WRITE, "customers"), CST_OK);
    assert_int_equal(ask_bucket(&w, CST_PERM_RECORDS_WRITE, "orders"), CST_OK);
    assert_int_equal(ask_bucket(&w, CST_PERM_RECORDS_WRITE, "payroll"), CST_ERR_FORBIDDEN);
    assert_non_null(strstr(cst_err_message(CST_ERR_FORBIDDEN), "no grant for bucket payroll"));
    /* a prefix of a granted name, or a granted name with more after it, is another bucket */
    assert_int_equal(ask_bucket(&w, CST_PERM_RECORDS_READ, "order"), CST_ERR_FORBIDDEN);
    assert_int_equal(ask_bucket(&w, CST_PERM_RECORDS_READ, "orders2"), CST_ERR_FORBIDDEN);
    assert_int_equal(ask_bucket(&w, CST_PERM_TENANT_READ, NULL), CST_OK);

    cst_principal r = tenant_user(R(READER), "[\"customers\"]", true, 0);
    assert_int_equal(ask_bucket(&r, CST_PERM_RECORDS_READ, "customers"), CST_OK);
    assert_int_equal(ask_bucket(&r, CST_PERM_RECORDS_READ, "orders"), CST_ERR_FORBIDDEN);
    /* a reader's grant does not make it a writer */
    assert_int_equal(ask_bucket(&r, CST_PERM_RECORDS_WRITE, "customers"), CST_ERR_FORBIDDEN);

    cst_principal all = tenant_user(R(READER), "[\"*\"]", true, 0);
    assert_int_equal(ask_bucket(&all, CST_PERM_RECORDS_READ, "payroll"), CST_OK);
    cst_principal none = tenant_user(R(WRITER), "[]", true, 0);
    assert_int_equal(ask_bucket(&none, CST_PERM_RECORDS_READ, "customers"), CST_ERR_FORBIDDEN);
    assert_int_equal(cst_authz_bucket(&none.user, "customers"), CST_ERR_FORBIDDEN);
}

/* IAM-4: an API token holds its own permissions narrowed by its user's current roles; a
 * session holds the roles' permissions. */
static void test_iam4_token_perms_narrowed_by_current_roles(void **state)
{
    (void)state;
    uint32_t admin_token = P(RECORDS_READ) | P(RECORDS_WRITE) | P(USERS_ADMIN);
    /* the creator was an admin; now only a reader */
    assert_int_equal(cst_authz_effective(R(READER), false, admin_token), P(RECORDS_READ));
    assert_int_equal(cst_authz_effective(R(ADMIN), false, admin_token), admin_token);
    assert_int_equal(cst_authz_effective(R(WRITER), false, 0), 0); /* nothing by default */
    assert_int_equal(cst_authz_effective(R(READER), true, 0), cst_roles_perms(R(READER)));

    cst_principal demoted = tenant_user(R(READER), "[\"*\"]", false, admin_token);
    assert_int_equal(ask_bucket(&demoted, CST_PERM_RECORDS_READ, "customers"), CST_OK);
    assert_int_equal(ask_bucket(&demoted, CST_PERM_RECORDS_WRITE, "customers"), CST_ERR_FORBIDDEN);
    assert_int_equal(ask_bucket(&demoted, CST_PERM_USERS_ADMIN, NULL), CST_ERR_FORBIDDEN);
    /* a token without records.write cannot write, though its user could */
    cst_principal ro = tenant_user(R(OWNER), "[]", false, P(RECORDS_READ));
    assert_int_equal(ask_bucket(&ro, CST_PERM_RECORDS_READ, "customers"), CST_OK);
    assert_int_equal(ask_bucket(&ro, CST_PERM_RECORDS_WRITE, "customers"), CST_ERR_FORBIDDEN);
}

/* IAM-8: operators hold no tenant-data rights, tenant users no operator rights; IAM-4: an API
 * token cannot use a session-only route. */
static void test_iam8_operator_tenant_split_and_session_only(void **state)
{
    (void)state;
    cst_principal op = tenant_user(R(SYS_ADMIN), "[]", true, 0);
    op.is_operator = true;
    assert_int_equal(ask_bucket(&op, CST_PERM_SYS_TENANTS, NULL), CST_OK);
    assert_int_equal(ask_bucket(&op, CST_PERM_RECORDS_READ, "customers"), CST_ERR_FORBIDDEN);
    cst_principal owner = tenant_user(R(OWNER), "[]", true, 0);
    assert_int_equal(ask_bucket(&owner, CST_PERM_SYS_TENANTS, NULL), CST_ERR_FORBIDDEN);

    cst_principal tok = tenant_user(R(OWNER), "[]", false, P(TENANT_ADMIN));
    cst_authz_ask self = {.perm = CST_PERM_SELF};
    assert_int_equal(cst_authz_check(&tok, &self), CST_OK);
    cst_authz_ask person = {.perm = CST_PERM_SELF, .session_only = true};
    assert_int_equal(cst_authz_check(&tok, &person), CST_ERR_FORBIDDEN);
    assert_int_equal(cst_authz_check(&owner, &person), CST_OK);
}

/* SPEC §9, IAM-3: a session with a one-time password, or without the two-factor it needs,
 * reaches only the set-up routes; an API token is not held back by either. */
static void test_iam3_setup_gates(void **state)
{
    (void)state;
    cst_authz_ask read = {.perm = CST_PERM_TENANT_READ};
    cst_authz_ask setup_route = {.perm = CST_PERM_SELF, .before_setup = true};
    cst_principal who = tenant_user(R(OWNER), "[]", true, 0);
    who.user.must_change_password = true;
    assert_int_equal(cst_authz_check(&who, &read), CST_ERR_PASSWORD_CHANGE_REQUIRED);
    assert_int_equal(cst_authz_check(&who, &setup_route), CST_OK);

    who.user.must_change_password = false;
    who.user.totp_state = CST_TOTP_PENDING;
    who.mfa_required = true;
    assert_int_equal(cst_authz_check(&who, &read), CST_ERR_MFA_ENROLLMENT_REQUIRED);
    assert_int_equal(cst_authz_check(&who, &setup_route), CST_OK);
    who.user.totp_state = CST_TOTP_ACTIVE;
    assert_int_equal(cst_authz_check(&who, &read), CST_OK);
    who.user.totp_state = CST_TOTP_NONE;
    who.mfa_required = false;
    assert_int_equal(cst_authz_check(&who, &read), CST_OK);

    cst_principal tok = tenant_user(R(OWNER), "[]", false, P(TENANT_READ));
    tok.user.must_change_password = true;
    tok.mfa_required = true;
    tok.user.totp_state = CST_TOTP_NONE;
    assert_int_equal(cst_authz_check(&tok, &read), CST_OK);

    /* IAM-3: who must use two-factor */
    cst_tenant_settings s = {0};
    cst_user_row u = {.roles = R(WRITER)};
    strcpy(u.tenant_id, "tn_00000000000000000001");
    assert_false(cst_mfa_required(&u, &s));
    s.mfa_all = true;
    assert_true(cst_mfa_required(&u, &s));
    s.mfa_all = false;
    u.roles = R(ADMIN);
    assert_true(cst_mfa_required(&u, &s));
    u.roles = R(SYS_SUPPORT);
    strcpy(u.tenant_id, CST_SYS_TENANT);
    assert_true(cst_mfa_required(&u, &s));
}

/* IAM-7: operators by the node's list, tenant principals by their tenant's; an empty list
 * allows every address. */
static void test_iam7_ip_allowlist_decision(void **state)
{
    (void)state;
    cst_cidr_list ops;
    assert_int_equal(cst_cidr_list_parse("192.0.2.0/24", &ops), CST_OK);
    cst_cidr_list none = {.n = 0};
    cst_tenant_settings open, closed;
    assert_int_equal(cst_tenant_settings_load(NULL, IDLE, MAX, &open), CST_OK);
    assert_int_equal(
        cst_tenant_settings_load("{\"ip_allowlist\":[\"10.0.0.0/8\",\"2001:db8::/32\"]}", IDLE, MAX,
                                 &closed),
        CST_OK);
    const char *tn = "tn_00000000000000000001";

    /* operators: the node's list, never the tenant's */
    assert_int_equal(cst_authz_ip(&ops, &closed, true, "", "192.0.2.7"), CST_OK);
    assert_int_equal(cst_authz_ip(&ops, &closed, true, "", "10.1.2.3"), CST_ERR_IP_NOT_ALLOWED);
    assert_non_null(strstr(cst_err_message(CST_ERR_IP_NOT_ALLOWED),
                           "requests from 10.1.2.3 are not allowed for this operator"));
    assert_int_equal(cst_authz_ip(&none, &closed, true, "", "203.0.113.9"), CST_OK);

    /* tenant principals: their tenant's list, never the node's operator list */
    assert_int_equal(cst_authz_ip(&ops, &closed, false, tn, "10.1.2.3"), CST_OK);
    assert_int_equal(cst_authz_ip(&ops, &closed, false, tn, "2001:db8::5"), CST_OK);
    assert_int_equal(cst_authz_ip(&ops, &closed, false, tn, "192.0.2.7"), CST_ERR_IP_NOT_ALLOWED);
    assert_non_null(strstr(cst_err_message(CST_ERR_IP_NOT_ALLOWED), "for this tenant"));
    assert_int_equal(cst_authz_ip(&ops, &closed, false, tn, "not-an-ip"), CST_ERR_IP_NOT_ALLOWED);
    assert_int_equal(cst_authz_ip(&ops, &open, false, tn, "203.0.113.9"), CST_OK);
}

/* IAM-9: a credential's expiry, a session's idle and absolute timeouts, by now. */
static void test_iam9_expiry_and_session_timeouts(void **state)
{
    (void)state;
    int64_t t0 = 1700000000LL * SEC;
    cst_token_row tok = {.session = true, .created_at = t0, .last_used_at = t0};
    assert_int_equal(cst_authn_unexpired(&tok, t0 + 100 * 365 * 86400LL * SEC), CST_OK); /* none */
    tok.expires_at = t0 + 60 * SEC;
    assert_int_equal(cst_authn_unexpired(&tok, t0 + 60 * SEC - 1), CST_OK);
    assert_int_equal(cst_authn_unexpired(&tok, t0 + 60 * SEC), CST_ERR_UNAUTHENTICATED);

    cst_tenant_settings s;
    assert_int_equal(cst_tenant_settings_load(NULL, IDLE, MAX, &s), CST_OK);
    assert_int_equal(cst_authn_session_live(&tok, &s, t0 + IDLE * SEC - 1), CST_OK);
    assert_int_equal(cst_authn_session_live(&tok, &s, t0 + IDLE * SEC), CST_ERR_UNAUTHENTICATED);
    assert_non_null(strstr(cst_err_message(CST_ERR_UNAUTHENTICATED),
                           "the session expired after 900 idle seconds"));
    /* kept busy, it still ends at its maximum age */
    tok.last_used_at = t0 + MAX * SEC - 10 * SEC;
    assert_int_equal(cst_authn_session_live(&tok, &s, t0 + MAX * SEC - 1), CST_OK);
    assert_int_equal(cst_authn_session_live(&tok, &s, t0 + MAX * SEC), CST_ERR_UNAUTHENTICATED);
    assert_non_null(
        strstr(cst_err_message(CST_ERR_UNAUTHENTICATED), "the session reached its maximum age"));
    /* a tenant may shorten the node's timeouts, never lengthen them */
    assert_int_equal(
        cst_tenant_settings_load("{\"session_idle_seconds\":60,\"session_max_seconds\":99999}",
                                 IDLE, MAX, &s),
        CST_OK);
    tok.last_used_at = t0;
    assert_int_equal(cst_authn_session_live(&tok, &s, t0 + 60 * SEC), CST_ERR_UNAUTHENTICATED);
    tok.last_used_at = t0 + MAX * SEC - 10 * SEC;
    assert_int_equal(cst_authn_session_live(&tok, &s, t0 + MAX * SEC), CST_ERR_UNAUTHENTICATED);
    /* API tokens have no session timeouts */
    tok.session = false;
    tok.last_used_at = t0;
    assert_int_equal(cst_authn_session_live(&tok, &s, t0 + 2 * MAX * SEC), CST_OK);
}

/* An operator with a credential in the store; its token text in token. */
static cst_user_row op_user;

static void issue(bool session, int64_t now, int64_t expires_at, char token[CST_TOKEN_LEN + 1],
                  cst_token_row *tok)
{
    memset(tok, 0, sizeof(*tok));
    strcpy(tok->name, "test");
    tok->session = session;
    tok->perms = session ? 0 : P(SYS_TENANTS);
    tok->created_at = now;
    tok->last_used_at = now;
    tok->expires_at = expires_at;
    assert_int_equal(cst_token_issue(st, NULL, &op_user, tok, token), CST_OK);
}

/* IAM-5, IAM-9: a bearer token against the store at an injected clock. */
static void test_iam5_iam9_bearer_against_store(void **state)
{
    (void)state;
    int64_t t0 = 1700000000LL * SEC;
    memset(&op_user, 0, sizeof(op_user));
    strcpy(op_user.id, "us_00000000000000000009");
    strcpy(op_user.tenant_id, CST_SYS_TENANT);
    strcpy(op_user.username, "ops");
    strcpy(op_user.pw_hash, "x");
    op_user.roles = R(SYS_ADMIN) | R(SYS_SECURITY);
    strcpy(op_user.grants, "[]");
    strcpy(op_user.recovery, "[]");
    assert_int_equal(cst_store_user_create(st, NULL, &op_user), CST_OK);
    cst_cidr_list ops = {.n = 0};
    cst_authn_policy pol = {IDLE, MAX, &ops, NULL};
    char token[CST_TOKEN_LEN + 1], api[CST_TOKEN_LEN + 1];
    cst_token_row sess, tok;
    issue(true, t0, t0 + MAX * SEC, token, &sess);
    issue(false, t0, t0 + 3600 * SEC, api, &tok);
    cst_principal who;

    memset(&who, 0, sizeof(who));
    assert_int_equal(cst_authn_bearer(st, &pol, token, "192.0.2.1", t0 + SEC, &who), CST_OK);
    assert_true(who.authenticated && who.is_operator && who.mfa_required);
    assert_int_equal(who.perms, cst_roles_perms(op_user.roles));
    assert_string_equal(who.token.id, sess.id);
    memset(&who, 0, sizeof(who));
    assert_int_equal(cst_authn_bearer(st, &pol, api, "192.0.2.1", t0 + SEC, &who), CST_OK);
    assert_int_equal(who.perms, P(SYS_TENANTS)); /* IAM-4: the token's bits, not the roles' */

    /* a wrong secret for a real id, and a malformed token */
    char wrong[CST_TOKEN_LEN + 1];
    strcpy(wrong, token);
    wrong[40] = wrong[40] == 'A' ? 'B' : 'A';
    assert_int_equal(cst_authn_bearer(st, &pol, wrong, "192.0.2.1", t0 + SEC, &who),
                     CST_ERR_UNAUTHENTICATED);
    assert_non_null(strstr(cst_err_message(CST_ERR_UNAUTHENTICATED), "invalid or expired token"));
    assert_int_equal(cst_authn_bearer(st, &pol, "nonsense", "192.0.2.1", t0 + SEC, &who),
                     CST_ERR_UNAUTHENTICATED);
    /* IAM-9: the API token expires; the session idles out (its use at t0 + 1 s was
     * within the write-back interval, so its last use stays t0) */
    assert_int_equal(cst_authn_bearer(st, &pol, api, "192.0.2.1", t0 + 3600 * SEC, &who),
                     CST_ERR_UNAUTHENTICATED);
    assert_int_equal(cst_authn_bearer(st, &pol, token, "192.0.2.1", t0 + (IDLE + 2) * SEC, &who),
                     CST_ERR_UNAUTHENTICATED);
    assert_non_null(strstr(cst_err_message(CST_ERR_UNAUTHENTICATED), "idle seconds"));
    /* IAM-7: the node's operator allowlist */
    assert_int_equal(cst_cidr_list_parse("198.51.100.0/24", &ops), CST_OK);
    assert_int_equal(cst_authn_bearer(st, &pol, api, "192.0.2.1", t0 + 2 * SEC, &who),
                     CST_ERR_IP_NOT_ALLOWED);
    assert_int_equal(cst_authn_bearer(st, &pol, api, "198.51.100.4", t0 + 2 * SEC, &who), CST_OK);
    /* IAM-5: a disabled user's credentials stop on the next request */
    op_user.disabled = true;
    assert_int_equal(cst_store_user_update(st, NULL, &op_user), CST_OK);
    assert_int_equal(cst_authn_bearer(st, &pol, api, "198.51.100.4", t0 + 3 * SEC, &who),
                     CST_ERR_UNAUTHENTICATED);
    assert_non_null(strstr(cst_err_message(CST_ERR_UNAUTHENTICATED), "invalid or expired token"));
    assert_int_equal(cst_authn_user_active(&op_user), CST_ERR_UNAUTHENTICATED);
    op_user.disabled = false;
    assert_int_equal(cst_authn_user_active(&op_user), CST_OK);
    sodium_memzero(token, sizeof(token));
    sodium_memzero(api, sizeof(api));
}

/* IAM-5: a bearer check through the principal cache (core/credcache.c): the cached rows are
 * used while the store's generation holds, every check still runs per request, and a change
 * to principals takes effect on the very next request. */
static void test_iam5_bearer_through_cache(void **state)
{
    (void)state;
    int64_t t0 = 1700000000LL * SEC;
    cst_credcache *cache;
    assert_int_equal(cst_credcache_new(16, &cache), CST_OK);
    cst_cidr_list ops = {.n = 0};
    cst_authn_policy pol = {IDLE, MAX, &ops, cache};
    op_user.disabled = false; /* the test above left the operator disabled in the store */
    assert_int_equal(cst_store_user_update(st, NULL, &op_user), CST_OK);
    char token[CST_TOKEN_LEN + 1], api[CST_TOKEN_LEN + 1];
    cst_token_row sess, tok;
    issue(true, t0, 0, token, &sess);
    issue(false, t0, 0, api, &tok);
    cst_principal who;
    memset(&who, 0, sizeof(who));
    assert_int_equal(cst_authn_bearer(st, &pol, api, "192.0.2.1", t0 + SEC, &who), CST_OK);
    assert_int_equal(cst_credcache_size(cache), 1);
    assert_int_equal(who.perms, P(SYS_TENANTS));

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
    assert_int_equal(who.perms, P(SYS_TENANTS));
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

/* RET-2, RET-3: a tenant's principals get only what its state permits (a suspended tenant
 * reads and exports, a closed one only exports, an erasing one nothing, an unknown state
 * nothing); operators are not bound by a tenant's state. */
static void test_ret2_ret3_state_bounds_tenant_principals(void **state)
{
    (void)state;
    static const struct {
        const char *state;
        unsigned access;
        cst_err want;
    } cases[] = {
        {"active", CST_ACCESS_WRITE, CST_OK},
        {"suspended", CST_ACCESS_READ, CST_OK},
        {"suspended", CST_ACCESS_WRITE, CST_ERR_FORBIDDEN},
        {"closed", CST_ACCESS_READ, CST_ERR_FORBIDDEN},
        {"closed", CST_ACCESS_READ | CST_ACCESS_EXPORT, CST_OK},
        {"pending_erase", CST_ACCESS_READ | CST_ACCESS_SELF, CST_ERR_FORBIDDEN},
        {"erased", CST_ACCESS_EXPORT, CST_ERR_FORBIDDEN},
        {"", CST_ACCESS_READ, CST_ERR_FORBIDDEN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cst_principal who = tenant_user(R(OWNER), "[]", true, 0);
        strcpy(who.tenant.state, cases[i].state);
        if (cst_authz_state(&who, cases[i].access) != cases[i].want)
            fail_msg("state \"%s\" access 0x%x: want %d", cases[i].state, cases[i].access,
                     (int)cases[i].want);
        who.is_operator = true;
        assert_int_equal(cst_authz_state(&who, cases[i].access), CST_OK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam4_owner_and_admin_reach_all_buckets),
        cmocka_unit_test(test_iam4_writer_reader_only_their_grants),
        cmocka_unit_test(test_iam4_token_perms_narrowed_by_current_roles),
        cmocka_unit_test(test_iam8_operator_tenant_split_and_session_only),
        cmocka_unit_test(test_iam3_setup_gates),
        cmocka_unit_test(test_iam7_ip_allowlist_decision),
        cmocka_unit_test(test_iam9_expiry_and_session_timeouts),
        cmocka_unit_test(test_iam5_iam9_bearer_against_store),
        cmocka_unit_test(test_iam5_bearer_through_cache),
        cmocka_unit_test(test_ret2_ret3_state_bounds_tenant_principals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
