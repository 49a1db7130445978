"""One browser tab's viewer: `tuiflow attach RUN` as textual-serve runs it, ending with its server.

`python -m tuiflow.web.tab --server PID RUN [attach options]`. The kernel sends this process a
SIGHUP when `tuiflow serve` (PID, its parent) dies, even by SIGKILL: the viewer takes that as a
hang-up and detaches, so no tab's viewer is left holding the run's engine open.
"""

from __future__ import annotations

import os
import signal
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--server" or not argv[1].isdigit():
        print("use: python -m tuiflow.web.tab --server PID RUN [attach options]", file=sys.stderr)
        return 2
    from tuiflow.engine.procutil import set_parent_death_signal

    set_parent_death_signal(signal.SIGHUP)
    if os.getppid() != int(argv[1]):   # the server went before the signal was asked for
        return 1
    from tuiflow.cli import main as tuiflow_main

    return tuiflow_main(["attach", *argv[2:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
