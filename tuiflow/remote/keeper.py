"""The keeper: a small parent that outlives a killed engine and ends what the engine started.

A TUI's engine runs detached from every terminal, so when it is killed (SIGKILL, the OOM
killer) nobody would end its tasks. Right after it has set up its run folder and socket, the
engine forks: the parent becomes the keeper — a child subreaper that only waits — and the
child goes on as the engine, with the kernel told to send it SIGTERM if the keeper dies.
When the engine exits, its orphaned task processes (and theirs) become the keeper's children:
a killed engine's are terminated (SIGTERM, then SIGKILL after the pipeline's grace), the run
is marked interrupted in run.json, its socket and live-run entry removed; then the keeper exits
with the engine's status. Signals sent to the keeper are passed on to the engine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from tuiflow.engine import procutil
from tuiflow.engine.stopsignals import STOP_SIGNALS, exit_code
from tuiflow.engine.store import mark_interrupted

from .registry import unregister


def split(*, run_dir: str, socket_path: str, entry: str, grace: float, close_in_keeper: tuple[int, ...]) -> None:
    """Fork. Returns in the child (the engine, from now on); the parent keeps and never returns."""
    keeper = os.getpid()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    child = os.fork()
    if child == 0:
        procutil.forget_after_fork()
        procutil.set_parent_death_signal(signal.SIGTERM)
        if os.getppid() != keeper:  # the keeper died before the line above: as if told
            os.kill(os.getpid(), signal.SIGTERM)
        return
    for fd in close_in_keeper:
        with contextlib.suppress(OSError):
            os.close(fd)
    code = keep(child, run_dir=run_dir, socket_path=socket_path, entry=entry, grace=grace)
    os._exit(code)


def keep(engine: int, *, run_dir: str, socket_path: str, entry: str, grace: float) -> int:
    procutil.become_subreaper()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, lambda s, _frame: _pass_on(engine, s))
    status = None
    while status is None:
        try:
            pid, raw = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        if pid == engine:
            status = raw
    if os.WIFSIGNALED(status):
        code = exit_code(os.WTERMSIG(status))
        reason = f"engine killed by {procutil.signal_name(os.WTERMSIG(status))}"
    else:
        code = os.WEXITSTATUS(status)
        reason = f"engine ended with exit code {code}"
    ended = end_orphans(grace)   # none are left by an engine that ended the run itself
    if ended:
        print(f"tuiflow keeper: {reason}; {ended} task process(es) ended", file=sys.stderr, flush=True)
    # what an engine that ended the run itself has done already; what a killed one could not do
    with contextlib.suppress(OSError, ValueError):
        mark_interrupted(run_dir, reason)   # only a run still said to be running
    with contextlib.suppress(OSError):
        os.unlink(socket_path)
    unregister(entry)
    return code


def _pass_on(engine: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(engine, sig)


def end_orphans(grace: float) -> int:
    """End every process left under the keeper: SIGTERM to each and its group, SIGKILL after `grace`."""
    deadline = time.monotonic() + grace
    ended: set[int] = set()
    sig = signal.SIGTERM
    while True:
        while True:  # collect the ones that have ended
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return len(ended)
            if pid == 0:
                break
        children = procutil.my_children()
        if not children:
            return len(ended)
        if time.monotonic() >= deadline:
            sig = signal.SIGKILL
        for pid in children:
            ended.add(pid)
            procutil.signal_group(pid, sig)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(0.02)


__all__ = ["end_orphans", "keep", "split"]
