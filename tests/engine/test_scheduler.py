"""The scheduler with a scripted fake runner: ordering, limits, every control in awkward states."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.engine.fakes import FakeRunner, Recorder, until
from tuiflow.engine import scheduler as scheduler_module
from tuiflow.engine.events import (
    ControlApplied,
    ExecutorChanged,
    LimitChanged,
    Paused,
    RunFinished,
    RunStarted,
    StorageFailed,
    TaskOutput,
    TaskStateChanged,
)
from tuiflow.engine.model import Pipeline, RetryPolicy, TaskSpec, TaskState
from tuiflow.engine.scheduler import Scheduler

S = TaskState


def t(name, command="ok", *deps, **kw) -> TaskSpec:
    return TaskSpec(name=name, command=command, depends_on=tuple(deps), **kw)


def make(*specs, limit=4, **kw):
    pipe = Pipeline(name="p", file="/tmp/p.yaml", tasks=tuple(specs), max_parallel=limit, **kw)
    runner = FakeRunner()
    rec = Recorder()
    return Scheduler(pipe, runner=runner, sinks=[rec]), runner, rec


async def test_runs_a_dag_in_dependency_order_and_reports_success():
    s, runner, rec = make(t("a"), t("b", "ok", "a"), t("c", "ok", "a"), t("d", "ok", "b", "c"))
    assert await s.run() == 0
    order = [n for n, _ in runner.started]
    assert order[0] == "a" and order[-1] == "d" and sorted(order[1:3]) == ["b", "c"]
    assert isinstance(rec.events[0], RunStarted)
    fin = rec.of(RunFinished)
    assert len(fin) == 1 and fin[0].state == "succeeded" and fin[0].exit_code == 0
    assert rec.states("d") == [S.PENDING, S.READY, S.RUNNING, S.RUNNING, S.SUCCEEDED][1:] or \
        rec.states("d")[-1] is S.SUCCEEDED


async def test_independent_tasks_run_in_parallel_under_the_limit():
    s, runner, rec = make(*(t(f"s{i}", "sleep:0.2") for i in range(8)), limit=4)
    peak = 0

    class Peak:
        def handle(self, e):
            nonlocal peak
            peak = max(peak, s.running_count)

    s.subscribe(Peak())
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await s.run() == 0
    assert peak == 4
    assert loop.time() - t0 < 0.7  # two waves of 0.2 s, not eight


async def test_failure_gives_exit_1_and_reason():
    s, runner, rec = make(t("a", "fail:3"), t("b", "ok", "a"), t("x"))
    assert await s.run() == 1
    assert s.state("a") is S.FAILED and s.plan.records["a"].reason == "exit 3"
    assert s.state("b") is S.BLOCKED and s.state("x") is S.SUCCEEDED
    assert rec.of(RunFinished)[0].state == "failed"
    assert s.run_state == "FAILED"


async def test_flaky_task_retries_automatically():
    s, runner, rec = make(t("a", "flaky:3", retry=RetryPolicy(retries=2, delay=0.01)))
    assert await s.run() == 0
    assert runner.started == [("a", 1), ("a", 2), ("a", 3)]
    assert S.RETRYING in rec.states("a")


async def test_timeout_is_its_own_state():
    s, runner, rec = make(t("a", "sleep:5", timeout=0.05))
    assert await s.run() == 1
    assert s.state("a") is S.TIMED_OUT and "timed out" in s.plan.records["a"].reason


async def test_output_reaches_downstream_as_environment():
    evil = 'x"; touch pwned; echo "'
    s, runner, rec = make(t("a", f"echo:{evil}", output="VAL"), t("b", "env:VAL", "a"))
    assert await s.run() == 0
    assert runner.requests["b"].env["VAL"] == evil
    assert rec.output("b") == evil.encode() + b"\n"


async def test_pause_resume_and_limit_changes_mid_run():
    s, runner, rec = make(*(t(f"s{i}", "sleep:0.05") for i in range(6)), limit=2)
    job = asyncio.create_task(s.run())
    await until(lambda: s.running_count == 2)
    s.pause()
    s.pause()  # idempotent
    assert s.run_state == "PAUSED"
    await until(lambda: s.running_count == 0)
    await asyncio.sleep(0.1)
    assert len(runner.started) == 2  # nothing new while paused
    s.set_max_parallel(4)
    s.resume()
    await until(lambda: len(runner.started) == 6)
    assert await job == 0
    assert [e.max_parallel for e in rec.of(LimitChanged)] == [4]
    assert len(rec.of(Paused)) == 1
    controls = [(e.control, e.applied) for e in rec.of(ControlApplied)]
    assert controls == [("pause", True), ("pause", False), ("set_max_parallel", True), ("resume", True)]


class WorkersRunner(FakeRunner):
    """A remote runner (the scheduler's RemoteRunner, as the Dask one is): its commands run on
    workers that come and go."""

    def __init__(self) -> None:
        super().__init__()
        self.where = "cluster: 1 worker"
        self.on_change = None


async def test_a_remote_runner_says_where_commands_run_and_when_that_changes():
    remote = WorkersRunner()
    pipe = Pipeline(name="p", file="/tmp/p.yaml", tasks=(t("a", "sleep:0.2"),))
    rec = Recorder()
    s = Scheduler(pipe, runner=remote, sinks=[rec])
    assert remote.on_change is not None
    job = asyncio.create_task(s.run())
    await until(lambda: s.running_count == 1)
    remote.where = "cluster: 2 workers"
    remote.on_change()
    assert await job == 0
    assert [e.executor for e in rec.of(RunStarted)] == ["cluster: 1 worker"]
    assert [e.executor for e in rec.of(ExecutorChanged)] == ["cluster: 2 workers"]

    local, runner, rec = make(t("a"))    # commands run here: no words, nothing to listen to
    assert await local.run() == 0
    assert [e.executor for e in rec.of(RunStarted)] == [""]
    assert not hasattr(runner, "on_change")


async def test_cancel_one_task_blocks_its_downstream_only():
    s, runner, rec = make(t("a", "sleep:10"), t("b", "ok", "a"), t("x", "sleep:0.05"))
    job = asyncio.create_task(s.run())
    await until(lambda: s.state("a") is S.RUNNING)
    s.cancel("a")
    assert await job == 1
    assert s.state("a") is S.CANCELLED and s.state("b") is S.BLOCKED and s.state("x") is S.SUCCEEDED
    assert runner.cancels == ["a"]


async def test_cancel_run_stops_everything():
    s, runner, rec = make(*(t(f"s{i}", "sleep:10") for i in range(4)), t("after", "ok", "s0"), limit=2)
    job = asyncio.create_task(s.run())
    await until(lambda: s.running_count == 2)
    s.cancel_run()
    assert s.run_state == "CANCELLING"
    assert await job == 1
    assert sorted(runner.cancels) == ["s0", "s1"] and len(runner.started) == 2
    assert s.run_state == "CANCELLED" and rec.of(RunFinished)[0].state == "cancelled"


async def test_stay_open_retry_after_the_run_ended_resumes_downstream():
    s, runner, rec = make(t("a", "flaky:2"), t("b", "ok", "a"))
    job = asyncio.create_task(s.run(stay_open=True))
    await until(lambda: len(rec.of(RunFinished)) == 1)
    assert s.state("b") is S.BLOCKED and s.run_state == "FAILED"
    s.retry("a")
    await until(lambda: len(rec.of(RunFinished)) == 2)
    assert s.state("b") is S.SUCCEEDED and rec.of(RunFinished)[-1].exit_code == 0
    s.close()
    assert await job == 0


async def test_rerun_while_downstream_is_running():
    s, runner, rec = make(t("a"), t("b", "sleep:10", "a"), t("c", "ok", "b"))
    job = asyncio.create_task(s.run(stay_open=True))
    await until(lambda: s.state("b") is S.RUNNING)
    s.rerun("a")
    await until(lambda: s.plan.records["b"].attempt == 2)
    assert [n for n, _ in runner.started] == ["a", "b", "a", "b"]
    assert runner.cancels == ["b"]
    s.close()
    await job


async def test_retry_while_cancelling_and_cancel_in_retry_delay():
    s, runner, rec = make(t("a", "fail", retry=RetryPolicy(retries=3, delay=10)), t("b", "sleep:10"))
    job = asyncio.create_task(s.run(stay_open=True))
    await until(lambda: s.state("a") is S.RETRYING and s.state("b") is S.RUNNING)
    s.cancel("b")
    s.retry("b")  # while cancelling: nothing yet
    s.cancel("a")  # in its retry delay
    await until(lambda: s.state("b") is S.CANCELLED)
    assert s.state("a") is S.CANCELLED
    s.retry("b")
    await until(lambda: s.plan.records["b"].attempt == 2)
    s.close()
    await job
    assert s.state("b") is S.CANCELLED  # close cancels what still runs


async def test_output_is_batched_not_per_line():
    s, runner, rec = make(t("a", "spam:100000"))
    assert await s.run() == 0
    outs = rec.of(TaskOutput)
    assert sum(len(e.data) for e in outs) == 100000 * 61
    assert len(outs) <= 200


async def test_secrets_are_masked_in_output_and_outputs():
    pipe = Pipeline(name="p", file="/tmp/p.yaml", max_parallel=2, secrets=("TOKEN",),
                    tasks=(TaskSpec(name="a", command="echo:key=hunter2-secret", output="OUT",
                                    env={"TOKEN": "hunter2-secret"}),))
    rec = Recorder()
    s = Scheduler(pipe, runner=FakeRunner(), sinks=[rec])
    assert await s.run() == 0
    assert rec.output("a") == b"key=***\n"
    done = [e for e in rec.of(TaskStateChanged) if e.task == "a" and e.state is S.SUCCEEDED]
    assert done[0].output == "key=***"  # shown masked; downstream tasks get the real value


async def engine_lines_run(n: int) -> int:
    """How many lines of tuiflow/engine a run of n independent tasks executes (fake runner)."""
    engine = os.path.dirname(os.path.abspath(scheduler_module.__file__)) + os.sep
    count = 0

    def count_lines(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return count_lines

    def engine_frames_only(frame, event, arg):
        return count_lines if frame.f_code.co_filename.startswith(engine) else None

    s, _runner, _rec = make(*(t(f"t{i}") for i in range(n)), limit=8)
    previous = sys.gettrace()
    sys.settrace(engine_frames_only)
    try:
        code = await s.run()
    finally:
        sys.settrace(previous)
    assert code == 0
    return count


async def test_ten_thousand_tasks_scale_linearly():
    """10x the tasks must cost ~10x the work, not ~100x as quadratic bookkeeping would.

    The work is counted (lines of the engine executed), never timed, so a busy machine cannot
    fail it; the timings are benchmarks/scheduler_only.py's.
    """
    small, big = await engine_lines_run(1000), await engine_lines_run(10000)
    assert 9 * small < big < 12 * small, (small, big, big / small)


async def test_a_write_that_fails_at_the_last_flush_is_in_the_runs_end_not_after_it():
    """The store finds a failed write only when it writes its last batch (a full disk, the
    writer thread behind under load): the scheduler has it write what it holds before saying
    the run ended, so the failure comes first and is in RunFinished (the summary says it)."""

    class LateFailingStore(Recorder):
        run_id, run_dir, on_problem = "r", "/tmp/r", None

        def log_path(self, task: str, attempt: int) -> str:
            return f"/tmp/r/logs/{task}/{attempt}.log"

        async def start(self) -> None:
            pass

        async def sync(self) -> None:
            await asyncio.sleep(0)   # the writer thread's turn
            if self.on_problem is not None and not any(isinstance(e, StorageFailed) for e in self.events):
                self.on_problem("cannot write /tmp/r/logs/a/1.log: No space left on device")

        async def aclose(self) -> None:
            pass

    pipe = Pipeline(name="p", file="/tmp/p.yaml", tasks=(t("a", "echo:x"), t("b", "ok", "a")), max_parallel=2)
    store = LateFailingStore()
    s = Scheduler(pipe, runner=FakeRunner(), store=store)
    assert await s.run() == 120
    kinds = [type(e) for e in store.events]
    assert kinds.index(StorageFailed) < kinds.index(RunFinished)
    (fin,) = store.of(RunFinished)
    assert fin.exit_code == 120 and fin.problem.startswith("cannot write /tmp/r/logs/a/1.log")
