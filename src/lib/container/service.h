/* A named container's service: the Run= command that `start` runs in the
 * background, inside the running container exactly as a session runs a
 * command (sandbox_join(): the same user, environment, capabilities,
 * seccomp), with stdin /dev/null and stdout and stderr into the service
 * log (svclog.h).
 *
 * The supervisor forks a monitor for it (service_start()), its child, that
 * dies with it.  The monitor runs the command, logs its output and its
 * exits, restarts it as the restart policy says (with a backoff of 100 ms
 * doubling to 30 s, back to 100 ms after 10 s of running), and keeps the
 * service's state in NAME's runtime dir (service.state, written whole).
 * A TERM to the monitor stops the service: TERM to the command, no
 * restart; the monitor exits when the command has. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "context.h"
#include "runtime/sandbox.h"
#include "spec/spec.h"
#include "util/error.h"

#define SERVICE_STATE "service.state"

/* The backoff before restart N+1, after one of N (ms), with RAN_MS how
 * long the last run lasted and PREV the backoff used last time (0: none
 * yet). */
long service_backoff(long prev, int64_t ran_ms);

struct service {
    pid_t pid;   /* the monitor; -1: none */
    int pidfd;
};

/* Start the monitor of S's service (S->process.argv, resolved spec) in
 * the container of namespaces NS.  SVC->pid stays -1 when S has no
 * command. */
int service_start(struct service *svc, struct ab_ctx *ctx, const char *name, const struct spec *s,
                  const struct ns_fds *ns, ab_error *err);
/* Stop it (TERM to the monitor) and wait for it at most TIMEOUT_MS (then
 * KILL; the command then dies with the container); returns the
 * milliseconds waited.  A no-op when there is none. */
long service_stop(struct service *svc, long timeout_ms);
/* The monitor exited by itself (its pidfd became readable): reap it. */
void service_reap(struct service *svc);

/* TERM, INT and HUP blocked, and a signalfd (close-on-exec) for them: how
 * the supervisor and the monitor learn of a stop. */
int service_stop_signals(void);

/* The service's state, as service.state keeps it. */
struct service_status {
    char state[16];      /* starting, running, restarting, exited, stopping, stopped */
    pid_t pid;           /* the command's host pid while it runs; 0 */
    int64_t since;       /* when this state began (usec since the epoch) */
    int restarts;
    int last_status;     /* the last run's exit status (128+N: signal N); -1: none yet */
    char restart[16];    /* the policy */
};
/* NAME's service state; -ENOENT when its container runs no service. */
int service_read_status(struct ab_ctx *ctx, const char *name, struct service_status *st);
/* "exited with status 1", "killed by signal 9" for STATUS. */
const char *service_describe_status(int status, char *buf, size_t n);
/* The text of service.state for ST, and back (unit-tested). */
int service_format_status(const struct service_status *st, char *buf, size_t n);
int service_parse_status(const char *text, struct service_status *st);
