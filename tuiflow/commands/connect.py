"""`tuiflow connect [RUN]`: standard input and output joined to a live run's socket, byte for byte.

This is what `tuiflow attach --ssh HOST` runs on HOST (through ssh): the viewer speaks to the
engine through it. It ends when either side closes.
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import sys

from ..engine.errors import UsageError
from ..engine.termsafe import print_message
from ..exitcodes import EXIT_FAILED, EXIT_INVALID
from ..remote.client import connect_unix
from ..remote.registry import resolve, socket_path

CHUNK = 256 * 1024


def main(args: argparse.Namespace) -> int:
    try:
        run = resolve(args.run, anywhere=True)
    except UsageError as exc:
        print_message(f"tuiflow connect: {exc}")
        return EXIT_INVALID
    try:
        sock = connect_unix(socket_path(run["run_dir"]))
    except OSError as exc:
        print_message(f"tuiflow connect: cannot reach the engine of run {run.get('run_id')}: {exc}")
        return EXIT_FAILED
    relay(sock, sys.stdin.fileno(), sys.stdout.fileno())
    return 0


def relay(sock: socket.socket, rfd: int, wfd: int) -> None:
    """Copy rfd -> sock and sock -> wfd until the socket ends (stdin's end half-closes it)."""
    sel = selectors.DefaultSelector()
    sel.register(rfd, selectors.EVENT_READ, "in")
    sel.register(sock, selectors.EVENT_READ, "sock")
    try:
        while True:
            for key, _ in sel.select():
                if key.data == "in":
                    data = os.read(rfd, CHUNK)
                    if not data:
                        sel.unregister(rfd)
                        sock.shutdown(socket.SHUT_WR)
                        continue
                    sock.sendall(data)
                else:
                    data = sock.recv(CHUNK)
                    if not data:
                        return
                    view = memoryview(data)
                    while view:
                        view = view[os.write(wfd, view):]
    except (BrokenPipeError, ConnectionError):
        return
    finally:
        sel.close()
        sock.close()
