/* test_api_group.c: the group commit of one tenant's record writes (issue 14, LOG-1). Many
 * writers to one tenant share transactions, audit flushes and commits, yet each request fails
 * alone: a precondition that fails refuses only its request, and the others' writes are all
 * there. A node killed while groups are being flushed keeps every acknowledged write and none
 * of an unacknowledged batch by halves. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

#define WRITERS 12
#define ROUNDS 10
#define BATCH_OPS 5
#define MAX_BATCHES 100000

static ts_server srv;
static char *owner;
static pthread_barrier_t round_start;

typedef struct writer {
    int id;
    long status[ROUNDS];
} writer;

/* Writer 0 writes "victim" with an If-Match that never holds; the others write their own keys.
 * A barrier starts each round together, so the writes queue behind one another. */
static void *round_loop(void *p)
{
    writer *wr = p;
    char path[128], val[64];
    const char *stale[] = {"If-Match: \"999999\"", NULL};
    for (int i = 0; i < ROUNDS; i++) {
        pthread_barrier_wait(&round_start);
        ts_resp r;
        if (wr->id == 0) {
            ts_request(&srv, "PUT", "/v1/buckets/g/records/victim", owner, "text/plain",
                       "overwritten", 11, stale, &r);
        } else {
            snprintf(path, sizeof(path), "/v1/buckets/g/records/w%d-%d", wr->id, i);
            snprintf(val, sizeof(val), "value-%d-%d", wr->id, i);
            ts_request(&srv, "PUT", path, owner, "text/plain", val, strlen(val), NULL, &r);
        }
        wr->status[i] = r.status;
        ts_resp_free(&r);
    }
    return NULL;
}

static void test_group_commit_one_failed_precondition_fails_alone(void **state)
{
    char *op = NULL;
    ts_init(&srv);
    owner = ts_start_tenant(&srv, &op, "grouped", NULL);
    assert_non_null(owner);
    ts_bucket(&srv, owner, "g");
    assert_int_equal(ts_put(&srv, owner, "g", "victim", "text/plain", "original", 8), 201);
    pthread_barrier_init(&round_start, NULL, WRITERS);
    pthread_t th[WRITERS];
    static writer wr[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        wr[w].id = w;
        assert_int_equal(pthread_create(&th[w], NULL, round_loop, &wr[w]), 0);
    }
    for (int w = 0; w < WRITERS; w++)
        pthread_join(th[w], NULL);
    pthread_barrier_destroy(&round_start);
    for (int i = 0; i < ROUNDS; i++) {
        assert_int_equal(wr[0].status[i], 412); /* only the stale precondition fails */
        for (int w = 1; w < WRITERS; w++)
            assert_int_equal(wr[w].status[i], 201);
    }
    /* every other write is there, whole; the victim is untouched */
    char path[128], val[64];
    for (int w = 1; w < WRITERS; w++) {
        for (int i = 0; i < ROUNDS; i++) {
            snprintf(path, sizeof(path), "/v1/buckets/g/records/w%d-%d", w, i);
            snprintf(val, sizeof(val), "value-%d-%d", w, i);
            ts_resp r;
            ts_request(&srv, "GET", path, owner, NULL, NULL, 0, NULL, &r);
            assert_int_equal(r.status, 200);
            assert_int_equal(r.len, strlen(val));
            assert_memory_equal(r.body, val, r.len);
            ts_resp_free(&r);
        }
    }
    ts_resp r;
    ts_request(&srv, "GET", "/v1/buckets/g/records/victim", owner, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, "original", 8);
    ts_resp_free(&r);
    ts_finish(&srv, 2, op, owner);
}

/* ---- killed while groups are being flushed ---- */

static volatile int stop_writers;

typedef struct batcher {
    int id;
    int acked; /* batches 0..acked-1 were acknowledged with 200 */
} batcher;

static void batch_body(int w, int b, char *out, size_t n)
{
    size_t off = (size_t)snprintf(out, n, "{\"operations\":[");
    for (int k = 0; k < BATCH_OPS; k++)
        off += (size_t)snprintf(out + off, n - off,
                                "%s{\"op\":\"put\",\"key\":\"b%d-%d-%d\","
                                "\"value\":\"dmFsdWU=\"}",
                                k ? "," : "", w, b, k);
    (void)snprintf(out + off, n - off, "]}");
}

