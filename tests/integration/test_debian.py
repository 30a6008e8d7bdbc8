"""Debian/Ubuntu roots (issue 4): `create --base debian:SUITE` bootstraps
with mmdebstrap once into the image cache, every further container unpacks
from it; --packages and --deb are installed with apt; `appbox update`,
`++aptupdate` and `++aptupdateall`; `appbox install` (issue 10); bad input
leaves nothing behind; failures give the tools' own reasons (issue 10).

A bootstrap takes tens of seconds, so each caller identity (root, the test
user) gets ONE module-scoped data directory whose cache is built by the
first container (`fig`, with figlet); every test uses that same
APPBOX_DATA_DIR with its own runtime directory, home and container names.

Needs mmdebstrap and the Debian mirror (deb.debian.org); deselect with
`-m "not slow"`."""

import json
import os
import pty
import select
import signal
import stat
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import as_user_argv, make_busybox_root, ok, popen, run, store_env, user_env, user_info

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("mmdebstrap") is None,
                       reason="mmdebstrap is not installed (apt-get install mmdebstrap)"),
]

BASE = "debian:bookworm"
IMAGE = "debian-bookworm-minbase"
BOOTSTRAP_TIMEOUT = 600
APT_TIMEOUT = 300

# Distinctive lines of figlet's standard font (independent of the host).
HELLO_WORLD_LINES = [
    r"| |__   ___| | | ___    __      _____  _ __| | __| | |",
    r"|_| |_|\___|_|_|\___( )   \_/\_/ \___/|_|  |_|\__,_(_)",
]
HI_LINES = [r"| |__ (_)", r"|_| |_|_|"]


@dataclass
class Store:
    as_user: str
    appbox: str
    data: Path
    runtime: Path
    home: Path
    tun: str = None  # tun_node: apt runs start pasta, which opens /dev/net/tun as the container's root

    @property
    def env(self):
        # mmdebstrap's temporary directories (it leaves some when it is
        # interrupted) go where the test cleans up
        return {**store_env(self.data, self.runtime, self.home), "TMPDIR": str(self.home.parent / "tmp")}

    def ab(self, *args, timeout=APT_TIMEOUT, **kw):
        return run([self.appbox, *args], as_user=self.as_user, extra_env=self.env,
                   timeout=timeout, tun=self.tun, **kw)

    def names(self):
        return [c["name"] for c in json.loads(ok(self.ab("list", "--json")))]

    @property
    def images(self):
        return self.data / ".images"

    def image_files(self):
        return sorted(p.name for p in self.images.iterdir()) if self.images.is_dir() else []

    def top(self):
        """The data directory's top-level entries (containers, .images, .logs...)."""
        return sorted(p.name for p in self.data.iterdir())


def _make_dirs(base, u, *names):
    for d in names:
        (base / d).mkdir(parents=True)
    subprocess.run(["chown", "-R", f"{u.uid}:{u.gid}", str(base)], check=True)
    os.chmod(base, 0o755)
    (base / "tmp").mkdir(exist_ok=True)
    os.chmod(base / "tmp", 0o1777)


class Cache:
    """One data directory per caller identity, bootstrapped once by creating
    `fig` (debian:bookworm with figlet)."""

    def __init__(self, as_user, appbox, top, tun):
        self.as_user = as_user
        self.appbox = appbox
        u = user_info(as_user)
        self.dir = top / as_user
        _make_dirs(self.dir, u, "data", "run", "home")
        os.chmod(self.dir / "run", 0o700)
        self.store = Store(as_user, appbox, self.dir / "data", self.dir / "run", self.dir / "home", tun)
        t0 = time.monotonic()
        self.first = self.store.ab("create", "fig", "--base", BASE, "--packages", "figlet",
                                   timeout=BOOTSTRAP_TIMEOUT)
        self.first_seconds = time.monotonic() - t0

    def require(self):
        if self.first.returncode != 0:
            pytest.fail(f"the first debian:bookworm create ({self.as_user}) failed "
                        f"(exit status {self.first.returncode}):\nstdout: {self.first.stdout}\n"
                        f"stderr: {self.first.stderr}", pytrace=False)
        return self



@pytest.fixture(scope="module")
def _caches(appbox_bin, test_users, tun_node):
    top = Path(tempfile.mkdtemp(prefix="appbox-debian-"))
    os.chmod(top, 0o755)
    caches = {}

    def get(as_user):
        if as_user not in caches:
            caches[as_user] = Cache(as_user, appbox_bin, top, tun_node)
        return caches[as_user]

    yield get
    for c in caches.values():
        s = c.store
        for name in json.loads(s.ab("list", "--json").stdout or "[]"):
            s.ab("rm", "--force", name["name"])
    # rootless bootstraps may leave files owned by subordinate ids
    subprocess.run(["rm", "-rf", "--one-file-system", str(top)], capture_output=True)
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def cache(run_as, _caches):
    return _caches(run_as).require()


