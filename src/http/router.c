/* router.c: route matching over a static table. */
#include "http/router.h"

#include <string.h>

#include "util/util.h"

cst_err cst_routes_check(const cst_route *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const cst_route *r = &table[i];
        ENSURE(r->method && r->pattern && r->handler, CST_ERR_INTERNAL, "route %zu is incomplete",
               i);
        ENSURE(r->perm > CST_PERM_UNSET && r->perm < CST_PERM__COUNT, CST_ERR_INTERNAL,
               "route %s %s declares no permission", r->method, r->pattern);
        /* LOG-1: a route without an audit action cannot be registered. */
        ENSURE(r->action && r->action[0], CST_ERR_INTERNAL, "route %s %s declares no audit action",
               r->method, r->pattern);
        int captures = 0;
        for (const char *c = r->pattern; *c; c++)
            captures += *c == '{';
        ENSURE(captures <= CST_MAX_PARAMS, CST_ERR_INTERNAL, "route %s has too many captures",
               r->pattern);
        for (size_t j = 0; j < i; j++)
            ENSURE(strcmp(table[j].method, r->method) || strcmp(table[j].pattern, r->pattern),
                   CST_ERR_INTERNAL, "route %s %s is registered twice", r->method, r->pattern);
    }
    return CST_OK;
}

/* Compares one pattern with the path. Returns 1 on match (captures filled), 0 otherwise,
 * or an error through *err for a bad encoding in a captured segment. */
static int match_pattern(const char *pattern, const char *path,
                         char params[CST_MAX_PARAMS][CST_PARAM_MAX + 1],
                         size_t param_len[CST_MAX_PARAMS], cst_err *err)
{
    const char *p = pattern, *s = path;
    int np = 0;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return 0;
        p++;
        s++;
        const char *pe = strchr(p, '/'), *se = strchr(s, '/');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p);
        size_t sl = se ? (size_t)(se - s) : strlen(s);
        if (sl == 0)
            return 0; /* empty segments never match */
        if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
            if (np >= CST_MAX_PARAMS || sl > 3 * CST_PARAM_MAX)
                return 0;
            char tmp[3 * CST_PARAM_MAX + 1];
            size_t out_len;
            cst_err e = cst_percent_decode(s, sl, tmp, &out_len);
            if (e == CST_OK && out_len > CST_PARAM_MAX)
                e = cst_fail(CST_ERR_INVALID, "path parameter longer than %d bytes", CST_PARAM_MAX);
            else if (e == CST_OK && memchr(tmp, '\0', out_len))
                e = cst_fail(CST_ERR_INVALID, "path parameter contains NUL");
            if (e != CST_OK) {
                *err = e;
                return 0;
            }
            memcpy(params[np], tmp, out_len + 1);
            param_len[np++] = out_len;
        } else if (pl != sl || memcmp(p, s, sl) != 0) {
            return 0;
        }
        p += pl;
        s += sl;
    }
    return *p == '\0' && *s == '\0';
}

cst_err cst_route_match(const cst_route *table, size_t n, const char *method, const char *path,
                        const cst_route **route, char params[CST_MAX_PARAMS][CST_PARAM_MAX + 1],
                        size_t param_len[CST_MAX_PARAMS])
{
    ENSURE(strlen(path) < CST_PATH_MAX, CST_ERR_INVALID, "path too long");
    bool other_method = false;
    char allow[64] = "";
    for (size_t i = 0; i < n; i++) {
        cst_err err = CST_OK;
        if (!match_pattern(table[i].pattern, path, params, param_len, &err)) {
            if (err != CST_OK)
                return err;
            continue;
        }
        if (strcmp(table[i].method, method) == 0) {
            *route = &table[i];
            return CST_OK;
        }
        other_method = true;
        size_t used = strlen(allow);
        (void)snprintf(allow + used, sizeof(allow) - used, "%s%s", used ? ", " : "",
                       table[i].method);
    }
    ENSURE(!other_method, CST_ERR_METHOD_NOT_ALLOWED,
           "method %s is not allowed on this path; "
           "allowed: %s",
           method, allow);
    return cst_fail(CST_ERR_NOT_FOUND, "no such route");
}
