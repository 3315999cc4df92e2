/* tlscert.c: self-signed ECDSA P-256 certificate generation through GnuTLS. */
#include "crypto/tlscert.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto.h"
#include "util/util.h"

#define GT(x)                                                                                      \
    do {                                                                                           \
        if ((x) < 0) {                                                                             \
            e = cst_fail(CST_ERR_INTERNAL, "certificate generation failed at %s", #x);             \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

cst_err cst_tls_selfsigned(const char *cert_path, const char *key_path, const char *extra_host)
{
    cst_err e = CST_OK;
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    unsigned char serial[16];
    unsigned char v4[4], v6[16];
    uint8_t keypem[4096], crtpem[8192];
    size_t keylen = sizeof(keypem), crtlen = sizeof(crtpem);
    time_t now = time(NULL);

    TRY(cst_random(serial, sizeof(serial)));
    serial[0] &= 0x7f; /* positive */
    inet_pton(AF_INET, "127.0.0.1", v4);
    inet_pton(AF_INET6, "::1", v6);

    GT(gnutls_x509_privkey_init(&key));
    GT(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0));
    GT(gnutls_x509_crt_init(&crt));
    GT(gnutls_x509_crt_set_version(crt, 3));
    GT(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)));
    GT(gnutls_x509_crt_set_activation_time(crt, now - 60));
    GT(gnutls_x509_crt_set_expiration_time(crt, now + 825L * 24 * 3600));
    GT(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "localhost", 9));
    GT(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
                                     "custodia self-signed", 20));
    GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9,
                                            GNUTLS_FSAN_APPEND));
    GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, v4, 4, GNUTLS_FSAN_APPEND));
    GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, v6, 16, GNUTLS_FSAN_APPEND));
    if (extra_host && *extra_host)
        GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, extra_host,
                                                (unsigned)strlen(extra_host), GNUTLS_FSAN_APPEND));
    GT(gnutls_x509_crt_set_basic_constraints(crt, 0, -1));
    GT(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE));
    GT(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0));
    GT(gnutls_x509_crt_set_key(crt, key));
    GT(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0));
    GT(gnutls_x509_privkey_export(key, GNUTLS_X509_FMT_PEM, keypem, &keylen));
    GT(gnutls_x509_crt_export(crt, GNUTLS_X509_FMT_PEM, crtpem, &crtlen));

    e = cst_file_write_atomic(key_path, keypem, keylen, 0600);
    if (e == CST_OK)
        e = cst_file_write_atomic(cert_path, crtpem, crtlen, 0644);
out:
    memset(keypem, 0, sizeof(keypem));
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return e;
}