@pytest.fixture
def store(cache, world_tmp):
    """The identity's shared data directory with this test's own runtime
    directory and home; removes the containers the test made."""
    u = user_info(cache.as_user)
    base = world_tmp / "store"
    _make_dirs(base, u, "run", "home")
    os.chmod(base / "run", 0o700)
    s = Store(cache.as_user, cache.appbox, cache.store.data, base / "run", base / "home", cache.store.tun)
    before = set(s.names())
    yield s
    for c in json.loads(s.ab("list", "--json").stdout or "[]"):
        if c["name"] not in before:
            s.ab("rm", "--force", c["name"])


def _assert_nothing_left(s, name, top_before, images_before, allow_image_logs=True):
    assert name not in s.names()
    assert not (s.data / name).exists()
    assert not (s.home / ".local/bin" / name).exists(), "a launcher was left"
    assert s.top() == top_before, f"the data directory changed: {top_before} -> {s.top()}"
    new = set(s.image_files()) - set(images_before)
    # a failed bootstrap may keep its log (and its lock); never an image or a temporary tree
    allowed = (".log", ".lock") if allow_image_logs else ()
    assert all(f.endswith(allowed) for f in new) if allowed else not new, \
        f"left in the image cache: {sorted(new)}"
    assert not any(f.endswith(".tar") for f in new)


# --------------------------------------------------------------------------
# the seed test, the cache, the user inside


def test_seed_figlet_hello_world(cache):
    s = cache.store
    assert "created fig" in cache.first.stdout + cache.first.stderr
    assert (s.images / f"{IMAGE}.tar").is_file()
    assert (s.images / f"{IMAGE}.log").is_file()
    r = s.ab("run", "fig", "++cmd", "figlet", "hello, world!")
    out = ok(r)
    for line in HELLO_WORLD_LINES:
        assert line in out.splitlines() or line in [l.rstrip() for l in out.splitlines()], out
    # `image list` shows the cached base
    assert IMAGE in ok(s.ab("image", "list"))


def test_setuid_programs_keep_their_bits(cache):
    """The default filter refuses set-id modes; appbox's own runs on a root in
    its store (the unpacker, apt-get/dpkg) keep them: the Debian root's
    setuid programs are still setuid in the container's shared base, and
    dpkg installed the package (--packages) with its setuid program into
    the container's own layer."""
    s = cache.store
    base = (s.data / "fig" / "base").read_text().strip()
    rootfs = s.data / ".images" / "bases" / base / "root"
    for prog in ("usr/bin/passwd", "usr/bin/su"):
        st = os.lstat(rootfs / prog)
        assert st.st_mode & stat.S_ISUID, f"{prog}: {stat.filemode(st.st_mode)}"
    r = s.ab("create", "suid", "--base", BASE, "--packages", "sudo")
    ok(r)
    st = os.lstat(s.data / "suid" / "layer" / "upper" / "usr/bin/sudo")
    assert st.st_mode & stat.S_ISUID, f"sudo: {stat.filemode(st.st_mode)}"
    ok(s.ab("rm", "suid"))


def test_second_container_from_cache(cache, store):
    tar = store.images / f"{IMAGE}.tar"
    log = store.images / f"{IMAGE}.log"
    tar_st, log_st, log_text = tar.stat(), log.stat(), log.read_text()
    t0 = time.monotonic()
    r = store.ab("create", "second", "--base", BASE)
    elapsed = time.monotonic() - t0
    ok(r)
    print(f"first create (bootstrap + figlet): {cache.first_seconds:.1f} s, "
          f"second from the cache: {elapsed:.1f} s")
    # no new bootstrap: the cache and its log were not rewritten
    assert tar.stat().st_mtime_ns == tar_st.st_mtime_ns and tar.stat().st_ino == tar_st.st_ino
    assert tar.stat().st_size == tar_st.st_size
    assert log.stat().st_mtime_ns == log_st.st_mtime_ns and log.read_text() == log_text
    assert elapsed < cache.first_seconds / 2, (elapsed, cache.first_seconds)
    # the cache is pristine: fig's packages are not in it
    r = store.ab("run", "second", "++cmd", "sh", "-c", "command -v figlet || echo none")
    assert ok(r).strip() == "none"
    assert ok(store.ab("run", "second", "++cmd", "cat", "/etc/debian_version")).strip().startswith("12")


def test_user_inside(cache):
    s = cache.store
    u = user_info(cache.as_user)
    assert ok(s.ab("run", "fig", "++cmd", "id", "-un")).strip() == u.name
    assert ok(s.ab("run", "fig", "++cmd", "id", "-u")).strip() == str(u.uid)
    assert ok(s.ab("run", "fig", "++cmd", "id", "-g")).strip() == str(u.gid)
    out = ok(s.ab("run", "fig", "++cmd", "sh", "-c",
                  'getent passwd "$(id -un)"; echo "HOME=$HOME"'))
    lines = out.splitlines()
    pw = lines[0].split(":")
    assert pw[0] == u.name and pw[2] == str(u.uid) and pw[3] == str(u.gid), out
    home = pw[5]
    assert f"HOME={home}" in lines, out
    st = ok(s.ab("run", "fig", "++cmd", "stat", "-c", "%F %u %g %U", home)).split()
    assert st[:2] == ["directory", str(u.uid)], st
    assert st[-1] == u.name, st
    # the home is theirs: they can write to it
    ok(s.ab("run", "fig", "++cmd", "sh", "-c", f'touch "{home}/.appbox-test" && rm "{home}/.appbox-test"'))


