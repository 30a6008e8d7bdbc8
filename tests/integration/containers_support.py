"""Helpers for the named-container tests (test_containers_*.py, issue 3).

Every test gets its own store: APPBOX_DATA_DIR, APPBOX_RUNTIME_DIR and HOME
(where launchers go) in a fresh directory owned by the caller under test,
so no test touches /var/lib/appbox, /run/appbox, ~/.local or another
test's containers.  The fixture `ctr` is parametrized by `run_as` (root
and the unprivileged `abtest`), and its finalizer kills what the test
started and removes every container with `appbox rm --force`.

Import into a test module with
    from containers_support import ctr, ...  # noqa: F401 (fixture)
"""

import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ok, pid_alive, popen, run, user_info, wait_until

# what readlink /proc/self/ns/pid prints
NS_RE = re.compile(r"^pid:\[\d+\]$")


class Store:
    """One caller's appbox world: data, runtime and home directories."""

    def __init__(self, as_user, appbox, base, busybox_root):
        self.as_user = as_user
        self.user = user_info(as_user)
        self.appbox = appbox
        self.base = base
        self.data = base / "data"
        self.runtime = base / "run"
        self.home = base / "home"
        self.bindir = self.home / ".local" / "bin"
        self.src_root = busybox_root
        self.procs = []

    # --- environment and running appbox

    @property
    def env(self):
        return {
            "APPBOX_DATA_DIR": str(self.data),
            "APPBOX_RUNTIME_DIR": str(self.runtime),
            "HOME": str(self.home),
            "PATH": f"{self.bindir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        }

    def ab(self, *args, env=None, **kw):
        """Run `appbox ARGS...` as the caller; CompletedProcess."""
        e = dict(self.env)
        e.update(env or {})
        kw.setdefault("errors", "replace")  # appbox may print a binary appbox.conf
        return run([self.appbox, *args], as_user=self.as_user, extra_env=e, **kw)

    def sh(self, script, env=None, **kw):
        """Run a shell command line as the caller, with the store's PATH
        (so launchers are found by name)."""
        e = dict(self.env)
        e.update(env or {})
        return run(["/bin/sh", "-c", script], as_user=self.as_user, extra_env=e, **kw)

    def popen(self, *args, env=None, argv=None, **kw):
        """Start `appbox ARGS...` (or ARGV) in the background; the Popen is
        killed at teardown if it is still running."""
        e = dict(self.env)
        e.update(env or {})
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = popen(argv if argv is not None else [self.appbox, *args], as_user=self.as_user, extra_env=e, **kw)
        self.procs.append(p)
        return p

    # --- containers

    def create(self, name, *args, base=None, launcher=True):
        """`appbox create NAME --base dir:<busybox root> ARGS...`."""
        argv = ["create", name, "--base", base or f"dir:{self.src_root}", *args]
        if not launcher:
            argv.append("--no-launcher")
        return ok(self.ab(*argv))

    def conf(self, name):
        return self.data / name / "appbox.conf"

    def launcher(self, name):
        return self.bindir / name

    def log(self, name):
        p = self.data / name / "log"
        try:
            return p.read_text().splitlines()
        except FileNotFoundError:
            return []

    def starts(self, name):
        return sum(1 for l in self.log(name) if re.search(r" started \(supervisor \d+, init \d+\)$", l))

    def stops(self, name):
        return sum(1 for l in self.log(name) if " stopped (" in l)

    def listing(self):
        return json.loads(ok(self.ab("list", "--json")))

    def info(self, name):
        for c in self.listing():
            if c["name"] == name:
                return c
        return None

    def state(self, name):
        i = self.info(name)
        return i and i["state"]

    def sessions(self, name):
        i = self.info(name)
        return i and i["sessions"]

    def wait_state(self, name, state, timeout=15):
        return wait_until(lambda: self.state(name) == state, timeout=timeout, interval=0.1)

    def show(self, name):
        return json.loads(ok(self.ab("show", name, "--json")))

    def runtime_pid(self, name, what):
        """supervisor.pid / init.pid of a running container (int)."""
        return int((self.runtime / name / f"{what}.pid").read_text())

    # --- on-disk snapshot: what a refused command must leave as it was

    def snapshot(self):
        """Every path under data, runtime and home: type, mode, owner and,
        for regular files, inode, size, mtime and content hash.  Inside a
        rootfs only names, types and modes (it is large and unchanging)."""
        snap = {}
        for top in (self.data, self.runtime, self.home):
            if not top.exists():
                snap[str(top)] = "absent"
                continue
            for dirpath, dirs, files in os.walk(top):
                for n in dirs + files:
                    p = Path(dirpath) / n
                    st = p.lstat()
                    rel = str(p)
                    if "/rootfs/" in rel or rel.endswith("/rootfs"):
                        snap[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode))
                        continue
                    entry = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
                    if stat.S_ISREG(st.st_mode):
                        entry += (st.st_ino, st.st_size, st.st_mtime_ns,
                                  hashlib.sha256(p.read_bytes()).hexdigest())
                    elif stat.S_ISLNK(st.st_mode):
                        entry += (os.readlink(p),)
                    snap[rel] = entry
        return snap

    # --- teardown

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.kill()
                except OSError:
                    pass
        for p in self.procs:
            try:
                p.communicate(timeout=10)
            except (subprocess.TimeoutExpired, ValueError, OSError):
                pass
        names = []
        if self.data.is_dir():
            names = [d.name for d in self.data.iterdir() if (d / "appbox.conf").exists()]
        for n in names:
            r = self.ab("rm", "--force", n, timeout=60)
            if r.returncode != 0 and (self.data / n).exists():
                # a broken appbox.conf must not keep a container alive:
                # stop its supervisor ourselves, then remove the files
                try:
                    os.kill(self.runtime_pid(n, "supervisor"), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
                self.ab("rm", "--force", n, timeout=60)


def diff_snapshots(before, after):
    out = []
    for k in sorted(set(before) | set(after)):
        if before.get(k) != after.get(k):
            out.append(f"{k}: {before.get(k)!r} -> {after.get(k)!r}")
    return "\n".join(out)


def assert_unchanged(store, before):
    after = store.snapshot()
    assert after == before, "on-disk state changed:\n" + diff_snapshots(before, after)


def one_line_error(r, code=None, quoted=None):
    """R failed with one line on stderr starting 'appbox:'; returns it.
    QUOTED: a value with newlines that the message may quote as it is."""
    assert r.returncode != 0, f"expected a failure, got 0\nstdout: {r.stdout}\nstderr: {r.stderr}"
    if code is not None:
        assert r.returncode == code, f"exit {r.returncode}, expected {code}: {r.stderr}"
    err = r.stderr
    if quoted and "\n" in quoted:
        err = err.replace(quoted, quoted.replace("\n", "\\n"))
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{r.stderr}"
    assert lines[0].startswith("appbox:"), lines[0]
    return lines[0]


def status_fields(text, keys=("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
                              "Seccomp_filters")):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if k in keys:
            out[k] = v.strip()
    return out


def read_until(stream, pred, timeout=20):
    """Read what STREAM's process writes (unbuffered, from its fd) until
    PRED(all text so far); return the text.  Nothing is left in Python's
    buffers, so communicate() may follow."""
    import select
    fd = stream.fileno()
    data = b""
    end = time.monotonic() + timeout
    while not pred(data.decode(errors="replace")):
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for output; got {data!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"output ended; got {data!r}")
            data += chunk
    return data.decode(errors="replace")


def procs_with(marker, argv0):
    """Host pids of processes whose argv[0] ends with ARGV0 and whose
    command line holds MARKER (live, not zombies)."""
    from conftest import find_procs
    return [p for p in find_procs(marker, argv0) if pid_alive(p)]


@pytest.fixture
def ctr(run_as, appbox_bin, world_tmp, busybox_root):
    u = user_info(run_as)
    base = world_tmp / "store"
    for d in (base, base / "data", base / "run", base / "home"):
        d.mkdir()
        os.chown(d, u.uid, u.gid)
    os.chmod(base / "run", 0o700)
    s = Store(run_as, appbox_bin, base, busybox_root)
    try:
        yield s
    finally:
        s.cleanup()


def store_procs(store):
    """Live processes started with STORE's environment (a supervisor, its
    helpers, pasta, the containers' processes all inherit
    APPBOX_DATA_DIR)."""
    needle = f"APPBOX_DATA_DIR={store.data}".encode()
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/environ", "rb") as f:
                    if needle in f.read().split(b"\0") and pid_alive(int(d)):
                        out.append(int(d))
            except OSError:
                pass
    return out
