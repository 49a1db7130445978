"""Every key of docs/tui.md through Pilot, asserting on the scheduler and on the screen."""

from __future__ import annotations

import os

import pytest

from tests.ui.helpers import make_app, screen_text, t, until
from tuiflow.engine.model import RetryPolicy, TaskState
from tuiflow.ui.screens.confirm import ConfirmScreen, QuitScreen
from tuiflow.ui.screens.help import HelpScreen
from tuiflow.ui.screens.search import SearchAllScreen
from tuiflow.ui.screens.timeline import TimelineScreen

S = TaskState
SIZE = (120, 36)


async def select(app, pilot, task: str) -> None:
    await until(pilot, lambda: app.dag.built)
    assert app.tree.select_task(task)
    await until(pilot, lambda: app.selected == task and app.main_pane.task_name == task)


async def finish(app, pilot, sched) -> None:
    """End a live run so the test leaves no task behind."""
    sched.cancel_run()
    await until(pilot, lambda: app.model.result is not None)


async def test_p_pauses_and_resumes():
    app, sched, runner = make_app(t("a", "sleep:30"), t("b", "ok"), t("c", "ok"), limit=1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.state("a") is S.RUNNING)
        await pilot.press("p")
        await until(pilot, lambda: "PAUSED" in screen_text(app))
        assert sched.paused
        await pilot.press("p")
        await until(pilot, lambda: "RUNNING" in screen_text(app))
        assert not sched.paused
        await finish(app, pilot, sched)


async def test_plus_and_minus_change_the_limit_and_the_header_shows_it():
    app, sched, runner = make_app(*(t(f"s{i}", "sleep:30") for i in range(4)), limit=1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.running_count == 1)
        await pilot.press("plus")
        await until(pilot, lambda: sched.running_count == 2)
        await until(pilot, lambda: "2 running / limit 2" in screen_text(app))
        await pilot.press("minus", "minus", "minus")
        await until(pilot, lambda: "limit 1" in screen_text(app))
        assert sched.max_parallel == 1
        assert app.check_action("limit", (-1,)) is None  # dimmed at 1
        assert sched.running_count == 2  # lowering never kills
        await finish(app, pilot, sched)


async def test_c_cancels_the_selected_task_after_confirming():
    app, sched, runner = make_app(t("a", "sleep:30"), t("b", "ok", "a"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.state("a") is S.RUNNING)
        await select(app, pilot, "a")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause()
        assert sched.state("a") is S.RUNNING
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: sched.state("a") is S.CANCELLED)
        assert sched.state("b") is S.BLOCKED
        await until(pilot, lambda: "⊘ a" in screen_text(app) and "cancelled" in screen_text(app))


async def test_shift_c_cancels_the_run():
    app, sched, runner = make_app(t("a", "sleep:30"), t("b", "sleep:30"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.running_count == 2)
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: app.model.result == "cancelled")
        await until(pilot, lambda: "CANCELLED" in screen_text(app))


