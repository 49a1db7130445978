"""`tuiflow logs FILE TASK [--run ID] [--attempt N] [--raw]`: print one attempt's log.

Piped or redirected, and with `--raw`, the bytes are the log file's, byte for byte. On a
terminal only the text and its colours are shown: escape sequences that would set the title,
move the cursor or make the terminal answer (termsafe.keep_colours) are dropped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from ..engine.runs import list_runs
from ..engine.termsafe import keep_colours, print_message
from ..launch import state_dir_for

CHUNK = 1 << 16


def main(args: argparse.Namespace) -> int:
    state_dir = state_dir_for(args.file, args.state_dir)
    wanted = os.path.abspath(args.file)
    runs = [r for r in list_runs(state_dir) if r.get("file") == wanted]
    if args.run:
        runs = [r for r in runs if r.get("run_id") == args.run]
    if not runs:
        which = f"run {args.run!r}" if args.run else "no run"
        print_message(f"tuiflow: {which} of {args.file} found in {state_dir}")
        return 2
    run = runs[0]
    task = (run.get("tasks") or {}).get(args.task)
    if task is None:
        print_message(f"tuiflow: run {run['run_id']} has no task {args.task!r} "
                      f"(tasks: {', '.join(sorted(run.get('tasks') or {})[:10])})")
        return 2
    attempt = args.attempt or task.get("attempt") or 1
    path = os.path.join(run["run_dir"], task.get("log_dir", ""), f"{attempt}.log")
    out = sys.stdout.buffer
    try:
        with open(path, "rb") as f:
            if args.raw or not out.isatty():
                shutil.copyfileobj(f, out)
            else:
                while chunk := f.read(CHUNK):
                    out.write(keep_colours(chunk))
    except FileNotFoundError:
        if task.get("state") == "running" and attempt == task.get("attempt"):
            return 0   # running, and nothing printed yet: its log is made at its first output or its end
        print_message(f"tuiflow: no log for {args.task!r} attempt {attempt} in run {run['run_id']}")
        return 2
    sys.stdout.flush()
    return 0
