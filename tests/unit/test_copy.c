/* The receiving end of cp's stream, fed hostile streams: whatever names,
 * links and orders it carries, nothing is made or changed outside the
 * directory the copy goes into, and nothing is followed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/copy_stream.h"

static char dest[64], outside[64];
static int destfd = -1;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    return remove(p);
}

static int setup(void **state)
{
    snprintf(dest, sizeof(dest), "/tmp/abunit-copy-XXXXXX");
    snprintf(outside, sizeof(outside), "/tmp/abunit-outside-XXXXXX");
    if (!mkdtemp(dest) || !mkdtemp(outside))
        return -1;
    destfd = open(dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return destfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    close(destfd);
    nftw(dest, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    nftw(outside, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* A stream being written into a memfd, read back by copy_receive(). */
struct stream {
    int fd;
};

static void frame(struct stream *s, int type, const char *name, const char *link, uint32_t mode, const char *data)
{
    struct copy_frame f = { .type = (uint8_t)type, .mode = mode };
    f.namelen = name ? (uint32_t)strlen(name) : 0;
    f.linklen = link ? (uint32_t)strlen(link) : 0;
    f.size = data ? strlen(data) : 0;
    assert_int_equal(write(s->fd, &f, sizeof(f)), sizeof(f));
    if (f.namelen)
        assert_int_equal(write(s->fd, name, f.namelen), f.namelen);
    if (f.linklen)
        assert_int_equal(write(s->fd, link, f.linklen), f.linklen);
    if (f.size)
        assert_int_equal(write(s->fd, data, f.size), f.size);
}

static struct stream start(void)
{
    struct stream s = { .fd = memfd_create("stream", MFD_CLOEXEC) };
    assert_true(s.fd >= 0);
    return s;
}

static int receive(struct stream *s, const char *name, ab_error *err, struct copy_stats *st)
{
    lseek(s->fd, 0, SEEK_SET);
    int r = copy_receive(NULL, s->fd, destfd, name, "dest", 0, st, err);
    close(s->fd);
    return r;
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

static void test_a_tree_is_made_and_set_id_dropped(void **state)
{
    struct stream s = start();
    frame(&s, FR_DIR, "top", NULL, 0750, NULL);
    frame(&s, FR_FILE, "a.txt", NULL, 04755, "hello\n");
    frame(&s, FR_LINK, "l", "/etc/passwd", 0777, NULL);
    frame(&s, FR_DIR, "sub", NULL, 0700, NULL);
    frame(&s, FR_END, NULL, NULL, 0, NULL);
    frame(&s, FR_END, NULL, NULL, 0, NULL);
    frame(&s, FR_DONE, NULL, NULL, 0, NULL);
    ab_error err = { 0 };
    struct copy_stats st = { 0 };
    assert_int_equal(receive(&s, "copy", &err, &st), 0);
    char p[128], buf[16] = { 0 };
    struct stat sb;
    snprintf(p, sizeof(p), "%s/copy/a.txt", dest);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0755);
    int fd = open(p, O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 6);
    close(fd);
    assert_string_equal(buf, "hello\n");
    assert_int_equal(st.dropped_setid, 1);
    snprintf(p, sizeof(p), "%s/copy/l", dest);
    assert_int_equal(readlink(p, buf, sizeof(buf) - 1), 11);
    snprintf(p, sizeof(p), "%s/copy", dest);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0750);
}

/* Each of these streams must be refused, and leave OUTSIDE empty. */
static void test_hostile_names_are_refused(void **state)
{
    static const char *const bad[] = { "..", ".", "a/b", "/abs", "" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct stream s = start();
        frame(&s, FR_DIR, "top", NULL, 0755, NULL);
        frame(&s, FR_FILE, bad[i], NULL, 0644, "x");
        frame(&s, FR_END, NULL, NULL, 0, NULL);
        frame(&s, FR_DONE, NULL, NULL, 0, NULL);
        ab_error err = { 0 };
        struct copy_stats st = { 0 };
        char name[16];
        snprintf(name, sizeof(name), "bad%zu", i);
        assert_true(receive(&s, name, &err, &st) < 0);
        assert_non_null(strstr(err.msg, "a bad name in the copy stream"));
    }
}

