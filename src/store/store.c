/* store.c: the storage interface's dispatch: finds a driver by name and forwards each call to
 * the operations table of the handle it concerns. */
#include <stdlib.h>
#include <string.h>

#include "store/driver.h"
#include "util/util.h"

static const cst_store_driver *const drivers[] = {&cst_sqlite_driver, &cst_postgres_driver};

cst_err cst_store_driver_find(const char *name, const cst_store_driver **out)
{
    for (size_t i = 0; i < sizeof(drivers) / sizeof(*drivers); i++) {
        if (strcmp(drivers[i]->name, name) == 0) {
            *out = drivers[i];
            return CST_OK;
        }
    }
    return cst_fail(CST_ERR_INVALID,
                    "unknown storage driver \"%s\" (this build has: sqlite, postgresql)", name);
}

/* The driver of what has no handle: the copies in a backup or staging directory. */
static const cst_store_driver *default_driver(void)
{
    return drivers[0];
}

bool cst_store_exists_driver(const char *driver, const char *data_dir)
{
    const cst_store_driver *d = NULL;
    if (cst_store_driver_find(driver ? driver : CST_STORE_DEFAULT_DRIVER, &d) != CST_OK) {
        cst_err_clear();
        return false;
    }
    return d->store_exists(data_dir);
}

cst_err cst_store_open_conf(const cst_store_conf *c, bool create, cst_store **out)
{
    const cst_store_driver *d = NULL;
    TRY(cst_store_driver_find(c->driver ? c->driver : CST_STORE_DEFAULT_DRIVER, &d));
    return d->store_open(c, create, out);
}

