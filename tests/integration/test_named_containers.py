"""Named containers (issue 3): create, run with auto start and stop, the
launcher, ++options, start/stop, exec, shell, list, show, config, edit, rm,
and session counting under concurrency and SIGKILL.  Every test runs as
root and as an unprivileged user, with its own data, runtime and home
directories (APPBOX_DATA_DIR, APPBOX_RUNTIME_DIR, HOME)."""

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import make_busybox_root, mountinfo, ok, popen, run, store_env, user_info, wait_until


@dataclass
class Store:
    as_user: str
    appbox: str
    base: Path
    data: Path
    runtime: Path
    home: Path
    root: str  # a busybox root to copy from

    @property
    def env(self):
        return store_env(self.data, self.runtime, self.home)

    def ab(self, *args, **kw):
        return run([self.appbox, *args], as_user=self.as_user, extra_env=self.env, **kw)

    def popen(self, *args, **kw):
        return popen([self.appbox, *args], as_user=self.as_user, extra_env=self.env, **kw)

    def log(self, name):
        p = self.data / name / "log"
        return p.read_text().splitlines() if p.exists() else []

    def starts(self, name):
        return sum(" started " in l for l in self.log(name))

    def stops(self, name):
        return sum(" stopped " in l for l in self.log(name))

    def state(self, name):
        for c in json.loads(ok(self.ab("list", "--json"))):
            if c["name"] == name:
                return c
        return None

    def snapshot(self):
        """Every file under data and home, with its content: to prove a
        refused command changed nothing on disk."""
        snap = {}
        for top in (self.data, self.home):
            for dirpath, dirs, files in os.walk(top):
                if "rootfs" in dirs:
                    dirs.remove("rootfs")
                for f in files:
                    p = Path(dirpath) / f
                    snap[str(p)] = p.read_bytes() if p.is_file() else None
                snap[dirpath] = "dir"
        return snap


@pytest.fixture
def store(run_as, appbox_bin, world_tmp):
    u = user_info(run_as)
    base = world_tmp / "store"
    base.mkdir()
    for d in ("data", "run", "home"):
        (base / d).mkdir()
    root = make_busybox_root(world_tmp / "root")
    subprocess.run(["chown", "-R", f"{u.uid}:{u.gid}", str(base)], check=True)
    os.chmod(base / "run", 0o700)
    s = Store(run_as, appbox_bin, base, base / "data", base / "run", base / "home", root)
    yield s
    # remove whatever the test left (also stops running containers)
    for c in json.loads(s.ab("list", "--json").stdout or "[]"):
        s.ab("rm", "--force", c["name"])


def create(store, name, *args):
    ok(store.ab("create", name, "--base", f"dir:{store.root}", *args))


def test_create_run_launcher_and_rm(store):
    r = store.ab("create", "c1", "--base", f"dir:{store.root}", "--run", "echo hello")
    ok(r)
    launcher = store.home / ".local/bin/c1"
    assert launcher.is_file() and os.access(launcher, os.X_OK)
    assert "appbox" in launcher.read_text() and "run 'c1'" in launcher.read_text()
    assert (store.data / "c1/appbox.conf").is_file()
    assert store.state("c1")["state"] == "stopped"
    assert store.state("c1")["launcher"] == str(launcher)
    # The stop after the last session is the supervisor's, just after the
    # launcher exits: wait for it, or the next run may join the container
    # before it stops (which is right, but not what this counts).
    stopped = lambda: store.state("c1")["state"] == "stopped"  # noqa: E731
    assert ok(store.ab("run", "c1", "--", "world")).strip() == "hello world"
    assert wait_until(stopped, timeout=10)
    # the launcher is a command on PATH: the app with the arguments appended
    r = run([str(launcher), "from", "launcher"], as_user=store.as_user, extra_env=store.env)
    assert ok(r).strip() == "hello from launcher"
    assert wait_until(stopped, timeout=10)
    # statuses pass through
    assert store.ab("run", "c1", "++cmd", "sh", "-c", "exit 7").returncode == 7
    # each run started and (after its last session) stopped the container
    assert wait_until(lambda: store.stops("c1") == 3, timeout=10), store.log("c1")
    assert store.starts("c1") == 3
    ok(store.ab("rm", "c1"))
    assert not (store.data / "c1").exists()
    assert not launcher.exists()
    assert not (store.runtime / "c1").exists()


