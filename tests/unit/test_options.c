/* Option parsing: every option's good and bad values, through the same
 * table the CLI and appbox.conf use.  Parsing checks syntax; what needs the
 * host (a path that must exist, a directory, a device node) is checked
 * when the spec is resolved, so parse() here does both, as a start does. */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "spec/options.h"
#include "runtime/resolve.h"
#include "spec/spec.h"

static int parse(struct spec *s, ab_error *err, int argc, char **argv)
{
    spec_init(s);
    memset(err, 0, sizeof(*err));
    int r = spec_parse_args(s, argc, argv, NULL, NULL, err);
    return r < 0 ? r : spec_resolve(s, err);
}

#define PARSE(s, err, ...) ({ char *v_[] = { __VA_ARGS__ }; parse(s, err, (int)(sizeof(v_) / sizeof(v_[0])), v_); })

static void test_command_after_options(void **state)
{
    struct spec s;
    ab_error err;
    assert_int_equal(PARSE(&s, &err, "--network", "host", "--hostname=box", "ls", "-l", "--root"), 0);
    assert_int_equal(s.container.net, NET_HOST);
    assert_string_equal(s.container.hostname, "box");
    assert_int_equal(s.process.argv.n, 3);
    assert_string_equal(s.process.argv.v[0], "ls");
    assert_string_equal(s.process.argv.v[2], "--root");
    assert_null(s.process.argv.v[3]);
    spec_free(&s);
}

/* --boot: the root's init as PID 1, stopped with systemd's halt signal. */
static void test_boot_stop_signal(void **state)
{
    struct spec s;
    ab_error err;
    assert_int_equal(PARSE(&s, &err, "--boot", "--root", "/", "true"), 0);
    assert_int_equal(s.container.init, SPEC_INIT_BOOT);
    assert_int_equal(s.container.stop_signal, SIGRTMIN + 3);
    spec_free(&s);
    assert_int_equal(PARSE(&s, &err, "true"), 0);
    assert_int_equal(s.container.init, SPEC_INIT_APPBOX);
    assert_int_equal(s.container.stop_signal, SIGTERM);
    spec_free(&s);
}

static void test_double_dash(void **state)
{
    struct spec s;
    ab_error err;
    assert_int_equal(PARSE(&s, &err, "--", "--weird-command"), 0);
    assert_int_equal(s.process.argv.n, 1);
    assert_string_equal(s.process.argv.v[0], "--weird-command");
    spec_free(&s);
}

static void test_bind_forms(void **state)
{
    struct spec s;
    ab_error err;
    assert_int_equal(PARSE(&s, &err, "--bind", "/tmp", "--ro-bind", "/etc/hostname:/x//y/./z", "--tmpfs", "/t/",
                           "true"), 0);
    const struct spec_mount *m = s.container.mounts;
    assert_int_equal(s.container.n_mounts, 3);
    assert_string_equal(spec_mount_mode_name(&m[0]), "rw");
    assert_string_equal(m[0].destination, "/tmp");
    assert_string_equal(spec_mount_mode_name(&m[1]), "ro");
    assert_string_equal(m[1].source, "/etc/hostname");
    assert_string_equal(m[1].destination, "/x/y/z");
    assert_string_equal(spec_mount_mode_name(&m[2]), "tmpfs");
    assert_string_equal(m[2].destination, "/t");
    spec_free(&s);
}

