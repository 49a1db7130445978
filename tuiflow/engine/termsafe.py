"""What may reach a terminal: text from a pipeline file or a run folder, and task output.

A terminal obeys the control characters it receives: an OSC sequence sets its title or the
clipboard, a query makes it type a reply into the shell's input, cursor movement rewrites what
was shown. So messages escape every control character (`escape_controls`), and task output
shown on a terminal keeps only its colours (`keep_colours`: SGR sequences, tabs, line ends);
log files and piped output keep the bytes as they were.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\e"}


def _written_out(match: re.Match[str]) -> str:
    return _NAMED.get(match[0]) or f"\\x{ord(match[0]):02x}"


def escape_controls(text: str, keep_newlines: bool = False) -> str:
    """`text` with every control character but tab written out (`\\e]0;x\\x07`): one safe line,
    or safe lines with `keep_newlines`."""
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    if not pattern.search(text):
        return text
    return pattern.sub(_written_out, text)


def print_message(text: str, file: TextIO | None = None) -> None:
    """A message for people, on stderr unless told, with its control characters escaped."""
    print(escape_controls(text), file=sys.stderr if file is None else file)


# An escape sequence, whole (CSI, OSC or a string command up to its terminator, or ESC and one
# final byte), or a lone ESC; C0 controls but tab, LF, CR; DEL; C1 controls written as UTF-8.
_SEQUENCE = re.compile(
    rb"\x1b(?:\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"
    rb"|\][^\x07\x1b]*(?:\x07|\x1b\\)"
    rb"|[PX^_][^\x1b]*\x1b\\"
    rb"|[\x20-\x2f]*[\x30-\x7e])?"
    rb"|[\x00-\x08\x0b-\x0c\x0e-\x1a\x1c-\x1f\x7f]|\xc2[\x80-\x9f]")
_SGR = re.compile(rb"\x1b\[[0-9;:]*m")
_UNSAFE = re.compile(rb"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")


def _keep_sgr(match: re.Match[bytes]) -> bytes:
    seq = match[0]
    return seq if seq[1:2] == b"[" and seq[-1:] == b"m" and _SGR.fullmatch(seq) else b""


def keep_colours(data: bytes) -> bytes:
    """Task output for a terminal: colours (SGR) kept; every other escape sequence (titles,
    queries, cursor movement, screen clearing) and control character but tab, LF and CR dropped.

    One piece of a stream at a time, a sequence cut at its end loses its ESC (so the rest of it
    prints as text and never acts): `ColourFilter` holds such a piece back instead.
    """
    if not _UNSAFE.search(data):
        return data
    return _SEQUENCE.sub(_keep_sgr, data)


# An escape sequence that the next piece of the stream may complete, at the end of this one
# (an OSC or string command may end in the first byte of its two-byte terminator).
_UNFINISHED = re.compile(rb"(?:\x1b(?:\[[\x30-\x3f]*[\x20-\x2f]*|\][^\x07\x1b]*\x1b?|[PX^_][^\x1b]*\x1b?"
                         rb"|[\x20-\x2f]*)|\xc2)\Z")
MAX_HELD = 4096   # an unfinished sequence longer than this is not held: it loses its ESC


class ColourFilter:
    """`keep_colours` over a stream that arrives in pieces: a sequence split between two pieces
    is held back (at most MAX_HELD bytes) and judged whole."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        if self._held:
            data = self._held + data
            self._held = b""
        start = max(0, len(data) - MAX_HELD)
        if data.find(b"\x1b", start) >= 0 or data.endswith(b"\xc2"):
            unfinished = _UNFINISHED.search(data, start)
            if unfinished is not None:
                self._held = data[unfinished.start():]
                data = data[:unfinished.start()]
        return keep_colours(data)


__all__ = ["ColourFilter", "escape_controls", "keep_colours", "print_message"]
