"""The one Textual internal the app uses to write to the terminal itself (Textual 8.x).

Textual has no public way to send the terminal bytes that are not part of the screen: its own
`App.bell` and `App.copy_to_clipboard` write through the app's driver (`App._driver`), and so do
tuiflow's desktop notifications (OSC 9 and OSC 777, the app's terminal alerts). That private
name is read here and nowhere else.

tests/ui/test_textual_driver.py checks it against the installed Textual (the running app's
driver is reachable and is the one Textual writes through) and tests/e2e/test_tui_terminal.py
that a notification's bytes reach a real terminal: a Textual that changed it fails there, naming
this module, instead of alerts that silently stop.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.driver import Driver


def driver(app: App[Any]) -> Driver | None:
    """The app's terminal driver; None before the app runs."""
    return getattr(app, "_driver", None)


def write_to_terminal(app: App[Any], text: str) -> bool:
    """Send `text` to the app's terminal as it is (escape sequences that the screen does not
    draw, such as a desktop notification); False when the app has no terminal yet."""
    out = driver(app)
    if out is None:
        return False
    out.write(text)
    return True


__all__ = ["driver", "write_to_terminal"]
