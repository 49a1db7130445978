"""How a task's process starts: the program looked up on its PATH, the two ways of spawning
(posix_spawn in the engine's folder, Popen in another) alike."""

from __future__ import annotations

import os
import sys

import pytest

from tuiflow.engine import procutil
from tuiflow.engine import spawn as spawn_mod
from tuiflow.engine.runner import CommandRequest, LocalRunner

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


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
    _tool(tmp_path / "b", "from-b")
    monkeypatch.setattr(spawn_mod, "find_program", lambda program, env, cwd: str(tmp_path / "a" / program))
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


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ways `start` took, in order."""
    names: list[str] = []

    def counted(name, real):
        def spawn(*args, **kw):
            names.append(name)
            return real(*args, **kw)
        return spawn

    monkeypatch.setattr(spawn_mod, "_posix_spawn", counted("posix_spawn", spawn_mod._posix_spawn))
    monkeypatch.setattr(spawn_mod, "_popen", counted("popen", spawn_mod._popen))
    return names


@pytest.fixture(params=["posix_spawn", "popen"])
def route(request: pytest.FixtureRequest, taken: list[str], tmp_path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Spawns into tmp_path from the engine's folder (posix_spawn) or another (Popen)."""
    if request.param == "posix_spawn":
        monkeypatch.chdir(tmp_path)  # the task's folder is the engine's: no chdir needed
    return taken


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_every_spawn_route_starts_the_same_process(route, tmp_path, request) -> None:
    """Folder, environment, own session, default SIGPIPE/SIGXFSZ, exit status, no fd of the
    engine's; and the same errors for a missing program or folder, a file that is no program
    and a bad environment."""
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho hi\n")
    leaked_r, leaked_w = os.pipe()
    os.set_inheritable(leaked_w, True)   # as a pipe the engine's own parent left open for it
    devnull = os.open(os.devnull, os.O_RDONLY)
    r, w = os.pipe()
    check = (f'echo "$0 $A $(pwd)"; grep SigIgn /proc/$$/status; '
             f'[ -e /dev/fd/{leaked_w} ] && echo leaked; exit 7')
    try:
        pid = spawn_mod.start(["sh", "-c", check], spawn_mod.find_program("sh", ENV, str(tmp_path)),
                              str(tmp_path), {**ENV, "A": "ü"}, devnull, w, w, spawn_mod.inherited_fds())
        assert os.getsid(pid) == pid
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7
        os.close(w)
        w = -1
        first, ignored, *rest = os.read(r, 1000).decode().splitlines()
        assert first == f"sh ü {tmp_path}"
        assert int(ignored.split()[1], 16) & (1 << 12 | 1 << 24) == 0   # SIGPIPE, SIGXFSZ: default
        assert rest == []                                                 # no "leaked"
        assert route and set(route) == {request.node.callspec.id}

        with pytest.raises(FileNotFoundError) as missing:
            spawn_mod.start(["no-such-program-xyz"], None, str(tmp_path), ENV, devnull, devnull, devnull)
        assert missing.value.filename == "no-such-program-xyz"
        for program in ("true", "no-such-program-xyz"):  # the folder is the first thing a start needs
            with pytest.raises(FileNotFoundError) as gone:
                spawn_mod.start([program], spawn_mod.find_program(program, ENV, "/"), str(tmp_path / "gone"),
                                ENV, devnull, devnull, devnull)
            assert gone.value.filename == str(tmp_path / "gone")
        with pytest.raises(NotADirectoryError) as not_dir:
            spawn_mod.start(["true"], None, str(script), ENV, devnull, devnull, devnull)
        assert not_dir.value.filename == str(script)
        with pytest.raises(PermissionError):
            spawn_mod.start([str(script)], None, str(tmp_path), ENV, devnull, devnull, devnull)
        with pytest.raises(ValueError):
            spawn_mod.start(["true"], None, str(tmp_path), {"A=B": "x"}, devnull, devnull, devnull)
        with pytest.raises(TypeError):
            spawn_mod.start(["true"], None, str(tmp_path), {"A": None}, devnull, devnull, devnull)  # type: ignore[dict-item]
    finally:
        for fd in (devnull, r, w, leaked_r, leaked_w):
            if fd >= 0:
                os.close(fd)
    assert all((st := procutil.proc_stat(p)) is None or st.state != "Z" for p in procutil.my_children())


def test_a_spawner_thread_starts_by_popen_which_lets_the_loop_run(taken, tmp_path, monkeypatch) -> None:
    """os.posix_spawn holds the GIL until the child has exec'd: from a thread it would stall the
    loop as much as inline, so a spawner thread starts by Popen even in the engine's folder."""
    monkeypatch.chdir(tmp_path)
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        for in_thread in (False, True):
            pid = spawn_mod.start(["true"], spawn_mod.find_program("true", ENV, str(tmp_path)), str(tmp_path), ENV,
                                  devnull, devnull, devnull, in_thread=in_thread)
            assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    finally:
        os.close(devnull)
    assert taken == ["posix_spawn", "popen"]


def test_a_program_path_relative_to_the_task_folder_runs_there(tmp_path) -> None:
    import asyncio

    _tool(tmp_path / "bin", "relative")
    runner = LocalRunner()

    async def go():
        try:
            return await _run(runner, "bin/mytool", tmp_path, "/usr/bin:/bin")
        finally:
            await runner.aclose()

    assert asyncio.run(go()) == (True, "", b"relative\n")
