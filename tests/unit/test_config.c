/* appbox.conf: parsing, validation with file:line, writing back, and the
 * Run= command line splitter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container/config.h"
#include "runtime/resolve.h"

static char path[64];

static void write_conf(const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    snprintf(path, sizeof(path), "/tmp/abunit-conf-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    return 0;
}

static void expect_error(const char *text, const char *needle)
{
    write_conf(text);
    struct conf c = { 0 };
    struct container_conf cc;
    memset(&cc, 0, sizeof(cc));
    ab_error err = { 0 };
    /* A file is checked when it is loaded and, for what needs the host (a
     * bind source that must exist), when its spec is resolved at start. */
    int r = conf_load(path, &c, &cc, &err);
    if (r == 0)
        r = spec_resolve(&cc.spec, &err);
    assert_true(r < 0);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    if (!strstr(err.msg, path))
        fail_msg("message '%s' does not name the file", err.msg);
    conf_free(&c);
    container_conf_free(&cc);
}

static void test_good_file(void **state)
{
    write_conf("# comment\n[Container]\nBase=host\nRun=sh -c 'a; b'\nEnvironment=A=1\nEnvironment=B=2\n"
               "Hostname=box\n\n[Files]\nBindReadOnly=/etc/hostname:/x\nTemporaryFileSystem=/scratch\n"
               "[Network]\nMode=host\n[Security]\nCapability=NET_ADMIN\nSeccomp=on\n");
    struct conf c = { 0 };
    struct container_conf cc;
    ab_error err = { 0 };
    assert_int_equal(conf_load(path, &c, &cc, &err), 0);
    assert_string_equal(cc.base, "host");
    assert_string_equal(cc.run, "sh -c 'a; b'");
    assert_int_equal(cc.spec.process.env.n, 2);
    assert_string_equal(cc.spec.container.hostname, "box");
    assert_int_equal(cc.spec.container.n_mounts, 2);
    assert_int_equal(cc.spec.container.net, NET_HOST);
    assert_int_equal(cc.spec.process.cap_add, 1ULL << 12);
    assert_int_equal(c.e[1].line, 4); /* Run= is on line 4 */

    /* written back and read again, it means the same */
    assert_int_equal(conf_write(path, &c, "# header\n", &err), 0);
    struct conf c2 = { 0 };
    struct container_conf cc2;
    assert_int_equal(conf_load(path, &c2, &cc2, &err), 0);
    assert_int_equal(c2.n, c.n);
    assert_string_equal(cc2.run, cc.run);
    conf_free(&c);
    conf_free(&c2);
    container_conf_free(&cc);
    container_conf_free(&cc2);
}

static void test_errors(void **state)
{
    expect_error("[Network]\nMode=wifi\n", ":2: [Network] Mode: 'wifi' is not a network mode (allowed: none (off), host (on), nat[:NAME], macvlan[:IFACE] (separate[:IFACE]) or proxy)");
    expect_error("[Container]\nNope=1\n", ":2: [Container] Nope: unknown key");
    expect_error("[Weird]\nMode=none\n", "unknown section [Weird]");
    expect_error("[Container]\njust text\n", ":2: not a [Section] or Key=Value line");
    expect_error("", "empty");
    expect_error("# only a comment\n", "empty");
    expect_error("[Network]\nMode=none\nMode=host\n", ":3: [Network] Mode: given twice (also on line 2)");
    expect_error("[Container]\nBase=ftp:x\n", "'ftp:x' is not a base");
    expect_error("[Container]\nRun=sh -c 'unterminated\n", "unterminated quote");
    expect_error("[Container]\nWritable=maybe\n", "not a boolean");
    expect_error("[Files]\nBind=/no/such/path\n", ":2: [Files] Bind: '/no/such/path'");
    expect_error("[Security]\nCapability=FLY\n", "'FLY' is not a capability");
    expect_error("[Container]\nUser=-5\n", "'-5' is not a user id");
    expect_error("[Desktop]\nDisplay=x12\n", ":2: [Desktop] Display: 'x12' is not a display mode");
    expect_error("[Desktop]\nDisplaySize=big\n", ":2: [Desktop] DisplaySize: 'big' is not a window size");
}

static void test_desktop(void **state)
{
    write_conf("[Container]\nBase=host\n[Desktop]\nDisplay=private\nDisplaySize=800x600\n");
    struct conf c = { 0 };
    struct container_conf cc;
    ab_error err = { 0 };
    assert_int_equal(conf_load(path, &c, &cc, &err), 0);
    assert_int_equal(cc.spec.container.display.mode, DISPLAY_PRIVATE);
    assert_int_equal(cc.spec.container.display.width, 800);
    assert_int_equal(cc.spec.container.display.height, 600);
    conf_free(&c);
    container_conf_free(&cc);
}

