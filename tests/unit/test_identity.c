/* Identity: passwd/group lines and lookups in a container's files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/identity.h"

static void test_file_has(void **state)
{
    const char *pw = "root:x:0:0:root:/root:/bin/sh\nann:x:1000:1000::/home/ann:/bin/bash\nannie:x:5:5::/:/bin/sh";
    assert_true(identity_file_has(pw, "ann", 1000));
    assert_false(identity_file_has(pw, "ann", 1001));
    assert_true(identity_file_has(pw, "annie", 5));
    assert_false(identity_file_has(pw, "an", 1000));
    assert_false(identity_file_has("", "root", 0));
}

static void test_lines(void **state)
{
    struct spec_user id = { .uid = 1000, .gid = 1001 };
    strcpy(id.name, "ann");
    strcpy(id.group, "staff");
    strcpy(id.home, "/home/ann");
    strcpy(id.shell, "/bin/bash");
    char buf[256];
    assert_int_equal(identity_passwd_line(&id, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "ann:x:1000:1001:ann:/home/ann:/bin/bash\n");
    assert_int_equal(identity_group_line(&id, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "staff:x:1001:\n");
    assert_int_equal(identity_passwd_line(&id, buf, 8), -ENOSPC);
}

static void test_resolve_root_target(void **state)
{
    struct spec s;
    spec_init(&s);
    s.process.uid_set = true;
    s.process.uid = 0;
    struct spec_user id;
    ab_error err = { 0 };
    assert_int_equal(identity_resolve(&s, &id, &err), 0);
    assert_int_equal(id.uid, 0);
    assert_string_equal(id.name, "root");
    assert_string_equal(id.home, "/root");
    spec_free(&s);
}

static void test_from_passwd(void **state)
{
    const char *pw = "root:x:0:0:root:/root:/bin/bash\nann:x:1000:100:Ann:/home/ann:/bin/zsh\nbad line\n";
    const char *gr = "root:x:0:\nusers:x:100:\n";
    struct spec_user id;
    ab_error err = { 0 };
    memset(&id, 0, sizeof(id));
    assert_int_equal(identity_from_passwd(&id, pw, gr, "ann", &err), 0);
    assert_int_equal(id.uid, 1000);
    assert_int_equal(id.gid, 100);
    assert_string_equal(id.group, "users");
    assert_string_equal(id.home, "/home/ann");
    assert_string_equal(id.shell, "/bin/zsh");
    assert_int_equal(identity_from_passwd(&id, pw, gr, "0", &err), 0);
    assert_string_equal(id.name, "root");
    /* a number without an entry is still a user; a name is not */
    assert_int_equal(identity_from_passwd(&id, pw, gr, "4242", &err), 0);
    assert_int_equal(id.uid, 4242);
    assert_true(identity_from_passwd(&id, pw, gr, "bob", &err) < 0);
    assert_non_null(strstr(err.msg, "'bob'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_has),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_resolve_root_target),
        cmocka_unit_test(test_from_passwd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
