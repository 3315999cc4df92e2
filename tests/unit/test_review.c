/* test_review.c: core/review.c without a server (IAM-6): each flag at simulated times (stale
 * from 90 days of disuse, counted from creation when never used), no_mfa, never_used,
 * privileged; the default for a principal without a decision; the campaign's one move;
 * decisions refused when malformed or outside the snapshot; the snapshot's hash stable under
 * member order and changed by any change; the quarterly due date and the 14-day reminder.
 * Negative cases first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/authz.h"
#include "core/review.h"
#include "util/err.h"
#include "util/json.h"
#include "util/util.h"

#define DAY CST_REVIEW_DAY_US
#define T0 (1767225600LL * 1000000) /* 2026-01-01 */

static cst_review_subject token(int64_t created, int64_t used, uint32_t perms)
{
    cst_review_subject s = {.kind = CST_REVIEW_TOKEN,
                            .id = "tk_00000000000000000001",
                            .name = "ci",
                            .user_id = "us_00000000000000000001",
                            .perms = perms,
                            .mfa = -1,
                            .created_at = created,
                            .last_used_at = used};
    return s;
}

static cst_review_subject user(uint32_t roles, int mfa, int64_t created, int64_t used)
{
    cst_review_subject s = {.kind = CST_REVIEW_USER,
                            .id = "us_00000000000000000002",
                            .name = "ann",
                            .roles = roles,
                            .perms = cst_roles_perms(roles),
                            .grants = "[\"*\"]",
                            .mfa = mfa,
                            .created_at = created,
                            .last_used_at = used};
    return s;
}

static void test_iam6_stale_after_90_days_of_disuse(void **state)
{
    cst_review_subject t = token(T0, T0 + DAY, CST_PERM_BIT(CST_PERM_RECORDS_READ));
    /* used a day after creation: not stale at 90 days minus a second after that use */
    assert_false(cst_review_flags(&t, 90, T0 + 91 * DAY - 1000000) & CST_REVIEW_FLAG_STALE);
    assert_true(cst_review_flags(&t, 90, T0 + 91 * DAY) & CST_REVIEW_FLAG_STALE);
    assert_true(cst_review_flags(&t, 90, T0 + 92 * DAY) & CST_REVIEW_FLAG_STALE);
    /* the threshold is the configuration's */
    assert_false(cst_review_flags(&t, 120, T0 + 92 * DAY) & CST_REVIEW_FLAG_STALE);
    /* never used: stale once its creation is 90 days old, never_used all along */
    cst_review_subject n = token(T0, 0, 0);
    unsigned f = cst_review_flags(&n, 90, T0 + DAY);
    assert_true(f & CST_REVIEW_FLAG_NEVER_USED);
    assert_false(f & CST_REVIEW_FLAG_STALE);
    f = cst_review_flags(&n, 90, T0 + 90 * DAY);
    assert_true((f & CST_REVIEW_FLAG_STALE) && (f & CST_REVIEW_FLAG_NEVER_USED));
    assert_false(cst_review_flags(&t, 90, T0 + 2 * DAY) & CST_REVIEW_FLAG_NEVER_USED);
}

