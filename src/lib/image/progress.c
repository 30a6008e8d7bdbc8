#include "image/progress.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The first word after PREFIX (a package name), into W. */
static void word_after(const char *s, const char *prefix, char *w, size_t n)
{
    s += strlen(prefix);
    size_t len = strcspn(s, " :\t");
    snprintf(w, n, "%.*s", (int)(len < n ? len : n - 1), s);
}

/* "configuring 3/12: perl", or without a total "configuring perl" */
static void counted(char *out, size_t n, const char *verb, unsigned k, unsigned total, const char *what)
{
    if (total)
        snprintf(out, n, "%s %u/%u: %s", verb, k, total, what);
    else
        snprintf(out, n, "%s %s", verb, what);
}

/* The lines that tell where a bootstrap or an apt-get run stands:
 * mmdebstrap's and debootstrap's "I: ..." steps, apt-get's package count,
 * its "Get:N" downloads and dpkg's "Unpacking"/"Setting up". */
bool progress_line(struct progress_state *st, const char *line, char *out, size_t n)
{
    char w[64];
    unsigned a, b;
    if (starts(line, "I: ")) {
        snprintf(out, n, "%s", line + 3);
        size_t len = strlen(out);
        while (len > 0 && (out[len - 1] == '.' || out[len - 1] == ' '))
            out[--len] = '\0';
        return len > 0;
    }
    if (starts(line, "Reading package lists") || starts(line, "Building dependency tree")) {
        snprintf(out, n, "resolving packages");
        return true;
    }
    if (sscanf(line, "%u upgraded, %u newly installed", &a, &b) == 2) {
        st->total = a + b;
        st->got = st->unpacked = st->configured = 0;
        snprintf(out, n, "%u package(s) to install", st->total);
        return true;
    }
    if (sscanf(line, "Get:%u ", &a) == 1) {
        st->got = a;
        if (st->total)
            snprintf(out, n, "downloading %u/%u packages", a, st->total);
        else
            snprintf(out, n, "fetching package lists (%u)", a);
        return true;
    }
    if (starts(line, "Unpacking ")) {
        word_after(line, "Unpacking ", w, sizeof(w));
        counted(out, n, "unpacking", ++st->unpacked, st->total, w);
        return true;
    }
    if (starts(line, "Setting up ")) {
        word_after(line, "Setting up ", w, sizeof(w));
        counted(out, n, "configuring", ++st->configured, st->total, w);
        return true;
    }
    return false;
}

/* apt-get, mmdebstrap and debootstrap say why they stop on "E: " lines;
 * dpkg names the package it failed on with "dpkg: error ...:" and says why
 * on the next, indented line. */
void progress_why_add(struct progress_why *w, const char *line)
{
    bool more = w->more;
    w->more = false;
    const char *text;
    if (more && line[0] == ' ') {
        text = line + strspn(line, " \t");
    } else if (starts(line, "E: ")) {
        text = line + 3;
        more = false;
    } else if (starts(line, "dpkg: error")) {
        text = line;
        more = false;
    } else {
        return;
    }
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    if (len == 0)
        return;
    if (more) { /* dpkg's reason, after its "...:" */
        char *last = w->line[w->n - 1];
        size_t used = strlen(last);
        snprintf(last + used, sizeof(w->line[0]) - used, " %.*s", (int)len, text);
        return;
    }
    if (w->n >= PROGRESS_WHY_LINES)
        return;
    char *slot = w->line[w->n];
    snprintf(slot, sizeof(w->line[0]), "%.*s", (int)len, text);
    for (unsigned i = 0; i < w->n; i++)
        if (strcmp(w->line[i], slot) == 0)
            return; /* said already */
    w->n++;
    w->more = starts(slot, "dpkg: error") && slot[len - 1] == ':';
}

