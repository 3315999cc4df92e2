/* harness.c: start/stop a real server and talk HTTPS to it. */
#include "harness.h"

#include <curl/curl.h>
#include <dirent.h>
#include <unistd.h>
#include <liboath/oath.h>
#include <sqlite3.h>
#include <time.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "node/config.h"
#include "pg_cluster.h"
#include "store_fixture.h"
#include "node/node.h"

static const char *bin(void)
{
    const char *b = getenv("CUSTODIA_BIN");
    return b ? b : "./custodia";
}

int ts_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void init_in_root(ts_server *s);
static void init_in_root_with(ts_server *s, const char *init_args);
static void reg_add(const ts_server *s);
static void reg_forget_stale(const ts_server *s);
static void reg_set_pid(const ts_server *s, pid_t pid);
static bool reg_owns(const ts_server *s);
static void reg_remove(const ts_server *s);

void ts_init(ts_server *s)
{
    reg_forget_stale(s);
    memset(s, 0, sizeof(*s));
    strcpy(s->root, "/tmp/cst-test-XXXXXX");
    assert_non_null(mkdtemp(s->root));
    reg_add(s);
    init_in_root(s);
}

void ts_init_join(ts_server *b, const ts_server *a)
{
    reg_forget_stale(b);
    memset(b, 0, sizeof(*b));
    strcpy(b->root, "/tmp/cst-test-XXXXXX");
    assert_non_null(mkdtemp(b->root));
    reg_add(b);
    snprintf(b->store_root, sizeof(b->store_root), "%s", a->root);
    /* the same master key, copied beside b's data dir (where serve looks by default) */
    assert_int_equal(ts_sh("cp -p %s %s/custodia-master.key", a->key_file, b->root), 0);
    init_in_root_with(b, "--join");
    snprintf(b->op_password, sizeof(b->op_password), "%s", a->op_password);
}

const char *ts_init_small_disk(ts_server *s, unsigned long bytes)
{
    reg_forget_stale(s);
    memset(s, 0, sizeof(*s));
    strcpy(s->root, "/tmp/cst-test-XXXXXX");
    assert_non_null(mkdtemp(s->root));
    reg_add(s);
    char opts[64];
    snprintf(opts, sizeof(opts), "size=%lu,mode=0700", bytes);
    if (!getenv("TS_NO_MOUNT") && mount("tmpfs", s->root, "tmpfs", 0, opts) == 0) {
        s->mounted = true;
        init_in_root(s);
        return "tmpfs (ENOSPC)";
    }
    init_in_root(s);
    s->fsize_limit = bytes;
    return "RLIMIT_FSIZE (EFBIG)";
}

bool ts_pg_tables_on_small_disk(ts_server *s)
{
    if (strcmp(ts_store_driver(), "postgresql") != 0 || !s->mounted)
        return false;
    const char *dsn = ts_store_dsn(s->root), *db = NULL;
    for (const char *p = strstr(dsn, "dbname="); p; p = strstr(p + 1, "dbname="))
        db = p + strlen("dbname="); /* the last dbname wins (ts_store_dsn) */
    assert_non_null(db);
    struct stat pg;
    assert_int_equal(stat(ts_store_pg_dir(), &pg), 0); /* owned by the server's user */
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/pg", s->root);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chown(dir, pg.st_uid, pg.st_gid), 0);
    assert_int_equal(chmod(s->root, 0711), 0); /* the server's user passes through to it */
    assert_int_equal(ts_sh("%s/psql -X -q -v ON_ERROR_STOP=1 '%s' "
                           "-c \"CREATE TABLESPACE small_disk LOCATION '%s'\" "
                           "-c 'ALTER DATABASE %s SET default_tablespace = small_disk'",
                           TS_PG_BIN, dsn, dir, db),
                     0);
    return true;
}

static void init_in_root(ts_server *s)
{
    init_in_root_with(s, "");
}

void ts_init_with(ts_server *s, const char *init_args)
{
    reg_forget_stale(s);
    memset(s, 0, sizeof(*s));
    strcpy(s->root, "/tmp/cst-test-XXXXXX");
    assert_non_null(mkdtemp(s->root));
    reg_add(s);
    init_in_root_with(s, init_args);
}

/* The [store] section of a node of the test driver (store_fixture.h): empty for SQLite; for
 * PostgreSQL a database of the server's own in the test process's throw-away cluster. */
static void store_section(const ts_server *s, char *out, size_t n)
{
    out[0] = '\0';
    if (strcmp(ts_store_driver(), "postgresql") == 0)
        snprintf(out, n, "\n[store]\ndriver = postgresql\ndsn = %s\n",
                 ts_store_dsn(s->store_root[0] ? s->store_root : s->root));
}

const char *ts_config_arg(const ts_server *s)
{
    static __thread char arg[512];
    arg[0] = '\0';
    if (strcmp(ts_store_driver(), "sqlite") != 0)
        snprintf(arg, sizeof(arg), " --config %s/store.ini", s->root);
    return arg;
}

/* Writes the [store] section of the database of db_dir (ts_store_dsn) to path: empty on SQLite. */
static void store_ini_write(const char *db_dir, const char *path)
{
    ts_server s;
    memset(&s, 0, sizeof(s));
    snprintf(s.root, sizeof(s.root), "%s", db_dir);
    char store[700];
    store_section(&s, store, sizeof(store));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(store, f);
    assert_int_equal(fclose(f), 0);
}

