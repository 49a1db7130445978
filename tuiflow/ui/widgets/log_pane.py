"""A log pane: a title line, the "why is it waiting" line, and the task's LogView.

The main pane shows the selected task; pinned panes keep showing theirs side by side.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.worker import Worker

from tuiflow.engine.model import TaskState
from tuiflow.engine.runview import TaskView
from tuiflow.ui import status
from tuiflow.ui.outputs import Joiner
from tuiflow.ui.widgets.log_view import LogView
from tuiflow.ui.widgets.status_bar import TextLine


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


class LogPane(Vertical):
    DEFAULT_CSS = """
    LogPane { width: 1fr; height: 1fr; border-left: vkey $panel; }
    LogPane.-first { border-left: none; }
    LogPane LogView { height: 1fr; }
    """

    def __init__(self, *, pinned: bool = False, max_lines: int = 10_000, id: str | None = None) -> None:
        super().__init__(id=id)
        self.task_name: str | None = None
        self.attempt = 0                  # attempt whose output is shown last
        self.joiner = Joiner()            # where the live output continues
        self.loader: Worker[None] | None = None   # reading the task's log, while it does
        self.pinned = pinned
        self.auto = False
        self.title = PaneTitle()
        self.why = WhyLine()
        self.view = LogView(max_lines=max_lines, placeholder="(select a task)")

    def compose(self) -> ComposeResult:
        yield self.title
        yield self.why
        yield self.view

    def show_title(self, view: TaskView | None, now: float, extra: str = "") -> None:
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
        if not self.view.follow and len(self.view.doc):
            flags.append("scrolled · end follows")
        if self.view.wrap:
            flags.append("wrap")
        if extra:
            flags.append(extra)
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
