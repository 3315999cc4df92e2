/* test_api_badinput.c: every class of bad request gets its documented 4xx JSON error and
 * changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

static ts_server srv;
static char *owner;

static int setup(void **state)
{
    ts_init(&srv);
    snprintf(srv.extra_config, sizeof(srv.extra_config), "[http]\nmax_record_bytes = 4096\n");
    char *op = NULL;
    owner = ts_start_tenant(&srv, &op, "acme", NULL);
    free(op);
    if (!owner)
        return -1;
    ts_bucket(&srv, owner, "b");
    assert_int_equal(ts_put(&srv, owner, "b", "keep", "text/plain", "original", 8), 201);
    return 0;
}

static int teardown(void **state)
{
    return ts_finish(&srv, 1, owner);
}

/* The store is unchanged: one record "keep" with its original value, one bucket. */
static void assert_unchanged(void)
{
    ts_resp r;
    ts_request(&srv, "GET", "/v1/buckets/b/records", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "records")), 1);
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/buckets/b/records/keep", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, "original", 8);
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/buckets", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(json_array_size(json_object_get(r.json, "buckets")), 1);
    ts_resp_free(&r);
}

static void expect(const char *method, const char *path, const char *token, const char *ctype,
                   const char *body, long status, const char *code)
{
    ts_resp r;
    ts_request(&srv, method, path, token, ctype, body, body ? strlen(body) : 0, NULL, &r);
    if (r.status != status)
        fprintf(stderr, "%s %s: got %ld %s, want %ld\n", method, path, r.status,
                r.body ? r.body : "", status);
    assert_int_equal(r.status, status);
    if (code)
        assert_string_equal(ts_err(&r), code);
    ts_resp_free(&r);
}

static void test_malformed_json(void **state)
{
    const char *bodies[] = {"{",
                            "{\"name\":}",
                            "[1,2]",
                            "\"str\"",
                            "{\"name\":\"x\"} trailing",
                            "{\"name\":\"a\",\"name\":\"b\"}",
                            "{\"name\":\"\xff\"}",
                            ""};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(*bodies); i++)
        expect("POST", "/v1/buckets", owner, "application/json", bodies[i], 400, "invalid_request");
    assert_unchanged();
}

static void test_wrong_types_and_unknown_fields(void **state)
{
    expect("POST", "/v1/buckets", owner, "application/json", "{\"name\":5}", 400,
           "invalid_request");
    expect("POST", "/v1/buckets", owner, "application/json",
           "{\"name\":\"x\",\"retention_seconds\":\"10\"}", 400, "invalid_request");
    expect("POST", "/v1/buckets", owner, "application/json",
           "{\"name\":\"x\",\"retention_seconds\":-1}", 400, "invalid_request");
    expect("POST", "/v1/buckets", owner, "application/json", "{\"name\":\"x\",\"colour\":1}", 400,
           "invalid_request");
    expect("POST", "/v1/buckets", owner, "application/json", "{\"name\":\"UPPER\"}", 400,
           "invalid_request");
    expect("POST", "/v1/buckets", owner, "application/json",
           "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", 400,
           "invalid_request");
    expect("POST", "/v1/auth/login", NULL, "application/json",
           "{\"tenant\":\"acme\",\"username\":[],\"password\":\"x\"}", 400, "invalid_request");
    expect("POST", "/v1/buckets/b/records:batch", owner, "application/json",
           "{\"operations\":[{\"op\":\"put\",\"key\":\"k\",\"value\":\"!!notbase64\"}]}", 400,
           "invalid_request");
    expect("POST", "/v1/buckets/b/records:batch", owner, "application/json",
           "{\"operations\":[{\"op\":\"upsert\",\"key\":\"k\"}]}", 400, "invalid_request");
    expect("POST", "/v1/buckets/b/records:batch", owner, "application/json", "{\"operations\":[]}",
           400, "invalid_request");
    assert_unchanged();
}

