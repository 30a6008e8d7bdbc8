"""The file system inside: the host view, --root/--writable, --bind,
--ro-bind, --tmpfs, --device, and the /proc, /sys and /dev appbox mounts."""

import os
import random
import re
import stat
from pathlib import Path

import pytest

from conftest import _wrap, make_busybox_root, ok, run, user_env, user_info

# what / of the host view may hold
HOST_VIEW_TOP = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc",
                 "tmp", "run", "var", "home", "root", "proc", "sys", "dev"}

MINIMAL_DEV = {"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx",
               "shm", "mqueue", "fd", "stdin", "stdout", "stderr"}

# OCI default masked paths, plus what the issue adds
MASKED_FILES = ["/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/proc/kallsyms"]
MASKED_DIRS = ["/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware",
               "/sys/devices/virtual/powercap"]
READ_ONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


# shell: print the file system type mounted at $1 (topmost)
FSTYPE = ("fstype() { awk -v mp=\"$1\" '$5 == mp { for (i = 7; i <= NF; i++) "
          "if ($i == \"-\") { t = $(i + 1); break } } END { print t }' /proc/self/mountinfo; }; "
          "fstype")


def sh(sandbox, script, as_user, opts=(), **kw):
    return sandbox([*opts, "--", "/bin/sh", "-c", script], as_user=as_user, **kw)


def mounts(mountinfo_text):
    """{mount point: (per-mount options, fs type)} of the topmost mounts."""
    out = {}
    for line in mountinfo_text.splitlines():
        a, b = line.split(" - ", 1)
        f = a.split()
        out[f[4].replace("\\040", " ")] = (set(f[5].split(",")), b.split()[0])
    return out


def inside_mounts(sandbox, as_user, opts=()):
    return mounts(ok(sandbox([*opts, "--", "cat", "/proc/self/mountinfo"], as_user=as_user)))


def probe_name():
    return f"appbox-probe-{os.getpid()}-{random.randint(0, 10**9)}"


def caller_owned(path, u, content=None, mode=None, is_dir=False):
    """Create PATH (file with CONTENT, or directory) owned by user U."""
    path = Path(path)
    if is_dir:
        path.mkdir()
    else:
        path.write_text(content)
    os.chown(path, u.uid, u.gid)
    if mode is not None:
        os.chmod(path, mode)
    return path


def open_for_root_caller(path, run_as):
    """For a root caller, open PATH to every id, as one would to share a
    folder with the container.  A root caller's read-write binds and a
    --writable root outside appbox's store are not idmapped: with on-disk 0
    as container root, container root could create setuid-root programs on
    the host (docs/security.md, "Read-write binds as root").  Host root's
    files show as nobody there, and what container root writes belongs to
    the container's unprivileged host range."""
    if run_as == "root":
        os.chmod(path, 0o1777 if Path(path).is_dir() else 0o666)
    return path


# --------------------------------------------------------------------------
# host view


def test_host_view_top_level(sandbox, run_as):
    top = set(ok(sandbox(["--", "ls", "-A", "/"], as_user=run_as)).split())
    assert top <= HOST_VIEW_TOP, f"unexpected entries in /: {sorted(top - HOST_VIEW_TOP)}"
    assert {"usr", "etc", "tmp", "proc", "dev", "sys", "run", "var"} <= top


def test_host_private_paths_are_hidden(sandbox, run_as):
    u = user_info(run_as)
    script = ("for p in /work /srv /opt /mnt /boot /var/lib /var/log /home/abtest-nosub; do "
              "test -e $p && echo visible: $p; done; ls -A /home 2>/dev/null; true")
    out = ok(sh(sandbox, script, run_as)).split("\n")
    visible = [l for l in out if l.startswith("visible:")]
    assert not visible
    homes = {l for l in out if l and not l.startswith("visible:")}
    assert homes <= {u.name}, f"other users' homes visible: {homes}"


@pytest.mark.parametrize("opts", [[], ["--uid", "0"], ["--uid", "0", "--cap-add", "ALL"]],
                         ids=["default", "uid0", "uid0-allcaps"])
