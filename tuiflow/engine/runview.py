"""A run as its front ends see it, rebuilt only from engine events: the one run view they share.

The terminal UI (in process or attached over a socket) keeps one of these; in the engine's
process there is one, applied by the run store (which writes run.json from it) and read by the
socket server and the headless printer. It has no Plan: what a viewer cannot derive from events (why a
task waits, the run's one-word state) arrives as events of its own. `snapshot()` gives the
whole picture as JSON-ready data and applying a `RunSnapshot` restores it, which is how an
attached viewer starts (and starts again after falling behind).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .events import (
    ControlApplied,
    EtaChanged,
    Event,
    ExecutorChanged,
    LimitChanged,
    OutputSizes,
    Paused,
    Resumed,
    RunFinished,
    RunSnapshot,
    RunStarted,
    RunStateChanged,
    TaskInfo,
    TaskOutput,
    TasksAdded,
    TaskStateChanged,
    WhyChanged,
)
from .model import Control, RunState, TaskState, task_control_applies

S = TaskState
SNAPSHOT_FORMAT = 1
# A task's fields in a snapshot, as a new task has them: those are not written.
_UNSET: dict[str, Any] = {
    "depends_on": [], "group": None, "parent": None, "virtual": False, "description": "", "state": "pending",
    "attempt": 1, "reason": "", "exit_code": None, "pid": None, "worker": "", "started": None, "ended": None,
    "cancelling": False, "why": "", "attempts": [], "output": [],
}
_NO_DEFAULT = object()


@dataclass(slots=True)
class Attempt:
    """One run of a task's command, for the timeline and the summary."""

    number: int
    started: float
    ended: float | None = None
    state: TaskState = TaskState.RUNNING
    reason: str = ""


@dataclass(slots=True)
class OutputSize:
    """How much the current attempt of a task has written: bytes, lines, and when it last did."""

    attempt: int = 0
    bytes: int = 0
    lines: int = 0
    last: float = 0.0


@dataclass(slots=True)
class TaskView:
    info: TaskInfo
    state: TaskState = TaskState.PENDING
    attempt: int = 1
    reason: str = ""
    exit_code: int | None = None
    pid: int | None = None
    worker: str = ""             # the Dask worker of the current attempt ("" on the engine's machine)
    started: float | None = None
    ended: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    cancelling: bool = False
    why: str = ""                # as the engine last said it (attached viewers)
    output: OutputSize = field(default_factory=OutputSize)
    value: str | None = None     # the task's `output` value, once it succeeded (run.json keeps it)

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
    output: set[str] = field(default_factory=set)
    header: bool = False
    started: bool = False
    finished: bool = False
    replaced: bool = False          # a snapshot: everything may differ
    failed: list[str] = field(default_factory=list)