static void test_nul_byte(void **state)
{
    FILE *f = fopen(path, "w");
    fwrite("[Container]\nBase=host\0junk\n", 1, 27, f);
    fclose(f);
    struct conf c = { 0 };
    ab_error err = { 0 };
    assert_true(conf_read(path, &c, &err) < 0);
    assert_non_null(strstr(err.msg, "NUL"));
    conf_free(&c);
}

static void test_split(void **state)
{
    strv w = { 0 };
    assert_int_equal(conf_split_command("  a 'b c'  \"d \\\"e\\\"\" f\\ g ", &w), 0);
    assert_int_equal(w.n, 4);
    assert_string_equal(w.v[0], "a");
    assert_string_equal(w.v[1], "b c");
    assert_string_equal(w.v[2], "d \"e\"");
    assert_string_equal(w.v[3], "f g");
    strv_clear(&w);
    assert_int_equal(conf_split_command("a 'b", &w), -EINVAL);
    strv_clear(&w);
    assert_int_equal(conf_split_command("", &w), 0);
    assert_int_equal(w.n, 0);
    assert_int_equal(conf_split_command("''", &w), 0);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.v[0], "");
    strv_clear(&w);
}

static void test_edit_entries(void **state)
{
    struct conf c = { 0 };
    conf_add(&c, "Files", "Bind", "/a", 0);
    conf_add(&c, "Network", "Mode", "none", 0);
    conf_add(&c, "Files", "Bind", "/b", 0);
    assert_int_equal(conf_remove(&c, "Files", "Bind"), 2);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.e[0].key, "Mode");
    bool rep;
    assert_true(conf_key_known("Files", "Bind", &rep));
    assert_true(rep);
    assert_true(conf_key_known("Container", "Run", &rep));
    assert_false(rep);
    assert_false(conf_key_known("Files", "Run", &rep));
    conf_free(&c);
}

/* A line is read whole, however long: inih as Debian builds it cut lines
 * at 199 bytes and read the rest as lines of their own. */
static void test_long_lines(void **state)
{
    char run[1200] = "Run=sh -c ";
    size_t n = strlen(run);
    while (n < 199)
        run[n++] = 'x';
    strcpy(run + n, "[Security]");
    n += strlen("[Security]");
    while (n < 398)
        run[n++] = 'y';
    strcpy(run + n, "Seccomp=off");
    char text[1400];
    snprintf(text, sizeof(text), "[Container]\n%s\n", run);
    write_conf(text);
    struct conf c = { 0 };
    struct container_conf cc;
    ab_error err = { 0 };
    assert_int_equal(conf_load(path, &c, &cc, &err), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.e[0].section, "Container");
    assert_string_equal(cc.run, run + 4);
    assert_true(cc.spec.process.seccomp);
    /* and it is written back as one line */
    assert_int_equal(conf_write(path, &c, NULL, &err), 0);
    conf_free(&c);
    container_conf_free(&cc);
    assert_int_equal(conf_load(path, &c, &cc, &err), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(cc.run, run + 4);
    conf_free(&c);
    container_conf_free(&cc);
}

/* What would not read back as written is refused, and the file kept. */
static void test_roundtrip(void **state)
{
    write_conf("[Container]\nBase=host\n");
    struct conf c = { 0 };
    ab_error err = { 0 };
    conf_add(&c, "Container", "Run", "sh -c 'a\n[Security]\nSeccomp=off'", 0);
    assert_true(conf_check_roundtrip(&c, &err) < 0);
    assert_non_null(strstr(err.msg, "line break"));
    assert_true(conf_write(path, &c, NULL, &err) < 0);
    conf_free(&c);
    conf_add(&c, "Container", "Run", "true ", 0);
    assert_true(conf_check_roundtrip(&c, &err) < 0);
    assert_non_null(strstr(err.msg, "blank"));
    assert_true(conf_write(path, &c, NULL, &err) < 0);
    conf_free(&c);
    conf_add(&c, "Container", "Run", "a=b:c [x] ;#", 0);
    assert_int_equal(conf_check_roundtrip(&c, &err), 0);
    conf_free(&c);
    /* the old file is still there, as it was */
    assert_int_equal(conf_read(path, &c, &err), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.e[0].value, "host");
    conf_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file), cmocka_unit_test(test_desktop), cmocka_unit_test(test_errors), cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_split), cmocka_unit_test(test_edit_entries), cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
