"""The signals that end a run cleanly, and the exit code each one gives.

Every signal whose default action would terminate tuiflow — and orphan its tasks — is handled
as SIGTERM is: the run is cancelled (every task's process group ends, logs and run.json are
flushed) and the exit code is 128 + the signal's number, as shells report it. Faults (SIGSEGV,
SIGBUS, ...) are not in the list: they mean tuiflow itself is broken.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in (
        "SIGHUP", "SIGINT", "SIGTERM", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF",
        "SIGXCPU", "SIGXFSZ", "SIGIO", "SIGPWR")
    if hasattr(signal, name))


def exit_code(sig: int) -> int:
    """What a run ended by `sig` exits with: 129 for SIGHUP, 130 SIGINT, 143 SIGTERM..."""
    return 128 + int(sig)


def install(loop: asyncio.AbstractEventLoop, callback: Callable[[signal.Signals], None],
            signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> list[signal.Signals]:
    """`callback(sig)` on the loop for each signal; returns those installed (none off the main thread)."""
    installed = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, callback, sig)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append(sig)
    return installed


def uninstall(loop: asyncio.AbstractEventLoop, installed: list[signal.Signals]) -> None:
    for sig in installed:
        loop.remove_signal_handler(sig)
    installed.clear()


__all__ = ["STOP_SIGNALS", "exit_code", "install", "uninstall"]
