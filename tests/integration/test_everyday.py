"""Everyday use (issue 10): appbox behaves like a local program.

Each test does what a user did and checks what they would check: the
directory a command starts in and the file it made there, the shell a
launcher opens, PATH and the host name inside, the launcher that would
hide a command, the warning about a read-write bind root cannot write, and
the edit that is kept when appbox.conf refuses it.  Every test runs as root
and as an unprivileged user (run_as) unless it says why not."""

import os
import pty
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import as_user_argv, make_busybox_root, ok, run, user_env, user_info
from containers_support import ctr  # noqa: F401 (fixture)


def user_dir(path, as_user, mode=0o755):
    """PATH made as a folder AS_USER owns (and, for root, one the
    container's root may write: root's read-write binds are not idmapped,
    see test_root_rw_bind_warning_names_the_chown)."""
    u = user_info(as_user)
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, u.uid, u.gid)
    os.chmod(path, 0o777 if u.uid == 0 else mode)
    return path


# --- 1. the working directory


def test_sandbox_starts_in_the_bound_working_directory(run_as, appbox_bin, world_tmp):
    proj = user_dir(world_tmp / "proj", run_as)
    r = run([appbox_bin, "sandbox", "--bind", str(proj), "--", "sh", "-c", "pwd; echo x > made"],
            as_user=run_as, cwd=proj)
    assert ok(r).splitlines() == [str(proj)], r.stderr
    assert (proj / "made").read_text() == "x\n"
    # a subfolder of the bind is there too
    sub = user_dir(proj / "sub", run_as)
    r = run([appbox_bin, "sandbox", "--bind", str(proj), "--", "pwd"], as_user=run_as, cwd=sub)
    assert ok(r).strip() == str(sub)


def test_sandbox_starts_in_home_when_the_directory_is_not_there(run_as, appbox_bin, world_tmp):
    u = user_info(run_as)
    proj = user_dir(world_tmp / "proj", run_as)
    # not bound: the container has no such folder of the host's
    r = run([appbox_bin, "sandbox", "--", "pwd"], as_user=run_as, cwd=proj)
    assert ok(r).strip() == u.home
    # bound elsewhere: not at the same path
    r = run([appbox_bin, "sandbox", "--bind", f"{proj}:/work", "--", "pwd"], as_user=run_as, cwd=proj)
    assert ok(r).strip() == u.home
    # a tmpfs over it hides the bind
    r = run([appbox_bin, "sandbox", "--bind", str(proj), "--tmpfs", str(world_tmp), "--", "pwd"],
            as_user=run_as, cwd=proj)
    assert ok(r).strip() == u.home
    # --chdir wins
    r = run([appbox_bin, "sandbox", "--bind", str(proj), "--chdir", "/usr", "--", "pwd"], as_user=run_as, cwd=proj)
    assert ok(r).strip() == "/usr"


def test_sandbox_host_view_folders_keep_the_directory(run_as, appbox_bin):
    r = run([appbox_bin, "sandbox", "--", "pwd"], as_user=run_as, cwd="/usr/share")
    assert ok(r).strip() == "/usr/share"


def test_named_container_sessions_start_in_the_callers_directory(ctr):
    proj = user_dir(ctr.base / "proj", ctr.as_user)
    other = user_dir(ctr.base / "other", ctr.as_user)
    ctr.create("work", "--bind", str(proj))
    # run ++cmd, and the launcher with a command
    r = ctr.ab("run", "work", "++cmd", "sh", "-c", "pwd; echo x > made", cwd=proj)
    assert ok(r).strip() == str(proj)
    assert (proj / "made").read_text() == "x\n"
    r = ctr.sh("work pwd", cwd=proj)
    assert ok(r).strip() == str(proj)
    # elsewhere: the home, as before
    r = ctr.ab("run", "work", "++cmd", "pwd", cwd=other)
    assert ok(r).strip() == user_info(ctr.as_user).home
    # shell and exec while it runs; exec --chdir wins
    ok(ctr.ab("start", "work"))
    try:
        r = ctr.ab("shell", "work", input="pwd\n", cwd=proj)
        assert ok(r).strip() == str(proj)
        r = ctr.ab("exec", "work", "pwd", cwd=proj)
        assert ok(r).strip() == str(proj)
        r = ctr.ab("exec", "--chdir", "/", "work", "pwd", cwd=proj)
        assert ok(r).strip() == "/"
    finally:
        ok(ctr.ab("stop", "work"))


