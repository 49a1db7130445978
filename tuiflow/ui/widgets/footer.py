"""The key footer: Textual's, with `? help` and `q quit` kept on the right whatever the width.

A narrow terminal cuts the footer's right end; the two keys a newcomer needs to find their way
(and out) must never be what is cut.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widget import Widget
from textual.widgets import Footer

ALWAYS_SHOWN = ("help", "quit")


class RunFooter(Footer):
    DEFAULT_CSS = """
    RunFooter > .-always { dock: right; width: auto; height: 1; background: $panel; }
    RunFooter > .-always FooterKey { margin: 0 0 0 1; }
    """

    def compose(self) -> ComposeResult:
        kept: dict[str, Widget] = {}
        for widget in super().compose():
            action = getattr(widget, "action", None)  # a key of the footer (FooterKey is not public)
            if action in ALWAYS_SHOWN:
                kept[action] = widget
            else:
                yield widget
        if kept:
            yield HorizontalGroup(*(kept[a] for a in ALWAYS_SHOWN if a in kept), classes="-always")