static void test_a_link_then_a_directory_through_it_is_refused(void **state)
{
    struct stream s = start();
    frame(&s, FR_DIR, "top", NULL, 0755, NULL);
    frame(&s, FR_LINK, "esc", outside, 0777, NULL);
    frame(&s, FR_DIR, "esc", NULL, 0755, NULL);
    frame(&s, FR_FILE, "planted", NULL, 0644, "x");
    frame(&s, FR_END, NULL, NULL, 0, NULL);
    frame(&s, FR_END, NULL, NULL, 0, NULL);
    frame(&s, FR_DONE, NULL, NULL, 0, NULL);
    ab_error err = { 0 };
    struct copy_stats st = { 0 };
    assert_true(receive(&s, "linkdir", &err, &st) < 0);
    assert_non_null(strstr(err.msg, "esc: cannot copy a directory there"));
    assert_int_equal(entries(outside), 0);
}

static void test_a_file_replaces_a_link_never_writes_through_it(void **state)
{
    char target[128];
    snprintf(target, sizeof(target), "%s/victim", outside);
    int fd = open(target, O_WRONLY | O_CREAT, 0644);
    assert_true(write(fd, "keep", 4) == 4);
    close(fd);
    struct stream s = start();
    frame(&s, FR_DIR, "top", NULL, 0755, NULL);
    frame(&s, FR_LINK, "v", target, 0777, NULL);
    frame(&s, FR_FILE, "v", NULL, 0644, "overwritten");
    frame(&s, FR_END, NULL, NULL, 0, NULL);
    frame(&s, FR_DONE, NULL, NULL, 0, NULL);
    ab_error err = { 0 };
    struct copy_stats st = { 0 };
    assert_int_equal(receive(&s, "replace", &err, &st), 0);
    char buf[16] = { 0 };
    fd = open(target, O_RDONLY);
    assert_int_equal(read(fd, buf, sizeof(buf)), 4);
    close(fd);
    assert_string_equal(buf, "keep");
    char p[128];
    struct stat sb;
    snprintf(p, sizeof(p), "%s/replace/v", dest);
    assert_int_equal(lstat(p, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    unlink(target);
}

static void test_an_existing_link_in_the_destination_is_not_followed(void **state)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/merge", dest);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/merge/sub", dest);
    assert_int_equal(symlink(outside, p), 0);
    struct stream s = start();
    frame(&s, FR_DIR, "top", NULL, 0755, NULL);
    frame(&s, FR_DIR, "sub", NULL, 0755, NULL);
    frame(&s, FR_FILE, "f", NULL, 0644, "x");
    frame(&s, FR_END, NULL, NULL, 0, NULL);
    frame(&s, FR_END, NULL, NULL, 0, NULL);
    frame(&s, FR_DONE, NULL, NULL, 0, NULL);
    ab_error err = { 0 };
    struct copy_stats st = { 0 };
    assert_true(receive(&s, "merge", &err, &st) < 0);
    assert_int_equal(entries(outside), 0);
}

static void test_a_short_or_unbalanced_stream_is_an_error(void **state)
{
    struct stream s = start();
    frame(&s, FR_DIR, "top", NULL, 0755, NULL);
    struct copy_frame f = { .type = FR_FILE, .namelen = 1, .size = 100 };
    assert_int_equal(write(s.fd, &f, sizeof(f)), sizeof(f));
    assert_int_equal(write(s.fd, "f", 1), 1);
    assert_int_equal(write(s.fd, "short", 5), 5);
    ab_error err = { 0 };
    struct copy_stats st = { 0 };
    assert_true(receive(&s, "short", &err, &st) < 0);
    assert_non_null(strstr(err.msg, "cut short"));

    s = start();
    frame(&s, FR_DIR, "top", NULL, 0755, NULL);
    frame(&s, FR_DONE, NULL, NULL, 0, NULL);
    assert_true(receive(&s, "unbalanced", &err, &st) < 0);
    assert_non_null(strstr(err.msg, "ended early"));

    s = start();
    frame(&s, FR_END, NULL, NULL, 0, NULL);
    assert_true(receive(&s, "end-first", &err, &st) < 0);
    assert_non_null(strstr(err.msg, "a bad frame"));

    /* the sender's error is the receiver's */
    s = start();
    frame(&s, FR_FAIL, "web:/x: Permission denied", NULL, 0, NULL);
    assert_true(receive(&s, "failed", &err, &st) < 0);
    assert_string_equal(err.msg, "web:/x: Permission denied");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_tree_is_made_and_set_id_dropped),
        cmocka_unit_test(test_hostile_names_are_refused),
        cmocka_unit_test(test_a_link_then_a_directory_through_it_is_refused),
        cmocka_unit_test(test_a_file_replaces_a_link_never_writes_through_it),
        cmocka_unit_test(test_an_existing_link_in_the_destination_is_not_followed),
        cmocka_unit_test(test_a_short_or_unbalanced_stream_is_an_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
