/* Path handling inside a hostile root: symlinks resolve inside it, never
 * out of it, and missing components are created inside it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"

static char root[64], outside[64];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    return remove(p);
}

static int setup(void **state)
{
    snprintf(root, sizeof(root), "/tmp/abunit-root-XXXXXX");
    snprintf(outside, sizeof(outside), "/tmp/abunit-out-XXXXXX");
    if (!mkdtemp(root) || !mkdtemp(outside))
        return -1;
    char p[256];
    snprintf(p, sizeof(p), "%s/etc", root);
    mkdir(p, 0755);
    /* hostile links: absolute, relative climbing, and a chain */
    snprintf(p, sizeof(p), "%s/abs", root);
    if (symlink(outside, p) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/etc/up", root);
    if (symlink("../../../../../../..", p) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/chain", root);
    if (symlink("abs/sub", p) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    nftw(outside, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static bool outside_empty(void)
{
    DIR *d = opendir(outside);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n == 0;
}

static void test_clean_path(void **state)
{
    char *c = fs_clean_abs_path("//a/./b//c/");
    assert_string_equal(c, "/a/b/c");
    free(c);
    c = fs_clean_abs_path("/");
    assert_string_equal(c, "/");
    free(c);
    assert_null(fs_clean_abs_path("/a/../b"));
    assert_null(fs_clean_abs_path("relative"));
    assert_null(fs_clean_abs_path(NULL));
}

static void test_ensure_through_absolute_link(void **state)
{
    int rfd = open(root, O_PATH | O_DIRECTORY);
    ab_error err = { 0 };
    /* /abs points at a path that exists on the host but not in the root:
     * nothing may be created on the host, and the dangling link is refused. */
    int fd = fs_ensure_in_root(rfd, "/abs/newdir/file", true, &err);
    assert_true(fd < 0);
    assert_non_null(strstr(err.msg, "/abs"));
    assert_true(outside_empty());
    /* once the target exists inside the root, the link is followed there */
    char p[256];
    snprintf(p, sizeof(p), "%s/tmp", root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s%s", root, outside);
    mkdir(p, 0755);
    fd = fs_ensure_in_root(rfd, "/abs/newdir/file", true, &err);
    assert_true(fd >= 0);
    close(fd);
    assert_true(outside_empty());
    snprintf(p, sizeof(p), "%s%s/newdir/file", root, outside);
    assert_int_equal(access(p, F_OK), 0);
    close(rfd);
}

static void test_ensure_through_climbing_link(void **state)
{
    int rfd = open(root, O_PATH | O_DIRECTORY);
    ab_error err = { 0 };
    int fd = fs_ensure_in_root(rfd, "/etc/up/tmp/escaped", false, &err);
    assert_true(fd >= 0);
    close(fd);
    char p[256];
    snprintf(p, sizeof(p), "%s/tmp/escaped", root);
    assert_int_equal(access(p, F_OK), 0);
    assert_int_not_equal(access("/tmp/escaped", F_OK), 0);
    close(rfd);
}

static void test_open_in_root(void **state)
{
    int rfd = open(root, O_PATH | O_DIRECTORY);
    /* /etc/up resolves to the root itself */
    int fd = fs_open_in_root(rfd, "/etc/up", O_PATH | O_DIRECTORY);
    assert_true(fd >= 0);
    struct stat a, b;
    fstat(fd, &a);
    fstat(rfd, &b);
    assert_int_equal(a.st_ino, b.st_ino);
    close(fd);
    assert_int_equal(fs_open_in_root(rfd, "/chain", O_PATH), -ENOENT);
    /* magic links are refused */
    assert_true(fs_open_in_root(rfd, "/../../proc/self/root", O_PATH) < 0 ||
                outside_empty());
    close(rfd);
}

static void test_read_file(void **state)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/etc/passwd", root);
    FILE *f = fopen(p, "w");
    fputs("root:x:0:0::/root:/bin/sh\n", f);
    fclose(f);
    int rfd = open(root, O_PATH | O_DIRECTORY);
    char *t = fs_read_file_at(rfd, "/etc/passwd", true, 1 << 20);
    assert_non_null(t);
    assert_string_equal(t, "root:x:0:0::/root:/bin/sh\n");
    free(t);
    assert_null(fs_read_file_at(rfd, "/etc/nope", true, 1 << 20));
    close(rfd);
}

/* fs_remove_tree_at: a chain far deeper than PATH_MAX (and than the fds
 * it keeps open: levels are re-opened through ".."), a wide directory, a
 * mode-000 directory, and links to OUTSIDE that are removed, not followed. */
static void test_remove_tree(void **state)
{
    int rfd = open(root, O_RDONLY | O_DIRECTORY);
    assert_true(rfd >= 0);
    assert_int_equal(mkdirat(rfd, "tree", 0755), 0);
    int fd = openat(rfd, "tree", O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    /* wide: 200 directories of one file each */
    assert_int_equal(mkdirat(fd, "wide", 0755), 0);
    for (int i = 0; i < 200; i++) {
        char n[64];
        snprintf(n, sizeof(n), "wide/d%d", i);
        assert_int_equal(mkdirat(fd, n, 0755), 0);
        snprintf(n, sizeof(n), "wide/d%d/f", i);
        close(openat(fd, n, O_CREAT | O_WRONLY, 0644));
    }
    /* deep: 1500 levels of "dd" (4500 bytes of path) */
    for (int i = 0; i < 1500; i++) {
        assert_int_equal(mkdirat(fd, "dd", 0755), 0);
        int n = openat(fd, "dd", O_RDONLY | O_DIRECTORY);
        assert_true(n >= 0);
        close(fd);
        fd = n;
    }
    close(openat(fd, "file", O_CREAT | O_WRONLY, 0644));
    assert_int_equal(symlinkat(outside, fd, "out"), 0);
    assert_int_equal(symlinkat("../../../../../../../../../../../../../../../../../../..", fd, "up"), 0);
    assert_int_equal(mkdirat(fd, "locked", 0755), 0);
    assert_int_equal(mkdirat(fd, "locked/sub", 0755), 0);
    close(openat(fd, "locked/sub/f", O_CREAT | O_WRONLY, 0644));
    assert_int_equal(fchmodat(fd, "locked/sub", 0, 0), 0);
    assert_int_equal(fchmodat(fd, "locked", 0, 0), 0);
    close(fd);
    char keep[128];
    snprintf(keep, sizeof(keep), "%s/keep", outside);
    close(open(keep, O_CREAT | O_WRONLY, 0644));

    ab_error err = { 0 };
    assert_int_equal(fs_remove_tree_at(rfd, "tree", &err), 0);
    struct stat st;
    assert_int_equal(fstatat(rfd, "tree", &st, AT_SYMLINK_NOFOLLOW), -1);
    assert_int_equal(access(keep, F_OK), 0);
    /* a missing name is no error; a link is removed, not followed */
    assert_int_equal(fs_remove_tree_at(rfd, "tree", &err), 0);
    assert_int_equal(symlinkat(outside, rfd, "lnk"), 0);
    assert_int_equal(fs_remove_tree_at(rfd, "lnk", &err), 0);
    assert_int_equal(fstatat(rfd, "lnk", &st, AT_SYMLINK_NOFOLLOW), -1);
    assert_int_equal(access(keep, F_OK), 0);
    unlink(keep);
    close(rfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_path),
        cmocka_unit_test(test_ensure_through_absolute_link),
        cmocka_unit_test(test_ensure_through_climbing_link),
        cmocka_unit_test(test_open_in_root),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_remove_tree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
