"""What runs inside a Dask worker for tuiflow: one attempt of a task, through the worker's agent.

The engine (daskrunner.py) submits `run_attempt` pinned to one worker. It is a coroutine, so the
worker runs it on its own event loop (it still takes one of the worker's threads, as a slot), with
no thread of its own: it hands the command to the worker's agent (daskagent.py: a process of its
own that runs it with the local runner, so that a killed worker's commands are still ended) on
the one connection every attempt of this worker shares, relays the output to the engine as it
comes, in batches of at most BATCH_BYTES at most every BATCH_INTERVAL, with `log_event` on the
run's topic, and ends with the result on the same topic (so it arrives after every batch, and
before the task's end).

`cancel` is run on the same loop through `Client.run`, with every attempt the engine cancels at
once on this worker: a running attempt is told to stop (the agent: SIGTERM to its group, SIGKILL
after the grace); one that has not started never will.
An attempt whose key the scheduler let go (the engine's client left) is stopped the same way.

Messages on the topic are lists `["tuiflow", key, kind, payload]`:
  "o": [stream, bytes, stream, bytes, ...] (output);  "x": the result (CommandResult's fields).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from tuiflow import __version__
from tuiflow.remote.protocol import ProtocolError, frame, parse_header

BATCH_INTERVAL = 0.05    # seconds between output events of one attempt, at most (a quiet one sends at once)
BATCH_BYTES = 64 * 1024  # bytes in one output event, at most: a topic keeps its last 1 000 events
TICK = 0.05              # how often a running attempt checks whether the scheduler let it go
AGENT_MODULE = "tuiflow.engine.daskagent"
MARK = "tuiflow"
CANCELLED = {"exit_code": None, "cancelled": True, "reason": "cancelled"}   # an attempt that never started

# all of these live on the worker's event loop (run_attempt, cancel and hello all run there): no lock
_jobs: dict[str, _Job] = {}        # key -> the attempt running in this worker
_cancelled: dict[str, None] = {}   # keys cancelled before they started here (oldest first)
_ended: dict[str, None] = {}       # keys of the attempts that ended here lately (oldest first)
_REMEMBER = 10_000                 # keys each of those two keeps at most
_agent: _Agent | None = None


def hello() -> str:
    """The tuiflow version on this worker (the engine checks that it has its own)."""
    return __version__


async def run_attempt(key: str, topic: str, request: str) -> None:
    """Run one attempt's command on this worker (`request`: JSON, see daskagent._request); its
    result is the last event on `topic`. The task's own value is None: Dask sizes and keeps a
    task's value until the engine lets it go, and the engine has the result by then."""
    from distributed import get_worker

    worker = get_worker()
    if key in _cancelled:
        del _cancelled[key]
        result = dict(CANCELLED)
    else:
        job = _jobs[key] = _Job(worker, key, topic)
        try:
            result = await job.run(request)
        finally:
            _jobs.pop(key, None)
            _remember(_ended, key)
    worker.log_event(topic, [MARK, key, "x", result])


def cancel(keys: list[str]) -> dict[str, str]:
    """Stop these attempts on this worker, all at once; for each key: "running" or "ended" (its
    result follows on the topic), or "queued" (it has not started and never will; the engine ends
    it). Run on the worker's loop by Client.run. The engine sends the attempts it cancels together
    (a run's cancel) in one call: were they sent one by one, stopping a running one could free its
    slot for one still queued here, which would start before its own cancel arrived."""
    said = {}
    for key in keys:
        job = _jobs.get(key)
        if job is not None:
            job.stop()
            said[key] = "running"
        elif key in _ended:
            said[key] = "ended"
        else:
            _remember(_cancelled, key)
            said[key] = "queued"
    return said


def _remember(keys: dict[str, None], key: str) -> None:
    keys[key] = None
    if len(keys) > _REMEMBER:
        del keys[next(iter(keys))]


