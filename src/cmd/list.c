/* list and show: what exists, and everything a container can reach. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/caps.h"
#include "cmd/cmd.h"
#include "container/container.h"
#include "runtime/identity.h"
#include "runtime/idmap.h"
#include "runtime/mounts.h"
#include "container/state.h"
#include "container/store.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

static char *launcher_of(const char *name)
{
    ab_error err;
    _cleanup_free_ char *record = store_path(name, "launcher", &err);
    char *p = record ? fs_read_file_at(AT_FDCWD, record, false, 8192) : NULL;
    if (p)
        p[strcspn(p, "\n")] = '\0';
    return p;
}

int cmd_list(int argc, char **argv)
{
    bool json = false;
    for (int i = 0; i < argc; i++) {
        if (cmd_is_help(argv[i])) {
            printf("Usage: appbox list [--json]\n\nEvery container: name, base, state, sessions, PID, launcher.\n");
            return 0;
        }
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else
            return cmd_usage_error("list", "'%s': unknown argument (allowed: --json)", argv[i]);
    }
    ab_error err = { 0 };
    strv names = { 0 };
    if (store_list(&names, &err) < 0)
        return cmd_report(&err);

    json_object *arr = json_object_new_array();
    if (!json)
        printf("%-20s %-28s %-8s %-8s %-8s %s\n", "NAME", "BASE", "STATE", "SESSIONS", "PID", "LAUNCHER");
    for (size_t i = 0; i < names.n; i++) {
        const char *n = names.v[i];
        struct container c;
        ab_error e2 = { 0 };
        int ok = container_open(n, &c, &e2) == 0;
        bool running = state_running(n);
        int sessions = running ? state_sessions(n) : 0;
        pid_t pid = running ? state_read_pid(n, "init.pid") : 0;
        _cleanup_free_ char *launcher = launcher_of(n);
        const char *base = ok ? c.cc.base : "(appbox.conf has an error)";
        if (json) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(n));
            json_object_object_add(o, "base", ok ? json_object_new_string(base) : NULL);
            json_object_object_add(o, "state", json_object_new_string(running ? "running" : "stopped"));
            json_object_object_add(o, "sessions", json_object_new_int(sessions));
            json_object_object_add(o, "pid", running && pid > 0 ? json_object_new_int(pid) : NULL);
            json_object_object_add(o, "launcher", launcher ? json_object_new_string(launcher) : NULL);
            if (!ok)
                json_object_object_add(o, "error", json_object_new_string(e2.msg));
            json_object_array_add(arr, o);
        } else {
            char pidbuf[16] = "-";
            if (running && pid > 0)
                snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
            printf("%-20s %-28s %-8s %-8d %-8s %s\n", n, base, running ? "running" : "stopped", sessions, pidbuf,
                   launcher ? launcher : "-");
        }
        container_close(&c);
    }
    if (json)
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(arr);
    strv_clear(&names);
    return 0;
}

static const char *mount_kind_name(enum mount_kind k)
{
    switch (k) {
    case MOUNT_BIND: return "rw";
    case MOUNT_RO_BIND: return "ro";
    case MOUNT_TMPFS: return "tmpfs";
    case MOUNT_DEVICE: return "device";
    }
    return "?";
}

int cmd_show(int argc, char **argv)
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
    if (container_open(name, &c, &err) < 0) {
        container_close(&c);
        return cmd_report(&err);
    }
    struct spec s;
    spec_init(&s);
    if (container_spec(&c, &c.conf, &s, &err) < 0) {
        container_close(&c);
        return cmd_report(&err);
    }
    struct identity id;
    identity_resolve(&s, &id, &err);
    struct idmap uids, gids;
    bool mapped = idmap_choose(&uids, &gids, id.caller_uid, id.caller_gid, id.caller_name, id.uid, id.gid, &err) == 0;
    char caps[1024];
    caps_format(caps_for_spec(&s, id.uid == 0), caps, sizeof(caps));
    bool running = state_running(name);
    char map[256] = "";
    if (mapped)
        idmap_format(&uids, map, sizeof(map));
    for (char *p = map; *p; p++)
        if (*p == '\n')
            *p = p[1] ? ';' : '\0';

    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "state", json_object_new_string(running ? "running" : "stopped"));
    json_object_object_add(o, "base", json_object_new_string(c.cc.base));
    json_object_object_add(o, "root", json_object_new_string(s.root ? s.root : "host view (read-only)"));
    json_object_object_add(o, "root_writable", json_object_new_boolean(s.root ? s.writable : false));
    json_object_object_add(o, "run", c.cc.run ? json_object_new_string(c.cc.run) : NULL);
    json_object *files = json_object_new_array();
    for (size_t i = 0; i < s.n_mounts; i++) {
        json_object *m = json_object_new_object();
        json_object_object_add(m, "mode", json_object_new_string(mount_kind_name(s.mounts[i].kind)));
        json_object_object_add(m, "source", s.mounts[i].src ? json_object_new_string(s.mounts[i].src) : NULL);
        json_object_object_add(m, "destination", json_object_new_string(s.mounts[i].dst));
        json_object_array_add(files, m);
    }
    json_object_object_add(o, "files", files);
    json_object_object_add(o, "network", json_object_new_string(net_mode_name(s.net)));
    json_object_object_add(o, "user", json_object_new_string(id.name));
    json_object_object_add(o, "uid", json_object_new_int((int)id.uid));
    json_object_object_add(o, "gid", json_object_new_int((int)id.gid));
    json_object_object_add(o, "uid_map", json_object_new_string(map));
    json_object_object_add(o, "capabilities", json_object_new_string(caps));
    json_object_object_add(o, "seccomp", json_object_new_string(s.seccomp ? "default filter" : "off"));
    json_object_object_add(o, "hostname", json_object_new_string(s.hostname ? s.hostname : "appbox"));

    if (json) {
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        printf("%s (%s)\n", name, running ? "running" : "stopped");
        printf("  base        %s\n", c.cc.base);
        printf("  root        %s%s\n", s.root ? s.root : "host view: /usr /bin /sbin /lib* /etc read-only",
               s.root ? (s.writable ? " (writable)" : " (read-only)") : "");
        printf("  run         %s\n", c.cc.run ? c.cc.run : "-");
        printf("  files       %s fresh and empty\n",
               s.root ? "/tmp and /run (where the root has them)" : "/tmp /run /var/tmp and home");
        for (size_t i = 0; i < s.n_mounts; i++) {
            const struct mount_entry *m = &s.mounts[i];
            if (m->kind == MOUNT_DEVICE)
                continue;
            printf("              %-6s %s%s%s\n", mount_kind_name(m->kind), m->src ? m->src : "", m->src ? " -> " : "",
                   m->dst);
        }
        printf("  devices     null zero full random urandom tty, own pts");
        for (size_t i = 0; i < s.n_mounts; i++)
            if (s.mounts[i].kind == MOUNT_DEVICE)
                printf(", %s", s.mounts[i].dst);
        printf("\n  network     %s\n", s.net == NET_NONE ? "none (only lo)" : "host (shares the host's network)");
        printf("  identity    %s (uid %u, gid %u); ids map %s\n", id.name, id.uid, id.gid, map);
        printf("  caps        %s\n", caps);
        printf("  seccomp     %s\n", s.seccomp ? "default filter" : "OFF");
        printf("  hostname    %s\n", s.hostname ? s.hostname : "appbox");
        printf("  config      %s\n", c.conf_path);
    }
    json_object_put(o);
    spec_free(&s);
    container_close(&c);
    return 0;
}
