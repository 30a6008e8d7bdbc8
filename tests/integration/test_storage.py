"""Shared bases (issue 10, "Faster and leaner storage"): a container of a
cached Debian base is an overlay of the base, unpacked once read-only into
$DATA/.images/bases/ID/root, under a layer of its own (NAME/layer/upper and
work).  Two containers of one base do not see each other's changes and
neither changes the base; a new container is small on disk; rm leaves
nothing; `image rm` keeps a base its containers still use until the last
of them goes; a newer build of the cached tarball is a new base, and the
old one stays for its containers; update, ++aptupdate and --packages write
into the container's own layer.

As test_debian.py: one bootstrap per caller identity for the module (its
first create); needs mmdebstrap and deb.debian.org; `-m "not slow"`
deselects it."""

import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import ok, run, store_env, user_info

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("mmdebstrap") is None,
                       reason="mmdebstrap is not installed (apt-get install mmdebstrap)"),
]

BASE = "debian:bookworm"
IMAGE = "debian-bookworm-minbase"
BOOTSTRAP_TIMEOUT = 600
APT_TIMEOUT = 300
SMALL = 5 * 1024 * 1024  # a new container's own directory: bytes on disk


class Store:
    def __init__(self, as_user, appbox, top, tun):
        self.as_user, self.appbox, self.tun = as_user, appbox, tun
        u = user_info(as_user)
        for d in ("data", "run", "home", "tmp"):
            (top / d).mkdir(parents=True, exist_ok=True)
        subprocess.run(["chown", "-R", f"{u.uid}:{u.gid}", str(top)], check=True)
        os.chmod(top, 0o755)
        os.chmod(top / "run", 0o700)
        os.chmod(top / "tmp", 0o1777)
        self.top = top
        self.data, self.runtime, self.home = top / "data", top / "run", top / "home"

    @property
    def env(self):
        return {**store_env(self.data, self.runtime, self.home), "TMPDIR": str(self.top / "tmp")}

    def ab(self, *args, timeout=APT_TIMEOUT):
        return run([self.appbox, *args], as_user=self.as_user, extra_env=self.env, timeout=timeout,
                   tun=self.tun)

    def sh(self, name, script):
        return self.ab("run", name, "--", "sh", "-c", script)

    def names(self):
        return [c["name"] for c in json.loads(ok(self.ab("list", "--json")))]

    @property
    def bases(self):
        return self.data / ".images" / "bases"

    def base_ids(self):
        return sorted(p.name for p in self.bases.iterdir() if not p.name.startswith(".")) \
            if self.bases.is_dir() else []

    def base_of(self, name):
        return (self.data / name / "base").read_text().strip()

    def base_root(self, name):
        return self.bases / self.base_of(name) / "root"


def _remove(path):
    # files of subordinate ids (a user's store) are root's to remove here
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], capture_output=True)


@pytest.fixture(scope="module")
def _stores(appbox_bin, test_users, tun_node):
    top = Path(tempfile.mkdtemp(prefix="appbox-storage-"))
    os.chmod(top, 0o755)
    made = {}

    def get(as_user):
        if as_user not in made:
            s = Store(as_user, appbox_bin, top / as_user, tun_node)
            s.first = s.ab("create", "seed", "--base", BASE, "--no-launcher", timeout=BOOTSTRAP_TIMEOUT)
            made[as_user] = s
        s = made[as_user]
        if s.first.returncode != 0:
            pytest.fail(f"the first {BASE} create ({as_user}) failed: {s.first.stderr}", pytrace=False)
        return s

    yield get
    for s in made.values():
        for name in json.loads(s.ab("list", "--json").stdout or "[]"):
            s.ab("rm", "--force", name["name"])
    _remove(top)


@pytest.fixture
def store(run_as, _stores):
    s = _stores(run_as)
    before = set(s.names())
    yield s
    for name in set(s.names()) - before:
        s.ab("rm", "--force", name)


def _disk_bytes(path):
    """Bytes on disk below PATH (as du counts them: blocks, hard links once)."""
    seen, total = set(), 0
    for dirpath, dirs, files in os.walk(path):
        for n in [*dirs, *files, ""]:
            st = os.lstat(os.path.join(dirpath, n)) if n else os.lstat(dirpath)
            if n in dirs:
                continue  # counted as dirpath of its own walk
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


# --------------------------------------------------------------------------
# the layout


def test_new_container_shares_the_base_and_is_small(store):
    ok(store.ab("create", "small", "--base", BASE, "--no-launcher"))
    d = store.data / "small"
    assert sorted(p.name for p in d.iterdir()) == ["appbox.conf", "base", "layer"]
    assert not (d / "rootfs").exists()
    # the same base as the seed: unpacked once
    assert store.base_of("small") == store.base_of("seed")
    assert store.base_ids() == [store.base_of("seed")]
    assert (store.base_root("small") / "etc/debian_version").is_file()
    shown = ok(store.ab("show", "small"))
    assert f"base        {store.base_root('small')} (shared, read-only" in shown, shown
    size = _disk_bytes(d)
    print(f"a new container's own directory: {size} bytes on disk")
    assert size < SMALL, size
    # it is a Debian root all the same, with the user's home and entry
    u = user_info(store.as_user)
    out = ok(store.sh("small", 'cat /etc/debian_version; id -un; test -d "$HOME" && echo home'))
    assert out.split()[0].startswith("12") and u.name in out.split() and "home" in out.split(), out


