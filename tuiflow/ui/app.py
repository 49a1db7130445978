"""TuiflowApp: the terminal application of SPEC §3, and `run_tui`, its entry point.

The app owns no run logic: it starts `scheduler.run(stay_open=True)` as a worker, receives
events through the Bridge (one message per flush), keeps a RunModel for drawing, and calls only
the scheduler's public control API.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher, Footer, Input, Tree
from textual.worker import Worker, WorkerState

from tuiflow.engine.events import Event, RunStarted, TasksAdded
from tuiflow.engine.model import TaskState
from tuiflow.ui import status
from tuiflow.ui.bridge import Bridge, EngineBatch, OutputChunk
from tuiflow.ui.controls import ControlActions
from tuiflow.ui.outputs import OutputStore, collect
from tuiflow.ui.protocol import SchedulerAPI
from tuiflow.ui.runmodel import Changes, RunModel
from tuiflow.ui.screens.confirm import QuitScreen
from tuiflow.ui.summary import render_summary
from tuiflow.ui.themes import DEFAULT_THEME, load_themes
from tuiflow.ui.views import ViewActions
from tuiflow.ui.widgets.dag_tree import DagTree
from tuiflow.ui.widgets.log_pane import LogPane
from tuiflow.ui.widgets.log_view import LogView
from tuiflow.ui.widgets.status_bar import HeaderInfo, ProgressLine, RunHeader, TextLine

LIVE_STATES = ("RUNNING", "PAUSED", "CANCELLING")
WINDOW = -1  # LogPane.attempt while it shows a window of a log file away from its end
# states whose reason is not already in the pane title: say why the task waits
WHY_STATES = frozenset({TaskState.PENDING, TaskState.READY, TaskState.RETRYING, TaskState.BLOCKED,
                        TaskState.HELD, TaskState.SKIPPED})


class TuiflowApp(ControlActions, ViewActions, App[int]):
    CSS_PATH = "styles/app.tcss"
    TITLE = "tuiflow"

    LIMIT = Binding.Group("limit", compact=True)
    # description: the footer's word; tooltip: the sentence for help and the command palette
    BINDINGS = [
        Binding("p", "toggle_pause", "pause", tooltip="Pause / resume: start nothing new, running tasks go on"),
        Binding("plus", "limit(1)", "limit+", key_display="+", group=LIMIT,
                tooltip="Raise the concurrency limit by one"),
        Binding("minus", "limit(-1)", "limit-", key_display="-", group=LIMIT,
                tooltip="Lower the concurrency limit by one (running tasks are never killed)"),
        Binding("c", "cancel_task", "cancel", tooltip="Cancel the selected task (asks first)"),
        Binding("C", "cancel_run", "cancel run", show=False, tooltip="Cancel the whole run (asks first)"),
        Binding("r", "retry", "retry", tooltip="Retry the selected failed, cancelled or skipped task"),
        Binding("R", "retry_failed", "retry all", tooltip="Retry every failed, timed-out and cancelled task"),
        Binding("e", "rerun", "rerun", show=False, tooltip="Rerun the selected task and everything downstream"),
        Binding("s", "skip", "skip", show=False, tooltip="Skip the selected task (downstream treats it as done)"),
        Binding("h", "hold", "hold", show=False, tooltip="Hold the selected task back, or release it"),
        Binding("enter", "pin", "pin", show=False, tooltip="Pin the selected task into an extra pane (again: unpin)"),
        Binding("a", "auto", "auto", show=False, tooltip="Auto: the pane follows the task that last wrote or failed"),
        Binding("slash", "search", "search", key_display="/", tooltip="Search the log pane"),
        Binding("n", "search_next", "next", show=False, tooltip="Next search match"),
        Binding("N", "search_prev", "previous", show=False, tooltip="Previous search match"),
        Binding("w", "wrap", "wrap", show=False, tooltip="Wrap long lines in the log pane"),
        Binding("o", "pager", "pager", show=False, tooltip="Open the task's full log in $PAGER"),
        Binding("ctrl+f", "search_all", "find all", show=False, tooltip="Search every task's log"),
        Binding("t", "timeline", "timeline", tooltip="Timeline: a Gantt chart of every attempt"),
        Binding("v", "toggle_view", "stages", show=False, tooltip="Switch the tree between dependencies and stages"),
        Binding("question_mark", "help", "help", key_display="?", tooltip="Help: every key"),
        Binding("q", "quit", "quit", tooltip="Quit (asks what to do with a live run)"),
        Binding("ctrl+q", "quit", "quit", show=False, priority=True),
    ]

    def __init__(self, scheduler: SchedulerAPI | Callable[[], SchedulerAPI], *,
                 theme: str | None = None, clock: Callable[[], float] = time.time,
                 max_lines: int = 10_000, terminal_alerts: bool = True, title: str = "") -> None:
        super().__init__()
        # No smooth-scroll animations: each frame of one is a full repaint sent down the link.
        self.animation_level = "none"
        self._scheduler_source = scheduler
        self.sched: SchedulerAPI | None = None
        self.clock = clock
        self.max_lines = max_lines
        self.terminal_alerts = terminal_alerts
        self.requested_theme = theme
        self.model = RunModel()
        self.model.pipeline = title
        self.outputs = OutputStore()
        self.bridge = Bridge(self)
        self.exit_code: int | None = None
        self.run_error: str | None = None
        self.selected: str | None = None
        self.auto = False
        self._auto_switched = 0.0
        self._quitting = False
        self._pending_adds: list[TasksAdded] = []
        self._binding_state: tuple = ()
        self._stages_stale = True
        self._scheduler_worker: Worker[int] | None = None
        self.theme_problems: list[str] = []
        self._signal_code: int | None = None
        self._timeline_at = 0.0
        self._signals: list[int] = []
        self._register_themes()

    # ----------------------------------------------------------------- themes
    def _register_themes(self) -> None:
        themes, problems = load_themes()
        for theme in themes:
            self.register_theme(theme)
        self.theme_problems = [str(p) for p in problems]
        wanted = self.requested_theme or DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            if self.requested_theme:
                self.theme_problems.append(f"theme {self.requested_theme!r} not found "
                                           f"(available: {', '.join(t.name for t in themes)})")
            if DEFAULT_THEME in self.available_themes:
                self.theme = DEFAULT_THEME

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(status.DEFAULT_COLORS)

    # ---------------------------------------------------------------- compose
    def compose(self) -> ComposeResult:
        # Widgets are kept as attributes: other screens (timeline, help) may be on top while
        # events arrive, and `query` would search those instead of the main screen.
        self.header = RunHeader(id="header")
        self.error_line = TextLine(id="error-line")
        self.dag = DagTree(self.model, self.clock, id="dag")
        self.stage_tree = DagTree(self.model, self.clock, id="stages")
        self.switcher = ContentSwitcher(initial="dag", id="trees")
        self.main_pane = LogPane(max_lines=self.max_lines, id="pane-main")
        self.pane_row = Horizontal(id="panes")
        self.searchbar = Input(placeholder="search this log (enter: find, escape: close)", id="searchbar")
        self.progress = ProgressLine(id="progress")
        yield self.header
        yield self.error_line
        with Horizontal(id="main"):
            with Vertical(id="left"):
                with self.switcher:
                    yield self.dag
                    yield self.stage_tree
            with Vertical(id="right"):
                with self.pane_row:
                    yield self.main_pane
                yield self.searchbar
        yield self.progress
        yield Footer(compact=True, show_command_palette=False)

    @property
    def tree(self) -> DagTree:
        """The tree on screen (dependencies or stages)."""
        return self.stage_tree if self.switcher.current == "stages" else self.dag

    def panes(self) -> list[LogPane]:
        return list(self.pane_row.query(LogPane))

    def on_resize(self) -> None:
        self.call_after_refresh(self._arrange_panes)

    def on_mount(self) -> None:
        self.main_pane.add_class("-first")
        self._ticker = self.set_interval(1.0, self._tick, pause=True)
        if self.theme_problems:
            self.notify("\n".join(self.theme_problems), title="Theme problems (using the default)",
                        severity="warning", timeout=10)
        self.dag.focus()
        self._install_signal_handlers()
        try:
            source = self._scheduler_source
            self.sched = source() if callable(source) and not hasattr(source, "run") else source  # type: ignore[assignment]
        except Exception as exc:  # building the run failed: say so, never a traceback
            self._fail(f"cannot start the run: {exc}")
            return
        assert self.sched is not None
        self.sched.subscribe(self.bridge)
        self._scheduler_worker = self.run_worker(self._run_scheduler(), name="scheduler",
                                                 group="scheduler", exit_on_error=False)
        self._update_status()

    def _install_signal_handlers(self) -> None:
        """SIGTERM / SIGINT / SIGHUP end the run cleanly: tasks terminated, logs flushed, 143/130/129.

        (Once the run serves its socket, SIGHUP will leave it running instead: SPEC §6.)
        """
        if self.is_headless:
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            self._signals.append(sig)

    def _on_signal(self, sig: int) -> None:
        self._signal_code = 128 + sig
        self._quitting = True
        if self.sched is not None and self._scheduler_worker is not None \
                and not self._scheduler_worker.is_finished:
            self.sched.close()  # cancels what runs; the worker's end exits the app
        else:
            self._exit_with(self._signal_code)

    def on_unmount(self) -> None:
        if self._signals:
            loop = asyncio.get_running_loop()
            for sig in self._signals:
                loop.remove_signal_handler(sig)
            self._signals.clear()

    async def _run_scheduler(self) -> int:
        assert self.sched is not None
        return await self.sched.run(stay_open=True)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.name == "scheduler":
            if event.state is WorkerState.ERROR:
                self._fail(f"the run stopped with an error: {worker.error!r}")
            elif event.state is WorkerState.SUCCESS:
                self.bridge.flush()
                self.exit_code = worker.result if self.exit_code is None else self.exit_code
                if self._quitting:
                    self._exit_with(self._final_exit_code())
        elif worker.name == "build-tree" and event.state is WorkerState.ERROR:
            self._fail(f"cannot draw the tree: {worker.error!r}")

    def _fail(self, message: str) -> None:
        """Shown until quit, not only as a toast: the run is not going on, and that must stay visible."""
        self.run_error = message
        self.error_line.show(Text(f" error: {message} · q quits", no_wrap=True, overflow="ellipsis"))
        self.error_line.display = True
        self.notify(message, title="Error", severity="error", timeout=30)
        self._update_status()
        if self._quitting:
            self._exit_with(1)

    # ------------------------------------------------------------ engine intake
    def on_engine_batch(self, message: EngineBatch) -> None:
        changes = Changes()
        model = self.model
        panes = self.panes()
        out_tasks: list[str] = []
        for item in message.items:
            if isinstance(item, OutputChunk):
                self.outputs.add_parts(item.task, item.attempt, item.parts)
                out_tasks.append(item.task)
                for pane in panes:
                    if pane.task_name == item.task:
                        self._feed_pane(pane, item.attempt, item.parts)
            else:
                self._apply(item, changes)
        for name in changes.tasks:
            view = model.tasks.get(name)
            if view is not None and view.state.finished:
                self.outputs.finished(name)
        dag = self.dag
        if dag.built:
            dag.refresh_tasks(changes.tasks)
        if self.stage_tree.built:
            self.stage_tree.refresh_tasks(changes.tasks)
        self._update_timeline()
        if changes.finished:  # one toast sums up the end, failures of this moment included
            self._alert_finished()
        elif changes.failed:
            self._alert_failures(changes.failed)
        if self.auto:
            self._auto_follow(out_tasks, changes.failed)
        self._update_status(changes)

    def _apply(self, event: Event, changes: Changes) -> None:
        self.model.apply(event, changes)
        if isinstance(event, RunStarted):
            self._start_tree_build()
        elif isinstance(event, TasksAdded):
            self._stages_stale = True
            if self.dag.built:
                self.dag.add_tasks(event.tasks)
            else:
                self._pending_adds.append(event)

    def _start_tree_build(self) -> None:
        self.run_worker(self._build_tree(), name="build-tree", group="tree", exit_on_error=False)

    async def _build_tree(self) -> None:
        infos = [self.model.tasks[n].info for n in self.model.order]
        await self.dag.build_dag(infos)
        for event in self._pending_adds:
            self.dag.add_tasks(event.tasks)
        self._pending_adds.clear()
        if self.selected is None:
            first = self.dag.selected_task()
            if first is not None:
                self._select(first)

    # ------------------------------------------------------------------ panes
    def _feed_pane(self, pane: LogPane, attempt: int, parts: list[bytes]) -> None:
        if pane.attempt == WINDOW:  # showing an earlier part of the file: live output waits for `end`
            return
        if attempt != pane.attempt:
            if pane.attempt:
                pane.view.add_marker(f"── attempt {attempt} ──")
            pane.view.doc.start_attempt(attempt, 0, 1)
            pane.attempt = attempt
        pane.view.feed_parts(parts)

    def _load_pane(self, pane: LogPane, task: str | None) -> None:
        self.workers.cancel_group(self, "jump")  # a jump still reading the file is overtaken
        pane.task_name = task
        pane.attempt = 0
        view = self.model.tasks.get(task) if task else None
        if view is None:
            pane.view.clear("(select a task)" if task is None else "(no such task)")
            return
        pane.view.clear("(no output yet)" if not view.info.virtual else "(a folder: it has no output of its own)")
        attempts = [a.number for a in view.attempts]
        out = self.outputs.get(task)  # type: ignore[arg-type]
        if out is not None:
            attempts.append(out.attempt)
        if not attempts or self.sched is None:
            return
        segments = collect(task, attempts, self.outputs, self.sched.log_path, self.max_lines)  # type: ignore[arg-type]
        several = len({s.attempt for s in segments}) > 1
        for seg in segments:
            if several or seg.attempt > 1:
                pane.view.add_marker(f"── attempt {seg.attempt} ──")
            if seg.gap:
                pane.view.add_marker(seg.gap)
            pane.view.doc.start_attempt(seg.attempt, seg.offset, 1 if seg.offset == 0 else None)
            pane.view.feed(seg.data)
            pane.attempt = seg.attempt
        pane.view.follow_end()

    def _select(self, task: str | None) -> None:
        if task == self.selected and self.main_pane.task_name == task:
            return
        self.selected = task
        self._load_pane(self.main_pane, task)
        self._update_status()

    @on(Tree.NodeHighlighted)
    def _node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        tree = event.control
        if isinstance(tree, DagTree) and tree is self.tree:
            task = tree.selected_task()
            if task is not None:
                self._select(task)

    @on(LogView.FollowChanged)
    def _follow_changed(self, event: LogView.FollowChanged) -> None:
        self._update_titles()

    @on(LogView.FollowRequested)
    def _follow_requested(self, event: LogView.FollowRequested) -> None:
        pane = event.view.parent
        if isinstance(pane, LogPane) and pane.attempt == WINDOW:
            self._load_pane(pane, pane.task_name)  # back from a window into the file: live again

    # ---------------------------------------------------------------- status
    def _tick(self) -> None:
        now_running = [n for n, v in self.model.tasks.items() if v.state is TaskState.RUNNING]
        self._update_timeline()
        for tree in (self.dag, self.stage_tree):
            if tree.built and tree.display:
                tree.refresh_tasks(now_running)
        self._update_status()
        if not self._live():
            self._ticker.pause()

    def _update_timeline(self) -> None:
        """At most twice a second: the critical path is recomputed over the whole graph."""
        from tuiflow.ui.screens.timeline import TimelineScreen
        now = time.monotonic()
        if isinstance(self.screen, TimelineScreen) and now - self._timeline_at >= 0.5:
            self._timeline_at = now
            self.screen.update_chart()

    def _live(self) -> bool:
        counts = self.model.counts
        return self.model.started_at is not None and (
            counts[TaskState.RUNNING] > 0 or counts[TaskState.RETRYING] > 0)

    def _run_state(self) -> str:
        if self.run_error:
            return "ERROR"
        if self.sched is None or self.model.started_at is None:
            return "STARTING"
        return self.sched.run_state

    def _update_status(self, changes: Changes | None = None) -> None:
        now = self.clock()
        model = self.model
        sched = self.sched
        self.header.update_info(HeaderInfo(
            pipeline=model.pipeline or "tuiflow", run_id=model.run_id or "-",
            state=self._run_state(), running=sched.running_count if sched else 0,
            limit=sched.max_parallel if sched else model.max_parallel,
            elapsed=model.elapsed(now), eta=model.eta_remaining(now)))
        self.progress.update_counts(model.counts, model.total)
        self._update_titles()
        if self._live():
            self._ticker.resume()
        self._refresh_bindings_if_changed()

    def _update_titles(self) -> None:
        now = self.clock()
        for pane in self.panes():
            view = self.model.tasks.get(pane.task_name) if pane.task_name else None
            pane.auto = self.auto and pane is self.main_pane
            extra = ""
            if pane.view.query:
                n = len(pane.view.matches)
                extra = f"/{pane.view.query}: {pane.view.match_index + 1}/{n}" if n else f"/{pane.view.query}: no match"
            pane.show_title(view, now, extra)
            why = None
            if pane is self.main_pane and view is not None and self.sched is not None \
                    and view.state in WHY_STATES:
                try:
                    why = self.sched.why(view.name)
                except KeyError:
                    why = None
            pane.show_why(why)

    def _refresh_bindings_if_changed(self) -> None:
        """Footer recomposes on refresh_bindings: only do it when an answer changed."""
        state = tuple(self.check_action(b.action, ()) for b in self.BINDINGS)
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    # ---------------------------------------------------------------- alerts
    def _alert_failures(self, names: list[str]) -> None:
        views = [self.model.tasks[n] for n in names if n in self.model.tasks]
        if not views:
            return
        if len(views) == 1:
            v = views[0]
            body = f"{v.name}: {v.reason or v.state.value}" + (f" (attempt {v.attempt})" if v.attempt > 1 else "")
        else:
            body = ", ".join(f"{v.name} ({v.reason or v.state.value})" for v in views[:5])
            if len(views) > 5:
                body += f" and {len(views) - 5} more"
        title = "Task failed" if len(views) == 1 else f"{len(views)} tasks failed"
        self.notify(body, title=title, severity="error", timeout=6)
        self._terminal_alert(f"tuiflow: {title}", body)

    def _alert_finished(self) -> None:
        model = self.model
        result = model.result or "finished"
        elapsed = status.format_clock(model.elapsed(self.clock()))
        failed = len(model.failures())
        body = f"{model.pipeline}: {result} in {elapsed}" + (f", {failed} failed" if failed else "")
        self.notify(body, title=f"Run {result}", severity="information" if result == "succeeded" else "error",
                    timeout=10)
        self._terminal_alert(f"tuiflow: run {result}", body)
        if self._quitting:
            self._finish_quit()

    def _terminal_alert(self, title: str, body: str) -> None:
        """Bell, plus OSC 9 (iTerm2, Windows Terminal, kitty) and OSC 777 (foot, urxvt, ghostty)."""
        if not self.terminal_alerts or self.is_headless:
            return
        driver = getattr(self, "_driver", None)
        if driver is None:
            return
        clean = lambda s: "".join(ch for ch in s if ch.isprintable() and ch not in ";\x1b\x07")[:200]  # noqa: E731
        driver.write(f"\x1b]9;{clean(title)}: {clean(body)}\x07")
        driver.write(f"\x1b]777;notify;{clean(title)};{clean(body)}\x1b\\")
        self.bell()

    # -------------------------------------------------------------- auto mode
    def _auto_follow(self, out_tasks: list[str], failed: list[str]) -> None:
        now = time.monotonic()
        target = failed[-1] if failed else (out_tasks[-1] if out_tasks else None)
        current = self.main_pane.task_name
        if target is None or target == current:
            return
        quiet = current is None or now - self.outputs.last_output.get(current, 0.0) >= 1.0
        if failed or (quiet and now - self._auto_switched >= 1.0):
            self._auto_switched = now
            if not self.tree.select_task(target):
                self._select(target)

    # ------------------------------------------------------- search bar events
    @on(Input.Submitted, "#searchbar")
    def _search_submitted(self, event: Input.Submitted) -> None:
        pane = getattr(self, "_search_pane", self.main_pane)
        bar = self.searchbar
        bar.display = False
        count = pane.view.search(event.value)
        if event.value and count:
            pane.view.next_match(1)
        elif event.value:
            self.notify(f"no match for {event.value!r}", severity="warning", timeout=3)
        pane.view.focus()
        self._update_status()

    def on_key(self, event: events.Key) -> None:
        """escape closes the search bar (the Input would otherwise keep the focus)."""
        if event.key == "escape":
            bar = self.searchbar
            if bar.display:
                bar.display = False
                getattr(self, "_search_pane", self.main_pane).view.focus()
                event.stop()


    # ------------------------------------------------------------------ quit
    async def action_quit(self) -> None:
        if self._quitting:
            return
        counts = self.model.counts
        live = self.sched is not None and self.model.started_at is not None and self.model.result is None \
            and self._run_state() in LIVE_STATES
        if not live:
            self._quitting = True
            self._finish_quit()
            return
        waiting = sum(counts[s] for s in (TaskState.PENDING, TaskState.READY, TaskState.RETRYING,
                                          TaskState.HELD, TaskState.BLOCKED))

        def chosen(choice: str | None) -> None:
            if choice == "cancel":
                self._quitting = True
                self.notify("Cancelling the run…", timeout=10)
                assert self.sched is not None
                self.sched.cancel_run()
                self._after_control()
                if self.model.result is not None:
                    self._finish_quit()
        self.push_screen(QuitScreen(counts[TaskState.RUNNING], waiting), chosen)

    def _finish_quit(self) -> None:
        """Close the run; the app exits when the scheduler worker returns."""
        if self.sched is None or self._scheduler_worker is None or self._scheduler_worker.is_finished:
            self._exit_with(self._final_exit_code())
            return
        self.sched.close()

    def _exit_with(self, code: int) -> None:
        self.exit(code, return_code=code)

    def _final_exit_code(self) -> int:
        if self._signal_code is not None:
            return self._signal_code
        if self.run_error:
            return 1
        if self.model.exit_code is not None:
            return self.model.exit_code
        return self.exit_code if self.exit_code is not None else 1

    def summary(self) -> object:
        sched = self.sched
        log_path = sched.log_path if sched is not None else (lambda task, attempt: None)
        state = self.model.result or (self._run_state().lower())
        return render_summary(self.model, self.outputs, log_path, self.clock(), state,
                              self._final_exit_code(), why=sched.why if sched is not None else None)


def run_tui(pipeline: object, scheduler: SchedulerAPI | Callable[[], SchedulerAPI], *,
            theme: str | None = None, clock: Callable[[], float] = time.time) -> int:
    """Open the app on a run; when it closes, print the summary and return the run's exit code.

    `scheduler` is a Scheduler or a zero-argument factory of one (called inside the app, so the
    run folder is created only once the terminal is ready).
    """
    name = getattr(pipeline, "name", "") or ""
    app = TuiflowApp(scheduler, theme=theme, clock=clock, title=name)
    code = app.run()
    if app.model.started_at is not None or app.run_error:
        console = Console(highlight=False, soft_wrap=True)
        console.print(app.summary())
        if app.run_error:
            console.print(f"[red]error:[/] {app.run_error}")
    return code if isinstance(code, int) else app._final_exit_code()


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: tuiflow PIPELINE.yaml")
