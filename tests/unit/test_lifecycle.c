/* test_lifecycle.c: the tenant state machine (RET-2, RET-3) driven with a simulated clock:
 * every operator event in every state, plan and standing against an explicit list of the
 * allowed transitions, the dated steps each state schedules, and what each state permits
 * (deny by default). The expectations are written out here, apart from lifecycle.c's tables,
 * so a wrong table entry fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lifecycle/lifecycle.h"

#define T0 (1767225600LL * 1000000LL) /* 2026-01-01, a simulated now */

static const char *const states[] = {"active",        "suspended", "closed", "terminated",
                                     "pending_erase", "erased",    "bogus"};
static const char *const plans[] = {"trial", "free", "paid"};
static const char *const events[] = {"trial_ended", "cancelled", "payment_failed",
                                     "payment_recovered", "terminated"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The defaults with every period distinct (payment_close_days 91, terminated_access_days 16),
 * so a step counted with the wrong one fails; set by main. */
static cst_lifecycle_policy policy;

static int64_t day(int n)
{
    return (int64_t)n * CST_DAY_US;
}

static cst_tenant_row tenant(const char *state, const char *plan, const char *event,
                             int64_t event_at)
{
    cst_tenant_row t;
    memset(&t, 0, sizeof(t));
    (void)snprintf(t.id, sizeof(t.id), "tn_test");
    (void)snprintf(t.state, sizeof(t.state), "%s", state);
    (void)snprintf(t.plan, sizeof(t.plan), "%s", plan);
    (void)snprintf(t.event, sizeof(t.event), "%s", event);
    t.event_at = event_at;
    t.created_at = T0 - day(400);
    t.state_since = T0 - day(300);
    t.last_active_at = T0 - day(1);
    return t;
}

/* ---- names ---- */

static void test_names_round_trip_and_unknown_names_parse_to_count(void **state)
{
    for (int s = 0; s < CST_STATE__COUNT; s++)
        assert_int_equal(cst_tenant_state_parse(cst_tenant_state_name(s)), s);
    for (int e = 0; e < CST_EVENT__COUNT; e++)
        assert_int_equal(cst_tenant_event_parse(cst_tenant_event_name(e)), e);
    for (int p = 0; p < CST_PLAN__COUNT; p++)
        assert_int_equal(cst_tenant_plan_parse(cst_tenant_plan_name(p)), p);
    assert_string_equal(cst_tenant_state_name(CST_STATE_PENDING_ERASE), "pending_erase");
    assert_string_equal(cst_tenant_event_name(CST_EVENT_NONE), "");
    assert_string_equal(cst_tenant_event_name(CST_EVENT_PAYMENT_RECOVERED), "payment_recovered");
    assert_string_equal(cst_tenant_plan_name(CST_PLAN_PAID), "paid");
    assert_int_equal(cst_tenant_state_parse("Active"), CST_STATE__COUNT);
    assert_int_equal(cst_tenant_state_parse(""), CST_STATE__COUNT);
    assert_int_equal(cst_tenant_state_parse(NULL), CST_STATE__COUNT);
    assert_int_equal(cst_tenant_event_parse("payment"), CST_EVENT__COUNT);
    assert_int_equal(cst_tenant_plan_parse("enterprise"), CST_PLAN__COUNT);
    assert_string_equal(cst_tenant_state_name(CST_STATE__COUNT), "unknown");
}

/* ---- operator events ---- */

/* The allowed transitions: event, the states and plans it applies in (space-separated), the
 * payment standing it needs ('*' any, 'g' good, 'f' failed) and the state it leads to. */
static const struct allowed {
    const char *event, *from, *plans;
    char standing;
    const char *to;
} allowed[] = {
    {"trial_ended", "active", "trial", '*', "closed"},
    {"cancelled", "active suspended", "free paid", '*', "closed"},
    {"payment_failed", "active", "paid", 'g', "active"},
    {"payment_recovered", "active suspended", "trial free paid", 'f', "active"},
    {"terminated", "active suspended closed", "trial free paid", '*', "terminated"},
};

static bool word_in(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; (p = strstr(p, w)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

static const char *expected_to(const char *event, const char *from, const char *plan, bool failed)
{
    for (size_t i = 0; i < COUNT(allowed); i++) {
        const struct allowed *a = &allowed[i];
        if (strcmp(a->event, event) == 0 && word_in(a->from, from) && word_in(a->plans, plan) &&
            (a->standing == '*' || (a->standing == 'f') == failed))
            return a->to;
    }
    return NULL;
}

static void test_ret2_ret3_every_event_in_every_state_plan_and_standing(void **state)
{
    int ok = 0, refused = 0;
    for (size_t s = 0; s < COUNT(states); s++)
        for (size_t p = 0; p < COUNT(plans); p++)
            for (int failed = 0; failed <= 1; failed++)
                for (size_t e = 0; e < COUNT(events); e++) {
                    cst_tenant_row t =
                        tenant(states[s], plans[p], failed ? "payment_failed" : "", T0 - day(3));
                    cst_tenant_row before = t;
                    int64_t now = T0 + day(1);
                    const char *to = expected_to(events[e], states[s], plans[p], failed);
                    cst_err got = cst_lifecycle_apply(&t, events[e], NULL, now);
                    if ((got == CST_OK) != (to != NULL))
                        fprintf(stderr, "%s in %s/%s%s: %s, expected %s\n", events[e], states[s],
                                plans[p], failed ? "/failed" : "", cst_err_code(got),
                                to ? to : "refused");
                    if (!to) {
                        assert_int_equal(got, CST_ERR_CONFLICT);
                        assert_memory_equal(&t, &before, sizeof(t)); /* refused: untouched */
                        refused++;
                        continue;
                    }
                    assert_int_equal(got, CST_OK);
                    assert_string_equal(t.state, to);
                    assert_string_equal(t.event, events[e]);
                    assert_string_equal(t.plan, plans[p]);
                    assert_int_equal(t.event_at, now);
                    /* state_since moves only with the state */
                    assert_int_equal(t.state_since,
                                     strcmp(to, states[s]) ? now : before.state_since);
                    ok++;
                }
    assert_int_equal(ok, 2 + 8 + 1 + 6 + 18);
    assert_int_equal(refused, 7 * 3 * 2 * 5 - ok);
}

#define INVALID_EVENT                                                                              \
    "event must be trial_ended, cancelled, payment_failed, payment_recovered or terminated"

/* Refusals and what they say: state, plan, prior event, event, error, message. */
static const struct refusal {
    const char *state, *plan, *prior, *event;
    cst_err code;
    const char *msg;
} refusals[] = {
    {"active", "paid", "", "trial_ended", CST_ERR_CONFLICT,
     "trial_ended applies to a trial; this tenant's plan is paid"},
    {"suspended", "trial", "", "trial_ended", CST_ERR_CONFLICT,
     "the tenant is suspended, not active"},
    {"active", "trial", "", "cancelled", CST_ERR_CONFLICT,
     "a trial ends with trial_ended, not cancelled"},
    {"terminated", "paid", "", "cancelled", CST_ERR_CONFLICT,
     "the tenant is terminated: only an active or suspended account can be cancelled"},
    {"active", "free", "", "payment_failed", CST_ERR_CONFLICT,
     "payment_failed applies to a paid plan; this tenant's plan is free"},
    {"active", "paid", "payment_failed", "payment_failed", CST_ERR_CONFLICT,
     "payment_failed applies to an active tenant in good standing (it is active, payment "
     "already failed)"},
    {"closed", "paid", "", "payment_failed", CST_ERR_CONFLICT,
     "payment_failed applies to an active tenant in good standing (it is closed)"},
    {"active", "paid", "", "payment_recovered", CST_ERR_CONFLICT,
     "payment_recovered applies after payment_failed, before the account closes"},
    {"terminated", "paid", "", "terminated", CST_ERR_CONFLICT,
     "the tenant is terminated and cannot be terminated"},
    {"pending_erase", "paid", "", "terminated", CST_ERR_CONFLICT,
     "the tenant is pending_erase: its lifecycle has ended"},
    {"erased", "paid", "", "cancelled", CST_ERR_CONFLICT,
     "the tenant is erased: its lifecycle has ended"},
    {"active", "paid", "", "", CST_ERR_INVALID, INVALID_EVENT},
    {"active", "paid", "", "deleted", CST_ERR_INVALID, INVALID_EVENT},
};

static void test_ret2_refusals_say_why(void **state)
{
    for (size_t i = 0; i < COUNT(refusals); i++) {
        const struct refusal *r = &refusals[i];
        cst_tenant_row t = tenant(r->state, r->plan, r->prior, T0);
        cst_err_clear();
        assert_int_equal(cst_lifecycle_apply(&t, r->event, NULL, T0 + day(1)), r->code);
        assert_string_equal(cst_err_message(r->code), r->msg);
    }
}

static void test_ret2_plan_changes(void **state)
{
    /* only an active tenant changes plan; to free restarts the inactivity clock */
    for (size_t s = 0; s < COUNT(states); s++) {
        cst_tenant_row t = tenant(states[s], "paid", "", 0);
        cst_err e = cst_lifecycle_apply(&t, NULL, "free", T0);
        bool ended = !strcmp(states[s], "pending_erase") || !strcmp(states[s], "erased");
        assert_int_equal(e, strcmp(states[s], "active") == 0 ? CST_OK : CST_ERR_CONFLICT);
        if (e == CST_OK) {
            assert_string_equal(t.plan, "free");
            assert_int_equal(t.last_active_at, T0);
            assert_string_equal(t.state, "active");
            assert_int_equal(t.event_at, 0);
        } else if (!ended) {
            char msg[64];
            (void)snprintf(msg, sizeof(msg), "the plan of a %s tenant cannot change", states[s]);
            assert_string_equal(cst_err_message(e), msg);
        }
    }
}

static void test_ret2_plan_change_rules(void **state)
{
    cst_tenant_row t = tenant("active", "free", "", 0);
    assert_int_equal(cst_lifecycle_apply(&t, NULL, "gold", T0), CST_ERR_INVALID);
    assert_string_equal(cst_err_message(CST_ERR_INVALID), "plan must be trial, free or paid");
    /* free to free keeps the clock */
    assert_int_equal(cst_lifecycle_apply(&t, NULL, "free", T0), CST_OK);
    assert_int_equal(t.last_active_at, T0 - day(1));
    assert_int_equal(cst_lifecycle_apply(&t, NULL, "trial", T0), CST_OK);
    assert_string_equal(t.plan, "trial");
    /* after a failed payment only paid (and payment_recovered) */
    t = tenant("active", "paid", "payment_failed", T0);
    assert_int_equal(cst_lifecycle_apply(&t, NULL, "free", T0), CST_ERR_CONFLICT);
    assert_string_equal(cst_err_message(CST_ERR_CONFLICT),
                        "a payment has failed: send payment_recovered first");
    assert_int_equal(cst_lifecycle_apply(&t, NULL, "paid", T0), CST_OK);
    /* plan and event together: the plan first */
    t = tenant("active", "paid", "", 0);
    assert_int_equal(cst_lifecycle_apply(&t, "trial_ended", "trial", T0), CST_OK);
    assert_string_equal(t.state, "closed");
    assert_string_equal(t.plan, "trial");
    t = tenant("suspended", "paid", "", 0);
    assert_int_equal(cst_lifecycle_apply(&t, NULL, "paid", T0), CST_ERR_CONFLICT);
    assert_string_equal(cst_err_message(CST_ERR_CONFLICT),
                        "the plan of a suspended tenant cannot change");
}

/* ---- the schedule ---- */

static void assert_next(const cst_tenant_row *t, cst_tenant_state to, int64_t at,
                        const char *reason)
{
    cst_lifecycle_step st;
    cst_lifecycle_next(t, &policy, &st);
    if (st.at != at || (at && st.state != to))
        fprintf(stderr, "%s/%s/%s: next %s at %lld, expected %s at %lld\n", t->state, t->plan,
                t->event, cst_tenant_state_name(st.state), (long long)st.at,
                cst_tenant_state_name(to), (long long)at);
    assert_int_equal(st.at, at);
    if (!at)
        return;
    assert_int_equal(st.state, to);
    assert_string_equal(st.reason, reason);
}

static void test_ret2_ret3_scheduled_steps(void **state)
{
    /* nothing scheduled */
    cst_tenant_row t = tenant("active", "paid", "", 0);
    assert_next(&t, CST_STATE__COUNT, 0, NULL);
    t = tenant("active", "trial", "", 0);
    assert_next(&t, CST_STATE__COUNT, 0, NULL);
    t = tenant("active", "paid", "payment_recovered", T0);
    assert_next(&t, CST_STATE__COUNT, 0, NULL);
    t = tenant("erased", "paid", "terminated", T0);
    assert_next(&t, CST_STATE__COUNT, 0, NULL);
    t = tenant("bogus", "free", "cancelled", T0);
    assert_next(&t, CST_STATE__COUNT, 0, NULL);
    /* a closed account whose event set no erase date (and not free) waits */
    t = tenant("closed", "paid", "", T0);
    assert_next(&t, CST_STATE__COUNT, 0, NULL);

    t = tenant("active", "paid", "payment_failed", T0);
    assert_next(&t, CST_STATE_SUSPENDED, T0 + day(15),
                "payment failed + lifecycle.payment_suspend_days");
    t = tenant("suspended", "paid", "payment_failed", T0);
    assert_next(&t, CST_STATE_CLOSED, T0 + day(91),
                "payment failed + lifecycle.payment_close_days");
    t = tenant("closed", "paid", "payment_failed", T0);
    assert_next(&t, CST_STATE_ERASED, T0 + day(91) + day(7),
                "payment failed + lifecycle.payment_close_days + lifecycle.closed_erase_days");
    t = tenant("closed", "trial", "trial_ended", T0);
    assert_next(&t, CST_STATE_ERASED, T0 + day(12), "trial ended + lifecycle.trial_erase_days");
    t = tenant("closed", "paid", "cancelled", T0);
    assert_next(&t, CST_STATE_ERASED, T0 + day(90), "cancelled + lifecycle.cancelled_erase_days");
    t = tenant("terminated", "paid", "terminated", T0);
    assert_next(&t, CST_STATE_PENDING_ERASE, T0 + day(16),
                "terminated + lifecycle.terminated_access_days");
    t = tenant("pending_erase", "paid", "terminated", T0);
    assert_next(&t, CST_STATE_ERASED, T0 + day(30), "terminated + lifecycle.terminated_erase_days");
    /* an erase that was begun (no event sets its date): due since it began */
    t = tenant("pending_erase", "paid", "", 0);
    assert_next(&t, CST_STATE_ERASED, t.state_since, "erase requested");
    /* free plan: inactivity from the last use, creation or event, whichever is latest */
    t = tenant("active", "free", "", 0);
    assert_next(&t, CST_STATE_ERASED, T0 - day(1) + day(60),
                "free plan unused for lifecycle.free_inactive_days");
    t.last_active_at = 0;
    assert_next(&t, CST_STATE_ERASED, t.created_at + day(60),
                "free plan unused for lifecycle.free_inactive_days");
    t = tenant("active", "free", "payment_recovered", T0 + day(5));
    assert_next(&t, CST_STATE_ERASED, T0 + day(5) + day(60),
                "free plan unused for lifecycle.free_inactive_days");
    t = tenant("closed", "free", "", 0);
    assert_next(&t, CST_STATE_ERASED, T0 - day(1) + day(60),
                "free plan unused for lifecycle.free_inactive_days");
}

/* What the sweep does when a step is due: the state and when it began. */
static void advance(cst_tenant_row *t, int64_t now)
{
    cst_lifecycle_step st;
    cst_lifecycle_next(t, &policy, &st);
    assert_true(st.at != 0 && st.at <= now);
    (void)snprintf(t->state, sizeof(t->state), "%s", cst_tenant_state_name(st.state));
    t->state_since = st.at;
}

static bool due(const cst_tenant_row *t, int64_t now)
{
    cst_lifecycle_step st;
    cst_lifecycle_next(t, &policy, &st);
    return st.at != 0 && st.at <= now;
}

static void test_ret2_failed_payment_runs_its_course_on_a_simulated_clock(void **state)
{
    cst_tenant_row t = tenant("active", "paid", "", 0);
    int64_t now = T0;
    assert_int_equal(cst_lifecycle_apply(&t, "payment_failed", NULL, now), CST_OK);
    assert_false(due(&t, now + day(15) - 1));
    now += day(15);
    assert_true(due(&t, now));
    advance(&t, now);
    assert_string_equal(t.state, "suspended");
    /* recovered while suspended: back to active, nothing scheduled */
    cst_tenant_row recovered = t;
    assert_int_equal(cst_lifecycle_apply(&recovered, "payment_recovered", NULL, now), CST_OK);
    assert_string_equal(recovered.state, "active");
    assert_false(due(&recovered, now + day(1000)));
    /* not recovered: closed at 91 days, erased 7 days later */
    assert_false(due(&t, T0 + day(91) - 1));
    now = T0 + day(91);
    advance(&t, now);
    assert_string_equal(t.state, "closed");
    assert_int_equal(cst_lifecycle_apply(&t, "payment_recovered", NULL, now), CST_ERR_CONFLICT);
    assert_false(due(&t, T0 + day(98) - 1));
    advance(&t, T0 + day(98));
    assert_string_equal(t.state, "erased");
    assert_false(due(&t, T0 + day(10000)));
}

static void test_ret3_termination_runs_its_course_on_a_simulated_clock(void **state)
{
    cst_tenant_row t = tenant("suspended", "paid", "payment_failed", T0 - day(20));
    int64_t now = T0;
    assert_int_equal(cst_lifecycle_apply(&t, "terminated", NULL, now), CST_OK);
    assert_string_equal(t.state, "terminated");
    assert_int_equal(t.state_since, now);
    assert_false(due(&t, now + day(16) - 1));
    advance(&t, now + day(16));
    assert_string_equal(t.state, "pending_erase");
    assert_int_equal(cst_lifecycle_apply(&t, "cancelled", NULL, now), CST_ERR_CONFLICT);
    assert_false(due(&t, now + day(30) - 1));
    advance(&t, now + day(30));
    assert_string_equal(t.state, "erased");
}

static void test_ret2_trial_end_schedules_the_erase(void **state)
{
    cst_tenant_row t = tenant("active", "trial", "", 0);
    assert_int_equal(cst_lifecycle_apply(&t, "trial_ended", NULL, T0), CST_OK);
    assert_string_equal(t.state, "closed");
    assert_false(due(&t, T0 + day(12) - 1));
    advance(&t, T0 + day(12));
    assert_string_equal(t.state, "erased");
}

/* ---- what each state permits ---- */

static const unsigned kinds[] = {CST_ACCESS_READ, CST_ACCESS_WRITE, CST_ACCESS_EXPORT,
                                 CST_ACCESS_SELF, CST_ACCESS_CLOSED_READ};

/* The access kinds each state allows, by state name; the rest are refused. */
static const struct {
    const char *state;
    unsigned allows;
    const char *refused;
} permitted[] = {
    {"active",
     CST_ACCESS_READ | CST_ACCESS_WRITE | CST_ACCESS_EXPORT | CST_ACCESS_SELF |
         CST_ACCESS_CLOSED_READ,
     NULL},
    {"suspended", CST_ACCESS_READ | CST_ACCESS_EXPORT | CST_ACCESS_SELF,
     "the tenant is suspended: only reads and export are allowed"},
    {"terminated", CST_ACCESS_READ | CST_ACCESS_EXPORT | CST_ACCESS_SELF,
     "the tenant is terminated: only reads and export are allowed"},
    {"closed", CST_ACCESS_EXPORT | CST_ACCESS_SELF | CST_ACCESS_CLOSED_READ,
     "the tenant is closed: only export is allowed until its data is erased"},
    {"pending_erase", 0, "the tenant is pending_erase: it has no access"},
    {"erased", 0, "the tenant is erased: it has no access"},
    {"bogus", 0, "the tenant is bogus: it has no access"},
    {"", 0, "the tenant is : it has no access"},
};

static void test_ret2_ret3_each_state_permits_only_its_access(void **state)
{
    for (size_t s = 0; s < COUNT(permitted); s++) {
        cst_tenant_row t = tenant(permitted[s].state, "paid", "", 0);
        for (size_t k = 0; k < COUNT(kinds); k++) {
            bool want = (permitted[s].allows & kinds[k]) != 0;
            cst_err_clear();
            cst_err e = cst_tenant_permits(&t, kinds[k]);
            if ((e == CST_OK) != want)
                fprintf(stderr, "%s, access 0x%x: %s\n", permitted[s].state, kinds[k],
                        cst_err_code(e));
            assert_int_equal(e, want ? CST_OK : CST_ERR_FORBIDDEN);
            if (!want)
                assert_string_equal(cst_err_message(e), permitted[s].refused);
        }
        /* a request is allowed when any of its kinds is: a write that is the caller's own */
        assert_int_equal(cst_tenant_permits(&t, CST_ACCESS_WRITE | CST_ACCESS_SELF),
                         permitted[s].allows & CST_ACCESS_SELF ? CST_OK : CST_ERR_FORBIDDEN);
        /* and nothing is allowed for no access at all */
        assert_int_equal(cst_tenant_permits(&t, 0), CST_ERR_FORBIDDEN);
    }
}

int main(void)
{
    policy = cst_lifecycle_defaults;
    policy.payment_close_days = 91;
    policy.terminated_access_days = 16;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_round_trip_and_unknown_names_parse_to_count),
        cmocka_unit_test(test_ret2_ret3_every_event_in_every_state_plan_and_standing),
        cmocka_unit_test(test_ret2_refusals_say_why),
        cmocka_unit_test(test_ret2_plan_changes),
        cmocka_unit_test(test_ret2_plan_change_rules),
        cmocka_unit_test(test_ret2_ret3_scheduled_steps),
        cmocka_unit_test(test_ret2_failed_payment_runs_its_course_on_a_simulated_clock),
        cmocka_unit_test(test_ret3_termination_runs_its_course_on_a_simulated_clock),
        cmocka_unit_test(test_ret2_trial_end_schedules_the_erase),
        cmocka_unit_test(test_ret2_ret3_each_state_permits_only_its_access),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
