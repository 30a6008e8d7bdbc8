"""Booting the root's own init (issue 13, seed 004): `create --boot` and
`start` run a Debian root's systemd as the container's PID 1 (as
systemd-nspawn -b does): it reaches `is-system-running` running (or
degraded, its failed units printed), a unit inside serves HTTP, figlet
prints, `--network none` has no route out, `stop` halts it with
SIGRTMIN+3, a SIGKILLed supervisor leaves no process and (after the next
start) no cgroup, `appbox shell` is a login session logind sees; bad input
is refused with nothing left.  `appbox unit` writes a systemd unit for a
named container.

The Debian root with systemd is bootstrapped with mmdebstrap once and
cached (as a tar, keyed by its package list) in /var/tmp; every test
creates its containers from that tar.  Needs mmdebstrap and the mirror;
root (the container's v2 cgroup is made below the caller's own: an
ordinary user needs a delegated group, which these machines lack, so the
user variant checks the refusal)."""

import fcntl
import select
import termios
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ok, popen, require_root, run, store_env, user_info, wait_until

pytestmark = [pytest.mark.slow]

PACKAGES = ["systemd", "systemd-sysv", "dbus", "libpam-systemd", "figlet", "busybox", "iproute2"]
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
CACHE_TOP = Path("/var/tmp/appbox-test-boot")
BOOT_TIMEOUT = 120


