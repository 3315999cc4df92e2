/* fuzz_router.c: libFuzzer target for path decoding and route matching. Input: a method line
 * then the raw path. Every outcome must be a clean status; captures must be bounded and never
 * contain NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "http/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *methods[] = {"GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"};
    if (size < 1)
        return 0;
    const char *method = methods[data[0] % 6];
    char *path = malloc(size);
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    const cst_route *r = NULL;
    static char params[CST_MAX_PARAMS][CST_PARAM_MAX + 1];
    size_t lens[CST_MAX_PARAMS] = {0};
    cst_err e =
        cst_route_match(cst_api_routes, cst_api_route_count, method, path, &r, params, lens);
    if (e == CST_OK) {
        if (!r || r->perm == CST_PERM_UNSET)
            abort();
        for (int i = 0; i < CST_MAX_PARAMS; i++)
            if (lens[i] > CST_PARAM_MAX || memchr(params[i], '\0', lens[i]))
                abort();
        if (strchr(r->pattern, '{') && lens[0] > 0)
            (void)cst_record_key_check(params[0], lens[0]);
    } else if (e != CST_ERR_NOT_FOUND && e != CST_ERR_METHOD_NOT_ALLOWED && e != CST_ERR_INVALID) {
        abort();
    }
    free(path);
    return 0;
}
