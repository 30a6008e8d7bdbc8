"""appbox cp and appbox export (issue 10): files into and out of a named
container, running or stopped, never through a symlink of the container's
to a host path; a container's root as a tar that create --base tar: turns
into a container again.  As root and as an unprivileged user."""

import hashlib
import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

from conftest import make_busybox_root, ok
from containers_support import ctr, one_line_error  # noqa: F401 (fixture)


def in_ctr(ctr, name, script):
    """Run SCRIPT in NAME as its root (starting it if needed); stdout."""
    if ctr.state(name) == "running":
        return ok(ctr.ab("exec", "--root", name, "sh", "-c", script))
    return ok(ctr.ab("run", name, "++uid", "0", "++cmd", "sh", "-c", script))


def mine(ctr, path, mode=0o755):
    """A directory PATH the caller owns (the caller writes there)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, ctr.user.uid, ctr.user.gid)
    os.chmod(path, mode)
    return path


def host_tree(ctr, base):
    """A source tree the caller owns: a file, a directory with a nested
    file and a symlink, a set-id file and an empty directory."""
    src = mine(ctr, base / "src")
    (src / "file.txt").write_bytes(b"hello from the host\n")
    os.chmod(src / "file.txt", 0o640)
    d = src / "dir"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "deep.bin").write_bytes(bytes(range(256)) * 1000)
    os.chmod(d / "sub" / "deep.bin", 0o600)
    os.symlink("sub/deep.bin", d / "rel-link")
    (d / "empty").mkdir()
    os.chmod(d / "empty", 0o711)
    (src / "suid").write_bytes(b"#!/bin/sh\n")
    subprocess.run(["chown", "-R", "-h", f"{ctr.user.uid}:{ctr.user.gid}", str(src)], check=True)
    os.chmod(src / "suid", 0o4755)  # after chown, which clears it
    return src


def listing(root):
    """{relative path: (type, mode, size, sha256 or link target)} below ROOT."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = Path(dirpath) / n
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                extra = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                extra = None
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), extra)
    return out


def check_round_trip(ctr, name, base):
    """Copy the host tree into NAME and back out; check what each side holds."""
    src = host_tree(ctr, base)
    r = ctr.ab("cp", str(src / "dir"), f"{name}:/root/")
    ok(r)
    ok(ctr.ab("cp", str(src / "file.txt"), f"{name}:/root/renamed.txt"))
    r = ctr.ab("cp", str(src / "suid"), f"{name}:/root/suid")
    ok(r)
    assert "dropped the set-id bits of 1 file" in r.stderr
    # inside: the container's root owns the copies; modes kept, set-id gone
    out = in_ctr(ctr, name, "cd /root && ls -lnd dir dir/empty dir/sub dir/sub/deep.bin renamed.txt suid "
                            "| awk '{print $1, $3, $4, $NF}'; readlink dir/rel-link; cat renamed.txt")
    lines = out.splitlines()
    assert lines[:6] == ["drwxr-xr-x 0 0 dir", "drwx--x--x 0 0 dir/empty", "drwxr-xr-x 0 0 dir/sub",
                         "-rw------- 0 0 dir/sub/deep.bin", "-rw-r----- 0 0 renamed.txt", "-rwxr-xr-x 0 0 suid"], out
    assert lines[6:] == ["sub/deep.bin", "hello from the host"]
    # and out again: the same tree, the caller's
    dest = mine(ctr, base / "out")
    ok(ctr.ab("cp", f"{name}:/root/dir", str(dest)))
    ok(ctr.ab("cp", f"{name}:/root/renamed.txt", str(dest / "back.txt")))
    assert listing(dest / "dir") == listing(src / "dir")
    assert (dest / "back.txt").read_bytes() == b"hello from the host\n"
    for p in [dest / "dir", dest / "dir" / "sub" / "deep.bin", dest / "back.txt"]:
        st = p.lstat()
        assert (st.st_uid, st.st_gid) == (ctr.user.uid, ctr.user.gid), p
    assert stat.S_IMODE((dest / "back.txt").stat().st_mode) == 0o640


