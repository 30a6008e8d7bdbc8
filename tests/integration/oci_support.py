"""Helpers and fixtures for the OCI runtime tests (issue 14): podman,
containerd and bare bundles driving an OCI runtime through its command line.

The runtime under test
  OCI_RUNTIME=/path/to/runtime picks it (e.g. /usr/sbin/runc, to check the
  tests themselves against a runtime that is known to pass).  Without it,
  the runtime is build/appbox reached through a symlink named appbox-oci
  (the binary picks the OCI command line by argv[0]).  When that binary
  is missing, `appbox-oci --version` does not say "appbox-oci", or its
  core is still a stub ("not in this build yet"), every OCI test skips
  with the reason: the tests land before the runtime does.

Fixtures (import them into a test module:
    from oci_support import oci_runtime, podman_root, ...  # noqa: F401)
  oci_runtime   the Runtime (path, name, argv(...)), session-wide
  bb_rootfs     a busybox root (with /bin/oci-probe) and its tar, made once
  cgroup_parent a group below ours for root containers' cgroupsPath
  podman_root   a podman store for root (image imported once per session)
  podman_user   the same for the unprivileged `abtest` (rootless podman)
  podman_any    parametrized over both
  bundles       Bundles (crafted config.json + the runtime's state root)
                for run_as (root and abtest)
Helpers: base_config/sh/cfg_for (config.json like `runc spec [--rootless]`),
create (create with the container's stdio on a file), ConsoleSocket and
create_with_console (--console-socket), controller_dir (a pid's group).

Every podman container lives below OUR cgroup (the memory line of
/proc/self/cgroup) in appbox-test-podman-PID, never under podman's default
/libpod_parent: this machine is shared.  The groups podman, conmon and the
runtime made there are removed at teardown; so is rootless podman's pause
process (by the pid it wrote).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (BUILD, REPO, make_busybox_root, pid_alive, popen, require_root,
                      run, user_info, wait_until)

IMAGE = "localhost/appbox-bb:latest"
CGROUP_ROOT = Path("/sys/fs/cgroup")


# --------------------------------------------------------------------------
# the runtime under test


class Runtime:
    """An OCI runtime binary: PATH, its NAME (runc, crun, appbox-oci)."""

    def __init__(self, path):
        self.path = str(path)
        self.name = os.path.basename(self.path)

    @property
    def is_appbox(self):
        return self.name == "appbox-oci"

    def argv(self, *args, root=None):
        """The command line `RUNTIME [--root ROOT] ARGS...`."""
        pre = [self.path]
        if root is not None:
            pre += ["--root", str(root)]
        return pre + [str(a) for a in args]

    def __repr__(self):
        return f"Runtime({self.path})"


def _runtime_from_env(bindir):
    """(Runtime or None, reason): OCI_RUNTIME, else appbox-oci -> build/appbox
    in BINDIR (world-readable, so the test user can run it too)."""
    want = os.environ.get("OCI_RUNTIME")
    if want:
        p = shutil.which(want) or want
        if not os.access(p, os.X_OK):
            return None, f"OCI_RUNTIME={want} is not an executable file"
        return Runtime(os.path.realpath(p) if os.path.basename(p) != "appbox-oci" else p), ""
    appbox = BUILD / "appbox"
    if not appbox.is_file():
        return None, f"{appbox} is not built (and OCI_RUNTIME is not set)"
    shutil.copy2(appbox, bindir / "appbox")
    os.chmod(bindir / "appbox", 0o755)
    (bindir / "appbox-oci").symlink_to("appbox")
    rt = Runtime(bindir / "appbox-oci")
    r = subprocess.run([rt.path, "--version"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or "appbox-oci" not in r.stdout:
        first = (r.stdout + r.stderr).strip().splitlines()[:1]
        return None, (f"appbox-oci (build/appbox by argv[0]) is not the OCI command line yet: "
                      f"`appbox-oci --version` exited {r.returncode}: {first[0] if first else ''!r}")
    # while issue 14's parts land one by one, a tree may have the command
    # line with its core stubbed out ("... is not in this build yet")
    # (ENOSYS): `spec`, and `run` of a bundle whose root does not exist
    probe = bindir / "probe"
    probe.mkdir()
    r = subprocess.run([rt.path, "spec"], cwd=probe, capture_output=True, text=True, timeout=30)
    stub = r.stderr if "not in this build yet" in r.stderr or "Function not implemented" in r.stderr else ""
    if not stub:
        (probe / "config.json").write_text(json.dumps({
            "ociVersion": "1.0.2", "root": {"path": str(probe / "no-root")},
            "process": {"args": ["/bin/true"], "cwd": "/", "user": {"uid": 0, "gid": 0}}}))
        r = subprocess.run([rt.path, "--root", str(probe / "state"), "run", "--bundle", str(probe),
                            f"probe-{os.getpid()}"], capture_output=True, text=True, timeout=30)
        stub = r.stderr if "not in this build yet" in r.stderr else ""
    if stub:
        return None, f"appbox-oci's core is not in this build yet: {stub.strip()}"
    return rt, ""


@pytest.fixture(scope="session")
def oci_runtime():
    """The Runtime under test; skips every user when there is none."""
    d = Path(tempfile.mkdtemp(prefix="appbox-oci-bin-"))
    os.chmod(d, 0o755)
    try:
        rt, why = _runtime_from_env(d)
        if rt is None:
            print(f"\nOCI tests skipped: {why}")
            pytest.skip(why)
        yield rt
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# cgroups: ours, and what podman/conmon/the runtime made below it


def our_cgroup():
    """Our group: the memory line of /proc/self/cgroup (v1), else the v2 line."""
    v2 = "/"
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrl, path = line.split(":", 2)
        if "memory" in ctrl.split(","):
            return path
        if ctrl == "":
            v2 = path
    return v2


def cgroup_mounts():
    """Mount points of every cgroup hierarchy (v1 and v2)."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        a, b = line.split(" - ", 1)
        if b.split()[0] in ("cgroup", "cgroup2"):
            out.append(Path(a.split()[4]))
    return out


