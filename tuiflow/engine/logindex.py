"""A line index of a log file that grows: where line N starts, without reading the file up to it.

The index holds the number of newlines in each 64 KiB block of the file (a gigabyte costs
16 384 numbers, 128 KiB), built by counting, which runs at the speed of memory. Line N is then
found by a binary search over the blocks and one block read. The index is extended from where it
stopped each time it is used (`extend`), so a log that is still being written is indexed once.

Everything here is blocking file I/O: the engine calls it in a thread (engine/logaccess.py).
"""

from __future__ import annotations

import os
import threading
from array import array
from bisect import bisect_left
from typing import BinaryIO

BLOCK = 1 << 16
READ = 1 << 20
LONG_LINE = 16 * 1024        # bytes of one line that are sent; a longer line is cut (see `line_bytes`)


class LineIndex:
    """Newline counts per block of one file. Thread-safe: one extends while others look up."""

    def __init__(self) -> None:
        self._counts = array("Q")     # newlines in bytes [0, (i + 1) * BLOCK)
        self._partial = 0             # newlines in the last, partial block
        self.size = 0                 # bytes counted
        self.last_byte = b""          # the byte at size - 1
        self._lock = threading.Lock()

    @property
    def newlines(self) -> int:
        with self._lock:
            return (self._counts[-1] if self._counts else 0) + self._partial

    def lines(self) -> int:
        """Lines in what is counted: the newlines, plus a last line that has none yet."""
        with self._lock:
            newlines = (self._counts[-1] if self._counts else 0) + self._partial
            return newlines + (1 if self.size and self.last_byte != b"\n" else 0)

    def extend(self, f: BinaryIO, limit: int | None = None, stop: threading.Event | None = None) -> int:
        """Count what the file has beyond `size` (up to `limit` bytes of it); returns the size now.

        A file that shrank (replaced, truncated) is counted again from the start.
        """
        end = os.fstat(f.fileno()).st_size
        if end < self.size:
            with self._lock:
                self._counts, self._partial, self.size, self.last_byte = array("Q"), 0, 0, b""
        if limit is not None:
            end = min(end, limit)
        buf = bytearray(READ)
        view = memoryview(buf)
        f.seek(self.size)
        while self.size < end and not (stop is not None and stop.is_set()):
            n = f.readinto(view[:min(READ, end - self.size)])
            if not n:
                break
            self._add(buf, n)
        return self.size

    def _add(self, buf: bytearray, n: int) -> None:
        """Count `buf[:n]`, the bytes at `size`, block by block."""
        pos = 0
        done = len(self._counts) * BLOCK
        counts: list[int] = []
        base = self._counts[-1] if self._counts else 0
        partial = self._partial
        size = self.size
        while pos < n:
            room = done + BLOCK - size   # left in the current block
            take = min(room, n - pos)
            partial += buf.count(b"\n", pos, pos + take)
            pos += take
            size += take
            if take == room:
                base += partial
                counts.append(base)
                partial = 0
                done += BLOCK
        with self._lock:
            self._counts.extend(counts)
            self._partial = partial
            self.size = size
            self.last_byte = bytes(buf[n - 1:n])

    def newlines_before(self, f: BinaryIO, offset: int) -> int:
        """Newlines in bytes [0, offset) (offset <= size)."""
        block = offset // BLOCK
        with self._lock:
            before = self._counts[block - 1] if block else 0
        start = block * BLOCK
        if offset == start:
            return before
        f.seek(start)
        return before + f.read(offset - start).count(b"\n")

    def lines_before(self, f: BinaryIO, offset: int) -> int:
        """Lines that start before byte `offset` (offset <= size): whole ones, and one cut there."""
        count = self.newlines_before(f, offset)
        if offset > 0:
            f.seek(offset - 1)
            count += f.read(1) != b"\n"
        return count

    def offset_of(self, f: BinaryIO, line: int) -> int:
        """Where 0-based `line` starts (the counted size when there are not that many)."""
        if line <= 0:
            return 0
        with self._lock:
            counts = self._counts
            block = bisect_left(counts, line)         # the block that holds newline number `line`
            before = counts[block - 1] if block else 0
            total = (counts[-1] if counts else 0) + self._partial
            size = self.size
        if line > total:
            return size
        start = block * BLOCK
        f.seek(start)
        data = f.read(min(BLOCK, size - start))
        pos = -1
        for _ in range(line - before):
            pos = data.find(b"\n", pos + 1)
        return start + pos + 1


def read_lines(f: BinaryIO, index: LineIndex, first: int, count: int, max_bytes: int) -> tuple[list[bytes], int]:
    """Lines `first`... (0-based) of an indexed file: (their bytes, where the first starts).

    At most `count` lines and about `max_bytes`: fewer when the file (as counted) ends first or
    the bytes run out. A line longer than LONG_LINE comes cut (`line_bytes`); the last line
    comes even when no newline ends it yet.
    """
    start = index.offset_of(f, first)
    end = index.size
    lines: list[bytes] = []
    pos, used = start, 0
    while len(lines) < count and pos < end and used < max_bytes:
        f.seek(pos)
        data = f.read(min(end - pos, max(LONG_LINE + 1, max_bytes - used)))
        if not data:
            break
        parts = data.split(b"\n")
        rest = parts.pop()                   # what no newline ends, in what was read
        if not parts:                        # one line longer than what was read
            number = first + len(lines)
            stop = index.offset_of(f, number + 1) - 1 if number + 1 <= index.newlines else end
            lines.append(line_bytes(f, pos, stop))
            used += LONG_LINE
            pos = stop + 1
            continue
        for part in parts:
            lines.append(part if len(part) <= LONG_LINE else line_bytes(f, pos, pos + len(part)))
            pos += len(part) + 1
            used += min(len(part), LONG_LINE) + 1
            if len(lines) >= count or used >= max_bytes:
                return lines, start
        if rest and pos + len(rest) >= end:  # the last line, not ended yet
            lines.append(line_bytes(f, pos, end))
            break
    return lines, start


def line_bytes(f: BinaryIO, start: int, stop: int) -> bytes:
    """The bytes of the line in [start, stop), cut to what shows: the first LONG_LINE bytes and,
    when the line goes on with carriage returns (a progress bar redrawn for hours), what its
    last LONG_LINE bytes draw over them."""
    f.seek(start)
    if stop - start <= LONG_LINE:
        return f.read(stop - start)
    head = f.read(LONG_LINE)
    f.seek(max(start + LONG_LINE, stop - LONG_LINE))
    tail = f.read(stop - f.tell())
    cr = tail.find(b"\r")
    if cr < 0:
        return head
    return head + tail[cr:]


__all__ = ["BLOCK", "LONG_LINE", "LineIndex", "line_bytes", "read_lines"]
