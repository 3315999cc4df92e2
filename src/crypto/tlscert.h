/* tlscert.h: the node's self-signed TLS certificate, made when none is configured. */
#ifndef CST_TLSCERT_H
#define CST_TLSCERT_H

#include "util/err.h"

/* Writes an ECDSA P-256 key (mode 0600) and a self-signed certificate valid for 825 days for
 * localhost, 127.0.0.1 and ::1 (plus extra_host when given) as PEM files. */
CST_MUST_USE cst_err cst_tls_selfsigned(const char *cert_path, const char *key_path,
                                        const char *extra_host);

#endif
