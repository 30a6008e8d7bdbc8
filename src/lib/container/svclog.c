#include "container/svclog.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/store.h"
#include "util/cleanup.h"

int64_t svclog_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void svclog_format_time(int64_t usec, char buf[SVCLOG_TIME_LEN])
{
    time_t sec = (time_t)(usec / 1000000);
    long frac = (long)(usec % 1000000);
    if (frac < 0) {
        frac += 1000000;
        sec--;
    }
    struct tm tm;
    gmtime_r(&sec, &tm);
    char tmp[96];
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    snprintf(buf, SVCLOG_TIME_LEN, "%.*s", SVCLOG_TIME_LEN - 1, tmp);
}

/* N digits at *P as a number (advancing P); -1 when they are not. */
static long digits(const char **p, int n)
{
    long v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

/* ".123" (any number of digits, the first 6 counted) as microseconds. */
static int fraction(const char **p, int64_t *usec)
{
    *usec = 0;
    if (**p != '.')
        return 0;
    (*p)++;
    if (!isdigit((unsigned char)**p))
        return -EINVAL;
    int64_t scale = 100000;
    for (; isdigit((unsigned char)**p); (*p)++, scale /= 10)
        *usec += (**p - '0') * scale;
    return 0;
}

static int parse_rfc3339(const char *s, int64_t *usec)
{
    const char *p = s;
    long y = digits(&p, 4);
    if (y < 0 || *p++ != '-')
        return -EINVAL;
    long mo = digits(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-')
        return -EINVAL;
    long d = digits(&p, 2);
    if (d < 1 || d > 31 || (*p != 'T' && *p != 't' && *p != ' '))
        return -EINVAL;
    p++;
    long h = digits(&p, 2);
    if (h < 0 || h > 23 || *p++ != ':')
        return -EINVAL;
    long mi = digits(&p, 2);
    if (mi < 0 || mi > 59 || *p++ != ':')
        return -EINVAL;
    long sec = digits(&p, 2);
    int64_t frac;
    if (sec < 0 || sec > 60 || fraction(&p, &frac) < 0)
        return -EINVAL;
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        long oh = digits(&p, 2);
        if (oh < 0 || oh > 23 || *p++ != ':')
            return -EINVAL;
        long om = digits(&p, 2);
        if (om < 0 || om > 59)
            return -EINVAL;
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return -EINVAL; /* a time without its zone means nothing exact */
    }
    if (*p)
        return -EINVAL;
    struct tm tm = { .tm_year = (int)y - 1900, .tm_mon = (int)mo - 1, .tm_mday = (int)d, .tm_hour = (int)h,
                     .tm_min = (int)mi, .tm_sec = (int)sec };
    time_t t = timegm(&tm);
    if (tm.tm_mday != d) /* 2026-02-30 came back as March */
        return -EINVAL;
    *usec = ((int64_t)t - offset) * 1000000 + frac;
    return 0;
}

int svclog_parse_time(const char *s, int64_t now, int64_t *usec)
{
    if (!s || !*s)
        return -EINVAL;
    if (strlen(s) >= 10 && s[4] == '-')
        return parse_rfc3339(s, usec);
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return -EINVAL;
    int64_t n = 0;
    for (; isdigit((unsigned char)*p); p++) {
        if (n > 100000000000LL) /* beyond year 5000: not a time */
            return -EINVAL;
        n = n * 10 + (*p - '0');
    }
    static const struct {
        char unit;
        int64_t seconds;
    } units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (p[0] == units[i].unit && !p[1]) {
            if (n > 100000000LL * 86400 / units[i].seconds)
                return -EINVAL;
            *usec = now - n * units[i].seconds * 1000000;
            return 0;
        }
    int64_t frac;
    if (fraction(&p, &frac) < 0 || *p)
        return -EINVAL;
    *usec = n * 1000000 + frac;
    return 0;
}

/* Where to cut a full buffer: after its last whole UTF-8 character (a
 * character is never split across lines); anything that is no UTF-8 is
 * cut where the buffer ends. */
static size_t cut_point(const char *buf, size_t len)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t cont = 0;
    while (cont < len && cont < 3 && (b[len - 1 - cont] & 0xC0) == 0x80)
        cont++;
    size_t lead = len - 1 - cont; /* where the last character starts */
    if (cont == len || lead == 0 || b[lead] < 0xC0)
        return len;
    size_t need = b[lead] >= 0xF0 ? 4 : b[lead] >= 0xE0 ? 3 : 2;
    return cont + 1 < need ? lead : len;
}

void svclog_frame(struct svclog_framer *f, const char *data, size_t n, svclog_emit_fn emit, void *arg)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        while (take > 0) {
            if (f->len == SVCLOG_LINE_MAX) {
                /* more of a line than a line holds: a full part goes out */
                size_t cut = cut_point(f->buf, f->len);
                emit(arg, f->buf, cut);
                memmove(f->buf, f->buf + cut, f->len - cut);
                f->len -= cut;
            }
            size_t room = SVCLOG_LINE_MAX - f->len;
            size_t k = take < room ? take : room;
            memcpy(f->buf + f->len, data, k);
            f->len += k;
            data += k;
            n -= k;
            take -= k;
        }
        if (nl) {
            emit(arg, f->buf, f->len);
            f->len = 0;
            data++;
            n--;
        }
    }
}

void svclog_frame_flush(struct svclog_framer *f, svclog_emit_fn emit, void *arg)
{
    if (f->len)
        emit(arg, f->buf, f->len);
    f->len = 0;
}

