"""--network proxy --allow HOST[:PORT] (issue 12, seed 003): the container's
only way out is appbox's allow-list relay, and its DNS (127.0.0.11) answers
only the allowed names.  Everything runs inside netlab (never the machine's
network), as root and as a user."""

import os
import re
import subprocess
import uuid

import pytest

from conftest import ok, wait_until
from netlab import INET_ADDR, NAME, netlab  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not os.access("/usr/sbin/nft", os.X_OK),
                                reason="--network proxy needs /usr/sbin/nft (package nftables: scripts/deps.sh)")

CURL = ["curl", "-sS", "--max-time", "20"]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")


def proxy_sandbox(lab, appbox_bin, run_as, allow, cmd, **kw):
    args = [appbox_bin, "sandbox", "--network", "proxy"]
    for a in allow:
        args += ["--allow", a]
    kw.setdefault("timeout", 60)
    return lab.run_in_host([*args, "--", *cmd], as_user=run_as, **kw)


def helpers_left():
    """Processes named appbox-proxy (the helper) still running."""
    out = subprocess.run(["pgrep", "-x", "appbox-proxy"], capture_output=True, text=True).stdout
    return out.split()


def test_allowed_name_reaches_server(netlab, appbox_bin, run_as):
    r = proxy_sandbox(netlab, appbox_bin, run_as, [f"{NAME}:80"], [*CURL, f"http://{NAME}/"])
    assert ok(r) == netlab.page


def test_other_name_refused_by_dns(netlab, appbox_bin, run_as):
    r = proxy_sandbox(netlab, appbox_bin, run_as, [f"{NAME}:80"], [*CURL, "http://other.example.test/"])
    assert r.returncode == 6, (r.returncode, r.stderr)   # curl: could not resolve host
    assert "appbox: proxy: " in r.stderr and "dns other.example.test A refused" in r.stderr, r.stderr


def test_allowed_address_other_port_refused(netlab, appbox_bin, run_as):
    # a second server on the internet side, on a port the rule does not name
    srv = netlab.popen_in_internet(["busybox", "httpd", "-f", "-p", "8080", "-h", str(netlab.tmp / "www")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: netlab.run_in_internet(["sh", "-c", "cat /proc/net/tcp /proc/net/tcp6"])
                      .stdout.find(":1F90 ") >= 0, timeout=10), "the second server did not start"
    # the name first (so its address is known as the name's), then the port
    script = f"curl -sS --max-time 20 http://{NAME}/ >/dev/null && curl -sS --max-time 20 http://{INET_ADDR}:8080/"
    r = proxy_sandbox(netlab, appbox_bin, run_as, [f"{NAME}:80"], ["sh", "-c", script])
    assert r.returncode != 0, r.stdout
    assert netlab.page not in r.stdout
    assert f"{NAME} ({INET_ADDR}:8080) refused" in r.stderr, r.stderr
    srv.terminate()


def test_address_rule(netlab, appbox_bin, run_as):
    r = proxy_sandbox(netlab, appbox_bin, run_as, [f"{INET_ADDR}:80"], [*CURL, f"http://{INET_ADDR}/"])
    assert ok(r) == netlab.page
    # the address rule allows no name
    r = proxy_sandbox(netlab, appbox_bin, run_as, [f"{INET_ADDR}:80"], [*CURL, f"http://{NAME}/"])
    assert r.returncode == 6, (r.returncode, r.stderr)


def test_wildcard(netlab, appbox_bin, run_as):
    r = proxy_sandbox(netlab, appbox_bin, run_as, [f"*.{NAME}"], [*CURL, f"http://sub.{NAME}/"])
    assert ok(r) == netlab.page
    r = proxy_sandbox(netlab, appbox_bin, run_as, [f"*.{NAME}"], [*CURL, f"http://{NAME}/"])
    assert r.returncode == 6, (r.returncode, r.stderr)
    assert f"dns {NAME} A refused" in r.stderr


UDP_LISTENER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9999))
open(sys.argv[1] + ".ready", "w").close()
while True:
    data = s.recv(65536)
    with open(sys.argv[1], "ab") as f:
        f.write(data)
