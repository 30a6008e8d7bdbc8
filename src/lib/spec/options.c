#include "spec/options.h"
#include "spec/defaults.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "net/netopts.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

static int set_string(char **slot, const char *value)
{
    char *c = strdup(value);
    if (!c)
        return -ENOMEM;
    free(*slot);
    *slot = c;
    return 0;
}

/* A host path: syntax only (non-empty; made absolute against the working
 * directory, lexically).  Whether it exists, and what it is, is settled
 * once, when the container starts (spec_resolve()). */
static int host_path(const char *flag, const char *value, char **out, ab_error *err)
{
    if (!*value)
        return ab_usage(err, "%s: empty path (expected an existing host path)", flag);
    _cleanup_free_ char *abs = NULL;
    if (value[0] != '/') {
        char cwd[4096];
        if (!getcwd(cwd, sizeof(cwd)))
            return ab_usage(err, "%s: '%s': %s (expected an existing host path)", flag, value, strerror(errno));
        if (asprintf(&abs, "%s/%s", cwd, value) < 0)
            return ab_fail(err, ENOMEM, "%s", flag);
    }
    char *clean = fs_clean_abs_path(abs ? abs : value);
    if (!clean) /* "..": left to realpath() at resolve time, as the user wrote it */
        clean = strdup(abs ? abs : value);
    if (!clean)
        return ab_fail(err, ENOMEM, "%s", flag);
    *out = clean;
    return 0;
}

static int container_path(const char *flag, const char *value, char **out, ab_error *err)
{
    if (value[0] != '/')
        return ab_usage(err, "%s: '%s' is not an absolute path (a path inside the container must start with '/')",
                        flag, value);
    char *c = fs_clean_abs_path(value);
    if (!c)
        return ab_usage(err, "%s: '%s' contains '..' (a path inside the container must not)", flag, value);
    *out = c;
    return 0;
}

static int opt_root(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    _cleanup_free_ char *p = NULL;
    int r = host_path(flag, value, &p, err);
    if (r < 0)
        return r;
    char *origin = strdup(flag);
    if (!origin)
        return ab_fail(err, ENOMEM, "%s", flag);
    free(s->container.root);
    s->container.root = take_ptr(p);
    free(s->container.root_origin);
    s->container.root_origin = origin;
    return 0;
}

static int opt_writable(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    s->container.writable = true;
    return 0;
}

static int opt_network(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    return net_parse_mode(s, flag, value, err);
}

/* The network's lists keep the canonical form of each value. */
static int opt_publish(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    struct net_port p;
    int r = net_parse_publish(flag, value, &p, err);
    if (r < 0)
        return r;
    char buf[64];
    net_format_publish(&p, buf, sizeof(buf));
    return strv_push(&s->container.network.publish, buf) < 0 ? ab_fail(err, ENOMEM, "%s", flag) : 0;
}

static int opt_link(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    struct net_link l;
    int r = net_parse_link(flag, value, &l, err);
    if (r < 0)
        return r;
    char buf[64];
    net_format_link(&l, buf, sizeof(buf));
    return strv_push(&s->container.network.links, buf) < 0 ? ab_fail(err, ENOMEM, "%s", flag) : 0;
}

static int opt_allow(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    struct net_allow a;
    int r = net_parse_allow(flag, value, &a, err);
    if (r < 0)
        return r;
    char buf[300];
    net_format_allow(&a, buf, sizeof(buf));
    return strv_push(&s->container.network.allow, buf) < 0 ? ab_fail(err, ENOMEM, "%s", flag) : 0;
}

static int opt_subnet(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    struct in_addr a;
    int prefix, r = net_parse_cidr(flag, value, false, &a, &prefix, err);
    if (r < 0)
        return r;
    if (prefix > 29)
        return ab_usage(err, "%s: '%s': a /%d holds no containers (at most /29)", flag, value, prefix);
    uint32_t mask = prefix ? htonl(~0u << (32 - prefix)) : 0;
    if ((a.s_addr & ~mask) != 0)
        return ab_usage(err, "%s: '%s' has host bits set (a subnet starts at its first address, e.g. "
                             "10.89.3.0/24)", flag, value);
    return set_string(&s->container.network.subnet, value) < 0 ? ab_fail(err, ENOMEM, "%s", flag) : 0;
}

