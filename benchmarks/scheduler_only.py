#!/usr/bin/env python3
"""The scheduler's own cost, without processes: an instant runner drives the real Scheduler.

    .venv/bin/python benchmarks/scheduler_only.py [wide|chain|layers] N [--profile]

Every command "runs" in no time, so the figure is the plan, the loop and the events alone; it
must grow linearly (10 000 tasks <= 10x 1 000). A quadratic step anywhere shows here first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repo, unless PYTHONPATH names another
import workloads  # noqa: E402

from tuiflow.engine.events import Event  # noqa: E402
from tuiflow.engine.model import Pipeline, TaskSpec  # noqa: E402
from tuiflow.engine.runner import CommandRequest, CommandResult, OutputCallback  # noqa: E402


class _Done:
    pid = None

    async def wait(self) -> CommandResult:
        return CommandResult(exit_code=0)

    def cancel(self) -> None:
        pass


class InstantRunner:
    """A CommandRunner whose commands succeed at once with no output."""

    async def start(self, request: CommandRequest, on_output: OutputCallback) -> _Done:
        return _Done()

    async def aclose(self) -> None:
        pass


class _CountingSink:
    def __init__(self) -> None:
        self.events = 0

    def handle(self, event: Event) -> None:
        self.events += 1


def pipeline_for(kind: str, n: int, max_parallel: int = 8) -> Pipeline:
    sizes = (10, n // 10) if kind == "layers" else (n,)  # layers of 10: edges grow linearly with n
    tasks = tuple(TaskSpec(name=name, command=cmd, depends_on=tuple(deps))
                  for name, cmd, deps in workloads.build(kind, *sizes))
    return Pipeline(name=f"{kind}_{n}", file="/dev/null", tasks=tasks, max_parallel=max_parallel)


def time_scheduler(kind: str, n: int, store: bool = False) -> float:
    """Seconds for one whole run of `kind` with `n` instant tasks (pipeline built outside the timing).

    `store=True` adds the run folder (RunStore in a temp dir), as a real run has it.
    """
    from tuiflow.engine.scheduler import Scheduler

    pipeline = pipeline_for(kind, n)

    async def go(state_dir: str) -> float:
        sink = _CountingSink()
        t0 = time.perf_counter()
        run_store = None
        if store:
            from tuiflow.engine.store import RunStore
            run_store = RunStore.create(state_dir, pipeline)
        sched = Scheduler(pipeline, runner=InstantRunner(), sinks=[sink], store=run_store)
        code = await sched.run()
        elapsed = time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f"{kind} {n}: exit {code}")
        return elapsed

    with tempfile.TemporaryDirectory(prefix="tuiflow-sched-") as tmp:
        return asyncio.run(go(tmp))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["wide", "chain", "layers"])
    ap.add_argument("n", type=int)
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile of one run")
    ap.add_argument("--store", action="store_true", help="with the run folder (run.json, events, logs)")
    a = ap.parse_args()
    if a.profile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
        t = time_scheduler(a.kind, a.n, a.store)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    else:
        t = time_scheduler(a.kind, a.n, a.store)
    print(f"{a.kind} {a.n}: {t:.3f} s ({t / a.n * 1e6:.0f} µs a task)")


if __name__ == "__main__":
    main()
