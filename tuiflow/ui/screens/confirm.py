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


class ChoiceScreen(ModalScreen[str]):
    """A question with a few answers, each a button and a key; dismissed with the answer's id.

    Subclasses give `text()`, `choices()` (id, label, variant; the last is what escape means and
    gets the focus) and BINDINGS to `choose(id)`.
    """

    DEFAULT_CSS = """
    ChoiceScreen { align: center middle; }
    ChoiceScreen > Vertical {
        width: 76; max-width: 100%; height: auto; padding: 1 2;
        background: $panel; border: round $warning;
    }
    ChoiceScreen.-danger > Vertical { border: round $error; }
    ChoiceScreen Static { width: 100%; margin-bottom: 1; }
    ChoiceScreen Horizontal { height: auto; width: auto; }
    ChoiceScreen Button { margin-right: 2; }
    """

    focus_first = False    # focus the first answer instead of the last (the safe one)

    def text(self) -> str:
        raise NotImplementedError

    def choices(self) -> list[tuple[str, str, str]]:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.text())
            with Horizontal():
                for choice, label, variant in self.choices():
                    yield Button(label, variant=variant, id=choice, compact=True)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        ids = [choice for choice, _, _ in self.choices()]
        self.query_one(f"#{ids[0] if self.focus_first else ids[-1]}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_choose(event.button.id or self.choices()[-1][0])

    def action_choose(self, choice: str) -> None:
        if choice in {c for c, _, _ in self.choices()}:
            self.dismiss(choice)


class ApprovalScreen(ChoiceScreen):
    """A gate (`approval: true`) awaits a person: approve (a), reject (x), or decide later (escape)."""

    BINDINGS = [
        Binding("a,y", "choose('approve')", "Approve"),
        Binding("x", "choose('reject')", "Reject"),
        Binding("escape,n", "choose('later')", "Later"),
    ]

    def __init__(self, task: str, description: str = "") -> None:
        super().__init__()
        self.task_name, self.description = task, description

    def text(self) -> str:
        about = f"\n{self.description}" if self.description else ""
        return (f"{self.task_name} awaits approval.{about}\n"
                "approve: it starts (the run's events record who approved)\n"
                "reject: it fails, its downstream is blocked (r asks again)")

    def choices(self) -> list[tuple[str, str, str]]:
        return [("approve", "Approve (a)", "success"), ("reject", "Reject (x)", "error"),
                ("later", "Later (esc)", "default")]


class QuitScreen(ChoiceScreen):
    """Quitting while the run is live: detach (the run goes on, as tmux's `d`), cancel it, or stay.

    A run in this process cannot be detached from (it would die with the process); a read-only
    viewer cannot cancel.
    """

    BINDINGS = [
        Binding("d", "choose('detach')", "Detach"),
        Binding("c", "choose('cancel')", "Cancel run"),
        Binding("s,escape,q", "choose('stay')", "Stay"),
    ]

    def __init__(self, running: int, waiting: int, can_detach: bool = False, can_cancel: bool = True) -> None:
        super().__init__(classes="-danger")
        self.running, self.waiting = running, waiting
        self.can_detach, self.can_cancel = can_detach, can_cancel
        self.focus_first = can_detach

    def text(self) -> str:
        ways = []
        if self.can_detach:
            ways.append("detach: the run goes on, `tuiflow attach` comes back to it")
        if self.can_cancel:
            ways.append("cancel: every task's process group is terminated")
        return f"The run is still going: {self.running} running, {self.waiting} waiting.\n" + "\n".join(ways)

    def choices(self) -> list[tuple[str, str, str]]:
        out = []
        if self.can_detach:
            out.append(("detach", "Detach (d)", "primary"))
        if self.can_cancel:
            out.append(("cancel", "Cancel run and quit (c)", "error"))
        return [*out, ("stay", "Stay (esc)", "default")]
