/* verify.c: checking the audit log (LOG-2) and reading it (LOG-4). Verification walks each
 * stream's segments in order and stops at the first problem, naming the stream, the first
 * sequence number that cannot be trusted and why. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "audit/audit.h"
#include "util/json.h"
#include "util/metrics.h"
#include "util/util.h"

typedef struct vstate {
    cst_audit_report *r;
    int si;
    const char *name;
    const cst_key *k0;
    cst_key k; /* K_{k_epoch}, derived forward from K0 */
    uint64_t k_epoch;
    uint64_t seq;
    uint8_t head[CST_HASH_LEN];
    int64_t expect_epoch; /* the next seal's epoch */
    uint64_t sealed_seq;
    bool ended_with_seal;
    char *last_seal; /* canonical text of the last seal object */
    uint64_t first_anchor_seq;
    uint64_t pruned_through[CST_AUDIT__STREAMS]; /* from audit.prune entries */
} vstate;

static bool fail(vstate *v, uint64_t seq, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(vstate *v, uint64_t seq, const char *reason, const char *fmt, ...)
{
    cst_audit_report *r = v->r;
    if (!r->ok)
        return false;
    r->ok = false;
    (void)snprintf(r->stream, sizeof(r->stream), "%s", v->name);
    r->seq = seq;
    (void)snprintf(r->reason, sizeof(r->reason), "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
    return false;
}

static void note(cst_audit_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(cst_audit_report *r, const char *fmt, ...)
{
    size_t used = strlen(r->notes);
    if (used + 3 >= sizeof(r->notes))
        return;
    if (used)
        r->notes[used++] = ';', r->notes[used++] = ' ', r->notes[used] = '\0';
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(r->notes + used, sizeof(r->notes) - used, fmt, ap);
    va_end(ap);
}

static cst_err key_at(vstate *v, uint64_t epoch)
{
    if (!v->k.k || v->k_epoch > epoch) {
        if (!v->k.k)
            TRY(cst_key_alloc(&v->k));
        memcpy(v->k.k, v->k0->k, CST_KEY_LEN);
        v->k_epoch = 0;
    }
    while (v->k_epoch < epoch) {
        TRY(cst_audit_key_next(&v->k));
        v->k_epoch++;
    }
    return CST_OK;
}

static bool hex_eq(const char *hex, const uint8_t bin[CST_HASH_LEN])
{
    char h[CST_HASH_LEN * 2 + 1];
    cst_hex(bin, CST_HASH_LEN, h);
    return hex && strcmp(hex, h) == 0;
}

static bool mac_ok(vstate *v, json_t *o, bool *checked)
{
    *checked = false;
    if (!v->k0)
        return true;
    uint8_t head[CST_HASH_LEN], mac[CST_HASH_LEN];
    uint64_t epoch = (uint64_t)json_integer_value(json_object_get(o, "epoch"));
    if (cst_unhex(json_string_value(json_object_get(o, "head")), head, CST_HASH_LEN) != CST_OK ||
        key_at(v, epoch) != CST_OK)
        return false;
    cst_audit_seal_mac(&v->k, v->name, epoch,
                       (uint64_t)json_integer_value(json_object_get(o, "seq")), head, mac);
    *checked = true;
    return hex_eq(json_string_value(json_object_get(o, "mac")), mac);
}

/* Where does the entry numbered want sit in the rest of the file? For naming a gap. */
static bool seq_later_in(FILE *f, uint64_t want)
{
    long pos = ftell(f);
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *s = json_object_get(o, "seq");
        found = json_is_integer(s) && (uint64_t)json_integer_value(s) == want &&
                json_object_get(o, "hash");
        json_decref(o);
    }
    free(line);
    fseek(f, pos, SEEK_SET);
    return found;
}

static bool check_anchor(vstate *v, json_t *an, size_t segno, const char *path)
{
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(an, "seq"));
    int64_t epoch = json_integer_value(json_object_get(an, "epoch"));
    const char *mac = json_string_value(json_object_get(an, "mac"));
    if (segno > 0) {
        char *canon = cst_audit_canonical(an);
        bool same = canon && v->last_seal && strcmp(canon, v->last_seal) == 0;
        if (canon)
            cst_json_free_text(canon);
        if (!v->ended_with_seal)
            return fail(v, v->seq + 1, "truncated",
                        "the segment before %s does not end with a seal: its end was removed",
                        path);
        if (!same)
            return fail(v, v->seq + 1, "missing",
                        "%s does not continue from the seal that ended the previous segment: "
                        "entries after %llu were removed",
                        path, (unsigned long long)v->seq);
        return true;
    }
    v->first_anchor_seq = seq;
    v->r->first_seq[v->si] = seq + 1;
    if (seq == 0) {
        uint8_t zero[CST_HASH_LEN] = {0};
        if (!hex_eq(json_string_value(json_object_get(an, "head")), zero) || (mac && *mac))
            return fail(v, 1, "changed", "the first anchor of %s is not a genesis anchor", path);
        if (epoch != 0)
            return fail(v, 1, "missing",
                        "the %s stream starts afresh at seal epoch %lld: the log before it was "
                        "removed",
                        v->name, (long long)epoch);
        v->expect_epoch = 0;
    } else {
        bool checked;
        if (!mac_ok(v, an, &checked))
            return fail(v, seq + 1, "bad_seal",
                        "the anchor of %s (after entry %llu) does not carry a valid seal", path,
                        (unsigned long long)seq);
        v->expect_epoch = epoch + 1;
        v->sealed_seq = seq;
    }
    v->seq = seq;
    if (cst_unhex(json_string_value(json_object_get(an, "head")), v->head, CST_HASH_LEN) != CST_OK)
        return fail(v, seq + 1, "malformed", "the anchor of %s is malformed", path);
    return true;
}

static bool check_entry(vstate *v, json_t *o, FILE *f, const char *path)
{
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
    uint64_t want = v->seq + 1;
    if (seq != want) {
        if (seq > want && !seq_later_in(f, want))
            return fail(v, want, "missing", "entry %llu is missing from %s (next is %llu)",
                        (unsigned long long)want, path, (unsigned long long)seq);
        return fail(v, want, "reordered", "entry %llu is out of order in %s (found %llu)",
                    (unsigned long long)want, path, (unsigned long long)seq);
    }
    if (!hex_eq(json_string_value(json_object_get(o, "prev")), v->head))
        return fail(v, seq, "changed", "entry %llu does not chain to the entry before it",
                    (unsigned long long)seq);
    uint8_t h[CST_HASH_LEN];
    if (cst_audit_entry_hash(o, v->head, h) != CST_OK)
        return fail(v, seq, "malformed", "entry %llu cannot be hashed", (unsigned long long)seq);
    if (!hex_eq(json_string_value(json_object_get(o, "hash")), h))
        return fail(v, seq, "changed", "entry %llu was changed: its hash does not match",
                    (unsigned long long)seq);
    memcpy(v->head, h, CST_HASH_LEN);
    cst_hex(h, CST_HASH_LEN, v->r->head[v->si]);
    v->seq = seq;
    v->ended_with_seal = false;
    v->r->entries[v->si]++;
    int64_t t = 0;
    const char *ts = json_string_value(json_object_get(o, "time"));
    if (!v->r->oldest_us[v->si] && ts && cst_time_parse(ts, &t))
        v->r->oldest_us[v->si] = t;
    const char *action = json_string_value(json_object_get(o, "action"));
    json_t *info = json_object_get(o, "info");
    if (action && strcmp(action, "audit.prune") == 0) {
        const char *st = json_string_value(json_object_get(info, "stream"));
        uint64_t through = (uint64_t)json_integer_value(json_object_get(info, "through_seq"));
        for (int i = 0; i < CST_AUDIT__STREAMS; i++)
            if (st && strcmp(st, cst_audit_stream_names[i]) == 0 && through > v->pruned_through[i])
                v->pruned_through[i] = through;
    }
    return true;
}

static bool check_seal(vstate *v, json_t *se)
{
    int64_t epoch = json_integer_value(json_object_get(se, "epoch"));
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(se, "seq"));
    uint64_t from = v->sealed_seq + 1;
    if (epoch > v->expect_epoch)
        return fail(v, from, "missing",
                    "seal rounds %lld to %lld are missing before entry %llu: sealed entries "
                    "were removed",
                    (long long)v->expect_epoch, (long long)epoch - 1, (unsigned long long)from);
    if (epoch < v->expect_epoch)
        return fail(v, from, "reordered", "a seal of epoch %lld appears after epoch %lld",
                    (long long)epoch, (long long)v->expect_epoch - 1);
    if (seq != v->seq || !hex_eq(json_string_value(json_object_get(se, "head")), v->head))
        return fail(v, from, seq != v->seq ? "missing" : "changed",
                    "the seal of epoch %lld covers entries up to %llu with a different chain: "
                    "entries %llu to %llu were rewritten or removed",
                    (long long)epoch, (unsigned long long)seq, (unsigned long long)from,
                    (unsigned long long)seq);
    bool checked;
    if (!mac_ok(v, se, &checked))
        return fail(v, from, "bad_seal",
                    "the seal of epoch %lld (entries %llu to %llu) does not verify with K0",
                    (long long)epoch, (unsigned long long)from, (unsigned long long)seq);
    char *canon = cst_audit_canonical(se);
    if (!canon)
        return fail(v, from, "malformed", "out of memory");
    if (v->last_seal)
        cst_json_free_text(v->last_seal);
    v->last_seal = canon;
    v->expect_epoch = epoch + 1;
    v->sealed_seq = seq;
    v->ended_with_seal = true;
    v->r->seals[v->si]++;
    return true;
}

