"""The record printed to the normal screen after the app exits (it stays in the scrollback).

Each task's result and duration; for each failure its reason, attempts and last lines.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from tuiflow.engine.logaccess import strip_ansi
from tuiflow.engine.model import TaskState
from tuiflow.engine.runview import RunView
from tuiflow.ui import status
from tuiflow.ui.outputs import LogReader

COLORS = {
    TaskState.SUCCEEDED: "green", TaskState.FAILED: "red", TaskState.TIMED_OUT: "red",
    TaskState.CANCELLED: "magenta", TaskState.SKIPPED: "cyan", TaskState.BLOCKED: "red",
    TaskState.RUNNING: "blue", TaskState.HELD: "yellow",
}
RESULT_COLORS = {"succeeded": "green", "failed": "red", "cancelled": "magenta"}
LAST_LINES = 10


async def last_lines(logs: LogReader, task: str, attempt: int, count: int = LAST_LINES) -> list[str]:
    """The last non-blank lines of an attempt's log, as a terminal would show them (no colours)."""
    text = (await logs.tail(task, attempt, None, count * 4, 64 * 1024)).data.decode("utf-8", "replace")
    lines = [strip_ansi(line.split("\r")[-1]) for line in text.splitlines()]
    return [line for line in lines if line.strip()][-count:]


SHORT_ROWS = 40        # a run with more tasks than this gets the short record, unless `full`
SHORT_FAILURES = 50    # failures listed in full in the short record; the rest are counted


def render_summary(model: RunView, tails: dict[str, list[str]], now: float, run_state: str, exit_code: int,
                   why: Callable[[str], str] | None = None, full: bool = False) -> Text:
    """`tails`: the last lines of failed tasks (read with `last_lines` while the logs could be read).

    A big run's record is short (failures in full, every other task counted by state), so the
    scrollback keeps what matters; `full` (`--summary full`) lists every task.
    """
    text = Text()
    word = run_state.upper()
    text.append(f"{model.pipeline or 'pipeline'}", "bold")
    if model.run_id:
        text.append(f" · run {model.run_id}")
    text.append(" · ")
    text.append(word, "bold " + RESULT_COLORS.get(run_state.lower(), "yellow"))
    text.append(f" in {status.format_clock(model.elapsed(now))} · exit code {exit_code}\n")
    shown = [n for n in model.order if not (model.tasks[n].info.virtual and model.tasks[n].state is TaskState.SUCCEEDED)]
    counted: list[str] = []
    if not full and len(shown) > SHORT_ROWS:
        failed = [n for n in shown if model.tasks[n].state in status.FAILED][:SHORT_FAILURES]
        keep = set(failed)
        counted = [n for n in shown if n not in keep and not model.tasks[n].info.virtual]
        shown = failed
    width = max((len(n) for n in shown), default=4)
    width = min(width, 48)
    for name in shown:
        view = model.tasks[name]
        color = COLORS.get(view.state, "bright_black")
        text.append(f"  {status.SYMBOLS[view.state]} ", color)
        text.append(f"{name:<{width}}")
        dur = view.duration(now) if not view.info.virtual else None
        text.append(f"  {status.format_duration(dur):>7}", "dim")
        notes: list[str] = []
        if view.state is not TaskState.SUCCEEDED:
            note = view.reason or _why(why, name) or view.state.value.replace("_", " ")
            if view.state is TaskState.BLOCKED and not note.startswith("blocked"):
                note = f"blocked: {note}"
            notes.append(note)
        if view.attempt > 1 or len(view.attempts) > 1:
            notes.append(f"{max(view.attempt, len(view.attempts))} attempts")
        if notes:
            text.append("  " + " · ".join(notes), color if view.state.failed else "dim")
        text.append("\n")
        if view.state in (TaskState.FAILED, TaskState.TIMED_OUT):
            for line in tails.get(name, ()):
                text.append("      │ ", "dim")
                text.append(line[:200] + "\n")
    if counted:
        by_state: dict[TaskState, int] = {}
        for name in counted:
            state = model.tasks[name].state
            by_state[state] = by_state.get(state, 0) + 1
        text.append(f"  {'and ' if shown else ''}{len(counted)} more: ", "dim")
        parts = [(f"{status.SYMBOLS[st]} {by_state[st]} {st.value.replace('_', ' ')}", COLORS.get(st, "bright_black"))
                 for st in status.COUNT_ORDER if st in by_state]
        for i, (part, color) in enumerate(parts):
            text.append(("  " if i else "") + part, color)
        text.append("  (--summary full lists every task)\n", "dim")
    if model.run_dir:
        text.append(f"logs: {model.run_dir}\n", "dim")
    return text


def _why(why: Callable[[str], str] | None, task: str) -> str:
    if why is None:
        return ""
    try:
        return why(task)
    except Exception:  # a summary must print even if the engine is in a bad state
        return ""
