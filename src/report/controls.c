/* controls.c: the catalogue of CONTROLS.md as a table, in its order, with each control's
 * evaluator (NULL: not built yet), and the facts the evaluators share, gathered once per report.
 * Each evaluator states its thresholds in the table (docs/report.md repeats them). */
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/keyring.h"
#include "audit/audit.h"
#include "core/authz.h"
#include "core/tenant.h"
#include "core/incident.h"
#include "core/lockbox.h"
#include "lifecycle/lifecycle.h"
#include "node/incidents.h"
#include "node/metrics.h"
#include "node/reviews.h"
#include "node/sandbox.h"
#include "core/review.h"
#include "report/report.h"
#include "util/json.h"
#include "util/util.h"

#define DAY_US (86400LL * 1000000)

/* ---- facts ---- */

struct cst_report_facts {
    /* tenants (the scope's) */
    int tenants, with_allowlist, mfa_all, wrong_region, overdue, without_dek;
    json_t *by_state, *regions, *deks, *next_deletions, *overdue_ids;
    json_t *key_ages;   /* ENC-4: per tenant, its DEK versions with age and counts */
    json_t *dek_due;    /* ENC-4: tenants whose current DEK is past its age or count limit */
    int dek_rewrapping; /* ENC-4: tenants with a re-encryption running */
    /* users of those tenants; operators (node scope) */
    int users, users_mfa, operators;
    int without_mfa, pending_mfa; /* MFA accounts without a factor: signed in, never signed in */
    json_t *roles, *no_mfa_ids, *pending_mfa_ids;
    /* backups and drills (catalogue) */
    cst_backup_row last_ok, oldest;
    bool have_ok, have_any;
    int backups, missing; /* good ones; good ones whose file is gone from a backup dir */
    cst_drill_row drill;
    bool have_drill;
    int certificates;
    /* buckets (RET-1), over the scope's tenants */
    int buckets, buckets_with_retention;
    cst_err buckets_err;
    /* the security stream of the last 90 days (IAM-5, POR-1) */
    int revocations, exports;
    cst_err scan_err;
    /* audit */
    cst_audit_report verify;
    cst_err verify_err;
    json_t *tenant_ids; /* the scope's live tenants */
};

typedef struct {
    struct cst_report_facts *f;
    cst_report_ctx *c;
    char last[CST_ID_MAX]; /* the page's last tenant */
    int seen;
} gather;

static cst_err on_user(const cst_user_row *u, void *ctx)
{
    struct cst_report_facts *f = ctx;
    if (u->disabled)
        return CST_OK;
    bool mfa = u->totp_state == 2;
    bool operator=(u->roles &CST_OPERATOR_ROLES) != 0;
    if (operator) {
        f->operators++;
    } else {
        f->users++;
        f->users_mfa += mfa;
    }
    for (int r = 0; r < CST_ROLE__COUNT && !operator; r++) {
        if (!(u->roles & CST_ROLE_BIT(r)))
            continue;
        json_t *names = cst_roles_json(CST_ROLE_BIT(r));
        const char *name = json_string_value(json_array_get(names, 0));
        if (name)
            json_object_set_new(
                f->roles, name,
                json_integer(json_integer_value(json_object_get(f->roles, name)) + 1));
        json_decref(names);
    }
    /* IAM-3: operators, owners and admins must have a factor; one who never signed in can do
     * nothing but enrol at the first sign-in */
    if ((operator||(u->roles &CST_MFA_ROLES)) && !mfa) {
        bool signed_in = u->last_login_at > 0;
        *(signed_in ? &f->without_mfa : &f->pending_mfa) += 1;
        json_array_append_new(signed_in ? f->no_mfa_ids : f->pending_mfa_ids, json_string(u->id));
    }
    return CST_OK;
}

typedef struct {
    uint32_t dek_versions;
} key_count;

static cst_err on_key(const char *purpose, uint32_t version, const uint8_t *blob, size_t len,
                      void *ctx)
{
    (void)version;
    (void)blob;
    (void)len;
    key_count *k = ctx;
    k->dek_versions += strcmp(purpose, "dek") == 0;
    return CST_OK;
}

/* ENC-4: a tenant's DEK versions (age in days, encryptions) and whether its current one is
 * past keys.dek_max_age or keys.max_encryptions_per_dek. */
typedef struct key_ages {
    int64_t now;
    json_t *versions;
    uint32_t newest;
    int64_t newest_at, newest_enc;
} key_ages;

static cst_err on_key_row(const cst_key_row *k, void *ctx)
{
    key_ages *a = ctx;
    if (strcmp(k->purpose, "dek") != 0)
        return CST_OK;
    json_array_append_new(a->versions,
                          json_pack("{s:i,s:I,s:I}", "version", (int)k->version, "age_days",
                                    (json_int_t)((a->now - k->created_at) / DAY_US), "encryptions",
                                    (json_int_t)k->encryptions));
    if (k->version > a->newest) {
        a->newest = k->version;
        a->newest_at = k->created_at;
        a->newest_enc = k->encryptions;
    }
    return CST_OK;
}

static void gather_key_ages(gather *g, const cst_tenant_row *t)
{
    cst_node *n = g->c->n;
    key_ages a = {.now = g->c->now, .versions = json_array()};
    if (cst_store_key_list(n->store, g->c->scope->work, t->id, on_key_row, &a) != CST_OK) {
        cst_err_clear();
        json_decref(a.versions);
        return;
    }
    cst_rewrap_row rw = {.state = "idle"};
    if (cst_store_rewrap_get(n->store, g->c->scope->work, t->id, &rw) != CST_OK)
        cst_err_clear();
    const char *due =
        cst_dek_rotation_due(a.newest_enc, a.newest_at, g->c->now, n->cfg.max_encryptions_per_dek,
                             (int64_t)n->cfg.dek_max_age * 1000000);
    json_object_set_new(g->f->key_ages, t->id,
                        json_pack("{s:i,s:o,s:s}", "current", (int)a.newest, "versions", a.versions,
                                  "rewrap", rw.state));
    if (due)
        json_array_append_new(g->f->dek_due, json_pack("{s:s,s:s}", "tenant", t->id, "due", due));
    g->f->dek_rewrapping += !strcmp(rw.state, "running");
}

static cst_err on_tenant(const cst_tenant_row *t, void *ctx)
{
    gather *g = ctx;
    struct cst_report_facts *f = g->f;
    cst_node *n = g->c->n;
    g->seen++;
    (void)snprintf(g->last, sizeof(g->last), "%s", t->id);
    if (g->c->scope->tenant_id && strcmp(t->id, g->c->scope->tenant_id) != 0)
        return CST_OK;
    if (strcmp(t->state, "erased") == 0)
        return CST_OK;
    f->tenants++;
    json_object_set_new(
        f->by_state, t->state,
        json_integer(json_integer_value(json_object_get(f->by_state, t->state)) + 1));
    json_object_set_new(f->regions, t->id, json_string(t->region));
    json_array_append_new(f->tenant_ids, json_string(t->id));
    f->wrong_region += strcmp(t->region, n->region) != 0;
    cst_tenant_settings s;
    if (cst_tenant_settings_load(t->settings, n->cfg.session_idle_seconds,
                                 n->cfg.session_max_seconds, &s) == CST_OK) {
        f->with_allowlist += s.ip_allowlist.n > 0;
        f->mfa_all += s.mfa_all;
    }
    key_count k = {0};
    if (cst_store_tenant_keys(n->store, g->c->scope->work, t->id, on_key, &k) == CST_OK)
        json_object_set_new(f->deks, t->id, json_integer(k.dek_versions));
    f->without_dek += k.dek_versions == 0;
    gather_key_ages(g, t);
    cst_lifecycle_step st;
    cst_lifecycle_next(t, &n->cfg.lifecycle, &st);
    if (st.at && st.state == CST_STATE_ERASED) {
        json_array_append_new(f->next_deletions,
                              json_pack("{s:s,s:o}", "tenant", t->id, "at", cst_json_time(st.at)));
        /* RET-2: the sweeper erases on the day; a day late is a missed deletion */
        if (st.at + DAY_US < g->c->now) {
            f->overdue++;
            json_array_append_new(f->overdue_ids, json_string(t->id));
        }
    }
    return cst_store_user_list(n->store, g->c->scope->work, t->id, on_user, f);
}

