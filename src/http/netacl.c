/* netacl.c: the client's address behind trusted proxies (IAM-7). */
#include "http/netacl.h"

#include <stdint.h>
#include <string.h>

#include "util/util.h"

cst_err cst_client_ip(const cst_cidr_list *trusted, const char *peer, const char *xff, char out[64])
{
    TRY(cst_fmt(out, 64, "%s", peer));
    if (!xff || !cst_cidr_list_match(trusted, peer))
        return CST_OK; /* X-Forwarded-For from an untrusted peer is ignored */
    char buf[2048];
    ENSURE(cst_copy(buf, sizeof(buf), xff) == CST_OK, CST_ERR_INVALID,
           "X-Forwarded-For is too long");
    for (;;) {
        char *comma = strrchr(buf, ',');
        char *hop = comma ? comma + 1 : buf;
        while (*hop == ' ')
            hop++;
        for (char *e = hop + strlen(hop); e > hop && e[-1] == ' ';)
            *--e = '\0';
        int family;
        uint8_t addr[16];
        ENSURE(cst_addr_parse(hop, &family, addr), CST_ERR_INVALID,
               "malformed X-Forwarded-For from a trusted proxy");
        TRY(cst_fmt(out, 64, "%s", hop));
        if (!cst_cidr_list_match(trusted, hop) || !comma)
            return CST_OK;
        *comma = '\0';
    }
}