def test_changes_stay_in_the_container(store):
    """Root of one container writes, replaces and deletes files of the base:
    another container of the same base, a container made afterwards, and
    the base itself are unchanged."""
    ok(store.ab("create", "w1", "--base", BASE, "--no-launcher"))
    ok(store.ab("create", "w2", "--base", BASE, "--no-launcher"))
    base = store.base_root("w1")
    before = {p: (base / p).read_bytes() for p in ("usr/bin/which", "etc/debian_version")}
    assert not (base / "usr/bin/x").exists()
    ok(store.ab("run", "w1", "++uid", "0", "--", "sh", "-c",
                "echo written > /usr/bin/x && chmod 755 /usr/bin/x && rm /usr/bin/which && "
                "echo changed > /etc/debian_version && mkdir -p /opt/new && rm -r /usr/share/doc"))
    out = ok(store.sh("w1", "cat /usr/bin/x /etc/debian_version; ls /usr/bin/which /usr/share/doc 2>&1 || true"))
    assert "written" in out and "changed" in out and "No such file" in out, out
    ok(store.ab("create", "w3", "--base", BASE, "--no-launcher"))
    for other in ("w2", "w3"):
        out = ok(store.sh(other, "ls /usr/bin/x 2>&1 || true; cat /etc/debian_version; "
                                 "ls /usr/bin/which; ls -d /usr/share/doc /opt/new 2>&1 || true"))
        assert "cannot access '/usr/bin/x'" in out, (other, out)
        assert out.splitlines()[1].startswith("12"), (other, out)
        assert "/usr/bin/which" in out and "cannot access '/opt/new'" in out, (other, out)
        assert "/usr/share/doc\n" in out, (other, out)
    # the base's files, on the host, are as they were
    assert not (base / "usr/bin/x").exists()
    assert (base / "usr/share/doc").is_dir() and not (base / "opt/new").exists()
    for p, data in before.items():
        assert (base / p).read_bytes() == data, p
    # the change is w1's: in its own layer
    upper = store.data / "w1" / "layer" / "upper"
    assert (upper / "usr/bin/x").read_text() == "written\n"
    wh = os.lstat(upper / "usr/bin/which")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0, "the delete is a whiteout in w1's layer"


def test_rm_leaves_nothing(store):
    ok(store.ab("create", "gone", "--base", BASE))
    ok(store.ab("run", "gone", "++uid", "0", "--", "sh", "-c",
                "rm /usr/bin/which; mkdir -p /srv/a/b; echo x > /srv/a/b/c; chmod 000 /srv/a"))
    bases = store.base_ids()
    ok(store.ab("rm", "gone"))
    assert not (store.data / "gone").exists()
    assert not (store.home / ".local/bin/gone").exists()
    assert "gone" not in store.names()
    # the base is the cache's: it stays for the next container
    assert store.base_ids() == bases


def test_old_layout_still_runs(store):
    """A container of the full-copy layout (NAME/rootfs, as every container
    was before shared bases) still starts: made here from a copy of the
    seed's merged root."""
    ok(store.ab("create", "old", "--base", BASE, "--no-launcher"))
    d = store.data / "old"
    rootfs = d / "rootfs"
    # the merged tree: the base, then the container's layer over it
    subprocess.run(["cp", "-a", f"{store.base_root('old')}/.", str(rootfs)], check=True)
    subprocess.run(["cp", "-a", f"{d / 'layer' / 'upper'}/.", str(rootfs)], check=True)
    _remove(d / "layer")
    (d / "base").unlink()
    out = ok(store.ab("run", "old", "++uid", "0", "--", "sh", "-c", "echo kept > /kept && cat /etc/debian_version"))
    assert out.startswith("12"), out
    assert (rootfs / "kept").read_text() == "kept\n"
    ok(store.ab("rm", "old"))
    assert not d.exists()


# --------------------------------------------------------------------------
# image rm and newer builds of the cache


