"""Search every task's log (`ctrl+f`): all attempts on disk plus what is only in memory yet.

The scan runs in a thread worker, so a run with gigabytes of logs never freezes the screen;
choosing a hit returns (task, attempt, line, query) and the app opens that task at that
line, with the query highlighted in the pane (n / N go on from there).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from tuiflow.ui.logtext import strip_ansi
from tuiflow.ui.outputs import OutputStore
from tuiflow.ui.runmodel import RunModel

MAX_HITS = 2000


@dataclass(frozen=True, slots=True)
class Hit:
    task: str
    attempt: int
    line: int
    text: str


def search_logs(query: str, tasks: list[tuple[str, list[int]]], outputs: OutputStore,
                log_path: Callable[[str, int], str | None], limit: int = MAX_HITS,
                cancelled: Callable[[], bool] = lambda: False) -> list[Hit]:
    """Case-insensitive substring search, in task order, line numbers 1-based per attempt log."""
    needle = query.lower().encode()
    hits: list[Hit] = []
    for task, attempts in tasks:
        for attempt in attempts:
            if cancelled() or len(hits) >= limit:
                return hits
            path = log_path(task, attempt)
            out = outputs.get(task)
            on_disk = 0
            number = 0
            if path and os.path.exists(path):
                with open(path, "rb") as f:
                    for number, raw in enumerate(f, 1):
                        on_disk += len(raw)
                        if needle in raw.lower():
                            hits.append(Hit(task, attempt, number, _clean(raw)))
                            if len(hits) >= limit:
                                return hits
            if out is not None and out.attempt == attempt and out.total > on_disk:
                # the part the store has not flushed yet lives only in memory
                missing = out.total - on_disk
                tail = bytes(out.tail[-missing:]) if missing <= len(out.tail) else bytes(out.tail)
                for offset, raw in enumerate(tail.split(b"\n"), 1):
                    if needle in raw.lower():
                        hits.append(Hit(task, attempt, number + offset, _clean(raw)))
    return hits


def _clean(raw: bytes) -> str:
    return strip_ansi(raw.decode("utf-8", "replace").rstrip("\r\n").split("\r")[-1])[:300]


class SearchAllScreen(ModalScreen[tuple[str, int, int, str] | None]):
    DEFAULT_CSS = """
    SearchAllScreen { align: center middle; }
    SearchAllScreen > Vertical {
        width: 90%; height: 80%; background: $panel; border: round $primary; padding: 0 1;
    }
    SearchAllScreen Input { margin-bottom: 0; }
    SearchAllScreen OptionList { height: 1fr; }
    SearchAllScreen #status { color: $foreground-muted; height: 1; }
    """

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, model: RunModel, outputs: OutputStore,
                 log_path: Callable[[str, int], str | None]) -> None:
        super().__init__()
        self.model = model
        self.outputs = outputs
        self.log_path = log_path
        self.hits: list[Hit] = []
        self.query_text = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Input(placeholder="search every task's log, enter to search", id="query")
            yield Static("", id="status")
            yield OptionList(id="hits")

    def on_mount(self) -> None:
        self.query_one("#query", Input).focus()

    @on(Input.Submitted, "#query")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value:
            self.query_one("#status", Static).update("searching…")
            self._search(event.value)

    @work(thread=True, exclusive=True)
    def _search(self, query: str) -> None:
        worker = get_current_worker()
        tasks = []
        for name in self.model.order:
            view = self.model.tasks[name]
            attempts = sorted({a.number for a in view.attempts})
            out = self.outputs.get(name)
            if out is not None and out.attempt not in attempts:
                attempts.append(out.attempt)
            if attempts:
                tasks.append((name, attempts))
        hits = search_logs(query, tasks, self.outputs, self.log_path, cancelled=lambda: worker.is_cancelled)
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, query, hits)

    def _show(self, query: str, hits: list[Hit]) -> None:
        self.hits = hits
        self.query_text = query
        options = self.query_one("#hits", OptionList)
        options.clear_options()
        for hit in hits:
            label = Text(no_wrap=True, end="")
            where = f"{hit.task}" + (f"#{hit.attempt}" if hit.attempt > 1 else "") + f":{hit.line}"
            label.append(where, "bold")
            label.append("  " + hit.text)
            options.add_option(Option(label))
        more = " (first results only)" if len(hits) >= MAX_HITS else ""
        self.query_one("#status", Static).update(
            f"{len(hits)} hits for {query!r}{more} · enter opens the task at that line" if hits
            else f"no hits for {query!r}")
        if hits:
            options.highlighted = 0
            options.focus()

    @on(OptionList.OptionSelected, "#hits")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        hit = self.hits[event.option_index]
        self.dismiss((hit.task, hit.attempt, hit.line, self.query_text))

    def action_close(self) -> None:
        self.dismiss(None)
