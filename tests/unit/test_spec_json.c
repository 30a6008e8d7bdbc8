/* The spec as JSON: spec_to_json() then spec_from_json() gives back the same
 * spec, field by field (container part, mounts, id maps, process part,
 * resolved user), and a second round trip the same text; bad files are
 * refused with a message naming the file and the key, leaving a spec that
 * spec_free() can take (ASan checks nothing leaks). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/defaults.h"
#include "spec/spec.h"
#include "spec/spec_json.h"

#define WHERE "/run/appbox/box/spec.json"

static void assert_str_or_null_equal(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_strv_equal(const strv *a, const strv *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        assert_string_equal(a->v[i], b->v[i]);
}

static void assert_idmap_equal(const struct spec_idmap *a, const struct spec_idmap *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->via_helper, b->via_helper);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->r[i].inside, b->r[i].inside);
        assert_int_equal(a->r[i].outside, b->r[i].outside);
        assert_int_equal(a->r[i].count, b->r[i].count);
    }
}

/* Every field of struct spec, one by one. */
static void assert_spec_equal(const struct spec *a, const struct spec *b)
{
    const struct spec_container *ca = &a->container, *cb = &b->container;
    assert_str_or_null_equal(ca->root, cb->root);
    assert_int_equal(ca->writable, cb->writable);
    assert_int_equal(ca->n_mounts, cb->n_mounts);
    for (size_t i = 0; i < ca->n_mounts; i++) {
        const struct spec_mount *ma = &ca->mounts[i], *mb = &cb->mounts[i];
        assert_int_equal(ma->type, mb->type);
        assert_str_or_null_equal(ma->source, mb->source);
        assert_string_equal(ma->destination, mb->destination);
        assert_int_equal(ma->options, mb->options);
        assert_str_or_null_equal(ma->data, mb->data);
        assert_str_or_null_equal(ma->origin, mb->origin);
        assert_int_equal(ma->dev, mb->dev);
        assert_int_equal(ma->ino, mb->ino);
    }
    assert_int_equal(ca->net, cb->net);
    assert_str_or_null_equal(ca->hostname, cb->hostname);
    assert_strv_equal(&ca->masked_paths, &cb->masked_paths);
    assert_strv_equal(&ca->readonly_paths, &cb->readonly_paths);
    assert_strv_equal(&ca->devices, &cb->devices);
    assert_int_equal(ca->init, cb->init);
    assert_int_equal(ca->stop_signal, cb->stop_signal);
    assert_int_equal(ca->resolved, cb->resolved);
    assert_int_equal(ca->namespaces, cb->namespaces);
    assert_int_equal(ca->display.mode, cb->display.mode);
    assert_int_equal(ca->display.width, cb->display.width);
    assert_int_equal(ca->display.height, cb->display.height);
    assert_int_equal(ca->display.host_number, cb->display.host_number);
    assert_str_or_null_equal(ca->display.host_display, cb->display.host_display);
    assert_str_or_null_equal(ca->display.host_auth, cb->display.host_auth);
    assert_str_or_null_equal(ca->display.dir, cb->display.dir);
    assert_idmap_equal(&ca->uid_map, &cb->uid_map);
    assert_idmap_equal(&ca->gid_map, &cb->gid_map);

    const struct spec_process *pa = &a->process, *pb = &b->process;
    assert_strv_equal(&pa->argv, &pb->argv);
    assert_strv_equal(&pa->env, &pb->env);
    assert_str_or_null_equal(pa->cwd, pb->cwd);
    assert_int_equal(pa->uid_set, pb->uid_set);
    assert_int_equal(pa->uid, pb->uid);
    assert_int_equal(pa->cap_add, pb->cap_add);
    assert_int_equal(pa->cap_drop, pb->cap_drop);
    assert_int_equal(pa->cap_drop_all, pb->cap_drop_all);
    assert_int_equal(pa->seccomp, pb->seccomp);
    assert_int_equal(pa->io_uring, pb->io_uring);
    assert_int_equal(pa->terminal, pb->terminal);

    const struct spec_user *ua = &pa->user, *ub = &pb->user;
    assert_int_equal(ua->caller_uid, ub->caller_uid);
    assert_int_equal(ua->caller_gid, ub->caller_gid);
    assert_string_equal(ua->caller_name, ub->caller_name);
    assert_int_equal(ua->uid, ub->uid);
    assert_int_equal(ua->gid, ub->gid);
    assert_string_equal(ua->name, ub->name);
    assert_string_equal(ua->group, ub->group);
    assert_string_equal(ua->home, ub->home);
    assert_string_equal(ua->shell, ub->shell);
}

