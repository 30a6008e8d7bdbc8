#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "container/bases.h"
#include "container/config.h"
#include "container/container.h"
#include "runtime/identity.h"
#include "runtime/idmap.h"
#include "runtime/resolve.h"
#include "image/apt.h"
#include "image/bootstrap.h"
#include "image/image.h"
#include "spec/options.h"
#include "container/pins.h"
#include "container/state.h"
#include "container/store.h"
#include "util/cleanup.h"
#include "util/fsutil.h"
#include "util/interrupt.h"

struct create_args {
    struct conf *conf;
    const char *base;
    const char *run;
    const char *as;
    const char *mirror;
    const char *variant;
    const char *user_home;
    strv packages;
    strv debs;
    int no_launcher;
    int launcher_replaces;
    int verbose;
    int help;
};

static void create_usage(FILE *f)
{
    fprintf(f, "Usage: appbox create NAME [--base BASE] [OPTIONS] [--run CMD] [--no-launcher] [--as CMD]\n"
               "\nMake a named container: its appbox.conf, its root file system (a copy of PATH,\n"
               "or the host view with a home of its own) and a launcher ~/.local/bin/NAME.\n"
               "\nOptions (as for appbox sandbox, each becomes a key of appbox.conf):\n");
    cmd_print_spec_options(f, true);
    fprintf(f, "  %-24s %s\n", "--base BASE", "root file system: host (the host view, default), dir:PATH (a copy),");
    fprintf(f, "  %-24s %s\n", "", "tar:FILE, oci:DIR[:TAG] or docker-archive:FILE[:TAG] (an image),");
    fprintf(f, "  %-24s %s\n", "", "debian:SUITE or ubuntu:SUITE (bootstrapped once, then cached)");
    fprintf(f, "  %-24s %s\n", "--mirror URL", "the Debian/Ubuntu mirror to bootstrap from");
    fprintf(f, "  %-24s %s\n", "--variant V", "the mmdebstrap variant (default: minbase)");
    fprintf(f, "  %-24s %s\n", "--packages A,B,...", "install these packages (Debian/Ubuntu roots)");
    fprintf(f, "  %-24s %s\n", "--deb FILE", "install this local .deb, with its dependencies (repeatable)");
    fprintf(f, "  %-24s %s\n", "--user-home H", "private (default: a home of its own), host (bind your home)");
    fprintf(f, "  %-24s %s\n", "", "or PATH (bind that folder as the home)");
    fprintf(f, "  %-24s %s\n", "--verbose", "show the output of mmdebstrap and apt");
    fprintf(f, "  %-24s %s\n", "--run CMD", "the command `appbox run NAME` runs (a command line)");
    fprintf(f, "  %-24s %s\n", "--no-launcher", "do not install ~/.local/bin/NAME");
    fprintf(f, "  %-24s %s\n", "--as CMD", "name the launcher CMD instead of NAME");
    fprintf(f, "  %-24s %s\n", "--launcher-replaces", "install the launcher even though its name is already a");
    fprintf(f, "  %-24s %s\n", "", "command on your PATH (refused otherwise)");
}

