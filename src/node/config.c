/* config.c: INI configuration with safe defaults and strict validation. One key table
 * (config_keys) drives parsing, defaults, the effective configuration (CHG-1), the WEAKER THAN
 * DEFAULT warnings (CHG-2) and docs/configuration.md; rules across keys are explicit checks in
 * cst_config_finish. */
#include "node/config.h"
#include "node/ship.h"

#include <stdarg.h>
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

/* Equal to the lifecycle defaults of the key table (tests/unit/test_config.c checks it). */
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
    /* the effective configuration is JSON (CHG-1): a value it cannot carry is refused here */
    ENSURE(cst_utf8_valid((const uint8_t *)v, strlen(v)), CST_ERR_INVALID, "%s must be UTF-8 text",
           key);
    ENSURE(cst_copy(dst, n, v) == CST_OK, CST_ERR_INVALID, "%s is too long", key);
    return CST_OK;
}

/* HOST:PORT (IPv6 in brackets) into host and port. */
static cst_err parse_listen(const char *key, const char *addr, char host[64], int *port)
{
    const char *colon = strrchr(addr, ':');
    ENSURE(colon && colon != addr, CST_ERR_INVALID, "%s must be HOST:PORT, not \"%s\"", key, addr);
    size_t hl = (size_t)(colon - addr);
    const char *h = addr;
    if (addr[0] == '[' && colon[-1] == ']') {
        h = addr + 1;
        hl -= 2;
    }
    ENSURE(hl < 64, CST_ERR_INVALID, "%s host is too long", key);
    memcpy(host, h, hl);
    host[hl] = '\0';
    unsigned char tmp[16];
    ENSURE(inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1,
           CST_ERR_INVALID, "%s host must be an IPv4 or IPv6 address, not \"%s\"", key, host);
    long p;
    char what[64];
    (void)snprintf(what, sizeof(what), "%s port", key);
    TRY(parse_long(what, colon + 1, 0, 65535, &p));
    *port = (int)p;
    return CST_OK;
}

