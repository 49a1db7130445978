"""Finding text in logs as they show: case-insensitive, colours and escape sequences ignored.

`Matcher.scan` finds the lines of a piece of a log that show the query. It works on the bytes
of many lines at once (lowercase, find, count newlines: all in C), so a gigabyte is searched in
about a second; a line whose carriage returns or backspaces redraw it is checked as it shows
(engine/termline.py). The log pane's search (over a whole log, in pieces) and the search
across every task's log both use it, and so does the pane for output that arrives meanwhile.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from .termline import render_line

MAX_HITS = 2000
ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def strip_ansi(line: str) -> str:
    return ANSI_RE.sub("", line)


class Hit(NamedTuple):
    task: str
    attempt: int
    line: int
    text: str


class Matcher:
    """One query, matched the way the log pane shows lines."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.folded = query.lower()
        self._ascii = query.isascii()
        self._needle: bytes | str = self.folded.encode() if self._ascii else self.folded

    def shows(self, line: str) -> bool:
        """Whether a line (text as written, escapes and all) shows the query."""
        return self.folded in strip_ansi(render_line(line)).lower()

    def scan(self, data: bytes | bytearray, first: int, max_hits: int,
             end: int | None = None) -> tuple[list[int], int | None]:
        """Numbers of the lines of `data[:end]` that show the query, `data` starting with line `first`.

        Returns (hits, None), or (hits, last line looked at) when `max_hits` stopped it early.
        The text between escape sequences is matched (a colour change inside a match hides it);
        a line that carriage returns or backspaces redraw is checked as it shows.
        """
        if not self.folded:
            return [], None
        if end is None:
            end = len(data)
        hay: bytes | str
        if self._ascii:
            hay, newline, cr, bs = data.lower(), b"\n", b"\r", b"\x08"
        else:
            hay = bytes(data[:end]).decode("utf-8", "replace").lower()
            end, newline, cr, bs = len(hay), "\n", "\r", "\x08"
        esc = "\x1b" if isinstance(hay, str) else b"\x1b"
        needle = self._needle
        hits: list[int] = []
        line, counted, pos = first, 0, 0
        while True:
            at = hay.find(needle, pos, end)            # type: ignore[arg-type]
            if at < 0:
                return hits, None
            line += hay.count(newline, counted, at)     # type: ignore[arg-type]
            counted = at
            start = hay.rfind(newline, 0, at) + 1       # type: ignore[arg-type]
            stop = hay.find(newline, at, end)           # type: ignore[arg-type]
            if stop < 0:
                stop = end
            text = hay[start:stop]
            if esc in text or cr in text or bs in text:  # type: ignore[operator]
                raw = text if isinstance(text, str) else text.decode("utf-8", "replace")
                shown = self.shows(raw)
            else:
                shown = True
            if shown:
                hits.append(line)
                if len(hits) >= max_hits:
                    return hits, line
            pos = stop + 1


def search_logs(query: str, tasks: list[tuple[str, list[int]]], log_path: Callable[[str, int], str | None],
                limit: int = MAX_HITS) -> list[Hit]:
    """Every task's log: hits in task order, line numbers 1-based per attempt log."""
    matcher = Matcher(query)
    hits: list[Hit] = []
    if not matcher.folded:
        return hits
    for task, attempts in tasks:
        for attempt in attempts:
            path = log_path(task, attempt)
            if not path:
                continue
            try:
                with open(path, "rb") as f:
                    for number, text in _scan_file(f, matcher, limit - len(hits)):
                        hits.append(Hit(task, attempt, number + 1, text))
            except OSError:
                continue
            if len(hits) >= limit:
                return hits
    return hits


CHUNK = 8 << 20


def _scan_file(f, matcher: Matcher, limit: int) -> list[tuple[int, str]]:  # f: a binary file
    """(0-based line, its text) of the first `limit` lines of a file that show the query."""
    found: list[tuple[int, str]] = []
    line, carry = 0, b""
    while len(found) < limit:
        block = f.read(CHUNK)
        data = carry + block
        if not data:
            break
        cut = data.rfind(b"\n") + 1 if block else len(data)
        if cut == 0 and len(data) < 4 * CHUNK:   # no whole line yet: read on
            carry = data
            continue
        cut = cut or len(data)
        hits, _ = matcher.scan(data, line, limit - len(found), cut)
        if hits:
            lines = data[:cut].split(b"\n")
            found += [(n, _clean(lines[n - line])) for n in hits]
        line += data.count(b"\n", 0, cut)
        carry = data[cut:]
        if not block:
            break
    return found


def _clean(raw: bytes) -> str:
    return strip_ansi(render_line(raw.decode("utf-8", "replace")))[:300]


__all__ = ["ANSI_RE", "Hit", "MAX_HITS", "Matcher", "search_logs", "strip_ansi"]
