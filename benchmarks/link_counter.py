"""Count the bytes that cross a link, for the attach benchmarks.

Two ways to sit on a link:

    link_counter.py proxy COUNT_FILE HOST PORT      # an ssh ProxyCommand: stdio <-> TCP HOST:PORT
    link_counter.py ssh COUNT_FILE -T HOST COMMAND  # a stand-in for `ssh` (attach --ssh-command):
                                                    # runs COMMAND here, stdio <-> its stdio

Either way COUNT_FILE holds `<bytes in> <bytes out>` (in: towards this side's stdin's owner,
i.e. what the viewer reads; out: what it sends), rewritten as they grow.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys


def relay(count_file: str, a_read: int, a_write: int, b_read: int, b_write: int) -> None:
    """a: our stdin/stdout (the viewer's side); b: the far side. Ends when either closes."""
    counts = [0, 0]  # bytes b -> a (the viewer reads), a -> b
    sel = selectors.DefaultSelector()
    sel.register(a_read, selectors.EVENT_READ, (a_read, b_write, 1))
    sel.register(b_read, selectors.EVENT_READ, (b_read, a_write, 0))
    while True:
        for key, _ in sel.select():
            src, dst, which = key.data
            data = os.read(src, 262144)
            if not data:
                return
            view = memoryview(data)
            while view:
                view = view[os.write(dst, view):]
            counts[which] += len(data)
            with open(count_file + ".tmp", "w") as f:
                f.write(f"{counts[0]} {counts[1]}\n")
            os.replace(count_file + ".tmp", count_file)


def main() -> None:
    mode, count_file, *rest = sys.argv[1:]
    if mode == "proxy":
        host, port = rest
        sock = socket.create_connection((host, int(port)))
        relay(count_file, 0, 1, sock.fileno(), sock.fileno())
    elif mode == "ssh":
        command = rest[-1]   # [-T, HOST, COMMAND]: the command runs here
        proc = subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            relay(count_file, 0, 1, proc.stdout.fileno(), proc.stdin.fileno())
        finally:
            proc.stdin.close()
            proc.wait()
    else:
        sys.exit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
