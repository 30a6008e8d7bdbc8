"""--network macvlan[:IFACE] (seed 001's "separate"), root only: the
container's own MAC on a host interface and its own address, by DHCP or
--address.  Inside netlab: the lab host's eth0 is a veth to the internet
namespace, whose dnsmasq serves DHCP on 192.0.2.0/24."""

import os
import re
import signal
import subprocess

import pytest

from conftest import ok, require_root, wait_until
from netlab import NetLab, _listening

RANGE = ("192.0.2.50", "192.0.2.99")
DHCP = [f"--dhcp-range={RANGE[0]},{RANGE[1]},255.255.255.0,1h", "--dhcp-option=3,192.0.2.2"]

# what the container reports: its eth0 address, MAC, default route
REPORT = ("ip -o -4 addr show dev eth0; echo mac=$(cat /sys/class/net/eth0/address); "
          "ip -4 route show default")


@pytest.fixture
def dhcp_lab():
    require_root("--network macvlan is root's")
    with NetLab(dnsmasq_args=DHCP) as lab:
        yield lab
    assert lab.leftovers() == []


def in_range(addr):
    n = [int(x) for x in addr.split(".")]
    lo = [int(x) for x in RANGE[0].split(".")]
    hi = [int(x) for x in RANGE[1].split(".")]
    return n[:3] == lo[:3] and lo[3] <= n[3] <= hi[3]


def host_links(lab):
    out = ok(lab.run_in_host(["ip", "-o", "link"]))
    return sorted(re.findall(r"^\d+:\s+([^:@\s]+)", out, re.M))


def host_mac(lab):
    return ok(lab.run_in_host(["cat", "/sys/class/net/eth0/address"])).strip()


def lab_helpers(lab):
    """appbox's helpers (appbox-dhcp, appbox-netns) in the lab host's
    network namespace: the machine's pid namespace is shared with other
    test sessions, so only this lab's count."""
    found = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and os.stat(f"/proc/{d}/ns/net").st_ino == lab.inodes["host"]:
                comm = open(f"/proc/{d}/comm").read().strip()
                if comm.startswith("appbox-"):
                    found.append(f"{d} {comm}")
        except OSError:
            pass
    return found