static int opt_address(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    struct in_addr a;
    int prefix, r = net_parse_cidr(flag, value, true, &a, &prefix, err);
    if (r < 0)
        return r;
    return set_string(&s->container.network.address, value) < 0 ? ab_fail(err, ENOMEM, "%s", flag) : 0;
}

static int opt_allow_host_loopback(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    s->container.network.allow_host_loopback = true;
    return 0;
}

int split_src_dst(const char *arg, char **src, char **dst)
{
    size_t len = strlen(arg);
    _cleanup_free_ char *a = malloc(len + 1), *b = malloc(len + 1);
    if (!a || !b)
        return -ENOMEM;
    char *cur = a;
    bool seen = false;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (arg[i] == '\\' && arg[i + 1] == ':') {
            cur[o++] = ':';
            i++;
        } else if (arg[i] == ':' && !seen) {
            cur[o] = '\0';
            cur = b;
            o = 0;
            seen = true;
        } else {
            cur[o++] = arg[i];
        }
    }
    cur[o] = '\0';
    *src = take_ptr(a);
    *dst = seen ? take_ptr(b) : NULL;
    return 0;
}

static int add_bind(struct spec *s, bool read_only, const char *flag, const char *value, ab_error *err)
{
    _cleanup_free_ char *src_raw = NULL, *dst_raw = NULL, *src = NULL, *dst = NULL;
    if (split_src_dst(value, &src_raw, &dst_raw) < 0)
        return ab_fail(err, ENOMEM, "%s", flag);
    if (dst_raw && !*dst_raw)
        return ab_usage(err, "%s: '%s' has an empty destination (expected SRC[:DST])", flag, value);
    int r = host_path(flag, src_raw, &src, err);
    if (r < 0)
        return r;
    r = container_path(flag, dst_raw ? dst_raw : src, &dst, err);
    if (r < 0)
        return r;
    if (strcmp(dst, "/") == 0)
        return ab_usage(err, "%s: '%s': cannot bind over / (use --root)", flag, value);
    if (spec_add_bind(s, src, dst, read_only, flag) < 0)
        return ab_fail(err, ENOMEM, "%s", flag);
    return 0;
}

static int opt_bind(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    return add_bind(s, false, flag, value, err);
}

static int opt_ro_bind(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    return add_bind(s, true, flag, value, err);
}

/* "512k", "64m", "1g", "1048576": bytes, from 4 KiB to 1 TiB. */
static int parse_size(const char *flag, const char *value, uint64_t *out, ab_error *err)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    unsigned long long mult = 1;
    if (*end && !end[1])
        switch (*end | 0x20) {
        case 'k': mult = 1ULL << 10; end++; break;
        case 'm': mult = 1ULL << 20; end++; break;
        case 'g': mult = 1ULL << 30; end++; break;
        default: break;
        }
    if (!*value || value[0] == '-' || value[0] == '+' || *end || errno || v == 0 || v > (1ULL << 40) / mult ||
        v * mult < 4096)
        return ab_usage(err, "%s: '%s' is not a size (a number of bytes with k, m or g, from 4k to 1024g)", flag,
                        value);
    *out = v * mult;
    return 0;
}

