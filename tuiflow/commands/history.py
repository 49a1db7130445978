"""`tuiflow history [FILE]`: earlier runs, newest first — when, result, duration, task counts."""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter

from ..engine.runs import list_runs
from ..engine.termsafe import escape_controls, print_message
from ..launch import state_dir_for


def main(args: argparse.Namespace) -> int:
    if args.file:
        state_dir = state_dir_for(args.file, args.state_dir)
        wanted = os.path.abspath(args.file)
    else:
        state_dir = os.path.abspath(args.state_dir or ".tuiflow")
        wanted = None
    runs = [r for r in list_runs(state_dir) if wanted is None or r.get("file") == wanted]
    if not runs:
        print_message(f"no runs in {state_dir}")
        return 0
    rows = [("run", "pipeline", "result", "started", "duration", "tasks")]
    for r in runs:
        started = r.get("started")
        ended = r.get("ended") or r.get("heartbeat")
        counts = Counter(t.get("state", "?") for t in (r.get("tasks") or {}).values())
        rows.append(tuple(escape_controls(cell) for cell in (
            r.get("run_id", "?"), r.get("pipeline", "?"), r.get("state", "?"),
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "-",
            f"{ended - started:.1f}s" if started and ended else "-",
            " ".join(f"{n} {s}" for s, n in sorted(counts.items())),
        )))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0
