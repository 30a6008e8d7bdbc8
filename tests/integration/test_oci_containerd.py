"""containerd driving the OCI runtime under test (issue 14): `ctr run
--runtime io.containerd.runc.v2 --runc-binary RUNTIME`, the way a
Kubernetes RuntimeClass with BinaryName reaches it (docs/kubernetes.md).

A private containerd per module: its root, state, sockets and the shim's
runtime root under a test directory, no CRI plugin, no systemd; every
container's group below ours.  The image is the busybox test image, saved
by podman as an OCI archive and imported with `ctr image import`.
containerd and the shims it left are ended by pid at teardown.

The runtime is OCI_RUNTIME or appbox-oci (oci_support.py); check the tests
with OCI_RUNTIME=/usr/sbin/runc.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import ok, pid_alive, require_root, run, wait_until
from oci_support import (IMAGE, bb_rootfs, controller_dir, oci_runtime, our_cgroup, podman_root,  # noqa: F401
                         remove_cgroup_tree)

CTR_IMAGE = "localhost/appbox-bb:latest"

CONFIG = """version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.opt",
                    "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"""


class Containerd:
    def __init__(self, d, runtime, group):
        self.d = d
        self.runtime = runtime
        self.group = group
        self.sock = d / "containerd.sock"
        self.proc = None

    def ctr(self, *args, timeout=60, **kw):
        return run(["ctr", "--address", str(self.sock), *[str(a) for a in args]], timeout=timeout, **kw)

    def run_argv(self, cid):
        """`ctr run` options for the runtime under test, below our group."""
        return ["run", "--runtime", "io.containerd.runc.v2", "--runc-binary", self.runtime.path,
                "--runc-root", str(self.d / "runc-root"), "--cgroup", f"{self.group}/{cid}"]

    def shim_pids(self):
        pids = set()
        for f in (self.d / "state").rglob("shim.pid"):
            try:
                pids.add(int(f.read_text().strip()))
            except (OSError, ValueError):
                pass
        return pids


@pytest.fixture(scope="module")
def containerd(oci_runtime, podman_root):
    require_root("containerd runs as root here")
    for tool in ("containerd", "ctr", "containerd-shim-runc-v2"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/deps.sh TEST_PACKAGES: containerd)")
    d = Path(tempfile.mkdtemp(prefix="appbox-oci-containerd-"))
    os.chmod(d, 0o711)
    c = Containerd(d, oci_runtime, f"{our_cgroup().rstrip('/')}/appbox-test-ctr-{os.getpid()}")
    (d / "config.toml").write_text(CONFIG.format(d=d))
    log = open(d / "containerd.log", "w")
    try:
        c.proc = subprocess.Popen(["containerd", "--config", str(d / "config.toml")], stdout=log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if not wait_until(lambda: c.proc.poll() is None and c.ctr("version").returncode == 0, timeout=20):
            tail = (d / "containerd.log").read_text()[-800:]
            pytest.skip(f"containerd did not start here: {tail}")
        # the test image as an OCI archive, imported once
        arch = d / "bb-oci.tar"
        ok(podman_root("save", "--format", "oci-archive", "-o", str(arch), IMAGE, timeout=120))
        ok(c.ctr("image", "import", "--base-name", "localhost/appbox-bb", arch, timeout=120))
        yield c
    finally:
        if c.proc is not None and c.proc.poll() is None:
            r = c.ctr("containers", "ls", "-q")
            for cid in r.stdout.split() if r.returncode == 0 else []:
                c.ctr("task", "kill", "-s", "KILL", cid)
                c.ctr("task", "rm", "-f", cid)
                c.ctr("containers", "rm", cid)
        shims = c.shim_pids()
        if c.proc is not None:
            c.proc.terminate()
            try:
                c.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait()
        for pid in shims:  # shims outlive containerd by design
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
        mounts = [l.split()[4] for l in Path("/proc/self/mountinfo").read_text().splitlines()]
        for m in sorted((m for m in mounts if m.startswith(str(d) + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        left = remove_cgroup_tree(c.group)
        shutil.rmtree(d, ignore_errors=True)
        assert not left, f"cgroups left: {left}"


def cid():
    return f"abt-{uuid.uuid4().hex[:10]}"


def test_ctr_run_rm_output_and_exit_code(containerd):
    c, n = containerd, cid()
    r = c.ctr(*c.run_argv(n), "--rm", CTR_IMAGE, n, "sh", "-c", "echo hello from ctr; exit 3")
    assert r.returncode == 3, r.stderr
    assert r.stdout == "hello from ctr\n"
    assert n not in ok(c.ctr("containers", "ls", "-q")).split()


def test_ctr_detached_exec_and_kill(containerd):
    c, n = containerd, cid()
    try:
        ok(c.ctr(*c.run_argv(n), "-d", CTR_IMAGE, n, "sh", "-c",
                 "trap 'exit 9' TERM; while :; do sleep 0.1; done"))
        assert wait_until(lambda: "RUNNING" in c.ctr("task", "ls").stdout, timeout=10)
        r = c.ctr("task", "exec", "--exec-id", "e1", n, "sh", "-c", "echo exec $(hostname); exit 4")
        assert r.returncode == 4 and r.stdout.startswith("exec "), (r.returncode, r.stdout, r.stderr)
        line = next(l for l in c.ctr("task", "ls").stdout.splitlines() if l.startswith(n))
        pid = int(line.split()[1])
        assert pid_alive(pid)
        assert str(controller_dir(pid, "memory")).endswith(f"{c.group}/{n}")
        ok(c.ctr("task", "kill", "-s", "TERM", n))
        assert wait_until(lambda: "STOPPED" in next(
            (l for l in c.ctr("task", "ls").stdout.splitlines() if l.startswith(n)), "STOPPED"), timeout=10)
        assert not pid_alive(pid)
    finally:
        c.ctr("task", "kill", "-s", "KILL", n)
        c.ctr("task", "rm", "-f", n)
        c.ctr("containers", "rm", n)
    assert n not in ok(c.ctr("containers", "ls", "-q")).split()


def test_ctr_memory_limit(containerd):
    c, n = containerd, cid()
    r = c.ctr(*c.run_argv(n), "--rm", "--memory-limit", str(40 * 1024 * 1024), CTR_IMAGE, n,
              "sh", "-c", "cat /proc/self/cgroup")
    ok(r)
    mem = next(l for l in r.stdout.splitlines() if ":memory:" in l).split(":", 2)[2]
    assert mem.endswith(f"/{n}"), r.stdout
    # the group is gone with --rm; the limit is checked while it runs
    n2 = cid()
    try:
        ok(c.ctr(*c.run_argv(n2), "-d", "--memory-limit", str(40 * 1024 * 1024), CTR_IMAGE, n2, "sleep", "60"))
        line = ""
        wait_until(lambda: any(l.startswith(n2) for l in c.ctr("task", "ls").stdout.splitlines()), timeout=10)
        line = next(l for l in c.ctr("task", "ls").stdout.splitlines() if l.startswith(n2))
        d = controller_dir(int(line.split()[1]), "memory")
        assert int((d / "memory.limit_in_bytes").read_text()) == 40 * 1024 * 1024
    finally:
        c.ctr("task", "kill", "-s", "KILL", n2)
        time.sleep(0.2)
        c.ctr("task", "rm", "-f", n2)
        c.ctr("containers", "rm", n2)
