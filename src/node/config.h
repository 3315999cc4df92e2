/* config.h: the node's configuration: INI file (inih), then command-line flags. Every key has a
 * safe default; a key that relaxes a default is accepted with a loud warning (CHG-2). */
#ifndef CST_CONFIG_H
#define CST_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "store/store.h"
#include "util/cidr.h"
#include "util/err.h"

#define CST_DEFAULT_TLS_PRIORITIES                                                                 \
    "NONE:+VERS-TLS1.3:+VERS-TLS1.2:+ECDHE-ECDSA:+ECDHE-RSA:+AES-256-GCM:+AES-128-GCM:"            \
    "+CHACHA20-POLY1305:+AEAD:+SIGN-ALL:+GROUP-SECP256R1:+GROUP-X25519:+GROUP-SECP384R1:"          \
    "+COMP-NULL:+CTYPE-X509:%SERVER_PRECEDENCE"

/* RET-2, RET-3: the deletion schedule, in days (CONTROLS.md defaults). */
typedef struct cst_lifecycle_policy {
    int trial_erase_days;       /* trial ended -> erased (12) */
    int cancelled_erase_days;   /* paid or free account cancelled -> erased (90) */
    int payment_suspend_days;   /* payment failed -> suspended (15) */
    int payment_close_days;     /* payment failed -> closed (90) */
    int closed_erase_days;      /* closed after failed payment -> erased (7) */
    int free_inactive_days;     /* free plan unused -> erased (60) */
    int terminated_access_days; /* terminated: read and export for (15) */
    int terminated_erase_days;  /* terminated -> erased (30) */
    int billing_retention_days; /* billing-class buckets kept after erase (2557, 7 years) */
} cst_lifecycle_policy;

#define CST_DETECT_MAX 64 /* the largest threshold of a windowed rule (util/window.h) */

/* DET-1: a detection rule: an alert when threshold events (or distinct accounts) fall within
 * window seconds. */
typedef struct cst_detect_rule {
    int threshold;
    int window;
    char severity[16]; /* low | medium | high | critical */
} cst_detect_rule;

