"""`python -m tuiflow` is the `tuiflow` command (how a TUI starts its run's engine process)."""

from tuiflow.cli import entry

entry()
