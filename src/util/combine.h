/* combine.h: flat combining. Threads that submit work to one combiner at the same time are
 * served in batches: one of them (the leader) takes everything queued, up to a bound, and runs
 * the whole batch at once while the others wait; then each learns that its item is done. The
 * group commit of writes to one tenant is built on it (api/dispatch.c): one transaction, one
 * audit flush and one commit for every request of a batch. */
#ifndef CST_COMBINE_H
#define CST_COMBINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define CST_COMBINE_MAX 64 /* items one batch takes at most */

typedef struct cst_combine_item {
    struct cst_combine_item *next;
    void *arg;
    bool done;
} cst_combine_item;

typedef struct cst_combiner {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cst_combine_item *head, *tail;
    bool busy; /* a leader is running a batch */
} cst_combiner;

void cst_combiner_init(cst_combiner *c);
void cst_combiner_destroy(cst_combiner *c);
/* Queues item (its arg set by the caller) and returns once a leader - this thread or another -
 * has run it through run(ctx, items, n), which runs with no lock held and must not fail as a
 * whole: each item carries its own outcome in arg. Items run in the order they were queued. */
void cst_combine(cst_combiner *c, cst_combine_item *item,
                 void (*run)(void *ctx, cst_combine_item **items, size_t n), void *ctx);

#endif
