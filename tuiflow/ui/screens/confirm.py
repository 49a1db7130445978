"""Small modal questions: confirm a control, and what to do when quitting a live run."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """y / enter confirms, n / escape declines."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; max-width: 100%; height: auto; padding: 1 2;
        background: $panel; border: round $warning;
    }
    ConfirmScreen Static { width: 100%; margin-bottom: 1; }
    ConfirmScreen Horizontal { height: auto; width: auto; }
    ConfirmScreen Button { margin-right: 2; min-width: 12; }
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question)
            with Horizontal():
                yield Button(f"{self.yes} (y)", variant="warning", id="yes", compact=True)
                yield Button(f"{self.no} (n)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ApprovalScreen(ModalScreen[str]):
    """A gate (`approval: true`) awaits a person: approve (a), reject (x), or decide later (escape)."""

    DEFAULT_CSS = """
    ApprovalScreen { align: center middle; }
    ApprovalScreen > Vertical {
        width: 72; max-width: 100%; height: auto; padding: 1 2;
        background: $panel; border: round $warning;
    }
    ApprovalScreen Static { width: 100%; margin-bottom: 1; }
    ApprovalScreen Horizontal { height: auto; width: auto; }
    ApprovalScreen Button { margin-right: 2; }
    """

    BINDINGS = [
        Binding("a,y", "choose('approve')", "Approve"),
        Binding("x", "choose('reject')", "Reject"),
        Binding("escape,n", "choose('later')", "Later"),
    ]

    def __init__(self, task: str, description: str = "") -> None:
        super().__init__()
        self.task_name, self.description = task, description

    def compose(self) -> ComposeResult:
        about = f"\n{self.description}" if self.description else ""
        with Vertical():
            yield Static(f"{self.task_name} awaits approval.{about}\n"
                         "approve: it starts (recorded in the run's events with who approved it)\n"
                         "reject: it fails and its downstream is blocked (r asks again later)")
            with Horizontal():
                yield Button("Approve (a)", variant="success", id="approve", compact=True)
                yield Button("Reject (x)", variant="error", id="reject", compact=True)
                yield Button("Later (esc)", id="later", compact=True)

    def on_mount(self) -> None:
        self.query_one("#later", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "later")

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


class QuitScreen(ModalScreen[str]):
    """Quitting while the run is live: detach (the run goes on, as tmux's `d`), cancel it, or stay.

    A run in this process cannot be detached from (it would die with the process); a read-only
    viewer cannot cancel.
    """

    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical {
        width: 76; max-width: 100%; height: auto; padding: 1 2;
        background: $panel; border: round $error;
    }
    QuitScreen Static { width: 100%; margin-bottom: 1; }
    QuitScreen Horizontal { height: auto; width: auto; }
    QuitScreen Button { margin-right: 2; }
    """

    BINDINGS = [
        Binding("d", "choose('detach')", "Detach"),
        Binding("c", "choose('cancel')", "Cancel run"),
        Binding("s,escape,q", "choose('stay')", "Stay"),
    ]

    def __init__(self, running: int, waiting: int, can_detach: bool = False, can_cancel: bool = True) -> None:
        super().__init__()
        self.running, self.waiting = running, waiting
        self.can_detach, self.can_cancel = can_detach, can_cancel

    def compose(self) -> ComposeResult:
        ways = []
        if self.can_detach:
            ways.append("detach: the run goes on, `tuiflow attach` comes back to it")
        if self.can_cancel:
            ways.append("cancel: every task's process group is terminated")
        with Vertical():
            yield Static(f"The run is still going: {self.running} running, {self.waiting} waiting.\n"
                         + "\n".join(ways))
            with Horizontal():
                if self.can_detach:
                    yield Button("Detach (d)", variant="primary", id="detach", compact=True)
                if self.can_cancel:
                    yield Button("Cancel run and quit (c)", variant="error", id="cancel", compact=True)
                yield Button("Stay (esc)", id="stay", compact=True)

    def on_mount(self) -> None:
        self.query_one("#detach" if self.can_detach else "#stay", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "stay")

    def action_choose(self, choice: str) -> None:
        if (choice == "detach" and not self.can_detach) or (choice == "cancel" and not self.can_cancel):
            return
        self.dismiss(choice)
