"""`--network nat:NAME` for an ordinary user (net/usernet.c, and the
relay in net/ports_helper.c): each member has its own pasta; its peers'
names are in its /etc/hosts at 127.77.X.Y addresses, and TCP to those is
carried by the members' port helpers to the peer's own loopback.

Everything runs inside netlab's throwaway host, as the test user, with a
0666 /dev/net/tun (conftest's tun_node), with named containers of the
host view (curl, python3 and busybox are the host's).  What a user would
check: a page fetched by name from a peer on an arbitrary port, in both
directions; a container of another network that neither resolves nor
reaches them; a member that stops disappears from its peers' /etc/hosts
and a connection to its old address is reset (and logged); it works again
once restarted, also after its supervisor was SIGKILLed; the lab's page by name (outbound through pasta); and
nothing left once every container is stopped."""

import os
import signal

import pytest

from conftest import _wrap, ok, user_env, wait_until
from containers_support import ctr, one_line_error, store_procs  # noqa: F401 (ctr: a fixture)
from netlab import netlab  # noqa: F401 (the fixture)

CURL = ["curl", "-sS", "--max-time", "20"]




def lab_ab(netlab, store, tun, backend="pasta", hide=()):
    """appbox as STORE's caller in LAB's host.  BACKEND "slirp4netns": with
    /usr/bin/pasta hidden, the way a machine without passt looks; HIDE:
    more programs to hide (/dev/null bound over each in the wrapper's
    private mount namespace, as root, before changing to the caller)."""
    hide = [*hide, *(["/usr/bin/pasta"] if backend == "slirp4netns" else [])]

    def ab(*args, **kw):
        kw.setdefault("timeout", 90)
        argv = [store.appbox, *args]
        if not hide:
            return netlab.run_in_host(argv, as_user=store.as_user, extra_env=store.env, tun=tun, **kw)
        cmd = ["sh", "-c", 'for t in $1; do mount --bind /dev/null "$t" || exit 1; done; shift; exec "$@"',
               "hide", " ".join(hide), *_wrap(argv, store.as_user, tun)]
        return netlab.run_in_host(cmd, as_user="root", env=user_env(store.as_user, store.env), **kw)
    return ab


def hosts_of(ab, name):
    """NAME's /etc/hosts as {host name: address}."""
    out = {}
    for line in ok(ab("exec", name, "--", "cat", "/etc/hosts")).splitlines():
        f = line.split()
        if len(f) >= 2 and not f[0].startswith("#"):
            for h in f[1:]:
                out[h] = f[0]
    return out


def serve(ab, name, port, text):
    """busybox httpd in NAME on PORT (it daemonizes), serving TEXT."""
    ok(ab("exec", name, "--", "sh", "-c",
          f"mkdir -p /tmp/www-{port} && echo {text} >/tmp/www-{port}/index.html && "
          f"busybox httpd -p {port} -h /tmp/www-{port}"))


@pytest.fixture
def users_only(run_as):
    if run_as == "root":
        pytest.skip("root's nat:NAME is a bridge (test_nat.py)")


