"""`appbox rm` can always remove what appbox made (issue 9, item 10).

A create killed with SIGKILL leaves NAME/rootfs owned by the container's
ids (the caller's subordinate range) and no appbox.conf: `rm` used to say
"no container named", `create` "already exists", and the user's own
`rm -rf` cannot touch files of the sub-ids.  `rm NAME` now removes such
remains (any directory NAME in appbox's data directory, never a symbolic
link), and removes every tree with an fd-relative walk: no PATH_MAX limit
(a chain of directories deeper than PATH_MAX), a mode-000 directory of a
sub-id, and symbolic links removed, never followed out of the rootfs.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from conftest import ok, wait_until  # noqa: E402
from containers_support import ctr  # noqa: E402,F401 (fixture)

PATH_MAX = 4096


def big_base(ctr, tmp):
    """The busybox root plus enough small files that copying it takes a
    while (the create is killed during the copy)."""
    base = tmp / "bigbase"
    subprocess.run(["cp", "-a", ctr.src_root, str(base)], check=True)
    bulk = base / "bulk"
    bulk.mkdir()
    for d in range(60):
        sub = bulk / f"d{d:02}"
        sub.mkdir()
        for f in range(500):
            (sub / f"f{f:03}").write_bytes(b"x" * 512)
    subprocess.run(["chmod", "-R", "a+rX", str(base)], check=True)
    return base


def kill_create_during_copy(ctr, name, base):
    """Start `appbox create NAME --base dir:BASE`, wait until the copy is
    under way (NAME/rootfs/bulk exists), SIGKILL its whole process group."""
    p = ctr.popen("create", name, "--base", f"dir:{base}", "--no-launcher",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  start_new_session=True)
    bulk = ctr.data / name / "rootfs" / "bulk"
    seen = wait_until(lambda: bulk.exists() or p.poll() is not None, timeout=60, interval=0.005)
    assert seen and p.poll() is None, "create ended before it could be killed"
    os.killpg(p.pid, signal.SIGKILL)
    p.wait(timeout=10)
    time.sleep(0.3)  # the sandbox's processes die with their PID 1
    assert not (ctr.data / name / "appbox.conf").exists(), "create wrote appbox.conf before it was killed"
    assert (ctr.data / name / "rootfs").is_dir()


def test_rm_removes_remains_of_a_killed_create(ctr):
    base = big_base(ctr, ctr.base)
    kill_create_during_copy(ctr, "c1", base)
    # what create says about it: what happened, and how to clear it
    r = ctr.ab("create", "c1", "--base", f"dir:{ctr.src_root}", "--no-launcher")
    assert r.returncode != 0
    assert "interrupted create" in r.stderr and "appbox rm c1" in r.stderr, r.stderr
    # list shows them, with what clears them
    listed = ok(ctr.ab("list"))
    row = [l for l in listed.splitlines() if l.split()[:1] == ["c1"]]
    assert row and "remains" in row[0] and "appbox rm" in row[0], listed
    entry = [e for e in json.loads(ok(ctr.ab("list", "--json"))) if e["name"] == "c1"]
    assert entry and entry[0]["state"] == "remains", entry
    r = ctr.ab("rm", "c1", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "removed the remains of an interrupted create of c1" in r.stdout, r.stdout
    assert not (ctr.data / "c1").exists()
    assert not (ctr.runtime / "c1").exists()
    # and the name is free again
    ctr.create("c1", launcher=False)
    ok(ctr.ab("run", "c1", "true"))


def test_rm_refuses_a_symlink_name(ctr, world_tmp):
    outside = world_tmp / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    os.symlink(outside, ctr.data / "c1")
    r = ctr.ab("rm", "c1")
    assert r.returncode != 0
    assert "symbolic link" in r.stderr, r.stderr
    assert (ctr.data / "c1").is_symlink()
    assert (outside / "keep").read_text() == "keep"


def deep_chain(top, depth, owner):
    """DEPTH nested directories 'dd' below TOP, made fd-relative (their
    path is far longer than PATH_MAX), owned by OWNER; the deepest holds
    a file and a mode-000 directory (with a file in it) of OWNER."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("dd", dir_fd=fd)
            os.chown("dd", owner, owner, dir_fd=fd, follow_symlinks=False)
            n = os.open("dd", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = n
        f = os.open("file", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd)
        os.write(f, b"deep")
        os.fchown(f, owner, owner)
        os.close(f)
        os.mkdir("locked", dir_fd=fd)
        l = os.open("locked", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        f = os.open("inside", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=l)
        os.fchown(f, owner, owner)
        os.close(f)
        os.fchown(l, owner, owner)
        os.fchmod(l, 0)
        os.close(l)
    finally:
        os.close(fd)


def test_rm_removes_a_tree_deeper_than_path_max(ctr):
    ctr.create("c1", launcher=False)
    rootfs = ctr.data / "c1" / "rootfs"
    # an id of the container's range (its root's host id + 1000), not the caller's
    sub = rootfs.stat().st_uid + 1000
    assert sub != ctr.user.uid
    depth = 2100
    assert depth * 3 > PATH_MAX
    deep_chain(rootfs / "tmp", depth, sub)
    try:
        r = ctr.ab("rm", "c1", timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "removed c1"
        assert not (ctr.data / "c1").exists()
    finally:
        # what a failed rm left: Python's rmtree recurses once a level
        subprocess.run(["rm", "-rf", "--one-file-system", str(ctr.data / "c1")])


def test_rm_does_not_follow_a_symlink_out_of_the_rootfs(ctr, world_tmp):
    outside = world_tmp / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "keep").write_text("keep")
    (outside / "sub" / "keep2").write_text("keep2")
    os.chmod(world_tmp, 0o755)
    ctr.create("c1", launcher=False)
    rootfs = ctr.data / "c1" / "rootfs"
    owner = rootfs.stat().st_uid
    # links to the host directory, at the top and below, absolute and climbing
    for where, target in ((rootfs / "escape", str(outside)),
                          (rootfs / "tmp" / "escape2", str(outside) + "/"),
                          (rootfs / "tmp" / "up", "../../../../../../../../../../../.." + str(outside))):
        os.symlink(target, where)
        os.chown(where, owner, owner, follow_symlinks=False)
    r = ctr.ab("rm", "c1", timeout=120)
    assert r.returncode == 0, r.stderr
    assert not (ctr.data / "c1").exists()
    assert (outside / "keep").read_text() == "keep"
    assert (outside / "sub" / "keep2").read_text() == "keep2"


def test_rm_does_not_enter_a_mount_point(ctr, world_tmp, run_as):
    """A file system mounted inside the rootfs (by root) is not emptied:
    rm fails with a message and the mounted files are intact."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount")
    outside = world_tmp / "mnt-src"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    ctr.create("c1", launcher=False)
    target = ctr.data / "c1" / "rootfs" / "mnt"
    target.mkdir(exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(target)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs")
    try:
        (target / "onmount").write_text("x")
        r = ctr.ab("rm", "c1", timeout=120)
        assert r.returncode != 0
        assert "mount point" in r.stderr, r.stderr
        assert (target / "onmount").read_text() == "x"
    finally:
        subprocess.run(["umount", "-l", str(target)])
    assert (outside / "keep").read_text() == "keep"
    ok(ctr.ab("rm", "c1", timeout=120))
    assert not (ctr.data / "c1").exists()
