"""The security suite: a static helper (ab-escape, tests/security/escape.c)
runs inside `appbox sandbox` and tries one way out per test, as root and as
an unprivileged user; each test asserts what a user would check: the
attempt fails, and the host is unchanged."""

import hashlib
import os
import pty
import select
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import popen, run, user_info

ESC = "/ab-escape"


def attempt(appbox_bin, escape_bin, as_user, test, *args, extra=(), **kw):
    cmd = [appbox_bin, "sandbox", "--ro-bind", f"{escape_bin}:{ESC}", *extra, ESC, test, *args]
    return run(cmd, as_user=as_user, **kw)


def assert_blocked(r, test):
    lines = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, f"{test}: no result (rc {r.returncode}): {r.stdout!r} {r.stderr!r}"
    escaped = [l for l in lines if " ESCAPED " in l]
    assert not escaped, f"{test} escaped: {escaped}"
    assert r.returncode == 0, f"{test}: rc {r.returncode}: {r.stdout} {r.stderr}"


SIMPLE = [
    "tiocsti", "tiocsti-highbits", "tioclinux", "proc-masked", "proc-sys-write", "sys-write",
    "mount", "umount", "pivot-root", "unshare-user", "clone-user", "keyctl", "bpf",
    "perf-event-open", "userfaultfd", "open-by-handle", "mknod-block", "fd-leak",
    "exe-write", "nnp", "personality", "seccomp-mode",
]


@pytest.mark.parametrize("test", SIMPLE)
def test_escape_attempt_is_blocked(appbox_bin, escape_bin, run_as, test):
    assert_blocked(attempt(appbox_bin, escape_bin, run_as, test), test)


@pytest.mark.parametrize("test", ["mount", "unshare-user", "keyctl", "bpf", "ptrace", "mknod-block"])
def test_root_inside_is_still_boxed(appbox_bin, escape_bin, run_as, test):
    """--uid 0: root in the container has a few capabilities of its own
    user namespace, and still none of these."""
    assert_blocked(attempt(appbox_bin, escape_bin, run_as, test, extra=("--uid", "0")), test)


def test_nested_user_namespace_without_seccomp_is_the_kernels_call(appbox_bin, escape_bin, run_as):
    """With --seccomp off the filter is gone (and appbox says so)."""
    r = attempt(appbox_bin, escape_bin, run_as, "seccomp-mode", extra=("--seccomp", "off"))
    assert "warning" in r.stderr and "--seccomp off" in r.stderr
    assert "Seccomp: 0" in r.stdout


def test_x32_syscalls_are_refused(appbox_bin, escape_bin, run_as):
    r = attempt(appbox_bin, escape_bin, run_as, "x32")
    # the filter kills a process that uses the x32 ABI
    assert " ESCAPED " not in r.stdout
    assert r.returncode == 128 + signal.SIGSYS, (r.returncode, r.stdout, r.stderr)


def test_no_capabilities_left_for_a_user(appbox_bin, escape_bin, run_as):
    if run_as == "root":
        pytest.skip("a root caller is root inside: see test_root_inside_has_only_the_small_default_set")
    r = attempt(appbox_bin, escape_bin, run_as, "caps")
    assert_blocked(r, "caps")


def test_capabilities_match_capsh(appbox_bin, run_as):
    if not shutil.which("capsh"):
        pytest.skip("capsh (libcap2-bin) is not installed")
    if run_as == "root":
        pytest.skip("a root caller is root inside: see test_root_inside_has_only_the_small_default_set")
    r = run([appbox_bin, "sandbox", "capsh", "--print"], as_user=run_as)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    current = [l for l in out.splitlines() if l.startswith("Current:")][0]
    bounding = [l for l in out.splitlines() if l.startswith("Bounding set")][0]
    assert current.strip() == "Current: =", current
    assert bounding.strip() == "Bounding set =", bounding
    assert "no-new-privs=1" in out.replace(" ", "") or "no_new_privs=1" in out


