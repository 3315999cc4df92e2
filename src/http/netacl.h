/* netacl.h: IP allowlists (IAM-7): the client address behind trusted proxies. CIDR lists are in
 * util/cidr.h. */
#ifndef CST_NETACL_H
#define CST_NETACL_H

#include "util/cidr.h"
#include "util/err.h"

/* The client's address: the peer itself, unless the peer is a trusted proxy, in which case
 * X-Forwarded-For is read right to left and the first address that is not a trusted proxy is
 * the client. A malformed X-Forwarded-For from a trusted proxy fails. */
CST_MUST_USE cst_err cst_client_ip(const cst_cidr_list *trusted, const char *peer, const char *xff,
                                   char out[64]);

#endif