class RunView:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.tasks: dict[str, TaskView] = {}
        self.order: list[str] = []
        self.children: dict[str, list[str]] = {}
        self.run_id = ""
        self.pipeline = ""
        self.file = ""
        self.run_dir = ""
        self.max_parallel = 0
        self.paused = False
        self.state = RunState.STARTING
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.result: str | None = None       # succeeded | failed | cancelled, once finished
        self.exit_code: int | None = None
        self.eta: tuple[float, float] | None = None  # (seconds remaining, when said)
        # tasks per state, counting what runs a command: fan-in and sub-pipeline rows are structure
        # (`tuiflow validate`, the headless summary and the TUI give one number)
        self.counts: dict[TaskState, int] = dict.fromkeys(TaskState, 0)
        self.notes: tuple[str, ...] = ()
        self.executor = ""          # where commands run ("" on the engine's machine)

    # ----------------------------------------------------------------- events
    def apply(self, event: Event, changes: Changes | None = None) -> Changes:
        ch = changes if changes is not None else Changes()
        kind = type(event)
        if kind is TaskOutput:
            self._output(event, ch)  # type: ignore[arg-type]
        elif kind is TaskStateChanged:
            self._task_state(event, ch)  # type: ignore[arg-type]
        elif kind is RunStarted:
            self._started(event, ch)  # type: ignore[arg-type]
        elif kind is TasksAdded:
            for info in event.tasks:  # type: ignore[attr-defined]
                if info.name not in self.tasks:
                    self._add(info)
                    ch.added.append(info)
            for info in event.changed:  # type: ignore[attr-defined]
                if info.name in self.tasks:
                    view = self.tasks[info.name]
                    if view.info.virtual != info.virtual:  # a foreach task became its fan-in
                        self.counts[view.state] += 1 if view.info.virtual else -1
                    view.info = info
                    ch.regrouped.append(info)
            ch.header = True
        elif kind is RunStateChanged:
            self.state = event.state  # type: ignore[attr-defined]
            ch.header = True
        elif kind is LimitChanged:
            self.max_parallel = event.max_parallel  # type: ignore[attr-defined]
            ch.header = True
        elif kind is Paused:
            self.paused = ch.header = True
        elif kind is Resumed:
            self.paused = False
            ch.header = True
        elif kind is ControlApplied:
            self._control(event, ch)  # type: ignore[arg-type]
        elif kind is OutputSizes:
            self._sizes(event, ch)  # type: ignore[arg-type]
        elif kind is WhyChanged:
            view = self.tasks.get(event.task)  # type: ignore[attr-defined]
            if view is not None:
                view.why = event.why  # type: ignore[attr-defined]
                ch.tasks.add(view.name)
        elif kind is ExecutorChanged:
            self.executor = event.executor  # type: ignore[attr-defined]
            ch.header = True
        elif kind is EtaChanged:
            eta = event.eta_seconds  # type: ignore[attr-defined]
            self.eta = None if eta is None else (eta, event.time)
            ch.header = True
        elif kind is RunFinished:
            self.result, self.exit_code = event.state, event.exit_code  # type: ignore[attr-defined]
            self.finished_at = event.time
            self.state = RunState.of_result(event.state)  # type: ignore[attr-defined]
            ch.finished = ch.header = True
        elif kind is RunSnapshot:
            self.restore(event.data)  # type: ignore[attr-defined]
            ch.replaced = ch.header = ch.started = True
            ch.tasks.update(self.tasks)
        return ch

    def _started(self, event: RunStarted, ch: Changes) -> None:
        self.run_id, self.pipeline, self.file = event.run_id, event.pipeline, event.file
        self.run_dir, self.max_parallel = event.run_dir, event.max_parallel
        self.notes = event.notes
        self.executor = event.executor
        self.started_at = event.time
        self.state = RunState.RUNNING
        for info in event.tasks:
            self._add(info)
        ch.started = ch.header = True

    def _add(self, info: TaskInfo) -> TaskView:
        view = self.tasks[info.name] = TaskView(info)
        self.order.append(info.name)
        if not info.virtual:
            self.counts[TaskState.PENDING] += 1
        if info.parent:
            self.children.setdefault(info.parent, []).append(info.name)
        return view

    def _output(self, ev: TaskOutput, ch: Changes) -> None:
        if self.note_output(ev.task, ev.attempt, ev.offset + len(ev.data), ev.data.count(b"\n"), ev.time):
            ch.output.add(ev.task)

    def note_output(self, task: str, attempt: int, end: int, newlines: int, when: float) -> bool:
        """A task's attempt wrote up to byte `end` (`newlines` more lines) at `when`."""
        view = self.tasks.get(task)
        if view is None:
            return False
        out = view.output
        if out.attempt != attempt:
            out.attempt, out.bytes, out.lines = attempt, 0, 0
        out.bytes = max(out.bytes, end)
        out.lines += newlines
        out.last = when
        return True

    def _sizes(self, ev: OutputSizes, ch: Changes) -> None:
        for task, (attempt, size, lines, last) in ev.sizes.items():
            view = self.tasks.get(task)
            if view is not None:
                view.output = OutputSize(attempt, size, lines, last)
                ch.output.add(task)

    def _control(self, ev: ControlApplied, ch: Changes) -> None:
        if not ev.applied:
            return
        if ev.control == Control.CANCEL and ev.task in self.tasks:
            names = [ev.task]
        elif ev.control == Control.CANCEL_RUN:
            names = list(self.tasks)
        else:
            return
        for name in names:
            view = self.tasks[name]
            if view.state is S.RUNNING:
                view.cancelling = True
                ch.tasks.add(name)

    def _task_state(self, ev: TaskStateChanged, ch: Changes) -> None:
        view = self.tasks.get(ev.task)
        if view is None:  # an event for a task we were never told about: show it anyway
            view = self._add(TaskInfo(ev.task, ()))
            ch.added.append(view.info)
        old = view.state
        if not view.info.virtual:
            self.counts[old] -= 1
            self.counts[ev.state] += 1
        view.state, view.attempt, view.reason = ev.state, ev.attempt, ev.reason
        view.exit_code, view.value = ev.exit_code, ev.output
        if ev.pid is not None:        # the last process and worker are kept once the attempt ends
            view.pid = ev.pid
        if ev.worker:
            view.worker = ev.worker
        if self.result is not None and not ev.state.finished:  # a retry after the end: live again
            self.result = self.finished_at = None
        if ev.state is not S.RUNNING:
            view.cancelling = False
        if ev.state is S.RUNNING:
            started = ev.started if ev.started is not None else ev.time
            view.started, view.ended = started, None
            last = view.attempts[-1] if view.attempts else None
            if last is None or last.number != ev.attempt or last.ended is not None:
                view.attempts.append(Attempt(ev.attempt, started))
        else:
            if ev.started is not None:
                view.started = ev.started
            if ev.state.finished or ev.state in (S.RETRYING, S.BLOCKED):
                if view.attempts and view.attempts[-1].ended is None and old is S.RUNNING:
                    last = view.attempts[-1]
                    last.ended = ev.ended if ev.ended is not None else ev.time
                    last.state = ev.state if ev.state.finished else S.FAILED
                    last.reason = ev.reason
                if ev.ended is not None or old is S.RUNNING:
                    view.ended = ev.ended if ev.ended is not None else ev.time
            if ev.state in (S.PENDING, S.READY, S.HELD):
                view.started = view.ended = None  # back to waiting (retry, rerun): no duration yet
            if ev.state in (S.FAILED, S.TIMED_OUT):
                ch.failed.append(ev.task)
        ch.tasks.add(ev.task)
        ch.header = True

    def interrupt(self, now: float, reason: str) -> list[str]:
        """The engine is gone: its running tasks were ended with it (its keeper saw to that)."""
        names = [n for n, v in self.tasks.items() if v.state is S.RUNNING]
        for name in names:
            self.apply(TaskStateChanged(time=now, task=name, state=S.CANCELLED, attempt=self.tasks[name].attempt,
                                        reason=reason, started=self.tasks[name].started, ended=now))
        if not self.state.ended:
            self.state = RunState.INTERRUPTED
        return names

    # ---------------------------------------------------------------- queries
    @property
    def total(self) -> int:
        """Tasks that run a command (see `counts`)."""
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(n for s, n in self.counts.items() if s.finished)

    @property
    def running_count(self) -> int:
        return self.counts[S.RUNNING]

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

    def can(self, control: Control | str, task: str | None = None) -> bool:
        """What the engine's Plan would answer, as far as events tell (the engine has the last word)."""
        control = Control(control)
        if control is Control.SET_MAX_PARALLEL:
            return True
        if control is Control.PAUSE:
            return not self.paused and not self.state.ended
        if control is Control.RESUME:
            return self.paused
        if control is Control.RETRY_FAILED:
            return any(self.counts[s] for s in (S.FAILED, S.TIMED_OUT, S.CANCELLED))
        if control is Control.CANCEL_RUN:
            return self.state in (RunState.RUNNING, RunState.PAUSED)
        view = self.tasks.get(task) if task is not None else None
        return view is not None and task_control_applies(control, view.state, view.cancelling)

    # --------------------------------------------------------------- snapshots
    def snapshot(self, why: dict[str, str] | None = None) -> dict[str, Any]:
        """Everything, JSON-ready. `why`: the engine's words for tasks that wait (by name)."""
        why = why or {}
        tasks = []
        for name in self.order:
            v = self.tasks[name]
            i = v.info
            out = v.output
            task = {
                "name": name, "depends_on": list(i.depends_on), "group": i.group, "parent": i.parent,
                "virtual": i.virtual, "description": i.description,
                "state": v.state.value, "attempt": v.attempt, "reason": v.reason, "exit_code": v.exit_code,
                "pid": v.pid, "worker": v.worker, "started": v.started, "ended": v.ended, "cancelling": v.cancelling,
                "why": why.get(name, v.why),
                "attempts": [[a.number, a.started, a.ended, a.state.value, a.reason] for a in v.attempts],
                "output": [out.attempt, out.bytes, out.lines, out.last] if out.attempt else [],
            }
            # what every new task has is left out: a 1 000-task snapshot is a third the size
            tasks.append({k: x for k, x in task.items() if x != _UNSET.get(k, _NO_DEFAULT)})
        return {
            "format": SNAPSHOT_FORMAT,
            "run": {"run_id": self.run_id, "pipeline": self.pipeline, "file": self.file, "run_dir": self.run_dir,
                    "max_parallel": self.max_parallel, "paused": self.paused, "state": self.state.value,
                    "started": self.started_at, "finished": self.finished_at, "result": self.result,
                    "exit_code": self.exit_code, "eta": list(self.eta) if self.eta else None,
                    "notes": list(self.notes), "executor": self.executor},
            "tasks": tasks,
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Become what `snapshot()` described (everything known before is dropped)."""
        self._reset()
        run = data["run"]
        self.run_id, self.pipeline, self.file = run["run_id"], run["pipeline"], run["file"]
        self.run_dir, self.max_parallel, self.paused = run["run_dir"], run["max_parallel"], run["paused"]
        self.state = RunState(run["state"])
        self.started_at, self.finished_at = run["started"], run["finished"]
        self.result, self.exit_code = run["result"], run["exit_code"]
        self.eta = tuple(run["eta"]) if run.get("eta") else None  # type: ignore[assignment]
        self.notes = tuple(run.get("notes") or ())
        self.executor = run.get("executor", "")
        for compact in data["tasks"]:
            t = {**_UNSET, **compact}
            view = self._add(TaskInfo(t["name"], tuple(t["depends_on"]), t["group"], t["parent"], t["virtual"],
                                      t["description"]))
            state = TaskState(t["state"])
            if not view.info.virtual:
                self.counts[S.PENDING] -= 1
                self.counts[state] += 1
            view.state, view.attempt, view.reason, view.exit_code = state, t["attempt"], t["reason"], t["exit_code"]
            view.pid, view.started, view.ended = t["pid"], t["started"], t["ended"]
            view.worker = t["worker"]
            view.cancelling, view.why = t["cancelling"], t["why"]
            view.attempts = [Attempt(n, s, e, TaskState(st), r) for n, s, e, st, r in t["attempts"]]
            view.output = OutputSize(*t["output"])


__all__ = ["Attempt", "Changes", "OutputSize", "RunView", "TaskView"]
