/* cidr.h: IPv4/IPv6 addresses and CIDR lists (parsing and matching), used by the IP allowlists
 * (IAM-7) and the configuration. */
#ifndef CST_CIDR_H
#define CST_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define CST_CIDR_MAX 64

typedef struct cst_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int prefix;
} cst_cidr;

typedef struct cst_cidr_list {
    cst_cidr items[CST_CIDR_MAX];
    size_t n;
} cst_cidr_list;

/* Parses a bare IPv4 or IPv6 address (no prefix) into family (AF_INET or AF_INET6) and addr;
 * an IPv4-mapped IPv6 address is taken as IPv4. False when s is not an address. */
bool cst_addr_parse(const char *s, int *family, uint8_t addr[16]);
/* Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128). Host bits below the
 * prefix must be zero. IPv4-mapped IPv6 addresses are taken as IPv4. */
CST_MUST_USE cst_err cst_cidr_parse(const char *s, cst_cidr *out);
/* Parses a comma- or space-separated list (configuration files). */
CST_MUST_USE cst_err cst_cidr_list_parse(const char *s, cst_cidr_list *out);
/* True when ip (text) falls in any entry; false for an unparsable ip. */
bool cst_cidr_list_match(const cst_cidr_list *l, const char *ip);
/* Whether an address (family AF_INET or AF_INET6, bytes as cst_addr_parse gives them; an
 * IPv4-mapped IPv6 address counts as IPv4) is a public unicast one: not loopback, private,
 * shared, link-local, documentation, multicast or otherwise reserved (RFC 6890). */
bool cst_addr_public(int family, const uint8_t addr[16]);

#endif
