"""Named containers (issue 3): appbox exec joins a running container and
cannot gain anything the container lacks (capabilities, seccomp,
no_new_privs, a host fd, a host path, host environment).  As root and as
an unprivileged user."""

import os
import re
import subprocess

from conftest import ok
from containers_support import ctr, one_line_error, read_until, status_fields  # noqa: F401 (fixture)

APP = "readlink /proc/self/ns/pid; echo app > /tmp/app-was-here; cat /proc/self/status; echo END; read x; true"


def start_app(ctr, name):
    """A `run` session that reports its PID namespace and /proc/self/status
    and waits on stdin.  Returns (popen, ns, status fields)."""
    p = ctr.popen("run", name, "++cmd", "sh", "-c", APP, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, text=True)
    text = read_until(p.stdout, lambda t: "END\n" in t)
    return p, text.splitlines()[0], status_fields(text)


def end_app(p):
    p.communicate(input="", timeout=30)
    return p.returncode


def test_exec_joins_the_running_container(ctr):
    ctr.create("ej", "--hostname", "joined-box")
    p, ns, _ = start_app(ctr, "ej")
    out = ok(ctr.ab("exec", "ej", "sh", "-c", "readlink /proc/self/ns/pid; hostname; cat /tmp/app-was-here; "
                                             "readlink /proc/self/ns/mnt; readlink /proc/self/ns/net"))
    lines = out.splitlines()
    assert lines[0] == ns and lines[1] == "joined-box" and lines[2] == "app"
    # same mount and network namespaces as the init of the container
    init = ctr.runtime_pid("ej", "init")
    assert lines[3] == os.readlink(f"/proc/{init}/ns/mnt")
    assert lines[4] == os.readlink(f"/proc/{init}/ns/net")
    # it sees the app (and nothing of the host's)
    ps = ok(ctr.ab("exec", "ej", "ps", "-o", "pid,args"))
    assert "read x" in ps and "pytest" not in ps
    # cgroup and user namespace mapping as the app's
    app_map = ok(ctr.ab("exec", "ej", "cat", "/proc/self/uid_map"))
    assert app_map.split() == open(f"/proc/{init}/uid_map").read().split()
    assert end_app(p) == 0


def test_exec_options(ctr):
    ctr.create("eo")
    p, _, _ = start_app(ctr, "eo")
    u = ctr.user
    out = ok(ctr.ab("exec", "eo", "sh", "-c", "id -u; id -un; echo $HOME; pwd"))
    assert out.split() == [str(u.uid), u.name, u.home, u.home]
    out = ok(ctr.ab("exec", "--root", "eo", "sh", "-c", "id -u; id -un; echo $HOME"))
    assert out.split() == ["0", "root", "/root"]
    for who, want in (("nobody", "65534"), ("0", "0"), ("root", "0")):
        assert ok(ctr.ab("exec", "--user", who, "eo", "id", "-u")).strip() == want, who
    assert ok(ctr.ab("exec", "--user=nobody", "eo", "id", "-un")).strip() == "nobody"
    out = ok(ctr.ab("exec", "--env", "FOO=bar baz", "--env=ANSWER=42", "eo", "sh", "-c", "echo \"$FOO/$ANSWER\""))
    assert out.strip() == "bar baz/42"
    assert ok(ctr.ab("exec", "--chdir", "/tmp", "eo", "pwd")).strip() == "/tmp"
    assert ok(ctr.ab("exec", "--chdir=/etc", "eo", "pwd")).strip() == "/etc"
    assert ok(ctr.ab("exec", "eo", "--", "echo", "--root")).strip() == "--root"
    # statuses pass through
    assert ctr.ab("exec", "eo", "sh", "-c", "exit 9").returncode == 9
    assert ctr.ab("exec", "eo", "sh", "-c", "kill -KILL $$").returncode == 137
    assert ctr.ab("exec", "eo", "/no/such/thing").returncode == 127
    assert end_app(p) == 0


def test_exec_environment_is_clean(ctr):
    ctr.create("ee")
    p, _, _ = start_app(ctr, "ee")
    out = ok(ctr.ab("exec", "ee", "env", env={"HOST_SECRET": "leak", "LD_PRELOAD": "/x.so"}))
    names = {l.split("=", 1)[0] for l in out.splitlines()}
    allowed = {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "PWD", "SHLVL"}
    assert names <= allowed | {n for n in names if n.startswith("LC_")}, names
    assert "leak" not in out and "x.so" not in out
    end_app(p)