static bool ends(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A line that only says that a command failed, not why: mmdebstrap's
 * "E: apt-get update ... failed" and "E: mmdebstrap failed to run",
 * apt-get's "E: Sub-process /usr/bin/dpkg returned an error code (1)". */
static bool echo_only(const char *s)
{
    return ends(s, " failed") || ends(s, " failed to run") || starts(s, "Sub-process ");
}

void progress_why_text(const struct progress_why *w, char *out, size_t n)
{
    if (n == 0)
        return;
    out[0] = '\0';
    bool reasons = false;
    for (unsigned i = 0; i < w->n; i++)
        reasons = reasons || !echo_only(w->line[i]);
    size_t o = 0, room = n - 1;   /* room: escaped bytes still free */
    for (unsigned i = 0; i < w->n && i < PROGRESS_WHY_LINES; i++) {
        if (reasons && echo_only(w->line[i]))
            continue;
        if (o > 0) {
            if (room < 2)
                break;
            out[o++] = ';';
            out[o++] = ' ';
            room -= 2;
        }
        for (const unsigned char *c = (const unsigned char *)w->line[i]; *c; c++) {
            size_t cost = *c < 0x20 || *c == 0x7f ? 4 : 1; /* "\xNN" in the message */
            if (cost > room)
                break;
            out[o++] = (char)*c;
            room -= cost;
        }
    }
    out[o] = '\0';
}

static void show(const char *title, const char *status)
{
    struct winsize ws;
    int cols = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 80;
    char buf[512];
    int len = snprintf(buf, sizeof(buf), "appbox: %s: %s", title, status);
    if (len > cols - 1)
        len = cols - 1;
    if (len >= (int)sizeof(buf))
        len = (int)sizeof(buf) - 1;
    dprintf(STDERR_FILENO, "\r\033[K%.*s", len, buf);
}

/* The reader: log every byte, echo it when verbose, and keep the status
 * line on the terminal up to date. */
static _Noreturn void reader_main(int in, int log, const char *title, bool verbose, bool tty,
                                  struct progress_why *why)
{
    /* Ctrl-C stops the tool; the reader stays to log its last words. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    struct progress_state st = { 0 };
    char line[4096], status[256];
    size_t used = 0;
    char buf[8192];
    if (tty)
        show(title, "starting");
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (log >= 0 && write(log, buf, (size_t)r) < 0) {
            /* a full disk: keep the tool going, the status line too */
        }
        if (verbose && write(STDERR_FILENO, buf, (size_t)r) < 0) {
        }
        for (ssize_t i = 0; i < r; i++) {
            char c = buf[i];
            if (c == '\n' || c == '\r' || used == sizeof(line) - 1) {
                line[used] = '\0';
                used = 0;
                progress_why_add(why, line);
                if (tty && progress_line(&st, line, status, sizeof(status)))
                    show(title, status);
            } else {
                line[used++] = c;
            }
        }
    }
    if (used > 0) { /* a last line without its newline */
        line[used] = '\0';
        progress_why_add(why, line);
    }
    if (tty)
        dprintf(STDERR_FILENO, "\r\033[K");
    _exit(0);
}

int progress_start(struct progress *p, const char *title, const char *logpath, bool truncate, bool verbose,
                   ab_error *err)
{
    p->fd = -1;
    p->reader = -1;
    p->why = NULL;
    _cleanup_close_ int log = open(logpath, O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0600);
    if (log < 0)
        return ab_fail(err, errno, "cannot write the log %s", logpath);
    /* the reader fills it, the caller reads it once the reader is gone */
    void *why = mmap(NULL, sizeof(*p->why), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (why == MAP_FAILED)
        return ab_fail(err, errno, "cannot start the progress reader");
    p->why = why;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        int e = errno;
        progress_end(p, NULL, 0);
        return ab_fail(err, e, "cannot create a pipe");
    }
    bool tty = !verbose && isatty(STDERR_FILENO);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(pfd[0]);
        close(pfd[1]);
        progress_end(p, NULL, 0);
        return ab_fail(err, e, "cannot start the progress reader");
    }
    if (pid == 0) {
        close(pfd[1]);
        reader_main(pfd[0], log, title, verbose, tty, p->why);
    }
    close(pfd[0]);
    p->fd = pfd[1];
    p->reader = pid;
    return 0;
}

void progress_end(struct progress *p, char *why, size_t n)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    if (p->reader > 0)
        while (waitpid(p->reader, NULL, 0) < 0 && errno == EINTR) {
        }
    p->reader = -1;
    if (why && n)
        why[0] = '\0';
    if (p->why) {
        if (why)
            progress_why_text(p->why, why, n);
        munmap(p->why, sizeof(*p->why));
    }
    p->why = NULL;
}
