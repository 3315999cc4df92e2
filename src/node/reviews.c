/* reviews.c: access reviews on the node (IAM-6): the live principals of a tenant or of the
 * operators, campaigns frozen from them, the attestation that applies every revoke in the
 * request's unit of work and is signed with the node's key, and the quarterly schedule. */
#include <stdlib.h>
#include <string.h>

#include "core/account.h"
#include "core/authn.h"
#include "core/authz.h"
#include "core/lockbox.h"
#include "core/review.h"
#include "node/detect.h"
#include "node/reviews.h"
#include "node/webhook.h"
#include "util/json.h"
#include "util/util.h"

#define TENANT_PAGE 500

/* ---- the principals ---- */

/* The enabled users of a scope, so that their tokens are listed with their rights. */
static bool enabled(const cst_user_row *u)
{
    return !u->disabled;
}

static const cst_user_row *user_of(const cst_user_rows *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->rows[i].id, id))
            return &l->rows[i];
    return NULL;
}

typedef struct listing {
    cst_node *n;
    cst_user_rows users;
    json_t *out;
    int64_t now;
} listing;

static void add_subject(listing *l, const cst_review_subject *s)
{
    unsigned flags = cst_review_flags(s, l->n->cfg.reviews_stale_days, l->now);
    json_array_append_new(l->out, cst_review_principal_json(s, flags));
}

static cst_err add_token(const cst_token_row *t, void *p)
{
    listing *l = p;
    const cst_user_row *u = user_of(&l->users, t->user_id);
    /* a session is its user's use; an expired token or a disabled user's is no longer live */
    if (t->session || !u || cst_authn_unexpired(t, l->now) != CST_OK) {
        cst_err_clear();
        return CST_OK;
    }
    cst_review_subject s = {.kind = CST_REVIEW_TOKEN,
                            .id = t->id,
                            .name = t->name,
                            .user_id = t->user_id,
                            .roles = u->roles,
                            .perms = cst_authz_effective(u->roles, false, t->perms),
                            .grants = u->grants,
                            .mfa = -1,
                            .created_at = t->created_at,
                            .last_used_at = t->last_used_at};
    add_subject(l, &s);
    return CST_OK;
}

/* IAM-8: the tenant's open operator grants are principals of its review too (the operators'
 * scope has none). Collected first: the listing holds the store while it runs. */
typedef struct grants {
    cst_access_row *rows;
    size_t n, cap;
} grants;

static cst_err add_access(const cst_access_row *a, void *p)
{
    grants *g = p;
    TRY(cst_room((void **)&g->rows, &g->cap, g->n, sizeof(*g->rows)));
    g->rows[g->n++] = *a;
    return CST_OK;
}

static cst_err add_grants(listing *l, cst_work *w, const char *scope)
{
    if (!strcmp(scope, CST_SYS_TENANT))
        return CST_OK;
    grants g = {0};
    cst_err e = cst_store_access_list(l->n->store, w, scope, add_access, &g);
    for (size_t i = 0; e == CST_OK && i < g.n; i++) {
        const cst_access_row *a = &g.rows[i];
        if (!cst_lockbox_open(a, l->now))
            continue;
        cst_token_row t;
        int64_t last_used = 0;
        if (a->token_id[0] && cst_store_token_get(l->n->store, w, a->token_id, &t) == CST_OK)
            last_used = t.last_used_at;
        cst_err_clear();
        cst_review_subject s = {.kind = CST_REVIEW_GRANT,
                                .id = a->id,
                                .name = a->requester_name,
                                .user_id = a->requester,
                                .perms = a->perms,
                                .grants = a->buckets,
                                .mfa = -1,
                                .created_at = a->window_from,
                                .last_used_at = last_used};
        add_subject(l, &s);
    }
    free(g.rows);
    return e;
}

