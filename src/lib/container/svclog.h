/* The service log: NAME/service.log in the container's data dir (kept
 * after a stop, removed by rm), one line per line of output:
 *
 *   2026-11-29T07:40:01.123456Z stdout TEXT
 *
 * (UTC, microseconds), the stream word stdout, stderr, or appbox for
 * appbox's own lines (started pid 12, exited with status 1, restarting in
 * 0.4 s, stopping).  A line longer than SVCLOG_LINE_MAX bytes is split
 * (never inside a UTF-8 character).  Before a write would take the file
 * past its size limit it is renamed service.log.1 (replacing the older
 * one) and a new one begun: at most the two files.
 *
 * Only appbox on the host writes it, below the data dir's fd, never
 * through a link: the container sees nothing of NAME/ but its root or
 * home, so it cannot plant a name there that the writer would follow.
 * Writers may be several processes (the service's monitor, the
 * supervisor): each line is one write(), under a lock on the file, and a
 * writer that finds the file rotated by another opens the new one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "context.h"
#include "util/error.h"

#define SVCLOG_FILE "service.log"
#define SVCLOG_OLD "service.log.1"
/* The most bytes of TEXT in one line. */
#define SVCLOG_LINE_MAX 4096
/* "2026-11-29T07:40:01.123456Z" and its NUL */
#define SVCLOG_TIME_LEN 28

struct svclog {
    int dir;        /* NAME's data dir (O_PATH) */
    int fd;         /* service.log, appending; -1 until the first line */
    uint64_t max;   /* rotate before it grows past this many bytes */
};

/* Open NAME's service log for writing, with MAX bytes a file (0: never
 * rotated).  The file itself is made with the first line. */
int svclog_open(struct svclog *l, struct ab_ctx *ctx, const char *name, uint64_t max, ab_error *err);
/* The same for the data dir DIRFD of a container (dup'd). */
int svclog_open_at(struct svclog *l, int dirfd, uint64_t max, ab_error *err);
void svclog_close(struct svclog *l);
/* LEN bytes of TEXT as lines of STREAM: split at each newline and at
 * SVCLOG_LINE_MAX; a last part without a newline is a line too.
 * Failures to write are ignored (the service runs on). */
void svclog_write(struct svclog *l, const char *stream, const char *text, size_t len);
/* One line of appbox's own (stream "appbox"). */
void svclog_printf(struct svclog *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Pure parts (unit-tested). */

/* Microseconds since the epoch, now (CLOCK_REALTIME). */
int64_t svclog_now(void);
/* USEC as "2026-11-29T07:40:01.123456Z" into BUF (SVCLOG_TIME_LEN). */
void svclog_format_time(int64_t usec, char buf[SVCLOG_TIME_LEN]);
/* A time for --since: RFC3339 (2026-11-29T07:40:00Z, with fractions or an
 * offset such as +01:00), relative to NOW (10s, 5m, 2h, 1d: that long
 * ago), or Unix seconds (1764402000, 1764402000.5).  0 or -EINVAL. */
int svclog_parse_time(const char *s, int64_t now, int64_t *usec);

/* Lines out of a stream of bytes, as svclog_write() cuts them. */
struct svclog_framer {
    char buf[SVCLOG_LINE_MAX];
    size_t len;
};
typedef void (*svclog_emit_fn)(void *arg, const char *text, size_t len);
/* Feed N bytes: EMIT gets every complete line (without its newline) and
 * every SVCLOG_LINE_MAX bytes of a longer one. */
void svclog_frame(struct svclog_framer *f, const char *data, size_t n, svclog_emit_fn emit, void *arg);
/* The partial last line, if any (the pipe closed). */
void svclog_frame_flush(struct svclog_framer *f, svclog_emit_fn emit, void *arg);

/* Whether a file of SIZE bytes must be rotated before ADD more are
 * written to it, at MAX (0: never).  An empty file never is: a line
 * longer than MAX still goes in, alone. */
bool svclog_must_rotate(uint64_t size, size_t add, uint64_t max);

/* One stored line (LINE, LEN bytes, without its newline) taken apart:
 * its time, stream word and text.  -EINVAL when it is not one of ours. */
struct svclog_entry {
    int64_t usec;
    const char *stream;
    size_t stream_len;
    const char *text;
    size_t text_len;
};
int svclog_parse_line(const char *line, size_t len, struct svclog_entry *e);
