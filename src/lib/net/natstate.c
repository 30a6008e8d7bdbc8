#include "net/natstate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define STATE_MAGIC "appbox-nat 1"

static int netns_identity(uint64_t *ino, uint64_t *cookie, ab_error *err)
{
    struct stat sb;
    if (stat("/proc/self/ns/net", &sb) < 0)
        return ab_fail(err, errno, "cannot read the network namespace of appbox (/proc/self/ns/net)");
    *ino = (uint64_t)sb.st_ino;
    *cookie = 0;
    _cleanup_close_ int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof(*cookie);
    if (s < 0 || getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len) < 0)
        *cookie = 0;   /* before Linux 5.14: the inode alone */
    return 0;
}

static int mkdir_root(const char *path, ab_error *err)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return ab_fail(err, errno, "cannot create %s", path);
    struct stat sb;
    if (lstat(path, &sb) < 0)
        return ab_fail(err, errno, "cannot read %s", path);
    if (!S_ISDIR(sb.st_mode) || sb.st_uid != 0 || (sb.st_mode & 022))
        return ab_fail(err, 0, "%s is not a directory of root's that only root can write: appbox keeps its "
                       "networks' state there", path);
    return 0;
}

bool natstate_alive(pid_t pid, uint64_t start)
{
    if (pid <= 0)
        return false;
    uint64_t now = natstate_start_time(pid);
    return now != 0 && (start == 0 || now == start);
}

uint64_t natstate_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    /* after the command's closing parenthesis: field 3 onwards */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    /* a zombie is dead: its parent has not reaped it yet (a killed
     * supervisor's, until its parent looks) */
    if (p[0] == ' ' && (p[1] == 'Z' || p[1] == 'X'))
        return 0;
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

static bool word_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (isspace((unsigned char)*s) || !isprint((unsigned char)*s))
            return false;
    return true;
}

static int parse(struct nat_state *st, FILE *f, uint64_t cookie)
{
    char line[512];
    if (!fgets(line, sizeof(line), f) || strncmp(line, STATE_MAGIC, strlen(STATE_MAGIC)) != 0)
        return -EINVAL;
    while (fgets(line, sizeof(line), f)) {
        char a[80], b[80], c[80], d[80];
        unsigned long long u;
        int i1, i2;
        if (sscanf(line, "cookie %llu", &u) == 1) {
            if (u != cookie)
                return -ESTALE;   /* a dead namespace's */
            st->cookie = u;
        } else if (sscanf(line, "ip_forward %d", &i1) == 1) {
            st->ip_forward = i1;
        } else if (sscanf(line, "net %15s %31[0-9.]/%d %71s", a, b, &i1, c) == 4) {
            if (st->n_nets == NATSTATE_MAX_NETS)
                return -E2BIG;
            struct nat_net *n = &st->nets[st->n_nets++];
            snprintf(n->bridge, sizeof(n->bridge), "%.15s", a);
            snprintf(n->name, sizeof(n->name), "%.71s", strcmp(c, "-") == 0 ? "" : c);
            n->prefix = i1;
            if (inet_pton(AF_INET, b, &n->subnet) != 1 || i1 < 8 || i1 > 30)
                return -EINVAL;
        } else if (sscanf(line, "member %15s %15s %31s %d %llu %d %71s", a, b, c, &i1, &u, &i2, d) == 7) {
            if (st->n_members == NATSTATE_MAX_MEMBERS)
                return -E2BIG;
            struct nat_member *m = &st->members[st->n_members++];
            snprintf(m->veth, sizeof(m->veth), "%.15s", a);
            snprintf(m->bridge, sizeof(m->bridge), "%.15s", b);
            snprintf(m->host, sizeof(m->host), "%.71s", d);
            m->owner = i1;
            m->owner_start = u;
            m->pending = i2 != 0;
            if (inet_pton(AF_INET, c, &m->addr) != 1)
                return -EINVAL;
        }
    }
    return 0;
}

/* Remove the files in DIR (a dead namespace's state and host files). */
static void wipe(const char *dir)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_type == DT_REG)
            unlinkat(dirfd(d), e->d_name, 0);
}

