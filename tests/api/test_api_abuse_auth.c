/* test_api_abuse_auth.c: authentication under abuse (issue 12) against a real server: login
 * throttling per client address and per account (IAM-2), no account enumeration by status,
 * message or time, a lockout that a stranger cannot keep closed and administrators can open
 * (API and offline CLI), a first operator not named "admin", API tokens that act only on
 * themselves on the self-service routes (IAM-4), and zxcvbn's password estimate (IAM-2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include "api/api.h"
#include "harness.h"
#include "store_fixture.h"

/* One login attempt; status returned, the error code and message copied out, the response
 * kept in out when given. */
static long login(ts_server *s, const char *tenant, const char *user, const char *pw,
                  const char *extra, char msg[256], ts_resp *out)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"tenant\":\"%s\",\"username\":\"%s\",\"password\":\"%s\"%s}",
             tenant, user, pw, extra ? extra : "");
    ts_resp r;
    ts_json_req(s, "POST", "/v1/auth/login", NULL, body, &r);
    long st = r.status;
    if (msg) {
        const char *m =
            json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
        snprintf(msg, 256, "%s:%s", ts_err(&r), m ? m : "");
    }
    if (out)
        *out = r;
    else
        ts_resp_free(&r);
    return st;
}

/* A login with the right password and a valid second factor that a locked account must
 * refuse: the user's next unused recovery code, which the harness keeps for later (a locked
 * account refuses before any factor is checked, so nothing is consumed). */
static long login_locked_probe(ts_server *s, const char *tenant, const char *user, char msg[256])
{
    ts_user *u = ts_user_find(s, tenant, user);
    assert_non_null(u);
    assert_true(u->has_totp && u->next_recovery < 10);
    char extra[96];
    snprintf(extra, sizeof(extra), ",\"recovery_code\":\"%s\"", u->recovery[u->next_recovery]);
    return login(s, tenant, user, TS_PASSWORD, extra, msg, NULL);
}

/* The right password with the user's next TOTP code (or recovery code): true when it signs in. */
static bool login_ok(ts_server *s, const char *tenant, const char *user)
{
    char *t = ts_login(s, tenant, user, TS_PASSWORD);
    free(t);
    return t != NULL;
}

/* Audit entries of the security stream with this action and outcome (read from the files). */
/* The live segment is pre-allocated (zero padding after its tail, SPEC §10): read as text. */
static int audit_count(ts_server *s, const char *action, const char *outcome)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "cat %s/audit/security/*.log | grep -aF '\"action\":\"%s\"' | grep -acF "
             "'\"outcome\":\"%s\"'",
             s->data_dir, action, outcome);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int n = 0;
    if (fscanf(p, "%d", &n) != 1)
        n = 0;
    pclose(p);
    return n;
}

static void start_with(ts_server *s, const char *ini)
{
    ts_init(s);
    snprintf(s->extra_config, sizeof(s->extra_config), "%s", ini);
    assert_true(ts_start(s));
}

/* IAM-2: N+k attempts from one address within the minute: the excess is refused 429 with
 * Retry-After before any password is checked, is audited as throttled, and does not count
 * towards the lock of the account it aims at; another address is not throttled. */
static void test_iam2_login_throttled_per_address(void **state)
{
    ts_server s;
    start_with(&s, "[auth]\nlogin_rate_per_ip = 5\nlogin_rate_per_account = 10000\n");
    double t0 = ts_now_s();
    int refused = 0, allowed = 0;
    char msg[256];
    for (int i = 0; i < 5 + 5; i++) { /* all wrong passwords for the operator "admin" */
        ts_resp r;
        long st = login(&s, "_sys", "admin", "Wrong-Guess-Number-1", NULL, msg, &r);
        if (st == 429) {
            char ra[16] = "";
            assert_true(ts_header(&r, "Retry-After", ra, sizeof(ra)));
            assert_true(atoi(ra) >= 1 && atoi(ra) <= 12); /* 5 a minute: one per 12 s */
            assert_non_null(strstr(msg, "rate_limited:too many login attempts"));
            refused++;
        } else {
            assert_int_equal(st, 401);
            allowed++;
        }
        ts_resp_free(&r);
    }
    double took = ts_now_s() - t0;
    /* five a minute: at most one more refills during the run per 12 s it took */
    assert_true(allowed >= 5 && allowed <= 5 + (int)(took / 12));
    assert_true(refused >= 5 - (int)(took / 12));
    assert_int_equal(audit_count(&s, "auth.login.throttled", "denied"), refused);
    /* meanwhile another address signs in: with the right one-time password, not 423: the
     * refused attempts were never checked, so five failures (below six) is all that counted */
    snprintf(s.source_ip, sizeof(s.source_ip), "127.0.0.2");
    ts_resp r;
    assert_int_equal(login(&s, "_sys", "admin", s.op_password, NULL, msg, &r), 200);
    assert_true(json_is_true(json_object_get(r.json, "must_change_password")));
    ts_resp_free(&r);
    fprintf(stderr, "per-address: %d allowed, %d refused 429 in %.1f s\n", allowed, refused, took);
    ts_cleanup(&s);
}

