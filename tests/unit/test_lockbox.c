/* test_lockbox.c: IAM-8's rules with a simulated clock: the transition table, scopes, durations
 * (pending 12 h, grant at most 8 h, break-glass at most 1 h), approvals (never the requester,
 * two distinct people, shortening only), the same-person rule and the break-glass review. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/authn.h"
#include "core/lockbox.h"
#include "util/util.h"

#define S_US 1000000LL
static const int64_t T0 = 1800000000LL * S_US;

static void new_request(const char *scope_perms, int64_t duration, cst_access_row *a)
{
    char text[512];
    snprintf(text, sizeof(text),
             "{\"tenant\":\"t\",\"reason\":\"customer_support\",\"justification\":\"case 1\","
             "\"scope\":{\"permissions\":%s,\"buckets\":[\"b\"]},\"duration_seconds\":%lld}",
             scope_perms, (long long)duration);
    json_t *body = json_loads(text, 0, NULL);
    assert_int_equal(cst_lockbox_request_new(body, "tn_1", "us_op", "alice", T0, a), CST_OK);
    json_decref(body);
}

static void test_iam8_transition_table(void **state)
{
    (void)state;
    assert_int_equal(cst_lockbox_next(CST_LOCKBOX_PENDING, CST_LOCKBOX_EV_APPROVE),
                     CST_LOCKBOX_APPROVED);
    assert_int_equal(cst_lockbox_next(CST_LOCKBOX_PENDING, CST_LOCKBOX_EV_DENY),
                     CST_LOCKBOX_DENIED);
    assert_int_equal(cst_lockbox_next(CST_LOCKBOX_PENDING, CST_LOCKBOX_EV_REVOKE),
                     CST_LOCKBOX__STATES);
    assert_int_equal(cst_lockbox_next(CST_LOCKBOX_APPROVED, CST_LOCKBOX_EV_REVOKE),
                     CST_LOCKBOX_REVOKED);
    assert_int_equal(cst_lockbox_next(CST_LOCKBOX_APPROVED, CST_LOCKBOX_EV_DENY),
                     CST_LOCKBOX__STATES);
    assert_int_equal(cst_lockbox_next(CST_LOCKBOX_APPROVED, CST_LOCKBOX_EV_USED_UP),
                     CST_LOCKBOX_USED_UP);
    /* the final states accept nothing */
    cst_lockbox_state finals[] = {CST_LOCKBOX_DENIED, CST_LOCKBOX_EXPIRED, CST_LOCKBOX_REVOKED,
                                  CST_LOCKBOX_USED_UP};
    for (size_t i = 0; i < 4; i++)
        for (int ev = 0; ev < CST_LOCKBOX__EVENTS; ev++)
            assert_int_equal(cst_lockbox_next(finals[i], (cst_lockbox_event)ev),
                             CST_LOCKBOX__STATES);
    for (int s = 0; s < CST_LOCKBOX__STATES; s++)
        assert_int_equal(cst_lockbox_state_parse(cst_lockbox_state_name((cst_lockbox_state)s)), s);
    assert_int_equal(cst_lockbox_state_parse("open"), CST_LOCKBOX__STATES);
}

static void test_iam8_scope_never_admin_rights(void **state)
{
    (void)state;
    const char *bad[] = {"[\"users.admin\"]",
                         "[\"tenant.admin\"]",
                         "[\"sys.tenants\"]",
                         "[\"records.read\",\"sys.lockbox\"]",
                         "[]",
                         "[\"nope\"]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "{\"permissions\":%s,\"buckets\":\"*\"}", bad[i]);
        json_t *scope = json_loads(text, 0, NULL);
        cst_access_row a = {0};
        assert_int_equal(cst_lockbox_scope_parse(scope, &a), CST_ERR_INVALID);
        json_decref(scope);
    }
    json_t *scope = json_loads("{\"permissions\":[\"records.read\"],\"buckets\":\"*\"}", 0, NULL);
    cst_access_row a = {0};
    assert_int_equal(cst_lockbox_scope_parse(scope, &a), CST_OK);
    assert_string_equal(a.buckets, "[\"*\"]"); /* authz reads it as a user's bucket grants */
    json_decref(scope);
    scope = json_loads("{\"permissions\":[\"records.read\"],\"buckets\":[]}", 0, NULL);
    assert_int_equal(cst_lockbox_scope_parse(scope, &a), CST_ERR_INVALID);
    json_decref(scope);
}

