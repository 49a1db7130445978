"""Reading a run's log files while the run goes on: tails, windows, line numbers, search.

The run store writes every attempt's output to `logs/<task>/<attempt>.log`; front ends read it
back through a `LogAccess` — in process (the TUI's own tests), or in the engine on behalf of a
viewer attached over the socket, so a viewer on another machine reads the same way. Reads
that may be long run off the event loop (a thread, or aiofiles a megabyte at a time), so a
gigabyte log never stalls the run or the screen.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from typing import NamedTuple

ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
MAX_HITS = 2000
TAIL_LINES = 10_000
TAIL_BYTES = 8 * 1024 * 1024
READ_LIMIT = 1 << 20   # bytes one `read` returns at most


def strip_ansi(line: str) -> str:
    return ANSI_RE.sub("", line)


class LogText(NamedTuple):
    """Some lines of a log: `data` starts at byte `offset` of the file (on a line boundary) and,
    when known, is line `first_line` (1-based)."""

    data: bytes
    offset: int
    first_line: int | None = None


class Hit(NamedTuple):
    task: str
    attempt: int
    line: int
    text: str


class LogAccess:
    """A run's logs by (task, attempt). `sync` (the run store's) makes sure what the engine has
    emitted is in the files before a read that must include it (a tail, a search)."""

    def __init__(self, log_path: Callable[[str, int], str | None],
                 sync: Callable[[], Awaitable[None]] | None = None) -> None:
        self._log_path = log_path
        self._sync = sync

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

    async def tail(self, task: str, attempt: int, end: int | None = None, max_lines: int = TAIL_LINES,
                   max_bytes: int = TAIL_BYTES) -> LogText:
        """The last `max_lines` whole lines before byte `end` (None: everything written so far)."""
        path = self.path(task, attempt)
        if path is None:
            return LogText(b"", 0)
        await self.sync()
        data, offset = await asyncio.to_thread(read_tail, path, end, max_lines, max_bytes)
        return LogText(data, offset, 1 if offset == 0 else None)

    async def window(self, task: str, attempt: int, line: int, before: int, count: int) -> LogText:
        path = self.path(task, attempt)
        if path is None:
            return LogText(b"", 0, line)
        data, offset, first = await read_window(path, line, before, count)
        return LogText(data, offset, first)

    async def lines_before(self, task: str, attempt: int, offset: int) -> int:
        path = self.path(task, attempt)
        return 0 if path is None else await count_lines_before(path, offset)

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


def _read_range(path: str, offset: int, length: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, offset))
            return f.read(max(0, length))
    except OSError:
        return b""


def search_logs(query: str, tasks: list[tuple[str, list[int]]], log_path: Callable[[str, int], str | None],
                limit: int = MAX_HITS) -> list[Hit]:
    """Case-insensitive substring search, in task order, line numbers 1-based per attempt log."""
    needle = query.lower().encode()
    hits: list[Hit] = []
    if not needle:
        return hits
    for task, attempts in tasks:
        for attempt in attempts:
            path = log_path(task, attempt)
            if not path:
                continue
            try:
                with open(path, "rb") as f:
                    for number, raw in enumerate(f, 1):
                        if needle in raw.lower():
                            hits.append(Hit(task, attempt, number, _clean(raw)))
                            if len(hits) >= limit:
                                return hits
            except OSError:
                continue
    return hits


def _clean(raw: bytes) -> str:
    return strip_ansi(raw.decode("utf-8", "replace").rstrip("\r\n").split("\r")[-1])[:300]


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


async def count_lines_before(path: str | os.PathLike[str], offset: int) -> int:
    """Newlines in the first `offset` bytes of a file (for line numbers of a tail window).

    Read through aiofiles, a megabyte at a time: counting a gigabyte log must not freeze the screen.
    """
    import aiofiles

    count = 0
    try:
        async with aiofiles.open(path, "rb") as f:
            left = offset
            while left > 0:
                block = await f.read(min(_BLOCK, left))
                if not block:
                    break
                count += block.count(b"\n")
                left -= len(block)
    except OSError:
        return 0
    return count


async def read_window(path: str | os.PathLike[str], line_number: int, before: int,
                      count: int, max_bytes: int = 8 * 1024 * 1024) -> tuple[bytes, int, int]:
    """Lines around `line_number` (1-based): returns (data, offset, first_line_number).

    Read through aiofiles like `count_lines_before`: the line may be deep in a huge log. At
    most `max_bytes` (as `read_tail`), however long the lines.
    """
    import aiofiles

    first = max(1, line_number - before)
    try:
        async with aiofiles.open(path, "rb") as f:
            start = await _offset_of_line(f, first)
            await f.seek(start)
            blocks: list[bytes] = []
            newlines = size = 0
            while newlines < count and size < max_bytes:
                block = await f.read(min(_BLOCK, max_bytes - size))
                if not block:
                    break
                blocks.append(block)
                newlines += block.count(b"\n")
                size += len(block)
    except OSError:
        return b"", 0, first
    data = b"".join(blocks)
    end = _past_newlines(data, count)  # -1: the file (or max_bytes) ends first, its last line maybe cut
    return (data if end < 0 else data[:end]), start, first


async def _offset_of_line(f, line_number: int) -> int:   # f: an aiofiles binary file
    """Where 1-based `line_number` starts; the file's size when it has fewer lines."""
    wanted, pos = line_number - 1, 0
    while wanted > 0:
        block = await f.read(_BLOCK)
        if not block:
            break
        found = block.count(b"\n")
        if found < wanted:
            wanted -= found
            pos += len(block)
            continue
        return pos + _past_newlines(block, wanted)
    return pos


_BLOCK = 1 << 20


__all__ = ["Hit", "LogAccess", "LogText", "count_lines_before", "read_tail", "read_window", "search_logs",
           "strip_ansi"]
