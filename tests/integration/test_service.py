"""Services (issue 13): `appbox start NAME` runs the container's Run= in the
background as its service, restarts it as --restart says, logs its output
to NAME/service.log (rotated at --log-size), and `appbox logs` shows it
(-f, --since, -n, -t); show and list say how the service is.  Every test
runs as root and as an unprivileged user (the `ctr` fixture), on a
container of the busybox root."""

import datetime
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import ok, pid_alive, wait_until
from containers_support import ctr, one_line_error, read_until  # noqa: F401 (fixture)

LINE_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})Z (stdout|stderr|appbox) (.*)$")


def log_lines(ctr, name, old=False):
    p = ctr.data / name / ("service.log.1" if old else "service.log")
    try:
        return p.read_text().splitlines()
    except FileNotFoundError:
        return []


def entries(ctr, name):
    """(time, stream, text) of every line of service.log.1 then service.log;
    each line must be one of ours."""
    out = []
    for line in log_lines(ctr, name, old=True) + log_lines(ctr, name):
        m = LINE_RE.match(line)
        assert m, f"not a service log line: {line!r}"
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        out.append((t, m.group(2), m.group(3)))
    return out


def texts(ctr, name, stream=None):
    return [t for _, s, t in entries(ctr, name) if stream is None or s == stream]


def service(ctr, name):
    return ctr.show(name)["service"]


def wait_text(ctr, name, text, timeout=20):
    assert wait_until(lambda: text in texts(ctr, name), timeout=timeout, interval=0.1), \
        f"{text!r} never logged: {log_lines(ctr, name)}"


