"""The runtime directory is verified before it is used (issue 9, item 2).

Without XDG_RUNTIME_DIR appbox keeps its runtime state in /tmp/appbox-UID,
a name any local user can take first.  appbox must refuse a runtime dir
that is not the caller's own, private directory (another user's, a
symbolic link, a directory of someone else's mode 0777) with one clear
line that names the path, and must create nothing in it; below a good
runtime dir, a symbolic link planted at NAME/spec.json or
NAME/control.sock is never followed.
"""

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from conftest import NOSUB_USER, TEST_USER, require_root, run, user_info  # noqa: E402
from containers_support import ctr  # noqa: E402,F401 (fixture)

# verbs that read or write runtime state (shell needs a terminal: it goes
# through the same check in main.c as run and exec)
VERBS = [
    ["list"],
    ["show", "box"],
    ["start", "box"],
    ["stop", "box"],
    ["run", "box", "true"],
    ["exec", "box", "true"],
    ["rm", "box"],
    ["config", "box", "Network.Mode=host"],
    ["update", "box"],
    ["install", "box", "figlet"],
    ["create", "box2", "--no-launcher"],
]


def tree(p):
    """Everything below P (names, types, owners), for 'nothing created'."""
    out = []
    for dirpath, dirs, files in os.walk(p):
        for n in sorted(dirs + files):
            st = os.lstat(os.path.join(dirpath, n))
            out.append((os.path.relpath(os.path.join(dirpath, n), p), stat.S_IFMT(st.st_mode), st.st_uid))
    return sorted(out)


@pytest.fixture
def victim(run_as, appbox_bin, world_tmp, busybox_root):
    """A caller whose runtime dir is one another user can make first: for
    an ordinary user the real /tmp fallback (no XDG_RUNTIME_DIR, no
    APPBOX_RUNTIME_DIR); root never falls back to /tmp (/run/appbox), so
    root is pointed at a name in a sticky, world-writable directory."""
    require_root("the test makes users' directories")
    u = user_info(run_as)
    attacker = user_info("nosub" if run_as == "user" else "user")
    base = world_tmp / "victim"
    for d in (base, base / "data", base / "home"):
        d.mkdir()
        os.chown(d, u.uid, u.gid)
    env = {"APPBOX_DATA_DIR": str(base / "data"), "HOME": str(base / "home"),
           "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"}
    if run_as == "root":
        sticky = world_tmp / "sticky"
        sticky.mkdir()
        os.chmod(sticky, 0o1777)
        rt = sticky / "appbox-0"
        env["APPBOX_RUNTIME_DIR"] = str(rt)
    else:
        rt = Path(f"/tmp/appbox-{u.uid}")
    # the test user's own fallback dir of an earlier run: not ours to keep
    if rt.is_symlink() or rt.exists():
        if rt.is_symlink() or rt.is_file():
            rt.unlink()
        else:
            shutil.rmtree(rt)

    class V:
        pass
    v = V()
    v.as_user, v.user, v.attacker, v.rt, v.env, v.base = run_as, u, attacker, rt, env, base
    v.ab = lambda *a, **kw: run([appbox_bin, *a], as_user=run_as, env=dict(env), **kw)
    # a container, made while nothing is planted
    r = v.ab("create", "box", "--base", f"dir:{busybox_root}", "--no-launcher", timeout=120)
    assert r.returncode == 0, r.stderr
    for p in (rt,):
        if p.is_symlink() or p.exists():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    try:
        yield v
    finally:
        # rm first: it takes the container's locks, which live in the
        # runtime dir, and would make it again after it was removed
        if rt.is_symlink() or rt.is_file():
            rt.unlink()
        v.ab("rm", "--force", "box", timeout=60)
        if rt.is_symlink() or rt.is_file():
            rt.unlink()
        elif rt.exists():
            shutil.rmtree(rt, ignore_errors=True)