static int create_unknown(void *ud, const char *name, const char *value, ab_error *err)
{
    struct create_args *a = ud;
    if (strcmp(name, "help") == 0) {
        a->help = 1;
        return 0;
    }
    if (strcmp(name, "no-launcher") == 0) {
        a->no_launcher = 1;
        return 0;
    }
    if (strcmp(name, "launcher-replaces") == 0) {
        a->launcher_replaces = 1;
        return 0;
    }
    if (strcmp(name, "verbose") == 0) {
        a->verbose = 1;
        return 0;
    }
    if (strcmp(name, "packages") == 0 || strcmp(name, "deb") == 0) {
        if (!value || !*value)
            return ab_usage(err, "--%s: missing value (expected %s)", name,
                            name[0] == 'p' ? "a comma-separated list of packages" : "a .deb file");
        if (name[0] == 'd') {
            char *abs = realpath(value, NULL);
            size_t len = strlen(value);
            if (!abs || access(abs, R_OK) < 0 || len < 4 || strcmp(value + len - 4, ".deb") != 0) {
                int e = errno;
                free(abs);
                return ab_usage(err, "--deb: '%s': %s (expected a readable .deb file)", value,
                                len < 4 || strcmp(value + len - 4, ".deb") ? "not a .deb file" : strerror(e));
            }
            strv_push_take(&a->debs, abs);
            return 1;
        }
        _cleanup_free_ char *list = strdup(value);
        char *save = NULL;
        for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            /* Debian's rule: a name starts with a letter or digit, so none
             * looks like an option to apt-get (--allow-unauthenticated);
             * apt_install() puts "--" before them as well. */
            bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9');
            for (const char *c = p; ok && *c; c++)
                ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("+-.:=~", *c);
            if (!ok)
                return ab_usage(err, "--packages: '%s' is not a package name (lower-case letters, digits, + - . : = ~; "
                                     "starting with a letter or digit)", p);
            strv_push(&a->packages, p);
        }
        return 1;
    }
    const char **slot = strcmp(name, "base") == 0      ? &a->base
                        : strcmp(name, "run") == 0     ? &a->run
                        : strcmp(name, "as") == 0      ? &a->as
                        : strcmp(name, "mirror") == 0  ? &a->mirror
                        : strcmp(name, "variant") == 0 ? &a->variant
                        : strcmp(name, "user-home") == 0 ? &a->user_home
                                                       : NULL;
    if (!slot)
        return -ENOENT;
    if (!value)
        return ab_usage(err, "--%s: missing value", name);
    *slot = value;
    return 1;
}

static int record(void *ud, const struct spec_option *o, const char *value)
{
    return conf_add(ud, o->section, o->key, value ? value : "yes", 0);
}

/* In the new root: the user's home, and their passwd and group entries
 * (with their login shell when the root has it), written into the root so
 * that tools inside (adduser, apt) see one ordinary /etc/passwd.
 * $1 uid $2 gid $3 home $4 name $5 group $6 shell */
#define USER_SETUP USER_SETUP_IN("/mnt/rootfs")
#define USER_SETUP_IN(root)                                                                                 \
    "r=" root " && mkdir -p \"$r$3\" && chown \"$1:$2\" \"$r$3\" && "                                         \
    "{ sh=$6; [ -x \"$r$sh\" ] || sh=/bin/sh; } && "                                                                 \
    "if [ -f $r/etc/passwd ] && [ ! -L $r/etc/passwd ] && ! grep -q \"^$4:\" $r/etc/passwd; then "             \
    "echo \"$4:x:$1:$2:$4:$3:$sh\" >> $r/etc/passwd; fi && "                                                  \
    "if [ -f $r/etc/group ] && [ ! -L $r/etc/group ] && ! grep -q \"^$5:\" $r/etc/group; then "                \
    "echo \"$5:x:$2:\" >> $r/etc/group; fi"

/* --packages/--deb into ROOT (over LOWER, when it is a layer). */
static int install_packages(struct ab_ctx *ctx, const char *name, const char *base, const char *root, const char *lower,
                            const struct create_args *a, ab_error *err)
{
    if (!a->packages.n && !a->debs.n)
        return 0;
    if (!apt_present(lower ? lower : root))
        return ab_error_set(err, AB_ERR_USAGE, 0, "--packages/--deb: %s is not a Debian/Ubuntu root (no apt-get)",
                            base);
    _cleanup_free_ char *log = container_log_path(ctx, name, "create", err);
    if (!log)
        return -ENOMEM;
    if (!a->verbose && isatty(STDERR_FILENO))
        fprintf(stderr, "appbox: installing %zu package(s) and %zu .deb file(s); log: %s\n", a->packages.n,
                a->debs.n, log);
    return apt_install(ctx, root, lower, &a->packages, &a->debs, log, a->verbose, err);
}

/* A container of a cached Debian/Ubuntu base: the base is unpacked once
 * into the store (bases.h) and the container gets only a layer of its own,
 * NAME/layer/upper and work, made by the container's root (the overlay's
 * root directory is upper's: root's, 0755).  NAME/base records the base
 * before anything else, so that nothing removes it while the create runs. */