static void init_in_root_with(ts_server *s, const char *init_args)
{
    snprintf(s->data_dir, sizeof(s->data_dir), "%s/var", s->root);
    snprintf(s->key_file, sizeof(s->key_file), "%s/custodia-master.key", s->root);
    snprintf(s->cacert, sizeof(s->cacert), "%s/tls/cert.pem", s->data_dir);
    char cmd[4096], store[700], path[400];
    store_section(s, store, sizeof(store));
    snprintf(path, sizeof(path), "%s/store.ini", s->root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(store, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "%s init --data-dir %s --json%s %s", bin(), s->data_dir,
             ts_config_arg(s), init_args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    const char *pw = json_string_value(json_object_get(json_object_get(j, "operator"), "password"));
    assert_true(pw || s->store_root[0]); /* a joining node makes no operator */
    if (pw)
        strcpy(s->op_password, pw);
    json_decref(j);
}

bool ts_start(ts_server *s)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    char ini[400] = "", store[700];
    store_section(s, store, sizeof(store));
    if (s->extra_config[0] || store[0]) {
        snprintf(ini, sizeof(ini), "%s/custodia.ini", s->root);
        FILE *f = fopen(ini, "w");
        assert_non_null(f);
        fputs(s->extra_config, f);
        fputs(store, f); /* last: its section header ends whatever extra_config left open */
        fclose(f);
    }
    char log[400];
    snprintf(log, sizeof(log), "%s/serve.log", s->root);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Should the test process die by a signal (a ctest timeout), its servers die too. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(fds[1], 1);
        int lf = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (lf >= 0)
            dup2(lf, 2);
        close(fds[0]);
        if (s->fsize_limit) {
            struct rlimit rl = {s->fsize_limit, s->fsize_limit};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        if (ini[0])
            execl(bin(), "custodia", "serve", "--data-dir", s->data_dir, "--listen", "127.0.0.1:0",
                  "--config", ini, (char *)NULL);
        else
            execl(bin(), "custodia", "serve", "--data-dir", s->data_dir, "--listen", "127.0.0.1:0",
                  (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    s->pid = pid;
    reg_set_pid(s, pid);
    char line[512];
    size_t got = 0;
    struct pollfd pfd = {fds[0], POLLIN, 0};
    /* Wait up to 20 s for the "serving" line. */
    while (got < sizeof(line) - 1 && poll(&pfd, 1, 20000) > 0) {
        ssize_t r = read(fds[0], line + got, 1);
        if (r <= 0)
            break;
        if (line[got++] == '\n')
            break;
    }
    line[got] = '\0';
    close(fds[0]);
    char *colon = strstr(line, "127.0.0.1:");
    if (!colon) {
        int st;
        waitpid(pid, &st, 0);
        s->pid = 0;
        reg_set_pid(s, 0);
        return false;
    }
    s->port = atoi(colon + 10);
    snprintf(s->base, sizeof(s->base), "https://127.0.0.1:%d", s->port);
    return true;
}

int ts_stop(ts_server *s)
{
    if (!s->pid)
        return -1;
    if (!reg_owns(s)) { /* already killed by ts_teardown after a failed test */
        s->pid = 0;
        return -1;
    }
    kill(s->pid, SIGTERM);
    int st = 0;
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    reg_set_pid(s, 0);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (rc != 0) {
        fprintf(stderr, "server exited with %d; its log:\n", rc);
        ts_sh("tail -n 60 %s/serve.log >&2", s->root);
    }
    return rc;
}

void ts_kill9(ts_server *s)
{
    if (!s->pid)
        return;
    if (reg_owns(s)) {
        kill(s->pid, SIGKILL);
        int st;
        waitpid(s->pid, &st, 0);
    }
    s->pid = 0;
    reg_set_pid(s, 0);
}

/* Set when a server's log showed a bug at clean-up; the group's result counts it. */
static bool cleanup_failed;

void ts_cleanup(ts_server *s)
{
    if (s->pid)
        ts_stop(s);
    /* A store call outside the request's unit of work on a store the work holds is a bug the
     * server refuses and logs (store/sqlite/db.c check_holder): no test may cause one. */
    if (s->root[0] &&
        ts_sh("grep -q 'unit of work holds' '%s/serve.log' 2>/dev/null", s->root) == 0) {
        ts_sh("grep -B2 'unit of work holds' '%s/serve.log' >&2", s->root);
        cleanup_failed = true; /* a group teardown's failure does not count in cmocka's result */
        fail_msg("the server called a store outside the unit of work holding it");
    }
    if (s->mounted)
        umount2(s->root, MNT_DETACH);
    if (s->root[0] && getenv("TS_KEEP")) /* debugging: the root stays for a look */
        fprintf(stderr, "ts: kept %s\n", s->root);
    else if (s->root[0])
        ts_sh("rm -rf '%s'", s->root);
    reg_remove(s);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    ts_resp *r = ud;
    size_t len = size * n;
    char *grown = realloc(r->body, r->len + len + 1);
    if (!grown)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    ts_resp *r = ud;
    size_t len = size * n, used = strlen(r->headers);
    if (used + len < sizeof(r->headers)) {
        memcpy(r->headers + used, p, len);
        r->headers[used + len] = '\0';
    }
    return len;
}

void ts_request(ts_server *s, const char *method, const char *path, const char *token,
                const char *ctype, const void *body, size_t len, const char *const *extra,
                ts_resp *r)
{
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[8192], h[8192];
    snprintf(url, sizeof(url), "%s%s", s->base, path);
    struct curl_slist *hl = NULL;
    if (token) {
        snprintf(h, sizeof(h), "Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, h);
    }
    if (ctype) {
        snprintf(h, sizeof(h), "Content-Type: %s", ctype);
        hl = curl_slist_append(hl, h);
    } else {
        hl = curl_slist_append(hl, "Content-Type:");
    }
    hl = curl_slist_append(hl, "Expect:");
    for (const char *const *e = extra; e && *e; e++)
        hl = curl_slist_append(hl, *e);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, s->cacert);
    curl_easy_setopt(
        c, CURLOPT_CAPATH,
        NULL); /* only the node's certificate: not the system's CAs, parsed per request */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (s->source_ip[0])
        curl_easy_setopt(c, CURLOPT_INTERFACE, s->source_ip);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body || strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    else
        r->status = -(long)rc;
    if ((r->status == 500 || r->status == 503) && !s->told_5xx) {
        /* why, for a failure in CI (ctest shows it then): the server's last errors */
        s->told_5xx = true;
        fprintf(stderr, "ts: %s %s answered %ld; the server's last errors:\n", method, path,
                r->status);
        ts_sh("grep -a '\"level\":\"error\"' '%s/serve.log' | tail -n 3 >&2", s->root);
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (r->body && r->len && r->body[0] == '{')
        r->json = json_loadb(r->body, r->len, 0, NULL);
    ts_openapi_log(method, path, r);
}

void ts_resp_free(ts_resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

void ts_json_req(ts_server *s, const char *method, const char *path, const char *token,
                 const char *json, ts_resp *r)
{
    ts_request(s, method, path, token, "application/json", json, json ? strlen(json) : 0, NULL, r);
}

bool ts_header(const ts_resp *r, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            if (len >= n)
                len = n - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return true;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

const char *ts_err(const ts_resp *r)
{
    const char *c = json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
    return c ? c : "";
}

static void change_password(ts_server *s, const char *token, const char *old)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"current\":\"%s\",\"new\":\"%s\"}", old, TS_PASSWORD);
    ts_resp r;
    ts_json_req(s, "POST", "/v1/auth/password", token, body, &r);
    assert_int_equal(r.status, 204);
    ts_resp_free(&r);
}

ts_user *ts_user_find(ts_server *s, const char *tenant, const char *user)
{
    for (int i = 0; i < s->nusers; i++)
        if (!strcmp(s->users[i].tenant, tenant) && !strcmp(s->users[i].username, user))
            return &s->users[i];
    return NULL;
}

static ts_user *user_record(ts_server *s, const char *tenant, const char *user)
{
    ts_user *u = ts_user_find(s, tenant, user);
    if (!u) {
        assert_true(s->nusers < 32);
        u = &s->users[s->nusers++];
        memset(u, 0, sizeof(*u));
        snprintf(u->tenant, sizeof(u->tenant), "%s", tenant);
        snprintf(u->username, sizeof(u->username), "%s", user);
    }
    return u;
}

/* A code of the current or next step the server has not seen. Never an older step: a 30 s
 * boundary passing during the request would push it out of the server's window. */
static bool next_code(ts_user *u, char code[16], bool wait)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        long long now = (long long)time(NULL) / 30;
        long long step = u->last_step + 1 > now ? u->last_step + 1 : now;
        if (step <= now + 1) {
            assert_int_equal(oath_totp_generate2((const char *)u->secret, 20, (time_t)(step * 30),
                                                 30, 0, 6, 0, code),
                             OATH_OK);
            u->last_step = step;
            return true;
        }
        if (!wait)
            return false;
        sleep((unsigned)(30 - time(NULL) % 30) + 1); /* both codes of the window are used */
    }
    return false;
}

bool ts_next_code(ts_user *u, char code[16])
{
    return next_code(u, code, true);
}

char *ts_login(ts_server *s, const char *tenant, const char *user, const char *pw)
{
    ts_user *u = ts_user_find(s, tenant, user);
    char body[512], code[16];
    bool use_code =
        u && u->has_totp &&
        (next_code(u, code, false) || (u->next_recovery >= 10 && ts_next_code(u, code)));
    if (use_code)
        snprintf(body, sizeof(body),
                 "{\"tenant\":\"%s\",\"username\":\"%s\",\"password\":\"%s\",\"totp\":\"%s\"}",
                 tenant, user, pw, code);
    else if (u && u->has_totp && u->next_recovery < 10)
        snprintf(body, sizeof(body),
                 "{\"tenant\":\"%s\",\"username\":\"%s\",\"password\":\"%s\","
                 "\"recovery_code\":\"%s\"}",
                 tenant, user, pw, u->recovery[u->next_recovery++]);
    else
        snprintf(body, sizeof(body), "{\"tenant\":\"%s\",\"username\":\"%s\",\"password\":\"%s\"}",
                 tenant, user, pw);
    ts_resp r;
    ts_json_req(s, "POST", "/v1/auth/login", NULL, body, &r);
    char *tok = NULL;
    if (r.status == 200)
        tok = strdup(json_string_value(json_object_get(r.json, "token")));
    ts_resp_free(&r);
    return tok;
}

void ts_enrol(ts_server *s, const char *token, const char *tenant, const char *user, const char *pw)
{
    ts_user *u = user_record(s, tenant, user);
    snprintf(u->password, sizeof(u->password), "%s", pw);
    ts_resp r;
    ts_request(s, "POST", "/v1/auth/totp", token, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 201);
    const char *b32 = json_string_value(json_object_get(r.json, "secret"));
    char *raw = NULL;
    size_t rawlen = 0;
    assert_int_equal(oath_base32_decode(b32, strlen(b32), &raw, &rawlen), OATH_OK);
    assert_int_equal(rawlen, 20);
    memcpy(u->secret, raw, 20);
    free(raw);
    json_t *codes = json_object_get(r.json, "recovery_codes");
    assert_int_equal(json_array_size(codes), 10);
    for (int i = 0; i < 10; i++)
        snprintf(u->recovery[i], sizeof(u->recovery[i]), "%s",
                 json_string_value(json_array_get(codes, (size_t)i)));
    u->next_recovery = 0;
    ts_resp_free(&r);
    u->last_step = 0;
    char code[16], body[64];
    assert_true(ts_next_code(u, code));
    snprintf(body, sizeof(body), "{\"code\":\"%s\"}", code);
    ts_json_req(s, "POST", "/v1/auth/totp/confirm", token, body, &r);
    assert_int_equal(r.status, 200);
    ts_resp_free(&r);
    u->has_totp = true;
}

void ts_first_login(ts_server *s, const char *token, const char *tenant, const char *user,
                    const char *otp, bool enrol)
{
    change_password(s, token, otp);
    ts_user *u = user_record(s, tenant, user);
    snprintf(u->password, sizeof(u->password), "%s", TS_PASSWORD);
    if (enrol)
        ts_enrol(s, token, tenant, user, TS_PASSWORD);
}

char *ts_operator(ts_server *s)
{
    char *tok = ts_login(s, "_sys", "admin", s->op_password);
    if (tok) {
        ts_first_login(s, tok, "_sys", "admin", s->op_password, true);
        return tok;
    }
    tok = ts_login(s, "_sys", "admin", TS_PASSWORD);
    assert_non_null(tok);
    return tok;
}

char *ts_tenant(ts_server *s, const char *op_token, const char *name, char *tenant_id)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"owner\":{\"username\":\"owner\"}}", name);
    ts_resp r;
    ts_json_req(s, "POST", "/v1/sys/tenants", op_token, body, &r);
    assert_int_equal(r.status, 201);
    char pw[64];
    strcpy(pw, json_string_value(json_object_get(json_object_get(r.json, "owner"), "password")));
    if (tenant_id)
        strcpy(tenant_id, json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
    char *tok = ts_login(s, name, "owner", pw);
    assert_non_null(tok);
    ts_first_login(s, tok, name, "owner", pw, true);
    return tok;
}

char *ts_user_create(ts_server *s, const char *admin_token, const char *tenant,
                     const char *username, const char *roles, const char *grants, bool enrol,
                     char *user_id)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"roles\":%s%s%s}", username, roles,
             grants ? ",\"grants\":" : "", grants ? grants : "");
    ts_resp r;
    ts_json_req(s, "POST", "/v1/users", admin_token, body, &r);
    if (r.status != 201)
        fprintf(stderr, "create user %s: %ld %s\n", username, r.status, r.body ? r.body : "");
    assert_int_equal(r.status, 201);
    char pw[64];
    strcpy(pw, json_string_value(json_object_get(r.json, "password")));
    if (user_id)
        strcpy(user_id, json_string_value(json_object_get(r.json, "id")));
    ts_resp_free(&r);
    char *tok = ts_login(s, tenant, username, pw);
    assert_non_null(tok);
    ts_first_login(s, tok, tenant, username, pw, enrol);
    return tok;
}