def test_create_warns_when_launcher_dir_not_on_path(store):
    env = dict(store.env, PATH="/usr/bin:/bin")
    r = run([store.appbox, "create", "w1", "--base", f"dir:{store.root}"], as_user=store.as_user, extra_env=env)
    ok(r)
    assert "not on your PATH" in r.stderr


def test_no_launcher_and_as(store):
    create(store, "n1", "--no-launcher")
    assert not (store.home / ".local/bin/n1").exists()
    ok(store.ab("launcher", "install", "n1", "--as", "other"))
    assert (store.home / ".local/bin/other").is_file()
    ok(store.ab("launcher", "remove", "n1"))
    assert not (store.home / ".local/bin/other").exists()


def test_launcher_does_not_overwrite_foreign_file(store):
    u = user_info(store.as_user)
    (store.home / ".local/bin").mkdir(parents=True)
    for p in (store.home / ".local", store.home / ".local/bin"):
        os.chown(p, u.uid, u.gid)
    foreign = store.home / ".local/bin/f1"
    foreign.write_text("#!/bin/sh\necho mine\n")
    os.chown(foreign, u.uid, u.gid)
    r = store.ab("create", "f1", "--base", f"dir:{store.root}")
    assert r.returncode != 0 and "not an appbox launcher" in r.stderr
    assert foreign.read_text() == "#!/bin/sh\necho mine\n"
    assert not (store.data / "f1").exists()


def test_host_base_has_a_persistent_home(store):
    ok(store.ab("create", "h1", "--base", "host", "--no-launcher"))
    ok(store.ab("run", "h1", "++cmd", "sh", "-c", "echo kept > ~/note"))
    assert ok(store.ab("run", "h1", "++cmd", "sh", "-c", "cat ~/note")).strip() == "kept"
    # the host view stays read-only
    assert store.ab("run", "h1", "++cmd", "touch", "/usr/x").returncode != 0


def test_plus_show_start_stop(store):
    create(store, "s1")
    r = store.ab("run", "s1", "++show", "++cmd", "true")
    ok(r)
    assert "appbox: starting s1" in r.stderr and "joined s1 as a session" in r.stderr
    ok(store.ab("run", "s1", "++start"))
    st = store.state("s1")
    assert st["state"] == "running" and st["sessions"] == 0 and st["pid"]
    # started with ++start, it stays up without sessions
    ok(store.ab("run", "s1", "++cmd", "true"))
    assert store.state("s1")["state"] == "running"
    ok(store.ab("run", "s1", "++stop"))
    assert store.state("s1")["state"] == "stopped"


def test_plus_network_overrides_for_one_start(store):
    create(store, "net1")
    none = ok(store.ab("run", "net1", "++cmd", "ls", "/sys/class/net")).split()
    assert none == ["lo"]
    host = ok(store.ab("run", "net1", "++network", "host", "++cmd", "ls", "/sys/class/net")).split()
    assert set(host) == set(os.listdir("/sys/class/net"))
    assert ok(store.ab("config", "net1", "Network.Mode")).strip() == ""
    r = store.ab("run", "net1", "++network", "wifi", "++cmd", "true")
    assert r.returncode == 2 and "'wifi'" in r.stderr and "none (off), host (on), nat[:NAME]" in r.stderr


def test_plus_aptupdate_skips_a_root_without_apt(store):
    create(store, "apt1")
    for opt in ("++aptupdate", "++aptupdateall"):
        r = store.ab("run", "apt1", opt)
        assert r.returncode == 0 and "apt1: skipped" in r.stdout, (r.stdout, r.stderr)
    assert store.starts("apt1") == 0


def test_unknown_plus_option(store):
    create(store, "u1")
    r = store.ab("run", "u1", "++frobnicate")
    assert r.returncode == 2 and "++frobnicate" in r.stderr


def test_stop_timeout_kills_what_ignores_term(store):
    create(store, "t1")
    ok(store.ab("start", "t1"))
    p = store.popen("exec", "t1", "sh", "-c", "trap '' TERM; while :; do sleep 1; done")
    time.sleep(0.5)
    t0 = time.monotonic()
    ok(store.ab("stop", "t1", "--timeout", "2"))
    took = time.monotonic() - t0
    assert 1.5 < took < 10, took
    assert "killed after timeout" in store.log("t1")[-1]
    assert store.state("t1")["state"] == "stopped"
    p.wait(timeout=10)


