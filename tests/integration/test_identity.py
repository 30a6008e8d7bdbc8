"""Identity inside the sandbox: the caller's own uid/gid/name, --uid 0, and
the user id maps (root caller: an unprivileged host range; user with a
subuid range: 65536 ids; user without one: a single id)."""

import os
import random
import signal
import subprocess

import pytest

from conftest import (SUBID_COUNT, SUBID_START, find_procs, ok, popen, user_info,
                      wait_until)


def parse_map(text):
    return [tuple(int(x) for x in line.split()) for line in text.splitlines() if line.strip()]


def map_outside(m, inside):
    for i, o, c in m:
        if i <= inside < i + c:
            return o + inside - i
    return None


def covers_outside(m, host_id):
    return any(o <= host_id < o + c for _, o, c in m)


def read_maps(sandbox, as_user, opts=()):
    out = ok(sandbox([*opts, "--", "/bin/sh", "-c",
                      "id -u; cat /proc/self/uid_map; echo --; cat /proc/self/gid_map"],
                     as_user=as_user))
    first, rest = out.split("\n", 1)
    uids, gids = rest.split("--\n")
    return int(first), parse_map(uids), parse_map(gids)


@pytest.mark.parametrize("who", ["root", "user", "nosub"])
def test_id_is_the_callers(sandbox, who):
    u = user_info(who)
    out = ok(sandbox(["--", "/bin/sh", "-c", "id -u; id -un; id -g; id -gn; echo $USER $LOGNAME"],
                     as_user=who))
    assert out.split("\n")[:5] == [str(u.uid), u.name, str(u.gid), u.group, f"{u.name} {u.name}"]


@pytest.mark.parametrize("who", ["root", "user", "nosub"])
def test_id_on_a_foreign_root_has_passwd_and_group_entries(sandbox, busybox_root, who):
    """The busybox root's /etc/passwd knows only root and nobody: appbox adds
    the caller so that `id` shows a name."""
    u = user_info(who)
    out = ok(sandbox(["--root", busybox_root, "--", "/bin/sh", "-c",
                      "id -un; id -gn; grep -c \"^$(id -un):\" /etc/passwd; "
                      "grep -c \"^$(id -gn):\" /etc/group"], as_user=who))
    assert out.split() == [u.name, u.group, "1", "1"]


@pytest.mark.parametrize("who", ["root", "user", "nosub"])
def test_uid0_is_root_inside(sandbox, busybox_root, who):
    out = ok(sandbox(["--uid", "0", "--", "/bin/sh", "-c", "id -u; id -un; id -g"], as_user=who))
    assert out.split() == ["0", "root", "0"]
    out = ok(sandbox(["--uid", "0", "--root", busybox_root, "--", "/bin/sh", "-c", "id -u; id -un"],
                     as_user=who))
    assert out.split() == ["0", "root"]


@pytest.mark.parametrize("opts", [[], ["--uid", "0"]], ids=["default", "uid0"])
def test_root_caller_is_never_host_root(sandbox, opts):
    inside, uids, gids = read_maps(sandbox, "root", opts)
    assert inside == 0
    assert uids and gids
    assert not covers_outside(uids, 0), f"host uid 0 is mapped: {uids}"
    assert not covers_outside(gids, 0), f"host gid 0 is mapped: {gids}"
    assert map_outside(uids, 0) not in (None, 0)
    assert sum(c for _, _, c in uids) == 65536
    assert sum(c for _, _, c in gids) == 65536


def test_root_caller_runs_as_unprivileged_host_uid(appbox_bin):
    """Seen from the host, the sandboxed command of a root caller is not
    owned by host root."""
    marker = f"{random.randint(100, 999)}.{random.randint(10**5, 10**6)}"
    p = popen([appbox_bin, "sandbox", "--", "sleep", marker], as_user="root",
              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        pids = wait_until(lambda: find_procs(marker, "sleep"), timeout=10)
        assert pids, "the sandboxed sleep did not show up on the host"
        with open(f"/proc/{pids[0]}/status") as f:
            st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        host_uids = [int(x) for x in st["Uid"].split()]
        host_gids = [int(x) for x in st["Gid"].split()]
        assert 0 not in host_uids, st["Uid"]
        assert 0 not in host_gids, st["Gid"]
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)