static int opt_tmpfs(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    /* DST or DST:size=SIZE */
    _cleanup_free_ char *dst_raw = NULL, *opts = NULL, *dst = NULL;
    if (split_src_dst(value, &dst_raw, &opts) < 0)
        return ab_fail(err, ENOMEM, "%s", flag);
    uint64_t size = 0;
    int r;
    if (opts && strncmp(opts, "size=", 5) != 0)
        return ab_usage(err, "%s: '%s' is not DST or DST:size=SIZE", flag, value);
    if (opts && (r = parse_size(flag, opts + 5, &size, err)) < 0)
        return r;
    r = container_path(flag, dst_raw, &dst, err);
    if (r < 0)
        return r;
    if (strcmp(dst, "/") == 0)
        return ab_usage(err, "%s: '/': cannot mount a tmpfs over / (use --root)", flag);
    if ((size ? spec_add_tmpfs_sized(s, dst, size, flag) : spec_add_tmpfs(s, dst, flag)) < 0)
        return ab_fail(err, ENOMEM, "%s", flag);
    return 0;
}

static int opt_tmpfs_size(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    return parse_size(flag, value, &s->container.tmpfs_size, err);
}

static int opt_pids(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (!*value || *end || errno || v < 16 || v > 4194304 || value[0] == '-' || value[0] == '+')
        return ab_usage(err, "%s: '%s' is not a number of processes (16 to 4194304)", flag, value);
    s->container.pids_limit = v;
    return 0;
}

static int opt_memory(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    return parse_size(flag, value, &s->container.resources.memory, err);
}

static int opt_memory_swap(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    if (strcmp(value, "0") == 0) {
        s->container.resources.memory_swap = 0;
        return 0;
    }
    return parse_size(flag, value, &s->container.resources.memory_swap, err);
}

/* "0.1", "2", "1.5", "10%": thousandths of a CPU, from 0.01 to 1024 CPUs. */
static int opt_cpus(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    const char *p = value;
    unsigned long long whole = 0, milli = 0;
    int digits = 0, frac = 0;
    bool percent = false;
    for (; *p >= '0' && *p <= '9' && digits < 8; p++, digits++)
        whole = whole * 10 + (unsigned)(*p - '0');
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, frac++)
            if (frac < 3)
                milli = milli * 10 + (unsigned)(*p - '0');
    for (int f = frac; f < 3; f++)
        milli *= 10;
    if (*p == '%') {
        percent = true;
        p++;
    }
    unsigned long long v = whole * 1000 + milli;
    if (percent)
        v /= 100; /* 10% of a CPU is 0.1 */
    if ((!digits && !frac) || *p || v < 10 || v > 1024 * 1000)
        return ab_usage(err, "%s: '%s' is not a number of CPUs (such as 0.5, 2 or 10%%; from 0.01 to 1024)", flag,
                        value);
    s->container.resources.cpu_quota = (uint32_t)v;
    return 0;
}

static int parse_weight(const char *flag, const char *value, uint32_t *out, ab_error *err)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (!*value || *end || errno || value[0] == '-' || value[0] == '+' || v < 1 || v > 10000)
        return ab_usage(err, "%s: '%s' is not a weight (1 to 10000; the default is 100)", flag, value);
    *out = (uint32_t)v;
    return 0;
}

static int opt_cpu_weight(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    return parse_weight(flag, value, &s->container.resources.cpu_weight, err);
}

static int opt_io_weight(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    return parse_weight(flag, value, &s->container.resources.io_weight, err);
}

static int opt_restart(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    if (spec_restart_from_name(value, &s->container.restart) < 0)
        return ab_usage(err, "%s: '%s' is not a restart policy (allowed: no, on-failure, always)", flag, value);
    return 0;
}

static int opt_log_size(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    return parse_size(flag, value, &s->container.log_size, err);
}

static int opt_boot(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    s->container.init = SPEC_INIT_BOOT;
    /* systemd halts on SIGRTMIN+3 (SIGTERM only re-executes it) */
    if (s->container.stop_signal == SPEC_DEFAULT_STOP_SIGNAL)
        s->container.stop_signal = SIGRTMIN + 3;
    return 0;
}

