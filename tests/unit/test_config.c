/* test_config.c: configuration defaults are the secure ones (CHG-2); bad values are refused
 * with the key named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "node/config.h"
#include "util/err.h"

static void test_chg2_defaults_are_secure(void **state)
{
    cst_config c;
    cst_config_defaults(&c);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8443);
    assert_false(c.allow_plaintext_loopback);
    assert_int_equal(c.max_header_bytes, 16384);
    assert_int_equal(c.max_json_bytes, 65536);
    assert_int_equal(c.max_record_bytes, 1048576);
    assert_int_equal(c.session_idle_seconds, 900);
    assert_int_equal(c.session_max_seconds, 43200);
    assert_non_null(strstr(c.tls_priorities, "+VERS-TLS1.3:+VERS-TLS1.2"));
    assert_null(strstr(c.tls_priorities, "TLS1.1"));
    assert_null(strstr(c.tls_priorities, "CBC"));
    assert_int_equal(cst_config_finish(&c), CST_OK);
    assert_string_equal(c.master_key_file, "./custodia-master.key");
}

/* Issue 20: a password in store.dsn never reaches what records the configuration (the
 * node.start audit entry and meta last_config, both from cst_config_json): key=value (plain and
 * quoted with an escaped quote) and URI forms. */
static void test_store_dsn_password_is_redacted(void **state)
{
    (void)state;
    static const char *const dsns[][2] = {
        {"host=db password=s3cretPW user=custodia", "host=db password=*** user=custodia"},
        {"host=db password = 's3cret\\'PW x' dbname=c", "host=db password=*** dbname=c"},
        {"postgresql://custodia:s3cretPW@db:5432/c?sslmode=verify-full",
         "postgresql://custodia:***@db:5432/c?sslmode=verify-full"},
        {"host=db passfile=/etc/custodia/pgpass", "host=db passfile=/etc/custodia/pgpass"},
        {"postgresql://custodia@db/c?sslmode=require&password=s3cretPW&x=1",
         "postgresql://custodia@db/c?sslmode=require&password=***&x=1"},
        {"postgresql://custodia@db/c?password=s3cretPW", "postgresql://custodia@db/c?password=***"},
        {"host=db password=s3cret\\ PW user=u", "host=db password=*** user=u"},
    };
    for (size_t i = 0; i < sizeof(dsns) / sizeof(*dsns); i++) {
        cst_config c;
        cst_config_defaults(&c);
        assert_int_equal(cst_config_set(&c, "store", "driver", "postgresql"), CST_OK);
        assert_int_equal(cst_config_set(&c, "store", "dsn", dsns[i][0]), CST_OK);
        json_t *j = cst_config_json(&c);
        const char *got = json_string_value(json_object_get(j, "store.dsn"));
        assert_non_null(got);
        assert_string_equal(got, dsns[i][1]);
        assert_null(strstr(got, "s3cret"));
        json_decref(j);
    }
}

static void test_default_key_path_is_outside_data_dir(void **state)
{
    char out[256];
    assert_int_equal(cst_config_default_key_path("/srv/custodia/data/", "k", out, sizeof(out)),
                     CST_OK);
    assert_string_equal(out, "/srv/custodia/k");
    assert_int_equal(cst_config_default_key_path("var", "k", out, sizeof(out)), CST_OK);
    assert_string_equal(out, "./k");
}

static void test_values_validated(void **state)
{
    cst_config c;
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, "http", "threads", "-1"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "http", "threads", "4x"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "http", "threads", "4"), CST_OK);
    assert_int_equal(c.threads, 4);
    assert_int_equal(cst_config_set(&c, "http", "allow_plaintext_loopback", "maybe"),
                     CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "http", "max_json_bytes", "10"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "auth", "session_idle_seconds", "5"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "http", "nonsense", "1"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "nosection", "listen", "1"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set_listen(&c, "localhost:80"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set_listen(&c, "127.0.0.1"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set_listen(&c, "127.0.0.1:70000"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set_listen(&c, "[::1]:9443"), CST_OK);
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 9443);
}

/* ENC-4: keys.master_key, with node.master_key_file as its file: form; never both. */
static void test_enc4_master_key_source(void **state)
{
    cst_config c;
    cst_config_defaults(&c);
    assert_int_equal(cst_config_finish(&c), CST_OK);
    assert_string_equal(c.master_key, "file:./custodia-master.key");
    assert_int_equal(cst_config_finish(&c), CST_OK); /* finishing again changes nothing */
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, "keys", "master_key", "file:/etc/k"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_OK);
    assert_string_equal(c.master_key_file, "/etc/k");
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, "keys", "master_key", "command:kms-decrypt"), CST_OK);
    assert_int_equal(cst_config_set(&c, "node", "master_key_file", "/etc/k"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "keys", "command_timeout_seconds", "0"), CST_ERR_INVALID);
    assert_int_equal(c.command_timeout_s, 10);
}

