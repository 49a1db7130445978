#!/usr/bin/env python3
"""Does history make the second run faster? An unbalanced DAG at limit 2, run twice.

The DAG: one long task (6 s) listed last, a chain of six short tasks (0.25 s each: long in
task count, short in time) and eight independent 0.5 s tasks. Without history every task
weighs 1, so the chain looks critical and the long task starts late; with the first run's
durations the long task starts at once. Lower bound = max(critical path, work / limit).

    python benchmarks/makespan.py          # prints both makespans against the lower bound
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

LIMIT = 2
LONG = 6.0
CHAIN = [0.25] * 6
SHORT = [0.5] * 8


def pipeline_yaml() -> str:
    lines = ["name: unbalanced", f"max_parallel: {LIMIT}", "tasks:"]
    for i, d in enumerate(CHAIN):
        lines += [f"  - name: chain{i}", f"    command: sleep {d}"]
        if i:
            lines.append(f"    depends_on: chain{i - 1}")
    for i, d in enumerate(SHORT):
        lines += [f"  - name: short{i}", f"    command: sleep {d}"]
    lines += ["  - name: long", f"    command: sleep {LONG}"]
    return "\n".join(lines) + "\n"


def makespan(run_dir: str) -> float:
    with open(os.path.join(run_dir, "run.json")) as f:
        run = json.load(f)
    tasks = run["tasks"].values()
    return max(t["ended"] for t in tasks) - min(t["started"] for t in tasks)


def main() -> int:
    tuiflow = os.path.join(os.path.dirname(sys.executable), "tuiflow")
    work = sum(CHAIN) + sum(SHORT) + LONG
    bound = max(LONG, sum(CHAIN), work / LIMIT)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "unbalanced.yaml")
        with open(path, "w") as f:
            f.write(pipeline_yaml())
        spans = []
        for _ in range(2):
            subprocess.run([tuiflow, path, "--headless"], check=True, stdout=subprocess.DEVNULL)
            runs_dir = os.path.join(d, ".tuiflow", "runs")
            newest = max(os.listdir(runs_dir), key=lambda n: os.path.getmtime(os.path.join(runs_dir, n, "run.json")))
            spans.append(makespan(os.path.join(runs_dir, newest)))
    print("| run | makespan s | vs lower bound |")
    print("|---|---|---|")
    print(f"| lower bound max(critical path, work/limit) | {bound:.2f} | 1.00x |")
    for label, span in zip(("first (no history: every task weighs 1)", "second (durations from the first)"),
                           spans, strict=True):
        print(f"| {label} | {span:.2f} | {span / bound:.2f}x |")
    return 0 if spans[1] <= bound * 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