def _own_groups():
    """{hierarchy directory name: our group there} ("memory", "cpu,cpuacct",
    "systemd" for name=systemd, "" for v2)."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrl, path = line.split(":", 2)
        own[ctrl.replace("name=", "")] = path
    return own


def _prune_parents(m, rel, own):
    """The parents of REL in hierarchy M that a runtime made on the way
    (mkdir -p of a path named after our memory group, in hierarchies where
    our group is "/"): removed while empty, never our own group or one
    above it."""
    mine = own.get(m.name, own.get("", "/")) if (m / "cgroup.procs").exists() else "/"
    parent = Path(rel).parent
    while str(parent) != "/":
        if (mine + "/").startswith(str(parent) + "/"):
            break
        try:
            os.rmdir(m / str(parent).lstrip("/"))
        except OSError:
            break
        parent = parent.parent


def remove_cgroup_tree(rel):
    """rmdir REL (a path like /process_api/X/appbox-test-...) and everything
    below it, depth first, in every hierarchy, and the empty parents made
    for it where our own group is above them.  Returns what remains."""
    left = []
    own = _own_groups()
    for m in cgroup_mounts():
        top = m / rel.lstrip("/")
        if not top.is_dir():
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda t: -t[0].count("/")):
            for _ in range(50):
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                left.append(dirpath)
        _prune_parents(m, rel, own)
    return left


def controller_dir(pid, controller):
    """The host directory of PID's group in CONTROLLER (v1), or in the v2
    tree when CONTROLLER is not mounted on its own."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrl, path = line.split(":", 2)
        if controller in ctrl.split(","):
            return CGROUP_ROOT / ctrl.replace("name=", "") / path.lstrip("/")
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrl, path = line.split(":", 2)
        if ctrl == "":
            for m in cgroup_mounts():
                if (m / "cgroup.controllers").exists():
                    return m / path.lstrip("/")
    return None


@pytest.fixture(scope="session")
def cgroup_parent():
    """cgroupsPath parent for root containers: below our group, removed at
    the end (a bare `runc spec` would put the group at /ID, outside ours)."""
    parent = f"{our_cgroup().rstrip('/')}/appbox-test-oci-{os.getpid()}"
    yield parent
    left = remove_cgroup_tree(parent)
    assert not left, f"cgroups left: {left}"


# --------------------------------------------------------------------------
# the busybox image


