/* A user's named network: membership, addresses and hosts files (see
 * usernet.h); the TCP relay is the port helper's (ports_helper.c). */
#include "net/usernet.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container/state.h"
#include "net/net.h"
#include "spec/defaults.h"
#include "util/cleanup.h"

#define MAX_MEMBERS 256
/* 127.77.X.Y with Y in 1..254: never an address that reads like a
 * network's or a broadcast one */
#define N_ADDRS (256u * 254u)

struct member {
    char name[72];
    char net[72];
    struct in_addr addr;
};

const char *usernet_name(const struct spec *s)
{
    const struct spec_container *c = &s->container;
    if (c->net != NET_NAT || !c->network.name)
        return NULL;
    if (c->network.backend != NET_BACKEND_PASTA && c->network.backend != NET_BACKEND_SLIRP4NETNS)
        return NULL;
    return c->network.name;
}

int usernet_resolve(struct ab_ctx *ctx, struct spec *s, const char *name, ab_error *err)
{
    struct spec_network *n = &s->container.network;
    if (!name || !ctx)
        return ab_usage(err, "--network nat:%s as a user: only a named container can be a member of a named "
                             "network (appbox create NAME --network nat:%s ...); a sandbox can use --network nat",
                        n->name, n->name);
    if (n->hosts)
        return 0; /* resolved already */
    if (asprintf(&n->hosts, "%s/%s/" USERNET_HOSTS, ctx->runtime_dir, name) < 0) {
        n->hosts = NULL;
        return ab_fail(err, ENOMEM, "--network nat:%s", n->name);
    }
    return 0;
}

static struct in_addr index_addr(uint32_t i)
{
    struct in_addr a = { htonl((127u << 24) | (77u << 16) | ((i / 254u) << 8) | (i % 254u + 1u)) };
    return a;
}

static uint32_t name_index(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % N_ADDRS;
}

/* NAME's file, into M; false when it has none (or a bad one). */
static bool read_member(int rfd, const char *name, struct member *m)
{
    char path[128];
    if (snprintf(path, sizeof(path), "%s/" USERNET_FILE, name) >= (int)sizeof(path))
        return false;
    _cleanup_close_ int fd = openat(rfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    char buf[200], net[72], addr[INET_ADDRSTRLEN];
    ssize_t got = read(fd, buf, sizeof(buf) - 1);
    if (got <= 0)
        return false;
    buf[got] = 0;
    if (sscanf(buf, "%71s %15s", net, addr) != 2 || inet_pton(AF_INET, addr, &m->addr) != 1)
        return false;
    snprintf(m->name, sizeof(m->name), "%s", name);
    snprintf(m->net, sizeof(m->net), "%s", net);
    return true;
}

/* Every running member of every network of the user's (their files),
 * SKIP left out; the count. */
static size_t list_members(struct ab_ctx *ctx, int rfd, const char *skip, struct member *out, size_t max)
{
    int dfd = openat(rfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return 0;
    }
    size_t n = 0;
    struct dirent *e;
    while (n < max && (e = readdir(d))) {
        if (e->d_name[0] == '.' || (skip && strcmp(e->d_name, skip) == 0))
            continue;
        if (read_member(rfd, e->d_name, &out[n]) && state_running(ctx, e->d_name))
            n++;
    }
    closedir(d);
    return n;
}

/* Rewrite FILE of NAME's runtime directory in place (the same inode: it
 * is bound read-only into the container), creating it when CREATE. */
static int rewrite(int rfd, const char *name, const char *file, const char *text, bool create)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", name, file);
    _cleanup_close_ int fd = openat(rfd, path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text);
    if (pwrite(fd, text, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)len) < 0)
        return -errno;
    return 0;
}

/* SELF's /etc/hosts: localhost, itself, its network's other members. */
static int write_hosts(int rfd, const struct member *self, const char *own_line, const struct member *all, size_t n,
                       bool create)
{
    size_t cap = 256 + strlen(own_line) + n * 96, len = 0;
    _cleanup_free_ char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    len += (size_t)snprintf(buf + len, cap - len, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s",
                            own_line);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i].net, self->net) || strcmp(all[i].name, self->name) == 0)
            continue;
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &all[i].addr, a, sizeof(a));
        len += (size_t)snprintf(buf + len, cap - len, "%s\t%s\n", a, all[i].name);
    }
    return rewrite(rfd, self->name, USERNET_HOSTS, buf, create);
}

/* A member's own line: its host name at its address (pasta's), as the
 * file of a container without a named network has it.  Peers' files do
 * not know it: their own line is kept (the first lines after localhost). */
static void own_line(const struct spec *s, char *buf, size_t n)
{
    const struct spec_container *c = &s->container;
    const char *addr = c->network.addr;
    int len = addr ? (int)strcspn(addr, "/") : 9;
    snprintf(buf, n, "%.*s\t%s\n", len, addr ? addr : "127.0.1.1", c->hostname ? c->hostname : SPEC_DEFAULT_HOSTNAME);
}

