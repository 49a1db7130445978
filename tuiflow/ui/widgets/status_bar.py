"""The header line (run state, limit, clock) and the progress line (bar and counts per state).

Both repaint only when their text actually changes, so an idle run sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from tuiflow.engine.model import TaskState
from tuiflow.ui import status

RUN_STATE_CLASS = {
    "RUNNING": "status--running", "PAUSED": "status--held", "CANCELLING": "status--cancelled",
    "SUCCEEDED": "status--succeeded", "FAILED": "status--failed", "CANCELLED": "status--cancelled",
    "STARTING": "status--pending", "ERROR": "status--failed", "FAILING": "status--failed",
    "INTERRUPTED": "status--failed",
}


class TextLine(Widget):
    """A one-line widget showing a Text; `show` repaints only on a real change."""

    DEFAULT_CSS = """
    TextLine { height: 1; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text = Text("")

    def show(self, text: Text) -> None:
        if text != self._text:
            self._text = text
            self.refresh()

    @property
    def text(self) -> Text:
        return self._text

    def render(self) -> Text:
        return self._text

    def style_of(self, component: str) -> Style:
        try:
            return self.get_component_rich_style(component, partial=True)
        except KeyError:  # not styled yet, or styles already dropped (removed as the app exits)
            return Style()


@dataclass(slots=True)
class HeaderInfo:
    pipeline: str
    run_id: str
    state: str
    running: int
    limit: int
    elapsed: float | None
    eta: float | None
    flag: str = ""          # e.g. `read-only`: always shown
    executor: str = ""      # where commands run when not here: `dask tcp://…: 2 workers, 4 threads`


class RunHeader(TextLine):
    DEFAULT_CSS = """
    RunHeader { background: $panel; color: $foreground; dock: top; }
    RunHeader > .header--name { text-style: bold; }
    RunHeader > .header--dim { color: $foreground-muted; }
    RunHeader > .header--state { text-style: bold; }
    """ + status.state_css("RunHeader")
    COMPONENT_CLASSES = {"header--name", "header--dim", "header--state",
                         *status.STATE_CLASSES}

    def compose_text(self, info: HeaderInfo) -> Text:
        """Pieces in order of importance; the least important go first when space is short."""
        width = self.size.width or 80
        dim = self.style_of("header--dim")
        state_style = self.style_of("header--state") + self.style_of(
            RUN_STATE_CLASS.get(info.state, "status--pending"))
        pieces: list[tuple[int, Text]] = [
            (3, Text(info.pipeline, self.style_of("header--name"))),
            (1, Text(f"run {info.run_id}", dim)),
            (5, Text(info.state, state_style)),
            (4, Text(f"{info.running} running / limit {info.limit}")),
            (3, Text(status.format_clock(info.elapsed))),
        ]
        if info.eta is not None:  # past the estimate while tasks still run: no made-up number
            eta = f"ETA {status.format_clock(info.eta)}" if info.eta > 0 else "ETA unknown"
            pieces.append((2, Text(eta, dim)))
        if info.executor:
            pieces.insert(4, (2, Text(info.executor, dim)))
        if info.flag:
            pieces.insert(2, (6, Text(info.flag, state_style)))
        sep = Text(" · ", dim)
        while True:
            text = Text(" ", no_wrap=True, end="")
            text.append_text(sep.join(p for _, p in pieces))
            if text.cell_len <= width or len(pieces) <= 2:
                break
            lowest = min(range(len(pieces)), key=lambda i: pieces[i][0])
            pieces.pop(lowest)
        return text

    def update_info(self, info: HeaderInfo) -> None:
        self.show(self.compose_text(info))


class ProgressLine(TextLine):
    DEFAULT_CSS = """
    ProgressLine { background: $panel; color: $foreground; }
    ProgressLine > .progress--bar { color: $status-succeeded; }
    ProgressLine > .progress--failed-bar { color: $status-failed; }
    ProgressLine > .progress--empty { color: $foreground 25%; }
    """ + status.state_css("ProgressLine")
    COMPONENT_CLASSES = {"progress--bar", "progress--failed-bar", "progress--empty",
                         *status.STATE_CLASSES}

    def update_counts(self, counts: dict[TaskState, int], total: int) -> None:
        done = sum(n for s, n in counts.items() if s.finished)
        bad = sum(n for s, n in counts.items() if s in status.FAILED)
        width = self.size.width or 80
        bar_width = max(10, min(40, width // 3))
        text = Text(" ", no_wrap=True, end="")
        filled = bar_width * done / total if total else 0
        full = int(filled)
        bad_cells = min(full, round(bar_width * bad / total)) if total else 0
        text.append("━" * (full - bad_cells), self.style_of("progress--bar"))
        text.append("━" * bad_cells, self.style_of("progress--failed-bar"))
        if full < bar_width:
            half = filled - full >= 0.5
            text.append("╸" if half else "━", self.style_of("progress--bar" if half else "progress--empty"))
            text.append("━" * (bar_width - full - 1), self.style_of("progress--empty"))
        text.append(f" {done}/{total} ")
        for state in status.COUNT_ORDER:
            n = counts.get(state, 0)
            if n:
                text.append(f" {status.SYMBOLS[state]}{n}", self.style_of(status.component_class(state)))
        self.show(text)
