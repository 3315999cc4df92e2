/* test_api_ship.c: audit shipping (issue 19): every entry reaches a TLS syslog receiver started
 * here (RFC 5425 frames, RFC 5424 messages, the entry's JSON line as MSG) and a command's
 * standard input, in order, across a kill -9 of the node and a restart of the receiver; a
 * receiver with a certificate the node does not trust gets nothing; and an auditor's export
 * verifies with `audit verify --dir`, a tampered one does not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "crypto/tlscert.h"
#include "harness.h"
#include "syslog_receiver.h"
#include "util/json.h"
#include "util/util.h"

/* The entries of a stream as the segments hold them: lines[seq - 1] (no pruning here). */
typedef struct disk {
    char **lines;
    size_t n, cap;
} disk;

static void disk_free(disk *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->lines[i]);
    free(d->lines);
    memset(d, 0, sizeof(*d));
}

static void disk_read(ts_server *s, int stream, disk *d)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/audit", s->data_dir);
    char **paths;
    size_t n;
    assert_int_equal(cst_audit_segments(dir, cst_audit_stream_names[stream], &paths, &n), CST_OK);
    for (size_t j = 0; j < n; j++) {
        FILE *f = fopen(paths[j], "re");
        assert_non_null(f);
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0 && line[len - 1] == '\n' &&
               !memchr(line, 0, (size_t)len)) {
            if (strncmp(line, "{\"anchor\"", 9) == 0 || strncmp(line, "{\"seal\"", 7) == 0)
                continue;
            line[len - 1] = '\0';
            json_t *o = json_loads(line, 0, NULL);
            assert_non_null(o);
            assert_int_equal(json_integer_value(json_object_get(o, "seq")), d->n + 1);
            json_decref(o);
            if (d->n == d->cap) {
                d->cap = d->cap ? d->cap * 2 : 256;
                d->lines = realloc(d->lines, d->cap * sizeof(char *));
                assert_non_null(d->lines);
            }
            d->lines[d->n++] = strdup(line);
        }
        free(line);
        fclose(f);
    }
    cst_audit_segments_free(paths, n);
}

/* What a sink delivered for one stream, in arrival order: the entries' JSON texts. Checks that
 * nothing is skipped and order is kept (a repeat, at-least-once, must be the same bytes), and
 * that each text is the segment's line byte for byte. Returns the highest seq delivered. */
static size_t check_order(const char *sink, int stream, char **got, size_t n, const disk *d)
{
    size_t max = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loads(got[i], 0, NULL);
        assert_non_null(o);
        size_t seq = (size_t)json_integer_value(json_object_get(o, "seq"));
        json_decref(o);
        if (seq > max + 1)
            fail_msg("%s %s: entry %zu arrived after %zu: %zu to %zu were skipped", sink,
                     cst_audit_stream_names[stream], seq, max, max + 1, seq - 1);
        assert_true(seq >= 1 && seq <= d->n);
        if (strcmp(got[i], d->lines[seq - 1]) != 0)
            fail_msg("%s %s entry %zu differs from the segment's line:\n%s\n%s", sink,
                     cst_audit_stream_names[stream], seq, got[i], d->lines[seq - 1]);
        if (seq == max + 1)
            max = seq;
    }
    return max;
}

/* RFC 5424: "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG"; returns MSG (borrowed)
 * and the stream MSGID names; checks PRI against the entry's outcome (facility 13). */
static const char *parse_5424(const char *m, int *stream)
{
    int pri = -1, used = 0;
    assert_int_equal(sscanf(m, "<%d>1 %n", &pri, &used), 1);
    assert_true(used > 0);
    const char *p = m + used;
    char field[6][300];
    for (int i = 0; i < 6; i++) { /* TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD */
        const char *sp = strchr(p, ' ');
        assert_non_null(sp);
        assert_true(sp > p && (size_t)(sp - p) < sizeof(field[i]));
        memcpy(field[i], p, (size_t)(sp - p));
        field[i][sp - p] = '\0';
        p = sp + 1;
    }
    int64_t t;
    assert_true(cst_time_parse(field[0], &t));
    assert_string_equal(field[2], "custodia");
    assert_string_equal(field[3], "-");
    assert_string_equal(field[5], "-");
    *stream = strcmp(field[4], "security") == 0 ? 0 : strcmp(field[4], "access") == 0 ? 1 : -1;
    assert_true(*stream >= 0);
    json_t *o = json_loads(p, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "time")), field[0]);
    const char *outcome = json_string_value(json_object_get(o, "outcome"));
    int sev = strcmp(outcome, "success") == 0 ? 6 : strcmp(outcome, "denied") == 0 ? 4 : 5;
    assert_int_equal(pri, 13 * 8 + sev);
    json_decref(o);
    return p;
}

