"""Seed 003's flow with the OCI runtime under test (issue 14): a config.json
from `spec [--rootless]`, a root from `tar -x` of an exported image, edited
args, `RUNTIME run NAME` in the bundle; then the lifecycle verbs a
container engine uses (create/start/state/kill/delete, --pid-file,
--console-socket, exec, ps, pause/resume, hooks).

The runtime is OCI_RUNTIME or appbox-oci (oci_support.py); check the tests
with OCI_RUNTIME=/usr/sbin/runc.
"""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ok, pid_alive, run, user_info, wait_until
from oci_support import (IMAGE, ConsoleSocket, bb_rootfs, bundles, cfg_for, cgroup_parent,  # noqa: F401
                         controller_dir, create, create_with_console, oci_runtime, podman_root)


@pytest.fixture(scope="module")
def exported_tar(request, bb_rootfs):
    """An image exported as seed 003 does it (`docker export $(docker
    create IMAGE)`): podman export of a created container when podman
    works here, else the busybox tar itself."""
    try:
        p = request.getfixturevalue("podman_root")
    except pytest.skip.Exception:
        yield bb_rootfs[1]
        return
    d = Path(tempfile.mkdtemp(prefix="appbox-oci-export-"))
    os.chmod(d, 0o755)
    cid = ok(p("create", *p.run_opts(), IMAGE, "true")).strip()
    try:
        ok(p("export", "-o", str(d / "rootfs.tar"), cid))
    finally:
        p("rm", "-f", cid)
    os.chmod(d / "rootfs.tar", 0o644)
    yield d / "rootfs.tar"
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def seed_bundle(oci_runtime, exported_tar, run_as, world_tmp, cgroup_parent):
    """Seed 003's bundle for RUN_AS: `spec [--rootless]` + rootfs from tar -x."""
    u = user_info(run_as)
    os.chown(world_tmp, u.uid, u.gid)
    b = world_tmp / "dev"
    run(["mkdir", "-p", str(b / "rootfs")], as_user=run_as)
    ok(run(["tar", "-C", str(b / "rootfs"), "-xf", str(exported_tar)], as_user=run_as))
    spec = ["spec"] + (["--rootless"] if run_as != "root" else [])
    ok(run(oci_runtime.argv(*spec), as_user=run_as, cwd=str(b)))
    xdg = world_tmp / "xdg"
    run(["mkdir", "-m", "700", str(xdg)], as_user=run_as)
    return b, u, xdg


def _edit(b, fn):
    cfg = json.loads((b / "config.json").read_text())
    fn(cfg)
    (b / "config.json").write_text(json.dumps(cfg, indent=2))


def test_spec_rootless_is_like_runc(oci_runtime, world_tmp, test_users):
    """`spec --rootless` writes what `runc spec --rootless` writes, in the
    parts a user edits: args, root, namespaces, mappings of the caller."""
    u = user_info("user")
    os.chown(world_tmp, u.uid, u.gid)
    ours, theirs = world_tmp / "ours", world_tmp / "runc"
    for d in (ours, theirs):
        run(["mkdir", str(d)], as_user="user")
    ok(run(oci_runtime.argv("spec", "--rootless"), as_user="user", cwd=str(ours)))
    a = json.loads((ours / "config.json").read_text())
    assert a["root"]["path"] == "rootfs"
    assert a["process"]["args"] == ["sh"]
    ns = {n["type"] for n in a["linux"]["namespaces"]}
    assert {"user", "mount", "pid"} <= ns and "network" not in ns
    assert a["linux"]["uidMappings"][0]["containerID"] == 0
    assert a["linux"]["uidMappings"][0]["hostID"] in (0, u.uid)  # runc writes 0 (fixed up at run)
    assert a["ociVersion"].startswith("1.")
    # a second spec does not overwrite the user's config
    r = run(oci_runtime.argv("spec", "--rootless"), as_user="user", cwd=str(ours))
    assert r.returncode != 0 and "config.json" in r.stderr
    runc = shutil.which("runc")
    if runc:
        ok(run([runc, "spec", "--rootless"], as_user="user", cwd=str(theirs)))
        b = json.loads((theirs / "config.json").read_text())
        assert {n["type"] for n in b["linux"]["namespaces"]} == ns
        assert [m["destination"] for m in b["mounts"]] == [m["destination"] for m in a["mounts"]]


