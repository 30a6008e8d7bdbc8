/* appbox-oci kill, delete, pause and resume. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "oci/cli.h"
#include "util/cleanup.h"
#include "cgroup/oci.h"

int oci_cmd_kill(struct oci_cli *cli, struct oci_args *a)
{
    const char *id = a->pos[0];
    _cleanup_ctr_ struct oci_ctr c;
    if (oci_ctr_open(cli, id, false, &c))
        return 1;
    struct oci_state *st = &c.st;
    enum oci_status s = c.status;
    int code = 0;
    int sig = SIGTERM;
    if (a->npos > 1 && (sig = oci_signal_parse(a->pos[1])) < 0)
        code = oci_error(cli, "kill: invalid signal '%s' (expected a name such as TERM, SIGKILL or HUP, or a number "
                              "1-%d)",
                         a->pos[1], SIGRTMAX);
    if (code == 0 && s != OCI_STATUS_CREATED && s != OCI_STATUS_RUNNING && s != OCI_STATUS_PAUSED)
        code = oci_error(cli, "container not running (container %s is %s)", id, oci_status_name(s));
    if (code == 0 && a->opt[KILL_ALL].set) {
        int r = oci_signal_all(cli, st, sig);
        if (r < 0)
            code = oci_error(cli, "cannot send signal %d to container %s: %s", sig, id, strerror(-r));
        /* a frozen process only dies once thawed (runc does this too) */
        ab_error err = { 0 };
        if (s == OCI_STATUS_PAUSED && sig == SIGKILL && cgroup_oci_freeze(&st->cgroups, false, &err) < 0)
            oci_warn(cli, "%s", err.msg);
    } else if (code == 0) {
        int r = oci_signal_init(st, sig);
        if (r == -ESRCH)
            code = oci_error(cli, "container not running (container %s: its process %d is gone)", id, (int)st->pid);
        else if (r < 0)
            code = oci_error(cli, "cannot send signal %d to container %s (process %d): %s", sig, id, (int)st->pid,
                             strerror(-r));
    }
    return code;
}

int oci_cmd_delete(struct oci_cli *cli, struct oci_args *a)
{
    const char *id = a->pos[0];
    bool force = a->opt[DELETE_FORCE].set;
    if (!oci_check_id(cli, id))
        return 1;
    if (force) {
        /* a missing container is deleted already (runc says nothing) */
        ab_error err = { 0 };
        _cleanup_close_ int r = oci_state_open_root(cli->root, false, &err);
        if (r == -ENOENT || (r >= 0 && faccessat(r, id, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT))
            return 0;
        /* a create killed before its first state: its directory goes
         * (oci_state_open_dir), and the id is free */
        int lockfd = -1;
        int d = oci_state_open_dir(r, id, &lockfd, &err);
        if (d == -ENOENT)
            return 0;
        if (d >= 0) {
            close(d);
            close(lockfd);
        }
    }
    _cleanup_ctr_ struct oci_ctr c;
    if (oci_ctr_open(cli, id, true, &c))
        return 1;
    enum oci_status s = c.status;
    int code = 0;
    /* runc deletes a created container without --force (its process
     * never ran); creating with the lock ours: its create died */
    if ((s == OCI_STATUS_RUNNING || s == OCI_STATUS_PAUSED) && !force) {
        code = oci_error(cli, "cannot delete container %s that is not stopped: %s (use --force)", id,
                         oci_status_name(s));
    } else if (s != OCI_STATUS_STOPPED) {
        oci_signal_all(cli, &c.st, SIGKILL);
        ab_error err = { 0 };
        if (s == OCI_STATUS_PAUSED && cgroup_oci_freeze(&c.st.cgroups, false, &err) < 0)
            oci_warn(cli, "%s", err.msg);
        if (oci_wait_gone(&c.st) < 0)
            code = oci_error(cli, "cannot delete container %s: its process %d is still there after SIGKILL", id,
                             (int)c.st.pid);
    }
    if (code == 0)
        oci_teardown(cli, c.rootfd, c.dirfd, &c.st);
    return code;
}

static int freeze(struct oci_cli *cli, const char *id, bool frozen)
{
    _cleanup_ctr_ struct oci_ctr c;
    if (oci_ctr_open(cli, id, true, &c))
        return 1;
    int code = 0;
    ab_error err = { 0 };
    if (frozen && c.status != OCI_STATUS_RUNNING)
        code = oci_error(cli, "container not running (container %s is %s)", id, oci_status_name(c.status));
    else if (!frozen && c.status != OCI_STATUS_PAUSED)
        code = oci_error(cli, "container not paused (container %s is %s)", id, oci_status_name(c.status));
    else if (c.st.cgroups.n == 0)
        code = oci_error(cli, "cannot %s container %s: it has no freezer cgroup (rootless without a delegated group?)",
                         frozen ? "pause" : "resume", id);
    else if (cgroup_oci_freeze(&c.st.cgroups, frozen, &err) < 0)
        code = oci_report(cli, &err);
    if (code == 0) {
        c.st.status = frozen ? OCI_STATUS_PAUSED : OCI_STATUS_RUNNING;
        if (oci_state_write(c.dirfd, &c.st, &err) < 0)
            oci_warn(cli, "%s", err.msg);
    }
    return code;
}

int oci_cmd_pause(struct oci_cli *cli, struct oci_args *a)
{
    return freeze(cli, a->pos[0], true);
}

int oci_cmd_resume(struct oci_cli *cli, struct oci_args *a)
{
    return freeze(cli, a->pos[0], false);
}
