"""The security suite: a static helper (ab-escape, tests/security/escape.c)
runs inside `appbox sandbox` and tries one way out per test, as root and as
unprivileged users (with and without a subordinate id range), as the
caller's own identity and as root inside (--uid 0).  Each test asserts
what a user would check: the attempt fails, and the host is unchanged
(the terminal got no input, the host process is alive and untraced, the
host directory is empty, the appbox binary is byte-for-byte and mode-for-
mode what it was)."""

import fcntl
import hashlib
import os
import platform
import pty
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import termios
import time
import tty
from pathlib import Path

import pytest

from conftest import make_busybox_root, popen, require_root, run, user_env, user_info, as_user_argv

ESC = "/ab-escape"
X86_64 = platform.machine() == "x86_64"
EPERM = os.strerror(1)   # "Operation not permitted": the filter's answer
ENOSYS = os.strerror(38)  # "Function not implemented"


@pytest.fixture(params=["root", "user", "nosub"])
def caller(request):
    """Who runs appbox: root, abtest (subuid range: 65536-id map) or
    abtest-nosub (no range: single-id map)."""
    if request.param != "user":
        require_root(f"the {request.param} caller variant needs root")
    return request.param


@pytest.fixture(params=["own-id", "uid0"])
def inside(request):
    """The identity inside: the caller's own, or root (--uid 0), which has a
    few capabilities of its own user namespace and must still be boxed."""
    return request.param


def inside_opts(inside):
    return ("--uid", "0") if inside == "uid0" else ()


def attempt(appbox_bin, escape_bin, as_user, test, *args, extra=(), **kw):
    cmd = [appbox_bin, "sandbox", "--ro-bind", f"{escape_bin}:{ESC}", *extra, "--", ESC, test, *args]
    return run(cmd, as_user=as_user, **kw)


def results(out):
    """[(name, verdict, detail)] of the RESULT lines in OUT."""
    if isinstance(out, bytes):
        out = out.decode(errors="replace")
    found = []
    for line in out.splitlines():
        m = re.match(r"RESULT (\S+) (BLOCKED|ESCAPED) (.*)", line.strip())
        if m:
            found.append(m.groups())
    return found


def assert_blocked(r, test):
    res = results(r.stdout)
    assert res, f"{test}: no result (rc {r.returncode}): {r.stdout!r} {r.stderr!r}"
    escaped = [f"{n}: {d}" for n, v, d in res if v == "ESCAPED"]
    assert not escaped, f"{test} escaped:\n" + "\n".join(escaped)
    assert r.returncode == 0, f"{test}: rc {r.returncode}: {r.stdout} {r.stderr}"
    return res


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------
# every attempt, every caller, both identities inside

ATTEMPTS = [
    "tiocsti", "tiocsti-highbits", "tioclinux", "proc-masked", "proc-sys-write", "sys-write",
    "mount", "umount", "pivot-root", "chroot", "unshare-user", "clone-user", "clone3",
    "keyctl", "add-key", "bpf", "perf-event-open", "userfaultfd", "ptrace-outside",
    "open-by-handle", "mknod-block", "fd-leak", "cwd-outside", "exe-write",
    "nnp", "personality", "seccomp-mode",
] + (["i386"] if X86_64 else [])


@pytest.mark.parametrize("test", ATTEMPTS)
def test_escape_attempt_is_blocked(appbox_bin, escape_bin, caller, test):
    """As the caller's own identity inside."""
    assert_blocked(attempt(appbox_bin, escape_bin, caller, test), test)


@pytest.mark.parametrize("test", ATTEMPTS)
def test_root_inside_is_still_boxed(appbox_bin, escape_bin, caller, test):
    """--uid 0: root in the container has a few capabilities of its own
    user namespace, and still none of these."""
    assert_blocked(attempt(appbox_bin, escape_bin, caller, test, extra=("--uid", "0")), test)


def test_no_capabilities_left_for_a_user(appbox_bin, escape_bin, caller):
    if caller == "root":
        pytest.skip("a root caller is root inside (test_capabilities_match_capsh checks its set)")
    res = assert_blocked(attempt(appbox_bin, escape_bin, caller, "caps"), "caps")
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert re.search(rf"{key}=0+\b", res[0][2]), res


# ---------------------------------------------------------------------------
# the seccomp filter, seen where only it can answer