/* SPEC §10: a line holding a NUL byte starts the zero padding of a pre-allocated segment (after
 * a torn line, when one precedes it). Only the open (last) segment has padding, and nothing but
 * zeroes may follow its tail: anything else was written there behind the writer's back. */
static bool check_padding(vstate *v, FILE *f, const char *line, size_t n, const char *path,
                          bool last)
{
    const char *nul = memchr(line, 0, n);
    size_t at = (size_t)(nul - line);
    bool zero = true;
    for (size_t i = at; i < n && zero; i++)
        zero = line[i] == 0;
    int c;
    while (zero && (c = getc(f)) != EOF)
        zero = c == 0;
    if (!zero)
        return fail(v, v->seq + 1, "changed",
                    "%s holds non-zero bytes after its last entry (%llu), in the zero padding of "
                    "a pre-allocated segment: it was altered or damaged",
                    path, (unsigned long long)v->seq);
    if (!last)
        return fail(v, v->seq + 1, "malformed",
                    "%s is a closed segment but holds zero padding after its last line (closed "
                    "segments end at their seal)",
                    path);
    if (at > 0)
        note(v->r, "%s ends in a line still being written or torn by a crash", path);
    return true;
}

static bool check_segment(vstate *v, const char *path, size_t segno, bool live, bool last)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return fail(v, v->seq + 1, "missing", "cannot open %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool ok = true, first = true;
    while (ok && (n = getline(&line, &cap, f)) > 0) {
        if (memchr(line, 0, (size_t)n)) {
            ok = check_padding(v, f, line, (size_t)n, path, last);
            break;
        }
        if (line[n - 1] != '\n') {
            if (last)
                note(v->r, "%s ends in a line still being written or torn by a crash%s", path,
                     live ? "" : " (cut off when the node starts)");
            else
                ok = fail(v, v->seq + 1, "truncated", "%s ends in a partial line", path);
            break;
        }
        json_t *o = json_loadb(line, (size_t)n - 1, 0, NULL);
        char *canon = o ? cst_audit_canonical(o) : NULL;
        bool canonical = canon && strlen(canon) == (size_t)n - 1 && memcmp(canon, line, n - 1) == 0;
        if (canon)
            cst_json_free_text(canon);
        json_t *an = json_object_get(o, "anchor"), *se = json_object_get(o, "seal");
        if (!o || !canonical)
            ok = fail(v, v->seq + 1, "changed", "a line of %s after entry %llu was altered%s", path,
                      (unsigned long long)v->seq, o ? "" : " (not JSON)");
        else if (first != (an != NULL))
            ok = fail(v, v->seq + 1, "malformed", "%s: an anchor must be the first line, only",
                      path);
        else if (an)
            ok = check_anchor(v, an, segno, path);
        else if (se)
            ok = check_seal(v, se);
        else if (json_object_get(o, "hash"))
            ok = check_entry(v, o, f, path);
        else
            ok = fail(v, v->seq + 1, "malformed", "%s holds an unknown line", path);
        json_decref(o);
        first = false;
    }
    if (ok && first)
        ok = fail(v, v->seq + 1, "truncated", "%s is empty", path);
    free(line);
    fclose(f);
    return ok;
}

