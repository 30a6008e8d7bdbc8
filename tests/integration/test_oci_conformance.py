"""runtime-spec 1.1 conformance of the OCI runtime under test (issue 14):
one crafted config.json per MUST, run directly by the runtime on a shared
busybox root; the container reports what the kernel says (/proc/self/status,
mountinfo, /dev, ...).  docs/oci-conformance.md maps each MUST to its test.

The runtime is OCI_RUNTIME or appbox-oci (oci_support.py); check the tests
with OCI_RUNTIME=/usr/sbin/runc.  Most tests run as root (cgroups,
devices, mappings of any range); those marked rootless run as abtest.
"""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ok, pid_alive, user_info, wait_until
from oci_support import (CGROUP_ROOT, Bundles, ConsoleSocket, bb_rootfs, cfg_for, cgroup_parent,  # noqa: F401
                         controller_dir, create, create_with_console, oci_runtime, status_field)


@pytest.fixture
def bs(oci_runtime, bb_rootfs, world_tmp, cgroup_parent):
    """Bundles as root; every container's group below ours."""
    b = Bundles(oci_runtime, world_tmp, bb_rootfs[0], "root")
    b.cgroup_parent = cgroup_parent
    yield b
    b.cleanup()


@pytest.fixture
def ubs(oci_runtime, bb_rootfs, world_tmp, test_users):
    """Bundles as the unprivileged abtest (rootless: a user namespace)."""
    u = user_info("user")
    os.chown(world_tmp, u.uid, u.gid)
    b = Bundles(oci_runtime, world_tmp, bb_rootfs[0], "user")
    yield b
    b.cleanup()


def run_ok(bs, cfg, code=0):
    r = bs.run_cfg(cfg)
    assert r.returncode == code, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r.stdout


def out_of(bs, script, edit=None, code=0, **kw):
    """Run `sh -c SCRIPT` in a fresh container (EDIT(cfg) first); stdout."""
    cfg = cfg_for(bs, script, **kw)
    if edit:
        edit(cfg)
    return run_ok(bs, cfg, code)


