"""Image imports (issue 4): `appbox create NAME --base tar:FILE`,
`--base oci:DIR[:TAG]` and `--base docker-archive:FILE`.

The images are built here with Python (tarfile, gzip, lzma, bz2, json,
hashlib; zstd through the `zstd` command) from a busybox root, so the
containers can run sh, cat and stat inside.  Every test runs as root and
as an unprivileged user, each with its own data, runtime and home
directories (APPBOX_DATA_DIR, APPBOX_RUNTIME_DIR, HOME).

Covered: plain/gzip/xz/bzip2/zstd root tarballs; a three-layer OCI layout
(whiteouts, an opaque directory, a symlink replaced by a file, parents
missing from a layer) and the same layers as a docker-archive; hardlinks,
relative and absolute symlinks, a user.* xattr, ownership (uid 0 and 1000)
and modes; two tags in one OCI index; hostile archives (`..`, absolute
paths, symlinks followed out of the root, hardlinks to outside, device
nodes, setuid files of unmapped owners, digests that are paths) and bad
input, which must leave nothing behind."""

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ok, run, run_isolated, store_env, user_info, wait_until

HAVE_ZSTD = shutil.which("zstd") is not None
OPQ = ".wh..wh..opq"
MTIME = 1234567890


# --------------------------------------------------------------------------
# the store: per-test data, runtime and home directories


@dataclass
class Store:
    as_user: str
    appbox: str
    base: Path
    data: Path
    runtime: Path
    home: Path

    @property
    def env(self):
        return store_env(self.data, self.runtime, self.home)

    def ab(self, *args, **kw):
        kw.setdefault("timeout", 120)
        return run([self.appbox, *args], as_user=self.as_user, extra_env=self.env, **kw)

    def names(self):
        return [c["name"] for c in json.loads(ok(self.ab("list", "--json")) or "[]")]

    def state(self, name):
        for c in json.loads(ok(self.ab("list", "--json")) or "[]"):
            if c["name"] == name:
                return c.get("state")
        return None

    def rootfs(self, name):
        return self.data / name / "rootfs"

    def inside(self, name, *cmd):
        """Run CMD in container NAME; its stdout."""
        return ok(self.ab("run", name, "++cmd", *cmd))

    def stat(self, name, path, fmt="%u %g %a"):
        return self.inside(name, "stat", "-c", fmt, path).strip()



@pytest.fixture
def store(run_as, appbox_bin, world_tmp):
    u = user_info(run_as)
    base = world_tmp / "store"
    base.mkdir()
    for d in ("data", "run", "home"):
        (base / d).mkdir()
    subprocess.run(["chown", "-R", f"{u.uid}:{u.gid}", str(base)], check=True)
    os.chmod(base / "run", 0o700)
    s = Store(run_as, appbox_bin, base, base / "data", base / "run", base / "home")
    yield s
    r = s.ab("list", "--json")
    try:
        listed = json.loads(r.stdout or "[]")
    except ValueError:
        listed = []
    for c in listed:
        s.ab("rm", "--force", c["name"])


def create(store, name, base, *args):
    r = store.ab("create", name, "--base", base, "--no-launcher", *args)
    ok(r)
    return r


# --------------------------------------------------------------------------
# building archives


class Layer:
    """A tar archive built entry by entry (PAX, so xattrs and long names
    fit)."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)
        self._data = None

    def _info(self, name, type_, mode, uid=0, gid=0, mtime=MTIME):
        ti = tarfile.TarInfo(name)
        ti.type = type_
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.uname = ti.gname = ""
        ti.mtime = mtime
        return ti

    def tree(self, root, prefix=""):
        """Every entry under ROOT, parents first, names relative (as in
        `docker export`), with PREFIX before each."""
        root = Path(root)
        for dirpath, dirs, files in os.walk(root):
            dirs.sort()
            rel = os.path.relpath(dirpath, root)
            if rel != ".":
                self.tar.add(dirpath, arcname=prefix + rel, recursive=False)
            for f in sorted(files) + sorted(d for d in dirs if os.path.islink(os.path.join(dirpath, d))):
                p = os.path.join(dirpath, f)
                self.tar.add(p, arcname=prefix + os.path.normpath(os.path.join(rel, f)), recursive=False)
        return self

    def dir(self, name, mode=0o755, uid=0, gid=0):
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid, gid))
        return self

    def file(self, name, data=b"", mode=0o644, uid=0, gid=0, mtime=MTIME, xattrs=None):
        if isinstance(data, str):
            data = data.encode()
        ti = self._info(name, tarfile.REGTYPE, mode, uid, gid, mtime)
        ti.size = len(data)
        if xattrs:
            ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
        self.tar.addfile(ti, io.BytesIO(data))
        return self

    def symlink(self, name, target):
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def hardlink(self, name, target):
        ti = self._info(name, tarfile.LNKTYPE, 0o644)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def device(self, name, kind, major, minor):
        ti = self._info(name, kind, 0o666)
        ti.devmajor, ti.devminor = major, minor
        self.tar.addfile(ti)
        return self

    def bytes(self):
        if self._data is None:
            self.tar.close()
            self._data = self.buf.getvalue()
        return self._data


def compress(data, kind):
    if kind == "plain":
        return data
    if kind == "gz":
        return gzip.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    if kind == "bz2":
        return bz2.compress(data)
    if kind == "zstd":
        if not HAVE_ZSTD:
            pytest.skip("the zstd command is not installed (needed to build a zstd archive)")
        return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout
    raise ValueError(kind)


LAYER_MEDIA = {
    "plain": "application/vnd.oci.image.layer.v1.tar",
    "gz": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def write_tar(path, layer, kind="plain"):
    Path(path).write_bytes(compress(layer.bytes(), kind))
    os.chmod(path, 0o644)
    return str(path)


def _blob(dest, data):
    d = Path(dest) / "blobs" / "sha256"
    d.mkdir(parents=True, exist_ok=True)
    h = sha256(data)
    (d / h).write_bytes(data)
    return {"digest": f"sha256:{h}", "size": len(data)}


def write_oci(dest, images):
    """An OCI image layout at DEST.  IMAGES: list of (tag or None,
    [(Layer, compression), ...]); the index lists them in that order."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    manifests = []
    for tag, layers in images:
        descs, diff_ids = [], []
        for layer, kind in layers:
            raw = layer.bytes()
            diff_ids.append(f"sha256:{sha256(raw)}")
            descs.append({"mediaType": LAYER_MEDIA[kind], **_blob(dest, compress(raw, kind))})
        config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                  "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        cdesc = {"mediaType": "application/vnd.oci.image.config.v1+json",
                 **_blob(dest, json.dumps(config).encode())}
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": cdesc, "layers": descs}
        m = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             **_blob(dest, json.dumps(manifest).encode())}
        if tag:
            m["annotations"] = {"org.opencontainers.image.ref.name": tag}
        manifests.append(m)
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    subprocess.run(["chmod", "-R", "a+rX", str(dest)], check=True)
    return str(dest)


