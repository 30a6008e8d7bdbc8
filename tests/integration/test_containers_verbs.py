"""Named containers (issue 3): every verb and ++option, checked as a user
would, as root and as an unprivileged user (the `ctr` fixture: a private
data dir, runtime dir and HOME per test).

create (host and dir bases, --run, --no-launcher, --as), the launcher on
PATH, run ++show/++start/++stop/++cmd/++network/++aptupdate, start, stop
(--timeout), shell, list, show, config, edit, rm."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ok, pid_alive, user_info, wait_until
from containers_support import (assert_unchanged, ctr, one_line_error, procs_with,  # noqa: F401 (fixture)
                                read_until, status_fields)

CAP_NAMES = ["chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
             "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
             "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
             "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
             "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
             "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore"]


def cap_set(hexmask):
    v = int(hexmask, 16)
    return {"cap_" + n for i, n in enumerate(CAP_NAMES) if v >> i & 1}


def shown_caps(text):
    return set() if text in ("none", "") else set(text.split(","))


# ---------------------------------------------------------------------------
# create


def test_create_dir_base_copies_the_tree(ctr):
    out = ctr.create("c1")
    assert f"created c1 (dir:{ctr.src_root})" in out
    conf = ctr.conf("c1").read_text()
    assert re.search(rf"^Base=dir:{re.escape(ctr.src_root)}$", conf, re.M), conf
    rootfs = ctr.data / "c1" / "rootfs"
    assert (rootfs / "bin" / "busybox").is_file()
    info = ctr.show("c1")
    assert info["root"] == str(rootfs) and info["root_writable"] is True
    assert info["base"] == f"dir:{ctr.src_root}"
    # the copy is the container's own: what it writes persists, and the
    # source directory is untouched
    # (the caller's home in it is theirs to write)
    ok(ctr.ab("run", "c1", "++cmd", "sh", "-c", "echo persisted > $HOME/from-app"))
    assert ok(ctr.ab("run", "c1", "++cmd", "sh", "-c", "cat $HOME/from-app")).strip() == "persisted"
    assert (rootfs / ctr.user.home.lstrip("/") / "from-app").read_text() == "persisted\n"
    assert not list(Path(ctr.src_root).rglob("from-app"))
    # the caller's identity inside, with a home of its own
    ident = ok(ctr.ab("run", "c1", "++cmd", "sh", "-c", "id -u; id -un; echo $HOME; test -d $HOME && echo home"))
    uid, name, home, there = ident.split()
    assert (int(uid), name) == (ctr.user.uid, ctr.user.name)
    assert there == "home"


def test_create_host_base_has_host_view_and_persistent_home(ctr, world_tmp):
    out = ctr.create("h1", base="host")
    assert "created h1 (host)" in out
    assert "Base=host" in ctr.conf("h1").read_text()
    info = ctr.show("h1")
    assert info["base"] == "host" and info["root_writable"] is False
    # the host's own /usr and /etc, read-only
    with open("/etc/os-release") as f:
        host_os = f.read()
    assert ok(ctr.ab("run", "h1", "++cmd", "cat", "/etc/os-release")) == host_os
    for p in ("/usr/appbox-test", "/etc/appbox-test"):
        r = ctr.ab("run", "h1", "++cmd", "touch", p)
        assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stderr
        assert not os.path.exists(p)
    # a home that persists between runs, kept in the container's data dir
    ok(ctr.ab("run", "h1", "++cmd", "sh", "-c", "echo kept > $HOME/note; pwd"))
    assert ok(ctr.ab("run", "h1", "++cmd", "sh", "-c", "cat $HOME/note")).strip() == "kept"
    assert (ctr.data / "h1" / "home" / "note").read_text() == "kept\n"
    assert ok(ctr.ab("run", "h1", "++cmd", "sh", "-c", "echo $HOME")).strip() == ctr.user.home
    # host paths outside the view are not there
    (world_tmp / "host-only").write_text("secret")
    assert ctr.ab("run", "h1", "++cmd", "cat", str(world_tmp / "host-only")).returncode != 0


def test_create_run_appends_arguments(ctr):
    ctr.create("r1", "--run", "printf '[%s]\\n' fixed")
    out = ok(ctr.ab("run", "r1", "--", "a b", "it's", "$HOME", "*"))
    assert out.splitlines() == ["[fixed]", "[a b]", "[it's]", "[$HOME]", "[*]"]
    assert ok(ctr.ab("config", "r1", "Container.Run")).strip() == "printf '[%s]\\n' fixed"
    # no arguments: just the Run= command
    assert ok(ctr.ab("run", "r1")).splitlines() == ["[fixed]"]


def test_launcher_is_a_command_on_path(ctr):
    out = ctr.create("app1", "--run", "printf '<%s>\\n'")
    launcher = ctr.launcher("app1")
    assert f"launcher: {launcher}" in out
    assert launcher.is_file() and os.access(launcher, os.X_OK)
    st = launcher.stat()
    assert st.st_uid == ctr.user.uid and not st.st_mode & 0o022
    text = launcher.read_text()
    assert text.startswith("#!/bin/sh\n")
    # it holds no configuration (the Run= command lives in appbox.conf only)
    assert "printf" not in text and str(ctr.data) not in text
    assert ctr.info("app1")["launcher"] == str(launcher)
    # run by name from a shell: arguments appended, quoting kept
    r = ctr.sh("app1 one 'two words' '' \"x'y\"")
    assert ok(r).splitlines() == ["<one>", "<two words>", "<>", "<x'y>"]
    # it reads the configuration at run time: a changed Run= takes effect
    ok(ctr.ab("config", "app1", "Container.Run=echo changed"))
    assert ok(ctr.sh("app1 now")).strip() == "changed now"


def test_launcher_passes_exit_codes_through(ctr):
    ctr.create("ex1", "--run", "sh -c 'exit \"$1\"' sh")
    for code in (0, 1, 7, 42, 255):
        assert ctr.sh(f"ex1 {code}").returncode == code
    # killed by a signal: 128+N
    assert ctr.sh("ex1 ++cmd sh -c 'kill -TERM $$'").returncode == 128 + signal.SIGTERM
    # not found / not executable
    r = ctr.sh("ex1 ++cmd /no/such/program")
    assert r.returncode == 127, r.stderr
    r = ctr.sh("ex1 ++cmd /etc/passwd")
    assert r.returncode == 126, r.stderr


def test_launcher_takes_plus_options_and_literal_after_dashes(ctr):
    ctr.create("po1", "--run", "echo app")
    r = ctr.sh("po1 ++show x")
    assert ok(r).strip() == "app x" and "appbox: starting po1" in r.stderr
    assert ok(ctr.sh("po1 ++cmd echo other")).strip() == "other"
    # after --, ++words are the app's
    assert ok(ctr.sh("po1 -- ++show")).strip() == "app ++show"


def test_no_launcher(ctr):
    out = ctr.create("nl1", launcher=False)
    assert "launcher:" not in out
    assert not ctr.launcher("nl1").exists()
    assert ctr.info("nl1")["launcher"] is None
    # installed later, and removed again
    ok(ctr.ab("launcher", "install", "nl1"))
    assert ctr.launcher("nl1").is_file()
    assert ctr.info("nl1")["launcher"] == str(ctr.launcher("nl1"))
    ok(ctr.ab("launcher", "remove", "nl1"))
    assert not ctr.launcher("nl1").exists() and ctr.info("nl1")["launcher"] is None
    assert (ctr.data / "nl1" / "appbox.conf").exists()


def test_create_as_names_the_launcher(ctr):
    ctr.create("as1", "--run", "echo via-as", "--as", "my-tool")
    assert not ctr.launcher("as1").exists()
    tool = ctr.launcher("my-tool")
    assert tool.is_file()
    assert ctr.info("as1")["launcher"] == str(tool)
    assert ok(ctr.sh("my-tool x")).strip() == "via-as x"
    ok(ctr.ab("rm", "as1"))
    assert not tool.exists()


def test_warning_when_launcher_dir_not_on_path(ctr):
    r = ctr.ab("create", "w1", "--base", f"dir:{ctr.src_root}", env={"PATH": "/usr/bin:/bin"})
    ok(r)
    assert ctr.launcher("w1").is_file()
    warn = [l for l in r.stderr.splitlines() if "warning" in l]
    assert len(warn) == 1 and str(ctr.bindir) in warn[0] and "not on your PATH" in warn[0], r.stderr
    # on PATH: no warning
    r = ctr.ab("create", "w2", "--base", f"dir:{ctr.src_root}")
    ok(r)
    assert "warning" not in r.stderr, r.stderr


# ---------------------------------------------------------------------------
# run ++options


def test_run_plus_show_prints_steps_on_stderr(ctr):
    ctr.create("sh1")
    r = ctr.ab("run", "sh1", "++show", "++cmd", "echo", "out")
    assert ok(r) == "out\n"  # steps go to stderr only
    lines = r.stderr.strip().splitlines()
    assert lines and all(l.startswith("appbox: ") for l in lines), r.stderr
    want = ["starting sh1", "started sh1 (supervisor", "joined sh1 as a session", "running echo in sh1"]
    pos = []
    for w in want:
        idx = [i for i, l in enumerate(lines) if w in l]
        assert idx, f"no step {w!r} in:\n{r.stderr}"
        pos.append(idx[0])
    assert pos == sorted(pos), r.stderr
    m = re.search(r"started sh1 \(supervisor (\d+), init (\d+)\)", r.stderr)
    assert f"started (supervisor {m.group(1)}, init {m.group(2)})" in ctr.log("sh1")[0]
    # without ++show: nothing on stderr
    r = ctr.ab("run", "sh1", "++cmd", "echo", "quiet")
    assert ok(r) == "quiet\n" and r.stderr == ""


def test_run_plus_start_and_stop(ctr):
    ctr.create("ps1")
    ok(ctr.ab("run", "ps1", "++start"))
    info = ctr.info("ps1")
    assert info["state"] == "running" and info["sessions"] == 0
    init = ctr.runtime_pid("ps1", "init")
    sup = ctr.runtime_pid("ps1", "supervisor")
    assert info["pid"] == init and pid_alive(init) and pid_alive(sup)
    assert re.search(r"^ps1\s+\S+\s+running\s+0\s+%d\s" % init, ok(ctr.ab("list")), re.M)
    # started without a session, it stays up after one comes and goes
    ok(ctr.ab("run", "ps1", "++cmd", "true"))
    time.sleep(1)
    assert ctr.state("ps1") == "running"
    ok(ctr.ab("run", "ps1", "++start"))  # already running: nothing new
    assert ctr.starts("ps1") == 1
    ok(ctr.ab("run", "ps1", "++stop"))
    assert ctr.state("ps1") == "stopped"  # stopped when ++stop returns
    assert wait_until(lambda: not pid_alive(init) and not pid_alive(sup), timeout=5)
    assert ctr.starts("ps1") == 1 and ctr.stops("ps1") == 1, ctr.log("ps1")
    # ++stop of a stopped container: nothing to do, success
    ok(ctr.ab("run", "ps1", "++stop"))
    assert ctr.stops("ps1") == 1


def test_run_plus_cmd_replaces_run(ctr):
    ctr.create("pc1", "--run", "echo from-run")
    assert ok(ctr.ab("run", "pc1", "++cmd", "echo", "instead")).strip() == "instead"
    # everything after ++cmd is the command, even ++words
    assert ok(ctr.ab("run", "pc1", "++cmd", "echo", "++show")).strip() == "++show"
    assert ok(ctr.ab("run", "pc1")).strip() == "from-run"


def test_run_plus_network(ctr):
    ctr.create("pn1")
    conf_before = ctr.conf("pn1").read_bytes()
    host = set(os.listdir("/sys/class/net"))
    assert host - {"lo"}, "the host needs an interface besides lo for this test"
    none = ok(ctr.ab("run", "pn1", "++cmd", "ls", "/sys/class/net")).split()
    assert none == ["lo"]
    links = ok(ctr.ab("run", "pn1", "++cmd", "ip", "-o", "link"))
    assert [l.split(":")[1].strip() for l in links.splitlines()] == ["lo"], links
    viahost = set(ok(ctr.ab("run", "pn1", "++network", "host", "++cmd", "ls", "/sys/class/net")).split())
    assert viahost == host
    # for that start only: the next run is back to none, the file unchanged
    assert ok(ctr.ab("run", "pn1", "++cmd", "ls", "/sys/class/net")).split() == ["lo"]
    assert ctr.conf("pn1").read_bytes() == conf_before
    # and the other way round
    ok(ctr.ab("config", "pn1", "Network.Mode=host"))
    assert ok(ctr.ab("run", "pn1", "++network", "none", "++cmd", "ls", "/sys/class/net")).split() == ["lo"]


def test_run_plus_aptupdate_skips_what_has_no_apt(ctr):
    """++aptupdate (apt-get update + upgrade, seed 001) on roots without
    apt: one line per container saying it was skipped; nothing is started
    or changed."""
    ctr.create("apt1")
    ctr.create("apt2", base="host")
    before = ctr.snapshot()
    r = ctr.ab("run", "apt1", "++aptupdate")
    assert ok(r).splitlines() == ["apt1: skipped (not a Debian/Ubuntu root: no apt-get)"], (r.stdout, r.stderr)
    r = ctr.ab("run", "apt2", "++aptupdate")
    assert ok(r).splitlines() == ["apt2: skipped (the host view: update the host)"], (r.stdout, r.stderr)
    # ++aptupdateall: every container, one line each
    r = ctr.ab("run", "apt1", "++aptupdateall")
    assert sorted(ok(r).splitlines()) == ["apt1: skipped (not a Debian/Ubuntu root: no apt-get)",
                                          "apt2: skipped (the host view: update the host)"], r.stdout
    assert ctr.log("apt1") == [] and ctr.log("apt2") == []  # nothing was started
    assert_unchanged(ctr, before)


# ---------------------------------------------------------------------------
# start / stop


def test_start_and_stop(ctr):
    ctr.create("st1")
    r = ctr.ab("start", "st1")
    ok(r)
    assert ctr.state("st1") == "running" and ctr.sessions("st1") == 0
    r = ctr.ab("start", "st1")
    ok(r)
    assert "already running" in r.stderr and ctr.starts("st1") == 1
    init, sup = ctr.runtime_pid("st1", "init"), ctr.runtime_pid("st1", "supervisor")
    t0 = time.monotonic()
    ok(ctr.ab("stop", "st1"))
    assert time.monotonic() - t0 < 5  # nothing inside ignores TERM
    assert ctr.state("st1") == "stopped"
    assert wait_until(lambda: not pid_alive(init) and not pid_alive(sup), timeout=5)
    assert ctr.stops("st1") == 1 and "killed" not in ctr.log("st1")[-1]
    r = ctr.ab("stop", "st1")
    ok(r)
    assert "not running" in r.stderr and ctr.stops("st1") == 1


def test_stop_ends_the_sessions(ctr):
    ctr.create("st2")
    p = ctr.popen("run", "st2", "++cmd", "sleep", "4711", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert wait_until(lambda: ctr.sessions("st2") == 1, timeout=15), ctr.info("st2")
    assert wait_until(lambda: procs_with("4711", "sleep"), timeout=5)
    ok(ctr.ab("stop", "st2"))
    assert p.wait(timeout=10) == 128 + signal.SIGTERM
    assert wait_until(lambda: not procs_with("4711", "sleep"), timeout=5)
    assert ctr.state("st2") == "stopped"
    assert ctr.starts("st2") == 1 and ctr.stops("st2") == 1


def test_stop_timeout_kills_what_ignores_term(ctr):
    ctr.create("to1")
    ok(ctr.ab("start", "to1"))
    p = ctr.popen("exec", "to1", "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done",
                  stdout=subprocess.PIPE, text=True)
    read_until(p.stdout, lambda t: "ready" in t)
    t0 = time.monotonic()
    ok(ctr.ab("stop", "to1", "--timeout", "2"))
    took = time.monotonic() - t0
    assert 1.8 <= took < 6, f"stop --timeout 2 took {took:.2f}s"
    assert p.wait(timeout=5) == 128 + signal.SIGKILL
    assert ctr.state("to1") == "stopped"
    assert "killed after timeout" in ctr.log("to1")[-1], ctr.log("to1")
    assert ctr.starts("to1") == 1 and ctr.stops("to1") == 1


@pytest.mark.parametrize("form", [["--timeout", "0"], ["--timeout=0"]])
def test_stop_timeout_zero_kills_at_once(ctr, form):
    ctr.create("to0")
    ok(ctr.ab("start", "to0"))
    p = ctr.popen("exec", "to0", "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done",
                  stdout=subprocess.PIPE, text=True)
    read_until(p.stdout, lambda t: "ready" in t)
    t0 = time.monotonic()
    ok(ctr.ab("stop", "to0", *form, timeout=30))
    took = time.monotonic() - t0
    assert p.wait(timeout=5) == 128 + signal.SIGKILL
    assert "killed after timeout" in ctr.log("to0")[-1], ctr.log("to0")
    # BUG (bugs-containers.md): 0 is read back as "no timeout given" and
    # the default 10 s applies
    assert took < 2, f"stop --timeout 0 took {took:.2f}s"


# ---------------------------------------------------------------------------
# shell


def test_shell_is_a_login_shell_reading_a_pipe(ctr):
    ctr.create("sh2")
    r = ctr.ab("shell", "sh2", input="echo $0; id\n")
    out = ok(r).splitlines()
    assert out[0].startswith("-") and out[0].endswith("sh"), out
    assert re.match(rf"uid={ctr.user.uid}\({re.escape(ctr.user.name)}\) gid={ctr.user.gid}\(", out[1]), out
    r = ctr.ab("shell", "--root", "sh2", input="echo $0; id -u; echo $HOME\n")
    assert ok(r).split() == ["-sh", "0", "/root"]
    # each shell started and stopped the container
    assert wait_until(lambda: ctr.stops("sh2") == 2, timeout=10), ctr.log("sh2")
    assert ctr.starts("sh2") == 2


def test_shell_in_a_host_base(ctr):
    ctr.create("sh3", base="host")
    out = ok(ctr.ab("shell", "sh3", input="echo $0; id -u; pwd\n")).split()
    assert out[0].startswith("-") and out[1] == str(ctr.user.uid)


def test_shell_counts_as_a_session(ctr):
    ctr.create("sh4")
    p = ctr.popen("shell", "sh4", stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p.stdin.write("echo in-shell\n")
    p.stdin.flush()
    read_until(p.stdout, lambda t: "in-shell" in t)
    info = ctr.info("sh4")
    assert info["state"] == "running" and info["sessions"] == 1
    p.stdin.write("exit 3\n")
    p.stdin.close()
    assert p.wait(timeout=10) == 3
    assert ctr.wait_state("sh4", "stopped")
    assert ctr.starts("sh4") == 1 and ctr.stops("sh4") == 1


# ---------------------------------------------------------------------------
# list / show


def test_list_table_and_json(ctr):
    ctr.create("lb", "--run", "true")
    ctr.create("la", base="host", launcher=False)
    ok(ctr.ab("start", "lb"))
    table = ok(ctr.ab("list")).splitlines()
    assert table[0].split() == ["NAME", "BASE", "STATE", "SESSIONS", "PID", "SERVICE", "LAUNCHER"]
    rows = [l.split() for l in table[1:]]
    assert [r[0] for r in rows] == ["la", "lb"]  # sorted by name
    init = ctr.runtime_pid("lb", "init")
    assert rows[0] == ["la", "host", "stopped", "0", "-", "-", "-"]
    # lb's service (Run=true) runs or has exited with 0
    assert rows[1][5] in ("starting", "running", "exited:0"), rows
    del rows[1][5]
    assert rows[1] == ["lb", f"dir:{ctr.src_root}", "running", "0", str(init), str(ctr.launcher("lb"))]
    js = ctr.listing()
    # the service `start` runs (lb's Run=, test_service.py has the rest)
    services = [c.pop("service") for c in js]
    assert services[0] is None and services[1]["restart"] == "no", services
    assert js == [
        {"name": "la", "base": "host", "state": "stopped", "sessions": 0, "pid": None, "launcher": None,
         "launcher_shadows": None, "network": "none", "address": None, "published": []},
        {"name": "lb", "base": f"dir:{ctr.src_root}", "state": "running", "sessions": 0, "pid": init,
         "launcher": str(ctr.launcher("lb")), "launcher_shadows": None, "network": "none", "address": None,
         "published": []},
    ]
    ok(ctr.ab("stop", "lb"))
    assert ctr.info("lb")["pid"] is None


def test_list_empty(ctr):
    assert ctr.listing() == []
    assert ok(ctr.ab("list")).split() == ["NAME", "BASE", "STATE", "SESSIONS", "PID", "SERVICE", "LAUNCHER"]


def test_show_tells_the_truth(ctr, world_tmp):
    shared = world_tmp / "shared"
    shared.mkdir()
    os.chown(shared, ctr.user.uid, ctr.user.gid)
    if ctr.user.uid == 0:
        # root's read-write binds are not idmapped (container root is not
        # host root, see docs/security.md): the folder must let it write
        os.chmod(shared, 0o1777)
    (world_tmp / "ro-file").write_text("read me\n")
    ctr.create("sw1", "--ro-bind", f"{world_tmp}/ro-file:/etc/ro-file", "--bind", f"{shared}:/shared",
               "--tmpfs", "/scratch", "--network", "host", "--cap-add", "NET_RAW", "--cap-drop", "CHOWN",
               "--hostname", "box1", "--seccomp", "off")
    info = ctr.show("sw1")
    assert info["name"] == "sw1" and info["state"] == "stopped"
    assert {"mode": "ro", "source": f"{world_tmp}/ro-file", "destination": "/etc/ro-file"} in info["files"]
    assert {"mode": "rw", "source": str(shared), "destination": "/shared"} in info["files"]
    assert {"mode": "tmpfs", "source": None, "destination": "/scratch"} in info["files"]
    assert info["network"] == "host" and info["seccomp"] == "off" and info["hostname"] == "box1"
    assert (info["user"], info["uid"], info["gid"]) == (ctr.user.name, ctr.user.uid, ctr.user.gid)
    caps = shown_caps(info["capabilities"])
    assert "cap_net_raw" in caps and "cap_chown" not in caps
    text = ok(ctr.ab("show", "sw1"))
    assert re.search(rf"^\s+ro\s+{re.escape(str(world_tmp))}/ro-file -> /etc/ro-file$", text, re.M), text
    assert re.search(rf"^\s+rw\s+{re.escape(str(shared))} -> /shared$", text, re.M), text
    assert re.search(r"^\s+tmpfs\s+/scratch$", text, re.M), text
    assert re.search(r"^\s+network\s+host", text, re.M) and re.search(r"^\s+seccomp\s+OFF", text, re.M)
    assert re.search(rf"^\s+identity\s+{re.escape(ctr.user.name)} \(uid {ctr.user.uid}, gid {ctr.user.gid}\)",
                     text, re.M), text

    # ... and the container gets exactly that
    out = ok(ctr.ab("run", "sw1", "++cmd", "sh", "-c",
                    "hostname; cat /etc/ro-file; echo w > /shared/w && echo rw-ok; "
                    "touch /etc/ro-file 2>/dev/null || echo ro-ok; touch /scratch/t && echo tmpfs-ok; "
                    "grep -E '^(CapEff|Seccomp):' /proc/self/status; ls /sys/class/net"))
    lines = out.splitlines()
    assert lines[:5] == ["box1", "read me", "rw-ok", "ro-ok", "tmpfs-ok"], out
    st = status_fields(out)
    assert cap_set(st["CapEff"]) == caps
    assert st["Seccomp"] == "0"
    assert set(lines[7:]) == set(os.listdir("/sys/class/net"))
    assert (shared / "w").read_text() == "w\n"


def test_show_default_is_locked_down(ctr):
    ctr.create("sd1")
    info = ctr.show("sd1")
    assert info["network"] == "none" and info["seccomp"] == "default filter"
    assert info["files"] == []
    out = ok(ctr.ab("run", "sd1", "++cmd", "grep", "-E", "^(CapEff|CapBnd|NoNewPrivs|Seccomp):",
                    "/proc/self/status"))
    st = status_fields(out)
    assert cap_set(st["CapEff"]) == shown_caps(info["capabilities"])
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2"
    if ctr.as_user != "root":
        assert info["capabilities"] == "none"


def test_show_running_state(ctr):
    ctr.create("sr1")
    assert ctr.show("sr1")["state"] == "stopped"
    ok(ctr.ab("start", "sr1"))
    assert ctr.show("sr1")["state"] == "running"
    assert ok(ctr.ab("show", "sr1")).startswith("sr1 (running)")


# ---------------------------------------------------------------------------
# config / edit


def test_config_get_set_clear(ctr):
    ctr.create("cf1", "--hostname", "first")
    conf = ctr.conf("cf1")
    assert ok(ctr.ab("config", "cf1")) == conf.read_text()
    assert ok(ctr.ab("config", "cf1", "Container.Hostname")).strip() == "first"
    assert ok(ctr.ab("config", "cf1", "Network.Mode")) == ""  # not set
    ok(ctr.ab("config", "cf1", "Network.Mode=host"))
    assert ok(ctr.ab("config", "cf1", "Network.Mode")).strip() == "host"
    assert re.search(r"^\[Network\]\nMode=host$", conf.read_text(), re.M), conf.read_text()
    assert ctr.show("cf1")["network"] == "host"
    assert set(ok(ctr.ab("run", "cf1", "++cmd", "ls", "/sys/class/net")).split()) == \
        set(os.listdir("/sys/class/net"))
    ok(ctr.ab("config", "cf1", "Container.Hostname=second"))
    assert ok(ctr.ab("run", "cf1", "++cmd", "hostname")).strip() == "second"
    # KEY= removes it
    ok(ctr.ab("config", "cf1", "Network.Mode="))
    assert "Mode=" not in conf.read_text() and ctr.show("cf1")["network"] == "none"
    # the file stays the user's: owned by them, not world-writable
    st = conf.stat()
    assert st.st_uid == ctr.user.uid and not st.st_mode & 0o022


def test_config_bad_value_refused_file_unchanged(ctr):
    ctr.create("cf2", "--network", "host")
    before = ctr.snapshot()
    r = ctr.ab("config", "cf2", "Network.Mode=wifi")
    line = one_line_error(r, code=2)
    assert str(ctr.conf("cf2")) in line and "'wifi'" in line and "none (off), host (on), nat[:NAME]" in line and "unchanged" in line
    r = ctr.ab("config", "cf2", "Network.Bogus=1")
    line = one_line_error(r, code=2)
    assert "Network.Bogus" in line
    assert_unchanged(ctr, before)
    assert ctr.show("cf2")["network"] == "host"


def _editor(world_tmp, name, body):
    p = world_tmp / name
    p.write_text("#!/bin/sh\n" + body)
    os.chmod(p, 0o755)
    return str(p)


def test_edit_refuses_a_bad_result_and_applies_a_good_one(ctr, world_tmp):
    ctr.create("ed1")
    before = ctr.snapshot()
    bad = _editor(world_tmp, "bad-editor", "echo 'Nonsense=1' >> \"$1\"\n")
    r = ctr.ab("edit", "ed1", env={"EDITOR": bad})
    line = one_line_error(r, code=125)  # not the command line's fault
    assert "Nonsense" in line and "unchanged" in line and str(ctr.conf("ed1")) in line
    assert re.search(r":\d+: \[Container\] Nonsense", line), line  # file:line
    # the refused edit is kept, and named (issue 10); the next edit off a
    # terminal does not overwrite it
    copy = Path(f"{ctr.conf('ed1')}.edit")
    assert f"your edit is kept in {copy}" in line and copy.read_text().endswith("Nonsense=1\n")
    r = ctr.ab("edit", "ed1", env={"EDITOR": "true"})
    assert r.returncode == 125 and str(copy) in one_line_error(r, code=125)
    copy.unlink()
    assert_unchanged(ctr, before)
    good = _editor(world_tmp, "good-editor", "printf '[Network]\\nMode=host\\n' >> \"$1\"\n")
    ok(ctr.ab("edit", "ed1", env={"EDITOR": good}))
    assert ctr.show("ed1")["network"] == "host"
    assert "Mode=host" in ctr.conf("ed1").read_text()
    assert sorted(p.name for p in (ctr.data / "ed1").iterdir()) == ["appbox.conf", "launcher", "rootfs"]


def test_edit_editor_failure_keeps_file(ctr, world_tmp):
    ctr.create("ed2")
    before = ctr.snapshot()
    failing = _editor(world_tmp, "failing-editor", "echo '[Network]' >> \"$1\"; echo 'Mode=host' >> \"$1\"; exit 3\n")
    r = ctr.ab("edit", "ed2", env={"EDITOR": failing})
    line = one_line_error(r)
    assert "unchanged" in line
    assert_unchanged(ctr, before)


# ---------------------------------------------------------------------------
# rm


def test_rm_stopped_removes_everything(ctr):
    ctr.create("rm1", "--run", "true")
    ok(ctr.ab("run", "rm1"))
    assert ctr.wait_state("rm1", "stopped")
    r = ctr.ab("rm", "rm1")
    assert ok(r).strip() == "removed rm1"
    assert not (ctr.data / "rm1").exists()
    assert not (ctr.runtime / "rm1").exists()
    assert not ctr.launcher("rm1").exists()
    assert ctr.listing() == []


def test_rm_refuses_running_unless_forced(ctr):
    ctr.create("rm2", base="host")
    ok(ctr.ab("start", "rm2"))
    p = ctr.popen("exec", "rm2", "sleep", "4712")
    assert wait_until(lambda: procs_with("4712", "sleep"), timeout=10)
    init = ctr.runtime_pid("rm2", "init")
    before = ctr.snapshot()
    r = ctr.ab("rm", "rm2")
    line = one_line_error(r)
    assert "running" in line and "--force" in line
    assert_unchanged(ctr, before)
    assert ctr.state("rm2") == "running" and p.poll() is None
    r = ctr.ab("rm", "--force", "rm2")
    assert ok(r).strip() == "removed rm2"
    assert p.wait(timeout=10) != 0
    assert not pid_alive(init) and not procs_with("4712", "sleep")
    assert not (ctr.data / "rm2").exists()
    assert not (ctr.runtime / "rm2").exists()
    assert not ctr.launcher("rm2").exists()
    assert ctr.listing() == []


def test_rm_keeps_a_foreign_file_at_the_launcher_path(ctr):
    ctr.create("rm3")
    launcher = ctr.launcher("rm3")
    launcher.write_text("#!/bin/sh\necho mine\n")  # the user replaced it
    ok(ctr.ab("rm", "rm3"))
    assert launcher.read_text() == "#!/bin/sh\necho mine\n"


def test_container_files_are_private(ctr):
    ctr.create("pv1")
    ok(ctr.ab("start", "pv1"))
    for d in (ctr.data / "pv1", ctr.runtime / "pv1"):
        st = d.stat()
        assert st.st_uid == ctr.user.uid and stat_mode(st) & 0o077 == 0, (d, oct(st.st_mode))
    ctl = ctr.runtime / "pv1" / "control.sock"
    assert ctl.exists() and ctl.stat().st_uid == ctr.user.uid


def stat_mode(st):
    return st.st_mode & 0o7777


def test_user_without_subordinate_ids(appbox_bin, world_tmp, busybox_root):
    """abtest-nosub has no /etc/subuid range: one id mapped.  The verbs
    work all the same."""
    from containers_support import Store
    u = user_info("nosub")
    base = world_tmp / "store"
    for d in (base, base / "data", base / "run", base / "home"):
        d.mkdir()
        os.chown(d, u.uid, u.gid)
    s = Store("nosub", appbox_bin, base, busybox_root)
    try:
        s.create("ns1", "--run", "sh -c 'id -u; cat /proc/self/uid_map' sh")
        out = ok(s.sh("ns1")).split()
        assert out[0] == str(u.uid) and out[1:] == [str(u.uid), str(u.uid), "1"], out
        p = s.popen("run", "ns1", "++cmd", "sh", "-c", "readlink /proc/self/ns/pid; read x; true",
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ns = read_until(p.stdout, lambda t: "\n" in t).strip()
        assert ok(s.ab("exec", "ns1", "readlink", "/proc/self/ns/pid")).strip() == ns
        assert s.sessions("ns1") == 1
        p.communicate(input="", timeout=30)
        assert p.returncode == 0
        assert s.wait_state("ns1", "stopped")
        assert ok(s.ab("shell", "ns1", input="echo $0\n")).strip().startswith("-")
        assert s.starts("ns1") == 3 and wait_until(lambda: s.stops("ns1") == 3, timeout=10)
        ok(s.ab("rm", "ns1"))
        assert not (s.data / "ns1").exists() and not s.launcher("ns1").exists()
    finally:
        s.cleanup()


def test_run_plus_any_container_option(ctr, world_tmp):
    """Every container option works as a ++override of run and start, for
    that start only, checked exactly as the flag is; a repeatable one (a
    bind) adds to appbox.conf's, any other replaces it."""
    u = ctr.user
    shared = world_tmp / "po-shared"
    extra = world_tmp / "po-extra"
    for d in (shared, extra):
        d.mkdir()
        (d / "f").write_text(d.name + "\n")
        os.chown(d, u.uid, u.gid)
    ctr.create("po", "--bind", f"{shared}:/shared", "--hostname", "from-conf")
    conf_before = ctr.conf("po").read_bytes()
    out = ok(ctr.ab("run", "po", "++bind", f"{extra}:/extra", "++env", "ANSWER=42", "++hostname=from-plus",
                    "++cmd", "sh", "-c", "cat /shared/f /extra/f; echo $ANSWER; hostname"))
    assert out.split() == ["po-shared", "po-extra", "42", "from-plus"], out
    # for that start only
    out = ok(ctr.ab("run", "po", "++cmd", "sh", "-c", "ls /extra 2>/dev/null; echo ${ANSWER:-unset}; hostname"))
    assert out.split() == ["unset", "from-conf"], out
    assert ctr.conf("po").read_bytes() == conf_before
    # start takes them too, and the sessions see what the start was given
    ok(ctr.ab("start", "po", "++env", "MODE=started"))
    try:
        assert ok(ctr.ab("exec", "po", "sh", "-c", "echo $MODE")).strip() == "started"
    finally:
        ok(ctr.ab("stop", "po"))
    # checked as the flag: a usage error naming the ++option, nothing started
    before = ctr.snapshot()
    for args, message in ((["++hostname", "-bad"], "++hostname: '-bad' is not a valid host name"),
                          (["++env", "1X=y"], "++env: '1X=y' is not NAME=VALUE"),
                          (["++bind", "/no/such/dir:/x"], "++bind: '/no/such/dir'"),
                          (["++tmpfs", "rel"], "++tmpfs: 'rel' is not an absolute path"),
                          (["++writable=yes"], "++writable: takes no value")):
        r = ctr.ab("run", "po", *args, "++cmd", "true")
        assert r.returncode == 2 and message in one_line_error(r), (args, r.stderr)
        r = ctr.ab("start", "po", *args)
        assert r.returncode == 2 and message in one_line_error(r), (args, r.stderr)
    assert ctr.state("po") == "stopped"
    assert ctr.snapshot() == before


