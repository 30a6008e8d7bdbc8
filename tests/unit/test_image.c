/* Image paths and digests: the parts of an image that name files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "image/layers.h"
#include "image/unpack.h"

static void test_path_ok(void **state)
{
    assert_true(unpack_path_ok("usr/bin/sh"));
    assert_true(unpack_path_ok("a/..b/c.."));
    assert_true(unpack_path_ok(".wh..wh..opq"));
    assert_false(unpack_path_ok(""));
    assert_false(unpack_path_ok("/etc/passwd"));
    assert_false(unpack_path_ok(".."));
    assert_false(unpack_path_ok("../x"));
    assert_false(unpack_path_ok("a/../../x"));
    assert_false(unpack_path_ok("a/.."));
    assert_false(unpack_path_ok(NULL));
}

static void test_digest(void **state)
{
    char *p = NULL;
    ab_error err = { 0 };
    const char *good = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_int_equal(digest_to_path("/img", good, &p, &err), 0);
    assert_string_equal(p, "/img/blobs/sha256/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    free(p);
    assert_true(digest_to_path("/img", "sha256:../../../../etc/passwd", &p, &err) < 0);
    assert_true(digest_to_path("/img", "sha512:00", &p, &err) < 0);
    assert_true(digest_to_path("/img", "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", &p,
                               &err) < 0);
    assert_true(digest_to_path("/img", NULL, &p, &err) < 0);
    assert_non_null(strstr(err.msg, "not a sha256 digest"));
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_path_ok), cmocka_unit_test(test_digest) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