static void test_enc3_plaintext_only_on_loopback(void **state)
{
    cst_config c;
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, "http", "allow_plaintext_loopback", "true"), CST_OK);
    assert_int_equal(cst_config_set_listen(&c, "0.0.0.0:8080"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_ERR_INVALID);
    assert_int_equal(cst_config_set_listen(&c, "127.0.0.1:8080"), CST_OK);
    assert_int_equal(cst_config_finish(&c), CST_OK);
}

static void test_ini_file(void **state)
{
    char path[] = "/tmp/cst-ini-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("; comment\n[node]\nregion = eu-west\n[http]\nlisten = 127.0.0.1:9000\n"
          "max_record_bytes = 2048\n",
          f);
    fclose(f);
    cst_config c;
    cst_config_defaults(&c);
    assert_int_equal(cst_config_load(&c, path), CST_OK);
    assert_string_equal(c.region, "eu-west");
    assert_int_equal(c.listen_port, 9000);
    assert_int_equal(c.max_record_bytes, 2048);
    f = fopen(path, "w");
    fputs("[http]\nlisten = 127.0.0.1:9000\nthreads = lots\n", f);
    fclose(f);
    assert_int_equal(cst_config_load(&c, path), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "line 3"));
    f = fopen(path, "w");
    fputs("[http\nlisten = x\n", f);
    fclose(f);
    assert_int_equal(cst_config_load(&c, path), CST_ERR_INVALID);
    remove(path);
    assert_int_equal(cst_config_load(&c, "/nonexistent.ini"), CST_ERR_NOT_FOUND);
}

/* log.file (issue 12; node.log_file until issue 19, refused naming the new key): empty means
 * stderr; it is in the effective configuration. */
static void test_log_file_key(void **state)
{
    cst_config c;
    cst_config_defaults(&c);
    assert_string_equal(c.log_file, "");
    assert_int_equal(cst_config_set(&c, "log", "file", "/var/log/custodia/node.log"), CST_OK);
    assert_string_equal(c.log_file, "/var/log/custodia/node.log");
    char longpath[PATH_MAX + 8];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_int_equal(cst_config_set(&c, "log", "file", longpath), CST_ERR_INVALID);
    json_t *j = cst_config_json(&c);
    assert_string_equal(json_string_value(json_object_get(j, "log.file")),
                        "/var/log/custodia/node.log");
    json_decref(j); /* the old name is refused with the new one, and the value it had is kept */
    assert_int_equal(cst_config_set(&c, "node", "log_file", "/tmp/x.log"), CST_ERR_INVALID);
    assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), "is now log.file"));
    assert_string_equal(c.log_file, "/var/log/custodia/node.log");
    /* log.format: json (default) or text */
    assert_string_equal(c.log_format, "json");
    assert_int_equal(cst_config_set(&c, "log", "format", "xml"), CST_ERR_INVALID);
    assert_int_equal(cst_config_set(&c, "log", "format", "text"), CST_OK);
}

