/* appbox-oci's state directory (oci/state.h). */
#include "oci/state.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "cgroup/oci.h"
#include "util/cleanup.h"
#include "util/fsutil.h"

#define OCI_STATE_VERSION "1.1.0"
#define STATE_FILE "state.json"
#define LOCK_FILE "lock"
#define FIFO_FILE "exec.fifo"
#define STATE_MAX (1 << 20)

char *oci_state_default_root(uid_t uid, const char *xdg_runtime_dir)
{
    char *root = NULL;
    int r;
    if (xdg_runtime_dir && xdg_runtime_dir[0] == '/')
        r = asprintf(&root, "%s/appbox-oci", xdg_runtime_dir);
    else if (uid == 0)
        r = asprintf(&root, "/run/appbox-oci");
    else
        r = asprintf(&root, "/tmp/appbox-oci-%u", (unsigned)uid);
    return r < 0 ? NULL : root;
}

bool oci_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 1024)
        return false;
    /* "." and ".." start with a dot: the first character is alphanumeric */
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

int oci_state_open_root(const char *root, bool create, ab_error *err)
{
    if (!root || root[0] != '/')
        return ab_usage(err, "--root: '%s' is not an absolute path", root ? root : "");
    if (create) {
        int r = fs_make_path(root, err);
        if (r < 0)
            return r;
    }
    _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOTDIR || e == ELOOP)
            return ab_fail(err, ENOTDIR, "cannot use %s as the state root", root);
        return ab_fail(err, e, "cannot open the state root %s", root);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return ab_fail(err, errno, "cannot stat the state root %s", root);
    /* another user's directory would let them change what delete removes
     * and which pids kill signals */
    if (st.st_uid != geteuid())
        return ab_fail(err, 0, "cannot use the state root %s: it belongs to uid %u, not to the caller (uid %u)",
                       root, (unsigned)st.st_uid, (unsigned)geteuid());
    if (st.st_mode & 022)
        return ab_fail(err, 0, "cannot use the state root %s: others may write it (mode %04o)", root,
                       (unsigned)(st.st_mode & 07777));
    return take_fd(&fd);
}

static int take_lock(int dirfd, const char *id, ab_error *err)
{
    _cleanup_close_ int fd = openat(dirfd, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return ab_fail(err, errno, "cannot open the lock of container %s", id);
    /* a POSIX record lock, not flock(): create forks PID 1 while it holds
     * the lock, and PID 1 keeps create's fds until it execs; a flock would
     * go with the open file to PID 1 and outlive create, a record lock
     * belongs to the process that took it */
    struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    while (fcntl(fd, F_SETLKW, &l) < 0)
        if (errno != EINTR)
            return ab_fail(err, errno, "cannot lock container %s", id);
    return take_fd(&fd);
}

int oci_state_create_dir(int rootfd, const char *id, int *lockfd, ab_error *err)
{
    if (!oci_id_valid(id))
        return ab_usage(err, "invalid container id '%s'", id);
    if (mkdirat(rootfd, id, 0700) < 0) {
        if (errno == EEXIST)
            return ab_fail(err, 0, "container %s already exists", id);
        return ab_fail(err, errno, "cannot make the state directory of container %s", id);
    }
    _cleanup_close_ int fd = openat(rootfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        unlinkat(rootfd, id, AT_REMOVEDIR);
        return ab_fail(err, e, "cannot open the state directory of container %s", id);
    }
    int lk = take_lock(fd, id, err);
    if (lk < 0) {
        ab_error ignored;
        oci_state_remove_dir(rootfd, id, &ignored);
        return lk;
    }
    *lockfd = lk;
    return take_fd(&fd);
}

int oci_state_open_dir(int rootfd, const char *id, int *lockfd, ab_error *err)
{
    if (!oci_id_valid(id))
        return ab_usage(err, "invalid container id '%s'", id);
    _cleanup_close_ int fd = openat(rootfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            ab_error_set(err, AB_ERR_RUNTIME, 0, "container %s does not exist", id);
            return -ENOENT;
        }
        return ab_fail(err, errno, "cannot open the state directory of container %s", id);
    }
    if (lockfd) {
        _cleanup_close_ int lk = take_lock(fd, id, err);
        if (lk < 0)
            return lk;
        /* a delete that held the lock before us removed the directory
         * (our fd still names the unlinked one); a create that failed
         * leaves no state.json, and one killed before its first state
         * (it held the lock from mkdir on: it is gone) leaves its
         * directory, removed here so that the id can be used again */
        if (faccessat(fd, STATE_FILE, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
            struct stat st;
            ab_error ignored = { 0 };
            if (fstat(fd, &st) == 0 && st.st_nlink > 0)
                oci_state_remove_dir(rootfd, id, &ignored);
            ab_error_set(err, AB_ERR_RUNTIME, 0, "container %s does not exist", id);
            return -ENOENT;
        }
        *lockfd = take_fd(&lk);
    }
    return take_fd(&fd);
}

int oci_state_write_file(int dirfd, const char *name, const char *text, ab_error *err)
{
    char tmp[NAME_MAX + 1];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= sizeof(tmp))
        return ab_fail(err, ENAMETOOLONG, "cannot write %s", name);
    _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ab_fail(err, errno, "cannot write %s", tmp);
    /* no fsync: the state lives as long as the boot (its root is on a
     * tmpfs, /run or $XDG_RUNTIME_DIR, by default); the rename alone makes
     * a reader see the old text or the new, never a part */
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || renameat(dirfd, tmp, dirfd, name) < 0) {
        int e = errno ? errno : EIO;
        unlinkat(dirfd, tmp, 0);
        return ab_fail(err, e, "cannot write %s", name);
    }
    return 0;
}

