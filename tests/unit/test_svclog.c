/* The service log's pure parts (container/svclog.c, container/service.c):
 * its time format and --since parsing, cutting output into lines (long
 * lines split at a character boundary, the partial last line), when a file
 * is rotated, taking a stored line apart; and the writer itself in a
 * temporary directory (rotation keeps one old file); the service's
 * backoff and its state file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/service.h"
#include "container/svclog.h"
#include "util/fsutil.h"

/* 2026-11-29T07:40:01Z */
#define T0 1795938001LL

static void test_format_time(void **state)
{
    (void)state;
    char buf[SVCLOG_TIME_LEN];
    svclog_format_time(T0 * 1000000 + 123456, buf);
    assert_string_equal(buf, "2026-11-29T07:40:01.123456Z");
    svclog_format_time(T0 * 1000000, buf);
    assert_string_equal(buf, "2026-11-29T07:40:01.000000Z");
    svclog_format_time(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t now = T0 * 1000000, t = 0;
    assert_int_equal(svclog_parse_time("2026-11-29T07:40:01Z", now, &t), 0);
    assert_int_equal(t, T0 * 1000000);
    assert_int_equal(svclog_parse_time("2026-11-29T07:40:01.5Z", now, &t), 0);
    assert_int_equal(t, T0 * 1000000 + 500000);
    assert_int_equal(svclog_parse_time("2026-11-29T07:40:01.123456789Z", now, &t), 0);
    assert_int_equal(t, T0 * 1000000 + 123456);
    assert_int_equal(svclog_parse_time("2026-11-29T08:40:01+01:00", now, &t), 0);
    assert_int_equal(t, T0 * 1000000);
    assert_int_equal(svclog_parse_time("2026-11-29T05:10:01-02:30", now, &t), 0);
    assert_int_equal(t, T0 * 1000000);
    assert_int_equal(svclog_parse_time("2026-11-29 07:40:01z", now, &t), 0);
    assert_int_equal(t, T0 * 1000000);
    /* relative: that long ago */
    assert_int_equal(svclog_parse_time("10s", now, &t), 0);
    assert_int_equal(t, now - 10 * 1000000LL);
    assert_int_equal(svclog_parse_time("5m", now, &t), 0);
    assert_int_equal(t, now - 300 * 1000000LL);
    assert_int_equal(svclog_parse_time("2h", now, &t), 0);
    assert_int_equal(t, now - 7200 * 1000000LL);
    assert_int_equal(svclog_parse_time("1d", now, &t), 0);
    assert_int_equal(t, now - 86400 * 1000000LL);
    /* Unix seconds */
    assert_int_equal(svclog_parse_time("1795938001", now, &t), 0);
    assert_int_equal(t, T0 * 1000000);
    assert_int_equal(svclog_parse_time("1795938001.25", now, &t), 0);
    assert_int_equal(t, T0 * 1000000 + 250000);
    assert_int_equal(svclog_parse_time("0", now, &t), 0);
    assert_int_equal(t, 0);

    static const char *const bad[] = { "", "x", "10x", "10sec", "-5m", "5 m", "1.5h", "2026-11-29",
                                       "2026-11-29T07:40:01", "2026-13-29T07:40:01Z", "2026-02-30T07:40:01Z",
                                       "2026-11-29T24:00:00Z", "2026-11-29T07:40:01Zjunk", "2026-11-29T07:40:01+1",
                                       "2026-11-29T07:40:01.Z", "1795938001.", "99999999999999999999",
                                       "99999999999d", "yesterday" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = 42;
        if (svclog_parse_time(bad[i], now, &t) != -EINVAL)
            fail_msg("'%s' was taken as a time", bad[i]);
        assert_int_equal(t, 42);
    }
}

struct lines {
    char *v[64];
    size_t len[64];
    size_t n;
};

static void collect(void *arg, const char *text, size_t len)
{
    struct lines *l = arg;
    assert_true(l->n < 64);
    l->v[l->n] = malloc(len + 1);
    memcpy(l->v[l->n], text, len);
    l->v[l->n][len] = '\0';
    l->len[l->n++] = len;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

static void test_frame(void **state)
{
    (void)state;
    static struct svclog_framer f;
    struct lines l = { 0 };
    /* lines across feeds; an empty line is a line; the tail waits */
    svclog_frame(&f, "one\ntw", 6, collect, &l);
    svclog_frame(&f, "o\n\nthr", 6, collect, &l);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0], "one");
    assert_string_equal(l.v[1], "two");
    assert_string_equal(l.v[2], "");
    svclog_frame_flush(&f, collect, &l);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.v[3], "thr");
    svclog_frame_flush(&f, collect, &l);
    assert_int_equal(l.n, 4); /* nothing left */
    lines_free(&l);

    /* exactly a line's bound, then one byte more */
    char *big = malloc(3 * SVCLOG_LINE_MAX);
    memset(big, 'a', 3 * SVCLOG_LINE_MAX);
    big[SVCLOG_LINE_MAX] = '\n';
    svclog_frame(&f, big, SVCLOG_LINE_MAX + 1, collect, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.len[0], SVCLOG_LINE_MAX);
    lines_free(&l);
    memset(big, 'a', 3 * SVCLOG_LINE_MAX);
    big[2 * SVCLOG_LINE_MAX + 10] = '\n';
    svclog_frame(&f, big, 2 * SVCLOG_LINE_MAX + 11, collect, &l);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.len[0], SVCLOG_LINE_MAX);
    assert_int_equal(l.len[1], SVCLOG_LINE_MAX);
    assert_int_equal(l.len[2], 10);
    lines_free(&l);

    /* a character is never cut: "é" (2 bytes) across the bound */
    memset(big, 'a', SVCLOG_LINE_MAX - 1);
    memcpy(big + SVCLOG_LINE_MAX - 1, "\xc3\xa9zz\n", 5);
    svclog_frame(&f, big, SVCLOG_LINE_MAX + 4, collect, &l);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.len[0], SVCLOG_LINE_MAX - 1);
    assert_string_equal(l.v[1], "\xc3\xa9zz");
    lines_free(&l);
    /* a 4-byte one ending right at the bound stays on its line */
    memset(big, 'a', SVCLOG_LINE_MAX - 4);
    memcpy(big + SVCLOG_LINE_MAX - 4, "\xf0\x9f\x98\x80z\n", 6);
    svclog_frame(&f, big, SVCLOG_LINE_MAX + 2, collect, &l);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.len[0], SVCLOG_LINE_MAX);
    assert_string_equal(l.v[1], "z");
    lines_free(&l);
    /* bytes that are no UTF-8 are cut at the bound */
    memset(big, 0x80, SVCLOG_LINE_MAX + 1);
    big[SVCLOG_LINE_MAX + 1] = '\n';
    svclog_frame(&f, big, SVCLOG_LINE_MAX + 2, collect, &l);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.len[0], SVCLOG_LINE_MAX);
    assert_int_equal(l.len[1], 1);
    lines_free(&l);
    free(big);
}

