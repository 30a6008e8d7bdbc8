"""--network nat for an ordinary user (net/pasta.c): pasta (package
passt), or slirp4netns where /usr/bin/pasta is missing.  Everything runs
inside netlab's throwaway host, as the test user, with a 0666
/dev/net/tun (conftest's tun_node).

The slirp4netns fallback is tested the way a machine without passt looks:
in a private mount namespace (netlab's, as root, before changing to the
test user) /dev/null is bound over /usr/bin/pasta, so appbox cannot
execute it.  Nothing in appbox chooses the fallback but a missing pasta.

What the user would check: the page fetched by name (DNS through the
lab's resolver), UDP out and back, a service on the lab host's 127.0.0.1
out of reach (through 127.0.0.1, the gateway, the host's address, and a
hand-made packet) and within reach at the documented address with
--allow-host-loopback, the error messages, and that no pasta or
slirp4netns process is left once the container is gone."""

import json
import os
import signal
import subprocess

import pytest

from conftest import _wrap, ok, pid_alive, store_env, user_env, user_info, wait_until
from netlab import _listening, netlab  # noqa: F401 (the fixture)

CURL = ["curl", "-sS", "--max-time", "20"]
BACKENDS = ["pasta", "slirp4netns"]
# the address where the host's loopback appears with --allow-host-loopback
# (pasta: the gateway, which is the lab's router; slirp4netns: 10.0.2.2)
LOOPBACK_AT = {"pasta": "192.0.2.2", "slirp4netns": "10.0.2.2"}
DNS = {"pasta": "169.254.1.1", "slirp4netns": "10.0.2.3"}

# as root in netlab's host wrapper (a private mount namespace already):
# "$1" programs to hide, "$2" a resolv.conf to bind, or "", then the command
PRELUDE = ('for t in $1; do mount --bind /dev/null "$t" || exit 1; done; '
           '[ -z "$2" ] || mount --bind "$2" /etc/resolv.conf || exit 1; shift 2; exec "$@"')


def in_host(lab, argv, tun, backend="pasta", hide=None, env=None, resolv=None):
    """Run ARGV in LAB's host as the test user; BACKEND "slirp4netns": with
    /usr/bin/pasta hidden; HIDE: a list of programs to hide instead;
    RESOLV: a file to see as /etc/resolv.conf."""
    if hide is None:
        hide = ["/usr/bin/pasta"] if backend == "slirp4netns" else []
    env = env or user_env("user")
    if not hide and not resolv:
        return lab.run_in_host(argv, as_user="user", tun=tun, env=env, timeout=90)
    cmd = ["sh", "-c", PRELUDE, "prelude", " ".join(hide), str(resolv or ""), *_wrap(argv, "user", tun)]
    return lab.run_in_host(cmd, as_user="root", env=env, timeout=90)


def helpers_in(lab):
    """pasta and slirp4netns processes (live) in LAB's host namespace."""
    want = f"net:[{lab.inodes['host']}]"
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{d}/exe")
            ns = os.readlink(f"/proc/{d}/ns/net")
        except OSError:
            continue
        # pasta is a link to passt, which may exec passt.avx2
        tool = os.path.basename(exe).split(".")[0]
        if tool in ("pasta", "passt", "slirp4netns") and ns == want and pid_alive(int(d)):
            out.append((int(d), exe))
    return out


def assert_no_helpers(lab):
    # a helper KILLed at teardown is reaped by init a moment later
    assert wait_until(lambda: not helpers_in(lab), timeout=10), f"left running: {helpers_in(lab)}"


def nat(*opts):
    return ["sandbox", "--network", "nat", *opts, "--"]


@pytest.fixture(params=BACKENDS)
def backend(request, netlab):
    for tool in ("/usr/bin/pasta", "/usr/bin/slirp4netns"):
        if not os.access(tool, os.X_OK):
            pytest.skip(f"{tool} is not installed (scripts/deps.sh: passt, slirp4netns)")
    return request.param


