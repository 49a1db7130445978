"""The manual gate (`approval: true`): the Plan, the TUI's key, the protocol (who approved is
recorded in events.jsonl) and headless runs (`--approve TASK`, or the gate fails saying why)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.remote.inproc import engine, viewer
from tests.remote.inproc import until as until_remote
from tests.ui.helpers import make_app, screen_text, t, until
from tuiflow.engine.model import RunState, TaskSpec, TaskState
from tuiflow.engine.plan import Plan
from tuiflow.ui.screens.confirm import ApprovalScreen

S = TaskState
SIZE = (120, 36)
TUIFLOW = os.path.join(os.path.dirname(sys.executable), "tuiflow")


def gate(name: str, *deps: str, command: str = "ok") -> TaskSpec:
    return TaskSpec(name=name, command=command, depends_on=deps, approval=True)


def test_a_ready_gate_awaits_approval_until_approved_or_rejected():
    p = Plan([TaskSpec("build", "ok"), gate("deploy", "build"), TaskSpec("smoke", "ok", ("deploy",))])
    p.initial()
    assert p.startable() == ["build"]
    p.finish("build", S.SUCCEEDED, 1.0)
    assert p.state("deploy") is S.AWAITING_APPROVAL and p.startable() == []
    assert not p.finished()  # a person can still move it on
    assert p.why("smoke", 1.0) == "waiting for deploy"
    assert p.reject("deploy", 2.0, "rejected by pid 7") == ["deploy", "smoke"]
    assert p.state("deploy") is S.FAILED and p.state("smoke") is S.BLOCKED
    assert p.why("smoke", 2.0) == "blocked: upstream deploy failed"
    p.retry("deploy")                                   # a retry asks again
    assert p.state("deploy") is S.AWAITING_APPROVAL
    assert p.approve("deploy")[0] == "deploy"
    assert p.startable() == ["deploy"]
    p.finish("deploy", S.SUCCEEDED, 3.0)
    assert p.startable() == ["smoke"]


def test_a_gate_approved_in_advance_runs_and_one_nobody_can_approve_fails_saying_why():
    p = Plan([gate("a"), gate("b"), TaskSpec("after", "ok", ("b",))], approved={"a"}, refuse_gates="needs approval")
    p.initial()
    assert p.state("a") is S.READY
    assert p.state("b") is S.FAILED and p.records["b"].reason == "needs approval"
    assert p.state("after") is S.BLOCKED


async def test_A_asks_then_approves_or_rejects_the_gate_under_the_cursor(tmp_path):
    app, sched, _ = make_app(t("build"), gate("deploy", "build"), t("smoke", "ok", "deploy"),
                             gate("drop_db", "build"), t("after_drop", "ok", "drop_db"), limit=4, tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.state("deploy") is S.AWAITING_APPROVAL and app.dag.built)
        await until(pilot, lambda: "⚑ deploy" in screen_text(app) and "⚑ drop_db" in screen_text(app))
        assert app.tree.select_task("deploy")
        await until(pilot, lambda: app.selected == "deploy")
        assert "awaiting approval" in screen_text(app)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("a")
        await until(pilot, lambda: sched.state("smoke") is S.SUCCEEDED)
        assert app.tree.select_task("drop_db")
        await until(pilot, lambda: app.selected == "drop_db")
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("x")
        await until(pilot, lambda: sched.state("drop_db") is S.FAILED)
        assert sched.state("after_drop") is S.BLOCKED
        await until(pilot, lambda: "✗ drop_db" in screen_text(app) and "FAILED" in screen_text(app))


async def test_an_approval_travels_to_the_engine_and_is_recorded_with_who_gave_it(tmp_path: Path):
    sched, server, _ = engine(tmp_path, t("build"), gate("deploy", "build"))
    job = asyncio.create_task(sched.run(stay_open=True))
    v, _ = await viewer(server)
    await until_remote(lambda: "deploy" in v.view.tasks and v.view.tasks["deploy"].state is S.AWAITING_APPROVAL)
    assert v.can("approve", "deploy") and not v.can("approve", "build")
    v.approve("deploy")
    await until_remote(lambda: v.view.state is RunState.SUCCEEDED)
    v.close()
    await asyncio.wait_for(job, 5)
    events = [json.loads(line) for line in Path(sched.run_dir, "events.jsonl").read_text().splitlines()]
    assert [(e["control"], e["task"], e["by"]) for e in events if e["event"] == "control"] == \
        [("approve", "deploy", v.viewer)]
    assert v.viewer.startswith("pid ")


def headless(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "p.yaml").write_text(textwrap.dedent("""
        name: gated
        tasks:
          - {name: build, command: echo built}
          - {name: deploy, command: echo deployed, depends_on: build, approval: true}
          - {name: smoke, command: echo smoke ok, depends_on: deploy}
        """))
    return subprocess.run([TUIFLOW, "p.yaml", "--headless", *args], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"}, timeout=60)


def test_headless_runs_a_gate_approved_with_approve(tmp_path: Path):
    done = headless(tmp_path, "--approve", "deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deploy │ deployed" in done.stdout and "smoke │ smoke ok" in done.stdout


def test_headless_fails_a_gate_nobody_approved_and_says_how(tmp_path: Path):
    done = headless(tmp_path)
    assert done.returncode == 1
    assert "✗ deploy needs approval, and a headless run cannot ask: approve it in advance with --approve" \
        in done.stdout
    assert "smoke blocked: upstream deploy failed" in done.stdout and "deployed" not in done.stdout


def test_approve_of_a_task_that_is_no_gate_is_a_usage_error(tmp_path: Path):
    done = headless(tmp_path, "--approve", "build")
    assert done.returncode == 2
    assert "--approve build: no task of gated by that name has approval: true (gates: deploy)" in done.stderr
