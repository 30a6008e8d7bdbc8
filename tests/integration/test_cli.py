"""The command line itself (issue 10): help for every verb, shell
completion (bash really exercised; zsh and fish scripts parsed and
exercised when those shells are installed, skipped with the reason if not), list and image list output, rm and stop with several
names, exit codes as podman's, and options given in the wrong place.
Store-touching tests run as root and as an unprivileged user."""

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, ok, run
from containers_support import assert_unchanged, ctr, one_line_error  # noqa: F401 (fixture)

IMAGE = "debian-bookworm-minbase"


def ab(appbox_bin, *args, **kw):
    return run([appbox_bin, *args], **kw)


def complete(appbox, *words, store=None):
    """What `appbox __complete WORDS...` answers: (kind, candidates)."""
    r = store.ab("__complete", *words) if store else run([appbox, "__complete", *words])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    return (lines[0] if lines else None), lines[1:]


def verbs(appbox_bin):
    kind, words = complete(appbox_bin, "")
    assert kind == "words"
    return [w for w in words if not w.startswith("-")]


# the words after which `__complete` lists a verb's options (and sub-verbs')
OPTION_QUERIES = {
    "run": [["run", "x", "++"]],
    "start": [["start", "x", "++"]],
    "create": [["create", "x", "-"]],
    "image": [["image", "list", "-"], ["image", "rm", "-"], ["image", "pull", "-"]],
    "launcher": [["launcher", "install", "x", "-"], ["launcher", "remove", "x", "-"]],
}

OPTION_RE = re.compile(r"(?<![\w+-])((?:--|\+\+)[a-z][a-z-]*)")


def test_every_verb_is_in_the_help_and_completed(appbox_bin):
    names = verbs(appbox_bin)
    for must in ("sandbox", "create", "run", "start", "stop", "exec", "shell", "list", "show", "config", "edit",
                 "rm", "launcher", "update", "image", "completion", "help", "version"):
        assert must in names, names
    assert "__complete" not in names
    text = ok(ab(appbox_bin, "help"))
    assert ok(ab(appbox_bin, "--help")) == text == ok(ab(appbox_bin, "-h"))
    for v in names:
        assert re.search(rf"(^  |\| ){v}\b", text, re.M), (v, text)
    # appbox alone: the same help, as a usage error
    r = ab(appbox_bin)
    assert r.returncode == 2 and r.stdout == text


def test_help_for_every_verb(appbox_bin):
    for v in verbs(appbox_bin):
        long = ab(appbox_bin, v, "--help")
        assert long.returncode == 0 and long.stdout.startswith("Usage: appbox"), (v, long.stdout, long.stderr)
        assert ok(ab(appbox_bin, v, "-h")) == long.stdout, v
        assert ok(ab(appbox_bin, "help", v)) == long.stdout, v
        if v == "help":
            continue
        # every option the verb takes (as completion offers them) is in its
        # help, and every option its help names is one it takes
        offered = set()
        for q in OPTION_QUERIES.get(v, [[v, "-"]]):
            kind, words = complete(appbox_bin, *q)
            offered |= set(words)
        offered.discard("--help")
        named = set(OPTION_RE.findall(long.stdout)) - {"--help", "--version" if v == "version" else ""}
        if v in ("run", "start"):  # the registry's help lines name the --flags they are
            named = {w for w in named if w.startswith("++")}
        assert offered <= named, (v, offered - named)
        assert named <= offered, (v, named - offered)
    # -h after the name, where --help works
    for args in (["create", "x", "-h"], ["stop", "x", "-h"], ["rm", "x", "-h"], ["image", "pull", "-h"],
                 ["launcher", "install", "x", "-h"], ["sandbox", "--network", "host", "-h"]):
        r = ab(appbox_bin, *args)
        assert r.returncode == 0 and r.stdout.startswith("Usage: appbox"), (args, r.stdout, r.stderr)
    r = ab(appbox_bin, "help", "frob")
    assert r.returncode == 2 and "'frob' is not a verb" in one_line_error(r)


def test_run_and_start_help_list_every_registry_option(appbox_bin):
    kind, sandbox_opts = complete(appbox_bin, "sandbox", "--")
    registry = {w[2:] for w in sandbox_opts if w != "--help"}
    assert {"network", "bind", "env", "io-uring"} <= registry
    for v in ("run", "start"):
        text = ok(ab(appbox_bin, v, "--help"))
        for name in registry:
            assert f"++{name}" in text, (v, name)


# ---------------------------------------------------------------------------
# completion