static void expect_usage(const char *opt, const char *value, const char *needle)
{
    struct spec s;
    ab_error err;
    char *argv[] = { (char *)opt, (char *)value, "true" };
    int r = parse(&s, &err, value ? 3 : 1, argv);
    assert_true(r < 0);
    assert_int_equal(err.kind, AB_ERR_USAGE);
    assert_int_equal(ab_error_exit_code(&err), 2);
    char flag[64];
    snprintf(flag, sizeof(flag), "%.*s", (int)strcspn(opt, "="), opt);
    if (!strstr(err.msg, flag))
        fail_msg("message '%s' does not name %s", err.msg, flag);
    if (needle && !strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    spec_free(&s);
}

static void test_bad_values(void **state)
{
    expect_usage("--network", "wifi", "'wifi'");
    expect_usage("--network", "wifi", "none (off), host (on), nat[:NAME], macvlan[:IFACE]");
    expect_usage("--bind", "/does/not/exist", "/does/not/exist");
    expect_usage("--bind", "/tmp:relative", "not an absolute path");
    expect_usage("--bind", "/tmp:/a/../b", "'..'");
    expect_usage("--bind", "/tmp:", "empty destination");
    expect_usage("--ro-bind", "", "empty path");
    expect_usage("--tmpfs", "tmp", "'tmp'");
    expect_usage("--tmpfs", "/", "cannot mount a tmpfs over /");
    expect_usage("--root", "/etc/passwd", "not a directory");
    expect_usage("--device", "/etc/passwd", "not a device node");
    expect_usage("--device", "dev/null", "not an absolute path");
    expect_usage("--env", "NOEQUALS", "NAME=VALUE");
    expect_usage("--env", "1X=2", "NAME=VALUE");
    expect_usage("--chdir", "home", "not an absolute path");
    expect_usage("--hostname", "-bad", "'-bad'");
    expect_usage("--uid", "abc", "'abc'");
    expect_usage("--uid", "70000", "'70000'");
    expect_usage("--uid", "-1", "'-1'");
    expect_usage("--cap-add", "CAP_FLY", "'CAP_FLY'");
    expect_usage("--cap-drop", "12", "'12'");
    expect_usage("--seccomp", "maybe", "on, off");
    expect_usage("--io-uring", "maybe", "allow, deny");
    expect_usage("--display", "x12", "'x12'");
    expect_usage("--display", "x12", "x11, x11-trusted, wayland, private, none");
    expect_usage("--display-size", "1280", "WIDTHxHEIGHT");
    expect_usage("--display-size", "10x10", "'10x10'");
    expect_usage("--display-size", "1280x800x", "'1280x800x'");
    expect_usage("--display-size", "x800", "'x800'");
    expect_usage("--display-size", "99999x800", "64 to 16384");
    expect_usage("--gui=x11", NULL, "takes no value");
    expect_usage("--nonsense", NULL, "unknown option");
    expect_usage("--network", NULL, "missing value");
    expect_usage("--writable=yes", NULL, "takes no value");
}

static void test_display(void **state)
{
    struct spec s;
    ab_error err;
    assert_int_equal(PARSE(&s, &err, "true"), 0);
    assert_int_equal(s.container.display.mode, DISPLAY_NONE);
    assert_int_equal(s.container.display.width, 1280);
    assert_int_equal(s.container.display.height, 800);
    spec_free(&s);
    assert_int_equal(PARSE(&s, &err, "--display", "x11-trusted", "--display-size", "640X400", "true"), 0);
    assert_int_equal(s.container.display.mode, DISPLAY_X11_TRUSTED);
    assert_int_equal(s.container.display.width, 640);
    assert_int_equal(s.container.display.height, 400);
    spec_free(&s);
    /* the spellings: --gui is auto (chosen at start), --gui-private private */
    assert_int_equal(PARSE(&s, &err, "--gui", "true"), 0);
    assert_int_equal(s.container.display.mode, DISPLAY_AUTO);
    spec_free(&s);
    assert_int_equal(PARSE(&s, &err, "--display=wayland", "--gui-private", "true"), 0);
    assert_int_equal(s.container.display.mode, DISPLAY_PRIVATE);
    spec_free(&s);
    /* an untrusted X cookie means nothing where the abstract socket is reachable */
    expect_usage("--network=host", "--display=x11", "x11-trusted");
    expect_usage("--network=host", "--gui-private", "abstract");
    assert_int_equal(PARSE(&s, &err, "--network", "host", "--display", "x11-trusted", "true"), 0);
    spec_free(&s);
    for (int m = DISPLAY_NONE; m <= DISPLAY_AUTO; m++) {
        int back = -1;
        assert_int_equal(display_mode_from_name(display_mode_name(m), &back), 0);
        assert_int_equal(back, m);
    }
}

static void test_caps(void **state)
{
    assert_int_equal(cap_parse_name("NET_ADMIN"), 12);
    assert_int_equal(cap_parse_name("cap_net_admin"), 12);
    assert_int_equal(cap_parse_name("Cap_Sys_Ptrace"), 19);
    assert_int_equal(cap_parse_name("all"), CAP_ALL);
    assert_int_equal(cap_parse_name("nope"), -1);
    assert_int_equal(cap_parse_name("5"), -1);

    struct spec s;
    ab_error err;
    assert_int_equal(PARSE(&s, &err, "--cap-drop", "ALL", "--cap-add", "kill", "true"), 0);
    assert_true(s.process.cap_drop_all);
    assert_int_equal(s.process.cap_add, 1ULL << 5);
    spec_free(&s);
}

static void test_env_replaces(void **state)
{
    struct spec s;
    ab_error err;
    assert_int_equal(PARSE(&s, &err, "--env", "A=1", "--env", "B=2", "--env", "A=3=x", "true"), 0);
    assert_int_equal(s.process.env.n, 2);
    assert_string_equal(s.process.env.v[0], "A=3=x");
    spec_free(&s);
}

static void test_split_src_dst(void **state)
{
    char *a, *b;
    assert_int_equal(split_src_dst("/a\\:b:/c", &a, &b), 0);
    assert_string_equal(a, "/a:b");
    assert_string_equal(b, "/c");
    free(a);
    free(b);
    assert_int_equal(split_src_dst("/only", &a, &b), 0);
    assert_string_equal(a, "/only");
    assert_null(b);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_after_options),
        cmocka_unit_test(test_double_dash),
        cmocka_unit_test(test_boot_stop_signal),
        cmocka_unit_test(test_bind_forms),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_display),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_env_replaces),
        cmocka_unit_test(test_split_src_dst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