def refused(bs, cfg, what):
    """CFG is refused: create fails with an error, and nothing is left."""
    b = bs.bundle(cfg)
    cid = bs.cid()
    r = bs.rt("create", "--bundle", b, cid, cwd=str(b), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert r.returncode != 0, f"{what} was accepted"
    assert r.stderr.strip(), f"{what}: no error message"
    assert bs.state_of(cid) is None, f"{what}: a container is left"
    return r.stderr


# ==========================================================================
# runtime.md: state, lifecycle, operations, errors


def test_state_fields(bs):
    """runtime.md#state: ociVersion, id, status, pid, bundle, annotations."""
    cfg = cfg_for(bs, "sleep 30")
    cfg["annotations"] = {"org.example.key": "value one"}
    b, cid = create(bs, cfg)
    st = bs.state_of(cid)
    assert st["ociVersion"].startswith("1.")
    assert st["id"] == cid
    assert st["status"] == "created"
    assert isinstance(st["pid"], int) and pid_alive(st["pid"])
    assert os.path.isabs(st["bundle"]) and Path(st["bundle"]) == b
    assert st.get("annotations", {}).get("org.example.key") == "value one"


def test_create_does_not_run_the_program(bs):
    """runtime.md#lifecycle 2/5: the program runs only at start; created is
    then running; the exit makes it stopped."""
    b, cid = create(bs, cfg_for(bs, "echo ran"))
    time.sleep(0.2)
    assert (b / "out.txt").read_text() == ""
    ok(bs.rt("start", cid))
    assert wait_until(lambda: bs.state_of(cid)["status"] == "stopped", timeout=10)
    assert (b / "out.txt").read_text() == "ran\n"
    ok(bs.rt("delete", cid))


def test_create_with_a_used_id_fails(bs):
    """runtime.md#create: the id MUST be unique; an error, the first kept."""
    cfg = cfg_for(bs, "sleep 30")
    b, cid = create(bs, cfg)
    r = bs.rt("create", "--bundle", b, cid, cwd=str(b), stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and r.stderr.strip()
    assert bs.state_of(cid)["status"] == "created"


def test_operations_on_an_unknown_id_fail(bs):
    """runtime.md#errors: an operation on a missing container errors."""
    for verb in (["state"], ["start"], ["kill"], ["delete"]):
        r = bs.rt(*verb, "no-such-container")
        assert r.returncode != 0 and r.stderr.strip(), verb


def test_start_of_a_stopped_container_fails(bs):
    """runtime.md#start: not `created` -> an error, no effect."""
    b, cid = create(bs, cfg_for(bs, "true"))
    ok(bs.rt("start", cid))
    assert wait_until(lambda: bs.state_of(cid)["status"] == "stopped", timeout=10)
    r = bs.rt("start", cid)
    assert r.returncode != 0 and r.stderr.strip()
    assert bs.state_of(cid)["status"] == "stopped"


def test_kill_of_a_stopped_container_fails(bs):
    """runtime.md#kill: neither created nor running -> an error."""
    b, cid = create(bs, cfg_for(bs, "true"))
    ok(bs.rt("start", cid))
    assert wait_until(lambda: bs.state_of(cid)["status"] == "stopped", timeout=10)
    r = bs.rt("kill", cid, "KILL")
    assert r.returncode != 0 and r.stderr.strip()


def test_kill_of_a_created_container(bs):
    """runtime.md#kill: a created container can be signalled (KILL stops it)."""
    b, cid = create(bs, cfg_for(bs, "echo ran"))
    pid = bs.state_of(cid)["pid"]
    ok(bs.rt("kill", cid, "KILL"))
    assert wait_until(lambda: not pid_alive(pid), timeout=10)
    assert wait_until(lambda: bs.state_of(cid)["status"] == "stopped", timeout=10)
    assert (b / "out.txt").read_text() == ""


def test_delete_of_a_running_container_fails(bs):
    """runtime.md#delete: not stopped -> an error and no effect."""
    b, cid = create(bs, cfg_for(bs, "sleep 30"))
    ok(bs.rt("start", cid))
    pid = bs.state_of(cid)["pid"]
    r = bs.rt("delete", cid)
    assert r.returncode != 0 and r.stderr.strip()
    assert pid_alive(pid) and bs.state_of(cid)["status"] == "running"


def test_delete_removes_what_create_made(bs):
    """runtime.md#delete: resources created at create MUST be deleted."""
    cfg = cfg_for(bs, "true")
    group = cfg["linux"]["cgroupsPath"]
    b, cid = create(bs, cfg)
    pid = bs.state_of(cid)["pid"]
    d = controller_dir(pid, "memory")
    assert d is not None and d.is_dir()
    groups = own_group_dirs(pid)   # every hierarchy's, the unified one too
    ok(bs.rt("start", cid))
    assert wait_until(lambda: bs.state_of(cid)["status"] == "stopped", timeout=10)
    ok(bs.rt("delete", cid))
    assert bs.state_of(cid) is None
    assert not d.exists(), f"{group} left after delete"
    left = [str(g) for g in groups if g.exists()]
    assert not left, f"left after delete: {left}"


def own_group_dirs(pid):
    """The host directories of PID's group in every mounted hierarchy
    whose group is not the root one."""
    mounts = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        a, b = line.split(" - ", 1)
        fstype, opts = b.split()[0], b.split()[2]
        if fstype == "cgroup2":
            mounts[""] = Path(a.split()[4])
        elif fstype == "cgroup":
            for o in opts.split(","):
                mounts.setdefault(o.replace("name=", ""), Path(a.split()[4]))
    out = []
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrl, path = line.split(":", 2)
        key = ctrl.split(",")[0].replace("name=", "")
        if path != "/" and key in mounts:
            out.append(mounts[key] / path.lstrip("/"))
    return out


def test_failed_create_leaves_no_cgroup(bs):
    """runtime.md#create: an error leaves nothing behind: a nested
    cgroupsPath whose parents create made, with a limit the kernel
    refuses once the groups exist (a cpuset of CPUs this machine lacks)."""
    if bs.user.uid != 0:
        pytest.skip("rootless: no cgroup is made here (cgroup v1 is the host root's)")
    cfg = cfg_for(bs, "true")
    top = cfg["linux"]["cgroupsPath"] + "-nested"
    cfg["linux"]["cgroupsPath"] = top + "/x/y/leaf"
    cfg["linux"]["resources"]["cpu"] = {"cpus": "4095"}
    err = refused(bs, cfg, "a cpuset of CPUs that do not exist")
    assert "cpu" in err, err
    left = [str(m / top.lstrip("/")) for m in CGROUP_ROOT.iterdir() if (m / top.lstrip("/")).exists()]
    assert not left, f"left by a failed create: {left}"


def test_a_group_in_use_is_not_shared(bs):
    """Two containers never share a cgroup: a cgroupsPath that holds
    another container's processes is refused (runc: "not empty")."""
    if bs.user.uid != 0:
        pytest.skip("rootless: no cgroup is made here (cgroup v1 is the host root's)")
    cfg = cfg_for(bs, "sleep 30")
    b, cid = create(bs, cfg)
    try:
        other = cfg_for(bs, "true")
        other["linux"]["cgroupsPath"] = cfg["linux"]["cgroupsPath"]
        err = refused(bs, other, "a cgroup in use")
        assert "in use" in err, err
        assert bs.state_of(cid)["status"] == "created"
    finally:
        ok(bs.rt("delete", "--force", cid))


def test_create_with_a_missing_program_fails(bs):
    """runtime.md#lifecycle: an error when the process cannot be created
    (runc and crun report it at create)."""
    cfg = cfg_for(bs, "true")
    cfg["process"]["args"] = ["/no/such/program"]
    b = bs.bundle(cfg)
    cid = bs.cid()
    r = bs.rt("run", "--bundle", b, cid, cwd=str(b))
    assert r.returncode != 0
    assert "/no/such/program" in r.stderr
    wait_until(lambda: bs.state_of(cid) is None, timeout=5)
    assert bs.state_of(cid) is None


def test_bad_config_fails_and_leaves_nothing(bs):
    """runtime.md#errors: create fails with an error and no container when
    config.json is wrong (no process args; root missing)."""
    cfg = cfg_for(bs, "true")
    cfg["process"]["args"] = []
    refused(bs, cfg, "empty process.args")
    cfg = cfg_for(bs, "true")
    cfg["root"]["path"] = "/no/such/root"
    refused(bs, cfg, "a missing root.path")


def test_exit_status_of_run(bs):
    """run returns the process's exit status (as runc and crun do)."""
    r = bs.run_cfg(cfg_for(bs, "exit 42"))
    assert r.returncode == 42


# ==========================================================================
# config.md: root, mounts, process


def test_root_path_relative_to_the_bundle(bs):
    """config.md#root: a relative path is relative to the bundle."""
    cfg = cfg_for(bs, "cat /etc/os-release")
    b = bs.bundle(cfg)
    subprocess.run(["cp", "-a", str(bs.rootfs), str(b / "rootfs")], check=True)
    c = json.loads((b / "config.json").read_text())
    c["root"]["path"] = "rootfs"
    (b / "config.json").write_text(json.dumps(c))
    cid = bs.cid()
    r = bs.rt("run", "--bundle", b, cid, cwd="/")
    assert r.returncode == 0, r.stderr
    assert "ID=mkroot" in r.stdout


def test_root_readonly(bs):
    """config.md#root: readonly true -> the root is read-only."""
    out = out_of(bs, "touch /x 2>&1; awk '$5 == \"/\" { print $6 }' /proc/self/mountinfo")
    lines = out.splitlines()
    assert "Read-only file system" in lines[0]
    assert lines[-1].split(",")[0] == "ro", out


def test_mounts_in_order_with_options(bs, world_tmp):
    """config.md#mounts: each destination, type, source and options;
    mounted in the listed order (a later mount lies over an earlier one)."""
    src = world_tmp / "shared"
    src.mkdir()
    (src / "file").write_text("from the host\n")

    def edit(cfg):
        cfg["mounts"] += [
            {"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700", "nodev"]},
            {"destination": "/mnt/host", "type": "bind", "source": str(src), "options": ["rbind", "ro"]},
            {"destination": "/opt", "type": "tmpfs", "source": "first", "options": ["size=64k"]},
            {"destination": "/opt", "type": "tmpfs", "source": "second", "options": ["size=128k"]},
        ]
    out = out_of(bs, "stat -c '%a' /mnt; cat /mnt/host/file; touch /mnt/host/new 2>&1; "
                 "grep -E ' /(mnt|opt)' /proc/self/mountinfo", edit=edit)
    lines = out.splitlines()
    assert lines[0] == "700"
    assert lines[1] == "from the host"
    assert "Read-only file system" in lines[2]
    mi = [l for l in lines[3:]]
    mnt = next(l for l in mi if l.split()[4] == "/mnt")
    assert "nodev" in mnt.split()[5] and " tmpfs " in mnt
    assert any(l.split()[4] == "/mnt/host" and l.split()[5].startswith("ro") for l in mi)
    opts = [l for l in mi if l.split()[4] == "/opt"]
    assert [l.split(" - ")[1].split()[1] for l in opts] == ["first", "second"], opts
    assert not (src / "new").exists()


def test_process_args_env_cwd(bs):
    """config.md#process: args (argv exactly), env, cwd."""
    def edit(cfg):
        cfg["process"]["args"] = ["/bin/sh", "-c", 'echo "$0|$1|$FOO|$(pwd)"', "zero", "one two"]
        cfg["process"]["env"] += ["FOO=foo bar"]
        cfg["process"]["cwd"] = "/tmp"
    assert out_of(bs, "", edit=edit) == "zero|one two|foo bar|/tmp\n"


def test_process_user_and_additional_gids(bs):
    """config.md#user: uid, gid, additionalGids."""
    def edit(cfg):
        cfg["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 1002]}
    out = out_of(bs, "id -u; id -g; id -G; grep Groups /proc/self/status", edit=edit)
    lines = out.splitlines()
    assert lines[0] == "1000" and lines[1] == "1001"
    assert set(lines[2].split()) == {"1001", "5", "1002"}


def test_process_umask(bs):
    """config.md#user: umask."""
    def edit(cfg):
        cfg["process"]["user"]["umask"] = 0o027
    assert out_of(bs, "umask", edit=edit).strip() == "0027"


def test_process_rlimits(bs):
    """config.md#process rlimits: soft and hard of each type."""
    def edit(cfg):
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 77, "hard": 88},
                                     {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
    out = out_of(bs, "ulimit -n; ulimit -Hn; ulimit -c", edit=edit)
    assert out.split() == ["77", "88", "0"]


def test_process_rlimit_unknown_type_is_an_error(bs):
    """config.md#process: an rlimit that cannot be mapped MUST fail."""
    cfg = cfg_for(bs, "true")
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]
    err = refused(bs, cfg, "RLIMIT_BOGUS")
    assert "RLIMIT_BOGUS" in err


CAP = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21,
       "CAP_AUDIT_WRITE": 29}