/* Whether two messages are equal but for the one number in each ("try again in N seconds"),
 * which is returned. */
static bool same_but_seconds(const char *a, const char *b, int *na, int *nb)
{
    const char *da = strpbrk(a, "0123456789"), *db = strpbrk(b, "0123456789");
    if (!da || !db || da - a != db - b || strncmp(a, b, (size_t)(da - a)) != 0)
        return false;
    char *ea, *eb;
    *na = (int)strtol(da, &ea, 10);
    *nb = (int)strtol(db, &eb, 10);
    return strcmp(ea, eb) == 0 && !strpbrk(ea, "0123456789");
}

/* IAM-2: attempts against one account from two addresses share one budget; other accounts
 * are unaffected; an account that does not exist is throttled the same way. */
static void test_iam2_login_throttled_per_account(void **state)
{
    ts_server s;
    start_with(&s, "[auth]\nlogin_rate_per_ip = 100000\nlogin_rate_per_account = 3\n");
    char msg[256], ghost_msg[256];
    const char *from[] = {"", "127.0.0.2", "", "127.0.0.2", ""};
    long st[5], ghost[5];
    for (int i = 0; i < 5; i++) {
        snprintf(s.source_ip, sizeof(s.source_ip), "%s", from[i]);
        st[i] = login(&s, "_sys", "admin", "Wrong-Guess-Number-2", NULL, msg, NULL);
        ghost[i] = login(&s, "_sys", "nobody-here", "Wrong-Guess-Number-2", NULL, ghost_msg, NULL);
    }
    for (int i = 0; i < 3; i++) { /* 3 a minute: one refills every 20 s, and this is quicker */
        assert_int_equal(st[i], 401);
        assert_int_equal(ghost[i], 401);
    }
    assert_int_equal(st[4], 429);
    assert_int_equal(ghost[4], 429); /* the same answer whether or not the account exists */
    /* ... but for the wait it names, which follows each account's own attempt times (the two
     * are a hash apart, so the rounded seconds may differ by one): compared without it */
    int wait = 0, ghost_wait = 0;
    assert_true(same_but_seconds(msg, ghost_msg, &wait, &ghost_wait));
    assert_true(wait >= 1 && wait <= 20 && ghost_wait >= 1 && ghost_wait <= 20);
    assert_true(abs(wait - ghost_wait) <= 1);
    /* another account from the same addresses is not throttled */
    s.source_ip[0] = '\0';
    assert_int_equal(login(&s, "_sys", "someone-else", "Wrong-Guess-Number-2", NULL, msg, NULL),
                     401);
    assert_true(audit_count(&s, "auth.login.throttled", "denied") >= 2);
    ts_cleanup(&s);
}

/* A login for an account that does not exist, as a trusted proxy reports it (X-Forwarded-For). */
static long login_via_proxy(ts_server *s, const char *client, const char *user, ts_resp *r)
{
    char body[256], xff[128];
    snprintf(body, sizeof(body),
             "{\"tenant\":\"_sys\",\"username\":\"%s\",\"password\":\"Wrong-Guess-Number-3\"}",
             user);
    snprintf(xff, sizeof(xff), "X-Forwarded-For: %s", client);
    const char *extra[] = {xff, NULL};
    ts_request(s, "POST", "/v1/auth/login", NULL, "application/json", body, strlen(body), extra, r);
    return r->status;
}

/* IAM-2: the per-address limit counts a client, not a spelling: the addresses of one IPv6 /64
 * (one host's usual allocation) share one budget, however they are written, and so do an
 * IPv4 address and its IPv6-mapped form. Without it, a client with a /64 sprays logins at
 * will (each address a fresh budget), and one address written two ways gets twice the rate. */
