/* config.c: INI configuration with safe defaults and strict validation. */
#include "node/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <ini.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#include <jansson.h>

const cst_lifecycle_policy cst_lifecycle_defaults = {
    .trial_erase_days = 12,
    .cancelled_erase_days = 90,
    .payment_suspend_days = 15,
    .payment_close_days = 90,
    .closed_erase_days = 7,
    .free_inactive_days = 60,
    .terminated_access_days = 15,
    .terminated_erase_days = 30,
    .billing_retention_days = 2557,
};

/* The lifecycle keys, each a number of days (section "lifecycle"). */
static const struct {
    const char *key;
    size_t off;
} lifecycle_keys[] = {
    {"trial_erase_days", offsetof(cst_lifecycle_policy, trial_erase_days)},
    {"cancelled_erase_days", offsetof(cst_lifecycle_policy, cancelled_erase_days)},
    {"payment_suspend_days", offsetof(cst_lifecycle_policy, payment_suspend_days)},
    {"payment_close_days", offsetof(cst_lifecycle_policy, payment_close_days)},
    {"closed_erase_days", offsetof(cst_lifecycle_policy, closed_erase_days)},
    {"free_inactive_days", offsetof(cst_lifecycle_policy, free_inactive_days)},
    {"terminated_access_days", offsetof(cst_lifecycle_policy, terminated_access_days)},
    {"terminated_erase_days", offsetof(cst_lifecycle_policy, terminated_erase_days)},
    {"billing_retention_days", offsetof(cst_lifecycle_policy, billing_retention_days)},
};
#define NLIFECYCLE (sizeof(lifecycle_keys) / sizeof(lifecycle_keys[0]))

/* Integer limits of issue 12 (connections, tenants, login throttling, hashing pool). */
static const struct {
    const char *key;
    size_t off;
    long min, max;
} limit_keys[] = {
    {"http.max_connections", offsetof(cst_config, max_connections), 0, 1000000},
    {"http.max_connections_per_ip", offsetof(cst_config, max_connections_per_ip), 1, 100000},
    {"store.max_open_tenants", offsetof(cst_config, max_open_tenants), 4, 100000},
    {"auth.login_rate_per_ip", offsetof(cst_config, login_rate_per_ip), 1, 100000},
    {"auth.login_rate_per_account", offsetof(cst_config, login_rate_per_account), 1, 10000},
    {"auth.hash_workers", offsetof(cst_config, hash_workers), 0, 64},
    {"auth.hash_queue", offsetof(cst_config, hash_queue), 1, 100000},
};
#define NLIMITS (sizeof(limit_keys) / sizeof(limit_keys[0]))

static int *limit_field(cst_config *c, size_t i)
{
    return (int *)((char *)c + limit_keys[i].off);
}

static int *lifecycle_field(cst_lifecycle_policy *p, size_t i)
{
    return (int *)((char *)p + lifecycle_keys[i].off);
}

/* A string default is a literal that fits its field by construction: the _Static_assert makes
 * a default that does not fit a build error, so the checked copy cannot fail at run time. */
#define DEFAULT_STR(c, field, lit)                                                                 \
    do {                                                                                           \
        _Static_assert(sizeof(lit) <= sizeof((c)->field), #field " default does not fit");         \
        if (cst_copy((c)->field, sizeof((c)->field), (lit)) != CST_OK)                             \
            cst_err_clear();                                                                       \
    } while (0)

void cst_config_defaults(cst_config *c)
{
    memset(c, 0, sizeof(*c));
    DEFAULT_STR(c, data_dir, "./var");
    DEFAULT_STR(c, listen_host, "127.0.0.1");
    c->listen_port = 8443;
    DEFAULT_STR(c, tls_priorities, CST_DEFAULT_TLS_PRIORITIES);
    c->max_header_bytes = 16 * 1024;
    c->max_json_bytes = 64 * 1024;
    c->max_record_bytes = 1024 * 1024;
    c->max_batch_bytes = 8 * 1024 * 1024;
    c->session_idle_seconds = 15 * 60;
    c->session_max_seconds = 12 * 3600;
    c->lockout_threshold = 6;
    c->lockout_seconds = 30 * 60;
    c->audit_group_commit = true;
    c->audit_seal_entries = 1000;
    c->audit_seal_seconds = 10;
    c->audit_segment_bytes = 64L * 1024 * 1024;
    c->audit_segment_seconds = 86400;
    c->audit_security_retention_days = 365;
    c->audit_access_retention_days = 90;
    c->backup_command_timeout = 3600;
    c->backup_interval = 86400;
    c->backup_retention_days = 110;
    c->lifecycle = cst_lifecycle_defaults;
    c->sweep_interval = 60;
    c->sweep_batch = 500;
    c->max_import_bytes = 256L * 1024 * 1024;
    c->max_connections = 0;
    c->max_connections_per_ip = 64;
    c->header_timeout = 10;
    c->max_inflight_body_bytes = 128L * 1024 * 1024;
    c->max_open_tenants = 128;
    c->login_rate_per_ip = 60;
    c->login_rate_per_account = 10;
    c->hash_workers = 0;
    c->hash_queue = 64;
}

/* A duration: seconds, or a number with s, m, h or d. */
static cst_err parse_duration(const char *key, const char *v, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    long unit = 1;
    if (end && *end && end[1] == '\0') {
        switch (*end) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        default:
            unit = 0;
        }
        if (unit)
            end++;
    }
    ENSURE(errno == 0 && end != v && *end == '\0' && unit && n >= 0 && n <= max / unit &&
               n * unit >= min,
           CST_ERR_INVALID,
           "%s must be a duration from %ld to %ld seconds (e.g. 3600, 90m, 24h, 7d), not \"%s\"",
           key, min, max, v);
    *out = n * unit;
    return CST_OK;
}

