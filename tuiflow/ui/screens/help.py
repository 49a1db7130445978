"""The help screen: every key, generated from the app's bindings so it cannot drift."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = ("tuiflow runs the pipeline's tasks as a graph. Left: the dependency tree "
         "(v: stages). Right: the selected task's log. Keys act on the selected task.")

EXTRA_KEYS = [
    ("↑ ↓ / click", "select a task"),
    ("space", "fold or unfold a folder"),
    ("← →", "fold / unfold (← on a row inside a folder goes up to it)"),
    ("end", "follow the log again after scrolling up"),
    ("tab", "move focus between the tree and the panes"),
    ("ctrl+p", "command palette: every action by name, and the theme picker"),
]


def key_label(binding: Binding) -> str:
    names = {"plus": "+", "minus": "-", "question_mark": "?", "slash": "/", "enter": "enter",
             "right_square_bracket": "]", "left_square_bracket": "["}
    return " ".join(names.get(k.strip(), k.strip()) for k in binding.key.split(","))


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 78; max-width: 100%; height: auto; max-height: 90%;
        background: $panel; border: round $primary; padding: 0 1;
    }
    """

    BINDINGS = [Binding("escape,question_mark,q", "app.pop_screen", "Close")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for binding in self.bindings:
            table.add_row(key_label(binding), binding.tooltip or binding.description)
        for key, what in EXTRA_KEYS:
            table.add_row(key, what)
        with VerticalScroll():
            yield Static(Text(INTRO + "\n", style="italic"))
            yield Static(table)
            yield Static(Text("\nescape or ? closes this screen", style="dim"))