@pytest.mark.parametrize("test", ["tiocsti", "tiocsti-highbits", "tioclinux"])
def test_terminal_ioctls_are_refused_by_the_filter(appbox_bin, escape_bin, run_as, test):
    """On fd 0 = /dev/null the tty layer would answer ENOTTY: EPERM is the
    filter's, so the request is matched on its low 32 bits even with high
    garbage in the 64-bit register."""
    res = assert_blocked(attempt(appbox_bin, escape_bin, run_as, test), test)
    fd0 = [d for n, v, d in res if d.startswith("ioctl(0")]
    assert fd0, res
    for d in fd0:
        assert d.endswith(EPERM), d


def test_clone3_is_answered_enosys(appbox_bin, escape_bin, run_as):
    """clone3's flags are in memory, out of a filter's sight: refused
    outright, with ENOSYS so that libc falls back to clone."""
    res = assert_blocked(attempt(appbox_bin, escape_bin, run_as, "clone3"), "clone3")
    assert len(res) == 2, res
    for n, v, d in res:
        assert d.endswith(ENOSYS) or d.endswith(EPERM), d


@pytest.mark.skipif(not X86_64, reason="the x32 and i386 ABIs exist on x86-64 only")
def test_x32_syscalls_are_refused(appbox_bin, escape_bin, run_as):
    r = attempt(appbox_bin, escape_bin, run_as, "x32")
    assert "ESCAPED" not in r.stdout, r.stdout
    # the filter kills a process that uses the x32 ABI (or refuses the call)
    killed = r.returncode == 128 + signal.SIGSYS
    assert killed or (r.returncode == 0 and EPERM in r.stdout), (r.returncode, r.stdout, r.stderr)


@pytest.mark.skipif(not X86_64, reason="the i386 ABI exists on x86-64 only")
def test_i386_syscalls_get_the_same_rules(appbox_bin, escape_bin, run_as):
    """int $0x80 from a 64-bit process: unshare, keyctl, personality and
    userfaultfd need no privilege at all, so only the filter can refuse
    them; TIOCSTI on /dev/null says EPERM only from the filter."""
    r = attempt(appbox_bin, escape_bin, run_as, "i386")
    if r.returncode == 128 + signal.SIGSYS:
        return  # i386 calls are killed outright: refused too
    res = assert_blocked(r, "i386")
    if "no IA32 emulation" in r.stdout:
        pytest.skip("the kernel has no IA32 emulation")
    for n, v, d in res:
        assert d.endswith(EPERM), d


def test_nested_user_namespace_without_seccomp_is_the_kernels_call(appbox_bin, escape_bin, run_as):
    r = attempt(appbox_bin, escape_bin, run_as, "seccomp-mode", extra=("--seccomp", "off"))
    assert "warning" in r.stderr and "--seccomp off" in r.stderr, r.stderr
    assert "Seccomp: 0" in r.stdout, r.stdout


@pytest.mark.parametrize("test", ["personality", "add-key"])
def test_helper_sees_an_escape_when_the_filter_is_off(appbox_bin, escape_bin, run_as, test):
    """The helper's checks can fail: with --seccomp off, calls that only the
    filter refuses (they need no privilege) get through and are reported."""
    r = attempt(appbox_bin, escape_bin, run_as, test, extra=("--seccomp", "off"))
    assert r.returncode == 1 and "ESCAPED" in r.stdout, (r.returncode, r.stdout, r.stderr)


# ---------------------------------------------------------------------------
# capabilities, as capsh sees them


def capsh_sets(out):
    sets = {}
    for line in out.splitlines():
        m = re.match(r"(Current|Bounding set|Ambient set)\s*[:=]\s*=?(.*)", line)
        if m:
            names = m.group(2).strip()
            names = re.sub(r"[=+][eip]+$", "", names)
            sets[m.group(1)] = set(n for n in names.split(",") if n and n != "=")
    return sets


def decode(hexmask):
    if int(hexmask, 16) == 0:
        return set()
    out = subprocess.run(["capsh", f"--decode={hexmask}"], capture_output=True, text=True, check=True).stdout
    return set(out.strip().split("=", 1)[1].split(","))


DANGEROUS = ("cap_sys_admin", "cap_sys_ptrace", "cap_sys_module", "cap_net_admin", "cap_net_raw", "cap_mknod",
             "cap_sys_rawio", "cap_bpf", "cap_perfmon", "cap_sys_time", "cap_dac_read_search", "cap_syslog",
             "cap_sys_boot", "cap_mac_admin", "cap_mac_override", "cap_linux_immutable")


