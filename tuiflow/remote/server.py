"""The engine's side of the socket: serves one run to any number of viewers.

`RunServer` is an EventSink on the scheduler. It keeps its own RunView (the picture a new
viewer starts from), numbers every event, and sends each viewer what it needs: every event but
output, output only for the tasks the viewer shows, and for the others a few size updates a
second. A viewer that stops reading is never waited for: past STALE_BYTES queued, it is sent
nothing until it drains, then a fresh snapshot (a resync). Controls arrive as requests, are
applied through the scheduler's own methods (recorded with who sent them), and are answered.
Only the run's owner may connect (SO_PEERCRED), whatever the socket's mode says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tuiflow import __version__
from tuiflow.engine.events import Event, RunFinished, TaskOutput
from tuiflow.engine.logaccess import LogAccess, hits_to_bytes
from tuiflow.engine.model import Control, TaskState
from tuiflow.engine.runview import RunView

from .protocol import MAX_HEADER, PROTOCOL, ProtocolError, frame, read_frame

if TYPE_CHECKING:
    from tuiflow.engine.scheduler import Scheduler

STALE_BYTES = 4 << 20        # queued for one viewer past this: it is behind, send it a snapshot later
HIGH_WATER = 256 << 10       # past this the transport is "paused": drain() then waits until it is nearly empty
SIZES_INTERVAL = 0.5         # seconds between size updates of tasks a viewer does not show
HELLO_TIMEOUT = 10.0
REPLAY_BYTES = 8 << 20        # events kept for the viewer that started the run, until it is there
WAITING = frozenset({TaskState.PENDING, TaskState.READY, TaskState.RETRYING, TaskState.BLOCKED,
                     TaskState.HELD, TaskState.SKIPPED, TaskState.AWAITING_APPROVAL})
REQUESTS = frozenset({"why", "path", "tail", "count", "lines", "find", "read", "search", "resync"})
MAX_WAIT = 5.0               # seconds a count request may ask to wait for the engine's index


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket (Linux SO_PEERCRED)."""
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", data)


