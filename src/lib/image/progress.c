#include "image/progress.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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
static _Noreturn void reader_main(int in, int log, const char *title, bool verbose, bool tty)
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
                if (tty && progress_line(&st, line, status, sizeof(status)))
                    show(title, status);
            } else {
                line[used++] = c;
            }
        }
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
    _cleanup_close_ int log = open(logpath, O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0600);
    if (log < 0)
        return ab_fail(err, errno, "cannot write the log %s", logpath);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return ab_fail(err, errno, "cannot create a pipe");
    bool tty = !verbose && isatty(STDERR_FILENO);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return ab_fail(err, errno, "cannot start the progress reader");
    }
    if (pid == 0) {
        close(pfd[1]);
        reader_main(pfd[0], log, title, verbose, tty);
    }
    close(pfd[0]);
    p->fd = pfd[1];
    p->reader = pid;
    return 0;
}

void progress_end(struct progress *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    if (p->reader > 0)
        while (waitpid(p->reader, NULL, 0) < 0 && errno == EINTR) {
        }
    p->reader = -1;
}