void ts_bucket(ts_server *s, const char *token, const char *name)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    ts_resp r;
    ts_json_req(s, "POST", "/v1/buckets", token, body, &r);
    assert_int_equal(r.status, 201);
    ts_resp_free(&r);
}

long ts_put(ts_server *s, const char *token, const char *bucket, const char *enc_key,
            const char *ctype, const void *val, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "/v1/buckets/%s/records/%s", bucket, enc_key);
    ts_resp r;
    ts_request(s, "PUT", path, token, ctype, val, len, NULL, &r);
    long st = r.status;
    ts_resp_free(&r);
    return st;
}

char *ts_sys_operator(ts_server *s, const char *admin, const char *username, const char *role)
{
    char body[160];
    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"roles\":[\"%s\"]}", username, role);
    ts_resp r;
    ts_json_req(s, "POST", "/v1/sys/operators", admin, body, &r);
    assert_int_equal(r.status, 201);
    char pw[64];
    strcpy(pw, json_string_value(json_object_get(r.json, "password")));
    ts_resp_free(&r);
    char *tok = ts_login(s, "_sys", username, pw);
    assert_non_null(tok);
    ts_first_login(s, tok, "_sys", username, pw, true);
    return tok;
}

/* ---- The response log: every live response checked against docs/openapi.yaml ----
 * One NDJSON file per test process (a fork()ed child that makes requests gets its own), each
 * line written with one write(2) so that lines never interleave. A body is logged when it is
 * JSON; other bodies (record values, exports) are checked by their content type only. */