static void test_wrong_content_type(void **state)
{
    expect("POST", "/v1/buckets", owner, "text/plain", "{\"name\":\"x\"}", 415,
           "unsupported_media_type");
    expect("POST", "/v1/buckets", owner, "application/jsonx", "{\"name\":\"x\"}", 415,
           "unsupported_media_type");
    expect("POST", "/v1/buckets", owner, NULL, "{\"name\":\"x\"}", 415, "unsupported_media_type");
    /* a record's content type must be printable ASCII */
    expect("PUT", "/v1/buckets/b/records/ct", owner, "text/\x01plain", "v", 400, NULL);
    assert_unchanged();
}

static void test_oversize_bodies_and_headers(void **state)
{
    /* record body over max_record_bytes (4096 here): 413 */
    char *big = malloc(70000);
    memset(big, 'a', 70000);
    big[69999] = '\0';
    expect("PUT", "/v1/buckets/b/records/big", owner, "text/plain", big, 413, "payload_too_large");
    /* JSON body over 64 KiB: 413 */
    memcpy(big, "{\"name\":\"", 9);
    memcpy(big + 69997, "\"}", 3);
    expect("POST", "/v1/buckets", owner, "application/json", big, 413, "payload_too_large");
    /* the refusal comes before the body is read: a declared 1 GiB body is answered at once */
    ts_resp r;
    const char *cl[] = {"Content-Length: 1073741824", NULL};
    ts_request(&srv, "PUT", "/v1/buckets/b/records/huge", owner, "text/plain", NULL, 0, cl, &r);
    assert_int_equal(r.status, 413);
    ts_resp_free(&r);
    /* headers over 16 KiB: 431 with a JSON error */
    char *hdr = malloc(20000);
    strcpy(hdr, "X-Padding: ");
    memset(hdr + 11, 'p', 19000);
    hdr[19011] = '\0';
    const char *extra[] = {hdr, NULL};
    ts_request(&srv, "GET", "/v1/buckets", owner, NULL, NULL, 0, extra, &r);
    assert_int_equal(r.status, 431);
    assert_string_equal(ts_err(&r), "headers_too_large");
    ts_resp_free(&r);
    free(hdr);
    free(big);
    /* GET routes take no body */
    expect("GET", "/v1/buckets", owner, "application/json", "{}", 413, "payload_too_large");
    assert_unchanged();
}

static void test_bad_keys_and_encodings(void **state)
{
    /* invalid UTF-8, control characters, NUL, bad or truncated escapes, overlong keys */
    const char *paths[] = {
        "/v1/buckets/b/records/%FF",       "/v1/buckets/b/records/%C0%AF",
        "/v1/buckets/b/records/a%01b",     "/v1/buckets/b/records/a%7Fb",
        "/v1/buckets/b/records/%00",       "/v1/buckets/b/records/%zz",
        "/v1/buckets/b/records/abc%4",     "/v1/buckets/b/records/%C2%85",
        "/v1/buckets/b/records/%ED%A0%80",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++)
        expect("PUT", paths[i], owner, "text/plain", "v", 400, "invalid_request");
    char path[4096];
    strcpy(path, "/v1/buckets/b/records/");
    memset(path + strlen(path), 'k', 1025);
    path[22 + 1025] = '\0';
    expect("PUT", path, owner, "text/plain", "v", 400, "invalid_request");
    path[22 + 1024] = '\0'; /* exactly 1024 bytes is fine */
    expect("PUT", path, owner, "text/plain", "v", 201, NULL);
    expect("DELETE", path, owner, NULL, NULL, 204, NULL);
    expect("GET", "/v1/buckets/b/records?prefix=%zz", owner, NULL, NULL, 400, "invalid_request");
    expect("GET", "/v1/buckets/b/records?after=%01", owner, NULL, NULL, 400, "invalid_request");
    expect("GET", "/v1/buckets/b/records?limit=ten", owner, NULL, NULL, 400, "invalid_request");
    expect("PUT", "/v1/buckets/b/records/pre", owner, "text/plain", "v", 201, NULL);
    {
        ts_resp r;
        const char *bad[] = {"If-Match: 12", NULL};
        ts_request(&srv, "PUT", "/v1/buckets/b/records/pre", owner, "text/plain", "w", 1, bad, &r);
        assert_int_equal(r.status, 400);
        ts_resp_free(&r);
    }
    expect("DELETE", "/v1/buckets/b/records/pre", owner, NULL, NULL, 204, NULL);
    assert_unchanged();
}