typedef struct got {
    char **t[2];
    size_t n[2];
} got;

static void got_free(got *g)
{
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < g->n[s]; i++)
            free(g->t[s][i]);
        free(g->t[s]);
    }
    memset(g, 0, sizeof(*g));
}

static void got_add(got *g, int s, const char *text)
{
    g->t[s] = realloc(g->t[s], (g->n[s] + 1) * sizeof(char *));
    assert_non_null(g->t[s]);
    g->t[s][g->n[s]++] = strdup(text);
}

static void from_receiver(syslog_receiver *r, got *g)
{
    size_t n = syslog_receiver_count(r);
    for (size_t i = 0; i < n; i++) {
        char *m = syslog_receiver_message(r, i);
        int s;
        const char *msg = parse_5424(m, &s);
        got_add(g, s, msg);
        free(m);
    }
}

/* {"stream":NAME,"entry":LINE} per line: LINE is cut out as it stands, byte for byte. */
static void from_command(const char *path, got *g)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0 && line[len - 1] == '\n') {
        line[len - 1] = '\0';
        int s = strncmp(line, "{\"stream\":\"security\",\"entry\":", 29) == 0 ? 0 : 1;
        const char *pre =
            s == 0 ? "{\"stream\":\"security\",\"entry\":" : "{\"stream\":\"access\",\"entry\":";
        assert_int_equal(strncmp(line, pre, strlen(pre)), 0);
        assert_true(len > (ssize_t)strlen(pre) + 1 && line[len - 2] == '}');
        line[len - 2] = '\0';
        got_add(g, s, line + strlen(pre));
    }
    free(line);
    fclose(f);
}

/* Waits (bounded) until both sinks (r NULL: the command alone) delivered every entry the
 * segments hold, checking order and bytes at every look. */
static void wait_all_shipped(ts_server *s, syslog_receiver *r, const char *jsonl)
{
    bool done = false;
    for (int tries = 0; tries < 300 && !done; tries++) {
        disk d[2];
        got g[2];
        memset(d, 0, sizeof(d));
        memset(g, 0, sizeof(g));
        if (r)
            from_receiver(r, &g[0]);
        from_command(jsonl, &g[1]);
        done = true;
        for (int st = 0; st < 2; st++) {
            disk_read(s, st, &d[st]);
            size_t a = r ? check_order("syslog", st, g[0].t[st], g[0].n[st], &d[st]) : d[st].n;
            size_t b = check_order("command", st, g[1].t[st], g[1].n[st], &d[st]);
            done &= a == d[st].n && b == d[st].n && d[st].n > 0;
        }
        for (int i = 0; i < 2; i++) {
            disk_free(&d[i]);
            got_free(&g[i]);
        }
        if (!done)
            usleep(100000);
    }
    if (!done)
        ts_sh("tail -n 30 %s/serve.log >&2", s->root);
    assert_true(done);
    assert_true(!r || syslog_receiver_bad_frames(r) == 0);
}

static void some_traffic(ts_server *s, const char *token, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char key[32], val[32];
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "\"v%d\"", i);
        assert_int_equal(ts_put(s, token, "b", key, "application/json", val, strlen(val)), 201);
    }
}

/* Backups do not carry the segments: the manifest says where they went, and a whole-node
 * restore reports it. */