# --- 2. a container without Run= opens a shell


def test_launcher_without_run_opens_the_login_shell(ctr):
    ctr.create("box")
    r = ctr.sh("printf 'echo shell=$0\\nid -u\\n' | box")
    lines = ok(r).splitlines()
    assert lines[0] == "shell=-sh", r.stdout  # a login shell, as login(1) starts it
    assert lines[1] == "0" if ctr.as_user == "root" else lines[1] == str(user_info(ctr.as_user).uid)
    # with arguments: the command
    r = ctr.sh("box echo hi there")
    assert ok(r) == "hi there\n"
    # run NAME alone: the same shell
    r = ctr.ab("run", "box", input="echo again\n")
    assert ok(r) == "again\n"
    # the shell is the one the container's passwd gives the user (chsh inside)
    name = user_info(ctr.as_user).name
    ok(ctr.ab("run", "box", "++cmd", "sh", "-c", f"sed -i 's,^\\({name}:.*:\\)[^:]*$,\\1/bin/ash,' /etc/passwd"
              if ctr.as_user == "root" else "true"))
    if ctr.as_user != "root":
        # the user's entry is theirs only to read: changed as the container's root
        ok(ctr.ab("start", "box"))
        ok(ctr.ab("exec", "--root", "box", "sed", "-i", f"s,^\\({name}:.*:\\)[^:]*$,\\1/bin/ash,", "/etc/passwd"))
        ok(ctr.ab("stop", "box"))
    r = ctr.sh("echo 'echo $0' | box")
    assert ok(r) == "-ash\n"


def test_run_cmd_without_a_command_says_what_is_missing(ctr):
    ctr.create("box")
    r = ctr.ab("run", "box", "++cmd")
    assert r.returncode == 2, r.stderr
    assert "++cmd: missing the command" in r.stderr
    assert "Run=" not in r.stderr


# --- 3. the login environment


