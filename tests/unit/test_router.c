/* test_router.c: path decoding and route matching; the route table declares a permission for
 * every route, and a table that does not is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "api/api.h"
#include "util/metrics.h"
#include "http/router.h"

static cst_err h(cst_node *n, cst_request *r)
{
    return CST_OK;
}

static const cst_route table[] = {
    {"GET", "/v1/buckets", h, CST_PERM_BUCKETS_ADMIN, CST_BODY_NONE, "test.action", 0},
    {"GET", "/v1/buckets/{name}", h, CST_PERM_BUCKETS_ADMIN, CST_BODY_NONE, "test.action", 0},
    {"PUT", "/v1/buckets/{name}/records/{key}", h, CST_PERM_RECORDS_WRITE, CST_BODY_RECORD,
     "test.action", 0},
    {"POST", "/v1/buckets/{name}/records:batch", h, CST_PERM_RECORDS_WRITE, CST_BODY_BATCH,
     "test.action", 0},
};
#define N (sizeof(table) / sizeof(*table))

static char params[CST_MAX_PARAMS][CST_PARAM_MAX + 1];
static size_t lens[CST_MAX_PARAMS];

static cst_err match(const char *method, const char *path, const cst_route **r)
{
    return cst_route_match(table, N, method, path, r, params, lens);
}

static void test_match_literal_and_captures(void **state)
{
    const cst_route *r;
    assert_int_equal(match("GET", "/v1/buckets", &r), CST_OK);
    assert_ptr_equal(r, &table[0]);
    assert_int_equal(match("GET", "/v1/buckets/abc", &r), CST_OK);
    assert_string_equal(params[0], "abc");
    assert_int_equal(match("PUT", "/v1/buckets/b/records/a%2Fb%20c", &r), CST_OK);
    assert_ptr_equal(r, &table[2]);
    assert_string_equal(params[1], "a/b c");
    assert_int_equal(lens[1], 5);
    assert_int_equal(match("POST", "/v1/buckets/b/records:batch", &r), CST_OK);
    assert_ptr_equal(r, &table[3]);
    /* '+' is a plus in paths */
    assert_int_equal(match("PUT", "/v1/buckets/b/records/a+b", &r), CST_OK);
    assert_string_equal(params[1], "a+b");
}

static void test_no_match_and_wrong_method(void **state)
{
    const cst_route *r;
    assert_int_equal(match("GET", "/v1/buckets/", &r), CST_ERR_NOT_FOUND);
    assert_int_equal(match("GET", "/v1//buckets", &r), CST_ERR_NOT_FOUND);
    assert_int_equal(match("GET", "/v1/buckets/a/b", &r), CST_ERR_NOT_FOUND);
    assert_int_equal(match("GET", "v1/buckets", &r), CST_ERR_NOT_FOUND);
    assert_int_equal(match("GET", "", &r), CST_ERR_NOT_FOUND);
    assert_int_equal(match("GET", "/", &r), CST_ERR_NOT_FOUND);
    assert_int_equal(match("GET", "/v1/BUCKETS", &r), CST_ERR_NOT_FOUND);
    assert_int_equal(match("DELETE", "/v1/buckets", &r), CST_ERR_METHOD_NOT_ALLOWED);
    assert_int_equal(match("PUT", "/v1/buckets/b/records/", &r), CST_ERR_NOT_FOUND);
}

