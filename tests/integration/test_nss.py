"""libnss_appbox (issue 12): the host resolves running containers' names
from appbox's file of its own network namespace, /run/appbox-net/<netns
inode>/hosts, and trusts the file only when root owns it and nobody else
may write it.  Run in netlab's host namespace (a network namespace of its
own, so a file of its inode touches nothing of the machine's), with
"hosts: files appbox" in a private /etc/nsswitch.conf and the module from
the build on LD_LIBRARY_PATH.  test_nat.py resolves real containers."""

import os
from pathlib import Path

import pytest

from conftest import ok, require_root, run
from netlab import netlab  # noqa: F401 (the fixture)

NSSWITCH = "hosts: files appbox\n"


def lab_hosts_file(lab):
    ino = os.stat(f"/proc/{lab.host_pid}/ns/net").st_ino
    return Path(f"/run/appbox-net/{ino}/hosts")


@pytest.fixture
def lab_names(netlab, appbox_bin, world_tmp):
    """netlab plus a way to resolve names in its host namespace as the
    test user or root; yields (lab, write_hosts, resolve)."""
    require_root("the hosts file is root's (/run/appbox-net)")
    lib_dir = Path(appbox_bin).parent
    if not (lib_dir / "libnss_appbox.so.2").is_file():
        pytest.skip("build/libnss_appbox.so.2 is not built")
    nss = world_tmp / "nsswitch.conf"
    nss.write_text(NSSWITCH)
    nss.chmod(0o644)
    hosts = lab_hosts_file(netlab)
    made = [p for p in (hosts.parent.parent, hosts.parent) if not p.exists()]
    for p in made:
        p.mkdir(mode=0o755)

    def write_hosts(text, mode=0o644):
        hosts.write_text(text)
        hosts.chmod(mode)

    def resolve(name, as_user="root", cmd=("getent", "hosts")):
        script = f'mount --bind {nss} /etc/nsswitch.conf && exec setpriv {"--reuid abtest --regid abtest --init-groups" if as_user != "root" else "--"} env LD_LIBRARY_PATH={lib_dir} "$@"'
        return netlab.run_in_host(["unshare", "-m", "sh", "-c", script, "sh", *cmd, name])

    yield netlab, write_hosts, resolve
    hosts.unlink(missing_ok=True)
    for p in reversed(made):
        p.rmdir()


def test_names_resolve_in_their_network_namespace(lab_names, run_as):
    lab, write_hosts, resolve = lab_names
    write_hosts("# appbox\n10.89.0.5\tweb\n10.89.1.7 db\n")
    r = resolve("web", as_user=run_as)
    assert ok(r).split() == ["10.89.0.5", "web"]
    # getaddrinfo (gethostbyname4_r) too, and a trailing dot, any case
    r = resolve("DB.", as_user=run_as, cmd=("getent", "ahostsv4"))
    assert ok(r).split()[0] == "10.89.1.7"
    r = resolve("nothere", as_user=run_as)
    assert r.returncode == 2 and not r.stdout


def test_untrusted_file_is_ignored(lab_names):
    lab, write_hosts, resolve = lab_names
    write_hosts("10.89.0.5 web\n", mode=0o666)
    assert resolve("web").returncode == 2
    write_hosts("10.89.0.5 web\n", mode=0o644)
    os.chown(lab_hosts_file(lab), 1, 1)
    assert resolve("web").returncode == 2


def test_other_namespace_sees_nothing(lab_names, appbox_bin, world_tmp):
    """The machine's own namespace has another inode: the lab's names are
    not its names, with the same module and nsswitch.conf."""
    lab, write_hosts, resolve = lab_names
    write_hosts("10.89.0.5 labonly\n")
    assert ok(resolve("labonly")).split() == ["10.89.0.5", "labonly"]
    script = (f'mount --bind {world_tmp}/nsswitch.conf /etc/nsswitch.conf && '
              f'exec env LD_LIBRARY_PATH={Path(appbox_bin).parent} getent hosts labonly')
    r = run(["unshare", "-m", "sh", "-c", script])
    assert r.returncode == 2 and not r.stdout