def test_fetch_by_name(netlab, appbox_bin, tun_node, backend):
    """The lab's page by name: DNS through the tool's forwarder (named by
    /etc/resolv.conf) to the lab host's resolver, TCP out through NAT."""
    script = f"cat /etc/resolv.conf; {' '.join(CURL)} http://{netlab.NAME}/"
    r = in_host(netlab, [appbox_bin, *nat(), "sh", "-c", script], tun_node, backend)
    out = ok(r)
    assert out.startswith(f"nameserver {DNS[backend]}\n"), out
    assert out.endswith(netlab.page), out
    assert_no_helpers(netlab)


def test_host_resolver_on_loopback(netlab, appbox_bin, tun_node, backend):
    """A host whose resolver listens on its loopback (systemd-resolved's
    127.0.0.53): DNS still works, through the tool's forwarder, while the
    rest of the host's loopback stays out of reach."""
    netlab.popen_in_host(
        ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
         "--user=root", "--group=root", "--listen-address=127.0.0.53", "--bind-interfaces",
         f"--pid-file={netlab.tmp / 'lo-dnsmasq.pid'}", f"--address=/{netlab.NAME}/{netlab.INET_ADDR}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: _listening(netlab.host_pid, "udp", 53), timeout=10)
    resolv = netlab.tmp / "resolv-lo.conf"
    resolv.write_text("nameserver 127.0.0.53\n")
    resolv.chmod(0o644)
    loopback_server(netlab, 7071)
    script = (f"{' '.join(CURL)} http://{netlab.NAME}/ && "
              f"if timeout 5 busybox nc -w 3 {LOOPBACK_AT[backend]} 7071 </dev/null | grep -q HOST; "
              "then echo reached; else echo blocked; fi")
    out = ok(in_host(netlab, [appbox_bin, *nat(), "sh", "-c", script], tun_node, backend, resolv=resolv))
    assert out == netlab.page + "blocked\n", out


def test_interface_and_route(netlab, appbox_bin, tun_node, backend):
    """pasta: the host's own address and gateway; slirp4netns: 10.0.2.100
    via 10.0.2.2.  /etc/hosts names the container at its address."""
    r = in_host(netlab, [appbox_bin, *nat(), "sh", "-c", "ip -o -4 addr; ip route; cat /etc/hosts"],
                tun_node, backend)
    out = ok(r)
    if backend == "pasta":
        assert f"inet {netlab.HOST_ADDR}/24" in out and f"default via {netlab.INET_ADDR}" in out, out
        assert f"{netlab.HOST_ADDR}\tappbox" in out, out
    else:
        assert "inet 10.0.2.100/24" in out and "default via 10.0.2.2" in out, out
        assert "10.0.2.100\tappbox" in out, out


UDP_ECHO = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(b"echo:" + d, a)
'''

UDP_CLIENT = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for i in range(10):   # UDP may drop the first one while the path comes up
    s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
    try:
        print(s.recv(2048).decode())
        break
    except socket.timeout:
        pass
'''


DNS_QUERY = r'''
import socket, struct, sys
q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x07example\x04test\x00" + struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(q, (sys.argv[1], 53))
a = s.recv(512)
print("dns answer", socket.inet_ntoa(a[-4:]))
'''


def test_udp_out(netlab, appbox_bin, tun_node, backend):
    """UDP leaves and its answer comes back: an echo server on the
    internet side, and a DNS question straight to the lab's resolver."""
    netlab.popen_in_internet(["python3", "-c", UDP_ECHO, netlab.INET_ADDR, "7777"])
    assert wait_until(lambda: _listening(netlab.inet_pid, "udp", 7777), timeout=10)
    script = (f"python3 -c '{UDP_CLIENT}' {netlab.INET_ADDR} 7777 hello-udp; "
              f"python3 -c '{DNS_QUERY}' {netlab.INET_ADDR}")
    out = ok(in_host(netlab, [appbox_bin, *nat(), "sh", "-c", script], tun_node, backend))
    assert out.split("\n")[:2] == ["echo:hello-udp", f"dns answer {netlab.INET_ADDR}"], out


TCP_SERVER = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
while True:
    c, a = s.accept()
    c.sendall(b"HOST-LOOPBACK\n")
    c.close()
'''

# prints "NAME reached" or "NAME blocked" for each address
PROBE = ('for a in "$@"; do name=${a%%=*}; addr=${a#*=}; '
         'if timeout 5 busybox nc -w 3 "$addr" {port} </dev/null 2>/dev/null | grep -q HOST-LOOPBACK; '
         'then echo "$name reached"; else echo "$name blocked"; fi; done')


def loopback_server(lab, port):
    lab.popen_in_host(["python3", "-c", TCP_SERVER, str(port)])
    assert wait_until(lambda: _listening(lab.host_pid, "tcp", port), timeout=10)


def probe(lab, appbox_bin, tun, backend, port, *opts):
    script = PROBE.replace("{port}", str(port))
    gw = LOOPBACK_AT[backend]
    targets = ["loopback=127.0.0.1", f"gateway={gw}", f"hostaddr={lab.HOST_ADDR}"]
    out = ok(in_host(lab, [appbox_bin, *nat(*opts), "sh", "-c", script, "probe", *targets], tun, backend))
    return dict(line.split() for line in out.splitlines())


def test_host_loopback_out_of_reach(netlab, appbox_bin, tun_node, backend):
    """A service on the lab host's 127.0.0.1 is not reachable through
    127.0.0.1 (the container's own), the gateway address or the host's
    address; with --allow-host-loopback it is, at the documented address
    (pasta: the gateway; slirp4netns: 10.0.2.2), and 127.0.0.1 stays the
    container's own."""
    loopback_server(netlab, 7070)
    got = probe(netlab, appbox_bin, tun_node, backend, 7070)
    assert got == {"loopback": "blocked", "gateway": "blocked", "hostaddr": "blocked"}, got
    got = probe(netlab, appbox_bin, tun_node, backend, 7070, "--allow-host-loopback")
    assert got == {"loopback": "blocked", "gateway": "reached", "hostaddr": "blocked"}, got
    # and the rest of the world still works with it; but under pasta the
    # gateway's own address now leads to the host's loopback (this pasta
    # has no --map-host-loopback), and netlab's gateway is its web server:
    # a second address of the internet side's shows the world is there
    ok(netlab.run_in_internet(["ip", "addr", "add", "192.0.2.3/24", "dev", "eth0"]))
    r = in_host(netlab, [appbox_bin, *nat("--allow-host-loopback"), *CURL, "http://192.0.2.3/"], tun_node, backend)
    assert ok(r) == netlab.page
    if backend == "slirp4netns":
        r = in_host(netlab, [appbox_bin, *nat("--allow-host-loopback"), *CURL, f"http://{netlab.NAME}/"],
                    tun_node, backend)
        assert ok(r) == netlab.page
    assert_no_helpers(netlab)


UDP_SINK = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(2048)
    with open(sys.argv[2], "a") as f:
        f.write(repr(d) + "\n")
'''

# a UDP datagram to 127.0.0.1:PORT, hand-made, on the tap interface: both
# tools would carry it to the host's loopback
RAW_SEND = r'''
import socket, struct, sys
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
ifname, port = sys.argv[1], int(sys.argv[2])
payload = b"RAW-FRAME"
udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                 socket.inet_aton("10.0.2.100"), socket.inet_aton("127.0.0.1"))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
try:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
except PermissionError:
    print("no packet socket")
    sys.exit(0)
s.bind((ifname, 0))
mac = bytes.fromhex(open("/sys/class/net/%s/address" % ifname).read().strip().replace(":", ""))
for i in range(3):
    s.send(b"\xff" * 6 + mac + b"\x08\x00" + ip + udp)
print("sent")
'''


def test_hand_made_packets_cannot_reach_host_loopback(netlab, appbox_bin, tun_node, backend):
    """Neither tool filters a hand-made packet to 127.0.0.1 (checked here
    with the capability: it arrives), so the container's root gets no
    packet socket (CAP_NET_RAW), and --cap-add NET_RAW / NET_ADMIN are
    refused unless --allow-host-loopback."""
    sink = netlab.tmp / "sink.log"
    netlab.popen_in_host(["python3", "-c", UDP_SINK, "5353", str(sink)])
    assert wait_until(lambda: _listening(netlab.host_pid, "udp", 5353), timeout=10)
    script = f"python3 -c '{RAW_SEND}' $(ls /sys/class/net | grep -vx lo) 5353"
    out = ok(in_host(netlab, [appbox_bin, *nat("--uid", "0"), "sh", "-c", script], tun_node, backend))
    assert out.strip() == "no packet socket", out
    for cap in ("NET_RAW", "NET_ADMIN", "ALL"):
        r = in_host(netlab, [appbox_bin, *nat("--uid", "0", "--cap-add", cap), "true"], tun_node, backend)
        assert r.returncode == 2, r
        assert "--allow-host-loopback" in r.stderr and "host's loopback" in r.stderr, r.stderr
    assert not sink.exists()
    # what the refusal prevents: with the capability, the packet arrives
    out = ok(in_host(netlab, [appbox_bin, *nat("--uid", "0", "--cap-add", "NET_RAW", "--allow-host-loopback"),
                              "sh", "-c", script], tun_node, backend))
    assert out.strip() == "sent", out
    assert wait_until(sink.exists, timeout=10) and "RAW-FRAME" in sink.read_text()
    assert_no_helpers(netlab)


def test_neither_tool(netlab, appbox_bin, tun_node):
    r = in_host(netlab, [appbox_bin, *nat(), "true"], tun_node,
                hide=["/usr/bin/pasta", "/usr/bin/slirp4netns"])
    assert r.returncode == 125, r
    assert "--network nat as a user needs pasta (package passt) or slirp4netns" in r.stderr, r.stderr
    assert_no_helpers(netlab)


def test_tun_not_usable(netlab, appbox_bin, backend):
    """The machine's own /dev/net/tun is 0600: the container's root cannot
    open it, and the error says what to do."""
    if os.stat("/dev/net/tun").st_mode & 0o006 == 0o006:  # Debian's udev: 0666
        pytest.skip("/dev/net/tun is usable by every user here")
    r = in_host(netlab, [appbox_bin, *nat(), "true"], None, backend)
    assert r.returncode == 125, r
    assert f"{backend} " in r.stderr and "/dev/net/tun" in r.stderr and "0666" in r.stderr, r.stderr
    assert_no_helpers(netlab)


@pytest.mark.parametrize("opts, says", [
    (["--network", "nat:web"], "--network nat:web as a user: only a named container can be a member of a "
                               "named network"),
    (["--network", "nat", "--subnet", "10.7.0.0/24"], "--subnet (Subnet=) applies to --network nat as root"),
    (["--network", "nat", "--address", "10.7.0.5"], "--address (Address=) applies to --network nat as root"),
])
def test_refused_for_users(netlab, appbox_bin, tun_node, opts, says):
    r = in_host(netlab, [appbox_bin, "sandbox", *opts, "--", "true"], tun_node)
    assert r.returncode == 2, r
    assert says in r.stderr, r.stderr
    assert_no_helpers(netlab)


def test_root_callers_unaffected(netlab, appbox_bin, tun_node):
    """Root's nat is the bridge's (nat.c): none of the user's refusals, and
    no pasta started for it."""
    for opts in (["--network", "nat:web"], ["--network", "nat", "--subnet", "10.7.0.0/24"],
                 ["--network", "nat", "--cap-add", "NET_RAW"]):
        r = netlab.run_in_host([appbox_bin, "sandbox", *opts, "--", "true"], as_user="root", tun=tun_node,
                               timeout=60)
        assert "as a user" not in r.stderr and "need root" not in r.stderr, r.stderr
        assert not any("pasta" in l or "slirp4netns" in l for l in r.stderr.splitlines()), r.stderr
    assert_no_helpers(netlab)


def user_store(lab, appbox_bin, tun, world_tmp, backend):
    """A store of the test user's own (data, runtime, home) and ab(ARGS):
    appbox ARGS in LAB's host with it; returns (store, ab)."""
    u = user_info("user")
    store = world_tmp / "store"
    for d in (store, store / "data", store / "run", store / "home"):
        d.mkdir()
        os.chown(d, u.uid, u.gid)
    os.chmod(store / "run", 0o700)
    env = user_env("user", store_env(store / "data", store / "run", store / "home"))

    def ab(*args):
        return in_host(lab, [appbox_bin, *args], tun, backend, env=env)
    return store, ab


def test_named_container(netlab, appbox_bin, tun_node, world_tmp, backend):
    """create --network nat, start, exec, stop: the same network as a
    sandbox's, and the helper gone with the container."""
    store, ab = user_store(netlab, appbox_bin, tun_node, world_tmp, backend)
    ok(ab("create", "web", "--network", "nat", "--no-launcher"))
    try:
        ok(ab("start", "web"))
        assert helpers_in(netlab), "no network helper runs for the started container"
        out = ok(ab("exec", "web", "--", "sh", "-c",
                    f"cat /etc/resolv.conf; {' '.join(CURL)} http://{netlab.NAME}/"))
        assert out == f"nameserver {DNS[backend]}\n{netlab.page}", out
        # what `show` reads: the network as resolved at start
        spec = json.loads((store / "run" / "web" / "spec.json").read_text())
        want = {"pasta": (2, f"{netlab.HOST_ADDR}/24", netlab.INET_ADDR),
                "slirp4netns": (3, "10.0.2.100/24", "10.0.2.2")}[backend]
        got = (spec.get("networkBackend"), spec.get("networkAddr"), spec.get("networkGateway"))
        assert got == want and spec.get("networkDns") == DNS[backend], spec
        ok(ab("stop", "web"))
        assert_no_helpers(netlab)
        # again: a second start gets a fresh helper
        ok(ab("start", "web"))
        out = ok(ab("exec", "web", "--", *CURL, f"http://{netlab.NAME}/"))
        assert out == netlab.page
        ok(ab("stop", "web"))
        assert_no_helpers(netlab)
    finally:
        ab("rm", "--force", "web")
    assert_no_helpers(netlab)


def test_named_container_supervisor_killed(netlab, appbox_bin, tun_node, world_tmp, backend):
    """A SIGKILLed supervisor takes its network helper with it (the
    helper's parent-death signal survives the tool's own setup), and the
    next start works."""
    store, ab = user_store(netlab, appbox_bin, tun_node, world_tmp, backend)
    ok(ab("create", "svc", "--network", "nat", "--no-launcher"))
    try:
        ok(ab("start", "svc"))
        assert helpers_in(netlab), "no network helper runs for the started container"
        sup = int((store / "run" / "svc" / "supervisor.pid").read_text())
        os.kill(sup, signal.SIGKILL)
        assert_no_helpers(netlab)
        ok(ab("start", "svc"))
        assert ok(ab("exec", "svc", "--", *CURL, f"http://{netlab.NAME}/")) == netlab.page
        ok(ab("stop", "svc"))
        assert_no_helpers(netlab)
    finally:
        ab("rm", "--force", "svc")
    assert_no_helpers(netlab)


def test_user_without_subordinate_ids_is_told_what_to_do(netlab, appbox_bin, tun_node):
    """A user without an /etc/subuid range (a container that maps only the
    user's own id) is told so, with the command that adds one; nothing is
    started."""
    r = netlab.run_in_host([appbox_bin, *nat(), "true"], as_user="nosub", tun=tun_node, timeout=60)
    assert r.returncode == 125, r
    assert "--network nat as a user needs an /etc/subuid and /etc/subgid range" in r.stderr, r.stderr
    assert "usermod --add-subuids" in r.stderr, r.stderr
    assert_no_helpers(netlab)