static cst_err on_backup(const cst_backup_row *b, void *ctx)
{
    struct cst_report_facts *f = ctx;
    if (strcmp(b->status, "ok") != 0)
        return CST_OK;
    /* a backup dir's file must still be there (a command's destination cannot be looked at) */
    if (strncmp(b->location, "command:", 8) != 0 && !cst_path_exists(b->location)) {
        f->missing++;
        return CST_OK;
    }
    f->backups++;
    if (!f->have_ok || b->finished_at > f->last_ok.finished_at)
        f->last_ok = *b;
    if (!f->have_ok || b->created_at < f->oldest.created_at)
        f->oldest = *b;
    f->have_ok = true;
    return CST_OK;
}

static cst_err on_drill(const cst_drill_row *d, void *ctx)
{
    struct cst_report_facts *f = ctx;
    if (!f->have_drill || d->started_at > f->drill.started_at)
        f->drill = *d;
    f->have_drill = true;
    return CST_OK;
}

static cst_err on_tombstone(const cst_tombstone_row *t, void *ctx)
{
    struct cst_report_facts *f = ctx;
    f->certificates += t->certificate_id[0] != 0;
    return CST_OK;
}

/* IAM-5 and POR-1: what the security stream says of the last 90 days (the scope's tenant only,
 * for a tenant's report). */
static bool on_entry(void *ctx, cst_audit_stream s, json_t *entry)
{
    static const char *const revoking[] = {"token.revoke", "auth.session.revoke", "auth.logout",
                                           "user.delete", NULL};
    gather *g = ctx;
    (void)s;
    const char *action = json_string_value(json_object_get(entry, "action"));
    const char *outcome = json_string_value(json_object_get(entry, "outcome"));
    const char *tenant = json_string_value(json_object_get(entry, "tenant"));
    if (!action || !outcome || strcmp(outcome, "success") != 0)
        return true;
    if (g->c->scope->tenant_id && (!tenant || strcmp(tenant, g->c->scope->tenant_id) != 0))
        return true;
    for (size_t i = 0; revoking[i]; i++)
        g->f->revocations += strcmp(action, revoking[i]) == 0;
    g->f->exports += strcmp(action, "tenant.export") == 0;
    return true;
}

static cst_err bucket_row(const cst_bucket_row *b, void *ctx)
{
    struct cst_report_facts *f = ctx;
    f->buckets++;
    f->buckets_with_retention += b->retention_seconds > 0;
    return CST_OK;
}

/* RET-1: every live tenant's buckets, each store opened through the node (its LRU). */
static cst_err count_buckets(cst_report_ctx *c, struct cst_report_facts *f)
{
    size_t i;
    json_t *id;
    json_array_foreach(f->tenant_ids, i, id)
    {
        cst_tenant_ctx *t = NULL;
        cst_err e = cst_node_tenant_acquire_in(c->n, c->scope->work, json_string_value(id), &t);
        if (e == CST_ERR_NOT_FOUND)
            continue; /* erased meanwhile */
        TRY(e);
        e = cst_tstore_bucket_list(t->ts, c->scope->work, bucket_row, f);
        cst_node_tenant_release(c->n, t);
        TRY(e);
    }
    return CST_OK;
}

void cst_report_facts_free(struct cst_report_facts *f)
{
    if (!f)
        return;
    json_decref(f->by_state);
    json_decref(f->regions);
    json_decref(f->deks);
    json_decref(f->key_ages);
    json_decref(f->dek_due);
    json_decref(f->next_deletions);
    json_decref(f->overdue_ids);
    json_decref(f->roles);
    json_decref(f->tenant_ids);
    json_decref(f->no_mfa_ids);
    json_decref(f->pending_mfa_ids);
    free(f);
}

cst_err cst_report_facts_gather(cst_report_ctx *c)
{
    struct cst_report_facts *f = calloc(1, sizeof(*f));
    ENSURE(f != NULL, CST_ERR_INTERNAL, "out of memory");
    c->facts = f;
    f->by_state = json_object();
    f->regions = json_object();
    f->deks = json_object();
    f->key_ages = json_object();
    f->dek_due = json_array();
    f->next_deletions = json_array();
    f->overdue_ids = json_array();
    f->roles = json_object();
    f->no_mfa_ids = json_array();
    f->pending_mfa_ids = json_array();
    f->tenant_ids = json_array();
    ENSURE(f->by_state && f->regions && f->deks && f->key_ages && f->dek_due && f->next_deletions &&
               f->overdue_ids && f->roles && f->no_mfa_ids && f->pending_mfa_ids && f->tenant_ids,
           CST_ERR_INTERNAL, "out of memory");
    cst_node *n = c->n;
    gather g = {.f = f, .c = c};
    do { /* every tenant, a page at a time */
        g.seen = 0;
        TRY(cst_store_tenant_list(n->store, c->scope->work, g.last[0] ? g.last : NULL, 500,
                                  on_tenant, &g));
    } while (g.seen == 500);
    if (!c->scope->tenant_id)
        TRY(cst_store_user_list(n->store, c->scope->work, CST_SYS_TENANT, on_user, f));
    TRY(cst_store_backup_list(n->store, c->scope->work, 10000, on_backup, f));
    TRY(cst_store_drill_list(n->store, c->scope->work, 1, on_drill, f));
    TRY(cst_store_tombstone_list(n->store, c->scope->work, on_tombstone, f));
    char epoch_file[PATH_MAX];
    TRY(cst_fmt(epoch_file, sizeof(epoch_file), "%s/audit/epoch.key", n->cfg.data_dir));
    f->verify_err =
        cst_audit_verify(n->cfg.audit_dir, epoch_file, NULL, &n->root_key, true, &f->verify);
    cst_err_clear();
    f->scan_err = cst_audit_scan(n->cfg.audit_dir, CST_AUDIT_SECURITY, c->now - 90 * DAY_US,
                                 c->now + 1, on_entry, &g);
    cst_err_clear();
    f->buckets_err = count_buckets(c, f);
    cst_err_clear();
    return CST_OK;
}

/* ---- evaluators ---- */

#define F(c) ((c)->facts)

static void enc1(cst_report_ctx *c, cst_report_row *r)
{
    cst_report_fact(c, r, "cipher", json_string("AES-256-GCM"));
    cst_report_fact(c, r, "kek_id", json_string(c->n->kek_id));
    cst_report_fact(c, r, "kek_source", json_string(c->n->kek_kind));
    cst_report_fact(c, r, "dek_versions_per_tenant", json_incref(F(c)->deks));
    if (F(c)->without_dek)
        cst_report_set(r, CST_REPORT_FAIL, "%d tenant(s) have no wrapped data key",
                       F(c)->without_dek);
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "records of %d tenant(s) sealed with AES-256-GCM under per-tenant keys "
                       "wrapped by the master key",
                       F(c)->tenants);
}

/* ENC-4: DEK versions, ages and counts per tenant; the retired versions' keys stay (audit
 * details sealed under them open until the tenant's erase). The master key:
 * its id, source kind, age and rotation; older than keys.kek_max_age fails the row; a DEK past
 * its limits warns. */
