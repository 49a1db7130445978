"""The timeline screen (`t`): the Gantt chart with its axis and a legend."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from tuiflow.engine.model import TaskState
from tuiflow.engine.runview import RunView
from tuiflow.ui import status
from tuiflow.ui.widgets.status_bar import TextLine
from tuiflow.ui.widgets.timeline import TimelineAxis, TimelineChart

LEGEND_STATES = (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED,
                 TaskState.RUNNING)


class Legend(TextLine):
    DEFAULT_CSS = """
    Legend { background: $panel; color: $foreground; }
    Legend > .legend--critical { color: $accent; text-style: bold; }
    """ + status.state_css("Legend")
    COMPONENT_CLASSES = {"legend--critical", *status.STATE_CLASSES}

    def on_mount(self) -> None:
        self.draw("")

    def draw(self, title: str) -> None:
        """Title, then the legend; what does not fit the width is left out from the end."""
        width = self.size.width or 100
        text = Text(f" Timeline · {title} ", no_wrap=True, end="")
        items = [Text("◆ critical path", self.style_of("legend--critical"))]
        for state in LEGEND_STATES:
            item = Text("█", self.style_of(status.component_class(state)))
            item.append(" " + state.value.replace("_", " "))
            items.append(item)
        for item in items:
            if text.cell_len + 1 + item.cell_len > width:
                break
            text.append(" ")
            text.append_text(item)
        self.show(text)


class TimelineScreen(Screen[None]):
    BINDINGS = [Binding("escape,t,q", "app.pop_screen", "Back")]

    DEFAULT_CSS = """
    TimelineScreen { layout: vertical; }
    """

    def __init__(self, model: RunView, clock: Callable[[], float]) -> None:
        super().__init__()
        self.model = model
        self.clock = clock
        self.chart = TimelineChart(model, clock)
        self.axis = TimelineAxis()
        self.legend = Legend()

    def compose(self) -> ComposeResult:
        yield self.legend
        yield self.axis
        yield self.chart
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.chart.focus()
        self.call_after_refresh(self.update_chart)

    def on_resize(self) -> None:
        self.call_after_refresh(self.update_chart)

    def update_chart(self) -> None:
        """Called on mount, on each engine batch and on the clock tick while it is shown."""
        self.chart.recompute()
        self.axis.draw(self.chart)
        self.legend.draw(f"{len(self.chart.rows)} tasks · {status.format_clock(self.chart.span)}")
