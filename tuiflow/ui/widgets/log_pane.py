"""A log pane: a title line, the "why is it waiting" line, and the task's LogView.

The main pane shows the selected task; pinned panes keep showing theirs side by side. A pane
is a window over its task's whole logs, wherever the engine is: it reads the tail of the
newest attempt when it opens a task (the engine counts the lines before it meanwhile), takes
live output from the exact byte where that read ended, and asks the engine for any other
lines by number as they scroll into view. `/` searches every line of every attempt shown.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.worker import Worker

from tuiflow.engine.model import TaskState
from tuiflow.engine.runview import TaskView
from tuiflow.ui import status
from tuiflow.ui.logtext import BLOCK, AttemptLog, PaneDoc, PaneSearch
from tuiflow.ui.outputs import Joiner
from tuiflow.ui.protocol import RunLogs
from tuiflow.ui.widgets.log_view import LogView
from tuiflow.ui.widgets.status_bar import TextLine

TAIL_LINES = 1000            # lines read when a pane opens a task (the others come when shown)
TAIL_BYTES = 1 << 20
COUNT_WAIT = 0.5             # seconds one count request waits for the engine's index
STATUS_EVERY = 0.2           # seconds between title updates while a search or count goes on


class PaneTitle(TextLine):
    DEFAULT_CSS = """
    PaneTitle { background: $panel; color: $foreground; }
    PaneTitle > .pane--name { text-style: bold; }
    PaneTitle > .pane--dim { color: $foreground-muted; }
    PaneTitle > .pane--flag { color: $accent; }
    """ + status.state_css("PaneTitle")
    COMPONENT_CLASSES = {"pane--name", "pane--dim", "pane--flag", *status.STATE_CLASSES}


class WhyLine(TextLine):
    DEFAULT_CSS = """
    WhyLine { color: $warning; background: $surface; display: none; }
    WhyLine.-shown { display: block; }
    """


def _marker(attempt: int) -> str:
    return f"── attempt {attempt} ──"


class LogPane(Vertical):
    DEFAULT_CSS = """
    LogPane { width: 1fr; height: 1fr; border-left: vkey $panel; }
    LogPane.-first { border-left: none; }
    LogPane LogView { height: 1fr; }
    """

    class StatusChanged(Message):
        """What the pane's title says changed (a count or a search went on): draw it again."""

        def __init__(self, pane: LogPane) -> None:
            super().__init__()
            self.pane = pane

    def __init__(self, *, pinned: bool = False, max_lines: int = 10_000, id: str | None = None) -> None:
        super().__init__(id=id)
        self.task_name: str | None = None
        self.logs: RunLogs | None = None
        self.joiner = Joiner()            # where the live output continues
        self.loader: Worker[None] | None = None   # reading the task's log, while it does
        self.pinned = pinned
        self.auto = False
        self.max_lines = max_lines
        self.doc = PaneDoc(max_lines)
        self.search: PaneSearch | None = None
        self.counting = ""                # "counting lines 40%" while the engine counts
        self._fetcher: Worker[None] | None = None
        self._status_at = 0.0
        self.title = PaneTitle()
        self.why = WhyLine()
        self.view = LogView(self.doc, placeholder="(select a task)")

    def compose(self) -> ComposeResult:
        yield self.title
        yield self.why
        yield self.view

    def _run(self, work, *args: object, group: str, exclusive: bool = False) -> Worker[None]:  # noqa: ANN001
        """A worker of this pane (ended with it). The coroutine is made when the worker starts,
        so one cancelled before it started (keys in a burst) leaves nothing behind."""
        async def run() -> None:
            await work(*args)
        return self.run_worker(run, group=group, exclusive=exclusive, exit_on_error=False)

    # ------------------------------------------------------------------ what it shows
    def show(self, task: str | None, attempts: list[int], logs: RunLogs | None, placeholder: str) -> None:
        """Show `task`'s logs: its `attempts` (oldest first, the newest goes on live), read
        through `logs`; `placeholder` until there is a line."""
        for group in ("load", "fetch", "prefetch", "search", "reveal"):
            self.workers.cancel_group(self, group)
        self.task_name = task
        self.logs = logs
        self.doc = PaneDoc(self.max_lines)
        self.search = None
        self.counting = ""
        self.joiner = Joiner()
        self.view.reset(self.doc, placeholder)
        if task is None or not attempts or logs is None:
            self.loader = None
            return
        self.joiner.loading = True
        self.loader = self._run(self._load, task, sorted(set(attempts)), logs, group="load")

    def reload(self, attempt: int = 0) -> None:
        """Read the task again (live output was missed: this viewer fell behind); `attempt`:
        one the pane has not shown yet."""
        attempts = [log.number for log in self.doc.attempts] + ([attempt] if attempt else [])
        self.show(self.task_name, attempts, self.logs, self.view.placeholder)

    async def _load(self, task: str, attempts: list[int], logs: RunLogs) -> None:
        doc = self.doc
        for number in attempts[:-1]:
            doc.add_attempt(AttemptLog(number, _marker(number), before=None, start=None))
        last = attempts[-1]
        try:
            text = await logs.tail(task, last, None, TAIL_LINES, TAIL_BYTES)
        except (ConnectionError, OSError) as exc:   # EngineGone is a ConnectionError
            if self.doc is doc:
                self.view.reset(doc, f"(cannot read the log: {exc})")
                self._loaded()
            return
        if self.doc is not doc:
            return
        before = None if text.first_line is None else text.first_line - 1
        log = AttemptLog(last, _marker(last) if len(attempts) > 1 or last > 1 else "", before=before,
                         start=text.offset, end=text.offset)
        doc.add_attempt(log)
        if text.data:
            doc.feed([text.data])
        self.joiner.attempt, self.joiner.end = last, log.end
        self._loaded()
        self.view.changed()
        self.view.follow_end()
        for log in list(doc.attempts):
            if log.before is None and not await self._count(task, log, logs, doc):
                return
        self.counting = ""
        self._status(force=True)
        self._prefetch([0])                # `home` shows line 1 at once

    async def _count(self, task: str, log: AttemptLog, logs: RunLogs, doc: PaneDoc) -> bool:
        """The engine counts the lines before what the pane read; the pane shows them then."""
        while True:
            try:
                count = await logs.count(task, log.number, log.start, COUNT_WAIT)
            except (ConnectionError, OSError):
                return False
            if self.doc is not doc:
                return False
            if count.lines is not None:
                break
            share = count.counted * 100 // max(1, count.offset)
            self.counting = f"counting lines {share}%"
            self._status()
        if log.start is None:        # an earlier attempt: all its lines, as they are now
            log.start = log.end = count.offset
        at = doc.set_before(log, count.lines)
        self.view.inserted(at, count.lines)
        return True

    def _loaded(self) -> None:
        joiner = self.joiner
        joiner.loading = False
        pending, joiner.pending = joiner.pending, []
        for attempt, offset, data in pending:
            if joiner.loading:
                break
            self._join(attempt, offset, data)

    @property
    def loading(self) -> bool:
        return self.loader is not None and not self.loader.is_finished

    # ------------------------------------------------------------------ live output
    def feed(self, attempt: int, offset: int, parts: list[bytes]) -> None:
        """Output of the task as it arrives: `parts` start at byte `offset` of the attempt's log."""
        joiner = self.joiner
        if joiner.loading:
            joiner.pending.append((attempt, offset, b"".join(parts)))
            return
        if attempt == joiner.attempt and offset == joiner.end and self.doc.attempts:  # the usual case
            joiner.end += sum(map(len, parts))
            self._append(parts)
            return
        self._join(attempt, offset, b"".join(parts))

    def _join(self, attempt: int, offset: int, data: bytes) -> None:
        joiner = self.joiner
        new_attempt = attempt != joiner.attempt or not self.doc.attempts
        piece = joiner.take(attempt, offset, data)
        if piece is None:  # bytes were missed (this viewer fell behind): read the log again
            self.reload(attempt)
            return
        if new_attempt:
            marker = _marker(attempt) if self.doc.attempts else ""
            self.doc.add_attempt(AttemptLog(attempt, marker))
            self.view.changed()
        if piece:
            self._append([piece])

    def _append(self, parts: list[bytes]) -> None:
        search = self.search
        if search is not None and search.live:
            search.feed(self.doc.attempts[-1].number, b"".join(parts))
            self._status()
        self.doc.feed(parts)
        self.view.changed()

    # ------------------------------------------------------------------ lines on demand
    @on(LogView.LinesWanted)
    def _lines_wanted(self, event: LogView.LinesWanted) -> None:
        event.stop()
        if self._fetcher is None or self._fetcher.is_finished:
            self._fetcher = self._run(self._fetch, self.doc, group="fetch")

    async def _fetch(self, doc: PaneDoc) -> None:
        """Fetch the blocks of lines the view drew as not loaded, those on screen first."""
        while self.doc is doc:
            wanted, doc.wanted = doc.wanted, set()
            self.view.wanted_taken()
            rows = self.view.visible_rows()
            blocks = [b for b in wanted if self._near(b, rows)]
            if not blocks:
                return
            for attempt, block in sorted(blocks, key=lambda b: abs(self._block_row(b) - rows.start)):
                if not await self._fetch_block(doc, attempt, block):
                    return
                self.view.refresh()

    def _block_row(self, block: tuple[int, int]) -> int:
        log = self.doc.log(block[0])
        return self.doc.first_row(log) + block[1] * BLOCK if log is not None else 0

    def _near(self, block: tuple[int, int], rows: range) -> bool:
        start = self._block_row(block)
        return start < rows.stop + BLOCK and start + BLOCK > rows.start - BLOCK

    async def _fetch_block(self, doc: PaneDoc, attempt: int, block: int) -> bool:
        log = doc.log(attempt)
        span = doc.missing(log, block) if log is not None else None
        if span is None or self.logs is None or self.task_name is None:
            return True
        first, count = span
        lines: list[str] = []
        while len(lines) < count:           # a reply holds at most so many bytes: ask for the rest
            try:
                text = await self.logs.lines(self.task_name, attempt, first + len(lines) + 1, count - len(lines))
            except (ConnectionError, OSError):
                return False
            if self.doc is not doc:
                return False
            got = text.data.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")[:-1]
            if not got:
                break
            lines += got
        doc.store(attempt, block, lines)
        return True

    async def _fetch_rows(self, rows: range) -> None:
        doc = self.doc
        for row in rows:
            found = doc.locate(row)
            if found is not None and found[1] >= 0 and not doc.cache.has(found[0].number, found[1] // BLOCK):
                if not await self._fetch_block(doc, found[0].number, found[1] // BLOCK):
                    return

    def _prefetch(self, rows: list[int]) -> None:
        """Read the screens around `rows` ahead (where `home` or `n` goes next), in the background."""
        height = self.view.size.height or 24
        spans = [range(max(0, row - height), row + height) for row in rows]

        async def fetch() -> None:
            for span in spans:
                await self._fetch_rows(span)
        self._run(fetch, group="prefetch", exclusive=True)

    # ------------------------------------------------------------------ search
    def start_search(self, query: str, at: tuple[int, int] | None = None) -> None:
        """Search every line shown for `query` (empty: no search); `at`: a match to start from."""
        self.workers.cancel_group(self, "search")
        if not query:
            self.search = None
            self.view.set_search(None)
            self._status(force=True)
            return
        search = self.search = PaneSearch(query)
        search.current = at
        self.view.set_search(search)
        self._status(force=True)
        self._run(self._scan, search, group="search")

    async def _scan(self, search: PaneSearch) -> None:
        """The engine scans each log up to where the pane's own lines start; the pane scans what
        arrives from then on. Jumps to the first match from the top of the view on."""
        doc, logs, task = self.doc, self.logs, self.task_name
        if self.loader is not None:
            await self.loader.wait()     # line numbers first
        if self.search is not search or logs is None or task is None or not doc.attempts:
            search.scanning = False
            self._search_done(search)
            return
        ends = []
        for log in doc.attempts:
            if log is doc.attempts[-1]:
                end = log.end - log.live.open_bytes
                search.start_live(log.number, log.complete or 0, log.live.open_raw)
            else:
                end = log.end
            ends.append((log, end))
        search.total = sum(end for _, end in ends)
        start = self._top()
        for log, end in ends:
            offset, line = 0, 1
            while offset < end:
                try:
                    found = await logs.find(task, log.number, search.query, offset, line, end)
                except (ConnectionError, OSError) as exc:
                    self.app.notify(f"cannot search the log: {exc}", severity="error", timeout=5)
                    search.scanning = False
                    self._status(force=True)
                    return
                if self.search is not search:
                    return
                search.add(log.number, [n - 1 for n in found.lines])
                search.done += found.offset - offset
                offset, line = found.offset, found.line
                if search.current is None and start is not None:
                    first = search.step(self._order(), *start, forward=True, inclusive=True)
                    if first is not None and first >= start:
                        self._go(first)
                self._status()
                if search.full:
                    break
        search.scanning = False
        self._search_done(search)

    def _search_done(self, search: PaneSearch) -> None:
        top = self._top()
        if search.current is None and search.count and top is not None:
            self._go(search.step(self._order(), *top, forward=True, inclusive=True))
        if not search.count:
            self.app.notify(f"no match for {search.query!r}", severity="warning", timeout=3)
        self._status(force=True)

    def _order(self) -> list[int]:
        return [log.number for log in self.doc.attempts]

    def _top(self) -> tuple[int, int] | None:
        """(attempt, line) at the top of the view (the first attempt's start before any line)."""
        for row in self.view.visible_rows():
            found = self.doc.locate(row)
            if found is None:
                break
            log, index = found
            if index >= 0 and log.before is not None:
                return log.number, index
        return (self.doc.attempts[0].number, 0) if self.doc.attempts else None

    def next_match(self, forward: bool = True) -> bool:
        """n / N: the next (previous) match from the current one, or from the top of the view."""
        search = self.search
        if search is None:
            return False
        if search.current is None and search.scanning:   # typed right after enter: once it is found
            search.steps += 1 if forward else -1
            return True
        start = search.current or self._top()
        if start is None:
            return False
        found = search.step(self._order(), *start, forward=forward, inclusive=search.current is None)
        if found is None:
            return False
        self._go(found)
        return True

    def _go(self, match: tuple[int, int] | None) -> None:
        search = self.search
        if match is None or search is None:
            return
        while search.steps:    # n / N typed before the first match was known
            forward = search.steps > 0
            search.steps -= 1 if forward else -1
            match = search.step(self._order(), *match, forward=forward) or match
        search.current = match
        row = self.doc.row_of(*match)
        if row is not None:
            self.view.scroll_to_row(row)
        self.view.search_moved()
        self._status(force=True)
        order = self._order()
        ahead = [search.step(order, *match, forward=True), search.step(order, *match, forward=False)]
        self._prefetch([r for r in (self.doc.row_of(*m) for m in ahead if m and m != match) if r is not None])

    @property
    def can_step(self) -> bool:
        """n / N apply: there are matches, or may be (the search goes on)."""
        return self.search is not None and (self.search.count > 0 or self.search.scanning)

    def search_status(self) -> str:
        """`/query: 3/120`, with `· searching 40%` while the engine goes through the logs."""
        search = self.search
        if search is None:
            return ""
        count, more = search.count, "+" if search.full else ""
        if search.current is not None and count:
            found = f"{search.ordinal()}/{count}{more}"
        elif count:
            found = f"{count}{more} matches"
        else:
            found = "" if search.scanning else "no match"
        if search.scanning:
            found += (" · " if found else "") + f"searching {search.done * 100 // max(1, search.total)}%"
        return f"/{search.query}: {found}"

    # ------------------------------------------------------------------ jumping to a line
    def reveal(self, attempt: int, line: int, query: str = "") -> Worker[None]:
        """Show 1-based `line` of an attempt's log (a hit of the search across logs), with
        `query` searched from there."""
        return self._run(self._reveal, attempt, line - 1, query, group="reveal", exclusive=True)

    async def _reveal(self, attempt: int, line: int, query: str) -> None:
        doc = self.doc
        if self.loader is not None:
            await self.loader.wait()
        if self.doc is not doc:
            return
        row = doc.row_of(attempt, line)
        if row is None:
            return
        height = self.view.size.height or 24
        await self._fetch_rows(range(max(0, row - height), row + height))
        if self.doc is not doc:
            return
        self.view.scroll_to_row(row)
        if query:
            self.start_search(query, at=(attempt, line))
        self.view.focus()

    # ------------------------------------------------------------------ the title
    def _status(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._status_at >= STATUS_EVERY:
            self._status_at = now
            self.post_message(self.StatusChanged(self))

    def show_title(self, view: TaskView | None, now: float) -> None:
        """`● name · [flags] · attempt · state`: flags first, a narrow pane cuts the details."""
        t = self.title
        dim = t.style_of("pane--dim")
        text = Text(" ", no_wrap=True, end="", overflow="ellipsis")
        if view is None:
            text.append(self.task_name or "no task selected", dim)
        else:
            text.append(status.SYMBOLS[view.state] + " ", t.style_of(status.component_class(view.state)))
            text.append(view.name, t.style_of("pane--name"))
        flags = []
        if self.pinned:
            flags.append("pinned")
        if self.auto:
            flags.append("auto")
        if self.search is not None:    # before the others: a narrow pane keeps it
            flags.append(self.search_status())
        if not self.view.follow and self.doc.rows:
            flags.append("scrolled · end follows")
        if self.view.wrap:
            flags.append("wrap")
        if self.counting:
            flags.append(self.counting)
        if flags:
            text.append(" · " + " · ".join(flags), t.style_of("pane--flag"))
        if view is not None:
            parts = [f"attempt {view.attempt}"] if view.attempt > 0 and (view.attempts or view.started) else []
            word = view.state.value.replace("_", " ")
            duration = view.duration(now)
            if view.state is TaskState.RUNNING and duration is not None:
                parts.append(f"running {status.format_clock(duration)}")
            elif view.state.failed and view.reason:
                parts.append(view.reason)
            elif duration is not None:
                parts.append(f"{word} in {status.format_duration(duration)}")
            else:
                parts.append(word)
            if view.state is TaskState.RUNNING and view.pid:
                parts.append(f"pid {view.pid}")
            if view.worker:
                parts.append(f"on {view.worker}")
            text.append(" · " + " · ".join(parts), dim)
        t.show(text)

    def show_why(self, why: str | None) -> None:
        self.why.set_class(bool(why), "-shown")
        self.why.show(Text(f" → {why}" if why else "", no_wrap=True, end=""))
