"""A Dask worker's tuiflow agent: the process that runs the worker's commands with the local runner.

`python -m tuiflow.engine.daskagent FD`, started by the worker's first attempt (daskworker.py) in
a session of its own. FD is its end of a socket to the worker, over which each attempt's own
connection arrives (SCM_RIGHTS). The agent is what a command's processes belong to: the local
runner gives each command its own session, its timeout, the SIGTERM -> SIGKILL grace, and ends
what a command leaves behind (its group; `setsid` orphans, which the agent inherits as a child
subreaper). When the worker is gone — even SIGKILLed, when the kernel closes its end of the
socket — the agent ends every command it runs, with the same grace, and exits.

On an attempt's connection (frames of tuiflow.remote.protocol): the worker sends `{"request"}`
+ the request as JSON, then maybe `{"cancel"}`; the agent sends output as `{"o": stream}` +
bytes, and `{"result"}` last. A connection that closes early cancels its command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from typing import Any

from tuiflow.remote.protocol import frame, read_frame

from .runner import CommandRequest, LocalRunner, RunningCommand


class Agent:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.runner = LocalRunner()
        self.handles: set[RunningCommand] = set()
        self.jobs: set[asyncio.Task[None]] = set()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        gone = loop.create_future()
        self.control.setblocking(False)

        def on_control() -> None:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(self.control, 16, 16)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                msg, fds = b"", []
            for fd in fds:
                job = loop.create_task(self.job(socket.socket(fileno=fd)))
                self.jobs.add(job)
                job.add_done_callback(self.jobs.discard)
            if not msg and not gone.done():
                loop.remove_reader(self.control.fileno())
                gone.set_result(None)

        loop.add_reader(self.control.fileno(), on_control)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, lambda: gone.done() or gone.set_result(None))
        await gone
        for handle in list(self.handles):   # the worker is gone: so is everything it ran
            handle.cancel()
        await self.runner.aclose()
        if self.jobs:
            await asyncio.wait(self.jobs, timeout=1.0)

    async def job(self, sock: socket.socket) -> None:
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        try:
            first = await read_frame(reader)
            if first is None or "request" not in first[0]:
                return
            request = _request(json.loads(first[1]))

            def on_output(stream: int, data: bytes) -> None:
                writer.write(frame({"o": stream}, data))

            handle = await self.runner.start(request, on_output)
            self.handles.add(handle)
            try:
                stop = asyncio.get_running_loop().create_task(self._cancel_on_word(reader, handle))
                result = await handle.wait()
                stop.cancel()
            finally:
                self.handles.discard(handle)
            writer.write(frame({"result": result._asdict()}))
            await writer.drain()
        except (OSError, ValueError):
            pass   # the worker's end went away: nobody is left to tell
        finally:
            writer.close()

    @staticmethod
    async def _cancel_on_word(reader: asyncio.StreamReader, handle: RunningCommand) -> None:
        """A `cancel` frame, or the worker's end closing, cancels the command."""
        with contextlib.suppress(OSError, ValueError):
            await read_frame(reader)
        handle.cancel()


_BASE_ENV = dict(os.environ)   # the worker's environment: read once, not at every command


def _request(d: dict[str, Any]) -> CommandRequest:
    """The engine's request, with the environment of this machine under what the pipeline exports."""
    command = d["command"]
    return CommandRequest(
        task=d["task"], attempt=d["attempt"],
        command=command if isinstance(command, str) else tuple(command),
        cwd=d["cwd"], env={**_BASE_ENV, **d["env"]}, shell=d["shell"], script=d["script"],
        timeout=d["timeout"], kill_grace=d["kill_grace"], separate_streams=d["separate_streams"])


def main(argv: list[str]) -> int:
    control = socket.socket(fileno=int(argv[0]))
    asyncio.run(Agent(control).serve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
