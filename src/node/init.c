/* init.c: custodia init: a new data dir, its keys, certificate and first operator. */
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/json.h"
#include "core/account.h"
#include "core/authz.h"
#include "audit/audit.h"
#include "crypto/secrets.h"
#include "crypto/sign.h"
#include "crypto/tlscert.h"
#include "node/node.h"
#include "util/util.h"

static cst_err make_dir(const char *path)
{
    ENSURE(mkdir(path, 0700) == 0, CST_ERR_INVALID, "cannot create %s: %s", path, strerror(errno));
    return CST_OK;
}

static cst_err sub_dir(const char *data_dir, const char *name)
{
    char p[PATH_MAX];
    TRY(cst_fmt(p, sizeof(p), "%s/%s", data_dir, name));
    return make_dir(p);
}

static bool region_valid(const char *r)
{
    size_t n = strlen(r);
    if (n == 0 || n > 64)
        return false;
    for (const char *c = r; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            return false;
    return true;
}

/* The node's Ed25519 signing key: the secret half sealed under the KEK, the public half in
 * the clear for anyone who verifies a certificate the node signed. */
static cst_err signing_paths(const char *data_dir, char key[PATH_MAX], char pub[PATH_MAX])
{
    TRY(cst_fmt(key, PATH_MAX, "%s/node-signing.key", data_dir));
    return cst_fmt(pub, PATH_MAX, "%s/node-signing.pub", data_dir);
}

static cst_err make_signing_key(const char *data_dir, const cst_key *kek, char pk_hex[65])
{
    char key[PATH_MAX], pub[PATH_MAX];
    uint8_t pk[CST_SIGN_PK_LEN], *sk = NULL;
    TRY(signing_paths(data_dir, key, pub));
    TRY(cst_sign_keypair(pk, &sk));
    cst_err e = cst_sign_key_save(key, pub, kek, sk, pk_hex);
    cst_sign_key_free(sk);
    return e;
}

cst_err cst_node_public_key_file(const char *path, uint8_t pk[CST_SIGN_PK_LEN])
{
    return cst_sign_public_key_load(path, pk);
}

cst_err cst_node_public_key(const char *data_dir, uint8_t pk[CST_SIGN_PK_LEN])
{
    char path[PATH_MAX];
    TRY(cst_fmt(path, sizeof(path), "%s/node-signing.pub", data_dir));
    return cst_sign_public_key_load(path, pk);
}

cst_err cst_node_signing_key(const char *data_dir, const cst_key *kek, uint8_t **sk,
                             uint8_t pk[CST_SIGN_PK_LEN])
{
    char key[PATH_MAX], pub[PATH_MAX];
    TRY(signing_paths(data_dir, key, pub));
    return cst_sign_key_load(key, pub, kek, sk, pk);
}

/* LOG-2: the audit seal key K0, written once outside the data dir for the operator to move
 * offline; the node keeps its own copy (sealed under the KEK) to evolve forward. */
cst_err cst_node_make_seal_key(const char *data_dir, const cst_key *kek, const char *k0_path)
{
    cst_key k0 = {0};
    TRY(cst_key_random(&k0));
    char path[PATH_MAX];
    cst_err e = cst_file_create(k0_path, k0.k, CST_KEY_LEN, 0600);
    if (e == CST_OK)
        e = cst_fmt(path, sizeof(path), "%s/audit/epoch.key", data_dir);
    if (e == CST_OK && cst_path_exists(path))
        e = cst_fail(CST_ERR_CONFLICT, "%s exists already", path);
    if (e == CST_OK)
        e = cst_audit_epoch_store(path, kek, 0, &k0);
    cst_key_free(&k0);
    return e;
}

static cst_err make_operator(cst_store *st, cst_work *w, const char *username, char password[32])
{
    cst_user_row u;
    TRY(cst_account_new(CST_SYS_TENANT, username, CST_ROLE_BIT(CST_ROLE_SYS_ADMIN), cst_now_us(),
                        &u, password));
    return cst_store_user_create(st, w, &u);
}

/* A store that holds a region was initialised by an earlier init (a shared database). */
static cst_err shared_region(cst_store *st, cst_work *w, char *region, size_t n)
{
    cst_err e = cst_store_meta_get(st, w, "region", region, n);
    if (e == CST_ERR_NOT_FOUND) {
        cst_err_clear();
        region[0] = '\0';
        return CST_OK;
    }
    return e;
}

/* The join of a further node (issue 20): the database's region and master key are this
 * node's. */
static cst_err join_checks(cst_store *st, cst_work *w, const char *kek_id, const char *region)
{
    char have[CST_NAME_MAX + 1], kek[64];
    TRY(shared_region(st, w, have, sizeof(have)));
    ENSURE(have[0], CST_ERR_INVALID,
           "the database in store.dsn has not been initialised: run custodia init --config FILE "
           "(without --join) for its first node");
    ENSURE(strcmp(have, region) == 0, CST_ERR_INVALID,
           "the database in store.dsn belongs to region %s, not %s (RES-1): give --region %s", have,
           region, have);
    TRY(cst_store_meta_get(st, w, "kek_id", kek, sizeof(kek)));
    ENSURE(strcmp(kek, kek_id) == 0, CST_ERR_INVALID,
           "the master key given (key id %s) is not the database's (key id %s): a node joins "
           "with the master key the other nodes use",
           kek_id, kek);
    return CST_OK;
}

typedef struct init_op {
    cst_store *st;
    const char *kek_id, *region, *operator_username;
    bool join;
    char *password;
    char node_id[CST_ID_MAX], now[32], root_id[CST_KEK_ID_LEN + 1];
} init_op;

/* What init writes to the store, in one transaction under the "init" exclusion: two first
 * inits of one shared database at once make one region and one first operator (the second
 * waits, then finds the region and is refused), and a join waits for the first init to end. */
static cst_err init_in(cst_work *w, void *ctx)
{
    init_op *o = ctx;
    cst_store *st = o->st;
    char have[CST_NAME_MAX + 1] = "";
    TRY(cst_store_exclusive(st, w, "init"));
    if (o->join)
        TRY(join_checks(st, w, o->kek_id, o->region));
    else
        TRY(shared_region(st, w, have, sizeof(have)));
    ENSURE(o->join || !have[0], CST_ERR_CONFLICT,
           "the database in store.dsn is initialised already (region %s): add this node to it "
           "with custodia init --join",
           have);
    /* this node's own keys (meta.c keeps them per node on a shared database) */
    TRY(cst_store_meta_set(st, w, "node_id", o->node_id));
    TRY(cst_store_meta_set(st, w, "created_at", o->now));
    /* what this node's backups are sealed under (restore.c) */
    TRY(cst_store_meta_set(st, w, "root_key_id", o->root_id));
    if (o->join)
        return CST_OK;
    TRY(cst_store_meta_set(st, w, "region", o->region));
    TRY(cst_store_meta_set(st, w, "kek_id", o->kek_id));
    /* ENC-4: the KEK's age counts from here (keys.kek_max_age) */
    TRY(cst_store_meta_set(st, w, "kek_since", o->now));
    TRY(cst_store_meta_set(st, w, "schema_version", "1"));
    return make_operator(st, w, o->operator_username, o->password);
}

static cst_err init_store(const cst_config *cfg, const char *kek_id, const cst_key *root,
                          const char *region, const char *operator_username, bool join,
                          char password[32])
{
    init_op o = {.kek_id = kek_id,
                 .region = region,
                 .operator_username = operator_username,
                 .join = join,
                 .password = password};
    cst_kek_id(root, o.root_id);
    cst_random_id("nd", o.node_id);
    cst_time_format(cst_now_us(), o.now);
    cst_store_conf sc;
    cst_config_store(cfg, &sc);
    TRY(cst_store_open_conf(&sc, true, &o.st));
    cst_err e = cst_txn_run(init_in, &o);
    cst_store_close(o.st);
    return e;
}

cst_err cst_node_master_open(const cst_config *cfg, bool create, cst_master **out)
{
    cst_master_opts o = {.source = cfg->master_key,
                         .data_dir = cfg->data_dir,
                         .pin_file = cfg->pin_file,
                         .command_timeout_s = cfg->command_timeout_s,
                         .create = create};
    return cst_master_open(&o, out);
}

cst_err cst_node_root_key(const cst_config *cfg, bool have_data_dir, const cst_buf *blob,
                          cst_key *root)
{
    cst_master_opts o = {.source = cfg->master_key,
                         .data_dir = have_data_dir ? cfg->data_dir : NULL,
                         .pin_file = cfg->pin_file,
                         .command_timeout_s = cfg->command_timeout_s};
    cst_master *m = NULL;
    TRY(cst_master_open(&o, &m));
    cst_err e =
        blob ? cst_master_root_unwrap(m, blob->data, blob->len, "the backup's root key", root)
             : cst_master_root_key(m, o.data_dir, false, root);
    cst_master_close(m);
    return e;
}

cst_err cst_node_init(const cst_config *cfg, const char *region, const char *operator_username,
                      bool join, bool json)
{
    const char *data_dir = cfg->data_dir;
    ENSURE(!join || strcmp(cfg->store_driver, "postgresql") == 0, CST_ERR_INVALID,
           "init --join adds a node to a shared PostgreSQL database: set store.driver = "
           "postgresql and store.dsn in the file given with --config");
    TRY(cst_account_check_username(operator_username));
    ENSURE(region_valid(region), CST_ERR_INVALID,
           "region must be 1-64 characters of a-z, 0-9 and '-', not \"%s\"", region);
    struct stat st;
    ENSURE(lstat(data_dir, &st) != 0, CST_ERR_CONFLICT,
           "%s already exists; custodia init makes a new data dir and never reuses one", data_dir);
    TRY(make_dir(data_dir));
    bool new_key = cfg->master_key_file[0] && !cst_path_exists(cfg->master_key_file);
    cst_master *m = NULL;
    /* ENC-4: file: and pkcs11: make a missing key; a joining node brings the database's */
    cst_err e = cst_node_master_open(cfg, !join, &m);
    cst_key root = {0}; /* seals the node's own secrets (crypto/master.h) */
    if (e == CST_OK)
        e = cst_master_root_key(m, data_dir, true, &root);
    char k0_path[PATH_MAX], pk_hex[65], password[32], cert[PATH_MAX], key[PATH_MAX];
    if (e == CST_OK)
        e = cst_config_default_key_path(data_dir, "custodia-audit-k0.key", k0_path,
                                        sizeof(k0_path));
    const char *subdirs[] = {"tenants", "audit", "tls", "backups"};
    for (size_t i = 0; e == CST_OK && i < sizeof(subdirs) / sizeof(*subdirs); i++)
        e = sub_dir(data_dir, subdirs[i]);
    if (e == CST_OK)
        e = make_signing_key(data_dir, &root, pk_hex);
    if (e == CST_OK)
        e = cst_node_make_seal_key(data_dir, &root, k0_path);
    bool k0_made = e == CST_OK; /* made here: the file did not exist (O_EXCL) */
    if (e == CST_OK)
        e = cst_fmt(cert, sizeof(cert), "%s/tls/cert.pem", data_dir);
    if (e == CST_OK)
        e = cst_fmt(key, sizeof(key), "%s/tls/key.pem", data_dir);
    if (e == CST_OK)
        e = cst_tls_selfsigned(cert, key, NULL);
    if (e == CST_OK)
        e = init_store(cfg, cst_master_id(m), &root, region, operator_username, join, password);
    char kid[CST_KEK_ID_LEN + 1] = "";
    if (m)
        snprintf(kid, sizeof(kid), "%s", cst_master_id(m));
    cst_key_free(&root);
    cst_master_close(m);
    if (e != CST_OK) { /* a failed init leaves nothing it made but a new master key file (which
                        * the next init reuses): its store rows rolled back with init_store */
        cst_rm_rf(data_dir);
        if (k0_made && unlink(k0_path) != 0)
            cst_warn("cannot remove %s: %s", k0_path, strerror(errno));
    }
    TRY(e);

    if (json) {
        json_t *op =
            join ? json_null()
                 : json_pack("{s:s,s:s}", "username", operator_username, "password", password);
        json_t *o = json_pack("{s:o,s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "operator", op, "seal_key_file",
                              k0_path, "public_key", pk_hex, "data_dir", data_dir,
                              "master_key_file", cfg->master_key_file, "master_key",
                              cfg->master_key, "region", region, "joined", join);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (text)
            printf("%s\n", text);
        cst_json_free_text(text);
        json_decref(o);
    } else {
        printf("custodia: initialised %s (region %s)%s\n", data_dir, region,
               join ? ", a further node of the database in store.dsn" : "");
        if (cfg->master_key_file[0])
            printf("  master key:      %s%s (keep it outside the data dir; back it up "
                   "separately)\n",
                   cfg->master_key_file, new_key ? " (new)" : "");
        else
            printf("  master key:      %s (id %s)\n", cfg->master_key, kid);
        printf("  audit seal key:  %s\n", k0_path);
        printf("                   MOVE THIS FILE OFFLINE NOW. It is the only way to prove that\n"
               "                   the audit log was not rewritten; the node never needs it.\n");
        printf("  TLS certificate: %s (self-signed)\n", cert);
        printf("  node public key: %s\n", pk_hex);
    }
    if (!json && !join) {
        printf("\n  operator login:  tenant \"_sys\", username \"%s\", one-time password:\n"
               "                   %s\n"
               "  It is shown once and must be changed at first login.\n",
               operator_username, password);
        printf("\n  Next, once `custodia serve` listens on https://127.0.0.1:8443 (the default):\n"
               "    curl --cacert %s https://127.0.0.1:8443/v1/auth/login \\\n"
               "      -H 'Content-Type: application/json' \\\n"
               "      -d '{\"tenant\":\"_sys\",\"username\":\"%s\",\"password\":\"%s\"}'\n"
               "  then follow the quick start in README.md.\n",
               cert, operator_username, password);
    }
    sodium_memzero(password, sizeof(password));
    return CST_OK;
}