cst_err cst_config_set_listen(cst_config *c, const char *addr)
{
    char host[64];
    int port;
    TRY(parse_listen("listen", addr, host, &port));
    TRY(cst_copy(c->listen_host, sizeof(c->listen_host), host));
    c->listen_port = port;
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

static bool is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/* The value types of the key table. */
typedef enum {
    K_STR,      /* a string or path: char[size] at off */
    K_INT,      /* int */
    K_LONG,     /* long */
    K_SIZE,     /* size_t, in bytes */
    K_BOOL,     /* bool: true/yes/1 or false/no/0 */
    K_DUR_INT,  /* a duration (seconds, or s/m/h/d) into an int */
    K_DUR_LONG, /* a duration into a long */
    K_CIDR,     /* CIDR list: its text (char[size]) at off, the parsed list at aux */
    K_LISTEN,   /* HOST:PORT into listen_host and listen_port */
} key_type;

/* When a value is weaker than its default (CHG-2): the warning names key, value and default. */
typedef enum {
    W_NONE,
    W_GT,     /* greater than the default */
    W_LT,     /* less than the default */
    W_NE,     /* any other value */
    W_CUSTOM, /* the key's own function (pairs of keys, strings, a different text) */
} weaker_rule;

typedef struct config_key {
    const char *name; /* section.key */
    key_type type;
    size_t off, size, aux;
    const char *def; /* the default as the value text; cst_config_defaults parses it */
    long min, max;
    weaker_rule weaker;
    const char *unit; /* after the value in the warning (" s", " days") */
    const char *why;  /* after "(default D)" in the warning */
    bool (*warn)(const cst_config *c, char *out, size_t n);
    const char *doc_default;    /* the default as docs/configuration.md shows it, when not def */
    const char *const *choices; /* K_STR: the values allowed (NULL-terminated); NULL: any */
    bool empty_is_default;      /* K_STR: an empty value sets the default (one too long for an
                                 * INI line: libinih reads lines of at most 200 bytes) */
    /* K_STR: rewrites the value as the node.start audit entry and meta last_config record it
     * (a password in it becomes ***) */
    void (*redact)(const char *value, char *out, size_t n);
    const char *desc;
} config_key;

/* Custom weaker-than-default rules: each writes its warning's text (after "WEAKER THAN DEFAULT")
 * into out and returns true when the setting is weaker. */
static bool say(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool say(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(out, n, fmt, ap);
    va_end(ap);
    return true;
}

static bool warn_plaintext(const cst_config *c, char *out, size_t n)
{
    if (c->allow_plaintext_loopback)
        return say(out, n,
                   "http.allow_plaintext_loopback = true: serving plaintext "
                   "HTTP on %s (development only)",
                   c->listen_host);
    return false;
}

static bool warn_priorities(const cst_config *c, char *out, size_t n)
{
    if (strcmp(c->tls_priorities, CST_DEFAULT_TLS_PRIORITIES) != 0)
        return say(out, n,
                   "(possibly) tls.priorities overrides the TLS 1.2/1.3 "
                   "forward-secret AEAD profile: %s",
                   c->tls_priorities);
    return false;
}

/* audit.seal_entries and audit.seal_seconds share one warning. */
static bool warn_seal(const cst_config *c, char *out, size_t n)
{
    if (c->audit_seal_seconds > 10 || c->audit_seal_entries > 1000)
        return say(out, n,
                   "audit seals every %d entries / %d s (default 1000 / 10 s): "
                   "more unsealed entries at risk",
                   c->audit_seal_entries, c->audit_seal_seconds);
    return false;
}

static const char *const read_durabilities[] = {"durable", "batched", NULL};
static const char *const log_formats[] = {"json", "text", NULL};
static const char *const store_drivers[] = {"sqlite", "postgresql", NULL};

/* A libpq connection string with the value of its password keyword (key=value form) or the
 * password of its URI (postgresql://user:password@host) replaced by ***, for what records the
 * configuration: a password belongs in a passfile, and never in the audit log. */
static void redact_dsn(const char *v, char *out, size_t n)
{
    size_t o = 0;
    bool uri = strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0;
    const char *at = uri ? strchr(v, '@') : NULL;
    const char *colon =
        at ? memchr(strchr(v, '/') + 2, ':', (size_t)(at - strchr(v, '/') - 2)) : NULL;
    for (const char *s = v; *s && o + 16 < n;) {
        if (colon && s == colon + 1) { /* the URI's password: up to the @ */
            memcpy(out + o, "***", 3), o += 3;
            s = at;
            continue;
        }
        if (uri && (*s == '?' || *s == '&') && strncmp(s + 1, "password=", 9) == 0) {
            const char *p = s + 10; /* a parameter of the URI's query: up to the next one */
            while (*p && *p != '&')
                p++;
            out[o++] = *s;
            memcpy(out + o, "password=***", 12), o += 12;
            s = p;
            continue;
        }
        bool word_start = s == v || s[-1] == ' ' || s[-1] == '\t';
        if (!uri && word_start && strncmp(s, "password", 8) == 0) {
            const char *p = s + 8;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '=') {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                if (*p == '\'') { /* quoted: up to the closing quote, \' escaped */
                    for (p++; *p && *p != '\''; p++)
                        if (*p == '\\' && p[1])
                            p++;
                    if (*p)
                        p++;
                } else { /* unquoted: up to a blank, \ escaping the next character */
                    while (*p && *p != ' ' && *p != '\t')
                        p += p[0] == '\\' && p[1] ? 2 : 1;
                }
                memcpy(out + o, "password=***", 12), o += 12;
                s = p;
                continue;
            }
        }
        out[o++] = *s++;
    }
    out[o] = '\0';
}

static bool warn_metrics_per_tenant(const cst_config *c, char *out, size_t n)
{
    if (c->metrics_per_tenant)
        return say(out, n,
                   "metrics.per_tenant = true: metric labels carry tenant ids; whoever scrapes "
                   "/metrics learns which tenants this node holds");
    return false;
}

static bool warn_read_durability(const cst_config *c, char *out, size_t n)
{
    if (strcmp(c->audit_read_durability, "durable") != 0)
        return say(out, n,
                   "audit.read_durability = %s (default durable): a read is "
                   "answered before its audit entry is durable; a crash can lose the entries of "
                   "the reads answered in the last %d ms (LOG-1)",
                   c->audit_read_durability, c->audit_flush_interval);
    return false;
}

static bool warn_backup_interval(const cst_config *c, char *out, size_t n)
{
    if (c->backup_interval == 0)
        return say(out, n, "backup.interval = 0: no scheduled backups (BAK-1)");
    else if (c->backup_interval > 86400)
        return say(out, n, "backup.interval = %ld s (default daily)", c->backup_interval);
    return false;
}

static bool warn_backup_retention(const cst_config *c, char *out, size_t n)
{
    if (c->backup_retention_days > 110)
        return say(out, n,
                   "backup.retention_days = %d: backups are kept longer than "
                   "110 days (BAK-4)",
                   c->backup_retention_days);
    return false;
}

/* auth.login_rate_per_ip and auth.login_rate_per_account share one warning. */
static bool warn_login_rate(const cst_config *c, char *out, size_t n)
{
    if (c->login_rate_per_ip > 60 || c->login_rate_per_account > 10)
        return say(out, n,
                   "login attempts per minute: %d per address, %d per account "
                   "(default 60 / 10)",
                   c->login_rate_per_ip, c->login_rate_per_account);
    return false;
}

#define FIELD(f) offsetof(cst_config, f)
#define FSIZE(f) sizeof(((cst_config *)0)->f)
#define KSTR(n, f, docdef, d)                                                                      \
    {                                                                                              \
        .name = n, .type = K_STR, .off = FIELD(f), .size = FSIZE(f), .def = "",                    \
        .doc_default = docdef, .desc = d                                                           \
    }
#define KNUM(n, t, f, dflt, lo, hi, d)                                                             \
    {                                                                                              \
        .name = n, .type = t, .off = FIELD(f), .def = dflt, .min = lo, .max = hi, .desc = d        \
    }
#define KNUMW(n, t, f, dflt, lo, hi, rule, u, w, d)                                                \
    {                                                                                              \
        .name = n, .type = t, .off = FIELD(f), .def = dflt, .min = lo, .max = hi, .weaker = rule,  \
        .unit = u, .why = w, .desc = d                                                             \
    }
#define LIFECYCLE(k, dflt, d)                                                                      \
    KNUMW("lifecycle." #k, K_INT, lifecycle.k, dflt, 0, 36500, W_NE, " days",                      \
          ": the deletion schedule your customers were promised (RET-2, RET-3) no longer applies", \
          d)

static bool warn_detect(const cst_config *c, char *out, size_t n)
{
    if (!c->detect_enabled)
        return say(out, n, "detect.enabled = false: no intrusion detection, no alerts (DET-1)");
    return false;
}

static bool warn_sandbox(const cst_config *c, char *out, size_t n)
{
    if (!c->sandbox)
        return say(out, n, "node.sandbox = false: no Landlock and no seccomp allow-list");
    return false;
}

static bool warn_private_webhooks(const cst_config *c, char *out, size_t n)
{
    if (c->alerts_allow_private_webhooks)
        return say(out, n,
                   "alerts.allow_private_webhooks = true: tenants' webhooks may reach "
                   "loopback and private addresses from this node (tests only)");
    return false;
}

static bool warn_smtp_plaintext(const cst_config *c, char *out, size_t n)
{
    if (!c->notices_smtp_starttls)
        return say(out, n,
                   "notices.smtp_starttls = false: notices are emailed to the loopback relay "
                   "without TLS (tests only)");
    return false;
}

static const char *const severities[] = {"low", "medium", "high", "critical", NULL};

#define DETECT_SEVERITY(n, f, dflt, d)                                                             \
    {                                                                                              \
        .name = n, .type = K_STR, .off = FIELD(f), .size = FSIZE(f), .def = dflt,                  \
        .choices = severities, .desc = d                                                           \
    }
/* DET-1: a rule's threshold (more is weaker), window (shorter is weaker) and severity. */
#define DETECT_RULE(r, thr, lo, sev, what)                                                         \
    KNUMW("detect." #r "_threshold", K_INT, detect_##r.threshold, thr, lo, CST_DETECT_MAX, W_GT,   \
          "", ": attacks of this kind may go unnoticed (DET-1)",                                   \
          what " within `detect." #r "_window` that raise a `" #r "` alert"),                      \
        KNUMW("detect." #r "_window", K_DUR_INT, detect_##r.window, "600", 60, 7 * 86400, W_LT,    \
              " s", ": slower attacks of this kind go unnoticed (DET-1)",                          \
              "the sliding window of `detect." #r "_threshold`"),                                  \
        DETECT_SEVERITY("detect." #r "_severity", detect_##r.severity, sev,                        \
                        "the severity of a `" #r "` alert (`low`, `medium`, `high`, `critical`)")

/* Every configuration key, in the order of the effective configuration (CHG-1: node.start hashes
 * that JSON, so the order is part of the format). Parsing, defaults, the effective configuration,
 * the WEAKER THAN DEFAULT warnings and docs/configuration.md all come from here. */
static const config_key config_keys[] = {
    {.name = "node.data_dir",
     .type = K_STR,
     .off = FIELD(data_dir),
     .size = FSIZE(data_dir),
     .def = "./var",
     .desc = "the data dir"},
    KSTR("node.master_key_file", master_key_file, "`<parent of data_dir>/custodia-master.key`",
         "the KEK file (32 bytes, mode 0600, outside the data dir): the same as "
         "`keys.master_key = file:PATH`; set one of the two"),
    KSTR("keys.master_key", master_key, "`file:` and `node.master_key_file`",
         "where the KEK is (ENC-4): `file:PATH` (32 bytes, mode 0600, outside the data dir), "
         "`pkcs11:URI` (an AES-256 key that never leaves a PKCS#11 token; the URI names "
         "`token=`, `object=` and `?module-path=`) or `command:CMD` (a program that prints the "
         "key in base64); see docs/operations.md"),
    KSTR("keys.next_master_key", next_master_key, "empty",
         "the KEK an online rotation moves to when `POST /v1/sys/keys/rotate` names none, in "
         "the same forms as `keys.master_key`; a `command:` source is taken only from here, "
         "never from a request (ENC-4)"),
    KSTR("keys.pin_file", pin_file, "empty (`CUSTODIA_PKCS11_PIN`)",
         "`pkcs11:` the token's user PIN, in a file of mode 0600; when empty, the environment "
         "variable `CUSTODIA_PKCS11_PIN` (never the command line)"),
    KNUM("keys.command_timeout_seconds", K_INT, command_timeout_s, "10", 1, 600,
         "`command:` the master key command is killed after this many seconds"),
    KSTR("node.region", region, "the data dir's",
         "when set, must equal the region the data dir was initialised with (RES-1)"),
    {.name = "http.listen",
     .type = K_LISTEN,
     .def = "127.0.0.1:8443",
     .desc = "address and port (`[::1]:8443` for IPv6; port 0 picks a free one and prints it)"},
    KNUM("http.threads", K_INT, threads, "0", 0, 256,
         "threads that accept connections and read requests (libmicrohttpd's polling threads); "
         "`0`: one per core"),
    KNUM("http.workers", K_INT, workers, "0", -1, 1024,
         "threads that run request handlers, off the polling threads, so that many requests "
         "share one audit flush; `0`: four per core; `-1`: none (handlers run on the polling "
         "threads)"),
    {.name = "http.allow_plaintext_loopback",
     .type = K_BOOL,
     .off = FIELD(allow_plaintext_loopback),
     .def = "false",
     .weaker = W_CUSTOM,
     .warn = warn_plaintext,
     .desc = "serve plain HTTP instead of HTTPS; only allowed on a loopback address; for "
             "development"},
    KNUM("http.max_header_bytes", K_SIZE, max_header_bytes, "16384", 4096, 1024 * 1024,
         "request headers above this get 431"),
    KNUM("http.max_json_bytes", K_SIZE, max_json_bytes, "65536", 1024, 16 * 1024 * 1024,
         "JSON bodies above this get 413, before the body is read"),
    KNUM("http.max_record_bytes", K_SIZE, max_record_bytes, "1048576", 0, 256L * 1024 * 1024,
         "record values above this get 413, before the body is read"),
    KNUM("http.max_batch_bytes", K_SIZE, max_batch_bytes, "8388608", 1024, 256L * 1024 * 1024,
         "`records:batch` bodies above this get 413"),
    {.name = "http.trusted_proxies",
     .type = K_CIDR,
     .off = FIELD(trusted_proxies_text),
     .size = FSIZE(trusted_proxies_text),
     .aux = FIELD(trusted_proxies),
     .def = "",
     .doc_default = "empty (none)",
     .desc = "CIDRs of reverse proxies whose `X-Forwarded-For` is believed"},
    KSTR("tls.cert_file", tls_cert_file, "`<data_dir>/tls/cert.pem`",
         "PEM certificate (set together with `tls.key_file`); when unset, a self-signed ECDSA "
         "P-256 certificate for localhost, 127.0.0.1 and ::1 is made by `init`"),
    KSTR("tls.key_file", tls_key_file, "`<data_dir>/tls/key.pem`",
         "PEM private key of `tls.cert_file`"),
    {.name = "tls.priorities",
     .type = K_STR,
     .off = FIELD(tls_priorities),
     .size = FSIZE(tls_priorities),
     .def = CST_DEFAULT_TLS_PRIORITIES,
     .weaker = W_CUSTOM,
     .warn = warn_priorities,
     .empty_is_default = true,
     .doc_default = "TLS 1.3 and 1.2, ECDHE only, AES-GCM and ChaCha20-Poly1305 only (also when "
                    "empty)",
     .desc = "GnuTLS priority string (Mozilla \"intermediate\")"},
    KNUMW("auth.session_idle_seconds", K_INT, session_idle_seconds, "900", 60, 24 * 3600, W_GT, "",
          "", "session idle timeout"),
    KNUMW("auth.session_max_seconds", K_INT, session_max_seconds, "43200", 300, 7 * 24 * 3600, W_GT,
          "", "", "session absolute lifetime"),
    KNUMW("auth.lockout_threshold", K_INT, lockout_threshold, "6", 1, 10, W_GT, "", "",
          "consecutive failed logins that lock an account"),
    KNUMW("auth.lockout_seconds", K_INT, lockout_seconds, "1800", 60, 24 * 3600, W_LT, "", "",
          "how long a locked account stays locked"),
    {.name = "auth.operator_ip_allowlist",
     .type = K_CIDR,
     .off = FIELD(operator_ip_allowlist_text),
     .size = FSIZE(operator_ip_allowlist_text),
     .aux = FIELD(operator_ip_allowlist),
     .def = "",
     .doc_default = "empty (all)",
     .desc = "CIDRs, comma- or space-separated, from which operators may connect"},
    KSTR("audit.dir", audit_dir, "`<data_dir>/audit`",
         "where the audit segments live (its own disk is fine; `epoch.key` stays in "
         "`<data_dir>/audit`)"),
    KNUM("audit.group_commit", K_BOOL, audit_group_commit, "true", 0, 0,
         "concurrent requests share each audit write and fdatasync; `false` writes and syncs "
         "entry by entry"),
    {.name = "audit.seal_entries",
     .type = K_INT,
     .off = FIELD(audit_seal_entries),
     .def = "1000",
     .min = 1,
     .max = 1000000,
     .weaker = W_CUSTOM,
     .warn = warn_seal, /* with audit.seal_seconds */
     .desc = "seal a stream after this many entries..."},
    KNUM("audit.seal_seconds", K_INT, audit_seal_seconds, "10", 1, 3600,
         "...or after this many seconds with unsealed entries (unsealed entries are protected by "
         "the chain only)"),
    KNUM("audit.segment_bytes", K_LONG, audit_segment_bytes, "67108864", 4096, 1L << 30,
         "start a new segment (at a seal) past this size..."),
    KNUM("audit.segment_seconds", K_INT, audit_segment_seconds, "86400", 1, 30 * 86400,
         "...or this age; retention removes whole segments"),
    KNUMW("audit.security_retention_days", K_INT, audit_security_retention_days, "365", 1, 36500,
          W_LT, "", "",
          "keep security entries (auth, settings, users, keys, operator actions) this long "
          "(LOG-3)"),
    KNUMW("audit.access_retention_days", K_INT, audit_access_retention_days, "90", 1, 36500, W_LT,
          "", "", "keep access entries (record reads and writes) this long (LOG-3)"),
    {.name = "audit.read_durability",
     .type = K_STR,
     .off = FIELD(audit_read_durability),
     .size = FSIZE(audit_read_durability),
     .def = "durable",
     .choices = read_durabilities,
     .weaker = W_CUSTOM,
     .warn = warn_read_durability,
     .desc = "`durable`: a read (GET, HEAD) is answered once its audit entry is durable, as every "
             "write is; `batched`: once its entry is written, made durable by a flush at most "
             "`audit.flush_interval` later (a failed write refuses the read; a failed flush "
             "refuses every request until the log is writable again)"},
    KNUM("audit.flush_interval", K_INT, audit_flush_interval, "2", 1, 1000,
         "milliseconds: with `audit.read_durability = batched`, the longest a read's written "
         "audit entry waits for its flush"),
    KSTR("audit.syslog_url", audit_syslog_url, "empty (none)",
         "ship every audit entry, as it is written, to this syslog receiver: `tls://HOST:PORT` "
         "(`[v6]:PORT`), RFC 5424 messages over TLS with RFC 5425 framing, the entry's JSON line "
         "as the message; resumes after a restart from the last entry it acknowledged "
         "(at-least-once; see docs/operations.md)"),
    KSTR("audit.syslog_ca_file", audit_syslog_ca_file, "empty (the system's trust store)",
         "PEM CA certificate(s) the syslog receiver's certificate must chain to (its name must "
         "match the host of `audit.syslog_url`)"),
    KSTR("audit.syslog_cert_file", audit_syslog_cert_file, "empty (none)",
         "PEM client certificate presented to the syslog receiver (set together with "
         "`audit.syslog_key_file`)"),
    KSTR("audit.syslog_key_file", audit_syslog_key_file, "empty (none)",
         "PEM private key of `audit.syslog_cert_file`"),
    KNUM("audit.syslog_facility", K_INT, audit_syslog_facility, "13", 0, 23,
         "the syslog facility of the shipped messages (13: log audit; 10: authpriv; 16 to 23: "
         "local0 to local7)"),
    KSTR("audit.ship_command", audit_ship_command, "empty (none)",
         "ship every audit entry, as it is written, to the standard input of this long-running "
         "shell command (a Vector or Fluent Bit agent), one JSON line per entry; restarted with "
         "backoff when it exits; resumes after a restart from the last entry it acknowledged "
         "(at-least-once). Do not put secrets in the command line (it is recorded in "
         "`node.start`)"),
    KSTR("backup.dir", backup_dir, "`<data_dir>/backups`",
         "where backups go, one file `<dir>/<backup-id>` each; the default is for development "
         "only: point it at another server's mount. A configured dir must exist (an unmounted "
         "share is an error, not a local directory)"),
    KSTR("backup.command", backup_command, NULL,
         "instead of `dir`: a shell command that receives the backup on standard input (`ssh "
         "backup@host 'cat > /srv/b/$CUSTODIA_BACKUP_ID.part && mv ...'`, rclone, a cloud CLI); "
         "it sees `CUSTODIA_BACKUP_ID`, `CUSTODIA_NODE_ID`, `CUSTODIA_REGION`; exit status 0 "
         "means stored. Do not put secrets in the command line (it is recorded in `node.start`)"),
    KSTR("backup.fetch_command", backup_fetch_command, NULL,
         "with `command`: writes the backup named by `CUSTODIA_BACKUP_ID` to standard output "
         "(needed for drills, and for `backup verify ID` and `backup restore --from ID` of a "
         "backup held only there)"),
    KSTR("backup.list_command", backup_list_command, NULL,
         "with `command`: prints the backups held at the destination, one a line: the backup id "
         "(the object's name), optionally followed by whitespace and its size in bytes; other "
         "names are skipped. `custodia backup list` shows them, marked `remote`"),
    KSTR("backup.command_env_file", backup_env_file, NULL,
         "a file of `NAME=value` lines (`#` comments) added to the environment of every backup "
         "command, read at each run: the object store's credentials (`AWS_SECRET_ACCESS_KEY`, "
         "`RCLONE_CONFIG_<REMOTE>_...`, `RCLONE_CONFIG`), kept off the command line. Mode 0600, "
         "no symbolic link; `serve` checks it at start"),
    KSTR("backup.prune_command", backup_prune_command, NULL,
         "required with `command`: removes the backup named by `CUSTODIA_BACKUP_ID` once it is "
         "older than the retention"),
    KNUM("backup.command_timeout", K_DUR_INT, backup_command_timeout, "3600", 1, 7 * 86400,
         "seconds (or `90m`, `2h`) a command may run before it is killed with its process group"),
    KSTR("backup.region", backup_region, "the node's region",
         "the region of a `command` destination; a node refuses a destination of another region "
         "(a `dir` carries its tag in `<dir>/.custodia-region`, written by the first backup)"),
    {.name = "backup.interval",
     .type = K_DUR_LONG,
     .off = FIELD(backup_interval),
     .def = "86400",
     .min = 0,
     .max = 366L * 86400,
     .weaker = W_CUSTOM,
     .warn = warn_backup_interval,
     .desc = "time between scheduled backups (`3600`, `30m`, `24h`, `7d`); `0` turns the "
             "schedule off (with a warning)"},
    {.name = "backup.retention_days",
     .type = K_INT,
     .off = FIELD(backup_retention_days),
     .def = "110",
     .min = 1,
     .max = 3650,
     .weaker = W_CUSTOM,
     .warn = warn_backup_retention,
     .desc = "backups older than this are removed (BAK-4); longer warns"},
    KSTR("backup.scratch_dir", backup_scratch_dir, "`<data_dir>/tmp`",
         "staging for snapshots, verifications and drills (needs room for the largest tenant "
         "database; a drill needs room for a whole node), and the encrypted spools of imports "
         "in progress (room for the concurrent imports' bodies)"),
    LIFECYCLE(trial_erase_days, "12", "trial ended -> erased (RET-2)"),
    LIFECYCLE(cancelled_erase_days, "90", "cancelled -> erased"),
    LIFECYCLE(payment_suspend_days, "15", "payment failed -> suspended"),
    LIFECYCLE(payment_close_days, "90", "payment failed -> closed"),
    LIFECYCLE(closed_erase_days, "7", "closed after a failed payment -> erased"),
    LIFECYCLE(free_inactive_days, "60", "free plan without an authenticated request -> erased"),
    LIFECYCLE(terminated_access_days, "15", "terminated: read and export for this long (RET-3)"),
    LIFECYCLE(terminated_erase_days, "30", "terminated -> erased"),
    LIFECYCLE(billing_retention_days, "2557",
              "billing-class buckets kept after an erase (7 years)"),
    KNUM("lifecycle.sweep_interval", K_DUR_LONG, sweep_interval, "60", 1, 86400,
         "time between retention and lifecycle sweeps (`30s`, `5m`)"),
    KNUM("lifecycle.sweep_batch", K_INT, sweep_batch, "500", 1, 100000,
         "expired records deleted per transaction"),
    KNUM("keys.rewrap_batch", K_INT, rewrap_batch, "200", 1, 100000,
         "records re-encrypted per transaction after a DEK rotation (ENC-4); writers wait for at "
         "most one batch"),
    KNUM("keys.rewrap_pause_ms", K_INT, rewrap_pause_ms, "50", 0, 60000,
         "pause between two re-encryption batches, in milliseconds (throttle)"),
    KNUMW("keys.max_encryptions_per_dek", K_LONG, max_encryptions_per_dek, "1073741824", 10,
          4294967296L, W_GT, "", ": nearer the AES-GCM random-nonce bound (2^32)",
          "encryptions under one DEK version after which a new version is made (2^30)"),
    KNUMW("keys.dek_max_age", K_DUR_LONG, dek_max_age, "7776000", 60, 10L * 365 * 86400, W_GT, " s",
          ": data keys live longer than promised",
          "age after which a tenant's DEK is rotated automatically (90 days; `30d`, `12h`)"),
    KNUMW("keys.kek_max_age", K_DUR_LONG, kek_max_age, "31536000", 86400, 10L * 365 * 86400, W_GT,
          " s", ": the master key lives longer than promised",
          "age of the master key (KEK) past which the report's ENC-4 row fails (365 days; "
          "`365d`); the age counts from `custodia init` or the last `custodia keys rotate-master`"),
    KNUM("http.max_import_bytes", K_SIZE, max_import_bytes, "268435456", 1024,
         64L * 1024 * 1024 * 1024,
         "`POST /v1/import` bodies above this get 413; the body is spooled encrypted to "
         "`backup.scratch_dir`, not held in memory"),
    KNUM("http.max_inflight_body_bytes", K_SIZE, max_inflight_body_bytes, "134217728", 1024 * 1024,
         64L * 1024 * 1024 * 1024,
         "request bodies held in memory by the whole node; a body that does not fit (its "
         "`Content-Length`, or a chunked body as it grows) gets `503 unavailable` with "
         "`Retry-After` and its connection closed. Spooled imports do not count"),
    KNUMW("http.header_timeout", K_DUR_INT, header_timeout, "10", 1, 300, W_GT, " s",
          ": slow clients hold connections longer",
          "seconds a connection has for its TLS handshake and a request's headers, and that an "
          "idle keep-alive connection is kept between requests; a client sending a header line "
          "now and then is closed too"),
    KSTR("log.file", log_file, "empty (stderr)",
         "the server log: opened `O_APPEND`, mode 0600, symbolic links refused; SIGHUP reopens "
         "it (logrotate: rename, then `kill -HUP`)"),
    {.name = "log.format",
     .type = K_STR,
     .off = FIELD(log_format),
     .size = FSIZE(log_format),
     .def = "json",
     .choices = log_formats,
     .desc = "the server log's lines: `json` (one object a line: `time`, `level`, `msg`; request "
             "lines add `event`, `request_id`, `method`, `route`, `status`, `duration_seconds`, "
             "`principal`) or `text`"},
    KSTR("metrics.listen", metrics_listen, "empty (the main listener only)",
         "DET-2: a loopback `HOST:PORT` where `/metrics` is also served, in plain HTTP and "
         "nothing else; a non-loopback address is refused"),
    {.name = "metrics.per_tenant",
     .type = K_BOOL,
     .off = FIELD(metrics_per_tenant),
     .def = "false",
     .weaker = W_CUSTOM,
     .warn = warn_metrics_per_tenant,
     .desc = "DET-2: metrics whose labels carry a tenant id (`custodia_tenant_dek_age_seconds`); "
             "off, no label names a tenant"},
    KNUM("metrics.allow_loopback", K_BOOL, metrics_allow_loopback, "true", 0, 0,
         "DET-2: a client on this host (a loopback peer, no `X-Forwarded-For`) scrapes "
         "`/metrics` without a token; off, every scrape needs an operator token with "
         "`sys.report`"),
    KNUM("http.max_connections", K_INT, max_connections, "0", 0, 1000000,
         "open connections in all; `0` sizes it at start-up as `RLIMIT_NOFILE` (raised to its "
         "hard limit) minus 3 per `store.max_open_tenants` (SQLite) or `store.pool_size` "
         "(PostgreSQL) minus a reserve of 64 plus 4 per thread; the figure is logged (`http: at "
         "most N connections`). Past it new connections "
         "wait in the kernel's backlog"),
    KNUMW("http.max_connections_per_ip", K_INT, max_connections_per_ip, "64", 1, 100000, W_GT, "",
          "",
          "open connections from one source address; more are closed at accept (logged at most "
          "once a second)"),
    KNUM("store.max_open_tenants", K_INT, max_open_tenants, "128", 4, 100000,
         "tenant databases kept open (3 descriptors each); beyond it the least recently used one "
         "no request holds is closed and its keys wiped. When every open one is in use the bound "
         "gives way (with a warning) rather than refuse a request"),
    {.name = "store.driver",
     .type = K_STR,
     .off = FIELD(store_driver),
     .size = FSIZE(store_driver),
     .def = "sqlite",
     .choices = store_drivers,
     .desc = "where tenants, principals, keys and records live: `sqlite` (files in `data_dir`, "
             "one node) or `postgresql` (a database that several nodes of one region share; "
             "`store.dsn`). Either way the data dir keeps what is the node's own: its audit log, "
             "signing key, TLS certificate (docs/architecture.md)"},
    {.name = "store.dsn",
     .type = K_STR,
     .off = FIELD(store_dsn),
     .size = FSIZE(store_dsn),
     .def = "",
     .doc_default = "empty",
     .redact = redact_dsn,
     .desc =
         "`store.driver = postgresql`: a libpq connection string, e.g. `host=db.internal "
         "dbname=custodia user=custodia sslmode=verify-full sslrootcert=/etc/custodia/db-ca.pem "
         "passfile=/etc/custodia/pgpass`. Keep the password out of it: `passfile=` (mode 0600) or "
         "`PGPASSWORD` in the service's environment (a password in it is recorded as `***` in "
         "the `node.start` audit entry). Files it names must be readable by the node "
         "(`node.sandbox_read_paths`). One line of at most 200 bytes"},
    KNUM("store.pool_size", K_INT, store_pool_size, "8", 1, 256,
         "`store.driver = postgresql`: connections this node keeps to the database; a request "
         "waits up to 10 s for a free one, then gets `503`"),
    {.name = "auth.login_rate_per_ip",
     .type = K_INT,
     .off = FIELD(login_rate_per_ip),
     .def = "60",
     .min = 1,
     .max = 100000,
     .weaker = W_CUSTOM,
     .warn = warn_login_rate, /* with auth.login_rate_per_account */
     .desc = "login attempts a minute from one client address (IPv6: one /64); the excess gets "
             "429"},
    KNUM("auth.login_rate_per_account", K_INT, login_rate_per_account, "10", 1, 10000,
         "login attempts a minute for one tenant and username, existing or not"),
    KNUM("auth.hash_workers", K_INT, hash_workers, "0", 0, 64,
         "threads that run requests which hash passwords (login, password change, new users, "
         "operators and tenants, password reset), at lower CPU priority, never on the request "
         "threads (IAM-2); `0`: half the cores, at least 1"),
    KNUM("auth.hash_queue", K_INT, hash_queue, "64", 1, 100000,
         "such requests waiting for a worker; beyond it `503 unavailable` with `Retry-After: 1` "
         "at once"),
    KNUM("auth.cache_entries", K_INT, auth_cache_entries, "10000", 0, 100000,
         "credentials (token, user and tenant rows, about 10 KiB each) kept in memory by token "
         "id, least recently used evicted, so that a request need not read them; every check "
         "still runs per request and any change to users, tokens or tenants applies to the very "
         "next request (IAM-5); `0`: no cache"),
    KNUM("incidents.max_notice_hours", K_INT, max_notice_hours, "72", 24, 72,
         "the longest a tenant's `breach_notice_hours` may be (INC-2): a confirmed breach's "
         "notice is due `aware_at` plus the tenant's hours (48 unless it chose longer), never "
         "more than this"),
    {.name = "detect.enabled",
     .type = K_BOOL,
     .off = FIELD(detect_enabled),
     .def = "true",
     .weaker = W_CUSTOM,
     .warn = warn_detect,
     .desc = "evaluate the intrusion detection rules as requests happen and raise alerts "
             "(DET-1, docs/security.md)"},
    KNUM("detect.quiet_period", K_DUR_INT, detect_quiet_period, "3600", 60, 7 * 86400,
         "how long after its last occurrence an open alert absorbs new ones (one attack, one "
         "alert whose count grows); also how long an address with an open "
         "`password_spraying` alert gets 429 on login"),
    DETECT_RULE(brute_force, "5", 2, "high", "failed logins against one account"),
    DETECT_RULE(password_spraying, "10", 2, "high",
                "distinct accounts (in any tenant) that one client address failed to log in to"),
    DETECT_RULE(disallowed_ip, "1", 1, "medium",
                "requests refused by an IP allowlist from one address"),
    DETECT_RULE(revoked_credential, "1", 1, "high",
                "requests with a revoked or expired token from one address"),
    KNUMW("detect.exfiltration_factor", K_INT, detect_exfiltration_factor, "10", 2, 1000, W_GT, "",
          "",
          "an `exfiltration` alert when a principal reads more records in an hour than this "
          "many times its hourly median of the last 7 days"),
    KNUMW("detect.exfiltration_min_records", K_INT, detect_exfiltration_min_records, "1000", 1,
          1000000000, W_GT, "", "", "and at least this many records in that hour"),
    DETECT_SEVERITY("detect.exfiltration_severity", detect_exfiltration_severity, "critical",
                    "the severity of an `exfiltration` alert"),
    KNUMW("detect.drill_max_age", K_INT, detect_drill_max_age, "365", 1, 3650, W_GT, " days", "",
          "a `drill_overdue` alert when no restore drill has passed for this many days (BAK-3)"),
    KSTR("alerts.webhook_url", alerts_webhook_url, "empty (none)",
         "where new and escalated alerts are posted, signed the Standard Webhooks way "
         "(docs/security.md); `https://` only (the receiver's certificate is verified), or "
         "`http://` to a loopback address for tests"),
    KSTR("alerts.webhook_secret_file", alerts_webhook_secret_file, "empty (none)",
         "a file (mode 0600) holding the webhook's signing secrets, `whsec_<base64 of 24 to 64 "
         "bytes>`, one per line: the first current, a second one also signs during a rotation; "
         "required with `alerts.webhook_url`"),
    KNUM("alerts.webhook_retry_seconds", K_DUR_INT, alerts_webhook_retry_seconds, "30", 1, 3600,
         "a failed delivery is retried after this, then twice as long each time (at most 1 h "
         "apart) for 24 h, then marked failed"),
    KNUM("alerts.webhook_timeout_seconds", K_DUR_INT, alerts_webhook_timeout_seconds, "10", 1, 60,
         "one delivery attempt (connect, TLS, post, answer) gives up after this; a receiver that "
         "never answers costs the sender no more"),
    KNUMW("alerts.max_open", K_INT, alerts_max_open, "10000", 100, 1000000, W_GT, "", "",
          "at most this many alerts are open or acknowledged at once: beyond it, occurrences that "
          "would open a new alert are counted in one overflow alert per type (dedup key "
          "`overflow`), so an attacker cannot grow the alert table without bound"),
    KNUMW("alerts.retention_days", K_INT, alerts_retention_days, "365", 30, 36500, W_LT, "", "",
          "a resolved alert is deleted this many days after its last occurrence (its audit "
          "entries stay for `audit.security_retention_days`)"),
    KNUMW("alerts.delivery_retention_days", K_INT, alerts_delivery_retention_days, "30", 1, 3650,
          W_LT, "", "",
          "a webhook or email delivery that was delivered or failed is deleted this many days "
          "after it was queued"),
    {.name = "alerts.allow_private_webhooks",
     .type = K_BOOL,
     .off = FIELD(alerts_allow_private_webhooks),
     .def = "false",
     .weaker = W_CUSTOM,
     .warn = warn_private_webhooks,
     .desc = "let a tenant's `alert_webhook_url` reach a loopback, private, link-local or other "
             "non-public address (checked on the address connected to, after DNS): off, a tenant "
             "cannot make the node post into its own network; on only for tests"},
    KSTR("notices.smtp_url", notices_smtp_url, "empty (no email)",
         "the mail relay breach notices are emailed through to a tenant's `notice_contacts` "
         "(INC-3, docs/operations.md): `smtps://host[:port]` (implicit TLS) or "
         "`smtp://host[:port]` (STARTTLS required); the relay's certificate is verified"),
    KSTR("notices.smtp_from", notices_smtp_from, "empty",
         "the sender address of emailed notices (envelope and `From:`); required with "
         "`notices.smtp_url`"),
    KSTR("notices.smtp_credentials_file", notices_smtp_credentials_file, "empty (no AUTH)",
         "a file (mode 0600, not a symbolic link) holding one line `user:password` for the "
         "relay; read at each send"),
    {.name = "notices.smtp_starttls",
     .type = K_BOOL,
     .off = FIELD(notices_smtp_starttls),
     .def = "true",
     .weaker = W_CUSTOM,
     .warn = warn_smtp_plaintext,
     .desc = "with an `smtp://` relay, refuse to send unless it offers STARTTLS; `false` is "
             "allowed only for a loopback relay (tests)"},
    KNUM("notices.smtp_timeout_seconds", K_DUR_INT, notices_smtp_timeout_seconds, "10", 1, 60,
         "the longest one email to the relay may take"),
    KNUMW("reviews.stale_days", K_INT, reviews_stale_days, "90", 7, 3650, W_GT, " days", "",
          "an access review flags a principal `stale` when it has not been used (or, never used, "
          "not since its creation) for this many days (IAM-6)"),
    KNUMW("reviews.period_days", K_INT, reviews_period_days, "91", 7, 366, W_GT, " days",
          ": access is reviewed less often than every quarter (IAM-6)",
          "an access review is due this many days after the last attestation (or the tenant's "
          "creation); reminded from 14 days before, a `review_overdue` alert after"),
    KSTR("node.user", user, "`custodia` when that user exists",
         "started as root, `custodia serve` reads its keys and certificate and binds its port, "
         "then drops to this user (supplementary groups cleared); a user that does not exist is a "
         "start error, and so are data, audit, backup and scratch dirs it does not own (the "
         "message names the `chown`). Without the user `custodia` the node stays root and warns. "
         "Started as any other user: no drop (docs/security.md)"),
    {.name = "node.sandbox",
     .type = K_BOOL,
     .off = FIELD(sandbox),
     .def = "true",
     .weaker = W_CUSTOM,
     .warn = warn_sandbox,
     .desc = "on Linux, `serve` limits its file access with Landlock (the data, audit, backup and "
             "scratch dirs; read-only system paths) and its system calls with a seccomp "
             "allow-list (others fail with `ENOSYS`), and sets `no_new_privs`; `false` turns all "
             "three off (docs/security.md)"},
    KSTR("node.sandbox_read_paths", sandbox_read_paths, "empty",
         "comma-separated files and dirs the sandbox also lets the node and the programs it runs "
         "(`command:` keys, backup and audit-shipping commands) read and execute, e.g. "
         "`/opt/rclone,/etc/custodia/rclone.conf`"),
    KSTR("node.sandbox_write_paths", sandbox_write_paths, "empty",
         "comma-separated dirs the sandbox also lets the node and the programs it runs write, "
         "e.g. a local destination of `backup.command` or an agent's buffer; nothing else "
         "outside the data, audit, backup and scratch dirs is writable"),
};
#define NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static void *key_field(const cst_config *c, const config_key *k)
{
    return (char *)c + k->off;
}

/* A numeric or boolean key's value, for the weaker-than-default rules. */
static long key_value(const cst_config *c, const config_key *k)
{
    void *p = key_field(c, k);
    switch (k->type) {
    case K_INT:
    case K_DUR_INT:
        return *(const int *)p;
    case K_LONG:
    case K_DUR_LONG:
        return *(const long *)p;
    case K_SIZE:
        return (long)*(const size_t *)p;
    case K_BOOL:
        return *(const bool *)p;
    default:
        return 0;
    }
}

void cst_config_store(const cst_config *c, cst_store_conf *out)
{
    *out = (cst_store_conf){.driver = c->store_driver,
                            .data_dir = c->data_dir,
                            .dsn = c->store_dsn,
                            .pool_size = c->store_pool_size};
}

static cst_err check_choice(const config_key *k, const char *v)
{
    char list[128] = "";
    for (const char *const *ch = k->choices; ch && *ch; ch++) {
        if (!strcmp(*ch, v))
            return CST_OK;
        size_t used = strlen(list);
        (void)snprintf(list + used, sizeof(list) - used, "%s%s", used ? " or " : "", *ch);
    }
    ENSURE(!k->choices, CST_ERR_INVALID, "%s must be %s, not \"%s\"", k->name, list, v);
    return CST_OK;
}

static cst_err key_set(cst_config *c, const config_key *k, const char *v)
{
    void *p = key_field(c, k);
    long n;
    switch (k->type) {
    case K_STR:
        if (!v[0] && k->empty_is_default)
            v = k->def;
        TRY(check_choice(k, v));
        return set_str(p, k->size, k->name, v);
    case K_INT:
        TRY(parse_long(k->name, v, k->min, k->max, &n));
        *(int *)p = (int)n;
        return CST_OK;
    case K_LONG:
        return parse_long(k->name, v, k->min, k->max, p);
    case K_SIZE:
        return set_size(p, k->name, v, k->min, k->max);
    case K_BOOL:
        return parse_bool(k->name, v, p);
    case K_DUR_INT:
        TRY(parse_duration(k->name, v, k->min, k->max, &n));
        *(int *)p = (int)n;
        return CST_OK;
    case K_DUR_LONG:
        return parse_duration(k->name, v, k->min, k->max, p);
    case K_CIDR: {
        /* parsed before anything is set: a refused list leaves text and list as they were */
        cst_cidr_list parsed = {.n = 0}; /* unused items stay zero, as in the config */
        TRY(cst_config_cidrs(k->name, v, &parsed));
        TRY(set_str(p, k->size, k->name, v));
        memcpy((char *)c + k->aux, &parsed, sizeof(parsed));
        return CST_OK;
    }
    case K_LISTEN:
        return cst_config_set_listen(c, v);
    }
    return cst_fail(CST_ERR_INVALID, "%s: unknown key type", k->name);
}

static const config_key *key_find(const char *full)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(config_keys[i].name, full))
            return &config_keys[i];
    return NULL;
}

bool cst_config_key_at(size_t i, cst_config_key_info *out)
{
    static const cst_config_key_kind kinds[] = {
        [K_STR] = CST_KEY_STRING,        [K_INT] = CST_KEY_INTEGER, [K_LONG] = CST_KEY_INTEGER,
        [K_SIZE] = CST_KEY_INTEGER,      [K_BOOL] = CST_KEY_BOOL,   [K_DUR_INT] = CST_KEY_DURATION,
        [K_DUR_LONG] = CST_KEY_DURATION, [K_CIDR] = CST_KEY_CIDRS,  [K_LISTEN] = CST_KEY_LISTEN,
    };
    static const char rules[] = {
        [W_NONE] = 0, [W_GT] = '>', [W_LT] = '<', [W_NE] = '!', [W_CUSTOM] = 'c'};
    if (i >= NKEYS)
        return false;
    const config_key *k = &config_keys[i];
    *out = (cst_config_key_info){.name = k->name,
                                 .def = k->def,
                                 .kind = kinds[k->type],
                                 .min = k->min,
                                 .max = k->max,
                                 .max_len = k->size ? k->size - 1 : 0,
                                 .weaker = rules[k->weaker],
                                 .choices = k->choices};
    return true;
}

void cst_config_defaults(cst_config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NKEYS; i++)
        if (key_set(c, &config_keys[i], config_keys[i].def) != CST_OK)
            abort(); /* a default that does not parse: tests/unit/test_config.c catches it */
}

/* Keys that moved: their old name is refused with the new one. */
static const struct {
    const char *old, *now;
} renamed[] = {
    {"node.log_file", "log.file"}, /* issue 19: beside log.format */
};

cst_err cst_config_set(cst_config *c, const char *section, const char *key, const char *v)
{
    char full[128];
    TRY(cst_fmt(full, sizeof(full), "%s.%s", section, key));
    const config_key *k = key_find(full);
    for (size_t i = 0; !k && i < sizeof(renamed) / sizeof(renamed[0]); i++)
        ENSURE(strcmp(full, renamed[i].old) != 0, CST_ERR_INVALID,
               "configuration key %s is now %s (in [%.*s])", full, renamed[i].now,
               (int)strcspn(renamed[i].now, "."), renamed[i].now);
    ENSURE(k, CST_ERR_INVALID, "unknown configuration key %s", full);
    return key_set(c, k, v);
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
    /* the INI parser reads a C string: a NUL byte would silently drop every line after it */
    cst_err e = text.len && memchr(text.data, 0, text.len)
                    ? cst_fail(CST_ERR_INVALID, "%s holds a NUL byte", path)
                    : cst_buf_append_u8(&text, 0);
    if (e != CST_OK) {
        cst_buf_free(&text);
        return e;
    }
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

static void log_weaker(const char *key, const char *message, void *ctx)
{
    (void)key;
    (void)ctx;
    static const char maybe[] = "(possibly) ";
    if (strncmp(message, maybe, sizeof(maybe) - 1) == 0)
        cst_warn("WEAKER THAN DEFAULT (possibly): %s", message + sizeof(maybe) - 1);
    else
        cst_warn("WEAKER THAN DEFAULT: %s", message);
}

/* ENC-4: keys.master_key, or node.master_key_file (and its default) as its file: form. */
static cst_err finish_master_key(cst_config *c)
{
    if (c->master_key[0]) {
        /* the file: form is what a finish before wrote */
        bool same = strncmp(c->master_key, "file:", 5) == 0 &&
                    strcmp(c->master_key + 5, c->master_key_file) == 0;
        ENSURE(!c->master_key_file[0] || same, CST_ERR_INVALID,
               "set keys.master_key or node.master_key_file (--master-key-file), not both");
        if (strncmp(c->master_key, "file:", 5) == 0)
            TRY(cst_copy(c->master_key_file, sizeof(c->master_key_file), c->master_key + 5));
        return CST_OK;
    }
    if (!c->master_key_file[0])
        TRY(cst_config_default_key_path(c->data_dir, "custodia-master.key", c->master_key_file,
                                        sizeof(c->master_key_file)));
    return cst_fmt(c->master_key, sizeof(c->master_key), "file:%s", c->master_key_file);
}

cst_err cst_config_finish(cst_config *c)
{
    TRY(finish_master_key(c));
    if (!c->audit_dir[0])
        TRY(cst_fmt(c->audit_dir, sizeof(c->audit_dir), "%s/audit", c->data_dir));
    if (!c->backup_dir[0])
        TRY(cst_fmt(c->backup_dir, sizeof(c->backup_dir), "%s/backups", c->data_dir));
    if (!c->backup_scratch_dir[0])
        TRY(cst_fmt(c->backup_scratch_dir, sizeof(c->backup_scratch_dir), "%s/tmp", c->data_dir));
    /* Rules across keys. */
    ENSURE(strcmp(c->store_driver, "postgresql") != 0 || c->store_dsn[0], CST_ERR_INVALID,
           "store.driver = postgresql needs store.dsn (a libpq connection string)");
    ENSURE(strcmp(c->store_driver, "sqlite") != 0 || !c->store_dsn[0], CST_ERR_INVALID,
           "store.dsn is set but store.driver is sqlite: set store.driver = postgresql, or "
           "remove store.dsn");
    ENSURE(!!c->tls_cert_file[0] == !!c->tls_key_file[0], CST_ERR_INVALID,
           "tls.cert_file and tls.key_file must be set together");
    /* ENC-3: a plaintext listener exists only on loopback, and only when asked for. */
    ENSURE(!c->allow_plaintext_loopback || is_loopback(c->listen_host), CST_ERR_INVALID,
           "http.allow_plaintext_loopback needs a loopback listen address, not %s", c->listen_host);
    if (c->metrics_listen[0]) { /* DET-2: plain HTTP, so loopback only */
        TRY(parse_listen("metrics.listen", c->metrics_listen, c->metrics_host, &c->metrics_port));
        ENSURE(is_loopback(c->metrics_host), CST_ERR_INVALID,
               "metrics.listen must be a loopback address (127.0.0.1:PORT or [::1]:PORT): it "
               "serves plain HTTP; not %s (scrape the main listener with a token instead)",
               c->metrics_host);
    }
    ENSURE(!c->backup_command[0] || c->backup_prune_command[0], CST_ERR_INVALID,
           "backup.command needs backup.prune_command: backups older than "
           "backup.retention_days must be removable (BAK-4)");
    ENSURE(!!c->audit_syslog_cert_file[0] == !!c->audit_syslog_key_file[0], CST_ERR_INVALID,
           "audit.syslog_cert_file and audit.syslog_key_file must be set together");
    if (c->audit_syslog_url[0]) {
        char host[256];
        int port;
        cst_err e = cst_ship_parse_url(c->audit_syslog_url, host, sizeof(host), &port);
        if (e != CST_OK) {
            char why[256];
            (void)snprintf(why, sizeof(why), "%s", cst_err_message(e));
            return cst_fail(CST_ERR_INVALID, "audit.syslog_url: %s", why);
        }
    }
    if (c->alerts_webhook_url[0]) { /* DET-1: https, or http to loopback only */
        cst_err e = cst_webhook_url_check(c->alerts_webhook_url);
        if (e != CST_OK) {
            char why[256];
            (void)snprintf(why, sizeof(why), "%s", cst_err_message(e));
            return cst_fail(CST_ERR_INVALID, "alerts.webhook_url: %s", why);
        }
        ENSURE(c->alerts_webhook_secret_file[0], CST_ERR_INVALID,
               "alerts.webhook_url needs alerts.webhook_secret_file (the signing secrets)");
    }
    if (c->notices_smtp_url[0]) { /* INC-3: TLS to the relay, plaintext to loopback only */
        cst_err e = cst_smtp_url_check(c->notices_smtp_url, c->notices_smtp_starttls);
        if (e != CST_OK) {
            char why[256];
            (void)snprintf(why, sizeof(why), "%s", cst_err_message(e));
            return cst_fail(CST_ERR_INVALID, "notices.smtp_url: %s", why);
        }
        ENSURE(c->notices_smtp_from[0], CST_ERR_INVALID,
               "notices.smtp_url needs notices.smtp_from (the sender address)");
        ENSURE(cst_email_valid(c->notices_smtp_from), CST_ERR_INVALID,
               "notices.smtp_from: \"%s\" is not an email address", c->notices_smtp_from);
    }
    const cst_lifecycle_policy *lp = &c->lifecycle;
    ENSURE(lp->payment_close_days >= lp->payment_suspend_days, CST_ERR_INVALID,
           "lifecycle.payment_close_days must not be shorter than lifecycle.payment_suspend_days");
    ENSURE(lp->terminated_erase_days >= lp->terminated_access_days, CST_ERR_INVALID,
           "lifecycle.terminated_erase_days must not be shorter than "
           "lifecycle.terminated_access_days (RET-3)");
    /* CHG-2: one warning for every setting weaker than its default. */
    cst_config_weaker(c, log_weaker, NULL);
    return CST_OK;
}

void cst_config_weaker(const cst_config *c,
                       void (*fn)(const char *key, const char *message, void *ctx), void *ctx)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const config_key *k = &config_keys[i];
        char msg[768];
        if (k->weaker == W_CUSTOM) {
            if (k->warn(c, msg, sizeof(msg)))
                fn(k->name, msg, ctx);
            continue;
        }
        if (k->weaker == W_NONE)
            continue;
        long have = key_value(c, k), want = strtol(k->def, NULL, 10);
        bool weaker = (k->weaker == W_GT && have > want) || (k->weaker == W_LT && have < want) ||
                      (k->weaker == W_NE && have != want);
        if (weaker) {
            (void)snprintf(msg, sizeof(msg), "%s = %ld%s (default %s)%s", k->name, have, k->unit,
                           k->def, k->why);
            fn(k->name, msg, ctx);
        }
    }
}

