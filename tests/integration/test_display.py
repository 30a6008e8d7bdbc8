"""--display (issue 11): the container's apps on a real X server (Xvfb), a
nested one (Xephyr) or a Wayland compositor (weston, headless), as root and
as an unprivileged user.

x11: an untrusted SECURITY cookie: the window shows on the host's screen,
but from inside XTEST is hidden and the root window cannot be read; the
cookie dies with the container.  x11-trusted: both work.  private: an
Xephyr window that comes and goes with the container.  wayland: the
compositor's socket, nothing of X.  The servers are started by the tests
on free display numbers and private runtime directories, and stopped by
pid."""

import os
import secrets
import shutil
import signal
import stat
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (descendants, ok, pid_alive, popen, require_root, run, run_isolated, user_info,
                      wait_until)
from containers_support import ctr  # noqa: F401 (fixture)

XVFB = "/usr/bin/Xvfb"
XEPHYR = "/usr/bin/Xephyr"
WESTON = "/usr/bin/weston"
TOOLS = ["xdpyinfo", "xwd", "xwininfo", "xlogo", "xauth"]

RED = (255, 0, 0)
# seconds the X server keeps an untrusted cookie that no client uses
# (appbox_x11auth.c's REVOKE_AFTER)
REVOKE_AFTER = 10


def need(*paths):
    for p in paths:
        if not (os.path.exists(p) or shutil.which(p)):
            pytest.skip(f"{p} is not installed (scripts/deps.sh installs it)")


def free_display(start=90):
    for n in range(start, 600):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            return n
    pytest.skip("no free X display number")


