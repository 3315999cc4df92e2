/* test_openapi.c: docs/openapi.yaml describes exactly the routes the server serves. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "api/api.h"

static char documented[128][160];
static int ndoc;

static void load(void)
{
    FILE *f = fopen(CUSTODIA_SOURCE_DIR "/docs/openapi.yaml", "r");
    assert_non_null(f);
    char line[512], path[128] = "";
    bool in_paths = false;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, "paths:") == 0) {
            in_paths = true;
            continue;
        }
        if (!in_paths)
            continue;
        if (!strncmp(line, "  /", 3) && line[strlen(line) - 1] == ':') {
            snprintf(path, sizeof(path), "%.*s", (int)strlen(line) - 3, line + 2);
            continue;
        }
        static const char *methods[] = {"get", "put", "post", "delete", "head", "patch"};
        for (int m = 0; m < 6; m++) {
            char want[32];
            snprintf(want, sizeof(want), "    %s:", methods[m]);
            if (strcmp(line, want) == 0) {
                char up[16];
                for (size_t i = 0; i <= strlen(methods[m]); i++)
                    up[i] = (char)toupper((unsigned char)methods[m][i]);
                assert_true(ndoc < 128);
                snprintf(documented[ndoc++], sizeof(documented[0]), "%s %s", up, path);
            }
        }
    }
    fclose(f);
}

static void test_every_route_documented_and_nothing_else(void **state)
{
    load();
    for (size_t i = 0; i < cst_api_route_count; i++) {
        char want[160];
        snprintf(want, sizeof(want), "%s %s", cst_api_routes[i].method,
                 cst_api_routes[i].pattern);
        bool found = false;
        for (int d = 0; d < ndoc; d++)
            found |= strcmp(documented[d], want) == 0;
        if (!found)
            fail_msg("route %s is served but not in docs/openapi.yaml", want);
    }
    for (int d = 0; d < ndoc; d++) {
        bool found = false;
        for (size_t i = 0; i < cst_api_route_count; i++) {
            char have[160];
            snprintf(have, sizeof(have), "%s %s", cst_api_routes[i].method,
                     cst_api_routes[i].pattern);
            found |= strcmp(documented[d], have) == 0;
        }
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
