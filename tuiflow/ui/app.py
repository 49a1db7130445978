"""TuiflowApp: the terminal application, and `run_tui`, its entry point.

The app owns no run logic. It runs `scheduler.run(stay_open=True)` as a worker — an engine in
another process reached over its socket (`tuiflow.remote.client.RemoteRun`), or, in tests, a
Scheduler in this process — receives events through the Bridge (one message per flush), keeps
a RunView for drawing, and calls only the SchedulerAPI (ui/protocol.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.filter import LineFilter
from textual.widgets import ContentSwitcher, Tree
from textual.worker import Worker, WorkerState

from tuiflow.engine import stopsignals
from tuiflow.engine.events import ControlApplied, Event, RunStarted, TasksAdded
from tuiflow.engine.model import LIVE_RUN_STATES, RunState, TaskState
from tuiflow.engine.runview import Changes, RunView
from tuiflow.ui import status
from tuiflow.ui.bridge import Bridge, EngineBatch, OutputChunk
from tuiflow.ui.controls import ControlActions
from tuiflow.ui.finding import FindingActions
from tuiflow.ui.linefilters import TuiflowFilters
from tuiflow.ui.protocol import EngineGone, SchedulerAPI
from tuiflow.ui.screens.confirm import QuitScreen
from tuiflow.ui.summary import LAST_LINES, last_lines, render_summary
from tuiflow.ui.textual_driver import write_to_terminal
from tuiflow.ui.themes import DEFAULT_THEME, load_themes
from tuiflow.ui.views import ViewActions
from tuiflow.ui.widgets.dag_tree import DagTree
from tuiflow.ui.widgets.footer import RunFooter
from tuiflow.ui.widgets.log_pane import LogPane
from tuiflow.ui.widgets.log_view import LogView
from tuiflow.ui.widgets.search_bar import SearchBar
from tuiflow.ui.widgets.status_bar import HeaderInfo, ProgressLine, RunHeader, TextLine

LIVE_STATES = frozenset(state.value for state in LIVE_RUN_STATES)
# states whose reason is not already in the pane title: say why the task waits
WHY_STATES = frozenset({TaskState.PENDING, TaskState.READY, TaskState.RETRYING, TaskState.BLOCKED,
                        TaskState.HELD, TaskState.SKIPPED, TaskState.AWAITING_APPROVAL})
HANGUP_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
EXIT_DEADLINE = 1.5   # seconds a viewer whose terminal went away may take to leave, then it is cut short
SUMMARY_FAILURES = 20  # failures whose last lines the summary prints


class TuiflowApp(ControlActions, ViewActions, FindingActions, App[int]):
    CSS_PATH = "styles/app.tcss"
    TITLE = "tuiflow"

    LIMIT = Binding.Group("limit", compact=True)
    # description: the footer's word; tooltip: the sentence for help and the command palette
    BINDINGS = [
        Binding("p", "pause", "pause", tooltip="Pause: start nothing new, running tasks go on"),
        Binding("p", "resume", "resume", tooltip="Resume: start tasks again"),
        Binding("plus", "limit(1)", "limit+", key_display="+", group=LIMIT,
                tooltip="Raise the concurrency limit by one"),
        Binding("minus", "limit(-1)", "limit-", key_display="-", group=LIMIT,
                tooltip="Lower the concurrency limit by one (running tasks are never killed)"),
        Binding("c", "cancel_task", "cancel", tooltip="Cancel the selected task (asks first)"),
        Binding("C", "cancel_run", "cancel run", show=False, tooltip="Cancel the whole run (asks first)"),
        Binding("r", "retry", "retry", tooltip="Retry the selected failed, cancelled or skipped task"),
        Binding("R", "retry_failed", "retry all", tooltip="Retry every failed, timed-out and cancelled task"),
        Binding("e", "rerun", "rerun", tooltip="Rerun the selected task and its downstream (asks first)"),
        Binding("s", "skip", "skip", tooltip="Skip the selected task (downstream treats it as done)"),
        Binding("h", "hold", "hold", tooltip="Hold the selected task back, or release it"),
        Binding("A", "approve", "approve", key_display="A",
                tooltip="Approve or reject the selected gate (asks)"),
        Binding("enter", "pin", "pin", show=False, tooltip="Pin the selected task into an extra pane (again: unpin)"),
        Binding("a", "auto", "auto", show=False, tooltip="Auto: the pane follows the task that last wrote or failed"),
        Binding("g", "goto", "go to", show=False, tooltip="Go to a task by name (type part of it)"),
        Binding("f", "filter", "filter", show=False,
                tooltip="Filter the tree: only failed, running or waiting tasks, or all (cycles)"),
        Binding("right_square_bracket", "next_failure(1)", "next failed", key_display="]", show=False,
                tooltip="Go to the next failed task"),
        Binding("left_square_bracket", "next_failure(-1)", "previous failed", key_display="[", show=False,
                tooltip="Go to the previous failed task"),
        # priority: read in the app's turn, so the keys typed right after it go to the search bar
        Binding("slash", "search", "search", key_display="/", priority=True, tooltip="Search the log pane"),
        Binding("n", "search_next", "next", show=False, tooltip="Next search match"),
        Binding("N", "search_prev", "previous", show=False, tooltip="Previous search match"),
        Binding("w", "wrap", "wrap", show=False, tooltip="Wrap long lines in the log pane"),
        Binding("o", "pager", "pager", show=False, tooltip="Open the task's full log in $PAGER"),
        Binding("ctrl+f", "search_all", "find all", show=False, tooltip="Search every task's log"),
        Binding("t", "timeline", "timeline", tooltip="Timeline: a Gantt chart of every attempt"),
        Binding("v", "toggle_view", "stages", show=False, tooltip="Switch the tree between dependencies and stages"),
        Binding("question_mark", "help", "help", key_display="?", tooltip="Help: every key"),
        Binding("q", "quit", "quit", tooltip="Quit (asks what to do with a live run: detach, cancel or stay)"),
        Binding("ctrl+q", "quit", "quit", show=False, priority=True),
    ]

    def __init__(self, scheduler: SchedulerAPI, *,
                 theme: str | None = None, clock: Callable[[], float] = time.time,
                 max_lines: int = 10_000, terminal_alerts: bool = True, title: str = "") -> None:
        super().__init__()
        # No smooth-scroll animations: each frame of one is a full repaint sent down the link.
        self.animation_level = "none"
        self.sched: SchedulerAPI = scheduler
        self.clock = clock
        self.max_lines = max_lines
        self.terminal_alerts = terminal_alerts
        self.requested_theme = theme
        self.model = RunView()
        self.model.pipeline = title
        self.bridge = Bridge(self)
        self.exit_code: int | None = None
        self.run_error: str | None = None
        self.engine_gone = False
        self.detached = False
        self.hung_up = False
        self.last_lines: dict[str, list[str]] = {}
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
        self._signals: list[tuple[int, object]] = []
        self._line_filters = TuiflowFilters()
        self.full_summary = False     # --summary full: the record printed at the end lists every task
        self.filter_index = 0         # what the tree lists (ui/finding.py FILTERS): 0 every task
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
        ours = {theme.name for theme in themes}
        if self.theme in ours:  # the theme picker offers tuiflow's themes only
            for name in list(self.available_themes):
                if name not in ours:
                    self.unregister_theme(name)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(status.DEFAULT_COLORS)

    def get_line_filters(self) -> Sequence[LineFilter]:
        return self._line_filters.adjust(super().get_line_filters())

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
        self.searchbar = SearchBar(placeholder="search this log (enter: find, escape: close)", id="searchbar")
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
        yield RunFooter(compact=True, show_command_palette=False)

    @property
    def tree(self) -> DagTree:
        """The tree on screen (dependencies or stages)."""
        return self.stage_tree if self.switcher.current == "stages" else self.dag

    def panes(self) -> list[LogPane]:
        return list(self.pane_row.query(LogPane))

    @property
    def read_only(self) -> bool:
        return self.sched.read_only

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
        self._continue_only_after_own_stop()
        self.sched.subscribe(self.bridge)
        self._scheduler_worker = self.run_worker(self._run_scheduler(), name="scheduler",
                                                 group="scheduler", exit_on_error=False)
        self._update_status()

    def _install_signal_handlers(self) -> None:
        """SIGHUP, SIGTERM, SIGINT: a viewer detaches and leaves at once (its terminal may be gone:
        it never waits on it); a run in this process is cancelled cleanly instead (143/130/129).

        The handler is a plain signal handler, not the event loop's: a loop stuck writing to a
        terminal that stopped reading would never run it. It starts the exit deadline on a thread
        of its own, then asks the loop to leave the normal way.
        """
        if self.is_headless:
            return
        loop = asyncio.get_running_loop()

        def handler(sig: int, _frame: object) -> None:
            if self.sched.can_detach:
                deadline = threading.Timer(EXIT_DEADLINE, os._exit, (stopsignals.exit_code(sig),))
                deadline.daemon = True
                deadline.start()
            loop.call_soon_threadsafe(self._on_signal, sig)

        for sig in HANGUP_SIGNALS:
            try:
                self._signals.append((sig, signal.signal(sig, handler)))
            except (ValueError, OSError):  # not the main thread
                continue

    def _continue_only_after_own_stop(self) -> None:
        """Textual restarts its terminal handling on every SIGCONT, assuming it stopped itself
        (SIGTSTP). A viewer stopped and continued by someone else (SIGSTOP, then SIGCONT) would
        get a second input thread, and two threads reading one terminal hang the app on quit.
        So Textual's SIGCONT handler runs only after its own SIGTSTP; otherwise the screen is
        just drawn again, as it may be stale."""
        if self.is_headless:
            return
        loop = asyncio.get_running_loop()
        on_tstp, on_cont = signal.getsignal(signal.SIGTSTP), signal.getsignal(signal.SIGCONT)
        if not (callable(on_tstp) and callable(on_cont)):
            return
        stopped_itself = threading.Event()

        def tstp(sig: int, frame: object) -> None:
            stopped_itself.set()
            on_tstp(sig, frame)

        def cont(sig: int, frame: object) -> None:
            if stopped_itself.is_set():
                stopped_itself.clear()
                on_cont(sig, frame)
            else:
                loop.call_soon_threadsafe(lambda: self.refresh(repaint=True, layout=True))

        for sig, handler, previous in ((signal.SIGTSTP, tstp, on_tstp), (signal.SIGCONT, cont, on_cont)):
            signal.signal(sig, handler)
            self._signals.append((sig, previous))

    def _on_signal(self, sig: int) -> None:
        self._signal_code = stopsignals.exit_code(sig)
        self._quitting = True
        if self.sched.can_detach:
            self.hung_up = sig == signal.SIGHUP
            self.detached = True
            self.sched.detach()
            self._exit_with(self._signal_code)
        elif self._scheduler_worker is not None and not self._scheduler_worker.is_finished:
            self.sched.close()  # cancels what runs; the worker's end exits the app
        else:
            self._exit_with(self._signal_code)

    def on_unmount(self) -> None:
        for sig, previous in self._signals:
            signal.signal(sig, previous)
        self._signals.clear()

    async def _run_scheduler(self) -> int:
        return await self.sched.run(stay_open=True)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.name == "scheduler":
            if event.state is WorkerState.ERROR:
                self.bridge.flush()
                if isinstance(worker.error, EngineGone):
                    self._gone(str(worker.error))
                else:
                    self._fail(f"the run stopped with an error: {worker.error!r}")
            elif event.state is WorkerState.SUCCESS:
                self.bridge.flush()
                self.exit_code = worker.result if self.exit_code is None else self.exit_code
                if self._quitting or self.detached:
                    self._exit_with(self._final_exit_code())
                elif self.sched.can_detach:
                    self._gone(self.sched.end_reason or "the engine closed the connection")
        elif worker.name == "build-tree" and event.state is WorkerState.ERROR:
            self._fail(f"cannot draw the tree: {worker.error!r}")

    def _fail(self, message: str) -> None:
        """Shown until quit, not only as a toast: the run is not going on, and that must stay visible."""
        self.run_error = message
        self._show_error(f"error: {message}")
        self.notify(message, title="Error", severity="error", timeout=30)
        if self._quitting:
            self._exit_with(1)

    def _gone(self, message: str) -> None:
        """The engine went away: what is on screen is the last the viewer knew, and says so."""
        self.engine_gone = True
        if not self.model.state.ended:
            changed = self.model.interrupt(self.clock(), "interrupted: the engine is gone")
            for tree in (self.dag, self.stage_tree):
                if tree.built:
                    tree.refresh_tasks(changed)
        self._show_error(message)
        self.notify(message, title="Engine gone", severity="error", timeout=30)
        if self._quitting:
            self._exit_with(self._final_exit_code())

    def _show_error(self, line: str) -> None:
        self.error_line.show(Text(f" {line} · q quits", no_wrap=True, overflow="ellipsis"))
        self.error_line.display = True
        self._update_status()

    # ------------------------------------------------------------ engine intake
    def on_engine_batch(self, message: EngineBatch) -> None:
        changes = Changes()
        model = self.model
        panes = self.panes()
        out_tasks: list[str] = []
        for item in message.items:
            if isinstance(item, OutputChunk):
                model.note_output(item.task, item.attempt, item.offset + sum(map(len, item.parts)),
                                  sum(p.count(b"\n") for p in item.parts), self.clock())
                out_tasks.append(item.task)
                for pane in panes:
                    if pane.task_name == item.task:
                        self._feed_pane(pane, item)
            else:
                self._apply(item, changes)
        if changes.replaced:
            self._after_snapshot()
        dag = self.dag
        if dag.built:
            dag.refresh_tasks(changes.tasks)
            if self.filter_index and changes.tasks:
                self.refilter_if_changed()
        if self.stage_tree.built:
            self.stage_tree.refresh_tasks(changes.tasks)
        self._update_timeline()
        if changes.started and model.notes:
            self.notify("\n".join(model.notes), title="Notes on this pipeline", severity="warning", timeout=15)
        if changes.finished:  # one toast sums up the end, failures of this moment included
            self._alert_finished()
        elif changes.failed:
            self._alert_failures(changes.failed)
        if self.auto:
            self._auto_follow(out_tasks or sorted(changes.output), changes.failed)
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
        elif isinstance(event, ControlApplied):
            self._control_notice(event)

    def _control_notice(self, event: ControlApplied) -> None:
        """Another viewer's control shows here too; one of ours that changed nothing says so."""
        me = self.sched.viewer
        if event.applied and event.by == me and event.control in ("retry", "retry_failed", "rerun") \
                and "changed since the run started" in event.detail:
            self.notify(event.detail, title="The pipeline file changed", severity="warning", timeout=8)
        if not event.by:
            return
        what = f"{event.control.replace('_', ' ')}{' ' + event.task if event.task else ''}"
        if event.by == me:
            if not event.applied:
                self.notify(f"{what}: no effect (the run changed meanwhile)", severity="warning", timeout=3)
        elif event.applied:
            self.notify(f"{what} (by {event.by})", timeout=4)

    def _after_snapshot(self) -> None:
        """A snapshot replaced the whole picture: draw the tree again and reload every pane."""
        self._stages_stale = True
        if self.switcher.current == "stages":
            self.run_worker(self._build_stages(), group="tree", exit_on_error=False)
        if not isinstance(self.model, RunView) or not self.model.order:
            return
        if self.dag.built and set(self.dag.nodes) == set(self.model.tasks):
            self.dag.refresh_tasks(list(self.model.tasks))
        else:
            self._start_tree_build()
        for pane in self.panes():
            if pane.task_name is not None:
                self._load_pane(pane, pane.task_name)

    def _start_tree_build(self) -> None:
        self.run_worker(self._build_tree(), name="build-tree", group="tree", exclusive=True, exit_on_error=False)

    async def _build_tree(self) -> None:
        dag = self.dag
        if dag.built:
            dag.reset()
        infos = [self.model.tasks[n].info for n in self.model.order]
        await dag.build_dag(infos)
        for event in self._pending_adds:
            dag.add_tasks(event.tasks)
        self._pending_adds.clear()
        if self.selected is None or not dag.select_task(self.selected):
            first = dag.selected_task()
            if first is not None:
                self._select(first)

    # ------------------------------------------------------------------ panes
    def _watch_panes(self) -> None:
        """Tell the engine which tasks' output to send (a viewer gets only what it shows)."""
        self.sched.watch(sorted({p.task_name for p in self.panes() if p.task_name}))

    def _feed_pane(self, pane: LogPane, chunk: OutputChunk) -> None:
        pane.feed(chunk.attempt, chunk.offset, chunk.parts)

    def _load_pane(self, pane: LogPane, task: str | None) -> None:
        view = self.model.tasks.get(task) if task else None
        attempts: list[int] = []
        if view is None:
            placeholder = "(select a task)" if task is None else "(no such task)"
        else:
            placeholder = "(no output yet)" if not view.info.virtual else "(a folder: it has no output of its own)"
            attempts = sorted({a.number for a in view.attempts} | ({view.output.attempt} - {0}))
        pane.show(task, attempts, self.sched.logs, placeholder)
        self._watch_panes()

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

    @on(LogPane.StatusChanged)
    def _pane_status_changed(self, event: LogPane.StatusChanged) -> None:
        self._update_status()

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
        """The clock ticks while the run is live: tasks run, wait for a retry, are held, or the run is paused."""
        model = self.model
        return model.started_at is not None and not self.engine_gone and model.result is None \
            and not model.state.ended

    def _run_state(self) -> str:
        if self.run_error:
            return "ERROR"
        if self.engine_gone:
            return self.model.state.value
        if self.model.started_at is None:
            return RunState.STARTING.value
        return self.sched.run_state

    def _update_status(self, changes: Changes | None = None) -> None:
        now = self.clock()
        model = self.model
        sched = self.sched
        self.header.update_info(HeaderInfo(
            pipeline=model.pipeline or "tuiflow", run_id=model.run_id or "-",
            state=self._run_state(), running=sched.running_count if sched else 0,
            limit=sched.max_parallel if sched else model.max_parallel,
            elapsed=model.elapsed(now), eta=model.eta_remaining(now),
            flag="read-only" if self.read_only else "", executor=model.executor))
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
            pane.show_title(view, now)
            why = None
            if pane is self.main_pane and view is not None and view.state in WHY_STATES and not self.engine_gone:
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
        counts = model.counts
        failed = counts[TaskState.FAILED] + counts[TaskState.TIMED_OUT]
        cancelled = counts[TaskState.CANCELLED]
        body = f"{model.pipeline}: {result} in {elapsed}" + (f", {failed} failed" if failed else "") + (
            f", {cancelled} cancelled" if cancelled else "")
        self.notify(body, title=f"Run {result}", severity="information" if result == "succeeded" else "error",
                    timeout=10)
        self._terminal_alert(f"tuiflow: run {result}", body)
        if self._quitting:
            self._finish_quit()

    def _terminal_alert(self, title: str, body: str) -> None:
        """Bell, plus OSC 9 (iTerm2, Windows Terminal, kitty) and OSC 777 (foot, urxvt, ghostty)."""
        if not self.terminal_alerts or self.is_headless:
            return
        clean = lambda s: "".join(ch for ch in s if ch.isprintable() and ch not in ";\x1b\x07")[:200]  # noqa: E731
        if write_to_terminal(self, f"\x1b]9;{clean(title)}: {clean(body)}\x07"
                                   f"\x1b]777;notify;{clean(title)};{clean(body)}\x1b\\"):
            self.bell()

    # -------------------------------------------------------------- auto mode
    def _auto_follow(self, out_tasks: list[str], failed: list[str]) -> None:
        now = time.monotonic()
        target = failed[-1] if failed else (out_tasks[-1] if out_tasks else None)
        current = self.main_pane.task_name
        if target is None or target == current:
            return
        shown = self.model.tasks.get(current) if current else None
        if not failed and shown is not None and shown.state in status.FAILED:
            return  # a failure stays on screen until another one comes (or the user moves)
        last = self.model.tasks[current].output.last if current in self.model.tasks else 0.0
        quiet = current is None or self.clock() - last >= 1.0
        if failed or (quiet and now - self._auto_switched >= 1.0):
            self._auto_switched = now
            if not self.tree.select_task(target):
                self._select(target)

    # ------------------------------------------------------- search bar events
    def _search_closed(self, pane: LogPane, query: str | None) -> None:
        if query is not None and pane.is_attached:
            pane.start_search(query)
        self._update_status()

    # ------------------------------------------------------------------ quit
    async def action_help_quit(self) -> None:
        """ctrl+c (Textual's hint to press ctrl+q): tuiflow's quit, which asks about a live run."""
        await self.action_quit()

    async def action_quit(self) -> None:
        if self._quitting:
            return
        counts = self.model.counts
        live = self.model.started_at is not None and self.model.result is None \
            and not self.engine_gone and self._run_state() in LIVE_STATES
        if not live:
            self._quitting = True
            self._finish_quit()
            return
        waiting = sum(counts[s] for s in (TaskState.PENDING, TaskState.READY, TaskState.RETRYING,
                                          TaskState.HELD, TaskState.BLOCKED))

        def chosen(choice: str | None) -> None:
            if choice == "detach":
                self._detach()
            elif choice == "cancel":
                self._quitting = True
                self.notify("Cancelling the run…", timeout=10)
                self.sched.cancel_run()
                self._after_control()
                if self.model.result is not None:
                    self._finish_quit()
        self.push_screen(QuitScreen(counts[TaskState.RUNNING], waiting, can_detach=self.sched.can_detach,
                                    can_cancel=not self.read_only), chosen)

    def _detach(self) -> None:
        """Leave the run going without this viewer (tmux's detach): the engine keeps it."""
        self.detached = True
        self.sched.detach()

    def _finish_quit(self) -> None:
        """Close the run (or leave it, for a viewer); the app exits when the scheduler worker returns."""
        if self._scheduler_worker is None or self._scheduler_worker.is_finished:
            self._exit_with(self._final_exit_code())
            return
        self.run_worker(self._close_after_summary(), group="quit", exclusive=True, exit_on_error=False)

    async def _close_after_summary(self) -> None:
        """Read the last lines of failed tasks for the summary while the logs can still be read."""
        sched = self.sched
        if sched.logs is not None and not self.engine_gone:
            for view in self.model.failures()[:SUMMARY_FAILURES]:
                try:
                    self.last_lines[view.name] = await asyncio.wait_for(
                        last_lines(sched.logs, view.name, view.attempt, LAST_LINES), 2.0)
                except (EngineGone, OSError, TimeoutError):
                    break
        sched.close()

    def _exit_with(self, code: int) -> None:
        self.exit(code, return_code=code)

    def _final_exit_code(self) -> int:
        if self._signal_code is not None:
            return self._signal_code
        if self.run_error:
            return 1
        if self.detached:
            return 0
        if self.model.exit_code is not None:
            return self.model.exit_code
        return self.exit_code if self.exit_code is not None else 1

    def summary(self) -> object:
        state = self.model.result or (self._run_state().lower())
        why = None if self.engine_gone else self.sched.why
        return render_summary(self.model, self.last_lines, self.clock(), state, self._final_exit_code(), why=why,
                              full=self.full_summary)


