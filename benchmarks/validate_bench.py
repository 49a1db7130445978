#!/usr/bin/env python3
"""Time `tuiflow validate` on a generated 10 000-task pipeline (issue 2: under 2 s).

    .venv/bin/python benchmarks/validate_bench.py [--tasks 10000] [--runs 5] [--profile]

The pipeline is wide and deep at once: chains of 50 tasks side by side, every task with
env, a timeout and retries, some with `${VAR}` fields, a matrix and a fan-in every chain,
split over groups. Each run is a fresh `tuiflow validate` process (interpreter start and
imports included), timed from outside; the median of the runs is the figure. Exit status 1
when the median misses the goal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 2.0
CHAIN = 50


def generate(tasks: int) -> str:
    """A valid pipeline with `tasks` written tasks (the matrices add a few instances more)."""
    lines = [
        "# yaml-language-server: $schema=../tuiflow/engine/pipeline.schema.json",
        "name: validate-bench",
        "max_parallel: ${PARALLEL:-8}",
        "params: {DATE: '2026-11-23', OUT: /tmp/bench}",
        "env: {REGION: '${REGION:-us}'}",
        "pools: {db: 4}",
        "groups:",
    ]
    written = 0
    for c in range(-(-tasks // CHAIN)):
        lines.append(f"  chain{c}:")
        for i in range(min(CHAIN, tasks - written)):
            deps = [f"c{c}_t{i - 1}"] if i else []
            if i == CHAIN - 1 and c:
                deps.append(f"c{c - 1}_t{i}")   # fan-in across chains
            lines += [f"    - name: c{c}_t{i}",
                      f"      command: ./step.sh {c} {i} \"$DATE\""]
            if deps:
                lines.append(f"      depends_on: [{', '.join(deps)}]")
            lines += ["      timeout: 10m", "      retries: 2", "      retry_delay: 5s",
                      f"      env: {{STEP: '{i}', WHERE: '${{OUT}}/{c}'}}"]
            if i % 10 == 3:
                lines += ["      cwd: ${OUT}/work", "      pool: db"]
            if i == CHAIN // 2:
                lines.append("      matrix: {shard: [a, b]}")
            written += 1
    return "\n".join(lines) + "\n"


def time_validate(file: str, runs: int) -> list[float]:
    exe = [sys.executable, "-m", "tuiflow.cli", "validate", file]
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(exe, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"validate failed:\n{result.stderr[:2000]}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one load in-process")
    parser.add_argument("--keep", metavar="FILE", help="also write the generated pipeline here")
    args = parser.parse_args()

    text = generate(args.tasks)
    with tempfile.TemporaryDirectory() as folder:
        file = os.path.join(folder, "bench.yaml")
        Path(file).write_text(text)
        if args.keep:
            Path(args.keep).write_text(text)
        if args.profile:
            import cProfile
            import pstats

            from tuiflow.engine.loader import load
            cProfile.runctx("load(file)", globals(), {"load": load, "file": file}, "/tmp/validate.prof")
            pstats.Stats("/tmp/validate.prof").sort_stats("cumtime").print_stats(25)
        times = time_validate(file, args.runs)
    median = statistics.median(times)
    size_kb = len(text.encode()) / 1024
    print(f"tuiflow validate, {args.tasks} tasks ({size_kb:.0f} KB of YAML), {args.runs} runs: "
          f"median {median:.2f} s (min {min(times):.2f}, max {max(times):.2f}); goal < {GOAL_SECONDS:.1f} s")
    return 0 if median < GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