static cst_err parse_long(const char *key, const char *v, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    ENSURE(errno == 0 && end != v && *end == '\0' && n >= min && n <= max, CST_ERR_INVALID,
           "%s must be an integer from %ld to %ld, not \"%s\"", key, min, max, v);
    *out = n;
    return CST_OK;
}

static cst_err parse_bool(const char *key, const char *v, bool *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) {
        *out = true;
        return CST_OK;
    }
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) {
        *out = false;
        return CST_OK;
    }
    return cst_fail(CST_ERR_INVALID, "%s must be true or false, not \"%s\"", key, v);
}

static cst_err set_str(char *dst, size_t n, const char *key, const char *v)
{
    ENSURE(cst_copy(dst, n, v) == CST_OK, CST_ERR_INVALID, "%s is too long", key);
    return CST_OK;
}

cst_err cst_config_set_listen(cst_config *c, const char *addr)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    ENSURE(colon && colon != addr, CST_ERR_INVALID, "listen must be HOST:PORT, not \"%s\"", addr);
    size_t hl = (size_t)(colon - addr);
    const char *h = addr;
    if (addr[0] == '[' && colon[-1] == ']') {
        h = addr + 1;
        hl -= 2;
    }
    ENSURE(hl < sizeof(host), CST_ERR_INVALID, "listen host is too long");
    memcpy(host, h, hl);
    host[hl] = '\0';
    unsigned char tmp[16];
    ENSURE(inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1,
           CST_ERR_INVALID, "listen host must be an IPv4 or IPv6 address, not \"%s\"", host);
    long port;
    TRY(parse_long("listen port", colon + 1, 0, 65535, &port));
    TRY(cst_copy(c->listen_host, sizeof(c->listen_host), host));
    c->listen_port = (int)port;
    return CST_OK;
}

static cst_err set_size(size_t *dst, const char *key, const char *v, long min, long max)
{
    long n;
    TRY(parse_long(key, v, min, max, &n));
    *dst = (size_t)n;
    return CST_OK;
}

static cst_err cst_config_cidrs(const char *key, const char *v, cst_cidr_list *out)
{
    cst_err e = cst_cidr_list_parse(v, out);
    if (e != CST_OK) {
        char why[256];
        (void)snprintf(why, sizeof(why), "%s", cst_err_message(e));
        return cst_fail(e, "%s: %s", key, why);
    }
    return CST_OK;
}

