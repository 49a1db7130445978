#!/usr/bin/env python3
"""How dear a new folder and file are on this disk right now: µs a mkdir + create.

    .venv/bin/python benchmarks/inode_probe.py [DIR] [--count 200]

ext4 (here without a journal) skips every inode freed in the last minutes when it makes a new
one, so after many deletions (a test suite cleaning /tmp, a bench's folders) the same run makes
its folders many times slower: 30-40 µs a pair on a quiet disk, 90-1 300 µs after deletions, in
the same hour. A run of 1 000 silent tasks makes 1 000 of each (their empty logs), so read this
before believing a difference in wide_1000. Nothing is deleted (that would be the next
measurement's problem): the probe's folders stay in DIR (a new folder under the system's temp
dir by default) until whoever made DIR removes it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def probe(directory: str, count: int = 200) -> float:
    """µs a folder and an empty file in it, made `count` times in a new folder under `directory`."""
    base = tempfile.mkdtemp(prefix="inode-probe-", dir=directory)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        t0 = time.perf_counter()
        for i in range(count):
            os.mkdir(f"t{i}", 0o700, dir_fd=fd)
            os.close(os.open(f"t{i}/1.log", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600, dir_fd=fd))
        return (time.perf_counter() - t0) / count * 1e6
    finally:
        os.close(fd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", default=None)
    ap.add_argument("--count", type=int, default=200)
    a = ap.parse_args()
    print(f"{probe(a.dir or tempfile.gettempdir(), a.count):.0f} µs a mkdir + create")


if __name__ == "__main__":
    main()
