#include "util/interrupt.h"

#include <signal.h>
#include <stddef.h>

static volatile sig_atomic_t caught;
static volatile pid_t child;

static void on_signal(int sig)
{
    caught = sig;
    if (child > 0)
        kill(child, sig);
}

void interrupt_catch(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

void interrupt_child(pid_t pid)
{
    child = pid;
}

int interrupted(void)
{
    return caught;
}