static struct {
    pid_t pid;        /* the process the log belongs to */
    char path[512];   /* its NDJSON file */
    unsigned pending; /* lines not yet validated */
    bool at_exit;     /* the exit check is registered */
} oa_log;

static void oa_check_at_exit(void)
{
    if (oa_log.pid == getpid() && ts_openapi_check() != 0) {
        ts_reap_since(0); /* _exit skips the registry's own atexit handler */
        _exit(1);
    }
}

static bool oa_open(void)
{
    if (oa_log.pid == getpid())
        return true;
    const char *dir = getenv("TS_OPENAPI_LOG_DIR");
    dir = dir && *dir ? dir : "/tmp";
    if (ts_sh("mkdir -p '%s'", dir) != 0)
        return false;
    int n = snprintf(oa_log.path, sizeof(oa_log.path), "%s/%s.%d.ndjson", dir,
                     program_invocation_short_name, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(oa_log.path))
        return false;
    unlink(oa_log.path); /* a pid reused from an earlier run */
    oa_log.pid = getpid();
    oa_log.pending = 0;
    if (!oa_log.at_exit)
        oa_log.at_exit = atexit(oa_check_at_exit) == 0;
    return true;
}

void ts_openapi_log(const char *method, const char *path, const ts_resp *r)
{
    if (r->status <= 0)
        return; /* no answer (the connection failed): nothing to check */
    char ctype[256] = "";
    (void)ts_header(r, "Content-Type", ctype, sizeof(ctype));
    bool is_json = strncasecmp(ctype, "application/json", 16) == 0;
    json_t *body = is_json && r->len ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    json_t *line = json_pack("{s:s,s:s,s:i,s:s,s:I,s:b}", "method", method, "path", path, "status",
                             (int)r->status, "content_type", ctype, "bytes", (json_int_t)r->len,
                             "json_invalid", is_json && r->len && !body);
    if (body)
        json_object_set_new(line, "body", body);
    /* json_dumpb into our own buffer: custodia may have replaced jansson's allocator */
    size_t len = line ? json_dumpb(line, NULL, 0, JSON_COMPACT) : 0;
    char *text = len ? malloc(len + 1) : NULL;
    if (text && json_dumpb(line, text, len, JSON_COMPACT) != len) {
        free(text);
        text = NULL;
    }
    json_decref(line);
    if (!text || !oa_open())
        fail_msg("openapi: cannot log the response of %s %s", method, path);
    text[len] = '\n'; /* one write(2) for the whole line */
    int fd = open(oa_log.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, text, len + 1) == (ssize_t)(len + 1);
    if (fd >= 0)
        close(fd);
    free(text);
    if (!ok)
        fail_msg("openapi: cannot append to %s", oa_log.path);
    oa_log.pending++;
}

int ts_openapi_check(void)
{
    if (oa_log.pid != getpid() || oa_log.pending == 0)
        return 0;
    oa_log.pending = 0;
    int rc = ts_sh("node '%s/tests/openapi/validate.mjs' '%s/docs/openapi.yaml' '%s'",
                   CUSTODIA_SOURCE_DIR, CUSTODIA_SOURCE_DIR, oa_log.path);
    if (rc == 0) {
        unlink(oa_log.path);
        return 0;
    }
    /* kept for a look; the next responses go to a fresh file */
    char kept[560];
    (void)snprintf(kept, sizeof(kept), "%s.failed", oa_log.path);
    (void)rename(oa_log.path, kept);
    fprintf(stderr,
            "openapi: %s: responses above do not match docs/openapi.yaml (validate.mjs exit %d; "
            "log kept in %s; exit 127 or a missing package: run scripts/install-deps.sh)\n",
            program_invocation_short_name, rc, kept);
    return 1;
}

/* ---- Harness hygiene: a registry of the servers (and temp dirs) this process started ----
 * A failing cmocka assertion longjmps out of a test past its ts_stop/ts_cleanup. Every
 * ts_init registers its temp dir, ts_start its pid, ts_cleanup unregisters. ts_teardown
 * (installed after every test by ts_run_group_tests, see harness.h) kills with SIGKILL what the
 * test left, unmounts and removes its temp dirs; the group teardown and an atexit handler do
 * the same for whatever remains. The registry holds copies, never pointers into a test's
 * stack, which the longjmp has discarded. */

#define TS_REG_MAX 64

typedef struct ts_reg {
    char root[256];
    pid_t pid;
    unsigned seq; /* order of registration: the servers a test started are after its mark */
} ts_reg;