/* DET-2: metrics.listen serves plain HTTP, so only on loopback; parsed by cst_config_finish. */
static void test_det2_metrics_listen_loopback_only(void **state)
{
    static const struct {
        const char *listen;
        cst_err want;
        const char *host;
        int port;
    } cases[] = {
        {"127.0.0.1:9464", CST_OK, "127.0.0.1", 9464}, {"[::1]:0", CST_OK, "::1", 0},
        {"0.0.0.0:9464", CST_ERR_INVALID, NULL, 0},    {"10.1.2.3:9464", CST_ERR_INVALID, NULL, 0},
        {"[::]:9464", CST_ERR_INVALID, NULL, 0},       {"localhost:9464", CST_ERR_INVALID, NULL, 0},
        {"127.0.0.1:65536", CST_ERR_INVALID, NULL, 0}, {"127.0.0.1", CST_ERR_INVALID, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cst_config c;
        cst_config_defaults(&c);
        assert_int_equal(cst_config_set(&c, "node", "data_dir", "/tmp/cst-unit"), CST_OK);
        assert_int_equal(cst_config_set(&c, "metrics", "listen", cases[i].listen), CST_OK);
        cst_err e = cst_config_finish(&c);
        if (e != cases[i].want)
            fail_msg("metrics.listen = %s: got %d, want %d", cases[i].listen, e, cases[i].want);
        if (e == CST_OK) {
            assert_string_equal(c.metrics_host, cases[i].host);
            assert_int_equal(c.metrics_port, cases[i].port);
        } else {
            assert_non_null(strstr(cst_err_message(e), "metrics.listen"));
        }
    }
}

/* Splits "section.key" for cst_config_set. */
static void split_key(const char *name, char *section, size_t n, const char **key)
{
    const char *dot = strchr(name, '.');
    assert_non_null(dot);
    assert_true((size_t)(dot - name) < n);
    memcpy(section, name, (size_t)(dot - name));
    section[dot - name] = '\0';
    *key = dot + 1;
}

/* Sets name = value on a copy of the defaults; returns the result and, on success, the JSON of
 * the effective configuration. */
static cst_err set_one(const char *name, const char *value, json_t **json)
{
    char section[32];
    const char *key;
    split_key(name, section, sizeof(section), &key);
    cst_config c;
    cst_config_defaults(&c);
    cst_err e = cst_config_set(&c, section, key, value);
    if (json)
        *json = e == CST_OK ? cst_config_json(&c) : NULL;
    return e;
}

/* CHG-1: every key of the table is in the effective configuration, and nothing else is; each
 * key's default text parses back to the default (so the table's defaults and its parser agree). */
static void test_chg1_table_defaults_parse_back(void **state)
{
    cst_config d;
    cst_config_defaults(&d);
    json_t *dj = cst_config_json(&d);
    assert_non_null(dj);
    cst_config_key_info k;
    size_t n = 0;
    for (; cst_config_key_at(n, &k); n++) {
        assert_non_null(json_object_get(dj, k.name));
        json_t *j = NULL;
        assert_int_equal(set_one(k.name, k.def, &j), CST_OK);
        if (!json_equal(j, dj))
            fail_msg("%s = \"%s\" does not give the default configuration", k.name, k.def);
        json_decref(j);
    }
    assert_int_equal(json_object_size(dj), n);
    assert_int_equal(n, 124); /* CHG-1: the key set of today; a new key updates this count */
    json_decref(dj);
    /* RET-2, RET-3: the table's lifecycle defaults are the promised schedule. */
    assert_memory_equal(&d.lifecycle, &cst_lifecycle_defaults, sizeof(d.lifecycle));
}

/* A string with a fixed set of values accepts each of them and refuses anything else (an
 * overlong value as well) with the key and the values named. */
static void check_choices(const cst_config_key_info *k)
{
    char want[256], list[128] = "";
    for (const char *const *ch = k->choices; *ch; ch++) {
        json_t *j = NULL;
        assert_int_equal(set_one(k->name, *ch, &j), CST_OK);
        assert_string_equal(json_string_value(json_object_get(j, k->name)), *ch);
        json_decref(j);
        size_t used = strlen(list);
        (void)snprintf(list + used, sizeof(list) - used, "%s%s", used ? " or " : "", *ch);
    }
    char *v = malloc(k->max_len + 2);
    assert_non_null(v);
    memset(v, 'a', k->max_len + 1);
    v[k->max_len + 1] = '\0';
    const char *bad[] = {"", "Durable", v};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(set_one(k->name, bad[i], NULL), CST_ERR_INVALID);
        (void)snprintf(want, sizeof(want), "%s must be %s, not \"%s\"", k->name, list, bad[i]);
        assert_string_equal(cst_err_message(CST_ERR_INVALID), want);
    }
    free(v);
}

/* Every bounded key refuses min-1 and max+1 with the key and the bounds named, and leaves the
 * value unchanged; min and max themselves are accepted. Strings refuse one byte too many. */
static void test_table_bounds_refused(void **state)
{
    cst_config_key_info k;
    size_t checked = 0;
    for (size_t i = 0; cst_config_key_at(i, &k); i++) {
        char lo[32], hi[32], want[256];
        json_t *j = NULL;
        char section[32];
        const char *key;
        split_key(k.name, section, sizeof(section), &key);
        switch (k.kind) {
        case CST_KEY_INTEGER:
        case CST_KEY_DURATION:
            (void)snprintf(lo, sizeof(lo), "%ld", k.min - 1);
            (void)snprintf(hi, sizeof(hi), "%ld", k.max + 1);
            assert_int_equal(set_one(k.name, lo, NULL), CST_ERR_INVALID);
            if (k.kind == CST_KEY_INTEGER)
                (void)snprintf(want, sizeof(want),
                               "%s must be an integer from %ld to %ld, not \"%s\"", k.name, k.min,
                               k.max, lo);
            else
                (void)snprintf(want, sizeof(want),
                               "%s must be a duration from %ld to %ld seconds (e.g. 3600, 90m, "
                               "24h, 7d), not \"%s\"",
                               k.name, k.min, k.max, lo);
            assert_string_equal(cst_err_message(CST_ERR_INVALID), want);
            assert_int_equal(set_one(k.name, hi, NULL), CST_ERR_INVALID);
            assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), k.name));
            /* the bounds themselves are allowed, and set exactly that value */
            (void)snprintf(lo, sizeof(lo), "%ld", k.min);
            (void)snprintf(hi, sizeof(hi), "%ld", k.max);
            assert_int_equal(set_one(k.name, lo, &j), CST_OK);
            assert_int_equal(json_integer_value(json_object_get(j, k.name)), k.min);
            json_decref(j);
            assert_int_equal(set_one(k.name, hi, &j), CST_OK);
            assert_int_equal(json_integer_value(json_object_get(j, k.name)), k.max);
            json_decref(j);
            assert_int_equal(set_one(k.name, "12abc", NULL), CST_ERR_INVALID);
            assert_int_equal(set_one(k.name, "", NULL), CST_ERR_INVALID);
            checked++;
            break;
        case CST_KEY_STRING: {
            if (k.choices) {
                check_choices(&k);
                checked++;
                break;
            }
            char *v = malloc(k.max_len + 2);
            assert_non_null(v);
            memset(v, 'a', k.max_len + 1);
            v[k.max_len + 1] = '\0';
            assert_int_equal(set_one(k.name, v, NULL), CST_ERR_INVALID);
            (void)snprintf(want, sizeof(want), "%s is too long", k.name);
            assert_string_equal(cst_err_message(CST_ERR_INVALID), want);
            v[k.max_len] = '\0';
            assert_int_equal(set_one(k.name, v, &j), CST_OK);
            assert_string_equal(json_string_value(json_object_get(j, k.name)), v);
            json_decref(j);
            free(v);
            checked++;
            break;
        }
        case CST_KEY_BOOL:
            assert_int_equal(set_one(k.name, "maybe", NULL), CST_ERR_INVALID);
            assert_int_equal(set_one(k.name, "no", &j), CST_OK);
            assert_false(json_boolean_value(json_object_get(j, k.name)));
            json_decref(j);
            assert_int_equal(set_one(k.name, "yes", &j), CST_OK);
            assert_true(json_boolean_value(json_object_get(j, k.name)));
            json_decref(j);
            checked++;
            break;
        case CST_KEY_CIDRS:
            assert_int_equal(set_one(k.name, "10.0.0.0/33", NULL), CST_ERR_INVALID);
            assert_non_null(strstr(cst_err_message(CST_ERR_INVALID), k.name));
            assert_int_equal(set_one(k.name, "10.0.0.0/8 ::1", &j), CST_OK);
            assert_string_equal(json_string_value(json_object_get(j, k.name)), "10.0.0.0/8 ::1");
            json_decref(j);
            checked++;
            break;
        case CST_KEY_LISTEN:
            assert_int_equal(set_one(k.name, "127.0.0.1:65536", NULL), CST_ERR_INVALID);
            assert_int_equal(set_one(k.name, "[::1]:0", &j), CST_OK);
            assert_string_equal(json_string_value(json_object_get(j, k.name)), "[::1]:0");
            json_decref(j);
            checked++;
            break;
        }
    }
    assert_int_equal(checked, 124);
}

