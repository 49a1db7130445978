"""An engine and its viewers in one process, joined by socketpairs: the protocol without processes."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from tests.engine.fakes import FakeRunner, Recorder
from tuiflow.engine.model import Pipeline, TaskSpec
from tuiflow.engine.scheduler import Scheduler
from tuiflow.engine.store import RunStore
from tuiflow.remote.client import Channel, RemoteRun
from tuiflow.remote.server import RunServer

LOG: list[str] = []


def t(name: str, command: str | None = "ok", *deps: str, **kw) -> TaskSpec:
    return TaskSpec(name=name, command=command, depends_on=tuple(deps), **kw)


def engine(tmp: Path, *specs: TaskSpec, limit: int = 4, linger: bool = True) -> tuple[Scheduler, RunServer, FakeRunner]:
    pipe = Pipeline(name="demo", file=str(tmp / "demo.yaml"), tasks=tuple(specs), max_parallel=limit)
    runner = FakeRunner()
    sched = Scheduler(pipe, runner=runner, store=RunStore.create(str(tmp / "state"), pipe))
    return sched, RunServer(sched, linger=linger, on_log=LOG.append), runner


async def viewer(server: RunServer, read_only: bool = False, watch: tuple[str, ...] = ()) -> tuple[RemoteRun, Recorder]:
    """A connected, greeted viewer whose receive loop runs as a task (`run.task`)."""
    ours, theirs = socket.socketpair()
    await server.adopt(theirs)
    channel = Channel(ours)
    hello = await asyncio.to_thread(channel.hello, read_only)
    run = RemoteRun(channel, hello)
    run.watch(watch)
    seen = Recorder()
    run.subscribe(seen)
    run.task = asyncio.get_running_loop().create_task(run.run())  # type: ignore[attr-defined]
    return run, seen


async def until(cond, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {cond}")
        await asyncio.sleep(0.01)
