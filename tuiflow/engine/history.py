"""What earlier runs of a pipeline tell a new one: task durations, and what --resume may reuse."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from .errors import UsageError
from .model import Pipeline
from .runs import list_runs

RUNS_FOR_DURATIONS = 5


def runs_of(pipeline: Pipeline, state_dir: str, look_at: int | None = None) -> list[dict]:
    """Earlier runs of this pipeline file, newest first (among the newest `look_at` of the folder)."""
    return [r for r in list_runs(state_dir, look_at) if r.get("file") == pipeline.file]


def durations(pipeline: Pipeline, state_dir: str) -> dict[str, float]:
    """Median duration of each task's successful attempts over the last few runs."""
    seen: dict[str, list[float]] = {}
    for run in runs_of(pipeline, state_dir, 4 * RUNS_FOR_DURATIONS)[:RUNS_FOR_DURATIONS]:
        for name, task in (run.get("tasks") or {}).items():
            d = task.get("duration")
            if task.get("state") == "succeeded" and isinstance(d, (int, float)):
                seen.setdefault(name, []).append(float(d))
    if not seen:
        return {}
    from statistics import median  # not at import: it costs a first run ~3 ms of start-up

    return {name: median(ds) for name, ds in seen.items()}


class ResumePlan(NamedTuple):
    run_id: str
    reuse: Mapping[str, str | None] = MappingProxyType({})          # task -> its output value
    changed: tuple[str, ...] = ()                                     # succeeded before, edited since


def plan_resume(pipeline: Pipeline, state_dir: str, run_id: str | None = None,
                force: bool = False) -> ResumePlan:
    """Which succeeded tasks of an earlier run a new run can reuse.

    A run that is still live (its engine process exists: runs.engine_alive) is refused.
    A task is reused when it succeeded, its spec is unchanged and every upstream is reused too.
    A succeeded task whose spec changed makes the resume refuse (UsageError) unless `force`,
    which runs it again. A foreach source is reused only with its foreach task, because the
    items come from its output, which is not kept.
    """
    runs = runs_of(pipeline, state_dir)
    if run_id is not None:
        runs = [r for r in runs if r.get("run_id") == run_id]
        if not runs:
            raise UsageError(f"no run {run_id!r} of {pipeline.file} in {state_dir}")
    if not runs:
        raise UsageError(f"nothing to resume: no earlier run of {pipeline.file} in {state_dir}")
    run = runs[0]
    if run.get("state") == "running":   # load_run says so only while its engine process lives
        pid = f" (engine pid {run['pid']})" if run.get("pid") else ""
        raise UsageError(f"run {run['run_id']} is still running{pid}: resuming it would run its tasks "
                         f"twice; attach to it with `tuiflow attach {run['run_id']}`, or cancel it "
                         f"first (`C` in its TUI, or kill -TERM {run.get('pid') or 'PID'})")
    old_tasks = run.get("tasks") or {}
    old_digests = run.get("task_digests") or {}
    specs = {t.name: t for t in pipeline.tasks}
    succeeded = {n for n, t in old_tasks.items() if t.get("state") == "succeeded" and n in specs}
    changed = sorted(n for n in succeeded if old_digests.get(n) != pipeline.task_digests.get(n))
    if changed and not force:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise UsageError(f"cannot resume run {run['run_id']}: the pipeline changed for tasks that "
                         f"succeeded there ({shown}); use --force to run them again")
    reusable = succeeded - set(changed)
    if pipeline.secrets:  # a masked output cannot be given to downstream tasks again
        reusable = {n for n in reusable if "***" not in (old_tasks[n].get("output") or "")}
    for spec in pipeline.tasks:
        if isinstance(spec.foreach, str) and spec.name not in reusable:
            reusable.discard(spec.foreach)
    reuse: dict[str, str | None] = {}
    for name in _topological(specs):
        if name in reusable and all(up in reuse for up in specs[name].depends_on):
            reuse[name] = old_tasks[name].get("output")
    return ResumePlan(run_id=run["run_id"], reuse=reuse, changed=tuple(changed))


def _topological(specs: Mapping) -> list[str]:
    from .graph import topological_order
    return topological_order({n: s.depends_on for n, s in specs.items()})
