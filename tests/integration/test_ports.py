"""--publish and --link (issue 12), as root and as a user, on a network of
the container's own (none): every appbox runs in netlab's host namespace,
so no port of the machine is ever taken.

  publish  a client in the lab host reaches a server in a sandbox through
           the published port, bytes both ways (checksums), TCP and UDP;
           the port is closed once the container is gone, and nothing of
           appbox's is left; a port in use is a clear error
  link     two named containers, a server in one, --link srv:80:8080 in
           the other: a client inside reaches 127.0.0.1:8080; the link
           follows the server container through a restart; a link to a
           container that does not exist is a clear error
"""

import json
import os
import secrets
import stat
import subprocess

import pytest

from conftest import find_procs, ok, pid_alive, user_info, wait_until
from containers_support import ctr, one_line_error, read_until, store_procs  # noqa: F401 (ctr: a fixture)
from netlab import netlab  # noqa: F401 (fixture)

# In the container: one connection on 127.0.0.1:PORT (a server that does
# not listen on every address is reachable too); what came in is counted
# and hashed until the client's end, then a line (count, its hash, the
# hash of what follows) and N bytes go back; it exits when the client has
# closed.
TCP_SERVER = r"""
import hashlib, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(4)
print("ready", flush=True)
c, _ = s.accept()
h, got = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b)
    got += len(b)
blob = bytes(range(256)) * (n // 256)
c.sendall(f"{got} {h.hexdigest()} {hashlib.sha256(blob).hexdigest()}\n".encode())
c.sendall(blob)
c.shutdown(socket.SHUT_WR)
c.recv(1)  # the client's close: everything reached it
c.close()
"""

# In the lab host: SIZE random bytes up, everything back, and what the
# two ends saw.
TCP_CLIENT = r"""
import hashlib, json, os, socket, sys
port, size = int(sys.argv[1]), int(sys.argv[2])
data = os.urandom(size)
c = socket.create_connection(("127.0.0.1", port), timeout=60)
c.sendall(data)
c.shutdown(socket.SHUT_WR)
buf = bytearray()
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    buf += b
line, rest = bytes(buf).split(b"\n", 1)
got, up, down = line.decode().split()
print(json.dumps({"sent": size, "server_got": int(got), "up_ok": up == hashlib.sha256(data).hexdigest(),
                  "down_len": len(rest), "down_ok": down == hashlib.sha256(rest).hexdigest()}))
"""

UDP_SERVER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
for _ in range(int(sys.argv[2])):
    d, a = s.recvfrom(65536)
    s.sendto(b"echo:" + d, a)
"""

# Two clients (two source ports), each its own flow through the forwarder.
UDP_CLIENT = r"""
import json, socket, sys
port = int(sys.argv[1])
out = []
for name in (b"one", b"two"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(10)
    for payload in (name, name * 10000):
        s.sendto(payload, ("127.0.0.1", port))
        d, a = s.recvfrom(65536)
        out.append([d == b"echo:" + payload, len(d), a[1] == port])
print(json.dumps(out))
"""

CONNECT = r"""
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10).close()
    print("open")
except ConnectionRefusedError:
    print("refused")
