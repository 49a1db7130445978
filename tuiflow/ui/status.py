"""How a task state looks: one narrow symbol, a theme variable for its colour, a word.

Symbols are single-cell characters outside the emoji ranges, so columns line up in every
terminal font and over SSH.
"""

from __future__ import annotations

from tuiflow.engine.model import TaskState

SYMBOLS: dict[TaskState, str] = {
    TaskState.PENDING: "◌",
    TaskState.READY: "○",
    TaskState.RUNNING: "●",
    TaskState.SUCCEEDED: "✓",
    TaskState.FAILED: "✗",
    TaskState.TIMED_OUT: "◷",
    TaskState.CANCELLED: "⊘",
    TaskState.RETRYING: "↻",
    TaskState.BLOCKED: "⊖",
    TaskState.SKIPPED: "↷",
    TaskState.HELD: "‖",
}

# Order of the counts in the progress line: what needs attention first.
COUNT_ORDER: tuple[TaskState, ...] = (
    TaskState.SUCCEEDED, TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED,
    TaskState.RUNNING, TaskState.RETRYING, TaskState.READY, TaskState.PENDING,
    TaskState.BLOCKED, TaskState.HELD, TaskState.SKIPPED,
)

# Worst first: a folder shows the symbol of its most urgent member.
SEVERITY: tuple[TaskState, ...] = (
    TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED, TaskState.BLOCKED,
    TaskState.RUNNING, TaskState.RETRYING, TaskState.HELD, TaskState.READY, TaskState.PENDING,
    TaskState.SKIPPED, TaskState.SUCCEEDED,
)


def variable(state: TaskState) -> str:
    """The theme variable holding a state's colour, e.g. `status-timed-out`."""
    return "status-" + state.value.replace("_", "-")


def component_class(state: TaskState) -> str:
    """The component class a widget styles a state with, e.g. `status--timed-out`."""
    return "status--" + state.value.replace("_", "-")


STATE_CLASSES = frozenset(component_class(s) for s in TaskState)


def state_css(widget: str) -> str:
    """CSS for a widget's DEFAULT_CSS: each state's component class in its theme colour."""
    return "\n".join(f"{widget} > .{component_class(s)} {{ color: ${variable(s)}; }}" for s in TaskState)


# Defaults for every theme that does not set them (App.get_theme_variable_defaults).
# Chosen so that each stays distinct after Rich maps it to the 256- and 16-colour palettes.
DEFAULT_COLORS: dict[str, str] = {
    variable(TaskState.PENDING): "#8a8a8a",
    variable(TaskState.READY): "#d7d7d7",
    variable(TaskState.RUNNING): "#5fafff",
    variable(TaskState.SUCCEEDED): "#5fd75f",
    variable(TaskState.FAILED): "#ff5f5f",
    variable(TaskState.TIMED_OUT): "#ff8700",
    variable(TaskState.CANCELLED): "#d787d7",
    variable(TaskState.RETRYING): "#ffd75f",
    variable(TaskState.BLOCKED): "#af5f5f",
    variable(TaskState.SKIPPED): "#87afaf",
    variable(TaskState.HELD): "#d7af00",
}

ACTIVE = frozenset({TaskState.RUNNING, TaskState.RETRYING})


def format_duration(seconds: float | None) -> str:
    """Short, stable-width-ish durations for rows: 0.4s, 41.0s, 3m05s, 1h02m."""
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        m, s = divmod(int(seconds), 60)
        return f"{m}m{s:02d}s"
    h, rem = divmod(int(seconds), 3600)
    return f"{h}h{rem // 60:02d}m"


def format_clock(seconds: float | None) -> str:
    """HH:MM:SS for the header's elapsed time and ETA."""
    if seconds is None:
        return "--:--:--"
    total = int(max(0.0, seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"
