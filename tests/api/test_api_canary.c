/* test_api_canary.c: ENC-1. Canary strings written through the API in record keys, values and
 * content types appear nowhere under the data dir (databases, -wal and -shm files included):
 * not raw, not hex, not base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <cmocka.h>

#include "canary.h"
#include "harness.h"

static ts_server srv;

static void test_enc1_no_canary_under_data_dir(void **state)
{
    ts_init(&srv);
    assert_true(ts_start(&srv));
    canary_check(&srv);
    ts_cleanup(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enc1_no_canary_under_data_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
