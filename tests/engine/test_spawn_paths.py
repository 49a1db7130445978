"""A shell or program given by absolute path starts like one found on PATH."""

from __future__ import annotations

import pytest

from tuiflow.engine.runner import CommandRequest, LocalRunner


@pytest.mark.parametrize("shell,command", [("/bin/sh", "echo hi"), ("sh", "echo hi"),
                                           ("bash", "echo hi"), ("sh", ("/bin/echo", "hi")),
                                           ("sh", ("echo", "hi"))])
async def test_absolute_and_relative_programs_start(shell, command):
    runner = LocalRunner()
    out: list[bytes] = []
    try:
        handle = await runner.start(CommandRequest(task="t", attempt=1, command=command, cwd="/tmp",
                                                   env={"PATH": "/usr/bin:/bin"}, shell=shell),
                                    lambda stream, chunk: out.append(chunk))
        result = await handle.wait()
    finally:
        await runner.aclose()
    assert result.ok, result.reason
    assert b"".join(out) == b"hi\n"


@pytest.mark.parametrize("command,argv", [
    ("true", ["true"]),
    ("python3 extract.py  sales", ["python3", "extract.py", "sales"]),
    ("echo $HOME", None), ("ls *.csv", None), ("a=b cmd", None), ('echo "x y"', None),
    ("cd /tmp", None), ("exit 3", None), ("set -e", None), ("x | y", None), ("a\nb", None), ("", None),
])
def test_commands_without_shell_syntax_skip_the_shell(command, argv):
    from tuiflow.engine.runner import direct_argv

    assert direct_argv(command, "sh") == argv
    assert direct_argv(command, "/usr/bin/bash") == argv
    assert direct_argv(command, "python3") is None  # not a POSIX shell: always `shell -c`


async def test_direct_and_shell_runs_look_the_same_to_a_user(tmp_path):
    runner = LocalRunner()
    try:
        results = {}
        for command in ("echo  one   two", "echo one two;"):
            out: list[bytes] = []
            handle = await runner.start(CommandRequest(task="t", attempt=1, command=command, cwd=str(tmp_path),
                                                       env={"PATH": "/usr/bin:/bin"}, shell="sh"),
                                        lambda stream, chunk, out=out: out.append(chunk))
            results[command] = (await handle.wait(), b"".join(out))
        missing = await runner.start(CommandRequest(task="t", attempt=1, command="no-such-program x",
                                                    cwd=str(tmp_path), env={"PATH": "/usr/bin:/bin"}),
                                     lambda stream, chunk: None)
        missing_result = await missing.wait()
    finally:
        await runner.aclose()
    assert results["echo  one   two"][1] == results["echo one two;"][1] == b"one two\n"
    assert not missing_result.ok and missing_result.reason == "cannot start: no-such-program: command not found"
