/* Identity: passwd/group lines and lookups in a container's files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/identity.h"
#include "runtime/resolve.h"

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

/* A root in a temporary directory with FILE holding TEXT; an O_PATH fd of it. */
static int root_with(char *dir, const char *file, const char *text)
{
    strcpy(dir, "/tmp/abtest-root-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/etc", dir);
    mkdir(path, 0755);
    if (file) {
        snprintf(path, sizeof(path), "%s%s", dir, file);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
    }
    int fd = open(dir, O_PATH | O_DIRECTORY);
    assert_true(fd >= 0);
    return fd;
}

static void remove_root(char *dir, int fd)
{
    char cmd[300];
    close(fd);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_login_path(void **state)
{
    char dir[64], buf[256];
    int fd = root_with(dir, "/etc/login.defs",
                       "# comment ENV_PATH PATH=/no\nENV_SUPATH\tPATH=/usr/sbin:/usr/bin\n"
                       "ENV_PATH   PATH=/usr/bin:/bin:/usr/games  \n");
    assert_int_equal(identity_login_path(fd, false, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "/usr/bin:/bin:/usr/games");
    assert_int_equal(identity_login_path(fd, true, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "/usr/sbin:/usr/bin");
    remove_root(dir, fd);
    /* without PATH= (login(1) takes both), and a value with anything to
     * expand is not taken */
    fd = root_with(dir, "/etc/login.defs", "ENV_PATH /opt/bin:/usr/bin\nENV_SUPATH PATH=$HOME/bin:/bin\n");
    assert_int_equal(identity_login_path(fd, false, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "/opt/bin:/usr/bin");
    assert_true(identity_login_path(fd, true, buf, sizeof(buf)) < 0);
    remove_root(dir, fd);
    /* /etc/profile: one literal value, quoted or not */
    fd = root_with(dir, "/etc/profile", "export PATH=\"/usr/local/bin:/usr/bin:/bin\"\nexport PAGER=less\n");
    assert_int_equal(identity_login_path(fd, false, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "/usr/local/bin:/usr/bin:/bin");
    remove_root(dir, fd);
    /* two different ones (Debian's, root and the others): not simply parseable */
    fd = root_with(dir, "/etc/profile", "if [ x ]; then\n  PATH=\"/usr/sbin:/usr/bin\"\nelse\n  PATH=\"/usr/bin\"\nfi\n");
    assert_true(identity_login_path(fd, false, buf, sizeof(buf)) < 0);
    remove_root(dir, fd);
    /* a relative entry, or nothing at all */
    fd = root_with(dir, "/etc/profile", "PATH=/usr/bin:bin\n");
    assert_true(identity_login_path(fd, false, buf, sizeof(buf)) < 0);
    remove_root(dir, fd);
    fd = root_with(dir, NULL, NULL);
    assert_true(identity_login_path(fd, false, buf, sizeof(buf)) < 0);
    remove_root(dir, fd);
}

static void test_locale_present(void **state)
{
    char dir[64], path[128];
    int fd = root_with(dir, NULL, NULL);
    assert_true(identity_locale_present(fd, "C"));
    assert_true(identity_locale_present(fd, "C.UTF-8"));
    assert_true(identity_locale_present(fd, "POSIX"));
    assert_false(identity_locale_present(fd, "de_DE.UTF-8"));
    assert_false(identity_locale_present(fd, "../../etc"));
    snprintf(path, sizeof(path), "%s/usr/lib/locale/de_DE.utf8", dir);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
    assert_int_equal(system(cmd), 0);
    assert_true(identity_locale_present(fd, "de_DE.UTF-8"));
    assert_false(identity_locale_present(fd, "fr_FR.UTF-8"));
    remove_root(dir, fd);
}

/* A spec as spec_resolve() leaves it, for spec_visible_cwd(). */
static void add_resolved_bind(struct spec *s, const char *src, const char *dst, const char *given)
{
    assert_int_equal(spec_add_bind(s, src, dst, false, "--bind"), 0);
    struct spec_mount *m = &s->container.mounts[s->container.n_mounts - 1];
    m->given = given ? strdup(given) : NULL;
}

static void test_visible_cwd(void **state)
{
    struct spec s;
    spec_init(&s);
    strcpy(s.process.user.home, "/home/ann");
    char *p;
    /* the host view: its folders, not what is fresh */
    assert_string_equal(p = spec_visible_cwd(&s, "/usr/share"), "/usr/share");
    free(p);
    assert_null(spec_visible_cwd(&s, "/tmp/x"));
    assert_null(spec_visible_cwd(&s, "/home/ann/proj"));
    assert_null(spec_visible_cwd(&s, "/"));
    /* a bind at its own path, and below it */
    add_resolved_bind(&s, "/home/ann/proj", "/home/ann/proj", "/home/ann/proj");
    assert_string_equal(p = spec_visible_cwd(&s, "/home/ann/proj/src"), "/home/ann/proj/src");
    free(p);
    assert_null(spec_visible_cwd(&s, "/home/ann/projects"));
    /* a later mount over a parent hides it */
    assert_int_equal(spec_add_tmpfs(&s, "/home/ann", "--tmpfs"), 0);
    assert_null(spec_visible_cwd(&s, "/home/ann/proj"));
    spec_free(&s);

    /* a bind elsewhere is not the same path; one given through a link is */
    spec_init(&s);
    strcpy(s.process.user.home, "/home/ann");
    add_resolved_bind(&s, "/data/ann/proj", "/work", "/data/ann/proj");
    assert_null(spec_visible_cwd(&s, "/data/ann/proj"));
    add_resolved_bind(&s, "/data/home/ann", "/home/ann", "/home/ann");
    assert_string_equal(p = spec_visible_cwd(&s, "/data/home/ann/src"), "/home/ann/src");
    free(p);
    /* an own root has none of the host's folders */
    s.container.root = strdup("/srv/root");
    assert_null(spec_visible_cwd(&s, "/usr/share"));
    assert_string_equal(p = spec_visible_cwd(&s, "/data/home/ann"), "/home/ann");
    free(p);
    spec_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_has),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_resolve_root_target),
        cmocka_unit_test(test_from_passwd),
        cmocka_unit_test(test_login_path),
        cmocka_unit_test(test_locale_present),
        cmocka_unit_test(test_visible_cwd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
