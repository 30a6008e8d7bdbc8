#include "runtime/pty.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "util/cleanup.h"

int pty_open_controlling(const struct winsize *ws, ab_error *err)
{
    _cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return ab_fail(err, errno, "cannot open /dev/ptmx in the container");
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        return ab_fail(err, errno, "cannot unlock the container's pty");
    /* TIOCGPTPEER opens the peer through the master: no path lookup. */
    _cleanup_close_ int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0)
        return ab_fail(err, errno, "cannot open the container's pty");
    if (ws && ws->ws_row)
        ioctl(slave, TIOCSWINSZ, ws);
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        return ab_fail(err, errno, "cannot make the pty the controlling terminal");
    for (int i = 0; i < 3; i++)
        if (dup2(slave, i) < 0)
            return ab_fail(err, errno, "cannot attach the pty to fd %d", i);
    return take_fd(&master);
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                poll(&p, 1, -1);
                continue;
            }
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Copy what is readable now; returns bytes copied, 0 at EOF/EIO, -1 on EAGAIN. */
static ssize_t pump(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n < 0)
        return (errno == EAGAIN || errno == EINTR) ? -1 : 0;
    if (n > 0 && write_all(to, buf, (size_t)n) < 0)
        return 0;
    return n;
}

/* The signals a relay handles (the command's exit, a resize, and those it
 * forwards) as a signalfd, with them blocked; OLD gets the mask before. */
static int relay_signalfd(sigset_t *old, ab_error *err)
{
    sigset_t set;
    sigemptyset(&set);
    static const int sigs[] = { SIGCHLD, SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, old);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        int e = errno;
        sigprocmask(SIG_SETMASK, old, NULL);
        return ab_fail(err, e, "cannot create a signalfd");
    }
    return sfd;
}

int pty_relay(int master, pid_t pid, int *wstatus, ab_error *err)
{
    sigset_t old;
    _cleanup_close_ int sfd = relay_signalfd(&old, err);
    if (sfd < 0)
        return sfd;

    struct termios saved, raw;
    bool have_tty = tcgetattr(STDIN_FILENO, &saved) == 0;
    if (have_tty) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    int mflags = fcntl(master, F_GETFL);
    fcntl(master, F_SETFL, mflags | O_NONBLOCK);

    bool in_open = true, out_open = true, exited = false;
    while (!exited || out_open) {
        struct pollfd p[3] = {
            { .fd = sfd, .events = POLLIN },
            { .fd = out_open ? master : -1, .events = POLLIN },
            { .fd = in_open && !exited ? STDIN_FILENO : -1, .events = POLLIN },
        };
        if (exited) {
            /* The command is gone: take what is left in the pty, then stop. */
            while (pump(master, STDOUT_FILENO) > 0)
                ;
            break;
        }
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (pump(master, STDOUT_FILENO) == 0)
                out_open = false;
        }
        if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (pump(STDIN_FILENO, master) == 0)
                in_open = false;
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                int sig = (int)si.ssi_signo;
                if (sig == SIGCHLD) {
                    pid_t w = waitpid(pid, wstatus, WNOHANG);
                    if (w == pid)
                        exited = true;
                } else if (sig == SIGWINCH) {
                    struct winsize ws;
                    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
                        ioctl(master, TIOCSWINSZ, &ws);
                } else {
                    kill(pid, sig);
                }
            }
        }
        if (!out_open && !exited) {
            /* The pty is closed; wait for the command without spinning. */
            while (waitpid(pid, wstatus, 0) < 0 && errno == EINTR)
                ;
            exited = true;
            out_open = false;
        }
    }
    if (have_tty)
        tcsetattr(STDIN_FILENO, TCSADRAIN, &saved);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return 0;
}

static void close_unique(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fds[i] < 0)
            continue;
        int fd = fds[i];
        for (size_t j = i; j < n; j++)
            if (fds[j] == fd)
                fds[j] = -1;
        close(fd);
    }
}

