"""Named containers (issue 3): bad input for every verb and every
appbox.conf key.  Each gets one clear message on stderr (naming the file
and line for a bad appbox.conf), a non-zero exit status, and leaves the
data dir, runtime dir and home exactly as they were.  As root and as an
unprivileged user."""

import os
import re

from pathlib import Path

import pytest

from conftest import ok
from containers_support import assert_unchanged, ctr, one_line_error  # noqa: F401 (fixture)

# ---------------------------------------------------------------------------
# names

BAD_NAMES = ["a/b", "..", ".", ".hidden", "../x", "/abs", "a b", "", "x" * 65, "a\nb", "caf\u00e9", "a:b", "a*"]

NAME_VERBS = [
    ["create", "{n}", "--base", "host"],
    ["run", "{n}", "++cmd", "true"],
    ["start", "{n}"],
    ["stop", "{n}"],
    ["exec", "{n}", "true"],
    ["shell", "{n}"],
    ["show", "{n}"],
    ["show", "{n}", "--json"],
    ["config", "{n}"],
    ["config", "{n}", "Network.Mode=host"],
    ["edit", "{n}"],
    ["rm", "{n}"],
    ["rm", "--force", "{n}"],
    ["launcher", "install", "{n}"],
    ["launcher", "remove", "{n}"],
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_names_refused_by_every_verb(ctr, name):
    ctr.create("real")  # a real container next door stays as it is
    before = ctr.snapshot()
    for verb in NAME_VERBS:
        args = [a.format(n=name) for a in verb]
        r = ctr.ab(*args, env={"EDITOR": "/bin/false"})
        line = one_line_error(r, code=2, quoted=name)
        assert "not a valid container name" in line, (args, line)
    assert_unchanged(ctr, before)
    assert [c["name"] for c in ctr.listing()] == ["real"]


def test_dash_name_is_not_taken_as_a_name(ctr):
    before = ctr.snapshot()
    for verb in NAME_VERBS:
        args = [a.format(n="-x") for a in verb]
        one_line_error(ctr.ab(*args), code=2)
    assert_unchanged(ctr, before)


# ---------------------------------------------------------------------------
# missing container

MISSING_VERBS = [v for v in NAME_VERBS if v[0] != "create"]


@pytest.mark.parametrize("verb", MISSING_VERBS, ids=lambda v: " ".join(v))
def test_missing_container(ctr, verb):
    ctr.create("real")
    (ctr.data / "notone").mkdir()  # a directory without appbox.conf is no container
    os.chown(ctr.data / "notone", ctr.user.uid, ctr.user.gid)
    before = ctr.snapshot()
    # rm removes such a directory: what an interrupted create left
    # (tests/security/test_rm_leftovers.py); every other verb refuses it
    names = ("ghost",) if verb[0] == "rm" else ("ghost", "notone")
    for name in names:
        args = [a.format(n=name) for a in verb]
        r = ctr.ab(*args, env={"EDITOR": "/bin/false"})
        line = one_line_error(r, code=125)  # appbox's failure, as podman's
        assert f"no container named '{name}'" in line, line
    assert_unchanged(ctr, before)
    assert not (ctr.runtime / "ghost").exists() and not (ctr.runtime / "notone").exists()
    if verb[0] == "rm":
        r = ctr.ab(*[a.format(n="notone") for a in verb])
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "removed the remains of an interrupted create of notone"
        assert not (ctr.data / "notone").exists() and not (ctr.runtime / "notone").exists()
        assert (ctr.data / "real" / "appbox.conf").exists()


def test_aptupdate_of_a_missing_container(ctr):
    before = ctr.snapshot()
    r = ctr.ab("run", "ghost", "++aptupdate")
    assert r.returncode != 0
    # the error goes where errors go, like every other verb's
    line = one_line_error(r)
    assert "ghost" in line and ("no container named" in line or "no such container" in line), line
    assert_unchanged(ctr, before)


# ---------------------------------------------------------------------------
# every key, with a bad value: (section, key, value, what the message says)

KEYS = [
    ("Container", "Base", "ftp:x", "'ftp:x' is not a base"),
    ("Container", "Run", "sh -c 'x", "unterminated quote"),
    ("Container", "Root", "/no/such/dir", "'/no/such/dir'"),
    ("Container", "Writable", "maybe", "'maybe' is not a boolean"),
    ("Container", "Environment", "NOEQ", "'NOEQ' is not NAME=VALUE"),
    ("Container", "WorkingDirectory", "rel/dir", "'rel/dir' is not an absolute path"),
    ("Container", "Hostname", "-bad", "'-bad' is not a valid host name"),
    ("Container", "User", "abc", "'abc' is not a user id"),
    ("Network", "Mode", "wifi", "'wifi' is not a network mode"),
    ("Files", "Bind", "/no/such/dir", "'/no/such/dir'"),
    ("Files", "BindReadOnly", "/no/such/file", "'/no/such/file'"),
    ("Files", "TemporaryFileSystem", "rel", "'rel' is not an absolute path"),
    ("Files", "Device", "/etc/passwd", "'/etc/passwd' is not a device node"),
    ("Security", "Capability", "CAP_FLY", "'CAP_FLY' is not a capability"),
    ("Security", "DropCapability", "nope", "'nope' is not a capability"),
    ("Security", "Seccomp", "maybe", "'maybe' is not a seccomp setting"),
]


@pytest.mark.parametrize("section,key,value,message", KEYS, ids=[f"{s}.{k}" for s, k, _, _ in KEYS])
def test_config_set_bad_value(ctr, section, key, value, message):
    ctr.create("cv", "--hostname", "kept", "--network", "host")
    before = ctr.snapshot()
    r = ctr.ab("config", "cv", f"{section}.{key}={value}")
    line = one_line_error(r, code=2)
    assert str(ctr.conf("cv")) in line and f"[{section}] {key}" in line and message in line, line
    assert "unchanged" in line, line
    assert_unchanged(ctr, before)
    assert ctr.show("cv")["hostname"] == "kept"


@pytest.mark.parametrize("arg", ["Foo.Bar=1", "Container.Colour=blue", "Network.mode=host", "network.Mode=host",
                                 "NoDot=1", ".Mode=x", "Network.=x", "Network.Bogus", "=x"])
def test_config_unknown_key(ctr, arg):
    ctr.create("ck")
    before = ctr.snapshot()
    line = one_line_error(ctr.ab("config", "ck", arg), code=2)
    assert "is not a key" in line and arg.split("=")[0] in line, line
    assert_unchanged(ctr, before)


@pytest.mark.parametrize("value", ["echo a\n[Security]\nSeccomp=off", "FOO=x\nbroken line"], ids=["inject", "break"])
def test_config_value_with_newline_refused(ctr, value):
    """A value is one line: a newline in it would write other settings (or
    garbage) into appbox.conf than the one checked."""
    key = "Container.Run" if value.startswith("echo") else "Container.Environment"
    ctr.create("cn")
    before = ctr.snapshot()
    r = ctr.ab("config", "cn", f"{key}={value}")
    assert r.returncode != 0, "accepted a value with a newline:\n" + ctr.conf("cn").read_text()
    one_line_error(r, quoted=value)
    assert_unchanged(ctr, before)


@pytest.mark.parametrize("opt,value", [("--run", "echo a\n[Security]\nSeccomp=off"), ("--env", "FOO=x\ny"),
                                       ("--hostname", "a\nb")], ids=["run", "env", "hostname"])
def test_create_value_with_newline_refused(ctr, opt, value):
    before = ctr.snapshot()
    r = ctr.ab("create", "cn2", "--base", f"dir:{ctr.src_root}", opt, value)
    if r.returncode == 0:
        show = ctr.ab("show", "cn2", "--json")
        pytest.fail(f"create {opt} with a newline was accepted; appbox.conf:\n{ctr.conf('cn2').read_text()}\n"
                    f"show: {show.stdout or show.stderr}")
    one_line_error(r, code=2, quoted=value)
    assert_unchanged(ctr, before)


# ---------------------------------------------------------------------------
# a bad appbox.conf: (text, message, line or None)

BAD_FILES = [
    ("", "empty", None),
    ("# only a comment\n\n; and another\n", "empty", None),
    (b"\x00\x01\x02garbage\xff\xfe", "NUL byte", None),
    (b"\x7fELF\x02\x01\x01\xff\xfe\xfd garbage \x80\x81\n\x90", "not a [Section] or Key=Value line", 1),
    ("[Container]\nBase=host\njust words\n", "not a [Section] or Key=Value line", 3),
    ("[Container\nBase=host\n", "not a [Section] or Key=Value line", 1),
    ("[Container]\nBase=host\n\n[Nonsense]\nMode=none\n", "unknown section [Nonsense]", (4, 5)),
    ("[container]\nBase=host\n", "unknown section [container]", (1, 2)),
    ("Base=host\n", "section", 1),
    ("[Container]\nBase=host\nColour=blue\n", "[Container] Colour: unknown key", 3),
    ("[Network]\nmode=host\n", "[Network] mode: unknown key", 2),
    ("[Network]\nMode=host\nMode=none\n", "given twice", 3),
    ("[Container]\nBase=host\n[Nope]\n", "unknown section [Nope]", 3),
] + [(f"[Container]\nBase=host\n\n[{s}]\n{k}={v}\n", m, 5) for s, k, v, m in KEYS if (s, k) != ("Container", "Base")] \
  + [("[Container]\nHostname=ok\nBase=ftp:x\n", "'ftp:x' is not a base", 3)]


def _bad_file_id(case):
    text = case[0]
    if isinstance(text, bytes):
        return "binary-nul" if b"\0" in text else "binary"
    return re.sub(r"\W+", "_", text.strip())[:40] or "empty"


@pytest.mark.parametrize("text,message,line", BAD_FILES, ids=[_bad_file_id(c) for c in BAD_FILES])
def test_bad_appbox_conf(ctr, text, message, line):
    ctr.create("badconf")
    conf = ctr.conf("badconf")
    if isinstance(text, bytes):
        conf.write_bytes(text)
    else:
        conf.write_text(text)
    before = ctr.snapshot()
    first = None
    for verb in (["run", "badconf", "++cmd", "true"], ["start", "badconf"], ["show", "badconf"], ["show", "badconf", "--json"],
                 ["exec", "badconf", "true"], ["shell", "badconf"], ["config", "badconf", "Network.Mode=host"],
                 ["config", "badconf", "Container.Hostname"], ["config", "badconf"]):
        r = ctr.ab(*verb, input="true\n")
        msg = one_line_error(r)
        assert str(conf) in msg and message in msg, (verb, msg)
        if line is not None:
            lines = line if isinstance(line, tuple) else (line,)
            assert any(f"{conf}:{n}:" in msg for n in lines), (verb, msg)
        first = first or msg
        assert msg == first, (verb, msg, first)  # the same message everywhere
    assert_unchanged(ctr, before)
    assert ctr.log("badconf") == []
    # list still lists it, stopped, with the error
    info = ctr.info("badconf")
    assert info["state"] == "stopped" and message in info["error"] and str(conf) in info["error"], info
    assert re.search(r"^badconf\s.*stopped", ok(ctr.ab("list")), re.M)
    # and it can be removed
    ok(ctr.ab("rm", "badconf"))
    assert not (ctr.data / "badconf").exists()


def test_config_prints_a_bad_file_to_fix_it(ctr):
    ctr.create("bp")
    ctr.conf("bp").write_text("[Container]\nBase=host\noops\n")
    r = ctr.ab("config", "bp")
    assert r.returncode != 0 and r.stdout == "[Container]\nBase=host\noops\n"
    assert f"{ctr.conf('bp')}:3:" in one_line_error(r)


def test_running_container_with_a_broken_conf_can_be_stopped(ctr):
    """The supervisor runs what was started; a broken file must not make
    it unstoppable."""
    ctr.create("bs")
    ok(ctr.ab("start", "bs"))
    ctr.conf("bs").write_text("[Container]\nBase=host\nbroken\n")
    r = ctr.ab("stop", "bs", timeout=30)
    assert r.returncode == 0, f"stop refused: {r.stderr}"
    assert ctr.state("bs") == "stopped"


def test_running_container_with_a_broken_conf_can_be_removed(ctr):
    ctr.create("br")
    ok(ctr.ab("start", "br"))
    init = ctr.runtime_pid("br", "init")
    ctr.conf("br").write_text("\0\0\0")
    one_line_error(ctr.ab("rm", "br"))
    ok(ctr.ab("rm", "--force", "br"))
    assert not (ctr.data / "br").exists() and not os.path.exists(f"/proc/{init}/status")


# ---------------------------------------------------------------------------
# edit with a bad result


@pytest.mark.parametrize("body,message", [
    ("echo 'Nonsense=1' >> \"$1\"", "[Container] Nonsense: unknown key"),
    ("printf '[Network]\\nMode=wifi\\n' >> \"$1\"", "'wifi' is not a network mode"),
    ("echo 'just words' >> \"$1\"", "not a [Section] or Key=Value line"),
    (": > \"$1\"", "empty"),
    ("printf 'a\\000b' > \"$1\"", "NUL byte"),
    ("printf '[Nope]\\nX=1\\n' >> \"$1\"", "unknown section [Nope]"),
], ids=["unknown-key", "bad-value", "no-equals", "emptied", "binary", "unknown-section"])
def test_edit_refuses_bad_result(ctr, world_tmp, body, message):
    ctr.create("eb")
    editor = world_tmp / "editor"
    editor.write_text("#!/bin/sh\n" + body + "\n")
    os.chmod(editor, 0o755)
    before = ctr.snapshot()
    r = ctr.ab("edit", "eb", env={"EDITOR": str(editor)})
    assert 0 < r.returncode < 128, f"edit crashed or passed ({r.returncode}): {r.stderr}"
    line = one_line_error(r)
    assert message in line and "unchanged" in line and str(ctr.conf("eb")) in line, line
    # the refused edit is kept and named (issue 10); nothing else changed
    copy = Path(f"{ctr.conf('eb')}.edit")
    assert f"your edit is kept in {copy}" in line and copy.exists(), line
    copy.unlink()
    assert_unchanged(ctr, before)


# ---------------------------------------------------------------------------
# create with bad input leaves nothing


CREATE_BAD = [
    (["--base", "ftp:x"], "'ftp:x' is not a base"),
    (["--base", "dir:/no/such"], "not an existing directory"),
    (["--base", "dir:/etc/passwd"], "not an existing directory"),
    (["--base", "dir:"], "is not a base"),
    (["--base"], "--base: missing value"),
    (["--run", "sh -c 'x"], "unterminated quote"),
    (["--run", ""], "empty"),
    (["--as", "a/b"], "'a/b' is not a valid command name"),
    (["--as", ".x"], "'.x' is not a valid command name"),
    (["--as", "../../evil"], "is not a valid command name"),
    (["--root", "/no/such"], "'/no/such'"),
    (["--writable=yes"], "takes no value"),
    (["--network", "wifi"], "'wifi' is not a network mode"),
    (["--network"], "missing value"),
    (["--bind", "/no/such"], "'/no/such'"),
    (["--bind", "/etc/hostname:rel"], "'rel' is not an absolute path"),
    (["--ro-bind", "/no/such"], "'/no/such'"),
    (["--tmpfs", "rel"], "'rel' is not an absolute path"),
    (["--device", "/etc/passwd"], "not a device node"),
    (["--env", "NOEQ"], "'NOEQ' is not NAME=VALUE"),
    (["--chdir", "rel"], "'rel' is not an absolute path"),
    (["--hostname", "-bad"], "not a valid host name"),
    (["--uid", "abc"], "not a user id"),
    (["--cap-add", "CAP_FLY"], "not a capability"),
    (["--cap-drop", "nope"], "not a capability"),
    (["--seccomp", "maybe"], "not a seccomp setting"),
    (["--frob"], "--frob: unknown option"),
    (["-x"], "-x: unknown option"),
    (["extra-arg"], "unexpected argument 'extra-arg'"),
]


@pytest.mark.parametrize("args,message", CREATE_BAD, ids=[" ".join(a) or "none" for a, _ in CREATE_BAD])
def test_create_bad_input_leaves_nothing(ctr, args, message):
    before = ctr.snapshot()
    line = one_line_error(ctr.ab("create", "bad", *args), code=2)
    assert message in line, line
    assert_unchanged(ctr, before)
    assert not (ctr.data / "bad").exists() and not ctr.launcher("bad").exists()


def test_create_existing_name_refused(ctr):
    ctr.create("dup", "--hostname", "first")
    before = ctr.snapshot()
    # not the command line's fault: appbox's own failure (125, as podman)
    line = one_line_error(ctr.ab("create", "dup", "--base", "host", "--hostname", "second"), code=125)
    assert "already exists" in line
    assert_unchanged(ctr, before)


def test_create_from_an_unreadable_tree_leaves_nothing(ctr, world_tmp):
    if ctr.as_user == "root":
        pytest.skip("root reads everything")
    src = world_tmp / "src"
    (src / "sub").mkdir(parents=True)
    (src / "ok").write_text("x")
    (src / "sub" / "secret").write_text("s")
    os.chmod(src / "sub" / "secret", 0o600)  # root's, unreadable to the user
    before = ctr.snapshot()
    r = ctr.ab("create", "ur", "--base", f"dir:{src}")
    assert r.returncode != 0
    assert_unchanged(ctr, before)
    # one message from appbox that says what failed
    mine = [l for l in r.stderr.splitlines() if l.startswith("appbox:")]
    assert len(mine) == 1 and str(src) in mine[0], r.stderr


def test_launcher_of_another_container_is_not_taken_over(ctr):
    ctr.create("la", "--run", "echo I am la")
    before = ctr.snapshot()
    r = ctr.ab("create", "lb", "--base", f"dir:{ctr.src_root}", "--run", "echo I am lb", "--as", "la")
    assert r.returncode != 0, "create --as took over another container's launcher: " + \
        ok(ctr.sh("la")).strip()
    one_line_error(r)
    assert_unchanged(ctr, before)


def test_launcher_install_as_another_containers_launcher_refused(ctr):
    ctr.create("la", "--run", "echo I am la")
    ctr.create("lb", "--run", "echo I am lb", launcher=False)
    before = ctr.snapshot()
    r = ctr.ab("launcher", "install", "lb", "--as", "la")
    assert r.returncode != 0, "launcher install --as took over la's launcher: " + ok(ctr.sh("la")).strip()
    assert_unchanged(ctr, before)


# ---------------------------------------------------------------------------
# usage errors of every verb

USAGE = [
    (["run"], "missing NAME"),
    (["run", "u", "++cmd"], "++cmd: missing the command"),  # (run u alone: a shell, issue 10)
    (["run", "u", "++network"], "missing value"),
    (["run", "u", "++network", "wifi"], "'wifi' is not a network mode"),
    (["run", "u", "++bogus"], "++bogus: unknown ++option"),
    (["start"], "usage"),
    (["start", "u", "extra"], "usage"),
    (["stop"], "missing NAME"),
    (["stop", "u", "--timeout"], "not a number of seconds"),
    (["stop", "u", "--timeout", "abc"], "'abc' is not a number of seconds"),
    (["stop", "u", "--timeout", "-1"], "'-1' is not a number of seconds"),
    (["stop", "u", "--timeout", "99999999"], "'99999999' is not a number of seconds"),
    (["stop", "u", "--bogus"], "--bogus: unknown option"),
    (["stop", "u", "a/b"], "'a/b' is not a valid container name"),
    (["stop", "--all", "u"], "--all and names"),
    (["exec"], "missing NAME"),
    (["exec", "u"], "missing the command"),
    (["exec", "--bogus", "u", "true"], "--bogus: unknown option"),
    (["exec", "--env", "NOEQ", "u", "true"], "'NOEQ' is not NAME=VALUE"),
    (["exec", "--env", "=x", "u", "true"], "'=x' is not NAME=VALUE"),
    (["exec", "--chdir", "rel", "u", "true"], "'rel' is not an absolute path"),
    (["exec", "--root", "--user", "x", "u", "true"], "--root and --user"),
    (["exec", "--user"], "--user: missing value"),
    (["shell"], "missing NAME"),
    (["shell", "--bogus", "u"], "--bogus: unknown option"),
    (["shell", "u", "extra"], "unexpected argument 'extra'"),
    (["list", "--bogus"], "'--bogus': unknown argument"),
    (["list", "extra"], "'extra': unknown argument"),
    (["show"], "missing NAME"),
    (["show", "u", "--bogus"], "--bogus: unknown option"),
    (["show", "u", "v"], "unexpected argument 'v'"),
    (["config"], "usage"),
    (["config", "u", "a", "b"], "usage"),
    (["edit"], "usage"),
    (["edit", "u", "v"], "usage"),
    (["rm"], "missing NAME"),
    (["rm", "--bogus", "u"], "--bogus: unknown option"),
    (["rm", "u", "a/b"], "'a/b' is not a valid container name"),
    (["launcher"], "launcher"),
    (["launcher", "install"], "missing NAME"),
    (["launcher", "frob", "u"], "'frob': unknown"),
    (["launcher", "install", "u", "--as"], "usage"),
    (["launcher", "install", "u", "--as", "a/b"], "'a/b' is not a valid command name"),
    (["launcher", "install", "u", "extra"], "usage"),
    (["launcher", "remove", "u", "extra"], "extra"),
    (["frobnicate"], "'frobnicate' is not a verb"),
    (["create"], "missing NAME"),
]


@pytest.mark.parametrize("args,message", USAGE, ids=[" ".join(a) for a, _ in USAGE])
def test_usage_errors(ctr, args, message):
    ctr.create("u")
    before = ctr.snapshot()
    r = ctr.ab(*args)
    line = one_line_error(r, code=2)
    assert message in line, line
    assert_unchanged(ctr, before)
    assert ctr.log("u") == []
