/* test_webhook.c: DET-1 webhook signing against the Standard Webhooks reference example, the
 * secret file's rules and the URL rule (https, or http to loopback only) that refuses a bad
 * alerts.webhook_url at start-up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "node/config.h"
#include "node/webhook.h"
#include "util/util.h"

static const char *const REF_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char *const REF_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
static const char *const REF_BODY = "{\"test\": 2432232314}";
/* standard-webhooks README; also Python: base64(hmac.new(b64decode(secret), id.ts.body)) */
static const char *const REF_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
/* a second, 32-byte secret; its signature of the same message computed with Python's hmac */
static const char *const SECOND = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
static const char *const SECOND_SIG = "v1,O4Gjv1HqPqsMrjmczoggs/sWA8gZD0VyHG+fLh4+ktI=";

static void test_det1_reference_vector(void **state)
{
    (void)state;
    cst_webhook_secret s[2];
    assert_int_equal(cst_webhook_secret_parse(REF_SECRET, strlen(REF_SECRET), &s[0]), CST_OK);
    assert_int_equal(s[0].len, 24);
    char sig[CST_WEBHOOK_SIG_MAX];
    assert_int_equal(cst_webhook_sign(s, 1, REF_ID, 1614265330, REF_BODY, strlen(REF_BODY), sig),
                     CST_OK);
    assert_string_equal(sig, REF_SIG);
    /* a changed byte anywhere changes the signature */
    assert_int_equal(cst_webhook_sign(s, 1, REF_ID, 1614265331, REF_BODY, strlen(REF_BODY), sig),
                     CST_OK);
    assert_string_not_equal(sig, REF_SIG);
    /* two secrets: two space-separated entries, the current one first */
    assert_int_equal(cst_webhook_secret_parse(SECOND, strlen(SECOND), &s[1]), CST_OK);
    assert_int_equal(s[1].len, 32);
    assert_int_equal(cst_webhook_sign(s, 2, REF_ID, 1614265330, REF_BODY, strlen(REF_BODY), sig),
                     CST_OK);
    char want[200];
    snprintf(want, sizeof(want), "%s %s", REF_SIG, SECOND_SIG);
    assert_string_equal(sig, want);
}

static void test_det1_secret_rules(void **state)
{
    (void)state;
    cst_webhook_secret s;
    const char *bad[] = {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_AAAA",
                         "whsec_not base64!!", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cst_webhook_secret_parse(bad[i], strlen(bad[i]), &s), CST_ERR_INVALID);
    char dir[] = "/tmp/cst_hookXXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/secrets", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n\n%s\n", REF_SECRET, SECOND);
    fclose(f);
    cst_webhook_secret two[CST_WEBHOOK_SECRETS];
    size_t n = 0;
    chmod(path, 0644); /* readable by others: refused */
    assert_int_equal(cst_webhook_secrets_load(path, two, &n), CST_ERR_INVALID);
    chmod(path, 0600);
    assert_int_equal(cst_webhook_secrets_load(path, two, &n), CST_OK);
    assert_int_equal(n, 2);
    f = fopen(path, "a"); /* a third secret: refused */
    fprintf(f, "%s\n", REF_SECRET);
    fclose(f);
    assert_int_equal(cst_webhook_secrets_load(path, two, &n), CST_ERR_INVALID);
    unlink(path);
    rmdir(dir);
}

static void test_det1_url_rule(void **state)
{
    (void)state;
    const char *good[] = {"https://hooks.example.com/x", "http://127.0.0.1:8080/hook",
                          "http://127.1.2.3/h", "http://[::1]:9/h"};
    const char *bad[] = {"http://example.com/hook", "http://10.0.0.1/h",  "http://[::2]/h",
                         "ftp://127.0.0.1/",        "https://",           "https://a b",
                         "http://127.0.0.1.evil/",  "file:///etc/passwd", "http://localhost/h"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(cst_webhook_url_check(good[i]), CST_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cst_webhook_url_check(bad[i]), CST_ERR_INVALID);
    /* at start-up: a plain-http URL elsewhere, or a URL without secrets, is refused */
    cst_config c;
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, "alerts", "webhook_url", "http://example.com/h"), CST_OK);
    assert_int_equal(cst_config_set(&c, "alerts", "webhook_secret_file", "/x"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "alerts.webhook_url"));
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, "alerts", "webhook_url", "https://h.example/x"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "webhook_secret_file"));
    assert_int_equal(cst_config_set(&c, "alerts", "webhook_secret_file", "/x"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_OK);
}

/* Retries: base, doubling, capped at an hour; failed after 24 h; a 2xx delivers. */
static void test_det1_backoff(void **state)
{
    (void)state;
    static cst_webhook_row d;
    memset(&d, 0, sizeof(d));
    snprintf(d.status, sizeof(d.status), "pending");
    const int64_t S = 1000000, t0 = 1000 * S;
    d.created_at = t0;
    const int64_t want[] = {30, 60, 120, 240, 480, 960, 1920, 3600, 3600};
    int64_t now = t0;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        cst_webhook_outcome(&d, 30, now, 500, "HTTP 500");
        assert_int_equal(d.attempts, (int64_t)i + 1);
        assert_int_equal(d.next_at - now, want[i] * S);
        assert_string_equal(d.status, "pending");
        assert_int_equal(d.last_status, 500);
        now = d.next_at;
    }
    now = t0 + 23 * 3600 * S + S; /* the next retry would fall past 24 h: failed */
    cst_webhook_outcome(&d, 30, now, 0, "connection refused");
    assert_string_equal(d.status, "failed");
    assert_int_equal(d.last_status, 0);
    memset(&d, 0, sizeof(d));
    snprintf(d.status, sizeof(d.status), "pending");
    cst_webhook_outcome(&d, 30, t0, 204, "");
    assert_string_equal(d.status, "delivered");
    assert_int_equal(d.delivered_at, t0);
    assert_string_equal(d.last_error, "");
}

int main(void)
{
    if (cst_crypto_init() != CST_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_det1_reference_vector),
        cmocka_unit_test(test_det1_secret_rules),
        cmocka_unit_test(test_det1_url_rule),
        cmocka_unit_test(test_det1_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
