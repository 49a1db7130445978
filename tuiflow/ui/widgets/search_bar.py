"""The line where `/` takes a pane search's query.

Keys typed in a burst (over ssh a whole `error⏎nn` comes in one read) are taken in the order
they were typed. Textual hands each key to the focused widget's own queue, so the keys after
enter are already queued for the bar when it closes: the bar hands them back to the app, which
gives them to the pane the focus went back to. Enter and escape are taken in the bar's turn
(a binding would run only once the key has bubbled up to the app, after the keys behind it),
and what they do is done then and there (`done`), before any key that follows.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.widget import Widget
from textual.widgets import Input
from textual.widgets.input import Selection


class SearchBar(Input):
    def __init__(self, placeholder: str = "", *, id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id, select_on_focus=False)
        self.is_open = False
        self._return_to: Widget | None = None
        self._done: Callable[[str | None], None] | None = None

    def open(self, query: str, return_to: Widget, done: Callable[[str | None], None]) -> None:
        """Show the bar with the last query selected (typing replaces it). When it closes the
        focus goes back to `return_to` and `done` gets the query (None: escape)."""
        self.value = query
        self.selection = Selection(0, len(query))
        self.display = True
        self.is_open = True
        self._return_to, self._done = return_to, done
        self.screen.set_focus(self)   # now: the next keys typed are for the bar

    async def action_submit(self) -> None:
        self._close(self.value)

    def _close(self, query: str | None) -> None:
        if not self.is_open:
            return
        self.is_open = False
        self.display = False
        if self._return_to is not None and self._return_to.is_attached:
            self.screen.set_focus(self._return_to)
        if self._done is not None:
            self._done(query)

    async def _on_key(self, event: events.Key) -> None:
        if not self.is_open:            # typed after enter or escape: not for the bar
            event.prevent_default()
            event.stop()
            if self.is_attached and self.app.is_running:
                self.app.post_message(events.Key(event.key, event.character))
        elif event.key in ("enter", "escape"):
            event.prevent_default()
            event.stop()
            self._close(self.value if event.key == "enter" else None)
