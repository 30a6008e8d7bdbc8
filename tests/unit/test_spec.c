/* The spec: spec_init()'s defaults, freeing, adding and reordering mounts,
 * spec_validate()'s checks of fields together, and spec_resolve(): bind
 * sources made real and pinned by dev/ino, errors naming their origin (a
 * usage error for a flag, a runtime error for appbox.conf), the default
 * host name, and resolving only once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/resolve.h"
#include "spec/defaults.h"
#include "spec/spec.h"

static char dir[64];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    return remove(p);
}

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/abunit-spec-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void in_dir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

static size_t list_len(const char *const *list)
{
    size_t n = 0;
    while (list[n])
        n++;
    return n;
}

static void assert_strv_is(const strv *v, const char *const *list)
{
    assert_int_equal(v->n, list_len(list));
    assert_non_null(v->v);
    for (size_t i = 0; i < v->n; i++)
        assert_string_equal(v->v[i], list[i]);
    assert_null(v->v[v->n]);
}

static void test_init_defaults(void **state)
{
    struct spec s;
    memset(&s, 0xa5, sizeof(s)); /* spec_init() must not depend on what was there */
    spec_init(&s);
    assert_strv_is(&s.container.masked_paths, spec_default_masked_paths);
    assert_strv_is(&s.container.readonly_paths, spec_default_readonly_paths);
    assert_strv_is(&s.container.devices, spec_default_devices);
    assert_int_equal(s.container.stop_signal, SIGTERM);
    assert_int_equal(s.container.stop_signal, SPEC_DEFAULT_STOP_SIGNAL);
    assert_true(s.process.seccomp);
    assert_int_equal(s.container.net, NET_NONE);
    assert_string_equal(net_mode_name(s.container.net), "none");
    assert_int_equal(s.container.init, SPEC_INIT_APPBOX);
    assert_null(s.container.root);
    assert_false(s.container.writable);
    assert_null(s.container.hostname);
    assert_int_equal(s.container.n_mounts, 0);
    assert_false(s.container.resolved);
    assert_int_equal(s.process.argv.n, 0);
    assert_int_equal(s.process.env.n, 0);
    assert_null(s.process.cwd);
    assert_false(s.process.uid_set);
    assert_int_equal(s.process.cap_add, 0);
    assert_int_equal(s.process.cap_drop, 0);
    assert_false(s.process.cap_drop_all);
    assert_false(s.process.terminal);
    /* the defaults are a valid spec */
    ab_error err = { 0 };
    assert_int_equal(spec_validate(&s, &err), 0);
    spec_free(&s);
}

static void test_spec_free(void **state)
{
    struct spec s;
    spec_init(&s);
    assert_int_equal(spec_add_bind(&s, "/a", "/b", true, "--bind"), 0);
    assert_int_equal(strv_push(&s.process.argv, "sh"), 0);
    assert_int_equal(strv_push(&s.process.env, "A=1"), 0);
    s.process.cwd = strdup("/w");
    s.container.root = strdup("/r");
    s.container.hostname = strdup("h");
    spec_free(&s);
    /* spec_free() leaves a zeroed spec: freeing again is harmless */
    assert_null(s.container.mounts);
    assert_int_equal(s.container.n_mounts, 0);
    assert_null(s.container.masked_paths.v);
    assert_null(s.process.argv.v);
    spec_free(&s);

    struct spec z;
    memset(&z, 0, sizeof(z));
    spec_free(&z);
    struct spec z2 = { 0 };
    spec_free(&z2);
}

