/* list and show: what exists, and everything a container can reach. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup/cgroup.h"
#include "desktop/devices.h"
#include "desktop/display.h"
#include "desktop/hostfiles.h"
#include "runtime/caps.h"
#include "cmd/cmd.h"
#include "container/container.h"
#include "container/service.h"
#include "container/svclog.h"
#include "net/net.h"
#include "net/netopts.h"
#include "runtime/identity.h"
#include "runtime/idmap.h"
#include "runtime/resolve.h"
#include "spec/defaults.h"
#include "container/state.h"
#include "container/store.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

static char *launcher_of(struct ab_ctx *ctx, const char *name)
{
    ab_error err;
    _cleanup_free_ char *record = store_path(ctx, name, "launcher", &err);
    char *p = record ? fs_read_file_at(AT_FDCWD, record, false, 8192) : NULL;
    if (p)
        p[strcspn(p, "\n")] = '\0';
    return p;
}

#define NO_BASE "(appbox.conf has an error)"

/* KEY's value in LEASE (macvlan.lease's "key=value" lines), into BUF. */
static const char *lease_field(const char *lease, const char *key, char *buf, size_t n)
{
    size_t klen = strlen(key);
    for (const char *l = lease; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, key, klen) == 0 && l[klen] == '=') {
            snprintf(buf, n, "%.*s", (int)strcspn(l + klen + 1, "\n"), l + klen + 1);
            return buf;
        }
    return NULL;
}

static json_object *json_strv(const strv *v)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < v->n; i++)
        json_object_array_add(a, json_object_new_string(v->v[i]));
    return a;
}

#define JSON_STR_OR_NULL(x) ((x) ? json_object_new_string(x) : NULL)

static const char *str_field(json_object *o, const char *key, const char *none);

/* The service `start` runs (container/service.c), while the container
 * runs: its state, the command's pid, the last exit, restarts; NULL when
 * it runs none. */
static json_object *service_json(struct ab_ctx *ctx, const char *name, bool running)
{
    struct service_status st;
    if (!running || service_read_status(ctx, name, &st) < 0)
        return NULL;
    char since[SVCLOG_TIME_LEN], last[64];
    svclog_format_time(st.since, since);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "state", json_object_new_string(st.state));
    json_object_object_add(o, "pid", st.pid > 0 ? json_object_new_int(st.pid) : NULL);
    json_object_object_add(o, "since", json_object_new_string(since));
    json_object_object_add(o, "restarts", json_object_new_int(st.restarts));
    json_object_object_add(o, "last_status", st.last_status >= 0 ? json_object_new_int(st.last_status) : NULL);
    json_object_object_add(o, "last_exit", st.last_status >= 0 ? json_object_new_string(
                                                                  service_describe_status(st.last_status, last,
                                                                                          sizeof(last)))
                                                              : NULL);
    json_object_object_add(o, "restart", json_object_new_string(st.restart));
    return o;
}

/* The SERVICE column, one word: "-" (no service runs), its state, the
 * last status after an exit ("exited:1"), and the restarts ("running,3x"). */
static const char *service_column(json_object *o, char *buf, size_t size)
{
    json_object *svc = json_object_object_get(o, "service");
    if (!svc)
        return "-";
    const char *state = str_field(svc, "state", "?");
    json_object *last = json_object_object_get(svc, "last_status");
    int restarts = json_object_get_int(json_object_object_get(svc, "restarts"));
    int n = snprintf(buf, size, "%s", state);
    if (last && strcmp(state, "running") != 0 && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, ":%d", json_object_get_int(last));
    if (restarts > 0 && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ",%dx", restarts);
    return buf;
}

/* The BASE column: the base, "-" for remains, or why there is none. */
static const char *base_column(json_object *o)
{
    const char *state = str_field(o, "state", "");
    return strcmp(state, "remains") == 0 ? "-" : str_field(o, "base", NO_BASE);
}

static const char *str_field(json_object *o, const char *key, const char *none)
{
    json_object *v = json_object_object_get(o, key);
    return v ? json_object_get_string(v) : none;
}