def bash_complete(store, *words):
    """COMPREPLY of the bash script for `appbox WORDS...` (the last word is
    the one being completed), in a real bash as the caller."""
    script = ('source <("$AB" completion bash) || exit 9\n'
              'COMP_WORDS=("$AB" "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()\n'
              '_appbox\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    r = run(["bash", "-c", script, "bash", *words], as_user=store.as_user,
            extra_env={**store.env, "AB": store.appbox})
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def make_image(store, name=IMAGE, content=b"x" * 1000):
    images = store.data / ".images"
    images.mkdir(exist_ok=True)
    tar = images / f"{name}.tar"
    tar.write_bytes(content)
    for p in (images, tar):
        os.chown(p, store.user.uid, store.user.gid)
    return tar


def test_bash_completion(ctr):
    ctr.create("cow-with-a-long-name", base="host", launcher=False)
    ctr.create("calf", base="host", launcher=False)
    make_image(ctr)
    got = bash_complete(ctr, "")
    assert {"create", "run", "start", "stop", "rm", "image", "completion", "help"} <= set(got), got
    assert bash_complete(ctr, "st") == ["start", "stop", "stats"]
    assert set(bash_complete(ctr, "rm", "-")) == {"--help", "--force"}
    assert set(bash_complete(ctr, "stop", "--")) == {"--help", "--all", "--timeout"}
    assert bash_complete(ctr, "run", "co") == ["cow-with-a-long-name"]
    assert set(bash_complete(ctr, "rm", "calf", "")) == {"calf", "cow-with-a-long-name"}
    assert bash_complete(ctr, "run", "calf", "++netw") == ["++network"]
    plus = bash_complete(ctr, "run", "calf", "++")
    assert {"++network", "++bind", "++show", "++cmd", "++aptupdate"} <= set(plus), plus
    start = bash_complete(ctr, "start", "calf", "++")
    assert "++network" in start and "++show" not in start, start
    assert set(bash_complete(ctr, "run", "calf", "++seccomp", "")) == {"on", "off"}
    assert {"none", "host", "nat", "macvlan", "proxy"} <= set(bash_complete(ctr, "run", "calf", "++network", ""))
    assert "private" in bash_complete(ctr, "create", "new", "--display", "")
    assert set(bash_complete(ctr, "create", "new", "--net")) == {"--network"}
    assert "--base" in bash_complete(ctr, "create", "new", "--")
    assert set(bash_complete(ctr, "image", "")) == {"list", "rm", "pull", "--help"}
    assert bash_complete(ctr, "image", "rm", "") == [IMAGE]
    assert bash_complete(ctr, "completion", "") == ["bash", "zsh", "fish"]
    assert "version" in bash_complete(ctr, "help", "")
    # a value that is a path, and the command of sandbox: the shell's own
    assert "/etc" in bash_complete(ctr, "run", "calf", "++bind", "/et")
    assert "sh" in bash_complete(ctr, "sandbox", "sh")
    assert "sh" in bash_complete(ctr, "exec", "calf", "sh")
    # a name made a moment ago is offered at once
    ctr.create("heifer", base="host", launcher=False)
    assert bash_complete(ctr, "show", "he") == ["heifer"]


def test_completion_scripts(appbox_bin):
    for shell in ("bash", "zsh", "fish"):
        text = ok(ab(appbox_bin, "completion", shell))
        assert "__complete" in text, shell
        built = BUILD / "completions" / {"bash": "appbox", "zsh": "_appbox", "fish": "appbox.fish"}[shell]
        if built.exists():  # what meson installs is what the verb prints
            assert built.read_text() == text, built
    r = ab(appbox_bin, "completion", "tcsh")
    assert r.returncode == 2 and "'tcsh' is not a shell (allowed: bash, zsh, fish)" in one_line_error(r)
    r = ab(appbox_bin, "completion")
    assert r.returncode == 2 and "missing the shell" in one_line_error(r)