static void test_bad_encodings(void **state)
{
    const cst_route *r;
    assert_int_equal(match("GET", "/v1/buckets/%zz", &r), CST_ERR_INVALID);
    assert_int_equal(match("GET", "/v1/buckets/%4", &r), CST_ERR_INVALID);
    assert_int_equal(match("GET", "/v1/buckets/%", &r), CST_ERR_INVALID);
    assert_int_equal(match("GET", "/v1/buckets/a%00b", &r), CST_ERR_INVALID);
    char path[4200];
    strcpy(path, "/v1/buckets/b/records/");
    memset(path + 22, 'k', 1025);
    path[22 + 1025] = '\0';
    assert_int_equal(match("PUT", path, &r), CST_ERR_INVALID);
    path[22 + 1024] = '\0';
    assert_int_equal(match("PUT", path, &r), CST_OK);
    assert_int_equal(lens[1], 1024);
    memset(path, 'a', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    path[0] = '/';
    assert_int_equal(match("GET", path, &r), CST_ERR_INVALID);
}

static void test_iam4_table_refuses_route_without_permission(void **state)
{
    const cst_route bad[] = {
        {"GET", "/v1/x", h, CST_PERM_PUBLIC, CST_BODY_NONE, "test.action", 0},
        {"GET", "/v1/y", h, CST_PERM_UNSET, CST_BODY_NONE, "test.action", 0},
    };
    assert_int_equal(cst_routes_check(bad, 2), CST_ERR_INTERNAL);
    const cst_route dup[] = {
        {"GET", "/v1/x", h, CST_PERM_PUBLIC, CST_BODY_NONE, "test.action", 0},
        {"GET", "/v1/x", h, CST_PERM_SELF, CST_BODY_NONE, "test.action", 0},
    };
    assert_int_equal(cst_routes_check(dup, 2), CST_ERR_INTERNAL);
    const cst_route nohandler[] = {
        {"GET", "/v1/x", NULL, CST_PERM_PUBLIC, CST_BODY_NONE, "test.action", 0}};
    assert_int_equal(cst_routes_check(nohandler, 1), CST_ERR_INTERNAL);
    /* LOG-1: nor one without an audit action */
    const cst_route noaction[] = {{"GET", "/v1/x", h, CST_PERM_PUBLIC, CST_BODY_NONE, NULL, 0}};
    assert_int_equal(cst_routes_check(noaction, 1), CST_ERR_INTERNAL);
    const cst_route emptyaction[] = {{"GET", "/v1/x", h, CST_PERM_PUBLIC, CST_BODY_NONE, "", 0}};
    assert_int_equal(cst_routes_check(emptyaction, 1), CST_ERR_INTERNAL);
    /* the real table passes */
    assert_int_equal(cst_routes_check(cst_api_routes, cst_api_route_count), CST_OK);
    /* DET-2: every route has its own slot in the request counters */
    assert_true(cst_api_route_count < CST_METRICS_UNMATCHED);
}

/* Only health, readiness and login are public; nothing else can be reached without a
 * credential (but the metrics scrape from a loopback peer: CST_ROUTE_LOOPBACK_SCRAPE). */
static void test_iam4_public_routes_are_exactly_health_and_login(void **state)
{
    for (size_t i = 0; i < cst_api_route_count; i++) {
        const cst_route *r = &cst_api_routes[i];
        bool public_ok = !strcmp(r->pattern, "/v1/sys/health") ||
                         !strcmp(r->pattern, "/v1/sys/ready") ||
                         !strcmp(r->pattern, "/v1/auth/login");
        assert_int_equal(r->perm == CST_PERM_PUBLIC, public_ok);
        /* operator routes require an operator permission */
        if (!strncmp(r->pattern, "/v1/sys/", 8) && !public_ok)
            assert_true(r->perm == CST_PERM_SYS_TENANTS || r->perm == CST_PERM_SYS_OPERATORS ||
                        r->perm == CST_PERM_SYS_SECURITY || r->perm == CST_PERM_SYS_BACKUPS ||
                        r->perm == CST_PERM_SYS_REPORT || r->perm == CST_PERM_SYS_LOCKBOX ||
                        r->perm == CST_PERM_SYS_BREAK_GLASS || r->perm == CST_PERM_SYS_KEYS);
    }
}

/* IAM-2 (issue 12): every route whose handler may run Argon2id carries CST_ROUTE_HASHES, so
 * it runs on the hashing pool and never stalls a request thread; no other route does. */
static void test_iam2_hashing_routes_are_flagged(void **state)
{
    static const char *const hashing[][2] = {
        {"POST", "/v1/auth/login"},  {"POST", "/v1/auth/password"}, {"POST", "/v1/users"},
        {"PATCH", "/v1/users/{id}"}, {"POST", "/v1/sys/tenants"},   {"POST", "/v1/sys/operators"},
    };
    size_t n = sizeof(hashing) / sizeof(hashing[0]), flagged = 0;
    for (size_t i = 0; i < cst_api_route_count; i++) {
        const cst_route *r = &cst_api_routes[i];
        bool want = false;
        for (size_t j = 0; j < n; j++)
            want |= strcmp(r->method, hashing[j][0]) == 0 && strcmp(r->pattern, hashing[j][1]) == 0;
        if (want != ((r->flags & CST_ROUTE_HASHES) != 0))
            fprintf(stderr, "%s %s: CST_ROUTE_HASHES should be %s\n", r->method, r->pattern,
                    want ? "set" : "clear");
        assert_int_equal(want, (r->flags & CST_ROUTE_HASHES) != 0);
        flagged += want;
    }
    assert_int_equal(flagged, n);
}

/* A route flag and exactly the routes that carry it ("METHOD /pattern"). */
typedef struct flagged_routes {
    unsigned flag;
    const char *flag_name;
    const char *const *routes; /* NULL-terminated */
} flagged_routes;

static bool listed(const char *const *routes, const cst_route *r)
{
    char key[256];
    (void)snprintf(key, sizeof(key), "%s %s", r->method, r->pattern);
    for (const char *const *p = routes; *p; p++)
        if (strcmp(*p, key) == 0)
            return true;
    return false;
}

/* Every listed route carries the flag and no other route does; a listed route that does not
 * exist fails too (the count). */
static void assert_flag_on_exactly(const flagged_routes *f)
{
    size_t want = 0, got = 0;
    while (f->routes[want])
        want++;
    for (size_t i = 0; i < cst_api_route_count; i++) {
        const cst_route *r = &cst_api_routes[i];
        bool should = listed(f->routes, r), has = (r->flags & f->flag) != 0;
        if (should != has)
            fprintf(stderr, "%s %s: %s should be %s\n", r->method, r->pattern, f->flag_name,
                    should ? "set" : "clear");
        assert_int_equal(should, has);
        got += should;
    }
    assert_int_equal(got, want);
}

/* SPEC §9, IAM-3: with a one-time password or two-factor still to enrol, a session reaches
 * only the set-up routes and log out. */
static const char *const before_setup[] = {"POST /v1/auth/password", "POST /v1/auth/logout",
                                           "POST /v1/auth/totp", "POST /v1/auth/totp/confirm",
                                           NULL};
/* Routes that act on the person: never with an API token. */
static const char *const session_only[] = {"POST /v1/auth/password",
                                           "POST /v1/auth/totp",
                                           "POST /v1/auth/totp/confirm",
                                           "DELETE /v1/auth/totp",
                                           "GET /v1/auth/sessions",
                                           "DELETE /v1/auth/sessions/{id}",
                                           "POST /v1/tokens",
                                           NULL};
/* IAM-4: the record routes, checked against the caller's bucket grants. */
static const char *const bucket_scoped[] = {"GET /v1/buckets/{name}/records",
                                            "POST /v1/buckets/{name}/records:batch",
                                            "PUT /v1/buckets/{name}/records/{key}",
                                            "GET /v1/buckets/{name}/records/{key}",
                                            "HEAD /v1/buckets/{name}/records/{key}",
                                            "DELETE /v1/buckets/{name}/records/{key}",
                                            NULL};
static const char *const login_throttled[] = {"POST /v1/auth/login", NULL};
static const char *const export_routes[] = {"GET /v1/export", NULL};
static const char *const closed_read[] = {"GET /v1/tenant",
                                          "GET /v1/notices",
                                          "GET /v1/notices/{id}",
                                          "GET /v1/access-requests",
                                          "GET /v1/access-requests/{id}",
                                          NULL};
static const char *const unaudited[] = {"GET /v1/sys/health", "GET /v1/sys/ready", "GET /metrics",
                                        NULL};
/* DET-2: only the metrics scrape opens to a loopback peer without a credential. */
static const char *const loopback_scrape[] = {"GET /metrics", NULL};
/* LOG-4: operator routes on one tenant, whose entries that tenant sees. */
static const char *const tenant_param[] = {"GET /v1/sys/tenants/{id}",
                                           "PATCH /v1/sys/tenants/{id}",
                                           "POST /v1/sys/tenants/{id}/erase",
                                           "GET /v1/sys/tenants/{id}/keys",
                                           "POST /v1/sys/tenants/{id}/keys/rotate",
                                           NULL};

static void test_iam3_iam4_log4_route_flags_on_exactly_their_routes(void **state)
{
    static const flagged_routes flags[] = {
        {CST_ROUTE_BEFORE_SETUP, "CST_ROUTE_BEFORE_SETUP", before_setup},
        {CST_ROUTE_SESSION_ONLY, "CST_ROUTE_SESSION_ONLY", session_only},
        {CST_ROUTE_BUCKET_SCOPED, "CST_ROUTE_BUCKET_SCOPED", bucket_scoped},
        {CST_ROUTE_LOGIN_THROTTLED, "CST_ROUTE_LOGIN_THROTTLED", login_throttled},
        {CST_ROUTE_EXPORT, "CST_ROUTE_EXPORT", export_routes},
        {CST_ROUTE_CLOSED_READ, "CST_ROUTE_CLOSED_READ", closed_read},
        {CST_ROUTE_UNAUDITED, "CST_ROUTE_UNAUDITED", unaudited},
        {CST_ROUTE_LOOPBACK_SCRAPE, "CST_ROUTE_LOOPBACK_SCRAPE", loopback_scrape},
        {CST_ROUTE_TENANT_PARAM, "CST_ROUTE_TENANT_PARAM", tenant_param},
    };
    unsigned seen = 0;
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        assert_int_equal(seen & flags[i].flag, 0); /* each flag its own bit */
        seen |= flags[i].flag;
        assert_flag_on_exactly(&flags[i]);
    }
    assert_int_equal(seen & CST_ROUTE_HASHES, 0);
}

