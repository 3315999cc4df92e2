/* combine.c: flat combining (combine.h). */
#include "util/combine.h"

void cst_combiner_init(cst_combiner *c)
{
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->head = c->tail = NULL;
    c->busy = false;
}

void cst_combiner_destroy(cst_combiner *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

/* Takes up to CST_COMBINE_MAX items off the queue, in order. Called with mu held. */
static size_t take_batch(cst_combiner *c, cst_combine_item **batch)
{
    size_t n = 0;
    while (c->head && n < CST_COMBINE_MAX) {
        batch[n++] = c->head;
        c->head = c->head->next;
    }
    if (!c->head)
        c->tail = NULL;
    return n;
}

void cst_combine(cst_combiner *c, cst_combine_item *item,
                 void (*run)(void *ctx, cst_combine_item **items, size_t n), void *ctx)
{
    item->next = NULL;
    item->done = false;
    pthread_mutex_lock(&c->mu);
    if (c->tail)
        c->tail->next = item;
    else
        c->head = item;
    c->tail = item;
    while (!item->done) {
        if (c->busy) {
            pthread_cond_wait(&c->cv, &c->mu);
            continue;
        }
        /* Lead: run what is queued (our item among it, unless more than a batch waits). */
        cst_combine_item *batch[CST_COMBINE_MAX];
        size_t n = take_batch(c, batch);
        c->busy = true;
        pthread_mutex_unlock(&c->mu);
        run(ctx, batch, n);
        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i < n; i++)
            batch[i]->done = true;
        c->busy = false;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}
