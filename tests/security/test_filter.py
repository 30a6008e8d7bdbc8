"""The default seccomp filter's rules on set-id modes, socket address
families and io_uring (docs/security.md, "Seccomp").  ab-escape
(tests/security/escape.c) tries each call inside `appbox sandbox`, as root
and as an unprivileged caller, as the caller's own identity and as root
inside (--uid 0); each test checks the filter's own answer (EPERM,
EAFNOSUPPORT, ENOSYS: the kernel alone would say something else or let the
call through) and, for files, that nothing set-id appeared on the host."""

import ctypes
import os
import socket
import stat
from pathlib import Path

import pytest

from conftest import require_root, run, user_info
from test_escapes import ESC, EPERM, ENOSYS, assert_blocked, attempt, inside_opts, results

EAFNOSUPPORT = os.strerror(97)  # "Address family not supported by protocol"
SETID = stat.S_ISUID | stat.S_ISGID


@pytest.fixture(params=["own-id", "uid0"])
def inside(request):
    return request.param


def shared_dir(world_tmp, run_as):
    """A folder of the caller's, bound read-write: writable by every id, as a
    root caller's container root is an unprivileged host id there."""
    u = user_info(run_as)
    shared = world_tmp / "shared"
    shared.mkdir()
    os.chown(shared, u.uid, u.gid)
    os.chmod(shared, 0o1777)
    return shared


def setid_files(where):
    return [f"{p}: {stat.filemode(p.lstat().st_mode)}" for p in Path(where).rglob("*")
            if p.lstat().st_mode & SETID]


@pytest.mark.parametrize("test", ["setid-chmod", "setid-open", "setid-mkdir", "setid-mknod"])
def test_setid_modes_are_refused_on_a_bind(appbox_bin, escape_bin, run_as, inside, world_tmp, test):
    """chmod u+s/g+s, and open/openat/creat (O_CREAT, O_TMPFILE), mkdir and
    mknod with a set-id mode, on a read-write bind: the filter answers EPERM
    (openat2, whose mode it cannot read, ENOSYS), and no set-id file is left
    on the host."""
    shared = shared_dir(world_tmp, run_as)
    r = attempt(appbox_bin, escape_bin, run_as, test, "/mnt",
                extra=("--bind", f"{shared}:/mnt", *inside_opts(inside)))
    res = assert_blocked(r, test)
    for name, _, detail in res:
        want = ENOSYS if detail.startswith("openat2") else EPERM
        assert detail.endswith(want), f"{name}: not the filter's answer: {detail}"
    assert not setid_files(shared), setid_files(shared)


def test_setuid_shell_copy_on_a_bind(appbox_bin, run_as, inside, world_tmp):
    """The issue's case: a copy of a shell made setuid on a read-write bind
    would give every host user who can reach the folder a shell as the
    caller (for an ordinary caller, whose own id is kept inside)."""
    shared = shared_dir(world_tmp, run_as)
    script = ("cp /bin/sh /mnt/sh; chmod 4755 /mnt/sh; chmod u+s,g+s /mnt/sh; "
              "install -m 6755 /bin/sh /mnt/sh2; cp -p /mnt/sh /mnt/sh3; true")
    r = run([appbox_bin, "sandbox", "--bind", f"{shared}:/mnt", *inside_opts(inside), "--",
             "sh", "-c", script], as_user=run_as)
    assert r.returncode == 0, r.stderr
    assert (shared / "sh").exists(), f"nothing was written: {r.stderr}"
    assert "Operation not permitted" in r.stderr, r.stderr
    assert not setid_files(shared), setid_files(shared)


def host_has_vsock():
    try:
        socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM).close()
        return True
    except (AttributeError, OSError):
        return False


def test_vsock_is_refused(appbox_bin, escape_bin, run_as, inside):
    """AF_VSOCK is not network-namespaced: it reaches the hypervisor and the
    host's vsock services from any container.  socket and socketpair get
    EAFNOSUPPORT from the filter."""
    if not host_has_vsock():
        pytest.skip("the kernel has no AF_VSOCK here: nothing to refuse")
    res = assert_blocked(attempt(appbox_bin, escape_bin, run_as, "vsock", extra=inside_opts(inside)), "vsock")
    for name, _, detail in res:
        assert detail.endswith(EAFNOSUPPORT), f"{name}: not the filter's answer: {detail}"


def host_io_uring():
    """None when io_uring works on the host, else why not."""
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    fd = libc.syscall(425, 4, params)
    if fd >= 0:
        os.close(fd)
        return None
    return f"io_uring_setup on the host: {os.strerror(ctypes.get_errno())}"


def test_io_uring_is_refused_by_default(appbox_bin, escape_bin, run_as, inside):
    why = host_io_uring()
    if why:
        pytest.skip(f"the kernel refuses io_uring already ({why})")
    res = assert_blocked(attempt(appbox_bin, escape_bin, run_as, "io-uring", extra=inside_opts(inside)),
                         "io-uring")
    for name, _, detail in res:
        assert detail.endswith(ENOSYS), f"{name}: not the filter's answer: {detail}"


def test_io_uring_allowed_with_the_option(appbox_bin, escape_bin, run_as):
    why = host_io_uring()
    if why:
        pytest.skip(f"the kernel refuses io_uring ({why})")
    r = attempt(appbox_bin, escape_bin, run_as, "io-uring", extra=("--io-uring", "allow"))
    res = results(r.stdout)
    assert res and res[0][1] == "ESCAPED", f"io_uring does not work with --io-uring allow: {r.stdout} {r.stderr}"
    # The other rules stay.
    r = attempt(appbox_bin, escape_bin, run_as, "keyctl", extra=("--io-uring", "allow"))
    assert_blocked(r, "keyctl")


def test_io_uring_option_is_checked(appbox_bin):
    r = run([appbox_bin, "sandbox", "--io-uring", "maybe", "--", "true"])
    assert r.returncode != 0
    assert "allow, deny" in r.stderr, r.stderr
    r = run([appbox_bin, "sandbox", "--io-uring", "deny", "--", "true"])
    assert r.returncode == 0, r.stderr
