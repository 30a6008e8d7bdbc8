"""Desktop files (issue 11): with a display, the host's fonts, icons and
time zone read-only under /run/host (desktop/hostfiles.c); `.desktop`
entries for containers (launcher install/remove, rm) and `export --app`,
which reads the container's entry through the container, never by
following its paths on the host.

The display is a real Xvfb started here (test_display.XServer), as root
and as the unprivileged test user."""

import hashlib
import os
import stat
from pathlib import Path

import pytest

from conftest import ok, run
from containers_support import ctr, one_line_error  # noqa: F401 (fixture)
from test_display import XServer, need, XVFB


@pytest.fixture(scope="module")
def xvfb():
    need(XVFB)
    x = XServer()
    yield x
    x.stop()


def sandbox(appbox_bin, root, args, script, as_user, env=None):
    return run([appbox_bin, "sandbox", "--root", root, *args, "--", "sh", "-c", script], as_user=as_user,
               extra_env=env or {})


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------
# the niceties


def test_display_brings_fonts_icons_and_time_zone(appbox_bin, busybox_root, xvfb, run_as):
    """--display x11: the host's font and icon directories are there,
    read-only; the time zone file is the host's and TZ names it; fontconfig
    is pointed at appbox's configuration, which keeps the root's own."""
    if not os.path.isdir("/usr/share/fonts") or not os.path.exists("/etc/localtime"):
        pytest.skip("the host has no /usr/share/fonts or /etc/localtime")
    script = ("ls /run/host/share/fonts; echo TZ=$TZ; echo FC=$FONTCONFIG_FILE; echo DD=$XDG_DATA_DIRS; "
              "md5sum /run/host/localtime; grep -c /etc/fonts/fonts.conf /run/host/fonts.conf; "
              "touch /run/host/share/fonts/appbox-x 2>&1 || echo WRITE-REFUSED; "
              "mkdir /run/host/share/fonts/appbox-d 2>&1 || echo MKDIR-REFUSED")
    out = ok(sandbox(appbox_bin, busybox_root, ["--display", "x11"], script, run_as, xvfb.env))
    lines = out.splitlines()
    for name in os.listdir("/usr/share/fonts"):
        assert name in lines, out
    assert "TZ=:/run/host/localtime" in lines, out
    assert "FC=/run/host/fonts.conf" in lines, out
    dd = [l for l in lines if l.startswith("DD=")][0][3:].split(":")
    # the root's own first, the host's after
    assert dd[:2] == ["/usr/local/share", "/usr/share"] and "/run/host/share" in dd, dd
    assert f"{md5('/etc/localtime')}  /run/host/localtime" in lines, out
    assert "WRITE-REFUSED" in lines and "MKDIR-REFUSED" in lines, out
    assert "Read-only file system" in out
    assert not os.path.exists("/usr/share/fonts/appbox-x")


def test_no_display_nothing_extra(appbox_bin, busybox_root, run_as):
    """Without a display, nothing of the niceties: no /run/host, no TZ."""
    out = ok(sandbox(appbox_bin, busybox_root, [], "ls -d /run/host 2>&1; echo TZ=$TZ FC=$FONTCONFIG_FILE", run_as))
    assert "No such file" in out and "TZ= FC=" in out, out


def test_desktop_files_no(appbox_bin, busybox_root, xvfb, run_as):
    """--desktop-files no: a display, and nothing else of the host's."""
    out = ok(sandbox(appbox_bin, busybox_root, ["--display", "x11", "--desktop-files", "no"],
                     "ls -d /run/host 2>&1; echo TZ=$TZ FC=$FONTCONFIG_FILE; echo D=$DISPLAY", run_as, xvfb.env))
    assert "No such file" in out and "TZ= FC=" in out and "D=:0" in out, out


def test_desktop_files_bad_value(appbox_bin, busybox_root, run_as):
    r = sandbox(appbox_bin, busybox_root, ["--desktop-files", "maybe"], "true", run_as)
    assert r.returncode == 2, r
    assert "--desktop-files" in r.stderr and "'maybe'" in r.stderr and "yes, no" in r.stderr, r.stderr


