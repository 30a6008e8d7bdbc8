"""Seed 000 end to end (issue 11): "run an untrusted multimedia application
on Linux" with its window on the user's X display and its sound in the
user's speakers.  The seed's manual steps (bootstrap a root, bind
/tmp/.X11-unix and /dev/snd, grant the cgroup device permission) are one
command line:

    appbox create NAME --base debian:bookworm --packages x11-apps,xbitmaps,pulseaudio-utils \
        --display x11 --sound --run "..."

and the app is started from its launcher ~/.local/bin/NAME.  Against a real
Xvfb (the container gets an untrusted cookie) and a real PulseAudio with a
null sink (the container gets appbox's playback-only proxy), as root and as
the test user: the app plays a tone (recorded on the host from the sink's
monitor) and then opens a solid red window (xlogo with red on red), which a
host-side `xwd -root` screenshot shows.

Bootstraps debian:bookworm once per identity (a minute or two) and installs
with apt from deb.debian.org: marked slow, deselect with -m "not slow"."""

import json
import math
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import wave
from pathlib import Path

import pytest

from conftest import ok, popen, require_root, run, store_env, user_info, wait_until
from test_display import RED, XServer, XVFB, TOOLS as X_TOOLS, as_host_cookie
from test_sound import PULSEAUDIO, Pulse, record_while, rms

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("mmdebstrap") is None,
                       reason="mmdebstrap is not installed (apt-get install mmdebstrap)"),
    pytest.mark.skipif(not os.path.exists(XVFB) or not all(shutil.which(t) for t in X_TOOLS),
                       reason=f"needs Xvfb and {', '.join(X_TOOLS)} (scripts/deps.sh installs them)"),
    pytest.mark.skipif(not (PULSEAUDIO and all(shutil.which(t) for t in ("parec", "pactl"))),
                       reason="needs pulseaudio and pulseaudio-utils (scripts/deps.sh installs them)"),
]

BASE = "debian:bookworm"
# x11-apps for xlogo (a window of one colour with -fg and -bg the same),
# pulseaudio-utils for paplay: the smallest pair that draws and plays;
# xbitmaps for xlogo's icon (without it xlogo warns, and the test wants a
# quiet app to see that nothing of appbox's set-up makes it complain)
PACKAGES = "x11-apps,xbitmaps,pulseaudio-utils"
CREATE_TIMEOUT = 900
TITLE = "seed000-red"
# the window: 200x200 at +40+40 on Xvfb's 800x600 screen; (140, 140) is its middle
GEOMETRY = "200x200+40+40"
PROBE = (140, 140)


class Store:
    """A data directory, runtime directory and home of the caller's; what
    test_sound's Pulse needs (as_user, home)."""

    def __init__(self, as_user, appbox, top, tun):
        self.as_user = as_user
        self.appbox = appbox
        self.tun = tun
        u = user_info(as_user)
        self.top = top / as_user
        for d in ("data", "run", "home", "tmp", "xdg"):
            (self.top / d).mkdir(parents=True)
        subprocess.run(["chown", "-R", f"{u.uid}:{u.gid}", str(self.top)], check=True)
        os.chmod(self.top, 0o755)
        os.chmod(self.top / "run", 0o700)
        os.chmod(self.top / "xdg", 0o700)
        os.chmod(self.top / "tmp", 0o1777)
        self.data, self.runtime, self.home = self.top / "data", self.top / "run", self.top / "home"
        self.xdg = self.top / "xdg"

    def env(self, extra=None):
        return {**store_env(self.data, self.runtime, self.home), "TMPDIR": str(self.top / "tmp"), **(extra or {})}

    def ab(self, *args, env=None, timeout=120, **kw):
        return run([self.appbox, *args], as_user=self.as_user, extra_env=self.env(env), timeout=timeout,
                   tun=self.tun, **kw)

    def conf(self, name):
        return self.data / name / "appbox.conf"


@pytest.fixture(scope="module")
def xvfb():
    require_root("the test starts an X server for the test users")
    x = XServer()
    yield x
    x.stop()


