/* fuzz_config.c: libFuzzer target for the config parser (node/config.c, CHG-1, CHG-2): the input
 * is a config file, loaded over the defaults through the INI parser and the key table, then
 * finished (derived paths, rules across keys, weaker-than-default warnings) and rendered as the
 * effective configuration. */
#include <limits.h>
#include <stdint.h>

#include <jansson.h>

#include "fuzz_util.h"
#include "node/config.h"

static char path[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (snprintf(path, sizeof(path), "%s/custodia.ini", fuzz_scratch_dir("config")) >=
        (int)sizeof(path))
        abort();
    return 0;
}

/* A string field of the table is NUL-terminated inside its buffer. */
static void check_terminated(const char *s, size_t n)
{
    if (!memchr(s, '\0', n))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_write_file(path, data, size);
    cst_config c;
    cst_config_defaults(&c);
    if (cst_config_load(&c, path) != CST_OK)
        return 0;
    check_terminated(c.data_dir, sizeof(c.data_dir));
    check_terminated(c.listen_host, sizeof(c.listen_host));
    check_terminated(c.tls_priorities, sizeof(c.tls_priorities));
    check_terminated(c.backup_command, sizeof(c.backup_command));
    if (c.listen_port < 0 || c.listen_port > 65535 || c.threads < 0 ||
        c.operator_ip_allowlist.n > CST_CIDR_MAX || c.trusted_proxies.n > CST_CIDR_MAX)
        abort();
    fuzz_quiet_begin();
    cst_err e = cst_config_finish(&c);
    fuzz_quiet_end();
    json_t *j = cst_config_json(&c);
    if (!j)
        abort();
    /* the effective configuration parses back to the same configuration (CHG-1) */
    cst_config again;
    cst_config_defaults(&again);
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        char section[32], text[64];
        const char *dot = strchr(key, '.');
        const char *value = json_string_value(v);
        if (!dot || (size_t)(dot - key) >= sizeof(section))
            abort();
        memcpy(section, key, (size_t)(dot - key));
        section[dot - key] = '\0';
        if (json_is_integer(v))
            (void)snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
        else if (json_is_boolean(v))
            (void)snprintf(text, sizeof(text), "%s", json_is_true(v) ? "true" : "false");
        if (!value)
            value = text;
        if (cst_config_set(&again, section, dot + 1, value) != CST_OK)
            abort();
    }
    fuzz_quiet_begin();
    cst_err e2 = e == CST_OK ? cst_config_finish(&again) : e;
    fuzz_quiet_end();
    if (e2 == CST_OK) {
        json_t *j2 = cst_config_json(&again);
        if (!json_equal(j, j2))
            abort();
        json_decref(j2);
    }
    json_decref(j);
    return 0;
}
