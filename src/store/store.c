/* store.c: the storage interface's dispatch: finds a driver by name and forwards each call to
 * the operations table of the handle it concerns. */
#include <stdlib.h>
#include <string.h>

#include "store/driver.h"
#include "util/util.h"

static const cst_store_driver *const drivers[] = {&cst_sqlite_driver};

cst_err cst_store_driver_find(const char *name, const cst_store_driver **out)
{
    for (size_t i = 0; i < sizeof(drivers) / sizeof(*drivers); i++) {
        if (strcmp(drivers[i]->name, name) == 0) {
            *out = drivers[i];
            return CST_OK;
        }
    }
    return cst_fail(CST_ERR_INVALID, "unknown storage driver \"%s\" (this build has: sqlite)",
                    name);
}

/* The driver of what has no handle: the copies in a backup or staging directory. */
static const cst_store_driver *default_driver(void)
{
    return drivers[0];
}

cst_err cst_store_open_driver(const char *driver, const char *data_dir, bool create,
                              cst_store **out)
{
    const cst_store_driver *d = NULL;
    TRY(cst_store_driver_find(driver, &d));
    return d->store_open(data_dir, create, out);
}

cst_err cst_store_open(const char *data_dir, bool create, cst_store **out)
{
    return cst_store_open_driver(CST_STORE_DEFAULT_DRIVER, data_dir, create, out);
}

void cst_record_row_init(cst_record_row *r)
{
    memset(r, 0, sizeof(*r));
    cst_buf_init(&r->meta, 1 << 16);
    cst_buf_init(&r->value, SIZE_MAX);
}

void cst_record_row_free(cst_record_row *r)
{
    cst_buf_free(&r->meta);
    cst_buf_free(&r->value);
}

void cst_store_close(cst_store *st)
{
    if (st)
        st->drv->store_close(st);
}

void cst_tstore_close(cst_tstore *ts)
{
    if (ts)
        ts->drv->tstore_close(ts);
}

void cst_tstore_rollback(cst_tstore *ts)
{
    ts->drv->tstore_rollback(ts);
}

void cst_tstore_checkpoint(cst_tstore *ts)
{
    ts->drv->tstore_checkpoint(ts);
}

/* Every other function of store.h: the operation of the same name of the handle's driver. */
#define ON_S st->drv
#define ON_T ts->drv
#define ON_D default_driver()
#define WRAP(on, type, name, params, args)                                                         \
    type cst_##name params                                                                         \
    {                                                                                              \
        return ON_##on->name args;                                                                 \
    }
CST_STORE_OPS(WRAP)