/* A spec with every field away from its default. */
static void build_rich(struct spec *s)
{
    spec_init(s);
    struct spec_container *c = &s->container;
    struct spec_process *p = &s->process;
    c->root = strdup("/var/lib/appbox/box/rootfs");
    c->writable = true;
    assert_int_equal(spec_add_bind(s, "/home/u/src", "/src", false, "--bind"), 0);
    assert_int_equal(spec_add_bind(s, "/etc/hostname", "/etc/host name \"q\"", true,
                                   "/x/appbox.conf:3: [Files] BindReadOnly"), 0);
    assert_int_equal(spec_add_bind(s, "/opt/no-origin", "/opt", true, NULL), 0);
    assert_int_equal(spec_add_tmpfs(s, "/scratch", "--tmpfs"), 0);
    assert_int_equal(spec_add_tmpfs(s, "/tmp2", NULL), 0);
    assert_int_equal(spec_add_mount(s, MOUNT_TYPE_TMPFS, NULL, "/ro-tmp", MOUNT_RO | MOUNT_NOEXEC, "size=1m,mode=1777",
                                    "--tmpfs"), 0);
    assert_int_equal(spec_add_device(s, "/dev/null", "--device"), 0);
    assert_int_equal(spec_add_device(s, "/dev/fuse", NULL), 0);
    assert_int_equal(spec_add_mount(s, MOUNT_TYPE_BIND, "/data", "/data", MOUNT_RECURSIVE | MOUNT_RO | MOUNT_NODEV,
                                    NULL, "--bind-ro"), 0);
    /* pinned: as spec_resolve() leaves them */
    for (size_t i = 0; i < c->n_mounts; i++)
        if (c->mounts[i].type == MOUNT_TYPE_BIND) {
            c->mounts[i].dev = (dev_t)(0x10300 + i);
            c->mounts[i].ino = (ino_t)(1234567890123ULL + i);
        }
    c->net = NET_HOST;
    c->hostname = strdup("rich-box");
    c->display.mode = DISPLAY_PRIVATE;
    c->display.width = 640;
    c->display.height = 400;
    c->display.host_number = 101;
    c->display.host_display = strdup(":0.0");
    c->display.host_auth = strdup("/home/u/.Xauthority");
    c->display.dir = strdup("/run/appbox/.display-abcdef");
    strv_clear(&c->masked_paths);
    strv_push(&c->masked_paths, "/proc/kcore");
    strv_push(&c->masked_paths, "/proc/custom");
    strv_clear(&c->readonly_paths);
    strv_push(&c->readonly_paths, "/proc/sys");
    strv_clear(&c->devices);
    strv_push(&c->devices, "/dev/null");
    strv_push(&c->devices, "/dev/kvm");
    c->stop_signal = 10;
    c->resolved = true;
    c->namespaces = 0x7e020000UL;
    c->uid_map = (struct spec_idmap){ .r = { { 0, 1000, 1 }, { 1, 100000, 999 }, { 1001, 101000, 64535 } },
                                      .n = 3, .via_helper = true };
    c->gid_map = (struct spec_idmap){ .r = { { 0, 1000, 1 }, { 1, 200000, 65535 } }, .n = 2, .via_helper = true };

    strv_push(&p->argv, "/bin/sh");
    strv_push(&p->argv, "-c");
    strv_push(&p->argv, "echo \"hi\" \\ there\n");
    strv_push(&p->env, "A=1");
    strv_push(&p->env, "B=with space=and equals");
    strv_push(&p->env, "EMPTY=");
    p->cwd = strdup("/work dir");
    p->uid_set = true;
    p->uid = 1000;
    p->cap_add = (1ULL << 12) | (1ULL << 21) | (1ULL << 40);
    p->cap_drop = (1ULL << 0) | (1ULL << 63);
    p->cap_drop_all = true;
    p->seccomp = false;
    p->io_uring = true;
    p->terminal = true;
    struct spec_user *u = &p->user;
    u->caller_uid = 1000;
    u->caller_gid = 1001;
    snprintf(u->caller_name, sizeof(u->caller_name), "alice");
    u->uid = 1000;
    u->gid = 1001;
    snprintf(u->name, sizeof(u->name), "alice");
    snprintf(u->group, sizeof(u->group), "staff");
    snprintf(u->home, sizeof(u->home), "/home/alice");
    snprintf(u->shell, sizeof(u->shell), "/bin/zsh");
}