static int make_layered(struct ab_ctx *ctx, const char *name, const char *dir, const char *base,
                        const struct image_ref *image, const struct create_args *a, const struct spec_user *id,
                        const char *uid, const char *gid, ab_error *err)
{
    _cleanup_free_ char *bid = bases_id(ctx, image->path, err);
    _cleanup_free_ char *note = NULL, *layer = NULL, *lower = NULL;
    if (!bid)
        return -EIO;
    if (asprintf(&note, "%s/base", dir) < 0 || asprintf(&layer, "%s/layer", dir) < 0 || !(lower = bases_root(ctx, bid, err)))
        return ab_fail(err, ENOMEM, "out of memory");
    _cleanup_close_ int lock = -1;
    _cleanup_free_ char *line = NULL;
    int r = asprintf(&line, "%s\n", bid) < 0 ? -ENOMEM : 0;
    bool tty = !a->verbose && isatty(STDERR_FILENO);
    if (r == 0 && tty)
        fprintf(stderr, "\r\033[Kappbox: creating %s: preparing the shared base %s", name, bid);
    if (r == 0)
        r = bases_prepare(ctx, image, bid, &lock, err);
    if (tty)
        fprintf(stderr, "\r\033[K");
    _cleanup_close_ int fd = r == 0 ? open(note, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600) : -1;
    if (r == 0 && (fd < 0 || write(fd, line, strlen(line)) != (ssize_t)strlen(line)))
        r = ab_fail(err, errno, "cannot write %s", note);
    if (r < 0)
        return r;
    close(take_fd(&lock)); /* recorded: the base is ours now */
    char *const mk[] = { "sh", "-c", "mkdir -m 0755 /mnt/layer /mnt/layer/upper /mnt/layer/work", NULL };
    if ((r = container_run_as_root(ctx, dir, NULL, mk, err)) < 0)
        return ab_error_prefix(err, "cannot create %s", layer);
    char *const home[] = { "sh", "-c", USER_SETUP_IN(""), "sh", (char *)uid, (char *)gid, (char *)id->home,
                           (char *)id->name, (char *)id->group, (char *)id->shell, NULL };
    if ((r = container_run_in_root(ctx, layer, lower, home, err)) < 0)
        return r;
    return install_packages(ctx, name, base, layer, lower, a, err);
}

void cmd_warn_root_rw_binds(struct ab_ctx *ctx, const struct spec *s)
{
    if (getuid() != 0)
        return;
    /* The ids the container's user has on the host, as a start will map
     * them (a resolved spec has its maps; an unresolved one gets them
     * chosen the same way). */
    struct spec_user id = s->process.user;
    struct spec_idmap um = s->container.uid_map, gm = s->container.gid_map;
    ab_error err = { 0 };
    if (!s->container.resolved &&
        (identity_resolve(s, &id, &err) < 0 ||
         idmap_choose(&um, &gm, id.caller_uid, id.caller_gid, id.caller_name, id.uid, id.gid, &err) < 0))
        return;
    uint32_t hu = idmap_outside(&um, id.uid), hg = idmap_outside(&gm, id.gid);
    if (hu == UINT32_MAX || hg == UINT32_MAX)
        return;
    _cleanup_free_ char *real_data = ctx && ctx->data_dir ? realpath(ctx->data_dir, NULL) : NULL;
    for (size_t i = 0; i < s->container.n_mounts; i++) {
        const struct spec_mount *m = &s->container.mounts[i];
        struct stat st;
        if (m->type != MOUNT_TYPE_BIND || (m->options & MOUNT_RO) || spec_mount_is_device(m) || !m->source)
            continue;
        /* trees in appbox's own store are idmapped: the container writes them */
        if (real_data && fs_path_within(m->source, real_data))
            continue;
        /* already the container user's, or anyone's to write */
        if (stat(m->source, &st) < 0 || st.st_uid == hu || (S_ISDIR(st.st_mode) && (st.st_mode & 0002)))
            continue;
        fprintf(stderr, "appbox: warning: %s %s: the container cannot write it: as root, a read-write bind is "
                        "bound as it is, not idmapped (see \"Read-write binds as root\" in docs/security.md), "
                        "and its files are not those of the container's %s (host uid %u)\n",
                m->origin ? m->origin : "--bind", m->given ? m->given : m->source, id.name, hu);
        /* A chown of a whole top-level folder (/root, /home, /etc) would
         * hand the host's files to the container: no command for those. */
        const char *slash = strchr(m->source + 1, '/');
        if (strcmp(m->source, "/") == 0 || !slash)
            fprintf(stderr, "appbox: warning: to let it write, bind a folder of its own instead of %s\n",
                    m->source);
        else
            fprintf(stderr, "appbox: warning: to let it write there, give the folder to the container's %s: "
                            "chown -R %u:%u '%s'\n", id.name, hu, hg, m->source);
    }
}