def test_seed003_run_in_the_bundle(oci_runtime, seed_bundle, run_as, cgroup_parent):
    b, u, xdg = seed_bundle
    name = f"dev{os.getpid()}"
    # seed 003's work folders: a host directory bound into the container
    work = b.parent / "work"
    run(["mkdir", str(work)], as_user=run_as)
    (work / "from-host").write_text("host file\n")

    def edit(cfg):
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = ["sh", "-c", "echo hello from $(hostname); id -u; cat /root/work/from-host; "
                                  "echo made inside > /root/work/from-container; "
                                  "grep NoNewPrivs /proc/self/status; exit 4"]
        cfg["mounts"].append({"destination": "/root/work", "type": "bind", "source": str(work),
                              "options": ["bind"]})
        if run_as == "root":
            cfg["linux"]["cgroupsPath"] = f"{cgroup_parent}/{name}"
    _edit(b, edit)
    if run_as == "root":
        state = b.parent / "state"
        r = run(oci_runtime.argv("run", name, root=state), as_user=run_as, cwd=str(b), timeout=60)
    else:  # the user's default state root: $XDG_RUNTIME_DIR
        state = xdg
        r = run(oci_runtime.argv("run", name), as_user=run_as, cwd=str(b), timeout=60,
                extra_env={"XDG_RUNTIME_DIR": str(xdg)})
    assert r.returncode == 4, (r.stdout, r.stderr)
    host = json.loads((b / "config.json").read_text())["hostname"]
    assert r.stdout.splitlines() == [f"hello from {host}", "0", "host file", "NoNewPrivs:\t1"], r.stderr
    assert (work / "from-container").read_text() == "made inside\n"
    assert (work / "from-container").stat().st_uid == u.uid  # root inside is the caller outside
    # the state of NAME is gone after run
    left = [p for p in state.rglob("*") if name in str(p)] if state.exists() else []
    assert not left, f"state left after run: {left}"


# --------------------------------------------------------------------------
# lifecycle: create, start, state, kill, delete


def test_lifecycle_states(bundles):
    bs = bundles
    cfg = cfg_for(bs, "echo started; while :; do sleep 0.1; done")
    pidfile = bs.base / "ctr.pid"
    b, cid = create(bs, cfg, "--pid-file", pidfile)
    st = bs.state_of(cid)
    assert st["status"] == "created", st
    assert st["id"] == cid and st["ociVersion"]
    assert Path(st["bundle"]) == b
    pid = st["pid"]
    assert int(pidfile.read_text()) == pid and pid_alive(pid)
    assert "started" not in (b / "out.txt").read_text()  # not started yet

    ok(bs.rt("start", cid))
    assert wait_until(lambda: "started" in (b / "out.txt").read_text(), timeout=10)
    assert bs.state_of(cid)["status"] == "running"
    r = bs.rt("start", cid)
    assert r.returncode != 0, "start of a running container succeeded"

    # delete of a running container is refused without --force
    r = bs.rt("delete", cid)
    assert r.returncode != 0 and pid_alive(pid)

    # PID 1 without a TERM handler ignores SIGTERM (the kernel drops it)
    ok(bs.rt("kill", cid, "TERM"))
    time.sleep(0.3)
    assert bs.state_of(cid)["status"] == "running" and pid_alive(pid)
    ok(bs.rt("kill", cid, "SIGKILL"))
    assert wait_until(lambda: bs.state_of(cid)["status"] == "stopped", timeout=10)
    assert not pid_alive(pid)
    ok(bs.rt("delete", cid))
    assert bs.state_of(cid) is None
    r = bs.rt("state", cid)
    assert r.returncode != 0 and r.stderr.strip()


