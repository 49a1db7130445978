"""The run controls behind the keys: each calls one scheduler control, and only when it applies.

`check_action` answers from `scheduler.can(control, task)`, so the footer dims and the command
palette leaves out whatever would change nothing now. Mixed into TuiflowApp.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.screen import Screen

from tuiflow.ui.screens.confirm import ApprovalScreen, ConfirmScreen
from tuiflow.ui.widgets.log_pane import LogPane
from tuiflow.ui.widgets.log_view import LogView

if TYPE_CHECKING:
    from tuiflow.engine.runview import RunView
    from tuiflow.ui.bridge import Bridge
    from tuiflow.ui.protocol import SchedulerAPI
    from tuiflow.ui.widgets.dag_tree import DagTree

TASK_CONTROLS = {"cancel_task": "cancel", "retry": "retry", "rerun": "rerun", "skip": "skip"}
ALWAYS = frozenset({"help", "quit", "toggle_view", "timeline", "search_all", "auto", "goto", "filter",
                    "next_failure"})
RUN_CONTROLS = frozenset({*TASK_CONTROLS, "hold", "approve", "cancel_run", "retry_failed", "limit", "pause",
                          "resume"})


class ControlActions:
    """Needs from the app: `sched`, `model`, `selected`, `bridge`, `_update_status`."""

    if TYPE_CHECKING:  # provided by TuiflowApp
        sched: SchedulerAPI
        model: RunView
        selected: str | None
        bridge: Bridge
        main_pane: LogPane
        tree: DagTree

    def _selected_task(self) -> str | None:
        """The task on the cursor's row as the key is read. Keys arrive in bursts (over SSH, or
        typed ahead): the tree's highlight message of a cursor move may still be queued behind
        the key, so `selected` (set by that message) can lag; the cursor itself never does."""
        tree = self.tree
        task = tree.selected_task() if tree.built else self.selected
        return task if task in self.model.tasks else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        sched = self.sched
        if action in ALWAYS:
            return True
        if self.model.started_at is None:
            return None
        if sched.read_only and action in RUN_CONTROLS:
            return False  # a read-only viewer: the controls are not even listed
        task = self._selected_task()
        if action in TASK_CONTROLS:
            return True if task and sched.can(TASK_CONTROLS[action], task) else None
        if action == "approve":  # listed only where a gate awaits: elsewhere it would only puzzle
            return True if task and sched.can("approve", task) else False
        if action == "hold":
            return True if task and (sched.can("hold", task) or sched.can("release", task)) else None
        if action == "cancel_run":
            return True if sched.can("cancel_run", None) else None
        if action == "retry_failed":
            return True if sched.can("retry_failed", None) else None
        if action in ("pause", "resume"):  # one key, two words: the footer says what p would do now
            return sched.can(action, None) or False
        if action == "limit":
            return True if (parameters and parameters[0] == 1) or sched.max_parallel > 1 else None
        if action in ("search_next", "search_prev"):
            return True if self._target_pane().can_step else None
        if action in ("pin", "pager", "wrap", "search"):
            return True if task else None
        return True

    def _target_pane(self) -> LogPane:
        focused = self.focused
        if isinstance(focused, LogView) and isinstance(focused.parent, LogPane):
            return focused.parent
        return self.main_pane

    def _after_control(self) -> None:
        self.bridge.flush()
        self._update_status()

    def action_pause(self) -> None:
        if not self.sched.paused:
            self.sched.pause()
            self._after_control()

    def action_resume(self) -> None:
        if self.sched.paused:
            self.sched.resume()
            self._after_control()

    def action_limit(self, step: int) -> None:
        new = max(1, self.sched.max_parallel + step)
        if new != self.sched.max_parallel:
            self.sched.set_max_parallel(new)
        self._after_control()

    def _confirm(self, question: str, then: Callable[[], None]) -> None:
        def done(yes: bool | None) -> None:
            if yes:
                then()
                self._after_control()
        self.push_screen(ConfirmScreen(question), done)

    def action_cancel_task(self) -> None:
        task = self._selected_task()
        if task and self.sched.can("cancel", task):
            self._confirm(f"Cancel task {task}? Its process group is terminated and its "
                          "downstream is blocked.", lambda: self.sched.cancel(task))

    def action_cancel_run(self) -> None:
        if self.sched.can("cancel_run", None):
            self._confirm("Cancel the whole run? Every running task is terminated and nothing new "
                          "starts (r / R can still retry afterwards).", self.sched.cancel_run)

    def _task_control(self, control: str, task: str | None = None) -> None:
        task = task or self._selected_task()
        if task is None:
            return
        if not self.sched.can(control, task):
            self.notify(f"cannot {control} {task} now ({self.model.tasks[task].state.value})",
                        severity="warning", timeout=3)
            return
        getattr(self.sched, control)(task)
        self._after_control()

    def action_retry(self) -> None:
        self._task_control("retry")

    def action_rerun(self) -> None:
        task = self._selected_task()
        if task and self.sched.can("rerun", task):
            self._confirm(f"Rerun {task} and everything downstream of it? Downstream tasks that are "
                          "running are stopped and start again.", lambda: self._task_control("rerun", task))

    def action_skip(self) -> None:
        self._task_control("skip")

    def action_hold(self) -> None:
        task = self._selected_task()
        if task:
            self._task_control("release" if self.sched.can("release", task) else "hold")

    def action_approve(self) -> None:
        task = self._selected_task()
        if not (task and self.sched.can("approve", task)):
            return

        def decided(choice: str | None) -> None:
            if choice in ("approve", "reject"):
                self._task_control(choice, task)
        self.push_screen(ApprovalScreen(task, self.model.tasks[task].info.description), decided)

    def action_retry_failed(self) -> None:
        if self.sched.can("retry_failed", None):
            self.sched.retry_failed()
            self._after_control()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """tuiflow's own commands only (and its theme picker), not Textual's generic ones."""
        yield SystemCommand("Theme", "Change the colours (tuiflow's themes)", self.action_change_theme)
        for binding in self.BINDINGS:
            if binding.key == "ctrl+q":
                continue
            if self.check_action(binding.action.split("(")[0], _params(binding.action)) is True:
                yield SystemCommand(binding.tooltip or binding.description,
                                    f"key {binding.key_display or binding.key}",
                                    lambda action=binding.action: self.call_later(self.run_action, action))


def _params(action: str) -> tuple[object, ...]:
    if "(" not in action:
        return ()
    inner = action[action.index("(") + 1: action.rindex(")")]
    try:
        return (int(inner),)
    except ValueError:
        return (inner,)


