/* test_openapi.c: docs/openapi.yaml describes exactly the routes the server serves. The file is
 * read with a YAML parser (libyaml): every method under every path of its `paths` mapping is an
 * operation, whatever the file's layout or quoting. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <yaml.h>

#include "api/api.h"

#define MAX_OPS 128

static char documented[MAX_OPS][160];
static int ndoc;

static const char *scalar(yaml_document_t *doc, yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The value of key in mapping m (NULL when m is no mapping or has no such key). */
static yaml_node_t *member(yaml_document_t *doc, yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *k = scalar(doc, yaml_document_get_node(doc, p->key));
        if (k && strcmp(k, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static bool is_method(const char *k)
{
    static const char *const methods[] = {"get",  "put",   "post",    "delete",
                                          "head", "patch", "options", "trace"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(k, methods[i]) == 0)
            return true;
    return false;
}

/* Every "METHOD /path" under one path item. */
static void load_path_item(yaml_document_t *doc, const char *path, yaml_node_t *item)
{
    if (!item || item->type != YAML_MAPPING_NODE)
        fail_msg("docs/openapi.yaml: path %s is not a mapping", path);
    for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(doc, yaml_document_get_node(doc, p->key));
        if (!k || !is_method(k))
            continue; /* parameters, summary, servers, ... */
        char up[16];
        size_t i = 0;
        for (; k[i] && i < sizeof(up) - 1; i++)
            up[i] = (char)toupper((unsigned char)k[i]);
        up[i] = '\0';
        assert_true(ndoc < MAX_OPS);
        int n = snprintf(documented[ndoc++], sizeof(documented[0]), "%s %s", up, path);
        assert_true(n > 0 && (size_t)n < sizeof(documented[0]));
    }
}

static void load(void)
{
    FILE *f = fopen(CUSTODIA_SOURCE_DIR "/docs/openapi.yaml", "r");
    assert_non_null(f);
    yaml_parser_t parser;
    yaml_document_t doc;
    assert_true(yaml_parser_initialize(&parser));
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc))
        fail_msg("docs/openapi.yaml is not valid YAML: %s at line %zu, column %zu",
                 parser.problem ? parser.problem : "?", parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    assert_non_null(root);
    const char *version = scalar(&doc, member(&doc, root, "openapi"));
    assert_non_null(version);
    assert_true(strncmp(version, "3.1.", 4) == 0);
    yaml_node_t *paths = member(&doc, root, "paths");
    assert_non_null(paths);
    assert_int_equal(paths->type, YAML_MAPPING_NODE);
    ndoc = 0;
    for (yaml_node_pair_t *p = paths->data.mapping.pairs.start; p < paths->data.mapping.pairs.top;
         p++) {
        const char *path = scalar(&doc, yaml_document_get_node(&doc, p->key));
        assert_non_null(path);
        load_path_item(&doc, path, yaml_document_get_node(&doc, p->value));
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
}

static bool route_is(size_t i, const char *op)
{
    char have[160];
    int n =
        snprintf(have, sizeof(have), "%s %s", cst_api_routes[i].method, cst_api_routes[i].pattern);
    return n > 0 && (size_t)n < sizeof(have) && strcmp(op, have) == 0;
}

static void test_every_route_documented_and_nothing_else(void **state)
{
    (void)state;
    load();
    for (size_t i = 0; i < cst_api_route_count; i++) {
        bool found = false;
        for (int d = 0; d < ndoc; d++)
            found |= route_is(i, documented[d]);
        if (!found)
            fail_msg("route %s %s is served but not in docs/openapi.yaml", cst_api_routes[i].method,
                     cst_api_routes[i].pattern);
    }
    for (int d = 0; d < ndoc; d++) {
        bool found = false;
        for (size_t i = 0; i < cst_api_route_count; i++)
            found |= route_is(i, documented[d]);
        if (!found)
            fail_msg("docs/openapi.yaml documents %s, which the server does not serve",
                     documented[d]);
    }
    assert_int_equal((size_t)ndoc, cst_api_route_count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_route_documented_and_nothing_else),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
