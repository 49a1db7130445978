"""Replay the scheduler's choices without processes: the start order for --dry-run, and the ETA.

It drives the real Plan, so its order is the order a run would use at the same limit:
critical path first, pools respected, virtual fan-in tasks completing instantly.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass

from .model import Pipeline, TaskState
from .plan import Plan


@dataclass(frozen=True, slots=True)
class Step:
    start: float     # seconds from the run's start (durations: history, else 1 per task)
    name: str
    duration: float


def simulate(pipeline: Pipeline, max_parallel: int | None = None,
             durations: Mapping[str, float] | None = None, default: float = 1.0) -> list[Step]:
    """Every task start, in the order a run at `max_parallel` would make them."""
    durations = durations or {}
    plan = Plan(pipeline.tasks, max_parallel=max_parallel or pipeline.max_parallel, pools=pipeline.pools,
                weights=durations or None)
    plan.initial()
    steps: list[Step] = []
    running: list[tuple[float, int, str]] = []
    now = 0.0
    seq = 0
    while True:
        for name in plan.startable():
            d = durations.get(name, default)
            steps.append(Step(now, name, d))
            seq += 1
            heapq.heappush(running, (now + d, seq, name))
        if not running:
            return steps
        now, _, name = heapq.heappop(running)
        plan.finish(name, TaskState.SUCCEEDED, now)


def makespan(steps: list[Step]) -> float:
    return max((s.start + s.duration for s in steps), default=0.0)