cst_err cst_review_principals(cst_node *n, cst_work *w, const char *scope, int64_t now,
                              json_t **out)
{
    listing l = {.n = n, .users = {.keep = enabled}, .out = json_array(), .now = now};
    *out = NULL;
    cst_err e = l.out ? cst_store_user_list(n->store, w, scope, cst_user_rows_add, &l.users)
                      : cst_fail(CST_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; e == CST_OK && i < l.users.n; i++) {
        const cst_user_row *u = &l.users.rows[i];
        cst_review_subject s = {.kind = CST_REVIEW_USER,
                                .id = u->id,
                                .name = u->username,
                                .roles = u->roles,
                                .perms = cst_roles_perms(u->roles),
                                .grants = u->grants,
                                .mfa = u->totp_state == CST_TOTP_ACTIVE,
                                .created_at = u->created_at,
                                .last_used_at = u->last_login_at};
        add_subject(&l, &s);
    }
    if (e == CST_OK)
        e = cst_store_token_list(n->store, w, scope, NULL, add_token, &l);
    if (e == CST_OK && strcmp(scope, CST_SYS_TENANT) != 0)
        e = add_grants(&l, w, scope);
    cst_user_rows_free(&l.users);
    if (e != CST_OK) {
        json_decref(l.out);
        return e;
    }
    *out = l.out;
    return CST_OK;
}

/* ---- the schedule ---- */

static cst_err on_review(const cst_review_row *r, void *p)
{
    cst_review_schedule *s = p;
    if (!strcmp(r->state, "open"))
        memcpy(s->open_id, r->id, sizeof(s->open_id));
    if (r->attested_at > s->last_attested_at)
        s->last_attested_at = r->attested_at;
    return CST_OK;
}

static cst_err first_operator(const cst_user_row *u, void *p)
{
    int64_t *since = p;
    if (!*since || u->created_at < *since)
        *since = u->created_at;
    return CST_OK;
}

/* When the scope's first quarter began: the tenant's creation, or the first operator's. */
static cst_err scope_since(cst_node *n, cst_work *w, const char *scope, int64_t *since)
{
    *since = 0;
    if (!strcmp(scope, CST_SYS_TENANT))
        return cst_store_user_list(n->store, w, scope, first_operator, since);
    cst_tenant_row t;
    TRY(cst_store_tenant_get(n->store, w, scope, &t));
    *since = t.created_at;
    return CST_OK;
}

static cst_err schedule(cst_node *n, cst_work *w, const char *scope, int64_t since,
                        cst_review_schedule *out)
{
    memset(out, 0, sizeof(*out));
    TRY(cst_store_review_list(n->store, w, scope, on_review, out));
    out->due_at = cst_review_due_at(out->last_attested_at, since, n->cfg.reviews_period_days);
    return CST_OK;
}

cst_err cst_review_schedule_of(cst_node *n, cst_work *w, const char *scope,
                               cst_review_schedule *out)
{
    int64_t since;
    TRY(scope_since(n, w, scope, &since));
    return schedule(n, w, scope, since, out);
}

/* ---- campaigns ---- */

cst_err cst_review_open(cst_node *n, cst_work *w, const char *scope, const char *by, int64_t now,
                        cst_review_row *out)
{
    memset(out, 0, sizeof(*out));
    json_t *principals = NULL;
    TRY(cst_review_principals(n, w, scope, now, &principals));
    char *text = json_dumps(principals, JSON_SORT_KEYS | JSON_COMPACT);
    cst_err e = text ? cst_review_snapshot_hash(principals, out->snapshot_sha256)
                     : cst_fail(CST_ERR_INTERNAL, "out of memory");
    json_decref(principals);
    cst_random_id("rv", out->id);
    out->opened_at = now;
    if (e == CST_OK)
        e = cst_copy(out->scope, sizeof(out->scope), scope);
    if (e == CST_OK)
        e = cst_copy(out->opened_by, sizeof(out->opened_by), by);
    if (e == CST_OK)
        e = cst_copy(out->state, sizeof(out->state), "open");
    if (e == CST_OK)
        e = cst_store_review_add(n->store, w, out, text);
    cst_json_free_text(text);
    return e;
}

