"""The plain-text words every front end shares: a symbol per task state, measured durations,
clock times. (Durations as a pipeline file writes them, `30s` or `1h30m`, are
`engine/durations.py`'s.) The TUI adds colours (ui/status.py); headless prints them as they are.

Symbols are single-cell characters outside the emoji ranges, so columns line up in every
terminal font and over SSH, and `grep ' ✗ '` finds failures in a headless log.
"""

from __future__ import annotations

from .model import TaskState

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
    TaskState.AWAITING_APPROVAL: "⚑",
}


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
