"""A container's identity files and the terminal are hostile ground (issue 9).

- `exec --user` with a passwd entry whose uid or gid is -1, 4294967295 or
  outside the container's id map is refused, and nothing runs (as host
  root, for a root caller, least of all);
- a FIFO at the root's /etc/passwd hangs neither `start` nor `exec --user`,
  and leaves no process behind;
- /etc/passwd linked into /proc (/proc/1/mountinfo, /proc/self/environ) is
  not followed at start: appbox's view of the host never becomes the
  container's /etc/passwd;
- a terminal on any of fds 0-2 never crosses into the container: with
  stdin from /dev/null and stdout/stderr on a terminal, the command's fd 1
  is not that terminal, and it cannot change its modes or size.

As root and as an unprivileged user (the `ctr` and `run_as` fixtures)."""

import fcntl
import os
import sys
import pty
import struct
import subprocess
import termios
import time

import pytest

from conftest import REPO, ok, processes_matching, run, wait_until

sys.path.insert(0, str(REPO / "tests" / "integration"))
from containers_support import ctr, one_line_error  # noqa: F401 (fixture)


def rootfs(ctr, name):
    return ctr.data / name / "rootfs"


def add_passwd_line(ctr, name, line):
    p = rootfs(ctr, name) / "etc" / "passwd"
    st = p.stat()
    with open(p, "a") as f:
        f.write(line + "\n")
    os.chown(p, st.st_uid, st.st_gid)


def outbox(world_tmp):
    """A directory anyone may write: what a command that ran left there."""
    d = world_tmp / "out"
    d.mkdir()
    os.chmod(d, 0o777)
    return d


BAD_ENTRIES = {
    "uid-minus-1": ("svc:x:-1:100:svc:/:/bin/sh", "-1"),
    "gid-minus-1": ("svc:x:100:-1:svc:/:/bin/sh", "-1"),
    "uid-4294967295": ("svc:x:4294967295:100:svc:/:/bin/sh", "4294967295"),
    "gid-4294967295": ("svc:x:100:4294967295:svc:/:/bin/sh", "4294967295"),
    "uid-4294967296": ("svc:x:4294967296:100:svc:/:/bin/sh", "4294967296"),
    "uid-outside-map": ("svc:x:70000:100:svc:/:/bin/sh", "70000"),
    "gid-outside-map": ("svc:x:100:70000:svc:/:/bin/sh", "70000"),
}


@pytest.mark.parametrize("entry", sorted(BAD_ENTRIES))
def test_exec_user_with_an_id_outside_the_map_is_refused(ctr, world_tmp, entry):
    line, shown = BAD_ENTRIES[entry]
    out = outbox(world_tmp)
    ctr.create("iu", "--bind", f"{out}:/out", launcher=False)
    add_passwd_line(ctr, "iu", line)
    ok(ctr.ab("start", "iu"))
    r = ctr.ab("exec", "--user", "svc", "iu", "sh", "-c", "id > /out/ran; touch /out/ran-too", timeout=30)
    msg = one_line_error(r)
    assert "svc" in msg and shown in msg, msg
    # nothing ran: not as host root, not as anyone
    assert sorted(os.listdir(out)) == [], sorted(os.listdir(out))
    # a good user still works, and the container is unharmed
    assert ok(ctr.ab("exec", "--user", "nobody", "iu", "id", "-u")).strip() == "65534"
    ok(ctr.ab("stop", "iu", timeout=30))


def test_exec_numeric_user_minus_one_is_refused(ctr, world_tmp):
    out = outbox(world_tmp)
    ctr.create("in", "--bind", f"{out}:/out", launcher=False)
    add_passwd_line(ctr, "in", "svc:x:-1:-1:svc:/:/bin/sh")
    ok(ctr.ab("start", "in"))
    for who in ("-1", "4294967295"):
        r = ctr.ab("exec", "--user", who, "in", "sh", "-c", "id > /out/ran", timeout=30)
        one_line_error(r)
        assert sorted(os.listdir(out)) == [], who
    ok(ctr.ab("stop", "in", timeout=30))


def test_fifo_passwd_hangs_neither_start_nor_exec(ctr):
    ctr.create("ff", launcher=False)
    for f in ("passwd", "group"):
        p = rootfs(ctr, "ff") / "etc" / f
        st = p.stat()
        p.unlink()
        os.mkfifo(p, 0o644)
        os.chown(p, st.st_uid, st.st_gid)
    # start: the FIFO is not extended (and not opened for a blocking read)
    r = ctr.ab("start", "ff", timeout=30)
    assert r.returncode == 0, r.stderr
    # exec --user: refused at once, not stuck reading the FIFO
    t0 = time.monotonic()
    r = ctr.ab("exec", "--user", "svc", "ff", "true", timeout=20)
    assert time.monotonic() - t0 < 15
    msg = one_line_error(r)
    assert "/etc/passwd" in msg, msg
    # numeric ids need no passwd file
    # (not `id`: it would read the FIFO itself, which is the container's business)
    out = ok(ctr.ab("exec", "--user", "0", "ff", "grep", "^Uid:", "/proc/self/status", timeout=20))
    assert out.split()[1:] == ["0"] * 4, out
    # no helper left holding a session: the count goes back to 0
    assert wait_until(lambda: ctr.sessions("ff") == 0, timeout=10), ctr.info("ff")
    assert wait_until(lambda: not processes_matching(f"{ctr.appbox}\0exec\0--user\0svc\0ff\0"), timeout=10)
    ok(ctr.ab("stop", "ff", timeout=30))
    assert ctr.state("ff") == "stopped"


