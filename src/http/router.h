/* router.h: path decoding and route matching against a static table, deny by default. */
#ifndef CST_ROUTER_H
#define CST_ROUTER_H

#include <stddef.h>

#include "http/request.h"

#define CST_PATH_MAX 4096

/* Checks a table before the server starts: every route has a method, a pattern, a handler and
 * a permission; no two routes share method and pattern. */
CST_MUST_USE cst_err cst_routes_check(const cst_route *table, size_t n);

/* Matches a raw (still percent-encoded) path: segments are split on '/', then each is decoded
 * strictly. CST_ERR_NOT_FOUND when no pattern matches, CST_ERR_METHOD_NOT_ALLOWED when a
 * pattern matches with another method, CST_ERR_INVALID on a bad encoding. On success *route is
 * set and params[i] hold the decoded captures (which may contain any byte but NUL). */
CST_MUST_USE cst_err cst_route_match(const cst_route *table, size_t n, const char *method,
                                     const char *path, const cst_route **route,
                                     char params[CST_MAX_PARAMS][CST_PARAM_MAX + 1],
                                     size_t param_len[CST_MAX_PARAMS]);

#endif