static ts_reg reg[TS_REG_MAX];
static unsigned reg_seq, reg_mark;
static pid_t reg_owner; /* the test process: a fork()ed child must not reap its parent's */

static ts_reg *reg_find(const char *root)
{
    for (int i = 0; root[0] && i < TS_REG_MAX; i++)
        if (reg[i].seq && strcmp(reg[i].root, root) == 0)
            return &reg[i];
    return NULL;
}

static void reg_atexit(void)
{
    if (getpid() == reg_owner)
        ts_reap_since(0);
}

static void reg_add(const ts_server *s)
{
    if (!reg_owner) {
        reg_owner = getpid();
        atexit(reg_atexit);
    }
    for (int i = 0; i < TS_REG_MAX; i++) {
        if (!reg[i].seq) {
            snprintf(reg[i].root, sizeof(reg[i].root), "%s", s->root);
            reg[i].pid = 0;
            reg[i].seq = ++reg_seq;
            return;
        }
    }
    fail_msg("the harness registry is full (%d servers alive)", TS_REG_MAX);
}

static void reg_set_pid(const ts_server *s, pid_t pid)
{
    ts_reg *e = reg_find(s->root);
    if (e)
        e->pid = pid;
}

/* s still names a live server of this process (ts_teardown may have killed it already). */
static bool reg_owns(const ts_server *s)
{
    ts_reg *e = reg_find(s->root);
    return e && e->pid == s->pid;
}

static void reg_remove(const ts_server *s)
{
    ts_reg *e = reg_find(s->root);
    if (e)
        memset(e, 0, sizeof(*e));
}

/* Unmounts whatever is mounted at or under root (the small-disk tmpfs, a test's own). */
static void unmount_under(const char *root)
{
    size_t n = strlen(root);
    for (int pass = 0; pass < 8; pass++) {
        FILE *m = fopen("/proc/self/mounts", "r");
        if (!m)
            return;
        char line[1024], last[512] = "";
        while (fgets(line, sizeof(line), m)) {
            char *dir = strchr(line, ' ');
            if (!dir)
                continue;
            dir++;
            size_t len = strcspn(dir, " ");
            if (len < sizeof(last) && strncmp(dir, root, n) == 0 &&
                (dir[n] == ' ' || dir[n] == '/'))
                snprintf(last, sizeof(last), "%.*s", (int)len, dir);
        }
        fclose(m);
        if (!last[0] || umount2(last, MNT_DETACH) != 0)
            return; /* the last listed is the deepest: one per pass */
    }
}

static void reg_reap(ts_reg *e)
{
    if (e->pid > 0) {
        fprintf(stderr, "harness: a test left server %d (%s) running: killed; its log ends:\n",
                (int)e->pid, e->root);
        ts_sh("tail -n 20 '%s/serve.log' >&2", e->root);
        kill(e->pid, SIGKILL);
        int st;
        waitpid(e->pid, &st, 0);
    }
    unmount_under(e->root);
    ts_sh("rm -rf '%s'", e->root);
    memset(e, 0, sizeof(*e));
}

void ts_reap_since(unsigned mark)
{
    if (reg_owner && getpid() != reg_owner)
        return;
    for (int i = TS_REG_MAX - 1; i >= 0; i--)
        if (reg[i].seq > mark)
            reg_reap(&reg[i]);
}

static void reg_forget_stale(const ts_server *s)
{
    /* ts_init on a struct whose server was never cleaned up (its test failed without
     * ts_teardown): that server can no longer be reached through s, so it goes now. */
    ts_reg *e = reg_find(s->root);
    if (e)
        reg_reap(e);
}

unsigned ts_mark(void)
{
    return reg_seq;
}

int ts_teardown(void **state)
{
    (void)state;
    ts_reap_since(reg_mark);
    reg_mark = reg_seq;
    return 0;
}

static CMFixtureFunction group_setup, group_teardown;

static int run_group_setup(void **state)
{
    int rc = group_setup ? group_setup(state) : 0;
    reg_mark = reg_seq; /* the group's servers outlive each test */
    return rc;
}

static int run_group_teardown(void **state)
{
    int rc = group_teardown ? group_teardown(state) : 0;
    ts_reap_since(0);
    return rc;
}

int ts_run_group_tests(const char *name, const struct CMUnitTest *tests, size_t n,
                       CMFixtureFunction setup, CMFixtureFunction teardown)
{
    struct CMUnitTest *copy = calloc(n, sizeof(*copy));
    if (!copy)
        return -1;
    for (size_t i = 0; i < n; i++) {
        copy[i] = tests[i];
        if (!copy[i].teardown_func)
            copy[i].teardown_func = ts_teardown; /* a test with its own calls ts_teardown */
    }
    group_setup = setup;
    group_teardown = teardown;
    int rc = _cmocka_run_group_tests(name, copy, n, run_group_setup, run_group_teardown);
    free(copy);
    return rc + ts_openapi_check() + (cleanup_failed ? 1 : 0);
}

int ts_group_alive(pid_t pgid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int alive = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64], st[1024] = "";
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(st, 1, sizeof(st) - 1, f);
        st[n] = '\0';
        fclose(f);
        /* "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses */
        const char *p = strrchr(st, ')');
        if (!p || p[1] != ' ')
            continue;
        char state = p[2];
        char *q = NULL;
        (void)strtol(p + 3, &q, 10); /* ppid */
        long pgrp = q ? strtol(q, NULL, 10) : 0;
        if (pgrp == (long)pgid && state != 'Z' && state != 'X')
            alive++;
    }
    closedir(d);
    return alive;
}

double ts_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- shared set-up, lookups and checks of the API test files ---- */

char *ts_start_tenant(ts_server *s, char **op, const char *name, char *tenant_id)
{
    if (!ts_start(s))
        return NULL;
    *op = ts_operator(s);
    return ts_tenant(s, *op, name, tenant_id);
}

#define FIRST_ACTION                                                                               \
    "f=$(ls %s/audit/security/*.log | head -1) && "                                                \
    "o=$(grep -a -b -o '\"action\":\"' \"$f\" | head -1 | cut -d: -f1) && "

char ts_audit_first_action(ts_server *s)
{
    char path[512], c = 0;
    snprintf(path, sizeof(path), "%s/first-action", s->root);
    assert_int_equal(ts_sh(FIRST_ACTION
                           "dd if=\"$f\" bs=1 skip=$((o + 10)) count=1 status=none > %s",
                           s->data_dir, path),
                     0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fread(&c, 1, 1, f), 1);
    fclose(f);
    return c;
}