static void test_iam2_login_throttle_counts_ipv6_prefix_and_spellings(void **state)
{
    ts_server s;
    start_with(&s, "[http]\ntrusted_proxies = 127.0.0.0/8\n[auth]\nlogin_rate_per_ip = 5\n"
                   "login_rate_per_account = 10000\n");
    double t0 = ts_now_s();
    int allowed = 0, refused = 0;
    for (int i = 0; i < 10; i++) { /* ten addresses of 2001:db8:0:7::/64, a fresh account each */
        char client[64], user[32];
        snprintf(client, sizeof(client), i % 2 ? "2001:db8:0:7::%x" : "2001:DB8:0000:0007:0:0:0:%x",
                 i + 1);
        snprintf(user, sizeof(user), "sprayed-%d", i);
        ts_resp r;
        long st = login_via_proxy(&s, client, user, &r);
        if (st == 429) {
            char ra[16] = "";
            assert_true(ts_header(&r, "Retry-After", ra, sizeof(ra)));
            assert_true(atoi(ra) >= 1 && atoi(ra) <= 12);
            refused++;
        } else {
            assert_int_equal(st, 401);
            allowed++;
        }
        ts_resp_free(&r);
    }
    double took = ts_now_s() - t0;
    assert_true(allowed >= 5 && allowed <= 5 + (int)(took / 12));
    assert_true(refused >= 5 - (int)(took / 12));
    /* the next /64 is another client */
    ts_resp r;
    assert_int_equal(login_via_proxy(&s, "2001:db8:0:8::1", "sprayed-next", &r), 401);
    ts_resp_free(&r);
    /* 192.0.2.7 spent, then the same address in its IPv6-mapped form */
    t0 = ts_now_s();
    for (int i = 0; i < 5; i++) {
        assert_int_equal(login_via_proxy(&s, "192.0.2.7", "mapped", &r), 401);
        ts_resp_free(&r);
    }
    long mapped = login_via_proxy(&s, "::ffff:192.0.2.7", "mapped-2", &r);
    ts_resp_free(&r);
    if (ts_now_s() - t0 < 12)
        assert_int_equal(mapped, 429);
    fprintf(stderr, "one /64: %d allowed, %d refused 429 in %.1f s\n", allowed, refused, took);
    ts_cleanup(&s);
}

/* The shared server of the remaining tests: limits high enough to stay out of the way. */
static ts_server srv;
static char *op, *owner;

static int setup(void **state)
{
    ts_init(&srv);
    snprintf(srv.extra_config, sizeof(srv.extra_config),
             "[auth]\nlogin_rate_per_ip = 100000\nlogin_rate_per_account = 10000\n");
    return (owner = ts_start_tenant(&srv, &op, "acme", NULL)) ? 0 : -1;
}

