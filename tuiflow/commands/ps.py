"""`tuiflow ps`: this user's live runs — pipeline, run, state, progress, engine pid, start — and
the command that attaches to each."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ..engine.termsafe import escape_controls
from ..remote.registry import live_runs


def describe(run: dict[str, Any]) -> dict[str, Any]:
    tasks = [t for t in (run.get("tasks") or {}).values() if isinstance(t, dict)]
    done = sum(1 for t in tasks if t.get("state") in ("succeeded", "failed", "timed_out", "cancelled", "skipped"))
    running = sum(1 for t in tasks if t.get("state") == "running")
    return {
        "pipeline": run.get("pipeline", ""), "run_id": run.get("run_id", ""),
        "state": "PAUSED" if run.get("paused") else "RUNNING", "done": done, "running": running,
        "total": len(tasks), "pid": run.get("pid"), "started": run.get("started"), "file": run.get("file", ""),
        "run_dir": run.get("run_dir", ""), "attach": f"tuiflow attach {run.get('run_id', '')}",
    }


def main(args: argparse.Namespace) -> int:
    runs = [describe(r) for r in live_runs()]
    if args.json:
        for run in runs:
            print(json.dumps(run, ensure_ascii=False))
        return 0
    if not runs:
        print("no live runs", file=sys.stderr)
        return 0
    rows = [("PIPELINE", "RUN", "STATE", "PROGRESS", "PID", "STARTED", "ATTACH")]
    for r in runs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started"])) if r["started"] else "-"
        rows.append(tuple(escape_controls(cell) for cell in (
            r["pipeline"], r["run_id"], r["state"], f"{r['done']}/{r['total']} ({r['running']} running)",
            str(r["pid"]), started, r["attach"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0
