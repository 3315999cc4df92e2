/* test_api_audit.c: LOG-1, LOG-2, LOG-4 and CHG-1 through the API: every route yields exactly
 * one entry, tenants see their own trail (details decrypted) and nobody else's, operators see
 * it with details sealed, settings and configuration changes carry old and new values, and
 * when the audit log cannot be written requests are refused and change nothing. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>
#include <sodium.h>
#include <cmocka.h>

#include "api/api.h"
#include "harness.h"

static ts_server srv;
static char *op, *sec, *owner_a, *owner_b;
static char tenant_a[32], tenant_b[32];

/* Every entry in the audit files under dir (both streams), in file order. */
static json_t *entries_in(const char *dir)
{
    json_t *all = json_array();
    const char *streams[] = {"security", "access"};
    for (int s = 0; s < 2; s++) {
        char sd[600];
        snprintf(sd, sizeof(sd), "%s/%s", dir, streams[s]);
        DIR *d = opendir(sd);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strstr(de->d_name, ".log"))
                continue;
            char path[900];
            snprintf(path, sizeof(path), "%s/%s", sd, de->d_name);
            FILE *f = fopen(path, "r");
            char *line = NULL;
            size_t cap = 0;
            while (f && getline(&line, &cap, f) > 0) {
                json_t *o = json_loads(line, 0, NULL);
                if (o && json_object_get(o, "hash"))
                    json_array_append(all, o);
                json_decref(o);
            }
            free(line);
            if (f)
                fclose(f);
        }
        closedir(d);
    }
    return all;
}

static char audit_dir[400];

/* The entries under dir carrying request_id. */
static int count_in(const char *dir, const char *rid, char *action, size_t n)
{
    json_t *all = entries_in(dir);
    int count = 0;
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "request_id")), rid) == 0) {
            count++;
            snprintf(action, n, "%s", json_string_value(json_object_get(e, "action")));
        }
    }
    json_decref(all);
    return count;
}

static int count_for(const char *rid, char *action, size_t n)
{
    return count_in(audit_dir, rid, action, n);
}

static int setup(void **state)
{
    ts_init(&srv);
    snprintf(audit_dir, sizeof(audit_dir), "%s/audit", srv.data_dir);
    if (!(owner_a = ts_start_tenant(&srv, &op, "alpha-co", tenant_a)))
        return -1;
    sec = ts_sys_operator(&srv, op, "sec1", "sys-security");
    owner_b = ts_tenant(&srv, op, "beta-co", tenant_b);
    ts_bucket(&srv, owner_a, "walk");
    return 0;
}

static int teardown(void **state)
{
    return ts_finish(&srv, 4, op, sec, owner_a, owner_b);
}

static void fill_path(const cst_route *r, char *out, size_t n)
{
    size_t o = 0;
    for (const char *c = r->pattern; *c && o + 40 < n;) {
        if (*c == '{') {
            const char *v = !strncmp(c, "{name}", 6)  ? "walk"
                            : !strncmp(c, "{key}", 5) ? "k1"
                            : !strncmp(r->pattern, "/v1/sys/tenants/", 16)
                                ? tenant_a
                                : "us_00000000000000000000";
            o += (size_t)snprintf(out + o, n - o, "%s", v);
            c = strchr(c, '}') + 1;
        } else {
            out[o++] = *c++;
        }
    }
    out[o] = '\0';
}

/* LOG-1: every route of the table, called once, leaves exactly one entry with its request id
 * and an action of that route (a new route without auditing fails here). The probes (health,
 * ready, metrics: CST_ROUTE_UNAUDITED): none. */