class _Job:
    """One attempt here: its frames on the agent's connection, handled on the worker's event loop."""

    def __init__(self, worker: Any, key: str, topic: str) -> None:
        self.worker = worker
        self.key = key
        self.topic = topic
        self.loop = asyncio.get_running_loop()
        self.agent: _Agent | None = None
        self.id = 0
        self.result: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self.batch: list[Any] = []     # stream, bytes, stream, bytes ...
        self.size = 0
        self.sent_at = -BATCH_INTERVAL
        self.flusher: asyncio.TimerHandle | None = None
        self.watcher: asyncio.TimerHandle | None = None
        self.stopping = False

    async def run(self, request: str) -> dict[str, Any]:
        try:
            agent = await _agent_for()
        except OSError as exc:
            return {"exit_code": None, "reason": f"cannot start: the tuiflow agent of this worker: {exc}"}
        if self.stopping:   # cancelled while the agent started: its command never starts
            return dict(CANCELLED)
        if agent.lost:      # gone while it started: nothing would answer
            return {"exit_code": None, "reason": "cannot start: the tuiflow agent of this worker ended"}
        self.agent = agent
        self.id = agent.add(self)
        agent.send({"request": True, "j": self.id}, request.encode())
        self.watcher = self.loop.call_later(TICK, self._watch)
        try:
            return await self.result
        except asyncio.CancelledError:   # the worker is closing: so is the command
            self.stop()
            raise
        finally:
            agent.jobs.pop(self.id, None)
            for timer in (self.flusher, self.watcher):
                if timer is not None:
                    timer.cancel()

    def stop(self) -> None:
        """Tell the agent to stop the command (once); its result follows."""
        if not self.stopping and not self.result.done():
            self.stopping = True
            if self.agent is not None:
                self.agent.send({"cancel": True, "j": self.id})

    def _watch(self) -> None:
        if _released(self.worker, self.key):
            self.stop()
        else:
            self.watcher = self.loop.call_later(TICK, self._watch)

    def output(self, stream: int, payload: bytes) -> None:
        batch, n = self.batch, len(payload)
        if batch and batch[-2] == stream and self.size + n <= BATCH_BYTES:
            batch[-1] += payload
        else:
            if self.size + n > BATCH_BYTES and batch:
                self._flush()
                batch = self.batch
            batch += [stream, payload]
        self.size += n
        if self.size >= BATCH_BYTES:
            self._flush()

    def output_read(self) -> None:
        """What one read brought is in: sent now if the last batch left BATCH_INTERVAL ago, else then."""
        if self.batch and self.flusher is None:
            if self.loop.time() - self.sent_at >= BATCH_INTERVAL:
                self._flush()
            else:
                self.flusher = self.loop.call_at(self.sent_at + BATCH_INTERVAL, self._flush)

    def _flush(self) -> None:
        if self.flusher is not None:
            self.flusher.cancel()
            self.flusher = None
        if self.batch:
            self.worker.log_event(self.topic, [MARK, self.key, "o", self.batch])
            self.batch, self.size, self.sent_at = [], 0, self.loop.time()

    def end(self, result: dict[str, Any]) -> None:
        self._flush()
        if not self.result.done():
            self.result.set_result(result)


def _released(worker: Any, key: str) -> bool:
    """The scheduler let this attempt go (its client left, or cancelled it): it must stop."""
    ts = worker.state.tasks.get(key)
    return ts is None or ts.state not in ("executing", "long-running")


def frames(buf: bytearray) -> Iterator[tuple[dict[str, Any], bytes]]:
    """The whole frames at the start of `buf`, taken out of it as they are read (ProtocolError for
    garbage); a frame cut short stays for the next read."""
    while True:
        end = buf.find(b"\n")
        if end < 0:
            return
        header = parse_header(bytes(buf[:end]))
        need = end + 1 + header.get("n", 0)
        if len(buf) < need:
            return
        payload = bytes(buf[end + 1:need])
        del buf[:need]
        yield header, payload


class _Agent(asyncio.Protocol):
    """The worker's agent process and the one connection every attempt shares with it: requests
    and cancels go out, output and results come back, each frame naming its attempt (`"j"`)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", AGENT_MODULE, str(theirs.fileno())],
                                         pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                         start_new_session=True, close_fds=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.jobs: dict[int, _Job] = {}
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.lost = False
        self._ids = 0
        loop = asyncio.get_running_loop()
        self.ready = loop.create_task(loop.create_unix_connection(lambda: self, sock=ours))

    @property
    def alive(self) -> bool:
        return not self.lost and self.proc.poll() is None

    @property
    def usable(self) -> bool:
        """Alive and connected, or still connecting."""
        ready = self.ready
        if not ready.done():
            return True
        return not ready.cancelled() and ready.exception() is None and self.alive

    def add(self, job: _Job) -> int:
        self._ids += 1
        self.jobs[self._ids] = job
        return self._ids

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(header, payload))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        read = set()
        try:
            for header, payload in frames(self.buf):
                job = self.jobs.get(header.get("j"))
                if job is None:
                    continue
                if "o" in header:
                    job.output(header["o"], payload)
                    read.add(job)
                elif "result" in header:
                    read.discard(job)
                    job.end(header["result"])
        except ProtocolError as exc:
            self._fail(f"the tuiflow agent of this worker failed: {exc}")
            return
        for job in read:
            job.output_read()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail("the tuiflow agent of this worker ended before the command")

    def _fail(self, why: str) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()
        for job in list(self.jobs.values()):
            job.end({"exit_code": None, "reason": why})


async def _agent_for() -> _Agent:
    """This worker's agent, started by the first attempt (again if it died)."""
    global _agent
    if _agent is None or not _agent.usable:
        if _agent is not None and _agent.transport is not None:
            _agent.transport.close()
        _agent = _Agent()
    agent = _agent
    await asyncio.shield(agent.ready)
    return agent


def agent_pid() -> int | None:
    """The pid of this worker's agent, if it has one (for tests and `ps`)."""
    return _agent.proc.pid if _agent is not None and _agent.alive else None


__all__ = ["BATCH_BYTES", "BATCH_INTERVAL", "agent_pid", "cancel", "frames", "hello", "run_attempt"]