static void enc4(cst_report_ctx *c, cst_report_row *r)
{
    const cst_config *cfg = &c->n->cfg;
    cst_report_fact(c, r, "dek_max_age_days", json_integer(cfg->dek_max_age / 86400));
    cst_report_fact(c, r, "max_encryptions_per_dek", json_integer(cfg->max_encryptions_per_dek));
    cst_report_fact(c, r, "tenant_keys", json_incref(F(c)->key_ages));
    cst_report_fact(c, r, "re_encryptions_running", json_integer(F(c)->dek_rewrapping));
    cst_report_fact(c, r, "retired_versions",
                    json_string("kept wrapped until the tenant's erase, so that audit details "
                                "sealed under them (immutable entries) still open until "
                                "retention prunes them; no record and no TOTP secret uses a "
                                "retired version (a rotation re-seals the TOTP secrets)"));
    int64_t since = c->n->kek_since, max_days = cfg->kek_max_age / 86400;
    int64_t kek_days = since ? (c->now - since) / DAY_US : -1;
    cst_report_fact(
        c, r, "kek",
        json_pack("{s:s,s:s,s:o,s:o,s:I,s:s}", "id", c->n->kek_id, "source", c->n->kek_kind,
                  "since", since ? cst_json_time(since) : json_null(), "age_days",
                  kek_days >= 0 ? json_integer(kek_days) : json_null(), "max_age_days",
                  (json_int_t)max_days, "rotation",
                  "online: POST /v1/sys/keys/rotate (resumes after a crash); offline: custodia "
                  "keys rotate-master"));
    json_t *status = cst_node_kek_status(c->n);
    cst_report_fact(c, r, "kek_rotation", json_incref(json_object_get(status, "rotation")));
    json_decref(status);
    char root[4096];
    bool own_root = cst_fmt(root, sizeof(root), "%s/root.key", cfg->data_dir) == CST_OK &&
                    cst_path_exists(root);
    cst_err_clear();
    cst_report_fact(c, r, "root_key",
                    json_string(own_root ? "random, wrapped by the KEK in root.key: the node's "
                                           "own secrets follow a KEK rotation"
                                         : "the KEK's own bytes (a data dir made before "
                                           "root.key): a KEK rotation does not move the node's "
                                           "own secrets"));
    size_t due = json_array_size(F(c)->dek_due);
    if (since && c->now - since > (int64_t)cfg->kek_max_age * 1000000) {
        cst_report_set(r, CST_REPORT_FAIL,
                       "the master key (KEK %s, %s) is %lld days old, past keys.kek_max_age "
                       "(%lld days)",
                       c->n->kek_id, c->n->kek_kind, (long long)kek_days, (long long)max_days);
    } else if (due) {
        cst_report_fact(c, r, "dek_rotation_due", json_incref(F(c)->dek_due));
        cst_report_set(r, CST_REPORT_WARN,
                       "%zu tenant(s) have a DEK past keys.dek_max_age or "
                       "keys.max_encryptions_per_dek not yet rotated",
                       due);
    } else {
        cst_report_set(r, CST_REPORT_PASS,
                       "DEKs of %d tenant(s) within their age and encryption limits, rotated "
                       "and re-encrypted online; the master key (KEK %s, %s) is %lld days old, "
                       "within keys.kek_max_age, and rotates online",
                       F(c)->tenants, c->n->kek_id, c->n->kek_kind, (long long)kek_days);
    }
}

/* ENC-3: what the listener's priority string would accept. */
static void enc3(cst_report_ctx *c, cst_report_row *r)
{
    const cst_config *cfg = &c->n->cfg;
    gnutls_priority_t p = NULL;
    const char *err = NULL;
    json_t *protos = json_array(), *ciphers = json_array(), *kx = json_array();
    bool old = false, non_aead = false, non_pfs = false;
    if (gnutls_priority_init2(&p, cfg->tls_priorities, &err, 0) == GNUTLS_E_SUCCESS) {
        const unsigned *list = NULL;
        int k = gnutls_priority_protocol_list(p, &list);
        for (int i = 0; i < k; i++) {
            json_array_append_new(protos, json_string(gnutls_protocol_get_name(list[i])));
            old |= list[i] != GNUTLS_TLS1_2 && list[i] != GNUTLS_TLS1_3;
        }
        k = gnutls_priority_cipher_list(p, &list);
        for (int i = 0; i < k; i++) {
            gnutls_cipher_algorithm_t a = list[i];
            json_array_append_new(ciphers, json_string(gnutls_cipher_get_name(a)));
            non_aead |= a != GNUTLS_CIPHER_AES_128_GCM && a != GNUTLS_CIPHER_AES_256_GCM &&
                        a != GNUTLS_CIPHER_CHACHA20_POLY1305 && a != GNUTLS_CIPHER_AES_128_CCM &&
                        a != GNUTLS_CIPHER_AES_256_CCM;
        }
        k = gnutls_priority_kx_list(p, &list);
        for (int i = 0; i < k; i++) {
            gnutls_kx_algorithm_t a = list[i];
            json_array_append_new(kx, json_string(gnutls_kx_get_name(a)));
            non_pfs |= a != GNUTLS_KX_ECDHE_ECDSA && a != GNUTLS_KX_ECDHE_RSA &&
                       a != GNUTLS_KX_DHE_RSA && a != GNUTLS_KX_DHE_DSS;
        }
        gnutls_priority_deinit(p);
    }
    cst_report_fact(c, r, "priority_string", json_string(cfg->tls_priorities));
    cst_report_fact(c, r, "protocols", protos);
    cst_report_fact(c, r, "ciphers", ciphers);
    cst_report_fact(c, r, "key_exchange", kx);
    cst_report_fact(c, r, "hsts", json_true());
    cst_report_fact(c, r, "plaintext_loopback_listener",
                    json_boolean(cfg->allow_plaintext_loopback));
    if (!p && err)
        cst_report_set(r, CST_REPORT_FAIL, "tls.priorities does not parse near \"%.40s\"", err);
    else if (old || non_aead || non_pfs)
        cst_report_set(r, CST_REPORT_FAIL, "the listener would accept %s",
                       old        ? "a protocol older than TLS 1.2"
                       : non_aead ? "a cipher that is not AEAD"
                                  : "a key exchange without forward secrecy");
    else if (cfg->allow_plaintext_loopback)
        cst_report_set(r, CST_REPORT_WARN,
                       "TLS 1.2/1.3 with forward-secret AEAD suites, but a plaintext HTTP listener "
                       "on loopback is enabled");
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "TLS 1.2 and 1.3 only, forward-secret AEAD suites, HSTS on every response");
}

static void enc2(cst_report_ctx *c, cst_report_row *r)
{
    struct cst_report_facts *f = F(c);
    cst_report_fact(c, r, "cipher",
                    json_string("AES-256-GCM chunks under a per-backup key wrapped by the master "
                                "key; manifest signed with the node's Ed25519 key"));
    cst_report_fact(c, r, "last_backup", f->have_ok ? json_string(f->last_ok.id) : json_null());
    cst_report_set(r, CST_REPORT_PASS, "backups are written encrypted only; %d in the catalogue",
                   f->backups);
}

static void iso1(cst_report_ctx *c, cst_report_row *r)
{
    cst_report_fact(c, r, "tenants", json_integer(F(c)->tenants));
    cst_report_fact(c, r, "files_per_tenant", json_string("one database file (and its WAL)"));
    cst_report_set(r, CST_REPORT_PASS,
                   "%d tenant(s), each in its own database under its own key; the tenant of a "
                   "request comes from its credential",
                   F(c)->tenants);
}

static void iam1(cst_report_ctx *c, cst_report_row *r)
{
    cst_report_fact(c, r, "users", json_integer(F(c)->users));
    if (!c->scope->tenant_id)
        cst_report_fact(c, r, "operators", json_integer(F(c)->operators));
    if (c->scope->tenant_id)
        cst_report_set(r, CST_REPORT_PASS, "%d user(s), each a named individual", F(c)->users);
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "%d user(s) and %d operator(s), each a named individual (usernames are "
                       "unique per tenant)",
                       F(c)->users, F(c)->operators);
}

static void iam2(cst_report_ctx *c, cst_report_row *r)
{
    const cst_config *cfg = &c->n->cfg;
    json_t *policy = json_pack("{s:i,s:s,s:s,s:i,s:s,s:i,s:i}", "min_length", 14, "composition",
                               "letters and digits", "not", "the username or a common password",
                               "history", 4, "storage", "Argon2id", "lockout_threshold",
                               cfg->lockout_threshold, "lockout_seconds", cfg->lockout_seconds);
    cst_report_fact(c, r, "policy_in_force", policy);
    if (cfg->lockout_threshold > 6 || cfg->lockout_seconds < 1800)
        cst_report_set(r, CST_REPORT_WARN, "lockout relaxed: after %d failures for %d s",
                       cfg->lockout_threshold, cfg->lockout_seconds);
    else
        cst_report_set(r, CST_REPORT_PASS, "strict password policy; lockout after %d failures",
                       cfg->lockout_threshold);
}