class Viewer:
    """One connection: what it shows, what is queued for it, and whether it fell behind."""

    def __init__(self, server: RunServer, writer: asyncio.StreamWriter, pid: int) -> None:
        self.server = server
        self.writer = writer
        self.pid = pid
        self.by = f"pid {pid}"
        self.read_only = False
        self.subscribed = False
        self.watch: set[str] = set()
        self.whys: dict[str, str] = {}
        self.dirty_sizes: set[str] = set()
        self.stale = False
        self.closed = False
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._flush_soon = False
        writer.transport.set_write_buffer_limits(high=min(HIGH_WATER, STALE_BYTES // 4))

    def send(self, data: bytes) -> None:
        if self.stale or self.closed:
            return
        self._out.append(data)
        self._out_bytes += len(data)
        if self._out_bytes > STALE_BYTES:
            self._fall_behind()
        elif not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """One write per loop iteration, however many frames it gathered."""
        self._flush_soon = False
        if not self._out or self.stale or self.closed:
            return
        data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
        self._out.clear()
        self._out_bytes = 0
        if self.writer.transport.is_closing():  # the viewer left: nothing more goes its way
            self.close()
            return
        try:
            self.writer.write(data)
        except (ConnectionError, RuntimeError):
            self.close()
            return
        if self.writer.transport.get_write_buffer_size() > STALE_BYTES:
            self._fall_behind()

    def reply(self, rid: Any, payload: bytes = b"", **fields: Any) -> None:
        self.send(frame({"t": "reply", "id": rid, "ok": "error" not in fields, **fields}, payload))

    def _fall_behind(self) -> None:
        """Stop queueing: it gets a snapshot once it has read what is already on its way."""
        self.stale = True
        self._out.clear()
        self._out_bytes = 0
        self.server.spawn(self._resync())

    async def _resync(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            self.close()
            return
        if self.closed:
            return
        self.stale = False
        self.server.send_snapshot(self, resync=True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.close()


class RunServer:
    """Serves `scheduler`'s run to viewers. `linger`: keep a finished run (and this engine) open
    while viewers are connected, so they can still read and retry it; the run ends for good
    when the last one leaves (a TUI's engine). Without it the run ends when it finishes
    (headless, whose viewers are told and let go)."""

    def __init__(self, scheduler: Scheduler, *, linger: bool, on_log: Callable[[str], None] | None = None,
                 view: RunView | None = None) -> None:
        """`view`: a RunView kept up to date by a sink that was subscribed to `scheduler` before
        this server (the run store's), shared rather than kept twice; by default the server
        keeps its own."""
        self.scheduler = scheduler
        self.logs: LogAccess | None = scheduler.logs
        self.linger = linger
        self.view = view if view is not None else RunView()
        self._own_view = view is None
        self.seq = 0
        self.viewers: set[Viewer] = set()
        self.connections = 0
        self.info: dict[str, Any] = {"pid": os.getpid(), "host": os.uname().nodename, "version": __version__}
        self._log = on_log or (lambda text: print(text, file=sys.stderr, flush=True))
        self._jobs: set[asyncio.Task[Any]] = set()
        self._servers: list[asyncio.AbstractServer] = []
        self._why_soon = False
        self._why_timer: asyncio.TimerHandle | None = None
        self._sizes_timer: asyncio.TimerHandle | None = None
        self.stop_reason = ""
        # Events kept for the viewer that started the run (see `adopt`), until it subscribes.
        self._replay: list[bytes] | None = None
        self._replay_bytes = 0
        scheduler.subscribe(self)

    # ------------------------------------------------------------------ EventSink
    def handle(self, event: Event) -> None:
        if self._own_view:
            self.view.apply(event)
        if type(event) is TaskOutput:
            self._output(event)  # type: ignore[arg-type]
            return
        self.seq += 1
        replay = self._replay
        if self.viewers or replay is not None:
            data = frame({"t": "ev", "seq": self.seq, "e": event.to_dict()})
            for viewer in self.viewers:
                if viewer.subscribed:
                    viewer.send(data)
            self._whys_soon()
            if replay is not None:
                replay.append(data)
                self._replay_bytes += len(data)
                if self._replay_bytes > REPLAY_BYTES:
                    self._replay = None  # too much to replay: that viewer starts from a snapshot
        if type(event) is RunFinished:
            asyncio.get_running_loop().call_soon(self._maybe_end)

    def _output(self, event: TaskOutput) -> None:
        data = None
        for viewer in self.viewers:
            if not viewer.subscribed or viewer.stale:
                continue
            if event.task in viewer.watch:
                if data is None:
                    data = frame({"t": "out", "task": event.task, "attempt": event.attempt, "offset": event.offset,
                                  "time": event.time}, event.data)
                viewer.send(data)
            else:
                viewer.dirty_sizes.add(event.task)
                if self._sizes_timer is None:
                    self._sizes_timer = asyncio.get_running_loop().call_later(SIZES_INTERVAL, self._send_sizes)

    def _send_sizes(self) -> None:
        self._sizes_timer = None
        for viewer in self.viewers:
            if viewer.dirty_sizes:
                sizes = {}
                for name in viewer.dirty_sizes:
                    out = self.view.tasks[name].output
                    sizes[name] = [out.attempt, out.bytes, out.lines, out.last]
                viewer.dirty_sizes.clear()
                viewer.send(frame({"t": "sizes", "sizes": sizes}))

    def _whys_soon(self) -> None:
        if not self._why_soon:
            self._why_soon = True
            asyncio.get_running_loop().call_soon(self._send_whys)

    def _send_whys(self) -> None:
        """Why each task a viewer shows waits, when that changed (a retry counts down: each second)."""
        self._why_soon = False
        counting = False
        for viewer in self.viewers:
            if viewer.subscribed:
                counting |= self._whys_for(viewer)
        if counting and self._why_timer is None:
            self._why_timer = asyncio.get_running_loop().call_later(1.0, self._tick_whys)

    def _tick_whys(self) -> None:
        self._why_timer = None
        self._send_whys()

    def _whys_for(self, viewer: Viewer) -> bool:
        counting = False
        for name in viewer.watch:
            view = self.view.tasks.get(name)
            if view is None:
                continue
            why = self._why(name) if view.state in WAITING else ""
            counting |= view.state is TaskState.RETRYING
            if viewer.whys.get(name, "") != why:
                viewer.whys[name] = why
                viewer.send(frame({"t": "why", "task": name, "why": why}))
        return counting

    def _why(self, name: str) -> str:
        try:
            return self.scheduler.why(name)
        except KeyError:
            return ""

    def _send_replay(self, viewer: Viewer, replay: list[bytes]) -> None:
        """The viewer that started the run gets the run from its very beginning — the empty picture,
        then every event so far — as a UI in the same process would have (a failure's toast...)."""
        body = json.dumps(RunView().snapshot(), separators=(",", ":")).encode()
        viewer.send(frame({"t": "snapshot", "seq": 0, "resync": False}, body))
        for data in replay:
            viewer.send(data)
        viewer.whys = {}
        viewer.subscribed = True
        self._whys_for(viewer)

    def send_snapshot(self, viewer: Viewer, resync: bool = False) -> None:
        """The whole run as of this moment; every event after it follows it on the same stream."""
        why = {n: self._why(n) for n, v in self.view.tasks.items() if v.state in WAITING}
        body = json.dumps(self.view.snapshot(why), ensure_ascii=False, separators=(",", ":")).encode()
        viewer.whys = {n: why.get(n, "") for n in viewer.watch}
        viewer.dirty_sizes.clear()
        viewer.send(frame({"t": "snapshot", "seq": self.seq, "resync": resync}, body))
        viewer.subscribed = True

    # ------------------------------------------------------------------ connections
    async def listen(self, listener: socket.socket) -> None:
        """Accept viewers on a bound, listening Unix socket."""
        server = await asyncio.start_unix_server(self._connection, sock=listener, limit=MAX_HEADER)
        self._servers.append(server)

    async def adopt(self, sock: socket.socket) -> None:
        """Serve a socket that is already connected: the launcher's end of a socketpair, the
        viewer that started the run. The run does not wait for it: its events are kept (up to
        REPLAY_BYTES) and replayed to it from the first, when it subscribes."""
        self.connections += 1  # counted from now: a run must not end before its launcher is here
        if self.seq == 0:      # the run has not said anything yet: this viewer will hear all of it
            self._replay = []
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=MAX_HEADER)
        self.spawn(self._serve(reader, writer, counted=True, first=True))

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, counted=False)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counted: bool,
                     first: bool = False) -> None:
        if not counted:
            self.connections += 1
        viewer: Viewer | None = None
        try:
            pid, uid, _ = peer_credentials(writer.get_extra_info("socket"))
            if uid != os.geteuid():
                self._log(f"refused a connection from uid {uid} (pid {pid}): not the run's owner")
                writer.write(frame({"t": "refused", "reason": "this run belongs to another user"}))
                return
            viewer = Viewer(self, writer, pid)
            hello = await asyncio.wait_for(read_frame(reader), HELLO_TIMEOUT)
            if hello is None or not self._hello(viewer, hello[0]):
                return
            self.viewers.add(viewer)
            while not viewer.closed:
                got = await read_frame(reader)
                if got is None:
                    break
                if first and got[0].get("op") == "subscribe" and self._replay is not None:
                    replay, self._replay = self._replay, None
                    viewer.watch = {str(t) for t in got[0].get("watch") or ()}
                    self._send_replay(viewer, replay)
                    continue
                if not self._dispatch(viewer, got[0]):
                    break
        except (ProtocolError, ConnectionError, TimeoutError, OSError) as exc:
            self._log(f"viewer {viewer.by if viewer else '?'}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a viewer's bad frame must never hurt the run
            self._log(f"viewer {viewer.by if viewer else '?'}: dropped after {type(exc).__name__}: {exc}")
        finally:
            if viewer is not None:
                self.viewers.discard(viewer)
                viewer.flush()   # what was answered before the end still goes
                viewer.close()
            else:
                with contextlib.suppress(Exception):
                    writer.close()
            self.connections -= 1
            if first:
                self._replay = None
            self._maybe_end()

    def _hello(self, viewer: Viewer, hello: dict[str, Any]) -> bool:
        if hello.get("op") != "hello":
            viewer.writer.write(frame({"t": "refused", "reason": "the first frame must be hello"}))
            return False
        version = hello.get("version")
        if version != PROTOCOL:
            reason = (f"this engine speaks tuiflow protocol {PROTOCOL} (tuiflow {__version__}); the viewer "
                      f"speaks {version!r}: attach with the same tuiflow version as the run's")
            self._log(f"refused pid {viewer.pid}: protocol {version!r}")
            viewer.writer.write(frame({"t": "refused", "reason": reason}))
            return False
        tty = str(hello.get("tty") or "")
        host = str(hello.get("host") or "")
        viewer.by = f"pid {viewer.pid}" + (f" {tty}" if tty else "") + (
            f" on {host}" if host and host != self.info["host"] else "")
        viewer.read_only = bool(hello.get("read_only"))
        viewer.writer.write(frame({"t": "hello", "version": PROTOCOL, "engine": self.info, "viewer": viewer.by,
                                   "read_only": viewer.read_only}))
        return True

    def _dispatch(self, viewer: Viewer, h: dict[str, Any]) -> bool:
        op = h.get("op")
        if op == "subscribe":
            viewer.watch = {str(t) for t in h.get("watch") or ()}
            self.send_snapshot(viewer)
        elif op == "watch":
            viewer.watch = {str(t) for t in h.get("watch") or ()}
            self._whys_for(viewer)
        elif op == "control":
            self._control(viewer, h)
        elif op == "bye":
            return False
        elif op in REQUESTS:
            self.spawn(self._request(viewer, h))
        else:
            viewer.reply(h.get("id"), error=f"unknown op {op!r}")
        return True

    def _control(self, viewer: Viewer, h: dict[str, Any]) -> None:
        rid, task = h.get("id"), h.get("task")
        if viewer.read_only:
            viewer.reply(rid, error="this viewer is read-only")
            return
        try:
            control = Control(h.get("control"))
        except (ValueError, TypeError):
            viewer.reply(rid, error=f"unknown control {h.get('control')!r}")
            return
        sched = self.scheduler
        if control.takes_task:
            if task not in self.view.tasks:
                viewer.reply(rid, error=f"no task {task!r} in this run")
                return
            applied = getattr(sched, control.value)(task, by=viewer.by)
        elif control is Control.SET_MAX_PARALLEL:
            value = h.get("value")
            if not isinstance(value, int) or value < 1:
                viewer.reply(rid, error=f"set_max_parallel needs a whole number >= 1, not {value!r}")
                return
            applied = sched.set_max_parallel(value, by=viewer.by)
        else:
            applied = getattr(sched, control.value)(by=viewer.by)
        detail = "" if applied else (f"{task} is {self.view.tasks[task].state.value}" if task else "nothing to change")
        viewer.reply(rid, applied=bool(applied), detail=detail)

    async def _request(self, viewer: Viewer, h: dict[str, Any]) -> None:
        rid, op = h.get("id"), h.get("op")
        if op == "resync":
            self.send_snapshot(viewer, resync=True)
            return
        if op == "why":
            viewer.reply(rid, why=self._why(str(h.get("task"))))
            return
        logs = self.logs
        if logs is None:
            viewer.reply(rid, error="this run keeps no logs")
            return
        try:
            task, attempt = str(h.get("task", "")), int(h.get("attempt", 0))
            if op == "path":
                viewer.reply(rid, path=logs.path(task, attempt))
            elif op == "tail":
                text = await logs.tail(task, attempt, _int_or_none(h.get("end")), int(h["lines"]), int(h["bytes"]))
                viewer.reply(rid, text.data, offset=text.offset, first_line=text.first_line)
            elif op == "count":
                wait = min(MAX_WAIT, max(0.0, float(h.get("wait") or 0)))
                counted = await logs.count(task, attempt, _int_or_none(h.get("offset")), wait)
                viewer.reply(rid, lines=counted.lines, offset=counted.offset, counted=counted.counted)
            elif op == "lines":
                text = await logs.lines(task, attempt, int(h["first"]), int(h["count"]), int(h["bytes"]))
                viewer.reply(rid, text.data, offset=text.offset, first_line=text.first_line)
            elif op == "find":
                found = await logs.find(task, attempt, str(h["query"]), int(h["offset"]), int(h["line"]),
                                        int(h["end"]), int(h["bytes"]), int(h["hits"]))
                viewer.reply(rid, hits_to_bytes(found.lines), offset=found.offset, line=found.line)
            elif op == "read":
                viewer.reply(rid, await logs.read(task, attempt, int(h["offset"]), int(h["length"])))
            elif op == "search":
                tasks = [(str(t), [int(a) for a in attempts]) for t, attempts in h.get("tasks") or ()]
                hits = await logs.search(str(h.get("query", "")), tasks, int(h.get("limit", 2000)))
                viewer.reply(rid, hits=[list(hit) for hit in hits])
        except (KeyError, TypeError, ValueError) as exc:
            viewer.reply(rid, error=f"bad {op} request: {exc}")
        except OSError as exc:
            viewer.reply(rid, error=f"cannot read the log: {exc}")

    # ------------------------------------------------------------------ lifetime
    def spawn(self, coro: Any) -> None:
        job = asyncio.get_running_loop().create_task(coro)
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    def _maybe_end(self) -> None:
        """A lingering run ends once it is over and nobody is looking at it any more."""
        if self.linger and self.connections == 0 and self.view.state.ended:
            self.scheduler.close()

    async def aclose(self, reason: str) -> None:
        """Tell every viewer why the engine goes, stop listening, and let them go."""
        for server in self._servers:
            server.close()
        for viewer in list(self.viewers):
            viewer.stale = False
            viewer.send(frame({"t": "bye", "reason": reason}))
            viewer.flush()
            with contextlib.suppress(Exception):
                viewer.writer.write_eof()
        await asyncio.sleep(0)
        for viewer in list(self.viewers):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(viewer.writer.drain(), 1.0)
            viewer.close()
        for job in list(self._jobs):
            job.cancel()


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


__all__ = ["RunServer", "Viewer", "peer_credentials"]
