/* audit.h: the tamper-evident, fail-closed audit log (LOG-1 to LOG-4, SPEC §6).
 *
 * Two streams, `security` and `access`, each a hash chain of JSON lines in segment files
 * `<dir>/<stream>/<first seq, 20 digits>.log`. Three kinds of line, each canonical JSON
 * (compact, keys sorted) ending in '\n':
 *   {"anchor":{epoch,head,mac,seq,stream,time}}  first line of every segment: where the chain
 *       resumes (seq 0 and an all-zero head for the first segment of a stream; otherwise a copy
 *       of the seal that closed the previous segment)
 *   {action,actor,detail?,hash,info?,node,outcome,prev,request_id,resource,seq,source_ip,
 *    status,tenant,time}  one entry; hash = SHA-256(prev || the entry's canonical JSON without
 *       prev and hash)
 *   {"seal":{epoch,head,mac,seq,stream,time}}  mac = HMAC-SHA256(K_epoch, "cst:audit-seal:v1"
 *       || stream || 0x00 || u64be epoch || u64be seq || head), seq being the number of entries
 *       the stream holds so far.
 * Every seal round seals both streams with K_e and then moves the key forward,
 * K_{e+1} = HKDF-SHA256(K_e, "next"), wiping K_e: a thief of today's key cannot forge the seal of
 * an earlier epoch. The node keeps K_e in `<data-dir>/audit/epoch.key` (u64be epoch || K_e
 * sealed under the KEK); K0 itself lives only in the file init wrote for the operator.
 *
 * Appends use group commit: every request waiting at a moment shares one write and one
 * fdatasync per stream, and returns only once its entry is durable. With batched reads, a read's
 * entry is written before it returns and made durable by the audit's flusher thread within
 * flush_interval_ms; a failed write or flush then refuses every append until the log is writable
 * again (the flusher probes it).
 *
 * Segments are pre-allocated (SPEC §10): the open segment is zero-filled ahead of its tail, so
 * entries overwrite zeroes and a flush need not make a new file size durable. A reader finds the
 * tail again: the end of the last complete line; zeroes after it are padding, anything else
 * after it is an integrity failure. Closed segments (rotated, or at a clean stop) are trimmed to
 * their last line. */
#ifndef CST_AUDIT_H
#define CST_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "util/err.h"

typedef enum cst_audit_stream {
    CST_AUDIT_SECURITY = 0, /* authentication, settings, users, keys, operator actions */
    CST_AUDIT_ACCESS = 1,   /* record reads and writes */
    CST_AUDIT__STREAMS
} cst_audit_stream;

extern const char *const cst_audit_stream_names[CST_AUDIT__STREAMS];

typedef struct cst_audit_opts {
    const char *dir;        /* segments */
    const char *epoch_file; /* <data-dir>/audit/epoch.key */
    const cst_key *kek;     /* seals the epoch file; must outlive the log */
    const char *node_id;
    int seal_entries;      /* seal after this many entries in a stream */
    int seal_seconds;      /* ...or after this long with unsealed entries */
    bool group_commit;     /* false: one write and fdatasync per entry, serialised */
    int64_t segment_bytes; /* start a new segment (at a seal) past this size... */
    int segment_seconds;   /* ...or this age */
    int retention_days[CST_AUDIT__STREAMS];
    bool batched_reads;    /* audit.read_durability = batched: see cst_audit_event.read */
    int flush_interval_ms; /* with batched_reads: the longest a written entry waits for its sync */
} cst_audit_opts;

/* One entry. Strings are copied; NULL tenant writes null. detail (a sealed-detail object) and
 * info (plain, non-identifying facts) are borrowed and may be NULL. */
typedef struct cst_audit_event {
    cst_audit_stream stream;
    const char *tenant;
    const char *actor_type; /* user | operator | anonymous | node */
    const char *actor_id;
    const char *actor_token;
    const char *source_ip;
    const char *action;
    const char *resource;
    const char *outcome; /* success | failure | denied */
    int status;
    const char *request_id;
    json_t *detail;
    json_t *info;
    bool read; /* a read (GET/HEAD): with batched_reads, returns once written, not durable */
} cst_audit_event;

typedef struct cst_audit cst_audit;

/* Opens the log: creates the stream directories and first segments, repairs a torn last line,
 * finishes a seal round a crash interrupted, and starts the sealing thread. */