void ts_audit_poke_first_action(ts_server *s, char c)
{
    assert_int_equal(ts_sh(FIRST_ACTION "printf '%c' | dd of=\"$f\" bs=1 seek=$((o + 10)) "
                                        "conv=notrunc status=none",
                           s->data_dir, c),
                     0);
}

int ts_setup_operator(ts_server *s, char **op)
{
    ts_init(s);
    if (!ts_start(s))
        return -1;
    *op = ts_operator(s);
    return *op ? 0 : -1;
}

static void node_open(ts_server *s, cst_node *n, bool with_ini)
{
    cst_config cfg;
    cst_config_defaults(&cfg);
    char ini[400];
    snprintf(ini, sizeof(ini), "%s/custodia.ini", s->root);
    if (with_ini)
        assert_int_equal(cst_config_load(&cfg, ini), CST_OK);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", s->data_dir);
    snprintf(cfg.master_key_file, sizeof(cfg.master_key_file), "%s", s->key_file);
    if (strcmp(ts_store_driver(), "postgresql") == 0) {
        assert_int_equal(cst_config_set(&cfg, "store", "driver", "postgresql"), CST_OK);
        assert_int_equal(cst_config_set(&cfg, "store", "dsn",
                                        ts_store_dsn(s->store_root[0] ? s->store_root : s->root)),
                         CST_OK);
    }
    assert_int_equal(cst_config_finish(&cfg), CST_OK);
    assert_int_equal(cst_node_open(n, &cfg), CST_OK);
}

void ts_node_open(ts_server *s, cst_node *n)
{
    node_open(s, n, false);
}

void ts_node_open_config(ts_server *s, cst_node *n)
{
    node_open(s, n, true);
}

int ts_finish(ts_server *s, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        free(va_arg(ap, char *));
    va_end(ap);
    ts_cleanup(s);
    return 0;
}

long ts_status(ts_server *s, const char *method, const char *path, const char *token,
               const char *json, char *code, size_t n)
{
    ts_resp r;
    if (json)
        ts_json_req(s, method, path, token, json, &r);
    else
        ts_request(s, method, path, token, NULL, NULL, 0, NULL, &r);
    long st = r.status;
    if (code)
        snprintf(code, n, "%s", ts_err(&r));
    ts_resp_free(&r);
    return st;
}

void ts_id_by_name(ts_server *s, const char *token, const char *path, const char *list,
                   const char *username, char *id, size_t n)
{
    ts_resp r;
    ts_request(s, "GET", path, token, NULL, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    size_t i;
    json_t *u;
    id[0] = '\0';
    json_array_foreach(json_object_get(r.json, list), i, u)
    {
        if (!strcmp(json_string_value(json_object_get(u, "username")), username))
            snprintf(id, n, "%s", json_string_value(json_object_get(u, "id")));
    }
    ts_resp_free(&r);
    assert_int_not_equal(id[0], '\0');
}

int64_t ts_db_count(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *q = NULL;
    int64_t n = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(h);
    return n;
}

void ts_restart_with_space(ts_server *s)
{
    assert_int_equal(ts_stop(s), 0);
    if (s->mounted)
        assert_int_equal(ts_sh("mount -o remount,size=64m %s", s->root), 0);
    s->fsize_limit = 0;
    assert_true(ts_start(s));
}

int ts_sys_sql(const ts_server *s, const char *sql)
{
    if (strcmp(ts_store_driver(), "postgresql") == 0)
        return ts_sh("%s/psql -X -q -v ON_ERROR_STOP=1 '%s' -c 'SET search_path = custodia_system' "
                     "-c \"%s\" > /dev/null",
                     TS_PG_BIN, ts_store_dsn(s->store_root[0] ? s->store_root : s->root), sql);
    return ts_sh("sqlite3 %s/system.db \"%s\"", s->data_dir, sql);
}

int64_t ts_sys_count(const ts_server *s, const char *sql)
{
    if (strcmp(ts_store_driver(), "postgresql") == 0) {
        char q[2048];
        snprintf(q, sizeof(q), "SET search_path = custodia_system; %s", sql);
        long long n = -1;
        return ts_store_pg_int(s->store_root[0] ? s->store_root : s->root, q, &n) ? n : -1;
    }
    char db[sizeof(s->data_dir) + 16];
    snprintf(db, sizeof(db), "%s/system.db", s->data_dir);
    return ts_db_count(db, sql);
}

void ts_expire_lock(ts_server *s, const char *user_id)
{
    assert_int_equal(ts_stop(s), 0);
    char sql[200];
    snprintf(sql, sizeof(sql),
             "UPDATE users SET locked_until = locked_until - 1801000000 WHERE id = '%s'", user_id);
    assert_int_equal(ts_sys_sql(s, sql), 0);
    assert_true(ts_start(s));
}

/* a field of a report row; dflt when the row is absent */
static const char *report_row_field(json_t *report, const char *id, const char *field,
                                    const char *dflt)
{
    size_t k;
    json_t *row;
    json_array_foreach(json_object_get(report, "controls"), k, row)
    {
        if (!strcmp(json_string_value(json_object_get(row, "id")), id))
            return json_string_value(json_object_get(row, field));
    }
    return dflt;
}

const char *ts_report_status(json_t *report, const char *id)
{
    return report_row_field(report, id, "status", "absent");
}

const char *ts_report_summary(json_t *report, const char *id)
{
    return report_row_field(report, id, "summary", "");
}

json_t *ts_report_evidence(json_t *report, const char *id, const char *name)
{
    size_t k, j;
    json_t *row, *ev;
    json_array_foreach(json_object_get(report, "controls"), k, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "id")), id) != 0)
            continue;
        json_array_foreach(json_object_get(row, "evidence"), j, ev)
        {
            if (!strcmp(json_string_value(json_object_get(ev, "name")), name))
                return json_object_get(ev, "value");
        }
    }
    return NULL;
}

json_t *ts_call(ts_server *s, const char *method, const char *path, const char *token,
                const char *json, long want)
{
    ts_resp r;
    if (json)
        ts_json_req(s, method, path, token, json, &r);
    else
        ts_request(s, method, path, token, NULL, NULL, 0, NULL, &r);
    if (r.status != want)
        fprintf(stderr, "%s %s: %ld (want %ld) %s\n", method, path, r.status, want,
                r.body ? r.body : "");
    assert_int_equal(r.status, want);
    json_t *o = r.json ? json_incref(r.json) : NULL;
    ts_resp_free(&r);
    return o;
}