cst_err cst_config_set(cst_config *c, const char *section, const char *key, const char *v)
{
    long n;
    char full[128];
    TRY(cst_fmt(full, sizeof(full), "%s.%s", section, key));
    if (!strcmp(full, "node.data_dir"))
        return set_str(c->data_dir, sizeof(c->data_dir), full, v);
    if (!strcmp(full, "node.master_key_file"))
        return set_str(c->master_key_file, sizeof(c->master_key_file), full, v);
    if (!strcmp(full, "node.region"))
        return set_str(c->region, sizeof(c->region), full, v);
    if (!strcmp(full, "node.log_file"))
        return set_str(c->log_file, sizeof(c->log_file), full, v);
    if (!strcmp(full, "http.listen"))
        return cst_config_set_listen(c, v);
    if (!strcmp(full, "http.threads")) {
        TRY(parse_long(full, v, 0, 256, &n));
        c->threads = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "http.allow_plaintext_loopback"))
        return parse_bool(full, v, &c->allow_plaintext_loopback);
    if (!strcmp(full, "http.max_header_bytes"))
        return set_size(&c->max_header_bytes, full, v, 4096, 1024 * 1024);
    if (!strcmp(full, "http.max_json_bytes"))
        return set_size(&c->max_json_bytes, full, v, 1024, 16 * 1024 * 1024);
    if (!strcmp(full, "http.max_record_bytes"))
        return set_size(&c->max_record_bytes, full, v, 0, 256L * 1024 * 1024);
    if (!strcmp(full, "http.max_batch_bytes"))
        return set_size(&c->max_batch_bytes, full, v, 1024, 256L * 1024 * 1024);
    if (!strcmp(full, "tls.cert_file"))
        return set_str(c->tls_cert_file, sizeof(c->tls_cert_file), full, v);
    if (!strcmp(full, "tls.key_file"))
        return set_str(c->tls_key_file, sizeof(c->tls_key_file), full, v);
    if (!strcmp(full, "tls.priorities"))
        return set_str(c->tls_priorities, sizeof(c->tls_priorities), full, v);
    if (!strcmp(full, "auth.session_idle_seconds")) {
        TRY(parse_long(full, v, 60, 24 * 3600, &n));
        c->session_idle_seconds = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "auth.session_max_seconds")) {
        TRY(parse_long(full, v, 300, 7 * 24 * 3600, &n));
        c->session_max_seconds = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "auth.lockout_threshold")) {
        TRY(parse_long(full, v, 1, 10, &n));
        c->lockout_threshold = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "auth.lockout_seconds")) {
        TRY(parse_long(full, v, 60, 24 * 3600, &n));
        c->lockout_seconds = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "auth.operator_ip_allowlist")) {
        TRY(set_str(c->operator_ip_allowlist_text, sizeof(c->operator_ip_allowlist_text), full, v));
        return cst_config_cidrs(full, v, &c->operator_ip_allowlist);
    }
    if (!strcmp(full, "http.trusted_proxies")) {
        TRY(set_str(c->trusted_proxies_text, sizeof(c->trusted_proxies_text), full, v));
        return cst_config_cidrs(full, v, &c->trusted_proxies);
    }
    if (!strcmp(full, "audit.dir"))
        return set_str(c->audit_dir, sizeof(c->audit_dir), full, v);
    if (!strcmp(full, "audit.group_commit"))
        return parse_bool(full, v, &c->audit_group_commit);
    if (!strcmp(full, "audit.seal_entries")) {
        TRY(parse_long(full, v, 1, 1000000, &n));
        c->audit_seal_entries = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "audit.seal_seconds")) {
        TRY(parse_long(full, v, 1, 3600, &n));
        c->audit_seal_seconds = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "audit.segment_bytes"))
        return parse_long(full, v, 4096, 1L << 30, &c->audit_segment_bytes);
    if (!strcmp(full, "audit.segment_seconds")) {
        TRY(parse_long(full, v, 1, 30 * 86400, &n));
        c->audit_segment_seconds = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "audit.security_retention_days")) {
        TRY(parse_long(full, v, 1, 36500, &n));
        c->audit_security_retention_days = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "audit.access_retention_days")) {
        TRY(parse_long(full, v, 1, 36500, &n));
        c->audit_access_retention_days = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "backup.dir"))
        return set_str(c->backup_dir, sizeof(c->backup_dir), full, v);
    if (!strcmp(full, "backup.command"))
        return set_str(c->backup_command, sizeof(c->backup_command), full, v);
    if (!strcmp(full, "backup.fetch_command"))
        return set_str(c->backup_fetch_command, sizeof(c->backup_fetch_command), full, v);
    if (!strcmp(full, "backup.prune_command"))
        return set_str(c->backup_prune_command, sizeof(c->backup_prune_command), full, v);
    if (!strcmp(full, "backup.command_timeout")) {
        TRY(parse_duration(full, v, 1, 7 * 86400, &n));
        c->backup_command_timeout = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "backup.region"))
        return set_str(c->backup_region, sizeof(c->backup_region), full, v);
    if (!strcmp(full, "backup.interval")) {
        TRY(parse_duration(full, v, 0, 366L * 86400, &n));
        c->backup_interval = n;
        return CST_OK;
    }
    if (!strcmp(full, "backup.retention_days")) {
        TRY(parse_long(full, v, 1, 3650, &n));
        c->backup_retention_days = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "backup.scratch_dir"))
        return set_str(c->backup_scratch_dir, sizeof(c->backup_scratch_dir), full, v);
    for (size_t i = 0; !strcmp(section, "lifecycle") && i < NLIFECYCLE; i++) {
        if (strcmp(key, lifecycle_keys[i].key) != 0)
            continue;
        TRY(parse_long(full, v, 0, 36500, &n));
        *lifecycle_field(&c->lifecycle, i) = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "lifecycle.sweep_interval"))
        return parse_duration(full, v, 1, 86400, &c->sweep_interval);
    if (!strcmp(full, "lifecycle.sweep_batch")) {
        TRY(parse_long(full, v, 1, 100000, &n));
        c->sweep_batch = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "http.max_import_bytes"))
        return set_size(&c->max_import_bytes, full, v, 1024, 64L * 1024 * 1024 * 1024);
    if (!strcmp(full, "http.max_inflight_body_bytes"))
        return set_size(&c->max_inflight_body_bytes, full, v, 1024 * 1024,
                        64L * 1024 * 1024 * 1024);
    for (size_t i = 0; i < NLIMITS; i++) {
        if (strcmp(full, limit_keys[i].key) != 0)
            continue;
        TRY(parse_long(full, v, limit_keys[i].min, limit_keys[i].max, &n));
        *limit_field(c, i) = (int)n;
        return CST_OK;
    }
    if (!strcmp(full, "http.header_timeout")) {
        TRY(parse_duration(full, v, 1, 300, &n));
        c->header_timeout = (int)n;
        return CST_OK;
    }
    return cst_fail(CST_ERR_INVALID, "unknown configuration key %s", full);
}