static cst_err verify_stream(vstate *v, const char *dir, bool live, bool window)
{
    char **paths;
    size_t n;
    TRY(cst_audit_segments(dir, v->name, &paths, &n));
    if (n == 0 && window)
        note(v->r, "the export holds no %s segment for its window", v->name);
    else if (n == 0)
        fail(v, 1, "missing", "the %s stream has no segments", v->name);
    for (size_t j = 0; j < n && v->r->ok; j++)
        check_segment(v, paths[j], j, live, j + 1 == n);
    cst_audit_segments_free(paths, n);
    v->r->unsealed[v->si] = v->seq - v->sealed_seq;
    return CST_OK;
}

/* epoch_file NULL: an export's window (cst_audit_verify_window). */
static cst_err verify_all(const char *dir, const char *epoch_file, const cst_key *k0,
                          const cst_key *kek, bool live, cst_audit_report *r)
{
    memset(r, 0, sizeof(*r));
    r->ok = true;
    r->seals_checked = k0 != NULL;
    bool window = epoch_file == NULL;
    uint64_t epoch = 0;
    if (!window)
        TRY(cst_audit_epoch_peek(epoch_file, &epoch));
    r->epoch = epoch;
    vstate v;
    memset(&v, 0, sizeof(v));
    v.r = r;
    v.k0 = k0;
    int64_t last_epoch[CST_AUDIT__STREAMS];
    uint64_t first_anchor[CST_AUDIT__STREAMS];
    cst_err e = CST_OK;
    for (int i = 0; i < CST_AUDIT__STREAMS && e == CST_OK && r->ok; i++) {
        v.si = i;
        v.name = cst_audit_stream_names[i];
        v.seq = v.sealed_seq = 0;
        v.expect_epoch = 0;
        v.ended_with_seal = false;
        memset(v.head, 0, sizeof(v.head));
        if (v.last_seal)
            cst_json_free_text(v.last_seal);
        v.last_seal = NULL;
        e = verify_stream(&v, dir, live, window);
        last_epoch[i] = v.expect_epoch - 1;
        first_anchor[i] = v.first_anchor_seq;
        if (e != CST_OK || !r->ok || window)
            continue;
        /* Truncation: every seal round up to the node's current epoch is in every stream. A
         * round the node was stopped in the middle of counts (it finishes it on start). */
        if (last_epoch[i] < (int64_t)epoch - 1)
            fail(&v, v.seq + 1, "truncated",
                 "the %s stream's last seal is of epoch %lld but the node has sealed up to "
                 "epoch %llu: sealed entries were removed from its end",
                 v.name, (long long)last_epoch[i], (unsigned long long)epoch - 1);
        else if (last_epoch[i] == (int64_t)epoch)
            note(r, "the %s stream holds the seal of an unfinished round %llu", v.name,
                 (unsigned long long)epoch);
    }
    for (int i = 0; i < CST_AUDIT__STREAMS && e == CST_OK && r->ok && !window; i++) {
        v.si = i;
        v.name = cst_audit_stream_names[i];
        if (first_anchor[i] > v.pruned_through[i])
            fail(&v, v.pruned_through[i] + 1, "missing",
                 "entries %llu to %llu of the %s stream were removed without a pruning record",
                 (unsigned long long)v.pruned_through[i] + 1, (unsigned long long)first_anchor[i],
                 v.name);
    }
    if (e == CST_OK && r->ok && k0 && kek) {
        cst_key cur = {0};
        uint64_t ep = 0;
        e = cst_audit_epoch_load(epoch_file, kek, &ep, &cur);
        if (e == CST_OK)
            e = key_at(&v, ep);
        if (e == CST_OK && sodium_memcmp(cur.k, v.k.k, CST_KEY_LEN) != 0) {
            v.name = "security";
            fail(&v, 0, "bad_seal",
                 "the node's current seal key does not descend from this K0 (wrong K0, or the "
                 "key file was replaced)");
        }
        cst_key_free(&cur);
    }
    if (v.last_seal)
        cst_json_free_text(v.last_seal);
    cst_key_free(&v.k);
    if (e == CST_OK && !r->ok)
        cst_metrics_audit_verify_failure(); /* DET-2 */
    return e;
}