cst_err cst_review_load(cst_node *n, cst_work *w, const char *scope, const char *id,
                        cst_review_row *out)
{
    ENSURE(cst_id_valid(id, "rv"), CST_ERR_NOT_FOUND, "no such access review");
    cst_err e = cst_store_review_get(n->store, w, id, out, NULL, NULL);
    ENSURE(e != CST_ERR_NOT_FOUND, CST_ERR_NOT_FOUND, "no such access review");
    TRY(e);
    ENSURE(!strcmp(out->scope, scope), CST_ERR_NOT_FOUND, "no such access review");
    return CST_OK;
}

/* The campaign's snapshot (a new array) and, when attestation is not NULL, its signed
 * attestation document (a new object, or NULL before the attestation). */
static cst_err documents(cst_node *n, cst_work *w, const cst_review_row *r, json_t **snapshot,
                         json_t **attestation)
{
    cst_buf snap, att;
    cst_buf_init(&snap, SIZE_MAX);
    cst_buf_init(&att, SIZE_MAX);
    cst_review_row row;
    cst_err e = cst_store_review_get(n->store, w, r->id, &row, &snap, &att);
    *snapshot = e == CST_OK ? json_loadb((const char *)snap.data, snap.len, 0, NULL) : NULL;
    if (e == CST_OK && !json_is_array(*snapshot))
        e = cst_fail(CST_ERR_INTEGRITY, "access review %s: damaged snapshot", r->id);
    if (attestation)
        *attestation =
            e == CST_OK && att.len ? json_loadb((const char *)att.data, att.len, 0, NULL) : NULL;
    cst_buf_free(&snap);
    cst_buf_free(&att);
    if (e != CST_OK) {
        json_decref(*snapshot);
        *snapshot = NULL;
    }
    return e;
}

cst_err cst_review_decide(cst_node *n, cst_work *w, const cst_review_row *r, const json_t *body,
                          const char *by, int64_t now)
{
    ENSURE(cst_review_transition_ok(r->state, "attested"), CST_ERR_CONFLICT,
           "access review %s is %s: its decisions no longer change", r->id, r->state);
    json_t *snapshot = NULL;
    TRY(documents(n, w, r, &snapshot, NULL));
    cst_err e = cst_review_decisions_check(body, snapshot);
    json_decref(snapshot);
    TRY(e);
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(body, "decisions"), i, d)
    {
        cst_review_decision_row row = {.at = now};
        const char *comment = json_string_value(json_object_get(d, "comment"));
        TRY(cst_copy(row.review_id, sizeof(row.review_id), r->id));
        TRY(cst_copy(row.principal, sizeof(row.principal),
                     json_string_value(json_object_get(d, "principal"))));
        TRY(cst_copy(row.decision, sizeof(row.decision),
                     json_string_value(json_object_get(d, "decision"))));
        TRY(cst_copy(row.by, sizeof(row.by), by));
        TRY(cst_copy(row.comment, sizeof(row.comment), comment ? comment : ""));
        TRY(cst_store_review_decide(n->store, w, &row));
    }
    return CST_OK;
}

static json_t *decision_json(const cst_review_decision_row *d)
{
    return json_pack("{s:s,s:s,s:s,s:o,s:s}", "principal", d->principal, "decision", d->decision,
                     "by", d->by, "at", cst_json_time(d->at), "comment", d->comment);
}

static cst_err add_decision(const cst_review_decision_row *d, void *p)
{
    json_object_set_new(p, d->principal, decision_json(d));
    return CST_OK;
}

/* ---- attestation ---- */

/* IAM-8: ends an open operator grant of the tenant: its credential is refused from the next
 * request (the grant's row is a principal: the credential cache lets go of it). A grant that
 * closed meanwhile has nothing left to end. */
static cst_err end_grant(cst_node *n, cst_work *w, const char *scope, const char *grant_id,
                         int64_t now)
{
    cst_access_row a;
    cst_err e = cst_store_access_get(n->store, w, grant_id, &a);
    if (e == CST_ERR_NOT_FOUND || (e == CST_OK && strcmp(a.tenant_id, scope) != 0)) {
        cst_err_clear();
        return CST_OK;
    }
    TRY(e);
    if (!cst_lockbox_open(&a, now))
        return CST_OK;
    TRY(cst_lockbox_revoke(&a, "access_review", now));
    return cst_store_access_put(n->store, w, &a);
}

