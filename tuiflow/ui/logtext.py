"""Task output as lines: decoding, `\\r` overwrite, a bounded window, and reading log files.

Pure and widget-free so it is tested without a terminal. A `LogDocument` holds at most
`max_lines` complete lines plus the line still being written; a `\\r` inside a line replaces
what came before it, so a progress bar stays one updating line.
"""

from __future__ import annotations

import codecs
from collections import deque
from dataclasses import dataclass

MAX_LINE_CHARS = 16_384


class LineAssembler:
    """Cuts decoded text into complete lines, applying carriage returns to the open line."""

    def __init__(self) -> None:
        self.open = ""
        self._cr = False        # a \r was seen: the next text replaces the open line
        self._cut = False       # the open line hit MAX_LINE_CHARS

    def feed(self, text: str, keep: int | None = None) -> tuple[list[str], int]:
        """Complete lines in `text`: (the last `keep` of them, how many were dropped before those).

        Plain output (no carriage return) is split in C, never line by line in Python: a task
        printing millions of lines costs a few `str.split` calls per flush.
        """
        if "\r\n" in text:
            text = text.replace("\r\n", "\n")
        if "\r" in text or self._cr or self._cut:
            done = self._feed_slow(text)
            dropped = max(0, len(done) - keep) if keep is not None else 0
            return (done[dropped:] if dropped else done), dropped
        newlines = text.count("\n")
        if newlines == 0:
            self.open += text
            self._cap_open()
            return [], 0
        dropped = 0
        if keep is not None and newlines > keep + 1:
            parts = text.rsplit("\n", keep + 1)[1:]   # keep complete lines + the open one
            dropped = newlines - keep
        else:
            parts = text.split("\n")
            parts[0] = self.open + parts[0]
        self.open = parts.pop()
        self._cap_open()
        if parts and max(map(len, parts)) > MAX_LINE_CHARS:
            parts = [p if len(p) <= MAX_LINE_CHARS else p[:MAX_LINE_CHARS] + " …" for p in parts]
        return parts, dropped

    def _cap_open(self) -> None:
        if len(self.open) > MAX_LINE_CHARS:
            self.open, self._cut = self.open[:MAX_LINE_CHARS], True

    def _feed_slow(self, text: str) -> list[str]:
        pieces = text.split("\n")
        done: list[str] = []
        for piece in pieces[:-1]:
            self._extend(piece)
            done.append(self.open + (" …" if self._cut else ""))
            self.open, self._cr, self._cut = "", False, False
        self._extend(pieces[-1])
        return done

    def _extend(self, piece: str) -> None:
        if not piece:
            return
        segments = piece.split("\r")
        for i, seg in enumerate(segments):
            if i:
                self._cr = True
            if not seg:
                continue
            if self._cr:
                self.open, self._cr, self._cut = seg, False, False
            elif not self._cut:
                self.open += seg
            if len(self.open) > MAX_LINE_CHARS:
                self.open, self._cut = self.open[:MAX_LINE_CHARS], True

    @property
    def open_line(self) -> str:
        return self.open + (" …" if self._cut else "")

    @property
    def simple(self) -> bool:
        """No carriage return or cut pending: the next text may be split without looking at it."""
        return not (self._cr or self._cut)


@dataclass(slots=True)
class AttemptMark:
    """Where an attempt's output starts in a document, to map `task:line` hits to rows."""

    attempt: int
    index: int              # absolute document index of the attempt's first loaded line
    file_offset: int        # byte offset in the attempt's log file where that line starts
    first_line: int | None  # 1-based line number of it in the file, when known