class XServer:
    """Xvfb on a free display, with an auth file (0644, in a directory every
    test user can enter) holding its one cookie."""

    def __init__(self, extra=()):
        need(XVFB, *TOOLS)
        self.dir = Path(tempfile.mkdtemp(prefix="appbox-display-"))
        os.chmod(self.dir, 0o755)
        self.auth = self.dir / "Xauthority"
        self.number = free_display()
        self.display = f":{self.number}"
        cookie = secrets.token_hex(16)
        subprocess.run(["xauth", "-f", str(self.auth), "add", self.display, ".", cookie], check=True,
                       capture_output=True)
        os.chmod(self.auth, 0o644)
        # -displayfd: it says its number once it accepts connections;
        # -noreset: as a desktop's server, which always has clients (its
        # window manager), it does not reset when the last one leaves: a
        # reset refuses whoever connects meanwhile (the host's xdpyinfo
        # right after a container's last client), and drops the untrusted
        # cookies that appbox must revoke itself
        r, w = os.pipe()
        self.proc = subprocess.Popen([XVFB, self.display, "-auth", str(self.auth), "-nolisten", "tcp", "-noreset",
                                      "-screen", "0", "800x600x24", "-displayfd", str(w), *extra],
                                     pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as f:
            said = f.readline().strip()
        # and once it has read its -auth file (a moment later)
        if said != str(self.number) or not wait_until(lambda: self.host("xdpyinfo").returncode == 0, timeout=10):
            self.stop()
            pytest.skip(f"Xvfb did not start on {self.display}")

    @property
    def env(self):
        return {"DISPLAY": self.display, "XAUTHORITY": str(self.auth)}

    def host(self, *cmd, auth=None):
        env = dict(os.environ, DISPLAY=self.display, XAUTHORITY=str(auth or self.auth))
        return subprocess.run(cmd, env=env, capture_output=True, timeout=30)

    def windows(self):
        return self.host("xwininfo", "-root", "-tree").stdout.decode(errors="replace")

    def pixel(self, x, y):
        """(r, g, b) of the host's screen at X, Y, from xwd -root."""
        r = self.host("xwd", "-root", "-silent")
        assert r.returncode == 0, r.stderr
        return xwd_pixel(r.stdout, x, y)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def as_host_cookie(inside, display, out):
    """The container's cookie file INSIDE (made for its display :0, any host
    name) as a cookie of the host's DISPLAY, in OUT: a host client given
    INSIDE as it is would look for :N's cookie, find none and fail whether
    or not the cookie is still valid."""
    r = subprocess.run(["xauth", "-f", str(inside), "list"], capture_output=True, text=True, check=True)
    lines = [l for l in r.stdout.splitlines() if l]
    assert len(lines) == 1 and "MIT-MAGIC-COOKIE-1" in lines[0], r.stdout
    subprocess.run(["xauth", "-f", str(out), "add", display, "MIT-MAGIC-COOKIE-1", lines[0].split()[-1]],
                   capture_output=True, check=True)
    return out


def xwd_pixel(data, x, y):
    """A pixel of an XWD dump (ZPixmap, 24 or 32 bits per pixel)."""
    h = struct.unpack(">25I", data[:100])
    header_size, bpp, bpl = h[0], h[11], h[12]
    byte_order, red_mask, green_mask, blue_mask, ncolors = h[7], h[14], h[15], h[16], h[19]
    off = header_size + ncolors * 12 + y * bpl + x * (bpp // 8)
    raw = data[off:off + bpp // 8]
    v = int.from_bytes(raw, "little" if byte_order == 0 else "big")

    def chan(mask):
        shift = (mask & -mask).bit_length() - 1
        return ((v & mask) >> shift) * 255 // (mask >> shift)
    return chan(red_mask), chan(green_mask), chan(blue_mask)


@pytest.fixture(scope="module")
def xvfb():
    require_root("the display tests start X servers for the test users")
    x = XServer()
    yield x
    x.stop()


@pytest.fixture
def shared(world_tmp):
    """A directory the container (any of its ids) may write to."""
    os.chmod(world_tmp, 0o1777)
    return world_tmp


def sandbox_x(appbox_bin, x, args, as_user, **kw):
    return run([appbox_bin, "sandbox", *args], as_user=as_user, extra_env=x.env, **kw)


def display_dirs(as_user):
    """The cookie directories in AS_USER's runtime dir."""
    u = user_info(as_user)
    rt = Path("/run/appbox") if u.uid == 0 else Path(f"/tmp/appbox-{u.uid}")
    if os.path.isdir(f"/run/user/{u.uid}") and u.uid:
        rt = Path(f"/run/user/{u.uid}/appbox")
    return [p for p in rt.iterdir() if p.name.startswith(".display-")] if rt.is_dir() else []


def no_display_dirs(as_user):
    """The runtime dir has no cookie directory of ours left."""
    return not display_dirs(as_user)


# --------------------------------------------------------------------------
# x11: an untrusted cookie


def test_x11_window_shows_on_the_host(appbox_bin, xvfb, run_as):
    """An X client inside draws a red window; a screenshot taken on the host
    shows its pixels."""
    title = f"appbox-red-{run_as}"
    p = popen([appbox_bin, "sandbox", "--display", "x11", "--", "xlogo", "-geometry", "200x200+40+40",
               "-bg", "red", "-fg", "red", "-title", title], as_user=run_as, extra_env=xvfb.env,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: title in xvfb.windows(), timeout=15), p.stderr.read1() if p.poll() else ""
        assert wait_until(lambda: xvfb.pixel(140, 140) == RED, timeout=10), xvfb.pixel(140, 140)
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=15)
    assert wait_until(lambda: title not in xvfb.windows(), timeout=10)
    assert no_display_dirs(run_as)


def test_x11_untrusted_hides_xtest_and_the_screen(appbox_bin, xvfb, run_as):
    script = ("echo DISPLAY=$DISPLAY XAUTHORITY=$XAUTHORITY; ls /tmp/.X11-unix; "
              "xdpyinfo -queryExtensions | grep -c XTEST; "
              "xwd -root -silent >/dev/null 2>&1; echo xwd=$?")
    out = ok(sandbox_x(appbox_bin, xvfb, ["--display", "x11", "--", "sh", "-c", script], run_as))
    lines = out.splitlines()
    assert lines[0] == "DISPLAY=:0 XAUTHORITY=/run/appbox/Xauthority", out
    assert lines[1] == "X0", out                     # the one socket, as :0
    assert lines[2] == "0", f"XTEST visible to an untrusted client: {out}"
    assert lines[3] != "xwd=0", f"the root window was readable: {out}"
    # the same server, the user's own cookie: both there
    host = xvfb.host("xdpyinfo", "-queryExtensions").stdout.decode()
    assert "XTEST" in host


def test_x11_trusted_has_xtest_and_the_screen(appbox_bin, xvfb, run_as):
    script = ("xdpyinfo -queryExtensions | grep -c XTEST; xwd -root -silent >/dev/null 2>&1; echo xwd=$?")
    out = ok(sandbox_x(appbox_bin, xvfb, ["--display", "x11-trusted", "--", "sh", "-c", script], run_as))
    assert out.split() == ["1", "xwd=0"], out


def test_x11_cookie_revoked_after_stop(appbox_bin, xvfb, run_as, shared):
    """The cookie works while the container runs and not after."""
    saved = shared / "cookie"
    script = (f"cp /run/appbox/Xauthority {saved} && XAUTHORITY={saved} xdpyinfo >/dev/null && echo works")
    out = ok(sandbox_x(appbox_bin, xvfb, ["--bind", str(shared), "--display", "x11", "--", "sh", "-c", script],
                       run_as))
    assert out.strip() == "works"
    assert saved.stat().st_size > 0
    # as the host display's cookie: else libX11 finds no cookie for :N and
    # fails for that reason alone
    r = xvfb.host("xdpyinfo", auth=as_host_cookie(saved, xvfb.display, shared / "host-cookie"))
    assert r.returncode != 0, "the container's cookie still opens the display after it stopped"
    assert b"Authorization required" in r.stderr or b"No protocol specified" in r.stderr or \
        b"Invalid MIT-MAGIC-COOKIE-1" in r.stderr, r.stderr
    # and the user's own still does
    assert xvfb.host("xdpyinfo").returncode == 0
    # no helper holds a connection any more
    assert not [l for l in run(["ps", "-eo", "args"]).stdout.splitlines() if "appbox-x11auth" in l and
                str(xvfb.display) in l]


def test_x11_cookie_revoked_after_a_killed_sandbox(appbox_bin, xvfb, run_as, shared):
    """SIGKILLed appbox: its appbox-x11auth dies with it without revoking;
    the server does, once no client uses the cookie (its own timer)."""
    saved = shared / "cookie"
    before = set(display_dirs(run_as))
    p = popen([appbox_bin, "sandbox", "--bind", str(shared), "--display", "x11", "--", "sh", "-c",
               f"cp /run/appbox/Xauthority {saved} && echo READY && exec sleep 600"], as_user=run_as,
              extra_env=xvfb.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "READY", p.stderr.read()
        cookie = as_host_cookie(saved, xvfb.display, shared / "host-cookie")
        assert xvfb.host("xdpyinfo", auth=cookie).returncode == 0
        helpers = [q for q in descendants(p.pid) if comm(q) == "appbox-x11auth"]
        assert helpers, "no appbox-x11auth among the sandbox's processes"
    finally:
        p.kill()
        p.communicate(timeout=15)
    assert wait_until(lambda: not any(pid_alive(q) for q in helpers), timeout=10)
    # every try with the cookie uses it, and restarts the server's timer:
    # tries further apart than the timer (REVOKE_AFTER in appbox_x11auth.c)
    assert wait_until(lambda: xvfb.host("xdpyinfo", auth=cookie).returncode != 0, timeout=60,
                      interval=REVOKE_AFTER + 2), "the cookie of a killed sandbox still opens the display"
    assert xvfb.host("xdpyinfo").returncode == 0
    # a killed sandbox cannot remove its cookie's directory (with a dead
    # cookie in it): the next sandbox with a display does
    left = set(display_dirs(run_as)) - before
    assert left, "the killed sandbox's cookie directory is not where the test looks"
    ok(run([appbox_bin, "sandbox", "--display", "x11", "--", "true"], as_user=run_as, extra_env=xvfb.env))
    assert not (set(display_dirs(run_as)) & left), "the killed sandbox's cookie directory was left"


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def test_x11_only_the_socket(appbox_bin, xvfb, run_as):
    """Nothing of the host's /tmp/.X11-unix but the one socket, and nothing of
    the user's own Xauthority inside."""
    out = ok(sandbox_x(appbox_bin, xvfb, ["--display", "x11", "--", "sh", "-c",
                                          f"ls -a /tmp/.X11-unix; test -e {xvfb.auth} && echo LEAK; true"],
                       run_as))
    assert out.split() == [".", "..", "X0"], out


# --------------------------------------------------------------------------
# named containers: sessions get the same display; show tells the mode


def test_named_container_sessions_and_show(ctr, xvfb):
    ctr.create("gui", "--display", "x11", base="host", launcher=False)
    assert "Display=x11" in ctr.conf("gui").read_text()
    show = ctr.show("gui")
    assert show["display"] == "x11"
    ok(ctr.ab("start", "gui", env=xvfb.env))
    try:
        out = ok(ctr.ab("exec", "gui", "sh", "-c", "echo $DISPLAY; xdpyinfo -queryExtensions | grep -c XTEST; true",
                        env=xvfb.env))
        assert out.split() == [":0", "0"], out
        # a run session with an environment of its own still gets it
        out = ok(ctr.ab("run", "gui", "++cmd", "sh", "-c", "xdpyinfo >/dev/null && echo $XAUTHORITY"))
        assert out.strip() == "/run/appbox/Xauthority"
        text = ok(ctr.ab("show", "gui"))
        assert "untrusted" in text
    finally:
        ok(ctr.ab("stop", "gui"))
    assert not [p for p in ctr.runtime.iterdir() if p.name.startswith(".display-")]


def test_named_container_trusted_show(ctr):
    ctr.create("tgui", "--display", "x11-trusted", base="host", launcher=False)
    assert "TRUSTED" in ok(ctr.ab("show", "tgui"))
    ctr.create("agui", "--gui", base="host", launcher=False)
    assert "Display=auto" in ctr.conf("agui").read_text()
    ctr.create("pgui", "--gui-private", "--display-size", "640x400", base="host", launcher=False)
    conf = ctr.conf("pgui").read_text()
    assert "Display=private" in conf and "DisplaySize=640x400" in conf
    assert ctr.show("pgui")["display_size"] == "640x400"


def test_run_override_and_gui_spelling(ctr, xvfb):
    """run ++display / ++gui on a container made without a display: for
    that start only."""
    ctr.create("plain", base="host", launcher=False)
    script = "echo ${DISPLAY:-none}; xdpyinfo -queryExtensions 2>/dev/null | grep -c XTEST; true"
    out = ok(ctr.ab("run", "plain", "++display", "x11-trusted", "++cmd", "sh", "-c", script, env=xvfb.env))
    assert out.split() == [":0", "1"], out
    out = ok(ctr.ab("run", "plain", "++gui", "++cmd", "sh", "-c", script, env=xvfb.env))
    assert out.split() == [":0", "0"], out      # --gui without Wayland: x11, untrusted
    out = ok(ctr.ab("run", "plain", "++cmd", "sh", "-c", script, env=xvfb.env))
    assert out.split() == ["none", "0"], out


def test_named_private_window_has_the_name(ctr, xvfb):
    need(XEPHYR)
    ctr.create("pbox", "--gui-private", "--display-size", "320x240", base="host", launcher=False)
    ok(ctr.ab("start", "pbox", env=xvfb.env))
    try:
        wins = [l for l in xvfb.windows().splitlines() if "(appbox)" in l]
        assert len(wins) == 1 and '"pbox (appbox)"' in wins[0] and "320x240" in wins[0], wins
        out = ok(ctr.ab("exec", "pbox", "sh", "-c", "xdpyinfo | grep dimensions"))
        assert "320x240 pixels" in out
    finally:
        ok(ctr.ab("stop", "pbox"))
    assert wait_until(lambda: "(appbox)" not in xvfb.windows(), timeout=10)


# --------------------------------------------------------------------------
# private: a nested Xephyr


def test_private_xephyr_comes_and_goes(appbox_bin, xvfb, run_as):
    need(XEPHYR)
    script = ("echo $DISPLAY; ls /tmp/.X11-unix; xdpyinfo | grep dimensions; "
              "xwd -root -silent >/dev/null 2>/tmp/xwd.err && echo xwd-ok || sed 's/^/xwd: /' /tmp/xwd.err; "
              "echo READY; read x")
    p = popen([appbox_bin, "sandbox", "--display", "private", "--display-size", "640x400", "--",
               "sh", "-c", script], as_user=run_as, extra_env=xvfb.env, stdin=subprocess.PIPE,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while "READY" not in lines:
            line = p.stdout.readline()
            assert line, f"ended early: {lines} {p.stderr.read()}"
            lines.append(line.strip())
        assert lines[0] == ":0" and lines[1] == "X0", lines
        # Xephyr's screen, not the host's 800x600
        assert "640x400 pixels" in lines[2], lines
        # the nested server is the container's own: nothing of the host's to hide
        assert "xwd-ok" in lines, lines
        wins = [l for l in xvfb.windows().splitlines() if "(appbox)" in l]
        assert len(wins) == 1 and "sandbox (appbox)" in wins[0] and "640x400" in wins[0], wins
        xephyrs = [l for l in run(["ps", "-eo", "pid,args"]).stdout.splitlines() if XEPHYR in l]
        assert len([l for l in xephyrs if "-title" in l and "sandbox (appbox)" in l]) >= 1
    finally:
        p.stdin.write("\n")
        p.stdin.close()
        p.wait(timeout=15)
    assert p.returncode == 0
    assert wait_until(lambda: "(appbox)" not in xvfb.windows(), timeout=10), xvfb.windows()
    assert no_display_dirs(run_as)


# --------------------------------------------------------------------------
# wayland


@pytest.fixture
def weston(run_as):
    need(WESTON, "wayland-info")
    u = user_info(run_as)
    d = Path(tempfile.mkdtemp(prefix="appbox-wayland-"))
    os.chown(d, u.uid, u.gid)
    os.chmod(d, 0o700)
    name = f"wayland-{os.getpid()}"
    p = popen([WESTON, "--backend=headless-backend.so", f"--socket={name}", "--idle-time=0"], as_user=run_as,
              extra_env={"XDG_RUNTIME_DIR": str(d)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not wait_until(lambda: (d / name).exists(), timeout=15):
        p.kill()
        pytest.skip(f"weston did not start: {p.stderr.read()!r}")
    yield {"XDG_RUNTIME_DIR": str(d), "WAYLAND_DISPLAY": name}
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    shutil.rmtree(d, ignore_errors=True)


def test_wayland_info_inside(appbox_bin, weston, run_as):
    script = ("echo $WAYLAND_DISPLAY $XDG_RUNTIME_DIR ${DISPLAY:-nodisplay}; "
              "test -e /tmp/.X11-unix && echo X-SOCKETS; wayland-info >/dev/null && echo wayland-ok")
    # --gui picks wayland in a Wayland session (DISPLAY is set as well)
    r = run([appbox_bin, "sandbox", "--gui", "--", "sh", "-c", script], as_user=run_as,
            extra_env={**weston, "DISPLAY": ":9999"})
    out = ok(r).splitlines()
    uid = user_info(run_as).uid
    assert out == [f"wayland-0 /run/user/{uid} nodisplay", "wayland-ok"], out


# --------------------------------------------------------------------------
# bad input: a clear message, nothing left


def check_refused(appbox_bin, args, as_user, env, *words, code=None, keep=()):
    rc, out, err, report = run_isolated([appbox_bin, "sandbox", *args, "--", "true"], as_user, keep=keep,
                                        extra_env=env)
    assert rc != 0, f"accepted: {args}"
    if code is not None:
        assert rc == code, (rc, err)
    assert out == ""
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"
    assert report == "", f"left behind:\n{report}"
    return err


@pytest.mark.parametrize("args,words", [
    (["--display", "bogus"], ["--display", "'bogus'", "x11-trusted", "private"]),
    (["--display-size", "10x10"], ["--display-size", "'10x10'", "WIDTHxHEIGHT"]),
    (["--display-size", "800"], ["--display-size", "'800'"]),
    (["--gui=yes"], ["--gui", "takes no value"]),
], ids=["mode", "small", "no-height", "gui-value"])
def test_bad_values(appbox_bin, run_as, args, words):
    require_root()
    check_refused(appbox_bin, args, run_as, {}, *words, code=2)


def test_x11_without_display(appbox_bin, run_as):
    require_root()
    check_refused(appbox_bin, ["--display", "x11"], run_as, {}, "--display x11", "DISPLAY is not set", code=2)


def test_x11_with_network_host(appbox_bin, xvfb, run_as):
    err = check_refused(appbox_bin, ["--display", "x11", "--network", "host"], run_as, xvfb.env,
                        "--network host", "abstract", "x11-trusted", code=2, keep=[str(xvfb.dir)])
    assert len(err.splitlines()) == 1
    # --gui resolves to x11 here: refused the same way
    check_refused(appbox_bin, ["--gui", "--network", "host"], run_as, xvfb.env, "--network host", code=2,
                  keep=[str(xvfb.dir)])


def test_x11_trusted_with_network_host_runs(appbox_bin, xvfb, run_as):
    out = ok(sandbox_x(appbox_bin, xvfb, ["--display", "x11-trusted", "--network", "host", "--", "sh", "-c",
                                          "xdpyinfo >/dev/null && echo ok"], run_as))
    assert out.strip() == "ok"


def test_x11_remote_display_refused(appbox_bin, run_as):
    require_root()
    check_refused(appbox_bin, ["--display", "x11"], run_as, {"DISPLAY": "localhost:10.0"}, "not a local display",
                  code=2)


def test_server_without_security_refused(appbox_bin, run_as):
    """Xvfb -extension SECURITY: no untrusted cookie can be made; the message
    points at private and x11-trusted, and nothing is left (no helper, no
    cookie directory)."""
    require_root()
    x = XServer(extra=("-extension", "SECURITY"))
    try:
        if "SECURITY" in x.host("xdpyinfo", "-queryExtensions").stdout.decode():
            pytest.skip("this Xvfb cannot turn SECURITY off")
        r = sandbox_x(appbox_bin, x, ["--display", "x11", "--", "true"], run_as)
        assert r.returncode != 0
        assert "SECURITY" in r.stderr and "--display private" in r.stderr and "x11-trusted" in r.stderr, r.stderr
        assert r.stdout == ""
        assert no_display_dirs(run_as)
        assert not [l for l in run(["ps", "-eo", "args"]).stdout.splitlines()
                    if "appbox-x11auth" in l and x.display in l]
    finally:
        x.stop()