def write_docker_archive(path, layers, tag="appbox-test:latest"):
    """`docker save` output (the classic layout): ID/layer.tar for each
    layer, the config, manifest.json and repositories."""
    out = Layer()
    diff_ids, names = [], []
    parent = ""
    for layer in layers:
        raw = layer.bytes()
        lid = sha256((parent + sha256(raw)).encode())
        out.dir(f"{lid}/")
        out.file(f"{lid}/VERSION", "1.0")
        out.file(f"{lid}/json", json.dumps({"id": lid, **({"parent": parent} if parent else {})}))
        out.file(f"{lid}/layer.tar", raw)
        names.append(f"{lid}/layer.tar")
        diff_ids.append(f"sha256:{sha256(raw)}")
        parent = lid
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cname = f"{sha256(config)}.json"
    out.file(cname, config)
    out.file("manifest.json", json.dumps([{"Config": cname, "RepoTags": [tag], "Layers": names}]))
    repo, _, t = tag.partition(":")
    out.file("repositories", json.dumps({repo: {t: parent}}))
    return write_tar(path, out)


# --------------------------------------------------------------------------
# the images every import test shares (built once)


@dataclass
class Images:
    dir: Path
    victim: Path       # a host file an absolute symlink in the image names
    base_raw: Layer    # busybox + /data (the single-layer root)
    layers: list       # the three layers of the layered image


def base_layer(busybox_root):
    """The busybox root plus /data: ownership, modes, links, an xattr."""
    l = Layer().tree(busybox_root)
    l.dir("data", 0o755)
    l.file("data/hello.txt", "hello\n")
    l.file("data/owned1000", "mine\n", mode=0o640, uid=1000, gid=1000)
    l.dir("data/dir1000", 0o750, uid=1000, gid=1000)
    l.file("data/root0", "root's\n", mode=0o600, uid=0, gid=0)
    l.file("data/hard1", "linked\n", mode=0o644, uid=1000, gid=1000)
    l.hardlink("data/hard2", "data/hard1")
    l.symlink("data/rel-link", "hello.txt")
    l.symlink("data/abs-link", "/data/hello.txt")
    l.symlink("data/dangling", "/nonexistent/target")
    l.file("data/xattr", "x\n", xattrs={"user.appbox": "hello-xattr"})
    l.file("data/suid-root", "#!/bin/sh\n", mode=0o4755, uid=0, gid=0)
    l.file("data/exec", "#!/bin/sh\necho ran-from-image\n", mode=0o755)
    return l


def layered(busybox_root, victim):
    l1 = base_layer(busybox_root)
    l1.file("data/keep", "v1\n")
    l1.file("data/gone", "bye\n")
    l1.dir("data/gonedir")
    l1.file("data/gonedir/inner", "inner\n")
    l1.dir("opq", 0o755)
    l1.file("opq/a", "old-a\n")
    l1.file("opq/b", "old-b\n")
    l1.dir("opq/sub")
    l1.file("opq/sub/c", "old-c\n")
    # an absolute symlink to a host path: harmless as long as it is not
    # followed; layer 3 replaces it with a regular file
    l1.symlink("data/was-link", str(victim))
    l2 = Layer()
    l2.file("data/.wh.gone")
    l2.file("data/.wh.gonedir")
    l2.file("data/keep", "v2\n")
    l2.file("newdir/sub/file", "deep\n")  # parents not in the layer
    l3 = Layer()
    l3.dir("opq", 0o755)
    l3.file(f"opq/{OPQ}")
    l3.file("opq/a", "new-a\n")
    l3.file("data/was-link", "now a file\n")
    return [l1, l2, l3]


@pytest.fixture(scope="module")
def images(busybox_root):
    d = Path(tempfile.mkdtemp(prefix="appbox-images-"))
    os.chmod(d, 0o755)
    victim = d / "victim"
    victim.write_text("victim\n")
    os.chmod(victim, 0o666)
    yield Images(d, victim, base_layer(busybox_root), layered(busybox_root, victim))
    shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# checks


def whiteouts_in(root):
    found = []
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            if n.startswith(".wh."):
                found.append(os.path.join(dirpath, n))
    return found


def check_base_content(store, name):
    """What base_layer() put in, seen from inside and from the host."""
    rootfs = store.rootfs(name)
    # busybox runs inside: the image is the container's root
    assert store.inside(name, "cat", "/data/hello.txt") == "hello\n"
    assert store.inside(name, "/data/exec") == "ran-from-image\n"
    assert store.inside(name, "sh", "-c", "cat /etc/os-release").startswith("NAME=mkroot")
    # ownership lands inside the container's id map; modes are kept
    assert store.stat(name, "/data/owned1000") == "1000 1000 640"
    assert store.stat(name, "/data/dir1000") == "1000 1000 750"
    assert store.stat(name, "/data/root0") == "0 0 600"
    assert store.stat(name, "/data/hello.txt") == "0 0 644"
    assert store.stat(name, "/bin/busybox", "%u %g") == "0 0"
    # a setuid file owned by the container's root keeps its bit
    assert store.stat(name, "/data/suid-root") == "0 0 4755"
    # mtimes are kept
    assert store.stat(name, "/data/hello.txt", "%Y") == str(MTIME)
    # hardlinks stay one inode
    h1 = store.stat(name, "/data/hard1", "%i %h %u")
    h2 = store.stat(name, "/data/hard2", "%i %h %u")
    assert h1 == h2 and h1.split()[1:] == ["2", "1000"], (h1, h2)
    # symlinks: relative and absolute, resolved inside the container
    assert store.inside(name, "readlink", "/data/rel-link").strip() == "hello.txt"
    assert store.inside(name, "readlink", "/data/abs-link").strip() == "/data/hello.txt"
    assert store.inside(name, "readlink", "/data/dangling").strip() == "/nonexistent/target"
    assert store.inside(name, "cat", "/data/rel-link", "/data/abs-link") == "hello\nhello\n"
    # host side
    assert os.readlink(rootfs / "data/abs-link") == "/data/hello.txt"
    assert os.stat(rootfs / "data/hard1").st_ino == os.stat(rootfs / "data/hard2").st_ino
    assert os.readlink(rootfs / "bin/sh") == "busybox"