/* PATH[:ACCESS]: ACCESS is cgroup letters, r w m (default rwm). */
static int opt_device(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    if (value[0] != '/')
        return ab_usage(err, "%s: '%s' is not an absolute path (expected a device node such as /dev/video0, "
                             "optionally with :ACCESS, letters of rwm)",
                        flag, value);
    _cleanup_free_ char *path = strdup(value);
    if (!path)
        return ab_fail(err, ENOMEM, "%s", flag);
    int access = DEV_ACCESS_ALL;
    char *colon = strrchr(path, ':');
    if (colon) {
        *colon = '\0';
        if ((access = cgroup_access_parse(colon + 1)) < 0)
            return ab_usage(err, "%s: '%s' is not device access in '%s' (allowed: letters r, w, m, each once, "
                                 "such as rw or rwm)",
                            flag, colon + 1, value);
    }
    _cleanup_free_ char *dst = fs_clean_abs_path(path);
    if (!dst)
        return ab_usage(err, "%s: '%s' contains '..' (a device path must not)", flag, value);
    if (spec_add_device_access(s, dst, dst, (unsigned)access, flag) < 0)
        return ab_fail(err, ENOMEM, "%s", flag);
    return 0;
}

static int opt_gpu(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    if (!value || strcmp(value, "render") == 0 || strcmp(value, "yes") == 0)
        s->container.gpu = SPEC_GPU_RENDER;
    else if (strcmp(value, "all") == 0)
        s->container.gpu = SPEC_GPU_ALL;
    else if (strcmp(value, "none") == 0 || strcmp(value, "no") == 0)
        s->container.gpu = SPEC_GPU_NONE;
    else
        return ab_usage(err, "%s: '%s' is not a GPU setting (allowed: render (the default), all, none)", flag,
                        value);
    return 0;
}

static int opt_webcam(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    s->container.webcam = true;
    return 0;
}

