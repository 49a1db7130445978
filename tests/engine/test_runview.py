"""The run view every front end shares: rebuilt from events, and whole again from a snapshot."""

from __future__ import annotations

import json

from tuiflow.engine.events import (
    ControlApplied,
    LimitChanged,
    Paused,
    RunFinished,
    RunStarted,
    RunStateChanged,
    TaskInfo,
    TaskOutput,
    TaskStateChanged,
)
from tuiflow.engine.model import Control, RunState, TaskState
from tuiflow.engine.runview import RunView

S = TaskState


def played() -> tuple[RunView, dict[str, str]]:
    v = RunView()
    v.apply(RunStarted(time=1.0, run_id="r1", pipeline="big", file="/p.yaml", run_dir="/runs/r1", max_parallel=100,
                       tasks=tuple(TaskInfo(f"t{i:04d}", (f"t{i - 1:04d}",) if i % 10 else ()) for i in range(1000)),
                       notes=("/p.yaml:1:1: note: x",)))
    for i in range(0, 1000, 10):
        v.apply(TaskStateChanged(time=2.0, task=f"t{i:04d}", state=S.RUNNING, attempt=1, pid=1000 + i, started=2.0))
    v.apply(TaskOutput(time=2.5, task="t0000", attempt=1, data=b"a\nb\n", offset=0))
    v.apply(TaskStateChanged(time=3.0, task="t0010", state=S.RETRYING, attempt=1, reason="exit 1", started=2.0,
                             ended=3.0))
    v.apply(ControlApplied(time=3.1, control="cancel", task="t0020", by="pid 7"))
    v.apply(LimitChanged(time=3.2, max_parallel=50))
    v.apply(Paused(time=3.3))
    v.apply(RunStateChanged(time=3.3, state=RunState.PAUSED))
    why = {f"t{i:04d}": "waiting for an upstream" for i in range(1000) if i % 10}
    return v, why


def test_a_snapshot_rebuilds_the_same_view_and_a_big_one_stays_small() -> None:
    v, why = played()
    data = v.snapshot(why)
    wire = json.dumps(data, separators=(",", ":"))
    assert len(wire) < 150_000       # 1 000 tasks: what every new task has is not written
    w = RunView()
    w.restore(json.loads(wire))
    assert w.snapshot() == data
    assert w.counts == v.counts and w.state is RunState.PAUSED and w.paused and w.max_parallel == 50
    assert w.tasks["t0020"].cancelling and not w.can(Control.CANCEL, "t0020")
    assert w.tasks["t0010"].attempts[0].state is S.FAILED and w.tasks["t0011"].why == "waiting for an upstream"
    assert (w.tasks["t0000"].output.bytes, w.tasks["t0000"].output.lines) == (4, 2)
    assert w.notes == ("/p.yaml:1:1: note: x",)


def test_an_interrupted_run_cancels_what_ran() -> None:
    v, _ = played()
    names = v.interrupt(9.0, "interrupted: the engine is gone")
    assert len(names) == 99 and v.state is RunState.INTERRUPTED       # all that ran but t0010 (retrying)
    assert v.tasks["t0030"].state is S.CANCELLED and v.tasks["t0030"].ended == 9.0
    v2, _ = played()
    v2.apply(RunFinished(time=5.0, state="succeeded", exit_code=0))
    v2.interrupt(9.0, "gone")
    assert v2.state is RunState.SUCCEEDED                               # an ended run stays what it was