@pytest.fixture(scope="session")
def bb_rootfs():
    """(rootfs dir, tar of it): busybox-static with its applets as symlinks,
    /etc/passwd with root and nobody (tests/lib/mkroot.sh), made once."""
    d = Path(tempfile.mkdtemp(prefix="appbox-oci-bb-"))
    os.chmod(d, 0o755)
    root = d / "rootfs"
    make_busybox_root(root)
    # oci-probe (tests/lib/oci-probe.c): raw syscalls, for seccomp checks
    r = subprocess.run(["gcc", "-static", "-O2", "-o", str(root / "bin" / "oci-probe"),
                        str(REPO / "tests" / "lib" / "oci-probe.c")], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"\noci-probe not built (seccomp checks will skip): {r.stderr.strip()[-300:]}")
    tar = d / "bb.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    os.chmod(tar, 0o644)
    yield root, tar
    shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# podman


class Podman:
    """One podman store (root or rootless) under a test directory, driving
    RUNTIME.  p(*args) runs `podman GLOBALS ARGS...`; p.run_argv(...) adds
    what every `podman run` needs here."""

    def __init__(self, as_user, base, runtime, cgroup_parent):
        self.as_user = as_user
        self.user = user_info(as_user)
        self.rootless = self.user.uid != 0
        self.base = base
        self.runtime = runtime
        self.cgroup_parent = cgroup_parent
        self.home = base / "home"
        self.xdg = base / "xdg"
        self.driver = None
        self.notes = []

    @property
    def env(self):
        e = {"HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
             "XDG_DATA_HOME": str(self.home / ".local/share")}
        if self.rootless:
            e["XDG_RUNTIME_DIR"] = str(self.xdg)
        return e

    def globals(self):
        g = ["podman", "--root", str(self.base / "store"), "--runroot", str(self.base / "run"),
             "--tmpdir", str(self.base / "tmp"), "--cgroup-manager=cgroupfs",
             "--events-backend=file", "--runtime", self.runtime.path]
        if self.driver:
            g += ["--storage-driver", self.driver]
        return g

    def argv(self, *args):
        return self.globals() + [str(a) for a in args]

    def __call__(self, *args, timeout=60, input=None, **kw):
        return run(self.argv(*args), as_user=self.as_user, extra_env=self.env,
                   timeout=timeout, input=input, **kw)

    def popen(self, *args, **kw):
        return popen(self.argv(*args), as_user=self.as_user, extra_env=self.env, **kw)

    def run_opts(self):
        """Options every `podman run`/`create` needs on this machine."""
        o = ["--network", "none"]
        if not self.rootless:
            # podman's defaults exceed the hard limits here; our group, not
            # /libpod_parent (rootless podman on cgroup v1 makes no groups)
            o += ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=8192:8192",
                  f"--cgroup-parent={self.cgroup_parent}"]
        return o

    def run_argv(self, *args):
        """`podman ... run OPTS ARGS...` as an argv (for pty tests)."""
        return self.argv("run", *self.run_opts(), *args)

    def run(self, *args, timeout=60, **kw):
        return self("run", *self.run_opts(), *args, timeout=timeout, **kw)

    def pause_pids(self):
        """Rootless podman's pause process(es), from the pid files it wrote."""
        pids = set()
        for f in list(self.base.rglob("pause.pid")) + list(self.xdg.rglob("pause.pid")):
            try:
                pids.add(int(f.read_text().strip()))
            except (OSError, ValueError):
                pass
        return pids


def _mkdir_owned(p, user, mode=0o755):
    p.mkdir(parents=True, exist_ok=True, mode=mode)
    os.chmod(p, mode)
    os.chown(p, user.uid, user.gid)


def _make_podman(as_user, runtime, bb_tar, name):
    u = user_info(as_user)
    base = Path(tempfile.mkdtemp(prefix=f"appbox-oci-podman-{name}-"))
    os.chmod(base, 0o755)
    os.chown(base, u.uid, u.gid)
    parent = f"{our_cgroup().rstrip('/')}/appbox-test-podman-{os.getpid()}"
    p = Podman(as_user, base, runtime, parent)
    for sub in ("store", "run", "tmp", "home", "home/.config"):
        _mkdir_owned(base / sub, u)
    if p.rootless:
        _mkdir_owned(p.xdg, u, 0o700)
    r = p("import", str(bb_tar), IMAGE, timeout=120)
    if r.returncode != 0 and p.rootless:
        # no native rootless overlay (and /dev/fuse is 0600 here): vfs
        p.notes.append(f"overlay failed ({r.stderr.strip()[-200:]}); vfs storage")
        p.driver = "vfs"
        r = p("import", str(bb_tar), IMAGE, timeout=120)
    return p, r