def test_process_capabilities(bs):
    """config-linux / config.md#capabilities: each of the five sets."""
    def edit(cfg):
        cfg["process"]["capabilities"] = {
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"],
        }
        cfg["process"]["noNewPrivileges"] = False
    out = out_of(bs, "grep ^Cap /proc/self/status", edit=edit)

    def mask(*names):
        return sum(1 << CAP[n] for n in names)
    bnd = mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW")
    assert int(status_field(out, "CapBnd"), 16) == bnd
    assert int(status_field(out, "CapInh"), 16) == mask("CAP_KILL")
    assert int(status_field(out, "CapAmb"), 16) == mask("CAP_KILL")
    # uid 0 gets the bounding set at execve (no securebits): effective and
    # permitted hold at least what was asked, and nothing beyond bounding
    for f in ("CapEff", "CapPrm"):
        v = int(status_field(out, f), 16)
        assert v & mask("CAP_CHOWN", "CAP_KILL") == mask("CAP_CHOWN", "CAP_KILL") and not v & ~bnd, (f, out)


def test_process_capabilities_of_a_user(bs):
    """config.md#capabilities for a non-root process: ambient caps are its
    effective set after execve; the rest are dropped."""
    def edit(cfg):
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
        cfg["process"]["capabilities"] = {k: ["CAP_KILL", "CAP_NET_BIND_SERVICE"] for k in
                                          ("bounding", "effective", "permitted", "inheritable", "ambient")}
        cfg["process"]["capabilities"]["ambient"] = ["CAP_NET_BIND_SERVICE"]
        cfg["process"]["noNewPrivileges"] = False
    out = out_of(bs, "grep ^Cap /proc/self/status", edit=edit)
    assert int(status_field(out, "CapEff"), 16) == 1 << CAP["CAP_NET_BIND_SERVICE"]
    assert int(status_field(out, "CapAmb"), 16) == 1 << CAP["CAP_NET_BIND_SERVICE"]
    assert int(status_field(out, "CapBnd"), 16) == (1 << CAP["CAP_KILL"]) | (1 << CAP["CAP_NET_BIND_SERVICE"])


