"""Dynamic foreach: instances join the running plan, obey limits, fan in, retry one by one."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.engine.fakes import FakeRunner, Recorder
from tuiflow.engine.events import TasksAdded
from tuiflow.engine.model import Pipeline, TaskSpec, TaskState
from tuiflow.engine.scheduler import Scheduler

S = TaskState


def pipeline(items: list[str], proc="ok", limit=4) -> Pipeline:
    listing = "&&".join(f"echo:{i}" for i in items) or "ok"
    return Pipeline(name="p", file="/tmp/p.yaml", max_parallel=limit, tasks=(
        TaskSpec(name="list", command=listing),
        TaskSpec(name="proc", command=proc, depends_on=("list",), foreach="list"),
        TaskSpec(name="summary", command="ok", depends_on=("proc",)),
    ))


@pytest.mark.parametrize("n", [0, 1, 500])
async def test_foreach_fans_out_and_in(n):
    items = [f"file{i}.csv" for i in range(n)]
    runner, rec = FakeRunner(), Recorder()
    s = Scheduler(pipeline(items, proc="env:ITEM"), runner=runner, sinks=[rec])
    assert await s.run() == 0
    names = [f"proc[file{i}.csv]" for i in range(n)]
    started = [t for t, _ in runner.started]
    assert started[0] == "list" and started[-1] == "summary"
    assert sorted(started[1:-1]) == sorted(names)
    added = rec.of(TasksAdded)
    assert len(added) == 1 and [t.name for t in added[0].tasks] == names
    assert all(t.parent == "proc" for t in added[0].tasks)
    if n:
        assert rec.output(names[-1]) == f"file{n - 1}.csv\n".encode()
    assert s.state("proc") is S.SUCCEEDED


async def test_instance_names_are_sanitised_and_unique():
    runner, rec = FakeRunner(), Recorder()
    s = Scheduler(pipeline(["a/b", "a/b", "x[1]"]), runner=runner, sinks=[rec])
    assert await s.run() == 0
    names = [t.name for t in rec.of(TasksAdded)[0].tasks]
    assert names == ["proc[a_b]", "proc[a_b#2]", "proc[x_1_]"]
    assert runner.requests["proc[a_b#2]"].env["ITEM"] == "a/b"


async def test_failed_instance_retried_while_siblings_run():
    pipe = pipeline(["a", "b", "c"], limit=4)
    tasks = list(pipe.tasks)
    # instance b fails on its first attempt; the others take a while
    runner, rec = FakeRunner(), Recorder()
    orig_start = runner.start

    async def start(request, on_output):
        if request.task == "proc[b]" and request.attempt == 1:
            request = replace(request, command="fail")
        elif request.task.startswith("proc["):
            request = replace(request, command="sleep:0.3")
        return await orig_start(request, on_output)

    runner.start = start
    s = Scheduler(Pipeline(name="p", file="/tmp/p.yaml", max_parallel=4, tasks=tuple(tasks)),
                  runner=runner, sinks=[rec])
    job = asyncio.create_task(s.run(stay_open=True))
    for _ in range(400):
        if "proc[b]" in s.plan.records and s.state("proc[b]") is S.FAILED:
            break
        await asyncio.sleep(0.005)
    assert s.state("proc[a]") is S.RUNNING and s.state("proc[c]") is S.RUNNING
    assert s.state("proc") is S.PENDING or s.state("proc") is S.BLOCKED
    s.retry("proc[b]")
    for _ in range(400):
        if s.state("summary") is S.SUCCEEDED:
            break
        await asyncio.sleep(0.005)
    assert s.state("summary") is S.SUCCEEDED
    assert ("proc[b]", 2) in runner.started
    s.close()
    assert await job == 0


async def test_more_than_the_limit_of_items_fails_clearly(monkeypatch):
    import tuiflow.engine.scheduler as sched
    monkeypatch.setattr(sched, "FOREACH_LIMIT", 3)
    s = Scheduler(pipeline(["a", "b", "c", "d"]), runner=FakeRunner())
    assert await s.run() == 1
    assert s.state("proc") is S.FAILED and "more than 3" in s.plan.records["proc"].reason