cst_err cst_audit_verify(const char *dir, const char *epoch_file, const cst_key *k0,
                         const cst_key *kek, bool live, cst_audit_report *r)
{
    return verify_all(dir, epoch_file, k0, kek, live, r);
}

cst_err cst_audit_verify_window(const char *dir, const cst_key *k0, cst_audit_report *r)
{
    return verify_all(dir, NULL, k0, NULL, false, r);
}

json_t *cst_audit_report_json(const cst_audit_report *r)
{
    json_t *streams = json_object();
    for (int i = 0; i < CST_AUDIT__STREAMS; i++) {
        char oldest[32] = "";
        if (r->oldest_us[i])
            cst_time_format(r->oldest_us[i], oldest);
        json_object_set_new(
            streams, cst_audit_stream_names[i],
            json_pack("{s:I,s:I,s:I,s:I,s:s?,s:s?}", "entries", (json_int_t)r->entries[i],
                      "first_seq", (json_int_t)r->first_seq[i], "seals", (json_int_t)r->seals[i],
                      "unsealed", (json_int_t)r->unsealed[i], "oldest",
                      r->oldest_us[i] ? oldest : NULL, "head", r->head[i][0] ? r->head[i] : NULL));
    }
    json_t *o = json_pack("{s:b,s:b,s:I,s:o}", "ok", r->ok, "seals_checked", r->seals_checked,
                          "epoch", (json_int_t)r->epoch, "streams", streams);
    if (!r->ok)
        json_object_set_new(o, "first_bad",
                            json_pack("{s:s,s:I,s:s,s:s}", "stream", r->stream, "seq",
                                      (json_int_t)r->seq, "reason", r->reason, "message",
                                      r->message));
    if (r->notes[0])
        json_object_set_new(o, "notes", json_string(r->notes));
    return o;
}

