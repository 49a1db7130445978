"""`tuiflow serve`: a run's terminal UI in a web browser, each tab one more viewer of its engine.

Imported only by that command: it needs the `web` extra (textual-serve, and aiohttp with it).
"""