def test_user_with_subuid_range_gets_65536_ids(sandbox):
    u = user_info("user")
    inside, uids, gids = read_maps(sandbox, "user")
    assert inside == u.uid
    if os.geteuid() != 0:
        pytest.skip("the invoking user's subuid range is not the suite's")
    for m, own in ((uids, u.uid), (gids, u.gid)):
        assert sum(c for _, _, c in m) == SUBID_COUNT, m
        assert map_outside(m, own) == own, f"caller's id not kept as itself: {m}"
        # everything else comes from the subordinate range
        for i, o, c in m:
            if (i, o, c) != (own, own, 1):
                assert SUBID_START <= o and o + c <= SUBID_START + SUBID_COUNT, m


def test_user_with_subuid_range_uid0(sandbox):
    u = user_info("user")
    inside, uids, gids = read_maps(sandbox, "user", ["--uid", "0"])
    assert inside == 0
    if os.geteuid() == 0:
        assert SUBID_START <= map_outside(uids, 0) < SUBID_START + SUBID_COUNT, uids
        assert map_outside(uids, u.uid) == u.uid, uids


def test_user_with_subuid_range_sees_other_ids(sandbox):
    """With 65536 ids, files can belong to other users inside (chown works
    as root inside)."""
    out = ok(sandbox(["--uid", "0", "--", "/bin/sh", "-c",
                      "touch /tmp/f && chown 1234:1234 /tmp/f && stat -c '%u:%g' /tmp/f"],
                     as_user="user"))
    assert out.strip() == "1234:1234"


def test_user_without_range_gets_a_single_id(sandbox):
    u = user_info("nosub")
    inside, uids, gids = read_maps(sandbox, "nosub")
    assert inside == u.uid
    assert uids == [(u.uid, u.uid, 1)]
    assert gids == [(u.gid, u.gid, 1)]


def test_user_without_range_uid0_maps_root_to_self(sandbox):
    u = user_info("nosub")
    inside, uids, gids = read_maps(sandbox, "nosub", ["--uid", "0"])
    assert inside == 0
    assert uids == [(0, u.uid, 1)]
    assert gids == [(0, u.gid, 1)]


@pytest.mark.parametrize("who", ["user", "nosub"])
def test_user_sandbox_runs_as_caller_on_host(appbox_bin, who):
    u = user_info(who)
    marker = f"{random.randint(100, 999)}.{random.randint(10**5, 10**6)}"
    p = popen([appbox_bin, "sandbox", "--uid", "0", "--", "sleep", marker], as_user=who,
              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        pids = wait_until(lambda: find_procs(marker, "sleep"), timeout=10)
        assert pids, "the sandboxed sleep did not show up on the host"
        with open(f"/proc/{pids[0]}/status") as f:
            st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        if who == "nosub":
            assert [int(x) for x in st["Uid"].split()] == [u.uid] * 4
        else:
            assert all(SUBID_START <= int(x) < SUBID_START + SUBID_COUNT for x in st["Uid"].split())
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)


@pytest.mark.parametrize("uid", ["5", "1005", "65535"])
def test_another_uid_inside_has_no_capabilities(sandbox, run_as, uid):
    """--uid N (not 0, not the caller): runs as N, with nothing left."""
    r = sandbox(["--uid", uid, "sh", "-c", "id -u; grep -E '^Cap(Eff|Bnd|Amb)' /proc/self/status"], as_user=run_as)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == uid
    assert all(l.endswith("0000000000000000") for l in lines[1:4]), r.stdout
