"""The run folder: `run.json` (the run's state), `events.jsonl`, and every attempt's log.

    <state_dir>/runs/<run-id>/run.json               atomic (temp + fsync + rename), coalesced
                              events.jsonl           every event but output, one JSON per line
                              logs/<task>/<n>.log    attempt n's combined stdout+stderr, byte for byte

RunStore is an EventSink: `handle()` only buffers, on the loop, in microseconds. One flusher
task writes the buffers through a single writer thread (so files see batches in order, and a
slow disk never stalls the loop) at most ~4 times a second, sooner when a quarter megabyte of output is
waiting or an attempt that printed nothing waits for its empty log (within 50 ms); run.json is rewritten with the same rhythm and at least every HEARTBEAT seconds, so a
reader can tell a crashed run (`interrupted`) from a live one. Nothing is fsync'ed per event.
One job per batch, rather than aiofiles' one thread call per file operation: see "Files and
threads" in docs/architecture.md.

Task names are free text, so each gets a folder name that is safe on any filesystem and unique
(case-insensitively); the mapping is recorded as `tasks[name].log_dir` in run.json. Every attempt
that ran has a log file, empty if it printed nothing (made when it ends, or at its first output).

Every level (the state dir, runs/, the run, logs/, each task's folder) must be a directory of
this user's that group and others cannot write (privdir.py); each is opened once without
following links and everything under it is made and opened relative to that descriptor, so a
name swapped during the run cannot redirect a write. A write that fails (a full disk) is
reported once through `on_problem`; the run goes on, and run.json keeps its last good version.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

from .events import (
    Event,
    RunStarted,
    TaskOutput,
    TasksAdded,
    TaskStateChanged,
)
from .model import DEFAULT_LOG_LIMIT, Pipeline, TaskState
from .privdir import open_private_dir, open_private_tree
from .runs import RUN_JSON, TMP_JSON, engine_identity
from .runview import RunView

FLUSH_INTERVAL = 0.25        # seconds between writes while events arrive
EMPTY_LOGS_SOON = 0.05       # ...but this soon after an attempt ends that printed nothing (see `_run`)
HEARTBEAT = 2.0              # run.json is rewritten at least this often while the engine lives
FLUSH_BYTES = 256 << 10      # this much buffered output is written at once
MAX_PENDING = 4 << 20        # past this, handle() writes itself: the loop slows, the pipes push back
EVENTS = "events.jsonl"
FORMAT_VERSION = 1

_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+@-]+")
_MAX_NAME = 80
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def limit_marker(limit: int) -> bytes:
    return f"[tuiflow: log_limit of {limit} bytes reached; further output dropped]\n".encode()


def safe_name(name: str) -> str:
    """A folder name for a free-text task name: `extract[region=us]` -> `extract_region=us`."""
    safe = _UNSAFE.sub("_", name).strip("_").lstrip(".") or "task"
    if len(safe) > _MAX_NAME:
        safe = f"{safe[:_MAX_NAME]}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return safe


def new_run_id(now: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H-%M-%S", time.localtime(now))


def check_state_dir(state_dir: str) -> None:
    """Make `state_dir` and its runs/ if missing; raise privdir.UnsafeDirectory (or OSError, naming
    the path) unless both are this user's own. A front end calls it before it takes the terminal."""
    os.close(_open_runs(state_dir))


def _open_runs(state_dir: str) -> int:
    state_dir = os.path.abspath(state_dir)
    state_fd = open_private_tree(state_dir)
    try:
        return open_private_dir("runs", dir_fd=state_fd, shown=os.path.join(state_dir, "runs"))
    finally:
        os.close(state_fd)


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """writev every chunk (no join copy), continuing after short writes."""
    iov_max = 1024
    i = 0
    while i < len(chunks):
        batch = chunks[i:i + iov_max]
        written = os.writev(fd, batch)
        for c in batch:
            if written >= len(c):
                written -= len(c)
                i += 1
            else:
                chunks[i] = c[written:]
                break


