/* test_api_records.c: buckets and records over real HTTPS: CRUD, ETags and preconditions,
 * listing with prefix/after/limit, atomic batches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "harness.h"

static ts_server srv;
static char *owner;

static int setup(void **state)
{
    ts_init(&srv);
    char *op = NULL;
    owner = ts_start_tenant(&srv, &op, "acme", NULL);
    free(op);
    if (!owner)
        return -1;
    ts_bucket(&srv, owner, "customers");
    return 0;
}

static int teardown(void **state)
{
    return ts_finish(&srv, 1, owner);
}

static void test_record_put_get_head_delete(void **state)
{
    ts_resp r;
    char etag[64], v[64];
    ts_request(&srv, "PUT", "/v1/buckets/customers/records/cust%2F1", owner, "text/plain",
               "Ada Lovelace", 12, NULL, &r);
    assert_int_equal(r.status, 201);
    assert_true(ts_header(&r, "ETag", etag, sizeof(etag)));
    assert_string_equal(json_string_value(json_object_get(r.json, "key")), "cust/1");
    ts_resp_free(&r);

    ts_request(&srv, "GET", "/v1/buckets/customers/records/cust%2F1", owner, NULL, NULL, 0, NULL,
               &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 12);
    assert_memory_equal(r.body, "Ada Lovelace", 12);
    assert_true(ts_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "text/plain");
    assert_true(ts_header(&r, "ETag", v, sizeof(v)));
    assert_string_equal(v, etag);
    ts_resp_free(&r);

    ts_request(&srv, "HEAD", "/v1/buckets/customers/records/cust%2F1", owner, NULL, NULL, 0, NULL,
               &r);
    assert_int_equal(r.status, 200);
    assert_true(ts_header(&r, "Content-Length", v, sizeof(v)));
    assert_string_equal(v, "12");
    ts_resp_free(&r);

    /* overwrite: 200 and a new ETag */
    ts_request(&srv, "PUT", "/v1/buckets/customers/records/cust%2F1", owner, "text/plain", "B", 1,
               NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(ts_header(&r, "ETag", v, sizeof(v)));
    assert_string_not_equal(v, etag);
    ts_resp_free(&r);

    assert_int_equal(
        ts_status(&srv, "DELETE", "/v1/buckets/customers/records/cust%2F1", owner, NULL, NULL, 0),
        204);
    ts_request(&srv, "GET", "/v1/buckets/customers/records/cust%2F1", owner, NULL, NULL, 0, NULL,
               &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(ts_err(&r), "not_found");
    ts_resp_free(&r);
}

static void test_record_binary_and_empty_values(void **state)
{
    unsigned char bin[300];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)i;
    assert_int_equal(
        ts_put(&srv, owner, "customers", "bin", "application/octet-stream", bin, sizeof(bin)), 201);
    ts_resp r;
    ts_request(&srv, "GET", "/v1/buckets/customers/records/bin", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, sizeof(bin));
    assert_memory_equal(r.body, bin, sizeof(bin));
    ts_resp_free(&r);
    assert_int_equal(ts_put(&srv, owner, "customers", "empty", "text/plain", "", 0), 201);
    ts_request(&srv, "GET", "/v1/buckets/customers/records/empty", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    ts_resp_free(&r);
    /* a UTF-8 key with spaces and an encoded slash */
    assert_int_equal(
        ts_put(&srv, owner, "customers", "%C3%A9t%C3%A9%20a%2Fb", "text/plain", "x", 1), 201);
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/customers/records/%C3%A9t%C3%A9%20a%2Fb",
                               owner, NULL, NULL, 0),
                     200);
}

static void test_record_preconditions(void **state)
{
    ts_resp r;
    const char *none[] = {"If-None-Match: *", NULL};
    ts_request(&srv, "PUT", "/v1/buckets/customers/records/pc", owner, "text/plain", "1", 1, none,
               &r);
    assert_int_equal(r.status, 201);
    char etag[64], hdr[96];
    assert_true(ts_header(&r, "ETag", etag, sizeof(etag)));
    ts_resp_free(&r);
    /* create-only on an existing record: 412, value unchanged */
    ts_request(&srv, "PUT", "/v1/buckets/customers/records/pc", owner, "text/plain", "2", 1, none,
               &r);
    assert_int_equal(r.status, 412);
    assert_string_equal(ts_err(&r), "precondition_failed");
    ts_resp_free(&r);
    /* wrong If-Match: 412 */
    const char *wrong[] = {"If-Match: \"999999\"", NULL};
    ts_request(&srv, "PUT", "/v1/buckets/customers/records/pc", owner, "text/plain", "3", 1, wrong,
               &r);
    assert_int_equal(r.status, 412);
    ts_resp_free(&r);
    ts_request(&srv, "DELETE", "/v1/buckets/customers/records/pc", owner, NULL, NULL, 0, wrong, &r);
    assert_int_equal(r.status, 412);
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/buckets/customers/records/pc", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, "1", 1);
    ts_resp_free(&r);
    /* right If-Match: applied */
    snprintf(hdr, sizeof(hdr), "If-Match: %s", etag);
    const char *right[] = {hdr, NULL};
    ts_request(&srv, "PUT", "/v1/buckets/customers/records/pc", owner, "text/plain", "4", 1, right,
               &r);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    /* the old ETag no longer matches */
    ts_request(&srv, "PUT", "/v1/buckets/customers/records/pc", owner, "text/plain", "5", 1, right,
               &r);
    assert_int_equal(r.status, 412);
    ts_resp_free(&r);
    /* conditional GET */
    ts_request(&srv, "GET", "/v1/buckets/customers/records/pc", owner, NULL, NULL, 0, NULL, &r);
    assert_true(ts_header(&r, "ETag", etag, sizeof(etag)));
    ts_resp_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
    ts_request(&srv, "GET", "/v1/buckets/customers/records/pc", owner, NULL, NULL, 0, right, &r);
    assert_int_equal(r.status, 304);
    ts_resp_free(&r);
}