static void iam3(cst_report_ctx *c, cst_report_row *r)
{
    struct cst_report_facts *f = F(c);
    double share = f->users ? 100.0 * f->users_mfa / f->users : 100.0;
    cst_report_fact(c, r, "users_with_mfa_percent", json_real((double)(int)(share * 10) / 10));
    cst_report_fact(c, r, "tenants_requiring_mfa_for_all", json_integer(f->mfa_all));
    cst_report_fact(c, r, "signed_in_without_mfa", json_incref(f->no_mfa_ids));
    cst_report_fact(c, r, "enrolment_pending", json_incref(f->pending_mfa_ids));
    if (f->without_mfa)
        cst_report_set(r, CST_REPORT_FAIL,
                       "%d owner, admin or operator account(s) have signed in without a second "
                       "factor",
                       f->without_mfa);
    else if (f->pending_mfa)
        cst_report_set(r, CST_REPORT_WARN,
                       "%d owner, admin or operator account(s) must enrol a second factor at their "
                       "first sign-in",
                       f->pending_mfa);
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "every owner, admin and operator uses TOTP; %.1f%% of users have it", share);
}

static void iam4(cst_report_ctx *c, cst_report_row *r)
{
    cst_report_fact(c, r, "roles_in_use", json_incref(F(c)->roles));
    /* least privilege for the node's own process too: the user it runs as, Landlock's ABI
     * ("unsupported", "disabled"), the seccomp allow-list, no_new_privs (node/sandbox.h) */
    cst_report_fact(c, r, "process_sandbox", cst_sandbox_status());
    cst_report_set(r, CST_REPORT_PASS,
                   "five tenant roles; writers and readers limited to named buckets; tokens hold "
                   "at most their creator's rights");
}

static void iam5(cst_report_ctx *c, cst_report_row *r)
{
    struct cst_report_facts *f = F(c);
    cst_report_fact(c, r, "revocations_last_90_days",
                    f->scan_err == CST_OK ? json_integer(f->revocations) : json_null());
    cst_report_fact(c, r, "credential_cache_entries", json_integer(c->n->cfg.auth_cache_entries));
    if (f->scan_err != CST_OK)
        cst_report_set(r, CST_REPORT_FAIL, "the audit log could not be read: %s",
                       cst_err_message(f->scan_err));
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "a revoked or disabled credential fails on its next request (every change "
                       "invalidates the credential cache); %d revocation(s) in 90 days",
                       f->revocations);
}

static void iam7(cst_report_ctx *c, cst_report_row *r)
{
    cst_report_fact(c, r, "tenants_with_allowlists", json_integer(F(c)->with_allowlist));
    if (!c->scope->tenant_id)
        cst_report_fact(c, r, "operator_allowlist",
                        json_string(c->n->cfg.operator_ip_allowlist_text));
    cst_report_set(r, CST_REPORT_PASS, "%d of %d tenant(s) restrict their principals by address",
                   F(c)->with_allowlist, F(c)->tenants);
}

/* IAM-8: what the lockbox holds at now: grants open, requests pending, break-glass uses and
 * those still awaiting their review (the oldest one's age). */
typedef struct iam8_tally {
    int64_t now;
    int open, pending, glass, glass_pending;
    int64_t oldest_pending_review; /* its creation; 0: none */
    json_t *awaiting;              /* [{id, tenant, created_at}] */
} iam8_tally;

static cst_err iam8_count(const cst_access_row *row, void *p)
{
    iam8_tally *t = p;
    cst_access_row a = *row;
    cst_lockbox_tick(&a, t->now);
    t->open += cst_lockbox_open(&a, t->now);
    t->pending += strcmp(a.state, "pending") == 0;
    t->glass += a.break_glass;
    if (a.break_glass && strcmp(a.review_state, "review_pending") == 0) {
        t->glass_pending++;
        if (!t->oldest_pending_review || a.created_at < t->oldest_pending_review)
            t->oldest_pending_review = a.created_at;
        json_array_append_new(t->awaiting,
                              json_pack("{s:s,s:s,s:o}", "id", a.id, "tenant", a.tenant_id,
                                        "created_at", cst_json_time(a.created_at)));
    }
    return CST_OK;
}

/* IAM-8: a break-glass awaiting its review warns; one still unreviewed a day later fails (the
 * review is the control's safeguard against its misuse). */
static void iam8(cst_report_ctx *c, cst_report_row *r)
{
    iam8_tally t = {.now = c->now, .awaiting = json_array()};
    cst_err e =
        cst_store_access_list(c->n->store, c->scope->work, c->scope->tenant_id, iam8_count, &t);
    if (e != CST_OK) {
        json_decref(t.awaiting);
        cst_report_set(r, CST_REPORT_FAIL, "the access requests could not be read: %s",
                       cst_err_message(e));
        cst_err_clear();
        return;
    }
    cst_report_fact(c, r, "grants_open", json_integer(t.open));
    cst_report_fact(c, r, "requests_pending", json_integer(t.pending));
    cst_report_fact(c, r, "break_glass_uses", json_integer(t.glass));
    cst_report_fact(c, r, "break_glass_review_pending", t.awaiting);
    if (t.glass_pending && c->now - t.oldest_pending_review > DAY_US)
        cst_report_set(r, CST_REPORT_FAIL,
                       "%d break-glass access(es) awaiting review, the oldest for more than a day",
                       t.glass_pending);
    else if (t.glass_pending)
        cst_report_set(r, CST_REPORT_WARN, "%d break-glass access(es) awaiting review",
                       t.glass_pending);
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "operators reach tenant data only through approved grants: %d open, %d "
                       "pending, %d break-glass use(s), all reviewed",
                       t.open, t.pending, t.glass);
}

static void iam9(cst_report_ctx *c, cst_report_row *r)
{
    const cst_config *cfg = &c->n->cfg;
    cst_report_fact(c, r, "session_idle_seconds", json_integer(cfg->session_idle_seconds));
    cst_report_fact(c, r, "session_max_seconds", json_integer(cfg->session_max_seconds));
    if (cfg->session_idle_seconds > 900 || cfg->session_max_seconds > 43200)
        cst_report_set(r, CST_REPORT_WARN, "sessions relaxed: idle %d s, absolute %d s",
                       cfg->session_idle_seconds, cfg->session_max_seconds);
    else
        cst_report_set(r, CST_REPORT_PASS, "sessions end after %d s idle and %d s in all",
                       cfg->session_idle_seconds, cfg->session_max_seconds);
}

static void log_1(cst_report_ctx *c, cst_report_row *r)
{
    const cst_audit_report *v = &F(c)->verify;
    json_t *per_day = json_object();
    for (int s = 0; s < CST_AUDIT__STREAMS; s++) {
        double days = v->oldest_us[s] ? (double)(c->now - v->oldest_us[s]) / DAY_US : 0;
        json_object_set_new(
            per_day, cst_audit_stream_names[s],
            json_integer((json_int_t)(days >= 1 ? v->entries[s] / days : v->entries[s])));
    }
    cst_report_fact(c, r, "entries_per_day", per_day);
    cst_report_fact(c, r, "read_durability", json_string(c->n->cfg.audit_read_durability));
    if (strcmp(c->n->cfg.audit_read_durability, "durable") != 0)
        cst_report_set(r, CST_REPORT_WARN,
                       "reads are answered before their entry is durable (audit.read_durability "
                       "= %s)",
                       c->n->cfg.audit_read_durability);
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "every request is logged before it is answered; requests fail closed");
}

static void log_2(cst_report_ctx *c, cst_report_row *r)
{
    struct cst_report_facts *f = F(c);
    json_t *v = f->verify_err == CST_OK
                    ? cst_audit_report_json(&f->verify)
                    : json_pack("{s:s}", "error", cst_err_message(f->verify_err));
    cst_report_fact(c, r, "last_verification", v);
    if (f->verify_err != CST_OK)
        cst_report_set(r, CST_REPORT_FAIL, "the audit log could not be verified: %s",
                       cst_err_message(f->verify_err));
    else if (!f->verify.ok)
        cst_report_set(r, CST_REPORT_FAIL, "verification failed in the %s stream at entry %llu: %s",
                       f->verify.stream, (unsigned long long)f->verify.seq, f->verify.reason);
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "hash chains and seals verify (%llu security, %llu access entries)",
                       (unsigned long long)f->verify.entries[CST_AUDIT_SECURITY],
                       (unsigned long long)f->verify.entries[CST_AUDIT_ACCESS]);
}