CST_MUST_USE cst_err cst_audit_open(const cst_audit_opts *o, cst_audit **out);
/* Seals what is unsealed and closes. */
void cst_audit_close(cst_audit *a);
/* Appends ev and returns once it is durable (with batched_reads and ev->read: once it is written,
 * durable within flush_interval_ms); CST_ERR_AUDIT_UNAVAILABLE when it cannot be made so (the
 * entry is then not in the log), or while a failed batched flush has stopped the log. */
CST_MUST_USE cst_err cst_audit_append(cst_audit *a, const cst_audit_event *ev);
/* cst_audit_append in two halves, so that one thread can queue several entries (a group
 * commit's) and wait once: enqueue numbers and chains ev into its stream's queue and fills t;
 * wait returns once t's entry is durable (CST_ERR_AUDIT_UNAVAILABLE when the flush that carried
 * it failed: the entry is then not in the log). A queued entry goes out with the next flush,
 * whoever waits for it. wait on a ticket that holds nothing (queued false) returns CST_OK. A
 * read's entry under audit.read_durability = batched (ev->read) is waited for until written;
 * the flusher makes it durable within audit.flush_interval. */
typedef struct cst_audit_ticket {
    bool queued;
    bool written; /* a read under audit.read_durability = batched: written is enough */
    int stream;
    uint64_t seq;
    uint32_t gen;
} cst_audit_ticket;
CST_MUST_USE cst_err cst_audit_enqueue(cst_audit *a, const cst_audit_event *ev,
                                       cst_audit_ticket *t);
CST_MUST_USE cst_err cst_audit_wait(cst_audit *a, const cst_audit_ticket *t);
/* Shipping (node/ship.h) reads the segments on disk up to the last durable entry of each
 * stream, and is told when there are new ones: fn(ctx) is called with the log's lock held
 * whenever entries became durable, so it must only signal (never call back into the log);
 * NULL stops the calls. */
uint64_t cst_audit_durable_seq(cst_audit *a, cst_audit_stream s);
void cst_audit_set_notify(cst_audit *a, void (*fn)(void *), void *ctx);
/* DET-2: entries numbered but not yet durable, in all streams (the audit lag while nothing ships
 * them elsewhere). */
uint64_t cst_audit_pending(cst_audit *a);
/* DET-2 readiness: CST_OK while the log takes entries; CST_ERR_AUDIT_UNAVAILABLE (with why) when
 * a failed write stopped it or a segment was removed or replaced under it. */
CST_MUST_USE cst_err cst_audit_writable(cst_audit *a);
/* Runs a seal round now (tests, shutdown). */
CST_MUST_USE cst_err cst_audit_seal(cst_audit *a);
/* Removes whole segments older than their stream's retention, recording what it removed in the
 * security stream first. now_us is injectable for tests. Returns the number removed. */
CST_MUST_USE cst_err cst_audit_prune(cst_audit *a, int64_t now_us, int *removed);

/* Epoch key file: u64be epoch || sealed key (AAD "cst:audit-epoch:v1" || u64be epoch). */
CST_MUST_USE cst_err cst_audit_epoch_store(const char *path, const cst_key *kek, uint64_t epoch,
                                           const cst_key *k);
CST_MUST_USE cst_err cst_audit_epoch_load(const char *path, const cst_key *kek, uint64_t *epoch,
                                          cst_key *k);
/* The epoch number alone (no KEK needed). */
CST_MUST_USE cst_err cst_audit_epoch_peek(const char *path, uint64_t *epoch);
/* K_{e+1} from K_e, in place. */
CST_MUST_USE cst_err cst_audit_key_next(cst_key *k);
/* The seal MAC. */
void cst_audit_seal_mac(const cst_key *k, const char *stream, uint64_t epoch, uint64_t seq,
                        const uint8_t head[CST_HASH_LEN], uint8_t out[CST_HASH_LEN]);
/* Canonical JSON text (compact, sorted keys) of v into a malloc'd string; free with
 * cst_json_free_text. */
char *cst_audit_canonical(const json_t *v);
/* An entry's hash: SHA-256(prev || canonical entry without "prev" and "hash"). */
CST_MUST_USE cst_err cst_audit_entry_hash(const json_t *entry, const uint8_t prev[CST_HASH_LEN],
                                          uint8_t out[CST_HASH_LEN]);