@pytest.mark.skipif(not shutil.which("capsh"), reason="capsh (libcap2-bin) is not installed")
def test_capabilities_match_capsh(appbox_bin, escape_bin, caller, inside):
    """capsh --print inside agrees with /proc/self/status; a non-root
    process has nothing at all, root inside only a small set of its own
    user namespace's capabilities, none that reaches the kernel, and no
    ambient ones; no_new_privs is on."""
    r = run([appbox_bin, "sandbox", "--ro-bind", f"{escape_bin}:{ESC}", *inside_opts(inside), "--",
             "sh", "-c", f"{ESC} caps && capsh --print"], as_user=caller)
    assert r.returncode == 0, r.stdout + r.stderr
    line = results(r.stdout)[0][2]
    masks = dict(re.findall(r"(Cap\w+)=([0-9a-f]+)", line))
    sets = capsh_sets(r.stdout)
    assert sets["Bounding set"] == decode(masks["CapBnd"]), (sets, masks)
    assert sets["Current"] == decode(masks["CapEff"]), (sets, masks)
    assert sets["Ambient set"] == set() and int(masks["CapAmb"], 16) == 0, (sets, masks)
    assert "no-new-privs=1" in r.stdout
    if not (caller == "root" or inside == "uid0"):
        assert sets["Bounding set"] == set() and sets["Current"] == set(), sets


def test_root_inside_has_only_the_small_default_set(appbox_bin, caller):
    """Root inside (a root caller, or --uid 0) holds a few capabilities of
    its own user namespace, none that reaches the kernel or other
    processes, and none in the ambient set."""
    r = run([appbox_bin, "sandbox", "--uid", "0", "--", "cat", "/proc/self/status"], as_user=caller)
    assert r.returncode == 0, r.stderr
    masks = dict(re.findall(r"(Cap\w+):\s*([0-9a-f]+)", r.stdout))
    eff, bnd = int(masks["CapEff"], 16), int(masks["CapBnd"], 16)
    assert eff & (1 << 0), "root inside lost CAP_CHOWN"
    assert int(masks["CapAmb"], 16) == 0, masks
    numbers = {"cap_dac_read_search": 2, "cap_linux_immutable": 9, "cap_net_admin": 12, "cap_net_raw": 13,
               "cap_sys_module": 16, "cap_sys_rawio": 17, "cap_sys_ptrace": 19, "cap_sys_admin": 21,
               "cap_sys_boot": 22, "cap_sys_time": 25, "cap_mknod": 27, "cap_mac_override": 32,
               "cap_mac_admin": 33, "cap_syslog": 34, "cap_bpf": 39, "cap_perfmon": 38}
    assert set(numbers) == set(DANGEROUS)
    leaked = [n for n, bit in numbers.items() if (eff | bnd) & (1 << bit)]
    assert not leaked, leaked


# ---------------------------------------------------------------------------
# other processes


def test_ptrace_and_kill_of_a_host_process(appbox_bin, escape_bin, run_as):
    """A process of the same user on the host: the sandbox can neither
    trace nor kill it (it is not even visible)."""
    victim = popen(["sleep", "60"], as_user=run_as)
    try:
        for test in ("ptrace-outside", "kill-pid"):
            r = attempt(appbox_bin, escape_bin, run_as, test, str(victim.pid))
            assert_blocked(r, test)
        time.sleep(0.1)
        assert victim.poll() is None, "the host process was killed"
        status = Path(f"/proc/{victim.pid}/status").read_text()
        assert "TracerPid:\t0" in status
    finally:
        victim.kill()
        victim.wait()


def test_ptrace_of_init_inside(appbox_bin, escape_bin, run_as, inside):
    """PID 1 is appbox's init, not dumpable: not traceable either."""
    r = attempt(appbox_bin, escape_bin, run_as, "ptrace-outside", "1", extra=inside_opts(inside))
    assert_blocked(r, "ptrace-outside")


# ---------------------------------------------------------------------------
# the host's IPC


