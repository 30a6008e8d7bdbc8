/* config.json into appbox's spec (oci/config.c): a real config.json podman
 * wrote, runc's default and rootless configs (appbox-oci spec's own) read
 * back, exec --process, features.json, and bad inputs each refused with a
 * message naming the field, the value and what is allowed (ASan checks a
 * refused config frees cleanly). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <json-c/json.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "cgroup/cgroup.h"
#include "oci/config.h"
#include "util/fsutil.h"

#define BIT(cap) (1ULL << (cap))

static char *read_data(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", UNIT_DATA_DIR, name);
    char *text = fs_read_file_at(-100 /* AT_FDCWD */, path, false, 1 << 20);
    assert_non_null(text);
    return text;
}

static void test_podman_config(void **state)
{
    (void)state;
    char *text = read_data("podman-config.json");
    struct oci_config cfg;
    ab_error err = { 0 };
    int r = oci_config_parse(text, "config.json", "/b", "ctr1", &cfg, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    free(text);

    struct spec *s = &cfg.spec;
    struct spec_oci *o = &cfg.oci;
    assert_ptr_equal(s->oci, o);
    assert_string_equal(cfg.oci_version, "1.0.2-dev");
    assert_string_equal(o->id, "ctr1");
    assert_string_equal(o->bundle, "/b");
    /* root: absolute as given, no readonly: writable */
    assert_string_equal(s->container.root, "/tmp/pp/store/overlay/"
                                           "0a2caeef1b178c1018d5fb87a5276b1c1c3b9c1c95b56d48213ac6f2cd8294b9/merged");
    assert_true(s->container.writable);
    assert_string_equal(s->container.hostname, "e3dabf3d2625");

    /* process */
    assert_int_equal(s->process.argv.n, 3);
    assert_string_equal(s->process.argv.v[0], "sh");
    assert_string_equal(s->process.argv.v[2], "echo hi; ls /dev");
    assert_null(s->process.argv.v[3]);
    assert_int_equal(s->process.env.n, 4);
    assert_string_equal(s->process.env.v[2], "container=podman");
    assert_string_equal(s->process.cwd, "/");
    assert_true(s->process.uid_set);
    assert_int_equal(s->process.uid, 0);
    assert_int_equal(s->process.user.gid, 0);
    assert_false(s->process.terminal);
    assert_false(s->process.seccomp);
    assert_true(o->umask_set);
    assert_int_equal(o->umask, 022);
    uint64_t caps = BIT(0) | BIT(1) | BIT(3) | BIT(4) | BIT(5) | BIT(10) | BIT(31) | BIT(6) | BIT(8) | BIT(7) |
                    BIT(18);
    assert_int_equal(__builtin_popcountll(caps), 11);
    assert_int_equal(o->cap_bounding, caps);
    assert_int_equal(o->cap_effective, caps);
    assert_int_equal(o->cap_permitted, caps);
    assert_int_equal(o->cap_inheritable, 0);
    assert_int_equal(o->cap_ambient, 0);
    assert_false(o->no_new_privileges);
    assert_int_equal(o->n_rlimits, 2);
    assert_int_equal(o->rlimits[0].resource, RLIMIT_NOFILE);
    assert_int_equal(o->rlimits[0].soft, 4096);
    assert_int_equal(o->rlimits[0].hard, 4096);
    assert_int_equal(o->rlimits[1].resource, RLIMIT_NPROC);
    assert_int_equal(o->rlimits[1].hard, 8192);

    /* mounts, in order, with their flags and the rest as data */
    assert_int_equal(o->n_mounts, 10);
    assert_string_equal(o->mounts[0].destination, "/proc");
    assert_string_equal(o->mounts[0].type, "proc");
    assert_int_equal(o->mounts[0].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV);
    assert_null(o->mounts[0].data);
    assert_false(o->mounts[0].bind);
    assert_int_equal(o->mounts[1].flags, MS_NOSUID | MS_NOEXEC | MS_STRICTATIME);
    assert_string_equal(o->mounts[1].data, "mode=755,size=65536k");
    assert_string_equal(o->mounts[3].data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    assert_string_equal(o->mounts[5].destination, "/etc/hosts");
    assert_string_equal(o->mounts[5].type, "bind");
    assert_true(o->mounts[5].bind);
    assert_false(o->mounts[5].recursive);
    assert_int_equal(o->mounts[5].propagation, MS_PRIVATE | MS_REC);
    assert_int_equal(o->mounts[6].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV);
    assert_string_equal(o->mounts[9].destination, "/sys/fs/cgroup");
    assert_int_equal(o->mounts[9].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY);
    assert_int_equal(o->mounts[9].propagation, MS_PRIVATE | MS_REC);

    /* linux */
    assert_int_equal(s->container.namespaces, CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS);
    assert_false(o->ns_wanted[OCI_NS_USER]);
    assert_true(o->ns_wanted[OCI_NS_NET]);
    assert_null(o->ns_path[OCI_NS_NET]);
    assert_int_equal(s->container.net, NET_NONE);
    assert_int_equal(s->container.uid_map.n, 0);
    assert_string_equal(o->cgroups_path, "/process_api/7344bbd22ab8dd667a66e66125b05ffa/abtest/"
                                         "libpod-e3dabf3d2625f53724fdd96ceb0ff18bfc622468230d0d7a485d820be7631028");
    assert_int_equal(s->container.pids_limit, 100);
    assert_int_equal(s->container.resources.memory, 0);
    assert_int_equal(o->sysctl.n, 1);
    assert_string_equal(o->sysctl.v[0], "net.ipv4.ping_group_range=0 0");
    assert_int_equal(o->n_device_rules, 1);
    assert_false(o->device_rules[0].allow);
    assert_int_equal(o->device_rules[0].type, 'a');
    assert_int_equal(o->device_rules[0].major, -1);
    assert_int_equal(o->device_rules[0].minor, -1);
    assert_int_equal(o->device_rules[0].access, DEV_ACCESS_ALL);
    assert_int_equal(s->container.masked_paths.n, 11);
    assert_string_equal(s->container.masked_paths.v[10], "/sys/dev/block");
    assert_int_equal(s->container.readonly_paths.n, 6);
    assert_true(o->seccomp_given);
    assert_false(o->seccomp_default);
    assert_non_null(cfg.seccomp);
    assert_string_equal(json_object_get_string(json_object_object_get(cfg.seccomp, "defaultAction")),
                        "SCMP_ACT_ERRNO");
    assert_non_null(cfg.annotations);
    assert_string_equal(json_object_get_string(json_object_object_get(cfg.annotations, "io.container.manager")),
                        "libpod");
    for (int st = 0; st < OCI_HOOK_STAGES; st++)
        assert_int_equal(cfg.hooks.n[st], 0);
    oci_config_free(&cfg);
}

static void test_default_config(void **state)
{
    (void)state;
    char *text = oci_default_config(false, 0, 0);
    assert_non_null(text);
    assert_int_equal(text[strlen(text) - 1], '\n');
    assert_non_null(strstr(text, "\"/proc\""));   /* slashes are not escaped */
    struct oci_config cfg;
    ab_error err = { 0 };
    int r = oci_config_parse(text, "config.json", "/b/./x/..", NULL, &cfg, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    free(text);
    assert_string_equal(cfg.oci.bundle, "/b");
    assert_null(cfg.oci.id);
    assert_string_equal(cfg.spec.container.root, "/b/rootfs");
    assert_false(cfg.spec.container.writable);
    assert_true(cfg.spec.process.terminal);
    assert_string_equal(cfg.spec.process.argv.v[0], "sh");
    assert_int_equal(cfg.oci.cap_ambient, BIT(29) | BIT(5) | BIT(10));
    assert_true(cfg.oci.no_new_privileges);
    assert_int_equal(cfg.oci.n_mounts, 7);
    assert_string_equal(cfg.oci.mounts[5].type, "sysfs");
    assert_int_equal(cfg.spec.container.namespaces,
                     CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS);
    assert_int_equal(cfg.spec.container.uid_map.n, 0);
    assert_int_equal(cfg.oci.n_device_rules, 1);
    assert_int_equal(cfg.spec.container.masked_paths.n, 10);
    assert_int_equal(cfg.spec.container.pids_limit, 0);
    assert_false(cfg.oci.seccomp_given);
    assert_true(cfg.oci.seccomp_default);
    oci_config_free(&cfg);

    text = oci_default_config(true, 1000, 1001);
    assert_non_null(text);
    r = oci_config_parse(text, "config.json", "/b", NULL, &cfg, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    free(text);
    assert_int_equal(cfg.spec.container.uid_map.n, 1);
    assert_int_equal(cfg.spec.container.uid_map.r[0].inside, 0);
    assert_int_equal(cfg.spec.container.uid_map.r[0].outside, 1000);
    assert_int_equal(cfg.spec.container.uid_map.r[0].count, 1);
    assert_int_equal(cfg.spec.container.gid_map.r[0].outside, 1001);
    assert_int_equal(cfg.spec.container.namespaces,
                     CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWUSER);
    assert_int_equal(cfg.spec.container.net, NET_HOST);
    assert_true(cfg.oci.mounts[5].bind);
    assert_true(cfg.oci.mounts[5].recursive);
    assert_string_equal(cfg.oci.mounts[5].source, "/sys");
    assert_string_equal(cfg.oci.mounts[5].type, "bind");
    assert_int_equal(cfg.oci.n_device_rules, 0);
    oci_config_free(&cfg);
}

/* What runc 1.1 itself writes (runc spec, runc spec --rootless, as root),
 * next to appbox-oci's own: the same fields come out. */
static void test_runc_spec(void **state)
{
    (void)state;
    const char *files[] = { "runc-spec.json", "runc-spec-rootless.json" };
    for (int rootless = 0; rootless < 2; rootless++) {
        char *text = read_data(files[rootless]);
        char *ours = oci_default_config(rootless, 0, 0);
        struct oci_config cfg, mine;
        ab_error err = { 0 };
        if (oci_config_parse(text, "config.json", "/b", NULL, &cfg, &err) < 0 ||
            oci_config_parse(ours, "config.json", "/b", NULL, &mine, &err) < 0)
            fail_msg("%s", err.msg);
        free(text);
        free(ours);
        assert_int_equal(cfg.spec.container.namespaces, mine.spec.container.namespaces);
        assert_int_equal(cfg.spec.container.net, mine.spec.container.net);
        assert_int_equal(cfg.spec.container.uid_map.n, rootless ? 1 : 0);
        assert_int_equal(cfg.spec.container.uid_map.n, mine.spec.container.uid_map.n);
        assert_int_equal(cfg.spec.container.gid_map.n, mine.spec.container.gid_map.n);
        assert_int_equal(cfg.oci.cap_bounding, mine.oci.cap_bounding);
        assert_int_equal(cfg.oci.cap_ambient, mine.oci.cap_ambient);
        assert_int_equal(cfg.oci.no_new_privileges, mine.oci.no_new_privileges);
        assert_int_equal(cfg.oci.n_rlimits, mine.oci.n_rlimits);
        assert_int_equal(cfg.oci.n_device_rules, mine.oci.n_device_rules);
        assert_int_equal(cfg.spec.container.writable, mine.spec.container.writable);
        assert_string_equal(cfg.spec.container.root, mine.spec.container.root);
        assert_int_equal(cfg.spec.container.masked_paths.n, mine.spec.container.masked_paths.n);
        assert_int_equal(cfg.spec.container.readonly_paths.n, mine.spec.container.readonly_paths.n);
        assert_int_equal(cfg.oci.n_mounts, mine.oci.n_mounts);
        for (size_t i = 0; i < cfg.oci.n_mounts; i++) {
            struct oci_mount *a = &cfg.oci.mounts[i], *b = &mine.oci.mounts[i];
            assert_string_equal(a->destination, b->destination);
            assert_string_equal(a->type, b->type);
            assert_int_equal(a->flags, b->flags);
            assert_int_equal(a->bind, b->bind);
            assert_int_equal(a->recursive, b->recursive);
            if (a->data || b->data)
                assert_string_equal(a->data, b->data);
        }
        oci_config_free(&cfg);
        oci_config_free(&mine);
    }
}

static void test_features(void **state)
{
    (void)state;
    char *text = oci_features_json();
    assert_non_null(text);
    json_object *f = json_tokener_parse(text);
    free(text);
    assert_non_null(f);
    assert_string_equal(json_object_get_string(json_object_object_get(f, "ociVersionMax")), "1.1.0");
    json_object *lx = json_object_object_get(f, "linux");
    json_object *caps = json_object_object_get(lx, "capabilities");
    assert_int_equal(json_object_array_length(caps), 41);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(caps, 40)), "CAP_CHECKPOINT_RESTORE");
    assert_int_equal(oci_cap_from_name("CAP_SYS_ADMIN"), 21);
    assert_int_equal(oci_cap_from_name("CAP_CHECKPOINT_RESTORE"), 40);
    assert_int_equal(oci_cap_from_name("SYS_ADMIN"), -1);
    /* every mount option it lists is taken */
    json_object *opts = json_object_object_get(f, "mountOptions");
    assert_true(json_object_array_length(opts) > 30);
    for (size_t i = 0; i < json_object_array_length(opts); i++) {
        char buf[1024];
        struct oci_config cfg;
        ab_error err = { 0 };
        snprintf(buf, sizeof(buf),
                 "{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"},"
                 "\"mounts\":[{\"destination\":\"/x\",\"type\":\"tmpfs\",\"source\":\"/s\",\"options\":[\"%s\"]}]}",
                 json_object_get_string(json_object_array_get_idx(opts, i)));
        int r = oci_config_parse(buf, "config.json", "/b", NULL, &cfg, &err);
        if (r < 0)
            fail_msg("%s", err.msg);
        assert_null(cfg.oci.mounts[0].data);
        oci_config_free(&cfg);
    }
    json_object_put(f);
}

#define HEAD "{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"rootfs\"},"
#define PROC "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\"}"
#define USERNS "\"namespaces\":[{\"type\":\"user\"},{\"type\":\"mount\"}]"
#define MAPS "\"uidMappings\":[{\"containerID\":0,\"hostID\":1000,\"size\":1}]," \
             "\"gidMappings\":[{\"containerID\":0,\"hostID\":1000,\"size\":1}]"

static void test_more_fields(void **state)
{
    (void)state;
    struct oci_config cfg;
    ab_error err = { 0 };
    const char *text =
        HEAD "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/w\",\"user\":{\"uid\":1000,\"gid\":100,"
             "\"additionalGids\":[5,6]},\"oomScoreAdj\":-500,\"consoleSize\":{\"height\":24,\"width\":80},"
             "\"apparmorProfile\":\"p\",\"rlimits\":[{\"type\":\"RLIMIT_CORE\",\"soft\":0,"
             "\"hard\":18446744073709551615}]},"
             "\"domainname\":\"d\",\"hostname\":\"h\","
             "\"mounts\":[{\"destination\":\"data/../x\",\"type\":\"none\",\"source\":\"src\",\"options\":[\"rbind\","
             "\"ro\",\"rw\",\"rslave\"]}],"
             "\"hooks\":{\"createRuntime\":[{\"path\":\"/bin/true\",\"args\":[\"true\",\"a\"],\"env\":[\"A=1\"],"
             "\"timeout\":5}],\"poststop\":[{\"path\":\"/bin/false\"}]},"
             "\"linux\":{\"namespaces\":[{\"type\":\"user\"},{\"type\":\"mount\"},{\"type\":\"uts\"},"
             "{\"type\":\"network\",\"path\":\"/proc/1/ns/net\"}]," MAPS ","
             "\"devices\":[{\"path\":\"/dev/fuse\",\"type\":\"c\",\"major\":10,\"minor\":229,\"fileMode\":438,"
             "\"uid\":0},{\"path\":\"/dev/p\",\"type\":\"p\"}],"
             "\"resources\":{\"memory\":{\"limit\":1000000,\"swap\":3000000,\"swappiness\":10},"
             "\"cpu\":{\"shares\":1024,\"quota\":50000,\"period\":100000,\"cpus\":\"0-1\"},"
             "\"pids\":{\"limit\":-1},\"blockIO\":{\"weight\":500},"
             "\"hugepageLimits\":[{\"pageSize\":\"2MB\",\"limit\":1048576}],"
             "\"unified\":{\"memory.high\":\"max\"},"
             "\"devices\":[{\"allow\":true,\"type\":\"c\",\"major\":10,\"access\":\"rw\"}]},"
             "\"rootfsPropagation\":\"rslave\",\"personality\":{\"domain\":\"LINUX32\"},\"mountLabel\":\"x\"}}";
    int r = oci_config_parse(text, "config.json", "/b", NULL, &cfg, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    struct spec_oci *o = &cfg.oci;
    struct spec *s = &cfg.spec;
    assert_int_equal(s->process.uid, 1000);
    assert_int_equal(s->process.user.uid, 1000);
    assert_int_equal(s->process.user.gid, 100);
    assert_int_equal(o->n_additional_gids, 2);
    assert_int_equal(o->additional_gids[1], 6);
    assert_false(o->umask_set);
    assert_true(o->oom_score_adj_set);
    assert_int_equal(o->oom_score_adj, -500);
    assert_int_equal(o->console_height, 24);
    assert_int_equal(o->console_width, 80);
    assert_string_equal(o->apparmor_profile, "p");
    assert_int_equal(o->rlimits[0].hard, UINT64_MAX);
    assert_string_equal(o->domainname, "d");
    assert_string_equal(o->mounts[0].destination, "/x");
    assert_string_equal(o->mounts[0].source, "/b/src");
    assert_string_equal(o->mounts[0].type, "bind");
    assert_true(o->mounts[0].recursive);
    assert_int_equal(o->mounts[0].flags, 0);
    assert_int_equal(o->mounts[0].propagation, MS_SLAVE | MS_REC);
    assert_int_equal(cfg.hooks.n[OCI_HOOK_CREATE_RUNTIME], 1);
    assert_string_equal(cfg.hooks.h[OCI_HOOK_CREATE_RUNTIME][0].path, "/bin/true");
    assert_int_equal(cfg.hooks.h[OCI_HOOK_CREATE_RUNTIME][0].args.n, 2);
    assert_int_equal(cfg.hooks.h[OCI_HOOK_CREATE_RUNTIME][0].timeout, 5);
    assert_int_equal(cfg.hooks.n[OCI_HOOK_POSTSTOP], 1);
    assert_int_equal(cfg.hooks.h[OCI_HOOK_POSTSTOP][0].timeout, 0);
    /* joined: wanted with a path, not in the CLONE flags; the network is then no business of appbox's */
    assert_true(o->ns_wanted[OCI_NS_NET]);
    assert_string_equal(o->ns_path[OCI_NS_NET], "/proc/1/ns/net");
    assert_int_equal(s->container.namespaces, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWUTS);
    assert_int_equal(s->container.net, NET_HOST);
    assert_int_equal(o->n_devices, 2);
    assert_int_equal(o->devices[0].major, 10);
    assert_int_equal(o->devices[0].minor, 229);
    assert_true(o->devices[0].has_mode);
    assert_int_equal(o->devices[0].mode, 0666);
    assert_true(o->devices[0].has_uid);
    assert_false(o->devices[0].has_gid);
    assert_int_equal(o->devices[1].type, 'p');
    assert_int_equal(s->container.resources.memory, 1000000);
    assert_int_equal(s->container.resources.memory_swap, 2000000);
    assert_int_equal(o->resources.memory_swap_total, 3000000);
    assert_int_equal(o->resources.memory_swappiness, 10);
    assert_int_equal(o->resources.cpu_shares, 1024);
    assert_int_equal(s->container.resources.cpu_quota, 500);
    assert_int_equal(s->container.resources.cpu_weight, 39);
    assert_string_equal(o->resources.cpuset_cpus, "0-1");
    assert_int_equal(s->container.pids_limit, 0);
    assert_int_equal(o->resources.blkio_weight, 500);
    assert_string_equal(o->resources.hugepage_limits.v[0], "2MB=1048576");
    assert_string_equal(o->resources.unified.v[0], "memory.high=max");
    assert_true(o->device_rules[0].allow);
    assert_int_equal(o->device_rules[0].major, 10);
    assert_int_equal(o->device_rules[0].minor, -1);
    assert_int_equal(o->device_rules[0].access, DEV_ACCESS_READ | DEV_ACCESS_WRITE);
    assert_int_equal(o->rootfs_propagation, MS_SLAVE | MS_REC);   /* "rslave" */
    assert_true(o->personality_set);
    assert_int_equal(o->personality, 0x0008);
    assert_int_equal(s->container.masked_paths.n, 0);   /* none given: none masked */

    /* exec --process: a bare process object replaces the process part */
    r = oci_process_parse("{\"args\":[\"ls\",\"-l\"],\"cwd\":\"/tmp\",\"env\":[\"X=1\"],\"capabilities\":"
                          "{\"bounding\":[\"CAP_KILL\"]},\"noNewPrivileges\":true,\"terminal\":true}",
                          "process.json", &cfg, &err);
    if (r < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(s->process.argv.n, 2);
    assert_string_equal(s->process.argv.v[1], "-l");
    assert_string_equal(s->process.cwd, "/tmp");
    assert_int_equal(s->process.env.n, 1);
    assert_true(s->process.terminal);
    assert_int_equal(s->process.uid, 0);
    assert_int_equal(o->cap_bounding, BIT(5));
    assert_int_equal(o->n_rlimits, 0);
    assert_null(o->apparmor_profile);
    assert_false(o->oom_score_adj_set);
    assert_true(o->no_new_privileges);
    assert_false(s->process.seccomp);
    /* the container part is untouched */
    assert_string_equal(s->container.root, "/b/rootfs");

    assert_int_equal(oci_process_parse("{\"args\":[],\"cwd\":\"/\"}", "process.json", &cfg, &err), -EINVAL);
    assert_string_equal(err.msg, "process.json: args: empty (expected the command and its arguments)");
    oci_config_free(&cfg);
}

static const struct bad {
    const char *text;
    const char *msg;
} bad_inputs[] = {
    { "{\"root\":{\"path\":\"r\"}," PROC "}", "config.json: ociVersion: missing (required)" },
    { "{\"ociVersion\":\"2.0.0\",\"root\":{\"path\":\"r\"}," PROC "}",
      "config.json: ociVersion: '2.0.0' is not supported (expected 1.x, runtime-spec 1.0 to 1.1)" },
    { "{\"ociVersion\":\"1.1.0\"," PROC "}", "config.json: root: missing (required)" },
    { HEAD "\"x\":1}", "config.json: process: missing (required)" },
    { HEAD "\"process\":{\"args\":[],\"cwd\":\"/\"}}",
      "config.json: process.args: empty (expected the command and its arguments)" },
    { HEAD "\"process\":{\"args\":\"sh\",\"cwd\":\"/\"}}", "config.json: process.args: expected an array of strings" },
    { HEAD "\"process\":{\"args\":[\"sh\",1],\"cwd\":\"/\"}}",
      "config.json: process.args: expected an array of strings" },
    { HEAD "\"process\":{\"args\":[\"sh\"]}}", "config.json: process.cwd: missing (required)" },
    { HEAD "\"process\":{\"args\":[\"sh\"],\"cwd\":\"w\"}}",
      "config.json: process.cwd: 'w' is not an absolute path (expected one starting with /)" },
    { HEAD "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"env\":[\"A=1\",\"B\"]}}",
      "config.json: process.env[1]: 'B' is not a variable (expected NAME=VALUE)" },
    { HEAD "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"capabilities\":{\"bounding\":[\"CAP_KILL\",\"CAP_FOO\"]}}}",
      "config.json: process.capabilities.bounding[1]: 'CAP_FOO' is not a capability (expected CAP_CHOWN ... "
      "CAP_CHECKPOINT_RESTORE, as capabilities(7) names them)" },
    { HEAD "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_FOO\",\"soft\":1,"
           "\"hard\":1}]}}",
      "config.json: process.rlimits[0].type: 'RLIMIT_FOO' is not a resource limit (expected RLIMIT_CPU, "
      "RLIMIT_NOFILE, RLIMIT_NPROC, ... as getrlimit(2) names them)" },
    { HEAD "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":2,"
           "\"hard\":1}]}}",
      "config.json: process.rlimits[0]: soft limit 2 is above hard limit 1 (expected soft <= hard)" },
    { HEAD "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":1,"
           "\"hard\":1},{\"type\":\"RLIMIT_NOFILE\",\"soft\":1,\"hard\":1}]}}",
      "config.json: process.rlimits[1]: 'RLIMIT_NOFILE' is given twice (expected each type once)" },
    { HEAD "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"oomScoreAdj\":2000}}",
      "config.json: process.oomScoreAdj: 2000 is out of range (expected -1000 to 1000)" },
    { HEAD "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"user\":{\"uid\":-1}}}",
      "config.json: process.user.uid: -1 is negative (expected 0 to 4294967294)" },
    { HEAD "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"ioPriority\":{\"class\":\"IOPRIO_CLASS_XX\"}}}",
      "config.json: process.ioPriority.class: 'IOPRIO_CLASS_XX' is not one of IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, "
      "IOPRIO_CLASS_IDLE" },
    { HEAD "\"process\":{\"args\":[\"sh\"],\"cwd\":\"/\",\"scheduler\":{\"policy\":\"SCHED_OTHER\",\"nice\":40}}}",
      "config.json: process.scheduler.nice: 40 is out of range (expected -20 to 19)" },
    { HEAD PROC ",\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"pid\"}]}}",
      "config.json: linux.namespaces[1].type: 'pid' is given twice (expected each namespace once)" },
    { HEAD PROC ",\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"foo\"}]}}",
      "config.json: linux.namespaces[1].type: 'foo' is not a namespace (expected one of pid, network, mount, ipc, "
      "uts, user, cgroup, time)" },
    { HEAD PROC ",\"linux\":{\"namespaces\":[{\"type\":\"net\"}]}}",
      "config.json: linux.namespaces[0].type: 'net' is not a namespace (expected one of pid, network, mount, ipc, "
      "uts, user, cgroup, time)" },
    { HEAD PROC ",\"linux\":{\"maskedPaths\":[\"/proc/kcore\",\"proc/keys\"]}}",
      "config.json: linux.maskedPaths[1]: 'proc/keys' is not an absolute path (expected one starting with /)" },
    { HEAD PROC ",\"linux\":{" MAPS "}}",
      "config.json: linux.uidMappings: given without a user namespace (expected linux.namespaces to have user)" },
    { HEAD PROC ",\"linux\":{" USERNS "}}",
      "config.json: linux.uidMappings: missing (required with a new user namespace)" },
    { HEAD PROC ",\"linux\":{" USERNS ",\"uidMappings\":[{\"containerID\":0,\"hostID\":1000,\"size\":0}]}}",
      "config.json: linux.uidMappings[0]: size 0 maps nothing (expected a size of 1 or more)" },
    { HEAD PROC ",\"mounts\":[{\"destination\":\"/a\",\"type\":\"bind\",\"source\":\"/s\",\"options\":[\"idmap\"]}]}",
      "config.json: mounts[0].options[0]: 'idmap' is not supported (ID-mapped mounts are not supported by "
      "appbox-oci)" },
    { HEAD PROC ",\"mounts\":[{\"destination\":\"/a\",\"type\":\"bind\",\"source\":\"/s\",\"options\":[\"rro\"]}]}",
      "config.json: mounts[0].options[0]: 'rro' is not supported (recursive mount attributes: expected ro and a "
      "separate mount for each submount)" },
    { HEAD PROC ",\"mounts\":[{\"destination\":\"/a\",\"type\":\"bind\",\"source\":\"/s\",\"uidMappings\":"
                "[{\"containerID\":0,\"hostID\":0,\"size\":1}]}]}",
      "config.json: mounts[0].uidMappings: not supported (ID-mapped mounts: expected no mappings on a mount)" },
    { HEAD PROC ",\"mounts\":[{\"type\":\"tmpfs\"}]}", "config.json: mounts[0].destination: missing (required)" },
    { HEAD PROC ",\"mounts\":[{\"destination\":\"/a\",\"options\":[\"bind\"]}]}",
      "config.json: mounts[0].source: missing (required for a bind mount)" },
    { HEAD PROC ",\"hooks\":{\"prestart\":[{\"path\":\"bin/hook\"}]}}",
      "config.json: hooks.prestart[0].path: 'bin/hook' is not an absolute path (expected one starting with /)" },
    { HEAD PROC ",\"hooks\":{\"poststart\":[{\"path\":\"/bin/hook\",\"timeout\":0}]}}",
      "config.json: hooks.poststart[0].timeout: 0 is not a timeout (expected a number of seconds above 0)" },
    { HEAD PROC ",\"annotations\":{\"a\":\"b\",\"c\":1}}", "config.json: annotations.c: expected a string" },
    { HEAD PROC ",\"annotations\":[\"a\"]}", "config.json: annotations: expected an object" },
    { HEAD PROC ",\"hostname\":\"h\"}",
      "config.json: hostname: 'h' needs a UTS namespace (expected linux.namespaces to have uts)" },
    { HEAD PROC ",\"linux\":{\"devices\":[{\"path\":\"/dev/x\",\"type\":\"c\",\"major\":1}]}}",
      "config.json: linux.devices[0]: device '/dev/x' of type c has no minor (expected major and minor for c, b and "
      "u)" },
    { HEAD PROC ",\"linux\":{\"devices\":[{\"path\":\"/dev/x\",\"type\":\"x\"}]}}",
      "config.json: linux.devices[0].type: 'x' is not a device type (expected c, b, u or p)" },
    { HEAD PROC ",\"linux\":{\"resources\":{\"devices\":[{\"allow\":true,\"access\":\"rwx\"}]}}}",
      "config.json: linux.resources.devices[0].access: 'rwx' is not a device access (expected letters of rwm, each "
      "once)" },
    { HEAD PROC ",\"linux\":{\"resources\":{\"memory\":{\"limit\":2000,\"swap\":1000}}}}",
      "config.json: linux.resources.memory.swap: 1000 is below memory.limit 2000 (expected the memory + swap total, "
      "at least the limit)" },
    { HEAD PROC ",\"linux\":{\"resources\":{\"memory\":{\"limit\":-2}}}}",
      "config.json: linux.resources.memory.limit: -2 is out of range (expected -1 to 9223372036854775807)" },
    { HEAD PROC ",\"linux\":{\"resources\":{\"blockIO\":{\"throttleReadBpsDevice\":[{\"major\":8,\"minor\":0,"
                "\"rate\":1}]}}}}",
      "config.json: linux.resources.blockIO.throttleReadBpsDevice: not supported by appbox-oci (expected it absent "
      "or empty)" },
    { HEAD PROC ",\"linux\":{\"intelRdt\":{\"closID\":\"x\"}}}",
      "config.json: linux.intelRdt: not supported by appbox-oci (expected it absent or empty)" },
    { HEAD PROC ",\"linux\":{\"rootfsPropagation\":\"bogus\"}}",
      "config.json: linux.rootfsPropagation: 'bogus' is not a propagation (expected private, rprivate, shared, "
      "rshared, slave, rslave, unbindable or runbindable)" },
    { HEAD PROC ",\"linux\":{\"personality\":{\"domain\":\"LINUX64\"}}}",
      "config.json: linux.personality.domain: 'LINUX64' is not a personality domain (expected LINUX or LINUX32)" },
    { HEAD PROC ",\"linux\":{\"sysctl\":{\"a\":1}}}", "config.json: linux.sysctl.a: expected a string" },
    { HEAD PROC ",\"linux\":[]}", "config.json: linux: expected an object" },
    { "{\n  \"ociVersion\": \"1.1.0\",\n  oops\n}",
      "config.json: invalid JSON at line 3, column 3: quoted object property name expected" },
    { "{\"ociVersion\": \"1.1.0\"", "config.json: invalid JSON at line 1, column 23: the text ends inside a value" },
    { "{} {}", "config.json: invalid JSON at line 1, column 4: more text after the JSON value" },
    { "[1]", "config.json: expected a JSON object" },
};

static void test_bad_inputs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_inputs) / sizeof(bad_inputs[0]); i++) {
        struct oci_config cfg;
        ab_error err = { 0 };
        int r = oci_config_parse(bad_inputs[i].text, "config.json", "/b", "c", &cfg, &err);
        if (r != -EINVAL || strcmp(err.msg, bad_inputs[i].msg) != 0)
            fail_msg("input %zu (%s): got %d '%s', expected '%s'", i, bad_inputs[i].text, r, err.msg,
                     bad_inputs[i].msg);
        assert_int_equal(err.kind, AB_ERR_USAGE);
        oci_config_free(&cfg);
    }
}

static void test_load(void **state)
{
    (void)state;
    struct oci_config cfg;
    ab_error err = { 0 };
    assert_int_equal(oci_config_load("/nonexistent-bundle", "c", &cfg, &err), -ENOENT);
    assert_string_equal(err.msg, "cannot read /nonexistent-bundle/config.json: No such file or directory");
    assert_int_equal(err.kind, AB_ERR_USAGE);
    oci_config_free(&cfg);

    char path[512];
    snprintf(path, sizeof(path), "%s/../data", UNIT_DATA_DIR);
    /* the data folder has no config.json: the message names the cleaned path */
    assert_int_equal(oci_config_load(path, "c", &cfg, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "/data/config.json"));
    assert_null(strstr(err.msg, ".."));
    oci_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_podman_config), cmocka_unit_test(test_default_config),
        cmocka_unit_test(test_runc_spec),
        cmocka_unit_test(test_features),      cmocka_unit_test(test_more_fields),
        cmocka_unit_test(test_bad_inputs),    cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
