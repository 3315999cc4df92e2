/* test_docs.c: the tables in docs/api.md are the tables the server runs on. Routes: every route
 * of cst_api_routes has one row with its method, path and permission, and no row names a
 * route that does not exist. Permissions (IAM-4): every permission a token can hold has one
 * row naming exactly the roles that grant it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "api/api.h"
#include "core/authz.h"

#define MAX_ROWS 128
#define CELL_MAX 160

typedef struct doc_row {
    char method[16], path[CELL_MAX], perm[64];
    int line;
} doc_row;

static doc_row rows[MAX_ROWS];
static int nrows;

/* Copies one table cell without its surrounding spaces and backticks. */
static void cell(const char *from, const char *to, char *out, size_t n)
{
    while (from < to && (*from == ' ' || *from == '`'))
        from++;
    while (to > from && (to[-1] == ' ' || to[-1] == '`'))
        to--;
    size_t len = (size_t)(to - from);
    assert_true(len < n);
    memcpy(out, from, len);
    out[len] = '\0';
}

/* Splits "| a | b | c | ... |" into its first three cells. */
static void parse_row(const char *line, int lineno)
{
    const char *bars[4];
    const char *p = line;
    for (int i = 0; i < 4; i++) {
        p = strchr(p, '|');
        if (!p)
            fail_msg("docs/api.md:%d: a route row needs method, path, permission and text", lineno);
        bars[i] = p++;
    }
    assert_true(nrows < MAX_ROWS);
    doc_row *r = &rows[nrows++];
    cell(bars[0] + 1, bars[1], r->method, sizeof(r->method));
    cell(bars[1] + 1, bars[2], r->path, sizeof(r->path));
    cell(bars[2] + 1, bars[3], r->perm, sizeof(r->perm));
    r->line = lineno;
}

/* Calls row() for each table row between <!-- name --> and <!-- /name --> in docs/api.md,
 * skipping the table's header and separator. */
static void load_table(const char *name, void (*row)(const char *line, int lineno))
{
    FILE *f = fopen(CUSTODIA_SOURCE_DIR "/docs/api.md", "r");
    assert_non_null(f);
    char line[2048], begin[64], end[64];
    (void)snprintf(begin, sizeof(begin), "<!-- %s -->", name);
    (void)snprintf(end, sizeof(end), "<!-- /%s -->", name);
    int lineno = 0, in_table = 0, seen_end = 0, header = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, begin) == 0) {
            in_table = 1;
            continue;
        }
        if (strcmp(line, end) == 0) {
            seen_end = 1;
            break;
        }
        if (!in_table || line[0] != '|')
            continue;
        if (header++ < 2) /* the header row and the |---| row */
            continue;
        row(line, lineno);
    }
    fclose(f);
    if (!seen_end)
        fail_msg("docs/api.md has no table between %s and %s", begin, end);
}

static void load(void)
{
    nrows = 0;
    load_table("routes", parse_row);
}

/* The name docs/api.md gives a permission: the token permission name, or public / self. */
static void perm_name(cst_perm p, char *out, size_t n)
{
    if (p == CST_PERM_PUBLIC) {
        (void)snprintf(out, n, "public");
        return;
    }
    if (p == CST_PERM_SELF) {
        (void)snprintf(out, n, "self");
        return;
    }
    json_t *names = cst_perms_json(CST_PERM_BIT(p));
    const char *name = json_string_value(json_array_get(names, 0));
    assert_non_null(name);
    (void)snprintf(out, n, "%s", name);
    json_decref(names);
}

static void test_every_route_has_its_row(void **state)
{
    (void)state;
    load();
    for (size_t i = 0; i < cst_api_route_count; i++) {
        const cst_route *r = &cst_api_routes[i];
        char want_perm[64];
        perm_name(r->perm, want_perm, sizeof(want_perm));
        int found = 0;
        for (int d = 0; d < nrows; d++) {
            if (strcmp(rows[d].method, r->method) != 0 || strcmp(rows[d].path, r->pattern) != 0)
                continue;
            found++;
            if (strcmp(rows[d].perm, want_perm) != 0)
                fail_msg("docs/api.md:%d: %s %s needs permission %s, the table says %s",
                         rows[d].line, r->method, r->pattern, want_perm, rows[d].perm);
        }
        if (found != 1)
            fail_msg("route %s %s is in docs/api.md %d times (want exactly once)", r->method,
                     r->pattern, found);
    }
}

