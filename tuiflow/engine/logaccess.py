"""Reading a run's log files while the run goes on: tails, lines by number, counts, search.

The run store writes every attempt's output to `logs/<task>/<attempt>.log`; front ends read it
back through a `LogAccess` — in process (the TUI's own tests), or in the engine on behalf of a
viewer attached over the socket, so a viewer on another machine reads the same way. A log
that someone reads gets a line index (engine/logindex.py), kept up to date in a thread while
the task writes, so any line of a gigabyte log is found in a block read. Every file read runs
off the event loop, so a big log never stalls the run or a screen.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from .events import Event, TaskOutput
from .logindex import LineIndex, read_lines
from .logsearch import MAX_HITS, Hit, Matcher, search_logs, strip_ansi

TAIL_LINES = 10_000
TAIL_BYTES = 8 * 1024 * 1024
READ_LIMIT = 1 << 20       # bytes one `read` returns at most
LINES_BYTES = 512 * 1024   # bytes one `lines` returns at most (a reply must not swamp the link)
FIND_BYTES = 32 << 20      # bytes of a log one `find` looks through
FIND_READ = 2 << 20        # of which it reads so many at a time
FIND_HITS = 50_000         # line numbers one `find` returns at most
TAIL_WAIT = 0.15           # seconds a tail waits for its first line's number (else: not known yet)
INDEXES = 64               # logs whose index is kept (the least recently read is dropped)
GROW_DELAY = 0.5           # a log being read is indexed again at most this often while it grows


class LogText(NamedTuple):
    """Some lines of a log: `data` starts at byte `offset` of the file (on a line boundary) and,
    when known, is line `first_line` (1-based). From `lines`, every line ends with a newline."""

    data: bytes
    offset: int
    first_line: int | None = None


class LogCount(NamedTuple):
    """How many lines start before byte `offset` of a log (None: still counting; `counted`
    bytes are, which tells how far it got)."""

    lines: int | None
    offset: int
    counted: int


class Found(NamedTuple):
    """Lines (1-based) of a piece of a log that show a query; the search goes on at byte
    `offset`, line `line`."""

    lines: list[int]
    offset: int
    line: int


class _Log:
    __slots__ = ("grow", "index", "job")

    def __init__(self) -> None:
        self.index = LineIndex()
        self.job: asyncio.Future[int] | None = None    # a thread extending the index
        self.grow: asyncio.TimerHandle | None = None    # an extension planned while the task writes


class LogAccess:
    """A run's logs by (task, attempt). `sync` (the run store's) makes sure what the engine has
    emitted is in the files before a read that must include it (a tail, a search).

    It is also an EventSink: output of a log it has indexed keeps its index growing."""

    def __init__(self, log_path: Callable[[str, int], str | None],
                 sync: Callable[[], Awaitable[None]] | None = None) -> None:
        self._log_path = log_path
        self._sync = sync
        self._logs: OrderedDict[tuple[str, int], _Log] = OrderedDict()
        self._stop = threading.Event()

    def path(self, task: str, attempt: int) -> str | None:
        """The log file on this machine (for a pager), or None."""
        if attempt < 1:
            return None
        return self._log_path(task, attempt)

    async def local_path(self, task: str, attempt: int) -> str | None:
        return self.path(task, attempt)

    async def sync(self) -> None:
        if self._sync is not None:
            await self._sync()

    def close(self) -> None:
        """Indexing stops (the engine is going)."""
        self._stop.set()
        for log in self._logs.values():
            if log.grow is not None:
                log.grow.cancel()

    # ------------------------------------------------------------------ the EventSink
    def handle(self, event: Event) -> None:
        if type(event) is TaskOutput:
            log = self._logs.get((event.task, event.attempt))  # type: ignore[attr-defined]
            if log is not None and log.grow is None:
                log.grow = asyncio.get_running_loop().call_later(
                    GROW_DELAY, self._grow, event.task, event.attempt)  # type: ignore[attr-defined]

    def _grow(self, task: str, attempt: int) -> None:
        log = self._logs.get((task, attempt))
        if log is not None:
            log.grow = None
            self._extend(task, attempt, log)

    # ------------------------------------------------------------------ the index
    def _log(self, task: str, attempt: int) -> _Log:
        key = (task, attempt)
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = _Log()
            if len(self._logs) > INDEXES:
                old_key, old = next(iter(self._logs.items()))
                if old.job is None:
                    del self._logs[old_key]
        else:
            self._logs.move_to_end(key)
        return log

    def _extend(self, task: str, attempt: int, log: _Log) -> asyncio.Future[int]:
        """The thread counting what the log has beyond its index (one at a time per log)."""
        if log.job is None or log.job.done():
            path = self.path(task, attempt)
            log.job = asyncio.ensure_future(asyncio.to_thread(self._extend_now, path, log.index))
        return log.job

    def _extend_now(self, path: str | None, index: LineIndex) -> int:
        if path is None:
            return 0
        try:
            with open(path, "rb") as f:
                return index.extend(f, stop=self._stop)
        except OSError:
            return index.size

    async def _indexed(self, task: str, attempt: int, upto: int | None, wait: float | None) -> _Log | None:
        """The log, once its index reaches byte `upto` (None: the file's size now); None when that
        takes longer than `wait` seconds (None: as long as it takes). Indexing goes on anyway."""
        log = self._log(task, attempt)
        if upto is None:
            upto = await asyncio.to_thread(_size, self.path(task, attempt))
        loop = asyncio.get_running_loop()
        deadline = None if wait is None else loop.time() + wait
        while log.index.size < upto:
            before = log.index.size
            job = self._extend(task, attempt, log)
            left = None if deadline is None else deadline - loop.time()
            try:
                await asyncio.wait_for(asyncio.shield(job), left)
            except TimeoutError:
                return None
            if log.index.size == before:   # the file is shorter than asked (or unreadable)
                break
        return log

    async def _in_thread(self, task: str, attempt: int, work: Callable, *args: object):  # noqa: ANN202
        path = self.path(task, attempt)
        if path is None:
            raise FileNotFoundError(f"{task} attempt {attempt} has no log")
        return await asyncio.to_thread(_with_file, path, work, *args)

    # ------------------------------------------------------------------ reads
    async def tail(self, task: str, attempt: int, end: int | None = None, max_lines: int = TAIL_LINES,
                   max_bytes: int = TAIL_BYTES) -> LogText:
        """The last `max_lines` whole lines before byte `end` (None: everything written so far),
        with the number of the first when the index has it within TAIL_WAIT (it goes on counting:
        `count` tells when it is done)."""
        path = self.path(task, attempt)
        if path is None:
            return LogText(b"", 0)
        await self.sync()
        data, offset = await asyncio.to_thread(read_tail, path, end, max_lines, max_bytes)
        if offset == 0:
            return LogText(data, 0, 1)
        log = await self._indexed(task, attempt, offset, TAIL_WAIT)
        if log is None:
            return LogText(data, offset, None)
        before = await self._in_thread(task, attempt, log.index.newlines_before, offset)
        return LogText(data, offset, before + 1)

    async def count(self, task: str, attempt: int, offset: int | None = None, wait: float = 0.0) -> LogCount:
        """How many lines start before byte `offset` (None: the whole log as it is now), waiting at
        most `wait` seconds for the index to get there."""
        if self.path(task, attempt) is None:
            return LogCount(0, 0, 0)
        if offset is None:
            await self.sync()
            offset = await asyncio.to_thread(_size, self.path(task, attempt))
        log = await self._indexed(task, attempt, offset, wait)
        if log is None:
            index = self._log(task, attempt).index
            return LogCount(None, offset, index.size)
        offset = min(offset, log.index.size)
        lines = await self._in_thread(task, attempt, log.index.lines_before, offset)
        return LogCount(lines, offset, offset)

    async def lines(self, task: str, attempt: int, first: int, count: int, max_bytes: int = LINES_BYTES) -> LogText:
        """Lines `first`, `first + 1`... (1-based) of a log, at most `count` and about `max_bytes`:
        fewer where the log ends. A line longer than 16 KiB comes cut (engine/logindex.py)."""
        if self.path(task, attempt) is None:
            return LogText(b"", 0, first)
        log = self._log(task, attempt)
        if log.index.newlines < first - 1 + count:
            await self.sync()
            log = await self._indexed(task, attempt, None, None) or log
        found, offset = await self._in_thread(task, attempt, read_lines, log.index, first - 1, count,
                                              min(max_bytes, LINES_BYTES))
        return LogText(b"".join(line + b"\n" for line in found), offset, first)

    async def find(self, task: str, attempt: int, query: str, offset: int, line: int, end: int,
                   max_bytes: int = FIND_BYTES, max_hits: int = FIND_HITS) -> Found:
        """The lines of bytes [offset, end) of a log that show `query`, starting with line `line`
        (1-based) at `offset`, in one piece of at most `max_bytes` (ending at a line end): the
        search goes on from the returned offset and line until that is `end`."""
        if self.path(task, attempt) is None or offset >= end:
            return Found([], max(offset, end), line)
        await self.sync()
        return await self._in_thread(task, attempt, _find, Matcher(query), offset, line, end,
                                     min(max_bytes, FIND_BYTES), min(max_hits, FIND_HITS))

    async def read(self, task: str, attempt: int, offset: int, length: int = READ_LIMIT) -> bytes:
        """Raw bytes (at most READ_LIMIT): a pager on another machine fetches a log this way."""
        path = self.path(task, attempt)
        if path is None:
            return b""
        await self.sync()
        return await asyncio.to_thread(_read_range, path, offset, min(length, READ_LIMIT))

    async def search(self, query: str, tasks: list[tuple[str, list[int]]], limit: int = MAX_HITS) -> list[Hit]:
        await self.sync()
        return await asyncio.to_thread(search_logs, query, tasks, self.path, limit)


def hits_to_bytes(lines: list[int]) -> bytes:
    """Line numbers as a payload: unsigned 64-bit little-endian (a reply of 50 000 is 400 KB)."""
    numbers = array("Q", lines)
    if sys.byteorder != "little":
        numbers.byteswap()
    return numbers.tobytes()


def hits_from_bytes(data: bytes) -> list[int]:
    numbers = array("Q")
    numbers.frombytes(data)
    if sys.byteorder != "little":
        numbers.byteswap()
    return numbers.tolist()


def _size(path: str | None) -> int:
    try:
        return os.stat(path).st_size if path else 0
    except OSError:
        return 0


def _with_file(path: str, work: Callable, *args: object):  # noqa: ANN202
    with open(path, "rb") as f:
        return work(f, *args)


def _find(f, matcher: Matcher, offset: int, line: int, end: int, max_bytes: int, max_hits: int) -> Found:
    """One `find` piece, read FIND_READ bytes at a time into one buffer: a couple of megabytes
    stay in the CPU's cache while they are lowercased and searched (32 MB at once is three
    times slower), and the GIL is never held long (the engine's loop goes on meanwhile)."""
    hits: list[int] = []
    buf = bytearray(FIND_READ)
    view = memoryview(buf)
    start, stop = offset, min(end, offset + max_bytes)
    while offset < stop:
        f.seek(offset)
        n = f.readinto(view[:min(FIND_READ, stop - offset)])
        if not n:
            break
        cut = n
        if offset + cut < end:
            cut = buf.rfind(b"\n", 0, n) + 1
            if not cut:
                if offset > start:    # the next piece starts with this line
                    break
                cut = n               # one line longer than a read: this much of it, it goes on
        found, stopped = matcher.scan(buf, line - 1, max_hits - len(hits), cut)
        hits += [number + 1 for number in found]
        if stopped is not None:  # too many: the next piece starts after the last line found
            past = _past_newlines(buf, stopped + 1 - (line - 1))
            if 0 < past < cut:
                return Found(hits, offset + past, stopped + 2)
        offset, line = offset + cut, line + buf.count(b"\n", 0, cut)
        if len(hits) >= max_hits:
            break
        time.sleep(0)    # let the engine's loop have the GIL between pieces (a viewer's keys wait on it)
    return Found(hits, offset, line)


def _read_range(path: str, offset: int, length: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, offset))
            return f.read(max(0, length))
    except OSError:
        return b""