int natstate_open(struct nat_state *st, bool create, ab_error *err)
{
    memset(st, 0, sizeof(*st));
    st->lock_fd = -1;
    st->ip_forward = -1;
    uint64_t ino = 0;
    int r = netns_identity(&ino, &st->cookie, err);
    if (r < 0)
        return r;
    snprintf(st->dir, sizeof(st->dir), NATSTATE_ROOT "/%" PRIu64, ino);
    if (create && (r = mkdir_root(NATSTATE_ROOT, err)) < 0)
        return r;
    st->lock_fd = open(NATSTATE_ROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (st->lock_fd < 0) {
        if (errno == ENOENT && !create)
            return 0;
        return ab_fail(err, errno, "cannot open %s", NATSTATE_ROOT);
    }
    while (flock(st->lock_fd, LOCK_EX) < 0)
        if (errno != EINTR)
            return ab_fail(err, errno, "cannot lock %s", NATSTATE_ROOT);
    if (create && (r = mkdir_root(st->dir, err)) < 0)
        return r;
    char path[128];
    snprintf(path, sizeof(path), "%s/state", st->dir);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : ab_fail(err, errno, "cannot read %s", path);
    uint64_t cookie = st->cookie;
    r = parse(st, f, cookie);
    if (r == -ESTALE || r < 0) {
        /* a dead namespace's state (its links went with it), or one we
         * cannot read: start afresh rather than act on it, its files gone */
        wipe(st->dir);
        memset(st->nets, 0, sizeof(st->nets));
        memset(st->members, 0, sizeof(st->members));
        st->n_nets = st->n_members = 0;
        st->ip_forward = -1;
    }
    st->cookie = cookie;
    return 0;
}

void natstate_close(struct nat_state *st)
{
    if (st->lock_fd >= 0)
        close(st->lock_fd);   /* the lock goes with it */
    st->lock_fd = -1;
}

/* Replace PATH's contents in place (same inode: it is bound into
 * containers), creating it when missing. */
static int rewrite_in_place(const char *path, const char *text, ab_error *err)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return ab_fail(err, errno, "cannot write %s", path);
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = pwrite(fd, text + off, len - off, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return ab_fail(err, errno, "cannot write %s", path);
        }
        off += (size_t)w;
    }
    if (ftruncate(fd, (off_t)len) < 0)
        return ab_fail(err, errno, "cannot write %s", path);
    return 0;
}

int natstate_hosts_path(const struct nat_state *st, const char *veth, char *buf, size_t n)
{
    int w = snprintf(buf, n, "%s/%s.hosts", st->dir, veth);
    return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

/* Append "ADDR\tNAME\n" to the buffer. */
static int add_line(char **buf, size_t *len, size_t *cap, const char *line)
{
    size_t l = strlen(line);
    if (*len + l + 1 > *cap) {
        size_t c = (*cap ? *cap * 2 : 1024) + l;
        char *b = realloc(*buf, c);
        if (!b)
            return -ENOMEM;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, line, l + 1);
    *len += l;
    return 0;
}

static int member_line(char **buf, size_t *len, size_t *cap, const struct nat_member *m)
{
    char a[INET_ADDRSTRLEN], line[160];
    inet_ntop(AF_INET, &m->addr, a, sizeof(a));
    snprintf(line, sizeof(line), "%s\t%s\n", a, m->host);
    return add_line(buf, len, cap, line);
}

#define LOCALHOST_LINES "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

/* A named network's member's /etc/hosts: localhost, itself, the others. */
static int write_member_hosts(const struct nat_state *st, const struct nat_member *self, ab_error *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0, cap = 0;
    int r = add_line(&buf, &len, &cap, LOCALHOST_LINES);
    if (r == 0)
        r = member_line(&buf, &len, &cap, self);
    for (size_t i = 0; r == 0 && i < st->n_members; i++) {
        const struct nat_member *m = &st->members[i];
        if (m != self && strcmp(m->bridge, self->bridge) == 0 && strcmp(m->host, self->host) != 0)
            r = member_line(&buf, &len, &cap, m);
    }
    if (r < 0)
        return ab_fail(err, -r, "cannot write the hosts file of %s", self->veth);
    char path[160];
    natstate_hosts_path(st, self->veth, path, sizeof(path));
    return rewrite_in_place(path, buf, err);
}

static int write_state_file(const struct nat_state *st, ab_error *err)
{
    char path[128], tmp[140];
    snprintf(path, sizeof(path), "%s/state", st->dir);
    snprintf(tmp, sizeof(tmp), "%s/.state.tmp", st->dir);
    _cleanup_fclose_ FILE *f = fopen(tmp, "we");
    if (!f)
        return ab_fail(err, errno, "cannot write %s", tmp);
    fprintf(f, STATE_MAGIC "\ncookie %" PRIu64 "\n", st->cookie);
    if (st->ip_forward >= 0)
        fprintf(f, "ip_forward %d\n", st->ip_forward);
    for (size_t i = 0; i < st->n_nets; i++) {
        const struct nat_net *n = &st->nets[i];
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &n->subnet, a, sizeof(a));
        fprintf(f, "net %s %s/%d %s\n", n->bridge, a, n->prefix, n->name[0] ? n->name : "-");
    }
    for (size_t i = 0; i < st->n_members; i++) {
        const struct nat_member *m = &st->members[i];
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &m->addr, a, sizeof(a));
        fprintf(f, "member %s %s %s %d %" PRIu64 " %d %s\n", m->veth, m->bridge, a, (int)m->owner,
                m->owner_start, m->pending ? 1 : 0, word_ok(m->host) ? m->host : "-");
    }
    if (fflush(f) != 0 || ferror(f)) {
        int e = errno;
        unlink(tmp);
        return ab_fail(err, e, "cannot write %s", tmp);
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return ab_fail(err, e, "cannot write %s", path);
    }
    return 0;
}