static void log_3(cst_report_ctx *c, cst_report_row *r)
{
    const cst_audit_report *v = &F(c)->verify;
    const int keep[CST_AUDIT__STREAMS] = {c->n->cfg.audit_security_retention_days,
                                          c->n->cfg.audit_access_retention_days};
    json_t *oldest = json_object();
    int late = -1;
    for (int s = 0; s < CST_AUDIT__STREAMS; s++) {
        json_object_set_new(oldest, cst_audit_stream_names[s], cst_json_time(v->oldest_us[s]));
        /* pruning runs with segment rotation: a week beyond retention means it stopped */
        if (v->oldest_us[s] && v->oldest_us[s] < c->now - (int64_t)(keep[s] + 7) * DAY_US)
            late = s;
    }
    cst_report_fact(c, r, "oldest_entry", oldest);
    cst_report_fact(c, r, "retention_days",
                    json_pack("{s:i,s:i}", "security", keep[0], "access", keep[1]));
    if (late >= 0)
        cst_report_set(r, CST_REPORT_WARN, "the %s stream holds entries older than its retention",
                       cst_audit_stream_names[late]);
    else
        cst_report_set(r, CST_REPORT_PASS, "security entries kept %d days, access entries %d days",
                       keep[0], keep[1]);
}

static void log_4(cst_report_ctx *c, cst_report_row *r)
{
    cst_report_fact(c, r, "tenant_route", json_string("GET /v1/audit (owner, admin, auditor)"));
    cst_report_fact(c, r, "details",
                    json_string("sealed under the tenant's own key; operators' actions on a "
                                "tenant are in its trail"));
    cst_report_set(r, CST_REPORT_PASS,
                   "each tenant reads its own trail, operator access included; no customer data "
                   "in the clear");
}

static void bak1(cst_report_ctx *c, cst_report_row *r)
{
    struct cst_report_facts *f = F(c);
    int64_t interval = (int64_t)c->n->cfg.backup_interval * 1000000;
    cst_report_fact(c, r, "interval_seconds", json_integer(c->n->cfg.backup_interval));
    cst_report_fact(c, r, "missing_from_destination", json_integer(f->missing));
    cst_report_fact(c, r, "last_good_backup",
                    f->have_ok ? json_pack("{s:s,s:o}", "id", f->last_ok.id, "finished_at",
                                           cst_json_time(f->last_ok.finished_at))
                               : json_null());
    int64_t age = f->have_ok ? c->now - f->last_ok.finished_at : -1;
    if (f->have_ok)
        cst_report_fact(c, r, "age_seconds", json_integer(age / 1000000));
    if (interval <= 0)
        cst_report_set(r, CST_REPORT_FAIL, "no backup schedule (backup.interval = 0)");
    else if (!f->have_ok && f->missing)
        cst_report_set(r, CST_REPORT_FAIL,
                       "no good backup: the %d in the catalogue are gone from the backup dir",
                       f->missing);
    else if (!f->have_ok && c->now - c->n->started_at < interval)
        cst_report_set(r, CST_REPORT_WARN, "no backup yet; the first is due within one interval");
    else if (!f->have_ok)
        cst_report_set(r, CST_REPORT_FAIL, "no good backup in the catalogue");
    else if (age > 2 * interval)
        cst_report_set(r, CST_REPORT_FAIL, "the last good backup is %lld h old (over 2 intervals)",
                       (long long)(age / 3600000000LL));
    else if (age > interval + interval / 4)
        cst_report_set(r, CST_REPORT_WARN, "the last good backup is %lld h old (over 1 interval)",
                       (long long)(age / 3600000000LL));
    else
        cst_report_set(r, CST_REPORT_PASS, "last good backup %s, %lld min ago", f->last_ok.id,
                       (long long)(age / 60000000LL));
}

/* BAK-2: a drill is a whole restore into scratch space, timed: its duration is the evidence. */
static void bak2(cst_report_ctx *c, cst_report_row *r)
{
    struct cst_report_facts *f = F(c);
    const int64_t objective_ms = 8LL * 3600 * 1000;
    cst_report_fact(c, r, "objective_hours", json_integer(8));
    cst_report_fact(c, r, "last_restore_drill_ms",
                    f->have_drill ? json_integer(f->drill.duration_ms) : json_null());
    if (f->have_drill && f->drill.ok && f->drill.duration_ms > objective_ms)
        cst_report_set(r, CST_REPORT_FAIL, "the last restore took %lld min, over the 8 h objective",
                       (long long)(f->drill.duration_ms / 60000));
    else if (!f->have_drill || !f->drill.ok)
        cst_report_set(r, CST_REPORT_WARN, "no successful restore drill has been timed yet");
    else
        cst_report_set(r, CST_REPORT_PASS, "the last restore (drill %s) took %lld ms of 8 h",
                       f->drill.id, (long long)f->drill.duration_ms);
}

static void bak3(cst_report_ctx *c, cst_report_row *r)
{
    struct cst_report_facts *f = F(c);
    cst_report_fact(c, r, "last_drill",
                    f->have_drill
                        ? json_pack("{s:s,s:o,s:b,s:I,s:s}", "id", f->drill.id, "started_at",
                                    cst_json_time(f->drill.started_at), "ok", f->drill.ok,
                                    "duration_ms", (json_int_t)f->drill.duration_ms, "backup",
                                    f->drill.backup_id)
                        : json_null());
    int64_t age = f->have_drill ? c->now - f->drill.started_at : c->now - c->n->started_at;
    if (f->have_drill && !f->drill.ok)
        cst_report_set(r, CST_REPORT_FAIL, "the last drill failed: %s", f->drill.error);
    else if (age > 365 * DAY_US)
        cst_report_set(r, CST_REPORT_FAIL, "no successful drill in the last 12 months");
    else if (age > 335 * DAY_US)
        cst_report_set(r, CST_REPORT_WARN, "a drill is due: the last one is over 11 months old");
    else if (!f->have_drill)
        cst_report_set(r, CST_REPORT_WARN, "no drill yet; one is due within a year");
    else
        cst_report_set(r, CST_REPORT_PASS, "last drill %s passed in %lld ms", f->drill.id,
                       (long long)f->drill.duration_ms);
}

static void bak4(cst_report_ctx *c, cst_report_row *r)
{
    struct cst_report_facts *f = F(c);
    int days = c->n->cfg.backup_retention_days;
    cst_report_fact(c, r, "retention_days", json_integer(days));
    cst_report_fact(c, r, "oldest_backup",
                    f->have_ok ? json_pack("{s:s,s:o}", "id", f->oldest.id, "created_at",
                                           cst_json_time(f->oldest.created_at))
                               : json_null());
    if (f->have_ok && f->oldest.created_at < c->now - (int64_t)(days + 1) * DAY_US)
        cst_report_set(r, CST_REPORT_FAIL, "backup %s is older than %d days and not pruned",
                       f->oldest.id, days);
    else
        cst_report_set(r, CST_REPORT_PASS, "%d backup(s), none older than %d days", f->backups,
                       days);
}

static void ret1(cst_report_ctx *c, cst_report_row *r)
{
    struct cst_report_facts *f = F(c);
    cst_report_fact(c, r, "buckets", json_integer(f->buckets));
    cst_report_fact(c, r, "buckets_with_retention", json_integer(f->buckets_with_retention));
    cst_report_fact(c, r, "sweep_interval_seconds", json_integer(c->n->cfg.sweep_interval));
    if (f->buckets_err != CST_OK)
        cst_report_set(r, CST_REPORT_FAIL, "the tenants' buckets could not be read: %s",
                       cst_err_message(f->buckets_err));
    else if (c->n->cfg.sweep_interval <= 0)
        cst_report_set(r, CST_REPORT_FAIL, "the sweeper is off");
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "%d of %d bucket(s) keep records for a set time; expired records are "
                       "invisible at once and swept every %ld s",
                       f->buckets_with_retention, f->buckets, c->n->cfg.sweep_interval);
}