/* A key that is not in the table is refused, named, whatever the section. */
static void test_table_unknown_keys_refused(void **state)
{
    static const char *const unknown[][2] = {
        {"http", "nonsense"},        {"nosection", "listen"}, {"http", "listen2"},
        {"HTTP", "listen"},          {"http", "LISTEN"},      {"lifecycle", "x"},
        {"lifecycle", "lifecycle"},  {"", "data_dir"},        {"node", ""},
        {"auth", "trusted_proxies"}, /* a real key in another section */
    };
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        cst_config c, before;
        cst_config_defaults(&c);
        cst_config_defaults(&before);
        assert_int_equal(cst_config_set(&c, unknown[i][0], unknown[i][1], "1"), CST_ERR_INVALID);
        char want[160];
        (void)snprintf(want, sizeof(want), "unknown configuration key %s.%s", unknown[i][0],
                       unknown[i][1]);
        assert_string_equal(cst_err_message(CST_ERR_INVALID), want);
        assert_memory_equal(&c, &before, sizeof(c));
    }
}

/* Runs cst_config_finish on c and returns what it logged (stderr), up to n bytes. */
static cst_err finish_logged(cst_config *c, char *out, size_t n)
{
    char path[] = "/tmp/cst-cfglog-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    cst_err e = cst_config_finish(c);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    ssize_t r = pread(fd, out, n - 1, 0);
    assert_true(r >= 0);
    out[r] = '\0';
    close(fd);
    unlink(path);
    return e;
}

/* CHG-2: the defaults start without a warning; for every key with a rule, a value one step on the
 * weaker side of its default warns, naming the key, and one step on the stronger side does not. */