def test_cp_stopped_container(ctr, world_tmp):
    ctr.create("cps")
    check_round_trip(ctr, "cps", world_tmp)
    # started for the copy, stopped again
    assert ctr.wait_state("cps", "stopped")


def test_cp_running_container(ctr, world_tmp):
    ctr.create("cpr")
    ok(ctr.ab("start", "cpr"))
    ok(ctr.ab("exec", "--root", "cpr", "sh", "-c", "echo made-inside > /tmp/inside.txt"))
    check_round_trip(ctr, "cpr", world_tmp)
    # what the running container wrote (its /tmp is its own mount) comes out
    dest = mine(ctr, world_tmp / "out2")
    ok(ctr.ab("cp", "cpr:/tmp/inside.txt", str(dest)))
    assert (dest / "inside.txt").read_text() == "made-inside\n"
    # and a copy in is seen by the running container at once
    ok(ctr.ab("cp", str(dest / "inside.txt"), "cpr:/tmp/again.txt"))
    assert ok(ctr.ab("exec", "cpr", "cat", "/tmp/again.txt")) == "made-inside\n"
    assert ctr.state("cpr") == "running"


def test_cp_into_a_directory_replaces_files_and_merges_directories(ctr, world_tmp):
    ctr.create("cpm")
    src = host_tree(ctr, world_tmp)
    in_ctr(ctr, "cpm", "mkdir -p /root/dir/sub && echo old > /root/dir/sub/deep.bin && echo keep > /root/dir/kept")
    ok(ctr.ab("cp", str(src / "dir"), "cpm:/root"))
    out = in_ctr(ctr, "cpm", "cat /root/dir/kept; wc -c < /root/dir/sub/deep.bin")
    assert out.split() == ["keep", "256000"]
    # a directory onto a file: refused, named
    in_ctr(ctr, "cpm", "echo f > /root/plain")
    r = ctr.ab("cp", str(src / "dir"), "cpm:/root/plain")
    line = one_line_error(r, 125)
    assert "cpm:/root/plain" in line


def plant_links(ctr, name, marker):
    """Symlinks in NAME to the host's MARKER directory (and a file in it)."""
    in_ctr(ctr, name, f"ln -s {marker} /root/evil-dir && ln -s {marker}/secret /root/evil-file && "
                      f"mkdir -p /root/dir && ln -s {marker} /root/dir/sub && ln -s /etc/shadow /root/shadow")


def test_cp_never_writes_through_a_container_symlink(ctr, world_tmp):
    ctr.create("cpl")
    marker = mine(ctr, world_tmp / "marker")
    (marker / "secret").write_text("host secret\n")
    before = listing(marker)
    src = host_tree(ctr, world_tmp)
    plant_links(ctr, "cpl", marker)
    # a destination that is a link to a host directory: resolved in the
    # container, where that path does not exist
    r = ctr.ab("cp", str(src / "file.txt"), "cpl:/root/evil-dir/")
    assert "cpl:/root/evil-dir/" in one_line_error(r, 125)
    # without the slash the link itself is replaced by the file
    ok(ctr.ab("cp", str(src / "file.txt"), "cpl:/root/evil-dir"))
    ok(ctr.ab("cp", str(src / "file.txt"), "cpl:/root/evil-file"))
    assert in_ctr(ctr, "cpl", "cat /root/evil-dir /root/evil-file") == "hello from the host\n" * 2
    # a link inside a directory the copy merges into: refused, not followed
    r = ctr.ab("cp", str(src / "dir"), "cpl:/root/")
    line = one_line_error(r, 125)
    assert "sub" in line
    # a parent directory that is a link to the host
    in_ctr(ctr, "cpl", f"ln -s {marker} /root/evil-parent")
    r = ctr.ab("cp", str(src / "file.txt"), "cpl:/root/evil-parent/new.txt")
    assert "cpl:/root/evil-parent/new.txt" in one_line_error(r, 125)
    assert listing(marker) == before
    assert not (marker / "new.txt").exists() and not (marker / "deep.bin").exists()
    # a link to /etc: the container's /etc, never the host's
    in_ctr(ctr, "cpl", "ln -s /etc /root/etc-link")
    ok(ctr.ab("cp", str(src / "file.txt"), "cpl:/root/etc-link/"))
    assert in_ctr(ctr, "cpl", "cat /etc/file.txt") == "hello from the host\n"
    assert not os.path.exists("/etc/file.txt")


