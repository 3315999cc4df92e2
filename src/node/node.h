/* node.h: a running node: its configuration, master key, system store and the open tenants
 * (their stores and unwrapped keys, held in locked memory). */
#ifndef CST_NODE_H
#define CST_NODE_H

#include <pthread.h>
#include <stdbool.h>

#include "core/tenant.h"
#include "crypto/keys.h"
#include "node/config.h"
#include "store/store.h"

struct cst_audit;

/* Issue 20: a lease of a periodic task that one node of those sharing a store runs at a time
 * (the lifecycle sweep, the backup schedule, the webhook sender, a KEK
 * rotation's batches): the caller's record of it. */
typedef struct cst_node_lease_state {
    bool held;
    int64_t renewed; /* when this node last claimed or renewed it */
} cst_node_lease_state;

typedef struct cst_node {
    cst_config cfg;
    struct cst_audit *audit; /* open while serving */
    cst_key audit_key;       /* seals audit details that belong to no tenant */
    cst_store *store;
    cst_master *kek;  /* wraps tenant keys (ENC-4: maybe in a token) */
    cst_key root_key; /* seals and derives the node's own secrets (crypto/master.h) */
    char kek_id[CST_KEK_ID_LEN + 1];
    char kek_kind[16]; /* cst_master_kind of kek */
    /* ENC-4: an online KEK rotation (kekrot.c). kek_mu guards kek, kek_next, kek_retired and
     * the counts of the threads using each (0: kek, 1: kek_next, 2: kek_retired, a finished
     * rotation's old KEK, kept open for a blob read before the end and unwrapped after it, and
     * closed once a pass finds no key under it, or by the next rotation's start or the
     * node's close). */
    cst_master *kek_next, *kek_retired;
    pthread_mutex_t kek_mu;
    pthread_mutex_t kekrot_mu; /* one start or finish at a time */
    int kek_users[3];
    bool kekrot_drained; /* no key wrapped by the old KEK waits to be stored any more */
    int64_t kekrot_started, kekrot_done, kekrot_total;
    char kekrot_to_source[CST_MASTER_SOURCE_MAX]; /* the new KEK's source, recorded */
    /* Issue 20: nodes sharing a store follow a rotation any of them started (kekrot.c): the
     * lease of its batches (one node rewraps at a time), the pass that rewraps what is still
     * under the old KEK after the end (then closes it), and the rotation this node cannot
     * follow (its new KEK does not open here: not ready, kek_missing_msg says why). */
    cst_node_lease_state kek_lease;
    bool kek_repair;
    char kek_missing[CST_KEK_ID_LEN + 1], kek_missing_from[CST_KEK_ID_LEN + 1];
    char kek_missing_msg[1024];
    int64_t kek_since; /* ENC-4: when this KEK began wrapping this data dir; 0 when unknown */
    char node_id[CST_ID_MAX];
    char region[65];
    uint8_t public_key[32]; /* Ed25519: verifies backups and what the node signs */
    int64_t started_at;
    pthread_mutex_t tenants_mu;
    pthread_cond_t tenants_cv; /* a tenant context's last holder let go */
    cst_tenant_ctx **tenants;
    size_t ntenants, cap;
    size_t nopen;  /* contexts whose store is open: at most store.max_open_tenants unheld */
    uint64_t tick; /* bumped by every acquire */
    /* backups (BAK-1..4): one backup or drill at a time; the schedule thread */
    pthread_mutex_t backup_mu;
    pthread_mutex_t sched_mu;
    pthread_cond_t sched_cv;
    pthread_t sched_thread;
    bool sched_started, sched_stop;
    /* lifecycle (RET-1..4): the sweeper thread; one erase at a time */
    pthread_mutex_t erase_mu;
    pthread_mutex_t sweep_mu;
    pthread_cond_t sweep_cv;
    pthread_t sweep_thread;
    bool sweep_started, sweep_stop;
    /* ENC-4: the key worker (node/keys.h): counts, re-encryptions, automatic rotations */
    pthread_mutex_t keys_mu;
    pthread_cond_t keys_cv;
    pthread_t keys_thread;
    bool keys_started, keys_stop, keys_wake;
    /* IAM-2: login attempts per client address and per account (bounded tables), and the
     * failure counts of accounts that do not exist (so they lock as real ones do) */
    struct cst_throttle *login_ip, *login_account;
    struct cst_failtable *login_phantoms;
    struct cst_credcache *credcache; /* IAM-5: principals by token id (NULL: off) */
    struct cst_detect *detect;       /* DET-1: the detection rules' windows (node/detect.h) */
    struct cst_webhook *webhook;     /* DET-1: the webhook sender (node/webhook.h); NULL: off */
    struct cst_ship *ship;           /* audit shipping (node/ship.h); NULL: off */
} cst_node;

/* Loads the KEK (with its file checks), opens the system store and checks that the KEK and region
 * match what the data dir was initialised with. */