def _cached_root_tar():
    """The Debian root with systemd as a tar (built once, shared by every
    session on this machine; a lock keeps two from building at once)."""
    key = hashlib.sha256(" ".join([SUITE, MIRROR, *PACKAGES]).encode()).hexdigest()[:16]
    d = CACHE_TOP / key
    tar = d / "root.tar"
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(CACHE_TOP, 0o755)
    os.chmod(d, 0o755)
    with open(d / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tar.is_file():
            return tar
        if shutil.which("mmdebstrap") is None:
            pytest.skip("mmdebstrap is not installed (apt-get install mmdebstrap): no Debian root to boot")
        tmp = d / "root.tar.tmp"
        r = subprocess.run(["mmdebstrap", "--variant=minbase", "--format=tar", "--include=" + ",".join(PACKAGES), SUITE,
                            str(tmp), MIRROR], capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            tmp.unlink(missing_ok=True)
            pytest.skip(f"cannot bootstrap the Debian root (mirror unreachable?): {r.stderr[-800:]}")
        os.chmod(tmp, 0o644)
        tmp.rename(tar)
    return tar


@pytest.fixture(scope="session")
def boot_tar():
    require_root("the Debian root is bootstrapped as root")
    return str(_cached_root_tar())


class Store:
    def __init__(self, appbox, top, as_user="root"):
        u = user_info(as_user)
        self.as_user = as_user
        self.appbox = appbox
        self.data, self.runtime, self.home = top / "data", top / "run", top / "home"
        for p in (self.data, self.runtime, self.home):
            p.mkdir(parents=True)
            os.chown(p, u.uid, u.gid)
        os.chmod(self.runtime, 0o700)
        self.env = store_env(self.data, self.runtime, self.home)

    def ab(self, *args, timeout=BOOT_TIMEOUT, **kw):
        return run([self.appbox, *args], as_user=self.as_user, extra_env=self.env, timeout=timeout, **kw)

    def exec(self, name, *cmd, timeout=60):
        return self.ab("exec", name, "--", *cmd, timeout=timeout)

    def pid(self, name, what):
        try:
            return int((self.runtime / name / f"{what}.pid").read_text())
        except (OSError, ValueError):
            return None


@pytest.fixture
def store(appbox_bin, world_tmp):
    s = Store(appbox_bin, world_tmp / "store")
    yield s
    for c in json.loads(s.ab("list", "--json").stdout or "[]"):
        s.ab("stop", "--timeout", "5", c["name"])
        s.ab("rm", "--force", c["name"])


def v2_root():
    """Where this machine mounts cgroup2 (the unified hierarchy)."""
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        if f[f.index("-") + 1] == "cgroup2":
            return f[4]
    return None


def own_v2_group():
    for line in open("/proc/self/cgroup"):
        if line.startswith("0::"):
            return line.strip()[3:]
    return None


def boot_groups():
    """The appbox-* groups below this process's own v2 group (a container's
    group in the v2 hierarchy, cgroup/set.c)."""
    root = v2_root()
    if not root:
        return []
    d = Path(root + (own_v2_group() if own_v2_group() != "/" else ""))
    return sorted(p.name for p in d.glob("appbox-*"))


def procs_in(group_dir):
    """Every pid in the group and the groups below it."""
    pids = []
    for dirpath, _dirs, files in os.walk(group_dir):
        if "cgroup.procs" in files:
            pids += [int(x) for x in Path(dirpath, "cgroup.procs").read_text().split()]
    return pids


def create_booted(s, tar, name, *opts):
    ok(s.ab("create", name, "--base", f"tar:{tar}", "--boot", "--no-launcher", *opts, timeout=300))


def wait_running(s, name):
    """`systemctl is-system-running --wait` inside: running, or degraded
    with the failed units printed (the reason visible in the test log)."""
    # `start` returns once PID 1 runs: its bus comes a moment later
    end = time.monotonic() + BOOT_TIMEOUT
    while True:
        r = s.exec(name, "systemctl", "is-system-running", "--wait", timeout=BOOT_TIMEOUT)
        state = r.stdout.strip()
        # "offline": the manager not reachable yet
        if state not in ("", "offline") or time.monotonic() > end:
            break
        time.sleep(0.2)
    if state != "running":
        failed = s.exec(name, "systemctl", "--failed", "--no-legend", "--no-pager").stdout
        print(f"is-system-running: {state}; failed units:\n{failed}")
    assert state in ("running", "degraded"), (state, r.stderr)
    return state


# --------------------------------------------------------------------------
# booting


def test_boot_reaches_running(store, boot_tar):
    s = store
    before = boot_groups()
    create_booted(s, boot_tar, "sys")
    ok(s.ab("start", "sys"))
    assert wait_running(s, "sys") == "running"
    # PID 1 is the root's systemd, told it is in a container
    assert ok(s.exec("sys", "cat", "/proc/1/comm")).strip() == "systemd"
    environ = Path(f"/proc/{s.pid('sys', 'init')}/environ").read_text().split("\0")
    assert "container=appbox" in environ
    uuid = [e for e in environ if e.startswith("container_uuid=")]
    assert uuid and re.fullmatch(r"container_uuid=[0-9a-f-]{36}", uuid[0]), environ
    assert ok(s.exec("sys", "cat", "/run/systemd/container")).strip() == "appbox"
    # appbox's filter (its boot variant) on the whole system, without
    # no_new_privs; nspawn's bounding set (no CAP_SYS_RAWIO, 17)
    status = dict(l.split(":", 1) for l in Path(f"/proc/{s.pid('sys', 'init')}/status").read_text().splitlines())
    assert status["Seccomp"].strip() == "2" and status["NoNewPrivs"].strip() == "0", status
    assert not int(status["CapBnd"], 16) & (1 << 17)
    # the deny list still holds inside (kernel keyrings are not namespaced)
    assert "Seccomp:\t2" in ok(s.exec("sys", "cat", "/proc/1/status"))
    # a writable cgroup2 of its own at /sys/fs/cgroup, its root the
    # container's group (systemd made its slices there)
    mounts = ok(s.exec("sys", "cat", "/proc/self/mountinfo"))
    assert any(l.split()[4] == "/sys/fs/cgroup" and " - cgroup2 " in l for l in mounts.splitlines()), mounts
    assert "0::/init.scope" in ok(s.exec("sys", "cat", "/proc/1/cgroup")).splitlines()
    # show says what runs as PID 1, and with what
    shown = ok(s.ab("show", "sys"))
    assert "init        the root's /sbin/init (--boot)" in shown, shown
    assert json.loads(ok(s.ab("show", "sys", "--json")))["boot"] is True
    groups = set(boot_groups()) - set(before)
    assert len(groups) == 1, groups
    gdir = Path(v2_root() + (own_v2_group() if own_v2_group() != "/" else "")) / groups.pop()
    assert (gdir / "init.scope").is_dir() and (gdir / "system.slice").is_dir()
    # the machine id: 32 hex digits, the same after a restart
    mid = ok(s.exec("sys", "cat", "/etc/machine-id")).strip()
    assert re.fullmatch(r"[0-9a-f]{32}", mid), mid
    # the console went to the service log, as lines of the stream "console"
    log = (s.data / "sys" / "service.log").read_text(errors="replace")
    assert " console " in log, log[-2000:]
    assert "Welcome to" in log and "Debian GNU/Linux 12" in log, log[-2000:]
    r = s.ab("logs", "sys")
    assert r.returncode == 0 and "Welcome to" in r.stdout, r
    ok(s.ab("stop", "sys"))
    assert not gdir.exists()
    ok(s.ab("start", "sys"))
    wait_running(s, "sys")
    assert ok(s.exec("sys", "cat", "/etc/machine-id")).strip() == mid
    ok(s.ab("stop", "sys"))
    assert boot_groups() == before


FIGLET_HELLO = r"| |__   ___| | | ___    __      _____  _ __| | __| | |"

HTTP_UNIT = """[Unit]
Description=a small HTTP service (standing in for seed 004 execd)
[Service]
ExecStart=/bin/busybox httpd -f -p 8080 -h /srv/www
[Install]
WantedBy=multi-user.target
"""


def install_http_unit(s, name):
    """HTTP_UNIT in NAME's systemd, enabled and started, serving a page."""
    ok(s.ab("exec", name, "--", "sh", "-c",
            f"mkdir -p /srv/www && echo 'hello from {name}' > /srv/www/index.html && "
            f"printf '%s' '{HTTP_UNIT}' > /etc/systemd/system/hello-http.service && "
            "systemctl daemon-reload && systemctl enable --now hello-http.service"))


def test_seed004_service_figlet_no_network(store, boot_tar):
    """Seed 004 end to end: a booted Debian with no network, tight limits,
    a service as a systemd unit inside, figlet."""
    s = store
    create_booted(s, boot_tar, "execd", "--network", "none", "--memory", "32M", "--cpus", "0.1")
    conf = (s.data / "execd" / "appbox.conf").read_text()
    assert "Boot=yes" in conf
    ok(s.ab("start", "execd"))
    wait_running(s, "execd")
    install_http_unit(s, "execd")
    assert ok(s.exec("execd", "systemctl", "is-active", "hello-http.service")).strip() == "active"
    got = wait_until(lambda: s.exec("execd", "busybox", "wget", "-qO-", "http://127.0.0.1:8080/").stdout,
                     timeout=20, interval=0.3)
    assert got == "hello from execd\n"
    # figlet, as the seed's client runs it
    out = ok(s.ab("exec", "execd", "--", "sh", "-c", "echo 'hello, world!' | figlet"))
    assert FIGLET_HELLO in out, out
    # --network none: loopback only, no route anywhere
    assert ok(s.exec("execd", "ip", "route", "show")).strip() == ""
    links = ok(s.exec("execd", "ip", "-o", "link", "show"))
    assert [l.split(":")[1].strip() for l in links.splitlines()] == ["lo"], links
    r = s.exec("execd", "busybox", "wget", "-T", "3", "-qO-", "http://1.1.1.1/")
    assert r.returncode != 0
    ok(s.ab("stop", "execd"))


class LabStore(Store):
    """A root store whose appbox runs in a netlab's host namespace
    (tests/integration/netlab.py): its bridges and nft tables are made
    there, never in the machine's own network namespace."""

    def __init__(self, lab, appbox, top):
        super().__init__(appbox, top)
        self.lab = lab

    def ab(self, *args, timeout=BOOT_TIMEOUT, **kw):
        kw.setdefault("errors", "replace")
        return self.lab.run_in_host([self.appbox, *args], as_user=self.as_user, extra_env=self.env,
                                    timeout=timeout, **kw)


def test_seed004_reached_by_name_on_a_nat_network(appbox_bin, world_tmp, boot_tar):
    """Seed 004's other half: the booted service is reached by name from
    the host side of a nat network (libnss_appbox, as nss-mymachines
    does for nspawn), and the limits are in the container's memory and
    cpu groups."""
    if not os.access("/usr/sbin/nft", os.X_OK):
        pytest.skip("/usr/sbin/nft is missing (package nftables; scripts/deps.sh)")
    lib_dir = os.path.dirname(appbox_bin)
    if not os.path.exists(os.path.join(lib_dir, "libnss_appbox.so.2")):
        pytest.skip("build/libnss_appbox.so.2 is not built")
    from netlab import NetLab
    nss = world_tmp / "nsswitch.conf"
    nss.write_text("hosts: files appbox\n")
    with NetLab() as lab:
        s = LabStore(lab, appbox_bin, world_tmp / "labstore")
        try:
            create_booted(s, boot_tar, "execd", "--network", "nat", "--memory", "32M", "--cpus", "0.1")
            ok(s.ab("start", "execd"))
            wait_running(s, "execd")
            install_http_unit(s, "execd")
            # the lab host asks for http://execd:8080/ by name
            script = (f"mount --bind {nss} /etc/nsswitch.conf && export LD_LIBRARY_PATH={lib_dir} && "
                      "i=0; while [ $i -lt 50 ]; do curl -sSf --max-time 3 http://execd:8080/ && exit 0; "
                      "i=$((i+1)); sleep 0.2; done; exit 1")
            assert ok(lab.run_in_host(["unshare", "-m", "sh", "-c", script])) == "hello from execd\n"
            # the limits, in the groups the container's processes are in
            groups = json.loads(ok(s.ab("show", "execd", "--json")))["cgroups"]
            mem = [g for g in groups if "/memory/" in g]
            if mem:
                assert Path(mem[0], "memory.limit_in_bytes").read_text().strip() == str(32 << 20)
            else:
                v2 = [g for g in groups if Path(g, "memory.max").exists()]
                assert v2 and Path(v2[0], "memory.max").read_text().strip() == str(32 << 20), groups
            cpu = [g for g in groups if "/cpu/" in g or "/cpu,cpuacct/" in g]
            if cpu:
                assert Path(cpu[0], "cpu.cfs_quota_us").read_text().strip() == "10000"
            ok(s.ab("stop", "execd"))
        finally:
            s.ab("stop", "--timeout", "5", "execd")
            s.ab("rm", "--force", "execd")
        # nothing of appbox's in the lab host: links, nft tables
        links = ok(lab.run_in_host(["ip", "-o", "link"]))
        assert not re.search(r"appbox|abv", links), links
        assert "appbox" not in ok(lab.run_in_host(["nft", "list", "tables"]))
    left = lab.leftovers()
    assert not left, f"netlab left: {left}"


def test_stop_halts_systemd(store, boot_tar):
    """`stop` sends SIGRTMIN+3: systemd runs its shutdown and exits, well
    within the timeout (no KILL)."""
    s = store
    create_booted(s, boot_tar, "halt")
    spec_sig = None
    ok(s.ab("start", "halt"))
    spec = json.loads((s.runtime / "halt" / "spec.json").read_text())
    spec_sig = spec.get("stopSignal") or spec.get("container", {}).get("stopSignal")
    assert spec_sig == signal.SIGRTMIN + 3, spec
    wait_running(s, "halt")
    init = s.pid("halt", "init")
    t0 = time.monotonic()
    ok(s.ab("stop", "--timeout", "60", "halt"))
    took = time.monotonic() - t0
    print(f"stop took {took:.2f} s")
    assert not os.path.exists(f"/proc/{init}")
    log = (s.data / "halt" / "log").read_text()
    assert "stopped (stop)" in log and "killed after timeout" not in log, log
    console = (s.data / "halt" / "service.log").read_text(errors="replace")
    assert "System Halt" in console or "Reached target" in console and "Shutdown" in console, console[-1500:]


def test_killed_supervisor_leaves_nothing(store, boot_tar):
    s = store
    before = boot_groups()
    create_booted(s, boot_tar, "k")
    ok(s.ab("start", "k"))
    wait_running(s, "k")
    sup, init = s.pid("k", "supervisor"), s.pid("k", "init")
    groups = set(boot_groups()) - set(before)
    assert len(groups) == 1
    gdir = Path(v2_root() + (own_v2_group() if own_v2_group() != "/" else "")) / groups.pop()
    assert init in procs_in(gdir)
    os.kill(sup, signal.SIGKILL)
    # the init died with it (its death signal), and every process below
    assert wait_until(lambda: not os.path.exists(f"/proc/{init}"), timeout=10)
    assert wait_until(lambda: not procs_in(gdir), timeout=10), procs_in(gdir)
    # the next start tears down what the supervisor could not (the group),
    # and boots again
    ok(s.ab("start", "k"))
    wait_running(s, "k")
    ok(s.ab("stop", "k"))
    assert boot_groups() == before
    assert not (s.runtime / "k" / "spec.json").exists()
    # killed again, then removed: rm tears down what is left
    ok(s.ab("start", "k"))
    sup, init = s.pid("k", "supervisor"), s.pid("k", "init")
    os.kill(sup, signal.SIGKILL)
    assert wait_until(lambda: not os.path.exists(f"/proc/{init}"), timeout=10)
    ok(s.ab("rm", "--force", "k"))
    assert boot_groups() == before


class Pty:
    """appbox on the slave side of a fresh pty (its controlling terminal);
    the test types on the master side (as tests/integration/test_pty.py)."""

    def __init__(self, argv, env):
        self.master, slave = os.openpty()

        def ctty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = popen(argv, env=env, stdin=slave, stdout=slave, stderr=slave, preexec_fn=ctty,
                          close_fds=True)
        os.close(slave)
        self.buf = b""

    def send(self, text):
        os.write(self.master, text.encode())

    def expect(self, pattern, timeout=30):
        rx = re.compile(pattern.encode())
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                return m
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not seen; output: {self.buf[-2000:]!r}")
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    self.buf += os.read(self.master, 65536)
                except OSError:
                    raise AssertionError(f"{pattern!r} not seen before the end; output: {self.buf[-2000:]!r}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.master)


def test_shell_is_a_login_session(store, boot_tar):
    """`appbox shell` on a booted container: login(1) through PAM, a
    session logind lists, on a pty of the container's, like machinectl
    login."""
    s = store
    create_booted(s, boot_tar, "login")
    ok(s.ab("start", "login"))
    wait_running(s, "login")
    env = {**user_env_for_root(), **s.env, "TERM": "xterm"}
    t = Pty([s.appbox, "shell", "login"], env)
    try:
        t.send("echo MARK-$XDG_SESSION_ID-$(tty)-$(id -un)-END; "
               "loginctl --no-pager --no-legend list-sessions | sed 's/^/SESS /'; exit\n")
        m = t.expect(r"MARK-(\d+)-(/dev/pts/\d+)-root-END")
        session = m.group(1).decode()
        lines = t.expect(r"SESS .*root.*pts/\d+")
        assert session.encode() in lines.group(0), t.buf[-1500:]
        assert t.proc.wait(timeout=30) == 0
    finally:
        t.close()
    # logind saw the login and its end
    journal = ok(s.exec("login", "journalctl", "--no-pager", "-u", "systemd-logind", "-o", "cat"))
    assert f"New session {session} of user root" in journal, journal
    # exec keeps working beside it
    assert ok(s.exec("login", "echo", "still")).strip() == "still"
    ok(s.ab("stop", "login"))


def user_env_for_root():
    return {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/root", "USER": "root",
            "LOGNAME": "root", "LANG": "C.UTF-8"}


@pytest.fixture
def delegated_group(test_users):
    """A v2 group below this process's own, delegated to the test user (as
    systemd's Delegate=yes does for a user's service), and a wrapper that
    runs a command as that user inside it; removed afterwards."""
    root, own = v2_root(), own_v2_group()
    if not root:
        pytest.skip("no cgroup v2 hierarchy on this machine")
    u = user_info("user")
    g = Path(root + (own if own != "/" else "")) / f"appbox-test-deleg-{os.getpid()}"
    g.mkdir()
    try:
        for p in (g, g / "cgroup.procs", g / "cgroup.subtree_control", g / "cgroup.threads"):
            os.chown(p, u.uid, u.gid)

        def inside(*cmd):
            # root moves the shell in (the user may not write the common
            # ancestor's cgroup.procs), then it becomes the user
            return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(g),
                    "setpriv", "--reuid", str(u.uid), "--regid", str(u.gid), "--init-groups",
                    "--inh-caps=-all", "--", *[str(c) for c in cmd]]
        yield g, inside
    finally:
        for procs in sorted(g.rglob("cgroup.procs"), key=lambda p: -len(p.parts)):
            for pid in procs.read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for d in sorted([p for p in g.rglob("*") if p.is_dir()], key=lambda p: -len(p.parts)) + [g]:
            wait_until(lambda: _rmdir(d), timeout=5)


def _rmdir(d):
    try:
        d.rmdir()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def test_boot_as_user_in_a_delegated_group(appbox_bin, world_tmp, boot_tar, delegated_group):
    """Rootless boot where the user has a delegated v2 group: systemd runs
    as the container's root (a subordinate uid), manages its group."""
    g, inside = delegated_group
    s = Store(appbox_bin, world_tmp / "ustore", as_user="user")
    r = s.ab("create", "ub", "--base", f"tar:{boot_tar}", "--boot", "--no-launcher", timeout=300)
    if r.returncode != 0:
        pytest.skip(f"the test user cannot unpack the root here: {r.stderr[-500:]}")
    env = {**user_env_for_root(), **s.env, "USER": "abtest"}

    def ab(*args, timeout=BOOT_TIMEOUT):
        return run(inside(s.appbox, *args), as_user="root", env=env, timeout=timeout)
    try:
        ok(ab("start", "ub"))
        booted = [p for p in g.iterdir() if p.name.startswith("appbox-")]
        assert len(booted) == 1, list(g.iterdir())
        end = time.monotonic() + BOOT_TIMEOUT
        while True:
            state = ab("exec", "ub", "--", "systemctl", "is-system-running", "--wait").stdout.strip()
            if state not in ("", "offline") or time.monotonic() > end:
                break
            time.sleep(0.2)
        if state != "running":
            print(ab("exec", "ub", "--", "systemctl", "--failed", "--no-legend", "--no-pager").stdout)
        assert state in ("running", "degraded"), state
        assert (booted[0] / "init.scope").is_dir()
        # the init is the container's root: a subordinate uid on the host
        init = int((s.runtime / "ub" / "init.pid").read_text())
        uid = int([l for l in open(f"/proc/{init}/status") if l.startswith("Uid:")][0].split()[1])
        assert uid != 0 and uid != user_info("user").uid, uid
        ok(ab("stop", "ub"))
        assert not booted[0].exists()
    finally:
        ab("stop", "ub")
        s.ab("rm", "--force", "ub")


# --------------------------------------------------------------------------
# bad input


def test_boot_without_a_root_is_refused(appbox_bin, busybox_root):
    r = run([appbox_bin, "sandbox", "--boot", "true"])
    assert r.returncode == 2, r
    assert "--boot (Boot=) needs a root file system with its own init" in r.stderr
    r = run([appbox_bin, "sandbox", "--boot", "--root", busybox_root, "true"])
    assert r.returncode == 2, r
    assert "--boot (Boot=) boots a named container" in r.stderr


def test_root_without_init_is_refused(store, world_tmp):
    s = store
    before = boot_groups()
    root = world_tmp / "noinit"
    for d in ("etc", "bin", "sbin", "tmp", "run", "root"):
        (root / d).mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    # a container of the host's view has no init of its own: refused at
    # create, before anything is written
    r = s.ab("create", "hostboot", "--boot", "--no-launcher")
    assert r.returncode == 2, r
    assert "--boot (Boot=) needs a root file system with its own init" in r.stderr, r.stderr
    assert not (s.data / "hostboot").exists()
    ok(s.ab("create", "noinit", "--base", f"dir:{root}", "--boot", "--no-launcher"))
    r = s.ab("start", "noinit")
    assert r.returncode != 0, r
    assert "has no /sbin/init to boot" in r.stderr and "systemd-sysv" in r.stderr, r.stderr
    # nothing half-made: no group, no supervisor, no runtime state
    assert boot_groups() == before
    assert not (s.runtime / "noinit" / "spec.json").exists()
    assert not (s.runtime / "noinit" / "supervisor.pid").exists()
    assert not list(s.runtime.glob("noinit/*.pid"))


def test_boot_as_user_without_delegation_is_refused(appbox_bin, world_tmp, boot_tar, test_users):
    """An ordinary user may not make a v2 group below a group of root's:
    the refusal says what is needed; nothing is left."""
    root = v2_root()
    own = own_v2_group()
    parent = root + (own if own != "/" else "") if root else None
    u = user_info("user")
    if parent and os.access(parent, os.W_OK) and os.stat(parent).st_uid == u.uid:
        pytest.skip("the test user has a delegated cgroup v2 group here: booting would be allowed")
    s = Store(appbox_bin, world_tmp / "ustore", as_user="user")
    before = boot_groups()
    r = s.ab("create", "ub", "--base", f"tar:{boot_tar}", "--boot", "--no-launcher", timeout=300)
    if r.returncode != 0:
        pytest.skip(f"the test user cannot unpack the root here: {r.stderr[-500:]}")
    r = s.ab("start", "ub")
    assert r.returncode != 0, r
    assert "--boot as an ordinary user needs a delegated cgroup v2 group" in r.stderr, r.stderr
    assert boot_groups() == before
    assert not (s.runtime / "ub" / "supervisor.pid").exists()
    s.ab("rm", "--force", "ub")


# --------------------------------------------------------------------------
# appbox unit


def _unit_container(s, busybox_root, name="web", *opts):
    ok(s.ab("create", name, "--base", f"dir:{busybox_root}", "--no-launcher", *opts))


def test_unit_text_and_verify(store, busybox_root):
    s = store
    _unit_container(s, busybox_root, "web")
    assert "Restart=no" in ok(s.ab("unit", "web", "--stdout")).splitlines()
    # the container's policy ([Service] Restart=), where appbox.conf has
    # that section (helper B's part of issue 13)
    policy = "no"
    if s.ab("config", "web", "Service.Restart=on-failure").returncode == 0:
        policy = "on-failure"
    text = ok(s.ab("unit", "web", "--system", "--stdout"))
    print(text)
    lines = text.splitlines()
    assert "[Unit]" in lines and "[Service]" in lines and "[Install]" in lines
    assert "Type=forking" in lines
    assert f"PIDFile={s.runtime}/web/supervisor.pid" in lines
    assert f'ExecStart="{s.appbox}" start web' in lines
    assert f'ExecStop="{s.appbox}" stop web' in lines
    assert f"Restart={policy}" in lines
    assert "WantedBy=multi-user.target" in lines
    assert f'Environment="APPBOX_DATA_DIR={s.data}"' in lines
    assert "Delegate=yes" not in lines
    user_text = ok(s.ab("unit", "web", "--user", "--stdout"))
    assert "WantedBy=default.target" in user_text.splitlines()
    # written to the user's folder, and checked by systemd itself
    r = ok(s.ab("unit", "web", "--user"))
    path = s.home / ".config" / "systemd" / "user" / "appbox-web.service"
    assert r.strip() == f"wrote {path}"
    assert path.read_text() == user_text
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd): the unit is not verified")
    v = run(["systemd-analyze", "verify", "--man=no", str(path)], extra_env=s.env)
    assert v.returncode == 0, (v.stdout, v.stderr)
    assert v.stderr.strip() == "", v.stderr


def test_unit_of_a_booted_container_delegates(store, busybox_root):
    s = store
    _unit_container(s, busybox_root, "sysc", "--boot")
    assert "Delegate=yes" in ok(s.ab("unit", "sysc", "--stdout")).splitlines()


def test_unit_enable_without_systemd_says_so(store, busybox_root):
    s = store
    _unit_container(s, busybox_root)
    r = s.ab("unit", "web", "--user", "--enable")
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here: --enable would enable the unit for real")
    assert r.returncode != 0
    assert "cannot enable appbox-web.service: systemd is not running here" in r.stderr, r.stderr
    # the unit itself was written
    assert (s.home / ".config" / "systemd" / "user" / "appbox-web.service").is_file()


def test_unit_bad_input(store, busybox_root, appbox_bin, world_tmp, test_users):
    s = store
    r = s.ab("unit", "nope", "--stdout")
    assert r.returncode == 125 and "no container named 'nope'" in r.stderr, r
    r = s.ab("unit")
    assert r.returncode == 2 and "missing NAME" in r.stderr, r
    _unit_container(s, busybox_root)
    r = s.ab("unit", "web", "--bogus")
    assert r.returncode == 2 and "--bogus: unknown option" in r.stderr, r
    assert not (s.home / ".config").exists() or not list((s.home / ".config").rglob("*.service"))
    # --system is root's: an ordinary user is refused, nothing written
    u = Store(appbox_bin, world_tmp / "ustore", as_user="user")
    r = u.ab("unit", "whatever", "--system")
    assert r.returncode == 2, r
    assert "--system writes /etc/systemd/system" in r.stderr and "use --user" in r.stderr, r.stderr
    assert not os.path.exists("/etc/systemd/system/appbox-whatever.service")
