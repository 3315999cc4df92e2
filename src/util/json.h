/* json.h: strict JSON request bodies (jansson): objects only, no duplicate keys, no unknown
 * fields, typed getters with clear messages. */
#ifndef CST_JSON_H
#define CST_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

/* Frees a string from json_dumps (it comes from jansson's allocator, which wipes). */
void cst_json_free_text(char *text);
/* A time (microseconds since the epoch) as an RFC 3339 UTC string; null for 0 ("never"). */
json_t *cst_json_time(int64_t us);

/* Parses body as one JSON object. An empty body parses as {} when allow_empty. */
CST_MUST_USE cst_err cst_json_object(const cst_buf *body, bool allow_empty, json_t **out);
/* Fails naming the first member of obj that is not in allowed (NULL-terminated). */
CST_MUST_USE cst_err cst_json_only(const json_t *obj, const char *const *allowed);
/* Typed getters: absent is fine unless required; a present member of the wrong type fails. */
CST_MUST_USE cst_err cst_json_str(const json_t *obj, const char *key, bool required,
                                  const char **out);
CST_MUST_USE cst_err cst_json_int(const json_t *obj, const char *key, bool required, int64_t *out,
                                  bool *present);
CST_MUST_USE cst_err cst_json_obj(const json_t *obj, const char *key, bool required, json_t **out);

#endif
