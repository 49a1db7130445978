"""What the UI says about a run: cancelled is not failed, folders show their members, one task
count everywhere, a clock that runs while the run does, an ETA that never lies."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.engine.fakes import FakeRunner
from tests.ui.helpers import FileStore, make_app, screen_text, t, until
from tests.ui.scripted import ScriptedScheduler, daily_report
from tests.ui.test_snapshots import NOW, settle
from tuiflow.engine.events import EtaChanged
from tuiflow.engine.loader import load
from tuiflow.engine.model import Pipeline, TaskState
from tuiflow.engine.scheduler import Scheduler
from tuiflow.ui.app import TuiflowApp
from tuiflow.ui.screens.confirm import ConfirmScreen

S = TaskState
SIZE = (120, 36)
SAMPLES = Path(__file__).resolve().parents[2] / "sample_pipelines"
TUIFLOW = os.path.join(os.path.dirname(sys.executable), "tuiflow")


async def test_cancelling_the_run_is_called_cancelled_never_failed():
    app, sched, _ = make_app(t("build", "sleep:30"), t("test", "ok", "build"), t("other", "sleep:30"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: sched.running_count == 2)
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: app.model.result == "cancelled")
        await until(pilot, lambda: "Run cancelled" in screen_text(app))
        text = screen_text(app)
        assert "2 cancelled" in text and "failed" not in text
        assert sched.why("test") == "blocked: upstream build was cancelled"
        summary = app.summary().plain
        assert "blocked: upstream build was cancelled" in summary and "failed" not in summary


async def test_a_folder_row_shows_its_members_worst_live_state_and_counts_only_what_succeeded():
    specs = (t("m[x=1]", "sleep:30", parent="m"), t("m[x=2]", "ok", parent="m"),
             t("m", None, "m[x=1]", "m[x=2]"),
             t("n[x=1]", "sleep:30", parent="n"), t("n[x=2]", "fail", parent="n"), t("n[x=3]", "ok", parent="n"),
             t("n", None, "n[x=1]", "n[x=2]", "n[x=3]"))
    app, sched, _ = make_app(*specs, limit=5)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.state("n[x=2]") is S.FAILED and sched.state("n[x=3]") is S.SUCCEEDED
                    and sched.state("m[x=2]") is S.SUCCEEDED and app.dag.built)
        await until(pilot, lambda: "● m " in screen_text(app))      # a member runs: the folder runs
        await until(pilot, lambda: "✗ n " in screen_text(app))      # a member failed: the folder shows it
        text = screen_text(app)
        assert "1/2" in text and "1/3" in text                       # a failure is not done
        sched.cancel_run()
        await until(pilot, lambda: app.model.result is not None)


async def test_the_tui_counts_the_tasks_validate_counts(tmp_path):
    pipeline = load(str(SAMPLES / "matrix_regions.yaml"))
    store = FileStore(tmp_path)
    sched = Scheduler(pipeline, runner=FakeRunner(), store=store)
    app = TuiflowApp(sched, terminal_alerts=False, title=pipeline.name)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result is not None)
        await until(pilot, lambda: "/11 " in screen_text(app))  # the fake runner fails every real command
    validate = subprocess.run([TUIFLOW, "validate", str(SAMPLES / "matrix_regions.yaml")],
                              capture_output=True, text=True, check=True).stdout
    assert "(11 tasks)" in validate
    headless = subprocess.run([TUIFLOW, str(SAMPLES / "matrix_regions.yaml"), "--headless",
                               "--state-dir", str(tmp_path / "state")],
                              capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}).stdout
    assert " · 11 tasks · " in headless and "11 tasks: 11 succeeded" in headless


def test_dry_run_lists_every_task_it_counts(tmp_path):
    out = subprocess.run([TUIFLOW, str(SAMPLES / "retries_failures.yaml"), "--dry-run"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith("retries_failures: 9 tasks")
    assert len(out) - 1 == 9
    assert "alert" in out[-1] and "starts only if an upstream fails" in out[-1]


async def test_the_clock_runs_while_tasks_are_held():
    now = [1_795_000_000.0]
    pipe = Pipeline(name="demo", file="/tmp/demo.yaml", tasks=(t("gate", "ok"), t("later", "ok", "gate")))
    sched = Scheduler(pipe, runner=FakeRunner(), clock=lambda: now[0])
    sched.hold("later")
    app = TuiflowApp(sched, terminal_alerts=False, title="demo", clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.state("gate") is S.SUCCEEDED and sched.state("later") is S.HELD)
        await until(pilot, lambda: "00:00:00" in screen_text(app).splitlines()[0])
        for seconds in (7, 12, 20):  # every second a tick, however long the task is held
            now[0] = 1_795_000_000.0 + seconds
            await until(pilot, lambda s=seconds: f"00:00:{s:02d}" in screen_text(app).splitlines()[0], timeout=5)
        sched.cancel_run()
        await until(pilot, lambda: app.model.result is not None)


async def test_an_eta_that_ran_out_while_tasks_run_says_unknown(tmp_path):
    events = daily_report(paused=False)
    events.append(EtaChanged(time=NOW - 100.0, eta_seconds=30.0))
    app = TuiflowApp(ScriptedScheduler(events, tmp_path), clock=lambda: NOW, terminal_alerts=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        header = screen_text(app).splitlines()[0]
        assert "ETA unknown" in header and "ETA 00:00:00" not in header
        await asyncio.sleep(0)


async def test_the_record_of_a_big_run_lists_its_failures_and_counts_the_rest():
    specs = [t(f"task{i:02d}", "fail" if i in (7, 31) else "ok") for i in range(60)]
    app, sched, _ = make_app(*specs, limit=8)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "failed")
        short = app.summary().plain.splitlines()
        app.full_summary = True
        full = app.summary().plain.splitlines()
    assert len(short) <= 6, short
    assert any("✗ task07" in line and "exit 1" in line for line in short)
    assert any("✗ task31" in line for line in short)
    assert any("58 more: ✓ 58 succeeded" in line and "--summary full" in line for line in short)
    assert len(full) == 62 and any("✓ task59" in line for line in full)


async def test_toasts_at_80x24_stay_off_the_selected_log_and_the_counts():
    app, sched, _ = make_app(t("a", "echo:a long log && fail"), t("b", "fail"), t("c", "sleep:0.3 && fail"))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await until(pilot, lambda: app.model.result == "failed")
        await until(pilot, lambda: len(app.screen.query("Toast")) > 0)
        await pilot.pause(0.2)
        log, counts = app.main_pane.region, app.progress.region
        for toast in app.screen.query("Toast"):
            assert not toast.region.overlaps(log), (toast.region, log)
            assert not toast.region.overlaps(counts), (toast.region, counts)
            assert toast.region.height <= 3


async def test_retrying_after_the_file_was_edited_says_it_runs_the_commands_as_loaded(tmp_path):
    file = tmp_path / "p.yaml"
    file.write_text("name: demo\n")
    pipe = Pipeline(name="demo", file=str(file), tasks=(t("a", "fail"),))
    sched = Scheduler(pipe, runner=FakeRunner(), store=FileStore(tmp_path))
    app = TuiflowApp(sched, terminal_alerts=False, title="demo")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: app.model.result == "failed" and app.selected == "a")
        file.write_text("name: demo\ntasks: [changed]\n")
        await pilot.press("r")
        await until(pilot, lambda: "p.yaml changed since the run started" in screen_text(app))
        assert "runs the commands as loaded" in screen_text(app)


async def test_a_retried_tasks_duration_is_its_last_attempts_not_the_idle_time_before_it():
    now = [1_795_000_000.0]
    pipe = Pipeline(name="demo", file="/nonexistent/demo.yaml", tasks=(t("a", "flaky:2"),))
    sched = Scheduler(pipe, runner=FakeRunner(), clock=lambda: now[0])
    app = TuiflowApp(sched, terminal_alerts=False, title="demo", clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "failed" and app.selected == "a")
        now[0] += 22.0                 # the task sits failed for 22 s, then is retried
        await pilot.press("r")
        await until(pilot, lambda: sched.attempt("a") == 2 and app.model.result == "succeeded")
        await until(pilot, lambda: "#2" in screen_text(app).splitlines()[1])
        row = screen_text(app).splitlines()[1]
        assert "0.0s #2" in row and "22" not in row
        assert app.model.tasks["a"].duration(now[0]) == 0.0
