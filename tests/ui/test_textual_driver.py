"""The Textual internal of tuiflow/ui/textual_driver.py (the app's terminal driver), on the
installed Textual.

A Textual release that renames or changes it fails here, by name, instead of as desktop
notifications that silently stop (tests/e2e/test_tui_terminal.py sees their bytes on a real
terminal).
"""

from __future__ import annotations

from textual.app import App
from textual.driver import Driver

from tuiflow.ui import textual_driver


async def test_the_running_apps_driver_is_reachable_and_is_the_one_textual_writes_through() -> None:
    app: App[None] = App()
    assert textual_driver.driver(app) is None
    assert textual_driver.write_to_terminal(app, "not running") is False
    async with app.run_test() as pilot:
        out = textual_driver.driver(app)
        assert isinstance(out, Driver), f"App._driver is {out!r}: see tuiflow/ui/textual_driver.py"
        assert callable(getattr(out, "write", None)), "Textual's Driver has no write(): see tuiflow/ui/textual_driver.py"
        written: list[str] = []
        out.write = written.append   # what Textual itself sends the terminal goes through it too
        app.copy_to_clipboard("copied")
        assert textual_driver.write_to_terminal(app, "\x1b]9;hello\x07") is True
        assert written == ["\x1b]52;c;Y29waWVk\x07", "\x1b]9;hello\x07"]
        await pilot.pause()