int cmd_list(struct ab_ctx *ctx, int argc, char **argv)
{
    bool json = false, names_only = false;
    for (int i = 0; i < argc; i++) {
        if (cmd_is_help(argv[i])) {
            printf("Usage: appbox list [--json | --names]\n\nEvery container: name, base, state, sessions, PID, "
                   "service (its state, last status, restarts), launcher.\n--json: the same as JSON; --names: the names alone, one a line.\n");
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--names") == 0)
            names_only = true;
        else
            return cmd_usage_error("list", "'%s': unknown argument (allowed: --json, --names)", argv[i]);
    }
    if (json && names_only)
        return cmd_usage_error("list", "--json and --names: give one of them");
    ab_error err = { 0 };
    strv names = { 0 };
    if (store_list(ctx, &names, &err) < 0)
        return cmd_report(&err);
    if (names_only) {
        for (size_t i = 0; i < names.n; i++)
            printf("%s\n", names.v[i]);
        strv_clear(&names);
        return 0;
    }

    /* Every row first, as JSON: the table's columns are then as wide as
     * their longest entry. */
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < names.n; i++) {
        const char *n = names.v[i];
        struct container c;
        ab_error e2 = { 0 };
        int ok = container_open_to_join(ctx, n, &c, &e2) == 0;
        bool running = state_running(ctx, n);
        int sessions = running ? state_sessions(ctx, n) : 0;
        pid_t pid = running ? state_read_pid(ctx, n, "init.pid") : 0;
        _cleanup_free_ char *launcher = launcher_of(ctx, n);
        /* a launcher that stands for (or behind) another command of its name */
        _cleanup_free_ char *shadows = launcher && strrchr(launcher, '/')
                                           ? launcher_shadowed(strrchr(launcher, '/') + 1, launcher)
                                           : NULL;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(n));
        json_object_object_add(o, "base", ok ? json_object_new_string(c.cc.base) : NULL);
        json_object_object_add(o, "state", json_object_new_string(running ? "running" : "stopped"));
        json_object_object_add(o, "sessions", json_object_new_int(sessions));
        json_object_object_add(o, "pid", running && pid > 0 ? json_object_new_int(pid) : NULL);
        json_object_object_add(o, "service", service_json(ctx, n, running));
        json_object_object_add(o, "launcher", launcher ? json_object_new_string(launcher) : NULL);
        json_object_object_add(o, "launcher_shadows", shadows ? json_object_new_string(shadows) : NULL);
        /* the network: a running container's as its supervisor resolved
         * it (with its address), a stopped one's as appbox.conf says */
        struct spec rs = { 0 };
        ab_error e3 = { 0 };
        bool have = running ? container_running_spec(ctx, n, &rs, &e3) == 0
                            : ok && container_spec(&c, &c.conf, &rs, &e3) == 0;
        char mode[64];
        const struct spec_network *net = &rs.container.network;
        json_object_object_add(o, "network", have ? json_object_new_string(net_format_mode(&rs.container, mode,
                                                                                           sizeof(mode)))
                                                  : NULL);
        _cleanup_free_ char *lease = have && running && rs.container.net == NET_MACVLAN
                                         ? state_read_text(ctx, n, "macvlan.lease", 4096)
                                         : NULL;
        char leased[64];
        const char *addr = lease ? lease_field(lease, "address", leased, sizeof(leased)) : NULL;
        json_object_object_add(o, "address", have ? JSON_STR_OR_NULL(addr ? addr : net->addr) : NULL);
        json_object_object_add(o, "published", have ? json_strv(&net->publish) : NULL);
        spec_free(&rs);
        if (!ok)
            json_object_object_add(o, "error", json_object_new_string(e2.msg));
        json_object_array_add(arr, o);
        container_close(&c);
    }
    /* what is no container: an interrupted create's remains (or a create
     * under way), which only rm clears */
    strv remains = { 0 };
    if (store_list_remains(ctx, &remains, &err) == 0)
        for (size_t i = 0; i < remains.n; i++) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(remains.v[i]));
            json_object_object_add(o, "base", NULL);
            json_object_object_add(o, "state", json_object_new_string("remains"));
            json_object_object_add(o, "sessions", json_object_new_int(0));
            json_object_object_add(o, "pid", NULL);
            json_object_object_add(o, "service", NULL);
            json_object_object_add(o, "launcher", NULL);
            json_object_object_add(o, "launcher_shadows", NULL);
            json_object_object_add(o, "error", json_object_new_string(
                "no appbox.conf: the remains of an interrupted create (or one under way); appbox rm removes them"));
            json_object_array_add(arr, o);
        }
    strv_clear(&remains);
    if (json) {
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        size_t rows = json_object_array_length(arr);
        int wname = 4, wbase = 4;
        for (size_t i = 0; i < rows; i++) {
            json_object *o = json_object_array_get_idx(arr, i);
            int ln = (int)strlen(str_field(o, "name", "")), lb = (int)strlen(base_column(o));
            wname = ln > wname ? ln : wname;
            wbase = lb > wbase ? lb : wbase;
        }
        printf("%-*s  %-*s  %-8s %-8s %-8s %-14s %s\n", wname, "NAME", wbase, "BASE", "STATE", "SESSIONS", "PID",
               "SERVICE", "LAUNCHER");
        for (size_t i = 0; i < rows; i++) {
            json_object *o = json_object_array_get_idx(arr, i);
            const char *shadows = str_field(o, "launcher_shadows", NULL);
            bool is_remains = strcmp(str_field(o, "state", ""), "remains") == 0;
            char svc[48];
            printf("%-*s  %-*s  %-8s %-8d %-8s %-14s %s%s%s%s\n", wname, str_field(o, "name", ""), wbase,
                   base_column(o), str_field(o, "state", ""),
                   json_object_get_int(json_object_object_get(o, "sessions")), str_field(o, "pid", "-"),
                   service_column(o, svc, sizeof(svc)),
                   is_remains ? "- (an interrupted create? appbox rm removes it)" : str_field(o, "launcher", "-"),
                   shadows ? " (shadows " : "", shadows ? shadows : "", shadows ? ")" : "");
        }
    }
    json_object_put(arr);
    strv_clear(&names);
    return 0;
}