struct load_ctx {
    cst_config *c;
    cst_err err;
    char msg[256];
};

static int on_ini_line(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *lc = user;
    cst_err e = cst_config_set(lc->c, section, name, value);
    if (e != CST_OK) {
        lc->err = e;
        (void)snprintf(lc->msg, sizeof(lc->msg), "%s", cst_err_message(e));
        return 0;
    }
    return 1;
}

cst_err cst_config_load(cst_config *c, const char *path)
{
    cst_buf text;
    TRY(cst_file_read(path, 1024 * 1024, &text));
    TRY(cst_buf_append_u8(&text, 0));
    struct load_ctx lc = {.c = c};
    int line = ini_parse_string((const char *)text.data, on_ini_line, &lc);
    cst_buf_free(&text);
    if (lc.err != CST_OK)
        return cst_fail(CST_ERR_INVALID, "%s line %d: %s", path, line, lc.msg);
    ENSURE(line == 0, CST_ERR_INVALID, "%s line %d: not a valid INI line", path, line);
    return CST_OK;
}

cst_err cst_config_default_key_path(const char *data_dir, const char *file, char *out, size_t n)
{
    char copy[PATH_MAX];
    TRY(cst_fmt(copy, sizeof(copy), "%s", data_dir));
    /* strip trailing slashes so dirname names the parent */
    for (size_t l = strlen(copy); l > 1 && copy[l - 1] == '/'; l--)
        copy[l - 1] = '\0';
    return cst_fmt(out, n, "%s/%s", dirname(copy), file);
}

static bool is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

