"""An interactive shell on a terminal: the command gets its own pty, the
window size is forwarded (also after a resize), job control works, and the
outer terminal is restored afterwards."""

import fcntl
import os
import random
import re
import select
import struct
import termios
import time

import pytest

from conftest import find_procs, popen, wait_until


def unique_sleep():
    return f"{random.randint(100, 999)}.{random.randint(10**5, 10**6 - 1)}"


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Terminal:
    """appbox run on the slave side of a fresh pty, as its controlling
    terminal; the test types on the master side."""

    def __init__(self, argv, as_user, rows=33, cols=111):
        self.master, slave = os.openpty()
        set_winsize(slave, rows, cols)
        self.attrs_before = termios.tcgetattr(slave)

        def ctty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = popen(argv, as_user=as_user, extra_env={"TERM": "xterm", "PS1": "$ "},
                          stdin=slave, stdout=slave, stderr=slave, preexec_fn=ctty,
                          close_fds=True)
        os.close(slave)
        self.buf = b""
        self.pos = 0

    def send(self, s):
        os.write(self.master, s.encode() if isinstance(s, str) else s)

    def expect(self, pattern, timeout=10):
        """Wait for PATTERN (regex) in output not matched yet; return the match."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return m
            left = end - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out waiting for {pattern!r}; output so far:\n"
                            f"{self.buf.decode(errors='replace')}")
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:  # EIO: all slave ends closed
                    data = b""
                if not data:
                    m = rx.search(self.buf, self.pos)
                    if m:
                        self.pos = m.end()
                        return m
                    pytest.fail(f"terminal closed while waiting for {pattern!r}; output:\n"
                                f"{self.buf.decode(errors='replace')}")
                self.buf += data

    def drain(self):
        while select.select([self.master], [], [], 0.05)[0]:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            self.buf += data

    def wait(self, timeout=10):
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            self.drain()
            time.sleep(0.02)
        return self.proc.poll()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def term(appbox_bin, run_as):
    terms = []

    def start(args=(), rows=33, cols=111):
        t = Terminal([appbox_bin, "sandbox", *args, "--", "/bin/sh", "-i"], run_as, rows, cols)
        terms.append(t)
        t.send("echo READY$((6*7))\n")
        t.expect(r"READY42")
        return t

    yield start
    for t in terms:
        t.close()


def test_command_gets_its_own_pty(term):
    t = term()
    t.send("tty; echo TTY$((1+1))\n")
    m = t.expect(r"(/dev/pts/\d+)\r?\nTTY2")
    assert m.group(1).startswith(b"/dev/pts/")
    t.send("ls /dev/pts | tr '\\n' ' '; echo; echo PTS$((1+1))\n")
    m = t.expect(r"([^\n]*)\r?\nPTS2")
    entries = m.group(1).decode().split()
    assert "ptmx" in entries
    # a new devpts instance: only the sandbox's own pty in it
    assert len([e for e in entries if e.isdigit()]) == 1, entries


def test_window_size_and_resize(term):
    t = term(rows=33, cols=111)
    t.send("stty size; echo SZ$((1+1))\n")
    t.expect(r"33 111\r?\nSZ2")
    set_winsize(t.master, 40, 120)
    # SIGWINCH reaches appbox (the terminal's foreground group), which
    # resizes the inner pty; allow it a moment
    for _ in range(50):
        t.send("stty size; echo SZ$((1+1))\n")
        m = t.expect(r"(\d+ \d+)\r?\nSZ2")
        if m.group(1) == b"40 120":
            break
        time.sleep(0.1)
    assert m.group(1) == b"40 120"


def test_sigwinch_reaches_the_shell(term):
    t = term(rows=30, cols=100)
    t.send("trap 'echo WINCH$((1+1))' WINCH\n")
    t.send("echo TRAP$((1+1))\n")
    t.expect(r"TRAP2")
    set_winsize(t.master, 31, 101)
    t.send("echo AFTER$((1+1))\n")
    t.expect(r"WINCH2")


def test_job_control(term):
    t = term()
    t.send("sleep 100 &\n")
    t.send("jobs; echo J$((1+1))\n")
    t.expect(r"Running.*sleep 100[^\n]*\r?\n(.*\r?\n)*J2")
    t.send("kill %1; echo K$((1+1))\n")
    t.expect(r"K2")
    # Ctrl-Z stops the foreground job; fg resumes it; Ctrl-C interrupts it
    m = unique_sleep()
    t.send(f"sleep {m}\n")
    assert wait_until(lambda: find_procs(m, "sleep"), timeout=10)
    time.sleep(0.1)
    t.send(b"\x1a")
    t.expect(r"Stopped")
    t.send("jobs; echo J$((2+2))\n")
    t.expect(rf"Stopped.*sleep {m}[^\n]*\r?\n(.*\r?\n)*J4")
    t.send("fg\n")
    t.expect(rf"sleep {m}")
    time.sleep(0.2)
    t.send(b"\x03")
    assert wait_until(lambda: not find_procs(m, "sleep"), timeout=10)
    t.send("echo AFTER$((1+1))\n")
    t.expect(r"AFTER2")
    t.send("exit 5\n")
    assert t.wait() == 5


def test_ctrl_c_does_not_kill_appbox(term):
    """Ctrl-C goes to the sandboxed foreground job, not to appbox."""
    t = term()
    m = unique_sleep()
    t.send(f"sleep {m}\n")
    assert wait_until(lambda: find_procs(m, "sleep"), timeout=10)
    time.sleep(0.1)
    t.send(b"\x03")
    assert wait_until(lambda: not find_procs(m, "sleep"), timeout=10)
    t.send("echo ALIVE$((1+1))\n")
    t.expect(r"ALIVE2")
    assert t.proc.poll() is None


def test_terminal_restored_and_exit_status(term):
    t = term()
    t.send("exit 3\n")
    assert t.wait() == 3
    # the master shares the slave's settings: back to what they were
    assert termios.tcgetattr(t.master) == t.attrs_before


def test_only_stdin_a_tty_gets_no_controlling_terminal(appbox_bin, run_as):
    """stdin a terminal, stdout a pipe: no pty, new session, and /dev/tty
    (the host's terminal) cannot be opened."""
    import subprocess
    master, slave = os.openpty()

    def ctty():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        p = popen([appbox_bin, "sandbox", "--", "/bin/sh", "-c",
                   "(exec 3</dev/tty) 2>/dev/null && echo HAS-TTY; tty; true"],
                  as_user=run_as, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  preexec_fn=ctty, text=True)
        os.close(slave)
        slave = None
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert "HAS-TTY" not in out
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