def test_home_fonts_and_a_planted_link(ctr, xvfb, world_tmp):
    """The caller's ~/.local/share/fonts is there; ~/.fonts, a symbolic
    link to a directory elsewhere (what a container writing the home could
    plant), is not followed.  `show` says what the niceties give."""
    fonts = ctr.home / ".local" / "share" / "fonts"
    fonts.mkdir(parents=True)
    (fonts / "mine.ttf").write_text("font")
    elsewhere = world_tmp / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret").write_text("host secret")
    os.chmod(elsewhere, 0o755)
    os.symlink(elsewhere, ctr.home / ".fonts")
    for p in (ctr.home / ".local", ctr.home / ".local" / "share", fonts, fonts / "mine.ttf"):
        os.lchown(p, ctr.user.uid, ctr.user.gid)
    os.lchown(ctr.home / ".fonts", ctr.user.uid, ctr.user.gid)
    ctr.create("gui", "--display", "x11", launcher=False)
    assert ctr.show("gui")["host_files"] is True
    assert "host files  the host's fonts" in ok(ctr.ab("show", "gui"))
    out = ok(ctr.ab("run", "gui", "++cmd", "sh", "-c",
                    "cat /run/host/user-share/fonts/mine.ttf; echo; ls /run/host; "
                    "cat /run/host/user-dot/fonts/secret 2>&1; echo $XCURSOR_PATH", env=xvfb.env))
    assert out.splitlines()[0] == "font", out
    assert "host secret" not in out and "user-dot" not in out.splitlines()[1:-1], out
    ok(ctr.ab("rm", "gui"))


def test_show_desktop_files_off(ctr):
    ctr.create("quiet", "--display", "x11", "--desktop-files", "no", launcher=False)
    assert "HostFiles=no" in ctr.conf("quiet").read_text()
    assert ctr.show("quiet")["host_files"] is False
    assert "off (--desktop-files no)" in ok(ctr.ab("show", "quiet"))
    ctr.create("plain", launcher=False)
    assert ctr.show("plain")["host_files"] is False


# --------------------------------------------------------------------------
# .desktop entries: export --app, launcher


def parse_exec(value):
    """An Exec value as a desktop environment splits it (the Desktop Entry
    Specification): the string escapes, then quoted arguments."""
    esc = {"s": " ", "n": "\n", "t": "\t", "r": "\r"}
    v, i = "", 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            v += esc.get(value[i + 1], value[i + 1])
            i += 2
        else:
            v += value[i]
            i += 1
    args, i = [], 0
    while i < len(v):
        if v[i] == " ":
            i += 1
            continue
        a = ""
        if v[i] == '"':
            i += 1
            while v[i] != '"':
                if v[i] == "\\" and v[i + 1] in '"`$\\':
                    i += 1
                a += v[i]
                i += 1
            i += 1
        else:
            while i < len(v) and v[i] != " ":
                a += v[i]
                i += 1
        args.append(a if a in ("%f", "%F", "%u", "%U") else a.replace("%%", "%"))
    return args


def entry(path):
    """The [Desktop Entry] keys of PATH."""
    keys = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.startswith("["):
            k, v = line.split("=", 1)
            keys[k] = v
    return keys


@pytest.fixture
def approot(world_tmp):
    """A busybox root with /usr/share/applications/x.desktop and its icon."""
    root = Path(make_root(world_tmp / "approot"))
    (root / "usr/share/applications").mkdir(parents=True)
    (root / "usr/share/pixmaps").mkdir(parents=True)
    (root / "usr/share/pixmaps/xapp.png").write_bytes(b"\x89PNG icon bytes")
    return root


def make_root(dest):
    from conftest import make_busybox_root
    return make_busybox_root(dest)


def write_entry(root, name, exec_, icon="xapp", extra=""):
    (root / "usr/share/applications" / f"{name}.desktop").write_text(
        f"[Desktop Entry]\nType=Application\nName=X App\nExec={exec_}\nIcon={icon}\nCategories=Utility;\n"
        f"X-Unknown=dropped\n{extra}")


def apps(ctr):
    return ctr.home / ".local/share/applications"