def test_cp_never_reads_through_a_container_symlink(ctr, world_tmp):
    ctr.create("cpr2")
    marker = mine(ctr, world_tmp / "marker")
    (marker / "secret").write_text("host secret\n")
    os.chown(marker / "secret", ctr.user.uid, ctr.user.gid)
    plant_links(ctr, "cpr2", marker)
    dest = mine(ctr, world_tmp / "out")
    # a link to a host file is resolved in the container: nothing there
    r = ctr.ab("cp", "cpr2:/root/evil-file", str(dest / "got"))
    assert "cpr2:/root/evil-file" in one_line_error(r, 125)
    r = ctr.ab("cp", "cpr2:/root/shadow", str(dest / "shadow"))
    one_line_error(r, 125)
    assert os.listdir(dest) == []
    # below a copied directory, links are copied as links, never read
    ok(ctr.ab("cp", "cpr2:/root/dir", str(dest)))
    assert os.readlink(dest / "dir" / "sub") == str(marker)
    assert [p.name for p in (dest / "dir").iterdir()] == ["sub"]
    # the container's own file through its own absolute link is fine
    in_ctr(ctr, "cpr2", "echo inside > /root/real && ln -s /root/real /root/abs")
    ok(ctr.ab("cp", "cpr2:/root/abs", str(dest / "abs")))
    assert (dest / "abs").read_text() == "inside\n"


def test_cp_skips_fifos_with_a_warning(ctr, world_tmp):
    ctr.create("cpf")
    src = mine(ctr, world_tmp / "withfifo")
    (src / "a.txt").write_text("a\n")
    os.mkfifo(src / "pipe")
    subprocess.run(["chown", "-R", f"{ctr.user.uid}:{ctr.user.gid}", str(src)], check=True)
    r = ctr.ab("cp", str(src), "cpf:/root/")
    ok(r)
    assert "pipe: skipped: a fifo" in r.stderr
    assert in_ctr(ctr, "cpf", "ls /root/withfifo") == "a.txt\n"
    # out of the container too
    in_ctr(ctr, "cpf", "mkfifo /root/withfifo/p2")
    dest = mine(ctr, world_tmp / "out")
    r = ctr.ab("cp", "cpf:/root/withfifo", str(dest))
    ok(r)
    assert "cpf:/root/withfifo/p2: skipped: a fifo" in r.stderr
    assert os.listdir(dest / "withfifo") == ["a.txt"]
    # a device node named as the source: refused, either way
    for args in (("cpf:/dev/null", str(dest / "null")), ("/dev/null", "cpf:/root/null")):
        line = one_line_error(ctr.ab("cp", *args), 125)
        assert "/dev/null: not a regular file or directory" in line
    assert not (dest / "null").exists()


def test_cp_bad_input(ctr, world_tmp):
    ctr.create("cpb")
    src = host_tree(ctr, world_tmp)
    cases = [
        ((), 2, "missing SRC and DST"),
        ((str(src),), 2, "missing DST"),
        ((str(src), str(world_tmp / "x")), 2, "neither is a container path"),
        (("cpb:/a", "cpb:/b"), 2, "both are container paths"),
        ((str(src), "cpb:relative"), 2, "must be absolute"),
        ((str(src), "cpb:/x", "extra"), 2, "unexpected argument 'extra'"),
        (("--bogus", str(src), "cpb:/x"), 2, "--bogus: unknown option"),
        ((str(src), "a b:/x"), 2, "a b"),
        ((str(src), "nosuch:/x"), 125, "no container named 'nosuch'"),
        ((str(world_tmp / "missing"), "cpb:/root/"), 125, f"{world_tmp}/missing: No such file or directory"),
        (("cpb:/no/such", str(world_tmp / "o")), 125, "cpb:/no/such: No such file or directory"),
        ((str(src / "file.txt"), "cpb:/no/such/dir/f"), 125, "cpb:/no/such/dir/f"),
        (("cpb:/root", str(world_tmp / "nodir" / "x")), 125, f"{world_tmp}/nodir/x"),
    ]
    for args, code, text in cases:
        r = ctr.ab("cp", *args)
        line = one_line_error(r, code)
        assert text in line, (args, line)
    assert not (world_tmp / "o").exists() and not (world_tmp / "x").exists()
    assert ctr.wait_state("cpb", "stopped")