static int teardown(void **state)
{
    return ts_finish(&srv, 2, op, owner);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* IAM-2: a wrong password for a real user and any password for a user that does not exist
 * get the same status and message, in comparable time (median of 5 each within 0.5x-2x), and
 * after six failures both are "locked" alike. */
static void test_iam2_unknown_user_indistinguishable(void **state)
{
    char *w = ts_user_create(&srv, owner, "acme", "realuser", "[\"writer\"]", NULL, false, NULL);
    double known[5], unknown[5];
    char msg_known[256], msg_unknown[256], msg_tenant[256];
    /* one unmeasured unknown-user attempt first: the node makes its dummy hash on the first */
    assert_int_equal(login(&srv, "acme", "warm-up-user", "Wrong-Guess-Number-3", NULL, NULL, NULL),
                     401);
    for (int i = 0; i < 5; i++) {
        double t = ts_now_s();
        assert_int_equal(
            login(&srv, "acme", "realuser", "Wrong-Guess-Number-3", NULL, msg_known, NULL), 401);
        known[i] = ts_now_s() - t;
        t = ts_now_s();
        assert_int_equal(
            login(&srv, "acme", "nosuchuser", "Wrong-Guess-Number-3", NULL, msg_unknown, NULL),
            401);
        unknown[i] = ts_now_s() - t;
        assert_string_equal(msg_known, msg_unknown);
    }
    assert_int_equal(
        login(&srv, "no-such-tenant", "realuser", "Wrong-Guess-Number-3", NULL, msg_tenant, NULL),
        401);
    assert_string_equal(msg_known, msg_tenant);
    qsort(known, 5, sizeof(double), cmp_double);
    qsort(unknown, 5, sizeof(double), cmp_double);
    fprintf(stderr, "median login time: known user %.0f ms, unknown user %.0f ms\n",
            known[2] * 1000, unknown[2] * 1000);
    assert_true(unknown[2] >= 0.5 * known[2] && unknown[2] <= 2.0 * known[2]);
    /* the sixth failure locks both; the seventh answers 423 alike, Retry-After included */
    assert_int_equal(login(&srv, "acme", "realuser", "Wrong-Guess-Number-3", NULL, NULL, NULL),
                     401);
    assert_int_equal(login(&srv, "acme", "nosuchuser", "Wrong-Guess-Number-3", NULL, NULL, NULL),
                     401);
    ts_resp rk, ru;
    assert_int_equal(login(&srv, "acme", "realuser", TS_PASSWORD, NULL, msg_known, &rk), 423);
    assert_int_equal(login(&srv, "acme", "nosuchuser", TS_PASSWORD, NULL, msg_unknown, &ru), 423);
    char ak[16], au[16];
    assert_true(ts_header(&rk, "Retry-After", ak, sizeof(ak)));
    assert_true(ts_header(&ru, "Retry-After", au, sizeof(au)));
    assert_true(abs(atoi(ak) - atoi(au)) <= 5);
    assert_int_equal(strncmp(msg_known, msg_unknown, strlen("locked:too many failed logins")), 0);
    ts_resp_free(&rk);
    ts_resp_free(&ru);
    free(w);
}

static void user_path(const char *id, char *out, size_t n)
{
    snprintf(out, n, "/v1/users/%s", id);
}

/* IAM-2: six failures lock; after the lock expires the count restarts (one wrong attempt does
 * not re-lock, the right password with TOTP gets in); a tenant admin unlocks at once, a writer
 * cannot. */
static void test_iam2_lockout_expires_cleanly_and_admin_unlocks(void **state)
{
    char uid[32], msg[256], path[64];
    char *lk = ts_user_create(&srv, owner, "acme", "locky", "[\"writer\"]", NULL, true, uid);
    char *wr =
        ts_user_create(&srv, owner, "acme", "plainwriter", "[\"writer\"]", NULL, false, NULL);
    for (int i = 0; i < 6; i++)
        assert_int_equal(login(&srv, "acme", "locky", "Wrong-Guess-Number-4", NULL, NULL, NULL),
                         401);
    assert_int_equal(login_locked_probe(&srv, "acme", "locky", msg), 423);
    /* the lock expires (aged in the store while stopped) */
    ts_expire_lock(&srv, uid);
    /* one wrong attempt after expiry starts a new count: 401, not a new lock */
    assert_int_equal(login(&srv, "acme", "locky", "Wrong-Guess-Number-4", NULL, msg, NULL), 401);
    assert_true(login_ok(&srv, "acme", "locky"));

    /* lock again; a writer cannot unlock, the owner (tenant admin) can, and it takes at once */
    for (int i = 0; i < 6; i++)
        assert_int_equal(login(&srv, "acme", "locky", "Wrong-Guess-Number-4", NULL, NULL, NULL),
                         401);
    assert_int_equal(login_locked_probe(&srv, "acme", "locky", msg), 423);
    user_path(uid, path, sizeof(path));
    ts_resp r;
    assert_int_equal(ts_status(&srv, "PATCH", path, wr, "{\"unlock\":true}", NULL, 0), 403);
    assert_int_equal(login_locked_probe(&srv, "acme", "locky", msg), 423); /* still locked */
    assert_int_equal(ts_status(&srv, "PATCH", path, owner, "{\"unlock\":\"yes\"}", NULL, 0), 400);
    ts_json_req(&srv, "PATCH", path, owner, "{\"unlock\":true}", &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_false(json_object_get(r.json, "locked")));
    ts_resp_free(&r);
    assert_true(login_ok(&srv, "acme", "locky"));
    free(lk);
    free(wr);
}

static void operator_id(const char *username, char id[32])
{
    ts_id_by_name(&srv, op, "/v1/sys/operators", "operators", username, id, 32);
}

static void lock_operator(const char *name)
{
    for (int i = 0; i < 6; i++)
        assert_int_equal(login(&srv, "_sys", name, "Wrong-Guess-Number-5", NULL, NULL, NULL), 401);
    char msg[256];
    assert_int_equal(login_locked_probe(&srv, "_sys", name, msg), 423);
}

/* IAM-2: a sys-admin unlocks an operator (PATCH /v1/sys/operators/{id}); a sys-support cannot;
 * offline, `custodia operator unlock` refuses beside a serving node and works on a stopped
 * one, with an audit entry. */
static void test_iam2_operator_unlock_api_and_cli(void **state)
{
    char *sec = ts_sys_operator(&srv, op, "sec1", "sys-security");
    char *sup = ts_sys_operator(&srv, op, "sup1", "sys-support");
    char id[32], path[64], msg[256];
    operator_id("sec1", id);
    snprintf(path, sizeof(path), "/v1/sys/operators/%s", id);
    lock_operator("sec1");
    ts_resp r;
    assert_int_equal(ts_status(&srv, "PATCH", path, sup, "{\"unlock\":true}", NULL, 0), 403);
    ts_json_req(&srv, "PATCH", path, owner, "{\"unlock\":true}", &r); /* a tenant owner: no */
    assert_int_equal(r.status, 403);
    ts_resp_free(&r);
    assert_int_equal(login_locked_probe(&srv, "_sys", "sec1", msg), 423);
    ts_json_req(&srv, "PATCH", path, op, "{\"unlock\":true}", &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_false(json_object_get(r.json, "locked")));
    ts_resp_free(&r);
    assert_true(login_ok(&srv, "_sys", "sec1"));

    /* offline: refused while the node serves, works once it is stopped */
    lock_operator("sec1");
    const char *bin = getenv("CUSTODIA_BIN") ? getenv("CUSTODIA_BIN") : "./custodia";
    char out[300];
    snprintf(out, sizeof(out), "%s/unlock.out", srv.root);
    assert_int_not_equal(ts_sh("%s operator unlock sec1 --data-dir %s --master-key-file %s%s "
                               ">%s 2>&1",
                               bin, srv.data_dir, srv.key_file, ts_config_arg(&srv), out),
                         0);
    assert_int_equal(ts_sh("grep -q 'a node is serving' %s", out), 0);
    int before = audit_count(&srv, "sys.operator.unlock", "success");
    assert_int_equal(ts_stop(&srv), 0);
    assert_int_equal(ts_sh("%s operator unlock sec1 --data-dir %s --master-key-file %s%s >%s 2>&1",
                           bin, srv.data_dir, srv.key_file, ts_config_arg(&srv), out),
                     0);
    assert_int_equal(ts_sh("grep -q 'unlocked' %s", out), 0);
    assert_int_not_equal(ts_sh("%s operator unlock nobody --data-dir %s --master-key-file %s%s "
                               ">%s 2>&1",
                               bin, srv.data_dir, srv.key_file, ts_config_arg(&srv), out),
                         0);
    assert_int_equal(audit_count(&srv, "sys.operator.unlock", "success"), before + 1);
    assert_true(ts_start(&srv));
    assert_true(login_ok(&srv, "_sys", "sec1"));
    free(sec);
    free(sup);
}

/* IAM-2: `custodia init --operator-username ops1` makes ops1, and no "admin" to guess at. */
static void test_iam2_init_operator_username(void **state)
{
    const char *bin = getenv("CUSTODIA_BIN") ? getenv("CUSTODIA_BIN") : "./custodia";
    ts_server s; /* inited by hand: only its paths, for the [store] section and ts_sys_count */
    memset(&s, 0, sizeof(s));
    strcpy(s.root, "/tmp/cst-abuse-XXXXXX");
    assert_non_null(mkdtemp(s.root));
    snprintf(s.data_dir, sizeof(s.data_dir), "%s/var", s.root);
    char cfg[512];
    snprintf(cfg, sizeof(cfg), "%s", ts_store_ini(s.root));
    assert_int_equal(ts_sh("%s init --data-dir %s --operator-username ops1 --json%s >%s/init.json",
                           bin, s.data_dir, cfg, s.root),
                     0);
    assert_int_equal(ts_sh("grep -q '\"username\":\"ops1\"' %s/init.json", s.root), 0);
    assert_int_equal(
        ts_sh("%s operator unlock ops1 --data-dir %s%s >/dev/null 2>&1", bin, s.data_dir, cfg), 0);
    assert_int_equal(ts_sh("%s operator unlock admin --data-dir %s%s 2>&1 | grep -q 'no operator'",
                           bin, s.data_dir, cfg),
                     0);
    const char *ops = "SELECT count(*) FROM users WHERE tenant_id = '_sys'";
    assert_int_equal(ts_sys_count(&s, ops), 1);
    /* a name that is not a valid username is refused, for that, before anything is created:
     * no data dir, and on PostgreSQL no system schema in the database it was given */
    ts_server fresh;
    memset(&fresh, 0, sizeof(fresh));
    snprintf(fresh.root, sizeof(fresh.root), "%s/fresh", s.root);
    assert_int_equal(mkdir(fresh.root, 0700), 0);
    snprintf(cfg, sizeof(cfg), "%s", ts_store_ini(fresh.root));
    assert_int_not_equal(ts_sh("%s init --data-dir %s/var2 --operator-username 'a b'%s >%s/out "
                               "2>&1",
                               bin, s.root, cfg, s.root),
                         0);
    assert_int_equal(ts_sh("grep -q 'username must be' %s/out", s.root), 0);
    assert_int_not_equal(ts_sh("test -e %s/var2", s.root), 0);
    if (strcmp(ts_store_driver(), "postgresql") == 0)
        assert_int_equal(ts_sys_count(&fresh, "SELECT count(*) FROM pg_namespace WHERE nspname = "
                                              "'custodia_system'"),
                         0);
    assert_int_equal(ts_sh("rm -rf %s", s.root), 0);
}

/* IAM-4: "a token holds nothing unless asked" on every self-service route: a token created
 * with no permissions is refused on every CST_PERM_SELF route except what acts on the token
 * itself; it cannot see or end its creator's sessions or other tokens. */
static void test_iam4_no_permission_token_acts_only_on_itself(void **state)
{
    char *creator =
        ts_user_create(&srv, owner, "acme", "tokmaker", "[\"admin\"]", NULL, true, NULL);
    char *session2 = ts_login(&srv, "acme", "tokmaker", TS_PASSWORD);
    assert_non_null(session2);
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/tokens", creator, "{\"name\":\"bare\"}", &r);
    assert_int_equal(r.status, 201);
    char *bare = strdup(json_string_value(json_object_get(r.json, "token")));
    char bare_id[32], other_id[32], sess_id[32];
    snprintf(bare_id, sizeof(bare_id), "%s", json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
    ts_json_req(&srv, "POST", "/v1/tokens", creator, "{\"name\":\"other\"}", &r);
    assert_int_equal(r.status, 201);
    snprintf(other_id, sizeof(other_id), "%s", json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
    /* the creator's session id: "cst_<20 hex>_..." is token tk_<20 hex> */
    snprintf(sess_id, sizeof(sess_id), "tk_%.20s", creator + 4);
    ts_request(&srv, "GET", "/v1/auth/sessions", creator, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    char *sessions_before = json_dumps(json_object_get(r.json, "sessions"), JSON_COMPACT);
    size_t nsessions = json_array_size(json_object_get(r.json, "sessions"));
    assert_true(nsessions >= 2);
    ts_resp_free(&r);

    int walked = 0;
    for (size_t i = 0; i < cst_api_route_count; i++) {
        const cst_route *rt = &cst_api_routes[i];
        if (rt->perm != CST_PERM_SELF)
            continue;
        char path[256];
        const char *brace = strchr(rt->pattern, '{');
        if (brace) /* aim at the creator's login session */
            snprintf(path, sizeof(path), "%.*s%s", (int)(brace - rt->pattern), rt->pattern,
                     sess_id);
        else
            snprintf(path, sizeof(path), "%s", rt->pattern);
        if (rt->body == CST_BODY_JSON)
            ts_json_req(&srv, rt->method, path, bare, "{}", &r);
        else
            ts_request(&srv, rt->method, path, bare, NULL, NULL, 0, NULL, &r);
        long want = 403;
        if (rt->handler == cst_api_token_list)
            want = 200; /* shows the token itself, see below */
        else if (rt->handler == cst_api_token_delete)
            want = 404; /* another credential is out of its sight */
        else if (rt->handler == cst_api_logout)
            want = 400; /* ends sessions only: a token is told to use DELETE /v1/tokens/{id} */
        if (r.status != want)
            fail_msg("%s %s with a no-permission token: %ld, want %ld (%s)", rt->method, path,
                     r.status, want, r.body ? r.body : "");
        if (rt->handler == cst_api_token_list) {
            json_t *toks = json_object_get(r.json, "tokens");
            assert_int_equal(json_array_size(toks), 1);
            assert_string_equal(json_string_value(json_object_get(json_array_get(toks, 0), "id")),
                                bare_id);
        }
        ts_resp_free(&r);
        walked++;
    }
    assert_true(walked >= 10);
    /* nor another of the creator's tokens */
    char path[64];
    snprintf(path, sizeof(path), "/v1/tokens/%s", other_id);
    assert_int_equal(ts_status(&srv, "DELETE", path, bare, NULL, NULL, 0), 404);
    /* the creator's sessions and tokens are unchanged, and both sessions still work */
    ts_request(&srv, "GET", "/v1/auth/sessions", session2, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "sessions")), nsessions);
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/auth/sessions", creator, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    char *sessions_after = json_dumps(json_object_get(r.json, "sessions"), JSON_COMPACT);
    ts_resp_free(&r);
    /* last_used_at may move; the set of ids may not */
    json_t *a = json_loads(sessions_before, 0, NULL), *b = json_loads(sessions_after, 0, NULL);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(a, i), "id"));
        bool found = false;
        for (size_t j = 0; j < json_array_size(b); j++)
            found |= !strcmp(id, json_string_value(json_object_get(json_array_get(b, j), "id")));
        assert_true(found);
    }
    json_decref(a);
    json_decref(b);
    free(sessions_before);
    free(sessions_after);
    ts_request(&srv, "GET", "/v1/tokens", creator, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, other_id));
    ts_resp_free(&r);
    /* what acts on the token itself works: it revokes itself */
    snprintf(path, sizeof(path), "/v1/tokens/%s", bare_id);
    assert_int_equal(ts_status(&srv, "DELETE", path, bare, NULL, NULL, 0), 204);
    assert_int_equal(ts_status(&srv, "GET", "/v1/tokens", bare, NULL, NULL, 0), 401);
    free(bare);
    free(session2);
    free(creator);
}