"""

LISTEN = r"""
import socket, sys, time
s = socket.socket()
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(1)
print("ready", flush=True)
time.sleep(120)
"""


def marker():
    return f"abports-{secrets.token_hex(4)}"


def nothing_left(mark):
    """No process of that start alive (appbox, its helper, the factory,
    the relays, the command): their command lines all hold MARK."""
    assert wait_until(lambda: not [p for p in find_procs(mark) if pid_alive(p)], timeout=10), \
        [open(f"/proc/{p}/comm").read().strip() for p in find_procs(mark) if pid_alive(p)]




def start_sandbox(netlab, appbox_bin, run_as, args, script, *script_args):
    p = netlab.popen_in_host([appbox_bin, "sandbox", *args, "--", "python3", "-c", script, *script_args],
                             as_user=run_as, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(p.stdout, lambda t: "ready" in t, timeout=30)
    except AssertionError:
        p.kill()
        raise AssertionError(f"the server did not start: {p.communicate()[1].decode(errors='replace')}")
    return p


def test_publish_tcp_both_ways(netlab, appbox_bin, run_as):
    mark = marker()
    size_up, size_down = 24 << 20, 16 << 20
    p = start_sandbox(netlab, appbox_bin, run_as, ["--network", "none", "-p", "18080:8000"],
                      TCP_SERVER, "8000", str(size_down), mark)
    r = netlab.run_in_host(["python3", "-c", TCP_CLIENT, "18080", str(size_up)], as_user=run_as, timeout=120)
    got = json.loads(ok(r))
    assert got == {"sent": size_up, "server_got": size_up, "up_ok": True, "down_len": size_down,
                   "down_ok": True}
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    # the container is gone: so is its published port, and every helper
    assert ok(netlab.run_in_host(["python3", "-c", CONNECT, "18080"], as_user=run_as)).strip() == "refused"
    nothing_left(mark)


def test_publish_reaches_nothing_but_what_listens(netlab, appbox_bin, run_as):
    """A connection to a published port where nothing listens in the
    container is reset (not hung), and the forwarder keeps serving."""
    mark = marker()
    p = start_sandbox(netlab, appbox_bin, run_as, ["-p", "18082:8000", "-p", "18083:8001"],
                      TCP_SERVER, "8000", "1024", mark)
    r = netlab.run_in_host(["curl", "-sS", "--max-time", "20", "http://127.0.0.1:18083/"], as_user=run_as)
    # reset after the accept; a client slow to look (a loaded machine)
    # finds its connect already failed: curl then says "couldn't connect"
    said = r.stderr.lower()
    assert r.returncode != 0 and any(w in said for w in ("reset", "empty reply", "couldn't connect")), r.stderr
    got = json.loads(ok(netlab.run_in_host(["python3", "-c", TCP_CLIENT, "18082", "1000"], as_user=run_as)))
    assert got["up_ok"] and got["down_ok"] and got["down_len"] == 1024
    p.communicate(timeout=60)
    assert p.returncode == 0
    nothing_left(mark)


def test_publish_udp_echo(netlab, appbox_bin, run_as):
    mark = marker()
    p = start_sandbox(netlab, appbox_bin, run_as, ["-p", "127.0.0.1:15353:5353/udp"], UDP_SERVER, "5353", "4", mark)
    got = json.loads(ok(netlab.run_in_host(["python3", "-c", UDP_CLIENT, "15353"], as_user=run_as, timeout=60)))
    assert got == [[True, 8, True], [True, 30005, True], [True, 8, True], [True, 30005, True]]
    p.communicate(timeout=60)
    assert p.returncode == 0
    nothing_left(mark)
    # the host port is free again: bound by the next one
    r = netlab.run_in_host(["python3", "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                            ".bind(('127.0.0.1', 15353)); print('free')"], as_user=run_as)
    assert ok(r).strip() == "free"


def test_publish_port_in_use(netlab, appbox_bin, run_as):
    holder = netlab.popen_in_host(["python3", "-c", LISTEN, "18084"], as_user=run_as, stdout=subprocess.PIPE)
    read_until(holder.stdout, lambda t: "ready" in t)
    mark = marker()
    r = netlab.run_in_host([appbox_bin, "sandbox", "-p", "18085:80", "-p", "18084:8000", "--", "true", mark],
                           as_user=run_as)
    assert one_line_error(r, 125) == "appbox: --publish 18084:8000: host port 18084/tcp is in use"
    nothing_left(mark)
    # the first port was given back
    assert ok(netlab.run_in_host(["python3", "-c", CONNECT, "18085"], as_user=run_as)).strip() == "refused"
    if run_as == "user":
        r = netlab.run_in_host([appbox_bin, "sandbox", "-p", "80:8000", "--", "true", mark], as_user=run_as)
        line = one_line_error(r, 125)
        assert line.startswith("appbox: --publish 80:8000: host port 80/tcp is privileged"), line
        nothing_left(mark)


def test_publish_bad_address(netlab, appbox_bin, run_as):
    r = netlab.run_in_host([appbox_bin, "sandbox", "-p", "198.51.100.7:18086:80", "--", "true"], as_user=run_as)
    assert one_line_error(r, 125) == \
        "appbox: --publish 198.51.100.7:18086:80: 198.51.100.7 is not an address of this host"


# --- links between named containers -------------------------------------


def lab_ab(netlab, store):
    def ab(*args, **kw):
        return netlab.run_in_host([store.appbox, *args], as_user=store.as_user, extra_env=store.env, **kw)
    return ab


def test_link_between_named_containers(netlab, ctr):
    ab = lab_ab(netlab, ctr)
    base = f"dir:{ctr.src_root}"
    ok(ab("create", "srv", "--base", base, "--network", "none", "--uid", "0", "--no-launcher"))
    ok(ab("create", "cli", "--base", base, "--network", "none", "--link", "srv:80:8080", "--no-launcher"))
    ok(ab("start", "srv"))
    ok(ab("exec", "srv", "--", "sh", "-c", "mkdir -p /www && head -c 6291456 /dev/urandom >/www/big && "
          "echo hello from srv >/www/index.html && httpd -p 80 -h /www"))
    want = ok(ab("exec", "srv", "--", "sha256sum", "/www/big")).split()[0]
    sock = ctr.runtime / "srv" / "net.sock"
    st = sock.lstat()
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == user_info(ctr.as_user).uid

    ok(ab("start", "cli"))
    got = ok(ab("exec", "cli", "--", "sh", "-c", "wget -q -O - http://127.0.0.1:8080/big | sha256sum"))
    assert got.split()[0] == want
    assert ok(ab("exec", "cli", "--", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/")) == "hello from srv\n"

    # srv stopped: a connection to the link is closed at once, and cli's
    # log says why
    ok(ab("stop", "srv"))
    assert not sock.exists()
    r = ab("exec", "cli", "--", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/")
    assert r.returncode != 0 and r.stdout == ""
    assert any("link srv:80: srv is not running" in l for l in ctr.log("cli")), ctr.log("cli")

    # srv back: the same link works again, cli untouched
    ok(ab("start", "srv"))
    ok(ab("exec", "srv", "--", "httpd", "-p", "80", "-h", "/www"))
    assert ok(ab("exec", "cli", "--", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/")) == "hello from srv\n"
    assert any("srv is reachable again" in l for l in ctr.log("cli")), ctr.log("cli")
    assert ctr.starts("cli") == 1

    assert store_procs(ctr)
    ok(ab("stop", "cli", "srv"))
    assert not sock.exists() and not (ctr.runtime / "cli" / "net.sock").exists()
    assert wait_until(lambda: not store_procs(ctr), timeout=10), store_procs(ctr)


def test_link_to_missing_container(netlab, ctr):
    ab = lab_ab(netlab, ctr)
    base = f"dir:{ctr.src_root}"
    ok(ab("create", "cli", "--base", base, "--link", "nosuch:80", "--no-launcher"))
    r = ab("start", "cli")
    assert one_line_error(r, 2) == "appbox: --link nosuch:80: there is no container nosuch (appbox list shows yours)"
    assert ctr.state("cli") == "stopped"
    assert not (ctr.runtime / "cli" / "net.sock").exists()
    r = ab("sandbox", "--link", "nosuch:80:8080", "--", "true")
    assert one_line_error(r, 2) == "appbox: --link nosuch:80: there is no container nosuch (appbox list shows yours)"
    r = ab("create", "self", "--base", base, "--link", "self:80:8080", "--no-launcher")
    if r.returncode == 0:
        r = ab("start", "self")
        assert one_line_error(r, 2).startswith("appbox: --link self:80: a container cannot link to itself")


def test_link_socket_refuses_bad_requests(netlab, ctr):
    """net.sock answers one well-formed request for a port, nothing else."""
    ab = lab_ab(netlab, ctr)
    ok(ab("create", "srv", "--base", f"dir:{ctr.src_root}", "--uid", "0", "--no-launcher"))
    ok(ab("start", "srv"))
    ok(ab("exec", "srv", "--", "sh", "-c", "mkdir -p /www && echo hi >/www/index.html && httpd -p 80 -h /www"))
    probe = r"""
