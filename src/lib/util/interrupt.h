/* Ctrl-C (or SIGTERM/SIGHUP) during a long step, such as create's
 * bootstrap: appbox must not die before it has removed what it half-made.
 * interrupt_catch() turns those signals into a flag (and passes them on to
 * the tool running at the time), so the step fails and the caller cleans
 * up; interrupted() tells the caller why. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

void interrupt_catch(void);
/* The tool that runs now (0: none): it gets the signals passed on. */
void interrupt_child(pid_t pid);
/* The signal caught, or 0. */
int interrupted(void);
