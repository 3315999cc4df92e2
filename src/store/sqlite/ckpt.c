/* ckpt.c: the background checkpointer: a queue of connections whose WAL passed
 * CST_DB_WAL_SOFT_PAGES (handed over by their WAL hook inside a commit) and one thread that
 * checkpoints them, each under its own connection's lock, so no request waits for a
 * checkpoint unless the WAL reaches CST_DB_WAL_HARD_PAGES (db.h). */
#include "store/sqlite/ckpt.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/util.h"

/* Lock order: a connection's lock, then mu (the WAL hook hands over under the connection's
 * lock); the thread never takes a connection's lock while it holds mu. */
struct cst_ckpt {
    pthread_mutex_t mu;
    pthread_cond_t wake; /* a connection was queued, or stop */
    pthread_cond_t idle; /* busy went back to NULL */
    cst_db **queue;
    size_t n, cap;
    cst_db *busy; /* the connection being checkpointed outside mu */
    bool stop, threaded;
    pthread_t thread;
};

/* Takes the next queued connection and marks it busy; NULL when none. Under mu. */
static cst_db *take(cst_ckpt *ck)
{
    if (ck->n == 0)
        return NULL;
    ck->busy = ck->queue[--ck->n];
    return ck->busy;
}

/* Checkpoints db outside mu, then clears busy. Called and returns under mu. */
static void checkpoint(cst_ckpt *ck, cst_db *db)
{
    pthread_mutex_unlock(&ck->mu);
    cst_db_checkpoint_passive(db);
    pthread_mutex_lock(&ck->mu);
    ck->busy = NULL;
    pthread_cond_broadcast(&ck->idle);
}

static void *run_thread(void *arg)
{
    cst_ckpt *ck = arg;
    pthread_mutex_lock(&ck->mu);
    while (!ck->stop) {
        cst_db *db = take(ck);
        if (db)
            checkpoint(ck, db);
        else
            pthread_cond_wait(&ck->wake, &ck->mu);
    }
    pthread_mutex_unlock(&ck->mu);
    return NULL;
}

cst_err cst_ckpt_start(bool thread, cst_ckpt **out)
{
    cst_ckpt *ck = calloc(1, sizeof(*ck));
    ENSURE(ck != NULL, CST_ERR_INTERNAL, "out of memory");
    pthread_mutex_init(&ck->mu, NULL);
    pthread_cond_init(&ck->wake, NULL);
    pthread_cond_init(&ck->idle, NULL);
    if (thread && pthread_create(&ck->thread, NULL, run_thread, ck) != 0) {
        cst_ckpt_stop(ck);
        return cst_fail(CST_ERR_INTERNAL, "cannot start the checkpoint thread");
    }
    ck->threaded = thread;
    *out = ck;
    return CST_OK;
}

void cst_ckpt_stop(cst_ckpt *ck)
{
    if (!ck)
        return;
    pthread_mutex_lock(&ck->mu);
    ck->stop = true;
    pthread_cond_signal(&ck->wake);
    pthread_mutex_unlock(&ck->mu);
    if (ck->threaded)
        pthread_join(ck->thread, NULL);
    pthread_cond_destroy(&ck->idle);
    pthread_cond_destroy(&ck->wake);
    pthread_mutex_destroy(&ck->mu);
    free(ck->queue);
    free(ck);
}

bool cst_ckpt_hand(cst_ckpt *ck, cst_db *db)
{
    pthread_mutex_lock(&ck->mu);
    bool ok = ck->n < ck->cap;
    if (!ok) {
        size_t cap = ck->cap ? ck->cap * 2 : 16;
        cst_db **q = realloc(ck->queue, cap * sizeof(*q));
        if (q) {
            ck->queue = q;
            ck->cap = cap;
            ok = true;
        }
    }
    if (ok) {
        ck->queue[ck->n++] = db;
        pthread_cond_signal(&ck->wake);
    }
    pthread_mutex_unlock(&ck->mu);
    return ok;
}

void cst_ckpt_forget(cst_ckpt *ck, cst_db *db)
{
    pthread_mutex_lock(&ck->mu);
    for (size_t i = 0; i < ck->n;) {
        if (ck->queue[i] == db)
            ck->queue[i] = ck->queue[--ck->n];
        else
            i++;
    }
    while (ck->busy == db)
        pthread_cond_wait(&ck->idle, &ck->mu);
    pthread_mutex_unlock(&ck->mu);
}

int cst_ckpt_run(cst_ckpt *ck)
{
    int done = 0;
    pthread_mutex_lock(&ck->mu);
    for (cst_db *db; (db = take(ck)) != NULL; done++)
        checkpoint(ck, db);
    pthread_mutex_unlock(&ck->mu);
    return done;
}
