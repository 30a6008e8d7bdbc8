/* The status line of a bootstrap or apt-get run, and the checks on what
 * create and image pull are given for a Debian base. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "image/bootstrap.h"
#include "image/progress.h"

static const char *line(struct progress_state *st, const char *in)
{
    static char out[256];
    return progress_line(st, in, out, sizeof(out)) ? out : NULL;
}

static void test_apt_counts(void **state)
{
    struct progress_state st = { 0 };
    assert_string_equal(line(&st, "Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]"),
                        "fetching package lists (1)");
    assert_string_equal(line(&st, "Reading package lists..."), "resolving packages");
    assert_string_equal(line(&st, "0 upgraded, 3 newly installed, 0 to remove and 0 not upgraded."),
                        "3 package(s) to install");
    assert_string_equal(line(&st, "Get:2 http://deb.debian.org/debian bookworm/main amd64 figlet amd64 2.2.5-3"),
                        "downloading 2/3 packages");
    assert_string_equal(line(&st, "Unpacking figlet (2.2.5-3+b1) ..."), "unpacking 1/3: figlet");
    assert_string_equal(line(&st, "Setting up figlet (2.2.5-3+b1) ..."), "configuring 1/3: figlet");
    assert_string_equal(line(&st, "Setting up libc6:amd64 (2.36-9) ..."), "configuring 2/3: libc6");
    assert_null(line(&st, "update-alternatives: using /usr/bin/figlet-figlet"));
    assert_null(line(&st, ""));
}

static void test_tool_steps(void **state)
{
    struct progress_state st = { 0 };
    assert_string_equal(line(&st, "I: extracting archives..."), "extracting archives");
    assert_string_equal(line(&st, "I: Retrieving Release "), "Retrieving Release");
    assert_null(line(&st, "I: ..."));
    /* a very long package name is cut, not overflowed */
    char longname[600] = "Setting up ";
    memset(longname + strlen(longname), 'x', 500);
    const char *o = line(&st, longname);
    assert_non_null(o);
    assert_true(strlen(o) < 256);
}

/* APPBOX_BOOTSTRAP, as the CLI hands it to lib/ in the context. */
static const char *bootstrap_tool;

static int parse(const char *base, const char *variant, const char *mirror)
{
    struct bootstrap_opts o = { .variant = variant, .mirror = mirror };
    ab_error err = { 0 };
    struct ab_ctx ctx;
    const struct ab_env env = { .home = "/nonexistent", .bootstrap_tool = bootstrap_tool, .path = "/usr/bin:/bin" };
    if (ab_ctx_init(&ctx, &env, &err) < 0)
        return -99;
    int r = bootstrap_parse(&ctx, base, &o, &err);
    ab_ctx_free(&ctx);
    return r;
}

static void test_bootstrap_parse(void **state)
{
    bootstrap_tool = NULL;
    assert_int_equal(parse("debian:bookworm", NULL, NULL), 1);
    assert_int_equal(parse("ubuntu:noble", "apt", "https://mirror.example/ubuntu"), 1);
    assert_int_equal(parse("tar:/x", NULL, NULL), 0);
    assert_true(parse("debian:-v", NULL, NULL) < 0);
    assert_true(parse("debian:--help", NULL, NULL) < 0);
    assert_true(parse("debian:", NULL, NULL) < 0);
    assert_true(parse("debian:../x", NULL, NULL) < 0);
    assert_true(parse("debian:bookworm", "../x", NULL) < 0);
    assert_true(parse("debian:bookworm", "fakechroot", NULL) < 0);
    assert_true(parse("debian:bookworm", NULL, "notaurl") < 0);
    assert_true(parse("debian:bookworm", NULL, "--help") < 0);
    assert_true(parse("debian:bookworm", NULL, "http://x/ debian") < 0);
    bootstrap_tool = "bogus";
    assert_true(parse("debian:bookworm", NULL, NULL) < 0);
    bootstrap_tool = "mmdebstrap";
    assert_int_equal(parse("debian:bookworm", NULL, NULL), 1);
    bootstrap_tool = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apt_counts),
        cmocka_unit_test(test_tool_steps),
        cmocka_unit_test(test_bootstrap_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
