"""Typed engine events and the EventSink protocol.

Events are frozen, slotted and made of plain values, so a front end in another process can get
them over a socket: `to_dict()` gives JSON-ready data, `event_from_dict()` rebuilds the event.
An event is a message, equal only to itself (`eq=False`: value equality would cost every run
~2 ms of start-up to define, and nothing compares events); compare `to_dict()`s for content.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from operator import attrgetter
from typing import Any, ClassVar, Protocol

from .model import RunState, TaskState


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What a front end needs to draw a task before it has run."""

    name: str
    depends_on: tuple[str, ...]
    group: str | None = None
    parent: str | None = None
    virtual: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class Event:
    kind: ClassVar[str] = "event"
    time: float  # time.time() when it happened

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: the fields as they are (no deep copy: events are flat and frozen)."""
        names, values = _READERS.get(type(self)) or _reader(type(self))
        d = dict(zip(names, values(self), strict=True))
        d["event"] = self.kind
        return d


def _reader(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    """An event class's field names and one C call that reads them all (`attrgetter`): a third
    of the time of a getattr per field (the run store writes three events a task)."""
    names = tuple(f.name for f in fields(cls))
    get = attrgetter(*names)
    _READERS[cls] = reader = (names, get if len(names) > 1 else lambda event: (get(event),))
    return reader


_READERS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _with_task_infos(event: Event, d: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        d[key] = [asdict(t) for t in getattr(event, key)]
    return d


@dataclass(frozen=True, slots=True, eq=False)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_id: str
    pipeline: str
    file: str
    run_dir: str
    max_parallel: int
    tasks: tuple[TaskInfo, ...]
    notes: tuple[str, ...] = ()    # `file:line:col: note: ...`: where the run differs from what its author may expect
    executor: str = ""             # where commands run: "" on this machine; `dask tcp://…: 2 workers, 4 threads`

    def to_dict(self) -> dict[str, Any]:
        return _with_task_infos(self, Event.to_dict(self), "tasks")


@dataclass(frozen=True, slots=True, eq=False)
class TasksAdded(Event):
    """Tasks that joined a running plan (foreach instances); `changed` are existing tasks whose deps changed."""

    kind: ClassVar[str] = "tasks_added"
    tasks: tuple[TaskInfo, ...]
    changed: tuple[TaskInfo, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return _with_task_infos(self, Event.to_dict(self), "tasks", "changed")


@dataclass(frozen=True, slots=True, eq=False)
class TaskStateChanged(Event):
    kind: ClassVar[str] = "task_state"
    task: str
    state: TaskState
    attempt: int
    reason: str = ""            # `exit 3`, `killed by SIGKILL`, `timed out after 30s`, `cancelled`
    exit_code: int | None = None
    pid: int | None = None
    started: float | None = None   # start of the current attempt (time.time())
    ended: float | None = None
    output: str | None = None      # the task's `output` value once it succeeded (masked)
    worker: str = ""               # the Dask worker of this attempt (tcp://…); "" on this machine


@dataclass(frozen=True, slots=True, eq=False)
class TaskOutput(Event):
    """A batch of a task's combined output, already masked; never one event per line."""

    kind: ClassVar[str] = "task_output"
    task: str
    attempt: int
    data: bytes
    offset: int = 0     # where `data` starts in the attempt's log: a viewer joins pieces exactly

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, "time": self.time, "task": self.task, "attempt": self.attempt,
                "offset": self.offset, "data": base64.b64encode(self.data).decode("ascii")}


@dataclass(frozen=True, slots=True, eq=False)
class LimitChanged(Event):
    kind: ClassVar[str] = "limit_changed"
    max_parallel: int


@dataclass(frozen=True, slots=True, eq=False)
class Paused(Event):
    kind: ClassVar[str] = "paused"


@dataclass(frozen=True, slots=True, eq=False)
class Resumed(Event):
    kind: ClassVar[str] = "resumed"