"""

UDP_SEND = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            "[s.sendto(b'%s', ('192.0.2.2', 9999)) for _ in range(3)]")


def test_udp_never_leaves(netlab, appbox_bin, run_as):
    got = netlab.tmp / "udp-got"
    listener = netlab.popen_in_internet(["python3", "-c", UDP_LISTENER, got],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: (netlab.tmp / "udp-got.ready").exists(), timeout=10)
    script = f"python3 -c \"{UDP_SEND % 'secret'}\"; curl -sS --max-time 20 http://{NAME}/"
    r = proxy_sandbox(netlab, appbox_bin, run_as, [f"{NAME}"], ["sh", "-c", script])
    assert ok(r) == netlab.page   # the proxy worked meanwhile
    # the same datagrams sent from the lab's host do arrive (the check can see them)
    ok(netlab.run_in_host(["python3", "-c", UDP_SEND % "control"]))
    assert wait_until(lambda: got.exists() and b"control" in got.read_bytes(), timeout=10)
    assert b"secret" not in got.read_bytes()
    listener.terminate()


def test_host_loopback_never_reached(netlab, appbox_bin, run_as):
    marker = f"loopback secret {uuid.uuid4()}"
    www = netlab.tmp / "lo-www"
    www.mkdir()
    (www / "index.html").write_text(marker)
    srv = netlab.popen_in_host(["busybox", "httpd", "-f", "-p", "127.0.0.1:8081", "-h", str(www)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: netlab.run_in_host(["busybox", "wget", "-q", "-O", "-",
                                                  "http://127.0.0.1:8081/"]).stdout == marker, timeout=10)
    for allow, url in (("127.0.0.1", "http://127.0.0.1:8081/"), ("127.0.0.1:8081", "http://127.0.0.1:8081/"),
                       ("127.0.0.2", "http://127.0.0.2:8081/")):
        r = proxy_sandbox(netlab, appbox_bin, run_as, [allow], [*CURL, url])
        assert marker not in r.stdout
        assert r.returncode != 0
    srv.terminate()


def test_named_container_log(netlab, appbox_bin, run_as, world_tmp):
    name = f"px{uuid.uuid4().hex[:8]}"
    env_dirs = {"APPBOX_DATA_DIR": str(world_tmp / "data"), "APPBOX_RUNTIME_DIR": str(world_tmp / "run")}
    if run_as != "root":
        subprocess.run(["chown", "abtest:abtest", str(world_tmp)], check=True)

    def ab(*args, **kw):
        return netlab.run_in_host([appbox_bin, *args], as_user=run_as, extra_env=env_dirs, timeout=90, **kw)

    ok(ab("create", name, "--network", "proxy", "--allow", f"{NAME}:80", "--base", "host"))
    try:
        script = (f"curl -sS --max-time 20 http://{NAME}/; curl -sS --max-time 20 http://{INET_ADDR}:8080/; "
                  "curl -sS --max-time 20 http://nope.test/; true")
        r = ab("run", name, "++cmd", "sh", "-c", script)
        assert netlab.page in r.stdout, r.stderr
        out = ok(ab("logs", name, "--network"))
        lines = out.splitlines()
        assert all(LOG_LINE.match(l) for l in lines), out
        allowed = [l for l in lines if f"{NAME} ({INET_ADDR}:80) allowed" in l]
        assert allowed, out
        up, down = map(int, re.search(r"up=(\d+) down=(\d+)", allowed[0]).groups())
        assert up > 0 and down > len(netlab.page), allowed[0]
        assert any(f"({INET_ADDR}:8080) refused up=0 down=0" in l for l in lines), out
        assert any("dns nope.test A refused" in l for l in lines), out
        assert ok(ab("logs", name, "--network", "-n", "1")).count("\n") == 1
        assert ok(ab("logs", name, "--network", "--lines=2")).splitlines() == lines[-2:]
        # without --network: the service's log, empty for a container that runs no service
        assert ok(ab("logs", name)) == ""
        r = ab("logs", name, "--network", "--follow")
        assert r.returncode == 2 and "--network takes only --lines N" in r.stderr, r.stderr
        r = ab("logs", name, "--network", "-n", "many")
        assert r.returncode == 2 and "--lines: 'many' is not a number of lines" in r.stderr, r.stderr
        r = ab("logs", "nosuch", "--network")
        assert r.returncode != 0 and "no container named 'nosuch'" in r.stderr, r.stderr
    finally:
        ab("rm", "--force", name)
    assert not (world_tmp / "run" / name).exists(), list((world_tmp / "run").iterdir())
    assert wait_until(lambda: not helpers_left(), timeout=10), helpers_left()


@pytest.mark.parametrize("bad", ["*.", "exa mple.test", "example.test:0", "example.test:99999", "1.2.3",
                                 ":80", "example..test"])
def test_bad_allow(appbox_bin, run_as, sandbox, bad):
    r = sandbox(["--network", "proxy", "--allow", bad, "--", "true"], as_user=run_as)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "--allow" in r.stderr and bad in r.stderr, r.stderr


def test_proxy_needs_a_rule(appbox_bin, run_as, sandbox):
    r = sandbox(["--network", "proxy", "--", "true"], as_user=run_as)
    assert r.returncode == 2
    assert "needs at least one --allow" in r.stderr


def test_no_helper_left(netlab, appbox_bin, run_as):
    before = set(helpers_left())
    ok(proxy_sandbox(netlab, appbox_bin, run_as, [NAME], ["true"]))
    assert wait_until(lambda: set(helpers_left()) <= before, timeout=10), helpers_left()


DNS_PROBE = r'''
import os, socket, struct, sys

def query(name, qtype=1, qid=0x4242):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)

def tcp_ask(msg):
    s = socket.create_connection(("127.0.0.11", 53), timeout=10)
    s.sendall(struct.pack(">H", len(msg)) + msg)
    n = struct.unpack(">H", s.recv(2, socket.MSG_WAITALL))[0]
    return s.recv(n, socket.MSG_WAITALL)

def rcode(ans):
    return ans[3] & 0xF

# hostile bytes first: UDP of every odd size, a TCP length beyond the limit,
# a TCP connection that says nothing and goes
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for data in (b"", b"\x01", os.urandom(11), os.urandom(12), os.urandom(300), os.urandom(5000),
             b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01"):
    u.sendto(data, ("127.0.0.11", 53))
t = socket.create_connection(("127.0.0.11", 53), timeout=10)
t.sendall(b"\xff\xff" + os.urandom(1000))
t.close()
t = socket.create_connection(("127.0.0.11", 53), timeout=10)
t.close()
# then real questions, over TCP
a = tcp_ask(query(sys.argv[1]))
print("allowed", rcode(a), socket.inet_ntoa(a[-4:]))
print("other", rcode(tcp_ask(query("other.test"))))
print("aaaa", rcode(tcp_ask(query(sys.argv[1], 28))), struct.unpack(">H", tcp_ask(query(sys.argv[1], 28))[6:8])[0])
'''


def test_dns_tcp_and_hostile_packets(netlab, appbox_bin, run_as):
    script = f"python3 -c '{DNS_PROBE}' {NAME} && curl -sS --max-time 20 http://{NAME}/"
    r = proxy_sandbox(netlab, appbox_bin, run_as, [f"{NAME}:80"], ["sh", "-c", script])
    out = ok(r)
    assert f"allowed 0 {INET_ADDR}" in out, out
    assert "other 5" in out, out          # REFUSED
    assert "aaaa 0 0" in out, out         # no IPv6 way out: an empty answer
    assert out.endswith(netlab.page), out  # the helper still serves


def test_many_connections(netlab, appbox_bin, run_as):
    """More connections, one after another, than the helper carries at once:
    each ended one is counted out (none leaks a place)."""
    script = (f"i=0; while [ $i -lt 300 ]; do curl -sS --max-time 20 -o /dev/null http://{NAME}/ || exit 1; "
              "i=$((i + 1)); done; echo all")
    r = proxy_sandbox(netlab, appbox_bin, run_as, [f"{NAME}:80"], ["sh", "-c", script], timeout=300)
    assert ok(r).strip() == "all"


def test_container_cannot_claim_a_name(netlab, appbox_bin, run_as):
    """A name allows only the addresses a real answer gave for it: the
    container's own idea of the name's address (curl --resolve) is refused."""
    r = proxy_sandbox(netlab, appbox_bin, run_as, [f"{NAME}:80"],
                      [*CURL, "--resolve", f"{NAME}:80:{netlab.HOST_ADDR}", f"http://{NAME}/"])
    assert r.returncode != 0
    assert f"{netlab.HOST_ADDR}:80 refused" in r.stderr, r.stderr


def test_failed_connect_logged(netlab, appbox_bin, run_as):
    r = proxy_sandbox(netlab, appbox_bin, run_as, [INET_ADDR], [*CURL, f"http://{INET_ADDR}:81/"])
    assert r.returncode != 0
    assert f"{INET_ADDR}:81 failed (Connection refused) up=0 down=0" in r.stderr, r.stderr


def test_helper_dies_with_a_killed_sandbox(netlab, appbox_bin, run_as):
    before = set(helpers_left())
    p = netlab.popen_in_host([appbox_bin, "sandbox", "--network", "proxy", "--allow", NAME, "--", "sleep", "60"],
                             as_user=run_as, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: set(helpers_left()) - before, timeout=20), "the helper did not start"
    helper = (set(helpers_left()) - before).pop()
    with open(f"/proc/{helper}/stat") as f:
        runner = int(f.read().rsplit(")", 1)[1].split()[1])
    os.kill(runner, 9)   # the sandbox itself (the helper's runner), SIGKILLed
    assert wait_until(lambda: not os.path.exists(f"/proc/{helper}"), timeout=10), "the helper outlived its sandbox"
    p.wait(timeout=20)


FLOOD = r'''
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
label = "x" * 60
for i in range(15000):
    name = f"n{i}.{label}.{label}.{label}.test"
    q = struct.pack(">HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0)
    for part in name.split("."):
        q += bytes([len(part)]) + part.encode()
    q += b"\0" + struct.pack(">HH", 1, 1)
    s.sendto(q, ("127.0.0.11", 53))
    assert s.recv(4096)[3] & 0xF == 5
print("flooded")
'''


def test_log_is_bounded(netlab, appbox_bin, run_as, world_tmp):
    name = f"px{uuid.uuid4().hex[:8]}"
    env_dirs = {"APPBOX_DATA_DIR": str(world_tmp / "data"), "APPBOX_RUNTIME_DIR": str(world_tmp / "run")}
    if run_as != "root":
        subprocess.run(["chown", "abtest:abtest", str(world_tmp)], check=True)

    def ab(*args, **kw):
        return netlab.run_in_host([appbox_bin, *args], as_user=run_as, extra_env=env_dirs, timeout=180, **kw)

    ok(ab("create", name, "--network", "proxy", "--allow", NAME, "--base", "host"))
    try:
        assert "flooded" in ok(ab("run", name, "++cmd", "python3", "-c", FLOOD))
        d = world_tmp / "run" / name / "network"
        sizes = {f.name: f.stat().st_size for f in d.iterdir()}
        assert set(sizes) == {"proxy.log", "proxy.log.1"}, sizes
        # about 3.3 MB written: at most two files of about 1 MiB are kept
        assert all(s <= 1024 * 1024 + 400 for s in sizes.values()), sizes
        lines = ok(ab("logs", name, "--network")).splitlines()
        assert lines[-1].endswith(f"dns n14999.{'x' * 60}.{'x' * 60}.{'x' * 60}.test A refused"), lines[-1]
        assert len(lines) < 15000
    finally:
        ab("rm", "--force", name)


RELAY_PROBE = r'''
import socket
ports = []
for line in open("/proc/net/tcp").read().splitlines()[1:]:
    f = line.split()
    ip, port = f[1].split(":")
    if f[3] == "0A" and ip == "0100007F":
        ports.append(int(port, 16))
print("listeners", len(ports))
for p in ports:
    s = socket.create_connection(("127.0.0.1", p), timeout=10)
    try:
        s.sendall(b"GET / HTTP/1.0\r\nHost: example.test\r\n\r\n")
        print("got", repr(s.recv(4096)))
    except OSError as e:
        print("error", e.errno)
'''


def test_relay_port_itself_leads_nowhere(netlab, appbox_bin, run_as):
    """The relay's own listener, connected to directly, carries nothing."""
    r = proxy_sandbox(netlab, appbox_bin, run_as, [NAME], ["python3", "-c", RELAY_PROBE])
    out = ok(r)
    assert "listeners 1" in out, out
    assert netlab.page not in out
    assert "got b''" in out or "error" in out, out
    assert re.search(r"127\.0\.0\.1:\d+ refused", r.stderr), r.stderr
