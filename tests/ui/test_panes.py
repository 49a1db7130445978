"""The log pane: colours, progress bars, following the tail, earlier output from disk, attempts."""

from __future__ import annotations

from tests.ui.helpers import make_app, screen_text, t, until
from tuiflow.engine.model import RetryPolicy, TaskSpec, TaskState
from tuiflow.ui.summary import render_summary

S = TaskState
SIZE = (120, 36)


async def show(app, pilot, task):
    await until(pilot, lambda: app.dag.built)
    app.tree.select_task(task)
    await until(pilot, lambda: app.main_pane.task_name == task)


async def test_ansi_colours_are_rendered_not_printed():
    app, sched, _ = make_app(t("c", "echo:plain \x1b[31mred words\x1b[0m after"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await show(app, pilot, "c")
        text = screen_text(app)
        assert "plain red words after" in text and "[31m" not in text
        strip = app.main_pane.view._row_strip(0, app.main_pane.view.rich_style)
        red = [seg for seg in strip if "red" in seg.text]
        assert red and red[0].style.color is not None and red[0].style.color.number == 1  # ANSI red


async def test_carriage_return_progress_shows_as_one_line():
    app, sched, _ = make_app(t("p", "echo:start && echo:10%\r50%\r100% && echo:done"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await show(app, pilot, "p")
        assert app.main_pane.view.screen_rows() == ["start", "100%", "done"]


async def test_follows_the_tail_until_scrolled_up_and_end_follows_again():
    app, sched, _ = make_app(t("s", "spam:3000 && sleep:0.5 && echo:LAST LINE && sleep:30"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.tasks["s"].output.bytes > 0)
        await show(app, pilot, "s")
        view = app.main_pane.view
        await until(pilot, lambda: view.doc.rows >= 3000)
        assert view.follow and view.scroll_offset.y == view.max_scroll_y
        view.focus()
        await pilot.press("pageup", "pageup")
        assert not view.follow
        top = view.scroll_offset.y
        await until(pilot, lambda: app.model.tasks["s"].output.lines >= 3001)
        assert view.scroll_offset.y == top  # new output did not move what the reader looks at
        assert "end follows" in screen_text(app)
        await pilot.press("end")
        await until(pilot, lambda: view.follow and "LAST LINE" in screen_text(app))  # next frame, even under load
        sched.cancel_run()
        await until(pilot, lambda: app.model.result is not None)


async def test_selecting_a_finished_task_loads_its_output_from_the_log_file(tmp_path):
    app, sched, _ = make_app(t("big", "spam:25000"), t("small", "echo:hi"), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await show(app, pilot, "small")
        await show(app, pilot, "big")
        doc = app.main_pane.doc
        await until(pilot, lambda: doc.rows == 25_000)  # every line of the log, counted by the engine
        assert len(doc.attempts[-1].recent) <= 10_000   # of which these few are held
        assert app.main_pane.view.screen_rows()[-1] == "x" * 60


async def test_a_retried_task_shows_each_attempt():
    app, sched, _ = make_app(t("f", "echo:trying && flaky:2", retry=RetryPolicy(retries=1)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await show(app, pilot, "f")
        lines = app.main_pane.view.screen_rows()
        assert lines.count("trying") == 2 and "── attempt 2 ──" in lines


async def test_tasks_added_at_run_time_appear_in_the_tree():
    specs = (TaskSpec(name="list", command="echo:alpha && echo:beta"),
             TaskSpec(name="proc", command="echo:processing", depends_on=("list",), foreach="list"),
             TaskSpec(name="after", command="ok", depends_on=("proc",)))
    app, sched, _ = make_app(*specs)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "succeeded")
        await until(pilot, lambda: "proc[alpha]" in app.dag.nodes)
        text = screen_text(app)
        assert "[alpha]" in text and "[beta]" in text and "2/2" in text
        proc_node = app.dag.nodes["proc"][0]
        # instances first, then what runs after the folder
        assert [c.data.name for c in proc_node.children] == ["proc[alpha]", "proc[beta]", "after"]


async def test_failure_and_end_of_run_are_announced():
    app, sched, _ = make_app(t("bad", "fail:2"), t("slow", "sleep:0.5"))
    told: list[tuple[str, str]] = []
    notify = app.notify
    app.notify = lambda message, **kw: (told.append((kw.get("title", ""), message)), notify(message, **kw))[1]
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result == "failed")
        await pilot.pause(0.1)
        assert told.index(("Task failed", "bad: exit 2")) < len(told) - 1
        assert told[-1][0] == "Run failed" and "1 failed" in told[-1][1]



async def test_summary_lists_every_task_and_each_failures_last_lines(tmp_path):
    from tuiflow.engine.events import RunFinished, RunStarted, TaskInfo, TaskStateChanged
    from tuiflow.engine.logaccess import LogAccess
    from tuiflow.engine.runview import RunView
    from tuiflow.ui.summary import last_lines

    model = RunView()
    model.apply(RunStarted(time=0, run_id="r1", pipeline="p", file="f", run_dir="", max_parallel=2,
                           tasks=(TaskInfo("ok", ()), TaskInfo("bad", ()), TaskInfo("after", ("bad",)))))
    for ev in (TaskStateChanged(time=0, task="ok", state=S.RUNNING, attempt=1, started=0.0),
               TaskStateChanged(time=1.5, task="ok", state=S.SUCCEEDED, attempt=1, started=0.0, ended=1.5),
               TaskStateChanged(time=0, task="bad", state=S.RUNNING, attempt=2, started=0.0),
               TaskStateChanged(time=2, task="bad", state=S.FAILED, attempt=2, started=0.0, ended=2.0,
                                reason="killed by SIGKILL"),
               TaskStateChanged(time=2, task="after", state=S.BLOCKED, attempt=1),
               RunFinished(time=2, state="failed", exit_code=1)):
        model.apply(ev)
    (tmp_path / "bad-2.log").write_bytes(b"".join(b"line %d\n" % i for i in range(30)) + b"\n  \n")
    logs = LogAccess(lambda task, attempt: str(tmp_path / f"{task}-{attempt}.log"))
    tails = {"bad": await last_lines(logs, "bad", 2)}
    text = render_summary(model, tails, now=5.0, run_state="failed",
                          exit_code=1, why=lambda task: "blocked: upstream bad failed").plain
    assert "FAILED" in text and "exit code 1" in text
    assert "✓ ok" in text and "1.5s" in text
    assert "✗ bad" in text and "killed by SIGKILL" in text and "2 attempts" in text
    assert "line 29" in text and "line 19" not in text  # the last 10 lines
    assert "blocked: upstream bad failed" in text


async def test_the_last_line_is_not_hidden_under_a_horizontal_scrollbar(tmp_path):
    """A long line brings a horizontal scrollbar, which takes a row: the end is still shown."""
    wide = "w" * 300
    app, sched, _ = make_app(t("a", f"spam:40 && echo:{wide} && echo:THE LAST LINE"), tmp=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.result is not None)
        await show(app, pilot, "a")
        await until(pilot, lambda: "THE LAST LINE" in screen_text(app))
