/* json.c: strict JSON request bodies. */
#include "util/json.h"

#include <string.h>

#include "util/util.h"

void cst_json_free_text(char *text)
{
    json_free_t free_fn = NULL;
    json_get_alloc_funcs(NULL, &free_fn);
    if (text && free_fn)
        free_fn(text);
}

cst_err cst_json_object(const cst_buf *body, bool allow_empty, json_t **out)
{
    if (body->len == 0) {
        ENSURE(allow_empty, CST_ERR_INVALID, "a JSON object body is required");
        *out = json_object();
        return CST_OK;
    }
    json_error_t jerr;
    json_t *v = json_loadb((const char *)body->data, body->len, JSON_REJECT_DUPLICATES, &jerr);
    ENSURE(v != NULL, CST_ERR_INVALID, "malformed JSON at line %d column %d: %s", jerr.line,
           jerr.column, jerr.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return cst_fail(CST_ERR_INVALID, "the body must be a JSON object");
    }
    *out = v;
    return CST_OK;
}

cst_err cst_json_only(const json_t *obj, const char *const *allowed)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        ENSURE(ok, CST_ERR_INVALID, "unknown field \"%.64s\"", key);
    }
    return CST_OK;
}

cst_err cst_json_str(const json_t *obj, const char *key, bool required, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        ENSURE(!required, CST_ERR_INVALID, "field \"%s\" is required", key);
        return CST_OK;
    }
    ENSURE(json_is_string(v), CST_ERR_INVALID, "field \"%s\" must be a string", key);
    ENSURE(strlen(json_string_value(v)) == json_string_length(v), CST_ERR_INVALID,
           "field \"%s\" must not contain NUL", key);
    *out = json_string_value(v);
    return CST_OK;
}

cst_err cst_json_int(const json_t *obj, const char *key, bool required, int64_t *out, bool *present)
{
    const json_t *v = json_object_get(obj, key);
    if (present)
        *present = v != NULL;
    if (!v) {
        ENSURE(!required, CST_ERR_INVALID, "field \"%s\" is required", key);
        return CST_OK;
    }
    ENSURE(json_is_integer(v), CST_ERR_INVALID, "field \"%s\" must be an integer", key);
    *out = json_integer_value(v);
    return CST_OK;
}

cst_err cst_json_obj(const json_t *obj, const char *key, bool required, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        ENSURE(!required, CST_ERR_INVALID, "field \"%s\" is required", key);
        return CST_OK;
    }
    ENSURE(json_is_object(v), CST_ERR_INVALID, "field \"%s\" must be an object", key);
    *out = v;
    return CST_OK;
}

json_t *cst_json_time(int64_t us)
{
    if (!us)
        return json_null();
    char t[32];
    cst_time_format(us, t);
    return json_string(t);
}
