/* bucket.c: the one validation of a bucket and of resource names. */
#include <stdbool.h>
#include <string.h>

#include "core/bucket.h"

cst_err cst_name_check(const char *what, const char *name)
{
    size_t len = strlen(name);
    bool ok = len >= 1 && len <= 64;
    for (const char *c = name; ok && *c; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-';
    ENSURE(ok, CST_ERR_INVALID, "%s must match [a-z0-9_-]{1,64}", what);
    return CST_OK;
}

cst_err cst_bucket_validate(const cst_bucket_row *b)
{
    TRY(cst_name_check("bucket name", b->name));
    ENSURE(!strcmp(b->cls, "standard") || !strcmp(b->cls, "billing"), CST_ERR_INVALID,
           "class must be standard or billing");
    ENSURE(b->retention_seconds >= 0 && b->retention_seconds <= CST_RETENTION_MAX_SECONDS,
           CST_ERR_INVALID, "retention_seconds must be from 0 (keep) to %lld",
           (long long)CST_RETENTION_MAX_SECONDS);
    return CST_OK;
}
