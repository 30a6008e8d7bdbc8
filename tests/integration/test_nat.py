"""--network nat[:NAME] as root (issue 12): a veth into a bridge of the
host's, nftables masquerade, named networks whose members reach each
other by name, the default network whose members cannot.

Everything runs inside a netlab (tests/integration/netlab.py): its host
namespace plays the host (bridges, veths, nft tables and ip_forward are
made there, never in the machine's own namespace), its internet
namespace serves a page on 192.0.2.2.  After each test nothing of
appbox's is left in the lab host: links, nft tables, the state under
/run/appbox-net/<netns inode>/, processes.  Root only: a user's nat is
pasta's (tested elsewhere)."""

import os
import re
import signal
import subprocess

import pytest

from conftest import ok, require_root, wait_until
from containers_support import Store
from netlab import NetLab, _listening

STATE_ROOT = "/run/appbox-net"

# one HTTP answer per connection: the peer's address (what NAT made of it)
PEER_SERVER = r"""
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9000))
s.listen(8)
while True:
    c, peer = s.accept()
    c.recv(4096)
    body = peer[0] + "\n"
    c.sendall(("HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)).encode())
    c.close()
"""


def links(lab):
    """{name: 'kind'} of the lab host's links (from ip -d -o link)."""
    out = ok(lab.run_in_host(["ip", "-d", "-o", "link"]))
    got = {}
    for line in out.splitlines():
        m = re.match(r"\d+:\s+([^:@\s]+)", line)
        if m:
            kind = re.search(r"\\\s+(bridge|veth|macvlan)\s", line)
            got[m.group(1)] = kind.group(1) if kind else ""
    return got


def veths(lab):
    """The host ends of appbox's veth pairs in the lab host."""
    return [n for n, k in links(lab).items() if k == "veth" and n.startswith("abv")]


def nft_tables(lab):
    return ok(lab.run_in_host(["nft", "list", "tables"])).split("\n")


def state_dir(lab):
    return f"{STATE_ROOT}/{lab.inodes['host']}"


def assert_nothing_left(lab):
    """No link, table, state or ip_forward of appbox's in the lab host."""
    assert sorted(links(lab)) == ["eth0", "lo"], links(lab)
    assert not [t for t in nft_tables(lab) if "appbox" in t], nft_tables(lab)
    assert not os.path.exists(state_dir(lab)), os.listdir(state_dir(lab))
    assert ok(lab.run_in_host(["cat", "/proc/sys/net/ipv4/ip_forward"])).strip() == "0"


class LabStore(Store):
    """A root store whose appbox runs in the lab's host namespace."""

    def __init__(self, lab, *args):
        super().__init__(*args)
        self.lab = lab

    def ab(self, *args, env=None, **kw):
        e = dict(self.env)
        e.update(env or {})
        kw.setdefault("errors", "replace")
        return self.lab.run_in_host([self.appbox, *args], as_user=self.as_user, extra_env=e, **kw)

    def popen(self, *args, env=None, argv=None, **kw):
        e = dict(self.env)
        e.update(env or {})
        p = self.lab.popen_in_host(argv if argv is not None else [self.appbox, *args], as_user=self.as_user,
                                   extra_env=e, **kw)
        self.procs.append(p)
        return p


@pytest.fixture
def lab():
    require_root("--network nat as root makes bridges and nft tables (in the lab)")
    if not os.access("/usr/sbin/nft", os.X_OK):
        pytest.skip("/usr/sbin/nft is missing (package nftables; scripts/deps.sh)")
    with NetLab() as l:
        yield l
        assert_nothing_left(l)
    left = l.leftovers()
    assert not left, f"netlab left: {left}"


@pytest.fixture
def store(lab, appbox_bin, world_tmp):
    base = world_tmp / "store"
    for d in (base, base / "data", base / "run", base / "home"):
        d.mkdir()
    os.chmod(base / "run", 0o700)
    s = LabStore(lab, "root", appbox_bin, base, None)
    try:
        yield s
    finally:
        s.cleanup()


