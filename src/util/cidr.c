/* cidr.c: IPv4/IPv6 address and CIDR parsing and matching. */
#include "util/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

bool cst_addr_parse(const char *s, int *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(addr, mapped, 12) == 0) {
            memmove(addr, addr + 12, 4);
            memset(addr + 4, 0, 12);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return true;
    }
    return false;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

cst_err cst_cidr_parse(const char *s, cst_cidr *out)
{
    char buf[64];
    ENSURE(cst_copy(buf, sizeof(buf), s) == CST_OK, CST_ERR_INVALID, "\"%.64s\" is not a CIDR", s);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    ENSURE(cst_addr_parse(buf, &out->family, out->addr), CST_ERR_INVALID,
           "\"%s\" is not an IPv4 or IPv6 address or CIDR", s);
    int max = out->family == AF_INET ? 32 : 128;
    out->prefix = max;
    if (slash) {
        char *end;
        long p = strtol(slash + 1, &end, 10);
        ENSURE(slash[1] && !*end && p >= 0 && p <= max, CST_ERR_INVALID,
               "\"%s\": the prefix length must be 0 to %d", s, max);
        out->prefix = (int)p;
    }
    uint8_t masked[16];
    memcpy(masked, out->addr, 16);
    /* host bits must be zero: compare the address with itself truncated to the prefix */
    for (int bit = out->prefix; bit < max; bit++)
        masked[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
    ENSURE(memcmp(masked, out->addr, 16) == 0, CST_ERR_INVALID,
           "\"%s\" has host bits set below its prefix", s);
    return CST_OK;
}

cst_err cst_cidr_list_parse(const char *s, cst_cidr_list *out)
{
    out->n = 0;
    char buf[4096];
    TRY(cst_fmt(buf, sizeof(buf), "%s", s));
    for (char *save = NULL, *t = strtok_r(buf, ", \t", &save); t;
         t = strtok_r(NULL, ", \t", &save)) {
        ENSURE(out->n < CST_CIDR_MAX, CST_ERR_INVALID, "at most %d CIDRs", CST_CIDR_MAX);
        TRY(cst_cidr_parse(t, &out->items[out->n]));
        out->n++;
    }
    return CST_OK;
}

bool cst_cidr_list_match(const cst_cidr_list *l, const char *ip)
{
    int family;
    uint8_t addr[16];
    if (!cst_addr_parse(ip, &family, addr))
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (l->items[i].family == family &&
            prefix_match(l->items[i].addr, addr, l->items[i].prefix))
            return true;
    return false;
}

bool cst_addr_public(int family, const uint8_t addr[16])
{
    /* Loopback, private, shared, link-local, documentation, benchmarking, multicast and reserved
     * ranges (RFC 6890): what a request from this node must not reach on a tenant's behalf. */
    static const char *const reserved[] = {
        "0.0.0.0/8",       "10.0.0.0/8",     "100.64.0.0/10", "127.0.0.0/8",    "169.254.0.0/16",
        "172.16.0.0/12",   "192.0.0.0/24",   "192.0.2.0/24",  "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4",   "240.0.0.0/4",    "::/128",
        "::1/128",         "64:ff9b::/96",   "100::/64",      "2001:db8::/32",  "fc00::/7",
        "fe80::/10",       "ff00::/8",
    };
    uint8_t a[16];
    memcpy(a, addr, 16);
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family == AF_INET6 && memcmp(a, mapped, 12) == 0) { /* ::ffff:a.b.c.d is a.b.c.d */
        memmove(a, a + 12, 4);
        memset(a + 4, 0, 12);
        family = AF_INET;
    }
    for (size_t i = 0; i < sizeof(reserved) / sizeof(*reserved); i++) {
        cst_cidr c;
        if (cst_cidr_parse(reserved[i], &c) != CST_OK) /* a constant: cannot fail */
            return false;
        if (c.family == family && prefix_match(c.addr, a, c.prefix))
            return false;
    }
    return family == AF_INET || family == AF_INET6;
}
