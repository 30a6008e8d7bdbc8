/* --network proxy: the container has only lo; every TCP connection it
 * opens to an address off its loopback is redirected (nftables in its
 * network namespace) to appbox's relay, which connects from the host side
 * only to what --allow permits, and its DNS (NET_DNS_ADDR) answers only
 * the allowed names.  UDP other than DNS goes nowhere: nothing carries it.
 * The same helper is the DNS server of nat and macvlan containers whose
 * network.dns is NET_DNS_ADDR (every name forwarded; the container's own
 * name and its network's hosts file answered).
 *
 *   resolve      network.dns = NET_DNS_ADDR; network.dir (a named
 *                container: its runtime dir's "network", for the log)
 *   host_setup   the helper "appbox-proxy" (proxyd.c): a fork of the
 *                runner, on the host side; it makes its sockets and the
 *                redirect in the container's namespace through a socket
 *                factory, and says when it serves (or why it cannot)
 *   teardown     the helper is the runner's: stopped with the others; the
 *                redirect, the route and the sockets go with the
 *                container's network namespace */
#include "net/net.h"
#include "net/nsfactory.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/proxy.h"
#include "net/proxyd.h"
#include "util/cleanup.h"

#define READY_TIMEOUT_MS 10000
#define RESOLV_CONF "/etc/resolv.conf"