static const char *const status_names[] = {
    [OCI_STATUS_CREATING] = "creating", [OCI_STATUS_CREATED] = "created", [OCI_STATUS_RUNNING] = "running",
    [OCI_STATUS_PAUSED] = "paused",     [OCI_STATUS_STOPPED] = "stopped",
};

const char *oci_status_name(enum oci_status s)
{
    return (unsigned)s < ARRAY_SIZE(status_names) ? status_names[s] : "unknown";
}

static int status_from_name(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(status_names); i++)
        if (strcmp(status_names[i], name) == 0)
            return (int)i;
    return -1;
}

static int add_string(json_object *o, const char *key, const char *val)
{
    json_object *v = json_object_new_string(val ? val : "");
    if (!v || json_object_object_add(o, key, v) < 0) {
        json_object_put(v);
        return -ENOMEM;
    }
    return 0;
}

static int add_int(json_object *o, const char *key, int64_t val)
{
    json_object *v = json_object_new_int64(val);
    if (!v || json_object_object_add(o, key, v) < 0) {
        json_object_put(v);
        return -ENOMEM;
    }
    return 0;
}

/* The keys runtime-spec's state has, in its order (runc's extras after). */
static int add_spec_keys(json_object *o, const struct oci_state *st, enum oci_status status)
{
    int r = 0;
    r |= add_string(o, "ociVersion", OCI_STATE_VERSION);
    r |= add_string(o, "id", st->id);
    r |= add_int(o, "pid", status == OCI_STATUS_STOPPED ? 0 : st->pid);
    r |= add_string(o, "status", oci_status_name(status));
    r |= add_string(o, "bundle", st->bundle);
    r |= add_string(o, "rootfs", st->rootfs);
    r |= add_string(o, "created", st->created);
    if (st->annotations) {
        json_object *a = json_object_get(st->annotations);
        if (json_object_object_add(o, "annotations", a) < 0) {
            json_object_put(a);
            r = -ENOMEM;
        }
    }
    return r ? -ENOMEM : 0;
}

static char *to_text(json_object *o)
{
    const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE);
    char *s = NULL;
    if (t && asprintf(&s, "%s\n", t) < 0)
        s = NULL;
    return s;
}

char *oci_state_json(const struct oci_state *st, enum oci_status status)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    char *s = NULL;
    if (add_spec_keys(o, st, status) == 0 && add_string(o, "owner", "") == 0)
        s = to_text(o);
    json_object_put(o);
    return s;
}

int oci_state_write(int dirfd, const struct oci_state *st, ab_error *err)
{
    json_object *o = json_object_new_object();
    if (!o)
        return ab_fail(err, ENOMEM, "cannot write the state of container %s", st->id);
    int r = add_spec_keys(o, st, st->status);
    /* appbox-oci's own: enough to tell PID 1 from a reused pid and to
     * undo what create made */
    r |= add_int(o, "pid", st->pid);
    r |= add_int(o, "start_time", (int64_t)st->start_time);
    r |= add_int(o, "owner", st->owner);
    json_object *cg = json_object_new_array();
    if (!cg || json_object_object_add(o, "cgroups", cg) < 0) {
        json_object_put(cg);
        r = -ENOMEM;
    } else {
        for (size_t i = 0; i < st->cgroups.n; i++) {
            json_object *v = json_object_new_string(st->cgroups.v[i]);
            if (!v || json_object_array_add(cg, v) < 0) {
                json_object_put(v);
                r = -ENOMEM;
            }
        }
    }
    json_object *ours = json_object_new_boolean(st->cgroups_ours);
    if (!ours || json_object_object_add(o, "cgroups_ours", ours) < 0) {
        json_object_put(ours);
        r = -ENOMEM;
    }
    _cleanup_free_ char *text = r == 0 ? to_text(o) : NULL;
    json_object_put(o);
    if (!text)
        return ab_fail(err, ENOMEM, "cannot write the state of container %s", st->id);
    r = oci_state_write_file(dirfd, STATE_FILE, text, err);
    return r < 0 ? ab_error_prefix(err, "container %s", st->id) : 0;
}

static const char *get_string(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                              : NULL;
}

