/* appbox logs NAME: the service's log (container/svclog.h): what the
 * Run= command that `start` runs wrote, the older file first; -f follows
 * it until the container stops.
 * appbox logs NAME --network [-n N]: the log of a named container's
 * network helper (net/proxyd.c): each connection the proxy carried or
 * refused, each DNS name it refused; the older file first. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "container/state.h"
#include "container/store.h"
#include "container/svclog.h"
#include "net/proxy.h"
#include "net/proxyd.h"
#include "util/cleanup.h"
#include "util/strv.h"

#define LOGS_USAGE                                                                                           \
    "appbox logs NAME [-f|--follow] [--since TIME] [-n N|--lines N] [-t|--timestamps]\n"                     \
    "       appbox logs NAME --network [-n N|--lines N]"

/* FILE's lines (at DIR) appended to OUT. */
static void read_lines(int dir, const char *file, strv *out)
{
    int fd = openat(dir, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    _cleanup_fclose_ FILE *f = fdopen(fd, "re");
    if (!f) {
        close(fd);
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[n - 1] = 0;
        strv_push(out, line);
    }
    free(line);
}

static int network_log(struct ab_ctx *ctx, const char *name, long last)
{
    ab_error err = { 0 };
    int dir = proxy_log_dir(ctx, name, false, NULL, &err);
    if (dir < 0 && err.msg[0])
        return cmd_report(&err);
    strv lines = { 0 };
    if (dir >= 0) {
        read_lines(dir, PROXYD_LOG ".1", &lines);
        read_lines(dir, PROXYD_LOG, &lines);
        close(dir);
    }
    size_t from = last >= 0 && (size_t)last < lines.n ? lines.n - (size_t)last : 0;
    for (size_t i = from; i < lines.n; i++)
        printf("%s\n", lines.v[i]);
    strv_clear(&lines);
    return 0;
}

/* The service log */

struct view {
    bool timestamps;   /* the whole stored line; else the service's own text */
    bool have_since;
    int64_t since;
    long last;         /* -n: the last N lines; -1 all */
    char **ring;       /* with -n, before the first is printed */
    size_t ring_next, ring_n;
    bool buffering;
};

/* The line as it is printed (malloc'd, with its newline), or NULL when
 * this view shows nothing of it. */
static char *shown(const struct view *v, const char *line, size_t len)
{
    struct svclog_entry e;
    bool parsed = svclog_parse_line(line, len, &e) == 0;
    if (v->have_since && (!parsed || e.usec < v->since))
        return NULL;
    const char *text = line;
    size_t tlen = len;
    if (!v->timestamps) {
        /* as podman logs: the program's output alone, and a booted
         * system's console (appbox's own lines and the times with
         * --timestamps) */
        if (!parsed || !((e.stream_len == 6 && memcmp(e.stream, "stdout", 6) == 0) ||
                         (e.stream_len == 6 && memcmp(e.stream, "stderr", 6) == 0) ||
                         (e.stream_len == 7 && memcmp(e.stream, "console", 7) == 0)))
            return NULL;
        text = e.text;
        tlen = e.text_len;
    }
    char *out = malloc(tlen + 2);
    if (out) {
        memcpy(out, text, tlen);
        out[tlen] = '\n';
        out[tlen + 1] = '\0';
    }
    return out;
}

static void put(struct view *v, const char *line, size_t len)
{
    char *s = shown(v, line, len);
    if (!s)
        return;
    if (v->buffering && v->last >= 0) {
        if (v->last == 0) {
            free(s);
            return;
        }
        free(v->ring[v->ring_next]);
        v->ring[v->ring_next] = s;
        v->ring_next = (v->ring_next + 1) % (size_t)v->last;
        if (v->ring_n < (size_t)v->last)
            v->ring_n++;
        return;
    }
    fputs(s, stdout);
    free(s);
}

/* The last N lines, kept until now: out, oldest first. */
static void flush_ring(struct view *v)
{
    if (v->buffering && v->last > 0) {
        size_t first = v->ring_n < (size_t)v->last ? 0 : v->ring_next;
        for (size_t i = 0; i < v->ring_n; i++) {
            size_t k = (first + i) % (size_t)v->last;
            fputs(v->ring[k], stdout);
            free(v->ring[k]);
            v->ring[k] = NULL;
        }
    }
    v->buffering = false;
    fflush(stdout);
}

struct reader {
    int fd;
    char *buf;
    size_t len, cap;
};

/* Read what FD has now; every complete line to the view.  0 at its end,
 * > 0 when something was read, < 0 on an error. */
static int pump(struct reader *r, struct view *v)
{
    if (r->cap - r->len < 65536) {
        size_t ncap = r->cap ? r->cap * 2 : 65536 * 2;
        char *nb = realloc(r->buf, ncap);
        if (!nb)
            return -ENOMEM;
        r->buf = nb;
        r->cap = ncap;
    }
    ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
    if (n < 0)
        return errno == EINTR ? 1 : -errno;
    if (n == 0)
        return 0;
    r->len += (size_t)n;
    size_t start = 0;
    char *nl;
    while ((nl = memchr(r->buf + start, '\n', r->len - start))) {
        put(v, r->buf + start, (size_t)(nl - (r->buf + start)));
        start = (size_t)(nl - r->buf) + 1;
    }
    memmove(r->buf, r->buf + start, r->len - start);
    r->len -= start;
    return 1;
}

static void drain(struct reader *r, struct view *v)
{
    while (pump(r, v) > 0)
        ;
}

/* A file ended without its newline (a writer is on it, or was killed):
 * its last part as a line. */
static void finish(struct reader *r, struct view *v)
{
    if (r->len)
        put(v, r->buf, r->len);
    r->len = 0;
}

static int open_log(int dir, const char *file)
{
    int fd = openat(dir, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Done with R's file (the rest of it, and its last line without a
 * newline), then DIR's FILE (if any) from its start, as far as it goes. */
static void next_file(struct reader *r, struct view *v, int dir, const char *file)
{
    if (r->fd >= 0) {
        drain(r, v);
        finish(r, v);
        close(r->fd);
    }
    r->fd = file ? open_log(dir, file) : -1;
    if (r->fd >= 0)
        drain(r, v);
}

/* Whether DIR's service.log is no longer the file FD (rotated). */
static bool rotated(int dir, int fd)
{
    struct stat a, b;
    if (fd < 0)
        return fstatat(dir, SVCLOG_FILE, &b, AT_SYMLINK_NOFOLLOW) == 0;
    if (fstat(fd, &a) < 0 || fstatat(dir, SVCLOG_FILE, &b, AT_SYMLINK_NOFOLLOW) < 0)
        return false;
    return a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

static int service_log(struct ab_ctx *ctx, const char *name, struct view *v, bool follow)
{
    ab_error err = { 0 };
    int root = ab_ctx_data_fd_existing(ctx, &err);
    if (root < 0)
        return 0;
    _cleanup_close_ int dir = openat(root, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0)
        return cmd_fail("logs", "cannot open %s/%s: %s", ctx->data_dir, name, strerror(errno));
    _cleanup_free_ char **ring = v->last > 0 ? calloc((size_t)v->last, sizeof(char *)) : NULL;
    if (v->last > 0 && !ring)
        return cmd_fail("logs", "--lines %ld: out of memory", v->last);
    v->ring = ring;
    v->buffering = v->last >= 0;
    struct reader r = { .fd = -1 };
    next_file(&r, v, dir, SVCLOG_OLD);
    next_file(&r, v, dir, SVCLOG_FILE);
    flush_ring(v);
    /* Until the container stops: its last lines are written before its
     * supervisor lets go of its lock, so one more read after that has
     * them all. */
    bool running = follow && state_running(ctx, name);
    while (running) {
        struct timespec tick = { 0, 100 * 1000 * 1000 };
        nanosleep(&tick, NULL);
        running = state_running(ctx, name);
        if (r.fd >= 0)
            drain(&r, v);
        if (rotated(dir, r.fd))
            next_file(&r, v, dir, SVCLOG_FILE); /* the rest of the old file, then the new one */
        fflush(stdout);
    }
    next_file(&r, v, dir, NULL);
    free(r.buf);
    fflush(stdout);
    return 0;
}

/* --flag VALUE or --flag=VALUE (and -x VALUE): the value, or NULL when
 * ARG is not FLAG. */
static const char *flag_value(int argc, char **argv, int *i, const char *lng, const char *shrt, bool *missing)
{
    const char *a = argv[*i];
    size_t l = strlen(lng);
    if (strncmp(a, lng, l) == 0 && a[l] == '=')
        return a + l + 1;
    if (strcmp(a, lng) == 0 || (shrt && strcmp(a, shrt) == 0)) {
        if (*i + 1 < argc)
            return argv[++*i];
        *missing = true;
    }
    return NULL;
}

int cmd_logs(struct ab_ctx *ctx, int argc, char **argv)
{
    const char *name = NULL;
    bool network = false, follow = false;
    struct view v = { .last = -1 };
    const char *since_arg = NULL, *lines_arg = NULL;
    for (int i = 0; i < argc; i++) {
        bool missing = false;
        const char *val;
        if (cmd_is_help(argv[i])) {
            printf("Usage: " LOGS_USAGE "\n\n"
                   "Show the log of NAME's service: what its Run= command, which appbox start runs,\n"
                   "wrote to stdout and stderr, and a booted container's console (the older file\n"
                   "first).\n"
                   "  -f, --follow      print new lines as they come, until NAME stops (or Ctrl-C)\n"
                   "  --since TIME      only lines from TIME on: 2026-11-29T07:40:00Z (RFC 3339),\n"
                   "                    10s, 5m, 2h, 1d ago, or Unix seconds\n"
                   "  -n, --lines N     only the last N lines\n"
                   "  -t, --timestamps  each line as stored: its time (UTC), its stream (stdout,\n"
                   "                    stderr, console, or appbox for appbox's own lines: started,\n"
                   "                    exited, restarting, killed: memory limit reached) and its text\n"
                   "--network: NAME's network log instead: every connection its proxy (--network\n"
                   "proxy) carried or refused, with bytes up and down, and every DNS name it refused.\n");
            return 0;
        }
        if (strcmp(argv[i], "--network") == 0) {
            network = true;
        } else if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow") == 0) {
            follow = true;
        } else if (strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--timestamps") == 0) {
            v.timestamps = true;
        } else if ((val = flag_value(argc, argv, &i, "--lines", "-n", &missing)) || missing) {
            if (missing)
                return cmd_usage_error("logs", "--lines: missing N (a number of lines, 0 or more)");
            lines_arg = val;
        } else if ((val = flag_value(argc, argv, &i, "--since", NULL, &missing)) || missing) {
            if (missing)
                return cmd_usage_error("logs", "--since: missing TIME (such as 2026-11-29T07:40:00Z, 10m, or Unix "
                                               "seconds)");
            since_arg = val;
        } else if (argv[i][0] == '-') {
            return cmd_usage_error("logs", "%s: unknown option (allowed: --follow, --since TIME, --lines N, "
                                           "--timestamps, --network)", argv[i]);
        } else if (name) {
            return cmd_usage_error("logs", "'%s': one NAME only (usage: appbox logs NAME [OPTIONS])", argv[i]);
        } else {
            name = argv[i];
        }
    }
    if (lines_arg) {
        char *end;
        errno = 0;
        v.last = strtol(lines_arg, &end, 10);
        if (!*lines_arg || *end || errno || v.last < 0 || v.last > 100000000)
            return cmd_usage_error("logs", "--lines: '%s' is not a number of lines (expected 0 or more)",
                                   lines_arg);
    }
    if (since_arg) {
        if (svclog_parse_time(since_arg, svclog_now(), &v.since) < 0)
            return cmd_usage_error("logs", "--since: '%s' is not a time (allowed: RFC 3339 such as "
                                           "2026-11-29T07:40:00Z or 2026-11-29T08:40:00+01:00; 10s, 5m, 2h, 1d "
                                           "ago; or Unix seconds)", since_arg);
        v.have_since = true;
    }
    if (!name)
        return cmd_usage_error("logs", "missing NAME (usage: appbox logs NAME [OPTIONS])");
    if (network && (follow || since_arg || v.timestamps))
        return cmd_usage_error("logs", "--network takes only --lines N (--follow, --since and --timestamps are "
                                       "for the service's log)");
    if (!store_name_valid(name))
        return cmd_usage_error("logs", "'%s' is not a container name", name);
    if (store_kind(ctx, name) != STORE_CONTAINER)
        return cmd_fail("logs", "no container named '%s' (see appbox list)", name);
    if (network)
        return network_log(ctx, name, v.last);
    return service_log(ctx, name, &v, follow);
}