typedef struct cst_config {
    char data_dir[PATH_MAX];
    char master_key_file[PATH_MAX]; /* empty: <parent of data_dir>/custodia-master.key */
    char master_key[4096]; /* ENC-4: file:PATH | pkcs11:URI | command:CMD; empty: file: above */
    char next_master_key[4096]; /* ENC-4: an online rotation's default target */
    char pin_file[PATH_MAX];    /* pkcs11: the PIN's file; empty: CUSTODIA_PKCS11_PIN */
    int command_timeout_s;      /* command: killed after this */
    char region[65];            /* empty: the region the data dir was initialised with */
    char listen_host[64];
    int listen_port;
    int threads; /* 0: one per core */
    int workers; /* request handler threads; 0: four per core; -1: none (on the polling threads) */
    bool allow_plaintext_loopback;
    char tls_cert_file[PATH_MAX]; /* empty: <data_dir>/tls/cert.pem (self-signed) */
    char tls_key_file[PATH_MAX];
    char tls_priorities[512];
    size_t max_header_bytes;
    size_t max_json_bytes;
    size_t max_record_bytes;
    size_t max_batch_bytes;
    int session_idle_seconds;
    int session_max_seconds;
    int lockout_threshold;               /* failures that lock an account (IAM-2) */
    int lockout_seconds;                 /* how long it stays locked */
    cst_cidr_list operator_ip_allowlist; /* IAM-7; empty allows all */
    cst_cidr_list trusted_proxies;       /* peers whose X-Forwarded-For is believed */
    char operator_ip_allowlist_text[1024];
    char trusted_proxies_text[1024];
    /* audit (LOG-1 to LOG-3) */
    char audit_dir[PATH_MAX]; /* empty: <data_dir>/audit */
    bool audit_group_commit;
    int audit_seal_entries;
    int audit_seal_seconds;
    long audit_segment_bytes;
    int audit_segment_seconds;
    int audit_security_retention_days;
    int audit_access_retention_days;
    char audit_read_durability[16]; /* durable | batched (weaker) */
    /* audit shipping (node/ship.h) */
    char audit_syslog_url[512]; /* tls://host:port; empty: off */
    char audit_syslog_ca_file[PATH_MAX];
    char audit_syslog_cert_file[PATH_MAX];
    char audit_syslog_key_file[PATH_MAX];
    int audit_syslog_facility;
    char audit_ship_command[1024]; /* empty: off */
    int audit_flush_interval;      /* ms: batched reads' entries are durable within it */
    /* backups (BAK-1..4, RES-1) */
    char backup_dir[PATH_MAX];         /* empty: <data_dir>/backups (development only) */
    char backup_command[1024];         /* receives a backup on stdin instead of backup_dir */
    char backup_fetch_command[1024];   /* writes a backup (CUSTODIA_BACKUP_ID) to stdout */
    char backup_prune_command[1024];   /* removes an expired backup (CUSTODIA_BACKUP_ID) */
    char backup_list_command[1024];    /* prints the backups at the destination, one a line */
    char backup_env_file[PATH_MAX];    /* NAME=value lines for the commands (credentials) */
    int backup_command_timeout;        /* seconds a command may run */
    char backup_region[65];            /* the destination's region; empty: the node's */
    long backup_interval;              /* seconds between scheduled backups; 0: none */
    int backup_retention_days;         /* BAK-4 */
    char backup_scratch_dir[PATH_MAX]; /* staging and drills; empty: <data_dir>/tmp */
    /* lifecycle (RET-1..4, POR-1) */
    cst_lifecycle_policy lifecycle;
    long sweep_interval;          /* seconds between retention and lifecycle sweeps */
    int sweep_batch;              /* records deleted per transaction by the sweeper */
    int rewrap_batch;             /* ENC-4: records re-encrypted per transaction */
    int rewrap_pause_ms;          /* ENC-4: pause between re-encryption batches */
    long max_encryptions_per_dek; /* ENC-4: a new DEK version at this count */
    long dek_max_age;             /* ENC-4: seconds; a new DEK version at this age */
    long kek_max_age;             /* ENC-4: seconds; the report fails past this KEK age */
    size_t max_import_bytes;      /* POST /v1/import body limit */
    int max_notice_hours;         /* INC-2: the longest breach_notice_hours a tenant may choose */
    /* abuse limits (issue 12): connections, header deadline, bodies in flight */
    int max_connections;            /* 0: sized from RLIMIT_NOFILE at start-up */
    int max_connections_per_ip;     /* open connections from one source address */
    int header_timeout;             /* seconds for the TLS handshake plus request headers */
    size_t max_inflight_body_bytes; /* request bodies held in memory, node-wide */
    int max_open_tenants;           /* open tenant stores (LRU beyond it) */
    /* issue 20: where the stores are (SQLite in the data dir, or a shared PostgreSQL) */
    char store_driver[16]; /* sqlite | postgresql */
    char store_dsn[1024];  /* libpq connection string (postgresql) */
    int store_pool_size;   /* connections to the database */
    /* IAM-2: login throttling and the password-hashing pool */
    int login_rate_per_ip;      /* login attempts per minute from one source address */
    int login_rate_per_account; /* login attempts per minute for one account */
    int hash_workers;           /* threads that run password-hashing requests; 0: auto */
    int hash_queue;             /* such requests waiting for a worker before 503 */
    int auth_cache_entries;     /* IAM-5: credentials cached by token id; 0: none */
    /* DET-1: intrusion detection */
    bool detect_enabled;
    int detect_quiet_period; /* seconds an open alert absorbs new occurrences */
    cst_detect_rule detect_brute_force, detect_password_spraying, detect_disallowed_ip,
        detect_revoked_credential;
    int detect_exfiltration_factor;      /* records in an hour above factor x the hourly median */
    int detect_exfiltration_min_records; /* and at least this many */
    char detect_exfiltration_severity[16];
    int detect_drill_max_age; /* days without a successful restore drill: drill_overdue */
    /* DET-1: the node's alert webhook */
    char alerts_webhook_url[512];          /* "": none */
    char alerts_webhook_secret_file[4096]; /* whsec_ secrets, one or two lines, 0600 */
    int alerts_webhook_retry_seconds;      /* the first retry's delay, doubling, capped at 1 h */
    bool alerts_allow_private_webhooks;    /* tenants' webhooks may reach non-public addresses */
    int alerts_webhook_timeout_seconds;    /* one attempt's whole time */
    int alerts_max_open;                   /* unresolved alerts; beyond, one overflow per type */
    int alerts_retention_days;             /* resolved alerts are deleted this long after */
    int alerts_delivery_retention_days;    /* finished deliveries are deleted this long after */
    /* INC-3: email of breach notices to a tenant's notice_contacts (node/mail.c) */
    char notices_smtp_url[512];               /* smtps:// or smtp:// (STARTTLS); "": none */
    char notices_smtp_from[256];              /* the envelope and From: address */
    char notices_smtp_credentials_file[4096]; /* "user:password", 0600; "": no AUTH */
    bool notices_smtp_starttls;               /* smtp:// requires STARTTLS (false: loopback) */
    int notices_smtp_timeout_seconds;         /* one send never takes longer */
    /* IAM-6: access reviews */
    int reviews_stale_days;  /* a principal unused this long is flagged stale */
    int reviews_period_days; /* a review is due this long after the last attestation */
    char log_file[PATH_MAX]; /* log.file: empty: stderr. SIGHUP reopens it (logrotate) */
    char log_format[8];      /* json | text */
    /* DET-2: metrics */
    char metrics_listen[80];     /* HOST:PORT of a loopback metrics listener; empty: none */
    char metrics_host[64];       /* metrics_listen parsed (cst_config_finish) */
    int metrics_port;            /* 0 with metrics_listen set: a free port */
    bool metrics_per_tenant;     /* labels may carry tenant ids */
    bool metrics_allow_loopback; /* a loopback peer scrapes /metrics without a token */
    /* least privilege inside the process (node/sandbox.h) */
    char user[64]; /* started as root: drop to this user; "": custodia if it exists */
    bool sandbox;  /* Landlock and seccomp */
    char sandbox_read_paths[PATH_MAX];  /* more paths the node's programs may read and run */
    char sandbox_write_paths[PATH_MAX]; /* more dirs the node's programs may write */
} cst_config;