/* The filter a process gets, for show; OFF: the word when there is none. */
static const char *seccomp_name(const struct spec_process *p, const char *off)
{
    if (!p->seccomp)
        return off;
    return p->io_uring ? "default filter, io_uring allowed" : "default filter";
}

/* The network: the mode, how it is carried, the address, and what is
 * published, linked and allowed.  A stopped container's addresses are
 * allocated at start. */
/* LEASE: a running macvlan container's lease file, or NULL. */
static void print_network(const struct spec_container *sc, bool root_caller, const char *lease)
{
    const struct spec_network *n = &sc->network;
    char mode[64];
    net_format_mode(sc, mode, sizeof(mode));
    printf("  network     ");
    switch (sc->net) {
    case NET_NONE: printf("none (only lo)"); break;
    case NET_HOST: printf("host (shares the host's network)"); break;
    case NET_PASTA: printf("pasta (own namespace, user-mode networking)"); break;
    case NET_NAT:
        if (n->backend == NET_BACKEND_PASTA || n->backend == NET_BACKEND_SLIRP4NETNS || (!n->backend && !root_caller))
            printf("%s (user-mode NAT through %s; the host's loopback %s)", mode,
                   n->backend == NET_BACKEND_SLIRP4NETNS ? "slirp4netns" : "pasta",
                   n->allow_host_loopback ? "reachable (--allow-host-loopback)" : "out of reach");
        else
            printf("%s (a veth into bridge %s, NAT out; %s)", mode, n->bridge ? n->bridge : "appbox0/appboxN",
                   n->name ? "reaches the members of its network by name" : "alone on its network");
        break;
    case NET_MACVLAN:
        printf("%s (a MAC of its own on %s; address %s)", mode, n->iface ? n->iface : "the default route's interface",
               n->address ? "fixed" : "by DHCP");
        break;
    case NET_PROXY:
        printf("proxy (only lo; TCP out only to --allow destinations, through appbox's relay; DNS filtered)");
        break;
    }
    char addr[64], router[64], server[64], state[32], mac[32];
    if (lease && lease_field(lease, "address", addr, sizeof(addr))) {
        bool dhcp = lease_field(lease, "source", state, sizeof(state)) && strcmp(state, "dhcp") == 0;
        printf("\n              address %s", addr);
        if (lease_field(lease, "router", router, sizeof(router)) && *router)
            printf(" via %s", router);
        if (dhcp && lease_field(lease, "server", server, sizeof(server)))
            printf(" (DHCP from %s, %s)", server,
                   lease_field(lease, "state", state, sizeof(state)) ? state : "?");
        if (lease_field(lease, "mac", mac, sizeof(mac)))
            printf(", MAC %s", mac);
    } else if (n->addr)
        printf("\n              address %s%s%s", n->addr, n->gateway ? " via " : "", n->gateway ? n->gateway : "");
    else if (n->address)
        printf("\n              address %s", n->address);
    if (n->dns)
        printf("\n              DNS %s%s", n->dns, strcmp(n->dns, NET_DNS_ADDR) == 0 ? " (appbox's)" : "");
    for (size_t i = 0; i < n->publish.n; i++) {
        struct net_port p;
        ab_error e;
        if (net_parse_publish("", n->publish.v[i], &p, &e) == 0)
            printf("\n              published %s:%u -> %u/%s", inet_ntoa(p.host_ip), p.host_port, p.port,
                   p.proto == IPPROTO_UDP ? "udp" : "tcp");
    }
    for (size_t i = 0; i < n->links.n; i++) {
        struct net_link l;
        ab_error e;
        if (net_parse_link("", n->links.v[i], &l, &e) == 0)
            printf("\n              link %s:%u -> 127.0.0.1:%u", l.other, l.port, l.local_port);
    }
    if (n->allow.n) {
        printf("\n              allow");
        for (size_t i = 0; i < n->allow.n; i++)
            printf("%s %s", i ? "," : "", n->allow.v[i]);
    }
    printf("\n");
}

