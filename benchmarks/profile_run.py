#!/usr/bin/env python3
"""Where a headless run's time goes: `tuiflow FILE --headless` in-process under cProfile, by module.

    .venv/bin/python benchmarks/profile_run.py WORKLOAD_DIR/tuiflow.yaml [--top 25]

Prints the own time (tottime) summed per module (tuiflow modules by name, the rest grouped:
asyncio, subprocess, json, imports, ...) and the top functions. cProfile slows Python code
down ~1.5-2x and not the system calls, so read shares, not absolute seconds; the benchmark
table (run_bench.py) gives the real times.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict


def group(filename: str, func: str) -> str:
    """A readable bucket for a profiled function."""
    if "tuiflow" in filename:
        path = filename[filename.rindex("tuiflow"):].removesuffix(".py")
        return path.replace("/", ".")
    if filename == "~":
        if "posix_spawn" in func or "fork_exec" in func:
            return "vfork+exec (posix_spawn, Popen)"
        if any(k in func for k in ("posix.read", "posix.write", "posix.close", "posix.pipe", "epoll", "posix.open")):
            return "syscalls (read/write/close/epoll)"
        if any(k in func for k in ("compile", "marshal", "exec", "_imp.")):
            return "imports (compile/unmarshal)"
        return f"builtins: {func}"
    if "<frozen importlib" in filename or "importlib" in filename:
        return "imports (importlib)"
    for key in ("asyncio", "subprocess", "json", "yaml", "selectors", "threading", "concurrent", "dataclasses",
                "enum", "re/", "typing", "argparse"):
        if key in filename:
            return key.rstrip("/")
    return os.path.basename(filename)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    state = tempfile.mkdtemp(prefix="tuiflow-prof-")
    sys.argv = ["tuiflow", a.file, "--headless", "--state-dir", state]
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the run's output is not what is measured here
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    try:
        from tuiflow.cli import main as cli_main
        cli_main()
    except SystemExit:
        pass
    finally:
        prof.disable()
        wall = time.perf_counter() - t0
        sys.stdout.flush()
        os.dup2(saved, 1)
    stats = pstats.Stats(prof)
    by: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        by[group(filename, func)] += tt
        total += tt
    print(f"{a.file}: {wall:.3f} s under cProfile, {total:.3f} s of own time profiled\n")
    print("| where | own s | share |\n|---|---|---|")
    for name, tt in sorted(by.items(), key=lambda kv: -kv[1])[: a.top]:
        print(f"| {name} | {tt:.3f} | {tt / total * 100:.1f}% |")
    print()
    stats.sort_stats("tottime").print_stats(a.top)


if __name__ == "__main__":
    main()
