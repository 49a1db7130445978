"""Keys as a new user sends them: in bursts, ctrl+c, arrows, a narrow footer, the command palette."""

from __future__ import annotations

from textual import events

from tests.ui.helpers import make_app, screen_text, t, until
from tuiflow.engine.model import TaskState
from tuiflow.ui.screens.confirm import ConfirmScreen, QuitScreen

S = TaskState
SIZE = (120, 36)


def burst(app, *keys: str) -> None:
    """Keys queued all at once, as they arrive over SSH or typed ahead: nothing runs in between."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


async def test_r_in_a_burst_retries_the_row_the_cursor_is_on():
    app, sched, _ = make_app(*(t(f"t{i}", "fail") for i in range(8)), limit=8)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "failed" and app.selected == "t0")
        burst(app, "down", "down", "down", "r")
        await until(pilot, lambda: any(sched.attempt(f"t{i}") == 2 for i in range(8)))
        assert [n for n in sched.specs if sched.attempt(n) == 2] == ["t3"]


async def test_enter_in_a_burst_pins_the_row_the_cursor_is_on():
    app, sched, _ = make_app(*(t(f"t{i}", f"echo:out of t{i}") for i in range(4)), limit=4)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded" and app.selected == "t0")
        burst(app, "down", "enter")
        await until(pilot, lambda: len(app.panes()) == 2)
        assert [p.task_name for p in app.panes() if p.pinned] == ["t1"]


async def test_c_in_a_burst_asks_about_the_row_the_cursor_is_on():
    app, sched, _ = make_app(*(t(f"t{i}", "sleep:30") for i in range(10)), limit=10)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.running_count == 10 and app.selected == "t0")
        burst(app, *["down"] * 8, "c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Cancel task t8?" in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: sched.state("t8") is S.CANCELLED)
        assert sched.running_count == 9
        sched.cancel_run()
        await until(pilot, lambda: app.model.result is not None)


async def test_ctrl_c_opens_the_quit_dialog():
    app, sched, _ = make_app(t("a", "sleep:30"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.state("a") is S.RUNNING)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        assert "ctrl+q" not in screen_text(app)
        await pilot.press("c")
        await until(pilot, lambda: not app.is_running)
    assert sched.state("a") is S.CANCELLED


async def test_left_folds_and_right_unfolds_the_tree():
    app, sched, _ = make_app(t("root"), t("child", "ok", "root"), t("grandchild", "ok", "child"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded" and app.selected == "root")
        assert "grandchild" in screen_text(app)
        await pilot.press("left")
        await until(pilot, lambda: "child" not in screen_text(app).split("▕")[0])
        await pilot.press("right")
        await until(pilot, lambda: "grandchild" in screen_text(app))
        await pilot.press("right")  # on an open folder: to its first child
        await until(pilot, lambda: app.selected == "child")
        await pilot.press("left", "left")  # fold child, then up to root
        await until(pilot, lambda: app.selected == "root")
        assert "grandchild" not in screen_text(app)


async def test_the_footer_keeps_help_and_quit_at_60_columns():
    app, sched, _ = make_app(t("a", "sleep:30"), t("b", "ok", "a"))
    async with app.run_test(size=(60, 20)) as pilot:
        await until(pilot, lambda: sched.state("a") is S.RUNNING and app.selected == "a")
        await pilot.pause(0.1)
        footer = screen_text(app).splitlines()[-1]
        assert "? help" in footer and "q quit" in footer
        sched.cancel_run()
        await until(pilot, lambda: app.model.result is not None)


async def test_the_footer_lists_skip_hold_rerun_and_says_resume_while_paused():
    app, sched, _ = make_app(t("a", "sleep:30"), t("b", "ok", "a"))
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: sched.state("a") is S.RUNNING and app.selected == "a")
        await pilot.press("down")
        await until(pilot, lambda: app.selected == "b")
        await pilot.pause(0.1)
        footer = screen_text(app).splitlines()[-1]
        assert "p pause" in footer and "s skip" in footer and "h hold" in footer and "e rerun" in footer
        await pilot.press("p")
        await until(pilot, lambda: "p resume" in screen_text(app).splitlines()[-1])
        assert "p pause" not in screen_text(app).splitlines()[-1]
        await pilot.press("p")
        await until(pilot, lambda: not sched.paused and "p pause" in screen_text(app).splitlines()[-1])
        sched.cancel_run()
        await until(pilot, lambda: app.model.result is not None)


async def test_e_asks_before_rerunning():
    app, sched, _ = make_app(t("a"), t("b", "ok", "a"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded" and app.selected == "a")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Rerun a and everything downstream" in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert sched.attempt("a") == 1
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: sched.attempt("b") == 2 and sched.state("b") is S.SUCCEEDED)


async def test_the_command_palette_offers_only_tuiflows_commands_and_themes():
    app, sched, _ = make_app(t("a", "fail"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "failed")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Theme" in titles and any(x.startswith("Retry the selected") for x in titles)
        assert not {"Screenshot", "Keys", "Maximize", "Minimize"} & set(titles)
        assert sorted(app.available_themes) == ["tuiflow-ansi", "tuiflow-dark", "tuiflow-light"]


async def test_a_task_that_never_started_has_no_attempt_in_its_title():
    app, sched, _ = make_app(t("a", "fail"), t("b", "ok", "a"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "failed" and app.selected == "a")
        assert "a · attempt 1 · exit 1" in screen_text(app)
        await pilot.press("down")
        await until(pilot, lambda: app.selected == "b")
        await until(pilot, lambda: "⊖ b · blocked" in screen_text(app))
        assert "attempt" not in screen_text(app).splitlines()[1]


async def test_no_color_gives_a_readable_ui(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app, sched, _ = make_app(t("a", "echo:\x1b[31mred words\x1b[0m"), t("b", "fail", "a"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "failed")
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "✓ a" in text and "✗ b" in text and "red words" in text
        assert app.is_running and app.return_code is None


async def test_moving_the_mouse_over_the_tree_repaints_nothing():
    app, sched, _ = make_app(*(t(f"t{i}", "ok", *([f"t{i - 1}"] if i % 10 else [])) for i in range(60)), limit=4)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded" and app.dag.built)
        await pilot.pause(0.2)
        repaints = []
        original = app.dag.refresh
        app.dag.refresh = lambda *a, **k: (repaints.append(a), original(*a, **k))[1]
        for n in range(30):
            await pilot.hover("#dag", offset=(4 + n % 20, 1 + n))
        await pilot.pause(0.1)
        assert repaints == []


async def test_o_runs_a_plain_less_with_R_so_colours_show(tmp_path, monkeypatch):
    from contextlib import nullcontext

    record = tmp_path / "args"
    fake_less = tmp_path / "less"
    fake_less.write_text(f'#!/bin/sh\necho "$@" > {record}\n')
    fake_less.chmod(0o755)
    monkeypatch.setenv("PAGER", str(fake_less))
    monkeypatch.delenv("LESS", raising=False)
    app, sched, _ = make_app(t("a", "echo:\x1b[32mgreen\x1b[0m"), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        monkeypatch.setattr(app, "suspend", nullcontext)
        await until(pilot, lambda: app.model.result == "succeeded" and app.selected == "a")
        await pilot.press("o")
        await until(pilot, lambda: record.exists())
        args = record.read_text().split()
        assert args[0] == "-R" and args[1].endswith("1.log")
