"""The process inside: environment, --env, --chdir, --hostname, PID
namespace, capabilities, no_new_privs, seccomp, exit codes and the CLI."""

import os
import re
import socket
import subprocess

import pytest

from conftest import ok, run, user_info

ALLOWED_ENV = {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG"}


def sh(sandbox, script, as_user, opts=(), **kw):
    return sandbox([*opts, "--", "/bin/sh", "-c", script], as_user=as_user, **kw)


def status_fields(text):
    return {k: v.strip() for k, v in (l.split(":", 1) for l in text.splitlines() if ":" in l)}


CAPSH = next((p for p in ("/usr/sbin/capsh", "/sbin/capsh") if os.path.exists(p)), "capsh")


def decode_caps(hexmask):
    out = subprocess.run([CAPSH, f"--decode={hexmask}"], capture_output=True, text=True,
                         check=True).stdout.strip()
    names = out.split("=", 1)[1] if "=" in out else ""
    return set(n for n in names.split(",") if n)


def caps_inside(sandbox, as_user, opts=()):
    st = status_fields(ok(sandbox([*opts, "--", "cat", "/proc/self/status"], as_user=as_user)))
    return {k: decode_caps(st[k]) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}, st


# --------------------------------------------------------------------------
# environment


def test_clean_environment(sandbox, run_as):
    u = user_info(run_as)
    host_env = {"FOO": "secret", "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/x",
                "SSH_AUTH_SOCK": "/tmp/agent", "GITHUB_TOKEN": "t0k3n",
                "LD_PRELOAD": "/nonexistent.so", "XDG_RUNTIME_DIR": "/run/user/12345",
                "TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_MESSAGES": "C"}
    out = ok(sandbox(["--", "/usr/bin/env"], as_user=run_as, extra_env=host_env))
    env = dict(l.split("=", 1) for l in out.splitlines())
    extra = {k for k in env if k not in ALLOWED_ENV and not k.startswith("LC_")}
    assert not extra, f"variables leaked into the sandbox: {extra}"
    assert "secret" not in out and "t0k3n" not in out
    assert env["HOME"] == u.home
    assert env["USER"] == env["LOGNAME"] == u.name
    assert env["TERM"] == "xterm-256color"
    assert env["LANG"] == "C.UTF-8"
    assert env["LC_MESSAGES"] == "C"
    assert "/usr/bin" in env["PATH"].split(":")


def test_env_option(sandbox, run_as):
    out = ok(sandbox(["--env", "FOO=bar", "--env", "EMPTY=", "--env", "WITH_EQ=a=b",
                      "--env", "SP=two words", "--", "/usr/bin/env"], as_user=run_as))
    env = dict(l.split("=", 1) for l in out.splitlines())
    assert env["FOO"] == "bar"
    assert env["EMPTY"] == ""
    assert env["WITH_EQ"] == "a=b"
    assert env["SP"] == "two words"


def test_env_later_wins_and_overrides(sandbox, run_as):
    out = ok(sandbox(["--env", "FOO=1", "--env", "FOO=2", "--env", "LANG=fr_FR.UTF-8", "--",
                      "/usr/bin/env"], as_user=run_as))
    lines = out.splitlines()
    assert [l for l in lines if l.startswith("FOO=")] == ["FOO=2"]
    assert [l for l in lines if l.startswith("LANG=")] == ["LANG=fr_FR.UTF-8"]


# --------------------------------------------------------------------------
# --chdir, --hostname


def test_chdir(sandbox, run_as):
    assert ok(sandbox(["--chdir", "/tmp", "--", "pwd"], as_user=run_as)) == "/tmp\n"
    assert ok(sandbox(["--chdir", "/usr/share", "--", "pwd"], as_user=run_as)) == "/usr/share\n"
    assert ok(sandbox(["--chdir", "/data", "--tmpfs", "/data", "--", "pwd"],
                      as_user=run_as)) == "/data\n"


def test_chdir_default_is_home(sandbox, run_as):
    assert ok(sandbox(["--", "pwd"], as_user=run_as)) == user_info(run_as).home + "\n"


def test_chdir_missing_directory_fails(sandbox, run_as):
    r = sandbox(["--chdir", "/does-not-exist", "--", "true"], as_user=run_as)
    assert r.returncode == 125, r
    assert "/does-not-exist" in r.stderr


def test_hostname(sandbox, run_as):
    host = socket.gethostname()
    assert ok(sandbox(["--", "uname", "-n"], as_user=run_as)) == "appbox\n"
    assert ok(sandbox(["--hostname", "box-1.test", "--", "uname", "-n"],
                      as_user=run_as)) == "box-1.test\n"
    assert ok(sandbox(["--hostname", "box-1", "--", "cat", "/proc/sys/kernel/hostname"],
                      as_user=run_as)) == "box-1\n"
    assert socket.gethostname() == host


# --------------------------------------------------------------------------
# PID namespace


def test_ps_shows_only_the_sandbox(sandbox, run_as):
    out = ok(sh(sandbox, "echo $$; ps -eo pid=,args=", run_as))
    first, *rows = out.splitlines()
    assert first == "2", "the command is not pid 2"
    procs = {int(r.split(None, 1)[0]): r.split(None, 1)[1] for r in rows}
    assert set(procs) == {1, 2, 3}, procs
    assert procs[2].startswith("/bin/sh -c")
    assert procs[3].startswith("ps ")
    assert "appbox" in procs[1] or "init" in procs[1], f"pid 1 is {procs[1]!r}"


def test_pid1_is_appbox_init(sandbox, run_as):
    out = ok(sandbox(["--", "cat", "/proc/1/comm", "/proc/self/stat"], as_user=run_as))
    comm, stat = out.splitlines()
    assert "appbox" in comm or "init" in comm, comm
    assert stat.split()[0] == "2" and stat.split()[3] == "1"  # pid 2, ppid 1


# --------------------------------------------------------------------------
# capabilities, no_new_privs, seccomp


@pytest.mark.parametrize("who", ["user", "nosub"])
def test_non_root_inside_has_no_capabilities(sandbox, who):
    caps, st = caps_inside(sandbox, who)
    assert all(not v for v in caps.values()), caps
    assert st["NoNewPrivs"] == "1"


def test_root_caller_default_is_root_with_small_set(sandbox):
    caps, st = caps_inside(sandbox, "root")
    assert st["Uid"].split()[0] == "0"
    assert caps["CapEff"], "root inside has no capability at all"
    assert "cap_sys_admin" not in caps["CapEff"]
    assert "cap_sys_module" not in caps["CapBnd"]
    assert st["NoNewPrivs"] == "1"


def test_uid0_default_set(sandbox, run_as):
    caps, st = caps_inside(sandbox, run_as, ["--uid", "0"])
    eff = caps["CapEff"]
    assert eff, "root inside has no capability at all"
    assert not eff & {"cap_sys_admin", "cap_sys_module", "cap_sys_ptrace", "cap_sys_rawio",
                      "cap_sys_boot", "cap_bpf", "cap_perfmon", "cap_syslog", "cap_mac_admin"}, eff
    # what is not granted cannot come back through the bounding set
    assert not caps["CapBnd"] & {"cap_sys_admin", "cap_sys_module", "cap_sys_ptrace",
                                 "cap_sys_rawio", "cap_sys_boot", "cap_bpf"}, caps["CapBnd"]
    assert not caps["CapAmb"]
    assert st["NoNewPrivs"] == "1"


@pytest.mark.parametrize("spelling", ["NET_ADMIN", "cap_net_admin", "CAP_NET_ADMIN", "net_admin"])
def test_cap_add(sandbox, run_as, spelling):
    caps, _ = caps_inside(sandbox, run_as, ["--uid", "0", "--cap-add", spelling])
    assert "cap_net_admin" in caps["CapEff"]


def test_cap_add_has_effect(sandbox, run_as):
    """NET_ADMIN in the sandbox's own network namespace: lo can be taken down
    only with it (--network none: the host's namespace is not touched)."""
    cmd = "ip link set lo down && ip -o link show lo"
    r = sh(sandbox, cmd, run_as, ["--uid", "0", "--cap-drop", "NET_ADMIN"])
    assert r.returncode != 0
    out = ok(sh(sandbox, cmd, run_as, ["--uid", "0", "--cap-add", "NET_ADMIN"]))
    assert "state DOWN" in out or ",UP" not in out


def test_cap_drop(sandbox, run_as):
    default, _ = caps_inside(sandbox, run_as, ["--uid", "0"])
    some = sorted(default["CapEff"])[0]
    caps, _ = caps_inside(sandbox, run_as, ["--uid", "0", "--cap-drop", some.upper()])
    assert some not in caps["CapEff"] and some not in caps["CapBnd"]
    assert caps["CapEff"] == default["CapEff"] - {some}


def test_cap_drop_all(sandbox, run_as):
    caps, _ = caps_inside(sandbox, run_as, ["--uid", "0", "--cap-drop", "ALL"])
    assert all(not v for v in caps.values()), caps
    out = ok(sh(sandbox, "touch /tmp/x; chown 1:1 /tmp/x 2>/dev/null && echo CHOWNED; true",
                run_as, ["--uid", "0", "--cap-drop", "ALL"]))
    assert "CHOWNED" not in out


def test_cap_add_all(sandbox, run_as):
    caps, _ = caps_inside(sandbox, run_as, ["--uid", "0", "--cap-add", "ALL"])
    assert {"cap_sys_admin", "cap_net_admin", "cap_chown"} <= caps["CapEff"]


def test_cap_drop_all_then_add(sandbox, run_as):
    caps, _ = caps_inside(sandbox, run_as, ["--uid", "0", "--cap-drop", "ALL",
                                            "--cap-add", "CHOWN"])
    assert caps["CapEff"] == {"cap_chown"}


@pytest.mark.parametrize("opts", [[], ["--seccomp", "on"], ["--seccomp=on"]],
                         ids=["default", "on", "on="])
def test_seccomp_on(sandbox, run_as, opts):
    r = sandbox([*opts, "--", "cat", "/proc/self/status"], as_user=run_as)
    st = status_fields(ok(r))
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "1"
    assert r.stderr == ""


def test_seccomp_off_warns(sandbox, run_as):
    r = sandbox(["--seccomp", "off", "--", "cat", "/proc/self/status"], as_user=run_as)
    st = status_fields(ok(r))
    assert st["Seccomp"] == "0"
    assert st["NoNewPrivs"] == "1"
    assert "seccomp" in r.stderr.lower() and "warn" in r.stderr.lower(), r.stderr


# --------------------------------------------------------------------------
# exit codes


@pytest.mark.parametrize("script,code", [
    ("true", 0), ("exit 7", 7), ("exit 255", 255), ("exit 125", 125),
    ("kill -TERM $$", 143), ("kill -KILL $$", 137), ("kill -HUP $$", 129),
    ("kill -USR1 $$", 138), ("kill -INT $$", 130),
], ids=["0", "7", "255", "125", "TERM", "KILL", "HUP", "USR1", "INT"])
def test_exit_status_is_the_commands(sandbox, run_as, script, code):
    r = sh(sandbox, script, run_as)
    assert r.returncode == code, r
    assert r.stderr == ""


def test_exit_127_not_found(sandbox, run_as):
    for cmd in ("appbox-no-such-command", "/usr/bin/appbox-no-such-command", "/nonexistent/x"):
        r = sandbox(["--", cmd], as_user=run_as)
        assert r.returncode == 127, r
        assert cmd in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


def test_exit_126_cannot_execute(sandbox, run_as, world_tmp):
    script = world_tmp / "script.sh"
    script.write_text("#!/bin/sh\necho ran\n")
    os.chmod(script, 0o644)
    for args in (["--ro-bind", f"{script}:/data/script.sh", "--", "/data/script.sh"],
                 ["--", "/tmp"], ["--", "/etc/passwd"]):
        r = sandbox(args, as_user=run_as)
        assert r.returncode == 126, r
        assert r.stdout == ""
        assert args[-1] in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


def test_exit_127_from_inside_is_passed_through(sandbox, run_as):
    r = sh(sandbox, "appbox-no-such-command", run_as)
    assert r.returncode == 127


# --------------------------------------------------------------------------
# the CLI


def test_version(appbox_bin, run_as):
    r = run([appbox_bin, "--version"], as_user=run_as)
    assert r.returncode == 0
    assert re.search(r"\bappbox\b.*\d+\.\d+\.\d+", r.stdout), r.stdout


def test_help(appbox_bin, run_as):
    r = run([appbox_bin, "help"], as_user=run_as)
    assert r.returncode == 0
    assert "sandbox" in r.stdout


def test_sandbox_help_lists_every_option(appbox_bin, run_as):
    r = run([appbox_bin, "sandbox", "--help"], as_user=run_as)
    assert r.returncode == 0
    for opt in ("--root", "--writable", "--network", "--bind", "--ro-bind", "--tmpfs",
                "--device", "--env", "--chdir", "--hostname", "--uid", "--cap-add",
                "--cap-drop", "--seccomp"):
        assert opt in r.stdout, f"{opt} missing from sandbox --help"


def test_double_dash_and_option_like_args(sandbox, run_as):
    out = ok(sandbox(["--", "echo", "--bind", "-x"], as_user=run_as))
    assert out == "--bind -x\n"
    out = ok(sandbox(["echo", "--env", "X=1"], as_user=run_as))
    assert out == "--env X=1\n"