static void ret2(cst_report_ctx *c, cst_report_row *r)
{
    struct cst_report_facts *f = F(c);
    cst_report_fact(c, r, "tenants_by_state", json_incref(f->by_state));
    cst_report_fact(c, r, "next_deletions", json_incref(f->next_deletions));
    if (f->overdue) {
        cst_report_fact(c, r, "past_erase_date", json_incref(f->overdue_ids));
        cst_report_set(r, CST_REPORT_FAIL, "%d tenant(s) are past their erase date", f->overdue);
    } else {
        cst_report_set(r, CST_REPORT_PASS, "%d tenant(s) on schedule; no deletion is overdue",
                       f->tenants);
    }
}

static void ret3(cst_report_ctx *c, cst_report_row *r)
{
    const cst_lifecycle_policy *p = &c->n->cfg.lifecycle;
    cst_report_fact(c, r, "read_and_export_days", json_integer(p->terminated_access_days));
    cst_report_fact(c, r, "erase_after_days", json_integer(p->terminated_erase_days));
    if (p->terminated_access_days < 15 || p->terminated_erase_days > 30)
        cst_report_set(r, CST_REPORT_WARN,
                       "termination window changed: read and export for %d days, erase after %d",
                       p->terminated_access_days, p->terminated_erase_days);
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "a terminated tenant reads and exports for %d days; erased after %d",
                       p->terminated_access_days, p->terminated_erase_days);
}

static void ret4(cst_report_ctx *c, cst_report_row *r)
{
    cst_report_fact(c, r, "certificates_issued", json_integer(F(c)->certificates));
    cst_report_set(r, CST_REPORT_PASS,
                   "erase destroys every copy of a tenant's keys and issues a signed "
                   "certificate; %d issued",
                   F(c)->certificates);
}

static void por1(cst_report_ctx *c, cst_report_row *r)
{
    struct cst_report_facts *f = F(c);
    cst_report_fact(c, r, "exports_last_90_days",
                    f->scan_err == CST_OK ? json_integer(f->exports) : json_null());
    if (f->scan_err != CST_OK)
        cst_report_set(r, CST_REPORT_FAIL, "the audit log could not be read: %s",
                       cst_err_message(f->scan_err));
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "a tenant exports all its data on demand (GET /v1/export); %d export(s) "
                       "in 90 days",
                       f->exports);
}

static void res1(cst_report_ctx *c, cst_report_row *r)
{
    cst_report_fact(c, r, "node_region", json_string(c->n->region));
    cst_report_fact(c, r, "region_per_tenant", json_incref(F(c)->regions));
    if (F(c)->wrong_region)
        cst_report_set(r, CST_REPORT_FAIL, "%d tenant(s) belong to another region",
                       F(c)->wrong_region);
    else
        cst_report_set(r, CST_REPORT_PASS, "every tenant is pinned to region %s", c->n->region);
}

static void chg1(cst_report_ctx *c, cst_report_row *r)
{
    char hex[2 * CST_HASH_LEN + 1];
    json_t *changed = NULL;
    cst_err e = cst_node_config_hash(&c->n->cfg, hex, &changed);
    cst_report_fact(c, r, "config_sha256", e == CST_OK ? json_string(hex) : json_null());
    cst_report_fact(c, r, "non_default_keys", changed ? changed : json_array());
    if (e != CST_OK)
        cst_report_set(r, CST_REPORT_FAIL, "the configuration could not be hashed");
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "every start records the configuration's hash and each key changed since "
                       "the last (node.start); tenant settings changes are audited");
}

static void collect_weaker(const char *key, const char *message, void *ctx)
{
    json_array_append_new(ctx, json_pack("{s:s,s:s}", "key", key, "setting", message));
}

static void chg2(cst_report_ctx *c, cst_report_row *r)
{
    const cst_config *cfg = &c->n->cfg;
    json_t *relaxed = json_array();
    cst_config_weaker(cfg, collect_weaker, relaxed);
    json_t *checks =
        json_pack("{s:b,s:b,s:b,s:b}", "tls_only", !cfg->allow_plaintext_loopback,
                  "mfa_for_admins_and_operators", F(c)->without_mfa == 0, "strict_password_policy",
                  cfg->lockout_threshold <= 6, "audit_on", true);
    size_t n = json_array_size(relaxed);
    cst_report_fact(c, r, "secure_default_checks", checks);
    cst_report_fact(c, r, "relaxed_settings", relaxed);
    if (n)
        cst_report_set(r, CST_REPORT_WARN, "%zu setting(s) weaker than the default", n);
    else
        cst_report_set(r, CST_REPORT_PASS, "every setting is at its secure default or stricter");
}

/* ---- IAM-6: access reviews (node/reviews.h) ---- */

typedef struct review_tally {
    json_t *last, *overdue;
    int due_soon;
} review_tally;

static cst_err review_scope(cst_report_ctx *c, review_tally *t, const char *scope)
{
    cst_review_schedule s;
    TRY(cst_review_schedule_of(c->n, c->scope->work, scope, &s));
    bool operators = !strcmp(scope, CST_SYS_TENANT);
    json_t *o = json_pack("{s:s,s:o,s:o,s:o}", operators ? "scope" : "tenant",
                          operators ? "operators" : scope, "last_attested_at",
                          cst_json_time(s.last_attested_at), "due_at", cst_json_time(s.due_at),
                          "open_review", s.open_id[0] ? json_string(s.open_id) : json_null());
    if (cst_review_overdue(s.due_at, c->now))
        json_array_append(t->overdue, o);
    else if (cst_review_remind(s.due_at, c->now))
        t->due_soon++;
    json_array_append_new(t->last, o);
    return CST_OK;
}

static void iam6(cst_report_ctx *c, cst_report_row *r)
{
    review_tally t = {json_array(), json_array(), 0};
    cst_err e = CST_OK;
    size_t i;
    json_t *id;
    json_array_foreach(F(c)->tenant_ids, i, id)
    {
        if (e == CST_OK)
            e = review_scope(c, &t, json_string_value(id));
    }
    if (e == CST_OK && !c->scope->tenant_id && F(c)->operators)
        e = review_scope(c, &t, CST_SYS_TENANT);
    size_t overdue = json_array_size(t.overdue);
    cst_report_fact(c, r, "review_period_days", json_integer(c->n->cfg.reviews_period_days));
    cst_report_fact(c, r, "stale_after_days", json_integer(c->n->cfg.reviews_stale_days));
    cst_report_fact(c, r, "last_review", t.last);
    cst_report_fact(c, r, "overdue_reviews", t.overdue);
    if (e != CST_OK) {
        cst_report_set(r, CST_REPORT_FAIL, "the access reviews could not be read: %s",
                       cst_err_message(e));
        cst_err_clear();
    } else if (overdue)
        cst_report_set(r, CST_REPORT_FAIL, "%zu access review(s) past their due date", overdue);
    else if (t.due_soon)
        cst_report_set(r, CST_REPORT_WARN, "%d access review(s) due within %d days", t.due_soon,
                       CST_REVIEW_REMIND_DAYS);
    else
        cst_report_set(r, CST_REPORT_PASS, "every access review attested within its %d-day period",
                       c->n->cfg.reviews_period_days);
}

/* ---- INC-1..4: incidents, breach clocks, notices (node/incidents.h) ---- */

static bool incident_counts(cst_report_ctx *c, cst_report_row *r, cst_incident_counts *k)
{
    cst_err e = cst_incident_count(c->n, c->scope->work, c->now, k);
    if (e == CST_OK)
        return true;
    cst_report_set(r, CST_REPORT_FAIL, "the incidents could not be read: %s", cst_err_message(e));
    cst_err_clear();
    return false;
}

static void inc1(cst_report_ctx *c, cst_report_row *r)
{
    cst_incident_counts k;
    if (!incident_counts(c, r, &k))
        return;
    cst_report_fact(c, r, "open_incidents", json_integer(k.open_incidents));
    json_decref(k.overdue_list);
    cst_report_set(r, CST_REPORT_PASS,
                   "%d open incident(s); timelines are append-only (the store refuses changes)",
                   k.open_incidents);
}