PROC_LINKS = ["/proc/1/mountinfo", "/proc/1/environ"]


@pytest.mark.parametrize("target", PROC_LINKS)
def test_passwd_linked_into_proc_is_not_followed_at_start(ctr, target):
    ctr.create("pl", launcher=False)
    p = rootfs(ctr, "pl") / "etc" / "passwd"
    p.unlink()
    os.symlink(target, p)
    r = ctr.ab("start", "pl", timeout=30)
    if r.returncode != 0:
        # refusing is fine, if clean
        one_line_error(r)
        assert ctr.state("pl") == "stopped"
        return
    text = ctr.ab("exec", "pl", "cat", "/etc/passwd", timeout=30).stdout
    # appbox's view of the host before pivot_root: its staging root ...
    assert "/tmp/root" not in text, text
    # ... or appbox's (the supervisor's) environment
    for k, v in ctr.env.items():
        assert f"{k}={v}" not in text, (k, text)
    if "environ" in target:
        assert str(ctr.base) not in text, text
    # and nothing was bound over it: the root's link is left as it is
    mi = ok(ctr.ab("exec", "pl", "cat", "/proc/self/mountinfo", timeout=30))
    assert not [l for l in mi.splitlines() if l.split()[4] == "/etc/passwd"], mi
    ok(ctr.ab("stop", "pl", timeout=30))


# --- the host terminal


def _winsize(fd):
    return struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))


SCRIPT = ("stat -L -c '%t:%T' /proc/self/fd/1; stat -L -c '%t:%T' /proc/self/fd/2; "
          "stty raw -echo 0<&1 2>/dev/null; stty cols 7 rows 3 0<&2 2>/dev/null; "
          "cat /proc/self/fd/1 </dev/null >/dev/null 2>&1 & sleep 0.2; kill $! 2>/dev/null; echo end")


def _on_a_test_pty(argv, as_user, extra_env=None):
    master, slave = pty.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
        before_attr, before_ws = termios.tcgetattr(slave), _winsize(slave)
        st = os.fstat(slave)
        r = run(argv, as_user=as_user, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, timeout=60,
                extra_env=extra_env)
        after_attr, after_ws = termios.tcgetattr(slave), _winsize(slave)
        os.set_blocking(master, False)
        out = b""
        try:
            while True:
                d = os.read(master, 65536)
                if not d:
                    break
                out += d
        except (BlockingIOError, OSError):
            pass
    finally:
        os.close(slave)
        os.close(master)
    text = out.decode(errors="replace").replace("\r", "")
    dev = f"{os.major(st.st_rdev):x}:{os.minor(st.st_rdev):x}"
    return r, text, dev, (before_attr, before_ws), (after_attr, after_ws)


def _check_terminal(r, text, dev, before, after):
    assert r.returncode == 0, text
    lines = text.split("\n")
    assert "end" in lines, text
    assert lines[0] != dev and lines[1] != dev, f"fds 1/2 are the host's pty {dev}: {text}"
    assert after[1] == before[1], f"window size changed: {before[1]} -> {after[1]}"
    assert after[0] == before[0], "terminal modes changed"


def test_sandbox_never_gets_the_host_terminal(run_as, appbox_bin):
    _check_terminal(*_on_a_test_pty([appbox_bin, "sandbox", "--", "sh", "-c", SCRIPT], run_as))


def test_exec_never_gets_the_host_terminal(ctr):
    ctr.create("tt", launcher=False)
    ok(ctr.ab("start", "tt"))
    argv = [ctr.appbox, "exec", "tt", "sh", "-c", SCRIPT]
    _check_terminal(*_on_a_test_pty(argv, ctr.as_user, extra_env=ctr.env))
    ok(ctr.ab("stop", "tt", timeout=30))


def test_stdin_terminal_alone_is_relayed_not_passed(run_as, appbox_bin):
    """stdin a terminal, stdout a pipe: the command reads what is typed
    through a pipe, never the terminal itself."""
    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        p = subprocess.Popen(
            conftest_wrap([appbox_bin, "sandbox", "--", "sh", "-c",
                           "stat -L -c '%F' /proc/self/fd/0; stty raw 2>/dev/null; read x; echo got=$x"], run_as),
            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=conftest_env(run_as))
        os.write(master, b"hello\n")
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        lines = out.decode().split("\n")
        assert lines[0] == "fifo", out
        assert "got=hello" in lines, out
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(slave)
        os.close(master)


def conftest_wrap(cmd, as_user):
    from conftest import as_user_argv
    return as_user_argv(cmd, as_user)


def conftest_env(as_user):
    from conftest import user_env
    return user_env(as_user)
