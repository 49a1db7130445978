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


async def _run(runner: LocalRunner, command: str, cwd, path: str) -> tuple[bool, str, bytes]:
    out: list[bytes] = []
    handle = await runner.start(CommandRequest(task="t", attempt=1, command=command, cwd=str(cwd),
                                               env={"PATH": path}),
                                lambda stream, chunk: out.append(chunk))
    result = await handle.wait()
    return result.ok, result.reason, b"".join(out)


def _tool(folder, text: str):
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / "mytool"
    tool.write_text(f"#!/bin/sh\necho {text}\n")
    tool.chmod(0o755)
    return tool


async def test_programs_are_looked_up_on_path_at_every_start(tmp_path):
    """As make does: a program that an earlier task made, moved or removed is seen by the next one
    (a venv's `python` put ahead of the system's on PATH is the one that runs)."""
    a, b = tmp_path / "a", tmp_path / "b"
    path = f"{a}:{b}:/usr/bin:/bin"
    runner = LocalRunner()
    try:
        assert (await _run(runner, "mytool", tmp_path, path))[:2] == (False, "cannot start: mytool: command not found")
        _tool(b, "from-b")
        assert (await _run(runner, "mytool", tmp_path, path))[2] == b"from-b\n"
        _tool(a, "from-a")
        assert (await _run(runner, "mytool", tmp_path, path))[2] == b"from-a\n"
        (a / "mytool").unlink()
        assert (await _run(runner, "mytool", tmp_path, path))[2] == b"from-b\n"
        (b / "mytool").chmod(0o644)   # not executable: skipped, as exec along PATH skips it
        assert (await _run(runner, "mytool", tmp_path, path))[0] is False
    finally:
        await runner.aclose()


async def test_relative_path_entries_are_relative_to_the_task_folder(tmp_path):
    _tool(tmp_path / "one" / "bin", "one")
    _tool(tmp_path / "two" / "bin", "two")
    runner = LocalRunner()
    try:
        outs = [(await _run(runner, "mytool", tmp_path / name, "bin:/usr/bin:/bin"))[2] for name in ("one", "two")]
    finally:
        await runner.aclose()
    assert outs == [b"one\n", b"two\n"]


async def test_a_program_gone_between_lookup_and_start_is_walked_for(tmp_path, monkeypatch):
    from tuiflow.engine import runner as runner_module

    _tool(tmp_path / "b", "from-b")
    monkeypatch.setattr(runner_module, "_program_path", lambda program, req: str(tmp_path / "a" / program))
    runner = LocalRunner()
    try:
        assert (await _run(runner, "mytool", tmp_path, f"{tmp_path / 'b'}:/usr/bin"))[2] == b"from-b\n"
    finally:
        await runner.aclose()


async def test_a_program_exec_refuses_is_passed_over_for_the_next_on_path(tmp_path):
    """As exec along PATH does: a file that is not a program (a broken binary) is skipped."""
    a = tmp_path / "a"
    a.mkdir()
    (a / "mytool").write_bytes(b"\x7fELFgarbage")
    (a / "mytool").chmod(0o755)
    _tool(tmp_path / "b", "from-b")
    runner = LocalRunner()
    try:
        assert (await _run(runner, "mytool", tmp_path, f"{a}:{tmp_path / 'b'}:/usr/bin"))[2] == b"from-b\n"
    finally:
        await runner.aclose()