def test_no_new_privileges(bs):
    """config.md#process noNewPrivileges true/false."""
    assert status_field(out_of(bs, "cat /proc/self/status"), "NoNewPrivs") == "1"

    def off(cfg):
        cfg["process"]["noNewPrivileges"] = False
    assert status_field(out_of(bs, "cat /proc/self/status", edit=off), "NoNewPrivs") == "0"


def test_oom_score_adj(bs):
    """config.md#process oomScoreAdj."""
    def edit(cfg):
        cfg["process"]["oomScoreAdj"] = 567
    assert out_of(bs, "cat /proc/self/oom_score_adj", edit=edit).strip() == "567"


def test_hostname(bs):
    """config.md#hostname (with a uts namespace)."""
    def edit(cfg):
        cfg["hostname"] = "conformance-host"
    assert out_of(bs, "hostname; cat /proc/sys/kernel/hostname", edit=edit).split() == ["conformance-host"] * 2


def test_domainname(bs, oci_runtime):
    """config.md#domainname (runtime-spec 1.1)."""
    def edit(cfg):
        cfg["domainname"] = "example.test"
    r = bs.run_cfg(_edited(cfg_for(bs, "cat /proc/sys/kernel/domainname"), edit))
    if oci_runtime.name == "runc" and r.stdout.strip() != "example.test":
        pytest.skip("runc 1.1 predates runtime-spec 1.1's domainname")
    assert r.returncode == 0 and r.stdout.strip() == "example.test", r.stderr


def _edited(cfg, fn):
    fn(cfg)
    return cfg