static void test_add_mounts(void **state)
{
    struct spec s;
    spec_init(&s);
    assert_int_equal(spec_add_bind(&s, "/src", "/dst", false, "--bind"), 0);
    assert_int_equal(spec_add_bind(&s, "/ro", "/rodst", true, NULL), 0);
    assert_int_equal(spec_add_tmpfs(&s, "/scratch", "--tmpfs"), 0);
    assert_int_equal(spec_add_device(&s, "/dev/null", "--device"), 0);
    assert_int_equal(spec_add_mount(&s, MOUNT_TYPE_TMPFS, NULL, "/t2", MOUNT_RO, "size=1m", "x"), 0);
    assert_int_equal(s.container.n_mounts, 5);

    const struct spec_mount *m = s.container.mounts;
    assert_int_equal(m[0].type, MOUNT_TYPE_BIND);
    assert_string_equal(m[0].source, "/src");
    assert_string_equal(m[0].destination, "/dst");
    assert_int_equal(m[0].options, MOUNT_RECURSIVE | MOUNT_NOSUID | MOUNT_NODEV);
    assert_null(m[0].data);
    assert_string_equal(m[0].origin, "--bind");
    assert_int_equal(m[0].dev, 0);
    assert_int_equal(m[0].ino, 0);
    assert_string_equal(spec_mount_mode_name(&m[0]), "rw");
    assert_false(spec_mount_is_device(&m[0]));

    assert_int_equal(m[1].options, MOUNT_RECURSIVE | MOUNT_NOSUID | MOUNT_NODEV | MOUNT_RO);
    assert_null(m[1].origin);
    assert_string_equal(spec_mount_mode_name(&m[1]), "ro");
    assert_false(spec_mount_is_device(&m[1]));

    assert_int_equal(m[2].type, MOUNT_TYPE_TMPFS);
    assert_null(m[2].source);
    assert_string_equal(m[2].destination, "/scratch");
    assert_string_equal(m[2].data, "mode=0755");
    assert_int_equal(m[2].options, MOUNT_NOSUID | MOUNT_NODEV);
    assert_string_equal(spec_mount_mode_name(&m[2]), "tmpfs");
    assert_false(spec_mount_is_device(&m[2]));

    assert_int_equal(m[3].type, MOUNT_TYPE_BIND);
    assert_string_equal(m[3].source, "/dev/null");
    assert_string_equal(m[3].destination, "/dev/null");
    assert_int_equal(m[3].options, MOUNT_NOSUID | MOUNT_NOEXEC);
    assert_true(spec_mount_is_device(&m[3]));
    assert_string_equal(spec_mount_mode_name(&m[3]), "device");

    /* a tmpfs is never a device, whatever its options */
    assert_false(spec_mount_is_device(&m[4]));
    assert_string_equal(spec_mount_mode_name(&m[4]), "tmpfs");
    assert_string_equal(m[4].data, "size=1m");

    /* strings are copied */
    char src[8] = "/tmpx";
    assert_int_equal(spec_add_bind(&s, src, src, false, NULL), 0);
    src[1] = 'Q';
    assert_string_equal(s.container.mounts[5].source, "/tmpx");

    /* a bind without its "recursive" and "nodev" is a device bind */
    struct spec_mount plain = { .type = MOUNT_TYPE_BIND, .options = MOUNT_RO };
    assert_true(spec_mount_is_device(&plain));
    assert_string_equal(spec_mount_mode_name(&plain), "device");
    plain.options = MOUNT_NODEV;
    assert_false(spec_mount_is_device(&plain));
    assert_string_equal(spec_mount_mode_name(&plain), "rw");

    /* a mount needs a destination */
    assert_true(spec_add_mount(&s, MOUNT_TYPE_TMPFS, NULL, NULL, 0, NULL, NULL) < 0);
    assert_int_equal(s.container.n_mounts, 6);
    spec_free(&s);
}

static void test_mount_to_front(void **state)
{
    struct spec s;
    spec_init(&s);
    spec_add_tmpfs(&s, "/a", NULL);
    spec_add_tmpfs(&s, "/b", NULL);
    spec_add_tmpfs(&s, "/c", NULL);
    spec_add_tmpfs(&s, "/d", NULL);
    spec_mount_to_front(&s, 2);
    const char *want1[] = { "/c", "/a", "/b", "/d" };
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(s.container.mounts[i].destination, want1[i]);
    spec_mount_to_front(&s, 3);
    const char *want2[] = { "/d", "/c", "/a", "/b" };
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(s.container.mounts[i].destination, want2[i]);
    /* 0 and out of range: nothing moves */
    spec_mount_to_front(&s, 0);
    spec_mount_to_front(&s, 4);
    spec_mount_to_front(&s, (size_t)-1);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(s.container.mounts[i].destination, want2[i]);
    assert_int_equal(s.container.n_mounts, 4);
    spec_free(&s);
}

