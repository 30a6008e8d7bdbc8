"""Every option given a bad value: exit status 2, exactly one line on
stderr naming the option, the value and what is allowed, nothing on stdout,
and nothing left behind (no mount, no file in /tmp, /var/tmp, /dev/shm or
the runtime directory).

Each run happens in a private mount namespace whose /tmp, /var/tmp,
/dev/shm and runtime directory are fresh tmpfs mounts, so what appbox
leaves there can be told from what other programs on the machine write."""


import pytest

from conftest import require_root, run_isolated

def check_usage_error(appbox_bin, args, as_user, option, value=None):
    rc, out, err, report = run_isolated([appbox_bin, *args], as_user)
    assert rc == 2, f"exit status {rc} for {args}; stderr: {err!r}"
    assert out == "", f"stdout: {out!r}"
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), f"expected exactly one line on stderr: {err!r}"
    line = lines[0]
    assert option in line, f"{option} not named in {line!r}"
    if value:
        assert value in line, f"{value!r} not named in {line!r}"
    # what is allowed or expected: more than just option and value
    rest = line.replace(option, "", 1).replace(value, "", 1) if value else line.replace(option, "", 1)
    assert len(rest.strip(" :'\"")) > 12, f"no hint of what is allowed: {line!r}"
    assert report == "", f"left behind:\n{report}"
    return line


@pytest.fixture(params=["root", "user"])
def caller(request):
    require_root("the bad-input tests create users and private mount namespaces")
    return request.param


# (option, value[, the part of the value the message must name]):
# `appbox sandbox OPTION VALUE -- true`
BAD_VALUES = [
    ("--root", "/nonexistent-appbox-dir"),
    ("--root", "relative-nonexistent-dir"),
    ("--root", "/etc/passwd"),
    ("--root", ""),
    ("--bind", "/nonexistent-appbox-src"),
    ("--bind", "/nonexistent-appbox-src:/dst", "/nonexistent-appbox-src"),
    ("--bind", "/etc/passwd:relative/dst", "relative/dst"),
    ("--bind", "/etc/passwd:"),
    ("--bind", ""),
    ("--bind", "/etc:/"),
    ("--ro-bind", "/nonexistent-appbox-src"),
    ("--ro-bind", "/etc/passwd:relative/dst", "relative/dst"),
    ("--ro-bind", ""),
    ("--tmpfs", "relative/dir"),
    ("--tmpfs", ""),
    ("--tmpfs", "/"),
    ("--device", "/nonexistent-appbox-dev"),
    ("--device", "/etc/passwd"),
    ("--device", "dev/null"),
    ("--device", ""),
    ("--env", "NOEQUALS"),
    ("--env", "=value"),
    ("--env", ""),
    ("--chdir", "relative/dir"),
    ("--chdir", ""),
    ("--hostname", "bad name"),
    ("--hostname", "x" * 65),
    ("--hostname", ""),
    ("--uid", "abc"),
    ("--uid", "-1"),
    ("--uid", "4294967296"),
    ("--uid", ""),
    ("--cap-add", "NOT_A_CAP"),
    ("--cap-add", "12"),
    ("--cap-add", ""),
    ("--cap-drop", "NOT_A_CAP"),
    ("--network", "bogus"),
    ("--network", "NONE "),
    ("--network", ""),
    ("--seccomp", "maybe"),
    ("--seccomp", ""),
]


@pytest.mark.parametrize("case", BAD_VALUES, ids=[f"{c[0]}={c[1][:24]}" for c in BAD_VALUES])
def test_bad_value(appbox_bin, caller, case):
    option, value = case[:2]
    named = case[2] if len(case) > 2 else value
    check_usage_error(appbox_bin, ["sandbox", option, value, "--", "true"], caller, option, named)


@pytest.mark.parametrize("option,value", [("--network", "bogus"), ("--uid", "abc"),
                                          ("--bind", "/nonexistent-appbox-src")])
def test_bad_value_equals_form(appbox_bin, caller, option, value):
    check_usage_error(appbox_bin, ["sandbox", f"{option}={value}", "--", "true"], caller,
                      option, value)


@pytest.mark.parametrize("option", ["--root", "--network", "--bind", "--ro-bind", "--tmpfs",
                                    "--device", "--env", "--chdir", "--hostname", "--uid",
                                    "--cap-add", "--cap-drop", "--seccomp"])
def test_missing_value(appbox_bin, caller, option):
    check_usage_error(appbox_bin, ["sandbox", option], caller, option)


def test_flag_given_a_value(appbox_bin, caller):
    check_usage_error(appbox_bin, ["sandbox", "--writable=yes", "--", "true"], caller,
                      "--writable", "yes")


@pytest.mark.parametrize("opt", ["--no-such-option", "-x", "--no-such-option=1"])
def test_unknown_option(appbox_bin, caller, opt):
    check_usage_error(appbox_bin, ["sandbox", opt, "--", "true"], caller, opt.split("=")[0])


@pytest.mark.parametrize("args", [[], ["--"], ["--hostname", "box"], ["--hostname", "box", "--"]],
                         ids=["nothing", "dashdash", "options-only", "options-dashdash"])
def test_empty_command(appbox_bin, caller, args):
    line = check_usage_error(appbox_bin, ["sandbox", *args], caller, "command")
    assert "command" in line.lower()


def test_empty_command_string(appbox_bin, caller):
    rc, out, err, report = run_isolated([appbox_bin, "sandbox", "--", ""], caller)
    assert rc in (2, 127), err
    assert len(err.splitlines()) == 1, err
    assert report == ""


def test_unknown_verb(appbox_bin, caller):
    check_usage_error(appbox_bin, ["frobnicate"], caller, "frobnicate")
