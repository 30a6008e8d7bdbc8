#include "runtime/init.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

void init_forwarded_signals(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
        sigaddset(set, forwarded[i]);
}

void init_block_signals(sigset_t *old)
{
    sigset_t set;
    init_forwarded_signals(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, old);
}

void init_child_reset(const sigset_t *old)
{
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
        signal(forwarded[i], SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigprocmask(SIG_SETMASK, old, NULL);
}

static int status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 125;
}

int init_loop(pid_t main_pid)
{
    sigset_t set;
    init_forwarded_signals(&set);
    sigaddset(&set, SIGCHLD);
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&set, &info);
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            return 125;
        }
        if (sig != SIGCHLD) {
            kill(main_pid, sig);
            continue;
        }
        /* Reap everything: orphans re-parented to us, and the command. */
        for (;;) {
            int status;
            pid_t p = waitpid(-1, &status, WNOHANG);
            if (p <= 0)
                break;
            if (p == main_pid)
                return status_code(status);
        }
    }
}

/* Whether any process but us is left in our PID namespace.  Sessions'
 * commands are not our children (their parents wait outside), so waitpid
 * cannot tell; our own /proc can. */
static bool others_alive(void)
{
    DIR *d = opendir("/proc");
    if (!d)
        return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        found = *end == '\0' && pid > 1;
    }
    closedir(d);
    return found;
}

int init_service_loop(void)
{
    sigset_t set;
    init_forwarded_signals(&set);
    sigaddset(&set, SIGCHLD);
    bool stopping = false;
    for (;;) {
        siginfo_t info;
        struct timespec tick = { .tv_sec = 0, .tv_nsec = 20 * 1000 * 1000 };
        int sig = stopping ? sigtimedwait(&set, &info, &tick) : sigwaitinfo(&set, &info);
        if (sig < 0 && errno != EAGAIN && errno != EINTR)
            return 125;
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            stopping = true;
            kill(-1, SIGTERM); /* everyone in our PID namespace but us */
        }
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        /* The supervisor sends KILL when its timeout is over. */
        if (stopping && !others_alive())
            return 0;
    }
}
