"""Snapshots (pytest-textual-snapshot) of every view, from a scripted run with a frozen clock.

Update after a deliberate change with `pytest tests/ui/test_snapshots.py --snapshot-update`
and look at the SVGs (snapshot_report.html) before committing them.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.ui.scripted import T0, ScriptedScheduler, daily_report
from tuiflow.ui.app import TuiflowApp

NOW = T0 + 41.0


def drawn_with() -> str:
    """The Textual the SVGs are drawn with: the exact pin of the test extra in pyproject.toml.

    tuiflow itself takes any Textual 8 from 8.2.8 on; a snapshot is a picture of one release's
    rendering, so its comparison means something only on that release.
    """
    with open(Path(__file__).resolve().parents[2] / "pyproject.toml", "rb") as f:
        extra = tomllib.load(f)["project"]["optional-dependencies"]["test"]
    (pin,) = [d.split("==")[1] for d in extra if d.startswith("textual==")]
    return pin


@pytest.fixture(autouse=True)
def the_textual_the_snapshots_were_drawn_with() -> None:
    installed, drawn = version("textual"), drawn_with()
    if installed != drawn:
        pytest.fail(f"the snapshots are drawn with Textual {drawn} (the test extra's pin), this is {installed}: "
                    f"install `.[test]`, or redraw them for {installed} with --snapshot-update and check every SVG")


def scripted_app(tmp_path, theme: str | None = None, finished: bool = False, paused: bool = True) -> TuiflowApp:
    sched = ScriptedScheduler(daily_report(paused=paused, finished=finished), tmp_path)
    return TuiflowApp(sched, theme=theme, clock=lambda: NOW, terminal_alerts=False, title="daily-report")


async def settle(pilot, select: str = "extract_crm") -> None:
    app = pilot.app
    for _ in range(200):
        if app.dag.built and app.model.started_at is not None:
            break
        await pilot.pause(0.01)
    await pilot.pause(0.1)
    app.tree.select_task(select)
    await pilot.pause(0.1)
    app.clear_notifications()
    await pilot.pause()


def test_main_screen_paused_with_a_failure(snap_compare, tmp_path):
    assert snap_compare(scripted_app(tmp_path), terminal_size=(120, 36), run_before=settle)


def test_main_screen_at_80x24(snap_compare, tmp_path):
    assert snap_compare(scripted_app(tmp_path), terminal_size=(80, 24), run_before=settle)


def test_blocked_task_says_why_it_waits(snap_compare, tmp_path):
    async def before(pilot):
        await settle(pilot, "load")
    assert snap_compare(scripted_app(tmp_path), terminal_size=(100, 24), run_before=before)


def test_stages_view(snap_compare, tmp_path):
    assert snap_compare(scripted_app(tmp_path, finished=True), press=["v", "_"],
                        terminal_size=(100, 24), run_before=settle)


def test_timeline(snap_compare, tmp_path):
    assert snap_compare(scripted_app(tmp_path, finished=True), press=["t", "_"],
                        terminal_size=(100, 24), run_before=settle)


def test_help_screen(snap_compare, tmp_path):
    assert snap_compare(scripted_app(tmp_path), press=["question_mark", "_"],
                        terminal_size=(100, 40), run_before=settle)


@pytest.mark.parametrize("theme", ["tuiflow-dark", "tuiflow-light", "tuiflow-ansi"])
def test_each_theme(snap_compare, tmp_path, theme):
    assert snap_compare(scripted_app(tmp_path, theme=theme), terminal_size=(100, 24), run_before=settle)


async def test_header_shows_the_eta_when_the_engine_knows_it(tmp_path):
    from tests.ui.helpers import screen_text
    from tuiflow.engine.events import EtaChanged

    events = daily_report(paused=False)
    events.append(EtaChanged(time=NOW - 1.0, eta_seconds=95.0))
    app = TuiflowApp(ScriptedScheduler(events, tmp_path), clock=lambda: NOW, terminal_alerts=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        assert "ETA 00:01:34" in screen_text(app)
        assert "RUNNING" in screen_text(app) and "1 running / limit 3" in screen_text(app)
