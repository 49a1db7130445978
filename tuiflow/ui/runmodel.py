"""The UI's picture of a run, rebuilt only from engine events.

Widgets read this to draw (labels, header, timeline, summary); the scheduler stays the truth
for control decisions (`can`, `why`). Keeping it event-fed means a remote front end (attach
over the socket) can use the very same model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tuiflow.engine.events import (
    EtaChanged,
    Event,
    LimitChanged,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    TaskInfo,
    TasksAdded,
    TaskStateChanged,
)
from tuiflow.engine.model import TaskState


@dataclass(slots=True)
class Attempt:
    """One run of a task's command, for the timeline and the summary."""

    number: int
    started: float
    ended: float | None = None
    state: TaskState = TaskState.RUNNING
    reason: str = ""


@dataclass(slots=True)
class TaskView:
    info: TaskInfo
    state: TaskState = TaskState.PENDING
    attempt: int = 1
    reason: str = ""
    exit_code: int | None = None
    pid: int | None = None
    started: float | None = None
    ended: float | None = None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.info.name

    def duration(self, now: float) -> float | None:
        """Seconds of the current (or last) attempt; live while running."""
        if self.started is None:
            return None
        if self.state is TaskState.RUNNING or self.ended is None:
            return now - self.started if self.state is TaskState.RUNNING else None
        return max(0.0, self.ended - self.started)


@dataclass(slots=True)
class Changes:
    """What an event changed, so widgets repaint only that."""

    tasks: set[str] = field(default_factory=set)
    added: list[TaskInfo] = field(default_factory=list)
    regrouped: list[TaskInfo] = field(default_factory=list)
    header: bool = False
    started: bool = False
    finished: bool = False
    failed: list[str] = field(default_factory=list)


RUN_WORDS = {"succeeded": "SUCCEEDED", "failed": "FAILED", "cancelled": "CANCELLED"}


class RunModel:
    def __init__(self) -> None:
        self.tasks: dict[str, TaskView] = {}
        self.order: list[str] = []
        self.children: dict[str, list[str]] = {}
        self.run_id = ""
        self.pipeline = ""
        self.file = ""
        self.run_dir = ""
        self.max_parallel = 0
        self.paused = False
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.result: str | None = None       # succeeded | failed | cancelled, once finished
        self.exit_code: int | None = None
        self.eta: tuple[float, float] | None = None  # (seconds remaining, when said)
        self.counts: dict[TaskState, int] = dict.fromkeys(TaskState, 0)

    # ----------------------------------------------------------------- events
    def apply(self, event: Event, changes: Changes | None = None) -> Changes:
        ch = changes if changes is not None else Changes()
        if isinstance(event, TaskStateChanged):
            self._task_state(event, ch)
        elif isinstance(event, RunStarted):
            self.run_id, self.pipeline, self.file = event.run_id, event.pipeline, event.file
            self.run_dir, self.max_parallel = event.run_dir, event.max_parallel
            self.started_at = event.time
            for info in event.tasks:
                self._add(info)
            ch.started = ch.header = True
        elif isinstance(event, TasksAdded):
            for info in event.tasks:
                if info.name not in self.tasks:
                    self._add(info)
                    ch.added.append(info)
            for info in event.changed:
                if info.name in self.tasks:
                    self.tasks[info.name].info = info
                    ch.regrouped.append(info)
            ch.header = True
        elif isinstance(event, LimitChanged):
            self.max_parallel = event.max_parallel
            ch.header = True
        elif isinstance(event, Paused):
            self.paused = ch.header = True
        elif isinstance(event, Resumed):
            self.paused = False
            ch.header = True
        elif isinstance(event, EtaChanged):
            self.eta = None if event.eta_seconds is None else (event.eta_seconds, event.time)
            ch.header = True
        elif isinstance(event, RunFinished):
            self.result, self.exit_code = event.state, event.exit_code
            self.finished_at = event.time
            ch.finished = ch.header = True
        return ch

    def _add(self, info: TaskInfo) -> None:
        self.tasks[info.name] = TaskView(info)
        self.order.append(info.name)
        self.counts[TaskState.PENDING] += 1
        if info.parent:
            self.children.setdefault(info.parent, []).append(info.name)

    def _task_state(self, ev: TaskStateChanged, ch: Changes) -> None:
        view = self.tasks.get(ev.task)
        if view is None:  # an event for a task we were never told about: show it anyway
            self._add(TaskInfo(ev.task, ()))
            view = self.tasks[ev.task]
            ch.added.append(view.info)
        old = view.state
        self.counts[old] -= 1
        self.counts[ev.state] += 1
        view.state, view.attempt, view.reason = ev.state, ev.attempt, ev.reason
        view.exit_code, view.pid = ev.exit_code, ev.pid
        if ev.state is TaskState.RUNNING:
            started = ev.started if ev.started is not None else ev.time
            view.started, view.ended = started, None
            last = view.attempts[-1] if view.attempts else None
            if last is None or last.number != ev.attempt or last.ended is not None:
                view.attempts.append(Attempt(ev.attempt, started))
            if self.result is not None:  # a retry after the end: the run is live again
                self.result = self.finished_at = None
        else:
            if ev.started is not None:
                view.started = ev.started
            if ev.state.finished or ev.state in (TaskState.RETRYING, TaskState.BLOCKED):
                if view.attempts and view.attempts[-1].ended is None and old is TaskState.RUNNING:
                    last = view.attempts[-1]
                    last.ended = ev.ended if ev.ended is not None else ev.time
                    last.state = ev.state if ev.state.finished else TaskState.FAILED
                    last.reason = ev.reason
                if old is TaskState.RUNNING:
                    view.ended = ev.ended if ev.ended is not None else ev.time
            if ev.state in (TaskState.PENDING, TaskState.READY, TaskState.HELD):
                view.started = view.ended = None  # back to waiting (retry, rerun): no duration yet
            if ev.state in (TaskState.FAILED, TaskState.TIMED_OUT):
                ch.failed.append(ev.task)
        ch.tasks.add(ev.task)
        ch.header = True

    # ---------------------------------------------------------------- queries
    @property
    def total(self) -> int:
        return len(self.tasks)

    @property
    def done(self) -> int:
        return sum(n for s, n in self.counts.items() if s.finished)

    def elapsed(self, now: float) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.started_at)

    def eta_remaining(self, now: float) -> float | None:
        if self.eta is None or self.result is not None:
            return None
        seconds, said = self.eta
        return max(0.0, seconds - (now - said))

    def deps(self) -> dict[str, tuple[str, ...]]:
        return {name: view.info.depends_on for name, view in self.tasks.items()}

    def failures(self) -> list[TaskView]:
        return [self.tasks[n] for n in self.order if self.tasks[n].state.failed]