static void test_log1_every_route_yields_exactly_one_entry(void **state)
{
    int checked = 0, probes = 0;
    for (size_t i = 0; i < cst_api_route_count; i++) {
        const cst_route *r = &cst_api_routes[i];
        char path[256];
        fill_path(r, path, sizeof(path));
        const char *tok = r->perm == CST_PERM_PUBLIC           ? NULL
                          : (r->perm == CST_PERM_SYS_SECURITY) ? sec
                          : (r->perm == CST_PERM_SYS_TENANTS || r->perm == CST_PERM_SYS_OPERATORS)
                              ? op
                              : owner_a;
        char *session = NULL;
        if (r->handler == cst_api_logout) /* a session of its own to end */
            tok = session = ts_login(&srv, "alpha-co", "owner", TS_PASSWORD);
        const char *body = r->body == CST_BODY_NONE     ? NULL
                           : r->body == CST_BODY_RECORD ? "v"
                           : r->body == CST_BODY_BATCH  ? "{\"operations\":[]}"
                                                        : "{}";
        const char *ctype = !body                        ? NULL
                            : r->body == CST_BODY_RECORD ? "text/plain"
                                                         : "application/json";
        ts_resp resp;
        ts_request(&srv, r->method, path, tok, ctype, body, body ? strlen(body) : 0, NULL, &resp);
        char rid[64] = "", action[64] = "";
        assert_true(ts_header(&resp, "X-Request-Id", rid, sizeof(rid)));
        int n = count_for(rid, action, sizeof(action));
        if (r->flags & CST_ROUTE_UNAUDITED) { /* health, ready, metrics */
            assert_int_equal(n, 0);
            probes++;
        } else {
            if (n != 1 || strncmp(action, r->action, strlen(r->action)) != 0)
                fail_msg("%s %s (status %ld): %d entries, action \"%s\", want \"%s\"", r->method,
                         r->pattern, resp.status, n, action, r->action);
            checked++;
        }
        ts_resp_free(&resp);
        free(session);
    }
    fprintf(stderr, "route walk: %d routes, one entry each\n", checked);
    assert_int_equal(probes, 3);
    assert_int_equal(checked, (int)cst_api_route_count - probes);
    ts_bucket(&srv, owner_a, "walk"); /* the walk deleted it */
}

/* LOG-1: authentication decisions are entries of their own kind. */
static void test_log1_authentication_decisions(void **state)
{
    ts_resp r;
    char rid[64], action[64];
    ts_json_req(
        &srv, "POST", "/v1/auth/login", NULL,
        "{\"tenant\":\"alpha-co\",\"username\":\"owner\",\"password\":\"Wrong-Password-1234\"}",
        &r);
    assert_int_equal(r.status, 401);
    assert_true(ts_header(&r, "X-Request-Id", rid, sizeof(rid)));
    assert_int_equal(count_for(rid, action, sizeof(action)), 1);
    assert_string_equal(action, "auth.login.failure");
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/buckets", "cst_00000000000000000000_AAAA", NULL, NULL, 0, NULL,
               &r);
    assert_int_equal(r.status, 401);
    assert_true(ts_header(&r, "X-Request-Id", rid, sizeof(rid)));
    assert_int_equal(count_for(rid, action, sizeof(action)), 1);
    assert_string_equal(action, "bucket.list");
    ts_resp_free(&r);
}

static json_t *get_json(const char *path, const char *tok, long want)
{
    ts_resp r;
    ts_request(&srv, "GET", path, tok, NULL, NULL, 0, NULL, &r);
    if (r.status != want)
        fprintf(stderr, "GET %s: %ld %s\n", path, r.status, r.body ? r.body : "");
    assert_int_equal(r.status, want);
    json_t *o = json_incref(r.json);
    ts_resp_free(&r);
    return o;
}

/* LOG-4: the paging cursor is client input, parsed strictly: digits only in each of its three
 * fields, the whole value consumed, each field in range. The old sscanf("%lld-%d-%llu") took
 * a negative time, a sign, leading space and a negative sequence (which wrapped). */
static void test_log4_malformed_cursor_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "12abc",
        "-1",
        "99999999999999999999",
        "-1-0-1",
        "1-0--1",
        "%2B1-0-1",
        "1-%2B0-1",
        "%201-0-1",
        "1-0-1x",
        "1-0-1-2",
        "1-9-1",
        "1--1-1",
        "1-0-",
        "-0-1",
        "99999999999999999999-0-1",
        "1-0-99999999999999999999",
        "1-0-0x10",
        "9223372036854775808-0-1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char path[160];
        snprintf(path, sizeof(path), "/v1/audit?limit=2&after=%s", bad[i]);
        ts_resp r;
        ts_request(&srv, "GET", path, owner_a, NULL, NULL, 0, NULL, &r);
        if (r.status != 400)
            fprintf(stderr, "after=%s: %ld %s\n", bad[i], r.status, r.body ? r.body : "");
        assert_int_equal(r.status, 400);
        assert_non_null(r.body);
        assert_non_null(strstr(r.body, "after must be a cursor"));
        ts_resp_free(&r);
    }
    /* the boundaries still page: the largest time and sequence, and a cursor returned as next */
    json_t *edge = get_json("/v1/audit?limit=2&after=9223372036854775807-0-18446744073709551615",
                            owner_a, 200);
    assert_int_equal(json_array_size(json_object_get(edge, "entries")), 0);
    json_decref(edge);
    json_t *p1 = get_json("/v1/audit?limit=1", owner_a, 200);
    const char *next = json_string_value(json_object_get(p1, "next"));
    assert_non_null(next);
    char path[160];
    snprintf(path, sizeof(path), "/v1/audit?limit=1&after=%s", next);
    json_t *p2 = get_json(path, owner_a, 200);
    assert_int_equal(json_array_size(json_object_get(p2, "entries")), 1);
    json_decref(p1);
    json_decref(p2);
}

