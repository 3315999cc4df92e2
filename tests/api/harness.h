/* harness.h: API tests drive a real `custodia serve` process over real HTTPS (libcurl), on a
 * random loopback port with a fresh data dir. */
#ifndef CST_HARNESS_H
#define CST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct ts_server {
    char root[256]; /* temp dir holding var/ and the key files */
    char data_dir[300];
    char key_file[300];
    char cacert[320];
    char op_password[64];
    char extra_config[1024]; /* INI text written to root/custodia.ini when non-empty */
    int port;
    pid_t pid;
    bool mounted;              /* root is a tmpfs mounted by ts_init_small_disk */
    unsigned long fsize_limit; /* RLIMIT_FSIZE for the server when non-zero */
    char base[64];
} ts_server;

typedef struct ts_resp {
    long status;
    char *body;
    size_t len;
    char headers[8192];
    json_t *json; /* parsed body when it is JSON */
} ts_resp;

/* custodia init into a new temp dir (aborts the test on failure). */
void ts_init(ts_server *s);
/* ts_init on a small disk: the temp dir is a tmpfs of `bytes` when this process may mount one,
 * else the server runs under RLIMIT_FSIZE = bytes (writes then fail with EFBIG instead of
 * ENOSPC; set TS_NO_MOUNT to force this). Returns a word saying which. */
const char *ts_init_small_disk(ts_server *s, unsigned long bytes);
/* Starts serve and waits for it to listen; returns false when it exits instead (its stderr is
 * then in root/serve.log). */
bool ts_start(ts_server *s);
/* SIGTERM and wait; returns the exit status. */
int ts_stop(ts_server *s);
void ts_kill9(ts_server *s);
/* Removes the temp dir. */
void ts_cleanup(ts_server *s);

/* One request. token may be NULL; ctype NULL sends no Content-Type; extra is a NULL-terminated
 * list of "Name: value" headers. */
void ts_request(ts_server *s, const char *method, const char *path, const char *token,
                const char *ctype, const void *body, size_t len, const char *const *extra,
                ts_resp *r);
void ts_resp_free(ts_resp *r);
/* JSON request: body is JSON text. */
void ts_json_req(ts_server *s, const char *method, const char *path, const char *token,
                 const char *json, ts_resp *r);
/* Value of a response header (case-insensitive), copied into out; false when absent. */
bool ts_header(const ts_resp *r, const char *name, char *out, size_t n);
/* The error code of a JSON error response ("" when none). */
const char *ts_err(const ts_resp *r);

/* Logs in; returns a malloc'd token or NULL. */
char *ts_login(ts_server *s, const char *tenant, const char *user, const char *pw);
/* Operator login plus password change; returns the operator's token. */
char *ts_operator(ts_server *s);
/* Creates a tenant with owner "owner", logs the owner in, changes the one-time password.
 * Returns the owner's token; tenant_id (32 bytes) receives the id when non-NULL. */
char *ts_tenant(ts_server *s, const char *op_token, const char *name, char *tenant_id);
/* Creates a bucket (asserts 201). */
void ts_bucket(ts_server *s, const char *token, const char *name);
/* PUT a record; returns the status. */
long ts_put(ts_server *s, const char *token, const char *bucket, const char *enc_key,
            const char *ctype, const void *val, size_t len);

/* Runs a shell command, returning its exit status. */
int ts_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define TS_PASSWORD "Sturdy-Vault-Passphrase-2026"

#endif