static void round_trip(const struct spec *s)
{
    char *text = spec_to_json(s);
    assert_non_null(text);
    struct spec back;
    ab_error err = { 0 };
    if (spec_from_json(text, WHERE, &back, &err) < 0)
        fail_msg("spec_from_json: %s\n%s", err.msg, text);
    assert_spec_equal(s, &back);

    /* the same text again */
    char *text2 = spec_to_json(&back);
    assert_non_null(text2);
    assert_string_equal(text, text2);
    struct spec back2;
    assert_int_equal(spec_from_json(text2, WHERE, &back2, &err), 0);
    assert_spec_equal(s, &back2);

    free(text);
    free(text2);
    spec_free(&back);
    spec_free(&back2);
}

static void test_round_trip_rich(void **state)
{
    struct spec s;
    build_rich(&s);
    round_trip(&s);
    spec_free(&s);
}

static void test_round_trip_defaults(void **state)
{
    struct spec s;
    spec_init(&s);
    round_trip(&s);
    spec_free(&s);
}

static void test_round_trip_variants(void **state)
{
    /* the other value of every bool and the other network mode */
    struct spec s;
    build_rich(&s);
    s.container.writable = false;
    free(s.container.root);
    s.container.root = NULL;
    s.container.net = NET_NONE;
    s.container.resolved = false;
    s.container.uid_map.via_helper = s.container.gid_map.via_helper = false;
    s.process.uid_set = false;
    s.process.uid = 0;
    s.process.cap_drop_all = false;
    s.process.seccomp = true;
    s.process.io_uring = false;
    s.process.terminal = false;
    free(s.process.cwd);
    s.process.cwd = NULL;
    strv_clear(&s.process.env);
    strv_clear(&s.container.masked_paths); /* an empty list stays empty */
    round_trip(&s);
    spec_free(&s);

    /* ids that do not fit an int, and the most ranges a map may have */
    spec_init(&s);
    s.process.uid_set = true;
    s.process.uid = 4294967294u;
    s.process.user.uid = 4294967294u;
    s.container.uid_map = (struct spec_idmap){
        .r = { { 0, 4294000000u, 1 }, { 1, 2, 3 }, { 4, 5, 6 }, { 7, 8, 9 } }, .n = SPEC_IDMAP_MAX_RANGES };
    s.container.namespaces = ~0UL;
    round_trip(&s);
    spec_free(&s);
}

/* The filter variant that keeps set-id modes is for appbox's own runs in
 * its store only: it is never written, so a spec.json cannot carry it. */
static void test_store_setid_is_not_carried(void **state)
{
    (void)state;
    struct spec s, back;
    ab_error err = { 0 };
    spec_init(&s);
    s.process.store_setid = true;
    char *text = spec_to_json(&s);
    assert_non_null(text);
    assert_null(strstr(text, "etid"));
    assert_int_equal(spec_from_json(text, WHERE, &back, &err), 0);
    assert_false(back.process.store_setid);
    free(text);
    spec_free(&back);
    spec_free(&s);
}