def test_export_app_publishes_and_removes(ctr, approot):
    """The entry of the container's app: Name with the container's, Exec
    through appbox run with every argument as it was (shell metacharacters
    quoted), %f kept, the icon copied out; --remove and rm take it away."""
    write_entry(approot, "x", r'sh -c "echo \\"hi\\"; touch /tmp/\\$HOME \\\\ `id` | cat" %f')
    ctr.create("app", base=f"dir:{approot}", launcher=False)
    out = ok(ctr.ab("export", "app", "--app", "x"))
    path = apps(ctr) / "appbox-app-x.desktop"
    assert str(path) in out
    e = entry(path)
    assert e["Name"] == "X App (app)" and e["Type"] == "Application" and e["Categories"] == "Utility;"
    assert "X-Unknown" not in e
    argv = parse_exec(e["Exec"])
    assert argv[1:] == ["run", "app", "++cmd", "sh", "-c", 'echo "hi"; touch /tmp/$HOME \\ `id` | cat', "%f"], argv
    icon = Path(e["Icon"])
    assert icon.parent == ctr.home / ".local/share/icons/appbox" and icon.read_bytes() == b"\x89PNG icon bytes"
    # the rewritten command runs the app in the container, its arguments intact
    run_argv = [a for a in argv if a != "%f"]
    r = ok(ctr.ab(*run_argv[1:4], "sh", "-c", 'echo "$0"', "a;b $c"))
    assert r.strip() == "a;b $c"
    out = ok(ctr.ab("export", "app", "--app", "x", "--remove"))
    assert not path.exists() and not icon.exists(), out
    r = ctr.ab("export", "app", "--app", "x", "--remove")
    assert r.returncode != 0 and "no exported entry for x" in r.stderr
    ok(ctr.ab("export", "app", "--app", "x.desktop"))
    assert path.exists()
    ok(ctr.ab("rm", "app"))
    assert not path.exists() and not icon.exists()


def test_export_app_link_to_host_file_reads_nothing_of_the_host(ctr, approot, world_tmp):
    """The container's entry is a symbolic link to a host file (a marker,
    /etc/shadow): it is resolved inside the container, so nothing of the
    host's is read or published."""
    marker = world_tmp / "host-marker.desktop"
    marker.write_text("[Desktop Entry]\nType=Application\nName=HOSTSECRET\nExec=hostsecret\n")
    os.chmod(marker, 0o644)
    (approot / "usr/share/applications/m.desktop").symlink_to(marker)
    (approot / "usr/share/applications/s.desktop").symlink_to("/etc/shadow")
    ctr.create("hostile", base=f"dir:{approot}", launcher=False)
    for app in ("m", "s"):
        r = ctr.ab("export", "hostile", "--app", app)
        assert r.returncode != 0, r
        assert "No such file" in r.stderr and f"hostile:/usr/share/applications/{app}.desktop" in r.stderr, r.stderr
        assert "HOSTSECRET" not in r.stdout + r.stderr
    assert not apps(ctr).exists() or not list(apps(ctr).iterdir())


def test_export_app_huge_file_refused(ctr, approot):
    big = approot / "usr/share/applications/big.desktop"
    with open(big, "wb") as f:
        f.truncate(50 * 1024 * 1024)
    ctr.create("big", base=f"dir:{approot}", launcher=False)
    r = ctr.ab("export", "big", "--app", "big")
    assert r.returncode != 0
    assert "52428800 bytes, more than the 65536 allowed" in r.stderr, r.stderr
    assert not apps(ctr).exists() or not list(apps(ctr).iterdir())


@pytest.mark.parametrize("exec_, words", [
    ("xapp --file=%f", "'%f' in the argument '--file=%f'"),
    ("xapp %x", "'%x'"),
    ('xapp "unclosed', "not closed"),
    ("", "no command"),
])
def test_export_app_exec_refused(ctr, approot, exec_, words):
    write_entry(approot, "x", exec_)
    ctr.create("bad", base=f"dir:{approot}", launcher=False)
    r = ctr.ab("export", "bad", "--app", "x")
    assert r.returncode != 0 and words in r.stderr, r.stderr
    assert "Exec" in r.stderr
    assert not (apps(ctr) / "appbox-bad-x.desktop").exists()


def test_export_app_bad_input(ctr, approot):
    ctr.create("b", base=f"dir:{approot}", launcher=False)
    for args, words in ((["--app", "../x"], "'../x' is not an application name"),
                        (["--app"], "--app: missing APP"),
                        (["--remove"], "--remove goes with --app"),
                        (["--app", "x", "f.tar"], "unexpected argument 'f.tar'")):
        r = ctr.ab("export", "b", *args)
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)
    r = ctr.ab("export", "nope", "--app", "x")
    assert r.returncode != 0 and "nope" in r.stderr