def check_xattr(store, name):
    p = store.rootfs(name) / "data/xattr"
    try:
        v = os.getxattr(p, "user.appbox", follow_symlinks=False)
    except OSError as e:
        if e.errno in (95,):  # EOPNOTSUPP: the data dir's file system has no user xattrs
            pytest.skip(f"user xattrs not supported under {store.data}")
        raise
    assert v == b"hello-xattr"


def check_layered(store, name, victim):
    rootfs = store.rootfs(name)
    check_base_content(store, name)
    # layer 2: whiteouts delete a file and a directory; later layers win
    assert store.inside(name, "cat", "/data/keep") == "v2\n"
    assert store.inside(name, "sh", "-c", "ls -A /data/gone /data/gonedir 2>&1; true").count("No such file") == 2
    assert not (rootfs / "data/gone").exists() and not (rootfs / "data/gonedir").exists()
    assert store.inside(name, "cat", "/newdir/sub/file") == "deep\n"
    # layer 3: opaque directory keeps only its own entries
    assert sorted(os.listdir(rootfs / "opq")) == ["a"]
    assert store.inside(name, "ls", "-A", "/opq").split() == ["a"]
    assert store.inside(name, "cat", "/opq/a") == "new-a\n"
    # a symlink replaced by a file: replaced, not written through
    assert store.stat(name, "/data/was-link", "%F") == "regular file"
    assert store.inside(name, "cat", "/data/was-link") == "now a file\n"
    assert victim.read_text() == "victim\n"
    # no whiteout file survives
    assert whiteouts_in(rootfs) == []


def assert_refused(store, name, r, *mentions):
    """R (a create) failed with one clear message naming MENTIONS (any of
    them), and left no container behind."""
    assert r.returncode != 0, f"create {name} succeeded\nstdout: {r.stdout}\nstderr: {r.stderr}"
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert 1 <= len(lines) <= 2, f"expected one clear message, got:\n{r.stderr}"
    assert "Traceback" not in r.stderr and "Segmentation" not in r.stderr
    if mentions:
        assert any(m in r.stderr for m in mentions), f"stderr names none of {mentions}:\n{r.stderr}"
    assert_nothing_left(store, name)


def assert_nothing_left(store, name):
    assert not (store.data / name).exists(), \
        f"partial container left: {sorted(os.listdir(store.data / name))}"
    assert name not in store.names()
    assert not (store.home / ".local/bin" / name).exists()
    assert not (store.runtime / name).exists()
    leftovers = [n for n in os.listdir(store.data) if name in n]
    assert not leftovers, f"left in the data dir: {leftovers}"


# --------------------------------------------------------------------------
# root file system tarballs


@pytest.mark.parametrize("kind", ["plain", "gz", "xz", "bz2", "zstd"])
def test_tar_import(store, images, kind):
    ext = {"plain": "tar", "gz": "tar.gz", "xz": "tar.xz", "bz2": "tar.bz2", "zstd": "tar.zst"}[kind]
    path = images.dir / f"root.{ext}"
    if not path.exists():
        write_tar(path, images.base_raw, kind)
    r = create(store, "t1", f"tar:{path}")
    assert "t1" in r.stdout
    check_base_content(store, "t1")
    assert "t1" in store.names()
    # the container's user has a home in the imported root
    home = user_info(store.as_user).home
    assert store.inside("t1", "sh", "-c", f"test -d {home} && echo yes").strip() == "yes"
    # rm removes it all (with files owned by 1000 inside), once the last
    # run's session has ended and the container stopped (asynchronously)
    assert wait_until(lambda: store.state("t1") == "stopped", timeout=10)
    ok(store.ab("rm", "t1"))
    assert not (store.data / "t1").exists()


def test_tar_import_xattr(store, images):
    path = images.dir / "root-x.tar"
    if not path.exists():
        write_tar(path, images.base_raw)
    create(store, "x1", f"tar:{path}")
    check_xattr(store, "x1")


def test_tar_with_dot_slash_names_and_relative_base_path(store, busybox_root, world_tmp):
    """`tar -C root -c .` output: ./-prefixed names and a ./ entry; the
    FILE given relative to the working directory."""
    l = Layer().dir("./").tree(busybox_root, prefix="./")
    l.dir("./data").file("./data/hello.txt", "hello\n").file("./data/u", "u\n", uid=1000, gid=1000)
    write_tar(world_tmp / "dot.tar", l)
    r = run([store.appbox, "create", "d1", "--base", "tar:dot.tar", "--no-launcher"],
            as_user=store.as_user, extra_env=store.env, cwd=str(world_tmp))
    ok(r)
    assert store.inside("d1", "cat", "/data/hello.txt") == "hello\n"
    assert store.stat("d1", "/data/u", "%u %g") == "1000 1000"
    assert store.stat("d1", "/", "%u %g %a") == "0 0 755"


def test_tar_import_is_private_to_the_container(store, images):
    """Two containers from the same tarball do not share files."""
    path = images.dir / "root-p.tar.gz"
    if not path.exists():
        write_tar(path, images.base_raw, "gz")
    create(store, "p1", f"tar:{path}")
    create(store, "p2", f"tar:{path}")
    note = user_info(store.as_user).home + "/note"  # the user's home in the image
    ok(store.ab("run", "p1", "++cmd", "sh", "-c", f"echo changed > {note}"))
    assert store.inside("p1", "cat", note) == "changed\n"
    assert store.ab("run", "p2", "++cmd", "cat", note).returncode != 0
    assert os.stat(store.rootfs("p1") / "data/hello.txt").st_ino != os.stat(store.rootfs("p2") / "data/hello.txt").st_ino