# --------------------------------------------------------------------------
# --deb


def _build_deb(where):
    pkg = where / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "usr/bin").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text(
        "Package: appbox-test-hello\n"
        "Version: 1.0\n"
        "Architecture: all\n"
        "Maintainer: appbox tests <appbox@example.invalid>\n"
        "Depends: figlet\n"
        "Description: appbox test package\n"
        " Runs figlet hi.\n")
    script = pkg / "usr/bin/appbox-hello"
    script.write_text("#!/bin/sh\nexec figlet hi\n")
    os.chmod(script, 0o755)
    for d in (pkg, pkg / "DEBIAN", pkg / "usr", pkg / "usr/bin"):
        os.chmod(d, 0o755)
    deb = where / "appbox-test-hello_1.0_all.deb"
    r = subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(pkg), str(deb)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    os.chmod(deb, 0o644)
    return deb


def test_deb_with_dependency_from_mirror(store, world_tmp):
    deb = _build_deb(world_tmp)
    ok(store.ab("create", "debc", "--base", BASE, "--deb", str(deb)))
    out = ok(store.ab("run", "debc", "++cmd", "appbox-hello"))
    for line in HI_LINES:
        assert line in [l.rstrip() for l in out.splitlines()], out
    st = ok(store.ab("run", "debc", "++cmd", "dpkg-query", "-W", "-f", "${Status}\n",
                     "appbox-test-hello", "figlet"))
    assert st.splitlines() == ["install ok installed"] * 2, st


# --------------------------------------------------------------------------
# updates


def _lines(out):
    return [l for l in out.splitlines() if l.strip()]


def test_update_named_and_all(store, world_tmp):
    for n in ("up1", "up2"):
        ok(store.ab("create", n, "--base", BASE))
    ok(store.ab("create", "uphost", "--base", "host"))
    u = user_info(store.as_user)
    bb = make_busybox_root(world_tmp / "bbroot", owner=u)
    ok(store.ab("create", "upbb", "--base", f"dir:{bb}"))
    conf_before = (store.data / "up1/appbox.conf").read_text()

    r = store.ab("update", "up1", "up2")
    assert _lines(ok(r)) == ["up1: updated", "up2: updated"], r.stdout

    r = store.ab("update", "--all")
    lines = _lines(ok(r))
    names = store.names()
    # one line per container
    assert sorted(l.split(":", 1)[0] for l in lines) == sorted(names), lines
    assert "up1: updated" in lines and "up2: updated" in lines and "fig: updated" in lines
    assert any(l.startswith("uphost: skipped (") for l in lines), lines
    assert any(l.startswith("upbb: skipped (") for l in lines), lines
    # the network was on for the update only: the configuration is unchanged
    assert (store.data / "up1/appbox.conf").read_text() == conf_before

    # a skipped container alone is not a failure
    r = store.ab("update", "uphost")
    assert _lines(ok(r))[0].startswith("uphost: skipped (")

    # the containers still work and still have no network of their own
    out = ok(store.ab("run", "up1", "++cmd", "sh", "-c", "ls /sys/class/net"))
    assert out.split() == ["lo"], out


def test_update_unknown_container_fails(store):
    r = store.ab("update", "no-such-container")
    assert r.returncode != 0
    assert "no-such-container" in r.stdout + r.stderr


def test_aptupdate_on_run_and_launcher(store):
    ok(store.ab("create", "apt1", "--base", BASE))
    ok(store.ab("create", "apthost", "--base", "host"))
    r = store.ab("run", "apt1", "++aptupdate")
    assert "apt1: updated" in _lines(ok(r)), r.stdout
    launcher = store.home / ".local/bin/apt1"
    assert launcher.is_file()
    r = run([str(launcher), "++aptupdate"], as_user=store.as_user, extra_env=store.env,
            timeout=APT_TIMEOUT, tun=store.tun)
    assert "apt1: updated" in _lines(ok(r)), r.stdout
    r = run([str(launcher), "++aptupdateall"], as_user=store.as_user, extra_env=store.env,
            timeout=APT_TIMEOUT, tun=store.tun)
    lines = _lines(ok(r))
    assert "apt1: updated" in lines and "fig: updated" in lines, lines
    assert any(l.startswith("apthost: skipped (") for l in lines), lines
    assert sorted(l.split(":", 1)[0] for l in lines) == sorted(store.names()), lines
    r = store.ab("run", "apthost", "++aptupdate")
    assert _lines(ok(r))[0].startswith("apthost: skipped ("), r.stdout


# --------------------------------------------------------------------------
# appbox install: the path `update` takes, for packages and local .deb files


def _root_file(s, name, rel):
    """REL in NAME's root as the container sees it: its own root, or its
    layer over the shared base (test_storage.py)."""
    d = s.data / name
    if (d / "rootfs").is_dir():
        return d / "rootfs" / rel
    upper = d / "layer/upper" / rel
    if os.path.lexists(upper):
        return upper
    return s.data / ".images/bases" / (d / "base").read_text().strip() / "root" / rel


