"""Terminal output of the TUI, counted at the pty, 120x40, 10 s windows (issue 5 goals).

    .venv/bin/python benchmarks/tui_bytes.py [--seconds 10]

  idle   a finished run left open: 0 bytes
  busy   30 tasks writing 20 lines/s in total, states changing: < 64 KiB/s
  mouse  mouse moved over the screen (60 events/s, any-motion tracking): < 10 KiB/s
  tree   mouse moved up and down over the task tree of 200 tasks (50 events/s): < 10 KiB/s
and, over every scenario, no 24-bit colour code while COLORTERM is unset.
Exit status 0 when every goal is met.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from tui_pty import TRUECOLOR, PtyApp, tuiflow_cmd, write_pipeline

IDLE = """
name: bench-idle
tasks:
  - {name: a, command: echo hello}
  - {name: b, command: "echo world; exit 1", depends_on: a}
  - {name: c, command: echo other}
"""


def busy_pipeline(tasks: int = 30, lines_per_second: float = 20.0, seconds: int = 40) -> str:
    period = tasks / lines_per_second  # each task writes one line every `period` seconds
    body = ["name: bench-busy", f"max_parallel: {tasks}", "tasks:"]
    for i in range(tasks):
        offset = period * i / tasks
        count = int(seconds / period)
        body.append(f"  - name: writer_{i:02d}")
        body.append(f"    command: sleep {offset:.3f}; for n in $(seq {count}); do echo "
                    f"\"writer {i} line $n $(date +%T.%N)\"; sleep {period:.3f}; done")
    return "\n".join(body) + "\n"


def tree_pipeline(tasks: int = 200) -> str:
    body = ["name: bench-tree", "max_parallel: 4", "tasks:"]
    for i in range(tasks):
        deps = f", depends_on: [t{i - 1:03d}]" if i % 10 else ""
        body.append(f"  - {{name: t{i:03d}, command: 'true'{deps}}}")
    return "\n".join(body) + "\n"


def measure(name: str, pipeline: str, seconds: float, settle: float, action=None, args=()) -> dict:
    path = write_pipeline(name, pipeline)
    app = PtyApp([*tuiflow_cmd(), str(path), *args], path.parent)
    try:
        app.wait_for(b"limit", timeout=30)
        time.sleep(settle)
        start = time.monotonic()
        if action is not None:
            action(app, start + seconds)
        else:
            time.sleep(seconds)
        end = time.monotonic()
        data = app.bytes_between(start, end)
        everything = app.all_bytes()
    finally:
        app.stop()
    return {"scenario": name, "bytes": len(data), "per_second": len(data) / (end - start),
            "truecolor_codes": len(TRUECOLOR.findall(everything)), "seconds": end - start}


def move_mouse(app: PtyApp, until: float) -> None:
    """SGR any-motion reports (what a terminal sends with ?1003h/?1006h) sweeping the screen."""
    n = 0
    while time.monotonic() < until:
        x = 1 + int(60 + 55 * math.sin(n / 20))
        y = 1 + int(20 + 18 * math.sin(n / 13))
        app.send(f"\x1b[<35;{x};{y}M".encode())
        n += 1
        time.sleep(1 / 60)


def move_over_tree(app: PtyApp, until: float) -> None:
    """Motion reports up and down the tree's rows (columns 5-40), 50 a second."""
    n = 0
    while time.monotonic() < until:
        x = 5 + n % 35
        y = 3 + int(17 + 16 * math.sin(n / 9))
        app.send(f"\x1b[<35;{x};{y}M".encode())
        n += 1
        time.sleep(1 / 50)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json")
    args = parser.parse_args()
    s = args.seconds
    results = [
        # idle: after the toasts of the run's end have gone (10 s), nothing changes any more
        measure("idle", IDLE, s, settle=11.0) | {"goal": 0},
        measure("busy", busy_pipeline(), s, settle=3.0) | {"goal": 64 * 1024},
        measure("mouse", IDLE, s, settle=3.0, action=move_mouse) | {"goal": 10 * 1024},
        measure("tree", tree_pipeline(), s, settle=11.0, action=move_over_tree) | {"goal": 10 * 1024},
    ]
    ok = True
    print("| scenario | bytes in window | bytes/s | goal | 24-bit codes | ok |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        good = (r["bytes"] == 0 if r["goal"] == 0 else r["per_second"] < r["goal"]) and r["truecolor_codes"] == 0
        ok &= good
        goal = "0 bytes" if r["goal"] == 0 else f"< {r['goal'] // 1024} KiB/s"
        print(f"| {r['scenario']} | {r['bytes']} | {r['per_second']:.0f} | {goal} | {r['truecolor_codes']} | "
              f"{'yes' if good else 'NO'} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
