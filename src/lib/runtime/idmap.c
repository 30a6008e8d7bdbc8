#include "runtime/idmap.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fsutil.h"

static int parse_u32(const char *s, size_t len, uint32_t *out)
{
    if (len == 0 || len > 10)
        return -EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

int subid_lookup_text(const char *text, const char *name, uint32_t id,
                      uint32_t *start, uint32_t *count)
{
    char idstr[16];
    snprintf(idstr, sizeof(idstr), "%u", id);
    const char *line = text;
    while (line && *line) {
        const char *eol = strchrnul(line, '\n');
        const char *c1 = memchr(line, ':', (size_t)(eol - line));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
        if (line[0] != '#' && c2) {
            size_t klen = (size_t)(c1 - line);
            bool match = (name && strlen(name) == klen && strncmp(line, name, klen) == 0) ||
                         (strlen(idstr) == klen && strncmp(line, idstr, klen) == 0);
            uint32_t s, c;
            if (match && parse_u32(c1 + 1, (size_t)(c2 - c1 - 1), &s) == 0 &&
                parse_u32(c2 + 1, (size_t)(eol - c2 - 1), &c) == 0 && c > 0 &&
                (uint64_t)s + c <= UINT32_MAX) {
                *start = s;
                *count = c;
                return 0;
            }
        }
        line = *eol ? eol + 1 : NULL;
    }
    return -ENOENT;
}

int subid_lookup(const char *file, const char *name, uint32_t id, uint32_t *start, uint32_t *count)
{
    _cleanup_free_ char *text = fs_read_file_at(AT_FDCWD, file, false, 1 << 22);
    if (!text)
        return -errno;
    return subid_lookup_text(text, name, id, start, count);
}

static void add_range(struct spec_idmap *m, uint32_t inside, uint32_t outside, uint32_t count)
{
    if (count == 0 || m->n >= SPEC_IDMAP_MAX_RANGES)
        return;
    m->r[m->n++] = (struct spec_idmap_range){ inside, outside, count };
}

int idmap_build_ranged(struct spec_idmap *m, uint32_t self, uint32_t sub_start, uint32_t sub_count)
{
    memset(m, 0, sizeof(*m));
    m->via_helper = true;
    /* Ids from the range fill 0..IDMAP_SIZE-1 in order, skipping SELF. */
    uint32_t want = self < IDMAP_SIZE ? IDMAP_SIZE - 1 : IDMAP_SIZE;
    uint32_t have = sub_count < want ? sub_count : want;
    if (self < IDMAP_SIZE) {
        uint32_t below = self < have ? self : have;
        add_range(m, 0, sub_start, below);
        add_range(m, self, self, 1);
        add_range(m, self + 1, sub_start + below, have - below);
    } else {
        add_range(m, 0, sub_start, have);
        add_range(m, self, self, 1);
    }
    return 0;
}

void idmap_build_single(struct spec_idmap *m, uint32_t inside, uint32_t self)
{
    memset(m, 0, sizeof(*m));
    add_range(m, inside, self, 1);
}

void idmap_build_shifted(struct spec_idmap *m, uint32_t base, uint32_t count)
{
    memset(m, 0, sizeof(*m));
    add_range(m, 0, base, count);
}

bool idmap_contains(const struct spec_idmap *m, uint32_t inside)
{
    for (size_t i = 0; i < m->n; i++)
        if (inside >= m->r[i].inside && inside - m->r[i].inside < m->r[i].count)
            return true;
    return false;
}

uint32_t idmap_outside(const struct spec_idmap *m, uint32_t inside)
{
    for (size_t i = 0; i < m->n; i++)
        if (inside >= m->r[i].inside && inside - m->r[i].inside < m->r[i].count)
            return m->r[i].outside + (inside - m->r[i].inside);
    return UINT32_MAX;
}

int idmap_format(const struct spec_idmap *m, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < m->n; i++) {
        int n = snprintf(buf + o, size - o, "%u %u %u\n", m->r[i].inside, m->r[i].outside, m->r[i].count);
        if (n < 0 || (size_t)n >= size - o)
            return -ENOSPC;
        o += (size_t)n;
    }
    return 0;
}