def _dpkg_status(s, name):
    """The container's dpkg database, as bytes: what an install changes."""
    return _root_file(s, name, "var/lib/dpkg/status").read_bytes()


def test_install_package_from_the_mirror(store):
    ok(store.ab("create", "inst", "--base", BASE))
    r = store.ab("install", "inst", "figlet")
    assert _lines(ok(r)) == ["inst: installed figlet"], (r.stdout, r.stderr)
    assert r.stderr == "", r.stderr  # off a terminal: only the log
    log = store.data / ".logs" / "inst-install.log"
    assert "Setting up figlet" in log.read_text(errors="replace")
    out = ok(store.ab("run", "inst", "++cmd", "/usr/bin/figlet", "hi"))
    for line in HI_LINES:
        assert line in [l.rstrip() for l in out.splitlines()], out
    # still no network of its own afterwards
    assert ok(store.ab("run", "inst", "++cmd", "sh", "-c", "ls /sys/class/net")).split() == ["lo"]


def test_install_local_deb_with_dependency(store, world_tmp):
    deb = _build_deb(world_tmp)
    ok(store.ab("create", "insd", "--base", BASE))
    r = store.ab("install", "--verbose", "insd", "--", str(deb))
    assert _lines(ok(r)) == [f"insd: installed {deb}"], (r.stdout, r.stderr)
    assert "Setting up figlet" in r.stderr, r.stderr  # --verbose: apt's output as well
    out = ok(store.ab("run", "insd", "++cmd", "appbox-hello"))
    for line in HI_LINES:
        assert line in [l.rstrip() for l in out.splitlines()], out
    st = ok(store.ab("run", "insd", "++cmd", "dpkg-query", "-W", "-f", "${Status}\n",
                     "appbox-test-hello", "figlet"))
    assert st.splitlines() == ["install ok installed"] * 2, st


def test_install_missing_package_says_why(store):
    ok(store.ab("create", "insn", "--base", BASE))
    before = _dpkg_status(store, "insn")
    r = store.ab("install", "insn", "nosuchpkg")
    assert r.returncode == 125, (r.returncode, r.stderr)
    assert r.stdout == ""
    log = store.data / ".logs" / "insn-install.log"
    assert r.stderr.startswith("appbox: insn: install failed: apt-get failed: "), r.stderr
    assert "Unable to locate package nosuchpkg" in r.stderr, r.stderr
    assert str(log) in r.stderr, r.stderr
    assert "Unable to locate package nosuchpkg" in log.read_text(errors="replace")
    assert _dpkg_status(store, "insn") == before


def test_install_bad_input_changes_nothing(store, world_tmp):
    ok(store.ab("create", "insb", "--base", BASE))
    ok(store.ab("create", "insh", "--base", "host"))
    u = user_info(store.as_user)
    bb = make_busybox_root(world_tmp / "bbroot", owner=u)
    ok(store.ab("create", "insbb", "--base", f"dir:{bb}"))
    status = _dpkg_status(store, "insb")
    logs = sorted(p.name for p in (store.data / ".logs").iterdir())
    notdeb = world_tmp / "notadeb.txt"
    notdeb.write_text("not a package\n")
    os.chmod(notdeb, 0o644)
    (world_tmp / "dir.deb").mkdir()
    cases = [
        (["install", "no-such-container", "figlet"], 125, "no-such-container"),
        (["install", "../x", "figlet"], 2, "../x"),
        (["install", "insb"], 2, "nothing to install"),
        (["install"], 2, "missing NAME"),
        (["install", "insb", "Bad_Name"], 2, "'Bad_Name' is not a package name"),
        (["install", "insb", "figlet", "a;rm -rf ~"], 2, "'a;rm -rf ~' is not a package name"),
        (["install", "insb", "figlet", "a;rm -rf /"], 2, "'a;rm -rf /': not a .deb file"),
        (["install", "insb", "--", "-oAPT::Get::AllowUnauthenticated=1"], 2, "is not a package name"),
        (["install", "insb", "--allow-unauthenticated", "figlet"], 2, "unknown option"),
        (["install", "insb", "/no/such.deb"], 2, "'/no/such.deb': No such file or directory"),
        (["install", "insb", "figlet", str(notdeb)], 2, "not a .deb file"),
        (["install", "insb", str(world_tmp / "dir.deb")], 2, "not a regular file"),
        (["install", "insh", "figlet"], 2, "host"),
        (["install", "insbb", "figlet"], 2, "no apt-get"),
    ]
    for args, code, words in cases:
        r = store.ab(*args)
        assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
        assert words in r.stderr, (args, r.stderr)
        assert r.stdout == "", (args, r.stdout)
    # a running container is refused: dpkg would change programs under it
    ok(store.ab("start", "insb"))
    try:
        r = store.ab("install", "insb", "figlet")
        assert r.returncode == 125, (r.returncode, r.stderr)
        assert "insb is running (stop it first" in r.stderr, r.stderr
    finally:
        ok(store.ab("stop", "insb"))
    assert _dpkg_status(store, "insb") == status
    assert sorted(p.name for p in (store.data / ".logs").iterdir()) == logs, "an install log was made"
    assert not _root_file(store, "insb", "usr/bin/figlet").exists()