@pytest.mark.parametrize("shell,check", [("bash", ["bash", "-n"]), ("zsh", ["zsh", "-n"]), ("fish", ["fish", "-n"])])
def test_completion_script_parses(appbox_bin, world_tmp, shell, check):
    if not shutil.which(check[0]):
        pytest.skip(f"{check[0]} is not installed: its script is not checked")
    path = world_tmp / f"appbox.{shell}"
    path.write_text(ok(ab(appbox_bin, "completion", shell)))
    r = subprocess.run([*check, str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_fish_completion(ctr, world_tmp):
    if not shutil.which("fish"):
        pytest.skip("fish is not installed: its completion is not exercised")
    ctr.create("cow", base="host", launcher=False)
    script = world_tmp / "appbox.fish"
    script.write_text(ok(ctr.ab("completion", "fish")))
    os.chmod(script, 0o644)

    def fish(line):
        r = run(["fish", "--no-config", "-c", f"source {script}; complete -C '{ctr.appbox} {line}'"],
                as_user=ctr.as_user, extra_env=ctr.env)
        assert r.returncode == 0, r.stderr
        return [l.split("\t")[0] for l in r.stdout.splitlines()]

    assert "run" in fish("ru")
    assert fish("run c") == ["cow"]
    assert fish("run cow ++netw") == ["++network"]
    assert "--force" in fish("rm -")


# ---------------------------------------------------------------------------
# list and image list


def test_list_columns_fit_long_names(ctr):
    long = "c" * 64
    ctr.create(long, launcher=False)  # base dir:<a long path>
    ctr.create("s", base="host", launcher=False)
    lines = ok(ctr.ab("list")).splitlines()
    header, rows = lines[0], lines[1:]
    assert header.split() == ["NAME", "BASE", "STATE", "SESSIONS", "PID", "SERVICE", "LAUNCHER"]
    by_name = {r.split()[0]: r for r in rows}
    assert set(by_name) == {long, "s"}
    base = f"dir:{ctr.src_root}"
    assert by_name[long].split() == [long, base, "stopped", "0", "-", "-", "-"]
    assert by_name["s"].split() == ["s", "host", "stopped", "0", "-", "-", "-"]
    # every column starts where its heading does
    for col, value in (("BASE", base), ("STATE", "stopped")):
        assert by_name[long].index(value) == header.index(col), (col, lines)
        assert by_name["s"].index(value if col == "STATE" else "host") == header.index(col), (col, lines)
    assert ok(ctr.ab("list", "--names")).splitlines() == sorted([long, "s"])
    r = ctr.ab("list", "--names", "--json")
    assert r.returncode == 2 and "--json and --names" in one_line_error(r)


def test_image_list_json(ctr):
    assert json.loads(ok(ctr.ab("image", "list", "--json"))) == []
    assert ok(ctr.ab("image", "list", "--names")) == ""
    tar = make_image(ctr, content=b"y" * 12345)
    long = "ubuntu-" + "n" * 60 + "-minbase"
    make_image(ctr, long)
    got = json.loads(ok(ctr.ab("image", "list", "--json")))
    assert [i["name"] for i in got] == sorted([IMAGE, long])
    one = [i for i in got if i["name"] == IMAGE][0]
    assert one["path"] == str(tar) and one["size"] == 12345
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", one["built"]), one
    assert ok(ctr.ab("image", "list", "--names")).splitlines() == sorted([IMAGE, long])
    lines = ok(ctr.ab("image", "list")).splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "BUILT"]
    assert {l.split()[0] for l in lines[1:]} == {IMAGE, long}
    size_col = [l.index(" MB") for l in lines[1:]]
    assert len(set(size_col)) == 1, lines  # the long name does not push its row out of line
    for args in (["list", "--bogus"], ["list", "--json", "--names"]):
        r = ctr.ab("image", *args)
        assert r.returncode == 2 and one_line_error(r) and not r.stdout, args


# ---------------------------------------------------------------------------
# rm and stop with several names


def test_rm_several_names(ctr):
    for n in ("a", "b", "c"):
        ctr.create(n, base="host")
    r = ctr.ab("rm", "a", "ghost", "b")
    assert r.returncode == 125, (r.returncode, r.stderr)
    assert r.stdout.splitlines() == ["removed a", "removed b"]
    assert "no container named 'ghost'" in one_line_error(r)
    assert [c["name"] for c in ctr.listing()] == ["c"]
    assert not ctr.launcher("a").exists() and not ctr.launcher("b").exists() and ctr.launcher("c").exists()
    # a name that cannot be one: the command line is wrong, nothing is removed
    before = ctr.snapshot()
    r = ctr.ab("rm", "c", "x/y")
    assert r.returncode == 2 and "not a valid container name" in one_line_error(r)
    assert_unchanged(ctr, before)
    # a running one is refused (that name only) unless --force
    ctr.create("d", base="host")
    ok(ctr.ab("start", "d"))
    r = ctr.ab("rm", "c", "d")
    assert r.returncode == 125 and r.stdout.splitlines() == ["removed c"], (r.stdout, r.stderr)
    assert "d" in one_line_error(r)
    assert ok(ctr.ab("rm", "-f", "d")).splitlines() == ["removed d"]
    assert ctr.listing() == []


def test_stop_several_names_and_all(ctr):
    for n in ("s1", "s2", "s3"):
        ctr.create(n, base="host", launcher=False)
    ok(ctr.ab("start", "s1"))
    ok(ctr.ab("start", "s2"))
    r = ctr.ab("stop", "s1", "ghost", "s3")
    assert r.returncode == 125, (r.returncode, r.stderr)
    assert r.stdout.splitlines() == ["stopped s1"]
    err = r.stderr.splitlines()
    assert err == ["appbox: no container named 'ghost' (see appbox list)", "appbox: s3 is not running"], err
    assert [ctr.state(n) for n in ("s1", "s2", "s3")] == ["stopped", "running", "stopped"]
    ok(ctr.ab("start", "s3"))
    r = ok(ctr.ab("stop", "--all", "--timeout", "5"))
    assert sorted(r.splitlines()) == ["stopped s2", "stopped s3"]
    assert [ctr.state(n) for n in ("s1", "s2", "s3")] == ["stopped"] * 3
    assert ok(ctr.ab("stop", "--all")) == ""
    for args, message in ((["--all", "s1"], "--all and names"), ([], "missing NAME"),
                          (["s1", "a/b"], "not a valid container name")):
        r = ctr.ab("stop", *args)
        assert r.returncode == 2 and message in one_line_error(r), (args, r.stderr)


# ---------------------------------------------------------------------------
# exit codes: 125 appbox, 126 cannot execute, 127 not found, 2 command line

MISSING = [["run", "ghost"], ["start", "ghost"], ["stop", "ghost"], ["exec", "ghost", "true"], ["shell", "ghost"],
           ["show", "ghost"], ["config", "ghost"], ["config", "ghost", "Network.Mode=host"], ["edit", "ghost"],
           ["rm", "ghost"], ["launcher", "install", "ghost"], ["launcher", "remove", "ghost"],
           ["run", "ghost", "++aptupdate"]]


def test_exit_codes(ctr):
    ctr.create("ec", base="host", launcher=False)
    before = ctr.snapshot()
    for args in MISSING:
        r = ctr.ab(*args, env={"EDITOR": "/bin/true"})
        assert r.returncode == 125, (args, r.returncode, r.stderr)
        assert "no container named 'ghost'" in r.stderr, (args, r.stderr)
    r = ctr.ab("update", "ghost")
    assert r.returncode == 125 and "ghost" in r.stderr, r.stderr
    r = ctr.ab("image", "rm", "debian-nothing-here")
    assert r.returncode == 125 and "no cached image named" in one_line_error(r)
    assert_unchanged(ctr, before)
    r = ctr.ab("create", "ec", "--base", "host")
    assert r.returncode == 125 and "already exists" in one_line_error(r)
    # the command: not found, cannot be executed
    for args in (["run", "ec", "++cmd", "/no/such/cmd"], ["sandbox", "/no/such/cmd"],
                 ["sandbox", "no-such-command-anywhere"]):
        r = ctr.ab(*args)
        assert r.returncode == 127, (args, r.returncode, r.stderr)
    for args in (["run", "ec", "++cmd", "/etc/passwd"], ["sandbox", "/etc/passwd"], ["sandbox", "/etc"]):
        r = ctr.ab(*args)
        assert r.returncode == 126, (args, r.returncode, r.stderr)
    # the command's own status
    assert ctr.ab("run", "ec", "++cmd", "sh", "-c", "exit 7").returncode == 7
    # the command line
    for args in (["frob"], ["list", "--frob"], ["rm", "--frob", "ec"], ["stop", "--timeout", "x", "ec"],
                 ["run", "ec", "++frob"], ["run", "ec", "++network", "wifi"], ["create", "new", "--frob"],
                 ["show"], ["help", "frob"], ["image", "frob"], ["completion", "csh"]):
        r = ctr.ab(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        one_line_error(r)


# ---------------------------------------------------------------------------
# options in the wrong place


MISPLACED = [
    (["run", "--network", "host", "cow"],
     "appbox: run: '--network' goes after the name as '++network': appbox run cow ++network host"),
    (["run", "--network=host", "cow", "--", "x"],
     "appbox: run: '--network' goes after the name as '++network': appbox run cow ++network host"),
    (["run", "++show", "cow"], "appbox: run: '++show' goes after the name: appbox run cow ++show"),
    (["start", "--bind", "/tmp/a b", "cow"],
     "appbox: start: '--bind' goes after the name as '++bind': appbox start cow ++bind '/tmp/a b'"),
    (["start", "++writable", "cow"], "appbox: start: '++writable' goes after the name: appbox start cow ++writable"),
    (["create", "--network", "host", "calf"],
     "appbox: create: '--network' goes after the name: appbox create calf --network host"),
    (["create", "--base", "host", "calf"], "appbox: create: '--base' goes after the name: appbox create calf --base host"),
    (["create", "++env", "A=1"],
     "appbox: create: '++env' goes after the name as '--env': appbox create NAME --env A=1"),
    (["exec", "cow", "--root", "id"], "appbox: exec: '--root' goes before the name: appbox exec --root cow id"),
    (["exec", "--env", "A=1", "cow", "--user", "nobody", "sh", "-c", "echo $A"],
     "appbox: exec: '--user' goes before the name: appbox exec --env A=1 --user nobody cow sh -c 'echo $A'"),
    (["exec", "--network", "host", "cow", "true"],
     "appbox: exec: '--network' is a container option, set when the container starts: "
     "appbox run NAME ++network MODE, or appbox start NAME ++network MODE"),
]


@pytest.mark.parametrize("args,message", MISPLACED, ids=[" ".join(a) for a, _ in MISPLACED])
def test_option_in_the_wrong_place(ctr, args, message):
    ctr.create("cow", base="host", launcher=False)
    before = ctr.snapshot()
    r = ctr.ab(*args)
    assert one_line_error(r, code=2) == message
    assert_unchanged(ctr, before)
    assert ctr.state("cow") == "stopped"


def test_unknown_option_before_the_name(ctr):
    for verb in ("run", "start"):
        r = ctr.ab(verb, "--frob", "cow")
        line = one_line_error(r, code=2)
        assert "'--frob': unknown option; the container's name comes first" in line, line


def test_start_takes_the_overrides_of_run(ctr):
    ctr.create("ov", base="host", launcher=False)
    ok(ctr.ab("start", "ov", "++hostname", "elsewhere", "++env", "GREETING=hi", "++network", "host"))
    try:
        assert ctr.state("ov") == "running"
        assert ok(ctr.ab("exec", "ov", "cat", "/proc/sys/kernel/hostname")).strip() == "elsewhere"
        assert ctr.show("ov")["network"] == "host"
    finally:
        ok(ctr.ab("stop", "ov"))
    # for that start only: appbox.conf is as it was
    ok(ctr.ab("start", "ov"))
    try:
        assert ok(ctr.ab("exec", "ov", "cat", "/proc/sys/kernel/hostname")).strip() != "elsewhere"
        assert ctr.show("ov")["network"] == "none"
    finally:
        ok(ctr.ab("stop", "ov"))
    for args, message in ((["++network", "wifi"], "'wifi' is not a network mode"),
                          (["++frob"], "'++frob': unexpected argument"), (["++bind"], "missing value")):
        r = ctr.ab("start", "ov", *args)
        assert message in one_line_error(r, code=2), (args, r.stderr)
        assert ctr.state("ov") == "stopped"


ZSH_DRIVER = r'''
compdef() { :; }   # what compinit gives; the script calls it when sourced
source "$1" || exit 9
# the completion system's builtins, as stubs that print what they are given
compadd() { while [[ $1 == -* && $1 != -- ]]; do shift; done; [[ $1 == -- ]] && shift; print -l -- "$@"; }
_files() { print FILES; }
_command_names() { print COMMANDS; }
shift
words=("$@"); CURRENT=$#
_appbox
'''


def test_zsh_completion(ctr, world_tmp):
    if not shutil.which("zsh"):
        pytest.skip("zsh is not installed: its completion is not exercised")
    ctr.create("cow", base="host", launcher=False)
    script = world_tmp / "_appbox"
    script.write_text(ok(ctr.ab("completion", "zsh")))
    os.chmod(script, 0o644)

    def zsh(*words):
        r = run(["zsh", "-f", "-c", ZSH_DRIVER, "zsh", str(script), ctr.appbox, *words], as_user=ctr.as_user,
                extra_env=ctr.env)
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()

    assert "run" in zsh("ru")
    assert zsh("run", "c") == ["cow"]
    assert zsh("run", "cow", "++netw") == ["++network"]
    assert zsh("sandbox", "") == ["COMMANDS"]
    assert zsh("run", "cow", "++bind", "") == ["FILES"]
