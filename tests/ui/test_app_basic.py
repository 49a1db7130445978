"""Pilot tests: the main screen and every control, against the real scheduler + FakeRunner."""

from __future__ import annotations

from tests.ui.helpers import make_app, screen_text, t, until
from tuiflow.engine.model import TaskState

S = TaskState


async def test_main_screen_shows_tree_header_progress_and_log(tmp_path):
    app, sched, _ = make_app(t("setup", "echo:hello from setup"), t("build", "sleep:30", "setup"),
                             t("lint", "fail:3"), tmp=tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: sched.state("lint") is S.FAILED and sched.state("build") is S.RUNNING)
        text = screen_text(app)
        assert "demo" in text and "RUNNING" in text and "1 running / limit 2" in text
        assert "✓ setup" in text and "● build" in text and "✗ lint" in text and "exit 3" in text
        assert "hello from setup" in text  # the first task is selected and its log shown
        assert "2/3" in text and "✓1 ✗1 ●1" in text
        sched.cancel_run()
        await until(pilot, lambda: app.model.result is not None)


async def test_ten_thousand_tasks_open_and_every_task_has_a_row():
    """Speed is measured in benchmarks/tui_big_tree.py; this bound only catches an O(n²) build."""
    import time

    specs = [t(f"t{i}", "ok", *((f"t{i - 100}",) if i >= 100 else ())) for i in range(10_000)]
    app, sched, _ = make_app(*specs, limit=8)
    async with app.run_test(size=(120, 36)) as pilot:
        start = time.monotonic()
        await until(pilot, lambda: app.dag.built, timeout=30)
        assert time.monotonic() - start < 10
        assert len(app.dag.nodes) == 10_000
        await until(pilot, lambda: app.model.result is not None, timeout=60)
        await pilot.press("end")
        await pilot.pause()
        assert "SUCCEEDED" in screen_text(app)


async def test_a_scheduler_that_crashes_is_a_visible_error_and_quits_with_1(tmp_path):
    from tests.ui.scripted import ScriptedScheduler, daily_report
    from tuiflow.ui.app import TuiflowApp

    class Broken(ScriptedScheduler):
        async def run(self, stay_open: bool = False) -> int:
            for event in self.events[:3]:
                self._emit(event)
            raise RuntimeError("disk on fire")

    app = TuiflowApp(Broken(daily_report(), tmp_path), terminal_alerts=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.run_error is not None)
        await pilot.pause()
        assert "ERROR" in screen_text(app) and "disk on fire" in screen_text(app)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 1


async def test_the_pipelines_notes_show_when_the_run_starts():
    """What the loader noted (a Dagu file run as a graph, an output read without depending on
    it) is said on screen, not only by `validate`."""
    note = "/p.yaml:3:1: note: steps without depends start at once (add type: chain to run them in order)"
    app, sched, _ = make_app(t("a"), notes=(note,))
    told: list[tuple[str, str]] = []
    app.notify = lambda message, **kw: told.append((kw.get("title", ""), message))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.model.result is not None)
        assert ("Notes on this pipeline", note) in told