def test_terminal_and_console_size(bs):
    """config.md#process terminal + consoleSize; --console-socket gets the
    pty master; /dev/console is the terminal (config-linux#default-devices)."""
    cfg = cfg_for(bs, "tty; stty size; [ -c /dev/console ] && echo console-ok; echo end", terminal=True)
    cfg["process"]["consoleSize"] = {"height": 25, "width": 91}
    sock = ConsoleSocket(bs.base / "c.sock")
    try:
        cid = create_with_console(bs, cfg, sock)
        ok(bs.rt("start", cid))
        out = sock.read_until(b"end").decode(errors="replace").replace("\r", "")
        assert re.search(r"^/dev/pts/\d+$", out, re.M), out
        assert "25 91" in out and "console-ok" in out, out
    finally:
        sock.close()


def test_annotations_and_unknown_properties(bs):
    """config.md#annotations; config.md#extensibility: unknown properties
    MUST be ignored (top level, process, linux)."""
    cfg = cfg_for(bs, "echo fine")
    cfg["annotations"] = {"com.example.a": "1"}
    cfg["someFutureThing"] = {"x": 1}
    cfg["process"]["futureProcessField"] = True
    cfg["linux"]["futureLinuxField"] = [1, 2]
    assert run_ok(bs, cfg) == "fine\n"


# ==========================================================================
# config-linux.md


def _ns(script_out):
    return dict(l.split(" ", 1) for l in script_out.splitlines() if " " in l)


NS_SCRIPT = "for n in pid ipc uts mnt net cgroup user; do echo $n $(readlink /proc/self/ns/$n); done"


def test_namespaces_new_and_inherited(bs):
    """config-linux#namespaces: a listed type is new; an omitted one is
    the runtime's (here: ipc, user)."""
    def edit(cfg):
        cfg["linux"]["namespaces"] = [{"type": t} for t in ("pid", "uts", "mount", "network", "cgroup")]
    inside = _ns(out_of(bs, NS_SCRIPT, edit=edit))
    for n in ("pid", "uts", "mnt", "net", "cgroup"):
        assert inside[n] != os.readlink(f"/proc/self/ns/{n}"), n
    for n in ("ipc", "user"):
        assert inside[n] == os.readlink(f"/proc/self/ns/{n}"), n


def test_namespace_join_by_path(bs):
    """config-linux#namespaces path: join another container's namespaces."""
    b, cid = create(bs, cfg_for(bs, "sleep 30"))
    ok(bs.rt("start", cid))
    pid = bs.state_of(cid)["pid"]

    def edit(cfg):
        for n in cfg["linux"]["namespaces"]:
            if n["type"] in ("network", "ipc", "uts"):
                n["path"] = f"/proc/{pid}/ns/{ {'network': 'net'}.get(n['type'], n['type']) }"
    inside = _ns(out_of(bs, NS_SCRIPT, edit=edit))
    for n in ("net", "ipc", "uts"):
        assert inside[n] == os.readlink(f"/proc/{pid}/ns/{n}"), n
    assert inside["pid"] != os.readlink(f"/proc/{pid}/ns/pid")


def test_cgroup_namespace(bs):
    """config-linux#namespaces cgroup: the container's group is its root."""
    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "cgroup"})
    out = out_of(bs, "cat /proc/self/cgroup", edit=edit)
    mem = next(l for l in out.splitlines() if ":memory:" in l)
    assert mem.endswith(":/"), out


def test_user_namespace_id_mappings(bs):
    """config-linux#user-namespace-mappings: uid/gid maps written as given."""
    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
        cfg["process"]["user"] = {"uid": 5, "gid": 6}
        cfg["linux"].pop("cgroupsPath", None)  # v1 groups cannot be owned by a mapped root
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/sys/fs/cgroup"]
        for m in cfg["mounts"]:
            if m["destination"] == "/sys":
                m.update(type="none", source="/sys", options=["rbind", "nosuid", "noexec", "nodev", "ro"])
    out = out_of(bs, "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g", edit=edit)
    lines = [l.split() for l in out.splitlines()]
    assert lines[0] == ["0", "300000", "65536"] and lines[1] == ["0", "300000", "65536"]
    assert lines[2] == ["5"] and lines[3] == ["6"]


def test_rootless_mappings_of_the_caller(ubs):
    """config-linux#user-namespace-mappings as an unprivileged caller (what
    `spec --rootless` writes)."""
    out = out_of(ubs, "cat /proc/self/uid_map; id -u; echo $$")
    lines = out.splitlines()
    assert lines[0].split() == ["0", str(ubs.user.uid), "1"]
    assert lines[1:] == ["0", "1"]


