"""PID 1 and the life of a sandbox: signal forwarding, orphan reaping, the
sandbox dies with appbox, nothing remains on the host, no fd leaks."""

import os
import random
import select
import signal
import subprocess
import time

import pytest

from conftest import (descendants, find_procs, mountinfo, ok, pid_alive, popen, run_isolated,
                      user_info, wait_until)


def marker():
    """A unique `sleep` argument: finds the sandboxed sleep on the host."""
    return f"{random.randint(1000, 9999)}.{random.randint(10**5, 10**6 - 1)}"


def kill_leftovers(m):
    """Cleanup only: kill the sandboxed processes this test started."""
    for pid in find_procs(m, "sleep"):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def readline(p, timeout=10):
    """Read one line from P's stdout (a pipe, text mode) within TIMEOUT."""
    fd = p.stdout.fileno()
    buf = b""
    end = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            pytest.fail(f"no line from the sandbox within {timeout}s (got {buf!r})")
        c = os.read(fd, 1)
        if not c:
            break
        buf += c
    return buf.decode()


@pytest.fixture
def started():
    """Popen objects a test starts; killed (by pid) if the test fails."""
    procs = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                                 signal.SIGUSR1, signal.SIGUSR2],
                         ids=lambda s: s.name)
def test_signals_are_forwarded(appbox_bin, run_as, started, sig):
    name = sig.name[3:]
    script = (f"trap 'echo got-{name}; exit 0' {name}; echo ready; "
              f"while :; do sleep 0.05; done")
    p = popen([appbox_bin, "sandbox", "--", "/bin/sh", "-c", script], as_user=run_as,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    started.append(p)
    assert readline(p) == "ready\n"
    os.kill(p.pid, sig)
    out, err = p.communicate(timeout=10)
    assert out == f"got-{name}\n", err
    assert p.returncode == 0, err


def test_signal_right_after_start_is_forwarded(appbox_bin, run_as, started):
    """As soon as the command runs, a signal to appbox reaches it (no window
    in which appbox still has the default action and dies instead)."""
    lost = []
    for i in range(100):
        p = popen([appbox_bin, "sandbox", "--", "/bin/sh", "-c",
                   "trap 'echo got; exit 0' TERM; echo ready; while :; do sleep 0.05; done"],
                  as_user=run_as, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  stdin=subprocess.DEVNULL, text=True)
        started.append(p)
        assert readline(p) == "ready\n"
        os.kill(p.pid, signal.SIGTERM)
        out, err = p.communicate(timeout=10)
        if out != "got\n" or p.returncode != 0:
            lost.append((i, out, p.returncode))
    assert not lost, f"signals lost (run, stdout, exit status): {lost}"


def test_untrapped_signal_gives_128_plus_n(appbox_bin, run_as, started):
    m = marker()
    p = popen([appbox_bin, "sandbox", "--", "sleep", m], as_user=run_as,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started.append(p)
    assert wait_until(lambda: find_procs(m, "sleep"), timeout=10)
    os.kill(p.pid, signal.SIGTERM)
    p.communicate(timeout=10)
    assert p.returncode == 128 + signal.SIGTERM
    assert not find_procs(m, "sleep")


def test_orphans_are_reaped(sandbox, run_as):
    """A double-forked child ends up under PID 1, which must reap it."""
    script = ("sh -c 'sleep 0.3 & exit 0'; sh -c '(sleep 0.2; exit 3) &'; sleep 1.5; "
              "ps -eo pid=,ppid=,stat=,comm=")
    out = ok(sandbox(["--", "/bin/sh", "-c", script], as_user=run_as))
    zombies = [l for l in out.splitlines() if l.split()[2].startswith("Z")]
    assert not zombies, out


def test_command_exit_ends_the_sandbox(sandbox, run_as):
    """When the command exits, appbox exits with its status at once, and
    what it left running in the background is killed."""
    m = marker()
    t0 = time.monotonic()
    r = sandbox(["--", "/bin/sh", "-c", f"sleep {m} & sleep {m} & exit 4"], as_user=run_as,
                timeout=30)
    try:
        assert r.returncode == 4, r
        assert time.monotonic() - t0 < 10
        assert wait_until(lambda: not find_procs(m, "sleep"), timeout=5), \
            "background processes survived the sandbox"
    finally:
        kill_leftovers(m)


@pytest.mark.parametrize("opts", [[], ["--network", "host"], ["--uid", "0"]],
                         ids=["default", "nethost", "uid0"])
def test_sigkill_of_appbox_kills_the_sandbox(appbox_bin, run_as, started, opts):
    m = marker()
    before = mountinfo()
    p = popen([appbox_bin, "sandbox", *opts, "--", "/bin/sh", "-c",
               f"sleep {m} & sh -c 'sleep {m}' & sleep {m}"], as_user=run_as,
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started.append(p)
    try:
        assert wait_until(lambda: len(find_procs(m, "sleep")) == 3, timeout=10)
        below = descendants(p.pid)
        assert set(find_procs(m, "sleep")) <= set(below)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        assert wait_until(lambda: not [q for q in below if pid_alive(q)], timeout=5), \
            f"processes survived appbox: {[q for q in below if pid_alive(q)]}"
        # nothing with the marker either (appbox's init carries appbox's argv)
        assert wait_until(lambda: not find_procs(m), timeout=5), find_procs(m)
        assert wait_until(lambda: not (mountinfo() - before), timeout=2)
    finally:
        kill_leftovers(m)


def test_nothing_left_on_the_host(appbox_bin, sandbox, run_as, world_tmp, busybox_root):
    """A sandbox with every kind of mount leaves no mount and no process."""
    before = mountinfo()
    d = world_tmp / "d"
    d.mkdir()
    os.chmod(d, 0o777)
    args = ["--bind", f"{d}:/mnt/d", "--ro-bind", "/etc/passwd:/data/passwd", "--tmpfs", "/data2",
            "--hostname", "x", "--device", "/dev/full:rw"]
    ok(sandbox([*args, "--", "true"], as_user=run_as))
    ok(sandbox(["--root", busybox_root, "--tmpfs", "/tmp", "--", "true"], as_user=run_as))
    r = sandbox([*args, "--", "/bin/sh", "-c", "kill -KILL $$"], as_user=run_as)
    assert r.returncode == 137
    assert mountinfo() == before
    assert not find_procs(appbox_bin)


def test_host_fds_are_not_inherited(sandbox, run_as, world_tmp):
    f = world_tmp / "secret"
    f.write_text("secret\n")
    fd = os.open(f, os.O_RDONLY)
    try:
        os.dup2(fd, 42, inheritable=True)
        r = sandbox(["--", "/bin/sh", "-c",
                     "test -e /proc/self/fd/42 && echo LEAKED; ls /proc/self/fd"],
                    as_user=run_as, pass_fds=(42,))
        out = ok(r)
        assert "LEAKED" not in out
        # sh's own 0 1 2, plus the directory ls reads
        assert set(out.split()) <= {"0", "1", "2", "3"}, out
    finally:
        os.close(42)
        os.close(fd)


def test_stdio_is_passed_through(sandbox, run_as):
    r = sandbox(["--", "/bin/sh", "-c", "cat; echo to-stderr >&2"], as_user=run_as,
                input="from-stdin\n")
    assert ok(r) == "from-stdin\n"
    assert r.stderr == "to-stderr\n"


def test_no_controlling_terminal_without_tty(sandbox, run_as):
    """Without a terminal on stdin and stdout the command runs in a new
    session with no controlling terminal."""
    out = ok(sandbox(["--", "/bin/sh", "-c",
                      "(exec 3</dev/tty) 2>/dev/null && echo HAS-TTY; ps -o pid=,sid= -p $$"],
                     as_user=run_as))
    assert "HAS-TTY" not in out
    pid, sid = out.split()
    assert pid == sid, "the command is not a session leader"


@pytest.mark.parametrize("runtime_dir", [True, False], ids=["xdg-runtime-dir", "no-runtime-dir"])
@pytest.mark.parametrize("how", ["exit0", "exit-status", "signal", "appbox-killed"])
@pytest.mark.parametrize("who", ["root", "user", "nosub"])
def test_no_files_or_mounts_left_behind(appbox_bin, world_tmp, who, how, runtime_dir):
    """Whatever way the sandbox ends, appbox leaves no file in /tmp,
    /var/tmp, /dev/shm, /run or the runtime directory, and no mount (checked
    in a private mount namespace with fresh copies of those)."""
    u = user_info(who)
    d = world_tmp / "d"
    d.mkdir()
    os.chown(d, u.uid, u.gid)
    args = ["--bind", f"{d}:/mnt/d", "--ro-bind", "/etc/hostname:/data/h", "--tmpfs", "/data2"]
    script = {"exit0": "ls /mnt/d /data", "exit-status": "exit 3", "signal": "kill -TERM $$",
              "appbox-killed": "sleep 60"}[how]
    cmd = [appbox_bin, "sandbox", *args, "--", "/bin/sh", "-c", script]
    if how == "appbox-killed":
        cmd = ["timeout", "-s", "KILL", "2", *cmd]
    rc, out, err, report = run_isolated(cmd, who, keep=[str(world_tmp)], runtime_dir=runtime_dir)
    assert rc == {"exit0": 0, "exit-status": 3, "signal": 143, "appbox-killed": 137}[how], err
    assert report == "", f"left behind:\n{report}"
