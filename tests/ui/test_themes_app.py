"""Themes in the running app: --theme, broken files, the state colours following the theme."""

from __future__ import annotations

from pathlib import Path

from tests.ui.helpers import make_app, t, until
from tuiflow.ui import themes


def status_colour(app, state: str) -> str:
    return str(app.dag.get_component_rich_style(f"status--{state}").color)


async def test_theme_option_and_switching_recolour_the_states():
    app, sched, _ = make_app(t("a"), theme="tuiflow-light")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        assert app.theme == "tuiflow-light"
        light = status_colour(app, "succeeded")
        app.theme = "tuiflow-dark"
        await pilot.pause()
        assert status_colour(app, "succeeded") != light


async def test_unknown_theme_falls_back_to_the_default_with_one_notification():
    app, sched, _ = make_app(t("a"), theme="no-such-theme")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.theme == "tuiflow-dark"
        problems = [n for n in app._notifications if n.title.startswith("Theme")]  # noqa: SLF001
        assert len(problems) == 1 and "no-such-theme" in problems[0].message


async def test_broken_theme_files_are_named_in_one_notification(tmp_path: Path, monkeypatch):
    for src in themes.theme_dirs()[0].glob("*.yaml"):
        (tmp_path / src.name).write_text(src.read_text())
    (tmp_path / "broken.yaml").write_text("name: broken\nprimary: 12\n")
    (tmp_path / "worse.yaml").write_text("::: not yaml [\n")
    monkeypatch.setattr(themes, "theme_dirs", lambda: [tmp_path])
    app, sched, _ = make_app(t("a"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        notes = [n for n in app._notifications if n.title.startswith("Theme")]  # noqa: SLF001
        assert len(notes) == 1
        assert "broken.yaml" in notes[0].message and "worse.yaml" in notes[0].message
        assert app.theme == "tuiflow-dark"


async def test_ansi_theme_uses_only_the_sixteen_colours():
    app, sched, _ = make_app(t("a", "fail"), theme="tuiflow-ansi")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.model.result == "failed")
        for state in ("failed", "succeeded", "running", "pending", "blocked"):
            colour = app.dag.get_component_rich_style(f"status--{state}").color
            assert colour is not None and colour.number is not None and colour.number < 16, (state, colour)