def test_usr_etc_readable_not_writable(sandbox, run_as, opts):
    name = probe_name()
    host_release = Path("/usr/lib/os-release").read_text()
    script = (f"cat /usr/lib/os-release; echo @@; "
              f"for d in /usr /usr/bin /etc /bin /sbin /lib; do "
              f"touch $d/{name} 2>/dev/null && echo WROTE $d; done; "
              f"grep -c \"^$(id -un):\" /etc/passwd")
    out = ok(sh(sandbox, script, run_as, opts))
    release, rest = out.split("@@\n")
    assert release == host_release
    assert "WROTE" not in rest, rest
    assert rest.strip() == "1"
    for d in ("/usr", "/usr/bin", "/etc"):
        assert not os.path.exists(f"{d}/{name}")
    m = inside_mounts(sandbox, run_as, opts)
    for mp in ("/usr", "/etc"):
        assert mp in m, f"{mp} is not a mount point inside"
        assert "ro" in m[mp][0], f"{mp} mounted {m[mp]}"


def test_fresh_dirs_are_empty_and_writable(sandbox, run_as):
    u = user_info(run_as)
    name = probe_name()
    Path(f"/tmp/{name}-host").write_text("host\n")
    Path(f"/var/tmp/{name}-host").write_text("host\n")
    try:
        script = (f"for d in /tmp /run /var/tmp \"$HOME\"; do "
                  f"echo \"$d: $(ls -A $d | tr '\\n' ' ')\"; "
                  f"touch $d/{name} && echo \"$d writable\"; done")
        out = ok(sh(sandbox, script, run_as)).splitlines()
        assert out == ["/tmp: ", "/tmp writable", "/run: ", "/run writable",
                       "/var/tmp: ", "/var/tmp writable", f"{u.home}: ", f"{u.home} writable"]
        for d in ("/tmp", "/run", "/var/tmp", u.home):
            assert not os.path.exists(f"{d}/{name}"), f"{d}/{name} leaked to the host"
    finally:
        os.unlink(f"/tmp/{name}-host")
        os.unlink(f"/var/tmp/{name}-host")


def test_home_is_the_callers_and_default_cwd(sandbox, run_as):
    u = user_info(run_as)
    out = ok(sh(sandbox, "echo $HOME; pwd; stat -c '%u' .", run_as)).split()
    assert out == [u.home, u.home, str(u.uid)]


# --------------------------------------------------------------------------
# --root, --writable


@pytest.mark.parametrize("opts", [[], ["--uid", "0"]], ids=["default", "uid0"])
def test_root_is_used_read_only(sandbox, run_as, busybox_root, opts):
    name = probe_name()
    before = Path(busybox_root, "etc", "passwd").read_text()
    out = ok(sh(sandbox, f"cat /etc/os-release; ls /bin/busybox; "
                         f"touch /{name} 2>/dev/null && echo WROTE; "
                         f"touch /etc/{name} 2>/dev/null && echo WROTE; true",
                run_as, ["--root", busybox_root, *opts]))
    assert "ID=mkroot" in out
    assert "/bin/busybox" in out
    assert "WROTE" not in out
    assert not os.path.exists(f"{busybox_root}/{name}")
    # appbox adds the caller to the passwd file it shows, not to the tree
    assert Path(busybox_root, "etc", "passwd").read_text() == before
    m = inside_mounts(sandbox, run_as, ["--root", busybox_root, *opts])
    assert "ro" in m["/"][0], m["/"]


def test_root_has_proc_dev_sys(sandbox, run_as, busybox_root):
    out = ok(sh(sandbox, "ls -d /proc/self /dev/null /sys/class/net; ls -A /dev | sort",
                run_as, ["--root", busybox_root]))
    assert "/proc/self" in out and "/dev/null" in out and "/sys/class/net" in out
    assert set(out.split("\n", 3)[3].split()) == MINIMAL_DEV


@pytest.mark.parametrize("opts", [[], ["--uid", "0"]], ids=["default", "uid0"])
def test_root_writable(sandbox, run_as, world_tmp, opts):
    """--writable on a root tree the caller owns: writes land in the tree."""
    u = user_info(run_as)
    root = make_busybox_root(world_tmp / "root", owner=u)
    open_for_root_caller(root, run_as)
    open_for_root_caller(Path(root, "etc"), run_as)
    name = probe_name()
    ok(sh(sandbox, f"touch /{name} && echo hi > /etc/{name} && mkdir /srv", run_as,
          ["--root", root, "--writable", *opts]))
    assert Path(root, name).exists()
    assert Path(root, "etc", name).read_text() == "hi\n"
    assert Path(root, "srv").is_dir()
    if run_as == "root":
        assert Path(root, "srv").stat().st_uid != 0, "container root wrote as host root"


