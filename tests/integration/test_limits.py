"""Resource limits through the container's cgroups (issue 13): memory (OOM
kill, exit 137 and the message), pids (a fork bomb stops at the limit),
CPU quota (throttled), the limits in the groups' files and in `show`,
sessions in the same groups, `stats`, the cgroup namespace, bad values
and limits without a usable controller refused with nothing left, and no
group left after a SIGKILL.

Each test runs as root and as `abtest` inside a delegated group: the test
(as root) makes a group below its own in each hierarchy, chowns it to
abtest and moves the command's process in before it drops to abtest (as
an administrator, or systemd's Delegate=yes, would).  The hierarchy is
detected: the same tests run on this hybrid v1 host and on a pure cgroup
v2 host (tests/vm)."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import pid_alive, popen, require_root, run, user_info, user_env, wait_until

CG = Path("/sys/fs/cgroup")
PURE_V2 = (CG / "cgroup.controllers").exists()
V1_CTLS = ("memory", "pids", "cpu", "cpuacct", "blkio")
MiB = 1024 * 1024


def own_group(ctl):
    """This process's group in CTL's hierarchy ("" for v2)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctls, path = line.split(":", 2)
        if (ctl == "" and ctls == "") or (ctl and ctl in ctls.split(",")):
            return path
    return None


def v1_mount(ctl):
    p = CG / ctl
    return Path(os.path.realpath(p)) if p.is_dir() and not PURE_V2 else None


def v2_mount():
    if PURE_V2:
        return CG
    return CG / "unified" if (CG / "unified" / "cgroup.procs").exists() else None


def below(mnt, own):
    return mnt if own in ("/", None) else mnt / own.lstrip("/")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def maker(d):
    m = re.match(r"appbox-(\d+)-", d.name)
    return int(m.group(1)) if m else None


def maker_dead(d):
    m = re.match(r"appbox-(\d+)-", d.name)
    return not m or not pid_alive(int(m.group(1)))


class Caller:
    """Runs appbox as root, or as abtest in a delegated group."""

    def __init__(self, who, appbox, tmp):
        self.who, self.appbox, self.tmp = who, appbox, tmp
        self.deleg = []        # the delegated groups (made here, removed at the end)
        self.enter = []        # cgroup.procs files the process is moved into
        self.pids = set()      # the appbox processes started (their groups are named after them)
        self.store = tmp / "store"
        self.store.mkdir()
        for d in ("data", "run", "home"):
            (self.store / d).mkdir()
        if who == "user":
            u = user_info("user")
            for d in [self.store] + [self.store / x for x in ("data", "run", "home")]:
                os.chown(d, u.uid, u.gid)
            self._delegate(u)

    def _delegate(self, u):
        name = f"abtest-deleg-{os.getpid()}"
        if PURE_V2:
            parent = below(CG, own_group(""))
            ctls = (parent / "cgroup.controllers").read_text().split()
            want = [c for c in ("memory", "pids", "cpu") if c in ctls]
            try:
                for c in want:
                    write(parent / "cgroup.subtree_control", f"+{c}")
            except OSError as e:
                pytest.skip(f"cannot enable cgroup v2 controllers below {parent} for a delegated group ({e}): "
                            f"its processes keep them (run the tests from a group without processes of its own)")
            d = parent / name
            d.mkdir()
            self.deleg.append(d)
            for c in want:
                write(d / "cgroup.subtree_control", f"+{c}")
            leaf = d / "shell"
            leaf.mkdir()
            self.deleg.insert(0, leaf)
            for p in (d, d / "cgroup.procs", d / "cgroup.subtree_control", leaf, leaf / "cgroup.procs"):
                os.chown(p, u.uid, u.gid)
            self.enter = [leaf / "cgroup.procs"]
            return
        seen = set()
        for ctl in V1_CTLS:
            mnt = v1_mount(ctl)
            if not mnt or mnt in seen:
                continue
            seen.add(mnt)
            d = below(mnt, own_group(ctl)) / name
            d.mkdir()
            self.deleg.append(d)
            for p in (d, d / "cgroup.procs", d / "tasks"):
                os.chown(p, u.uid, u.gid)
            self.enter.append(d / "cgroup.procs")

    @property
    def env(self):
        return {"APPBOX_DATA_DIR": str(self.store / "data"), "APPBOX_RUNTIME_DIR": str(self.store / "run"),
                "HOME": str(self.store / "home")}

    def argv(self, args):
        argv = [self.appbox, *args]
        if self.who == "root":
            return argv
        u = user_info("user")
        script = ('for f in ' + " ".join(str(f) for f in self.enter) + '; do echo $$ > "$f" || exit 125; done; '
                  f'exec setpriv --reuid {u.uid} --regid {u.gid} --init-groups --inh-caps=-all -- "$@"')
        return ["/bin/sh", "-c", script, "sh", *argv]

    def ab(self, *args, timeout=120):
        """Run appbox ARGS; CompletedProcess (text)."""
        p = self.popen(*args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            pytest.fail(f"timed out after {timeout}s: appbox {args}\nstdout: {out}\nstderr: {err}")
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)

    def popen(self, *args, **kw):
        """Start appbox ARGS; its pid (the sh and setpriv exec) names the groups it makes."""
        p = popen(self.argv(args), as_user="root", env=user_env(self.who, self.env), **kw)
        self.pids.add(p.pid)
        return p

    def parents(self):
        """Where the container's groups of this caller go."""
        if self.who == "user":
            return [d.parent if d.name == "shell" else d for d in self.deleg]
        out = []
        if not PURE_V2:
            for ctl in V1_CTLS + ("devices",):
                mnt = v1_mount(ctl)
                if mnt:
                    out.append(below(mnt, own_group(ctl)))
        m = v2_mount()
        if m:
            p = below(m, own_group(""))
            out += [p, p.parent] if PURE_V2 and p != m else [p]
        return out

    def groups(self):
        return {d for p in self.parents() if p.is_dir() for d in p.iterdir() if d.name.startswith("appbox-")}

    def cleanup(self):
        for d in self.deleg:
            for sub in d.glob("appbox-*"):
                try:
                    sub.rmdir()
                except OSError:
                    pass
            try:
                d.rmdir()
            except OSError:
                pass