class LogDocument:
    """A bounded window of lines; indexes are absolute (they keep growing as lines drop off)."""

    def __init__(self, max_lines: int = 10_000) -> None:
        self.max_lines = max_lines
        self.lines: deque[str] = deque(maxlen=max_lines)
        self.base = 0                     # absolute index of lines[0]
        self.marks: list[AttemptMark] = []
        self._asm = LineAssembler()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.version = 0                  # bumps on every change (render caches key on it)
        self.max_width = 0                # longest line seen, in characters (horizontal extent)
        self.fed = 0                      # offset in the current attempt's log of the next byte

    # ----------------------------------------------------------------- input
    def feed(self, data: bytes) -> int:
        """Append raw output; returns how many complete lines were added."""
        if not data:
            return 0
        return self.feed_parts([data])

    def feed_parts(self, parts: list[bytes]) -> int:
        """Append output given as consecutive chunks, decoding only what the window keeps.

        A flood of plain lines (no carriage return) is cut in bytes first: what comes before the
        last `max_lines` lines is neither decoded, split nor even counted. The window then gets
        a new mark with the byte offset where it starts, and its line number is worked out from
        the log file only if someone asks (a search hit to jump to).
        """
        total = sum(map(len, parts))
        keep: list[bytes] = []
        newlines = 0
        for part in reversed(parts):
            keep.append(part)
            newlines += part.count(b"\n")
            if newlines > self.max_lines + 1:
                break
        skipped = len(parts) - len(keep)
        tail = b"".join(reversed(keep))
        if newlines > self.max_lines + 1 and b"\r" not in tail and self._asm.simple:
            cut = tail.rsplit(b"\n", self.max_lines + 1)
            tail = b"\n".join(cut[1:])
            self._asm.open = ""
            self._decoder.reset()      # a partial character there belonged to a dropped line
            self.base += len(self.lines) + self.max_lines   # any jump will do: indexes only grow
            self.lines.clear()
            attempt = self.marks[-1].attempt if self.marks else 0
            self.marks.append(AttemptMark(attempt, self.base, self.fed + total - len(tail), None))
        elif skipped:  # carriage returns: the slow path must see every line
            tail = b"".join(parts)
        self.fed += total
        return self.feed_text(self._decoder.decode(tail))

    def feed_text(self, text: str) -> int:
        done, dropped = self._asm.feed(text, self.max_lines)
        if dropped:
            self.base += len(self.lines) + dropped
            self.lines.clear()
        self._append(done)
        self.version += 1
        return len(done) + dropped

    def add_line(self, line: str) -> None:
        """A line of our own (attempt separators, markers); ends any open line first."""
        self.end_line()
        self._append([line])
        self.version += 1

    def end_line(self) -> None:
        if self._asm.open:
            self._append([self._asm.open_line])
            self._asm = LineAssembler()
        self._decoder.reset()

    def start_attempt(self, attempt: int, file_offset: int = 0, first_line: int | None = 1) -> None:
        self.end_line()
        self.fed = file_offset
        self.marks.append(AttemptMark(attempt, self.end, file_offset, first_line))

    def _append(self, done: list[str]) -> None:
        if done:
            widest = max(map(len, done))
            if widest > self.max_width:
                self.max_width = widest
        if len(done) >= self.max_lines:
            self.base += len(self.lines) + len(done) - self.max_lines
            self.lines.clear()
            self.lines.extend(done[-self.max_lines:])
            return
        overflow = len(self.lines) + len(done) - self.max_lines
        if overflow > 0:
            self.base += overflow
        self.lines.extend(done)

    # --------------------------------------------------------------- queries
    @property
    def end(self) -> int:
        """Absolute index one past the last complete line."""
        return self.base + len(self.lines)

    @property
    def open_line(self) -> str:
        return self._asm.open_line

    def __len__(self) -> int:
        """Lines to show: the complete ones, plus the open one when it has text."""
        return len(self.lines) + (1 if self._asm.open else 0)

    def line(self, i: int) -> str:
        """The i-th shown line (0-based, relative to the window)."""
        if i < len(self.lines):
            return self.lines[i]
        return self.open_line

    def attempt_row(self, attempt: int, line_number: int) -> int | None:
        """Window row of `line_number` (1-based) of `attempt`'s log, when it is in the window.

        Counted from the attempt's latest mark; None when that mark's line number is not known
        yet (see `count_lines_before`) or the line is outside the window.
        """
        for mark in reversed(self.marks):
            if mark.attempt == attempt:
                if mark.first_line is None:
                    return None
                row = mark.index + (line_number - mark.first_line) - self.base
                return row if 0 <= row < len(self) else None
        return None
