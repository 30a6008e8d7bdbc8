"""appbox on a pure cgroup v2 host: a chosen set of the suite's test files
runs inside a VM (scripts/vm/run: qemu, Debian's kernel booted with
cgroup_no_v1=all, this machine's root read-only under a RAM overlay, this
repository at its own path; see DEVELOPERS.md), as root there, and passes
when they pass inside.  This machine itself may be cgroup v1 (or hybrid).

Skipped, with the reason, where qemu, a static busybox or Debian's kernel
package is not to be had (scripts/vm/prepare exits 3), and inside the VM.
TCG (no KVM) is slow: the VM boots in about 10 s, and the set below takes
a few minutes; keep it small."""

import os
import re
import signal
import subprocess
import sys

import pytest

from conftest import BUILD, REPO

# The test files run in the VM, relative to the repository.
VM_TESTS = [
    "tests/integration/test_devices.py",
    "tests/integration/test_limits.py",
    "tests/security/test_resources.py",
]
# Root's variants only: emulated (TCG), the limits tests take minutes per
# caller; the rootless ones need a delegated group, which test_limits.py
# makes as on v1 and the host's run covers.
VM_SELECT = ["-k", "not user"]

VM_RUN = REPO / "scripts" / "vm" / "run"


def vm_run(argv, timeout):
    """scripts/vm/run ARGV: (status, console output).  In its own process
    group, so that a timeout stops qemu too."""
    env = dict(os.environ, APPBOX_BUILD=str(BUILD), PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.Popen([str(VM_RUN), *argv], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)
        out, _ = p.communicate()
        pytest.fail(f"the VM did not finish in {timeout} s: {argv}\n{out}")
    return p.returncode, out


@pytest.fixture(scope="module")
def vm():
    if os.environ.get("APPBOX_VM") == "1":
        pytest.skip("already inside the test VM")
    r = subprocess.run([str(REPO / "scripts" / "vm" / "prepare")], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=600)
    if r.returncode == 3:
        pytest.skip(f"no cgroup v2 VM: {r.stderr.strip()}")
    assert r.returncode == 0, f"scripts/vm/prepare failed ({r.returncode}):\n{r.stderr}"
    if not (BUILD / "appbox").is_file():
        pytest.fail(f"{BUILD}/appbox does not exist: build first", pytrace=False)


def test_vm_is_cgroup_v2_only_and_appbox_makes_its_group(vm):
    # each line tagged: the console may carry the kernel's messages too
    status, out = vm_run(["bash", "-c", "set -o pipefail; sed 's/^/self /' /proc/self/cgroup && "
                          "sed 's/^/ctrl /' /sys/fs/cgroup/cgroup.subtree_control && "
                          "\"$APPBOX_BUILD/appbox\" sandbox cat /proc/self/cgroup | sed 's/^/box /'"], timeout=300)
    assert status == 0, out

    def tagged(tag):
        return [line[len(tag) + 1:] for line in out.splitlines() if line.startswith(tag + " ")]
    # one hierarchy, v2 (we are in its root, or in APPBOX_VM_CGROUP)
    assert tagged("self") == [f"0::{os.environ.get('APPBOX_VM_CGROUP') or '/'}"], out
    assert set(" ".join(tagged("ctrl")).split()) >= {"cpu", "memory", "pids", "io"}, out
    # the sandbox: v2 only too, in a group of appbox's (or at the root of
    # its own cgroup namespace)
    box = tagged("box")
    assert len(box) == 1 and re.match(r"^0::/(appbox-\S+)?$", box[0]), out


def test_suite_files_pass_in_the_vm(vm):
    status, out = vm_run(["/usr/bin/python3", "-m", "pytest", "-x", "-q", "-rs", "-p", "no:cacheprovider",
                          *VM_SELECT, *VM_TESTS], timeout=1800)
    sys.stdout.write(out)  # shown with -s, or -rP
    assert status == 0, f"in the VM, pytest {' '.join(VM_TESTS)} exited with {status}:\n{out[-20000:]}"