def _teardown_podman(p):
    r = p("ps", "-aq", timeout=60)
    ids = r.stdout.split() if r.returncode == 0 else []
    if ids:
        p("rm", "-f", "-t", "0", *ids, timeout=120)
    for pid in p.pause_pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_until(lambda: not pid_alive(pid), timeout=5)
    # storage may hold mounts (overlay); unmount what lies below base
    mounts = [l.split()[4] for l in Path("/proc/self/mountinfo").read_text().splitlines()]
    for m in sorted((m for m in mounts if m.startswith(str(p.base) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    left = remove_cgroup_tree(p.cgroup_parent)
    # rootless storage has files owned by subordinate ids: remove as root
    shutil.rmtree(p.base, ignore_errors=True)
    if p.base.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(p.base)], capture_output=True)
    return left


def _podman_fixture(as_user, runtime, bb_rootfs, name):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/deps.sh TEST_PACKAGES)")
    require_root("podman's store, our cgroup and the test user are set up as root")
    p, r = _make_podman(as_user, runtime, bb_rootfs[1], name)
    try:
        if r.returncode != 0:
            pytest.skip(f"podman import as {as_user} failed: {r.stderr.strip()[-400:]}")
        yield p
    finally:
        left = _teardown_podman(p)
        assert not left, f"cgroups left below ours: {left}"


@pytest.fixture(scope="session")
def podman_root(oci_runtime, bb_rootfs, test_users):
    yield from _podman_fixture("root", oci_runtime, bb_rootfs, "root")


@pytest.fixture(scope="session")
def podman_user(oci_runtime, bb_rootfs, test_users):
    yield from _podman_fixture("user", oci_runtime, bb_rootfs, "user")


@pytest.fixture(params=["root", "user"])
def podman_any(request):
    """Root and rootless podman, both on the runtime under test."""
    return request.getfixturevalue(f"podman_{request.param}")


# --------------------------------------------------------------------------
# bundles for the runtime itself


def base_config(args, rootless=False, terminal=False):
    """A config.json like `runc spec` writes (without the terminal), or
    like `runc spec --rootless`: the user namespace maps the caller only."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    cfg = {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": terminal, "user": {"uid": 0, "gid": 0}, "args": list(args),
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
             + ([] if rootless else ["gid=5"])},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "none" if rootless else "sysfs",
             "source": "/sys" if rootless else "sysfs",
             "options": ["rbind", "nosuid", "noexec", "nodev", "ro"] if rootless
             else ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
            + ([{"type": "user"}] if rootless else [{"type": "network"}]),
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }
    if rootless:
        del cfg["linux"]["resources"]
        cfg["mounts"].append({"destination": "/sys/fs/cgroup", "type": "none",
                              "source": "/sys/fs/cgroup",
                              "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
    else:
        cfg["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                              "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})
    return cfg


def id_maps(cfg, user):
    """Map USER's uid/gid to 0 in CFG's user namespace (what `spec
    --rootless` writes for the caller)."""
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": user.uid, "size": 1}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": user.gid, "size": 1}]
    return cfg


class Bundles:
    """Bundles (config.json + a bind of the shared busybox root) and a
    state root for RUNTIME, as AS_USER, below BASE.  Containers left are
    deleted with --force at teardown."""

    def __init__(self, runtime, base, rootfs, as_user="root"):
        self.runtime = runtime
        self.base = base
        self.rootfs = rootfs
        self.as_user = as_user
        self.user = user_info(as_user)
        self.state = base / "state"
        self.ids = set()
        self.n = 0
        self.state.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.state, self.user.uid, self.user.gid)

    def bundle(self, cfg, name=None):
        """A bundle directory with CFG as config.json; root.path names the
        shared rootfs (absolute), so nothing is copied."""
        self.n += 1
        b = self.base / (name or f"b{self.n}")
        b.mkdir(mode=0o755)
        cfg = json.loads(json.dumps(cfg))
        if cfg["root"]["path"] == "rootfs":
            cfg["root"]["path"] = str(self.rootfs)
        (b / "config.json").write_text(json.dumps(cfg, indent=1))
        os.chown(b, self.user.uid, self.user.gid)
        os.chown(b / "config.json", self.user.uid, self.user.gid)
        return b

    def cid(self, prefix="t"):
        self.n += 1
        c = f"{prefix}{os.getpid()}-{self.n}"
        self.ids.add(c)
        return c

    def rt(self, *args, timeout=30, input=None, **kw):
        """Run `RUNTIME --root STATE ARGS...` as the bundle's user."""
        return run(self.runtime.argv(*args, root=self.state), as_user=self.as_user,
                   timeout=timeout, input=input, **kw)

    def rt_popen(self, *args, **kw):
        return popen(self.runtime.argv(*args, root=self.state), as_user=self.as_user, **kw)

    def run_cfg(self, cfg, timeout=30, **kw):
        """`run --bundle B ID` of CFG in the foreground; CompletedProcess."""
        b = self.bundle(cfg)
        return self.rt("run", "--bundle", b, self.cid(), timeout=timeout, cwd=str(b), **kw)

    def state_of(self, cid):
        r = self.rt("state", cid)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def cleanup(self):
        for c in sorted(self.ids):
            if self.state_of(c) is not None:
                self.rt("kill", c, "KILL")
                self.rt("delete", "--force", c)


