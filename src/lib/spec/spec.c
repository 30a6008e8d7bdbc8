#include "spec/spec.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup/cgroup.h"
#include "net/netopts.h"
#include "spec/defaults.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

static int push_all(strv *v, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strv_push(v, list[i]) < 0)
            return -ENOMEM;
    return 0;
}

void spec_init(struct spec *s)
{
    memset(s, 0, sizeof(*s));
    s->container.net = NET_NONE;
    s->container.init = SPEC_INIT_APPBOX;
    s->container.stop_signal = SPEC_DEFAULT_STOP_SIGNAL;
    s->container.tmpfs_size = SPEC_DEFAULT_TMPFS_SIZE;
    s->container.pids_limit = SPEC_DEFAULT_PIDS_LIMIT;
    s->container.log_size = SPEC_DEFAULT_LOG_SIZE;
    s->process.seccomp = true;
    s->container.display.width = SPEC_DEFAULT_DISPLAY_WIDTH;
    s->container.display.height = SPEC_DEFAULT_DISPLAY_HEIGHT;
    /* Out of memory here leaves a list short; spec_validate() refuses a
     * spec whose defaults are incomplete rather than run it less masked. */
    push_all(&s->container.masked_paths, spec_default_masked_paths);
    push_all(&s->container.readonly_paths, spec_default_readonly_paths);
    push_all(&s->container.devices, spec_default_devices);
}

static void mount_free(struct spec_mount *m)
{
    free(m->given);
    free(m->source);
    free(m->destination);
    free(m->data);
    free(m->origin);
}

void spec_process_free(struct spec_process *p)
{
    strv_clear(&p->argv);
    strv_clear(&p->env);
    free(p->cwd);
    free(p->cwd_follow);
    memset(p, 0, sizeof(*p));
}

void spec_free(struct spec *s)
{
    struct spec_container *c = &s->container;
    free(c->root);
    free(c->root_origin);
    free(c->root_lower);
    for (size_t i = 0; i < c->n_mounts; i++)
        mount_free(&c->mounts[i]);
    free(c->mounts);
    free(c->hostname);
    strv_clear(&c->masked_paths);
    strv_clear(&c->readonly_paths);
    strv_clear(&c->devices);
    strv_clear(&c->cgroups);
    free(c->sound_server);
    free(c->sound_cookie);
    free(c->sound_dir);
    free(c->display.host_display);
    free(c->display.host_auth);
    free(c->display.dir);
    struct spec_network *n = &c->network;
    free(n->name);
    free(n->iface);
    free(n->subnet);
    free(n->address);
    strv_clear(&n->allow);
    strv_clear(&n->publish);
    strv_clear(&n->links);
    free(n->addr);
    free(n->gateway);
    free(n->bridge);
    free(n->host_veth);
    free(n->dns);
    free(n->hosts);
    free(n->dir);
    spec_process_free(&s->process);
    memset(s, 0, sizeof(*s));
}

static int dup_or_null(const char *in, char **out)
{
    *out = NULL;
    if (in && !(*out = strdup(in)))
        return -ENOMEM;
    return 0;
}

int spec_add_mount(struct spec *s, enum mount_type type, const char *source, const char *destination,
                   unsigned options, const char *data, const char *origin)
{
    struct spec_container *c = &s->container;
    if (!destination)
        return -EINVAL;
    struct spec_mount *nm = realloc(c->mounts, (c->n_mounts + 1) * sizeof(*nm));
    if (!nm)
        return -ENOMEM;
    c->mounts = nm;
    struct spec_mount m = { .type = type, .options = options };
    if (dup_or_null(source, &m.source) < 0 || dup_or_null(destination, &m.destination) < 0 ||
        dup_or_null(data, &m.data) < 0 || dup_or_null(origin, &m.origin) < 0) {
        mount_free(&m);
        return -ENOMEM;
    }
    c->mounts[c->n_mounts++] = m;
    return 0;
}

int spec_add_bind(struct spec *s, const char *source, const char *destination, bool read_only, const char *origin)
{
    return spec_add_mount(s, MOUNT_TYPE_BIND, source, destination,
                          MOUNT_RECURSIVE | MOUNT_NOSUID | MOUNT_NODEV | (read_only ? MOUNT_RO : 0), NULL, origin);
}

int spec_add_tmpfs(struct spec *s, const char *destination, const char *origin)
{
    return spec_add_mount(s, MOUNT_TYPE_TMPFS, NULL, destination, MOUNT_NOSUID | MOUNT_NODEV, "mode=0755", origin);
}