int stdio_pipes_open(struct stdio_pipes *sp, bool pty, ab_error *err)
{
    memset(&sp->ws, 0, sizeof(sp->ws));
    sp->pty = pty;
    for (int i = 0; i < 3; i++)
        sp->child[i] = sp->parent[i] = -1;
    if (pty) {
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &sp->ws) < 0)
            memset(&sp->ws, 0, sizeof(sp->ws));
        int null = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (null < 0)
            return ab_fail(err, errno, "cannot open /dev/null");
        for (int i = 0; i < 3; i++)
            sp->child[i] = null;
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        if (!isatty(i))
            continue;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
            stdio_pipes_close(sp);
            return ab_fail(err, errno, "cannot create a pipe for fd %d", i);
        }
        sp->child[i] = i == 0 ? p[0] : p[1];
        sp->parent[i] = i == 0 ? p[1] : p[0];
    }
    return 0;
}

void stdio_pipes_child(const struct stdio_pipes *sp)
{
    for (int i = 0; i < 3; i++)
        if (sp->child[i] >= 0 && dup2(sp->child[i], i) < 0)
            _exit(125);
    /* Every end above 2 goes; the ones dup'ed onto 0-2 stay there. */
    for (int i = 0; i < 3; i++) {
        if (sp->child[i] > 2)
            close(sp->child[i]);
        if (sp->parent[i] > 2)
            close(sp->parent[i]);
    }
}

void stdio_pipes_close_child(struct stdio_pipes *sp)
{
    close_unique(sp->child, 3);
}

void stdio_pipes_close(struct stdio_pipes *sp)
{
    close_unique(sp->child, 3);
    close_unique(sp->parent, 3);
}

bool stdio_pipes_relayed(const struct stdio_pipes *sp)
{
    return sp->parent[0] >= 0 || sp->parent[1] >= 0 || sp->parent[2] >= 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int stdio_relay(struct stdio_pipes *sp, pid_t pid, int *wstatus, ab_error *err)
{
    sigset_t old;
    _cleanup_close_ int sfd = relay_signalfd(&old, err);
    if (sfd < 0)
        return sfd;
    /* A command that closes its stdin must not kill appbox with SIGPIPE. */
    struct sigaction ign = { .sa_handler = SIG_IGN }, oldpipe;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &oldpipe);
    for (int i = 0; i < 3; i++)
        if (sp->parent[i] >= 0)
            fcntl(sp->parent[i], F_SETFL, fcntl(sp->parent[i], F_GETFL) | O_NONBLOCK);

    char inbuf[16384];
    size_t inlen = 0, inoff = 0;
    /* It may have gone before SIGCHLD was blocked (its signal then lost). */
    bool exited = waitpid(pid, wstatus, WNOHANG) == pid;
    while (!exited) {
        struct pollfd p[5] = {
            { .fd = sfd, .events = POLLIN },
            { .fd = sp->parent[0] >= 0 && inlen == 0 ? STDIN_FILENO : -1, .events = POLLIN },
            { .fd = sp->parent[0] >= 0 && inlen > 0 ? sp->parent[0] : -1, .events = POLLOUT },
            { .fd = sp->parent[1], .events = POLLIN },
            { .fd = sp->parent[2], .events = POLLIN },
        };
        if (poll(p, 5, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(STDIN_FILENO, inbuf, sizeof(inbuf));
            if (n > 0) {
                inlen = (size_t)n;
                inoff = 0;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                close_fd(&sp->parent[0]); /* end of input: the command sees it too */
            }
        }
        if (p[2].revents & (POLLOUT | POLLHUP | POLLERR)) {
            ssize_t n = write(sp->parent[0], inbuf + inoff, inlen - inoff);
            if (n > 0) {
                inoff += (size_t)n;
                if (inoff == inlen)
                    inlen = inoff = 0;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                close_fd(&sp->parent[0]); /* the command closed its stdin */
                inlen = inoff = 0;
            }
        }
        for (int i = 1; i < 3; i++)
            if (p[2 + i].revents & (POLLIN | POLLHUP | POLLERR))
                if (pump(sp->parent[i], i) == 0)
                    close_fd(&sp->parent[i]);
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                int sig = (int)si.ssi_signo;
                if (sig != SIGCHLD)
                    kill(pid, sig);
                else if (waitpid(pid, wstatus, WNOHANG) == pid)
                    exited = true;
            }
        }
    }
    if (!exited)
        while (waitpid(pid, wstatus, 0) < 0 && errno == EINTR)
            ;
    /* What the command wrote before it went. */
    for (int i = 1; i < 3; i++)
        while (sp->parent[i] >= 0 && pump(sp->parent[i], i) > 0)
            ;
    close_unique(sp->parent, 3);
    sigaction(SIGPIPE, &oldpipe, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return 0;
}
