"""What runs inside a Dask worker for tuiflow: one attempt of a task, through the worker's agent.

The engine (daskrunner.py) submits `run_attempt` pinned to one worker. It hands the command to the
worker's agent (daskagent.py: a process of its own that runs it with the local runner, so that a
killed worker's commands are still ended), relays the output to the engine as it comes, in batches
of at most BATCH_BYTES at most every BATCH_INTERVAL, with `log_event` on the run's topic, and ends
with the result on the same topic (so it arrives after every batch) before returning it.

`cancel` is run on the worker's event loop through `Client.run`, with every attempt the engine
cancels at once on this worker: a running attempt is told to stop (the agent: SIGTERM to its
group, SIGKILL after the grace); one that has not started never will.
An attempt whose key the scheduler let go (the engine's client left) is stopped the same way.

Messages on the topic are lists `["tuiflow", key, kind, payload]`:
  "o": [stream, bytes, stream, bytes, ...] (output);  "x": the result (CommandResult's fields).
"""

from __future__ import annotations

import contextlib
import select
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from tuiflow import __version__

BATCH_INTERVAL = 0.05    # seconds between output events of one attempt, at most (a quiet one sends at once)
BATCH_BYTES = 64 * 1024  # bytes in one output event, at most: a topic keeps its last 1 000 events
TICK = 0.05              # how often a quiet attempt checks whether it was cancelled
AGENT_MODULE = "tuiflow.engine.daskagent"
MARK = "tuiflow"
CANCELLED = {"exit_code": None, "cancelled": True, "reason": "cancelled"}   # an attempt that never started

_lock = threading.Lock()          # _jobs and _cancelled
_agent_lock = threading.Lock()
_jobs: dict[str, _Job] = {}        # key -> the attempt running in this worker
_cancelled: dict[str, None] = {}   # keys cancelled before they started here (oldest first)
_ended: dict[str, None] = {}       # keys of the attempts that ended here lately (oldest first)
_REMEMBER = 10_000                 # keys each of those two keeps at most
_agent: _Agent | None = None


def hello() -> str:
    """The tuiflow version on this worker (the engine checks that it has its own)."""
    return __version__


def run_attempt(key: str, topic: str, request: str) -> dict[str, Any]:
    """Run one attempt's command on this worker (`request`: JSON, see daskagent._request); the
    result is also the last event on `topic`."""
    from distributed import get_worker

    worker = get_worker()
    with _lock:
        if key in _cancelled:
            del _cancelled[key]
            job = None
        else:
            job = _jobs[key] = _Job(key)
    if job is None:
        result = dict(CANCELLED)
    else:
        try:
            result = job.run(worker, topic, request)
        finally:
            with _lock:
                _jobs.pop(key, None)
                _remember(_ended, key)
    worker.log_event(topic, [MARK, key, "x", result])
    return result


def cancel(keys: list[str]) -> dict[str, str]:
    """Stop these attempts on this worker, all at once; for each key: "running" or "ended" (its
    result follows on the topic), or "queued" (it has not started and never will; the engine ends
    it). Run on the worker's loop by Client.run. The engine sends the attempts it cancels together
    (a run's cancel) in one call: were they sent one by one, stopping a running one could free its
    thread for one still queued here, which would start before its own cancel arrived."""
    said = {}
    with _lock:   # run_attempt decides under it whether an attempt starts
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
    """One attempt here: its own connection to the agent, read by the task's thread."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.sock, self.agent_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._stop = threading.Event()
        self._stop_sent = False

    def stop(self) -> None:
        self._stop.set()

    def run(self, worker: Any, topic: str, request: str) -> dict[str, Any]:
        from tuiflow.remote.protocol import frame

        try:
            _agent_for().take(self.agent_end)
        except OSError as exc:
            return {"exit_code": None, "reason": f"cannot start: the tuiflow agent of this worker: {exc}"}
        finally:
            self.agent_end.close()
        sock = self.sock
        try:
            if self._stop.is_set():   # cancelled since it was taken: its command never starts (a
                return dict(CANCELLED)   # cancel that comes after this look stops it once started)
            sock.sendall(frame({"request": True}, request.encode()))
            return self._relay(worker, topic)
        except OSError as exc:
            return {"exit_code": None, "reason": f"the tuiflow agent of this worker failed: {exc}"}
        finally:
            sock.close()

    def _relay(self, worker: Any, topic: str) -> dict[str, Any]:
        """Frames from the agent -> events on the topic, output gathered for BATCH_INTERVAL at most."""
        from tuiflow.remote.protocol import frame, parse_header

        sock, key = self.sock, self.key
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        buf = bytearray()
        batch: list[Any] = []          # stream, bytes, stream, bytes ...
        size = 0
        sent_at = 0.0
        while True:
            now = time.monotonic()
            if batch and (size >= BATCH_BYTES or now - sent_at >= BATCH_INTERVAL):
                worker.log_event(topic, [MARK, key, "o", batch])
                batch, size, sent_at = [], 0, now
            if self._stop.is_set() or _released(worker, key):
                if not self._stop_sent:
                    self._stop_sent = True
                    sock.sendall(frame({"cancel": True}))
            wait = TICK if not batch else max(0.0, sent_at + BATCH_INTERVAL - now)
            if not poller.poll(wait * 1000):   # poll, not select: a busy worker's fds pass 1024
                continue
            data = sock.recv(1 << 18)
            if not data:
                return {"exit_code": None, "reason": "the tuiflow agent of this worker ended before the command"}
            buf += data
            while True:
                end = buf.find(b"\n")
                if end < 0:
                    break
                header = parse_header(bytes(buf[:end]))
                n = header.get("n", 0)
                need = end + 1 + n
                if len(buf) < need:
                    break
                payload = bytes(buf[end + 1:need])
                del buf[:need]
                if "o" in header:
                    stream = header["o"]
                    if batch and batch[-2] == stream and size + n <= BATCH_BYTES:
                        batch[-1] += payload
                    else:
                        if size + n > BATCH_BYTES and batch:
                            worker.log_event(topic, [MARK, key, "o", batch])
                            batch, size, sent_at = [], 0, time.monotonic()
                        batch += [stream, payload]
                    size += n
                elif "result" in header:
                    if batch:
                        worker.log_event(topic, [MARK, key, "o", batch])
                    return header["result"]


def _released(worker: Any, key: str) -> bool:
    """The scheduler let this attempt go (its client left, or cancelled it): it must stop."""
    ts = worker.state.tasks.get(key)
    return ts is None or ts.state not in ("executing", "long-running")


class _Agent:
    """The worker's agent process and the socket it takes each attempt's connection on."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.control = ours
        self.lock = threading.Lock()
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", AGENT_MODULE, str(theirs.fileno())],
                                         pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                         start_new_session=True, close_fds=True)
        finally:
            theirs.close()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def take(self, conn: socket.socket) -> None:
        with self.lock:
            socket.send_fds(self.control, [b"j"], [conn.fileno()])


def _agent_for() -> _Agent:
    """This worker's agent, started by the first attempt (again if it died)."""
    global _agent
    with _agent_lock:
        if _agent is None or not _agent.alive:
            if _agent is not None:
                with contextlib.suppress(OSError):
                    _agent.control.close()
            _agent = _Agent()
        return _agent


def agent_pid() -> int | None:
    """The pid of this worker's agent, if it has one (for tests and `ps`)."""
    return _agent.proc.pid if _agent is not None and _agent.alive else None


__all__ = ["BATCH_BYTES", "BATCH_INTERVAL", "agent_pid", "cancel", "hello", "run_attempt"]