# --------------------------------------------------------------------------
# OCI layouts and docker archives


@pytest.fixture(scope="module")
def oci_layered(images):
    kinds = ["gz", "plain", "zstd" if HAVE_ZSTD else "gz"]
    return write_oci(images.dir / "oci-layered", [("latest", list(zip(images.layers, kinds)))])


def test_oci_layers_whiteouts_opaque(store, images, oci_layered):
    create(store, "o1", f"oci:{oci_layered}")
    check_layered(store, "o1", images.victim)
    check_xattr(store, "o1")


def test_oci_with_tag(store, images, oci_layered):
    create(store, "o2", f"oci:{oci_layered}:latest")
    check_layered(store, "o2", images.victim)


def test_docker_archive_layers_whiteouts_opaque(store, images):
    path = images.dir / "docker.tar"
    if not path.exists():
        write_docker_archive(path, images.layers)
    create(store, "k1", f"docker-archive:{path}")
    check_layered(store, "k1", images.victim)
    check_xattr(store, "k1")


def test_docker_archive_with_a_tag(store, images):
    """A docker tag has a ':' of its own: docker-archive:FILE:REPO:TAG."""
    path = images.dir / "docker.tar"
    if not path.exists():
        write_docker_archive(path, images.layers)
    create(store, "k2", f"docker-archive:{path}:appbox-test:latest")
    check_layered(store, "k2", images.victim)
    assert (store.data / "k2/appbox.conf").read_text().count(f"Base=docker-archive:{path}:appbox-test:latest") == 1
    r = store.ab("create", "k3", "--base", f"docker-archive:{path}:appbox-test:nope")
    assert r.returncode != 0 and "appbox-test:nope" in r.stderr, r.stderr
    assert "k3" not in store.names()


def test_oci_two_tags(store, images, busybox_root):
    d = images.dir / "oci-tags"
    if not d.exists():
        base = base_layer(busybox_root)
        v1 = Layer().file("etc/tag", "one\n").file("only-in-v1", "1\n")
        v2 = Layer().file("etc/tag", "two\n").file("only-in-v2", "2\n")
        write_oci(d, [("v1", [(base, "gz"), (v1, "gz")]), ("v2", [(base, "gz"), (v2, "plain")])])
    create(store, "g1", f"oci:{d}:v1")
    create(store, "g2", f"oci:{d}:v2")
    create(store, "g3", f"oci:{d}")  # no TAG: the first manifest
    assert store.inside("g1", "cat", "/etc/tag") == "one\n"
    assert store.inside("g2", "cat", "/etc/tag") == "two\n"
    assert store.inside("g3", "cat", "/etc/tag") == "one\n"
    assert (store.rootfs("g1") / "only-in-v1").exists() and not (store.rootfs("g1") / "only-in-v2").exists()
    assert (store.rootfs("g2") / "only-in-v2").exists() and not (store.rootfs("g2") / "only-in-v1").exists()
    r = store.ab("create", "g4", "--base", f"oci:{d}:v3", "--no-launcher")
    assert_refused(store, "g4", r, "v3")


def test_opaque_marker_after_its_siblings(store, images, busybox_root):
    """A whiteout applies only to lower layers: an opaque marker that
    comes after entries of its own layer does not delete them."""
    d = images.dir / "oci-opq-late"
    if not d.exists():
        l1 = base_layer(busybox_root).dir("opq").file("opq/old", "old\n")
        l2 = Layer().dir("opq").file("opq/new", "new\n").file(f"opq/{OPQ}")
        l2b = Layer().file("data/zz", "z\n").file("data/.wh.zz")  # same-layer file and whiteout
        write_oci(d, [(None, [(l1, "gz"), (l2, "gz"), (l2b, "gz")])])
    create(store, "q1", f"oci:{d}")
    assert sorted(os.listdir(store.rootfs("q1") / "opq")) == ["new"]
    assert store.inside("q1", "cat", "/opq/new") == "new\n"
    assert (store.rootfs("q1") / "data/zz").exists()
    assert whiteouts_in(store.rootfs("q1")) == []


REPLACE = {
    # name: (the upper layer, a check script, its output)
    "dir-by-file": (lambda: Layer().file("r/was-dir", "now a file\n"), "cat /r/was-dir", "now a file\n"),
    "empty-dir-by-file": (lambda: Layer().file("r/empty-dir", "now a file\n"), "cat /r/empty-dir", "now a file\n"),
    "dir-by-symlink": (lambda: Layer().symlink("r/was-dir", "/data"), "readlink /r/was-dir", "/data\n"),
    "file-by-dir": (lambda: Layer().dir("r/was-file").file("r/was-file/g", "g\n"), "cat /r/was-file/g", "g\n"),
    "symlink-by-dir": (lambda: Layer().dir("r/was-link").file("r/was-link/g", "g\n"),
                       "cat /r/was-link/g; ls /data", "g\n" + "\n".join(sorted(
                           ["abs-link", "dangling", "dir1000", "exec", "hard1", "hard2", "hello.txt", "owned1000",
                            "rel-link", "root0", "suid-root", "xattr"])) + "\n"),
}


@pytest.mark.parametrize("case", list(REPLACE))
def test_layer_replaces_entry_of_another_type(store, images, busybox_root, case):
    """A later layer puts a file, link or directory where a lower layer
    had an entry of another type: the lower entry (a directory with all
    it holds) goes, as docker and containerd apply layers."""
    upper, script, want = REPLACE[case]
    d = images.dir / f"oci-replace-{case}"
    if not d.exists():
        l1 = base_layer(busybox_root).dir("r").dir("r/was-dir").file("r/was-dir/f", "f\n")
        l1.file("r/was-file", "x\n").dir("r/empty-dir").symlink("r/was-link", "/data")
        write_oci(d, [(None, [(l1, "gz"), (upper(), "gz")])])
    create(store, "r1", f"oci:{d}")
    assert store.inside("r1", "sh", "-c", script) == want


# --------------------------------------------------------------------------
# hostile images: refused, nothing written outside, nothing left


@pytest.fixture
def marker(world_tmp):
    """A host directory (writable by everyone, so that a rootless escape
    could write there) that must stay as it is, with a file inside."""
    m = world_tmp / "marker"
    m.mkdir()
    os.chmod(m, 0o777)
    t = m / "target"
    t.write_text("original\n")
    os.chmod(t, 0o666)
    return m