@pytest.fixture
def store(appbox_bin, run_as, test_users, tun_node):
    top = Path(tempfile.mkdtemp(prefix="appbox-seed000-"))
    os.chmod(top, 0o755)
    s = Store(run_as, appbox_bin, top, tun_node)
    yield s
    for c in json.loads(s.ab("list", "--json").stdout or "[]"):
        s.ab("rm", "--force", c["name"])
    # a rootless bootstrap leaves files owned by subordinate ids
    subprocess.run(["rm", "-rf", "--one-file-system", str(top)], capture_output=True)
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def pulse(store):
    p = Pulse(store, store.xdg)
    p.start()
    yield p
    p.stop()


@pytest.fixture
def tone(store):
    """Two seconds of 440 Hz (test_sound's), readable by any id."""
    path = store.top / "tone.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * i / 44100)))
                               for i in range(44100 * 2)))
    os.chmod(path, 0o644)
    return path


def test_seed000_debian_app_window_and_tone(store, xvfb, pulse, tone):
    env = {**xvfb.env, **pulse.env, "HOME": str(store.home)}
    # the app: a tone, and once it has played in full, the red window
    cmd = (f"sh -c 'paplay /tone.wav && exec xlogo -geometry {GEOMETRY} -bg red -fg red -title {TITLE}'")
    r = store.ab("create", "seed", "--base", BASE, "--packages", PACKAGES, "--display", "x11", "--sound",
                 "--ro-bind", f"{tone}:/tone.wav", "--run", cmd, env=env, timeout=CREATE_TIMEOUT)
    ok(r)
    conf = store.conf("seed").read_text()
    assert "Display=x11" in conf and "Sound=yes" in conf, conf
    launcher = store.home / ".local/bin/seed"
    assert launcher.is_file() and os.access(launcher, os.X_OK)

    app = {}
    inside, cookie = store.top / "inside-cookie", store.top / "cookie"

    def start_app():
        app["p"] = popen([str(launcher)], as_user=store.as_user, env=_user_env(store, env),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, tun=store.tun)
        p = app["p"]
        # the window shows only after paplay has played the whole tone
        shown = wait_until(lambda: p.poll() is not None or TITLE in xvfb.windows(), timeout=120, interval=0.2)
        assert shown and p.poll() is None, \
            f"the app ended before its window showed (exit {p.poll()}): {p.stderr.read().decode(errors='replace')}"

    try:
        _, raw = record_while(pulse, store.top, start_app)
        level = rms(raw)
        assert level > 2000, f"the tone did not reach the host's sink (RMS {level:.0f} of {len(raw)} bytes)"
        # a screenshot taken on the host shows the window's pixels
        assert wait_until(lambda: xvfb.pixel(*PROBE) == RED, timeout=20), xvfb.pixel(*PROBE)
        # the app saw only what appbox gave it: the one socket, the proxy
        out = ok(store.ab("exec", "seed", "--", "sh", "-c",
                          ". /etc/os-release; echo $VERSION_CODENAME $DISPLAY $XAUTHORITY $PULSE_SERVER; "
                          "ls -A /tmp/.X11-unix /run/appbox/sound", env=env))
        assert out.split() == ["bookworm", ":0", "/run/appbox/Xauthority", "unix:/run/appbox/sound/native",
                               "/run/appbox/sound:", "native", "/tmp/.X11-unix:", "X0"], out
        # its cookie, to try after the stop
        r = store.ab("exec", "seed", "--", "cat", "/run/appbox/Xauthority", env=env, text=False)
        assert r.returncode == 0 and r.stdout, r.stderr
        inside.write_bytes(r.stdout)
        as_host_cookie(inside, xvfb.display, cookie)
        assert xvfb.host("xdpyinfo", auth=cookie).returncode == 0
    finally:
        p = app.get("p")
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                app["out"] = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                app["out"] = p.communicate()
        store.ab("stop", "seed", env=env)
    assert wait_until(lambda: TITLE not in xvfb.windows(), timeout=15), xvfb.windows()
    # nothing of the Debian root complained (no locale, fontconfig, X
    # authorization or PulseAudio cookie warnings): xlogo and paplay were quiet
    out, err = app["out"]
    assert out == b"" and err == b"", app["out"]
    # stopped: the cookie is revoked, its directory and the proxy's are gone
    assert xvfb.host("xdpyinfo", auth=cookie).returncode != 0, "the cookie still opens the display"
    assert not [p.name for p in store.runtime.iterdir() if p.name.startswith(".display-")]
    assert not (store.runtime / "seed/sound").exists()


def _user_env(store, extra):
    from conftest import user_env
    return user_env(store.as_user, store.env(extra))