int spec_add_tmpfs_sized(struct spec *s, const char *destination, uint64_t size, const char *origin)
{
    char data[64];
    snprintf(data, sizeof(data), "mode=0755,size=%llu", (unsigned long long)size);
    return spec_add_mount(s, MOUNT_TYPE_TMPFS, NULL, destination, MOUNT_NOSUID | MOUNT_NODEV, data, origin);
}

int spec_add_device(struct spec *s, const char *path, const char *origin)
{
    return spec_add_device_access(s, path, path, DEV_ACCESS_ALL, origin);
}

int spec_add_device_access(struct spec *s, const char *source, const char *destination, unsigned access,
                           const char *origin)
{
    int r = spec_add_mount(s, MOUNT_TYPE_BIND, source, destination, MOUNT_NOSUID | MOUNT_NOEXEC, NULL, origin);
    if (r == 0)
        s->container.mounts[s->container.n_mounts - 1].dev_access = access;
    return r;
}

bool spec_container_can_write(const struct spec_container *c, const char *path)
{
    if (c->root && c->writable && (fs_path_within(path, c->root) || fs_path_within(c->root, path)))
        return true;
    for (size_t i = 0; i < c->n_mounts; i++) {
        const struct spec_mount *m = &c->mounts[i];
        if (m->type == MOUNT_TYPE_BIND && !(m->options & MOUNT_RO) && m->source &&
            (fs_path_within(path, m->source) || fs_path_within(m->source, path)))
            return true;
    }
    return false;
}

int spec_set_env(struct spec *s, const char *name, const char *value, ab_error *err)
{
    char *kv;
    if (asprintf(&kv, "%s=%s", name, value) < 0)
        return ab_fail(err, ENOMEM, "cannot set %s", name);
    size_t n = strlen(name) + 1;
    strv *env = &s->process.env;
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->v[i], kv, n) == 0) {
            free(env->v[i]);
            env->v[i] = kv;
            return 0;
        }
    if (strv_push_take(env, kv) < 0)
        return ab_fail(err, ENOMEM, "cannot set %s", name);
    return 0;
}

const char *spec_get_env(const struct spec *s, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < s->process.env.n; i++)
        if (strncmp(s->process.env.v[i], name, n) == 0 && s->process.env.v[i][n] == '=')
            return s->process.env.v[i] + n + 1;
    return NULL;
}

void spec_mount_to_front(struct spec *s, size_t i)
{
    struct spec_container *c = &s->container;
    if (i == 0 || i >= c->n_mounts)
        return;
    struct spec_mount m = c->mounts[i];
    memmove(c->mounts + 1, c->mounts, i * sizeof(*c->mounts));
    c->mounts[0] = m;
}

bool spec_mount_is_device(const struct spec_mount *m)
{
    return m->type == MOUNT_TYPE_BIND && !(m->options & (MOUNT_RECURSIVE | MOUNT_NODEV));
}

const char *spec_mount_mode_name(const struct spec_mount *m)
{
    if (m->type == MOUNT_TYPE_TMPFS)
        return "tmpfs";
    if (spec_mount_is_device(m))
        return "device";
    return (m->options & MOUNT_RO) ? "ro" : "rw";
}

static const char *const net_names[] = {
    [NET_NONE] = "none",
    [NET_HOST] = "host",
    [NET_PASTA] = "pasta",
    [NET_NAT] = "nat",
    [NET_MACVLAN] = "macvlan",
    [NET_PROXY] = "proxy",
};

const char *net_mode_name(enum net_mode m)
{
    return (size_t)m < ARRAY_SIZE(net_names) ? net_names[m] : "?";
}

int net_mode_from_name(const char *name, enum net_mode *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(net_names); i++)
        if (net_names[i] && strcmp(name, net_names[i]) == 0) {
            *out = (enum net_mode)i;
            return 0;
        }
    return -EINVAL;
}

static const char *const sound_names[] = {
    [SOUND_NONE] = "none",
    [SOUND_HOST] = "host",
    [SOUND_PULSEAUDIO] = "pulseaudio",
    [SOUND_PIPEWIRE] = "pipewire",
    [SOUND_ALSA] = "alsa",
};

const char *sound_mode_name(enum sound_mode m)
{
    return (size_t)m < ARRAY_SIZE(sound_names) ? sound_names[m] : "?";
}