static int make_rootfs(struct ab_ctx *ctx, const char *name, const char *dir, const char *base, const struct image_ref *image,
                       const struct create_args *a, const struct spec *s, ab_error *err)
{
    struct spec_user id;
    identity_resolve(s, &id, err);
    char uid[16], gid[16];
    snprintf(uid, sizeof(uid), "%u", id.uid);
    snprintf(gid, sizeof(gid), "%u", id.gid);
    if (strcmp(base, "host") == 0) {
        char *const argv[] = { "sh", "-c", "mkdir -m 0700 /mnt/home && chown \"$1:$2\" /mnt/home", "sh", uid, gid,
                               NULL };
        return container_run_as_root(ctx, dir, NULL, argv, err);
    }
    if (image->kind == IMAGE_BOOTSTRAP_TAR)
        return make_layered(ctx, name, dir, base, image, a, &id, uid, gid, err);
    if (image->kind != IMAGE_NONE) {
        _cleanup_free_ char *rootfs = NULL;
        if (asprintf(&rootfs, "%s/rootfs", dir) < 0)
            return ab_fail(err, ENOMEM, "out of memory");
        if (mkdir(rootfs, 0755) < 0)
            return ab_fail(err, errno, "cannot create %s", rootfs);
        bool tty = !a->verbose && isatty(STDERR_FILENO);
        if (tty)
            fprintf(stderr, "\r\033[Kappbox: creating %s: unpacking %s", name, base);
        int r = image_import(ctx, image, rootfs, err);
        if (tty)
            fprintf(stderr, "\r\033[K");
        if (r < 0)
            return r;
        char *const home[] = { "sh", "-c", USER_SETUP, "sh", uid, gid, id.home, id.name, id.group, id.shell, NULL };
        if ((r = container_run_as_root(ctx, dir, NULL, home, err)) < 0)
            return r;
        return install_packages(ctx, name, base, rootfs, NULL, a, err);
    }
    /* A copy owned by the container's root, with a home for the user. */
    char *const argv[] = { "sh", "-c",
                           "mkdir /mnt/rootfs && cp -a --no-preserve=ownership /src/. /mnt/rootfs/ && " USER_SETUP,
                           "sh", uid, gid, id.home, id.name, id.group, id.shell, NULL };
    int r = container_run_as_root(ctx, dir, base + 4, argv, err);
    if (r < 0)
        ab_error_prefix(err, "cannot copy %s into %s/rootfs", base + 4, dir);
    return r;
}

