"""A task's output, virtually scrolled: only visible lines are parsed and rendered.

toolong-style: the lines live in a bounded `LogDocument`; `render_line` turns the visible ones
into Strips through an LRU cache of parsed ANSI text. Follows the tail while the view is at
the end; scrolling up stops that, `end` starts it again. `w` wraps long lines (hard wrap at
the pane width, the way a terminal would).
"""

from __future__ import annotations

import re
from bisect import bisect_right

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tuiflow.engine.logaccess import strip_ansi
from tuiflow.ui.logtext import LogDocument

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")


def parse_line(line: str) -> Text:
    """ANSI SGR colours to a Rich Text; other control characters are made visible-safe."""
    if "\x1b" in line:
        text = Text.from_ansi(line, no_wrap=True, end="")
    else:
        text = Text(line, no_wrap=True, end="")
    if "\t" in text.plain:
        text = text.copy()
        text.expand_tabs(8)
    if _CONTROL.search(text.plain):
        text = Text(_CONTROL.sub("\ufffd", text.plain), spans=text.spans, no_wrap=True, end="")
    return text


class LogView(ScrollView, can_focus=True):
    """One pane's output: a bounded window, rendered lazily."""

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        color: $foreground;
        overflow: auto auto;
        scrollbar-size: 1 1;
        &:focus { background-tint: $foreground 4%; }
    }
    LogView > .logview--match { background: $warning 40%; }
    LogView > .logview--current-match { background: $warning; color: $background; }
    LogView > .logview--placeholder { color: $foreground-muted; text-style: italic; }
    LogView > .logview--marker { color: $foreground-muted; text-style: bold; }
    """

    COMPONENT_CLASSES = {"logview--match", "logview--current-match", "logview--placeholder",
                         "logview--marker"}

    BINDINGS = [
        Binding("end", "follow", "Follow", show=False),
        Binding("home", "scroll_home", "Top", show=False),
    ]

    wrap: reactive[bool] = reactive(False)
    follow: reactive[bool] = reactive(True)

    class FollowChanged(Message):
        def __init__(self, view: LogView, follow: bool) -> None:
            super().__init__()
            self.view = view
            self.follow = follow

    def __init__(self, max_lines: int = 10_000, placeholder: str = "(no output yet)",
                 *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.doc = LogDocument(max_lines)
        self.placeholder = placeholder
        self._text_cache: LRUCache[tuple[int, str], Text] = LRUCache(2048)
        self._strip_cache: LRUCache[tuple, Strip] = LRUCache(1024)
        self._width = 0                  # widest line seen (cells), for horizontal scrolling
        self._rows: list[int] = []       # wrap mode: first row of each window line
        self._rows_for: tuple[int, int, int] = (-1, -1, -1)   # (width, base, version) of _rows
        self.query = ""
        self.matches: list[tuple[int, int, int]] = []        # (absolute line, start, end)
        self.match_index = -1
        self._search_gen = 0

    # ------------------------------------------------------------------ content
    def clear(self, placeholder: str | None = None) -> None:
        self.doc = LogDocument(self.doc.max_lines)
        if placeholder is not None:
            self.placeholder = placeholder
        self._text_cache.clear()
        self._strip_cache.clear()
        self._width = 0
        self._rows_for = (-1, -1, -1)
        self.matches, self.match_index = [], -1
        self.follow = True
        self._update_size()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def feed(self, data: bytes) -> None:
        self._after_change(self.doc.base, lambda: self.doc.feed(data))

    def feed_parts(self, parts: list[bytes]) -> None:
        self._after_change(self.doc.base, lambda: self.doc.feed_parts(parts))

    def feed_text(self, text: str) -> None:
        self._after_change(self.doc.base, lambda: self.doc.feed_text(text))

    def add_marker(self, text: str) -> None:
        self._after_change(self.doc.base, lambda: self.doc.add_line("\x00MARK" + text))

    def _after_change(self, old_base: int, change) -> None:
        old_rows = self._row_of_window(0) if self.wrap else 0
        old_end = self.doc.end
        change()
        doc = self.doc
        self._width = max(self._width, doc.max_width)
        if self.query and doc.end > old_end:
            self._search_range(max(old_end, doc.base), doc.end)
        dropped = doc.base - old_base
        self._update_size()
        if self.follow:
            self._to_end()
            self.refresh()
        elif dropped > 0:
            # lines left the window at the top: keep what the reader looks at in place
            shift = old_rows - self._row_of_window(0) if self.wrap else dropped
            self.scroll_to(y=max(0, self.scroll_y - shift), animate=False, immediate=True)
            self.refresh()
        elif old_end == doc.end or self._visible(doc.end - doc.base):
            self.refresh()

    def _visible(self, window_line: int) -> bool:
        top = self.scroll_offset.y
        row = self._row_of_window(window_line)
        return top <= row < top + self.size.height

    # ---------------------------------------------------------------- geometry
    def _update_size(self) -> None:
        width = self.scrollable_content_region.width or self.size.width
        if self.wrap:
            self.virtual_size = Size(width, self._total_rows())
        else:
            self.virtual_size = Size(self._width + 1, len(self.doc) or 1)

    def _wrap_width(self) -> int:
        return max(1, self.scrollable_content_region.width or self.size.width or 80)

    def _line_rows(self, line: str, width: int) -> int:
        cells = len(line) if "\x1b" not in line else cell_len(strip_ansi(line))
        return max(1, -(-cells // width))

    def _ensure_rows(self) -> list[int]:
        width = self._wrap_width()
        doc = self.doc
        key = (width, doc.base, doc.version)
        if self._rows_for == key:
            return self._rows
        rows: list[int] = []
        total = 0
        for line in doc.lines:
            rows.append(total)
            total += self._line_rows(line, width)
        rows.append(total)  # start row of the open line (or the end)
        self._rows, self._rows_for = rows, key
        return rows

    def _total_rows(self) -> int:
        rows = self._ensure_rows()
        open_line = self.doc.open_line
        return rows[-1] + (self._line_rows(open_line, self._wrap_width()) if open_line else 0)

    def _row_of_window(self, window_line: int) -> int:
        if not self.wrap:
            return window_line
        rows = self._ensure_rows()
        return rows[min(window_line, len(rows) - 1)]

    def _locate(self, row: int) -> tuple[int, int]:
        """(window line, row within it) of a virtual row."""
        if not self.wrap:
            return row, 0
        rows = self._ensure_rows()
        i = bisect_right(rows, row) - 1
        i = max(0, min(i, len(rows) - 1))
        return i, row - rows[i]

    # ---------------------------------------------------------------- rendering
    def _text(self, window_line: int) -> Text:
        doc = self.doc
        line = doc.line(window_line)
        absolute = doc.base + window_line
        key = (absolute, line) if window_line >= len(doc.lines) else (absolute, "")
        text = self._text_cache.get(key)
        if text is None:
            if line.startswith("\x00MARK"):
                text = Text(line[5:], style=self.get_component_rich_style("logview--marker"), end="")
            else:
                text = parse_line(line)
            self._text_cache[key] = text
        return text

    def render_lines(self, crop):  # type: ignore[no-untyped-def]
        # the widget's style is the same for every line of one pass: compute it once
        self._pass_style = self.rich_style
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width or self.size.width
        style = getattr(self, "_pass_style", None) or self.rich_style
        if not len(self.doc):
            if y == 0 and self.placeholder:
                ph = Text(self.placeholder, style=self.get_component_rich_style("logview--placeholder"))
                return Strip(ph.render(self.app.console)).crop_extend(0, width, style)
            return Strip.blank(width, style)
        window_line, sub = self._locate(scroll_y + y)
        if window_line >= len(self.doc):
            return Strip.blank(width, style)
        strip = self._line_strip(window_line, style)
        if self.wrap:
            wrap = self._wrap_width()
            return strip.crop_extend(sub * wrap, (sub + 1) * wrap, style)
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def _line_strip(self, window_line: int, style: Style) -> Strip:
        doc = self.doc
        absolute = doc.base + window_line
        is_open = window_line >= len(doc.lines)
        key = (absolute, self._search_gen, self.match_index, style)
        if not is_open:
            cached = self._strip_cache.get(key)
            if cached is not None:
                return cached
        line = doc.line(window_line)
        if not self.query and "\x1b" not in line and line.isprintable() and not line.startswith("\x00"):
            strip = Strip([Segment(line, style)], cell_len(line))  # plain text: no parsing at all
        else:
            text = self._text(window_line)
            if self.query:
                text = self._highlight(text, absolute)
            text = text.copy()
            text.stylize_before(style)
            strip = Strip(list(text.render(self.app.console)), text.cell_len)
        if not is_open:
            self._strip_cache[key] = strip
        return strip

    def _highlight(self, text: Text, absolute: int) -> Text:
        spans = [(s, e, n) for n, (line, s, e) in enumerate(self.matches) if line == absolute]
        if not spans:
            return text
        text = text.copy()
        match = self.get_component_rich_style("logview--match")
        current = self.get_component_rich_style("logview--current-match")
        for s, e, n in spans:
            text.stylize(current if n == self.match_index else match, s, e)
        return text

    # ------------------------------------------------------------------- search
    def search(self, query: str) -> int:
        """Highlight every match; returns how many there are in the window."""
        self.query = query
        self.matches = []
        self.match_index = -1
        self._search_gen += 1
        if query:
            self._search_range(self.doc.base, self.doc.end + (1 if self.doc.open_line else 0))
        self.refresh()
        return len(self.matches)

    def _search_range(self, start: int, end: int) -> None:
        pattern = re.compile(re.escape(self.query), re.IGNORECASE)
        doc = self.doc
        self.matches = [m for m in self.matches if m[0] >= doc.base]
        for absolute in range(max(start, doc.base), end):
            line = doc.line(absolute - doc.base)
            plain = parse_line(line).plain if "\x1b" in line or "\t" in line else line
            for m in pattern.finditer(plain):
                self.matches.append((absolute, m.start(), m.end()))
        self._search_gen += 1

    def next_match(self, step: int = 1) -> bool:
        if not self.matches:
            return False
        if self.match_index < 0:
            top = self.doc.base + self._locate(self.scroll_offset.y)[0]
            after = [n for n, m in enumerate(self.matches) if m[0] >= top]
            self.match_index = (after[0] if after else 0) if step > 0 else (
                (after[0] - 1) % len(self.matches) if after else len(self.matches) - 1)
        else:
            self.match_index = (self.match_index + step) % len(self.matches)
        self.scroll_to_line(self.matches[self.match_index][0] - self.doc.base)
        self.refresh()
        return True

    # --------------------------------------------------------------- scrolling
    def scroll_to_line(self, window_line: int, center: bool = True) -> None:
        row = self._row_of_window(window_line)
        y = row - (self.size.height // 2 if center else 0)
        self.follow = False
        self.scroll_to(y=max(0, y), animate=False, immediate=True)
        self.follow = self.scroll_offset.y >= self.max_scroll_y and not center

    class FollowRequested(Message):
        """The reader asked to follow the end (`end`), as opposed to merely scrolling there."""

        def __init__(self, view: LogView) -> None:
            super().__init__()
            self.view = view

    def action_follow(self) -> None:
        self.post_message(self.FollowRequested(self))
        self.follow_end()

    def follow_end(self) -> None:
        self.follow = True
        self._to_end()

    def _to_end(self) -> None:
        """Scroll to the last line, and again once laid out: a horizontal scrollbar that appears
        with a long line takes a row, and the last line must not end up under it."""
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)
        self.call_after_refresh(self._still_at_end)

    def watch_show_horizontal_scrollbar(self, shown: bool) -> None:
        if self.follow:
            self.call_after_refresh(self._still_at_end)

    def _still_at_end(self) -> None:
        if self.follow and self.scroll_offset.y < self.max_scroll_y:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        at_end = round(new) >= self.max_scroll_y
        if at_end != self.follow and (new < old or at_end):
            self.follow = at_end

    def watch_follow(self, follow: bool) -> None:
        self.post_message(self.FollowChanged(self, follow))

    def watch_wrap(self, wrap: bool) -> None:
        self._strip_cache.clear()
        self._update_size()
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)
        self.refresh()

    def on_resize(self) -> None:
        self._update_size()
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip_cache.clear()
        self._text_cache.clear()

    # ----------------------------------------------------------------- queries
    @property
    def lines_plain(self) -> list[str]:
        """Visible window as plain text (tests and search)."""
        lines = (self.doc.line(i) for i in range(len(self.doc)))
        return [line[5:] if line.startswith("\x00MARK") else parse_line(line).plain for line in lines]
