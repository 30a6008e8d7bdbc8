"""apt runs (`appbox update`, create's --packages) run the image's own
/usr/bin/apt-get: image code, as the container's root.  They get a network
namespace of their own with pasta's user-mode networking, so that the
image reaches the mirror and nothing of the host: not its loopback
services (127.0.0.1, or through the gateway address), not its abstract
unix sockets (X11, D-Bus: they belong to the network namespace), not its
own address.  As root and as a user."""

import os
import shutil
import socket
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from conftest import make_busybox_root, run, store_env, user_info

PROBE = r"""#!/bin/sh
# the image's "apt-get": probes what it can reach, once, on "update"
case "$*" in *" update"*) ;; *) exit 0 ;; esac
out=/probe.out
: > $out
try() { # NAME CMD...: "NAME ok" when CMD printed something back
    name=$1; shift
    r=$("$@" 2>/dev/null | head -c 64)
    [ -n "$r" ] && echo "$name ok $r" >> $out || echo "$name blocked" >> $out
}
tcp() { printf "hello\n" | timeout 5 nc -w 3 "$1" "$2"; }
gw=$(ip route | awk '/^default/ {print $3; exit}')
try loopback tcp 127.0.0.1 @LOPORT@
try gateway tcp "${gw:-0.0.0.0}" @LOPORT@
try hostaddr tcp @HOSTADDR@ @ADDRPORT@
/ab-escape connect-unix @@ABSTRACT@ >> $out 2>&1
echo "resolv $(grep nameserver /etc/resolv.conf | head -1)" >> $out
# stdin held open: a half-closed request races the mirror's answer
try outside sh -c '(printf "HEAD /debian/ HTTP/1.1\r\nHost: deb.debian.org\r\nConnection: close\r\n\r\n"; sleep 3) | timeout 10 nc deb.debian.org 80'
exit 0
"""


class Listener:
    """A host service that answers "HOST" and records who connected."""

    def __init__(self, family, addr):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(addr)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.hits = []
        self.stop = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stop:
            try:
                c, peer = self.sock.accept()
            except OSError:
                continue
            self.hits.append(peer)
            try:
                c.sendall(b"HOST\n")
            finally:
                c.close()

    def close(self):
        self.stop = True
        self.t.join()
        self.sock.close()