def marker_intact(m):
    assert sorted(os.listdir(m)) == ["target"], f"written outside the container: {sorted(os.listdir(m))}"
    t = m / "target"
    st = os.lstat(t)
    assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_uid == 0
    assert stat.S_IMODE(st.st_mode) == 0o666
    assert t.read_text() == "original\n"


UP = "../" * 40


def hostile_cases(m, tmpname):
    """name -> (Layer, words one of which the error must show).  Each
    starts with harmless entries so that extraction is under way."""
    rel = str(m).lstrip("/")
    cases = {}

    def start():
        return Layer().dir("etc").file("etc/ok", "ok\n")

    cases["dotdot"] = (start().file(UP + rel + "/dotdot", "x"), ["dotdot", ".."])
    cases["dotdot-tmp"] = (start().file(UP + "tmp/" + tmpname, "x"), [tmpname, ".."])
    cases["dotdot-mid"] = (start().file("etc/../../" + UP + rel + "/mid", "x"), ["mid", ".."])
    cases["dotdot-dir"] = (start().dir(UP + rel + "/newdir"), ["newdir", ".."])
    cases["dotdot-symlink"] = (start().symlink(UP + rel + "/sl", "/etc/passwd"), ["sl", ".."])
    cases["absolute"] = (start().file(str(m / "abs"), "x"), [str(m / "abs"), "abs"])
    cases["absolute-tmp"] = (start().file("/tmp/" + tmpname, "x"), [tmpname])
    cases["symlink-abs-through"] = (start().symlink("evil", str(m)).file("evil/through", "x"),
                                    ["evil/through", "evil"])
    cases["symlink-rel-through"] = (start().symlink("etc/evil", UP + rel).file("etc/evil/through", "x"),
                                    ["etc/evil/through", "evil"])
    cases["symlink-through-dir"] = (start().symlink("evil", str(m)).dir("evil/sub"), ["evil/sub", "evil"])
    cases["symlink-chain"] = (start().symlink("a", "b").symlink("b", str(m)).file("a/through", "x"),
                              ["a/through", "through"])
    cases["symlink-then-hardlink"] = (start().symlink("evil", str(m)).hardlink("hl", "evil/target"),
                                      ["evil/target", "hl"])
    cases["hardlink-abs"] = (start().hardlink("hl", str(m / "target")).file("hl", "overwritten\n"),
                             [str(m / "target"), "hl"])
    cases["hardlink-dotdot"] = (start().hardlink("hl", UP + rel + "/target"), ["target", "hl", ".."])
    cases["hardlink-name-through-symlink"] = (start().symlink("evil", str(m)).hardlink("evil/hl", "etc/ok"),
                                              ["evil/hl", "evil"])
    cases["symlink-name-through-symlink"] = (start().symlink("evil", str(m)).symlink("evil/sl", "/etc/ok"),
                                             ["evil/sl", "evil"])
    return cases


HOSTILE = ["dotdot", "dotdot-tmp", "dotdot-mid", "dotdot-dir", "dotdot-symlink", "absolute", "absolute-tmp",
           "symlink-abs-through", "symlink-rel-through", "symlink-through-dir", "symlink-chain",
           "symlink-then-hardlink", "hardlink-abs", "hardlink-dotdot", "hardlink-name-through-symlink",
           "symlink-name-through-symlink"]


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_tar(store, world_tmp, marker, case):
    tmpname = f"appbox-evil-{uuid.uuid4().hex[:12]}"
    layer, words = hostile_cases(marker, tmpname)[case]
    path = write_tar(world_tmp / "evil.tar", layer)
    try:
        r = store.ab("create", "h1", "--base", f"tar:{path}")
        assert not os.path.lexists(f"/tmp/{tmpname}"), f"/tmp/{tmpname} was written"
        marker_intact(marker)
        assert_refused(store, "h1", r, *words)
    finally:
        if os.path.lexists(f"/tmp/{tmpname}"):
            os.unlink(f"/tmp/{tmpname}")
    assert os.path.exists("/etc/passwd") and not os.path.islink("/etc/passwd")


@pytest.mark.parametrize("kind", ["file", "hardlink", "dir"])
def test_entry_over_a_symlink_of_the_same_archive(store, world_tmp, marker, busybox_root, kind):
    """The same name twice: first a symlink to a host file, then a file (a
    hard link, a directory).  The second replaces the link; nothing is
    written through it."""
    l = Layer().tree(busybox_root).file("etc/ok", "ok\n").symlink("x", str(marker / "target"))
    if kind == "file":
        l.file("x", "overwritten\n")
    elif kind == "hardlink":
        l.hardlink("x", "etc/ok")
    else:
        l.dir("x").file("x/inside", "in\n")
    path = write_tar(world_tmp / "twice.tar", l)
    ok(store.ab("create", "tw", "--base", f"tar:{path}", "--no-launcher"))
    marker_intact(marker)
    x = store.rootfs("tw") / "x"
    assert not x.is_symlink()
    if kind == "dir":
        assert (x / "inside").read_text() == "in\n"
    else:
        assert x.read_text() == ("overwritten\n" if kind == "file" else "ok\n")


@pytest.mark.parametrize("case", ["dotdot", "absolute-tmp", "symlink-abs-through", "hardlink-abs"])
@pytest.mark.parametrize("fmt", ["oci", "docker-archive"])
def test_hostile_layer(store, world_tmp, marker, busybox_root, fmt, case):
    """The hostile entry in the second layer of a layered image."""
    tmpname = f"appbox-evil-{uuid.uuid4().hex[:12]}"
    evil, words = hostile_cases(marker, tmpname)[case]
    good = Layer().tree(busybox_root)
    if fmt == "oci":
        base = write_oci(world_tmp / "evil-oci", [(None, [(good, "gz"), (evil, "gz")])])
        base = f"oci:{base}"
    else:
        base = f"docker-archive:{write_docker_archive(world_tmp / 'evil-docker.tar', [good, evil])}"
    try:
        r = store.ab("create", "h2", "--base", base)
        assert not os.path.lexists(f"/tmp/{tmpname}"), f"/tmp/{tmpname} was written"
        marker_intact(marker)
        assert_refused(store, "h2", r, *words)
    finally:
        if os.path.lexists(f"/tmp/{tmpname}"):
            os.unlink(f"/tmp/{tmpname}")