# --- export ------------------------------------------------------------------


def members(tar_path):
    """{name: (type, mode, uid, gid, size or link target, sha256)} of a tar."""
    out = {}
    with tarfile.open(tar_path) as t:
        for m in t.getmembers():
            name = m.name.rstrip("/")
            digest = None
            if m.isfile():
                digest = hashlib.sha256(t.extractfile(m).read()).hexdigest()
            out[name] = (m.type, m.mode, m.uid, m.gid, m.linkname if (m.issym() or m.islnk()) else m.size, digest)
    return out


def base_tar(ctr, world_tmp):
    """A tar of a busybox root with owners and modes a copy would drop: a
    set-uid program of root's, a file of uid 7, a hard link, a long path."""
    root = Path(make_busybox_root(world_tmp / "bbroot"))
    (root / "etc" / "marker").write_text("exported\n")
    tar_path = world_tmp / "base.tar"
    long = "l" * 120
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as t:
        t.add(root, arcname=".", filter=lambda i: (setattr(i, "uid", 0), setattr(i, "gid", 0),
                                                   setattr(i, "uname", ""), setattr(i, "gname", ""), i)[-1])

        def add(name, data, mode, uid=0, gid=0):
            i = tarfile.TarInfo(name)
            i.size, i.mode, i.uid, i.gid = len(data), mode, uid, gid
            t.addfile(i, io.BytesIO(data))
        add("usr/bin/suidprog", b"#!/bin/sh\necho suid\n", 0o4755)
        add("home/seven.txt", b"seven\n", 0o640, 7, 8)
        add(f"home/{long}/{long}.txt", b"long\n", 0o644)
        h = tarfile.TarInfo("usr/bin/hardlink")
        h.type, h.linkname, h.mode = tarfile.LNKTYPE, "usr/bin/suidprog", 0o4755
        t.addfile(h)
    os.chmod(tar_path, 0o644)
    return tar_path


def test_export_round_trip(ctr, world_tmp):
    tar_path = base_tar(ctr, world_tmp)
    ctr.create("exa", base=f"tar:{tar_path}")
    out = mine(ctr, world_tmp / "out")
    ok(ctr.ab("export", "exa", str(out / "exa.tar")))
    first = members(out / "exa.tar")
    long = "l" * 120
    # the set-uid program of root's, once as a file and once as a hard link to it
    pair = sorted([("usr/bin/suidprog",) + first["usr/bin/suidprog"], ("usr/bin/hardlink",) + first["usr/bin/hardlink"]],
                  key=lambda e: e[1])
    assert [e[1:5] for e in pair] == [(tarfile.REGTYPE, 0o4755, 0, 0), (tarfile.LNKTYPE, 0o4755, 0, 0)]
    assert pair[1][5] == pair[0][0]
    assert first["home/seven.txt"][:4] == (tarfile.REGTYPE, 0o640, 7, 8)
    assert first[f"home/{long}/{long}.txt"][0] == tarfile.REGTYPE
    assert first["etc/marker"][5] == hashlib.sha256(b"exported\n").hexdigest()
    assert first["bin/sh"][:5] == (tarfile.SYMTYPE, 0o777, 0, 0, "busybox")
    st = (out / "exa.tar").stat()
    assert (st.st_uid, st.st_gid) == (ctr.user.uid, ctr.user.gid)
    # a container made from it, exported again: the same tree
    ctr.create("exb", base=f"tar:{out / 'exa.tar'}")
    ok(ctr.ab("export", "exb", str(out / "exb.tar")))
    assert members(out / "exb.tar") == first
    assert in_ctr(ctr, "exb", "cat /etc/marker; ls -ln /home/seven.txt | awk '{print $1, $3, $4}'") == \
        "exported\n-rw-r----- 7 8\n"
    assert ctr.wait_state("exa", "stopped") and ctr.wait_state("exb", "stopped")


