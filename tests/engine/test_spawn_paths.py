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
