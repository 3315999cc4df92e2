/* softhsm.h: a throw-away SoftHSM2 token for the tests of pkcs11: master keys (ENC-4). The token
 * lives in dir/tokens, SOFTHSM2_CONF points at dir/softhsm2.conf: never the system's tokens. */
#ifndef CST_TEST_SOFTHSM_H
#define CST_TEST_SOFTHSM_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define TS_HSM_PIN "5678"
#define TS_HSM_LABEL "custodia-test"

/* The SoftHSM2 module of Debian (amd64 or any multiarch), or NULL when it is not installed. */
static inline const char *ts_softhsm_module(void)
{
    static const char *const paths[] = {"/usr/lib/softhsm/libsofthsm2.so",
                                        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                                        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", NULL};
    for (int i = 0; paths[i]; i++)
        if (access(paths[i], R_OK) == 0)
            return paths[i];
    return NULL;
}

/* Makes the token in dir (which exists) and writes into uri (n bytes) the pkcs11: URI of the
 * key object labelled object. Returns 0 on success. */
static inline int ts_softhsm_token(const char *dir, const char *object, char *uri, size_t n)
{
    const char *module = ts_softhsm_module();
    char conf[512], tokens[512], cmd[1400];
    if (!module)
        return -1;
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
    snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
    if (mkdir(tokens, 0700) != 0)
        return -1;
    FILE *f = fopen(conf, "w");
    if (!f)
        return -1;
    fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    snprintf(cmd, sizeof(cmd),
             "softhsm2-util --init-token --free --label %s --so-pin 1234 --pin %s >/dev/null",
             TS_HSM_LABEL, TS_HSM_PIN);
    if (system(cmd) != 0)
        return -1;
    return snprintf(uri, n, "pkcs11:token=%s;object=%s?module-path=%s", TS_HSM_LABEL, object,
                    module) < (int)n
               ? 0
               : -1;
}

#endif