int idmap_choose(struct spec_idmap *uids, struct spec_idmap *gids, uid_t caller_uid, gid_t caller_gid,
                 const char *caller_name, uid_t target_uid, gid_t target_gid, ab_error *err)
{
    uint32_t us, uc, gs, gc;
    if (caller_uid == 0) {
        if (subid_lookup("/etc/subuid", "root", 0, &us, &uc) < 0 || uc < IDMAP_SIZE)
            us = IDMAP_ROOT_DEFAULT_BASE;
        if (subid_lookup("/etc/subgid", "root", 0, &gs, &gc) < 0 || gc < IDMAP_SIZE)
            gs = IDMAP_ROOT_DEFAULT_BASE;
        idmap_build_shifted(uids, us, IDMAP_SIZE);
        idmap_build_shifted(gids, gs, IDMAP_SIZE);
    } else if (subid_lookup("/etc/subuid", caller_name, caller_uid, &us, &uc) == 0 &&
               subid_lookup("/etc/subgid", caller_name, caller_uid, &gs, &gc) == 0 &&
               access("/usr/bin/newuidmap", X_OK) == 0 && access("/usr/bin/newgidmap", X_OK) == 0) {
        idmap_build_ranged(uids, caller_uid, us, uc);
        idmap_build_ranged(gids, caller_gid, gs, gc);
    } else {
        idmap_build_single(uids, target_uid, caller_uid);
        idmap_build_single(gids, target_gid, caller_gid);
    }
    if (!idmap_contains(uids, target_uid))
        return ab_usage(err, "--uid: %u is not in the container's user id map (%s)", target_uid,
                        uids->n == 1 ? "no /etc/subuid range: only your own id or 0"
                                     : "ids 0-65535 are mapped");
    if (!idmap_contains(gids, target_gid))
        return ab_fail(err, 0, "group id %u is not in the container's group id map", target_gid);
    return 0;
}

static pid_t start_helper(const char *helper, pid_t pid, const struct spec_idmap *m, ab_error *err)
{
    char pidstr[16];
    snprintf(pidstr, sizeof(pidstr), "%d", pid);
    char nums[SPEC_IDMAP_MAX_RANGES * 3][12];
    const char *argv[3 + SPEC_IDMAP_MAX_RANGES * 3 + 1];
    size_t a = 0;
    argv[a++] = helper;
    argv[a++] = pidstr;
    for (size_t i = 0; i < m->n; i++) {
        snprintf(nums[i * 3], 12, "%u", m->r[i].inside);
        snprintf(nums[i * 3 + 1], 12, "%u", m->r[i].outside);
        snprintf(nums[i * 3 + 2], 12, "%u", m->r[i].count);
        argv[a++] = nums[i * 3];
        argv[a++] = nums[i * 3 + 1];
        argv[a++] = nums[i * 3 + 2];
    }
    argv[a] = NULL;

    pid_t child = fork();
    if (child < 0)
        return ab_fail(err, errno, "cannot start %s", helper);
    if (child == 0) {
        static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        execve(helper, (char *const *)argv, envp);
        _exit(127);
    }
    return child;
}

static int wait_helper(const char *helper, pid_t child, pid_t pid, ab_error *err)
{
    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR)
            return ab_fail(err, errno, "cannot wait for %s", helper);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return ab_fail(err, 0, "%s %d failed (exit status %d): check the ranges in /etc/sub%cid", helper, pid,
                       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                       strstr(helper, "uid") ? 'u' : 'g');
    return 0;
}

static int write_map(pid_t pid, const char *file, const struct spec_idmap *m, ab_error *err)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
    if (idmap_format(m, buf, sizeof(buf)) < 0)
        return ab_fail(err, ENOSPC, "cannot format %s", path);
    int r = fs_write_file(path, buf);
    if (r < 0)
        return ab_fail(err, -r, "cannot write %s", path);
    return 0;
}

int idmap_write(pid_t pid, const struct spec_idmap *uids, const struct spec_idmap *gids, ab_error *err)
{
    int r;
    if (uids->via_helper) {
        /* Both setuid helpers at once: each takes a millisecond to start. */
        pid_t u = start_helper("/usr/bin/newuidmap", pid, uids, err);
        if (u < 0)
            return u;
        pid_t g = start_helper("/usr/bin/newgidmap", pid, gids, err);
        int ru = wait_helper("/usr/bin/newuidmap", u, pid, err);
        if (g < 0)
            return g;
        ab_error gerr = { 0 };
        int rg = wait_helper("/usr/bin/newgidmap", g, pid, &gerr);
        if (ru < 0)
            return ru;
        if (rg < 0) {
            *err = gerr;
            return rg;
        }
        return 0;
    }
    if (getuid() != 0) {
        /* An unprivileged single-id gid map needs setgroups denied. */
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/setgroups", pid);
        if ((r = fs_write_file(path, "deny")) < 0)
            return ab_fail(err, -r, "cannot write %s", path);
    }
    if ((r = write_map(pid, "uid_map", uids, err)) < 0)
        return r;
    return write_map(pid, "gid_map", gids, err);
}

static int idmap_host_setup(struct runner *r, ab_error *err)
{
    /* appbox-oci without a user namespace of the container's own */
    if (!(r->spec->container.namespaces & CLONE_NEWUSER))
        return 0;
    return idmap_write(r->child, &r->spec->container.uid_map, &r->spec->container.gid_map, err);
}

const struct module idmap_module = {
    .name = "idmap",
    .host_setup = idmap_host_setup,
};
