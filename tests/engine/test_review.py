"""Review: behaviours that contradict docs/running.md or docs/headless.md, each as a focused failing test.

Every test is marked xfail(strict=True): the suite stays green while the bug exists, and turns
red (XPASS) once it is fixed, so the fixer removes the mark in the same change.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.engine.fakes import FakeRunner, Recorder, until
from tuiflow.engine.events import RunFinished, TaskStateChanged
from tuiflow.engine.model import Pipeline, Precondition, RetryPolicy, TaskSpec, TaskState
from tuiflow.engine.runner import LocalRunner
from tuiflow.engine.scheduler import Scheduler

S = TaskState
LINUX = sys.platform.startswith("linux")


def t(name, command="ok", *deps, **kw) -> TaskSpec:
    return TaskSpec(name=name, command=command, depends_on=tuple(deps), **kw)


def make(*specs, limit=4, environ=None, **kw):
    pipe = Pipeline(name="p", file="/tmp/p.yaml", tasks=tuple(specs), max_parallel=limit, **kw)
    runner = FakeRunner()
    rec = Recorder()
    return Scheduler(pipe, runner=runner, sinks=[rec], environ=environ), runner, rec


def make_local(*specs, limit=4, environ=None, **kw):
    pipe = Pipeline(name="p", file="/tmp/p.yaml", tasks=tuple(specs), max_parallel=limit, **kw)
    rec = Recorder()
    return Scheduler(pipe, runner=LocalRunner(), sinks=[rec], environ=environ), rec


def reasons(rec: Recorder) -> list[str]:
    return [e.reason for e in rec.events if isinstance(e, TaskStateChanged)]


# ----------------------------------------------------------------------------- processes


@pytest.mark.skipif(not LINUX, reason="subreaper orphans are a Linux feature")
async def test_daemon_of_a_running_task_survives_another_task_ending(tmp_path):
    pidfile = tmp_path / "daemon.pid"
    # `server` starts a daemon the usual way (an intermediate that exits at once, the daemon in its
    # own session), uses it for a while, then checks it is still there. `short` merely ends meanwhile.
    server = ("sh -c 'setsid sleep 30 >/dev/null 2>&1 & echo $! > daemon.pid'; "
              "sleep 0.8; kill -0 \"$(cat daemon.pid)\"")
    s, rec = make_local(t("short", "sleep 0.3", cwd=str(tmp_path)),
                        t("server", server, cwd=str(tmp_path)))
    try:
        await asyncio.wait_for(s.run(), 10)
        assert s.state("server") is S.SUCCEEDED, s.plan.records["server"].reason
    finally:
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


async def test_cancel_while_a_precondition_runs_ends_at_once_and_never_runs_the_command(tmp_path):
    marker = tmp_path / "ran"
    s, rec = make_local(t("a", f"touch {marker}", cwd=str(tmp_path),
                          preconditions=(Precondition("sleep 2"),)), kill_grace=0.2)
    job = asyncio.create_task(s.run())
    await until(lambda: s.state("a") is S.RUNNING)
    await asyncio.sleep(0.2)
    s.cancel("a")
    t0 = time.monotonic()
    await asyncio.wait_for(job, 10)
    elapsed = time.monotonic() - t0
    assert s.state("a") is S.CANCELLED
    assert not marker.exists(), "a cancelled task's command ran"
    assert elapsed < 1.0, f"cancel took {elapsed:.1f}s: the precondition was not terminated"


# ----------------------------------------------------------------------------- secrets


async def test_precondition_reason_does_not_leak_a_secret(tmp_path):
    env = dict(os.environ, TOKEN="s3cr3t-value-42")
    s, rec = make_local(t("a", "true", cwd=str(tmp_path),
                          preconditions=(Precondition("$TOKEN", expected="nope"),)),
                        secrets=("TOKEN",), environ=env)
    await asyncio.wait_for(s.run(), 10)
    assert s.state("a") is S.SKIPPED
    assert not any("s3cr3t-value-42" in r for r in reasons(rec)), reasons(rec)


async def test_secret_set_from_an_upstream_output_is_masked_downstream():
    s, runner, rec = make(t("login", "echo:abc123xyz", output="TOKEN"),
                          t("use", "env:TOKEN", "login"), secrets=("TOKEN",))
    assert await s.run() == 0
    assert runner.requests["use"].env["TOKEN"] == "abc123xyz"  # the task itself gets the value
    assert b"abc123xyz" not in rec.output("use"), rec.output("use")
    outputs = [e.output for e in rec.events if isinstance(e, TaskStateChanged) and e.output]
    assert not any("abc123xyz" in o for o in outputs), outputs


async def test_output_variable_reaches_downstream_unmasked():
    env = dict(os.environ, TOKEN="s3cr3tvalue")
    s, runner, rec = make(t("mkurl", "echo:https://x/?token=s3cr3tvalue", output="URL"),
                          t("fetch", "ok", "mkurl"), secrets=("TOKEN",), environ=env)
    assert await s.run() == 0
    assert b"s3cr3tvalue" not in rec.output("mkurl")  # masked where people read it...
    assert runner.requests["fetch"].env["URL"] == "https://x/?token=s3cr3tvalue"  # ...not in the data


# ----------------------------------------------------------------------------- run result


async def test_fail_fast_run_is_reported_failed_not_cancelled():
    s, runner, rec = make(t("a", "sleep:0.05&&fail"), t("b", "sleep:5"), fail_fast=True)
    assert await asyncio.wait_for(s.run(), 3) == 1
    assert s.state("b") is S.CANCELLED
    assert rec.of(RunFinished)[0].state == "failed"
    assert s.run_state == "FAILED"


async def test_blocked_task_says_which_upstream_failed():
    s, runner, rec = make(t("fetch", "fail"), t("report", "ok", "fetch"))
    assert await s.run() == 1
    blocked = [e for e in rec.events if isinstance(e, TaskStateChanged) and e.task == "report"
               and e.state is S.BLOCKED]
    assert blocked and "fetch" in blocked[-1].reason, [e.reason for e in blocked]


@pytest.mark.skipif(not LINUX, reason="signals")
def test_run_json_records_the_signal_exit_code(tmp_path):
    (tmp_path / "p.yaml").write_text("name: p\nkill_grace: 200ms\ntasks:\n"
                                     "  - name: long\n    command: sleep 30\n")
    state = tmp_path / "state"
    exe = os.path.join(os.path.dirname(sys.executable), "tuiflow")
    proc = subprocess.Popen([exe, str(tmp_path / "p.yaml"), "--headless", "--state-dir", str(state)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        run_json = None
        while time.monotonic() < deadline:
            runs = list((state / "runs").glob("*/run.json")) if (state / "runs").exists() else []
            if runs:
                try:
                    if json.loads(runs[0].read_text())["tasks"]["long"]["state"] == "running":
                        run_json = runs[0]
                        break
                except (ValueError, KeyError):
                    pass
            time.sleep(0.05)
        assert run_json is not None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads(run_json.read_text())["exit_code"] == 143


# ----------------------------------------------------------------------------- controls


async def test_cancel_of_a_matrix_task_cancels_its_running_instances():
    # what the loader makes of `build: matrix: {r: [us, eu]}`: two instances + a virtual fan-in
    inst = [t("build[r=us]", "sleep:1", parent="build", template="build"),
            t("build[r=eu]", "sleep:1", parent="build", template="build")]
    s, runner, rec = make(*inst, t("build", None, "build[r=us]", "build[r=eu]"), t("after", "ok", "build"))
    job = asyncio.create_task(s.run())
    await until(lambda: s.running_count == 2)
    s.cancel("build")
    assert await asyncio.wait_for(job, 3) == 1
    assert sorted(runner.cancels) == ["build[r=eu]", "build[r=us]"]
    assert s.state("build[r=us]") is S.CANCELLED and s.state("build[r=eu]") is S.CANCELLED


async def test_rerun_keeps_a_held_downstream_held():
    s, runner, rec = make(t("a", "sleep:0.05"), t("b", "ok", "a"))
    job = asyncio.create_task(s.run(stay_open=True))
    await until(lambda: s.state("a") is S.RUNNING)
    s.hold("b")
    await until(lambda: s.state("a") is S.SUCCEEDED)
    s.rerun("a")
    await until(lambda: s.state("a") is S.SUCCEEDED and s.attempt("a") == 2)
    await asyncio.sleep(0.05)
    try:
        assert s.state("b") is S.HELD
        assert ("b", 1) not in runner.started
    finally:
        s.close()
        await asyncio.wait_for(job, 3)


async def test_rerun_of_a_running_downstream_gives_it_its_retries_again():
    s, runner, rec = make(t("x"), t("b", "sleep:0.1&&fail", "x", retry=RetryPolicy(retries=1)))
    job = asyncio.create_task(s.run(stay_open=True))
    await until(lambda: s.state("b") is S.RUNNING and s.attempt("b") == 2)  # its automatic retry
    s.rerun("x")
    try:
        await until(lambda: s.state("b") is S.FAILED and s.attempt("b") >= 3, 3)
        assert s.attempt("b") == 4  # attempt 3 (rerun) fails, then its one automatic retry
    finally:
        s.close()
        await asyncio.wait_for(job, 3)


@pytest.mark.xfail(strict=True, reason="BUG: rerun of a dynamic foreach's source reruns the old instances; "
                   "the new output's items are never expanded (plan.expand is one-shot)")
async def test_rerun_of_a_foreach_source_fans_out_over_its_new_output():
    # `src` prints its attempt number: attempt 1 -> item "1", attempt 2 (rerun) -> item "2"
    s, runner, rec = make(t("src", "env:TUIFLOW_ATTEMPT"), t("proc", "ok", "src", foreach="src"))
    job = asyncio.create_task(s.run(stay_open=True))
    await until(lambda: s.state("proc") is S.SUCCEEDED)
    s.rerun("src")
    try:
        await until(lambda: s.attempt("src") == 2 and s.state("src") is S.SUCCEEDED)
        await asyncio.sleep(0.1)
        assert ("proc[2]", 1) in runner.started, runner.started
    finally:
        s.close()
        await asyncio.wait_for(job, 3)