def host_address():
    """The host's own non-loopback IPv4 address (of its default route)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.123", 9))  # no packet is sent
        return s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()


def outside_reachable():
    try:
        socket.create_connection(("deb.debian.org", 80), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def listeners():
    addr = host_address()
    if not addr or addr.startswith("127."):
        pytest.skip("the host has no non-loopback IPv4 address")
    lo = Listener(socket.AF_INET, ("127.0.0.1", 0))
    # every address of the host: one the container would reach through
    # pasta if pasta let it connect to the host itself
    anyaddr = Listener(socket.AF_INET, ("0.0.0.0", 0))
    name = f"appbox-test-{uuid.uuid4().hex[:12]}"
    ab = Listener(socket.AF_UNIX, "\0" + name)
    yield {"lo": lo, "any": anyaddr, "abstract": ab, "name": name, "addr": addr}
    for l in (lo, anyaddr, ab):
        l.close()


def probe_root(world_tmp, escape_bin, l):
    root = world_tmp / "root"
    make_busybox_root(root)
    script = (PROBE.replace("@LOPORT@", str(l["lo"].sock.getsockname()[1]))
              .replace("@ADDRPORT@", str(l["any"].sock.getsockname()[1]))
              .replace("@HOSTADDR@", l["addr"]).replace("@ABSTRACT@", l["name"]))
    apt = root / "usr/bin/apt-get"
    apt.write_text(script)
    apt.chmod(0o755)
    shutil.copy(escape_bin, root / "ab-escape")
    os.chmod(root / "ab-escape", 0o755)
    return root


@pytest.mark.parametrize("verb", ["update", "packages"])
def test_apt_reaches_nothing_of_the_host(appbox_bin, escape_bin, run_as, world_tmp, listeners, tun_node, verb):
    """The image's apt-get, run by `appbox update` or create --packages,
    cannot reach a service on the host's 127.0.0.1 (directly or through the
    gateway address), an abstract unix socket of the host, or the host's
    own address; DNS goes to pasta's forwarder; the mirror's side of the
    world is reachable when the machine has a route to it."""
    root = probe_root(world_tmp, escape_bin, listeners)
    u = user_info(run_as)
    store = world_tmp / "store"
    for d in ("data", "run", "home"):
        (store / d).mkdir(parents=True)
        os.chmod(store / d, 0o700)
        os.chown(store / d, u.uid, u.gid)
    store.chmod(0o755)
    env = store_env(store / "data", store / "run", store / "home")
    if verb == "update":
        r = run([appbox_bin, "create", "p", "--base", f"dir:{root}"], as_user=run_as, extra_env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        r = run([appbox_bin, "update", "p"], as_user=run_as, extra_env=env, timeout=120, tun=tun_node)
    else:
        tar = world_tmp / "root.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
        r = run([appbox_bin, "create", "p", "--base", f"tar:{tar}", "--packages", "x"], as_user=run_as,
                extra_env=env, timeout=120, tun=tun_node)
    assert r.returncode == 0, r.stdout + r.stderr
    out = (store / "data/p/rootfs/probe.out").read_text()
    res = dict(l.split(" ", 1) for l in out.splitlines() if " " in l)
    for name in ("loopback", "gateway", "hostaddr"):
        assert res.get(name) == "blocked", out
    assert "connect-unix" in out and "BLOCKED" in out and "ESCAPED" not in out, out
    assert listeners["lo"].hits == [] and listeners["any"].hits == [] and listeners["abstract"].hits == [], out
    assert res.get("resolv") == "nameserver 169.254.1.1", out
    if not outside_reachable():
        pytest.skip(f"no route to deb.debian.org from the host: the positive check is skipped ({out})")
    assert res.get("outside", "").startswith("ok HTTP/"), out


def _store(world_tmp, run_as):
    u = user_info(run_as)
    store = world_tmp / "store"
    for d in ("data", "run", "home"):
        (store / d).mkdir(parents=True)
        os.chmod(store / d, 0o700)
        os.chown(store / d, u.uid, u.gid)
    store.chmod(0o755)
    return store, store_env(store / "data", store / "run", store / "home")


def _apt_root(world_tmp):
    root = world_tmp / "root"
    make_busybox_root(root)
    apt = root / "usr/bin/apt-get"
    apt.write_text("#!/bin/sh\ntouch /apt-ran\n")
    apt.chmod(0o755)
    return root


def _with_mounts(binds, argv):
    """ARGV in a private mount namespace with BINDS ((source, target)...)."""
    script = "".join(f'mount --bind "{s}" "{t}" && ' for s, t in binds) + 'exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", *argv]


def test_unusable_tun_is_named(appbox_bin, run_as, world_tmp):
    """Where the container's root cannot open /dev/net/tun (mode 0600, as
    on hosts without udev), the apt run fails saying so, its apt-get never
    runs, and no pasta is left behind."""
    if os.stat("/dev/net/tun").st_mode & 0o006 == 0o006:
        pytest.skip("this host's /dev/net/tun is usable by every user: nothing to refuse")
    root = _apt_root(world_tmp)
    store, env = _store(world_tmp, run_as)
    ok = run([appbox_bin, "create", "p", "--base", f"dir:{root}"], as_user=run_as, extra_env=env)
    assert ok.returncode == 0, ok.stderr
    r = run([appbox_bin, "update", "p"], as_user=run_as, extra_env=env)
    assert r.returncode != 0
    assert "/dev/net/tun" in r.stderr and "0666" in r.stderr, r.stderr
    assert not (store / "data/p/rootfs/apt-ran").exists()
    assert not [p for p in Path("/proc").glob("[0-9]*") if _cmdline(p).startswith("/usr/bin/pasta")
                and str(store) in _environ(p)], "a pasta was left running"


def test_missing_pasta_is_named(appbox_bin, run_as, world_tmp, tun_node):
    """Without pasta the apt run is refused, never run on the host's
    network: the message names the package."""
    root = _apt_root(world_tmp)
    store, env = _store(world_tmp, run_as)
    r = run([appbox_bin, "create", "p", "--base", f"dir:{root}"], as_user=run_as, extra_env=env)
    assert r.returncode == 0, r.stderr
    empty = world_tmp / "no-pasta"
    empty.write_text("")
    empty.chmod(0o644)
    from conftest import as_user_argv, user_env
    argv = _with_mounts([(tun_node, "/dev/net/tun"), (empty, "/usr/bin/pasta")],
                        as_user_argv([appbox_bin, "update", "p"], run_as))
    r = run(argv, as_user="root", env=user_env(run_as, env))
    assert r.returncode != 0
    assert "pasta" in r.stderr and "passt" in r.stderr, r.stderr
    assert not (store / "data/p/rootfs/apt-ran").exists()


def _cmdline(p):
    try:
        return (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _environ(p):
    try:
        return (p / "environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""
