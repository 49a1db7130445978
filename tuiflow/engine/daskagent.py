"""A Dask worker's tuiflow agent: the process that runs the worker's commands with the local runner.

`python -m tuiflow.engine.daskagent FD`, started by the worker's first attempt (daskworker.py) in
a session of its own. FD is its end of a socket to the worker, which carries every attempt of
that worker. The agent is what a command's processes belong to: the local runner gives each
command its own session, its timeout, the SIGTERM -> SIGKILL grace, and ends what a command
leaves behind (its group; `setsid` orphans, which the agent inherits as a child subreaper). When
the worker is gone — even SIGKILLed, when the kernel closes its end of the socket — the agent
ends every command it runs, with the same grace, and exits.

On the socket (frames of tuiflow.remote.protocol, each naming its attempt with `"j": N`): the
worker sends `{"request"}` + the request as JSON, then maybe `{"cancel"}`; the agent sends output
as `{"o": stream}` + bytes, and `{"result"}` last.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from typing import Any

from tuiflow.remote.protocol import ProtocolError, frame

from .daskworker import frames
from .runner import CommandRequest, CommandResult, LocalRunner, RunningCommand


class Agent(asyncio.Protocol):
    def __init__(self) -> None:
        self.runner = LocalRunner()
        self.handles: dict[int, RunningCommand] = {}
        self.cancelled: set[int] = set()    # cancels that came while their command was starting
        self.jobs: set[asyncio.Task[None]] = set()
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.gone: asyncio.Future[None] | None = None

    async def serve(self, control: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self.gone = loop.create_future()
        await loop.create_unix_connection(lambda: self, sock=control)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self._end)
        await self.gone
        for handle in list(self.handles.values()):   # the worker is gone: so is everything it ran
            handle.cancel()
        await self.runner.aclose()
        if self.jobs:
            await asyncio.wait(self.jobs, timeout=1.0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            for header, payload in frames(self.buf):
                j = header.get("j")
                if "request" in header:
                    job = asyncio.get_running_loop().create_task(self.job(j, payload))
                    self.jobs.add(job)
                    job.add_done_callback(self.jobs.discard)
                elif "cancel" in header:
                    handle = self.handles.get(j)
                    if handle is not None:
                        handle.cancel()
                    else:
                        self.cancelled.add(j)
        except ProtocolError:
            self._end()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def _end(self) -> None:
        if self.gone is not None and not self.gone.done():
            self.gone.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def _send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(header, payload))

    async def job(self, j: int, payload: bytes) -> None:
        try:
            request = _request(json.loads(payload))
        except (ValueError, KeyError, TypeError) as exc:
            result = CommandResult(exit_code=None, reason=f"cannot start: a request this agent cannot read: {exc}")
        else:
            send = self._send

            def on_output(stream: int, data: bytes) -> None:
                send({"o": stream, "j": j}, data)

            try:
                handle = await self.runner.start(request, on_output)
            except Exception as exc:  # noqa: BLE001 - the worker waits for a result: this is it
                result = CommandResult(exit_code=None, reason=f"cannot start: {exc}")
            else:
                self.handles[j] = handle
                if j in self.cancelled:
                    handle.cancel()
                try:
                    result = await handle.wait()
                finally:
                    del self.handles[j]
        self.cancelled.discard(j)
        self._send({"result": result._asdict(), "j": j})


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
    asyncio.run(Agent().serve(control))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