@pytest.mark.parametrize("backend", ["pasta", "slirp4netns"])
def test_members_reach_each_other_by_name(users_only, netlab, ctr, tun_node, backend):
    ab = lab_ab(netlab, ctr, tun_node, backend)
    for name, net in (("ua", "one"), ("ub", "one"), ("uc", "two")):
        ok(ab("create", name, "--network", f"nat:{net}", "--no-launcher"))
    for name in ("ua", "ub", "uc"):
        ok(ab("start", name))
    d = ctr.show("ub")
    assert d["network"] == "nat:one" and d["network_detail"]["backend"] == backend, d["network_detail"]
    serve(ab, "ua", 8123, "hello-from-ua")
    serve(ab, "ub", 9321, "hello-from-ub")

    # names: each member sees the other, at one address in 127.77/16
    ha, hb, hc = hosts_of(ab, "ua"), hosts_of(ab, "ub"), hosts_of(ab, "uc")
    addr_a, addr_b = hb.get("ua"), ha.get("ub")
    assert addr_a and addr_a.startswith("127.77."), hb
    assert addr_b and addr_b.startswith("127.77.") and addr_b != addr_a, ha
    assert "ua" not in hc and "ub" not in hc, hc

    # an arbitrary port, both ways
    assert ok(ab("exec", "ub", "--", *CURL, "http://ua:8123/")) == "hello-from-ua\n"
    assert ok(ab("exec", "ua", "--", *CURL, "http://ub:9321/")) == "hello-from-ub\n"
    # outbound still works, by name (pasta's DNS)
    assert ok(ab("exec", "ub", "--", *CURL, "http://example.test/")) == netlab.page

    # another network: no name, and the address reaches nothing (reset,
    # and a line in its log)
    r = ab("exec", "uc", "--", *CURL, "http://ua:8123/")
    assert r.returncode == 6, (r.returncode, r.stdout, r.stderr)  # could not resolve
    r = ab("exec", "uc", "--", *CURL, f"http://{addr_a}:8123/")
    assert r.returncode in (7, 55, 56) and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    assert any(f"nat:two: no running member at {addr_a}" in l for l in ctr.log("uc")), ctr.log("uc")

    # ua stops: gone from ub's /etc/hosts, its old address reset
    ok(ab("stop", "ua"))
    assert "ua" not in hosts_of(ab, "ub")
    r = ab("exec", "ub", "--", *CURL, f"http://{addr_a}:8123/")
    # reset at once: curl sees it as a failed connect (7) a failed send (55) or read
    # (56), depending on whether the reset came before it looked
    assert r.returncode in (7, 55, 56) and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    assert any(f"nat:one: no running member at {addr_a}" in l for l in ctr.log("ub")), ctr.log("ub")

    # back: the same name, the same address, reachable again; ub untouched
    ok(ab("start", "ua"))
    serve(ab, "ua", 8123, "hello-again")
    assert hosts_of(ab, "ub").get("ua") == addr_a
    assert ok(ab("exec", "ub", "--", *CURL, "http://ua:8123/")) == "hello-again\n"
    assert ctr.starts("ub") == 1

    # ua's supervisor SIGKILLed (no teardown): its address reaches nothing
    # at once; its next start cleans up after it and takes the same address
    os.kill(ctr.runtime_pid("ua", "supervisor"), signal.SIGKILL)
    assert ctr.wait_state("ua", "stopped")
    r = ab("exec", "ub", "--", *CURL, f"http://{addr_a}:8123/")
    assert r.returncode in (7, 55, 56) and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    ok(ab("start", "ua"))
    serve(ab, "ua", 8123, "hello-after-kill")
    assert hosts_of(ab, "ub").get("ua") == addr_a
    assert ok(ab("exec", "ub", "--", *CURL, "http://ua:8123/")) == "hello-after-kill\n"

    ok(ab("stop", "ua", "ub", "uc"))
    assert wait_until(lambda: not store_procs(ctr), timeout=10), store_procs(ctr)
    left = [p for p in ctr.runtime.rglob("*") if p.name in ("usernet", "usernet.hosts", ".usernet.lock")]
    assert not left, left


def test_sandbox_cannot_join(users_only, netlab, ctr, tun_node):
    ab = lab_ab(netlab, ctr, tun_node)
    r = ab("sandbox", "--network", "nat:one", "--", "true")
    assert one_line_error(r, 2) == (
        "appbox: --network nat:one as a user: only a named container can be a member of a named network "
        "(appbox create NAME --network nat:one ...); a sandbox can use --network nat")
    assert not store_procs(ctr)


def test_member_needs_nft(users_only, netlab, ctr, tun_node):
    """Without nft, a member cannot carry its connections: it does not
    start, says why, and leaves nothing."""
    ab = lab_ab(netlab, ctr, tun_node, hide=["/usr/sbin/nft"])
    ok(ab("create", "ua", "--network", "nat:one", "--no-launcher"))
    r = ab("start", "ua")
    assert r.returncode != 0
    assert "--network nat:one as a user: /usr/sbin/nft (package nftables) is needed to carry the members' " \
        "connections" in r.stderr, r.stderr
    assert ctr.state("ua") == "stopped"
    assert wait_until(lambda: not store_procs(ctr), timeout=10), store_procs(ctr)
    left = [p for p in ctr.runtime.rglob("*") if p.name in ("usernet", "usernet.hosts", ".usernet.lock")]
    assert not left, left