static void test_chg2_table_weaker_values_warn(void **state)
{
    static char log[8192];
    cst_config c;
    cst_config_defaults(&c);
    assert_int_equal(finish_logged(&c, log, sizeof(log)), CST_OK);
    assert_null(strstr(log, "WEAKER THAN DEFAULT"));
    /* The rules of today (before the table): a table edit that drops or turns one fails here. */
    static const struct {
        const char *name;
        char rule;
    } rules[] = {
        {"http.allow_plaintext_loopback", 'c'},
        {"tls.priorities", 'c'},
        {"auth.session_idle_seconds", '>'},
        {"auth.session_max_seconds", '>'},
        {"auth.lockout_threshold", '>'},
        {"auth.lockout_seconds", '<'},
        {"audit.seal_entries", 'c'},
        {"audit.security_retention_days", '<'},
        {"audit.access_retention_days", '<'},
        {"audit.read_durability", 'c'},
        {"backup.interval", 'c'},
        {"backup.retention_days", 'c'},
        {"lifecycle.trial_erase_days", '!'},
        {"lifecycle.cancelled_erase_days", '!'},
        {"lifecycle.payment_suspend_days", '!'},
        {"lifecycle.payment_close_days", '!'},
        {"lifecycle.closed_erase_days", '!'},
        {"lifecycle.free_inactive_days", '!'},
        {"lifecycle.terminated_access_days", '!'},
        {"lifecycle.terminated_erase_days", '!'},
        {"lifecycle.billing_retention_days", '!'},
        {"http.header_timeout", '>'},
        {"http.max_connections_per_ip", '>'},
        {"auth.login_rate_per_ip", 'c'},
        {"detect.enabled", 'c'},
        {"alerts.allow_private_webhooks", 'c'},
        {"metrics.per_tenant", 'c'},
        {"alerts.max_open", '>'},
        {"alerts.retention_days", '<'},
        {"alerts.delivery_retention_days", '<'},
        {"notices.smtp_starttls", 'c'},
        {"node.sandbox", 'c'},
        {"detect.brute_force_threshold", '>'},
        {"detect.brute_force_window", '<'},
        {"detect.password_spraying_threshold", '>'},
        {"detect.password_spraying_window", '<'},
        {"detect.disallowed_ip_threshold", '>'},
        {"detect.disallowed_ip_window", '<'},
        {"detect.revoked_credential_threshold", '>'},
        {"detect.revoked_credential_window", '<'},
        {"detect.exfiltration_factor", '>'},
        {"detect.exfiltration_min_records", '>'},
        {"detect.drill_max_age", '>'},
        {"reviews.stale_days", '>'},
        {"reviews.period_days", '>'},
        {"keys.max_encryptions_per_dek", '>'},
        {"keys.dek_max_age", '>'},
        {"keys.kek_max_age", '>'},
    };
    cst_config_key_info k;
    size_t checked = 0, ruled = 0;
    for (size_t i = 0; cst_config_key_at(i, &k); i++) {
        char expect = 0;
        for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++)
            if (!strcmp(rules[r].name, k.name))
                expect = rules[r].rule;
        if (k.weaker != expect)
            fail_msg("%s: weaker-than-default rule '%c', expected '%c'", k.name,
                     k.weaker ? k.weaker : '0', expect ? expect : '0');
        ruled += expect != 0;
        if (k.weaker != '>' && k.weaker != '<' && k.weaker != '!')
            continue;
        long def = strtol(k.def, NULL, 10);
        long weaker = k.weaker == '<' ? def - 1 : def + 1;
        char v[32], section[32];
        const char *key;
        split_key(k.name, section, sizeof(section), &key);
        (void)snprintf(v, sizeof(v), "%ld", weaker);
        cst_config_defaults(&c);
        assert_int_equal(cst_config_set(&c, section, key, v), CST_OK);
        assert_int_equal(finish_logged(&c, log, sizeof(log)), CST_OK);
        char want[128];
        (void)snprintf(want, sizeof(want), "WEAKER THAN DEFAULT: %s = %ld", k.name, weaker);
        if (!strstr(log, want))
            fail_msg("%s = %s did not warn: %s", k.name, v, log);
        if (k.weaker != '!') {
            long stronger = k.weaker == '<' ? def + 1 : def - 1;
            if (stronger >= k.min && stronger <= k.max) {
                (void)snprintf(v, sizeof(v), "%ld", stronger);
                cst_config_defaults(&c);
                assert_int_equal(cst_config_set(&c, section, key, v), CST_OK);
                assert_int_equal(finish_logged(&c, log, sizeof(log)), CST_OK);
                assert_null(strstr(log, "WEAKER THAN DEFAULT"));
            }
        }
        checked++;
    }
    assert_int_equal(ruled, sizeof(rules) / sizeof(rules[0]));
    assert_int_equal(checked, 36);
}

/* Sets name = value on the defaults and runs cst_config_finish; returns finish's result and its
 * log in out. */
static cst_err finish_with(const char *name, const char *value, char *out, size_t n)
{
    char section[32];
    const char *key;
    split_key(name, section, sizeof(section), &key);
    cst_config c;
    cst_config_defaults(&c);
    assert_int_equal(cst_config_set(&c, section, key, value), CST_OK);
    return finish_logged(&c, out, n);
}

/* CHG-2: the custom rules (pairs of keys, strings, "0 means off"), each with its own text: one
 * value on the weaker side warns, the default and a stronger value do not. A key without a rule
 * of its own (audit.seal_seconds, auth.login_rate_per_account) warns through its pair's. */