CST_MUST_USE cst_err cst_node_open(cst_node *n, const cst_config *cfg);
void cst_node_close(cst_node *n);
/* Whether this node holds the lease name: claimed, or renewed for ttl_us once a third of it has
 * passed (no write to the store more often). A change is logged. A store that cannot be
 * reached: false (the task waits). */
bool cst_node_lease(cst_node *n, const char *name, int64_t ttl_us, cst_node_lease_state *l);
/* Opens the audit log and records the start (CHG-1: a hash of the effective configuration
 * and every key changed since the last start). */
CST_MUST_USE cst_err cst_node_audit_open(cst_node *n);
/* CHG-1: the SHA-256 (hex) of the effective configuration's canonical JSON, the hash node.start
 * records; *non_default (optional) the keys whose value is not the default (not the master key
 * path, data dir or listen address when they are the defaults' own). */
CST_MUST_USE cst_err cst_node_config_hash(const cst_config *cfg, char hex[2 * CST_HASH_LEN + 1],
                                          struct json_t **non_default);
/* Opens the audit log without a node.start entry (offline commands that write). */
CST_MUST_USE cst_err cst_node_audit_attach(cst_node *n);

/* The open tenant context for an id, opening its store and unwrapping its keys on first use.
 * Not held: a context no request holds may be closed and freed at any time to keep at most
 * store.max_open_tenants stores open (3 descriptors each), so a server thread must use
 * cst_node_tenant_acquire instead; this is for single-threaded tools (bench, drills) and for
 * checking that a tenant opens at all. */
CST_MUST_USE cst_err cst_node_tenant(cst_node *n, const char *tenant_id, cst_tenant_ctx **out);
/* The same, held until cst_node_tenant_release: an erase waits for every holder. Fails with
 * CST_ERR_NOT_FOUND once the tenant's erase has begun. */
CST_MUST_USE cst_err cst_node_tenant_acquire(cst_node *n, const char *tenant_id,
                                             cst_tenant_ctx **out);
/* The same, its keys read in the unit of work w when the context must be opened: a request
 * that wrote the system store (a tenant created in w, its keys not committed yet) opens it
 * inside its own work. A creation's cst_work_on_end hook discards the context if w does not
 * commit (cst_node_tenant_discard). */
CST_MUST_USE cst_err cst_node_tenant_acquire_in(cst_node *n, cst_work *w, const char *tenant_id,
                                                cst_tenant_ctx **out);
/* The same for a pass over every tenant (the sweeper): the use does not count as recent, so
 * the pass does not push the tenants requests use out of the LRU. */
CST_MUST_USE cst_err cst_node_tenant_acquire_cold(cst_node *n, const char *tenant_id,
                                                  cst_tenant_ctx **out);
void cst_node_tenant_release(cst_node *n, cst_tenant_ctx *t);
/* RET-4: refuses new holders of the tenant's context, waits for the current ones, closes its
 * store and wipes its keys from memory. Idempotent; a tenant never opened is fine. */
void cst_node_tenant_close(cst_node *n, const char *tenant_id);
/* Forgets a tenant whose creation was rolled back: its context (held by no one) is closed and
 * freed, and its store files removed. */
void cst_node_tenant_discard(cst_node *n, const char *tenant_id);
/* Appends an entry by the node itself (schedules, sweeps) to the security stream; failures are
 * logged (the caller's work is already done and cannot wait). Takes info's reference. */
struct json_t;
void cst_node_audit_event(cst_node *n, const char *action, const char *outcome, const char *tenant,
                          const char *resource, struct json_t *info);

/* Fails with a clear message when data_dir holds no initialised node of the driver called
 * driver (NULL: the default; cst_store_exists_driver). */
CST_MUST_USE cst_err cst_node_check_data_dir(const char *data_dir, const char *driver);
/* Takes an exclusive lock on the data dir (custodia.lock) for the life of the process. */
CST_MUST_USE cst_err cst_node_lock_data_dir(const char *data_dir, int *fd);

/* The node's Ed25519 public key (<data-dir>/node-signing.pub), or one from a .pub file. */
CST_MUST_USE cst_err cst_node_public_key(const char *data_dir, uint8_t pk[32]);
CST_MUST_USE cst_err cst_node_public_key_file(const char *path, uint8_t pk[32]);
/* The node's Ed25519 key pair: *sk (64 bytes, sodium_malloc: release with sodium_free)
 * unsealed from node-signing.key with the root key (crypto/master.h), pk from node-signing.pub;
 * they must match. */
CST_MUST_USE cst_err cst_node_signing_key(const char *data_dir, const cst_key *kek, uint8_t **sk,
                                          uint8_t pk[32]);
/* A document signed with the node's key: canonical JSON {"<member>": body, "public_key": hex,
 * "signature": hex}, the signature over body's canonical text; *doc is text the caller frees
 * with cst_json_free_text (certificates of deletion, compliance reports). */
CST_MUST_USE cst_err cst_node_sign_json(cst_node *n, const char *member, struct json_t *body,
                                        char **doc);