/* Flags that only make sense together with a permission or a place: a session-only or set-up
 * route is a self-service one, a bucket-scoped route has the bucket as its first parameter. */
static void test_route_flags_fit_their_routes(void **state)
{
    for (size_t i = 0; i < cst_api_route_count; i++) {
        const cst_route *r = &cst_api_routes[i];
        if (r->flags & (CST_ROUTE_SESSION_ONLY | CST_ROUTE_BEFORE_SETUP))
            assert_int_equal(r->perm, CST_PERM_SELF);
        if (r->flags & CST_ROUTE_BUCKET_SCOPED)
            assert_int_equal(strncmp(r->pattern, "/v1/buckets/{name}/", 19), 0);
        if (r->flags & CST_ROUTE_TENANT_PARAM)
            assert_int_equal(strncmp(r->pattern, "/v1/sys/tenants/{id}", 20), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_literal_and_captures),
        cmocka_unit_test(test_no_match_and_wrong_method),
        cmocka_unit_test(test_bad_encodings),
        cmocka_unit_test(test_iam4_table_refuses_route_without_permission),
        cmocka_unit_test(test_iam4_public_routes_are_exactly_health_and_login),
        cmocka_unit_test(test_iam2_hashing_routes_are_flagged),
        cmocka_unit_test(test_iam3_iam4_log4_route_flags_on_exactly_their_routes),
        cmocka_unit_test(test_route_flags_fit_their_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