# --------------------------------------------------------------------------
# --bind, --ro-bind


@pytest.fixture
def data_file(world_tmp, run_as):
    u = user_info(run_as)
    return caller_owned(world_tmp / "data.txt", u, "hello\n")


def test_bind_file_read_write(sandbox, run_as, data_file):
    open_for_root_caller(data_file, run_as)
    out = ok(sh(sandbox, f"cat {data_file}; echo more >> {data_file}", run_as,
                ["--bind", str(data_file)]))
    assert out == "hello\n"
    assert data_file.read_text() == "hello\nmore\n"


def test_bind_file_to_other_destination(sandbox, run_as, data_file):
    open_for_root_caller(data_file, run_as)
    out = ok(sh(sandbox, f"cat /data/file.txt; test -e {data_file} && echo SRC-VISIBLE; "
                         f"echo more >> /data/file.txt",
                run_as, ["--bind", f"{data_file}:/data/file.txt"]))
    assert out == "hello\n"
    assert data_file.read_text() == "hello\nmore\n"


def test_bind_from_a_private_directory(sandbox, run_as, world_tmp):
    """Files in a directory only the caller can enter (a 0700 home, /root)
    can be bound: the caller's own permissions decide, as on the host."""
    u = user_info(run_as)
    d = caller_owned(world_tmp / "private", u, is_dir=True, mode=0o700)
    f = caller_owned(d / "notes.txt", u, "private\n", mode=0o600)
    out = ok(sandbox(["--ro-bind", f"{f}:/data/notes.txt", "--", "cat", "/data/notes.txt"],
                     as_user=run_as))
    assert out == "private\n"


def test_bind_directory(sandbox, run_as, world_tmp):
    u = user_info(run_as)
    d = open_for_root_caller(caller_owned(world_tmp / "work", u, is_dir=True), run_as)
    (d / "old").write_text("old\n")
    out = ok(sh(sandbox, "cat /mnt/work/old; echo new > /mnt/work/new; ls /mnt/work", run_as,
                ["--bind", f"{d}:/mnt/work"]))
    assert out.split() == ["old", "new", "old"]
    assert (d / "new").read_text() == "new\n"
    if run_as != "root":
        assert (d / "new").stat().st_uid == u.uid
    else:
        assert (d / "new").stat().st_uid != 0, "container root wrote as host root"


@pytest.mark.parametrize("opts", [[], ["--uid", "0"], ["--uid", "0", "--cap-add", "ALL"]],
                         ids=["default", "uid0", "uid0-allcaps"])
def test_ro_bind_file_not_writable(sandbox, run_as, data_file, opts):
    out = ok(sh(sandbox, f"cat {data_file}; echo more >> {data_file} 2>/dev/null && echo WROTE; "
                         f"cat /data; echo x > /data 2>/dev/null && echo WROTE; true",
                run_as, [*opts, "--ro-bind", str(data_file), "--ro-bind", f"{data_file}:/data"]))
    assert out == "hello\nhello\n"
    assert data_file.read_text() == "hello\n"


def test_ro_bind_directory_not_writable(sandbox, run_as, world_tmp):
    u = user_info(run_as)
    d = caller_owned(world_tmp / "ro", u, is_dir=True)
    (d / "f").write_text("f\n")
    out = ok(sh(sandbox, "cat /ro/f; touch /ro/new 2>/dev/null && echo WROTE; "
                         "rm /ro/f 2>/dev/null && echo REMOVED; true",
                run_as, ["--ro-bind", f"{d}:/ro"]))
    assert out == "f\n"
    assert sorted(os.listdir(d)) == ["f"]


