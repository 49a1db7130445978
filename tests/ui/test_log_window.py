"""The log pane is a window over the whole log: any line can be scrolled to, searched and shown,
with only a few of them in memory; control sequences show as a terminal would show them."""

from __future__ import annotations

import asyncio
import re

from tests.ui.helpers import make_app, screen_text, t, until
from tuiflow.engine import logaccess
from tuiflow.engine.model import RetryPolicy
from tuiflow.ui.logtext import BLOCK, CACHE_CHARS

SIZE = (120, 36)
MANY = 25_000      # more lines than a pane keeps (10 000)


def numbered(count: int, needle_at: tuple[int, ...] = (), text: str = "needle") -> str:
    """A command printing `line N` for N in 1..count (`text` on the lines in `needle_at`)."""
    parts, start = [], 1
    for at in (*needle_at, count + 1):
        if at > start:
            parts.append(f"seq:{start}:{at - 1}")
        if at <= count:
            parts.append(f"echo:line {at} {text}")
        start = at + 1
    return " && ".join(parts)


async def show(app, pilot, task):
    await until(pilot, lambda: app.dag.built)
    app.tree.select_task(task)
    await until(pilot, lambda: app.main_pane.task_name == task and not app.main_pane.loading)


def rows(app) -> list[str]:
    return app.main_pane.view.screen_rows()


