/* paging.c: the one shape of a listing's response: {"<name>": [...], "next": cursor or null}. */
#include "api/api.h"

cst_err cst_api_page(cst_request *req, cst_err e, const char *name, json_t *items,
                     const char *cursor_field, int limit)
{
    if (e != CST_OK) {
        json_decref(items);
        return e;
    }
    size_t count = json_array_size(items);
    /* a full page may have more after it: the cursor is its last item's */
    json_t *next =
        count == (size_t)limit
            ? json_incref(json_object_get(json_array_get(items, count - 1), cursor_field))
            : json_null();
    return cst_resp_json(req, 200, json_pack("{s:o,s:o}", name, items, "next", next));
}
