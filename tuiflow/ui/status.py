"""How a task state looks in the TUI: its symbol and durations (engine/words.py, shared with
headless), a theme variable for its colour, a component class.
"""

from __future__ import annotations

from tuiflow.engine.model import TaskState
from tuiflow.engine.words import SYMBOLS, format_clock, format_duration

# Order of the counts in the progress line: what needs attention first.
COUNT_ORDER: tuple[TaskState, ...] = (
    TaskState.SUCCEEDED, TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED,
    TaskState.RUNNING, TaskState.RETRYING, TaskState.READY, TaskState.PENDING,
    TaskState.AWAITING_APPROVAL, TaskState.BLOCKED, TaskState.HELD, TaskState.SKIPPED,
)

# Worst first: a folder shows the symbol of its most urgent member: a failure, else what is
# live (running while any member runs), else what still waits, and succeeded only when all did.
SEVERITY: tuple[TaskState, ...] = (
    TaskState.FAILED, TaskState.TIMED_OUT, TaskState.RUNNING, TaskState.RETRYING, TaskState.AWAITING_APPROVAL,
    TaskState.CANCELLED,
    TaskState.BLOCKED, TaskState.HELD, TaskState.READY, TaskState.PENDING, TaskState.SKIPPED,
    TaskState.SUCCEEDED,
)
DONE = frozenset({TaskState.SUCCEEDED, TaskState.SKIPPED})   # what a folder's n/m counts as done


def worst(states: set[TaskState]) -> TaskState:
    """The state a folder shows for members in `states` (succeeded if any succeeded and the rest were skipped)."""
    for state in SEVERITY:
        if state in states:
            if state is TaskState.SKIPPED and TaskState.SUCCEEDED in states:
                return TaskState.SUCCEEDED
            return state
    return TaskState.PENDING


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
    "status-pending": "#8a8a8a",
    "status-ready": "#e4e4e4",
    "status-running": "#5f87ff",
    "status-succeeded": "#5fd75f",
    "status-failed": "#ff5f5f",
    "status-timed-out": "#d78700",
    "status-cancelled": "#ff5fd7",
    "status-retrying": "#ffd75f",
    "status-blocked": "#ff00af",
    "status-skipped": "#00afaf",
    "status-held": "#87875f",
    "status-awaiting-approval": "#5fd7ff",
}

ACTIVE = frozenset({TaskState.RUNNING, TaskState.RETRYING})
# What the UI calls failed, in words and in red: a cancelled task was stopped by a person, it did
# not fail (the engine still treats it as a failure for trigger rules and `retry all`).
FAILED = frozenset({TaskState.FAILED, TaskState.TIMED_OUT})

__all__ = ["ACTIVE", "COUNT_ORDER", "DEFAULT_COLORS", "SEVERITY", "SYMBOLS", "component_class", "format_clock",
           "format_duration", "variable"]
