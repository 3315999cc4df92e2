/* bucket.h: a bucket's one validation (RET-1, POR-1), whoever makes it: the bucket routes, an
 * import, a restore; and the resource names buckets, grants and tenants share. */
#ifndef CST_CORE_BUCKET_H
#define CST_CORE_BUCKET_H

#include "store/store.h"
#include "util/err.h"

/* RET-1: the longest retention a bucket may have (100 years). */
#define CST_RETENTION_MAX_SECONDS (100LL * 365 * 86400)

/* Validates a resource name (what names it in the message): [a-z0-9_-]{1,64}. */
CST_MUST_USE cst_err cst_name_check(const char *what, const char *name);
/* RET-1, POR-1: name, class (standard or billing), retention from 0 (keep) to the maximum. */
CST_MUST_USE cst_err cst_bucket_validate(const cst_bucket_row *b);

#endif