static void test_no_row_names_a_route_that_does_not_exist(void **state)
{
    (void)state;
    load();
    for (int d = 0; d < nrows; d++) {
        bool exists = false;
        for (size_t i = 0; i < cst_api_route_count; i++)
            exists |= strcmp(rows[d].method, cst_api_routes[i].method) == 0 &&
                      strcmp(rows[d].path, cst_api_routes[i].pattern) == 0;
        if (!exists)
            fail_msg("docs/api.md:%d: %s %s is not a route the server serves", rows[d].line,
                     rows[d].method, rows[d].path);
    }
    assert_int_equal((size_t)nrows, cst_api_route_count);
}

/* The permissions table: "| `name` | role, role | text |". */
static struct {
    char name[64], roles[256];
    int line;
} perm_rows[32];
static int nperm;

static void parse_perm_row(const char *line, int lineno)
{
    const char *a = strchr(line, '|'), *b = a ? strchr(a + 1, '|') : NULL,
               *c = b ? strchr(b + 1, '|') : NULL;
    if (!c)
        fail_msg("docs/api.md:%d: a permission row needs name, roles and text", lineno);
    assert_true(nperm < 32);
    cell(a + 1, b, perm_rows[nperm].name, sizeof(perm_rows[nperm].name));
    cell(b + 1, c, perm_rows[nperm].roles, sizeof(perm_rows[nperm].roles));
    perm_rows[nperm++].line = lineno;
}

/* The roles that grant perm, as "owner, admin, ..." in the role table's order. */
static void roles_granting(cst_perm perm, char *out, size_t n)
{
    out[0] = '\0';
    for (int r = 0; r < CST_ROLE__COUNT; r++) {
        if (!(cst_roles_perms(CST_ROLE_BIT(r)) & CST_PERM_BIT(perm)))
            continue;
        json_t *names = cst_roles_json(CST_ROLE_BIT(r));
        size_t len = strlen(out);
        int w = snprintf(out + len, n - len, "%s%s", len ? ", " : "",
                         json_string_value(json_array_get(names, 0)));
        json_decref(names);
        assert_true(w > 0 && (size_t)w < n - len);
    }
}

static void test_permission_table_matches_the_roles(void **state)
{
    (void)state;
    nperm = 0;
    load_table("permissions", parse_perm_row);
    int grantable = 0;
    for (int p = CST_PERM_PUBLIC; p < CST_PERM__COUNT; p++) {
        if (p == CST_PERM_PUBLIC || p == CST_PERM_SELF)
            continue;
        grantable++;
        char name[64], want[256];
        perm_name((cst_perm)p, name, sizeof(name));
        roles_granting((cst_perm)p, want, sizeof(want));
        int found = 0;
        for (int d = 0; d < nperm; d++) {
            if (strcmp(perm_rows[d].name, name) != 0)
                continue;
            found++;
            if (strcmp(perm_rows[d].roles, want) != 0)
                fail_msg("docs/api.md:%d: %s is held by \"%s\", the table says \"%s\"",
                         perm_rows[d].line, name, want, perm_rows[d].roles);
        }
        if (found != 1)
            fail_msg("permission %s is in docs/api.md's permission table %d times", name, found);
    }
    assert_int_equal(nperm, grantable);
}

static const struct CMUnitTest docs_tests[] = {
    cmocka_unit_test(test_every_route_has_its_row),
    cmocka_unit_test(test_no_row_names_a_route_that_does_not_exist),
    cmocka_unit_test(test_permission_table_matches_the_roles),
};

int main(void)
{
    return cmocka_run_group_tests(docs_tests, NULL, NULL);
}
