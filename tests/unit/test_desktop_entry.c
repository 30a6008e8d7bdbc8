/* The .desktop side of issue 11 (desktop/desktop_entry.c): keys of the
 * [Desktop Entry] group only, and Exec rewritten through appbox run with
 * each argument quoted again; field codes kept, dropped or refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "desktop/desktop_entry.h"

static void test_value(void **state)
{
    (void)state;
    const char *t = "# c\nName=before\n[Desktop Entry]\nName[de]=X\nName = App \nExec=a b\n"
                    "[Desktop Action new]\nExec=evil\n";
    char *v = desktop_entry_value(t, "Name");
    assert_string_equal(v, "App ");
    free(v);
    v = desktop_entry_value(t, "Exec");
    assert_string_equal(v, "a b");
    free(v);
    assert_null(desktop_entry_value(t, "Icon"));
    assert_null(desktop_entry_value("Name=x\n", "Name"));
}

static char *rw(const char *exec, int *r)
{
    ab_error err = { 0 };
    char *out = NULL;
    *r = desktop_exec_rewrite("/usr/bin/appbox", "c", exec, &out, &err);
    return out;
}

static void test_exec(void **state)
{
    (void)state;
    int r;
    char *o = rw("app --x %U", &r);
    assert_int_equal(r, 0);
    assert_string_equal(o, "\"/usr/bin/appbox\" \"run\" \"c\" \"++cmd\" \"app\" \"--x\" %U");
    free(o);
    /* %i %c %k dropped; %% a percent sign, written %% again */
    o = rw("app %i %c %k 50%%", &r);
    assert_int_equal(r, 0);
    assert_string_equal(o, "\"/usr/bin/appbox\" \"run\" \"c\" \"++cmd\" \"app\" \"50%%\"");
    free(o);
    /* quoted: \" \$ \\ inside, with the file's escapes (backslashes doubled) */
    o = rw("sh -c \"echo \\\\\"a\\\\$b\\\\\\\\\"", &r);
    assert_int_equal(r, 0);
    assert_string_equal(o, "\"/usr/bin/appbox\" \"run\" \"c\" \"++cmd\" \"sh\" \"-c\" \"echo \\\\\"a\\\\$b\\\\\\\\\"");
    free(o);
    const char *bad[] = { "app --f=%f", "app %x", "app \"open", "", "app $HOME", "app \"a\"b", NULL };
    for (size_t i = 0; bad[i]; i++) {
        o = rw(bad[i], &r);
        assert_true(r < 0);
        assert_null(o);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value),
        cmocka_unit_test(test_exec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