static void *batch_loop(void *p)
{
    batcher *bt = p;
    char body[1024];
    for (int b = 0; b < MAX_BATCHES && !stop_writers; b++) {
        batch_body(bt->id, b, body, sizeof(body));
        if (ts_status(&srv, "POST", "/v1/buckets/k/records:batch", owner, body, NULL, 0) != 200)
            break;
        bt->acked = b + 1;
    }
    return NULL;
}

/* The records of bucket k, from its listing: "key" -> size. */
static json_t *listed_records(void)
{
    json_t *all = json_object();
    char path[256], after[128] = "";
    for (;;) {
        snprintf(path, sizeof(path), "/v1/buckets/k/records?limit=1000%s%s",
                 after[0] ? "&after=" : "", after);
        ts_resp r;
        ts_request(&srv, "GET", path, owner, NULL, NULL, 0, NULL, &r);
        assert_int_equal(r.status, 200);
        size_t i;
        json_t *rec;
        json_array_foreach(json_object_get(r.json, "records"), i, rec) json_object_set(
            all, json_string_value(json_object_get(rec, "key")), json_object_get(rec, "size"));
        json_t *next = json_object_get(r.json, "next");
        bool more = json_is_string(next);
        if (more)
            snprintf(after, sizeof(after), "%s", json_string_value(next));
        ts_resp_free(&r);
        if (!more)
            return all;
    }
}

/* How many of batch b's records the node holds (each whole: its 5 bytes). */
static int batch_present(json_t *all, int w, int b)
{
    int present = 0;
    char key[64];
    for (int k = 0; k < BATCH_OPS; k++) {
        snprintf(key, sizeof(key), "b%d-%d-%d", w, b, k);
        json_t *size = json_object_get(all, key);
        if (size) {
            assert_int_equal(json_integer_value(size), 5);
            present++;
        }
    }
    return present;
}

static void test_group_commit_sigkill_keeps_acknowledged_and_no_half_batch(void **state)
{
    char *op = NULL;
    ts_init(&srv);
    owner = ts_start_tenant(&srv, &op, "killed", NULL);
    assert_non_null(owner);
    ts_bucket(&srv, owner, "k");
    pthread_t th[WRITERS];
    static batcher bt[WRITERS];
    stop_writers = 0;
    for (int w = 0; w < WRITERS; w++) {
        bt[w] = (batcher){w, 0};
        assert_int_equal(pthread_create(&th[w], NULL, batch_loop, &bt[w]), 0);
    }
    usleep(2500 * 1000);
    ts_kill9(&srv); /* mid-stream: groups are being written and flushed */
    stop_writers = 1;
    for (int w = 0; w < WRITERS; w++)
        pthread_join(th[w], NULL);
    assert_true(ts_start(&srv));
    int acked = 0, landed = 0;
    json_t *all = listed_records();
    for (int w = 0; w < WRITERS; w++) {
        for (int b = 0; b < bt[w].acked; b++)
            assert_int_equal(batch_present(all, w, b), BATCH_OPS); /* acknowledged: all of it */
        acked += bt[w].acked;
        /* the one in flight: all or nothing */
        int in_flight = batch_present(all, w, bt[w].acked);
        assert_true(in_flight == 0 || in_flight == BATCH_OPS);
        landed += in_flight == BATCH_OPS;
    }
    /* and nothing else: every record listed belongs to an acknowledged or landed batch */
    assert_int_equal(json_object_size(all), (size_t)(acked + landed) * BATCH_OPS);
    json_decref(all);
    assert_true(acked > 0);
    fprintf(stderr,
            "group commit: %d acknowledged batches intact after SIGKILL, %d in flight "
            "landed whole\n",
            acked, landed);
    ts_finish(&srv, 2, op, owner);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_commit_one_failed_precondition_fails_alone),
        cmocka_unit_test(test_group_commit_sigkill_keeps_acknowledged_and_no_half_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