static void test_unknown_resources(void **state)
{
    expect("GET", "/v1/buckets/nope", owner, NULL, NULL, 404, "not_found");
    expect("GET", "/v1/buckets/nope/records/k", owner, NULL, NULL, 404, "not_found");
    expect("PUT", "/v1/buckets/nope/records/k", owner, "text/plain", "v", 404, "not_found");
    expect("GET", "/v1/buckets/b/records/nope", owner, NULL, NULL, 404, "not_found");
    expect("DELETE", "/v1/buckets/b/records/nope", owner, NULL, NULL, 404, "not_found");
    expect("DELETE", "/v1/tokens/tk_00000000000000000000", owner, NULL, NULL, 404, "not_found");
    expect("GET", "/v1/nothing", owner, NULL, NULL, 404, "not_found");
    expect("GET", "/v1/buckets/", owner, NULL, NULL, 404, "not_found");
    expect("GET", "/v1//buckets", owner, NULL, NULL, 404, "not_found");
    expect("POST", "/v1/buckets/b/records/k", owner, "text/plain", "v", 405, "method_not_allowed");
    expect("PATCH", "/v1/sys/health", NULL, NULL, NULL, 405, "method_not_allowed");
    ts_resp r;
    ts_request(&srv, "POST", "/v1/buckets/b/records/k", owner, "text/plain", "v", 1, NULL, &r);
    char allow[64];
    assert_true(ts_header(&r, "Allow", allow, sizeof(allow)));
    assert_string_equal(allow, "PUT, GET, HEAD, DELETE");
    ts_resp_free(&r);
    assert_unchanged();
}

static void test_bad_credentials(void **state)
{
    expect("GET", "/v1/buckets", NULL, NULL, NULL, 401, "unauthenticated");
    ts_resp r;
    const char *auths[][2] = {
        {"Authorization: Basic dXNlcjpwYXNz", NULL},
        {"Authorization: Bearer", NULL},
        {"Authorization: Bearer nonsense", NULL},
        {"Authorization: Bearer "
         "cst_0123456789abcdef0123_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
         NULL},
    };
    for (size_t i = 0; i < sizeof(auths) / sizeof(*auths); i++) {
        ts_request(&srv, "PUT", "/v1/buckets/b/records/keep", NULL, "text/plain", "x", 1, auths[i],
                   &r);
        assert_int_equal(r.status, 401);
        assert_string_equal(ts_err(&r), "unauthenticated");
        ts_resp_free(&r);
    }
    /* a real token with one character changed */
    char forged[128];
    strcpy(forged, owner);
    forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == 'A' ? 'B' : 'A';
    expect("GET", "/v1/buckets", forged, NULL, NULL, 401, "unauthenticated");
    expect("POST", "/v1/auth/login", NULL, "application/json",
           "{\"tenant\":\"acme\",\"username\":\"owner\",\"password\":\"wrong-password-123\"}", 401,
           "unauthenticated");
    expect("POST", "/v1/auth/login", NULL, "application/json",
           "{\"tenant\":\"nope\",\"username\":\"owner\",\"password\":\"wrong-password-123\"}", 401,
           "unauthenticated");
    assert_unchanged();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_wrong_types_and_unknown_fields),
        cmocka_unit_test(test_wrong_content_type),
        cmocka_unit_test(test_oversize_bodies_and_headers),
        cmocka_unit_test(test_bad_keys_and_encodings),
        cmocka_unit_test(test_unknown_resources),
        cmocka_unit_test(test_bad_credentials),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