/* Attack (IAM-8): a scope or request out of bounds: more than 64 buckets, a bucket name that
 * is not one, buckets as another string than "*", permissions as a string, a justification
 * beyond its 1023 bytes, a duration beyond 8 h: each refused (400), nothing half-parsed. */
static void test_iam8_attack_scope_and_size_bounds(void **state)
{
    (void)state;
    char many[1024] = "[";
    for (int i = 0; i < 65; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s\"b%d\"", i ? "," : "", i);
    strcat(many, "]");
    const char *buckets[] = {many, "[\"../x\"]", "\"all\"", "[\"*\",7]"};
    for (size_t i = 0; i < sizeof(buckets) / sizeof(buckets[0]); i++) {
        char text[1200];
        snprintf(text, sizeof(text), "{\"permissions\":[\"records.read\"],\"buckets\":%s}",
                 buckets[i]);
        json_t *scope = json_loads(text, 0, NULL);
        assert_non_null(scope);
        cst_access_row a = {0};
        assert_int_equal(cst_lockbox_scope_parse(scope, &a), CST_ERR_INVALID);
        assert_int_equal(a.perms, 0);
        json_decref(scope);
    }
    json_t *scope = json_loads("{\"permissions\":\"records.read\",\"buckets\":\"*\"}", 0, NULL);
    cst_access_row a = {0};
    assert_int_equal(cst_lockbox_scope_parse(scope, &a), CST_ERR_INVALID);
    json_decref(scope);
    char big[CST_ACCESS_TEXT + 1];
    memset(big, 'j', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_t *body =
        json_pack("{s:s,s:s,s:s,s:{s:[s],s:s}}", "tenant", "t", "reason", "customer_support",
                  "justification", big, "scope", "permissions", "records.read", "buckets", "*");
    assert_int_equal(cst_lockbox_request_new(body, "tn_1", "us_op", "alice", T0, &a),
                     CST_ERR_INVALID);
    json_object_set_new(body, "justification", json_string("ok"));
    json_object_set_new(body, "duration_seconds", json_integer(CST_LOCKBOX_GRANT_MAX_S + 1));
    assert_int_equal(cst_lockbox_request_new(body, "tn_1", "us_op", "alice", T0, &a),
                     CST_ERR_INVALID);
    json_decref(body);
}

static void test_iam8_durations_and_clock(void **state)
{
    (void)state;
    cst_access_row a;
    json_t *body = json_loads("{\"tenant\":\"t\",\"reason\":\"customer_support\","
                              "\"justification\":\"x\",\"scope\":{\"permissions\":"
                              "[\"records.read\"],\"buckets\":\"*\"},\"duration_seconds\":28801}",
                              0, NULL);
    assert_int_equal(cst_lockbox_request_new(body, "tn_1", "us_op", "alice", T0, &a),
                     CST_ERR_INVALID); /* at most 8 h */
    json_object_del(body, "duration_seconds");
    assert_int_equal(cst_lockbox_request_new(body, "tn_1", "us_op", "alice", T0, &a), CST_OK);
    assert_int_equal(a.duration_seconds, 3600); /* default 1 h */
    json_object_set_new(body, "reason", json_string("curiosity"));
    assert_int_equal(cst_lockbox_request_new(body, "tn_1", "us_op", "alice", T0, &a),
                     CST_ERR_INVALID);
    json_decref(body);
    /* pending expires after 12 h */
    new_request("[\"records.read\"]", 3600, &a);
    cst_access_row b = a;
    assert_false(cst_lockbox_tick(&b, T0 + 12 * 3600 * S_US - 1));
    assert_true(cst_lockbox_tick(&b, T0 + 12 * 3600 * S_US));
    assert_string_equal(b.state, "expired");
    cst_lockbox_approver owner = {"us_own", "owner", "ok", 0};
    assert_int_equal(cst_lockbox_approve(&b, &owner, 1, T0 + 13 * 3600 * S_US), CST_ERR_CONFLICT);
    /* an approved window: open inside, closed at its end (expired unused, used_up once issued) */
    assert_int_equal(cst_lockbox_approve(&a, &owner, 1, T0 + 60 * S_US), CST_OK);
    assert_true(cst_lockbox_open(&a, T0 + 60 * S_US));
    assert_true(cst_lockbox_open(&a, T0 + 3659 * S_US));
    assert_false(cst_lockbox_open(&a, T0 + 3660 * S_US));
    b = a;
    assert_true(cst_lockbox_tick(&b, T0 + 3660 * S_US));
    assert_string_equal(b.state, "expired");
    b = a;
    strcpy(b.token_id, "tk_1");
    assert_true(cst_lockbox_tick(&b, T0 + 3660 * S_US));
    assert_string_equal(b.state, "used_up");
    assert_int_equal(cst_lockbox_token_check(&b, T0 + 3660 * S_US), CST_ERR_CONFLICT);
    assert_int_equal(cst_lockbox_token_check(&a, T0 + 61 * S_US), CST_OK);
    /* revoked: closed at once */
    assert_int_equal(cst_lockbox_revoke(&a, "us_own", T0 + 120 * S_US), CST_OK);
    assert_false(cst_lockbox_open(&a, T0 + 120 * S_US));
    assert_int_equal(cst_lockbox_revoke(&a, "us_own", T0 + 121 * S_US), CST_ERR_CONFLICT);
}

static void test_iam8_approvals(void **state)
{
    (void)state;
    cst_access_row a;
    new_request("[\"records.read\"]", 3600, &a);
    /* the requester never approves: same id, same username in any case, an email's +tag */
    cst_lockbox_approver self_id = {"us_op", "someone", "x", 0};
    cst_lockbox_approver self_name = {"us_other", " ALICE ", "x", 0};
    assert_int_equal(cst_lockbox_approve(&a, &self_id, 1, T0), CST_ERR_FORBIDDEN);
    assert_int_equal(cst_lockbox_approve(&a, &self_name, 1, T0), CST_ERR_FORBIDDEN);
    assert_true(cst_lockbox_same_person("us_a", "Bob+ops@example.com", "us_b", "bob@Example.com"));
    assert_false(cst_lockbox_same_person("us_a", "bob", "us_b", "bobby"));
    assert_false(cst_lockbox_same_person("us_a", "", "us_b", ""));
    /* shortens, never lengthens */
    cst_lockbox_approver longer = {"us_own", "owner", "x", 7200};
    assert_int_equal(cst_lockbox_approve(&a, &longer, 1, T0), CST_ERR_INVALID);
    /* two distinct approvers */
    cst_lockbox_approver first = {"us_own", "owner", "first", 1800};
    cst_lockbox_approver again = {"us_own2", "OWNER", "again", 0};
    cst_lockbox_approver second = {"us_adm", "admin", "second", 0};
    assert_int_equal(cst_lockbox_approve(&a, &first, 2, T0), CST_OK);
    assert_string_equal(a.state, "pending");
    assert_int_equal(cst_lockbox_approve(&a, &first, 2, T0), CST_ERR_CONFLICT);
    assert_int_equal(cst_lockbox_approve(&a, &again, 2, T0), CST_ERR_CONFLICT);
    assert_int_equal(cst_lockbox_approve(&a, &second, 2, T0 + S_US), CST_OK);
    assert_string_equal(a.state, "approved");
    assert_int_equal(a.duration_seconds, 1800);
    assert_int_equal(a.window_until - a.window_from, 1800 * S_US);
    assert_int_equal(cst_lockbox_deny(&a, "us_adm", "late", T0 + 2 * S_US), CST_ERR_CONFLICT);
    /* settings */
    assert_int_equal(cst_lockbox_approvals_required(NULL), 1);
    assert_int_equal(cst_lockbox_approvals_required("{\"lockbox_approvals\":2}"), 2);
    json_t *c = json_loads("{\"lockbox_approvals\":0}", 0, NULL);
    assert_int_equal(cst_lockbox_settings_check(c), CST_ERR_INVALID);
    json_decref(c);
}

static void test_iam8_break_glass_rules(void **state)
{
    (void)state;
    json_t *body = json_loads("{\"tenant\":\"t\",\"justification\":\"outage\",\"scope\":"
                              "{\"permissions\":[\"records.read\"],\"buckets\":\"*\"},"
                              "\"duration_seconds\":3601}",
                              0, NULL);
    cst_access_row a;
    assert_int_equal(cst_lockbox_break_glass_new(body, "tn_1", "us_op", "alice", T0, &a),
                     CST_ERR_INVALID); /* at most 1 h */
    json_object_del(body, "duration_seconds");
    assert_int_equal(cst_lockbox_break_glass_new(body, "tn_1", "us_op", "alice", T0, &a), CST_OK);
    json_decref(body);
    assert_true(a.break_glass);
    assert_true(cst_lockbox_open(&a, T0));
    assert_false(cst_lockbox_open(&a, T0 + 3600 * S_US));
    assert_string_equal(a.review_state, "review_pending");
    assert_int_equal(cst_lockbox_review(&a, "us_op", "op", "mine", T0), CST_ERR_FORBIDDEN);
    /* a second account of the same person (alice's name, cased) */
    assert_int_equal(cst_lockbox_review(&a, "us_twin", " ALICE", "mine too", T0),
                     CST_ERR_FORBIDDEN);
    assert_int_equal(cst_lockbox_review(&a, "us_sec", "sec", "", T0), CST_ERR_INVALID);
    assert_int_equal(cst_lockbox_review(&a, "us_sec", "sec", "justified", T0), CST_OK);
    assert_string_equal(a.review_state, "reviewed");
    assert_int_equal(cst_lockbox_review(&a, "us_sec2", "sec2", "again", T0), CST_ERR_CONFLICT);
    cst_access_row r;
    new_request("[\"records.read\"]", 3600, &r);
    assert_int_equal(cst_lockbox_review(&r, "us_sec", "sec", "not glass", T0), CST_ERR_CONFLICT);
}

/* IAM-8: a grant's principal holds its scope and nothing else: no self-service route (tokens,
 * sessions, two-factor), no permission the scope lacks, no bucket outside it, no operator route. */
static void test_iam8_grant_principal_is_its_scope(void **state)
{
    (void)state;
    static cst_principal who; /* large: not on the stack */
    memset(&who, 0, sizeof(who));
    who.authenticated = true;
    strcpy(who.grant.id, "ar_1");
    strcpy(who.tenant.id, "tn_1");
    who.perms = CST_PERM_BIT(CST_PERM_RECORDS_READ);
    strcpy(who.user.grants, "[\"b\"]");
    cst_authz_ask read_b = {.perm = CST_PERM_RECORDS_READ, .bucket = "b"};
    cst_authz_ask read_c = {.perm = CST_PERM_RECORDS_READ, .bucket = "c"};
    cst_authz_ask write_b = {.perm = CST_PERM_RECORDS_WRITE, .bucket = "b"};
    cst_authz_ask self = {.perm = CST_PERM_SELF};
    cst_authz_ask sys = {.perm = CST_PERM_SYS_LOCKBOX};
    assert_int_equal(cst_authz_check(&who, &read_b), CST_OK);
    assert_int_equal(cst_authz_check(&who, &read_c), CST_ERR_FORBIDDEN);
    assert_int_equal(cst_authz_check(&who, &write_b), CST_ERR_FORBIDDEN);
    assert_int_equal(cst_authz_check(&who, &self), CST_ERR_FORBIDDEN);
    assert_int_equal(cst_authz_check(&who, &sys), CST_ERR_FORBIDDEN);
    cst_err_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam8_transition_table),
        cmocka_unit_test(test_iam8_scope_never_admin_rights),
        cmocka_unit_test(test_iam8_attack_scope_and_size_bounds),
        cmocka_unit_test(test_iam8_durations_and_clock),
        cmocka_unit_test(test_iam8_approvals),
        cmocka_unit_test(test_iam8_break_glass_rules),
        cmocka_unit_test(test_iam8_grant_principal_is_its_scope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
