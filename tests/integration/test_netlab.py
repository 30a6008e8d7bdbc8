"""netlab (the network tests' throwaway host and internet) works, leaves
nothing behind, and appbox runs inside its host namespace."""

import contextlib
import os
from pathlib import Path

import pytest

from conftest import ok, run
from netlab import NetLab, netlab  # noqa: F401 (netlab: the fixture)


def own_netns():
    return os.readlink("/proc/self/ns/net")


def test_host_fetches_page_by_name(netlab, run_as):
    r = netlab.run_in_host(["curl", "-sS", "--max-time", "20", f"http://{netlab.NAME}/"], as_user=run_as)
    assert ok(r) == netlab.page
    # the name comes from the lab's DNS, the route from the lab's veth
    out = ok(netlab.run_in_host(["cat", "/etc/resolv.conf"], as_user=run_as))
    assert out.split() == ["nameserver", netlab.INET_ADDR]
    out = ok(netlab.run_in_host(["ip", "-o", "route", "show", "default"], as_user=run_as))
    assert f"via {netlab.INET_ADDR} dev eth0" in out
    # /sys shows the lab's links, not the machine's
    assert sorted(ok(netlab.run_in_host(["ls", "/sys/class/net"])).split()) == ["eth0", "lo"]


def test_internet_side_sees_the_host_address(netlab):
    """A server in the internet namespace sees the lab host's address."""
    r = netlab.run_in_internet(["curl", "-sS", "--max-time", "20", f"http://{netlab.INET_ADDR}/"])
    assert ok(r) == netlab.page
    out = ok(netlab.run_in_internet(["ip", "-o", "addr", "show", "eth0"]))
    assert f"{netlab.INET_ADDR}/24" in out


def test_appbox_runs_in_lab_host(netlab, appbox_bin, run_as):
    ok(netlab.run_in_host([appbox_bin, "sandbox", "--", "true"], as_user=run_as))
    # --network host inside the lab: the container shares the lab host's
    # network (not the machine's) and reaches the lab's internet by name
    r = netlab.run_in_host([appbox_bin, "sandbox", "--network", "host", "--",
                            "curl", "-sS", "--max-time", "20", f"http://{netlab.NAME}/"],
                           as_user=run_as)
    assert ok(r) == netlab.page


def test_tun_node_in_lab_host(netlab, tun_node, run_as):
    """run_in_host composes with conftest's private /dev/net/tun (pasta)."""
    out = ok(netlab.run_in_host(["stat", "-c", "%a %t:%T", "/dev/net/tun"], as_user=run_as, tun=tun_node))
    assert out.split() == ["666", "a:c8"]


@pytest.mark.parametrize("fail", [False, True], ids=["clean-exit", "test-raises"])
def test_nothing_left_after_teardown(fail):
    """Namespaces, processes (also one a test started in the lab host) and
    files are gone after the lab, also when the test body raised."""
    before = own_netns()
    with pytest.raises(RuntimeError) if fail else contextlib.nullcontext():
        with NetLab() as lab:
            assert len(lab._procs) == 4  # two holders, httpd, dnsmasq
            assert ok(lab.run_in_host(["curl", "-sS", "--max-time", "20", f"http://{lab.NAME}/"])) == lab.page
            lab.popen_in_host(["sleep", "600"])
            procs, tmp = list(lab._procs), lab.tmp
            assert own_netns() == before and lab.leftovers() != []
            if fail:
                raise RuntimeError("the test failed")
    assert lab.leftovers() == []
    assert all(p.returncode is not None for p in procs)
    assert not tmp.exists()
    assert not any(lab.id in str(p) for p in Path("/tmp").iterdir())
    assert lab.id not in ok(run(["ip", "netns", "list"]))
    assert own_netns() == before


def test_failed_start_leaves_nothing():
    """A lab whose DNS server cannot start says so and is undone."""
    lab = NetLab(dnsmasq_args=["--no-such-option"])
    with pytest.raises(RuntimeError, match="dnsmasq did not start.*bad command line"):
        lab.__enter__()
    assert lab.inodes and lab.leftovers() == []