static void test_net_names(void **state)
{
    enum net_mode m = NET_NONE;
    assert_int_equal(net_mode_from_name("host", &m), 0);
    assert_int_equal(m, NET_HOST);
    assert_int_equal(net_mode_from_name("none", &m), 0);
    assert_int_equal(m, NET_NONE);
    assert_int_equal(net_mode_from_name("wifi", &m), -EINVAL);
    assert_int_equal(m, NET_NONE);
    assert_string_equal(net_mode_name(NET_HOST), "host");
    assert_string_equal(net_mode_name((enum net_mode)42), "?");
}

static void test_validate(void **state)
{
    struct spec s;
    ab_error err = { 0 };
    spec_init(&s);

    s.container.writable = true;
    assert_true(spec_validate(&s, &err) < 0);
    assert_int_equal(err.kind, AB_ERR_USAGE);
    if (!strstr(err.msg, "--writable") || !strstr(err.msg, "Writable="))
        fail_msg("message '%s' does not name --writable and Writable=", err.msg);

    s.container.root = strdup("/some/root");
    memset(&err, 0, sizeof(err));
    assert_int_equal(spec_validate(&s, &err), 0);
    assert_int_equal(err.kind, AB_ERR_NONE);

    s.container.stop_signal = 0;
    assert_true(spec_validate(&s, &err) < 0);
    assert_int_equal(err.kind, AB_ERR_USAGE);
    assert_non_null(strstr(err.msg, "stop signal 0"));
    s.container.stop_signal = NSIG;
    assert_true(spec_validate(&s, &err) < 0);
    s.container.stop_signal = -3;
    assert_true(spec_validate(&s, &err) < 0);
    assert_non_null(strstr(err.msg, "-3"));
    s.container.stop_signal = SIGUSR1;
    assert_int_equal(spec_validate(&s, &err), 0);

    /* a relative destination, named by its origin */
    assert_int_equal(spec_add_bind(&s, "/etc", "relative/dst", false, "--bind"), 0);
    memset(&err, 0, sizeof(err));
    assert_true(spec_validate(&s, &err) < 0);
    assert_int_equal(err.kind, AB_ERR_USAGE);
    if (!strstr(err.msg, "--bind") || !strstr(err.msg, "relative/dst") || !strstr(err.msg, "absolute"))
        fail_msg("message '%s' does not name the origin and the destination", err.msg);
    spec_free(&s);

    /* without an origin, "mount" */
    spec_init(&s);
    assert_int_equal(spec_add_tmpfs(&s, "tmp", NULL), 0);
    assert_true(spec_validate(&s, &err) < 0);
    assert_non_null(strstr(err.msg, "mount: 'tmp'"));
    spec_free(&s);

    /* a bind needs a source */
    spec_init(&s);
    assert_int_equal(spec_add_mount(&s, MOUNT_TYPE_BIND, "", "/x", 0, NULL, "--bind"), 0);
    assert_true(spec_validate(&s, &err) < 0);
    assert_int_equal(err.kind, AB_ERR_USAGE);
    assert_non_null(strstr(err.msg, "needs a source"));
    spec_free(&s);

    /* incomplete default lists are refused rather than run less masked */
    spec_init(&s);
    free(s.container.masked_paths.v[--s.container.masked_paths.n]);
    s.container.masked_paths.v[s.container.masked_paths.n] = NULL;
    assert_true(spec_validate(&s, &err) < 0);
    assert_int_equal(err.kind, AB_ERR_RUNTIME);
    spec_free(&s);
}