extern const cst_lifecycle_policy cst_lifecycle_defaults;
void cst_config_defaults(cst_config *c);
/* Reads an INI file over the defaults; an unknown section or key, or a bad value, fails with
 * the file, line and key named. */
/* The store the configuration names (points into c). */
void cst_config_store(const cst_config *c, cst_store_conf *out);
CST_MUST_USE cst_err cst_config_load(cst_config *c, const char *path);
/* Applies one setting by section and key (the file parser and flags both use it). */
CST_MUST_USE cst_err cst_config_set(cst_config *c, const char *section, const char *key,
                                    const char *value);
/* Parses "host:port" ("[v6]:port" for IPv6) into listen_host and listen_port. */
CST_MUST_USE cst_err cst_config_set_listen(cst_config *c, const char *addr);
/* Fills derived defaults (master key path) and checks cross-key rules. Prints a warning line
 * for every setting that is weaker than the default. */
CST_MUST_USE cst_err cst_config_finish(cst_config *c);
/* CHG-2: calls fn for every setting weaker than its default, with the key (the first of a pair
 * that shares one rule) and a message naming the value and the default; the start-up warnings
 * ("WEAKER THAN DEFAULT: <message>") and the compliance report both come from it. */
void cst_config_weaker(const cst_config *c,
                       void (*fn)(const char *key, const char *message, void *ctx), void *ctx);
/* The effective configuration as a flat JSON object {"section.key": "value"} (CHG-1). */
struct json_t;
struct json_t *cst_config_json(const cst_config *c);
/* A read-only view of one entry of the key table (tests walk it). */
typedef enum {
    CST_KEY_STRING,   /* string or path; max_len bytes */
    CST_KEY_INTEGER,  /* integer (int, long or size) from min to max */
    CST_KEY_DURATION, /* seconds, or with s/m/h/d, from min to max seconds */
    CST_KEY_BOOL,
    CST_KEY_CIDRS, /* CIDR list; its text at most max_len bytes */
    CST_KEY_LISTEN,
} cst_config_key_kind;

typedef struct cst_config_key_info {
    const char *name; /* section.key */
    const char *def;  /* the default as value text */
    cst_config_key_kind kind;
    long min, max;
    size_t max_len;
    char weaker; /* rule: '>' above default, '<' below, '!' other, 'c' custom, 0 none */
    const char *const *choices; /* a string with these values only (NULL-terminated), or NULL */
} cst_config_key_info;

/* The i-th key of the table; false past the end. */
CST_MUST_USE bool cst_config_key_at(size_t i, cst_config_key_info *out);
/* Prints the configuration reference (docs/configuration.md) from the key table. */
void cst_config_reference(FILE *f);
/* Prints the example configuration file from the key table: every key by section, commented out
 * (";key = default") under its meaning, type, bounds and default (the package's
 * /etc/custodia/custodia.ini). */
void cst_config_example(FILE *f);
/* The default master key path for a data dir: <parent>/custodia-master.key. */
CST_MUST_USE cst_err cst_config_default_key_path(const char *data_dir, const char *file, char *out,
                                                 size_t n);

#endif