def test_exec_joins_the_running_container(store):
    create(store, "e1")
    holder = store.popen("run", "e1", "++cmd", "sh", "-c", "readlink /proc/self/ns/pid; sleep 30",
                         stdout=subprocess.PIPE, text=True)
    try:
        pidns = holder.stdout.readline().strip()
        assert pidns.startswith("pid:")
        assert ok(store.ab("exec", "e1", "readlink", "/proc/self/ns/pid")).strip() == pidns
        assert ok(store.ab("exec", "--root", "e1", "id", "-u")).strip() == "0"
        assert ok(store.ab("exec", "--user", "0", "e1", "id", "-u")).strip() == "0"
        assert ok(store.ab("exec", "--env", "FOO=bar", "e1", "sh", "-c", "echo $FOO")).strip() == "bar"
        assert ok(store.ab("exec", "--chdir", "/tmp", "e1", "pwd")).strip() == "/tmp"
        r = store.ab("exec", "--user", "nobody-here", "e1", "true")
        assert r.returncode == 2 and "'nobody-here'" in r.stderr
        assert store.state("e1")["sessions"] == 1
    finally:
        holder.kill()
        holder.wait()
    wait_until(lambda: store.state("e1")["state"] == "stopped", timeout=10)


def test_exec_needs_a_running_container(store):
    create(store, "e2")
    r = store.ab("exec", "e2", "true")
    assert r.returncode == 125 and "not running" in r.stderr


def status_lines(text):
    keys = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
    return {l.split(":")[0]: l.split(":", 1)[1].strip() for l in text.splitlines() if l.split(":")[0] in keys}


def test_exec_gains_nothing_the_container_lacks(store, world_tmp):
    create(store, "g1")
    holder = store.popen("run", "g1", "++cmd", "sh", "-c", "cat /proc/self/status; sleep 30",
                         stdout=subprocess.PIPE, text=True)
    try:
        first = ""
        while "Seccomp:" not in first:
            first += holder.stdout.readline()
        app = status_lines(first + holder.stdout.readline())
        secret = world_tmp / "secret"
        secret.write_text("x")
        fd = os.open(secret, os.O_RDONLY)
        try:
            r = store.ab("exec", "g1", "sh", "-c", "cat /proc/self/status; ls /proc/self/fd", pass_fds=(fd,))
        finally:
            os.close(fd)
        joined = status_lines(ok(r))
        assert joined == app
        assert joined["NoNewPrivs"] == "1" and joined["Seccomp"] == "2"
        fds = r.stdout.strip().splitlines()[-1].split()
        assert set(fds) <= {"0", "1", "2", "3"}, fds  # 3: ls's own directory fd
        assert store.ab("exec", "g1", "ls", str(world_tmp)).returncode != 0
    finally:
        holder.kill()
        holder.wait()


def test_shell_is_a_login_shell_and_a_session(store):
    create(store, "sh1")
    r = store.ab("shell", "sh1", input="echo $0; id -u\n")
    lines = ok(r).split()
    assert lines[0] == "-sh"
    assert lines[1] == str(user_info(store.as_user).uid)
    r = store.ab("shell", "--root", "sh1", input="id -u\n")
    assert ok(r).strip() == "0"
    assert wait_until(lambda: store.stops("sh1") == 2, timeout=10), store.log("sh1")
    assert store.starts("sh1") == 2


def test_list_and_show(store):
    create(store, "l1", "--ro-bind", "/etc/hostname:/etc/h2", "--bind", str(store.home) + ":/work",
           "--network", "host", "--cap-add", "NET_BIND_SERVICE", "--run", "sh")
    table = ok(store.ab("list"))
    assert re.search(r"^l1\s+dir:\S+\s+stopped\s+0", table, re.M), table
    show = ok(store.ab("show", "l1"))
    assert "ro     /etc/hostname -> /etc/h2" in show and "rw     " in show
    assert "network     host" in show and "seccomp     default filter" in show
    j = json.loads(ok(store.ab("show", "l1", "--json")))
    assert j["network"] == "host" and j["seccomp"] == "default filter"
    assert {"mode": "ro", "source": "/etc/hostname", "destination": "/etc/h2"} in j["files"]
    assert "cap_net_bind_service" in j["capabilities"]
    assert j["uid"] == user_info(store.as_user).uid