def test_image_rm_keeps_a_base_in_use_and_a_newer_build_is_a_new_base(store, appbox_bin):
    """In a data directory of its own (the module's cache stays): `image rm`
    names the containers that still use the base and keeps it for them;
    they keep working.  A newer build of the tarball (what `image pull`
    after `image rm` makes; here a copy, which is a new file) is a new
    base: old containers keep the old one, which goes with the last of
    them."""
    u = user_info(store.as_user)
    own = Store(store.as_user, appbox_bin, store.top.parent / f"{store.as_user}-own", store.tun)
    try:
        images = own.data / ".images"
        images.mkdir(mode=0o700)
        tar = images / f"{IMAGE}.tar"
        shutil.copy2(store.data / ".images" / f"{IMAGE}.tar", tar)
        subprocess.run(["chown", "-R", f"{u.uid}:{u.gid}", str(images)], check=True)
        ok(own.ab("create", "k1", "--base", BASE, "--no-launcher"))
        ok(own.ab("create", "k2", "--base", BASE, "--no-launcher"))
        old = own.base_of("k1")
        assert own.base_of("k2") == old and own.base_ids() == [old]

        r = own.ab("image", "rm", IMAGE)
        out = ok(r)
        assert f"removed {IMAGE}" in out, out
        assert "k1" in out and "k2" in out and "kept" in out, out
        assert not tar.exists() and own.base_ids() == [old]
        assert ok(own.sh("k1", "cat /etc/debian_version")).startswith("12")

        # a newer build of the cache: a new file (its inode may be the old
        # one's again; its birth time is not)
        shutil.copy(store.data / ".images" / f"{IMAGE}.tar", tar)
        subprocess.run(["chown", f"{u.uid}:{u.gid}", str(tar)], check=True)
        ok(own.ab("create", "k3", "--base", BASE, "--no-launcher"))
        new = own.base_of("k3")
        assert new != old and own.base_ids() == sorted([old, new])
        assert ok(own.sh("k2", "cat /etc/debian_version")).startswith("12")

        ok(own.ab("rm", "k1"))
        assert own.base_ids() == sorted([old, new]), "k2 still uses the old base"
        ok(own.ab("rm", "k2"))
        assert own.base_ids() == [new], "the old base goes with its last container"
        ok(own.ab("rm", "k3"))
        assert own.base_ids() == [new], "the cache's own base stays"

        # image rm of a base no container uses removes it
        out = ok(own.ab("image", "rm", IMAGE))
        assert "kept" not in out, out
        assert own.base_ids() == []
        assert sorted(p.name for p in own.data.iterdir()) == [".images"]
    finally:
        for name in json.loads(own.ab("list", "--json").stdout or "[]"):
            own.ab("rm", "--force", name["name"])
        _remove(own.top)


# --------------------------------------------------------------------------
# apt in the container's layer


def test_packages_update_and_aptupdate_land_in_the_layer(store):
    ok(store.ab("create", "pk", "--base", BASE, "--packages", "figlet", "--no-launcher"))
    ok(store.ab("create", "nopk", "--base", BASE, "--no-launcher"))
    assert "_" in ok(store.ab("run", "pk", "--", "figlet", "hi"))
    upper = store.data / "pk" / "layer" / "upper"
    figlet = [p for p in ("usr/bin/figlet", "usr/bin/figlet-figlet") if os.path.lexists(upper / p)]
    assert figlet, "figlet is in pk's own layer"
    base = store.base_root("pk")
    assert not any(os.path.lexists(base / p) for p in ("usr/bin/figlet", "usr/bin/figlet-figlet"))
    out = ok(store.sh("nopk", "command -v figlet || echo none"))
    assert out.strip() == "none", out

    r = store.ab("update", "pk")
    assert "pk: updated" in ok(r), r.stdout
    r = store.ab("run", "pk", "++aptupdate")
    assert "pk: updated" in ok(r), r.stdout
    assert "_" in ok(store.ab("run", "pk", "--", "figlet", "hi"))
    assert not any(os.path.lexists(base / p) for p in ("usr/bin/figlet", "usr/bin/figlet-figlet"))
    # the base's apt state is the cache's: pk's lists are its own
    assert (upper / "var/lib/dpkg/status").is_file()


def test_cp_and_export_see_base_and_layer(store, world_tmp):
    """cp and export work on the container's root as it runs (the overlay):
    a copy into a stopped container lands in its layer, not in the base;
    an export holds the base's files and the container's own changes."""
    ok(store.ab("create", "cpx", "--base", BASE, "--no-launcher"))
    src = world_tmp / "in.txt"
    src.write_text("copied in\n")
    src.chmod(0o644)
    ok(store.ab("cp", str(src), "cpx:/etc/copied-in"))
    assert (store.data / "cpx/layer/upper/etc/copied-in").read_text() == "copied in\n"
    assert not (store.base_root("cpx") / "etc/copied-in").exists()
    out = world_tmp / "out"
    out.mkdir()
    os.chown(out, user_info(store.as_user).uid, user_info(store.as_user).gid)
    ok(store.ab("cp", "cpx:/etc/debian_version", str(out / "v")))
    assert (out / "v").read_text().startswith("12")
    tar = out / "cpx.tar"
    ok(store.ab("export", "cpx", str(tar)))
    names = subprocess.run(["tar", "-tf", str(tar)], capture_output=True, text=True, check=True).stdout.split()
    norm = {n.lstrip("./").rstrip("/") for n in names}
    assert "etc/copied-in" in norm and "etc/debian_version" in norm and "usr/bin/apt-get" in norm, \
        sorted(norm)[:20]