static void test_resolve_symlink(void **state)
{
    char real[128], link[128], file[128], flink[128];
    in_dir(real, sizeof(real), "real");
    in_dir(link, sizeof(link), "link");
    in_dir(file, sizeof(file), "real/file");
    in_dir(flink, sizeof(flink), "flink");
    assert_int_equal(mkdir(real, 0755), 0);
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(symlink("real", link), 0);
    assert_int_equal(symlink(file, flink), 0);

    struct spec s;
    ab_error err = { 0 };
    spec_init(&s);
    assert_int_equal(spec_add_bind(&s, link, "/mnt/a", false, "--bind"), 0);
    assert_int_equal(spec_add_tmpfs(&s, "/scratch", "--tmpfs"), 0);
    assert_int_equal(spec_add_bind(&s, flink, "/mnt/f", true, "--bind-ro"), 0);
    assert_int_equal(spec_add_device(&s, "/dev/null", "--device"), 0);
    int r = spec_resolve(&s, &err);
    if (r < 0)
        fail_msg("spec_resolve: %s", err.msg);
    assert_true(s.container.resolved);

    char *want = realpath(real, NULL);
    assert_non_null(want);
    struct stat st;
    assert_int_equal(stat(want, &st), 0);
    const struct spec_mount *m = s.container.mounts;
    assert_string_equal(m[0].source, want);
    assert_int_equal(m[0].dev, st.st_dev);
    assert_int_equal(m[0].ino, st.st_ino);
    assert_string_equal(m[0].destination, "/mnt/a");
    free(want);

    /* a tmpfs has no source to pin */
    assert_null(m[1].source);
    assert_int_equal(m[1].ino, 0);

    want = realpath(file, NULL);
    assert_non_null(want);
    assert_int_equal(stat(want, &st), 0);
    assert_string_equal(m[2].source, want);
    assert_int_equal(m[2].ino, st.st_ino);
    assert_int_equal(m[2].dev, st.st_dev);
    free(want);

    assert_int_equal(stat("/dev/null", &st), 0);
    assert_string_equal(m[3].source, "/dev/null");
    assert_int_equal(m[3].ino, st.st_ino);

    /* the rest of what resolving fills */
    assert_string_equal(s.container.hostname, "appbox");
    assert_true(s.container.uid_map.n > 0);
    assert_true(s.container.gid_map.n > 0);
    assert_int_equal(s.process.user.caller_uid, getuid());
    assert_int_equal(s.process.user.uid, getuid());
    assert_true(s.container.namespaces != 0);
    spec_free(&s);
}

static void test_resolve_root(void **state)
{
    char root[128], link[128], file[128];
    in_dir(root, sizeof(root), "rootfs");
    in_dir(link, sizeof(link), "rootlink");
    in_dir(file, sizeof(file), "plainfile");
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(symlink(root, link), 0);
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);

    struct spec s;
    ab_error err = { 0 };
    spec_init(&s);
    s.container.root = strdup(link);
    s.container.writable = true;
    int r = spec_resolve(&s, &err);
    if (r < 0)
        fail_msg("spec_resolve: %s", err.msg);
    char *want = realpath(root, NULL);
    assert_string_equal(s.container.root, want);
    free(want);
    spec_free(&s);

    /* a root that is not a directory */
    spec_init(&s);
    s.container.root = strdup(file);
    assert_true(spec_resolve(&s, &err) < 0);
    assert_int_equal(err.kind, AB_ERR_USAGE);
    assert_non_null(strstr(err.msg, "--root"));
    assert_non_null(strstr(err.msg, "not a directory"));
    assert_false(s.container.resolved);
    spec_free(&s);

    /* a device bind of something that is not a device */
    spec_init(&s);
    assert_int_equal(spec_add_device(&s, file, "--device"), 0);
    assert_true(spec_resolve(&s, &err) < 0);
    assert_int_equal(err.kind, AB_ERR_USAGE);
    assert_non_null(strstr(err.msg, "--device"));
    assert_non_null(strstr(err.msg, "not a device node"));
    spec_free(&s);
}