cst_err cst_config_finish(cst_config *c)
{
    if (!c->master_key_file[0])
        TRY(cst_config_default_key_path(c->data_dir, "custodia-master.key", c->master_key_file,
                                        sizeof(c->master_key_file)));
    ENSURE(!!c->tls_cert_file[0] == !!c->tls_key_file[0], CST_ERR_INVALID,
           "tls.cert_file and tls.key_file must be set together");
    /* ENC-3: a plaintext listener exists only on loopback, and only when asked for. */
    ENSURE(!c->allow_plaintext_loopback || is_loopback(c->listen_host), CST_ERR_INVALID,
           "http.allow_plaintext_loopback needs a loopback listen address, not %s", c->listen_host);
    if (c->allow_plaintext_loopback)
        cst_warn("WEAKER THAN DEFAULT: http.allow_plaintext_loopback = true: serving plaintext "
                 "HTTP on %s (development only)",
                 c->listen_host);
    if (strcmp(c->tls_priorities, CST_DEFAULT_TLS_PRIORITIES) != 0)
        cst_warn("WEAKER THAN DEFAULT (possibly): tls.priorities overrides the TLS 1.2/1.3 "
                 "forward-secret AEAD profile: %s",
                 c->tls_priorities);
    if (c->session_idle_seconds > 15 * 60)
        cst_warn("WEAKER THAN DEFAULT: auth.session_idle_seconds = %d (default 900)",
                 c->session_idle_seconds);
    if (c->lockout_threshold > 6)
        cst_warn("WEAKER THAN DEFAULT: auth.lockout_threshold = %d (default 6)",
                 c->lockout_threshold);
    if (c->lockout_seconds < 30 * 60)
        cst_warn("WEAKER THAN DEFAULT: auth.lockout_seconds = %d (default 1800)",
                 c->lockout_seconds);
    if (!c->audit_dir[0])
        TRY(cst_fmt(c->audit_dir, sizeof(c->audit_dir), "%s/audit", c->data_dir));
    if (c->audit_security_retention_days < 365)
        cst_warn("WEAKER THAN DEFAULT: audit.security_retention_days = %d (default 365)",
                 c->audit_security_retention_days);
    if (c->audit_access_retention_days < 90)
        cst_warn("WEAKER THAN DEFAULT: audit.access_retention_days = %d (default 90)",
                 c->audit_access_retention_days);
    if (c->audit_seal_seconds > 10 || c->audit_seal_entries > 1000)
        cst_warn("WEAKER THAN DEFAULT: audit seals every %d entries / %d s (default 1000 / 10 s): "
                 "more unsealed entries at risk",
                 c->audit_seal_entries, c->audit_seal_seconds);
    if (!c->backup_dir[0])
        TRY(cst_fmt(c->backup_dir, sizeof(c->backup_dir), "%s/backups", c->data_dir));
    if (!c->backup_scratch_dir[0])
        TRY(cst_fmt(c->backup_scratch_dir, sizeof(c->backup_scratch_dir), "%s/tmp", c->data_dir));
    ENSURE(!c->backup_command[0] || c->backup_prune_command[0], CST_ERR_INVALID,
           "backup.command needs backup.prune_command: backups older than "
           "backup.retention_days must be removable (BAK-4)");
    if (c->backup_interval == 0)
        cst_warn("WEAKER THAN DEFAULT: backup.interval = 0: no scheduled backups (BAK-1)");
    else if (c->backup_interval > 86400)
        cst_warn("WEAKER THAN DEFAULT: backup.interval = %ld s (default daily)",
                 c->backup_interval);
    const cst_lifecycle_policy *lp = &c->lifecycle;
    ENSURE(lp->payment_close_days >= lp->payment_suspend_days, CST_ERR_INVALID,
           "lifecycle.payment_close_days must not be shorter than lifecycle.payment_suspend_days");
    ENSURE(lp->terminated_erase_days >= lp->terminated_access_days, CST_ERR_INVALID,
           "lifecycle.terminated_erase_days must not be shorter than "
           "lifecycle.terminated_access_days (RET-3)");
    for (size_t i = 0; i < NLIFECYCLE; i++) {
        cst_lifecycle_policy d = cst_lifecycle_defaults;
        int have = *lifecycle_field((cst_lifecycle_policy *)lp, i), want = *lifecycle_field(&d, i);
        if (have != want)
            cst_warn("WEAKER THAN DEFAULT: lifecycle.%s = %d days (default %d): the deletion "
                     "schedule your customers were promised (RET-2, RET-3) no longer applies",
                     lifecycle_keys[i].key, have, want);
    }
    if (c->backup_retention_days > 110)
        cst_warn("WEAKER THAN DEFAULT: backup.retention_days = %d: backups are kept longer than "
                 "110 days (BAK-4)",
                 c->backup_retention_days);
    if (c->header_timeout > 10)
        cst_warn("WEAKER THAN DEFAULT: http.header_timeout = %d s (default 10): slow clients hold "
                 "connections longer",
                 c->header_timeout);
    if (c->max_connections_per_ip > 64)
        cst_warn("WEAKER THAN DEFAULT: http.max_connections_per_ip = %d (default 64)",
                 c->max_connections_per_ip);
    if (c->login_rate_per_ip > 60 || c->login_rate_per_account > 10)
        cst_warn("WEAKER THAN DEFAULT: login attempts per minute: %d per address, %d per account "
                 "(default 60 / 10)",
                 c->login_rate_per_ip, c->login_rate_per_account);
    if (c->session_max_seconds > 12 * 3600)
        cst_warn("WEAKER THAN DEFAULT: auth.session_max_seconds = %d (default 43200)",
                 c->session_max_seconds);
    return CST_OK;
}

