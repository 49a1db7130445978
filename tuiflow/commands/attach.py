"""`tuiflow attach [RUN]`: the terminal UI on a live run, from any terminal — or, with `--ssh`, on
a run on another machine, the UI running here and only the run's events crossing the link."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import socket
import subprocess

from ..engine.errors import UsageError
from ..engine.runs import engine_alive
from ..engine.termsafe import print_message
from ..exitcodes import EXIT_FAILED, EXIT_INVALID
from ..remote.client import Channel, Refused, RemoteRun, connect_unix
from ..remote.protocol import ProtocolError
from ..remote.registry import resolve, socket_path


def main(args: argparse.Namespace) -> int:
    try:
        channel, hint = ssh_channel(args) if args.ssh else local_channel(args.run)
    except (UsageError, ConnectionError) as exc:
        return not_reached("tuiflow attach", exc)
    try:
        hello = channel.hello(read_only=args.read_only, timeout=None if args.ssh else 10.0)
    except (Refused, ConnectionError, ProtocolError) as exc:
        channel.close()
        return not_reached("tuiflow attach", exc)
    run = RemoteRun(channel, hello)
    from ..ui.app import run_tui

    return run_tui("", run, theme=args.theme, attach_hint=hint, mouse=not args.no_mouse)


def not_reached(command: str, exc: UsageError | Refused | ConnectionError | ProtocolError) -> int:
    """Say why `command` did not get to a run's engine; its exit code: 2 when the request cannot
    be right (no such run, a viewer the engine refuses), 1 when the engine could not be reached."""
    print_message(f"{command}: {'the engine refused: ' if isinstance(exc, Refused) else ''}{exc}")
    return EXIT_INVALID if isinstance(exc, (UsageError, Refused)) else EXIT_FAILED


def local_channel(arg: str | None) -> tuple[Channel, str]:
    run = resolve(arg)
    path = socket_path(run["run_dir"])
    try:
        sock = connect_unix(path)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        if not engine_alive(run):  # a stale socket: its engine was killed
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise ConnectionError(f"run {run.get('run_id')}: its engine is gone (the run was interrupted); "
                                  "its stale socket is removed") from exc
        raise ConnectionError(f"cannot reach the engine of run {run.get('run_id')} at {path}: {exc}") from exc
    return Channel(sock, where=path), f"tuiflow attach {run.get('run_id')}"


def ssh_channel(args: argparse.Namespace) -> tuple[Channel, str]:
    """`ssh [options] -T HOST tuiflow connect RUN`, its stdin and stdout one end of a socketpair."""
    remote = shlex.join([*shlex.split(args.remote_tuiflow), "connect", *([args.run] if args.run else [])])
    argv = [*shlex.split(args.ssh_command), "-T", args.ssh, remote]
    ours, theirs = socket.socketpair()
    try:
        proc = subprocess.Popen(argv, stdin=theirs, stdout=theirs)
    except OSError as exc:
        ours.close()
        raise ConnectionError(f"cannot run {argv[0]}: {exc}") from exc
    finally:
        theirs.close()
    hint = shlex.join(["tuiflow", "attach", "--ssh", args.ssh, *([args.run] if args.run else [])])
    if args.ssh_command != "ssh":
        hint = hint.replace(" --ssh ", f" --ssh-command {shlex.quote(args.ssh_command)} --ssh ", 1)
    return Channel(ours, proc, where=args.ssh), hint