async def test_scrolling_up_goes_past_the_kept_lines_to_the_first_line(tmp_path):
    app, sched, _ = make_app(t("big", numbered(MANY)), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await show(app, pilot, "big")
        assert rows(app)[-1] == f"line {MANY}"
        app.main_pane.view.focus()
        await pilot.press("home")
        await until(pilot, lambda: rows(app)[0] == "line 1" and "…" not in rows(app))
        assert rows(app)[:3] == ["line 1", "line 2", "line 3"] and "…" not in rows(app)
        await pilot.press("pagedown")
        await until(pilot, lambda: "…" not in rows(app))
        assert rows(app)[0] == f"line {1 + app.main_pane.view.size.height}"   # one screen down, every line
        await pilot.press("end")
        await until(pilot, lambda: rows(app)[-1] == f"line {MANY}")
        pane = app.main_pane
        assert len(pane.doc.attempts[-1].recent) <= 10_000 and pane.doc.cache.chars <= CACHE_CHARS


async def test_the_screens_above_and_below_are_read_ahead_so_paging_draws_at_once(tmp_path):
    """Paging through lines the pane does not hold: the next screen was read while the reader looked
    at this one, so `pagedown` / `pageup` draw every line at once even when the engine cannot
    answer right now (no `…`)."""
    app, sched, _ = make_app(t("big", numbered(MANY, needle_at=(12_000,))), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await show(app, pilot, "big")
        pane, view = app.main_pane, app.main_pane.view
        lines, gate = pane.logs.lines, asyncio.Event()
        gate.set()

        async def gated_lines(*args, **kwargs):
            await gate.wait()
            return await lines(*args, **kwargs)
        pane.logs.lines = gated_lines     # the engine's answers, held while the gate is shut

        def read(row: int) -> bool:       # the rows of a screen the reader may page to are read
            log, index = pane.doc.locate(row)
            return pane.doc.cache.has(log.number, index // BLOCK)

        async def page(key: str, first: int) -> None:
            height = view.size.height
            await until(pilot, lambda: read(max(0, view.scroll_offset.y - height))
                        and read(view.scroll_offset.y + 2 * height - 1))
            gate.clear()
            await pilot.press(key)
            await pilot.pause()
            assert rows(app)[0] == f"line {first}" and "…" not in rows(app)
            gate.set()

        view.focus()
        await pilot.press("home")
        await until(pilot, lambda: rows(app)[0] == "line 1" and "…" not in rows(app))
        height = view.size.height
        for n in range(1, 3 * BLOCK // height + 2):        # down through three blocks of lines
            await page("pagedown", 1 + n * height)
        await pilot.press("slash", *"needle", "enter")     # far from what was read, then up
        await until(pilot, lambda: "line 12000 needle" in rows(app) and "…" not in rows(app))
        await pilot.press("escape")
        top = int(rows(app)[0].split()[1])
        for n in range(1, 3 * BLOCK // height + 2):
            await page("pageup", top - n * height)


async def test_slash_finds_a_line_before_the_kept_ones_and_n_goes_on_through_the_whole_log(tmp_path):
    app, sched, _ = make_app(t("big", numbered(MANY, needle_at=(5, 12_000, 24_990))), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await show(app, pilot, "big")
        assert "line 5 needle" not in screen_text(app)
        await pilot.press("slash", *"NEEDLE", "enter")
        # from the top of the view (the end): the last one first
        await until(pilot, lambda: "/NEEDLE: 3/3" in screen_text(app) and "line 24990 needle" in screen_text(app))
        await pilot.press("n")
        await until(pilot, lambda: "/NEEDLE: 1/3" in screen_text(app) and "line 5 needle" in screen_text(app))
        await pilot.press("n")
        await until(pilot, lambda: "/NEEDLE: 2/3" in screen_text(app) and "line 12000 needle" in screen_text(app))
        await pilot.press("N", "N")
        await until(pilot, lambda: "/NEEDLE: 3/3" in screen_text(app))


async def test_a_search_shows_how_far_it_got_and_the_pane_answers_keys_meanwhile(tmp_path, monkeypatch):
    """`/` goes through the log in pieces, in a worker: while it does, the title says how far it
    got and the pane scrolls; once through, it goes to the match."""
    monkeypatch.setattr(logaccess, "FIND_BYTES", 64 * 1024)          # ~270 KB of log: 5 pieces
    app, sched, _ = make_app(t("big", numbered(MANY, needle_at=(20_000,))), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await show(app, pilot, "big")
        pane = app.main_pane
        find, gate, pieces = pane.logs.find, asyncio.Event(), []

        async def gated_find(*args, **kwargs):   # the engine's pieces, the second held until the gate opens
            if pieces:
                await gate.wait()
            pieces.append(await find(*args, **kwargs))
            return pieces[-1]
        pane.logs.find = gated_find
        pane.view.focus()
        await pilot.press("home")
        await until(pilot, lambda: rows(app)[0] == "line 1")
        await pilot.press("slash", *"needle", "enter")
        await until(pilot, lambda: re.search(r"/needle: searching [1-9]\d?%", screen_text(app)))
        await pilot.press("pagedown")                                   # meanwhile
        await until(pilot, lambda: rows(app)[0] == f"line {1 + pane.view.size.height}" and "…" not in rows(app))
        assert re.search(r"/needle: searching [1-9]\d?%", screen_text(app)) and "line 20000" not in screen_text(app)
        gate.set()
        await until(pilot, lambda: "/needle: 1/1" in screen_text(app) and "line 20000 needle" in screen_text(app))
        assert len(pieces) == 5


async def test_a_search_counts_matches_in_every_attempt_and_in_output_that_arrives_later(tmp_path):
    app, sched, _ = make_app(t("r", "echo:try needle && flaky:2 && echo:done", retry=RetryPolicy(retries=1)),
                             t("live", f"echo:first needle && wait:{tmp_path}/go && echo:late needle && sleep:30"),
                             tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.tasks["r"].state.value == "succeeded")
        await show(app, pilot, "r")
        await pilot.press("slash", *"needle", "enter")
        await until(pilot, lambda: "/needle: 1/2" in screen_text(app))   # one in each attempt
        assert "── attempt 2 ──" in screen_text(app)
        await pilot.press("n")
        assert "/needle: 2/2" in screen_text(app)
        await show(app, pilot, "live")
        await pilot.press("slash", *"needle", "enter")
        await until(pilot, lambda: "/needle: 1/1" in screen_text(app))
        (tmp_path / "go").touch()
        await until(pilot, lambda: "late needle" in screen_text(app))
        await until(pilot, lambda: "/needle: 1/2" in screen_text(app))   # the later line counts too
        await pilot.press("n")
        assert "/needle: 2/2" in screen_text(app)
        sched.cancel_run()
        await until(pilot, lambda: app.model.result is not None)


async def test_control_sequences_show_as_a_terminal_shows_them_and_never_reach_it(tmp_path):
    out = ("echo:\x1b]0;HACKED\x07title gone && echo:abc\bX && echo:\x1b[2J\x1b[Hcleared"
           " && echo:10%\r50%\r100% && echo:\x1b[31mred\x1b[0m")
    app, sched, _ = make_app(t("c", out), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await show(app, pilot, "c")
        assert rows(app) == ["title gone", "abX", "cleared", "100%", "red"]
        view = app.main_pane.view
        texts = [seg.text for y in range(5) for seg in view.render_line(y)]
        assert not any(ch in text for text in texts for ch in "\x1b\x07\b\r")   # no control reaches the terminal
        assert "HACKED" not in screen_text(app)
        await show(app, pilot, "c")    # read again from the log file: the same
        assert rows(app) == ["title gone", "abX", "cleared", "100%", "red"]


async def test_a_log_counted_after_its_end_is_shown_gets_its_earlier_lines_above(tmp_path, monkeypatch):
    """The end shows at once; the engine counts the lines before it meanwhile (no wait at all here),
    and they appear above without moving the view."""
    monkeypatch.setattr(logaccess, "TAIL_WAIT", 0.0)
    app, sched, _ = make_app(t("big", numbered(MANY)), t("other", "echo:hi"), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await show(app, pilot, "other")
        await show(app, pilot, "big")
        pane = app.main_pane
        await until(pilot, lambda: pane.doc.rows == MANY and not pane.counting)
        assert rows(app)[-1] == f"line {MANY}" and pane.view.follow
        pane.view.focus()
        await pilot.press("home")
        await until(pilot, lambda: rows(app)[0] == "line 1")


async def test_wrapped_lines_end_with_the_last_line_on_screen(tmp_path):
    long = "w" * 300
    app, sched, _ = make_app(t("a", f"seq:1:100 && echo:{long} && echo:THE LAST LINE"), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await show(app, pilot, "a")
        app.main_pane.view.focus()
        await pilot.press("w")
        await until(pilot, lambda: app.main_pane.view.wrap)
        await pilot.press("home", "end")
        await until(pilot, lambda: screen_text(app).splitlines()[-3].strip(" ▕▁▂▃▄▅▆▇█") == "THE LAST LINE")
        assert screen_text(app).count("w" * 60) >= 4   # the long line, wrapped, just above
        await pilot.resize_terminal(60, 20)             # narrower: more rows a line, the end still at the bottom
        await until(pilot, lambda: screen_text(app).splitlines()[-3].strip(" ▕▁▂▃▄▅▆▇█") == "THE LAST LINE")
        assert screen_text(app).splitlines()[-4].strip(" ▕▁▂▃▄▅▆▇█").startswith("w")


async def test_a_jump_keeps_its_line_while_output_goes_on_and_end_follows_again(tmp_path):
    app, sched, _ = make_app(t("s", numbered(MANY, needle_at=(100,)) + " && sleep:0.3 && seq:1:50 && sleep:30"),
                             tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.tasks["s"].output.lines >= MANY)
        await show(app, pilot, "s")
        await pilot.press("slash", *"needle", "enter")
        await until(pilot, lambda: "line 100 needle" in screen_text(app))
        await until(pilot, lambda: app.model.tasks["s"].output.lines >= MANY + 50)
        await pilot.pause(0.2)
        assert "line 100 needle" in screen_text(app) and "scrolled" in screen_text(app)
        await pilot.press("end")
        await until(pilot, lambda: rows(app)[-1] == "line 50")
        sched.cancel_run()
        await until(pilot, lambda: app.model.result is not None)