int ts_count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

void ts_tenant_erased_offline(ts_server *s, const char *tenant_id)
{
    cst_store *st = NULL;
    cst_store_conf sc = {.driver = ts_store_driver(),
                         .data_dir = s->data_dir,
                         .dsn = ts_store_dsn(s->store_root[0] ? s->store_root : s->root)};
    assert_int_equal(cst_store_open_conf(&sc, false, &st), CST_OK);
    assert_int_equal(cst_store_tombstone_add(st, NULL, tenant_id, 1, "ce_00000000000000000001"),
                     CST_OK);
    /* its file (SQLite) or its schema (PostgreSQL) */
    assert_int_equal(cst_tstore_purge(st, CST_TSPACE_LIVE, tenant_id, NULL, NULL), CST_OK);
    cst_store_close(st);
}

/* ---- pg-port-b: whole stores of a node on either driver (backups, restores) ---- */

void ts_dir_config_arg(const char *dir, char *arg, size_t n)
{
    arg[0] = '\0';
    if (strcmp(ts_store_driver(), "postgresql") != 0)
        return;
    char path[1024];
    snprintf(path, sizeof(path), "%s.ini", dir);
    store_ini_write(dir, path);
    snprintf(arg, n, " --config %s", path);
}

bool ts_tenant_store_exists(const char *data_dir, const char *db_dir, const char *tenant_id)
{
    cst_store *st = NULL;
    cst_store_conf sc = {
        .driver = ts_store_driver(), .data_dir = data_dir, .dsn = ts_store_dsn(db_dir)};
    assert_int_equal(cst_store_open_conf(&sc, false, &st), CST_OK);
    bool exists = false;
    assert_int_equal(cst_tstore_exists(st, CST_TSPACE_LIVE, tenant_id, &exists), CST_OK);
    cst_store_close(st);
    return exists;
}

void ts_store_wipe(const ts_server *s)
{
    if (strcmp(ts_store_driver(), "postgresql") != 0) {
        assert_int_equal(ts_sh("rm -rf %s/tenants %s/system.db*", s->data_dir, s->data_dir), 0);
        return;
    }
    const char *dsn = ts_store_dsn(s->store_root[0] ? s->store_root : s->root), *db = NULL;
    for (const char *p = strstr(dsn, "dbname="); p; p = strstr(p + 1, "dbname="))
        db = p + strlen("dbname="); /* the last dbname wins (ts_store_dsn) */
    assert_non_null(db);
    assert_int_equal(ts_sh("%s/psql -X -q -v ON_ERROR_STOP=1 '%s dbname=postgres' "
                           "-c 'DROP DATABASE %s WITH (FORCE)' -c 'CREATE DATABASE %s'",
                           TS_PG_BIN, dsn, db, db),
                     0);
}

/* ---- pg-port-a: helpers of the port of further API test files to PostgreSQL ---- */

const char *ts_store_ini(const char *dir)
{
    static __thread char arg[512];
    char path[300];
    snprintf(path, sizeof(path), "%s/store.ini", dir);
    store_ini_write(dir, path);
    arg[0] = '\0';
    if (strcmp(ts_store_driver(), "sqlite") != 0)
        snprintf(arg, sizeof(arg), " --config %s", path);
    return arg;
}

/* The directory whose PostgreSQL database s uses (a joining node shares its first node's). */
static const char *pg_store_dir(const ts_server *s)
{
    return s->store_root[0] ? s->store_root : s->root;
}

/* PostgreSQL's schema prefix of a tenant store space ("t_" for tenants/, "r_" for retained/). */
static const char *pg_space_prefix(const char *space)
{
    assert_true(!strcmp(space, "tenants") || !strcmp(space, "retained"));
    return strcmp(space, "tenants") == 0 ? "t_" : "r_";
}

int64_t ts_tenant_count(const ts_server *s, const char *space, const char *tenant_id,
                        const char *sql)
{
    char q[2048];
    if (strcmp(ts_store_driver(), "postgresql") == 0) {
        snprintf(q, sizeof(q), "SET search_path = %s%s; %s", pg_space_prefix(space), tenant_id,
                 sql);
        long long n = -1;
        return ts_store_pg_int(pg_store_dir(s), q, &n) ? n : -1;
    }
    snprintf(q, sizeof(q), "%s/%s/%s.db", s->data_dir, space, tenant_id);
    return ts_db_count(q, sql);
}

int ts_tenant_stores(const ts_server *s, const char *space)
{
    char q[400];
    if (strcmp(ts_store_driver(), "postgresql") == 0) {
        snprintf(q, sizeof(q), "SELECT count(*) FROM pg_namespace WHERE left(nspname, 5) = '%stn_'",
                 pg_space_prefix(space));
        long long n = -1;
        return ts_store_pg_int(pg_store_dir(s), q, &n) ? (int)n : -1;
    }
    snprintf(q, sizeof(q), "%s/%s", s->data_dir, space);
    DIR *d = opendir(q);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        n += l > 3 && strcmp(de->d_name + l - 3, ".db") == 0;
    }
    closedir(d);
    return n;
}

/* The database name of dir's DSN (the last dbname: ts_store_dsn) into db, and the DSN of the
 * cluster's maintenance database "postgres" into admin (to drop or copy dir's database). */
static void pg_names(const char *dir, char *db, size_t dn, char *admin, size_t an)
{
    const char *dsn = ts_store_dsn(dir), *last = strstr(dsn, " dbname="), *p = last;
    while (p && (p = strstr(p + 1, " dbname=")) != NULL)
        last = p;
    assert_non_null(last);
    snprintf(db, dn, "%s", last + strlen(" dbname="));
    snprintf(admin, an, "%.*s dbname=postgres", (int)(last - dsn), dsn);
}

void ts_pg_small_disk_release(ts_server *s)
{
    if (strcmp(ts_store_driver(), "postgresql") != 0 || !s->mounted)
        return;
    long long n = 0;
    if (!ts_store_pg_int(pg_store_dir(s),
                         "SELECT count(*) FROM pg_tablespace WHERE spcname = 'small_disk'", &n) ||
        n == 0)
        return;
    char db[64], admin[600];
    pg_names(pg_store_dir(s), db, sizeof(db), admin, sizeof(admin));
    if (s->pid)
        ts_stop(s);
    assert_int_equal(ts_sh("%s/psql -X -q -v ON_ERROR_STOP=1 '%s' -c 'DROP DATABASE %s WITH "
                           "(FORCE)' -c 'DROP TABLESPACE small_disk'",
                           TS_PG_BIN, admin, db),
                     0);
}