def run_tui(title: str, scheduler: SchedulerAPI, *,
            theme: str | None = None, clock: Callable[[], float] = time.time,
            attach_hint: str = "", mouse: bool = True, summary: str = "short") -> int:
    """Open the app on a run; when it closes, print the summary and return the run's exit code.

    `title`: the pipeline's name, until the run says it. After a detach, one line says how to come
    back (`attach_hint`); after a hang-up nothing is printed (there is no terminal to print on).
    `mouse=False` never asks the terminal for mouse reports; `summary="full"` lists every task.
    """
    app = TuiflowApp(scheduler, theme=theme, clock=clock, title=title)
    app.full_summary = summary == "full"
    code = app.run(mouse=mouse)
    if app.hung_up:
        return app._final_exit_code()
    console = Console(highlight=False, soft_wrap=True)
    if app.detached:
        run = app.model.run_id or "the run"
        console.print(f"tuiflow: detached from {run}; it goes on. "
                      f"Come back with: {attach_hint or 'tuiflow attach ' + app.model.run_id}")
    elif app.model.started_at is not None or app.run_error:
        console.print(app.summary())
        if app.run_error:
            console.print(f"[red]error:[/] {app.run_error}")
    return code if isinstance(code, int) else app._final_exit_code()


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: tuiflow PIPELINE.yaml")
