"""`tuiflow logs FILE TASK [--run ID] [--attempt N]`: print one attempt's log, byte for byte."""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from ..engine.runs import list_runs
from ..launch import state_dir_for


def main(args: argparse.Namespace) -> int:
    state_dir = state_dir_for(args.file, args.state_dir)
    wanted = os.path.abspath(args.file)
    runs = [r for r in list_runs(state_dir) if r.get("file") == wanted]
    if args.run:
        runs = [r for r in runs if r.get("run_id") == args.run]
    if not runs:
        which = f"run {args.run!r}" if args.run else "no run"
        print(f"tuiflow: {which} of {args.file} found in {state_dir}", file=sys.stderr)
        return 2
    run = runs[0]
    task = (run.get("tasks") or {}).get(args.task)
    if task is None:
        print(f"tuiflow: run {run['run_id']} has no task {args.task!r} "
              f"(tasks: {', '.join(sorted(run.get('tasks') or {})[:10])})", file=sys.stderr)
        return 2
    attempt = args.attempt or task.get("attempt") or 1
    path = os.path.join(run["run_dir"], task.get("log_dir", ""), f"{attempt}.log")
    try:
        with open(path, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer)
    except FileNotFoundError:
        print(f"tuiflow: no log for {args.task!r} attempt {attempt} in run {run['run_id']}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    return 0