/* Reads n bytes from p; false at its end. */
static bool read_exact(FILE *p, void *buf, size_t n)
{
    return fread(buf, 1, n, p) == n;
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* ts_store_rows on PostgreSQL: psql copies the rows out in COPY's binary format (tests reach
 * libpq only through store_fixture.c, which reads integers), parsed here. */
static long pg_rows(const ts_server *s, const char *schema, const char *sql, ts_column_fn fn,
                    void *ctx)
{
    char cmd[3072];
    snprintf(cmd, sizeof(cmd),
             "PGOPTIONS='-c search_path=%s' %s/psql -X -q -v ON_ERROR_STOP=1 '%s' -c "
             "\"COPY (%s) TO STDOUT WITH (FORMAT binary)\"",
             schema, TS_PG_BIN, ts_store_dsn(pg_store_dir(s)), sql);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    uint8_t head[19], b[4];
    long rows = -1;
    if (read_exact(p, head, sizeof(head)) && memcmp(head, "PGCOPY\n\377\r\n", 11) == 0) {
        uint32_t ext = be32(head + 15);
        bool ok = true;
        while (ok && ext-- > 0)
            ok = fgetc(p) != EOF;
        for (rows = 0; ok && read_exact(p, b, 2);) {
            int16_t cols = (int16_t)(b[0] << 8 | b[1]);
            if (cols < 0)
                break; /* the trailer */
            for (int c = 0; ok && c < cols; c++) {
                ok = read_exact(p, b, 4);
                int32_t len = ok ? (int32_t)be32(b) : 0;
                uint8_t *v = malloc(len > 0 ? (size_t)len : 1);
                ok = ok && v && (len <= 0 || read_exact(p, v, (size_t)len));
                if (ok)
                    fn((size_t)rows, c, v, len > 0 ? (size_t)len : 0, ctx);
                free(v);
            }
            rows += ok;
        }
        if (!ok)
            rows = -1;
    }
    if (pclose(p) != 0)
        rows = -1;
    return rows;
}

long ts_store_rows(const ts_server *s, const char *space, const char *tenant_id, const char *sql,
                   ts_column_fn fn, void *ctx)
{
    char db[400];
    if (strcmp(ts_store_driver(), "postgresql") == 0) {
        if (!tenant_id)
            return pg_rows(s, "custodia_system", sql, fn, ctx);
        snprintf(db, sizeof(db), "%s%s", pg_space_prefix(space), tenant_id);
        return pg_rows(s, db, sql, fn, ctx);
    }
    if (tenant_id)
        snprintf(db, sizeof(db), "%s/%s/%s.db", s->data_dir, space, tenant_id);
    else
        snprintf(db, sizeof(db), "%s/system.db", s->data_dir);
    sqlite3 *h = NULL;
    sqlite3_stmt *q = NULL;
    long rows = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK) {
        int rc;
        for (rows = 0; (rc = sqlite3_step(q)) == SQLITE_ROW; rows++)
            for (int c = 0; c < sqlite3_column_count(q); c++) {
                const void *v = sqlite3_column_blob(q, c);
                fn((size_t)rows, c, v, (size_t)sqlite3_column_bytes(q, c), ctx);
            }
        if (rc != SQLITE_DONE)
            rows = -1;
    }
    sqlite3_finalize(q);
    sqlite3_close(h);
    return rows;
}

typedef struct first_blob {
    uint8_t *out;
    size_t cap, len;
    bool fits;
} first_blob;

static void keep_first(size_t row, int col, const uint8_t *b, size_t len, void *ctx)
{
    first_blob *f = ctx;
    if (row != 0 || col != 0)
        return;
    f->fits = len <= f->cap;
    if (f->fits && len)
        memcpy(f->out, b, len);
    f->len = len;
}

bool ts_store_blob(const ts_server *s, const char *space, const char *tenant_id, const char *sql,
                   uint8_t *out, size_t *n)
{
    first_blob f = {out, *n, 0, false};
    if (ts_store_rows(s, space, tenant_id, sql, keep_first, &f) < 1 || !f.fits)
        return false;
    *n = f.len;
    return true;
}

int ts_tenant_store_files(const ts_server *s, const char *tenant_id, char *out, size_t n)
{
    out[0] = '\0';
    if (strcmp(ts_store_driver(), "postgresql") != 0) {
        snprintf(out, n, "%s/tenants/%s.db\n%s/tenants/%s.db-wal\n", s->data_dir, tenant_id,
                 s->data_dir, tenant_id);
        return 2;
    }
    assert_int_equal(ts_sys_sql(s, "CHECKPOINT"), 0);
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "%s/psql -X -q -A -t -v ON_ERROR_STOP=1 '%s' -c \"WITH t AS (SELECT oid, "
             "reltoastrelid FROM pg_class WHERE relnamespace = 't_%s'::regnamespace), r AS "
             "(SELECT oid FROM t UNION SELECT reltoastrelid FROM t WHERE reltoastrelid <> 0 UNION "
             "SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT reltoastrelid FROM t)) "
             "SELECT pg_relation_filepath(oid) FROM r WHERE pg_relation_filepath(oid) IS NOT "
             "NULL\"",
             TS_PG_BIN, ts_store_dsn(pg_store_dir(s)), tenant_id);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[512];
    int count = 0;
    size_t off = 0;
    while (fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\n")] = '\0';
        int w = snprintf(out + off, n - off, "%s/data/%s\n", ts_store_pg_dir(), line);
        assert_true(w > 0 && (size_t)w < n - off);
        off += (size_t)w;
        count++;
    }
    assert_int_equal(pclose(p), 0);
    return count;
}

const char *ts_store_copy(const ts_server *s, const char *dir)
{
    if (strcmp(ts_store_driver(), "postgresql") != 0)
        return "";
    char from[64], to[64], admin[600];
    pg_names(pg_store_dir(s), from, sizeof(from), admin, sizeof(admin));
    pg_names(dir, to, sizeof(to), admin, sizeof(admin));
    assert_int_equal(ts_sh("%s/psql -X -q -v ON_ERROR_STOP=1 '%s' -c 'DROP DATABASE %s' "
                           "-c 'CREATE DATABASE %s TEMPLATE %s'",
                           TS_PG_BIN, admin, to, to, from),
                     0);
    return ts_store_ini(dir);
}