cst_err cst_store_open_driver(const char *driver, const char *data_dir, bool create,
                              cst_store **out)
{
    cst_store_conf c = {.driver = driver, .data_dir = data_dir};
    return cst_store_open_conf(&c, create, out);
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

void cst_tstore_close_warm(cst_tstore *ts)
{
    if (ts)
        ts->drv->tstore_close_warm(ts);
}

void cst_tstore_rollback(cst_tstore *ts, cst_work *w)
{
    ts->drv->tstore_rollback(ts, w);
}

/* ---- IAM-5: the principals generation ----
 * A cache of principals (core/credcache.c) reads the generation before it reads the rows and
 * uses them only while the generation is unchanged. The bump therefore comes AFTER the write is
 * committed: a reader whose rows predate a commit read the generation before that commit's
 * bump, so its entry can never carry the generation that follows the change. A bump when the
 * write starts is not needed: no reader sees rows that are not committed (a transaction holds
 * its connection until it ends, and a reader of another connection sees committed data only),
 * and a transaction that rolls back bumps all the same, which costs a reload and nothing else.
 * The bump is here, not in a driver, so that every driver gets it. */
bool cst_store_shared_epoch(const cst_store *st, uint64_t *n)
{
    *n = 0;
    return st->drv->principals_epoch && st->drv->principals_epoch((cst_store *)st, n);
}

uint64_t cst_store_principals_gen(const cst_store *st)
{
    uint64_t gen = atomic_load(&st->principals_gen), epoch = 0;
    if (!st->drv->principals_epoch)
        return gen;
    /* Another node's write moves the shared epoch; one that cannot be read gives a generation
     * no entry carries (the top bit, and a fresh count), so the cache reloads from the store,
     * which then reports the failure. */
    if (!st->drv->principals_epoch((cst_store *)st, &epoch))
        return (1ULL << 63) | atomic_fetch_add(&((cst_store *)st)->principals_gen, 1);
    return (gen + epoch) & ~(1ULL << 63);
}

static void principals_bump(cst_store *st)
{
    atomic_fetch_add(&st->principals_gen, 1);
}

/* A write to principals in w: committed now (w NULL) or when w's transaction ends. */
static void principals_written(cst_store *st, cst_work *w);

/* Every other function of store.h: the operation of the same name of the handle's driver. */
#define ON_S st->drv
#define ON_T ts->drv
#define ON_D default_driver()
#define WRAP_S(type, name, params, args)                                                           \
    type cst_##name params                                                                         \
    {                                                                                              \
        return ON_S->name args;                                                                    \
    }
#define WRAP_T(type, name, params, args)                                                           \
    type cst_##name params                                                                         \
    {                                                                                              \
        return ON_T->name args;                                                                    \
    }
#define WRAP_D(type, name, params, args)                                                           \
    type cst_##name params                                                                         \
    {                                                                                              \
        return ON_D->name args;                                                                    \
    }
#define WRAP_P(type, name, params, args)                                                           \
    type cst_##name params                                                                         \
    {                                                                                              \
        type r = ON_S->name args;                                                                  \
        principals_written(st, w);                                                                 \
        return r;                                                                                  \
    }
#define WRAP_A(type, name, params, args)                                                           \
    type cst_##name params                                                                         \
    {                                                                                              \
        type r = ON_S->name args;                                                                  \
        principals_bump(st);                                                                       \
        return r;                                                                                  \
    }
#define WRAP(on, type, name, params, args) WRAP_##on(type, name, params, args)
CST_STORE_OPS(WRAP)

/* ---- transactions and units of work ----
 * The transaction keeps the connections it joined (whatever their driver) and the hooks its
 * units of work registered; a unit of work keeps which of those connections it has a
 * savepoint in. */
#define TXN_RES 4   /* connections one transaction may join (system store, tenant stores) */
#define TXN_HOOKS 4 /* things made outside the stores, undone when not committed */

typedef struct txn_hook {
    void (*fn)(void *ctx, bool committed);
    void *ctx;
    bool kept; /* its unit of work ended with keep */
} txn_hook;

struct cst_txn {
    struct {
        const cst_store_driver *drv;
        void *res;
    } res[TXN_RES];
    int n;
    txn_hook hooks[TXN_HOOKS];
    int nhooks;
    cst_work *open;                 /* the unit of work open in it, if any */
    cst_err broken;                 /* CST_OK, or why it can only roll back */
    cst_store *principals[TXN_RES]; /* IAM-5: stores whose principals it wrote, bumped at its end */
};

struct cst_work {
    cst_txn *t;
    bool saved[TXN_RES]; /* has a savepoint in t->res[i] */
    bool wrote;
    int first_hook; /* its hooks are t->hooks[first_hook..] */
};

cst_err cst_txn_begin(cst_txn **out)
{
    cst_txn *t = calloc(1, sizeof(*t));
    ENSURE(t != NULL, CST_ERR_INTERNAL, "out of memory");
    *out = t;
    return CST_OK;
}

/* Ends the transaction: each connection committed (while nothing failed) or rolled back, then
 * the hooks, once every connection is given back. */
static cst_err txn_end(cst_txn *t, bool commit)
{
    cst_err e = commit ? t->broken : CST_OK;
    for (int i = 0; i < t->n; i++) {
        if (commit && e == CST_OK)
            e = t->res[i].drv->res_commit(t->res[i].res);
        else
            t->res[i].drv->res_rollback(t->res[i].res);
    }
    /* A commit that failed part-way may have made some connection's changes durable; only a
     * transaction that committed everything keeps what its units of work made elsewhere. */
    bool committed = commit && e == CST_OK;
    /* IAM-5: after every connection is committed (or rolled back), before anyone is answered */
    for (int i = 0; i < TXN_RES && t->principals[i]; i++)
        principals_bump(t->principals[i]);
    for (int i = 0; i < t->nhooks; i++)
        t->hooks[i].fn(t->hooks[i].ctx, committed && t->hooks[i].kept);
    free(t);
    return e;
}

cst_err cst_txn_commit(cst_txn *t)
{
    if (t->open) {
        cst_error("storage: a transaction was committed with a unit of work still open");
        cst_err dropped = cst_work_end(t->open, false); /* a roll-back cannot fail */
        dropped = txn_end(t, false);
        (void)dropped;
        return cst_fail(CST_ERR_INTERNAL, "storage error");
    }
    return txn_end(t, true);
}

void cst_txn_rollback(cst_txn *t)
{
    if (!t)
        return;
    cst_err dropped = t->open ? cst_work_end(t->open, false) : CST_OK; /* cannot fail */
    dropped = txn_end(t, false);
    (void)dropped;
}

cst_err cst_work_begin(cst_txn *t, cst_work **out)
{
    ENSURE(t->open == NULL, CST_ERR_INTERNAL, "a unit of work is already open in the transaction");
    cst_work *w = calloc(1, sizeof(*w));
    ENSURE(w != NULL, CST_ERR_INTERNAL, "out of memory");
    w->t = t;
    w->first_hook = t->nhooks;
    t->open = w;
    *out = w;
    return CST_OK;
}

cst_err cst_work_join(cst_work *w, const cst_store_driver *drv, void *res)
{
    cst_txn *t = w->t;
    TRY(t->broken);
    int i = 0;
    while (i < t->n && t->res[i].res != res)
        i++;
    if (i == t->n) {
        ENSURE(t->n < TXN_RES, CST_ERR_INTERNAL, "a transaction wrote to too many stores");
        TRY(drv->res_begin(res, t));
        t->res[i].drv = drv;
        t->res[i].res = res;
        t->n++;
    }
    if (!w->saved[i]) {
        TRY(drv->res_savepoint(res));
        w->saved[i] = true;
    }
    w->wrote = true;
    return CST_OK;
}

const cst_txn *cst_work_txn(const cst_work *w)
{
    return w->t;
}

cst_err cst_work_end(cst_work *w, bool keep)
{
    cst_txn *t = w->t;
    cst_err e = CST_OK;
    for (int i = 0; i < t->n; i++) {
        if (!w->saved[i])
            continue;
        cst_err re = keep ? t->res[i].drv->res_release(t->res[i].res) : CST_OK;
        if (!keep || re != CST_OK)
            t->res[i].drv->res_rollback_to(t->res[i].res);
        if (re != CST_OK && e == CST_OK)
            e = re;
    }
    if (e != CST_OK && t->broken == CST_OK)
        t->broken = e;
    for (int i = w->first_hook; i < t->nhooks; i++)
        t->hooks[i].kept = keep && e == CST_OK;
    t->open = NULL;
    free(w);
    return e;
}

bool cst_work_wrote(const cst_work *w)
{
    return w->wrote;
}

cst_err cst_work_on_end(cst_work *w, void (*fn)(void *ctx, bool committed), void *ctx)
{
    if (!w) {
        fn(ctx, true);
        return CST_OK;
    }
    cst_txn *t = w->t;
    if (t->nhooks >= TXN_HOOKS) {
        fn(ctx, false);
        return cst_fail(CST_ERR_INTERNAL, "a request made too many files");
    }
    t->hooks[t->nhooks++] = (txn_hook){.fn = fn, .ctx = ctx};
    return CST_OK;
}

cst_err cst_txn_run(cst_err (*fn)(cst_work *w, void *ctx), void *ctx)
{
    cst_txn *t = NULL;
    cst_work *w = NULL;
    TRY(cst_txn_begin(&t));
    cst_err e = cst_work_begin(t, &w);
    if (e == CST_OK)
        e = fn(w, ctx);
    if (w) {
        cst_err ended = cst_work_end(w, e == CST_OK);
        if (e == CST_OK)
            e = ended;
    }
    if (e != CST_OK) {
        cst_txn_rollback(t);
        return e;
    }
    return cst_txn_commit(t);
}

static void principals_written(cst_store *st, cst_work *w)
{
    if (!w) {
        principals_bump(st);
        return;
    }
    cst_txn *t = w->t;
    int i = 0;
    while (i < TXN_RES && t->principals[i] && t->principals[i] != st)
        i++;
    if (i < TXN_RES)
        t->principals[i] = st;
    else /* unreachable: a write joins its store's connection first, and a transaction joins
          * at most TXN_RES; one that could not join wrote nothing */
        principals_bump(st);
}

/* ---- ENC-4: a re-encryption batch's items (driver.h) ---- */
cst_err cst_rewrap_items(cst_rewrap_item *items, int n,
                         cst_err (*reseal)(const char *bucket, cst_record_row *r, void *ctx),
                         void *ctx,
                         cst_err (*update)(const cst_rewrap_item *it, uint32_t old, void *res,
                                           int64_t *changed),
                         void *res, int64_t *done)
{
    cst_err e = CST_OK;
    for (int i = 0; e == CST_OK && i < n; i++) {
        uint32_t old = items[i].r.dek_version;
        int64_t changed = 0;
        e = reseal(items[i].bucket, &items[i].r, ctx);
        if (e == CST_OK)
            e = update(&items[i], old, res, &changed);
        *done += changed;
    }
    return e;
}