@pytest.mark.parametrize("fmt", ["oci", "docker-archive"])
def test_hostile_symlink_across_layers(store, world_tmp, marker, busybox_root, fmt):
    """Layer 1 makes a symlink to a host directory; layer 2 writes a file
    through it (and replaces a directory of layer 1 with such a link and
    writes below it)."""
    l1 = Layer().tree(busybox_root).symlink("evil", str(marker)).dir("var/lib")
    l2 = Layer().file("evil/through", "x").file("evil/target", "overwritten\n")
    if fmt == "oci":
        base = f"oci:{write_oci(world_tmp / 'evil-oci', [(None, [(l1, 'gz'), (l2, 'plain')])])}"
    else:
        base = f"docker-archive:{write_docker_archive(world_tmp / 'evil-docker.tar', [l1, l2])}"
    r = store.ab("create", "h3", "--base", base)
    marker_intact(marker)
    assert_refused(store, "h3", r, "evil")
    # replacing a lower directory by a link, then writing below it
    l2 = Layer().file("var/.wh.lib").symlink("var/lib", str(marker)).file("var/lib/through", "x")
    if fmt == "oci":
        base = f"oci:{write_oci(world_tmp / 'evil-oci2', [(None, [(l1, 'gz'), (l2, 'gz')])])}"
    else:
        base = f"docker-archive:{write_docker_archive(world_tmp / 'evil-docker2.tar', [l1, l2])}"
    r = store.ab("create", "h4", "--base", base)
    marker_intact(marker)
    assert_refused(store, "h4", r, "var/lib")


def test_hostile_whiteout_outside(store, world_tmp, marker, busybox_root):
    """A whiteout whose name climbs out (or runs through a symlink) must
    not delete host files."""
    rel = str(marker).lstrip("/")
    l1 = Layer().tree(busybox_root).symlink("evil", str(marker))
    for i, l2 in enumerate([Layer().file(UP + rel + "/.wh.target"),
                            Layer().file("evil/.wh.target"),
                            Layer().file(f"evil/{OPQ}")]):
        base = f"oci:{write_oci(world_tmp / f'wh-oci{i}', [(None, [(l1, 'gz'), (l2, 'gz')])])}"
        r = store.ab("create", f"w{i}", "--base", base, "--no-launcher")
        marker_intact(marker)
        assert r.returncode != 0, f"case {i}: whiteout through a link or .. accepted\n{r.stderr}"
        assert_nothing_left(store, f"w{i}")


@pytest.mark.parametrize("where", ["manifest", "layer", "config"])
def test_hostile_oci_digest(store, world_tmp, marker, busybox_root, where):
    """Digests are not paths: `sha256:../../..` must not be opened."""
    d = Path(write_oci(world_tmp / "oci-digest", [(None, [(Layer().tree(busybox_root), "gz")])]))
    # a file the traversal would reach: outside the layout
    (world_tmp / "outside").write_bytes(Layer().file("escaped", "x").bytes())
    os.chmod(world_tmp / "outside", 0o644)
    bad = "sha256:../../../outside"
    index = json.loads((d / "index.json").read_text())
    if where == "manifest":
        index["manifests"][0]["digest"] = bad
    else:
        mpath = d / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]
        manifest = json.loads(mpath.read_text())
        if where == "layer":
            manifest["layers"][0]["digest"] = bad
        else:
            manifest["config"]["digest"] = bad
        data = json.dumps(manifest).encode()
        (d / "blobs/sha256" / sha256(data)).write_bytes(data)
        os.chmod(d / "blobs/sha256" / sha256(data), 0o644)
        index["manifests"][0]["digest"] = f"sha256:{sha256(data)}"
        index["manifests"][0]["size"] = len(data)
    (d / "index.json").write_text(json.dumps(index))
    r = store.ab("create", "dg", "--base", f"oci:{d}")
    if where == "config" and r.returncode == 0:
        # the config is not needed to lay the root down: never opening it
        # is as good as refusing it; what was outside stays outside
        assert not (store.rootfs("dg") / "escaped").exists()
        return
    assert_refused(store, "dg", r, "digest", "sha256", "../")


def test_hostile_docker_archive_layer_path(store, world_tmp, busybox_root):
    """manifest.json names a layer outside the archive."""
    (world_tmp / "outside.tar").write_bytes(Layer().tree(busybox_root).bytes())
    os.chmod(world_tmp / "outside.tar", 0o644)
    good = Layer().file("etc/ok", "ok\n")
    out = Layer()
    out.file("l/layer.tar", good.bytes())
    out.file("manifest.json", json.dumps([{"Config": "c.json", "RepoTags": ["x:y"],
                                           "Layers": ["l/layer.tar", "../outside.tar"]}]))
    out.file("c.json", "{}")
    path = write_tar(world_tmp / "evil-path.tar", out)
    r = store.ab("create", "dp", "--base", f"docker-archive:{path}")
    assert_refused(store, "dp", r, "outside.tar", "../")
    (world_tmp / "abs.tar").write_bytes(b"")
    out = Layer()
    out.file("manifest.json", json.dumps([{"Config": "c.json", "Layers": [str(world_tmp / "outside.tar")]}]))
    out.file("c.json", "{}")
    path = write_tar(world_tmp / "evil-abs.tar", out)
    r = store.ab("create", "dq", "--base", f"docker-archive:{path}")
    assert_refused(store, "dq", r, "outside.tar")


def test_device_nodes_are_skipped(store, world_tmp, busybox_root):
    l = Layer().tree(busybox_root)
    l.device("dev/evil-mem", tarfile.CHRTYPE, 1, 1)
    l.device("dev/evil-null", tarfile.CHRTYPE, 1, 3)
    l.device("dev/evil-disk", tarfile.BLKTYPE, 8, 0)
    l.device("data-node", tarfile.CHRTYPE, 1, 2)
    l.file("etc/after-nodes", "still here\n")
    path = write_tar(world_tmp / "dev.tar", l)
    create(store, "n1", f"tar:{path}")
    rootfs = store.rootfs("n1")
    for n in ("dev/evil-mem", "dev/evil-null", "dev/evil-disk", "data-node"):
        assert not os.path.lexists(rootfs / n), f"{n} was created"
    # entries after the nodes are still extracted
    assert store.inside("n1", "cat", "/etc/after-nodes") == "still here\n"
    # nothing of the kind anywhere in the root
    for dirpath, dirs, files in os.walk(rootfs):
        for f in files:
            m = os.lstat(os.path.join(dirpath, f)).st_mode
            assert not (stat.S_ISCHR(m) or stat.S_ISBLK(m)), os.path.join(dirpath, f)