int proxy_log_dir(struct ab_ctx *ctx, const char *name, bool make, char **path, ab_error *err)
{
    int rfd = make ? ab_ctx_runtime_fd(ctx, err) : ab_ctx_runtime_fd_existing(ctx, err);
    if (rfd < 0)
        return rfd;
    _cleanup_close_ int parent = openat(rfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (parent < 0)
        return make ? ab_fail(err, errno, "--network proxy: cannot open %s's runtime directory", name) : -errno;
    if (make && mkdirat(parent, PROXY_DIR, 0700) < 0 && errno != EEXIST)
        return ab_fail(err, errno, "--network proxy: cannot make %s/%s/" PROXY_DIR, ctx->runtime_dir, name);
    int fd = openat(parent, PROXY_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return make ? ab_fail(err, errno, "--network proxy: cannot open %s/%s/" PROXY_DIR, ctx->runtime_dir, name)
                    : -errno;
    if (path && asprintf(path, "%s/%s/" PROXY_DIR, ctx->runtime_dir, name) < 0) {
        close(fd);
        return ab_fail(err, ENOMEM, "--network proxy");
    }
    return fd;
}

void proxy_log_remove(struct ab_ctx *ctx, const char *name)
{
    ab_error err = { 0 };
    int fd = proxy_log_dir(ctx, name, false, NULL, &err);
    if (fd < 0)
        return;
    unlinkat(fd, PROXYD_LOG, 0);
    unlinkat(fd, PROXYD_LOG ".1", 0);
    close(fd);
    int rfd = ab_ctx_runtime_fd_existing(ctx, &err);
    _cleanup_close_ int parent = rfd < 0 ? -1 : openat(rfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (parent >= 0)
        unlinkat(parent, PROXY_DIR, AT_REMOVEDIR);
}

int proxy_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    struct spec_network *n = &s->container.network;
    /* the rules as the options stored them: read back once here, so that a
     * bad one (from an edited spec) stops the start before anything runs */
    for (size_t i = 0; i < n->allow.n; i++) {
        struct net_allow a;
        if (net_parse_allow("--allow", n->allow.v[i], &a, err) < 0)
            return -EINVAL;
    }
    char *dns = strdup(NET_DNS_ADDR);
    if (!dns)
        return ab_fail(err, ENOMEM, "--network proxy");
    free(n->dns);
    n->dns = dns;
    if (name && !n->dir) {
        char *path = NULL;
        int fd = proxy_log_dir(ctx, name, true, &path, err);
        if (fd < 0)
            return fd;
        close(fd);
        n->dir = path;
    }
    return 0;
}

/* The container's address without its prefix ("10.89.0.5/24"). */
static struct in_addr own_addr(const char *addr)
{
    struct in_addr a = { 0 };
    char buf[64];
    if (addr) {
        snprintf(buf, sizeof(buf), "%s", addr);
        buf[strcspn(buf, "/")] = 0;
        inet_pton(AF_INET, buf, &a);
    }
    return a;
}

static int proxy_host_setup(struct runner *r, ab_error *err)
{
    const struct spec_container *c = &r->spec->container;
    bool relay = c->net == NET_PROXY;
    bool dns = c->network.dns && strcmp(c->network.dns, NET_DNS_ADDR) == 0 && c->net != NET_HOST;
    if (!relay && !dns)
        return 0;
    const char *what = relay ? "--network proxy" : "appbox's DNS server";
    _cleanup_free_ struct net_allow *rules = calloc(c->network.allow.n + 1, sizeof(*rules));
    if (!rules)
        return ab_fail(err, ENOMEM, "%s", what);
    for (size_t i = 0; i < c->network.allow.n; i++)
        if (net_parse_allow("--allow", c->network.allow.v[i], &rules[i], err) < 0)
            return -EINVAL;
    struct proxyd_config cfg = {
        .relay = relay,
        .allow = rules,
        .n_allow = c->network.allow.n,
        .own_name = c->hostname,
        .own_addr = own_addr(c->network.addr),
        .hosts = c->network.hosts,
        .log_dir = -1,
        .log_stderr = relay && !r->name,
    };
    cfg.n_upstream = proxyd_read_resolvers(RESOLV_CONF, cfg.upstream, PROXYD_MAX_UPSTREAM);

    _cleanup_close_ int ufd = -1, nfd = -1;
    if (ns_open_container(r->child, &ufd, &nfd, err) < 0)
        return ab_error_prefix(err, "%s", what);
    _cleanup_close_ int logdir = -1;
    if (relay && r->name && r->ctx && (logdir = proxy_log_dir(r->ctx, r->name, true, NULL, err)) < 0)
        return logdir;
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0)
        return ab_fail(err, errno, "%s: cannot start its helper", what);
    _cleanup_close_ int ready_r = ready[0];
    _cleanup_close_ int ready_w = ready[1];
    /* a sandbox's refused lines go to its stderr: the helper's fd 2 */
    _cleanup_close_ int errfd = cfg.log_stderr ? fcntl(2, F_DUPFD_CLOEXEC, 3) : -1;
    struct helper_opts o = HELPER_OPTS_INIT;
    o.stderr_fd = errfd;
    int keep[] = { ufd, nfd, ready_w, logdir };
    pid_t pid = runner_fork_helper(r, "appbox-proxy", &o, keep, logdir >= 0 ? 4 : 3, err);
    if (pid < 0)
        return ab_error_prefix(err, "%s: cannot start its helper", what);
    if (pid == 0) {
        cfg.log_dir = logdir >= 0 ? 6 : -1;
        proxyd_run(&cfg, 3, 4, 5);
    }
    close(ready_w);
    ready_w = -1;
    /* one byte 0 when it serves; else its reason, and it exits */
    char msg[600];
    struct pollfd pf = { .fd = ready_r, .events = POLLIN };
    int p = poll(&pf, 1, READY_TIMEOUT_MS);
    ssize_t got = p == 1 ? read(ready_r, msg, sizeof(msg) - 1) : -1;
    if (got == 1 && msg[0] == 0)
        return 0;
    if (got > 0) {
        msg[got] = 0;
        return ab_fail(err, 0, "%s: %s", what, msg);
    }
    return ab_fail(err, p == 0 ? ETIMEDOUT : 0, "%s: its helper %s", what,
                   p == 0 ? "did not start in time" : "ended before it served");
}

const struct module proxy_module = {
    .name = "proxy",
    .host_setup = proxy_host_setup,
};
