"""Shared fixtures and helpers for appbox's Python test suites
(tests/integration, tests/security).

Names other suites rely on (keep them stable):

  fixtures  appbox_bin, escape_bin, run_as, busybox_root, test_users,
            sandbox, world_tmp, host_snapshot
  helpers   run(cmd, as_user="root", input=None, timeout=60, **kw)
            popen(cmd, as_user="root", **kw)
            user_info(as_user) -> User(name, uid, gid, group, home)
            require_root(reason), ok(completed, code=0) -> stdout
            make_busybox_root(dest, owner=None)
            run_isolated(cmd, as_user, keep=()) -> (rc, out, err, leftovers)
            find_procs(marker, argv0), descendants(pid), mountinfo()

Import them with `from conftest import run, user_info, ...` (tests/ has
no other conftest.py, so the name is unambiguous).

as_user is "root", "user" (the unprivileged `abtest`, which has an
/etc/subuid + /etc/subgid range) or "nosub" (`abtest-nosub`, without one).
When the suite does not run as root, "user" means the invoking user and the
rest skip.

The tests need a built tree (build/appbox); scripts/test.sh builds it.
"""

import collections
import fcntl
import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# APPBOX_BUILD (or the older APPBOX_BUILD_DIR): the build dir, relative to
# the repository unless absolute, so parallel builds can be tested apart.
BUILD = REPO / (os.environ.get("APPBOX_BUILD_DIR") or os.environ.get("APPBOX_BUILD") or "build")
IS_ROOT = os.geteuid() == 0

TEST_USER = "abtest"
NOSUB_USER = "abtest-nosub"
SUBID_START = 200000
SUBID_COUNT = 65536

# Shared by concurrent pytest sessions on the same machine (the integration
# and security suites may run at the same time): the test users are created
# by the first session and removed by the last one.
STATE_DIR = Path("/run/appbox-tests")
LOCK_FILE = Path("/run/appbox-tests.lock")

User = collections.namedtuple("User", "name uid gid group home")

SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def require_root(reason="this test needs root (it runs as root or creates users)"):
    if not IS_ROOT:
        pytest.skip(f"not running as root: {reason}")


# --------------------------------------------------------------------------
# test users


def _read_lines(path):
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


def _write_lines_atomic(path, lines):
    path = Path(path)
    st = path.stat() if path.exists() else None
    tmp = path.with_name(f".{path.name}.appbox-tests.{os.getpid()}")
    tmp.write_text("".join(l + "\n" for l in lines))
    if st:
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        os.chown(tmp, st.st_uid, st.st_gid)
    else:
        os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _subid_lines_for(path, name, uid):
    keys = {name, str(uid)}
    return [l for l in _read_lines(path) if l.split(":", 1)[0] in keys]


