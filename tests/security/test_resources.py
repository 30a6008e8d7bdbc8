"""Bounded resources by default (issue 9, item 6): every tmpfs appbox
mounts has a size (1 GiB by default, /run 64 MiB; --tmpfs-size, and
--tmpfs DST:size=SIZE for one), and the container's processes are limited
(4096 by default; --pids), so filling /tmp or a fork bomb inside stops at
the container's limits.  As root and as an ordinary user.  The process
limit is the container's pids cgroup where it has one (root here), else
RLIMIT_NPROC (issue 13; tests/integration/test_limits.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from conftest import ok, wait_until  # noqa: E402
from containers_support import ctr, one_line_error  # noqa: E402,F401 (fixture)


def _kib(out):
    return int(out.split()[1])


def pids_by_cgroup(run_as):
    """Whether RUN_AS's containers get a pids cgroup (root, where the
    controller is there; the ordinary user here has no delegated group)."""
    if run_as != "root":
        return False
    cg = Path("/sys/fs/cgroup")
    if (cg / "cgroup.controllers").exists():
        return "pids" in (cg / "cgroup.controllers").read_text().split()
    return (cg / "pids" / "cgroup.procs").exists()


def max_processes(out):
    return next(l.split()[2] for l in out.splitlines() if l.startswith("Max processes"))


def test_every_tmpfs_has_a_size(sandbox, run_as):
    r = sandbox(["--", "sh", "-c", "df -k /tmp /var/tmp /dev/shm /run \"$HOME\" | tail -n +2"], as_user=run_as)
    assert r.returncode == 0, r.stderr
    sizes = {line.split()[-1]: _kib(line) for line in r.stdout.splitlines()}
    assert sizes["/tmp"] == sizes["/var/tmp"] == sizes["/dev/shm"] == 1024 * 1024, sizes
    assert sizes["/run"] == 64 * 1024, sizes
    assert all(v == 1024 * 1024 for k, v in sizes.items() if k not in ("/tmp", "/var/tmp", "/dev/shm", "/run")), sizes


def test_filling_a_tmpfs_stops_at_its_size(sandbox, run_as):
    r = sandbox(["--tmpfs-size", "8m", "--tmpfs", "/scratch:size=4m", "--", "sh", "-c",
                 "dd if=/dev/zero of=/tmp/fill bs=1M count=32 2>&1; df -k /tmp /scratch | tail -n +2; "
                 "dd if=/dev/zero of=/scratch/fill bs=1M count=32 2>&1"], as_user=run_as)
    assert "No space left on device" in r.stdout, r.stdout
    lines = [l for l in r.stdout.splitlines() if l.startswith("none") or l.startswith("tmpfs")]
    assert [_kib(l) for l in lines] == [8 * 1024, 4 * 1024], r.stdout


FORK_BOMB = """
import os, signal, time
kids = []
for _ in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
print("forked", len(kids))
for k in kids:
    os.kill(k, signal.SIGKILL)
"""


def test_a_fork_bomb_stops_at_the_limit(sandbox, run_as):
    r = sandbox(["--pids", "40", "--", "python3", "-c", FORK_BOMB], as_user=run_as, timeout=120)
    assert r.returncode == 0, r.stderr
    forked = int(r.stdout.split()[-1])
    assert forked < 40, r.stdout
    # and the default limit is in force without the option (RLIMIT_NPROC
    # where no pids cgroup counts the container's processes)
    if not pids_by_cgroup(run_as):
        r = sandbox(["--", "sh", "-c", "cat /proc/self/limits"], as_user=run_as)
        assert max_processes(r.stdout) == "4096", r.stdout


def test_bad_values_are_refused(sandbox, run_as):
    for args, message in ((["--pids", "0"], "'0' is not a number of processes"),
                          (["--pids", "many"], "'many' is not a number of processes"),
                          (["--tmpfs-size", "1t"], "'1t' is not a size"),
                          (["--tmpfs-size", "0"], "'0' is not a size"),
                          (["--tmpfs", "/x:size=huge"], "'huge' is not a size"),
                          (["--tmpfs", "/x:mode=777"], "is not DST or DST:size=SIZE")):
        r = sandbox([*args, "--", "true"], as_user=run_as)
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)


def test_named_container_limits_shown_and_kept(ctr):
    ctr.create("lim", "--pids", "64", "--tmpfs-size", "16m", base="host")
    info = ctr.show("lim")
    assert info["pids_limit"] == 64 and info["tmpfs_size"] == 16 << 20, info
    assert "Pids=64" in ctr.conf("lim").read_text()
    cgroup = pids_by_cgroup(ctr.as_user)
    # the limit as the container has it: its pids cgroup's pids.max, or RLIMIT_NPROC
    probe = "grep 'Max processes' /proc/self/limits"
    out = ok(ctr.ab("run", "lim", "++cmd", "sh", "-c", "df -k /tmp | tail -1; " + probe))
    assert _kib(out.splitlines()[0]) == 16 * 1024, out
    if not cgroup:
        assert out.split()[-2] == "64", out
    # ++ overrides them for one start
    if cgroup:
        p = ctr.popen("run", "lim", "++pids", "32", "++cmd", "sleep", "30")
        try:
            assert wait_until(lambda: ctr.state("lim") == "running" and len(ctr.show("lim")["cgroups"]) > 0,
                              timeout=15)
            pids = [g for g in ctr.show("lim")["cgroups"] if Path(g, "pids.max").exists()]
            assert pids and Path(pids[0], "pids.max").read_text().strip() == "32", pids
        finally:
            p.kill()
            p.wait()
    else:
        out = ok(ctr.ab("run", "lim", "++pids", "32", "++cmd", "grep", "Max processes", "/proc/self/limits"))
        assert out.split()[3] == "32", out
    r = ctr.ab("config", "lim", "Resources.Pids=lots")
    assert r.returncode == 2 and "'lots' is not a number of processes" in one_line_error(r)