def test_exec_needs_a_running_container(ctr):
    ctr.create("en")
    before = ctr.snapshot()
    r = ctr.ab("exec", "en", "true")
    line = one_line_error(r)
    assert "not running" in line and "appbox start en" in line
    assert ctr.log("en") == [] and ctr.state("en") == "stopped"
    # the runtime dir may get its lock files; nothing else changes
    after = ctr.snapshot()
    assert {k: v for k, v in after.items() if not k.startswith(str(ctr.runtime))} == \
        {k: v for k, v in before.items() if not k.startswith(str(ctr.runtime))}


def test_exec_gains_no_capability_seccomp_or_privilege(ctr):
    ctr.create("eg")
    p, _, app = start_app(ctr, "eg")
    assert app["NoNewPrivs"] == "1" and app["Seccomp"] == "2"
    joined = status_fields(ok(ctr.ab("exec", "eg", "cat", "/proc/self/status")))
    assert joined == app
    # nested: a shell that execs more gains nothing either
    nested = status_fields(ok(ctr.ab("exec", "eg", "sh", "-c", "sh -c 'cat /proc/self/status'")))
    assert nested == app
    end_app(p)


def test_exec_root_matches_a_root_app(ctr):
    ctr.create("er", "--uid", "0")
    p, _, app = start_app(ctr, "er")
    joined = status_fields(ok(ctr.ab("exec", "--root", "er", "cat", "/proc/self/status")))
    assert joined == app
    assert joined["Seccomp"] == "2" and joined["NoNewPrivs"] == "1"
    end_app(p)


def test_exec_root_in_a_capless_container_has_no_caps(ctr):
    ctr.create("ec", "--cap-drop", "ALL")
    p, _, app = start_app(ctr, "ec")
    for args in (["--root"], ["--user", "0"], []):
        st = status_fields(ok(ctr.ab("exec", *args, "ec", "cat", "/proc/self/status")))
        for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(st[k], 16) == 0, (args, k, st)
        assert st["Seccomp"] == "2" and st["NoNewPrivs"] == "1"
    end_app(p)


def test_exec_follows_the_running_container_not_the_edited_file(ctr):
    """Loosening appbox.conf while it runs gives exec nothing: it gets the
    limits the container was started with."""
    ctr.create("ef", "--cap-drop", "ALL")
    p, _, app = start_app(ctr, "ef")
    ok(ctr.ab("config", "ef", "Security.Capability=ALL"))
    ok(ctr.ab("config", "ef", "Security.Seccomp=off"))
    ok(ctr.ab("config", "ef", "Network.Mode=host"))
    st = status_fields(ok(ctr.ab("exec", "--root", "ef", "cat", "/proc/self/status")))
    assert int(st["CapEff"], 16) == 0 and int(st["CapBnd"], 16) == 0
    assert st["Seccomp"] == "2"
    assert ok(ctr.ab("exec", "ef", "ls", "/sys/class/net")).split() == ["lo"]
    end_app(p)