/* The own line of member NAME's current hosts file (its third line). */
static void peer_own_line(int rfd, const char *name, char *buf, size_t n)
{
    char path[160], text[4096];
    snprintf(buf, n, "127.0.1.1\t%s\n", name);
    snprintf(path, sizeof(path), "%s/" USERNET_HOSTS, name);
    _cleanup_close_ int fd = openat(rfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    ssize_t got = fd < 0 ? -1 : read(fd, text, sizeof(text) - 1);
    if (got <= 0)
        return;
    text[got] = 0;
    char *line = text;
    for (int i = 0; i < 2 && line; i++)
        if ((line = strchr(line, '\n')))
            line++;
    if (!line || !*line)
        return;
    size_t len = strcspn(line, "\n");
    if (len + 2 <= n)
        snprintf(buf, n, "%.*s\n", (int)len, line);
}

/* Every member of NET but SKIP: its hosts file from ALL. */
static void refresh_peers(int rfd, const char *net, const char *skip, const struct member *all, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i].net, net) || (skip && strcmp(all[i].name, skip) == 0))
            continue;
        char own[200];
        peer_own_line(rfd, all[i].name, own, sizeof(own));
        write_hosts(rfd, &all[i], own, all, n, false);
    }
}

/* The user's lock on every named network's files.  The last member to
 * leave removes the file: a locker that finds its file removed (or
 * replaced) meanwhile takes the new one. */
static int lock_open(int rfd)
{
    for (;;) {
        int fd = openat(rfd, USERNET_LOCK, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return -errno;
        int r = state_lock(fd, LOCK_EX);
        if (r < 0) {
            close(fd);
            return r;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && fstatat(rfd, USERNET_LOCK, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            return fd;
        close(fd);
    }
}

int usernet_join(struct ab_ctx *ctx, const struct spec *s, const char *name, ab_error *err)
{
    const char *net = usernet_name(s);
    if (!net || !name || !ctx)
        return 0;
    int rfd = ab_ctx_runtime_fd(ctx, err);
    if (rfd < 0)
        return rfd;
    _cleanup_close_ int lock = lock_open(rfd);
    if (lock < 0)
        return ab_fail(err, -lock, "--network nat:%s: cannot lock %s/" USERNET_LOCK, net, ctx->runtime_dir);
    static struct member all[MAX_MEMBERS + 1];
    size_t n = list_members(ctx, rfd, name, all, MAX_MEMBERS);
    /* its address: the hash's, or the next that no running member has */
    uint32_t i = name_index(name);
    for (uint32_t tries = 0; tries < N_ADDRS; tries++, i = (i + 1) % N_ADDRS) {
        bool taken = false;
        for (size_t k = 0; k < n && !taken; k++)
            taken = all[k].addr.s_addr == index_addr(i).s_addr;
        if (!taken)
            break;
    }
    struct member *self = &all[n++];
    snprintf(self->name, sizeof(self->name), "%s", name);
    snprintf(self->net, sizeof(self->net), "%s", net);
    self->addr = index_addr(i);
    char a[INET_ADDRSTRLEN], line[160], own[200];
    inet_ntop(AF_INET, &self->addr, a, sizeof(a));
    snprintf(line, sizeof(line), "%s %s\n", net, a);
    own_line(s, own, sizeof(own));
    int r = write_hosts(rfd, self, own, all, n, true);
    if (r == 0)
        r = rewrite(rfd, name, USERNET_FILE, line, true);
    if (r < 0) {
        char path[160];
        snprintf(path, sizeof(path), "%s/" USERNET_HOSTS, name);
        unlinkat(rfd, path, 0);
        return ab_fail(err, -r, "--network nat:%s: cannot write %s/%s/" USERNET_FILE, net, ctx->runtime_dir, name);
    }
    refresh_peers(rfd, net, name, all, n);
    return 0;
}

void usernet_leave(struct ab_ctx *ctx, const struct spec *s, const char *name)
{
    const char *net = usernet_name(s);
    if (!net || !name || !ctx)
        return;
    ab_error err;
    int rfd = ab_ctx_runtime_fd_existing(ctx, &err);
    if (rfd < 0)
        return;
    _cleanup_close_ int lock = lock_open(rfd);
    char path[160];
    snprintf(path, sizeof(path), "%s/" USERNET_FILE, name);
    unlinkat(rfd, path, 0);
    snprintf(path, sizeof(path), "%s/" USERNET_HOSTS, name);
    unlinkat(rfd, path, 0);
    static struct member all[MAX_MEMBERS];
    size_t n = list_members(ctx, rfd, name, all, MAX_MEMBERS);
    refresh_peers(rfd, net, name, all, n);
    /* the lock file stays while any member of any network is left */
    if (n == 0)
        unlinkat(rfd, USERNET_LOCK, 0);
}

bool usernet_lookup(struct ab_ctx *ctx, const char *net, struct in_addr addr, char *peer, size_t n)
{
    int rfd = ctx ? ctx->runtime_fd : -1;
    if (rfd < 0)
        return false;
    static struct member all[MAX_MEMBERS];
    size_t count = list_members(ctx, rfd, NULL, all, MAX_MEMBERS);
    for (size_t i = 0; i < count; i++)
        if (all[i].addr.s_addr == addr.s_addr && strcmp(all[i].net, net) == 0) {
            snprintf(peer, n, "%s", all[i].name);
            return true;
        }
    return false;
}

static int usernet_host_setup(struct runner *r, ab_error *err)
{
    return usernet_join(r->ctx, r->spec, r->name, err);
}

static void usernet_teardown(struct runner *r)
{
    usernet_leave(r->ctx, r->spec, r->name);
}

const struct module usernet_module = {
    .name = "usernet",
    .host_setup = usernet_host_setup,
    .teardown = usernet_teardown,
};