def source_server(lab, port=8080):
    """A web server in the internet namespace that logs each client's
    address (python's http.server), listening when this returns."""
    p = lab.popen_in_internet(["python3", "-m", "http.server", str(port), "--bind", lab.INET_ADDR,
                               "--directory", str(lab.tmp / "www")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: p.poll() is not None or _listening(lab.inet_pid, "tcp", port), timeout=20)
    assert p.poll() is None, p.stderr.read()
    return p


def client_addresses(server):
    server.terminate()
    _, err = server.communicate(timeout=10)
    return re.findall(r"^(\d+\.\d+\.\d+\.\d+) - - ", err, re.M)


def test_dhcp_lease_and_own_source_address(dhcp_lab, appbox_bin):
    lab = dhcp_lab
    srv = source_server(lab)
    script = (f"{REPORT}; curl -sS --max-time 20 http://{lab.INET_ADDR}/; "
              f"curl -sS --max-time 20 -o /dev/null http://{lab.INET_ADDR}:8080/")
    r = lab.run_in_host([appbox_bin, "sandbox", "--network", "macvlan:eth0", "--", "sh", "-c", script],
                        timeout=90)
    out = ok(r)
    m = re.search(r"eth0\s+inet (\d+\.\d+\.\d+\.\d+)/(\d+)", out)
    assert m, out
    addr = m.group(1)
    assert in_range(addr) and m.group(2) == "24", out
    assert re.search(rf"default via {re.escape(lab.INET_ADDR)} dev eth0", out), out
    # the container's own MAC, not the host interface's
    mac = re.search(r"mac=(\S+)", out).group(1)
    assert mac != host_mac(lab)
    assert int(mac.split(":")[0], 16) & 2, f"{mac}: not locally administered"
    # the page, fetched from the container's own address (not the host's)
    assert lab.page in out
    assert client_addresses(srv) == [addr]
    # dnsmasq leased it to that MAC, and the lease was given back when the
    # sandbox ended (a RELEASE: each start has a new MAC, so a new lease)
    log = (lab.tmp / "dnsmasq.log").read_text()
    assert f"DHCPACK(eth0) {addr} {mac}" in log, log
    assert wait_until(lambda: f"DHCPRELEASE(eth0) {addr} {mac}" in (lab.tmp / "dnsmasq.log").read_text(),
                      timeout=10), log
    # nothing left on the lab host: its links are what netlab made
    assert host_links(lab) == ["eth0", "lo"]


def test_separate_alias_and_default_interface(dhcp_lab, appbox_bin):
    """--network separate (seed 001) is macvlan on the default route's
    interface (the lab host's eth0)."""
    lab = dhcp_lab
    r = lab.run_in_host([appbox_bin, "sandbox", "--network", "separate", "--", "sh", "-c", REPORT], timeout=90)
    out = ok(r)
    m = re.search(r"eth0\s+inet (\d+\.\d+\.\d+\.\d+)/24", out)
    assert m and in_range(m.group(1)), out
    assert host_links(lab) == ["eth0", "lo"]


def test_static_address_without_dhcp(appbox_bin):
    """--address A.B.C.D/N: no DHCP server needed; the gateway is the
    host's default gateway (on that subnet)."""
    require_root("--network macvlan is root's")
    with NetLab() as lab:   # no DHCP range: dnsmasq answers no DISCOVER
        srv = source_server(lab)
        script = f"{REPORT}; curl -sS --max-time 20 -o /dev/null http://{lab.INET_ADDR}:8080/"
        r = lab.run_in_host([appbox_bin, "sandbox", "--network", "macvlan:eth0", "--address", "192.0.2.77/24",
                             "--", "sh", "-c", script], timeout=60)
        out = ok(r)
        assert re.search(r"eth0\s+inet 192\.0\.2\.77/24", out), out
        assert re.search(rf"default via {re.escape(lab.INET_ADDR)} dev eth0", out), out
        assert client_addresses(srv) == ["192.0.2.77"]
        assert host_links(lab) == ["eth0", "lo"]
        # an address off the host gateway's subnet: no default route
        r = lab.run_in_host([appbox_bin, "sandbox", "--network", "macvlan:eth0", "--address", "198.51.100.7/24",
                             "--", "sh", "-c", REPORT], timeout=60)
        out = ok(r)
        assert re.search(r"eth0\s+inet 198\.51\.100\.7/24", out), out
        assert "default" not in out, out
    assert lab.leftovers() == []


def test_address_needs_prefix(dhcp_lab, appbox_bin):
    r = dhcp_lab.run_in_host([appbox_bin, "sandbox", "--network", "macvlan:eth0", "--address", "192.0.2.77",
                              "--", "true"])
    assert r.returncode == 2, r
    assert "--address 192.0.2.77: --network macvlan needs the prefix length too (A.B.C.D/N" in r.stderr
    assert host_links(dhcp_lab) == ["eth0", "lo"]


def test_unknown_interface(dhcp_lab, appbox_bin):
    r = dhcp_lab.run_in_host([appbox_bin, "sandbox", "--network", "macvlan:eth9", "--", "true"])
    assert r.returncode == 2, r
    assert "--network macvlan:eth9: no such interface (interfaces: eth0)" in r.stderr
    assert host_links(dhcp_lab) == ["eth0", "lo"]


def test_loopback_refused(dhcp_lab, appbox_bin):
    r = dhcp_lab.run_in_host([appbox_bin, "sandbox", "--network", "macvlan:lo", "--", "true"])
    assert r.returncode == 2, r
    assert "--network macvlan:lo: the loopback interface" in r.stderr


def test_no_dhcp_server(appbox_bin):
    """A network without a DHCP server: a clear error after the retries,
    no link left, the command never ran."""
    require_root("--network macvlan is root's")
    with NetLab() as lab:
        r = lab.run_in_host([appbox_bin, "sandbox", "--network", "macvlan:eth0", "--", "sh", "-c",
                             "echo RAN"], timeout=90)
        assert r.returncode != 0, r
        assert "RAN" not in r.stdout
        assert "--network macvlan:eth0: no DHCP server answered on eth0 (a macvlan on eth0)" in r.stderr
        assert host_links(lab) == ["eth0", "lo"]
        assert lab_helpers(lab) == []
    assert lab.leftovers() == []


def test_user_refused(dhcp_lab, appbox_bin):
    r = dhcp_lab.run_in_host([appbox_bin, "sandbox", "--network", "macvlan", "--", "true"], as_user="user")
    assert r.returncode == 2, r
    assert "--network macvlan needs root" in r.stderr


def lease_fields(path):
    try:
        return dict(l.split("=", 1) for l in path.read_text().splitlines())
    except (OSError, ValueError):
        return {}


def test_lease_is_renewed(appbox_bin, world_tmp, busybox_root):
    """The runner's helper renews the lease at T1 (the server's option 58,
    here 3 seconds; dnsmasq ignores 2): dnsmasq ACKs the same address
    again while the container runs, the lease file counts the renewals,
    and the address stays."""
    require_root("--network macvlan is root's")
    args = [f"--dhcp-range={RANGE[0]},{RANGE[1]},255.255.255.0,2m", "--dhcp-option=3,192.0.2.2",
            "--dhcp-option=58,3", "--dhcp-option=59,100", "--log-dhcp"]
    env = {"APPBOX_DATA_DIR": str(world_tmp / "data"), "APPBOX_RUNTIME_DIR": str(world_tmp / "run"),
           "HOME": str(world_tmp)}
    with NetLab(dnsmasq_args=args) as lab:
        ab = lambda *a, **kw: lab.run_in_host([appbox_bin, *a], extra_env=env, **kw)
        log = lab.tmp / "dnsmasq.log"
        lease = world_tmp / "run" / "mv2" / "macvlan.lease"
        acks = lambda: re.findall(r"DHCPACK\(eth0\) (\S+) (\S+)", log.read_text())
        ok(ab("create", "mv2", "--base", f"dir:{busybox_root}", "--network", "macvlan:eth0", "--no-launcher"))
        ok(ab("start", "mv2", timeout=90))
        try:
            # the first ACK, then at least two renewals (REQUESTs with
            # ciaddr, unicast to the server)
            assert wait_until(lambda: int(lease_fields(lease).get("renewals", 0)) >= 2, timeout=60), \
                (lease_fields(lease), log.read_text()[-2000:])
            got = acks()
            assert len(got) >= 3 and len(set(got)) == 1, (got, log.read_text()[-2000:])
            fields = lease_fields(lease)
            assert fields["address"] == f"{got[0][0]}/24" and fields["mac"] == got[0][1], fields
            out = ok(ab("exec", "mv2", "ip", "-o", "-4", "addr", "show", "dev", "eth0"))
            assert f"inet {got[0][0]}/24" in out
            # the renewer: a helper of the supervisor, in the lab host (with
            # the DNS server and the link socket's helper)
            assert sorted(h.split()[1] for h in lab_helpers(lab)) == ["appbox-dhcp", "appbox-ports", "appbox-proxy"]
        finally:
            ok(ab("stop", "mv2"))
        assert not lease.exists()
        assert host_links(lab) == ["eth0", "lo"]
        assert lab_helpers(lab) == []
        ok(ab("rm", "mv2"))
    assert lab.leftovers() == []


def test_named_container_lease_file(dhcp_lab, appbox_bin, world_tmp, busybox_root):
    """A named container's lease lands in macvlan.lease in its runtime
    dir (what `show` reads), and goes with the container."""
    lab = dhcp_lab
    env = {"APPBOX_DATA_DIR": str(world_tmp / "data"), "APPBOX_RUNTIME_DIR": str(world_tmp / "run"),
           "HOME": str(world_tmp)}
    ab = lambda *a, **kw: lab.run_in_host([appbox_bin, *a], extra_env=env, **kw)
    ok(ab("create", "mv1", "--base", f"dir:{busybox_root}", "--network", "macvlan:eth0", "--no-launcher"))
    ok(ab("start", "mv1", timeout=90))
    try:
        lease = world_tmp / "run" / "mv1" / "macvlan.lease"
        fields = dict(l.split("=", 1) for l in lease.read_text().splitlines())
        assert fields["source"] == "dhcp" and fields["state"] == "bound", fields
        assert fields["interface"] == "eth0" and fields["parent"] == "eth0", fields
        addr = fields["address"].split("/")[0]
        assert in_range(addr) and fields["address"].endswith("/24"), fields
        assert fields["router"] == lab.INET_ADDR and fields["server"] == lab.INET_ADDR, fields
        assert fields["lease"] == "3600" and int(fields["expires"]) == int(fields["obtained"]) + 3600, fields
        # the container has what the file says
        out = ok(ab("exec", "mv1", "cat", "/sys/class/net/eth0/address"))
        assert out.strip() == fields["mac"]
        out = ok(ab("exec", "mv1", "ip", "-o", "-4", "addr", "show", "dev", "eth0"))
        assert f"inet {fields['address']}" in out
    finally:
        ok(ab("stop", "mv1"))
    assert not (world_tmp / "run" / "mv1" / "macvlan.lease").exists()
    assert wait_until(lambda: f"DHCPRELEASE(eth0) {addr} {fields['mac']}" in (lab.tmp / "dnsmasq.log").read_text(),
                      timeout=10)
    assert host_links(lab) == ["eth0", "lo"]
    assert lab_helpers(lab) == []
    ok(ab("rm", "mv1"))


def test_bridge_port_and_down_interface_refused(dhcp_lab, appbox_bin):
    """A bridge's port (its frames are the bridge's: name the bridge) and
    an interface that is down: clear errors, no link made."""
    lab = dhcp_lab
    lab._ip(lab.host_pid, "link", "add", "br0", "type", "bridge")
    lab._ip(lab.host_pid, "link", "add", "vp0", "type", "veth", "peer", "name", "vp1")
    lab._ip(lab.host_pid, "link", "set", "vp0", "master", "br0")
    lab._ip(lab.host_pid, "link", "set", "vp0", "up")
    lab._ip(lab.host_pid, "link", "set", "br0", "up")
    before = host_links(lab)
    r = lab.run_in_host([appbox_bin, "sandbox", "--network", "macvlan:vp0", "--", "true"])
    assert r.returncode == 2, r
    assert "--network macvlan:vp0: the interface is a port of br0 (its frames are the bridge's): " \
           "use --network macvlan:br0" in r.stderr
    r = lab.run_in_host([appbox_bin, "sandbox", "--network", "macvlan:vp1", "--", "true"])
    assert r.returncode == 2, r
    assert "--network macvlan:vp1: the interface is down (bring it up first)" in r.stderr
    assert host_links(lab) == before


def test_sigkilled_supervisor(dhcp_lab, appbox_bin, world_tmp, busybox_root):
    """SIGKILL the supervisor: the renewer dies with it, the link with the
    container's namespace; the next start cleans up and gets a lease."""
    lab = dhcp_lab
    env = {"APPBOX_DATA_DIR": str(world_tmp / "data"), "APPBOX_RUNTIME_DIR": str(world_tmp / "run"),
           "HOME": str(world_tmp)}
    ab = lambda *a, **kw: lab.run_in_host([appbox_bin, *a], extra_env=env, **kw)
    lease = world_tmp / "run" / "mv3" / "macvlan.lease"
    ok(ab("create", "mv3", "--base", f"dir:{busybox_root}", "--network", "macvlan:eth0", "--no-launcher"))
    ok(ab("start", "mv3", timeout=90))
    try:
        assert sorted(h.split()[1] for h in lab_helpers(lab)) == ["appbox-dhcp", "appbox-ports", "appbox-proxy"]
        sup = int((world_tmp / "run" / "mv3" / "supervisor.pid").read_text())
        os.kill(sup, signal.SIGKILL)
        assert wait_until(lambda: lab_helpers(lab) == [], timeout=20), lab_helpers(lab)
        assert host_links(lab) == ["eth0", "lo"]
        ok(ab("start", "mv3", timeout=90))
        assert lease_fields(lease).get("state") == "bound"
        assert in_range(lease_fields(lease)["address"].split("/")[0])
    finally:
        ok(ab("stop", "mv3"))
    assert not lease.exists()
    assert lab_helpers(lab) == []
    ok(ab("rm", "mv3"))


def test_two_containers_on_one_interface(dhcp_lab, appbox_bin):
    """Mode bridge: two macvlan containers on the same host interface get
    different addresses and reach each other directly."""
    lab = dhcp_lab
    a = lab.popen_in_host([appbox_bin, "sandbox", "--network", "macvlan:eth0", "--", "sh", "-c",
                           "ip -o -4 addr show dev eth0; echo from-a | busybox nc -l -p 7000"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = a.stdout.readline()
    m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/24", line)
    assert m, (line, a.stderr.read() if a.poll() is not None else "")
    addr_a = m.group(1)
    r = lab.run_in_host([appbox_bin, "sandbox", "--network", "macvlan:eth0", "--", "sh", "-c",
                         "ip -o -4 addr show dev eth0; busybox nc -w 5 " + addr_a + " 7000"], timeout=90)
    out = ok(r)
    m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/24", out)
    assert m and in_range(m.group(1)) and m.group(1) != addr_a, out
    assert "from-a" in out
    a.wait(timeout=30)
    assert host_links(lab) == ["eth0", "lo"]