static void test_iam6_no_mfa_and_privileged(void **state)
{
    /* a reader without a factor: no_mfa, not privileged; tokens have no factor of their own */
    cst_review_subject r = user(CST_ROLE_BIT(CST_ROLE_READER), 0, T0, T0);
    unsigned f = cst_review_flags(&r, 90, T0);
    assert_true(f & CST_REVIEW_FLAG_NO_MFA);
    assert_false(f & CST_REVIEW_FLAG_PRIVILEGED);
    cst_review_subject t = token(T0, T0, CST_PERM_BIT(CST_PERM_RECORDS_WRITE));
    assert_false(cst_review_flags(&t, 90, T0) &
                 (CST_REVIEW_FLAG_NO_MFA | CST_REVIEW_FLAG_PRIVILEGED));
    /* owners and admins, and tokens holding users.admin, are privileged */
    cst_review_subject o = user(CST_ROLE_BIT(CST_ROLE_OWNER), 1, T0, T0);
    f = cst_review_flags(&o, 90, T0);
    assert_true(f & CST_REVIEW_FLAG_PRIVILEGED);
    assert_false(f & CST_REVIEW_FLAG_NO_MFA);
    cst_review_subject a = user(CST_ROLE_BIT(CST_ROLE_ADMIN), 1, T0, T0);
    assert_true(cst_review_flags(&a, 90, T0) & CST_REVIEW_FLAG_PRIVILEGED);
    cst_review_subject ua = token(T0, T0, CST_PERM_BIT(CST_PERM_USERS_ADMIN));
    assert_true(cst_review_flags(&ua, 90, T0) & CST_REVIEW_FLAG_PRIVILEGED);
    /* the JSON names them (SPEC §11) */
    json_t *j = cst_review_principal_json(&o, cst_review_flags(&o, 90, T0 + 100 * DAY));
    char *text = json_dumps(j, JSON_COMPACT);
    assert_non_null(strstr(text, "\"flags\":[\"stale\",\"privileged\"]"));
    assert_non_null(strstr(text, "\"kind\":\"user\""));
    assert_non_null(strstr(text, "\"mfa\":true"));
    assert_non_null(strstr(text, "\"roles\":[\"owner\"]"));
    cst_json_free_text(text);
    json_decref(j);
    j = cst_review_principal_json(&t, 0);
    assert_true(json_is_null(json_object_get(j, "mfa")));
    assert_string_equal(json_string_value(json_object_get(j, "user_id")), t.user_id);
    json_decref(j);
}

static json_t *snapshot(void)
{
    return json_loads("[{\"id\":\"us_1\",\"kind\":\"user\",\"flags\":[\"privileged\"]},"
                      "{\"id\":\"tk_2\",\"kind\":\"token\",\"flags\":[\"stale\"]}]",
                      0, NULL);
}

static cst_err decisions(const char *text)
{
    json_t *b = json_loads(text, 0, NULL), *s = snapshot();
    assert_non_null(b);
    cst_err e = cst_review_decisions_check(b, s);
    json_decref(b);
    json_decref(s);
    if (e != CST_OK)
        cst_err_clear();
    return e;
}

static void test_iam6_decisions_refused_when_malformed(void **state)
{
    const char *bad[] = {
        "{}",
        "{\"decisions\":[]}",
        "{\"decisions\":{}}",
        "{\"decisions\":[1]}",
        "{\"decisions\":[{\"principal\":\"us_1\"}]}",
        "{\"decisions\":[{\"principal\":\"us_1\",\"decision\":\"maybe\"}]}",
        "{\"decisions\":[{\"principal\":\"us_9\",\"decision\":\"keep\"}]}", /* not in the snapshot
                                                                             */
        "{\"decisions\":[{\"principal\":\"us_1\",\"decision\":\"keep\",\"extra\":1}]}",
        ("{\"decisions\":[{\"principal\":\"us_1\",\"decision\":\"keep\"},"
         "{\"principal\":\"us_1\",\"decision\":\"revoke\"}]}"), /* twice */
        "{\"decisions\":[{\"principal\":1,\"decision\":\"keep\"}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        if (decisions(bad[i]) != CST_ERR_INVALID)
            fail_msg("accepted %s", bad[i]);
    char big[700];
    snprintf(
        big, sizeof(big),
        "{\"decisions\":[{\"principal\":\"us_1\",\"decision\":\"keep\",\"comment\":\"%0600d\"}]}",
        0);
    assert_int_equal(decisions(big), CST_ERR_INVALID);
    assert_int_equal(decisions("{\"decisions\":[{\"principal\":\"us_1\",\"decision\":\"keep\","
                               "\"comment\":\"needed for billing\"},"
                               "{\"principal\":\"tk_2\",\"decision\":\"revoke\"}]}"),
                     CST_OK);
}

static void test_iam6_no_response_defaults(void **state)
{
    json_t *s = snapshot();
    json_t *priv = json_array_get(s, 0), *plain = json_array_get(s, 1);
    /* not set: revoke the privileged, keep the others */
    assert_null(cst_review_no_response(NULL));
    assert_null(cst_review_no_response("{}"));
    assert_null(cst_review_no_response("{\"review_no_response\":null}"));
    assert_null(cst_review_no_response("{\"review_no_response\":\"maybe\"}"));
    assert_string_equal(cst_review_default_decision(priv, NULL), "revoke");
    assert_string_equal(cst_review_default_decision(plain, NULL), "keep");
    /* the tenant's setting applies to every principal */
    const char *keep = cst_review_no_response("{\"review_no_response\":\"keep\"}");
    assert_string_equal(cst_review_default_decision(priv, keep), "keep");
    const char *revoke = cst_review_no_response("{\"review_no_response\":\"revoke\"}");
    assert_string_equal(cst_review_default_decision(plain, revoke), "revoke");
    json_decref(s);
    /* the setting's validation */
    const char *bad[] = {"{\"review_no_response\":\"ask\"}", "{\"review_no_response\":1}",
                         "{\"review_no_response\":true}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        json_t *c = json_loads(bad[i], 0, NULL);
        assert_int_equal(cst_review_settings_check(c), CST_ERR_INVALID);
        cst_err_clear();
        json_decref(c);
    }
    const char *good[] = {"{}", "{\"review_no_response\":\"keep\"}",
                          "{\"review_no_response\":\"revoke\"}", "{\"review_no_response\":null}"};
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        json_t *c = json_loads(good[i], 0, NULL);
        assert_int_equal(cst_review_settings_check(c), CST_OK);
        json_decref(c);
    }
}