/* The scope keeps an enabled owner (a tenant) or sys-admin (the operators). */
static cst_err keep_an_admin(cst_node *n, cst_work *w, const cst_user_row *before,
                             const cst_user_row *after)
{
    if (strcmp(before->tenant_id, CST_SYS_TENANT) != 0)
        return cst_account_keep_an_owner(n->store, w, before, after);
    const uint32_t admin = CST_ROLE_BIT(CST_ROLE_SYS_ADMIN);
    if (!(before->roles & admin) || before->disabled)
        return CST_OK;
    int admins = 0;
    TRY(cst_store_user_count(n->store, w, CST_SYS_TENANT, admin, &admins));
    ENSURE(admins > 1, CST_ERR_CONFLICT,
           "the review would disable the node's last sys-admin %s: decide keep for them",
           before->username);
    return CST_OK;
}

/* IAM-6: one revoke: the user disabled (their sessions end with them), the token deleted, the
 * grant ended, each revoked credential remembered by the detection rules. A principal gone since
 * the snapshot is already revoked. */
struct remembered {
    cst_node *n;
    int64_t now;
};

static cst_err remember(const cst_token_row *t, void *p)
{
    struct remembered *r = p;
    if (t->session)
        cst_detect_token_revoked(r->n, t->id, t->hash, t->expires_at, r->now);
    return CST_OK;
}

static cst_err revoke(cst_node *n, cst_work *w, const char *scope, const char *kind, const char *id,
                      int64_t now)
{
    if (!strcmp(kind, "user")) {
        cst_user_row before, u;
        cst_err e = cst_store_user_get(n->store, w, id, &before);
        if (e == CST_ERR_NOT_FOUND || (e == CST_OK && strcmp(before.tenant_id, scope) != 0)) {
            cst_err_clear();
            return CST_OK;
        }
        TRY(e);
        u = before;
        u.disabled = true;
        TRY(keep_an_admin(n, w, &before, &u));
        TRY(cst_store_user_update(n->store, w, &u));
        /* DET-1: a session of theirs presented again is noticed (revoked_credential) */
        struct remembered r = {n, now};
        TRY(cst_store_token_list(n->store, w, scope, u.id, remember, &r));
        return cst_store_sessions_end(n->store, w, u.id, NULL);
    }
    if (!strcmp(kind, "token")) {
        cst_token_row t;
        cst_err e = cst_store_token_get(n->store, w, id, &t);
        if (e == CST_OK)
            e = cst_store_token_delete(n->store, w, scope, NULL, id);
        if (e == CST_ERR_NOT_FOUND) {
            cst_err_clear();
            return CST_OK;
        }
        TRY(e);
        cst_detect_token_revoked(n, t.id, t.hash, t.expires_at, now);
        return CST_OK;
    }
    if (!strcmp(kind, "grant"))
        return end_grant(n, w, scope, id, now);
    return cst_fail(CST_ERR_INTEGRITY, "a review's principal %s of unknown kind %s", id, kind);
}

/* Every principal's final decision, revokes applied; *out the attestation's decisions. */
static cst_err apply(cst_node *n, cst_work *w, const cst_review_row *r, const json_t *snapshot,
                     const json_t *decided, const char *no_response, int64_t now, json_t *out,
                     int *revoked)
{
    size_t i;
    json_t *p;
    json_array_foreach(snapshot, i, p)
    {
        const char *id = json_string_value(json_object_get(p, "id"));
        const char *kind = json_string_value(json_object_get(p, "kind"));
        ENSURE(id && kind, CST_ERR_INTEGRITY, "access review %s: damaged snapshot", r->id);
        json_t *d = json_object_get(decided, id);
        json_t *entry =
            d ? json_deep_copy(d)
              : json_pack("{s:s,s:s,s:n,s:n,s:s}", "principal", id, "decision",
                          cst_review_default_decision(p, no_response), "by", "at", "comment",
                          "no decision: the tenant's review_no_response default");
        ENSURE(entry != NULL, CST_ERR_INTERNAL, "out of memory");
        json_object_set_new(entry, "kind", json_string(kind));
        json_object_set_new(entry, "defaulted", json_boolean(d == NULL));
        json_array_append_new(out, entry);
        if (strcmp(json_string_value(json_object_get(entry, "decision")), "revoke") != 0)
            continue;
        TRY(revoke(n, w, r->scope, kind, id, now));
        (*revoked)++;
    }
    return CST_OK;
}