def mk(store, name, *args):
    """A named container of the host view (curl, getent and busybox
    there; a static busybox cannot read /etc/hosts through NSS)."""
    return ok(store.ab("create", name, "--no-launcher", *args))


def sandbox(lab, appbox_bin, args, **kw):
    return lab.run_in_host([appbox_bin, "sandbox", *args], **kw)


# A check that something is NOT reachable waits for curl to give up, at
# most 5 s (a SYN into an isolated port is never answered).

def fetch(url):
    """A shell line that fetches URL with curl, retrying while the
    server starts (connection refused), at most ~10 s."""
    return (f"i=0; while [ $i -lt 50 ]; do curl -sSf --max-time 3 {url} 2>/dev/null && exit 0; i=$((i+1)); "
            f"sleep 0.2; done; "
            f"exit 1")


def addr_of(store, name):
    out = ok(store.ab("exec", name, "--", "ip", "-o", "-4", "addr", "show", "eth0"))
    return re.search(r"inet (\d+\.\d+\.\d+\.\d+)/(\d+)", out).group(1)


def serve(store, name, port=8080):
    """busybox httpd in NAME (a session of its own, in the background),
    serving 'page of NAME'."""
    script = (f"mkdir -p /tmp/www && echo 'page of {name}' > /tmp/www/index.html && "
              f"exec busybox httpd -f -p {port} -h /tmp/www")
    return store.popen("exec", name, "--", "sh", "-c", script, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


# --- a sandbox on the default network


def test_sandbox_fetches_through_nat(lab, appbox_bin):
    """The page of the lab's internet, fetched through NAT: the server
    sees the lab host's address as the source."""
    script = ("ip -o -4 addr show eth0; ip route; cat /etc/resolv.conf; "
              f"curl -sS --max-time 20 http://{lab.INET_ADDR}/")
    out = ok(sandbox(lab, appbox_bin, ["--network", "nat", "--", "sh", "-c", script]))
    assert re.search(r"inet 10\.89\.0\.\d+/24", out), out
    assert "default via 10.89.0.1 dev eth0" in out, out
    assert "nameserver 127.0.0.11" in out, out
    assert out.endswith(lab.page), out
    # the internet side sees the lab host's address: a server there
    # answers each connection with its peer's address
    srv = lab.popen_in_internet(["python3", "-c", PEER_SERVER], stdout=subprocess.PIPE, text=True)
    assert wait_until(lambda: _listening(lab.inet_pid, "tcp", 9000), timeout=10)
    out = ok(sandbox(lab, appbox_bin, ["--network", "nat", "--", "curl", "-sS", "--max-time", "20",
                                       f"http://{lab.INET_ADDR}:9000/"]))
    assert out.strip() == lab.HOST_ADDR, out
    srv.kill()
    srv.wait(timeout=10)


def test_sandbox_state_while_running_and_after(lab, appbox_bin):
    """While a sandbox runs: the bridge, its veth, the nft table,
    ip_forward on, the state and hosts files; after it: nothing."""
    p = lab.popen_in_host([appbox_bin, "sandbox", "--network", "nat", "--hostname", "box1", "--", "sh", "-c",
                           "echo UP; read x"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "UP"
        got = links(lab)
        assert got.get("appbox0") == "bridge", got
        veths = [n for n, k in got.items() if k == "veth" and n.startswith("abv")]
        assert len(veths) == 1 and len(veths[0]) <= 15, got
        assert "table ip appbox-appbox0" in nft_tables(lab)
        assert ok(lab.run_in_host(["cat", "/proc/sys/net/ipv4/ip_forward"])).strip() == "1"
        hosts = open(f"{state_dir(lab)}/hosts").read()
        assert re.search(r"^10\.89\.0\.\d+\tbox1$", hosts, re.M), hosts
        assert ok(lab.run_in_host(["ip", "-o", "addr", "show", "appbox0"])).count("10.89.0.1/24") == 1
    finally:
        p.stdin.write("\n")
        p.stdin.close()
        p.wait(timeout=30)
    assert p.returncode == 0
    assert_nothing_left(lab)


def test_unnamed_containers_cannot_reach_each_other(lab, appbox_bin):
    """Two sandboxes on the default network: the host reaches a server in
    one; the other cannot (isolated bridge ports, no routing between
    them), yet reaches the internet."""
    srv = lab.popen_in_host([appbox_bin, "sandbox", "--network", "nat", "--", "sh", "-c",
                             "ip -o -4 addr show eth0; mkdir /tmp/w; echo inside > /tmp/w/index.html; "
                             "exec busybox httpd -f -p 8080 -h /tmp/w"], stdout=subprocess.PIPE, text=True)
    line = srv.stdout.readline()
    addr = re.search(r"inet (\S+)/24", line).group(1)
    r = lab.run_in_host(["sh", "-c", fetch(f"http://{addr}:8080/")])
    assert ok(r) == "inside\n"
    script = (f"curl -sS --max-time 5 http://{addr}:8080/ && echo REACHED; "
              f"curl -sS --max-time 20 http://{lab.INET_ADDR}/")
    out = ok(sandbox(lab, appbox_bin, ["--network", "nat", "--", "sh", "-c", script]))
    assert "REACHED" not in out and "inside" not in out, out
    assert out.endswith(lab.page), out
    srv.terminate()   # forwarded to the container; appbox tears down
    srv.wait(timeout=20)
    assert_nothing_left(lab)


# --- named networks and named containers


def test_named_network_members_reach_each_other_by_name(store, lab):
    lab_ = store.lab
    mk(store, "web", "--network", "nat:one")
    mk(store, "cli", "--network", "nat:one")
    mk(store, "far", "--network", "nat:two")
    for n in ("web", "cli", "far"):
        ok(store.ab("start", n))
    serve(store, "web")
    web = addr_of(store, "web")
    # by name, through the network's hosts file
    out = ok(store.ab("exec", "cli", "--", "sh", "-c", fetch("http://web:8080/")))
    assert out == "page of web\n"
    hosts = ok(store.ab("exec", "cli", "--", "cat", "/etc/hosts"))
    assert re.search(rf"^{re.escape(web)}\tweb$", hosts, re.M), hosts
    assert re.search(r"^10\.89\.1\.\d+\tcli$", hosts, re.M), hosts
    # another network: neither by name nor by address
    far = ok(store.ab("exec", "far", "--", "cat", "/etc/hosts"))
    assert "web" not in far, far
    assert re.search(r"^10\.89\.2\.\d+\tfar$", far, re.M), far
    r = store.ab("exec", "far", "--", "curl", "-sS", "--max-time", "5", f"http://{web}:8080/")
    assert r.returncode != 0 and "page of web" not in r.stdout, r
    # an unnamed container: no
    r = lab_.run_in_host([store.appbox, "sandbox", "--network", "nat", "--", "curl", "-sS", "--max-time", "5",
                          f"http://{web}:8080/"])
    assert r.returncode != 0 and "page of web" not in r.stdout, r
    # each network has a bridge and a table of its own
    assert {"appbox1", "appbox2"} <= set(links(lab_)), links(lab_)
    tables = nft_tables(lab_)
    assert "table ip appbox-appbox1" in tables and "table ip appbox-appbox2" in tables, tables
    # a member leaves: the others' hosts files are rewritten in place
    ok(store.ab("stop", "web"))
    hosts = ok(store.ab("exec", "cli", "--", "cat", "/etc/hosts"))
    assert "\tweb" not in hosts, hosts
    ok(store.ab("start", "web"))
    hosts = ok(store.ab("exec", "cli", "--", "cat", "/etc/hosts"))
    assert re.search(rf"^{re.escape(web)}\tweb$", hosts, re.M), hosts
    for n in ("web", "cli", "far"):
        ok(store.ab("stop", n))
    assert_nothing_left(lab_)
    assert not ok(lab_.run_in_host(["sh", "-c", "pgrep -a httpd || true"])).strip()


def test_stable_address_and_address_option(store, lab):
    mk(store, "a", "--network", "nat:st")
    mk(store, "b", "--network", "nat:st")
    ok(store.ab("start", "b"))
    ok(store.ab("start", "a"))
    a1, b1 = addr_of(store, "a"), addr_of(store, "b")
    assert a1 != b1
    for _ in range(2):
        ok(store.ab("stop", "a"))
        ok(store.ab("stop", "b"))
        ok(store.ab("start", "a"))   # now first: still its own address
        ok(store.ab("start", "b"))
        assert (addr_of(store, "a"), addr_of(store, "b")) == (a1, b1)
    ok(store.ab("stop", "a"))
    ok(store.ab("stop", "b"))
    # --address: fixed; a taken one is refused
    mk(store, "c", "--network", "nat:st", "--address", "10.89.1.77")
    ok(store.ab("start", "c"))
    assert addr_of(store, "c") == "10.89.1.77"
    # spec.json keeps the network for sessions, show and a teardown
    spec = (store.runtime / "c" / "spec.json").read_text()
    for want in ('"10.89.1.77/24"', '"10.89.1.1"', '"appbox1"', '"abv'):
        assert want in spec, (want, spec)
    ok(store.ab("show", "c"))
    mk(store, "d", "--network", "nat:st", "--address", "10.89.1.77")
    r = store.ab("start", "d")
    assert r.returncode != 0 and "--address 10.89.1.77 is taken by another container" in r.stderr, r.stderr
    ok(store.ab("stop", "c"))
    assert_nothing_left(lab)


def test_killed_supervisor_is_cleaned_up_by_next_start(store, lab):
    mk(store, "k", "--network", "nat:kn")
    ok(store.ab("start", "k"))
    before = links(lab)
    veth = veths(lab)
    assert len(veth) == 1 and "appbox1" in before, before
    os.kill(store.runtime_pid("k", "supervisor"), signal.SIGKILL)
    assert store.wait_state("k", "stopped")
    # the container died with its supervisor; the bridge and table stayed
    assert "table ip appbox-appbox1" in nft_tables(lab)
    ok(store.ab("start", "k"))
    now = links(lab)
    assert veth[0] not in now and len(veths(lab)) == 1, now
    ok(store.ab("stop", "k"))
    assert_nothing_left(lab)


def test_killed_sandbox_is_swept_by_next_start(lab, appbox_bin):
    p = lab.popen_in_host([appbox_bin, "sandbox", "--network", "nat", "--", "sh", "-c", "echo UP; exec sleep 600"],
                          stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "UP"
    p.kill()
    p.wait(timeout=10)
    # the container dies with it (parent-death signal), its veth with its
    # namespace; the bridge, table and state stay until the next start
    assert wait_until(lambda: not veths(lab), timeout=10)
    assert "appbox0" in links(lab)
    ok(sandbox(lab, appbox_bin, ["--network", "nat", "--", "true"]))
    assert_nothing_left(lab)


# --- bad input leaves nothing


@pytest.mark.parametrize("args,msg", [
    (["--network", "nat", "--subnet", "192.0.2.0/24"], "--subnet 192.0.2.0/24 overlaps the host's"),
    (["--network", "nat:x", "--subnet", "192.0.2.128/25"], "--subnet 192.0.2.128/25 overlaps the host's"),
    (["--network", "nat:x", "--subnet", "10.7.0.5/24"], "has host bits set"),
    (["--network", "nat", "--address", "10.89.0.1"], "--address 10.89.0.1 is the gateway"),
    (["--network", "nat", "--address", "10.90.0.5"], "--address 10.90.0.5 is not in the subnet 10.89.0.0/24"),
    (["--network", "nat", "--address", "10.89.0.255"], "is the broadcast address"),
    (["--network", "nat", "--address", "10.89.0.5/16"], "has the prefix /24"),
], ids=["subnet-host", "subnet-host-part", "subnet-unaligned", "addr-gateway", "addr-outside", "addr-broadcast",
        "addr-prefix"])
def test_bad_subnet_and_address_leave_nothing(lab, appbox_bin, args, msg):
    r = sandbox(lab, appbox_bin, [*args, "--", "true"])
    assert r.returncode != 0 and msg in r.stderr, r.stderr
    assert "\n" not in r.stderr.strip(), r.stderr
    assert_nothing_left(lab)


def test_subnet_conflicts_with_running_networks(store, lab):
    mk(store, "s1", "--network", "nat:net1", "--subnet", "10.50.0.0/24")
    ok(store.ab("start", "s1"))
    assert addr_of(store, "s1").startswith("10.50.0.")
    mk(store, "s2", "--network", "nat:net2", "--subnet", "10.50.0.0/16")
    r = store.ab("start", "s2")
    assert r.returncode != 0 and "--subnet 10.50.0.0/16 overlaps network net1" in r.stderr, r.stderr
    mk(store, "s3", "--network", "nat:net1", "--subnet", "10.51.0.0/24")
    r = store.ab("start", "s3")
    assert r.returncode != 0 and "network net1 (appbox1) runs on 10.50.0.0/24" in r.stderr, r.stderr
    # nothing of the refused starts: one veth, one bridge, one table
    got = links(lab)
    assert sorted(got) == sorted(["eth0", "lo", "appbox1", *[n for n in got if n.startswith("abv")]]), got
    assert len([n for n in got if n.startswith("abv")]) == 1, got
    assert [t for t in nft_tables(lab) if "appbox" in t] == ["table ip appbox-appbox1"]
    ok(store.ab("stop", "s1"))
    assert_nothing_left(lab)


def test_bridge_name_taken_by_another_link(lab, appbox_bin):
    ok(lab.run_in_host(["ip", "link", "add", "appbox0", "type", "veth", "peer", "name", "abtestpeer"]))
    r = sandbox(lab, appbox_bin, ["--network", "nat", "--", "true"])
    assert r.returncode != 0 and "a link appbox0 exists that appbox did not make" in r.stderr, r.stderr
    assert links(lab).get("appbox0") == "veth", links(lab)   # left as it was
    assert sorted(links(lab)) == ["abtestpeer", "appbox0", "eth0", "lo"]
    assert not [t for t in nft_tables(lab) if "appbox" in t]
    ok(lab.run_in_host(["ip", "link", "del", "appbox0"]))
    assert_nothing_left(lab)


def test_nft_missing_is_a_clear_error(lab, appbox_bin, world_tmp):
    """Without /usr/sbin/nft (hidden by a bind in the lab's private mount
    namespace): a clear error, nothing made."""
    empty = world_tmp / "nonft"
    empty.write_text("")
    r = lab.run_in_host(["sh", "-c", f'mount --bind {empty} /usr/sbin/nft && exec "$@"', "sh", appbox_bin,
                         "sandbox", "--network", "nat", "--", "true"])
    assert r.returncode != 0 and "/usr/sbin/nft (package nftables) is needed" in r.stderr, r.stderr
    assert_nothing_left(lab)


def test_failed_start_gives_back_its_reservation(lab, appbox_bin):
    """A start refused after the network was reserved (here: --gui
    without a display) gives the reservation back: no member, no state."""
    r = sandbox(lab, appbox_bin, ["--network", "nat", "--gui", "--", "true"],
                extra_env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert r.returncode != 0 and "--display" in r.stderr, r.stderr
    assert_nothing_left(lab)


def test_concurrent_starts_get_distinct_addresses(lab, appbox_bin):
    """Sandboxes started at once: each its own address (the state is
    locked), and all of it gone after them."""
    procs = [lab.popen_in_host([appbox_bin, "sandbox", "--network", "nat", "--", "sh", "-c",
                                "ip -o -4 addr show eth0; read x; exit 0"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    addrs = []
    for p in procs:
        m = re.search(r"inet (\S+)/24", p.stdout.readline())
        addrs.append(m and m.group(1))
    assert None not in addrs and len(set(addrs)) == 4, addrs
    assert len(veths(lab)) == 4
    for p in procs:
        p.stdin.close()
        assert p.wait(timeout=30) == 0
    assert_nothing_left(lab)


# --- names: appbox's DNS inside, libnss_appbox on the host

DNS_QUERY = r"""
import socket, struct, sys
name = sys.argv[1]
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(q, ("127.0.0.11", 53))
a = s.recv(4096)
# the last answer's 4 bytes of address (one A record expected)
print(socket.inet_ntoa(a[-4:]) if struct.unpack(">H", a[6:8])[0] else "none")
"""


def test_dns_forwards_and_answers_members(store, lab, appbox_bin):
    """appbox's DNS at 127.0.0.11: internet names through the host's
    resolver (the lab's dnsmasq), the container's own name and its
    network's members from the network's hosts file."""
    out = ok(sandbox(lab, appbox_bin, ["--network", "nat", "--", "curl", "-sS", "--max-time", "20",
                                       f"http://{lab.NAME}/"]))
    assert out == lab.page
    mk(store, "dns1", "--network", "nat:dn")
    mk(store, "dns2", "--network", "nat:dn")
    ok(store.ab("start", "dns1"))
    ok(store.ab("start", "dns2"))
    a1, a2 = addr_of(store, "dns1"), addr_of(store, "dns2")
    ask = lambda who, name: ok(store.ab("exec", who, "--", "python3", "-c", DNS_QUERY, name)).strip()
    assert ask("dns1", "dns2") == a2
    assert ask("dns2", "dns1") == a1
    assert ask("dns1", "dns1") == a1
    assert ask("dns1", lab.NAME) == lab.INET_ADDR
    for n in ("dns1", "dns2"):
        ok(store.ab("stop", n))


def test_host_resolves_running_containers_by_name(store, lab, appbox_bin, world_tmp):
    """libnss_appbox (with "hosts: files appbox" in a private
    nsswitch.conf, the module of the build) gives the lab host each running
    container's address, and forgets it when the container stops."""
    lib_dir = os.path.dirname(appbox_bin)
    if not os.path.exists(os.path.join(lib_dir, "libnss_appbox.so.2")):
        pytest.skip("build/libnss_appbox.so.2 is not built")
    nss = world_tmp / "nsswitch.conf"
    nss.write_text("hosts: files appbox\n")

    def resolve(name):
        script = f"mount --bind {nss} /etc/nsswitch.conf && exec env LD_LIBRARY_PATH={lib_dir} getent hosts {name}"
        return lab.run_in_host(["unshare", "-m", "sh", "-c", script])

    mk(store, "named1", "--network", "nat")
    ok(store.ab("start", "named1"))
    addr = addr_of(store, "named1")
    assert ok(resolve("named1")).split() == [addr, "named1"]
    # and the lab host reaches it by that name
    serve(store, "named1")
    script = (f"mount --bind {nss} /etc/nsswitch.conf && LD_LIBRARY_PATH={lib_dir} "
              f"exec sh -c '{fetch('http://named1:8080/')}'")
    assert ok(lab.run_in_host(["unshare", "-m", "sh", "-c", script])) == "page of named1\n"
    ok(store.ab("stop", "named1"))
    assert resolve("named1").returncode == 2


def test_show_and_list_say_where_the_container_is(store, lab):
    """show: the mode, bridge, address, DNS, published ports; show --json
    and list --json: the address the container really has."""
    mk(store, "shown", "--network", "nat:sh", "-p", "18080:80")
    out = ok(store.ab("show", "shown"))
    assert "network     nat:sh (a veth into bridge appbox0/appboxN, NAT out" in out, out
    assert "published 0.0.0.0:18080 -> 80/tcp" in out, out
    ok(store.ab("start", "shown"))
    addr = addr_of(store, "shown")
    out = ok(store.ab("show", "shown"))
    assert re.search(rf"address {re.escape(addr)}/24 via 10\.89\.\d+\.1", out), out
    assert "DNS 127.0.0.11 (appbox's)" in out, out
    import json
    d = json.loads(ok(store.ab("show", "shown", "--json")))
    assert d["network"] == "nat:sh"
    det = d["network_detail"]
    assert det["address"] == f"{addr}/24" and det["backend"] == "bridge" and det["bridge"].startswith("appbox")
    assert det["published"] == ["0.0.0.0:18080:80/tcp"]
    row = [r for r in json.loads(ok(store.ab("list", "--json"))) if r["name"] == "shown"][0]
    assert row["network"] == "nat:sh" and row["address"] == f"{addr}/24", row
    ok(store.ab("stop", "shown"))
