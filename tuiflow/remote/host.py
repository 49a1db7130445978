"""A run's engine in a process of its own, serving its socket; and how a front end starts one.

`tuiflow FILE` (the TUI) and `tuiflow FILE --detach` start the engine by running the
interpreter again (`python -m tuiflow _engine ...`, in a new session, no terminal), before any
thread exists — for a pipeline in a regular file, even before the launcher reads it, so both
processes load it at once — and wait for its first word on a socketpair: `ready` (then the same
socket becomes the launcher's connection, so a one-task run cannot end before its viewer is
there), or `error` with what to print and the exit code. The engine makes nothing (no run
folder, no task) until the launcher, its own checks passed, says `go`; a launcher that says
no, or is gone, leaves nothing behind. The engine sets up its run folder and socket,
forks off its keeper (remote/keeper.py), and serves the run until it has ended and no viewer
is left. Headless runs keep the engine in their own process but serve the same socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from tuiflow.engine import stopsignals
from tuiflow.engine.errors import PipelineInvalid, UsageError
from tuiflow.engine.runs import engine_identity

from .protocol import frame, read_frame_blocking, read_payload_frame_blocking
from .registry import register, socket_path, unregister
from .server import RunServer

if TYPE_CHECKING:
    from tuiflow.engine.runview import RunView

LOG_FILE = "engine.log"


class Served(NamedTuple):
    """A run's listening socket and its live-run entry, to be taken down when the run ends."""

    listener: socket.socket
    path: str
    entry: str

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        unregister(self.entry)


def bind_unix(path: str) -> socket.socket:
    """A listening socket at `path`, created 0600 (under a umask, never chmod'ed after), also
    where the path is longer than AF_UNIX allows (bound through /proc/self/fd)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old = os.umask(0o177)
    try:
        if len(os.fsencode(path)) < 100:
            sock.bind(path)
        else:
            dfd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                sock.bind(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
            finally:
                os.close(dfd)
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(old)
    return sock


def open_socket(run_dir: str, run_id: str) -> Served:
    path = socket_path(run_dir)
    listener = bind_unix(path)
    try:
        entry = register(run_dir, run_id)
    except BaseException:
        listener.close()
        os.unlink(path)
        raise
    return Served(listener, path, entry)


async def serve(scheduler: Any, served: Served | None, *, linger: bool, adopt: socket.socket | None = None,
                on_stop: Callable[[int], None] | None = None, view: RunView | None = None) -> int:
    """Run `scheduler` (with its socket served, when given); any stop signal cancels the run and
    makes the exit code 128+N (the first signal's).

    `on_stop(sig)` is told of the first signal (the headless printer says it). With `linger` the
    run stays open for its viewers after it ends, until the last one leaves (see RunServer).
    `view`: a RunView that a sink subscribed before this one keeps up to date (the run store's,
    or the headless printer's), which the server then shares instead of keeping its own.
    """
    server = None
    if served is not None:
        server = RunServer(scheduler, linger=linger, view=view)
        await server.listen(served.listener)
        if adopt is not None:
            await server.adopt(adopt)
    loop = asyncio.get_running_loop()
    stopped: list[int] = []

    def on_signal(sig: int) -> None:
        if not stopped and on_stop is not None:
            on_stop(sig)
        stopped.append(sig)
        scheduler.cancel_run(stopsignals.exit_code(stopped[0]))
        if linger:
            scheduler.close()

    installed = stopsignals.install(loop, on_signal)
    try:
        code = await (scheduler.run(stay_open=True) if linger else scheduler.run())
    finally:
        stopsignals.uninstall(loop, installed)
        if server is not None:
            reason = (f"the engine was stopped by {signal.Signals(stopped[0]).name}: the run was cancelled"
                      if stopped else "the run ended")
            await server.aclose(reason)
        if served is not None:
            served.close()
    return stopsignals.exit_code(stopped[0]) if stopped else code


# ---------------------------------------------------------------------- the engine's side

def engine_main(options: Any, launcher_fd: int, source_from_launcher: bool = False) -> int:
    """`tuiflow _engine`: set the run up, tell the launcher, fork the keeper, serve the run."""
    from tuiflow.launch import check_executor, collect_garbage_again, create_store, prepare, scheduler_for

    from . import keeper

    launcher = socket.socket(fileno=launcher_fd)
    if source_from_launcher:  # the pipeline came from a pipe the launcher has read already
        from tuiflow.engine.yamlsource import provide

        got = read_payload_frame_blocking(launcher.recv)   # exactly that frame: `go` may follow at once
        provide(options.file, got[1] if got is not None else b"")

    def tell(header: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            launcher.sendall(frame(header))

    try:
        from tuiflow.engine.loader import load
        pipeline, resume = prepare(load(options.file, options.params), options)
        if pipeline.executor.kind != "local":
            asyncio.run(check_executor(pipeline))
        said = read_frame_blocking(launcher.recv)
        if said is None or said.get("t") != "go":   # the launcher gave up, or is gone
            return 2
        store, weights = create_store(pipeline, options)
        served = open_socket(store.run_dir, store.run_id)
    except PipelineInvalid as exc:
        tell({"t": "error", "message": "\n".join(str(e) for e in exc.errors), "exit": 2})
        return 2
    except (UsageError, OSError) as exc:   # ExecutorUnavailable too
        tell({"t": "error", "message": f"tuiflow: {exc}", "exit": 2})
        return 2
    _log_to(os.path.join(store.run_dir, LOG_FILE))
    keeper.split(run_dir=store.run_dir, socket_path=served.path, entry=served.entry, grace=pipeline.kill_grace,
                 close_in_keeper=(served.listener.fileno(), launcher.fileno()))
    store.set_engine(engine_identity())
    scheduler = scheduler_for(pipeline, options, store, weights, resume)
    tell({"t": "ready", "run_id": store.run_id, "run_dir": store.run_dir, "pid": os.getpid(),
          "pipeline": pipeline.name})
    collect_garbage_again()
    return asyncio.run(serve(scheduler, served, linger=True, adopt=launcher, view=store.view))


def _log_to(path: str) -> None:
    """The engine has no terminal: what it would print goes to engine.log in its run folder."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    for target in (1, 2):
        os.dup2(fd, target)
    os.close(fd)


__all__ = ["Served", "bind_unix", "engine_main", "open_socket", "serve"]
