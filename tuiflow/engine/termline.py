"""What a terminal shows of one line of task output.

Task output is written for a terminal: `\\r` takes the cursor back to the start of the line (a
progress bar redraws itself), `\\b` one column back, a tab to the next multiple of 8; escape
sequences set colours (SGR), erase part of the line (EL) or move the cursor along it (CHA, CUF,
CUB), and others set the window title (OSC) or act elsewhere on the screen. A log pane shows
each line as a terminal would have left it: `render_line` returns the visible text with its
colours as SGR sequences and nothing else, so what a task wrote never acts on the real terminal.

Plain lines and lines with only colours are returned as they are (`plain_enough`); only a line
with another control character goes through the cell emulation.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CELLS = 16_384          # columns of one line that are kept; a longer line is cut, with " …"
TAB = 8
MAX_STYLE = 256             # characters of accumulated SGR state kept

# A line needs the emulation when it has a control character other than tab, or an escape
# sequence that is not a complete SGR (colours).
_NEEDS = re.compile("\x1b(?!\\[[0-9;:]*m)|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f\x80-\x9f]")
_TOKEN = re.compile(
    "\x1b\\[([\x30-\x3f]*)[\x20-\x2f]*([\x40-\x7e])"   # CSI: parameters, final byte
    "|\x1b\\][^\x07\x1b]*(?:\x07|\x1b\\\\)"              # OSC, ended by BEL or ST
    "|\x1b[PX^_][^\x1b]*\x1b\\\\"                        # DCS, SOS, PM, APC, ended by ST
    "|\x1b[\x20-\x2f]*[\x30-\x7e]"                       # any other escape sequence
    "|[\x00-\x1f\x7f\x80-\x9f]")                         # one control character (a lone ESC too)
# an escape sequence that the rest of the stream may still complete, at the end of a piece
_UNFINISHED = re.compile("\x1b(?:\\[[\x30-\x3f]*[\x20-\x2f]*|\\][^\x07\x1b]*\x1b?|[PX^_][^\x1b]*\x1b?"
                         "|[\x20-\x2f]*)?\\Z")
_MAX_HELD = 4096
_SGR_PARTIAL = re.compile("\x1b[^m]{0,32}\\Z")


def plain_enough(text: str) -> bool:
    """True when `text` shows as it is: printable characters, tabs and colours only."""
    return _NEEDS.search(text) is None


def cut(text: str, limit: int = MAX_CELLS) -> str:
    """A line that needs no emulation, cut to `limit` characters (never inside a colour)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    if "\x1b" in head[-34:]:
        head = _SGR_PARTIAL.sub("", head)
    return head + " …"


def render_line(raw: str) -> str:
    """The line as a terminal shows it: printable text and SGR colour sequences only."""
    if _NEEDS.search(raw) is None:
        return cut(raw)
    line = LineRenderer()
    line.feed(raw)
    return line.text()


def _width(ch: str) -> int:
    if ch.isascii():
        return 1
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


