"""A task's output, virtually scrolled over the whole log: only visible rows are rendered.

The rows come from a `PaneDoc` (ui/logtext.py), which holds a few of them; a row it does not
hold is drawn as `…` and asked for (`LinesWanted`), and drawn when it arrives. `render_line`
turns rows into Strips through LRU caches of parsed text. Follows the end while the view is
there; scrolling up stops that, `end` starts it again. `w` wraps long lines at the pane width,
the way a terminal would; the view then scrolls a line at a time.
"""

from __future__ import annotations

import re

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

from tuiflow.engine.logsearch import strip_ansi
from tuiflow.ui.logtext import MISSING, PaneDoc, PaneSearch

MARK = "\x00MARK"
NULL = Style()


def parse_line(line: str) -> Text:
    """A rendered line (printable text, tabs and SGR colours) as Rich Text."""
    text = Text.from_ansi(line, no_wrap=True, end="") if "\x1b" in line else Text(line, no_wrap=True, end="")
    if "\t" in text.plain:
        text = text.copy()
        text.expand_tabs(8)
    return text


def _plain(line: str) -> str:
    line = strip_ansi(line) if "\x1b" in line else line
    return line.expandtabs(8) if "\t" in line else line


class LogView(ScrollView, can_focus=True):
    """One pane's output: rows of a PaneDoc, rendered lazily."""

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

    class FollowRequested(Message):
        """The reader asked to follow the end (`end`), as opposed to merely scrolling there."""

        def __init__(self, view: LogView) -> None:
            super().__init__()
            self.view = view

    class LinesWanted(Message):
        """Rows on screen are not loaded: `view.doc.wanted` says which."""

        def __init__(self, view: LogView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, doc: PaneDoc | None = None, placeholder: str = "(no output yet)",
                 *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.doc = doc if doc is not None else PaneDoc()
        self.placeholder = placeholder
        self.search: PaneSearch | None = None
        self._pattern: re.Pattern[str] | None = None
        self._search_gen = 0
        self._text_cache: LRUCache[tuple, Text] = LRUCache(512)
        self._strip_cache: LRUCache[tuple, Strip] = LRUCache(512)
        self._layout: list[tuple[int, int]] = []        # wrap: (row, wrapped part) of each screen line
        self._layout_key: tuple = ()
        self._wanted_posted = False

    # ------------------------------------------------------------------ content
    def reset(self, doc: PaneDoc, placeholder: str | None = None) -> None:
        """Show another document (another task, or the same one read again), following its end."""
        self.doc = doc
        if placeholder is not None:
            self.placeholder = placeholder
        self.search = None
        self._pattern = None
        self._text_cache.clear()
        self._strip_cache.clear()
        self._layout_key = ()
        self.follow = True
        self._update_size()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def changed(self, grown: bool = True) -> None:
        """Rows were added at the end (or the last one changed)."""
        self._update_size()
        if self.follow:
            self._to_end()
        if self.follow or not grown or self._bottom_visible():
            self.refresh()

    def inserted(self, at_row: int, count: int) -> None:
        """`count` rows appeared at `at_row` (an attempt's lines, counted): what the reader looks
        at stays in place."""
        self._text_cache.clear()
        self._strip_cache.clear()
        top = self.scroll_offset.y
        self._update_size()
        if self.follow:
            self._to_end()
        elif count and top >= at_row:
            self.scroll_to(y=top + count, animate=False, immediate=True)
        self.refresh()

    def set_search(self, search: PaneSearch | None) -> None:
        self.search = search
        self._pattern = re.compile(re.escape(search.query), re.IGNORECASE) if search and search.query else None
        self.search_moved()

    def search_moved(self) -> None:
        self._search_gen += 1
        self.refresh()

    def _bottom_visible(self) -> bool:
        return self.scroll_offset.y + self.size.height >= self.doc.rows - 1

    # ---------------------------------------------------------------- geometry
    def _update_size(self) -> None:
        rows = self.doc.rows
        if self.wrap:    # no width of its own: never a horizontal scrollbar, whatever the last width was
            height = self.scrollable_content_region.height or self.size.height or 1
            self.virtual_size = Size(0, self._end_top(height) + height if rows else 1)
        else:
            self.virtual_size = Size(self.doc.max_width + 1, rows or 1)

    def _wrap_width(self) -> int:
        return max(1, self.scrollable_content_region.width or self.size.width or 80)

    def _wrapped_rows(self, text: str | None, width: int) -> int:
        if not text or text.startswith(MARK) or text == MISSING:
            return 1
        return max(1, -(-cell_len(_plain(text)) // width))

    def _end_top(self, height: int) -> int:
        """Wrap mode: the top row that shows the last line's end at the bottom."""
        doc, width = self.doc, self._wrap_width()
        row, used = doc.rows - 1, 0
        while row >= 0:
            used += self._wrapped_rows(doc.text(row), width)
            if used > height:
                return min(doc.rows - 1, row + 1)
            row -= 1
        return 0

    def _wrap_layout(self) -> list[tuple[int, int]]:
        """Wrap mode: (row, part) on each line of the screen, from the top row down; at the end,
        from the last row up, so the screen is full and the first line may show only its end."""
        width, height = self._wrap_width(), self.size.height
        top, rows = self.scroll_offset.y, self.doc.rows
        at_end = top >= self.max_scroll_y
        key = (top, at_end, width, height, rows, self.doc.version,
               len(self.doc.attempts[-1].live.open_text) if self.doc.attempts else 0)
        if key == self._layout_key:
            return self._layout
        layout: list[tuple[int, int]] = []
        if at_end:
            row = rows - 1
            while len(layout) < height and row >= 0:
                parts = self._wrapped_rows(self.doc.text(row), width)
                layout[:0] = [(row, part) for part in range(max(0, parts - (height - len(layout))), parts)]
                row -= 1
        else:
            row = top
            while len(layout) < height and row < rows:
                parts = self._wrapped_rows(self.doc.text(row), width)
                layout.extend((row, part) for part in range(min(parts, height - len(layout))))
                row += 1
        self._layout, self._layout_key = layout, key
        return layout

    # ---------------------------------------------------------------- rendering
    def render_lines(self, crop):  # type: ignore[no-untyped-def]
        # the widget's style is the same for every line of one pass: compute it once
        self._pass_style = self.rich_style
        lines = super().render_lines(crop)
        top, height, rows = self.scroll_offset.y, self.size.height, self.doc.rows
        for row in (top - height, top + 2 * height - 1):   # a screen up and down: read ahead
            if 0 <= row < rows:
                self.doc.text(row)
        if self.doc.wanted and not self._wanted_posted:
            self._wanted_posted = True
            self.post_message(self.LinesWanted(self))
        return lines

    def wanted_taken(self) -> None:
        """The pane has taken `doc.wanted`: a later pass may ask again."""
        self._wanted_posted = False

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width or self.size.width
        style = getattr(self, "_pass_style", None) or self.rich_style
        if not self.doc.rows:
            if y == 0 and self.placeholder:
                return self._styled(Text(self.placeholder), "logview--placeholder", style).crop_extend(0, width, style)
            return Strip.blank(width, style)
        if self.wrap:
            layout = self._wrap_layout()
            if y >= len(layout):
                return Strip.blank(width, style)
            row, part = layout[y]
            wrap = self._wrap_width()
            return self._row_strip(row, style).crop_extend(part * wrap, (part + 1) * wrap, style)
        row = scroll_y + y
        if row >= self.doc.rows:
            return Strip.blank(width, style)
        return self._row_strip(row, style).crop_extend(scroll_x, scroll_x + width, style)

    def _styled(self, text: Text, component: str, style: Style) -> Strip:
        text.stylize_before(self.get_component_rich_style(component))
        text.stylize_before(style)
        return Strip([Segment(t, s or NULL, c) for t, s, c in text.render(self.app.console)], text.cell_len)

    def _row_strip(self, row: int, style: Style) -> Strip:
        doc = self.doc
        line = doc.text(row)
        if line is None or line == MISSING:
            return self._styled(Text("…"), "logview--placeholder", style)
        if line.startswith(MARK):
            return self._styled(Text(line[len(MARK):]), "logview--marker", style)
        found = doc.locate(row)
        assert found is not None
        log, index = found
        final = index - (log.before or 0) != log.after           # the open line still changes
        ident = (log.number, log.before is not None, index)      # a line's number, or from the tail
        current = self._is_current(log.number, index if log.before is not None else None)
        key = (ident, self._search_gen if self._pattern else 0, current, style)
        if final:
            cached = self._strip_cache.get(key)
            if cached is not None:
                return cached
        if self._pattern is None and "\x1b" not in line and "\t" not in line:
            strip = Strip([Segment(line, style)], cell_len(line))  # plain text: no parsing at all
        else:
            text = self._text_cache.get(ident) if final else None
            if text is None:
                text = parse_line(line)
                if final:
                    self._text_cache[ident] = text
            text = text.copy()
            if self._pattern is not None:
                self._highlight(text, current)
            text.stylize_before(style)
            strip = Strip([Segment(t, s or NULL, c) for t, s, c in text.render(self.app.console)], text.cell_len)
        if final:
            self._strip_cache[key] = strip
        return strip

    def _is_current(self, attempt: int, line: int | None) -> bool:
        search = self.search
        return search is not None and line is not None and search.current == (attempt, line)

    def _highlight(self, text: Text, current: bool) -> None:
        assert self._pattern is not None
        match = self.get_component_rich_style("logview--current-match" if current else "logview--match")
        for m in self._pattern.finditer(text.plain):
            text.stylize(match, m.start(), m.end())

    # --------------------------------------------------------------- scrolling
    def visible_rows(self) -> range:
        top = self.scroll_offset.y
        return range(top, top + max(1, self.size.height))

    def scroll_to_row(self, row: int, center: bool = True) -> None:
        height = self.size.height
        y = row - (height // 2 if center else 0)
        self.follow = False
        if self.wrap:
            y = row - (min(height // 2, self._rows_above(row, height // 2)) if center else 0)
        self.scroll_to(y=max(0, y), animate=False, immediate=True)
        self.follow = False   # a line to look at, even at the end: new output does not move it away

    def _rows_above(self, row: int, want: int) -> int:
        """Wrap mode: how many rows above `row` fit in `want` screen lines."""
        width, used, n = self._wrap_width(), 0, 0
        while row - n - 1 >= 0:
            used += self._wrapped_rows(self.doc.text(row - n - 1), width)
            if used > want:
                break
            n += 1
        return n

    # Scrolling keys move from where the view is now, at once: Textual's own scroll from the
    # position as of the last refresh, so keys that come in a burst (over ssh) were lost.
    def action_scroll_up(self) -> None:
        self._scroll_by(-1)

    def action_scroll_down(self) -> None:
        self._scroll_by(1)

    def action_page_up(self) -> None:
        self._scroll_by(-self._page())

    def action_page_down(self) -> None:
        self._scroll_by(self._page())

    def action_scroll_home(self) -> None:
        self.scroll_to(x=0, y=0, animate=False, immediate=True)

    def _page(self) -> int:
        if self.wrap:    # the lines on screen, however many rows each takes
            return max(1, len({row for row, _ in self._wrap_layout()}))
        return max(1, self.scrollable_content_region.height)

    def _scroll_by(self, rows: int) -> None:
        y = max(0, min(self.max_scroll_y, round(self.scroll_y) + rows))
        self.scroll_to(y=y, animate=False, immediate=True)

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
        if self.follow:
            self._update_size()   # the size may have changed since (wrapped lines at a new width)
            if self.scroll_offset.y != self.max_scroll_y:
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
        self._layout_key = ()
        top = self.scroll_offset.y
        self._update_size()
        if self.follow:
            self._to_end()
        else:  # the same line stays at the top: non-wrapped rows are lines too
            self.scroll_to(y=top, animate=False, immediate=True)
        self.refresh()

    def on_resize(self) -> None:
        self._layout_key = ()
        self._update_size()
        if self.follow:
            self._to_end()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip_cache.clear()
        self._text_cache.clear()

    # ----------------------------------------------------------------- queries
    def screen_rows(self) -> list[str]:
        """The rows on screen as plain text, whole lines (tests)."""
        doc = self.doc
        if self.wrap:
            rows = sorted({row for row, _ in self._wrap_layout()})
        else:
            top = self.scroll_offset.y
            rows = list(range(top, min(doc.rows, top + self.size.height)))
        out = []
        for row in rows:
            line = doc.text(row)
            if line is None or line == MISSING:
                out.append("…")
            elif line.startswith(MARK):
                out.append(line[len(MARK):])
            else:
                out.append(parse_line(line).plain)
        return out