json_t *cst_config_json(const cst_config *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (size_t i = 0; i < NKEYS; i++) {
        const config_key *k = &config_keys[i];
        const void *p = key_field(c, k);
        json_t *v = NULL;
        char listen[128];
        switch (k->type) {
        case K_STR:
        case K_CIDR:
            if (k->redact) {
                char r[2 * sizeof(((cst_config *)0)->store_dsn)];
                k->redact(p, r, sizeof(r));
                v = json_string(r);
            } else {
                v = json_string(p);
            }
            break;
        case K_BOOL:
            v = json_boolean(*(const bool *)p);
            break;
        case K_LISTEN:
            (void)snprintf(listen, sizeof(listen),
                           strchr(c->listen_host, ':') ? "[%s]:%d" : "%s:%d", c->listen_host,
                           c->listen_port);
            v = json_string(listen);
            break;
        default:
            v = json_integer((json_int_t)key_value(c, k));
        }
        if (!v || json_object_set_new(o, k->name, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static const char *const type_names[] = {
    [K_STR] = "string",        [K_INT] = "integer",     [K_LONG] = "integer",
    [K_SIZE] = "bytes",        [K_BOOL] = "true/false", [K_DUR_INT] = "duration",
    [K_DUR_LONG] = "duration", [K_CIDR] = "CIDR list",  [K_LISTEN] = "HOST:PORT",
};

static const char *const weaker_doc[] = {
    [W_NONE] = "",
    [W_GT] = "; above the default warns at start-up",
    [W_LT] = "; below the default warns at start-up",
    [W_NE] = "; any other value warns at start-up",
    [W_CUSTOM] = "; a weaker value warns at start-up",
};

/* A key's bounds as the reference and the example show them; quote wraps each choice. */
static void print_bounds(FILE *f, const config_key *k, const char *quote)
{
    switch (k->type) {
    case K_INT:
    case K_LONG:
    case K_SIZE:
        fprintf(f, "%ld to %ld", k->min, k->max);
        break;
    case K_DUR_INT:
    case K_DUR_LONG:
        fprintf(f, "%ld to %ld s", k->min, k->max);
        break;
    case K_STR:
        for (const char *const *ch = k->choices; ch && *ch; ch++)
            fprintf(f, "%s%s%s%s", ch == k->choices ? "" : " or ", quote, *ch, quote);
        if (!k->choices)
            fprintf(f, "at most %zu bytes", k->size - 1);
        break;
    case K_CIDR:
        fprintf(f, "at most %zu bytes", k->size - 1);
        break;
    case K_LISTEN:
        fprintf(f, "port 0 to 65535");
        break;
    default:
        break;
    }
}

/* A key's default as the reference and the example show them. */
static void print_default(FILE *f, const config_key *k, const char *quote)
{
    if (k->doc_default)
        fprintf(f, "%s", k->doc_default);
    else if (!k->def[0])
        fprintf(f, "empty");
    else
        fprintf(f, "%s%s%s", quote, k->def, quote);
}

/* docs/configuration.md: the key table as Markdown (tests/CMakeLists.txt diffs the two). */
void cst_config_reference(FILE *f)
{
    fprintf(f, "# Configuration reference\n\n"
               "<!-- Generated by `custodia config reference` from the key table in "
               "src/node/config.c; do not edit.\n"
               "     The ctest test cli.config_reference fails when this file and the table "
               "differ. -->\n\n"
               "An INI file given with `--config`; flags override it. Every key has a safe "
               "default, so no file\n"
               "is needed. Unknown keys and bad values stop start-up with the file, line and key "
               "named. A value\n"
               "weaker than the default starts with a `WEAKER THAN DEFAULT` warning in the log "
               "(CHG-2); every\n"
               "start records the effective configuration in the audit event `node.start` "
               "(CHG-1).\n\n"
               "A duration is a number of seconds, or a number with `s`, `m`, `h` or `d` "
               "(`90m`, `24h`, `7d`).\n\n"
               "| key | type | default | bounds | meaning |\n"
               "|---|---|---|---|---|\n");
    for (size_t i = 0; i < NKEYS; i++) {
        const config_key *k = &config_keys[i];
        const char *dot = strchr(k->name, '.');
        int slen = (int)(dot - k->name);
        fprintf(f, "| `[%.*s] %s` | %s | ", slen, k->name, dot + 1, type_names[k->type]);
        print_default(f, k, "`");
        fprintf(f, " | ");
        print_bounds(f, k, "`");
        fprintf(f, " | %s%s |\n", k->desc, weaker_doc[k->weaker]);
    }
}

/* Prints text as "# " comment lines of at most width columns, broken at spaces. */
static void print_comment(FILE *f, const char *text, size_t width)
{
    const char *p = text;
    while (*p) {
        size_t len = strlen(p), cut = len;
        if (len > width - 2) {
            cut = width - 2;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0) /* one word longer than the line: it stays whole */
                cut = strcspn(p, " ");
        }
        fprintf(f, "# %.*s\n", (int)cut, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
}

/* The example configuration (/etc/custodia/custodia.ini of the package): every key of the table,
 * by section, commented out as ";key = default" under its meaning, type, bounds and default.
 * Removing every leading ';' gives a file that parses to the defaults (tests/unit/test_config.c).
 */
void cst_config_example(FILE *f)
{
    fprintf(f, "# custodia configuration: an INI file given to `custodia serve --config FILE`.\n"
               "#\n"
               "# Generated by `custodia config example` from the key table in src/node/config.c.\n"
               "# Every key is here, commented out at its default: a line \";key = value\" has no\n"
               "# effect; remove its ';' and change the value to set it. Flags given to `custodia\n"
               "# serve` override this file. A value weaker than its default logs WEAKER THAN\n"
               "# DEFAULT at start-up (CHG-2); every start records the effective configuration\n"
               "# in the audit event node.start (CHG-1). A duration is a number of seconds, or a\n"
               "# number with s, m, h or d (90m, 24h, 7d). docs/configuration.md has the same\n"
               "# table (`custodia config reference`).\n");
    for (size_t i = 0; i < NKEYS; i++) {
        const char *name = config_keys[i].name;
        size_t slen = (size_t)(strchr(name, '.') - name);
        bool seen = false; /* each section once, where its first key is */
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(config_keys[j].name, name, slen + 1) == 0;
        if (seen)
            continue;
        fprintf(f, "\n[%.*s]\n", (int)slen, name);
        for (size_t j = i; j < NKEYS; j++) {
            const config_key *k = &config_keys[j];
            if (strncmp(k->name, name, slen + 1) != 0)
                continue;
            char about[256];
            FILE *m = fmemopen(about, sizeof(about), "w");
            if (m) {
                fprintf(m, "%s, ", type_names[k->type]);
                print_bounds(m, k, "");
                fprintf(m, "; default ");
                print_default(m, k, "");
                fputs(weaker_doc[k->weaker], m);
                fputc('\0', m);
                fclose(m);
            } else {
                about[0] = '\0';
            }
            about[sizeof(about) - 1] = '\0';
            fprintf(f, "\n");
            print_comment(f, k->desc, 78);
            print_comment(f, about, 78);
            const char *def = k->empty_is_default ? "" : k->def;
            fprintf(f, ";%s =%s%s\n", k->name + slen + 1, def[0] ? " " : "", def);
        }
    }
}