/* The tenant's review_no_response setting (the operators' review has none). */
static cst_err no_response_of(cst_node *n, cst_work *w, const char *scope, const char **out)
{
    *out = NULL;
    if (!strcmp(scope, CST_SYS_TENANT))
        return CST_OK;
    cst_tenant_row t;
    TRY(cst_store_tenant_get(n->store, w, scope, &t));
    *out = cst_review_no_response(t.settings);
    return CST_OK;
}

static cst_err sign_attestation(cst_node *n, const cst_review_row *r, json_t *decisions,
                                const char *by, int64_t now, char **doc)
{
    json_t *body = json_pack(
        "{s:s,s:s,s:s,s:o,s:s,s:s,s:o,s:s,s:O,s:s}", "format", "custodia-access-review/1",
        "review_id", r->id, "scope", r->scope, "opened_at", cst_json_time(r->opened_at),
        "opened_by", r->opened_by, "snapshot_sha256", r->snapshot_sha256, "attested_at",
        cst_json_time(now), "attested_by", by, "decisions", decisions, "node", n->node_id);
    ENSURE(body != NULL, CST_ERR_INTERNAL, "out of memory");
    cst_err e = cst_node_sign_json(n, "attestation", body, doc);
    json_decref(body);
    return e;
}

/* IAM-6: what is applied and signed is the snapshot frozen at opening: its hash still holds. */
static cst_err snapshot_intact(const cst_review_row *r, const json_t *snapshot)
{
    char hex[65];
    TRY(cst_review_snapshot_hash(snapshot, hex));
    ENSURE(!strcmp(hex, r->snapshot_sha256), CST_ERR_INTEGRITY,
           "access review %s: its snapshot no longer matches the hash taken when it was opened",
           r->id);
    return CST_OK;
}

cst_err cst_review_attest(cst_node *n, cst_work *w, cst_review_row *r, const char *by, int64_t now,
                          int *revoked)
{
    *revoked = 0;
    ENSURE(cst_review_transition_ok(r->state, "attested"), CST_ERR_CONFLICT,
           "access review %s is %s already", r->id, r->state);
    const char *no_response;
    TRY(no_response_of(n, w, r->scope, &no_response));
    json_t *snapshot = NULL, *decided = json_object(), *decisions = json_array();
    char *doc = NULL;
    cst_err e = decided && decisions ? documents(n, w, r, &snapshot, NULL)
                                     : cst_fail(CST_ERR_INTERNAL, "out of memory");
    if (e == CST_OK)
        e = snapshot_intact(r, snapshot);
    if (e == CST_OK)
        e = cst_store_review_decisions(n->store, w, r->id, add_decision, decided);
    if (e == CST_OK)
        e = apply(n, w, r, snapshot, decided, no_response, now, decisions, revoked);
    if (e == CST_OK)
        e = sign_attestation(n, r, decisions, by, now, &doc);
    if (e == CST_OK)
        e = cst_store_review_attest(n->store, w, r->id, now, by, doc);
    if (e == CST_OK) {
        r->attested_at = now;
        e = cst_copy(r->attested_by, sizeof(r->attested_by), by);
    }
    if (e == CST_OK)
        e = cst_copy(r->state, sizeof(r->state), "attested");
    cst_json_free_text(doc);
    json_decref(snapshot);
    json_decref(decided);
    json_decref(decisions);
    return e;
}

static cst_err list_decision(const cst_review_decision_row *d, void *p)
{
    json_array_append_new(p, decision_json(d));
    return CST_OK;
}