import array, socket, struct, sys
path = sys.argv[1]
def ask(msg):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(20)
    s.connect(path)
    s.send(msg)
    fds = array.array("i")
    data, anc, flags, addr = s.recvmsg(16, socket.CMSG_SPACE(4))
    for level, kind, d in anc:
        fds.frombytes(d[:4])
    return struct.unpack("i", data)[0], len(fds)
good = struct.pack("=IHH", 0x4b4c4241, 1, 80)
print(ask(good), ask(good[:6]), ask(good + b"x"), ask(struct.pack("=IHH", 0x4b4c4241, 2, 80)),
      ask(struct.pack("=IHH", 0x4b4c4241, 1, 0)), ask(struct.pack("=IHH", 0x4b4c4241, 1, 81)))
"""
    r = netlab.run_in_host(["python3", "-c", probe, str(ctr.runtime / "srv" / "net.sock")], as_user=ctr.as_user)
    assert ok(r).strip() == "(0, 1) (-22, 0) (-22, 0) (-22, 0) (-22, 0) (-111, 0)"
    if ctr.as_user == "root":
        # another user cannot reach root's link socket
        r = netlab.run_in_host(["python3", "-c", probe, str(ctr.runtime / "srv" / "net.sock")], as_user="user")
        assert r.returncode != 0 and "PermissionError" in r.stderr, r.stderr
    ok(ab("stop", "srv"))


def test_publish_from_named_container(netlab, ctr):
    """A named container's published port lives as long as the container:
    open from start to stop, closed after, open again at the next start."""
    ab = lab_ab(netlab, ctr)
    ok(ab("create", "web", "--base", f"dir:{ctr.src_root}", "--uid", "0", "--publish", "127.0.0.1:18090:80",
          "--no-launcher"))
    connect = ["python3", "-c", CONNECT, "18090"]
    assert ok(netlab.run_in_host(connect, as_user=ctr.as_user)).strip() == "refused"
    for _ in range(2):
        ok(ab("start", "web"))
        ok(ab("exec", "web", "--", "sh", "-c", "mkdir -p /www && echo web page >/www/index.html && "
              "httpd -p 80 -h /www"))
        r = netlab.run_in_host(["curl", "-sS", "--max-time", "20", "http://127.0.0.1:18090/"], as_user=ctr.as_user)
        assert ok(r) == "web page\n"
        ok(ab("stop", "web"))
        assert ok(netlab.run_in_host(connect, as_user=ctr.as_user)).strip() == "refused"
        assert wait_until(lambda: not store_procs(ctr), timeout=10), store_procs(ctr)


def test_publish_as_user_without_subordinate_ids(netlab, appbox_bin):
    """One id mapped (no /etc/subuid range), 0 not among them: the
    forwarder still makes its sockets in the container."""
    mark = marker()
    p = start_sandbox(netlab, appbox_bin, "nosub", ["-p", "18088:8000"], TCP_SERVER, "8000", "65536", mark)
    got = json.loads(ok(netlab.run_in_host(["python3", "-c", TCP_CLIENT, "18088", "100000"], as_user="nosub")))
    assert got == {"sent": 100000, "server_got": 100000, "up_ok": True, "down_len": 65536, "down_ok": True}
    p.communicate(timeout=60)
    assert p.returncode == 0
    nothing_left(mark)


def test_link_carries_bytes_both_ways(netlab, ctr):
    """A sandbox links to a named container (the host view, for python3):
    a large upload and download through the link, checksums on both ends."""
    ab = lab_ab(netlab, ctr)
    ok(ab("create", "big", "--no-launcher"))
    ok(ab("start", "big"))
    size_up, size_down = 12 << 20, 20 << 20
    server = netlab.popen_in_host([ctr.appbox, "exec", "big", "--", "python3", "-c", TCP_SERVER, "8000",
                                   str(size_down)], as_user=ctr.as_user, extra_env=ctr.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    read_until(server.stdout, lambda t: "ready" in t, timeout=30)
    r = ab("sandbox", "--link", "big:8000:9000", "--", "python3", "-c", TCP_CLIENT, "9000", str(size_up),
           timeout=120)
    assert json.loads(ok(r)) == {"sent": size_up, "server_got": size_up, "up_ok": True, "down_len": size_down,
                                 "down_ok": True}
    server.communicate(timeout=30)
    assert server.returncode == 0
    ok(ab("stop", "big"))
    assert wait_until(lambda: not store_procs(ctr), timeout=10), store_procs(ctr)