static void test_chg2_custom_rules_warn(void **state)
{
    static const struct {
        const char *name, *value, *warning; /* NULL: no warning */
    } cases[] = {
        {"http.allow_plaintext_loopback", "true",
         "WEAKER THAN DEFAULT: http.allow_plaintext_loopback = true: serving plaintext HTTP on "
         "127.0.0.1 (development only)"},
        {"tls.priorities", "NORMAL",
         "WEAKER THAN DEFAULT (possibly): tls.priorities overrides the TLS 1.2/1.3 forward-secret "
         "AEAD profile: NORMAL"},
        {"tls.priorities", CST_DEFAULT_TLS_PRIORITIES, NULL},
        {"audit.seal_entries", "1001",
         "WEAKER THAN DEFAULT: audit seals every 1001 entries / 10 s (default 1000 / 10 s)"},
        {"audit.seal_entries", "999", NULL},
        {"audit.seal_seconds", "11",
         "WEAKER THAN DEFAULT: audit seals every 1000 entries / 11 s (default 1000 / 10 s)"},
        {"audit.seal_seconds", "9", NULL},
        {"backup.interval", "0",
         "WEAKER THAN DEFAULT: backup.interval = 0: no scheduled backups (BAK-1)"},
        {"backup.interval", "86401",
         "WEAKER THAN DEFAULT: backup.interval = 86401 s (default daily)"},
        {"backup.interval", "1h", NULL},
        {"backup.retention_days", "111",
         "WEAKER THAN DEFAULT: backup.retention_days = 111: backups are kept longer than 110 "
         "days (BAK-4)"},
        {"backup.retention_days", "30", NULL},
        {"auth.login_rate_per_ip", "61",
         "WEAKER THAN DEFAULT: login attempts per minute: 61 per address, 10 per account "
         "(default 60 / 10)"},
        {"auth.login_rate_per_ip", "59", NULL},
        {"auth.login_rate_per_account", "11",
         "WEAKER THAN DEFAULT: login attempts per minute: 60 per address, 11 per account "
         "(default 60 / 10)"},
        {"auth.login_rate_per_account", "9", NULL},
        {"audit.read_durability", "batched",
         "WEAKER THAN DEFAULT: audit.read_durability = batched (default durable): a read is "
         "answered before its audit entry is durable; a crash can lose the entries of the reads "
         "answered in the last 2 ms (LOG-1)"},
        {"audit.read_durability", "durable", NULL},
        {"detect.enabled", "false",
         "WEAKER THAN DEFAULT: detect.enabled = false: no intrusion detection, no alerts (DET-1)"},
        {"detect.enabled", "true", NULL},
        {"alerts.allow_private_webhooks", "true",
         "WEAKER THAN DEFAULT: alerts.allow_private_webhooks = true: tenants' webhooks may reach "
         "loopback and private addresses from this node (tests only)"},
        {"alerts.allow_private_webhooks", "false", NULL},
        {"metrics.per_tenant", "true",
         "WEAKER THAN DEFAULT: metrics.per_tenant = true: metric labels carry tenant ids; whoever "
         "scrapes /metrics learns which tenants this node holds"},
        {"metrics.per_tenant", "false", NULL},
        {"notices.smtp_starttls", "false",
         "WEAKER THAN DEFAULT: notices.smtp_starttls = false: notices are emailed to the loopback "
         "relay without TLS (tests only)"},
        {"notices.smtp_starttls", "true", NULL},
        {"node.sandbox", "false",
         "WEAKER THAN DEFAULT: node.sandbox = false: no Landlock and no seccomp allow-list"},
        {"node.sandbox", "true", NULL},
    };
    static char log[8192];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(finish_with(cases[i].name, cases[i].value, log, sizeof(log)), CST_OK);
        if (cases[i].warning && !strstr(log, cases[i].warning))
            fail_msg("%s = %s: want \"%s\", logged: %s", cases[i].name, cases[i].value,
                     cases[i].warning, log);
        if (!cases[i].warning && strstr(log, "WEAKER THAN DEFAULT"))
            fail_msg("%s = %s warned: %s", cases[i].name, cases[i].value, log);
    }
}

