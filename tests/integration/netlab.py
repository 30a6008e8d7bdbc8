"""netlab: a throwaway "host" and "internet" for network tests (issue 12).

The machine's own network namespace is never touched: no link, address,
route, sysctl or nft rule is made there.  A NetLab is two fresh network
namespaces, each held by a `sleep infinity` that netlab started (no
`ip netns add`, so nothing under /run/netns or /etc/netns):

    host ns  (plays the host)           internet ns (plays the internet)
    lo, eth0 192.0.2.1/24  <-- veth --> lo, eth0 192.0.2.2/24
    default route via 192.0.2.2         busybox httpd :80 (lab.page at /)
    /etc/resolv.conf -> 192.0.2.2       dnsmasq :53: example.test (and
                                        *.example.test) -> 192.0.2.2

Use it in a test:

    from netlab import NetLab, netlab        # netlab: a fixture (per test)

    def test_fetch(netlab, appbox_bin, run_as):
        r = netlab.run_in_host(["curl", "-sS", "http://example.test/"], as_user=run_as)
        assert ok(r) == netlab.page

or, to share one lab in a module or to check what is left after it,
`with NetLab() as lab: ...`; afterwards `lab.leftovers()` is [] when the
namespaces, the processes netlab started and its temporary directory are
all gone (a test may assert that after running appbox in it, too).

  run_in_host(cmd, as_user="root", tun=None, **run_kw)
      CMD in the host namespace as root or the test user ("user"), via
      conftest.run (same env, timeout and capture); a private mount
      namespace gives it the lab's /etc/resolv.conf and a /sys of the host
      namespace (so /sys/class/net shows the lab's links) with the real
      /sys/fs/cgroup bound back (appbox needs it).  TUN: conftest's
      tun_node, as in conftest.run (pasta).
  popen_in_host(cmd, as_user="root", **popen_kw)
      the same, started in the background; netlab ends it at teardown.
  run_in_internet(cmd, **run_kw), popen_in_internet(cmd, **popen_kw)
      as root in the internet namespace (servers, captures, clients).
  host_pid, inet_pid     the holders: nsenter --net=/proc/PID/ns/net ...
  HOST_ADDR, INET_ADDR, NAME ("example.test"), page (the served bytes,
  unique per lab), tmp (the lab's temporary directory, Path).
  NetLab(dnsmasq_args=[...]) adds options to dnsmasq (e.g. DHCP).

Every process is started with a parent-death signal, so a SIGKILLed
pytest does not leave the namespaces held (only the /tmp/ablab-* directory
stays); teardown ends them by PID, also when the test failed.  Needs root,
iproute2, util-linux (nsenter, unshare, setpriv), busybox, dnsmasq
(scripts/deps.sh: dnsmasq-base) and curl; a test skips without them.
"""

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import _wrap, require_root, run, user_env, wait_until

HOST_ADDR = "192.0.2.1"   # TEST-NET-1: never routed anywhere real
INET_ADDR = "192.0.2.2"
PREFIX = 24
NAME = "example.test"

# Runs as root inside the host namespace, in a private mount namespace:
# a sysfs of this network namespace (what `ip netns exec` mounts), with
# the real /sys submounts (cgroups) bound back into it, moved over /sys;
# then the lab's resolv.conf; then the command (maybe wrapped by setpriv).
_HOST_WRAPPER = r'''
set -e
resolv=$1 stage=$2 n=$3; shift 3
mount -t sysfs sysfs "$stage"
i=0
while [ "$i" -lt "$n" ]; do
    sub=$1; shift; i=$((i + 1))
    mount --rbind "/sys/$sub" "$stage/$sub"
done
mount --move "$stage" /sys
mount --bind "$resolv" /etc/resolv.conf
exec "$@"
'''


def _netns_inode(pid):
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def _sys_submounts():
    """Top-level mounts below /sys (e.g. fs/cgroup), relative to /sys."""
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            p = line.split()[4]
            if p.startswith("/sys/"):
                points.append(p[len("/sys/"):])
    points.sort()
    top = []
    for p in points:
        if not any(p == t or p.startswith(t + "/") for t in top):
            top.append(p)
    return top