def test_nested_binds_in_order(sandbox, run_as, world_tmp):
    """A read-only bind below a read-write one stays read-only."""
    u = user_info(run_as)
    d = open_for_root_caller(caller_owned(world_tmp / "outer", u, is_dir=True), run_as)
    caller_owned(d / "sub", u, is_dir=True)
    out = ok(sh(sandbox, "touch /w/a && echo A; touch /w/sub/b 2>/dev/null && echo B; true",
                run_as, ["--bind", f"{d}:/w", "--ro-bind", f"{d}/sub:/w/sub"]))
    assert out.split() == ["A"]
    assert (d / "a").exists() and not (d / "sub" / "b").exists()


def test_ro_bind_on_foreign_root(sandbox, run_as, busybox_root, data_file):
    before = Path(busybox_root, "etc", "os-release").read_text()
    out = ok(sandbox(["--root", busybox_root, "--ro-bind", f"{data_file}:/etc/os-release",
                      "--", "cat", "/etc/os-release"], as_user=run_as))
    assert out == "hello\n"
    assert Path(busybox_root, "etc", "os-release").read_text() == before


@pytest.mark.parametrize("kind", ["ro-bind", "bind", "tmpfs"])
def test_missing_destination_in_read_only_root(sandbox, run_as, busybox_root, data_file, kind):
    """A destination that does not exist in a read-only --root: appbox may
    make room for it without touching the tree, or refuse with one clear
    line (exit 125); it never creates it in the user's tree."""
    opt = [f"--{kind}", "/newdir/f" if kind == "tmpfs" else f"{data_file}:/newdir/f"]
    r = sandbox(["--root", busybox_root, *opt, "--", "ls", "/newdir"], as_user=run_as)
    assert not os.path.exists(f"{busybox_root}/newdir"), "appbox wrote into the --root tree"
    if r.returncode != 0:
        assert r.returncode == 125, r
        # (a root caller is warned first that its read-write bind is not
        # the container's to write: issue 10)
        lines = [l for l in r.stderr.splitlines() if not l.startswith("appbox: warning:")]
        assert len(lines) == 1, r.stderr
        line = lines[0]
        assert "/newdir/f" in line, line
        # said once, and intact
        assert line.count("cannot bind") <= 1 and line.count("--tmpfs") <= 1, line
        assert line.count("Read-only file system") <= 1, line
        assert re.search(r"(^|[\s:])[Rr]ead-only file system", line) or "read-only" in line, line


# --------------------------------------------------------------------------
# --tmpfs


def test_tmpfs_new_directory(sandbox, run_as):
    out = ok(sh(sandbox, "ls -A /data; touch /data/x && echo ok; "
                         + FSTYPE + " /data",
                run_as, ["--tmpfs", "/data"]))
    assert out.split() == ["ok", "tmpfs"]


def test_tmpfs_hides_host_content(sandbox, run_as):
    out = ok(sh(sandbox, "ls -A /usr/share | wc -l; touch /usr/share/x && echo ok", run_as,
                ["--tmpfs", "/usr/share"]))
    assert out.split() == ["0", "ok"]


def test_tmpfs_on_read_only_root(sandbox, run_as, busybox_root):
    out = ok(sh(sandbox, "touch /home/x && echo ok; touch /x 2>/dev/null && echo WROTE; true",
                run_as, ["--root", busybox_root, "--tmpfs", "/home"]))
    assert out.split() == ["ok"]


# --------------------------------------------------------------------------
# --device


def test_device(sandbox, appbox_bin, run_as, world_tmp):
    dev = "/dev/net/tun"
    if not (os.path.exists(dev) and stat.S_ISCHR(os.stat(dev).st_mode)):
        pytest.skip(f"{dev} does not exist on this host")
    out = ok(sh(sandbox, f"test -e {dev} && echo PRESENT; true", run_as))
    assert "PRESENT" not in out
    script = f"test -c {dev} && echo CHR; exec 3<>{dev} && echo OPENED"
    st = os.stat(dev)
    if st.st_mode & 0o006 == 0o006:
        out = ok(sh(sandbox, script, run_as, ["--device", dev]))
    else:
        # No udev here: the node is 0600, which neither the user nor
        # container root (not host root) may open.  As a desktop has it, a
        # 0666 node, bound over the host's in a private mount namespace.
        node = world_tmp / "tun"
        os.mknod(node, stat.S_IFCHR | 0o666, st.st_rdev)
        os.chmod(node, 0o666)
        inner = _wrap([appbox_bin, "sandbox", "--device", dev, "--", "/bin/sh", "-c", script], run_as)
        out = ok(run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                      'mount --bind "$0" /dev/net/tun && exec "$@"', str(node), *inner],
                     env=user_env(run_as)))
    assert out.split() == ["CHR", "OPENED"]


