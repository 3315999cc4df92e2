/* window.h: bounded tables of sliding windows keyed by a string (an account, a client address,
 * a token id), for the detection rules (DET-1): how many events, or how many distinct items
 * (accounts tried from one address), fell after a given time. A client with many keys cannot
 * grow a table: it has a fixed number of entries (8-way sets, keys hashed with a random
 * per-table key), and each entry remembers at most CST_WINDOW_SLOTS items. */
#ifndef CST_WINDOW_H
#define CST_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define CST_WINDOW_SLOTS 64 /* the largest count a window can reach */

typedef struct cst_window cst_window;

/* A table of `capacity` entries (rounded up to whole 8-way sets). Free with cst_window_free. */
CST_MUST_USE cst_err cst_window_new(size_t capacity, cst_window **out);
void cst_window_free(cst_window *w);

/* Records an event for key at time t (microseconds) and returns how many items of key's have a
 * time after since, this one included. item names what the event concerns (distinct items are
 * counted once: the accounts one address tried); NULL counts every event on its own. An item
 * seen before has its time moved to t; when all slots are taken the oldest is replaced. A key
 * not in the table evicts, in its set, the entry whose newest event is the oldest. */
int cst_window_note(cst_window *w, const char *key, size_t key_len, const char *item,
                    size_t item_len, int64_t t, int64_t since);
/* The count cst_window_note would give, without recording anything (0 for an unknown key). */
int cst_window_count(cst_window *w, const char *key, size_t key_len, int64_t since);
/* Forgets key (an alert resolved). */
void cst_window_forget(cst_window *w, const char *key, size_t key_len);

#endif
