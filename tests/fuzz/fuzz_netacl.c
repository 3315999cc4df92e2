/* fuzz_netacl.c: libFuzzer target for CIDR lists and X-Forwarded-For parsing (IAM-7). Input:
 * three lines: a trusted-proxy list, a peer address, an X-Forwarded-For value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/netacl.h" /* cst_client_ip */
#include "util/cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *lines[3] = {text, "", ""};
    for (int i = 1; i < 3; i++) {
        char *nl = strchr(lines[i - 1], '\n');
        if (!nl)
            break;
        *nl = '\0';
        lines[i] = nl + 1;
    }
    cst_cidr_list l;
    if (cst_cidr_list_parse(lines[0], &l) == CST_OK) {
        if (l.n > CST_CIDR_MAX)
            abort();
        char ip[64];
        if (cst_client_ip(&l, lines[1], lines[2][0] ? lines[2] : NULL, ip) == CST_OK) {
            if (!memchr(ip, '\0', sizeof(ip)))
                abort();
            (void)cst_cidr_list_match(&l, ip);
        }
    }
    cst_cidr c;
    (void)cst_cidr_parse(lines[1], &c);
    free(text);
    return 0;
}