def _drop_subid_lines(path, name, uid):
    keys = {name, str(uid)}
    lines = _read_lines(path)
    kept = [l for l in lines if l.split(":", 1)[0] not in keys]
    if kept != lines:
        _write_lines_atomic(path, kept)


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class _StateLock:
    """flock on LOCK_FILE; the last session removes it, so re-check after
    locking that the path still names the file we locked."""

    def __enter__(self):
        while True:
            self.fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            try:
                if os.stat(LOCK_FILE).st_ino == os.fstat(self.fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(self.fd)
        STATE_DIR.mkdir(mode=0o700, exist_ok=True)
        (STATE_DIR / "sessions").mkdir(mode=0o700, exist_ok=True)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _live_sessions():
    live = []
    for f in (STATE_DIR / "sessions").iterdir():
        try:
            pid = int(f.name)
        except ValueError:
            continue
        if _pid_alive(pid):
            live.append(pid)
        else:
            f.unlink(missing_ok=True)
    return live


def _record(name):
    return STATE_DIR / name


def _setup_users():
    """Create abtest (with subuid/subgid range) and abtest-nosub (without)."""
    with _StateLock():
        _live_sessions()
        (STATE_DIR / "sessions" / str(os.getpid())).touch()

        for name, want_range in ((TEST_USER, True), (NOSUB_USER, False)):
            if not _user_exists(name):
                subprocess.run(["useradd", "-m", "-s", "/bin/bash", "-U", name],
                               check=True, capture_output=True)
                _record(f"created-user-{name}").touch()
                # Debian's useradd may allocate a subordinate range on its
                # own; our users get exactly the range we choose (or none).
                u = pwd.getpwnam(name)
                for f in ("/etc/subuid", "/etc/subgid"):
                    _drop_subid_lines(f, name, u.pw_uid)
            u = pwd.getpwnam(name)
            for f in ("/etc/subuid", "/etc/subgid"):
                have = _subid_lines_for(f, name, u.pw_uid)
                if want_range and not have:
                    lines = _read_lines(f) + [f"{name}:{SUBID_START}:{SUBID_COUNT}"]
                    _write_lines_atomic(f, lines)
                    _record(f"added-{Path(f).name}-{name}").touch()
                elif not want_range and have:
                    raise RuntimeError(f"{name} has a range in {f} ({have}); "
                                       f"the tests need it without one")
            rt = Path(f"/run/user/{u.pw_uid}")
            if not rt.exists():
                rt.parent.mkdir(mode=0o755, exist_ok=True)
                rt.mkdir(mode=0o700)
                os.chown(rt, u.pw_uid, u.pw_gid)
                _record(f"created-rundir-{name}").touch()


def _kill_user_processes(uid):
    """Kill, by pid, what the test user left running (all started by tests)."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    os.kill(int(d), signal.SIGKILL)
            except OSError:
                pass


def _teardown_users():
    with _StateLock():
        (STATE_DIR / "sessions" / str(os.getpid())).unlink(missing_ok=True)
        if _live_sessions():
            return  # another session still uses the users
        for name in (TEST_USER, NOSUB_USER):
            try:
                u = pwd.getpwnam(name)
            except KeyError:
                u = None
            if u and _record(f"created-rundir-{name}").exists():
                shutil.rmtree(f"/run/user/{u.pw_uid}", ignore_errors=True)
            for f in ("/etc/subuid", "/etc/subgid"):
                if u and _record(f"added-{Path(f).name}-{name}").exists():
                    _drop_subid_lines(f, name, u.pw_uid)
            if u and _record(f"created-user-{name}").exists():
                # Only processes of our own test user can be left; reap them
                # so userdel succeeds.
                _kill_user_processes(u.pw_uid)
                for _ in range(50):
                    r = subprocess.run(["userdel", "-r", name], capture_output=True, text=True)
                    if r.returncode in (0, 6):
                        break
                    time.sleep(0.1)
                for f in ("/etc/subuid", "/etc/subgid"):
                    _drop_subid_lines(f, name, u.pw_uid)
            for rec in STATE_DIR.glob(f"*-{name}"):
                rec.unlink(missing_ok=True)
        # the last session leaves nothing behind
        shutil.rmtree(STATE_DIR, ignore_errors=True)
        LOCK_FILE.unlink(missing_ok=True)


@pytest.fixture(scope="session", autouse=True)
def test_users():
    """Session-wide: the unprivileged test users exist (root only)."""
    if not IS_ROOT:
        print(f"\nappbox tests: not root, so {TEST_USER}/{NOSUB_USER} are not created; "
              "root-only tests are skipped and 'user' runs as the invoking user", file=sys.stderr)
        yield None
        return
    _setup_users()
    try:
        yield {"user": user_info("user"), "nosub": user_info("nosub")}
    finally:
        _teardown_users()


def _user_name(as_user):
    if as_user in ("user", TEST_USER):
        return TEST_USER if IS_ROOT else pwd.getpwuid(os.getuid()).pw_name
    if as_user in ("nosub", NOSUB_USER):
        return NOSUB_USER
    if as_user == "root":
        return "root"
    raise ValueError(f"unknown as_user {as_user!r}")


def user_info(as_user):
    """The identity the command runs as: User(name, uid, gid, group, home)."""
    if as_user == "root":
        require_root()
    elif as_user in ("nosub", NOSUB_USER):
        require_root(f"{NOSUB_USER} is created by the suite")
    p = pwd.getpwnam(_user_name(as_user))
    return User(p.pw_name, p.pw_uid, p.pw_gid, grp.getgrgid(p.pw_gid).gr_name, p.pw_dir)


# --------------------------------------------------------------------------
# running commands as root or as a test user


def store_env(data, runtime, home):
    """The environment that points appbox at a test's own data directory,
    runtime directory and home (launchers in HOME/.local/bin, on PATH)."""
    return {"APPBOX_DATA_DIR": str(data), "APPBOX_RUNTIME_DIR": str(runtime), "HOME": str(home),
            "PATH": f"{home}/.local/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}


def user_env(as_user, extra=None):
    """A clean login-like environment for AS_USER."""
    u = user_info(as_user)
    env = {
        "PATH": SANDBOX_PATH,
        "HOME": u.home,
        "USER": u.name,
        "LOGNAME": u.name,
        "SHELL": "/bin/sh",
        "LANG": "C.UTF-8",
    }
    rt = f"/run/user/{u.uid}"
    if u.uid != 0 and os.path.isdir(rt):
        env["XDG_RUNTIME_DIR"] = rt
    if extra:
        env.update(extra)
    return env


def as_user_argv(cmd, as_user):
    """CMD prefixed so that it runs as AS_USER (setpriv, which execs)."""
    return _wrap(cmd, as_user)


def _wrap(cmd, as_user, tun=None):
    cmd = [str(c) for c in cmd]
    u = user_info(as_user)
    if u.uid != os.geteuid():
        require_root()
        cmd = ["setpriv", "--reuid", str(u.uid), "--regid", str(u.gid), "--init-groups",
               "--inh-caps=-all", "--"] + cmd
    if tun:
        # a private mount namespace where TUN (the tun_node fixture) is
        # /dev/net/tun; unshare and sh exec, so the pid is CMD's own
        require_root("a private /dev/net/tun is bound as root")
        cmd = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
               'mount --bind "$0" /dev/net/tun && exec "$@"', tun] + cmd
    return cmd


def run(cmd, as_user="root", input=None, timeout=60, env=None, extra_env=None,
        cwd="/", text=True, tun=None, **kw):
    """Run CMD as AS_USER with a clean environment; returns CompletedProcess
    (stdout/stderr captured, text by default).  The setpriv wrapper execs,
    so the process is CMD itself.  TUN: the tun_node fixture's node, bound
    as /dev/net/tun for CMD (apt runs: pasta)."""
    argv = _wrap(cmd, as_user, tun)
    if env is None:
        env = user_env(as_user, extra_env)
    kw.setdefault("stdin", None if input is not None else subprocess.DEVNULL)
    if kw["stdin"] is None:
        del kw["stdin"]
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    try:
        return subprocess.run(argv, input=input, timeout=timeout, env=env, cwd=cwd,
                              text=text, **kw)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"timed out after {timeout}s: {argv}\nstdout: {e.stdout!r}\nstderr: {e.stderr!r}")


def popen(cmd, as_user="root", env=None, extra_env=None, cwd="/", tun=None, **kw):
    """Start CMD as AS_USER (Popen); the returned pid is CMD's own."""
    argv = _wrap(cmd, as_user, tun)
    if env is None:
        env = user_env(as_user, extra_env)
    return subprocess.Popen(argv, env=env, cwd=cwd, **kw)


@pytest.fixture(params=["root", "user"])
def run_as(request):
    """'root' or 'user': the caller identity under test."""
    if request.param == "root":
        require_root("the root-caller variant needs root")
    return request.param


# --------------------------------------------------------------------------
# binaries and roots


@pytest.fixture(scope="session")
def _bin_dir():
    appbox = BUILD / "appbox"
    if not appbox.is_file():
        pytest.fail(f"{appbox} does not exist: build first (scripts/test.sh, or "
                    f"`meson setup build && ninja -C build`)", pytrace=False)
    d = Path(tempfile.mkdtemp(prefix="appbox-bin-"))
    os.chmod(d, 0o755)
    shutil.copy2(appbox, d / "appbox")
    os.chmod(d / "appbox", 0o755)
    # appbox finds its image unpacker and X cookie helper next to itself
    for helper in ("appbox-unpack", "appbox-x11auth"):
        if (BUILD / helper).is_file():
            shutil.copy2(BUILD / helper, d / helper)
            os.chmod(d / helper, 0o755)
    # the NSS module (test_nss.py loads it with LD_LIBRARY_PATH)
    if (BUILD / "libnss_appbox.so.2").is_file():
        shutil.copy2(BUILD / "libnss_appbox.so.2", d / "libnss_appbox.so.2")
        os.chmod(d / "libnss_appbox.so.2", 0o755)
    esc = BUILD / "tests" / "security" / "ab-escape"
    if esc.is_file():
        shutil.copy2(esc, d / "ab-escape")
        os.chmod(d / "ab-escape", 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def appbox_bin(_bin_dir):
    """Path (str) of a world-readable copy of build/appbox."""
    return str(_bin_dir / "appbox")


@pytest.fixture(scope="session")
def escape_bin(_bin_dir):
    """Path (str) of a world-readable copy of the static escape helper."""
    p = _bin_dir / "ab-escape"
    if not p.is_file():
        pytest.skip("build/tests/security/ab-escape is not built")
    return str(p)


def make_busybox_root(dest, owner=None):
    """Create a busybox root at DEST (tests/lib/mkroot.sh); chown -R to OWNER
    (a User) when given."""
    r = subprocess.run(["sh", str(REPO / "tests" / "lib" / "mkroot.sh"), str(dest)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"mkroot.sh failed: {r.stderr}")
    os.chmod(dest, 0o755)
    if owner is not None and owner.uid != os.geteuid():
        subprocess.run(["chown", "-R", "-h", f"{owner.uid}:{owner.gid}", str(dest)], check=True)
    return str(dest)


@pytest.fixture(scope="session")
def busybox_root():
    """Path (str) of a minimal busybox root, owned by root, readable by all."""
    d = Path(tempfile.mkdtemp(prefix="appbox-root-"))
    os.chmod(d, 0o755)
    yield make_busybox_root(d / "root")
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def tun_node():
    """A /dev/net/tun node of mode 0666 (as Debian's udev makes it), to
    bind over the host's in a private mount namespace (with_tun): these
    machines have no udev and keep theirs 0600, and pasta must open it as
    the container's root.  The host's own node is never changed.  Pass it
    as run(..., tun=tun_node)."""
    require_root("the tun node is made with mknod")
    d = Path(tempfile.mkdtemp(prefix="appbox-tun-"))
    os.chmod(d, 0o755)
    node = d / "tun"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(10, 200))
    os.chmod(node, 0o666)
    yield str(node)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def world_tmp():
    """A fresh temporary directory (Path) that every user can enter."""
    d = Path(tempfile.mkdtemp(prefix="appbox-test-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def sandbox(appbox_bin):
    """sandbox(args, as_user="root", **kw): run `appbox sandbox ARGS...`."""
    def _sandbox(args, as_user="root", **kw):
        return run([appbox_bin, "sandbox", *args], as_user=as_user, **kw)
    return _sandbox


# --------------------------------------------------------------------------
# host state: nothing of appbox's own may remain


def mountinfo():
    """The host's mount table as a set of (mount point, fs type, source)."""
    out = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a, b = line.split(" - ", 1)
            fields, tail = a.split(), b.split()
            out.add((fields[4], tail[0], tail[1]))
    return out


def processes_matching(marker):
    """Host pids whose command line contains MARKER (bytes or str)."""
    if isinstance(marker, str):
        marker = marker.encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if marker in f.read():
                    pids.append(int(d))
        except OSError:
            pass
    return pids


def find_procs(marker, argv0=None):
    """Host pids whose command line contains MARKER and, when given, whose
    argv[0] ends with ARGV0 (to tell the sandboxed command from appbox,
    whose own argv contains the marker too)."""
    out = []
    for pid in processes_matching(marker):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                a0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue
        if argv0 is None or a0 == argv0 or a0.endswith("/" + argv0):
            out.append(pid)
    return out


def descendants(pid):
    """Host pids below PID (via /proc/PID/task/*/children), recursively."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def pid_alive(pid):
    """PID exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ok(r, code=0):
    """Assert that CompletedProcess R exited with CODE; return its stdout."""
    assert r.returncode == code, (f"exit status {r.returncode}, expected {code}\n"
                                  f"args: {r.args}\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r.stdout


def wait_until(pred, timeout=5.0, interval=0.05):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(interval)


ISOLATION_REPORT = "@@APPBOX-TEST-REPORT@@"

# Runs as root in a new mount namespace: fresh tmpfs on /tmp, /var/tmp,
# /dev/shm and /run (with the user's runtime directory), the directories in
# KEEP bound back in place, then the command (already wrapped to run as the
# test user), then a report on stderr of mounts and files it left behind.
_ISOLATION_WRAPPER = r'''
set -u
uid=$1 rt=$2 n=$3; shift 3
keep=("${@:1:n}"); shift "$n"
fds=()
for k in "${keep[@]}"; do exec {fd}<"$k" || exit 99; fds+=("$fd"); done
for d in /tmp /var/tmp /dev/shm; do
    mount -t tmpfs -o mode=1777 appbox-test "$d" || exit 99
done
mount -t tmpfs -o mode=755 appbox-test /run || exit 99
if [ "$rt" = 1 ]; then
    mkdir -p -m 755 /run/user && mkdir -m 700 "/run/user/$uid" && chown "$uid:$uid" "/run/user/$uid" || exit 99
fi
for i in "${!keep[@]}"; do
    mkdir -p "${keep[$i]}" &&
        mount --no-canonicalize --bind "/proc/self/fd/${fds[$i]}" "${keep[$i]}" || exit 99
    eval "exec ${fds[$i]}<&-"
done
files() {
    find /tmp /var/tmp /dev/shm /run -mindepth 1 | while read -r f; do
        skip=
        for k in "${keep[@]}"; do
            case "$f" in "$k"/*) skip=1 ;; esac  # what KEEP holds
        done
        [ -n "$skip" ] || echo "$f"
    done | sort
}
before=$(cut -d' ' -f5- /proc/self/mountinfo)
before_files=$(files)
"$@"
rc=$?
after=$(cut -d' ' -f5- /proc/self/mountinfo)
printf '\n%s\n' "@@APPBOX-TEST-REPORT@@" >&2
[ "$before" = "$after" ] || { echo "MOUNTS CHANGED:"; diff <(echo "$before") <(echo "$after"); } >&2
comm -13 <(echo "$before_files") <(files) | sed 's/^/LEFT /' >&2
exit $rc
'''


def run_isolated(cmd, as_user, keep=(), runtime_dir=True, timeout=30, extra_env=None):
    """Run CMD as AS_USER in a private mount namespace with fresh /tmp,
    /var/tmp, /dev/shm and /run (and, with RUNTIME_DIR, the user's
    XDG_RUNTIME_DIR); KEEP: host directories (e.g. below /tmp) the command
    needs.  Returns (status, stdout, stderr, report): REPORT lists mounts
    and files the command left behind ("" when none)."""
    require_root("the leftover check uses a private mount namespace")
    u = user_info(as_user)
    keep = [str(k) for k in keep]
    for c in cmd:
        c = str(c)
        if c.startswith("/tmp/") and not any(c.startswith(k + "/") or c == k for k in keep):
            keep.append(os.path.dirname(c))
    env = user_env(as_user, extra_env)
    if runtime_dir and u.uid != 0:
        env["XDG_RUNTIME_DIR"] = f"/run/user/{u.uid}"
    else:
        env.pop("XDG_RUNTIME_DIR", None)
    inner = as_user_argv(cmd, as_user)
    r = run(["unshare", "--mount", "--propagation", "private", "--", "/bin/bash", "-c",
             _ISOLATION_WRAPPER, "wrapper", str(u.uid), "1" if runtime_dir and u.uid else "0",
             str(len(keep)), *keep, *inner], as_user="root", env=env, timeout=timeout)
    assert ISOLATION_REPORT in r.stderr, f"isolation wrapper failed ({r.returncode}): {r.stderr}"
    err, report = r.stderr.split(f"\n{ISOLATION_REPORT}\n", 1)
    return r.returncode, r.stdout, err, report


@pytest.fixture
def host_snapshot():
    """Check, after the test, that the host's mount table is unchanged."""
    before = mountinfo()
    yield before
    wait_until(lambda: not (mountinfo() - before), timeout=2)
    new = mountinfo() - before
    assert not new, f"mounts left on the host: {sorted(new)}"