def _listening(pid, proto, port):
    """PID's network namespace has a socket bound to PORT (tcp: LISTEN),
    IPv4 or IPv6 (busybox httpd listens on ::)."""
    rows = []
    for table in (proto, proto + "6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                rows += f.read().splitlines()[1:]
        except OSError:
            pass
    for r in rows:
        fields = r.split()
        if fields[1].endswith(f":{port:04X}") and (proto != "tcp" or fields[3] == "0A"):
            return True
    return False


class NetLab:
    HOST_ADDR = HOST_ADDR
    INET_ADDR = INET_ADDR
    NAME = NAME

    def __init__(self, dnsmasq_args=()):
        self.dnsmasq_args = list(dnsmasq_args)
        self.id = f"ablab-{os.getpid()}-{secrets.token_hex(3)}"
        self.page = f"netlab page {self.id}\n"
        self.tmp = None
        self.host_pid = self.inet_pid = None
        self.inodes = {}     # "host"/"internet" -> netns inode
        self._procs = []     # every Popen netlab started, ended at close()
        self._own = _netns_inode("self")   # the machine's: never entered

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        require_root("netlab makes network namespaces")
        for tool in ("ip", "nsenter", "unshare", "setpriv", "busybox", "dnsmasq", "curl"):
            if not shutil.which(tool, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"):
                pytest.skip(f"netlab needs {tool} (scripts/deps.sh installs it)")
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{self.id}-"))
        os.chmod(self.tmp, 0o755)
        (self.tmp / "sys").mkdir()
        (self.tmp / "www").mkdir()
        (self.tmp / "www" / "index.html").write_text(self.page)
        (self.tmp / "resolv.conf").write_text(f"nameserver {INET_ADDR}\n")
        os.chmod(self.tmp / "resolv.conf", 0o644)

        self.host_pid = self._holder("host")
        self.inet_pid = self._holder("internet")
        h, i = self.host_pid, self.inet_pid
        for pid in (h, i):
            self._ip(pid, "link", "set", "lo", "up")
        # both ends are made in the host namespace, the peer moved at once
        self._ip(h, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", str(i))
        self._ip(h, "addr", "add", f"{HOST_ADDR}/{PREFIX}", "dev", "eth0")
        self._ip(i, "addr", "add", f"{INET_ADDR}/{PREFIX}", "dev", "eth0")
        self._ip(h, "link", "set", "eth0", "up")
        self._ip(i, "link", "set", "eth0", "up")
        self._ip(h, "route", "add", "default", "via", INET_ADDR)

        httpd = self.popen_in_internet(["busybox", "httpd", "-f", "-p", "80", "-h", str(self.tmp / "www")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dns = self.popen_in_internet(
            ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
             "--user=root", "--group=root",   # no uid change: keeps the parent-death signal
             f"--listen-address={INET_ADDR}", "--bind-interfaces",
             f"--pid-file={self.tmp / 'dnsmasq.pid'}", f"--dhcp-leasefile={self.tmp / 'dnsmasq.leases'}",
             f"--log-facility={self.tmp / 'dnsmasq.log'}",
             f"--address=/{NAME}/{INET_ADDR}", *self.dnsmasq_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # read through the holder: the server's own pid shows the machine's
        # namespace until nsenter has switched
        for p, proto, port, what in ((httpd, "tcp", 80, "busybox httpd"), (dns, "udp", 53, "dnsmasq")):
            up = wait_until(lambda: p.poll() is not None or _listening(i, proto, port), timeout=20)
            if not up or p.poll() is not None:
                err = p.stderr.read() if p.stderr and p.poll() is not None else ""
                log = self.tmp / "dnsmasq.log"
                if what == "dnsmasq" and log.exists():
                    err += log.read_text()[-2000:]
                raise RuntimeError(f"netlab: {what} did not start listening on {proto} port {port} in the "
                                   f"internet namespace (exit status {p.poll()}): {err.strip()}")

    def close(self):
        """End what netlab started (by PID, newest first), which drops the
        namespaces, and remove the temporary directory.  Idempotent."""
        for p in reversed(self._procs):
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            if p.stderr:
                p.stderr.close()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- running things ----------------------------------------------------

    def _holder(self, role):
        # unshare execs sleep: the pid is the holder's own; KILL when pytest dies
        p = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", "unshare", "--net", "--",
                              "sleep", "infinity"], stdin=subprocess.DEVNULL)
        self._procs.append(p)
        if not wait_until(lambda: p.poll() is not None or _netns_inode(p.pid) != self._own,
                          timeout=10) or p.poll() is not None:
            raise RuntimeError(f"netlab: the {role} namespace holder did not start "
                               f"(exit status {p.poll()})")
        self.inodes[role] = _netns_inode(p.pid)
        return p.pid

    def _enter(self, pid):
        """nsenter prefix for the lab namespace held by PID; refuses the
        machine's own namespace (a guard for everything netlab runs)."""
        if pid is None or _netns_inode(pid) in (self._own, _netns_inode("self")) \
                or _netns_inode(pid) not in self.inodes.values():
            raise RuntimeError(f"netlab: refusing to run in the network namespace of pid {pid}")
        return ["nsenter", f"--net=/proc/{pid}/ns/net", "--"]

    def _ip(self, pid, *args):
        r = subprocess.run([*self._enter(pid), "ip", *args], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"netlab: ip {' '.join(args)} failed: {r.stderr.strip()}")

    def _host_argv(self, cmd, as_user, tun):
        return [*self._enter(self.host_pid), "unshare", "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", _HOST_WRAPPER, "netlab", str(self.tmp / "resolv.conf"),
                str(self.tmp / "sys"), *self._subs(), *_wrap(cmd, as_user, tun)]

    def _subs(self):
        subs = _sys_submounts()
        return [str(len(subs)), *subs]

    def run_in_host(self, cmd, as_user="root", tun=None, env=None, extra_env=None, **kw):
        if env is None:
            env = user_env(as_user, extra_env)
        return run(self._host_argv(cmd, as_user, tun), as_user="root", env=env, **kw)

    def popen_in_host(self, cmd, as_user="root", tun=None, env=None, extra_env=None, **kw):
        if env is None:
            env = user_env(as_user, extra_env)
        return self._popen(self._host_argv(cmd, as_user, tun), env=env, **kw)

    def run_in_internet(self, cmd, **kw):
        return run([*self._enter(self.inet_pid), *map(str, cmd)], as_user="root", **kw)

    def popen_in_internet(self, cmd, **kw):
        return self._popen([*self._enter(self.inet_pid), *map(str, cmd)], env=user_env("root"), **kw)

    def _popen(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("cwd", "/")
        p = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", *argv], **kw)
        self._procs.append(p)
        return p

    # -- what is left ------------------------------------------------------

    def leftovers(self):
        """What of this lab still exists (after close(): should be [])."""
        left = [f"process {p.pid} ({p.args[3:6]}) still running" for p in self._procs if p.poll() is None]
        if self.tmp is not None and self.tmp.exists():
            left.append(f"directory {self.tmp}")
        wanted = {f"net:[{ino}]": role for role, ino in self.inodes.items()}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            links = [f"/proc/{d}/ns/net"]
            try:
                links += [f"/proc/{d}/task/{t}/ns/net" for t in os.listdir(f"/proc/{d}/task")]
                links += [f"/proc/{d}/fd/{fd}" for fd in os.listdir(f"/proc/{d}/fd")]
            except OSError:
                pass
            for link in links:
                try:
                    target = os.readlink(link)
                except OSError:
                    continue
                if target in wanted:
                    left.append(f"{wanted[target]} namespace held by {link}")
                    break
        with open("/proc/self/mountinfo") as f:
            for line in f:
                if line.split()[3] in wanted:
                    left.append(f"{wanted[line.split()[3]]} namespace mounted at {line.split()[4]}")
        return left


@pytest.fixture
def netlab():
    """A fresh NetLab for one test, torn down (and checked) afterwards."""
    with NetLab() as lab:
        yield lab
    left = lab.leftovers()
    assert not left, f"netlab left: {left}"