def plant(v, kind, elsewhere):
    """The attacker makes the victim's runtime dir first."""
    a = v.attacker
    if kind == "theirs":
        v.rt.mkdir(mode=0o700)
        os.chown(v.rt, a.uid, a.gid)
        return v.rt
    if kind == "theirs-0777":
        v.rt.mkdir()
        os.chmod(v.rt, 0o777)
        os.chown(v.rt, a.uid, a.gid)
        return v.rt
    if kind == "symlink":
        elsewhere.mkdir()
        os.chmod(elsewhere, 0o777)
        os.chown(elsewhere, a.uid, a.gid)
        os.symlink(elsewhere, v.rt)
        os.lchown(v.rt, a.uid, a.gid)
        return elsewhere
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["theirs", "theirs-0777", "symlink"])
def test_planted_runtime_dir_is_refused(victim, kind, world_tmp):
    watched = plant(victim, kind, world_tmp / "elsewhere")
    before = tree(watched)
    for verb in VERBS:
        r = victim.ab(*verb, timeout=60)
        err = r.stderr.strip()
        assert r.returncode == 125, (verb, r.returncode, r.stdout, r.stderr)
        assert len(err.splitlines()) == 1, (verb, err)
        assert str(victim.rt) in err and "not safe" in err, (verb, err)
        assert "symbolic link" in err if kind == "symlink" else f"uid {victim.attacker.uid}" in err, (verb, err)
        assert "XDG_RUNTIME_DIR" in err, (verb, err)
        assert tree(watched) == before, (verb, "something was made in the planted directory")
    # and the container is still there, untouched
    assert (victim.base / "data" / "box" / "appbox.conf").exists()
    assert not (victim.base / "data" / "box2").exists()


def test_own_runtime_dir_is_made_private(victim):
    """A runtime dir of the caller's own with a loose mode is repaired to
    0700, not refused; a missing one is made 0700."""
    r = victim.ab("list")
    assert r.returncode == 0, r.stderr
    victim.rt.mkdir(mode=0o755)
    os.chown(victim.rt, victim.user.uid, victim.user.gid)
    os.chmod(victim.rt, 0o777)
    r = victim.ab("run", "box", "true", timeout=60)
    assert r.returncode == 0, r.stderr
    st = os.lstat(victim.rt)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == victim.user.uid


def test_runtime_dir_in_open_non_sticky_parent_is_refused(victim, world_tmp):
    """A parent others may write to, without the sticky bit, lets them
    rename the directory away: refused."""
    if victim.as_user != "root":
        pytest.skip("the /tmp fallback's parent is /tmp (sticky)")
    os.chmod(victim.rt.parent, 0o777)
    r = victim.ab("run", "box", "true", timeout=60)
    assert r.returncode == 125
    assert "not sticky" in r.stderr and str(victim.rt) in r.stderr, r.stderr
    assert not victim.rt.exists()


def test_planted_data_dir_symlink_is_refused(run_as, appbox_bin, world_tmp):
    require_root()
    u = user_info(run_as)
    real = world_tmp / "real"
    real.mkdir()
    os.chown(real, u.uid, u.gid)
    link = world_tmp / "data"
    os.symlink(real, link)
    env = {"APPBOX_DATA_DIR": str(link), "APPBOX_RUNTIME_DIR": str(world_tmp / "run"),
           "HOME": str(world_tmp), "PATH": "/usr/bin:/bin"}
    os.chmod(world_tmp, 0o755)
    rt = world_tmp / "run"
    rt.mkdir(mode=0o700)
    os.chown(rt, u.uid, u.gid)
    r = run([appbox_bin, "list"], as_user=run_as, env=env)
    assert r.returncode == 125 and "data directory" in r.stderr and "symbolic link" in r.stderr, r.stderr


# --- below a good runtime dir: symlinks are not followed


def test_symlinked_control_sock_is_not_followed(ctr):
    ctr.create("c1", launcher=False)
    assert ctr.ab("start", "c1").returncode == 0
    d = ctr.runtime / "c1"
    os.rename(d / "control.sock", d / "control.real")
    os.symlink("control.real", d / "control.sock")
    try:
        r = ctr.ab("exec", "c1", "true", timeout=30)
        assert r.returncode != 0
        assert "control.sock is not a socket of yours" in r.stderr, r.stderr
    finally:
        os.unlink(d / "control.sock")
        os.rename(d / "control.real", d / "control.sock")
    assert ctr.ab("exec", "c1", "true", timeout=30).returncode == 0


def test_symlinked_spec_json_is_not_followed(ctr):
    """A spec.json swapped for a link (to a spec with seccomp off and the
    host network) is not read: the session refuses to join."""
    ctr.create("c1", launcher=False)
    assert ctr.ab("start", "c1").returncode == 0
    d = ctr.runtime / "c1"
    text = (d / "spec.json").read_text()
    forged = ctr.base / "forged.json"
    forged.write_text(text)
    os.chown(forged, ctr.user.uid, ctr.user.gid)
    os.rename(d / "spec.json", d / "spec.real")
    os.symlink(forged, d / "spec.json")
    try:
        r = ctr.ab("exec", "c1", "true", timeout=30)
        assert r.returncode != 0
        assert "spec.json" in r.stderr, r.stderr
    finally:
        os.unlink(d / "spec.json")
        os.rename(d / "spec.real", d / "spec.json")
    assert ctr.ab("exec", "c1", "true", timeout=30).returncode == 0
