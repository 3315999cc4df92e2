/* ckpt.h: the SQLite driver's background checkpointer: WAL checkpoints run on its own thread,
 * not inside whichever request's commit crosses SQLite's threshold. */
#ifndef CST_SQLITE_CKPT_H
#define CST_SQLITE_CKPT_H

#include <stdbool.h>

#include "store/sqlite/db.h"
#include "util/err.h"

/* Starts a checkpointer; thread false makes one without a thread, whose queue only
 * cst_ckpt_run runs (for tests). */
CST_MUST_USE cst_err cst_ckpt_start(bool thread, cst_ckpt **out);
/* Stops the thread and frees ck; every connection handed to it must have been closed (tenant
 * stores close before their system store). */
void cst_ckpt_stop(cst_ckpt *ck);
/* Queues db for a PASSIVE checkpoint (db's WAL hook calls it under db's lock); false when it
 * could not be queued (out of memory: the hard limit still bounds the WAL). */
bool cst_ckpt_hand(cst_ckpt *ck, cst_db *db);
/* Takes db out of the queue, waiting while the thread checkpoints it (cst_db_close). The caller
 * must not hold db's lock. */
void cst_ckpt_forget(cst_ckpt *ck, cst_db *db);
/* Checkpoints every connection queued, in the calling thread; how many. Only for a
 * checkpointer without a thread. */
int cst_ckpt_run(cst_ckpt *ck);

#endif