def read_tail(path: str | os.PathLike[str], end: int | None, max_lines: int,
              max_bytes: int = 8 * 1024 * 1024) -> tuple[bytes, int]:
    """The last `max_lines` lines of a file before byte `end` (None = its size).

    Returns (data, offset) where data starts on a line boundary at `offset`. Reads backwards
    in blocks, so a 1 GB log costs what its tail costs.
    """
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            stop = size if end is None else min(end, size)
            pos = stop
            blocks: list[bytes] = []
            newlines = 0
            while pos > 0 and newlines <= max_lines and stop - pos < max_bytes:
                step = min(65536, pos)
                pos -= step
                f.seek(pos)
                block = f.read(step)
                blocks.append(block)
                newlines += block.count(b"\n")
    except OSError:
        return b"", 0
    data = b"".join(reversed(blocks))
    if pos > 0:  # drop the partial first line
        cut = data.find(b"\n")
        if cut < 0:
            return b"", stop
        data, pos = data[cut + 1:], pos + cut + 1
    lines_seen = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    if lines_seen > max_lines:
        idx = _past_newlines(data, lines_seen - max_lines)
        data, pos = data[idx:], pos + idx
    return data, pos


def _past_newlines(data: bytes, n: int) -> int:
    """The offset just past the `n`-th newline of `data` (0 for n = 0); -1 when it has fewer."""
    end = 0
    for _ in range(n):
        end = data.find(b"\n", end) + 1
        if end == 0:
            return -1
    return end


__all__ = ["Found", "Hit", "LogAccess", "LogCount", "LogText", "MAX_HITS", "hits_from_bytes", "hits_to_bytes",
           "read_tail", "strip_ansi"]