# --------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("base", ["debian:", "debian:Bad_Suite!", "debian:../x",
                                  "debian:-v", "debian:--help"])
def test_bad_suite_refused(store, base):
    top, imgs = store.top(), store.image_files()
    r = store.ab("create", "bad", "--base", base)
    assert r.returncode != 0, r.stdout
    assert r.stderr.strip(), "no error message"
    _assert_nothing_left(store, "bad", top, imgs, allow_image_logs=False)


def test_unknown_suite_fails_and_names_log(store):
    top, imgs = store.top(), store.image_files()
    r = store.ab("create", "nosuite", "--base", "debian:nosuchsuite", timeout=BOOTSTRAP_TIMEOUT)
    assert r.returncode != 0, r.stdout
    logs = [w for w in r.stderr.split() if w.endswith(".log")]
    assert logs, f"the message does not name the log: {r.stderr}"
    assert Path(logs[0]).is_file(), logs
    # mmdebstrap's own reason (its "E:" line), not just its exit status
    assert "mmdebstrap failed: The repository 'http://deb.debian.org/debian nosuchsuite Release' does not " \
           "have a Release file." in r.stderr, r.stderr
    assert "exit status" not in r.stderr, r.stderr
    _assert_nothing_left(store, "nosuite", top, imgs)
    assert not (store.images / "debian-nosuchsuite-minbase.tar").exists()