int natstate_save(struct nat_state *st, ab_error *err)
{
    char path[160];
    if (st->n_nets == 0 && st->n_members == 0) {
        snprintf(path, sizeof(path), "%s/state", st->dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/hosts", st->dir);
        unlink(path);
        rmdir(st->dir);   /* fails while a member's hosts file is left: kept */
        return 0;
    }
    int r = write_state_file(st, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *all = NULL;
    size_t len = 0, cap = 0;
    r = add_line(&all, &len, &cap, "# appbox: its running containers (nat, as root) in this network namespace\n");
    for (size_t i = 0; r == 0 && i < st->n_members; i++)
        r = member_line(&all, &len, &cap, &st->members[i]);
    if (r < 0)
        return ab_fail(err, -r, "cannot write the hosts file of %s", st->dir);
    snprintf(path, sizeof(path), "%s/hosts", st->dir);
    if ((r = rewrite_in_place(path, all, err)) < 0)
        return r;
    for (size_t i = 0; i < st->n_members; i++) {
        const struct nat_net *n = natstate_net_by_bridge(st, st->members[i].bridge);
        if (n && n->name[0] && (r = write_member_hosts(st, &st->members[i], err)) < 0)
            return r;
    }
    return 0;
}

struct nat_net *natstate_net_by_name(struct nat_state *st, const char *name)
{
    for (size_t i = 0; i < st->n_nets; i++)
        if (strcmp(st->nets[i].name, name ? name : "") == 0)
            return &st->nets[i];
    return NULL;
}

struct nat_net *natstate_net_by_bridge(struct nat_state *st, const char *bridge)
{
    for (size_t i = 0; i < st->n_nets; i++)
        if (strcmp(st->nets[i].bridge, bridge) == 0)
            return &st->nets[i];
    return NULL;
}

struct nat_member *natstate_member(struct nat_state *st, const char *veth)
{
    for (size_t i = 0; veth && i < st->n_members; i++)
        if (strcmp(st->members[i].veth, veth) == 0)
            return &st->members[i];
    return NULL;
}

size_t natstate_count(const struct nat_state *st, const char *bridge)
{
    size_t n = 0;
    for (size_t i = 0; i < st->n_members; i++)
        n += strcmp(st->members[i].bridge, bridge) == 0;
    return n;
}

void natstate_drop_member(struct nat_state *st, struct nat_member *m)
{
    char path[160];
    if (natstate_hosts_path(st, m->veth, path, sizeof(path)) == 0)
        unlink(path);
    size_t i = (size_t)(m - st->members);
    memmove(m, m + 1, (st->n_members - i - 1) * sizeof(*m));
    st->n_members--;
}

void natstate_drop_net(struct nat_state *st, struct nat_net *n)
{
    size_t i = (size_t)(n - st->nets);
    memmove(n, n + 1, (st->n_nets - i - 1) * sizeof(*n));
    st->n_nets--;
}
