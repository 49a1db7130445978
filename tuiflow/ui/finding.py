"""Finding what matters in a big run: go to a task by name (fuzzy, in a palette of tasks), show
only failed / running / waiting tasks, jump to the next or previous failure.

None of these touch the run; they move the tree's cursor or change what the tree lists. Mixed
into TuiflowApp.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import CommandPalette, DiscoveryHit, Hit, Hits, Provider

from tuiflow.engine.model import TaskState
from tuiflow.ui import status
from tuiflow.ui.treeplan import Row

if TYPE_CHECKING:
    from textual.widgets import ContentSwitcher

    from tuiflow.engine.runview import RunView
    from tuiflow.ui.widgets.dag_tree import DagTree

S = TaskState
# `f` cycles through these: what the tree lists (None: every task, as a tree)
FILTERS: tuple[tuple[str, frozenset[TaskState]] | None, ...] = (
    None,
    ("failed", frozenset({S.FAILED, S.TIMED_OUT})),
    ("running", frozenset({S.RUNNING, S.RETRYING})),
    ("waiting", frozenset({S.PENDING, S.READY, S.HELD, S.BLOCKED, S.AWAITING_APPROVAL})),
)
GOTO_LIMIT = 200   # tasks listed before anything is typed


class TaskFinder(Provider):
    """The run's tasks for the command palette: type part of a name, enter goes to it."""

    def _tasks(self) -> Iterable[tuple[str, str]]:
        app = self.app
        model: RunView = app.model  # type: ignore[attr-defined]
        for name in model.order:
            view = model.tasks[name]
            yield name, f"{status.SYMBOLS[view.state]} {view.state.value.replace('_', ' ')}" + (
                f" · {view.reason}" if view.reason else "")

    async def discover(self) -> Hits:
        for n, (name, help_text) in enumerate(self._tasks()):
            if n >= GOTO_LIMIT:
                break
            yield DiscoveryHit(name, partial(self.app.go_to_task, name), help=help_text)  # type: ignore[attr-defined]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text in self._tasks():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.app.go_to_task, name),  # type: ignore[attr-defined]
                          text=name, help=help_text)


class FindingActions:
    """Needs from the app: `model`, `dag`, `switcher`, `tree`, `selected`, `_select`."""

    if TYPE_CHECKING:  # provided by TuiflowApp
        model: RunView
        dag: DagTree
        switcher: ContentSwitcher
        selected: str | None
        filter_index: int

    def action_goto(self) -> None:
        self.push_screen(CommandPalette(providers=[TaskFinder], placeholder="Go to task… (type part of its name)"))

    def go_to_task(self, name: str) -> None:
        """Put the tree's cursor on a task (leaving a filter that hides it)."""
        if self._filtered_out(name):
            self._set_filter(0)
            self.call_after_refresh(self.go_to_task, name)
            return
        if not self.tree.select_task(name):
            self._select(name)

    def _filtered_out(self, name: str) -> bool:
        wanted = FILTERS[self.filter_index]
        view = self.model.tasks.get(name)
        return wanted is not None and view is not None and view.state not in wanted[1]

    # ------------------------------------------------------------------ failures
    def action_next_failure(self, step: int = 1) -> None:
        """The next (or previous) failed task below (above) the cursor, in the order of the tree."""
        tree = self.tree
        failed = [n for n, v in self.model.tasks.items() if v.state in status.FAILED and not v.info.virtual]
        lines = sorted((tree.nodes[n][0].line, n) for n in failed if n in tree.nodes and tree.nodes[n][0].line >= 0)
        if not lines:
            self.notify("no failed task", timeout=2)
            return
        here = tree.cursor_line
        after = [ln for ln in lines if (ln[0] > here if step > 0 else ln[0] < here)]
        line, name = (after[0] if step > 0 else after[-1]) if after else (lines[0] if step > 0 else lines[-1])
        tree.select_task(name)

    # ------------------------------------------------------------------ filter
    def action_filter(self) -> None:
        self._set_filter((self.filter_index + 1) % len(FILTERS))

    def _set_filter(self, index: int) -> None:
        self.filter_index = index
        wanted = FILTERS[index]
        self.switcher.current = "dag"
        self.run_worker(self._rebuild_for_filter(), group="tree", exclusive=True, exit_on_error=False)
        self.notify("every task, as a tree" if wanted is None else f"only {wanted[0]} tasks (f: next filter)",
                    timeout=2)

    def filtered_names(self) -> list[str] | None:
        wanted = FILTERS[self.filter_index]
        if wanted is None:
            return None
        return [n for n in self.model.order if self.model.tasks[n].state in wanted[1]
                and not self.model.tasks[n].info.virtual]

    async def _rebuild_for_filter(self) -> None:
        dag = self.dag
        names = self.filtered_names()
        selected = self.selected
        dag.reset()
        if names is None:
            await dag.build_dag([self.model.tasks[n].info for n in self.model.order])
        else:
            await dag.build_rows([Row("task", n) for n in names])
            dag.filtered = set(names)
        if selected and not dag.select_task(selected):
            first = dag.selected_task()
            if first is not None:
                self._select(first)

    def refilter_if_changed(self) -> None:
        """A filtered list follows the run: rebuilt when a task enters or leaves it."""
        names = self.filtered_names()
        if names is not None and set(names) != self.dag.filtered:
            self.run_worker(self._rebuild_for_filter(), group="tree", exclusive=True, exit_on_error=False)