static void test_resolve_missing(void **state)
{
    char missing[128];
    in_dir(missing, sizeof(missing), "no-such-dir");

    struct spec s;
    ab_error err = { 0 };
    spec_init(&s);
    assert_int_equal(spec_add_bind(&s, missing, "/m", false, "--bind"), 0);
    assert_true(spec_resolve(&s, &err) < 0);
    assert_int_equal(err.kind, AB_ERR_USAGE);
    if (!strstr(err.msg, "--bind") || !strstr(err.msg, missing))
        fail_msg("message '%s' does not name --bind and %s", err.msg, missing);
    assert_non_null(strstr(err.msg, "No such file"));
    assert_false(s.container.resolved);
    /* the source is left as given */
    assert_string_equal(s.container.mounts[0].source, missing);
    spec_free(&s);

    /* from appbox.conf: the file's error, not a usage error */
    const char *origin = "/x/appbox.conf:3: [Files] Bind";
    spec_init(&s);
    assert_int_equal(spec_add_bind(&s, missing, "/m", false, origin), 0);
    memset(&err, 0, sizeof(err));
    assert_true(spec_resolve(&s, &err) < 0);
    assert_int_equal(err.kind, AB_ERR_RUNTIME);
    if (!strstr(err.msg, origin) || !strstr(err.msg, missing))
        fail_msg("message '%s' does not name '%s' and %s", err.msg, origin, missing);
    spec_free(&s);

    /* a dangling symlink is missing too */
    char dangling[128];
    in_dir(dangling, sizeof(dangling), "dangling");
    assert_int_equal(symlink(missing, dangling), 0);
    spec_init(&s);
    assert_int_equal(spec_add_bind(&s, dangling, "/m", false, "--bind-ro"), 0);
    assert_true(spec_resolve(&s, &err) < 0);
    assert_int_equal(err.kind, AB_ERR_USAGE);
    assert_non_null(strstr(err.msg, "--bind-ro"));
    assert_non_null(strstr(err.msg, dangling));
    spec_free(&s);

    /* an invalid spec is refused before anything is resolved */
    spec_init(&s);
    s.container.writable = true;
    assert_int_equal(spec_add_bind(&s, missing, "/m", false, "--bind"), 0);
    assert_true(spec_resolve(&s, &err) < 0);
    assert_non_null(strstr(err.msg, "--writable"));
    spec_free(&s);
}

static void test_resolve_hostname(void **state)
{
    struct spec s;
    ab_error err = { 0 };
    spec_init(&s);
    assert_int_equal(spec_resolve(&s, &err), 0);
    assert_string_equal(s.container.hostname, SPEC_DEFAULT_HOSTNAME);
    assert_string_equal(s.container.hostname, "appbox");
    spec_free(&s);

    /* a given host name is kept */
    spec_init(&s);
    s.container.hostname = strdup("mybox");
    assert_int_equal(spec_resolve(&s, &err), 0);
    assert_string_equal(s.container.hostname, "mybox");
    spec_free(&s);
}

static void test_resolve_once(void **state)
{
    char src[128];
    in_dir(src, sizeof(src), "once");
    assert_int_equal(mkdir(src, 0755), 0);

    struct spec s;
    ab_error err = { 0 };
    spec_init(&s);
    assert_int_equal(spec_add_bind(&s, src, "/once", false, "--bind"), 0);
    assert_int_equal(spec_resolve(&s, &err), 0);
    assert_true(s.container.resolved);
    char *source = s.container.mounts[0].source;
    char *hostname = s.container.hostname;
    dev_t dev = s.container.mounts[0].dev;
    ino_t ino = s.container.mounts[0].ino;
    struct spec_idmap uid_map = s.container.uid_map;

    /* the source is gone; resolving again does nothing and succeeds */
    assert_int_equal(rmdir(src), 0);
    memset(&err, 0, sizeof(err));
    assert_int_equal(spec_resolve(&s, &err), 0);
    assert_int_equal(err.kind, AB_ERR_NONE);
    assert_ptr_equal(s.container.mounts[0].source, source);
    assert_ptr_equal(s.container.hostname, hostname);
    assert_int_equal(s.container.mounts[0].dev, dev);
    assert_int_equal(s.container.mounts[0].ino, ino);
    assert_memory_equal(&s.container.uid_map, &uid_map, sizeof(uid_map));

    /* while a spec not yet resolved fails on the same source */
    struct spec s2;
    spec_init(&s2);
    assert_int_equal(spec_add_bind(&s2, src, "/once", false, "--bind"), 0);
    assert_true(spec_resolve(&s2, &err) < 0);
    spec_free(&s2);
    spec_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_defaults),
        cmocka_unit_test(test_spec_free),
        cmocka_unit_test(test_add_mounts),
        cmocka_unit_test(test_mount_to_front),
        cmocka_unit_test(test_net_names),
        cmocka_unit_test(test_validate),
        cmocka_unit_test_setup_teardown(test_resolve_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_missing, setup, teardown),
        cmocka_unit_test(test_resolve_hostname),
        cmocka_unit_test_setup_teardown(test_resolve_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