def test_launcher_menu_entry(ctr):
    """A container with a display gets appbox-NAME.desktop running its
    launcher; launcher remove and rm take it away; without a display none."""
    ctr.create("gui", "--display", "x11")
    path = apps(ctr) / "appbox-gui.desktop"
    e = entry(path)
    assert e["Name"] == "gui" and parse_exec(e["Exec"]) == [str(ctr.launcher("gui"))], e
    assert e["X-Appbox-Container"] == "gui"
    ok(ctr.ab("launcher", "remove", "gui"))
    assert not path.exists()
    ok(ctr.ab("launcher", "install", "gui"))
    assert path.exists()
    ok(ctr.ab("rm", "gui"))
    assert not path.exists()
    ctr.create("plain")
    assert not (apps(ctr) / "appbox-plain.desktop").exists()


def test_launcher_menu_entry_not_ours_kept(ctr):
    """A file of that name that is not the container's entry is never
    replaced nor removed."""
    apps(ctr).mkdir(parents=True)
    mine = apps(ctr) / "appbox-gui.desktop"
    mine.write_text("[Desktop Entry]\nName=mine\n")
    for p in (ctr.home / ".local", ctr.home / ".local/share", apps(ctr), mine):
        os.chown(p, ctr.user.uid, ctr.user.gid)
    ctr.create("gui", "--display", "x11")
    assert mine.read_text() == "[Desktop Entry]\nName=mine\n"
    ok(ctr.ab("rm", "gui"))
    assert mine.exists()


def test_launcher_menu_entry_named_after_the_run_entry(ctr, approot, xvfb):
    """launcher install: the container's own entry for its Run= command
    gives the Name and the theme icon (read inside the container, which is
    started for it); create's entry has the container's name."""
    write_entry(approot, "xlogo", "xlogo")
    ctr.create("gui", "--display", "x11", "--run", "xlogo", base=f"dir:{approot}")
    path = apps(ctr) / "appbox-gui.desktop"
    assert entry(path)["Name"] == "gui" and entry(path)["Terminal"] == "false"
    ok(ctr.ab("launcher", "install", "gui", env=xvfb.env))
    e = entry(path)
    assert e["Name"] == "X App (gui)" and e["Icon"] == "xapp", e
    assert parse_exec(e["Exec"]) == [str(ctr.launcher("gui"))]
    ok(ctr.ab("rm", "gui"))
    assert not path.exists()


def test_fontconfig_finds_a_home_font(ctr, xvfb):
    """fontconfig inside (a host-view container: the host's fc-list) finds
    a font that is only in the caller's ~/.local/share/fonts, through
    appbox's fonts.conf; the host view's own /usr is not bound again."""
    import shutil
    fonts = sorted(Path("/usr/share/fonts").rglob("*.ttf")) if os.path.isdir("/usr/share/fonts") else []
    if not shutil.which("fc-list") or not fonts:
        pytest.skip("needs fc-list and a .ttf font in /usr/share/fonts (fontconfig, fonts-dejavu-core)")
    d = ctr.home / ".local/share/fonts"
    d.mkdir(parents=True)
    shutil.copy(fonts[0], d / "AppboxOnlyHere.ttf")
    for p in (ctr.home / ".local", ctr.home / ".local/share", d, d / "AppboxOnlyHere.ttf"):
        os.chown(p, ctr.user.uid, ctr.user.gid)
    ctr.create("fc", "--display", "x11", base="host", launcher=False)
    out = ok(ctr.ab("run", "fc", "++cmd", "sh", "-c", "fc-list; echo ---; ls /run/host", env=xvfb.env))
    fc, listing = out.split("---\n")
    assert "/run/host/user-share/fonts/AppboxOnlyHere.ttf" in fc, fc
    assert set(listing.split()) == {"fonts.conf", "user-share"}, listing


def test_export_app_never_claims_url_schemes(ctr, approot):
    """A container's entry that registers for https: and mailto: links is
    published with its file types only: it never becomes the handler that
    the user's every URL is given to."""
    write_entry(approot, "web", "webapp %u",
                extra="MimeType=x-scheme-handler/https;text/plain;x-scheme-handler/mailto;image/png;\n")
    ctr.create("webc", base=f"dir:{approot}", launcher=False)
    ok(ctr.ab("export", "webc", "--app", "web"))
    e = entry(apps(ctr) / "appbox-webc-web.desktop")
    assert e["MimeType"] == "text/plain;image/png;", e