/* Segment listing shared by the writer, the verifier and the readers: the sorted segment
 * paths of a stream (malloc'd array of malloc'd strings). */
CST_MUST_USE cst_err cst_audit_segments(const char *dir, const char *stream, char ***paths,
                                        size_t *n);
void cst_audit_segments_free(char **paths, size_t n);
/* SPEC §10: where a segment's text ends, found again after a stop: at *end, the first NUL byte
 * (or len); every byte from there on must be zero padding, else CST_ERR_INTEGRITY naming the
 * offset. *good is the end of the last complete line; [*good, *end) is a torn line. */
CST_MUST_USE cst_err cst_audit_segment_tail(const char *path, const uint8_t *data, size_t len,
                                            size_t *good, size_t *end);
/* The anchor object (first line) of a segment; json_decref it. */
CST_MUST_USE cst_err cst_audit_segment_anchor(const char *path, json_t **anchor);
/* When a segment began: its anchor's time (0 when it cannot be read). */
int64_t cst_audit_segment_time(const char *path);

/* Verification (LOG-2). */
typedef struct cst_audit_report {
    bool ok;
    bool seals_checked; /* with K0: every seal MAC was checked */
    char stream[16];    /* where the first problem is */
    uint64_t seq;       /* first bad sequence number (0: none) */
    char reason[16];    /* changed | missing | reordered | truncated | bad_seal | malformed */
    char message[512];
    uint64_t entries[CST_AUDIT__STREAMS];
    uint64_t first_seq[CST_AUDIT__STREAMS];
    uint64_t unsealed[CST_AUDIT__STREAMS]; /* entries after the last seal */
    uint64_t seals[CST_AUDIT__STREAMS];
    int64_t oldest_us[CST_AUDIT__STREAMS];
    char head[CST_AUDIT__STREAMS][2 * CST_HASH_LEN + 1]; /* the last verified entry's hash */
    uint64_t epoch;                                      /* the node's current epoch */
    char notes[512];
} cst_audit_report;

/* Checks both streams under dir. k0 (may be NULL) checks every seal MAC; kek (may be NULL)
 * also checks that the node's current epoch key descends from K0. live tolerates a line being
 * written at the very end. Returns an error only when the check could not run. */
CST_MUST_USE cst_err cst_audit_verify(const char *dir, const char *epoch_file, const cst_key *k0,
                                      const cst_key *kek, bool live, cst_audit_report *r);
json_t *cst_audit_report_json(const cst_audit_report *r);

/* An auditor's export (`custodia audit export`): the segments of both streams that cover
 * [since_us, until_us) (whole segments, the unit of sealing: they may hold entries either side
 * of the window), copied to <to>/<stream>/ with their seals, and <to>/export.json describing
 * them (the node its entries name, the window, per stream the segments with their sizes and
 * SHA-256, first_seq and last_seq). Safe beside a serving node: closed segments are copied whole
 * and the open one up to its last complete line. to must not exist or be empty. *manifest (may be
 * NULL) receives export.json's object. */
#define CST_AUDIT_EXPORT_MANIFEST "export.json"
CST_MUST_USE cst_err cst_audit_export(const char *dir, int64_t since_us, int64_t until_us,
                                      const char *to, json_t **manifest);
/* Checks an export: the chains and (with k0) the seals of what it holds, a window starting at a
 * sealed anchor rather than at the genesis; then that it holds what its export.json lists
 * (every segment, and each stream up to last_seq). Returns an error only when the check could
 * not run. */
CST_MUST_USE cst_err cst_audit_verify_export(const char *to, const cst_key *k0,
                                             cst_audit_report *r);
/* The chain and seal check of a window alone (no epoch file, no pruning records). */
CST_MUST_USE cst_err cst_audit_verify_window(const char *dir, const cst_key *k0,
                                             cst_audit_report *r);

/* Reading (LOG-4): calls cb for each entry of a stream with since <= time < until, in order.
 * cb returns false to stop. */
typedef bool (*cst_audit_visit)(void *ctx, cst_audit_stream s, json_t *entry);
CST_MUST_USE cst_err cst_audit_scan(const char *dir, cst_audit_stream s, int64_t since_us,
                                    int64_t until_us, cst_audit_visit cb, void *ctx);

#endif
