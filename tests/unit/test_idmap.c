/* Id maps and /etc/subuid parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/idmap.h"

static void test_subid_lookup(void **state)
{
    const char *text = "# comment\n"
                       "alice:100000:65536\n"
                       "bob:bad:12\n"
                       "bob:200000:0\n"
                       "1003:300000:1000\n"
                       "bob:400000:65536";
    uint32_t s, c;
    assert_int_equal(subid_lookup_text(text, "alice", 1000, &s, &c), 0);
    assert_int_equal(s, 100000);
    assert_int_equal(c, 65536);
    /* malformed and empty ranges are skipped; no trailing newline needed */
    assert_int_equal(subid_lookup_text(text, "bob", 1002, &s, &c), 0);
    assert_int_equal(s, 400000);
    /* by numeric id */
    assert_int_equal(subid_lookup_text(text, "carol", 1003, &s, &c), 0);
    assert_int_equal(s, 300000);
    assert_int_equal(c, 1000);
    assert_int_equal(subid_lookup_text(text, "dave", 1004, &s, &c), -ENOENT);
    /* a name that is a prefix of another does not match */
    assert_int_equal(subid_lookup_text("alicex:1:2\n", "alice", 7, &s, &c), -ENOENT);
    assert_int_equal(subid_lookup_text("", "alice", 7, &s, &c), -ENOENT);
    assert_int_equal(subid_lookup_text("alice:4294967295:2\n", "alice", 7, &s, &c), -ENOENT);
}

static void test_ranged_keeps_self(void **state)
{
    struct spec_idmap m;
    idmap_build_ranged(&m, 1000, 100000, 65536);
    char buf[256];
    assert_int_equal(idmap_format(&m, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "0 100000 1000\n1000 1000 1\n1001 101000 64535\n");
    assert_true(idmap_contains(&m, 0));
    assert_true(idmap_contains(&m, 1000));
    assert_true(idmap_contains(&m, 65535));
    assert_false(idmap_contains(&m, 65536));
    assert_true(m.via_helper);
}

static void test_ranged_small_range(void **state)
{
    struct spec_idmap m;
    idmap_build_ranged(&m, 1000, 100000, 500);
    char buf[256];
    idmap_format(&m, buf, sizeof(buf));
    assert_string_equal(buf, "0 100000 500\n1000 1000 1\n");
}

static void test_ranged_high_self(void **state)
{
    struct spec_idmap m;
    idmap_build_ranged(&m, 70000, 100000, 65536);
    char buf[256];
    idmap_format(&m, buf, sizeof(buf));
    assert_string_equal(buf, "0 100000 65536\n70000 70000 1\n");
}

static void test_single_and_shifted(void **state)
{
    struct spec_idmap m;
    char buf[256];
    idmap_build_single(&m, 0, 1000);
    idmap_format(&m, buf, sizeof(buf));
    assert_string_equal(buf, "0 1000 1\n");
    assert_false(idmap_contains(&m, 1000));
    assert_false(m.via_helper);
    idmap_build_shifted(&m, IDMAP_ROOT_DEFAULT_BASE, IDMAP_SIZE);
    idmap_format(&m, buf, sizeof(buf));
    assert_string_equal(buf, "0 1000000000 65536\n");
    /* root inside is never host root */
    assert_int_not_equal(m.r[0].outside, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subid_lookup),
        cmocka_unit_test(test_ranged_keeps_self),
        cmocka_unit_test(test_ranged_small_range),
        cmocka_unit_test(test_ranged_high_self),
        cmocka_unit_test(test_single_and_shifted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
