"""Search every task's log (`ctrl+f`): every attempt of every task, as the engine has written it.

The engine scans the files off its loop (in this process, or on the far side of the socket when
the viewer is attached), so a run with gigabytes of logs never freezes the screen;
choosing a hit returns (task, attempt, line, query) and the app opens that task at that
line, with the query highlighted in the pane (n / N go on from there).
"""

from __future__ import annotations

from typing import Protocol

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tuiflow.engine.logaccess import MAX_HITS, Hit
from tuiflow.engine.runview import RunView


class LogSearch(Protocol):
    async def search(self, query: str, tasks: list[tuple[str, list[int]]], limit: int = ...) -> list[Hit]: ...


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

    def __init__(self, model: RunView, logs: LogSearch) -> None:
        super().__init__()
        self.model = model
        self.logs = logs
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

    @work(exclusive=True, exit_on_error=False)
    async def _search(self, query: str) -> None:
        tasks = []
        for name in self.model.order:
            view = self.model.tasks[name]
            attempts = sorted({a.number for a in view.attempts} | ({view.output.attempt} - {0}))
            if attempts:
                tasks.append((name, attempts))
        try:
            hits = await self.logs.search(query, tasks, MAX_HITS)
        except Exception as exc:  # the engine went away, a file vanished: say so, keep the screen
            self.query_one("#status", Static).update(f"cannot search: {exc}")
            return
        self._show(query, hits)

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