def test_default_devices_and_links(bs):
    """config-linux#default-devices and #dev-symbolic-links."""
    out = out_of(bs, "for d in null zero full random urandom tty ptmx; do [ -c /dev/$d ] || [ -L /dev/$d ] "
                 "&& echo have $d; done; "
                 "for l in fd stdin stdout stderr ptmx; do echo link $l $(readlink /dev/$l); done; "
                 "echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c")
    for d in ("null", "zero", "full", "random", "urandom", "tty", "ptmx"):
        assert f"have {d}" in out, out
    links = {l.split()[1]: (l.split() + [""])[2] for l in out.splitlines() if l.startswith("link ")}
    assert links["fd"] == "/proc/self/fd"
    assert links["stdin"] == "/proc/self/fd/0"
    assert links["stdout"] == "/proc/self/fd/1"
    assert links["stderr"] == "/proc/self/fd/2"
    assert links["ptmx"] == "pts/ptmx"
    assert "null-ok" in out and out.splitlines()[-1] == "4"


FUSE = {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0}


def test_devices_and_the_device_cgroup(bs):
    """config-linux#devices (node made with type, numbers, mode) and
    #allowed-device-list (deny by default, allow rule opens it)."""
    script = "ls -ln /dev/fuse; (exec 3</dev/fuse) 2>&1 && echo opened; true"

    def allow(cfg):
        cfg["linux"]["devices"] = [FUSE]
        cfg["linux"]["resources"]["devices"] = [{"allow": False, "access": "rwm"},
                                                {"allow": True, "type": "c", "major": 10, "minor": 229,
                                                 "access": "rw"}]
    out = out_of(bs, script, edit=allow)
    assert re.match(r"crw-rw-rw-\s+1 0\s+0\s+10,\s+229 ", out), out
    assert "opened" in out

    def deny(cfg):
        cfg["linux"]["devices"] = [FUSE]
    out = out_of(bs, script, edit=deny)
    assert "opened" not in out and "Operation not permitted" in out, out


def test_masked_paths(bs):
    """config-linux#masked-paths: files read empty, directories are empty;
    a missing path is no error."""
    def edit(cfg):
        cfg["linux"]["maskedPaths"] = ["/proc/timer_list", "/sys/firmware", "/proc/no-such-thing"]
    out = out_of(bs, "wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l", edit=edit)
    assert out.split() == ["0", "0"]


def test_rootfs_propagation(bs):
    """config-linux#rootfs-mount-propagation: the root mount gets the
    propagation asked for (rshared: a peer group of its own; the tree was
    made private first, so it is not the host's)."""
    def edit(cfg):
        cfg["linux"]["rootfsPropagation"] = "rshared"
    out = out_of(bs, "awk '$5 == \"/\" { print }' /proc/self/mountinfo", edit=edit)
    assert "shared:" in out, out
    out = out_of(bs, "awk '$5 == \"/\" { print }' /proc/self/mountinfo")
    assert "shared:" not in out, out


def test_readonly_paths(bs):
    """config-linux#readonly-paths."""
    def edit(cfg):
        cfg["linux"]["readonlyPaths"] = ["/proc/sys", "/proc/sysrq-trigger"]
    out = out_of(bs, "(echo 1 > /proc/sys/kernel/ns_last_pid) 2>&1; grep ' /proc/sys ' /proc/self/mountinfo",
                 edit=edit)
    assert "Read-only file system" in out
    assert re.search(r" /proc/sys ro[ ,]", out), out


