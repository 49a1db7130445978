"""Test doubles for the engine: a scripted CommandRunner and a recording EventSink.

Commands the FakeRunner understands (`&&` joins several, run in order):
  ok | fail | fail:N (exit N) | sleep:SECONDS | flaky:N (fails until attempt N) |
  spam:LINES | seq:FIRST:LAST (`line N` for each N) | echo:TEXT (stdout) | err:TEXT (stderr) |
  wait:PATH (until that file exists: the test says when)
"""

from __future__ import annotations

import asyncio
import os
import time

from tuiflow.engine.events import Event, TaskOutput, TaskStateChanged
from tuiflow.engine.model import TaskState
from tuiflow.engine.runner import CommandRequest, CommandResult, OutputCallback


class FakeCommand:
    _pids = 40000

    def __init__(self, request: CommandRequest, on_output: OutputCallback, runner: FakeRunner):
        FakeCommand._pids += 1
        self.pid = FakeCommand._pids
        self.request = request
        self.on_output = on_output
        self.runner = runner
        self._cancel = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def cancel(self) -> None:
        self.runner.cancels.append(self.request.task)
        self._cancel.set()

    async def wait(self) -> CommandResult:
        return await self._task

    async def _run(self) -> CommandResult:
        t0 = time.monotonic()
        command = self.request.command
        steps = command.split("&&") if isinstance(command, str) else list(command)
        for step in steps:
            op, _, arg = step.strip().partition(":")
            if op == "ok" or op == "":
                continue
            if op == "fail":
                code = int(arg or 1)
                return CommandResult(exit_code=code, reason=f"exit {code}", duration=time.monotonic() - t0)
            if op == "flaky":
                if self.request.attempt < int(arg):
                    return CommandResult(exit_code=1, reason="exit 1", duration=time.monotonic() - t0)
                continue
            if op == "sleep":
                timeout = self.request.timeout
                delay = float(arg)
                try:
                    await asyncio.wait_for(self._cancel.wait(), min(delay, timeout) if timeout else delay)
                except TimeoutError:
                    if timeout is not None and timeout < delay:
                        return CommandResult(exit_code=None, signal=15, timed_out=True,
                                             reason=f"timed out after {timeout:g}s",
                                             duration=time.monotonic() - t0)
                    continue
                return CommandResult(exit_code=None, signal=15, cancelled=True, reason="cancelled",
                                     duration=time.monotonic() - t0)
            if op == "spam":
                n = int(arg)
                line = b"x" * 60 + b"\n"
                for start in range(0, n, 1000):
                    self.on_output(1, line * min(1000, n - start))
                    await asyncio.sleep(0)
                continue
            if op == "wait":
                while not os.path.exists(arg):
                    try:
                        await asyncio.wait_for(self._cancel.wait(), 0.01)
                    except TimeoutError:
                        continue
                    return CommandResult(exit_code=None, signal=15, cancelled=True, reason="cancelled",
                                         duration=time.monotonic() - t0)
                continue
            if op == "seq":
                first, last = map(int, arg.split(":"))
                for start in range(first, last + 1, 1000):
                    self.on_output(1, b"".join(b"line %d\n" % n for n in range(start, min(start + 1000, last + 1))))
                    await asyncio.sleep(0)
                continue
            if op == "echo":
                self.on_output(1, arg.encode() + b"\n")
                continue
            if op == "err":
                self.on_output(2, arg.encode() + b"\n")
                continue
            if op == "env":
                self.on_output(1, self.request.env.get(arg, "").encode() + b"\n")
                continue
            raise ValueError(f"FakeRunner: unknown step {step!r}")
        return CommandResult(exit_code=0, duration=time.monotonic() - t0)


class FakeRunner:
    """Runs scripted commands in-process, recording what started and what was cancelled."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.cancels: list[str] = []
        self.requests: dict[str, CommandRequest] = {}
        self.live: dict[str, FakeCommand] = {}

    async def start(self, request: CommandRequest, on_output: OutputCallback) -> FakeCommand:
        self.started.append((request.task, request.attempt))
        self.requests[request.task] = request
        cmd = FakeCommand(request, on_output, self)
        self.live[request.task] = cmd
        return cmd

    async def aclose(self) -> None:
        for cmd in self.live.values():
            cmd._cancel.set()


class Recorder:
    """An EventSink that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def states(self, task: str) -> list[TaskState]:
        return [e.state for e in self.events if isinstance(e, TaskStateChanged) and e.task == task]

    def output(self, task: str) -> bytes:
        return b"".join(e.data for e in self.events if isinstance(e, TaskOutput) and e.task == task)

    def of(self, kind: type[Event]) -> list[Event]:
        return [e for e in self.events if isinstance(e, kind)]


def contents(events: list[Event]) -> list[tuple[type, dict]]:
    """What events say (their type and `to_dict()`): events compare by identity, not by value."""
    return [(type(e), e.to_dict()) for e in events]


async def until(cond, timeout: float = 5.0) -> None:
    """Wait (polling the loop) until cond() is true; fail the test after `timeout` seconds."""
    for _ in range(int(timeout / 0.005)):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")
