"""Bind sources are pinned (issue 9, High 1): a running container may write
into its read-write binds, so a path below one of them may be replaced by
the next start (a symlink to the host's /etc, to appbox's store, another
directory).  Every start checks each bind source against the device and
inode it had when the container was made and refuses one that changed;
the user confirms a change they made with `appbox config NAME --pin`.  A
read-only tree the container can write to through another bind is never
idmapped.  As root and as an ordinary user."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from conftest import ok  # noqa: E402
from containers_support import ctr, one_line_error  # noqa: E402,F401 (fixture)


def _shared(ctr, world_tmp):
    u = ctr.user
    shared = world_tmp / "shared"
    (shared / "sub").mkdir(parents=True)
    (shared / "sub" / "file").write_text("mine\n")
    for p in (shared, shared / "sub", shared / "sub" / "file"):
        os.chown(p, u.uid, u.gid)
        # for a root caller, writable by the container's own (unprivileged) ids too
        os.chmod(p, 0o666 if p.is_file() else 0o777)
    return shared


def _refused(ctr, name, cmd=("cat", "/ro/hostname")):
    r = ctr.ab("run", name, "++cmd", *cmd)
    msg = one_line_error(r)
    assert f"is no longer what {name} was made with" in msg and f"appbox config {name} --pin" in msg, msg
    assert ctr.state(name) == "stopped"
    return msg


def test_symlink_swapped_under_a_bind_is_refused(ctr, world_tmp):
    shared = _shared(ctr, world_tmp)
    ctr.create("pin", "--bind", f"{shared}:/shared", "--ro-bind", f"{shared}/sub:/ro")
    assert ok(ctr.ab("run", "pin", "++cmd", "cat", "/ro/file")) == "mine\n"
    # the container turns the read-only source into a link to the host's /etc
    ok(ctr.ab("run", "pin", "++cmd", "sh", "-c", "rm -rf /shared/sub && ln -s /etc /shared/sub"))
    assert os.path.islink(shared / "sub")
    msg = _refused(ctr, "pin")
    assert f"{shared}/sub" in msg and "/etc" in msg, msg
    # and into appbox's own store: another container's files, its own appbox.conf
    os.unlink(shared / "sub")
    os.symlink(str(ctr.data), shared / "sub")
    _refused(ctr, "pin")


def test_replaced_directory_is_refused_until_confirmed(ctr, world_tmp):
    shared = _shared(ctr, world_tmp)
    ctr.create("pin2", "--bind", f"{shared}:/shared", "--ro-bind", f"{shared}/sub:/ro")
    ok(ctr.ab("run", "pin2", "++cmd", "sh", "-c",
              "mv /shared/sub /shared/old && mkdir /shared/sub && echo planted > /shared/sub/file"))
    _refused(ctr, "pin2", ("cat", "/ro/file"))
    # the user confirms the folder as it is now
    out = ok(ctr.ab("config", "pin2", "--pin"))
    assert "pinned" in out
    assert ok(ctr.ab("run", "pin2", "++cmd", "cat", "/ro/file")) == "planted\n"


def test_pins_survive_unrelated_config_changes(ctr, world_tmp):
    """Changing another key does not re-pin a swapped source; changing the
    bind itself pins the new source."""
    shared = _shared(ctr, world_tmp)
    other = world_tmp / "other"
    other.mkdir()
    (other / "file").write_text("other\n")
    os.chown(other, ctr.user.uid, ctr.user.gid)
    ctr.create("pin3", "--bind", f"{shared}:/shared", "--ro-bind", f"{shared}/sub:/ro")
    ok(ctr.ab("run", "pin3", "++cmd", "sh", "-c", "rm -rf /shared/sub && ln -s /etc /shared/sub"))
    ok(ctr.ab("config", "pin3", "Container.Hostname=changed"))
    _refused(ctr, "pin3")
    ok(ctr.ab("config", "pin3", f"Files.BindReadOnly={other}:/ro"))
    assert ok(ctr.ab("run", "pin3", "++cmd", "cat", "/ro/file")) == "other\n"


def test_read_only_tree_writable_through_another_bind_is_not_idmapped(ctr, world_tmp):
    """For a root caller, a read-only bind is idmapped so that host root's
    files are container root's; not when the container can write to that
    tree through a read-write bind: a root-only file there stays out of
    container root's reach through both."""
    if ctr.user.uid != 0:
        import pytest
        pytest.skip("idmapped binds are made for a root caller only")
    shared = _shared(ctr, world_tmp)
    secret = shared / "sub" / "secret"
    secret.write_text("root only\n")
    os.chown(secret, 0, 0)
    os.chmod(secret, 0o600)
    ctr.create("pin4", "--bind", f"{shared}:/shared", "--ro-bind", f"{shared}/sub:/ro")
    r = ctr.ab("run", "pin4", "++cmd", "cat", "/ro/secret")
    assert r.returncode != 0 and "root only" not in r.stdout, (r.stdout, r.stderr)
    # a read-only tree of root's that the container cannot write is still idmapped (readable as root)
    alone = world_tmp / "alone"
    alone.mkdir()
    (alone / "secret").write_text("root only\n")
    os.chmod(alone / "secret", 0o600)
    ctr.create("pin5", "--ro-bind", f"{alone}:/ro")
    assert ok(ctr.ab("run", "pin5", "++cmd", "cat", "/ro/secret")) == "root only\n"
