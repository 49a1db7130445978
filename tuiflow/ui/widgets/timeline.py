"""A Gantt chart of every attempt on one time axis, coloured by result, critical path marked.

Rows render lazily (ScrollView + render_line), so a 10 000-task run costs only its visible
rows. The critical path is the longest chain by measured durations (graph.critical_path).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tuiflow.engine.graph import critical_path
from tuiflow.engine.model import TaskState
from tuiflow.engine.runview import RunView, TaskView
from tuiflow.ui import status
from tuiflow.ui.widgets.status_bar import TextLine

NAME_MAX = 28


def nice_step(span: float, cells: int, every: int = 12) -> float:
    """A round tick interval so that labels land about every `every` cells."""
    raw = span * every / max(1, cells)
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if step >= raw:
            return step
    return 3600 * round(raw / 3600 + 0.5)


def tick_label(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g}s"
    if seconds < 3600:
        m, s = divmod(int(seconds), 60)
        return f"{m}m" if s == 0 else f"{m}m{s:02d}"
    h, rem = divmod(int(seconds), 3600)
    return f"{h}h" if rem == 0 else f"{h}h{rem // 60:02d}"


class TimelineChart(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    TimelineChart { background: $surface; height: 1fr; scrollbar-size-vertical: 1; }
    TimelineChart > .timeline--name { color: $foreground; }
    TimelineChart > .timeline--critical { color: $accent; text-style: bold; }
    TimelineChart > .timeline--track { color: $foreground 15%; }
    """ + status.state_css("TimelineChart")
    COMPONENT_CLASSES = {"timeline--name", "timeline--critical", "timeline--track",
                         *status.STATE_CLASSES}

    def __init__(self, model: RunView, clock: Callable[[], float], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.clock = clock
        self.rows: list[TaskView] = []
        self.critical: set[str] = set()
        self.t0 = 0.0
        self.span = 1.0
        self.name_width = 8

    def recompute(self) -> None:
        model = self.model
        self.rows = [v for n in model.order if not (v := model.tasks[n]).info.virtual]
        now = self.clock()
        self.t0 = model.started_at if model.started_at is not None else now
        ends = [a.ended if a.ended is not None else now for v in self.rows for a in v.attempts]
        end = max([model.finished_at or 0.0, *ends]) if ends else now
        if model.result is None and any(v.state is TaskState.RUNNING for v in self.rows):
            end = max(end, now)
        self.span = max(end - self.t0, 0.001)
        weights = {v.name: sum(((a.ended or now) - a.started) for a in v.attempts) for v in self.rows
                   if v.attempts}
        deps = model.deps()
        self.critical = set(critical_path(deps, weights, default=0.0)) if deps else set()
        self.name_width = min(NAME_MAX, max((len(v.name) for v in self.rows), default=4)) + 2
        self.virtual_size = Size(self.size.width, len(self.rows))
        self.refresh()

    def on_resize(self) -> None:
        self.recompute()

    @property
    def bar_width(self) -> int:
        return max(10, (self.scrollable_content_region.width or self.size.width) - self.name_width - 1)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        base = self.rich_style
        index = self.scroll_offset.y + y
        if index >= len(self.rows):
            return Strip.blank(width, base)
        view = self.rows[index]
        critical = view.name in self.critical
        name = view.name if len(view.name) <= self.name_width - 2 else view.name[: self.name_width - 3] + "…"
        text = Text(no_wrap=True, end="")
        text.append("◆ " if critical else "  ", self.get_component_rich_style("timeline--critical", partial=True))
        text.append(f"{name:<{self.name_width - 2}}", self.get_component_rich_style(
            "timeline--critical" if critical else "timeline--name", partial=True))
        text.append(" ")
        cells = self.bar_width
        row: list[tuple[str, Style]] = [("·", self.get_component_rich_style("timeline--track", partial=True))] * cells
        now = self.clock()
        scale = cells / self.span
        for attempt in view.attempts:
            start = int((attempt.started - self.t0) * scale)
            end_t = attempt.ended if attempt.ended is not None else now
            end = max(start + 1, int(round((end_t - self.t0) * scale)))
            state = attempt.state if attempt.ended is not None else TaskState.RUNNING
            style = self.get_component_rich_style(status.component_class(state), partial=True)
            char = "█" if not critical else "▇"
            for x in range(max(0, start), min(cells, end)):
                row[x] = (char, style)
        segments = list(text.render(self.app.console))
        segments += [Segment(ch, st) for ch, st in row]
        return Strip(segments).crop_extend(0, width, base).apply_style(base)


class TimelineAxis(TextLine):
    DEFAULT_CSS = """
    TimelineAxis { background: $panel; color: $foreground-muted; }
    """

    def draw(self, chart: TimelineChart) -> None:
        cells = chart.bar_width
        line = [" "] * (chart.name_width + 1 + cells)
        step = nice_step(chart.span, cells)
        t = 0.0
        while t <= chart.span + 1e-9:
            x = chart.name_width + 1 + int(t / chart.span * cells)
            label = "│" + tick_label(round(t, 3))
            for i, ch in enumerate(label):
                if x + i < len(line):
                    line[x + i] = ch
            t += step
        self.show(Text("".join(line), no_wrap=True, end=""))