/* LOG-4: the tenant reads its own trail with details decrypted, and nothing of another
 * tenant; an auditor may, a reader may not; operators see it with details sealed. */
static void test_log4_tenant_sees_own_trail_only(void **state)
{
    assert_int_equal(ts_put(&srv, owner_a, "walk", "Patient%20Alice", "text/plain", "x", 1), 201);
    ts_bucket(&srv, owner_b, "bravo");
    assert_int_equal(ts_put(&srv, owner_b, "bravo", "b-secret", "text/plain", "y", 1), 201);

    char *auditor =
        ts_user_create(&srv, owner_a, "alpha-co", "aud1", "[\"auditor\"]", NULL, false, NULL);
    char *reader =
        ts_user_create(&srv, owner_a, "alpha-co", "rdr1", "[\"reader\"]", "[\"*\"]", false, NULL);
    json_t *reader_view = get_json("/v1/audit", reader, 403);
    json_decref(reader_view);

    for (int who = 0; who < 2; who++) {
        json_t *o = get_json("/v1/audit?limit=1000", who ? auditor : owner_a, 200);
        json_t *entries = json_object_get(o, "entries");
        assert_true(json_array_size(entries) > 5);
        bool saw_key = false, saw_creation = false;
        size_t i;
        json_t *e;
        json_array_foreach(entries, i, e)
        {
            assert_string_equal(json_string_value(json_object_get(e, "tenant")), tenant_a);
            const char *k =
                json_string_value(json_object_get(json_object_get(e, "details"), "key"));
            saw_key |= k && strcmp(k, "Patient Alice") == 0;
            /* its creation too: the entry's detail sealed under the new tenant's own key,
             * read inside the creating request's unit of work */
            const char *name =
                json_string_value(json_object_get(json_object_get(e, "details"), "name"));
            saw_creation |=
                strcmp(json_string_value(json_object_get(e, "action")), "sys.tenant.create") == 0 &&
                name && strcmp(name, "alpha-co") == 0;
        }
        assert_true(saw_key);
        assert_true(saw_creation);
        json_decref(o);
    }
    /* RET-4, LOG-4: the creation's detail is sealed under the tenant's own key (kv > 0), so
     * that its erase makes it unreadable, not under the node's (kv 0) */
    json_t *raw = entries_in(audit_dir);
    int creations = 0;
    size_t ri;
    json_t *re;
    json_array_foreach(raw, ri, re)
    {
        const char *t = json_string_value(json_object_get(re, "tenant"));
        if (strcmp(json_string_value(json_object_get(re, "action")), "sys.tenant.create") != 0 ||
            !t || strcmp(t, tenant_a) != 0)
            continue;
        creations++;
        assert_true(json_integer_value(json_object_get(json_object_get(re, "detail"), "kv")) > 0);
    }
    assert_int_equal(creations, 1);
    json_decref(raw);
    /* paging: limit 2, then the cursor */
    json_t *p1 = get_json("/v1/audit?limit=2", owner_a, 200);
    const char *next = json_string_value(json_object_get(p1, "next"));
    assert_non_null(next);
    char path[160];
    snprintf(path, sizeof(path), "/v1/audit?limit=2&after=%s", next);
    json_t *p2 = get_json(path, owner_a, 200);
    assert_int_equal(json_array_size(json_object_get(p2, "entries")), 2);
    assert_false(json_equal(json_array_get(json_object_get(p1, "entries"), 1),
                            json_array_get(json_object_get(p2, "entries"), 0)));
    json_decref(p1);
    json_decref(p2);

    /* the operator's view: the same entries, details sealed */
    snprintf(path, sizeof(path), "/v1/sys/audit?limit=1000&tenant=%s", tenant_a);
    json_t *ov = get_json(path, sec, 200);
    size_t i;
    json_t *e;
    int sealed = 0;
    json_array_foreach(json_object_get(ov, "entries"), i, e)
    {
        assert_string_equal(json_string_value(json_object_get(e, "tenant")), tenant_a);
        assert_null(json_object_get(e, "details"));
        sealed += json_is_true(json_object_get(e, "details_sealed"));
    }
    assert_true(sealed > 0);
    json_decref(ov);
    /* a sys-admin is not a sys-security operator */
    json_decref(get_json("/v1/sys/audit", op, 403));
    free(auditor);
    free(reader);
}