def test_setuid_of_unmapped_owner_is_dropped(store, world_tmp, busybox_root):
    l = Layer().tree(busybox_root).dir("data")
    l.file("data/suid-far", "#!/bin/sh\n", mode=0o4755, uid=70000, gid=0)
    l.file("data/suid-max", "#!/bin/sh\n", mode=0o4755, uid=4294967294, gid=0)
    l.file("data/sgid-far", "#!/bin/sh\n", mode=0o2755, uid=0, gid=70000)
    l.file("data/suid-1000", "#!/bin/sh\n", mode=0o4755, uid=1000, gid=1000)
    path = write_tar(world_tmp / "suid.tar", l)
    r = store.ab("create", "s1", "--base", f"tar:{path}", "--no-launcher")
    if r.returncode != 0:
        # refusing the image outright is acceptable; leaving debris is not
        assert_refused(store, "s1", r, "suid-far", "suid-max", "sgid-far", "70000")
        return
    rootfs = store.rootfs("s1")
    for n in ("suid-far", "suid-max"):
        m = os.lstat(rootfs / "data" / n).st_mode
        assert not m & stat.S_ISUID, f"{n} kept its setuid bit on the host ({oct(m)})"
        mode = int(store.stat("s1", f"/data/{n}", "%a"), 8)
        assert not mode & 0o4000, f"{n} is setuid inside ({oct(mode)})"
    m = os.lstat(rootfs / "data/sgid-far").st_mode
    assert not m & stat.S_ISGID, f"sgid-far kept its setgid bit ({oct(m)})"
    # inside the map, the bit stays
    assert store.stat("s1", "/data/suid-1000") == "1000 1000 4755"


# --------------------------------------------------------------------------
# bad input