/* The same as an object: "network_detail" in `show --json` ("network" is the mode). */
static json_object *network_json(const struct spec_container *sc, const char *lease)
{
    const struct spec_network *n = &sc->network;
    char leased[64];
    const char *have = lease ? lease_field(lease, "address", leased, sizeof(leased)) : NULL;
    static const char *const backends[] = { [NET_BACKEND_NONE] = NULL, [NET_BACKEND_BRIDGE] = "bridge",
                                            [NET_BACKEND_PASTA] = "pasta", [NET_BACKEND_SLIRP4NETNS] = "slirp4netns" };
    json_object *o = json_object_new_object();
    json_object_object_add(o, "mode", json_object_new_string(net_mode_name(sc->net)));
    json_object_object_add(o, "name", JSON_STR_OR_NULL(n->name));
    json_object_object_add(o, "interface", JSON_STR_OR_NULL(n->iface));
    json_object_object_add(o, "backend", JSON_STR_OR_NULL(n->backend >= 0 && (size_t)n->backend < ARRAY_SIZE(backends)
                                                              ? backends[n->backend] : NULL));
    json_object_object_add(o, "address", JSON_STR_OR_NULL(have ? have : n->addr ? n->addr : n->address));
    json_object_object_add(o, "gateway", JSON_STR_OR_NULL(n->gateway));
    json_object_object_add(o, "bridge", JSON_STR_OR_NULL(n->bridge));
    json_object_object_add(o, "subnet", JSON_STR_OR_NULL(n->subnet));
    json_object_object_add(o, "dns", JSON_STR_OR_NULL(n->dns));
    json_object_object_add(o, "allow_host_loopback", json_object_new_boolean(n->allow_host_loopback));
    json_object_object_add(o, "published", json_strv(&n->publish));
    json_object_object_add(o, "links", json_strv(&n->links));
    json_object_object_add(o, "allow", json_strv(&n->allow));
    return o;
}

