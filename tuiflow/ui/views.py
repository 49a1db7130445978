"""What the view keys do: pinned panes, auto-follow, search, wrap, pager, stages, timeline, help.

None of these touch the run; they change what is shown. Mixed into TuiflowApp.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from textual.actions import SkipAction
from textual.widgets import Input

from tuiflow.engine.graph import topological_levels
from tuiflow.ui.screens.help import HelpScreen
from tuiflow.ui.treeplan import stages
from tuiflow.ui.widgets.log_pane import LogPane

if TYPE_CHECKING:
    from textual.containers import Horizontal
    from textual.widgets import ContentSwitcher

    from tuiflow.engine.runview import RunView
    from tuiflow.ui.protocol import SchedulerAPI
    from tuiflow.ui.widgets.dag_tree import DagTree
    from tuiflow.ui.widgets.search_bar import SearchBar

MAX_PANES = 4
MIN_PANE_WIDTH = 30
PAGER_COPY_LIMIT = 256 * 1024 * 1024   # bytes of a log on another machine copied for the pager


def pager_command(environ: Mapping[str, str]) -> list[str]:
    """$PAGER (default `less -R`). A plain `less` shows a log with colours as "may be a binary
    file" and the escape codes as text: it gets -R, unless it or $LESS already says -R or -r."""
    pager = shlex.split(environ.get("PAGER") or "less -R")
    if pager and os.path.basename(pager[0]) == "less":
        flags = "".join(a[1:] for a in pager[1:] if a.startswith("-") and not a.startswith("--"))
        flags += environ.get("LESS", "").replace("-", "")
        if "R" not in flags and "r" not in flags:
            pager.append("-R")
    return pager