/* CHG-1: a settings change records old and new values; a restart with a changed configuration
 * records the hash and each changed key. */
static void test_chg1_settings_and_config_changes(void **state)
{
    assert_int_equal(
        ts_status(&srv, "PATCH", "/v1/tenant", owner_a, "{\"session_idle_seconds\":600}", NULL, 0),
        200);
    json_t *o = get_json("/v1/audit?limit=1000", owner_a, 200);
    bool found = false;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "entries"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "action")), "tenant.settings.change"))
            continue;
        json_t *d = json_object_get(e, "details");
        found = json_integer_value(
                    json_object_get(json_object_get(d, "new"), "session_idle_seconds")) == 600 &&
                json_object_get(json_object_get(d, "old"), "session_idle_seconds") == NULL;
    }
    assert_true(found);
    json_decref(o);

    assert_int_equal(ts_stop(&srv), 0);
    snprintf(srv.extra_config, sizeof(srv.extra_config), "[auth]\nlockout_threshold = 5\n");
    assert_true(ts_start(&srv));
    free(sec);
    sec = ts_login(&srv, "_sys", "sec1", TS_PASSWORD);
    assert_non_null(sec);
    o = get_json("/v1/sys/audit?limit=1000", sec, 200);
    int starts = 0;
    json_t *last = NULL;
    json_array_foreach(json_object_get(o, "entries"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "action")), "node.start") == 0) {
            starts++;
            last = e;
        }
    }
    assert_int_equal(starts, 2);
    json_t *ch = json_object_get(json_object_get(json_object_get(last, "info"), "changes"),
                                 "auth.lockout_threshold");
    assert_int_equal(json_integer_value(json_object_get(ch, "old")), 6);
    assert_int_equal(json_integer_value(json_object_get(ch, "new")), 5);
    assert_int_equal(
        strlen(json_string_value(json_object_get(json_object_get(last, "info"), "config_sha256"))),
        64);
    json_decref(o);
}

/* LOG-2 on the live node: the API verifies with K0, and so does the CLI beside it. */
static void test_log2_verify_endpoint_and_cli(void **state)
{
    char k0path[400];
    snprintf(k0path, sizeof(k0path), "%s/custodia-audit-k0.key", srv.root);
    FILE *f = fopen(k0path, "rb");
    assert_non_null(f);
    unsigned char k0[32];
    assert_int_equal(fread(k0, 1, 32, f), 32);
    fclose(f);
    char b64[64], body[128];
    sodium_bin2base64(b64, sizeof(b64), k0, 32, sodium_base64_VARIANT_ORIGINAL);
    snprintf(body, sizeof(body), "{\"seal_key\":\"%s\"}", b64);
    ts_resp r;
    ts_json_req(&srv, "POST", "/v1/sys/audit/verify", sec, body, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "ok")));
    assert_true(json_is_true(json_object_get(r.json, "seals_checked")));
    ts_resp_free(&r);
    assert_int_equal(ts_status(&srv, "POST", "/v1/sys/audit/verify", sec,
                               "{\"seal_key\":\"c2hvcnQ=\"}", NULL, 0),
                     400);
    assert_int_equal(ts_sh("%s audit verify --data-dir %s --seal-key %s%s >/dev/null",
                           getenv("CUSTODIA_BIN"), srv.data_dir, k0path, ts_config_arg(&srv)),
                     0);
}

/* LOG-4: no record key, value or username in the clear in any audit file. */
static void test_log4_no_customer_data_in_audit_files(void **state)
{
    const char *canary = "Kx9AuditCanaryQ2";
    char key[64], user[64];
    snprintf(key, sizeof(key), "key-%s", canary);
    snprintf(user, sizeof(user), "u%s", canary);
    assert_int_equal(ts_put(&srv, owner_a, "walk", key, "text/plain", canary, strlen(canary)), 201);
    char *u = ts_user_create(&srv, owner_a, "alpha-co", user, "[\"reader\"]", NULL, false, NULL);
    free(u);
    char hex[64];
    sodium_bin2hex(hex, sizeof(hex), (const unsigned char *)canary, strlen(canary));
    assert_int_not_equal(ts_sh("grep -rqa -e %s -e %s %s", canary, hex, audit_dir), 0);
    /* and the scanner finds it where it is */
    assert_int_equal(ts_sh("echo %s > %s/probe.txt && grep -rqa %s %s && rm %s/probe.txt", canary,
                           srv.root, canary, srv.root, srv.root),
                     0);
}