def test_config_get_set_and_refusal(store):
    create(store, "cf1")
    conf = store.data / "cf1/appbox.conf"
    ok(store.ab("config", "cf1", "Network.Mode=host"))
    assert ok(store.ab("config", "cf1", "Network.Mode")).strip() == "host"
    assert json.loads(ok(store.ab("show", "cf1", "--json")))["network"] == "host"
    before = conf.read_text()
    r = store.ab("config", "cf1", "Network.Mode=wifi")
    assert r.returncode == 2 and "'wifi'" in r.stderr and "unchanged" in r.stderr
    r = store.ab("config", "cf1", "Network.Bogus=1")
    assert r.returncode == 2 and "Network.Bogus" in r.stderr
    assert conf.read_text() == before
    ok(store.ab("config", "cf1", "Network.Mode="))
    assert "Mode=" not in conf.read_text()


def test_edit_refuses_an_invalid_result(store, world_tmp):
    create(store, "ed1")
    conf = store.data / "ed1/appbox.conf"
    before = conf.read_text()
    bad = world_tmp / "bad-editor"
    bad.write_text("#!/bin/sh\necho 'Nonsense=1' >> \"$1\"\n")
    good = world_tmp / "good-editor"
    good.write_text("#!/bin/sh\nprintf '[Container]\\nHostname=edited\\n' >> \"$1\"\n")
    for e in (bad, good):
        os.chmod(e, 0o755)
    r = run([store.appbox, "edit", "ed1"], as_user=store.as_user, extra_env=dict(store.env, EDITOR=str(bad)))
    assert r.returncode != 0 and "unchanged" in r.stderr
    assert conf.read_text() == before
    # the refused edit is kept for the user (issue 10): removed to start over
    copy = store.data / "ed1/appbox.conf.edit"
    assert str(copy) in r.stderr and copy.read_text().endswith("Nonsense=1\n")
    copy.unlink()
    ok(run([store.appbox, "edit", "ed1"], as_user=store.as_user, extra_env=dict(store.env, EDITOR=str(good))))
    assert ok(store.ab("run", "ed1", "++cmd", "hostname")).strip() == "edited"


def test_rm_refuses_running_unless_forced(store):
    create(store, "r1")
    ok(store.ab("start", "r1"))
    r = store.ab("rm", "r1")
    assert r.returncode != 0 and "running" in r.stderr
    assert (store.data / "r1").exists()
    ok(store.ab("rm", "--force", "r1"))
    assert not (store.data / "r1").exists() and not (store.runtime / "r1").exists()


