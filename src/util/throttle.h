/* throttle.h: a bounded table of token buckets keyed by a string (a client address, an
 * account), for rate limits that an attacker with many keys cannot grow (IAM-2). */
#ifndef CST_THROTTLE_H
#define CST_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct cst_throttle cst_throttle;

/* A table of `capacity` buckets (rounded up to a whole number of 8-way sets), each holding up to
 * per_minute attempts and refilling at per_minute per 60 s. Keys are hashed with a random
 * per-table key, so a client cannot choose keys that collide. Free with cst_throttle_free. */
CST_MUST_USE cst_err cst_throttle_new(size_t capacity, int per_minute, cst_throttle **out);
void cst_throttle_free(cst_throttle *t);

/* Takes one attempt for key at now (microseconds). True when allowed; false when the key's
 * bucket is empty, with *retry_after the whole seconds until the next attempt is allowed (at
 * least 1). A key not in the table gets a full bucket, evicting in its set the bucket with
 * the most attempts left (least recently used among equals): a throttled key, nearly empty,
 * is the last to go, so a flood of fresh keys cannot free it. */
bool cst_throttle_take(cst_throttle *t, const char *key, size_t key_len, int64_t now,
                       int *retry_after);

/* IAM-2: the lockout of accounts that do not exist. A bounded table (like the buckets above)
 * of consecutive failures per key, so that a name nobody has answers as a real account would:
 * after threshold failures it is "locked" for lock_us, and the count restarts when a lock has
 * expired. */
typedef struct cst_failtable cst_failtable;
CST_MUST_USE cst_err cst_failtable_new(size_t capacity, cst_failtable **out);
void cst_failtable_free(cst_failtable *t);
/* When key's lock ends (microseconds), or 0 when it is not locked at now. */
int64_t cst_failtable_locked_until(cst_failtable *t, const char *key, size_t key_len, int64_t now);
/* Counts a failure for key at now; *failed is the count and *locked_until the lock's end when
 * the count reached threshold (else 0). */
void cst_failtable_fail(cst_failtable *t, const char *key, size_t key_len, int64_t now,
                        int threshold, int64_t lock_us, int *failed, int64_t *locked_until);

#endif