/* LOG-1 fail closed: with the audit segment removed, reads and writes are refused with 503
 * audit_unavailable and the record store is unchanged. */
static void test_log1_audit_file_removed_fails_closed(void **state)
{
    assert_int_equal(ts_put(&srv, owner_a, "walk", "kept", "text/plain", "old", 3), 201);
    assert_int_equal(ts_sh("rm %s/access/*.log", audit_dir), 0);
    ts_resp r;
    ts_request(&srv, "PUT", "/v1/buckets/walk/records/kept", owner_a, "text/plain", "new", 3, NULL,
               &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(ts_err(&r), "audit_unavailable");
    ts_resp_free(&r);
    ts_request(&srv, "PUT", "/v1/buckets/walk/records/refused", owner_a, "text/plain", "n", 1, NULL,
               &r);
    assert_int_equal(r.status, 503);
    ts_resp_free(&r);
    ts_request(&srv, "GET", "/v1/buckets/walk/records/kept", owner_a, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 503); /* no read without its entry */
    assert_null(strstr(r.body ? r.body : "", "old"));
    ts_resp_free(&r);
    /* restart: the stream starts a new segment; the store holds what it held */
    assert_int_equal(ts_stop(&srv), 0);
    assert_true(ts_start(&srv));
    ts_request(&srv, "GET", "/v1/buckets/walk/records/kept", owner_a, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 3);
    assert_memory_equal(r.body, "old", 3);
    ts_resp_free(&r);
    assert_int_equal(
        ts_status(&srv, "GET", "/v1/buckets/walk/records/refused", owner_a, NULL, NULL, 0), 404);
    /* and verification reports the loss */
    assert_int_not_equal(ts_sh("%s audit verify --data-dir %s%s >/dev/null", getenv("CUSTODIA_BIN"),
                               srv.data_dir, ts_config_arg(&srv)),
                         0);
}

/* LOG-1 fail closed on a full audit disk: a 192 KiB tmpfs for audit.dir alone. */
static void test_log1_full_audit_disk_fails_closed(void **state)
{
    ts_server s2;
    ts_init(&s2);
    char fs[400];
    snprintf(fs, sizeof(fs), "%s/auditfs", s2.root);
    assert_int_equal(ts_sh("mkdir -p %s", fs), 0);
    if (getenv("TS_NO_MOUNT") || mount("tmpfs", fs, "tmpfs", 0, "size=192k,mode=0700") != 0) {
        fprintf(stderr, "SKIPPED: cannot mount a tmpfs here (needs root); the removed-file "
                        "test covers fail-closed\n");
        ts_cleanup(&s2);
        skip();
    }
    snprintf(s2.extra_config, sizeof(s2.extra_config), "[audit]\ndir = %s\n", fs);
    assert_true(ts_start(&s2));
    char *o = ts_operator(&s2);
    char *w = ts_tenant(&s2, o, "full-audit", NULL);
    ts_bucket(&s2, w, "b");
    int acked = 0, refused = -1;
    char path[64], val[32];
    for (int i = 0; i < 5000 && refused < 0; i++) {
        snprintf(path, sizeof(path), "/v1/buckets/b/records/r%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        ts_resp r;
        ts_request(&s2, "PUT", path, w, "text/plain", val, strlen(val), NULL, &r);
        if (r.status == 201)
            acked++;
        else {
            assert_int_equal(r.status, 503);
            assert_string_equal(ts_err(&r), "audit_unavailable");
            refused = i;
        }
        ts_resp_free(&r);
    }
    assert_true(acked > 0 && refused > 0);
    /* space returns: the refused record was never stored, the others are intact */
    assert_int_equal(ts_sh("mount -o remount,size=16m %s", fs), 0);
    ts_resp r;
    snprintf(path, sizeof(path), "/v1/buckets/b/records/r%d", refused);
    ts_request(&s2, "GET", path, w, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 404);
    ts_resp_free(&r);
    ts_request(&s2, "GET", "/v1/buckets/b/records/r0", w, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, "v0", 2);
    ts_resp_free(&r);
    fprintf(stderr, "full audit disk: %d writes acknowledged, then 503 audit_unavailable\n", acked);
    assert_int_equal(ts_stop(&s2), 0);
    char cmd[900];
    snprintf(cmd, sizeof(cmd), "%s audit verify --data-dir %s --config %s/custodia.ini >/dev/null",
             getenv("CUSTODIA_BIN"), s2.data_dir, s2.root);
    assert_int_equal(ts_sh("%s", cmd), 0);
    umount2(fs, MNT_DETACH);
    free(o);
    free(w);
    ts_cleanup(&s2);
}

/* LOG-1 with audit.read_durability = batched (issue 14): the node warns at start-up; a read is
 * answered with its entry in the log; when the log cannot be written, the read is refused and
 * then so is every request - a write, and a request whose stream is intact - until the log is
 * writable again; the log then verifies. (With durable reads the intact stream's request would
 * be served.) */
static void test_log1_batched_reads_stop_traffic_until_writable(void **state)
{
    ts_server s2;
    ts_init(&s2);
    snprintf(s2.extra_config, sizeof(s2.extra_config),
             "[audit]\nread_durability = batched\nflush_interval = 5\n");
    assert_true(ts_start(&s2));
    assert_int_equal(
        ts_sh("grep -q 'WEAKER THAN DEFAULT: audit.read_durability = batched' %s/serve.log",
              s2.root),
        0);
    char dir[400], rid[64], action[64];
    snprintf(dir, sizeof(dir), "%s/audit", s2.data_dir);
    char *o = ts_operator(&s2);
    char *w = ts_tenant(&s2, o, "batched-co", NULL);
    ts_bucket(&s2, w, "b");
    assert_int_equal(ts_put(&s2, w, "b", "k", "text/plain", "v1", 2), 201);
    ts_resp r;
    ts_request(&s2, "GET", "/v1/buckets/b/records/k", w, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(ts_header(&r, "X-Request-Id", rid, sizeof(rid)));
    ts_resp_free(&r);
    assert_int_equal(count_in(dir, rid, action, sizeof(action)), 1); /* written before the answer */
    assert_string_equal(action, "record.read");

    assert_int_equal(ts_sh("for f in %s/access/*.log; do mv $f $f.away; done", dir), 0);
    ts_request(&s2, "GET", "/v1/buckets/b/records/k", w, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(ts_err(&r), "audit_unavailable");
    ts_resp_free(&r);
    ts_request(&s2, "PUT", "/v1/buckets/b/records/k", w, "text/plain", "v2", 2, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(ts_err(&r), "audit_unavailable");
    ts_resp_free(&r);
    ts_request(&s2, "GET", "/v1/buckets", w, NULL, NULL, 0, NULL, &r); /* the security stream */
    assert_int_equal(r.status, 503);
    assert_string_equal(ts_err(&r), "audit_unavailable");
    ts_resp_free(&r);

    assert_int_equal(ts_sh("for f in %s/access/*.away; do mv $f ${f%%.away}; done", dir), 0);
    long status = 0;
    for (int i = 0; i < 3000 && status != 200; i++) { /* until the flusher finds it writable */
        status = ts_status(&s2, "GET", "/v1/buckets/b/records/k", w, NULL, NULL, 0);
        if (status != 200) {
            assert_int_equal(status, 503);
            usleep(10000);
        }
    }
    assert_int_equal(status, 200);
    assert_int_equal(ts_put(&s2, w, "b", "k3", "text/plain", "v3", 2), 201);
    assert_int_equal(ts_stop(&s2), 0);
    assert_int_equal(ts_sh("%s audit verify --data-dir %s%s >/dev/null", getenv("CUSTODIA_BIN"),
                           s2.data_dir, ts_config_arg(&s2)),
                     0);
    free(o);
    free(w);
    ts_cleanup(&s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log1_every_route_yields_exactly_one_entry),
        cmocka_unit_test(test_log1_authentication_decisions),
        cmocka_unit_test(test_log4_tenant_sees_own_trail_only),
        cmocka_unit_test(test_log4_malformed_cursor_refused),
        cmocka_unit_test(test_chg1_settings_and_config_changes),
        cmocka_unit_test(test_log2_verify_endpoint_and_cli),
        cmocka_unit_test(test_log4_no_customer_data_in_audit_files),
        cmocka_unit_test(test_log1_audit_file_removed_fails_closed),
        cmocka_unit_test(test_log1_full_audit_disk_fails_closed),
        cmocka_unit_test(test_log1_batched_reads_stop_traffic_until_writable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