@dataclass(frozen=True, slots=True, eq=False)
class ControlApplied(Event):
    """A control was called (recorded in events.jsonl); `applied` is False when it changed nothing."""

    kind: ClassVar[str] = "control"
    control: str
    task: str | None = None
    applied: bool = True
    detail: str = ""
    by: str = ""        # who sent it: `pid 4312 /dev/pts/3` for a viewer; empty for the engine itself


@dataclass(frozen=True, slots=True, eq=False)
class RunStateChanged(Event):
    """The run's one-word state changed (RUNNING, PAUSED, CANCELLING, FAILING, SUCCEEDED, ...)."""

    kind: ClassVar[str] = "run_state"
    state: RunState


@dataclass(frozen=True, slots=True, eq=False)
class EtaChanged(Event):
    kind: ClassVar[str] = "eta"
    eta_seconds: float | None


@dataclass(frozen=True, slots=True, eq=False)
class ExecutorChanged(Event):
    """Where commands run changed (Dask workers came or went): RunStarted.executor's new words."""

    kind: ClassVar[str] = "executor"
    executor: str


@dataclass(frozen=True, slots=True, eq=False)
class StorageFailed(Event):
    """A write to the run folder failed (a full disk...): the first one, once per run; the run goes on."""

    kind: ClassVar[str] = "storage_failed"
    message: str                # "cannot write PATH: No space left on device"


@dataclass(frozen=True, slots=True, eq=False)
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    state: str                  # succeeded | failed | cancelled
    exit_code: int
    problem: str = ""           # why the run's record is incomplete (StorageFailed's message), for the summary


@dataclass(frozen=True, slots=True, eq=False)
class RunSnapshot(Event):
    """A viewer's whole picture of a run at once (on connect, and after falling behind): replaces
    everything the viewer knew. `data` is `RunView.snapshot()`; the engine never emits it."""

    kind: ClassVar[str] = "snapshot"
    data: dict[str, Any]


@dataclass(frozen=True, slots=True, eq=False)
class WhyChanged(Event):
    """Why a task shown by a viewer waits, as the engine says it now (a viewer has no Plan)."""

    kind: ClassVar[str] = "why"
    task: str
    why: str


@dataclass(frozen=True, slots=True, eq=False)
class OutputSizes(Event):
    """How much tasks a viewer does not show have written: task -> (attempt, bytes, lines, when)."""

    kind: ClassVar[str] = "sizes"
    sizes: dict[str, tuple[int, int, int, float]]


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in (RunStarted, TasksAdded, TaskStateChanged, TaskOutput, LimitChanged,
                              Paused, Resumed, ControlApplied, EtaChanged, StorageFailed, RunFinished,
                              RunStateChanged, RunSnapshot, WhyChanged, OutputSizes, ExecutorChanged)
}


def event_from_dict(d: dict[str, Any]) -> Event:
    """Rebuild an event sent as `to_dict()` (over a socket, or read back from events.jsonl)."""
    cls = EVENT_TYPES[d["event"]]
    kw = {f.name: d[f.name] for f in fields(cls) if f.name in d}
    if cls is TaskOutput:
        kw["data"] = base64.b64decode(kw["data"])
    if cls is TaskStateChanged:
        kw["state"] = TaskState(kw["state"])
    if cls is RunStateChanged:
        kw["state"] = RunState(kw["state"])
    if "notes" in kw:
        kw["notes"] = tuple(kw["notes"])
    for key in ("tasks", "changed"):
        if key in kw:
            kw[key] = tuple(TaskInfo(**{**t, "depends_on": tuple(t["depends_on"])}) for t in kw[key])
    return cls(**kw)


class EventSink(Protocol):
    """A front end (TUI bridge, headless printer, run store, socket server) subscribed to a run.

    `handle` is called on the scheduler's event loop, in order, and must not block.
    """

    def handle(self, event: Event) -> None: ...