static void test_json_shape(void **state)
{
    /* what sessions and `show --json` read: the OCI-like key names */
    struct spec s;
    build_rich(&s);
    char *text = spec_to_json(&s);
    assert_non_null(text);
    const char *keys[] = { "\"appboxSpecVersion\"", "\"root\"", "\"rootWritable\"", "\"mounts\"", "\"rbind\"",
                           "\"nosuid\"", "\"size=1m,mode=1777\"", "\"network\":\"host\"", "\"uidMappings\"",
                           "\"containerID\"", "\"hostID\"", "\"process\"", "\"args\"", "\"user\"",
                           "\"callerName\":\"alice\"", "\"/dev/null\"" };
    /* compare without the blanks that pretty printing puts around ':' */
    char *flat = malloc(strlen(text) + 1), *o = flat;
    assert_non_null(flat);
    bool in_string = false;
    for (const char *t = text; *t; t++) {
        if (*t == '"' && (t == text || t[-1] != '\\'))
            in_string = !in_string;
        if (in_string || (*t != ' ' && *t != '\n'))
            *o++ = *t;
    }
    *o = '\0';
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
        if (!strstr(flat, keys[i]))
            fail_msg("JSON lacks %s:\n%s", keys[i], flat);
    free(flat);
    free(text);
    spec_free(&s);
}

/* TEXT is refused; the message names WHERE and NEEDLE; OUT can be freed. */
static void expect_bad(const char *text, const char *needle)
{
    struct spec out;
    memset(&out, 0x5a, sizeof(out)); /* spec_from_json() must not need a clean OUT */
    ab_error err = { 0 };
    int r = spec_from_json(text, WHERE, &out, &err);
    if (r >= 0)
        fail_msg("accepted: %s", text);
    assert_int_equal(err.kind, AB_ERR_RUNTIME);
    if (!strstr(err.msg, WHERE))
        fail_msg("message '%s' does not name %s", err.msg, WHERE);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s' (for %s)", err.msg, needle, text);
    spec_free(&out);
    spec_free(&out);
}

static void test_errors(void **state)
{
    expect_bad("this is not json", "not a spec");
    expect_bad("", "not a spec");
    expect_bad("{\"appboxSpecVersion\": 1, ", "not a spec");
    expect_bad("[1, 2, 3]", "not an object");
    expect_bad("\"a string\"", "not an object");
    expect_bad("{}", "\"appboxSpecVersion\"");
    expect_bad("{\"appboxSpecVersion\": 2}", "\"appboxSpecVersion\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"root\": 5}", "\"root\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"root\": 5}", "expected a string");
    expect_bad("{\"appboxSpecVersion\": 1, \"rootWritable\": \"yes\"}", "\"rootWritable\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"stopSignal\": \"TERM\"}", "\"stopSignal\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"maskedPaths\": \"/proc\"}", "\"maskedPaths\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"network\": \"wifi\"}", "\"network\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"network\": \"wifi\"}", "not a network mode");
    expect_bad("{\"appboxSpecVersion\": 1, \"network\": 1}", "\"network\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"mounts\": [{\"type\": \"bind\", \"source\": \"/x\"}]}", "\"mounts\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"mounts\": [{\"type\": \"overlay\", \"destination\": \"/x\"}]}",
               "\"mounts\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"mounts\": {}}", "\"mounts\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"uidMappings\": 7}", "\"uidMappings\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"gidMappings\": [{\"containerID\": 0}]}", "\"gidMappings\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"process\": {\"uid\": \"0\"}}", "\"uid\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"process\": {\"user\": {\"name\": 3}}}", "\"name\"");
}