@pytest.fixture
def caller(run_as, appbox_bin, world_tmp):
    require_root("the tests make (delegated) cgroups as root")
    c = Caller(run_as, appbox_bin, world_tmp)
    before = c.groups()
    try:
        yield c
    finally:
        for d in sorted((c.store / "data").iterdir()) if (c.store / "data").is_dir() else []:
            c.ab("rm", "--force", d.name, timeout=60)
        # nothing of ours left: no group made by one of our appbox
        # processes, now gone (other test sessions' groups are theirs)
        left = {d for d in c.groups() - before if maker_dead(d) and maker(d) in c.pids}
        c.cleanup()
    assert not left, f"cgroups left behind: {sorted(map(str, left))}"


def spec_groups(c, name):
    return [Path(p) for p in json.loads(c.ab("show", name, "--json").stdout)["cgroups"]]


def group_for(groups, ctl):
    """The container's directory for a v1 controller (or its v2 group)."""
    for g in groups:
        rel = g.relative_to(CG).parts
        if PURE_V2:
            return g
        if rel[0] != "unified" and ctl in rel[0].split(","):
            return g
    return None


def ok(r):
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r.stdout


# ---------------------------------------------------------------------------


def test_memory_limit_oom_kill(caller):
    """A memory hog over --memory 32M is killed: exit 137 and the message."""
    r = caller.ab("sandbox", "--memory", "32M", "--", "tail", "/dev/zero")
    assert r.returncode == 137, r.stderr
    assert "appbox: killed: memory limit 32M reached" in r.stderr


def test_cgroup_namespace_is_the_containers(caller):
    """Inside, the container's groups are "/" (its cgroupns is rooted there)."""
    out = ok(caller.ab("sandbox", "--", "cat", "/proc/self/cgroup"))
    lines = out.strip().splitlines()
    assert lines and all(l.split(":", 2)[2] == "/" for l in lines), out