/* The sound line: the mode, where it goes, and what the app may do. */
static void print_sound(const struct spec_container *sc)
{
    const char *mic = sc->microphone ? "playback and recording (--microphone yes)" : "playback only";
    switch (sc->sound) {
    case SOUND_NONE: printf("  sound       none\n"); break;
    case SOUND_HOST: printf("  sound       the host's server, found at start; %s\n", mic); break;
    case SOUND_PULSEAUDIO:
        printf("  sound       pulseaudio through appbox's proxy%s%s; %s\n", sc->sound_server ? " to " : "",
               sc->sound_server ? sc->sound_server : "", mic);
        break;
    case SOUND_PIPEWIRE:
        printf("  sound       pipewire: the socket %s bound; playback and recording\n",
               sc->sound_server ? sc->sound_server : "of the host's server");
        break;
    case SOUND_ALSA:
        printf("  sound       alsa: /dev/snd nodes%s\n", sc->microphone ? " (capture too)" : " but the capture PCMs");
        break;
    }
}

int cmd_show(struct ab_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (cmd_is_help(argv[i])) {
            printf("Usage: appbox show NAME [--json]\n\nEverything the container's app can reach: files, devices,\n"
                   "network, identity, capabilities, seccomp.\n");
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (argv[i][0] == '-')
            return cmd_usage_error("show", "%s: unknown option (allowed: --json)", argv[i]);
        else if (!name)
            name = argv[i];
        else
            return cmd_usage_error("show", "unexpected argument '%s'", argv[i]);
    }
    if (!name)
        return cmd_usage_error("show", "missing NAME (usage: appbox show NAME [--json])");
    struct container c;
    ab_error err = { 0 };
    /* A running container is shown as it runs (the spec its supervisor
     * keeps: appbox.conf only for its Base= and Run=, and a bound folder
     * removed since the start changes nothing); a stopped one as it would
     * start, resolved the same way. */
    if (container_open_to_join(ctx, name, &c, &err) < 0) {
        container_close(&c);
        return cmd_report(&err);
    }
    bool running = state_running(ctx, name);
    struct spec s;
    int r = running ? container_running_spec(ctx, name, &s, &err) : container_spec(&c, &c.conf, &s, &err);
    /* limits this caller cannot enforce (no delegated cgroup): shown,
     * with the reason a start gives, rather than refused here */
    struct spec_resources asked = { 0 };
    ab_error refused = { 0 };
    if (r == 0 && !running) {
        asked = s.container.resources;
        memset(&s.container.resources, 0, sizeof(s.container.resources));
    }
    if (r == 0)
        r = spec_resolve(&s, &err);
    if (r == 0 && !running) {
        s.container.resources = asked;
        strv kept = s.container.cgroups;
        memset(&s.container.cgroups, 0, sizeof(kept));
        if (cgroup_resolve(&s, &refused) == 0)
            refused.msg[0] = '\0';
        strv_clear(&s.container.cgroups);
        s.container.cgroups = kept;
    }
    if (r < 0) {
        spec_free(&s);
        container_close(&c);
        return cmd_report(&err);
    }
    const struct spec_container *sc = &s.container;
    const struct spec_user *id = &s.process.user;
    char caps[1024];
    caps_format(caps_for_spec(&s, id->uid == 0), caps, sizeof(caps));
    char map[256] = "";
    idmap_format(&sc->uid_map, map, sizeof(map));
    for (char *p = map; *p; p++)
        if (*p == '\n')
            *p = p[1] ? ';' : '\0';

    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "state", json_object_new_string(running ? "running" : "stopped"));
    json_object_object_add(o, "base", json_object_new_string(c.cc.base));
    json_object_object_add(o, "root", json_object_new_string(sc->root ? sc->root : "host view (read-only)"));
    json_object_object_add(o, "root_writable", json_object_new_boolean(sc->root ? sc->writable : false));
    json_object_object_add(o, "root_base", sc->root_lower ? json_object_new_string(sc->root_lower) : NULL);
    json_object_object_add(o, "run", c.cc.run ? json_object_new_string(c.cc.run) : NULL);
    json_object_object_add(o, "boot", json_object_new_boolean(sc->init == SPEC_INIT_BOOT));
    json_object *service = service_json(ctx, name, running);
    json_object_object_add(o, "service", service ? json_object_get(service) : NULL);
    json_object_object_add(o, "restart", json_object_new_string(spec_restart_name(s.container.restart)));
    json_object_object_add(o, "log_size", json_object_new_uint64(s.container.log_size));
    json_object *files = json_object_new_array();
    for (size_t i = 0; i < sc->n_mounts; i++) {
        const struct spec_mount *sm = &sc->mounts[i];
        json_object *m = json_object_new_object();
        json_object_object_add(m, "mode", json_object_new_string(spec_mount_mode_name(sm)));
        json_object_object_add(m, "source", sm->source ? json_object_new_string(sm->source) : NULL);
        json_object_object_add(m, "destination", json_object_new_string(sm->destination));
        json_object_array_add(files, m);
    }
    json_object_object_add(o, "files", files);
    char mode[64];
    json_object_object_add(o, "network", json_object_new_string(net_format_mode(sc, mode, sizeof(mode))));
    /* a running macvlan container's address is its DHCP lease's */
    _cleanup_free_ char *lease = running && sc->net == NET_MACVLAN ? state_read_text(ctx, name, "macvlan.lease", 4096)
                                                                   : NULL;
    json_object_object_add(o, "network_detail", network_json(sc, lease));
    json_object_object_add(o, "user", json_object_new_string(id->name));
    json_object_object_add(o, "uid", json_object_new_int((int)id->uid));
    json_object_object_add(o, "gid", json_object_new_int((int)id->gid));
    json_object_object_add(o, "uid_map", json_object_new_string(map));
    json_object_object_add(o, "capabilities", json_object_new_string(caps));
    json_object_object_add(o, "seccomp", json_object_new_string(seccomp_name(&s.process, "off")));
    json_object_object_add(o, "hostname", json_object_new_string(sc->hostname));
    json_object_object_add(o, "tmpfs_size", json_object_new_uint64(sc->tmpfs_size));
    json_object_object_add(o, "pids_limit", json_object_new_uint64(sc->pids_limit));
    /* resources (issue 13): the limits as given (null: none) and what enforces them */
    char res_how[512];
    const struct spec_resources *rs_ = &sc->resources;
    json_object_object_add(o, "memory", rs_->memory ? json_object_new_uint64(rs_->memory) : NULL);
    json_object_object_add(o, "memory_swap", rs_->memory ? json_object_new_uint64(rs_->memory_swap) : NULL);
    json_object_object_add(o, "cpus", rs_->cpu_quota ? json_object_new_double(rs_->cpu_quota / 1000.0) : NULL);
    json_object_object_add(o, "cpu_weight", rs_->cpu_weight ? json_object_new_int((int)rs_->cpu_weight) : NULL);
    json_object_object_add(o, "io_weight", rs_->io_weight ? json_object_new_int((int)rs_->io_weight) : NULL);
    strv no_groups = { 0 }; /* a stopped container's are only names */
    json_object_object_add(o, "cgroups", json_strv(running ? &sc->cgroups : &no_groups));
    json_object_object_add(o, "limits_enforced_by", json_object_new_string(cgroup_enforcement(&s, res_how, sizeof(res_how))));
    json_object_object_add(o, "limits_refused", refused.msg[0] ? json_object_new_string(refused.msg) : NULL);
    json_object_object_add(o, "sound", json_object_new_string(sound_mode_name(sc->sound)));
    json_object_object_add(o, "microphone", json_object_new_boolean(sc->sound != SOUND_NONE && sc->microphone));
    json_object_object_add(o, "sound_server", sc->sound_server ? json_object_new_string(sc->sound_server) : NULL);
    json_object *devices = json_object_new_array();
    for (size_t i = 0; i < sc->devices.n; i++)
        json_object_array_add(devices, json_object_new_string(sc->devices.v[i]));
    json_object_object_add(o, "devices", devices);
    /* devices (desktop/devices.c): the granted nodes with their access */
    json_object *granted = json_object_new_array();
    for (size_t i = 0; i < sc->n_mounts; i++)
        if (spec_mount_is_device(&sc->mounts[i])) {
            char acc[4];
            json_object *g = json_object_new_object();
            json_object_object_add(g, "path", json_object_new_string(sc->mounts[i].destination));
            json_object_object_add(g, "access", json_object_new_string(cgroup_access_name(
                                                    sc->mounts[i].dev_access ? sc->mounts[i].dev_access : DEV_ACCESS_ALL, acc)));
            json_object_array_add(granted, g);
        }
    json_object_object_add(o, "devices_granted", granted);
    json_object_object_add(o, "gpu", json_object_new_string(sc->gpu == SPEC_GPU_ALL      ? "all"
                                                            : sc->gpu == SPEC_GPU_RENDER ? "render"
                                                                                         : "none"));
    json_object_object_add(o, "webcam", json_object_new_boolean(sc->webcam));
    json_object_object_add(o, "device_access", json_object_new_string(devices_enforcement(&s)));
    json_object_object_add(o, "display", json_object_new_string(display_mode_name(sc->display.mode)));
    json_object_object_add(o, "host_files", json_object_new_boolean(sc->display.mode != DISPLAY_NONE &&
                                                                      !sc->no_host_files));
    if (sc->display.mode == DISPLAY_PRIVATE) {
        char size[32];
        snprintf(size, sizeof(size), "%dx%d", sc->display.width, sc->display.height);
        json_object_object_add(o, "display_size", json_object_new_string(size));
    }
    json_object *masked = json_object_new_array();
    for (size_t i = 0; i < sc->masked_paths.n; i++)
        json_object_array_add(masked, json_object_new_string(sc->masked_paths.v[i]));
    json_object_object_add(o, "masked_paths", masked);

    if (json) {
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        printf("%s (%s)\n", name, running ? "running" : "stopped");
        printf("  base        %s\n", c.cc.base);
        printf("  root        %s%s\n", sc->root ? sc->root : "host view: /usr /bin /sbin /lib* /etc read-only",
               sc->root ? (sc->writable ? " (writable)" : " (read-only)") : "");
        if (sc->root_lower)
            printf("  base        %s (shared, read-only; the container's changes are in the layer above)\n",
                   sc->root_lower);
        printf("  run         %s\n", c.cc.run ? c.cc.run : "-");
        if (service) {
            /* as service.state says it (container/service.c) */
            json_object *pid = json_object_object_get(service, "pid"), *last = json_object_object_get(service, "last_exit");
            printf("  service     %s%s%.0d%s since %s; restarts %d%s%s; restart %s\n", str_field(service, "state", ""),
                   pid ? " (pid " : "", pid ? json_object_get_int(pid) : 0, pid ? ")" : "",
                   str_field(service, "since", ""), json_object_get_int(json_object_object_get(service, "restarts")),
                   last ? "; last " : "", last ? json_object_get_string(last) : "", str_field(service, "restart", ""));
        } else if (c.cc.run) {
            printf("  service     %s (appbox start runs Run= in the background; restart %s)\n",
                   running ? "none (started by a session)" : "not running", spec_restart_name(s.container.restart));
        }
        printf("  files       %s fresh and empty\n",
               sc->root ? "/tmp and /run (where the root has them)" : "/tmp /run /var/tmp and home");
        for (size_t i = 0; i < sc->n_mounts; i++) {
            const struct spec_mount *m = &sc->mounts[i];
            if (spec_mount_is_device(m))
                continue;
            printf("              %-6s %s%s%s\n", spec_mount_mode_name(m), m->source ? m->source : "",
                   m->source ? " -> " : "", m->destination);
        }
        printf("  devices    ");
        for (size_t i = 0; i < sc->devices.n; i++)
            printf(" %s", sc->devices.v[i] + (strncmp(sc->devices.v[i], "/dev/", 5) == 0 ? 5 : 0));
        printf(", own pts");
        for (size_t i = 0; i < sc->n_mounts; i++)
            if (spec_mount_is_device(&sc->mounts[i])) {
                char acc[4];
                unsigned a = sc->mounts[i].dev_access ? sc->mounts[i].dev_access : DEV_ACCESS_ALL;
                printf(", %s%s%s", sc->mounts[i].destination, a == DEV_ACCESS_ALL ? "" : ":",
                       a == DEV_ACCESS_ALL ? "" : cgroup_access_name(a, acc));
            }
        if (sc->gpu != SPEC_GPU_NONE || sc->webcam)
            printf("\n              %s%s%s", sc->gpu == SPEC_GPU_ALL ? "GPU: every DRM node and NVIDIA's"
                                            : sc->gpu == SPEC_GPU_RENDER ? "GPU: render nodes and NVIDIA's" : "",
                   sc->gpu != SPEC_GPU_NONE && sc->webcam ? "; " : "", sc->webcam ? "webcam: /dev/video*" : "");
        printf("\n              access: %s", devices_enforcement(&s));
        printf("\n");
        print_network(sc, id->caller_uid == 0, lease);
        print_sound(sc);
        char display[256];
        printf("  display     %s\n", display_describe(&sc->display, display, sizeof(display)));
        printf("  host files  %s\n", hostfiles_describe(sc, display, sizeof(display)));
        printf("  masked      %zu paths of /proc and /sys hidden, %zu read-only\n", sc->masked_paths.n,
               sc->readonly_paths.n);
        printf("  limits      %llu processes; each tmpfs %llu MiB (/run %llu MiB)\n",
               (unsigned long long)sc->pids_limit, (unsigned long long)(sc->tmpfs_size >> 20),
               (unsigned long long)((sc->tmpfs_size < SPEC_RUN_TMPFS_SIZE ? sc->tmpfs_size : SPEC_RUN_TMPFS_SIZE) >> 20));
        char m1[32], m2[32];
        printf("  resources   memory %s", rs_->memory ? cgroup_format_bytes(rs_->memory, m1, sizeof(m1)) : "no limit");
        if (rs_->memory)
            printf(" (swap %s)", rs_->memory_swap ? cgroup_format_bytes(rs_->memory_swap, m2, sizeof(m2)) : "none");
        if (rs_->cpu_quota)
            printf(", cpus %g", rs_->cpu_quota / 1000.0);
        if (rs_->cpu_weight)
            printf(", cpu weight %u", rs_->cpu_weight);
        if (rs_->io_weight)
            printf(", io weight %u", rs_->io_weight);
        printf(", pids %llu\n              through: %s\n", (unsigned long long)sc->pids_limit, res_how);
        if (refused.msg[0])
            printf("              a start is refused: %s\n", refused.msg);
        printf("  identity    %s (uid %u, gid %u); ids map %s\n", id->name, id->uid, id->gid, map);
        if (sc->init == SPEC_INIT_BOOT)
            printf("  init        the root's /sbin/init (--boot), as the container's root: systemd-nspawn's\n"
                   "              capability bounding set, the filter's boot variant (mounts allowed), no\n"
                   "              no_new_privs; stopped with SIGRTMIN+3.  Sessions get what follows:\n");
        printf("  caps        %s\n", caps);
        printf("  seccomp     %s\n", seccomp_name(&s.process, "OFF"));
        printf("  hostname    %s\n", sc->hostname);
        printf("  config      %s\n", c.conf_path);
    }
    json_object_put(o);
    json_object_put(service);
    spec_free(&s);
    container_close(&c);
    return 0;
}
