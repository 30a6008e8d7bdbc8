"""Sound (issue 11): --sound and --microphone against a real PulseAudio.

Each test starts its own PulseAudio as the caller under test (root, and the
unprivileged abtest), with a private XDG_RUNTIME_DIR and HOME, one null sink
`t` and the native protocol on its socket; the host side records the sink's
monitor with parec.  Inside, paplay plays a generated tone through appbox's
proxy; recording is refused unless --microphone yes.
"""

import math
import os
import shutil
import signal
import struct
import subprocess
import time
import wave

import pytest

from conftest import ok, pid_alive, popen, run, user_info, wait_until
from containers_support import ctr, one_line_error  # noqa: F401 (fixture)

PULSEAUDIO = shutil.which("pulseaudio")
TOOLS = all(shutil.which(t) for t in ("paplay", "parec", "pactl"))

pytestmark = pytest.mark.skipif(not (PULSEAUDIO and TOOLS),
                                reason="needs pulseaudio and pulseaudio-utils (scripts/deps.sh installs them)")


class Pulse:
    """A PulseAudio of the caller's: its runtime dir, its env, its pid."""

    def __init__(self, store, rt):
        self.store = store
        self.rt = rt
        self.proc = None

    @property
    def env(self):
        return {"XDG_RUNTIME_DIR": str(self.rt), "HOME": str(self.store.home)}

    def pactl(self, *args):
        return run(["pactl", *args], as_user=self.store.as_user, extra_env=self.env)

    def modules(self):
        return ok(self.pactl("list", "short", "modules"))

    def start(self):
        self.proc = popen([PULSEAUDIO, "--daemonize=no", "--system=no", "--exit-idle-time=-1", "-n",
                           "--disallow-exit", "--disallow-module-loading=no", "--use-pid-file=no",
                           "--load=module-null-sink sink_name=t", "--load=module-native-protocol-unix"],
                          as_user=self.store.as_user, extra_env=self.env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
        up = wait_until(lambda: self.proc.poll() is None and self.pactl("info").returncode == 0, timeout=20)
        if not up:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
            pytest.fail(f"PulseAudio did not come up: {err}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def pulse(ctr, world_tmp):
    u = user_info(ctr.as_user)
    rt = world_tmp / "xdg"
    rt.mkdir()
    os.chown(rt, u.uid, u.gid)
    os.chmod(rt, 0o700)
    p = Pulse(ctr, rt)
    p.start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def tone(world_tmp):
    """Two seconds of 440 Hz at a third of full scale, as a WAV anyone may read."""
    path = world_tmp / "tone.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * i / 44100)))
                               for i in range(44100 * 2)))
    os.chmod(path, 0o644)
    return path


def rms(raw):
    n = len(raw) // 2
    if n == 0:
        return 0.0
    s = struct.unpack(f"<{n}h", raw[: n * 2])
    return math.sqrt(sum(x * x for x in s) / n)


def record_while(pulse, world_tmp, fn):
    """Record the null sink's monitor on the host while FN() runs; the raw
    samples (s16le mono)."""
    out = world_tmp / "rec.raw"
    with open(out, "wb") as f:
        os.chmod(out, 0o666)
        rec = popen(["parec", "--raw", "--format=s16le", "--channels=1", "--rate=44100", "--latency-msec=20",
                     "-d", "t.monitor"], as_user=pulse.store.as_user, extra_env=pulse.env, stdout=f,
                    stderr=subprocess.PIPE)
        try:
            # the recording is running when the server lists its stream
            assert wait_until(lambda: ok(pulse.pactl("list", "short", "source-outputs")).strip() != "",
                              timeout=10), "the host's parec did not start recording"
            result = fn()
            # what the sink played is in the monitor once a few more
            # fragments have come through
            size = out.stat().st_size
            wait_until(lambda: out.stat().st_size > size + 44100, timeout=5)
        finally:
            rec.send_signal(signal.SIGTERM)
            rec.wait(timeout=10)
    return result, out.read_bytes()


def sandbox(pulse, *args, **kw):
    return pulse.store.ab("sandbox", *args, env=pulse.env, **kw)


def test_sandbox_plays_into_the_host_server(pulse, tone, world_tmp):
    r, raw = record_while(pulse, world_tmp, lambda: sandbox(
        pulse, "--sound", "--ro-bind", f"{tone}:/tone.wav", "--", "paplay", "/tone.wav", timeout=60))
    ok(r)
    level = rms(raw)
    assert level > 2000, f"the tone did not reach the host's sink (RMS {level:.0f} of {len(raw)} bytes)"