class ViewActions:
    """Needs from the app: the widgets, the model, `_select`, `_load_pane`, `_update_titles`."""

    if TYPE_CHECKING:  # provided by TuiflowApp
        sched: SchedulerAPI
        model: RunView
        max_lines: int
        auto: bool
        _auto_switched: float
        _stages_stale: bool
        main_pane: LogPane
        pane_row: Horizontal
        searchbar: SearchBar
        switcher: ContentSwitcher
        dag: DagTree
        stage_tree: DagTree

    def action_pin(self) -> None:
        task = self._selected_task()
        if task is None:
            return
        for pane in self.panes():
            if pane.pinned and pane.task_name == task:
                pane.remove()
                self.call_after_refresh(self._arrange_panes)
                self.call_after_refresh(self._update_titles)
                return
        if len(self.panes()) >= MAX_PANES:
            self.notify(f"at most {MAX_PANES} panes: enter on a pinned task unpins it",
                        severity="warning", timeout=4)
            return
        pane = LogPane(pinned=True, max_lines=self.max_lines)
        self.pane_row.mount(pane)
        self.call_after_refresh(self._arrange_panes)
        self.call_after_refresh(self._load_pinned, pane, task)

    def _load_pinned(self, pane: LogPane, task: str) -> None:
        self._load_pane(pane, task)
        self._update_titles()

    def _arrange_panes(self) -> None:
        """Side by side while each pane keeps 30 columns; else two by two."""
        n = len(self.panes())
        width = self.pane_row.size.width or 80
        columns = n if n <= 1 or width // n >= MIN_PANE_WIDTH else 2
        styles = self.pane_row.styles
        styles.layout = "grid"
        styles.grid_size_columns = columns
        styles.grid_size_rows = -(-n // columns) if n else 1
        styles.grid_rows = "1fr"
        styles.grid_columns = "1fr"
        for index, pane in enumerate(self.panes()):
            pane.set_class(index % columns == 0, "-first")  # no divider left of a row's first pane

    def action_auto(self) -> None:
        self.auto = not self.auto
        wrote = [v for v in self.model.tasks.values() if v.output.last]
        if self.auto and wrote:  # start with the task that wrote last
            latest = max(wrote, key=lambda v: v.output.last).name
            if latest != self.main_pane.task_name:
                self._auto_switched = time.monotonic()
                if not self.tree.select_task(latest):
                    self._select(latest)
        self.notify("auto-follow on: the pane follows the task that last wrote or failed" if self.auto
                    else "auto-follow off", timeout=3)
        self._update_titles()

    def action_follow(self) -> None:
        self._target_pane().view.action_follow()

    def action_wrap(self) -> None:
        view = self._target_pane().view
        view.wrap = not view.wrap
        self._update_titles()

    def action_search(self) -> None:
        if self.screen is not self.main_pane.screen or isinstance(self.focused, Input):
            raise SkipAction()   # `/` typed in a text field, or another screen is up: not for us
        pane = self._target_pane()
        self.searchbar.open(pane.search.query if pane.search else "", pane.view,
                            lambda query: self._search_closed(pane, query))

    def action_search_next(self) -> None:
        self._target_pane().next_match(True)

    def action_search_prev(self) -> None:
        self._target_pane().next_match(False)

    def action_pager(self) -> None:
        task = self._selected_task()
        if task is None or self.sched.logs is None:
            return
        self.run_worker(self._page(task, max(1, self.model.tasks[task].attempt)), group="pager",
                        exclusive=True, exit_on_error=False)

    async def _page(self, task: str, attempt: int) -> None:
        """$PAGER on the attempt's log: the file itself when it is on this machine, else a copy
        fetched from the engine (at most PAGER_COPY_LIMIT) in a private temporary file."""
        logs = self.sched.logs  # type: ignore[union-attr]
        path = await logs.local_path(task, attempt)
        copy = None
        if not path or not os.path.exists(path):
            fd, copy = tempfile.mkstemp(prefix="tuiflow-", suffix=".log")
            with os.fdopen(fd, "wb") as f:
                offset = 0
                while offset < PAGER_COPY_LIMIT:
                    data = await logs.read(task, attempt, offset)
                    if not data:
                        break
                    f.write(data)
                    offset += len(data)
            if offset == 0:
                os.unlink(copy)
                self.notify(f"{task} has no log file yet", severity="warning", timeout=3)
                return
            path = copy
        pager = pager_command(os.environ)
        try:
            with self.suspend():
                subprocess.run([*pager, path], check=False)
        except Exception as exc:  # SuspendNotSupported, pager missing: say so
            self.notify(f"cannot open the pager: {exc}", severity="error", timeout=5)
        finally:
            if copy is not None:
                with contextlib.suppress(OSError):
                    os.unlink(copy)

    def action_toggle_view(self) -> None:
        switcher = self.switcher
        if switcher.current == "dag":
            stage_tree = self.stage_tree
            if self._stages_stale:
                self._stages_stale = False
                self.run_worker(self._build_stages(), group="tree", exit_on_error=False)
            switcher.current = "stages"
            stage_tree.focus()
        else:
            switcher.current = "dag"
            self.dag.focus()
        self.call_after_refresh(self._reselect)

    async def _build_stages(self) -> None:
        tree = self.stage_tree
        tree.reset()
        levels = topological_levels(self.model.deps())
        await tree.build_rows(stages(levels))
        self._reselect()

    def _reselect(self) -> None:
        if self.selected:
            self.tree.select_task(self.selected)

    def action_help(self) -> None:
        self.push_screen(HelpScreen([b for b in self.BINDINGS if b.key != "ctrl+q"]))

    def action_timeline(self) -> None:
        from tuiflow.ui.screens.timeline import TimelineScreen
        self.push_screen(TimelineScreen(self.model, self.clock))

    def action_search_all(self) -> None:
        from tuiflow.ui.screens.search import SearchAllScreen
        if self.sched.logs is None:
            return
        self.push_screen(SearchAllScreen(self.model, self.sched.logs), self._jump_to_hit)

    def _jump_to_hit(self, hit: tuple[str, int, int, str] | None) -> None:
        """A hit of the search across logs: its task in the main pane, at that line."""
        if not hit:
            return
        task, attempt, line, query = hit
        if not self.tree.select_task(task):
            self._select(task)
        self.call_after_refresh(self._reveal, task, attempt, line, query)

    def _reveal(self, task: str, attempt: int, line: int, query: str) -> None:
        if self.main_pane.task_name != task:
            self._select(task)
        self.main_pane.reveal(attempt, line, query)
