"""Big runs: go to a task by name, filter the tree, jump between failures, auto-follow that stays
on a failure, one dimmed line for a task shown again."""

from __future__ import annotations

import random

from textual.command import CommandPalette

from tests.ui.helpers import make_app, screen_text, t, until
from tuiflow.engine.events import TaskInfo
from tuiflow.engine.model import TaskState
from tuiflow.ui.treeplan import layout

S = TaskState
SIZE = (120, 36)


def tree_text(app) -> str:
    return "\n".join(line.split("▕")[0] for line in screen_text(app).splitlines()[1:-2])


async def test_g_goes_to_a_task_by_part_of_its_name():
    app, sched, _ = make_app(*(t(f"extract_{i:03d}") for i in range(300)), t("load_the_warehouse"), limit=8)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded" and app.dag.built)
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"warehse")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: app.selected == "load_the_warehouse")
        assert "load_the_warehouse" in tree_text(app)


async def test_f_lists_only_failed_then_running_then_waiting_then_all():
    app, sched, _ = make_app(t("ok1"), t("bad1", "fail"), t("bad2", "fail:3"), t("slow", "sleep:30"),
                             t("after_slow", "ok", "slow"), limit=4)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: sched.state("bad2") is S.FAILED and sched.state("slow") is S.RUNNING
                    and app.dag.built)
        await pilot.press("f")
        await until(pilot, lambda: "ok1" not in tree_text(app))
        text = tree_text(app)
        assert "bad1" in text and "bad2" in text and "slow" not in text
        await pilot.press("f")
        await until(pilot, lambda: "bad1" not in tree_text(app) and "slow" in tree_text(app))
        assert "after_slow" not in tree_text(app)
        await pilot.press("f")
        await until(pilot, lambda: "after_slow" in tree_text(app))
        assert "● slow" not in tree_text(app)
        await pilot.press("f")
        await until(pilot, lambda: all(n in tree_text(app) for n in ("ok1", "bad1", "bad2", "slow", "after_slow")))
        sched.cancel_run()
        await until(pilot, lambda: app.model.result is not None)


async def test_brackets_jump_to_the_next_and_previous_failure():
    app, sched, _ = make_app(*(t(f"t{i:02d}", "fail" if i in (3, 9, 15) else "ok") for i in range(20)), limit=8)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "failed" and app.selected == "t00")
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: app.selected == "t03")
        await pilot.press("right_square_bracket", "right_square_bracket")
        await until(pilot, lambda: app.selected == "t15")
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: app.selected == "t09")
        await pilot.press("right_square_bracket", "right_square_bracket")  # past the last: wraps
        await until(pilot, lambda: app.selected == "t03")


async def test_auto_follow_stays_on_a_task_that_failed():
    talk = " && ".join(["sleep:0.1 && echo:still talking"] * 60)
    app, sched, _ = make_app(t("talker", talk), t("boom", "echo:about to fail && fail"), limit=2)
    sched.hold("boom")    # it runs (and fails) only once auto-follow is on
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.dag.built)
        await pilot.press("a")
        await until(pilot, lambda: app.auto)
        sched.release("boom")
        await until(pilot, lambda: sched.state("boom") is S.FAILED and app.main_pane.task_name == "boom")
        lines = app.model.tasks["talker"].output.lines
        await until(pilot, lambda: app.model.tasks["talker"].output.lines >= lines + 25)  # 2.5 s of chatter
        assert app.main_pane.task_name == "boom"
        sched.cancel_run()
        await until(pilot, lambda: app.model.result is not None)


def test_a_task_shown_again_under_another_upstream_is_one_dimmed_line():
    rng = random.Random(7)
    infos = [TaskInfo(f"t{i}", tuple(sorted({f"t{rng.randrange(max(0, i - 40), i)}" for _ in range(min(i, 20))}))
                      if i else ()) for i in range(1000)]
    rows, _ = layout(infos)
    refs, total, stack = 0, 0, list(rows)
    while stack:
        row = stack.pop()
        total += 1
        if row.kind == "ref":
            refs += 1
            assert not row.children, f"the reference to {row.name} repeats its subtree"
        stack.extend(row.children)
    edges = sum(len(i.depends_on) for i in infos)
    assert total == 1000 + refs and refs == edges - sum(1 for i in infos if i.depends_on)