def test_named_container_limits_sessions_stats(caller):
    c = caller
    ok(c.ab("create", "lim", "--no-launcher", "--memory", "64M", "--pids", "64", "--cpus", "0.1",
            "--cpu-weight", "200"))
    ok(c.ab("start", "lim"))
    groups = spec_groups(c, "lim")
    assert groups and all(g.is_dir() and g.name.startswith("appbox-") for g in groups), groups

    # the limits in the groups' files
    mem, pids, cpu = group_for(groups, "memory"), group_for(groups, "pids"), group_for(groups, "cpu")
    if PURE_V2:
        assert (mem / "memory.max").read_text().strip() == str(64 * MiB)
        assert (mem / "memory.swap.max").read_text().strip() in ("0", "")
        assert (pids / "pids.max").read_text().strip() == "64"
        assert (cpu / "cpu.max").read_text().split() == ["10000", "100000"]
        assert (cpu / "cpu.weight").read_text().strip() == "200"
    else:
        assert int((mem / "memory.limit_in_bytes").read_text()) == 64 * MiB
        if (mem / "memory.memsw.limit_in_bytes").exists():
            assert int((mem / "memory.memsw.limit_in_bytes").read_text()) == 64 * MiB
        assert (pids / "pids.max").read_text().strip() == "64"
        assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "10000"
        assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"
        assert (cpu / "cpu.shares").read_text().strip() == "2048"

    # and in show
    show = ok(c.ab("show", "lim"))
    assert re.search(r"resources +memory 64M \(swap none\), cpus 0\.1, cpu weight 200, pids 64", show), show
    sj = json.loads(ok(c.ab("show", "lim", "--json")))
    assert (sj["memory"], sj["cpus"], sj["cpu_weight"], sj["pids_limit"]) == (64 * MiB, 0.1, 200, 64)
    assert sj["limits_enforced_by"].startswith("cgroup v")

    # PID 1 in every group; a session too (its cgroupns view: "/")
    init = int((c.store / "run" / "lim" / "init.pid").read_text())
    host_view = Path(f"/proc/{init}/cgroup").read_text()
    for g in groups:
        assert str(g).endswith(g.name) and g.name in host_view, (g, host_view)
    out = ok(c.ab("exec", "lim", "--", "cat", "/proc/self/cgroup"))
    assert all(l.split(":", 2)[2] == "/" for l in out.strip().splitlines()), out
    sess = c.popen("exec", "lim", "--", "sleep", "30", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def session_pid():
            for p in (mem / "cgroup.procs").read_text().split():
                try:
                    if Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0] == b"sleep":
                        return int(p)
                except OSError:
                    pass
            return None
        assert wait_until(lambda: session_pid() is not None, timeout=10), "the session is not in the memory group"
        sp = session_pid()
        for g in groups:
            assert str(sp) in (g / "cgroup.procs").read_text().split(), f"session {sp} not in {g}"
    finally:
        sess.kill()
        sess.wait()

    # stats: one sample as JSON
    st = json.loads(ok(c.ab("stats", "--no-stream", "--json")))
    assert [s["name"] for s in st] == ["lim"]
    s = st[0]
    assert s["memory_limit"] == 64 * MiB and s["pids_limit"] == 64
    assert s["memory_usage"] > 0 and s["pids"] >= 1 and s["cpu_percent"] is not None
    for k in ("cpu_time_ns", "block_read", "block_write"):
        assert k in s
    table = ok(c.ab("stats", "lim"))
    assert table.splitlines()[0].split()[:3] == ["NAME", "CPU", "%"] and "lim" in table

    # a CPU hog is throttled: usage well below one CPU over its run
    cpuacct = group_for(groups, "cpuacct") if not PURE_V2 else cpu

    def usage_ns():
        if PURE_V2:
            return int(re.search(r"usage_usec (\d+)", (cpu / "cpu.stat").read_text()).group(1)) * 1000
        return int((cpuacct / "cpuacct.usage").read_text())

    def throttled():
        return int(re.search(r"nr_throttled (\d+)", (cpu / "cpu.stat").read_text()).group(1))

    u0, n0, t0 = usage_ns(), throttled(), time.monotonic()
    ok(c.ab("exec", "lim", "--", "sh", "-c", "timeout 3 sh -c 'while :; do :; done'; true"))
    used, wall = (usage_ns() - u0) / 1e9, time.monotonic() - t0
    assert throttled() > n0, (cpu / "cpu.stat").read_text()
    assert used < 0.6 * wall, f"{used:.2f} s of CPU in {wall:.2f} s with --cpus 0.1"

    # a fork bomb stops at --pids 64; the host is unharmed.  Its children
    # live until it is done forking (with --cpus 0.1 in the emulated cgroup
    # v2 VM, 200 forks crawl); the bomb (a subshell: sh exits when a fork
    # fails) is then over, and builtins kill them, with no fork needed.
    c.ab("exec", "lim", "--", "sh", "-c",
         "(i=0; while [ $i -lt 200 ]; do sleep 1000 & echo $! >> /tmp/bomb.pids; i=$((i+1)); done); "
         "while read p; do kill $p; done < /tmp/bomb.pids", timeout=600)
    events = (pids / "pids.events").read_text()
    assert int(re.search(r"max (\d+)", events).group(1)) > 0, events
    assert int((pids / "pids.current").read_text()) <= 64
    assert subprocess.run(["true"]).returncode == 0

    # a memory hog in a session: the message, exit 137
    r = c.ab("exec", "lim", "--", "tail", "/dev/zero")
    assert r.returncode == 137 and "appbox: killed: memory limit 64M reached" in r.stderr, r.stderr

    ok(c.ab("stop", "lim"))
    assert not any(g.exists() for g in groups), [str(g) for g in groups if g.exists()]