def _without_ubuntu_keyring(s, *args, timeout=BOOTSTRAP_TIMEOUT):
    """appbox ARGS as S's user, in a private mount namespace where an empty
    directory hides /usr/share/keyrings (whether or not this host has the
    Ubuntu keyring)."""
    empty = Path(tempfile.mkdtemp(prefix="appbox-nokeys-"))
    os.chmod(empty, 0o755)
    try:
        argv = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                'mount --bind "$0" /usr/share/keyrings && exec "$@"', str(empty)] + \
            as_user_argv([s.appbox, *args], s.as_user)
        return subprocess.run(argv, env=user_env(s.as_user, s.env), cwd="/", stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
    finally:
        empty.rmdir()


@pytest.mark.parametrize("verb", ["create", "pull"])
def test_ubuntu_base_without_keyring_is_refused_up_front(store, verb):
    top, imgs = store.top(), store.image_files()
    args = ["create", "ubu", "--base", "ubuntu:noble"] if verb == "create" else ["image", "pull", "ubuntu:noble"]
    r = _without_ubuntu_keyring(store, *args)
    assert r.returncode == 125, (r.returncode, r.stdout, r.stderr)
    assert "/usr/share/keyrings/ubuntu-archive-keyring.gpg" in r.stderr, r.stderr
    assert "ubuntu-keyring" in r.stderr.replace("ubuntu-archive-keyring", ""), r.stderr
    # up front: no bootstrap ran, so there is not even a log
    _assert_nothing_left(store, "ubu", top, imgs, allow_image_logs=False)


def test_unreachable_mirror(store):
    top, imgs = store.top(), store.image_files()
    r = store.ab("create", "nomirror", "--base", BASE, "--mirror", "http://127.0.0.1:9/debian",
                 timeout=BOOTSTRAP_TIMEOUT)
    assert r.returncode != 0, r.stdout
    assert ".log" in r.stderr, r.stderr
    _assert_nothing_left(store, "nomirror", top, imgs)
    # the cached base for the real mirror was not touched
    assert (store.images / f"{IMAGE}.tar").is_file()


def test_missing_deb(store):
    top, imgs = store.top(), store.image_files()
    r = store.ab("create", "nodeb", "--base", BASE, "--deb", "/no/such.deb")
    assert r.returncode != 0
    assert "/no/such.deb" in r.stderr, r.stderr
    _assert_nothing_left(store, "nodeb", top, imgs, allow_image_logs=False)


@pytest.mark.parametrize("fname", ["notadeb.deb", "notadeb.txt"])
def test_not_a_deb(store, world_tmp, fname):
    f = world_tmp / fname
    f.write_text("this is not a Debian package\n")
    os.chmod(f, 0o644)
    top, imgs = store.top(), store.image_files()
    r = store.ab("create", "baddeb", "--base", BASE, "--deb", str(f))
    assert r.returncode != 0, r.stdout
    assert r.stderr.strip()
    _assert_nothing_left(store, "baddeb", top, imgs, allow_image_logs=False)


@pytest.mark.parametrize("pkgs", ["Bad Name", "figlet,-o,foo", "", "a;rm -rf /"])
def test_bad_package_names(store, pkgs):
    top, imgs = store.top(), store.image_files()
    r = store.ab("create", "badpkg", "--base", BASE, "--packages", pkgs)
    assert r.returncode != 0, r.stdout
    assert r.stderr.strip()
    _assert_nothing_left(store, "badpkg", top, imgs, allow_image_logs=False)


def test_missing_package_removes_container_keeps_log(store):
    top, imgs = store.top(), store.image_files()
    r = store.ab("create", "nopkg", "--base", BASE, "--packages", "no-such-package-xyz")
    assert r.returncode != 0, r.stdout
    log = store.data / ".logs" / "nopkg-create.log"
    assert str(log) in r.stderr, r.stderr
    # apt-get's own reason, not just its exit status
    assert "apt-get failed: Unable to locate package no-such-package-xyz" in r.stderr, r.stderr
    assert "exit status" not in r.stderr, r.stderr
    assert log.is_file()
    assert "no-such-package-xyz" in log.read_text()
    _assert_nothing_left(store, "nopkg", top, imgs, allow_image_logs=False)
    # the name is free again
    ok(store.ab("create", "nopkg", "--base", BASE))


@pytest.mark.parametrize("opt", [["--variant", "../x"], ["--mirror", "notaurl"],
                                 ["--mirror", "--help"]])
def test_bad_variant_or_mirror_is_usage_error(store, opt):
    top, imgs = store.top(), store.image_files()
    r = store.ab("create", "badopt", "--base", BASE, *opt)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip()
    _assert_nothing_left(store, "badopt", top, imgs, allow_image_logs=False)


@pytest.mark.parametrize("opt", [["--mirror", "http://deb.debian.org/debian"],
                                 ["--variant", "minbase"],
                                 ["--packages", "figlet"]])
def test_debian_options_with_host_base_are_usage_errors(store, opt):
    top = store.top()
    r = store.ab("create", "hostopt", "--base", "host", *opt)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip()
    assert "hostopt" not in store.names()
    assert store.top() == top


# --------------------------------------------------------------------------
# feedback: a status line on a terminal, quiet (but logged) off one


def _on_a_terminal(s, *args, timeout=APT_TIMEOUT):
    """Run appbox ARGS with stdout and stderr on a pseudo-terminal; returns
    (exit status, everything it wrote)."""
    master, slave = pty.openpty()
    p = popen([s.appbox, *args], as_user=s.as_user, extra_env=s.env, tun=s.tun,
              stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        code = p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return code, out.decode(errors="replace")


def test_progress_on_a_terminal(store):
    code, out = _on_a_terminal(store, "create", "prog", "--base", BASE, "--packages", "figlet")
    assert code == 0, out
    # a status line that is rewritten in place, with a counter and the step
    assert "\r\033[K" in out, out
    assert "installing packages" in out, out
    assert "configuring 1/1: figlet" in out, out
    assert "created prog" in out
    # the full apt output is only in the log
    assert "Setting up figlet" not in out
    assert "Setting up figlet" in (store.data / ".logs" / "prog-create.log").read_text()


def test_install_progress_on_a_terminal(store):
    ok(store.ab("create", "insp", "--base", BASE))
    code, out = _on_a_terminal(store, "install", "insp", "figlet")
    assert code == 0, out
    log = store.data / ".logs" / "insp-install.log"
    assert f"installing 1 package(s) and 0 .deb file(s) into insp; log: {log}" in out, out
    assert "\r\033[K" in out and "configuring 1/1: figlet" in out, out
    assert "insp: installed figlet" in out, out
    assert "Setting up figlet" not in out
    assert "Setting up figlet" in log.read_text(errors="replace")


def test_quiet_but_logged_off_a_terminal(store):
    r = store.ab("create", "quiet", "--base", BASE, "--packages", "figlet")
    ok(r)
    assert r.stderr == "", r.stderr
    assert "Setting up figlet" in (store.data / ".logs" / "quiet-create.log").read_text()


def test_verbose_shows_the_tools_output(store):
    r = store.ab("create", "loud", "--base", BASE, "--packages", "figlet", "--verbose")
    ok(r)
    assert "Setting up figlet" in r.stderr, r.stderr
    assert "\033[K" not in r.stderr


# --------------------------------------------------------------------------
# an interrupted create leaves nothing behind


def _interrupt_when(s, name, args, ready, what, tool, new_top=()):
    """Start `create NAME ARGS`, send SIGINT once READY() holds, and check
    that it fails saying that TOOL was interrupted and leaves nothing behind
    (but NEW_TOP, the cache's own directories)."""
    top, imgs = sorted(set(s.top()) | set(new_top)), s.image_files()
    p = popen([s.appbox, "create", name, *args], as_user=s.as_user, extra_env=s.env, tun=s.tun,
              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + BOOTSTRAP_TIMEOUT
        while not ready() and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert p.poll() is None, f"create ended before {what}: {p.communicate()}"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode != 0, out
    assert f"{tool} was interrupted (signal 2)" in err, err
    assert "exit status" not in err, err
    assert ".log" in err, f"the message does not name the log: {err}"
    _assert_nothing_left(s, name, top, imgs)
    assert not [f for f in s.image_files() if f.endswith((".part", ".d"))]


def test_ctrl_c_while_installing_packages(store):
    log = store.data / ".logs" / "intr-create.log"
    if log.exists():
        log.unlink()
    _interrupt_when(store, "intr", ["--base", BASE, "--packages", "figlet"],
                    lambda: log.exists() and "Reading package lists" in log.read_text(errors="replace"),
                    "apt-get ran", "apt-get")


def test_ctrl_c_while_installing_into_a_container(store):
    """`install` interrupted: apt-get's interruption is said as such, with
    the log; the container stays (what dpkg did so far is not undone)."""
    ok(store.ab("create", "insi", "--base", BASE))
    log = store.data / ".logs" / "insi-install.log"
    p = popen([store.appbox, "install", "insi", "figlet"], as_user=store.as_user, extra_env=store.env,
              tun=store.tun, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + APT_TIMEOUT
        while p.poll() is None and time.monotonic() < deadline and not (
                log.exists() and "Reading package lists" in log.read_text(errors="replace")):
            time.sleep(0.2)
        assert p.poll() is None, f"install ended before apt-get ran: {p.communicate()}"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 125, (p.returncode, out, err)
    assert out == ""
    assert err.startswith("appbox: insi: install failed: apt-get was interrupted (signal 2); its log: "), err
    assert str(log) in err, err
    assert "insi" in store.names()


def test_ctrl_c_while_bootstrapping(run_as, appbox_bin, world_tmp):
    """A fresh data directory: the interrupt reaches mmdebstrap; no tarball,
    no partial tarball, no container."""
    u = user_info(run_as)
    _make_dirs(world_tmp / "fresh", u, "data", "run", "home")
    os.chmod(world_tmp / "fresh" / "run", 0o700)
    s = Store(run_as, appbox_bin, world_tmp / "fresh/data", world_tmp / "fresh/run", world_tmp / "fresh/home")
    log = s.images / f"{IMAGE}.log"
    _interrupt_when(s, "boot", ["--base", BASE],
                    lambda: log.exists() and log.stat().st_size > 200, "the bootstrap was under way",
                    "mmdebstrap", new_top=(".images",))
    assert not (s.images / f"{IMAGE}.tar").exists()
    subprocess.run(["rm", "-rf", "--one-file-system", str(world_tmp / "fresh")], capture_output=True)


def test_killed_bootstrap_leaves_no_mounts(world_tmp, appbox_bin):
    """As root, mmdebstrap mounts /proc, /sys and /dev into its chroot.  It
    runs in a mount namespace of its own: killed outright mid-way, it leaves
    no mount on the host, and create fails, leaving nothing behind."""
    if os.geteuid() != 0:
        pytest.skip("root mode only (unshare mode has its own namespaces)")
    u = user_info("root")
    top = world_tmp / "kb"
    _make_dirs(top, u, "data", "run", "home")
    s = Store("root", appbox_bin, top / "data", top / "run", top / "home")
    log = s.images / f"{IMAGE}.log"
    p = popen([appbox_bin, "create", "kb", "--base", BASE], extra_env=s.env,
              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + BOOTSTRAP_TIMEOUT
        while time.monotonic() < deadline and p.poll() is None:
            text = log.read_text(errors="replace") if log.exists() else ""
            if "installing essential packages" in text:  # chroot mounts are up
                break
            time.sleep(0.2)
        assert p.poll() is None, p.communicate()
        time.sleep(1)
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            tools = [int(c) for c in f.read().split()]
        mm = [c for c in tools if b"mmdebstrap" in open(f"/proc/{c}/cmdline", "rb").read()]
        assert mm, tools
        os.killpg(mm[0], signal.SIGKILL)  # its own process group: the tool and its children
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode != 0 and ".log" in err, err
    assert "mmdebstrap was killed by signal 9" in err, err
    with open("/proc/self/mounts") as f:
        leaked = [l for l in f.read().splitlines() if "mmdebstrap" in l]
    assert not leaked, leaked
    assert "kb" not in s.names() and not (s.images / f"{IMAGE}.tar").exists()
    assert not (s.images / f"{IMAGE}.tar.part").exists()
    subprocess.run(["rm", "-rf", "--one-file-system", str(top)], capture_output=True)


# --------------------------------------------------------------------------
# debootstrap, where mmdebstrap is not what is used


def test_debootstrap_fallback(world_tmp, appbox_bin):
    if os.geteuid() != 0:
        pytest.skip("debootstrap needs root")
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed (apt-get install debootstrap)")
    u = user_info("root")
    _make_dirs(world_tmp / "db", u, "data", "run", "home")
    s = Store("root", appbox_bin, world_tmp / "db/data", world_tmp / "db/run", world_tmp / "db/home")
    env = {**s.env, "APPBOX_BOOTSTRAP": "debootstrap"}
    r = run([appbox_bin, "create", "deb1", "--base", BASE], extra_env=env, timeout=BOOTSTRAP_TIMEOUT)
    ok(r)
    assert "debootstrap" in (s.images / f"{IMAGE}.log").read_text(errors="replace")
    out = ok(run([appbox_bin, "run", "deb1", "--", "sh", "-c", "cat /etc/debian_version; id -u"],
                 extra_env=env))
    assert out.split()[0].startswith("12."), out
    assert out.split()[1] == "0"
    ok(run([appbox_bin, "rm", "deb1"], extra_env=env))
    subprocess.run(["rm", "-rf", "--one-file-system", str(world_tmp / "db")], capture_output=True)


def test_bad_bootstrap_tool(store):
    top, imgs = store.top(), store.image_files()
    env = {**store.env, "APPBOX_BOOTSTRAP": "bogus"}
    r = run([store.appbox, "create", "badtool", "--base", "debian:trixie"], as_user=store.as_user,
            extra_env=env, timeout=BOOTSTRAP_TIMEOUT)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "APPBOX_BOOTSTRAP" in r.stderr and "bogus" in r.stderr and "mmdebstrap" in r.stderr
    _assert_nothing_left(store, "badtool", top, imgs, allow_image_logs=False)


def test_debootstrap_as_a_user_is_refused(store):
    if store.as_user == "root":
        pytest.skip("checks the unprivileged caller")
    top, imgs = store.top(), store.image_files()
    env = {**store.env, "APPBOX_BOOTSTRAP": "debootstrap"}
    r = run([store.appbox, "create", "dbuser", "--base", "debian:trixie"], as_user=store.as_user, extra_env=env)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "root" in r.stderr, r.stderr
    _assert_nothing_left(store, "dbuser", top, imgs, allow_image_logs=False)


# --------------------------------------------------------------------------
# appbox image pull checks what it is given like create does


@pytest.mark.parametrize("args", [["debian:-v"], ["debian:--help"], ["debian:bookworm", "--variant", "../x"],
                                  ["debian:bookworm", "--mirror", "notaurl"],
                                  ["debian:bookworm", "--mirror", "http://x/ debian"],
                                  ["tar:/etc/passwd"], ["debian:bookworm", "--variant"]])
def test_image_pull_bad_input(store, args):
    imgs = store.image_files()
    r = store.ab("image", "pull", *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip() and not r.stdout
    assert store.image_files() == imgs


# --------------------------------------------------------------------------
# appbox image list / rm / pull on a cache entry (a small stand-in tarball:
# list, rm and a pull that finds the entry never read it)


def test_image_list_rm_pull(run_as, appbox_bin, world_tmp):
    import fcntl
    u = user_info(run_as)
    _make_dirs(world_tmp / "img", u, "data", "run", "home")
    os.chmod(world_tmp / "img" / "run", 0o700)
    s = Store(run_as, appbox_bin, world_tmp / "img/data", world_tmp / "img/run", world_tmp / "img/home")
    assert ok(s.ab("image", "list")).splitlines()[1:] == []
    # the first pull makes the cache directory; a stand-in entry goes there
    r = s.ab("image", "pull", "debian:bookworm", "--mirror", "http://127.0.0.1:9/debian",
             timeout=BOOTSTRAP_TIMEOUT)
    assert r.returncode != 0 and ".log" in r.stderr, r.stderr
    assert not [f for f in s.image_files() if f.endswith((".tar", ".part"))], s.image_files()
    tar = s.images / f"{IMAGE}.tar"
    subprocess.run(["tar", "-cf", str(tar), "-C", str(world_tmp / "img/home"), "."], check=True)
    (s.images / f"{IMAGE}.log").write_text("built\n")
    subprocess.run(["chown", f"{u.uid}:{u.gid}", str(tar), str(s.images / f"{IMAGE}.log")], check=True)
    listed = ok(s.ab("image", "list")).splitlines()
    assert listed[0].split() == ["NAME", "SIZE", "BUILT"] and listed[1].split()[0] == IMAGE, listed
    # a pull that finds the entry does not bootstrap: at once, its path
    assert ok(s.ab("image", "pull", "debian:bookworm", timeout=30)).strip() == f"{IMAGE}: {tar}"
    # not while another appbox builds it
    with open(s.images / f"{IMAGE}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = s.ab("image", "rm", IMAGE)
        assert r.returncode == 125 and "being built" in r.stderr, (r.returncode, r.stderr)
        assert tar.exists()
    # a partial tarball left by an appbox that was killed goes with it
    part = s.images / f"{IMAGE}.tar.part"
    part.write_bytes(b"partial")
    assert ok(s.ab("image", "list")).splitlines()[1:] and IMAGE + ".tar.part" not in ok(s.ab("image", "list"))
    assert ok(s.ab("image", "rm", IMAGE)).strip() == f"removed {IMAGE}"
    assert not tar.exists() and not (s.images / f"{IMAGE}.log").exists() and not part.exists()
    assert ok(s.ab("image", "list")).splitlines()[1:] == []
    # an image that is not there: appbox's failure (125); the rest are usage errors
    r = s.ab("image", "rm", IMAGE)
    assert r.returncode == 125 and "no cached image named" in r.stderr and not r.stdout, (r.returncode, r.stderr)
    for args in (["rm", "../x"], ["rm"], ["list", "x"], [], ["nope"]):
        r = s.ab("image", *args)
        assert r.returncode == 2 and r.stderr.strip() and not r.stdout, (args, r.returncode, r.stdout, r.stderr)
    subprocess.run(["rm", "-rf", "--one-file-system", str(world_tmp / "img")], capture_output=True)