def test_microphone_no_refuses_recording_and_server_control(pulse, tone):
    before = pulse.modules()
    r = sandbox(pulse, "--sound", "pulseaudio", "--ro-bind", f"{tone}:/tone.wav", "--", "sh", "-c",
                "parec --raw -d t.monitor > /dev/null; echo parec=$?; "
                "pactl load-module module-null-sink sink_name=evil; echo load=$?; "
                "pactl list short clients; echo clients=$?; "
                "pactl upload-sample /tone.wav evil-sample; echo upload=$?; "
                "pactl info | grep -c 'Server Protocol'")
    ok(r)
    out = r.stdout
    assert "parec=1" in out and "load=1" in out and "clients=1" in out, out
    # a sample would outlive the container in the user's server
    assert "upload=1" in out, out
    assert r.stdout.strip().endswith("1"), out   # pactl info works: the proxy passes what a player needs
    assert r.stderr.count("Access denied") >= 3, r.stderr
    # nothing of the container's reached the server: no module loaded, no sample
    assert pulse.modules() == before
    assert "evil-sample" not in ok(pulse.pactl("list", "short", "samples"))


def test_microphone_yes_records(pulse):
    r = sandbox(pulse, "--sound", "--microphone", "yes", "--", "sh", "-c",
                "parec --raw --latency-msec=20 -d t.monitor | head -c 8192 | wc -c")
    assert ok(r).strip() == "8192"


def test_only_the_proxy_socket_is_bound(pulse):
    host_rt = str(pulse.rt)
    cookie = pulse.store.home / ".config/pulse/cookie"
    r = sandbox(pulse, "--sound", "--", "sh", "-c",
                f"ls -A /run/appbox/sound; echo PS=$PULSE_SERVER; echo PC=${{PULSE_COOKIE:-none}}; "
                f"test -e {host_rt} && echo host-runtime-visible; "
                f"test -e {cookie} && echo cookie-visible; "
                f"grep -c ' /run/appbox/sound ' /proc/self/mountinfo; "
                f"touch /run/appbox/sound/x 2>/dev/null && echo writable; true")
    lines = ok(r).split()
    assert lines == ["native", "PS=unix:/run/appbox/sound/native", "PC=none", "1"], r.stdout
    assert cookie.exists()  # the server made one: the proxy authenticated without showing it


def test_named_container_sessions_and_stop(pulse, tone, world_tmp):
    store = pulse.store
    ok(store.ab("create", "snd", "--base", "host", "--no-launcher", "--sound",
                "--ro-bind", f"{tone}:/tone.wav", env=pulse.env))
    conf = store.conf("snd").read_text()
    assert "[Desktop]" in conf and "Sound=yes" in conf
    text = ok(store.ab("show", "snd", env=pulse.env))
    assert "sound       the host's server, found at start; playback only" in text
    ok(store.ab("start", "snd", env=pulse.env))
    j = store.show("snd")
    assert j["sound"] == "pulseaudio" and j["microphone"] is False
    assert j["sound_server"] == os.path.realpath(pulse.rt / "pulse/native")
    # every session gets the same environment: exec and run
    assert ok(store.ab("exec", "snd", "--", "sh", "-c", "echo $PULSE_SERVER", env=pulse.env)).strip() == \
        "unix:/run/appbox/sound/native"
    r, raw = record_while(pulse, world_tmp,
                          lambda: store.ab("run", "snd", "++cmd", "paplay", "/tone.wav", env=pulse.env, timeout=60))
    ok(r)
    assert rms(raw) > 2000
    sup = store.runtime_pid("snd", "supervisor")
    proxies = [p for p in descendants_of(sup) if comm(p) == "appbox-sound"]
    assert proxies, "no sound proxy among the supervisor's processes"
    # it parses what the container sends: no capability, none to gain
    with open(f"/proc/{proxies[0]}/status") as f:
        status = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
    assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0, status
    if store.as_user == "root":   # a user cannot drop its bounding set (no CAP_SETPCAP): no_new_privs covers it
        assert int(status["CapBnd"], 16) == 0, status
    assert status["NoNewPrivs"].strip() == "1"
    assert (store.runtime / "snd/sound/native").exists()
    ok(store.ab("stop", "snd", env=pulse.env))
    assert not (store.runtime / "snd/sound").exists()
    assert wait_until(lambda: not any(pid_alive(p) for p in proxies), timeout=5)