static bool env_name_ok(const char *s, size_t len)
{
    if (len == 0 || isdigit((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

static int opt_env(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    const char *eq = strchr(value, '=');
    if (!eq || !env_name_ok(value, (size_t)(eq - value)))
        return ab_usage(err, "%s: '%s' is not NAME=VALUE (NAME: letters, digits, '_')", flag, value);
    /* A later --env for the same name replaces the earlier one. */
    _cleanup_free_ char *name = strndup(value, (size_t)(eq - value));
    if (!name)
        return ab_fail(err, ENOMEM, "%s", flag);
    return spec_set_env(s, name, eq + 1, err);
}

static int opt_chdir(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    _cleanup_free_ char *p = NULL;
    int r = container_path(flag, value, &p, err);
    if (r < 0)
        return r;
    free(s->process.cwd);
    s->process.cwd = take_ptr(p);
    return 0;
}

static int opt_hostname(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    size_t len = strlen(value);
    bool ok = len > 0 && len <= 64 && value[0] != '-' && value[0] != '.';
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)value[i]) || value[i] == '-' || value[i] == '.';
    if (!ok)
        return ab_usage(err, "%s: '%s' is not a valid host name (1-64 letters, digits, '-', '.')", flag, value);
    return set_string(&s->container.hostname, value) < 0 ? ab_fail(err, ENOMEM, "%s", flag) : 0;
}

static int opt_uid(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (!*value || *end || errno || v > 65535 || value[0] == '-' || value[0] == '+')
        return ab_usage(err, "%s: '%s' is not a user id (allowed: 0 for root, or a number up to 65535)",
                        flag, value);
    s->process.uid_set = true;
    s->process.uid = (uid_t)v;
    return 0;
}

int cap_parse_name(const char *name)
{
    if (strcasecmp(name, "all") == 0)
        return CAP_ALL;
    char buf[64];
    if (strncasecmp(name, "cap_", 4) != 0)
        snprintf(buf, sizeof(buf), "cap_%s", name);
    else
        snprintf(buf, sizeof(buf), "%s", name);
    for (char *p = buf; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    cap_value_t c;
    if (cap_from_name(buf, &c) < 0 || c < 0 || c > CAP_LAST_CAP)
        return -1;
    /* cap_from_name() also accepts plain numbers; we want names only. */
    if (isdigit((unsigned char)buf[4]))
        return -1;
    return (int)c;
}

static int opt_cap(struct spec *s, const char *flag, const char *value, bool add, ab_error *err)
{
    int c = cap_parse_name(value);
    if (c < 0)
        return ab_usage(err, "%s: '%s' is not a capability (e.g. NET_ADMIN, CAP_SYS_PTRACE or ALL; see capabilities(7))",
                        flag, value);
    uint64_t bits = c == CAP_ALL ? (CAP_LAST_CAP >= 63 ? ~0ULL : ((1ULL << (CAP_LAST_CAP + 1)) - 1)) : 1ULL << c;
    if (add) {
        s->process.cap_add |= bits;
        s->process.cap_drop &= ~bits;
    } else {
        if (c == CAP_ALL) {
            s->process.cap_drop_all = true;
            s->process.cap_add = 0;
        }
        s->process.cap_drop |= bits;
        s->process.cap_add &= ~bits;
    }
    return 0;
}

static int opt_cap_add(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    return opt_cap(s, flag, value, true, err);
}

static int opt_cap_drop(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    return opt_cap(s, flag, value, false, err);
}

static int opt_seccomp(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    if (strcmp(value, "on") == 0)
        s->process.seccomp = true;
    else if (strcmp(value, "off") == 0)
        s->process.seccomp = false;
    else
        return ab_usage(err, "%s: '%s' is not a seccomp setting (allowed: on, off)", flag, value);
    return 0;
}

static int opt_io_uring(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    if (strcmp(value, "allow") == 0)
        s->process.io_uring = true;
    else if (strcmp(value, "deny") == 0)
        s->process.io_uring = false;
    else
        return ab_usage(err, "%s: '%s' is not an io_uring setting (allowed: allow, deny)", flag, value);
    return 0;
}

/* --sound [MODE]: alone (or "host", or appbox.conf's "yes") the host's
 * server, chosen when the container starts (desktop/sound.c). */
static int opt_sound(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    enum sound_mode m;
    if (!value || strcmp(value, "yes") == 0)
        m = SOUND_HOST;
    else if (sound_mode_from_name(value, &m) < 0)
        return ab_usage(err, "%s: '%s' is not a sound mode (allowed: pulseaudio, pipewire, alsa, none; "
                             "or host, the host's own server)", flag, value);
    s->container.sound = m;
    return 0;
}

static int opt_microphone(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    if (strcmp(value, "yes") == 0)
        s->container.microphone = true;
    else if (strcmp(value, "no") == 0)
        s->container.microphone = false;
    else
        return ab_usage(err, "%s: '%s' is not a microphone setting (allowed: no, yes)", flag, value);
    return 0;
}

static int opt_desktop_files(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    if (strcmp(value, "yes") == 0)
        s->container.no_host_files = false;
    else if (strcmp(value, "no") == 0)
        s->container.no_host_files = true;
    else
        return ab_usage(err, "%s: '%s' is not a desktop-files setting (allowed: yes, no)", flag, value);
    return 0;
}

static int opt_display(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    int m;
    if (display_mode_from_name(value, &m) < 0)
        return ab_usage(err, "%s: '%s' is not a display mode (allowed: x11, x11-trusted, wayland, private, none, "
                             "auto)", flag, value);
    s->container.display.mode = m;
    return 0;
}

/* WxH, each from 64 to 16384 (Xephyr's limits are wider; a window bigger
 * than that is a typo). */
static int opt_display_size(struct spec *s, const char *flag, const char *value, ab_error *err)
{
    char *end;
    errno = 0;
    unsigned long w = strtoul(value, &end, 10), h = 0;
    bool ok = isdigit((unsigned char)value[0]) && (*end == 'x' || *end == 'X') && isdigit((unsigned char)end[1]);
    if (ok) {
        h = strtoul(end + 1, &end, 10);
        ok = !*end && !errno && w >= 64 && w <= 16384 && h >= 64 && h <= 16384;
    }
    if (!ok)
        return ab_usage(err, "%s: '%s' is not a window size (expected WIDTHxHEIGHT, each 64 to 16384, e.g. 1280x800)",
                        flag, value);
    s->container.display.width = (int)w;
    s->container.display.height = (int)h;
    return 0;
}

const struct spec_option_alias spec_option_aliases[] = {
    { "gui", "display", "auto", "the display of the host session: wayland when WAYLAND_DISPLAY is set, else x11" },
    { "gui-private", "display", "private", "a nested X server of the container's own (--display private)" },
    { NULL, NULL, NULL, NULL },
};

const struct spec_option *spec_option_alias_find(const char *name, const char **value)
{
    for (const struct spec_option_alias *a = spec_option_aliases; a->name; a++)
        if (strcmp(a->name, name) == 0) {
            *value = a->value;
            return spec_option_find(a->target);
        }
    return NULL;
}

const struct spec_option spec_options[] = {
    { "root", "DIR", "use DIR as / (read-only unless --writable); default: the host view", opt_root,
      "Container", "Root", false },
    { "writable", NULL, "make the --root directory writable", opt_writable, "Container", "Writable", false },
    { "network", "MODE", "none (default: only lo), host, nat[:NAME], macvlan[:IFACE] or proxy", opt_network,
      "Network", "Mode", false },
    { "publish", "HOSTPORT:PORT", "the container's PORT at the host's HOSTPORT (also IP:HOSTPORT:PORT, "
      "and /udp)", opt_publish, "Network", "Publish", true },
    { "link", "OTHER:PORT[:LOCALPORT]", "another running container's PORT on this one's loopback", opt_link,
      "Network", "Link", true },
    { "allow", "HOST[:PORT]", "proxy: a destination the container may connect to (a name, *.domain or an "
      "address)", opt_allow, "Network", "Allow", true },
    { "subnet", "A.B.C.D/N", "nat as root: the network's subnet (default: a free 10.89.N.0/24)", opt_subnet,
      "Network", "Subnet", false },
    { "address", "A.B.C.D[/N]", "nat as root, macvlan: the container's address (default: allocated, DHCP)",
      opt_address, "Network", "Address", false },
    { "allow-host-loopback", NULL, "nat as a user: let the container reach the host's loopback services",
      opt_allow_host_loopback, "Network", "AllowHostLoopback", false },
    { "bind", "SRC[:DST]", "bind host path SRC read-write at DST (default SRC)", opt_bind,
      "Files", "Bind", true },
    { "ro-bind", "SRC[:DST]", "bind host path SRC read-only at DST", opt_ro_bind, "Files", "BindReadOnly", true },
    { "tmpfs", "DST[:size=SIZE]", "mount a fresh tmpfs at DST (default size: --tmpfs-size)", opt_tmpfs, "Files",
      "TemporaryFileSystem", true },
    { "device", "PATH[:rwm]", "make host device node PATH available, with cgroup access r, w, m (default rwm)",
      opt_device, "Files", "Device", true },
    /* devices (desktop/devices.c) */
    { "gpu", "[render|all]", "the GPU: render nodes (default), or all: every DRM node; NVIDIA's nodes and driver",
      opt_gpu, "Desktop", "Gpu", false },
    { "webcam", NULL, "the webcams: /dev/video* and /dev/v4l", opt_webcam, "Desktop", "Webcam", false },
    { "env", "NAME=VALUE", "set an environment variable", opt_env, "Container", "Environment", true },
    { "chdir", "DIR", "working directory inside (default: yours if there, else home)", opt_chdir, "Container",
      "WorkingDirectory", false },
    { "hostname", "NAME", "host name inside (default: appbox, or the container's name)", opt_hostname, "Container",
      "Hostname", false },
    { "uid", "UID", "user id inside (0: root inside the container)", opt_uid, "Container", "User", false },
    { "cap-add", "CAP", "keep capability CAP (inside the container's user namespace)", opt_cap_add,
      "Security", "Capability", true },
    { "cap-drop", "CAP", "drop capability CAP", opt_cap_drop, "Security", "DropCapability", true },
    { "tmpfs-size", "SIZE", "size of each of appbox's tmpfs: /tmp /var/tmp /dev/shm, a throwaway home (default 1g)",
      opt_tmpfs_size, "Resources", "TemporaryFileSystemSize", false },
    { "pids", "N", "at most N processes in the container (default 4096; its cgroup's pids limit, and "
      "RLIMIT_NPROC)", opt_pids, "Resources", "Pids", false },
    { "memory", "SIZE", "memory limit of the container's cgroup (swap off unless --memory-swap); an app that "
      "goes over it is killed (exit 137)", opt_memory, "Resources", "Memory", false },
    { "memory-swap", "SIZE", "swap the container may use beyond --memory (default: none)", opt_memory_swap,
      "Resources", "MemorySwap", false },
    { "cpus", "N", "CPU time quota, in CPUs (0.1 = 10% of one CPU; also 10%)", opt_cpus, "Resources", "Cpus",
      false },
    { "cpu-weight", "1-10000", "CPU share against other groups when busy (default 100)", opt_cpu_weight,
      "Resources", "CpuWeight", false },
    { "io-weight", "1-10000", "block I/O share against other groups (default 100)", opt_io_weight, "Resources",
      "IoWeight", false },
    { "restart", "no|on-failure|always", "start: run Run= again when it exits (with a backoff; default no)",
      opt_restart, "Service", "Restart", false },
    { "log-size", "SIZE", "start: the service log is rotated at SIZE (default 1m; one old file kept)",
      opt_log_size, "Service", "LogSize", false },
    { "boot", NULL, "run the root's own init (systemd) as PID 1, like systemd-nspawn -b", opt_boot, "Container",
      "Boot", false },
    { "seccomp", "on|off", "the default seccomp filter (default: on)", opt_seccomp, "Security", "Seccomp", false },
    { "io-uring", "allow|deny", "let the seccomp filter allow io_uring (default: deny)", opt_io_uring, "Security",
      "IoUring", false },
    { "sound", "[pulseaudio|pipewire|alsa|none]",
      "sound through the host's server (alone: the host's own; default: none)", opt_sound, "Desktop", "Sound",
      false },
    { "microphone", "no|yes", "let the app record with --sound (default: no, playback only)", opt_microphone,
      "Desktop", "Microphone", false },
    { "display", "MODE", "x11 (untrusted cookie), x11-trusted, wayland, private (a nested Xephyr), none (default) "
      "or auto", opt_display, "Desktop", "Display", false },
    { "display-size", "WxH", "the window of --display private (default 1280x800)", opt_display_size, "Desktop",
      "DisplaySize", false },
    { "desktop-files", "yes|no", "with a display: the host's fonts, icons, cursor theme and time zone, read-only "
      "(default: yes)", opt_desktop_files, "Desktop", "HostFiles", false },
    { NULL, NULL, NULL, NULL, NULL, NULL, false },
};

const struct spec_option *spec_option_by_key(const char *section, const char *key)
{
    for (const struct spec_option *o = spec_options; o->name; o++)
        if (strcmp(o->section, section) == 0 && strcmp(o->key, key) == 0)
            return o;
    return NULL;
}

const struct spec_option *spec_option_find(const char *name)
{
    for (const struct spec_option *o = spec_options; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

int spec_option_apply(struct spec *s, const struct spec_option *opt,
                      const char *flag, const char *value, ab_error *err)
{
    if (opt->metavar && !value && !spec_option_value_optional(opt))
        return ab_usage(err, "%s: missing value (expected %s)", flag, opt->metavar);
    if (!opt->metavar && value)
        return ab_usage(err, "%s: takes no value (got '%s')", flag, value);
    return opt->apply(s, flag, value, err);
}

bool spec_option_value_word(const struct spec_option *o, const char *word)
{
    const char *metavar = o->metavar;
    if (!metavar)
        return false;
    size_t n = strlen(word);
    for (const char *p = metavar + (*metavar == '['); *p && *p != ']';) {
        size_t len = strcspn(p, "|]");
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p += len + (p[len] == '|');
    }
    return false;
}

int spec_option_take_value(const struct spec_option *opt, const char *flag, const char *eq, int argc, char **argv,
                           int *i, const char **value, ab_error *err)
{
    *value = NULL;
    if (opt->metavar) {
        if (eq)
            *value = eq;
        else if (spec_option_value_optional(opt)) {
            /* "[render|all]": the next word when it is one of those listed
             * (anything else is the command) */
            if (*i + 1 < argc && spec_option_value_word(opt, argv[*i + 1]))
                *value = argv[++*i];
        } else if (*i + 1 < argc)
            *value = argv[++*i];
        else
            return ab_usage(err, "%s: missing value (expected %s)", flag, opt->metavar);
    } else if (eq) {
        return ab_usage(err, "%s: takes no value (got '%s')", flag, eq);
    }
    return 0;
}

int spec_parse_args(struct spec *s, int argc, char **argv,
                    spec_unknown_fn unknown, void *ud, ab_error *err)
{
    return spec_parse_args_full(s, argc, argv, unknown, ud, NULL, NULL, false, err);
}

int spec_parse_args_full(struct spec *s, int argc, char **argv, spec_unknown_fn unknown, void *ud,
                         spec_record_fn record, void *rud, bool stop_at_command, ab_error *err)
{
    int i = 0;
    while (i < argc) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "-h") == 0 && unknown) {
            /* -h is --help, wherever --help is the verb's */
            int r = unknown(ud, "help", NULL, err);
            if (r < 0 && r != -ENOENT)
                return r;
            if (r != -ENOENT) {
                i++;
                continue;
            }
        }
        /* the one short option: podman's and docker's -p */
        bool short_publish = strcmp(a, "-p") == 0;
        if (a[1] != '-' && !short_publish)
            return ab_usage(err, "%s: unknown option (options are long, e.g. --bind; see --help)", a);
        char name[64];
        const char *eq = short_publish ? NULL : strchr(a + 2, '=');
        size_t nlen = short_publish ? strlen("publish") : eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (nlen == 0 || nlen >= sizeof(name))
            return ab_usage(err, "%s: unknown option (see --help)", a);
        memcpy(name, short_publish ? "publish" : a + 2, nlen);
        name[nlen] = '\0';
        char flag[72];
        snprintf(flag, sizeof(flag), short_publish ? "-p" : "--%s", name);

        const struct spec_option *o = spec_option_find(name);
        const char *alias_value = NULL;
        if (!o && (o = spec_option_alias_find(name, &alias_value)) != NULL) {
            /* a spelling of another option with its value (--gui) */
            if (eq)
                return ab_usage(err, "%s: takes no value (got '%s')", flag, eq + 1);
            int r = spec_option_apply(s, o, flag, alias_value, err);
            if (r < 0)
                return r;
            if (record && (r = record(rud, o, alias_value)) < 0)
                return ab_fail(err, -r, "cannot record %s", flag);
            i++;
            continue;
        }
        if (!o) {
            const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
            int r = unknown ? unknown(ud, name, val, err) : -ENOENT;
            if (r == -ENOENT)
                return ab_usage(err, "%s: unknown option (see --help)", flag);
            if (r < 0)
                return r;
            i += (r == 1 && !eq) ? 2 : 1;
            continue;
        }
        const char *value = NULL;
        int r = spec_option_take_value(o, flag, eq ? eq + 1 : NULL, argc, argv, &i, &value, err);
        if (r < 0)
            return r;
        r = spec_option_apply(s, o, flag, value, err);
        if (r < 0)
            return r;
        if (record && (r = record(rud, o, value)) < 0)
            return ab_fail(err, -r, "cannot record %s", flag);
        i++;
    }
    if (stop_at_command)
        return i;
    for (; i < argc; i++)
        if (strv_push(&s->process.argv, argv[i]) < 0)
            return ab_fail(err, ENOMEM, "cannot store the command");
    return 0;
}