static void check_backup_says_where_audit_went(ts_server *s, const char *op)
{
    ts_resp r;
    ts_request(s, "POST", "/v1/sys/backups", op, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 201);
    const char *loc = json_string_value(json_object_get(r.json, "location"));
    assert_non_null(loc);
    char out[400], target[400], config[500];
    snprintf(out, sizeof(out), "%s/restore.json", s->root);
    snprintf(target, sizeof(target), "%s/restored", s->root);
    ts_dir_config_arg(target, config, sizeof(config)); /* PostgreSQL: a database of its own */
    assert_int_equal(ts_sh("'%s' backup restore --from '%s' --data-dir '%s' --master-key-file '%s' "
                           "--seal-key-out '%s/k0-restored.key' --json%s > '%s'",
                           getenv("CUSTODIA_BIN"), loc, target, s->key_file, s->root, config, out),
                     0);
    ts_resp_free(&r);
    json_t *rep = json_load_file(out, 0, NULL);
    assert_non_null(rep);
    json_t *a = json_object_get(rep, "source_audit");
    assert_true(json_is_false(json_object_get(a, "carried")));
    json_int_t last = json_integer_value(
        json_object_get(json_object_get(json_object_get(a, "streams"), "security"), "last_seq"));
    json_t *to = json_object_get(a, "shipped_to");
    assert_int_equal(json_array_size(to), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *sink = json_array_get(to, i);
        assert_string_equal(json_string_value(json_object_get(sink, "sink")),
                            i == 0 ? "syslog" : "command");
        json_int_t acked =
            json_integer_value(json_object_get(json_object_get(sink, "acked"), "security"));
        assert_true(acked >= 1 && acked <= last);
    }
    json_decref(rep);
}

static syslog_receiver rcv; /* static: it holds what it recorded */

/* The value of custodia_audit_ship_lag_entries for sink and stream in a scrape of /metrics (from
 * loopback, no token); -1 when the sample is absent. */