/* Checks such a document against pk: only its canonical bytes (an optional final newline) are
 * accepted, so any changed byte fails; what names it in errors ("certificate", "report").
 * *body (optional) receives the member object. */
CST_MUST_USE cst_err cst_signed_json_verify(const uint8_t *doc, size_t len, const uint8_t pk[32],
                                            const char *member, const char *what,
                                            struct json_t **body);
/* LOG-2: writes a new audit seal key K0 to k0_path (which must not exist) and the node's
 * epoch-0 key file <data-dir>/audit/epoch.key (init, and a whole-node restore). */
CST_MUST_USE cst_err cst_node_make_seal_key(const char *data_dir, const cst_key *kek,
                                            const char *k0_path);

/* custodia init: see SPEC §4. join (issue 20: store.driver = postgresql only): a further node
 * of a database an earlier init made: only its own files and meta keys, no operator; its
 * master key must be the database's. The first operator (a sys-admin) is named operator_username
 * (validated like every username; "admin" when not given, which everyone can guess: IAM-2).
 * Prints prose, or one JSON object when json is true. */
CST_MUST_USE cst_err cst_node_init(const cst_config *cfg, const char *region,
                                   const char *operator_username, bool join, bool json);
/* ENC-4: the master key named by cfg's keys.master_key; create: init makes a missing one. */
CST_MUST_USE cst_err cst_node_master_open(const cst_config *cfg, bool create, cst_master **out);
/* The root key (crypto/master.h) for the offline commands; have_data_dir false: a restore into
 * a new data dir (file: and command: only; pkcs11: needs the data dir's root.key). */
/* ENC-4: rewraps every tenant key and the root key of the stopped, locked node n under the KEK
 * new_source (made when missing, as init does) in a crash-safe order (kekrot.c); n then holds
 * the new KEK. *out: old and new key ids, keys rewrapped. */
CST_MUST_USE cst_err cst_node_rotate_master(cst_node *n, const char *new_source, int64_t now,
                                            struct json_t **out);
/* ENC-4, online KEK rotation (kekrot.c). The KEK that wraps new keys (the new one while a
 * rotation runs), held until cst_node_kek_put: a rotation rewraps the old KEK's keys only once
 * every key it wrapped has been stored. */
cst_master *cst_node_kek_get(cst_node *n);
void cst_node_kek_put(cst_node *n, cst_master *m);
/* A fresh tenant key wrapped by cst_node_kek_get's KEK, held until w ends (w must be the unit of
 * work that stores the blob). */
CST_MUST_USE cst_err cst_node_key_wrap_new(cst_node *n, cst_work *w, const char *tenant_id,
                                           const char *purpose, uint32_t version, cst_buf *out);
/* Unwraps a tenant key with whichever of the node's KEKs wrapped it. */
CST_MUST_USE cst_err cst_node_key_unwrap(cst_node *n, const char *tenant_id, const char *purpose,
                                         uint32_t version, const uint8_t *blob, size_t len,
                                         cst_key *out);
/* Starts a rotation to the KEK named by source (file: or pkcs11:, or the configuration's
 * keys.next_master_key of any kind); *out: cst_node_kek_status. */
CST_MUST_USE cst_err cst_node_kek_rotate(cst_node *n, const char *source, int64_t now,
                                         struct json_t **out);
/* One batch of a running rotation, and its end when no key is left (the key worker's tick);
 * *busy while it runs. */
void cst_node_kek_step(cst_node *n, int64_t now, bool *busy);
/* {kek_id, source, since, rotation: {state, ...}} (GET /v1/sys/keys). */
struct json_t *cst_node_kek_status(cst_node *n);
/* ENC-4: whether a master key rotation runs: one this node holds, or (issue 20) one another
 * node of its store started (meta kek_next), which this node may not have noticed yet. */
bool cst_node_kek_rotating(cst_node *n);
/* Issue 20: CST_ERR_UNAVAILABLE naming the KEK this node lacks when it cannot follow a rotation
 * another node of its store started (readiness). */
CST_MUST_USE cst_err cst_node_kek_ready(cst_node *n);
/* At open, once the configured KEK is loaded: checks it against the data dir's kek_id, or, with
 * a rotation unfinished, opens the rotation's other KEK from its recorded source. */
CST_MUST_USE cst_err cst_node_kek_check(cst_node *n, const char *stored_id);
/* ENC-4: finishes (root.key.next names kek_id: its transaction committed) or drops (it does not)
 * an interrupted KEK rotation's root key; node open calls it once kek_id is checked. */
CST_MUST_USE cst_err cst_node_kek_recover(const char *data_dir, const char *kek_id);
/* ENC-4: when the KEK began wrapping this data dir (meta kek_since, else created_at); 0 when
 * unknown. */
int64_t cst_node_kek_since(cst_store *st);
/* blob: a root key as root.key holds it (a backup's header carries one), opened by the KEK. */
CST_MUST_USE cst_err cst_node_root_key(const cst_config *cfg, bool have_data_dir,
                                       const cst_buf *blob, cst_key *root);

#endif