static void inc2(cst_report_ctx *c, cst_report_row *r)
{
    cst_incident_counts k;
    if (!incident_counts(c, r, &k))
        return;
    cst_report_fact(c, r, "max_notice_hours", json_integer(c->n->cfg.max_notice_hours));
    cst_report_fact(c, r, "breach_clocks", json_integer(k.clocks));
    cst_report_fact(c, r, "notices_sent", json_integer(k.sent));
    cst_report_fact(c, r, "notices_due_within_12h", json_integer(k.due_soon));
    cst_report_fact(c, r, "notices_overdue", json_integer(k.overdue));
    cst_report_fact(c, r, "overdue", k.overdue_list);
    if (k.overdue)
        cst_report_set(r, CST_REPORT_FAIL, "%d breach notice(s) past their deadline", k.overdue);
    else if (k.due_soon)
        cst_report_set(r, CST_REPORT_WARN, "%d breach notice(s) due within 12 h", k.due_soon);
    else
        cst_report_set(r, CST_REPORT_PASS, "%d breach clock(s), %d notified, none due or overdue",
                       k.clocks, k.sent);
}

struct notice_tally {
    int notices, late, pending, approved, declined;
};

static cst_err tally_notice(const cst_notice_row *nt, void *p)
{
    struct notice_tally *t = p;
    t->notices++;
    t->late += nt->sent_at > nt->deadline;
    t->pending += !strcmp(nt->decision, "pending");
    t->approved += !strcmp(nt->decision, "approved");
    t->declined += !strcmp(nt->decision, "declined");
    return CST_OK;
}

static bool notice_tally(cst_report_ctx *c, cst_report_row *r, struct notice_tally *t)
{
    memset(t, 0, sizeof(*t));
    cst_err e = cst_store_notice_list(c->n->store, c->scope->work, NULL, NULL, tally_notice, t);
    if (e == CST_OK)
        return true;
    cst_report_set(r, CST_REPORT_FAIL, "the notices could not be read: %s", cst_err_message(e));
    cst_err_clear();
    return false;
}

static void inc3(cst_report_ctx *c, cst_report_row *r)
{
    struct notice_tally t;
    if (!notice_tally(c, r, &t))
        return;
    cst_report_fact(c, r, "notices", json_integer(t.notices));
    cst_report_fact(c, r, "late_notices", json_integer(t.late));
    cst_report_fact(c, r, "required_fields", json_integer((json_int_t)cst_notice_field_count));
    cst_report_set(r, CST_REPORT_PASS,
                   "%d notice(s) sent, each with every required Art. 33(3) field (a notice "
                   "lacking one is refused)",
                   t.notices);
}

static void inc4(cst_report_ctx *c, cst_report_row *r)
{
    struct notice_tally t;
    if (!notice_tally(c, r, &t))
        return;
    cst_report_fact(c, r, "pending", json_integer(t.pending));
    cst_report_fact(c, r, "approved", json_integer(t.approved));
    cst_report_fact(c, r, "declined", json_integer(t.declined));
    cst_report_set(r, CST_REPORT_PASS,
                   "tenants decide on notifying their users: %d approved, %d declined, %d pending",
                   t.approved, t.declined, t.pending);
}

/* DET-1: the rules run as requests happen (node/detect.c); the evidence is what they found. */
typedef struct det1_tally {
    json_t *by_type; /* alerts not resolved, by type */
    int integrity;   /* audit_integrity alerts not resolved */
    int stale;       /* open (not acknowledged) for more than a day */
    int64_t now;
} det1_tally;

static cst_err det1_count(const cst_alert_row *a, void *ctx)
{
    det1_tally *t = ctx;
    json_int_t k = json_integer_value(json_object_get(t->by_type, a->type));
    json_object_set_new(t->by_type, a->type, json_integer(k + 1));
    t->integrity += strcmp(a->type, "audit_integrity") == 0;
    t->stale += strcmp(a->status, "open") == 0 && t->now - a->first_seen > DAY_US;
    return CST_OK;
}

static void det1(cst_report_ctx *c, cst_report_row *r)
{
    const cst_config *cfg = &c->n->cfg;
    det1_tally t = {.by_type = json_object(), .now = c->now};
    cst_err e = CST_OK;
    static const char *const live[] = {"open", "acknowledged"};
    for (size_t i = 0; e == CST_OK && i < 2; i++) {
        cst_alert_filter f = {.status = live[i], .limit = 100000};
        e = cst_store_alert_list(c->n->store, c->scope->work, &f, det1_count, &t);
    }
    cst_report_fact(c, r, "open_alerts_by_type", t.by_type);
    cst_report_fact(
        c, r, "rules",
        json_pack("{s:b,s:{s:i,s:i},s:{s:i,s:i},s:{s:i,s:i},s:{s:i,s:i},s:{s:i,s:i},s:i}",
                  "enabled", cfg->detect_enabled, "brute_force", "threshold",
                  cfg->detect_brute_force.threshold, "window_s", cfg->detect_brute_force.window,
                  "password_spraying", "threshold", cfg->detect_password_spraying.threshold,
                  "window_s", cfg->detect_password_spraying.window, "disallowed_ip", "threshold",
                  cfg->detect_disallowed_ip.threshold, "window_s", cfg->detect_disallowed_ip.window,
                  "revoked_credential", "threshold", cfg->detect_revoked_credential.threshold,
                  "window_s", cfg->detect_revoked_credential.window, "exfiltration", "factor",
                  cfg->detect_exfiltration_factor, "min_records",
                  cfg->detect_exfiltration_min_records, "quiet_period_s",
                  cfg->detect_quiet_period));
    if (e != CST_OK) {
        cst_err_clear();
        cst_report_set(r, CST_REPORT_FAIL, "the alerts cannot be read");
    } else if (!cfg->detect_enabled)
        cst_report_set(r, CST_REPORT_FAIL, "intrusion detection is off (detect.enabled = false)");
    else if (t.integrity)
        cst_report_set(r, CST_REPORT_FAIL,
                       "an audit_integrity alert is not resolved: the audit log's integrity is "
                       "in question");
    else if (t.stale)
        cst_report_set(r, CST_REPORT_WARN,
                       "%d alert(s) open for more than a day without being acknowledged", t.stale);
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "detection runs on every request; every open alert is being handled");
}

/* DET-2: the metrics every node serves, who may scrape them, and readiness when serving. */
static void det2(cst_report_ctx *c, cst_report_row *r)
{
    const cst_config *cfg = &c->n->cfg;
    size_t families = cst_node_metrics_families();
    char access[256];
    (void)snprintf(access, sizeof(access), "an operator token with sys.report%s%s%s",
                   cfg->metrics_allow_loopback
                       ? ", or a loopback peer without a token (metrics.allow_loopback)"
                       : "",
                   cfg->metrics_listen[0] ? "; also plain HTTP on " : "", cfg->metrics_listen);
    cst_report_fact(c, r, "metric_families", json_integer((json_int_t)families));
    cst_report_fact(c, r, "per_tenant", json_boolean(cfg->metrics_per_tenant));
    cst_report_fact(c, r, "scrape_access", json_string(access));
    cst_report_fact(c, r, "endpoints",
                    json_pack("[sss]", "/metrics", "/v1/sys/health", "/v1/sys/ready"));
    json_t *checks = NULL;
    cst_err ready = CST_OK;
    if (c->n->audit) { /* a serving node (an offline report has no open audit log) */
        ready = cst_node_ready(c->n, &checks);
        cst_report_fact(c, r, "readiness", checks ? checks : json_null());
    }
    if (ready != CST_OK) {
        cst_err_clear();
        cst_report_set(r, CST_REPORT_FAIL, "the node is not ready: see the readiness checks");
    } else if (cfg->metrics_per_tenant)
        cst_report_set(r, CST_REPORT_WARN,
                       "%zu metric families served; metrics.per_tenant = true: labels carry "
                       "tenant ids",
                       families);
    else
        cst_report_set(r, CST_REPORT_PASS,
                       "%zu metric families served in the Prometheus text format, no tenant id "
                       "in any label; liveness and readiness answer",
                       families);
}

static void evd1(cst_report_ctx *c, cst_report_row *r)
{
    cst_report_fact(c, r, "controls_in_catalogue", json_integer((json_int_t)cst_control_count));
    cst_report_set(r, CST_REPORT_PASS,
                   "this report: every control evaluated on the live node, signed by its key");
}