/* IAM-2: zxcvbn's estimate: a repeated word is refused with a message that says why; a
 * passphrase of unrelated words is accepted. */
static void test_iam2_password_strength_refuses_guessable(void **state)
{
    char *w = ts_user_create(&srv, owner, "acme", "pwuser", "[\"writer\"]", NULL, false, NULL);
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/auth/password", w,
                "{\"current\":\"" TS_PASSWORD "\",\"new\":\"passwordpassword1\"}", &r);
    assert_int_equal(r.status, 400);
    const char *m = json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
    assert_non_null(m);
    if (!strstr(m, "too easy to guess") || !strstr(m, "repeated"))
        fail_msg("message does not say why: %s", m);
    ts_resp_free(&r);
    assert_int_equal(ts_status(&srv, "POST", "/v1/auth/password", w,
                               "{\"current\":\"" TS_PASSWORD "\",\"new\":\"qwertyuiop1234\"}", NULL,
                               0),
                     400);
    assert_int_equal(
        ts_status(&srv, "POST", "/v1/auth/password", w,
                  "{\"current\":\"" TS_PASSWORD "\",\"new\":\"Quiet-Harbor-Lantern-58\"}", NULL, 0),
        204);
    free(w);
}

int main(void)
{
    const struct CMUnitTest own_servers[] = {
        cmocka_unit_test(test_iam2_login_throttled_per_address),
        cmocka_unit_test(test_iam2_login_throttled_per_account),
        cmocka_unit_test(test_iam2_login_throttle_counts_ipv6_prefix_and_spellings),
        cmocka_unit_test(test_iam2_init_operator_username),
    };
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_iam2_unknown_user_indistinguishable),
        cmocka_unit_test(test_iam2_lockout_expires_cleanly_and_admin_unlocks),
        cmocka_unit_test(test_iam2_operator_unlock_api_and_cli),
        cmocka_unit_test(test_iam4_no_permission_token_acts_only_on_itself),
        cmocka_unit_test(test_iam2_password_strength_refuses_guessable),
    };
    int failed = cmocka_run_group_tests_name("own servers", own_servers, NULL, NULL);
    return failed + cmocka_run_group_tests_name("shared server", shared, setup, teardown);
}
