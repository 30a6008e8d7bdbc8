"""--network: none (default: own namespace, only lo, up) and host."""

import os
import re
import subprocess

import pytest

from conftest import ok


def links(ip_o_link_output):
    """{name: flags} from `ip -o link` output."""
    out = {}
    for line in ip_o_link_output.splitlines():
        m = re.match(r"\d+:\s+([^:@\s]+)(?:@\S+)?:\s+<([^>]*)>", line)
        if m:
            out[m.group(1)] = set(m.group(2).split(","))
    return out


@pytest.mark.parametrize("opts", [[], ["--network", "none"], ["--network=none"]],
                         ids=["default", "none", "none="])
def test_only_lo_and_up(sandbox, run_as, opts):
    out = ok(sandbox([*opts, "--", "ip", "-o", "link"], as_user=run_as))
    got = links(out)
    assert list(got) == ["lo"], out
    assert "UP" in got["lo"], out
    out = ok(sandbox([*opts, "--", "ip", "-o", "addr", "show", "lo"], as_user=run_as))
    assert "127.0.0.1" in out


def test_loopback_works(sandbox, run_as, busybox_root):
    """A server on lo inside is reachable from inside (lo really is up)."""
    script = ("nc -l -p 8765 >/tmp/got & sleep 0.3; echo hello | nc -w 1 127.0.0.1 8765; "
              "wait; cat /tmp/got")
    r = sandbox(["--root", busybox_root, "--tmpfs", "/tmp", "--", "/bin/sh", "-c", script],
                as_user=run_as, timeout=30)
    assert "hello" in ok(r)


def test_sys_class_net_shows_only_lo(sandbox, run_as):
    out = ok(sandbox(["--", "ls", "/sys/class/net"], as_user=run_as))
    assert out.split() == ["lo"]


def test_proc_net_dev_shows_only_lo(sandbox, run_as):
    out = ok(sandbox(["--", "cat", "/proc/net/dev"], as_user=run_as))
    names = [l.split(":")[0].strip() for l in out.splitlines()[2:]]
    assert names == ["lo"]


def test_network_host_shows_host_interfaces(sandbox, run_as):
    host = links(subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                                check=True).stdout)
    if set(host) == {"lo"}:
        pytest.skip("the host has only lo")
    out = ok(sandbox(["--network", "host", "--", "ip", "-o", "link"], as_user=run_as))
    assert set(links(out)) == set(host)


def test_network_namespace_is_not_the_hosts(sandbox, run_as):
    host_ns = os.readlink("/proc/self/ns/net")
    out = ok(sandbox(["--", "readlink", "/proc/self/ns/net"], as_user=run_as)).strip()
    assert out and out != host_ns
    out = ok(sandbox(["--network", "host", "--", "readlink", "/proc/self/ns/net"],
                     as_user=run_as)).strip()
    assert out == host_ns