static void test_record_listing_pages(void **state)
{
    ts_bucket(&srv, owner, "listing");
    char key[32];
    for (int i = 0; i < 25; i++) {
        snprintf(key, sizeof(key), "%s-%02d", i % 5 == 0 ? "other" : "item", i);
        assert_int_equal(ts_put(&srv, owner, "listing", key, "text/plain", "v", 1), 201);
    }
    /* page through items with limit 7: every item exactly once, stable order */
    json_t *seen = json_object();
    char path[512], after[128] = "";
    int pages = 0;
    for (;;) {
        if (after[0])
            snprintf(path, sizeof(path), "/v1/buckets/listing/records?prefix=item&limit=7&after=%s",
                     after);
        else
            snprintf(path, sizeof(path), "/v1/buckets/listing/records?prefix=item&limit=7");
        ts_resp r;
        ts_request(&srv, "GET", path, owner, NULL, NULL, 0, NULL, &r);
        assert_int_equal(r.status, 200);
        json_t *recs = json_object_get(r.json, "records");
        assert_true(json_array_size(recs) <= 7);
        size_t i;
        json_t *it;
        json_array_foreach(recs, i, it)
        {
            const char *k = json_string_value(json_object_get(it, "key"));
            assert_int_equal(strncmp(k, "item", 4), 0);
            assert_null(json_object_get(seen, k));
            json_object_set_new(seen, k, json_true());
        }
        json_t *next = json_object_get(r.json, "next");
        pages++;
        if (json_is_null(next)) {
            ts_resp_free(&r);
            break;
        }
        snprintf(after, sizeof(after), "%s", json_string_value(next));
        ts_resp_free(&r);
        assert_true(pages < 10);
    }
    assert_int_equal(json_object_size(seen), 20);
    assert_int_equal(pages, 3);
    json_decref(seen);

    assert_int_equal(
        ts_status(&srv, "GET", "/v1/buckets/listing/records?limit=1001", owner, NULL, NULL, 0),
        400);
    assert_int_equal(
        ts_status(&srv, "GET", "/v1/buckets/listing/records?limit=0", owner, NULL, NULL, 0), 400);
}

static long count_records(const char *bucket)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/buckets/%s", bucket);
    ts_resp r;
    ts_request(&srv, "GET", path, owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    long n = (long)json_integer_value(json_object_get(r.json, "record_count"));
    ts_resp_free(&r);
    return n;
}

static void test_batch_is_atomic(void **state)
{
    ts_bucket(&srv, owner, "batch");
    ts_resp r;
    ts_json_req(
        &srv, "POST", "/v1/buckets/batch/records:batch", owner,
        "{\"operations\":[{\"op\":\"put\",\"key\":\"a\",\"value\":\"YQ==\"},"
        "{\"op\":\"put\",\"key\":\"b\",\"value\":\"Yg==\",\"content_type\":\"text/plain\"}]}",
        &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "results")), 2);
    ts_resp_free(&r);
    assert_int_equal(count_records("batch"), 2);
    /* the third operation fails its precondition: nothing of the batch is applied */
    assert_int_equal(
        ts_status(&srv, "POST", "/v1/buckets/batch/records:batch", owner,
                  "{\"operations\":[{\"op\":\"put\",\"key\":\"c\",\"value\":\"Yw==\"},"
                  "{\"op\":\"delete\",\"key\":\"a\"},"
                  "{\"op\":\"put\",\"key\":\"b\",\"value\":\"eA==\",\"if_none_match\":\"*\"}]}",
                  NULL, 0),
        412);
    assert_int_equal(count_records("batch"), 2);
    ts_request(&srv, "GET", "/v1/buckets/batch/records/a", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, "a", 1);
    ts_resp_free(&r);
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/batch/records/c", owner, NULL, NULL, 0),
                     404);
    /* delete of a missing key fails the batch too */
    assert_int_equal(ts_status(&srv, "POST", "/v1/buckets/batch/records:batch", owner,
                               "{\"operations\":[{\"op\":\"delete\",\"key\":\"a\"},"
                               "{\"op\":\"delete\",\"key\":\"nope\"}]}",
                               NULL, 0),
                     404);
    assert_int_equal(count_records("batch"), 2);
    /* 1001 operations are refused */
    size_t cap = 1001 * 48 + 64, len = 0;
    char *big = malloc(cap);
    len += (size_t)snprintf(big + len, cap - len, "{\"operations\":[");
    for (int i = 0; i < 1001; i++)
        len += (size_t)snprintf(big + len, cap - len, "%s{\"op\":\"delete\",\"key\":\"k%d\"}",
                                i ? "," : "", i);
    snprintf(big + len, cap - len, "]}");
    assert_int_equal(
        ts_status(&srv, "POST", "/v1/buckets/batch/records:batch", owner, big, NULL, 0), 400);
    free(big);
}