bool svclog_must_rotate(uint64_t size, size_t add, uint64_t max)
{
    return max > 0 && size > 0 && size + add > max;
}

int svclog_parse_line(const char *line, size_t len, struct svclog_entry *e)
{
    if (len < SVCLOG_TIME_LEN + 1 || line[SVCLOG_TIME_LEN - 1] != ' ')
        return -EINVAL;
    char ts[SVCLOG_TIME_LEN];
    memcpy(ts, line, SVCLOG_TIME_LEN - 1);
    ts[SVCLOG_TIME_LEN - 1] = '\0';
    if (parse_rfc3339(ts, &e->usec) < 0)
        return -EINVAL;
    e->stream = line + SVCLOG_TIME_LEN;
    const char *sp = memchr(e->stream, ' ', len - SVCLOG_TIME_LEN);
    e->stream_len = sp ? (size_t)(sp - e->stream) : len - SVCLOG_TIME_LEN;
    if (e->stream_len == 0)
        return -EINVAL;
    e->text = sp ? sp + 1 : line + len;
    e->text_len = (size_t)(line + len - e->text);
    return 0;
}

/* The writer */

int svclog_open_at(struct svclog *l, int dirfd, uint64_t max, ab_error *err)
{
    l->fd = -1;
    l->max = max;
    l->dir = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    return l->dir < 0 ? ab_fail(err, errno, "cannot open the service log's directory") : 0;
}

int svclog_open(struct svclog *l, struct ab_ctx *ctx, const char *name, uint64_t max, ab_error *err)
{
    l->fd = l->dir = -1;
    if (store_check_name(name, err) < 0)
        return -EINVAL;
    int root = ab_ctx_data_fd_existing(ctx, err);
    if (root < 0)
        return ab_fail(err, -root, "cannot open the data dir of %s", name);
    _cleanup_close_ int dir = openat(root, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return ab_fail(err, errno, "cannot open %s/%s", ctx->data_dir, name);
    return svclog_open_at(l, dir, max, err);
}

void svclog_close(struct svclog *l)
{
    if (l->fd >= 0)
        close(l->fd);
    if (l->dir >= 0)
        close(l->dir);
    l->fd = l->dir = -1;
}

static int open_file(struct svclog *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = openat(l->dir, SVCLOG_FILE, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (l->fd < 0)
        return -errno;
    struct stat st;
    /* a regular file of ours, nothing else (a fifo would block us) */
    if (fstat(l->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(l->fd);
        l->fd = -1;
        return -EPERM;
    }
    return 0;
}

/* Under the lock, on the file that is service.log now (another writer may
 * have rotated it away from under our fd); its size in *SIZE. */
static int lock_current(struct svclog *l, uint64_t *size)
{
    for (int tries = 0; tries < 8; tries++) {
        if (l->fd < 0 && open_file(l) < 0)
            return -1;
        while (flock(l->fd, LOCK_EX) < 0)
            if (errno != EINTR)
                return -1;
        struct stat mine, named;
        if (fstat(l->fd, &mine) == 0 && fstatat(l->dir, SVCLOG_FILE, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
            mine.st_ino == named.st_ino && mine.st_dev == named.st_dev) {
            *size = (uint64_t)mine.st_size;
            return 0;
        }
        close(l->fd); /* drops the lock */
        l->fd = -1;
    }
    return -1;
}

static void write_line(struct svclog *l, const char *stream, const char *text, size_t len)
{
    char ts[SVCLOG_TIME_LEN];
    svclog_format_time(svclog_now(), ts);
    size_t slen = strlen(stream);
    size_t total = SVCLOG_TIME_LEN + slen + 1 + len + 1;
    _cleanup_free_ char *line = malloc(total);
    if (!line)
        return;
    memcpy(line, ts, SVCLOG_TIME_LEN - 1);
    line[SVCLOG_TIME_LEN - 1] = ' ';
    memcpy(line + SVCLOG_TIME_LEN, stream, slen);
    line[SVCLOG_TIME_LEN + slen] = ' ';
    memcpy(line + SVCLOG_TIME_LEN + slen + 1, text, len);
    line[total - 1] = '\n';
    uint64_t size;
    if (lock_current(l, &size) < 0)
        return;
    if (svclog_must_rotate(size, total, l->max)) {
        /* the older file goes, this one becomes it; renameat() replaces
         * the name itself, never following a link there */
        if (renameat(l->dir, SVCLOG_FILE, l->dir, SVCLOG_OLD) == 0) {
            int old = l->fd;
            l->fd = -1;
            int r = lock_current(l, &size);
            close(old);
            if (r < 0)
                return;
        }
    }
    ssize_t w;
    do
        w = write(l->fd, line, total);
    while (w < 0 && errno == EINTR);
    flock(l->fd, LOCK_UN);
}

struct emit_ctx {
    struct svclog *l;
    const char *stream;
};

static void emit_line(void *arg, const char *text, size_t len)
{
    struct emit_ctx *e = arg;
    write_line(e->l, e->stream, text, len);
}

void svclog_write(struct svclog *l, const char *stream, const char *text, size_t len)
{
    if (l->dir < 0)
        return;
    struct svclog_framer *f = malloc(sizeof(*f));
    if (!f)
        return;
    f->len = 0;
    struct emit_ctx e = { l, stream };
    svclog_frame(f, text, len, emit_line, &e);
    svclog_frame_flush(f, emit_line, &e);
    free(f);
}

void svclog_printf(struct svclog *l, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    svclog_write(l, "appbox", buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}