def test_sysctl(bs):
    """config-linux#sysctl: namespaced keys in the container's namespaces."""
    def edit(cfg):
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}
    out = out_of(bs, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced", edit=edit)
    assert out.split() == ["1", "1"]
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() in ("0", "1")  # host's untouched


def test_cgroups_path_and_resources(bs):
    """config-linux#cgroups-path (the group named) and #control-groups
    resources: memory, pids, cpu shares."""
    cfg = cfg_for(bs, "sleep 30")
    cfg["linux"]["resources"].update({"memory": {"limit": 48 * 1024 * 1024}, "pids": {"limit": 33},
                                      "cpu": {"shares": 512}})
    b, cid = create(bs, cfg)
    pid = bs.state_of(cid)["pid"]
    mem = controller_dir(pid, "memory")
    assert str(mem).endswith(cfg["linux"]["cgroupsPath"]), mem
    assert int((mem / "memory.limit_in_bytes").read_text()) == 48 * 1024 * 1024
    assert (controller_dir(pid, "pids") / "pids.max").read_text().strip() == "33"
    assert str(controller_dir(pid, "pids")).endswith(cfg["linux"]["cgroupsPath"])
    cpu = controller_dir(pid, "cpu")
    assert str(cpu).endswith(cfg["linux"]["cgroupsPath"]), cpu
    if (cpu / "cpu.shares").exists():
        assert (cpu / "cpu.shares").read_text().strip() == "512"
    else:  # cgroup v2: runc's conversion of 512 shares
        assert (cpu / "cpu.weight").read_text().strip() == "20"


def test_seccomp(bs):
    """config-linux#seccomp: defaultAction, a rule's action and errnoRet."""
    def edit(cfg):
        cfg["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
                         {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO"}]}
    out = out_of(bs, "grep ^Seccomp: /proc/self/status; oci-probe sys 110 || echo no-probe", edit=edit)
    assert "Seccomp:\t2" in out
    if "no-probe" in out:
        pytest.skip("oci-probe was not built (gcc -static)")
    assert "errno 42" in out, out


def test_seccomp_default_errno(bs):
    """config-linux#seccomp defaultErrnoRet."""
    def edit(cfg):
        cfg["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99},
                         {"names": [], "action": "SCMP_ACT_ALLOW"}]}
        # everything busybox sh needs is allowed by a second profile list
        cfg["linux"]["seccomp"]["syscalls"][1]["names"] = ALLOW_FOR_SH
    out = out_of(bs, "oci-probe sys 110; oci-probe sys 99", edit=edit)
    if "not found" in out:
        pytest.skip("oci-probe was not built (gcc -static)")
    assert out.split("\n")[:2] == ["errno 99", "errno 38"], out


ALLOW_FOR_SH = ["read", "write", "open", "openat", "close", "fstat", "newfstatat", "stat", "lstat", "mmap",
                "munmap", "mprotect", "brk", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl",
                "execve", "exit", "exit_group", "wait4", "clone", "clone3", "fork", "vfork", "getuid",
                "geteuid", "getgid", "getegid", "dup2", "dup3", "dup", "fcntl", "arch_prctl", "set_tid_address",
                "set_robust_list", "prlimit64", "getcwd", "chdir", "access", "faccessat", "faccessat2", "uname",
                "readlink", "readlinkat", "getrandom", "rseq", "futex", "pipe", "pipe2", "lseek", "writev",
                "capget", "capset", "prctl", "setgroups", "setuid", "setgid", "setresuid", "setresgid",
                "statx", "sigaltstack", "getpgrp", "setpgid", "getppid", "getpid", "kill", "nanosleep", "poll",
                "select", "pselect6", "ppoll", "getdents64", "fchdir", "umask", "close_range", "mremap",
                "madvise", "sched_getaffinity", "tgkill", "gettid", "clock_gettime", "fstatfs", "statfs"]


def test_hooks_order_and_state(bs, world_tmp):
    """config.md#posix-platform-hooks and runtime.md#lifecycle: the six
    hooks in order, each with the state on stdin."""
    out = world_tmp / "hooks"
    out.mkdir(mode=0o777)
    os.chmod(out, 0o777)
    cfg = cfg_for(bs, "echo program >> " + str(out) + "/order")
    cfg["mounts"].append({"destination": str(out), "type": "bind", "source": str(out), "options": ["bind"]})

    def hook(k):
        return {"path": "/bin/sh", "args": ["sh", "-c", f'cat > {out}/{k}.json; echo {k} >> {out}/order']}
    kinds = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
    cfg["hooks"] = {k: [hook(k)] for k in kinds}
    b = bs.bundle(cfg)
    cid = bs.cid()
    r = bs.rt("run", "--bundle", b, cid, cwd=str(b))
    assert r.returncode == 0, r.stderr
    order = (out / "order").read_text().split()
    assert set(kinds) <= set(order), order
    pos = {k: order.index(k) for k in order}
    assert pos["prestart"] < pos["createContainer"] and pos["createRuntime"] < pos["createContainer"]
    assert pos["createContainer"] < pos["startContainer"] < pos["program"]
    assert pos["poststart"] < pos["poststop"] and pos["program"] < pos["poststop"]
    states = {k: json.loads((out / f"{k}.json").read_text()) for k in kinds}
    for k, st in states.items():
        assert st["id"] == cid and Path(st["bundle"]) == b, (k, st)
    # runc 1.1 gives createContainer/startContainer the pid as seen inside
    # (1); the spec says "as seen by the host", which the others show
    assert states["createRuntime"]["pid"] == states["prestart"]["pid"] == states["poststart"]["pid"] > 1
    assert states["createRuntime"]["status"] == "creating"
    assert states["poststop"]["status"] == "stopped"


def test_hook_timeout(bs):
    """config.md#posix-platform-hooks timeout: a hook over its timeout
    fails the operation."""
    cfg = cfg_for(bs, "echo should-not-run")
    cfg["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "20"], "timeout": 1}]}
    b = bs.bundle(cfg)
    cid = bs.cid()
    # without the timeout the hook would succeed after 20 s, and so would run
    r = bs.rt("run", "--bundle", b, cid, cwd=str(b), timeout=60)
    assert r.returncode != 0 and "should-not-run" not in r.stdout
    assert bs.state_of(cid) is None


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_hook_stops_the_create(bs, kind):
    """config.md#posix-platform-hooks: a failing prestart/createRuntime/
    createContainer hook MUST make the operation fail; the container is
    destroyed (runtime.md#lifecycle 11)."""
    cfg = cfg_for(bs, "echo should-not-run")
    cfg["hooks"] = {kind: [{"path": "/bin/false", "args": ["false"]}]}
    b = bs.bundle(cfg)
    cid = bs.cid()
    r = bs.rt("run", "--bundle", b, cid, cwd=str(b))
    assert r.returncode != 0 and r.stderr.strip()
    assert "should-not-run" not in r.stdout
    wait_until(lambda: bs.state_of(cid) is None, timeout=5)
    assert bs.state_of(cid) is None


def test_failing_poststop_hook_is_a_warning(bs):
    """config.md#posix-platform-hooks: a failing poststop hook MUST be
    logged (a warning) and the rest continues: the container is deleted."""
    cfg = cfg_for(bs, "echo ran")
    cfg["hooks"] = {"poststop": [{"path": "/bin/false", "args": ["false"]}]}
    b = bs.bundle(cfg)
    cid = bs.cid()
    r = bs.rt("run", "--bundle", b, cid, cwd=str(b))
    assert r.stdout == "ran\n"
    wait_until(lambda: bs.state_of(cid) is None, timeout=5)
    assert bs.state_of(cid) is None


def test_namespace_path_of_the_wrong_type_is_an_error(bs):
    """config-linux#namespaces: a path that is not a namespace of the
    given type MUST be an error."""
    cfg = cfg_for(bs, "true")
    for n in cfg["linux"]["namespaces"]:
        if n["type"] == "network":
            n["path"] = "/proc/self/ns/ipc"
    refused(bs, cfg, "a network namespace path naming an ipc namespace")


def test_only_stdio_and_preserved_fds_are_open(bs):
    """runtime-linux.md#file-descriptors: stdin/stdout/stderr only, plus
    the --preserve-fds ones (from 3)."""
    # ls (a child) lists the shell's fds: the shell holds none of its own
    script = "ls /proc/$$/fd; true"  # two commands: sh does not exec ls

    def fds(out):
        return sorted(int(x) for x in out.split())
    out = run_ok(bs, cfg_for(bs, script))
    assert fds(out) == [0, 1, 2], out
    r_fd, w_fd = os.pipe()
    try:
        b = bs.bundle(cfg_for(bs, script + "; echo via-3 >&3"))
        # the pipe's write end becomes fd 3 of the runtime (preexec runs
        # before subprocess closes the fds not in pass_fds)
        r = bs.rt("run", "--preserve-fds", "1", "--bundle", b, bs.cid(), cwd=str(b), pass_fds=(3,),
                  preexec_fn=lambda: os.dup2(w_fd, 3))
        assert r.returncode == 0, r.stderr
        assert fds(r.stdout.replace("via-3\n", "")) == [0, 1, 2, 3], r.stdout
        os.close(w_fd)
        w_fd = None
        assert os.read(r_fd, 100) == b"via-3\n"
    finally:
        os.close(r_fd)
        if w_fd is not None:
            os.close(w_fd)


def _runtime_1_1(oci_runtime, r, want, what):
    if oci_runtime.name == "runc" and r.stdout.strip() != want:
        pytest.skip(f"runc 1.1 predates runtime-spec 1.1's {what}")


def test_personality(bs, oci_runtime):
    """config-linux#personality (runtime-spec 1.1): LINUX32."""
    cfg = cfg_for(bs, "uname -m")
    cfg["linux"]["personality"] = {"domain": "LINUX32"}
    r = bs.run_cfg(cfg)
    _runtime_1_1(oci_runtime, r, "i686", "personality")
    assert r.returncode == 0 and r.stdout.strip() == "i686", r.stderr


def test_io_priority(bs, oci_runtime):
    """config.md#process ioPriority (runtime-spec 1.1)."""
    cfg = cfg_for(bs, "ionice -p $$")
    cfg["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 0}
    r = bs.run_cfg(cfg)
    _runtime_1_1(oci_runtime, r, "idle", "ioPriority")
    assert r.returncode == 0 and r.stdout.strip() == "idle", (r.stdout, r.stderr)


def test_scheduler(bs, oci_runtime):
    """config.md#process scheduler (runtime-spec 1.1): SCHED_BATCH."""
    cfg = cfg_for(bs, "awk '/^policy/ { print $3 }' /proc/self/sched")
    cfg["process"]["scheduler"] = {"policy": "SCHED_BATCH"}
    r = bs.run_cfg(cfg)
    _runtime_1_1(oci_runtime, r, "3", "scheduler")
    assert r.returncode == 0 and r.stdout.strip() == "3", (r.stdout, r.stderr)