@pytest.fixture
def bundles(oci_runtime, bb_rootfs, run_as, world_tmp, cgroup_parent):
    u = user_info(run_as)
    os.chown(world_tmp, u.uid, u.gid)
    bs = Bundles(oci_runtime, world_tmp, bb_rootfs[0], run_as)
    bs.cgroup_parent = cgroup_parent
    yield bs
    bs.cleanup()


def cfg_for(bs, script, **kw):
    cfg = sh(script, rootless=bs.user.uid != 0, **kw)
    if bs.user.uid != 0:
        id_maps(cfg, bs.user)
    else:
        cfg["linux"]["cgroupsPath"] = f"{bs.cgroup_parent}/{bs.n + 1}-{os.getpid()}"
    return cfg


def create(bs, cfg, *extra, cid=None, out=None):
    """`create --bundle B [EXTRA] ID` with the container's stdio on a file
    (it keeps its stdio: a pipe would never reach EOF)."""
    b = bs.bundle(cfg)
    cid = cid or bs.cid()
    out = out or (b / "out.txt")
    with open(out, "w") as f:
        os.chown(out, bs.user.uid, bs.user.gid)
        r = bs.rt("create", "--bundle", b, *extra, cid, stdout=f, stderr=subprocess.STDOUT, cwd=str(b))
    assert r.returncode == 0, out.read_text()
    return b, cid


def create_with_console(bs, cfg, sock):
    """`create --console-socket` of CFG; SOCK (a ConsoleSocket) receives the
    pty master.  Returns the id; the caller starts it."""
    b = bs.bundle(cfg)
    cid = bs.cid()
    proc = bs.rt_popen("create", "--bundle", b, "--console-socket", sock.path, cid,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sock.receive()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return cid


def sh(script, rootless=False, **kw):
    """base_config running `sh -c SCRIPT`."""
    return base_config(["/bin/sh", "-c", script], rootless=rootless, **kw)


# --------------------------------------------------------------------------
# --console-socket


class ConsoleSocket:
    """A unix socket at PATH that receives the pty master a runtime sends
    (SCM_RIGHTS) for --console-socket; .master is the received fd."""

    def __init__(self, path, owner=None):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        if owner is not None:
            os.chown(self.path, owner.uid, owner.gid)
        self.sock.listen(1)
        self.master = None

    def receive(self, timeout=20):
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        assert fds, f"no fd on the console socket (message {msg!r})"
        self.master = fds[0]
        return self.master

    def read_until(self, needle, timeout=10):
        """Read the master until NEEDLE (bytes) appears; all that was read."""
        os.set_blocking(self.master, False)
        buf = b""
        end = time.monotonic() + timeout
        while needle not in buf and time.monotonic() < end:
            try:
                chunk = os.read(self.master, 4096)
                if not chunk:
                    break
                buf += chunk
            except BlockingIOError:
                time.sleep(0.02)
            except OSError:
                break
        return buf

    def close(self):
        if self.master is not None:
            os.close(self.master)
            self.master = None
        self.sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def status_field(text, name):
    """The value of NAME: in a /proc/PID/status dump."""
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None