def test_export_running_container(ctr, world_tmp):
    ctr.create("exr")
    ok(ctr.ab("start", "exr"))
    ok(ctr.ab("exec", "--root", "exr", "sh", "-c", "echo live > /root/live.txt; echo tmp > /tmp/in-tmp"))
    out = mine(ctr, world_tmp / "out")
    ok(ctr.ab("export", "exr", str(out / "exr.tar")))
    m = members(out / "exr.tar")
    assert m["root/live.txt"][5] == hashlib.sha256(b"live\n").hexdigest()
    # what is mounted on the root is not part of it (its /tmp, /proc)
    assert "tmp/in-tmp" not in m and not any(n.startswith("proc/") for n in m)
    assert ctr.state("exr") == "running"


def test_export_bad_input(ctr, world_tmp):
    ctr.create("exx")
    out = mine(ctr, world_tmp / "out")
    existing = out / "there.tar"
    existing.write_text("keep me\n")
    os.chown(existing, ctr.user.uid, ctr.user.gid)
    cases = [
        ((), 2, "missing NAME and FILE"),
        (("exx",), 2, "missing FILE"),
        (("exx", str(existing)), 2, "exists (use --force to replace it)"),
        (("--bogus", "exx", str(out / "a.tar")), 2, "--bogus: unknown option"),
        (("exx", str(out / "a.tar"), "more"), 2, "unexpected argument 'more'"),
        (("nosuch", str(out / "a.tar")), 125, "no container named 'nosuch'"),
        (("exx", str(out / "no" / "dir.tar")), 125, f"{out}/no/dir.tar"),
    ]
    for args, code, text in cases:
        line = one_line_error(ctr.ab("export", *args), code)
        assert text in line, (args, line)
    assert existing.read_text() == "keep me\n"
    assert sorted(os.listdir(out)) == ["there.tar"]
    ok(ctr.ab("export", "--force", "exx", str(existing)))
    assert "etc/passwd" in members(existing)
    assert sorted(os.listdir(out)) == ["there.tar"]


def test_cp_out_never_opens_up_a_host_directory(ctr, world_tmp):
    """A hostile container's 0777 directory and 0666 file, copied out onto
    an existing host directory of the user's (0700): the host directory
    keeps its mode, and nothing copied is writable by group or others."""
    ctr.create("cpo")
    in_ctr(ctr, "cpo", "mkdir -p /root/conf/sub && echo x > /root/conf/f && "
                       "chmod 0777 /root/conf /root/conf/sub && chmod 0666 /root/conf/f")
    dest = mine(ctr, world_tmp / "home", 0o755)
    existing = mine(ctr, dest / "conf", 0o700)
    ok(ctr.ab("cp", "cpo:/root/conf", str(dest)))
    assert stat.S_IMODE(os.stat(existing).st_mode) == 0o700
    assert (existing / "f").read_text() == "x\n"
    for p in (existing / "f", existing / "sub"):
        assert stat.S_IMODE(os.stat(p).st_mode) & 0o022 == 0, (p, oct(os.stat(p).st_mode))


def test_cp_warnings_do_not_reach_the_terminal_raw(ctr, world_tmp):
    """A container's file name with terminal escapes, echoed in a warning,
    is written escaped."""
    ctr.create("cpe")
    in_ctr(ctr, "cpe", "mkdir -p /root/t && mkfifo \"/root/t/$(printf 'a\\033]0;PWNED\\007b')\"")
    dest = mine(ctr, world_tmp / "out")
    r = ctr.ab("cp", "cpe:/root/t", str(dest))
    ok(r)
    assert "skipped: a fifo" in r.stderr, r.stderr
    assert "\033" not in r.stderr and "\007" not in r.stderr, repr(r.stderr)
    assert "\\x1b]0;PWNED\\x07" in r.stderr, repr(r.stderr)
