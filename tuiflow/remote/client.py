"""A viewer's side of the socket: `RemoteRun`, the run API (ui/protocol.py) over a connection.

The connection is a Unix socket to the engine, or ssh's stdio to `tuiflow connect` on another
machine (through a socketpair, so both are sockets). The greeting happens before the event
loop takes the connection over, so a refusal becomes a plain message and exit code 2, never a
screen that opens and dies. After that, everything the viewer knows comes from the engine: a
snapshot, then numbered events; a gap in the numbers asks for a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterable
from typing import Any

from tuiflow.engine.events import (
    EventSink,
    OutputSizes,
    RunSnapshot,
    TaskOutput,
    WhyChanged,
    event_from_dict,
)
from tuiflow.engine.logaccess import (
    FIND_BYTES,
    FIND_HITS,
    LINES_BYTES,
    MAX_HITS,
    READ_LIMIT,
    TAIL_BYTES,
    TAIL_LINES,
    Found,
    Hit,
    LogCount,
    LogText,
    hits_from_bytes,
)
from tuiflow.engine.model import Control, RunState, TaskState
from tuiflow.engine.runview import RunView
from tuiflow.ui.protocol import EngineGone

from .protocol import MAX_HEADER, PROTOCOL, ProtocolError, frame, read_frame, read_frame_blocking

CONNECT_TIMEOUT = 10.0
REMOTE_TAIL_BYTES = 256 * 1024   # of a log's end read when a viewer opens a task (earlier lines on request)
GONE = "engine gone — run interrupted (see `tuiflow history`)"


class Refused(Exception):
    """The engine would not have this viewer (another protocol version, another user...)."""


class Channel:
    """A connected socket to an engine (directly, or ssh's stdio through a socketpair)."""

    def __init__(self, sock: socket.socket, proc: subprocess.Popen[bytes] | None = None,
                 where: str = "") -> None:
        self.sock = sock
        self.proc = proc
        self.where = where

    @property
    def local(self) -> bool:
        return self.proc is None

    def hello(self, read_only: bool = False, timeout: float | None = CONNECT_TIMEOUT) -> dict[str, Any]:
        """The greeting, blocking: the engine's hello, or Refused / ConnectionError."""
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(frame({
                "op": "hello", "version": PROTOCOL, "pid": os.getpid(), "tty": _tty(),
                "host": os.uname().nodename, "read_only": read_only}))
            reply = read_frame_blocking(self.sock.recv)
        except (BlockingIOError, TimeoutError) as exc:
            raise ConnectionError(f"no answer from the engine{self._at()} within {timeout:.0f} s") from exc
        finally:
            self.sock.settimeout(None)
        if reply is None:
            raise ConnectionError(f"the connection{self._at()} closed before the engine answered")
        if reply.get("t") == "refused":
            raise Refused(str(reply.get("reason", "refused")))
        if reply.get("t") != "hello":
            raise ProtocolError(f"not a tuiflow engine{self._at()}: {reply!r}"[:200])
        if reply.get("version") != PROTOCOL:
            engine = (reply.get("engine") or {}).get("version", "another version")
            raise Refused(f"the engine speaks tuiflow protocol {reply.get('version')!r} (tuiflow {engine}); "
                          f"this tuiflow speaks {PROTOCOL}: attach with the same tuiflow version as the run's")
        return reply

    def _at(self) -> str:
        return f" at {self.where}" if self.where else ""

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.sock.setblocking(False)
        return await asyncio.open_unix_connection(sock=self.sock, limit=MAX_HEADER)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def connect_unix(path: str) -> socket.socket:
    """Connect to a Unix socket, also at a path longer than AF_UNIX allows (through /proc/self/fd)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        if len(os.fsencode(path)) < 100:
            sock.connect(path)
        else:
            dfd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                sock.connect(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
            finally:
                os.close(dfd)
    except BaseException:
        sock.close()
        raise
    return sock


def _tty() -> str:
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            if os.isatty(fd):
                return os.ttyname(fd)
    return ""


class RemoteLogs:
    """The run's logs, read by the engine on this viewer's behalf (engine/logaccess.py's API)."""

    def __init__(self, run: RemoteRun) -> None:
        self._run = run

    async def local_path(self, task: str, attempt: int) -> str | None:
        """The log file, when it is readable on this machine (a pager can then open it directly)."""
        if not self._run.local:
            return None
        header, _ = await self._run.request("path", task=task, attempt=attempt)
        path = header.get("path")
        return path if isinstance(path, str) and os.access(path, os.R_OK) else None

    async def tail(self, task: str, attempt: int, end: int | None = None, max_lines: int = TAIL_LINES,
                   max_bytes: int = TAIL_BYTES) -> LogText:
        """At most REMOTE_TAIL_BYTES: a pane opening a task reads what it shows, not megabytes."""
        header, data = await self._run.request("tail", task=task, attempt=attempt, end=end, lines=max_lines,
                                               bytes=min(max_bytes, REMOTE_TAIL_BYTES))
        return LogText(data, header["offset"], header.get("first_line"))

    async def count(self, task: str, attempt: int, offset: int | None = None, wait: float = 0.0) -> LogCount:
        header, _ = await self._run.request("count", task=task, attempt=attempt, offset=offset, wait=wait)
        return LogCount(header["lines"], header["offset"], header["counted"])

    async def lines(self, task: str, attempt: int, first: int, count: int, max_bytes: int = LINES_BYTES) -> LogText:
        header, data = await self._run.request("lines", task=task, attempt=attempt, first=first, count=count,
                                               bytes=max_bytes)
        return LogText(data, header["offset"], header.get("first_line"))

    async def find(self, task: str, attempt: int, query: str, offset: int, line: int, end: int,
                   max_bytes: int = FIND_BYTES, max_hits: int = FIND_HITS) -> Found:
        header, data = await self._run.request("find", task=task, attempt=attempt, query=query, offset=offset,
                                               line=line, end=end, bytes=max_bytes, hits=max_hits)
        return Found(hits_from_bytes(data), header["offset"], header["line"])

    async def read(self, task: str, attempt: int, offset: int, length: int = READ_LIMIT) -> bytes:
        _, data = await self._run.request("read", task=task, attempt=attempt, offset=offset, length=length)
        return data

    async def search(self, query: str, tasks: list[tuple[str, list[int]]], limit: int = MAX_HITS) -> list[Hit]:
        header, _ = await self._run.request("search", query=query, tasks=tasks, limit=limit)
        return [Hit(*hit) for hit in header["hits"]]


class RemoteRun:
    """A run whose engine is another process: the UI's SchedulerAPI over a Channel."""

    can_detach = True

    def __init__(self, channel: Channel, hello: dict[str, Any]) -> None:
        self.channel = channel
        self.engine: dict[str, Any] = hello.get("engine") or {}
        self.viewer = str(hello.get("viewer", ""))
        self.read_only = bool(hello.get("read_only"))
        self.local = channel.local and self.engine.get("host") == os.uname().nodename
        self.view = RunView()
        self.logs = RemoteLogs(self)
        self.end_reason = ""
        self._sinks: list[EventSink] = []
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[tuple[dict[str, Any], bytes]]] = {}
        self._seq: int | None = None
        self._behind = False
        self._watch: list[str] = []
        self._leaving = False
        self._early: list[bytes] = []   # what was said before the connection was open
        # The limit and pause asked for and not answered yet (by the ids of those requests):
        # until then they read as asked, so keys in a burst (`+++` over SSH) each start from the
        # one before, not from the engine's last word.
        self._asked: dict[str, tuple[Any, set[int]]] = {}

    # ------------------------------------------------------------------ the connection
    def subscribe(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    async def run(self, stay_open: bool = True) -> int:
        """Receive the run until this viewer leaves (detach, close) or the engine ends it.

        Raises EngineGone when the engine vanishes without a word (killed, crashed).
        """
        reader, writer = await self.channel.open()
        self._writer = writer
        self._send({"op": "subscribe", "watch": self._watch})
        for data in self._early:
            writer.write(data)
        self._early.clear()
        said_bye = False
        try:
            while True:
                got = await read_frame(reader)
                if got is None:
                    break
                if self._dispatch(*got):
                    said_bye = True
                    break
        except (ConnectionError, ProtocolError, OSError):
            if not self._leaving:
                raise EngineGone(GONE) from None
        finally:
            self._fail_pending(EngineGone(GONE))
            with contextlib.suppress(Exception):
                writer.close()
            self.channel.close()
        if not (said_bye or self._leaving):
            raise EngineGone(GONE)
        return self.view.exit_code if self.view.exit_code is not None else 0

    def _dispatch(self, h: dict[str, Any], payload: bytes) -> bool:
        """Handle one frame; True when the engine said goodbye."""
        kind = h.get("t")
        if kind == "ev":
            seq = h.get("seq")
            if self._behind or self._seq is None:
                return False
            if seq != self._seq + 1:  # a gap: what this viewer shows can no longer be trusted
                self._behind = True
                self._send({"op": "resync", "id": 0})
                return False
            self._seq = seq
            self._emit(event_from_dict(h["e"]))
        elif kind == "out":
            self._emit(TaskOutput(time=h["time"], task=h["task"], attempt=h["attempt"], data=payload,
                                  offset=h["offset"]))
        elif kind == "snapshot":
            self._seq, self._behind = h["seq"], False
            if h.get("resync"):
                self._fail_pending(OSError("this viewer fell behind the run and was brought up to date"))
            self._emit(RunSnapshot(time=time.time(), data=json.loads(payload)))
        elif kind == "sizes":
            self._emit(OutputSizes(time=time.time(), sizes={t: tuple(v) for t, v in h["sizes"].items()}))
        elif kind == "why":
            self._emit(WhyChanged(time=time.time(), task=h["task"], why=h["why"]))
        elif kind == "reply":
            self._answered(h.get("id"))
            fut = self._pending.pop(h.get("id"), None)
            if fut is not None and not fut.done():
                if h.get("ok"):
                    fut.set_result((h, payload))
                else:
                    fut.set_exception(OSError(h.get("error", "the engine refused the request")))
        elif kind == "bye":
            self.end_reason = str(h.get("reason", ""))
            return True
        return False

    def _emit(self, event: Any) -> None:
        self.view.apply(event)
        for sink in self._sinks:
            sink.handle(event)

    def _send(self, header: dict[str, Any]) -> None:
        data = frame(header)
        if self._writer is None:
            self._early.append(data)
            return
        if self._leaving:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            self._writer.write(data)

    async def request(self, op: str, **args: Any) -> tuple[dict[str, Any], bytes]:
        rid = next(self._ids)
        fut: asyncio.Future[tuple[dict[str, Any], bytes]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self._send({"op": op, "id": rid, **args})
        return await fut

    def _fail_pending(self, exc: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: nobody may be waiting any more

    def _leave(self) -> None:
        if self._leaving:
            return
        self._send({"op": "bye"})
        self._leaving = True
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()

    def detach(self) -> None:
        """Leave the run going; the engine keeps it (and keeps it open for other viewers)."""
        self._leave()

    def close(self) -> None:
        """This viewer is done; a finished run ends once no viewer is left."""
        self._leave()

    def watch(self, tasks: Iterable[str]) -> None:
        wanted = sorted(set(tasks))
        if wanted != self._watch:
            self._watch = wanted
            if self._writer is not None:
                self._send({"op": "watch", "watch": wanted})

    # ------------------------------------------------------------------ controls
    def _control(self, control: Control, task: str | None = None, value: int | None = None) -> int | None:
        """Send a control request; its id (None from a read-only viewer, which sends nothing)."""
        if self.read_only:
            return None
        rid = next(self._ids)
        self._send({"op": "control", "id": rid, "control": control.value, "task": task, "value": value})
        return rid

    def _ask(self, what: str, value: Any, rid: int | None) -> None:
        if rid is not None:
            self._asked[what] = (value, self._asked.get(what, (value, set()))[1] | {rid})

    def _answered(self, rid: Any) -> None:
        for what, (_, ids) in list(self._asked.items()):
            ids.discard(rid)
            if not ids:   # the engine's events before this answer say what it made of them
                del self._asked[what]

    def pause(self) -> None:
        self._ask("paused", True, self._control(Control.PAUSE))

    def resume(self) -> None:
        self._ask("paused", False, self._control(Control.RESUME))

    def set_max_parallel(self, n: int) -> None:
        self._ask("max_parallel", n, self._control(Control.SET_MAX_PARALLEL, value=n))

    def cancel(self, task: str) -> None:
        self._control(Control.CANCEL, task)

    def cancel_run(self) -> None:
        self._control(Control.CANCEL_RUN)

    def retry(self, task: str) -> None:
        self._control(Control.RETRY, task)

    def retry_failed(self) -> None:
        self._control(Control.RETRY_FAILED)

    def rerun(self, task: str) -> None:
        self._control(Control.RERUN, task)

    def skip(self, task: str) -> None:
        self._control(Control.SKIP, task)

    def hold(self, task: str) -> None:
        self._control(Control.HOLD, task)

    def release(self, task: str) -> None:
        self._control(Control.RELEASE, task)

    def approve(self, task: str) -> None:
        self._control(Control.APPROVE, task)

    def reject(self, task: str) -> None:
        self._control(Control.REJECT, task)

    # ------------------------------------------------------------------ queries (from the mirror)
    @property
    def run_state(self) -> RunState:
        return self.view.state

    @property
    def running_count(self) -> int:
        return self.view.running_count

    @property
    def max_parallel(self) -> int:
        asked = self._asked.get("max_parallel")
        return asked[0] if asked else self.view.max_parallel

    @property
    def paused(self) -> bool:
        asked = self._asked.get("paused")
        return asked[0] if asked else self.view.paused

    def state(self, task: str) -> TaskState:
        return self.view.tasks[task].state

    def attempt(self, task: str) -> int:
        return self.view.tasks[task].attempt

    def why(self, task: str) -> str:
        return self.view.tasks[task].why

    def counts(self) -> dict[TaskState, int]:
        return dict(self.view.counts)

    def can(self, control: str, task: str | None = None) -> bool:
        return not self.read_only and self.view.can(control, task)


__all__ = ["Channel", "GONE", "Refused", "RemoteLogs", "RemoteRun", "connect_unix"]