@pytest.fixture
def host_sockets(run_as):
    """A unix socket the host listens on, abstract (it belongs to the
    network namespace) and one at a path in /run, both open to anyone."""
    tag = f"appbox-sec-{os.getpid()}-{time.monotonic_ns()}"
    socks, addrs = [], []
    run_dir = "/run" if os.geteuid() == 0 else tempfile.gettempdir()
    for addr in (f"@{tag}", f"{run_dir}/{tag}.sock"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
        if not addr.startswith("@"):
            os.chmod(addr, 0o777)
        s.listen(8)
        socks.append(s)
        addrs.append(addr)
    yield addrs
    for s in socks:
        s.close()
    Path(addrs[1]).unlink(missing_ok=True)


def test_host_unix_sockets_are_out_of_reach(appbox_bin, escape_bin, run_as, inside, host_sockets):
    """The abstract socket namespace is the network namespace's (the
    containerd-shim escape): with the default --network none, a host
    service listening there is out of reach, as is one in the host's /run
    (or /tmp)."""
    r = attempt(appbox_bin, escape_bin, run_as, "connect-unix", *host_sockets, extra=inside_opts(inside))
    res = assert_blocked(r, "connect-unix")
    assert len(res) == 2, res


def sysv(fn, *args):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    r = getattr(libc, fn)(*args)
    if r < 0:
        raise OSError(ctypes.get_errno(), f"{fn}{args}")
    return r


def test_host_sysv_ipc_is_invisible(appbox_bin, escape_bin, run_as):
    """System V shared memory, queues and semaphores of the host (made by
    the same user, mode 0666) are not found by their key inside."""
    key = 0x0AB5EC00 | (os.getpid() & 0xFF)
    IPC_CREAT, IPC_RMID = 0o1000, 0
    ids = [("shm", sysv("shmget", key, 4096, IPC_CREAT | 0o666)), ("msg", sysv("msgget", key, IPC_CREAT | 0o666)),
           ("sem", sysv("semget", key, 1, IPC_CREAT | 0o666))]
    try:
        r = attempt(appbox_bin, escape_bin, run_as, "sysv-ipc", hex(key))
        res = assert_blocked(r, "sysv-ipc")
        assert len(res) == 3, res
    finally:
        for kind, i in ids:
            {"shm": lambda: sysv("shmctl", i, IPC_RMID, None), "msg": lambda: sysv("msgctl", i, IPC_RMID, None),
             "sem": lambda: sysv("semctl", i, 0, IPC_RMID)}[kind]()


# ---------------------------------------------------------------------------
# fds and the working directory


def test_host_fd_does_not_leak(appbox_bin, escape_bin, run_as, world_tmp):
    """An fd appbox inherits (a file, a directory) is not there inside."""
    secret = world_tmp / "secret"
    secret.write_text("s3cret")
    os.chmod(secret, 0o644)
    fds = [os.open(secret, os.O_RDONLY), os.open(world_tmp, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        r = attempt(appbox_bin, escape_bin, run_as, "fd-leak", pass_fds=fds)
        res = assert_blocked(r, "fd-leak")
        assert any("only 0, 1, 2" in d for n, v, d in res), res
    finally:
        for fd in fds:
            os.close(fd)


def test_cwd_does_not_reach_outside(appbox_bin, escape_bin, run_as, world_tmp):
    """appbox started in a host directory: inside, neither the working
    directory, nor climbing up from it, nor any /proc/PID/cwd or root
    reaches that directory."""
    marker = world_tmp / "outside-marker"
    marker.write_text("x")
    os.chmod(world_tmp, 0o755)
    r = attempt(appbox_bin, escape_bin, run_as, "cwd-outside", str(marker), cwd=str(world_tmp))
    res = assert_blocked(r, "cwd-outside")
    assert any("/proc/1/cwd/" in d for n, v, d in res), res


@pytest.mark.parametrize("link", ["absolute", "relative"])
def test_chdir_through_a_symlink_stays_in_the_root(appbox_bin, escape_bin, run_as, link):
    """--chdir to a symlink of the root that points at a host directory:
    resolved inside the root, or refused."""
    u = user_info(run_as)
    host = Path(tempfile.mkdtemp(prefix="appbox-sec-", dir="/var/tmp"))
    try:
        os.chmod(host, 0o755)
        (host / "marker").write_text("x")
        root = Path(make_busybox_root(host / "root", owner=u))
        shutil.copy2(escape_bin, root / "ab-escape")
        target = str(host) if link == "absolute" else "../" * 12 + str(host).lstrip("/")
        os.symlink(target, root / "escape")
        os.lchown(root / "escape", u.uid, u.gid)
        r = run([appbox_bin, "sandbox", "--root", str(root), "--chdir", "/escape", "--",
                 ESC, "cwd-outside", str(host / "marker")], as_user=run_as, cwd=str(host))
        assert "ESCAPED" not in r.stdout, r.stdout
        if r.returncode != 0:
            assert not results(r.stdout) and "--chdir" in r.stderr, (r.returncode, r.stdout, r.stderr)
        else:
            assert_blocked(r, "cwd-outside")
    finally:
        shutil.rmtree(host, ignore_errors=True)


# ---------------------------------------------------------------------------
# setuid and file capabilities


def privileged_copies(escape_bin, where):
    """A setuid-root and a file-capability copy of ab-escape."""
    suid = where / "suid-escape"
    shutil.copy2(escape_bin, suid)
    os.chown(suid, 0, 0)
    os.chmod(suid, 0o4755)
    progs = [suid]
    if shutil.which("setcap"):
        fcap = where / "fcap-escape"
        shutil.copy2(escape_bin, fcap)
        os.chmod(fcap, 0o755)
        subprocess.run(["setcap", "cap_sys_admin,cap_dac_override,cap_setuid+ep", str(fcap)], check=True)
        progs.append(fcap)
    return progs


def test_setuid_binary_gains_nothing(appbox_bin, escape_bin, caller, inside, world_tmp):
    """A setuid-root copy and a file-capability copy, bound in: no_new_privs
    (and nosuid) keep the caller's uid and capabilities."""
    require_root("the test makes setuid-root and file-capability binaries")
    progs = privileged_copies(escape_bin, world_tmp)
    binds = []
    for p in progs:
        binds += ["--ro-bind", f"{p}:/{p.name}"]
    r = attempt(appbox_bin, escape_bin, caller, "nnp", *[f"/{p.name}" for p in progs],
                extra=(*binds, *inside_opts(inside)))
    res = assert_blocked(r, "nnp")
    ran = [d for n, v, d in res if "IDS " in d]
    assert len(ran) == len(progs), res


def test_setuid_id_in_the_host_view(appbox_bin, world_tmp):
    """What a user would try first: a setuid-root copy of id(1)."""
    require_root("the test makes a setuid-root binary")
    suid = world_tmp / "suid-id"
    shutil.copy2("/usr/bin/id", suid)
    os.chown(suid, 0, 0)
    os.chmod(suid, 0o4755)
    r = run([appbox_bin, "sandbox", "--ro-bind", f"{suid}:/suid-id", "--", "/suid-id", "-u"], as_user="user")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(user_info("user").uid)


def host_wide_file_caps(path):
    """The file capabilities of PATH that apply on the host: a v2 xattr, or
    a v3 one whose root id is host root (None when there are none)."""
    try:
        raw = os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError:
        return None
    rev = int.from_bytes(raw[:4], "little") & 0xFF000000
    if rev == 0x03000000 and int.from_bytes(raw[20:24], "little") != 0:
        return None  # namespaced: only root of that id's namespace gets them
    return raw.hex()


@pytest.mark.parametrize("how", ["bind", "writable-root"])
def test_root_inside_cannot_plant_setuid_root_programs(appbox_bin, escape_bin, run_as, world_tmp, how):
    """Root inside writes through a read-write bind (or a --writable root):
    a program it makes setuid (or gives file capabilities) must not become
    a setuid-root or capability-carrying program on the host, which any
    host user could run as root: container root is not host root."""
    require_root("the check runs the planted program as another unprivileged user")
    u = user_info(run_as)
    shared = world_tmp / "shared"
    shared.mkdir()
    os.chown(shared, u.uid, u.gid)
    # Writable by every id: for a root caller, a read-write bind or a
    # --writable root outside appbox's store is not idmapped (container root
    # is an unprivileged host id there, and host root's folders are
    # nobody's), so writing must be open to it for the attempt to happen.
    os.chmod(shared, 0o1777)
    if how == "bind":
        opts = ["--bind", f"{shared}:/mnt", "--ro-bind", f"{escape_bin}:{ESC}"]
        where, script = shared, (f"cp {ESC} /mnt/planted && chmod 6755 /mnt/planted; "
                                 f"cp {ESC} /mnt/fcap && setcap cap_setuid,cap_dac_override+ep /mnt/fcap; true")
    else:
        root = Path(make_busybox_root(shared / "root", owner=u))
        os.chmod(root, 0o1777)
        shutil.copy2(escape_bin, root / "ab-escape")
        opts = ["--root", str(root), "--writable"]
        where, script = root, "cp /ab-escape /planted && chmod 6755 /planted; true"
    r = run([appbox_bin, "sandbox", "--uid", "0", *opts, "--", "sh", "-c", script], as_user=run_as)
    assert r.returncode == 0, r.stderr
    planted = [where / n for n in ("planted", "fcap") if (where / n).exists()]
    assert planted, f"nothing was written: {r.stderr}"
    problems = []
    for f in planted:
        st = f.stat()
        if (st.st_mode & stat.S_ISUID and st.st_uid == 0) or (st.st_mode & stat.S_ISGID and st.st_gid == 0):
            ids = run([str(f), "ids"], as_user="nosub").stdout.strip()
            problems.append(f"{f.name}: mode {stat.filemode(st.st_mode)} owner {st.st_uid}:{st.st_gid}; "
                            f"run by {user_info('nosub').name} on the host: {ids}")
        caps = host_wide_file_caps(f)
        if caps:
            problems.append(f"{f.name}: file capabilities valid on the host (security.capability {caps})")
    assert not problems, "\n".join(problems) + f"\n(checked {[p.name for p in planted]})"


def test_host_secrets_stay_unreadable_for_root_inside(appbox_bin, run_as):
    """Root inside is not host root: the host view's root-only files stay
    closed to it."""
    r = run([appbox_bin, "sandbox", "--uid", "0", "--", "sh", "-c",
             "for f in /etc/shadow /etc/gshadow /etc/ssh/ssh_host_*_key; do "
             "[ -e \"$f\" ] && head -c1 \"$f\" >/dev/null 2>&1 && echo \"READ $f\"; done; true"],
            as_user=run_as)
    assert r.returncode == 0, r.stderr
    assert "READ" not in r.stdout, r.stdout


def test_masked_proc_paths_read_empty(appbox_bin, run_as, inside):
    r = run([appbox_bin, "sandbox", *inside_opts(inside), "--", "sh", "-c",
             "for f in /proc/kcore /proc/keys /proc/timer_list /proc/kallsyms /proc/sched_debug; do "
             "[ -e $f ] && printf '%s:%s\\n' $f $(cat $f 2>/dev/null | wc -c); done; true"], as_user=run_as)
    assert r.returncode == 0, r.stderr
    for line in r.stdout.split():
        path, size = line.rsplit(":", 1)
        assert size == "0", line


# ---------------------------------------------------------------------------
# TIOCSTI against a real terminal


def read_pending(fd):
    """What is waiting to be read on FD (a tty in raw mode), without blocking."""
    os.set_blocking(fd, False)
    out = b""
    try:
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            out += chunk
    except (BlockingIOError, OSError):
        pass
    return out


def legacy_tiocsti():
    try:
        return Path("/proc/sys/dev/tty/legacy_tiocsti").read_text().strip() == "1"
    except OSError:
        return True  # older kernels: TIOCSTI always works on one's own terminal


def run_on_host_tty(appbox_bin, escape_bin, as_user, test, where, owned, extra=()):
    """Run TEST with the host terminal (a fresh pty's slave, in raw mode)
    on fd 0 (WHERE="stdin", stdout a pipe: no pty of appbox's own) or on
    fd 2 (WHERE="stderr", stdin /dev/null).  OWNED: the terminal is the
    controlling terminal of appbox's session, as in a login shell;
    otherwise it is nobody's, as under a supervisor holding a pty.
    Returns (CompletedProcess, bytes that arrived as input on the host
    side of the terminal)."""
    master, slave = pty.openpty()
    try:
        tty.setraw(slave)
        kw = {"stdin": slave} if where == "stdin" else {"stdin": subprocess.DEVNULL, "stderr": slave}

        std = 0 if where == "stdin" else 2

        def ctty():
            os.setsid()
            fcntl.ioctl(std, termios.TIOCSCTTY, 0)

        if owned:
            kw["preexec_fn"] = ctty
        r = run([appbox_bin, "sandbox", "--ro-bind", f"{escape_bin}:{ESC}", *extra, "--", ESC, test],
                as_user=as_user, **kw)
        return r, read_pending(slave)
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("owned", [False, True], ids=["free-tty", "ctty"])
@pytest.mark.parametrize("where", ["stdin", "stderr"])
@pytest.mark.parametrize("test", ["tiocsti", "tiocsti-highbits"])
def test_tiocsti_cannot_reach_the_host_terminal(appbox_bin, escape_bin, run_as, test, where, owned):
    """The command holds the host's terminal (stdin or stderr; the other
    end is not a terminal, so appbox gives it no pty of its own): pushing
    a command line into it must fail, and nothing must arrive as input on
    the host side.  With a terminal no session owns, the command could
    make it its controlling terminal (TIOCSCTTY), where TIOCSTI needs no
    capability: only the filter stands in the way."""
    r, injected = run_on_host_tty(appbox_bin, escape_bin, run_as, test, where, owned)
    assert injected == b"", injected
    res = assert_blocked(r, test)
    # the host's terminal never crosses in (issue 9): the fd is appbox's pipe
    assert not any("/dev/pts/" in d for n, v, d in res), f"the host terminal is in the container: {res}"


def test_tiocsti_check_sees_an_injection(appbox_bin, escape_bin, run_as):
    """The check above can fail: with the filter off, the helper's verdict
    and what the host terminal received agree (and with the kernel's
    legacy TIOCSTI on, the injection does get through)."""
    r, injected = run_on_host_tty(appbox_bin, escape_bin, run_as, "tiocsti", "stdin", False,
                                  extra=("--seccomp", "off"))
    escaped = any(v == "ESCAPED" for n, v, d in results(r.stdout))
    assert escaped == (b"AB-ESCAPE-INJECTED" in injected), (r.stdout, injected)
    # Since issue 9 the host terminal is never in the container (a relayed
    # pipe takes its place), so even with the filter off nothing arrives.
    assert b"AB-ESCAPE-INJECTED" not in injected, (r.stdout, injected)


def read_all(fd, timeout):
    out = b""
    end = time.time() + timeout
    while time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


@pytest.mark.parametrize("test", ["tiocsti", "tiocsti-highbits"])
def test_tiocsti_in_own_pty_stays_in_the_container(appbox_bin, escape_bin, run_as, test):
    """With a terminal on both ends, the command gets a pty of its own as
    controlling terminal; TIOCSTI is refused there too."""
    argv = as_user_argv([appbox_bin, "sandbox", "--ro-bind", f"{escape_bin}:{ESC}", "--", ESC, test], run_as)
    env = user_env(run_as)
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    out = read_all(fd, 10)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    res = results(out)
    assert res, out
    assert not [d for n, v, d in res if v == "ESCAPED"], out
    assert any("/dev/tty" in d and EPERM in d for n, v, d in res), out
    assert os.waitstatus_to_exitcode(status) == 0, out


# ---------------------------------------------------------------------------
# bind destinations that are symlinks out of the root


@pytest.fixture
def outside_dir():
    """A host directory anyone may write to, outside /tmp (a --root gets a
    fresh /tmp, so a symlink to a /tmp path could never resolve inside)."""
    d = Path(tempfile.mkdtemp(prefix="appbox-sec-", dir="/var/tmp"))
    os.chmod(d, 0o755)
    out = d / "outside"
    out.mkdir()
    os.chmod(out, 0o777)
    yield out
    shutil.rmtree(d, ignore_errors=True)


SYMLINK_CASES = {
    # name: (link in the root, its target, option, destination)
    "dir-absolute": ("evil", "{out}", "--ro-bind", "/evil/planted"),
    "dir-relative": ("etc/climb", "../../../../../../../..{out}", "--ro-bind", "/etc/climb/planted"),
    "dir-deeper": ("evil", "{out}", "--ro-bind", "/evil/sub/dir/planted"),
    "file-absolute": ("evilfile", "{out}/planted", "--ro-bind", "/evilfile"),
    "file-relative": ("evilfile", "../../../../../../../..{out}/planted", "--bind", "/evilfile"),
    "dir-bind-dir": ("evil", "{out}", "--bind", "/evil/planted"),
    "tmpfs": ("evil", "{out}", "--tmpfs", "/evil/planted"),
}


@pytest.mark.parametrize("inside_root", [False, True], ids=["target-absent", "target-in-root"])
@pytest.mark.parametrize("writable", [True, False], ids=["writable", "read-only"])
@pytest.mark.parametrize("case", sorted(SYMLINK_CASES))
def test_symlinked_bind_destination_stays_in_the_root(appbox_bin, run_as, world_tmp, outside_dir, case,
                                                      writable, inside_root):
    """A root whose /evil is a symlink to a host directory: a bind (or
    tmpfs) onto /evil/... must not touch that host directory.  It is
    resolved inside the root: it lands at ROOT/<target> when that exists
    there (or can be made), else it is refused."""
    u = user_info(run_as)
    link, target, opt, dst = SYMLINK_CASES[case]
    target = target.format(out=outside_dir)
    root = Path(make_busybox_root(world_tmp / "root", owner=u))
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, root / link)
    os.lchown(root / link, u.uid, u.gid)
    in_root = root / str(outside_dir).lstrip("/")
    if inside_root:
        in_root.mkdir(parents=True)
        subprocess.run(["chown", "-R", f"{u.uid}:{u.gid}", str(root / "var")], check=True)
    payload = world_tmp / "payload"
    if opt == "--tmpfs":
        args = [opt, dst]
    else:
        payload.mkdir() if case == "dir-bind-dir" else payload.write_text("payload")
        os.chmod(payload, 0o755 if payload.is_dir() else 0o644)
        args = [opt, f"{payload}:{dst}"]
    r = run([appbox_bin, "sandbox", "--root", str(root), *(["--writable"] if writable else []), *args,
             "--", "sh", "-c", f"cat {dst} 2>/dev/null || ls -d {dst}"], as_user=run_as)
    assert list(outside_dir.iterdir()) == [], f"{dst}: wrote on the host: {list(outside_dir.iterdir())}"
    if r.returncode != 0:
        # refused: with a message naming the destination, before running anything
        assert dst.split("/")[1] in r.stderr or "container root" in r.stderr, (r.returncode, r.stdout, r.stderr)
        assert r.returncode in (125, 2), (r.returncode, r.stderr)
    else:
        # landed inside the root
        assert r.stdout.strip() in ("payload", dst), r.stdout
        assert in_root.is_dir(), "the mount succeeded but not at the target inside the root"


# ---------------------------------------------------------------------------
# CVE-2019-5736: writing the appbox binary through /proc/self/exe


def test_no_proc_exe_opens_for_writing(appbox_bin, escape_bin, caller, inside):
    r = attempt(appbox_bin, escape_bin, caller, "proc-self-exe-write", extra=inside_opts(inside))
    res = assert_blocked(r, "proc-self-exe-write")
    assert any("/proc/1/exe" in d for n, v, d in res), res


EXE_CASES = {
    # name: (caller, owner of the binary, mode)
    "user-own-writable": ("user", "user", 0o755),
    "user-own-readonly": ("user", "user", 0o555),
    "user-root-owned": ("user", "root", 0o755),
    "root-own": ("root", "root", 0o755),
    "root-world-writable": ("root", "root", 0o757),
}


@pytest.mark.skipif(not X86_64, reason="ab-escape's fake ELF interpreter is x86-64 code")
@pytest.mark.parametrize("case", sorted(EXE_CASES))
def test_appbox_binary_is_not_writable_from_inside(appbox_bin, escape_bin, world_tmp, case):
    """The runc attack, for appbox: the container's root holds a script
    "#!/proc/self/exe" and a dynamic loader of the attacker's (ab-escape).
    appbox executing the script re-executes itself inside, and the loader
    gets control with /proc/self/exe being appbox's binary: it keeps an
    O_PATH fd on it, execs away, and tries to reopen it for writing (for
    a while: the binary is busy as long as appbox runs from it) and, as
    its owner, to chmod it.  The binary on the host must stay the same,
    contents and mode."""
    who, owner, mode = EXE_CASES[case]
    if (who, owner) != ("user", "user"):
        require_root("the test places appbox binaries with chosen owners")
    u = user_info(who)
    o = user_info(owner)
    own = world_tmp / "own"
    own.mkdir()
    binary = own / "appbox"
    shutil.copy2(appbox_bin, binary)
    if o.uid != os.geteuid():
        os.chown(own, o.uid, o.gid)
        os.chown(binary, o.uid, o.gid)
    os.chmod(binary, mode)
    before = (sha256(binary), binary.stat().st_mode, binary.stat().st_uid)

    root = Path(make_busybox_root(world_tmp / "root", owner=u))
    (root / "lib64").mkdir(exist_ok=True)
    loader = root / "lib64" / "ld-linux-x86-64.so.2"
    shutil.copy2(escape_bin, loader)
    os.chmod(loader, 0o755)
    script = root / "evil"
    script.write_text("#!/proc/self/exe\n")
    os.chmod(script, 0o755)
    if u.uid != os.geteuid():
        subprocess.run(["chown", "-R", f"{u.uid}:{u.gid}", str(root / "lib64"), str(script)], check=True)

    r = run([str(binary), "sandbox", "--root", str(root), "--", "/evil"], as_user=who, timeout=30)
    after = (sha256(binary), binary.stat().st_mode, binary.stat().st_uid)
    assert after == before, f"the appbox binary changed: {before} -> {after}\n{r.stdout}"
    res = results(r.stdout)
    assert res, f"the attack did not run (rc {r.returncode}): {r.stdout!r} {r.stderr!r}"
    assert_blocked(r, "proc-self-exe-write")


def test_user_owned_appbox_runs_from_a_sealed_copy(appbox_bin, world_tmp):
    """A user's own, writable appbox binary: appbox runs from a sealed
    memfd copy, so the file on disk is never the running image."""
    require_root("the test copies appbox into a user-owned directory")
    u = user_info("user")
    own = world_tmp / "own"
    own.mkdir()
    os.chown(own, u.uid, u.gid)
    binary = own / "appbox"
    shutil.copy2(appbox_bin, binary)
    os.chown(binary, u.uid, u.gid)
    p = popen([str(binary), "sandbox", "--", "sleep", "5"], as_user="user")
    try:
        time.sleep(0.5)
        exe = os.readlink(f"/proc/{p.pid}/exe")
        assert exe.startswith("/memfd:appbox"), exe
    finally:
        p.kill()
        p.wait()