def test_root_inside_has_only_the_small_default_set(appbox_bin, run_as):
    r = run([appbox_bin, "sandbox", "--uid", "0", "capsh", "--print"], as_user=run_as)
    assert r.returncode == 0, r.stderr
    bounding = [l for l in r.stdout.splitlines() if l.startswith("Bounding set")][0]
    for cap in ("cap_sys_admin", "cap_sys_ptrace", "cap_sys_module", "cap_net_admin", "cap_mknod",
                "cap_sys_rawio", "cap_bpf", "cap_sys_time"):
        assert cap not in bounding, bounding
    assert "cap_chown" in bounding


def test_ptrace_and_kill_of_a_host_process(appbox_bin, escape_bin, run_as):
    victim = popen(["sleep", "60"], as_user=run_as)
    try:
        for test in ("ptrace", "kill-pid"):
            r = attempt(appbox_bin, escape_bin, run_as, test, str(victim.pid))
            assert_blocked(r, test)
        assert victim.poll() is None, "the host process was killed"
        status = Path(f"/proc/{victim.pid}/status").read_text()
        assert "TracerPid:\t0" in status
    finally:
        victim.kill()
        victim.wait()


def test_ptrace_of_init_inside(appbox_bin, escape_bin, run_as):
    assert_blocked(attempt(appbox_bin, escape_bin, run_as, "ptrace", "1"), "ptrace")


def test_host_fd_does_not_leak(appbox_bin, escape_bin, run_as, world_tmp):
    secret = world_tmp / "secret"
    secret.write_text("s3cret")
    os.chmod(secret, 0o644)
    fd = os.open(secret, os.O_RDONLY)
    try:
        r = attempt(appbox_bin, escape_bin, run_as, "fd-leak", pass_fds=(fd,))
        assert_blocked(r, "fd-leak")
    finally:
        os.close(fd)


def test_cwd_does_not_reach_outside(appbox_bin, escape_bin, run_as, world_tmp):
    marker = world_tmp / "outside-marker"
    marker.write_text("x")
    r = attempt(appbox_bin, escape_bin, run_as, "cwd-outside", str(marker), cwd=str(world_tmp))
    assert_blocked(r, "cwd-outside")


def test_setuid_binary_gains_nothing(appbox_bin, run_as, world_tmp):
    """A setuid-root copy of id, bound in: no_new_privs and nosuid keep the
    caller's own uid."""
    if run_as == "root":
        pytest.skip("the caller is root already")
    suid = world_tmp / "suid-id"
    shutil.copy2("/usr/bin/id", suid)
    os.chown(suid, 0, 0)
    os.chmod(suid, 0o4755)
    r = run([appbox_bin, "sandbox", "--ro-bind", f"{suid}:/suid-id", "/suid-id", "-u"], as_user=run_as)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(user_info(run_as).uid)


def read_all(fd, timeout):
    out = b""
    end = time.time() + timeout
    while time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


def test_tiocsti_cannot_reach_the_host_terminal(appbox_bin, escape_bin, run_as):
    """The command's stdin is the host's terminal (stdout is a pipe, so no
    pty of its own): pushing input into it must fail, and nothing must
    arrive on the host side of the terminal."""
    master, slave = pty.openpty()
    try:
        r = run([appbox_bin, "sandbox", "--ro-bind", f"{escape_bin}:{ESC}", ESC, "tiocsti"],
                as_user=run_as, stdin=slave)
        assert_blocked(r, "tiocsti")
        # anything injected would be readable as input on the slave side
        os.set_blocking(slave, False)
        try:
            injected = os.read(slave, 100)
        except BlockingIOError:
            injected = b""
        assert injected == b"", injected
    finally:
        os.close(master)
        os.close(slave)