class LineRenderer:
    """One line as it is being written: fed pieces of text (no newline), renders at any time.

    While the line has no control character it is kept as a string; the first one turns it
    into cells (a character and its colours per column) with a cursor.
    """

    __slots__ = ("_cells", "_col", "_held", "_plain", "_style", "_styles", "cut")

    def __init__(self) -> None:
        self._plain = ""
        self._cells: list[str] | None = None
        self._styles: list[str] = []
        self._col = 0
        self._style = ""
        self._held = ""
        self.cut = False            # something was written past MAX_CELLS

    @property
    def empty(self) -> bool:
        return not self._plain and not self._cells and not self._held

    def feed(self, text: str) -> None:
        if self._cells is None and not self._held and _NEEDS.search(text) is None:
            self._plain += text
            if len(self._plain) > MAX_CELLS + 64:
                self._to_cells()
            return
        if self._cells is None:
            self._to_cells()
        if self._held:
            text = self._held + text
            self._held = ""
        end = _UNFINISHED.search(text, max(0, len(text) - _MAX_HELD))
        if end is not None and end.start() < len(text):
            self._held = text[end.start():]
            text = text[:end.start()]
        pos = 0
        for match in _TOKEN.finditer(text):
            if match.start() > pos:
                self._write(text[pos:match.start()])
            self._control(match)
            pos = match.end()
        if pos < len(text):
            self._write(text[pos:])

    def _to_cells(self) -> None:
        plain, self._plain = self._plain, ""
        self._cells, self._styles, self._col = [], [], 0
        if plain:
            self.feed(plain)

    def _write(self, run: str) -> None:
        cells, styles = self._cells, self._styles
        assert cells is not None
        col = self._col
        if run.isascii():
            end = min(col + len(run), MAX_CELLS)
            if end < col + len(run):
                self.cut = True
            if end > col:
                if col > len(cells):
                    self._pad(col)
                cells[col:end] = run[:end - col]
                styles[col:end] = [self._style] * (end - col)
            self._col = min(col + len(run), MAX_CELLS)
            return
        for ch in run:
            width = _width(ch)
            if width == 0:
                if 0 < col <= len(cells):
                    at = col - 1
                    while at > 0 and cells[at] == "":
                        at -= 1
                    cells[at] += ch
                continue
            if col + width > MAX_CELLS:
                self.cut = True
                break
            self._put(col, ch)
            if width == 2:
                self._put(col + 1, "")
            col += width
        self._col = col

    def _put(self, col: int, ch: str) -> None:
        cells, styles = self._cells, self._styles
        assert cells is not None
        if col > len(cells):
            self._pad(col)
        if col == len(cells):
            cells.append(ch)
            styles.append(self._style)
            return
        if cells[col] == "" and ch != "" and col > 0:   # over the right half of a wide character
            cells[col - 1] = " "
        cells[col] = ch
        styles[col] = self._style

    def _pad(self, col: int) -> None:
        cells, styles = self._cells, self._styles
        assert cells is not None
        missing = col - len(cells)
        cells.extend(" " * missing)
        styles.extend([""] * missing)

    def _control(self, match: re.Match[str]) -> None:
        token = match[0]
        cells = self._cells
        assert cells is not None
        if len(token) == 1:
            if token == "\r":
                self._col = 0
            elif token == "\b":
                self._col = max(0, self._col - 1)
            elif token == "\t":
                self._col = min(MAX_CELLS, (self._col // TAB + 1) * TAB)
            return
        final = match[2]
        if final is None:
            return                       # OSC, strings, other escapes: nothing shows
        params = match[1]
        if final == "m":
            self._sgr(params)
        elif final == "K":
            self._erase(params)
        elif final in "CDG" and params[:1] not in "<=>?":
            try:
                n = int(params.split(";")[0] or "1")
            except ValueError:
                return
            if final == "C":
                self._col = min(MAX_CELLS, self._col + max(1, n))
            elif final == "D":
                self._col = max(0, self._col - max(1, n))
            else:
                self._col = min(MAX_CELLS, max(1, n) - 1)

    def _sgr(self, params: str) -> None:
        if params in ("", "0"):
            self._style = ""
            return
        if params.startswith("0;"):
            self._style = f"\x1b[{params}m"
            return
        style = self._style + f"\x1b[{params}m"
        if len(style) > MAX_STYLE:
            style = style[style.find("\x1b", len(style) - MAX_STYLE):]
        self._style = style

    def _erase(self, params: str) -> None:
        cells, styles, col = self._cells, self._styles, self._col
        assert cells is not None
        if params in ("", "0"):
            del cells[col:], styles[col:]
        elif params == "1":
            stop = min(col + 1, len(cells))
            cells[:stop] = " " * stop
            styles[:stop] = [""] * stop
        elif params == "2":
            cells[:] = " " * len(cells)
            styles[:] = [""] * len(styles)

    def text(self) -> str:
        """What shows so far: characters with their colours (SGR), trailing blanks dropped."""
        if self._cells is None:
            return cut(self._plain)
        cells, styles = self._cells, self._styles
        end = len(cells)
        while end and cells[end - 1] == " " and not styles[end - 1]:
            end -= 1
        out: list[str] = []
        current = ""
        start = 0
        for i in range(end):
            style = styles[i]
            if style != current:
                out.append("".join(cells[start:i]))
                out.append("\x1b[0m" + style if current else style)
                current, start = style, i
        out.append("".join(cells[start:end]))
        if current:
            out.append("\x1b[0m")
        text = "".join(out)
        return text + " …" if self.cut else text


__all__ = ["LineRenderer", "MAX_CELLS", "cut", "plain_enough", "render_line"]