def test_exec_sees_no_host_fd(ctr, world_tmp):
    ctr.create("fd")
    p, _, _ = start_app(ctr, "fd")
    secret = world_tmp / "host-secret"
    secret.write_text("host only\n")
    fd = os.open(secret, os.O_RDONLY)
    dfd = os.open(world_tmp, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.set_inheritable(fd, True)
        os.set_inheritable(dfd, True)
        script = ("for f in /proc/self/fd/*; do echo \"$f $(readlink $f)\"; done; "
                  f"cat /proc/self/fd/{fd} 2>&1 || echo no-fd; ls /proc/self/fd/{dfd}/ 2>&1 || echo no-dfd")
        r = ctr.ab("exec", "fd", "sh", "-c", script, pass_fds=(fd, dfd))
        out = ok(r)
        r2 = ctr.ab("run", "fd", "++cmd", "sh", "-c", script, pass_fds=(fd, dfd))
        out2 = ok(r2)
    finally:
        os.close(fd)
        os.close(dfd)
    for o in (out, out2):
        assert "host only" not in o and "host-secret" not in o and str(world_tmp) not in o, o
        assert "no-fd" in o and "no-dfd" in o, o
        fds = [int(re.match(r"/proc/self/fd/(\d+)", l).group(1)) for l in o.splitlines()
               if l.startswith("/proc/self/fd/")]
        assert set(fds) <= {0, 1, 2, 3, 255}, o  # 3/255: the shell's own (the glob, its script)
    end_app(p)


def test_exec_sees_no_host_path(ctr, world_tmp):
    ctr.create("hp", base="host")
    p, _, _ = start_app(ctr, "hp")
    (world_tmp / "host-file").write_text("x")
    for path in (world_tmp, world_tmp / "host-file", ctr.data, ctr.runtime, ctr.runtime / "hp" / "control.sock",
                 ctr.home):
        for args in (["exec"], ["exec", "--root"]):
            r = ctr.ab(*args, "hp", "ls", "-d", str(path))
            assert r.returncode != 0 and "No such file" in r.stderr, (args, path, r.stdout, r.stderr)
    end_app(p)


def test_exec_uses_what_the_container_was_started_with(ctr):
    """Joining never resolves anything again: with the bind source removed
    from the host after the start, exec still joins (the bind inside is the
    tree the start pinned), and a broken appbox.conf is not read either."""
    src = ctr.base / "bound"
    src.mkdir()
    (src / "mark").write_text("pinned\n")
    os.chown(src, ctr.user.uid, ctr.user.gid)
    ctr.create("ep", "--bind", f"{src}:/data")
    ok(ctr.ab("start", "ep"))
    try:
        spec = ctr.runtime / "ep" / "spec.json"
        assert spec.exists() and '"resolved":true' in spec.read_text().replace(" ", "")
        (src / "mark").unlink()
        src.rmdir()
        r = ctr.ab("exec", "ep", "sh", "-c", "test -d /data && echo joined")
        assert r.returncode == 0 and r.stdout.strip() == "joined", r.stderr
        # so does a run session
        r = ctr.ab("run", "ep", "++cmd", "sh", "-c", "test -d /data && echo joined")
        assert r.returncode == 0 and r.stdout.strip() == "joined", r.stderr
        # `show` of the running container reads the same spec
        info = ctr.show("ep")
        assert [f["source"] for f in info["files"]] == [str(src)]
        # a file broken since the start does not lock the session out
        ctr.conf("ep").write_text("[Files]\nBind=/no/such/dir\n")
        r = ctr.ab("exec", "ep", "true")
        assert r.returncode == 0, r.stderr
    finally:
        ok(ctr.ab("stop", "ep"))
    # the next start resolves afresh, and says what is missing, where
    r = ctr.ab("start", "ep")
    assert r.returncode != 0 and "/no/such/dir" in r.stderr and str(ctr.conf("ep")) in r.stderr, r.stderr
    assert ctr.state("ep") == "stopped"
    assert not (ctr.runtime / "ep" / "spec.json").exists()


def test_io_uring_setting_is_shown_and_joined_sessions_get_it(ctr, escape_bin):
    """--io-uring allow: show says so, and a session joining the running
    container gets the same filter (spec.json carries it); without it,
    the default filter refuses io_uring."""
    ctr.create("iu", "--io-uring", "allow", "--ro-bind", f"{escape_bin}:/ab-escape")
    ctr.create("nu", "--ro-bind", f"{escape_bin}:/ab-escape")
    assert ctr.show("iu")["seccomp"] == "default filter, io_uring allowed"
    assert ctr.show("nu")["seccomp"] == "default filter"
    assert re.search(r"^\s+seccomp\s+default filter, io_uring allowed$", ok(ctr.ab("show", "iu")), re.M)
    for name, works in (("iu", True), ("nu", False)):
        p, _, _ = start_app(ctr, name)
        out = ctr.ab("exec", name, "/ab-escape", "io-uring").stdout
        first = out.splitlines()[0] if out else ""
        if works:
            disabled = open("/proc/sys/kernel/io_uring_disabled").read().strip() \
                if os.path.exists("/proc/sys/kernel/io_uring_disabled") else "0"
            assert "a ring" in first or disabled != "0", out
        else:
            assert "Function not implemented" in first, out
        end_app(p)