def test_start_runs_the_service(ctr):
    ctr.create("svc", "--run", "sh -c 'echo $$ > /tmp/svc.pid; echo out-line; echo err-line >&2; exec sleep 1000'",
               launcher=False)
    ok(ctr.ab("start", "svc", timeout=30))
    wait_text(ctr, "svc", "out-line")
    wait_text(ctr, "svc", "err-line")
    got = entries(ctr, "svc")
    assert ("stdout", "out-line") in [(s, t) for _, s, t in got]
    assert ("stderr", "err-line") in [(s, t) for _, s, t in got]
    assert re.match(r"started pid \d+$", got[0][2]) and got[0][1] == "appbox", got
    # times are UTC, now-ish, in order
    now = datetime.datetime.now(datetime.timezone.utc)
    assert all(abs((now - t).total_seconds()) < 600 for t, _, _ in got)
    assert [t for t, _, _ in got] == sorted(t for t, _, _ in got)
    # it runs inside the container: the file it wrote is there, for a session
    inside = ok(ctr.ab("exec", "svc", "cat", "/tmp/svc.pid")).strip()
    assert inside.isdigit()
    st = service(ctr, "svc")
    assert st["state"] == "running" and st["restarts"] == 0 and st["last_exit"] is None, st
    host_pid = st["pid"]
    assert pid_alive(host_pid)
    assert int(re.match(r"started pid (\d+)", got[0][2]).group(1)) == host_pid
    # its stdin is /dev/null; it is the container's process (its pid namespace)
    assert os.readlink(f"/proc/{host_pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{host_pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    listed = ctr.info("svc")
    assert listed["service"]["state"] == "running" and listed["service"]["pid"] == host_pid
    assert "service     running (pid %d)" % host_pid in ok(ctr.ab("show", "svc"))
    # logs: the program's output alone, appbox's lines with -t
    assert sorted(ok(ctr.ab("logs", "svc")).splitlines()) == ["err-line", "out-line"]
    stamped = ok(ctr.ab("logs", "svc", "--timestamps")).splitlines()
    assert stamped == log_lines(ctr, "svc")
    assert ok(ctr.ab("stop", "svc")) == "stopped svc\n"
    assert not pid_alive(host_pid)
    tail = texts(ctr, "svc", "appbox")[-2:]
    assert tail == ["stopping", "killed by signal 15"], tail
    # the log stays after the stop; the state file goes
    assert not (ctr.runtime / "svc" / "service.state").exists()
    assert ctr.show("svc")["service"] is None


def test_stop_kills_a_service_that_ignores_term(ctr):
    ctr.create("stubborn", "--run", "sh -c 'trap \"\" TERM; echo ready; while true; do sleep 0.1; done'",
               launcher=False)
    ok(ctr.ab("start", "stubborn", "++restart", "always"))
    wait_text(ctr, "stubborn", "ready")
    pid = service(ctr, "stubborn")["pid"]
    assert ok(ctr.ab("stop", "--timeout", "1", "stubborn", timeout=60)) == "stopped stubborn\n"
    assert not pid_alive(pid)
    assert ctr.state("stubborn") == "stopped"
    assert "stopping" in texts(ctr, "stubborn", "appbox")
    assert not texts(ctr, "stubborn")[-1].startswith("started")


def test_container_stays_up_after_the_service_exits(ctr):
    ctr.create("once", "--run", "sh -c 'echo done-once'", launcher=False)
    ok(ctr.ab("start", "once"))
    assert wait_until(lambda: (service(ctr, "once") or {}).get("state") == "exited", timeout=20)
    st = service(ctr, "once")
    assert st["last_status"] == 0 and st["last_exit"] == "exited with status 0" and st["pid"] is None, st
    assert ctr.state("once") == "running"
    assert ok(ctr.ab("exec", "once", "echo", "still-up")) == "still-up\n"
    assert texts(ctr, "once") [-2:] == ["done-once", "exited with status 0"]
    ok(ctr.ab("stop", "once"))
    assert ctr.state("once") == "stopped"


def test_no_run_and_sessions_run_no_service(ctr):
    ctr.create("plain", launcher=False)
    ok(ctr.ab("start", "plain"))
    assert ctr.show("plain")["service"] is None
    ok(ctr.ab("stop", "plain"))
    assert ok(ctr.ab("logs", "plain")) == ""
    assert not (ctr.data / "plain" / "service.log").exists()
    # a container a session starts runs the session's command, not the service
    ctr.create("sess", "--run", "sh -c 'echo from-run'", launcher=False)
    assert ok(ctr.ab("run", "sess")) == "from-run\n"
    assert not (ctr.data / "sess" / "service.log").exists()
    assert ok(ctr.ab("logs", "sess")) == ""


def test_restart_on_failure(ctr):
    ctr.create("flaky", "--run", "sh -c 'echo try; exit 3'", launcher=False)
    ok(ctr.ab("start", "flaky", "++restart", "on-failure"))
    assert wait_until(lambda: (service(ctr, "flaky") or {}).get("restarts", 0) >= 3, timeout=30), service(ctr, "flaky")
    st = service(ctr, "flaky")
    assert st["restart"] == "on-failure" and st["last_status"] == 3, st
    lines = texts(ctr, "flaky", "appbox")
    restarting = [l for l in lines if l.startswith("exited with status 3, restarting in ")]
    assert len(restarting) >= 3, lines
    # the backoff doubles: 0.1 s, 0.2 s, 0.4 s
    assert restarting[:3] == ["exited with status 3, restarting in %s s" % d for d in ("0.1", "0.2", "0.4")]
    assert texts(ctr, "flaky", "stdout").count("try") >= 3
    # list's SERVICE column: the state, the last status, the restarts
    row = [l.split() for l in ok(ctr.ab("list")).splitlines() if l.split()[0] == "flaky"][0]
    assert re.fullmatch(r"(running|restarting:3),\d+x", row[5]), row
    ok(ctr.ab("stop", "flaky"))
    after = log_lines(ctr, "flaky")
    time.sleep(1)  # nothing may come after the stop
    assert log_lines(ctr, "flaky") == after
    assert not texts(ctr, "flaky")[-1].startswith("started"), after[-3:]


def test_on_failure_leaves_a_success_alone_and_always_restarts_it(ctr):
    ctr.create("fine", "--run", "sh -c 'echo fine'", launcher=False)
    ok(ctr.ab("config", "fine", "Service.Restart=on-failure"))
    ok(ctr.ab("start", "fine"))
    assert wait_until(lambda: (service(ctr, "fine") or {}).get("state") == "exited", timeout=20)
    assert service(ctr, "fine")["restarts"] == 0
    ok(ctr.ab("stop", "fine"))
    ok(ctr.ab("config", "fine", "Service.Restart=always"))
    ok(ctr.ab("start", "fine"))
    assert wait_until(lambda: (service(ctr, "fine") or {}).get("restarts", 0) >= 2, timeout=30)
    assert "exited with status 0, restarting in 0.1 s" in texts(ctr, "fine", "appbox")
    ok(ctr.ab("stop", "fine"))


def test_logs_since_and_lines(ctr):
    ctr.create("many", "--run", "sh -c 'for i in 1 2 3 4 5; do echo l$i; done; exec sleep 1000'", launcher=False)
    ok(ctr.ab("start", "many"))
    wait_text(ctr, "many", "l5")
    assert ok(ctr.ab("logs", "many")).splitlines() == ["l1", "l2", "l3", "l4", "l5"]
    assert ok(ctr.ab("logs", "many", "-n", "2")) == "l4\nl5\n"
    assert ok(ctr.ab("logs", "many", "--lines=1")) == "l5\n"
    assert ok(ctr.ab("logs", "many", "-n", "0")) == ""
    stamped = ok(ctr.ab("logs", "many", "-t", "-n", "2")).splitlines()
    assert [LINE_RE.match(l).group(2, 3) for l in stamped] == [("stdout", "l4"), ("stdout", "l5")]
    # --since: RFC 3339 of l3's own time, relative, Unix seconds
    l3 = next(l for l in log_lines(ctr, "many") if l.endswith(" stdout l3"))
    since = l3.split()[0]
    assert ok(ctr.ab("logs", "many", "--since", since)).splitlines() == ["l3", "l4", "l5"]
    assert ok(ctr.ab("logs", "many", "--since", "1d")).splitlines() == ["l1", "l2", "l3", "l4", "l5"]
    assert ok(ctr.ab("logs", "many", "--since=10s", "-n", "1")) == "l5\n"
    future = int(time.time()) + 3600
    assert ok(ctr.ab("logs", "many", "--since", str(future))) == ""
    assert ok(ctr.ab("logs", "many", "--since", "2020-01-01T00:00:00+01:00")).count("\n") == 5
    ok(ctr.ab("stop", "many"))


def test_logs_follow(ctr):
    ctr.create("fol", "--run",
               "sh -c 'echo first; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo second; exec sleep 1000'",
               launcher=False)
    ok(ctr.ab("start", "fol"))
    wait_text(ctr, "fol", "first")
    p = ctr.popen("logs", "fol", "-f", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    read_until(p.stdout, lambda s: "first\n" in s)
    ok(ctr.ab("exec", "fol", "touch", "/tmp/go"))
    read_until(p.stdout, lambda s: "second\n" in s)
    assert p.poll() is None  # still following
    ok(ctr.ab("stop", "fol"))
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert b"second" not in out  # each line once
    # a stopped container: what there is, and done
    assert ok(ctr.ab("logs", "fol", "--follow", timeout=30)) == "first\nsecond\n"


def test_log_rotation(ctr):
    ctr.create("chatty", "--run",
               "sh -c 'i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done; "
               "echo all-written; exec sleep 1000'", launcher=False)
    ok(ctr.ab("start", "chatty", "++log-size", "4k"))
    wait_text(ctr, "chatty", "all-written")
    files = sorted(p.name for p in (ctr.data / "chatty").iterdir() if p.name.startswith("service"))
    assert files == ["service.log", "service.log.1"], files
    for f in files:
        assert (ctr.data / "chatty" / f).stat().st_size <= 4096
    got = texts(ctr, "chatty", "stdout")
    # the newest lines, in order, none missing between the two files
    assert got[-1] == "all-written"
    nums = [int(t.split("-")[1]) for t in got[:-1]]
    assert nums == list(range(nums[0], 401)) and nums[0] > 1, nums[:3]
    assert ok(ctr.ab("logs", "chatty")).splitlines() == got
    ok(ctr.ab("stop", "chatty"))


def test_follow_across_rotation(ctr):
    """-f goes on in the new file after a rotation; every line once."""
    ctr.create("relay", "--run", "sh -c 'mkfifo /tmp/f; echo ready; while true; do cat /tmp/f; done'",
               launcher=False)
    ok(ctr.ab("start", "relay", "++log-size", "4k"))
    wait_text(ctr, "relay", "ready")
    p = ctr.popen("logs", "relay", "-f", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = read_until(p.stdout, lambda s: "ready\n" in s)
    want = ["ready"]
    for b in range(6):
        # a batch at a time, each about half the file: the follower has
        # each before the next comes, rotations in between
        script = ("i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo b%d-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done > /tmp/f"
                  % b)
        ok(ctr.ab("exec", "relay", "sh", "-c", script))
        want += ["b%d-%d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" % (b, i) for i in range(1, 41)]
        seen += read_until(p.stdout, lambda s, b=b: ("b%d-40-" % b) in seen + s)
    assert (ctr.data / "relay" / "service.log.1").exists()
    ok(ctr.ab("stop", "relay"))
    out, _ = p.communicate(timeout=30)
    assert p.returncode == 0
    assert (seen + out.decode()).splitlines() == want


def test_rm_removes_the_logs(ctr):
    ctr.create("gone", "--run", "sh -c 'echo bye'", launcher=False)
    ok(ctr.ab("start", "gone"))
    wait_text(ctr, "gone", "bye")
    ok(ctr.ab("stop", "gone"))
    assert (ctr.data / "gone" / "service.log").exists()
    ok(ctr.ab("rm", "gone"))
    assert not (ctr.data / "gone").exists()
    r = ctr.ab("logs", "gone")
    assert "no container named 'gone'" in one_line_error(r)


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def test_killed_supervisor_leaves_no_service(ctr):
    ctr.create("orphan", "--run", "sh -c 'exec sleep 1000'", launcher=False)
    ok(ctr.ab("start", "orphan", "++restart", "always"))
    assert wait_until(lambda: (service(ctr, "orphan") or {}).get("pid"), timeout=20)
    cmd = service(ctr, "orphan")["pid"]
    sup = ctr.runtime_pid("orphan", "supervisor")
    helpers = children(sup)
    assert pid_alive(cmd) and helpers
    os.kill(sup, signal.SIGKILL)
    assert wait_until(lambda: not any(pid_alive(p) for p in [cmd, *helpers]), timeout=20), \
        [p for p in [cmd, *helpers] if pid_alive(p)]
    assert ctr.state("orphan") == "stopped"
    # the next start cleans up and runs it again
    ok(ctr.ab("start", "orphan"))
    assert wait_until(lambda: (service(ctr, "orphan") or {}).get("pid"), timeout=20)
    ok(ctr.ab("stop", "orphan"))


@pytest.mark.parametrize("args,message", [
    (["start", "bad", "++restart", "sometimes"],
     "'sometimes' is not a restart policy (allowed: no, on-failure, always)"),
    (["start", "bad", "++log-size", "12"], "'12' is not a size"),
    (["logs", "bad", "--since", "yesterday"], "--since: 'yesterday' is not a time"),
    (["logs", "bad", "--since", "2026-13-01T00:00:00Z"], "--since: '2026-13-01T00:00:00Z' is not a time"),
    (["logs", "bad", "--since", "2026-11-29T07:40:00"], "is not a time"),
    (["logs", "bad", "-n", "x"], "--lines: 'x' is not a number of lines"),
    (["logs", "bad", "--lines"], "--lines: missing N"),
    (["logs", "bad", "--frob"], "--frob: unknown option"),
    (["logs", "bad", "--network", "-f"], "--network takes only --lines N"),
    (["logs"], "missing NAME"),
    (["logs", "nosuch"], "no container named 'nosuch'"),
])
def test_bad_input(ctr, args, message):
    ctr.create("bad", "--run", "sh -c 'echo x'", launcher=False)
    r = ctr.ab(*args)
    assert message in one_line_error(r), r.stderr
    assert ctr.state("bad") == "stopped"
    assert not (ctr.data / "bad" / "service.log").exists()


def test_bad_config_values(ctr):
    ctr.create("badconf", launcher=False)
    r = ctr.ab("config", "badconf", "Service.Restart=sometimes")
    assert "'sometimes' is not a restart policy" in r.stderr and r.returncode != 0, r.stderr
    r = ctr.ab("config", "badconf", "Service.LogSize=1")
    assert "'1' is not a size" in r.stderr and r.returncode != 0, r.stderr
    ok(ctr.ab("config", "badconf", "Service.LogSize=8k"))
    assert ctr.show("badconf")["log_size"] == 8192


def test_never_started_logs_are_empty(ctr):
    ctr.create("fresh", "--run", "sh -c 'echo x'", launcher=False)
    r = ctr.ab("logs", "fresh", "-f")
    assert r.returncode == 0 and r.stdout == "", r


def test_a_service_killed_at_its_memory_limit_is_named_in_the_log(ctr):
    """An OOM kill of the service is a line of the log with the limit, and
    its status is 137 (KILL)."""
    ctr.create("oom", "--memory", "32M", "--run", "tail /dev/zero", launcher=False)
    r = ctr.ab("start", "oom", timeout=30)
    if r.returncode != 0 and "delegat" in r.stderr:
        pytest.skip(f"no memory cgroup for this caller here: {r.stderr.strip()}")
    ok(r)
    try:
        wait_text(ctr, "oom", "killed: memory limit 32M reached")
        assert service(ctr, "oom")["last_status"] == 137
    finally:
        ctr.ab("stop", "oom")