static double ship_lag(ts_server *s, const char *sink, const char *stream)
{
    ts_resp r;
    ts_request(s, "GET", "/metrics", NULL, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    char want[160];
    snprintf(want, sizeof(want), "custodia_audit_ship_lag_entries{sink=\"%s\",stream=\"%s\"} ",
             sink, stream);
    const char *at = r.body ? strstr(r.body, want) : NULL;
    double v = at ? strtod(at + strlen(want), NULL) : -1;
    ts_resp_free(&r);
    return v;
}

static void test_ship_syslog_and_command_in_order_across_restarts(void **state)
{
    (void)state;
    ts_server s = {0};
    ts_init(&s);
    char cert[400], key[400], jsonl[400];
    snprintf(cert, sizeof(cert), "%s/tls/cert.pem", s.data_dir);
    snprintf(key, sizeof(key), "%s/tls/key.pem", s.data_dir);
    snprintf(jsonl, sizeof(jsonl), "%s/shipped.jsonl", s.root);
    /* the receiver presents the node's own self-signed certificate (valid for 127.0.0.1) */
    assert_true(syslog_receiver_start(&rcv, 0, cert, key));
    snprintf(s.extra_config, sizeof(s.extra_config),
             "[audit]\nsyslog_url = tls://127.0.0.1:%d\nsyslog_ca_file = %s\n"
             "ship_command = cat >> '%s'\nseal_seconds = 1\nsegment_seconds = 1\n"
             "[node]\nsandbox_write_paths = %s\n", /* the sandbox: where the sink writes */
             rcv.port, cert, jsonl, s.root);
    char *op = NULL;
    char *owner = ts_start_tenant(&s, &op, "acme", NULL);
    assert_non_null(owner);
    ts_bucket(&s, owner, "b");
    some_traffic(&s, owner, 0, 10);
    wait_all_shipped(&s, &rcv, jsonl);
    check_backup_says_where_audit_went(&s, op);
    /* DET-2: each running sink's lag is a metric */
    assert_true(ship_lag(&s, "syslog", "security") >= 0);
    assert_true(ship_lag(&s, "command", "access") >= 0);

    /* kill -9: what was written after the last acknowledgement goes after the restart */
    some_traffic(&s, owner, 10, 5);
    ts_kill9(&s);
    assert_true(ts_start(&s));
    free(owner);
    owner = ts_login(&s, "acme", "owner", TS_PASSWORD);
    assert_non_null(owner);
    some_traffic(&s, owner, 15, 5);
    wait_all_shipped(&s, &rcv, jsonl);

    /* the receiver goes away; what is written meanwhile arrives when it is back */
    size_t before = syslog_receiver_count(&rcv);
    syslog_receiver_stop(&rcv);
    some_traffic(&s, owner, 20, 10);
    usleep(300000);
    assert_int_equal(syslog_receiver_count(&rcv), before);
    assert_true(syslog_receiver_start(&rcv, rcv.port, cert, key));
    wait_all_shipped(&s, &rcv, jsonl);

    /* a clean stop and start: nothing more than at-least-once, nothing skipped */
    assert_int_equal(ts_stop(&s), 0);
    assert_true(ts_start(&s));
    free(owner);
    owner = ts_login(&s, "acme", "owner", TS_PASSWORD);
    some_traffic(&s, owner, 30, 3);
    wait_all_shipped(&s, &rcv, jsonl);
    assert_int_equal(ts_stop(&s), 0);
    syslog_receiver_stop(&rcv);
    syslog_receiver_free(&rcv);
    free(owner);
    free(op);
    ts_cleanup(&s);
}

/* A command that exits is started again, with backoff; what it left unread in its pipe is sent
 * to the next one: nothing skipped. Until the gate exists it exits at once. */
static void test_ship_command_restarted_when_it_exits(void **state)
{
    (void)state;
    ts_server s = {0};
    ts_init(&s);
    char jsonl[400];
    snprintf(jsonl, sizeof(jsonl), "%s/shipped.jsonl", s.root);
    snprintf(s.extra_config, sizeof(s.extra_config),
             "[audit]\nship_command = test -e '%s/gate' && exec cat >> '%s'\n"
             "[node]\nsandbox_write_paths = %s\n",
             s.root, jsonl, s.root);
    char *op = NULL;
    char *owner = ts_start_tenant(&s, &op, "acme", NULL);
    assert_non_null(owner);
    ts_bucket(&s, owner, "b");
    some_traffic(&s, owner, 0, 5);
    bool retried = false;
    for (int i = 0; i < 100 && !retried; i++) {
        retried =
            ts_sh("test $(grep -c 'audit shipping: started' '%s/serve.log') -ge 2", s.root) == 0;
        if (!retried)
            usleep(100000);
    }
    assert_true(retried);
    assert_false(ts_sh("test -s '%s'", jsonl) == 0); /* nothing could be delivered yet */
    assert_int_equal(ts_sh("touch '%s/gate'", s.root), 0);
    some_traffic(&s, owner, 5, 5);
    wait_all_shipped(&s, NULL, jsonl);
    assert_int_equal(ts_stop(&s), 0);
    free(owner);
    free(op);
    ts_cleanup(&s);
}

static void test_ship_refuses_untrusted_receiver(void **state)
{
    (void)state;
    ts_server s = {0};
    ts_init(&s);
    char cert[400], key[400], ca[400];
    snprintf(cert, sizeof(cert), "%s/other-cert.pem", s.root);
    snprintf(key, sizeof(key), "%s/other-key.pem", s.root);
    snprintf(ca, sizeof(ca), "%s/tls/cert.pem", s.data_dir);
    /* another self-signed certificate for 127.0.0.1: right name, wrong issuer */
    assert_int_equal(cst_tls_selfsigned(cert, key, NULL), CST_OK);
    static syslog_receiver bad;
    assert_true(syslog_receiver_start(&bad, 0, cert, key));
    snprintf(s.extra_config, sizeof(s.extra_config),
             "[audit]\nsyslog_url = tls://127.0.0.1:%d\nsyslog_ca_file = %s\n", bad.port, ca);
    char *op = NULL;
    char *owner = ts_start_tenant(&s, &op, "acme", NULL);
    assert_non_null(owner);
    bool logged = false;
    for (int i = 0; i < 200 && !logged; i++) {
        logged =
            ts_sh("grep -q 'presented a certificate that is refused' '%s/serve.log'", s.root) == 0;
        if (!logged)
            usleep(100000);
    }
    assert_true(logged);
    /* nothing acknowledged: the lag shows it */
    assert_true(ship_lag(&s, "syslog", "security") > 0);
    int failed = 0;
    assert_int_equal(syslog_receiver_handshakes(&bad, &failed), 0);
    assert_true(failed >= 1);
    assert_int_equal(syslog_receiver_count(&bad), 0);
    assert_int_equal(ts_stop(&s), 0);
    syslog_receiver_stop(&bad);
    syslog_receiver_free(&bad);
    free(owner);
    free(op);
    ts_cleanup(&s);
}

static const char *bin(void)
{
    const char *b = getenv("CUSTODIA_BIN");
    return b ? b : "build/custodia";
}

static void test_audit_export_verifies_elsewhere(void **state)
{
    (void)state;
    ts_server s = {0};
    ts_init(&s);
    snprintf(s.extra_config, sizeof(s.extra_config),
             "[audit]\nseal_seconds = 1\nsegment_seconds = 1\n");
    char *op = NULL;
    char *owner = ts_start_tenant(&s, &op, "acme", NULL);
    assert_non_null(owner);
    ts_bucket(&s, owner, "b");
    some_traffic(&s, owner, 0, 5);
    sleep(2); /* a seal and a new segment */
    some_traffic(&s, owner, 5, 5);
    char k0[400];
    snprintf(k0, sizeof(k0), "%s/custodia-audit-k0.key", s.root);
    /* beside the serving node: everything, then a window that starts after the first segment */
    assert_int_equal(ts_sh("'%s' audit export --data-dir '%s' --to '%s/exp'%s >/dev/null", bin(),
                           s.data_dir, s.root, ts_config_arg(&s)),
                     0);
    assert_int_equal(ts_sh("'%s' audit verify --dir '%s/exp' --seal-key '%s'", bin(), s.root, k0),
                     0);
    char since[32];
    cst_time_format(cst_now_us() - 1500000, since);
    assert_int_equal(
        ts_sh("'%s' audit export --data-dir '%s' --since %s --to '%s/win'%s >/dev/null", bin(),
              s.data_dir, since, s.root, ts_config_arg(&s)),
        0);
    assert_int_equal(ts_sh("'%s' audit verify --dir '%s/win' --seal-key '%s'", bin(), s.root, k0),
                     0);
    /* an export into a dir that holds something is refused */
    char err[400];
    snprintf(err, sizeof(err), "%s/export.err", s.root);
    assert_int_not_equal(ts_sh("'%s' audit export --data-dir '%s' --to '%s/exp'%s 2>'%s'", bin(),
                               s.data_dir, s.root, ts_config_arg(&s), err),
                         0);
    if (ts_sh("grep -q 'not empty' '%s'", err) != 0) {
        ts_sh("cat '%s' >&2", err);
        fail_msg("the export was refused for another reason than its non-empty dir");
    }
    assert_int_equal(ts_stop(&s), 0);
    /* away from the node: the copy alone; a changed entry fails, naming it */
    assert_int_equal(ts_sh("mv '%s/exp' '%s/moved' && rm -rf '%s/var'", s.root, s.root, s.root), 0);
    assert_int_equal(ts_sh("'%s' audit verify --dir '%s/moved' --seal-key '%s'", bin(), s.root, k0),
                     0);
    assert_int_equal(ts_sh("f=$(ls '%s/moved/security/' | head -n 1); "
                           "sed -i '0,/\"outcome\":\"success\"/s//\"outcome\":\"failure\"/' "
                           "'%s/moved/security/'$f",
                           s.root, s.root),
                     0);
    assert_int_equal(ts_sh("'%s' audit verify --dir '%s/moved' | grep -q 'FAILED: security stream'",
                           bin(), s.root),
                     0);
    /* and a removed last segment is found missing by the listing */
    assert_int_equal(ts_sh("rm -rf '%s/moved' && mv '%s/win' '%s/w2' && "
                           "rm \"$(ls -d '%s'/w2/access/*.log | tail -n 1)\"",
                           s.root, s.root, s.root, s.root),
                     0);
    assert_int_not_equal(ts_sh("'%s' audit verify --dir '%s/w2' >/dev/null", bin(), s.root), 0);
    free(owner);
    free(op);
    ts_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ship_syslog_and_command_in_order_across_restarts),
        cmocka_unit_test(test_ship_command_restarted_when_it_exits),
        cmocka_unit_test(test_ship_refuses_untrusted_receiver),
        cmocka_unit_test(test_audit_export_verifies_elsewhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