def root_with_login_defs(world_tmp):
    root = world_tmp / "gamesroot"
    make_busybox_root(root)
    (root / "etc" / "login.defs").write_text(
        "# login.defs of a Debian-like root\n"
        # Debian's own: root's PATH has no games folder (appbox adds it)
        "ENV_SUPATH\tPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        "ENV_PATH\tPATH=/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games\n")
    games = root / "usr" / "games"
    games.mkdir(parents=True, exist_ok=True)
    (games / "fortune").write_text("#!/bin/sh\necho 'you will test well'\n")
    os.chmod(games / "fortune", 0o755)
    for d, _, files in os.walk(root):
        os.chmod(d, 0o755)
    return root


def test_path_comes_from_the_roots_login_defs(ctr, world_tmp):
    root = root_with_login_defs(world_tmp)
    ctr.create("games", base=f"dir:{root}")
    r = ctr.ab("run", "games", "++cmd", "sh", "-c", 'echo "$PATH"; fortune')
    path, said = ok(r).splitlines()
    assert "/usr/games" in path.split(":")
    assert said == "you will test well"


def test_path_from_a_simple_profile(run_as, appbox_bin, world_tmp):
    root = world_tmp / "alpine"
    make_busybox_root(root)
    (root / "etc" / "profile").write_text('export PATH="/opt/tools:/usr/bin:/bin"\nexport PAGER=less\n')
    r = run([appbox_bin, "sandbox", "--root", str(root), "--", "sh", "-c", 'echo "$PATH"'], as_user=run_as)
    # the root's own order first, then appbox's default folders it lacks
    path = ok(r).strip().split(":")
    assert path[:3] == ["/opt/tools", "/usr/bin", "/bin"] and "/usr/sbin" in path[3:], path
    # one built from other values is not simply parseable: the default
    (root / "etc" / "profile").write_text('PATH="$HOME/bin:/usr/bin"\n')
    r = run([appbox_bin, "sandbox", "--root", str(root), "--", "sh", "-c", 'echo "$PATH"'], as_user=run_as)
    assert "$HOME" not in ok(r) and "/usr/bin" in ok(r)


def test_hostname_is_the_containers_name(ctr, appbox_bin):
    ctr.create("my_box")
    r = ctr.ab("run", "my_box", "++cmd", "hostname")
    assert ok(r).strip() == "my-box"  # '_' is no host name character
    assert ctr.show("my_box")["hostname"] == "my-box"
    # a throwaway sandbox keeps appbox
    r = run([appbox_bin, "sandbox", "--", "hostname"], as_user=ctr.as_user)
    assert ok(r).strip() == "appbox"


def test_locale_only_when_the_root_has_it(run_as, appbox_bin, world_tmp):
    root = world_tmp / "loc"
    make_busybox_root(root)
    cmd = [appbox_bin, "sandbox", "--root", str(root), "--", "sh", "-c", 'echo "LANG=$LANG TERM=$TERM"']
    r = run(cmd, as_user=run_as, extra_env={"LANG": "C.UTF-8", "TERM": "xterm-256color"})
    assert ok(r).strip() == "LANG=C.UTF-8 TERM=xterm-256color"
    r = run(cmd, as_user=run_as, extra_env={"LANG": "xx_YY.UTF-8", "TERM": "xterm"})
    assert ok(r).strip() == "LANG= TERM=xterm"
    (root / "usr" / "lib" / "locale" / "xx_YY.utf8").mkdir(parents=True)
    r = run(cmd, as_user=run_as, extra_env={"LANG": "xx_YY.UTF-8", "TERM": "xterm"})
    assert ok(r).strip() == "LANG=xx_YY.UTF-8 TERM=xterm"


# --- 4. launchers do not shadow commands


def test_launcher_that_would_shadow_a_command_is_refused(ctr):
    env_path = ctr.env["PATH"].split(":", 1)[1]
    real = shutil.which("env", path=env_path)
    assert real, "no env(1) on PATH"
    r = ctr.ab("create", "env", "--base", f"dir:{ctr.src_root}")
    assert r.returncode == 2, r.stderr
    assert f"'env' is already a command on your PATH ({real})" in r.stderr
    assert "--as" in r.stderr and "--launcher-replaces" in r.stderr
    assert not (ctr.data / "env").exists() and not ctr.launcher("env").exists()
    # --as names another command
    ctr.create("env", "--as", "envbox")
    assert ctr.launcher("envbox").exists()
    assert ctr.info("env")["launcher_shadows"] is None
    # launcher install is checked the same way
    r = ctr.ab("launcher", "install", "env", "--as", "env")
    assert r.returncode == 2 and "--launcher-replaces" in r.stderr, r.stderr
    # meant: installed, and list says what it shadows
    ctr.create("cat", "--launcher-replaces")
    info = ctr.info("cat")
    assert info["launcher"] == str(ctr.launcher("cat"))
    assert info["launcher_shadows"] == shutil.which("cat", path=env_path)
    table = ok(ctr.ab("list"))
    line = next(l for l in table.splitlines() if l.startswith("cat "))
    assert f"(shadows {info['launcher_shadows']})" in line


# --- 5. root's read-write binds


def test_root_rw_bind_warning_names_the_chown(appbox_bin, world_tmp, ctr):
    if ctr.as_user != "root":
        pytest.skip("only a root caller's read-write binds are bound without an id map")
    dl = world_tmp / "Downloads"
    dl.mkdir()
    os.chmod(dl, 0o755)
    r = ctr.ab("create", "dl", "--base", f"dir:{ctr.src_root}", "--bind", str(dl))
    ok(r)
    m = re.search(r"chown -R (\d+):(\d+) '([^']+)'", r.stderr)
    assert m, r.stderr
    assert "warning" in r.stderr and "Read-write binds as root" in r.stderr
    assert m.group(3) == str(dl)
    uid_map = ctr.show("dl")["uid_map"].split()
    assert m.group(1) == uid_map[1], (m.group(1), uid_map)  # inside 0 -> that host uid
    # as it says: the container cannot write there
    r = run([appbox_bin, "sandbox", "--bind", str(dl), "--", "sh", "-c", f"echo x > {dl}/f"])
    assert r.returncode != 0 and "warning" in r.stderr and "chown -R" in r.stderr
    assert not (dl / "f").exists()
    # and the command it names makes it writable, with no warning then
    subprocess.run(["chown", "-R", f"{m.group(1)}:{m.group(2)}", str(dl)], check=True)
    r = run([appbox_bin, "sandbox", "--bind", str(dl), "--", "sh", "-c", f"echo x > {dl}/f"])
    ok(r)
    assert "warning" not in r.stderr
    assert (dl / "f").read_text() == "x\n"


def test_user_rw_binds_have_no_warning(ctr):
    if ctr.as_user == "root":
        pytest.skip("a user's binds are theirs to write")
    d = user_dir(ctr.base / "mine", ctr.as_user)
    r = ctr.ab("create", "mine", "--base", f"dir:{ctr.src_root}", "--bind", str(d))
    ok(r)
    assert "warning" not in r.stderr


# --- 6. edit keeps the user's work


def bad_editor(tmp):
    """An EDITOR that adds a key appbox.conf does not have."""
    ed = tmp / "bad-editor"
    ed.write_text("#!/bin/sh\nprintf '[Container]\\nBogusKey=1\\n' >> \"$1\"\n")
    os.chmod(ed, 0o755)
    return str(ed)


def test_refused_edit_is_kept(ctr, world_tmp):
    ctr.create("edbox")
    conf = ctr.conf("edbox")
    before = conf.read_text()
    ed = bad_editor(world_tmp)
    r = ctr.ab("edit", "edbox", env={"EDITOR": ed, "VISUAL": ""})
    assert r.returncode == 125, r.stderr
    copy = Path(f"{conf}.edit")
    assert "BogusKey" in r.stderr and str(copy) in r.stderr, r.stderr
    assert conf.read_text() == before
    assert copy.read_text().endswith("BogusKey=1\n")
    # off a terminal, the next edit does not overwrite it
    r = ctr.ab("edit", "edbox", env={"EDITOR": "true", "VISUAL": ""})
    assert r.returncode == 125 and str(copy) in r.stderr, r.stderr
    assert copy.read_text().endswith("BogusKey=1\n")
    # removed: edits go on as before
    copy.unlink()
    ok(ctr.ab("edit", "edbox", env={"EDITOR": "true", "VISUAL": ""}))
    assert conf.read_text() == before and not copy.exists()


def test_edit_again_on_a_terminal(ctr, world_tmp):
    """On a terminal a refused edit asks 'Edit again? [Y/n]'; yes opens the
    same copy, and a fixed copy replaces appbox.conf."""
    ctr.create("edbox")
    conf = ctr.conf("edbox")
    # first run adds the bad key, the second removes it again
    ed = world_tmp / "fixing-editor"
    ed.write_text("#!/bin/sh\n"
                  "if grep -q BogusKey \"$1\"; then sed -i -e '/BogusKey/d' \"$1\"; echo '# fixed' >> \"$1\"; "
                  "else printf '[Container]\\nBogusKey=1\\n' >> \"$1\"; fi\n")
    os.chmod(ed, 0o755)
    u = user_info(ctr.as_user)
    os.chown(world_tmp, u.uid, u.gid)
    master, slave = pty.openpty()
    env = user_env(ctr.as_user, dict(ctr.env, EDITOR=str(ed), VISUAL=""))
    p = subprocess.Popen(as_user_argv([ctr.appbox, "edit", "edbox"], ctr.as_user), env=env, stdin=slave,
                         stdout=subprocess.PIPE, stderr=slave, cwd="/")
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 30
    answered = False
    while p.poll() is None and time.monotonic() < deadline:
        rd, _, _ = select.select([master], [], [], 0.2)
        if rd:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        if not answered and b"Edit again? [Y/n]" in seen:
            os.write(master, b"y\n")
            answered = True
    if p.poll() is None:
        p.kill()
    p.wait(timeout=10)
    os.close(master)
    assert answered, seen
    assert p.returncode == 0, seen
    assert conf.read_text().endswith("# fixed\n")
    assert not Path(f"{conf}.edit").exists()
