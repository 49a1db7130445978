"""The launcher's side of a run's engine process (remote/host.py is the engine's side): start it,
hand it the pipeline when it came from a pipe, tell it to go (or abandon it), wait for `ready`.

Small on purpose: what this module imports is all that stands between the command's start and
the engine's (the launcher of a TUI never reads the pipeline: its engine does, and says what is
wrong with it).
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import sys
from typing import Any

from tuiflow.engine.errors import StartFailed

from .protocol import frame, read_frame_blocking

READY_TIMEOUT = 60.0


class LaunchFailed(StartFailed):
    """The engine process could not set the run up, or ended before it was ready."""


class EngineLaunch:
    """A started engine process and the launcher's end of its socketpair."""

    def __init__(self, run_argv: list[str], source: bytes | None = None) -> None:
        """`source`: the pipeline as read from a pipe (`tuiflow <(gen)`), which the engine cannot
        read again; it is the first thing sent on the socketpair."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock = ours
        fd = theirs.fileno()
        given = ["--source-from-launcher"] if source is not None else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tuiflow", "_engine", "--launcher-fd", str(fd), *given, *run_argv],
            pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        theirs.close()
        self._decided = False
        if source is not None:
            ours.sendall(frame({"t": "source"}, source))

    def go(self) -> None:
        """The launcher is still there and wants the run: the engine may make it."""
        if not self._decided:
            self._decided = True
            with contextlib.suppress(OSError):   # an engine gone already: wait_ready says so
                self.sock.sendall(frame({"t": "go"}))

    def abandon(self) -> None:
        """The launcher gave up before `go` (Ctrl-C, a failure of its own): the engine ends,
        having made nothing. Nothing once `go` was said."""
        if self._decided:
            return
        self._decided = True
        self.sock.close()
        self.proc.kill()
        self.proc.wait()
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
        """The engine's `ready` (run_id, run_dir, pid); LaunchFailed with its message otherwise."""
        self.sock.settimeout(timeout)
        try:
            header = read_frame_blocking(self.sock.recv)
        except (TimeoutError, OSError):
            header = None
        finally:
            self.sock.settimeout(None)
        if header is not None and header.get("t") == "ready":
            assert self.proc.stderr is not None
            self.proc.stderr.close()
            return header
        if header is not None and header.get("t") == "error":
            raise LaunchFailed(str(header.get("message", "")), int(header.get("exit", 2)))
        self.proc.kill()
        assert self.proc.stderr is not None
        said = self.proc.stderr.read().decode(errors="replace").strip()
        code = self.proc.wait()
        raise LaunchFailed(f"tuiflow: the run's engine ended before it was ready (exit {code})"
                           + (f":\n{said[-2000:]}" if said else ""), 70)


def runs_headless(headless: bool, detach: bool) -> bool:
    """Whether a run has no UI of its own: asked for (`--headless`, `--events`), or its output is
    not a terminal and it is not `--detach`ed. Its engine is then the launcher's own process."""
    return headless or not (detach or sys.stdout.isatty())


def is_stream(file: str) -> bool:
    """Perhaps a pipe, FIFO or terminal, which only the launcher can read (once), to hand the bytes
    over (engine/yamlsource.py `read_if_stream` decides); a regular file, a directory or a missing
    path is the engine's to read and report on. Asked here so that a TUI's launcher does not
    import the loader's modules (~15 ms) for a regular file."""
    try:
        mode = os.stat(file).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


__all__ = ["READY_TIMEOUT", "EngineLaunch", "LaunchFailed", "is_stream", "runs_headless"]