/* ---- the catalogue (CONTROLS.md, in its order) ---- */

#define C(id, title, sources, thresholds, tenant, fn)                                              \
    {                                                                                              \
        id, title, sources, thresholds, tenant, fn                                                 \
    }

const cst_control cst_controls[] = {
    C("ENC-1", "Customer data encrypted at rest under per-tenant keys",
      "influx §1, §7(9); jitterbit 16.1; vtiger Encryption/At rest; trust Verschlüsselung im "
      "Ruhezustand; instaclustr MS-1",
      "fail: a live tenant without a wrapped data key", true, enc1),
    C("ENC-2", "Backups encrypted", "influx §1; vtiger Encryption/At rest",
      "pass: enforced by construction", false, enc2),
    C("ENC-3", "TLS 1.2/1.3 only, forward secrecy, HSTS",
      "jitterbit 16.2; vtiger In transit; trust Verschlüsselung während der Übertragung",
      "fail: the priority string admits TLS 1.1 or older, a non-AEAD cipher or a key exchange "
      "without forward secrecy; warn: a plaintext loopback listener is enabled",
      true, enc3),
    C("ENC-4", "Key management and rotation", "vtiger (KMS); influx §1",
      "fail: the master key older than keys.kek_max_age; warn: a tenant's DEK past "
      "keys.dek_max_age or keys.max_encryptions_per_dek not yet rotated; the master key can be "
      "rotated offline only",
      true, enc4),
    C("ISO-1", "Tenant isolation",
      "influx §7(11); jitterbit 2.1; vtiger Data isolation; trust "
      "Datenisolierung",
      "pass: enforced by construction", true, iso1),
    C("IAM-1", "Individual identities", "instaclustr G-4; jitterbit 3.2",
      "pass: enforced by construction", true, iam1),
    C("IAM-2", "Password policy and lockout", "jitterbit 3.3; trust Passwortanforderungen",
      "warn: lockout after more than 6 failures or for less than 30 min", false, iam2),
    C("IAM-3", "Two-factor authentication",
      "jitterbit 1.1, 3.2, 6.1, 17.5; trust Zwei-Faktor; instaclustr Customer Responsibilities",
      "fail: an owner, admin or operator who has signed in without a confirmed TOTP factor; "
      "warn: one who has never signed in (they can only enrol)",
      true, iam3),
    C("IAM-4", "Role-based access, least privilege",
      "influx §4a(i-ii); jitterbit 2.1, 17.1; trust RBAC, minimaler Rechtszugriff; instaclustr G-4",
      "pass: enforced by construction", true, iam4),
    C("IAM-5", "Revocation on the next request", "influx §4a(iv); jitterbit 3.4; instaclustr G-4",
      "fail: the audit log cannot be read", true, iam5),
    C("IAM-6", "Quarterly access reviews",
      "influx §4a(iii); jitterbit 3.5; trust Quartalsweise Zugriffsüberprüfungen",
      "fail: an access review past its due date (the last attestation, or the tenant's creation, "
      "plus reviews.period_days) or the reviews cannot be read; warn: one due within 14 days",
      true, iam6),
    C("IAM-7", "IP allowlists", "jitterbit 17.5, 3.7-3.8; instaclustr Configuring firewall rules",
      "pass: enforced on every request", true, iam7),
    C("IAM-8", "No operator access without the customer's approval", "influx §4a(i); jitterbit 1.2",
      "warn: a break-glass access awaits its review; fail: one still unreviewed a day later", true,
      iam8),
    C("IAM-9", "Session timeouts", "PCI DSS 8.2.8 (jitterbit 3.3)",
      "warn: idle timeout over 15 min or absolute over 12 h", true, iam9),
    C("LOG-1", "Every request logged, fail closed",
      "influx §9; jitterbit 3.6, 8.1; vtiger Logging and monitoring",
      "warn: audit.read_durability = batched", false, log_1),
    C("LOG-2", "Tamper-evident audit log", "jitterbit 8.2, 8.3; vtiger stored securely",
      "fail: verification finds anything, or cannot run", false, log_2),
    C("LOG-3", "Audit retention", "jitterbit 8.2, 8.3; influx §9",
      "warn: a stream holds entries a week past its retention", false, log_3),
    C("LOG-4", "Tenants read their own audit trail", "influx §4a(i); jitterbit 1.2",
      "pass: enforced by construction", true, log_4),
    C("DET-1", "Intrusion detection and alerts",
      "influx §4b, §5(7); jitterbit 3.6, 3.9; vtiger Logging and monitoring",
      "fail: detection is off, the alerts cannot be read, or an audit_integrity alert is not "
      "resolved; warn: an alert open for more than a day without being acknowledged",
      false, det1),
    C("DET-2", "Health and metrics", "jitterbit 8.1; trust Protokollierung und Überwachung",
      "fail: a serving node is not ready (store, audit log or keys); warn: metrics.per_tenant = "
      "true",
      false, det2),
    C("INC-1", "Incident records",
      "influx §3a(i-v); vtiger Incident management; trust "
      "Vorfallreaktion",
      "pass: enforced by construction (the timeline is append-only); fail: the incidents cannot "
      "be read",
      false, inc1),
    C("INC-2", "Breach notification clock",
      "influx §3b; jitterbit 12.2; instaclustr MS-2; vtiger Breach notification",
      "fail: a notice past its deadline (aware_at + breach_notice_hours) and not sent; warn: one "
      "due within 12 h",
      false, inc2),
    C("INC-3", "Contents of a breach notice", "influx §3b(i-v); jitterbit 12.3",
      "pass: enforced by construction (a notice lacking a required field is refused)", false, inc3),
    C("INC-4", "Tenant approves notices to its users", "influx §3b",
      "pass: enforced by construction (the decision is recorded and audited)", false, inc4),
    C("BAK-1", "Daily encrypted backups", "vtiger Backups; influx §1; trust Geschäftskontinuität",
      "fail: no good backup and the node is older than one interval, or every catalogued one is "
      "gone from the backup dir, or the last good one is older than 2 intervals, or "
      "backup.interval = 0; warn: no backup yet on a younger node, or older than 1.25 intervals",
      true, bak1),
    C("BAK-2", "Verified restores within 8 hours", "vtiger Backups (8 h)",
      "fail: the last timed restore (drill) took over 8 h; warn: none timed yet", false, bak2),
    C("BAK-3", "Yearly recovery drills", "influx §3c; jitterbit 13.1",
      "fail: the last drill failed, or none succeeded in 12 months; warn: none in 11 months, or "
      "none yet",
      false, bak3),
    C("BAK-4", "Backup retention", "influx §15(a)",
      "fail: a good backup older than backup.retention_days + 1 day is still listed", false, bak4),
    C("RET-1", "Per-bucket retention", "influx §15(a)",
      "fail: the sweeper is off, or the buckets cannot be read", true, ret1),
    C("RET-2", "Account lifecycle and deletion schedule", "vtiger Data retention and deletion",
      "fail: a tenant more than a day past its erase date", true, ret2),
    C("RET-3", "Termination window", "influx §15(a)",
      "warn: read and export for under 15 days, or erase after more than 30", true, ret3),
    C("RET-4", "Cryptographic erase with signed certificates", "influx §15(b)",
      "pass: enforced by construction", false, ret4),
    C("POR-1", "Export on demand", "influx §15(c), §17", "fail: the audit log cannot be read", true,
      por1),
    C("RES-1", "Data residency",
      "jitterbit 1.4, 7.1; vtiger Data location; trust "
      "Datenspeichersicherheit",
      "fail: a tenant of another region on this node", true, res1),
    C("CHG-1", "Configuration changes audited", "influx §10", "pass: enforced by construction",
      false, chg1),
    C("CHG-2", "Secure by default", "jitterbit privacy by default, 15.1",
      "warn: any setting weaker than its default (each listed)", false, chg2),
    C("EVD-1", "Compliance report", "influx §2(d); jitterbit 14", "pass: this report", false, evd1),
};

const size_t cst_control_count = sizeof(cst_controls) / sizeof(cst_controls[0]);