/* ---- reading -------------------------------------------------------------------------------- */

int64_t cst_audit_segment_time(const char *path)
{
    json_t *an = NULL;
    int64_t t = 0;
    if (cst_audit_segment_anchor(path, &an) == CST_OK) {
        const char *ts = json_string_value(json_object_get(an, "time"));
        if (!ts || !cst_time_parse(ts, &t))
            t = 0;
    }
    json_decref(an);
    return t;
}

cst_err cst_audit_scan(const char *dir, cst_audit_stream s, int64_t since_us, int64_t until_us,
                       cst_audit_visit cb, void *ctx)
{
    char **paths;
    size_t n;
    TRY(cst_audit_segments(dir, cst_audit_stream_names[s], &paths, &n));
    bool go = true;
    for (size_t j = 0; j < n && go; j++) {
        /* Every entry of segment j is older than the anchor of segment j+1. */
        if (j + 1 < n && since_us > 0 && cst_audit_segment_time(paths[j + 1]) < since_us)
            continue;
        FILE *f = fopen(paths[j], "re");
        if (!f)
            continue; /* pruned meanwhile */
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (go && (len = getline(&line, &cap, f)) > 0) {
            if (line[len - 1] != '\n' || memchr(line, 0, (size_t)len))
                break; /* being written, or the padding after the last entry */
            json_t *o = json_loadb(line, (size_t)len - 1, 0, NULL);
            int64_t t = 0;
            const char *ts = json_string_value(json_object_get(o, "time"));
            if (o && json_object_get(o, "hash") && ts && cst_time_parse(ts, &t)) {
                if (t >= until_us)
                    go = false;
                else if (t >= since_us)
                    go = cb(ctx, s, o);
            }
            json_decref(o);
        }
        free(line);
        fclose(f);
    }
    cst_audit_segments_free(paths, n);
    return CST_OK;
}
