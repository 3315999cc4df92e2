/* test_netacl.c: IAM-7. CIDR parsing (malformed CIDRs refused), matching, and the client
 * address behind trusted proxies (a forged X-Forwarded-For from an untrusted peer ignored). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "http/netacl.h" /* cst_client_ip */
#include "util/cidr.h"

static void test_iam7_malformed_cidrs_refused(void **state)
{
    cst_cidr c;
    const char *bad[] = {"",          "10.0.0.0/33", "10.0.0.1/8",    "10.0.0/8",
                         "::1/129",   "fe80::1/10",  "10.0.0.0/",     "10.0.0.0/x",
                         "localhost", "1.2.3.4/-1",  "2001:db8::1/32"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(cst_cidr_parse(bad[i], &c), CST_ERR_INVALID);
    assert_int_equal(cst_cidr_parse("10.0.0.0/8", &c), CST_OK);
    assert_int_equal(cst_cidr_parse("2001:db8::/32", &c), CST_OK);
    assert_int_equal(cst_cidr_parse("127.0.0.1", &c), CST_OK);
    assert_int_equal(c.prefix, 32);
    assert_int_equal(cst_cidr_parse("0.0.0.0/0", &c), CST_OK);
}

static void test_iam7_matching(void **state)
{
    cst_cidr_list l;
    assert_int_equal(cst_cidr_list_parse("10.0.0.0/8, 192.168.1.0/24 2001:db8::/32 127.0.0.1", &l),
                     CST_OK);
    assert_int_equal(l.n, 4);
    assert_true(cst_cidr_list_match(&l, "10.255.1.2"));
    assert_true(cst_cidr_list_match(&l, "192.168.1.77"));
    assert_false(cst_cidr_list_match(&l, "192.168.2.1"));
    assert_true(cst_cidr_list_match(&l, "2001:db8:ffff::1"));
    assert_false(cst_cidr_list_match(&l, "2001:db9::1"));
    assert_true(cst_cidr_list_match(&l, "127.0.0.1"));
    assert_false(cst_cidr_list_match(&l, "127.0.0.2"));
    assert_true(cst_cidr_list_match(&l, "::ffff:10.1.1.1")); /* mapped v4 */
    assert_false(cst_cidr_list_match(&l, "not-an-ip"));
    assert_int_equal(cst_cidr_list_parse("10.0.0.0/8, bogus", &l), CST_ERR_INVALID);
}

static void test_iam7_forwarded_for_only_from_trusted_proxies(void **state)
{
    cst_cidr_list trusted;
    char ip[64];
    assert_int_equal(cst_cidr_list_parse("10.0.0.0/8", &trusted), CST_OK);
    /* untrusted peer: its X-Forwarded-For is ignored */
    assert_int_equal(cst_client_ip(&trusted, "203.0.113.9", "127.0.0.1", ip), CST_OK);
    assert_string_equal(ip, "203.0.113.9");
    /* trusted peer: the rightmost untrusted hop is the client */
    assert_int_equal(cst_client_ip(&trusted, "10.0.0.5", "198.51.100.7", ip), CST_OK);
    assert_string_equal(ip, "198.51.100.7");
    assert_int_equal(cst_client_ip(&trusted, "10.0.0.5", "1.1.1.1, 198.51.100.7, 10.0.0.6", ip),
                     CST_OK);
    assert_string_equal(ip, "198.51.100.7"); /* a client-supplied 1.1.1.1 is not believed */
    assert_int_equal(cst_client_ip(&trusted, "10.0.0.5", NULL, ip), CST_OK);
    assert_string_equal(ip, "10.0.0.5");
    assert_int_equal(cst_client_ip(&trusted, "10.0.0.5", "garbage", ip), CST_ERR_INVALID);
}

/* IAM-7: a prefix that ends inside a byte admits exactly its range. For each CIDR: the first
 * and last address inside, and the address one below the first and one above the last, which
 * share every whole byte of the prefix but not its last bits (a matcher that compared only
 * whole bytes, or masked one bit too many or too few, admits or refuses one of them). */
static void test_iam7_prefix_ending_inside_a_byte(void **state)
{
    static const struct {
        const char *cidr, *first, *last, *below, *above;
    } cases[] = {
        {"10.1.2.128/25", "10.1.2.128", "10.1.2.255", "10.1.2.127", "10.1.3.0"},
        {"172.16.0.0/12", "172.16.0.0", "172.31.255.255", "172.15.255.255", "172.32.0.0"},
        {"2001:db8:8000::/33", "2001:db8:8000::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
         "2001:db8:7fff:ffff:ffff:ffff:ffff:ffff", "2001:db9::"},
        /* one bit into the byte, and seven */
        {"192.168.0.0/17", "192.168.0.0", "192.168.127.255", "192.167.255.255", "192.168.128.0"},
        {"10.0.0.2/31", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.4"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        cst_cidr_list l;
        assert_int_equal(cst_cidr_list_parse(cases[i].cidr, &l), CST_OK);
        assert_int_equal(l.n, 1);
        if (!cst_cidr_list_match(&l, cases[i].first) || !cst_cidr_list_match(&l, cases[i].last) ||
            cst_cidr_list_match(&l, cases[i].below) || cst_cidr_list_match(&l, cases[i].above))
            fail_msg("%s: first %s %d, last %s %d, below %s %d, above %s %d", cases[i].cidr,
                     cases[i].first, cst_cidr_list_match(&l, cases[i].first), cases[i].last,
                     cst_cidr_list_match(&l, cases[i].last), cases[i].below,
                     cst_cidr_list_match(&l, cases[i].below), cases[i].above,
                     cst_cidr_list_match(&l, cases[i].above));
    }
    /* the mapped IPv4 form is held to the same boundary */
    cst_cidr_list l;
    assert_int_equal(cst_cidr_list_parse("10.1.2.128/25", &l), CST_OK);
    assert_true(cst_cidr_list_match(&l, "::ffff:10.1.2.200"));
    assert_false(cst_cidr_list_match(&l, "::ffff:10.1.2.100"));
}

/* Tenants' webhooks reach public addresses only: every reserved range is refused, its
 * neighbours are not, and an IPv4-mapped IPv6 address counts as the IPv4 one. */
static void test_addr_public(void **state)
{
    (void)state;
    static const char *const public_ones[] = {"8.8.8.8",       "1.1.1.1",  "172.32.0.1",
                                              "100.128.0.1",   "11.0.0.1", "2606:4700::1111",
                                              "::ffff:8.8.8.8"};
    static const char *const private_ones[] = {"127.0.0.1",
                                               "10.1.2.3",
                                               "172.16.0.1",
                                               "172.31.255.255",
                                               "192.168.1.1",
                                               "169.254.169.254",
                                               "100.64.0.1",
                                               "0.0.0.0",
                                               "224.0.0.1",
                                               "255.255.255.255",
                                               "::1",
                                               "fe80::1",
                                               "fc00::1",
                                               "::ffff:127.0.0.1",
                                               "::ffff:10.0.0.1",
                                               "::",
                                               "2001:db8::1",
                                               "ff02::1",
                                               "192.0.2.1",
                                               "198.18.0.1"};
    int family;
    uint8_t addr[16];
    for (size_t i = 0; i < sizeof(public_ones) / sizeof(*public_ones); i++) {
        assert_true(cst_addr_parse(public_ones[i], &family, addr));
        if (!cst_addr_public(family, addr))
            fail_msg("%s taken as not public", public_ones[i]);
    }
    for (size_t i = 0; i < sizeof(private_ones) / sizeof(*private_ones); i++) {
        assert_true(cst_addr_parse(private_ones[i], &family, addr));
        if (cst_addr_public(family, addr))
            fail_msg("%s taken as public", private_ones[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_public),
        cmocka_unit_test(test_iam7_malformed_cidrs_refused),
        cmocka_unit_test(test_iam7_matching),
        cmocka_unit_test(test_iam7_forwarded_for_only_from_trusted_proxies),
        cmocka_unit_test(test_iam7_prefix_ending_inside_a_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