def test_kill_term_with_a_trap(bundles):
    bs = bundles
    b, cid = create(bs, cfg_for(bs, "trap 'echo got TERM; exit 0' TERM; echo up; while :; do sleep 0.1; done"))
    ok(bs.rt("start", cid))
    assert wait_until(lambda: "up" in (b / "out.txt").read_text(), timeout=10)
    ok(bs.rt("kill", cid))  # the default signal is SIGTERM
    assert wait_until(lambda: bs.state_of(cid)["status"] == "stopped", timeout=10)
    assert "got TERM" in (b / "out.txt").read_text()
    ok(bs.rt("delete", cid))


def test_delete_force_of_a_running_container(bundles):
    bs = bundles
    b, cid = create(bs, cfg_for(bs, "while :; do sleep 0.1; done"))
    ok(bs.rt("start", cid))
    pid = bs.state_of(cid)["pid"]
    ok(bs.rt("delete", "--force", cid))
    assert wait_until(lambda: not pid_alive(pid), timeout=10)
    assert bs.state_of(cid) is None


def test_exec_and_ps(bundles):
    bs = bundles
    b, cid = create(bs, cfg_for(bs, "while :; do sleep 0.1; done"))
    ok(bs.rt("start", cid))
    pid = bs.state_of(cid)["pid"]
    r = bs.rt("exec", cid, "sh", "-c", "echo in $(hostname) as $(id -u); exit 6")
    assert r.returncode == 6, r.stderr
    assert r.stdout == "in runc as 0\n"
    # exec --process FILE
    proc = {"args": ["/bin/sh", "-c", "echo from process file $FOO; pwd"], "cwd": "/tmp",
            "env": ["PATH=/bin:/usr/bin", "FOO=bar"],
            "user": {"uid": 0, "gid": 0}, "terminal": False}
    pf = bs.base / "process.json"
    pf.write_text(json.dumps(proc))
    r = bs.rt("exec", "--process", pf, cid)
    assert r.stdout == "from process file bar\n/tmp\n", r.stderr
    # ps: the host pids of the container's processes
    r = bs.rt("ps", "--format", "json", cid)
    if r.returncode != 0 and bs.user.uid != 0:
        pytest.skip(f"ps needs the container's cgroup, which a rootless container lacks here: {r.stderr.strip()}")
    assert pid in json.loads(r.stdout), r.stdout
    table = ok(bs.rt("ps", cid))
    assert "PID" in table.splitlines()[0] and str(pid) in table


def test_console_socket(bundles):
    bs = bundles
    cfg = cfg_for(bs, "tty; echo tty-ok; sleep 30", terminal=True)
    sock = ConsoleSocket(bs.base / "console.sock", owner=bs.user)
    try:
        cid = create_with_console(bs, cfg, sock)
        ok(bs.rt("start", cid))
        out = sock.read_until(b"tty-ok").decode(errors="replace").replace("\r", "")
        assert "/dev/pts/0\n" in out and "tty-ok" in out, out
        ok(bs.rt("kill", cid, "KILL"))
        assert wait_until(lambda: bs.state_of(cid)["status"] == "stopped", timeout=10)
        ok(bs.rt("delete", cid))
    finally:
        sock.close()


def test_pause_resume(bundles, run_as):
    if run_as != "root":
        pytest.skip("pause needs the freezer group, which rootless containers lack on cgroup v1")
    bs = bundles
    b, cid = create(bs, cfg_for(bs, "i=0; while :; do i=$((i+1)); echo $i > /dev/shm/n; done"))
    ok(bs.rt("start", cid))
    pid = bs.state_of(cid)["pid"]
    ok(bs.rt("pause", cid))
    assert bs.state_of(cid)["status"] == "paused"
    fz = controller_dir(pid, "freezer")
    assert fz is not None, "no freezer group"
    if (fz / "freezer.state").exists():
        assert (fz / "freezer.state").read_text().strip() == "FROZEN"
    else:  # cgroup v2
        assert "frozen 1" in (fz / "cgroup.events").read_text()
    # and it really stands still: its CPU time does not move
    def cpu_ticks():
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    before = cpu_ticks()
    time.sleep(0.3)
    assert cpu_ticks() == before, "a paused container's process still ran"
    ok(bs.rt("resume", cid))
    assert bs.state_of(cid)["status"] == "running"
    assert wait_until(lambda: cpu_ticks() > before, timeout=5), "not running again after resume"
    ok(bs.rt("delete", "--force", cid))


