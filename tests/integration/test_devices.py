"""Devices (issue 11): --device PATH[:rwm] with the cgroup device
permission, --webcam and --gpu against fake nodes and a fake NVIDIA driver
layout, refusals, and the devices cgroup's life.

The nodes are made with mknod in a test directory (mode 0666, so that only
the cgroup, not the node's mode, decides): 10:229 (/dev/fuse's numbers:
opening it does nothing) and 1:3 (null).  The fake video and NVIDIA nodes
are shown to appbox through an overlay on /dev in a private mount
namespace, so the host's /dev is never changed."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import descendants, make_busybox_root, ok, popen, require_root, run
from containers_support import ctr  # noqa: F401 (fixture)

DEVICES_V1 = Path("/sys/fs/cgroup/devices")


def cgroup2_mount():
    """Where the cgroup v2 hierarchy is mounted (Path), or None."""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        f = line.split()
        if f[2] == "cgroup2" and f[1] in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
            return Path(f[1])
    return None


def own_devices_group():
    """This process's group in the hierarchy where appbox makes a root
    container's devices cgroup: v1's devices controller, or where v1 has
    none (a pure cgroup v2 host: scripts/vm/run) the v2 hierarchy, whose
    device rules are a BPF program.  None without either."""
    v2 = None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        num, ctrls, path = line.split(":", 2)
        if "devices" in ctrls.split(",") and DEVICES_V1.is_dir():
            return DEVICES_V1 / path.lstrip("/")
        if num == "0" and not ctrls:
            v2 = path
    mount = cgroup2_mount()
    return mount / v2.lstrip("/") if mount and v2 is not None else None


def devices_v1():
    g = own_devices_group()
    return g is not None and (g == DEVICES_V1 or DEVICES_V1 in g.parents)


def appbox_groups():
    """The appbox-* groups below our own devices cgroup."""
    g = own_devices_group()
    return set(p.name for p in g.glob("appbox-*")) if g and g.is_dir() else set()


@pytest.fixture
def nodes(world_tmp):
    """A directory with char nodes: fuse (10:229, 0666), null2 (1:3,
    0666), closed (10:229, 0600, root's)."""
    require_root("the test nodes are made with mknod")
    d = world_tmp / "nodes"
    d.mkdir()
    os.chmod(d, 0o755)
    for name, major, minor, mode in (("fuse", 10, 229, 0o666), ("null2", 1, 3, 0o666),
                                     ("closed", 10, 229, 0o600)):
        os.mknod(d / name, 0o600 | 0o020000, os.makedev(major, minor))
        os.chmod(d / name, mode)
    return d


def test_granted_node_is_usable(sandbox, run_as, nodes):
    out = ok(sandbox(["--device", f"{nodes}/fuse", "--device", f"{nodes}/null2", "--",
                      "sh", "-c", f"exec 3<>{nodes}/fuse && echo opened; echo data >{nodes}/null2 && "
                                  f"echo wrote; wc -c <{nodes}/null2"], as_user=run_as))
    assert out.split() == ["opened", "wrote", "0"]


def test_access_letters_are_the_cgroup_permission(sandbox, run_as, nodes):
    if run_as != "root":
        pytest.skip("rootless: a devices cgroup (v1's controller, v2's BPF program) is the host root's only, "
                    "so r/w/m letters are not enforced by a cgroup (documented in docs/security.md)")
    if own_devices_group() is None:
        pytest.skip("no devices cgroup on this machine (neither v1's devices controller nor cgroup v2)")
    script = f"exec 3<{nodes}/fuse && echo read-ok; exec 4<>{nodes}/fuse && echo rw-ok"
    r = sandbox(["--device", f"{nodes}/fuse:r", "--uid", "0", "--", "sh", "-c", script])
    assert r.stdout.split() == ["read-ok"], r
    assert "Operation not permitted" in r.stderr, r.stderr
    # bound, but no r or w granted: refused even to the container's root
    r = sandbox(["--device", f"{nodes}/fuse:m", "--uid", "0", "--cap-add", "all", "--",
                 "sh", "-c", f"exec 3<{nodes}/fuse && echo read-ok"])
    assert r.returncode != 0 and "read-ok" not in r.stdout
    assert "Operation not permitted" in r.stderr, r.stderr


def test_ungranted_device_refused_to_container_root(sandbox, run_as, nodes, appbox_bin):
    """mknod of another device inside fails, and the container's group
    allows exactly the default nodes, the ptys and what was granted."""
    r = sandbox(["--uid", "0", "--cap-add", "all", "--", "sh", "-c",
                 "mknod /tmp/full2 c 1 7 || echo refused1; mknod /dev/fuse2 c 10 229 || echo refused2"],
                as_user=run_as)
    assert r.stdout.split() == ["refused1", "refused2"], r
    if run_as != "root":
        return
    p = popen([appbox_bin, "sandbox", "--device", f"{nodes}/fuse:rw", "--", "sh", "-c",
               "echo ready; read x"],
              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        # the container's own cgroup namespace shows its group as "/": its
        # processes' group as the host sees it (v1: the devices line; v2,
        # where v1 has no devices controller: the one line)
        kids = descendants(p.pid)
        assert kids, "no container process"
        pattern = r":devices:(\S+)" if devices_v1() else r"^0::(\S+)"
        lines = Path(f"/proc/{kids[0]}/cgroup").read_text().splitlines()
        m = next(filter(None, (re.search(pattern, line) for line in lines)), None)
        assert m, lines
        group = (DEVICES_V1 if devices_v1() else cgroup2_mount()) / m.group(1).lstrip("/")
        assert group.name.startswith("appbox-") and group.is_dir(), group
        if devices_v1():
            rules = (group / "devices.list").read_text().split("\n")
            rules = [x for x in rules if x]
            assert "c 10:229 rw" in rules, rules
            assert "a *:* rwm" not in rules and not any(x.startswith("b ") for x in rules), rules
            allowed = {"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm",
                       "c 10:229 rw"} | {f"c {m}:* rwm" for m in range(136, 144)}
            assert set(rules) == allowed, rules
        # (v2: the rules are a BPF program, not a file to read; what it
        # allows is tested by opening nodes, above and in the tests nearby)
        p.stdin.write("\n")
        p.stdin.close()
        assert p.wait(timeout=30) == 0, p.stderr.read()
        assert not group.exists(), "the container's cgroup was left behind"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


BAD = [
    (["--device", "/nonexistent/video9"], r"--device: '/nonexistent/video9': No such file or directory"),
    (["--device", "/etc/hostname"], r"--device: '/etc/hostname' is not a device node"),
    (["--device", "dev/null"], r"--device: 'dev/null' is not an absolute path"),
    (["--device", "/dev/null:rx"], r"--device: 'rx' is not device access in '/dev/null:rx' \(allowed: letters r, w, m"),
    (["--device", "/dev/null:rr"], r"'rr' is not device access"),
    (["--device", "/dev/null:"], r"'' is not device access"),
    (["--gpu=most"], r"--gpu: 'most' is not a GPU setting \(allowed: render \(the default\), all, none\)"),
]


@pytest.mark.parametrize("args,msg", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input_is_refused_and_leaves_no_cgroup(sandbox, run_as, args, msg):
    before = appbox_groups()
    r = sandbox([*args, "--", "true"], as_user=run_as)
    assert r.returncode == 2, r
    assert re.search(msg, r.stderr), r.stderr
    assert appbox_groups() == before


def test_node_the_container_cannot_open_is_refused(sandbox, run_as, nodes):
    """A 0600 root node: the container's user (a subordinate id for a root
    caller, the caller rootless) could not open it: refused up front."""
    before = appbox_groups()
    r = sandbox(["--device", f"{nodes}/closed", "--", "true"], as_user=run_as)
    assert r.returncode == 2, r
    assert f"--device: {nodes}/closed (mode 0600, owner 0:0) cannot be opened for 'rw'" in r.stderr, r.stderr
    assert appbox_groups() == before


def test_show_and_sessions(ctr, nodes):  # noqa: F811 (fixture)
    ctr.create("dv", "--device", f"{nodes}/fuse:r")
    show = ok(ctr.ab("show", "dv"))
    assert f"{nodes}/fuse:r" in show
    if ctr.as_user == "root":
        assert "access: a devices cgroup allows only these" in show, show
    else:
        assert "no devices cgroup (rootless" in show, show
    ok(ctr.ab("start", "dv"))
    r = ctr.ab("exec", "dv", "--", "sh", "-c", f"exec 3<{nodes}/fuse && echo read-ok; exec 4<>{nodes}/fuse && "
                                               "echo rw-ok")
    if ctr.as_user == "root":
        # the session is in the container's devices cgroup too
        assert r.stdout.split() == ["read-ok"], r
        assert "Operation not permitted" in r.stderr
    else:
        assert r.stdout.split() == ["read-ok", "rw-ok"], r
    ok(ctr.ab("stop", "dv"))


def test_killed_supervisor_group_is_removed(ctr, nodes):  # noqa: F811 (fixture)
    if ctr.as_user != "root":
        pytest.skip("rootless: no devices cgroup is made")
    before = appbox_groups()
    ctr.create("k", "--device", f"{nodes}/fuse")
    ok(ctr.ab("start", "k"))
    made = appbox_groups() - before
    assert len(made) == 1, made
    sup = int((ctr.runtime / "k/supervisor.pid").read_text())
    os.kill(sup, signal.SIGKILL)
    assert ctr.wait_state("k", "stopped")
    # the next start cleans up after the killed supervisor, from spec.json
    ok(ctr.ab("start", "k"))
    now = appbox_groups() - before
    assert len(now) == 1 and now != made, (made, now)
    ok(ctr.ab("stop", "k"))
    assert appbox_groups() == before


def test_killed_sandbox_group_is_removed_by_the_next(appbox_bin):
    """A SIGKILLed sandbox never runs its teardown: its (empty) devices
    cgroup is removed by the next root start; a running one's is kept."""
    require_root("only a root caller's container gets a devices cgroup")
    before = appbox_groups()
    argv = [appbox_bin, "sandbox", "--", "sh", "-c", "echo UP; exec sleep 600"]
    keep = popen(argv, stdout=subprocess.PIPE, text=True)
    victim = None
    try:
        assert keep.stdout.readline().strip() == "UP"
        kept = appbox_groups() - before
        victim = popen(argv, stdout=subprocess.PIPE, text=True)
        assert victim.stdout.readline().strip() == "UP"
        made = appbox_groups() - before - kept
        assert len(kept) == 1 and len(made) == 1, (kept, made)
        victim.kill()
        victim.wait(timeout=10)
        # its container dies with it (parent-death signal, asynchronous):
        # wait until the group is empty; the group itself is left, as
        # nobody tore down
        group = own_devices_group() / next(iter(made))
        deadline = time.monotonic() + 10
        while (group / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not (group / "cgroup.procs").read_text().strip(), "the killed sandbox's container lives on"
        assert made <= appbox_groups()
        ok(run([appbox_bin, "sandbox", "--", "true"]))
        assert not (made & appbox_groups()), "the killed sandbox's cgroup was left"
        assert kept <= appbox_groups(), "a running sandbox's cgroup was removed"
    finally:
        for p in (keep, victim):
            if p:
                p.kill()
                p.wait(timeout=10)
    ok(run([appbox_bin, "sandbox", "--", "true"]))
    assert appbox_groups() == before


# --- fake nodes and a fake NVIDIA driver, in a private mount namespace

def overlay_script(appbox, world_tmp, appbox_args, command, libs=True):
    """A shell script (run by unshare -m) that shows appbox a /dev with
    WORLD_TMP/fakedev's nodes over the host's, and /usr/lib/<triplet> and
    /usr/bin with WORLD_TMP/fakelib and fakebin over the host's."""
    multi = "/usr/lib/x86_64-linux-gnu"
    lines = ["set -e", "mount --make-rprivate /",
             f"mkdir -p {world_tmp}/w/dev {world_tmp}/w/devw",
             f"mount -t overlay overlay -o lowerdir={world_tmp}/fakedev:/dev,upperdir={world_tmp}/w/dev,"
             f"workdir={world_tmp}/w/devw /dev"]
    if libs:
        for src, dst in ((f"{world_tmp}/fakelib", multi), (f"{world_tmp}/fakebin", "/usr/bin")):
            lines.append(f"mount -t overlay overlay -o lowerdir={src}:{dst} {dst}")
    argv = " ".join(f"'{a}'" for a in [appbox, "sandbox", *appbox_args, "--", "sh", "-c", command])
    lines.append(f"exec {argv}")
    return "\n".join(lines)


def unshare_available():
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


def test_webcam_fake_nodes(world_tmp, appbox_bin):
    require_root("fake video nodes are made with mknod and shown through an overlay on /dev")
    if not unshare_available():
        pytest.skip("unshare -m is not available")
    fake = world_tmp / "fakedev"
    (fake / "v4l" / "by-path").mkdir(parents=True)
    os.mknod(fake / "video0", 0o666 | 0o020000, os.makedev(81, 0))
    os.mknod(fake / "video1", 0o666 | 0o020000, os.makedev(81, 1))
    os.chmod(fake / "video0", 0o666)
    os.chmod(fake / "video1", 0o666)
    os.symlink("../../video1", fake / "v4l" / "by-path" / "usb-cam")
    script = overlay_script(appbox_bin, world_tmp, ["--webcam"],
                            "ls -l /dev/video0 /dev/video1; ls -lL /dev/v4l/by-path/usb-cam; "
                            "head -c 1 /dev/video1 || echo no-driver", libs=False)
    r = run(["unshare", "-m", "sh", "-c", script])
    out = ok(r)
    assert re.search(r"/dev/video1.*: No such device", r.stderr), r.stderr
    # udev's link leads to the bound node (no driver: opening it fails
    # with ENXIO/ENODEV, not with the cgroup's EPERM or nodev's EACCES)
    assert re.search(r"81,\s+1 .*/dev/v4l/by-path/usb-cam$", out, re.M), out
    assert "no-driver" in out
    assert re.search(r"^crw-rw-rw-.* 81,\s+0 .*/dev/video0$", out, re.M), out
    assert re.search(r"^crw-rw-rw-.* 81,\s+1 .*/dev/video1$", out, re.M), out


def test_webcam_and_gpu_without_nodes_are_refused(sandbox, run_as):
    if any(p.name.startswith("video") for p in Path("/dev").iterdir()):
        pytest.skip("this machine has video nodes")
    r = sandbox(["--webcam", "--", "true"], as_user=run_as)
    assert r.returncode == 2
    assert "--webcam: no video device node" in r.stderr, r.stderr
    if os.path.exists("/dev/dri") or os.path.exists("/dev/nvidiactl"):
        return
    r = sandbox(["--gpu", "all", "--", "true"], as_user=run_as)
    assert r.returncode == 2
    assert ("--gpu: no GPU device node on this machine (looked for /dev/dri/renderD*, /dev/dri/card* and "
            "/dev/nvidia*)") in r.stderr, r.stderr


def test_gpu_fake_nvidia_driver(world_tmp, appbox_bin):
    """A foreign root with --gpu: the fake driver's nodes are bound, its
    libraries appear read-only in /run/appbox-nvidia/lib under the names the
    loader asks for (LD_LIBRARY_PATH names it), its nvidia-smi runs from
    PATH, and nothing is made in the (read-only) root."""
    require_root("fake NVIDIA nodes are made with mknod and shown through overlays")
    if not unshare_available():
        pytest.skip("unshare -m is not available")
    if not os.path.isdir("/usr/lib/x86_64-linux-gnu"):
        pytest.skip("not an x86_64 multiarch host")
    dev = world_tmp / "fakedev"
    (dev / "dri").mkdir(parents=True)
    for name, mm in (("nvidia0", (195, 0)), ("nvidiactl", (195, 255)), ("dri/renderD128", (226, 128))):
        os.mknod(dev / name, 0o666 | 0o020000, os.makedev(*mm))
        os.chmod(dev / name, 0o666)
    lib = world_tmp / "fakelib"
    lib.mkdir()
    (lib / "libcuda.so.535.1").write_text("fake libcuda\n")
    os.symlink("libcuda.so.535.1", lib / "libcuda.so.1")
    os.symlink("libcuda.so.1", lib / "libcuda.so")
    (lib / "libnvidia-ml.so.535.1").write_text("fake nvml\n")
    os.symlink("libnvidia-ml.so.535.1", lib / "libnvidia-ml.so.1")
    b = world_tmp / "fakebin"
    b.mkdir()
    (b / "nvidia-smi").write_text("#!/bin/sh\necho fake nvidia-smi\n")
    os.chmod(b / "nvidia-smi", 0o755)
    root = Path(make_busybox_root(world_tmp / "root"))
    before = sorted(str(p) for p in root.rglob("*"))
    multi = "/run/appbox-nvidia/lib"
    cmd = (f"ls -l /dev/nvidia0 /dev/nvidiactl /dev/dri/renderD128; cat {multi}/libcuda.so.1 {multi}/libnvidia-ml.so.1; "
           f"ls {multi}; echo LD=$LD_LIBRARY_PATH; nvidia-smi; echo x >{multi}/libcuda.so.1 || echo read-only")
    out = ok(run(["unshare", "-m", "sh", "-c", overlay_script(appbox_bin, world_tmp, ["--root", str(root), "--gpu"], cmd)]))
    assert re.search(r"195,\s+0 .*/dev/nvidia0$", out, re.M), out
    assert re.search(r"195,\s+255 .*/dev/nvidiactl$", out, re.M), out
    assert re.search(r"226,\s+128 .*/dev/dri/renderD128$", out, re.M), out
    assert "fake libcuda\nfake nvml\n" in out, out
    names = set(out.split())
    assert {"libcuda.so.1", "libcuda.so.535.1", "libnvidia-ml.so.1", "libnvidia-ml.so.535.1"} <= names, out
    assert "libcuda.so" not in names  # the linker's name: not what a program loads
    assert "fake nvidia-smi" in out
    assert "read-only" in out
    assert f"LD={multi}" in out
    assert sorted(str(p) for p in root.rglob("*")) == before


def test_conf_and_run_override(ctr, nodes):  # noqa: F811 (fixture)
    """[Files] Device= with letters from appbox.conf, a bad one named by
    file:line, and `run ++device` for one run."""
    ctr.create("cf")
    conf = ctr.conf("cf")
    text = conf.read_text()
    conf.write_text(text + f"\n[Files]\nDevice={nodes}/fuse:q\n")
    line = len((text + "\n[Files]\n").splitlines()) + 1
    before = appbox_groups()
    r = ctr.ab("run", "cf", "++cmd", "true")
    assert r.returncode != 0
    assert f"appbox.conf:{line}: [Files] Device: 'q' is not device access" in r.stderr, r.stderr
    assert appbox_groups() == before
    conf.write_text(text + f"\n[Files]\nDevice={nodes}/fuse:r\n")
    out = ok(ctr.ab("run", "cf", "++device", f"{nodes}/null2:w", "++cmd", "sh", "-c",
                    f"exec 3<{nodes}/fuse && echo read-ok; echo x >{nodes}/null2 && echo write-ok"))
    assert out.split() == ["read-ok", "write-ok"]
    show = ok(ctr.ab("show", "cf"))
    assert f"{nodes}/fuse:r" in show and f"{nodes}/null2" not in show  # ++ is for that run only