/* Durations: seconds or a number with s, m, h or d, within the key's bounds in seconds. */
static void test_durations(void **state)
{
    static const struct {
        const char *value;
        long seconds; /* -1: refused */
    } cases[] = {
        {"3600", 3600},
        {"30s", 30},
        {"90m", 5400},
        {"2h", 7200},
        {"7d", 604800},
        {"8d", -1},
        {"0", -1},
        {"0s", -1},
        {"-1", -1},
        {"5x", -1},
        {"1.5h", -1},
        {"h", -1},
        {"10 m", -1},
        {"10mm", -1},
        {"1D", -1},
        {"", -1},
        {"99999999999999999999d", -1},
        {"106751991167301d", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = NULL;
        cst_err e = set_one("backup.command_timeout", cases[i].value, &j);
        if (cases[i].seconds < 0) {
            if (e != CST_ERR_INVALID)
                fail_msg("backup.command_timeout = \"%s\" was accepted", cases[i].value);
            assert_non_null(
                strstr(cst_err_message(e), "backup.command_timeout must be a duration"));
            continue;
        }
        if (e != CST_OK)
            fail_msg("backup.command_timeout = \"%s\": %s", cases[i].value, cst_err_message(e));
        assert_int_equal(json_integer_value(json_object_get(j, "backup.command_timeout")),
                         cases[i].seconds);
        json_decref(j);
    }
    /* a unit on a plain integer key is refused */
    assert_int_equal(set_one("auth.session_idle_seconds", "15m", NULL), CST_ERR_INVALID);
    assert_int_equal(set_one("http.max_json_bytes", "64k", NULL), CST_ERR_INVALID);
}

/* Integers: decimal only, no overflow into range. */
static void test_integers_strict(void **state)
{
    static const char *const bad[] = {
        "0x10", "1e3", "4 ", "+-4", "99999999999999999999", "-99999999999999999999", "4\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (set_one("http.threads", bad[i], NULL) != CST_ERR_INVALID)
            fail_msg("http.threads = \"%s\" was accepted", bad[i]);
    assert_int_equal(set_one("http.threads", "+4", NULL), CST_OK);
}

/* Rules across keys, checked when the configuration is finished. */
static void test_cross_key_rules(void **state)
{
    static const struct {
        const char *a, *va, *b, *vb, *refusal; /* NULL: allowed */
    } cases[] = {
        {"tls.cert_file", "/etc/c.pem", NULL, NULL,
         "tls.cert_file and tls.key_file must be set together"},
        {"tls.key_file", "/etc/k.pem", NULL, NULL,
         "tls.cert_file and tls.key_file must be set together"},
        {"tls.cert_file", "/etc/c.pem", "tls.key_file", "/etc/k.pem", NULL},
        {"backup.command", "cat > /dev/null", NULL, NULL,
         "backup.command needs backup.prune_command: backups older than backup.retention_days "
         "must be removable (BAK-4)"},
        {"backup.command", "cat > /dev/null", "backup.prune_command", "true", NULL},
        {"lifecycle.payment_close_days", "14", NULL, NULL,
         "lifecycle.payment_close_days must not be shorter than lifecycle.payment_suspend_days"},
        {"lifecycle.payment_close_days", "15", NULL, NULL, NULL},
        {"lifecycle.terminated_erase_days", "14", NULL, NULL,
         "lifecycle.terminated_erase_days must not be shorter than "
         "lifecycle.terminated_access_days (RET-3)"},
        {"lifecycle.terminated_access_days", "30", NULL, NULL, NULL},
    };
    static char log[8192];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cst_config c;
        cst_config_defaults(&c);
        char section[32];
        const char *key;
        split_key(cases[i].a, section, sizeof(section), &key);
        assert_int_equal(cst_config_set(&c, section, key, cases[i].va), CST_OK);
        if (cases[i].vb) {
            split_key(cases[i].b, section, sizeof(section), &key);
            assert_int_equal(cst_config_set(&c, section, key, cases[i].vb), CST_OK);
        }
        cst_err e = finish_logged(&c, log, sizeof(log));
        if (!cases[i].refusal) {
            assert_int_equal(e, CST_OK);
            continue;
        }
        assert_int_equal(e, CST_ERR_INVALID);
        assert_string_equal(cst_err_message(e), cases[i].refusal);
    }
}

/* A refused value changes nothing: not the key's value, not its parsed form, nothing else. */
static void test_refused_value_changes_nothing(void **state)
{
    cst_config_key_info k;
    for (size_t i = 0; cst_config_key_at(i, &k); i++) {
        const char *bad = NULL;
        char *long_value = NULL;
        switch (k.kind) {
        case CST_KEY_INTEGER:
        case CST_KEY_DURATION:
            bad = "12abc";
            break;
        case CST_KEY_BOOL:
            bad = "maybe";
            break;
        case CST_KEY_CIDRS:
            bad = "10.0.0.0/8 192.168.0.0/33"; /* the first item parses, the second does not */
            break;
        case CST_KEY_LISTEN:
            bad = "127.0.0.1:65536";
            break;
        case CST_KEY_STRING:
        default:
            long_value = malloc(k.max_len + 2);
            assert_non_null(long_value);
            memset(long_value, 'a', k.max_len + 1);
            long_value[k.max_len + 1] = '\0';
            bad = long_value;
            break;
        }
        char section[32];
        const char *key;
        split_key(k.name, section, sizeof(section), &key);
        cst_config c, before;
        cst_config_defaults(&c);
        cst_config_defaults(&before);
        assert_int_equal(cst_config_set(&c, section, key, bad), CST_ERR_INVALID);
        if (memcmp(&c, &before, sizeof(c)) != 0)
            fail_msg("%s = \"%.40s\" was refused but changed the configuration", k.name, bad);
        free(long_value);
    }
}

/* Every kind of value is in the table, as many times as today (a key that changes its type
 * changes its parsing, its docs and the node.start record: this count says so). */
static void test_table_kinds(void **state)
{
    size_t counts[CST_KEY_LISTEN + 1] = {0};
    cst_config_key_info k;
    for (size_t i = 0; cst_config_key_at(i, &k); i++) {
        assert_true(k.kind <= CST_KEY_LISTEN);
        counts[k.kind]++;
        assert_non_null(strchr(k.name, '.'));
        assert_non_null(k.def);
        if (k.kind == CST_KEY_INTEGER || k.kind == CST_KEY_DURATION)
            assert_true(k.min <= k.max);
        if (k.kind == CST_KEY_STRING || k.kind == CST_KEY_CIDRS)
            assert_true(k.max_len > 0);
    }
    assert_int_equal(counts[CST_KEY_STRING], 42);
    assert_int_equal(counts[CST_KEY_INTEGER], 57);
    assert_int_equal(counts[CST_KEY_DURATION], 14);
    assert_int_equal(counts[CST_KEY_BOOL], 8);
    assert_int_equal(counts[CST_KEY_CIDRS], 2);
    assert_int_equal(counts[CST_KEY_LISTEN], 1); /* 124 in all, as test_table_bounds_refused */
}

/* Found by fuzz_config: a string value that is not UTF-8 was accepted, and the node then failed
 * to start with "out of memory" (the effective configuration, CHG-1, is JSON); and a NUL byte in
 * the file silently dropped every line after it. Both are refused, named. */
static void test_chg1_non_utf8_and_nul_refused(void **state)
{
    assert_int_equal(set_one("node.region", "eu-w\xe9st", NULL), CST_ERR_INVALID);
    assert_string_equal(cst_err_message(CST_ERR_INVALID), "node.region must be UTF-8 text");
    assert_int_equal(set_one("node.data_dir", "/srv/\x81", NULL), CST_ERR_INVALID);
    json_t *j = NULL;
    assert_int_equal(set_one("node.region", "eu-w\xc3\xa9st", &j), CST_OK);
    assert_non_null(j);
    json_decref(j);
    char path[] = "/tmp/cst-ini-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] =
        "[http]\nthreads = 4\n\0[auth]\noperator_ip_allowlist = 10.0.0.0/8\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    cst_config c;
    cst_config_defaults(&c);
    assert_int_equal(cst_config_load(&c, path), CST_ERR_INVALID);
    char want[128];
    (void)snprintf(want, sizeof(want), "%s holds a NUL byte", path);
    assert_string_equal(cst_err_message(CST_ERR_INVALID), want);
    remove(path);
}

/* The example configuration (the package's /etc/custodia/custodia.ini): every key of the table
 * appears exactly once, commented out under its section, and the file with its ';' removed
 * parses, over a zeroed configuration, to exactly the defaults. */
static void test_example_config_is_the_table(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    assert_non_null(m);
    cst_config_example(m);
    assert_int_equal(fclose(m), 0);

    char path[] = "/tmp/cst-example-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *out = fdopen(fd, "w");
    assert_non_null(out);
    char section[32] = "";
    size_t seen[256] = {0}, n = 0, settings = 0;
    cst_config_key_info k;
    while (cst_config_key_at(n, &k))
        n++;
    assert_true(n <= sizeof(seen) / sizeof(seen[0]));
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '[') {
            assert_non_null(strchr(line, ']'));
            snprintf(section, sizeof(section), "%.*s", (int)(strchr(line, ']') - line - 1),
                     line + 1);
        } else if (line[0] == ';') {
            char full[128];
            snprintf(full, sizeof(full), "%s.%.*s", section, (int)strcspn(line + 1, " ="),
                     line + 1);
            size_t i = 0;
            while (cst_config_key_at(i, &k) && strcmp(k.name, full) != 0)
                i++;
            if (i == n)
                fail_msg("the example sets %s, which is not in the key table", full);
            seen[i]++;
            settings++;
            line++; /* uncommented */
        } else {
            assert_int_equal(line[0], '#'); /* nothing else: prose is a comment */
        }
        fprintf(out, "%s\n", line);
    }
    assert_int_equal(fclose(out), 0);
    free(text);
    for (size_t i = 0; i < n; i++) {
        assert_true(cst_config_key_at(i, &k));
        if (seen[i] != 1)
            fail_msg("%s appears %zu times in the example, not once", k.name, seen[i]);
    }
    assert_int_equal(settings, n);

    cst_config d, c;
    cst_config_defaults(&d);
    memset(&c, 0, sizeof(c));
    assert_int_equal(cst_config_load(&c, path), CST_OK);
    remove(path);
    json_t *dj = cst_config_json(&d), *cj = cst_config_json(&c);
    const char *key;
    json_t *v;
    json_object_foreach(dj, key, v)
    {
        if (!json_equal(v, json_object_get(cj, key)))
            fail_msg("the uncommented example does not give %s its default", key);
    }
    assert_true(json_equal(dj, cj));
    assert_memory_equal(&c.lifecycle, &cst_lifecycle_defaults, sizeof(c.lifecycle));
    json_decref(dj);
    json_decref(cj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chg2_defaults_are_secure),
        cmocka_unit_test(test_store_dsn_password_is_redacted),
        cmocka_unit_test(test_default_key_path_is_outside_data_dir),
        cmocka_unit_test(test_values_validated),
        cmocka_unit_test(test_enc4_master_key_source),
        cmocka_unit_test(test_enc3_plaintext_only_on_loopback),
        cmocka_unit_test(test_ini_file),
        cmocka_unit_test(test_log_file_key),
        cmocka_unit_test(test_det2_metrics_listen_loopback_only),
        cmocka_unit_test(test_chg1_table_defaults_parse_back),
        cmocka_unit_test(test_table_bounds_refused),
        cmocka_unit_test(test_table_unknown_keys_refused),
        cmocka_unit_test(test_chg2_table_weaker_values_warn),
        cmocka_unit_test(test_chg2_custom_rules_warn),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_integers_strict),
        cmocka_unit_test(test_cross_key_rules),
        cmocka_unit_test(test_refused_value_changes_nothing),
        cmocka_unit_test(test_table_kinds),
        cmocka_unit_test(test_chg1_non_utf8_and_nul_refused),
        cmocka_unit_test(test_example_config_is_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