# --------------------------------------------------------------------------
# /proc, /sys, /dev


@pytest.mark.parametrize("opts", [[], ["--uid", "0", "--cap-add", "ALL"]],
                         ids=["default", "uid0-allcaps"])
def test_proc_masked_paths(sandbox, run_as, opts):
    files = [f for f in MASKED_FILES if os.path.exists(f)]
    dirs = [d for d in MASKED_DIRS if os.path.isdir(d)]
    script = ("for f in " + " ".join(files) + "; do echo \"$f $(cat $f 2>/dev/null | wc -c)\"; done; "
              "for d in " + " ".join(dirs) + "; do echo \"$d $(ls -A $d 2>/dev/null | wc -l)\"; done")
    out = ok(sh(sandbox, script, run_as, opts))
    leaked = [l for l in out.splitlines() if not l.endswith(" 0")]
    assert not leaked, f"masked paths show content: {leaked}"


def test_proc_read_only_paths(sandbox, run_as):
    m = inside_mounts(sandbox, run_as)
    for p in READ_ONLY:
        if os.path.exists(p):
            assert p in m, f"{p} is neither masked nor remounted read-only"
            assert "ro" in m[p][0], f"{p}: {m[p]}"
    # even root with every capability cannot write them (own netns and
    # utsns: harmless if it could)
    out = ok(sh(sandbox, "echo 1 > /proc/sys/net/ipv4/ip_forward 2>/dev/null && echo WROTE1; "
                         "echo x > /proc/sys/kernel/hostname 2>/dev/null && echo WROTE2; "
                         "uname -n", run_as, ["--uid", "0", "--cap-add", "ALL"]))
    assert out.split() == ["appbox"]


def test_proc_shows_only_the_sandbox(sandbox, run_as):
    out = ok(sh(sandbox, "ls /proc | grep -E '^[0-9]+$'", run_as))
    pids = sorted(int(x) for x in out.split())
    assert pids[:2] == [1, 2] and len(pids) <= 5, pids


@pytest.mark.parametrize("opts", [[], ["--uid", "0", "--cap-add", "ALL"]],
                         ids=["default", "uid0-allcaps"])
def test_sys_read_only(sandbox, run_as, opts):
    out = ok(sh(sandbox, "ls /sys/class/net; touch /sys/probe 2>/dev/null && echo WROTE; "
                         "echo 1400 > /sys/class/net/lo/mtu 2>/dev/null && echo WROTE; true",
                run_as, opts))
    assert out.split() == ["lo"]
    m = inside_mounts(sandbox, run_as, opts)
    assert "ro" in m["/sys"][0], m["/sys"]


def test_dev_is_minimal(sandbox, run_as):
    out = ok(sandbox(["--", "ls", "-A", "/dev"], as_user=run_as))
    assert set(out.split()) == MINIMAL_DEV


def test_dev_nodes_work(sandbox, run_as):
    script = ("for d in null zero full random urandom tty; do stat -c '%n %F' /dev/$d; done; "
              "echo x > /dev/null && echo null-ok; "
              "head -c 4 /dev/zero | od -An -tx1 | tr -d ' \\n'; echo; "
              "head -c 16 /dev/urandom | wc -c; "
              "echo x > /dev/full 2>/dev/null || echo full-ENOSPC; "
              "touch /dev/shm/x && echo shm-ok; "
              "test -c /dev/pts/ptmx -o -c /dev/ptmx && echo ptmx-ok; "
              "readlink /dev/fd /dev/stdin /dev/stdout /dev/stderr; "
              + FSTYPE + " /dev/mqueue")
    out = ok(sh(sandbox, script, run_as)).splitlines()
    for d in ("null", "zero", "full", "random", "urandom", "tty"):
        assert f"/dev/{d} character special file" in out
    rest = out[6:]
    assert rest == ["null-ok", "00000000", "16", "full-ENOSPC", "shm-ok", "ptmx-ok",
                    "/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2",
                    "mqueue"]