def _atomic_write(dir_fd: int, name: str, tmp: str, data: bytes, sync_dir: bool = False,
                  sync: bool = True) -> None:
    """Temp file, fsync, rename, all in the folder `dir_fd`: after a crash `name` holds the old
    or the new bytes, never half; after a failed write (a full disk) it keeps the old ones.

    The temp file is made new (`O_EXCL`, never through a link): one left by a crash is removed
    first. `sync=False` for a first version, which has no old one to fall back to: a reader skips
    an unreadable run.json as it skips a missing one, and a start is spared a disk flush (~0.5 ms).
    """
    try:
        fd = os.open(tmp, _TMP_FLAGS, 0o600, dir_fd=dir_fd)
    except FileExistsError:
        os.unlink(tmp, dir_fd=dir_fd)
        fd = os.open(tmp, _TMP_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        try:
            _write_all(fd, [data])
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    if sync_dir:
        os.fsync(dir_fd)


_ENCODE = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


def encode_task(name: str, record: dict[str, Any]) -> str:
    """One task's member of run.json's `tasks` object: `"name": {...}` (see `join_run_json`)."""
    return f"{_ENCODE(name)}: {_ENCODE(record)}"


def join_run_json(state: dict[str, Any], digests: str, tasks: Iterable[str]) -> str:
    """run.json's text from parts encoded earlier: the same JSON as encoding
    `{**state, "task_digests": ..., "tasks": {...}}` in one go (tests/engine/test_store.py checks
    that it parses to the same value), but the parts that did not change are not encoded again.

    `digests` is the encoded `task_digests` object (fixed for the run: encoded once), `tasks` the
    `encode_task` member of every task (each encoded again only when the task changed). At
    10 000 tasks, none changed, this takes about a quarter of the time of encoding the whole
    dict (8 against 31 ms on a loaded 2-core machine). `state` holds neither key.
    """
    head = _ENCODE(state)[:-1]                       # the object without its closing brace
    sep = ", " if len(head) > 1 else ""              # an empty state is `{`
    return f"{head}{sep}\"task_digests\": {digests}, \"tasks\": {{{', '.join(tasks)}}}}}"


class Batch(NamedTuple):
    """What one round hands the writer thread (`RunStore._write`), written in this order."""

    logs: dict[tuple[str, int], list[bytes]]        # output chunks by (task, attempt)
    events: list[Event]                             # lines for events.jsonl
    to_close: list[tuple[tuple[str, int], bool]]    # attempts that ended (and whether to make their empty log)
    snapshot: bytes | None                          # run.json, when one is due
    final: bool                                     # the run's last batch: run.json's folder is fsync'ed too


class RunStore:
    """One run's folder, fed by the scheduler's events (see the module docstring)."""

    def __init__(self, run_dir: str, run_id: str, pipeline: Pipeline, run_fd: int, logs_fd: int) -> None:
        self.run_id = run_id
        self.run_dir = run_dir
        self.json_writes = 0
        self.error: OSError | None = None   # the first write that failed
        self.problem = ""                   # ...in words, naming the path: "cannot write PATH: why"
        self.on_problem: Callable[[str], None] | None = None   # told `problem` once, on the loop
        self._problem_told = False
        self._run_fd = run_fd
        self._logs_fd = logs_fd
        self._pipeline = pipeline
        self._limits = {t.name: t.log_limit for t in pipeline.tasks}
        self._parents: dict[str, str] = {}
        self._safe: dict[str, str] = {}
        self._used: set[str] = set()
        self._written: dict[tuple[str, int], int] = {}
        self._logbuf: dict[tuple[str, int], list[bytes]] = {}
        self._last_byte: dict[tuple[str, int], bytes] = {}
        self._pending = 0
        self._events: list[Event] = []
        self._to_close: list[tuple[tuple[str, int], bool]] = []   # (attempt, make its empty log)
        self._dirty = False
        self._json_dirty = False
        self._urgent = False
        self._empty_due = False     # an ended attempt waits for its empty log
        self._closing = False
        self._closed = False
        self._last_flush = 0.0
        self._last_json = time.monotonic()
        self._wake: asyncio.Event | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._inflight: Future[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._fds: dict[tuple[str, int], int] = {}      # writer thread only
        self._dirs: set[str] = set()                    # writer thread only
        self._started: set[tuple[str, int]] = set()     # attempts running now
        self._events_fd = -1                            # writer thread only
        # run.json is the run as the one RunView of this process has it (engine/runview.py: the
        # view every front end keeps); the store applies it, first of the scheduler's sinks, and
        # the socket server and the headless printer read the same one.
        self.view = RunView()
        self._state: dict[str, Any] = {   # what run.json says of the run besides its tasks
            "version": FORMAT_VERSION,
            "run_id": run_id,
            "pipeline": pipeline.name,
            "file": pipeline.file,
            "source_digest": pipeline.source_digest,
            **engine_identity(),
            "started": time.time(),
            "ended": None,
            "heartbeat": time.time(),
            "state": "running",
            "exit_code": None,
            "max_parallel": pipeline.max_parallel,
            "paused": False,
        }
        # never changes during the run, yet is a third of run.json: encoded once, not at every write
        self._digests = _ENCODE(dict(pipeline.task_digests))
        self._frags: dict[str, str] = {}      # task -> its encoded `"name": {...}` in run.json, in order
        self._stale: set[str] = set()         # tasks whose fragment must be encoded again
        self._told: set[str] = set()          # tasks the engine has said a state of
        self._json_interval = FLUSH_INTERVAL
        for spec in pipeline.tasks:
            self._add(spec.name)

    @classmethod
    def create(cls, state_dir: str, pipeline: Pipeline, run_id: str | None = None) -> RunStore:
        """Make `<state_dir>/runs/<run-id>/` (0700) with a first run.json; the id gets -2, -3... if taken.

        Raises privdir.UnsafeDirectory for a level that is not this user's own (see the module
        docstring), OSError (naming the path) when one cannot be made or written.
        """
        runs = os.path.join(os.path.abspath(state_dir), "runs")
        runs_fd = _open_runs(state_dir)
        run_fd = logs_fd = -1
        try:
            base = run_id or new_run_id()
            n = 1
            while True:
                rid = base if n == 1 else f"{base}-{n}"
                run_dir = os.path.join(runs, rid)
                try:
                    run_fd = open_private_dir(rid, dir_fd=runs_fd, exclusive=True, shown=run_dir)
                    break
                except FileExistsError:
                    n += 1
            logs_fd = open_private_dir("logs", dir_fd=run_fd, exclusive=True,
                                       shown=os.path.join(run_dir, "logs"))
            store = cls(run_dir, rid, pipeline, run_fd, logs_fd)
            try:
                store._write_json(store._snapshot(), sync=False)  # the first: every later one is fsync'ed
            except OSError as exc:
                raise type(exc)(exc.errno, exc.strerror, os.path.join(run_dir, RUN_JSON)) from None
        except BaseException:
            for fd in (run_fd, logs_fd):
                if fd >= 0:
                    os.close(fd)
            raise
        finally:
            os.close(runs_fd)
        return store

    def set_engine(self, identity: dict[str, Any]) -> None:
        """The process that runs the engine from now on (it forked off a keeper): run.json says so."""
        self._state.update(identity)
        self._json_dirty = True

    # ------------------------------------------------------------------ paths

    def log_dir(self, task: str) -> str:
        return os.path.join(self.run_dir, "logs", self._safe_for(task))

    def log_path(self, task: str, attempt: int) -> str:
        return os.path.join(self.run_dir, "logs", self._safe_for(task), f"{attempt}.log")

    def set_log_limit(self, task: str, limit: int) -> None:
        """For tasks that join during the run (foreach instances) with their own limit."""
        self._limits[task] = limit

    def _safe_for(self, task: str) -> str:
        safe = self._safe.get(task)
        if safe is None:
            base = safe_name(task)
            safe, n = base, 1
            while safe.casefold() in self._used:
                n += 1
                safe = f"{base}-{n}"
            self._used.add(safe.casefold())
            self._safe[task] = safe
        return safe

    def _limit_for(self, task: str) -> int:
        limit = self._limits.get(task)
        if limit is None:
            parent = self._parents.get(task)
            limit = self._limits.get(parent, DEFAULT_LOG_LIMIT) if parent else DEFAULT_LOG_LIMIT
            self._limits[task] = limit
        return limit

    def _add(self, task: str) -> None:
        if task not in self._frags:
            self._frags[task] = ""
            self._stale.add(task)

    def _task_record(self, task: str) -> dict[str, Any]:
        """A task's entry in run.json, from the view (pending until the engine says a state)."""
        log_dir = f"logs/{self._safe_for(task)}"
        v = self.view.tasks.get(task)
        if v is None or task not in self._told:
            return {"state": TaskState.PENDING.value, "attempt": 0, "reason": "", "exit_code": None, "pid": None,
                    "started": None, "ended": None, "duration": None, "output": None, "log_dir": log_dir}
        rec: dict[str, Any] = {
            "state": v.state.value, "attempt": v.attempt, "reason": v.reason, "exit_code": v.exit_code,
            "pid": v.pid, "started": v.started, "ended": v.ended,
            "duration": v.ended - v.started if v.started is not None and v.ended is not None else None,
            "output": v.value, "log_dir": log_dir,
        }
        if v.worker:
            rec["worker"] = v.worker    # the Dask worker of the attempt (only there then)
        return rec

    # ------------------------------------------------------------------ EventSink

    def handle(self, event: Event) -> None:
        self.view.apply(event)
        if type(event) is TaskOutput:
            self._output(event)
            return
        if self._closed:
            return
        self._events.append(event)
        self._apply(event)
        self._json_dirty = True
        if not self._dirty:
            self._dirty = True
            self._poke()

    def _output(self, event: TaskOutput) -> None:
        key = (event.task, event.attempt)
        data = event.data
        done = self._written.get(key, 0)
        if done < 0 or not data or self._closed:
            return
        limit = self._limit_for(event.task)
        if done + len(data) > limit:
            keep = data[:max(0, limit - done)]
            last = keep[-1:] or self._tail_byte(key)
            data = keep + (b"" if last in (b"", b"\n") else b"\n") + limit_marker(limit)
            self._written[key] = -1
        else:
            self._written[key] = done + len(data)
        buf = self._logbuf.get(key)
        if buf is None:
            self._safe_for(event.task)  # resolved here: the writer thread only reads the mapping
            self._logbuf[key] = [data]
        else:
            buf.append(data)
        self._pending += len(data)
        if not self._dirty:
            self._dirty = True
            self._poke()
        if self._pending >= FLUSH_BYTES and not self._urgent:
            self._urgent = True
            self._poke()
        if self._pending >= MAX_PENDING:
            self._write_logs_now()

    def _tail_byte(self, key: tuple[str, int]) -> bytes:
        buf = self._logbuf.get(key)
        return buf[-1][-1:] if buf else self._last_byte.get(key, b"")

    def _apply(self, event: Event) -> None:
        """What the view does not keep: which tasks' entries changed, which attempts ended (their
        log files are closed, or made empty). The run's own fields are read at each write."""
        if isinstance(event, TaskStateChanged):
            self._add(event.task)
            self._told.add(event.task)
            self._stale.add(event.task)
            key = (event.task, event.attempt)
            if event.state is TaskState.RUNNING:
                self._started.add(key)
            else:
                ran = key in self._started
                if ran:
                    self._started.discard(key)
                    self._safe_for(event.task)  # resolved here: the writer thread only reads the mapping
                make = ran and key not in self._written
                self._to_close.append((key, make))
                if make and not self._empty_due:
                    self._empty_due = True
                    self._poke()
        elif isinstance(event, RunStarted | TasksAdded):
            for info in event.tasks:
                if info.parent:
                    self._parents[info.name] = info.parent
                self._add(info.name)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # ------------------------------------------------------------------ flushing

    async def start(self) -> None:
        """Start the background flusher (call on the run's loop)."""
        if self._flusher is not None or self._closed:
            return
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tuiflow-store")
        self._flusher = asyncio.get_running_loop().create_task(self._run(), name="tuiflow-store")

    async def aclose(self) -> None:
        """Write everything still buffered and the final run.json, then stop."""
        if self._closed:
            return
        self._closing = True
        self._poke()
        if self._flusher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._inflight is not None:
            await asyncio.wrap_future(self._inflight)
        job = self._take(final=True)
        self._closed = True
        if self._executor is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._write, job)
            self._executor.shutdown(wait=True)
        else:
            self._write(job)
        self._close_files()
        self._tell_problem()

    def _tell_problem(self) -> None:
        """On the loop, after a write: the first failure goes to `on_problem`, once."""
        if self.problem and not self._problem_told:
            self._problem_told = True
            if self.on_problem is not None:
                self.on_problem(self.problem)

    async def _run(self) -> None:
        assert self._wake is not None and self._executor is not None
        loop = asyncio.get_running_loop()
        while not self._closing:
            now = time.monotonic()
            if self._urgent:
                due = now
            elif self._empty_due:
                # An empty log is two new inodes (~45 us of kernel time here): made while the
                # run goes on, not left to the last batch after the last task, where a short
                # run (chain 200: ~150 of them) waits for every one in turn.
                due = self._last_flush + EMPTY_LOGS_SOON
            elif self._dirty:
                due = self._last_flush + FLUSH_INTERVAL
            else:
                due = self._last_json + HEARTBEAT
            if due > now:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), due - now)
                continue
            job = self._take(final=False)
            self._inflight = fut = self._executor.submit(self._write, job)
            await asyncio.wrap_future(fut, loop=loop)
            self._inflight = None
            self._tell_problem()

    def _take(self, final: bool) -> Batch:
        """Hand the buffers over to the writer; run.json comes along when due (or final)."""
        now = time.monotonic()
        logs = self._take_logs()
        events, self._events = self._events, []
        to_close, self._to_close = self._to_close, []
        self._empty_due = False
        self._dirty = False
        self._last_flush = now
        snapshot = None
        if final or (self._json_dirty and now - self._last_json >= self._json_interval) \
                or now - self._last_json >= HEARTBEAT:
            snapshot = self._snapshot()
        elif self._json_dirty:
            self._dirty = True  # run.json still owed: the next round writes it
        return Batch(logs, events, to_close, snapshot, final)

    def _snapshot(self) -> bytes:
        """run.json as bytes; only tasks changed since the last one are encoded again.

        Its cost still grows with the task count (the join), so the interval between writes
        grows with it: writing run.json never takes more than ~5% of the loop.
        """
        t0 = time.perf_counter()
        frags = self._frags
        for name in self._stale:
            frags[name] = encode_task(name, self._task_record(name))
        self._stale.clear()
        st, view = self._state, self.view   # the run's own fields, as the view has them
        st.update(heartbeat=time.time(), state=view.result or "running", ended=view.finished_at,
                  exit_code=view.exit_code if view.result else None, paused=view.paused)
        if view.started_at is not None:
            st.update(pipeline=view.pipeline, file=view.file, max_parallel=view.max_parallel, started=view.started_at)
        if view.executor:
            st["executor"] = view.executor
        text = join_run_json(st, self._digests, frags.values())
        self._json_dirty = False
        self._last_json = time.monotonic()
        data = text.encode()
        self._json_interval = max(FLUSH_INTERVAL, 20 * (time.perf_counter() - t0))
        return data

    def _write_logs_now(self) -> None:
        """Backpressure: write on the loop thread once the writer is idle (keeps order per file)."""
        if self._inflight is not None:
            self._inflight.result()
        self._write_logs(self._take_logs())
        self._tell_problem()

    def _take_logs(self) -> dict[tuple[str, int], list[bytes]]:
        logs, self._logbuf = self._logbuf, {}
        for key, chunks in logs.items():
            self._last_byte[key] = chunks[-1][-1:]
        self._pending = 0
        self._urgent = False
        return logs

    async def sync(self) -> None:
        """Return once every output byte handed to `handle()` so far is in its log file (written,
        not fsync'ed): a reader of the files then sees all of it (the socket server, a pane)."""
        if self._executor is None or self._closed:
            return
        logs = self._take_logs()
        # one writer thread runs jobs in order: this one ends after every batch handed over before
        await asyncio.wrap_future(self._executor.submit(self._write_logs, logs))
        self._tell_problem()

    # writer thread ---------------------------------------------------------------------------

    def _write(self, batch: Batch) -> None:
        """One batch, in order. A failing write (disk full...) is kept in `error`, never raised:
        the run goes on, and what could not be written is lost rather than the run.

        An attempt that ended without output gets its (empty) log file now (`_make_empty_log`),
        and none at all while it runs.
        """
        self._write_logs(batch.logs)
        for key, make in batch.to_close:
            fd = self._fds.pop(key, None)
            if fd is not None:
                os.close(fd)
            elif make:
                self._make_empty_log(key)
        if batch.events:
            try:
                if self._events_fd < 0:
                    self._events_fd = os.open(EVENTS, _FILE_FLAGS, 0o600, dir_fd=self._run_fd)
                text = "".join([_ENCODE(e.to_dict()) + "\n" for e in batch.events])
                _write_all(self._events_fd, [text.encode()])
            except OSError as exc:
                self._failed(exc, os.path.join(self.run_dir, EVENTS))
        if batch.snapshot is not None:
            try:
                self._write_json(batch.snapshot, sync_dir=batch.final)
            except OSError as exc:
                self._failed(exc, os.path.join(self.run_dir, RUN_JSON))

    def _failed(self, exc: OSError, path: str) -> None:
        if self.error is None:
            self.error = exc
            why = exc.strerror or str(exc)
            self.problem = f"cannot write {path}: {why}"

    def _log_folder(self, task: str) -> str | None:
        """The task's folder name in logs/, made once (in logs/, which only this user can write,
        so the name stays the folder it was made as); None when it cannot be made."""
        safe = self._safe[task]
        if safe not in self._dirs:
            try:
                os.mkdir(safe, 0o700, dir_fd=self._logs_fd)
            except FileExistsError:
                pass
            except OSError as exc:
                self._failed(exc, self.log_dir(task))
                return None
            self._dirs.add(safe)
        return safe

    def _make_empty_log(self, key: tuple[str, int]) -> None:
        """The log file of an attempt that printed nothing: made, not opened (mknod, one system
        call instead of open and close; open where the system refuses mknod a regular file).
        One that exists already (the task wrote its own $TUIFLOW_TASK_LOG) is left as it is."""
        task, attempt = key
        safe = self._log_folder(task)
        if safe is None:
            return
        name = f"{safe}/{attempt}.log"
        try:
            try:
                os.mknod(name, stat.S_IFREG | 0o600, dir_fd=self._logs_fd)
            except FileExistsError:
                pass
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                os.close(os.open(name, _FILE_FLAGS, 0o600, dir_fd=self._logs_fd))
        except OSError as exc:
            self._failed(exc, self.log_path(task, attempt))

    def _log_fd(self, key: tuple[str, int]) -> int | None:
        """The open log file of an attempt, made on first use (in its folder: `_log_folder`);
        None when it cannot be."""
        fd = self._fds.get(key)
        if fd is not None:
            return fd
        task, attempt = key
        safe = self._log_folder(task)
        if safe is None:
            return None
        try:
            fd = os.open(f"{safe}/{attempt}.log", _FILE_FLAGS, 0o600, dir_fd=self._logs_fd)
        except OSError as exc:
            self._failed(exc, self.log_path(task, attempt))
            return None
        self._fds[key] = fd
        return fd

    def _write_logs(self, logs: dict[tuple[str, int], list[bytes]]) -> None:
        for key, chunks in logs.items():
            fd = self._log_fd(key)
            if fd is None:
                continue
            try:
                _write_all(fd, chunks)
            except OSError as exc:
                self._failed(exc, self.log_path(*key))

    def _write_json(self, snapshot: bytes, sync_dir: bool = False, sync: bool = True) -> None:
        _atomic_write(self._run_fd, RUN_JSON, TMP_JSON, snapshot, sync_dir, sync)
        self.json_writes += 1

    def _close_files(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        for fd in (self._events_fd, self._run_fd, self._logs_fd):
            if fd >= 0:
                os.close(fd)
        self._events_fd = self._run_fd = self._logs_fd = -1


def mark_interrupted(run_dir: str, reason: str) -> None:
    """The engine was killed: run.json says `interrupted` (and so do its running tasks) at once,
    instead of waiting for a reader to find the engine gone. Written the same atomic way, in the
    run folder as it was checked (privdir)."""
    dir_fd = open_private_dir(run_dir, create=False)
    try:
        fd = os.open(RUN_JSON, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        with open(fd, encoding="utf-8") as f:
            run = json.load(f)
        if run.get("state") != "running":
            return
        now = time.time()
        run.update(state="interrupted", ended=now, reason=reason)
        for task in (run.get("tasks") or {}).values():
            if isinstance(task, dict) and task.get("state") == "running":
                task.update(state="interrupted", reason=reason, ended=now)
        _atomic_write(dir_fd, RUN_JSON, TMP_JSON, _ENCODE(run).encode(), sync_dir=True)
    finally:
        os.close(dir_fd)


__all__ = ["RunStore", "check_state_dir", "limit_marker", "mark_interrupted", "new_run_id", "safe_name"]
