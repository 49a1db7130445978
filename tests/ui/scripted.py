"""A scheduler double that plays a fixed event script: for snapshots that must not move.

It implements the documented scheduler API (queries answer from the played events; controls
are recorded and emit their events), so the app cannot tell it from the real one. Event times
are fixed, and the app gets a frozen clock, so every duration on screen is the same each run.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from tuiflow.engine.events import (
    Event,
    LimitChanged,
    Paused,
    Resumed,
    RunFinished,
    RunStarted,
    TaskInfo,
    TaskOutput,
    TaskStateChanged,
)
from tuiflow.engine.logaccess import LogAccess
from tuiflow.engine.model import FAILURES, FINISHED, TaskState

S = TaskState
T0 = 1_795_000_000.0


class ScriptedScheduler:
    can_detach = False
    read_only = False
    viewer = ""
    end_reason = ""

    def __init__(self, events: list[Event], log_dir: Path, max_parallel: int = 3) -> None:
        self.events = events
        self.log_dir = log_dir
        self.logs = LogAccess(self.log_path)
        self._written: dict[tuple[str, int], int] = {}
        self.sinks: list = []
        self.states: dict[str, TaskState] = {}
        self.attempts: dict[str, int] = {}
        self.deps: dict[str, tuple[str, ...]] = {}
        self.reasons: dict[str, str] = {}
        self.max_parallel = max_parallel
        self.paused = False
        self.finished: str | None = None
        self.calls: list[tuple[str, str | None]] = []
        self._closed = asyncio.Event()

    # --------------------------------------------------------------- the API
    def subscribe(self, sink) -> None:
        self.sinks.append(sink)

    def _emit(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            for info in event.tasks:
                self.states[info.name] = S.PENDING
                self.deps[info.name] = info.depends_on
                self.attempts[info.name] = 1
        elif isinstance(event, TaskStateChanged):
            self.states[event.task] = event.state
            self.attempts[event.task] = event.attempt
            self.reasons[event.task] = event.reason
        elif isinstance(event, TaskOutput):
            key = (event.task, event.attempt)
            event = replace(event, offset=self._written.get(key, 0))  # where the engine says it starts
            self._written[key] = event.offset + len(event.data)
            path = Path(self.log_path(event.task, event.attempt))
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as f:
                f.write(event.data)
        elif isinstance(event, Paused):
            self.paused = True
        elif isinstance(event, Resumed):
            self.paused = False
        elif isinstance(event, LimitChanged):
            self.max_parallel = event.max_parallel
        elif isinstance(event, RunFinished):
            self.finished = event.state
        for sink in self.sinks:
            sink.handle(event)

    async def run(self, stay_open: bool = False) -> int:
        for event in self.events:
            self._emit(event)
        await self._closed.wait()
        return 0 if self.finished == "succeeded" else 1

    def close(self) -> None:
        self._closed.set()

    @property
    def run_state(self) -> str:
        if self.finished:
            return self.finished.upper()
        return "PAUSED" if self.paused else "RUNNING"

    @property
    def running_count(self) -> int:
        return sum(1 for s in self.states.values() if s is S.RUNNING)

    def state(self, task: str) -> TaskState:
        return self.states[task]

    def attempt(self, task: str) -> int:
        return self.attempts[task]

    def counts(self) -> dict[TaskState, int]:
        out = dict.fromkeys(TaskState, 0)
        for s in self.states.values():
            out[s] += 1
        return out

    def why(self, task: str) -> str:
        st = self.states[task]
        if st is S.BLOCKED:
            bad = [u for u in self.deps[task] if self.states[u] in FAILURES or self.states[u] is S.BLOCKED]
            return f"blocked: upstream {bad[0] if bad else '?'} failed"
        if st is S.PENDING:
            waiting = [u for u in self.deps[task] if self.states[u] not in FINISHED]
            return "waiting for " + ", ".join(waiting)
        if st is S.READY:
            return "run paused" if self.paused else f"no free slot ({self.running_count}/{self.max_parallel} running)"
        return self.reasons.get(task, st.value)

    def watch(self, tasks) -> None:
        pass

    def detach(self) -> None:
        raise RuntimeError("in process")

    def log_path(self, task: str, attempt: int) -> str | None:
        return str(self.log_dir / task / f"{attempt}.log")

    def can(self, control: str, task: str | None = None) -> bool:
        st = self.states.get(task) if task else None
        return {
            "cancel": st in (S.RUNNING, S.PENDING, S.READY, S.BLOCKED, S.HELD),
            "retry": st in FAILURES or st is S.SKIPPED,
            "rerun": st in FINISHED,
            "skip": st not in (S.SUCCEEDED, S.SKIPPED, S.RUNNING, None),
            "hold": st in (S.PENDING, S.READY),
            "release": st is S.HELD,
            "cancel_run": self.finished is None,
            "pause": not self.paused,
            "resume": self.paused,
            "approve": st is S.AWAITING_APPROVAL,
            "reject": st is S.AWAITING_APPROVAL,
            "retry_failed": any(s in FAILURES for s in self.states.values()),
        }.get(control, False)

    def _record(self, control: str, task: str | None = None) -> None:
        self.calls.append((control, task))

    def pause(self) -> None:
        self._record("pause")
        if not self.paused:
            self._emit(Paused(time=T0 + 100))

    def resume(self) -> None:
        self._record("resume")
        if self.paused:
            self._emit(Resumed(time=T0 + 100))

    def set_max_parallel(self, n: int) -> None:
        self._record("set_max_parallel", str(n))
        self._emit(LimitChanged(time=T0 + 100, max_parallel=max(1, n)))

    def cancel(self, task: str) -> None:
        self._record("cancel", task)

    def cancel_run(self) -> None:
        self._record("cancel_run")

    def retry(self, task: str) -> None:
        self._record("retry", task)

    def retry_failed(self) -> None:
        self._record("retry_failed")

    def rerun(self, task: str) -> None:
        self._record("rerun", task)

    def skip(self, task: str) -> None:
        self._record("skip", task)

    def hold(self, task: str) -> None:
        self._record("hold", task)

    def release(self, task: str) -> None:
        self._record("release", task)


def state(task: str, st: TaskState, at: float, attempt: int = 1, started: float | None = None,
          ended: float | None = None, reason: str = "", pid: int | None = None) -> TaskStateChanged:
    return TaskStateChanged(time=T0 + at, task=task, state=st, attempt=attempt, reason=reason,
                            started=None if started is None else T0 + started,
                            ended=None if ended is None else T0 + ended, pid=pid)


def output(task: str, text: str, at: float, attempt: int = 1) -> TaskOutput:
    return TaskOutput(time=T0 + at, task=task, attempt=attempt, data=text.encode())


def daily_report(paused: bool = True, finished: bool = False) -> list[Event]:
    """The picture at the top of docs/tui.md: systems pulled, one failed, one still running."""
    infos = (
        TaskInfo("setup", ()),
        TaskInfo("extract_sales", ("setup",), group=None),
        TaskInfo("extract_crm", ("setup",)),
        TaskInfo("extract_api", ("setup",)),
        TaskInfo("load", ("extract_sales", "extract_crm")),
        TaskInfo("report", ("load", "extract_api")),
    )
    ev: list[Event] = [RunStarted(time=T0, run_id="2026-11-23T14:02:11", pipeline="daily-report",
                                  file="/srv/daily-report.yaml", run_dir="/srv/.tuiflow/runs/x",
                                  max_parallel=3, tasks=infos)]
    ev += [state("setup", S.RUNNING, 0.0, started=0.0, pid=4301),
           output("setup", "creating workspace\n\x1b[32mready\x1b[0m\n", 0.3),
           state("setup", S.SUCCEEDED, 0.4, started=0.0, ended=0.4)]
    for i, name in enumerate(("extract_sales", "extract_crm", "extract_api")):
        ev.append(state(name, S.RUNNING, 0.5 + i * 0.01, started=0.5 + i * 0.01, pid=4312 + i))
    ev += [output("extract_sales", "".join(f"fetched {n * 10000} rows\n" for n in range(1, 6)), 20),
           output("extract_crm", "connecting to crm.internal:443\n"
                  "\x1b[31merror: connection refused (attempt 1)\x1b[0m\n", 2.0),
           state("extract_crm", S.FAILED, 2.6, started=0.51, ended=2.6, reason="exit 1"),
           state("load", S.BLOCKED, 2.6),
           output("extract_api", "GET /v1/orders 200\nGET /v1/items 200\n", 10),
           state("extract_api", S.SUCCEEDED, 12.8, started=0.52, ended=12.8)]
    if finished:
        ev += [state("extract_sales", S.SUCCEEDED, 41.5, started=0.5, ended=41.5),
               RunFinished(time=T0 + 41.5, state="failed", exit_code=1)]
    elif paused:
        ev.append(Paused(time=T0 + 30))
    return ev