def test_run_plus_sound(pulse):
    store = pulse.store
    ok(store.ab("create", "plain", "--base", "host", "--no-launcher", env=pulse.env))
    assert ok(store.ab("run", "plain", "++cmd", "sh", "-c", "echo ${PULSE_SERVER:-none}", env=pulse.env)).strip() \
        == "none"
    r = store.ab("run", "plain", "++sound", "++cmd", "sh", "-c",
                 "echo $PULSE_SERVER; parec -d t.monitor >/dev/null", env=pulse.env)
    assert r.stdout.strip() == "unix:/run/appbox/sound/native" and "Access denied" in r.stderr, r
    r = store.ab("run", "plain", "++sound", "pulseaudio", "++microphone", "yes", "++cmd", "sh", "-c",
                 "parec --raw --latency-msec=20 -d t.monitor | head -c 4096 | wc -c", env=pulse.env)
    assert ok(r).strip() == "4096"


def test_killed_supervisor_leaves_nothing(pulse):
    store = pulse.store
    ok(store.ab("create", "snk", "--base", "host", "--no-launcher", "--sound", "pulseaudio", env=pulse.env))
    before = pulse.modules()
    ok(store.ab("start", "snk", env=pulse.env))
    sup = store.runtime_pid("snk", "supervisor")
    proxies = [p for p in descendants_of(sup) if comm(p) == "appbox-sound"]
    assert proxies
    os.kill(sup, signal.SIGKILL)
    # the proxy dies with its runner: nothing stays connected to the server
    assert wait_until(lambda: not any(pid_alive(p) for p in proxies), timeout=5)
    assert pulse.modules() == before
    # the next start cleans up from spec.json and works again
    ok(store.ab("start", "snk", env=pulse.env))
    ok(store.ab("stop", "snk", env=pulse.env))
    assert not (store.runtime / "snk/sound").exists()


def test_killed_sandbox_is_cleaned_by_the_next(pulse):
    store = pulse.store
    p = store.popen("sandbox", "--sound", "--", "sleep", "600", env=pulse.env)
    sockdir = store.runtime / f".sandbox-sound.{p.pid}"
    assert wait_until(lambda: (sockdir / "native").exists(), timeout=10)
    assert wait_until(lambda: [q for q in descendants_of(p.pid) if comm(q) == "appbox-sound"], timeout=10)
    proxies = [q for q in descendants_of(p.pid) if comm(q) == "appbox-sound"]
    p.kill()
    p.wait()
    # the proxy dies with the sandbox that ran it; its directory waits for
    # the next sandbox with sound
    assert wait_until(lambda: not any(pid_alive(q) for q in proxies), timeout=5)
    assert sockdir.exists()
    ok(sandbox(pulse, "--sound", "--", "true"))
    assert not sockdir.exists()
    assert not [n for n in os.listdir(store.runtime) if n.startswith(".sandbox-sound.")]