def test_writable_without_a_root_is_refused(ctr):
    """Writable= means nothing for the host view: refused with the key
    named, for the flag, the file and the ++override alike."""
    ctr.create("wr", base="host")
    r = ctr.ab("config", "wr", "Container.Writable=yes")
    assert r.returncode == 2 and "only applies with --root" in one_line_error(r), r.stderr
    r = ctr.ab("run", "wr", "++writable", "++cmd", "true")
    assert r.returncode == 2 and "--writable (Writable=): only applies with --root" in one_line_error(r), r.stderr
    assert ctr.state("wr") == "stopped"


def test_user_home_host_warns_what_it_hands_over(ctr):
    """--user-home host gives the container the user's whole home: create
    says what that includes (launchers, start-up files, every container's
    appbox.conf), and the home inside is the host's."""
    r = ctr.ab("create", "uh", "--base", f"dir:{ctr.src_root}", "--user-home", "host", "--no-launcher")
    assert r.returncode == 0, r.stderr
    assert "warning: --user-home host" in r.stderr and "~/.local/bin" in r.stderr and "appbox.conf" in r.stderr
    if ctr.user.uid != 0:  # (root's home is bound plainly: host root's files are nobody's inside)
        ok(ctr.ab("run", "uh", "++cmd", "sh", "-c", "echo from-inside > \"$HOME/uh-mark\""))
        assert (ctr.home / "uh-mark").read_text() == "from-inside\n"