int sound_mode_from_name(const char *name, enum sound_mode *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(sound_names); i++)
        if (strcmp(name, sound_names[i]) == 0) {
            *out = (enum sound_mode)i;
            return 0;
        }
    return -EINVAL;
}

static size_t count(const char *const *list)
{
    size_t n = 0;
    while (list[n])
        n++;
    return n;
}

int spec_validate(const struct spec *s, ab_error *err)
{
    const struct spec_container *c = &s->container;
    if (c->writable && !c->root)
        return ab_usage(err, "--writable (Writable=): only applies with --root DIR (Root=): the host view "
                             "is always read-only");
    if (c->masked_paths.n < count(spec_default_masked_paths) ||
        c->readonly_paths.n < count(spec_default_readonly_paths) || c->devices.n < count(spec_default_devices))
        return ab_fail(err, ENOMEM, "cannot build the default masks of the spec");
    for (size_t i = 0; i < c->n_mounts; i++) {
        const struct spec_mount *m = &c->mounts[i];
        if (!m->destination || m->destination[0] != '/')
            return ab_usage(err, "%s: '%s' is not an absolute path inside the container",
                            m->origin ? m->origin : "mount", m->destination ? m->destination : "");
        if (m->type == MOUNT_TYPE_BIND && (!m->source || !*m->source))
            return ab_usage(err, "%s: a bind needs a source", m->origin ? m->origin : "mount");
    }
    /* The X socket is bound as a file: with the host's network namespace
     * the container would also reach the server's abstract socket, where
     * no bind decides anything. */
    if (c->net == NET_HOST && (c->display.mode == DISPLAY_X11 || c->display.mode == DISPLAY_PRIVATE))
        return ab_usage(err, "--display %s cannot be used with --network host: the host's network namespace "
                             "holds the X server's abstract socket, reachable without its cookie's limits "
                             "(use --display x11-trusted, or a network of the container's own)",
                        display_mode_name(c->display.mode));
    if (c->tmpfs_size == 0 || c->pids_limit == 0)
        return ab_usage(err, "--tmpfs-size and --pids need a value above 0");
    if (c->resources.memory_swap && !c->resources.memory)
        return ab_usage(err, "--memory-swap (MemorySwap=) needs --memory (Memory=): it is the swap allowed beyond "
                             "the memory limit");
    if (c->init == SPEC_INIT_BOOT && !c->root)
        return ab_usage(err, "--boot (Boot=) needs a root file system with its own init (a named container with a "
                             "--base other than host, such as debian:bookworm): the host's own /sbin/init cannot "
                             "boot inside a container");
    if (c->sound == SOUND_PIPEWIRE && !c->microphone)
        return ab_usage(err, "--sound pipewire (Sound=): PipeWire's native socket cannot be made playback-only "
                             "(every client of it may record, unless a portal grants access): add "
                             "--microphone yes, or use --sound pulseaudio (PipeWire's pulse server, through "
                             "appbox's playback-only proxy)");
    int r = net_validate(c, err);
    if (r < 0)
        return r;
    if (c->stop_signal <= 0 || c->stop_signal >= NSIG)
        return ab_usage(err, "stop signal %d is not a signal", c->stop_signal);
    return 0;
}

static const char *const restart_names[] = {
    [SPEC_RESTART_NO] = "no", [SPEC_RESTART_ON_FAILURE] = "on-failure", [SPEC_RESTART_ALWAYS] = "always",
};

const char *spec_restart_name(int r)
{
    return r >= 0 && (size_t)r < ARRAY_SIZE(restart_names) ? restart_names[r] : "?";
}

int spec_restart_from_name(const char *name, int *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(restart_names); i++)
        if (strcmp(restart_names[i], name) == 0) {
            *out = (int)i;
            return 0;
        }
    return -EINVAL;
}

static const char *const display_names[] = {
    [DISPLAY_NONE] = "none",       [DISPLAY_X11] = "x11",         [DISPLAY_X11_TRUSTED] = "x11-trusted",
    [DISPLAY_WAYLAND] = "wayland", [DISPLAY_PRIVATE] = "private", [DISPLAY_AUTO] = "auto",
};

const char *display_mode_name(int m)
{
    return m >= 0 && (size_t)m < ARRAY_SIZE(display_names) ? display_names[m] : "?";
}

int display_mode_from_name(const char *name, int *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(display_names); i++)
        if (strcmp(display_names[i], name) == 0) {
            *out = (int)i;
            return 0;
        }
    return -1;
}