@pytest.mark.parametrize("args,words", [
    (["--memory", "lots"], ["--memory", "lots"]),
    (["--memory", "0"], ["--memory"]),
    (["--cpus", "0"], ["--cpus"]),
    (["--cpus", "-1"], ["--cpus"]),
    (["--pids", "0"], ["--pids"]),
    (["--cpu-weight", "10001"], ["--cpu-weight", "10001"]),
    (["--io-weight", "0"], ["--io-weight"]),
    (["--memory-swap", "1G"], ["--memory-swap", "--memory"]),
])
def test_bad_values_refused(caller, args, words):
    r = caller.ab("sandbox", *args, "--", "true")
    assert r.returncode == 2, (r.returncode, r.stderr)
    for w in words:
        assert w in r.stderr, r.stderr


def test_limit_without_controller_refused(appbox_bin, world_tmp):
    """abtest without a delegated group: a limit is refused, naming the
    option and the delegation it needs; nothing is made.  The pids limit
    (default or --pids) stays RLIMIT_NPROC only."""
    require_root("abtest is made by root")
    for opt, val in (("--memory", "32M"), ("--cpus", "0.5"), ("--cpu-weight", "200")):
        r = run([appbox_bin, "sandbox", opt, val, "--", "true"], as_user="user")
        if PURE_V2 and r.returncode == 0:
            continue  # a systemd user manager made a delegated scope (cgroup/scope.c)
        assert r.returncode == 2, r.stderr
        assert opt in r.stderr and "delegat" in r.stderr and "Delegate=yes" in r.stderr, r.stderr
        if PURE_V2:
            assert "user bus" in r.stderr, r.stderr  # no user manager: the scope was not possible
    # --pids (and its default) without a pids cgroup: RLIMIT_NPROC, as before
    for args, want in (([], 4096), (["--pids", "64"], 64)):
        out = run([appbox_bin, "sandbox", *args, "--", "cat", "/proc/self/limits"], as_user="user")
        assert out.returncode == 0, out.stderr
        nproc = re.search(r"Max processes +(\d+)", out.stdout)
        assert nproc and int(nproc.group(1)) <= want, out.stdout
    # (an ordinary user without delegation can make no group at all: the
    # refusal comes at resolve time, before the pipeline's prepare)

    # a named container with a limit: show says a start is refused, and why;
    # the start is refused with nothing left running
    u = user_info("user")
    store = world_tmp / "nodeleg"
    for d in (store, store / "data", store / "run", store / "home"):
        d.mkdir()
        os.chown(d, u.uid, u.gid)
    env = {"APPBOX_DATA_DIR": str(store / "data"), "APPBOX_RUNTIME_DIR": str(store / "run"),
           "HOME": str(store / "home")}
    ab = lambda *a: run([appbox_bin, *a], as_user="user", extra_env=env)
    try:
        assert ab("create", "nd", "--no-launcher", "--memory", "32M").returncode == 0
        show = ab("show", "nd")
        assert show.returncode == 0, show.stderr
        assert re.search(r"resources +memory 32M", show.stdout), show.stdout
        assert "a start is refused: --memory (Memory=)" in show.stdout, show.stdout
        if not PURE_V2:
            assert json.loads(ab("show", "nd", "--json").stdout)["limits_refused"].startswith("--memory")
            r = ab("start", "nd")
            assert r.returncode == 2 and "Delegate=yes" in r.stderr, r.stderr
            assert json.loads(ab("list", "--json").stdout)[0]["state"] == "stopped"
    finally:
        ab("rm", "--force", "nd")