def test_tiocsti_in_own_pty_stays_in_the_container(appbox_bin, escape_bin, run_as):
    """With a terminal on both ends, the command gets a pty of its own;
    TIOCSTI is refused there too."""
    pid, fd = pty.fork()
    if pid == 0:
        argv = [appbox_bin, "sandbox", "--ro-bind", f"{escape_bin}:{ESC}", ESC, "tiocsti"]
        if run_as != "root":
            u = user_info(run_as)
            argv = ["setpriv", "--reuid", str(u.uid), "--regid", str(u.gid), "--init-groups", "--"] + argv
        os.execvp(argv[0], argv)
    out = read_all(fd, 10)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert b"RESULT tiocsti BLOCKED" in out, out
    assert b"ESCAPED" not in out
    assert os.waitstatus_to_exitcode(status) == 0


def test_symlinked_bind_destination_stays_in_the_root(appbox_bin, run_as, world_tmp):
    """A root whose /evil is a symlink to a host directory: binding onto
    /evil/... must not touch that host directory."""
    from conftest import make_busybox_root
    u = user_info(run_as)
    outside = world_tmp / "outside"
    outside.mkdir()
    os.chmod(outside, 0o777)
    root = Path(make_busybox_root(world_tmp / "root", owner=u))
    os.symlink(str(outside), root / "evil")
    os.lchown(root / "evil", u.uid, u.gid)
    os.symlink("../../../../../../" + str(outside).lstrip("/"), root / "etc" / "climb")
    os.lchown(root / "etc" / "climb", u.uid, u.gid)
    src = world_tmp / "payload"
    src.write_text("payload")
    os.chmod(src, 0o644)
    for dst in ("/evil/planted", "/etc/climb/planted", "/evil/sub/dir/planted"):
        run([appbox_bin, "sandbox", "--root", str(root), "--writable", "--ro-bind", f"{src}:{dst}", "true"],
            as_user=run_as)
        assert list(outside.iterdir()) == [], f"{dst}: wrote on the host: {list(outside.iterdir())}"


def test_appbox_binary_is_not_writable_from_inside(escape_bin, world_tmp):
    """CVE-2019-5736: a user runs an appbox binary they can write (their own
    build).  Inside, /proc/*/exe must not open for writing, and appbox runs
    from a sealed copy, so the file on disk is never the running image."""
    from conftest import require_root
    require_root("the test copies appbox into a user-owned directory")
    u = user_info("user")
    own = world_tmp / "own"
    own.mkdir()
    os.chown(own, u.uid, u.gid)
    binary = own / "appbox"
    shutil.copy2(Path(__file__).resolve().parents[2] / "build" / "appbox", binary)
    os.chown(binary, u.uid, u.gid)
    before = hashlib.sha256(binary.read_bytes()).hexdigest()
    r = run([str(binary), "sandbox", "--ro-bind", f"{escape_bin}:{ESC}", ESC, "exe-write"], as_user="user")
    assert_blocked(r, "exe-write")
    # the running appbox is a sealed memfd, not the file
    p = popen([str(binary), "sandbox", "sleep", "5"], as_user="user")
    try:
        time.sleep(0.5)
        exe = os.readlink(f"/proc/{p.pid}/exe")
        assert exe.startswith("/memfd:appbox"), exe
    finally:
        p.kill()
        p.wait()
    # a script whose interpreter is /proc/self/exe runs the sealed copy
    root = world_tmp / "root"
    from conftest import make_busybox_root
    make_busybox_root(root, owner=u)
    script = root / "evil"
    script.write_text("#!/proc/self/exe\n")
    os.chmod(script, 0o755)
    os.chown(script, u.uid, u.gid)
    run([str(binary), "sandbox", "--root", str(root), "--writable", "/evil"], as_user="user")
    assert hashlib.sha256(binary.read_bytes()).hexdigest() == before


def test_masked_proc_paths_read_empty(appbox_bin, run_as):
    r = run([appbox_bin, "sandbox", "sh", "-c",
             "for f in /proc/kcore /proc/keys /proc/timer_list /proc/kallsyms; do "
             "[ -e $f ] && printf '%s:%s\\n' $f $(wc -c < $f); done; true"], as_user=run_as)
    assert r.returncode == 0, r.stderr
    for line in r.stdout.split():
        path, size = line.rsplit(":", 1)
        assert size == "0", line
