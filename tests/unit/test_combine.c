/* test_combine.c: flat combining (util/combine.h), the base of the group commit of one
 * tenant's writes (issue 14): items submitted while a batch runs are run together in the next
 * batch, in order, each exactly once, and every submitter returns only once its item ran. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/combine.h"

#define SUBMITTERS 8

typedef struct batch_log {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool release_first; /* the first batch waits for this */
    int batches;
    size_t sizes[64];
    int order[64];
    int norder;
    int ran[SUBMITTERS + 1];
} batch_log;

static batch_log lg;
static cst_combiner comb;

static void run(void *ctx, cst_combine_item **items, size_t n)
{
    batch_log *l = ctx;
    pthread_mutex_lock(&l->mu);
    int b = l->batches++;
    l->sizes[b] = n;
    for (size_t i = 0; i < n; i++) {
        int id = *(int *)items[i]->arg;
        l->ran[id]++;
        l->order[l->norder++] = id;
    }
    /* The first batch holds the combiner until the test has queued everyone else. */
    while (b == 0 && !l->release_first)
        pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

static void *submit(void *p)
{
    cst_combine_item it = {.arg = p};
    cst_combine(&comb, &it, run, &lg);
    /* returns only once run() has seen it */
    pthread_mutex_lock(&lg.mu);
    int id = *(int *)p;
    int ran = lg.ran[id];
    pthread_mutex_unlock(&lg.mu);
    return (void *)(intptr_t)ran;
}

static int queued(void)
{
    pthread_mutex_lock(&comb.mu);
    int n = 0;
    for (cst_combine_item *i = comb.head; i; i = i->next)
        n++;
    pthread_mutex_unlock(&comb.mu);
    return n;
}

static void test_items_queued_during_a_batch_run_together_once(void **state)
{
    memset(&lg, 0, sizeof(lg));
    pthread_mutex_init(&lg.mu, NULL);
    pthread_cond_init(&lg.cv, NULL);
    cst_combiner_init(&comb);
    int ids[SUBMITTERS + 1];
    pthread_t th[SUBMITTERS + 1];
    ids[0] = 0;
    assert_int_equal(pthread_create(&th[0], NULL, submit, &ids[0]), 0);
    /* wait (bounded) until the leader's batch of one is running */
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&lg.mu);
        int b = lg.batches;
        pthread_mutex_unlock(&lg.mu);
        if (b == 1)
            break;
        usleep(1000);
    }
    for (int t = 1; t <= SUBMITTERS; t++) {
        ids[t] = t;
        assert_int_equal(pthread_create(&th[t], NULL, submit, &ids[t]), 0);
    }
    for (int i = 0; i < 5000 && queued() < SUBMITTERS; i++)
        usleep(1000);
    assert_int_equal(queued(), SUBMITTERS);
    pthread_mutex_lock(&lg.mu);
    lg.release_first = true;
    pthread_cond_broadcast(&lg.cv);
    pthread_mutex_unlock(&lg.mu);
    for (int t = 0; t <= SUBMITTERS; t++) {
        void *ran = NULL;
        pthread_join(th[t], &ran);
        assert_int_equal((intptr_t)ran, 1); /* its item ran, once, before it returned */
    }
    assert_int_equal(lg.batches, 2);
    assert_int_equal(lg.sizes[0], 1);
    assert_int_equal(lg.sizes[1], SUBMITTERS); /* everyone who waited: one batch */
    for (int t = 0; t <= SUBMITTERS; t++)
        assert_int_equal(lg.ran[t], 1);
    assert_int_equal(queued(), 0);
    cst_combiner_destroy(&comb);
}

static void count_run(void *ctx, cst_combine_item **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        (*(int *)items[i]->arg)++;
    (void)ctx;
}

typedef struct many {
    int counts[200];
} many;

static void *submit_many(void *p)
{
    int *counts = p;
    for (int i = 0; i < 200; i++) {
        cst_combine_item it = {.arg = &counts[i]};
        cst_combine(&comb, &it, count_run, NULL);
    }
    return NULL;
}

/* Under contention from many threads, every item runs exactly once. */
static void test_every_item_runs_exactly_once_under_contention(void **state)
{
    cst_combiner_init(&comb);
    static many m[SUBMITTERS];
    memset(m, 0, sizeof(m));
    pthread_t th[SUBMITTERS];
    for (int t = 0; t < SUBMITTERS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, submit_many, m[t].counts), 0);
    for (int t = 0; t < SUBMITTERS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < SUBMITTERS; t++)
        for (int i = 0; i < 200; i++)
            assert_int_equal(m[t].counts[i], 1);
    cst_combiner_destroy(&comb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_items_queued_during_a_batch_run_together_once),
        cmocka_unit_test(test_every_item_runs_exactly_once_under_contention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