static void test_must_rotate(void **state)
{
    (void)state;
    assert_false(svclog_must_rotate(0, 100, 50));     /* an empty file takes a long line */
    assert_false(svclog_must_rotate(100, 100, 200));  /* exactly full */
    assert_true(svclog_must_rotate(100, 101, 200));
    assert_true(svclog_must_rotate(1, 4096, 4096));
    assert_false(svclog_must_rotate(1ULL << 40, 1, 0)); /* 0: never */
}

static void test_parse_line(void **state)
{
    (void)state;
    struct svclog_entry e;
    const char *l = "2026-11-29T07:40:01.123456Z stdout hello world";
    assert_int_equal(svclog_parse_line(l, strlen(l), &e), 0);
    assert_int_equal(e.usec, T0 * 1000000 + 123456);
    assert_int_equal(e.stream_len, 6);
    assert_memory_equal(e.stream, "stdout", 6);
    assert_int_equal(e.text_len, 11);
    assert_memory_equal(e.text, "hello world", 11);
    l = "2026-11-29T07:40:01.123456Z stderr ";
    assert_int_equal(svclog_parse_line(l, strlen(l), &e), 0);
    assert_int_equal(e.text_len, 0);
    l = "2026-11-29T07:40:01.123456Z appbox";
    assert_int_equal(svclog_parse_line(l, strlen(l), &e), 0);
    assert_int_equal(e.stream_len, 6);
    assert_int_equal(e.text_len, 0);
    static const char *const bad[] = { "", "hello", "2026-11-29T07:40:01.123456Z", "2026-11-29T07:40:01.123456Z ",
                                       "2026-11-29T07:40:01.12345Z stdout x", "2026-11-29X07:40:01.123456Z stdout x" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (svclog_parse_line(bad[i], strlen(bad[i]), &e) != -EINVAL)
            fail_msg("'%s' was taken as a log line", bad[i]);
}

static char *slurp(int dir, const char *name)
{
    int fd = openat(dir, name, O_RDONLY);
    if (fd < 0)
        return NULL;
    char *buf = calloc(1, 65536);
    ssize_t n = read(fd, buf, 65535);
    close(fd);
    assert_true(n >= 0);
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

static void test_writer(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/svclog-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    int dir = open(tmpl, O_PATH | O_DIRECTORY);
    assert_true(dir >= 0);
    struct svclog l;
    ab_error err = { 0 };
    assert_int_equal(svclog_open_at(&l, dir, 4096, &err), 0);
    /* nothing written: no file */
    assert_int_equal(faccessat(dir, SVCLOG_FILE, F_OK, 0), -1);
    svclog_write(&l, "stdout", "a\nb\npartial", 11);
    svclog_printf(&l, "started pid %d", 12);
    char *text = slurp(dir, SVCLOG_FILE);
    assert_int_equal(count_lines(text), 4);
    struct svclog_entry e;
    char *nl = strchr(text, '\n');
    assert_int_equal(svclog_parse_line(text, (size_t)(nl - text), &e), 0);
    assert_memory_equal(e.text, "a", 1);
    assert_non_null(strstr(text, " stdout partial\n"));
    assert_non_null(strstr(text, " appbox started pid 12\n"));
    free(text);
    struct stat st;
    assert_int_equal(fstatat(dir, SVCLOG_FILE, &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    /* past 4096 bytes: rotated, one old file kept, no file over the bound */
    char line[100];
    memset(line, 'x', sizeof(line));
    for (int i = 0; i < 200; i++)
        svclog_write(&l, "stderr", line, sizeof(line));
    struct stat a, b;
    assert_int_equal(fstatat(dir, SVCLOG_FILE, &a, 0), 0);
    assert_int_equal(fstatat(dir, SVCLOG_OLD, &b, 0), 0);
    assert_true(a.st_size <= 4096 && b.st_size <= 4096);
    assert_true(b.st_size > 4096 - 200);
    assert_int_equal(faccessat(dir, SVCLOG_OLD ".1", F_OK, 0), -1);
    /* a second writer (the supervisor) and the first: the same file */
    struct svclog l2;
    assert_int_equal(svclog_open_at(&l2, dir, 4096, &err), 0);
    for (int i = 0; i < 100; i++) {
        svclog_write(i % 2 ? &l : &l2, "stdout", line, sizeof(line));
    }
    text = slurp(dir, SVCLOG_FILE);
    char *old = slurp(dir, SVCLOG_OLD);
    /* whole lines only, each of its 136 bytes, both files full enough */
    assert_true(count_lines(text) + count_lines(old) >= 4096 / 136);
    assert_int_equal(fstatat(dir, SVCLOG_FILE, &a, 0), 0);
    assert_int_equal(fstatat(dir, SVCLOG_OLD, &b, 0), 0);
    assert_true(a.st_size <= 4096 && b.st_size <= 4096);
    assert_int_equal(a.st_size % 136, 0);
    assert_int_equal(b.st_size % 136, 0);
    assert_int_equal(b.st_size / 136, 4096 / 136);
    free(text);
    free(old);
    svclog_close(&l2);

    /* a link planted as service.log is never followed */
    svclog_close(&l);
    unlinkat(dir, SVCLOG_FILE, 0);
    char target[64];
    snprintf(target, sizeof(target), "%s/target", tmpl);
    assert_int_equal(symlinkat(target, dir, SVCLOG_FILE), 0);
    assert_int_equal(svclog_open_at(&l, dir, 4096, &err), 0);
    svclog_printf(&l, "not there");
    assert_int_equal(access(target, F_OK), -1);
    svclog_close(&l);
    close(dir);
    ab_error ignored;
    char *slash = strrchr(tmpl, '/');
    *slash = '\0';
    int parent = open(tmpl, O_PATH | O_DIRECTORY);
    fs_remove_tree_at(parent, slash + 1, &ignored);
    close(parent);
}

static void test_backoff(void **state)
{
    (void)state;
    long b = service_backoff(0, 0);
    assert_int_equal(b, 100);
    long want[] = { 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000 };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        b = service_backoff(b, 50);
        assert_int_equal(b, want[i]);
    }
    assert_int_equal(service_backoff(30000, 10000), 100); /* ran 10 s: from the start again */
    assert_int_equal(service_backoff(400, 9999), 800);
}

static void test_status(void **state)
{
    (void)state;
    struct service_status st = { .pid = 77, .since = T0 * 1000000, .restarts = 3, .last_status = 137 }, back;
    snprintf(st.state, sizeof(st.state), "running");
    snprintf(st.restart, sizeof(st.restart), "on-failure");
    char buf[512];
    assert_int_equal(service_format_status(&st, buf, sizeof(buf)), 0);
    assert_int_equal(service_parse_status(buf, &back), 0);
    assert_string_equal(back.state, "running");
    assert_string_equal(back.restart, "on-failure");
    assert_int_equal(back.pid, 77);
    assert_int_equal(back.since, T0 * 1000000);
    assert_int_equal(back.restarts, 3);
    assert_int_equal(back.last_status, 137);
    assert_int_equal(service_parse_status("pid=1\n", &back), -EINVAL);
    assert_int_equal(service_parse_status("state=exited\n", &back), 0);
    assert_int_equal(back.last_status, -1);
    char what[64];
    assert_string_equal(service_describe_status(0, what, sizeof(what)), "exited with status 0");
    assert_string_equal(service_describe_status(3, what, sizeof(what)), "exited with status 3");
    assert_string_equal(service_describe_status(128, what, sizeof(what)), "exited with status 128");
    assert_string_equal(service_describe_status(137, what, sizeof(what)), "killed by signal 9");
    assert_string_equal(service_describe_status(255, what, sizeof(what)), "exited with status 255");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_time), cmocka_unit_test(test_parse_time), cmocka_unit_test(test_frame),
        cmocka_unit_test(test_must_rotate), cmocka_unit_test(test_parse_line), cmocka_unit_test(test_writer),
        cmocka_unit_test(test_backoff),     cmocka_unit_test(test_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