def test_twenty_concurrent_runs_start_and_stop_once(store):
    create(store, "par")
    procs = [store.popen("run", "par", "++cmd", "sh", "-c", "readlink /proc/self/ns/pid; sleep 1",
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(20)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    namespaces = {o[0].strip() for o in outs}
    assert len(namespaces) == 1, namespaces
    wait_until(lambda: store.stops("par") >= 1, timeout=10)
    assert store.starts("par") == 1 and store.stops("par") == 1, store.log("par")
    assert "last session left" in store.log("par")[-1]


def test_mixed_sessions_and_killed_launchers(store):
    create(store, "mix")
    long_runs = [store.popen("run", "mix", "++cmd", "sleep", "3") for _ in range(5)]
    assert wait_until(lambda: (store.state("mix") or {}).get("state") == "running", timeout=10)
    doomed = [store.popen("run", "mix", "++cmd", "sleep", "60") for _ in range(4)]
    shells = [store.popen("shell", "mix", stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
              for _ in range(3)]
    execs = [store.popen("exec", "mix", "sleep", "2") for _ in range(3)]
    assert wait_until(lambda: store.state("mix")["sessions"] >= 15, timeout=10), store.state("mix")
    for p in doomed:
        p.send_signal(signal.SIGKILL)
    for p in doomed:
        p.wait()
    for s in shells:
        s.communicate("readlink /proc/self/ns/pid\nexit\n", timeout=30)
    for p in long_runs + execs:
        assert p.wait(timeout=30) == 0
    # the killed launchers' apps die with them; the last real session stops it
    assert wait_until(lambda: store.state("mix")["state"] == "stopped", timeout=15), store.state("mix")
    assert store.starts("mix") == 1 and store.stops("mix") == 1, store.log("mix")


def test_supervisor_killed_leaves_nothing(store):
    create(store, "k1")
    before = mountinfo()
    ok(store.ab("start", "k1"))
    p = store.popen("exec", "k1", "sleep", "60")
    time.sleep(0.5)
    sup = int((store.runtime / "k1/supervisor.pid").read_text())
    init = int((store.runtime / "k1/init.pid").read_text())
    os.kill(sup, signal.SIGKILL)
    assert wait_until(lambda: store.state("k1")["state"] == "stopped", timeout=10)
    assert wait_until(lambda: not os.path.exists(f"/proc/{init}"), timeout=10)
    assert p.wait(timeout=10) != 0
    assert mountinfo() == before
    assert ok(store.ab("run", "k1", "++cmd", "echo", "again")).strip() == "again"


BAD_NAMES = ["a/b", "..", ".hidden", "-x", "a b", "x" * 65, ""]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused(store, name):
    before = store.snapshot()
    r = store.ab("create", name, "--base", f"dir:{store.root}")
    assert r.returncode == 2 and "not a valid container name" in r.stderr or name.startswith("-")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for verb in (["run", name], ["start", name], ["stop", name], ["show", name], ["rm", name],
                 ["exec", name, "true"], ["config", name]):
        r = store.ab(*verb)
        assert r.returncode != 0 and r.stderr.strip(), verb
    assert store.snapshot() == before


@pytest.mark.parametrize("verb", [["run", "ghost"], ["start", "ghost"], ["stop", "ghost"], ["exec", "ghost", "true"],
                                  ["shell", "ghost"], ["show", "ghost"], ["config", "ghost"], ["edit", "ghost"],
                                  ["rm", "ghost"], ["launcher", "install", "ghost"]])
def test_missing_container(store, verb):
    before = store.snapshot()
    r = store.ab(*verb)
    assert r.returncode == 125 and "no container named 'ghost'" in r.stderr, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1
    assert store.snapshot() == before


BAD_CONFS = [
    ("[Network]\nMode=wifi\n", ":2: [Network] Mode: 'wifi' is not a network mode"),
    ("[Container]\nBase=host\nColour=blue\n", ":3: [Container] Colour: unknown key"),
    ("[Nonsense]\nMode=none\n", "unknown section [Nonsense]"),
    ("[Files]\nBind=/no/such/dir\n", ":2: [Files] Bind: '/no/such/dir'"),
    ("[Security]\nCapability=CAP_FLY\n", "'CAP_FLY' is not a capability"),
    ("", "empty"),
    ("\x00\x01binary\x02", "NUL byte"),
    ("[Container]\njust words\n", ":2: not a [Section] or Key=Value line"),
]


@pytest.mark.parametrize("text,message", BAD_CONFS)
def test_bad_appbox_conf(store, text, message):
    create(store, "badconf")
    conf = store.data / "badconf/appbox.conf"
    conf.write_text(text)
    before = store.snapshot()
    for verb in (["run", "badconf", "++cmd", "true"], ["start", "badconf"], ["show", "badconf"]):
        r = store.ab(*verb)
        assert r.returncode != 0, verb
        assert str(conf) in r.stderr and message in r.stderr, r.stderr
    assert store.snapshot() == before
    assert store.state("badconf")["state"] == "stopped"
    ok(store.ab("rm", "badconf"))


@pytest.mark.parametrize("args,message", [
    (["--base", "ftp:x"], "'ftp:x' is not a base"),
    (["--base", "dir:/no/such"], "not an existing directory"),
    (["--network", "wifi"], "'wifi' is not a network mode"),
    (["--run", "sh -c 'x"], "unterminated quote"),
    (["--bind", "/no/such"], "/no/such"),
    (["--frob"], "--frob: unknown option"),
    (["extra-arg"], "unexpected argument 'extra-arg'"),
])
def test_create_bad_input_leaves_nothing(store, args, message):
    before = store.snapshot()
    r = store.ab("create", "bad", *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert store.snapshot() == before
    assert not (store.data / "bad").exists()


def test_create_twice_is_refused(store):
    create(store, "dup")
    before = store.snapshot()
    r = store.ab("create", "dup", "--base", f"dir:{store.root}")
    assert r.returncode == 125 and "already exists" in r.stderr
    assert store.snapshot() == before