def test_io_weight(caller):
    """--io-weight 500 (v2's scale) lands in v1's blkio weight (10-1000,
    linear: 59) or v2's io.weight; refused with a reason where there is none."""
    c = caller
    r = c.ab("create", "io", "--no-launcher", "--io-weight", "500")
    ok(r)
    r = c.ab("start", "io")
    if r.returncode != 0:
        assert "--io-weight" in r.stderr and ("BFQ" in r.stderr or "io.weight" in r.stderr), r.stderr
        pytest.skip(f"no I/O weight here: {r.stderr.strip()}")
    g = group_for(spec_groups(c, "io"), "blkio")
    if PURE_V2:
        f = g / "io.weight" if (g / "io.weight").exists() else g / "io.bfq.weight"
        assert f.read_text().split()[-1] == "500", f.read_text()
    else:
        f = g / "blkio.weight" if (g / "blkio.weight").exists() else g / "blkio.bfq.weight"
        assert f.read_text().split()[0] == "59", f.read_text()
    ok(c.ab("stop", "io"))


def test_sigkilled_sandbox_groups_swept(caller):
    """A SIGKILLed sandbox leaves its (empty) groups; the next start sweeps them."""
    p = caller.popen("sandbox", "--memory", "32M", "--", "sleep", "60",
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mine = lambda: {d for d in caller.groups() if d.name.startswith(f"appbox-{p.pid}-")}
    assert wait_until(lambda: len(mine()) > 0, timeout=15), "no group made"
    made = mine()
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    # its PID 1 dies with it (PR_SET_PDEATHSIG), and the rest of the
    # container with PID 1: then the groups are empty, and left over
    assert wait_until(lambda: all(not (d / "cgroup.procs").read_text().strip() for d in made), timeout=10)
    # (left over, unless another appbox on this machine swept them already)
    ok(caller.ab("sandbox", "--", "true"))
    assert wait_until(lambda: not any(d.exists() for d in made), timeout=5), [str(d) for d in made if d.exists()]


def test_sigkilled_supervisor_groups_removed_at_next_start(caller):
    c = caller
    ok(c.ab("create", "kil", "--no-launcher", "--memory", "48M"))
    ok(c.ab("start", "kil"))
    groups = spec_groups(c, "kil")
    assert groups
    sup = int((c.store / "run" / "kil" / "supervisor.pid").read_text())
    init = int((c.store / "run" / "kil" / "init.pid").read_text())
    os.kill(sup, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(init), timeout=10)
    ok(c.ab("start", "kil"))
    assert not any(g.exists() for g in groups), [str(g) for g in groups if g.exists()]
    new = spec_groups(c, "kil")
    assert new and set(new) != set(groups)
    ok(c.ab("stop", "kil"))
    assert not any(g.exists() for g in new)


def test_groups_made_below_the_containers_are_removed_with_it(caller):
    """What the container made below its own (delegated) group, as a
    booted systemd does in its v2 group, goes at stop too."""
    c = caller
    ok(c.ab("create", "sub", "--no-launcher"))
    ok(c.ab("start", "sub"))
    groups = spec_groups(c, "sub")
    v2 = [g for g in groups if PURE_V2 or g.relative_to(CG).parts[0] == "unified"]
    target = v2[0] if v2 else groups[0]
    # made by the container's owner, as a container's own systemd would
    ok(run(["mkdir", "-p", str(target / "init.scope" / "deeper")], as_user=c.who))
    ok(c.ab("stop", "sub"))
    assert not any(g.exists() for g in groups), [str(g) for g in groups if g.exists()]