static void test_iam6_campaign_moves_once(void **state)
{
    assert_true(cst_review_transition_ok("open", "attested"));
    assert_false(cst_review_transition_ok("attested", "attested"));
    assert_false(cst_review_transition_ok("attested", "open"));
    assert_false(cst_review_transition_ok("open", "open"));
}

static void test_iam6_snapshot_hash_stable(void **state)
{
    json_t *a = json_loads("[{\"id\":\"us_1\",\"kind\":\"user\",\"flags\":[]}]", 0, NULL);
    json_t *b = json_loads("[{\"flags\":[],\"kind\":\"user\",\"id\":\"us_1\"}]", 0, NULL);
    json_t *c = json_loads("[{\"id\":\"us_1\",\"kind\":\"user\",\"flags\":[\"stale\"]}]", 0, NULL);
    char ha[65], hb[65], hc[65], again[65];
    assert_int_equal(cst_review_snapshot_hash(a, ha), CST_OK);
    assert_int_equal(cst_review_snapshot_hash(a, again), CST_OK);
    assert_int_equal(cst_review_snapshot_hash(b, hb), CST_OK);
    assert_int_equal(cst_review_snapshot_hash(c, hc), CST_OK);
    assert_int_equal(strlen(ha), 64);
    assert_string_equal(ha, again);
    assert_string_equal(ha, hb); /* member order does not matter: canonical JSON */
    assert_string_not_equal(ha, hc);
    /* the known answer: SHA-256 of the canonical text */
    char *text = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "[{\"flags\":[],\"id\":\"us_1\",\"kind\":\"user\"}]");
    uint8_t h[CST_HASH_LEN];
    char hex[65];
    cst_sha256(text, strlen(text), h);
    cst_hex(h, sizeof(h), hex);
    assert_string_equal(ha, hex);
    cst_json_free_text(text);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void test_iam6_due_every_quarter_reminded_14_days_before(void **state)
{
    /* never attested: a quarter after the tenant's creation; then after the last attestation */
    assert_int_equal(cst_review_due_at(0, T0, 91), T0 + 91 * DAY);
    assert_int_equal(cst_review_due_at(T0 + 50 * DAY, T0, 91), T0 + 141 * DAY);
    int64_t due = T0 + 91 * DAY;
    assert_false(cst_review_remind(due, due - 14 * DAY - 1));
    assert_true(cst_review_remind(due, due - 14 * DAY));
    assert_false(cst_review_overdue(due, due));
    assert_true(cst_review_overdue(due, due + 1));
}

int main(void)
{
    if (cst_crypto_init() != CST_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iam6_decisions_refused_when_malformed),
        cmocka_unit_test(test_iam6_stale_after_90_days_of_disuse),
        cmocka_unit_test(test_iam6_no_mfa_and_privileged),
        cmocka_unit_test(test_iam6_no_response_defaults),
        cmocka_unit_test(test_iam6_campaign_moves_once),
        cmocka_unit_test(test_iam6_snapshot_hash_stable),
        cmocka_unit_test(test_iam6_due_every_quarter_reminded_14_days_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