static json_t *config_json_base(const cst_config *c)
{
    char listen[128];
    (void)snprintf(listen, sizeof(listen), strchr(c->listen_host, ':') ? "[%s]:%d" : "%s:%d",
                   c->listen_host, c->listen_port);
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:I,s:b,s:I,s:I,s:I,s:I,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:s,s:b,"
        "s:I,s:I,s:I,s:I,s:I,s:I}",
        "node.data_dir", c->data_dir, "node.master_key_file", c->master_key_file, "node.region",
        c->region, "http.listen", listen, "http.threads", (json_int_t)c->threads,
        "http.allow_plaintext_loopback", c->allow_plaintext_loopback, "http.max_header_bytes",
        (json_int_t)c->max_header_bytes, "http.max_json_bytes", (json_int_t)c->max_json_bytes,
        "http.max_record_bytes", (json_int_t)c->max_record_bytes, "http.max_batch_bytes",
        (json_int_t)c->max_batch_bytes, "http.trusted_proxies", c->trusted_proxies_text,
        "tls.cert_file", c->tls_cert_file, "tls.key_file", c->tls_key_file, "tls.priorities",
        c->tls_priorities, "auth.session_idle_seconds", (json_int_t)c->session_idle_seconds,
        "auth.session_max_seconds", (json_int_t)c->session_max_seconds, "auth.lockout_threshold",
        (json_int_t)c->lockout_threshold, "auth.lockout_seconds", (json_int_t)c->lockout_seconds,
        "auth.operator_ip_allowlist", c->operator_ip_allowlist_text, "audit.dir", c->audit_dir,
        "audit.group_commit", c->audit_group_commit, "audit.seal_entries",
        (json_int_t)c->audit_seal_entries, "audit.seal_seconds", (json_int_t)c->audit_seal_seconds,
        "audit.segment_bytes", (json_int_t)c->audit_segment_bytes, "audit.segment_seconds",
        (json_int_t)c->audit_segment_seconds, "audit.security_retention_days",
        (json_int_t)c->audit_security_retention_days, "audit.access_retention_days",
        (json_int_t)c->audit_access_retention_days);
}

json_t *cst_config_json(const cst_config *c)
{
    json_t *o = config_json_base(c);
    if (!o)
        return NULL;
    json_object_set_new(o, "backup.dir", json_string(c->backup_dir));
    json_object_set_new(o, "backup.command", json_string(c->backup_command));
    json_object_set_new(o, "backup.fetch_command", json_string(c->backup_fetch_command));
    json_object_set_new(o, "backup.prune_command", json_string(c->backup_prune_command));
    json_object_set_new(o, "backup.command_timeout", json_integer(c->backup_command_timeout));
    json_object_set_new(o, "backup.region", json_string(c->backup_region));
    json_object_set_new(o, "backup.interval", json_integer(c->backup_interval));
    json_object_set_new(o, "backup.retention_days", json_integer(c->backup_retention_days));
    json_object_set_new(o, "backup.scratch_dir", json_string(c->backup_scratch_dir));
    for (size_t i = 0; i < NLIFECYCLE; i++) {
        char k[64];
        (void)snprintf(k, sizeof(k), "lifecycle.%s", lifecycle_keys[i].key);
        json_object_set_new(
            o, k, json_integer(*lifecycle_field((cst_lifecycle_policy *)&c->lifecycle, i)));
    }
    json_object_set_new(o, "lifecycle.sweep_interval", json_integer(c->sweep_interval));
    json_object_set_new(o, "lifecycle.sweep_batch", json_integer(c->sweep_batch));
    json_object_set_new(o, "http.max_import_bytes", json_integer((json_int_t)c->max_import_bytes));
    json_object_set_new(o, "http.max_inflight_body_bytes",
                        json_integer((json_int_t)c->max_inflight_body_bytes));
    json_object_set_new(o, "http.header_timeout", json_integer(c->header_timeout));
    json_object_set_new(o, "node.log_file", json_string(c->log_file));
    for (size_t i = 0; i < NLIMITS; i++)
        json_object_set_new(o, limit_keys[i].key, json_integer(*limit_field((cst_config *)c, i)));
    return o;
}
