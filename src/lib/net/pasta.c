/* NET_PASTA: a network namespace of the container's own, connected to the
 * outside by pasta (package passt), user-mode networking: pasta runs on
 * the host side as a helper of the runner, opens ordinary sockets in the
 * host's network namespace for the container's connections, and answers
 * the container's tap interface.  Used for apt runs (apt.c): the image's
 * own apt-get reaches the mirror, and neither the host's loopback (its
 * services on 127.0.0.1, through the gateway address or a port mapping)
 * nor its abstract unix sockets (which belong to the network namespace).
 *
 *   host_setup   pasta -f --config-net --netns (the child's), started
 *                inside the container's user namespace (so that it has
 *                rights over the container's network namespace, from
 *                there, and none it does not need), then wait until the
 *                interface has its default route
 *   before_pivot lo up (net.c)
 *   mounts       /etc/resolv.conf: a file of ours naming NET_PASTA_DNS,
 *                which pasta forwards to the host's first resolver
 *   teardown     pasta is a runner helper: stopped with the others, and
 *                dead with the runner (PR_SET_PDEATHSIG) */
#include "net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/clock.h"

/* A fixed path, as for newuidmap: never a PATH lookup for a tool that a
 * root caller runs. */
#define PASTA "/usr/bin/pasta"
#define READY_TIMEOUT_MS 10000

/* Whether the network namespace of PID has an IPv4 default route (pasta's
 * --config-net adds it last, after the address). */
static bool has_default_route(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/net/route", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        char ifname[64];
        unsigned long dest, gw, flags;
        if (sscanf(line, "%63s %lx %lx %lx", ifname, &dest, &gw, &flags) == 4 && dest == 0 && (flags & 1))
            found = true;
    }
    fclose(f);
    return found;
}

/* The error for a pasta that failed WHAT: its own last message, and what
 * to do where it is the usual cause. */
__attribute__((format(printf, 3, 4))) static int pasta_failed(int errfd, ab_error *err, const char *what, ...)
{
    char said[1024] = "";
    ssize_t n = pread(errfd, said, sizeof(said) - 1, 0);
    if (n > 0) {
        said[n] = 0;
        while (n > 0 && (said[n - 1] == '\n' || said[n - 1] == ' '))
            said[--n] = 0;
    }
    char *last = strrchr(said, '\n');
    last = last ? last + 1 : said;
    char msg[512];
    va_list ap;
    va_start(ap, what);
    vsnprintf(msg, sizeof(msg), what, ap);
    va_end(ap);
    if (strstr(said, "tun"))
        return ab_fail(err, 0,
                       "pasta %s: %s (the container's root must be able to open /dev/net/tun: "
                       "Debian's udev makes it mode 0666)",
                       msg, last);
    return ab_fail(err, 0, "pasta %s%s%s", msg, *last ? ": " : "", last);
}

static int pasta_host_setup(struct runner *r, ab_error *err)
{
    if (r->spec->container.net != NET_PASTA)
        return 0;
    if (access(PASTA, X_OK) < 0)
        return ab_fail(err, errno, "cannot give the container a network of its own: " PASTA
                       " (package passt) is needed");
    char userns[64], netns[64];
    snprintf(userns, sizeof(userns), "/proc/%d/ns/user", (int)r->child);
    snprintf(netns, sizeof(netns), "/proc/%d/ns/net", (int)r->child);
    _cleanup_close_ int ufd = open(userns, O_RDONLY | O_CLOEXEC);
    if (ufd < 0)
        return ab_fail(err, errno, "cannot open %s", userns);
    _cleanup_close_ int nfd = open(netns, O_RDONLY | O_CLOEXEC);
    if (nfd < 0)
        return ab_fail(err, errno, "cannot open %s", netns);
    /* -f: stays the runner's child (a helper: dies with it);
     * -q: only errors, to the runner's stderr (apt's log);
     * --config-net: address and routes of the tap interface, set by pasta;
     * -t none -u none: no port of the host forwarded in;
     * -T none -U none: no port of the host's loopback reachable from the
     *   container (pasta's default forwards every port bound there);
     * --no-map-gw: the gateway address is the real gateway, not the host;
     * --dns-forward: DNS sent to NET_PASTA_DNS goes to the host's first
     *   resolver (the container's /etc/resolv.conf names that address);
     * --runas 0:0: stays the container's root (pasta would change to
     *   "nobody", unmapped in a single-id map);
     * --netns + --netns-only: the container's network namespace, as fd 3;
     *   pasta is already in its user namespace (helper_opts.userns_fd). */
    char *const argv[] = {
        PASTA, "-f", "-q", "--runas", "0:0", "--config-net", "-t", "none", "-u", "none", "-T", "none", "-U", "none", "--no-map-gw",
        "--dns-forward", NET_PASTA_DNS, "--netns", "/proc/self/fd/3", "--netns-only", NULL,
    };
    /* pasta's errors: into a memfd (a file: pasta never blocks on it, nor
     * dies of a closed pipe once we stop reading), read back on failure */
    _cleanup_close_ int errfd = memfd_create("pasta-stderr", MFD_CLOEXEC);
    if (errfd < 0)
        return ab_fail(err, errno, "cannot start pasta");
    struct helper_opts o = HELPER_OPTS_INIT;
    o.stderr_fd = errfd;
    o.userns_fd = ufd;
    o.pass_fd = nfd;
    int rc = runner_spawn_helper(r, "pasta", argv, &o, err);
    if (rc < 0)
        return rc;
    const struct runner_helper *h = &r->helpers[r->n_helpers - 1];
    long deadline = clock_now_ms() + READY_TIMEOUT_MS;
    for (;;) {
        if (has_default_route(r->child))
            return 0;
        long left = deadline - clock_now_ms();
        if (left <= 0)
            return pasta_failed(errfd, err, "did not set up the container's network in %d seconds",
                                READY_TIMEOUT_MS / 1000);
        if (h->pidfd >= 0) {
            struct pollfd p = { .fd = h->pidfd, .events = POLLIN };
            if (poll(&p, 1, left < 10 ? (int)left : 10) > 0)
                return pasta_failed(errfd, err, "exited before the container's network was up");
        } else {
            usleep(10000);
        }
    }
}

int nat_user_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    return ab_usage(err, "--network nat as a user: not built yet");
}

const struct module pasta_module = {
    .name = "pasta",
    .host_setup = pasta_host_setup,
};