def bad_inputs(store, world_tmp, busybox_root):
    """name -> (--base value, words one of which the error must show)."""
    cases = {}
    cases["unknown-kind"] = ("ftp:x", ["ftp"])
    cases["missing-file"] = (f"tar:{world_tmp}/nope.tar", ["nope.tar"])
    cases["empty-path"] = ("tar:", ["tar"])
    (world_tmp / "random.tar").write_bytes(os.urandom(64 * 1024))
    cases["corrupt"] = (f"tar:{world_tmp}/random.tar", ["random.tar"])
    (world_tmp / "random.tar.gz").write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(64 * 1024))
    cases["corrupt-gz"] = (f"tar:{world_tmp}/random.tar.gz", ["random.tar.gz"])
    full = compress(Layer().tree(busybox_root).bytes(), "gz")
    (world_tmp / "truncated.tar.gz").write_bytes(full[: len(full) // 2])
    cases["truncated"] = (f"tar:{world_tmp}/truncated.tar.gz", ["truncated.tar.gz"])
    cases["directory-as-tar"] = (f"tar:{world_tmp}", [str(world_tmp)])
    (world_tmp / "no-index").mkdir()
    (world_tmp / "no-index" / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    cases["oci-no-index"] = (f"oci:{world_tmp}/no-index", ["index.json"])
    cases["oci-missing-dir"] = (f"oci:{world_tmp}/no-such-dir", ["no-such-dir"])
    cases["oci-file-not-dir"] = (f"oci:{world_tmp}/random.tar", ["random.tar"])
    d = write_oci(world_tmp / "oci-ok", [("v1", [(Layer().file("etc/ok", "ok\n"), "gz")])])
    cases["oci-no-tag"] = (f"oci:{d}:nope", ["nope"])
    (world_tmp / "oci-bad-index").mkdir()
    (world_tmp / "oci-bad-index" / "index.json").write_text("{not json")
    cases["oci-bad-index"] = (f"oci:{world_tmp}/oci-bad-index", ["index.json"])
    d2 = Path(write_oci(world_tmp / "oci-missing-blob", [(None, [(Layer().file("etc/ok", "ok\n"), "gz")])]))
    idx = json.loads((d2 / "index.json").read_text())
    mf = json.loads((d2 / "blobs/sha256" / idx["manifests"][0]["digest"][7:]).read_text())
    (d2 / "blobs/sha256" / mf["layers"][0]["digest"][7:]).unlink()
    cases["oci-missing-blob"] = (f"oci:{d2}", [mf["layers"][0]["digest"][7:19], "blob"])
    plain = write_tar(world_tmp / "plain.tar", Layer().file("etc/ok", "ok\n"))
    cases["docker-no-manifest"] = (f"docker-archive:{plain}", ["manifest.json"])
    cases["docker-missing"] = (f"docker-archive:{world_tmp}/nope-docker.tar", ["nope-docker.tar"])
    out = Layer().file("manifest.json", json.dumps([{"Config": "c.json", "Layers": ["gone/layer.tar"]}]))
    out.file("c.json", "{}")
    cases["docker-missing-layer"] = (f"docker-archive:{write_tar(world_tmp / 'd-ml.tar', out)}",
                                     ["gone/layer.tar", "layer"])
    return cases


BAD = ["unknown-kind", "missing-file", "empty-path", "corrupt", "corrupt-gz", "truncated", "directory-as-tar",
       "oci-no-index", "oci-missing-dir", "oci-file-not-dir", "oci-no-tag", "oci-bad-index", "oci-missing-blob",
       "docker-no-manifest", "docker-missing", "docker-missing-layer"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input(store, world_tmp, busybox_root, case):
    base, words = bad_inputs(store, world_tmp, busybox_root)[case]
    r = store.ab("create", "b1", "--base", base)
    assert_refused(store, "b1", r, *words)


def test_unreadable_file(store, world_tmp, images):
    if store.as_user == "root":
        pytest.skip("root reads a mode-000 file")
    path = write_tar(world_tmp / "secret.tar", images.base_raw)
    os.chmod(path, 0o000)
    r = store.ab("create", "u1", "--base", f"tar:{path}")
    assert_refused(store, "u1", r, "secret.tar")
    d = Path(write_oci(world_tmp / "oci-secret", [(None, [(Layer().file("etc/ok", "ok\n"), "gz")])]))
    os.chmod(d / "index.json", 0o000)
    r = store.ab("create", "u2", "--base", f"oci:{d}")
    assert_refused(store, "u2", r, "index.json", str(d))


def test_bad_input_does_not_touch_an_existing_container(store, images, world_tmp):
    """A failed create of an existing name leaves the existing one alone."""
    path = images.dir / "root-e.tar"
    if not path.exists():
        write_tar(path, images.base_raw)
    create(store, "e1", f"tar:{path}")
    (world_tmp / "junk.tar").write_bytes(os.urandom(4096))
    r = store.ab("create", "e1", "--base", f"tar:{world_tmp}/junk.tar")
    assert r.returncode != 0
    assert store.inside("e1", "cat", "/data/hello.txt") == "hello\n"


@pytest.mark.parametrize("case", ["ok-oci", "corrupt", "truncated", "hostile"])
def test_create_leaves_no_temporary_files(store, world_tmp, images, busybox_root, marker, case):
    """Run in a private /tmp, /var/tmp, /dev/shm and /run: whether create
    succeeds or fails, it leaves nothing there (and no mount)."""
    if case == "ok-oci":
        base = f"oci:{write_oci(world_tmp / 'oci', [(None, list(zip(images.layers, ['gz', 'plain', 'gz'])))])}"
    elif case == "corrupt":
        (world_tmp / "junk.tar").write_bytes(os.urandom(8192))
        base = f"tar:{world_tmp}/junk.tar"
    elif case == "truncated":
        full = compress(Layer().tree(busybox_root).bytes(), "gz")
        (world_tmp / "half.tar.gz").write_bytes(full[: len(full) // 2])
        base = f"tar:{world_tmp}/half.tar.gz"
    else:
        layer, _ = hostile_cases(marker, "unused")["symlink-abs-through"]
        base = f"docker-archive:{write_docker_archive(world_tmp / 'evil-d.tar', [Layer().tree(busybox_root), layer])}"
    rc, out, err, report = run_isolated([store.appbox, "create", "i1", "--base", base, "--no-launcher"],
                                        store.as_user, keep=[world_tmp, Path(store.appbox).parent, images.dir],
                                        extra_env=store.env, timeout=120)
    assert report.strip() == "", f"left behind:\n{report}"
    if case == "ok-oci":
        assert rc == 0, err
        check_layered(store, "i1", images.victim)
    else:
        assert rc != 0
        marker_intact(marker)
        assert_nothing_left(store, "i1")


def test_layer_writes_through_a_symlink_inside_the_root(store, images, busybox_root):
    """usrmerge: layer 1 has lib -> usr/lib (relative) and opt -> /usr/share
    (absolute, inside the image); layer 2 has lib/tool.so and opt/doc.
    Resolved inside the root (as docker applies layers), the files land in
    usr/lib and usr/share; nothing outside is touched."""
    d = images.dir / "oci-usrmerge"
    if not d.exists():
        l1 = base_layer(busybox_root).dir("usr/lib").dir("usr/share").symlink("lib", "usr/lib")
        l1.symlink("opt", "/usr/share")
        l2 = Layer().file("lib/tool.so", "so\n").file("opt/doc", "doc\n")
        write_oci(d, [(None, [(l1, "gz"), (l2, "gz")])])
    create(store, "m1", f"oci:{d}")
    assert store.inside("m1", "cat", "/usr/lib/tool.so", "/usr/share/doc") == "so\ndoc\n"
    assert os.readlink(store.rootfs("m1") / "lib") == "usr/lib"
    assert (store.rootfs("m1") / "usr/share/doc").is_file()
    assert not os.path.isfile("/usr/share/doc/doc") and not os.path.exists("/usr/lib/tool.so")



def test_docker_archive_layers_are_staged_on_disk(store, images):
    """A docker archive's layers are copied out before they are unpacked:
    on disk next to the new root (a small archive may hold a layer of
    gigabytes, which a tmpfs would hold in memory), each removed as soon as
    the unpacker has it open, the staging directory after."""
    path = images.dir / "docker.tar"
    if not path.exists():
        write_docker_archive(path, images.layers)
    create(store, "k4", f"docker-archive:{path}")
    check_layered(store, "k4", images.victim)
    assert not (store.data / "k4" / ".unpack").exists()


def test_full_disk_while_unpacking_names_the_reason_and_the_file(store, world_tmp, busybox_root):
    """A data write that fails (no space left) is an error that says so and
    names the file, not a truncated file and a misleading later error
    (issue 9, item 9).  Root only: the small file system is a tmpfs mounted
    in a mount namespace of the test's own."""
    if store.as_user != "root":
        pytest.skip("mounting the small file system the store lives on needs root")
    layer = Layer()
    layer.dir("usr")
    layer.dir("usr/lib")
    layer.file("usr/lib/big", os.urandom(6 << 20))
    tarpath = write_tar(world_tmp / "big.tar", layer)
    small = world_tmp / "small"
    small.mkdir()
    env = dict(os.environ, **store_env(small / "data", store.runtime, store.home))
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f"mount -t tmpfs -o size=2m appbox-test {small} && "
                        f"exec {store.appbox} create full --base tar:{tarpath} --no-launcher"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0, r.stdout
    assert "No space left on device while writing 'usr/lib/big'" in r.stderr, r.stderr


def test_refused_names_are_escaped(store, world_tmp):
    """An archive's entry names are untrusted: a refused one is echoed with
    its control characters escaped (no terminal escape reaches the user's
    terminal, and the message stays one line) (issue 9, item 11)."""
    evil = "../\x1b]0;owned\x07\x1b[2J\nsecond line"
    path = world_tmp / "evil-names.tar"
    with tarfile.open(path, "w") as t:
        info = tarfile.TarInfo(evil)
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    os.chmod(path, 0o644)
    r = store.ab("create", "esc", "--base", f"tar:{path}", "--no-launcher")
    assert r.returncode != 0
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr, repr(r.stderr)
    assert "\\x1b]0;owned\\x07" in r.stderr and "\\nsecond line" in r.stderr, repr(r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, repr(r.stderr)