cst_err cst_review_json(cst_node *n, cst_work *w, const cst_review_row *r, json_t **out)
{
    *out = NULL;
    json_t *snapshot = NULL, *attestation = NULL, *decisions = json_array();
    cst_err e = decisions ? documents(n, w, r, &snapshot, &attestation)
                          : cst_fail(CST_ERR_INTERNAL, "out of memory");
    /* attested: the decisions as applied (defaults included), signed; open: those so far */
    json_t *signed_body = json_object_get(attestation, "attestation");
    if (e == CST_OK && signed_body)
        json_array_extend(decisions, json_object_get(signed_body, "decisions"));
    else if (e == CST_OK)
        e = cst_store_review_decisions(n->store, w, r->id, list_decision, decisions);
    if (e != CST_OK) {
        json_decref(snapshot);
        json_decref(attestation);
        json_decref(decisions);
        return e;
    }
    json_t *sig = json_object_get(attestation, "signature");
    *out = json_pack("{s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o}", "id", r->id, "state",
                     r->state, "opened_at", cst_json_time(r->opened_at), "opened_by", r->opened_by,
                     "snapshot_sha256", r->snapshot_sha256, "principals", snapshot, "decisions",
                     decisions, "attested_at", cst_json_time(r->attested_at), "attested_by",
                     r->attested_by[0] ? json_string(r->attested_by) : json_null(), "signature",
                     sig ? json_incref(sig) : json_null(), "attestation",
                     attestation ? attestation : json_null());
    ENSURE(*out != NULL, CST_ERR_INTERNAL, "out of memory");
    return CST_OK;
}

/* ---- the schedule's pass ---- */

typedef struct due_pass {
    cst_node *n;
    cst_work *w;
    int64_t now;
    cst_review_due_fn fn;
    void *ctx;
    char last[CST_ID_MAX];
    int seen;
} due_pass;

static cst_err scope_due(due_pass *p, const char *scope, int64_t since)
{
    cst_review_schedule s;
    TRY(schedule(p->n, p->w, scope, since, &s));
    return p->fn(scope, s.due_at, cst_review_remind(s.due_at, p->now),
                 cst_review_overdue(s.due_at, p->now), p->ctx);
}

static cst_err on_tenant(const cst_tenant_row *t, void *ctx)
{
    due_pass *p = ctx;
    memcpy(p->last, t->id, sizeof(p->last));
    p->seen++;
    if (!strcmp(t->state, "erased"))
        return CST_OK;
    return scope_due(p, t->id, t->created_at);
}

cst_err cst_review_each_due(cst_node *n, cst_work *w, int64_t now, cst_review_due_fn fn, void *ctx)
{
    due_pass p = {.n = n, .w = w, .now = now, .fn = fn, .ctx = ctx};
    do {
        p.seen = 0;
        TRY(cst_store_tenant_list(n->store, w, p.last[0] ? p.last : NULL, TENANT_PAGE, on_tenant,
                                  &p));
    } while (p.seen == TENANT_PAGE);
    int64_t since = 0;
    TRY(cst_store_user_list(n->store, w, CST_SYS_TENANT, first_operator, &since));
    return since ? scope_due(&p, CST_SYS_TENANT, since) : CST_OK;
}

cst_err cst_review_remind_scope(cst_node *n, const char *scope, int64_t due_at, int64_t now)
{
    bool claimed = false;
    TRY(cst_store_review_remind(n->store, scope, now, CST_REVIEW_DAY_US, &claimed));
    if (!claimed)
        return CST_OK;
    cst_review_schedule s;
    TRY(cst_review_schedule_of(n, NULL, scope, &s));
    bool operators = !strcmp(scope, CST_SYS_TENANT);
    json_t *data =
        json_pack("{s:s,s:o,s:o,s:o,s:b}", "scope", operators ? "operators" : "tenant", "due_at",
                  cst_json_time(due_at), "last_attested_at", cst_json_time(s.last_attested_at),
                  "open_review", s.open_id[0] ? json_string(s.open_id) : json_null(), "overdue",
                  cst_review_overdue(due_at, now));
    ENSURE(data != NULL, CST_ERR_INTERNAL, "out of memory");
    return cst_webhook_event(n, NULL, operators ? NULL : scope, operators,
                             s.open_id[0] ? s.open_id : scope, "access_review.due", data, now);
}