static void test_bucket_lifecycle(void **state)
{
    ts_resp r;
    assert_int_equal(
        ts_status(&srv, "POST", "/v1/buckets", owner,
                  "{\"name\":\"bills\",\"retention_seconds\":3600,\"class\":\"billing\"}", NULL, 0),
        201);
    ts_json_req(&srv, "POST", "/v1/buckets", owner, "{\"name\":\"bills\"}", &r);
    assert_int_equal(r.status, 409);
    assert_string_equal(ts_err(&r), "conflict");
    ts_resp_free(&r);
    ts_json_req(&srv, "PATCH", "/v1/buckets/bills", owner, "{\"retention_seconds\":7200}", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "retention_seconds")), 7200);
    assert_string_equal(json_string_value(json_object_get(r.json, "class")), "billing");
    ts_resp_free(&r);
    assert_int_equal(
        ts_status(&srv, "PATCH", "/v1/buckets/bills", owner, "{\"class\":\"gold\"}", NULL, 0), 400);
    ts_request(&srv, "GET", "/v1/buckets", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_array_size(json_object_get(r.json, "buckets")) >= 2);
    ts_resp_free(&r);
    assert_int_equal(ts_put(&srv, owner, "bills", "inv-1", "text/plain", "1", 1), 201);
    /* a bucket with records is not deleted */
    assert_int_equal(ts_status(&srv, "DELETE", "/v1/buckets/bills", owner, NULL, NULL, 0), 409);
    assert_int_equal(
        ts_status(&srv, "DELETE", "/v1/buckets/bills/records/inv-1", owner, NULL, NULL, 0), 204);
    assert_int_equal(ts_status(&srv, "DELETE", "/v1/buckets/bills", owner, NULL, NULL, 0), 204);
    assert_int_equal(ts_status(&srv, "GET", "/v1/buckets/bills", owner, NULL, NULL, 0), 404);
    assert_int_equal(ts_put(&srv, owner, "bills", "x", "text/plain", "1", 1), 404);
}

static void test_security_headers_on_every_response(void **state)
{
    const char *paths[] = {"/v1/sys/health", "/v1/buckets", "/v1/nope"};
    for (size_t i = 0; i < 3; i++) {
        ts_resp r;
        ts_request(&srv, "GET", paths[i], i == 1 ? owner : NULL, NULL, NULL, 0, NULL, &r);
        char v[128];
        assert_true(ts_header(&r, "Strict-Transport-Security", v, sizeof(v)));
        assert_string_equal(v, "max-age=63072000; includeSubDomains");
        assert_true(ts_header(&r, "X-Content-Type-Options", v, sizeof(v)));
        assert_string_equal(v, "nosniff");
        assert_true(ts_header(&r, "Cache-Control", v, sizeof(v)));
        assert_string_equal(v, "no-store");
        assert_true(ts_header(&r, "X-Request-Id", v, sizeof(v)));
        assert_int_equal(strlen(v), 32);
        if (r.status >= 400) {
            const char *rid =
                json_string_value(json_object_get(json_object_get(r.json, "error"), "request_id"));
            assert_non_null(rid);
            assert_string_equal(rid, v);
        }
        ts_resp_free(&r);
    }
}

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
    return s * n;
}

/* A refusal of a bodiless request does not close the connection: the next request reuses it. */
static void test_refusals_keep_the_connection(void **state)
{
    CURL *c = curl_easy_init();
    char url[256], auth[256];
    snprintf(url, sizeof(url), "%s/v1/buckets", srv.base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, srv.cacert);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    long status = 0, connects = -1;
    assert_int_equal(curl_easy_perform(c), CURLE_OK); /* no credential: 401 */
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 401);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", owner);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(status, 200);
    assert_int_equal(connects, 0); /* the same TLS connection */
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_put_get_head_delete),
        cmocka_unit_test(test_record_binary_and_empty_values),
        cmocka_unit_test(test_record_preconditions),
        cmocka_unit_test(test_record_listing_pages),
        cmocka_unit_test(test_batch_is_atomic),
        cmocka_unit_test(test_bucket_lifecycle),
        cmocka_unit_test(test_security_headers_on_every_response),
        cmocka_unit_test(test_refusals_keep_the_connection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