HOOK = """#!/bin/sh
cat > "{out}/$1.json"
echo "$1" >> "{out}/order"
"""


def test_hooks_get_the_state(bundles, run_as):
    bs = bundles
    out = bs.base / "hooks"
    out.mkdir()
    os.chown(out, bs.user.uid, bs.user.gid)
    hook = bs.base / "hook.sh"
    hook.write_text(HOOK.format(out=out))
    os.chmod(hook, 0o755)
    cfg = cfg_for(bs, "echo ran; sleep 0.2")
    cfg["hooks"] = {k: [{"path": str(hook), "args": ["hook.sh", k]}]
                    for k in ("prestart", "createRuntime", "poststart", "poststop")}
    b = bs.bundle(cfg)
    cid = bs.cid()
    r = bs.rt("run", "--bundle", b, cid, cwd=str(b))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ran\n"
    order = (out / "order").read_text().split()
    assert order.index("createRuntime") < order.index("poststart") < order.index("poststop"), order
    assert order.index("prestart") < order.index("poststart")
    states = {k: json.loads((out / f"{k}.json").read_text()) for k in order}
    for k, st in states.items():
        assert st["id"] == cid, (k, st)
        assert Path(st["bundle"]) == b, (k, st)
        assert st["ociVersion"]
    pid = states["createRuntime"]["pid"]
    assert pid > 0
    assert states["prestart"]["pid"] == pid and states["poststart"]["pid"] == pid
    assert states["createRuntime"]["status"] == "creating"
    assert states["poststop"]["status"] == "stopped"


def test_failing_hook_fails_create(bundles):
    bs = bundles
    cfg = cfg_for(bs, "echo should-not-run")
    cfg["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    b = bs.bundle(cfg)
    cid = bs.cid()
    r = bs.rt("run", "--bundle", b, cid, cwd=str(b))
    assert r.returncode != 0
    assert "should-not-run" not in r.stdout
    assert bs.state_of(cid) is None, "a container is left after a failed hook"


def test_nothing_of_the_runtime_stays_open_in_a_created_container(bundles, oci_runtime):
    """While it waits for start, PID 1 holds its stdio and the exec fifo,
    nothing else of create's (the state root, the lock, a --log file, the
    sync socket): a process of the container could reach them through
    /proc/1/fd (CVE-2024-21626's class)."""
    if not oci_runtime.is_appbox:
        pytest.skip("appbox-oci's fds (runc keeps others: its own exec fifo and init pipe)")
    bs = bundles
    b, cid = create(bs, cfg_for(bs, "true"), "--pid-file", bs.base / "p.pid")
    try:
        pid = bs.state_of(cid)["pid"]
        extra = {}
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if int(fd) > 2:
                extra[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        assert len(extra) == 1 and list(extra.values())[0].endswith("exec.fifo"), extra
    finally:
        ok(bs.rt("delete", "--force", cid))


def test_binary_cannot_be_written_through_proc_exe(bundles, oci_runtime):
    """CVE-2019-5736: a process of the runtime's inside the container (PID 1
    of a created container; a process of exec until it execs) must not be
    the binary on disk: a container of host root (no user namespace) could
    open /proc/PID/exe for writing and replace it.  appbox-oci runs create,
    run and exec from a sealed memfd copy."""
    if not oci_runtime.is_appbox:
        pytest.skip("appbox-oci's own protection (runc has another)")
    bs = bundles
    cfg = cfg_for(bs, "true")
    b, cid = create(bs, cfg)
    try:
        pid = bs.state_of(cid)["pid"]
        exe = os.readlink(f"/proc/{pid}/exe")
        assert exe.startswith("/memfd:appbox"), exe
        # the attack: reopen it for writing (as host root here, the most a
        # container process of host root could have)
        before = Path(os.path.realpath(oci_runtime.path)).read_bytes()
        with pytest.raises(OSError):
            with open(f"/proc/{pid}/exe", "r+b") as f:
                f.write(b"\x7fELF-overwritten")
        assert Path(os.path.realpath(oci_runtime.path)).read_bytes() == before
    finally:
        ok(bs.rt("delete", "--force", cid))