static bool get_int(json_object *o, const char *key, int64_t *val)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    *val = json_object_get_int64(v);
    return true;
}

static int dup_string(json_object *o, const char *key, char **out)
{
    const char *s = get_string(o, key);
    *out = strdup(s ? s : "");
    return *out ? 0 : -ENOMEM;
}

int oci_state_read(int dirfd, struct oci_state *st, ab_error *err)
{
    memset(st, 0, sizeof(*st));
    _cleanup_free_ char *text = NULL;
    _cleanup_close_ int fd = openat(dirfd, STATE_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || !(text = fs_read_fd(fd, STATE_MAX)))
        return ab_fail(err, errno, "cannot read %s", STATE_FILE);
    enum json_tokener_error jerr;
    json_object *o = json_tokener_parse_verbose(text, &jerr);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return ab_fail(err, 0, "cannot read %s: not a JSON object (%s)", STATE_FILE,
                       o ? "another type" : json_tokener_error_desc(jerr));
    }
    int64_t pid = 0, start = 0, owner = 0;
    const char *status = get_string(o, "status");
    int s = status ? status_from_name(status) : -1;
    int r = 0;
    if (!get_string(o, "id") || s < 0 || !get_int(o, "pid", &pid) || pid < 0 || pid > INT_MAX ||
        !get_int(o, "start_time", &start) || !get_int(o, "owner", &owner))
        r = ab_fail(err, 0, "cannot read %s: a key is missing or has the wrong type", STATE_FILE);
    if (r == 0 && (dup_string(o, "id", &st->id) < 0 || dup_string(o, "bundle", &st->bundle) < 0 ||
                   dup_string(o, "rootfs", &st->rootfs) < 0 || dup_string(o, "created", &st->created) < 0))
        r = ab_fail(err, ENOMEM, "cannot read %s", STATE_FILE);
    json_object *v;
    if (r == 0 && json_object_object_get_ex(o, "cgroups", &v) && json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; r == 0 && i < json_object_array_length(v); i++) {
            const char *g = json_object_get_string(json_object_array_get_idx(v, i));
            if (g && strv_push(&st->cgroups, g) < 0)
                r = ab_fail(err, ENOMEM, "cannot read %s", STATE_FILE);
        }
    }
    if (r == 0 && json_object_object_get_ex(o, "annotations", &v) && json_object_is_type(v, json_type_object))
        st->annotations = json_object_get(v);
    st->cgroups_ours = json_object_object_get_ex(o, "cgroups_ours", &v) && json_object_get_boolean(v);
    st->pid = (pid_t)pid;
    st->start_time = (unsigned long long)start;
    st->owner = (uid_t)owner;
    st->status = (enum oci_status)s;
    json_object_put(o);
    if (r < 0)
        oci_state_free(st);
    return r;
}

void oci_state_free(struct oci_state *st)
{
    free(st->id);
    free(st->bundle);
    free(st->rootfs);
    free(st->created);
    strv_clear(&st->cgroups);
    json_object_put(st->annotations);
    memset(st, 0, sizeof(*st));
}

int oci_state_remove_dir(int rootfd, const char *id, ab_error *err)
{
    if (!oci_id_valid(id))
        return ab_usage(err, "invalid container id '%s'", id);
    int r = fs_remove_tree_at(rootfd, id, err);
    return r < 0 ? ab_error_prefix(err, "cannot remove the state of container %s", id) : 0;
}

unsigned long long oci_proc_start_time(pid_t pid)
{
    if (pid <= 0)
        return 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_free_ char *text = fs_read_file_at(AT_FDCWD, path, false, 4096);
    if (!text)
        return 0;
    /* the command (field 2) may hold spaces and parentheses: the fields
     * after it start at its last ')' */
    char *p = strrchr(text, ')');
    if (!p)
        return 0;
    char state = 0;
    unsigned long long start = 0;
    /* state, then fields 4-21 skipped, then starttime (22) */
    if (sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &state,
               &start) != 2)
        return 0;
    if (state == 'Z' || state == 'X')
        return 0;
    return start;
}

enum oci_status oci_state_status(int dirfd, const struct oci_state *st)
{
    if (st->pid <= 0)
        return st->status == OCI_STATUS_CREATING ? OCI_STATUS_CREATING : OCI_STATUS_STOPPED;
    unsigned long long now = oci_proc_start_time(st->pid);
    if (now == 0 || (st->start_time && now != st->start_time))
        return OCI_STATUS_STOPPED;
    if (st->status == OCI_STATUS_CREATING)
        return OCI_STATUS_CREATING;
    /* PID 1 waits on the fifo until start writes it and removes it */
    if (faccessat(dirfd, FIFO_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return OCI_STATUS_CREATED;
    if (st->cgroups.n && cgroup_oci_frozen(&st->cgroups) == 1)
        return OCI_STATUS_PAUSED;
    return OCI_STATUS_RUNNING;
}