static void test_errors_after_allocations(void **state)
{
    /* the failure comes after strings, lists and mounts were allocated:
     * what was read is freed (ASan's leak check) */
    expect_bad("{\"appboxSpecVersion\": 1, \"root\": \"/r\", \"hostname\": \"h\", \"maskedPaths\": [\"/a\", \"/b\"],"
               " \"devices\": [\"/dev/null\", 5]}",
               "\"devices\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"root\": \"/r\", \"mounts\": [{\"type\": \"bind\", \"source\": \"/s\","
               " \"destination\": \"/d\", \"options\": [\"rbind\", \"ro\"], \"origin\": \"--bind\"},"
               " {\"type\": \"tmpfs\", \"destination\": \"/t\", \"options\": [\"mode=0755\"]},"
               " {\"type\": \"tmpfs\"}]}",
               "\"mounts\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"root\": \"/r\", \"mounts\": [{\"type\": \"tmpfs\", \"destination\":"
               " \"/t\"}], \"uidMappings\": [{\"containerID\": 0, \"hostID\": 1, \"size\": 1},"
               " {\"containerID\": 1, \"hostID\": 2, \"size\": 1}, {\"containerID\": 2, \"hostID\": 3, \"size\": 1},"
               " {\"containerID\": 3, \"hostID\": 4, \"size\": 1}, {\"containerID\": 4, \"hostID\": 5, \"size\": 1}]}",
               "\"uidMappings\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"root\": \"/r\", \"process\": {\"args\": [\"sh\"], \"env\": [\"A=1\"],"
               " \"cwd\": \"/w\", \"terminal\": 1}}",
               "\"terminal\"");
    expect_bad("{\"appboxSpecVersion\": 1, \"process\": {\"args\": [\"sh\"], \"user\": {\"home\": \"/h\","
               " \"shell\": 7}}}",
               "\"shell\"");
    /* a string too long for its place in struct spec_user */
    char big[600];
    char name[300];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(big, sizeof(big), "{\"appboxSpecVersion\": 1, \"process\": {\"cwd\": \"/w\", \"user\": {\"name\": \"%s\"}}}",
             name);
    expect_bad(big, "\"name\"");
}

static void test_minimal_and_null(void **state)
{
    /* absent and null fields keep their defaults, except the lists, which
     * come whole from the file */
    struct spec out;
    ab_error err = { 0 };
    assert_int_equal(spec_from_json("{\"appboxSpecVersion\": 1, \"root\": null, \"hostname\": null,"
                                    " \"mounts\": null, \"process\": null}",
                                    WHERE, &out, &err),
                     0);
    assert_null(out.container.root);
    assert_null(out.container.hostname);
    assert_int_equal(out.container.n_mounts, 0);
    assert_int_equal(out.container.stop_signal, SPEC_DEFAULT_STOP_SIGNAL);
    assert_true(out.process.seccomp);
    assert_int_equal(out.container.net, NET_NONE);
    assert_int_equal(out.container.masked_paths.n, 0);
    spec_free(&out);

    /* a tmpfs's data comes back from its options */
    assert_int_equal(spec_from_json("{\"appboxSpecVersion\": 1, \"mounts\": [{\"type\": \"tmpfs\", \"destination\":"
                                    " \"/t\", \"options\": [\"nosuid\", \"mode=0700\", \"noexec\"]}]}",
                                    WHERE, &out, &err),
                     0);
    assert_int_equal(out.container.n_mounts, 1);
    assert_int_equal(out.container.mounts[0].type, MOUNT_TYPE_TMPFS);
    assert_null(out.container.mounts[0].source);
    assert_string_equal(out.container.mounts[0].data, "mode=0700");
    assert_int_equal(out.container.mounts[0].options, MOUNT_NOSUID | MOUNT_NOEXEC);
    spec_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_rich),     cmocka_unit_test(test_round_trip_defaults),
        cmocka_unit_test(test_round_trip_variants), cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_errors),              cmocka_unit_test(test_errors_after_allocations),
        cmocka_unit_test(test_minimal_and_null),    cmocka_unit_test(test_store_setid_is_not_carried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