async def test_r_retries_a_failed_task_and_releases_its_downstream():
    app, sched, runner = make_app(t("a", "flaky:2"), t("b", "echo:downstream ran", "a"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.state("a") is S.FAILED)
        assert sched.state("b") is S.BLOCKED
        await select(app, pilot, "b")
        assert "blocked: upstream a failed" in screen_text(app)  # why is it waiting
        assert app.check_action("retry", ()) is None  # nothing to retry on a blocked task
        await select(app, pilot, "a")
        assert app.check_action("retry", ()) is True
        await pilot.press("r")
        await until(pilot, lambda: sched.state("b") is S.SUCCEEDED)
        assert sched.attempt("a") == 2
        await until(pilot, lambda: "#2" in screen_text(app) and "SUCCEEDED" in screen_text(app))


async def test_shift_r_retries_every_failure():
    app, sched, runner = make_app(t("a", "flaky:2"), t("b", "flaky:2"), t("c", "ok", "a", "b"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "failed")
        await pilot.press("R")
        await until(pilot, lambda: sched.state("c") is S.SUCCEEDED)
        assert [n for n, a in runner.started if a == 2] == ["a", "b"] or \
            sorted(n for n, a in runner.started if a == 2) == ["a", "b"]


async def test_e_reruns_a_finished_task_and_its_downstream():
    app, sched, runner = make_app(t("a", "ok"), t("b", "ok", "a"), t("x", "ok"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await select(app, pilot, "a")
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: sched.attempt("b") == 2 and sched.state("b") is S.SUCCEEDED)
        assert sched.attempt("x") == 1


async def test_s_skips_and_h_holds_and_releases():
    app, sched, runner = make_app(t("gate", "sleep:30"), t("held", "ok", "gate"), t("skipme", "ok", "gate"),
                                  t("after", "ok", "held"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.state("gate") is S.RUNNING)
        await select(app, pilot, "held")
        await pilot.press("h")
        await until(pilot, lambda: sched.state("held") is S.HELD)
        await until(pilot, lambda: "held" in screen_text(app))
        await select(app, pilot, "skipme")
        await pilot.press("s")
        await until(pilot, lambda: sched.state("skipme") is S.SKIPPED)
        await select(app, pilot, "held")
        await pilot.press("h")
        await until(pilot, lambda: sched.state("held") is S.PENDING)
        await finish(app, pilot, sched)


async def test_check_action_dims_what_does_not_apply():
    app, sched, runner = make_app(t("a", "sleep:30"), t("b", "ok"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.state("a") is S.RUNNING and sched.state("b") is S.SUCCEEDED)
        await select(app, pilot, "a")
        assert app.check_action("retry", ()) is None
        assert app.check_action("cancel_task", ()) is True
        assert app.check_action("skip", ()) is None
        assert app.check_action("retry_failed", ()) is None
        await select(app, pilot, "b")
        assert app.check_action("rerun", ()) is True
        assert app.check_action("cancel_task", ()) is None
        await finish(app, pilot, sched)


async def test_enter_pins_panes_side_by_side_up_to_four():
    app, sched, runner = make_app(*(t(f"t{i}", f"echo:out of t{i}") for i in range(6)), limit=6)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        for i in (1, 2, 3, 4):
            await select(app, pilot, f"t{i}")
            await pilot.press("enter")
            await pilot.pause()
        await until(pilot, lambda: len(app.panes()) == 4)
        pinned = [p.task_name for p in app.panes() if p.pinned]
        assert pinned == ["t1", "t2", "t3"]
        text = screen_text(app)
        assert "out of t1" in text and "out of t2" in text and "out of t3" in text
        await select(app, pilot, "t2")
        await pilot.press("enter")  # enter on a pinned task unpins it
        await until(pilot, lambda: len(app.panes()) == 3)


async def test_four_panes_tile_two_by_two_at_80_columns():
    app, sched, runner = make_app(*(t(f"t{i}", f"echo:out of t{i}") for i in range(5)), limit=5)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        for i in (1, 2, 3):
            await select(app, pilot, f"t{i}")
            await pilot.press("enter")
        await until(pilot, lambda: len(app.panes()) == 4)
        await pilot.pause(0.1)
        regions = [p.region for p in app.panes()]
        assert len({r.x for r in regions}) == 2 and len({r.y for r in regions}) == 2
        assert all(r.width >= 24 and r.height >= 9 for r in regions)
        text = screen_text(app)
        assert all(f"out of t{i}" in text for i in (1, 2, 3))


async def test_slash_searches_the_pane_and_n_moves_between_matches():
    lines = " && ".join(f"echo:line {i}" + (" needle" if i % 10 == 0 else "") for i in range(60))
    app, sched, runner = make_app(t("a", lines))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await select(app, pilot, "a")
        await pilot.press("slash")
        await pilot.press(*"needle", "enter")
        view = app.main_pane.view
        # the first match from the top of the view (lines 27-59 were on screen): line 30, 4th of 6
        await until(pilot, lambda: "/needle: 4/6" in screen_text(app))
        await pilot.press("n", "n")
        assert "/needle: 6/6" in screen_text(app) and "line 50 needle" in screen_text(app)
        await pilot.press("n")
        assert "/needle: 1/6" in screen_text(app) and "line 0 needle" in screen_text(app)  # around
        await pilot.press("N")
        assert "/needle: 6/6" in screen_text(app)
        await pilot.press("slash")
        assert app.searchbar.display and app.focused is app.searchbar
        await pilot.press("p")  # typed into the search bar, not a pause
        assert not sched.paused and app.searchbar.value == "p"  # the old query was selected
        await pilot.press("escape")
        assert not app.searchbar.display and app.focused is view


async def test_w_wraps_long_lines():
    long = "x" * 200 + "END"
    app, sched, runner = make_app(t("a", f"echo:{long}"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await select(app, pilot, "a")
        assert "END" not in screen_text(app)
        await pilot.press("w")
        await until(pilot, lambda: "END" in screen_text(app))
        assert app.main_pane.view.wrap


async def test_o_opens_the_log_in_the_pager(tmp_path, monkeypatch):
    from contextlib import nullcontext

    record = tmp_path / "pager-args"
    monkeypatch.setenv("PAGER", f"sh -c 'echo \"$0\" > {record}'")
    app, sched, runner = make_app(t("a", "echo:for the pager"), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        monkeypatch.setattr(app, "suspend", nullcontext)
        await until(pilot, lambda: app.model.result == "succeeded")
        await select(app, pilot, "a")
        await pilot.press("o")
        await until(pilot, lambda: record.exists())
        path = record.read_text().strip()
        assert path.endswith(os.path.join("logs", "a", "1.log"))
        assert open(path).read() == "for the pager\n"


async def test_ctrl_f_searches_every_log_and_opens_the_hit(tmp_path):
    many = " && ".join(f"echo:row {i}" for i in range(300)) + " && echo:the rare word && echo:tail"
    app, sched, runner = make_app(t("a", "echo:nothing here"), t("b", many), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await select(app, pilot, "a")
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, SearchAllScreen))
        await pilot.press(*"rare word", "enter")
        await until(pilot, lambda: app.screen.hits)
        hit = app.screen.hits[0]
        assert (hit.task, hit.attempt, hit.line) == ("b", 1, 301)
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, SearchAllScreen) and app.selected == "b")
        await until(pilot, lambda: "the rare word" in screen_text(app))
        await until(pilot, lambda: "/rare word: 1/1" in screen_text(app))   # the hit is the current match
        view = app.main_pane.view
        row = view.screen_rows().index("the rare word")
        strip = view.render_line(row)
        current = view.get_component_rich_style("logview--current-match")
        assert any(seg.text == "rare word" and seg.style.bgcolor == current.bgcolor for seg in strip)


async def test_t_opens_the_timeline_with_every_attempt():
    app, sched, runner = make_app(t("a", "sleep:0.1"), t("b", "flaky:2", "a", retry=RetryPolicy(retries=1)),
                                  t("c", "ok", "b"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TimelineScreen))
        await pilot.pause()
        text = screen_text(app)
        assert "Timeline" in text and "critical path" in text
        assert "◆ a" in text and "◆ b" in text and "◆ c" in text
        assert "█" in text or "▇" in text
        assert len(app.model.tasks["b"].attempts) == 2
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TimelineScreen))


async def test_v_switches_to_stages():
    app, sched, runner = make_app(t("a"), t("b", "ok", "a"), t("c", "ok", "a"), t("d", "ok", "b", "c"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await pilot.press("v")
        await until(pilot, lambda: app.stage_tree.built and "stage 3 (1)" in screen_text(app))
        text = screen_text(app)
        assert "stage 1 (1)" in text and "stage 2 (2)" in text
        await pilot.press("v")
        await until(pilot, lambda: app.switcher.current == "dag")


async def test_question_mark_shows_help_with_every_key():
    app, sched, runner = make_app(t("a"))
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = screen_text(app)
        for words in ("Pause: start nothing new", "Resume", "Retry every failed", "Search every task's log", "Timeline",
                      "Pin the selected task", "Hold the selected task", "$PAGER", "command palette"):
            assert words in text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_a_auto_follows_the_task_that_writes(tmp_path):
    app, sched, runner = make_app(t("quiet", "sleep:30"), t("talker", "sleep:0.5 && echo:I speak && sleep:30"),
                                  t("late", f"wait:{tmp_path}/go && echo:me too && sleep:30"), limit=3)
    async with app.run_test(size=SIZE) as pilot:
        await select(app, pilot, "quiet")
        await pilot.press("a")
        await until(pilot, lambda: app.main_pane.task_name == "talker")
        await until(pilot, lambda: "I speak" in screen_text(app) and "auto" in screen_text(app))  # once read
        talker = app.model.tasks["talker"].output
        await until(pilot, lambda: app.clock() - talker.last >= 1.2)    # quiet for more than a second
        (tmp_path / "go").touch()     # only now does the other task write
        await until(pilot, lambda: app.main_pane.task_name == "late")  # talker has gone quiet
        await pilot.press("a")
        assert not app.auto
        await finish(app, pilot, sched)


async def test_click_selects_a_task():
    app, sched, runner = make_app(t("first"), t("second"), t("third"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded" and app.dag.built)
        await pilot.click("#dag", offset=(4, 2))
        await until(pilot, lambda: app.selected == "third")


async def test_command_palette_lists_the_actions_that_apply():
    app, sched, runner = make_app(t("a", "fail"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "failed")
        await select(app, pilot, "a")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert any(x.startswith("Retry the selected") for x in titles)
        assert any(x.startswith("Retry every") for x in titles) and any(x.startswith("Timeline") for x in titles)
        assert not any(x.startswith("Cancel the selected") for x in titles)  # nothing to cancel on a failed task
        assert "Theme" in titles  # the theme picker


@pytest.mark.parametrize("choice", ["stay", "cancel"])
async def test_q_while_running_asks_and_cancel_quits_with_the_runs_code(choice):
    app, sched, runner = make_app(t("a", "sleep:30"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.state("a") is S.RUNNING)
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("s" if choice == "stay" else "c")
        if choice == "stay":
            await pilot.pause()
            assert sched.state("a") is S.RUNNING and app.is_running
            await finish(app, pilot, sched)
        else:
            await until(pilot, lambda: not app.is_running)
    if choice == "cancel":
        assert app.return_code == 1
        assert sched.state("a") is S.CANCELLED


async def test_q_after_the_end_quits_at_once_with_the_exit_code():
    app, sched, runner = make_app(t("a", "ok"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


async def test_a_hit_far_back_in_a_long_log_scrolls_there_and_end_returns(tmp_path):
    lines = " && ".join(["spam:12000", "echo:needle in the middle", "spam:12000", "sleep:0.3",
                         "echo:after the window", "sleep:30"])
    app, sched, runner = make_app(t("a", lines), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.tasks["a"].output.bytes > 24000 * 61)
        await select(app, pilot, "a")
        assert "needle in the middle" not in screen_text(app)  # 12 000 lines later
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, SearchAllScreen))
        await pilot.press(*"needle", "enter")
        await until(pilot, lambda: app.screen.hits)
        assert (app.screen.hits[0].task, app.screen.hits[0].line) == ("a", 12001)
        await pilot.press("enter")
        await until(pilot, lambda: "needle in the middle" in screen_text(app))
        await until(pilot, lambda: app.model.tasks["a"].output.lines >= 24002)  # "after the window" arrived
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "after the window" not in text and "needle in the middle" in text  # the view stays put
        await pilot.press("end")
        await until(pilot, lambda: "after the window" in screen_text(app))
        await finish(app, pilot, sched)


async def test_a_status_tick_after_the_header_is_gone_does_not_end_the_app():
    """As the app exits its widgets are removed while a last one-second tick may still come."""
    app, sched, _ = make_app(t("a", "sleep:30"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.tasks.get("a") is not None and app.model.tasks["a"].state is TaskState.RUNNING)
        await app.header.remove()
        await app.query_one("ProgressLine").remove()
        app._tick()          # what the interval timer does
        await pilot.pause()
        assert app.is_running and app._exception is None
        sched.cancel_run()
        await until(pilot, lambda: app.model.result is not None)
