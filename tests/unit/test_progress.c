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

static const char *why(struct progress_why *w, size_t n)
{
    static char out[512];
    progress_why_text(w, out, n);
    return out;
}

/* The tool's own reasons for a failure, for the message that names its log. */
static void test_error_lines(void **state)
{
    struct progress_why w = { 0 };
    assert_string_equal(why(&w, 512), "");
    progress_why_add(&w, "Reading package lists...");
    progress_why_add(&w, "W: Some index files failed to download.");
    assert_string_equal(why(&w, 512), "");
    progress_why_add(&w, "E: Unable to locate package nosuchpkg");
    assert_string_equal(why(&w, 512), "Unable to locate package nosuchpkg");
    progress_why_add(&w, "E: Unable to locate package nosuchpkg"); /* said once */
    assert_int_equal(w.n, 1);

    /* mmdebstrap: the reason, not its echoes of what failed */
    struct progress_why m = { 0 };
    progress_why_add(&m, "E: The repository 'http://deb.debian.org/debian nosuchsuite Release' does not have a "
                         "Release file.");
    progress_why_add(&m, "E: apt-get update --error-on=any -oAPT::Status-Fd=<$fd> -oDpkg::Use-Pty=false failed");
    progress_why_add(&m, "E: mmdebstrap failed to run");
    assert_string_equal(why(&m, 512), "The repository 'http://deb.debian.org/debian nosuchsuite Release' does not "
                                      "have a Release file.");
    /* only echoes: those, then */
    struct progress_why e = { 0 };
    progress_why_add(&e, "E: mmdebstrap failed to run");
    assert_string_equal(why(&e, 512), "mmdebstrap failed to run");

    /* dpkg's errors, joined */
    struct progress_why d = { 0 };
    progress_why_add(&d, "dpkg: error processing archive /run/appbox-debs/0.deb (--unpack):");
    progress_why_add(&d, " dpkg-deb --control subprocess returned error exit status 2");
    progress_why_add(&d, " (a second indented line is not the reason)");
    progress_why_add(&d, "E: Sub-process /usr/bin/dpkg returned an error code (1)");
    progress_why_add(&d, "E: Unmet dependencies.  ");
    assert_string_equal(why(&d, 512), "dpkg: error processing archive /run/appbox-debs/0.deb (--unpack): "
                                      "dpkg-deb --control subprocess returned error exit status 2; "
                                      "Unmet dependencies.");

    /* bounded: a flood of lines, and control bytes counted as escaped */
    struct progress_why f = { 0 };
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[0] = 'E', big[1] = ':', big[2] = ' ';
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 10; i++) {
        big[3] = (char)('a' + i);
        progress_why_add(&f, big);
    }
    assert_int_equal(f.n, PROGRESS_WHY_LINES);
    assert_true(strlen(why(&f, 100)) <= 99);
    struct progress_why c = { 0 };
    progress_why_add(&c, "E: \033[2J\033[2J\033[2J");
    /* 9 bytes once escaped: "\x1b[2J" is 7, the next escape does not fit */
    assert_string_equal(why(&c, 10), "\033[2J");
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
        cmocka_unit_test(test_error_lines),
        cmocka_unit_test(test_bootstrap_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