int cmd_create(struct ab_ctx *ctx, int argc, char **argv)
{
    /* a bootstrap says it starts (it takes minutes) when someone watches */
    if (isatty(STDERR_FILENO))
        ctx->log_min = AB_LOG_INFO;
    if (argc < 1 || argv[0][0] == '-' || argv[0][0] == '+') {
        if (argc >= 1 && cmd_is_help(argv[0])) {
            create_usage(stdout);
            return 0;
        }
        int k = argc >= 1 ? cmd_misplaced_option("create", argc, argv, 0) : 0;
        return k ? k : cmd_usage_error("create", "missing NAME (usage: appbox create NAME [OPTIONS])");
    }
    const char *name = argv[0];
    ab_error err = { 0 };
    if (store_check_name(name, &err) < 0)
        return cmd_report(&err);

    struct conf conf = { 0 };
    struct create_args a = { .conf = &conf };
    struct spec s;
    spec_init(&s);
    int r = spec_parse_args_full(&s, argc - 1, argv + 1, create_unknown, &a, record, &conf, true, &err);
    if (a.help) {
        create_usage(stdout);
        return 0;
    }
    if (r < 0)
        return cmd_report(&err);
    if (r < argc - 1)
        return cmd_usage_error("create", "unexpected argument '%s' (the command goes in --run)", argv[1 + r]);
    if (a.user_home && strcmp(a.user_home, "private") != 0) {
        /* A host folder as the home: just a bind, written as one. */
        struct spec_user id;
        identity_resolve(&s, &id, &err);
        const char *src = a.user_home;
        if (strcmp(src, "host") == 0) {
            src = getenv("HOME");
            if (!src || src[0] != '/')
                return cmd_usage_error("create", "--user-home host: HOME is not set");
            /* The whole home is the container's to write: say what that means. */
            fprintf(stderr, "appbox: warning: --user-home host: the container can change everything in %s, "
                            "including ~/.local/bin (your launchers), your shell's start-up files and every "
                            "container's appbox.conf\n", src);
        } else if (src[0] != '/') {
            return cmd_usage_error("create", "--user-home: '%s' is not private, host or an absolute path", src);
        }
        _cleanup_free_ char *arg = NULL;
        if (asprintf(&arg, "%s:%s", src, id.home) < 0)
            return 125;
        const struct spec_option *bind = spec_option_find("bind");
        if (spec_option_apply(&s, bind, "--user-home", arg, &err) < 0 || record(&conf, bind, arg) < 0)
            return cmd_report(&err);
    }

    /* What the first start will resolve, checked now, before anything is
     * written (the start resolves again: paths may change in between). */
    if (spec_resolve_paths(&s, &err) < 0)
        return cmd_report(&err);
    cmd_warn_root_rw_binds(ctx, &s);

    _cleanup_free_ char *base = NULL, *boot_tar = NULL;
    struct image_ref image = { 0 };
    struct bootstrap_opts boot = { .variant = a.variant, .mirror = a.mirror, .verbose = a.verbose };
    if ((a.mirror || a.variant) && !(a.base && bootstrap_base_kind(a.base)))
        return cmd_usage_error("create", "--%s: only for --base debian:SUITE or ubuntu:SUITE",
                               a.mirror ? "mirror" : "variant");
    if (a.base && bootstrap_base_kind(a.base)) {
        if (bootstrap_parse(ctx, a.base, &boot, &err) < 0)
            return cmd_report(&err);
        base = strdup(a.base);
    } else if (a.base && image_base_kind_known(a.base)) {
        if (image_parse(a.base, &image, &err) < 0)
            return cmd_report(&err);
        if (asprintf(&base, "%.*s%s%s%s", (int)(strchr(a.base, ':') - a.base + 1), a.base, image.path,
                     image.tag ? ":" : "", image.tag ? image.tag : "") < 0)
            base = NULL;
    } else if (!a.base || strcmp(a.base, "host") == 0) {
        base = strdup("host");
    } else if (strncmp(a.base, "dir:", 4) == 0 && a.base[4]) {
        char *p = realpath(a.base + 4, NULL);
        struct stat st;
        if (!p || stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
            free(p);
            return cmd_usage_error("create", "--base: '%s': not an existing directory (allowed: host, dir:PATH)",
                                   a.base);
        }
        if (asprintf(&base, "dir:%s", p) < 0)
            base = NULL;
        free(p);
    } else {
        return cmd_usage_error("create", "--base: '%s' is not a base (allowed: host, dir:PATH, debian:SUITE, "
                                         "ubuntu:SUITE, tar:FILE, oci:DIR[:TAG], docker-archive:FILE[:TAG])", a.base);
    }
    /* What the options mean together (--boot needs a root of its own,
     * --memory-swap needs --memory), checked now: no appbox.conf that
     * could never start is written.  A base other than the host's view
     * gives a root of its own; its path is only known later. */
    if (base) {
        char *given_root = s.container.root;
        if (!given_root && strcmp(base, "host") != 0)
            s.container.root = (char *)"/";
        r = spec_validate(&s, &err);
        s.container.root = given_root;
        if (r < 0)
            return cmd_report(&err);
    }
    if (a.run) {
        strv words = { 0 };
        int sr = conf_split_command(a.run, &words);
        size_t n = words.n;
        strv_clear(&words);
        if (sr < 0 || n == 0)
            return cmd_usage_error("create", "--run: '%s' is not a command line (%s)", a.run,
                                   sr < 0 ? "unterminated quote" : "empty");
    }
    if (a.as && !store_name_valid(a.as))
        return cmd_usage_error("create", "--as: '%s' is not a valid command name", a.as);

    /* Base and Run first, for a file that reads top-down. */
    struct conf full = { 0 };
    conf_add(&full, "Container", "Base", base, 0);
    if (a.run)
        conf_add(&full, "Container", "Run", a.run, 0);
    for (size_t i = 0; i < conf.n; i++)
        conf_add(&full, conf.e[i].section, conf.e[i].key, conf.e[i].value, 0);
    conf_free(&conf);
    /* appbox.conf must read back as what was checked (a line break or
     * blanks at a value's ends would not): refused now, before anything
     * is made; conf_write() checks the file itself again. */
    if (conf_check_roundtrip(&full, &err) < 0) {
        conf_free(&full);
        return cmd_usage_error("create", "%s", err.msg);
    }

    _cleanup_free_ char *root = store_data_root(ctx, &err);
    _cleanup_free_ char *dir = store_path(ctx, name, NULL, &err);
    _cleanup_free_ char *conf_path = store_path(ctx, name, "appbox.conf", &err);
    if (!root || !dir || !conf_path || fs_mkdirs(root, true, &err) < 0)
        return cmd_report(&err);
    if ((a.packages.n || a.debs.n) && (!strcmp(base, "host") || !strncmp(base, "dir:", 4)))
        return cmd_usage_error("create", "--packages/--deb: need a Debian/Ubuntu base (debian:SUITE, ubuntu:SUITE "
                                         "or an image)");
    /* Before the copy: a launcher name that is taken fails now, not after. */
    if (!a.no_launcher && launcher_check(ctx, name, a.as, a.launcher_replaces, &err) < 0)
        return cmd_report(&err);
    /* NAME's start.lock is held from the mkdir until create is done: rm
     * (which takes it) waits for a create under way instead of removing
     * its files under it, and a directory without appbox.conf whose lock
     * is free is what a create that died (SIGKILL, a crash) left. */
    _cleanup_close_ int lock = -1;
    if (mkdir(dir, 0700) < 0) {
        if (errno == EEXIST) {
            enum store_kind kind = store_kind(ctx, name);
            if (kind == STORE_REMAINS) {
                lock = state_open_lock(ctx, name, "start.lock", &err);
                if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) < 0)
                    return cmd_fail("create", "a create of '%s' is under way", name);
                return cmd_fail("create", "%s holds the remains of an interrupted create of '%s' (it has no "
                                "appbox.conf); remove them with: appbox rm %s", dir, name, name);
            }
            if (kind == STORE_LINK || kind == STORE_OTHER)
                return cmd_fail("create", "%s is %s, not a container: remove it yourself", dir,
                                kind == STORE_LINK ? "a symbolic link" : "not a directory");
            return cmd_fail("create", "a container named '%s' already exists (see appbox list)", name);
        }
        ab_fail(&err, errno, "cannot create %s", dir);
        return cmd_report(&err);
    }
    lock = state_open_lock(ctx, name, "start.lock", &err);
    if (lock < 0) {
        ab_error e2 = { 0 };
        container_remove_files(ctx, name, &e2);
        return cmd_report(&err);
    }
    state_lock(lock, LOCK_EX);
    _cleanup_free_ char *header = conf_header(name);
    /* From here on, Ctrl-C fails the step under way and create removes
     * what it made. */
    interrupt_catch();
    r = 0;
    if (boot.dist) {
        /* The pristine base comes from the cache (built on first use). */
        r = bootstrap_cached_tar(ctx, &boot, &boot_tar, &err);
        if (r == 0) {
            image.kind = IMAGE_BOOTSTRAP_TAR;
            image.path = take_ptr(boot_tar);
        }
    }
    if (r == 0)
        r = make_rootfs(ctx, name, dir, base, &image, &a, &s, &err);
    image_ref_free(&image);
    if (r == 0 && interrupted())
        r = ab_error_set(&err, AB_ERR_RUNTIME, 0, "interrupted (signal %d)", interrupted());
    if (r == 0)
        r = conf_write(conf_path, &full, header, &err);
    /* the bind sources as the user named them, now: every start checks them */
    if (r == 0)
        r = pins_record(ctx, name, &s, &err);
    if (r == 0 && !a.no_launcher && launcher_install(ctx, name, a.as, a.launcher_replaces, 0) != 0)
        r = ab_fail(&err, 0, "cannot install the launcher of %s", name);
    conf_free(&full);
    spec_free(&s);
    strv_clear(&a.packages);
    strv_clear(&a.debs);
    if (r < 0) {
        ab_error e2 = { 0 };
        container_remove_files(ctx, name, &e2);
        return cmd_report(&err);
    }
    printf("created %s (%s)\n", name, base);
    return 0;
}