def test_bad_input(pulse, world_tmp):
    store = pulse.store
    r = sandbox(pulse, "--sound=loud", "--", "true")
    line = one_line_error(r, code=2)
    assert "--sound: 'loud' is not a sound mode (allowed: pulseaudio, pipewire, alsa, none" in line
    line = one_line_error(sandbox(pulse, "--sound", "--microphone", "maybe", "--", "true"), code=2)
    assert "--microphone: 'maybe' is not a microphone setting (allowed: no, yes)" in line
    line = one_line_error(sandbox(pulse, "--sound", "pipewire", "--", "true"), code=2)
    assert "PipeWire's native socket cannot be made playback-only" in line and "--microphone yes" in line
    # no server where the environment says
    u = user_info(store.as_user)
    empty = world_tmp / "empty-rt"
    empty.mkdir()
    os.chown(empty, u.uid, u.gid)
    os.chmod(empty, 0o700)
    env = dict(pulse.env, XDG_RUNTIME_DIR=str(empty))
    before = sorted(os.listdir(store.runtime)) if store.runtime.exists() else []
    r = store.ab("sandbox", "--sound", "pulseaudio", "--", "true", env=env)
    line = one_line_error(r, code=125)
    assert f"no PulseAudio server listens at {empty}/pulse/native (from XDG_RUNTIME_DIR)" in line
    r = store.ab("sandbox", "--sound", "--", "true", env=env)
    assert "no sound server of the host's found" in one_line_error(r, code=125)
    line = one_line_error(store.ab("sandbox", "--sound", "--", "true", env=dict(pulse.env, PULSE_SERVER="tcp:x")),
                          code=2)
    assert "PULSE_SERVER 'tcp:x' is not a local socket" in line
    after = sorted(os.listdir(store.runtime)) if store.runtime.exists() else []
    assert before == after
    # before the name: where it goes, with or without its value
    r = store.ab("run", "--sound", "sb0", env=pulse.env)
    assert "'--sound' goes after the name as '++sound': appbox run sb0 ++sound" in one_line_error(r, code=2)
    # appbox.conf: file and line
    ok(store.ab("create", "sb", "--base", "host", "--no-launcher", env=pulse.env))
    with open(store.conf("sb"), "a") as f:
        f.write("[Desktop]\nSound=loud\n")
    r = store.ab("run", "sb", "++cmd", "true", env=pulse.env)
    assert r.returncode != 0 and "appbox.conf:" in r.stderr and "Sound: 'loud' is not a sound mode" in r.stderr


PIPEWIRE = shutil.which("pipewire")
PIPEWIRE_PULSE = shutil.which("pipewire-pulse")


@pytest.fixture
def pipewire(ctr, world_tmp):
    """PipeWire and its pulse server, as the caller, on a private runtime dir."""
    if not (PIPEWIRE and PIPEWIRE_PULSE and shutil.which("pw-cli")):
        pytest.skip("needs pipewire, pipewire-bin and pipewire-pulse")
    u = user_info(ctr.as_user)
    rt = world_tmp / "pw"
    rt.mkdir()
    os.chown(rt, u.uid, u.gid)
    os.chmod(rt, 0o700)
    env = {"XDG_RUNTIME_DIR": str(rt), "HOME": str(ctr.home)}
    procs = []
    try:
        for prog, sock in ((PIPEWIRE, rt / "pipewire-0"), (PIPEWIRE_PULSE, rt / "pulse/native")):
            procs.append(popen([prog], as_user=ctr.as_user, extra_env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL))
            assert wait_until(lambda: sock.exists(), timeout=20), f"{prog} did not make {sock}"
        assert wait_until(lambda: run(["pactl", "info"], as_user=ctr.as_user, extra_env=env).returncode == 0,
                          timeout=20)
        yield env
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_pipewire_pulse_server_through_the_proxy(ctr, pipewire):
    # --sound alone picks the pulse socket, which PipeWire's pulse server serves
    r = ctr.ab("sandbox", "--sound", "--", "sh", "-c",
               "pactl info | grep '^Server Name'; pactl load-module module-null-sink; echo load=$?; "
               "parec -d @DEFAULT_MONITOR@ > /dev/null; echo parec=$?", env=pipewire)
    out = ok(r)
    assert "on PipeWire" in out and "load=1" in out and "parec=1" in out, out
    assert r.stderr.count("Access denied") == 2, r.stderr


def test_pipewire_native_socket(ctr, pipewire):
    r = ctr.ab("sandbox", "--sound", "pipewire", "--microphone", "yes", "--", "sh", "-c",
               "ls -A /run/appbox/sound; echo $PIPEWIRE_RUNTIME_DIR $PIPEWIRE_REMOTE; pw-cli info 0", env=pipewire)
    out = ok(r)
    assert out.splitlines()[:2] == ["pipewire-0", "/run/appbox/sound pipewire-0"], out
    assert "PipeWire:Interface:Core" in out


def test_alsa(pulse):
    r = sandbox(pulse, "--sound", "alsa", "--", "sh", "-c", "ls /dev/snd")
    if not os.path.isdir("/dev/snd"):
        line = one_line_error(r, code=125)
        assert "--sound alsa: this host has no /dev/snd" in line
        pytest.skip("this host has no /dev/snd: only the refusal was checked")
    nodes = ok(r).split()
    assert not [n for n in nodes if n.startswith("pcmC") and n.endswith("c")], nodes


# --- process helpers


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def descendants_of(pid):
    from conftest import descendants
    return descendants(pid)
